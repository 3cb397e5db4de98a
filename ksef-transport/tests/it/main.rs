//! Integration tests of ksef-transport.

mod build;
mod parse;
