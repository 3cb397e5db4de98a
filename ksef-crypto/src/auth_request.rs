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

    /// Check the value against the XSD pattern of its type (NIP: 10 digits; InternalId:
    /// `<NIP>-<5 digits>`; NipVatUe: `<NIP>-<EU VAT number>`; PeppolId: `P` + 2 letters + 6 digits).
    pub fn validate(&self) -> Result<(), Error> {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let ok = match self {
            Self::Nip(v) => digits(v, 10),
            Self::InternalId(v) => v.split_once('-').is_some_and(|(a, b)| digits(a, 10) && digits(b, 5)),
            Self::NipVatUe(v) => v.split_once('-').is_some_and(|(a, b)| {
                digits(a, 10) && b.len() >= 4 && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'*')
            }),
            Self::PeppolId(v) => {
                let b = v.as_bytes();
                b.len() == 9 && b[0] == b'P' && b[1..3].iter().all(u8::is_ascii_uppercase) && digits(&v[3..], 6)
            }
        };
        if ok { Ok(()) } else { Err(Error::InvalidInput("context identifier does not match its format")) }
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
        self.context.validate()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsd_order_and_escaping() {
        let mut r = AuthTokenRequest::new(
            "20250604-CR-461EA5B000-537A6BA15D-D7",
            ContextIdentifier::InternalId("5265877635-12345".into()),
        );
        r.namespace = AuthTokenNamespace::V2_1;
        r.subject_identifier_type = SubjectIdentifierType::CertificateFingerprint;
        r.allowed_ips = Some(AllowedIps {
            ip4_addresses: alloc::vec!["1.2.3.4".into()],
            ip4_ranges: alloc::vec!["1.1.1.1-1.1.1.9".into()],
            ip4_masks: alloc::vec!["10.0.0.0/8".into()],
        });
        assert_eq!(
            r.to_xml().unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AuthTokenRequest xmlns=\"http://ksef.mf.gov.pl/auth/token/2.1\">\
<Challenge>20250604-CR-461EA5B000-537A6BA15D-D7</Challenge><ContextIdentifier><InternalId>5265877635-12345</InternalId></ContextIdentifier>\
<SubjectIdentifierType>certificateFingerprint</SubjectIdentifierType><AuthorizationPolicy><AllowedIps><Ip4Address>1.2.3.4</Ip4Address>\
<Ip4Range>1.1.1.1-1.1.1.9</Ip4Range><Ip4Mask>10.0.0.0/8</Ip4Mask></AllowedIps></AuthorizationPolicy></AuthTokenRequest>"
        );
        let xml = r.to_xml().unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(AuthTokenRequest::from_element(doc.root_element()).unwrap(), r);
    }

    #[test]
    fn context_validation() {
        assert!(ContextIdentifier::Nip("5265877635".into()).validate().is_ok());
        assert!(ContextIdentifier::Nip("52658776".into()).validate().is_err());
        assert!(ContextIdentifier::PeppolId("PAB123456".into()).validate().is_ok());
        assert!(ContextIdentifier::PeppolId("pAB123456".into()).validate().is_err());
        assert!(ContextIdentifier::NipVatUe("5265877635-ATU12345678".into()).validate().is_ok());
        assert!(ContextIdentifier::InternalId("5265877635-1234".into()).validate().is_err());
        let r = AuthTokenRequest::new("short", ContextIdentifier::Nip("5265877635".into()));
        assert!(r.to_xml().is_err());
    }
}
