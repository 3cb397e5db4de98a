//! Pre-signed storage URLs (batch part upload, export part and UPO download): no
//! `Authorization`, not rate-limited, and only to hosts a [`UrlPolicy`] allows.

use http::{HeaderName, HeaderValue, Method, Uri};

use crate::response::check_named;
use crate::{BuildError, Error, HttpRequest, HttpResponse, Response};

/// Which pre-signed URLs may be fetched.
///
/// Default: `https` only, hosts `ksef.mf.gov.pl` and `*.ksef.mf.gov.pl` (KSeF returns URLs on
/// the host of the environment called). Add storage hosts with [`Self::allow_host`]; allow
/// `http` to loopback addresses for local emulators with [`Self::allow_loopback`].
#[derive(Clone, Debug)]
pub struct UrlPolicy {
    hosts: Vec<String>,
    loopback: bool,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self { hosts: vec!["ksef.mf.gov.pl".into(), "*.ksef.mf.gov.pl".into()], loopback: false }
    }
}

impl UrlPolicy {
    /// A policy that allows no host at all (add some with [`Self::allow_host`]).
    pub fn empty() -> Self {
        Self { hosts: Vec::new(), loopback: false }
    }

    /// Allows a host: an exact name, or `*.suffix` for any subdomain of `suffix`.
    pub fn allow_host(mut self, pattern: &str) -> Self {
        self.hosts.push(pattern.to_ascii_lowercase());
        self
    }

    /// Allows `localhost`, `127.0.0.0/8` and `[::1]`, over `http` too (local emulators).
    pub fn allow_loopback(mut self, on: bool) -> Self {
        self.loopback = on;
        self
    }

    /// The host patterns.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// Checks a URL against the policy.
    pub fn check(&self, uri: &Uri) -> Result<(), BuildError> {
        let host = uri.host().ok_or_else(|| BuildError::UrlRefused("no host".into()))?.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback =
            self.loopback && (host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if loopback => {}
            _ => return Err(BuildError::UrlRefused(format!("scheme of {host} is not https"))),
        }
        if uri.port_u16().is_some() && !loopback && uri.port_u16() != Some(443) {
            return Err(BuildError::UrlRefused(format!("port of {host} is not 443")));
        }
        let allowed = loopback
            || self.hosts.iter().any(|p| match p.strip_prefix("*.") {
                Some(suffix) => host.strip_suffix(suffix).is_some_and(|pre| pre.ends_with('.') && pre.len() > 1),
                None => host == p,
            });
        if allowed { Ok(()) } else { Err(BuildError::UrlRefused(format!("host {host} is not allowed"))) }
    }
}

/// A `GET` of a pre-signed URL (export part, UPO link).
pub fn presigned_get(url: &str, policy: &UrlPolicy) -> Result<HttpRequest, Error> {
    presigned_request(Method::GET, url, &[], Vec::new(), policy)
}

/// A request to a pre-signed URL with the headers KSeF listed for it (e.g.
/// `x-ms-blob-type: BlockBlob` of `partUploadRequests[]`); the body is moved, never copied.
pub fn presigned_request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    policy: &UrlPolicy,
) -> Result<HttpRequest, Error> {
    let uri: Uri = url.parse().map_err(|_| BuildError::UrlRefused("not a valid URL".into()))?;
    policy.check(&uri)?;
    let mut b = http::Request::builder().method(method).uri(uri);
    let h = b.headers_mut().ok_or(BuildError::UrlRefused("not a valid URL".into()))?;
    for (n, v) in headers {
        let name = HeaderName::try_from(*n).map_err(|_| BuildError::InvalidHeader((*n).to_owned()))?;
        if name == http::header::AUTHORIZATION {
            return Err(BuildError::InvalidHeader((*n).to_owned()).into());
        }
        let value = HeaderValue::try_from(*v).map_err(|_| BuildError::InvalidHeader((*n).to_owned()))?;
        h.append(name, value);
    }
    b.body(body).map_err(|e| Error::Build(BuildError::InvalidUri(e)))
}

/// Checks the response of a pre-signed request: 2xx gives the bytes (with `x-ms-meta-hash` in
/// [`Response::meta_hash`]); anything else is an [`Error::Api`] with the raw body.
pub fn parse_presigned(resp: HttpResponse) -> Result<Response<Vec<u8>>, Error> {
    check_named("", resp)
}
