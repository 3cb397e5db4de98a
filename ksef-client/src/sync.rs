//! Incremental invoice sync with the High Water Mark (HWM), as pure functions.
//!
//! KSeF guarantees that no invoice with `permanentStorageDate <= permanentStorageHwmDate` will
//! appear later. The recommended loop, per subject type (`Subject1`, `Subject2`, `Subject3`,
//! `SubjectAuthorized`), exports with `dateType = PermanentStorage`,
//! `restrictToPermanentStorageHwmDate = true` and no `to`; the next window starts at
//! `lastPermanentStorageDate` when the package was truncated, else at `permanentStorageHwmDate`.
//! Windows are contiguous, so invoices stored exactly at the boundary come twice: they are
//! deduplicated by KSeF number.
//!
//! [`SyncCheckpoint`] holds that state for every subject type; it is `serde`, so the caller
//! persists it after processing each window and resumes from it after a crash. The dedupe set
//! keeps only KSeF numbers stored at or after the current window start (earlier ones cannot
//! come back), so it stays small.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use ksef_model::types::{
    InvoiceMetadata, InvoicePackage, InvoiceQueryDateRange, InvoiceQueryDateType, InvoiceQuerySubjectType,
    QueryInvoicesMetadataResponse,
};
use serde::{Deserialize, Serialize};

/// Why a window cannot be advanced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A truncated export package lacks `lastPermanentStorageDate`.
    #[error("the package is truncated but has no lastPermanentStorageDate")]
    MissingLastPermanentStorageDate,
    /// A complete response lacks `permanentStorageHwmDate` (was the query not by `PermanentStorage`?).
    #[error("the response has no permanentStorageHwmDate (query by dateType PermanentStorage)")]
    MissingHwm,
    /// The next window would start before the current one.
    #[error("the next window start {next} is before the current start {current}")]
    Backwards {
        /// Current start.
        current: DateTime<Utc>,
        /// Computed start.
        next: DateTime<Utc>,
    },
    /// A truncated window did not move forward: more invoices share one storage timestamp than
    /// one package holds, so the loop would repeat forever.
    #[error("a truncated window did not advance past {at}")]
    NoProgress {
        /// The stuck start.
        at: DateTime<Utc>,
    },
}

/// Sync state of one subject type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectCheckpoint {
    /// Start (`dateRange.from`) of the next window.
    pub window_start: DateTime<Utc>,
    /// The last `permanentStorageHwmDate` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<DateTime<Utc>>,
    /// KSeF numbers already delivered whose `permanentStorageDate >= window_start`.
    #[serde(default)]
    pub seen: BTreeSet<String>,
}

impl SubjectCheckpoint {
    /// Start syncing from `from`.
    pub fn new(from: DateTime<Utc>) -> Self {
        Self { window_start: from, hwm: None, seen: BTreeSet::new() }
    }

    /// The `dateRange` of the next export or metadata query.
    pub fn next_range(&self) -> InvoiceQueryDateRange {
        InvoiceQueryDateRange {
            date_type: InvoiceQueryDateType::PermanentStorage,
            from: self.window_start,
            restrict_to_permanent_storage_hwm_date: Some(true),
            to: None,
        }
    }

    /// Advance past an export package whose `_metadata.json` listed `metadata`; returns the
    /// invoices not delivered before (in the given order). Persist the checkpoint only after
    /// those invoices are stored.
    ///
    /// # Errors
    /// [`SyncError`] if the package lacks the date the next window needs or would not advance.
    pub fn advance_export<'m>(
        &mut self,
        package: &InvoicePackage,
        metadata: &'m [InvoiceMetadata],
    ) -> Result<Vec<&'m InvoiceMetadata>, SyncError> {
        let next = if package.is_truncated {
            package.last_permanent_storage_date.ok_or(SyncError::MissingLastPermanentStorageDate)?
        } else {
            package.permanent_storage_hwm_date.ok_or(SyncError::MissingHwm)?
        };
        self.advance(next, package.is_truncated, package.permanent_storage_hwm_date, metadata)
    }

    /// Advance past a metadata query (all pages of one filter, `invoices` concatenated). When
    /// truncated (10 000 records) the next window starts at the latest `permanentStorageDate`
    /// returned (the query is sorted ascending); otherwise at `permanentStorageHwmDate`.
    ///
    /// # Errors
    /// As [`SubjectCheckpoint::advance_export`].
    pub fn advance_query<'m>(
        &mut self,
        response: &QueryInvoicesMetadataResponse,
        invoices: &'m [InvoiceMetadata],
    ) -> Result<Vec<&'m InvoiceMetadata>, SyncError> {
        let next = if response.is_truncated {
            invoices
                .iter()
                .map(|m| m.permanent_storage_date)
                .max()
                .ok_or(SyncError::NoProgress { at: self.window_start })?
        } else {
            response.permanent_storage_hwm_date.ok_or(SyncError::MissingHwm)?
        };
        self.advance(next, response.is_truncated, response.permanent_storage_hwm_date, invoices)
    }

    fn advance<'m>(
        &mut self,
        next: DateTime<Utc>,
        truncated: bool,
        hwm: Option<DateTime<Utc>>,
        metadata: &'m [InvoiceMetadata],
    ) -> Result<Vec<&'m InvoiceMetadata>, SyncError> {
        if next < self.window_start {
            return Err(SyncError::Backwards { current: self.window_start, next });
        }
        if truncated && next == self.window_start {
            return Err(SyncError::NoProgress { at: next });
        }
        let mut fresh = Vec::new();
        for m in metadata {
            if self.seen.insert(m.ksef_number.as_str().to_owned()) {
                fresh.push(m);
            }
        }
        // Keep only what the next window can return again.
        let keep: BTreeSet<&str> =
            metadata.iter().filter(|m| m.permanent_storage_date >= next).map(|m| &**m.ksef_number).collect();
        self.seen.retain(|k| keep.contains(k.as_str()));
        self.window_start = next;
        if hwm.is_some() {
            self.hwm = hwm;
        }
        Ok(fresh)
    }
}

/// Sync state of all subject types; serialize it to persist, deserialize to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCheckpoint {
    /// Version of this layout (for future migrations).
    #[serde(default = "version")]
    pub version: u32,
    /// State per subject type.
    pub subjects: BTreeMap<InvoiceQuerySubjectType, SubjectCheckpoint>,
}

fn version() -> u32 {
    1
}

impl SyncCheckpoint {
    /// Sync `subjects`, each starting from `from`.
    pub fn new(from: DateTime<Utc>, subjects: &[InvoiceQuerySubjectType]) -> Self {
        Self { version: version(), subjects: subjects.iter().map(|s| (*s, SubjectCheckpoint::new(from))).collect() }
    }

    /// The state of `subject`, created from `from` if absent.
    pub fn subject(&mut self, subject: InvoiceQuerySubjectType, from: DateTime<Utc>) -> &mut SubjectCheckpoint {
        self.subjects.entry(subject).or_insert_with(|| SubjectCheckpoint::new(from))
    }

    /// The subject whose window is the oldest (the one to sync next).
    pub fn most_behind(&self) -> Option<InvoiceQuerySubjectType> {
        self.subjects.iter().min_by_key(|(_, c)| c.window_start).map(|(s, _)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksef_model::types::CompressionType;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn meta(ksef: &str, stored: &str) -> InvoiceMetadata {
        let json = crate::export::tests::META_ONE
            .replace("5555555555-20250828-010080615740-E4", ksef)
            .replace("2025-08-28T09:23:01.388123+00:00", stored);
        serde_json::from_str(&json).unwrap()
    }

    fn package(truncated: bool, last: Option<&str>, hwm: Option<&str>) -> InvoicePackage {
        InvoicePackage {
            compression_type: CompressionType::Zip,
            invoice_count: 0,
            is_truncated: truncated,
            last_invoicing_date: None,
            last_issue_date: None,
            last_permanent_storage_date: last.map(t),
            parts: vec![],
            permanent_storage_hwm_date: hwm.map(t),
            size: 0,
        }
    }

    const K1: &str = "5555555555-20250828-010080615740-E4";
    const K2: &str = "5555555555-20250828-020080615740-E4";
    const K3: &str = "5555555555-20250828-030080615740-E4";

    #[test]
    fn truncated_then_complete_with_dedupe() {
        let mut c = SubjectCheckpoint::new(t("2025-08-01T00:00:00Z"));
        let r = c.next_range();
        assert_eq!(r.date_type, InvoiceQueryDateType::PermanentStorage);
        assert_eq!(r.restrict_to_permanent_storage_hwm_date, Some(true));
        assert_eq!(r.to, None);
        // Window 1: truncated; the last invoice's storage date is the next start.
        let w1 = [meta(K1, "2025-08-10T00:00:00Z"), meta(K2, "2025-08-12T00:00:00Z")];
        let p1 = package(true, Some("2025-08-12T00:00:00Z"), Some("2025-08-20T00:00:00Z"));
        let fresh = c.advance_export(&p1, &w1).unwrap();
        assert_eq!(fresh.len(), 2);
        assert_eq!(c.window_start, t("2025-08-12T00:00:00Z"));
        assert_eq!(c.seen.iter().map(String::as_str).collect::<Vec<_>>(), [K2], "only boundary invoices kept");
        // Window 2: K2 comes again at the boundary; complete → HWM is the next start.
        let w2 = [meta(K2, "2025-08-12T00:00:00Z"), meta(K3, "2025-08-15T00:00:00Z")];
        let p2 = package(false, None, Some("2025-08-20T00:00:00Z"));
        let fresh = c.advance_export(&p2, &w2).unwrap();
        assert_eq!(fresh.iter().map(|m| &**m.ksef_number).collect::<Vec<_>>(), [K3]);
        assert_eq!(c.window_start, t("2025-08-20T00:00:00Z"));
        assert_eq!(c.hwm, Some(t("2025-08-20T00:00:00Z")));
        assert!(c.seen.is_empty());
    }

    #[test]
    fn errors() {
        let mut c = SubjectCheckpoint::new(t("2025-08-01T00:00:00Z"));
        assert_eq!(c.advance_export(&package(true, None, None), &[]), Err(SyncError::MissingLastPermanentStorageDate));
        assert_eq!(c.advance_export(&package(false, None, None), &[]), Err(SyncError::MissingHwm));
        let back = package(false, None, Some("2025-07-01T00:00:00Z"));
        assert!(matches!(c.advance_export(&back, &[]), Err(SyncError::Backwards { .. })));
        let stuck = package(true, Some("2025-08-01T00:00:00Z"), None);
        assert!(matches!(c.advance_export(&stuck, &[]), Err(SyncError::NoProgress { .. })));
        assert_eq!(c.window_start, t("2025-08-01T00:00:00Z"), "errors leave the checkpoint unchanged");
        // An empty, complete window still moves to the HWM.
        c.advance_export(&package(false, None, Some("2025-08-02T00:00:00Z")), &[]).unwrap();
        assert_eq!(c.window_start, t("2025-08-02T00:00:00Z"));
    }

    #[test]
    fn metadata_query_windows() {
        let mut c = SubjectCheckpoint::new(t("2025-08-01T00:00:00Z"));
        let inv = [meta(K1, "2025-08-03T00:00:00Z"), meta(K2, "2025-08-05T00:00:00Z")];
        let resp = QueryInvoicesMetadataResponse {
            has_more: false,
            invoices: vec![],
            is_truncated: true,
            permanent_storage_hwm_date: Some(t("2025-08-09T00:00:00Z")),
        };
        assert_eq!(c.advance_query(&resp, &inv).unwrap().len(), 2);
        assert_eq!(c.window_start, t("2025-08-05T00:00:00Z"));
        let resp = QueryInvoicesMetadataResponse { is_truncated: false, ..resp };
        assert!(c.advance_query(&resp, &inv[1..]).unwrap().is_empty());
        assert_eq!(c.window_start, t("2025-08-09T00:00:00Z"));
    }

    #[test]
    fn checkpoint_round_trip_and_resume() {
        let from = t("2025-08-01T00:00:00Z");
        let mut cp = SyncCheckpoint::new(from, &[InvoiceQuerySubjectType::Subject1, InvoiceQuerySubjectType::Subject2]);
        let w = [meta(K1, "2025-08-10T00:00:00Z")];
        cp.subject(InvoiceQuerySubjectType::Subject1, from)
            .advance_export(&package(true, Some("2025-08-10T00:00:00Z"), None), &w)
            .unwrap();
        assert_eq!(cp.most_behind(), Some(InvoiceQuerySubjectType::Subject2));
        let json = serde_json::to_string(&cp).unwrap();
        assert!(json.contains("\"Subject1\"") && json.contains("windowStart"), "{json}");
        let mut resumed: SyncCheckpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(resumed, cp);
        // After resuming, the boundary invoice is still deduplicated.
        let again = resumed
            .subject(InvoiceQuerySubjectType::Subject1, from)
            .advance_export(&package(false, None, Some("2025-08-11T00:00:00Z")), &w)
            .unwrap();
        assert!(again.is_empty());
        let s3 = resumed.subject(InvoiceQuerySubjectType::Subject3, from);
        assert_eq!(s3.window_start, from);
    }
}
