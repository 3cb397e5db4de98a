//! `ksef testdata ...`: the `/testdata/*` API of KSeF TE and of the emulator (refused on demo
//! and prod, exit 6). Requests are built as JSON and checked by the model's types (NIP and PESEL
//! checksums, lengths, enum names) before anything is sent.

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use ksef_model::operations as ops;
use serde_json::{Value, json};

use super::{emit, usage};
use crate::config::Settings;
use crate::{Failure, LoginArgs, exit};

/// `ksef testdata`.
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Test subjects (companies, VAT groups, local government units, enforcement authorities).
    #[command(subcommand)]
    Subject(SubjectCmd),
    /// Test persons (NIP + PESEL, optionally a bailiff).
    #[command(subcommand)]
    Person(PersonCmd),
    /// Permissions granted directly in the test data (no owner needed).
    #[command(subcommand)]
    Permissions(PermissionsCmd),
    /// Whether a subject may send invoices with attachments.
    #[command(subcommand)]
    Attachment(AttachmentCmd),
    /// Blocks or unblocks authentication in a context.
    #[command(subcommand)]
    Context(ContextCmd),
    /// Overrides of the limits of the logged-in context and subject.
    #[command(subcommand)]
    Limits(LimitsCmd),
}

/// Kinds of test subject.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SubjectKind {
    /// Local government unit (JST).
    Jst,
    /// VAT group.
    VatGroup,
    /// Enforcement authority.
    EnforcementAuthority,
}

/// `ksef testdata subject`.
#[derive(Debug, Subcommand)]
pub(crate) enum SubjectCmd {
    /// Creates a test subject.
    Create {
        /// The subject's NIP.
        #[arg(long)]
        nip: String,
        /// Its kind.
        #[arg(long = "type", value_enum, default_value_t = SubjectKind::Jst)]
        kind: SubjectKind,
        /// Description (up to 256 characters).
        #[arg(long, default_value = "Test subject")]
        description: String,
        /// NIPs of subordinate units (VAT group members, JST units; repeatable).
        #[arg(long = "subunit")]
        subunits: Vec<String>,
    },
    /// Removes a test subject.
    Remove {
        /// The subject's NIP.
        #[arg(long)]
        nip: String,
    },
}

/// `ksef testdata person`.
#[derive(Debug, Subcommand)]
pub(crate) enum PersonCmd {
    /// Creates a test person.
    Create {
        /// NIP.
        #[arg(long)]
        nip: String,
        /// PESEL.
        #[arg(long)]
        pesel: String,
        /// The person is a court bailiff.
        #[arg(long)]
        bailiff: bool,
        /// The person is deceased.
        #[arg(long)]
        deceased: bool,
        /// Description (up to 256 characters).
        #[arg(long, default_value = "Test person")]
        description: String,
    },
    /// Removes a test person.
    Remove {
        /// NIP.
        #[arg(long)]
        nip: String,
    },
}

/// Whom test-data permissions are for.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Authorized {
    /// The authorized person's or entity's NIP.
    #[arg(long)]
    to_nip: Option<String>,
    /// The authorized person's PESEL.
    #[arg(long)]
    to_pesel: Option<String>,
    /// The authorized certificate's SHA-256 fingerprint (hex).
    #[arg(long)]
    to_fingerprint: Option<String>,
}

impl Authorized {
    fn json(&self) -> Value {
        match (&self.to_nip, &self.to_pesel, &self.to_fingerprint) {
            (Some(n), _, _) => json!({ "type": "Nip", "value": n }),
            (_, Some(p), _) => json!({ "type": "Pesel", "value": p }),
            (_, _, Some(f)) => json!({ "type": "Fingerprint", "value": f }),
            _ => Value::Null,
        }
    }
}

/// `ksef testdata permissions`.
#[derive(Debug, Subcommand)]
pub(crate) enum PermissionsCmd {
    /// Grants permissions in a context.
    Grant {
        /// The context NIP.
        #[arg(long)]
        context_nip: String,
        #[command(flatten)]
        to: Authorized,
        /// Permission: InvoiceRead, InvoiceWrite, Introspection, CredentialsRead, CredentialsManage,
        /// EnforcementOperations, SubunitManage, CollectiveIdentifierManage (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        /// Description of each permission.
        #[arg(long, default_value = "Test permission")]
        description: String,
    },
    /// Revokes all test-data permissions of the authorized subject in a context.
    Revoke {
        /// The context NIP.
        #[arg(long)]
        context_nip: String,
        #[command(flatten)]
        to: Authorized,
    },
}

/// `ksef testdata attachment`.
#[derive(Debug, Subcommand)]
pub(crate) enum AttachmentCmd {
    /// Allows invoices with attachments for a NIP.
    Enable {
        /// The subject's NIP.
        #[arg(long)]
        nip: String,
    },
    /// Withdraws the permission.
    Disable {
        /// The subject's NIP.
        #[arg(long)]
        nip: String,
        /// When the permission ends (YYYY-MM-DD); default now.
        #[arg(long)]
        end_date: Option<chrono::NaiveDate>,
    },
}

/// A context for block/unblock.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ContextId {
    /// By NIP.
    #[arg(long)]
    nip: Option<String>,
    /// By internal identifier.
    #[arg(long)]
    internal_id: Option<String>,
    /// By NIP-VAT-UE.
    #[arg(long)]
    nip_vat_ue: Option<String>,
    /// By Peppol id.
    #[arg(long)]
    peppol_id: Option<String>,
}

impl ContextId {
    fn json(&self) -> Value {
        let (t, v) = match (&self.nip, &self.internal_id, &self.nip_vat_ue, &self.peppol_id) {
            (Some(v), ..) => ("Nip", v),
            (_, Some(v), ..) => ("InternalId", v),
            (_, _, Some(v), _) => ("NipVatUe", v),
            (.., Some(v)) => ("PeppolId", v),
            _ => return Value::Null,
        };
        json!({ "contextIdentifier": { "type": t, "value": v } })
    }
}

/// `ksef testdata context`.
#[derive(Debug, Subcommand)]
pub(crate) enum ContextCmd {
    /// Blocks authentication in the context.
    Block(ContextId),
    /// Unblocks it.
    Unblock(ContextId),
}

/// `ksef testdata limits` (these act on the logged-in context or subject).
#[derive(Debug, Subcommand)]
pub(crate) enum LimitsCmd {
    /// Session limits of the context.
    #[command(subcommand)]
    Session(SessionLimitsCmd),
    /// Certificate limits of the subject.
    #[command(subcommand)]
    Certificates(CertLimitsCmd),
    /// API rate limits of the context.
    #[command(subcommand, name = "rate-limits")]
    RateLimits(RateLimitsCmd),
}

/// Session limit overrides; unspecified values keep the current effective ones.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionLimitsCmd {
    /// Sets limits.
    Set {
        /// Online sessions: maximum invoices per session.
        #[arg(long)]
        online_max_invoices: Option<i32>,
        /// Online sessions: maximum invoice size (MB).
        #[arg(long)]
        online_max_size_mb: Option<i32>,
        /// Online sessions: maximum size of an invoice with attachments (MB).
        #[arg(long)]
        online_max_size_with_attachment_mb: Option<i32>,
        /// Batch sessions: maximum invoices per session.
        #[arg(long)]
        batch_max_invoices: Option<i32>,
        /// Batch sessions: maximum invoice size (MB).
        #[arg(long)]
        batch_max_size_mb: Option<i32>,
        /// Batch sessions: maximum size of an invoice with attachments (MB).
        #[arg(long)]
        batch_max_size_with_attachment_mb: Option<i32>,
        /// Collective identifiers: maximum invoices.
        #[arg(long)]
        collective_max_invoices: Option<i32>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Back to the defaults.
    Reset {
        #[command(flatten)]
        login: LoginArgs,
    },
}

/// Certificate limit overrides.
#[derive(Debug, Subcommand)]
pub(crate) enum CertLimitsCmd {
    /// Sets limits.
    Set {
        /// The subject identifier type: Nip, Pesel, Fingerprint.
        #[arg(long, default_value = "Nip")]
        subject_type: String,
        /// Maximum enrollments.
        #[arg(long)]
        max_enrollments: Option<i32>,
        /// Maximum active certificates.
        #[arg(long)]
        max_certificates: Option<i32>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Back to the defaults.
    Reset {
        #[command(flatten)]
        login: LoginArgs,
    },
}

/// Rate limit overrides.
#[derive(Debug, Subcommand)]
pub(crate) enum RateLimitsCmd {
    /// Sets one group's limits; the other groups keep their current effective values.
    Set {
        /// The group: onlineSession, batchSession, invoiceSend, invoiceStatus, sessionList,
        /// sessionInvoiceList, sessionMisc, invoiceMetadata, invoiceExport, invoiceExportStatus,
        /// invoiceDownload, collectiveIdentifier, other.
        #[arg(long)]
        group: String,
        /// Requests per second.
        #[arg(long)]
        per_second: i32,
        /// Requests per minute.
        #[arg(long)]
        per_minute: i32,
        /// Requests per hour.
        #[arg(long)]
        per_hour: i32,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Back to the defaults.
    Reset {
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Applies the production rate limits to the context.
    Production {
        #[command(flatten)]
        login: LoginArgs,
    },
}

fn body<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(|e| usage("invalid request", e))
}

fn done(g: &Settings, what: &str, v: Value) -> Result<u8, Failure> {
    let mut v = v;
    v["done"] = json!(what);
    emit(g.output, &v, || println!("{what}"))?;
    Ok(exit::OK)
}

/// Runs `ksef testdata ...`.
pub(crate) fn run(cmd: Cmd, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let what = "ksef testdata";
    match cmd {
        Cmd::Subject(SubjectCmd::Create { nip, kind, description, subunits }) => {
            let t = match kind {
                SubjectKind::Jst => "JST",
                SubjectKind::VatGroup => "VatGroup",
                SubjectKind::EnforcementAuthority => "EnforcementAuthority",
            };
            let subs: Vec<Value> =
                subunits.iter().map(|s| json!({ "subjectNip": s, "description": format!("Unit {s}") })).collect();
            let mut v = json!({ "subjectNip": nip, "subjectType": t, "description": description });
            if !subs.is_empty() {
                v["subunits"] = json!(subs);
            }
            let req = body(v)?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataCreateSubject>(&(), req)?;
            done(g, &format!("test subject {nip} created ({t})"), json!({ "nip": nip, "type": t }))
        }
        Cmd::Subject(SubjectCmd::Remove { nip }) => {
            let req = body(json!({ "subjectNip": nip }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataRemoveSubject>(&(), req)?;
            done(g, &format!("test subject {nip} removed"), json!({ "nip": nip }))
        }
        Cmd::Person(PersonCmd::Create { nip, pesel, bailiff, deceased, description }) => {
            let req = body(json!({
                "nip": nip, "pesel": pesel, "isBailiff": bailiff, "isDeceased": deceased, "description": description,
            }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataCreatePerson>(&(), req)?;
            done(g, &format!("test person {nip} created"), json!({ "nip": nip, "bailiff": bailiff }))
        }
        Cmd::Person(PersonCmd::Remove { nip }) => {
            let req = body(json!({ "nip": nip }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataRemovePerson>(&(), req)?;
            done(g, &format!("test person {nip} removed"), json!({ "nip": nip }))
        }
        Cmd::Permissions(PermissionsCmd::Grant { context_nip, to, permissions, description }) => {
            for p in &permissions {
                super::parse_enum::<ksef_model::types::TestDataPermissionType>(
                    "--permission",
                    p,
                    "InvoiceRead, InvoiceWrite, Introspection, CredentialsRead, CredentialsManage, \
                     EnforcementOperations, SubunitManage, CollectiveIdentifierManage",
                )?;
            }
            let perms: Vec<Value> =
                permissions.iter().map(|p| json!({ "permissionType": p, "description": description })).collect();
            let req = body(json!({
                "contextIdentifier": { "type": "Nip", "value": context_nip },
                "authorizedIdentifier": to.json(),
                "permissions": perms,
            }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataGrantPermissions>(&(), req)?;
            let msg = format!("granted {} in context {context_nip}", permissions.join(", "));
            done(g, &msg, json!({ "context": context_nip, "authorized": to.json(), "permissions": permissions }))
        }
        Cmd::Permissions(PermissionsCmd::Revoke { context_nip, to }) => {
            let req = body(json!({
                "contextIdentifier": { "type": "Nip", "value": context_nip },
                "authorizedIdentifier": to.json(),
            }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataRevokePermissions>(&(), req)?;
            let msg = format!("test-data permissions revoked in context {context_nip}");
            done(g, &msg, json!({ "context": context_nip, "authorized": to.json() }))
        }
        Cmd::Attachment(AttachmentCmd::Enable { nip }) => {
            let req = body(json!({ "nip": nip }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataAllowAttachments>(&(), req)?;
            done(g, &format!("attachments enabled for {nip}"), json!({ "nip": nip }))
        }
        Cmd::Attachment(AttachmentCmd::Disable { nip, end_date }) => {
            let req = body(json!({ "nip": nip, "expectedEndDate": end_date }))?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataRevokeAttachments>(&(), req)?;
            done(g, &format!("attachments disabled for {nip}"), json!({ "nip": nip }))
        }
        Cmd::Context(ContextCmd::Block(id)) => {
            let v = id.json();
            let req = body(v.clone())?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataBlockContext>(&(), req)?;
            done(g, "context blocked: authentication in it is refused", v)
        }
        Cmd::Context(ContextCmd::Unblock(id)) => {
            let v = id.json();
            let req = body(v.clone())?;
            let c = super::anonymous(g, state, what)?;
            c.client.call_blocking::<ops::TestdataUnblockContext>(&(), req)?;
            done(g, "context unblocked", v)
        }
        Cmd::Limits(l) => limits(l, g, state),
    }
}

/// Sets `v[group][key]` when `value` is given.
fn set(v: &mut Value, group: &str, key: &str, value: Option<i32>) {
    if let Some(n) = value {
        v[group][key] = json!(n);
    }
}

fn limits(cmd: LimitsCmd, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let what = "ksef testdata limits";
    super::require_test_env(&crate::Target::parse(&g.env)?, what)?;
    let connect = |login: &LoginArgs| super::remote(g, state, login);
    match cmd {
        LimitsCmd::Session(SessionLimitsCmd::Set {
            online_max_invoices,
            online_max_size_mb,
            online_max_size_with_attachment_mb,
            batch_max_invoices,
            batch_max_size_mb,
            batch_max_size_with_attachment_mb,
            collective_max_invoices,
            login,
        }) => {
            let r = connect(&login)?;
            let current = r.call::<ops::GetContextLimits>(&(), ())?;
            let mut v = super::to_json(&current)?;
            set(&mut v, "onlineSession", "maxInvoices", online_max_invoices);
            set(&mut v, "onlineSession", "maxInvoiceSizeInMB", online_max_size_mb);
            set(&mut v, "onlineSession", "maxInvoiceWithAttachmentSizeInMB", online_max_size_with_attachment_mb);
            set(&mut v, "batchSession", "maxInvoices", batch_max_invoices);
            set(&mut v, "batchSession", "maxInvoiceSizeInMB", batch_max_size_mb);
            set(&mut v, "batchSession", "maxInvoiceWithAttachmentSizeInMB", batch_max_size_with_attachment_mb);
            set(&mut v, "collectiveIdentifier", "maxInvoices", collective_max_invoices);
            r.call::<ops::TestdataSetSessionLimits>(&(), body(v.clone())?)?;
            done(g, "session limits set", json!({ "limits": v }))
        }
        LimitsCmd::Session(SessionLimitsCmd::Reset { login }) => {
            connect(&login)?.call::<ops::TestdataResetSessionLimits>(&(), ())?;
            done(g, "session limits reset to the defaults", json!({}))
        }
        LimitsCmd::Certificates(CertLimitsCmd::Set { subject_type, max_enrollments, max_certificates, login }) => {
            super::parse_enum::<ksef_model::types::SubjectIdentifierType>(
                "--subject-type",
                &subject_type,
                "Nip, Pesel, Fingerprint",
            )?;
            let mut v = json!({ "subjectIdentifierType": subject_type });
            if let Some(n) = max_enrollments {
                v["enrollment"] = json!({ "maxEnrollments": n });
            }
            if let Some(n) = max_certificates {
                v["certificate"] = json!({ "maxCertificates": n });
            }
            let req = body(v.clone())?;
            connect(&login)?.call::<ops::TestdataSetCertificateLimits>(&(), req)?;
            done(g, "certificate limits set", json!({ "limits": v }))
        }
        LimitsCmd::Certificates(CertLimitsCmd::Reset { login }) => {
            connect(&login)?.call::<ops::TestdataResetCertificateLimits>(&(), ())?;
            done(g, "certificate limits reset to the defaults", json!({}))
        }
        LimitsCmd::RateLimits(RateLimitsCmd::Set { group, per_second, per_minute, per_hour, login }) => {
            if !ksef_model::RATE_LIMIT_OVERRIDE_GROUPS.contains(&group.as_str()) {
                return Err(Failure::new(
                    exit::USAGE,
                    format!(
                        "--group {group:?}: unknown group (accepted: {})",
                        ksef_model::RATE_LIMIT_OVERRIDE_GROUPS.join(", ")
                    ),
                ));
            }
            let r = connect(&login)?;
            let current = super::to_json(&r.call::<ops::GetRateLimits>(&(), ())?)?;
            let mut limits = serde_json::Map::new();
            for k in ksef_model::RATE_LIMIT_OVERRIDE_GROUPS {
                limits.insert(k.to_string(), current[k].clone());
            }
            limits.insert(
                group.clone(),
                json!({ "perSecond": per_second, "perMinute": per_minute, "perHour": per_hour }),
            );
            let v = json!({ "rateLimits": limits });
            r.call::<ops::TestdataSetRateLimits>(&(), body(v.clone())?)?;
            let msg = format!("rate limits of {group} set to {per_second}/s, {per_minute}/min, {per_hour}/h");
            done(g, &msg, v)
        }
        LimitsCmd::RateLimits(RateLimitsCmd::Reset { login }) => {
            connect(&login)?.call::<ops::TestdataResetRateLimits>(&(), ())?;
            done(g, "rate limits reset to the defaults", json!({}))
        }
        LimitsCmd::RateLimits(RateLimitsCmd::Production { login }) => {
            connect(&login)?.call::<ops::TestdataSetProductionRateLimits>(&(), ())?;
            done(g, "production rate limits applied", json!({}))
        }
    }
}
