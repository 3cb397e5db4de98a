//! UPO XML.
