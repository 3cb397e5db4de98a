//! Cross-checks against the `openssl` command-line tool (not linked): AES-256-CBC and
//! RSA-OAEP-SHA256 in both directions. Fails if `openssl` is missing unless
//! `KSEF_SKIP_OPENSSL=1`.

use std::path::PathBuf;
use std::process::Command;

use ksef_crypto::rsa_oaep::{oaep_decrypt, oaep_encrypt};
use ksef_crypto::{PrivateKey, SessionKey};

fn openssl_available() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var("KSEF_SKIP_OPENSSL").as_deref() == Ok("1"),
                "the `openssl` CLI is required for this test (set KSEF_SKIP_OPENSSL=1 to skip)"
            );
            false
        }
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ksef-crypto-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn aes_cbc_both_directions() {
    if !openssl_available() {
        return;
    }
    let dir = tmpdir("aes");
    let mut rng = rand::rng();
    let k = SessionKey::generate(&mut rng).unwrap();
    for len in [0usize, 1, 15, 16, 17, 4096, 100_003] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        let p_in = dir.join("plain");
        let p_ct = dir.join("ct");
        std::fs::write(&p_in, &data).unwrap();
        // openssl encrypts, we decrypt.
        run(Command::new("openssl")
            .args(["enc", "-aes-256-cbc", "-K", &hex(k.key_bytes()), "-iv", &hex(k.iv())])
            .arg("-in")
            .arg(&p_in)
            .arg("-out")
            .arg(&p_ct));
        let ct = std::fs::read(&p_ct).unwrap();
        assert_eq!(ct, k.encrypt(&data), "len {len}");
        assert_eq!(k.decrypt(&ct).unwrap(), data);
        // We encrypt, openssl decrypts.
        std::fs::write(&p_ct, k.encrypt(&data)).unwrap();
        let out = run(Command::new("openssl")
            .args(["enc", "-d", "-aes-256-cbc", "-K", &hex(k.key_bytes()), "-iv", &hex(k.iv())])
            .arg("-in")
            .arg(&p_ct));
        assert_eq!(out, data);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn rsa_oaep_sha256_both_directions() {
    if !openssl_available() {
        return;
    }
    let dir = tmpdir("oaep");
    let key_path = dir.join("key.pem");
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key_path));
    let key = PrivateKey::from_pem(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    let oaep =
        ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"];
    let msg = [0x5au8; 32];
    let p_in = dir.join("in");
    let p_out = dir.join("out");
    std::fs::write(&p_in, msg).unwrap();
    run(Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-inkey"])
        .arg(&key_path)
        .args(oaep)
        .arg("-in")
        .arg(&p_in)
        .arg("-out")
        .arg(&p_out));
    let ct = std::fs::read(&p_out).unwrap();
    assert_eq!(&oaep_decrypt(&key, &ct).unwrap()[..], &msg);

    let mut rng = rand::rng();
    let ct = oaep_encrypt(&key.public_key(), &msg, &mut rng).unwrap();
    std::fs::write(&p_in, ct).unwrap();
    let out = run(Command::new("openssl")
        .args(["pkeyutl", "-decrypt", "-inkey"])
        .arg(&key_path)
        .args(oaep)
        .arg("-in")
        .arg(&p_in));
    assert_eq!(out, msg);
    std::fs::remove_dir_all(dir).ok();
}
