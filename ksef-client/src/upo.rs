//! Typed parser for the UPO (Urzędowe Poświadczenie Odbioru, the official receipt), schema v4-3.
//!
//! The same document type serves invoice UPOs (one `Dokument`, no `OpisPotwierdzenia`) and
//! session UPO pages (up to 10 000 `Dokument`s and a page description). DTDs are refused;
//! elements from other namespaces (the Ministry's `ds:Signature`) are skipped.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};

/// The v4-3 namespace.
pub const UPO_NS_V4_3: &str = "http://upo.schematy.mf.gov.pl/KSeF/v4-3";

/// Why a UPO could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpoError {
    /// Not well-formed XML, or it has a DTD.
    #[error("the UPO is not well-formed XML (DTDs are refused)")]
    Xml(#[source] XmlSyntaxError),
    /// The root is not `Potwierdzenie` in the v4-3 namespace.
    #[error("unexpected root element `{found}` (expected `Potwierdzenie` in {UPO_NS_V4_3})")]
    WrongRoot {
        /// `{namespace}name` of the root found.
        found: String,
    },
    /// A required element is missing.
    #[error("required element `{element}` is missing")]
    Missing {
        /// Its path.
        element: &'static str,
    },
    /// An element has a value of the wrong form.
    #[error("element `{element}` has an invalid value `{value}`")]
    Invalid {
        /// Its name.
        element: &'static str,
        /// The offending text (truncated to 100 characters).
        value: String,
    },
}

/// A syntax error of the XML parser.
#[derive(Debug)]
pub struct XmlSyntaxError(roxmltree::Error);

impl fmt::Display for XmlSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for XmlSyntaxError {}

/// A parsed UPO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upo {
    /// `@wersjaSchemy`, when present.
    pub schema_version: Option<String>,
    /// `NazwaPodmiotuPrzyjmujacego` ("Ministerstwo Finansów", with an environment suffix on TE/DEMO).
    pub receiving_entity: String,
    /// `NumerReferencyjnySesji`.
    pub session_reference_number: String,
    /// `Uwierzytelnienie`.
    pub authentication: UpoAuthentication,
    /// `OpisPotwierdzenia`: present on session UPO pages only.
    pub page: Option<UpoPage>,
    /// `NazwaStrukturyLogicznej`, e.g. `Schemat_FA(3)_v1-0E.xsd`.
    pub logical_structure_name: String,
    /// `KodFormularza`, e.g. `FA (3)`.
    pub form_code: String,
    /// The acknowledged invoices.
    pub documents: Vec<UpoDocument>,
}

impl Upo {
    /// Whether this is a session UPO page (it has `OpisPotwierdzenia`).
    pub fn is_session_upo(&self) -> bool {
        self.page.is_some()
    }

    /// The entry for KSeF number `ksef_number`.
    pub fn document(&self, ksef_number: &str) -> Option<&UpoDocument> {
        self.documents.iter().find(|d| d.ksef_number == ksef_number)
    }
}

/// `Uwierzytelnienie`: the login context and how the session was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpoAuthentication {
    /// `IdKontekstu`.
    pub context: UpoContext,
    /// The token reference or the hash of the signed authentication document.
    pub method: UpoAuthMethod,
}

/// `IdKontekstu`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpoContext {
    /// `Nip`.
    Nip(String),
    /// `IdWewnetrzny`.
    InternalId(String),
    /// `IdZlozonyVatUE`.
    NipVatUe(String),
    /// `IdDostawcyUslugPeppol`.
    PeppolId(String),
}

/// How the session was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpoAuthMethod {
    /// `NumerReferencyjnyTokenaKSeF`: a KSeF token with this reference number.
    KsefToken(String),
    /// `SkrotDokumentuUwierzytelniajacego`: Base64 SHA-256 of the signed `AuthTokenRequest`.
    SignedDocument(String),
}

/// `OpisPotwierdzenia` of a session UPO page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpoPage {
    /// `Strona` (1-based).
    pub page: u32,
    /// `LiczbaStron`.
    pub page_count: u32,
    /// `ZakresDokumentowOd`.
    pub documents_from: u32,
    /// `ZakresDokumentowDo` (inclusive in the official examples).
    pub documents_to: u32,
    /// `CalkowitaLiczbaDokumentow`.
    pub total_documents: u32,
}

/// `TrybWysylki`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendingMode {
    /// `Online`.
    Online,
    /// `Offline`.
    Offline,
}

/// One `Dokument`: an acknowledged invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpoDocument {
    /// `NipSprzedawcy`.
    pub seller_nip: String,
    /// `NumerKSeFDokumentu`.
    pub ksef_number: String,
    /// `NumerFaktury`.
    pub invoice_number: String,
    /// `DataWystawieniaFaktury`.
    pub issue_date: NaiveDate,
    /// `DataPrzeslaniaDokumentu` (= `invoicingDate`).
    pub submitted_at: DateTime<FixedOffset>,
    /// `DataNadaniaNumeruKSeF` (= `acquisitionDate`).
    pub ksef_number_assigned_at: DateTime<FixedOffset>,
    /// `SkrotDokumentu`: Base64 SHA-256 of the invoice.
    pub invoice_hash: String,
    /// `TrybWysylki`.
    pub sending_mode: SendingMode,
}

/// Parse a UPO v4-3 document (invoice UPO or session UPO page).
///
/// # Errors
/// [`UpoError`] for malformed XML, a DTD, a wrong root/namespace, or missing/invalid elements.
pub fn parse_upo(xml: &str) -> Result<Upo, UpoError> {
    let opts = roxmltree::ParsingOptions { allow_dtd: false, ..roxmltree::ParsingOptions::default() };
    let doc = roxmltree::Document::parse_with_options(xml, opts).map_err(|e| UpoError::Xml(XmlSyntaxError(e)))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Potwierdzenie" || root.tag_name().namespace() != Some(UPO_NS_V4_3) {
        return Err(UpoError::WrongRoot {
            found: format!("{{{}}}{}", root.tag_name().namespace().unwrap_or(""), root.tag_name().name()),
        });
    }
    let auth = child(root, "Uwierzytelnienie").ok_or(UpoError::Missing { element: "Uwierzytelnienie" })?;
    let ctx = child(auth, "IdKontekstu").ok_or(UpoError::Missing { element: "Uwierzytelnienie/IdKontekstu" })?;
    let ctx_el = elements(ctx).next().ok_or(UpoError::Missing { element: "IdKontekstu/*" })?;
    let ctx_val = text(ctx_el);
    let context = match ctx_el.tag_name().name() {
        "Nip" => UpoContext::Nip(ctx_val),
        "IdWewnetrzny" => UpoContext::InternalId(ctx_val),
        "IdZlozonyVatUE" => UpoContext::NipVatUe(ctx_val),
        "IdDostawcyUslugPeppol" => UpoContext::PeppolId(ctx_val),
        other => return Err(invalid("IdKontekstu", other)),
    };
    let method = if let Some(t) = child(auth, "NumerReferencyjnyTokenaKSeF") {
        UpoAuthMethod::KsefToken(text(t))
    } else if let Some(h) = child(auth, "SkrotDokumentuUwierzytelniajacego") {
        UpoAuthMethod::SignedDocument(hash(h, "SkrotDokumentuUwierzytelniajacego")?)
    } else {
        return Err(UpoError::Missing { element: "Uwierzytelnienie/SkrotDokumentuUwierzytelniajacego" });
    };
    let page = match child(root, "OpisPotwierdzenia") {
        None => None,
        Some(p) => Some(UpoPage {
            page: req_u32(p, "Strona")?,
            page_count: req_u32(p, "LiczbaStron")?,
            documents_from: req_u32(p, "ZakresDokumentowOd")?,
            documents_to: req_u32(p, "ZakresDokumentowDo")?,
            total_documents: req_u32(p, "CalkowitaLiczbaDokumentow")?,
        }),
    };
    let documents = elements(root)
        .filter(|n| n.tag_name().name() == "Dokument")
        .map(parse_document)
        .collect::<Result<Vec<_>, _>>()?;
    if documents.is_empty() {
        return Err(UpoError::Missing { element: "Dokument" });
    }
    Ok(Upo {
        schema_version: root.attribute("wersjaSchemy").map(str::to_owned),
        receiving_entity: req_text(root, "NazwaPodmiotuPrzyjmujacego")?,
        session_reference_number: req_text(root, "NumerReferencyjnySesji")?,
        authentication: UpoAuthentication { context, method },
        page,
        logical_structure_name: req_text(root, "NazwaStrukturyLogicznej")?,
        form_code: req_text(root, "KodFormularza")?,
        documents,
    })
}

/// Parse UPO bytes (UTF-8).
///
/// # Errors
/// As [`parse_upo`]; bytes that are not UTF-8 are [`UpoError::Invalid`].
pub fn parse_upo_bytes(xml: &[u8]) -> Result<Upo, UpoError> {
    let s = std::str::from_utf8(xml).map_err(|_| invalid("Potwierdzenie", "<not UTF-8>"))?;
    parse_upo(s.strip_prefix('\u{feff}').unwrap_or(s))
}

fn parse_document(d: roxmltree::Node<'_, '_>) -> Result<UpoDocument, UpoError> {
    let issue = req_text(d, "DataWystawieniaFaktury")?;
    let mode = req_text(d, "TrybWysylki")?;
    Ok(UpoDocument {
        seller_nip: req_text(d, "NipSprzedawcy")?,
        ksef_number: req_text(d, "NumerKSeFDokumentu")?,
        invoice_number: req_text(d, "NumerFaktury")?,
        issue_date: NaiveDate::parse_from_str(&issue, "%Y-%m-%d")
            .map_err(|_| invalid("DataWystawieniaFaktury", &issue))?,
        submitted_at: req_datetime(d, "DataPrzeslaniaDokumentu")?,
        ksef_number_assigned_at: req_datetime(d, "DataNadaniaNumeruKSeF")?,
        invoice_hash: hash(
            child(d, "SkrotDokumentu").ok_or(UpoError::Missing { element: "SkrotDokumentu" })?,
            "SkrotDokumentu",
        )?,
        sending_mode: match mode.as_str() {
            "Online" => SendingMode::Online,
            "Offline" => SendingMode::Offline,
            _ => return Err(invalid("TrybWysylki", &mode)),
        },
    })
}

fn elements<'a, 'i>(n: roxmltree::Node<'a, 'i>) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    n.children().filter(|c| c.is_element() && c.tag_name().namespace() == Some(UPO_NS_V4_3))
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    elements(n).find(|c| c.tag_name().name() == name)
}

fn text(n: roxmltree::Node<'_, '_>) -> String {
    n.text().unwrap_or("").trim().to_owned()
}

fn invalid(element: &'static str, value: &str) -> UpoError {
    UpoError::Invalid { element, value: value.chars().take(100).collect() }
}

fn req_text(n: roxmltree::Node<'_, '_>, name: &'static str) -> Result<String, UpoError> {
    let t = text(child(n, name).ok_or(UpoError::Missing { element: name })?);
    if t.is_empty() {
        return Err(invalid(name, ""));
    }
    Ok(t)
}

fn req_u32(n: roxmltree::Node<'_, '_>, name: &'static str) -> Result<u32, UpoError> {
    let t = req_text(n, name)?;
    t.parse().map_err(|_| invalid(name, &t))
}

fn req_datetime(n: roxmltree::Node<'_, '_>, name: &'static str) -> Result<DateTime<FixedOffset>, UpoError> {
    let t = req_text(n, name)?;
    DateTime::parse_from_rfc3339(&t).map_err(|_| invalid(name, &t))
}

fn hash(n: roxmltree::Node<'_, '_>, name: &'static str) -> Result<String, UpoError> {
    let t = text(n);
    match ksef_crypto::encoding::b64_decode(&t) {
        Ok(raw) if raw.len() == 32 && t.len() == 44 => Ok(t),
        _ => Err(invalid(name, &t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn examples_dir() -> PathBuf {
        match std::env::var_os("KSEF_SPEC_DIR") {
            Some(d) => PathBuf::from(d).join("upo-examples"),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/ksef-spec/upo-examples"),
        }
    }

    fn load(rel: &str) -> Upo {
        let path = examples_dir().join(rel);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse_upo_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
    }

    #[test]
    fn all_official_examples() {
        const NIP_REF: &str = "36950822-93-9D5A28BFDA-47C899773E-5C";
        const INT_REF: &str = "58550905-BD-D0587DA4A3-4AE171EDED-46";
        const K1: &str = "5265877635-20250916-0200A0D6723E-C2";
        const K2: &str = "5265877635-20250916-02000009FF3E-FB";
        const T1: &str = "2025-09-16T11:05:40.841+02:00";
        const T2: &str = "2025-09-16T11:10:27.818+02:00";
        type Case = (&'static str, fn(&UpoContext) -> bool, usize, &'static str, &'static str, &'static str);
        let cases: [Case; 6] = [
            (
                "kontekst-nip/upo-sesja-kontekst-id-nip.xml",
                |c| matches!(c, UpoContext::Nip(v) if v == "5265877635"),
                2,
                NIP_REF,
                K1,
                T1,
            ),
            ("kontekst-nip/upo-faktura-kontekst-id-nip.xml", |c| matches!(c, UpoContext::Nip(_)), 1, NIP_REF, K1, T1),
            (
                "kontekst-internal-id/upo-sesja-internal-id.xml",
                |c| matches!(c, UpoContext::InternalId(_)),
                2,
                INT_REF,
                K2,
                T2,
            ),
            (
                "kontekst-internal-id/upo-faktura-internal-id.xml",
                |c| matches!(c, UpoContext::InternalId(_)),
                1,
                INT_REF,
                K2,
                T2,
            ),
            (
                "kontekst-id-zlozony-vat-ue/upo-sesja-id-zlozony-vat-ue.xml",
                |c| matches!(c, UpoContext::NipVatUe(v) if v == "5265877635-ATU12345678"),
                2,
                NIP_REF,
                K1,
                T1,
            ),
            (
                "kontekst-id-zlozony-vat-ue/upo-faktura-id-zlozony-vat-ue.xml",
                |c| matches!(c, UpoContext::NipVatUe(_)),
                1,
                NIP_REF,
                K1,
                T1,
            ),
        ];
        for (rel, ctx_ok, docs, session_ref, last_ksef, last_time) in cases {
            let upo = load(rel);
            let session = docs > 1;
            assert!(ctx_ok(&upo.authentication.context), "{rel}: {:?}", upo.authentication.context);
            assert_eq!(upo.is_session_upo(), session, "{rel}");
            assert_eq!(upo.session_reference_number, session_ref, "{rel}");
            assert_eq!(upo.documents.len(), docs, "{rel}");
            assert_eq!(upo.form_code, "FA (3)");
            assert_eq!(upo.logical_structure_name, "Schemat_FA(3)_v1-0E.xsd");
            assert!(upo.receiving_entity.starts_with("Ministerstwo Finansów"));
            if let Some(p) = upo.page {
                assert_eq!(p.total_documents as usize, upo.documents.len(), "{rel}");
                assert_eq!((p.page, p.page_count), (1, 1));
            }
            let last = upo.documents.last().unwrap();
            assert_eq!(last.ksef_number, last_ksef, "{rel}");
            assert_eq!(last.invoice_hash, "GZMGNVzs3krF6URKgvaw77OOeG3nJ+WGziT5xguliQ8=");
            assert_eq!(last.issue_date, NaiveDate::from_ymd_opt(2025, 9, 16).unwrap());
            assert_eq!(last.submitted_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false), last_time, "{rel}");
            assert_eq!(last.sending_mode, SendingMode::Online);
            assert!(upo.document(last_ksef).is_some());
        }
        let s = load("kontekst-nip/upo-sesja-kontekst-id-nip.xml");
        assert_eq!(
            s.authentication.method,
            UpoAuthMethod::SignedDocument("kyqH+QUgP8ATWd/95IY632mP4uqibwG66Oqclq9+qno=".into())
        );
        assert_eq!(s.documents[0].invoice_number, "FA/SIGTF-3388125147/11/2025");
        let token_auth = [
            "kontekst-nip/upo-sesja-kontekst-id-nip.xml",
            "kontekst-nip/upo-faktura-kontekst-id-nip.xml",
            "kontekst-internal-id/upo-sesja-internal-id.xml",
            "kontekst-internal-id/upo-faktura-internal-id.xml",
            "kontekst-id-zlozony-vat-ue/upo-sesja-id-zlozony-vat-ue.xml",
            "kontekst-id-zlozony-vat-ue/upo-faktura-id-zlozony-vat-ue.xml",
        ]
        .iter()
        .filter(|r| matches!(load(r).authentication.method, UpoAuthMethod::KsefToken(_)))
        .count();
        assert_eq!(token_auth, 2, "two official examples use KSeF-token authentication");
    }

    const MINI: &str = r#"<Potwierdzenie xmlns="http://upo.schematy.mf.gov.pl/KSeF/v4-3" wersjaSchemy="4-3">
<NazwaPodmiotuPrzyjmujacego>Ministerstwo Finansów</NazwaPodmiotuPrzyjmujacego>
<NumerReferencyjnySesji>20250819-SO-1ECDD12000-5EE71AE5E3-B7</NumerReferencyjnySesji>
<Uwierzytelnienie><IdKontekstu><IdDostawcyUslugPeppol>PPL000001</IdDostawcyUslugPeppol></IdKontekstu>
<NumerReferencyjnyTokenaKSeF>20250819-EC-1ECDD12000-5EE71AE5E3-B7</NumerReferencyjnyTokenaKSeF></Uwierzytelnienie>
<NazwaStrukturyLogicznej>x.xsd</NazwaStrukturyLogicznej><KodFormularza>FA (3)</KodFormularza>
<Dokument><NipSprzedawcy>5265877635</NipSprzedawcy><NumerKSeFDokumentu>K</NumerKSeFDokumentu>
<NumerFaktury>1</NumerFaktury><DataWystawieniaFaktury>2025-09-16</DataWystawieniaFaktury>
<DataPrzeslaniaDokumentu>2025-09-16T11:05:40Z</DataPrzeslaniaDokumentu>
<DataNadaniaNumeruKSeF>2025-09-16T11:05:41.045+02:00</DataNadaniaNumeruKSeF>
<SkrotDokumentu>GZMGNVzs3krF6URKgvaw77OOeG3nJ+WGziT5xguliQ8=</SkrotDokumentu><TrybWysylki>Offline</TrybWysylki></Dokument>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature>
</Potwierdzenie>"#;

    #[test]
    fn minimal_with_signature_and_peppol() {
        let u = parse_upo(MINI).unwrap();
        assert_eq!(u.schema_version.as_deref(), Some("4-3"));
        assert_eq!(u.authentication.context, UpoContext::PeppolId("PPL000001".into()));
        assert!(matches!(u.authentication.method, UpoAuthMethod::KsefToken(_)));
        assert_eq!(u.documents[0].sending_mode, SendingMode::Offline);
    }

    #[test]
    fn hostile_and_broken() {
        let dtd = format!("<!DOCTYPE x [<!ENTITY a \"aaaa\">]>{MINI}");
        assert!(matches!(parse_upo(&dtd), Err(UpoError::Xml(_))));
        assert!(matches!(parse_upo("<Potwierdzenie"), Err(UpoError::Xml(_))));
        let wrong_ns = MINI.replace("KSeF/v4-3", "KSeF/v4-2");
        assert!(matches!(parse_upo(&wrong_ns), Err(UpoError::WrongRoot { .. })));
        let bad_mode = MINI.replace(">Offline<", ">Sometimes<");
        assert!(matches!(parse_upo(&bad_mode), Err(UpoError::Invalid { element: "TrybWysylki", .. })));
        let bad_hash = MINI.replace("GZMGNVzs3krF6URKgvaw77OOeG3nJ+WGziT5xguliQ8=", "abc");
        assert!(matches!(parse_upo(&bad_hash), Err(UpoError::Invalid { element: "SkrotDokumentu", .. })));
        let bad_date = MINI.replace("2025-09-16T11:05:40Z", "yesterday");
        assert!(matches!(parse_upo(&bad_date), Err(UpoError::Invalid { element: "DataPrzeslaniaDokumentu", .. })));
        let no_form = MINI.replace("<KodFormularza>FA (3)</KodFormularza>", "");
        assert!(matches!(parse_upo(&no_form), Err(UpoError::Missing { element: "KodFormularza" })));
        assert!(matches!(parse_upo_bytes(&[0xff, 0xfe]), Err(UpoError::Invalid { .. })));
    }
}
