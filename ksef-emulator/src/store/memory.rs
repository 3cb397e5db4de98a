//! The in-memory store (the default; state lives as long as the emulator).

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::*;

#[derive(Debug, Default)]
struct Inner {
    subjects: HashMap<String, SubjectRecord>,
    persons: HashMap<String, PersonRecord>,
    grants: Vec<GrantRecord>,
    attachments: HashMap<String, AttachmentConsent>,
    blocked: std::collections::HashSet<Identifier>,
    challenges: HashMap<String, ChallengeRecord>,
    auths: HashMap<String, AuthOperationRecord>,
    sessions: HashMap<String, SessionRecord>,
    invoices: HashMap<String, InvoiceRecord>,
    by_ksef: HashMap<String, String>,
    by_session: HashMap<String, Vec<String>>,
    invoice_keys: HashMap<InvoiceKey, InvoiceKeyOwner>,
    tokens: HashMap<String, TokenRecord>,
    operations: HashMap<String, PermissionOperationRecord>,
    parts: HashMap<(String, u32), Vec<u8>>,
    exports: HashMap<String, ExportRecord>,
    collectives: HashMap<String, CollectiveRecord>,
    docs: HashMap<(String, String), (String, String)>,
}

/// Keeps everything in memory behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore(RwLock<Inner>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn r(&self) -> RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn w(&self) -> RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn insert_subject(&self, subject: SubjectRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.subjects.contains_key(&subject.nip) {
            return Err(StoreError::AlreadyExists);
        }
        g.subjects.insert(subject.nip.clone(), subject);
        Ok(())
    }

    fn subject(&self, nip: &str) -> StoreResult<Option<SubjectRecord>> {
        Ok(self.r().subjects.get(nip).cloned())
    }

    fn remove_subject(&self, nip: &str) -> StoreResult<bool> {
        let mut g = self.w();
        let existed = g.subjects.remove(nip).is_some();
        g.subjects.retain(|_, s| s.parent_nip.as_deref() != Some(nip));
        Ok(existed)
    }

    fn subunits_of(&self, nip: &str) -> StoreResult<Vec<SubjectRecord>> {
        let mut v: Vec<SubjectRecord> =
            self.r().subjects.values().filter(|s| s.parent_nip.as_deref() == Some(nip)).cloned().collect();
        v.sort_by(|a, b| a.nip.cmp(&b.nip));
        Ok(v)
    }

    fn insert_person(&self, person: PersonRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.persons.contains_key(&person.nip) || g.persons.values().any(|p| p.pesel == person.pesel) {
            return Err(StoreError::AlreadyExists);
        }
        g.persons.insert(person.nip.clone(), person);
        Ok(())
    }

    fn person_by_nip(&self, nip: &str) -> StoreResult<Option<PersonRecord>> {
        Ok(self.r().persons.get(nip).cloned())
    }

    fn person_by_pesel(&self, pesel: &str) -> StoreResult<Option<PersonRecord>> {
        Ok(self.r().persons.values().find(|p| p.pesel == pesel).cloned())
    }

    fn remove_person(&self, nip: &str) -> StoreResult<bool> {
        Ok(self.w().persons.remove(nip).is_some())
    }

    fn insert_grant(&self, grant: GrantRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.grants
            .iter()
            .any(|x| x.context == grant.context && x.authorized == grant.authorized && x.scope() == grant.scope())
        {
            return Err(StoreError::AlreadyExists);
        }
        g.grants.push(grant);
        Ok(())
    }

    fn grants_of(&self, context: &Identifier, authorized: &Identifier) -> StoreResult<Vec<GrantRecord>> {
        Ok(self.r().grants.iter().filter(|g| &g.context == context && &g.authorized == authorized).cloned().collect())
    }

    fn remove_grants(&self, context: &Identifier, authorized: &Identifier) -> StoreResult<usize> {
        let mut g = self.w();
        let before = g.grants.len();
        g.grants.retain(|x| !(&x.context == context && &x.authorized == authorized));
        Ok(before - g.grants.len())
    }

    fn remove_grants_to(&self, who: &Identifier) -> StoreResult<usize> {
        let mut g = self.w();
        let before = g.grants.len();
        g.grants.retain(|x| &x.authorized != who);
        Ok(before - g.grants.len())
    }

    fn grants_in_context(&self, context: &Identifier) -> StoreResult<Vec<GrantRecord>> {
        Ok(self.r().grants.iter().filter(|g| &g.context == context).cloned().collect())
    }

    fn grants_to_subunits_of(&self, nip: &str) -> StoreResult<Vec<GrantRecord>> {
        let prefix = format!("{nip}-");
        Ok(self
            .r()
            .grants
            .iter()
            .filter(|g| {
                g.context.kind == crate::domain::IdentifierType::InternalId && g.context.value.starts_with(&prefix)
            })
            .cloned()
            .collect())
    }

    fn eu_grants_of(&self, nip: &str) -> StoreResult<Vec<GrantRecord>> {
        let prefix = format!("{nip}-");
        Ok(self
            .r()
            .grants
            .iter()
            .filter(|g| {
                g.context.kind == crate::domain::IdentifierType::NipVatUe && g.context.value.starts_with(&prefix)
            })
            .cloned()
            .collect())
    }

    fn grants_to(&self, authorized: &Identifier) -> StoreResult<Vec<GrantRecord>> {
        Ok(self.r().grants.iter().filter(|g| &g.authorized == authorized).cloned().collect())
    }

    fn grant(&self, id: &str) -> StoreResult<Option<GrantRecord>> {
        Ok(self.r().grants.iter().find(|g| g.id == id).cloned())
    }

    fn remove_grant(&self, id: &str) -> StoreResult<bool> {
        let mut g = self.w();
        let before = g.grants.len();
        g.grants.retain(|x| x.id != id);
        Ok(g.grants.len() != before)
    }

    fn insert_operation(&self, op: PermissionOperationRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.operations.contains_key(&op.reference) {
            return Err(StoreError::AlreadyExists);
        }
        g.operations.insert(op.reference.clone(), op);
        Ok(())
    }

    fn operation(&self, reference: &str) -> StoreResult<Option<PermissionOperationRecord>> {
        Ok(self.r().operations.get(reference).cloned())
    }

    fn set_attachment_consent(&self, nip: &str, consent: AttachmentConsent) -> StoreResult<()> {
        self.w().attachments.insert(nip.to_owned(), consent);
        Ok(())
    }

    fn attachment_consent(&self, nip: &str) -> StoreResult<Option<AttachmentConsent>> {
        Ok(self.r().attachments.get(nip).cloned())
    }

    fn set_context_blocked(&self, context: &Identifier, blocked: bool) -> StoreResult<()> {
        let mut g = self.w();
        if blocked {
            g.blocked.insert(context.clone());
        } else {
            g.blocked.remove(context);
        }
        Ok(())
    }

    fn is_context_blocked(&self, context: &Identifier) -> StoreResult<bool> {
        Ok(self.r().blocked.contains(context))
    }

    fn insert_challenge(&self, challenge: ChallengeRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.challenges.contains_key(&challenge.challenge) {
            return Err(StoreError::AlreadyExists);
        }
        g.challenges.insert(challenge.challenge.clone(), challenge);
        Ok(())
    }

    fn use_challenge(&self, challenge: &str) -> StoreResult<Option<ChallengeRecord>> {
        let mut g = self.w();
        Ok(g.challenges.get_mut(challenge).map(|c| {
            let before = c.clone();
            c.used = true;
            before
        }))
    }

    fn insert_auth(&self, op: AuthOperationRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.auths.contains_key(&op.reference) {
            return Err(StoreError::AlreadyExists);
        }
        g.auths.insert(op.reference.clone(), op);
        Ok(())
    }

    fn auth(&self, reference: &str) -> StoreResult<Option<AuthOperationRecord>> {
        Ok(self.r().auths.get(reference).cloned())
    }

    fn update_auth(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut AuthOperationRecord),
    ) -> StoreResult<Option<AuthOperationRecord>> {
        let mut g = self.w();
        Ok(g.auths.get_mut(reference).map(|a| {
            f(a);
            a.clone()
        }))
    }

    fn auths_in_context(&self, context: &Identifier) -> StoreResult<Vec<AuthOperationRecord>> {
        Ok(self.r().auths.values().filter(|a| &a.context == context).cloned().collect())
    }

    fn insert_token(&self, token: TokenRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.tokens.contains_key(&token.reference) {
            return Err(StoreError::AlreadyExists);
        }
        g.tokens.insert(token.reference.clone(), token);
        Ok(())
    }

    fn token(&self, reference: &str) -> StoreResult<Option<TokenRecord>> {
        Ok(self.r().tokens.get(reference).cloned())
    }

    fn update_token(&self, reference: &str, f: &mut dyn FnMut(&mut TokenRecord)) -> StoreResult<Option<TokenRecord>> {
        let mut g = self.w();
        Ok(g.tokens.get_mut(reference).map(|t| {
            f(t);
            t.clone()
        }))
    }

    fn tokens_in_context(&self, context: &Identifier) -> StoreResult<Vec<TokenRecord>> {
        Ok(self.r().tokens.values().filter(|t| &t.context == context).cloned().collect())
    }

    fn insert_session(&self, session: SessionRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.sessions.contains_key(&session.reference) {
            return Err(StoreError::AlreadyExists);
        }
        g.sessions.insert(session.reference.clone(), session);
        Ok(())
    }

    fn session(&self, reference: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(self.r().sessions.get(reference).cloned())
    }

    fn update_session(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut SessionRecord),
    ) -> StoreResult<Option<SessionRecord>> {
        let mut g = self.w();
        Ok(g.sessions.get_mut(reference).map(|s| {
            f(s);
            s.clone()
        }))
    }

    fn sessions_in_context(&self, context: &Identifier) -> StoreResult<Vec<SessionRecord>> {
        Ok(self.r().sessions.values().filter(|s| &s.context == context).cloned().collect())
    }

    fn put_part(&self, session: &str, ordinal: u32, data: Vec<u8>) -> StoreResult<()> {
        let mut g = self.w();
        let k = (session.to_owned(), ordinal);
        if g.parts.contains_key(&k) {
            return Err(StoreError::AlreadyExists);
        }
        g.parts.insert(k, data);
        Ok(())
    }

    fn part(&self, session: &str, ordinal: u32) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.r().parts.get(&(session.to_owned(), ordinal)).cloned())
    }

    fn put_export(&self, export: ExportRecord) -> StoreResult<()> {
        self.w().exports.insert(export.reference.clone(), export);
        Ok(())
    }

    fn export(&self, reference: &str) -> StoreResult<Option<ExportRecord>> {
        Ok(self.r().exports.get(reference).cloned())
    }

    fn exports_in_progress(&self, context: &Identifier) -> StoreResult<Vec<ExportRecord>> {
        Ok(self.r().exports.values().filter(|e| &e.context == context && e.status.code == 100).cloned().collect())
    }

    fn insert_collective(&self, c: CollectiveRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.collectives.contains_key(&c.number) {
            return Err(StoreError::AlreadyExists);
        }
        g.collectives.insert(c.number.clone(), c);
        Ok(())
    }

    fn collective(&self, number: &str) -> StoreResult<Option<CollectiveRecord>> {
        Ok(self.r().collectives.get(number).cloned())
    }

    fn collectives_for(&self, context: &Identifier, seller_nip: &str) -> StoreResult<Vec<CollectiveRecord>> {
        Ok(self
            .r()
            .collectives
            .values()
            .filter(|c| &c.context == context || c.seller_nip == seller_nip)
            .cloned()
            .collect())
    }

    fn collectives_with_invoice(&self, ksef_number: &str) -> StoreResult<Vec<CollectiveRecord>> {
        Ok(self
            .r()
            .collectives
            .values()
            .filter(|c| c.invoices.iter().any(|i| i.ksef_number == ksef_number))
            .cloned()
            .collect())
    }

    fn put_doc(&self, kind: &str, key: &str, owner: &str, json: &str) -> StoreResult<()> {
        self.w().docs.insert((kind.to_owned(), key.to_owned()), (owner.to_owned(), json.to_owned()));
        Ok(())
    }

    fn doc(&self, kind: &str, key: &str) -> StoreResult<Option<String>> {
        Ok(self.r().docs.get(&(kind.to_owned(), key.to_owned())).map(|(_, d)| d.clone()))
    }

    fn docs_of(&self, kind: &str, owner: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .r()
            .docs
            .iter()
            .filter(|((k, _), (o, _))| k == kind && o == owner)
            .map(|(_, (_, d))| d.clone())
            .collect())
    }

    fn docs(&self, kind: &str) -> StoreResult<Vec<String>> {
        Ok(self.r().docs.iter().filter(|((k, _), _)| k == kind).map(|(_, (_, d))| d.clone()).collect())
    }

    fn remove_doc(&self, kind: &str, key: &str) -> StoreResult<bool> {
        Ok(self.w().docs.remove(&(kind.to_owned(), key.to_owned())).is_some())
    }

    fn update_invoice(
        &self,
        reference: &str,
        f: &mut dyn FnMut(&mut InvoiceRecord),
    ) -> StoreResult<Option<InvoiceRecord>> {
        let mut g = self.w();
        let Some(i) = g.invoices.get_mut(reference) else { return Ok(None) };
        let before = i.ksef_number.clone();
        f(i);
        let after = i.clone();
        if before != after.ksef_number {
            if let Some(k) = before {
                g.by_ksef.remove(&k);
            }
            if let Some(k) = &after.ksef_number {
                g.by_ksef.insert(k.clone(), after.reference.clone());
            }
        }
        Ok(Some(after))
    }

    fn insert_invoice(&self, invoice: InvoiceRecord) -> StoreResult<()> {
        let mut g = self.w();
        if g.invoices.contains_key(&invoice.reference) {
            return Err(StoreError::AlreadyExists);
        }
        if let Some(k) = &invoice.ksef_number {
            g.by_ksef.insert(k.clone(), invoice.reference.clone());
        }
        g.by_session.entry(invoice.session.clone()).or_default().push(invoice.reference.clone());
        g.invoices.insert(invoice.reference.clone(), invoice);
        Ok(())
    }

    fn invoice(&self, reference: &str) -> StoreResult<Option<InvoiceRecord>> {
        Ok(self.r().invoices.get(reference).cloned())
    }

    fn invoice_by_ksef_number(&self, ksef_number: &str) -> StoreResult<Option<InvoiceRecord>> {
        let g = self.r();
        Ok(g.by_ksef.get(ksef_number).and_then(|r| g.invoices.get(r)).cloned())
    }

    fn invoices_with_hash(&self, hash: &str) -> StoreResult<Vec<InvoiceRecord>> {
        Ok(self
            .r()
            .invoices
            .values()
            .filter(|i| i.invoice_hash == hash || i.hash_of_corrected_invoice.as_deref() == Some(hash))
            .cloned()
            .collect())
    }

    fn invoices_with_party(&self, nip: &str) -> StoreResult<Vec<InvoiceRecord>> {
        let g = self.r();
        Ok(g.by_ksef.values().filter_map(|r| g.invoices.get(r)).filter(|i| i.has_party(nip)).cloned().collect())
    }

    fn session_invoices(&self, session: &str) -> StoreResult<Vec<InvoiceRecord>> {
        let g = self.r();
        let mut v: Vec<InvoiceRecord> = g
            .by_session
            .get(session)
            .map(|refs| refs.iter().filter_map(|r| g.invoices.get(r).cloned()).collect())
            .unwrap_or_default();
        v.sort_by_key(|i| i.ordinal);
        Ok(v)
    }

    fn reserve_invoice_key(&self, key: &InvoiceKey, owner: &InvoiceKeyOwner) -> StoreResult<Option<InvoiceKeyOwner>> {
        let mut g = self.w();
        if let Some(existing) = g.invoice_keys.get(key) {
            return Ok(Some(existing.clone()));
        }
        g.invoice_keys.insert(key.clone(), owner.clone());
        Ok(None)
    }
}
