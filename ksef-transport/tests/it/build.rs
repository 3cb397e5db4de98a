//! Sans-IO request building: method, URI, headers, body, for operations of every tag.

use http::Method;
use ksef_model::operations::*;
use ksef_model::{Operation, XmlDocument, types};
use ksef_transport::{BuildError, Error, RequestBody, RequestContext, ResponseBody, build_raw, build_request};
use pretty_assertions::assert_eq;
use serde_json::json;

const BASE: &str = "https://ksef.example/v2";

fn ctx() -> RequestContext {
    RequestContext::new("https://ksef.example").unwrap().with_token("tok-123")
}

fn header<'a>(r: &'a http::Request<Vec<u8>>, n: &str) -> Option<&'a str> {
    r.headers().get(n).map(|v| v.to_str().unwrap())
}

fn body_json(r: &http::Request<Vec<u8>>) -> serde_json::Value {
    serde_json::from_slice(r.body()).unwrap()
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn assert_common(r: &http::Request<Vec<u8>>, bearer: bool, accept: &str) {
    assert_eq!(header(r, "x-error-format"), Some("problem-details"));
    assert_eq!(header(r, "accept"), Some(accept));
    assert_eq!(header(r, "authorization"), bearer.then_some("Bearer tok-123"));
}

#[test]
fn auth_challenge_is_public_post_without_body() {
    let r = build_request::<AuthChallenge>(&ctx(), &(), ()).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.uri(), &format!("{BASE}/auth/challenge")[..]);
    assert_common(&r, false, "application/json");
    assert!(r.body().is_empty());
    assert_eq!(header(&r, "content-type"), None);
}

#[test]
fn auth_xades_signature_sends_raw_xml() {
    let xml = XmlDocument(b"<AuthTokenRequest/>".to_vec());
    let r = build_request::<AuthXadesSignature>(&ctx(), &Default::default(), xml).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert!(r.uri().to_string().starts_with(&format!("{BASE}/auth/xades-signature")));
    assert_eq!(header(&r, "content-type"), Some("application/xml"));
    assert_eq!(r.body(), b"<AuthTokenRequest/>");
    assert_eq!(header(&r, "authorization"), None);
}

#[test]
fn auth_status_and_refresh_use_the_given_token() {
    let c = RequestContext::new(BASE).unwrap().with_token("auth-token");
    let p = AuthStatusParams { reference_number: "20250514-AU-2DFC46C000-3AC6D5877F-D4".into() };
    let r = build_request::<AuthStatus>(&c, &p, ()).unwrap();
    assert_eq!(r.method(), Method::GET);
    assert_eq!(r.uri(), &format!("{BASE}/auth/20250514-AU-2DFC46C000-3AC6D5877F-D4")[..]);
    assert_eq!(header(&r, "authorization"), Some("Bearer auth-token"));
    let r = build_request::<AuthTokenRefresh>(&c, &(), ()).unwrap();
    assert_eq!(r.uri(), &format!("{BASE}/auth/token/refresh")[..]);
    assert_eq!(r.method(), Method::POST);
}

#[test]
fn missing_token_is_a_build_error() {
    let c = RequestContext::new(BASE).unwrap();
    let e = build_request::<GetRateLimits>(&c, &(), ()).unwrap_err();
    assert!(matches!(e, Error::Build(BuildError::MissingToken("get_rate_limits"))), "{e:?}");
}

#[test]
fn sessions_list_query_and_session_invoice_status() {
    let p = ListSessionsParams {
        page_size: Some(20),
        session_type: types::SessionType::Online,
        date_created_from: Some("2025-01-02T03:04:05+01:00".parse().unwrap()),
        continuation_token: Some("cont/+=".into()),
        reference_number: None,
        date_created_to: None,
        date_closed_from: None,
        date_closed_to: None,
        date_modified_from: None,
        date_modified_to: None,
        statuses: vec![from_json(json!("InProgress")), from_json(json!("Succeeded"))],
    };
    let r = build_request::<ListSessions>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.method(), Method::GET);
    assert_eq!(
        r.uri(),
        &format!(
            "{BASE}/sessions?pageSize=20&sessionType=Online&dateCreatedFrom=2025-01-02T02%3A04%3A05Z\
             &statuses=InProgress&statuses=Succeeded"
        )[..]
    );
    assert_eq!(header(&r, "x-continuation-token"), Some("cont/+="));
    assert_common(&r, true, "application/json");

    let p = GetSessionInvoiceStatusParams {
        reference_number: "20250625-SO-2C3E6C8000-B675CF5D68-07".into(),
        invoice_reference_number: "a b/c".into(),
    };
    let r = build_request::<GetSessionInvoiceStatus>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.uri(), &format!("{BASE}/sessions/20250625-SO-2C3E6C8000-B675CF5D68-07/invoices/a%20b%2Fc")[..]);
}

#[test]
fn sessions_close_online() {
    let p = CloseOnlineSessionParams { reference_number: "20250625-SO-2C3E6C8000-B675CF5D68-07".into() };
    let r = build_request::<CloseOnlineSession>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.uri(), &format!("{BASE}/sessions/online/20250625-SO-2C3E6C8000-B675CF5D68-07/close")[..]);
}

#[test]
fn invoices_get_xml_and_metadata_query() {
    let p = GetInvoiceParams { ksef_number: "5265877635-20250826-0100001AF629-AF".into() };
    let r = build_request::<GetInvoice>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.uri(), &format!("{BASE}/invoices/ksef/5265877635-20250826-0100001AF629-AF")[..]);
    assert_common(&r, true, "application/xml");

    let filters: types::InvoiceQueryFilters = from_json(json!({
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Issue", "from": "2025-08-28T09:22:13.388+00:00"}
    }));
    let p = QueryInvoiceMetadataParams { page_offset: Some(0), page_size: Some(250), ..Default::default() };
    let r = build_request::<QueryInvoiceMetadata>(&ctx(), &p, filters).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.uri(), &format!("{BASE}/invoices/query/metadata?pageOffset=0&pageSize=250")[..]);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(body_json(&r)["dateRange"]["dateType"], "Issue");
    assert_eq!(body_json(&r)["subjectType"], "Subject1");
}

#[test]
fn permissions_status_and_revoke() {
    let p = GetPermissionOperationStatusParams { reference_number: "20250625-EP-2C3E6C8000-B675CF5D68-07".into() };
    let r = build_request::<GetPermissionOperationStatus>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.uri(), &format!("{BASE}/permissions/operations/20250625-EP-2C3E6C8000-B675CF5D68-07")[..]);
    let p = RevokeCommonPermissionParams { permission_id: "perm-1".into() };
    let r = build_request::<RevokeCommonPermission>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.method(), Method::DELETE);
    assert_eq!(r.uri(), &format!("{BASE}/permissions/common/grants/perm-1")[..]);
}

#[test]
fn tokens_list_repeats_array_params() {
    let p = ListTokensParams {
        status: vec![from_json(json!("Active")), from_json(json!("Pending"))],
        page_size: Some(10),
        ..Default::default()
    };
    let r = build_request::<ListTokens>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.uri(), &format!("{BASE}/tokens?status=Active&status=Pending&pageSize=10")[..]);
    let p = RevokeTokenParams { reference_number: "20251010-EC-1DCE3E3000-12ECB6B5C7-A1".into() };
    let r = build_request::<RevokeToken>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.method(), Method::DELETE);
    assert_eq!(r.uri(), &format!("{BASE}/tokens/20251010-EC-1DCE3E3000-12ECB6B5C7-A1")[..]);
}

#[test]
fn certificates_limits_and_query() {
    let r = build_request::<GetCertificateLimits>(&ctx(), &(), ()).unwrap();
    assert_eq!(r.uri(), &format!("{BASE}/certificates/limits")[..]);
    let p = QueryCertificatesParams { page_size: Some(10), page_offset: Some(1) };
    let r = build_request::<QueryCertificates>(&ctx(), &p, types::QueryCertificatesRequest::default()).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.uri(), &format!("{BASE}/certificates/query?pageSize=10&pageOffset=1")[..]);
    assert_eq!(r.body(), b"{}");
}

#[test]
fn limits_and_rate_limits() {
    for (r, path) in [
        (build_request::<GetContextLimits>(&ctx(), &(), ()).unwrap(), "/limits/context"),
        (build_request::<GetSubjectLimits>(&ctx(), &(), ()).unwrap(), "/limits/subject"),
        (build_request::<GetRateLimits>(&ctx(), &(), ()).unwrap(), "/rate-limits"),
    ] {
        assert_eq!(r.method(), Method::GET);
        assert_eq!(r.uri(), &format!("{BASE}{path}")[..]);
        assert_common(&r, true, "application/json");
    }
}

#[test]
fn testdata_create_subject_json_body() {
    let body: types::SubjectCreateRequest = from_json(json!({
        "subjectNip": "5265877635", "subjectType": "VatGroup", "description": "Grupa VAT", "futureField": true
    }));
    let r = build_request::<TestdataCreateSubject>(&ctx(), &(), body).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.uri(), &format!("{BASE}/testdata/subject")[..]);
    assert_eq!(header(&r, "authorization"), None);
    assert_eq!(
        body_json(&r),
        json!({"subjectNip": "5265877635", "subjectType": "VatGroup", "description": "Grupa VAT"})
    );
}

#[test]
fn peppol_query_is_public() {
    let p = QueryPeppolProvidersParams { page_offset: Some(2), page_size: Some(100) };
    let r = build_request::<QueryPeppolProviders>(&ctx(), &p, ()).unwrap();
    assert_eq!(r.method(), Method::GET);
    assert_eq!(r.uri(), &format!("{BASE}/peppol/query?pageOffset=2&pageSize=100")[..]);
    assert_common(&r, false, "application/json");
}

#[test]
fn collective_identifiers() {
    let p = GetCollectiveIdentifiersByKsefNumberParams {
        ksef_number: "5265877635-20250826-0100001AF629-AF".into(),
        continuation_token: Some("c1".into()),
        page_size: None,
    };
    let r = build_request::<GetCollectiveIdentifiersByKsefNumber>(&ctx(), &p, ()).unwrap();
    assert!(r.uri().path().starts_with("/v2/"), "{}", r.uri());
    assert!(r.uri().path().contains("5265877635-20250826-0100001AF629-AF"), "{}", r.uri());
    assert_eq!(header(&r, "x-continuation-token"), Some("c1"));
    let body: types::CollectiveIdentifiersQueryRequest = from_json(json!({
        "dateCreatedFrom": "2025-01-01T00:00:00Z", "dateCreatedTo": "2025-02-01T00:00:00Z"
    }));
    let r = build_request::<QueryCollectiveIdentifiers>(&ctx(), &Default::default(), body).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(body_json(&r)["dateCreatedFrom"], "2025-01-01T00:00:00Z");
}

#[test]
fn context_headers_features_and_problem_details_switch() {
    let c =
        ctx().with_feature("upo-v4-3").unwrap().with_feature("include-metadata").unwrap().with_problem_details(false);
    let r = build_request::<GetRateLimits>(&c, &(), ()).unwrap();
    let features: Vec<_> = r.headers().get_all("x-ksef-feature").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(features, ["upo-v4-3", "include-metadata"]);
    assert_eq!(header(&r, "x-error-format"), None);
    assert!(r.headers().get("authorization").unwrap().is_sensitive());
}

#[test]
fn base_url_forms() {
    for b in ["https://h.example", "https://h.example/", "https://h.example/v2", "https://h.example/v2/"] {
        assert_eq!(RequestContext::new(b).unwrap().base_url(), "https://h.example/v2");
    }
    assert_eq!(RequestContext::new("http://127.0.0.1:8080/ksef").unwrap().base_url(), "http://127.0.0.1:8080/ksef/v2");
    for b in ["ftp://h.example", "not a url", "/relative", "https://h.example/?q=1"] {
        assert!(RequestContext::new(b).is_err(), "{b}");
    }
}

#[test]
fn empty_path_param_is_refused() {
    let p = GetInvoiceParams { ksef_number: String::new() };
    let e = build_request::<GetInvoice>(&ctx(), &p, ()).unwrap_err();
    assert!(matches!(e, Error::Build(BuildError::MissingPathParam("ksefNumber"))), "{e:?}");
}

/// Every operation's marker type has encodable request and decodable response types.
fn assert_codec<O: Operation>()
where
    O::Request: RequestBody,
    O::Response: ResponseBody,
{
}

macro_rules! all_ops {
    ($($o:ident)*) => {{
        $(assert_codec::<$o>();)*
        [$(<$o as Operation>::SPEC.name),*].len()
    }};
}

#[test]
fn every_operation_builds() {
    let n = all_ops!(ListAuthSessions RevokeCurrentAuthSession RevokeAuthSession GetCertificateLimits
        GetCertificateEnrollmentData EnrollCertificate GetCertificateEnrollmentStatus RetrieveCertificates
        RevokeCertificate QueryCertificates TestdataUpdateCertificate GetPublicKeyCertificates TestdataCreateSubject
        TestdataRemoveSubject TestdataCreatePerson TestdataRemovePerson TestdataGrantPermissions
        TestdataRevokePermissions TestdataAllowAttachments TestdataRevokeAttachments TestdataBlockContext
        TestdataUnblockContext CreateCollectiveIdentifier QueryCollectiveIdentifiers QueryCollectiveIdentifierInvoices
        GetCollectiveIdentifiersByKsefNumber GetContextLimits GetSubjectLimits GetRateLimits TestdataSetSessionLimits
        TestdataResetSessionLimits TestdataSetCertificateLimits TestdataResetCertificateLimits TestdataSetRateLimits
        TestdataResetRateLimits TestdataSetProductionRateLimits GrantPersonPermissions GrantEntityPermissions
        GrantAuthorizationPermissions GrantIndirectPermissions GrantSubunitPermissions
        GrantEuEntityAdministrationPermissions GrantEuEntityPermissions RevokeCommonPermission
        RevokeAuthorizationPermission GetPermissionOperationStatus GetAttachmentPermissionStatus GetInvoice
        QueryInvoiceMetadata ExportInvoices GetInvoiceExportStatus ListSessions GetSessionStatus ListSessionInvoices
        GetSessionInvoiceStatus ListFailedSessionInvoices GetInvoiceUpoByKsefNumber GetInvoiceUpoByReference
        GetSessionUpo GenerateToken ListTokens GetToken RevokeToken QueryPeppolProviders AuthChallenge
        AuthXadesSignature AuthKsefToken AuthStatus AuthTokenRedeem AuthTokenRefresh OpenOnlineSession SendInvoice
        CloseOnlineSession OpenBatchSession CloseBatchSession QueryPersonalPermissions QueryPersonPermissions
        QuerySubunitPermissions QueryEntityPermissions QueryEntityRoles QuerySubordinateEntityRoles
        QueryAuthorizationPermissions QueryEuEntityPermissions);
    assert_eq!(n, ksef_model::OPERATIONS.len());

    // And the non-generic core handles every template of the table.
    let c = ctx();
    for spec in ksef_model::OPERATIONS {
        let path: Vec<_> = spec.path_params.iter().map(|p| (p.name, format!("v-{}", p.name))).collect();
        let body = spec.request_body.map(|_| b"{}".to_vec());
        let r = build_raw(spec, &c, &path, &[], &[], body).unwrap_or_else(|e| panic!("{}: {e:?}", spec.name));
        assert_eq!(r.method().as_str(), spec.method.as_str());
        let mut expected = format!("/v2{}", spec.path);
        for p in spec.path_params {
            expected = expected.replace(&format!("{{{}}}", p.name), &format!("v-{}", p.name));
        }
        assert_eq!(r.uri().path(), expected, "{}", spec.name);
        assert_eq!(r.headers().contains_key("authorization"), spec.bearer, "{}", spec.name);
        if let Some(b) = spec.request_body {
            assert_eq!(r.headers()["content-type"], b.content_type, "{}", spec.name);
        }
    }
}
