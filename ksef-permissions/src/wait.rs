//! Waiting for asynchronous permission operations.
//!
//! Every grant and revocation answers `202 {referenceNumber}` at once and is carried out later;
//! `GET /permissions/operations/{referenceNumber}` tells how it ended (codes of protocol §10.4:
//! 100 accepted, 200 done, 400–550 failures). This module has a pure core — [`classify`] and the
//! [`Poller`] state machine, which decide from a status response and the current time what to do
//! next — and thin blocking and async loops over `ksef-transport`'s [`Pipeline`] with injectable
//! sleep and [`Clock`].

use core::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use ksef_model::types::{PermissionsOperationResponse, PermissionsOperationStatusResponse};
use ksef_model::{Operation, ReferenceNumber};
use ksef_transport::{AsyncTransport, Clock, Pipeline, RequestBody, RequestContext, SyncTransport};

use crate::query::{Call, operation_status};

/// The failure statuses of a permission operation (protocol §10.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// 400: the operation failed.
    Failed,
    /// 410: the identifiers are inconsistent or in the wrong relation.
    InconsistentIdentifiers,
    /// 420: the credentials used may not perform this operation.
    NotPermitted,
    /// 430: the context does not have the required role or permissions.
    ContextRoleMismatch,
    /// 440: the operation is not allowed for these identifier relations.
    RelationNotAllowed,
    /// 450: the operation is not allowed for this identifier or its type.
    IdentifierNotAllowed,
    /// 500: unknown error.
    UnknownError,
    /// 550: cancelled by the system.
    Cancelled,
    /// A failure code this crate does not know.
    Other(i32),
}

impl FailureKind {
    /// The kind of a status code ≥ 300.
    pub fn from_code(code: i32) -> Self {
        match code {
            400 => Self::Failed,
            410 => Self::InconsistentIdentifiers,
            420 => Self::NotPermitted,
            430 => Self::ContextRoleMismatch,
            440 => Self::RelationNotAllowed,
            450 => Self::IdentifierNotAllowed,
            500 => Self::UnknownError,
            550 => Self::Cancelled,
            c => Self::Other(c),
        }
    }

    /// What the code means, in English.
    pub fn meaning(&self) -> &'static str {
        match self {
            Self::Failed => "the operation failed",
            Self::InconsistentIdentifiers => {
                "the identifiers given are inconsistent or in the wrong relation to each other"
            }
            Self::NotPermitted => "the credentials used are not permitted to perform this operation",
            Self::ContextRoleMismatch => "the context does not have the role or permissions the operation requires",
            Self::RelationNotAllowed => "the operation is not allowed for these relations between the identifiers",
            Self::IdentifierNotAllowed => "the operation is not allowed for this identifier or identifier type",
            Self::UnknownError => "KSeF reported an unknown error",
            Self::Cancelled => "the operation was cancelled by the system",
            Self::Other(_) => "the operation ended with a status this client does not know",
        }
    }
}

/// How a permission operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationFailure {
    /// The operation's reference number.
    pub reference: Option<ReferenceNumber>,
    /// The status code (400, 410, …).
    pub code: i32,
    /// What the code means.
    pub kind: FailureKind,
    /// KSeF's description (Polish).
    pub description: String,
    /// KSeF's details, if any.
    pub details: Vec<String>,
}

impl fmt::Display for OperationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Some(r) => write!(f, "permission operation {r} failed with status {}: {}", self.code, self.kind.meaning())?,
            None => write!(f, "permission operation failed with status {}: {}", self.code, self.kind.meaning())?,
        }
        write!(f, " (KSeF: {}", self.description)?;
        for d in &self.details {
            write!(f, "; {d}")?;
        }
        f.write_str(")")
    }
}

/// Where an operation stands, judged from one status response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    /// Still running (code 100 or another code below 200).
    Pending {
        /// The code.
        code: i32,
    },
    /// Done (code 200–299).
    Succeeded,
    /// Failed (code ≥ 300).
    Failed(OperationFailure),
}

/// Classifies a status response.
pub fn classify(status: &PermissionsOperationStatusResponse) -> OperationState {
    let s = &status.status;
    match s.code {
        c if c < 200 => OperationState::Pending { code: c },
        200..=299 => OperationState::Succeeded,
        c => OperationState::Failed(OperationFailure {
            reference: None,
            code: c,
            kind: FailureKind::from_code(c),
            description: s.description.to_string(),
            details: s.details.clone().unwrap_or_default(),
        }),
    }
}

/// Polling schedule: exponential backoff from `initial_delay`, capped at `max_delay`, giving up
/// after `timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollPolicy {
    /// Wait before the first status check (default 500 ms).
    pub initial_delay: Duration,
    /// Longest wait between checks (default 5 s).
    pub max_delay: Duration,
    /// Growth factor per check (default 2).
    pub factor: u32,
    /// Give up after this long (default 2 min).
    pub timeout: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            factor: 2,
            timeout: Duration::from_secs(120),
        }
    }
}

impl PollPolicy {
    /// The wait before check number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut d = self.initial_delay;
        for _ in 0..attempt {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max_delay {
                return self.max_delay;
            }
        }
        d.min(self.max_delay)
    }
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollStep {
    /// Sleep this long, then check the status.
    Wait(Duration),
    /// The operation succeeded.
    Done,
    /// The operation failed.
    Failed(OperationFailure),
    /// The timeout passed while the operation was still pending.
    TimedOut {
        /// The last code seen (`None` when no status was read).
        last_code: Option<i32>,
        /// How long was waited.
        waited: Duration,
    },
}

/// The pure polling state machine: feed it status responses and the current time.
#[derive(Clone, Debug)]
pub struct Poller {
    policy: PollPolicy,
    reference: ReferenceNumber,
    started: Instant,
    attempt: u32,
    last_code: Option<i32>,
}

impl Poller {
    /// Starts waiting for `reference` at `now`.
    pub fn new(reference: ReferenceNumber, policy: PollPolicy, now: Instant) -> Self {
        Self { policy, reference, started: now, attempt: 0, last_code: None }
    }

    /// The first step: wait the initial delay.
    pub fn start(&mut self) -> PollStep {
        self.attempt = 1;
        PollStep::Wait(self.policy.delay(0))
    }

    /// The step after reading `status` at `now`.
    pub fn on_status(&mut self, status: &PermissionsOperationStatusResponse, now: Instant) -> PollStep {
        match classify(status) {
            OperationState::Succeeded => PollStep::Done,
            OperationState::Failed(mut f) => {
                f.reference = Some(self.reference.clone());
                PollStep::Failed(f)
            }
            OperationState::Pending { code } => {
                self.last_code = Some(code);
                let waited = now.saturating_duration_since(self.started);
                let delay = self.policy.delay(self.attempt);
                if waited + delay > self.policy.timeout {
                    return PollStep::TimedOut { last_code: Some(code), waited };
                }
                self.attempt += 1;
                PollStep::Wait(delay)
            }
        }
    }

    /// The number of status checks scheduled so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The reference waited for.
    pub fn reference(&self) -> &ReferenceNumber {
        &self.reference
    }
}

/// A finished, successful operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    /// Its reference number.
    pub reference: ReferenceNumber,
    /// How many status checks were made.
    pub checks: u32,
}

/// Which request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Submitting the grant or revocation.
    Submit,
    /// Reading the operation status.
    Status,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Submit => "submitting the permission operation",
            Self::Status => "reading the permission operation status",
        })
    }
}

/// Why waiting for an operation did not end in success.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// A request failed (HTTP, transport or decoding).
    #[error("{stage} failed")]
    Request {
        /// Which request.
        stage: Stage,
        /// The operation, when it was already accepted.
        reference: Option<ReferenceNumber>,
        /// The transport-level error.
        #[source]
        source: ksef_transport::Error,
    },
    /// KSeF carried the operation out and it failed.
    #[error("{0}")]
    Failed(OperationFailure),
    /// KSeF accepted the operation but its reference number is malformed.
    #[error("KSeF accepted the operation but returned a malformed reference number `{value}`")]
    InvalidReference {
        /// What KSeF returned.
        value: String,
        /// Why it was rejected.
        #[source]
        source: ksef_model::IdError,
    },
    /// Still pending when the timeout passed.
    #[error("permission operation {reference} was still pending after {waited:?} (last status {last_code:?})")]
    TimedOut {
        /// The operation.
        reference: ReferenceNumber,
        /// The last status code seen.
        last_code: Option<i32>,
        /// How long was waited.
        waited: Duration,
    },
}

impl WaitError {
    /// The failure, when KSeF reported one.
    pub fn failure(&self) -> Option<&OperationFailure> {
        match self {
            Self::Failed(f) => Some(f),
            _ => None,
        }
    }
}

/// `Continue(delay)` for a wait, `Break(outcome)` for a final step.
fn next(poller: &Poller, step: PollStep) -> ControlFlow<Result<Completed, WaitError>, Duration> {
    ControlFlow::Break(match step {
        PollStep::Wait(d) => return ControlFlow::Continue(d),
        PollStep::Done => Ok(Completed { reference: poller.reference.clone(), checks: poller.attempts() }),
        PollStep::Failed(f) => Err(WaitError::Failed(f)),
        PollStep::TimedOut { last_code, waited } => {
            Err(WaitError::TimedOut { reference: poller.reference.clone(), last_code, waited })
        }
    })
}

/// Polls the status of `reference` until it finishes (blocking).
///
/// # Errors
/// [`WaitError::Failed`] with the operation's failure status, [`WaitError::TimedOut`], or
/// [`WaitError::Request`] when a status request fails.
pub fn wait_blocking<T: SyncTransport + ?Sized>(
    pipeline: &Pipeline,
    transport: &T,
    ctx: &RequestContext,
    reference: &ReferenceNumber,
    policy: PollPolicy,
    clock: &dyn Clock,
    sleep: impl Fn(Duration),
) -> Result<Completed, WaitError> {
    let mut poller = Poller::new(reference.clone(), policy, clock.now());
    let mut step = poller.start();
    loop {
        let d = match next(&poller, step) {
            ControlFlow::Continue(d) => d,
            ControlFlow::Break(outcome) => return outcome,
        };
        sleep(d);
        let status =
            operation_status(reference).execute_blocking(pipeline, transport, ctx, &sleep).map_err(|source| {
                WaitError::Request { stage: Stage::Status, reference: Some(reference.clone()), source }
            })?;
        step = poller.on_status(&status.value, clock.now());
    }
}

fn accepted_reference(accepted: &PermissionsOperationResponse) -> Result<ReferenceNumber, WaitError> {
    let value: &str = &accepted.reference_number;
    value.parse().map_err(|source| WaitError::InvalidReference { value: value.to_owned(), source })
}

/// Submits a grant or revocation and waits for it to finish (blocking).
///
/// # Errors
/// As [`wait_blocking`], plus [`WaitError::Request`] with [`Stage::Submit`] when KSeF refused
/// the request itself.
pub fn submit_and_wait_blocking<O, T>(
    pipeline: &Pipeline,
    transport: &T,
    ctx: &RequestContext,
    call: Call<O>,
    policy: PollPolicy,
    clock: &dyn Clock,
    sleep: impl Fn(Duration),
) -> Result<Completed, WaitError>
where
    O: Operation<Response = PermissionsOperationResponse>,
    O::Request: RequestBody,
    T: SyncTransport + ?Sized,
{
    let accepted = call.execute_blocking(pipeline, transport, ctx, &sleep).map_err(|source| WaitError::Request {
        stage: Stage::Submit,
        reference: None,
        source,
    })?;
    let reference = accepted_reference(&accepted.value)?;
    wait_blocking(pipeline, transport, ctx, &reference, policy, clock, sleep)
}

/// Polls the status of `reference` until it finishes (async; `sleep` returns a future, e.g.
/// `tokio::time::sleep`).
///
/// # Errors
/// As [`wait_blocking`].
pub async fn wait_async<T, S, F>(
    pipeline: &Pipeline,
    transport: &T,
    ctx: &RequestContext,
    reference: &ReferenceNumber,
    policy: PollPolicy,
    clock: &dyn Clock,
    sleep: S,
) -> Result<Completed, WaitError>
where
    T: AsyncTransport + Sync + ?Sized,
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut poller = Poller::new(reference.clone(), policy, clock.now());
    let mut step = poller.start();
    loop {
        let d = match next(&poller, step) {
            ControlFlow::Continue(d) => d,
            ControlFlow::Break(outcome) => return outcome,
        };
        sleep(d).await;
        let status =
            operation_status(reference).execute_async(pipeline, transport, ctx, &sleep).await.map_err(|source| {
                WaitError::Request { stage: Stage::Status, reference: Some(reference.clone()), source }
            })?;
        step = poller.on_status(&status.value, clock.now());
    }
}

/// Submits a grant or revocation and waits for it to finish (async).
///
/// # Errors
/// As [`submit_and_wait_blocking`].
pub async fn submit_and_wait_async<O, T, S, F>(
    pipeline: &Pipeline,
    transport: &T,
    ctx: &RequestContext,
    call: Call<O>,
    policy: PollPolicy,
    clock: &dyn Clock,
    sleep: S,
) -> Result<Completed, WaitError>
where
    O: Operation<Response = PermissionsOperationResponse>,
    O::Request: RequestBody,
    T: AsyncTransport + Sync + ?Sized,
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    let accepted = call.execute_async(pipeline, transport, ctx, &sleep).await.map_err(|source| WaitError::Request {
        stage: Stage::Submit,
        reference: None,
        source,
    })?;
    let reference = accepted_reference(&accepted.value)?;
    wait_async(pipeline, transport, ctx, &reference, policy, clock, sleep).await
}
