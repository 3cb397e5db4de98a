//! Integration tests of ksef-transport. The loopback suite needs both transports:
//! `cargo test -p ksef-transport --all-features`.

mod build;
mod corpus;
mod hostile;
mod limiter;
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod loopback;
mod parse;
mod presigned;
mod redaction;
#[cfg(feature = "test-util")]
mod replay;
mod retry;
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod server;
