//! SHA-256 (one-shot and streaming) and the "hash + size" [`FileDigest`].

use alloc::string::String;
use sha2::{Digest, Sha256};

use crate::encoding::{b64_encode, b64url_encode};

/// SHA-256 of `data`.
pub fn sha256(data: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(data.as_ref()).into()
}

/// Incremental SHA-256 that also counts bytes; [`Sha256Stream::finish`] yields a [`FileDigest`].
#[derive(Debug, Clone, Default)]
pub struct Sha256Stream {
    hasher: Sha256,
    size: u64,
}

impl Sha256Stream {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.size += data.len() as u64;
    }

    /// Finish: the hash and the number of bytes fed.
    pub fn finish(self) -> FileDigest {
        FileDigest { sha256: self.hasher.finalize().into(), size: self.size }
    }
}

#[cfg(feature = "std")]
impl std::io::Write for Sha256Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 plus byte length of a document: what KSeF wants for invoices
/// (`invoiceHash`/`invoiceSize`), batch files (`fileHash`/`fileSize`) and parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileDigest {
    /// Raw SHA-256.
    pub sha256: [u8; 32],
    /// Size in bytes.
    pub size: u64,
}

impl FileDigest {
    /// Digest of an in-memory document.
    pub fn of(data: impl AsRef<[u8]>) -> Self {
        let data = data.as_ref();
        Self { sha256: sha256(data), size: data.len() as u64 }
    }

    /// The hash as standard Base64 (44 chars, the JSON `Sha256HashBase64` form).
    pub fn sha256_b64(&self) -> String {
        b64_encode(self.sha256)
    }

    /// The hash as Base64URL without padding (the QR-link form).
    pub fn sha256_b64url(&self) -> String {
        b64url_encode(self.sha256)
    }
}
