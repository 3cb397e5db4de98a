//! Conformance of every successful response to the pinned spec: each 2xx answer the tests'
//! HTTP helper receives for a `/v2` operation is checked at once (status = the spec's success
//! status; the body deserializes into `<O as Operation>::Response`; every JSON object's keys are
//! among the schema's properties and its required properties are present). Operations seen
//! are counted; `KSEF_CONFORMANCE_LOG=<file>` appends their names there (for coverage reports).

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

use ksef_model::{Method, Operation, OperationSpec};
use serde_json::Value;

static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let p = super::common::shared_dir().join("ksef-spec/openapi.json");
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).expect("openapi.json parses")
    })
}

fn typed<O: Operation>(body: &[u8]) -> Result<(), String>
where
    O::Response: serde::de::DeserializeOwned,
{
    if std::any::type_name::<O::Response>() == "()" {
        return if body.is_empty() || body == b"null" || body == b"{}" {
            Ok(())
        } else {
            Err(format!("the spec has no body, got {}", String::from_utf8_lossy(body)))
        };
    }
    serde_json::from_slice::<O::Response>(body).map(|_| ()).map_err(|e| e.to_string())
}

macro_rules! typed_by_name {
    ($name:expr, $body:expr; $($op:ident => $ty:ident,)*) => {
        match $name {
            $(stringify!($op) => typed::<ksef_model::operations::$ty>($body),)*
            other => Err(format!("no operation type for {other}")),
        }
    };
}

/// The operations whose success body is an XML document (`ksef_model::XmlDocument`).
fn xml<O: Operation<Response = ksef_model::XmlDocument>>(body: &[u8]) -> Result<(), String> {
    if O::SPEC.response.content_type != Some("application/xml") {
        return Err(format!("{} is not an XML operation", O::SPEC.name));
    }
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    roxmltree::Document::parse(text).map(|_| ()).map_err(|e| format!("not XML: {e}"))
}

fn typed_check(name: &str, body: &[u8]) -> Result<(), String> {
    use ksef_model::operations as ops;
    match name {
        "get_invoice" => return xml::<ops::GetInvoice>(body),
        "get_invoice_upo_by_ksef_number" => return xml::<ops::GetInvoiceUpoByKsefNumber>(body),
        "get_invoice_upo_by_reference" => return xml::<ops::GetInvoiceUpoByReference>(body),
        "get_session_upo" => return xml::<ops::GetSessionUpo>(body),
        _ => {}
    }
    typed_by_name!(name, body;
        list_auth_sessions => ListAuthSessions,
        revoke_current_auth_session => RevokeCurrentAuthSession,
        revoke_auth_session => RevokeAuthSession,
        get_certificate_limits => GetCertificateLimits,
        get_certificate_enrollment_data => GetCertificateEnrollmentData,
        enroll_certificate => EnrollCertificate,
        get_certificate_enrollment_status => GetCertificateEnrollmentStatus,
        retrieve_certificates => RetrieveCertificates,
        revoke_certificate => RevokeCertificate,
        query_certificates => QueryCertificates,
        testdata_update_certificate => TestdataUpdateCertificate,
        get_public_key_certificates => GetPublicKeyCertificates,
        testdata_create_subject => TestdataCreateSubject,
        testdata_remove_subject => TestdataRemoveSubject,
        testdata_create_person => TestdataCreatePerson,
        testdata_remove_person => TestdataRemovePerson,
        testdata_grant_permissions => TestdataGrantPermissions,
        testdata_revoke_permissions => TestdataRevokePermissions,
        testdata_allow_attachments => TestdataAllowAttachments,
        testdata_revoke_attachments => TestdataRevokeAttachments,
        testdata_block_context => TestdataBlockContext,
        testdata_unblock_context => TestdataUnblockContext,
        create_collective_identifier => CreateCollectiveIdentifier,
        query_collective_identifiers => QueryCollectiveIdentifiers,
        query_collective_identifier_invoices => QueryCollectiveIdentifierInvoices,
        get_collective_identifiers_by_ksef_number => GetCollectiveIdentifiersByKsefNumber,
        get_context_limits => GetContextLimits,
        get_subject_limits => GetSubjectLimits,
        get_rate_limits => GetRateLimits,
        testdata_set_session_limits => TestdataSetSessionLimits,
        testdata_reset_session_limits => TestdataResetSessionLimits,
        testdata_set_certificate_limits => TestdataSetCertificateLimits,
        testdata_reset_certificate_limits => TestdataResetCertificateLimits,
        testdata_set_rate_limits => TestdataSetRateLimits,
        testdata_reset_rate_limits => TestdataResetRateLimits,
        testdata_set_production_rate_limits => TestdataSetProductionRateLimits,
        grant_person_permissions => GrantPersonPermissions,
        grant_entity_permissions => GrantEntityPermissions,
        grant_authorization_permissions => GrantAuthorizationPermissions,
        grant_indirect_permissions => GrantIndirectPermissions,
        grant_subunit_permissions => GrantSubunitPermissions,
        grant_eu_entity_administration_permissions => GrantEuEntityAdministrationPermissions,
        grant_eu_entity_permissions => GrantEuEntityPermissions,
        revoke_common_permission => RevokeCommonPermission,
        revoke_authorization_permission => RevokeAuthorizationPermission,
        get_permission_operation_status => GetPermissionOperationStatus,
        get_attachment_permission_status => GetAttachmentPermissionStatus,
        query_invoice_metadata => QueryInvoiceMetadata,
        export_invoices => ExportInvoices,
        get_invoice_export_status => GetInvoiceExportStatus,
        list_sessions => ListSessions,
        get_session_status => GetSessionStatus,
        list_session_invoices => ListSessionInvoices,
        get_session_invoice_status => GetSessionInvoiceStatus,
        list_failed_session_invoices => ListFailedSessionInvoices,
        generate_token => GenerateToken,
        list_tokens => ListTokens,
        get_token => GetToken,
        revoke_token => RevokeToken,
        query_peppol_providers => QueryPeppolProviders,
        auth_challenge => AuthChallenge,
        auth_xades_signature => AuthXadesSignature,
        auth_ksef_token => AuthKsefToken,
        auth_status => AuthStatus,
        auth_token_redeem => AuthTokenRedeem,
        auth_token_refresh => AuthTokenRefresh,
        open_online_session => OpenOnlineSession,
        send_invoice => SendInvoice,
        close_online_session => CloseOnlineSession,
        open_batch_session => OpenBatchSession,
        close_batch_session => CloseBatchSession,
        query_personal_permissions => QueryPersonalPermissions,
        query_person_permissions => QueryPersonPermissions,
        query_subunit_permissions => QuerySubunitPermissions,
        query_entity_permissions => QueryEntityPermissions,
        query_entity_roles => QueryEntityRoles,
        query_subordinate_entity_roles => QuerySubordinateEntityRoles,
        query_authorization_permissions => QueryAuthorizationPermissions,
        query_eu_entity_permissions => QueryEuEntityPermissions,
    )
}

fn resolve(s: &Value) -> &Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(&spec()["components"]["schemas"][name])
        }
        None => s,
    }
}

/// Properties and required names of an object schema, through `allOf`.
fn object_parts(s: &Value, props: &mut serde_json::Map<String, Value>, required: &mut Vec<String>, extra: &mut bool) {
    let s = resolve(s);
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            object_parts(sub, props, required, extra);
        }
    }
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        props.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(r) = s.get("required").and_then(Value::as_array) {
        required.extend(r.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if s.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false)) {
        *extra = true;
    }
}

fn check_keys(schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let schema = resolve(schema);
    if v.is_null() || schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
        return;
    }
    match v {
        Value::Object(map) => {
            let (mut props, mut required, mut extra) = (serde_json::Map::new(), Vec::new(), false);
            object_parts(schema, &mut props, &mut required, &mut extra);
            if props.is_empty() && (extra || schema.get("type").is_none()) {
                return;
            }
            for (k, val) in map {
                match props.get(k) {
                    Some(ps) => check_keys(ps, val, &format!("{at}.{k}"), errs),
                    None if extra => {}
                    None => errs.push(format!("{at}.{k}: not in the schema")),
                }
            }
            for r in required {
                if !map.contains_key(&r) {
                    errs.push(format!("{at}.{r}: required, missing"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, it) in items.iter().enumerate() {
                    check_keys(item, it, &format!("{at}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

/// Checks one exchange; called by the tests' HTTP helper for every response.
pub fn check(method: &str, path: &str, status: u16, body: &[u8]) {
    if !(200..300).contains(&status) {
        return;
    }
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => return,
    };
    let path = path.split('?').next().unwrap_or(path);
    let Some(op) = OperationSpec::by_route(method, path) else {
        return;
    };
    assert_eq!(
        status, op.response.status,
        "{}: success status {status}, the spec says {}",
        op.name, op.response.status
    );
    if let Err(e) = typed_check(op.name, body) {
        panic!("{}: body does not deserialize into the response type: {e}: {}", op.name, String::from_utf8_lossy(body));
    }
    if op.response.content_type == Some("application/json") && !body.is_empty() {
        let v: Value = serde_json::from_slice(body).expect("JSON");
        let schema = &spec()["paths"][op.path][method.as_str().to_ascii_lowercase()]["responses"][status.to_string()]["content"]
            ["application/json"]["schema"];
        let mut errs = Vec::new();
        check_keys(schema, &v, "$", &mut errs);
        assert!(errs.is_empty(), "{}: response differs from the spec's schema: {errs:?}\n{v}", op.name);
    }
    let new = SEEN.lock().unwrap_or_else(|e| e.into_inner()).insert(op.name);
    if new && let Some(log) = std::env::var_os("KSEF_CONFORMANCE_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{}", op.name);
        }
    }
}

#[test]
fn the_checker_catches_unknown_and_missing_fields() {
    // AuthenticationChallengeResponse: challenge, timestamp, timestampMs (+clientIp), all checked.
    let op = OperationSpec::by_name("auth_challenge").expect("op");
    let schema = &spec()["paths"][op.path]["post"]["responses"]["200"]["content"]["application/json"]["schema"];
    let mut errs = Vec::new();
    check_keys(schema, &serde_json::json!({"challenge": "x", "bogus": 1}), "$", &mut errs);
    assert!(errs.iter().any(|e| e.contains("bogus: not in the schema")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("timestamp: required")), "{errs:?}");
    assert!(typed_check("auth_challenge", b"{\"challenge\": 5}").is_err());
}
