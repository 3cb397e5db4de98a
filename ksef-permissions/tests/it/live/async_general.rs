//! The async path: `ReqwestTransport` on tokio, a general (`AllPartners`) indirect grant.

use ksef_emulator::domain::Identifier;
use ksef_permissions::paging::for_each_page_async;
use ksef_permissions::query::{PersonalQuery, revoke_common};
use ksef_permissions::wait::{submit_and_wait_async, wait_async};
use ksef_permissions::{
    EntityGrant, EntityPermissionType, IndirectGrant, IndirectPermissionType, IndirectTarget, PersonDetails,
    PersonSubject,
};
use ksef_transport::{Pipeline, ReqwestTransport, SystemClock, TransportConfig};

use super::{Env, fresh_nip, open_session, policy};

#[test]
fn general_indirect_grant_over_reqwest() {
    // The emulator owns a runtime; start it outside the test's own.
    let env = Env::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(scenario(&env));
}

async fn scenario(env: &Env) {
    let (client, office) = (fresh_nip(20), fresh_nip(21));
    let pesel = "90010112349";
    // Sign-in stays on the blocking helper; the permission calls below go through reqwest.
    let (client_ctx, office_ctx) = (env.owner(&client), env.owner(&office));
    let t = ReqwestTransport::new(&TransportConfig::default()).unwrap();
    let p = Pipeline::new();
    let sleep = tokio::time::sleep;

    let to_office = EntityGrant::new(office.parse().unwrap(), "Biuro Rachunkowe Sp. z o.o.")
        .permission(EntityPermissionType::InvoiceWrite, true)
        .description("Obsługa księgowa")
        .build_call()
        .unwrap();
    submit_and_wait_async(&p, &t, &client_ctx, to_office, policy(), &SystemClock, sleep).await.unwrap();

    let general = IndirectGrant::new(
        PersonSubject::pesel(pesel).unwrap(),
        PersonDetails::by_identifier("Ewa", "Kowalska"),
        IndirectTarget::AllClients,
    )
    .permission(IndirectPermissionType::InvoiceWrite)
    .description("Księgowa biura, wszyscy klienci")
    .build_call()
    .unwrap();
    // Submit and wait as two steps, to exercise `wait_async` on its own too.
    let accepted = general.execute_async(&p, &t, &office_ctx, sleep).await.unwrap();
    let reference = accepted.value.reference_number.to_string().parse().unwrap();
    wait_async(&p, &t, &office_ctx, &reference, policy(), &SystemClock, sleep).await.unwrap();

    // Observed by the employee (personal query over reqwest), walked page by page. (The office's
    // `PermissionsGrantedInCurrentContext` query would be the natural place, but the emulator does
    // not list indirect grants there.)
    let emp = env.login(Identifier::nip(&client), Identifier::pesel(pesel));
    let mut rows = Vec::new();
    let pages = for_each_page_async(
        &p,
        &t,
        &emp,
        10,
        sleep,
        |page| PersonalQuery::new().page(page).build(),
        |resp| rows.extend(resp.permissions),
    )
    .await
    .unwrap();
    assert_eq!(pages, 1);
    assert_eq!(rows.len(), 1);
    let row = serde_json::to_value(&rows[0]).unwrap();
    assert_eq!(row["targetIdentifier"]["type"], "AllPartners", "{row}");
    assert_eq!(row["permissionScope"], "InvoiceWrite");

    // Effect: the employee works for the client that delegated (session opens) …
    open_session(env, &emp).unwrap();
    // … and not for one that did not.
    assert_eq!(env.try_login(Identifier::nip(fresh_nip(22)), Identifier::pesel(pesel)).err(), Some(415));

    let revoke = revoke_common(row["id"].as_str().unwrap()).unwrap();
    submit_and_wait_async(&p, &t, &office_ctx, revoke, policy(), &SystemClock, sleep).await.unwrap();
    assert_eq!(env.try_login(Identifier::nip(&client), Identifier::pesel(pesel)).err(), Some(415));
}
