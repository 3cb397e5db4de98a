//! XAdES authentication (blocking, ureq) against an embedded `ksef-emulator`:
//! create a test subject, sign the `AuthTokenRequest` with a self-signed seal, poll the
//! status, redeem the tokens, refresh once.
//!
//! Run with `cargo run -p ksef-client --example xades_auth --features ureq`.

use ksef_client::{Authenticator, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{ContextIdentifier, UnixTime};
use ksef_model::operations::{ListAuthSessions, ListAuthSessionsParams, TestdataCreateSubject};
use ksef_model::types::{SubjectCreateRequest, SubjectType};
use ksef_transport::{TransportConfig, UreqTransport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = ksef_emulator::Emulator::builder().start()?;
    let client = KsefClient::builder(emu.base_url().parse()?).build(UreqTransport::new(&TransportConfig::default()))?;

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

    let now = UnixTime::now();
    let seal = TestIdentity::generate(
        KeyAlgorithm::P256,
        &SubjectFields::seal(nip, "Firma Testowa")?,
        UnixTime::from_secs(now.as_secs() - 3600),
        30,
        &mut rand::rng(),
    )?;
    client.login_blocking(Authenticator::xades(ContextIdentifier::Nip(nip.into()), seal))?;
    println!("access token valid until {:?}", client.tokens().access_valid_until());
    println!("refresh token valid until {:?}", client.tokens().refresh_valid_until());

    client.refresh_blocking()?;
    let sessions = client
        .call_blocking::<ListAuthSessions>(&ListAuthSessionsParams { continuation_token: None, page_size: None }, ())?
        .value;
    for s in sessions.items {
        println!("auth session {} status {} current={:?}", &*s.reference_number, s.status.code, s.is_current);
    }
    Ok(())
}
