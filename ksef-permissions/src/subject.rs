//! Who receives a permission: subject identifiers and the `subjectDetails` that describe them.

use core::fmt;
use core::str::FromStr;

use chrono::NaiveDate;
use ksef_model::types;
use ksef_model::{Nip, Pesel};

use crate::error::{ValidationError, check_len, model, parse_id, text};

/// The SHA-256 fingerprint of a certificate: 64 hexadecimal digits (kept in upper case).
///
/// EU-entity administrators and representatives are identified only by this; persons may be.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint as upper-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Fingerprint {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError::not_allowed(
                "fingerprint",
                format!(
                    "a certificate fingerprint is the SHA-256 digest as 64 hexadecimal digits, got {} characters{}",
                    s.chars().count(),
                    if s.chars().all(|c| c.is_ascii_hexdigit()) { "" } else { " with non-hex ones" }
                ),
            ));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:?})", self.0)
    }
}

/// A person (or an entity acting through a person's certificate) receiving a person, indirect or
/// sub-unit administrator grant: NIP, PESEL or certificate fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PersonSubject {
    /// A NIP (sole trader, or an entity's seal).
    Nip(Nip),
    /// A PESEL.
    Pesel(Pesel),
    /// A certificate fingerprint (people without a Polish identifier).
    Fingerprint(Fingerprint),
}

impl PersonSubject {
    /// Parses a NIP subject (checksum verified).
    pub fn nip(value: &str) -> Result<Self, ValidationError> {
        parse_id("subjectIdentifier.value", value).map(Self::Nip)
    }

    /// Parses a PESEL subject (checksum and birth date verified).
    pub fn pesel(value: &str) -> Result<Self, ValidationError> {
        parse_id("subjectIdentifier.value", value).map(Self::Pesel)
    }

    /// Parses a certificate-fingerprint subject.
    pub fn fingerprint(value: &str) -> Result<Self, ValidationError> {
        value.parse().map(Self::Fingerprint)
    }

    /// `(type, value)` as on the wire.
    pub fn wire(&self) -> (&'static str, &str) {
        match self {
            Self::Nip(v) => ("Nip", v.as_str()),
            Self::Pesel(v) => ("Pesel", v.as_str()),
            Self::Fingerprint(v) => ("Fingerprint", v.as_str()),
        }
    }

    fn is_fingerprint(&self) -> bool {
        matches!(self, Self::Fingerprint(_))
    }
}

impl From<Nip> for PersonSubject {
    fn from(v: Nip) -> Self {
        Self::Nip(v)
    }
}
impl From<Pesel> for PersonSubject {
    fn from(v: Pesel) -> Self {
        Self::Pesel(v)
    }
}
impl From<Fingerprint> for PersonSubject {
    fn from(v: Fingerprint) -> Self {
        Self::Fingerprint(v)
    }
}

/// The Polish identifier a person identified by fingerprint also has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PersonIdentifier {
    /// NIP.
    Nip(Nip),
    /// PESEL.
    Pesel(Pesel),
}

/// An identity document of a person without a Polish identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdDocument {
    /// Document type, e.g. `passport` (at most 20 characters).
    pub kind: String,
    /// Document number (at most 20 characters).
    pub number: String,
    /// Issuing country, ISO 3166-1 alpha-2 (`DE`).
    pub country: String,
}

/// `subjectDetails` of a person: which one applies depends on how the subject is identified.
///
/// A NIP or PESEL subject is described [`ByIdentifier`](Self::ByIdentifier); a fingerprint
/// subject by one of the two fingerprint variants. The builders reject other pairings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PersonDetails {
    /// `PersonByIdentifier`: first and last name.
    ByIdentifier {
        /// First name (2..=30).
        first_name: String,
        /// Last name (2..=81).
        last_name: String,
    },
    /// `PersonByFingerprintWithIdentifier`: names plus the person's NIP or PESEL.
    ByFingerprintWithIdentifier {
        /// First name (2..=30).
        first_name: String,
        /// Last name (2..=81).
        last_name: String,
        /// The person's Polish identifier.
        identifier: PersonIdentifier,
    },
    /// `PersonByFingerprintWithoutIdentifier`: names, birth date and an identity document.
    ByFingerprintWithoutIdentifier {
        /// First name (2..=30).
        first_name: String,
        /// Last name (2..=81).
        last_name: String,
        /// Date of birth.
        birth_date: NaiveDate,
        /// Identity document.
        id_document: IdDocument,
    },
}

impl PersonDetails {
    /// `PersonByIdentifier` details.
    pub fn by_identifier(first_name: &str, last_name: &str) -> Self {
        Self::ByIdentifier { first_name: first_name.to_owned(), last_name: last_name.to_owned() }
    }

    fn wire_type(&self) -> &'static str {
        match self {
            Self::ByIdentifier { .. } => "PersonByIdentifier",
            Self::ByFingerprintWithIdentifier { .. } => "PersonByFingerprintWithIdentifier",
            Self::ByFingerprintWithoutIdentifier { .. } => "PersonByFingerprintWithoutIdentifier",
        }
    }

    /// The model's `PersonPermissionSubjectDetails` for `subject`, checking that they match.
    pub(crate) fn to_model(
        &self,
        subject: &PersonSubject,
    ) -> Result<types::PersonPermissionSubjectDetails, ValidationError> {
        let fp = subject.is_fingerprint();
        let by_fp = !matches!(self, Self::ByIdentifier { .. });
        if fp != by_fp {
            let (t, _) = subject.wire();
            let expected = if fp {
                "PersonByFingerprintWithIdentifier or PersonByFingerprintWithoutIdentifier"
            } else {
                "PersonByIdentifier"
            };
            return Err(ValidationError::not_allowed(
                "subjectDetails.subjectDetailsType",
                format!("a subject identified by {t} must be described as {expected}, not {}", self.wire_type()),
            ));
        }
        let mut out = types::PersonPermissionSubjectDetails {
            person_by_fp_no_id: None,
            person_by_fp_with_id: None,
            person_by_id: None,
            subject_details_type: types::PersonPermissionSubjectDetailsType::PersonByIdentifier,
        };
        match self {
            Self::ByIdentifier { first_name, last_name } => {
                out.person_by_id = Some(types::PersonDetails {
                    first_name: text("subjectDetails.personById.firstName", first_name, 2, 30)?,
                    last_name: text("subjectDetails.personById.lastName", last_name, 2, 81)?,
                });
            }
            Self::ByFingerprintWithIdentifier { .. } => {
                out.subject_details_type = types::PersonPermissionSubjectDetailsType::PersonByFingerprintWithIdentifier;
                out.person_by_fp_with_id = Some(self.fp_with_id()?);
            }
            Self::ByFingerprintWithoutIdentifier { .. } => {
                out.subject_details_type =
                    types::PersonPermissionSubjectDetailsType::PersonByFingerprintWithoutIdentifier;
                out.person_by_fp_no_id = Some(self.fp_no_id()?);
            }
        }
        Ok(out)
    }

    fn fp_with_id(&self) -> Result<types::PersonByFingerprintWithIdentifierDetails, ValidationError> {
        let Self::ByFingerprintWithIdentifier { first_name, last_name, identifier } = self else {
            return Err(ValidationError::not_allowed("subjectDetails", "internal: not a fingerprint-with-id person"));
        };
        let (type_, value) = match identifier {
            PersonIdentifier::Nip(n) => (types::PersonIdentifierType::Nip, n.as_str()),
            PersonIdentifier::Pesel(p) => (types::PersonIdentifierType::Pesel, p.as_str()),
        };
        Ok(types::PersonByFingerprintWithIdentifierDetails {
            first_name: text("subjectDetails.personByFpWithId.firstName", first_name, 2, 30)?,
            last_name: text("subjectDetails.personByFpWithId.lastName", last_name, 2, 81)?,
            identifier: types::PersonIdentifier {
                type_,
                value: model("subjectDetails.personByFpWithId.identifier", value)?,
            },
        })
    }

    fn fp_no_id(&self) -> Result<types::PersonByFingerprintWithoutIdentifierDetails, ValidationError> {
        let Self::ByFingerprintWithoutIdentifier { first_name, last_name, birth_date, id_document } = self else {
            return Err(ValidationError::not_allowed(
                "subjectDetails",
                "internal: not a fingerprint-without-id person",
            ));
        };
        let c = &id_document.country;
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::not_allowed(
                "subjectDetails.personByFpNoId.idDocument.country",
                format!("must be an ISO 3166-1 alpha-2 code in capitals (e.g. `DE`), got `{c}`"),
            ));
        }
        check_len("subjectDetails.personByFpNoId.idDocument.type", &id_document.kind, 1, 20)?;
        check_len("subjectDetails.personByFpNoId.idDocument.number", &id_document.number, 1, 20)?;
        Ok(types::PersonByFingerprintWithoutIdentifierDetails {
            birth_date: *birth_date,
            first_name: text("subjectDetails.personByFpNoId.firstName", first_name, 2, 30)?,
            last_name: text("subjectDetails.personByFpNoId.lastName", last_name, 2, 81)?,
            id_document: types::IdDocument {
                country: model("subjectDetails.personByFpNoId.idDocument.country", c)?,
                number: model("subjectDetails.personByFpNoId.idDocument.number", &id_document.number)?,
                type_: model("subjectDetails.personByFpNoId.idDocument.type", &id_document.kind)?,
            },
        })
    }
}

/// `subjectDetails` of an EU-entity administrator or representative (always identified by a
/// certificate fingerprint): a person described by fingerprint, or an entity (a seal).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EuSubjectDetails {
    /// A person: must be [`PersonDetails::ByFingerprintWithIdentifier`] or
    /// [`PersonDetails::ByFingerprintWithoutIdentifier`].
    Person(PersonDetails),
    /// `EntityByFingerprint`: an entity's name and address.
    Entity {
        /// Full name (1..=100).
        full_name: String,
        /// Address (1..=512).
        address: String,
    },
}

impl EuSubjectDetails {
    pub(crate) fn to_model(&self) -> Result<types::EuEntityPermissionSubjectDetails, ValidationError> {
        use types::EuEntityPermissionSubjectDetailsType as T;
        let mut out = types::EuEntityPermissionSubjectDetails {
            entity_by_fp: None,
            person_by_fp_no_id: None,
            person_by_fp_with_id: None,
            subject_details_type: T::EntityByFingerprint,
        };
        match self {
            Self::Person(p @ PersonDetails::ByIdentifier { .. }) => {
                return Err(ValidationError::not_allowed(
                    "subjectDetails.subjectDetailsType",
                    format!(
                        "EU-entity grants identify the subject by certificate fingerprint only, so the details must be PersonByFingerprintWithIdentifier, PersonByFingerprintWithoutIdentifier or EntityByFingerprint, not {}",
                        p.wire_type()
                    ),
                ));
            }
            Self::Person(p @ PersonDetails::ByFingerprintWithIdentifier { .. }) => {
                out.subject_details_type = T::PersonByFingerprintWithIdentifier;
                out.person_by_fp_with_id = Some(p.fp_with_id()?);
            }
            Self::Person(p @ PersonDetails::ByFingerprintWithoutIdentifier { .. }) => {
                out.subject_details_type = T::PersonByFingerprintWithoutIdentifier;
                out.person_by_fp_no_id = Some(p.fp_no_id()?);
            }
            Self::Entity { full_name, address } => {
                out.entity_by_fp = Some(types::EntityByFingerprintDetails {
                    full_name: text("subjectDetails.entityByFp.fullName", full_name, 1, 100)?,
                    address: text("subjectDetails.entityByFp.address", address, 1, 512)?,
                });
            }
        }
        Ok(out)
    }
}
