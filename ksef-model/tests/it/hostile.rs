//! Hostile identifiers, generated deterministically from valid ones: every single-digit change
//! (the checksums and CRC-8s must catch it), and structural damage (truncation, extension,
//! a stray letter at every position, whitespace, NUL, look-alike Unicode digits, bidi controls, a megabyte of digits). Each must
//! be a typed `IdError` whose message stays short (the input is not echoed in bulk).

use std::str::FromStr;

use ksef_model::{CollectiveIdentifier, IdError, InternalId, KsefNumber, Nip, NipVatUe, Pesel, ReferenceNumber};

/// Single-digit substitutions (`d` → `d+1 mod 10`) at every digit position.
fn digit_flips(valid: &str) -> Vec<String> {
    let chars: Vec<char> = valid.chars().collect();
    (0..chars.len())
        .filter(|&i| chars[i].is_ascii_digit())
        .map(|i| {
            let mut c = chars.clone();
            c[i] = char::from(b'0' + (chars[i] as u8 - b'0' + 1) % 10);
            c.into_iter().collect()
        })
        .collect()
}

/// Damage that no identifier format may accept.
fn structural(valid: &str) -> Vec<String> {
    let mut v = vec![
        String::new(),
        valid[..valid.len() - 1].to_owned(),
        format!("{valid}0"),
        format!(" {valid}"),
        format!("{valid}\n"),
        format!("{}\0{}", &valid[..3], &valid[3..]),
        valid.replacen(|c: char| c.is_ascii_digit(), "\u{FF10}", 1), // fullwidth zero
        valid.replacen(|c: char| c.is_ascii_digit(), "\u{0663}", 1), // Arabic-Indic three
        format!("\u{202E}{valid}"),                                  // right-to-left override
        "9".repeat(1 << 20),
        format!("{valid}%00"),
    ];
    if valid.contains('-') {
        v.push(valid.replace('-', "--"));
        v.push(valid.replace('-', ""));
    } else {
        v.push(format!("{}-{}", &valid[..5], &valid[5..]));
    }
    v
}

fn refused<T: FromStr<Err = IdError>>(valid: &str, flips: bool) -> usize {
    assert!(valid.parse::<T>().is_ok(), "{valid} must be valid");
    let mut cases = structural(valid);
    // A lower-case non-hex letter at every position: no format takes one anywhere.
    cases.extend((0..valid.len()).map(|i| format!("{}g{}", &valid[..i], &valid[i + 1..])));
    if flips {
        cases.extend(digit_flips(valid));
    }
    for case in &cases {
        match case.parse::<T>() {
            Ok(_) => panic!("{} accepted: {case:?}", std::any::type_name::<T>()),
            Err(e) => assert!(e.to_string().len() < 300, "the error echoes the input: {} chars", e.to_string().len()),
        }
    }
    cases.len()
}

#[test]
fn hostile_identifiers_are_typed_errors() {
    let counts = [
        ("NIP", refused::<Nip>("5265877635", true)),
        ("PESEL", refused::<Pesel>("85121612343", true)),
        ("internal id", refused::<InternalId>("6824515772-12343", false)),
        ("NIP-VAT-UE", refused::<NipVatUe>("5265877635-DE123456789", false)),
        ("KSeF number", refused::<KsefNumber>("5265877635-20250826-0100001AF629-AF", true)),
        // Reference numbers' CRC is not verified (KSeF's own numbers only usually carry one), so
        // a changed digit may be valid: structural damage only.
        ("reference number", refused::<ReferenceNumber>("20250625-SO-2C3E6C8000-B675CF5D68-07", false)),
        ("collective id", refused::<CollectiveIdentifier>("1111111111-IZ202607-65ED02180000-E7", true)),
    ];
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    println!("hostile identifiers: {total} cases {counts:?}");
    assert!(total >= 200, "{total}");
}
