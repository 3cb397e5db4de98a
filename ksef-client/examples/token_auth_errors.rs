//! KSeF-token authentication and error handling (blocking, ureq) against an embedded
//! `ksef-emulator`: log in once with XAdES, generate a KSeF token, log in with that token in a
//! second client, then show how each kind of failure arrives as a typed `Error`: a rejected
//! invoice (the seller is not the context: 410), a duplicate (440 with the original KSeF number),
//! a refused token, and an API error with KSeF's exception codes.
//!
//! Run with `cargo run -p ksef-client --example token_auth_errors --features ureq`
//! (set `KSEF_SHARED_DIR` if the shared fixtures are not at `../../shared`).

use std::path::PathBuf;

use ksef_client::{Authenticator, Error, FormCode, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{ContextIdentifier, UnixTime};
use ksef_model::operations::{GenerateToken, GetInvoice, GetInvoiceParams, TestdataCreateSubject};
use ksef_model::types::{GenerateTokenRequest, SubjectCreateRequest, SubjectType, TokenPermissionType};
use ksef_transport::{TransportConfig, UreqTransport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = ksef_emulator::Emulator::builder().start()?;
    let new_client = || {
        KsefClient::builder(emu.base_url().parse().expect("URL"))
            .allow_loopback_urls(true)
            .build(UreqTransport::new(&TransportConfig::default()))
    };
    let nip = "5265877635";
    let context = ContextIdentifier::Nip(nip.into());

    // Once, with a certificate: create the test subject and generate a KSeF token.
    let admin = new_client()?;
    admin.call_blocking::<TestdataCreateSubject>(
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
    admin.login_blocking(Authenticator::xades(context.clone(), seal))?;
    let request = GenerateTokenRequest {
        description: "Token z przykładu".try_into()?,
        permissions: vec![TokenPermissionType::InvoiceWrite, TokenPermissionType::InvoiceRead],
    };
    let token = admin.call_blocking::<GenerateToken>(&(), request)?.value.token.to_string();

    // Daily use: a client that logs in with the KSeF token (encrypted with KSeF's RSA key).
    let client = new_client()?;
    client.login_blocking(Authenticator::ksef_token(context.clone(), token))?;
    println!("logged in with a KSeF token");

    let invoice = invoice_template()?;
    let mine = invoice(nip, "FV/1/errors");
    let foreign = invoice("1234567819", "FV/2/errors"); // another seller: this context may not issue it
    let (_, results) = client.send_invoices_blocking(FormCode::Fa3, &[mine.clone(), foreign, mine])?;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(a) => println!("invoice {i}: accepted as {}", a.ksef_number),
            Err(Error::InvoiceRejected(r)) if r.is_duplicate() => println!(
                "invoice {i}: duplicate of {} (status {})",
                r.extension("originalKsefNumber").unwrap_or("?"),
                r.code
            ),
            Err(Error::InvoiceRejected(r)) => {
                println!("invoice {i}: rejected {}: {} {:?}", r.code, r.description, r.details);
            }
            Err(e) => println!("invoice {i}: {e}"),
        }
    }

    // A token KSeF does not know: authentication fails with its status and meaning.
    let stranger = new_client()?;
    match stranger.login_blocking(Authenticator::ksef_token(context, "not-a-real-token".to_owned())) {
        Err(Error::Auth(f)) => println!("bad token refused: {f}"),
        Err(e) => println!("bad token refused: {e}"),
        Ok(()) => println!("unexpected: a made-up token was accepted"),
    }

    // An API error carries KSeF's exception codes (here: no such invoice).
    let missing = GetInvoiceParams { ksef_number: "5265877635-20260101-0100001AF629-AF".into() };
    match client.call_blocking::<GetInvoice>(&missing, ()) {
        Err(e) => println!("GET unknown invoice: {e} (exception codes {:?})", e.exception_codes()),
        Ok(_) => println!("unexpected: an unknown invoice was found"),
    }
    Ok(())
}

/// The shared FA(3) template with today's date; the closure fills the seller and the number.
fn invoice_template() -> Result<impl Fn(&str, &str) -> Vec<u8>, Box<dyn std::error::Error>> {
    let shared = std::env::var_os("KSEF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let today = chrono::Utc::now().date_naive().to_string();
    let template = std::fs::read_to_string(shared.join("fixtures/invoices/invoice-template-fa-3.xml"))?
        .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"));
    Ok(move |nip: &str, number: &str| template.replace("#nip#", nip).replace("#invoice_number#", number).into_bytes())
}
