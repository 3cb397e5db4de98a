//! The emulator's own RSA keys and certificates for `SymmetricKeyEncryption` and
//! `KsefTokenEncryption` (`GET /security/public-key-certificates`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration as StdDuration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rsa::pkcs1v15::SigningKey;
use rsa::{Oaep, PrivateKey};
use sha2::{Digest, Sha256};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::der::Encode;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

/// What a public key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// Wrapping session AES keys (sessions, exports).
    SymmetricKeyEncryption,
    /// Encrypting KSeF tokens (`/auth/ksef-token`).
    KsefTokenEncryption,
}

impl KeyUsage {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SymmetricKeyEncryption => "SymmetricKeyEncryption",
            Self::KsefTokenEncryption => "KsefTokenEncryption",
        }
    }
}

/// Why key material could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// RSA key generation or decryption failed.
    #[error("RSA operation failed")]
    Rsa(#[from] rsa::Error),
    /// Certificate building failed.
    #[error("certificate building failed: {0}")]
    Certificate(String),
}

/// One server key: private key, its self-signed certificate, and identifiers.
#[derive(Clone)]
pub struct ServerKey {
    /// Usage.
    pub usage: KeyUsage,
    private: PrivateKey,
    /// Certificate DER.
    pub certificate_der: Vec<u8>,
    /// Base64(SHA-256(certificate DER)).
    pub certificate_id: String,
    /// Base64(SHA-256(SubjectPublicKeyInfo DER)).
    pub public_key_id: String,
    /// Certificate validity start.
    pub valid_from: DateTime<Utc>,
    /// Certificate validity end.
    pub valid_to: DateTime<Utc>,
    /// Set when the key is withdrawn: it is still accepted until then (rotation grace period).
    pub withdrawn_after: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("usage", &self.usage)
            .field("public_key_id", &self.public_key_id)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl ServerKey {
    /// Generates a key and its self-signed certificate (`CN=Ministerstwo Finansów`).
    pub fn generate(usage: KeyUsage, rng: &mut StdRng, now: DateTime<Utc>) -> Result<Self, KeyError> {
        let private = PrivateKey::new(rng, 2048)?;
        let valid_from = now - Duration::days(1);
        let valid_to = now + Duration::days(2 * 365);
        let spki = SubjectPublicKeyInfo::from_key(&private.to_public_key())
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let spki_der = spki.to_der().map_err(|e| KeyError::Certificate(e.to_string()))?;
        let subject = Name::from_str(&format!("CN=Ministerstwo Finansów,OU={},O=ksef-emulator,C=PL", usage.as_str()))
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let to_time = |t: DateTime<Utc>| -> Result<Time, KeyError> {
            let st = UNIX_EPOCH + StdDuration::from_secs(t.timestamp().max(0) as u64);
            Time::try_from(st).map_err(|e| KeyError::Certificate(e.to_string()))
        };
        let validity = Validity::new(to_time(valid_from)?, to_time(valid_to)?);
        let mut serial = [0u8; 8];
        rand::Rng::fill_bytes(rng, &mut serial);
        serial[0] &= 0x7f;
        let serial = SerialNumber::new(&serial).map_err(|e| KeyError::Certificate(e.to_string()))?;
        let builder = CertificateBuilder::new(SelfSigned(subject), serial, validity, spki)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let signer = SigningKey::<Sha256>::new(private.clone());
        let cert =
            builder.build::<_, rsa::pkcs1v15::Signature>(&signer).map_err(|e| KeyError::Certificate(e.to_string()))?;
        let certificate_der = cert.to_der().map_err(|e| KeyError::Certificate(e.to_string()))?;
        Ok(Self {
            usage,
            private,
            certificate_id: B64.encode(Sha256::digest(&certificate_der)),
            public_key_id: B64.encode(Sha256::digest(&spki_der)),
            certificate_der,
            valid_from,
            valid_to,
            withdrawn_after: None,
        })
    }

    /// RSAES-OAEP (SHA-256, MGF1-SHA-256) decryption with this key.
    pub fn oaep_decrypt(&self, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
        Ok(zeroize::Zeroizing::new(self.private.decrypt(Oaep::<Sha256>::new(), ciphertext)?))
    }

    /// The public key (for tests and clients encrypting to the emulator).
    pub fn public_key(&self) -> rsa::PublicKey {
        self.private.to_public_key()
    }

    /// Whether the key is accepted at `now`.
    pub fn accepted_at(&self, now: DateTime<Utc>) -> bool {
        now <= self.valid_to && self.withdrawn_after.is_none_or(|w| now <= w)
    }
}

struct SelfSigned(Name);

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }
    fn get_subject(&self) -> Name {
        self.0.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredKey {
    usage: String,
    pkcs8: String,
    certificate: String,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
    withdrawn_after: Option<DateTime<Utc>>,
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.pkcs8);
    }
}

/// The set of server keys (several per usage during a rotation).
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<Arc<ServerKey>>,
}

impl KeyRing {
    /// One fresh key per usage.
    pub fn generate(rng: &mut StdRng, now: DateTime<Utc>) -> Result<Self, KeyError> {
        Ok(Self {
            keys: vec![
                Arc::new(ServerKey::generate(KeyUsage::SymmetricKeyEncryption, rng, now)?),
                Arc::new(ServerKey::generate(KeyUsage::KsefTokenEncryption, rng, now)?),
            ],
        })
    }

    /// Generating RSA keys is slow in debug builds, so key rings are shared per seed within a
    /// process (`None`: one ring from OS randomness).
    pub fn shared(seed: Option<u64>, now: DateTime<Utc>) -> Result<Arc<Self>, KeyError> {
        static CACHE: OnceLock<Mutex<HashMap<Option<u64>, Arc<KeyRing>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut g = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = g.get(&seed) {
            return Ok(k.clone());
        }
        let mut rng = match seed {
            Some(s) => StdRng::seed_from_u64(s ^ 0x6b65_7973),
            None => rand::make_rng::<StdRng>(),
        };
        let ring = Arc::new(Self::generate(&mut rng, now)?);
        g.insert(seed, ring.clone());
        Ok(ring)
    }

    /// Serializes the ring (private keys included: keep the result secret) for a data directory.
    pub fn export(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
        use rsa::pkcs8::EncodePrivateKey;
        let mut out = Vec::new();
        for k in &self.keys {
            let der = k.private.to_pkcs8_der().map_err(|e| KeyError::Certificate(e.to_string()))?;
            out.push(StoredKey {
                usage: k.usage.as_str().to_owned(),
                pkcs8: B64.encode(der.as_bytes()),
                certificate: B64.encode(&k.certificate_der),
                valid_from: k.valid_from,
                valid_to: k.valid_to,
                withdrawn_after: k.withdrawn_after,
            });
        }
        Ok(zeroize::Zeroizing::new(serde_json::to_vec(&out).map_err(|e| KeyError::Certificate(e.to_string()))?))
    }

    /// Reads a ring written by [`KeyRing::export`].
    pub fn import(bytes: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs8::DecodePrivateKey;
        let bad = |e: &dyn std::fmt::Display| KeyError::Certificate(e.to_string());
        let stored: Vec<StoredKey> = serde_json::from_slice(bytes).map_err(|e| bad(&e))?;
        let mut keys = Vec::new();
        for s in &stored {
            let usage = match s.usage.as_str() {
                "SymmetricKeyEncryption" => KeyUsage::SymmetricKeyEncryption,
                "KsefTokenEncryption" => KeyUsage::KsefTokenEncryption,
                other => return Err(bad(&format!("unknown key usage {other}"))),
            };
            let der = zeroize::Zeroizing::new(B64.decode(&s.pkcs8).map_err(|e| bad(&e))?);
            let private = PrivateKey::from_pkcs8_der(&der).map_err(|e| bad(&e))?;
            let certificate_der = B64.decode(&s.certificate).map_err(|e| bad(&e))?;
            let spki_der = SubjectPublicKeyInfo::from_key(&private.to_public_key())
                .and_then(|s| s.to_der().map_err(Into::into))
                .map_err(|e| bad(&e))?;
            keys.push(Arc::new(ServerKey {
                usage,
                private,
                certificate_id: B64.encode(Sha256::digest(&certificate_der)),
                public_key_id: B64.encode(Sha256::digest(&spki_der)),
                certificate_der,
                valid_from: s.valid_from,
                valid_to: s.valid_to,
                withdrawn_after: s.withdrawn_after,
            }));
        }
        Ok(Self { keys })
    }

    /// A ring without keys (every key lookup fails with `21470`).
    pub fn empty() -> Self {
        Self { keys: Vec::new() }
    }

    /// Every key (published ones first).
    pub fn keys(&self) -> &[Arc<ServerKey>] {
        &self.keys
    }

    /// The key to use for `usage`: the one named by `public_key_id`, or the newest accepted one.
    /// `None` when the id is unknown, for another usage, or withdrawn (KSeF answers `21470`).
    pub fn find(&self, usage: KeyUsage, public_key_id: Option<&str>, now: DateTime<Utc>) -> Option<&Arc<ServerKey>> {
        let mut candidates = self.keys.iter().filter(|k| k.usage == usage && k.accepted_at(now));
        match public_key_id {
            Some(id) => candidates.find(|k| k.public_key_id == id),
            None => candidates.max_by_key(|k| k.valid_from),
        }
    }
}

/// The live key ring of a running emulator (rotation replaces keys while it serves).
#[derive(Debug)]
pub struct KeyStore(std::sync::RwLock<KeyRing>);

impl KeyStore {
    /// Wraps a ring.
    pub fn new(ring: KeyRing) -> Self {
        Self(std::sync::RwLock::new(ring))
    }

    /// A snapshot of the ring.
    pub fn snapshot(&self) -> KeyRing {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every key.
    pub fn keys(&self) -> Vec<Arc<ServerKey>> {
        self.snapshot().keys
    }

    /// See [`KeyRing::find`].
    pub fn find(&self, usage: KeyUsage, public_key_id: Option<&str>, now: DateTime<Utc>) -> Option<Arc<ServerKey>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).find(usage, public_key_id, now).cloned()
    }

    /// Planned (grace > 0) or emergency (grace = 0) rotation: a new key for `usage` is published
    /// at once; the current ones stay accepted until `now + grace`, then answer `21470`.
    /// Returns the new `publicKeyId`.
    pub fn rotate(
        &self,
        usage: KeyUsage,
        grace: Duration,
        rng: &mut StdRng,
        now: DateTime<Utc>,
    ) -> Result<String, KeyError> {
        let new = Arc::new(ServerKey::generate(usage, rng, now)?);
        let id = new.public_key_id.clone();
        let mut g = self.0.write().unwrap_or_else(|e| e.into_inner());
        for k in g.keys.iter_mut().filter(|k| k.usage == usage && k.withdrawn_after.is_none()) {
            let mut old = (**k).clone();
            old.withdrawn_after = Some(now + grace);
            *k = Arc::new(old);
        }
        g.keys.push(new);
        Ok(id)
    }
}
