//! `ksef invoices query` (metadata, paged) and `ksef invoices export` (encrypted export into a
//! directory: decrypted, verified, safely unpacked, XML files plus `_metadata.json`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use ksef_model::operations::{QueryInvoiceMetadata, QueryInvoiceMetadataParams};
use ksef_model::types::{InvoiceQueryFilters, SortOrder};
use serde_json::{Value, json};

use super::{emit, remote, usage};
use crate::config::Settings;
use crate::{Failure, LoginArgs, Output, exit};

/// Whose invoices: the context as seller, buyer, third party or authorized subject.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Subject {
    /// Issued by the context (Subject1).
    Seller,
    /// Received by the context (Subject2).
    Buyer,
    /// The context is a third party on the invoice (Subject3).
    Third,
    /// The context is an authorized subject (SubjectAuthorized).
    Authorized,
}

impl Subject {
    fn wire(self) -> &'static str {
        match self {
            Self::Seller => "Subject1",
            Self::Buyer => "Subject2",
            Self::Third => "Subject3",
            Self::Authorized => "SubjectAuthorized",
        }
    }
}

/// Which date the range applies to.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DateType {
    /// The invoice's issue date (P_1).
    Issue,
    /// When KSeF received it.
    Invoicing,
    /// When it reached permanent storage (the only type for incremental downloads).
    PermanentStorage,
}

/// Which amount `--amount-from/--amount-to` compare.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AmountType {
    /// Gross.
    Brutto,
    /// Net.
    Netto,
    /// VAT.
    Vat,
}

/// The metadata filters shared by `query` and `export`.
#[derive(Debug, Args)]
pub(crate) struct Filters {
    /// Whose invoices.
    #[arg(long, value_enum, default_value_t = Subject::Buyer)]
    subject: Subject,
    /// Start of the date range: YYYY-MM-DD (00:00 UTC) or RFC 3339. Default: 30 days ago.
    #[arg(long)]
    from: Option<String>,
    /// End of the date range (same formats; a date means its end, 23:59:59 UTC). Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Which date --from/--to apply to.
    #[arg(long, value_enum, default_value_t = DateType::PermanentStorage)]
    date_type: DateType,
    /// Which amount --amount-from/--amount-to compare.
    #[arg(long, value_enum, default_value_t = AmountType::Brutto)]
    amount_type: AmountType,
    /// Minimum amount.
    #[arg(long)]
    amount_from: Option<f64>,
    /// Maximum amount.
    #[arg(long)]
    amount_to: Option<f64>,
    /// The seller's NIP.
    #[arg(long)]
    seller_nip: Option<String>,
    /// The buyer's NIP.
    #[arg(long, conflicts_with = "buyer_vat_ue")]
    buyer_nip: Option<String>,
    /// The buyer's EU VAT number.
    #[arg(long)]
    buyer_vat_ue: Option<String>,
    /// The invoice number given by the seller (P_2).
    #[arg(long)]
    invoice_number: Option<String>,
    /// The KSeF number.
    #[arg(long)]
    ksef_number: Option<String>,
    /// Form type: FA, PEF, FA_RR.
    #[arg(long)]
    form_type: Option<String>,
    /// Currency code, e.g. PLN, EUR (repeatable).
    #[arg(long = "currency")]
    currencies: Vec<String>,
    /// Invoice type: Vat, Zal, Kor, Roz, Upr, KorZal, KorRoz, VatPef, ... (repeatable).
    #[arg(long = "invoice-type")]
    invoice_types: Vec<String>,
    /// Only invoices issued online or offline.
    #[arg(long, value_parser = ["online", "offline"])]
    mode: Option<String>,
    /// Only invoices with (true) or without (false) an attachment.
    #[arg(long)]
    has_attachment: Option<bool>,
    /// Only self-invoicing (true) or other (false) invoices.
    #[arg(long)]
    self_invoicing: Option<bool>,
}

/// A date flag: RFC 3339, or a day (its start, or its end when `end`).
fn parse_time(flag: &str, s: &str, end: bool) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Failure::new(exit::USAGE, format!("{flag} {s:?}: expected YYYY-MM-DD or an RFC 3339 time")))?;
    let t = if end { day.and_hms_opt(23, 59, 59) } else { day.and_hms_opt(0, 0, 0) };
    t.map(|t| t.and_utc()).ok_or_else(|| Failure::new(exit::USAGE, format!("{flag} {s:?}: bad date")))
}

impl Filters {
    /// The request filters, validated by the model (NIP checksums, patterns, enum names).
    pub(crate) fn build(&self) -> Result<InvoiceQueryFilters, Failure> {
        let from = match &self.from {
            Some(s) => parse_time("--from", s, false)?,
            None => Utc::now() - chrono::Duration::days(30),
        };
        let to = self.to.as_deref().map(|s| parse_time("--to", s, true)).transpose()?;
        if to.is_some_and(|t| t < from) {
            return Err(Failure::new(exit::USAGE, "--to is before --from"));
        }
        let date_type = match self.date_type {
            DateType::Issue => "Issue",
            DateType::Invoicing => "Invoicing",
            DateType::PermanentStorage => "PermanentStorage",
        };
        let mut f = json!({
            "subjectType": self.subject.wire(),
            "dateRange": { "dateType": date_type, "from": from, "to": to },
        });
        if self.amount_from.is_some() || self.amount_to.is_some() {
            let t = match self.amount_type {
                AmountType::Brutto => "Brutto",
                AmountType::Netto => "Netto",
                AmountType::Vat => "Vat",
            };
            f["amount"] = json!({ "type": t, "from": self.amount_from, "to": self.amount_to });
        }
        if let Some(n) = &self.seller_nip {
            n.parse::<ksef_model::Nip>().map_err(|e| usage("--seller-nip", e))?;
            f["sellerNip"] = json!(n);
        }
        if let Some(n) = &self.buyer_nip {
            n.parse::<ksef_model::Nip>().map_err(|e| usage("--buyer-nip", e))?;
            f["buyerIdentifier"] = json!({ "type": "Nip", "value": n });
        }
        if let Some(v) = &self.buyer_vat_ue {
            f["buyerIdentifier"] = json!({ "type": "VatUe", "value": v });
        }
        if let Some(n) = &self.invoice_number {
            f["invoiceNumber"] = json!(n);
        }
        if let Some(k) = &self.ksef_number {
            k.parse::<ksef_model::KsefNumber>().map_err(|e| usage("--ksef-number", e))?;
            f["ksefNumber"] = json!(k);
        }
        if let Some(t) = &self.form_type {
            super::parse_enum::<ksef_model::types::InvoiceQueryFormType>("--form-type", t, "FA, PEF, FA_RR")?;
            f["formType"] = json!(t);
        }
        if !self.currencies.is_empty() {
            for c in &self.currencies {
                super::parse_enum::<ksef_model::types::CurrencyCode>(
                    "--currency",
                    c,
                    "ISO 4217 codes such as PLN, EUR",
                )?;
            }
            f["currencyCodes"] = json!(self.currencies);
        }
        if !self.invoice_types.is_empty() {
            for t in &self.invoice_types {
                super::parse_enum::<ksef_model::types::InvoiceType>(
                    "--invoice-type",
                    t,
                    "Vat, Zal, Kor, Roz, Upr, KorZal, KorRoz, VatPef, VatPefSp, KorPef, VatRr, KorVatRr",
                )?;
            }
            f["invoiceTypes"] = json!(self.invoice_types);
        }
        if let Some(m) = &self.mode {
            f["invoicingMode"] = json!(if m == "online" { "Online" } else { "Offline" });
        }
        if let Some(b) = self.has_attachment {
            f["hasAttachment"] = json!(b);
        }
        if let Some(b) = self.self_invoicing {
            f["isSelfInvoicing"] = json!(b);
        }
        serde_json::from_value(f).map_err(|e| usage("filters", e))
    }
}

/// `ksef invoices query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    filters: Filters,
    /// Invoices per page (10..=250).
    #[arg(long)]
    page_size: Option<u32>,
    /// Which page (0-based), unless --all.
    #[arg(long, default_value_t = 0, conflicts_with = "all")]
    page: u32,
    /// Fetch every page.
    #[arg(long)]
    all: bool,
    /// Sort by the range's date.
    #[arg(long, value_parser = ["asc", "desc"], default_value = "asc")]
    sort: String,
    #[command(flatten)]
    login: LoginArgs,
}

/// Runs `ksef invoices query`.
pub(crate) fn query(a: QueryArgs, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let filters = a.filters.build()?;
    let page_size = super::page_size(a.page_size, 10, 250)?;
    let page = i32::try_from(a.page).map_err(|e| usage("--page", e))?;
    let r = remote(g, state, &a.login)?;
    let mut params = QueryInvoiceMetadataParams {
        sort_order: Some(if a.sort == "desc" { SortOrder::Desc } else { SortOrder::Asc }),
        page_offset: Some(page),
        page_size,
    };
    let mut invoices = Vec::new();
    let (mut has_more, mut truncated, mut hwm);
    loop {
        let resp = r.call::<QueryInvoiceMetadata>(&params, filters.clone())?;
        has_more = resp.has_more;
        truncated = resp.is_truncated;
        hwm = resp.permanent_storage_hwm_date;
        invoices.extend(resp.invoices);
        if !a.all || !has_more {
            break;
        }
        params.page_offset = Some(params.page_offset.unwrap_or(0).saturating_add(1));
    }
    let rows: Vec<Value> = invoices.iter().map(super::to_json).collect::<Result<_, _>>()?;
    let v = json!({
        "invoices": rows,
        "count": rows.len(),
        "has_more": has_more,
        "is_truncated": truncated,
        "permanent_storage_hwm_date": hwm,
    });
    emit(g.output, &v, || {
        for m in &rows {
            println!("{}", human_row(m));
        }
        println!("{} invoice(s)", rows.len());
        if has_more {
            println!("more pages: pass --page {} or --all", params.page_offset.unwrap_or(0).saturating_add(1));
        }
        if truncated {
            println!("the result was truncated at KSeF's limit: narrow the date range (--from/--to)");
        }
    })?;
    Ok(exit::OK)
}

/// One metadata row: KSeF number, issue date, number, seller, buyer, gross amount and currency.
fn human_row(m: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let buyer = &m["buyer"]["identifier"];
    format!(
        "{}  {}  {:<20}  seller {}  buyer {}  {:>12.2} {}",
        s(&m["ksefNumber"]),
        s(&m["issueDate"]),
        s(&m["invoiceNumber"]),
        s(&m["seller"]["nip"]),
        buyer["value"].as_str().unwrap_or_else(|| buyer["type"].as_str().unwrap_or("-")),
        m["grossAmount"].as_f64().unwrap_or(0.0),
        s(&m["currency"]),
    )
}

/// `ksef invoices export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    filters: Filters,
    /// Target directory: <KSeF number>.xml per invoice and _metadata.json.
    #[arg(long)]
    dir: PathBuf,
    #[command(flatten)]
    login: LoginArgs,
}

/// A KSeF number usable as a file name (no separators, no leading dot).
fn safe_name(n: &str) -> bool {
    !n.is_empty() && !n.starts_with('.') && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Runs `ksef invoices export`.
pub(crate) fn export(a: ExportArgs, g: &Settings, state: &Path) -> Result<u8, Failure> {
    let filters = a.filters.build()?;
    let r = remote(g, state, &a.login)?;
    let human = g.output == Output::Human;
    let spinner = if human {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message("exporting (KSeF prepares the package)...");
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = r.client().export_invoices_blocking(&filters);
    spinner.finish_and_clear();
    let result = result?;
    std::fs::create_dir_all(&a.dir).map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", a.dir.display())))?;
    let bar = if human {
        let pb = indicatif::ProgressBar::new(result.invoices.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} invoices written") {
            pb.set_style(style);
        }
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut files = Vec::new();
    for (number, xml) in &result.invoices {
        if !safe_name(number) {
            return Err(Failure::new(
                exit::ERROR,
                format!("export package names an unsafe file {number:?}; nothing more written"),
            ));
        }
        let path = a.dir.join(format!("{number}.xml"));
        crate::write_file(&path, xml, false)
            .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
        files.push(path);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let meta_path = a.dir.join("_metadata.json");
    let meta = serde_json::to_vec_pretty(&json!({ "invoices": result.metadata }))
        .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    crate::write_file(&meta_path, &meta, false)?;
    let pkg = &result.package;
    let v = json!({
        "reference_number": result.reference_number,
        "dir": a.dir,
        "invoices": files.len(),
        "metadata": meta_path,
        "is_truncated": pkg.is_truncated,
        "last_invoicing_date": pkg.last_invoicing_date,
    });
    emit(g.output, &v, || {
        println!("export {}: {} invoice(s) in {}", result.reference_number, files.len(), a.dir.display());
        println!("metadata: {}", meta_path.display());
        if pkg.is_truncated {
            println!("the package was truncated at KSeF's limit: export again from the last invoicing date");
        }
    })?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        f: Filters,
    }

    fn filters(args: &[&str]) -> Result<Value, Failure> {
        let t = T::try_parse_from(std::iter::once("t").chain(args.iter().copied())).expect("flags parse");
        t.f.build().map(|f| serde_json::to_value(f).expect("serializes"))
    }

    #[test]
    fn a_day_means_its_start_or_its_end() {
        let v = filters(&["--from", "2026-02-01", "--to", "2026-02-03", "--date-type", "issue"]).unwrap();
        assert_eq!(v["dateRange"]["from"], "2026-02-01T00:00:00Z");
        assert_eq!(v["dateRange"]["to"], "2026-02-03T23:59:59Z");
        assert_eq!(v["dateRange"]["dateType"], "Issue");
        assert_eq!(v["subjectType"], "Subject2");
        let v = filters(&["--from", "2026-02-01T10:00:00+01:00"]).unwrap();
        assert_eq!(v["dateRange"]["from"], "2026-02-01T09:00:00Z");
    }

    #[test]
    fn every_filter_reaches_the_request() {
        let v = filters(&[
            "--subject",
            "seller",
            "--amount-type",
            "vat",
            "--amount-from",
            "1",
            "--amount-to",
            "2.5",
            "--buyer-vat-ue",
            "DE123",
            "--invoice-number",
            "FV/1",
            "--form-type",
            "FA_RR",
            "--currency",
            "EUR",
            "--invoice-type",
            "Kor",
            "--mode",
            "offline",
            "--has-attachment",
            "true",
            "--self-invoicing",
            "false",
        ])
        .unwrap();
        assert_eq!(v["subjectType"], "Subject1");
        assert_eq!(v["amount"], json!({ "type": "Vat", "from": 1.0, "to": 2.5 }));
        assert_eq!(v["buyerIdentifier"], json!({ "type": "VatUe", "value": "DE123" }));
        assert_eq!(v["invoiceNumber"], "FV/1");
        assert_eq!(v["formType"], "FA_RR");
        assert_eq!(v["currencyCodes"], json!(["EUR"]));
        assert_eq!(v["invoiceTypes"], json!(["Kor"]));
        assert_eq!(v["invoicingMode"], "Offline");
        assert_eq!(v["hasAttachment"], true);
        assert_eq!(v["isSelfInvoicing"], false);
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_flag() {
        for (args, flag) in [
            (&["--ksef-number", "123"][..], "--ksef-number"),
            (&["--buyer-nip", "5265877636"][..], "--buyer-nip"),
            (&["--form-type", "XYZ"][..], "--form-type"),
            (&["--invoice-type", "Nope"][..], "--invoice-type"),
            (&["--to", "2026-13-01"][..], "--to"),
        ] {
            let e = filters(args).unwrap_err();
            assert_eq!(e.code, exit::USAGE);
            assert!(e.message.contains(flag), "{}", e.message);
        }
    }

    #[test]
    fn export_file_names_cannot_escape_the_directory() {
        assert!(safe_name("5265877635-20260201-0123456789AB-01"));
        for bad in ["../x", "a/b", ".hidden", "", "a\\b", "x y"] {
            assert!(!safe_name(bad), "{bad}");
        }
    }
}
