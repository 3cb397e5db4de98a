//! Sans-IO: operation + context + params + body -> `http::Request<Vec<u8>>`.

use http::{HeaderName, HeaderValue, header};
use ksef_model::{Operation, OperationParams, OperationSpec};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{BuildError, Error, HttpRequest, RequestBody, RequestContext};

/// Everything but RFC 3986 unreserved characters is encoded (`+` in dates becomes `%2B`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Builds the request of operation `O`. The body is moved, never copied.
pub fn build_request<O>(ctx: &RequestContext, params: &O::Params, body: O::Request) -> Result<HttpRequest, Error>
where
    O: Operation,
    O::Request: RequestBody,
{
    let body = body.into_body().map_err(BuildError::Json)?;
    build_raw(O::SPEC, ctx, &params.path_params(), &params.query_params(), &params.header_params(), body)
}

/// The non-generic core of [`build_request`]: params already rendered as wire strings.
pub fn build_raw(
    spec: &OperationSpec,
    ctx: &RequestContext,
    path_params: &[(&'static str, String)],
    query_params: &[(&'static str, String)],
    header_params: &[(&'static str, String)],
    body: Option<Vec<u8>>,
) -> Result<HttpRequest, Error> {
    let mut uri = String::with_capacity(ctx.base_url().len() + spec.path.len() + 64);
    uri.push_str(ctx.base_url());
    for seg in spec.path.split('/').skip(1) {
        uri.push('/');
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let spec_name = spec.path_params.iter().find(|p| p.name == name).map_or("", |p| p.name);
            let value = path_params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty())
                .ok_or(BuildError::MissingPathParam(if spec_name.is_empty() { "?" } else { spec_name }))?;
            uri.extend(utf8_percent_encode(value, COMPONENT));
        } else {
            uri.push_str(seg);
        }
    }
    let mut first = true;
    for (name, value) in query_params {
        uri.push(if first { '?' } else { '&' });
        first = false;
        uri.extend(utf8_percent_encode(name, COMPONENT));
        uri.push('=');
        uri.extend(utf8_percent_encode(value, COMPONENT));
    }

    let mut builder = http::Request::builder().method(spec.method.as_str()).uri(uri);
    let headers = builder.headers_mut().ok_or(BuildError::InvalidHeader("uri".into()))?;
    let accept = spec.response.content_type.unwrap_or("application/json");
    headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
    if ctx.problem_details() {
        headers.insert("x-error-format", HeaderValue::from_static("problem-details"));
    }
    if spec.bearer {
        let token = ctx.token().ok_or(BuildError::MissingToken(spec.name))?;
        let mut v = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
            .map_err(|_| BuildError::InvalidHeader("authorization".into()))?;
        v.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, v);
    }
    for (name, value) in ctx.headers() {
        headers.append(name.clone(), value.clone());
    }
    for (name, value) in header_params {
        let n = HeaderName::try_from(*name).map_err(|_| BuildError::InvalidHeader((*name).to_owned()))?;
        let v = HeaderValue::try_from(value.as_str()).map_err(|_| BuildError::InvalidHeader((*name).to_owned()))?;
        headers.insert(n, v);
    }
    let body = match (body, spec.request_body) {
        (Some(b), Some(bs)) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(bs.content_type));
            b
        }
        (Some(b), None) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            b
        }
        (None, _) => Vec::new(),
    };
    builder.body(body).map_err(|e| Error::Build(BuildError::InvalidUri(e)))
}
