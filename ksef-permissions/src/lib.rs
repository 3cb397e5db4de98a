#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
mod error;
pub mod grant;
pub mod paging;
pub mod query;
pub mod required;
mod subject;
pub mod wait;

pub use error::ValidationError;
pub use subject::{EuSubjectDetails, Fingerprint, IdDocument, PersonDetails, PersonIdentifier, PersonSubject};

pub use access::{AccessModel, Authorization, Basis, Context, Denied, Grant, IndirectScope, Permission};
pub use grant::{
    AuthorizationGrant, AuthorizedEntity, EntityGrant, EuAdministrationGrant, EuRepresentativeGrant, IndirectGrant,
    IndirectTarget, PersonGrant, Subunit, SubunitGrant,
};
pub use query::Call;
pub use wait::{Completed, OperationFailure, PollPolicy, WaitError};

/// The permission enums the builders take, re-exported from the model.
pub use ksef_model::types::{
    EntityAuthorizationPermissionType, EntityPermissionType, EuEntityPermissionType, IndirectPermissionType,
    PersonPermissionType,
};
