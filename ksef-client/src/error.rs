//! The facade's error: one enum, layered by stage.

use std::time::Duration;

/// Everything the facade ([`crate::KsefClient`]) can fail with.
///
/// `Display` names the stage only; the cause is in [`std::error::Error::source`] (for `Api`
/// and `Crypto`) or in the variant's fields.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Building, sending or decoding a request failed, or KSeF answered with an error status.
    /// The transport error is kept whole: use [`ksef_transport::Error::api`] for the
    /// exception codes, problem details, `Retry-After`.
    #[error("KSeF request failed")]
    Api(#[from] ksef_transport::Error),
    /// A cryptographic step failed (signing, key wrapping, encryption, certificate parsing).
    #[error("cryptographic operation failed")]
    Crypto(#[from] ksef_crypto::Error),
    /// The authentication operation ended with a failure status (415, 425, 450, 460, …).
    #[error("authentication failed: {0}")]
    Auth(AuthFailure),
    /// No access token is available and nothing is configured to obtain one.
    #[error("not authenticated (log in first)")]
    NotAuthenticated,
    /// KSeF rejected an invoice (its processing status is 4xx/5xx).
    #[error("invoice rejected: {0}")]
    InvoiceRejected(InvoiceRejection),
    /// A status did not reach a final state in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited (`"authentication"`, `"invoice status"`, …).
        what: &'static str,
        /// How long it was awaited.
        waited: Duration,
    },
    /// The client was configured inconsistently, or an input was invalid before anything
    /// was sent.
    #[error("invalid configuration or input: {0}")]
    Config(String),
    /// A response was well-formed but violated the protocol (missing KSeF number after
    /// status 200, UPO hash mismatch, …).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Building a batch package failed (limits, I/O).
    #[error("batch package")]
    Batch(#[from] crate::batch::BatchError),
    /// A batch session ended with a failure status (405, 415, 420, 430, 435, 440, 445, 500).
    #[error("batch session failed: {0}")]
    BatchFailed(crate::flows::StatusFailure),
    /// An export package failed verification, decryption or unpacking.
    #[error("export package")]
    Export(#[from] crate::export::ExportError),
    /// An export ended with a failure status (210, 415, 420, 500, 550).
    #[error("export failed: {0}")]
    ExportFailed(crate::flows::StatusFailure),
    /// A certificate enrollment ended with a failure status (400, 500, 550).
    #[error("certificate enrollment failed: {0}")]
    EnrollmentFailed(crate::flows::StatusFailure),
    /// A sync checkpoint could not be advanced.
    #[error("sync checkpoint")]
    Sync(#[from] crate::sync::SyncError),
}

impl Error {
    /// The KSeF exception codes of an `Api` error (empty otherwise).
    pub fn exception_codes(&self) -> Vec<i32> {
        match self {
            Self::Api(e) => e.exception_codes(),
            _ => Vec::new(),
        }
    }

    /// The transport error, if this is one.
    pub fn api(&self) -> Option<&ksef_transport::Error> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of an `Api` error.
    pub fn status(&self) -> Option<http::StatusCode> {
        self.api().and_then(ksef_transport::Error::status)
    }
}

/// What a failed authentication operation status says (`GET /auth/{referenceNumber}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthFailure {
    /// The status code (415, 425, 450, 460, 470, 480, 500, 550, or one KSeF adds later).
    pub code: i32,
    /// Its meaning.
    pub kind: AuthFailureKind,
    /// KSeF's description (Polish, verbatim).
    pub description: String,
    /// KSeF's details (Polish, verbatim; e.g. `Nieważny certyfikat`).
    pub details: Vec<String>,
    /// The authentication operation's reference number.
    pub reference_number: String,
}

impl core::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "status {} ({}): {}", self.code, self.kind.meaning(), self.description)?;
        if !self.details.is_empty() {
            write!(f, " [{}]", self.details.join("; "))?;
        }
        Ok(())
    }
}

/// The meaning of an authentication failure status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailureKind {
    /// 415: the subject holds no permission in the context.
    NoPermissions,
    /// 425: the authentication (and its refresh tokens) was revoked.
    Revoked,
    /// 450: the KSeF token is invalid, revoked, inactive, badly encrypted or timed.
    InvalidToken,
    /// 460: the certificate is invalid, expired, revoked, suspended or its chain untrusted.
    Certificate,
    /// 470: an attempt to use the authorisation means of a deceased person.
    DeceasedPerson,
    /// 480: authentication blocked (suspected security incident).
    Blocked,
    /// 500: unknown error.
    Unknown,
    /// 550: cancelled by the system; try again.
    CancelledBySystem,
    /// A code this version does not know.
    Other,
}

impl AuthFailureKind {
    /// Maps an authentication status code.
    pub fn from_code(code: i32) -> Self {
        match code {
            415 => Self::NoPermissions,
            425 => Self::Revoked,
            450 => Self::InvalidToken,
            460 => Self::Certificate,
            470 => Self::DeceasedPerson,
            480 => Self::Blocked,
            500 => Self::Unknown,
            550 => Self::CancelledBySystem,
            _ => Self::Other,
        }
    }

    /// An English explanation.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::NoPermissions => "no permissions in the context",
            Self::Revoked => "authentication revoked",
            Self::InvalidToken => "invalid KSeF token",
            Self::Certificate => "certificate error",
            Self::DeceasedPerson => "deceased person",
            Self::Blocked => "authentication blocked",
            Self::Unknown => "unknown error",
            Self::CancelledBySystem => "cancelled by the system, retry",
            Self::Other => "unrecognised status",
        }
    }

    /// Whether trying again later may succeed (500, 550).
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Unknown | Self::CancelledBySystem)
    }
}

/// A rejected invoice: its processing status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceRejection {
    /// The invoice's reference number (from the send).
    pub reference_number: String,
    /// The status code (405, 410, 415, 430, 435, 440, 450, 500, 550, …).
    pub code: i32,
    /// KSeF's description (Polish, verbatim).
    pub description: String,
    /// KSeF's details.
    pub details: Vec<String>,
    /// KSeF's extensions (for 440: `originalKsefNumber`, `originalSessionReferenceNumber`).
    pub extensions: Vec<(String, Option<String>)>,
}

impl InvoiceRejection {
    /// An extension's value (e.g. `originalKsefNumber` for a duplicate).
    pub fn extension(&self, key: &str) -> Option<&str> {
        self.extensions.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_deref())
    }

    /// Whether this is a duplicate (440).
    pub fn is_duplicate(&self) -> bool {
        self.code == 440
    }
}

impl core::fmt::Display for InvoiceRejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invoice {} status {}: {}", self.reference_number, self.code, self.description)?;
        if !self.details.is_empty() {
            write!(f, " [{}]", self.details.join("; "))?;
        }
        Ok(())
    }
}
