use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::sessions::{Crypto, fa3, invoice_xml, open, owner_login, send, session_crypto};

fn export(http: &Http, token: &str, c: &Crypto, extra: Value) -> String {
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let mut body = json!({"encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id},
                          "filters": {"subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage", "from": from}}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = http.post("/invoices/exports", Some(token), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["referenceNumber"].as_str().unwrap().to_owned()
}

fn download(c: &Crypto, package: &Value) -> Vec<u8> {
    use aes::cipher::block_padding::Pkcs7;
    use aes::cipher::{BlockModeDecrypt, KeyIvInit};
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut archive = Vec::new();
    for p in package["parts"].as_array().unwrap() {
        let mut r = agent.get(p["url"].as_str().unwrap()).call().unwrap();
        assert_eq!(r.status(), 200);
        let hash = r.headers().get("x-ms-meta-hash").unwrap().to_str().unwrap().to_owned();
        let enc = r.body_mut().read_to_vec().unwrap();
        assert_eq!(hash, B64.encode(Sha256::digest(&enc)));
        assert_eq!(p["encryptedPartHash"].as_str().unwrap(), hash);
        let plain = cbc::Decryptor::<aes::Aes256>::new_from_slices(&c.key, &c.iv)
            .unwrap()
            .decrypt_padded_vec::<Pkcs7>(&enc)
            .unwrap();
        assert_eq!(p["partHash"].as_str().unwrap(), B64.encode(Sha256::digest(&plain)));
        archive.extend(plain);
    }
    archive
}

#[test]
fn export_package_round_trip() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 800);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let x1 = invoice_xml(&nip, "X/1");
    let x2 = invoice_xml(&nip, "X/2");
    let k1 = send(&http, &token, &s, &c, &x1)["ksefNumber"].as_str().unwrap().to_owned();
    let k2 = send(&http, &token, &s, &c, &x2)["ksefNumber"].as_str().unwrap().to_owned();

    let client = session_crypto(&http);
    let reference = export(&http, &token, &client, json!({}));
    let st = http.get(&format!("/invoices/exports/{reference}"), Some(&token)).json();
    assert_eq!(st["status"]["code"], 200, "{st}");
    let package = &st["package"];
    assert_eq!(package["invoiceCount"], 2);
    assert_eq!(package["isTruncated"], false);
    assert_eq!(package["compressionType"], "Zip");
    assert!(package["permanentStorageHwmDate"].is_string());
    assert!(package["parts"][0]["partName"].as_str().unwrap().ends_with("-001.zip.aes"));
    let archive = download(&client, package);
    assert_eq!(package["size"].as_u64().unwrap() as usize, archive.len());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut read = |name: &str| {
        let mut buf = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut buf).unwrap();
        buf
    };
    assert_eq!(read(&format!("{k1}.xml")), x1);
    assert_eq!(read(&format!("{k2}.xml")), x2);
    let meta: Value = serde_json::from_slice(&read("_metadata.json")).unwrap();
    assert_eq!(meta["invoices"].as_array().unwrap().len(), 2);
    assert_eq!(meta["invoices"][0]["ksefNumber"], k1.as_str());

    // Only metadata, tar.gz.
    let reference = export(&http, &token, &client, json!({"onlyMetadata": true, "compressionType": "TarGz"}));
    let st = http.get(&format!("/invoices/exports/{reference}"), Some(&token)).json();
    assert_eq!(st["package"]["compressionType"], "TarGz");
    let archive = download(&client, &st["package"]);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
    let names: Vec<String> =
        tar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["_metadata.json"]);

    // A key that does not unwrap → 415; unknown export → 21175.
    let mut bad = session_crypto(&http);
    bad.wrapped = B64.encode([3u8; 256]);
    let reference = export(&http, &token, &bad, json!({}));
    assert_eq!(http.get(&format!("/invoices/exports/{reference}"), Some(&token)).json()["status"]["code"], 415);
    assert_eq!(
        http.get("/invoices/exports/20250101-EH-0123456789-0123456789-00", Some(&token)).exception_codes(),
        [21175]
    );
}

/// At most 10 exports in progress per authenticated subject in a context → 21182. The emulator
/// builds packages before it answers, so in-progress exports are put into the store directly.
#[test]
fn concurrent_export_limit_is_21182() {
    let emu = emulator();
    let http = Http::new(&emu);
    let (_, token) = owner_login(&emu, &http, 810);
    let c = session_crypto(&http);
    let first = export(&http, &token, &c, json!({}));
    let done = emu.store().export(&first).unwrap().unwrap();
    assert_eq!(done.status.code, 200);
    for i in 0..10 {
        let mut running = done.clone();
        running.reference = format!("{first}-{i}");
        running.status = ksef_emulator::domain::StatusInfo::new(100, "Eksport faktur w toku");
        emu.store().put_export(running).unwrap();
    }
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let body = json!({"encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id},
                      "filters": {"subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage", "from": from}}});
    let r = http.post("/invoices/exports", Some(&token), Some(&body));
    assert_eq!((r.status, r.exception_codes()), (400, vec![21182]), "{}", r.text());
    // Another subject in the same context is not counted against this one.
    let nip = done.context.value.clone();
    let pesel = "85121612343";
    let grant = json!({"subjectIdentifier": {"type": "Pesel", "value": pesel}, "permissions": ["InvoiceRead"],
                       "description": "Księgowa", "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                       "personById": {"firstName": "Anna", "lastName": "Nowak"}}});
    assert_eq!(http.post("/permissions/persons/grants", Some(&token), Some(&grant)).status, 202);
    let (person, _, _) = login(
        &emu,
        &http,
        ksef_emulator::domain::Identifier::nip(&nip),
        ksef_emulator::domain::Identifier::pesel(pesel),
    );
    assert_eq!(http.post("/invoices/exports", Some(&person), Some(&body)).status, 201);
    // One finishes: the subject may start another.
    let mut finished = emu.store().export(&format!("{first}-0")).unwrap().unwrap();
    finished.status = ksef_emulator::domain::StatusInfo::new(200, "Eksport faktur zakończony sukcesem");
    emu.store().put_export(finished).unwrap();
    assert_eq!(http.post("/invoices/exports", Some(&token), Some(&body)).status, 201);
}
