//! Streaming batch-package builder.
//!
//! Invoices go into an archive (ZIP by default, `tar.gz` on request) that is never held in
//! memory: the archive byte stream is hashed as it is produced (`batchFile.fileHash`/`fileSize`),
//! cut into parts of at most [`MAX_PART_SIZE`] plaintext bytes, and every part is encrypted on
//! the fly (AES-256-CBC/PKCS#7, session key and IV, each part padded independently) into a
//! [`PartSink`] while its ciphertext is hashed (`fileParts[].fileHash`/`fileSize`). One pass,
//! memory bounded by one invoice plus the compressor's window.
//!
//! KSeF limits are checked while building, so a package that would be refused is reported
//! before any session is opened, with an error naming the limit ([`LimitError`]).

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};

use ksef_crypto::symmetric::CbcEncryptor;
use ksef_crypto::{FileDigest, SessionKey, Sha256Stream};
use ksef_model::types::{BatchFileInfo, BatchFilePartInfo, CompressionType, Sha256HashBase64};

/// Largest part KSeF accepts, measured **before** encryption: 100 MB (decimal).
pub const MAX_PART_SIZE: u64 = 100_000_000;
/// Most parts one package may have.
pub const MAX_PARTS: u32 = 50;
/// Largest unencrypted archive: 5 GB (decimal).
pub const MAX_ARCHIVE_SIZE: u64 = 5_000_000_000;
/// Most invoices in one session.
pub const MAX_INVOICES: usize = 10_000;
/// Largest invoice without attachments: 1 MB (decimal).
pub const MAX_INVOICE_SIZE: u64 = 1_000_000;
/// Largest invoice with attachments (a `<Zalacznik>` element): 3 MB (decimal).
pub const MAX_INVOICE_WITH_ATTACHMENT_SIZE: u64 = 3_000_000;

/// Archive format of a batch package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// ZIP with deflate (the KSeF default).
    #[default]
    Zip,
    /// POSIX tar compressed with gzip (API 2.6+).
    TarGz,
}

impl Compression {
    /// The `compressionType` value of the request.
    pub fn to_model(self) -> CompressionType {
        match self {
            Self::Zip => CompressionType::Zip,
            Self::TarGz => CompressionType::TarGz,
        }
    }
}

/// Limits the builder enforces; [`Default`] is KSeF's. Lower them in tests, or raise them when
/// KSeF has granted the context higher limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Plaintext bytes per part.
    pub max_part_size: u64,
    /// Parts per package.
    pub max_parts: u32,
    /// Unencrypted archive bytes.
    pub max_archive_size: u64,
    /// Invoices per package.
    pub max_invoices: usize,
    /// Bytes per invoice without attachments.
    pub max_invoice_size: u64,
    /// Bytes per invoice with attachments.
    pub max_invoice_with_attachment_size: u64,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_part_size: MAX_PART_SIZE,
            max_parts: MAX_PARTS,
            max_archive_size: MAX_ARCHIVE_SIZE,
            max_invoices: MAX_INVOICES,
            max_invoice_size: MAX_INVOICE_SIZE,
            max_invoice_with_attachment_size: MAX_INVOICE_WITH_ATTACHMENT_SIZE,
        }
    }
}

/// A KSeF limit the package would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// More parts than allowed.
    #[error("the archive needs more than {max} parts of at most {part_size} bytes (limit: {max} parts per package)")]
    TooManyParts {
        /// The part limit.
        max: u32,
        /// The part size used.
        part_size: u64,
    },
    /// The unencrypted archive is too large.
    #[error("the archive exceeds {max} bytes (limit: package size)")]
    ArchiveTooLarge {
        /// The archive size limit.
        max: u64,
    },
    /// More invoices than allowed.
    #[error("more than {max} invoices (limit: invoices per session)")]
    TooManyInvoices {
        /// The invoice-count limit.
        max: usize,
    },
    /// One invoice is too large.
    #[error(
        "invoice `{name}` has {size} bytes, over {max} (limit: invoice size {})",
        if *with_attachment { "with attachments" } else { "without attachments" }
    )]
    InvoiceTooLarge {
        /// The file name of the invoice.
        name: String,
        /// Its size (for a reader: at least this many bytes).
        size: u64,
        /// The limit that applies.
        max: u64,
        /// Whether the invoice has a `<Zalacznik>` element (the 3 MB limit applies).
        with_attachment: bool,
    },
}

/// Why a package could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A KSeF limit would be broken.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The file name cannot be an archive entry name.
    #[error("invalid invoice file name `{0}` (must be a plain, non-empty file name)")]
    InvalidFileName(String),
    /// The file name was already added.
    #[error("duplicate invoice file name `{0}`")]
    DuplicateFileName(String),
    /// No invoice was added.
    #[error("the package holds no invoices")]
    Empty,
    /// An earlier error left the archive incomplete; start a new builder.
    #[error("an earlier error aborted this package")]
    Aborted,
    /// Reading an invoice, compressing, or writing a part failed.
    #[error("I/O error while building the package")]
    Io(#[source] io::Error),
}

impl From<io::Error> for BatchError {
    fn from(e: io::Error) -> Self {
        // Limit errors travel through the archive writers (zip wraps them once more) as
        // `io::Error`s; find them again.
        let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
        while let Some(err) = cur {
            if let Some(limit) = err.downcast_ref::<LimitError>() {
                return Self::Limit(limit.clone());
            }
            cur = match err.downcast_ref::<io::Error>() {
                Some(io) => io.get_ref().map(|r| r as _),
                None => err.source(),
            };
        }
        Self::Io(e)
    }
}

/// Where encrypted parts go: one writer per part, opened when its first byte is ready.
pub trait PartSink {
    /// What a finished part becomes (a file, a buffer, ...).
    type Part;
    /// The writer of one part.
    type Writer: Write;
    /// Open the writer for part `ordinal` (1-based).
    ///
    /// # Errors
    /// Any I/O error; it aborts the build.
    fn begin(&mut self, ordinal: u32) -> io::Result<Self::Writer>;
    /// The part is complete: flush/close `writer` and describe where it went.
    ///
    /// # Errors
    /// Any I/O error; it aborts the build.
    fn end(&mut self, ordinal: u32, writer: Self::Writer) -> io::Result<Self::Part>;
}

/// Keeps encrypted parts in memory (tests and small packages).
#[derive(Debug, Default, Clone, Copy)]
pub struct MemorySink;

impl PartSink for MemorySink {
    type Part = Vec<u8>;
    type Writer = Vec<u8>;
    fn begin(&mut self, _ordinal: u32) -> io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn end(&mut self, _ordinal: u32, writer: Vec<u8>) -> io::Result<Vec<u8>> {
        Ok(writer)
    }
}

/// Spools each encrypted part into its own anonymous temporary file (deleted on drop).
#[derive(Debug, Default)]
pub struct TempFileSink {
    dir: Option<PathBuf>,
}

impl TempFileSink {
    /// Temporary files in the system temporary directory.
    pub fn new() -> Self {
        Self::default()
    }
    /// Temporary files in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: Some(dir.into()) }
    }
}

/// An encrypted part spooled to a temporary file by [`TempFileSink`]; deleted on drop.
pub struct SpooledPart {
    file: tempfile::NamedTempFile,
}

impl fmt::Debug for SpooledPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpooledPart").field("path", &self.file.path()).finish()
    }
}

impl SpooledPart {
    /// The path of the temporary file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
    /// A fresh reader positioned at the start of the part.
    ///
    /// # Errors
    /// If the file cannot be reopened.
    pub fn open(&self) -> io::Result<File> {
        self.file.reopen()
    }
    /// Read the whole part into memory.
    ///
    /// # Errors
    /// If the file cannot be read.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open()?.read_to_end(&mut out)?;
        Ok(out)
    }
}

impl PartSink for TempFileSink {
    type Part = SpooledPart;
    type Writer = BufWriter<tempfile::NamedTempFile>;
    fn begin(&mut self, ordinal: u32) -> io::Result<Self::Writer> {
        let mut b = tempfile::Builder::new();
        let prefix = format!("ksef-part-{ordinal:03}-");
        b.prefix(&prefix).suffix(".aes");
        let file = match &self.dir {
            Some(d) => b.tempfile_in(d)?,
            None => b.tempfile()?,
        };
        Ok(BufWriter::with_capacity(256 * 1024, file))
    }
    fn end(&mut self, _ordinal: u32, writer: Self::Writer) -> io::Result<SpooledPart> {
        let file = writer.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(SpooledPart { file })
    }
}

/// Writes each encrypted part to `dir/<prefix>-NNN.aes` (kept after the build).
#[derive(Debug, Clone)]
pub struct DirSink {
    dir: PathBuf,
    prefix: String,
}

impl DirSink {
    /// Parts named `<prefix>-001.aes`, `<prefix>-002.aes`, ... in `dir` (which must exist).
    pub fn new(dir: impl Into<PathBuf>, prefix: impl Into<String>) -> Self {
        Self { dir: dir.into(), prefix: prefix.into() }
    }
}

/// The writer of one [`DirSink`] part.
#[derive(Debug)]
pub struct DirPartWriter {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl Write for DirPartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl PartSink for DirSink {
    type Part = PathBuf;
    type Writer = DirPartWriter;
    fn begin(&mut self, ordinal: u32) -> io::Result<DirPartWriter> {
        let path = self.dir.join(format!("{}-{ordinal:03}.aes", self.prefix));
        let file = File::create(&path)?;
        Ok(DirPartWriter { path, writer: BufWriter::with_capacity(256 * 1024, file) })
    }
    fn end(&mut self, _ordinal: u32, w: DirPartWriter) -> io::Result<PathBuf> {
        w.writer.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        Ok(w.path)
    }
}

/// One invoice in the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceEntry {
    /// The archive entry name (becomes `invoiceFileName` in statuses).
    pub file_name: String,
    /// SHA-256 and size of the invoice XML (`invoiceHash` in statuses).
    pub digest: FileDigest,
    /// Whether the invoice has a `<Zalacznik>` element.
    pub has_attachment: bool,
}

/// One encrypted part of a package.
#[derive(Debug)]
pub struct EncryptedPart<P> {
    /// 1-based ordinal number.
    pub ordinal: u32,
    /// Plaintext bytes of the archive in this part.
    pub plain_size: u64,
    /// SHA-256 and size of the **encrypted** part (what `fileParts[]` declares).
    pub encrypted: FileDigest,
    /// Where the sink put it.
    pub location: P,
}

/// A finished package: the request description plus where each encrypted part is.
#[derive(Debug)]
pub struct BatchPackage<P> {
    /// The archive format.
    pub compression: Compression,
    /// SHA-256 and size of the whole **unencrypted** archive.
    pub archive: FileDigest,
    /// The encrypted parts, in order.
    pub parts: Vec<EncryptedPart<P>>,
    /// The invoices, in the order they were added.
    pub invoices: Vec<InvoiceEntry>,
}

impl<P> BatchPackage<P> {
    /// The `batchFile` of `POST /sessions/batch`.
    ///
    /// # Panics
    /// Never: a finished package has a non-empty archive and non-empty parts.
    pub fn batch_file_info(&self) -> BatchFileInfo {
        BatchFileInfo {
            compression_type: Some(self.compression.to_model()),
            file_hash: hash_b64(&self.archive),
            file_size: NonZeroU64::new(self.archive.size).unwrap_or(NonZeroU64::MIN),
            file_parts: self
                .parts
                .iter()
                .map(|p| BatchFilePartInfo {
                    file_hash: hash_b64(&p.encrypted),
                    file_size: NonZeroU64::new(p.encrypted.size).unwrap_or(NonZeroU64::MIN),
                    ordinal_number: NonZeroU32::new(p.ordinal).unwrap_or(NonZeroU32::MIN),
                })
                .collect(),
        }
    }

    /// The invoice whose SHA-256 (standard Base64, as in `invoiceHash`) is `hash_b64`.
    pub fn invoice_by_hash(&self, hash_b64: &str) -> Option<&InvoiceEntry> {
        self.invoices.iter().find(|i| i.digest.sha256_b64() == hash_b64)
    }

    /// The invoice with archive entry name `name` (`invoiceFileName`).
    pub fn invoice_by_name(&self, name: &str) -> Option<&InvoiceEntry> {
        self.invoices.iter().find(|i| i.file_name == name)
    }
}

fn hash_b64(d: &FileDigest) -> Sha256HashBase64 {
    // A standard-Base64 SHA-256 is always 44 characters, the only constraint of the type.
    Sha256HashBase64::try_from(d.sha256_b64()).unwrap_or_else(|_| unreachable!("44-char Base64"))
}

/// Cuts the archive stream into parts, encrypting and hashing each; hashes the whole stream.
struct Splitter<'k, S: PartSink> {
    key: &'k SessionKey,
    sink: S,
    limits: BatchLimits,
    whole: Sha256Stream,
    current: Option<OpenPart<S::Writer>>,
    done: Vec<EncryptedPart<S::Part>>,
    scratch: Vec<u8>,
}

struct OpenPart<W> {
    ordinal: u32,
    plain: u64,
    enc: CbcEncryptor,
    hash: Sha256Stream,
    writer: W,
}

fn limit_io(e: LimitError) -> io::Error {
    io::Error::other(e)
}

impl<S: PartSink> Splitter<'_, S> {
    fn close_current(&mut self) -> io::Result<()> {
        if let Some(mut p) = self.current.take() {
            self.scratch.clear();
            p.enc.finish(&mut self.scratch);
            p.hash.update(&self.scratch);
            p.writer.write_all(&self.scratch)?;
            let location = self.sink.end(p.ordinal, p.writer)?;
            self.done.push(EncryptedPart {
                ordinal: p.ordinal,
                plain_size: p.plain,
                encrypted: p.hash.finish(),
                location,
            });
        }
        Ok(())
    }

    fn open_next(&mut self) -> io::Result<()> {
        let ordinal = self.done.len() as u32 + 1;
        if ordinal > self.limits.max_parts {
            return Err(limit_io(LimitError::TooManyParts {
                max: self.limits.max_parts,
                part_size: self.limits.max_part_size,
            }));
        }
        let writer = self.sink.begin(ordinal)?;
        self.current =
            Some(OpenPart { ordinal, plain: 0, enc: self.key.encryptor(), hash: Sha256Stream::new(), writer });
        Ok(())
    }
}

impl<S: PartSink> Write for Splitter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let total = self.whole_size();
        if total + buf.len() as u64 > self.limits.max_archive_size {
            return Err(limit_io(LimitError::ArchiveTooLarge { max: self.limits.max_archive_size }));
        }
        if self.current.as_ref().is_some_and(|p| p.plain >= self.limits.max_part_size) {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let part_size = self.limits.max_part_size;
        let Some(p) = self.current.as_mut() else { return Err(io::Error::other("no open part")) };
        let room = usize::try_from(part_size - p.plain).unwrap_or(usize::MAX);
        let n = buf.len().min(room);
        let chunk = &buf[..n];
        self.whole.update(chunk);
        p.plain += n as u64;
        self.scratch.clear();
        p.enc.update(chunk, &mut self.scratch);
        p.hash.update(&self.scratch);
        p.writer.write_all(&self.scratch)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: PartSink> Splitter<'_, S> {
    fn whole_size(&self) -> u64 {
        self.done.iter().map(|p| p.plain_size).sum::<u64>() + self.current.as_ref().map_or(0, |p| p.plain)
    }
}

enum Archiver<'k, S: PartSink> {
    Zip(Box<zip::ZipWriter<zip::write::StreamWriter<Splitter<'k, S>>>>),
    TarGz(Box<tar::Builder<flate2::write::GzEncoder<Splitter<'k, S>>>>),
}

/// Builds a batch package in one streaming pass. See the [module docs](self).
pub struct BatchBuilder<'k, S: PartSink> {
    archiver: Archiver<'k, S>,
    compression: Compression,
    limits: BatchLimits,
    names: HashSet<String>,
    invoices: Vec<InvoiceEntry>,
    buf: Vec<u8>,
    aborted: bool,
}

impl<S: PartSink> fmt::Debug for BatchBuilder<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("compression", &self.compression)
            .field("limits", &self.limits)
            .field("invoices", &self.invoices.len())
            .finish_non_exhaustive()
    }
}

impl<'k, S: PartSink> BatchBuilder<'k, S> {
    /// A builder with KSeF's limits, encrypting with `key` into `sink`.
    pub fn new(key: &'k SessionKey, compression: Compression, sink: S) -> Self {
        Self::with_limits(key, compression, sink, BatchLimits::default())
    }

    /// A builder with custom limits (part size for tests, or raised per-context limits).
    pub fn with_limits(key: &'k SessionKey, compression: Compression, sink: S, limits: BatchLimits) -> Self {
        let splitter = Splitter {
            key,
            sink,
            limits,
            whole: Sha256Stream::new(),
            current: None,
            done: Vec::new(),
            scratch: Vec::with_capacity(64 * 1024),
        };
        let archiver = match compression {
            Compression::Zip => Archiver::Zip(Box::new(zip::ZipWriter::new_stream(splitter))),
            Compression::TarGz => {
                let gz = flate2::write::GzEncoder::new(splitter, flate2::Compression::default());
                let mut tar = tar::Builder::new(gz);
                tar.mode(tar::HeaderMode::Deterministic);
                Archiver::TarGz(Box::new(tar))
            }
        };
        Self {
            archiver,
            compression,
            limits,
            names: HashSet::new(),
            invoices: Vec::new(),
            buf: Vec::new(),
            aborted: false,
        }
    }

    /// Invoices added so far.
    pub fn invoices(&self) -> &[InvoiceEntry] {
        &self.invoices
    }

    /// Add one invoice from memory.
    ///
    /// # Errors
    /// [`BatchError::InvalidFileName`], [`BatchError::DuplicateFileName`], a [`LimitError`]
    /// (invoice size, invoice count, archive size, part count), or an I/O error of the sink.
    pub fn add_invoice(&mut self, file_name: &str, xml: &[u8]) -> Result<&InvoiceEntry, BatchError> {
        if self.aborted {
            return Err(BatchError::Aborted);
        }
        self.check_name(file_name)?;
        if self.invoices.len() >= self.limits.max_invoices {
            return Err(LimitError::TooManyInvoices { max: self.limits.max_invoices }.into());
        }
        let has_attachment = has_attachment(xml);
        let max =
            if has_attachment { self.limits.max_invoice_with_attachment_size } else { self.limits.max_invoice_size };
        if xml.len() as u64 > max {
            return Err(LimitError::InvoiceTooLarge {
                name: file_name.to_owned(),
                size: xml.len() as u64,
                max,
                with_attachment: has_attachment,
            }
            .into());
        }
        if let Err(e) = self.write_entry(file_name, xml) {
            // The archive stream now ends mid-entry: nothing more can be added.
            self.aborted = true;
            return Err(e.into());
        }
        self.names.insert(file_name.to_owned());
        self.invoices.push(InvoiceEntry {
            file_name: file_name.to_owned(),
            digest: FileDigest::of(xml),
            has_attachment,
        });
        Ok(self.invoices.last().unwrap_or_else(|| unreachable!("just pushed")))
    }

    /// Add one invoice from a reader. At most the larger invoice limit (+1 byte) is read into
    /// memory; a longer stream is refused with [`LimitError::InvoiceTooLarge`].
    ///
    /// # Errors
    /// As [`BatchBuilder::add_invoice`], plus read errors.
    pub fn add_invoice_reader(&mut self, file_name: &str, reader: impl Read) -> Result<&InvoiceEntry, BatchError> {
        let cap = self.limits.max_invoice_size.max(self.limits.max_invoice_with_attachment_size);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        reader.take(cap.saturating_add(1)).read_to_end(&mut buf).map_err(BatchError::Io)?;
        if buf.len() as u64 > cap {
            let with_attachment = has_attachment(&buf);
            self.buf = buf;
            return Err(LimitError::InvoiceTooLarge {
                name: file_name.to_owned(),
                size: cap + 1,
                max: if with_attachment {
                    self.limits.max_invoice_with_attachment_size
                } else {
                    self.limits.max_invoice_size
                },
                with_attachment,
            }
            .into());
        }
        let r = self.add_invoice(file_name, &buf).map(|e| e.digest);
        self.buf = buf;
        r?;
        Ok(self.invoices.last().unwrap_or_else(|| unreachable!("just pushed")))
    }

    /// Add the file at `path` under its own file name.
    ///
    /// # Errors
    /// As [`BatchBuilder::add_invoice_reader`], or [`BatchError::InvalidFileName`] if the path
    /// has no UTF-8 file name.
    pub fn add_invoice_file(&mut self, path: impl AsRef<Path>) -> Result<&InvoiceEntry, BatchError> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| BatchError::InvalidFileName(path.display().to_string()))?
            .to_owned();
        let file = File::open(path).map_err(BatchError::Io)?;
        self.add_invoice_reader(&name, file)
    }

    fn check_name(&self, name: &str) -> Result<(), BatchError> {
        let bad = name.is_empty()
            || name == "."
            || name == ".."
            || name.len() > 255
            || name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
        if bad {
            return Err(BatchError::InvalidFileName(name.to_owned()));
        }
        if self.names.contains(name) {
            return Err(BatchError::DuplicateFileName(name.to_owned()));
        }
        Ok(())
    }

    fn write_entry(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        match &mut self.archiver {
            Archiver::Zip(z) => {
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(false)
                    .unix_permissions(0o644);
                z.start_file(name, opts)?;
                z.write_all(data)
            }
            Archiver::TarGz(t) => {
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                header.set_mtime(0);
                header.set_entry_type(tar::EntryType::Regular);
                t.append_data(&mut header, name, data)
            }
        }
    }

    /// Finish the archive, flush the last part and return the package.
    ///
    /// # Errors
    /// [`BatchError::Empty`] without invoices, a [`LimitError`] if the archive trailer breaks
    /// a limit, or an I/O error of the sink.
    pub fn finish(self) -> Result<BatchPackage<S::Part>, BatchError> {
        if self.aborted {
            return Err(BatchError::Aborted);
        }
        if self.invoices.is_empty() {
            return Err(BatchError::Empty);
        }
        let mut splitter = match self.archiver {
            Archiver::Zip(z) => z.finish().map_err(io::Error::from)?.into_inner(),
            Archiver::TarGz(t) => t.into_inner()?.finish()?,
        };
        splitter.close_current()?;
        let archive = splitter.whole.finish();
        Ok(BatchPackage { compression: self.compression, archive, parts: splitter.done, invoices: self.invoices })
    }
}

/// Whether the invoice XML has a `Zalacznik` element (with or without a namespace prefix),
/// which raises the size limit to [`MAX_INVOICE_WITH_ATTACHMENT_SIZE`].
pub fn has_attachment(xml: &[u8]) -> bool {
    const NAME: &[u8] = b"Zalacznik";
    let is_name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let mut from = 0;
    while let Some(pos) = find(&xml[from..], NAME) {
        let at = from + pos;
        from = at + 1;
        let after = xml.get(at + NAME.len()).copied();
        if !matches!(after, Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')) {
            continue;
        }
        let mut i = at;
        if i > 0 && xml[i - 1] == b':' {
            i -= 1;
            let end = i;
            while i > 0 && is_name(xml[i - 1]) {
                i -= 1;
            }
            if i == end {
                continue;
            }
        }
        if i > 0 && xml[i - 1] == b'<' {
            return true;
        }
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn key() -> SessionKey {
        SessionKey::from_parts(&[7u8; 32], &[9u8; 16]).unwrap()
    }

    fn invoice(i: usize, len: usize) -> Vec<u8> {
        let mut s = format!("<Faktura><Nr>{i}</Nr><Dane>");
        let mut x: u64 = i as u64 * 2654435761 + 1;
        while s.len() < len.saturating_sub(20) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(&format!("{:x}", x % 1000));
        }
        s.push_str("</Dane></Faktura>");
        s.into_bytes()
    }

    fn limits(part: u64) -> BatchLimits {
        BatchLimits { max_part_size: part, ..BatchLimits::default() }
    }

    fn decrypt_join(key: &SessionKey, pkg: &BatchPackage<Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &pkg.parts {
            let plain = key.decrypt(&p.location).unwrap();
            assert_eq!(plain.len() as u64, p.plain_size);
            out.extend_from_slice(&plain);
        }
        out
    }

    fn build(c: Compression, lim: BatchLimits, invoices: &[(String, Vec<u8>)]) -> BatchPackage<Vec<u8>> {
        let k = key();
        let mut b = BatchBuilder::with_limits(&k, c, MemorySink, lim);
        for (n, x) in invoices {
            b.add_invoice(n, x).unwrap();
        }
        b.finish().unwrap()
    }

    fn sample(n: usize, len: usize) -> Vec<(String, Vec<u8>)> {
        (0..n).map(|i| (format!("inv-{i:04}.xml"), invoice(i, len))).collect()
    }

    fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        (0..a.len())
            .map(|i| {
                let mut f = a.by_index(i).unwrap();
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                (f.name().unwrap().into_owned(), v)
            })
            .collect()
    }

    fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), v)
            })
            .collect()
    }

    #[test]
    fn zip_round_trip_and_hashes() {
        let inv = sample(40, 3000);
        let pkg = build(Compression::Zip, limits(4096), &inv);
        assert!(pkg.parts.len() > 2, "expected several parts, got {}", pkg.parts.len());
        let k = key();
        let joined = decrypt_join(&k, &pkg);
        assert_eq!(FileDigest::of(&joined), pkg.archive);
        for p in &pkg.parts {
            assert_eq!(FileDigest::of(&p.location), p.encrypted);
            assert!(p.plain_size <= 4096);
        }
        assert_eq!(unzip(&joined), inv);
        for (e, (n, x)) in pkg.invoices.iter().zip(&inv) {
            assert_eq!(&e.file_name, n);
            assert_eq!(e.digest, FileDigest::of(x));
        }
        let info = pkg.batch_file_info();
        assert_eq!(info.file_parts.len(), pkg.parts.len());
        assert_eq!(info.file_size.get(), joined.len() as u64);
        assert_eq!(*info.file_hash, ksef_crypto::encoding::b64_encode(ksef_crypto::sha256(&joined)));
        assert_eq!(info.file_parts[1].ordinal_number.get(), 2);
        assert_eq!(info.compression_type, Some(CompressionType::Zip));
        let first = &inv[3];
        let h = FileDigest::of(&first.1).sha256_b64();
        assert_eq!(pkg.invoice_by_hash(&h).unwrap().file_name, first.0);
        assert!(pkg.invoice_by_name("inv-0003.xml").is_some());
    }

    #[test]
    fn targz_round_trip() {
        let inv = sample(25, 2500);
        let pkg = build(Compression::TarGz, limits(1000), &inv);
        let joined = decrypt_join(&key(), &pkg);
        assert_eq!(FileDigest::of(&joined), pkg.archive);
        assert_eq!(untar(&joined), inv);
        assert_eq!(pkg.batch_file_info().compression_type, Some(CompressionType::TarGz));
    }

    #[test]
    fn split_boundaries() {
        // Find the archive length of a fixed input, then pick part sizes around it.
        let inv = sample(3, 500);
        let one = build(Compression::Zip, limits(u64::MAX / 2), &inv);
        assert_eq!(one.parts.len(), 1);
        let len = one.archive.size;
        // Exact multiple: len split into parts of len/… — use a divisor of len when possible.
        let divisor = (2..=len).find(|d| len.is_multiple_of(*d) && len / d >= 16).unwrap_or(len);
        let lim = BatchLimits { max_parts: u32::MAX, ..limits(len / divisor) };
        let exact = build(Compression::Zip, lim, &inv);
        assert_eq!(exact.parts.len() as u64, divisor, "exact multiple makes no empty trailing part");
        assert!(exact.parts.iter().all(|p| p.plain_size == len / divisor));
        // Part size == len: one part; len - 1: two parts, the second holding one byte.
        let equal = build(Compression::Zip, limits(len), &inv);
        assert_eq!(equal.parts.len(), 1);
        let over = build(Compression::Zip, limits(len - 1), &inv);
        assert_eq!(over.parts.len(), 2);
        assert_eq!(over.parts[1].plain_size, 1);
        assert_eq!(over.parts[1].encrypted.size, 16);
        // Same archive bytes regardless of the split.
        assert_eq!(exact.archive, one.archive);
        assert_eq!(over.archive, one.archive);
        assert_eq!(decrypt_join(&key(), &over).len() as u64, len);
    }

    #[test]
    fn too_many_parts() {
        let inv = sample(20, 3000);
        let k = key();
        let lim = BatchLimits { max_part_size: 1000, max_parts: 3, ..BatchLimits::default() };
        let mut b = BatchBuilder::with_limits(&k, Compression::Zip, MemorySink, lim);
        let mut err = None;
        for (n, x) in &inv {
            if let Err(e) = b.add_invoice(n, x) {
                err = Some(e);
                break;
            }
        }
        let err = match err {
            Some(e) => e,
            None => b.finish().unwrap_err(),
        };
        assert!(matches!(err, BatchError::Limit(LimitError::TooManyParts { max: 3, .. })), "{err:?}");
        assert!(err.to_string().contains("3 parts"), "{err}");
    }

    #[test]
    fn archive_too_large() {
        let k = key();
        let lim = BatchLimits { max_archive_size: 2000, ..BatchLimits::default() };
        let mut b = BatchBuilder::with_limits(&k, Compression::Zip, MemorySink, lim);
        let mut failed = None;
        for (n, x) in sample(20, 3000) {
            if let Err(e) = b.add_invoice(&n, &x) {
                failed = Some(e);
                break;
            }
        }
        let err = failed.expect("limit must trigger");
        assert!(matches!(err, BatchError::Limit(LimitError::ArchiveTooLarge { max: 2000 })), "{err:?}");
        assert!(matches!(b.add_invoice("late.xml", b"<a/>"), Err(BatchError::Aborted)));
        assert!(matches!(b.finish(), Err(BatchError::Aborted)));
    }

    #[test]
    fn invoice_limits() {
        let k = key();
        let lim = BatchLimits { max_invoices: 2, ..BatchLimits::default() };
        let mut b = BatchBuilder::with_limits(&k, Compression::Zip, MemorySink, lim);
        b.add_invoice("a.xml", b"<a/>").unwrap();
        assert!(matches!(b.add_invoice("a.xml", b"<a/>"), Err(BatchError::DuplicateFileName(_))));
        assert!(matches!(b.add_invoice("../x.xml", b"<a/>"), Err(BatchError::InvalidFileName(_))));
        assert!(matches!(b.add_invoice("", b"<a/>"), Err(BatchError::InvalidFileName(_))));
        b.add_invoice("b.xml", b"<a/>").unwrap();
        let e = b.add_invoice("c.xml", b"<a/>").unwrap_err();
        assert!(matches!(e, BatchError::Limit(LimitError::TooManyInvoices { max: 2 })));
        assert!(e.to_string().contains("invoices per session"));

        let mut b = BatchBuilder::new(&k, Compression::Zip, MemorySink);
        let big = vec![b'x'; 1_000_001];
        let e = b.add_invoice("big.xml", &big).unwrap_err();
        assert!(
            matches!(&e, BatchError::Limit(LimitError::InvoiceTooLarge { max: 1_000_000, with_attachment: false, .. })),
            "{e:?}"
        );
        assert!(e.to_string().contains("big.xml"));
        let mut ok = b"<Faktura><fa:Zalacznik>".to_vec();
        ok.resize(1_500_000, b' ');
        b.add_invoice("att.xml", &ok).unwrap();
        assert!(b.invoices()[0].has_attachment);
        ok.resize(3_000_001, b' ');
        let e = b.add_invoice_reader("att2.xml", Cursor::new(&ok)).unwrap_err();
        assert!(matches!(e, BatchError::Limit(LimitError::InvoiceTooLarge { max: 3_000_000, .. })), "{e:?}");
        let e = b.add_invoice_reader("big2.xml", Cursor::new(&big)).unwrap_err();
        assert!(matches!(e, BatchError::Limit(LimitError::InvoiceTooLarge { max: 1_000_000, .. })), "{e:?}");
        let e = b.add_invoice_reader("huge.xml", Cursor::new(vec![b'x'; 3_000_001])).unwrap_err();
        assert!(
            matches!(e, BatchError::Limit(LimitError::InvoiceTooLarge { max: 1_000_000, with_attachment: false, .. })),
            "{e:?}"
        );
        b.add_invoice_reader("small.xml", Cursor::new(b"<x/>")).unwrap();
        assert_eq!(b.finish().unwrap().invoices.len(), 2);

        let b = BatchBuilder::new(&k, Compression::Zip, MemorySink);
        assert!(matches!(b.finish(), Err(BatchError::Empty)));
    }

    #[test]
    fn attachment_detection() {
        assert!(has_attachment(b"<a><Zalacznik>x</Zalacznik></a>"));
        assert!(has_attachment(b"<a><tns:Zalacznik xmlns:tns='x'/></a>"));
        assert!(has_attachment(b"<a><Zalacznik/></a>"));
        assert!(!has_attachment(b"<a><ZalacznikInny/></a>"));
        assert!(!has_attachment(b"<a>Zalacznik</a>"));
        assert!(!has_attachment(b"<a><:Zalacznik/></a>"));
        assert!(!has_attachment(b""));
    }

    #[test]
    fn temp_file_and_dir_sinks() {
        let inv = sample(10, 2000);
        let k = key();
        let mut b = BatchBuilder::with_limits(&k, Compression::Zip, TempFileSink::new(), limits(3000));
        for (n, x) in &inv {
            b.add_invoice(n, x).unwrap();
        }
        let pkg = b.finish().unwrap();
        let mut joined = Vec::new();
        for p in &pkg.parts {
            let enc = p.location.read_all().unwrap();
            assert_eq!(FileDigest::of(&enc), p.encrypted);
            joined.extend(k.decrypt(&enc).unwrap());
        }
        assert_eq!(unzip(&joined), inv);

        let dir = tempfile::tempdir().unwrap();
        let mut b = BatchBuilder::with_limits(&k, Compression::TarGz, DirSink::new(dir.path(), "pkg"), limits(3000));
        for (n, x) in &inv {
            b.add_invoice(n, x).unwrap();
        }
        let pkg = b.finish().unwrap();
        assert!(pkg.parts[0].location.ends_with("pkg-001.aes"));
        let mut joined = Vec::new();
        for p in &pkg.parts {
            joined.extend(k.decrypt(&std::fs::read(&p.location).unwrap()).unwrap());
        }
        assert_eq!(untar(&joined), inv);
    }
}
