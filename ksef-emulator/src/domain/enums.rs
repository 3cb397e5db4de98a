//! Wire enums, parsed case-insensitively (KSeF accepts `"nip"` for `Nip`) and emitted in PascalCase.

macro_rules! ci_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses a wire name, ignoring case.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    serde::de::Error::custom(format!(
                        "`{}` is not a valid {} (allowed: {})",
                        s.chars().take(64).collect::<String>(),
                        stringify!($name),
                        allowed.join(", ")
                    ))
                })
            }
        }
    };
}

ci_enum!(
    /// Identifier types across the API (each request schema allows a subset).
    IdentifierType {
        /// NIP.
        Nip = "Nip",
        /// PESEL.
        Pesel = "Pesel",
        /// SHA-256 certificate fingerprint.
        Fingerprint = "Fingerprint",
        /// `{NIP}-{5 digits}`.
        InternalId = "InternalId",
        /// `{NIP}-{EU VAT}`.
        NipVatUe = "NipVatUe",
        /// Peppol provider.
        PeppolId = "PeppolId",
        /// The system (ZAW-FA grants).
        System = "System",
        /// All partners (general indirect grants).
        AllPartners = "AllPartners",
    }
);

ci_enum!(
    /// Every permission scope a subject can hold in a context.
    PermissionType {
        /// Manage permissions.
        CredentialsManage = "CredentialsManage",
        /// Read permissions.
        CredentialsRead = "CredentialsRead",
        /// Send invoices.
        InvoiceWrite = "InvoiceWrite",
        /// Read invoices.
        InvoiceRead = "InvoiceRead",
        /// See sessions.
        Introspection = "Introspection",
        /// Manage sub-units.
        SubunitManage = "SubunitManage",
        /// Enforcement operations.
        EnforcementOperations = "EnforcementOperations",
        /// Manage an EU-entity context.
        VatUeManage = "VatUeManage",
        /// Send PEF invoices (Peppol provider).
        PefInvoiceWrite = "PefInvoiceWrite",
        /// Manage collective identifiers.
        CollectiveIdentifierManage = "CollectiveIdentifierManage",
        /// Authorization: the buyer issues in the seller's name.
        SelfInvoicing = "SelfInvoicing",
        /// Authorization: tax representative.
        TaxRepresentative = "TaxRepresentative",
        /// Authorization: FA_RR invoices.
        RRInvoicing = "RRInvoicing",
        /// Authorization: a Peppol provider issues PEF invoices.
        PefInvoicing = "PefInvoicing",
    }
);

ci_enum!(
    /// Test-data subject types (`POST /testdata/subject`).
    SubjectType {
        /// Enforcement authority.
        EnforcementAuthority = "EnforcementAuthority",
        /// VAT group.
        VatGroup = "VatGroup",
        /// Local-government unit.
        Jst = "JST",
    }
);

ci_enum!(
    /// Roles an entity holds (`GET /permissions/query/entities/roles`).
    EntityRole {
        /// Court bailiff.
        CourtBailiff = "CourtBailiff",
        /// Enforcement authority.
        EnforcementAuthority = "EnforcementAuthority",
        /// JST.
        LocalGovernmentUnit = "LocalGovernmentUnit",
        /// JST sub-unit.
        LocalGovernmentSubUnit = "LocalGovernmentSubUnit",
        /// VAT group.
        VatGroupUnit = "VatGroupUnit",
        /// VAT group member.
        VatGroupSubUnit = "VatGroupSubUnit",
    }
);
