//! Integration tests of ksef-transport.

mod parse;
