//! The spec's `x-required-permissions`: which permissions an operation needs (any one suffices).
//!
//! ```
//! use ksef_permissions::access::Permission;
//! use ksef_permissions::required::{allows, required_permissions};
//!
//! assert_eq!(required_permissions("grant_eu_entity_permissions"), Some(&[Permission::VatUeManage][..]));
//! assert_eq!(allows("get_invoice", &[Permission::InvoiceRead]), Ok(true));
//! assert_eq!(allows("get_invoice", &[Permission::InvoiceWrite]), Ok(false));
//! assert_eq!(allows("list_auth_sessions", &[]), Ok(true)); // needs none
//! ```

use std::sync::LazyLock;

use ksef_model::{OPERATIONS, Operation};

use crate::access::Permission;

static TABLE: LazyLock<Vec<(&'static str, Vec<Permission>)>> = LazyLock::new(|| {
    OPERATIONS
        .iter()
        .map(|op| (op.name, op.required_permissions.iter().filter_map(|p| p.parse().ok()).collect()))
        .collect()
});

/// An operation name the operation table does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an operation of the KSeF API table")]
pub struct UnknownOperation(pub String);

/// The permissions operation `op_name` (the table's snake_case name) requires, any one of which
/// suffices; empty when it needs none. `None` for an unknown name.
pub fn required_permissions(op_name: &str) -> Option<&'static [Permission]> {
    let table: &'static Vec<(&'static str, Vec<Permission>)> = &TABLE;
    table.iter().find(|(n, _)| *n == op_name).map(|(_, ps)| ps.as_slice())
}

/// [`required_permissions`] of a typed operation.
pub fn required_for<O: Operation>() -> &'static [Permission] {
    required_permissions(O::SPEC.name).unwrap_or(&[])
}

/// Whether holding `held` lets the caller perform `op_name`: true when the operation needs no
/// permission or `held` contains any of those it accepts.
///
/// # Errors
/// [`UnknownOperation`] for a name that is not in the table.
pub fn allows(op_name: &str, held: &[Permission]) -> Result<bool, UnknownOperation> {
    let needed = required_permissions(op_name).ok_or_else(|| UnknownOperation(op_name.to_owned()))?;
    Ok(needed.is_empty() || needed.iter().any(|p| held.contains(p)))
}

/// [`allows`] for a typed operation.
pub fn allows_operation<O: Operation>(held: &[Permission]) -> bool {
    let needed = required_for::<O>();
    needed.is_empty() || needed.iter().any(|p| held.contains(p))
}
