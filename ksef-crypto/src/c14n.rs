//! XML canonicalization over a `roxmltree` document: inclusive C14N 1.0 and 1.1 and
//! exclusive C14N 1.0 (with or without comments, `InclusiveNamespaces PrefixList`), for the
//! node-sets XMLDSig produces here: a whole document or one element subtree, minus
//! excluded subtrees (enveloped-signature, XPath and XPath-Filter-2 subtract transforms).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use roxmltree::{Document, Node, NodeType};

/// Which canonicalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Inclusive10,
    Inclusive11,
    Exclusive,
}

/// A canonicalization algorithm with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct C14n {
    pub method: Method,
    pub comments: bool,
    /// Exclusive only: prefixes treated inclusively (`#default` = the default namespace).
    pub inclusive_prefixes: Vec<String>,
}

pub(crate) const ALG_C14N10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub(crate) const ALG_C14N10_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
pub(crate) const ALG_C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
pub(crate) const ALG_C14N11_COMMENTS: &str = "http://www.w3.org/2006/12/xml-c14n11#WithComments";
pub(crate) const ALG_EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const ALG_EXC_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

impl C14n {
    /// Recognize an algorithm URI.
    pub(crate) fn from_uri(uri: &str) -> Option<Self> {
        let (method, comments) = match uri {
            ALG_C14N10 => (Method::Inclusive10, false),
            ALG_C14N10_COMMENTS => (Method::Inclusive10, true),
            ALG_C14N11 => (Method::Inclusive11, false),
            ALG_C14N11_COMMENTS => (Method::Inclusive11, true),
            ALG_EXC => (Method::Exclusive, false),
            ALG_EXC_COMMENTS => (Method::Exclusive, true),
            _ => return None,
        };
        Some(Self { method, comments, inclusive_prefixes: Vec::new() })
    }

    /// Canonicalize `apex` (an element) or, when `apex` is the document root node, the whole
    /// document; subtrees for which `exclude` is true are left out. `force_no_comments`
    /// implements same-document `URI=""` dereferencing (comments removed).
    pub(crate) fn canonicalize(
        &self,
        apex: Node<'_, '_>,
        exclude: &dyn Fn(Node<'_, '_>) -> bool,
        force_no_comments: bool,
    ) -> Vec<u8> {
        let mut w = Writer { c: self, comments: self.comments && !force_no_comments, exclude, out: String::new() };
        if apex.node_type() == NodeType::Root {
            let mut seen_root = false;
            for child in apex.children() {
                if exclude(child) {
                    continue;
                }
                match child.node_type() {
                    NodeType::Element => {
                        w.element(child, &BTreeMap::new(), true);
                        seen_root = true;
                    }
                    NodeType::Comment | NodeType::PI => {
                        if child.is_comment() && !w.comments {
                            continue;
                        }
                        if seen_root {
                            w.out.push('\n');
                        }
                        w.misc(child);
                        if !seen_root {
                            w.out.push('\n');
                        }
                    }
                    _ => {}
                }
            }
        } else {
            w.element(apex, &BTreeMap::new(), true);
        }
        w.out.into_bytes()
    }
}

struct Writer<'a> {
    c: &'a C14n,
    comments: bool,
    exclude: &'a dyn Fn(Node<'_, '_>) -> bool,
    out: String,
}

/// The qualified name of an element as written in the source.
pub(crate) fn element_qname<'i>(n: Node<'_, 'i>) -> &'i str {
    let text = n.document().input_text();
    let r = n.range();
    let s = text.get(r.start + 1..r.end).unwrap_or("");
    let end = s.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(s.len());
    &s[..end]
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(p, _)| p)
}

/// In-scope namespaces of an element: prefix ("" = default) -> URI (the `xml` prefix excluded).
fn in_scope(n: Node<'_, '_>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for ns in n.namespaces() {
        let p = ns.name().unwrap_or("");
        if p == "xml" {
            continue;
        }
        m.insert(String::from(p), String::from(ns.uri()));
    }
    m
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

impl Writer<'_> {
    fn element(&mut self, e: Node<'_, '_>, rendered: &BTreeMap<String, String>, is_apex: bool) {
        let qname = element_qname(e);
        let scope = in_scope(e);
        let mut to_render: BTreeMap<String, String> = BTreeMap::new();
        let default_rendered = rendered.get("").map(String::as_str).unwrap_or("");
        match self.c.method {
            Method::Inclusive10 | Method::Inclusive11 => {
                for (p, uri) in &scope {
                    if p.is_empty() && uri.is_empty() {
                        continue;
                    }
                    if rendered.get(p) != Some(uri) {
                        to_render.insert(p.clone(), uri.clone());
                    }
                }
                if scope.get("").is_none_or(String::is_empty) && !default_rendered.is_empty() {
                    to_render.insert(String::new(), String::new());
                }
            }
            Method::Exclusive => {
                let mut used: Vec<&str> = Vec::new();
                used.push(prefix_of(qname));
                let text = e.document().input_text();
                for a in e.attributes() {
                    let q = text.get(a.range_qname()).unwrap_or("");
                    let p = prefix_of(q);
                    if !p.is_empty() && p != "xml" {
                        used.push(p);
                    }
                }
                for p in &self.c.inclusive_prefixes {
                    let p = if p == "#default" { "" } else { p.as_str() };
                    if p.is_empty() || scope.contains_key(p) {
                        used.push(p);
                    }
                }
                for p in used {
                    let uri = scope.get(p).map(String::as_str).unwrap_or("");
                    if p.is_empty() && uri.is_empty() {
                        if !default_rendered.is_empty() {
                            to_render.insert(String::new(), String::new());
                        }
                        continue;
                    }
                    if rendered.get(p).map(String::as_str) != Some(uri) {
                        to_render.insert(String::from(p), String::from(uri));
                    }
                }
            }
        }

        self.out.push('<');
        self.out.push_str(qname);
        // BTreeMap orders "" (default) first, then prefixes lexicographically.
        for (p, uri) in &to_render {
            if p.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(p);
                self.out.push_str("=\"");
            }
            escape_attr(uri, &mut self.out);
            self.out.push('"');
        }

        // Attributes sorted by (namespace URI, local name).
        let text = e.document().input_text();
        let mut attrs: Vec<(String, String, String, String)> = e
            .attributes()
            .map(|a| {
                (
                    String::from(a.namespace().unwrap_or("")),
                    String::from(a.name()),
                    String::from(text.get(a.range_qname()).unwrap_or(a.name())),
                    String::from(a.value()),
                )
            })
            .collect();
        if is_apex && matches!(self.c.method, Method::Inclusive10 | Method::Inclusive11) {
            // Inherit xml:* attributes from ancestors (C14N 1.1: only xml:lang and xml:space).
            for anc in e.ancestors().skip(1).filter(|a| a.is_element()) {
                for a in anc.attributes() {
                    if a.namespace() != Some(XML_NS) {
                        continue;
                    }
                    if self.c.method == Method::Inclusive11 && !matches!(a.name(), "lang" | "space") {
                        continue;
                    }
                    if attrs.iter().any(|x| x.0 == XML_NS && x.1 == a.name()) {
                        continue;
                    }
                    attrs.push((
                        String::from(XML_NS),
                        String::from(a.name()),
                        alloc::format!("xml:{}", a.name()),
                        String::from(a.value()),
                    ));
                }
            }
        }
        attrs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        for (_, _, q, v) in &attrs {
            self.out.push(' ');
            self.out.push_str(q);
            self.out.push_str("=\"");
            escape_attr(v, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');

        let mut child_rendered = rendered.clone();
        for (p, uri) in to_render {
            child_rendered.insert(p, uri);
        }
        for child in e.children() {
            if (self.exclude)(child) {
                continue;
            }
            match child.node_type() {
                NodeType::Element => self.element(child, &child_rendered, false),
                NodeType::Text => escape_text(child.text().unwrap_or(""), &mut self.out),
                NodeType::Comment | NodeType::PI => {
                    if child.is_comment() && !self.comments {
                        continue;
                    }
                    self.misc(child);
                }
                NodeType::Root => {}
            }
        }
        self.out.push_str("</");
        self.out.push_str(qname);
        self.out.push('>');
    }

    fn misc(&mut self, n: Node<'_, '_>) {
        if let Some(pi) = n.pi() {
            self.out.push_str("<?");
            self.out.push_str(pi.target);
            if let Some(v) = pi.value
                && !v.is_empty()
            {
                self.out.push(' ');
                self.out.push_str(v);
            }
            self.out.push_str("?>");
        } else if n.is_comment() {
            self.out.push_str("<!--");
            self.out.push_str(n.text().unwrap_or(""));
            self.out.push_str("-->");
        }
    }
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

/// Canonicalizes a whole XML document with the algorithm named by its XMLDSig URI (inclusive
/// C14N 1.0/1.1 or exclusive C14N 1.0, each with or without comments), after the same hardened
/// parse the verifier uses (no DTD, at most `max_bytes` bytes and `max_depth` levels).
///
/// This is what a `Reference` to a whole document digests before any transform is applied; it
/// is public so that a signature mismatch can be investigated byte by byte.
///
/// # Errors
/// [`crate::Error::UnsupportedAlgorithm`] for an unknown URI; [`crate::Error::Xml`] when the
/// document is malformed, has a DTD or exceeds the limits.
///
/// ```
/// let c = ksef_crypto::canonicalize(
///     "<a   b='1'><c/></a>",
///     "http://www.w3.org/2001/10/xml-exc-c14n#",
///     1 << 20,
///     64,
/// )
/// .unwrap();
/// assert_eq!(c, b"<a b=\"1\"><c></c></a>");
/// ```
pub fn canonicalize(xml: &str, algorithm: &str, max_bytes: usize, max_depth: usize) -> Result<Vec<u8>, crate::Error> {
    let c = C14n::from_uri(algorithm).ok_or(crate::Error::UnsupportedAlgorithm)?;
    let doc = parse_limited(xml, max_bytes, max_depth)?;
    Ok(c.canonicalize(doc.root(), &|_| false, false))
}

/// Parse limits and a hardened parse: no DTD (hence no entities), size and depth caps.
pub(crate) fn parse_limited<'i>(
    xml: &'i str,
    max_bytes: usize,
    max_depth: usize,
) -> Result<Document<'i>, crate::Error> {
    if xml.len() > max_bytes {
        return Err(crate::Error::Xml);
    }
    let opts =
        roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 100_000, ..roxmltree::ParsingOptions::default() };
    let doc = Document::parse_with_options(xml, opts).map_err(|_| crate::Error::Xml)?;
    // roxmltree accepts `<?xml;...?>` as a processing instruction with the target `xml`, which
    // XML reserves: such a document is not well-formed, and its canonical form would not parse.
    if doc.descendants().any(|n| n.pi().is_some_and(|pi| pi.target.eq_ignore_ascii_case("xml"))) {
        return Err(crate::Error::Xml);
    }
    // Depth check without recursion.
    let mut stack: Vec<(Node<'_, '_>, usize)> = alloc::vec![(doc.root(), 0)];
    while let Some((n, d)) = stack.pop() {
        if d > max_depth {
            return Err(crate::Error::Xml);
        }
        for c in n.children().filter(Node::is_element) {
            stack.push((c, d + 1));
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str, method: Method, apex_name: Option<&str>) -> String {
        let doc = Document::parse(xml).unwrap();
        let apex = match apex_name {
            None => doc.root(),
            Some(n) => doc.descendants().find(|d| d.tag_name().name() == n).unwrap(),
        };
        let c = C14n { method, comments: false, inclusive_prefixes: Vec::new() };
        String::from_utf8(c.canonicalize(apex, &|_| false, false)).unwrap()
    }

    #[test]
    fn basic_document() {
        let xml =
            "<?xml version=\"1.0\"?>\n<!-- c --><a xmlns=\"urn:a\" z=\"1\" b='x&quot;&#xA;'><b/>t&amp;&gt;<!--x--></a>";
        assert_eq!(
            c14n(xml, Method::Inclusive10, None),
            "<a xmlns=\"urn:a\" b=\"x&quot;&#xA;\" z=\"1\"><b></b>t&amp;&gt;</a>"
        );
    }

    #[test]
    fn subset_namespaces_inclusive_vs_exclusive() {
        let xml = "<r xmlns=\"urn:r\" xmlns:u=\"urn:unused\"><s:x xmlns:s=\"urn:s\" a=\"1\"><y/></s:x></r>";
        assert_eq!(
            c14n(xml, Method::Inclusive10, Some("x")),
            "<s:x xmlns=\"urn:r\" xmlns:s=\"urn:s\" xmlns:u=\"urn:unused\" a=\"1\"><y></y></s:x>"
        );
        assert_eq!(
            c14n(xml, Method::Exclusive, Some("x")),
            "<s:x xmlns:s=\"urn:s\" a=\"1\"><y xmlns=\"urn:r\"></y></s:x>"
        );
    }

    #[test]
    fn limits() {
        assert!(parse_limited("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", 1000, 10).is_err());
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert!(parse_limited(&deep, 1000, 10).is_err());
        assert!(parse_limited(&deep, 1000, 30).is_ok());
        assert!(parse_limited(&deep, 10, 30).is_err());
    }

    /// Found by `cargo fuzz run c14n`: `<?xml;...?>` parsed as a processing instruction with
    /// the reserved target `xml`, and its canonical form (`<?xml ;...?>`) did not parse again.
    #[test]
    fn reserved_pi_target_is_refused_and_canonical_output_reparses() {
        for xml in ["<?xml;version=\"1.0\"?><a/>", "<a><?XmL x?></a>", "<a/><?xml?>"] {
            assert_eq!(parse_limited(xml, 1 << 20, 64).err(), Some(crate::Error::Xml), "{xml}");
            assert!(canonicalize(xml, ALG_C14N11_COMMENTS, 1 << 20, 64).is_err(), "{xml}");
        }
        // An ordinary processing instruction still canonicalizes, and the output parses again.
        let once = canonicalize("<?pi x?><a/>", ALG_C14N10, 1 << 20, 64).unwrap();
        let again = canonicalize(core::str::from_utf8(&once).unwrap(), ALG_C14N10, 1 << 20, 64).unwrap();
        assert_eq!(once, again);
        assert_eq!(once, b"<?pi x?>\n<a></a>");
    }
}
