//! Integration tests: the emulator driven over real loopback HTTP.

mod auth;
mod authz;
mod batch;
mod certificates;
mod collective;
mod common;
mod conformance;
mod corpus;
mod errors;
mod exports;
mod faults;
mod limits;
mod negative;
mod permissions;
mod persistence;
mod processing;
mod schema;
mod security;
mod sessions;
mod testdata;
mod tokens;
mod xades;
