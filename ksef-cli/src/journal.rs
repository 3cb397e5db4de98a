//! The durable journal of `ksef send`: SQLite (WAL, synchronous=FULL) in the state dir.
//! Every state change is committed before the next remote call.

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
}

/// The journal database.
#[derive(Debug)]
pub(crate) struct Journal {
    db: Connection,
}

impl Journal {
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Self> {
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
            );",
        )?;
        Ok(Self { db })
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
                    error_description, error_details
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
