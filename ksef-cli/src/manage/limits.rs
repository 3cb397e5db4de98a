//! `ksef limits`: the effective limits of the context (sessions) and of the subject
//! (certificates), and the API rate limits per group.

use std::path::Path;

use ksef_model::operations::{GetContextLimits, GetRateLimits, GetSubjectLimits};
use serde_json::{Value, json};

use super::{emit, remote, to_json};
use crate::config::Settings;
use crate::{Failure, LoginArgs, exit};

/// Runs `ksef limits`.
pub(crate) fn run(login: &LoginArgs, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let r = remote(g, state, login)?;
    let v = json!({
        "context": to_json(&r.call::<GetContextLimits>(&(), ())?)?,
        "subject": to_json(&r.call::<GetSubjectLimits>(&(), ())?)?,
        "rate_limits": to_json(&r.call::<GetRateLimits>(&(), ())?)?,
    });
    emit(g.output, &v, || human(&v))?;
    Ok(exit::OK)
}

fn human(v: &Value) {
    println!("context limits:");
    for (k, label) in [("onlineSession", "online sessions"), ("batchSession", "batch sessions")] {
        let s = &v["context"][k];
        println!(
            "  {label}: {} invoices, {} MB per invoice, {} MB with attachments",
            s["maxInvoices"], s["maxInvoiceSizeInMB"], s["maxInvoiceWithAttachmentSizeInMB"]
        );
    }
    println!("  collective identifiers: {} invoices", v["context"]["collectiveIdentifier"]["maxInvoices"]);
    println!("subject limits:");
    let sub = &v["subject"];
    println!("  enrollments: {}", sub["enrollment"]["maxEnrollments"]);
    println!("  certificates: {}", sub["certificate"]["maxCertificates"]);
    println!("rate limits (per second / minute / hour):");
    if let Some(m) = v["rate_limits"].as_object() {
        for (group, l) in m {
            let n = |k: &str| l[k].to_string();
            println!("  {group:<22} {:>6} {:>8} {:>9}", n("perSecond"), n("perMinute"), n("perHour"));
        }
    }
}
