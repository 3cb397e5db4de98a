//! Pre-signed URLs (batch part uploads, UPO and export downloads): the client refuses non-https
//! and non-allow-listed hosts by default (the policy is configurable) and never sends its bearer
//! token there. Driven by a scripted transport that records every request it is given.

use std::sync::Mutex;

use ksef_client::flows::{BatchInvoice, BatchOptions};
use ksef_client::{FormCode, KsefClient};
use ksef_transport::{HttpRequest, HttpResponse, UrlPolicy};
use serde_json::json;

use crate::common::invoice;
use crate::scripted::{key_list, reply, tokens};

const BATCH: &str = "20250625-SB-2C3E6C8000-B675CF5D68-07";

/// (method, URL, Authorization header) of every request that reached the transport.
type Log = Mutex<Vec<(String, String, Option<String>)>>;

fn record(log: &Log, req: &HttpRequest) -> String {
    let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap_or("?").to_owned());
    let url = req.uri().to_string();
    log.lock().unwrap().push((req.method().to_string(), url.clone(), auth));
    url
}

/// A transport that opens a batch session whose single part must go to `upload_url`.
fn batch_transport<'a>(
    log: &'a Log,
    keys: &'a serde_json::Value,
    upload_url: &'a str,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, std::convert::Infallible> + Send + Sync + 'a {
    move |req: HttpRequest| {
        let url = record(log, &req);
        if url.ends_with("/v2/security/public-key-certificates") {
            reply(200, keys.clone())
        } else if url.ends_with("/v2/sessions/batch") {
            reply(
                201,
                json!({"referenceNumber": BATCH, "partUploadRequests": [{"ordinalNumber": 1, "method": "PUT",
                    "url": upload_url, "headers": {"x-ms-blob-type": "BlockBlob"}}]}),
            )
        } else if url == upload_url {
            reply(201, json!({}))
        } else {
            // Close and later steps are not the subject here.
            reply(404, json!({}))
        }
    }
}

fn send_batch(log: &Log, upload_url: &str, policy: Option<UrlPolicy>) -> Result<(), ksef_client::Error> {
    let keys = key_list();
    let transport = batch_transport(log, &keys, upload_url);
    let mut builder = KsefClient::builder("https://api-test.ksef.mf.gov.pl/v2".parse().unwrap()).blocking_sleep(|_| ());
    if let Some(p) = policy {
        builder = builder.url_policy(p);
    }
    let client = builder.build(&transport).unwrap();
    tokens(&client);
    let invoices = vec![BatchInvoice::bytes("1.xml", invoice("5265877635", "PRESIGNED/1"))];
    client.send_batch_blocking(FormCode::Fa3, invoices, &BatchOptions::default()).map(|_| ())
}

#[test]
fn batch_part_uploads_to_non_https_or_foreign_hosts_are_refused_by_default() {
    for bad in [
        "http://api-test.ksef.mf.gov.pl/storage/batch/1?sig=x",
        "https://evil.example/storage/batch/1?sig=x",
        "https://api-test.ksef.mf.gov.pl.evil.example/storage/batch/1?sig=x",
        "http://127.0.0.1:9/storage/batch/1?sig=x",
    ] {
        let log = Log::default();
        let err = send_batch(&log, bad, None).expect_err(bad);
        let log = log.into_inner().unwrap();
        assert!(log.iter().all(|(_, url, _)| url != bad), "{bad} was contacted: {err:?}");
        // The session was opened (with the bearer token), nothing was sent to the bad host.
        assert!(log.iter().any(|(m, url, _)| m == "POST" && url.ends_with("/v2/sessions/batch")));
        assert!(log.iter().all(|(_, url, _)| url.starts_with("https://api-test.ksef.mf.gov.pl/v2/")), "{log:?}");
    }
}

#[test]
fn batch_part_upload_to_an_allowed_host_carries_no_bearer_token() {
    let ok = "https://api-test.ksef.mf.gov.pl/storage/batch/1?sig=x";
    let log = Log::default();
    // The close after the upload gets a scripted 404: only the upload matters here.
    let _ = send_batch(&log, ok, None);
    let log = log.into_inner().unwrap();
    let uploads: Vec<_> = log.iter().filter(|(_, url, _)| url == ok).collect();
    assert_eq!(uploads.len(), 1, "{log:?}");
    assert_eq!(uploads[0].0, "PUT");
    assert_eq!(uploads[0].2, None, "bearer token sent to the pre-signed URL");
    // API calls did carry it.
    let open = log.iter().find(|(_, url, _)| url.ends_with("/v2/sessions/batch")).unwrap();
    assert_eq!(open.2.as_deref(), Some("Bearer old-access"));
    assert!(log.iter().filter(|(_, url, _)| !url.contains("/v2/")).all(|(_, _, auth)| auth.is_none()), "{log:?}");
}

#[test]
fn the_allow_list_is_configurable() {
    let blob = "https://acct.blob.core.windows.net/c/part1?sig=x";
    // Refused by default…
    let log = Log::default();
    assert!(send_batch(&log, blob, None).is_err());
    assert!(log.into_inner().unwrap().iter().all(|(_, url, _)| url != blob));
    // …allowed once the host is allow-listed, still without the token.
    let log = Log::default();
    let _ = send_batch(&log, blob, Some(UrlPolicy::default().allow_host("*.blob.core.windows.net")));
    let log = log.into_inner().unwrap();
    let up = log.iter().find(|(_, url, _)| url == blob).expect("upload sent to the allow-listed host");
    assert_eq!(up.2, None);
}

#[test]
fn downloads_refuse_bad_urls_and_send_no_token() {
    let log = Log::default();
    let transport = |req: HttpRequest| {
        record(&log, &req);
        Ok::<_, std::convert::Infallible>(http::Response::builder().status(200).body(Vec::new()).unwrap())
    };
    let client = KsefClient::builder("https://api-test.ksef.mf.gov.pl/v2".parse().unwrap())
        .blocking_sleep(|_| ())
        .build(&transport)
        .unwrap();
    tokens(&client);
    for bad in [
        "http://api-test.ksef.mf.gov.pl/storage/upo/x",
        "https://evil.example/storage/upo/x",
        "https://ksef.mf.gov.pl.evil.example/x",
        "file:///etc/passwd",
        "not a url",
    ] {
        assert!(client.download_presigned_blocking(bad).is_err(), "{bad}");
    }
    assert!(log.lock().unwrap().is_empty(), "a refused URL reached the transport: {:?}", log.lock().unwrap());
    let ok = "https://api-test.ksef.mf.gov.pl/storage/upo/x?sig=1";
    assert_eq!(client.download_presigned_blocking(ok).unwrap(), b"");
    let log = log.into_inner().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].1, ok);
    assert_eq!(log[0].2, None, "bearer token sent to the pre-signed URL");
}
