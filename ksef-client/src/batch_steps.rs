//! Step-level batch-session calls, for callers that journal every step themselves (the CLI's
//! durable `ksef send --mode batch`): build the `POST /sessions/batch` body of a package, upload
//! one encrypted part from a file, and read a session's outcome. Opening, closing and status use
//! [`KsefClient::call_blocking`] with the `ksef_model` operations directly.
//!
//! The open request holds no secret in clear: the AES key is RSA-OAEP-wrapped with KSeF's public
//! key, so it may be stored and sent again to open a new session for the very same parts.

use std::path::Path;
use std::time::Duration;

use ksef_crypto::{KeyUsage, SessionKey};
use ksef_model::types::{OpenBatchSessionRequest, PartUploadRequest};
use ksef_transport::{SyncTransport, presigned_request};

use crate::KsefClient;
use crate::batch::BatchPackage;
use crate::error::Error;
use crate::online::{FormCode, encryption};

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64 << attempt.min(6))
}

impl<T: SyncTransport> KsefClient<T> {
    /// The `POST /sessions/batch` body for `package`, whose parts were encrypted with `key`: the
    /// key is wrapped with KSeF's current public key for symmetric-key encryption.
    ///
    /// # Errors
    /// Fetching the public key, or wrapping the session key.
    pub fn batch_open_request_blocking<P>(
        &self,
        key: &SessionKey,
        form_code: FormCode,
        package: &BatchPackage<P>,
        offline_mode: bool,
    ) -> Result<OpenBatchSessionRequest, Error> {
        let public = self.public_key_blocking(KeyUsage::SymmetricKeyEncryption)?;
        Ok(OpenBatchSessionRequest {
            batch_file: package.batch_file_info(),
            encryption: encryption(key, &public)?,
            form_code: form_code.to_model(),
            offline_mode,
        })
    }

    /// Uploads the encrypted part stored at `path` to its pre-signed URL (`up`, from the open
    /// response): no bearer token, the client's URL policy checked, retried up to `attempts`
    /// times on transient failures with exponential backoff. The part is read into memory.
    ///
    /// # Errors
    /// [`Error::Config`] if the file cannot be read; the storage's answer otherwise (e.g. 403
    /// for an expired upload window: [`Error::status`] tells).
    pub fn upload_batch_part_blocking(&self, path: &Path, up: &PartUploadRequest, attempts: u32) -> Result<(), Error> {
        let body = std::fs::read(path).map_err(|e| Error::Config(format!("reading part {}: {e}", path.display())))?;
        let method = http::Method::from_bytes(up.method.as_bytes())
            .map_err(|_| Error::Protocol(format!("bad upload method `{}`", up.method)))?;
        let headers: Vec<(&str, &str)> =
            up.headers.iter().filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v))).collect();
        let mut attempt = 0;
        loop {
            let req = presigned_request(method.clone(), &up.url, &headers, body.clone(), self.url_policy())?;
            let r =
                self.inner.pipeline.execute_presigned_blocking(&self.inner.transport, req, |d| self.sleep_blocking(d));
            match r.map_err(Error::from) {
                Ok(_) => return Ok(()),
                Err(Error::Api(e)) if attempt + 1 < attempts.max(1) && e.is_retryable() => {
                    tracing::debug!(part = up.ordinal_number.get(), "part upload failed, retrying: {e}");
                    self.sleep_blocking(backoff(attempt));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ksef_transport::{HttpRequest, HttpResponse};

    use super::*;
    use crate::env::Environment;

    fn up(url: &str) -> PartUploadRequest {
        serde_json::from_value(serde_json::json!({
            "ordinalNumber": 2, "method": "PUT", "url": url, "headers": {"x-ms-blob-type": "BlockBlob"}
        }))
        .unwrap()
    }

    /// A client whose transport answers `statuses` in turn and records every request.
    fn client(statuses: Vec<u16>) -> (KsefClient<impl SyncTransport>, Arc<Mutex<Vec<HttpRequest>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, answers) = (seen.clone(), Mutex::new(statuses.into_iter()));
        let transport = move |req: HttpRequest| -> Result<HttpResponse, std::io::Error> {
            log.lock().unwrap().push(req);
            let status = answers.lock().unwrap().next().unwrap_or(500);
            Ok(http::Response::builder().status(status).body(Vec::new()).unwrap())
        };
        let c = KsefClient::builder(Environment::Test).blocking_sleep(|_| {}).build(transport).unwrap();
        (c, seen)
    }

    fn part_file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    const URL: &str = "https://upload.ksef.mf.gov.pl/batch/part-2?sig=abc";

    #[test]
    fn uploads_the_file_bytes_with_the_listed_method_and_headers_and_no_token() {
        let (c, seen) = client(vec![201]);
        let f = part_file(b"encrypted part");
        c.upload_batch_part_blocking(f.path(), &up(URL), 3).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert_eq!(r.method(), http::Method::PUT);
        assert_eq!(r.uri().to_string(), URL);
        assert_eq!(r.headers()["x-ms-blob-type"], "BlockBlob");
        assert!(r.headers().get(http::header::AUTHORIZATION).is_none());
        assert_eq!(r.body(), b"encrypted part");
    }

    #[test]
    fn transient_failures_are_retried_and_a_refused_upload_is_not() {
        let (c, seen) = client(vec![503, 503, 201]);
        let f = part_file(b"x");
        c.upload_batch_part_blocking(f.path(), &up(URL), 5).unwrap();
        assert_eq!(seen.lock().unwrap().len(), 3);

        let (c, seen) = client(vec![403, 201]);
        let e = c.upload_batch_part_blocking(f.path(), &up(URL), 5).unwrap_err();
        assert_eq!(e.status(), Some(http::StatusCode::FORBIDDEN), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 1, "an expired window is final");
    }

    #[test]
    fn a_missing_part_file_or_a_refused_url_sends_nothing() {
        let (c, seen) = client(vec![201]);
        let e = c.upload_batch_part_blocking(Path::new("/nonexistent/part-001.aes"), &up(URL), 3).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        let f = part_file(b"x");
        assert!(c.upload_batch_part_blocking(f.path(), &up("http://169.254.169.254/latest"), 3).is_err());
        assert!(seen.lock().unwrap().is_empty());
    }
}
