//! The durable journal of `ksef send`: SQLite (WAL, synchronous=FULL) in the state dir.
//! Every state change is committed before the next remote call.
//!
//! Online runs journal each file (`pending` → `sending` → `sent` → `accepted`/`rejected`).
//! Batch runs add a `batches` row per package (`building` → `built` → `opening` → `opened` →
//! `closing` → `closed` → `done`, or `abandoned` when KSeF never got its invoices) and a
//! `batch_parts` row per encrypted part (`built` → `uploading` → `uploaded`); a file of a batch
//! is `batched` until its outcome is known. The open request stored with a batch holds the AES
//! key only RSA-OAEP-wrapped with KSeF's public key (no secret in clear); the file is still
//! created with mode 0600.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// One file's journal row.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FileRow {
    pub run_id: i64,
    pub path: String,
    pub sha256: String,
    pub size: i64,
    pub state: String,
    pub session_ref: Option<String>,
    pub invoice_ref: Option<String>,
    pub ksef_number: Option<String>,
    pub error_code: Option<i64>,
    pub error_description: Option<String>,
    pub error_details: Option<String>,
    /// The batch package the file went into (batch mode).
    pub batch_id: Option<i64>,
    /// Its archive entry name in that package.
    pub entry: Option<String>,
}

/// How a run sends its files (kept so that `--resume` continues the same way).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RunOptions {
    /// `online` or `batch`.
    pub mode: String,
    /// The form code name (`FA3`, ...).
    pub form: String,
    /// `zip` or `targz`.
    pub archive: String,
    /// Offline-mode declaration.
    pub offline: bool,
    /// Technical correction: the hash of the corrected invoice (online, one file).
    pub corrects: Option<String>,
}

/// One batch package of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct BatchRow {
    pub id: i64,
    pub run_id: i64,
    pub state: String,
    pub dir: String,
    /// The `POST /sessions/batch` body (JSON; the key in it is RSA-wrapped).
    #[serde(skip)]
    pub open_request: Option<String>,
    pub session_ref: Option<String>,
    /// The open response (JSON: pre-signed upload URLs).
    #[serde(skip)]
    pub open_response: Option<String>,
    pub status_code: Option<i64>,
    pub status_description: Option<String>,
    pub parts: Vec<PartRow>,
}

/// One encrypted part of a batch package.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PartRow {
    pub ordinal: i64,
    pub path: String,
    pub sha256: String,
    pub size: i64,
    pub state: String,
}

/// A run (for `ksef status`).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct RunRow {
    pub id: i64,
    pub env: String,
    pub started: String,
    pub finished: bool,
    pub mode: String,
    pub form: String,
    pub archive: String,
    pub offline: bool,
    pub session_ref: Option<String>,
    pub batches: Vec<BatchRow>,
}

/// The outcome of one invoice of a batch.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Accepted (or a duplicate: the original session, reference and number).
    Accepted { path: String, session: String, invoice_ref: String, ksef_number: String },
    /// Rejected with KSeF's code, description and details.
    Rejected { path: String, session: String, invoice_ref: String, code: i64, description: String, details: String },
    /// KSeF does not report it: to be sent again.
    Requeue { path: String },
}

/// The journal database.
#[derive(Debug)]
pub(crate) struct Journal {
    db: Connection,
}

impl Journal {
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Self> {
        restrict(path);
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                env TEXT NOT NULL,
                started TEXT NOT NULL,
                session_ref TEXT,
                finished INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE IF NOT EXISTS files (
                run_id INTEGER NOT NULL REFERENCES runs(id),
                path TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                state TEXT NOT NULL,
                session_ref TEXT,
                invoice_ref TEXT,
                ksef_number TEXT,
                error_code INTEGER,
                error_description TEXT,
                error_details TEXT,
                PRIMARY KEY (run_id, path)
            );
            CREATE TABLE IF NOT EXISTS batches (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id INTEGER NOT NULL REFERENCES runs(id),
                state TEXT NOT NULL,
                dir TEXT NOT NULL,
                open_request TEXT,
                session_ref TEXT,
                open_response TEXT,
                status_code INTEGER,
                status_description TEXT
            );
            CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
            CREATE TABLE IF NOT EXISTS batch_parts (
                batch_id INTEGER NOT NULL REFERENCES batches(id),
                ordinal INTEGER NOT NULL,
                path TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                state TEXT NOT NULL,
                PRIMARY KEY (batch_id, ordinal)
            );",
        )?;
        // Columns added after the first release of the journal (additive migrations).
        add_column(&db, "runs", "mode", "TEXT NOT NULL DEFAULT 'online'")?;
        add_column(&db, "runs", "form", "TEXT NOT NULL DEFAULT 'FA3'")?;
        add_column(&db, "runs", "archive", "TEXT NOT NULL DEFAULT 'zip'")?;
        add_column(&db, "runs", "offline", "INTEGER NOT NULL DEFAULT 0")?;
        add_column(&db, "runs", "corrects", "TEXT")?;
        add_column(&db, "files", "batch_id", "INTEGER")?;
        add_column(&db, "files", "entry", "TEXT")?;
        restrict(path);
        Ok(Self { db })
    }

    /// The options `run` was started with.
    pub(crate) fn run_options(&self, run: i64) -> rusqlite::Result<RunOptions> {
        self.db.query_row("SELECT mode, form, archive, offline, corrects FROM runs WHERE id = ?1", [run], |r| {
            Ok(RunOptions {
                mode: r.get(0)?,
                form: r.get(1)?,
                archive: r.get(2)?,
                offline: r.get(3)?,
                corrects: r.get(4)?,
            })
        })
    }

    /// Starts a run of `files` (path, SHA-256, size), all `pending`.
    pub(crate) fn new_run_with(
        &mut self,
        env: &str,
        files: &[(String, String, i64)],
        opts: &RunOptions,
    ) -> rusqlite::Result<i64> {
        let id = self.new_run(env, files)?;
        self.db.execute(
            "UPDATE runs SET mode = ?2, form = ?3, archive = ?4, offline = ?5, corrects = ?6 WHERE id = ?1",
            params![id, opts.mode, opts.form, opts.archive, opts.offline, opts.corrects],
        )?;
        Ok(id)
    }

    /// Runs (newest first), each with its batches, or only `run`.
    pub(crate) fn runs(&self, run: Option<i64>) -> rusqlite::Result<Vec<RunRow>> {
        let mut st = self.db.prepare(
            "SELECT id, env, started, finished, mode, form, archive, offline, session_ref FROM runs
             WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
        )?;
        let rows = st
            .query_map([run], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    env: r.get(1)?,
                    started: r.get(2)?,
                    finished: r.get(3)?,
                    mode: r.get(4)?,
                    form: r.get(5)?,
                    archive: r.get(6)?,
                    offline: r.get(7)?,
                    session_ref: r.get(8)?,
                    batches: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|mut r| {
                r.batches = self.batches(r.id)?;
                Ok(r)
            })
            .collect()
    }

    /// The batches of `run`, oldest first, with their parts.
    pub(crate) fn batches(&self, run: i64) -> rusqlite::Result<Vec<BatchRow>> {
        let mut st = self.db.prepare(
            "SELECT id, run_id, state, dir, open_request, session_ref, open_response, status_code,
                    status_description FROM batches WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = st
            .query_map([run], |r| {
                Ok(BatchRow {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    state: r.get(2)?,
                    dir: r.get(3)?,
                    open_request: r.get(4)?,
                    session_ref: r.get(5)?,
                    open_response: r.get(6)?,
                    status_code: r.get(7)?,
                    status_description: r.get(8)?,
                    parts: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|mut b| {
                b.parts = self.parts(b.id)?;
                Ok(b)
            })
            .collect()
    }

    fn parts(&self, batch: i64) -> rusqlite::Result<Vec<PartRow>> {
        let mut st = self.db.prepare(
            "SELECT ordinal, path, sha256, size, state FROM batch_parts WHERE batch_id = ?1 ORDER BY ordinal",
        )?;
        let rows = st.query_map([batch], |r| {
            Ok(PartRow { ordinal: r.get(0)?, path: r.get(1)?, sha256: r.get(2)?, size: r.get(3)?, state: r.get(4)? })
        })?;
        rows.collect()
    }

    /// A new batch of `run`, `building` into `dir` (its parts and files are recorded by
    /// [`Journal::batch_built`] only when the package is complete).
    pub(crate) fn new_batch(&self, run: i64, dir: &str) -> rusqlite::Result<i64> {
        self.db.execute("INSERT INTO batches (run_id, state, dir) VALUES (?1, 'building', ?2)", params![run, dir])?;
        Ok(self.db.last_insert_rowid())
    }

    /// Drops a batch that never got past `building` (its part files are rewritten anyway).
    pub(crate) fn drop_building_batch(&self, batch: i64) -> rusqlite::Result<()> {
        self.db.execute("DELETE FROM batches WHERE id = ?1 AND state = 'building'", [batch]).map(drop)
    }

    /// The package is complete: its open request, its parts, and which file is which entry
    /// (those files become `batched`), in one transaction.
    pub(crate) fn batch_built(
        &mut self,
        batch: i64,
        run: i64,
        open_request: &str,
        parts: &[PartRow],
        entries: &[(String, String)],
    ) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        for p in parts {
            tx.execute(
                "INSERT INTO batch_parts (batch_id, ordinal, path, sha256, size, state) VALUES (?1, ?2, ?3, ?4, ?5, 'built')",
                params![batch, p.ordinal, p.path, p.sha256, p.size],
            )?;
        }
        for (path, entry) in entries {
            tx.execute(
                "UPDATE files SET state = 'batched', batch_id = ?3, entry = ?4 WHERE run_id = ?1 AND path = ?2",
                params![run, path, batch, entry],
            )?;
        }
        tx.execute(
            "UPDATE batches SET state = 'built', open_request = ?2 WHERE id = ?1",
            params![batch, open_request],
        )?;
        tx.commit()
    }

    /// Moves a batch to `state`.
    pub(crate) fn set_batch_state(&self, batch: i64, state: &str) -> rusqlite::Result<()> {
        self.db.execute("UPDATE batches SET state = ?2 WHERE id = ?1", params![batch, state]).map(drop)
    }

    /// The session is open: its reference and the open response (upload URLs).
    pub(crate) fn batch_opened(&self, batch: i64, session: &str, response: &str) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE batches SET state = 'opened', session_ref = ?2, open_response = ?3 WHERE id = ?1",
                params![batch, session, response],
            )
            .map(drop)
    }

    /// A part's upload state (`built`, `uploading`, `uploaded`).
    pub(crate) fn set_part_state(&self, batch: i64, ordinal: i64, state: &str) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE batch_parts SET state = ?3 WHERE batch_id = ?1 AND ordinal = ?2",
                params![batch, ordinal, state],
            )
            .map(drop)
    }

    /// The batch session's final status.
    pub(crate) fn batch_status(&self, batch: i64, code: i64, description: &str) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE batches SET status_code = ?2, status_description = ?3 WHERE id = ?1",
                params![batch, code, description],
            )
            .map(drop)
    }

    /// A batch's per-invoice outcomes and its `done` state, in one transaction.
    pub(crate) fn batch_outcomes(&mut self, run: i64, batch: i64, outcomes: &[Outcome]) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        for o in outcomes {
            match o {
                Outcome::Accepted { path, session, invoice_ref, ksef_number } => tx.execute(
                    "UPDATE files SET state = 'accepted', session_ref = ?3, invoice_ref = ?4, ksef_number = ?5
                     WHERE run_id = ?1 AND path = ?2",
                    params![run, path, session, invoice_ref, ksef_number],
                )?,
                Outcome::Rejected { path, session, invoice_ref, code, description, details } => tx.execute(
                    "UPDATE files SET state = 'rejected', session_ref = ?3, invoice_ref = ?4, error_code = ?5,
                     error_description = ?6, error_details = ?7 WHERE run_id = ?1 AND path = ?2",
                    params![run, path, session, invoice_ref, code, description, details],
                )?,
                Outcome::Requeue { path } => tx.execute(
                    "UPDATE files SET state = 'pending', batch_id = NULL, entry = NULL, session_ref = NULL,
                     invoice_ref = NULL WHERE run_id = ?1 AND path = ?2",
                    params![run, path],
                )?,
            };
        }
        tx.execute("UPDATE batches SET state = 'done' WHERE id = ?1", [batch])?;
        tx.commit()
    }

    /// KSeF never got this batch's invoices: the batch is `abandoned` and its files that have
    /// no outcome go back to `pending` (a new package will carry them), in one transaction.
    pub(crate) fn abandon_batch(&mut self, batch: i64) -> rusqlite::Result<()> {
        let tx = self.db.transaction()?;
        tx.execute(
            "UPDATE files SET state = 'pending', batch_id = NULL, entry = NULL, session_ref = NULL
             WHERE batch_id = ?1 AND state = 'batched'",
            [batch],
        )?;
        tx.execute("UPDATE batches SET state = 'abandoned' WHERE id = ?1", [batch])?;
        tx.commit()
    }

    /// The newest unfinished run for `env`, if any.
    pub(crate) fn unfinished_run(&self, env: &str) -> rusqlite::Result<Option<i64>> {
        self.db
            .query_row("SELECT id FROM runs WHERE env = ?1 AND finished = 0 ORDER BY id DESC LIMIT 1", [env], |r| {
                r.get(0)
            })
            .optional()
    }

    pub(crate) fn new_run(&mut self, env: &str, files: &[(String, String, i64)]) -> rusqlite::Result<i64> {
        let tx = self.db.transaction()?;
        tx.execute("INSERT INTO runs (env, started) VALUES (?1, ?2)", params![env, chrono::Utc::now().to_rfc3339()])?;
        let id = tx.last_insert_rowid();
        for (path, sha, size) in files {
            tx.execute(
                "INSERT INTO files (run_id, path, sha256, size, state) VALUES (?1, ?2, ?3, ?4, 'pending')",
                params![id, path, sha, size],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// A KSeF number this environment already gave a file with this hash (any run).
    pub(crate) fn accepted_by_hash(&self, env: &str, sha: &str) -> rusqlite::Result<Option<String>> {
        self.db
            .query_row(
                "SELECT f.ksef_number FROM files f JOIN runs r ON r.id = f.run_id
                 WHERE r.env = ?1 AND f.sha256 = ?2 AND f.state = 'accepted' LIMIT 1",
                params![env, sha],
                |r| r.get(0),
            )
            .optional()
    }

    pub(crate) fn set_session(&self, run: i64, session: &str) -> rusqlite::Result<()> {
        self.db.execute("UPDATE runs SET session_ref = ?2 WHERE id = ?1", params![run, session]).map(drop)
    }

    pub(crate) fn finish_run(&self, run: i64) -> rusqlite::Result<()> {
        self.db.execute("UPDATE runs SET finished = 1 WHERE id = ?1", [run]).map(drop)
    }

    pub(crate) fn files(&self, run: Option<i64>) -> rusqlite::Result<Vec<FileRow>> {
        let mut st = self.db.prepare(
            "SELECT run_id, path, sha256, size, state, session_ref, invoice_ref, ksef_number, error_code,
                    error_description, error_details, batch_id, entry
             FROM files WHERE ?1 IS NULL OR run_id = ?1 ORDER BY run_id, path",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(FileRow {
                run_id: r.get(0)?,
                path: r.get(1)?,
                sha256: r.get(2)?,
                size: r.get(3)?,
                state: r.get(4)?,
                session_ref: r.get(5)?,
                invoice_ref: r.get(6)?,
                ksef_number: r.get(7)?,
                error_code: r.get(8)?,
                error_description: r.get(9)?,
                error_details: r.get(10)?,
                batch_id: r.get(11)?,
                entry: r.get(12)?,
            })
        })?;
        rows.collect()
    }

    pub(crate) fn mark_sending(&self, run: i64, path: &str, session: &str) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE files SET state = 'sending', session_ref = ?3 WHERE run_id = ?1 AND path = ?2",
                params![run, path, session],
            )
            .map(drop)
    }

    pub(crate) fn mark_sent(&self, run: i64, path: &str, session: &str, invoice_ref: &str) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE files SET state = 'sent', session_ref = ?3, invoice_ref = ?4 WHERE run_id = ?1 AND path = ?2",
                params![run, path, session, invoice_ref],
            )
            .map(drop)
    }

    pub(crate) fn mark_pending(&self, run: i64, path: &str) -> rusqlite::Result<()> {
        self.db
            .execute("UPDATE files SET state = 'pending' WHERE run_id = ?1 AND path = ?2", params![run, path])
            .map(drop)
    }

    pub(crate) fn mark_accepted(&self, run: i64, path: &str, ksef: &str) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE files SET state = 'accepted', ksef_number = ?3 WHERE run_id = ?1 AND path = ?2",
                params![run, path, ksef],
            )
            .map(drop)
    }

    pub(crate) fn mark_rejected(
        &self,
        run: i64,
        path: &str,
        code: i64,
        description: &str,
        details: &str,
    ) -> rusqlite::Result<()> {
        self.db
            .execute(
                "UPDATE files SET state = 'rejected', error_code = ?3, error_description = ?4, error_details = ?5
                 WHERE run_id = ?1 AND path = ?2",
                params![run, path, code, description, details],
            )
            .map(drop)
    }
}

/// Adds `column` to `table` unless it is there already.
fn add_column(db: &Connection, table: &str, column: &str, decl: &str) -> rusqlite::Result<()> {
    let mut st = db.prepare(&format!("PRAGMA table_info({table})"))?;
    let present = st.query_map([], |r| r.get::<_, String>(1))?.collect::<rusqlite::Result<Vec<_>>>()?;
    if !present.iter().any(|c| c == column) {
        db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// Mode 0600 for the journal (Unix): it names files and sessions, and batch open requests.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !path.exists() {
            let _ = std::fs::OpenOptions::new().create(true).append(true).open(path);
        }
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!("journal permissions: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal written before batch mode (no batch tables or columns) opens, gains them, and
    /// its runs count as online FA(3) ZIP runs; the file becomes 0600.
    #[test]
    fn old_journal_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(
                "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, env TEXT NOT NULL, started TEXT NOT NULL,
                    session_ref TEXT, finished INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE files (run_id INTEGER NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
                    size INTEGER NOT NULL, state TEXT NOT NULL, session_ref TEXT, invoice_ref TEXT, ksef_number TEXT,
                    error_code INTEGER, error_description TEXT, error_details TEXT, PRIMARY KEY (run_id, path));
                 INSERT INTO runs (env, started) VALUES ('local', '2026-01-01T00:00:00Z');
                 INSERT INTO files (run_id, path, sha256, size, state) VALUES (1, '/a.xml', 'h', 1, 'pending');",
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let o = j.run_options(1).unwrap();
        assert_eq!((o.mode.as_str(), o.form.as_str(), o.archive.as_str(), o.offline), ("online", "FA3", "zip", false));
        assert_eq!(o.corrects, None);
        assert_eq!(j.files(Some(1)).unwrap()[0].batch_id, None);
        assert!(j.batches(1).unwrap().is_empty());
        drop(j);
        // Opening again is a no-op.
        Journal::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    /// A run's options come back as given (what `--resume` sends with).
    #[test]
    fn run_options_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        let opts = RunOptions {
            mode: "online".into(),
            form: "PEF_KOR".into(),
            archive: "targz".into(),
            offline: true,
            corrects: Some("h".repeat(44)),
        };
        let run = j.new_run_with("test", &[("/a.xml".into(), "ha".into(), 1)], &opts).unwrap();
        assert_eq!(j.run_options(run).unwrap(), opts);
        assert_eq!(j.unfinished_run("test").unwrap(), Some(run));
        j.finish_run(run).unwrap();
        assert_eq!(j.unfinished_run("test").unwrap(), None);
    }

    /// A batch's life in the journal: built (files batched), opened, a part uploaded, abandoned
    /// (unfinished files back to pending, an accepted one kept).
    #[test]
    fn batch_states_and_abandon() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        let opts = RunOptions {
            mode: "batch".into(),
            form: "FA3".into(),
            archive: "zip".into(),
            offline: false,
            corrects: None,
        };
        let files = [("/a.xml".to_string(), "ha".to_string(), 1), ("/b.xml".to_string(), "hb".to_string(), 1)];
        let run = j.new_run_with("local", &files, &opts).unwrap();
        let b = j.new_batch(run, "/dir").unwrap();
        let part =
            PartRow { ordinal: 1, path: "/dir/b1-001.aes".into(), sha256: "p".into(), size: 16, state: "built".into() };
        let entries =
            [("/a.xml".to_string(), "00001-a.xml".to_string()), ("/b.xml".to_string(), "00002-b.xml".to_string())];
        j.batch_built(b, run, "{}", &[part], &entries).unwrap();
        assert!(j.files(Some(run)).unwrap().iter().all(|f| f.state == "batched" && f.batch_id == Some(b)));
        j.batch_opened(b, "SB-1", "{}").unwrap();
        j.set_part_state(b, 1, "uploaded").unwrap();
        let row = &j.batches(run).unwrap()[0];
        assert_eq!((row.state.as_str(), row.session_ref.as_deref()), ("opened", Some("SB-1")));
        assert_eq!(row.parts[0].state, "uploaded");
        j.mark_accepted(run, "/a.xml", "K-1").unwrap();
        j.abandon_batch(b).unwrap();
        let f = j.files(Some(run)).unwrap();
        assert_eq!((f[0].state.as_str(), f[0].ksef_number.as_deref()), ("accepted", Some("K-1")));
        assert_eq!((f[1].state.as_str(), f[1].batch_id, f[1].entry.as_deref()), ("pending", None, None));
        assert_eq!(j.batches(run).unwrap()[0].state, "abandoned");
        assert_eq!(j.runs(None).unwrap()[0].batches.len(), 1);
    }
}
