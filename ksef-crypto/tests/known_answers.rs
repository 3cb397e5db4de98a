//! Known-answer tests: NIST SP 800-38A (AES-256-CBC), FIPS 180-2 (SHA-256), an OpenSSL-made
//! RSA-OAEP-SHA256 ciphertext and OpenSSL-computed publicKeyId/certificateId.

use ksef_crypto::encoding::{b64_decode, b64url_encode};
use ksef_crypto::public_keys::{KeyUsage, KsefPublicKey};
use ksef_crypto::rsa_oaep::{decrypt_ksef_token, oaep_decrypt};
use ksef_crypto::{Certificate, FileDigest, PrivateKey, SessionKey, Sha256Stream, sha256};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn nist_sp800_38a_f25_aes256_cbc() {
    let key = unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    let iv = unhex("000102030405060708090a0b0c0d0e0f");
    let pt = unhex(
        "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
         30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
    );
    let ct = unhex(
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
         39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
    );
    let k = SessionKey::from_parts(&key, &iv).unwrap();
    let out = k.encrypt(&pt);
    // PKCS#7 adds one full block after the four NIST blocks.
    assert_eq!(out.len(), 80);
    assert_eq!(&out[..64], &ct[..]);
    assert_eq!(k.decrypt(&out).unwrap(), pt);
}

#[test]
fn fips_sha256() {
    let cases: [(&[u8], &str); 3] = [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(sha256(msg).to_vec(), unhex(want));
    }
    // One million 'a', streamed in odd chunks.
    let mut s = Sha256Stream::new();
    let chunk = [b'a'; 999];
    let mut left = 1_000_000usize;
    while left > 0 {
        let n = left.min(chunk.len());
        s.update(&chunk[..n]);
        left -= n;
    }
    let d = s.finish();
    assert_eq!(d.size, 1_000_000);
    assert_eq!(d.sha256.to_vec(), unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    let fd = FileDigest::of(b"abc");
    assert_eq!(fd.sha256_b64(), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    assert_eq!(fd.sha256_b64url(), b64url_encode(sha256(b"abc")));
    assert_eq!(fd.size, 3);
}

#[test]
fn openssl_made_oaep_ciphertext_decrypts() {
    let key = PrivateKey::from_pem(&vector("oaep-rsa2048.pem")).unwrap();
    let ct = b64_decode(vector("oaep-ciphertext.b64").trim()).unwrap();
    let pt = oaep_decrypt(&key, &ct).unwrap();
    assert_eq!(&pt[..], b"KSeF OAEP known answer|1700000000000");
    let tok = decrypt_ksef_token(&key, &ct).unwrap();
    assert_eq!(&*tok.token, "KSeF OAEP known answer");
    assert_eq!(tok.timestamp_ms, 1_700_000_000_000);
    assert!(!format!("{tok:?}").contains("known answer"));
    let mut bad = ct.clone();
    bad[10] ^= 1;
    assert_eq!(oaep_decrypt(&key, &bad).unwrap_err(), ksef_crypto::Error::Decrypt);
}

#[test]
fn public_key_and_certificate_ids_match_openssl() {
    let cert = Certificate::from_pem(&vector("mf-test.pem")).unwrap();
    assert_eq!(cert.certificate_id(), vector("mf-test.certificate-id").trim());
    assert_eq!(cert.public_key_id().unwrap(), vector("mf-test.public-key-id").trim());
    let b64 = ksef_crypto::encoding::b64_encode(cert.der());
    let k = KsefPublicKey::from_json_fields(&b64, ["SymmetricKeyEncryption", "Unknown"]).unwrap();
    assert_eq!(k.usages(), &[KeyUsage::SymmetricKeyEncryption]);
    assert_eq!(k.public_key_id(), vector("mf-test.public-key-id").trim());
    assert_eq!(k.public_key_id().len(), 44);
}

#[test]
fn wrap_unwrap_and_token_roundtrip() {
    let mut rng = rand::rng();
    let key = PrivateKey::from_pem(&vector("oaep-rsa2048.pem")).unwrap();
    let session = SessionKey::generate(&mut rng).unwrap();
    let wrapped = ksef_crypto::rsa_oaep::wrap_session_key(&key.public_key(), &session, &mut rng).unwrap();
    assert_eq!(wrapped.len(), 256);
    let back = ksef_crypto::rsa_oaep::unwrap_session_key(&key, &wrapped, session.iv()).unwrap();
    assert_eq!(back.key_bytes(), session.key_bytes());
    assert!(!format!("{session:?}").contains(&format!("{:?}", session.key_bytes())));
    let ct = ksef_crypto::rsa_oaep::encrypt_ksef_token(
        &key.public_key(),
        "20251010-EC-ABCDEF|nip-1234|secretpart",
        1_760_000_000_123,
        &mut rng,
    )
    .unwrap();
    let t = decrypt_ksef_token(&key, &ct).unwrap();
    assert_eq!(&*t.token, "20251010-EC-ABCDEF|nip-1234|secretpart");
    assert_eq!(t.timestamp_ms, 1_760_000_000_123);
}
