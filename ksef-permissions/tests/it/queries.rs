use ksef_model::types::{InvoicePermissionType, PersonPermissionType, PersonalPermissionType};
use ksef_permissions::query::*;
use ksef_permissions::{AuthorizedEntity, Subunit};
use ksef_transport::RequestContext;
use pretty_assertions::assert_eq;
use serde_json::{json, to_value};

use crate::*;

fn ctx() -> RequestContext {
    RequestContext::new("https://ksef.example").unwrap().with_token("t")
}

#[test]
fn page_is_validated() {
    rejects(Page::new(0, 5).unwrap_err(), "pageSize", &["10..=100", "got 5"]);
    rejects(Page::new(0, 101).unwrap_err(), "pageSize", &["10..=100"]);
    let p = Page::new(2, 50).unwrap();
    assert_eq!((p.offset(), p.size()), (2, 50));
}

#[test]
fn personal_query() {
    let call = PersonalQuery::new()
        .context(ContextFilter::Nip(nip(CLIENT)))
        .target(TargetFilter::AllPartners)
        .permission_type(PersonalPermissionType::InvoiceWrite)
        .state(StateFilter::Active)
        .page(Page::new(1, 20).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        to_value(&call.body).unwrap(),
        json!({
            "contextIdentifier": {"type": "Nip", "value": CLIENT},
            "targetIdentifier": {"type": "AllPartners"},
            "permissionTypes": ["InvoiceWrite"],
            "permissionState": "Active"
        })
    );
    let req = call.build_request(&ctx()).unwrap();
    assert_eq!(req.uri(), "https://ksef.example/v2/permissions/query/personal/grants?pageOffset=1&pageSize=20");
    assert_eq!(to_value(&PersonalQuery::new().build().unwrap().body).unwrap(), json!({}));
}

#[test]
fn persons_query() {
    let call = PersonsQuery::new(PersonsQueryType::GrantedInCurrentContext)
        .author(AuthorFilter::System)
        .authorized(person(EMPLOYEE_PESEL))
        .target(TargetFilter::Nip(nip(CLIENT)))
        .permission_type(PersonPermissionType::InvoiceRead)
        .build()
        .unwrap();
    assert_eq!(
        to_value(&call.body).unwrap(),
        json!({
            "queryType": "PermissionsGrantedInCurrentContext",
            "authorIdentifier": {"type": "System"},
            "authorizedIdentifier": {"type": "Pesel", "value": EMPLOYEE_PESEL},
            "targetIdentifier": {"type": "Nip", "value": CLIENT},
            "permissionTypes": ["InvoiceRead"]
        })
    );
}

#[test]
fn authorizations_query_rules() {
    let ok = AuthorizationsQuery::granted()
        .authorized(AuthorizedEntity::PeppolId("PPL123456".parse().unwrap()))
        .permission_type(InvoicePermissionType::PefInvoicing)
        .build()
        .unwrap();
    assert_eq!(
        to_value(&ok.body).unwrap(),
        json!({"queryType": "Granted", "authorizedIdentifier": {"type": "PeppolId", "value": "PPL123456"}, "permissionTypes": ["PefInvoicing"]})
    );
    let received = AuthorizationsQuery::received().authorizing(nip(CLIENT)).build().unwrap();
    assert_eq!(
        to_value(&received.body).unwrap(),
        json!({"queryType": "Received", "authorizingIdentifier": {"type": "Nip", "value": CLIENT}})
    );
    rejects(
        AuthorizationsQuery::granted().authorizing(nip(CLIENT)).build().unwrap_err(),
        "authorizingIdentifier",
        &["only in a Received query"],
    );
    rejects(
        AuthorizationsQuery::received().authorized(AuthorizedEntity::Nip(nip(CLIENT))).build().unwrap_err(),
        "authorizedIdentifier",
        &["only in a Granted query"],
    );
}

#[test]
fn eu_entities_query() {
    let call = EuEntitiesQuery::new()
        .eu_entity(&format!("{CLIENT}-DE123456789").parse().unwrap())
        .fingerprint_contains("abcdef")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&call.body).unwrap(),
        json!({"vatUeIdentifier": "DE123456789", "authorizedFingerprintIdentifier": "ABCDEF"})
    );
    rejects(EuEntitiesQuery::new().vat_ue("XX1").build().unwrap_err(), "vatUeIdentifier", &["EU VAT number"]);
    rejects(
        EuEntitiesQuery::new().fingerprint_contains("not hex").build().unwrap_err(),
        "authorizedFingerprintIdentifier",
        &["hexadecimal"],
    );
}

#[test]
fn other_queries() {
    let s = subunits_query(Some(&Subunit::InternalId("5265877635-12346".parse().unwrap())), None).unwrap();
    assert_eq!(
        to_value(&s.body).unwrap(),
        json!({"subunitIdentifier": {"type": "InternalId", "value": "5265877635-12346"}})
    );
    let e = entities_grants_query(Some(&ContextFilter::Nip(nip(CLIENT))), Some(Page::new(0, 10).unwrap())).unwrap();
    assert_eq!(to_value(&e.body).unwrap(), json!({"contextIdentifier": {"type": "Nip", "value": CLIENT}}));
    assert_eq!(
        e.build_request(&ctx()).unwrap().uri(),
        "https://ksef.example/v2/permissions/query/entities/grants?pageOffset=0&pageSize=10"
    );
    let r = entity_roles_query(None).build_request(&ctx()).unwrap();
    assert_eq!((r.method().as_str(), r.uri().path()), ("GET", "/v2/permissions/query/entities/roles"));
    let sub = subordinate_roles_query(Some(&nip(OTHER_CLIENT)), None).unwrap();
    assert_eq!(
        to_value(&sub.body).unwrap(),
        json!({"subordinateEntityIdentifier": {"type": "Nip", "value": OTHER_CLIENT}})
    );
    let a = attachment_status().build_request(&ctx()).unwrap();
    assert_eq!(a.uri().path(), "/v2/permissions/attachments/status");
}

#[test]
fn revocations_and_status() {
    let id = "0f4c8e4a-1234-4c1d-9f00-123456789abc";
    let r = revoke_common(id).unwrap().build_request(&ctx()).unwrap();
    assert_eq!(
        (r.method().as_str(), r.uri().path()),
        ("DELETE", format!("/v2/permissions/common/grants/{id}").as_str())
    );
    let r = revoke_authorization(id).unwrap().build_request(&ctx()).unwrap();
    assert_eq!(r.uri().path(), format!("/v2/permissions/authorizations/grants/{id}"));
    rejects(revoke_common("short").unwrap_err(), "permissionId", &["36..=36", "got 5"]);
    let reference: ksef_model::ReferenceNumber = "20250625-EG-2F2B6A8000-0A1B2C3D4E-5F".parse().unwrap();
    let r = operation_status(&reference).build_request(&ctx()).unwrap();
    assert_eq!(r.uri().path(), "/v2/permissions/operations/20250625-EG-2F2B6A8000-0A1B2C3D4E-5F");
}
