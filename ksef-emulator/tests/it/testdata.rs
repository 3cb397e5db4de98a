use ksef_emulator::domain::Identifier;
use serde_json::json;

use crate::common::*;

#[test]
fn subject_create_twice_gives_30001_and_remove_allows_recreate() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(1);
    let sub = fresh_nip(2);
    let body = json!({"subjectNip": nip, "subjectType": "vatgroup", "description": "Grupa VAT testowa",
                      "subunits": [{"subjectNip": sub, "description": "Członek grupy"}]});
    assert_eq!(http.post("/testdata/subject", None, Some(&body)).status, 200);
    assert_eq!(http.post("/testdata/subject", None, Some(&body)).exception_codes(), [30001]);
    let stored = emu.store().subject(&sub).unwrap().expect("sub-unit stored");
    assert_eq!(stored.parent_nip.as_deref(), Some(nip.as_str()));
    assert_eq!(http.post("/testdata/subject/remove", None, Some(&json!({"subjectNip": nip}))).status, 200);
    assert!(emu.store().subject(&sub).unwrap().is_none(), "sub-units go with their parent");
    assert_eq!(http.post("/testdata/subject", None, Some(&body)).status, 200);
}

#[test]
fn bad_input_gives_21405() {
    let emu = emulator();
    let http = Http::new(&emu);
    // Bad NIP checksum.
    let r = http.post(
        "/testdata/subject",
        None,
        Some(&json!({"subjectNip": "5265877636", "subjectType": "JST", "description": "Opis podmiotu"})),
    );
    assert_eq!(r.exception_codes(), [21405]);
    // Unknown enum value.
    let r = http.post(
        "/testdata/subject",
        None,
        Some(&json!({"subjectNip": fresh_nip(3), "subjectType": "Nope", "description": "Opis podmiotu"})),
    );
    assert_eq!(r.exception_codes(), [21405]);
    // Missing field.
    let r = http.post("/testdata/person", None, Some(&json!({"nip": fresh_nip(4)})));
    assert_eq!(r.exception_codes(), [21405]);
    // Not JSON at all.
    let r = http.call("POST", "/testdata/attachment", None, None, &[]);
    assert_eq!(r.exception_codes(), [21405]);
}

#[test]
fn grants_give_permissions_and_revoke_takes_them_away() {
    let emu = emulator();
    let http = Http::new(&emu);
    let ctx = fresh_nip(5);
    let worker = fresh_nip(6);
    // Unknown request fields are ignored; enums are case-insensitive.
    let grant = json!({"contextIdentifier": {"type": "nip", "value": ctx},
                       "authorizedIdentifier": {"type": "NIP", "value": worker},
                       "permissions": [{"description": "Wystawianie faktur", "permissionType": "invoicewrite"}],
                       "somethingNew": true});
    assert_eq!(http.post("/testdata/permissions", None, Some(&grant)).status, 200);
    let perms = ksef_emulator::domain::permissions::effective(
        emu.store().as_ref(),
        &Identifier::nip(&ctx),
        &Identifier::nip(&worker),
    )
    .unwrap();
    assert_eq!(perms.iter().map(|p| p.as_str()).collect::<Vec<_>>(), ["InvoiceWrite"]);
    let g = emu.store().grants_of(&Identifier::nip(&ctx), &Identifier::nip(&worker)).unwrap();
    assert_eq!(g[0].author.kind.as_str(), "System");
    let revoke = json!({"contextIdentifier": {"type": "Nip", "value": ctx}, "authorizedIdentifier": {"type": "Nip", "value": worker}});
    assert_eq!(http.post("/testdata/permissions/revoke", None, Some(&revoke)).status, 200);
    assert!(emu.store().grants_of(&Identifier::nip(&ctx), &Identifier::nip(&worker)).unwrap().is_empty());
}

#[test]
fn person_link_makes_pesel_owner_and_attachment_consent_is_recorded() {
    let emu = emulator();
    let http = Http::new(&emu);
    let nip = fresh_nip(7);
    create_person(&http, &nip, "90010112349");
    let perms = ksef_emulator::domain::permissions::effective(
        emu.store().as_ref(),
        &Identifier::nip(&nip),
        &Identifier::pesel("90010112349"),
    )
    .unwrap();
    assert!(perms.iter().any(|p| p.as_str() == "CredentialsManage"));
    assert!(!perms.iter().any(|p| p.as_str() == "VatUeManage"));
    // Same PESEL again → 30001.
    let r = http.post(
        "/testdata/person",
        None,
        Some(&json!({"nip": fresh_nip(8), "pesel": "90010112349", "isBailiff": false, "description": "Osoba testowa"})),
    );
    assert_eq!(r.exception_codes(), [30001]);

    assert_eq!(http.post("/testdata/attachment", None, Some(&json!({"nip": nip}))).status, 200);
    assert!(emu.store().attachment_consent(&nip).unwrap().unwrap().allowed);
    assert_eq!(http.post("/testdata/attachment/revoke", None, Some(&json!({"nip": nip}))).status, 200);
    assert!(!emu.store().attachment_consent(&nip).unwrap().unwrap().allowed);

    assert_eq!(http.post("/testdata/person/remove", None, Some(&json!({"nip": nip}))).status, 200);
    assert!(emu.store().person_by_pesel("90010112349").unwrap().is_none());
}
