//! Batch send, export and incremental sync (blocking, ureq) against an embedded `ksef-emulator`:
//! log in with XAdES, send 20 FA(3) invoices as an encrypted ZIP batch, download them back with
//! an export, then run incremental (high-water-mark) sync twice, persisting the checkpoint as
//! JSON between runs; the second run finds only the invoice sent in between.
//!
//! Run with `cargo run -p ksef-client --example batch_sync --features ureq`
//! (set `KSEF_SHARED_DIR` if the shared fixtures are not at `../../shared`).

use std::path::PathBuf;

use ksef_client::flows::{BatchInvoice, BatchOptions, sync_filters};
use ksef_client::sync::{SubjectCheckpoint, SyncCheckpoint};
use ksef_client::{Authenticator, FormCode, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{ContextIdentifier, UnixTime};
use ksef_model::operations::TestdataCreateSubject;
use ksef_model::types::{InvoiceQuerySubjectType, SubjectCreateRequest, SubjectType};
use ksef_transport::{TransportConfig, UreqTransport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = ksef_emulator::Emulator::builder().start()?;
    let client = KsefClient::builder(emu.base_url().parse()?)
        .allow_loopback_urls(true)
        .build(UreqTransport::new(&TransportConfig::default()))?;

    let nip = "5265877635";
    client.call_blocking::<TestdataCreateSubject>(
        &(),
        SubjectCreateRequest {
            created_date: None,
            description: "Firma z przykładu".try_into()?,
            subject_nip: nip.try_into()?,
            subject_type: SubjectType::Jst,
            subunits: None,
        },
    )?;
    let seal = TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::seal(nip, "Firma Testowa")?,
        UnixTime::from_secs(UnixTime::now().as_secs() - 3600),
        30,
        &mut rand::rng(),
    )?;
    client.login_blocking(Authenticator::xades(ContextIdentifier::Nip(nip.into()), seal))?;

    let invoice = invoice_template(nip)?;
    let from = chrono::Utc::now() - chrono::Duration::minutes(5);

    // 1. Batch: packed, split, encrypted and uploaded by the library; one result per file.
    let files: Vec<BatchInvoice> =
        (1..=20).map(|i| BatchInvoice::bytes(format!("fv-{i}.xml"), invoice(&format!("FV/{i}/batch")))).collect();
    let report = client.send_batch_blocking(FormCode::Fa3, files, &BatchOptions::default())?;
    println!("batch {}: {} parts, {} accepted", report.reference_number, report.parts, report.accepted().count());
    for (file, rejection) in report.rejected() {
        println!("  {file} rejected: {rejection}");
    }

    // 2. Export: a fresh key, parts verified, decrypted, joined and safely unpacked.
    let filters = sync_filters(SubjectCheckpoint::new(from).next_range(), InvoiceQuerySubjectType::Subject1)?;
    let export = client.export_invoices_blocking(&filters)?;
    println!("export {}: {} invoices", export.reference_number, export.invoices.len());

    // 3. Incremental sync: the checkpoint is what you persist (here: JSON in a temp file).
    let state = std::env::temp_dir().join(format!("ksef-example-checkpoint-{}.json", std::process::id()));
    let mut checkpoint = SyncCheckpoint::new(from, &[InvoiceQuerySubjectType::Subject1]);
    for run in 1..=2 {
        if run == 2 {
            let (_, sent) = client.send_invoices_blocking(FormCode::Fa3, &[invoice("FV/21/online")])?;
            if let Err(e) = &sent[0] {
                println!("  online invoice rejected: {e}");
            }
            checkpoint = serde_json::from_slice(&std::fs::read(&state)?)?;
        }
        let mut new = 0;
        loop {
            let step = client.sync_step_blocking(&mut checkpoint, InvoiceQuerySubjectType::Subject1, from)?;
            new += step.invoices.len();
            // Store the invoices first, then the checkpoint: a crash in between re-delivers, never loses.
            std::fs::write(&state, serde_json::to_vec(&checkpoint)?)?;
            if !step.more {
                break;
            }
        }
        println!("sync run {run}: {new} new invoices");
    }
    std::fs::remove_file(&state)?;
    Ok(())
}

/// The shared FA(3) template with this seller and today's date; the closure fills the number.
fn invoice_template(nip: &str) -> Result<impl Fn(&str) -> Vec<u8>, Box<dyn std::error::Error>> {
    let shared = std::env::var_os("KSEF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let today = chrono::Utc::now().date_naive().to_string();
    let template = std::fs::read_to_string(shared.join("fixtures/invoices/invoice-template-fa-3.xml"))?
        .replace("#nip#", nip)
        .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"));
    Ok(move |number: &str| template.replace("#invoice_number#", number).into_bytes())
}
