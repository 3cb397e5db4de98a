//! `ksef certs limits|enroll|list|get|revoke`: KSeF certificates (authentication and offline).
//!
//! `enroll` reads the enrollment data KSeF requires in the subject, builds a PKCS#10 CSR with
//! ksef-crypto (the private key is generated locally, or given, and written with mode 0600),
//! submits it, polls the enrollment and writes the issued certificate (PEM).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use ksef_crypto::Certificate;
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, create_csr};
use ksef_model::operations as ops;
use serde_json::{Value, json};

use super::{emit, remote, to_json, usage};
use crate::config::Settings;
use crate::{Failure, LoginArgs, exit};

/// The certificate type.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CertType {
    /// For authenticating to KSeF.
    Authentication,
    /// For signing offline invoices' KOD II.
    Offline,
}

impl CertType {
    fn wire(self) -> &'static str {
        match self {
            Self::Authentication => "Authentication",
            Self::Offline => "Offline",
        }
    }
}

/// `ksef certs`.
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// How many enrollments and certificates the subject may still request.
    Limits {
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Requests a certificate: CSR from a local key, submit, wait, write the certificate.
    /// Needs a login with a certificate (XAdES), not a KSeF token.
    Enroll(EnrollArgs),
    /// Lists the subject's certificates (metadata).
    List(ListArgs),
    /// Downloads certificates by serial number (PEM to --out, or printed).
    Get {
        /// Serial numbers (hex, as `certs list` shows them).
        #[arg(required = true)]
        serials: Vec<String>,
        /// Write the (first) certificate here as PEM; otherwise all are printed.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Revokes a certificate.
    Revoke {
        /// Serial number.
        serial: String,
        /// Reason: Unspecified, Superseded, KeyCompromise.
        #[arg(long, default_value = "Unspecified")]
        reason: String,
        #[command(flatten)]
        login: LoginArgs,
    },
}

/// `ksef certs enroll`.
#[derive(Debug, Args)]
pub(crate) struct EnrollArgs {
    /// Certificate name (shown in listings).
    #[arg(long)]
    name: String,
    /// Certificate type.
    #[arg(long = "type", value_enum, default_value_t = CertType::Authentication)]
    cert_type: CertType,
    /// Use this private key instead of generating one: PEM (also `ENCRYPTED PRIVATE KEY`, its
    /// password from --key-password-file or KSEF_KEY_PASSWORD) or PKCS#8/PKCS#1/SEC1 DER.
    #[arg(long, conflicts_with = "ec")]
    use_key: Option<PathBuf>,
    /// Generate an ECDSA P-256 key (default RSA-2048).
    #[arg(long)]
    ec: bool,
    /// Where to write a generated key (mode 0600). Default: <out>.key.pem.
    #[arg(long)]
    key_out: Option<PathBuf>,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    out: PathBuf,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    #[command(flatten)]
    login: LoginArgs,
}

/// `ksef certs list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this serial number.
    #[arg(long)]
    serial: Option<String>,
    /// Only names containing this.
    #[arg(long)]
    name: Option<String>,
    /// Only this type.
    #[arg(long = "type", value_enum)]
    cert_type: Option<CertType>,
    /// Only this status: Active, Blocked, Revoked, Expired.
    #[arg(long)]
    status: Option<String>,
    /// Certificates per page (10..=50).
    #[arg(long)]
    page_size: Option<u32>,
    /// Fetch every page.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    login: LoginArgs,
}

fn body<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(|e| usage("invalid request", e))
}

fn crypto(what: &str) -> impl FnOnce(ksef_crypto::Error) -> Failure + '_ {
    move |e| Failure::new(exit::ERROR, format!("{what}: {}", crate::error_chain(&e)))
}

/// The CSR subject from `GET /certificates/enrollments/data`, attribute by attribute.
fn subject_fields(d: &Value) -> SubjectFields {
    let s = |k: &str| d[k].as_str().map(str::to_owned);
    SubjectFields {
        common_name: s("commonName").unwrap_or_default(),
        country_name: s("countryName").unwrap_or_default(),
        given_names: s("givenName").map(|g| vec![g]).unwrap_or_default(),
        surname: s("surname"),
        serial_number: s("serialNumber"),
        unique_identifier: s("uniqueIdentifier"),
        organization_name: s("organizationName"),
        organization_identifier: s("organizationIdentifier"),
    }
}

fn pem_of_b64(b64: &str) -> Result<String, Failure> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| Failure::new(exit::ERROR, format!("certificate from KSeF is not Base64: {e}")))?;
    Certificate::from_der(&der).and_then(|c| c.to_pem()).map_err(crypto("certificate from KSeF"))
}

fn enroll(a: EnrollArgs, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let r = remote(g, state, &a.login)?;
    let data = to_json(&r.call::<ops::GetCertificateEnrollmentData>(&(), ())?)?;
    let (key, key_path) = match &a.use_key {
        Some(p) => (crate::read_key(p, &a.login)?, None),
        None => {
            let alg = if a.ec { KeyAlgorithm::P256 } else { KeyAlgorithm::Rsa2048 };
            let key = alg.generate(&mut rand::rng()).map_err(crypto("key generation"))?;
            let path = a.key_out.clone().unwrap_or_else(|| {
                let mut p = a.out.clone().into_os_string();
                p.push(".key.pem");
                PathBuf::from(p)
            });
            let pem = key.to_pkcs8_pem().map_err(crypto("key"))?;
            crate::write_file(&path, pem.as_bytes(), true)
                .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
            (key, Some(path))
        }
    };
    let csr = create_csr(&key, &subject_fields(&data)).map_err(crypto("CSR"))?;
    let req = body(json!({
        "certificateName": a.name,
        "certificateType": a.cert_type.wire(),
        "csr": base64::engine::general_purpose::STANDARD.encode(csr),
    }))?;
    let reference = r.call::<ops::EnrollCertificate>(&(), req)?.reference_number.to_string();
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    let serial = loop {
        let params = ops::GetCertificateEnrollmentStatusParams { reference_number: reference.clone() };
        let st = to_json(&r.call::<ops::GetCertificateEnrollmentStatus>(&params, ())?)?;
        let code = st["status"]["code"].as_i64().unwrap_or(0);
        if code == 200 {
            break st["certificateSerialNumber"].as_str().unwrap_or_default().to_string();
        }
        if code >= 300 {
            return Err(Failure::new(
                exit::ERROR,
                format!(
                    "enrollment {reference} failed with status {code}: {}{}",
                    st["status"]["description"].as_str().unwrap_or("-"),
                    st["status"]["details"]
                        .as_array()
                        .map(|d| d.iter().map(|l| format!("; {}", l.as_str().unwrap_or_default())).collect::<String>())
                        .unwrap_or_default()
                ),
            ));
        }
        if started.elapsed() > Duration::from_secs(a.timeout) {
            return Err(Failure::new(
                exit::ERROR,
                format!("enrollment {reference} still pending after {} s; check it later", a.timeout),
            ));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(5));
    };
    let got = r.call::<ops::RetrieveCertificates>(&(), body(json!({ "certificateSerialNumbers": [serial] }))?)?;
    let item = to_json(&got)?["certificates"][0].clone();
    let pem = pem_of_b64(item["certificate"].as_str().unwrap_or_default())?;
    crate::write_file(&a.out, pem.as_bytes(), false)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", a.out.display())))?;
    let v = json!({
        "reference_number": reference,
        "serial_number": serial,
        "certificate": a.out,
        "key": key_path,
    });
    emit(g.output, &v, || {
        println!("certificate {serial} issued (enrollment {reference})");
        println!("  certificate: {}", a.out.display());
        if let Some(k) = &key_path {
            println!("  private key: {} (mode 0600)", k.display());
        }
    })?;
    Ok(exit::OK)
}

/// Runs `ksef certs ...`.
pub(crate) fn run(cmd: Cmd, g: &Settings, state: &Path) -> Result<u8, Failure> {
    match cmd {
        Cmd::Limits { login } => {
            let r = remote(g, state, &login)?;
            let v = to_json(&r.call::<ops::GetCertificateLimits>(&(), ())?)?;
            emit(g.output, &v, || {
                println!("can request: {}", if v["canRequest"] == true { "yes" } else { "no" });
                for k in ["enrollment", "certificate"] {
                    println!("{k}: {} of {} remaining", v[k]["remaining"], v[k]["limit"]);
                }
            })?;
            Ok(exit::OK)
        }
        Cmd::Enroll(a) => enroll(a, g, state),
        Cmd::List(a) => {
            let mut filter = json!({});
            if let Some(s) = &a.serial {
                filter["certificateSerialNumber"] = json!(s);
            }
            if let Some(n) = &a.name {
                filter["name"] = json!(n);
            }
            if let Some(t) = a.cert_type {
                filter["type"] = json!(t.wire());
            }
            if let Some(s) = &a.status {
                super::parse_enum::<ksef_model::types::CertificateListItemStatus>(
                    "--status",
                    s,
                    "Active, Blocked, Revoked, Expired",
                )?;
                filter["status"] = json!(s);
            }
            let req: ksef_model::types::QueryCertificatesRequest = body(filter)?;
            let page_size = super::page_size(a.page_size, 10, 50)?;
            let r = remote(g, state, &a.login)?;
            let mut params = ops::QueryCertificatesParams { page_size, page_offset: Some(0) };
            let mut rows = Vec::new();
            let more = loop {
                let resp = r.call::<ops::QueryCertificates>(&params, req.clone())?;
                for c in &resp.certificates {
                    rows.push(to_json(c)?);
                }
                if !(a.all && resp.has_more) {
                    break resp.has_more;
                }
                params.page_offset = Some(params.page_offset.unwrap_or(0).saturating_add(1));
            };
            let v = json!({ "certificates": rows, "count": rows.len(), "has_more": more });
            emit(g.output, &v, || {
                let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
                for c in &rows {
                    println!(
                        "{}  {:<14}  {:<8}  {} .. {}  {}",
                        s(&c["certificateSerialNumber"]),
                        s(&c["type"]),
                        s(&c["status"]),
                        s(&c["validFrom"]),
                        s(&c["validTo"]),
                        s(&c["name"]),
                    );
                }
                println!("{} certificate(s)", rows.len());
                if more {
                    println!("more: pass --all");
                }
            })?;
            Ok(exit::OK)
        }
        Cmd::Get { serials, out, login } => {
            let r = remote(g, state, &login)?;
            let req = body(json!({ "certificateSerialNumbers": serials }))?;
            let got = to_json(&r.call::<ops::RetrieveCertificates>(&(), req)?)?;
            let items = got["certificates"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return Err(Failure::new(exit::ERROR, "KSeF returned no certificate for these serial numbers"));
            }
            let mut pems = Vec::new();
            for it in &items {
                pems.push(pem_of_b64(it["certificate"].as_str().unwrap_or_default())?);
            }
            if let Some(p) = &out {
                crate::write_file(p, pems[0].as_bytes(), false)
                    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", p.display())))?;
            }
            let rows: Vec<Value> = items
                .iter()
                .zip(&pems)
                .map(|(it, pem)| {
                    json!({
                        "serial_number": it["certificateSerialNumber"],
                        "name": it["certificateName"],
                        "type": it["certificateType"],
                        "pem": pem,
                    })
                })
                .collect();
            let v = json!({ "certificates": rows, "out": out });
            emit(g.output, &v, || {
                for (it, pem) in items.iter().zip(&pems) {
                    println!(
                        "# {} {} ({})",
                        it["certificateSerialNumber"].as_str().unwrap_or("-"),
                        it["certificateName"].as_str().unwrap_or("-"),
                        it["certificateType"].as_str().unwrap_or("-")
                    );
                    if out.is_none() {
                        print!("{pem}");
                    }
                }
                if let Some(p) = &out {
                    println!("written to {}", p.display());
                }
            })?;
            Ok(exit::OK)
        }
        Cmd::Revoke { serial, reason, login } => {
            super::parse_enum::<ksef_model::types::CertificateRevocationReason>(
                "--reason",
                &reason,
                "Unspecified, Superseded, KeyCompromise",
            )?;
            let req = body(json!({ "revocationReason": reason }))?;
            let r = remote(g, state, &login)?;
            let params = ops::RevokeCertificateParams { certificate_serial_number: serial.clone() };
            r.call::<ops::RevokeCertificate>(&params, req)?;
            let v = json!({ "serial_number": serial, "revoked": true, "reason": reason });
            emit(g.output, &v, || println!("certificate {serial} revoked ({reason})"))?;
            Ok(exit::OK)
        }
    }
}
