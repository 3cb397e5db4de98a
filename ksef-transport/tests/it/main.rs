//! Integration tests of ksef-transport.

mod build;
mod limiter;
mod parse;
mod redaction;
mod retry;
