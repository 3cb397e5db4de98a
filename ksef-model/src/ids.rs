//! Validated KSeF identifiers.
//!
//! Each type parses with [`FromStr`], prints with [`Display`], and (de)serializes as the plain
//! string, validating on the way in. The checks are the documented ones:
//!
//! | type | format | check |
//! |---|---|---|
//! | [`Nip`] | 10 digits, `[1-9]((\d[1-9])\|([1-9]\d))\d{7}` | weights 6,5,7,2,3,4,5,6,7; sum mod 11 = last digit (10 is invalid) |
//! | [`Pesel`] | 11 digits with an encoded birth date | weights 1,3,7,9,…; (10 − sum mod 10) mod 10 = last digit; the date exists |
//! | [`InternalId`] | `{NIP}-{5 digits}` | NIP as above; last digit = Σ(digits × 1,3,1,3…) mod 10 over the 14 before it |
//! | [`NipVatUe`] | `{NIP}-{EU VAT number}` | NIP as above; VAT number per country (VIES formats, as in the spec) |
//! | [`PeppolId`] | `P` + 2 letters + 6 digits | format |
//! | [`KsefNumber`] | `NIP-YYYYMMDD-HHHHHHHHHHHH-CC` (35) | date exists; `CC` = CRC-8 (poly 0x07) of the first 32 characters |
//! | [`ReferenceNumber`] | `YYYYMMDD-TT-HHHHHHHHHH-HHHHHHHHHH-CC` (36) | format and date (KSeF's own numbers do not all carry a valid CRC) |
//! | [`CollectiveIdentifier`] | `NIP-IZYYYYMM-HHHHHHHHHHHH-CC` (35) | month exists; `CC` = CRC-8 of the first 32 characters |
//!
//! A [`KsefNumber`] checks the seller NIP's *format* but not its checksum: KSeF checks NIP
//! checksums only on production, so numbers from the test environment can carry NIPs that fail it.
//!
//! ```
//! use ksef_model::{KsefNumber, Nip};
//!
//! let n: KsefNumber = "5265877635-20250826-0100001AF629-AF".parse()?;
//! assert_eq!(n.seller_nip().as_str(), "5265877635");
//! assert!("5265877635-20250826-0100001AF629-AE".parse::<KsefNumber>().is_err());
//! assert!("5265877636".parse::<Nip>().is_err()); // wrong check digit
//! # Ok::<(), ksef_model::IdError>(())
//! ```

use core::fmt;
use core::str::FromStr;

use chrono::NaiveDate;

/// Why an identifier was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{value}`: {reason}")]
pub struct IdError {
    kind: &'static str,
    value: String,
    reason: String,
}

impl IdError {
    fn new(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        // Never echo megabytes of hostile input back.
        let value: String = value.chars().take(64).collect();
        Self { kind, value, reason: reason.into() }
    }

    /// What kind of identifier was expected (`NIP`, `KSeF number`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Why it was rejected, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// CRC-8 with polynomial 0x07, initial value 0, no reflection, no final XOR (CRC-8/SMBUS): the
/// checksum of KSeF numbers, collective identifiers and reference numbers.
///
/// ```
/// assert_eq!(ksef_model::crc8(b"5265877635-20250826-0100001AF629"), 0xAF);
/// ```
pub const fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    let mut i = 0;
    while i < data.len() {
        crc ^= data[i];
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
            bit += 1;
        }
        i += 1;
    }
    crc
}

/// Every KSeF identifier is ASCII; checking that first lets the validators slice by byte
/// offsets without ever landing inside a multi-byte character.
fn validate_ascii(s: &str, validate: fn(&str) -> Result<(), String>) -> Result<(), String> {
    match s.char_indices().find(|(_, c)| !c.is_ascii()) {
        Some((at, c)) => Err(format!("non-ASCII character {c:?} at byte {at}")),
        None => validate(s),
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $validate:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Takes the text out.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                validate_ascii(s, $validate).map_err(|reason| IdError::new($kind, s, reason))?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                validate_ascii(&s, $validate).map_err(|reason| IdError::new($kind, &s, reason))?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::try_from(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A Polish tax identification number (NIP), checksum-validated.
    Nip,
    "NIP",
    validate_nip
);
string_id!(
    /// A Polish personal identification number (PESEL), checksum- and date-validated.
    Pesel,
    "PESEL",
    validate_pesel
);
string_id!(
    /// An internal identifier of a sub-unit: `{NIP}-{5 digits}`, the last one a check digit.
    InternalId,
    "internal identifier",
    validate_internal_id
);
string_id!(
    /// A compound identifier of an EU entity in a Polish context: `{NIP}-{EU VAT number}`.
    NipVatUe,
    "NIP-VAT-UE identifier",
    validate_nip_vat_ue
);
string_id!(
    /// A Peppol service provider identifier: `P` + country letters + 6 digits.
    PeppolId,
    "Peppol identifier",
    validate_peppol_id
);
string_id!(
    /// A KSeF invoice number (KSeF 2.0, 35 characters) with a verified CRC-8.
    KsefNumber,
    "KSeF number",
    validate_ksef_number
);
string_id!(
    /// A KSeF reference number (sessions, invoices, operations, UPO pages): 36 characters.
    ReferenceNumber,
    "reference number",
    validate_reference_number
);
string_id!(
    /// A collective identifier (API 2.7): `NIP-IZYYYYMM-HHHHHHHHHHHH-CC` with a verified CRC-8.
    CollectiveIdentifier,
    "collective identifier",
    validate_collective_identifier
);

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn upper_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

fn digits(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.bytes().map(|b| u32::from(b - b'0'))
}

fn exact_len(s: &str, n: usize) -> Result<(), String> {
    if s.len() == n { Ok(()) } else { Err(format!("expected {n} characters, got {}", s.chars().count())) }
}

/// The NIP format of the spec, without the checksum.
fn nip_format(s: &str) -> Result<(), String> {
    exact_len(s, 10)?;
    if !all_digits(s) {
        return Err("a NIP has only digits".into());
    }
    let b = s.as_bytes();
    if b[0] == b'0' {
        return Err("a NIP does not start with 0".into());
    }
    if b[1] == b'0' && b[2] == b'0' {
        return Err("a NIP's 2nd and 3rd digits are not both 0".into());
    }
    Ok(())
}

/// The NIP check digit for the first nine digits, or `None` when the sum gives 10 (no valid NIP).
fn nip_check_digit(first9: &str) -> Option<u32> {
    const W: [u32; 9] = [6, 5, 7, 2, 3, 4, 5, 6, 7];
    let sum: u32 = digits(first9).zip(W).map(|(d, w)| d * w).sum();
    let c = sum % 11;
    (c != 10).then_some(c)
}

fn validate_nip(s: &str) -> Result<(), String> {
    nip_format(s)?;
    let last = u32::from(s.as_bytes()[9] - b'0');
    match nip_check_digit(&s[..9]) {
        Some(c) if c == last => Ok(()),
        Some(c) => Err(format!("check digit is {last}, the first nine digits give {c}")),
        None => Err("the first nine digits give check value 10, which no NIP can have".into()),
    }
}

fn validate_pesel(s: &str) -> Result<(), String> {
    exact_len(s, 11)?;
    if !all_digits(s) {
        return Err("a PESEL has only digits".into());
    }
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let d: Vec<u32> = digits(s).collect();
    let sum: u32 = d.iter().zip(W).map(|(d, w)| d * w).sum();
    let check = (10 - sum % 10) % 10;
    if check != d[10] {
        return Err(format!("check digit is {}, the first ten digits give {check}", d[10]));
    }
    let yy = d[0] * 10 + d[1];
    let mm = d[2] * 10 + d[3];
    let dd = d[4] * 10 + d[5];
    let (century, month) = match mm {
        1..=12 => (1900, mm),
        21..=32 => (2000, mm - 20),
        41..=52 => (2100, mm - 40),
        61..=72 => (2200, mm - 60),
        81..=92 => (1800, mm - 80),
        _ => return Err(format!("month field {mm:02} encodes no month")),
    };
    if NaiveDate::from_ymd_opt((century + yy) as i32, month, dd).is_none() {
        return Err(format!("birth date {}-{month:02}-{dd:02} does not exist", century + yy));
    }
    Ok(())
}

/// The InternalId check digit of the first 14 digits (10 of the NIP, 4 of the suffix).
fn internal_id_check_digit(fourteen: impl Iterator<Item = u32>) -> u32 {
    fourteen.zip([1, 3].into_iter().cycle()).map(|(d, w)| d * w).sum::<u32>() % 10
}

fn validate_internal_id(s: &str) -> Result<(), String> {
    exact_len(s, 16)?;
    let (nip, rest) = s.split_at(10);
    validate_nip(nip).map_err(|e| format!("NIP part: {e}"))?;
    let Some(suffix) = rest.strip_prefix('-').filter(|x| x.len() == 5 && all_digits(x)) else {
        return Err("expected `{NIP}-{5 digits}`".into());
    };
    let check = internal_id_check_digit(digits(nip).chain(digits(&suffix[..4])));
    let last = u32::from(suffix.as_bytes()[4] - b'0');
    if check != last {
        return Err(format!("check digit is {last}, the other 14 digits give {check}"));
    }
    Ok(())
}

impl InternalId {
    /// Builds the internal identifier of `nip` with the 4-digit `number`, appending the check digit.
    ///
    /// ```
    /// use ksef_model::{InternalId, Nip};
    /// let nip: Nip = "5265877635".parse()?;
    /// assert_eq!(InternalId::new(&nip, 1234).unwrap().as_str(), "5265877635-12346");
    /// # Ok::<(), ksef_model::IdError>(())
    /// ```
    pub fn new(nip: &Nip, number: u16) -> Option<Self> {
        if number > 9999 {
            return None;
        }
        let four = format!("{number:04}");
        let check = internal_id_check_digit(digits(nip.as_str()).chain(digits(&four)));
        Some(Self(format!("{nip}-{four}{check}")))
    }

    /// The NIP of the parent entity.
    pub fn nip(&self) -> Nip {
        Nip(self.0[..10].to_owned())
    }
}

/// Validates the EU VAT number part (country prefix + national number), as the spec's pattern.
fn vat_ue_number(v: &str) -> bool {
    fn d(s: &str, n: usize) -> bool {
        s.len() == n && all_digits(s)
    }
    fn letter(b: u8) -> bool {
        b.is_ascii_uppercase()
    }
    fn alnum(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    }
    if v.len() < 3 || !v.is_ascii() {
        return false;
    }
    let (cc, n) = v.split_at(2);
    let b = n.as_bytes();
    match cc {
        "AT" => n.len() == 9 && b[0] == b'U' && d(&n[1..], 8),
        "BE" => d(n, 10) && (b[0] == b'0' || b[0] == b'1'),
        "BG" => d(n, 9) || d(n, 10),
        "CY" => n.len() == 9 && d(&n[..8], 8) && letter(b[8]),
        "CZ" => (8..=10).contains(&n.len()) && all_digits(n),
        "DE" | "EE" | "EL" | "PT" => d(n, 9),
        "DK" | "FI" | "HU" | "LU" | "MT" | "SI" => d(n, 8),
        "ES" => {
            n.len() == 9
                && ((letter(b[0]) && d(&n[1..], 8))
                    || (d(&n[..8], 8) && letter(b[8]))
                    || (letter(b[0]) && d(&n[1..8], 7) && letter(b[8])))
        }
        "FR" => n.len() == 11 && alnum(&n[..2]) && d(&n[2..], 9),
        "HR" | "IT" | "LV" => d(n, 11),
        "IE" => {
            (n.len() == 9 && d(&n[..7], 7) && letter(b[7]) && letter(b[8]))
                || (n.len() == 8
                    && b[0].is_ascii_digit()
                    && (b[1].is_ascii_alphanumeric() && !b[1].is_ascii_lowercase() || b[1] == b'+' || b[1] == b'*')
                    && d(&n[2..7], 5)
                    && letter(b[7]))
        }
        "LT" => d(n, 9) || d(n, 12),
        "NL" => {
            n.len() == 12 && n.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || c == b'+' || c == b'*')
        }
        "RO" => (2..=10).contains(&n.len()) && all_digits(n),
        "SE" => d(n, 12),
        "SK" => d(n, 10),
        "XI" => d(n, 9) || d(n, 12) || (n.len() == 5 && (n.starts_with("GD") || n.starts_with("HA")) && d(&n[2..], 3)),
        _ => false,
    }
}

fn validate_nip_vat_ue(s: &str) -> Result<(), String> {
    let Some((nip, vat)) = s.split_once('-') else {
        return Err("expected `{NIP}-{EU VAT number}`".into());
    };
    // The spec checks only the NIP format here; the checksum is ours (a compound identifier is
    // built from a real Polish NIP).
    validate_nip(nip).map_err(|e| format!("NIP part: {e}"))?;
    if !vat_ue_number(vat) {
        return Err(format!("`{vat}` is not an EU VAT number (country prefix + national format)"));
    }
    Ok(())
}

impl NipVatUe {
    /// The Polish NIP part.
    pub fn nip(&self) -> Nip {
        Nip(self.0[..10].to_owned())
    }

    /// The EU VAT number part (with its country prefix).
    pub fn vat_ue(&self) -> &str {
        &self.0[11..]
    }
}

fn validate_peppol_id(s: &str) -> Result<(), String> {
    exact_len(s, 9)?;
    let b = s.as_bytes();
    if b[0] == b'P' && b[1].is_ascii_uppercase() && b[2].is_ascii_uppercase() && all_digits(&s[3..]) {
        Ok(())
    } else {
        Err("expected `P`, two capital letters and six digits".into())
    }
}

fn ymd(s: &str) -> Result<NaiveDate, String> {
    if s.len() != 8 || !all_digits(s) {
        return Err(format!("`{s}` is not a YYYYMMDD date"));
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").map_err(|_| format!("date {s} does not exist"))
}

fn check_crc(s: &str, covered: usize) -> Result<(), String> {
    let (body, cc) = (&s[..covered], &s[covered + 1..]);
    let want = format!("{:02X}", crc8(body.as_bytes()));
    if cc == want { Ok(()) } else { Err(format!("checksum is {cc}, the first {covered} characters give {want}")) }
}

fn validate_ksef_number(s: &str) -> Result<(), String> {
    if s.len() == 36 {
        return Err("36-character KSeF 1.0 numbers are not KSeF 2.0 numbers".into());
    }
    exact_len(s, 35)?;
    let parts: Vec<&str> = s.split('-').collect();
    let [nip, date, tech, cc] = parts.as_slice() else {
        return Err("expected `NIP-YYYYMMDD-HHHHHHHHHHHH-CC`".into());
    };
    nip_format(nip).map_err(|e| format!("seller NIP: {e}"))?;
    ymd(date)?;
    if tech.len() != 12 || !upper_hex(tech) {
        return Err("the technical part is 12 upper-case hex characters".into());
    }
    if cc.len() != 2 || !upper_hex(cc) {
        return Err("the checksum is 2 upper-case hex characters".into());
    }
    check_crc(s, 32)
}

impl KsefNumber {
    /// Builds a KSeF number from its parts, computing the checksum (the emulator numbers invoices
    /// this way). `technical` must be 12 upper-case hex characters.
    pub fn build(seller: &Nip, date: NaiveDate, technical: &str) -> Result<Self, IdError> {
        let body = format!("{seller}-{}-{technical}", date.format("%Y%m%d"));
        let s = format!("{body}-{:02X}", crc8(body.as_bytes()));
        s.parse()
    }

    /// The seller's NIP (format-checked only, see the module docs).
    pub fn seller_nip(&self) -> Nip {
        Nip(self.0[..10].to_owned())
    }

    /// The date KSeF accepted the invoice for processing.
    pub fn date(&self) -> NaiveDate {
        ymd(&self.0[11..19]).expect("validated at construction")
    }
}

fn validate_reference_number(s: &str) -> Result<(), String> {
    exact_len(s, 36)?;
    let parts: Vec<&str> = s.split('-').collect();
    let [date, tt, a, b, cc] = parts.as_slice() else {
        return Err("expected `YYYYMMDD-TT-HHHHHHHHHH-HHHHHHHHHH-CC`".into());
    };
    ymd(date)?;
    if tt.len() != 2 || !tt.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) {
        return Err("the type code is 2 capital letters or digits".into());
    }
    if a.len() != 10 || b.len() != 10 || !upper_hex(a) || !upper_hex(b) {
        return Err("the middle parts are 10 upper-case hex characters each".into());
    }
    if cc.len() != 2 || !upper_hex(cc) {
        return Err("the checksum is 2 upper-case hex characters".into());
    }
    Ok(())
}

impl ReferenceNumber {
    /// Builds a reference number (`type_code` such as `SO`, `EE`), with the CRC-8 that KSeF's own
    /// numbers usually carry. `a` and `b` are 10 upper-case hex characters each.
    pub fn build(date: NaiveDate, type_code: &str, a: &str, b: &str) -> Result<Self, IdError> {
        let body = format!("{}-{type_code}-{a}-{b}", date.format("%Y%m%d"));
        let s = format!("{body}-{:02X}", crc8(body.as_bytes()));
        s.parse()
    }

    /// The two-character type code (`SO` online session, `SB` batch session, `EE` invoice, ...).
    pub fn type_code(&self) -> &str {
        &self.0[9..11]
    }

    /// Whether the last two characters are the CRC-8 of the first 33 (true of numbers we build;
    /// KSeF's own numbers are not documented to carry one, so parsing does not require it).
    pub fn has_valid_checksum(&self) -> bool {
        check_crc(&self.0, 33).is_ok()
    }
}

fn validate_collective_identifier(s: &str) -> Result<(), String> {
    exact_len(s, 35)?;
    let parts: Vec<&str> = s.split('-').collect();
    let [nip, iz, tech, cc] = parts.as_slice() else {
        return Err("expected `NIP-IZYYYYMM-HHHHHHHHHHHH-CC`".into());
    };
    nip_format(nip).map_err(|e| format!("seller NIP: {e}"))?;
    let Some(ym) = iz.strip_prefix("IZ").filter(|x| x.len() == 6) else {
        return Err("the second part is `IZ` and a YYYYMM month".into());
    };
    ymd(&format!("{ym}01"))?;
    if tech.len() != 12 || !upper_hex(tech) {
        return Err("the technical part is 12 upper-case hex characters".into());
    }
    if cc.len() != 2 || !upper_hex(cc) {
        return Err("the checksum is 2 upper-case hex characters".into());
    }
    check_crc(s, 32)
}

impl Nip {
    /// Builds a valid NIP from 9 leading digits by appending the check digit; `None` if those
    /// digits break the format or give check value 10.
    ///
    /// ```
    /// assert_eq!(ksef_model::Nip::from_prefix("526587763").unwrap().as_str(), "5265877635");
    /// ```
    pub fn from_prefix(first9: &str) -> Option<Self> {
        if first9.len() != 9 || !all_digits(first9) {
            return None;
        }
        let c = nip_check_digit(first9)?;
        let s = format!("{first9}{c}");
        nip_format(&s).ok()?;
        Some(Self(s))
    }
}
