//! Persistent state behind one interface, so the in-memory store (tests) and a durable store
//! (a data directory) are interchangeable.
//!
//! Records are plain serde types keyed by KSeF's own identifiers (reference numbers, NIPs, KSeF
//! numbers), so a durable implementation can keep each one as a JSON document in a table keyed
//! the same way; every method is one short transaction.

mod memory;
mod records;
mod sqlite;

pub use memory::MemoryStore;
pub use records::*;
pub use sqlite::SqliteStore;

use crate::domain::Identifier;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this key exists.
    #[error("record already exists")]
    AlreadyExists,
    /// The backend failed (I/O, database).
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The emulator's state. Implementations must be safe to call from many threads; each method is
/// atomic on its own.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    // --- test-data entities -------------------------------------------------------------------
    /// Inserts an entity; `AlreadyExists` if its NIP is taken.
    fn insert_subject(&self, subject: SubjectRecord) -> StoreResult<()>;
    /// The entity with this NIP.
    fn subject(&self, nip: &str) -> StoreResult<Option<SubjectRecord>>;
    /// Removes the entity and its sub-units; whether it existed.
    fn remove_subject(&self, nip: &str) -> StoreResult<bool>;
    /// The sub-units of an entity (test-data subjects whose parent is `nip`).
    fn subunits_of(&self, nip: &str) -> StoreResult<Vec<SubjectRecord>>;
    /// Inserts a natural person; `AlreadyExists` if the NIP or PESEL is taken.
    fn insert_person(&self, person: PersonRecord) -> StoreResult<()>;
    /// The person with this NIP.
    fn person_by_nip(&self, nip: &str) -> StoreResult<Option<PersonRecord>>;
    /// The person with this PESEL.
    fn person_by_pesel(&self, pesel: &str) -> StoreResult<Option<PersonRecord>>;
    /// Removes the person with this NIP; whether it existed.
    fn remove_person(&self, nip: &str) -> StoreResult<bool>;

    // --- permissions --------------------------------------------------------------------------
    /// Records a grant.
    fn insert_grant(&self, grant: GrantRecord) -> StoreResult<()>;
    /// Grants held by `authorized` in `context`.
    fn grants_of(&self, context: &Identifier, authorized: &Identifier) -> StoreResult<Vec<GrantRecord>>;
    /// Removes every grant to `authorized` in `context`; how many.
    fn remove_grants(&self, context: &Identifier, authorized: &Identifier) -> StoreResult<usize>;
    /// Removes every grant where `who` is the authorized subject (any context); how many.
    fn remove_grants_to(&self, who: &Identifier) -> StoreResult<usize>;
    /// Every grant in a context.
    fn grants_in_context(&self, context: &Identifier) -> StoreResult<Vec<GrantRecord>>;
    /// Grants in InternalId contexts of `nip` (`{nip}-NNNNN`): sub-unit administrators.
    fn grants_to_subunits_of(&self, nip: &str) -> StoreResult<Vec<GrantRecord>>;
    /// Grants in NipVatUe contexts of `nip` (`{nip}-{EU VAT}`).
    fn eu_grants_of(&self, nip: &str) -> StoreResult<Vec<GrantRecord>>;
    /// Every grant held by `authorized` (any context).
    fn grants_to(&self, authorized: &Identifier) -> StoreResult<Vec<GrantRecord>>;
    /// The grant with this id.
    fn grant(&self, id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Removes the grant with this id; whether it existed.
    fn remove_grant(&self, id: &str) -> StoreResult<bool>;
    /// Records a permission operation.
    fn insert_operation(&self, op: PermissionOperationRecord) -> StoreResult<()>;
    /// The permission operation with this reference number.
    fn operation(&self, reference: &str) -> StoreResult<Option<PermissionOperationRecord>>;
    /// Sets or clears attachment consent for a NIP.
    fn set_attachment_consent(&self, nip: &str, consent: AttachmentConsent) -> StoreResult<()>;
    /// Attachment consent of a NIP.
    fn attachment_consent(&self, nip: &str) -> StoreResult<Option<AttachmentConsent>>;
    /// Blocks or unblocks authentication in a context.
    fn set_context_blocked(&self, context: &Identifier, blocked: bool) -> StoreResult<()>;
    /// Whether authentication in the context is blocked.
    fn is_context_blocked(&self, context: &Identifier) -> StoreResult<bool>;

    // --- authentication -----------------------------------------------------------------------
    /// Records an issued challenge.
    fn insert_challenge(&self, challenge: ChallengeRecord) -> StoreResult<()>;
    /// Marks a challenge used and returns it as it was before; `None` if unknown.
    fn use_challenge(&self, challenge: &str) -> StoreResult<Option<ChallengeRecord>>;
    /// Records an authentication operation.
    fn insert_auth(&self, op: AuthOperationRecord) -> StoreResult<()>;
    /// The authentication operation with this reference number.
    fn auth(&self, reference: &str) -> StoreResult<Option<AuthOperationRecord>>;
    /// Changes an authentication operation; the changed record, `None` if unknown.
    fn update_auth(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut AuthOperationRecord),
    ) -> StoreResult<Option<AuthOperationRecord>>;
    /// Authentication operations in a context (any order).
    fn auths_in_context(&self, context: &Identifier) -> StoreResult<Vec<AuthOperationRecord>>;

    // --- KSeF tokens --------------------------------------------------------------------------
    /// Records a KSeF token.
    fn insert_token(&self, token: TokenRecord) -> StoreResult<()>;
    /// The token with this reference number.
    fn token(&self, reference: &str) -> StoreResult<Option<TokenRecord>>;
    /// Changes a token; the changed record, `None` if unknown.
    fn update_token(&self, reference: &str, f: &mut dyn FnMut(&mut TokenRecord)) -> StoreResult<Option<TokenRecord>>;
    /// Tokens of a context (any order).
    fn tokens_in_context(&self, context: &Identifier) -> StoreResult<Vec<TokenRecord>>;

    // --- sessions and invoices ----------------------------------------------------------------
    /// Records a session.
    fn insert_session(&self, session: SessionRecord) -> StoreResult<()>;
    /// The session with this reference number.
    fn session(&self, reference: &str) -> StoreResult<Option<SessionRecord>>;
    /// Changes a session; the changed record, `None` if unknown.
    fn update_session(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut SessionRecord),
    ) -> StoreResult<Option<SessionRecord>>;
    /// Sessions opened in a context (any order).
    fn sessions_in_context(&self, context: &Identifier) -> StoreResult<Vec<SessionRecord>>;
    /// Stores an uploaded batch part (encrypted bytes); `AlreadyExists` if it was uploaded.
    fn put_part(&self, session: &str, ordinal: u32, data: Vec<u8>) -> StoreResult<()>;
    /// An uploaded batch part.
    fn part(&self, session: &str, ordinal: u32) -> StoreResult<Option<Vec<u8>>>;
    /// Records an export (replacing one with the same reference).
    fn put_export(&self, export: ExportRecord) -> StoreResult<()>;
    /// The export with this reference number.
    fn export(&self, reference: &str) -> StoreResult<Option<ExportRecord>>;
    /// The exports of a context that are still in progress (status 100).
    fn exports_in_progress(&self, context: &Identifier) -> StoreResult<Vec<ExportRecord>>;
    /// Records a collective identifier.
    fn insert_collective(&self, c: CollectiveRecord) -> StoreResult<()>;
    /// The collective identifier with this number.
    fn collective(&self, number: &str) -> StoreResult<Option<CollectiveRecord>>;
    /// Collective identifiers created in `context` or whose seller is `seller_nip`.
    fn collectives_for(&self, context: &Identifier, seller_nip: &str) -> StoreResult<Vec<CollectiveRecord>>;
    /// Collective identifiers that contain the invoice.
    fn collectives_with_invoice(&self, ksef_number: &str) -> StoreResult<Vec<CollectiveRecord>>;
    /// Stores a JSON document of `kind` under `key`, owned by `owner` (replacing one with the same
    /// kind and key). Record types added later (certificates, enrollments, ...) live here, so the
    /// trait does not grow with every area.
    fn put_doc(&self, kind: &str, key: &str, owner: &str, json: &str) -> StoreResult<()>;
    /// The document of `kind` under `key`.
    fn doc(&self, kind: &str, key: &str) -> StoreResult<Option<String>>;
    /// Every document of `kind` owned by `owner`.
    fn docs_of(&self, kind: &str, owner: &str) -> StoreResult<Vec<String>>;
    /// Every document of `kind`.
    fn docs(&self, kind: &str) -> StoreResult<Vec<String>>;
    /// Removes the document of `kind` under `key`; whether it existed.
    fn remove_doc(&self, kind: &str, key: &str) -> StoreResult<bool>;
    /// Records an invoice (with its session's counters updated by the caller).
    fn insert_invoice(&self, invoice: InvoiceRecord) -> StoreResult<()>;
    /// Changes an invoice (its KSeF number may be set); the changed record, `None` if unknown.
    fn update_invoice(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut InvoiceRecord),
    ) -> StoreResult<Option<InvoiceRecord>>;
    /// The invoice with this reference number.
    fn invoice(&self, reference: &str) -> StoreResult<Option<InvoiceRecord>>;
    /// The invoice with this KSeF number.
    fn invoice_by_ksef_number(&self, ksef_number: &str) -> StoreResult<Option<InvoiceRecord>>;
    /// Accepted invoices (with a KSeF number) where `nip` is the seller or the buyer.
    fn invoices_with_party(&self, nip: &str) -> StoreResult<Vec<InvoiceRecord>>;
    /// Invoices (accepted or not) whose `invoiceHash` or `hashOfCorrectedInvoice` is `hash`.
    fn invoices_with_hash(&self, hash: &str) -> StoreResult<Vec<InvoiceRecord>>;
    /// The invoices of a session, by ordinal number.
    fn session_invoices(&self, session: &str) -> StoreResult<Vec<InvoiceRecord>>;
    /// Atomically reserves a duplicate-detection key for an invoice; if it is taken, returns the owner.
    fn reserve_invoice_key(&self, key: &InvoiceKey, owner: &InvoiceKeyOwner) -> StoreResult<Option<InvoiceKeyOwner>>;
}
