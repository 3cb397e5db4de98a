//! UPO (Urzędowe Poświadczenie Odbioru) XML, schema `upo-v4-3.xsd`
//! (namespace `http://upo.schematy.mf.gov.pl/KSeF/v4-3`).
//!
//! Not yet done: the XAdES signature KSeF adds (the published examples carry none either).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::config::Environment;
use crate::domain::{Identifier, IdentifierType};
use crate::store::{AuthOperationRecord, FormCode, InvoiceRecord};

/// The UPO namespace.
pub const NAMESPACE: &str = "http://upo.schematy.mf.gov.pl/KSeF/v4-3";

/// A session UPO page's position (`OpisPotwierdzenia`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageInfo {
    /// Page number (1-based).
    pub page: usize,
    /// Number of pages.
    pub pages: usize,
    /// First document ordinal on the page (1-based).
    pub from: usize,
    /// Last document ordinal on the page (inclusive, like the published example).
    pub to: usize,
    /// All documents of the session UPO.
    pub total: usize,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

fn dt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// `Schemat_FA(3)_v1-0E.xsd`.
pub fn logical_structure_name(fc: &FormCode) -> String {
    format!("Schemat_{}_v{}.xsd", fc.system_code.replace(' ', ""), fc.schema_version)
}

fn context_element(id: &Identifier) -> &'static str {
    match id.kind {
        IdentifierType::InternalId => "IdWewnetrzny",
        IdentifierType::NipVatUe => "IdZlozonyVatUE",
        IdentifierType::PeppolId => "IdDostawcyUslugPeppol",
        _ => "Nip",
    }
}

/// Renders a UPO: one document and no page info for an invoice UPO, a page of a session UPO otherwise.
/// Only accepted invoices (with a KSeF number) are listed.
pub fn render(
    env: Environment,
    session_reference: &str,
    auth: &AuthOperationRecord,
    form_code: &FormCode,
    documents: &[&InvoiceRecord],
    page: Option<PageInfo>,
) -> String {
    let mut x = String::with_capacity(1024 + documents.len() * 600);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(x, "<Potwierdzenie xmlns=\"{NAMESPACE}\">");
    let _ = writeln!(x, "\t<NazwaPodmiotuPrzyjmujacego>{}</NazwaPodmiotuPrzyjmujacego>", esc(env.upo_receiver_name()));
    let _ = writeln!(x, "\t<NumerReferencyjnySesji>{}</NumerReferencyjnySesji>", esc(session_reference));
    x.push_str("\t<Uwierzytelnienie>\n\t\t<IdKontekstu>\n");
    let el = context_element(&auth.context);
    let _ = writeln!(x, "\t\t\t<{el}>{}</{el}>", esc(&auth.context.value));
    x.push_str("\t\t</IdKontekstu>\n");
    match (&auth.ksef_token_reference, &auth.auth_document_hash) {
        (Some(token), _) => {
            let _ = writeln!(x, "\t\t<NumerReferencyjnyTokenaKSeF>{}</NumerReferencyjnyTokenaKSeF>", esc(token));
        }
        (None, hash) => {
            let _ = writeln!(
                x,
                "\t\t<SkrotDokumentuUwierzytelniajacego>{}</SkrotDokumentuUwierzytelniajacego>",
                esc(hash.as_deref().unwrap_or_default())
            );
        }
    }
    x.push_str("\t</Uwierzytelnienie>\n");
    if let Some(p) = page {
        let _ = write!(
            x,
            "\t<OpisPotwierdzenia>\n\t\t<Strona>{}</Strona>\n\t\t<LiczbaStron>{}</LiczbaStron>\n\t\t<ZakresDokumentowOd>{}</ZakresDokumentowOd>\n\t\t<ZakresDokumentowDo>{}</ZakresDokumentowDo>\n\t\t<CalkowitaLiczbaDokumentow>{}</CalkowitaLiczbaDokumentow>\n\t</OpisPotwierdzenia>\n",
            p.page, p.pages, p.from, p.to, p.total
        );
    }
    let _ =
        writeln!(x, "\t<NazwaStrukturyLogicznej>{}</NazwaStrukturyLogicznej>", esc(&logical_structure_name(form_code)));
    let _ = writeln!(x, "\t<KodFormularza>{}</KodFormularza>", esc(&form_code.system_code));
    for d in documents {
        let (Some(ksef), Some(acq)) = (&d.ksef_number, d.acquisition_date) else { continue };
        x.push_str("\t<Dokument>\n");
        let _ = writeln!(x, "\t\t<NipSprzedawcy>{}</NipSprzedawcy>", esc(d.seller_nip.as_deref().unwrap_or_default()));
        let _ = writeln!(x, "\t\t<NumerKSeFDokumentu>{}</NumerKSeFDokumentu>", esc(ksef));
        let _ =
            writeln!(x, "\t\t<NumerFaktury>{}</NumerFaktury>", esc(d.invoice_number.as_deref().unwrap_or_default()));
        let issue = d.issue_date.map(|d| d.to_string()).unwrap_or_default();
        let _ = writeln!(x, "\t\t<DataWystawieniaFaktury>{issue}</DataWystawieniaFaktury>");
        let _ = writeln!(x, "\t\t<DataPrzeslaniaDokumentu>{}</DataPrzeslaniaDokumentu>", dt(d.invoicing_date));
        let _ = writeln!(x, "\t\t<DataNadaniaNumeruKSeF>{}</DataNadaniaNumeruKSeF>", dt(acq));
        let _ = writeln!(x, "\t\t<SkrotDokumentu>{}</SkrotDokumentu>", esc(&d.invoice_hash));
        let _ = writeln!(x, "\t\t<TrybWysylki>{}</TrybWysylki>", esc(d.invoicing_mode.as_deref().unwrap_or("Online")));
        x.push_str("\t</Dokument>\n");
    }
    x.push_str("</Potwierdzenie>");
    x
}
