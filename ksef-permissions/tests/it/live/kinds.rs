//! The seven grant kinds, each granted, observed, exercised, revoked and refused again.

use ksef_emulator::domain::{Identifier, IdentifierType};
use ksef_permissions::query::{
    AuthorizationsQuery, ContextFilter, EuEntitiesQuery, PersonalQuery, PersonsQuery, PersonsQueryType, TargetFilter,
    entities_grants_query, revoke_authorization, revoke_common, subunits_query,
};
use ksef_permissions::wait::FailureKind;
use ksef_permissions::{AccessModel, Basis, Context, Grant, Permission};
use ksef_permissions::{
    AuthorizationGrant, AuthorizedEntity, EntityAuthorizationPermissionType, EntityGrant, EntityPermissionType,
    EuAdministrationGrant, EuEntityPermissionType, EuRepresentativeGrant, EuSubjectDetails, IdDocument, IndirectGrant,
    IndirectPermissionType, IndirectTarget, PersonDetails, PersonGrant, PersonPermissionType, PersonSubject, Subunit,
    SubunitGrant,
};
use serde_json::{Value, json};

use super::{Env, fresh_nip, invoice_xml, open_session, send_invoice};

fn js<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
}

/// Revokes `id` from the grantor's context (what the spec allows: `SubunitManage` /
/// `CredentialsManage` there), also for sub-unit and EU-entity administrators, whose grants are
/// stored in the sub-unit's / the EU entity's context.
fn revoke_by_grantor(env: &Env, grantor: &ksef_transport::RequestContext, id: &str) {
    env.granted(grantor, revoke_common(id).unwrap());
}

fn anna() -> PersonDetails {
    PersonDetails::by_identifier("Anna", "Nowak")
}

#[test]
fn person_grant_lets_a_person_sign_in_and_issue_until_revoked() {
    let env = Env::start();
    let nip = fresh_nip(1);
    let owner = env.owner(&nip);
    let pesel = "85121612343";
    assert_eq!(env.try_login(Identifier::nip(&nip), Identifier::pesel(pesel)).err(), Some(415));

    let call = PersonGrant::new(PersonSubject::pesel(pesel).unwrap(), anna())
        .permissions([PersonPermissionType::InvoiceWrite, PersonPermissionType::InvoiceRead])
        .description("Księgowa na etacie")
        .build_call()
        .unwrap();
    let done = env.granted(&owner, call);
    assert_eq!(done.reference.type_code(), "EG");

    let q = PersonsQuery::new(PersonsQueryType::InCurrentContext)
        .authorized(PersonSubject::pesel(pesel).unwrap())
        .build()
        .unwrap();
    let list = js(&env.query(&owner, q).unwrap());
    let mut scopes: Vec<&str> =
        list["permissions"].as_array().unwrap().iter().map(|p| p["permissionScope"].as_str().unwrap()).collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["InvoiceRead", "InvoiceWrite"]);
    assert_eq!(list["permissions"][0]["authorIdentifier"], json!({"type": "Nip", "value": nip}));

    // The person signs in to the context and issues an invoice there.
    let person = env.login(Identifier::nip(&nip), Identifier::pesel(pesel));
    let mine = js(&env.query(&person, PersonalQuery::new().build().unwrap()).unwrap());
    assert_eq!(mine["permissions"].as_array().unwrap().len(), 2);
    let s = open_session(&env, &person).unwrap();
    assert_eq!(send_invoice(&env, &person, &s, &invoice_xml(&nip, "P/1")), 200);
    // Without CredentialsManage the person may not grant.
    let again = PersonGrant::new(PersonSubject::pesel("90010112349").unwrap(), anna())
        .permission(PersonPermissionType::InvoiceRead)
        .description("Druga księgowa")
        .build_call()
        .unwrap();
    let err = env.submit(&person, again).unwrap_err();
    assert!(matches!(&err, ksef_permissions::WaitError::Request { .. }), "{err}");

    for id in ids(&list, "permissions") {
        env.granted(&owner, revoke_common(&id).unwrap());
    }
    assert_eq!(env.try_login(Identifier::nip(&nip), Identifier::pesel(pesel)).err(), Some(415));
    let q = PersonsQuery::new(PersonsQueryType::InCurrentContext)
        .authorized(PersonSubject::pesel(pesel).unwrap())
        .build()
        .unwrap();
    assert_eq!(env.query(&owner, q).unwrap().permissions.len(), 0);
    // Revoking again: KSeF carries the operation out and reports 410.
    let err = env.submit(&owner, revoke_common(&ids(&list, "permissions")[0]).unwrap()).unwrap_err();
    assert_eq!(err.failure().map(|f| f.kind), Some(FailureKind::InconsistentIdentifiers), "{err}");
}

/// The README's worked scenario: client → office (entity grant, canDelegate) → employee
/// (selective indirect grant), and the employee issues an invoice for the client.
#[test]
fn entity_and_selective_indirect_grants_let_an_office_employee_issue_for_the_client() {
    let env = Env::start();
    let (client, office) = (fresh_nip(2), fresh_nip(3));
    let (client_ctx, office_ctx) = (env.owner(&client), env.owner(&office));
    let pesel = "44051401359";
    let employee = PersonSubject::pesel(pesel).unwrap();

    // Before anything: the employee has nothing in the client's context.
    assert_eq!(env.try_login(Identifier::nip(&client), Identifier::pesel(pesel)).err(), Some(415));
    // The office cannot pass on what it was not given: 440.
    let selective = || {
        IndirectGrant::new(employee.clone(), anna(), IndirectTarget::Client(client.parse().unwrap()))
            .permission(IndirectPermissionType::InvoiceWrite)
            .description("Faktury klienta")
            .build_call()
            .unwrap()
    };
    let err = env.submit(&office_ctx, selective()).unwrap_err();
    assert_eq!(err.failure().map(|f| f.kind), Some(FailureKind::RelationNotAllowed), "{err}");

    // 1. The client grants the office InvoiceWrite with canDelegate.
    let to_office = EntityGrant::new(office.parse().unwrap(), "Biuro Rachunkowe Sp. z o.o.")
        .permission(EntityPermissionType::InvoiceWrite, true)
        .description("Obsługa księgowa")
        .build_call()
        .unwrap();
    env.granted(&client_ctx, to_office);
    // Observed by the office, in its own context.
    let received = js(&env
        .query(&office_ctx, entities_grants_query(Some(&ContextFilter::Nip(client.parse().unwrap())), None).unwrap())
        .unwrap());
    assert_eq!(received["permissions"][0]["contextIdentifier"], json!({"type": "Nip", "value": client}));
    assert_eq!(received["permissions"][0]["permissionScope"], "InvoiceWrite");
    assert_eq!(received["permissions"][0]["canDelegate"], true);
    // Effect: the office itself may now work in the client's context.
    let office_in_client = env.login(Identifier::nip(&client), Identifier::nip(&office));
    let s = open_session(&env, &office_in_client).unwrap();
    assert_eq!(send_invoice(&env, &office_in_client, &s, &invoice_xml(&client, "E/1")), 200);

    // 2. The office passes it on to the employee for this client only.
    env.granted(&office_ctx, selective());
    // Observed in the office's context: `PermissionsGrantedInCurrentContext` lists the indirect
    // grant for this client.
    let q = PersonsQuery::new(PersonsQueryType::GrantedInCurrentContext)
        .target(TargetFilter::Nip(client.parse().unwrap()))
        .build()
        .unwrap();
    let granted = js(&env.query(&office_ctx, q).unwrap());
    assert_eq!(granted["permissions"].as_array().unwrap().len(), 1, "{granted}");
    assert_eq!(granted["permissions"][0]["targetIdentifier"], json!({"type": "Nip", "value": client}), "{granted}");
    assert_eq!(granted["permissions"][0]["permissionScope"], "InvoiceWrite");
    // 3. The employee signs in to the client's context and issues an invoice for the client.
    let emp = env.login(Identifier::nip(&client), Identifier::pesel(pesel));
    let mine = js(&env.query(&emp, PersonalQuery::new().build().unwrap()).unwrap());
    assert_eq!(mine["permissions"][0]["permissionScope"], "InvoiceWrite");
    assert_eq!(mine["permissions"][0]["targetIdentifier"], json!({"type": "Nip", "value": client}), "{mine}");
    let indirect_id = ids(&mine, "permissions")[0].clone();

    // The AccessModel, fed from the queries, agrees with what the emulator lets her do.
    let client_model = Context::Nip(client.parse().unwrap());
    let mut model = AccessModel::new();
    let office_nip: ksef_model::Nip = office.parse().unwrap();
    for item in env.query(&office_ctx, entities_grants_query(None, None).unwrap()).unwrap().permissions {
        model.extend([Grant::from_entity_permission(&item, &office_nip).unwrap()]);
    }
    for item in env.query(&emp, PersonalQuery::new().build().unwrap()).unwrap().permissions {
        model.extend([Grant::from_personal_permission(&item, &employee, &client_model).unwrap()]);
    }
    assert_eq!(
        model.check_via(&employee, &client_model, &office_nip, Permission::InvoiceWrite).unwrap(),
        Basis::Indirect { intermediary: office_nip.clone(), general: false },
        "{model:?}"
    );
    assert!(!model.can(&employee, &client_model, Permission::InvoiceRead));
    assert!(!model.can(&employee, &Context::Nip(fresh_nip(9).parse().unwrap()), Permission::InvoiceWrite));
    let s = open_session(&env, &emp).unwrap();
    assert_eq!(send_invoice(&env, &emp, &s, &invoice_xml(&client, "E/2")), 200);
    // … but not in another client's context.
    assert_eq!(env.try_login(Identifier::nip(fresh_nip(4)), Identifier::pesel(pesel)).err(), Some(415));

    // 4. Revoke the indirect grant: refused again.
    env.granted(&office_ctx, revoke_common(&indirect_id).unwrap());
    assert_eq!(env.try_login(Identifier::nip(&client), Identifier::pesel(pesel)).err(), Some(415));
    // 5. Revoke the entity grant (by the client): the office is refused too.
    let eid = ids(&received, "permissions")[0].clone();
    env.granted(&client_ctx, revoke_common(&eid).unwrap());
    assert_eq!(env.try_login(Identifier::nip(&client), Identifier::nip(&office)).err(), Some(415));
    let after = env.query(&office_ctx, entities_grants_query(None, None).unwrap()).unwrap();
    assert!(after.permissions.is_empty());
}

#[test]
fn self_invoicing_authorization_lets_the_buyer_issue_until_revoked() {
    let env = Env::start();
    let (seller, buyer) = (fresh_nip(5), fresh_nip(6));
    let (seller_ctx, buyer_ctx) = (env.owner(&seller), env.owner(&buyer));
    let s = open_session(&env, &buyer_ctx).unwrap();
    // Without the authorization the buyer's invoice in the seller's name is rejected: 410.
    assert_eq!(send_invoice(&env, &buyer_ctx, &s, &invoice_xml(&seller, "S/1")), 410);

    let call = AuthorizationGrant::new(
        AuthorizedEntity::Nip(buyer.parse().unwrap()),
        EntityAuthorizationPermissionType::SelfInvoicing,
        "Nabywca Sp. z o.o.",
    )
    .description("Samofakturowanie")
    .build_call()
    .unwrap();
    env.granted(&seller_ctx, call);

    let granted = js(&env.query(&seller_ctx, AuthorizationsQuery::granted().build().unwrap()).unwrap());
    assert_eq!(granted["authorizationGrants"][0]["authorizationScope"], "SelfInvoicing");
    let received = AuthorizationsQuery::received().authorizing(seller.parse().unwrap()).build().unwrap();
    let received = js(&env.query(&buyer_ctx, received).unwrap());
    assert_eq!(received["authorizationGrants"][0]["authorizingEntityIdentifier"]["value"], seller.as_str());
    assert_eq!(send_invoice(&env, &buyer_ctx, &s, &invoice_xml(&seller, "S/2")), 200);

    let id = ids(&granted, "authorizationGrants")[0].clone();
    // The common revocation does not reach authorizations (410); the dedicated one does.
    let err = env.submit(&seller_ctx, revoke_common(&id).unwrap()).unwrap_err();
    assert_eq!(err.failure().map(|f| f.code), Some(410), "{err}");
    env.granted(&seller_ctx, revoke_authorization(&id).unwrap());
    assert_eq!(send_invoice(&env, &buyer_ctx, &s, &invoice_xml(&seller, "S/3")), 410);
    assert!(
        env.query(&seller_ctx, AuthorizationsQuery::granted().build().unwrap())
            .unwrap()
            .authorization_grants
            .is_empty()
    );
}

#[test]
fn subunit_administrator_signs_in_to_the_subunit_until_revoked() {
    let env = Env::start();
    let nip = fresh_nip(7);
    let owner = env.owner(&nip);
    let internal = ksef_model::InternalId::new(&nip.parse().unwrap(), 4321).unwrap();
    let pesel = "90010112349";
    let ctx = || Identifier::new(IdentifierType::InternalId, internal.as_str());
    assert_eq!(env.try_login(ctx(), Identifier::pesel(pesel)).err(), Some(415));

    let call = SubunitGrant::new(PersonSubject::pesel(pesel).unwrap(), anna(), Subunit::InternalId(internal.clone()))
        .subunit_name("Oddział Kraków")
        .description("Administrator oddziału")
        .in_context(nip.parse().unwrap())
        .build_call()
        .unwrap();
    env.granted(&owner, call);

    let list =
        js(&env.query(&owner, subunits_query(Some(&Subunit::InternalId(internal.clone())), None).unwrap()).unwrap());
    assert_eq!(list["permissions"][0]["subunitIdentifier"]["value"], internal.as_str());
    assert_eq!(list["permissions"][0]["subunitName"], "Oddział Kraków");
    // The AccessModel's view from the query: the administrator manages credentials in the
    // sub-unit (the emulator agrees: the sign-in below works and the grant there succeeds).
    let mut model = AccessModel::new();
    for item in env.query(&owner, subunits_query(None, None).unwrap()).unwrap().permissions {
        model.extend([Grant::from_subunit_permission(&item).unwrap()]);
    }
    let sub_ctx = Context::InternalId(internal.clone());
    let admin_subject = PersonSubject::pesel(pesel).unwrap();
    assert!(model.can(&admin_subject, &sub_ctx, Permission::CredentialsManage), "{model:?}");
    assert!(!model.can(&admin_subject, &Context::Nip(nip.parse().unwrap()), Permission::CredentialsManage));

    // The administrator works in the sub-unit with CredentialsManage: may grant there.
    let admin = env.login(ctx(), Identifier::pesel(pesel));
    let mine = js(&env.query(&admin, PersonalQuery::new().build().unwrap()).unwrap());
    assert_eq!(mine["permissions"][0]["permissionScope"], "CredentialsManage");
    let clerk = PersonGrant::new(PersonSubject::pesel("85121612343").unwrap(), anna())
        .permission(PersonPermissionType::InvoiceRead)
        .description("Pracownik oddziału")
        .build_call()
        .unwrap();
    env.granted(&admin, clerk);
    // The parent's sub-unit query lists only the administrator, not the clerk granted inside.
    let now = js(&env.query(&owner, subunits_query(None, None).unwrap()).unwrap());
    assert_eq!(now["permissions"].as_array().unwrap().len(), 1, "{now}");
    assert_eq!(now["permissions"][0]["permissionScope"], "CredentialsManage", "{now}");

    let id = ids(&list, "permissions")[0].clone();
    revoke_by_grantor(&env, &owner, &id);
    assert_eq!(env.try_login(ctx(), Identifier::pesel(pesel)).err(), Some(415));
    let left = js(&env.query(&owner, subunits_query(None, None).unwrap()).unwrap());
    assert!(
        left["permissions"].as_array().unwrap().iter().all(|p| p["authorizedIdentifier"]["value"] != pesel),
        "{left}"
    );
}

#[test]
fn eu_entity_administrator_and_representative() {
    let env = Env::start();
    let nip = fresh_nip(8);
    let owner = env.owner(&nip);
    let eu = format!("{nip}-DE123456789");
    let eu_id: ksef_model::NipVatUe = eu.parse().unwrap();
    let (admin_fp, rep_fp) = ("A".repeat(64), "B".repeat(64));
    let eu_ctx = || Identifier::new(IdentifierType::NipVatUe, &eu);
    let hans = EuSubjectDetails::Person(PersonDetails::ByFingerprintWithoutIdentifier {
        first_name: "Hans".into(),
        last_name: "Muster".into(),
        birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
        id_document: IdDocument { kind: "Passport".into(), number: "X123".into(), country: "DE".into() },
    });
    assert_eq!(env.try_login(eu_ctx(), Identifier::fingerprint(&admin_fp)).err(), Some(415));

    // EU-entity administration, granted from the Polish NIP context.
    let call = EuAdministrationGrant::new(admin_fp.parse().unwrap(), hans.clone(), eu_id.clone())
        .eu_entity("Muster GmbH", "Berlin")
        .eu_entity_name("Muster GmbH, Berlin")
        .description("Administrator UE")
        .in_context(nip.parse().unwrap())
        .build_call()
        .unwrap();
    env.granted(&owner, call);
    let admin = env.login(eu_ctx(), Identifier::fingerprint(&admin_fp));

    // EU-entity representative, granted by the administrator in the compound context.
    let rep = EuRepresentativeGrant::new(
        rep_fp.parse().unwrap(),
        EuSubjectDetails::Entity { full_name: "Muster Vertretung".into(), address: "München".into() },
    )
    .permission(EuEntityPermissionType::InvoiceWrite)
    .description("Przedstawiciel UE")
    .build_call()
    .unwrap();
    // The NIP owner lacks VatUeManage for it.
    assert!(env.submit(&owner, rep.clone()).is_err());
    assert_eq!(env.try_login(eu_ctx(), Identifier::fingerprint(&rep_fp)).err(), Some(415));
    env.granted(&admin, rep);

    // The `vatUeIdentifier` filter is the EU VAT number (`DE\d{9}`, exact match).
    let q = EuEntitiesQuery::new().eu_entity(&eu_id).build().unwrap();
    let all = js(&env.query(&admin, q).unwrap());
    let unfiltered = js(&env.query(&admin, EuEntitiesQuery::new().build().unwrap()).unwrap());
    assert_eq!(all["permissions"], unfiltered["permissions"]);
    let other = js(&env.query(&admin, EuEntitiesQuery::new().vat_ue("DE987654321").build().unwrap()).unwrap());
    assert_eq!(other["permissions"], json!([]), "{other}");
    let rows = all["permissions"].as_array().unwrap();
    assert!(rows.iter().all(|p| p["vatUeIdentifier"] == eu.as_str()), "{all}");
    let rep_rows: Vec<&Value> =
        rows.iter().filter(|p| p["authorizedFingerprintIdentifier"].as_str() == Some(rep_fp.as_str())).collect();
    assert_eq!(rep_rows.len(), 1, "{all}");
    assert_eq!(rep_rows[0]["permissionScope"], "InvoiceWrite");
    let admin_rows: Vec<&Value> =
        rows.iter().filter(|p| p["authorizedFingerprintIdentifier"].as_str() == Some(admin_fp.as_str())).collect();
    assert!(!admin_rows.is_empty(), "{all}");

    // The AccessModel's view from the typed query agrees with the emulator's sign-ins.
    let mut model = AccessModel::new();
    for item in env.query(&admin, EuEntitiesQuery::new().build().unwrap()).unwrap().permissions {
        model.extend([Grant::from_eu_entity_permission(&item, &eu_id).unwrap()]);
    }
    let eu_model = Context::NipVatUe(eu_id.clone());
    let rep_subject = PersonSubject::fingerprint(&rep_fp).unwrap();
    assert!(model.can(&rep_subject, &eu_model, Permission::InvoiceWrite), "{model:?}");
    assert!(!model.can(&rep_subject, &eu_model, Permission::InvoiceRead));
    assert!(model.can(&PersonSubject::fingerprint(&admin_fp).unwrap(), &eu_model, Permission::VatUeManage));
    // The representative works in the EU context: opens a session.
    let rep_ctx = env.login(eu_ctx(), Identifier::fingerprint(&rep_fp));
    open_session(&env, &rep_ctx).unwrap();

    // Revoke the representative (by the administrator), then the administrator (by the owner).
    env.granted(&admin, revoke_common(rep_rows[0]["id"].as_str().unwrap()).unwrap());
    assert_eq!(env.try_login(eu_ctx(), Identifier::fingerprint(&rep_fp)).err(), Some(415));
    for p in admin_rows {
        revoke_by_grantor(&env, &owner, p["id"].as_str().unwrap());
    }
    assert_eq!(env.try_login(eu_ctx(), Identifier::fingerprint(&admin_fp)).err(), Some(415));
}

/// The same person grant, with the person signing in by a real XAdES signature (a self-signed
/// certificate carrying her PESEL) instead of the test hook.
#[test]
fn person_grant_with_xades_sign_in() {
    use ksef_crypto::x509::{KeyAlgorithm, SubjectFields};
    let env = Env::start();
    let nip = fresh_nip(10);
    let owner = env.owner(&nip);
    let pesel = "90010112349";
    let since = ksef_crypto::UnixTime::from_secs(ksef_crypto::UnixTime::now().as_secs() - 86_400);
    let fields = SubjectFields::person_pesel(pesel, "Ewa", "Kowalska").unwrap();
    let id = ksef_crypto::TestIdentity::generate(KeyAlgorithm::P256, &fields, since, 30, &mut rand::rng()).unwrap();
    assert_eq!(env.xades_login(&nip, &id).err(), Some(415));

    let call = PersonGrant::new(PersonSubject::pesel(pesel).unwrap(), PersonDetails::by_identifier("Ewa", "Kowalska"))
        .permission(PersonPermissionType::InvoiceWrite)
        .description("Wystawianie faktur")
        .build_call()
        .unwrap();
    env.granted(&owner, call);
    let person = env.xades_login(&nip, &id).unwrap();
    let s = open_session(&env, &person).unwrap();
    assert_eq!(send_invoice(&env, &person, &s, &invoice_xml(&nip, "X/1")), 200);

    let mine = js(&env.query(&person, PersonalQuery::new().build().unwrap()).unwrap());
    env.granted(&owner, revoke_common(&ids(&mine, "permissions")[0]).unwrap());
    assert_eq!(env.xades_login(&nip, &id).err(), Some(415));
}
