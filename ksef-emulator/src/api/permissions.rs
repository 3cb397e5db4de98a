//! Permissions: person and entity grants, revoking, operation status, the personal and persons
//! queries, entity roles, attachment consent status.
//!
//! Grants are applied at once; the operation (`EG…`) records the outcome with §10.4's codes.
//! Indirect grants are evaluated against the client's delegable entity grants at login.
//!
//! Entity grants are found by the grantee's NIP; the received-grants query therefore needs the
//! store to look grants up by authorized identifier, which both stores index.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, Caller, JsonBody, Routes, page_size, ts};
use crate::domain::enums::EntityRole;
use crate::domain::permissions::{OWNER_PERMISSIONS, is_owner};
use crate::domain::{Identifier, IdentifierType, PermissionType, StatusInfo};
use crate::error::ApiError;
use crate::store::{GrantKind, GrantRecord, PermissionOperationRecord, StoreError};

pub(super) fn register(r: &mut Routes) {
    r.add("get_attachment_permission_status", attachment_status);
    r.add("grant_person_permissions", grant_persons);
    r.add("grant_entity_permissions", grant_entities);
    r.add("revoke_common_permission", revoke_common);
    r.add("get_permission_operation_status", operation_status);
    r.add("query_personal_permissions", query_personal);
    r.add("query_person_permissions", query_persons);
    r.add("query_entity_roles", entity_roles);
    r.add("query_entity_permissions", query_entities);
    r.add("query_subordinate_entity_roles", subordinate_roles);
    r.add("grant_authorization_permissions", grant_authorization);
    r.add("grant_subunit_permissions", grant_subunit);
    r.add("grant_indirect_permissions", grant_indirect);
    r.add("grant_eu_entity_administration_permissions", grant_eu_admin);
    r.add("grant_eu_entity_permissions", grant_eu_representative);
    r.add("query_eu_entity_permissions", query_eu);
    r.add("query_subunit_permissions", query_subunits);
    r.add("revoke_authorization_permission", revoke_authorization);
    r.add("query_authorization_permissions", query_authorizations);
}

async fn attachment_status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let ctx = caller.context()?;
    let nip = ctx.value.get(..10).unwrap_or(&ctx.value);
    let consent = app.store.attachment_consent(nip)?;
    let today = app.now().date_naive();
    let allowed = consent.as_ref().is_some_and(|c| c.allowed && c.revoked_date.is_none_or(|d| d > today));
    let mut v = json!({"isAttachmentAllowed": allowed});
    if let Some(d) = consent.and_then(|c| c.revoked_date) {
        v["revokedDate"] = json!(format!("{d}T00:00:00+00:00"));
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
struct WireId {
    #[serde(rename = "type")]
    kind: IdentifierType,
    value: String,
}

fn checked(field: &str, w: WireId, allowed: &[IdentifierType]) -> Result<Identifier, ApiError> {
    if !allowed.contains(&w.kind) {
        return Err(ApiError::validation(format!("{field}.type: typ {} nie jest dozwolony.", w.kind)));
    }
    let id = Identifier::new(w.kind, w.value);
    id.validate().map_err(|e| ApiError::validation(format!("{field}.value: {e}")))?;
    Ok(id)
}

fn description(v: &str) -> Result<(), ApiError> {
    if (5..=256).contains(&v.chars().count()) {
        Ok(())
    } else {
        Err(ApiError::validation("description: długość musi wynosić od 5 do 256 znaków."))
    }
}

/// Records a finished operation and answers `202 {referenceNumber}`.
fn operation(app: &AppState, context: &Identifier, status: StatusInfo) -> Result<(StatusCode, Json<Value>), ApiError> {
    let reference = app.reference("EG");
    app.store.insert_operation(PermissionOperationRecord {
        reference: reference.clone(),
        context: context.clone(),
        created: app.now(),
        status,
    })?;
    Ok((StatusCode::ACCEPTED, Json(json!({"referenceNumber": reference}))))
}

fn success() -> StatusInfo {
    StatusInfo::new(200, "Operacja zakończona sukcesem")
}

fn insert_all(app: &AppState, grants: Vec<GrantRecord>) -> Result<(), ApiError> {
    for g in grants {
        match app.store.insert_grant(g) {
            Ok(()) | Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonGrant {
    subject_identifier: WireId,
    permissions: Vec<PermissionType>,
    description: String,
    subject_details: Value,
}

const PERSON_SCOPES: &[PermissionType] = &[
    PermissionType::CredentialsManage,
    PermissionType::CredentialsRead,
    PermissionType::InvoiceWrite,
    PermissionType::InvoiceRead,
    PermissionType::Introspection,
    PermissionType::SubunitManage,
    PermissionType::EnforcementOperations,
];

/// `subjectDetails` must name its type and carry the matching object; the type must suit the
/// subject's identifier (`PersonByIdentifier` for a NIP or PESEL, the fingerprint types for a
/// certificate fingerprint).
fn check_person_details(d: &Value, subject: &Identifier) -> Result<(), ApiError> {
    let kind = d.get("subjectDetailsType").and_then(Value::as_str).unwrap_or_default();
    let (field, by_fingerprint) = match kind.to_ascii_lowercase().as_str() {
        "personbyidentifier" => ("personById", false),
        "personbyfingerprintwithidentifier" => ("personByFpWithId", true),
        "personbyfingerprintwithoutidentifier" => ("personByFpNoId", true),
        _ => return Err(ApiError::validation("subjectDetails.subjectDetailsType: nieznana wartość.")),
    };
    if by_fingerprint != (subject.kind == IdentifierType::Fingerprint) {
        return Err(ApiError::validation(format!(
            "subjectDetails.subjectDetailsType: {kind} nie odpowiada identyfikatorowi typu {}.",
            subject.kind
        )));
    }
    if !d.get(field).is_some_and(Value::is_object) {
        return Err(ApiError::validation(format!("subjectDetails.{field} jest wymagany.")));
    }
    Ok(())
}

/// "Każda wartość może wystąpić tylko raz": a permission listed twice is a validation error.
fn distinct(permissions: impl IntoIterator<Item = PermissionType>) -> Result<(), ApiError> {
    let mut seen = std::collections::BTreeSet::new();
    for p in permissions {
        if !seen.insert(p) {
            return Err(ApiError::validation(format!("permissions: {p} występuje więcej niż raz.")));
        }
    }
    Ok(())
}

async fn grant_persons(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<PersonGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use IdentifierType as T;
    let subject = checked("subjectIdentifier", req.subject_identifier, &[T::Nip, T::Pesel, T::Fingerprint])?;
    description(&req.description)?;
    check_person_details(&req.subject_details, &subject)?;
    if req.permissions.is_empty() {
        return Err(ApiError::validation("permissions: lista nie może być pusta."));
    }
    distinct(req.permissions.iter().copied())?;
    if let Some(p) = req.permissions.iter().find(|p| !PERSON_SCOPES.contains(p)) {
        return Err(ApiError::validation(format!("permissions: {p} nie jest uprawnieniem osoby.")));
    }
    let ctx = caller.context()?.clone();
    if req.permissions.contains(&PermissionType::EnforcementOperations) {
        let role = app.store.subject(&ctx.value)?.is_some_and(|s| {
            s.roles.iter().any(|r| matches!(r, EntityRole::EnforcementAuthority | EntityRole::CourtBailiff))
        }) || app.store.person_by_nip(&ctx.value)?.is_some_and(|p| p.is_bailiff);
        if !role {
            return operation(
                &app,
                &ctx,
                StatusInfo::with_detail(
                    430,
                    "Kontekst identyfikatora nie odpowiada wymaganej roli lub uprawnieniom",
                    "EnforcementOperations wymaga roli EnforcementAuthority lub CourtBailiff.",
                ),
            );
        }
    }
    let now = app.now();
    let author = caller.subject()?.clone();
    let details = Some(req.subject_details.to_string());
    let grants = req
        .permissions
        .iter()
        .map(|p| GrantRecord {
            id: app.guid(),
            context: ctx.clone(),
            authorized: subject.clone(),
            permission: *p,
            description: req.description.clone(),
            author: author.clone(),
            start_date: now,
            can_delegate: false,
            kind: GrantKind::Person,
            subject_details: details.clone(),
            entity_name: None,
            target: None,
        })
        .collect();
    insert_all(&app, grants)?;
    operation(&app, &ctx, success())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityPermission {
    #[serde(rename = "type")]
    kind: PermissionType,
    #[serde(default)]
    can_delegate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityGrant {
    subject_identifier: WireId,
    permissions: Vec<EntityPermission>,
    description: String,
    subject_details: Value,
}

async fn grant_entities(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<EntityGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject = checked("subjectIdentifier", req.subject_identifier, &[IdentifierType::Nip])?;
    description(&req.description)?;
    let name_len = req.subject_details.get("fullName").and_then(Value::as_str).map_or(0, |s| s.chars().count());
    if !(5..=90).contains(&name_len) {
        return Err(ApiError::validation("subjectDetails.fullName: długość musi wynosić od 5 do 90 znaków."));
    }
    if req.permissions.is_empty() {
        return Err(ApiError::validation("permissions: lista nie może być pusta."));
    }
    let allowed =
        [PermissionType::InvoiceWrite, PermissionType::InvoiceRead, PermissionType::CollectiveIdentifierManage];
    if let Some(p) = req.permissions.iter().find(|p| !allowed.contains(&p.kind)) {
        return Err(ApiError::validation(format!("permissions: {} nie jest uprawnieniem podmiotu.", p.kind)));
    }
    distinct(req.permissions.iter().map(|p| p.kind))?;
    if req.permissions.iter().any(|p| p.can_delegate && p.kind == PermissionType::CollectiveIdentifierManage) {
        return Err(ApiError::validation(
            "permissions: canDelegate jest dozwolone wyłącznie dla InvoiceWrite i InvoiceRead.",
        ));
    }
    let ctx = caller.context()?.clone();
    let now = app.now();
    let author = caller.subject()?.clone();
    let details = Some(req.subject_details.to_string());
    let grants = req
        .permissions
        .iter()
        .map(|p| GrantRecord {
            id: app.guid(),
            context: ctx.clone(),
            authorized: subject.clone(),
            permission: p.kind,
            description: req.description.clone(),
            author: author.clone(),
            start_date: now,
            can_delegate: p.can_delegate,
            kind: GrantKind::Entity,
            subject_details: details.clone(),
            entity_name: None,
            target: None,
        })
        .collect();
    insert_all(&app, grants)?;
    operation(&app, &ctx, success())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationGrant {
    subject_identifier: WireId,
    permission: PermissionType,
    description: String,
    subject_details: Value,
}

const AUTHORIZATION_SCOPES: &[PermissionType] = &[
    PermissionType::SelfInvoicing,
    PermissionType::TaxRepresentative,
    PermissionType::RRInvoicing,
    PermissionType::PefInvoicing,
];

async fn grant_authorization(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<AuthorizationGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject =
        checked("subjectIdentifier", req.subject_identifier, &[IdentifierType::Nip, IdentifierType::PeppolId])?;
    description(&req.description)?;
    if !AUTHORIZATION_SCOPES.contains(&req.permission) {
        return Err(ApiError::validation(format!("permission: {} nie jest uprawnieniem podmiotowym.", req.permission)));
    }
    if (req.permission == PermissionType::PefInvoicing) != (subject.kind == IdentifierType::PeppolId) {
        return Err(ApiError::validation(
            "PefInvoicing nadaje się wyłącznie identyfikatorowi PeppolId (i tylko jemu).",
        ));
    }
    let name_len = req.subject_details.get("fullName").and_then(Value::as_str).map_or(0, |s| s.chars().count());
    if !(5..=90).contains(&name_len) {
        return Err(ApiError::validation("subjectDetails.fullName: długość musi wynosić od 5 do 90 znaków."));
    }
    let ctx = caller.context()?.clone();
    if ctx.kind != IdentifierType::Nip {
        return operation(
            &app,
            &ctx,
            StatusInfo::new(450, "Operacja niedozwolona dla wskazanego identyfikatora lub jego typu"),
        );
    }
    let grant = GrantRecord {
        id: app.guid(),
        context: ctx.clone(),
        authorized: subject,
        permission: req.permission,
        description: req.description,
        author: caller.subject()?.clone(),
        start_date: app.now(),
        can_delegate: false,
        kind: GrantKind::Authorization,
        subject_details: Some(req.subject_details.to_string()),
        entity_name: None,
        target: None,
    };
    insert_all(&app, vec![grant])?;
    operation(&app, &ctx, success())
}

async fn revoke_authorization(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if id.len() != 36 {
        return Err(ApiError::validation("permissionId: wymagany identyfikator o długości 36 znaków."));
    }
    let ctx = caller.context()?.clone();
    let status = match app.store.grant(&id)? {
        Some(g) if g.context == ctx && g.kind == GrantKind::Authorization => {
            app.store.remove_grant(&id)?;
            success()
        }
        _ => StatusInfo::with_detail(
            410,
            "Podane identyfikatory są niezgodne lub pozostają w niewłaściwej relacji",
            format!("Uprawnienie podmiotowe {id} nie istnieje w bieżącym kontekście."),
        ),
    };
    operation(&app, &ctx, status)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationFilters {
    #[serde(default)]
    query_type: Option<String>,
    #[serde(default)]
    authorizing_identifier: Option<WireId>,
    #[serde(default)]
    authorized_identifier: Option<WireId>,
    #[serde(default)]
    permission_types: Option<Vec<PermissionType>>,
}

async fn query_authorizations(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<AuthorizationFilters>,
) -> Result<Json<Value>, ApiError> {
    let (offset, size) = paging(&q)?;
    let received = match f.query_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("granted") => false,
        Some("received") => true,
        _ => return Err(ApiError::validation("queryType: wymagane Granted lub Received.")),
    };
    let authorizing =
        f.authorizing_identifier.map(|w| checked("authorizingIdentifier", w, &[IdentifierType::Nip])).transpose()?;
    let authorized = f
        .authorized_identifier
        .map(|w| checked("authorizedIdentifier", w, &[IdentifierType::Nip, IdentifierType::PeppolId]))
        .transpose()?;
    let ctx = caller.context()?;
    let source = if received {
        let me = match ctx.kind {
            IdentifierType::PeppolId => ctx.clone(),
            _ => Identifier::nip(ctx.value.get(..10).unwrap_or(&ctx.value)),
        };
        app.store.grants_to(&me)?
    } else {
        app.store.grants_in_context(ctx)?
    };
    let mut list: Vec<GrantRecord> = source
        .into_iter()
        .filter(|g| g.kind == GrantKind::Authorization)
        .filter(|g| authorizing.as_ref().is_none_or(|a| &g.context == a))
        .filter(|g| authorized.as_ref().is_none_or(|a| &g.authorized == a))
        .filter(|g| f.permission_types.as_ref().is_none_or(|t| t.is_empty() || t.contains(&g.permission)))
        .collect();
    list.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.id.cmp(&b.id)));
    let start = offset.saturating_mul(size);
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(size)
        .map(|g| {
            let name = g
                .subject_details
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|d| d.get("fullName").cloned());
            json!({
                "id": g.id,
                "authorIdentifier": g.author,
                "authorizedEntityIdentifier": g.authorized,
                "authorizingEntityIdentifier": g.context,
                "authorizationScope": g.permission,
                "description": g.description,
                "subjectEntityDetails": {"subjectDetailsType": "EntityByIdentifier", "fullName": name},
                "startDate": ts(g.start_date),
            })
        })
        .collect();
    Ok(Json(json!({"authorizationGrants": items, "hasMore": start.saturating_add(size) < list.len()})))
}

async fn revoke_common(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if id.len() != 36 {
        return Err(ApiError::validation("permissionId: wymagany identyfikator o długości 36 znaków."));
    }
    let ctx = caller.context()?.clone();
    // Grants of the current context, plus those the current context made elsewhere: sub-unit
    // administrators (the grant lives in the sub-unit) and EU-entity administrators (in the
    // `{nip}-{vatUe}` context appointed from this NIP).
    let revocable = |g: &GrantRecord| -> Result<bool, ApiError> {
        Ok(match g.kind {
            GrantKind::Authorization => false,
            _ if g.context == ctx => true,
            GrantKind::SubunitAdministrator => is_subunit_of(&app, &ctx, &g.context)?,
            GrantKind::EuAdministrator => {
                ctx.kind == IdentifierType::Nip
                    && g.context.value.split_once('-').is_some_and(|(nip, _)| nip == ctx.value)
            }
            _ => false,
        })
    };
    let found = app.store.grant(&id)?;
    let found = match found {
        Some(g) if revocable(&g)? => Some(g),
        _ => None,
    };
    let status = match found {
        Some(_) => {
            app.store.remove_grant(&id)?;
            success()
        }
        _ => StatusInfo::with_detail(
            410,
            "Podane identyfikatory są niezgodne lub pozostają w niewłaściwej relacji",
            format!("Uprawnienie {id} nie istnieje w bieżącym kontekście."),
        ),
    };
    operation(&app, &ctx, status)
}

/// How long operation statuses are kept (then 410).
const OPERATION_RETENTION_DAYS: i64 = 30;

async fn operation_status(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let op = app
        .store
        .operation(&reference)?
        .filter(|o| caller.context().is_ok_and(|c| *c == o.context))
        .ok_or_else(|| ApiError::validation(format!("Operacja {reference} nie istnieje.")))?;
    if app.now() - op.created > Duration::days(OPERATION_RETENTION_DAYS) {
        return Err(ApiError::Gone);
    }
    Ok(Json(json!({"status": op.status})))
}

fn paging(q: &HashMap<String, String>) -> Result<(usize, usize), ApiError> {
    let size = page_size(q.get("pageSize"), 10, 100, 10)? as usize;
    let offset = match q.get("pageOffset") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ApiError::validation("pageOffset: liczba ≥ 0."))?,
    };
    Ok((offset, size))
}

fn grant_json(g: &GrantRecord, with_author: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "contextIdentifier": g.context,
        "authorizedIdentifier": g.authorized,
        "permissionScope": g.permission,
        "description": g.description,
        "permissionState": "Active",
        "startDate": ts(g.start_date),
        "canDelegate": g.can_delegate,
    });
    if let Some(t) = &g.target {
        v["targetIdentifier"] =
            if t.kind == IdentifierType::AllPartners { json!({"type": "AllPartners"}) } else { json!(t) };
    }
    if with_author {
        v["authorIdentifier"] =
            if g.author.kind == IdentifierType::System { json!({"type": "System"}) } else { json!(g.author) };
    }
    if let Some(d) = g.subject_details.as_deref().and_then(details_out) {
        let key = if g.kind == GrantKind::Entity { "subjectEntityDetails" } else { "subjectPersonDetails" };
        v[key] = d;
    }
    v
}

/// A grant's stored `subjectDetails` (request shape: the type plus one nested object) in the
/// response shape (`PermissionsSubjectPersonDetails` / `PermissionsSubjectEntityDetails`: flat,
/// `identifier` → `personIdentifier`).
fn details_out(stored: &str) -> Option<Value> {
    let d: Value = serde_json::from_str(stored).ok()?;
    let kind = d.get("subjectDetailsType")?.clone();
    let mut out = serde_json::Map::new();
    out.insert("subjectDetailsType".to_owned(), kind);
    let inner = ["personById", "personByFpWithId", "personByFpNoId", "entityByFp", "entityById"]
        .iter()
        .find_map(|k| d.get(*k).and_then(Value::as_object));
    for (k, val) in inner.into_iter().flatten() {
        let name = if k == "identifier" { "personIdentifier" } else { k.as_str() };
        if ["firstName", "lastName", "personIdentifier", "birthDate", "idDocument", "fullName", "address"]
            .contains(&name)
        {
            out.insert(name.to_owned(), val.clone());
        }
    }
    Some(Value::Object(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantFilters {
    #[serde(default)]
    context_identifier: Option<WireId>,
    #[serde(default)]
    authorized_identifier: Option<WireId>,
    #[serde(default)]
    permission_types: Option<Vec<PermissionType>>,
    #[serde(default)]
    permission_state: Option<String>,
    #[serde(default)]
    query_type: Option<String>,
    #[serde(default)]
    target_identifier: Option<WireTarget>,
    #[serde(default)]
    author_identifier: Option<WireTarget>,
}

fn page(mut list: Vec<GrantRecord>, offset: usize, size: usize, with_author: bool) -> (Vec<Value>, bool) {
    list.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.id.cmp(&b.id)));
    let start = offset.saturating_mul(size);
    let items = list.iter().skip(start).take(size).map(|g| grant_json(g, with_author)).collect();
    (items, start.saturating_add(size) < list.len())
}

fn state_filter(f: &GrantFilters) -> Result<bool, ApiError> {
    match f.permission_state.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("active") => Ok(true),
        Some("inactive") => Ok(false),
        Some(_) => Err(ApiError::validation("permissionState: dozwolone Active lub Inactive.")),
    }
}

async fn query_personal(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<Option<GrantFilters>>,
) -> Result<Json<Value>, ApiError> {
    let f = f.unwrap_or_default();
    let (offset, size) = paging(&q)?;
    let active = state_filter(&f)?;
    let ctx_filter = f
        .context_identifier
        .map(|w| checked("contextIdentifier", w, &[IdentifierType::Nip, IdentifierType::InternalId]))
        .transpose()?;
    let subject = caller.subject()?;
    let list: Vec<GrantRecord> = app
        .store
        .grants_to(subject)?
        .into_iter()
        .filter(|g| active && ctx_filter.as_ref().is_none_or(|c| &g.context == c))
        .filter(|g| f.permission_types.as_ref().is_none_or(|t| t.is_empty() || t.contains(&g.permission)))
        .collect();
    let (items, has_more) = page(list, offset, size, false);
    let ctx = caller.context()?;
    let owner = is_owner(app.store.as_ref(), ctx, subject)?;
    Ok(Json(json!({
        "permissions": items,
        "hasMore": has_more,
        "ownerPermissions": owner.then_some(OWNER_PERMISSIONS),
    })))
}

async fn query_persons(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<GrantFilters>,
) -> Result<Json<Value>, ApiError> {
    let (offset, size) = paging(&q)?;
    let active = state_filter(&f)?;
    let granted_only = match f.query_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("permissionsincurrentcontext") => false,
        Some("permissionsgrantedincurrentcontext") => true,
        _ => {
            return Err(ApiError::validation(
                "queryType: wymagane PermissionsInCurrentContext lub PermissionsGrantedInCurrentContext.",
            ));
        }
    };
    use IdentifierType as T;
    let authorized = f
        .authorized_identifier
        .map(|w| checked("authorizedIdentifier", w, &[T::Nip, T::Pesel, T::Fingerprint]))
        .transpose()?;
    let target = f
        .target_identifier
        .map(|t| match t.kind {
            T::AllPartners => Ok(Identifier::new(T::AllPartners, "")),
            kind => checked(
                "targetIdentifier",
                WireId { kind, value: t.value.unwrap_or_default() },
                &[T::Nip, T::InternalId],
            ),
        })
        .transpose()?;
    let author = f
        .author_identifier
        .map(|t| match t.kind {
            T::System => Ok(Identifier::new(T::System, "")),
            kind => checked(
                "authorIdentifier",
                WireId { kind, value: t.value.unwrap_or_default() },
                &[T::Nip, T::Pesel, T::Fingerprint],
            ),
        })
        .transpose()?;
    let ctx = caller.context()?;
    // Both lists: the persons and entities working in this context (direct grants) and the
    // persons this context's entity authorized indirectly to serve its clients. The "granted"
    // list also has the administrators this context appointed in its sub-units, and only grants
    // made through the API (ZAW-FA / test-data grants have the System author).
    let mut source = app.store.grants_in_context(ctx)?;
    if granted_only && ctx.kind == T::Nip {
        source.extend(app.store.grants_to_subunits_of(&ctx.value)?.into_iter().filter(is_subunit_admin));
        for s in app.store.subunits_of(&ctx.value)? {
            source.extend(app.store.grants_in_context(&Identifier::nip(s.nip))?.into_iter().filter(is_subunit_admin));
        }
    }
    let list: Vec<GrantRecord> = source
        .into_iter()
        .filter(|g| {
            active && matches!(g.kind, GrantKind::Person | GrantKind::Indirect | GrantKind::SubunitAdministrator)
        })
        .filter(|g| !granted_only || g.author.kind != T::System)
        .filter(|g| authorized.as_ref().is_none_or(|a| &g.authorized == a))
        .filter(|g| author.as_ref().is_none_or(|a| a.kind == g.author.kind && (a.kind == T::System || a == &g.author)))
        .filter(|g| {
            target.as_ref().is_none_or(|t| g.target.as_ref().is_some_and(|gt| gt.kind == t.kind && gt.value == t.value))
        })
        .filter(|g| f.permission_types.as_ref().is_none_or(|t| t.is_empty() || t.contains(&g.permission)))
        .collect();
    let (items, has_more) = page(list, offset, size, true);
    Ok(Json(json!({"permissions": items, "hasMore": has_more})))
}

async fn entity_roles(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (offset, size) = paging(&q)?;
    let ctx = caller.context()?;
    let mut roles = Vec::new();
    if let Some(s) = app.store.subject(&ctx.value)? {
        for r in &s.roles {
            let mut v = json!({"role": r, "description": s.description, "startDate": ts(s.created)});
            if let Some(p) = &s.parent_nip {
                v["parentEntityIdentifier"] = json!({"type": "Nip", "value": p});
            }
            roles.push(v);
        }
    }
    if let Some(p) = app.store.person_by_nip(&ctx.value)?.filter(|p| p.is_bailiff) {
        roles.push(json!({"role": EntityRole::CourtBailiff, "description": p.description, "startDate": ts(p.created)}));
    }
    let start = offset.saturating_mul(size);
    let has_more = start.saturating_add(size) < roles.len();
    let items: Vec<Value> = roles.into_iter().skip(start).take(size).collect();
    Ok(Json(json!({"roles": items, "hasMore": has_more})))
}

async fn query_entities(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<Option<GrantFilters>>,
) -> Result<Json<Value>, ApiError> {
    let f = f.unwrap_or_default();
    let (offset, size) = paging(&q)?;
    let grantor = f
        .context_identifier
        .map(|w| checked("contextIdentifier", w, &[IdentifierType::Nip, IdentifierType::InternalId]))
        .transpose()?;
    let ctx = caller.context()?;
    // Entity grants received by the current context (its NIP is the grantee).
    let me = Identifier::nip(ctx.value.get(..10).unwrap_or(&ctx.value));
    let mut list: Vec<GrantRecord> = app
        .store
        .grants_to(&me)?
        .into_iter()
        .filter(|g| g.kind == GrantKind::Entity && grantor.as_ref().is_none_or(|c| &g.context == c))
        .collect();
    list.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.id.cmp(&b.id)));
    let start = offset.saturating_mul(size);
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(size)
        .map(|g| {
            json!({
                "id": g.id,
                "contextIdentifier": g.context,
                "permissionScope": g.permission,
                "description": g.description,
                "startDate": ts(g.start_date),
                "canDelegate": g.can_delegate,
            })
        })
        .collect();
    Ok(Json(json!({"permissions": items, "hasMore": start.saturating_add(size) < list.len()})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubordinateFilter {
    #[serde(default)]
    subordinate_entity_identifier: Option<WireId>,
}

async fn subordinate_roles(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<Option<SubordinateFilter>>,
) -> Result<Json<Value>, ApiError> {
    let (offset, size) = paging(&q)?;
    let only = f
        .unwrap_or_default()
        .subordinate_entity_identifier
        .map(|w| checked("subordinateEntityIdentifier", w, &[IdentifierType::Nip]))
        .transpose()?;
    let ctx = caller.context()?;
    let mut roles = Vec::new();
    for s in app.store.subunits_of(&ctx.value)? {
        if only.as_ref().is_some_and(|o| o.value != s.nip) {
            continue;
        }
        for r in &s.roles {
            roles.push(json!({
                "subordinateEntityIdentifier": {"type": "Nip", "value": s.nip},
                "role": r,
                "description": s.description,
                "startDate": ts(s.created),
            }));
        }
    }
    let start = offset.saturating_mul(size);
    let has_more = start.saturating_add(size) < roles.len();
    let items: Vec<Value> = roles.into_iter().skip(start).take(size).collect();
    Ok(Json(json!({"roles": items, "hasMore": has_more})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubunitGrant {
    subject_identifier: WireId,
    context_identifier: WireId,
    description: String,
    #[serde(default)]
    subunit_name: Option<String>,
    subject_details: Value,
}

/// Whether `sub` is a sub-unit of the context: an InternalId of its NIP, or a NIP whose test-data
/// parent is the context.
/// A sub-unit administrator grant (made from the parent context), not a grant made inside the
/// sub-unit by its administrators. Records stored before `SubunitAdministrator` existed are
/// recognised by their sub-unit name.
fn is_subunit_admin(g: &GrantRecord) -> bool {
    g.kind == GrantKind::SubunitAdministrator || (g.kind == GrantKind::Person && g.entity_name.is_some())
}

fn is_subunit_of(app: &AppState, ctx: &Identifier, sub: &Identifier) -> Result<bool, ApiError> {
    Ok(match sub.kind {
        IdentifierType::InternalId => sub.value.get(..10) == Some(ctx.value.as_str()),
        IdentifierType::Nip => {
            app.store.subject(&sub.value)?.is_some_and(|s| s.parent_nip.as_deref() == Some(ctx.value.as_str()))
        }
        _ => false,
    })
}

async fn grant_subunit(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<SubunitGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use IdentifierType as T;
    let subject = checked("subjectIdentifier", req.subject_identifier, &[T::Nip, T::Pesel, T::Fingerprint])?;
    let sub = checked("contextIdentifier", req.context_identifier, &[T::InternalId, T::Nip])?;
    description(&req.description)?;
    check_person_details(&req.subject_details, &subject)?;
    if let Some(n) = &req.subunit_name
        && !(5..=256).contains(&n.chars().count())
    {
        return Err(ApiError::validation("subunitName: długość musi wynosić od 5 do 256 znaków."));
    }
    if sub.kind == T::InternalId && req.subunit_name.is_none() {
        return Err(ApiError::validation("subunitName jest wymagany dla identyfikatora wewnętrznego."));
    }
    let ctx = caller.context()?.clone();
    if sub.kind == T::Nip {
        // A subordinate NIP only for JST and VAT-group contexts.
        let role = app.store.subject(&ctx.value)?.is_some_and(|s| {
            s.roles.iter().any(|r| matches!(r, EntityRole::LocalGovernmentUnit | EntityRole::VatGroupUnit))
        });
        if !role {
            return operation(
                &app,
                &ctx,
                StatusInfo::new(430, "Kontekst identyfikatora nie odpowiada wymaganej roli lub uprawnieniom"),
            );
        }
    }
    if !is_subunit_of(&app, &ctx, &sub)? {
        return operation(
            &app,
            &ctx,
            StatusInfo::new(440, "Operacja niedozwolona dla wskazanych powiązań identyfikatorów"),
        );
    }
    let grant = GrantRecord {
        id: app.guid(),
        context: sub,
        authorized: subject,
        permission: PermissionType::CredentialsManage,
        description: req.description,
        author: caller.subject()?.clone(),
        start_date: app.now(),
        can_delegate: false,
        kind: GrantKind::SubunitAdministrator,
        subject_details: Some(req.subject_details.to_string()),
        entity_name: req.subunit_name,
        target: None,
    };
    insert_all(&app, vec![grant])?;
    operation(&app, &ctx, success())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubunitQuery {
    #[serde(default)]
    subunit_identifier: Option<WireId>,
}

async fn query_subunits(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<Option<SubunitQuery>>,
) -> Result<Json<Value>, ApiError> {
    let (offset, size) = paging(&q)?;
    let only = f
        .unwrap_or_default()
        .subunit_identifier
        .map(|w| checked("subunitIdentifier", w, &[IdentifierType::InternalId, IdentifierType::Nip]))
        .transpose()?;
    let ctx = caller.context()?.clone();
    // Sub-unit contexts: the InternalIds seen in grants plus the test-data sub-units.
    let mut contexts: Vec<Identifier> =
        app.store.subunits_of(&ctx.value)?.into_iter().map(|s| Identifier::nip(s.nip)).collect();
    if let Some(o) = &only {
        contexts.retain(|c| c == o);
        if o.kind == IdentifierType::InternalId && is_subunit_of(&app, &ctx, o)? {
            contexts.push(o.clone());
        }
    }
    let mut list = Vec::new();
    for c in &contexts {
        list.extend(app.store.grants_in_context(c)?.into_iter().filter(is_subunit_admin));
    }
    if only.is_none() {
        // InternalId sub-units are found through the grants made from this context.
        for g in app.store.grants_to_subunits_of(&ctx.value)?.into_iter().filter(is_subunit_admin) {
            if !list.iter().any(|x: &GrantRecord| x.id == g.id) {
                list.push(g);
            }
        }
    }
    list.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.id.cmp(&b.id)));
    let start = offset.saturating_mul(size);
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(size)
        .map(|g| {
            let mut v = json!({
                "id": g.id,
                "authorizedIdentifier": g.authorized,
                "subunitIdentifier": g.context,
                "authorIdentifier": g.author,
                "permissionScope": g.permission,
                "description": g.description,
                "startDate": ts(g.start_date),
            });
            if let Some(n) = &g.entity_name {
                v["subunitName"] = json!(n);
            }
            if let Some(d) = g.subject_details.as_deref().and_then(details_out) {
                let key = if d.get("fullName").is_some() { "subjectEntityDetails" } else { "subjectPersonDetails" };
                v[key] = d;
            }
            v
        })
        .collect();
    Ok(Json(json!({"permissions": items, "hasMore": start.saturating_add(size) < list.len()})))
}

/// `subjectDetails` of EU-entity grants.
fn check_eu_details(d: &Value) -> Result<(), ApiError> {
    let kind = d.get("subjectDetailsType").and_then(Value::as_str).unwrap_or_default();
    let field = match kind.to_ascii_lowercase().as_str() {
        "personbyfingerprintwithidentifier" => "personByFpWithId",
        "personbyfingerprintwithoutidentifier" => "personByFpNoId",
        "entitybyfingerprint" => "entityByFp",
        _ => return Err(ApiError::validation("subjectDetails.subjectDetailsType: nieznana wartość.")),
    };
    if !d.get(field).is_some_and(Value::is_object) {
        return Err(ApiError::validation(format!("subjectDetails.{field} jest wymagany.")));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EuAdminGrant {
    subject_identifier: WireId,
    context_identifier: WireId,
    description: String,
    eu_entity_name: String,
    subject_details: Value,
    #[serde(default)]
    eu_entity_details: Option<Value>,
}

#[allow(clippy::too_many_arguments)]
fn eu_grants(
    app: &AppState,
    context: &Identifier,
    subject: &Identifier,
    scopes: &[PermissionType],
    description: &str,
    author: &Identifier,
    kind: GrantKind,
    details: &Value,
    name: Option<String>,
) -> Vec<GrantRecord> {
    let now = app.now();
    scopes
        .iter()
        .map(|p| GrantRecord {
            id: app.guid(),
            context: context.clone(),
            authorized: subject.clone(),
            permission: *p,
            description: description.to_owned(),
            author: author.clone(),
            start_date: now,
            can_delegate: false,
            kind,
            subject_details: Some(details.to_string()),
            entity_name: name.clone(),
            target: None,
        })
        .collect()
}

async fn grant_eu_admin(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<EuAdminGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject = checked("subjectIdentifier", req.subject_identifier, &[IdentifierType::Fingerprint])?;
    let eu = checked("contextIdentifier", req.context_identifier, &[IdentifierType::NipVatUe])?;
    description(&req.description)?;
    check_eu_details(&req.subject_details)?;
    if !(5..=256).contains(&req.eu_entity_name.chars().count()) {
        return Err(ApiError::validation("euEntityName: długość musi wynosić od 5 do 256 znaków."));
    }
    let _ = req.eu_entity_details;
    let ctx = caller.context()?.clone();
    if ctx.kind != IdentifierType::Nip || eu.value.get(..10) != Some(ctx.value.as_str()) {
        return operation(
            &app,
            &ctx,
            StatusInfo::new(440, "Operacja niedozwolona dla wskazanych powiązań identyfikatorów"),
        );
    }
    // The administrator of the compound context: VatUeManage, InvoiceWrite, InvoiceRead, Introspection.
    let scopes = [
        PermissionType::VatUeManage,
        PermissionType::InvoiceWrite,
        PermissionType::InvoiceRead,
        PermissionType::Introspection,
    ];
    let grants = eu_grants(
        &app,
        &eu,
        &subject,
        &scopes,
        &req.description,
        caller.subject()?,
        GrantKind::EuAdministrator,
        &req.subject_details,
        Some(req.eu_entity_name),
    );
    insert_all(&app, grants)?;
    operation(&app, &ctx, success())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EuGrant {
    subject_identifier: WireId,
    permissions: Vec<PermissionType>,
    description: String,
    subject_details: Value,
}

async fn grant_eu_representative(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<EuGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject = checked("subjectIdentifier", req.subject_identifier, &[IdentifierType::Fingerprint])?;
    description(&req.description)?;
    check_eu_details(&req.subject_details)?;
    if req.permissions.is_empty()
        || req.permissions.iter().any(|p| !matches!(p, PermissionType::InvoiceWrite | PermissionType::InvoiceRead))
    {
        return Err(ApiError::validation("permissions: dozwolone InvoiceWrite i InvoiceRead."));
    }
    distinct(req.permissions.iter().copied())?;
    let ctx = caller.context()?.clone();
    if ctx.kind != IdentifierType::NipVatUe {
        return operation(
            &app,
            &ctx,
            StatusInfo::new(450, "Operacja niedozwolona dla wskazanego identyfikatora lub jego typu"),
        );
    }
    let name = app.store.grants_in_context(&ctx)?.into_iter().find_map(|g| g.entity_name);
    let grants = eu_grants(
        &app,
        &ctx,
        &subject,
        &req.permissions,
        &req.description,
        caller.subject()?,
        GrantKind::EuRepresentative,
        &req.subject_details,
        name,
    );
    insert_all(&app, grants)?;
    operation(&app, &ctx, success())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EuQuery {
    #[serde(default)]
    vat_ue_identifier: Option<String>,
    #[serde(default)]
    authorized_fingerprint_identifier: Option<String>,
    #[serde(default)]
    permission_types: Option<Vec<PermissionType>>,
}

async fn query_eu(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(f): JsonBody<Option<EuQuery>>,
) -> Result<Json<Value>, ApiError> {
    let f = f.unwrap_or_default();
    let (offset, size) = paging(&q)?;
    let ctx = caller.context()?.clone();
    // NIP context: administrators of compound contexts starting with this NIP; NipVatUe context:
    // everyone in it.
    let mut list: Vec<GrantRecord> = match ctx.kind {
        IdentifierType::NipVatUe => app.store.grants_in_context(&ctx)?,
        _ => app.store.eu_grants_of(&ctx.value)?.into_iter().filter(|g| g.kind == GrantKind::EuAdministrator).collect(),
    };
    list.retain(|g| matches!(g.kind, GrantKind::EuAdministrator | GrantKind::EuRepresentative));
    // `vatUeIdentifier` is the EU VAT number alone (exact match), the second part of the
    // `{nip}-{vatUe}` context.
    list.retain(|g| {
        f.vat_ue_identifier.as_ref().is_none_or(|v| g.context.value.split_once('-').is_some_and(|(_, eu)| eu == v))
    });
    list.retain(|g| {
        f.authorized_fingerprint_identifier
            .as_ref()
            .is_none_or(|fp| g.authorized.value.contains(&fp.to_ascii_uppercase()))
    });
    list.retain(|g| f.permission_types.as_ref().is_none_or(|t| t.is_empty() || t.contains(&g.permission)));
    list.sort_by(|a, b| b.start_date.cmp(&a.start_date).then_with(|| a.id.cmp(&b.id)));
    let start = offset.saturating_mul(size);
    let items: Vec<Value> = list
        .iter()
        .skip(start)
        .take(size)
        .map(|g| {
            let mut v = json!({
                "id": g.id,
                "authorIdentifier": g.author,
                "vatUeIdentifier": g.context.value,
                "euEntityName": g.entity_name,
                "authorizedFingerprintIdentifier": g.authorized.value,
                "permissionScope": g.permission,
                "description": g.description,
                "startDate": ts(g.start_date),
            });
            if let Some(d) = g.subject_details.as_deref().and_then(details_out) {
                let key = if d.get("fullName").is_some() { "subjectEntityDetails" } else { "subjectPersonDetails" };
                v[key] = d;
            }
            v
        })
        .collect();
    Ok(Json(json!({"permissions": items, "hasMore": start.saturating_add(size) < list.len()})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTarget {
    #[serde(rename = "type")]
    kind: IdentifierType,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndirectGrant {
    subject_identifier: WireId,
    #[serde(default)]
    target_identifier: Option<WireTarget>,
    permissions: Vec<PermissionType>,
    description: String,
    subject_details: Value,
}

async fn grant_indirect(
    State(app): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<IndirectGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use IdentifierType as T;
    let subject = checked("subjectIdentifier", req.subject_identifier, &[T::Nip, T::Pesel, T::Fingerprint])?;
    description(&req.description)?;
    check_person_details(&req.subject_details, &subject)?;
    if req.permissions.is_empty()
        || req.permissions.iter().any(|p| {
            !matches!(
                p,
                PermissionType::InvoiceRead | PermissionType::InvoiceWrite | PermissionType::CollectiveIdentifierManage
            )
        })
    {
        return Err(ApiError::validation(
            "permissions: dozwolone InvoiceRead, InvoiceWrite i CollectiveIdentifierManage.",
        ));
    }
    distinct(req.permissions.iter().copied())?;
    let target = match req.target_identifier {
        None => Identifier::new(T::AllPartners, ""),
        Some(t) if t.kind == T::AllPartners => Identifier::new(T::AllPartners, ""),
        Some(t) => checked(
            "targetIdentifier",
            WireId { kind: t.kind, value: t.value.unwrap_or_default() },
            &[T::Nip, T::InternalId],
        )?,
    };
    let ctx = caller.context()?.clone();
    // A selective grant needs the client to have given this context some permission with
    // `canDelegate` (the spec: "dowolne uprawnienie z prawem do jego dalszego przekazywania").
    // What the person then holds for the client is evaluated at login (`domain::permissions`).
    if target.kind != T::AllPartners {
        let client_ctx = if target.kind == T::InternalId { target.clone() } else { Identifier::nip(&target.value) };
        let delegated = app.store.grants_of(&client_ctx, &Identifier::nip(&ctx.value))?;
        let ok = delegated.iter().any(|g| g.kind == GrantKind::Entity && g.can_delegate);
        if !ok {
            return operation(
                &app,
                &ctx,
                StatusInfo::new(440, "Operacja niedozwolona dla wskazanych powiązań identyfikatorów"),
            );
        }
    }
    let now = app.now();
    let author = caller.subject()?.clone();
    let grants = req
        .permissions
        .iter()
        .map(|p| GrantRecord {
            id: app.guid(),
            context: ctx.clone(),
            authorized: subject.clone(),
            permission: *p,
            description: req.description.clone(),
            author: author.clone(),
            start_date: now,
            can_delegate: false,
            kind: GrantKind::Indirect,
            subject_details: Some(req.subject_details.to_string()),
            entity_name: None,
            target: Some(target.clone()),
        })
        .collect();
    insert_all(&app, grants)?;
    operation(&app, &ctx, success())
}
