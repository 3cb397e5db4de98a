//! Emulator configuration.

use std::sync::Arc;

use chrono::Duration;

use crate::clock::{Clock, SystemClock};

/// Which KSeF environment the emulator imitates (names in UPOs, accepted form codes, self-signed
/// certificates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Environment {
    /// TE (test): self-signed certificates accepted, FA(2) accepted, `/testdata` served.
    #[default]
    Test,
}

impl Environment {
    /// `NazwaPodmiotuPrzyjmujacego` in UPOs.
    pub fn upo_receiver_name(self) -> &'static str {
        match self {
            Self::Test => "Ministerstwo Finansów - środowisko testowe (TE)",
        }
    }
}

/// Lifetimes of the tokens the emulator issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// The `authenticationToken` of an authentication operation (KSeF: 45 min).
    pub authentication: Duration,
    /// Access tokens (KSeF: about 15 min).
    pub access: Duration,
    /// Refresh tokens (KSeF: 7 days).
    pub refresh: Duration,
    /// Auth challenges (KSeF: 10 min).
    pub challenge: Duration,
    /// Online sessions (KSeF: 12 h).
    pub online_session: Duration,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            authentication: Duration::minutes(45),
            access: Duration::minutes(15),
            refresh: Duration::days(7),
            challenge: Duration::minutes(10),
            online_session: Duration::hours(12),
        }
    }
}

/// Injected faults: KSeF's "cancelled by the system" outcomes, drawn from their own seeded
/// random stream so a failing run can be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct FaultConfig {
    /// Seed of the fault stream.
    pub seed: u64,
    /// Probability (0..=1) that an invoice ends in status 550 instead of being accepted.
    pub invoice_cancel_rate: f64,
    /// Probability (0..=1) that an authentication ends in status 550.
    pub auth_cancel_rate: f64,
}

/// Everything the emulator can be configured with. Build it with [`crate::Emulator::builder`].
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The clock (system time by default).
    pub clock: Arc<dyn Clock>,
    /// Token and session lifetimes.
    pub lifetimes: TokenLifetimes,
    /// Host name (with optional port) used in pre-signed storage URLs; `None`: the API's own address.
    pub storage_host: Option<String>,
    /// The imitated environment.
    pub environment: Environment,
    /// Seed of the emulator's random numbers (reference numbers, KSeF numbers, keys, JWT secret);
    /// `None`: seeded from the operating system.
    pub seed: Option<u64>,
    /// Largest plaintext invoice without attachments, bytes (KSeF: 1 000 000).
    pub max_invoice_size: u64,
    /// Largest plaintext invoice with attachments, bytes (KSeF: 3 000 000).
    pub max_invoice_with_attachment_size: u64,
    /// Invoices per session (KSeF: 10 000).
    pub max_invoices_per_session: u64,
    /// Whether rate limits are enforced (429). On by default, as on KSeF.
    pub rate_limits: bool,
    /// Fault injection (none by default).
    pub faults: FaultConfig,
    /// HTTP-level fault injection (none by default; also settable at run time).
    pub http_faults: crate::faults::HttpFaults,
    /// How long each queued job (an online invoice, closing a session) waits before the worker
    /// finishes it, wall time from when it was queued (zero: as fast as possible). Invoices show
    /// status 150 while they wait.
    pub processing_delay: std::time::Duration,
    /// Jobs held in memory before submitters wait (the queue itself is in the store).
    pub queue_capacity: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            lifetimes: TokenLifetimes::default(),
            storage_host: None,
            environment: Environment::Test,
            seed: None,
            max_invoice_size: 1_000_000,
            max_invoice_with_attachment_size: 3_000_000,
            max_invoices_per_session: 10_000,
            rate_limits: true,
            faults: FaultConfig::default(),
            http_faults: crate::faults::HttpFaults::default(),
            processing_delay: std::time::Duration::ZERO,
            queue_capacity: 8192,
        }
    }
}
