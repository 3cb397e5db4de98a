use chrono::NaiveDate;
use ksef_permissions::*;
use pretty_assertions::assert_eq;
use serde_json::{json, to_value};

use crate::*;

fn jan() -> PersonDetails {
    PersonDetails::by_identifier("Jan", "Kowalski")
}

// ---- person grants ----

#[test]
fn person_grant_builds_expected_body() {
    let req = PersonGrant::new(pesel(EMPLOYEE_PESEL), jan())
        .permission(PersonPermissionType::InvoiceRead)
        .permission(PersonPermissionType::InvoiceWrite)
        .description("Księgowa, faktury")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Pesel", "value": EMPLOYEE_PESEL},
            "permissions": ["InvoiceRead", "InvoiceWrite"],
            "description": "Księgowa, faktury",
            "subjectDetails": {
                "subjectDetailsType": "PersonByIdentifier",
                "personById": {"firstName": "Jan", "lastName": "Kowalski"}
            }
        })
    );
}

#[test]
fn person_grant_by_fingerprint_without_identifier() {
    let details = PersonDetails::ByFingerprintWithoutIdentifier {
        first_name: "Hans".into(),
        last_name: "Müller".into(),
        birth_date: NaiveDate::from_ymd_opt(1980, 2, 29).unwrap(),
        id_document: IdDocument { kind: "passport".into(), number: "C01X00T47".into(), country: "DE".into() },
    };
    let req = PersonGrant::new(fp(FP), details)
        .permission(PersonPermissionType::Introspection)
        .description("Audytor zewnętrzny")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Fingerprint", "value": FP},
            "permissions": ["Introspection"],
            "description": "Audytor zewnętrzny",
            "subjectDetails": {
                "subjectDetailsType": "PersonByFingerprintWithoutIdentifier",
                "personByFpNoId": {
                    "firstName": "Hans", "lastName": "Müller", "birthDate": "1980-02-29",
                    "idDocument": {"type": "passport", "number": "C01X00T47", "country": "DE"}
                }
            }
        })
    );
}

#[test]
fn person_grant_rejections() {
    let base = || PersonGrant::new(pesel(EMPLOYEE_PESEL), jan()).permission(PersonPermissionType::InvoiceRead);
    rejects(base().description("abc").build().unwrap_err(), "description", &["5..=256", "got 3"]);
    rejects(base().build().unwrap_err(), "description", &["required"]);
    rejects(
        base().permission(PersonPermissionType::InvoiceRead).description("valid text").build().unwrap_err(),
        "permissions",
        &["InvoiceRead", "twice"],
    );
    rejects(
        PersonGrant::new(pesel(EMPLOYEE_PESEL), jan()).description("valid text").build().unwrap_err(),
        "permissions",
        &["at least one"],
    );
    // A fingerprint subject cannot be described by identifier, and vice versa.
    rejects(
        PersonGrant::new(fp(FP), jan())
            .permission(PersonPermissionType::InvoiceRead)
            .description("valid text")
            .build()
            .unwrap_err(),
        "subjectDetails.subjectDetailsType",
        &["Fingerprint", "PersonByFingerprintWithIdentifier", "not PersonByIdentifier"],
    );
    let with_id = PersonDetails::ByFingerprintWithIdentifier {
        first_name: "Jan".into(),
        last_name: "Kowalski".into(),
        identifier: PersonIdentifier::Pesel(pesel(EMPLOYEE_PESEL)),
    };
    rejects(
        PersonGrant::new(pesel(EMPLOYEE_PESEL), with_id)
            .permission(PersonPermissionType::InvoiceRead)
            .description("valid text")
            .build()
            .unwrap_err(),
        "subjectDetails.subjectDetailsType",
        &["Pesel", "must be described as PersonByIdentifier"],
    );
    rejects(
        PersonGrant::new(pesel(EMPLOYEE_PESEL), PersonDetails::by_identifier("J", "Kowalski"))
            .permission(PersonPermissionType::InvoiceRead)
            .description("valid text")
            .build()
            .unwrap_err(),
        "subjectDetails.personById.firstName",
        &["2..=30"],
    );
}

#[test]
fn identifiers_are_checksum_validated() {
    rejects(PersonSubject::nip("5265877636").unwrap_err(), "subjectIdentifier.value", &["not a valid NIP"]);
    rejects(PersonSubject::pesel("44051401358").unwrap_err(), "subjectIdentifier.value", &["not a valid PESEL"]);
    rejects(PersonSubject::fingerprint("ABC").unwrap_err(), "fingerprint", &["64 hexadecimal digits"]);
    let e = PersonSubject::nip("5265877636").unwrap_err();
    assert!(std::error::Error::source(&e).is_some(), "the id error is kept as the source");
    // Fingerprints are normalized to upper case.
    assert_eq!(fp(&FP.to_lowercase()).as_str(), FP);
}

#[test]
fn fingerprint_person_with_identifier_details() {
    let details = PersonDetails::ByFingerprintWithIdentifier {
        first_name: "Anna".into(),
        last_name: "Nowak".into(),
        identifier: PersonIdentifier::Nip(nip(OFFICE)),
    };
    let req = PersonGrant::new(fp(FP), details)
        .permissions([PersonPermissionType::CredentialsRead])
        .description("Podgląd uprawnień")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&req.subject_details).unwrap(),
        json!({
            "subjectDetailsType": "PersonByFingerprintWithIdentifier",
            "personByFpWithId": {"firstName": "Anna", "lastName": "Nowak", "identifier": {"type": "Nip", "value": OFFICE}}
        })
    );
}

// ---- entity grants ----

#[test]
fn entity_grant_builds_expected_body() {
    let req = EntityGrant::new(nip(OFFICE), "Biuro Rachunkowe Sp. z o.o.")
        .permission(EntityPermissionType::InvoiceRead, true)
        .permission(EntityPermissionType::InvoiceWrite, false)
        .description("Obsługa księgowa")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Nip", "value": OFFICE},
            "permissions": [
                {"type": "InvoiceRead", "canDelegate": true},
                {"type": "InvoiceWrite", "canDelegate": false}
            ],
            "description": "Obsługa księgowa",
            "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}
        })
    );
}

#[test]
fn entity_grant_rejections() {
    rejects(
        EntityGrant::new(nip(OFFICE), "Biuro Rachunkowe")
            .permission(EntityPermissionType::CollectiveIdentifierManage, true)
            .description("Obsługa księgowa")
            .build()
            .unwrap_err(),
        "permissions[].canDelegate",
        &["only on InvoiceRead or InvoiceWrite", "CollectiveIdentifierManage"],
    );
    rejects(
        EntityGrant::new(nip(OFFICE), "Biu")
            .permission(EntityPermissionType::InvoiceRead, false)
            .description("Obsługa księgowa")
            .build()
            .unwrap_err(),
        "subjectDetails.fullName",
        &["5..=90"],
    );
    rejects(
        EntityGrant::new(nip(OFFICE), "Biuro Rachunkowe")
            .permission(EntityPermissionType::InvoiceRead, false)
            .permission(EntityPermissionType::InvoiceRead, true)
            .description("Obsługa księgowa")
            .build()
            .unwrap_err(),
        "permissions",
        &["twice"],
    );
}

// ---- authorizations ----

#[test]
fn authorization_grant_builds_expected_body() {
    let req = AuthorizationGrant::new(
        AuthorizedEntity::Nip(nip(OTHER_CLIENT)),
        EntityAuthorizationPermissionType::SelfInvoicing,
        "Nabywca S.A.",
    )
    .description("Samofakturowanie")
    .build()
    .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Nip", "value": OTHER_CLIENT},
            "permission": "SelfInvoicing",
            "description": "Samofakturowanie",
            "subjectDetails": {"fullName": "Nabywca S.A."}
        })
    );
    let rr = AuthorizationGrant::new(
        AuthorizedEntity::Nip(nip(OTHER_CLIENT)),
        EntityAuthorizationPermissionType::RrInvoicing,
        "Skup Rolny",
    )
    .description("Faktury VAT RR")
    .build()
    .unwrap();
    assert_eq!(to_value(&rr).unwrap()["permission"], "RRInvoicing");
    let pef = AuthorizationGrant::new(
        AuthorizedEntity::PeppolId("PPL123456".parse().unwrap()),
        EntityAuthorizationPermissionType::PefInvoicing,
        "Peppol Provider",
    )
    .description("Faktury PEF")
    .build()
    .unwrap();
    assert_eq!(to_value(&pef).unwrap()["subjectIdentifier"], json!({"type": "PeppolId", "value": "PPL123456"}));
}

#[test]
fn authorization_grant_rejections() {
    rejects(
        AuthorizationGrant::new(
            AuthorizedEntity::Nip(nip(OTHER_CLIENT)),
            EntityAuthorizationPermissionType::PefInvoicing,
            "Nabywca S.A.",
        )
        .description("Faktury PEF")
        .build()
        .unwrap_err(),
        "subjectIdentifier.type",
        &["PefInvoicing", "PeppolId"],
    );
    rejects(
        AuthorizationGrant::new(
            AuthorizedEntity::PeppolId("PPL123456".parse().unwrap()),
            EntityAuthorizationPermissionType::TaxRepresentative,
            "Peppol Provider",
        )
        .description("Przedstawiciel")
        .build()
        .unwrap_err(),
        "permission",
        &["only receive PefInvoicing", "TaxRepresentative"],
    );
}

// ---- indirect grants ----

#[test]
fn indirect_grant_selective_and_general_bodies() {
    let sel = IndirectGrant::new(person(EMPLOYEE_PESEL), jan(), IndirectTarget::Client(nip(CLIENT)))
        .permission(IndirectPermissionType::InvoiceWrite)
        .description("Wystawianie faktur klienta")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&sel).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Pesel", "value": EMPLOYEE_PESEL},
            "targetIdentifier": {"type": "Nip", "value": CLIENT},
            "permissions": ["InvoiceWrite"],
            "description": "Wystawianie faktur klienta",
            "subjectDetails": {"subjectDetailsType": "PersonByIdentifier", "personById": {"firstName": "Jan", "lastName": "Kowalski"}}
        })
    );
    let general = IndirectGrant::new(person(EMPLOYEE_PESEL), jan(), IndirectTarget::AllClients)
        .permission(IndirectPermissionType::InvoiceRead)
        .description("Wszyscy klienci")
        .build()
        .unwrap();
    assert_eq!(to_value(&general).unwrap()["targetIdentifier"], json!({"type": "AllPartners"}));
    let sub = IndirectGrant::new(
        person(EMPLOYEE_PESEL),
        jan(),
        IndirectTarget::ClientSubunit("5265877635-12346".parse().unwrap()),
    )
    .permission(IndirectPermissionType::InvoiceRead)
    .description("Oddział klienta")
    .build()
    .unwrap();
    assert_eq!(to_value(&sub).unwrap()["targetIdentifier"], json!({"type": "InternalId", "value": "5265877635-12346"}));
}

#[test]
fn indirect_grant_rejections() {
    rejects(
        IndirectGrant::new(person(EMPLOYEE_PESEL), jan(), IndirectTarget::AllClients)
            .description("Wszyscy klienci")
            .build()
            .unwrap_err(),
        "permissions",
        &["at least one"],
    );
    rejects(
        IndirectGrant::new(person(EMPLOYEE_PESEL), jan(), IndirectTarget::AllClients)
            .permission(IndirectPermissionType::InvoiceRead)
            .description(&"x".repeat(257))
            .build()
            .unwrap_err(),
        "description",
        &["5..=256", "got 257"],
    );
}

// ---- sub-units ----

#[test]
fn subunit_grant_builds_expected_body() {
    let req =
        SubunitGrant::new(person(EMPLOYEE_PESEL), jan(), Subunit::InternalId("5265877635-12346".parse().unwrap()))
            .subunit_name("Oddział Kraków")
            .description("Administrator oddziału")
            .in_context(nip(CLIENT))
            .build()
            .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Pesel", "value": EMPLOYEE_PESEL},
            "contextIdentifier": {"type": "InternalId", "value": "5265877635-12346"},
            "description": "Administrator oddziału",
            "subunitName": "Oddział Kraków",
            "subjectDetails": {"subjectDetailsType": "PersonByIdentifier", "personById": {"firstName": "Jan", "lastName": "Kowalski"}}
        })
    );
    // A subordinate NIP needs no name.
    let by_nip = SubunitGrant::new(person(EMPLOYEE_PESEL), jan(), Subunit::Nip(nip(OTHER_CLIENT)))
        .description("Administrator jednostki")
        .build()
        .unwrap();
    assert_eq!(to_value(&by_nip).unwrap().get("subunitName"), None);
}

#[test]
fn subunit_grant_rejections() {
    let iid = || Subunit::InternalId("5265877635-12346".parse().unwrap());
    rejects(
        SubunitGrant::new(person(EMPLOYEE_PESEL), jan(), iid()).description("Administrator").build().unwrap_err(),
        "subunitName",
        &["required", "internal id"],
    );
    rejects(
        SubunitGrant::new(person(EMPLOYEE_PESEL), jan(), iid())
            .subunit_name("Oddział")
            .description("Administrator")
            .in_context(nip(OFFICE))
            .build()
            .unwrap_err(),
        "contextIdentifier.value",
        &["belongs to NIP 5265877635", "1111111111"],
    );
    // The internal id's check digit is verified when parsing.
    assert!("5265877635-12345".parse::<ksef_model::InternalId>().is_err());
}

// ---- EU entities ----

fn eu_ctx() -> ksef_model::NipVatUe {
    format!("{CLIENT}-DE123456789").parse().unwrap()
}

#[test]
fn eu_administration_grant_builds_expected_body() {
    let req = EuAdministrationGrant::new(
        fp(FP),
        EuSubjectDetails::Entity { full_name: "Käufer GmbH".into(), address: "Berlin".into() },
        eu_ctx(),
    )
    .eu_entity("Käufer GmbH", "Hauptstr. 1, Berlin")
    .description("Samofakturowanie UE")
    .in_context(nip(CLIENT))
    .build()
    .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Fingerprint", "value": FP},
            "contextIdentifier": {"type": "NipVatUe", "value": "5265877635-DE123456789"},
            "description": "Samofakturowanie UE",
            "euEntityName": "Käufer GmbH, Hauptstr. 1, Berlin",
            "euEntityDetails": {"fullName": "Käufer GmbH", "address": "Hauptstr. 1, Berlin"},
            "subjectDetails": {"subjectDetailsType": "EntityByFingerprint", "entityByFp": {"fullName": "Käufer GmbH", "address": "Berlin"}}
        })
    );
}

#[test]
fn eu_grants_rejections() {
    // Person details by identifier do not fit a fingerprint-only grant.
    rejects(
        EuRepresentativeGrant::new(fp(FP), EuSubjectDetails::Person(jan()))
            .permission(EuEntityPermissionType::InvoiceWrite)
            .description("Przedstawiciel")
            .build()
            .unwrap_err(),
        "subjectDetails.subjectDetailsType",
        &["fingerprint only", "not PersonByIdentifier"],
    );
    rejects(
        EuAdministrationGrant::new(
            fp(FP),
            EuSubjectDetails::Entity { full_name: "X".into(), address: "Y".into() },
            eu_ctx(),
        )
        .description("Administrator UE")
        .build()
        .unwrap_err(),
        "euEntityDetails",
        &["required"],
    );
    rejects(
        EuAdministrationGrant::new(
            fp(FP),
            EuSubjectDetails::Entity { full_name: "X".into(), address: "Y".into() },
            eu_ctx(),
        )
        .eu_entity("Käufer GmbH", "Berlin")
        .description("Administrator UE")
        .in_context(nip(OFFICE))
        .build()
        .unwrap_err(),
        "contextIdentifier.value",
        &["starts with NIP 5265877635"],
    );
    rejects(
        PersonDetails::ByFingerprintWithoutIdentifier {
            first_name: "Hans".into(),
            last_name: "Müller".into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            id_document: IdDocument { kind: "passport".into(), number: "1".into(), country: "Germany".into() },
        }
        .pipe(|d| {
            EuRepresentativeGrant::new(fp(FP), EuSubjectDetails::Person(d))
                .permission(EuEntityPermissionType::InvoiceRead)
                .description("Przedstawiciel")
                .build()
                .unwrap_err()
        }),
        "subjectDetails.personByFpNoId.idDocument.country",
        &["ISO 3166-1 alpha-2"],
    );
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

#[test]
fn eu_representative_grant_builds_expected_body() {
    let details = PersonDetails::ByFingerprintWithIdentifier {
        first_name: "Anna".into(),
        last_name: "Nowak".into(),
        identifier: PersonIdentifier::Pesel(pesel(EMPLOYEE_PESEL)),
    };
    let req = EuRepresentativeGrant::new(fp(FP), EuSubjectDetails::Person(details))
        .permission(EuEntityPermissionType::InvoiceWrite)
        .description("Przedstawiciel UE")
        .build()
        .unwrap();
    assert_eq!(
        to_value(&req).unwrap(),
        json!({
            "subjectIdentifier": {"type": "Fingerprint", "value": FP},
            "permissions": ["InvoiceWrite"],
            "description": "Przedstawiciel UE",
            "subjectDetails": {
                "subjectDetailsType": "PersonByFingerprintWithIdentifier",
                "personByFpWithId": {"firstName": "Anna", "lastName": "Nowak", "identifier": {"type": "Pesel", "value": EMPLOYEE_PESEL}}
            }
        })
    );
}

#[test]
fn build_call_sends_to_the_right_endpoint() {
    let ctx = ksef_transport::RequestContext::new("https://ksef.example").unwrap().with_token("t");
    let call = EntityGrant::new(nip(OFFICE), "Biuro Rachunkowe")
        .permission(EntityPermissionType::InvoiceRead, true)
        .description("Obsługa księgowa")
        .build_call()
        .unwrap();
    let req = call.build_request(&ctx).unwrap();
    assert_eq!(req.method(), "POST");
    assert_eq!(req.uri(), "https://ksef.example/v2/permissions/entities/grants");
}
