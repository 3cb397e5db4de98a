#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod batch;
pub mod batch_steps;
pub mod client;
pub mod env;
pub mod error;
pub mod export;
pub mod flows;
pub mod keys;
pub mod lighthouse;
pub mod online;
pub mod paging;
pub mod qr;
pub mod services;
pub mod sync;
pub mod token_manager;
pub mod upo;

pub use auth::{Authenticator, Credential};
pub use client::{KsefClient, KsefClientBuilder, PollPolicy};
pub use env::Environment;
pub use error::{AuthFailure, AuthFailureKind, Error, InvoiceRejection};
pub use online::{AcceptedInvoice, FormCode, OnlineSession, SendOptions};
pub use token_manager::{AuthTokens, TokenManager};

/// Permission grants, revocations, queries and the access model (`ksef-permissions`).
pub use ksef_permissions as permissions;
/// The transport layer (`ksef-transport`): transports, pipeline, errors.
pub use ksef_transport as transport;
