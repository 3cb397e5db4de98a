//! Hostile ZIP and tar.gz packages: path traversal, absolute paths, links, duplicates, bombs,
//! truncations, corrupt headers. Built byte-for-byte deterministically (fixed timestamps, no
//! gzip mtime). Each carries FA(3) invoices with unique numbers, so the emulator's outcome depends
//! on the package, not on duplicates.

use std::io::{Cursor, Write as _};

use anyhow::Result;
use serde_json::{Value, json};

use super::Corpus;
use super::text::invoice;

fn zip_opts() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// A ZIP of `entries`, plus an optional symlink `(name, target)`.
fn zip_of(entries: &[(&str, &[u8])], symlink: Option<(&str, &str)>) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip_opts())?;
        w.write_all(data)?;
    }
    if let Some((name, target)) = symlink {
        w.add_symlink(name, target, zip_opts())?;
    }
    Ok(w.finish()?.into_inner())
}

/// Raw tar entry: name written straight into the header (bypassing `tar`'s own path checks).
struct T<'a> {
    name: &'a [u8],
    data: &'a [u8],
    kind: tar::EntryType,
    link: &'a [u8],
}

fn tar_of(entries: &[T<'_>]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(e.name);
        old.linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, e.data)?;
    }
    Ok(b.into_inner()?)
}

fn gz(data: &[u8]) -> Result<Vec<u8>> {
    let mut g = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    g.write_all(data)?;
    Ok(g.finish()?)
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> T<'a> {
    T { name: name.as_bytes(), data, kind: tar::EntryType::Regular, link: b"" }
}

/// 64 MiB of zeros: ~64 KiB deflated, a 1000:1 ratio.
fn bomb_payload() -> Vec<u8> {
    vec![0u8; 64 << 20]
}

fn expect(client: &str, session: u32) -> Value {
    let client = if client == "Ok" {
        "Ok".to_owned()
    } else {
        format!("ExportError::{}", client.replace('|', "|ExportError::"))
    };
    // 0: the emulator refuses to open the session (`batchFile.fileSize` must be at least 1).
    let emulator =
        if session == 0 { json!({"status": 400, "code": 21405}) } else { json!({"session_status": session}) };
    json!({"client": client, "emulator": emulator})
}

/// Hostile ZIP packages. `client`: `ExportError` of `export::unpack`/`unpack_to_dir` (default
/// limits); `emulator`: the batch session's final status (430 archive unreadable, 200 processed:
/// the emulator writes nothing to disk, so entry names do not matter to it), or 400 `21405` when
/// it refuses to open the session.
pub fn zip(c: &mut Corpus) -> Result<()> {
    let inv = |n: u32| invoice(&format!("ZIP/{n:03}/2026")).into_bytes();
    let input = json!({"compression": "Zip"});
    let mut k = 0u32;
    let mut next = || {
        k += 1;
        k
    };
    let (a, b) = (inv(next()), inv(next()));
    let control = zip_of(&[("a.xml", &a), ("b.xml", &b)], None)?;
    c.add(
        "zip",
        "control-valid",
        "zip",
        control.clone(),
        "none (control: unpacks, both invoices accepted)",
        input.clone(),
        expect("Ok", 200),
    );
    let cases: Vec<(&str, &str, Vec<u8>, &str, u32)> = vec![
        (
            "dotdot",
            "a `../` entry (zip slip)",
            zip_of(&[("a.xml", &inv(next())), ("../evil.xml", &inv(next()))], None)?,
            "UnsafePath",
            200,
        ),
        (
            "dotdot-deep",
            "a `dir/../../` entry",
            zip_of(&[("a.xml", &inv(next())), ("dir/../../evil.xml", &inv(next()))], None)?,
            "UnsafePath",
            200,
        ),
        (
            "absolute",
            "an absolute entry name",
            zip_of(&[("a.xml", &inv(next())), ("/tmp/evil.xml", &inv(next()))], None)?,
            "UnsafePath",
            200,
        ),
        (
            "backslash",
            "a `..\\` entry (Windows separators)",
            zip_of(&[("a.xml", &inv(next())), ("..\\evil.xml", &inv(next()))], None)?,
            "UnsafePath",
            200,
        ),
        (
            "drive-letter",
            "a `C:` entry name",
            zip_of(&[("a.xml", &inv(next())), ("C:/evil.xml", &inv(next()))], None)?,
            "UnsafePath",
            200,
        ),
        (
            "symlink",
            "a symlink to /etc/passwd",
            zip_of(&[("a.xml", &inv(next()))], Some(("b.xml", "/etc/passwd")))?,
            "NotAFile",
            200,
        ),
        (
            "duplicate",
            "the same entry name twice",
            {
                // The writer refuses duplicates: write b.xml, then rename it in both headers.
                let z = zip_of(&[("a.xml", &inv(next())), ("b.xml", &inv(next()))], None)?;
                replace_all(&z, b"b.xml", b"a.xml")
            },
            "DuplicateEntry|Archive",
            200,
        ),
        (
            "bomb",
            "64 MiB of zeros in 64 KiB (compression bomb)",
            zip_of(&[("a.xml", &inv(next())), ("b.xml", &bomb_payload())], None)?,
            "RatioExceeded|EntryTooLarge",
            430,
        ),
        ("empty-file", "a zero-byte package (the emulator refuses to open the session)", Vec::new(), "Archive", 0),
        ("random", "random bytes", super::xades::seeded_bytes(41, 2048), "Archive", 430),
        ("tgz-as-zip", "a tar.gz declared as ZIP", gz(&tar_of(&[file("a.xml", &inv(next()))])?)?, "Archive", 430),
        (
            "crc-mismatch",
            "a flipped byte inside compressed data",
            {
                let mut z = zip_of(&[("a.xml", &inv(next()))], None)?;
                z[60] ^= 0xFF;
                z
            },
            "Archive|Io",
            430,
        ),
        (
            "stored-method-bzip2",
            "an unsupported compression method (bzip2)",
            {
                let mut z = zip_of(&[("a.xml", &inv(next()))], None)?;
                patch_zip_method(&mut z, 12);
                z
            },
            "Archive",
            430,
        ),
        (
            "eocd-only",
            "only an end-of-central-directory record claiming entries",
            {
                let mut v = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 5, 0, 5, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
                v.truncate(22);
                v
            },
            "Archive",
            430,
        ),
    ];
    for (slug, attack, bytes, client, session) in cases {
        c.add("zip", slug, "zip", bytes, attack, input.clone(), expect(client, session));
    }
    for i in 1..=8 {
        let cut = control.len() * i / 9;
        c.add(
            "zip",
            &format!("truncated-{i}of9"),
            "zip",
            control[..cut].to_vec(),
            format!("the control package cut at byte {cut}"),
            input.clone(),
            expect("Archive", 430),
        );
    }
    Ok(())
}

/// Every occurrence of `from` replaced by `to` (same length).
fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

/// Sets the compression method of every local and central header.
fn patch_zip_method(z: &mut [u8], method: u16) {
    let m = method.to_le_bytes();
    let mut i = 0;
    while i + 4 <= z.len() {
        match &z[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] if i + 10 <= z.len() => z[i + 8..i + 10].copy_from_slice(&m),
            [0x50, 0x4b, 0x01, 0x02] if i + 12 <= z.len() => z[i + 10..i + 12].copy_from_slice(&m),
            _ => {}
        }
        i += 1;
    }
}

/// Hostile tar.gz packages (same targets as [`zip`]).
pub fn targz(c: &mut Corpus) -> Result<()> {
    let inv = |n: u32| invoice(&format!("TGZ/{n:03}/2026")).into_bytes();
    let input = json!({"compression": "TarGz"});
    let mut k = 0u32;
    let mut next = || {
        k += 1;
        k
    };
    let (a, b) = (inv(next()), inv(next()));
    let control = gz(&tar_of(&[file("a.xml", &a), file("b.xml", &b)])?)?;
    c.add(
        "targz",
        "control-valid",
        "tar.gz",
        control.clone(),
        "none (control: unpacks, both invoices accepted)",
        input.clone(),
        expect("Ok", 200),
    );
    let link = |name: &'static str, kind, target: &'static str| T {
        name: name.as_bytes(),
        data: b"",
        kind,
        link: target.as_bytes(),
    };
    let (i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11, i12) = (
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
        inv(next()),
    );
    let (i13, i14, i15, i16, i17, i18) = (inv(next()), inv(next()), inv(next()), inv(next()), inv(next()), inv(next()));
    let bomb = bomb_payload();
    let long_name = format!("{}/../../evil.xml", "d".repeat(80));
    let gnu_longname = {
        // GNU long name extension: an `L` entry whose data is the next entry's real name.
        let name = b"../../evil.xml\0";
        tar_of(&[
            file("a.xml", &i17),
            T { name: b"././@LongLink", data: name, kind: tar::EntryType::GNULongName, link: b"" },
            file("x.xml", &i18),
        ])?
    };
    let pax_path = {
        let rec = b"23 path=../../evil.xml\n";
        tar_of(&[
            file("a.xml", &i15),
            T { name: b"PaxHeaders/x", data: rec, kind: tar::EntryType::XHeader, link: b"" },
            file("x.xml", &i16),
        ])?
    };
    let cases: Vec<(&str, &str, Vec<u8>, &str, u32)> = vec![
        (
            "dotdot",
            "a `../` entry (tar slip)",
            gz(&tar_of(&[file("a.xml", &i1), file("../evil.xml", &i2)])?)?,
            "UnsafePath",
            200,
        ),
        (
            "absolute",
            "an absolute entry name",
            gz(&tar_of(&[file("a.xml", &i3), file("/tmp/evil.xml", &i4)])?)?,
            "UnsafePath",
            200,
        ),
        (
            "long-dotdot",
            "a `../` hidden behind an 80-character directory",
            gz(&tar_of(&[file("a.xml", &i5), file(&long_name, &i6)])?)?,
            "UnsafePath",
            200,
        ),
        ("gnu-longname-dotdot", "a `../` name in a GNU long-name entry", gz(&gnu_longname)?, "UnsafePath", 200),
        ("pax-path-dotdot", "a `../` path in a PAX header", gz(&pax_path)?, "UnsafePath", 200),
        (
            "symlink",
            "a symlink to /etc/passwd",
            gz(&tar_of(&[file("a.xml", &i7), link("b.xml", tar::EntryType::Symlink, "/etc/passwd")])?)?,
            "NotAFile",
            200,
        ),
        (
            "symlink-then-write",
            "a directory symlink then a file written through it",
            gz(&tar_of(&[link("d", tar::EntryType::Symlink, "/tmp"), file("d/evil.xml", &i8)])?)?,
            "NotAFile",
            200,
        ),
        (
            "hardlink",
            "a hard link to /etc/passwd",
            gz(&tar_of(&[file("a.xml", &i9), link("b.xml", tar::EntryType::Link, "/etc/passwd")])?)?,
            "NotAFile",
            200,
        ),
        (
            "char-device",
            "a character device entry",
            gz(&tar_of(&[file("a.xml", &i10), link("null", tar::EntryType::Char, "")])?)?,
            "NotAFile",
            200,
        ),
        (
            "fifo",
            "a FIFO entry",
            gz(&tar_of(&[file("a.xml", &i11), link("fifo", tar::EntryType::Fifo, "")])?)?,
            "NotAFile",
            200,
        ),
        (
            "duplicate",
            "the same entry name twice",
            gz(&tar_of(&[file("a.xml", &i12), file("a.xml", &i13)])?)?,
            "DuplicateEntry",
            200,
        ),
        (
            "bomb",
            "64 MiB of zeros in 64 KiB (compression bomb)",
            gz(&tar_of(&[file("a.xml", &i14), file("b.xml", &bomb)])?)?,
            "RatioExceeded|EntryTooLarge",
            430,
        ),
        ("empty-file", "a zero-byte package (the emulator refuses to open the session)", Vec::new(), "Archive", 0),
        ("random", "random bytes", super::xades::seeded_bytes(51, 2048), "Archive", 430),
        ("zip-as-tgz", "a ZIP declared as tar.gz", zip_of(&[("a.xml", &inv(next()))], None)?, "Archive", 430),
        (
            "bad-checksum",
            "a tar header with a wrong checksum",
            {
                let mut t = tar_of(&[file("a.xml", &inv(next()))])?;
                t[148..156].copy_from_slice(b"0000000\0");
                gz(&t)?
            },
            "Archive",
            430,
        ),
        (
            "size-overflow",
            "a tar size field of 8 GiB over a short file",
            {
                let mut t = tar_of(&[file("a.xml", &inv(next()))])?;
                t[124..136].copy_from_slice(b"77777777777\0");
                let sum: u32 = t[..512]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) })
                    .sum();
                t[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                gz(&t)?
            },
            "Archive|EntryTooLarge",
            430,
        ),
        (
            "gzip-bad-crc",
            "a gzip trailer with a wrong CRC",
            {
                let mut g = gz(&tar_of(&[file("a.xml", &inv(next()))])?)?;
                let n = g.len();
                g[n - 8] ^= 0xFF;
                g
            },
            "Archive",
            430,
        ),
        (
            "gzip-garbage-header",
            "a gzip magic followed by garbage",
            [&[0x1f, 0x8b, 0x08, 0xff][..], &super::xades::seeded_bytes(52, 200)].concat(),
            "Archive",
            430,
        ),
    ];
    for (slug, attack, bytes, client, session) in cases {
        c.add("targz", slug, "tar.gz", bytes, attack, input.clone(), expect(client, session));
    }
    for i in 1..=8 {
        let cut = control.len() * i / 9;
        c.add(
            "targz",
            &format!("truncated-{i}of9"),
            "tar.gz",
            control[..cut].to_vec(),
            format!("the control package cut at byte {cut}"),
            input.clone(),
            expect("Archive", 430),
        );
    }
    Ok(())
}
