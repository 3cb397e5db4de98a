//! Named, typed calls for KSeF tokens, KSeF certificates (with the whole enrollment flow),
//! limits, the test-data API and the Peppol provider list, blocking (`_blocking`) and async.
//!
//! Each method is a thin wrapper over [`KsefClient::call_blocking`] / [`KsefClient::call`] (so
//! the limiter, retries and token refresh apply); listings are flattened into iterators
//! (blocking) or `futures` streams (async) of items over all pages.

use std::time::Duration;

use futures_util::Stream;
use ksef_crypto::PrivateKey;
use ksef_model::operations as ops;
use ksef_model::types::{
    AttachmentPermissionGrantRequest, AttachmentPermissionRevokeRequest, BlockContextAuthenticationRequest,
    CertificateEnrollmentDataResponse, CertificateEnrollmentStatusResponse, CertificateLimitsResponse,
    CertificateListItem, CertificateRevocationReason, EffectiveApiRateLimits, EffectiveContextLimits,
    EffectiveSubjectLimits, EnrollCertificateRequest, EnrollCertificateResponse, GenerateTokenRequest,
    GenerateTokenResponse, KsefCertificateType, PeppolProvider, PersonCreateRequest, PersonRemoveRequest,
    QueryCertificatesRequest, QueryTokensResponseItem, RetrieveCertificatesListItem, RetrieveCertificatesRequest,
    RevokeCertificateRequest, SetRateLimitsRequest, SetSessionLimitsRequest, SetSubjectLimitsRequest,
    SubjectCreateRequest, SubjectRemoveRequest, TestDataPermissionsGrantRequest, TestDataPermissionsRevokeRequest,
    TestDataUpdateCertificateRequest, TokenPermissionType, TokenStatusResponse, UnblockContextAuthenticationRequest,
};
use ksef_transport::{AsyncTransport, SyncTransport};

use crate::KsefClient;
use crate::error::Error;
use crate::flows::StatusFailure;

/// Generates a blocking and an async method per simple operation: the arguments build the
/// parameters and the body, the value of the response is returned.
macro_rules! simple {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident / $name_blocking:ident ( $($arg:ident : $ty:ty),* ) -> $out:ty = $op:ident ( $params:expr, $body:expr );
    )*) => {
        impl<T: SyncTransport> KsefClient<T> {
            $(
                $(#[doc = $doc])*
                pub fn $name_blocking(&self, $($arg: $ty),*) -> Result<$out, Error> {
                    Ok(self.call_blocking::<ops::$op>(&$params, $body)?.value)
                }
            )*
        }
        impl<T: AsyncTransport + Sync> KsefClient<T> {
            $(
                #[doc = concat!("Async [`Self::", stringify!($name_blocking), "`].")]
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$out, Error> {
                    Ok(self.call::<ops::$op>(&$params, $body).await?.value)
                }
            )*
        }
    };
}

simple! {
    /// `GET /tokens/{referenceNumber}`: a KSeF token's status and metadata (never the secret).
    get_token / get_token_blocking(reference_number: &str) -> TokenStatusResponse
        = GetToken(ops::GetTokenParams { reference_number: reference_number.to_owned() }, ());
    /// `DELETE /tokens/{referenceNumber}`: revokes a KSeF token.
    revoke_token / revoke_token_blocking(reference_number: &str) -> ()
        = RevokeToken(ops::RevokeTokenParams { reference_number: reference_number.to_owned() }, ());

    /// `GET /certificates/limits`: whether the subject may request a certificate, and its limits.
    certificate_limits / certificate_limits_blocking() -> CertificateLimitsResponse
        = GetCertificateLimits((), ());
    /// `GET /certificates/enrollments/data`: the subject fields the CSR must carry.
    certificate_enrollment_data / certificate_enrollment_data_blocking() -> CertificateEnrollmentDataResponse
        = GetCertificateEnrollmentData((), ());
    /// `POST /certificates/enrollments` with a prepared request (see
    /// [`KsefClient::enroll_certificate_blocking`] for the whole flow).
    submit_certificate_enrollment / submit_certificate_enrollment_blocking(request: EnrollCertificateRequest) -> EnrollCertificateResponse
        = EnrollCertificate((), request);
    /// `GET /certificates/enrollments/{referenceNumber}`: one poll of an enrollment.
    certificate_enrollment_status / certificate_enrollment_status_blocking(reference_number: &str) -> CertificateEnrollmentStatusResponse
        = GetCertificateEnrollmentStatus(
            ops::GetCertificateEnrollmentStatusParams { reference_number: reference_number.to_owned() }, ());
    /// `POST /certificates/{serial}/revoke`.
    revoke_certificate / revoke_certificate_blocking(serial_number: &str, reason: Option<CertificateRevocationReason>) -> ()
        = RevokeCertificate(
            ops::RevokeCertificateParams { certificate_serial_number: serial_number.to_owned() },
            RevokeCertificateRequest { revocation_reason: reason });

    /// `GET /limits/context`: the session limits of the current context.
    context_limits / context_limits_blocking() -> EffectiveContextLimits = GetContextLimits((), ());
    /// `GET /limits/subject`: the certificate and enrollment limits of the subject.
    subject_limits / subject_limits_blocking() -> EffectiveSubjectLimits = GetSubjectLimits((), ());
    /// `GET /rate-limits`: the effective API rate limits (see
    /// [`KsefClient::apply_rate_limits_blocking`] to feed them to the limiter).
    rate_limits / rate_limits_blocking() -> EffectiveApiRateLimits = GetRateLimits((), ());

    /// `POST /testdata/subject` (TE only).
    testdata_create_subject / testdata_create_subject_blocking(request: SubjectCreateRequest) -> ()
        = TestdataCreateSubject((), request);
    /// `POST /testdata/subject/remove` (TE only).
    testdata_remove_subject / testdata_remove_subject_blocking(request: SubjectRemoveRequest) -> ()
        = TestdataRemoveSubject((), request);
    /// `POST /testdata/person` (TE only).
    testdata_create_person / testdata_create_person_blocking(request: PersonCreateRequest) -> ()
        = TestdataCreatePerson((), request);
    /// `POST /testdata/person/remove` (TE only).
    testdata_remove_person / testdata_remove_person_blocking(request: PersonRemoveRequest) -> ()
        = TestdataRemovePerson((), request);
    /// `POST /testdata/permissions` (TE only).
    testdata_grant_permissions / testdata_grant_permissions_blocking(request: TestDataPermissionsGrantRequest) -> ()
        = TestdataGrantPermissions((), request);
    /// `POST /testdata/permissions/revoke` (TE only).
    testdata_revoke_permissions / testdata_revoke_permissions_blocking(request: TestDataPermissionsRevokeRequest) -> ()
        = TestdataRevokePermissions((), request);
    /// `POST /testdata/attachment` (TE only): allows invoices with attachments.
    testdata_allow_attachments / testdata_allow_attachments_blocking(request: AttachmentPermissionGrantRequest) -> ()
        = TestdataAllowAttachments((), request);
    /// `POST /testdata/attachment/revoke` (TE only).
    testdata_revoke_attachments / testdata_revoke_attachments_blocking(request: AttachmentPermissionRevokeRequest) -> ()
        = TestdataRevokeAttachments((), request);
    /// `POST /testdata/context/block` (TE only): blocks authentication in a context.
    testdata_block_context / testdata_block_context_blocking(request: BlockContextAuthenticationRequest) -> ()
        = TestdataBlockContext((), request);
    /// `POST /testdata/context/unblock` (TE only).
    testdata_unblock_context / testdata_unblock_context_blocking(request: UnblockContextAuthenticationRequest) -> ()
        = TestdataUnblockContext((), request);
    /// `POST /testdata/limits/context/session` (TE only).
    testdata_set_session_limits / testdata_set_session_limits_blocking(request: SetSessionLimitsRequest) -> ()
        = TestdataSetSessionLimits((), request);
    /// `DELETE /testdata/limits/context/session` (TE only).
    testdata_reset_session_limits / testdata_reset_session_limits_blocking() -> ()
        = TestdataResetSessionLimits((), ());
    /// `POST /testdata/limits/subject/certificate` (TE only).
    testdata_set_certificate_limits / testdata_set_certificate_limits_blocking(request: SetSubjectLimitsRequest) -> ()
        = TestdataSetCertificateLimits((), request);
    /// `DELETE /testdata/limits/subject/certificate` (TE only).
    testdata_reset_certificate_limits / testdata_reset_certificate_limits_blocking() -> ()
        = TestdataResetCertificateLimits((), ());
    /// `POST /testdata/rate-limits` (TE only).
    testdata_set_rate_limits / testdata_set_rate_limits_blocking(request: SetRateLimitsRequest) -> ()
        = TestdataSetRateLimits((), request);
    /// `DELETE /testdata/rate-limits` (TE only).
    testdata_reset_rate_limits / testdata_reset_rate_limits_blocking() -> ()
        = TestdataResetRateLimits((), ());
    /// `POST /testdata/rate-limits/production` (TE only): production limits in the test context.
    testdata_set_production_rate_limits / testdata_set_production_rate_limits_blocking() -> ()
        = TestdataSetProductionRateLimits((), ());
    /// `PUT /testdata/certificates/{serialNumber}` (TE only): overrides a certificate's validity.
    testdata_update_certificate / testdata_update_certificate_blocking(serial_number: &str, request: TestDataUpdateCertificateRequest) -> ()
        = TestdataUpdateCertificate(
            ops::TestdataUpdateCertificateParams { serial_number: serial_number.to_owned() }, request);
}

/// What to enroll with [`KsefClient::enroll_certificate_blocking`].
#[derive(Debug, Clone)]
pub struct CertificateEnrollment {
    /// `certificateName` (5–100 characters).
    pub name: String,
    /// `Authentication` (XAdES login) or `Offline` (KOD II signing).
    pub certificate_type: KsefCertificateType,
    /// Optional start of validity.
    pub valid_from: Option<chrono::DateTime<chrono::Utc>>,
}

/// A certificate KSeF issued.
#[derive(Debug, Clone)]
pub struct EnrolledCertificate {
    /// The enrollment's reference number.
    pub reference_number: String,
    /// The certificate's serial number (16 hex digits).
    pub serial_number: String,
    /// The issued certificate (pair it with the key the CSR was signed with).
    pub certificate: ksef_crypto::Certificate,
    /// What `POST /certificates/retrieve` returned for it.
    pub listing: RetrieveCertificatesListItem,
}

/// The meaning of a final failure status of a certificate enrollment (protocol.md §11).
pub fn enrollment_failure_meaning(code: i32) -> Option<&'static str> {
    Some(match code {
        400 => "request rejected (key already certified for another subject, or the certificate limit reached)",
        500 => "unknown KSeF error",
        550 => "cancelled by the system",
        _ => return None,
    })
}

fn generate_request(description: &str, permissions: &[TokenPermissionType]) -> Result<GenerateTokenRequest, Error> {
    Ok(GenerateTokenRequest {
        description: description.to_owned().try_into().map_err(|e| Error::Config(format!("token description: {e}")))?,
        permissions: permissions.to_vec(),
    })
}

fn subject_of(data: &CertificateEnrollmentDataResponse) -> ksef_crypto::SubjectFields {
    ksef_crypto::SubjectFields {
        common_name: data.common_name.clone(),
        country_name: data.country_name.clone(),
        given_names: data.given_name.iter().cloned().collect(),
        surname: data.surname.clone(),
        serial_number: data.serial_number.clone(),
        unique_identifier: data.unique_identifier.clone(),
        organization_name: data.organization_name.clone(),
        organization_identifier: data.organization_identifier.clone(),
    }
}

fn enrollment_request(
    what: &CertificateEnrollment,
    key: &PrivateKey,
    data: &CertificateEnrollmentDataResponse,
) -> Result<EnrollCertificateRequest, Error> {
    let csr = ksef_crypto::x509::create_csr(key, &subject_of(data))?;
    Ok(EnrollCertificateRequest {
        certificate_name: what.name.clone().try_into().map_err(|e| Error::Config(format!("certificate name: {e}")))?,
        certificate_type: what.certificate_type.clone(),
        csr: ksef_crypto::encoding::b64_encode(&csr),
        valid_from: what.valid_from,
    })
}

/// `Ok(Some(serial))` on 200, `Ok(None)` while in progress, a typed failure otherwise.
fn enrollment_final(reference: &str, st: &CertificateEnrollmentStatusResponse) -> Result<Option<String>, Error> {
    match st.status.code {
        200 => st
            .certificate_serial_number
            .as_ref()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| Error::Protocol("enrollment status 200 without a certificate serial number".into())),
        c if c >= 300 => Err(Error::EnrollmentFailed(StatusFailure {
            reference_number: reference.to_owned(),
            code: c,
            description: st.status.description.to_string(),
            details: st.status.details.clone().unwrap_or_default(),
            meaning: enrollment_failure_meaning(c).unwrap_or("certificate enrollment failed"),
        })),
        _ => Ok(None),
    }
}

fn retrieve_request(serial_numbers: &[&str]) -> Result<RetrieveCertificatesRequest, Error> {
    let items = serial_numbers
        .iter()
        .map(|s| (*s).to_owned().try_into().map_err(|e| Error::Config(format!("certificate serial number `{s}`: {e}"))))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(RetrieveCertificatesRequest { certificate_serial_numbers: items })
}

fn issued(
    reference: String,
    serial: String,
    mut listing: Vec<RetrieveCertificatesListItem>,
) -> Result<EnrolledCertificate, Error> {
    let pos = listing
        .iter()
        .position(|c| c.certificate_serial_number.to_string().eq_ignore_ascii_case(&serial))
        .ok_or_else(|| Error::Protocol(format!("certificate {serial} not returned by retrieve")))?;
    let item = listing.swap_remove(pos);
    let certificate = ksef_crypto::Certificate::from_b64(&item.certificate)?;
    Ok(EnrolledCertificate { reference_number: reference, serial_number: serial, certificate, listing: item })
}

impl<T: SyncTransport> KsefClient<T> {
    /// `POST /tokens`: generates a KSeF token with `permissions`. The secret is only in this
    /// response (`token`); store it at once.
    ///
    /// # Errors
    /// [`Error::Config`] for a description KSeF would refuse (length), API errors.
    pub fn generate_token_blocking(
        &self,
        description: &str,
        permissions: &[TokenPermissionType],
    ) -> Result<GenerateTokenResponse, Error> {
        Ok(self.call_blocking::<ops::GenerateToken>(&(), generate_request(description, permissions)?)?.value)
    }

    /// `GET /tokens` with the filters of `filter` (status, description, author; page size),
    /// as an iterator over every token of every page.
    pub fn list_tokens_blocking(
        &self,
        filter: ops::ListTokensParams,
    ) -> impl Iterator<Item = Result<QueryTokensResponseItem, Error>> + '_ {
        flatten_pages(self.pages_blocking::<ops::ListTokens>(filter, ()), |p| p.tokens)
    }

    /// `POST /certificates/retrieve`: certificates (DER, Base64) by serial number.
    pub fn retrieve_certificates_blocking(
        &self,
        serial_numbers: &[&str],
    ) -> Result<Vec<RetrieveCertificatesListItem>, Error> {
        Ok(self.call_blocking::<ops::RetrieveCertificates>(&(), retrieve_request(serial_numbers)?)?.value.certificates)
    }

    /// `POST /certificates/query` with `filter`, as an iterator over every certificate of
    /// every page (`pageOffset` paging; `page_size` defaults to KSeF's).
    pub fn query_certificates_blocking(
        &self,
        filter: QueryCertificatesRequest,
        page_size: Option<i32>,
    ) -> impl Iterator<Item = Result<CertificateListItem, Error>> + '_ {
        let params = ops::QueryCertificatesParams { page_size, page_offset: None };
        flatten_pages(self.offset_pages_blocking::<ops::QueryCertificates>(params, filter), |p| p.certificates)
    }

    /// `GET /peppol/query`: every registered Peppol provider, over all pages.
    pub fn peppol_providers_blocking(
        &self,
        page_size: Option<i32>,
    ) -> impl Iterator<Item = Result<PeppolProvider, Error>> + '_ {
        let params = ops::QueryPeppolProvidersParams { page_offset: None, page_size };
        flatten_pages(self.offset_pages_blocking::<ops::QueryPeppolProviders>(params, ()), |p| p.peppol_providers)
    }

    /// Fetches `GET /rate-limits` and installs them in the client's limiter (if it has one), so
    /// the limiter follows the limits KSeF grants this context. Returns them.
    pub fn apply_rate_limits_blocking(&self) -> Result<EffectiveApiRateLimits, Error> {
        let limits = self.rate_limits_blocking()?;
        if let Some(l) = self.inner.pipeline.limiter() {
            l.set_effective_limits(&limits);
        }
        Ok(limits)
    }

    /// The whole certificate enrollment: reads the enrollment data, builds a PKCS#10 CSR for
    /// that subject signed with `key` (RSA-2048 or P-256), submits it, polls its status until
    /// 200 (backoff of the client's [`crate::PollPolicy`]) and retrieves the issued certificate.
    ///
    /// # Errors
    /// [`Error::EnrollmentFailed`] for a failure status (400 with KSeF's reason, 500, 550),
    /// [`Error::Timeout`], [`Error::Config`] for a name KSeF would refuse, API errors.
    pub fn enroll_certificate_blocking(
        &self,
        what: &CertificateEnrollment,
        key: &PrivateKey,
    ) -> Result<EnrolledCertificate, Error> {
        let data = self.certificate_enrollment_data_blocking()?;
        let request = enrollment_request(what, key, &data)?;
        let reference = self.submit_certificate_enrollment_blocking(request)?.reference_number.to_string();
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        let serial = loop {
            let st = self.certificate_enrollment_status_blocking(&reference)?;
            if let Some(serial) = enrollment_final(&reference, &st)? {
                break serial;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "certificate enrollment", waited });
            }
            self.sleep_blocking(delay);
            waited += delay;
            delay = poll.next_delay(delay);
        };
        let listing = self.retrieve_certificates_blocking(&[&serial])?;
        issued(reference, serial, listing)
    }
}

impl<T: AsyncTransport + Sync> KsefClient<T> {
    /// Async [`Self::generate_token_blocking`].
    pub async fn generate_token(
        &self,
        description: &str,
        permissions: &[TokenPermissionType],
    ) -> Result<GenerateTokenResponse, Error> {
        Ok(self.call::<ops::GenerateToken>(&(), generate_request(description, permissions)?).await?.value)
    }

    /// Async [`Self::list_tokens_blocking`]: a stream of tokens over all pages.
    pub fn list_tokens(
        &self,
        filter: ops::ListTokensParams,
    ) -> impl Stream<Item = Result<QueryTokensResponseItem, Error>> + '_ {
        let pager = self.pages::<ops::ListTokens>(filter, ());
        stream_items(pager, |mut p| async move { (p.next_page().await, p) }, |p| p.tokens)
    }

    /// Async [`Self::retrieve_certificates_blocking`].
    pub async fn retrieve_certificates(
        &self,
        serial_numbers: &[&str],
    ) -> Result<Vec<RetrieveCertificatesListItem>, Error> {
        Ok(self.call::<ops::RetrieveCertificates>(&(), retrieve_request(serial_numbers)?).await?.value.certificates)
    }

    /// Async [`Self::query_certificates_blocking`]: a stream of certificates over all pages.
    pub fn query_certificates(
        &self,
        filter: QueryCertificatesRequest,
        page_size: Option<i32>,
    ) -> impl Stream<Item = Result<CertificateListItem, Error>> + '_ {
        let params = ops::QueryCertificatesParams { page_size, page_offset: None };
        let pager = self.offset_pages::<ops::QueryCertificates>(params, filter);
        stream_items(pager, |mut p| async move { (p.next_page().await, p) }, |p| p.certificates)
    }

    /// Async [`Self::peppol_providers_blocking`]: a stream of providers over all pages.
    pub fn peppol_providers(&self, page_size: Option<i32>) -> impl Stream<Item = Result<PeppolProvider, Error>> + '_ {
        let params = ops::QueryPeppolProvidersParams { page_offset: None, page_size };
        let pager = self.offset_pages::<ops::QueryPeppolProviders>(params, ());
        stream_items(pager, |mut p| async move { (p.next_page().await, p) }, |p| p.peppol_providers)
    }

    /// Async [`Self::apply_rate_limits_blocking`].
    pub async fn apply_rate_limits(&self) -> Result<EffectiveApiRateLimits, Error> {
        let limits = self.rate_limits().await?;
        if let Some(l) = self.inner.pipeline.limiter() {
            l.set_effective_limits(&limits);
        }
        Ok(limits)
    }

    /// Async [`Self::enroll_certificate_blocking`].
    pub async fn enroll_certificate(
        &self,
        what: &CertificateEnrollment,
        key: &PrivateKey,
    ) -> Result<EnrolledCertificate, Error> {
        let data = self.certificate_enrollment_data().await?;
        let request = enrollment_request(what, key, &data)?;
        let reference = self.submit_certificate_enrollment(request).await?.reference_number.to_string();
        let poll = self.poll();
        let (mut waited, mut delay) = (Duration::ZERO, poll.initial_delay);
        let serial = loop {
            let st = self.certificate_enrollment_status(&reference).await?;
            if let Some(serial) = enrollment_final(&reference, &st)? {
                break serial;
            }
            if waited >= poll.timeout {
                return Err(Error::Timeout { what: "certificate enrollment", waited });
            }
            self.sleep(delay).await;
            waited += delay;
            delay = poll.next_delay(delay);
        };
        let listing = self.retrieve_certificates(&[&serial]).await?;
        issued(reference, serial, listing)
    }
}

/// Items of every page of a blocking page iterator; stops after the first error.
fn flatten_pages<P, I>(
    pages: impl Iterator<Item = Result<P, Error>>,
    items: impl Fn(P) -> Vec<I>,
) -> impl Iterator<Item = Result<I, Error>> {
    let mut failed = false;
    pages
        .take_while(move |p| {
            let go = !failed;
            failed = p.is_err();
            go
        })
        .flat_map(move |p| match p {
            Ok(p) => items(p).into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
}

/// A stream of the items of every page of an async pager (`next` moves the pager into the
/// future and hands it back with the page); ends after the last page or the first error.
fn stream_items<G, P, I, F, Fut>(pager: G, next: F, items: fn(P) -> Vec<I>) -> impl Stream<Item = Result<I, Error>>
where
    F: Fn(G) -> Fut + Copy,
    Fut: Future<Output = (Option<Result<P, Error>>, G)>,
{
    let state = (Some(pager), std::collections::VecDeque::<I>::new());
    futures_util::stream::unfold(state, move |(mut pager, mut buf)| async move {
        loop {
            if let Some(i) = buf.pop_front() {
                return Some((Ok(i), (pager, buf)));
            }
            let (page, g) = next(pager.take()?).await;
            match page {
                None => return None,
                Some(Err(e)) => return Some((Err(e), (None, buf))),
                Some(Ok(p)) => {
                    buf.extend(items(p));
                    pager = Some(g);
                }
            }
        }
    })
}
