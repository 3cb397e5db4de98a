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

/// An `AuthorizationPolicy/AllowedIps`: the client IPs access tokens of an authentication may be
/// used from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPolicy {
    /// Single addresses (`192.168.0.1`).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Ranges (`10.0.0.1-10.0.0.9`).
    #[serde(default)]
    pub ranges: Vec<String>,
    /// CIDR masks (`192.168.1.0/24`).
    #[serde(default)]
    pub masks: Vec<String>,
}

impl IpPolicy {
    /// Checks the entries' formats (at most 10 per list), as KSeF validates the policy.
    pub fn validate(&self) -> Result<(), String> {
        use std::net::Ipv4Addr;
        if self.addresses.len() > 10 || self.ranges.len() > 10 || self.masks.len() > 10 {
            return Err("at most 10 entries per AllowedIps list".into());
        }
        for a in &self.addresses {
            a.parse::<Ipv4Addr>().map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        }
        for r in &self.ranges {
            let ok =
                r.split_once('-').is_some_and(|(a, b)| a.parse::<Ipv4Addr>().is_ok() && b.parse::<Ipv4Addr>().is_ok());
            if !ok {
                return Err(format!("`{r}` is not an IPv4 range a.b.c.d-e.f.g.h"));
            }
        }
        for m in &self.masks {
            let ok = m
                .split_once('/')
                .is_some_and(|(a, n)| a.parse::<Ipv4Addr>().is_ok() && n.parse::<u8>().is_ok_and(|n| n <= 32));
            if !ok {
                return Err(format!("`{m}` is not an IPv4 mask a.b.c.d/n"));
            }
        }
        Ok(())
    }

    /// Whether `ip` is allowed (an IPv6 address, other than a mapped IPv4 one, never is).
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        use std::net::{IpAddr, Ipv4Addr};
        let v4 = match ip {
            IpAddr::V4(v) => v,
            IpAddr::V6(v) => match v.to_ipv4_mapped() {
                Some(v) => v,
                None => return false,
            },
        };
        let n = u32::from(v4);
        let parse = |s: &str| s.trim().parse::<Ipv4Addr>().ok().map(u32::from);
        self.addresses.iter().any(|a| parse(a) == Some(n))
            || self.ranges.iter().any(|r| {
                r.split_once('-').and_then(|(a, b)| Some((parse(a)?, parse(b)?))).is_some_and(|(a, b)| a <= n && n <= b)
            })
            || self.masks.iter().any(|m| {
                m.split_once('/')
                    .and_then(|(a, bits)| Some((parse(a)?, bits.trim().parse::<u32>().ok().filter(|b| *b <= 32)?)))
                    .is_some_and(|(a, bits)| {
                        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                        a & mask == n & mask
                    })
            })
    }
}
