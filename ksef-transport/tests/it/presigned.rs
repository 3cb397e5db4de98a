//! URL policy of pre-signed requests.

use ksef_transport::{UrlPolicy, presigned_get, presigned_request};

#[test]
fn default_policy_is_https_on_ksef_hosts_only() {
    let p = UrlPolicy::default();
    for ok in [
        "https://api-test.ksef.mf.gov.pl/storage/batch-parts/1?sig=x",
        "https://ksef.mf.gov.pl/x",
        "https://API.KSEF.MF.GOV.PL/x",
        "https://api.ksef.mf.gov.pl:443/x",
    ] {
        assert!(presigned_get(ok, &p).is_ok(), "{ok}");
    }
    for bad in [
        "http://api-test.ksef.mf.gov.pl/x",
        "https://evil.example/x",
        "https://ksef.mf.gov.pl.evil.example/x",
        "https://evilksef.mf.gov.pl/x",
        "https://api.ksef.mf.gov.pl:8443/x",
        "https://127.0.0.1/x",
        "http://localhost:8080/x",
        "ftp://api.ksef.mf.gov.pl/x",
        "not a url",
    ] {
        assert!(presigned_get(bad, &p).is_err(), "{bad}");
    }
}

#[test]
fn configurable_hosts_and_loopback() {
    let p = UrlPolicy::empty().allow_host("*.blob.core.windows.net");
    assert!(presigned_get("https://acc.blob.core.windows.net/c/p?sig=1", &p).is_ok());
    assert!(presigned_get("https://api.ksef.mf.gov.pl/x", &p).is_err());
    let p = UrlPolicy::default().allow_loopback(true);
    for ok in ["http://127.0.0.1:8080/x", "http://localhost:1/x", "http://[::1]:9/x", "https://127.0.0.2/x"] {
        assert!(presigned_get(ok, &p).is_ok(), "{ok}");
    }
    assert!(presigned_get("http://10.0.0.1/x", &p).is_err());
}

#[test]
fn no_authorization_and_body_moved() {
    let p = UrlPolicy::default();
    let body = vec![7u8; 1024];
    let ptr = body.as_ptr();
    let r = presigned_request(
        http::Method::PUT,
        "https://a.ksef.mf.gov.pl/p",
        &[("x-ms-blob-type", "BlockBlob")],
        body,
        &p,
    )
    .unwrap();
    assert_eq!(r.body().as_ptr(), ptr, "the body was copied");
    assert!(r.headers().get("authorization").is_none());
    assert!(
        presigned_request(
            http::Method::PUT,
            "https://a.ksef.mf.gov.pl/p",
            &[("Authorization", "Bearer x")],
            Vec::new(),
            &p
        )
        .is_err()
    );
}
