//! Asynchronous processing, as on KSeF: a request that submits work (an online invoice, closing an
//! online or batch session) records it, queues a job and answers at once; a background worker
//! does the decryption, validation, numbering and UPO layout and moves the statuses on
//! (invoice 100 → 150 → final, online session 100 → 170 → final, batch session 150 → final).
//!
//! Every job is written to the store (document kind `job`) before it is queued and removed after
//! its result is stored, so a restarted emulator with a durable store re-queues unfinished work.
//! Jobs are idempotent: a job whose target already has its final status is dropped, a batch
//! resumes after the invoices it already stored, so work completes exactly once.
//!
//! One worker task takes jobs in order (a bounded channel: submitters wait when it is full) and
//! runs them on the blocking pool. FIFO order keeps a session's close after its invoices.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api::AppState;
use crate::store::{StoreError, StoreResult};

/// Store document kind of queued jobs.
pub const JOB_KIND: &str = "job";
/// Jobs handed to the blocking pool at once when the emulator runs without a processing delay.
const BATCH: usize = 256;

/// One unit of asynchronous work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Job {
    /// Process an online invoice recorded with status 100.
    #[serde(rename_all = "camelCase")]
    Invoice {
        /// Session reference.
        session: String,
        /// Invoice reference (`EE`).
        invoice: String,
        /// The encrypted document, Base64 (as sent).
        ciphertext: String,
    },
    /// Finish a closed (170) online session: final status and UPO pages.
    #[serde(rename_all = "camelCase")]
    CloseOnline {
        /// Session reference.
        session: String,
    },
    /// Process a closed (150) batch session: verify, decrypt, unpack, every invoice, final status.
    #[serde(rename_all = "camelCase")]
    CloseBatch {
        /// Session reference.
        session: String,
    },
}

/// A job as stored: its queue key (ordering) and the job.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredJob {
    key: String,
    job: Job,
}

struct Queued {
    key: String,
    job: Job,
    at: Instant,
}

/// The job queue of a running emulator.
pub struct Jobs {
    tx: mpsc::Sender<Queued>,
    rx: Mutex<Option<mpsc::Receiver<Queued>>>,
    recovered: Mutex<VecDeque<StoredJob>>,
    seq: AtomicU64,
    done: AtomicU64,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("queued", &self.seq.load(Ordering::Relaxed))
            .field("done", &self.done.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Jobs {
    /// A queue holding at most `capacity` jobs in memory.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            recovered: Mutex::new(VecDeque::new()),
            seq: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// Loads the unfinished jobs of `store` (run first when the worker starts, in their
    /// original order); new jobs are numbered after them.
    pub fn recover(&self, store: &dyn crate::store::Store) -> StoreResult<usize> {
        let mut recovered: Vec<StoredJob> = store
            .docs(JOB_KIND)?
            .iter()
            .map(|d| serde_json::from_str(d).map_err(|e| StoreError::Backend(format!("queued job: {e}"))))
            .collect::<Result<_, _>>()?;
        recovered.sort_by(|a, b| a.key.cmp(&b.key));
        let next = recovered.last().and_then(|j| j.key.parse::<u64>().ok()).map_or(0, |n| n + 1);
        self.seq.fetch_max(next, Ordering::Relaxed);
        if !recovered.is_empty() {
            tracing::info!(jobs = recovered.len(), "re-queueing unfinished work");
        }
        let n = recovered.len();
        *self.recovered.lock().unwrap_or_else(|e| e.into_inner()) = recovered.into();
        Ok(n)
    }

    /// Jobs finished since start.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn record(&self, app: &AppState, job: Job) -> StoreResult<Queued> {
        let key = format!("{:020}", self.seq.fetch_add(1, Ordering::Relaxed));
        let stored = StoredJob { key: key.clone(), job };
        let json = serde_json::to_string(&stored).map_err(|e| StoreError::Backend(e.to_string()))?;
        app.store.put_doc(JOB_KIND, &key, "", &json)?;
        Ok(Queued { key, job: stored.job, at: Instant::now() })
    }

    /// Records the job durably and queues it, waiting while the queue is full.
    pub async fn submit(&self, app: &AppState, job: Job) -> StoreResult<()> {
        let q = self.record(app, job)?;
        if self.tx.send(q).await.is_err() {
            tracing::warn!("no worker; the job stays stored for the next start");
        }
        Ok(())
    }

    /// As [`Jobs::submit`] from synchronous code inside the runtime: queues at once when there is
    /// room, else from a spawned task.
    pub fn submit_now(&self, app: &AppState, job: Job) -> StoreResult<()> {
        let q = self.record(app, job)?;
        match self.tx.try_send(q) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(q)) => match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    let tx = self.tx.clone();
                    h.spawn(async move {
                        let _ = tx.send(q).await;
                    });
                }
                Err(_) => tracing::warn!("queue full outside the runtime; the job stays stored for the next start"),
            },
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("no worker; the job stays stored for the next start");
            }
        }
        Ok(())
    }
}

/// Starts the worker on the current runtime (once; later calls do nothing).
pub(crate) fn spawn(app: Arc<AppState>) {
    let Some(mut rx) = app.jobs.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    let recovered: Vec<StoredJob> = app.jobs.recovered.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
    tokio::spawn(async move {
        let now = Instant::now();
        let mut batch: Vec<Queued> =
            recovered.into_iter().map(|s| Queued { key: s.key, job: s.job, at: now }).collect();
        loop {
            if batch.is_empty() {
                match rx.recv().await {
                    Some(q) => batch.push(q),
                    None => return,
                }
            }
            let delay = app.config.processing_delay;
            if delay.is_zero() {
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(q) => batch.push(q),
                        Err(_) => break,
                    }
                }
                let run = std::mem::take(&mut batch);
                let a = app.clone();
                let _ = tokio::task::spawn_blocking(move || run.iter().for_each(|q| execute(&a, q))).await;
            } else {
                // One at a time: marked as being processed, held until `queued + delay`.
                for q in std::mem::take(&mut batch) {
                    let a = app.clone();
                    let job = q.job.clone();
                    let _ = tokio::task::spawn_blocking(move || started(&a, &job)).await;
                    tokio::time::sleep_until((q.at + delay).into()).await;
                    let a = app.clone();
                    let _ = tokio::task::spawn_blocking(move || execute(&a, &q)).await;
                }
            }
        }
    });
}

/// Shows that a job is being worked on (invoice status 150).
fn started(app: &AppState, job: &Job) {
    if let Job::Invoice { invoice, .. } = job {
        let r = app.store.update_invoice(invoice, &mut |i| {
            if i.status.code == 100 {
                i.status = crate::domain::StatusInfo::new(150, "Trwa przetwarzanie");
            }
        });
        if let Err(e) = r {
            tracing::error!(error = %e, invoice, "could not mark the invoice as processing");
        }
    }
}

fn execute(app: &AppState, q: &Queued) {
    let r = match &q.job {
        Job::Invoice { session, invoice, ciphertext } => {
            crate::api::sessions::process_invoice(app, session, invoice, ciphertext)
        }
        Job::CloseOnline { session } => crate::api::sessions::finish(app, session).map(drop),
        Job::CloseBatch { session } => crate::api::batch::process_batch(app, session),
    };
    match r {
        Ok(()) => {
            if let Err(e) = app.store.remove_doc(JOB_KIND, &q.key) {
                tracing::error!(error = %e, key = q.key, "could not remove a finished job");
            }
            app.jobs.done.fetch_add(1, Ordering::Relaxed);
        }
        // A store failure leaves the job stored: it runs again on the next start.
        Err(e) => tracing::error!(error = ?e, job = ?q.job, "job failed; kept for the next start"),
    }
}
