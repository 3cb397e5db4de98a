//! A small model of "who can do what" in KSeF 2.0.
//!
//! Load what the query endpoints return (converted with the `from_*` functions of [`Grant`]) or
//! describe grants by hand, then ask [`AccessModel::check`] whether a subject holds a permission
//! in a context, and on what basis. The rules (protocol §10.1):
//!
//! - **Owner.** A subject authenticated with the context's own NIP, or with a PESEL linked to that
//!   NIP, holds every permission except `VatUeManage` (and `PefInvoiceWrite`, which only Peppol
//!   providers hold) — see [`Permission::OWNER`]. Owner rights are never listed as grants.
//! - **Direct grants** to a subject in a context.
//! - **Entity grants**: a client's grant to another entity (an accounting office, by NIP) works
//!   for that entity itself and for its owner (the office's NIP or a linked PESEL).
//! - **Indirect grants**: the office passes a client permission on to a person. A selective grant
//!   names one client; a general one covers all clients. Either works only if the client granted
//!   the office that same permission *with `canDelegate`*, so a general grant is intersected with
//!   what each client delegated.
//! - **Sub-unit administrators** hold `CredentialsManage` in the sub-unit's context.
//! - **EU-entity administrators** hold `VatUeManage`, `InvoiceWrite`, `InvoiceRead` and
//!   `Introspection` in the `NipVatUe` context; representatives hold what they were granted.
//!   Invoices issued in a `NipVatUe` context are self-invoices in the name of its NIP.
//! - **Authorizations** (SelfInvoicing, RRInvoicing, TaxRepresentative, PefInvoicing) let an
//!   entity issue in its own context on the grantor's behalf; [`AccessModel::check_on_behalf`]
//!   combines them with the issuing subject's `InvoiceWrite`.
//!
//! The model answers from the grants it was given; it does not know about roles (e.g. which
//! contexts may receive `EnforcementOperations`) or grants it was not shown.

use core::fmt;
use core::str::FromStr;
use std::collections::BTreeSet;

use ksef_model::types;
use ksef_model::{InternalId, Nip, NipVatUe, PeppolId, Pesel};

use crate::grant::AuthorizedEntity;
use crate::subject::{Fingerprint, PersonSubject};

/// A permission a subject can hold in a context (the values of `x-required-permissions` and of
/// the permission queries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Manage permissions.
    CredentialsManage,
    /// View permissions.
    CredentialsRead,
    /// Issue (send) invoices.
    InvoiceWrite,
    /// View and download invoices.
    InvoiceRead,
    /// View session history, download UPOs.
    Introspection,
    /// Manage sub-units.
    SubunitManage,
    /// Enforcement operations (enforcement authorities and bailiffs).
    EnforcementOperations,
    /// Manage an EU entity's representatives (EU administrators only).
    VatUeManage,
    /// Manage collective identifiers.
    CollectiveIdentifierManage,
    /// Send PEF invoices (Peppol providers).
    PefInvoiceWrite,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Self; 10] = [
        Self::CredentialsManage,
        Self::CredentialsRead,
        Self::InvoiceWrite,
        Self::InvoiceRead,
        Self::Introspection,
        Self::SubunitManage,
        Self::EnforcementOperations,
        Self::VatUeManage,
        Self::CollectiveIdentifierManage,
        Self::PefInvoiceWrite,
    ];

    /// What the owner of a NIP context holds by ownership (`OwnerPermissionScope`).
    pub const OWNER: [Self; 8] = [
        Self::CredentialsManage,
        Self::CredentialsRead,
        Self::InvoiceWrite,
        Self::InvoiceRead,
        Self::Introspection,
        Self::SubunitManage,
        Self::EnforcementOperations,
        Self::CollectiveIdentifierManage,
    ];

    /// What an EU-entity administrator holds in the `NipVatUe` context.
    pub const EU_ADMIN: [Self; 4] = [Self::VatUeManage, Self::InvoiceWrite, Self::InvoiceRead, Self::Introspection];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CredentialsManage => "CredentialsManage",
            Self::CredentialsRead => "CredentialsRead",
            Self::InvoiceWrite => "InvoiceWrite",
            Self::InvoiceRead => "InvoiceRead",
            Self::Introspection => "Introspection",
            Self::SubunitManage => "SubunitManage",
            Self::EnforcementOperations => "EnforcementOperations",
            Self::VatUeManage => "VatUeManage",
            Self::CollectiveIdentifierManage => "CollectiveIdentifierManage",
            Self::PefInvoiceWrite => "PefInvoiceWrite",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission name this crate does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a KSeF permission this crate knows")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, UnknownPermission> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

/// A subject-type authorization (`/permissions/authorizations/grants`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Authorization {
    /// The buyer issues invoices in the seller's name.
    SelfInvoicing,
    /// FA_RR invoices (flat-rate farmers).
    RrInvoicing,
    /// Tax representative.
    TaxRepresentative,
    /// A Peppol provider issues PEF invoices.
    PefInvoicing,
}

/// A context: whose data is acted on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// An entity by NIP.
    Nip(Nip),
    /// A sub-unit.
    InternalId(InternalId),
    /// An EU entity in a Polish context.
    NipVatUe(NipVatUe),
    /// A Peppol provider.
    PeppolId(PeppolId),
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nip(v) => write!(f, "NIP {v}"),
            Self::InternalId(v) => write!(f, "internal id {v}"),
            Self::NipVatUe(v) => write!(f, "EU entity {v}"),
            Self::PeppolId(v) => write!(f, "Peppol provider {v}"),
        }
    }
}

/// Which clients an indirect grant covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IndirectScope {
    /// One client (selective).
    Client(Context),
    /// Every client that delegated to the intermediary (general).
    AllClients,
}

/// One permission relation, in the model's simple form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Grant {
    /// `subject` holds `permission` in `context` (person grants; also what `ownerPermissions`
    /// lists).
    Direct {
        /// Who.
        subject: PersonSubject,
        /// Where.
        context: Context,
        /// What.
        permission: Permission,
        /// Whether it may be passed on.
        can_delegate: bool,
    },
    /// The `grantor` context gave the entity `grantee` a permission (entity grants).
    Entity {
        /// The client.
        grantor: Context,
        /// The entity receiving it (e.g. an accounting office).
        grantee: Nip,
        /// What.
        permission: Permission,
        /// Whether the grantee may pass it on to its people (indirect grants).
        can_delegate: bool,
    },
    /// The `intermediary` passed a client permission on to `subject` (indirect grants).
    Indirect {
        /// Who.
        subject: PersonSubject,
        /// The intermediary (e.g. the accounting office).
        intermediary: Nip,
        /// Which clients.
        scope: IndirectScope,
        /// What.
        permission: Permission,
    },
    /// `subject` administers the sub-unit `subunit` (and so holds `CredentialsManage` there).
    SubunitAdmin {
        /// Who.
        subject: PersonSubject,
        /// The sub-unit's context.
        subunit: Context,
    },
    /// The holder of certificate `subject` administers the EU entity `context`.
    EuAdmin {
        /// Who.
        subject: Fingerprint,
        /// The compound context.
        context: NipVatUe,
    },
    /// The holder of certificate `subject` holds `permission` in the EU entity's context.
    EuPermission {
        /// Who.
        subject: Fingerprint,
        /// The compound context.
        context: NipVatUe,
        /// What.
        permission: Permission,
    },
    /// `grantor` authorized `grantee` (authorizations).
    Authorization {
        /// The authorizing entity (e.g. the seller).
        grantor: Nip,
        /// The authorized entity.
        grantee: AuthorizedEntity,
        /// Which authorization.
        kind: Authorization,
    },
}

/// Why a subject holds a permission.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The subject owns the context (its NIP, or a PESEL linked to it).
    Owner {
        /// Whether through the NIP–PESEL link.
        via_linked_pesel: bool,
    },
    /// A direct grant.
    Direct,
    /// An entity grant from the context to `grantee`, used by it or its owner.
    Entity {
        /// The entity that received the grant.
        grantee: Nip,
    },
    /// An indirect grant from `intermediary`, backed by the client's delegable grant.
    Indirect {
        /// The intermediary.
        intermediary: Nip,
        /// Whether the grant was general (all clients) rather than selective.
        general: bool,
    },
    /// Sub-unit administrator.
    SubunitAdmin,
    /// EU-entity administrator.
    EuAdmin,
    /// EU-entity permission (representative).
    EuPermission,
}

/// Why a subject does not hold a permission.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{subject} does not hold {permission} in {context}: {reason}")]
pub struct Denied {
    /// Who.
    pub subject: String,
    /// What.
    pub permission: Permission,
    /// Where.
    pub context: String,
    /// Why, in words.
    pub reason: String,
}

/// The grants and NIP–PESEL links a question is answered from.
#[derive(Clone, Debug, Default)]
pub struct AccessModel {
    grants: Vec<Grant>,
    links: Vec<(Nip, Pesel)>,
}

fn subject_text(s: &PersonSubject) -> String {
    let (t, v) = s.wire();
    format!("{t} {v}")
}

impl AccessModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a grant.
    pub fn grant(mut self, g: Grant) -> Self {
        self.grants.push(g);
        self
    }

    /// Adds grants.
    pub fn extend(&mut self, gs: impl IntoIterator<Item = Grant>) {
        self.grants.extend(gs);
    }

    /// Records that `pesel` is linked to `nip` (the person owns the NIP).
    pub fn link(mut self, nip: Nip, pesel: Pesel) -> Self {
        self.links.push((nip, pesel));
        self
    }

    /// The grants.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Whether `subject` owns NIP `nip`, and whether through a linked PESEL.
    fn owns(&self, subject: &PersonSubject, nip: &Nip) -> Option<bool> {
        match subject {
            PersonSubject::Nip(n) if n == nip => Some(false),
            PersonSubject::Pesel(p) => self.links.iter().any(|(n, lp)| n == nip && lp == p).then_some(true),
            _ => None,
        }
    }

    /// Whether `subject` holds `permission` in `context`, with the first basis found.
    ///
    /// # Errors
    /// [`Denied`], explaining what was looked for.
    pub fn check(&self, subject: &PersonSubject, context: &Context, permission: Permission) -> Result<Basis, Denied> {
        self.find(subject, context, permission, None).ok_or_else(|| Denied {
            subject: subject_text(subject),
            permission,
            context: context.to_string(),
            reason: self.explain_denial(subject, context, permission, None),
        })
    }

    /// Whether `subject` holds `permission` in the client's `context` *through the intermediary*
    /// `office` (as its owner, or by an indirect grant from it that the client's delegable grant
    /// backs) — e.g. "can this employee send invoices for client X via office Y?".
    ///
    /// # Errors
    /// [`Denied`], explaining what is missing.
    pub fn check_via(
        &self,
        subject: &PersonSubject,
        context: &Context,
        office: &Nip,
        permission: Permission,
    ) -> Result<Basis, Denied> {
        self.find(subject, context, permission, Some(office)).ok_or_else(|| Denied {
            subject: subject_text(subject),
            permission,
            context: format!("{context} via office NIP {office}"),
            reason: self.explain_denial(subject, context, permission, Some(office)),
        })
    }

    /// Boolean form of [`check`](Self::check).
    pub fn can(&self, subject: &PersonSubject, context: &Context, permission: Permission) -> bool {
        self.find(subject, context, permission, None).is_some()
    }

    /// Everything `subject` holds in `context`.
    pub fn permissions_in(&self, subject: &PersonSubject, context: &Context) -> BTreeSet<Permission> {
        Permission::ALL.into_iter().filter(|p| self.can(subject, context, *p)).collect()
    }

    /// Whether `subject`, working in `context` (the authorized entity's own context), may issue
    /// invoices on behalf of `grantor` under the authorization `kind`: it needs `InvoiceWrite`
    /// (or `PefInvoiceWrite` for PEF) in `context`, and `grantor` must have authorized the
    /// context's entity.
    ///
    /// # Errors
    /// [`Denied`], explaining what is missing.
    pub fn check_on_behalf(
        &self,
        subject: &PersonSubject,
        context: &Context,
        grantor: &Nip,
        kind: Authorization,
    ) -> Result<Basis, Denied> {
        let write =
            if kind == Authorization::PefInvoicing { Permission::PefInvoiceWrite } else { Permission::InvoiceWrite };
        let basis = self.check(subject, context, write)?;
        let grantee = match context {
            Context::Nip(n) => Some(AuthorizedEntity::Nip(n.clone())),
            Context::PeppolId(p) => Some(AuthorizedEntity::PeppolId(p.clone())),
            _ => None,
        };
        let authorized = grantee.as_ref().is_some_and(|g| self.is_authorized(grantor, g, kind));
        if authorized {
            Ok(basis)
        } else {
            Err(Denied {
                subject: subject_text(subject),
                permission: write,
                context: format!("{context} on behalf of NIP {grantor}"),
                reason: format!("NIP {grantor} has not granted {context} the {kind:?} authorization"),
            })
        }
    }

    /// Whether `grantor` authorized `grantee` for `kind`.
    pub fn is_authorized(&self, grantor: &Nip, grantee: &AuthorizedEntity, kind: Authorization) -> bool {
        self.grants.iter().any(|g| {
            matches!(g, Grant::Authorization { grantor: gr, grantee: ge, kind: k } if gr == grantor && ge == grantee && *k == kind)
        })
    }

    /// The client grant backing an indirect grant from `office`: the client `context` must have
    /// granted `office` this permission with `canDelegate`.
    fn delegated(&self, context: &Context, office: &Nip, permission: Permission) -> bool {
        self.grants.iter().any(|g| {
            matches!(g, Grant::Entity { grantor, grantee, permission: p, can_delegate: true }
                if grantor == context && grantee == office && *p == permission)
        })
    }

    fn find(
        &self,
        subject: &PersonSubject,
        context: &Context,
        permission: Permission,
        via: Option<&Nip>,
    ) -> Option<Basis> {
        if via.is_none()
            && let Context::Nip(nip) = context
            && Permission::OWNER.contains(&permission)
            && let Some(via_linked_pesel) = self.owns(subject, nip)
        {
            return Some(Basis::Owner { via_linked_pesel });
        }
        for g in &self.grants {
            let basis = match g {
                Grant::Direct { subject: s, context: c, permission: p, .. }
                    if via.is_none() && s == subject && c == context && *p == permission =>
                {
                    Some(Basis::Direct)
                }
                Grant::Entity { grantor, grantee, permission: p, .. }
                    if grantor == context
                        && *p == permission
                        && via.is_none_or(|o| o == grantee)
                        && self.owns(subject, grantee).is_some() =>
                {
                    Some(Basis::Entity { grantee: grantee.clone() })
                }
                Grant::Indirect { subject: s, intermediary, scope, permission: p }
                    if s == subject
                        && *p == permission
                        && via.is_none_or(|o| o == intermediary)
                        && match scope {
                            IndirectScope::Client(c) => c == context,
                            IndirectScope::AllClients => true,
                        }
                        && self.delegated(context, intermediary, permission) =>
                {
                    Some(Basis::Indirect {
                        intermediary: intermediary.clone(),
                        general: *scope == IndirectScope::AllClients,
                    })
                }
                Grant::SubunitAdmin { subject: s, subunit }
                    if via.is_none()
                        && s == subject
                        && subunit == context
                        && permission == Permission::CredentialsManage =>
                {
                    Some(Basis::SubunitAdmin)
                }
                Grant::EuAdmin { subject: s, context: c }
                    if via.is_none()
                        && matches!(subject, PersonSubject::Fingerprint(f) if f == s)
                        && *context == Context::NipVatUe(c.clone())
                        && Permission::EU_ADMIN.contains(&permission) =>
                {
                    Some(Basis::EuAdmin)
                }
                Grant::EuPermission { subject: s, context: c, permission: p }
                    if via.is_none()
                        && matches!(subject, PersonSubject::Fingerprint(f) if f == s)
                        && *context == Context::NipVatUe(c.clone())
                        && *p == permission =>
                {
                    Some(Basis::EuPermission)
                }
                _ => None,
            };
            if basis.is_some() {
                return basis;
            }
        }
        None
    }

    fn explain_denial(
        &self,
        subject: &PersonSubject,
        context: &Context,
        permission: Permission,
        via: Option<&Nip>,
    ) -> String {
        if permission == Permission::VatUeManage && matches!(context, Context::Nip(_)) {
            return "VatUeManage is held only by EU-entity administrators, in a NipVatUe context; owners never hold it"
                .into();
        }
        // An indirect grant that the client does not back is the common surprise: say so.
        for g in &self.grants {
            if let Grant::Indirect { subject: s, intermediary, scope, permission: p } = g
                && s == subject
                && *p == permission
                && via.is_none_or(|o| o == intermediary)
            {
                let covers = match scope {
                    IndirectScope::Client(c) => c == context,
                    IndirectScope::AllClients => true,
                };
                if covers {
                    return format!(
                        "the indirect grant from NIP {intermediary} is not backed: {context} has not granted NIP {intermediary} {permission} with canDelegate"
                    );
                }
            }
        }
        match via {
            Some(o) => format!(
                "no indirect grant from NIP {o} covers it, and the subject does not own NIP {o} holding a grant from the client"
            ),
            None => "no ownership, direct, entity, indirect, sub-unit or EU grant gives it".into(),
        }
    }
}

/// A query response item this model cannot represent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert `{field}` = `{value}`: {reason}")]
pub struct ConvertError {
    /// The field.
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// Why.
    pub reason: &'static str,
}

fn conv<T: FromStr>(field: &'static str, value: &str, reason: &'static str) -> Result<T, ConvertError> {
    value.parse().map_err(|_| ConvertError { field, value: value.to_owned(), reason })
}

fn subject_of(field: &'static str, t: &str, value: &str) -> Result<PersonSubject, ConvertError> {
    match t {
        "Nip" => conv(field, value, "not a valid NIP").map(PersonSubject::Nip),
        "Pesel" => conv(field, value, "not a valid PESEL").map(PersonSubject::Pesel),
        "Fingerprint" => conv(field, value, "not a certificate fingerprint").map(PersonSubject::Fingerprint),
        _ => Err(ConvertError { field, value: t.to_owned(), reason: "unknown identifier type" }),
    }
}

fn context_of(field: &'static str, t: &str, value: &str) -> Result<Context, ConvertError> {
    match t {
        "Nip" => conv(field, value, "not a valid NIP").map(Context::Nip),
        "InternalId" => conv(field, value, "not a valid internal id").map(Context::InternalId),
        "NipVatUe" => conv(field, value, "not a valid NIP-VAT UE id").map(Context::NipVatUe),
        "PeppolId" => conv(field, value, "not a valid Peppol id").map(Context::PeppolId),
        _ => Err(ConvertError { field, value: t.to_owned(), reason: "unknown context type" }),
    }
}

fn wire<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn permission_of<T: serde::Serialize>(field: &'static str, scope: &T) -> Result<Permission, ConvertError> {
    let s = wire(scope);
    conv(field, &s, "not a permission this model knows")
}

fn scope_of(t: &str, value: Option<&str>) -> Result<IndirectScope, ConvertError> {
    match t {
        "AllPartners" => Ok(IndirectScope::AllClients),
        _ => context_of("targetIdentifier", t, value.unwrap_or_default()).map(IndirectScope::Client),
    }
}

fn intermediary_of(context: &Context) -> Result<Nip, ConvertError> {
    match context {
        Context::Nip(n) => Ok(n.clone()),
        other => Err(ConvertError {
            field: "contextIdentifier",
            value: other.to_string(),
            reason: "the intermediary of an indirect grant is a NIP",
        }),
    }
}

impl Grant {
    /// From an item of `POST /permissions/query/persons/grants`. `current` is the context the
    /// query ran in (used when the item names none). An item with a `targetIdentifier` is an
    /// indirect grant whose intermediary is the item's context.
    ///
    /// # Errors
    /// [`ConvertError`] for identifiers or scopes the model cannot represent.
    pub fn from_person_permission(item: &types::PersonPermission, current: &Context) -> Result<Self, ConvertError> {
        let a = &item.authorized_identifier;
        let subject = subject_of("authorizedIdentifier", &wire(&a.type_), &a.value)?;
        let context = match &item.context_identifier {
            Some(c) => context_of("contextIdentifier", &wire(&c.type_), &c.value)?,
            None => current.clone(),
        };
        let permission = permission_of("permissionScope", &item.permission_scope)?;
        Self::person_like(
            subject,
            context,
            permission,
            item.can_delegate,
            item.target_identifier.as_ref().map(|t| (wire(&t.type_), t.value.as_ref().map(|v| v.to_string()))),
        )
    }

    /// From an item of `POST /permissions/query/personal/grants`: `me` is the caller, `current`
    /// the context the query ran in.
    ///
    /// # Errors
    /// [`ConvertError`] for identifiers or scopes the model cannot represent.
    pub fn from_personal_permission(
        item: &types::PersonalPermission,
        me: &PersonSubject,
        current: &Context,
    ) -> Result<Self, ConvertError> {
        let subject = match &item.authorized_identifier {
            Some(a) => subject_of("authorizedIdentifier", &wire(&a.type_), &a.value)?,
            None => me.clone(),
        };
        let context = match &item.context_identifier {
            Some(c) => context_of("contextIdentifier", &wire(&c.type_), &c.value)?,
            None => current.clone(),
        };
        let permission = permission_of("permissionScope", &item.permission_scope)?;
        Self::person_like(
            subject,
            context,
            permission,
            item.can_delegate,
            item.target_identifier.as_ref().map(|t| (wire(&t.type_), t.value.as_ref().map(|v| v.to_string()))),
        )
    }

    fn person_like(
        subject: PersonSubject,
        context: Context,
        permission: Permission,
        can_delegate: bool,
        target: Option<(String, Option<String>)>,
    ) -> Result<Self, ConvertError> {
        Ok(match target {
            Some((t, v)) => Self::Indirect {
                subject,
                intermediary: intermediary_of(&context)?,
                scope: scope_of(&t, v.as_deref())?,
                permission,
            },
            None => Self::Direct { subject, context, permission, can_delegate },
        })
    }

    /// From an item of `POST /permissions/query/entities/grants` (grants *received* by the
    /// current context, whose NIP is `me`).
    ///
    /// # Errors
    /// [`ConvertError`] for identifiers or scopes the model cannot represent.
    pub fn from_entity_permission(item: &types::EntityPermissionItem, me: &Nip) -> Result<Self, ConvertError> {
        let c = &item.context_identifier;
        Ok(Self::Entity {
            grantor: context_of("contextIdentifier", &wire(&c.type_), &c.value)?,
            grantee: me.clone(),
            permission: permission_of("permissionScope", &item.permission_scope)?,
            can_delegate: item.can_delegate,
        })
    }

    /// From an item of `POST /permissions/query/subunits/grants`.
    ///
    /// # Errors
    /// [`ConvertError`] for identifiers or scopes the model cannot represent.
    pub fn from_subunit_permission(item: &types::SubunitPermission) -> Result<Self, ConvertError> {
        let a = &item.authorized_identifier;
        let s = &item.subunit_identifier;
        Ok(Self::SubunitAdmin {
            subject: subject_of("authorizedIdentifier", &wire(&a.type_), &a.value)?,
            subunit: context_of("subunitIdentifier", &wire(&s.type_), &s.value)?,
        })
    }

    /// From an item of `POST /permissions/query/eu-entities/grants`. `vatUeIdentifier` is read
    /// as a compound `NIP-VATUE` id when it is one; otherwise it must be the VAT part of
    /// `context` (the compound context the query ran in or concerns).
    ///
    /// # Errors
    /// [`ConvertError`] for identifiers or scopes the model cannot represent.
    pub fn from_eu_entity_permission(
        item: &types::EuEntityPermission,
        context: &NipVatUe,
    ) -> Result<Self, ConvertError> {
        let ctx = match item.vat_ue_identifier.parse::<NipVatUe>() {
            Ok(c) => c,
            Err(_) if item.vat_ue_identifier == context.vat_ue() => context.clone(),
            Err(_) => {
                return Err(ConvertError {
                    field: "vatUeIdentifier",
                    value: item.vat_ue_identifier.clone(),
                    reason: "neither a compound NIP-VAT UE id nor the VAT number of the given context",
                });
            }
        };
        Ok(Self::EuPermission {
            subject: conv(
                "authorizedFingerprintIdentifier",
                &item.authorized_fingerprint_identifier,
                "not a certificate fingerprint",
            )?,
            context: ctx,
            permission: permission_of("permissionScope", &item.permission_scope)?,
        })
    }

    /// From an item of `POST /permissions/query/authorizations/grants`.
    ///
    /// # Errors
    /// [`ConvertError`] for identifiers or scopes the model cannot represent.
    pub fn from_authorization_grant(item: &types::EntityAuthorizationGrant) -> Result<Self, ConvertError> {
        let z = &item.authorized_entity_identifier;
        let grantee = match wire(&z.type_).as_str() {
            "Nip" => AuthorizedEntity::Nip(conv("authorizedEntityIdentifier", &z.value, "not a valid NIP")?),
            "PeppolId" => {
                AuthorizedEntity::PeppolId(conv("authorizedEntityIdentifier", &z.value, "not a valid Peppol id")?)
            }
            t => {
                return Err(ConvertError {
                    field: "authorizedEntityIdentifier",
                    value: t.to_owned(),
                    reason: "unknown identifier type",
                });
            }
        };
        let kind = match wire(&item.authorization_scope).as_str() {
            "SelfInvoicing" => Authorization::SelfInvoicing,
            "RRInvoicing" => Authorization::RrInvoicing,
            "TaxRepresentative" => Authorization::TaxRepresentative,
            "PefInvoicing" => Authorization::PefInvoicing,
            s => {
                return Err(ConvertError {
                    field: "authorizationScope",
                    value: s.to_owned(),
                    reason: "unknown authorization",
                });
            }
        };
        Ok(Self::Authorization {
            grantor: conv("authorizingEntityIdentifier", &item.authorizing_entity_identifier.value, "not a valid NIP")?,
            grantee,
            kind,
        })
    }
}

impl AccessModel {
    /// Adds what a personal query returned: each item (items that cannot be represented are
    /// returned, not dropped silently) and, when the response lists `ownerPermissions`, the
    /// caller's owner rights in `current`.
    pub fn add_personal(
        &mut self,
        resp: &types::QueryPersonalPermissionsResponse,
        me: &PersonSubject,
        current: &Context,
    ) -> Vec<ConvertError> {
        let mut errors = Vec::new();
        for item in &resp.permissions {
            match Grant::from_personal_permission(item, me, current) {
                Ok(g) => self.grants.push(g),
                Err(e) => errors.push(e),
            }
        }
        for scope in resp.owner_permissions.iter().flatten() {
            match permission_of("ownerPermissions", scope) {
                Ok(permission) => self.grants.push(Grant::Direct {
                    subject: me.clone(),
                    context: current.clone(),
                    permission,
                    can_delegate: false,
                }),
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}
