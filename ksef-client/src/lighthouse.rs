//! The Lighthouse ("Latarnia") status API: KSeF availability and announcements.
//!
//! Public, unauthenticated JSON on its own host ([`crate::Environment::lighthouse_base_url`]:
//! `https://api-latarnia-test.ksef.mf.gov.pl` for TE, `https://api-latarnia.ksef.mf.gov.pl` for
//! PRD; DEMO has none): `GET /status` (the current state and the messages behind it) and
//! `GET /messages` (published messages). Not part of the KSeF OpenAPI document, so not an
//! operation of `ksef_model`: requests go straight to the transport (no token, no limiter).

use serde::Deserialize;

use ksef_transport::{AsyncTransport, HttpRequest, SyncTransport};

use crate::KsefClient;
use crate::error::Error;

macro_rules! open_enum {
    ($(#[doc = $doc:literal])* $name:ident { $($(#[doc = $vdoc:literal])* $variant:ident = $wire:literal),* $(,)? }) => {
        $(#[doc = $doc])*
        ///
        /// A value this client does not know is kept in `Unknown`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
        #[serde(from = "String")]
        #[non_exhaustive]
        pub enum $name {
            $($(#[doc = $vdoc])* $variant,)*
            /// A value added after this client was written, verbatim.
            Unknown(String),
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::Unknown(s),
                }
            }
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Unknown(s) => s,
                }
            }
        }
    };
}

open_enum! {
    /// KSeF's state according to the Lighthouse.
    KsefState {
        /// Working normally.
        Available = "AVAILABLE",
        /// Planned maintenance.
        Maintenance = "MAINTENANCE",
        /// A failure: some functions unavailable.
        Failure = "FAILURE",
        /// A total failure (offline invoicing rules apply).
        TotalFailure = "TOTAL_FAILURE",
    }
}

open_enum! {
    /// The category of a Lighthouse message.
    MessageCategory {
        /// About a failure.
        Failure = "FAILURE",
        /// About a total failure.
        TotalFailure = "TOTAL_FAILURE",
        /// About maintenance.
        Maintenance = "MAINTENANCE",
    }
}

open_enum! {
    /// The kind of a Lighthouse message.
    MessageType {
        /// A failure started.
        FailureStart = "FAILURE_START",
        /// A failure ended.
        FailureEnd = "FAILURE_END",
        /// Maintenance is announced.
        MaintenanceAnnouncement = "MAINTENANCE_ANNOUNCEMENT",
    }
}

/// A Lighthouse message (announcement).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LighthouseMessage {
    /// Message id.
    pub id: String,
    /// The event (failure, maintenance) the message belongs to.
    pub event_id: i64,
    /// Category.
    pub category: MessageCategory,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Start of the event (as sent; see [`Self::start_time`]).
    pub start: String,
    /// End of the event, if known.
    #[serde(default)]
    pub end: Option<String>,
    /// Version of the message (edits increase it).
    pub version: i64,
    /// When it was published.
    pub published: String,
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
}

impl LighthouseMessage {
    /// [`Self::start`] as a time, if it is RFC 3339.
    pub fn start_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        parse_time(&self.start)
    }

    /// [`Self::end`] as a time, if present and RFC 3339.
    pub fn end_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.end.as_deref().and_then(parse_time)
    }
}

/// The answer of `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LighthouseStatus {
    /// KSeF's current state.
    pub status: KsefState,
    /// The messages behind the state (empty when fully available).
    #[serde(default)]
    pub messages: Option<Vec<LighthouseMessage>>,
}

impl LighthouseStatus {
    /// Whether KSeF is fully available.
    pub fn is_available(&self) -> bool {
        self.status == KsefState::Available
    }
}

fn request<T>(client: &KsefClient<T>, path: &str) -> Result<HttpRequest, Error> {
    let base = client
        .environment()
        .lighthouse_base_url()
        .ok_or_else(|| Error::Config(format!("environment {} has no Lighthouse", client.environment())))?;
    http::Request::get(format!("{}{path}", base.trim_end_matches('/')))
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| Error::Config(format!("Lighthouse URL: {e}")))
}

fn decode<V: serde::de::DeserializeOwned>(resp: ksef_transport::HttpResponse) -> Result<V, Error> {
    let body = ksef_transport::parse_presigned(resp)?.value;
    serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("Lighthouse answer: {e}")))
}

fn transport_error<E: ksef_transport::TransportError>(e: E) -> Error {
    Error::Api(ksef_transport::Error::from_transport(e))
}

impl<T: SyncTransport> KsefClient<T> {
    /// `GET /status` of the Lighthouse: KSeF's state and the messages behind it.
    ///
    /// # Errors
    /// [`Error::Config`] if the environment has no Lighthouse (DEMO), [`Error::Api`] for a
    /// transport failure or an error status, [`Error::Protocol`] for an unreadable answer.
    pub fn lighthouse_status_blocking(&self) -> Result<LighthouseStatus, Error> {
        decode(self.inner.transport.send(request(self, "/status")?).map_err(transport_error)?)
    }

    /// `GET /messages` of the Lighthouse: the published messages.
    ///
    /// # Errors
    /// As [`Self::lighthouse_status_blocking`].
    pub fn lighthouse_messages_blocking(&self) -> Result<Vec<LighthouseMessage>, Error> {
        decode(self.inner.transport.send(request(self, "/messages")?).map_err(transport_error)?)
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::lighthouse_status_blocking`].
    pub async fn lighthouse_status(&self) -> Result<LighthouseStatus, Error> {
        decode(self.inner.transport.send(request(self, "/status")?).await.map_err(transport_error)?)
    }

    /// Async [`Self::lighthouse_messages_blocking`].
    pub async fn lighthouse_messages(&self) -> Result<Vec<LighthouseMessage>, Error> {
        decode(self.inner.transport.send(request(self, "/messages")?).await.map_err(transport_error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_kept() {
        let s: LighthouseStatus = serde_json::from_str(r#"{"status":"DEGRADED"}"#).unwrap();
        assert_eq!(s.status, KsefState::Unknown("DEGRADED".into()));
        assert_eq!(s.status.as_str(), "DEGRADED");
        assert!(!s.is_available());
        let s: LighthouseStatus = serde_json::from_str(r#"{"status":"AVAILABLE","messages":[]}"#).unwrap();
        assert!(s.is_available());
    }
}
