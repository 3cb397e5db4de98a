//! The checked-in hostile corpus (`hostile-corpus/`, `cargo xtask hostile-corpus`), target
//! `client`: hostile UPOs through `upo::parse_upo_bytes`, generic hostile XML through the same
//! parser, and hostile ZIP/tar.gz packages through `export::unpack` (memory) and
//! `export::unpack_to_dir` (disk). Each gives the manifest's typed error (`Ok` for the controls),
//! never a panic; a failed `unpack_to_dir` leaves its directory exactly as it found it (a
//! pre-existing file untouched, nothing added) and nothing appears outside it. A failure names
//! the case file.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use ksef_client::batch::Compression;
use ksef_client::export::{UnpackLimits, unpack, unpack_to_dir};
use ksef_client::upo::parse_upo_bytes;
use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hostile-corpus")
}

fn variant(debug: &str) -> String {
    debug.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

fn outcome<T, E: std::fmt::Debug>(prefix: &str, r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "Ok".to_owned(),
        Err(e) => format!("{prefix}::{}", variant(&format!("{e:?}"))),
    }
}

/// Every path under `root` with its contents (directories as `None`).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let ty = e.file_type().expect("file type");
            if ty.is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

/// Unpacks in memory and to a directory; returns (memory outcome, disk outcome, problems).
fn archive(file: &str, compression: Compression, bytes: &[u8]) -> (String, String, Vec<String>) {
    let limits = UnpackLimits::default();
    let memory = outcome("ExportError", &unpack(compression, Cursor::new(bytes), limits));
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("existing.txt"), b"left alone").expect("sentinel");
    let before = snapshot(root.path());
    let outside_before = Path::new("/tmp/evil.xml").exists();
    let disk_result = unpack_to_dir(compression, Cursor::new(bytes), &out, limits);
    let disk = outcome("ExportError", &disk_result);
    let mut problems = Vec::new();
    if disk_result.is_err() && snapshot(root.path()) != before {
        problems.push(format!("{file}: a failed unpack_to_dir changed its directory"));
    }
    if disk_result.is_ok() {
        let after = snapshot(root.path());
        if after.keys().any(|p| !p.starts_with(&out)) {
            problems.push(format!("{file}: wrote outside the output directory"));
        }
    }
    if !outside_before && Path::new("/tmp/evil.xml").exists() {
        problems.push(format!("{file}: created /tmp/evil.xml"));
    }
    (memory, disk, problems)
}

#[test]
fn corpus_upos_and_packages_are_typed_errors_and_leave_no_files() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).expect("manifest")).expect("JSON");
    let mut failures = Vec::new();
    let mut per_category = BTreeMap::<String, (usize, usize)>::new();
    for case in manifest["cases"].as_array().expect("cases") {
        let Some(expected) = case["expect"]["client"].as_str() else { continue };
        let file = case["file"].as_str().expect("file");
        let category = case["category"].as_str().expect("category");
        let bytes = std::fs::read(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let matches = |actual: &str| expected.split('|').any(|x| x == actual);
        let result = std::panic::catch_unwind(|| match category {
            "upo" | "xml" => {
                let actual = outcome("UpoError", &parse_upo_bytes(&bytes));
                (actual.clone(), actual, Vec::new())
            }
            "zip" | "targz" => {
                let compression = match case["input"]["compression"].as_str() {
                    Some("Zip") => Compression::Zip,
                    Some("TarGz") => Compression::TarGz,
                    other => panic!("{file}: compression {other:?}"),
                };
                archive(file, compression, &bytes)
            }
            other => panic!("{file}: no client harness for category {other}"),
        });
        let entry = per_category.entry(category.to_owned()).or_default();
        entry.0 += 1;
        let before = failures.len();
        match result {
            Err(_) => failures.push(format!("{file}: panicked")),
            Ok((memory, disk, problems)) => {
                if !matches(&memory) {
                    failures.push(format!("{file}: expected {expected}, got {memory}"));
                }
                if !matches(&disk) {
                    failures.push(format!("{file}: expected {expected} from unpack_to_dir, got {disk}"));
                }
                failures.extend(problems);
            }
        }
        if failures.len() == before {
            entry.1 += 1;
        }
    }
    println!("corpus (client): {per_category:?} (cases, passed)");
    let total: usize = per_category.values().map(|v| v.0).sum();
    assert!(total >= 100, "only {total} client cases in the manifest");
    assert!(failures.is_empty(), "{} corpus checks failed:\n{}", failures.len(), failures.join("\n"));
}
