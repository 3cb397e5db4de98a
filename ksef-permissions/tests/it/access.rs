use ksef_model::types;
use ksef_permissions::*;
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::*;

fn client() -> Context {
    Context::Nip(nip(CLIENT))
}

fn entity(grantor: &str, permission: Permission, can_delegate: bool) -> Grant {
    Grant::Entity { grantor: Context::Nip(nip(grantor)), grantee: nip(OFFICE), permission, can_delegate }
}

/// The docs' accounting-office scenario: the client grants the office InvoiceWrite (delegable)
/// and InvoiceRead (not delegable); the office passes both to an employee for that client.
fn office_selective() -> AccessModel {
    AccessModel::new()
        .link(nip(OFFICE), pesel(OWNER_PESEL))
        .grant(entity(CLIENT, Permission::InvoiceWrite, true))
        .grant(entity(CLIENT, Permission::InvoiceRead, false))
        .grant(Grant::Indirect {
            subject: person(EMPLOYEE_PESEL),
            intermediary: nip(OFFICE),
            scope: IndirectScope::Client(client()),
            permission: Permission::InvoiceWrite,
        })
        .grant(Grant::Indirect {
            subject: person(EMPLOYEE_PESEL),
            intermediary: nip(OFFICE),
            scope: IndirectScope::Client(client()),
            permission: Permission::InvoiceRead,
        })
}

#[test]
fn office_employee_selective() {
    let m = office_selective();
    let emp = person(EMPLOYEE_PESEL);
    assert_eq!(
        m.check_via(&emp, &client(), &nip(OFFICE), Permission::InvoiceWrite),
        Ok(Basis::Indirect { intermediary: nip(OFFICE), general: false })
    );
    // InvoiceRead was passed on, but the client did not make it delegable.
    let denied = m.check(&emp, &client(), Permission::InvoiceRead).unwrap_err();
    assert!(denied.to_string().contains("has not granted NIP 1111111111 InvoiceRead with canDelegate"), "{denied}");
    // Nothing for another client, nothing via another office.
    assert!(!m.can(&emp, &Context::Nip(nip(OTHER_CLIENT)), Permission::InvoiceWrite));
    assert!(m.check_via(&emp, &client(), &nip(OTHER_CLIENT), Permission::InvoiceWrite).is_err());
    assert_eq!(m.permissions_in(&emp, &client()).into_iter().collect::<Vec<_>>(), vec![Permission::InvoiceWrite]);
}

#[test]
fn office_owner_uses_the_entity_grant() {
    let m = office_selective();
    let owner = person(OWNER_PESEL);
    // The office's owner (PESEL linked to the office NIP) works for the client on the entity grant.
    assert_eq!(
        m.check_via(&owner, &client(), &nip(OFFICE), Permission::InvoiceRead),
        Ok(Basis::Entity { grantee: nip(OFFICE) })
    );
    // ... and owns the office context: everything but VatUeManage.
    let office = Context::Nip(nip(OFFICE));
    assert_eq!(m.check(&owner, &office, Permission::CredentialsManage), Ok(Basis::Owner { via_linked_pesel: true }));
    let denied = m.check(&owner, &office, Permission::VatUeManage).unwrap_err();
    assert!(denied.reason.contains("owners never hold it"), "{denied}");
    // The client's own NIP owns the client context.
    assert_eq!(
        m.check(&PersonSubject::Nip(nip(CLIENT)), &client(), Permission::InvoiceWrite),
        Ok(Basis::Owner { via_linked_pesel: false })
    );
    // An employee does not inherit office rights (no KSeF 1.0 inheritance).
    assert!(!m.can(&person(EMPLOYEE_PESEL), &office, Permission::InvoiceRead));
}

#[test]
fn office_employee_general_grant_is_intersected_with_delegations() {
    let m = AccessModel::new()
        .grant(entity(CLIENT, Permission::InvoiceWrite, true))
        .grant(entity(OTHER_CLIENT, Permission::InvoiceWrite, false))
        .grant(entity(OTHER_CLIENT, Permission::InvoiceRead, true))
        .grant(Grant::Indirect {
            subject: person(EMPLOYEE_PESEL),
            intermediary: nip(OFFICE),
            scope: IndirectScope::AllClients,
            permission: Permission::InvoiceWrite,
        });
    let emp = person(EMPLOYEE_PESEL);
    assert_eq!(
        m.check_via(&emp, &client(), &nip(OFFICE), Permission::InvoiceWrite),
        Ok(Basis::Indirect { intermediary: nip(OFFICE), general: true })
    );
    // The other client delegated InvoiceRead only; the general grant is for InvoiceWrite.
    let other = Context::Nip(nip(OTHER_CLIENT));
    assert!(!m.can(&emp, &other, Permission::InvoiceWrite));
    assert!(!m.can(&emp, &other, Permission::InvoiceRead));
    // A client that granted nothing is not covered either.
    assert!(!m.can(&emp, &Context::Nip(nip("3333333333")), Permission::InvoiceWrite));
}

#[test]
fn direct_general_permissions() {
    let admin = person(EMPLOYEE_PESEL);
    let m = AccessModel::new().grant(Grant::Direct {
        subject: admin.clone(),
        context: client(),
        permission: Permission::CredentialsManage,
        can_delegate: false,
    });
    assert_eq!(m.check(&admin, &client(), Permission::CredentialsManage), Ok(Basis::Direct));
    assert!(!m.can(&admin, &client(), Permission::InvoiceWrite));
    // CredentialsManage is what granting needs.
    let held: Vec<_> = m.permissions_in(&admin, &client()).into_iter().collect();
    assert!(ksef_permissions::required::allows("grant_person_permissions", &held).unwrap());
    assert!(!ksef_permissions::required::allows("send_invoice", &held).unwrap());
}

#[test]
fn eu_entity_self_invoicing() {
    let ctx: ksef_model::NipVatUe = format!("{CLIENT}-DE123456789").parse().unwrap();
    let rep_fp = "F".repeat(64);
    let m = AccessModel::new()
        .grant(Grant::EuAdmin { subject: fp(FP), context: ctx.clone() })
        .grant(Grant::EuPermission { subject: fp(&rep_fp), context: ctx.clone(), permission: Permission::InvoiceRead });
    let eu = Context::NipVatUe(ctx.clone());
    let admin = PersonSubject::Fingerprint(fp(FP));
    // The administrator issues (self-)invoices in the name of the Polish NIP in the compound context.
    assert_eq!(m.check(&admin, &eu, Permission::InvoiceWrite), Ok(Basis::EuAdmin));
    assert_eq!(m.check(&admin, &eu, Permission::VatUeManage), Ok(Basis::EuAdmin));
    assert!(!m.can(&admin, &eu, Permission::CredentialsManage));
    let rep = PersonSubject::Fingerprint(fp(&rep_fp));
    assert_eq!(m.check(&rep, &eu, Permission::InvoiceRead), Ok(Basis::EuPermission));
    assert!(!m.can(&rep, &eu, Permission::InvoiceWrite));
    // The NIP's owner holds nothing in the compound context by ownership.
    assert!(!m.can(&PersonSubject::Nip(nip(CLIENT)), &eu, Permission::InvoiceWrite));
    // Nor does the admin in the plain NIP context.
    assert!(!m.can(&admin, &client(), Permission::InvoiceWrite));
}

#[test]
fn subunit_administrator() {
    let unit = Context::InternalId("5265877635-12346".parse().unwrap());
    let admin = person(EMPLOYEE_PESEL);
    let m = AccessModel::new().grant(Grant::SubunitAdmin { subject: admin.clone(), subunit: unit.clone() });
    assert_eq!(m.check(&admin, &unit, Permission::CredentialsManage), Ok(Basis::SubunitAdmin));
    assert!(!m.can(&admin, &unit, Permission::InvoiceWrite));
    assert!(!m.can(&admin, &client(), Permission::CredentialsManage));
}

#[test]
fn self_invoicing_authorization() {
    let buyer = Context::Nip(nip(OTHER_CLIENT));
    let clerk = person(EMPLOYEE_PESEL);
    let base = AccessModel::new().grant(Grant::Direct {
        subject: clerk.clone(),
        context: buyer.clone(),
        permission: Permission::InvoiceWrite,
        can_delegate: false,
    });
    let denied = base.check_on_behalf(&clerk, &buyer, &nip(CLIENT), Authorization::SelfInvoicing).unwrap_err();
    assert!(denied.reason.contains("has not granted NIP 2222222222 the SelfInvoicing authorization"), "{denied}");
    let m = base.grant(Grant::Authorization {
        grantor: nip(CLIENT),
        grantee: AuthorizedEntity::Nip(nip(OTHER_CLIENT)),
        kind: Authorization::SelfInvoicing,
    });
    assert_eq!(m.check_on_behalf(&clerk, &buyer, &nip(CLIENT), Authorization::SelfInvoicing), Ok(Basis::Direct));
    // The authorization is not a different one.
    assert!(m.check_on_behalf(&clerk, &buyer, &nip(CLIENT), Authorization::TaxRepresentative).is_err());
}

#[test]
fn model_from_query_items() {
    // What the office sees: entity grants received (queried in the office context) ...
    let received: types::QueryEntityPermissionsResponse = serde_json::from_value(json!({
        "hasMore": false,
        "permissions": [{
            "id": "0f4c8e4a-1234-4c1d-9f00-123456789abc",
            "contextIdentifier": {"type": "Nip", "value": CLIENT},
            "permissionScope": "InvoiceWrite",
            "description": "Obsługa księgowa",
            "startDate": "2025-10-01T10:00:00Z",
            "canDelegate": true
        }]
    }))
    .unwrap();
    // ... and the indirect grants it gave (PermissionsGrantedInCurrentContext).
    let given: types::QueryPersonPermissionsResponse = serde_json::from_value(json!({
        "hasMore": false,
        "permissions": [{
            "id": "1f4c8e4a-1234-4c1d-9f00-123456789abc",
            "authorizedIdentifier": {"type": "Pesel", "value": EMPLOYEE_PESEL},
            "contextIdentifier": {"type": "Nip", "value": OFFICE},
            "targetIdentifier": {"type": "AllPartners"},
            "authorIdentifier": {"type": "Nip", "value": OFFICE},
            "permissionScope": "InvoiceWrite",
            "description": "Wszyscy klienci",
            "permissionState": "Active",
            "startDate": "2025-10-02T10:00:00Z",
            "canDelegate": false
        }]
    }))
    .unwrap();
    let mut m = AccessModel::new();
    let office = nip(OFFICE);
    m.extend(received.permissions.iter().map(|i| Grant::from_entity_permission(i, &office).unwrap()));
    m.extend(
        given.permissions.iter().map(|i| Grant::from_person_permission(i, &Context::Nip(office.clone())).unwrap()),
    );
    assert_eq!(
        m.grants()[1],
        Grant::Indirect {
            subject: person(EMPLOYEE_PESEL),
            intermediary: office.clone(),
            scope: IndirectScope::AllClients,
            permission: Permission::InvoiceWrite
        }
    );
    assert!(m.check_via(&person(EMPLOYEE_PESEL), &client(), &office, Permission::InvoiceWrite).is_ok());

    // An unknown scope is reported, not guessed.
    let odd: types::EntityPermissionItem = serde_json::from_value(json!({
        "id": "0f4c8e4a-1234-4c1d-9f00-123456789abc",
        "contextIdentifier": {"type": "Nip", "value": CLIENT},
        "permissionScope": "SomethingNew",
        "description": "Nowe uprawnienie",
        "startDate": "2025-10-01T10:00:00Z",
        "canDelegate": false
    }))
    .unwrap();
    let e = Grant::from_entity_permission(&odd, &office).unwrap_err();
    assert_eq!(e.field, "permissionScope");
    assert!(e.to_string().contains("SomethingNew"));
}

#[test]
fn personal_response_with_owner_permissions() {
    let resp: types::QueryPersonalPermissionsResponse = serde_json::from_value(json!({
        "hasMore": false,
        "ownerPermissions": ["InvoiceWrite", "CredentialsManage"],
        "permissions": []
    }))
    .unwrap();
    let me = PersonSubject::Pesel(pesel(OWNER_PESEL));
    let mut m = AccessModel::new();
    assert!(m.add_personal(&resp, &me, &client()).is_empty());
    assert_eq!(m.check(&me, &client(), Permission::InvoiceWrite), Ok(Basis::Direct));
    assert!(!m.can(&me, &client(), Permission::InvoiceRead));
}

#[test]
fn more_query_items_convert() {
    let id = "0f4c8e4a-1234-4c1d-9f00-123456789abc";
    let sub: types::SubunitPermission = serde_json::from_value(json!({
        "id": id,
        "authorIdentifier": {"type": "Nip", "value": CLIENT},
        "authorizedIdentifier": {"type": "Pesel", "value": EMPLOYEE_PESEL},
        "subunitIdentifier": {"type": "InternalId", "value": "5265877635-12346"},
        "permissionScope": "CredentialsManage",
        "description": "Administrator oddziału",
        "startDate": "2025-10-01T10:00:00Z"
    }))
    .unwrap();
    assert_eq!(
        Grant::from_subunit_permission(&sub).unwrap(),
        Grant::SubunitAdmin {
            subject: person(EMPLOYEE_PESEL),
            subunit: Context::InternalId("5265877635-12346".parse().unwrap())
        }
    );

    let ctx: ksef_model::NipVatUe = format!("{CLIENT}-DE123456789").parse().unwrap();
    let eu = |vat: &str| -> types::EuEntityPermission {
        serde_json::from_value(json!({
            "id": id,
            "authorIdentifier": {"type": "Nip", "value": CLIENT},
            "authorizedFingerprintIdentifier": FP,
            "vatUeIdentifier": vat,
            "euEntityName": "Käufer GmbH, Berlin",
            "permissionScope": "InvoiceWrite",
            "description": "Administrator UE",
            "startDate": "2025-10-01T10:00:00Z"
        }))
        .unwrap()
    };
    let expected = Grant::EuPermission { subject: fp(FP), context: ctx.clone(), permission: Permission::InvoiceWrite };
    assert_eq!(Grant::from_eu_entity_permission(&eu("DE123456789"), &ctx).unwrap(), expected);
    assert_eq!(Grant::from_eu_entity_permission(&eu("5265877635-DE123456789"), &ctx).unwrap(), expected);
    assert_eq!(Grant::from_eu_entity_permission(&eu("FR12345678901"), &ctx).unwrap_err().field, "vatUeIdentifier");

    let auth: types::EntityAuthorizationGrant = serde_json::from_value(json!({
        "id": id,
        "authorizedEntityIdentifier": {"type": "Nip", "value": OTHER_CLIENT},
        "authorizingEntityIdentifier": {"type": "Nip", "value": CLIENT},
        "authorizationScope": "RRInvoicing",
        "description": "Faktury VAT RR",
        "startDate": "2025-10-01T10:00:00Z"
    }))
    .unwrap();
    assert_eq!(
        Grant::from_authorization_grant(&auth).unwrap(),
        Grant::Authorization {
            grantor: nip(CLIENT),
            grantee: AuthorizedEntity::Nip(nip(OTHER_CLIENT)),
            kind: Authorization::RrInvoicing
        }
    );

    let personal: types::PersonalPermission = serde_json::from_value(json!({
        "id": id,
        "contextIdentifier": {"type": "Nip", "value": CLIENT},
        "permissionScope": "InvoiceRead",
        "description": "Odczyt faktur",
        "permissionState": "Active",
        "startDate": "2025-10-01T10:00:00Z",
        "canDelegate": false
    }))
    .unwrap();
    let me = person(EMPLOYEE_PESEL);
    assert_eq!(
        Grant::from_personal_permission(&personal, &me, &Context::Nip(nip(OFFICE))).unwrap(),
        Grant::Direct { subject: me, context: client(), permission: Permission::InvoiceRead, can_delegate: false }
    );
}
