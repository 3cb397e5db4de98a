//! Valid and invalid vectors for each identifier type.

use ksef_model::{CollectiveIdentifier, InternalId, KsefNumber, Nip, NipVatUe, PeppolId, Pesel, ReferenceNumber, crc8};

fn ok<T: std::str::FromStr<Err = ksef_model::IdError>>(s: &str) {
    if let Err(e) = s.parse::<T>() {
        panic!("{s} should be valid: {e}");
    }
}

fn bad<T: std::str::FromStr<Err = ksef_model::IdError> + std::fmt::Debug>(s: &str, reason_contains: &str) {
    let e = s.parse::<T>().expect_err(&format!("{s} should be invalid"));
    assert!(e.to_string().contains(reason_contains), "{s}: `{e}` should mention `{reason_contains}`");
}

#[test]
fn crc8_vectors_from_the_docs() {
    assert_eq!(crc8(b"5265877635-20250826-0100001AF629"), 0xAF);
    assert_eq!(crc8(b"20250514-AU-2DFC46C000-3AC6D5877F"), 0xD4);
    assert_eq!(crc8(b"1111111111-IZ202607-65ED02180000"), 0xE7);
    assert_eq!(crc8(b""), 0);
}

#[test]
fn nip() {
    for v in ["5265877635", "1111111111", "6824515772", "3756977049", "5261040828"] {
        ok::<Nip>(v);
    }
    bad::<Nip>("5265877636", "check digit");
    bad::<Nip>("1234567890", "check value 10");
    bad::<Nip>("0265877635", "does not start with 0");
    bad::<Nip>("1002345678", "not both 0");
    bad::<Nip>("526587763", "expected 10 characters");
    bad::<Nip>("52658776355", "expected 10 characters");
    bad::<Nip>("52658776a5", "only digits");
    bad::<Nip>("", "expected 10");
    assert_eq!(Nip::from_prefix("526587763").unwrap().as_str(), "5265877635");
    assert!(Nip::from_prefix("12345678").is_none());
}

#[test]
fn pesel() {
    for v in ["44051401359", "02070803628", "90090515836", "02271409867"] {
        ok::<Pesel>(v);
    }
    bad::<Pesel>("44051401358", "check digit");
    bad::<Pesel>("4405140135", "expected 11");
    bad::<Pesel>("44131401350", "encodes no month");
    bad::<Pesel>("44023001356", "does not exist"); // 30 February 1944
}

#[test]
fn internal_id() {
    ok::<InternalId>("6824515772-12343");
    ok::<InternalId>("5265877635-12346");
    bad::<InternalId>("5265877635-12345", "check digit");
    bad::<InternalId>("5265877636-12346", "NIP part");
    bad::<InternalId>("5265877635_12346", "expected");
    bad::<InternalId>("5265877635-1234", "expected 16");
    let nip: Nip = "6824515772".parse().unwrap();
    let id = InternalId::new(&nip, 1234).unwrap();
    assert_eq!(id.as_str(), "6824515772-12343");
    assert_eq!(id.nip(), nip);
    assert!(InternalId::new(&nip, 10_000).is_none());
}

#[test]
fn nip_vat_ue() {
    for v in [
        "5265877635-ATU12345678",
        "5265877635-DE123456789",
        "5265877635-ESX1234567Z",
        "5265877635-FRAB123456789",
        "5265877635-IE1234567WA",
        "5265877635-NL123456789B01",
        "5265877635-XIGD123",
    ] {
        ok::<NipVatUe>(v);
    }
    bad::<NipVatUe>("5265877635-DE123456789012", "EU VAT number");
    bad::<NipVatUe>("5265877635-PL1234567890", "EU VAT number");
    bad::<NipVatUe>("5265877636-DE123456789", "NIP part");
    bad::<NipVatUe>("5265877635", "expected");
    let v: NipVatUe = "5265877635-DE123456789".parse().unwrap();
    assert_eq!(v.nip().as_str(), "5265877635");
    assert_eq!(v.vat_ue(), "DE123456789");
}

#[test]
fn peppol_id() {
    ok::<PeppolId>("PPL123456");
    bad::<PeppolId>("P123456789", "expected");
    bad::<PeppolId>("Xpl123456", "expected");
}

#[test]
fn ksef_number() {
    ok::<KsefNumber>("5265877635-20250826-0100001AF629-AF");
    bad::<KsefNumber>("5265877635-20250826-0100001AF629-AE", "checksum");
    bad::<KsefNumber>("5265877635-20250826-0100001af629-AF", "upper-case hex");
    bad::<KsefNumber>("5265877635-20250230-0100001AF629-AF", "does not exist");
    bad::<KsefNumber>("5265877635-20250826-0100001AF62-9AF", "12 upper-case hex");
    bad::<KsefNumber>("5265877635-20250826-010000-1AF629-AF", "KSeF 1.0");
    bad::<KsefNumber>("", "expected 35");
    let n: KsefNumber = "5265877635-20250826-0100001AF629-AF".parse().unwrap();
    assert_eq!(n.seller_nip().as_str(), "5265877635");
    assert_eq!(n.date(), chrono::NaiveDate::from_ymd_opt(2025, 8, 26).unwrap());
    let built = KsefNumber::build(
        &"5265877635".parse().unwrap(),
        chrono::NaiveDate::from_ymd_opt(2025, 8, 26).unwrap(),
        "0100001AF629",
    )
    .unwrap();
    assert_eq!(built, n);
    // Serde validates on the way in.
    assert!(serde_json::from_str::<KsefNumber>("\"5265877635-20250826-0100001AF629-00\"").is_err());
    assert_eq!(serde_json::to_string(&n).unwrap(), "\"5265877635-20250826-0100001AF629-AF\"");
}

#[test]
fn reference_number() {
    ok::<ReferenceNumber>("20250514-AU-2DFC46C000-3AC6D5877F-D4");
    // KSeF's own numbers do not all carry a valid CRC; the format is what is checked.
    let r: ReferenceNumber = "20250514-AU-2DFC46C000-3AC6D5877F-00".parse().unwrap();
    assert!(!r.has_valid_checksum());
    assert_eq!(r.type_code(), "AU");
    bad::<ReferenceNumber>("20251314-AU-2DFC46C000-3AC6D5877F-D4", "does not exist");
    bad::<ReferenceNumber>("20250514-AU-2DFC46C000-3AC6D5877F", "expected 36");
    bad::<ReferenceNumber>("20250514-au-2DFC46C000-3AC6D5877F-D4", "type code");
    let built =
        ReferenceNumber::build(chrono::NaiveDate::from_ymd_opt(2025, 5, 14).unwrap(), "AU", "2DFC46C000", "3AC6D5877F")
            .unwrap();
    assert_eq!(built.as_str(), "20250514-AU-2DFC46C000-3AC6D5877F-D4");
    assert!(built.has_valid_checksum());
}

#[test]
fn collective_identifier() {
    ok::<CollectiveIdentifier>("1111111111-IZ202607-65ED02180000-E7");
    bad::<CollectiveIdentifier>("1111111111-IZ202607-65ED02180000-E8", "checksum");
    bad::<CollectiveIdentifier>("1111111111-IZ202613-65ED02180000-E7", "does not exist");
    bad::<CollectiveIdentifier>("1111111111-XX202607-65ED02180000-E7", "IZ");
}

#[test]
fn hostile_input_is_rejected_without_echoing_it_whole() {
    let long = "9".repeat(1_000_000);
    let e = long.parse::<KsefNumber>().unwrap_err();
    assert!(e.to_string().len() < 300, "error message stays short");
    assert!("ąęść".parse::<Nip>().is_err());
    assert!("ąęśćąęśćąę".parse::<Pesel>().is_err());
}

/// Found by `cargo fuzz run ids`: a 16-byte string whose 10th byte starts a two-byte character
/// made the InternalId validator split inside the character and panic. Every identifier kind
/// now refuses non-ASCII text up front, with a typed error.
#[test]
fn non_ascii_identifiers_are_refused_without_panicking() {
    use ksef_model::ids::*;
    let crash = "220251010\u{734}C-5*\"";
    assert_eq!(crash.len(), 16);
    let e = crash.parse::<InternalId>().unwrap_err();
    assert!(e.reason().contains("non-ASCII"), "{e}");
    // Every kind, with a multi-byte character at every position of a valid-length value.
    for valid in ["5265877635", "44051401359", "5265877635-00001", "5265877635-20250826-0100001AF629-AF"] {
        for at in 0..valid.len() {
            let mut s = valid.to_owned();
            s.replace_range(at..=at, "\u{734}");
            assert!(s.parse::<Nip>().is_err());
            assert!(s.parse::<Pesel>().is_err());
            assert!(s.parse::<InternalId>().is_err());
            assert!(s.parse::<NipVatUe>().is_err());
            assert!(s.parse::<PeppolId>().is_err());
            assert!(s.parse::<KsefNumber>().is_err());
            assert!(s.parse::<ReferenceNumber>().is_err());
            assert!(s.parse::<CollectiveIdentifier>().is_err());
        }
    }
}
