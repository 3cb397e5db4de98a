use ksef_emulator::domain::Identifier;
use serde_json::json;

use crate::common::*;
use crate::sessions::{fa3, invoice_xml, open, owner_login, send, session_crypto};

#[test]
fn collective_identifiers_lifecycle() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 1100);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let k: Vec<String> = (0..3)
        .map(|i| {
            send(&http, &token, &s, &c, &invoice_xml(&nip, &format!("Z/{i}")))["ksefNumber"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let body = json!({"invoices": [{"ksefNumber": k[0], "payment": {"amount": 53.63, "currency": "PLN"}, "description": "Rata 1"},
                                   {"ksefNumber": k[1]}]});
    let r = http.post("/collective-identifiers", Some(&token), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    let number = r.json()["collectiveIdentifierNumber"].as_str().unwrap().to_owned();
    let parsed: ksef_model::CollectiveIdentifier = number.parse().expect("valid collective identifier (CRC-8)");
    assert!(parsed.as_str().starts_with(&format!("{nip}-IZ")));

    assert_eq!(
        http.post("/collective-identifiers", Some(&token), Some(&json!({"invoices": [{"ksefNumber": k[2]}]})))
            .exception_codes(),
        [21405]
    );
    let dup = json!({"invoices": [{"ksefNumber": k[2]}, {"ksefNumber": k[2]}]});
    assert_eq!(http.post("/collective-identifiers", Some(&token), Some(&dup)).exception_codes(), [21405]);
    let missing = json!({"invoices": [{"ksefNumber": k[2]}, {"ksefNumber": "5265877635-20250826-0100001AF629-AF"}]});
    assert_eq!(http.post("/collective-identifiers", Some(&token), Some(&missing)).exception_codes(), [21164]);

    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let list = http
        .post(
            "/collective-identifiers/query",
            Some(&token),
            Some(&json!({"dateCreatedFrom": from, "dateCreatedTo": to})),
        )
        .json();
    assert_eq!(list["collectiveIdentifiers"][0]["collectiveIdentifierNumber"], number.as_str());
    assert_eq!(list["collectiveIdentifiers"][0]["invoiceCount"], 2);
    assert_eq!(list["collectiveIdentifiers"][0]["createdInCurrentContext"], true);
    let far = (chrono::Utc::now() - chrono::Duration::days(200)).to_rfc3339();
    assert_eq!(
        http.post(
            "/collective-identifiers/query",
            Some(&token),
            Some(&json!({"dateCreatedFrom": far, "dateCreatedTo": to}))
        )
        .exception_codes(),
        [21405]
    );

    let inv = http
        .post("/collective-identifiers/invoices", Some(&token), Some(&json!({"collectiveIdentifierNumbers": [number]})))
        .json();
    let items = inv["invoices"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let first = items.iter().find(|i| i["ksefNumber"] == k[0].as_str()).unwrap();
    assert_eq!(first["payment"], json!({"amount": 53.63, "currency": "PLN"}));
    assert_eq!(first["detailsHidden"], false);

    // The buyer is a party and sees details; a stranger does not.
    let (buyer, _, _) = login(&emu, &http, Identifier::nip("1111111111"), Identifier::nip("1111111111"));
    let v = http
        .post("/collective-identifiers/invoices", Some(&buyer), Some(&json!({"collectiveIdentifierNumbers": [number]})))
        .json();
    assert!(v["invoices"].as_array().unwrap().iter().any(|i| i["description"] == "Rata 1"));
    let stranger = fresh_nip(1101);
    let (st, _, _) = login(&emu, &http, Identifier::nip(&stranger), Identifier::nip(&stranger));
    let v = http
        .post("/collective-identifiers/invoices", Some(&st), Some(&json!({"collectiveIdentifierNumbers": [number]})))
        .json();
    let hidden = v["invoices"].as_array().unwrap().iter().find(|i| i["ksefNumber"] == k[0].as_str()).unwrap().clone();
    assert_eq!(hidden["detailsHidden"], true);
    assert!(hidden.get("payment").is_none());

    let by = http.get(&format!("/collective-identifiers/ksef/{}", k[1]), Some(&token)).json();
    assert_eq!(by["collectiveIdentifiers"][0]["collectiveIdentifierNumber"], number.as_str());
    assert_eq!(
        http.get(&format!("/collective-identifiers/ksef/{}", k[2]), Some(&token)).json()["collectiveIdentifiers"],
        json!([])
    );
}
