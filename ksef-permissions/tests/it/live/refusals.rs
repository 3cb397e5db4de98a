//! What the builders refuse before sending, the emulator refuses too (HTTP 400 or a failed
//! operation) when the same body is sent raw.

use ksef_model::operations as ops;
use ksef_model::types;
use ksef_permissions::wait::submit_and_wait_blocking;
use serde_json::{Value, json};

use super::{Env, fresh_nip};
use ksef_permissions::{
    AuthorizationGrant, AuthorizedEntity, EntityAuthorizationPermissionType, PersonDetails, PersonGrant, PersonSubject,
};

/// `Ok(reason)` when the emulator refused `body` (400 at once or a failed operation), `Err(text)`
/// when it carried it out.
fn refused<O>(env: &Env, ctx: &ksef_transport::RequestContext, body: Value) -> Result<String, String>
where
    O: ksef_model::Operation<Params = (), Response = types::PermissionsOperationResponse>,
    O::Request: serde::de::DeserializeOwned + ksef_transport::RequestBody,
{
    let body: O::Request = serde_json::from_value(body).expect("the model can represent the body");
    let call = ksef_permissions::Call::<O>::new((), body);
    match submit_and_wait_blocking(
        &env.pipeline,
        &env.transport,
        ctx,
        call,
        super::policy(),
        &ksef_transport::SystemClock,
        std::thread::sleep,
    ) {
        Ok(done) => Err(format!("accepted: {}", done.reference)),
        Err(e) => Ok(e.to_string()),
    }
}

/// Cases where this crate and the emulator agree that the request is wrong, including the spec's
/// rules that `canDelegate` goes only with InvoiceRead/InvoiceWrite, that each permission occurs
/// once, and that a fingerprint subject is not described `PersonByIdentifier`.
#[test]
fn builder_refusals_are_emulator_refusals() {
    let env = Env::start();
    let (nip, other) = (fresh_nip(40), fresh_nip(41));
    let ctx = env.owner(&nip);
    let anna =
        json!({"subjectDetailsType": "PersonByIdentifier", "personById": {"firstName": "Anna", "lastName": "Nowak"}});

    // A PESEL with a wrong check digit.
    assert!(PersonSubject::pesel("44051401358").is_err());
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": "44051401358"}, "permissions": ["InvoiceRead"],
                      "description": "Osoba testowa", "subjectDetails": anna});
    refused::<ops::GrantPersonPermissions>(&env, &ctx, body).unwrap();

    // No permissions at all.
    let err =
        PersonGrant::new(PersonSubject::pesel("44051401359").unwrap(), PersonDetails::by_identifier("Anna", "Nowak"))
            .description("Osoba testowa")
            .build()
            .unwrap_err();
    assert_eq!(err.field(), "permissions");
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": "44051401359"}, "permissions": [],
                      "description": "Osoba testowa", "subjectDetails": anna});
    refused::<ops::GrantPersonPermissions>(&env, &ctx, body).unwrap();

    // PefInvoicing goes to a Peppol provider, not to a NIP.
    let err = AuthorizationGrant::new(
        AuthorizedEntity::Nip(other.parse().unwrap()),
        EntityAuthorizationPermissionType::PefInvoicing,
        "Dostawca Peppol",
    )
    .description("Faktury PEF")
    .build()
    .unwrap_err();
    assert!(err.to_string().contains("PefInvoicing"), "{err}");
    let body = json!({"subjectIdentifier": {"type": "Nip", "value": other}, "permission": "PefInvoicing",
                      "description": "Faktury PEF", "subjectDetails": {"fullName": "Dostawca Peppol"}});
    refused::<ops::GrantAuthorizationPermissions>(&env, &ctx, body).unwrap();

    // canDelegate on CollectiveIdentifierManage.
    let body = json!({"subjectIdentifier": {"type": "Nip", "value": other},
                      "permissions": [{"type": "CollectiveIdentifierManage", "canDelegate": true}],
                      "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}});
    refused::<ops::GrantEntityPermissions>(&env, &ctx, body).unwrap();
    // A permission listed twice.
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": "44051401359"}, "permissions": ["InvoiceRead", "InvoiceRead"],
                      "description": "Osoba testowa", "subjectDetails": anna});
    refused::<ops::GrantPersonPermissions>(&env, &ctx, body).unwrap();
    // A fingerprint subject described PersonByIdentifier.
    let body = json!({"subjectIdentifier": {"type": "Fingerprint", "value": "A".repeat(64)}, "permissions": ["InvoiceRead"],
                      "description": "Osoba testowa", "subjectDetails": anna});
    refused::<ops::GrantPersonPermissions>(&env, &ctx, body).unwrap();
    // An indirect CollectiveIdentifierManage (general) is allowed.
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": "44051401359"}, "targetIdentifier": {"type": "AllPartners"},
                      "permissions": ["CollectiveIdentifierManage"], "description": "Osoba testowa", "subjectDetails": anna});
    assert!(refused::<ops::GrantIndirectPermissions>(&env, &ctx, body).is_err());

    // And a control: the same person body with a valid PESEL goes through.
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": "44051401359"}, "permissions": ["InvoiceRead"],
                      "description": "Osoba testowa", "subjectDetails": anna});
    assert!(refused::<ops::GrantPersonPermissions>(&env, &ctx, body).is_err());
}
