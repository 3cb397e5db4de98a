//! The emulator's domain model: identifiers, statuses, permissions.

pub mod enums;
pub mod permissions;
pub mod time;

use serde::{Deserialize, Serialize};

pub use enums::{IdentifierType, PermissionType, SubjectType};

/// A typed identifier (`{type, value}` on the wire).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identifier {
    /// The identifier's type.
    #[serde(rename = "type")]
    pub kind: IdentifierType,
    /// The value (fingerprints upper-cased).
    pub value: String,
}

impl Identifier {
    /// Builds an identifier, normalising fingerprints to upper case.
    pub fn new(kind: IdentifierType, value: impl Into<String>) -> Self {
        let mut value = value.into();
        if kind == IdentifierType::Fingerprint {
            value = value.to_ascii_uppercase();
        }
        Self { kind, value }
    }

    /// A NIP identifier.
    pub fn nip(value: impl Into<String>) -> Self {
        Self::new(IdentifierType::Nip, value)
    }

    /// A PESEL identifier.
    pub fn pesel(value: impl Into<String>) -> Self {
        Self::new(IdentifierType::Pesel, value)
    }

    /// A certificate-fingerprint identifier (SHA-256, hex).
    pub fn fingerprint(value: impl Into<String>) -> Self {
        Self::new(IdentifierType::Fingerprint, value)
    }

    /// Checks the value against the type's format (and checksum), as KSeF validates input.
    pub fn validate(&self) -> Result<(), String> {
        let v = self.value.as_str();
        match self.kind {
            IdentifierType::Nip => v.parse::<ksef_model::Nip>().map(drop).map_err(|e| e.to_string()),
            IdentifierType::Pesel => v.parse::<ksef_model::Pesel>().map(drop).map_err(|e| e.to_string()),
            IdentifierType::InternalId => v.parse::<ksef_model::InternalId>().map(drop).map_err(|e| e.to_string()),
            IdentifierType::NipVatUe => v.parse::<ksef_model::NipVatUe>().map(drop).map_err(|e| e.to_string()),
            IdentifierType::PeppolId => v.parse::<ksef_model::PeppolId>().map(drop).map_err(|e| e.to_string()),
            IdentifierType::Fingerprint => {
                if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(())
                } else {
                    Err(format!("`{}` is not a SHA-256 fingerprint (64 hex characters)", short(v)))
                }
            }
            IdentifierType::System | IdentifierType::AllPartners => Ok(()),
        }
    }
}

fn short(v: &str) -> String {
    v.chars().take(64).collect()
}

/// A KSeF status object: `{code, description, details?, extensions?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// Status code.
    pub code: u16,
    /// Polish description.
    pub description: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Extensions (`originalKsefNumber`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extensions: std::collections::BTreeMap<String, Option<String>>,
}

impl StatusInfo {
    /// A status without details.
    pub fn new(code: u16, description: &str) -> Self {
        Self { code, description: description.to_owned(), details: Vec::new(), extensions: Default::default() }
    }

    /// A status with one detail.
    pub fn with_detail(code: u16, description: &str, detail: impl Into<String>) -> Self {
        let mut s = Self::new(code, description);
        s.details.push(detail.into());
        s
    }
}
