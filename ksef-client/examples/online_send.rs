//! Online session (async, reqwest) against an embedded `ksef-emulator`: log in with XAdES,
//! send FA(3) invoices built from the shared template, print each one's KSeF number or error.
//!
//! Run with `cargo run -p ksef-client --example online_send --features reqwest`
//! (set `KSEF_SHARED_DIR` if the shared fixtures are not at `../../shared`).

use std::path::PathBuf;

use ksef_client::{Authenticator, FormCode, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{ContextIdentifier, UnixTime};
use ksef_model::operations::TestdataCreateSubject;
use ksef_model::types::{SubjectCreateRequest, SubjectType};
use ksef_transport::{ReqwestTransport, TransportConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The emulator brings its own runtime; start it before ours.
    let emu = ksef_emulator::Emulator::builder().start()?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(&emu))
}

async fn run(emu: &ksef_emulator::Emulator) -> Result<(), Box<dyn std::error::Error>> {
    let client = KsefClient::builder(emu.base_url().parse()?)
        .allow_loopback_urls(true)
        .build(ReqwestTransport::new(&TransportConfig::default())?)?;

    let nip = "5265877635";
    client
        .call::<TestdataCreateSubject>(
            &(),
            SubjectCreateRequest {
                created_date: None,
                description: "Firma z przykładu".try_into()?,
                subject_nip: nip.try_into()?,
                subject_type: SubjectType::Jst,
                subunits: None,
            },
        )
        .await?;
    let seal = TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::seal(nip, "Firma Testowa")?,
        UnixTime::from_secs(UnixTime::now().as_secs() - 3600),
        30,
        &mut rand::rng(),
    )?;
    client.login(Authenticator::xades(ContextIdentifier::Nip(nip.into()), seal)).await?;

    let shared = std::env::var_os("KSEF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let template = std::fs::read_to_string(shared.join("fixtures/invoices/invoice-template-fa-3.xml"))?;
    let today = chrono::Utc::now().date_naive().to_string();
    let invoices: Vec<Vec<u8>> = (1..=3)
        .map(|i| {
            template
                .replace("#nip#", nip)
                .replace("#invoice_number#", &format!("FV/{i}/example"))
                .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"))
                .into_bytes()
        })
        .collect();

    let (session, results) = client.send_invoices(FormCode::Fa3, &invoices, 2).await?;
    println!("session {}", session.reference_number);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(a) => println!("invoice {i}: KSeF number {}", a.ksef_number),
            Err(e) => println!("invoice {i}: {e}"),
        }
    }
    Ok(())
}
