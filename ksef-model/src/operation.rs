//! The shape of the generated operation table (data only: this crate knows nothing of HTTP).

/// An HTTP method used by the KSeF API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method as it appears on the wire (`"GET"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// Whether repeating the request cannot change the outcome (RFC 9110 §9.2.2).
    pub const fn is_idempotent(self) -> bool {
        matches!(self, Self::Get | Self::Put | Self::Delete)
    }
}

impl core::fmt::Display for Method {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a parameter travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamLocation {
    /// In the path template (`{referenceNumber}`).
    Path,
    /// In the query string; arrays repeat the name (`?a=1&a=2`).
    Query,
    /// In a request header (`x-continuation-token`).
    Header,
}

/// One parameter of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Wire name (`pageSize`, `x-continuation-token`).
    pub name: &'static str,
    /// Where it travels.
    pub location: ParamLocation,
    /// Whether the operation requires it.
    pub required: bool,
    /// The Rust type of the field in the operation's `…Params` struct.
    pub rust_type: &'static str,
    /// Whether it repeats (query arrays).
    pub array: bool,
    /// Inclusive lower bound (integers).
    pub minimum: Option<i64>,
    /// Inclusive upper bound (integers).
    pub maximum: Option<i64>,
    /// Minimum length (strings).
    pub min_length: Option<u64>,
    /// Maximum length (strings).
    pub max_length: Option<u64>,
    /// The server's default when the parameter is absent.
    pub default: Option<&'static str>,
}

/// A request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodySpec {
    /// Media type (`application/json`, `application/xml`).
    pub content_type: &'static str,
    /// Name of the type in [`crate::types`], `Vec<…>` of one, or `XmlDocument`.
    pub type_name: &'static str,
    /// Whether the body is required.
    pub required: bool,
}

/// The success response of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseSpec {
    /// The one 2xx status KSeF answers with.
    pub status: u16,
    /// Media type of the body, if it has one.
    pub content_type: Option<&'static str>,
    /// Name of the body type (as in [`BodySpec::type_name`]), if it has a body.
    pub type_name: Option<&'static str>,
    /// Response headers the spec declares (e.g. `X-System-Warning`, `x-ms-meta-hash`).
    pub headers: &'static [&'static str],
}

/// The spec's `x-rate-limits`: default limits of the operation's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimits {
    /// Requests per sliding second.
    pub per_second: u32,
    /// Requests per sliding minute, if limited.
    pub per_minute: Option<u32>,
    /// Requests per sliding hour, if limited.
    pub per_hour: Option<u32>,
}

/// Sort direction of an `x-sort` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortDirection {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// One `x-sort` entry: the server's default order of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortSpec {
    /// Field sorted on.
    pub field: &'static str,
    /// Direction.
    pub direction: SortDirection,
}

/// Everything the spec says about one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationSpec {
    /// Reviewed snake_case name (`open_online_session`).
    pub name: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path template without the `/v2` prefix (`/sessions/online/{referenceNumber}/invoices`).
    pub path: &'static str,
    /// The spec's tag (Polish), e.g. `Wysyłka interaktywna`.
    pub tag: &'static str,
    /// The spec's summary (Polish).
    pub summary: &'static str,
    /// Path parameters.
    pub path_params: &'static [ParamSpec],
    /// Query parameters.
    pub query_params: &'static [ParamSpec],
    /// Header parameters.
    pub header_params: &'static [ParamSpec],
    /// Request body, if any.
    pub request_body: Option<BodySpec>,
    /// Success response.
    pub response: ResponseSpec,
    /// Error statuses the spec documents (400, 401, 403, 410, 429).
    pub error_statuses: &'static [u16],
    /// Whether a bearer token is required.
    pub bearer: bool,
    /// Default rate limits (`x-rate-limits`).
    pub rate_limits: RateLimits,
    /// Name of the rate-limit group (a field of [`crate::types::EffectiveApiRateLimits`]).
    pub rate_limit_group: &'static str,
    /// Any one of these permissions suffices (`x-required-permissions`); empty: none needed.
    pub required_permissions: &'static [&'static str],
    /// Default order of a listing (`x-sort`).
    pub sort: &'static [SortSpec],
}

impl OperationSpec {
    /// Looks an operation up by its snake_case name.
    pub fn by_name(name: &str) -> Option<&'static OperationSpec> {
        crate::OPERATIONS.iter().copied().find(|o| o.name == name)
    }

    /// Looks an operation up by method and concrete path (without `/v2`), matching templates.
    pub fn by_route(method: Method, path: &str) -> Option<&'static OperationSpec> {
        // A literal segment beats a `{param}` segment (`/sessions/{ref}/invoices/failed` vs
        // `/sessions/{ref}/invoices/{invoiceRef}`), so prefer the template with more literals.
        crate::OPERATIONS
            .iter()
            .copied()
            .filter(|o| o.method == method && template_matches(o.path, path))
            .max_by_key(|o| o.path.split('/').filter(|s| !s.starts_with('{')).count())
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// A KSeF API operation, implemented by the zero-sized marker types in [`crate::operations`].
///
/// The associated types say what travels: `Params` (path, query and header parameters), `Request`
/// (the body: a JSON type, [`crate::XmlDocument`], or `()`) and `Response` (the success body).
pub trait Operation {
    /// What the spec says about the operation.
    const SPEC: &'static OperationSpec;
    /// Path, query and header parameters (`()` when there are none).
    type Params: OperationParams;
    /// Request body type (`()` when there is none).
    type Request;
    /// Success response body type (`()` when there is none).
    type Response;
}

/// The parameters of one operation, rendered as wire strings.
pub trait OperationParams {
    /// `(name, value)` for each path parameter.
    fn path_params(&self) -> Vec<(&'static str, String)>;
    /// `(name, value)` for each query parameter; arrays repeat the name.
    fn query_params(&self) -> Vec<(&'static str, String)>;
    /// `(name, value)` for each header parameter that is set.
    fn header_params(&self) -> Vec<(&'static str, String)>;
}

impl OperationParams for () {
    fn path_params(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    fn query_params(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    fn header_params(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A date-time as KSeF expects it in a query string: RFC 3339 in UTC.
#[doc(hidden)]
pub fn param_date_time(v: &chrono::DateTime<chrono::Utc>) -> String {
    v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The rate-limit groups a rate-limit override (`ApiRateLimitsOverride`, the body of
/// `POST /testdata/rate-limits`) must name, in the spec's order. A test checks them against the
/// pinned spec.
pub const RATE_LIMIT_OVERRIDE_GROUPS: [&str; 13] = [
    "onlineSession",
    "batchSession",
    "invoiceSend",
    "invoiceStatus",
    "sessionList",
    "sessionInvoiceList",
    "sessionMisc",
    "invoiceMetadata",
    "invoiceExport",
    "invoiceExportStatus",
    "invoiceDownload",
    "collectiveIdentifier",
    "other",
];
