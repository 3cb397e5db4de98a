//! Text-shaped cases: identifiers, generic hostile XML, hostile FA(3) invoices, hostile UPOs.

use serde_json::{Value, json};

use super::Corpus;

/// The seller NIP of every corpus invoice (checksum-valid); the emulator tests log into it.
pub const SELLER_NIP: &str = "5265877635";
/// A valid FA(3) namespace.
const FA3_NS: &str = "http://crd.gov.pl/wzor/2025/06/25/13775/";
const UPO_NS: &str = "http://upo.schematy.mf.gov.pl/KSeF/v4-3";

/// Expected emulator answers.
fn http(status: u16, code: u32) -> Value {
    json!({"status": status, "code": code})
}

fn invoice_status(code: u32) -> Value {
    json!({"invoice_status": code})
}

// ---------------------------------------------------------------------------------------------
// Identifiers

/// Single-digit substitutions (`d` → `d+1 mod 10`) at `step`-spaced digit positions.
fn digit_flips(valid: &str, step: usize) -> Vec<(String, String)> {
    let chars: Vec<char> = valid.chars().collect();
    (0..chars.len())
        .filter(|&i| chars[i].is_ascii_digit())
        .step_by(step)
        .map(|i| {
            let mut c = chars.clone();
            c[i] = char::from(b'0' + (chars[i] as u8 - b'0' + 1) % 10);
            (format!("digit-{i}-changed"), c.into_iter().collect())
        })
        .collect()
}

fn structural(valid: &str) -> Vec<(String, String)> {
    let mut v = vec![
        ("empty".to_owned(), String::new()),
        ("truncated".to_owned(), valid[..valid.len() - 1].to_owned()),
        ("extended".to_owned(), format!("{valid}0")),
        ("leading-space".to_owned(), format!(" {valid}")),
        ("trailing-newline".to_owned(), format!("{valid}\n")),
        ("embedded-nul".to_owned(), format!("{}\0{}", &valid[..3], &valid[3..])),
        ("fullwidth-digit".to_owned(), valid.replacen(|c: char| c.is_ascii_digit(), "\u{FF10}", 1)),
        ("arabic-indic-digit".to_owned(), valid.replacen(|c: char| c.is_ascii_digit(), "\u{0663}", 1)),
        ("bidi-override".to_owned(), format!("\u{202E}{valid}")),
        ("zero-width-space".to_owned(), format!("{}\u{200B}{}", &valid[..4], &valid[4..])),
        ("percent-encoded-nul".to_owned(), format!("{valid}%00")),
        ("path-traversal".to_owned(), format!("../{valid}")),
        ("sql-quote".to_owned(), format!("{valid}' OR '1'='1")),
        ("long-digits".to_owned(), "9".repeat(4096)),
        ("letter-inside".to_owned(), format!("{}g{}", &valid[..2], &valid[3..])),
    ];
    if valid.contains('-') {
        v.push(("double-dash".to_owned(), valid.replacen('-', "--", 1)));
        v.push(("no-dashes".to_owned(), valid.replace('-', "")));
    }
    v
}

/// Hostile identifiers. `model`: the parser's `IdError` names the identifier kind; `emulator`:
/// KSeF numbers and reference numbers in a URL path are refused with 400 `21405`.
pub fn ids(c: &mut Corpus) {
    let types: [(&str, &str, &str, bool); 7] = [
        ("Nip", "NIP", "5265877635", true),
        ("Pesel", "PESEL", "85121612343", true),
        ("InternalId", "internal identifier", "6824515772-12343", false),
        ("NipVatUe", "NIP-VAT-UE identifier", "5265877635-DE123456789", false),
        ("KsefNumber", "KSeF number", "5265877635-20250826-0100001AF629-AF", true),
        ("ReferenceNumber", "reference number", "20250625-SO-2C3E6C8000-B675CF5D68-07", false),
        ("CollectiveIdentifier", "collective identifier", "1111111111-IZ202607-65ED02180000-E7", true),
    ];
    for (ty, kind, valid, flips) in types {
        let mut cases = structural(valid);
        if flips {
            cases.extend(digit_flips(valid, 3));
        }
        for (slug, value) in cases {
            let mut expect = json!({"model": format!("IdError({kind})")});
            // Only values a URL path can carry (no NUL, no `/`, not empty) go to the emulator.
            let path_safe = !value.is_empty() && !value.contains(['\0', '/', '\n', '%', ' ', '\'']);
            // A malformed KSeF number is a validation error; a reference number is looked up
            // and not found (KSeF's `21173`).
            match ty {
                "KsefNumber" if path_safe => expect["emulator"] = http(400, 21405),
                "ReferenceNumber" if path_safe => expect["emulator"] = http(400, 21173),
                _ => {}
            }
            c.add(
                "ids",
                &format!("{}-{slug}", ty.to_lowercase()),
                "txt",
                value.into_bytes(),
                format!("{ty} `{valid}` damaged: {slug}"),
                json!({"type": ty}),
                expect,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generic hostile XML

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"#;

/// The kinds of damage a generic XML document carries, with what each parser must say.
struct XmlCase {
    slug: &'static str,
    attack: &'static str,
    bytes: Vec<u8>,
    /// `UpoError` variant from `parse_upo_bytes`.
    upo: &'static str,
    /// `VerifyError` variant from XAdES `verify` (`None`: not UTF-8, the verifier takes `&str`).
    verify: Option<&'static str>,
}

fn x(
    slug: &'static str,
    attack: &'static str,
    s: impl Into<Vec<u8>>,
    upo: &'static str,
    verify: Option<&'static str>,
) -> XmlCase {
    XmlCase { slug, attack, bytes: s.into(), upo, verify }
}

fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "<a>".repeat(depth), "</a>".repeat(depth))
}

/// Generic hostile XML. Targets: the client's UPO parser, the XAdES verifier, and the emulator's
/// `POST /auth/xades-signature` (9101 malformed, 9102 no signature, 21217 not UTF-8).
pub fn xml(c: &mut Corpus) {
    const MAL: Option<&str> = Some("MalformedXml");
    const NOSIG: Option<&str> = Some("NoSignature");
    let cases = vec![
        x("billion-laughs", "exponential entity expansion (billion laughs)", BILLION_LAUGHS, "Xml", MAL),
        x(
            "quadratic-blowup",
            "one large entity referenced many times",
            format!("<!DOCTYPE r [<!ENTITY a \"{}\">]><r>{}</r>", "x".repeat(2000), "&a;".repeat(2000)),
            "Xml",
            MAL,
        ),
        x(
            "xxe-file",
            "external entity reading a local file",
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
            "Xml",
            MAL,
        ),
        x(
            "xxe-http",
            "external entity fetching a URL (SSRF)",
            "<!DOCTYPE r [<!ENTITY x SYSTEM \"http://127.0.0.1:1/x\">]><r>&x;</r>",
            "Xml",
            MAL,
        ),
        x(
            "xxe-parameter",
            "external parameter entity (out-of-band exfiltration)",
            "<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/evil.dtd\"> %p;]><r/>",
            "Xml",
            MAL,
        ),
        x(
            "doctype-external",
            "external DTD subset",
            "<!DOCTYPE r SYSTEM \"http://127.0.0.1:1/r.dtd\"><r/>",
            "Xml",
            MAL,
        ),
        x("doctype-empty", "a DTD with no declarations", "<!DOCTYPE r []><r/>", "Xml", MAL),
        x(
            "deep-nesting-10k",
            "10 000 nested elements (stack exhaustion; the UPO parser is iterative)",
            nested(10_000, ""),
            "WrongRoot",
            MAL,
        ),
        x(
            "deep-nesting-300",
            "300 nested elements (above the verifier's depth limit)",
            nested(300, ""),
            "WrongRoot",
            MAL,
        ),
        x(
            "utf16-bom",
            "UTF-16LE with a byte-order mark",
            utf16le("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>"),
            "Invalid",
            None,
        ),
        x(
            "latin2-bytes",
            "ISO-8859-2 bytes declared as such",
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?><r>\xb1\xe6\xea</r>".to_vec(),
            "Invalid",
            None,
        ),
        x("invalid-utf8", "a lone continuation byte", b"<r>\x80</r>".to_vec(), "Invalid", None),
        x("overlong-utf8", "an overlong UTF-8 encoding of '/'", b"<r>\xc0\xaf</r>".to_vec(), "Invalid", None),
        x("utf8-surrogate", "a UTF-16 surrogate encoded as UTF-8", b"<r>\xed\xa0\x80</r>".to_vec(), "Invalid", None),
        x("nul-byte", "a NUL character", "<r>\0</r>", "Xml", MAL),
        x("control-char", "a C0 control character", "<r>\u{1}</r>", "Xml", MAL),
        x("char-ref-nul", "a character reference to U+0000", "<r>&#0;</r>", "Xml", MAL),
        // roxmltree accepts a reference to a surrogate (not an XML `Char`): the document parses.
        x("char-ref-surrogate", "a character reference to a surrogate", "<r>&#xD800;</r>", "WrongRoot", NOSIG),
        x("char-ref-huge", "a character reference beyond U+10FFFF", "<r>&#x110000000;</r>", "Xml", MAL),
        x("undefined-entity", "a reference to an undeclared entity", "<r>&undefined;</r>", "Xml", MAL),
        x(
            "pi-before-root",
            "a processing instruction before the root",
            "<?xml-stylesheet href=\"http://127.0.0.1:1/x.xsl\"?><r/>",
            "WrongRoot",
            NOSIG,
        ),
        x(
            "pi-in-body",
            "a processing instruction inside the root",
            "<r><?php system('id'); ?></r>",
            "WrongRoot",
            NOSIG,
        ),
        x("decl-not-first", "an XML declaration after content", " <r/><?xml version=\"1.0\"?>", "Xml", MAL),
        x("unclosed", "an unclosed element", "<r><a></r>", "Xml", MAL),
        x("two-roots", "two root elements", "<r/><r/>", "Xml", MAL),
        x("empty", "an empty document", "", "Xml", MAL),
        x("whitespace-only", "whitespace only", "  \n\t ", "Xml", MAL),
        x("text-only", "text without an element", "not xml at all", "Xml", MAL),
        x("cdata-unterminated", "an unterminated CDATA section", "<r><![CDATA[x</r>", "Xml", MAL),
        x("duplicate-attribute", "an attribute given twice", "<r a=\"1\" a=\"2\"/>", "Xml", MAL),
        x("unbound-prefix", "an element with an undeclared prefix", "<p:r/>", "Xml", MAL),
        x(
            "xml-prefix-rebound",
            "the reserved `xml` prefix bound to another namespace",
            "<r xmlns:xml=\"urn:evil\"/>",
            "Xml",
            MAL,
        ),
        x("trailing-garbage", "bytes after the root element", "<r/>garbage<", "Xml", MAL),
        x("long-name", "a 60 000-character element name", format!("<{0}/>", "n".repeat(60_000)), "WrongRoot", NOSIG),
        x(
            "many-attributes",
            "5 000 attributes on one element",
            format!("<r {}/>", (0..5000).map(|i| format!("a{i}=\"{i}\"")).collect::<Vec<_>>().join(" ")),
            "WrongRoot",
            NOSIG,
        ),
        x(
            "xinclude",
            "an XInclude of a local file (must not be processed)",
            "<r xmlns:xi=\"http://www.w3.org/2001/XInclude\"><xi:include href=\"file:///etc/passwd\" parse=\"text\"/></r>",
            "WrongRoot",
            NOSIG,
        ),
    ];
    for case in cases {
        let mut expect = json!({"client": format!("UpoError::{}", case.upo)});
        match case.verify {
            Some(v) => {
                expect["crypto"] = json!(format!("VerifyError::{v}"));
                expect["emulator"] = http(400, if v == "MalformedXml" { 9101 } else { 9102 });
            }
            None => expect["emulator"] = http(400, 21217),
        }
        c.add("xml", case.slug, "xml", case.bytes, case.attack, Value::Null, expect);
    }
}

fn utf16le(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Invoices

/// A minimal FA(3)-shaped invoice with the elements the emulator reads (written here, not copied
/// from any template). `number` must be unique per case so that no duplicate check interferes.
pub fn invoice(number: &str) -> String {
    invoice_with(FA3_NS, SELLER_NIP, number, "2026-01-15", "")
}

fn invoice_with(ns: &str, nip: &str, number: &str, date: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Faktura xmlns=\"{ns}\">\n\
<Naglowek><KodFormularza kodSystemowy=\"FA (3)\" wersjaSchemy=\"1-0E\">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>2026-01-15T10:00:00Z</DataWytworzeniaFa><SystemInfo>ksef-rs hostile corpus</SystemInfo></Naglowek>\n\
<Podmiot1><DaneIdentyfikacyjne><NIP>{nip}</NIP><Nazwa>Korpus Testowy Sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Testowa 1, 00-001 Warszawa</AdresL1></Adres></Podmiot1>\n\
<Podmiot2><DaneIdentyfikacyjne><NIP>1111111111</NIP><Nazwa>Odbiorca Testowy</Nazwa></DaneIdentyfikacyjne><JST>2</JST><GV>2</GV></Podmiot2>\n\
<Fa><KodWaluty>PLN</KodWaluty><P_1>{date}</P_1><P_2>{number}</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15><Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje><RodzajFaktury>VAT</RodzajFaktury>{extra}</Fa>\n\
</Faktura>\n"
    )
}

/// Hostile FA(3) invoices, sent encrypted in an online session to the emulator (NIP
/// [`SELLER_NIP`]'s context): the expected final invoice status (430 verification, 450
/// semantics, 410 other seller; 200 for the control).
pub fn invoices(c: &mut Corpus) {
    let mut n = 0;
    let mut num = || {
        n += 1;
        format!("HC/{n:03}/2026")
    };
    let ok = invoice(&num());
    let mut cases: Vec<(&str, &str, Vec<u8>, u32)> =
        vec![("control-valid", "none (control: accepted)", ok.into_bytes(), 200)];
    let inv = |number: String| invoice(&number);
    let splice = |doc: String, at: &str, what: &str| doc.replacen(at, &format!("{what}{at}"), 1);
    cases.push(("bom", "a UTF-8 byte-order mark", [b"\xEF\xBB\xBF".as_slice(), inv(num()).as_bytes()].concat(), 430));
    cases.push((
        "declared-latin2",
        "encoding declared ISO-8859-2",
        inv(num()).replacen("UTF-8", "ISO-8859-2", 1).into_bytes(),
        430,
    ));
    cases.push((
        "declared-utf16",
        "encoding declared UTF-16 on UTF-8 bytes",
        inv(num()).replacen("UTF-8", "UTF-16", 1).into_bytes(),
        430,
    ));
    cases.push((
        "latin2-bytes",
        "ISO-8859-2 bytes in a name, declared UTF-8",
        inv(num()).into_bytes().replace_first(b"Korpus", b"Korpus \xB1\xE6"),
        430,
    ));
    cases.push(("utf16le", "the whole document in UTF-16LE", utf16le(&inv(num()).replacen("UTF-8", "UTF-16", 1)), 430));
    cases.push(("pi", "a processing instruction", splice(inv(num()), "<Naglowek>", "<?pi x?>").into_bytes(), 430));
    cases.push((
        "stylesheet-pi",
        "an xml-stylesheet processing instruction",
        splice(inv(num()), "<Faktura", "<?xml-stylesheet href=\"http://127.0.0.1:1/x.xsl\"?>").into_bytes(),
        430,
    ));
    cases.push(("dtd", "an internal DTD", splice(inv(num()), "<Faktura", "<!DOCTYPE Faktura []>").into_bytes(), 430));
    cases.push((
        "billion-laughs",
        "exponential entities in the seller's name",
        {
            let d = inv(num());
            let dtd = BILLION_LAUGHS
                .split("<lolz>")
                .next()
                .unwrap_or_default()
                .replace("<?xml version=\"1.0\"?>\n", "")
                .replace("lolz", "Faktura");
            splice(d, "<Faktura", &dtd).replacen("Korpus Testowy", "&lol9;", 1).into_bytes()
        },
        430,
    ));
    cases.push((
        "xxe",
        "an external entity in the invoice number",
        {
            let d = inv(num());
            splice(d, "<Faktura", "<!DOCTYPE Faktura [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>")
                .replacen("<P_2>", "<P_2>&x;", 1)
                .into_bytes()
        },
        430,
    ));
    cases.push((
        "undefined-entity",
        "a reference to an undeclared entity",
        inv(num()).replacen("<P_2>", "<P_2>&x;", 1).into_bytes(),
        430,
    ));
    cases.push((
        "deep-nesting",
        "10 000 nested elements inside Fa",
        inv(num()).replacen("</Fa>", &format!("{}</Fa>", nested(10_000, "")), 1).into_bytes(),
        430,
    ));
    cases.push((
        "fa2-namespace",
        "the FA(2) namespace in an FA(3) session",
        inv(num()).replacen(FA3_NS, "http://crd.gov.pl/wzor/2023/06/29/12648/", 1).into_bytes(),
        430,
    ));
    cases.push((
        "no-namespace",
        "no namespace at all",
        inv(num()).replacen(&format!(" xmlns=\"{FA3_NS}\""), "", 1).into_bytes(),
        430,
    ));
    cases.push((
        "lookalike-namespace",
        "a namespace differing in the trailing slash",
        inv(num()).replacen(FA3_NS, FA3_NS.trim_end_matches('/'), 1).into_bytes(),
        430,
    ));
    cases.push((
        "wrong-root",
        "a UBL Invoice root in an FA(3) session",
        inv(num()).replace("Faktura", "Invoice").into_bytes(),
        430,
    ));
    cases.push((
        "truncated",
        "the document cut in half",
        {
            let d = inv(num());
            d.as_bytes()[..d.len() / 2].to_vec()
        },
        430,
    ));
    cases.push(("empty", "an empty file (refused when sent: invoiceSize must be at least 1)", Vec::new(), 0));
    cases.push(("not-xml", "JSON instead of XML", b"{\"Faktura\": {}}".to_vec(), 430));
    cases.push((
        "nul",
        "a NUL byte in the invoice number",
        inv(num()).replacen("<P_2>", "<P_2>\0", 1).into_bytes(),
        430,
    ));
    cases.push((
        "c1-control",
        "a C1 control character (U+0086) KSeF refuses",
        inv(num()).replacen("Korpus", "Korpus\u{86}", 1).into_bytes(),
        430,
    ));
    cases.push((
        "noncharacter",
        "a noncharacter (U+1FFFE) KSeF refuses",
        inv(num()).replacen("Korpus", "Korpus\u{1FFFE}", 1).into_bytes(),
        430,
    ));
    cases.push(("two-roots", "a second root element", format!("{}<Faktura/>", inv(num())).into_bytes(), 430));
    cases.push((
        "cdata-unterminated",
        "an unterminated CDATA section",
        inv(num()).replacen("<P_2>", "<P_2><![CDATA[", 1).into_bytes(),
        430,
    ));
    cases.push((
        "no-seller",
        "no Podmiot1 NIP",
        {
            let d = inv(num());
            d.replacen(&format!("<NIP>{SELLER_NIP}</NIP>"), "", 1).into_bytes()
        },
        430,
    ));
    cases.push((
        "no-number",
        "no P_2",
        {
            let number = num();
            inv(number.clone()).replacen(&format!("<P_2>{number}</P_2>"), "", 1).into_bytes()
        },
        430,
    ));
    cases.push((
        "bad-date",
        "an issue date that is not a date",
        inv(num()).replacen("<P_1>2026-01-15", "<P_1>2026-02-30", 1).into_bytes(),
        430,
    ));
    cases.push((
        "future-date",
        "an issue date in 2049 (in the future, inside the schema's range)",
        inv(num()).replacen("<P_1>2026-01-15", "<P_1>2049-01-01", 1).into_bytes(),
        450,
    ));
    cases.push((
        "other-seller",
        "a seller that is not the session's context",
        inv(num()).replacen(SELLER_NIP, "1111111111", 1).into_bytes(),
        410,
    ));
    for (slug, attack, bytes, code) in cases {
        let emulator = if code == 0 { http(400, 21405) } else { invoice_status(code) };
        c.add("invoice", slug, "xml", bytes, attack, Value::Null, json!({"emulator": emulator}));
    }
}

trait ReplaceFirst {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        match self.windows(from.len()).position(|w| w == from) {
            Some(i) => [&self[..i], to, &self[i + from.len()..]].concat(),
            None => self,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// UPO

/// A UPO v4-3 invoice receipt shaped like KSeF's (written here).
fn upo_doc() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Potwierdzenie xmlns=\"{UPO_NS}\" wersjaSchemy=\"4-3\">\
<NazwaPodmiotuPrzyjmujacego>Ministerstwo Finansów</NazwaPodmiotuPrzyjmujacego>\
<NumerReferencyjnySesji>20260115-SO-2C3E6C8000-B675CF5D68-07</NumerReferencyjnySesji>\
<Uwierzytelnienie><IdKontekstu><Nip>{SELLER_NIP}</Nip></IdKontekstu>\
<SkrotDokumentuUwierzytelniajacego>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</SkrotDokumentuUwierzytelniajacego></Uwierzytelnienie>\
<NazwaStrukturyLogicznej>schemat_FA(3)_v1-0E.xsd</NazwaStrukturyLogicznej><KodFormularza>FA (3)</KodFormularza>\
<Dokument><NipSprzedawcy>{SELLER_NIP}</NipSprzedawcy><NumerKSeFDokumentu>5265877635-20250826-0100001AF629-AF</NumerKSeFDokumentu>\
<NumerFaktury>HC/1/2026</NumerFaktury><DataWystawieniaFaktury>2026-01-15</DataWystawieniaFaktury>\
<DataPrzeslaniaDokumentu>2026-01-15T10:00:00.000+01:00</DataPrzeslaniaDokumentu>\
<DataNadaniaNumeruKSeF>2026-01-15T10:00:01.000+01:00</DataNadaniaNumeruKSeF>\
<SkrotDokumentu>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</SkrotDokumentu><TrybWysylki>Online</TrybWysylki></Dokument>\
</Potwierdzenie>\n"
    )
}

/// Hostile UPOs for the client's parser (`UpoError` variant; `Ok` for the control).
pub fn upo(c: &mut Corpus) {
    let d = upo_doc();
    let r = |from: &str, to: &str| {
        assert!(d.contains(from), "{from}");
        d.replacen(from, to, 1).into_bytes()
    };
    let hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("control-valid", "none (control: parses)", d.clone().into_bytes(), "Ok"),
        ("dtd", "a DTD", r("<Potwierdzenie", "<!DOCTYPE Potwierdzenie []><Potwierdzenie"), "Xml"),
        (
            "xxe",
            "an external entity in the invoice number",
            {
                let s = d.replacen(
                    "<Potwierdzenie",
                    "<!DOCTYPE Potwierdzenie [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Potwierdzenie",
                    1,
                );
                s.replacen("HC/1/2026", "&x;", 1).into_bytes()
            },
            "Xml",
        ),
        (
            "billion-laughs",
            "exponential entities",
            {
                let dtd = BILLION_LAUGHS
                    .split("<lolz>")
                    .next()
                    .unwrap_or_default()
                    .replace("<?xml version=\"1.0\"?>\n", "")
                    .replace("lolz", "Potwierdzenie");
                d.replacen("<Potwierdzenie", &format!("{dtd}<Potwierdzenie"), 1)
                    .replacen("HC/1/2026", "&lol9;", 1)
                    .into_bytes()
            },
            "Xml",
        ),
        ("wrong-namespace", "the v4-2 namespace", r(UPO_NS, "http://upo.schematy.mf.gov.pl/KSeF/v4-2"), "WrongRoot"),
        ("wrong-root", "another root element", d.replace("Potwierdzenie", "Faktura").into_bytes(), "WrongRoot"),
        (
            "no-auth",
            "no Uwierzytelnienie",
            {
                let a = d.find("<Uwierzytelnienie>").unwrap_or(0);
                let b = d.find("</Uwierzytelnienie>").map_or(0, |i| i + "</Uwierzytelnienie>".len());
                format!("{}{}", &d[..a], &d[b..]).into_bytes()
            },
            "Missing",
        ),
        (
            "no-document",
            "no Dokument",
            {
                let a = d.find("<Dokument>").unwrap_or(0);
                let b = d.find("</Dokument>").map_or(0, |i| i + "</Dokument>".len());
                format!("{}{}", &d[..a], &d[b..]).into_bytes()
            },
            "Missing",
        ),
        (
            "short-hash",
            "a 31-byte document hash",
            r(&format!("<SkrotDokumentu>{hash}"), "<SkrotDokumentu>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA=="),
            "Invalid",
        ),
        (
            "hash-not-base64",
            "a document hash that is not Base64",
            r(&format!("<SkrotDokumentu>{hash}"), "<SkrotDokumentu>!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!="),
            "Invalid",
        ),
        (
            "bad-issue-date",
            "an impossible issue date",
            r("<DataWystawieniaFaktury>2026-01-15", "<DataWystawieniaFaktury>2026-02-30"),
            "Invalid",
        ),
        (
            "bad-timestamp",
            "a timestamp without an offset",
            r("2026-01-15T10:00:00.000+01:00", "2026-01-15T10:00:00"),
            "Invalid",
        ),
        ("bad-mode", "an unknown sending mode", r("<TrybWysylki>Online", "<TrybWysylki>Carrier-Pigeon"), "Invalid"),
        ("empty-number", "an empty KSeF number", r("5265877635-20250826-0100001AF629-AF", ""), "Invalid"),
        (
            "unknown-context",
            "an unknown context identifier element",
            r("<Nip>5265877635</Nip></IdKontekstu>", "<Evil>x</Evil></IdKontekstu>"),
            "Invalid",
        ),
        (
            "page-overflow",
            "a page number beyond u32",
            r(
                "</NumerReferencyjnySesji>",
                "</NumerReferencyjnySesji><OpisPotwierdzenia><Strona>99999999999999999999</Strona><LiczbaStron>1</LiczbaStron><ZakresDokumentowOd>1</ZakresDokumentowOd><ZakresDokumentowDo>1</ZakresDokumentowDo><CalkowitaLiczbaDokumentow>1</CalkowitaLiczbaDokumentow></OpisPotwierdzenia>",
            ),
            "Invalid",
        ),
        (
            "page-negative",
            "a negative page count",
            r(
                "</NumerReferencyjnySesji>",
                "</NumerReferencyjnySesji><OpisPotwierdzenia><Strona>1</Strona><LiczbaStron>-1</LiczbaStron><ZakresDokumentowOd>1</ZakresDokumentowOd><ZakresDokumentowDo>1</ZakresDokumentowDo><CalkowitaLiczbaDokumentow>1</CalkowitaLiczbaDokumentow></OpisPotwierdzenia>",
            ),
            "Invalid",
        ),
        (
            "not-utf8",
            "ISO-8859-2 bytes",
            d.clone().into_bytes().replace_first("Finansów".as_bytes(), b"Finans\xf3w"),
            "Invalid",
        ),
        ("truncated", "the document cut in half", d.as_bytes()[..d.len() / 2].to_vec(), "Xml"),
        (
            "deep-nesting",
            "10 000 nested unknown elements in a document (stack exhaustion; skipped, parsed iteratively)",
            r("<TrybWysylki>", &format!("{}<TrybWysylki>", nested(10_000, ""))),
            "Ok",
        ),
        (
            "spoofed-namespace-child",
            "required elements in a foreign namespace only",
            r(
                "<NumerFaktury>HC/1/2026</NumerFaktury>",
                "<e:NumerFaktury xmlns:e=\"urn:evil\">HC/1/2026</e:NumerFaktury>",
            ),
            "Missing",
        ),
    ];
    for (slug, attack, bytes, kind) in cases {
        let expect = if kind == "Ok" { "Ok".to_owned() } else { format!("UpoError::{kind}") };
        c.add("upo", slug, "xml", bytes, attack, Value::Null, json!({"client": expect}));
    }
}
