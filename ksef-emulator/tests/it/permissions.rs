use ksef_emulator::domain::Identifier;
use serde_json::{Value, json};

use crate::common::*;

fn op_status(http: &Http, token: &str, r: &Resp) -> Value {
    assert_eq!(r.status, 202, "{}", r.text());
    let reference = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    assert_eq!(reference.parse::<ksef_model::ReferenceNumber>().unwrap().type_code(), "EG");
    http.get(&format!("/permissions/operations/{reference}"), Some(token)).json()["status"].clone()
}

fn person_details() -> Value {
    json!({"subjectDetailsType": "PersonByIdentifier", "personById": {"firstName": "Anna", "lastName": "Nowak"}})
}

#[test]
fn person_grants_work_and_can_be_revoked() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(600);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let pesel = "85121612343";
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": pesel}, "permissions": ["InvoiceWrite", "InvoiceRead"],
                      "description": "Księgowa", "subjectDetails": person_details()});
    let st = op_status(&http, &owner, &http.post("/permissions/persons/grants", Some(&owner), Some(&body)));
    assert_eq!(st["code"], 200, "{st}");

    // The person logs in with the granted permissions.
    let (person, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::pesel(pesel));
    let mine = http.post("/permissions/query/personal/grants", Some(&person), Some(&json!({}))).json();
    let scopes: Vec<&str> =
        mine["permissions"].as_array().unwrap().iter().map(|p| p["permissionScope"].as_str().unwrap()).collect();
    assert_eq!(scopes.len(), 2);
    assert!(scopes.contains(&"InvoiceWrite") && scopes.contains(&"InvoiceRead"));
    assert_eq!(mine["ownerPermissions"], Value::Null);
    assert_eq!(mine["permissions"][0]["subjectPersonDetails"]["lastName"], "Nowak");
    // Without CredentialsManage the person may not grant.
    assert_eq!(http.post("/permissions/persons/grants", Some(&person), Some(&body)).status, 403);

    let owner_view = http.post("/permissions/query/personal/grants", Some(&owner), None).json();
    assert!(owner_view["ownerPermissions"].as_array().unwrap().iter().any(|p| p == "CredentialsManage"));

    let q =
        json!({"queryType": "PermissionsInCurrentContext", "authorizedIdentifier": {"type": "Pesel", "value": pesel}});
    let list = http.post("/permissions/query/persons/grants", Some(&owner), Some(&q)).json();
    assert_eq!(list["permissions"].as_array().unwrap().len(), 2);
    assert_eq!(list["permissions"][0]["authorIdentifier"], json!({"type": "Nip", "value": nip}));
    assert_eq!(list["hasMore"], false);
    assert_eq!(
        http.post("/permissions/query/persons/grants", Some(&owner), Some(&json!({}))).exception_codes(),
        [21405]
    );

    // Revoke both; the person can no longer log in.
    for p in list["permissions"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let r = http.call("DELETE", &format!("/permissions/common/grants/{id}"), Some(&owner), None, &[]);
        assert_eq!(op_status(&http, &owner, &r)["code"], 200);
    }
    let init = emu.authenticate(Identifier::nip(&nip), Identifier::pesel(pesel)).unwrap();
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 415);
    // Revoking an unknown id → operation 410.
    let r =
        http.call("DELETE", "/permissions/common/grants/00000000-0000-0000-0000-000000000000", Some(&owner), None, &[]);
    assert_eq!(op_status(&http, &owner, &r)["code"], 410);
    assert_eq!(
        http.get("/permissions/operations/20250101-EG-0123456789-0123456789-00", Some(&owner)).exception_codes(),
        [21405]
    );
}

#[test]
fn enforcement_needs_a_role_and_entity_grants_reach_the_entity() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(610);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let body = json!({"subjectIdentifier": {"type": "Nip", "value": fresh_nip(611)}, "permissions": ["EnforcementOperations"],
                      "description": "Egzekucja", "subjectDetails": person_details()});
    let st = op_status(&http, &owner, &http.post("/permissions/persons/grants", Some(&owner), Some(&body)));
    assert_eq!(st["code"], 430);

    let firm = fresh_nip(612);
    let body = json!({"subjectIdentifier": {"type": "Nip", "value": firm},
                      "permissions": [{"type": "InvoiceRead", "canDelegate": true}],
                      "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}});
    assert_eq!(
        op_status(&http, &owner, &http.post("/permissions/entities/grants", Some(&owner), Some(&body)))["code"],
        200
    );
    let (firm_token, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&firm));
    // The firm sees the grant it received, in its own context.
    let (firm_own, _, _) = login(&emu, &http, Identifier::nip(&firm), Identifier::nip(&firm));
    let received = http.post("/permissions/query/entities/grants", Some(&firm_own), None).json();
    assert_eq!(received["permissions"][0]["contextIdentifier"], json!({"type": "Nip", "value": nip}));
    assert_eq!(received["permissions"][0]["permissionScope"], "InvoiceRead");
    assert_eq!(received["permissions"][0]["canDelegate"], true);
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let q = json!({"subjectType": "Subject1", "dateRange": {"dateType": "Invoicing", "from": from}});
    assert_eq!(http.post("/invoices/query/metadata", Some(&firm_token), Some(&q)).status, 200);
    // InvoiceRead does not allow opening sessions.
    assert_eq!(http.post("/sessions/online", Some(&firm_token), Some(&json!({}))).status, 403);
    let bad = json!({"subjectIdentifier": {"type": "Nip", "value": firm}, "permissions": [{"type": "CredentialsManage"}],
                     "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe"}});
    assert_eq!(http.post("/permissions/entities/grants", Some(&owner), Some(&bad)).exception_codes(), [21405]);
}

#[test]
fn entity_roles_come_from_test_data() {
    let emu = emulator();
    let http = Http::new(&emu);
    let group = fresh_nip(620);
    let member = fresh_nip(621);
    let body = json!({"subjectNip": group, "subjectType": "VatGroup", "description": "Grupa VAT",
                      "subunits": [{"subjectNip": member, "description": "Członek grupy"}]});
    assert_eq!(http.post("/testdata/subject", None, Some(&body)).status, 200);
    let (t, _, _) = login(&emu, &http, Identifier::nip(&member), Identifier::nip(&member));
    let roles = http.get("/permissions/query/entities/roles", Some(&t)).json();
    assert_eq!(roles["roles"][0]["role"], "VatGroupSubUnit");
    assert_eq!(roles["roles"][0]["parentEntityIdentifier"]["value"], group.as_str());
    let (g, _, _) = login(&emu, &http, Identifier::nip(&group), Identifier::nip(&group));
    let sub = http.post("/permissions/query/subordinate-entities/roles", Some(&g), None).json();
    assert_eq!(sub["roles"][0]["subordinateEntityIdentifier"]["value"], member.as_str());
    assert_eq!(sub["roles"][0]["role"], "VatGroupSubUnit");
    let other = json!({"subordinateEntityIdentifier": {"type": "Nip", "value": fresh_nip(622)}});
    assert_eq!(
        http.post("/permissions/query/subordinate-entities/roles", Some(&g), Some(&other)).json()["roles"],
        json!([])
    );
}

#[test]
fn self_invoicing_authorization_lets_the_buyer_issue() {
    use crate::sessions::{fa3, invoice_xml, open, send, session_crypto};
    let emu = emulator();
    let http = Http::new(&emu);
    let seller = fresh_nip(630);
    let buyer = fresh_nip(631);
    let (st, _, _) = login(&emu, &http, Identifier::nip(&seller), Identifier::nip(&seller));
    let (bt, _, _) = login(&emu, &http, Identifier::nip(&buyer), Identifier::nip(&buyer));
    let c = session_crypto(&http);
    let s = open(&http, &bt, &c, fa3());
    assert_eq!(send(&http, &bt, &s, &c, &invoice_xml(&seller, "S/1"))["status"]["code"], 410);

    let body = json!({"subjectIdentifier": {"type": "Nip", "value": buyer}, "permission": "SelfInvoicing",
                      "description": "Samofakturowanie", "subjectDetails": {"fullName": "Nabywca Sp. z o.o."}});
    let r = http.post("/permissions/authorizations/grants", Some(&st), Some(&body));
    assert_eq!(op_status(&http, &st, &r)["code"], 200);
    let inv = send(&http, &bt, &s, &c, &invoice_xml(&seller, "S/2"));
    assert_eq!(inv["status"]["code"], 200, "{inv}");
    assert!(inv["ksefNumber"].as_str().unwrap().starts_with(&seller));
    // The authorization is not a permission in the seller's context.
    let init = emu.authenticate(Identifier::nip(&seller), Identifier::nip(&buyer)).unwrap();
    let a = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(a["status"]["code"], 415);

    let granted =
        http.post("/permissions/query/authorizations/grants", Some(&st), Some(&json!({"queryType": "Granted"}))).json();
    assert_eq!(granted["authorizationGrants"][0]["authorizationScope"], "SelfInvoicing");
    assert_eq!(granted["authorizationGrants"][0]["subjectEntityDetails"]["fullName"], "Nabywca Sp. z o.o.");
    let received = http
        .post("/permissions/query/authorizations/grants", Some(&bt), Some(&json!({"queryType": "received"})))
        .json();
    let id = received["authorizationGrants"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(received["authorizationGrants"][0]["authorizingEntityIdentifier"]["value"], seller.as_str());
    // Common revoke does not touch authorizations; the dedicated one does.
    let r = http.call("DELETE", &format!("/permissions/common/grants/{id}"), Some(&st), None, &[]);
    assert_eq!(op_status(&http, &st, &r)["code"], 410);
    let r = http.call("DELETE", &format!("/permissions/authorizations/grants/{id}"), Some(&st), None, &[]);
    assert_eq!(op_status(&http, &st, &r)["code"], 200);
    assert_eq!(send(&http, &bt, &s, &c, &invoice_xml(&seller, "S/3"))["status"]["code"], 410);
}

#[test]
fn subunit_administrators() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(640);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let internal = ksef_model::InternalId::new(&nip.parse().unwrap(), 1234).unwrap().into_string();
    let pesel = "90010112349";
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": pesel},
                      "contextIdentifier": {"type": "InternalId", "value": internal},
                      "description": "Administrator oddziału", "subunitName": "Oddział Kraków",
                      "subjectDetails": person_details()});
    let r = http.post("/permissions/subunits/grants", Some(&owner), Some(&body));
    assert_eq!(op_status(&http, &owner, &r)["code"], 200);
    // The administrator logs into the sub-unit's context with CredentialsManage.
    let (admin, _, _) = login(
        &emu,
        &http,
        Identifier::new(ksef_emulator::domain::IdentifierType::InternalId, &internal),
        Identifier::pesel(pesel),
    );
    let mine = http.post("/permissions/query/personal/grants", Some(&admin), None).json();
    assert_eq!(mine["permissions"][0]["permissionScope"], "CredentialsManage");
    let list = http.post("/permissions/query/subunits/grants", Some(&owner), None).json();
    assert_eq!(list["permissions"][0]["subunitIdentifier"]["value"], internal.as_str());
    assert_eq!(list["permissions"][0]["subunitName"], "Oddział Kraków");

    let mut no_name = body.clone();
    no_name.as_object_mut().unwrap().remove("subunitName");
    assert_eq!(http.post("/permissions/subunits/grants", Some(&owner), Some(&no_name)).exception_codes(), [21405]);
    // A subordinate NIP needs a JST or VAT-group context → 430.
    let mut by_nip = body.clone();
    by_nip["contextIdentifier"] = json!({"type": "Nip", "value": fresh_nip(641)});
    let r = http.post("/permissions/subunits/grants", Some(&owner), Some(&by_nip));
    assert_eq!(op_status(&http, &owner, &r)["code"], 430);
    // Another entity's InternalId → 440.
    let mut foreign = body.clone();
    let other = ksef_model::InternalId::new(&fresh_nip(642).parse().unwrap(), 1).unwrap().into_string();
    foreign["contextIdentifier"] = json!({"type": "InternalId", "value": other});
    let r = http.post("/permissions/subunits/grants", Some(&owner), Some(&foreign));
    assert_eq!(op_status(&http, &owner, &r)["code"], 440);
}

#[test]
fn eu_entity_administrators_and_representatives() {
    use ksef_emulator::domain::IdentifierType as T;
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(650);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let eu = format!("{nip}-DE123456789");
    let admin_fp = "A".repeat(64);
    let rep_fp = "b".repeat(64);
    let details = json!({"subjectDetailsType": "PersonByFingerprintWithoutIdentifier",
                         "personByFpNoId": {"firstName": "Hans", "lastName": "Muster", "birthDate": "1980-01-01",
                                            "idDocument": {"type": "Passport", "number": "X123", "country": "DE"}}});
    let body = json!({"subjectIdentifier": {"type": "Fingerprint", "value": admin_fp},
                      "contextIdentifier": {"type": "NipVatUe", "value": eu},
                      "description": "Administrator UE", "euEntityName": "Muster GmbH, Berlin",
                      "subjectDetails": details, "euEntityDetails": {"fullName": "Muster GmbH", "address": "Berlin"}});
    let r = http.post("/permissions/eu-entities/administration/grants", Some(&owner), Some(&body));
    assert_eq!(op_status(&http, &owner, &r)["code"], 200);
    let mut foreign = body.clone();
    foreign["contextIdentifier"]["value"] = json!(format!("{}-DE123456789", fresh_nip(651)));
    let r = http.post("/permissions/eu-entities/administration/grants", Some(&owner), Some(&foreign));
    assert_eq!(op_status(&http, &owner, &r)["code"], 440);

    // The administrator works in the compound context and appoints a representative.
    let (admin, _, _) = login(&emu, &http, Identifier::new(T::NipVatUe, &eu), Identifier::fingerprint(&admin_fp));
    let rep = json!({"subjectIdentifier": {"type": "Fingerprint", "value": rep_fp}, "permissions": ["InvoiceRead"],
                     "description": "Przedstawiciel", "subjectDetails": details});
    let r = http.post("/permissions/eu-entities/grants", Some(&admin), Some(&rep));
    assert_eq!(op_status(&http, &admin, &r)["code"], 200);
    // VatUeManage is required: the owner's NIP context does not have it.
    assert_eq!(http.post("/permissions/eu-entities/grants", Some(&owner), Some(&rep)).status, 403);

    let in_eu = http.post("/permissions/query/eu-entities/grants", Some(&admin), None).json();
    assert_eq!(in_eu["permissions"].as_array().unwrap().len(), 5);
    let from_nip = http.post("/permissions/query/eu-entities/grants", Some(&owner), None).json();
    let items = from_nip["permissions"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|p| p["euEntityName"] == "Muster GmbH, Berlin" && p["vatUeIdentifier"] == eu.as_str()));
    let only_rep = json!({"authorizedFingerprintIdentifier": "bbbb"});
    let v = http.post("/permissions/query/eu-entities/grants", Some(&admin), Some(&only_rep)).json();
    assert_eq!(v["permissions"][0]["permissionScope"], "InvoiceRead");
}

#[test]
fn indirect_grants_follow_the_clients_delegation() {
    let emu = emulator();
    let http = Http::new(&emu);
    let client = fresh_nip(660);
    let firm = fresh_nip(661);
    let (ct, _, _) = login(&emu, &http, Identifier::nip(&client), Identifier::nip(&client));
    let (ft, _, _) = login(&emu, &http, Identifier::nip(&firm), Identifier::nip(&firm));
    let delegate = json!({"subjectIdentifier": {"type": "Nip", "value": firm},
                          "permissions": [{"type": "InvoiceRead", "canDelegate": true}],
                          "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}});
    assert_eq!(
        op_status(&http, &ct, &http.post("/permissions/entities/grants", Some(&ct), Some(&delegate)))["code"],
        200
    );

    let pesel = "85121612343";
    let selective = json!({"subjectIdentifier": {"type": "Pesel", "value": pesel}, "targetIdentifier": {"type": "Nip", "value": client},
                           "permissions": ["InvoiceRead"], "description": "Księgowa klienta", "subjectDetails": person_details()});
    assert_eq!(
        op_status(&http, &ft, &http.post("/permissions/indirect/grants", Some(&ft), Some(&selective)))["code"],
        200
    );
    let (pt, _, _) = login(&emu, &http, Identifier::nip(&client), Identifier::pesel(pesel));
    let mine = http.post("/permissions/query/personal/grants", Some(&pt), None).json();
    assert_eq!(mine["permissions"][0]["targetIdentifier"], json!({"type": "Nip", "value": client}));

    // A client that delegated nothing to this firm → 440.
    let mut other = selective.clone();
    other["targetIdentifier"]["value"] = json!(fresh_nip(662));
    assert_eq!(op_status(&http, &ft, &http.post("/permissions/indirect/grants", Some(&ft), Some(&other)))["code"], 440);

    // A general grant covers every client that delegated.
    let general = json!({"subjectIdentifier": {"type": "Pesel", "value": "90010112349"}, "targetIdentifier": {"type": "AllPartners"},
                         "permissions": ["InvoiceRead"], "description": "Księgowa biura", "subjectDetails": person_details()});
    assert_eq!(
        op_status(&http, &ft, &http.post("/permissions/indirect/grants", Some(&ft), Some(&general)))["code"],
        200
    );
    login(&emu, &http, Identifier::nip(&client), Identifier::pesel("90010112349"));
    // Without the client's delegation the general grant gives nothing elsewhere.
    let elsewhere = fresh_nip(663);
    let init = emu.authenticate(Identifier::nip(&elsewhere), Identifier::pesel("90010112349")).unwrap();
    let st = http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json();
    assert_eq!(st["status"]["code"], 415);
}

fn auth_code(emu: &ksef_emulator::Emulator, http: &Http, context: Identifier, subject: Identifier) -> Value {
    let init = emu.authenticate(context, subject).unwrap();
    http.get(&format!("/auth/{}", init.reference_number), Some(&init.authentication_token)).json()["status"]["code"]
        .clone()
}

#[test]
fn eu_query_filters_by_the_vat_ue_number_and_the_appointing_nip_revokes() {
    use ksef_emulator::domain::IdentifierType as T;
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(670);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let eu = format!("{nip}-DE123456789");
    let admin_fp = "C".repeat(64);
    let details = json!({"subjectDetailsType": "PersonByFingerprintWithoutIdentifier",
                         "personByFpNoId": {"firstName": "Hans", "lastName": "Muster", "birthDate": "1980-01-01",
                                            "idDocument": {"type": "Passport", "number": "X123", "country": "DE"}}});
    let body = json!({"subjectIdentifier": {"type": "Fingerprint", "value": admin_fp},
                      "contextIdentifier": {"type": "NipVatUe", "value": eu},
                      "description": "Administrator UE", "euEntityName": "Muster GmbH, Berlin", "subjectDetails": details});
    let r = http.post("/permissions/eu-entities/administration/grants", Some(&owner), Some(&body));
    assert_eq!(op_status(&http, &owner, &r)["code"], 200);

    // The filter is the EU VAT number alone (exact match), not the compound context.
    let q = |v: &str| {
        http.post("/permissions/query/eu-entities/grants", Some(&owner), Some(&json!({"vatUeIdentifier": v}))).json()
            ["permissions"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(q("DE123456789"), 4);
    assert_eq!(q("DE987654321"), 0);
    assert_eq!(q(&eu), 0);

    // The NIP context that appointed the administrator revokes the grants (they live in the
    // compound context); the administrator then cannot log in there.
    let list = http.post("/permissions/query/eu-entities/grants", Some(&owner), None).json();
    // Another NIP may not revoke them → operation 410.
    let other = fresh_nip(671);
    let (ot, _, _) = login(&emu, &http, Identifier::nip(&other), Identifier::nip(&other));
    let first = list["permissions"][0]["id"].as_str().unwrap();
    let r = http.call("DELETE", &format!("/permissions/common/grants/{first}"), Some(&ot), None, &[]);
    assert_eq!(op_status(&http, &ot, &r)["code"], 410);
    for p in list["permissions"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let r = http.call("DELETE", &format!("/permissions/common/grants/{id}"), Some(&owner), None, &[]);
        assert_eq!(op_status(&http, &owner, &r)["code"], 200);
    }
    assert_eq!(q("DE123456789"), 0);
    assert_eq!(auth_code(&emu, &http, Identifier::new(T::NipVatUe, &eu), Identifier::fingerprint(&admin_fp)), 415);
}

#[test]
fn subunit_query_lists_only_administrators_and_the_parent_revokes_them() {
    use ksef_emulator::domain::IdentifierType as T;
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(680);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let internal = ksef_model::InternalId::new(&nip.parse().unwrap(), 4321).unwrap().into_string();
    let admin_pesel = "90010112349";
    let body = json!({"subjectIdentifier": {"type": "Pesel", "value": admin_pesel},
                      "contextIdentifier": {"type": "InternalId", "value": internal},
                      "description": "Administrator oddziału", "subunitName": "Oddział Gdańsk",
                      "subjectDetails": person_details()});
    let r = http.post("/permissions/subunits/grants", Some(&owner), Some(&body));
    assert_eq!(op_status(&http, &owner, &r)["code"], 200);
    // The administrator grants an ordinary permission inside the sub-unit.
    let sub = Identifier::new(T::InternalId, &internal);
    let (admin, _, _) = login(&emu, &http, sub.clone(), Identifier::pesel(admin_pesel));
    let inner = json!({"subjectIdentifier": {"type": "Pesel", "value": "85121612343"}, "permissions": ["InvoiceRead"],
                       "description": "Pracownik oddziału", "subjectDetails": person_details()});
    let r = http.post("/permissions/persons/grants", Some(&admin), Some(&inner));
    assert_eq!(op_status(&http, &admin, &r)["code"], 200);

    // Only the administrator grant is listed for the parent.
    let list = http.post("/permissions/query/subunits/grants", Some(&owner), None).json();
    let items = list["permissions"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["authorizedIdentifier"], json!({"type": "Pesel", "value": admin_pesel}));
    let only = json!({"subunitIdentifier": {"type": "InternalId", "value": internal}});
    let list2 = http.post("/permissions/query/subunits/grants", Some(&owner), Some(&only)).json();
    assert_eq!(list2["permissions"].as_array().unwrap().len(), 1, "{list2}");
    // The parent's "granted in the current context" list has the administrator it appointed.
    let granted = http
        .post(
            "/permissions/query/persons/grants",
            Some(&owner),
            Some(&json!({"queryType": "PermissionsGrantedInCurrentContext"})),
        )
        .json();
    assert!(
        granted["permissions"].as_array().unwrap().iter().any(|p| p["contextIdentifier"]["value"] == internal.as_str())
    );

    // The parent revokes the administrator from its own context.
    let id = items[0]["id"].as_str().unwrap();
    let r = http.call("DELETE", &format!("/permissions/common/grants/{id}"), Some(&owner), None, &[]);
    assert_eq!(op_status(&http, &owner, &r)["code"], 200);
    assert_eq!(auth_code(&emu, &http, sub, Identifier::pesel(admin_pesel)), 415);
    assert_eq!(http.post("/permissions/query/subunits/grants", Some(&owner), None).json()["permissions"], json!([]));
}

#[test]
fn grant_requests_are_validated_like_ksef() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(690);
    let (owner, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&nip));
    let post = |path: &str, body: &Value| http.post(path, Some(&owner), Some(body));

    // canDelegate only for InvoiceRead / InvoiceWrite.
    let entity = json!({"subjectIdentifier": {"type": "Nip", "value": fresh_nip(691)},
                        "permissions": [{"type": "CollectiveIdentifierManage", "canDelegate": true}],
                        "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}});
    let r = post("/permissions/entities/grants", &entity);
    assert_eq!((r.status, r.exception_codes()), (400, vec![21405]));
    let mut ok = entity.clone();
    ok["permissions"] = json!([{"type": "CollectiveIdentifierManage"}, {"type": "InvoiceRead", "canDelegate": true}]);
    assert_eq!(op_status(&http, &owner, &post("/permissions/entities/grants", &ok))["code"], 200);
    // Each permission at most once.
    let mut twice = entity.clone();
    twice["permissions"] = json!([{"type": "InvoiceRead"}, {"type": "InvoiceRead", "canDelegate": true}]);
    assert_eq!(post("/permissions/entities/grants", &twice).exception_codes(), [21405]);
    let person = json!({"subjectIdentifier": {"type": "Pesel", "value": "85121612343"},
                        "permissions": ["InvoiceRead", "InvoiceRead"], "description": "Księgowa",
                        "subjectDetails": person_details()});
    assert_eq!(post("/permissions/persons/grants", &person).exception_codes(), [21405]);
    let mut indirect = person.clone();
    indirect["permissions"] = json!(["InvoiceWrite", "InvoiceWrite"]);
    assert_eq!(post("/permissions/indirect/grants", &indirect).exception_codes(), [21405]);
    // A fingerprint subject is described by a fingerprint details type, a PESEL by PersonByIdentifier.
    let mut fp = person.clone();
    fp["permissions"] = json!(["InvoiceRead"]);
    fp["subjectIdentifier"] = json!({"type": "Fingerprint", "value": "D".repeat(64)});
    assert_eq!(post("/permissions/persons/grants", &fp).exception_codes(), [21405]);
    fp["subjectDetails"] = json!({"subjectDetailsType": "PersonByFingerprintWithIdentifier",
                                  "personByFpWithId": {"firstName": "Anna", "lastName": "Nowak",
                                                       "identifier": {"type": "Pesel", "value": "85121612343"}}});
    assert_eq!(op_status(&http, &owner, &post("/permissions/persons/grants", &fp))["code"], 200);
    let mut pesel_fp = fp.clone();
    pesel_fp["subjectIdentifier"] = json!({"type": "Pesel", "value": "85121612343"});
    assert_eq!(post("/permissions/persons/grants", &pesel_fp).exception_codes(), [21405]);
}

#[test]
fn indirect_grants_per_client_and_collective_identifier_manage() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (c1, c2, firm) = (fresh_nip(700), fresh_nip(701), fresh_nip(702));
    let (ft, _, _) = login(&emu, &http, Identifier::nip(&firm), Identifier::nip(&firm));
    for c in [&c1, &c2] {
        let (ct, _, _) = login(&emu, &http, Identifier::nip(c), Identifier::nip(c));
        let delegate = json!({"subjectIdentifier": {"type": "Nip", "value": firm},
                              "permissions": [{"type": "InvoiceRead", "canDelegate": true}, {"type": "CollectiveIdentifierManage"}],
                              "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}});
        let r = http.post("/permissions/entities/grants", Some(&ct), Some(&delegate));
        assert_eq!(op_status(&http, &ct, &r)["code"], 200);
    }
    let pesel = "85121612343";
    // One scope, one person, two clients: two grants.
    for c in [&c1, &c2] {
        let g = json!({"subjectIdentifier": {"type": "Pesel", "value": pesel}, "targetIdentifier": {"type": "Nip", "value": c},
                       "permissions": ["InvoiceRead", "CollectiveIdentifierManage"], "description": "Księgowa klienta",
                       "subjectDetails": person_details()});
        let r = http.post("/permissions/indirect/grants", Some(&ft), Some(&g));
        assert_eq!(op_status(&http, &ft, &r)["code"], 200);
    }
    // The firm's "granted in the current context" list has the indirect grants.
    let q = json!({"queryType": "PermissionsGrantedInCurrentContext", "permissionTypes": ["InvoiceRead"]});
    let granted = http.post("/permissions/query/persons/grants", Some(&ft), Some(&q)).json();
    let targets: Vec<&Value> =
        granted["permissions"].as_array().unwrap().iter().map(|p| &p["targetIdentifier"]).collect();
    assert_eq!(targets.len(), 2, "{granted}");
    assert!(
        targets.contains(&&json!({"type": "Nip", "value": c1}))
            && targets.contains(&&json!({"type": "Nip", "value": c2}))
    );
    let q =
        json!({"queryType": "PermissionsGrantedInCurrentContext", "targetIdentifier": {"type": "Nip", "value": c2}});
    let one = http.post("/permissions/query/persons/grants", Some(&ft), Some(&q)).json();
    assert_eq!(one["permissions"].as_array().unwrap().len(), 2, "{one}");

    // The person works for both clients, with CollectiveIdentifierManage passed on too.
    for c in [&c1, &c2] {
        let (pt, _, _) = login(&emu, &http, Identifier::nip(c), Identifier::pesel(pesel));
        let mine = http.post("/permissions/query/personal/grants", Some(&pt), None).json();
        assert!(mine["permissions"].as_array().unwrap().iter().any(|p| p["targetIdentifier"]["value"] == c.as_str()));
    }
    use ksef_emulator::domain::PermissionType as P;
    let held = ksef_emulator::domain::permissions::effective(
        emu.store().as_ref(),
        &Identifier::nip(&c2),
        &Identifier::pesel(pesel),
    )
    .unwrap();
    assert_eq!(held.into_iter().collect::<Vec<_>>(), [P::InvoiceRead, P::CollectiveIdentifierManage]);
}
