//! Effective permissions of a subject in a context.
//!
//! Implemented so far: the owner rule (same NIP, or a PESEL linked to the context NIP by a
//! test-data person), the bailiff rule (`isBailiff` persons and enforcement authorities get
//! `EnforcementOperations` in their own context), and direct grants (test data / ZAW-FA). Entity,
//! indirect, sub-unit and EU-entity grants come with the permission endpoints.

use std::collections::BTreeSet;

use super::Identifier;
use super::enums::{EntityRole, IdentifierType, PermissionType};
use crate::store::{Store, StoreResult};

/// What an owner holds by ownership: everything except `VatUeManage` and `PefInvoiceWrite`
/// (`EnforcementOperations` only with a bailiff or enforcement role).
pub const OWNER_PERMISSIONS: &[PermissionType] = &[
    PermissionType::CredentialsManage,
    PermissionType::CredentialsRead,
    PermissionType::InvoiceWrite,
    PermissionType::InvoiceRead,
    PermissionType::Introspection,
    PermissionType::SubunitManage,
    PermissionType::CollectiveIdentifierManage,
];

/// Whether `subject` owns the `context` (same NIP, or a PESEL linked to the context's NIP).
pub fn is_owner(store: &dyn Store, context: &Identifier, subject: &Identifier) -> StoreResult<bool> {
    if context.kind != IdentifierType::Nip {
        return Ok(false);
    }
    Ok(match subject.kind {
        IdentifierType::Nip => subject.value == context.value,
        IdentifierType::Pesel => store.person_by_pesel(&subject.value)?.is_some_and(|p| p.nip == context.value),
        _ => false,
    })
}

/// Every permission `subject` holds in `context` now.
pub fn effective(
    store: &dyn Store,
    context: &Identifier,
    subject: &Identifier,
) -> StoreResult<BTreeSet<PermissionType>> {
    let mut out = BTreeSet::new();
    if is_owner(store, context, subject)? {
        out.extend(OWNER_PERMISSIONS.iter().copied());
        let bailiff = store.person_by_nip(&context.value)?.is_some_and(|p| p.is_bailiff);
        let enforcement = store.subject(&context.value)?.is_some_and(|s| {
            s.roles.iter().any(|r| matches!(r, EntityRole::EnforcementAuthority | EntityRole::CourtBailiff))
        });
        if bailiff || enforcement {
            out.insert(PermissionType::EnforcementOperations);
        }
    }
    use crate::store::GrantKind;
    for g in store.grants_of(context, subject)? {
        if !matches!(g.kind, GrantKind::Authorization | GrantKind::Indirect) {
            out.insert(g.permission);
        }
    }
    // Indirect: the client (this context) gave an intermediary an entity grant of P with
    // `canDelegate`, and the intermediary's indirect grant gives the subject P for this client or
    // for all partners. `CollectiveIdentifierManage` cannot carry `canDelegate`: it passes on when
    // the client gave it to the intermediary together with some delegable permission.
    let mut intermediaries: Vec<Identifier> = Vec::new();
    for g in store.grants_in_context(context)?.into_iter().filter(|g| g.kind == GrantKind::Entity && g.can_delegate) {
        if !intermediaries.contains(&g.authorized) {
            intermediaries.push(g.authorized);
        }
    }
    for intermediary in &intermediaries {
        let given = store.grants_of(context, intermediary)?;
        let passes = |p: PermissionType| {
            given.iter().any(|e| {
                e.kind == GrantKind::Entity
                    && e.permission == p
                    && (e.can_delegate || p == PermissionType::CollectiveIdentifierManage)
            })
        };
        for g in store.grants_of(intermediary, subject)? {
            let covers = g.target.as_ref().is_none_or(|t| t.kind == IdentifierType::AllPartners || t == context);
            if g.kind == GrantKind::Indirect && covers && passes(g.permission) {
                out.insert(g.permission);
            }
        }
    }
    Ok(out)
}

/// The permissions of an authentication: for a KSeF-token login, the token's fixed set
/// intersected with what its author holds now; otherwise [`effective`].
pub fn of_authentication(
    store: &dyn Store,
    context: &Identifier,
    subject: &Identifier,
    ksef_token: Option<&str>,
) -> StoreResult<BTreeSet<PermissionType>> {
    let mut perms = effective(store, context, subject)?;
    if let Some(r) = ksef_token {
        let allowed: BTreeSet<PermissionType> =
            store.token(r)?.map(|t| t.permissions.into_iter().collect()).unwrap_or_default();
        perms.retain(|p| allowed.contains(p));
    }
    Ok(perms)
}

/// Whether `issuer` (a context) may issue invoices of `form` (`FA`, `FA_RR`, `PEF`) in the name of
/// `seller`: its own NIP, or an authorization grant from the seller (§6.5).
pub fn may_issue_for(store: &dyn Store, issuer: &Identifier, seller: &str, form: &str) -> StoreResult<bool> {
    let own = match issuer.kind {
        IdentifierType::Nip => issuer.value == seller,
        IdentifierType::InternalId | IdentifierType::NipVatUe => issuer.value.get(..10) == Some(seller),
        _ => false,
    };
    if own {
        return Ok(true);
    }
    let scopes: &[PermissionType] = match form {
        "FA_RR" => &[PermissionType::RRInvoicing],
        "PEF" => &[PermissionType::PefInvoicing],
        _ => &[PermissionType::SelfInvoicing, PermissionType::TaxRepresentative],
    };
    let grantee = match issuer.kind {
        IdentifierType::PeppolId => issuer.clone(),
        _ => Identifier::nip(issuer.value.get(..10).unwrap_or(&issuer.value)),
    };
    Ok(store
        .grants_of(&Identifier::nip(seller), &grantee)?
        .iter()
        .any(|g| g.kind == crate::store::GrantKind::Authorization && scopes.contains(&g.permission)))
}
