//! `ksef permissions grant|revoke|list`: every grant kind of `ksef-permissions` (persons,
//! entities, authorizations, indirect, sub-units, EU entity administration and representatives),
//! revocations, and the permission queries, with paging. Requests are built by the typed
//! builders of `ksef-permissions`; their validation errors are shown as usage errors (exit 2)
//! naming the field. Grants and revocations wait for KSeF's asynchronous operation to finish.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use ksef_client::paging::OffsetPaged;
use ksef_client::permissions::query::{
    self, AuthorizationsQuery, ContextFilter, PersonalQuery, PersonsQuery, PersonsQueryType, StateFilter,
};
use ksef_client::permissions::wait::{OperationState, classify};
use ksef_client::permissions::{
    AuthorizationGrant, AuthorizedEntity, Call, EntityGrant, EuAdministrationGrant, EuRepresentativeGrant,
    EuSubjectDetails, Fingerprint, IndirectGrant, IndirectTarget, PersonDetails, PersonGrant, PersonIdentifier,
    PersonSubject, Subunit, SubunitGrant,
};
use ksef_model::operations as ops;
use ksef_model::types::PermissionsOperationResponse;
use ksef_model::{InternalId, Nip, NipVatUe, Operation, PeppolId, Pesel};
use ksef_transport::{RequestBody, ResponseBody};
use serde_json::{Value, json};

use super::{emit, invalid, parse_enum, remote, to_json, usage};
use crate::config::Settings;
use crate::{Failure, LoginArgs, exit};

/// `ksef permissions`.
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Grants permissions (waits until KSeF has applied them).
    #[command(subcommand)]
    Grant(GrantCmd),
    /// Revokes a permission by its id (from `permissions list`).
    Revoke {
        /// The permission id.
        id: String,
        /// The id is a subject-type authorization (`list authorizations`), not a common permission.
        #[arg(long)]
        authorization: bool,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Lists permissions.
    List(ListArgs),
}

/// The person a permission is for.
#[derive(Debug, Args)]
pub(crate) struct PersonArgs {
    /// The person's NIP.
    #[arg(long, group = "who")]
    to_nip: Option<String>,
    /// The person's PESEL.
    #[arg(long, group = "who")]
    to_pesel: Option<String>,
    /// The SHA-256 fingerprint (hex) of the person's certificate.
    #[arg(long, group = "who")]
    to_fingerprint: Option<String>,
    /// First name.
    #[arg(long)]
    first_name: String,
    /// Last name.
    #[arg(long)]
    last_name: String,
    /// With --to-fingerprint: the person's NIP or PESEL (`PersonByFingerprintWithIdentifier`).
    #[arg(long)]
    person_id: Option<String>,
}

fn parse<T: FromStr>(flag: &str, v: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| usage(flag, e))
}

/// A NIP or PESEL, told apart by length.
fn person_identifier(v: &str) -> Result<PersonIdentifier, Failure> {
    if v.len() == 11 {
        Ok(PersonIdentifier::Pesel(parse::<Pesel>("--person-id", v)?))
    } else {
        Ok(PersonIdentifier::Nip(parse::<Nip>("--person-id", v)?))
    }
}

impl PersonArgs {
    fn subject(&self) -> Result<PersonSubject, Failure> {
        match (&self.to_nip, &self.to_pesel, &self.to_fingerprint) {
            (Some(n), _, _) => PersonSubject::nip(n).map_err(|e| invalid(&e)),
            (_, Some(p), _) => PersonSubject::pesel(p).map_err(|e| invalid(&e)),
            (_, _, Some(f)) => PersonSubject::fingerprint(f).map_err(|e| invalid(&e)),
            _ => Err(Failure::new(exit::USAGE, "say who: --to-nip, --to-pesel or --to-fingerprint")),
        }
    }

    fn details(&self) -> Result<PersonDetails, Failure> {
        Ok(match &self.person_id {
            Some(id) => PersonDetails::ByFingerprintWithIdentifier {
                first_name: self.first_name.clone(),
                last_name: self.last_name.clone(),
                identifier: person_identifier(id)?,
            },
            None => PersonDetails::by_identifier(&self.first_name, &self.last_name),
        })
    }
}

/// `ksef permissions grant`.
#[derive(Debug, Subcommand)]
pub(crate) enum GrantCmd {
    /// Permissions for a person in the current context (`POST /permissions/persons/grants`).
    Person {
        #[command(flatten)]
        person: PersonArgs,
        /// CredentialsManage, CredentialsRead, InvoiceWrite, InvoiceRead, Introspection,
        /// SubunitManage, EnforcementOperations, CollectiveIdentifierManage (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Permissions for another entity (`POST /permissions/entities/grants`).
    Entity {
        /// The entity's NIP.
        #[arg(long)]
        to_nip: String,
        /// The entity's full name.
        #[arg(long)]
        name: String,
        /// InvoiceWrite, InvoiceRead, CollectiveIdentifierManage; suffix `:delegable` to let it
        /// pass the permission on (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// A subject-type authorization (`POST /permissions/authorizations/grants`).
    Authorization {
        /// The authorized entity's NIP.
        #[arg(long, group = "who", required = true)]
        to_nip: Option<String>,
        /// A Peppol provider's id (for PefInvoicing).
        #[arg(long, group = "who")]
        to_peppol_id: Option<String>,
        /// SelfInvoicing, RRInvoicing, TaxRepresentative, PefInvoicing.
        #[arg(long)]
        permission: String,
        /// The entity's full name.
        #[arg(long)]
        name: String,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Passes client permissions on to a person (`POST /permissions/indirect/grants`).
    Indirect {
        #[command(flatten)]
        person: PersonArgs,
        /// One client, by NIP.
        #[arg(long, group = "target", required = true)]
        client_nip: Option<String>,
        /// One client's sub-unit, by internal id.
        #[arg(long, group = "target")]
        client_subunit: Option<String>,
        /// Every client that delegated to this context.
        #[arg(long, group = "target")]
        all_clients: bool,
        /// InvoiceRead, InvoiceWrite, CollectiveIdentifierManage (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Appoints a sub-unit administrator (`POST /permissions/subunits/grants`).
    Subunit {
        #[command(flatten)]
        person: PersonArgs,
        /// A subordinate entity by NIP.
        #[arg(long, group = "unit", required = true)]
        subunit_nip: Option<String>,
        /// An internal unit `<NIP>-<5 digits>`.
        #[arg(long, group = "unit")]
        subunit_internal_id: Option<String>,
        /// The sub-unit's name (required for an internal id).
        #[arg(long)]
        subunit_name: Option<String>,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// EU entity administration (`POST /permissions/eu-entities/administration/grants`).
    EuAdmin {
        #[command(flatten)]
        eu: EuSubject,
        /// The EU entity's context, `<NIP>-<VAT UE number>`.
        #[arg(long)]
        eu_context: String,
        /// The EU entity's full name.
        #[arg(long)]
        eu_entity_name: String,
        /// The EU entity's address.
        #[arg(long)]
        eu_entity_address: String,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Permissions for an EU entity's representative (`POST /permissions/eu-entities/grants`).
    EuRepresentative {
        #[command(flatten)]
        eu: EuSubject,
        /// InvoiceWrite, InvoiceRead (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        /// Description (5..=256 characters).
        #[arg(long)]
        description: String,
        #[command(flatten)]
        login: LoginArgs,
    },
}

/// An EU subject: a certificate fingerprint plus a person's or an entity's details.
#[derive(Debug, Args)]
pub(crate) struct EuSubject {
    /// The SHA-256 fingerprint (hex) of the subject's certificate.
    #[arg(long)]
    fingerprint: String,
    /// An entity subject: its full name (with --subject-address).
    #[arg(long, requires = "subject_address", conflicts_with_all = ["first_name", "last_name"])]
    subject_name: Option<String>,
    /// An entity subject: its address.
    #[arg(long)]
    subject_address: Option<String>,
    /// A person subject: first name (with --last-name and --person-id).
    #[arg(long, requires = "last_name")]
    first_name: Option<String>,
    /// A person subject: last name.
    #[arg(long)]
    last_name: Option<String>,
    /// A person subject: NIP or PESEL.
    #[arg(long)]
    person_id: Option<String>,
}

impl EuSubject {
    fn parts(&self) -> Result<(Fingerprint, EuSubjectDetails), Failure> {
        let fp = parse::<Fingerprint>("--fingerprint", &self.fingerprint)?;
        let details = match (&self.subject_name, &self.subject_address, &self.first_name, &self.last_name) {
            (Some(n), Some(a), _, _) => EuSubjectDetails::Entity { full_name: n.clone(), address: a.clone() },
            (_, _, Some(f), Some(l)) => {
                let id = self
                    .person_id
                    .as_deref()
                    .ok_or_else(|| Failure::new(exit::USAGE, "a person subject needs --person-id (NIP or PESEL)"))?;
                EuSubjectDetails::Person(PersonDetails::ByFingerprintWithIdentifier {
                    first_name: f.clone(),
                    last_name: l.clone(),
                    identifier: person_identifier(id)?,
                })
            }
            _ => {
                return Err(Failure::new(
                    exit::USAGE,
                    "describe the subject: --subject-name/--subject-address, or --first-name/--last-name/--person-id",
                ));
            }
        };
        Ok((fp, details))
    }
}

fn enums<T: FromStr>(flag: &str, values: &[String], accepted: &str) -> Result<Vec<T>, Failure> {
    values.iter().map(|v| parse_enum::<T>(flag, v, accepted)).collect()
}

const PERSON_PERMS: &str = "CredentialsManage, CredentialsRead, InvoiceWrite, InvoiceRead, Introspection, \
                            SubunitManage, EnforcementOperations, CollectiveIdentifierManage";

/// Submits a grant or revocation and waits for its operation to finish.
fn submit<O>(r: &super::Remote<'_>, call: Call<O>, timeout: Duration) -> Result<String, Failure>
where
    O: Operation<Response = PermissionsOperationResponse>,
    O::Request: RequestBody + Clone,
{
    let accepted = r.call::<O>(&call.params, call.body)?;
    let reference: ksef_model::ReferenceNumber = parse("operation reference", accepted.reference_number.as_str())?;
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let st = query::operation_status(&reference);
        let status = r.call::<ops::GetPermissionOperationStatus>(&st.params, st.body)?;
        match classify(&status) {
            OperationState::Succeeded => return Ok(reference.to_string()),
            OperationState::Failed(mut f) => {
                f.reference = Some(reference);
                return Err(Failure::new(exit::ERROR, f.to_string()));
            }
            OperationState::Pending { .. } if started.elapsed() > timeout => {
                return Err(Failure::new(
                    exit::ERROR,
                    format!("permission operation {reference} still pending after {} s", timeout.as_secs()),
                ));
            }
            OperationState::Pending { .. } => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(3));
            }
        }
    }
}

fn grant(cmd: GrantCmd, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let timeout = Duration::from_secs(120);
    let (kind, reference) = match cmd {
        GrantCmd::Person { person, permissions, description, login } => {
            let perms = enums("--permission", &permissions, PERSON_PERMS)?;
            let call = PersonGrant::new(person.subject()?, person.details()?)
                .permissions(perms)
                .description(&description)
                .build_call()
                .map_err(|e| invalid(&e))?;
            ("person", submit(&remote(g, state, &login)?, call, timeout)?)
        }
        GrantCmd::Entity { to_nip, name, permissions, description, login } => {
            let mut b = EntityGrant::new(parse::<Nip>("--to-nip", &to_nip)?, &name).description(&description);
            for p in &permissions {
                let (p, delegable) = match p.strip_suffix(":delegable") {
                    Some(p) => (p, true),
                    None => (p.as_str(), false),
                };
                let t = parse_enum("--permission", p, "InvoiceWrite, InvoiceRead, CollectiveIdentifierManage")?;
                b = b.permission(t, delegable);
            }
            let call = b.build_call().map_err(|e| invalid(&e))?;
            ("entity", submit(&remote(g, state, &login)?, call, timeout)?)
        }
        GrantCmd::Authorization { to_nip, to_peppol_id, permission, name, description, login } => {
            let subject = match (to_nip, to_peppol_id) {
                (Some(n), _) => AuthorizedEntity::Nip(parse::<Nip>("--to-nip", &n)?),
                (_, Some(p)) => AuthorizedEntity::PeppolId(parse::<PeppolId>("--to-peppol-id", &p)?),
                _ => return Err(Failure::new(exit::USAGE, "say who: --to-nip or --to-peppol-id")),
            };
            let p =
                parse_enum("--permission", &permission, "SelfInvoicing, RRInvoicing, TaxRepresentative, PefInvoicing")?;
            let call = AuthorizationGrant::new(subject, p, &name)
                .description(&description)
                .build_call()
                .map_err(|e| invalid(&e))?;
            ("authorization", submit(&remote(g, state, &login)?, call, timeout)?)
        }
        GrantCmd::Indirect { person, client_nip, client_subunit, all_clients, permissions, description, login } => {
            let target = match (client_nip, client_subunit, all_clients) {
                (Some(n), _, _) => IndirectTarget::Client(parse::<Nip>("--client-nip", &n)?),
                (_, Some(i), _) => IndirectTarget::ClientSubunit(parse::<InternalId>("--client-subunit", &i)?),
                (_, _, true) => IndirectTarget::AllClients,
                _ => {
                    return Err(Failure::new(
                        exit::USAGE,
                        "say which clients: --client-nip, --client-subunit or --all-clients",
                    ));
                }
            };
            let mut b = IndirectGrant::new(person.subject()?, person.details()?, target).description(&description);
            for p in enums("--permission", &permissions, "InvoiceRead, InvoiceWrite, CollectiveIdentifierManage")? {
                b = b.permission(p);
            }
            let call = b.build_call().map_err(|e| invalid(&e))?;
            ("indirect", submit(&remote(g, state, &login)?, call, timeout)?)
        }
        GrantCmd::Subunit { person, subunit_nip, subunit_internal_id, subunit_name, description, login } => {
            let unit = match (subunit_nip, subunit_internal_id) {
                (Some(n), _) => Subunit::Nip(parse::<Nip>("--subunit-nip", &n)?),
                (_, Some(i)) => Subunit::InternalId(parse::<InternalId>("--subunit-internal-id", &i)?),
                _ => return Err(Failure::new(exit::USAGE, "say which unit: --subunit-nip or --subunit-internal-id")),
            };
            let mut b = SubunitGrant::new(person.subject()?, person.details()?, unit).description(&description);
            if let Some(n) = &subunit_name {
                b = b.subunit_name(n);
            }
            let call = b.build_call().map_err(|e| invalid(&e))?;
            ("subunit", submit(&remote(g, state, &login)?, call, timeout)?)
        }
        GrantCmd::EuAdmin { eu, eu_context, eu_entity_name, eu_entity_address, description, login } => {
            let (fp, details) = eu.parts()?;
            let call = EuAdministrationGrant::new(fp, details, parse::<NipVatUe>("--eu-context", &eu_context)?)
                .eu_entity(&eu_entity_name, &eu_entity_address)
                .description(&description)
                .build_call()
                .map_err(|e| invalid(&e))?;
            ("eu-admin", submit(&remote(g, state, &login)?, call, timeout)?)
        }
        GrantCmd::EuRepresentative { eu, permissions, description, login } => {
            let (fp, details) = eu.parts()?;
            let mut b = EuRepresentativeGrant::new(fp, details).description(&description);
            for p in enums("--permission", &permissions, "InvoiceWrite, InvoiceRead")? {
                b = b.permission(p);
            }
            let call = b.build_call().map_err(|e| invalid(&e))?;
            ("eu-representative", submit(&remote(g, state, &login)?, call, timeout)?)
        }
    };
    let v = json!({ "kind": kind, "operation": reference, "status": "granted" });
    emit(g.output, &v, || println!("granted ({kind}); operation {reference}"))?;
    Ok(exit::OK)
}

/// Which listing.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Listing {
    /// The logged-in subject's own permissions.
    Personal,
    /// Permissions of persons in the current context.
    Persons,
    /// Permissions granted in the current context by it (persons).
    PersonsGranted,
    /// Sub-unit administrators.
    Subunits,
    /// Permissions granted to entities.
    Entities,
    /// The roles of the current context.
    EntityRoles,
    /// Roles of subordinate entities.
    SubordinateRoles,
    /// Subject-type authorizations granted by the context.
    Authorizations,
    /// Subject-type authorizations the context received.
    AuthorizationsReceived,
    /// EU entity permissions.
    EuEntities,
}

/// `ksef permissions list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Which listing.
    #[arg(value_enum)]
    what: Listing,
    /// Only active or inactive permissions (personal, persons).
    #[arg(long, value_parser = ["active", "inactive"])]
    state: Option<String>,
    /// Only permissions in this context NIP (personal, persons, entities).
    #[arg(long)]
    context_nip: Option<String>,
    /// Items per page (10..=100).
    #[arg(long, default_value_t = 50)]
    page_size: u32,
    /// Which page (0-based), unless --all.
    #[arg(long, default_value_t = 0, conflicts_with = "all")]
    page: u32,
    /// Fetch every page.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    login: LoginArgs,
}

/// One listing: the items (objects) of the response's arrays, arrays of plain values by field
/// (e.g. `ownerPermissions`), and whether more pages follow.
#[derive(Debug, Default)]
struct Listed {
    items: Vec<Value>,
    extra: serde_json::Map<String, Value>,
    more: bool,
}

/// Fetches one or all pages of `call`.
fn fetch<O>(r: &super::Remote<'_>, call: Call<O>, all: bool) -> Result<Listed, Failure>
where
    O: OffsetPaged,
    O::Request: RequestBody + Clone,
    O::Response: ResponseBody + serde::Serialize,
{
    let mut out = Listed::default();
    for page in r.client().offset_pages_blocking::<O>(call.params, call.body) {
        let page = page?;
        out.more = O::has_more(&page);
        let v = to_json(&page)?;
        for (name, field) in v.as_object().into_iter().flatten() {
            let Some(a) = field.as_array() else { continue };
            if a.iter().all(Value::is_object) {
                out.items.extend(a.iter().cloned());
            } else if let Some(Value::Array(prev)) = out.extra.get_mut(name) {
                prev.extend(a.iter().cloned());
            } else {
                out.extra.insert(name.clone(), field.clone());
            }
        }
        if !all {
            break;
        }
    }
    Ok(out)
}

fn list(a: ListArgs, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let page = query::Page::new(a.page, a.page_size).map_err(|e| invalid(&e))?;
    let context =
        a.context_nip.as_deref().map(|n| parse::<Nip>("--context-nip", n)).transpose()?.map(ContextFilter::Nip);
    let st = a.state.as_deref().map(|s| if s == "active" { StateFilter::Active } else { StateFilter::Inactive });
    let r = remote(g, state, &a.login)?;
    let Listed { items, extra, more } = match a.what {
        Listing::Personal => {
            let mut q = PersonalQuery::new().page(page);
            if let Some(c) = context.clone() {
                q = q.context(c);
            }
            if let Some(s) = st {
                q = q.state(s);
            }
            fetch(&r, q.build().map_err(|e| invalid(&e))?, a.all)?
        }
        Listing::Persons | Listing::PersonsGranted => {
            let t = if matches!(a.what, Listing::Persons) {
                PersonsQueryType::InCurrentContext
            } else {
                PersonsQueryType::GrantedInCurrentContext
            };
            let mut q = PersonsQuery::new(t).page(page);
            if let Some(c) = context.clone() {
                q = q.context(c);
            }
            if let Some(s) = st {
                q = q.state(s);
            }
            fetch(&r, q.build().map_err(|e| invalid(&e))?, a.all)?
        }
        Listing::Subunits => fetch(&r, query::subunits_query(None, Some(page)).map_err(|e| invalid(&e))?, a.all)?,
        Listing::Entities => {
            fetch(&r, query::entities_grants_query(context.as_ref(), Some(page)).map_err(|e| invalid(&e))?, a.all)?
        }
        Listing::EntityRoles => fetch(&r, query::entity_roles_query(Some(page)), a.all)?,
        Listing::SubordinateRoles => {
            fetch(&r, query::subordinate_roles_query(None, Some(page)).map_err(|e| invalid(&e))?, a.all)?
        }
        Listing::Authorizations => {
            fetch(&r, AuthorizationsQuery::granted().page(page).build().map_err(|e| invalid(&e))?, a.all)?
        }
        Listing::AuthorizationsReceived => {
            fetch(&r, AuthorizationsQuery::received().page(page).build().map_err(|e| invalid(&e))?, a.all)?
        }
        Listing::EuEntities => {
            fetch(&r, query::EuEntitiesQuery::new().page(page).build().map_err(|e| invalid(&e))?, a.all)?
        }
    };
    let mut v = json!({ "permissions": items, "count": items.len(), "has_more": more });
    for (k, x) in &extra {
        v[k.as_str()] = x.clone();
    }
    emit(g.output, &v, || {
        for (k, x) in &extra {
            let vals: Vec<&str> = x.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            println!("{k}: {}", vals.join(", "));
        }
        for p in &items {
            println!("{}", human_row(p));
        }
        println!("{} item(s)", items.len());
        if more {
            println!("more pages: pass --page {} or --all", a.page.saturating_add(1));
        }
    })?;
    Ok(exit::OK)
}

/// One line per permission: id, scope or role, who, in which context, description.
fn human_row(p: &Value) -> String {
    let id_of = |v: &Value| -> Option<String> {
        if let Some(plain) = v.as_str() {
            return Some(plain.to_owned());
        }
        let t = v["type"].as_str()?;
        Some(match v["value"].as_str() {
            Some(val) => format!("{t}:{val}"),
            None => t.to_string(),
        })
    };
    let scope = ["permissionScope", "permissionType", "role", "authorizationScope"]
        .iter()
        .find_map(|k| p[*k].as_str())
        .unwrap_or("-");
    let who = [
        "authorizedIdentifier",
        "authorizedEntityIdentifier",
        "authorizedFingerprintIdentifier",
        "authorIdentifier",
        "subjectIdentifier",
    ]
    .iter()
    .find_map(|k| id_of(&p[*k]))
    .unwrap_or_else(|| "-".into());
    let ctx = [
        "contextIdentifier",
        "authorizingEntityIdentifier",
        "parentEntityIdentifier",
        "subunitIdentifier",
        "vatUeIdentifier",
    ]
    .iter()
    .find_map(|k| id_of(&p[*k]))
    .unwrap_or_else(|| "-".into());
    format!(
        "{}  {:<26}  to {}  in {}  {}",
        p["id"].as_str().unwrap_or("-"),
        scope,
        who,
        ctx,
        p["description"].as_str().unwrap_or("")
    )
}

/// Runs `ksef permissions ...`.
pub(crate) fn run(cmd: Cmd, g: &Settings, state: &Path) -> Result<u8, Failure> {
    match cmd {
        Cmd::Grant(c) => grant(c, g, state),
        Cmd::List(a) => list(a, g, state),
        Cmd::Revoke { id, authorization, login } => {
            let timeout = Duration::from_secs(120);
            let reference = if authorization {
                let call = query::revoke_authorization(&id).map_err(|e| invalid(&e))?;
                submit(&remote(g, state, &login)?, call, timeout)?
            } else {
                let call = query::revoke_common(&id).map_err(|e| invalid(&e))?;
                submit(&remote(g, state, &login)?, call, timeout)?
            };
            let v = json!({ "id": id, "operation": reference, "status": "revoked" });
            emit(g.output, &v, || println!("permission {id} revoked; operation {reference}"))?;
            Ok(exit::OK)
        }
    }
}
