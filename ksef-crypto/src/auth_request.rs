//! The unsigned `AuthTokenRequest` XML (XSD `schemat_auth_v2-0.xsd` / `v2-1`), and reading
//! its fields back from a verified document (emulator side).

use alloc::string::String;
use alloc::vec::Vec;

use crate::Error;

/// The two accepted `AuthTokenRequest` namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthTokenNamespace {
    /// `http://ksef.mf.gov.pl/auth/token/2.0`
    #[default]
    V2_0,
    /// `http://ksef.mf.gov.pl/auth/token/2.1`
    V2_1,
}

impl AuthTokenNamespace {
    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::V2_0 => "http://ksef.mf.gov.pl/auth/token/2.0",
            Self::V2_1 => "http://ksef.mf.gov.pl/auth/token/2.1",
        }
    }

    /// Recognize a namespace URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            "http://ksef.mf.gov.pl/auth/token/2.0" => Some(Self::V2_0),
            "http://ksef.mf.gov.pl/auth/token/2.1" => Some(Self::V2_1),
            _ => None,
        }
    }
}

/// `ContextIdentifier` (exactly one of).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContextIdentifier {
    /// `<Nip>`
    Nip(String),
    /// `<InternalId>` (`<nip>-<5 digits>`)
    InternalId(String),
    /// `<NipVatUe>`
    NipVatUe(String),
    /// `<PeppolId>`
    PeppolId(String),
}

impl ContextIdentifier {
    /// Element name (also the JSON `type` value).
    pub fn element(&self) -> &'static str {
        match self {
            Self::Nip(_) => "Nip",
            Self::InternalId(_) => "InternalId",
            Self::NipVatUe(_) => "NipVatUe",
            Self::PeppolId(_) => "PeppolId",
        }
    }

    /// The value.
    pub fn value(&self) -> &str {
        match self {
            Self::Nip(v) | Self::InternalId(v) | Self::NipVatUe(v) | Self::PeppolId(v) => v,
        }
    }

    /// From element name / JSON type and value.
    pub fn from_parts(kind: &str, value: &str) -> Option<Self> {
        let v = String::from(value);
        Some(match kind {
            "Nip" => Self::Nip(v),
            "InternalId" => Self::InternalId(v),
            "NipVatUe" => Self::NipVatUe(v),
            "PeppolId" => Self::PeppolId(v),
            _ => return None,
        })
    }
}

/// `SubjectIdentifierType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SubjectIdentifierType {
    /// `certificateSubject`: identity from the subject's NIP/PESEL.
    #[default]
    CertificateSubject,
    /// `certificateFingerprint`: identity is the certificate's SHA-256 fingerprint.
    CertificateFingerprint,
}

impl SubjectIdentifierType {
    /// XML value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificateSubject => "certificateSubject",
            Self::CertificateFingerprint => "certificateFingerprint",
        }
    }
}

/// `AuthorizationPolicy/AllowedIps` (each list 0..10 items).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedIps {
    /// `Ip4Address`, e.g. `192.168.0.1`.
    pub ip4_addresses: Vec<String>,
    /// `Ip4Range`, e.g. `10.0.0.1-10.0.0.9`.
    pub ip4_ranges: Vec<String>,
    /// `Ip4Mask`, e.g. `192.168.1.0/24`.
    pub ip4_masks: Vec<String>,
}

/// An unsigned `AuthTokenRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTokenRequest {
    /// Namespace version.
    pub namespace: AuthTokenNamespace,
    /// The challenge from `POST /auth/challenge` (36 chars).
    pub challenge: String,
    /// The context to log into.
    pub context: ContextIdentifier,
    /// How the server derives the identity from the certificate.
    pub subject_identifier_type: SubjectIdentifierType,
    /// Optional IP policy.
    pub allowed_ips: Option<AllowedIps>,
}

impl AuthTokenRequest {
    /// A request with namespace 2.0, `certificateSubject` and no IP policy.
    pub fn new(challenge: impl Into<String>, context: ContextIdentifier) -> Self {
        Self {
            namespace: AuthTokenNamespace::V2_0,
            challenge: challenge.into(),
            context,
            subject_identifier_type: SubjectIdentifierType::CertificateSubject,
            allowed_ips: None,
        }
    }

    /// The XML document (UTF-8 declaration, no indentation), elements in XSD order.
    pub fn to_xml(&self) -> Result<String, Error> {
        if self.challenge.len() != 36 || !self.challenge.is_ascii() {
            return Err(Error::InvalidInput("challenge must be 36 ASCII characters"));
        }
        if let Some(ips) = &self.allowed_ips
            && (ips.ip4_addresses.len() > 10 || ips.ip4_ranges.len() > 10 || ips.ip4_masks.len() > 10)
        {
            return Err(Error::InvalidInput("at most 10 entries per AllowedIps list"));
        }
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str("<AuthTokenRequest xmlns=\"");
        s.push_str(self.namespace.uri());
        s.push_str("\">");
        elem(&mut s, "Challenge", &self.challenge);
        s.push_str("<ContextIdentifier>");
        elem(&mut s, self.context.element(), self.context.value());
        s.push_str("</ContextIdentifier>");
        elem(&mut s, "SubjectIdentifierType", self.subject_identifier_type.as_str());
        if let Some(ips) = &self.allowed_ips {
            s.push_str("<AuthorizationPolicy><AllowedIps>");
            for v in &ips.ip4_addresses {
                elem(&mut s, "Ip4Address", v);
            }
            for v in &ips.ip4_ranges {
                elem(&mut s, "Ip4Range", v);
            }
            for v in &ips.ip4_masks {
                elem(&mut s, "Ip4Mask", v);
            }
            s.push_str("</AllowedIps></AuthorizationPolicy>");
        }
        s.push_str("</AuthTokenRequest>");
        Ok(s)
    }

    /// Read the fields from a parsed `AuthTokenRequest` root element (namespace 2.0 or 2.1).
    pub fn from_element(root: roxmltree::Node<'_, '_>) -> Result<Self, Error> {
        let bad = Error::InvalidInput("not a valid AuthTokenRequest");
        let ns = root.tag_name().namespace().and_then(AuthTokenNamespace::from_uri).ok_or(bad)?;
        if root.tag_name().name() != "AuthTokenRequest" {
            return Err(bad);
        }
        let uri = ns.uri();
        fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, uri: &str, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
            n.children()
                .find(|c| c.is_element() && c.tag_name().namespace() == Some(uri) && c.tag_name().name() == name)
        }
        let text = |n: roxmltree::Node<'_, '_>| String::from(n.text().unwrap_or("").trim());
        let challenge = text(child(root, uri, "Challenge").ok_or(bad)?);
        let ctx = child(root, uri, "ContextIdentifier").ok_or(bad)?;
        let ctx_el = ctx.children().find(|c| c.is_element()).ok_or(bad)?;
        if ctx_el.tag_name().namespace() != Some(uri) {
            return Err(bad);
        }
        let context = ContextIdentifier::from_parts(ctx_el.tag_name().name(), &text(ctx_el)).ok_or(bad)?;
        let subject_identifier_type = match text(child(root, uri, "SubjectIdentifierType").ok_or(bad)?).as_str() {
            "certificateSubject" => SubjectIdentifierType::CertificateSubject,
            "certificateFingerprint" => SubjectIdentifierType::CertificateFingerprint,
            _ => return Err(bad),
        };
        let allowed_ips = match child(root, uri, "AuthorizationPolicy") {
            None => None,
            Some(p) => {
                let a = child(p, uri, "AllowedIps").ok_or(bad)?;
                let list = |name: &str| -> Vec<String> {
                    a.children().filter(|c| c.is_element() && c.tag_name().name() == name).map(text).collect()
                };
                Some(AllowedIps {
                    ip4_addresses: list("Ip4Address"),
                    ip4_ranges: list("Ip4Range"),
                    ip4_masks: list("Ip4Mask"),
                })
            }
        };
        Ok(Self { namespace: ns, challenge, context, subject_identifier_type, allowed_ips })
    }
}

fn elem(s: &mut String, name: &str, value: &str) {
    s.push('<');
    s.push_str(name);
    s.push('>');
    escape(s, value);
    s.push_str("</");
    s.push_str(name);
    s.push('>');
}

pub(crate) fn escape(s: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            _ => s.push(c),
        }
    }
}
