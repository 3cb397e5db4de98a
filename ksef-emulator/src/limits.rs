//! Rate limits (sliding 1 s / 60 s / 1 h windows per context, client IP and group) and the
//! per-context / per-subject limit overrides of the test-data API.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Limits of one group; `None` = unlimited (`-1` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLimits {
    /// Requests per sliding second.
    #[serde(rename = "perSecond")]
    pub per_second: i64,
    /// Requests per sliding minute.
    #[serde(rename = "perMinute")]
    pub per_minute: i64,
    /// Requests per sliding hour.
    #[serde(rename = "perHour")]
    pub per_hour: i64,
}

/// The default profile (TE equals PRD since 2.5.0), as in the spec's `/rate-limits` example.
pub const DEFAULT_GROUPS: &[(&str, GroupLimits)] = &[
    ("onlineSession", GroupLimits { per_second: 10, per_minute: 30, per_hour: 120 }),
    ("onlineSessionClose", GroupLimits { per_second: 20, per_minute: 60, per_hour: 240 }),
    ("batchSession", GroupLimits { per_second: 10, per_minute: 20, per_hour: 60 }),
    ("batchSessionClose", GroupLimits { per_second: 20, per_minute: 40, per_hour: 120 }),
    ("invoiceSend", GroupLimits { per_second: 10, per_minute: 30, per_hour: 180 }),
    ("invoiceStatus", GroupLimits { per_second: 30, per_minute: 120, per_hour: 1200 }),
    ("sessionList", GroupLimits { per_second: 5, per_minute: 10, per_hour: 60 }),
    ("sessionInvoiceList", GroupLimits { per_second: 10, per_minute: 20, per_hour: 200 }),
    ("sessionMisc", GroupLimits { per_second: 10, per_minute: 120, per_hour: 1200 }),
    ("invoiceMetadata", GroupLimits { per_second: 8, per_minute: 16, per_hour: 20 }),
    ("invoiceExport", GroupLimits { per_second: 8, per_minute: 16, per_hour: 20 }),
    ("invoiceExportStatus", GroupLimits { per_second: 10, per_minute: 60, per_hour: 600 }),
    ("invoiceDownload", GroupLimits { per_second: 8, per_minute: 16, per_hour: 64 }),
    ("collectiveIdentifier", GroupLimits { per_second: 20, per_minute: 120, per_hour: 240 }),
    ("other", GroupLimits { per_second: 10, per_minute: 30, per_hour: 120 }),
    ("anonymous", GroupLimits { per_second: 60, per_minute: -1, per_hour: -1 }),
    ("global", GroupLimits { per_second: 75, per_minute: -1, per_hour: -1 }),
];

/// The default profile as a map.
pub fn default_profile() -> BTreeMap<String, GroupLimits> {
    DEFAULT_GROUPS.iter().map(|(g, l)| ((*g).to_owned(), *l)).collect()
}

/// A 429 decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// Seconds until a request would pass.
    pub retry_after: u64,
    /// KSeF-style detail.
    pub detail: String,
}

/// A counter key: (context or empty, client IP, bucket).
type CounterKey = (String, String, String);
/// `(maxEnrollments, maxCertificates)` overrides.
type SubjectOverride = (Option<u64>, Option<u64>);

/// Sliding-window counters and the per-context profiles.
#[derive(Debug, Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<CounterKey, VecDeque<DateTime<Utc>>>>,
    profiles: Mutex<HashMap<String, BTreeMap<String, GroupLimits>>>,
}

impl RateLimiter {
    /// The effective profile of a context.
    pub fn profile(&self, context: Option<&str>) -> BTreeMap<String, GroupLimits> {
        let g = self.profiles.lock().unwrap_or_else(|e| e.into_inner());
        context.and_then(|c| g.get(c).cloned()).unwrap_or_else(default_profile)
    }

    /// Sets (or with `None` resets) a context's profile.
    pub fn set_profile(&self, context: &str, profile: Option<BTreeMap<String, GroupLimits>>) {
        let mut g = self.profiles.lock().unwrap_or_else(|e| e.into_inner());
        match profile {
            Some(p) => g.insert(context.to_owned(), p),
            None => g.remove(context),
        };
    }

    /// Counts one request of `bucket` (the group, or the operation for `other`) and says whether
    /// it passes. Unauthenticated requests are counted per IP (`context` = `None`).
    pub fn check(
        &self,
        context: Option<&str>,
        ip: &str,
        group: &str,
        bucket: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Throttled> {
        let profile = self.profile(context);
        let global = profile.get("global").copied();
        let limits = profile.get(group).copied();
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let mut checks = Vec::new();
        if let Some(l) = global {
            checks.push((("".to_owned(), ip.to_owned(), "global".to_owned()), l));
        }
        if let Some(l) = limits {
            checks.push(((context.unwrap_or("").to_owned(), ip.to_owned(), bucket.to_owned()), l));
        }
        // Check every window first, count only when all pass.
        for (key, l) in &checks {
            let q = hits.entry(key.clone()).or_default();
            while q.front().is_some_and(|t| now - *t >= Duration::hours(1)) {
                q.pop_front();
            }
            for (limit, window, unit) in [
                (l.per_second, Duration::seconds(1), "sekundę"),
                (l.per_minute, Duration::minutes(1), "minutę"),
                (l.per_hour, Duration::hours(1), "godzinę"),
            ] {
                if limit < 0 {
                    continue;
                }
                let in_window: Vec<&DateTime<Utc>> = q.iter().filter(|t| now - **t < window).collect();
                if in_window.len() as i64 >= limit {
                    let oldest = in_window.first().map(|t| **t).unwrap_or(now);
                    let wait = (oldest + window - now).num_milliseconds().max(0);
                    let retry_after = (wait as u64).div_ceil(1000).max(1);
                    return Err(Throttled {
                        retry_after,
                        detail: format!(
                            "Przekroczono limit {limit} żądań na {unit} (grupa {}). Spróbuj ponownie po {retry_after} sekundach.",
                            key.2
                        ),
                    });
                }
            }
        }
        for (key, _) in checks {
            hits.entry(key).or_default().push_back(now);
        }
        Ok(())
    }
}

/// Session limits of a context (`GET /limits/context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLimits {
    /// Plaintext invoice size without attachments, MB (SI).
    #[serde(rename = "maxInvoiceSizeInMB")]
    pub max_invoice_size_mb: u64,
    /// With attachments, MB.
    #[serde(rename = "maxInvoiceWithAttachmentSizeInMB")]
    pub max_invoice_with_attachment_size_mb: u64,
    /// Invoices per session.
    #[serde(rename = "maxInvoices")]
    pub max_invoices: u64,
}

/// Context limit overrides (`/testdata/limits/context/session`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextLimits {
    /// Online sessions.
    #[serde(rename = "onlineSession")]
    pub online: SessionLimits,
    /// Batch sessions.
    #[serde(rename = "batchSession")]
    pub batch: SessionLimits,
    /// Invoices per collective identifier.
    #[serde(rename = "collectiveIdentifierMaxInvoices")]
    pub collective_max_invoices: u64,
}

/// Per-context and per-subject limit overrides.
#[derive(Debug, Default)]
pub struct LimitOverrides {
    contexts: Mutex<HashMap<String, ContextLimits>>,
    subjects: Mutex<HashMap<String, SubjectOverride>>,
}

impl LimitOverrides {
    /// The context's override, if any.
    pub fn context(&self, context: &str) -> Option<ContextLimits> {
        self.contexts.lock().unwrap_or_else(|e| e.into_inner()).get(context).copied()
    }

    /// Sets or clears a context's override.
    pub fn set_context(&self, context: &str, limits: Option<ContextLimits>) {
        let mut g = self.contexts.lock().unwrap_or_else(|e| e.into_inner());
        match limits {
            Some(l) => g.insert(context.to_owned(), l),
            None => g.remove(context),
        };
    }

    /// `(maxEnrollments, maxCertificates)` override of a subject.
    pub fn subject(&self, subject: &str) -> SubjectOverride {
        self.subjects.lock().unwrap_or_else(|e| e.into_inner()).get(subject).copied().unwrap_or((None, None))
    }

    /// Sets or clears a subject's override.
    pub fn set_subject(&self, subject: &str, limits: Option<SubjectOverride>) {
        let mut g = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        match limits {
            Some(l) => g.insert(subject.to_owned(), l),
            None => g.remove(subject),
        };
    }
}
