//! What every request of one caller shares: base URL, token, extra headers.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{BuildError, SecretToken};

/// Base URL of the TEST (TE) environment.
pub const TEST_BASE_URL: &str = "https://api-test.ksef.mf.gov.pl/v2";
/// Base URL of the DEMO (pre-production) environment.
pub const DEMO_BASE_URL: &str = "https://api-demo.ksef.mf.gov.pl/v2";
/// Base URL of the production environment.
pub const PRODUCTION_BASE_URL: &str = "https://api.ksef.mf.gov.pl/v2";

/// Base URL, bearer token and extra headers for building requests.
///
/// The base URL may be given with or without the `/v2` suffix; requests always go to
/// `<base>/v2/<path>`. The caller decides which token (authentication, access or refresh) is
/// current; operations whose spec says `bearer` send it as `Authorization: Bearer`.
#[derive(Clone, Debug)]
pub struct RequestContext {
    base_url: String,
    token: Option<SecretToken>,
    headers: HeaderMap,
    problem_details: bool,
}

impl RequestContext {
    /// A context for `base_url` (`https://host[:port][/prefix][/v2]`), without a token, asking for
    /// Problem Details errors.
    pub fn new(base_url: &str) -> Result<Self, BuildError> {
        let trimmed = base_url.trim_end_matches('/');
        let uri: http::Uri = trimmed.parse().map_err(|_| BuildError::InvalidBaseUrl(base_url.to_owned()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() || uri.query().is_some() {
            return Err(BuildError::InvalidBaseUrl(base_url.to_owned()));
        }
        let base_url = if trimmed.ends_with("/v2") { trimmed.to_owned() } else { format!("{trimmed}/v2") };
        Ok(Self { base_url, token: None, headers: HeaderMap::new(), problem_details: true })
    }

    /// Sets the bearer token.
    pub fn with_token(mut self, token: impl Into<SecretToken>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Replaces (or with `None` removes) the bearer token.
    pub fn set_token(&mut self, token: Option<SecretToken>) {
        self.token = token;
    }

    /// The bearer token, if set.
    pub fn token(&self) -> Option<&SecretToken> {
        self.token.as_ref()
    }

    /// Adds a header sent with every request (appended; repeated names are kept).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, BuildError> {
        let n = HeaderName::try_from(name).map_err(|_| BuildError::InvalidHeader(name.to_owned()))?;
        let v = HeaderValue::try_from(value).map_err(|_| BuildError::InvalidHeader(name.to_owned()))?;
        self.headers.append(n, v);
        Ok(self)
    }

    /// Opts into a feature: `X-KSeF-Feature: <flag>` (e.g. `upo-v4-3`).
    pub fn with_feature(self, flag: &str) -> Result<Self, BuildError> {
        self.with_header("x-ksef-feature", flag)
    }

    /// Whether to send `X-Error-Format: problem-details` (default `true`).
    pub fn with_problem_details(mut self, on: bool) -> Self {
        self.problem_details = on;
        self
    }

    /// Whether `X-Error-Format: problem-details` is sent.
    pub fn problem_details(&self) -> bool {
        self.problem_details
    }

    /// The base URL, ending in `/v2`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The extra headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}
