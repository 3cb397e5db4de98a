//! The records the store keeps.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::domain::enums::EntityRole;
use crate::domain::{Identifier, PermissionType, StatusInfo, SubjectType};

/// A test-data entity (`POST /testdata/subject`) or one of its sub-units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubjectRecord {
    /// NIP.
    pub nip: String,
    /// Declared type (`None` for sub-units).
    pub subject_type: Option<SubjectType>,
    /// Description.
    pub description: String,
    /// Roles the entity holds.
    pub roles: Vec<EntityRole>,
    /// The parent entity (sub-units).
    pub parent_nip: Option<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
}

/// A natural person with a NIP–PESEL link (`POST /testdata/person`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// NIP.
    pub nip: String,
    /// PESEL.
    pub pesel: String,
    /// Court bailiff.
    pub is_bailiff: bool,
    /// Deceased (auth ends with 470).
    pub is_deceased: bool,
    /// Description.
    pub description: String,
    /// When it was created.
    pub created: DateTime<Utc>,
}

/// One permission held by a subject in a context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Permission id (GUID).
    pub id: String,
    /// The context.
    pub context: Identifier,
    /// Who holds it.
    pub authorized: Identifier,
    /// The scope.
    pub permission: PermissionType,
    /// Description.
    pub description: String,
    /// Who granted it (`System` for ZAW-FA / test data).
    pub author: Identifier,
    /// When it was granted.
    pub start_date: DateTime<Utc>,
    /// Whether it may be delegated.
    pub can_delegate: bool,
    /// Which grant endpoint created it.
    #[serde(default)]
    pub kind: GrantKind,
    /// `subjectDetails` as sent (JSON text), for queries.
    #[serde(default)]
    pub subject_details: Option<String>,
    /// `subunitName` of a sub-unit administrator grant, `euEntityName` of an EU-entity grant.
    #[serde(default)]
    pub entity_name: Option<String>,
    /// Indirect grants: the client (`Nip`/`InternalId`) or `AllPartners` (also for a general grant).
    #[serde(default)]
    pub target: Option<Identifier>,
}

impl GrantRecord {
    /// What makes a grant unique next to its context, authorized subject and permission: an
    /// indirect grant's client (two selective grants of one scope for different clients are two
    /// grants); empty for every other kind.
    pub fn scope(&self) -> String {
        match (&self.kind, &self.target) {
            (GrantKind::Indirect, Some(t)) => format!("{}@{}:{}", self.permission.as_str(), t.kind.as_str(), t.value),
            _ => self.permission.as_str().to_owned(),
        }
    }
}

/// The kind of a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GrantKind {
    /// `/permissions/persons/grants` or test data (ZAW-FA).
    #[default]
    Person,
    /// `/permissions/entities/grants`.
    Entity,
    /// `/permissions/eu-entities/administration/grants` (an EU entity's administrator).
    EuAdministrator,
    /// `/permissions/eu-entities/grants` (an EU entity's representative).
    EuRepresentative,
    /// `/permissions/indirect/grants`: an intermediary's person acting for its clients.
    Indirect,
    /// `/permissions/subunits/grants`: `CredentialsManage` in a sub-unit (or subordinate entity)
    /// given from the parent context; the grant's context is the sub-unit.
    SubunitAdministrator,
    /// `/permissions/authorizations/grants` (SelfInvoicing, TaxRepresentative, RRInvoicing,
    /// PefInvoicing): lets the authorized entity act in its own context; not a permission in the
    /// grantor's context.
    Authorization,
}

/// An asynchronous permission operation (`EG…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionOperationRecord {
    /// `EG` reference number.
    pub reference: String,
    /// The context it was started in.
    pub context: Identifier,
    /// When.
    pub created: DateTime<Utc>,
    /// Outcome.
    pub status: StatusInfo,
}

/// Attachment consent of a NIP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentConsent {
    /// Whether invoices with attachments are allowed now.
    pub allowed: bool,
    /// When consent ends or ended.
    pub revoked_date: Option<NaiveDate>,
}

/// An issued authentication challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    /// The 36-character challenge.
    pub challenge: String,
    /// When it was issued.
    pub timestamp: DateTime<Utc>,
    /// The client IP it was issued to.
    pub client_ip: String,
    /// Whether an authentication request already used it.
    pub used: bool,
}

/// How the subject authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    /// KSeF token.
    Token,
    /// Qualified signature / self-signed personal certificate on TE.
    QualifiedSignature,
    /// Qualified seal.
    QualifiedSeal,
    /// A KSeF-issued certificate.
    InternalCertificate,
    /// The in-process test hook of the emulator ([`crate::Emulator::authenticate`]).
    EmulatorTestHook,
}

impl AuthMethod {
    /// `authenticationMethod` (deprecated enum).
    pub fn legacy_name(self) -> &'static str {
        match self {
            Self::Token => "Token",
            Self::QualifiedSignature | Self::EmulatorTestHook => "QualifiedSignature",
            Self::QualifiedSeal => "QualifiedSeal",
            Self::InternalCertificate => "InternalCertificate",
        }
    }

    /// `authenticationMethodInfo` `{category, code, displayName}`.
    pub fn info(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Token => ("Token", "token.ksef", "Token KSeF"),
            Self::QualifiedSignature => ("XadesSignature", "xades.qualified-signature", "Podpis kwalifikowany"),
            Self::QualifiedSeal => ("XadesSignature", "xades.qualified-seal", "Pieczęć kwalifikowana"),
            Self::InternalCertificate => ("XadesSignature", "xades.ksef-certificate", "Certyfikat KSeF"),
            Self::EmulatorTestHook => ("Other", "emulator.test-hook", "Emulator (uwierzytelnienie testowe)"),
        }
    }

    /// Whether the subject authenticated with a signature (certificate enrollment needs it).
    pub fn is_signature(self) -> bool {
        !matches!(self, Self::Token)
    }
}

/// An authentication operation (`AU…`) and the auth session it becomes once redeemed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthOperationRecord {
    /// `AU` reference number.
    pub reference: String,
    /// The context.
    pub context: Identifier,
    /// The authenticating subject.
    pub subject: Identifier,
    /// How.
    pub method: AuthMethod,
    /// When it started.
    pub start_date: DateTime<Utc>,
    /// Current status (100, 200, 4xx).
    pub status: StatusInfo,
    /// Whether redeem has been called.
    pub redeemed: bool,
    /// When the last refresh happened.
    pub last_refresh: Option<DateTime<Utc>>,
    /// Until when the refresh token is valid (set on redeem).
    pub refresh_valid_until: Option<DateTime<Utc>>,
    /// Base64 SHA-256 of the signed request (UPO `SkrotDokumentuUwierzytelniajacego`).
    pub auth_document_hash: Option<String>,
    /// Reference number of the KSeF token used (UPO `NumerReferencyjnyTokenaKSeF`).
    pub ksef_token_reference: Option<String>,
    /// The person is deceased (redeem/refresh give 21308).
    pub deceased: bool,
    /// `AuthorizationPolicy/AllowedIps` of the request, enforced on every access-token use.
    #[serde(default)]
    pub allowed_ips: Option<crate::domain::IpPolicy>,
    /// The signing certificate's subject attributes (JSON: the enrollment data), XAdES only.
    #[serde(default)]
    pub certificate_subject: Option<String>,
}

/// Online or batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionKind {
    /// Interactive.
    Online,
    /// Batch.
    Batch,
}

/// A form code `{systemCode, schemaVersion, value}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FormCode {
    /// `FA (3)`.
    #[serde(rename = "systemCode")]
    pub system_code: String,
    /// `1-0E`.
    #[serde(rename = "schemaVersion")]
    pub schema_version: String,
    /// `FA`.
    pub value: String,
}

/// An AES-256 key, zeroized on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretKey(pub Vec<u8>);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// One page of a session UPO.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpoPage {
    /// `EU` reference number.
    pub reference: String,
    /// First ordinal (1-based, among accepted invoices).
    pub from: usize,
    /// Last ordinal (inclusive).
    pub to: usize,
}

/// An online or batch session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// `SO`/`SB` reference number.
    pub reference: String,
    /// Kind.
    pub kind: SessionKind,
    /// The context it was opened in.
    pub context: Identifier,
    /// Who opened it.
    pub subject: Identifier,
    /// The authentication operation behind the access token.
    pub auth_reference: String,
    /// Declared form code.
    pub form_code: FormCode,
    /// The unwrapped AES key (`None` if unwrapping failed: status 415).
    pub key: Option<SecretKey>,
    /// The IV.
    pub iv: Vec<u8>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Last change.
    pub updated: DateTime<Utc>,
    /// Auto-close time.
    pub valid_until: DateTime<Utc>,
    /// Status.
    pub status: StatusInfo,
    /// Invoices sent.
    pub invoice_count: u64,
    /// Invoices accepted.
    pub successful_count: u64,
    /// Invoices rejected.
    pub failed_count: u64,
    /// When it was closed.
    pub closed: Option<DateTime<Utc>>,
    /// Session UPO pages (after close).
    pub upo_pages: Vec<UpoPage>,
    /// What a batch session declared.
    #[serde(default)]
    pub batch: Option<BatchInfo>,
}

/// One declared part of a batch package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPart {
    /// 1-based.
    pub ordinal: u32,
    /// Encrypted size.
    pub size: u64,
    /// Base64 SHA-256 of the encrypted part.
    pub hash: String,
    /// Whether it has been uploaded.
    pub uploaded: bool,
}

/// The declarations of a batch session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Size of the whole unencrypted archive.
    pub file_size: u64,
    /// Base64 SHA-256 of the whole unencrypted archive.
    pub file_hash: String,
    /// `Zip` or `TarGz`.
    pub compression: String,
    /// Declared parts.
    pub parts: Vec<BatchPart>,
    /// `offlineMode` for every invoice.
    pub offline_mode: bool,
    /// Until when parts may be uploaded (20 min × parts).
    pub upload_until: DateTime<Utc>,
}

/// An invoice sent in a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// `EE` reference number.
    pub reference: String,
    /// The session.
    pub session: String,
    /// Position in the session (1-based).
    pub ordinal: u64,
    /// The context it was sent in.
    pub context: Identifier,
    /// `P_2` (or `P_4C`), if readable.
    pub invoice_number: Option<String>,
    /// Assigned KSeF number.
    pub ksef_number: Option<String>,
    /// Declared plaintext hash (Base64 SHA-256).
    pub invoice_hash: String,
    /// Plaintext size.
    pub invoice_size: u64,
    /// When KSeF accepted it for processing.
    pub invoicing_date: DateTime<Utc>,
    /// When the KSeF number was assigned.
    pub acquisition_date: Option<DateTime<Utc>>,
    /// When it was stored permanently.
    pub permanent_storage_date: Option<DateTime<Utc>>,
    /// Processing status.
    pub status: StatusInfo,
    /// `Online` or `Offline` (final).
    pub invoicing_mode: Option<String>,
    /// Whether the sender declared offline mode.
    pub offline_mode: bool,
    /// Seller NIP (`Podmiot1`).
    pub seller_nip: Option<String>,
    /// Issue date (`P_1`).
    pub issue_date: Option<NaiveDate>,
    /// `RodzajFaktury`.
    pub invoice_type: Option<String>,
    /// The form code of the session.
    pub form_code: FormCode,
    /// Whether it has a `Zalacznik`.
    pub has_attachment: bool,
    /// The stored plaintext (accepted invoices only).
    pub content: Option<Vec<u8>>,
    /// Metadata read from the document (accepted invoices).
    #[serde(default)]
    pub meta: Option<InvoiceMeta>,
    /// The file name inside a batch archive.
    #[serde(default)]
    pub file_name: Option<String>,
    /// A technical correction: the hash of the rejected original it replaces.
    #[serde(default)]
    pub hash_of_corrected_invoice: Option<String>,
}

/// The buyer as the metadata shows it: `{type: Nip|VatUe|Other|None, value?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuyerId {
    /// `Nip`, `VatUe`, `Other` or `None`.
    pub kind: String,
    /// The value (absent for `None`).
    pub value: Option<String>,
}

/// Metadata of an accepted invoice (`InvoiceMetadata`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceMeta {
    /// Seller name.
    pub seller_name: Option<String>,
    /// Buyer identifier.
    pub buyer: BuyerId,
    /// Buyer name.
    pub buyer_name: Option<String>,
    /// Net amount.
    pub net: f64,
    /// Gross amount.
    pub gross: f64,
    /// VAT amount.
    pub vat: f64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Third subjects (`Podmiot3`), in document order.
    #[serde(default)]
    pub third_subjects: Vec<ThirdSubject>,
    /// The authorized subject (`PodmiotUpowazniony`).
    #[serde(default)]
    pub authorized_subject: Option<AuthorizedSubject>,
}

/// A third subject (`Podmiot3`) as the metadata shows it (`InvoiceMetadataThirdSubject`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThirdSubject {
    /// `Nip`, `InternalId`, `VatUe`, `Other` or `None`.
    pub kind: String,
    /// The value (absent for `None`).
    pub value: Option<String>,
    /// `Nazwa`.
    pub name: Option<String>,
    /// `Rola` (1..=10), 0 for `RolaInna`.
    pub role: i32,
}

/// The authorized subject (`PodmiotUpowazniony`) as the metadata shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorizedSubject {
    /// Its NIP.
    pub nip: String,
    /// `Nazwa`.
    pub name: Option<String>,
    /// `RolaPU` (1..=3).
    pub role: i32,
}

impl InvoiceRecord {
    /// Whether the invoice names `nip` as a third subject (by NIP, or by an `InternalId` of it
    /// when `internal` is that identifier).
    pub fn has_third_subject(&self, nip: &str, internal: Option<&str>) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.third_subjects.iter().any(|t| match (t.kind.as_str(), t.value.as_deref()) {
                ("Nip", Some(v)) => v == nip,
                ("InternalId", Some(v)) => internal == Some(v),
                _ => false,
            })
        })
    }

    /// Whether the invoice names `nip` as its authorized subject.
    pub fn has_authorized_subject(&self, nip: &str) -> bool {
        self.meta.as_ref().and_then(|m| m.authorized_subject.as_ref()).is_some_and(|a| a.nip == nip)
    }

    /// Whether `nip` is a party: seller, buyer by NIP, third subject or authorized subject.
    pub fn has_party(&self, nip: &str) -> bool {
        self.seller_nip.as_deref() == Some(nip)
            || self.meta.as_ref().is_some_and(|m| m.buyer.kind == "Nip" && m.buyer.value.as_deref() == Some(nip))
            || self.has_third_subject(nip, None)
            || self.has_authorized_subject(nip)
    }
}

/// The duplicate-detection key: (`Podmiot1` NIP, `RodzajFaktury`, `P_2`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InvoiceKey {
    /// Seller NIP.
    pub seller_nip: String,
    /// Invoice kind.
    pub invoice_type: String,
    /// Invoice number.
    pub invoice_number: String,
}

/// Who holds a duplicate-detection key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceKeyOwner {
    /// KSeF number of the original.
    pub ksef_number: String,
    /// Session of the original.
    pub session: String,
}

/// KSeF token statuses (`AuthenticationTokenStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    /// Being activated.
    Pending,
    /// Usable.
    Active,
    /// Being revoked.
    Revoking,
    /// Revoked.
    Revoked,
    /// Activation failed.
    Failed,
}

impl TokenStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Active => "Active",
            Self::Revoking => "Revoking",
            Self::Revoked => "Revoked",
            Self::Failed => "Failed",
        }
    }
}

/// A KSeF token (`POST /tokens`). The secret itself is not kept, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// `EC` reference number.
    pub reference: String,
    /// SHA-256 (hex) of the whole token string.
    pub token_sha256: String,
    /// The context it was created in (and works in).
    pub context: Identifier,
    /// Who created it.
    pub author: Identifier,
    /// Description.
    pub description: String,
    /// The fixed permission set.
    pub permissions: Vec<PermissionType>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Last authentication with it.
    pub last_use: Option<DateTime<Utc>>,
    /// Status.
    pub status: TokenStatus,
}

/// One part of an export package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPart {
    /// 1-based.
    pub ordinal: u32,
    /// `{exportRef}-001.zip.aes`.
    pub name: String,
    /// Plaintext size.
    pub size: u64,
    /// Base64 SHA-256 of the plaintext part.
    pub hash: String,
    /// Encrypted size.
    pub encrypted_size: u64,
    /// Base64 SHA-256 of the encrypted part.
    pub encrypted_hash: String,
}

/// An invoice export (`POST /invoices/exports`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// Reference number.
    pub reference: String,
    /// Context.
    pub context: Identifier,
    /// Created.
    pub created: DateTime<Utc>,
    /// Status (100, 200, 415, ...).
    pub status: StatusInfo,
    /// Completed.
    pub completed: Option<DateTime<Utc>>,
    /// Invoices in the package.
    pub invoice_count: u64,
    /// Plaintext size (sum of part sizes).
    pub size: u64,
    /// Parts (bytes kept with [`super::Store::put_part`] under the export's reference).
    pub parts: Vec<ExportPart>,
    /// Whether the caps cut the selection short.
    pub is_truncated: bool,
    /// The last included date of the filter's type, when truncated.
    pub last_date: Option<(String, DateTime<Utc>)>,
    /// HWM (PermanentStorage filters).
    pub hwm: Option<DateTime<Utc>>,
    /// `package.compressionType`: `Zip` or `TarGz`.
    #[serde(default = "zip_compression")]
    pub compression_type: String,
    /// Who started it (the authenticated subject), for the concurrent-export limit.
    #[serde(default)]
    pub subject: Option<Identifier>,
}

fn zip_compression() -> String {
    "Zip".to_owned()
}

/// One invoice of a collective identifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectiveInvoice {
    /// KSeF number.
    pub ksef_number: String,
    /// Payment amount and currency, if given.
    pub payment: Option<(f64, String)>,
    /// Description, if given.
    pub description: Option<String>,
}

/// A collective identifier (`NIP-IZYYYYMM-…`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectiveRecord {
    /// The identifier.
    pub number: String,
    /// The context that created it.
    pub context: Identifier,
    /// The seller of every invoice.
    pub seller_nip: String,
    /// Created.
    pub created: DateTime<Utc>,
    /// Invoices.
    pub invoices: Vec<CollectiveInvoice>,
}
