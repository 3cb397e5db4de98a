//! Builders for the seven grant kinds of KSeF 2.0.
//!
//! Each builder accepts only the identifier types, permission types and flags its endpoint
//! allows, checks identifiers' checksums and text lengths, and produces the generated request type
//! of [`ksef_model::types`], ready for any `ksef-transport` transport (the operations take no
//! parameters, so `&()` is their `Params`).

use core::fmt::Debug;

use ksef_model::types::{
    self, EntityAuthorizationPermissionType, EntityPermissionType, EuEntityPermissionType, IndirectPermissionType,
    PersonPermissionType,
};
use ksef_model::{InternalId, Nip, NipVatUe, PeppolId};

use ksef_model::operations as ops;

use crate::error::{ValidationError, model, text};
use crate::query::Call;
use crate::subject::{EuSubjectDetails, Fingerprint, PersonDetails, PersonSubject};

fn description<T>(value: Option<&str>) -> Result<T, ValidationError>
where
    T: TryFrom<String>,
    T::Error: core::fmt::Display,
{
    let value = value.ok_or(ValidationError::Missing {
        field: "description",
        why: "every grant carries a description of 5..=256 characters",
    })?;
    text("description", value, 5, 256)
}

fn unique_non_empty<T: Copy + PartialEq + Debug>(field: &'static str, items: &[T]) -> Result<(), ValidationError> {
    if items.is_empty() {
        return Err(ValidationError::Missing { field, why: "grant at least one permission" });
    }
    for (i, p) in items.iter().enumerate() {
        if items[..i].contains(p) {
            return Err(ValidationError::not_allowed(
                field,
                format!("{p:?} is listed twice; each permission may appear only once"),
            ));
        }
    }
    Ok(())
}

fn person_subject<T, V>(subject: &PersonSubject, nip: T, pesel: T, fp: T) -> Result<(T, V), ValidationError>
where
    V: TryFrom<String>,
    V::Error: core::fmt::Display,
{
    let (t, value) = match subject {
        PersonSubject::Nip(v) => (nip, v.as_str()),
        PersonSubject::Pesel(v) => (pesel, v.as_str()),
        PersonSubject::Fingerprint(v) => (fp, v.as_str()),
    };
    Ok((t, model("subjectIdentifier.value", value)?))
}

/// `POST /permissions/persons/grants`: permissions for a person in the current context.
///
/// Subjects: NIP, PESEL or fingerprint. Permissions: any of [`PersonPermissionType`] (unique, at
/// least one). `EnforcementOperations` is accepted here but KSeF grants it only when the context
/// has the `EnforcementAuthority` or `CourtBailiff` role (otherwise the operation fails).
#[derive(Clone, Debug)]
pub struct PersonGrant {
    subject: PersonSubject,
    details: PersonDetails,
    permissions: Vec<PersonPermissionType>,
    description: Option<String>,
}

impl PersonGrant {
    /// A grant to `subject`, described by `details`.
    pub fn new(subject: impl Into<PersonSubject>, details: PersonDetails) -> Self {
        Self { subject: subject.into(), details, permissions: Vec::new(), description: None }
    }

    /// Adds a permission.
    pub fn permission(mut self, p: PersonPermissionType) -> Self {
        self.permissions.push(p);
        self
    }

    /// Adds permissions.
    pub fn permissions(mut self, ps: impl IntoIterator<Item = PersonPermissionType>) -> Self {
        self.permissions.extend(ps);
        self
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::PersonPermissionsGrantRequest, ValidationError> {
        use types::PersonPermissionsSubjectIdentifierType as T;
        unique_non_empty("permissions", &self.permissions)?;
        let (type_, value) = person_subject(&self.subject, T::Nip, T::Pesel, T::Fingerprint)?;
        Ok(types::PersonPermissionsGrantRequest {
            description: description(self.description.as_deref())?,
            permissions: self.permissions,
            subject_details: self.details.to_model(&self.subject)?,
            subject_identifier: types::PersonPermissionsSubjectIdentifier { type_, value },
        })
    }
}

/// `POST /permissions/entities/grants`: invoice permissions for another entity (e.g. an
/// accounting office), each with `canDelegate`.
///
/// Subject: a NIP only. Permissions: `InvoiceRead`, `InvoiceWrite`, `CollectiveIdentifierManage`;
/// `canDelegate` (the right to pass the permission on to the entity's people with an indirect
/// grant) is accepted only on `InvoiceRead` and `InvoiceWrite`.
#[derive(Clone, Debug)]
pub struct EntityGrant {
    subject: Nip,
    full_name: String,
    permissions: Vec<(EntityPermissionType, bool)>,
    description: Option<String>,
}

impl EntityGrant {
    /// A grant to the entity `subject`, whose full name (5..=90) is `full_name`.
    pub fn new(subject: Nip, full_name: &str) -> Self {
        Self { subject, full_name: full_name.to_owned(), permissions: Vec::new(), description: None }
    }

    /// Adds a permission with its `canDelegate` flag.
    pub fn permission(mut self, p: EntityPermissionType, can_delegate: bool) -> Self {
        self.permissions.push((p, can_delegate));
        self
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::EntityPermissionsGrantRequest, ValidationError> {
        let kinds: Vec<_> = self.permissions.iter().map(|(p, _)| *p).collect();
        unique_non_empty("permissions", &kinds)?;
        for (p, d) in &self.permissions {
            if *d && !matches!(p, EntityPermissionType::InvoiceRead | EntityPermissionType::InvoiceWrite) {
                return Err(ValidationError::not_allowed(
                    "permissions[].canDelegate",
                    format!("canDelegate may be set only on InvoiceRead or InvoiceWrite, not on {p:?}"),
                ));
            }
        }
        Ok(types::EntityPermissionsGrantRequest {
            description: description(self.description.as_deref())?,
            permissions: self
                .permissions
                .into_iter()
                .map(|(type_, d)| types::EntityPermission { can_delegate: Some(d), type_ })
                .collect(),
            subject_details: types::EntityDetails {
                full_name: text("subjectDetails.fullName", &self.full_name, 5, 90)?,
            },
            subject_identifier: types::EntityPermissionsSubjectIdentifier {
                type_: types::EntityPermissionsSubjectIdentifierType::Nip,
                value: model("subjectIdentifier.value", self.subject.as_str())?,
            },
        })
    }
}

/// The entity an authorization is granted to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthorizedEntity {
    /// A Polish entity by NIP.
    Nip(Nip),
    /// A Peppol service provider.
    PeppolId(PeppolId),
}

/// `POST /permissions/authorizations/grants`: a subject-type authorization (one per call; not
/// delegable) letting another entity act in its own context on the grantor's behalf.
///
/// `SelfInvoicing`, `RRInvoicing` and `TaxRepresentative` go to a NIP; `PefInvoicing` goes to a
/// Peppol provider (`PeppolId`), and a `PeppolId` receives nothing else.
#[derive(Clone, Debug)]
pub struct AuthorizationGrant {
    subject: AuthorizedEntity,
    permission: EntityAuthorizationPermissionType,
    full_name: String,
    description: Option<String>,
}

impl AuthorizationGrant {
    /// Authorizes `subject` (full name 5..=90) for `permission`.
    pub fn new(subject: AuthorizedEntity, permission: EntityAuthorizationPermissionType, full_name: &str) -> Self {
        Self { subject, permission, full_name: full_name.to_owned(), description: None }
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::EntityAuthorizationPermissionsGrantRequest, ValidationError> {
        use types::EntityAuthorizationPermissionsSubjectIdentifierType as T;
        let pef = self.permission == EntityAuthorizationPermissionType::PefInvoicing;
        let (type_, value) = match &self.subject {
            AuthorizedEntity::Nip(n) if !pef => (T::Nip, n.as_str()),
            AuthorizedEntity::PeppolId(p) if pef => (T::PeppolId, p.as_str()),
            AuthorizedEntity::Nip(_) => {
                return Err(ValidationError::not_allowed(
                    "subjectIdentifier.type",
                    "PefInvoicing is granted to a Peppol service provider (PeppolId), not to a NIP",
                ));
            }
            AuthorizedEntity::PeppolId(_) => {
                return Err(ValidationError::not_allowed(
                    "permission",
                    format!("a Peppol provider (PeppolId) can only receive PefInvoicing, not {:?}", self.permission),
                ));
            }
        };
        Ok(types::EntityAuthorizationPermissionsGrantRequest {
            description: description(self.description.as_deref())?,
            permission: self.permission,
            subject_details: types::EntityDetails {
                full_name: text("subjectDetails.fullName", &self.full_name, 5, 90)?,
            },
            subject_identifier: types::EntityAuthorizationPermissionsSubjectIdentifier {
                type_,
                value: model("subjectIdentifier.value", value)?,
            },
        })
    }
}

/// Which clients an indirect grant covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IndirectTarget {
    /// Selective: one client, by NIP. KSeF accepts it only if that client granted the current
    /// context (the intermediary) a delegable permission.
    Client(Nip),
    /// Selective: one client's sub-unit, by internal identifier.
    ClientSubunit(InternalId),
    /// General (`AllPartners`): every client that delegated to the intermediary, each within what
    /// that client granted.
    AllClients,
}

/// `POST /permissions/indirect/grants`: an intermediary (the current context, e.g. an accounting
/// office) passes delegable client permissions on to a person.
///
/// Subjects: NIP, PESEL or fingerprint. Permissions: `InvoiceRead`, `InvoiceWrite`,
/// `CollectiveIdentifierManage`. The target is selective (one client) or general (all clients);
/// one call cannot mix the two, which [`IndirectTarget`] makes unrepresentable.
#[derive(Clone, Debug)]
pub struct IndirectGrant {
    subject: PersonSubject,
    details: PersonDetails,
    target: IndirectTarget,
    permissions: Vec<IndirectPermissionType>,
    description: Option<String>,
}

impl IndirectGrant {
    /// A grant to `subject` for `target`.
    pub fn new(subject: impl Into<PersonSubject>, details: PersonDetails, target: IndirectTarget) -> Self {
        Self { subject: subject.into(), details, target, permissions: Vec::new(), description: None }
    }

    /// Adds a permission.
    pub fn permission(mut self, p: IndirectPermissionType) -> Self {
        self.permissions.push(p);
        self
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::IndirectPermissionsGrantRequest, ValidationError> {
        use types::IndirectPermissionsSubjectIdentifierType as S;
        use types::IndirectPermissionsTargetIdentifierType as T;
        unique_non_empty("permissions", &self.permissions)?;
        let (type_, value) = person_subject(&self.subject, S::Nip, S::Pesel, S::Fingerprint)?;
        let target = match &self.target {
            IndirectTarget::Client(n) => types::IndirectPermissionsTargetIdentifier {
                type_: T::Nip,
                value: Some(model("targetIdentifier.value", n.as_str())?),
            },
            IndirectTarget::ClientSubunit(i) => types::IndirectPermissionsTargetIdentifier {
                type_: T::InternalId,
                value: Some(model("targetIdentifier.value", i.as_str())?),
            },
            IndirectTarget::AllClients => {
                types::IndirectPermissionsTargetIdentifier { type_: T::AllPartners, value: None }
            }
        };
        Ok(types::IndirectPermissionsGrantRequest {
            description: description(self.description.as_deref())?,
            permissions: self.permissions,
            subject_details: self.details.to_model(&self.subject)?,
            subject_identifier: types::IndirectPermissionsSubjectIdentifier { type_, value },
            target_identifier: Some(target),
        })
    }
}

/// The sub-unit an administrator is appointed for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subunit {
    /// A subordinate entity by NIP: KSeF allows it only when the current context has the role
    /// `LocalGovernmentUnit` or `VatGroupUnit`.
    Nip(Nip),
    /// An internal unit `{contextNIP}-{5 digits}` (created if new; then `subunitName` is required).
    InternalId(InternalId),
}

/// `POST /permissions/subunits/grants`: appoints a sub-unit administrator (who automatically
/// gets `CredentialsManage` in the sub-unit's context). Requires `SubunitManage`.
///
/// Subjects: NIP, PESEL or fingerprint. `subunitName` (5..=256) is required for an internal id.
#[derive(Clone, Debug)]
pub struct SubunitGrant {
    subject: PersonSubject,
    details: PersonDetails,
    subunit: Subunit,
    subunit_name: Option<String>,
    description: Option<String>,
    parent: Option<Nip>,
}

impl SubunitGrant {
    /// Appoints `subject` administrator of `subunit`.
    pub fn new(subject: impl Into<PersonSubject>, details: PersonDetails, subunit: Subunit) -> Self {
        Self { subject: subject.into(), details, subunit, subunit_name: None, description: None, parent: None }
    }

    /// Sets the sub-unit's name (5..=256; required for an internal id).
    pub fn subunit_name(mut self, name: &str) -> Self {
        self.subunit_name = Some(name.to_owned());
        self
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Declares the NIP of the context the grant is sent in, so that an internal id belonging
    /// to another NIP is rejected before sending.
    pub fn in_context(mut self, nip: Nip) -> Self {
        self.parent = Some(nip);
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::SubunitPermissionsGrantRequest, ValidationError> {
        use types::SubunitPermissionsContextIdentifierType as C;
        use types::SubunitPermissionsSubjectIdentifierType as S;
        let (type_, value) = person_subject(&self.subject, S::Nip, S::Pesel, S::Fingerprint)?;
        let (ctype, cvalue) = match &self.subunit {
            Subunit::Nip(n) => (C::Nip, n.as_str()),
            Subunit::InternalId(i) => {
                if self.subunit_name.is_none() {
                    return Err(ValidationError::Missing {
                        field: "subunitName",
                        why: "a sub-unit identified by an internal id needs a name (5..=256 characters)",
                    });
                }
                if let Some(parent) = &self.parent
                    && i.nip() != *parent
                {
                    return Err(ValidationError::not_allowed(
                        "contextIdentifier.value",
                        format!("internal id {i} belongs to NIP {}, not to the current context {parent}", i.nip()),
                    ));
                }
                (C::InternalId, i.as_str())
            }
        };
        Ok(types::SubunitPermissionsGrantRequest {
            context_identifier: types::SubunitPermissionsContextIdentifier {
                type_: ctype,
                value: model("contextIdentifier.value", cvalue)?,
            },
            description: description(self.description.as_deref())?,
            subject_details: self.details.to_model(&self.subject)?,
            subject_identifier: types::SubunitPermissionsSubjectIdentifier { type_, value },
            subunit_name: self.subunit_name.as_deref().map(|n| text("subunitName", n, 5, 256)).transpose()?,
        })
    }
}

/// `POST /permissions/eu-entities/administration/grants`: creates the compound `NipVatUe`
/// context and appoints its administrator, identified only by certificate fingerprint, who
/// automatically gets `VatUeManage`, `InvoiceWrite`, `InvoiceRead` and `Introspection` there.
/// Sent in a NIP context (the NIP part of the compound id) with `CredentialsManage`.
#[derive(Clone, Debug)]
pub struct EuAdministrationGrant {
    subject: Fingerprint,
    details: EuSubjectDetails,
    context: NipVatUe,
    entity: Option<(String, String)>,
    entity_name: Option<String>,
    description: Option<String>,
    parent: Option<Nip>,
}

impl EuAdministrationGrant {
    /// Appoints the holder of certificate `subject` administrator of the EU entity `context`.
    pub fn new(subject: Fingerprint, details: EuSubjectDetails, context: NipVatUe) -> Self {
        Self { subject, details, context, entity: None, entity_name: None, description: None, parent: None }
    }

    /// The EU entity's full name (1..=100) and address (1..=512): `euEntityDetails` (required).
    pub fn eu_entity(mut self, full_name: &str, address: &str) -> Self {
        self.entity = Some((full_name.to_owned(), address.to_owned()));
        self
    }

    /// `euEntityName` (5..=256); defaults to `"{full name}, {address}"`.
    pub fn eu_entity_name(mut self, name: &str) -> Self {
        self.entity_name = Some(name.to_owned());
        self
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Declares the NIP context the grant is sent in, so that a compound id with another NIP is
    /// rejected before sending.
    pub fn in_context(mut self, nip: Nip) -> Self {
        self.parent = Some(nip);
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::EuEntityAdministrationPermissionsGrantRequest, ValidationError> {
        let (full_name, address) = self.entity.ok_or(ValidationError::Missing {
            field: "euEntityDetails",
            why: "the EU entity's full name and address are required",
        })?;
        if let Some(parent) = &self.parent
            && self.context.nip() != *parent
        {
            return Err(ValidationError::not_allowed(
                "contextIdentifier.value",
                format!(
                    "the compound id {} starts with NIP {}, but the grant is sent in the context of NIP {parent}",
                    self.context,
                    self.context.nip()
                ),
            ));
        }
        let name = self.entity_name.unwrap_or_else(|| format!("{full_name}, {address}"));
        Ok(types::EuEntityAdministrationPermissionsGrantRequest {
            context_identifier: types::EuEntityAdministrationPermissionsContextIdentifier {
                type_: types::EuEntityAdministrationPermissionsContextIdentifierType::NipVatUe,
                value: model("contextIdentifier.value", self.context.as_str())?,
            },
            description: description(self.description.as_deref())?,
            eu_entity_details: types::EuEntityDetails {
                address: text("euEntityDetails.address", &address, 1, 512)?,
                full_name: text("euEntityDetails.fullName", &full_name, 1, 100)?,
            },
            eu_entity_name: text("euEntityName", &name, 5, 256)?,
            subject_details: self.details.to_model()?,
            subject_identifier: types::EuEntityAdministrationPermissionsSubjectIdentifier {
                type_: types::EuEntityAdministrationPermissionsSubjectIdentifierType::Fingerprint,
                value: model("subjectIdentifier.value", self.subject.as_str())?,
            },
        })
    }
}

/// `POST /permissions/eu-entities/grants`: the EU entity's administrator (in the `NipVatUe`
/// context, with `VatUeManage`) grants `InvoiceRead`/`InvoiceWrite` to a representative,
/// identified only by certificate fingerprint.
#[derive(Clone, Debug)]
pub struct EuRepresentativeGrant {
    subject: Fingerprint,
    details: EuSubjectDetails,
    permissions: Vec<EuEntityPermissionType>,
    description: Option<String>,
}

impl EuRepresentativeGrant {
    /// A grant to the holder of certificate `subject`.
    pub fn new(subject: Fingerprint, details: EuSubjectDetails) -> Self {
        Self { subject, details, permissions: Vec::new(), description: None }
    }

    /// Adds a permission.
    pub fn permission(mut self, p: EuEntityPermissionType) -> Self {
        self.permissions.push(p);
        self
    }

    /// Sets the description (5..=256 characters; required).
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_owned());
        self
    }

    /// Validates and builds the request body.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<types::EuEntityPermissionsGrantRequest, ValidationError> {
        unique_non_empty("permissions", &self.permissions)?;
        Ok(types::EuEntityPermissionsGrantRequest {
            description: description(self.description.as_deref())?,
            permissions: self.permissions,
            subject_details: self.details.to_model()?,
            subject_identifier: types::EuEntityPermissionsSubjectIdentifier {
                type_: types::EuEntityPermissionsSubjectIdentifierType::Fingerprint,
                value: model("subjectIdentifier.value", self.subject.as_str())?,
            },
        })
    }
}

macro_rules! build_call {
    ($($t:ty => $op:ident),* $(,)?) => {$(
        impl $t {
            #[doc = concat!("Validates and builds a [`Call`] of [`ops::", stringify!($op), "`] (for [`crate::wait`]).")]
            ///
            /// # Errors
            /// As `build`.
            pub fn build_call(self) -> Result<Call<ops::$op>, ValidationError> {
                Ok(Call::new((), self.build()?))
            }
        }
    )*};
}

build_call!(
    PersonGrant => GrantPersonPermissions,
    EntityGrant => GrantEntityPermissions,
    AuthorizationGrant => GrantAuthorizationPermissions,
    IndirectGrant => GrantIndirectPermissions,
    SubunitGrant => GrantSubunitPermissions,
    EuAdministrationGrant => GrantEuEntityAdministrationPermissions,
    EuRepresentativeGrant => GrantEuEntityPermissions,
);
