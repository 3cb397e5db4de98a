//! The receive and manage commands (`invoices query|export`, `permissions`, `tokens`, `certs`,
//! `limits`, `testdata`) and every other command family, each in human and JSON output, against
//! an emulator on loopback. Stable stdout is snapshotted with insta; NIPs, PESELs, dates, times,
//! reference and KSeF numbers, ids, serials and paths are redacted.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::crash_process::invoice;

const SELLER: &str = "5265877635";

/// Redactions for snapshots: the most specific patterns first.
const FILTERS: &[(&str, &str)] = &[
    (r"\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}", "[KSEF_NUMBER]"),
    (r"\d{8}-[A-Z]{2}-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}", "[REFERENCE]"),
    (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[ID]"),
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", "[TIME]"),
    (r"\d{4}-\d{2}-\d{2}", "[DATE]"),
    (r"\b\d{2}-\d{2}-\d{4}\b", "[DATE]"),
    (r"/[A-Za-z0-9_-]{43}\b", "/[HASH]"),
    (r"QS/\d{14}/", "QS/[STAMP]/"),
    (r"\b\d{11}\b", "[PESEL]"),
    (r"\b\d{10}\b", "[NIP]"),
    (r"\b[0-9A-F]{16}\b", "[SERIAL]"),
    (r#""invoiceHash": "[^"]+""#, r#""invoiceHash": "[HASH]""#),
    (r"https?://127\.0\.0\.1:\d+", "[URL]"),
    (r"/tmp/[^\s\x22]+", "[PATH]"),
];

fn snap(name: &str, text: &str) {
    let text = canonical_json(text).unwrap_or_else(|| text.to_owned());
    insta::with_settings!({ filters => FILTERS.to_vec(), prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

/// JSON text with every object's keys sorted: serde_json keeps insertion order when another
/// workspace member enables its `preserve_order` feature (cargo unifies features in a
/// workspace-wide build) and sorts keys otherwise, so the snapshot must not depend on either.
fn canonical_json(text: &str) -> Option<String> {
    fn sorted(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    if !text.trim_start().starts_with(['{', '[']) {
        return None;
    }
    let v: Value = serde_json::from_str(text).ok()?;
    serde_json::to_string_pretty(&sorted(v)).ok()
}

/// A KSeF (an in-process emulator on loopback), a state dir with a logged-in seller.
struct Env {
    _emu: ksef_emulator::Emulator,
    url: String,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let emu = ksef_emulator::Emulator::builder().start().unwrap();
        let env = Self { url: emu.base_url(), _emu: emu, dir: tempfile::tempdir().unwrap() };
        env.ok(&["testdata", "subject", "create", "--nip", SELLER]);
        env.ok(&["identity", "new", "--nip", SELLER, "--seal", "--ec"]);
        env.ok(&["auth", "login", "--nip", SELLER]);
        env
    }

    /// A snapshot with this environment's temporary directory shown as `[DIR]`.
    fn snap(&self, name: &str, text: &str) {
        snap(name, &text.replace(s(self.dir.path()), "[DIR]"));
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = super::ksef(&self.state());
        c.args(["--env", &self.url]).args(args);
        c
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).assert().success().get_output().clone();
        String::from_utf8(out.stdout).unwrap()
    }

    /// The same in JSON mode, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
    }

    /// Runs a command that must fail with `code`; its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.cmd(args).assert().code(code).get_output().clone();
        String::from_utf8(out.stderr).unwrap()
    }

    /// Writes `n` distinct sample invoices of the seller and sends them; their directory.
    fn send_invoices(&self, n: usize) -> PathBuf {
        let dir = self.dir.path().join("invoices");
        let today = chrono::Utc::now().date_naive();
        for i in 1..=n {
            let xml = invoice::sample_fa3(SELLER, &format!("FV/{i}/TEST"), today);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("fv-{i}.xml")), xml).unwrap();
        }
        self.ok(&["send", dir.to_str().unwrap()]);
        dir
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn invoices_query_filters_paging_and_export_in_both_modes() {
    let env = Env::new();
    env.send_invoices(12);
    // Human: one line per invoice, then the count; sorted by the range's date.
    let human = env.ok(&["invoices", "query", "--subject", "seller", "--page-size", "10"]);
    assert_eq!(human.lines().filter(|l| l.contains("FV/")).count(), 10, "{human}");
    assert!(human.contains("more pages: pass --page 1 or --all"), "{human}");
    let all = env.json(&["invoices", "query", "--subject", "seller", "--page-size", "10", "--all"]);
    assert_eq!(all["count"], 12);
    assert_eq!(all["has_more"], false);
    let second = env.json(&["invoices", "query", "--subject", "seller", "--page-size", "10", "--page", "1"]);
    assert_eq!(second["count"], 2);
    // Filters reach KSeF: amounts, invoice number, seller NIP, buyer, currency, form type.
    let one = env.json(&["invoices", "query", "--subject", "seller", "--invoice-number", "FV/7/TEST"]);
    assert_eq!(one["count"], 1, "{one}");
    assert_eq!(one["invoices"][0]["invoiceNumber"], "FV/7/TEST");
    let k = one["invoices"][0]["ksefNumber"].as_str().unwrap().to_string();
    let by_ksef = env.json(&["invoices", "query", "--subject", "seller", "--ksef-number", &k]);
    assert_eq!(by_ksef["count"], 1);
    let none = env.json(&["invoices", "query", "--subject", "seller", "--amount-from", "1000"]);
    assert_eq!(none["count"], 0);
    let gross =
        env.json(&["invoices", "query", "--subject", "seller", "--amount-from", "100", "--amount-to", "130", "--all"]);
    assert_eq!(gross["count"], 12);
    let filtered = env.json(&[
        "invoices",
        "query",
        "--subject",
        "seller",
        "--seller-nip",
        SELLER,
        "--buyer-nip",
        "1111111111",
        "--currency",
        "PLN",
        "--form-type",
        "FA",
        "--date-type",
        "invoicing",
        "--sort",
        "desc",
        "--all",
    ]);
    assert_eq!(filtered["count"], 12);
    let euro = env.json(&["invoices", "query", "--subject", "seller", "--currency", "EUR"]);
    assert_eq!(euro["count"], 0);
    let bought = env.json(&["invoices", "query", "--subject", "buyer"]);
    assert_eq!(bought["count"], 0, "the seller bought nothing");
    snap(
        "invoices_query_one_human",
        &env.ok(&["invoices", "query", "--subject", "seller", "--invoice-number", "FV/7/TEST"]),
    );
    let mut one_json = one.clone();
    one_json["permanent_storage_hwm_date"] = Value::Null;
    snap("invoices_query_one_json", &serde_json::to_string_pretty(&one_json).unwrap());
    // Bad filters are usage errors naming the flag.
    assert!(env.fails(2, &["invoices", "query", "--seller-nip", "123"]).contains("--seller-nip"));
    assert!(env.fails(2, &["invoices", "query", "--currency", "XXX1"]).contains("--currency"));
    assert!(env.fails(2, &["invoices", "query", "--from", "yesterday"]).contains("--from"));
    assert!(env.fails(2, &["invoices", "query", "--page-size", "5"]).contains("10..=250"));
    assert!(env.fails(2, &["invoices", "query", "--from", "2026-02-02", "--to", "2026-02-01"]).contains("before"));

    // Export: XML per invoice and _metadata.json, in both modes.
    let out = env.dir.path().join("export");
    let human = env.ok(&["invoices", "export", "--subject", "seller", "--dir", s(&out)]);
    assert!(human.contains("12 invoice(s)"), "{human}");
    let xmls: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    assert_eq!(xmls.len(), 12);
    let meta: Value = serde_json::from_slice(&std::fs::read(out.join("_metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["invoices"].as_array().unwrap().len(), 12);
    let sample = std::fs::read_to_string(out.join(format!("{k}.xml"))).unwrap();
    assert!(sample.contains("FV/7/TEST"));
    let out2 = env.dir.path().join("export2");
    let v =
        env.json(&["invoices", "export", "--subject", "seller", "--invoice-number", "FV/7/TEST", "--dir", s(&out2)]);
    assert_eq!(v["invoices"], 1);
    assert_eq!(v["is_truncated"], false);
    // `invoices get` returns the same XML (stdout in either mode).
    assert_eq!(env.ok(&["invoices", "get", &k]), sample);
    assert_eq!(env.ok(&["--output", "json", "invoices", "get", &k]), sample);
}

#[test]
fn tokens_generate_list_get_revoke_show_the_secret_only_once() {
    let env = Env::new();
    let generated =
        env.json(&["tokens", "generate", "--description", "Token for tests", "--permission", "InvoiceRead"]);
    let secret = generated["token"].as_str().unwrap().to_string();
    let reference = generated["reference_number"].as_str().unwrap().to_string();
    let human_gen = env.ok(&["tokens", "new", "--description", "Second token", "--permission", "InvoiceWrite"]);
    assert!(human_gen.contains("token:"), "{human_gen}");
    let list_h = env.ok(&["tokens", "list", "--description", "Token for"]);
    let list_j = env.json(&["tokens", "list", "--all", "--page-size", "10"]);
    let get_h = env.ok(&["tokens", "get", &reference]);
    let get_j = env.json(&["tokens", "get", &reference]);
    for text in [list_h.clone(), list_j.to_string(), get_h.clone(), get_j.to_string()] {
        assert!(!text.contains(&secret), "the secret is shown only by generate: {text}");
    }
    assert_eq!(list_j["count"], 2);
    snap("tokens_list_human", &list_h);
    snap("tokens_get_json", &serde_json::to_string_pretty(&get_j).unwrap());
    assert_eq!(env.json(&["tokens", "list", "--status", "Active"])["count"], 2);
    let mine = env.json(&["tokens", "list", "--author", SELLER, "--author-type", "Nip"]);
    assert_eq!(mine["count"], 2, "{mine}");
    let others = env.json(&["tokens", "list", "--author", "1111111111", "--author-type", "Nip"]);
    assert_eq!(others["count"], 0, "{others}");
    assert_eq!(env.json(&["tokens", "list", "--description", "Second"])["count"], 1);
    assert!(env.ok(&["tokens", "revoke", &reference]).contains("revoked"));
    let revoked = env.json(&["tokens", "list", "--status", "Revoked", "--status", "Revoking"]);
    assert_eq!(revoked["count"], 1, "{revoked}");
    assert!(env.fails(2, &["tokens", "list", "--status", "Bogus"]).contains("Pending, Active"));
    assert!(env.fails(2, &["tokens", "get", "not-a-reference"]).contains("reference number"));
    assert!(env.fails(2, &["tokens", "list", "--page-size", "1000"]).contains("10..=100"));
}

#[test]
fn permissions_grant_every_kind_list_and_revoke() {
    let env = Env::new();
    let pesel = "90010112349";
    let granted = env.ok(&[
        "permissions",
        "grant",
        "person",
        "--to-pesel",
        pesel,
        "--first-name",
        "Anna",
        "--last-name",
        "Nowak",
        "--permission",
        "InvoiceRead",
        "--permission",
        "InvoiceWrite",
        "--description",
        "Ksiegowa w firmie",
    ]);
    assert!(granted.starts_with("granted (person); operation "), "{granted}");
    let v = env.json(&[
        "permissions",
        "grant",
        "entity",
        "--to-nip",
        "1111111111",
        "--name",
        "Biuro Rachunkowe",
        "--permission",
        "InvoiceRead:delegable",
        "--description",
        "Biuro rachunkowe",
    ]);
    assert_eq!(v["kind"], "entity");
    env.json(&[
        "permissions",
        "grant",
        "authorization",
        "--to-nip",
        "1111111111",
        "--name",
        "Biuro Rachunkowe",
        "--permission",
        "SelfInvoicing",
        "--description",
        "Samofakturowanie",
    ]);
    env.json(&[
        "permissions",
        "grant",
        "subunit",
        "--to-pesel",
        pesel,
        "--first-name",
        "Anna",
        "--last-name",
        "Nowak",
        "--subunit-internal-id",
        ksef_model::InternalId::new(&SELLER.parse().unwrap(), 1).unwrap().as_str(),
        "--subunit-name",
        "Oddzial Krakow",
        "--description",
        "Administrator oddzialu",
    ]);
    // KSeF's order is not part of the contract: sorted for the snapshots.
    let persons_h = env.ok(&["permissions", "list", "persons"]);
    let mut lines: Vec<&str> = persons_h.lines().collect();
    lines.sort_by_key(|l| l.split_whitespace().nth(1).map(str::to_owned));
    snap("permissions_list_persons_human", &lines.join("\n"));
    let persons = env.json(&["permissions", "list", "persons", "--state", "active"]);
    let mut sorted = persons.clone();
    sorted["permissions"].as_array_mut().unwrap().sort_by_key(|p| p["permissionScope"].to_string());
    snap("permissions_list_persons_json", &serde_json::to_string_pretty(&sorted).unwrap());
    assert_eq!(persons["count"], 2);
    let auths = env.json(&["permissions", "list", "authorizations"]);
    assert_eq!(auths["count"], 1, "{auths}");
    assert_eq!(env.json(&["permissions", "list", "subunits"])["count"], 1);
    let personal = env.json(&["permissions", "list", "personal"]);
    assert!(personal["ownerPermissions"].as_array().unwrap().iter().any(|p| p == "CredentialsManage"), "{personal}");
    snap("permissions_list_personal_human", &env.ok(&["permissions", "list", "personal"]));
    for what in
        ["persons-granted", "entities", "entity-roles", "subordinate-roles", "authorizations-received", "eu-entities"]
    {
        env.ok(&["permissions", "list", what, "--all"]);
    }
    // Revocations, common and authorization.
    let id = persons["permissions"][0]["id"].as_str().unwrap();
    assert!(env.ok(&["permissions", "revoke", id]).contains("revoked"));
    assert_eq!(env.json(&["permissions", "list", "persons"])["count"], 1);
    let auth_id = auths["permissions"][0]["id"].as_str().unwrap();
    assert_eq!(env.json(&["permissions", "revoke", "--authorization", auth_id])["status"], "revoked");
    assert_eq!(env.json(&["permissions", "list", "authorizations"])["count"], 0);
    env.json(&[
        "permissions",
        "grant",
        "indirect",
        "--to-pesel",
        pesel,
        "--first-name",
        "Anna",
        "--last-name",
        "Nowak",
        "--all-clients",
        "--permission",
        "InvoiceRead",
        "--description",
        "Posrednik dla klientow",
    ]);
    let fp = "a".repeat(64);
    let eu_context = format!("{SELLER}-DE123456789");
    env.ok(&[
        "permissions",
        "grant",
        "eu-admin",
        "--fingerprint",
        &fp,
        "--subject-name",
        "EU GmbH",
        "--subject-address",
        "Berlin 1",
        "--eu-context",
        &eu_context,
        "--eu-entity-name",
        "EU GmbH",
        "--eu-entity-address",
        "Berlin 1",
        "--description",
        "Administrator UE",
    ]);
    let eu = env.json(&["permissions", "list", "eu-entities", "--all"]);
    assert!(eu["count"].as_u64().unwrap() >= 1, "{eu}");
    assert!(
        env.ok(&["permissions", "list", "eu-entities"]).to_uppercase().contains(&fp.to_uppercase()),
        "the fingerprint is shown"
    );
    // A 403 names the permission the operation needs.
    let e = env.fails(
        1,
        &[
            "permissions",
            "grant",
            "eu-representative",
            "--fingerprint",
            &fp,
            "--subject-name",
            "EU Rep",
            "--subject-address",
            "Paris 2",
            "--permission",
            "InvoiceRead",
            "--description",
            "Przedstawiciel UE",
        ],
    );
    assert!(e.contains("403") && e.contains("needs one of these permissions") && e.contains("VatUeManage"), "{e}");
    // Validation by ksef-permissions, shown with the field (exit 2, nothing sent).
    let e = env.fails(
        2,
        &[
            "permissions",
            "grant",
            "person",
            "--to-nip",
            "1111111111",
            "--first-name",
            "A",
            "--last-name",
            "Nowak",
            "--permission",
            "InvoiceRead",
            "--description",
            "abc",
        ],
    );
    assert!(e.contains("invalid request (description)") && e.contains("5..=256"), "{e}");
    let e = env.fails(
        2,
        &[
            "permissions",
            "grant",
            "person",
            "--to-pesel",
            "90010112346",
            "--first-name",
            "Anna",
            "--last-name",
            "Nowak",
            "--permission",
            "InvoiceRead",
            "--description",
            "Ksiegowa",
        ],
    );
    assert!(e.contains("PESEL"), "{e}");
    let e = env.fails(
        2,
        &[
            "permissions",
            "grant",
            "person",
            "--to-nip",
            "1111111111",
            "--first-name",
            "Anna",
            "--last-name",
            "Nowak",
            "--permission",
            "Everything",
            "--description",
            "Ksiegowa",
        ],
    );
    assert!(e.contains("CredentialsManage"), "{e}");
    let e = env.fails(
        2,
        &[
            "permissions",
            "grant",
            "indirect",
            "--to-nip",
            "1111111111",
            "--first-name",
            "Anna",
            "--last-name",
            "Nowak",
            "--all-clients",
            "--permission",
            "InvoiceRead",
            "--permission",
            "InvoiceRead",
            "--description",
            "Ksiegowa",
        ],
    );
    assert!(e.contains("twice"), "{e}");
    assert!(env.fails(2, &["permissions", "list", "persons", "--page-size", "500"]).contains("pageSize"));
}

#[test]
fn certs_enroll_writes_key_0600_and_the_certificate_logs_in() {
    let env = Env::new();
    snap("certs_limits_human", &env.ok(&["certs", "limits"]));
    let limits = env.json(&["certs", "limits"]);
    assert_eq!(limits["canRequest"], true);
    let cert = env.dir.path().join("my.pem");
    let v = env.json(&["certs", "enroll", "--name", "Moj certyfikat", "--ec", "--out", s(&cert)]);
    let key = PathBuf::from(v["key"].as_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(&cert).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    // The issued certificate authenticates (KSeF's CA), with the key made locally.
    env.ok(&["auth", "login", "--cert", s(&cert), "--key", s(&key), "--nip", SELLER]);
    // Enrolling with an existing key (RSA) and human output.
    let cert2 = env.dir.path().join("second.pem");
    let human =
        env.ok(&["certs", "enroll", "--name", "Drugi", "--type", "offline", "--use-key", s(&key), "--out", s(&cert2)]);
    assert!(human.contains("issued") && !human.contains("private key"), "{human}");
    let list = env.json(&["certs", "list", "--all"]);
    assert_eq!(list["count"], 2, "{list}");
    snap("certs_list_human", &env.ok(&["certs", "list", "--type", "authentication"]));
    let serial = v["serial_number"].as_str().unwrap();
    let got = env.json(&["certs", "get", serial]);
    assert_eq!(got["certificates"][0]["pem"].as_str().unwrap(), std::fs::read_to_string(&cert).unwrap());
    assert!(env.ok(&["certs", "get", serial]).contains("-----BEGIN CERTIFICATE-----"));
    assert!(env.ok(&["certs", "revoke", serial, "--reason", "KeyCompromise"]).contains("revoked"));
    assert_eq!(env.json(&["certs", "list", "--status", "Revoked"])["count"], 1);
    assert!(env.fails(2, &["certs", "revoke", serial, "--reason", "Boredom"]).contains("KeyCompromise"));
}

#[test]
fn limits_and_testdata_limits_in_both_modes() {
    let env = Env::new();
    snap("limits_human", &env.ok(&["limits"]));
    let v = env.json(&["limits"]);
    assert!(v["rate_limits"]["invoiceSend"]["perSecond"].is_number(), "{v}");
    env.ok(&["testdata", "limits", "session", "set", "--online-max-invoices", "7"]);
    let after = env.json(&["limits"]);
    assert_eq!(after["context"]["onlineSession"]["maxInvoices"], 7);
    assert_eq!(after["context"]["batchSession"], v["context"]["batchSession"], "the others are kept");
    env.json(&["testdata", "limits", "session", "reset"]);
    assert_eq!(env.json(&["limits"])["context"], v["context"]);
    env.ok(&["testdata", "limits", "certificates", "set", "--max-enrollments", "3", "--max-certificates", "2"]);
    let certs = env.json(&["certs", "limits"]);
    assert_eq!(certs["certificate"]["limit"], 2, "{certs}");
    env.ok(&["testdata", "limits", "certificates", "reset"]);
    env.ok(&["testdata", "limits", "rate-limits", "production"]);
    let set = ["testdata", "limits", "rate-limits", "set", "--group", "other", "--per-second", "50"];
    env.ok(&[&set[..], &["--per-minute", "500", "--per-hour", "5000"]].concat());
    let rl = env.json(&["limits"]);
    assert_eq!(rl["rate_limits"]["other"]["perSecond"], 50, "{rl}");
    assert_eq!(rl["rate_limits"]["other"]["perHour"], 5000, "{rl}");
    env.json(&["testdata", "limits", "rate-limits", "reset"]);
    assert!(
        env.fails(
            2,
            &[
                "testdata",
                "limits",
                "rate-limits",
                "set",
                "--group",
                "nope",
                "--per-second",
                "1",
                "--per-minute",
                "1",
                "--per-hour",
                "1"
            ]
        )
        .contains("invoiceSend")
    );
}

#[test]
fn testdata_commands_and_refusal_on_prod_and_demo() {
    let env = Env::new();
    let nip = "1111111111";
    snap(
        "testdata_subject_create_human",
        &env.ok(&["testdata", "subject", "create", "--nip", nip, "--type", "vat-group"]),
    );
    snap(
        "testdata_person_create_json",
        &serde_json::to_string_pretty(&env.json(&[
            "testdata",
            "person",
            "create",
            "--nip",
            "7010002139",
            "--pesel",
            "90010112349",
            "--bailiff",
        ]))
        .unwrap(),
    );
    env.ok(&[
        "testdata",
        "permissions",
        "grant",
        "--context-nip",
        nip,
        "--to-pesel",
        "90010112349",
        "--permission",
        "InvoiceRead",
    ]);
    env.json(&["testdata", "permissions", "revoke", "--context-nip", nip, "--to-pesel", "90010112349"]);
    env.ok(&["testdata", "attachment", "enable", "--nip", SELLER]);
    env.json(&["testdata", "attachment", "disable", "--nip", SELLER]);
    // A blocked context cannot log in (exit 4) until unblocked.
    env.ok(&["testdata", "context", "block", "--nip", SELLER]);
    env.fails(4, &["auth", "login", "--nip", SELLER]);
    env.json(&["testdata", "context", "unblock", "--nip", SELLER]);
    env.ok(&["auth", "login", "--nip", SELLER]);
    env.ok(&["testdata", "person", "remove", "--nip", "7010002139"]);
    env.json(&["testdata", "subject", "remove", "--nip", nip]);
    // Bad input is a usage error before anything is sent.
    assert!(env.fails(2, &["testdata", "subject", "create", "--nip", "1234"]).contains("invalid request"));
    assert!(
        env.fails(
            2,
            &["testdata", "permissions", "grant", "--context-nip", nip, "--to-nip", nip, "--permission", "All"]
        )
        .contains("InvoiceRead")
    );
    // Refused on prod and demo, without contacting them.
    for e in ["prod", "demo"] {
        let err = super::ksef(&env.state())
            .args(["--env", e, "testdata", "subject", "create", "--nip", nip])
            .assert()
            .code(6);
        let err = String::from_utf8(err.get_output().stderr.clone()).unwrap();
        assert!(err.contains("only on KSeF TE and the emulator"), "{err}");
        super::ksef(&env.state()).args(["--env", e, "testdata", "limits", "session", "reset"]).assert().code(6);
    }
}

#[test]
fn rejected_invoice_shows_code_description_and_details() {
    let env = Env::new();
    let dir = env.dir.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    // Issued tomorrow: KSeF rejects with 450 and names P_1 in the details.
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    std::fs::write(dir.join("future.xml"), invoice::sample_fa3(SELLER, "FV/FUTURE", tomorrow)).unwrap();
    // Malformed XML: 430, and the detail names the line and column.
    let today = chrono::Utc::now().date_naive();
    let broken = invoice::sample_fa3(SELLER, "FV/BROKEN", today).replace("<P_2>", "<Oops><P_2>");
    std::fs::write(dir.join("malformed.xml"), broken).unwrap();
    let out = env.cmd(&["send", s(&dir)]).assert().code(3).get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("450") && out.contains("P_1"), "{out}");
    let position = regex_lite_position(&out);
    assert!(out.contains("430") && position, "line:column of the XML error: {out}");
    // Code and description on the file's line, then each detail KSeF gave on its own line.
    assert!(out.contains("rejected: 430 ") && out.contains("rejected: 450 "), "{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("- ") && l.contains("P_1")), "{out}");
    let rows = env.json(&["status"]);
    let future = rows.as_array().unwrap().iter().find(|r| r["path"].as_str().unwrap().ends_with("future.xml")).unwrap();
    assert_eq!(future["error_code"], 450, "{rows}");
    assert!(future["error_details"].as_str().unwrap().contains("P_1"), "{rows}");
}

#[test]
fn other_families_in_both_modes() {
    let env = Env::new();
    let dir = env.send_invoices(2);
    // identity
    let id = env.json(&["identity", "new", "--nip", "1111111111", "--name", "buyer", "--ec"]);
    assert_eq!(id["name"], "buyer");
    env.snap("identity_new_json", &serde_json::to_string_pretty(&id).unwrap());
    env.snap("identity_new_human", &env.ok(&["identity", "new", "--nip", "1111111111", "--name", "buyer2"]));
    // auth
    let sessions_h = env.ok(&["auth", "sessions"]);
    assert!(sessions_h.contains("(current)"));
    env.snap("auth_sessions_human", &sessions_h);
    let sessions = env.json(&["auth", "sessions"]);
    assert!(sessions.as_array().unwrap().iter().any(|s| s["current"] == true));
    // status
    let st = env.json(&["status"]);
    assert_eq!(st.as_array().unwrap().len(), 2);
    snap("status_human", &env.ok(&["status"]).replace(s(&dir), "[DIR]"));
    // sync
    let sync_dir = env.dir.path().join("sync");
    let v = env.json(&["sync", "--subject", "seller", "--dir", s(&sync_dir)]);
    assert_eq!(v["new_invoices"], 2);
    env.snap("sync_json", &serde_json::to_string_pretty(&v).unwrap());
    assert!(env.ok(&["sync", "--subject", "seller", "--dir", s(&sync_dir)]).starts_with("0 new invoices"));
    // upo
    let k = st[0]["ksef_number"].as_str().unwrap();
    let session = st[0]["session_ref"].as_str().unwrap();
    let upo = env.ok(&["upo", "--session", session, "--ksef-number", k]);
    assert!(upo.contains(k));
    let upo_file = env.dir.path().join("upo.xml");
    env.ok(&["--output", "json", "upo", "--session", session, "--ksef-number", k, "--out", s(&upo_file)]);
    assert!(std::fs::read_to_string(&upo_file).unwrap().contains(k));
    // qr (offline)
    let file = dir.join("fv-1.xml");
    let date = chrono::Utc::now().date_naive().to_string();
    let link = env.ok(&["qr", s(&file), "--nip", SELLER, "--date", &date]);
    assert!(link.starts_with(&env.url) || link.starts_with("http"), "{link}");
    let q = env.json(&["qr", s(&file), "--nip", SELLER, "--date", &date]);
    assert_eq!(q["link"].as_str().unwrap(), link.trim());
    env.snap("qr_json", &serde_json::to_string_pretty(&q).unwrap());
    // completions and man mention the new commands
    let bash = env.ok(&["completions", "bash"]);
    for c in ["permissions", "certs", "testdata", "export"] {
        assert!(bash.contains(c), "{c}");
    }
    assert!(env.ok(&["man"]).contains("permissions"));
    // logout, both modes
    assert_eq!(env.json(&["auth", "logout"])["removed"], true);
    assert_eq!(env.ok(&["auth", "logout"]).trim(), "not logged in");
    env.fails(4, &["tokens", "list"]);
}

#[test]
fn local_env_keeps_state_between_commands() {
    let dir = tempfile::tempdir().unwrap();
    let k = |args: &[&str]| {
        let out = super::ksef(dir.path()).args(args).assert().success().get_output().stdout.clone();
        String::from_utf8(out).unwrap()
    };
    k(&["testdata", "subject", "create", "--nip", SELLER]);
    k(&["identity", "new", "--nip", SELLER, "--seal", "--ec"]);
    k(&["auth", "login", "--nip", SELLER]);
    k(&["tokens", "generate", "--description", "Local token", "--permission", "InvoiceRead"]);
    let v: Value = serde_json::from_str(&k(&["--output", "json", "tokens", "list"])).unwrap();
    assert_eq!(v["count"], 1, "the second embedded emulator sees the first one's token");
    assert!(k(&["permissions", "list", "personal"]).contains("ownerPermissions"));
}

/// Whether `text` has an XML error position `at LINE:COLUMN`.
fn regex_lite_position(text: &str) -> bool {
    text.split(" at ").skip(1).any(|rest| {
        let pos: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ':').collect();
        pos.split(':').filter(|p| !p.is_empty()).count() == 2
    })
}
