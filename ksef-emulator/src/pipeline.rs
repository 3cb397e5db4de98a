//! Per-invoice processing (online and batch): decrypt, verify, read, check, number.
//!
//! Runs on the background worker ([`crate::worker`]) after the `202`; the status endpoints report
//! the outcome with KSeF's invoice status codes (§4.6 of the protocol digest).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, NaiveDate, Utc};
use ksef_model::KsefNumber;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::domain::StatusInfo;
use crate::store::{FormCode, InvoiceKey, InvoiceKeyOwner, InvoiceRecord, SessionRecord, StoreError};

/// What the sender declared about one invoice (already checked: ciphertext size and hash).
#[derive(Clone, Debug)]
pub struct Submission {
    /// `EE` reference number assigned to it.
    pub reference: String,
    /// Position in the session.
    pub ordinal: u64,
    /// The document: encrypted (online) or already decrypted from a batch archive.
    pub payload: Payload,
    /// The file name inside a batch archive.
    pub file_name: Option<String>,
    /// Declared Base64 SHA-256 of the plaintext.
    pub invoice_hash: String,
    /// Declared plaintext size.
    pub invoice_size: u64,
    /// `offlineMode`.
    pub offline_mode: bool,
    /// When KSeF accepted it (`invoicingDate`).
    pub invoicing_date: DateTime<Utc>,
}

/// How the invoice arrives.
#[derive(Clone, Debug)]
pub enum Payload {
    /// AES-256-CBC ciphertext with the session key (online).
    Encrypted(Vec<u8>),
    /// Plaintext taken from a decrypted batch archive.
    Plain(Vec<u8>),
}

/// A form code the emulator knows: the root element and namespace its documents must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownForm {
    /// `systemCode`.
    pub system_code: &'static str,
    /// `schemaVersion`.
    pub schema_version: &'static str,
    /// `value`.
    pub value: &'static str,
    /// Root element local name.
    pub root: &'static str,
    /// Root namespace.
    pub namespace: &'static str,
    /// Accepted in batch sessions.
    pub batch: bool,
}

/// The form codes accepted on TE (protocol §4.2, §6.1).
pub const KNOWN_FORMS: &[KnownForm] = &[
    KnownForm {
        system_code: "FA (2)",
        schema_version: "1-0E",
        value: "FA",
        root: "Faktura",
        namespace: "http://crd.gov.pl/wzor/2023/06/29/12648/",
        batch: true,
    },
    KnownForm {
        system_code: "FA (3)",
        schema_version: "1-0E",
        value: "FA",
        root: "Faktura",
        namespace: "http://crd.gov.pl/wzor/2025/06/25/13775/",
        batch: true,
    },
    KnownForm {
        system_code: "FA_RR (1)",
        schema_version: "1-1E",
        value: "FA_RR",
        root: "Faktura",
        namespace: "http://crd.gov.pl/wzor/2026/03/06/14189/",
        batch: true,
    },
    KnownForm {
        system_code: "PEF (3)",
        schema_version: "2-1",
        value: "PEF",
        root: "Invoice",
        namespace: "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
        batch: false,
    },
    KnownForm {
        system_code: "PEF_KOR (3)",
        schema_version: "2-1",
        value: "PEF",
        root: "CreditNote",
        namespace: "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
        batch: false,
    },
];

/// The known form matching a declared form code (exact match, as KSeF compares them).
pub fn known_form(fc: &FormCode) -> Option<&'static KnownForm> {
    KNOWN_FORMS
        .iter()
        .find(|k| k.system_code == fc.system_code && k.schema_version == fc.schema_version && k.value == fc.value)
}

/// Facts read from an invoice document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvoiceFacts {
    /// `Podmiot1` NIP.
    pub seller_nip: Option<String>,
    /// `P_2` / `P_4C` / `cbc:ID`.
    pub invoice_number: Option<String>,
    /// `P_1` / `P_4B` / `cbc:IssueDate`.
    pub issue_date: Option<NaiveDate>,
    /// `RodzajFaktury` (PEF: `VatPef`/`KorPef`).
    pub invoice_type: Option<String>,
    /// Whether a `Zalacznik` element is present.
    pub has_attachment: bool,
    /// Metadata for queries.
    pub meta: Option<crate::store::InvoiceMeta>,
}

/// A rejection with KSeF's invoice status.
#[derive(Clone, Debug, PartialEq)]
struct Reject(StatusInfo, Option<InvoiceFacts>);

fn verification(detail: impl Into<String>) -> StatusInfo {
    StatusInfo::with_detail(430, "Błąd weryfikacji pliku faktury", detail)
}

/// Deepest element nesting accepted in an invoice document (the FA and PEF schemas stay far below).
const MAX_DEPTH: usize = 64;

/// Checks the document rules of §6.2 and reads the facts the later checks need.
pub fn read_document(bytes: &[u8], form: &KnownForm) -> Result<InvoiceFacts, StatusInfo> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(verification("Dokument zawiera znacznik BOM; wymagane jest kodowanie UTF-8 bez BOM."));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| verification("Dokument nie jest poprawnie zakodowany w UTF-8."))?;
    if let Some(rest) = text.strip_prefix("<?xml") {
        let decl = rest.split("?>").next().unwrap_or("");
        if let Some(pos) = decl.find("encoding") {
            let value: String = decl[pos + 8..]
                .trim_start()
                .trim_start_matches('=')
                .trim_start()
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| *c != '"' && *c != '\'')
                .collect();
            if !value.eq_ignore_ascii_case("utf-8") {
                return Err(verification(format!("Deklarowane kodowanie {value} nie jest dozwolone; wymagane UTF-8.")));
            }
        }
    }
    if let Some(c) = text.chars().find(|c| discouraged(*c)) {
        return Err(verification(format!("Dokument zawiera niedozwolony znak U+{:04X}.", c as u32)));
    }
    let opts = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(text, opts)
        .map_err(|e| verification(format!("Dokument nie jest poprawnym XML: {e}")))?;
    if doc.descendants().any(|n| n.is_pi()) {
        return Err(verification("Dokument zawiera instrukcje przetwarzania, które nie są dozwolone."));
    }
    // No invoice schema nests this deep; without XSD validation, this keeps hostile nesting out.
    // Document order visits a parent before its children: depth by node id, no recursion.
    let mut depth = vec![0usize; doc.descendants().count()];
    for n in doc.descendants() {
        if let Some(p) = n.parent() {
            depth[n.id().get_usize()] = depth[p.id().get_usize()] + 1;
            if depth[n.id().get_usize()] > MAX_DEPTH {
                return Err(verification(format!(
                    "Dokument przekracza dozwolone zagnieżdżenie elementów ({MAX_DEPTH})."
                )));
            }
        }
    }
    let root = doc.root_element();
    if root.tag_name().name() != form.root || root.tag_name().namespace() != Some(form.namespace) {
        return Err(verification(format!(
            "Dokument nie jest zgodny ze schemą (xsd) {}: oczekiwano elementu {} w przestrzeni nazw {}.",
            form.system_code, form.root, form.namespace
        )));
    }
    if form.system_code == "FA (3)"
        && let Err(detail) = fa3_structure(root)
    {
        return Err(verification(format!("Dokument nie jest zgodny ze schemą (xsd) FA (3): {detail}")));
    }
    let mut facts = InvoiceFacts::default();
    if form.value == "PEF" {
        facts.invoice_number = text_of(child(root, "ID"));
        facts.issue_date = text_of(child(root, "IssueDate")).and_then(|d| d.parse().ok());
        facts.seller_nip = child(root, "AccountingSupplierParty")
            .and_then(|p| p.descendants().find(|d| d.tag_name().name() == "CompanyID"))
            .and_then(|n| n.text())
            .map(|t| t.trim().trim_start_matches("PL").to_owned());
        facts.invoice_type = Some(if form.root == "CreditNote" { "KorPef" } else { "VatPef" }.to_owned());
    } else {
        facts.seller_nip = child(root, "Podmiot1")
            .and_then(|p| p.descendants().find(|d| d.tag_name().name() == "NIP"))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_owned());
        let body = child(root, "Fa").or_else(|| child(root, "FakturaRR"));
        if let Some(fa) = body {
            facts.invoice_number = text_of(child(fa, "P_2").or_else(|| child(fa, "P_4C")));
            facts.issue_date = text_of(child(fa, "P_1").or_else(|| child(fa, "P_4B"))).and_then(|d| d.parse().ok());
            facts.invoice_type = text_of(child(fa, "RodzajFaktury"));
        }
        facts.has_attachment = child(root, "Zalacznik").is_some();
        facts.meta = Some(fa_meta(root));
    }
    let (Some(_), Some(_), Some(_)) = (&facts.seller_nip, &facts.invoice_number, &facts.issue_date) else {
        return Err(verification(format!(
            "Dokument nie jest zgodny ze schemą (xsd) {}: brak wymaganych elementów (sprzedawca, numer lub data wystawienia).",
            form.system_code
        )));
    };
    Ok(facts)
}

/// A scoped check of the FA(3) schema (`schemat_FA(3)_v1-0E.xsd`): the required elements of the
/// header, both parties and the `Fa` body in their schema order, and the formats the schema gives
/// them (`TNrNIP`, `TDataT`, `TKwotowy`, `TWybor1_2`, `TRodzajFaktury`, lengths of `TZnakowy*`).
/// Optional elements, line items and the rest of the schema are not checked.
pub fn fa3_structure(root: roxmltree::Node<'_, '_>) -> Result<(), String> {
    let order = ["Naglowek", "Podmiot1", "Podmiot2", "Fa"];
    let names: Vec<&str> = root.children().filter(|c| c.is_element()).map(|c| c.tag_name().name()).collect();
    let mut last = 0;
    for want in order {
        let Some(pos) = names.iter().position(|n| *n == want) else { return Err(format!("brak elementu {want}")) };
        if pos < last {
            return Err(format!("element {want} w złym miejscu"));
        }
        last = pos;
    }
    fn node<'a, 'i>(parent: roxmltree::Node<'a, 'i>, name: &str) -> Result<roxmltree::Node<'a, 'i>, String> {
        child(parent, name).ok_or_else(|| format!("brak elementu {}/{name}", parent.tag_name().name()))
    }
    fn need(parent: roxmltree::Node<'_, '_>, name: &str) -> Result<String, String> {
        node(parent, name).map(|n| n.text().unwrap_or("").trim().to_owned())
    }
    fn text_len(field: &str, v: &str, max: usize) -> Result<(), String> {
        let n = v.chars().count();
        if n == 0 || n > max { Err(format!("{field}: wymagane 1..{max} znaków")) } else { Ok(()) }
    }
    let naglowek = node(root, "Naglowek")?;
    let kod = node(naglowek, "KodFormularza")?;
    if kod.attribute("kodSystemowy") != Some("FA (3)")
        || kod.attribute("wersjaSchemy") != Some("1-0E")
        || kod.text().map(str::trim) != Some("FA")
    {
        return Err("KodFormularza: wymagane FA z kodSystemowy=\"FA (3)\" i wersjaSchemy=\"1-0E\"".into());
    }
    if need(naglowek, "WariantFormularza")? != "3" {
        return Err("WariantFormularza: wymagana wartość 3".into());
    }
    let created = need(naglowek, "DataWytworzeniaFa")?;
    if chrono::DateTime::parse_from_rfc3339(&created).is_err()
        && chrono::NaiveDateTime::parse_from_str(&created, "%Y-%m-%dT%H:%M:%S%.f").is_err()
    {
        return Err(format!("DataWytworzeniaFa: niepoprawna data i czas {created}"));
    }
    let p1 = node(root, "Podmiot1")?;
    let id1 = node(p1, "DaneIdentyfikacyjne")?;
    let nip = need(id1, "NIP")?;
    if !nip_format(&nip) {
        return Err(format!("Podmiot1 NIP: niezgodny ze wzorcem TNrNIP ({nip})"));
    }
    text_len("Podmiot1 Nazwa", &need(id1, "Nazwa")?, 512)?;
    let adres = node(p1, "Adres")?;
    let kraj = need(adres, "KodKraju")?;
    if kraj.len() != 2 || !kraj.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("Podmiot1 KodKraju: niepoprawny kod kraju {kraj}"));
    }
    text_len("Podmiot1 AdresL1", &need(adres, "AdresL1")?, 512)?;
    let id2 = node(node(root, "Podmiot2")?, "DaneIdentyfikacyjne")?;
    match child(id2, "NIP") {
        Some(n) if !nip_format(n.text().unwrap_or("").trim()) => {
            return Err("Podmiot2 NIP: niezgodny ze wzorcem TNrNIP".into());
        }
        Some(_) => {}
        None if ["NrVatUE", "NrID", "BrakID"].iter().any(|n| child(id2, n).is_some()) => {}
        None => return Err("Podmiot2: wymagany NIP, NrVatUE, NrID lub BrakID".into()),
    }
    let fa = node(root, "Fa")?;
    let waluta = need(fa, "KodWaluty")?;
    if waluta.len() != 3 || !waluta.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("KodWaluty: niepoprawny kod waluty {waluta}"));
    }
    let p_1 = need(fa, "P_1")?;
    let in_range = chrono::NaiveDate::parse_from_str(&p_1, "%Y-%m-%d").ok().filter(|d| {
        (chrono::NaiveDate::from_ymd_opt(2006, 1, 1)..=chrono::NaiveDate::from_ymd_opt(2050, 1, 1)).contains(&Some(*d))
    });
    if p_1.len() != 10 || in_range.is_none() {
        return Err(format!("P_1: wymagana data z zakresu 2006-01-01..2050-01-01 ({p_1})"));
    }
    text_len("P_2", &need(fa, "P_2")?, 256)?;
    let p_15 = need(fa, "P_15")?;
    if !amount_format(&p_15) {
        return Err(format!("P_15: niezgodna ze wzorcem TKwotowy ({p_15})"));
    }
    let adnotacje = node(fa, "Adnotacje")?;
    for f in ["P_16", "P_17", "P_18", "P_18A", "P_23"] {
        let v = need(adnotacje, f)?;
        if v != "1" && v != "2" {
            return Err(format!("Adnotacje/{f}: dozwolone 1 lub 2"));
        }
    }
    for f in ["Zwolnienie", "NoweSrodkiTransportu", "PMarzy"] {
        node(adnotacje, f)?;
    }
    let rodzaj = need(fa, "RodzajFaktury")?;
    if !["VAT", "KOR", "ZAL", "ROZ", "UPR", "KOR_ZAL", "KOR_ROZ"].contains(&rodzaj.as_str()) {
        return Err(format!("RodzajFaktury: niedozwolona wartość {rodzaj}"));
    }
    Ok(())
}

/// `etd:TNrNIP`: `[1-9]((\d[1-9])|([1-9]\d))\d{7}` (format only; no checksum, as on TE).
fn nip_format(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10 && b.iter().all(u8::is_ascii_digit) && b[0] != b'0' && (b[1] != b'0' || b[2] != b'0')
}

/// `TKwotowy`: `-?([1-9]\d{0,15}|0)(\.\d{1,2})?`.
fn amount_format(v: &str) -> bool {
    let v = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (v, None),
    };
    let int_ok = int == "0"
        || (!int.is_empty() && int.len() <= 16 && !int.starts_with('0') && int.bytes().all(|b| b.is_ascii_digit()));
    let frac_ok = frac.is_none_or(|f| (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok
}

/// Amounts, currency and parties of an FA-family document.
fn fa_meta(root: roxmltree::Node<'_, '_>) -> crate::store::InvoiceMeta {
    use crate::store::{BuyerId, InvoiceMeta};
    let name =
        |p: &str| child(root, p).and_then(|n| child(n, "DaneIdentyfikacyjne")).and_then(|d| text_of(child(d, "Nazwa")));
    let buyer_id = child(root, "Podmiot2").and_then(|n| child(n, "DaneIdentyfikacyjne"));
    let buyer = match buyer_id {
        Some(d) if child(d, "NIP").is_some() => BuyerId { kind: "Nip".into(), value: text_of(child(d, "NIP")) },
        Some(d) if child(d, "NrVatUE").is_some() => BuyerId {
            kind: "VatUe".into(),
            value: Some(format!(
                "{}{}",
                text_of(child(d, "KodUE")).unwrap_or_default(),
                text_of(child(d, "NrVatUE")).unwrap_or_default()
            )),
        },
        Some(d) if child(d, "NrID").is_some() => BuyerId { kind: "Other".into(), value: text_of(child(d, "NrID")) },
        _ => BuyerId { kind: "None".into(), value: None },
    };
    let fa = child(root, "Fa").or_else(|| child(root, "FakturaRR"));
    let sum = |prefix: &str| -> f64 {
        fa.map(|fa| {
            fa.children()
                .filter(|c| {
                    let n = c.tag_name().name();
                    c.is_element()
                        && n.starts_with(prefix)
                        && !n.ends_with('W')
                        && n[prefix.len()..].chars().all(|ch| ch.is_ascii_digit() || ch == '_')
                })
                .filter_map(|c| c.text().and_then(|t| t.trim().parse::<f64>().ok()))
                .sum()
        })
        .unwrap_or(0.0)
    };
    let gross = fa
        .and_then(|fa| text_of(child(fa, "P_15")).or_else(|| text_of(child(fa, "P_12_2"))))
        .and_then(|t| t.parse().ok());
    let net = sum("P_13_");
    let vat = sum("P_14_");
    InvoiceMeta {
        seller_name: name("Podmiot1"),
        buyer,
        buyer_name: name("Podmiot2"),
        net,
        gross: gross.unwrap_or(net + vat),
        vat,
        currency: fa.and_then(|fa| text_of(child(fa, "KodWaluty"))).unwrap_or_else(|| "PLN".into()),
        third_subjects: root
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "Podmiot3")
            .map(third_subject)
            .collect(),
        authorized_subject: child(root, "PodmiotUpowazniony").and_then(|p| {
            let d = child(p, "DaneIdentyfikacyjne");
            Some(crate::store::AuthorizedSubject {
                nip: d.and_then(|d| text_of(child(d, "NIP")))?,
                name: d.and_then(|d| text_of(child(d, "Nazwa"))),
                role: text_of(child(p, "RolaPU")).and_then(|r| r.parse().ok()).unwrap_or(0),
            })
        }),
    }
}

/// A `Podmiot3` element (`TPodmiot3` identification plus `Rola` or `RolaInna`).
fn third_subject(p: roxmltree::Node<'_, '_>) -> crate::store::ThirdSubject {
    let d = child(p, "DaneIdentyfikacyjne");
    let field = |n: &str| d.and_then(|d| text_of(child(d, n)));
    let (kind, value) = if let Some(v) = field("NIP") {
        ("Nip", Some(v))
    } else if let Some(v) = field("IDWew") {
        ("InternalId", Some(v))
    } else if let Some(v) = field("NrVatUE") {
        ("VatUe", Some(format!("{}{v}", field("KodUE").unwrap_or_default())))
    } else if let Some(v) = field("NrID") {
        ("Other", Some(v))
    } else {
        ("None", None)
    };
    crate::store::ThirdSubject {
        kind: kind.to_owned(),
        value,
        name: field("Nazwa"),
        role: text_of(child(p, "Rola")).and_then(|r| r.parse().ok()).unwrap_or(0),
    }
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(n: Option<roxmltree::Node<'_, '_>>) -> Option<String> {
    n.and_then(|n| n.text()).map(|t| t.trim().to_owned())
}

/// Code points KSeF refuses since 2.4.0.
fn discouraged(c: char) -> bool {
    let u = c as u32;
    (0x7F..=0x84).contains(&u)
        || (0x86..=0x9F).contains(&u)
        || (0xFDD0..=0xFDEF).contains(&u)
        || (u >= 0x1_0000 && (u & 0xFFFE) == 0xFFFE)
}

/// The ciphertext does not decrypt with the session key and IV (wrong key, bad padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ciphertext does not decrypt with the session key")]
pub struct DecryptError;

/// AES-256-CBC/PKCS#7 decryption with a session key and IV.
pub fn decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).map_err(|_| DecryptError)?;
    dec.decrypt_padded_vec::<Pkcs7>(ciphertext).map_err(|_| DecryptError)
}

/// Processes one invoice of a session into its final record.
pub fn process(app: &AppState, session: &SessionRecord, sub: Submission) -> Result<InvoiceRecord, StoreError> {
    let mut rec = InvoiceRecord {
        reference: sub.reference.clone(),
        session: session.reference.clone(),
        ordinal: sub.ordinal,
        context: session.context.clone(),
        invoice_number: None,
        ksef_number: None,
        invoice_hash: sub.invoice_hash.clone(),
        invoice_size: sub.invoice_size,
        invoicing_date: sub.invoicing_date,
        acquisition_date: None,
        permanent_storage_date: None,
        status: StatusInfo::new(150, "Trwa przetwarzanie"),
        invoicing_mode: None,
        offline_mode: sub.offline_mode,
        seller_nip: None,
        issue_date: None,
        invoice_type: None,
        form_code: session.form_code.clone(),
        has_attachment: false,
        content: None,
        meta: None,
        hash_of_corrected_invoice: None,
        file_name: sub.file_name.clone(),
    };
    match check(app, session, &sub, &mut rec)? {
        Ok(plain) => {
            rec.content = Some(plain);
        }
        Err(Reject(status, facts)) => {
            rec.status = status;
            if let Some(f) = facts {
                rec.invoice_number = f.invoice_number;
            }
        }
    }
    Ok(rec)
}

fn check(
    app: &AppState,
    session: &SessionRecord,
    sub: &Submission,
    rec: &mut InvoiceRecord,
) -> Result<Result<Vec<u8>, Reject>, StoreError> {
    let reject = |s: StatusInfo| Ok(Err(Reject(s, None)));
    let plain = match &sub.payload {
        Payload::Plain(p) => p.clone(),
        Payload::Encrypted(ciphertext) => {
            let Some(key) = &session.key else {
                return reject(StatusInfo::new(405, "Przetwarzanie anulowane z powodu błędu sesji"));
            };
            let Ok(plain) = decrypt(&key.0, &session.iv, ciphertext) else {
                return reject(StatusInfo::with_detail(
                    435,
                    "Błąd odszyfrowania pliku",
                    "Nie udało się odszyfrować treści faktury.",
                ));
            };
            plain
        }
    };
    if plain.len() as u64 != sub.invoice_size {
        return reject(verification(format!(
            "Rozmiar faktury ({} B) nie zgadza się z zadeklarowanym ({} B).",
            plain.len(),
            sub.invoice_size
        )));
    }
    if B64.encode(Sha256::digest(&plain)) != sub.invoice_hash {
        return reject(verification("Skrót faktury nie zgadza się z zadeklarowanym."));
    }
    let Some(form) = known_form(&session.form_code) else {
        return reject(verification("Nieobsługiwany kod formularza."));
    };
    let facts = match read_document(&plain, form) {
        Ok(f) => f,
        Err(s) => return reject(s),
    };
    rec.seller_nip = facts.seller_nip.clone();
    rec.issue_date = facts.issue_date;
    rec.invoice_type = facts.invoice_type.clone();
    rec.has_attachment = facts.has_attachment;
    rec.invoice_number = facts.invoice_number.clone();
    rec.meta = facts.meta.clone();
    let with = |s: StatusInfo| Ok(Err(Reject(s, Some(facts.clone()))));

    let limits = app.session_limits(&session.context, session.kind == crate::store::SessionKind::Online);
    let limit = if facts.has_attachment {
        limits.max_invoice_with_attachment_size_mb * 1_000_000
    } else {
        limits.max_invoice_size_mb * 1_000_000
    };
    if plain.len() as u64 > limit {
        return with(verification(format!("Rozmiar faktury przekracza dozwolony limit {limit} B.")));
    }
    let accepted_day = sub.invoicing_date.date_naive();
    let issue = facts.issue_date.unwrap_or(accepted_day);
    if issue > accepted_day {
        return with(StatusInfo::with_detail(
            450,
            "Błąd weryfikacji semantyki dokumentu faktury",
            "Data wystawienia faktury (P_1) jest późniejsza niż data przyjęcia dokumentu.",
        ));
    }
    if facts.has_attachment {
        if session.kind == crate::store::SessionKind::Online {
            // Attachments go in batch sessions only (technical corrections are not supported yet).
            return with(StatusInfo::with_detail(
                415,
                "Brak możliwości wysyłania faktury z załącznikiem",
                "Faktury z załącznikiem można wysyłać wyłącznie w sesji wsadowej.",
            ));
        }
        let nip = facts.seller_nip.clone().unwrap_or_default();
        let consent = app.store.attachment_consent(&nip)?;
        if !consent.is_some_and(|c| c.allowed && c.revoked_date.is_none_or(|d| d > accepted_day)) {
            return with(StatusInfo::with_detail(
                415,
                "Brak możliwości wysyłania faktury z załącznikiem",
                "Podmiot nie posiada zgody na wysyłanie faktur z załącznikiem.",
            ));
        }
    }
    // TE checks the seller NIP's format, not its checksum (§6.3), so numbers are built by hand.
    let seller_nip = facts.seller_nip.clone().unwrap_or_default();
    let body = format!("{seller_nip}-{}-01{}", accepted_day.format("%Y%m%d"), app.random_hex(10));
    let Ok(ksef_number) = format!("{body}-{:02X}", ksef_model::crc8(body.as_bytes())).parse::<KsefNumber>() else {
        return with(verification(format!("Nieprawidłowy NIP sprzedawcy: {seller_nip}.")));
    };
    if !crate::domain::permissions::may_issue_for(app.store.as_ref(), &session.context, &seller_nip, form.value)? {
        return with(StatusInfo::with_detail(
            410,
            "Nieprawidłowy zakres uprawnień",
            format!("Kontekst {} nie może wystawiać faktur w imieniu podmiotu {seller_nip}.", session.context.value),
        ));
    }
    // Injected faults come before the duplicate key is reserved, so a retry is not a duplicate.
    if app.fault(app.config.faults.invoice_cancel_rate) {
        return with(StatusInfo::with_detail(
            550,
            "Operacja została anulowana przez system",
            "Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie",
        ));
    }
    let key = InvoiceKey {
        seller_nip: seller_nip.clone(),
        invoice_type: facts.invoice_type.clone().unwrap_or_default(),
        invoice_number: facts.invoice_number.clone().unwrap_or_default(),
    };
    let owner = InvoiceKeyOwner { ksef_number: ksef_number.to_string(), session: session.reference.clone() };
    let mut ksef_number = ksef_number;
    let mut taken = app.store.reserve_invoice_key(&key, &owner)?;
    // A reservation of this session whose KSeF number no invoice carries was made by a run of
    // this very job that stopped before storing its result (a restart): it is ours.
    if let Some(orig) = &taken
        && orig.session == session.reference
        && app.store.invoice_by_ksef_number(&orig.ksef_number)?.is_none()
        && let Ok(n) = orig.ksef_number.parse::<KsefNumber>()
    {
        ksef_number = n;
        taken = None;
    }
    if let Some(orig) = taken {
        let mut s = StatusInfo::with_detail(
            440,
            "Duplikat faktury",
            format!(
                "Duplikat faktury. Faktura o numerze KSeF: {} została już prawidłowo przesłana do systemu w sesji: {}",
                orig.ksef_number, orig.session
            ),
        );
        s.extensions.insert("originalSessionReferenceNumber".into(), Some(orig.session));
        s.extensions.insert("originalKsefNumber".into(), Some(orig.ksef_number));
        return with(s);
    }
    let now = app.now();
    rec.ksef_number = Some(ksef_number.into_string());
    rec.acquisition_date = Some(now);
    rec.permanent_storage_date = Some(now);
    // Automatic offline marking: an issue day before the acceptance day means Offline (§13.3).
    rec.invoicing_mode = Some(if sub.offline_mode || issue < accepted_day { "Offline" } else { "Online" }.to_owned());
    rec.status = StatusInfo::new(200, "Sukces");
    Ok(Ok(plain))
}
