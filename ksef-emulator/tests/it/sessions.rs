use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_emulator::domain::Identifier;
use rand::Rng as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;

/// Client side of a session: AES key and IV, wrapped with the emulator's published key.
pub(crate) struct Crypto {
    pub(crate) key: [u8; 32],
    pub(crate) iv: [u8; 16],
    pub(crate) wrapped: String,
    pub(crate) public_key_id: String,
}

pub(crate) fn session_crypto(http: &Http) -> Crypto {
    use rsa::pkcs8::DecodePublicKey;
    use x509_cert::der::{Decode, Encode};
    let list = http.get("/security/public-key-certificates", None).json();
    let cert = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["usage"].as_array().unwrap().iter().any(|u| u == "SymmetricKeyEncryption"))
        .unwrap();
    let der = B64.decode(cert["certificate"].as_str().unwrap()).unwrap();
    let x = x509_cert::Certificate::from_der(&der).unwrap();
    let spki = x.tbs_certificate().subject_public_key_info().to_der().unwrap();
    let pk = rsa::PublicKey::from_public_key_der(&spki).unwrap();
    let mut rng = rand::rng();
    let mut key = [0u8; 32];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut key);
    rng.fill_bytes(&mut iv);
    let wrapped = pk.encrypt(&mut rng, rsa::Oaep::<Sha256>::new(), &key).unwrap();
    Crypto { key, iv, wrapped: B64.encode(wrapped), public_key_id: cert["publicKeyId"].as_str().unwrap().to_owned() }
}

pub(crate) fn fa3() -> Value {
    json!({"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"})
}

pub(crate) fn open(http: &Http, token: &str, c: &Crypto, form: Value) -> String {
    let body = json!({"formCode": form, "encryption": {"encryptedSymmetricKey": c.wrapped,
                      "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id}});
    let r = http.post("/sessions/online", Some(token), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["referenceNumber"].as_str().unwrap().to_owned()
}

pub(crate) fn invoice_xml(seller: &str, number: &str) -> Vec<u8> {
    let path = shared_dir().join("fixtures/invoices/invoice-template-fa-3.xml");
    let t = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let today = chrono::Utc::now().date_naive().to_string();
    t.replace("#nip#", seller)
        .replace("#invoice_number#", number)
        .replace("<P_1>2025-09-01</P_1>", &format!("<P_1>{today}</P_1>"))
        .into_bytes()
}

pub(crate) fn send_body(c: &Crypto, plain: &[u8]) -> Value {
    let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&c.key, &c.iv).unwrap().encrypt_padded_vec::<Pkcs7>(plain);
    json!({"invoiceHash": B64.encode(Sha256::digest(plain)), "invoiceSize": plain.len(),
           "encryptedInvoiceHash": B64.encode(Sha256::digest(&ct)), "encryptedInvoiceSize": ct.len(),
           "encryptedInvoiceContent": B64.encode(&ct)})
}

pub(crate) fn send(http: &Http, token: &str, session: &str, c: &Crypto, plain: &[u8]) -> Value {
    let r = http.post(&format!("/sessions/online/{session}/invoices"), Some(token), Some(&send_body(c, plain)));
    assert_eq!(r.status, 202, "{}", r.text());
    let inv = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    wait_invoice(http, token, session, &inv)
}

pub(crate) fn owner_login(emu: &ksef_emulator::Emulator, http: &Http, seed: u32) -> (String, String) {
    let nip = fresh_nip(seed);
    let (access, _, _) = login(emu, http, Identifier::nip(&nip), Identifier::nip(&nip));
    (nip, access)
}

#[test]
fn online_session_end_to_end() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 100);
    let c = session_crypto(&http);
    let session = open(&http, &token, &c, fa3());
    assert_eq!(session.parse::<ksef_model::ReferenceNumber>().unwrap().type_code(), "SO");
    let xml = invoice_xml(&nip, "1/2026");
    let st = send(&http, &token, &session, &c, &xml);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["invoicingMode"], "Online");
    assert_eq!(st["ordinalNumber"], 1);
    assert_eq!(st["invoiceNumber"], "FA/GRQMB-1/2026/05/2025");
    let ksef: ksef_model::KsefNumber = st["ksefNumber"].as_str().unwrap().parse().expect("valid KSeF number (CRC-8)");
    assert_eq!(ksef.seller_nip().as_str(), nip);
    assert_eq!(ksef.date(), chrono::Utc::now().date_naive());
    let inv_ref = st["referenceNumber"].as_str().unwrap();

    // Invoice UPO, by reference and by KSeF number.
    let upo = http.get(&format!("/sessions/{session}/invoices/{inv_ref}/upo"), Some(&token));
    assert_eq!(upo.status, 200, "{}", upo.text());
    assert_eq!(upo.header("x-ms-meta-hash").unwrap(), B64.encode(Sha256::digest(&upo.body)));
    let text = upo.text();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().namespace(), Some(ksef_emulator::upo::NAMESPACE));
    let field =
        |name: &str| doc.descendants().find(|n| n.tag_name().name() == name).and_then(|n| n.text()).unwrap().to_owned();
    assert_eq!(field("NumerKSeFDokumentu"), ksef.as_str());
    assert_eq!(field("NumerReferencyjnySesji"), session);
    assert_eq!(field("NipSprzedawcy"), nip);
    assert_eq!(field("SkrotDokumentu"), B64.encode(Sha256::digest(&xml)));
    assert_eq!(field("NazwaStrukturyLogicznej"), "Schemat_FA(3)_v1-0E.xsd");
    assert_eq!(field("KodFormularza"), "FA (3)");
    assert_eq!(field("TrybWysylki"), "Online");
    assert!(doc.descendants().all(|n| n.tag_name().name() != "OpisPotwierdzenia"));
    let by_ksef = http.get(&format!("/sessions/{session}/invoices/ksef/{ksef}/upo"), Some(&token));
    assert_eq!(by_ksef.body, upo.body);

    // Pre-signed UPO link: no token; a tampered signature is refused.
    let url = st["upoDownloadUrl"].as_str().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(url).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_mut().read_to_vec().unwrap(), upo.body);
    let bad = format!("{url}0");
    assert_eq!(agent.get(&bad).call().unwrap().status(), 403);

    // The stored invoice, byte for byte.
    let got = http.get(&format!("/invoices/ksef/{ksef}"), Some(&token));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.body, xml);
    assert_eq!(got.header("x-ms-meta-hash").unwrap(), B64.encode(Sha256::digest(&xml)));

    // Close: 200 with a session UPO listing the invoice.
    let st = wait_session(&http, &token, &session);
    assert_eq!(st["status"]["code"], 100);
    assert_eq!(http.post(&format!("/sessions/online/{session}/close"), Some(&token), None).status, 204);
    let st = wait_session(&http, &token, &session);
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["successfulInvoiceCount"], 1);
    let page = &st["upo"]["pages"][0];
    let upo_ref = page["referenceNumber"].as_str().unwrap();
    let supo = http.get(&format!("/sessions/{session}/upo/{upo_ref}"), Some(&token));
    assert_eq!(supo.status, 200);
    let text = supo.text();
    assert!(
        text.contains("<Strona>1</Strona>")
            && text.contains("<CalkowitaLiczbaDokumentow>1</CalkowitaLiczbaDokumentow>"),
        "{text}"
    );
    assert!(text.contains(ksef.as_str()));
    let mut r = agent.get(page["downloadUrl"].as_str().unwrap()).call().unwrap();
    assert_eq!(r.body_mut().read_to_vec().unwrap(), supo.body);

    // Closed: no more invoices, no second close.
    let r = http.post(
        &format!("/sessions/online/{session}/invoices"),
        Some(&token),
        Some(&send_body(&c, &invoice_xml(&nip, "2/2026"))),
    );
    assert_eq!(r.exception_codes(), [21180]);
    assert_eq!(http.post(&format!("/sessions/online/{session}/close"), Some(&token), None).exception_codes(), [21180]);
}

#[test]
fn synchronous_send_errors() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 110);
    let c = session_crypto(&http);
    let session = open(&http, &token, &c, fa3());
    let xml = invoice_xml(&nip, "3/2026");
    let path = format!("/sessions/online/{session}/invoices");

    let mut body = send_body(&c, &xml);
    body["encryptedInvoiceHash"] = json!(B64.encode(Sha256::digest(b"other")));
    assert_eq!(http.post(&path, Some(&token), Some(&body)).exception_codes(), [21403]);

    let mut body = send_body(&c, &xml);
    body["encryptedInvoiceSize"] = json!(body["encryptedInvoiceSize"].as_u64().unwrap() + 16);
    assert_eq!(http.post(&path, Some(&token), Some(&body)).exception_codes(), [21402]);

    let mut body = send_body(&c, &xml);
    body["invoiceHash"] = json!("short");
    assert_eq!(http.post(&path, Some(&token), Some(&body)).exception_codes(), [21405]);

    let unknown = "/sessions/online/20250101-SO-0123456789-0123456789-00/invoices";
    assert_eq!(http.post(unknown, Some(&token), Some(&send_body(&c, &xml))).exception_codes(), [21173]);
    assert_eq!(http.get("/sessions/20250101-SO-0123456789-0123456789-00", Some(&token)).exception_codes(), [21173]);

    // Another context cannot see this session.
    let (_, other) = owner_login(&emu, &http, 111);
    assert_eq!(http.get(&format!("/sessions/{session}"), Some(&other)).exception_codes(), [21173]);

    // Open errors: unknown key id, unsupported form code.
    let mut open_body = json!({"formCode": fa3(), "encryption": {"encryptedSymmetricKey": c.wrapped,
                      "initializationVector": B64.encode(c.iv), "publicKeyId": B64.encode([7u8; 32])}});
    assert_eq!(http.post("/sessions/online", Some(&token), Some(&open_body)).exception_codes(), [21470]);
    open_body["encryption"]["publicKeyId"] = json!(c.public_key_id);
    open_body["formCode"] = json!({"systemCode": "FA (9)", "schemaVersion": "1-0E", "value": "FA"});
    assert_eq!(http.post("/sessions/online", Some(&token), Some(&open_body)).exception_codes(), [21405]);
}

#[test]
fn asynchronous_invoice_outcomes() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 120);
    let c = session_crypto(&http);
    let session = open(&http, &token, &c, fa3());

    let first = send(&http, &token, &session, &c, &invoice_xml(&nip, "7/2026"));
    assert_eq!(first["status"]["code"], 200);
    // Same (seller, kind, number) → 440 with the original's numbers.
    let dup = send(&http, &token, &session, &c, &invoice_xml(&nip, "7/2026"));
    assert_eq!(dup["status"]["code"], 440, "{dup}");
    assert_eq!(dup["status"]["extensions"]["originalKsefNumber"], first["ksefNumber"]);
    assert_eq!(dup["status"]["extensions"]["originalSessionReferenceNumber"], session.as_str());
    assert!(dup.get("ksefNumber").is_none());

    // Seller other than the context → 410.
    let st = send(&http, &token, &session, &c, &invoice_xml(&fresh_nip(121), "8/2026"));
    assert_eq!(st["status"]["code"], 410, "{st}");
    // Not XML / wrong namespace / processing instruction / declared hash wrong → 430.
    assert_eq!(send(&http, &token, &session, &c, b"not xml")["status"]["code"], 430);
    let fa2 = String::from_utf8(invoice_xml(&nip, "9/2026")).unwrap().replace("2025/06/25/13775", "2023/06/29/12648");
    assert_eq!(send(&http, &token, &session, &c, fa2.as_bytes())["status"]["code"], 430);
    let pi = String::from_utf8(invoice_xml(&nip, "10/2026")).unwrap().replace("<Naglowek>", "<?pi x?><Naglowek>");
    assert_eq!(send(&http, &token, &session, &c, pi.as_bytes())["status"]["code"], 430);
    let mut body = send_body(&c, &invoice_xml(&nip, "11/2026"));
    body["invoiceHash"] = json!(B64.encode(Sha256::digest(b"x")));
    let r = http.post(&format!("/sessions/online/{session}/invoices"), Some(&token), Some(&body));
    let inv = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let st = wait_invoice(&http, &token, &session, &inv);
    assert_eq!(st["status"]["code"], 430);
    // Encrypted with another key → 435.
    let other = session_crypto(&http);
    assert_eq!(send(&http, &token, &session, &other, &invoice_xml(&nip, "12/2026"))["status"]["code"], 435);

    let failed = http.get(&format!("/sessions/{session}/invoices/failed"), Some(&token)).json();
    assert_eq!(failed["invoices"].as_array().unwrap().len(), 7);
    let all = http.get(&format!("/sessions/{session}/invoices?pageSize=10"), Some(&token)).json();
    assert_eq!(all["invoices"].as_array().unwrap().len(), 8);
    assert!(all.get("continuationToken").is_none());
    let r = http.call(
        "GET",
        &format!("/sessions/{session}/invoices"),
        Some(&token),
        None,
        &[("x-continuation-token", "garbage")],
    );
    assert_eq!(r.exception_codes(), [21418]);
    // A failed invoice has no UPO.
    assert_eq!(http.get(&format!("/sessions/{session}/invoices/{inv}/upo"), Some(&token)).exception_codes(), [21178]);
}

#[test]
fn session_state_machine_and_permissions() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (_, token) = owner_login(&emu, &http, 130);
    let c = session_crypto(&http);
    // Closing without invoices → 440.
    let s = open(&http, &token, &c, fa3());
    assert_eq!(http.post(&format!("/sessions/online/{s}/close"), Some(&token), None).status, 204);
    let st = wait_session(&http, &token, &s);
    assert_eq!(st["status"]["code"], 440);
    assert!(st.get("upo").is_none());

    // A key that does not unwrap → session 415, sending → 21180.
    let mut bad = session_crypto(&http);
    bad.wrapped = B64.encode([1u8; 256]);
    let s = open(&http, &token, &bad, fa3());
    assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 415);
    let r = http.post(&format!("/sessions/online/{s}/invoices"), Some(&token), Some(&send_body(&c, b"<a/>")));
    assert_eq!(r.exception_codes(), [21180]);

    // A subject with only InvoiceRead may not open a session: 403 missing-permissions.
    let ctx = fresh_nip(131);
    let reader = fresh_nip(132);
    let grant = json!({"contextIdentifier": {"type": "Nip", "value": ctx}, "authorizedIdentifier": {"type": "Nip", "value": reader},
                       "permissions": [{"description": "Odczyt faktur", "permissionType": "InvoiceRead"}]});
    assert_eq!(http.post("/testdata/permissions", None, Some(&grant)).status, 200);
    let (rt, _, _) = login(&emu, &http, Identifier::nip(&ctx), Identifier::nip(&reader));
    let body = json!({"formCode": fa3(), "encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv)}});
    let r = http.post("/sessions/online", Some(&rt), Some(&body));
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["reasonCode"], "missing-permissions");
    assert_eq!(v["security"]["presentPermissions"], json!(["InvoiceRead"]));
    assert!(v["security"]["requiredAnyOfPermissions"].as_array().unwrap().iter().any(|p| p == "InvoiceWrite"));

    // Sessions close themselves after 12 h.
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let emu2 = ksef_emulator::Emulator::builder().clock(clock.clone()).start().unwrap();
    let http2 = Http::new(&emu2);
    let (nip, token2) = owner_login(&emu2, &http2, 133);
    let c2 = session_crypto(&http2);
    let s = open(&http2, &token2, &c2, fa3());
    assert_eq!(send(&http2, &token2, &s, &c2, &invoice_xml(&nip, "1/X"))["status"]["code"], 200);
    clock.advance(chrono::Duration::hours(12) + chrono::Duration::seconds(1));
    let (token3, _, _) = login(&emu2, &http2, Identifier::nip(&nip), Identifier::nip(&nip));
    let st = wait_session(&http2, &token3, &s);
    assert_eq!(st["status"]["code"], 200, "{st}");
}

#[test]
fn context_session_limits_apply() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 140);
    let set = json!({"onlineSession": {"maxInvoiceSizeInMB": 0, "maxInvoiceWithAttachmentSizeInMB": 0, "maxInvoices": 1},
                     "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 5},
                     "collectiveIdentifier": {"maxInvoices": 10}});
    assert_eq!(http.post("/testdata/limits/context/session", Some(&token), Some(&set)).status, 200);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    // 0 MB: every invoice is too large → 430.
    let st = send(&http, &token, &s, &c, &invoice_xml(&nip, "L/1"));
    assert_eq!(st["status"]["code"], 430, "{st}");
    let r = http.post(
        &format!("/sessions/online/{s}/invoices"),
        Some(&token),
        Some(&send_body(&c, &invoice_xml(&nip, "L/2"))),
    );
    assert_eq!(r.exception_codes(), [21155]);
    // All invoices failed → 445 on close.
    assert_eq!(http.post(&format!("/sessions/online/{s}/close"), Some(&token), None).status, 204);
    assert_eq!(wait_session(&http, &token, &s)["status"]["code"], 445);
}

#[test]
fn session_list_filters_and_scope() {
    // sessionList allows 5 requests per second per (context, IP): the clock moves on below.
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).start().unwrap();
    let http = Http::new(&emu);
    let (nip, owner) = owner_login(&emu, &http, 150);
    let c = session_crypto(&http);
    let a = open(&http, &owner, &c, fa3());
    let b = open(&http, &owner, &c, fa3());
    assert_eq!(http.post(&format!("/sessions/online/{b}/close"), Some(&owner), None).status, 204);
    assert_eq!(wait_session(&http, &owner, &b)["status"]["code"], 440);
    let list = http.get("/sessions?sessionType=online", Some(&owner)).json();
    let refs: Vec<&str> =
        list["sessions"].as_array().unwrap().iter().map(|s| s["referenceNumber"].as_str().unwrap()).collect();
    assert_eq!(refs.len(), 2);
    assert!(refs.contains(&a.as_str()) && refs.contains(&b.as_str()));
    let cancelled = http.get("/sessions?sessionType=Online&statuses=Cancelled", Some(&owner)).json();
    assert_eq!(cancelled["sessions"][0]["referenceNumber"], b.as_str());
    assert_eq!(cancelled["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(http.get("/sessions?sessionType=Batch", Some(&owner)).json()["sessions"], json!([]));
    assert_eq!(http.get("/sessions", Some(&owner)).exception_codes(), [21405]);
    let r = http.get(
        &format!("/sessions?sessionType=Online&referenceNumber={a}&dateCreatedFrom=2020-01-01T00:00:00"),
        Some(&owner),
    );
    assert_eq!(r.json()["sessions"].as_array().unwrap().len(), 1);

    assert_eq!(http.get("/sessions?sessionType=Online", Some(&owner)).status, 429);
    clock.advance(chrono::Duration::seconds(1));

    // A worker with InvoiceWrite only sees the sessions it opened.
    let worker = fresh_nip(151);
    let grant = json!({"contextIdentifier": {"type": "Nip", "value": nip}, "authorizedIdentifier": {"type": "Nip", "value": worker},
                       "permissions": [{"description": "Wystawianie faktur", "permissionType": "InvoiceWrite"}]});
    assert_eq!(http.post("/testdata/permissions", None, Some(&grant)).status, 200);
    let (wt, _, _) = login(&emu, &http, Identifier::nip(&nip), Identifier::nip(&worker));
    assert_eq!(http.get("/sessions?sessionType=Online", Some(&wt)).json()["sessions"], json!([]));
    let own = open(&http, &wt, &c, fa3());
    let list = http.get("/sessions?sessionType=Online", Some(&wt)).json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(list["sessions"][0]["referenceNumber"], own.as_str());

    // Attachment consent status.
    assert_eq!(http.get("/permissions/attachments/status", Some(&owner)).json()["isAttachmentAllowed"], false);
    assert_eq!(http.post("/testdata/attachment", None, Some(&json!({"nip": nip}))).status, 200);
    assert_eq!(http.get("/permissions/attachments/status", Some(&owner)).json()["isAttachmentAllowed"], true);
    // The worker lacks CredentialsManage/CredentialsRead.
    assert_eq!(http.get("/permissions/attachments/status", Some(&wt)).status, 403);
}

#[test]
fn metadata_query_filters_sorting_and_paging() {
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 160);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let mut numbers = Vec::new();
    for n in 0..3 {
        let st = send(&http, &token, &s, &c, &invoice_xml(&nip, &format!("M/{n}")));
        numbers.push(st["ksefNumber"].as_str().unwrap().to_owned());
        clock.advance(chrono::Duration::seconds(1));
    }
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    // invoiceMetadata allows 8/s and 16/min: move the clock on after each query.
    let query = |body: Value, params: &str| {
        let r = http.post(&format!("/invoices/query/metadata{params}"), Some(&token), Some(&body));
        clock.advance(chrono::Duration::seconds(8));
        r
    };
    let base = json!({"subjectType": "Subject1", "dateRange": {"dateType": "Invoicing", "from": from}});
    let v = query(base.clone(), "").json();
    assert_eq!(v["hasMore"], false);
    assert_eq!(v["isTruncated"], false);
    assert_eq!(v["permanentStorageHwmDate"], Value::Null);
    let got: Vec<&str> = v["invoices"].as_array().unwrap().iter().map(|i| i["ksefNumber"].as_str().unwrap()).collect();
    assert_eq!(got, numbers.iter().map(String::as_str).collect::<Vec<_>>());
    let first = &v["invoices"][0];
    assert_eq!(first["seller"]["nip"], nip.as_str());
    assert_eq!(first["buyer"]["identifier"], json!({"type": "Nip", "value": "1111111111"}));
    assert_eq!(first["grossAmount"], 53.63);
    assert_eq!(first["netAmount"], 43.6);
    assert_eq!(first["currency"], "PLN");
    assert_eq!(first["invoiceType"], "Vat");
    assert_eq!(first["formCode"]["systemCode"], "FA (3)");

    let v = query(base.clone(), "?sortOrder=Desc").json();
    assert_eq!(v["invoices"][0]["ksefNumber"], numbers[2].as_str());
    let mut f = base.clone();
    f["invoiceNumber"] = json!("FA/GRQMB-M/1/05/2025");
    f["amount"] = json!({"type": "Brutto", "from": 50.0, "to": 60.0});
    let v = query(f, "").json();
    assert_eq!(v["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(v["invoices"][0]["ksefNumber"], numbers[1].as_str());
    let mut f = base.clone();
    f["currencyCodes"] = json!(["EUR"]);
    assert_eq!(query(f, "").json()["invoices"], json!([]));
    // The buyer sees them as Subject2; the seller's context sees none as buyer.
    let mut f = base.clone();
    f["subjectType"] = json!("Subject2");
    assert_eq!(query(f, "").json()["invoices"], json!([]));

    let mut f = base.clone();
    f["dateRange"] = json!({"dateType": "PermanentStorage", "from": from, "restrictToPermanentStorageHwmDate": true});
    let v = query(f, "").json();
    assert!(v["permanentStorageHwmDate"].is_string());
    assert_eq!(v["invoices"].as_array().unwrap().len(), 3);
    let mut f = base.clone();
    f["dateRange"] = json!({"dateType": "PermanentStorage", "from": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339(),
                            "to": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(), "restrictToPermanentStorageHwmDate": true});
    assert_eq!(query(f, "").exception_codes(), [21183]);
    let mut f = base.clone();
    f["dateRange"] = json!({"dateType": "Issue", "from": "2025-01-01T00:00:00", "to": "2025-06-01T00:00:00"});
    assert_eq!(query(f, "").exception_codes(), [21405]);
    assert_eq!(query(base, "?pageSize=5").exception_codes(), [21405]);
}

#[test]
fn buyer_sees_invoices_as_subject2() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 170);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let st = send(&http, &token, &s, &c, &invoice_xml(&nip, "B/1"));
    let (buyer, _, _) = login(&emu, &http, Identifier::nip("1111111111"), Identifier::nip("1111111111"));
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let body = json!({"subjectType": "subject2", "dateRange": {"dateType": "issue", "from": from}});
    let v = http.post("/invoices/query/metadata", Some(&buyer), Some(&body)).json();
    assert_eq!(v["invoices"][0]["ksefNumber"], st["ksefNumber"]);
    // The buyer may download it too.
    let ksef = st["ksefNumber"].as_str().unwrap();
    assert_eq!(http.get(&format!("/invoices/ksef/{ksef}"), Some(&buyer)).status, 200);
    // A stranger may not.
    let stranger = fresh_nip(171);
    let (other, _, _) = login(&emu, &http, Identifier::nip(&stranger), Identifier::nip(&stranger));
    assert_eq!(http.get(&format!("/invoices/ksef/{ksef}"), Some(&other)).exception_codes(), [21164]);
}

#[test]
fn injected_faults_are_seeded_and_replayable() {
    let outcomes = |seed: u64| -> Vec<u64> {
        let faults = ksef_emulator::FaultConfig { seed, invoice_cancel_rate: 0.5, auth_cancel_rate: 0.0 };
        let emu = ksef_emulator::Emulator::builder().faults(faults).rate_limits(false).start().unwrap();
        let http = Http::new(&emu);
        let (nip, token) = owner_login(&emu, &http, 180);
        let c = session_crypto(&http);
        let s = open(&http, &token, &c, fa3());
        (0..12)
            .map(|i| {
                send(&http, &token, &s, &c, &invoice_xml(&nip, &format!("F/{i}")))["status"]["code"].as_u64().unwrap()
            })
            .collect()
    };
    let a = outcomes(42);
    assert_eq!(a, outcomes(42), "same seed, same faults");
    assert!(a.contains(&550) && a.contains(&200), "{a:?}");
    // At rate 1 every invoice is cancelled, and its duplicate key stays free for a retry.
    let faults = ksef_emulator::FaultConfig { seed: 1, invoice_cancel_rate: 1.0, auth_cancel_rate: 0.0 };
    let emu = ksef_emulator::Emulator::builder().faults(faults).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 181);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let st = send(&http, &token, &s, &c, &invoice_xml(&nip, "G/1"));
    assert_eq!(st["status"]["code"], 550);
    assert_eq!(st["status"]["description"], "Operacja została anulowana przez system");
    let key = ksef_emulator::store::InvoiceKey {
        seller_nip: nip.clone(),
        invoice_type: "VAT".into(),
        invoice_number: "FA/GRQMB-G/1/05/2025".into(),
    };
    let owner = ksef_emulator::store::InvoiceKeyOwner { ksef_number: "x".into(), session: s.clone() };
    assert_eq!(emu.store().reserve_invoice_key(&key, &owner).unwrap(), None);
}

#[test]
fn third_and_authorized_subjects_see_their_invoices() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 175);
    let (third, authorized, stranger) = (fresh_nip(176), fresh_nip(177), fresh_nip(178));
    let extra = format!(
        "<Podmiot3><DaneIdentyfikacyjne><NIP>{third}</NIP><Nazwa>Faktor S.A.</Nazwa></DaneIdentyfikacyjne>\
         <Rola>1</Rola></Podmiot3>\
         <Podmiot3><DaneIdentyfikacyjne><BrakID>1</BrakID><Nazwa>Odbiorca</Nazwa></DaneIdentyfikacyjne>\
         <RolaInna>1</RolaInna><OpisRoli>Odbiorca towaru</OpisRoli></Podmiot3>\
         <PodmiotUpowazniony><DaneIdentyfikacyjne><NIP>{authorized}</NIP><Nazwa>Przedstawiciel</Nazwa>\
         </DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Prosta 1</AdresL1></Adres>\
         <RolaPU>3</RolaPU></PodmiotUpowazniony><Fa>"
    );
    let xml = String::from_utf8(invoice_xml(&nip, "P3/1")).unwrap().replacen("<Fa>", &extra, 1);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let st = send(&http, &token, &s, &c, xml.as_bytes());
    let ksef = st["ksefNumber"].as_str().unwrap_or_else(|| panic!("{st}")).to_owned();
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let query = |tok: &str, subject: &str| {
        let body = json!({"subjectType": subject, "dateRange": {"dateType": "PermanentStorage", "from": from}});
        let r = http.post("/invoices/query/metadata", Some(tok), Some(&body));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };

    let (tt, _, _) = login(&emu, &http, Identifier::nip(&third), Identifier::nip(&third));
    let v = query(&tt, "Subject3");
    assert_eq!(v["invoices"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["invoices"][0]["ksefNumber"], ksef.as_str());
    assert!(v["permanentStorageHwmDate"].is_string(), "{v}");
    assert_eq!(
        v["invoices"][0]["thirdSubjects"],
        json!([{"identifier": {"type": "Nip", "value": third}, "name": "Faktor S.A.", "role": 1},
               {"identifier": {"type": "None"}, "name": "Odbiorca", "role": 0}])
    );
    assert_eq!(query(&tt, "Subject1")["invoices"], json!([]));
    assert_eq!(query(&tt, "SubjectAuthorized")["invoices"], json!([]));
    assert_eq!(http.get(&format!("/invoices/ksef/{ksef}"), Some(&tt)).status, 200);

    let (at, _, _) = login(&emu, &http, Identifier::nip(&authorized), Identifier::nip(&authorized));
    let v = query(&at, "SubjectAuthorized");
    assert_eq!(v["invoices"][0]["authorizedSubject"], json!({"nip": authorized, "name": "Przedstawiciel", "role": 3}));
    assert_eq!(query(&at, "Subject3")["invoices"], json!([]));
    assert_eq!(http.get(&format!("/invoices/ksef/{ksef}"), Some(&at)).status, 200);
    // The export of the authorized subject holds it too.
    let body = json!({"encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id},
                      "filters": {"subjectType": "SubjectAuthorized", "dateRange": {"dateType": "PermanentStorage", "from": from}}});
    let r = http.post("/invoices/exports", Some(&at), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    let reference = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let e = http.get(&format!("/invoices/exports/{reference}"), Some(&at)).json();
    assert_eq!(e["package"]["invoiceCount"], 1, "{e}");

    // The seller's own view is unchanged; a stranger sees nothing.
    assert_eq!(query(&token, "Subject1")["invoices"][0]["ksefNumber"], ksef.as_str());
    let (ot, _, _) = login(&emu, &http, Identifier::nip(&stranger), Identifier::nip(&stranger));
    assert_eq!(query(&ot, "Subject3")["invoices"], json!([]));
    assert_eq!(http.get(&format!("/invoices/ksef/{ksef}"), Some(&ot)).exception_codes(), [21164]);
}

/// GET of an invoice before its permanent-storage date → 21165. The emulator stores at once, so
/// the clock is set back to a moment before the invoice was stored.
#[test]
fn invoice_before_permanent_storage_is_not_yet_available() {
    let start = chrono::Utc::now();
    let clock = std::sync::Arc::new(ksef_emulator::ManualClock::new(start));
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 179);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let st = send(&http, &token, &s, &c, &invoice_xml(&nip, "PS/1"));
    let ksef = st["ksefNumber"].as_str().unwrap_or_else(|| panic!("{st}")).to_owned();
    clock.set(start - chrono::Duration::seconds(5));
    let r = http.get(&format!("/invoices/ksef/{ksef}"), Some(&token));
    assert_eq!((r.status, r.exception_codes()), (400, vec![21165]));
    clock.set(start + chrono::Duration::seconds(5));
    assert_eq!(http.get(&format!("/invoices/ksef/{ksef}"), Some(&token)).status, 200);
}

/// §13.4 technical corrections: only offline, only of a rejected invoice (21167 otherwise), and
/// only once (21166).
#[test]
fn technical_corrections_of_rejected_offline_invoices() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 181);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let path = format!("/sessions/online/{s}/invoices");
    let send_as = |plain: &[u8], corrected: Option<&str>, offline: bool| {
        let mut body = send_body(&c, plain);
        body["offlineMode"] = json!(offline);
        if let Some(h) = corrected {
            body["hashOfCorrectedInvoice"] = json!(h);
        }
        http.post(&path, Some(&token), Some(&body))
    };
    let status_of = |r: &Resp| {
        assert_eq!(r.status, 202, "{}", r.text());
        let inv = r.json()["referenceNumber"].as_str().unwrap().to_owned();
        wait_invoice(&http, &token, &s, &inv)
    };
    // An offline invoice rejected for a technical reason (not well-formed).
    let good = invoice_xml(&nip, "TC/1");
    let broken = String::from_utf8(good.clone()).unwrap().replacen("</Faktura>", "", 1).into_bytes();
    let st = status_of(&send_as(&broken, None, true));
    assert_ne!(st["status"]["code"], 200, "{st}");
    let broken_hash = B64.encode(Sha256::digest(&broken));

    // The correction must be offline; the hash must name an invoice of this context.
    assert_eq!(send_as(&good, Some(&broken_hash), false).exception_codes(), [21405]);
    let unknown = B64.encode(Sha256::digest(b"nothing"));
    assert_eq!(send_as(&good, Some(&unknown), true).exception_codes(), [21405]);
    // Accepted, linked to the original.
    let st = status_of(&send_as(&good, Some(&broken_hash), true));
    assert_eq!(st["status"]["code"], 200, "{st}");
    let ksef = st["ksefNumber"].as_str().unwrap().to_owned();
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let body = json!({"subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage", "from": from}});
    let v = http.post("/invoices/query/metadata", Some(&token), Some(&body)).json();
    assert_eq!(v["invoices"][0]["ksefNumber"], ksef.as_str());
    assert_eq!(v["invoices"][0]["hashOfCorrectedInvoice"], broken_hash.as_str());
    // A second correction of the same original → 21166.
    let again = invoice_xml(&nip, "TC/2");
    assert_eq!(send_as(&again, Some(&broken_hash), true).exception_codes(), [21166]);
    // An accepted invoice cannot be technically corrected → 21167.
    let good_hash = B64.encode(Sha256::digest(&good));
    assert_eq!(send_as(&again, Some(&good_hash), true).exception_codes(), [21167]);
}
