//! Authorization matrix: every protected operation of `ksef_model::OPERATIONS`, called with
//!
//! * no token (401),
//! * an expired token of the right kind (401),
//! * a token of another context, on a resource of the first context (refused: 401/403, or KSeF's
//!   "not found" 400 codes, which is how KSeF answers for another context's resources),
//! * a token of a subject lacking every permission in `x-required-permissions` (403
//!   `missing-permissions`); operations that require none skip this column.
//!
//! The test counts the cells and asserts 100 % refusal.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ksef_emulator::domain::Identifier;
use ksef_model::{Method, OPERATIONS, OperationSpec};
use serde_json::{Value, json};

use crate::common::*;
use crate::sessions::{Crypto, fa3, invoice_xml, open, send, send_body, session_crypto};

/// A refused request may leave its body unread; the server then closes the connection, so no
/// connection is reused (a reused one could meet that close as an EOF).
const CLOSE: &[(&str, &str)] = &[("Connection", "close")];

/// Resources owned by context A, used to fill path parameters.
struct Resources {
    auth_ref: String,
    open_session: String,
    closed_session: String,
    invoice_ref: String,
    ksef_number: String,
    upo_ref: String,
    batch_session: String,
    token_ref: String,
    export_ref: String,
    permission_id: String,
    permission_op: String,
}

/// The path of `op` with its parameters filled from A's resources; `owned` says whether the
/// path names a resource that belongs to A (only then is the cross-context column meaningful).
fn path_of(op: &OperationSpec, r: &Resources) -> (String, bool) {
    let mut path = op.path.to_owned();
    let mut owned = !op.path_params.is_empty();
    for p in op.path_params {
        let value = match (op.name, p.name) {
            ("revoke_auth_session" | "auth_status", _) => r.auth_ref.clone(),
            ("send_invoice" | "close_online_session", _) => r.open_session.clone(),
            ("close_batch_session", _) => r.batch_session.clone(),
            (_, "referenceNumber") if op.path.starts_with("/sessions/") => r.closed_session.clone(),
            (_, "invoiceReferenceNumber") => r.invoice_ref.clone(),
            (_, "upoReferenceNumber") => r.upo_ref.clone(),
            // A lookup among the caller's own collective identifiers (A created none): not A's resource.
            ("get_collective_identifiers_by_ksef_number", _) => {
                owned = false;
                r.ksef_number.clone()
            }
            (_, "ksefNumber") => r.ksef_number.clone(),
            ("get_token" | "revoke_token", _) => r.token_ref.clone(),
            ("get_invoice_export_status", _) => r.export_ref.clone(),
            ("get_permission_operation_status", _) => r.permission_op.clone(),
            (_, "permissionId") => r.permission_id.clone(),
            // No resource of A was created for these: a well-formed dummy.
            (_, "referenceNumber") => {
                owned = false;
                "20250101-CE-0000000000-0000000000-00".to_owned()
            }
            (_, "certificateSerialNumber" | "serialNumber") => {
                owned = false;
                "0123456789ABCDEF".to_owned()
            }
            (name, param) => panic!("no value for path parameter {param} of {name}"),
        };
        path = path.replace(&format!("{{{}}}", p.name), &value);
    }
    (path, owned)
}

fn method(op: &OperationSpec) -> &'static str {
    match op.method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
    }
}

/// A permission the operation does not accept (any-of); `None` when it needs none.
fn lacking(op: &OperationSpec) -> Option<&'static str> {
    if op.required_permissions.is_empty() {
        return None;
    }
    ["InvoiceRead", "CredentialsRead", "Introspection"].into_iter().find(|p| !op.required_permissions.contains(p))
}

struct Tokens {
    access: String,
    refresh: String,
    operation: String,
}

fn tokens(emu: &ksef_emulator::Emulator, http: &Http, ctx: &str, subject: Identifier) -> Tokens {
    let (access, refresh, _) = login(emu, http, Identifier::nip(ctx), subject.clone());
    let operation = emu.authenticate(Identifier::nip(ctx), subject).expect("auth starts").authentication_token;
    Tokens { access, refresh, operation }
}

fn token_for<'a>(op: &OperationSpec, t: &'a Tokens) -> &'a str {
    match op.name {
        "auth_status" | "auth_token_redeem" => &t.operation,
        "auth_token_refresh" => &t.refresh,
        _ => &t.access,
    }
}

fn body_for(op: &OperationSpec, c: &Crypto, xml: &[u8]) -> Option<Value> {
    match op.name {
        "send_invoice" => Some(send_body(c, xml)),
        _ if op.method == Method::Post || op.method == Method::Put => Some(json!({})),
        _ => None,
    }
}

#[derive(Default)]
struct Tally {
    cells: usize,
    refused: usize,
    skipped_no_permission: usize,
    skipped_not_owned: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, column: &str, op: &OperationSpec, r: &Resp, ok: impl Fn(u16) -> bool) {
        self.cells += 1;
        if ok(r.status) {
            self.refused += 1;
        } else {
            self.failures.push(format!("{column}: {} {} → {} {}", method(op), op.path, r.status, r.text()));
        }
    }
}

#[test]
fn every_protected_operation_refuses_missing_expired_foreign_and_underprivileged_tokens() {
    let clock = Arc::new(ksef_emulator::ManualClock::new(chrono::Utc::now()));
    let emu = ksef_emulator::Emulator::builder().clock(clock.clone()).rate_limits(false).start().expect("starts");
    let http = Http::new(&emu);
    let implemented = ksef_emulator::api::implemented_operations();

    // Context A: owner, resources, and an under-privileged person per spare permission.
    let nip_a = fresh_nip(4242);
    let (owner_a, _, auth_ref) = login(&emu, &http, Identifier::nip(&nip_a), Identifier::nip(&nip_a));
    let c = session_crypto(&http);
    let closed_session = open(&http, &owner_a, &c, fa3());
    let xml = invoice_xml(&nip_a, "AUTHZ/1");
    let st = send(&http, &owner_a, &closed_session, &c, &xml);
    assert_eq!(st["status"]["code"], 200, "{st}");
    let invoice_ref = st["referenceNumber"].as_str().unwrap().to_owned();
    let ksef_number = st["ksefNumber"].as_str().unwrap().to_owned();
    let r = http.post(&format!("/sessions/online/{closed_session}/close"), Some(&owner_a), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let status = wait_session(&http, &owner_a, &closed_session);
    let upo_ref = status["upo"]["pages"][0]["referenceNumber"].as_str().expect("UPO page").to_owned();
    let open_session = open(&http, &owner_a, &c, fa3());
    let part = json!({"ordinalNumber": 1, "fileSize": 16, "fileHash": B64.encode([0u8; 32])});
    let batch = json!({"formCode": fa3(), "batchFile": {"fileSize": 16, "fileHash": B64.encode([0u8; 32]), "fileParts": [part]},
        "encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id}});
    let r = http.post("/sessions/batch", Some(&owner_a), Some(&batch));
    assert_eq!(r.status, 201, "{}", r.text());
    let batch_session = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let r =
        http.post("/tokens", Some(&owner_a), Some(&json!({"permissions": ["InvoiceRead"], "description": "authz"})));
    assert_eq!(r.status, 202, "{}", r.text());
    let token_ref = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let export = json!({"encryption": {"encryptedSymmetricKey": c.wrapped, "initializationVector": B64.encode(c.iv), "publicKeyId": c.public_key_id},
                        "filters": {"subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage", "from": from}}});
    let r = http.post("/invoices/exports", Some(&owner_a), Some(&export));
    assert_eq!(r.status, 201, "{}", r.text());
    let export_ref = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let pesel = "85121612343";
    let grant = json!({"subjectIdentifier": {"type": "Pesel", "value": pesel}, "permissions": ["InvoiceRead"], "description": "authz",
        "subjectDetails": {"subjectDetailsType": "PersonByIdentifier", "personById": {"firstName": "Anna", "lastName": "Nowak"}}});
    let r = http.post("/permissions/persons/grants", Some(&owner_a), Some(&grant));
    assert_eq!(r.status, 202, "{}", r.text());
    let permission_op = r.json()["referenceNumber"].as_str().unwrap().to_owned();
    let permission_id =
        emu.store().grants_of(&Identifier::nip(&nip_a), &Identifier::pesel(pesel)).unwrap()[0].id.clone();
    let res = Resources {
        auth_ref,
        open_session,
        closed_session,
        invoice_ref,
        ksef_number,
        upo_ref,
        batch_session,
        token_ref,
        export_ref,
        permission_id,
        permission_op,
    };

    // Under-privileged subjects of A: one NIP subject per single permission.
    let mut weak = std::collections::BTreeMap::new();
    for (i, p) in ["InvoiceRead", "CredentialsRead", "Introspection"].into_iter().enumerate() {
        let who = fresh_nip(5000 + i as u32);
        let grant = json!({"contextIdentifier": {"type": "Nip", "value": nip_a}, "authorizedIdentifier": {"type": "Nip", "value": who},
                           "permissions": [{"description": "authz", "permissionType": p}]});
        assert_eq!(http.post("/testdata/permissions", None, Some(&grant)).status, 200);
        weak.insert(p, tokens(&emu, &http, &nip_a, Identifier::nip(&who)));
    }
    // Context B: an owner with every owner permission, but of another context.
    let nip_b = fresh_nip(4343);
    let foreign = tokens(&emu, &http, &nip_b, Identifier::nip(&nip_b));
    // Tokens of A's owner that will be expired.
    let stale = tokens(&emu, &http, &nip_a, Identifier::nip(&nip_a));

    let protected: Vec<&OperationSpec> = OPERATIONS.iter().copied().filter(|o| o.bearer).collect();
    let mut not_served = Vec::new();
    let mut t = Tally::default();
    let mut other_codes = Vec::new();
    // Destructive operations last, so they cannot remove what other rows use.
    let mut ordered = protected.clone();
    ordered
        .sort_by_key(|o| (o.method == Method::Delete || o.name.contains("revoke") || o.name.contains("close")) as u8);
    for op in &ordered {
        if !implemented.contains(&op.name) {
            not_served.push(op.name);
            continue;
        }
        let (path, owned) = path_of(op, &res);
        let body = body_for(op, &c, &xml);
        let m = method(op);
        // 1. No token.
        let r = http.call(m, &path, None, body.as_ref(), CLOSE);
        t.check("no token", op, &r, |s| s == 401);
        // 2. A subject lacking the required permissions.
        match lacking(op) {
            Some(p) => {
                let r = http.call(m, &path, Some(token_for(op, &weak[p])), body.as_ref(), CLOSE);
                t.check("lacking permission", op, &r, |s| s == 403);
                if r.status == 403 {
                    assert_eq!(r.json()["reasonCode"], "missing-permissions", "{}", r.text());
                }
            }
            None => t.skipped_no_permission += 1,
        }
        // 3. Another context's token on A's resource.
        if owned {
            let r = http.call(m, &path, Some(token_for(op, &foreign)), body.as_ref(), CLOSE);
            if r.status == 202 && path.starts_with("/permissions/") {
                // Revocations are asynchronous: accepted, then the operation fails in B's context.
                let reference = r.json()["referenceNumber"].as_str().unwrap().to_owned();
                let st = http.call(
                    "GET",
                    &format!("/permissions/operations/{reference}"),
                    Some(&foreign.access),
                    None,
                    CLOSE,
                );
                let code = st.json()["status"]["code"].as_u64();
                let intact = emu.store().grant(&res.permission_id).unwrap().is_some();
                t.check("other context (async)", op, &st, |_| code.is_some_and(|c| c != 200) && intact);
                other_codes.push(format!("{} → 202, operation {code:?}", op.name));
            } else {
                t.check("other context", op, &r, |s| matches!(s, 400 | 401 | 403 | 404));
                let detail = if r.status == 400 { format!(" {:?}", r.exception_codes()) } else { String::new() };
                other_codes.push(format!("{} → {}{detail}", op.name, r.status));
            }
        } else {
            t.skipped_not_owned += 1;
        }
    }
    // A's resources survived B's attempts.
    let st = http.call("GET", &format!("/sessions/{}", res.open_session), Some(&owner_a), None, CLOSE);
    assert_eq!(st.json()["status"]["code"], 100, "{}", st.text());
    let st = http.call("GET", &format!("/tokens/{}", res.token_ref), Some(&owner_a), None, CLOSE);
    assert_ne!(st.json()["status"], "Revoked", "{}", st.text());
    assert!(emu.store().grant(&res.permission_id).unwrap().is_some());
    println!("authz other-context answers: {other_codes:#?}");

    // 4. Expired tokens: every lifetime (access 15 min, operation 45 min, refresh 7 d) is over.
    clock.advance(chrono::Duration::days(8));
    for op in &ordered {
        if !implemented.contains(&op.name) {
            continue;
        }
        let (path, _) = path_of(op, &res);
        let r = http.call(method(op), &path, Some(token_for(op, &stale)), body_for(op, &c, &xml).as_ref(), CLOSE);
        t.check("expired token", op, &r, |s| s == 401);
    }

    println!(
        "authz matrix: {} protected operations ({} served), {} cells, {} refused ({:.1} %); \
         skipped: {} without x-required-permissions, {} without a resource of another context; not served: {:?}",
        protected.len(),
        protected.len() - not_served.len(),
        t.cells,
        t.refused,
        100.0 * t.refused as f64 / t.cells as f64,
        t.skipped_no_permission,
        t.skipped_not_owned,
        not_served,
    );
    assert!(t.failures.is_empty(), "{} cells let through:\n{}", t.failures.len(), t.failures.join("\n"));
    assert_eq!(t.refused, t.cells);
    // 68 protected operations in API 2.9.0: 2 × 68 token cells + 38 permission + 19 cross-context.
    assert!(t.cells >= 190, "the matrix is smaller than expected: {}", t.cells);
}
