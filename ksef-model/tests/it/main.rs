//! ksef-model integration tests (one binary).

mod corpus;
mod enums;
mod examples;
mod generated_dispatch;
mod hostile;
mod ids;
mod operations;
mod secrets;
mod spec;
