//! A durable store: one SQLite file in a data directory, each record a JSON document in a table
//! keyed like the in-memory maps (plus the columns lookups need). State survives restarts.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS subjects (nip TEXT PRIMARY KEY, parent TEXT, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS persons (nip TEXT PRIMARY KEY, pesel TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS grants (id TEXT PRIMARY KEY, context TEXT NOT NULL, authorized TEXT NOT NULL,
    permission TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (context, authorized, permission));
-- grants.permission holds GrantRecord::scope(): the permission, plus the client of an indirect grant.
CREATE TABLE IF NOT EXISTS attachments (nip TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocked (context TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS challenges (challenge TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auths (reference TEXT PRIMARY KEY, context TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (reference TEXT PRIMARY KEY, context TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (reference TEXT PRIMARY KEY, context TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS invoices (reference TEXT PRIMARY KEY, session TEXT NOT NULL, ordinal INTEGER NOT NULL,
    ksef TEXT UNIQUE, seller TEXT, buyer TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS invoices_session ON invoices (session, ordinal);
CREATE INDEX IF NOT EXISTS invoices_seller ON invoices (seller);
CREATE INDEX IF NOT EXISTS invoices_buyer ON invoices (buyer);
CREATE TABLE IF NOT EXISTS invoice_keys (seller TEXT NOT NULL, kind TEXT NOT NULL, number TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (seller, kind, number));
CREATE TABLE IF NOT EXISTS operations (reference TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS grants_authorized ON grants (authorized);
CREATE TABLE IF NOT EXISTS parts (session TEXT NOT NULL, ordinal INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (session, ordinal));
CREATE TABLE IF NOT EXISTS exports (reference TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collectives (number TEXT PRIMARY KEY, context TEXT NOT NULL, seller TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collective_invoices (ksef TEXT NOT NULL, number TEXT NOT NULL, PRIMARY KEY (ksef, number));
CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS docs_owner ON docs (kind, owner);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
";

/// The file name inside the data directory.
pub const FILE_NAME: &str = "ksef-emulator.sqlite3";

/// SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore(Mutex<Connection>);

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn sql(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => StoreError::AlreadyExists,
        _ => backend(e),
    }
}

fn doc<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(backend)
}

fn parse<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(backend)
}

fn key(i: &Identifier) -> String {
    format!("{}:{}", i.kind.as_str(), i.value)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> StoreResult<Self> {
        std::fs::create_dir_all(dir.as_ref()).map_err(backend)?;
        let conn = Connection::open(dir.as_ref().join(FILE_NAME)).map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self(Mutex::new(conn)))
    }

    fn c(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn one<T: DeserializeOwned>(&self, q: &str, p: impl rusqlite::Params) -> StoreResult<Option<T>> {
        let s: Option<String> = self.c().query_row(q, p, |r| r.get(0)).optional().map_err(sql)?;
        s.map(|s| parse(&s)).transpose()
    }

    fn many<T: DeserializeOwned>(&self, q: &str, p: impl rusqlite::Params) -> StoreResult<Vec<T>> {
        let c = self.c();
        let mut st = c.prepare_cached(q).map_err(sql)?;
        let rows = st.query_map(p, |r| r.get::<_, String>(0)).map_err(sql)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(parse(&r.map_err(sql)?)?);
        }
        Ok(out)
    }

    /// Read-modify-write of one JSON document in a transaction.
    fn update<T: Serialize + DeserializeOwned + Clone>(
        &self,
        table: &str,
        key_col: &str,
        k: &str,
        f: &mut dyn FnMut(&mut T),
    ) -> StoreResult<Option<T>> {
        let mut c = self.c();
        let tx = c.transaction().map_err(sql)?;
        let cur: Option<String> = tx
            .query_row(&format!("SELECT doc FROM {table} WHERE {key_col} = ?1"), [k], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        let Some(cur) = cur else { return Ok(None) };
        let mut v: T = parse(&cur)?;
        f(&mut v);
        tx.execute(&format!("UPDATE {table} SET doc = ?1 WHERE {key_col} = ?2"), params![doc(&v)?, k]).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Some(v))
    }

    /// A named blob (server keys, secrets) kept across restarts.
    pub fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        self.c().query_row("SELECT value FROM settings WHERE key = ?1", [name], |r| r.get(0)).optional().map_err(sql)
    }

    /// Stores a named blob.
    pub fn set_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        self.c()
            .execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)", params![name, value])
            .map_err(sql)?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn insert_subject(&self, s: SubjectRecord) -> StoreResult<()> {
        self.c()
            .execute(
                "INSERT INTO subjects (nip, parent, doc) VALUES (?1, ?2, ?3)",
                params![s.nip, s.parent_nip, doc(&s)?],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn subject(&self, nip: &str) -> StoreResult<Option<SubjectRecord>> {
        self.one("SELECT doc FROM subjects WHERE nip = ?1", [nip])
    }

    fn remove_subject(&self, nip: &str) -> StoreResult<bool> {
        let c = self.c();
        let n = c.execute("DELETE FROM subjects WHERE nip = ?1", [nip]).map_err(sql)?;
        c.execute("DELETE FROM subjects WHERE parent = ?1", [nip]).map_err(sql)?;
        Ok(n > 0)
    }

    fn subunits_of(&self, nip: &str) -> StoreResult<Vec<SubjectRecord>> {
        self.many("SELECT doc FROM subjects WHERE parent = ?1 ORDER BY nip", [nip])
    }

    fn insert_person(&self, p: PersonRecord) -> StoreResult<()> {
        self.c()
            .execute("INSERT INTO persons (nip, pesel, doc) VALUES (?1, ?2, ?3)", params![p.nip, p.pesel, doc(&p)?])
            .map_err(sql)?;
        Ok(())
    }

    fn person_by_nip(&self, nip: &str) -> StoreResult<Option<PersonRecord>> {
        self.one("SELECT doc FROM persons WHERE nip = ?1", [nip])
    }

    fn person_by_pesel(&self, pesel: &str) -> StoreResult<Option<PersonRecord>> {
        self.one("SELECT doc FROM persons WHERE pesel = ?1", [pesel])
    }

    fn remove_person(&self, nip: &str) -> StoreResult<bool> {
        Ok(self.c().execute("DELETE FROM persons WHERE nip = ?1", [nip]).map_err(sql)? > 0)
    }

    fn insert_grant(&self, g: GrantRecord) -> StoreResult<()> {
        self.c()
            .execute(
                "INSERT INTO grants (id, context, authorized, permission, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![g.id, key(&g.context), key(&g.authorized), g.scope(), doc(&g)?],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn grants_of(&self, context: &Identifier, authorized: &Identifier) -> StoreResult<Vec<GrantRecord>> {
        self.many(
            "SELECT doc FROM grants WHERE context = ?1 AND authorized = ?2",
            params![key(context), key(authorized)],
        )
    }

    fn remove_grants(&self, context: &Identifier, authorized: &Identifier) -> StoreResult<usize> {
        self.c()
            .execute(
                "DELETE FROM grants WHERE context = ?1 AND authorized = ?2",
                params![key(context), key(authorized)],
            )
            .map_err(sql)
    }

    fn remove_grants_to(&self, who: &Identifier) -> StoreResult<usize> {
        self.c().execute("DELETE FROM grants WHERE authorized = ?1", [key(who)]).map_err(sql)
    }

    fn grants_in_context(&self, context: &Identifier) -> StoreResult<Vec<GrantRecord>> {
        self.many("SELECT doc FROM grants WHERE context = ?1", [key(context)])
    }

    fn grants_to_subunits_of(&self, nip: &str) -> StoreResult<Vec<GrantRecord>> {
        self.many("SELECT doc FROM grants WHERE context LIKE ?1", [format!("InternalId:{nip}-%")])
    }

    fn eu_grants_of(&self, nip: &str) -> StoreResult<Vec<GrantRecord>> {
        self.many("SELECT doc FROM grants WHERE context LIKE ?1", [format!("NipVatUe:{nip}-%")])
    }

    fn grants_to(&self, authorized: &Identifier) -> StoreResult<Vec<GrantRecord>> {
        self.many("SELECT doc FROM grants WHERE authorized = ?1", [key(authorized)])
    }

    fn grant(&self, id: &str) -> StoreResult<Option<GrantRecord>> {
        self.one("SELECT doc FROM grants WHERE id = ?1", [id])
    }

    fn remove_grant(&self, id: &str) -> StoreResult<bool> {
        Ok(self.c().execute("DELETE FROM grants WHERE id = ?1", [id]).map_err(sql)? > 0)
    }

    fn insert_operation(&self, op: PermissionOperationRecord) -> StoreResult<()> {
        self.c()
            .execute("INSERT INTO operations (reference, doc) VALUES (?1, ?2)", params![op.reference, doc(&op)?])
            .map_err(sql)?;
        Ok(())
    }

    fn operation(&self, reference: &str) -> StoreResult<Option<PermissionOperationRecord>> {
        self.one("SELECT doc FROM operations WHERE reference = ?1", [reference])
    }

    fn set_attachment_consent(&self, nip: &str, consent: AttachmentConsent) -> StoreResult<()> {
        self.c()
            .execute("INSERT OR REPLACE INTO attachments (nip, doc) VALUES (?1, ?2)", params![nip, doc(&consent)?])
            .map_err(sql)?;
        Ok(())
    }

    fn attachment_consent(&self, nip: &str) -> StoreResult<Option<AttachmentConsent>> {
        self.one("SELECT doc FROM attachments WHERE nip = ?1", [nip])
    }

    fn set_context_blocked(&self, context: &Identifier, blocked: bool) -> StoreResult<()> {
        let q = if blocked {
            "INSERT OR IGNORE INTO blocked (context) VALUES (?1)"
        } else {
            "DELETE FROM blocked WHERE context = ?1"
        };
        self.c().execute(q, [key(context)]).map_err(sql)?;
        Ok(())
    }

    fn is_context_blocked(&self, context: &Identifier) -> StoreResult<bool> {
        let n: i64 = self
            .c()
            .query_row("SELECT COUNT(*) FROM blocked WHERE context = ?1", [key(context)], |r| r.get(0))
            .map_err(sql)?;
        Ok(n > 0)
    }

    fn insert_challenge(&self, ch: ChallengeRecord) -> StoreResult<()> {
        self.c()
            .execute("INSERT INTO challenges (challenge, doc) VALUES (?1, ?2)", params![ch.challenge, doc(&ch)?])
            .map_err(sql)?;
        Ok(())
    }

    fn use_challenge(&self, challenge: &str) -> StoreResult<Option<ChallengeRecord>> {
        let mut before = None;
        self.update::<ChallengeRecord>("challenges", "challenge", challenge, &mut |c| {
            before = Some(c.clone());
            c.used = true;
        })?;
        Ok(before)
    }

    fn insert_auth(&self, op: AuthOperationRecord) -> StoreResult<()> {
        self.c()
            .execute(
                "INSERT INTO auths (reference, context, doc) VALUES (?1, ?2, ?3)",
                params![op.reference, key(&op.context), doc(&op)?],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn auth(&self, reference: &str) -> StoreResult<Option<AuthOperationRecord>> {
        self.one("SELECT doc FROM auths WHERE reference = ?1", [reference])
    }

    fn update_auth(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut AuthOperationRecord),
    ) -> StoreResult<Option<AuthOperationRecord>> {
        self.update("auths", "reference", reference, f)
    }

    fn auths_in_context(&self, context: &Identifier) -> StoreResult<Vec<AuthOperationRecord>> {
        self.many("SELECT doc FROM auths WHERE context = ?1", [key(context)])
    }

    fn insert_token(&self, t: TokenRecord) -> StoreResult<()> {
        self.c()
            .execute(
                "INSERT INTO tokens (reference, context, doc) VALUES (?1, ?2, ?3)",
                params![t.reference, key(&t.context), doc(&t)?],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn token(&self, reference: &str) -> StoreResult<Option<TokenRecord>> {
        self.one("SELECT doc FROM tokens WHERE reference = ?1", [reference])
    }

    fn update_token(&self, reference: &str, f: &mut dyn FnMut(&mut TokenRecord)) -> StoreResult<Option<TokenRecord>> {
        self.update("tokens", "reference", reference, f)
    }

    fn tokens_in_context(&self, context: &Identifier) -> StoreResult<Vec<TokenRecord>> {
        self.many("SELECT doc FROM tokens WHERE context = ?1", [key(context)])
    }

    fn insert_session(&self, s: SessionRecord) -> StoreResult<()> {
        self.c()
            .execute(
                "INSERT INTO sessions (reference, context, doc) VALUES (?1, ?2, ?3)",
                params![s.reference, key(&s.context), doc(&s)?],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn session(&self, reference: &str) -> StoreResult<Option<SessionRecord>> {
        self.one("SELECT doc FROM sessions WHERE reference = ?1", [reference])
    }

    fn update_session(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut SessionRecord),
    ) -> StoreResult<Option<SessionRecord>> {
        self.update("sessions", "reference", reference, f)
    }

    fn sessions_in_context(&self, context: &Identifier) -> StoreResult<Vec<SessionRecord>> {
        self.many("SELECT doc FROM sessions WHERE context = ?1", [key(context)])
    }

    fn put_part(&self, session: &str, ordinal: u32, data: Vec<u8>) -> StoreResult<()> {
        self.c()
            .execute("INSERT INTO parts (session, ordinal, data) VALUES (?1, ?2, ?3)", params![session, ordinal, data])
            .map_err(sql)?;
        Ok(())
    }

    fn part(&self, session: &str, ordinal: u32) -> StoreResult<Option<Vec<u8>>> {
        self.c()
            .query_row("SELECT data FROM parts WHERE session = ?1 AND ordinal = ?2", params![session, ordinal], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)
    }

    fn put_export(&self, e: ExportRecord) -> StoreResult<()> {
        self.c()
            .execute("INSERT OR REPLACE INTO exports (reference, doc) VALUES (?1, ?2)", params![e.reference, doc(&e)?])
            .map_err(sql)?;
        Ok(())
    }

    fn export(&self, reference: &str) -> StoreResult<Option<ExportRecord>> {
        self.one("SELECT doc FROM exports WHERE reference = ?1", [reference])
    }

    fn exports_in_progress(&self, context: &Identifier) -> StoreResult<Vec<ExportRecord>> {
        let found: Vec<ExportRecord> =
            self.many("SELECT doc FROM exports WHERE instr(doc, ?1) > 0", [context.value.as_str()])?;
        Ok(found.into_iter().filter(|e| &e.context == context && e.status.code == 100).collect())
    }

    fn insert_collective(&self, c: CollectiveRecord) -> StoreResult<()> {
        let mut conn = self.c();
        let tx = conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO collectives (number, context, seller, doc) VALUES (?1, ?2, ?3, ?4)",
            params![c.number, key(&c.context), c.seller_nip, doc(&c)?],
        )
        .map_err(sql)?;
        for i in &c.invoices {
            tx.execute(
                "INSERT OR IGNORE INTO collective_invoices (ksef, number) VALUES (?1, ?2)",
                params![i.ksef_number, c.number],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    fn collective(&self, number: &str) -> StoreResult<Option<CollectiveRecord>> {
        self.one("SELECT doc FROM collectives WHERE number = ?1", [number])
    }

    fn collectives_for(&self, context: &Identifier, seller_nip: &str) -> StoreResult<Vec<CollectiveRecord>> {
        self.many("SELECT doc FROM collectives WHERE context = ?1 OR seller = ?2", params![key(context), seller_nip])
    }

    fn collectives_with_invoice(&self, ksef_number: &str) -> StoreResult<Vec<CollectiveRecord>> {
        self.many(
            "SELECT c.doc FROM collectives c JOIN collective_invoices i ON i.number = c.number WHERE i.ksef = ?1",
            [ksef_number],
        )
    }

    fn put_doc(&self, kind: &str, key: &str, owner: &str, json: &str) -> StoreResult<()> {
        self.c()
            .execute(
                "INSERT OR REPLACE INTO docs (kind, key, owner, doc) VALUES (?1, ?2, ?3, ?4)",
                params![kind, key, owner, json],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn doc(&self, kind: &str, key: &str) -> StoreResult<Option<String>> {
        self.c()
            .query_row("SELECT doc FROM docs WHERE kind = ?1 AND key = ?2", params![kind, key], |r| r.get(0))
            .optional()
            .map_err(sql)
    }

    fn docs_of(&self, kind: &str, owner: &str) -> StoreResult<Vec<String>> {
        let c = self.c();
        let mut st = c.prepare_cached("SELECT doc FROM docs WHERE kind = ?1 AND owner = ?2").map_err(sql)?;
        let rows = st.query_map(params![kind, owner], |r| r.get::<_, String>(0)).map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }

    fn docs(&self, kind: &str) -> StoreResult<Vec<String>> {
        let c = self.c();
        let mut st = c.prepare_cached("SELECT doc FROM docs WHERE kind = ?1").map_err(sql)?;
        let rows = st.query_map(params![kind], |r| r.get::<_, String>(0)).map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }

    fn remove_doc(&self, kind: &str, key: &str) -> StoreResult<bool> {
        let n = self.c().execute("DELETE FROM docs WHERE kind = ?1 AND key = ?2", params![kind, key]).map_err(sql)?;
        Ok(n > 0)
    }

    fn update_invoice(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut InvoiceRecord),
    ) -> StoreResult<Option<InvoiceRecord>> {
        let mut c = self.c();
        let tx = c.transaction().map_err(sql)?;
        let cur: Option<String> = tx
            .query_row("SELECT doc FROM invoices WHERE reference = ?1", [reference], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        let Some(cur) = cur else { return Ok(None) };
        let mut i: InvoiceRecord = parse(&cur)?;
        f(&mut i);
        let buyer = i.meta.as_ref().filter(|m| m.buyer.kind == "Nip").and_then(|m| m.buyer.value.clone());
        tx.execute(
            "UPDATE invoices SET ksef = ?1, seller = ?2, buyer = ?3, doc = ?4 WHERE reference = ?5",
            params![i.ksef_number, i.seller_nip, buyer, doc(&i)?, reference],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Some(i))
    }

    fn insert_invoice(&self, i: InvoiceRecord) -> StoreResult<()> {
        let buyer = i.meta.as_ref().filter(|m| m.buyer.kind == "Nip").and_then(|m| m.buyer.value.clone());
        self.c()
            .execute(
                "INSERT INTO invoices (reference, session, ordinal, ksef, seller, buyer, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![i.reference, i.session, i.ordinal as i64, i.ksef_number, i.seller_nip, buyer, doc(&i)?],
            )
            .map_err(sql)?;
        Ok(())
    }

    fn invoice(&self, reference: &str) -> StoreResult<Option<InvoiceRecord>> {
        self.one("SELECT doc FROM invoices WHERE reference = ?1", [reference])
    }

    fn invoice_by_ksef_number(&self, ksef_number: &str) -> StoreResult<Option<InvoiceRecord>> {
        self.one("SELECT doc FROM invoices WHERE ksef = ?1", [ksef_number])
    }

    fn invoices_with_hash(&self, hash: &str) -> StoreResult<Vec<InvoiceRecord>> {
        let found: Vec<InvoiceRecord> = self.many("SELECT doc FROM invoices WHERE instr(doc, ?1) > 0", [hash])?;
        Ok(found
            .into_iter()
            .filter(|i| i.invoice_hash == hash || i.hash_of_corrected_invoice.as_deref() == Some(hash))
            .collect())
    }

    fn invoices_with_party(&self, nip: &str) -> StoreResult<Vec<InvoiceRecord>> {
        // Third and authorized subjects live in the document: a text search narrows, the
        // record's own rule decides.
        let found: Vec<InvoiceRecord> = self.many(
            "SELECT doc FROM invoices WHERE ksef IS NOT NULL AND (seller = ?1 OR buyer = ?1 OR instr(doc, ?1) > 0)",
            [nip],
        )?;
        Ok(found.into_iter().filter(|i| i.has_party(nip)).collect())
    }

    fn session_invoices(&self, session: &str) -> StoreResult<Vec<InvoiceRecord>> {
        self.many("SELECT doc FROM invoices WHERE session = ?1 ORDER BY ordinal", [session])
    }

    fn reserve_invoice_key(&self, k: &InvoiceKey, owner: &InvoiceKeyOwner) -> StoreResult<Option<InvoiceKeyOwner>> {
        let mut c = self.c();
        let tx = c.transaction().map_err(sql)?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT doc FROM invoice_keys WHERE seller = ?1 AND kind = ?2 AND number = ?3",
                params![k.seller_nip, k.invoice_type, k.invoice_number],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if let Some(e) = existing {
            return Ok(Some(parse(&e)?));
        }
        tx.execute(
            "INSERT INTO invoice_keys (seller, kind, number, doc) VALUES (?1, ?2, ?3, ?4)",
            params![k.seller_nip, k.invoice_type, k.invoice_number, doc(owner)?],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(None)
    }
}
