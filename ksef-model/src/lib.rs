#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod generated;
pub mod ids;
mod open_enum;
mod operation;
mod xml;

pub use generated::operations::{self, OPERATIONS};
pub use generated::types;
pub use ids::{
    CollectiveIdentifier, IdError, InternalId, KsefNumber, Nip, NipVatUe, PeppolId, Pesel, ReferenceNumber, crc8,
};
pub use open_enum::UnknownEnumValue;
#[doc(hidden)]
pub use operation::param_date_time;
pub use operation::{
    BodySpec, Method, Operation, OperationParams, OperationSpec, ParamLocation, ParamSpec, RATE_LIMIT_OVERRIDE_GROUPS,
    RateLimits, ResponseSpec, SortDirection, SortSpec,
};
pub use xml::XmlDocument;

/// Provenance of the generated code.
pub mod spec {
    /// The KSeF API version string the model was generated from.
    pub const API_VERSION: &str = "2.9.0";
    /// `ksef-model/SPEC.toml`: API version, spec SHA-256, counts.
    pub const PROVENANCE: &str = include_str!("../SPEC.toml");
}
