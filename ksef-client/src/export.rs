//! Unpacking invoice-export packages (`POST /invoices/exports`).
//!
//! An export package arrives as encrypted parts. For each part, in `ordinalNumber` order, the
//! ciphertext is checked against `encryptedPartHash`/`encryptedPartSize`, decrypted with the
//! export's session key, and the plaintext checked against `partHash`/`partSize`; the
//! plaintexts are concatenated into a ZIP or `tar.gz` archive ([`decrypt_parts`]). The archive
//! is then extracted defensively ([`unpack`]): only plain relative file names, no links or
//! special entries, no duplicates, every entry and the total capped, and the expansion ratio
//! capped (zip bombs). `_metadata.json` is parsed into [`InvoiceMetadata`] values.
//!
//! Sizes are counted on the bytes actually decompressed, never taken from archive headers.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use ksef_crypto::{FileDigest, SessionKey, Sha256Stream};
use ksef_model::types::{InvoiceMetadata, InvoicePackagePart};

use crate::batch::Compression;

/// Name of the metadata file inside an export package.
pub const METADATA_FILE: &str = "_metadata.json";

/// Caps applied while extracting an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Largest decompressed entry (default 64 MB: `_metadata.json` of 10 000 invoices fits).
    pub max_entry_size: u64,
    /// Largest decompressed total (default 16 GB).
    pub max_total_size: u64,
    /// Largest ratio of decompressed total to archive size (default 200); archives below
    /// [`UnpackLimits::ratio_floor`] decompressed bytes are exempt.
    pub max_ratio: u64,
    /// Decompressed bytes allowed regardless of the ratio (default 16 MiB).
    pub ratio_floor: u64,
    /// Most entries (default 10 001: 10 000 invoices plus `_metadata.json`).
    pub max_entries: usize,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_entry_size: 64_000_000,
            max_total_size: 16_000_000_000,
            max_ratio: 200,
            ratio_floor: 16 * 1024 * 1024,
            max_entries: 10_001,
        }
    }
}

/// Which of a part's two checks failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartCheck {
    /// `encryptedPartHash` / `encryptedPartSize`.
    Encrypted,
    /// `partHash` / `partSize` (the decrypted part).
    Decrypted,
}

/// Why an export package could not be unpacked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A different number of part readers than declared parts.
    #[error("{expected} parts declared, {got} supplied")]
    PartCount {
        /// Declared parts.
        expected: usize,
        /// Supplied readers.
        got: usize,
    },
    /// The part ordinals are not 1..=n.
    #[error("part ordinal numbers are not 1..={0}")]
    PartOrdinals(usize),
    /// A part's size differs from the declared one.
    #[error("part {ordinal}: {check:?} size is {actual}, declared {expected}")]
    PartSize {
        /// The part's ordinal number.
        ordinal: u32,
        /// Which size.
        check: PartCheck,
        /// Declared.
        expected: u64,
        /// Actual.
        actual: u64,
    },
    /// A part's SHA-256 differs from the declared one.
    #[error("part {ordinal}: {check:?} SHA-256 does not match the declared hash")]
    PartHash {
        /// The part's ordinal number.
        ordinal: u32,
        /// Which hash.
        check: PartCheck,
    },
    /// A part could not be decrypted (wrong key or truncated ciphertext).
    #[error("part {ordinal} could not be decrypted")]
    Decrypt {
        /// The part's ordinal number.
        ordinal: u32,
        /// The crypto error.
        #[source]
        source: ksef_crypto::Error,
    },
    /// An entry name is absolute, has `..`, or is otherwise unsafe.
    #[error("unsafe entry name `{0}`")]
    UnsafePath(String),
    /// An entry is a symlink, hard link, device or other non-file.
    #[error("entry `{0}` is not a regular file")]
    NotAFile(String),
    /// An entry name occurs twice.
    #[error("duplicate entry `{0}`")]
    DuplicateEntry(String),
    /// An entry decompresses to more than the cap.
    #[error("entry `{name}` exceeds {max} bytes")]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// The cap.
        max: u64,
    },
    /// The archive decompresses to more than the cap.
    #[error("the archive decompresses to more than {max} bytes")]
    TotalTooLarge {
        /// The cap.
        max: u64,
    },
    /// The archive expands more than the ratio cap (a zip bomb).
    #[error("the archive expands more than {max_ratio}x its size")]
    RatioExceeded {
        /// The cap.
        max_ratio: u64,
    },
    /// Too many entries.
    #[error("the archive has more than {max} entries")]
    TooManyEntries {
        /// The cap.
        max: usize,
    },
    /// The archive is corrupt or uses an unsupported feature.
    #[error("the archive is corrupt or unsupported")]
    Archive(#[source] io::Error),
    /// `_metadata.json` is not the expected JSON.
    #[error("`_metadata.json` could not be parsed")]
    Metadata(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading a part or writing output failed.
    #[error("I/O error while unpacking")]
    Io(#[source] io::Error),
}

/// Decrypt one part held in memory, verifying both hashes and sizes.
///
/// # Errors
/// [`ExportError::PartSize`], [`ExportError::PartHash`] or [`ExportError::Decrypt`].
pub fn decrypt_part(key: &SessionKey, part: &InvoicePackagePart, encrypted: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::with_capacity(encrypted.len());
    decrypt_part_to(key, part, encrypted, &mut out)?;
    Ok(out)
}

/// Stream one part from `reader` to `out`, verifying it. Plaintext is written before the final
/// checks complete: on error, discard what was written.
///
/// # Errors
/// As [`decrypt_part`], plus I/O errors.
pub fn decrypt_part_to(
    key: &SessionKey,
    part: &InvoicePackagePart,
    mut reader: impl Read,
    mut out: impl Write,
) -> Result<FileDigest, ExportError> {
    let ordinal = part.ordinal_number.get();
    let mut dec = key.decryptor();
    let mut enc_hash = Sha256Stream::new();
    let mut plain_hash = Sha256Stream::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut plain = Vec::with_capacity(buf.len() + 16);
    let max_enc = part.encrypted_part_size.get();
    let mut enc_read = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ExportError::Io(e)),
        };
        enc_hash.update(&buf[..n]);
        enc_read += n as u64;
        // Never read (much) more than declared: a hostile server could stream forever.
        if enc_read > max_enc {
            return Err(ExportError::PartSize {
                ordinal,
                check: PartCheck::Encrypted,
                expected: max_enc,
                actual: enc_read,
            });
        }
        plain.clear();
        dec.update(&buf[..n], &mut plain);
        plain_hash.update(&plain);
        out.write_all(&plain).map_err(ExportError::Io)?;
    }
    plain.clear();
    let finished = dec.finish(&mut plain);
    let enc = enc_hash.finish();
    check(ordinal, PartCheck::Encrypted, &enc, part.encrypted_part_size.get(), &part.encrypted_part_hash)?;
    finished.map_err(|source| ExportError::Decrypt { ordinal, source })?;
    plain_hash.update(&plain);
    out.write_all(&plain).map_err(ExportError::Io)?;
    let dig = plain_hash.finish();
    check(ordinal, PartCheck::Decrypted, &dig, part.part_size.get(), &part.part_hash)?;
    Ok(dig)
}

fn check(ordinal: u32, check: PartCheck, dig: &FileDigest, size: u64, hash: &str) -> Result<(), ExportError> {
    if dig.size != size {
        return Err(ExportError::PartSize { ordinal, check, expected: size, actual: dig.size });
    }
    if dig.sha256_b64() != hash {
        return Err(ExportError::PartHash { ordinal, check });
    }
    Ok(())
}

/// Decrypt and join all parts (readers in the same order as `parts`, which are sorted by
/// ordinal number here) into `out`; returns the digest of the joined archive.
///
/// # Errors
/// [`ExportError::PartCount`], [`ExportError::PartOrdinals`], or a per-part error.
pub fn decrypt_parts<R: Read>(
    key: &SessionKey,
    parts: &[InvoicePackagePart],
    readers: Vec<R>,
    mut out: impl Write,
) -> Result<FileDigest, ExportError> {
    if parts.len() != readers.len() {
        return Err(ExportError::PartCount { expected: parts.len(), got: readers.len() });
    }
    let mut pairs: Vec<(&InvoicePackagePart, R)> = parts.iter().zip(readers).collect();
    pairs.sort_by_key(|(p, _)| p.ordinal_number);
    if pairs.iter().enumerate().any(|(i, (p, _))| p.ordinal_number.get() as usize != i + 1) {
        return Err(ExportError::PartOrdinals(parts.len()));
    }
    let mut whole = HashingWriter { inner: &mut out, hash: Sha256Stream::new() };
    for (part, reader) in pairs {
        decrypt_part_to(key, part, reader, &mut whole)?;
    }
    whole.inner.flush().map_err(ExportError::Io)?;
    Ok(whole.hash.finish())
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256Stream,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An extracted package: the parsed metadata and the files (in archive order, without
/// `_metadata.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct UnpackedPackage<F> {
    /// `_metadata.json` → `invoices`, if the archive had it.
    pub metadata: Option<Vec<InvoiceMetadata>>,
    /// The other files.
    pub files: Vec<F>,
}

/// A file extracted into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryFile {
    /// Entry name (for exports `{ksefNumber}.xml`).
    pub name: String,
    /// Content.
    pub data: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct MetadataFile {
    invoices: Vec<InvoiceMetadata>,
}

/// Parse the content of `_metadata.json`.
///
/// # Errors
/// [`ExportError::Metadata`].
pub fn parse_metadata(json: &[u8]) -> Result<Vec<InvoiceMetadata>, ExportError> {
    serde_json::from_slice::<MetadataFile>(json).map(|m| m.invoices).map_err(|e| ExportError::Metadata(Box::new(e)))
}

/// Extract a joined archive (`Read + Seek`; ZIP needs its central directory) into memory.
///
/// # Errors
/// Any [`ExportError`] of the extraction checks.
pub fn unpack<R: Read + Seek>(
    compression: Compression,
    archive: R,
    limits: UnpackLimits,
) -> Result<UnpackedPackage<MemoryFile>, ExportError> {
    unpack_with(compression, archive, limits, |name, reader| {
        let mut data = Vec::new();
        reader.read_to_end(&mut data)?;
        Ok(MemoryFile { name: name.to_owned(), data })
    })
}

/// Extract a joined archive into directory `dir` (which must exist); entry names with `/`
/// create subdirectories inside `dir`. If the extraction fails, the files and directories this
/// call created are removed again: no partial package is left behind.
///
/// # Errors
/// Any [`ExportError`] of the extraction checks, or I/O errors writing files.
pub fn unpack_to_dir<R: Read + Seek>(
    compression: Compression,
    archive: R,
    dir: &Path,
    limits: UnpackLimits,
) -> Result<UnpackedPackage<PathBuf>, ExportError> {
    // What this call created, so that a failed extraction leaves `dir` as it found it.
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut created_files: Vec<PathBuf> = Vec::new();
    let result = unpack_with(compression, archive, limits, |name, reader| {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            let mut missing: Vec<PathBuf> =
                parent.ancestors().take_while(|a| !a.exists()).map(Path::to_path_buf).collect();
            std::fs::create_dir_all(parent)?;
            missing.reverse();
            created_dirs.extend(missing);
        }
        let mut f = File::options().write(true).create_new(true).open(&path)?;
        created_files.push(path.clone());
        io::copy(reader, &mut f)?;
        Ok(path)
    });
    if result.is_err() {
        for f in created_files.iter().rev() {
            let _ = std::fs::remove_file(f);
        }
        for d in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

/// Extract with a caller-provided consumer for each regular file except `_metadata.json`.
/// The consumer gets a reader capped at the limits; reading past a cap fails the extraction.
///
/// # Errors
/// Any [`ExportError`] of the extraction checks; consumer errors become [`ExportError::Io`].
pub fn unpack_with<R: Read + Seek, F>(
    compression: Compression,
    mut archive: R,
    limits: UnpackLimits,
    mut consume: impl FnMut(&str, &mut dyn Read) -> io::Result<F>,
) -> Result<UnpackedPackage<F>, ExportError> {
    let archive_len = archive.seek(io::SeekFrom::End(0)).map_err(ExportError::Io)?;
    archive.seek(io::SeekFrom::Start(0)).map_err(ExportError::Io)?;
    let mut st = State { limits, archive_len, total: 0, names: HashSet::new(), metadata: None, files: Vec::new() };
    match compression {
        Compression::Zip => {
            let declared = declared_zip_entries(&mut archive).map_err(ExportError::Io)?;
            let mut z = zip::ZipArchive::new(archive).map_err(|e| ExportError::Archive(e.into()))?;
            // The reader keys entries by name, so a repeated name silently hides an entry:
            // compare with the count the end-of-central-directory record declares.
            if let Some(n) = declared
                && n != z.len() as u64
            {
                return Err(ExportError::DuplicateEntry(format!("{} of {n} entries have distinct names", z.len())));
            }
            for i in 0..z.len() {
                let mut f = z.by_index(i).map_err(|e| ExportError::Archive(e.into()))?;
                let name = f.name().map_err(|e| ExportError::Archive(e.into()))?.into_owned();
                if f.is_dir() {
                    check_name(name.trim_end_matches('/'))?;
                    continue;
                }
                if f.is_symlink() || f.unix_mode().is_some_and(|m| m & 0o170000 != 0 && m & 0o170000 != 0o100000) {
                    return Err(ExportError::NotAFile(name));
                }
                st.entry(&name, &mut f, &mut consume)?;
            }
        }
        Compression::TarGz => {
            let guarded = TarHeaderGuard::new(flate2::read::GzDecoder::new(archive));
            let mut t = tar::Archive::new(guarded);
            for e in t.entries().map_err(ExportError::Archive)? {
                let mut e = e.map_err(ExportError::Archive)?;
                let name = String::from_utf8(e.path_bytes().into_owned())
                    .map_err(|b| ExportError::UnsafePath(String::from_utf8_lossy(b.as_bytes()).into_owned()))?;
                match e.header().entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => st.entry(&name, &mut e, &mut consume)?,
                    tar::EntryType::Directory => check_name(name.trim_end_matches('/'))?,
                    tar::EntryType::XGlobalHeader => {}
                    _ => return Err(ExportError::NotAFile(name)),
                }
            }
            // The tar reader stops at the end-of-archive blocks; read on to the gzip trailer so
            // its CRC-32 and length are checked (a truncated stream fails here). What follows
            // the end marker is padding: more than a few records of it is refused.
            let mut rest = t.into_inner().take(MAX_TAR_TRAILER + 1);
            let n = io::copy(&mut rest, &mut io::sink()).map_err(ExportError::Archive)?;
            if n > MAX_TAR_TRAILER {
                return Err(ExportError::Archive(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the end of the tar archive",
                )));
            }
        }
    }
    Ok(UnpackedPackage { metadata: st.metadata, files: st.files })
}

/// Most bytes read after the tar end-of-archive marker (record padding) before refusing.
const MAX_TAR_TRAILER: u64 = 64 * 1024;

/// Largest tar extension header (GNU long name/link, PAX) let through: the tar reader keeps
/// these in memory whole, so an unbounded one would bypass the extraction caps.
const MAX_TAR_EXTENSION: u64 = 1024 * 1024;

/// Follows the tar block structure of the decompressed stream and fails on oversized
/// extension headers before the tar reader buffers them.
struct TarHeaderGuard<R> {
    inner: R,
    pos: u64,
    next_header: u64,
    header: [u8; 512],
    header_len: usize,
}

impl<R: Read> TarHeaderGuard<R> {
    fn new(inner: R) -> Self {
        Self { inner, pos: 0, next_header: 0, header: [0; 512], header_len: 0 }
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.pos < self.next_header {
                let skip = (self.next_header - self.pos).min(data.len() as u64) as usize;
                self.pos += skip as u64;
                data = &data[skip..];
                continue;
            }
            let take = (512 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            self.pos += take as u64;
            data = &data[take..];
            if self.header_len == 512 {
                self.header_len = 0;
                let size = tar_size(&self.header[124..136])
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "invalid tar entry size"))?;
                if matches!(self.header[156], b'L' | b'K' | b'x' | b'g') && size > MAX_TAR_EXTENSION {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "oversized tar extension header"));
                }
                self.next_header = self.pos.saturating_add(size.div_ceil(512).saturating_mul(512));
            }
        }
        Ok(())
    }
}

/// A tar size field: octal ASCII, or GNU base-256 (high bit set).
fn tar_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let (high, low) = field.split_at(field.len() - 8);
        if high[0] & 0x7f != 0 || high[1..].iter().any(|b| *b != 0) {
            return None;
        }
        return Some(u64::from_be_bytes(low.try_into().ok()?));
    }
    let digits: Vec<u8> = field.iter().copied().filter(|b| *b != 0 && *b != b' ').collect();
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&digits).ok()?, 8).ok()
}

impl<R: Read> Read for TarHeaderGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

/// The entry count of the (zip64) end-of-central-directory record, if found.
fn declared_zip_entries<R: Read + Seek>(r: &mut R) -> io::Result<Option<u64>> {
    let len = r.seek(io::SeekFrom::End(0))?;
    let tail_len = len.min(65_557 + 76);
    r.seek(io::SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    r.seek(io::SeekFrom::Start(0))?;
    let Some(eocd) = (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
    else {
        return Ok(None);
    };
    let total = u16::from_le_bytes([tail[eocd + 10], tail[eocd + 11]]);
    if total != u16::MAX {
        return Ok(Some(u64::from(total)));
    }
    // Zip64: the locator sits just before the EOCD; the record is found by signature.
    let z64 = (0..eocd.saturating_sub(55)).rev().find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x06, 0x06]);
    Ok(z64.map(|i| u64::from_le_bytes(tail[i + 32..i + 40].try_into().unwrap_or([0; 8]))))
}

struct State<F> {
    limits: UnpackLimits,
    archive_len: u64,
    total: u64,
    names: HashSet<String>,
    metadata: Option<Vec<InvoiceMetadata>>,
    files: Vec<F>,
}

impl<F> State<F> {
    fn entry(
        &mut self,
        name: &str,
        reader: &mut dyn Read,
        consume: &mut impl FnMut(&str, &mut dyn Read) -> io::Result<F>,
    ) -> Result<(), ExportError> {
        check_name(name)?;
        if !self.names.insert(name.to_owned()) {
            return Err(ExportError::DuplicateEntry(name.to_owned()));
        }
        if self.names.len() > self.limits.max_entries {
            return Err(ExportError::TooManyEntries { max: self.limits.max_entries });
        }
        let ratio_cap = self.archive_len.saturating_mul(self.limits.max_ratio).max(self.limits.ratio_floor);
        let mut capped = Capped {
            inner: reader,
            entry: 0,
            entry_max: self.limits.max_entry_size,
            total: self.total,
            total_max: self.limits.max_total_size,
            ratio_max: ratio_cap,
            tripped: None,
        };
        let result = if name == METADATA_FILE {
            let mut buf = Vec::new();
            capped.read_to_end(&mut buf).map(|_| Some(buf))
        } else {
            consume(name, &mut capped).map(|f| {
                self.files.push(f);
                None
            })
        };
        // Drain what the consumer left so the caps see the whole entry.
        let drained = result.and_then(|r| io::copy(&mut capped, &mut io::sink()).map(|_| r));
        if let Some(trip) = capped.tripped {
            return Err(match trip {
                Trip::Entry => ExportError::EntryTooLarge { name: name.to_owned(), max: self.limits.max_entry_size },
                Trip::Total => ExportError::TotalTooLarge { max: self.limits.max_total_size },
                Trip::Ratio => ExportError::RatioExceeded { max_ratio: self.limits.max_ratio },
            });
        }
        self.total = capped.total;
        match drained {
            Ok(Some(json)) => self.metadata = Some(parse_metadata(&json)?),
            Ok(None) => {}
            Err(e) => return Err(ExportError::Archive(e)),
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Trip {
    Entry,
    Total,
    Ratio,
}

struct Capped<'a> {
    inner: &'a mut dyn Read,
    entry: u64,
    entry_max: u64,
    total: u64,
    total_max: u64,
    ratio_max: u64,
    tripped: Option<Trip>,
}

impl Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tripped.is_some() {
            return Err(io::Error::other("extraction limit exceeded"));
        }
        let n = self.inner.read(buf)?;
        self.entry += n as u64;
        self.total += n as u64;
        let trip = if self.entry > self.entry_max {
            Some(Trip::Entry)
        } else if self.total > self.total_max {
            Some(Trip::Total)
        } else if self.total > self.ratio_max {
            Some(Trip::Ratio)
        } else {
            None
        };
        if trip.is_some() {
            self.tripped = trip;
            return Err(io::Error::other("extraction limit exceeded"));
        }
        Ok(n)
    }
}

/// Accept only relative names made of normal components (`/`-separated).
fn check_name(name: &str) -> Result<(), ExportError> {
    let unsafe_name = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.chars().any(char::is_control)
        || name.as_bytes().get(1) == Some(&b':')
        || name.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if unsafe_name {
        return Err(ExportError::UnsafePath(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;
    use std::num::{NonZeroU32, NonZeroU64};

    pub(crate) const META_ONE: &str = r#"{"ksefNumber": "5555555555-20250828-010080615740-E4", "invoiceNumber": "FA/1", "issueDate": "2025-08-27", "invoicingDate": "2025-08-28T09:22:13.3881234+00:00", "acquisitionDate": "2025-08-28T09:22:56.3881234+00:00", "permanentStorageDate": "2025-08-28T09:23:01.388123+00:00", "seller": {"nip": "5555555555", "name": "Test Company 1"}, "buyer": {"identifier": {"type": "Nip", "value": "7352765225"}, "name": "Test Company 4"}, "netAmount": 35260.63, "grossAmount": 43370.57, "vatAmount": 8109.94, "currency": "PLN", "invoicingMode": "Offline", "invoiceType": "Vat", "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}, "isSelfInvoicing": false, "hasAttachment": false, "invoiceHash": "mkht+3m5trnfxlTYhq3QFn74LkEO69MFNlsMAkCDSPA=", "thirdSubjects": []}"#;

    fn key() -> SessionKey {
        SessionKey::from_parts(&[3u8; 32], &[4u8; 16]).unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (n, d) in entries {
            z.start_file(*n, zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(d).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    fn targz_of(entries: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        for (n, d, ty) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*ty);
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            // Write the raw name so hostile names reach the archive unchanged.
            let raw = &mut h.as_old_mut().name;
            raw[..n.len()].copy_from_slice(n.as_bytes());
            if *ty == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            t.append(&h, *d).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap()
    }

    fn meta_json() -> String {
        format!("{{\"invoices\": [{META_ONE}]}}")
    }

    fn parts_of(archive: &[u8], part_size: usize) -> (Vec<InvoicePackagePart>, Vec<Vec<u8>>) {
        let k = key();
        let mut parts = Vec::new();
        let mut blobs = Vec::new();
        for (i, chunk) in archive.chunks(part_size).enumerate() {
            let enc = k.encrypt(chunk);
            let pd = FileDigest::of(chunk);
            let ed = FileDigest::of(&enc);
            parts.push(InvoicePackagePart {
                encrypted_part_hash: ed.sha256_b64().parse().unwrap(),
                encrypted_part_size: NonZeroU64::new(ed.size).unwrap(),
                expiration_date: "2030-01-01T00:00:00Z".parse().unwrap(),
                method: "GET".into(),
                ordinal_number: NonZeroU32::new(i as u32 + 1).unwrap(),
                part_hash: pd.sha256_b64().parse().unwrap(),
                part_name: format!("x-{:03}.zip.aes", i + 1).parse().unwrap(),
                part_size: NonZeroU64::new(pd.size).unwrap(),
                url: "https://example.invalid/part".into(),
            });
            blobs.push(enc);
        }
        (parts, blobs)
    }

    #[test]
    fn zip_end_to_end() {
        let meta = meta_json();
        let archive =
            zip_of(&[("5555555555-20250828-010080615740-E4.xml", b"<Faktura/>"), (METADATA_FILE, meta.as_bytes())]);
        let (mut parts, blobs) = parts_of(&archive, 100);
        // Out-of-order part list: sorted by ordinal number.
        parts.reverse();
        let readers: Vec<Cursor<Vec<u8>>> = blobs.iter().rev().cloned().map(Cursor::new).collect();
        let mut joined = Vec::new();
        let dig = decrypt_parts(&key(), &parts, readers, &mut joined).unwrap();
        assert_eq!(joined, archive);
        assert_eq!(dig, FileDigest::of(&archive));
        let pkg = unpack(Compression::Zip, Cursor::new(joined), UnpackLimits::default()).unwrap();
        let meta = pkg.metadata.unwrap();
        assert_eq!(meta.len(), 1);
        assert_eq!(&*meta[0].ksef_number, "5555555555-20250828-010080615740-E4");
        assert_eq!(
            pkg.files,
            vec![MemoryFile { name: "5555555555-20250828-010080615740-E4.xml".into(), data: b"<Faktura/>".to_vec() }]
        );
    }

    #[test]
    fn targz_to_dir() {
        let meta = meta_json();
        let archive = targz_of(&[
            ("a.xml", b"<A/>", tar::EntryType::Regular),
            (METADATA_FILE, meta.as_bytes(), tar::EntryType::Regular),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let pkg = unpack_to_dir(Compression::TarGz, Cursor::new(archive), dir.path(), UnpackLimits::default()).unwrap();
        assert_eq!(pkg.files, vec![dir.path().join("a.xml")]);
        assert_eq!(std::fs::read(dir.path().join("a.xml")).unwrap(), b"<A/>");
        assert_eq!(pkg.metadata.unwrap().len(), 1);
    }

    #[test]
    fn part_verification() {
        let archive = zip_of(&[("a.xml", b"<A/>")]);
        let (parts, blobs) = parts_of(&archive, 1000);
        assert_eq!(decrypt_part(&key(), &parts[0], &blobs[0]).unwrap(), archive);
        let mut tampered = blobs[0].clone();
        tampered[5] ^= 1;
        assert!(matches!(
            decrypt_part(&key(), &parts[0], &tampered),
            Err(ExportError::PartHash { check: PartCheck::Encrypted, .. })
        ));
        assert!(matches!(
            decrypt_part(&key(), &parts[0], &blobs[0][..16]),
            Err(ExportError::PartSize { check: PartCheck::Encrypted, .. })
        ));
        let mut longer = blobs[0].clone();
        longer.extend_from_slice(&[0; 64]);
        assert!(matches!(
            decrypt_part(&key(), &parts[0], &longer),
            Err(ExportError::PartSize { check: PartCheck::Encrypted, .. })
        ));
        // Right ciphertext, wrong declared plaintext hash.
        let mut wrong_plain = parts[0].clone();
        wrong_plain.part_hash = FileDigest::of(b"x").sha256_b64().parse().unwrap();
        assert!(matches!(
            decrypt_part(&key(), &wrong_plain, &blobs[0]),
            Err(ExportError::PartHash { check: PartCheck::Decrypted, .. })
        ));
        // Wrong key: ciphertext checks pass, decryption or plaintext check fails.
        let other = SessionKey::from_parts(&[9u8; 32], &[4u8; 16]).unwrap();
        assert!(matches!(
            decrypt_part(&other, &parts[0], &blobs[0]),
            Err(ExportError::Decrypt { .. } | ExportError::PartHash { check: PartCheck::Decrypted, .. })
        ));
        let r: Vec<Cursor<Vec<u8>>> = vec![];
        assert!(matches!(decrypt_parts(&key(), &parts, r, io::sink()), Err(ExportError::PartCount { .. })));
        let mut bad_ord = parts.clone();
        bad_ord[0].ordinal_number = NonZeroU32::new(2).unwrap();
        let r = vec![Cursor::new(blobs[0].clone())];
        assert!(matches!(decrypt_parts(&key(), &bad_ord, r, io::sink()), Err(ExportError::PartOrdinals(1))));
    }

    fn unzip_err(archive: Vec<u8>, limits: UnpackLimits) -> ExportError {
        unpack(Compression::Zip, Cursor::new(archive), limits).unwrap_err()
    }

    #[test]
    fn hostile_zip() {
        let l = UnpackLimits::default();
        assert!(matches!(unzip_err(zip_of(&[("../evil.xml", b"x")]), l), ExportError::UnsafePath(_)));
        assert!(matches!(unzip_err(zip_of(&[("/etc/evil", b"x")]), l), ExportError::UnsafePath(_)));
        assert!(matches!(unzip_err(zip_of(&[("a/../../evil", b"x")]), l), ExportError::UnsafePath(_)));
        assert!(matches!(unzip_err(zip_of(&[("C:\\evil", b"x")]), l), ExportError::UnsafePath(_)));
        // Duplicate names: the zip writer refuses them, so rename the second entry in place.
        let mut dup = zip_of(&[("a.xml", b"1"), ("b.xml", b"2")]);
        for i in 0..dup.len() - 5 {
            if &dup[i..i + 5] == b"b.xml" {
                dup[i] = b'a';
            }
        }
        let e = unpack(Compression::Zip, Cursor::new(dup), l).unwrap_err();
        assert!(matches!(e, ExportError::DuplicateEntry(_)), "{e:?}");
        // Symlink.
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        z.add_symlink("link.xml", "/etc/passwd", zip::write::SimpleFileOptions::default()).unwrap();
        let e = unzip_err(z.finish().unwrap().into_inner(), l);
        assert!(matches!(e, ExportError::NotAFile(_)), "{e:?}");
        // Zip bomb: 50 MB of zeros compresses to ~50 KB.
        let zeros = vec![0u8; 50_000_000];
        let bomb = zip_of(&[("bomb.xml", &zeros)]);
        let e = unzip_err(bomb.clone(), l);
        assert!(matches!(e, ExportError::RatioExceeded { max_ratio: 200 }), "{e:?}");
        let e = unzip_err(bomb.clone(), UnpackLimits { max_entry_size: 1_000_000, ..l });
        assert!(matches!(e, ExportError::EntryTooLarge { max: 1_000_000, .. }), "{e:?}");
        let e = unzip_err(bomb, UnpackLimits { max_total_size: 2_000_000, max_ratio: u64::MAX, ..l });
        assert!(matches!(e, ExportError::TotalTooLarge { .. }), "{e:?}");
        let many = zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3")]);
        assert!(matches!(
            unzip_err(many, UnpackLimits { max_entries: 2, ..l }),
            ExportError::TooManyEntries { max: 2 }
        ));
        assert!(matches!(unzip_err(b"not a zip".to_vec(), l), ExportError::Archive(_)));
        let bad_meta = zip_of(&[(METADATA_FILE, b"{\"invoices\": [{}]}")]);
        assert!(matches!(unzip_err(bad_meta, l), ExportError::Metadata(_)));
    }

    #[test]
    fn hostile_targz() {
        let l = UnpackLimits::default();
        let run = |entries: &[(&str, &[u8], tar::EntryType)]| {
            unpack(Compression::TarGz, Cursor::new(targz_of(entries)), l).unwrap_err()
        };
        assert!(matches!(run(&[("../x", b"1", tar::EntryType::Regular)]), ExportError::UnsafePath(_)));
        assert!(matches!(run(&[("/x", b"1", tar::EntryType::Regular)]), ExportError::UnsafePath(_)));
        assert!(matches!(run(&[("l.xml", b"", tar::EntryType::Symlink)]), ExportError::NotAFile(_)));
        assert!(matches!(run(&[("l.xml", b"", tar::EntryType::Link)]), ExportError::NotAFile(_)));
        assert!(matches!(run(&[("dev", b"", tar::EntryType::Char)]), ExportError::NotAFile(_)));
        let e = run(&[("a.xml", b"1", tar::EntryType::Regular), ("a.xml", b"2", tar::EntryType::Regular)]);
        assert!(matches!(e, ExportError::DuplicateEntry(_)), "{e:?}");
        let zeros = vec![0u8; 40_000_000];
        let e = run(&[("bomb.xml", &zeros, tar::EntryType::Regular)]);
        assert!(matches!(e, ExportError::RatioExceeded { .. }), "{e:?}");
        // A GNU long-name header claiming 8 GB: refused before the tar reader buffers it.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(8_000_000_000);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend(std::iter::repeat_n(b'a', 4 * 1024 * 1024));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).unwrap();
        let bomb = gz.finish().unwrap();
        let e = unpack(Compression::TarGz, Cursor::new(bomb), l).unwrap_err();
        assert!(matches!(&e, ExportError::Archive(io) if io.to_string().contains("extension")), "{e:?}");
        // Long names within the bound still work (GNU long-name extension).
        let long = format!("{}.xml", "x".repeat(150));
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        t.append_data(&mut h, &long, &b"<a>"[..]).unwrap();
        let ok = t.into_inner().unwrap().finish().unwrap();
        let pkg = unpack(Compression::TarGz, Cursor::new(ok), l).unwrap();
        assert_eq!(pkg.files[0].name, long);
        let e = unpack(Compression::TarGz, Cursor::new(b"garbage".to_vec()), l).unwrap_err();
        assert!(matches!(e, ExportError::Archive(_)), "{e:?}");
    }
}
