//! The fuzz harnesses of ksef-rs, one function per target. Each takes the fuzzer's bytes,
//! feeds them to one of our parsers or verifiers and checks properties that must hold for any
//! input (beyond "no panic"): identifiers round-trip, canonical XML is a fixed point, extracted
//! names are safe and within limits.
//!
//! `fuzz_targets/*.rs` wrap these for libFuzzer (`cargo +nightly fuzz run TARGET`); the
//! `replay` example runs them over a corpus directory on stable, which is how regressions found
//! by the fuzzer stay tested.

use std::io::Cursor;

use ksef_client::batch::Compression;
use ksef_client::export::{UnpackLimits, unpack};

/// The instant signatures are verified at: inside the fixtures' certificate validity.
const VERIFY_AT: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// XAdES verification of an arbitrary document (and, when it verifies, parsing the signed
/// document as an `AuthTokenRequest`).
pub fn xades_verify(data: &[u8]) {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let opts = ksef_crypto::xades::VerifyOptions::at(ksef_crypto::UnixTime::from_secs(VERIFY_AT));
    if let Ok(v) = ksef_crypto::xades::verify(xml, &opts) {
        let _ = v.auth_token_request();
    }
}

const C14N_ALGORITHMS: [&str; 6] = [
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
];

/// Canonicalization of an arbitrary document with the algorithm chosen by the first byte.
/// Property: canonical XML is a fixed point (canonicalizing the output again changes nothing).
pub fn c14n(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Ok(xml) = std::str::from_utf8(rest) else { return };
    let alg = C14N_ALGORITHMS[usize::from(sel) % C14N_ALGORITHMS.len()];
    let Ok(once) = ksef_crypto::canonicalize(xml, alg, 1 << 20, 64) else { return };
    let once_str = std::str::from_utf8(&once).expect("canonical XML is UTF-8");
    let twice = ksef_crypto::canonicalize(once_str, alg, 1 << 21, 64).expect("canonical XML parses again");
    assert_eq!(once, twice, "canonicalization is not idempotent for {alg}");
}

/// UPO parsing (XML of the UPO v4-3 schema family).
pub fn upo_parse(data: &[u8]) {
    let _ = ksef_client::upo::parse_upo_bytes(data);
}

macro_rules! roundtrip {
    ($s:expr, $($t:ty),+) => {$(
        if let Ok(id) = $s.parse::<$t>() {
            let shown = id.to_string();
            assert_eq!(shown, id.as_str(), concat!(stringify!($t), ": Display and as_str differ"));
            let again: $t = shown.parse().expect(concat!(stringify!($t), ": its own Display does not parse"));
            assert_eq!(again, id, concat!(stringify!($t), ": round trip changed the value"));
        }
    )+};
}

/// Every identifier parser of ksef-model; a value that parses must round-trip through Display.
pub fn ids(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    use ksef_model::ids::*;
    roundtrip!(s, Nip, Pesel, InternalId, NipVatUe, PeppolId, KsefNumber, ReferenceNumber, CollectiveIdentifier);
}

/// Export package extraction (ZIP or tar.gz, chosen by the first byte) into memory, with small
/// limits. Property: whatever is extracted has a safe relative name and stays within limits.
pub fn package_extract(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let compression = if sel & 1 == 0 { Compression::Zip } else { Compression::TarGz };
    let limits = UnpackLimits {
        max_entry_size: 1 << 20,
        max_total_size: 4 << 20,
        max_ratio: 100,
        ratio_floor: 64 << 10,
        max_entries: 64,
    };
    let Ok(pkg) = unpack(compression, Cursor::new(rest), limits) else { return };
    assert!(pkg.files.len() <= limits.max_entries, "too many entries extracted");
    let mut total = 0u64;
    for f in &pkg.files {
        assert!(!f.name.is_empty(), "empty entry name accepted");
        assert!(!f.name.starts_with('/') && !f.name.starts_with('\\'), "absolute name accepted: {}", f.name);
        assert!(!f.name.split(['/', '\\']).any(|c| c == ".."), "parent component accepted: {}", f.name);
        assert!(!f.name.contains(':'), "drive/stream name accepted: {}", f.name);
        let len = f.data.len() as u64;
        assert!(len <= limits.max_entry_size, "entry over the size limit");
        total += len;
    }
    assert!(total <= limits.max_total_size, "total over the size limit");
}

/// A server reply built from the bytes (status, `X-System-Warning`, `Retry-After`,
/// content type, body) decoded as the answer of several operations and as a pre-signed
/// download.
pub fn response_decode(data: &[u8]) {
    use ksef_model::operations::*;
    use ksef_transport::{HttpResponse, parse_response};

    if data.len() < 4 {
        return;
    }
    let status = 100 + (u16::from_le_bytes([data[0], data[1]]) % 500);
    let flags = data[2];
    let split = usize::from(data[3]).min(data.len() - 4);
    let (head, body) = data[4..].split_at(split);
    let head = String::from_utf8_lossy(head);
    let mut parts = head.splitn(2, '\n');
    let warning = parts.next().unwrap_or_default();
    let retry_after = parts.next().unwrap_or_default();

    let build = || -> Option<HttpResponse> {
        let mut b = http::Response::builder().status(status);
        if flags & 1 != 0 {
            b = b.header("x-system-warning", http::HeaderValue::from_bytes(warning.as_bytes()).ok()?);
        }
        if flags & 2 != 0 {
            b = b.header("retry-after", http::HeaderValue::from_bytes(retry_after.as_bytes()).ok()?);
        }
        b = b.header(
            "content-type",
            match flags >> 2 & 3 {
                0 => "application/json",
                1 => "application/problem+json",
                2 => "application/xml",
                _ => "text/plain",
            },
        );
        b.body(body.to_vec()).ok()
    };
    let Some(_) = build() else { return };
    let run = |f: &dyn Fn(HttpResponse)| f(build().expect("built once already"));
    run(&|r| drop(parse_response::<AuthChallenge>(r)));
    run(&|r| drop(parse_response::<AuthStatus>(r)));
    run(&|r| drop(parse_response::<GetSessionStatus>(r)));
    run(&|r| drop(parse_response::<QueryInvoiceMetadata>(r)));
    run(&|r| drop(parse_response::<GetInvoiceExportStatus>(r)));
    run(&|r| drop(parse_response::<OpenBatchSession>(r)));
    run(&|r| drop(parse_response::<ListTokens>(r)));
    run(&|r| drop(parse_response::<GetPublicKeyCertificates>(r)));
    run(&|r| drop(parse_response::<GetInvoice>(r)));
    run(&|r| drop(ksef_transport::parse_presigned(r)));
    let _ = ksef_transport::parse_system_warnings(warning);
}

/// Certificate and key parsers: DER and PEM certificates, PKCS#8/PKCS#1/SEC1 keys, encrypted
/// PKCS#8 and PKCS#12 with a password.
pub fn keys_certs(data: &[u8]) {
    let _ = ksef_crypto::Certificate::from_der(data);
    let _ = ksef_crypto::PrivateKey::from_der(data);
    let _ = ksef_crypto::PrivateKey::from_encrypted_pkcs8_der(data, "fuzz");
    let _ = ksef_crypto::Pkcs12Bundle::from_der(data, "fuzz");
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ksef_crypto::Certificate::from_pem(s);
        let _ = ksef_crypto::PrivateKey::from_pem(s);
        let _ = ksef_crypto::PrivateKey::pem_is_encrypted(s);
        let _ = ksef_crypto::PrivateKey::from_pem_with_password(s, "fuzz");
    }
}
