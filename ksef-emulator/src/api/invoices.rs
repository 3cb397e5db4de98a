//! invoices

use super::Routes;

pub(super) fn register(_r: &mut Routes) {}
