//! Integration tests of ksef-permissions (one binary, modules per area).

mod access;
mod grants;
mod live;
mod queries;
mod required;
mod wait;

use ksef_model::{Nip, Pesel};
use ksef_permissions::{Fingerprint, PersonSubject};

pub const CLIENT: &str = "5265877635";
pub const OFFICE: &str = "1111111111";
pub const OTHER_CLIENT: &str = "2222222222";
pub const EMPLOYEE_PESEL: &str = "44051401359";
pub const OWNER_PESEL: &str = "90010112349";
pub const FP: &str = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";

pub fn nip(s: &str) -> Nip {
    s.parse().unwrap()
}

pub fn pesel(s: &str) -> Pesel {
    s.parse().unwrap()
}

pub fn fp(s: &str) -> Fingerprint {
    s.parse().unwrap()
}

pub fn person(s: &str) -> PersonSubject {
    PersonSubject::pesel(s).unwrap()
}

/// Asserts the error names `field` and its message contains every one of `words`.
#[track_caller]
pub fn rejects(err: ksef_permissions::ValidationError, field: &str, words: &[&str]) {
    let msg = err.to_string();
    assert_eq!(err.field(), field, "wrong field in: {msg}");
    for w in words {
        assert!(msg.contains(w), "message {msg:?} does not mention {w:?}");
    }
}
