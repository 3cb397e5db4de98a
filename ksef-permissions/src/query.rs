//! Queries, revocations and status checks, each built as a [`Call`]: the operation's path/query
//! parameters plus its body, ready for any `ksef-transport` transport.

use core::fmt;

use ksef_model::operations::{self as ops};
use ksef_model::types::{self, InvoicePermissionType, PersonPermissionType, PersonalPermissionType};
use ksef_model::{InternalId, Nip, NipVatUe, Operation, ReferenceNumber};
use ksef_transport::{
    AsyncTransport, Error, Pipeline, RequestBody, RequestContext, Response, ResponseBody, SyncTransport,
};

use crate::error::{ValidationError, model};
use crate::grant::{AuthorizedEntity, Subunit};
use crate::subject::PersonSubject;

/// One validated request of operation `O`: its parameters and its body.
pub struct Call<O: Operation> {
    /// Path, query and header parameters.
    pub params: O::Params,
    /// The request body (`()` when the operation has none).
    pub body: O::Request,
}

impl<O: Operation> fmt::Debug for Call<O>
where
    O::Params: fmt::Debug,
    O::Request: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("operation", &O::SPEC.name)
            .field("params", &self.params)
            .field("body", &self.body)
            .finish()
    }
}

impl<O: Operation> Clone for Call<O>
where
    O::Params: Clone,
    O::Request: Clone,
{
    fn clone(&self) -> Self {
        Self { params: self.params.clone(), body: self.body.clone() }
    }
}

impl<O> Call<O>
where
    O: Operation,
    O::Request: RequestBody,
    O::Response: ResponseBody,
{
    /// Wraps parameters and body.
    pub fn new(params: O::Params, body: O::Request) -> Self {
        Self { params, body }
    }

    /// The request as `http::Request`, sans-IO.
    ///
    /// # Errors
    /// [`Error::Build`] when the body cannot be encoded or the context lacks a token.
    pub fn build_request(self, ctx: &RequestContext) -> Result<ksef_transport::HttpRequest, Error> {
        ksef_transport::build_request::<O>(ctx, &self.params, self.body)
    }

    /// Sends it once with a blocking transport (no limiter, no retries).
    ///
    /// # Errors
    /// Whatever `ksef_transport::send_blocking` returns.
    pub fn send_blocking<T: SyncTransport + ?Sized>(
        self,
        transport: &T,
        ctx: &RequestContext,
    ) -> Result<Response<O::Response>, Error> {
        ksef_transport::send_blocking::<O, T>(transport, ctx, &self.params, self.body)
    }

    /// Sends it once with an async transport (no limiter, no retries).
    ///
    /// # Errors
    /// Whatever `ksef_transport::send_async` returns.
    pub async fn send_async<T: AsyncTransport + ?Sized>(
        self,
        transport: &T,
        ctx: &RequestContext,
    ) -> Result<Response<O::Response>, Error> {
        ksef_transport::send_async::<O, T>(transport, ctx, &self.params, self.body).await
    }

    /// Sends it through a [`Pipeline`] (rate limiting and retries), blocking.
    ///
    /// # Errors
    /// Whatever [`Pipeline::execute_blocking`] returns.
    pub fn execute_blocking<T: SyncTransport + ?Sized>(
        self,
        pipeline: &Pipeline,
        transport: &T,
        ctx: &RequestContext,
        sleep: impl Fn(std::time::Duration),
    ) -> Result<Response<O::Response>, Error> {
        pipeline.execute_blocking::<O, T>(transport, ctx, &self.params, self.body, sleep)
    }

    /// Sends it through a [`Pipeline`] (rate limiting and retries), async; `sleep` returns a
    /// future (e.g. `tokio::time::sleep`).
    ///
    /// # Errors
    /// Whatever [`Pipeline::execute_async`] returns.
    pub async fn execute_async<T, S, F>(
        self,
        pipeline: &Pipeline,
        transport: &T,
        ctx: &RequestContext,
        sleep: S,
    ) -> Result<Response<O::Response>, Error>
    where
        T: AsyncTransport + Sync + ?Sized,
        S: Fn(std::time::Duration) -> F,
        F: std::future::Future<Output = ()>,
    {
        pipeline.execute_async::<O, T, S, F>(transport, ctx, &self.params, self.body, sleep).await
    }
}

/// Offset paging of the permission queries: page `offset` (≥ 0) of `size` items (10..=100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Page {
    offset: i32,
    size: i32,
}

impl Page {
    /// Validates a page.
    ///
    /// # Errors
    /// `pageSize` outside 10..=100 or `pageOffset` too large.
    pub fn new(offset: u32, size: u32) -> Result<Self, ValidationError> {
        if !(10..=100).contains(&size) {
            return Err(ValidationError::not_allowed("pageSize", format!("a page holds 10..=100 items, got {size}")));
        }
        let offset = i32::try_from(offset)
            .map_err(|_| ValidationError::not_allowed("pageOffset", format!("{offset} is beyond the largest page")))?;
        Ok(Self { offset, size: size as i32 })
    }

    /// The page number (0-based).
    pub fn offset(&self) -> u32 {
        self.offset as u32
    }

    /// Items per page.
    pub fn size(&self) -> u32 {
        self.size as u32
    }

    fn parts(page: Option<Self>) -> (Option<i32>, Option<i32>) {
        page.map_or((None, None), |p| (Some(p.offset), Some(p.size)))
    }
}

macro_rules! paged_params {
    ($t:path, $page:expr) => {{
        let (page_offset, page_size) = Page::parts($page);
        $t { page_offset, page_size }
    }};
}

/// A context (or grantor) filter: a NIP or an internal id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContextFilter {
    /// By NIP.
    Nip(Nip),
    /// By internal id (sub-unit).
    InternalId(InternalId),
}

impl ContextFilter {
    /// The wire type name and value.
    fn wire(&self) -> (&'static str, &str) {
        match self {
            Self::Nip(n) => ("Nip", n.as_str()),
            Self::InternalId(i) => ("InternalId", i.as_str()),
        }
    }
}

/// A target filter of indirect grants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TargetFilter {
    /// Grants for this client.
    Nip(Nip),
    /// Grants for this client's sub-unit.
    InternalId(InternalId),
    /// General grants (all clients).
    AllPartners,
}

impl TargetFilter {
    /// The wire type name and value (none for `AllPartners`).
    fn wire(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Nip(n) => ("Nip", Some(n.as_str())),
            Self::InternalId(i) => ("InternalId", Some(i.as_str())),
            Self::AllPartners => ("AllPartners", None),
        }
    }
}

/// `permissionState` filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateFilter {
    /// Usable now.
    Active,
    /// No longer usable (e.g. the intermediary lost the delegated right).
    Inactive,
}

impl StateFilter {
    fn to_model(self) -> types::PermissionState {
        match self {
            Self::Active => types::PermissionState::Active,
            Self::Inactive => types::PermissionState::Inactive,
        }
    }
}

/// `POST /permissions/query/personal/grants`: the caller's own permissions.
#[derive(Clone, Debug, Default)]
pub struct PersonalQuery {
    context: Option<ContextFilter>,
    target: Option<TargetFilter>,
    permission_types: Vec<PersonalPermissionType>,
    state: Option<StateFilter>,
    page: Option<Page>,
}

impl PersonalQuery {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only permissions in this context.
    pub fn context(mut self, c: ContextFilter) -> Self {
        self.context = Some(c);
        self
    }
    /// Only indirect permissions for this target.
    pub fn target(mut self, t: TargetFilter) -> Self {
        self.target = Some(t);
        self
    }
    /// Only these permission types.
    pub fn permission_type(mut self, p: PersonalPermissionType) -> Self {
        self.permission_types.push(p);
        self
    }
    /// Only active or inactive permissions.
    pub fn state(mut self, s: StateFilter) -> Self {
        self.state = Some(s);
        self
    }
    /// Which page.
    pub fn page(mut self, p: Page) -> Self {
        self.page = Some(p);
        self
    }

    /// Builds the call.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<Call<ops::QueryPersonalPermissions>, ValidationError> {
        let context_identifier = self
            .context
            .as_ref()
            .map(|c| {
                let (kind, value) = c.wire();
                Ok::<_, ValidationError>(types::PersonalPermissionsContextIdentifier {
                    type_: model("contextIdentifier.type", kind)?,
                    value: model("contextIdentifier.value", value)?,
                })
            })
            .transpose()?;
        let target_identifier = self
            .target
            .as_ref()
            .map(|t| {
                let (kind, value) = t.wire();
                Ok::<_, ValidationError>(types::PersonalPermissionsTargetIdentifier {
                    type_: model("targetIdentifier.type", kind)?,
                    value: value.map(|v| model("targetIdentifier.value", v)).transpose()?,
                })
            })
            .transpose()?;
        Ok(Call::new(
            paged_params!(ops::QueryPersonalPermissionsParams, self.page),
            types::PersonalPermissionsQueryRequest {
                context_identifier,
                permission_state: self.state.map(StateFilter::to_model),
                permission_types: non_empty(self.permission_types),
                target_identifier,
            },
        ))
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Who granted a permission (`authorIdentifier` filter).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthorFilter {
    /// A person or entity.
    Subject(PersonSubject),
    /// The system (rights from the ZAW-FA paper form).
    System,
}

/// `queryType` of the persons query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersonsQueryType {
    /// Permissions that work in the current context.
    InCurrentContext,
    /// Permissions granted from the current context (including indirect ones it passed on).
    GrantedInCurrentContext,
}

/// `POST /permissions/query/persons/grants`: permissions of people in (or granted from) the
/// current context.
#[derive(Clone, Debug)]
pub struct PersonsQuery {
    query_type: PersonsQueryType,
    author: Option<AuthorFilter>,
    authorized: Option<PersonSubject>,
    context: Option<ContextFilter>,
    target: Option<TargetFilter>,
    permission_types: Vec<PersonPermissionType>,
    state: Option<StateFilter>,
    page: Option<Page>,
}

impl PersonsQuery {
    /// A query of this type, without filters.
    pub fn new(query_type: PersonsQueryType) -> Self {
        Self {
            query_type,
            author: None,
            authorized: None,
            context: None,
            target: None,
            permission_types: Vec::new(),
            state: None,
            page: None,
        }
    }
    /// Only permissions granted by this author.
    pub fn author(mut self, a: AuthorFilter) -> Self {
        self.author = Some(a);
        self
    }
    /// Only permissions held by this subject.
    pub fn authorized(mut self, s: PersonSubject) -> Self {
        self.authorized = Some(s);
        self
    }
    /// Only permissions in this context.
    pub fn context(mut self, c: ContextFilter) -> Self {
        self.context = Some(c);
        self
    }
    /// Only indirect permissions for this target.
    pub fn target(mut self, t: TargetFilter) -> Self {
        self.target = Some(t);
        self
    }
    /// Only these permission types.
    pub fn permission_type(mut self, p: PersonPermissionType) -> Self {
        self.permission_types.push(p);
        self
    }
    /// Only active or inactive permissions.
    pub fn state(mut self, s: StateFilter) -> Self {
        self.state = Some(s);
        self
    }
    /// Which page.
    pub fn page(mut self, p: Page) -> Self {
        self.page = Some(p);
        self
    }

    /// Builds the call.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<Call<ops::QueryPersonPermissions>, ValidationError> {
        use types::PersonPermissionsAuthorIdentifierType as A;
        use types::PersonPermissionsAuthorizedIdentifierType as Z;
        let author_identifier = match &self.author {
            None => None,
            Some(AuthorFilter::System) => {
                Some(types::PersonPermissionsAuthorIdentifier { type_: A::System, value: None })
            }
            Some(AuthorFilter::Subject(s)) => {
                let t = match s {
                    PersonSubject::Nip(_) => A::Nip,
                    PersonSubject::Pesel(_) => A::Pesel,
                    PersonSubject::Fingerprint(_) => A::Fingerprint,
                };
                Some(types::PersonPermissionsAuthorIdentifier {
                    type_: t,
                    value: Some(model("authorIdentifier.value", s.wire().1)?),
                })
            }
        };
        let authorized_identifier = match &self.authorized {
            None => None,
            Some(s) => {
                let t = match s {
                    PersonSubject::Nip(_) => Z::Nip,
                    PersonSubject::Pesel(_) => Z::Pesel,
                    PersonSubject::Fingerprint(_) => Z::Fingerprint,
                };
                Some(types::PersonPermissionsAuthorizedIdentifier {
                    type_: t,
                    value: model("authorizedIdentifier.value", s.wire().1)?,
                })
            }
        };
        let context_identifier = self
            .context
            .as_ref()
            .map(|c| {
                let (kind, value) = c.wire();
                Ok::<_, ValidationError>(types::PersonPermissionsContextIdentifier {
                    type_: model("contextIdentifier.type", kind)?,
                    value: model("contextIdentifier.value", value)?,
                })
            })
            .transpose()?;
        let target_identifier = self
            .target
            .as_ref()
            .map(|t| {
                let (kind, value) = t.wire();
                Ok::<_, ValidationError>(types::PersonPermissionsTargetIdentifier {
                    type_: model("targetIdentifier.type", kind)?,
                    value: value.map(|v| model("targetIdentifier.value", v)).transpose()?,
                })
            })
            .transpose()?;
        Ok(Call::new(
            paged_params!(ops::QueryPersonPermissionsParams, self.page),
            types::PersonPermissionsQueryRequest {
                author_identifier,
                authorized_identifier,
                context_identifier,
                permission_state: self.state.map(StateFilter::to_model),
                permission_types: non_empty(self.permission_types),
                query_type: match self.query_type {
                    PersonsQueryType::InCurrentContext => {
                        types::PersonPermissionsQueryType::PermissionsInCurrentContext
                    }
                    PersonsQueryType::GrantedInCurrentContext => {
                        types::PersonPermissionsQueryType::PermissionsGrantedInCurrentContext
                    }
                },
                target_identifier,
            },
        ))
    }
}

/// `POST /permissions/query/subunits/grants`: administrators of sub-units appointed from the
/// current context, optionally of one sub-unit.
///
/// # Errors
/// A [`ValidationError`] if the model refuses the identifier.
pub fn subunits_query(
    subunit: Option<&Subunit>,
    page: Option<Page>,
) -> Result<Call<ops::QuerySubunitPermissions>, ValidationError> {
    use types::SubunitPermissionsSubunitIdentifierType as S;
    let subunit_identifier = match subunit {
        None => None,
        Some(Subunit::Nip(n)) => Some(types::SubunitPermissionsSubunitIdentifier {
            type_: S::Nip,
            value: model("subunitIdentifier.value", n.as_str())?,
        }),
        Some(Subunit::InternalId(i)) => Some(types::SubunitPermissionsSubunitIdentifier {
            type_: S::InternalId,
            value: model("subunitIdentifier.value", i.as_str())?,
        }),
    };
    Ok(Call::new(
        paged_params!(ops::QuerySubunitPermissionsParams, page),
        types::SubunitPermissionsQueryRequest { subunit_identifier },
    ))
}

/// `POST /permissions/query/entities/grants`: entity grants the current context *received*,
/// optionally only from one grantor.
///
/// # Errors
/// A [`ValidationError`] if the model refuses an identifier.
pub fn entities_grants_query(
    grantor: Option<&ContextFilter>,
    page: Option<Page>,
) -> Result<Call<ops::QueryEntityPermissions>, ValidationError> {
    use types::EntityPermissionsContextIdentifierType as C;
    let context_identifier = match grantor {
        None => None,
        Some(ContextFilter::Nip(n)) => Some(types::EntityPermissionsContextIdentifier {
            type_: C::Nip,
            value: model("contextIdentifier.value", n.as_str())?,
        }),
        Some(ContextFilter::InternalId(i)) => Some(types::EntityPermissionsContextIdentifier {
            type_: C::InternalId,
            value: model("contextIdentifier.value", i.as_str())?,
        }),
    };
    Ok(Call::new(
        paged_params!(ops::QueryEntityPermissionsParams, page),
        types::EntityPermissionsQueryRequest { context_identifier },
    ))
}

/// `GET /permissions/query/entities/roles`: the current context's roles.
pub fn entity_roles_query(page: Option<Page>) -> Call<ops::QueryEntityRoles> {
    Call::new(paged_params!(ops::QueryEntityRolesParams, page), ())
}

/// `POST /permissions/query/subordinate-entities/roles`: roles of subordinate entities,
/// optionally of one.
///
/// # Errors
/// A [`ValidationError`] if the model refuses the identifier.
pub fn subordinate_roles_query(
    subordinate: Option<&Nip>,
    page: Option<Page>,
) -> Result<Call<ops::QuerySubordinateEntityRoles>, ValidationError> {
    let subordinate_entity_identifier = match subordinate {
        None => None,
        Some(n) => Some(types::EntityPermissionsSubordinateEntityIdentifier {
            type_: types::EntityPermissionsSubordinateEntityIdentifierType::Nip,
            value: model("subordinateEntityIdentifier.value", n.as_str())?,
        }),
    };
    Ok(Call::new(
        paged_params!(ops::QuerySubordinateEntityRolesParams, page),
        types::SubordinateEntityRolesQueryRequest { subordinate_entity_identifier },
    ))
}

/// `POST /permissions/query/authorizations/grants`: authorizations granted by the current
/// context ([`granted`](Self::granted), filter by the authorized entity) or received by it
/// ([`received`](Self::received), filter by the authorizing NIP).
#[derive(Clone, Debug)]
pub struct AuthorizationsQuery {
    query_type: types::QueryType,
    authorized: Option<AuthorizedEntity>,
    authorizing: Option<Nip>,
    permission_types: Vec<InvoicePermissionType>,
    page: Option<Page>,
}

impl AuthorizationsQuery {
    /// Authorizations the current context granted.
    pub fn granted() -> Self {
        Self::new(types::QueryType::Granted)
    }
    /// Authorizations the current context received.
    pub fn received() -> Self {
        Self::new(types::QueryType::Received)
    }
    fn new(query_type: types::QueryType) -> Self {
        Self { query_type, authorized: None, authorizing: None, permission_types: Vec::new(), page: None }
    }
    /// Only authorizations for this entity (with [`granted`](Self::granted) only).
    pub fn authorized(mut self, e: AuthorizedEntity) -> Self {
        self.authorized = Some(e);
        self
    }
    /// Only authorizations from this NIP (with [`received`](Self::received) only).
    pub fn authorizing(mut self, n: Nip) -> Self {
        self.authorizing = Some(n);
        self
    }
    /// Only these kinds.
    pub fn permission_type(mut self, p: InvoicePermissionType) -> Self {
        self.permission_types.push(p);
        self
    }
    /// Which page.
    pub fn page(mut self, p: Page) -> Self {
        self.page = Some(p);
        self
    }

    /// Builds the call.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<Call<ops::QueryAuthorizationPermissions>, ValidationError> {
        use types::EntityAuthorizationsAuthorizedEntityIdentifierType as Z;
        let granted = self.query_type == types::QueryType::Granted;
        if granted && self.authorizing.is_some() {
            return Err(ValidationError::not_allowed(
                "authorizingIdentifier",
                "filters by the authorizing entity only in a Received query (a Granted query lists what the current context granted)",
            ));
        }
        if !granted && self.authorized.is_some() {
            return Err(ValidationError::not_allowed(
                "authorizedIdentifier",
                "filters by the authorized entity only in a Granted query (a Received query lists what the current context received)",
            ));
        }
        let authorized_identifier = match &self.authorized {
            None => None,
            Some(AuthorizedEntity::Nip(n)) => Some(types::EntityAuthorizationsAuthorizedEntityIdentifier {
                type_: Z::Nip,
                value: model("authorizedIdentifier.value", n.as_str())?,
            }),
            Some(AuthorizedEntity::PeppolId(p)) => Some(types::EntityAuthorizationsAuthorizedEntityIdentifier {
                type_: Z::PeppolId,
                value: model("authorizedIdentifier.value", p.as_str())?,
            }),
        };
        let authorizing_identifier = match &self.authorizing {
            None => None,
            Some(n) => Some(types::EntityAuthorizationsAuthorizingEntityIdentifier {
                type_: types::EntityAuthorizationsAuthorizingEntityIdentifierType::Nip,
                value: model("authorizingIdentifier.value", n.as_str())?,
            }),
        };
        Ok(Call::new(
            paged_params!(ops::QueryAuthorizationPermissionsParams, self.page),
            types::EntityAuthorizationPermissionsQueryRequest {
                authorized_identifier,
                authorizing_identifier,
                permission_types: non_empty(self.permission_types),
                query_type: self.query_type,
            },
        ))
    }
}

/// `POST /permissions/query/eu-entities/grants`: EU-entity administrators and representatives.
#[derive(Clone, Debug, Default)]
pub struct EuEntitiesQuery {
    vat_ue: Option<String>,
    fingerprint: Option<String>,
    permission_types: Vec<types::EuEntityPermissionsQueryPermissionType>,
    page: Option<Page>,
}

impl EuEntitiesQuery {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only this EU entity (exact match on its EU VAT number, e.g. `DE123456789`).
    pub fn vat_ue(mut self, v: &str) -> Self {
        self.vat_ue = Some(v.to_owned());
        self
    }
    /// Only this EU entity, taken from its compound id.
    pub fn eu_entity(self, id: &NipVatUe) -> Self {
        self.vat_ue(id.vat_ue())
    }
    /// Only fingerprints containing this hexadecimal text.
    pub fn fingerprint_contains(mut self, hex: &str) -> Self {
        self.fingerprint = Some(hex.to_owned());
        self
    }
    /// Only these permission types.
    pub fn permission_type(mut self, p: types::EuEntityPermissionsQueryPermissionType) -> Self {
        self.permission_types.push(p);
        self
    }
    /// Which page.
    pub fn page(mut self, p: Page) -> Self {
        self.page = Some(p);
        self
    }

    /// Builds the call.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the rule it breaks.
    pub fn build(self) -> Result<Call<ops::QueryEuEntityPermissions>, ValidationError> {
        if let Some(f) = &self.fingerprint
            && (f.is_empty() || f.len() > 64 || !f.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ValidationError::not_allowed(
                "authorizedFingerprintIdentifier",
                "a fingerprint filter is 1..=64 hexadecimal digits",
            ));
        }
        let vat_ue_identifier = match &self.vat_ue {
            None => None,
            Some(v) => Some(model("vatUeIdentifier", v).map_err(|_| {
                ValidationError::not_allowed(
                    "vatUeIdentifier",
                    format!("`{v}` is not an EU VAT number in a format KSeF accepts (country prefix + number)"),
                )
            })?),
        };
        Ok(Call::new(
            paged_params!(ops::QueryEuEntityPermissionsParams, self.page),
            types::EuEntityPermissionsQueryRequest {
                authorized_fingerprint_identifier: self.fingerprint.map(|f| f.to_ascii_uppercase()),
                permission_types: non_empty(self.permission_types),
                vat_ue_identifier,
            },
        ))
    }
}

fn permission_id(value: &str) -> Result<String, ValidationError> {
    let n = value.chars().count();
    if n != 36 {
        return Err(ValidationError::Length { field: "permissionId", min: 36, max: 36, actual: n });
    }
    Ok(value.to_owned())
}

/// `DELETE /permissions/common/grants/{permissionId}`: revokes a person, entity, indirect,
/// sub-unit administrator, EU administrator or EU representative grant. Get the id from a query.
///
/// # Errors
/// `permissionId` is not 36 characters long.
pub fn revoke_common(permission_id_: &str) -> Result<Call<ops::RevokeCommonPermission>, ValidationError> {
    Ok(Call::new(ops::RevokeCommonPermissionParams { permission_id: permission_id(permission_id_)? }, ()))
}

/// `DELETE /permissions/authorizations/grants/{permissionId}`: revokes a SelfInvoicing,
/// RRInvoicing, TaxRepresentative or PefInvoicing authorization.
///
/// # Errors
/// `permissionId` is not 36 characters long.
pub fn revoke_authorization(permission_id_: &str) -> Result<Call<ops::RevokeAuthorizationPermission>, ValidationError> {
    Ok(Call::new(ops::RevokeAuthorizationPermissionParams { permission_id: permission_id(permission_id_)? }, ()))
}

/// `GET /permissions/operations/{referenceNumber}`: status of a grant or revocation.
pub fn operation_status(reference: &ReferenceNumber) -> Call<ops::GetPermissionOperationStatus> {
    Call::new(ops::GetPermissionOperationStatusParams { reference_number: reference.as_str().to_owned() }, ())
}

/// `GET /permissions/attachments/status`: whether the context may issue invoices with attachments.
pub fn attachment_status() -> Call<ops::GetAttachmentPermissionStatus> {
    Call::new((), ())
}
