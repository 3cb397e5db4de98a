//! How request and response bodies of the generated types are encoded.

use ksef_model::XmlDocument;

/// A JSON body type (every request/response type of [`ksef_model::types`] that an operation uses).
///
/// Implement it for your own serde types to use them with [`crate::build_request`] /
/// [`crate::parse_response`] (e.g. test operations).
pub trait JsonBody: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: JsonBody> JsonBody for Vec<T> {}

/// A request body: JSON, raw XML ([`XmlDocument`], moved, never copied) or none (`()`).
pub trait RequestBody {
    /// The encoded bytes, or `None` when there is no body.
    fn into_body(self) -> Result<Option<Vec<u8>>, serde_json::Error>;
}

/// A success response body: JSON, raw XML ([`XmlDocument`]) or none (`()`).
pub trait ResponseBody: Sized {
    /// Decodes the body. On failure the bytes are handed back (they end up in the error).
    fn from_body(body: Vec<u8>) -> Result<Self, (Vec<u8>, serde_json::Error)>;
}

impl<T: JsonBody> RequestBody for T {
    fn into_body(self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        serde_json::to_vec(&self).map(Some)
    }
}

impl<T: JsonBody> ResponseBody for T {
    fn from_body(body: Vec<u8>) -> Result<Self, (Vec<u8>, serde_json::Error)> {
        serde_json::from_slice(&body).map_err(|e| (body, e))
    }
}

impl RequestBody for () {
    fn into_body(self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        Ok(None)
    }
}

impl ResponseBody for () {
    fn from_body(_body: Vec<u8>) -> Result<Self, (Vec<u8>, serde_json::Error)> {
        Ok(())
    }
}

impl RequestBody for XmlDocument {
    fn into_body(self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        Ok(Some(self.into_bytes()))
    }
}

impl ResponseBody for XmlDocument {
    fn from_body(body: Vec<u8>) -> Result<Self, (Vec<u8>, serde_json::Error)> {
        Ok(XmlDocument(body))
    }
}

macro_rules! json_bodies {
    ($($t:ident),* $(,)?) => { $(impl JsonBody for ksef_model::types::$t {})* };
}

// Every type the operation table uses as a JSON request or response body. The integration test
// `every_operation_builds` instantiates all 83 operations, so a missing entry fails to compile.
json_bodies!(
    PermissionsOperationResponse,
    SessionInvoicesResponse,
    AuthenticationInitResponse,
    TokenStatusResponse,
    SessionsQueryResponse,
    SessionStatusResponse,
    SessionInvoiceStatusResponse,
    SendInvoiceResponse,
    RetrieveCertificatesResponse,
    QueryTokensResponse,
    QuerySubunitPermissionsResponse,
    QuerySubordinateEntityRolesResponse,
    QueryPersonalPermissionsResponse,
    QueryPersonPermissionsResponse,
    QueryPeppolProvidersResponse,
    QueryInvoicesMetadataResponse,
    QueryEuEntityPermissionsResponse,
    QueryEntityRolesResponse,
    QueryEntityPermissionsResponse,
    QueryEntityAuthorizationPermissionsResponse,
    QueryCertificatesResponse,
    PermissionsOperationStatusResponse,
    OpenOnlineSessionResponse,
    OpenBatchSessionResponse,
    InvoiceExportStatusResponse,
    GenerateTokenResponse,
    GenerateCollectiveIdentifierResponse,
    ExportInvoicesResponse,
    EnrollCertificateResponse,
    EffectiveSubjectLimits,
    EffectiveContextLimits,
    EffectiveApiRateLimits,
    CollectiveIdentifiersQueryResponse,
    CollectiveIdentifiersByKsefNumberQueryResponse,
    CollectiveIdentifierInvoicesQueryResponse,
    CheckAttachmentPermissionStatusResponse,
    CertificateLimitsResponse,
    CertificateEnrollmentStatusResponse,
    CertificateEnrollmentDataResponse,
    AuthenticationTokensResponse,
    AuthenticationTokenRefreshResponse,
    AuthenticationOperationStatusResponse,
    AuthenticationListResponse,
    AuthenticationChallengeResponse,
    PublicKeyCertificate,
    UnblockContextAuthenticationRequest,
    TestDataUpdateCertificateRequest,
    TestDataPermissionsRevokeRequest,
    TestDataPermissionsGrantRequest,
    SubunitPermissionsQueryRequest,
    SubunitPermissionsGrantRequest,
    SubordinateEntityRolesQueryRequest,
    SubjectRemoveRequest,
    SubjectCreateRequest,
    SetSubjectLimitsRequest,
    SetSessionLimitsRequest,
    SetRateLimitsRequest,
    SendInvoiceRequest,
    RevokeCertificateRequest,
    RetrieveCertificatesRequest,
    QueryCertificatesRequest,
    PersonalPermissionsQueryRequest,
    PersonRemoveRequest,
    PersonPermissionsQueryRequest,
    PersonPermissionsGrantRequest,
    PersonCreateRequest,
    OpenOnlineSessionRequest,
    OpenBatchSessionRequest,
    InvoiceQueryFilters,
    InvoiceExportRequest,
    InitTokenAuthenticationRequest,
    IndirectPermissionsGrantRequest,
    GenerateTokenRequest,
    GenerateCollectiveIdentifierRequest,
    EuEntityPermissionsQueryRequest,
    EuEntityPermissionsGrantRequest,
    EuEntityAdministrationPermissionsGrantRequest,
    EntityPermissionsQueryRequest,
    EntityPermissionsGrantRequest,
    EntityAuthorizationPermissionsQueryRequest,
    EntityAuthorizationPermissionsGrantRequest,
    EnrollCertificateRequest,
    CollectiveIdentifiersQueryRequest,
    CollectiveIdentifierInvoicesQueryRequest,
    BlockContextAuthenticationRequest,
    AttachmentPermissionRevokeRequest,
    AttachmentPermissionGrantRequest,
);
