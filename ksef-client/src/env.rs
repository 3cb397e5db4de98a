//! KSeF environments: API base URL, QR verification host, Lighthouse (status) host.

use std::fmt;

/// A KSeF environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// TE (test): self-signed certificates, shared data, random NIPs.
    Test,
    /// DEMO (pre-production, "TR"): configured like production.
    Demo,
    /// PRD: legally binding.
    Production,
    /// Anything else (an emulator, a proxy): explicit URLs.
    Custom(CustomEnvironment),
}

/// URLs of a [`Environment::Custom`] environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomEnvironment {
    api_base_url: String,
    qr_base_url: String,
    lighthouse_base_url: Option<String>,
}

/// A URL that is not an absolute `http(s)` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an absolute http(s) URL")]
pub struct InvalidUrl(pub String);

fn normalize(url: &str) -> Result<String, InvalidUrl> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => Ok(trimmed.to_owned()),
        _ => Err(InvalidUrl(url.to_owned())),
    }
}

impl CustomEnvironment {
    /// A custom environment. `api_base_url` may end in `/v2` or not (the transport adds it);
    /// a trailing `/v2` is removed here so [`Environment::api_base_url`] is uniform.
    ///
    /// # Errors
    /// [`InvalidUrl`] if a URL is not an absolute `http(s)` URL.
    pub fn new(api_base_url: &str, qr_base_url: &str) -> Result<Self, InvalidUrl> {
        let api = normalize(api_base_url)?;
        let api = api.strip_suffix("/v2").map(str::to_owned).unwrap_or(api);
        Ok(Self { api_base_url: api, qr_base_url: normalize(qr_base_url)?, lighthouse_base_url: None })
    }

    /// With a Lighthouse (status API) base URL.
    ///
    /// # Errors
    /// [`InvalidUrl`] if the URL is not an absolute `http(s)` URL.
    pub fn with_lighthouse(mut self, url: &str) -> Result<Self, InvalidUrl> {
        self.lighthouse_base_url = Some(normalize(url)?);
        Ok(self)
    }
}

impl Environment {
    /// The API base URL **without** the `/v2` version prefix (the transport appends it), e.g.
    /// `https://api-test.ksef.mf.gov.pl`.
    pub fn api_base_url(&self) -> &str {
        match self {
            Self::Test => "https://api-test.ksef.mf.gov.pl",
            Self::Demo => "https://api-demo.ksef.mf.gov.pl",
            Self::Production => "https://api.ksef.mf.gov.pl",
            Self::Custom(c) => &c.api_base_url,
        }
    }

    /// The versioned API root, e.g. `https://api-test.ksef.mf.gov.pl/v2`.
    pub fn api_v2_url(&self) -> String {
        format!("{}/v2", self.api_base_url())
    }

    /// The QR verification base URL (no trailing slash), e.g. `https://qr-test.ksef.mf.gov.pl`.
    pub fn qr_base_url(&self) -> &str {
        match self {
            Self::Test => "https://qr-test.ksef.mf.gov.pl",
            Self::Demo => "https://qr-demo.ksef.mf.gov.pl",
            Self::Production => "https://qr.ksef.mf.gov.pl",
            Self::Custom(c) => &c.qr_base_url,
        }
    }

    /// The Lighthouse (Latarnia, system status) base URL; DEMO has none.
    pub fn lighthouse_base_url(&self) -> Option<&str> {
        match self {
            Self::Test => Some("https://api-latarnia-test.ksef.mf.gov.pl"),
            Self::Demo => None,
            Self::Production => Some("https://api-latarnia.ksef.mf.gov.pl"),
            Self::Custom(c) => c.lighthouse_base_url.as_deref(),
        }
    }

    /// Whether invoices here are legally binding.
    pub fn is_production(&self) -> bool {
        matches!(self, Self::Production)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Test => f.write_str("TE"),
            Self::Demo => f.write_str("DEMO"),
            Self::Production => f.write_str("PRD"),
            Self::Custom(c) => write!(f, "custom ({})", c.api_base_url),
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = InvalidUrl;
    /// `te`/`test`, `demo`/`tr`, `prd`/`prod`/`production` (any case); anything else must be an
    /// API base URL, and its QR host is guessed as the same URL (set it explicitly with
    /// [`CustomEnvironment::new`] when it differs).
    fn from_str(s: &str) -> Result<Self, InvalidUrl> {
        match s.trim().to_ascii_lowercase().as_str() {
            "te" | "test" => Ok(Self::Test),
            "demo" | "tr" => Ok(Self::Demo),
            "prd" | "prod" | "production" => Ok(Self::Production),
            _ => Ok(Self::Custom(CustomEnvironment::new(s, s)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_environments() {
        assert_eq!(Environment::Test.api_v2_url(), "https://api-test.ksef.mf.gov.pl/v2");
        assert_eq!(Environment::Demo.api_base_url(), "https://api-demo.ksef.mf.gov.pl");
        assert_eq!(Environment::Production.api_base_url(), "https://api.ksef.mf.gov.pl");
        assert_eq!(Environment::Test.qr_base_url(), "https://qr-test.ksef.mf.gov.pl");
        assert_eq!(Environment::Demo.qr_base_url(), "https://qr-demo.ksef.mf.gov.pl");
        assert_eq!(Environment::Production.qr_base_url(), "https://qr.ksef.mf.gov.pl");
        assert_eq!(Environment::Test.lighthouse_base_url(), Some("https://api-latarnia-test.ksef.mf.gov.pl"));
        assert_eq!(Environment::Demo.lighthouse_base_url(), None);
        assert_eq!(Environment::Production.lighthouse_base_url(), Some("https://api-latarnia.ksef.mf.gov.pl"));
        assert!(Environment::Production.is_production() && !Environment::Test.is_production());
        assert_eq!("PRD".parse::<Environment>().unwrap(), Environment::Production);
        assert_eq!("te".parse::<Environment>().unwrap().to_string(), "TE");
    }

    #[test]
    fn custom() {
        let c = CustomEnvironment::new("http://127.0.0.1:8080/v2/", "http://127.0.0.1:8081")
            .unwrap()
            .with_lighthouse("http://127.0.0.1:8082/")
            .unwrap();
        let e = Environment::Custom(c);
        assert_eq!(e.api_base_url(), "http://127.0.0.1:8080");
        assert_eq!(e.api_v2_url(), "http://127.0.0.1:8080/v2");
        assert_eq!(e.qr_base_url(), "http://127.0.0.1:8081");
        assert_eq!(e.lighthouse_base_url(), Some("http://127.0.0.1:8082"));
        assert!(CustomEnvironment::new("ftp://x", "http://y").is_err());
        assert!(CustomEnvironment::new("https://", "http://y").is_err());
        assert!(CustomEnvironment::new("http://x", "qr").is_err());
        assert!("nonsense".parse::<Environment>().is_err());
        let e: Environment = "https://ksef.example/v2".parse().unwrap();
        assert_eq!(e.api_base_url(), "https://ksef.example");
    }
}
