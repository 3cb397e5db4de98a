//! The test-data API (`/testdata/...`): entities, persons, ZAW-FA grants, attachment consent,
//! context blocking.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::{AppState, JsonBody, Routes};
use crate::domain::enums::EntityRole;
use crate::domain::{Identifier, IdentifierType, PermissionType, SubjectType};
use crate::error::ApiError;
use crate::store::{AttachmentConsent, GrantRecord, PersonRecord, StoreError, SubjectRecord};

pub(super) fn register(r: &mut Routes) {
    r.add("testdata_create_subject", create_subject);
    r.add("testdata_remove_subject", remove_subject);
    r.add("testdata_create_person", create_person);
    r.add("testdata_remove_person", remove_person);
    r.add("testdata_grant_permissions", grant_permissions);
    r.add("testdata_revoke_permissions", revoke_permissions);
    r.add("testdata_allow_attachments", allow_attachments);
    r.add("testdata_revoke_attachments", revoke_attachments);
    r.add("testdata_block_context", block_context);
    r.add("testdata_unblock_context", unblock_context);
}

fn nip(field: &str, v: &str) -> Result<(), ApiError> {
    v.parse::<ksef_model::Nip>().map(drop).map_err(|e| ApiError::validation(format!("{field}: {e}")))
}

fn description(field: &str, v: &str) -> Result<(), ApiError> {
    let n = v.chars().count();
    if (5..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::validation(format!("{field}: długość musi wynosić od 5 do 256 znaków.")))
    }
}

fn exists() -> ApiError {
    ApiError::code(30001, ["Podmiot lub uprawnienie już istnieje."])
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subunit {
    subject_nip: String,
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectCreate {
    subject_nip: String,
    subject_type: SubjectType,
    #[serde(default)]
    subunits: Option<Vec<Subunit>>,
    description: String,
    #[serde(default)]
    created_date: Option<DateTime<Utc>>,
}

async fn create_subject(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<SubjectCreate>,
) -> Result<StatusCode, ApiError> {
    nip("subjectNip", &req.subject_nip)?;
    description("description", &req.description)?;
    let subunits = req.subunits.unwrap_or_default();
    for s in &subunits {
        nip("subunits.subjectNip", &s.subject_nip)?;
        description("subunits.description", &s.description)?;
    }
    let created = req.created_date.unwrap_or_else(|| app.now());
    let (role, sub_role) = match req.subject_type {
        SubjectType::EnforcementAuthority => (EntityRole::EnforcementAuthority, None),
        SubjectType::VatGroup => (EntityRole::VatGroupUnit, Some(EntityRole::VatGroupSubUnit)),
        SubjectType::Jst => (EntityRole::LocalGovernmentUnit, Some(EntityRole::LocalGovernmentSubUnit)),
    };
    if app.store.subject(&req.subject_nip)?.is_some() {
        return Err(exists());
    }
    for s in &subunits {
        if app.store.subject(&s.subject_nip)?.is_some() {
            return Err(exists());
        }
    }
    app.store
        .insert_subject(SubjectRecord {
            nip: req.subject_nip.clone(),
            subject_type: Some(req.subject_type),
            description: req.description,
            roles: vec![role],
            parent_nip: None,
            created,
        })
        .map_err(already_exists)?;
    for s in subunits {
        app.store
            .insert_subject(SubjectRecord {
                nip: s.subject_nip,
                subject_type: None,
                description: s.description,
                roles: sub_role.into_iter().collect(),
                parent_nip: Some(req.subject_nip.clone()),
                created,
            })
            .map_err(already_exists)?;
    }
    Ok(StatusCode::OK)
}

fn already_exists(e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists => exists(),
        e => e.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectRemove {
    subject_nip: String,
}

async fn remove_subject(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<SubjectRemove>,
) -> Result<StatusCode, ApiError> {
    nip("subjectNip", &req.subject_nip)?;
    app.store.remove_subject(&req.subject_nip)?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonCreate {
    nip: String,
    pesel: String,
    is_bailiff: bool,
    description: String,
    #[serde(default)]
    is_deceased: Option<bool>,
    #[serde(default)]
    created_date: Option<DateTime<Utc>>,
}

async fn create_person(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<PersonCreate>,
) -> Result<StatusCode, ApiError> {
    nip("nip", &req.nip)?;
    req.pesel.parse::<ksef_model::Pesel>().map_err(|e| ApiError::validation(format!("pesel: {e}")))?;
    description("description", &req.description)?;
    app.store
        .insert_person(PersonRecord {
            nip: req.nip,
            pesel: req.pesel,
            is_bailiff: req.is_bailiff,
            is_deceased: req.is_deceased.unwrap_or(false),
            description: req.description,
            created: req.created_date.unwrap_or_else(|| app.now()),
        })
        .map_err(already_exists)?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonRemove {
    nip: String,
}

async fn remove_person(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<PersonRemove>,
) -> Result<StatusCode, ApiError> {
    nip("nip", &req.nip)?;
    if let Some(p) = app.store.person_by_nip(&req.nip)? {
        app.store.remove_grants_to(&Identifier::pesel(p.pesel))?;
        app.store.remove_grants_to(&Identifier::nip(p.nip))?;
    }
    app.store.remove_person(&req.nip)?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct WireIdentifier {
    #[serde(rename = "type")]
    kind: IdentifierType,
    value: String,
}

impl WireIdentifier {
    fn checked(self, field: &str, allowed: &[IdentifierType]) -> Result<Identifier, ApiError> {
        if !allowed.contains(&self.kind) {
            return Err(ApiError::validation(format!("{field}.type: typ {} nie jest dozwolony.", self.kind)));
        }
        let id = Identifier::new(self.kind, self.value);
        id.validate().map_err(|e| ApiError::validation(format!("{field}.value: {e}")))?;
        Ok(id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestPermission {
    description: String,
    permission_type: PermissionType,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionsGrant {
    context_identifier: WireIdentifier,
    authorized_identifier: WireIdentifier,
    permissions: Vec<TestPermission>,
}

const AUTHORIZED_TYPES: &[IdentifierType] = &[IdentifierType::Nip, IdentifierType::Pesel, IdentifierType::Fingerprint];

async fn grant_permissions(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<PermissionsGrant>,
) -> Result<StatusCode, ApiError> {
    let context = req.context_identifier.checked("contextIdentifier", &[IdentifierType::Nip])?;
    let authorized = req.authorized_identifier.checked("authorizedIdentifier", AUTHORIZED_TYPES)?;
    if req.permissions.is_empty() {
        return Err(ApiError::validation("permissions: lista nie może być pusta."));
    }
    for p in &req.permissions {
        description("permissions.description", &p.description)?;
        if matches!(
            p.permission_type,
            PermissionType::VatUeManage
                | PermissionType::PefInvoiceWrite
                | PermissionType::CollectiveIdentifierManage
                | PermissionType::SelfInvoicing
                | PermissionType::TaxRepresentative
                | PermissionType::RRInvoicing
                | PermissionType::PefInvoicing
        ) {
            return Err(ApiError::validation(format!(
                "permissions.permissionType: {} nie jest dozwolony.",
                p.permission_type
            )));
        }
    }
    let now = app.now();
    for p in req.permissions {
        let grant = GrantRecord {
            id: app.guid(),
            context: context.clone(),
            authorized: authorized.clone(),
            permission: p.permission_type,
            description: p.description,
            author: Identifier::new(IdentifierType::System, ""),
            start_date: now,
            can_delegate: false,
            kind: crate::store::GrantKind::Person,
            subject_details: None,
            entity_name: None,
            target: None,
        };
        match app.store.insert_grant(grant) {
            // Granting a held permission again is not an error (KSeF documents either).
            Ok(()) | Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionsRevoke {
    context_identifier: WireIdentifier,
    authorized_identifier: WireIdentifier,
}

async fn revoke_permissions(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<PermissionsRevoke>,
) -> Result<StatusCode, ApiError> {
    let context = req.context_identifier.checked("contextIdentifier", &[IdentifierType::Nip])?;
    let authorized = req.authorized_identifier.checked("authorizedIdentifier", AUTHORIZED_TYPES)?;
    app.store.remove_grants(&context, &authorized)?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct AttachmentGrant {
    nip: String,
}

async fn allow_attachments(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<AttachmentGrant>,
) -> Result<StatusCode, ApiError> {
    nip("nip", &req.nip)?;
    app.store.set_attachment_consent(&req.nip, AttachmentConsent { allowed: true, revoked_date: None })?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentRevoke {
    nip: String,
    #[serde(default)]
    expected_end_date: Option<NaiveDate>,
}

async fn revoke_attachments(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<AttachmentRevoke>,
) -> Result<StatusCode, ApiError> {
    nip("nip", &req.nip)?;
    let today = app.now().date_naive();
    let end = req.expected_end_date.unwrap_or(today);
    app.store.set_attachment_consent(&req.nip, AttachmentConsent { allowed: end > today, revoked_date: Some(end) })?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextBlock {
    #[serde(default)]
    context_identifier: Option<WireIdentifier>,
}

const CONTEXT_TYPES: &[IdentifierType] =
    &[IdentifierType::Nip, IdentifierType::InternalId, IdentifierType::NipVatUe, IdentifierType::PeppolId];

async fn block_context(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<ContextBlock>,
) -> Result<StatusCode, ApiError> {
    let ctx = req
        .context_identifier
        .ok_or_else(|| ApiError::validation("contextIdentifier jest wymagany."))?
        .checked("contextIdentifier", CONTEXT_TYPES)?;
    app.store.set_context_blocked(&ctx, true)?;
    Ok(StatusCode::OK)
}

async fn unblock_context(
    State(app): State<Arc<AppState>>,
    JsonBody(req): JsonBody<ContextBlock>,
) -> Result<StatusCode, ApiError> {
    let ctx = req
        .context_identifier
        .ok_or_else(|| ApiError::validation("contextIdentifier jest wymagany."))?
        .checked("contextIdentifier", CONTEXT_TYPES)?;
    app.store.set_context_blocked(&ctx, false)?;
    Ok(StatusCode::OK)
}
