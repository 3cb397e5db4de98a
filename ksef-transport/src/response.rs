//! Sans-IO: `http::Response<Vec<u8>>` -> typed value or [`Error`].

use http::{HeaderMap, StatusCode};
use ksef_model::{Operation, OperationSpec};

use crate::{ApiError, DecodeError, Error, HttpResponse, ResponseBody, SystemWarning, system_warnings};

/// A successful response: the typed value plus what the headers said.
#[derive(Clone, Debug)]
pub struct Response<T> {
    /// The decoded body.
    pub value: T,
    /// The HTTP status.
    pub status: StatusCode,
    /// `X-System-Warning` items (empty when there were none).
    pub warnings: Vec<SystemWarning>,
    /// All response headers.
    pub headers: HeaderMap,
}

impl<T> Response<T> {
    /// `x-ms-meta-hash` (Base64 SHA-256 of the returned bytes; invoice, UPO, export parts).
    pub fn meta_hash(&self) -> Option<&str> {
        self.header("x-ms-meta-hash")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Drops the headers.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Maps the value, keeping status, warnings and headers.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response { value: f(self.value), status: self.status, warnings: self.warnings, headers: self.headers }
    }
}

/// Parses the response of operation `O`: any 2xx is decoded as `O::Response`; anything else is
/// an [`Error::Api`].
pub fn parse_response<O>(resp: HttpResponse) -> Result<Response<O::Response>, Error>
where
    O: Operation,
    O::Response: ResponseBody,
{
    decode_body::<O>(check_response(O::SPEC, resp)?)
}

/// Decodes the body of a response [`check_response`] accepted as `O::Response`.
pub fn decode_body<O>(raw: Response<Vec<u8>>) -> Result<Response<O::Response>, Error>
where
    O: Operation,
    O::Response: ResponseBody,
{
    let Response { value, status, warnings, headers } = raw;
    match O::Response::from_body(value) {
        Ok(value) => Ok(Response { value, status, warnings, headers }),
        Err((body, e)) => Err(decode_error(O::SPEC, status, body, e)),
    }
}

fn decode_error(spec: &OperationSpec, status: StatusCode, body: Vec<u8>, e: serde_json::Error) -> Error {
    Error::Decode(DecodeError::new(status, spec.response.type_name.unwrap_or("body"), body, e))
}

/// The non-generic core of [`parse_response`]: error statuses become [`Error::Api`], warnings are
/// parsed and logged, the body is handed back untouched.
pub fn check_response(spec: &OperationSpec, resp: HttpResponse) -> Result<Response<Vec<u8>>, Error> {
    check_named(spec.name, resp)
}

pub(crate) fn check_named(name: &'static str, resp: HttpResponse) -> Result<Response<Vec<u8>>, Error> {
    let (parts, body) = resp.into_parts();
    if !parts.status.is_success() {
        return Err(Error::Api(Box::new(ApiError::from_response(name, parts.status, &parts.headers, body))));
    }
    let warnings = system_warnings(&parts.headers);
    for w in &warnings {
        tracing::warn!(target: "ksef_transport", operation = name, code = %w.code, message = %w.message, "X-System-Warning");
    }
    Ok(Response { value: body, status: parts.status, warnings, headers: parts.headers })
}
