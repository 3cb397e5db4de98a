//! End-to-end tests of the facade against `ksef-emulator` over loopback HTTP, with both
//! transports: ureq (blocking methods) and reqwest (async methods).

mod asynchronous;
mod blocking;
mod common;
mod corpus;
mod flows;
mod hostile;
mod presigned;
mod recovery;
mod scripted;
mod secrets;
mod services;
mod soak;
