//! Per-invoice processing.
