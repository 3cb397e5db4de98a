//! Hostile export packages (ZIP and tar.gz), generated here: `../` and absolute paths,
//! symlinks, a compression bomb, truncations. Each is a typed `ExportError`, never a panic,
//! and `unpack_to_dir` leaves the output directory as it found it when it fails.

use std::io::{Cursor, Write as _};

use ksef_client::export::{UnpackLimits, unpack, unpack_to_dir};

use ksef_client::batch::Compression;

const OK: &[u8] = b"<Faktura/>";

fn zip_of(entries: &[(&str, &[u8])], symlink: Option<(&str, &str)>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    if let Some((name, target)) = symlink {
        w.add_symlink(name, target, opts).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A tar.gz whose entry names are written raw into the header (bypassing `tar`'s own checks).
fn tgz_of(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, kind) in entries {
        let mut h = tar::Header::new_old();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn empty_dir(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn generated_hostile_packages_are_typed_errors_and_leave_no_files() {
    let bomb_data = vec![0u8; 64 << 20];
    let mut cases: Vec<(String, Compression, Vec<u8>)> = vec![
        ("zip ../".into(), Compression::Zip, zip_of(&[("a.xml", OK), ("../evil.xml", OK)], None)),
        ("zip absolute".into(), Compression::Zip, zip_of(&[("a.xml", OK), ("/tmp/evil.xml", OK)], None)),
        ("zip backslash".into(), Compression::Zip, zip_of(&[("a.xml", OK), ("..\\evil.xml", OK)], None)),
        ("zip symlink".into(), Compression::Zip, zip_of(&[("a.xml", OK)], Some(("b.xml", "/etc/passwd")))),
        ("zip bomb".into(), Compression::Zip, zip_of(&[("a.xml", OK), ("b.xml", &bomb_data)], None)),
        (
            "tgz ../".into(),
            Compression::TarGz,
            tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("../evil.xml", OK, tar::EntryType::Regular)]),
        ),
        (
            "tgz absolute".into(),
            Compression::TarGz,
            tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("/tmp/evil.xml", OK, tar::EntryType::Regular)]),
        ),
        (
            "tgz symlink".into(),
            Compression::TarGz,
            tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("b.xml", b"", tar::EntryType::Symlink)]),
        ),
        (
            "tgz hard link".into(),
            Compression::TarGz,
            tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("b.xml", b"", tar::EntryType::Link)]),
        ),
        (
            "tgz duplicate".into(),
            Compression::TarGz,
            tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("a.xml", OK, tar::EntryType::Regular)]),
        ),
        (
            "tgz bomb".into(),
            Compression::TarGz,
            tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("b.xml", &bomb_data, tar::EntryType::Regular)]),
        ),
    ];
    // Truncations of valid two-file packages at 20 points each.
    let zip_ok = zip_of(&[("a.xml", OK), ("b.xml", OK)], None);
    let tgz_ok = tgz_of(&[("a.xml", OK, tar::EntryType::Regular), ("b.xml", OK, tar::EntryType::Regular)]);
    assert!(unpack(Compression::Zip, Cursor::new(&zip_ok), UnpackLimits::default()).is_ok());
    assert!(unpack(Compression::TarGz, Cursor::new(&tgz_ok), UnpackLimits::default()).is_ok());
    for k in 0..20 {
        let cut = zip_ok.len() * k / 20;
        cases.push((format!("zip truncated at {cut}"), Compression::Zip, zip_ok[..cut].to_vec()));
        let cut = tgz_ok.len() * k / 20;
        cases.push((format!("tgz truncated at {cut}"), Compression::TarGz, tgz_ok[..cut].to_vec()));
    }
    cases.push(("zip as tgz".into(), Compression::TarGz, zip_ok.clone()));
    cases.push(("tgz as zip".into(), Compression::Zip, tgz_ok.clone()));

    let limits = UnpackLimits { max_entry_size: 1 << 20, ..UnpackLimits::default() };
    let mut accepted = Vec::new();
    let mut leftovers = Vec::new();
    for (name, compression, bytes) in &cases {
        if unpack(*compression, Cursor::new(bytes), limits).is_ok() {
            accepted.push(format!("{name} (memory)"));
        }
        let dir = tempfile::tempdir().unwrap();
        if unpack_to_dir(*compression, Cursor::new(bytes), dir.path(), limits).is_ok() {
            accepted.push(format!("{name} (dir)"));
        } else if !empty_dir(dir.path()) {
            leftovers.push(name.clone());
        }
        assert!(!dir.path().parent().unwrap().join("evil.xml").exists(), "{name} wrote outside the directory");
    }
    println!("hostile packages: {} cases; leftovers after a failed unpack_to_dir: {leftovers:?}", cases.len());
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
    assert!(leftovers.is_empty(), "a failed unpack_to_dir left files behind: {leftovers:?}");
}
