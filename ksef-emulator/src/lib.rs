#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod config;
pub mod domain;
mod emulator;
pub mod error;
pub mod faults;
pub mod jwt;
pub mod keys;
pub mod limits;
pub mod pipeline;
pub mod store;
pub mod upo;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{EmulatorConfig, Environment, FaultConfig, TokenLifetimes};
pub use emulator::{AuthInit, Emulator, EmulatorBuilder, StartError, serve};
pub use error::ApiError;
pub use faults::{FaultConfigError, HttpFaultRule, HttpFaults};
