#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod env;
pub mod export;
pub mod qr;
pub mod sync;
pub mod upo;
