use ksef_model::operations::{GrantEuEntityPermissions, GrantPersonPermissions, QueryPersonalPermissions};
use ksef_permissions::Permission;
use ksef_permissions::required::*;

#[test]
fn every_required_permission_in_the_table_is_known() {
    for op in ksef_model::OPERATIONS {
        let parsed = required_permissions(op.name).unwrap();
        assert_eq!(parsed.len(), op.required_permissions.len(), "{}: {:?}", op.name, op.required_permissions);
    }
}

#[test]
fn lookups() {
    assert_eq!(required_for::<GrantPersonPermissions>(), &[Permission::CredentialsManage]);
    assert_eq!(required_for::<GrantEuEntityPermissions>(), &[Permission::VatUeManage]);
    assert!(required_for::<QueryPersonalPermissions>().is_empty());
    assert_eq!(
        required_permissions("revoke_common_permission"),
        Some(&[Permission::CredentialsManage, Permission::VatUeManage, Permission::SubunitManage][..])
    );
    assert_eq!(required_permissions("no_such_operation"), None);
}

#[test]
fn allows_any_of() {
    assert!(allows_operation::<GrantPersonPermissions>(&[Permission::InvoiceRead, Permission::CredentialsManage]));
    assert!(!allows_operation::<GrantPersonPermissions>(&[Permission::CredentialsRead]));
    assert!(allows_operation::<QueryPersonalPermissions>(&[]));
    assert_eq!(allows("revoke_common_permission", &[Permission::SubunitManage]), Ok(true));
    let e = allows("nope", &[]).unwrap_err();
    assert_eq!(e.to_string(), "`nope` is not an operation of the KSeF API table");
}
