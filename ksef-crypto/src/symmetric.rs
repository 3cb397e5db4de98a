//! AES-256-CBC with PKCS#7 padding, as KSeF uses for invoices, batch parts and exports.
//!
//! The IV is **not** prefixed to the ciphertext: it travels separately in
//! `encryption.initializationVector` (see the protocol notes, §4.1).
//! [`CbcEncryptor`] / [`CbcDecryptor`] process data incrementally in constant memory.

use alloc::vec::Vec;
use core::fmt;

use aes::Aes256;
use cbc::cipher::consts::U16;
use cbc::cipher::{
    Array, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockModeDecrypt, BlockSizeUser, KeyInit,
    KeyIvInit,
};
use rand_core::TryCryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// AES block size in bytes.
pub const BLOCK: usize = 16;
/// AES-256 key length in bytes.
pub const KEY_LEN: usize = 32;
/// CBC IV length in bytes.
pub const IV_LEN: usize = 16;

type Block = Array<u8, U16>;

/// Bytes encrypted at a time by [`CbcEncryptor::update`] (a multiple of [`BLOCK`]).
const ENCRYPT_PIECE: usize = 16 * 1024;

/// A per-session AES-256 key and CBC IV. Zeroized on drop; `Debug` shows no secrets.
#[derive(Clone)]
pub struct SessionKey {
    key: [u8; KEY_LEN],
    iv: [u8; IV_LEN],
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey").field("key", &"<redacted>").field("iv", &self.iv).finish()
    }
}

impl SessionKey {
    /// A fresh random key and IV from the caller's CSPRNG.
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let mut k = Self { key: [0; KEY_LEN], iv: [0; IV_LEN] };
        rng.try_fill_bytes(&mut k.key).map_err(|_| Error::Rng)?;
        rng.try_fill_bytes(&mut k.iv).map_err(|_| Error::Rng)?;
        Ok(k)
    }

    /// From an existing key (32 bytes) and IV (16 bytes).
    pub fn from_parts(key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            key: key.try_into().map_err(|_| Error::InvalidLength)?,
            iv: iv.try_into().map_err(|_| Error::InvalidLength)?,
        })
    }

    /// The raw key (secret; wrap it with [`crate::rsa_oaep`] before sending).
    pub fn key_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// The IV (sent in clear as `initializationVector`).
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// One-shot encryption of a whole document. Output length is `len + 16 - len % 16`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(encrypted_len(plaintext.len() as u64) as usize);
        let mut enc = self.encryptor();
        enc.update(plaintext, &mut out);
        enc.finish(&mut out);
        out
    }

    /// One-shot encryption in place: pads `buf` (PKCS#7) and encrypts it where it is, so a large
    /// document needs no second buffer.
    pub fn encrypt_in_place(&self, buf: &mut Vec<u8>) {
        let pad = BLOCK - buf.len() % BLOCK;
        buf.resize(buf.len() + pad, pad as u8);
        let mut enc = self.encryptor();
        let (blocks, _) = Block::slice_as_chunks_mut(buf);
        enc.encrypt_blocks(blocks);
    }

    /// One-shot decryption of a whole document.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(ciphertext.len());
        let mut dec = self.decryptor();
        dec.update(ciphertext, &mut out);
        match dec.finish(&mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                out.zeroize();
                Err(e)
            }
        }
    }

    /// A streaming encryptor starting at this key's IV.
    pub fn encryptor(&self) -> CbcEncryptor {
        CbcEncryptor { cipher: Aes256::new(&self.key.into()), chain: self.iv, buf: [0; BLOCK], buf_len: 0 }
    }

    /// A streaming decryptor starting at this key's IV.
    pub fn decryptor(&self) -> CbcDecryptor {
        CbcDecryptor {
            cipher: cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv.into()),
            buf: [0; BLOCK],
            buf_len: 0,
            held: None,
        }
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

impl ZeroizeOnDrop for SessionKey {}

/// Ciphertext length for a plaintext of `len` bytes (PKCS#7 always adds 1..=16 bytes).
pub const fn encrypted_len(len: u64) -> u64 {
    len + (BLOCK as u64 - len % BLOCK as u64)
}

/// Incremental AES-256-CBC encryptor with PKCS#7 padding; memory use is constant.
pub struct CbcEncryptor {
    cipher: Aes256,
    /// The CBC chaining value: the IV, then the last ciphertext block.
    chain: [u8; BLOCK],
    buf: [u8; BLOCK],
    buf_len: usize,
}

impl fmt::Debug for CbcEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CbcEncryptor").finish_non_exhaustive()
    }
}

impl Drop for CbcEncryptor {
    fn drop(&mut self) {
        self.buf.zeroize();
        self.chain.zeroize();
    }
}

/// CBC encryption of whole blocks in place, run inside the AES backend's closure.
///
/// The `cbc` crate's encryptor passes the chaining value through memory on every block (an IV
/// field behind a reference that may alias the data), which puts store-to-load forwarding on
/// CBC's serial critical path. Here the chaining value is a local block the compiler keeps in an
/// XMM register, and the loop is monomorphized inside the backend's `#[target_feature]` frame, so
/// AES-NI rounds are inlined. Same output as `cbc::Encryptor` (a test checks it).
struct CbcChain<'a> {
    chain: &'a mut [u8; BLOCK],
    /// Plaintext blocks; `None` encrypts `blocks` in place.
    src: Option<&'a [Block]>,
    blocks: &'a mut [Block],
}

impl BlockSizeUser for CbcChain<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for CbcChain<'_> {
    #[inline(always)]
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        #[inline(always)]
        fn step<B: BlockCipherEncBackend<BlockSize = U16>>(backend: &B, chain: &mut Block, plain: &Block) -> Block {
            let mut t = Block::default();
            for ((t, p), c) in t.iter_mut().zip(plain.iter()).zip(chain.iter()) {
                *t = p ^ c;
            }
            backend.encrypt_block((&mut t).into());
            *chain = t;
            t
        }
        let mut chain = Block::from(*self.chain);
        match self.src {
            Some(src) => {
                for (out, plain) in self.blocks.iter_mut().zip(src) {
                    *out = step(backend, &mut chain, plain);
                }
            }
            None => {
                for block in self.blocks.iter_mut() {
                    *block = step(backend, &mut chain, block);
                }
            }
        }
        *self.chain = chain.into();
    }
}

impl CbcEncryptor {
    /// Encrypt `input`, appending every completed ciphertext block to `out`.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.buf_len > 0 {
            let take = (BLOCK - self.buf_len).min(input.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&input[..take]);
            self.buf_len += take;
            input = &input[take..];
            if self.buf_len < BLOCK {
                return;
            }
            let mut block = [Block::from(self.buf)];
            self.encrypt_blocks(&mut block);
            out.extend_from_slice(&block[0]);
            self.buf_len = 0;
        }
        let full = input.len() - input.len() % BLOCK;
        // Zero-extend and encrypt in cache-sized pieces, so the zeroing stays in L1/L2 instead of
        // being one more pass over memory.
        for piece in input[..full].chunks(ENCRYPT_PIECE) {
            let start = out.len();
            out.resize(start + piece.len(), 0);
            let (src, _) = Block::slice_as_chunks(piece);
            let (dst, _) = Block::slice_as_chunks_mut(&mut out[start..]);
            let chain = CbcChain { chain: &mut self.chain, src: Some(src), blocks: dst };
            self.cipher.encrypt_with_backend(chain);
        }
        let tail = &input[full..];
        self.buf[..tail.len()].copy_from_slice(tail);
        self.buf_len = tail.len();
    }

    /// Pad and encrypt the final block, appending it to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let pad = (BLOCK - self.buf_len) as u8;
        for b in &mut self.buf[self.buf_len..] {
            *b = pad;
        }
        let mut block = [Block::from(self.buf)];
        self.encrypt_blocks(&mut block);
        out.extend_from_slice(&block[0]);
    }

    fn encrypt_blocks(&mut self, blocks: &mut [Block]) {
        self.cipher.encrypt_with_backend(CbcChain { chain: &mut self.chain, src: None, blocks });
    }
}

/// Incremental AES-256-CBC decryptor that strips PKCS#7 padding at [`CbcDecryptor::finish`].
///
/// The last decrypted block is held back until `finish` (it carries the padding).
pub struct CbcDecryptor {
    cipher: cbc::Decryptor<Aes256>,
    buf: [u8; BLOCK],
    buf_len: usize,
    held: Option<[u8; BLOCK]>,
}

impl fmt::Debug for CbcDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CbcDecryptor").finish_non_exhaustive()
    }
}

impl Drop for CbcDecryptor {
    fn drop(&mut self) {
        self.buf.zeroize();
        if let Some(h) = self.held.as_mut() {
            h.zeroize();
        }
    }
}

impl CbcDecryptor {
    /// Decrypt `input`, appending plaintext to `out` (all but the final block).
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.buf_len > 0 {
            let take = (BLOCK - self.buf_len).min(input.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&input[..take]);
            self.buf_len += take;
            input = &input[take..];
            if self.buf_len < BLOCK {
                return;
            }
            let mut block = Block::from(self.buf);
            self.cipher.decrypt_block(&mut block);
            if let Some(h) = self.held.take() {
                out.extend_from_slice(&h);
            }
            self.held = Some(block.into());
            self.buf_len = 0;
        }
        let full = input.len() - input.len() % BLOCK;
        if full > 0 {
            if let Some(h) = self.held.take() {
                out.extend_from_slice(&h);
            }
            let start = out.len();
            out.extend_from_slice(&input[..full]);
            let (blocks, _) = Block::slice_as_chunks_mut(&mut out[start..]);
            self.cipher.decrypt_blocks(blocks);
            let mut last = [0u8; BLOCK];
            last.copy_from_slice(&out[out.len() - BLOCK..]);
            out.truncate(out.len() - BLOCK);
            self.held = Some(last);
        }
        let tail = &input[full..];
        self.buf[..tail.len()].copy_from_slice(tail);
        self.buf_len = tail.len();
    }

    /// Check and strip the padding, appending the rest of the plaintext to `out`.
    ///
    /// Fails with the opaque [`Error::Decrypt`] on truncated input or bad padding.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let held = match self.held.take() {
            Some(h) if self.buf_len == 0 => h,
            _ => return Err(Error::Decrypt),
        };
        let pad = held[BLOCK - 1];
        let mut bad = u8::from(pad == 0) | u8::from(usize::from(pad) > BLOCK);
        let n = usize::from(pad).clamp(1, BLOCK);
        for &b in &held[BLOCK - n..] {
            bad |= u8::from(b != pad);
        }
        if bad != 0 {
            return Err(Error::Decrypt);
        }
        out.extend_from_slice(&held[..BLOCK - n]);
        Ok(())
    }
}

/// `std::io::Write` adapter: encrypts everything written and forwards ciphertext to `inner`.
/// Call [`EncryptingWriter::finish`] to write the padded final block (dropping without
/// `finish` leaves the ciphertext truncated).
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct EncryptingWriter<W: std::io::Write> {
    inner: W,
    enc: CbcEncryptor,
    buf: Vec<u8>,
}

#[cfg(feature = "std")]
impl<W: std::io::Write> EncryptingWriter<W> {
    /// Wrap `inner`.
    pub fn new(key: &SessionKey, inner: W) -> Self {
        Self { inner, enc: key.encryptor(), buf: Vec::new() }
    }

    /// Write the final block and return the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.buf.clear();
        self.enc.finish(&mut self.buf);
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(feature = "std")]
impl<W: std::io::Write> std::io::Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.clear();
        self.enc.update(data, &mut self.buf);
        self.inner.write_all(&self.buf)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `std::io::Write` adapter: decrypts everything written and forwards plaintext to `inner`.
/// [`DecryptingWriter::finish`] checks the padding.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct DecryptingWriter<W: std::io::Write> {
    inner: W,
    dec: CbcDecryptor,
    buf: Vec<u8>,
}

#[cfg(feature = "std")]
impl<W: std::io::Write> DecryptingWriter<W> {
    /// Wrap `inner`.
    pub fn new(key: &SessionKey, inner: W) -> Self {
        Self { inner, dec: key.decryptor(), buf: Vec::new() }
    }

    /// Check the padding, write the last plaintext bytes and return the inner writer.
    /// A padding failure is reported as `io::ErrorKind::InvalidData`.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.buf.clear();
        self.dec.finish(&mut self.buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.inner.write_all(&self.buf)?;
        self.buf.zeroize();
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(feature = "std")]
impl<W: std::io::Write> std::io::Write for DecryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.clear();
        self.dec.update(data, &mut self.buf);
        self.inner.write_all(&self.buf)?;
        self.buf.zeroize();
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey::from_parts(&[7u8; 32], &[9u8; 16]).unwrap()
    }

    #[test]
    fn sizes_match_ksef_examples() {
        assert_eq!(encrypted_len(6480), 6496);
        assert_eq!(encrypted_len(16037), 16048);
        assert_eq!(encrypted_len(22_425_060), 22_425_072);
        assert_eq!(key().encrypt(&[1u8; 6480]).len(), 6496);
    }

    #[test]
    fn streaming_equals_one_shot_for_any_chunking() {
        let k = key();
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let one = k.encrypt(&data);
        for chunk in [1usize, 3, 15, 16, 17, 64, 999, 1000] {
            let mut out = Vec::new();
            let mut e = k.encryptor();
            for c in data.chunks(chunk) {
                e.update(c, &mut out);
            }
            e.finish(&mut out);
            assert_eq!(out, one, "enc chunk {chunk}");
            let mut pt = Vec::new();
            let mut d = k.decryptor();
            for c in one.chunks(chunk) {
                d.update(c, &mut pt);
            }
            d.finish(&mut pt).unwrap();
            assert_eq!(pt, data, "dec chunk {chunk}");
        }
    }

    /// Our register-resident CBC chain must give exactly what the `cbc` crate gives, across
    /// piece boundaries and for any split of the input.
    #[test]
    fn chain_matches_the_cbc_crate() {
        use cbc::cipher::BlockModeEncrypt as _;
        use cbc::cipher::block_padding::Pkcs7;
        let k = SessionKey::from_parts(&[0x42; 32], &[0x24; 16]).unwrap();
        let data: Vec<u8> = (0..3 * ENCRYPT_PIECE as u32 + 77).map(|i| (i * 131 % 253) as u8).collect();
        for len in [0, 1, 15, 16, 17, ENCRYPT_PIECE - 1, ENCRYPT_PIECE, ENCRYPT_PIECE + 1, data.len()] {
            let mut buf = data[..len].to_vec();
            buf.resize(len + 16, 0);
            let reference = cbc::Encryptor::<Aes256>::new(&k.key.into(), &k.iv.into())
                .encrypt_padded::<Pkcs7>(&mut buf, len)
                .unwrap()
                .to_vec();
            assert_eq!(k.encrypt(&data[..len]), reference, "one-shot, len {len}");
            let mut in_place = data[..len].to_vec();
            k.encrypt_in_place(&mut in_place);
            assert_eq!(in_place, reference, "in place, len {len}");
            let mut out = Vec::new();
            let mut e = k.encryptor();
            for c in data[..len].chunks(ENCRYPT_PIECE / 3 + 5) {
                e.update(c, &mut out);
            }
            e.finish(&mut out);
            assert_eq!(out, reference, "streamed, len {len}");
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn io_writers_roundtrip() {
        use std::io::Write as _;
        let k = key();
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
        let mut w = EncryptingWriter::new(&k, Vec::new());
        for c in data.chunks(777) {
            w.write_all(c).unwrap();
        }
        let ct = w.finish().unwrap();
        assert_eq!(ct, k.encrypt(&data));
        let mut d = DecryptingWriter::new(&k, Vec::new());
        for c in ct.chunks(100) {
            d.write_all(c).unwrap();
        }
        assert_eq!(d.finish().unwrap(), data);
        let mut d = DecryptingWriter::new(&k, Vec::new());
        d.write_all(&ct[..ct.len() - 1]).unwrap();
        assert_eq!(d.finish().unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn rejects_truncated_and_bad_padding() {
        let k = key();
        let ct = k.encrypt(b"hello");
        assert_eq!(k.decrypt(&ct[..15]), Err(Error::Decrypt));
        assert_eq!(k.decrypt(&[]), Err(Error::Decrypt));
        let other = SessionKey::from_parts(&[8u8; 32], &[9u8; 16]).unwrap();
        // Wrong key: padding check fails (overwhelmingly likely for this fixed input).
        assert_eq!(other.decrypt(&ct), Err(Error::Decrypt));
        assert!(SessionKey::from_parts(&[0; 31], &[0; 16]).is_err());
    }
}
