//! Package generated invoices into encrypted parts on disk, optionally send them through the
//! async streaming path to an emulator, and report throughput and peak RSS (`VmHWM`).
//!
//! `cargo run --release -p ksef-client --features reqwest --example batch_rss -- <MB> <zip|targz> [--upload] [dir]`
//!
//! - without `--upload`: packaging only ([`BatchBuilder`] into a [`TempFileSink`], in `dir` if
//!   given), one generated invoice alive at a time;
//! - with `--upload`: [`KsefClient::send_batch_streaming`] (package on a blocking thread, parts
//!   streamed from their temp files, 4 in parallel) to a `ksef-emulator` that runs in a **child
//!   process** (this binary re-executed with `--serve-emulator`), so the emulator's memory (it
//!   keeps the parts) does not count in this process's peak RSS. Invoices are produced lazily by
//!   readers, so the input never sits in memory either.
//!
//! Run under `/usr/bin/time -v` for an independent peak-RSS figure.

use std::io::{BufRead, Read};
use std::time::Instant;

use ksef_client::batch::{BatchBuilder, Compression, TempFileSink};
use ksef_client::flows::{BatchInvoice, BatchOptions};
use ksef_client::{Authenticator, FormCode, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{ContextIdentifier, SessionKey, UnixTime};

#[path = "../benches/support/invoice_gen.rs"]
mod invoice_gen;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A generated invoice, produced on first read and dropped when read to the end.
struct LazyInvoice {
    i: u64,
    size: usize,
    buf: Option<std::io::Cursor<Vec<u8>>>,
}

impl Read for LazyInvoice {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let (i, size) = (self.i, self.size);
        let cur = self.buf.get_or_insert_with(|| std::io::Cursor::new(invoice_gen::invoice(i, size)));
        let n = cur.read(out)?;
        if n == 0 {
            self.buf = Some(std::io::Cursor::new(Vec::new()));
        }
        Ok(n)
    }
}

/// How many invoices of `size` bytes make `total` bytes (the last one may overshoot).
fn invoice_count(total: u64, size: usize) -> u64 {
    let (mut fed, mut i) = (0u64, 0u64);
    while fed < total {
        fed += invoice_gen::invoice(i, size).len() as u64;
        i += 1;
    }
    i
}

fn serve_emulator() -> Result<(), Box<dyn std::error::Error>> {
    let emu = ksef_emulator::Emulator::builder().start()?;
    println!("{}", emu.base_url());
    // Serve until the parent closes our stdin.
    let mut line = String::new();
    while std::io::stdin().lock().read_line(&mut line)? > 0 {}
    Ok(())
}

fn package_only(
    total: u64,
    size: usize,
    compression: Compression,
    dir: Option<&String>,
) -> Result<String, Box<dyn std::error::Error>> {
    let sink = match dir {
        Some(d) => TempFileSink::in_dir(d),
        None => TempFileSink::new(),
    };
    let key = SessionKey::from_parts(&[1; 32], &[2; 16])?;
    let mut b = BatchBuilder::new(&key, compression, sink);
    let (mut fed, mut i) = (0u64, 0u64);
    while fed < total {
        // Generated on the fly: only one invoice is alive at a time.
        let inv = invoice_gen::invoice(i, size);
        fed += inv.len() as u64;
        b.add_invoice(&format!("invoice-{i:05}.xml"), &inv)?;
        i += 1;
    }
    let pkg = b.finish()?;
    Ok(format!(
        "{i} invoices, {:.1} MB XML -> archive {:.1} MB in {} part(s)",
        fed as f64 / 1e6,
        pkg.archive.size as f64 / 1e6,
        pkg.parts.len()
    ))
}

fn upload(
    total: u64,
    size: usize,
    compression: Compression,
    dir: Option<&String>,
) -> Result<String, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .arg("--serve-emulator")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut url = String::new();
    std::io::BufReader::new(child.stdout.take().ok_or("no child stdout")?).read_line(&mut url)?;
    let url = url.trim().to_owned();
    let count = invoice_count(total, size);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let client = KsefClient::builder(url.parse()?)
            .allow_loopback_urls(true)
            .build(ksef_transport::ReqwestTransport::new(&ksef_transport::TransportConfig::default())?)?;
        let nip = invoice_gen::SELLER_NIP;
        let subject = serde_json::from_value(serde_json::json!({
            "subjectNip": nip, "subjectType": "JST", "description": "batch_rss"
        }))?;
        client.call::<ksef_model::operations::TestdataCreateSubject>(&(), subject).await?;
        let yesterday = UnixTime::from_secs(UnixTime::now().as_secs() - 86_400);
        let seal = TestIdentity::generate(
            KeyAlgorithm::P256,
            &SubjectFields::seal(nip, "batch_rss")?,
            yesterday,
            30,
            &mut rand::rng(),
        )?;
        client.login(Authenticator::xades(ContextIdentifier::Nip(nip.into()), seal)).await?;
        let invoices = (0..count)
            .map(|i| BatchInvoice::Reader {
                file_name: format!("invoice-{i:05}.xml"),
                reader: Box::new(LazyInvoice { i, size, buf: None }),
            })
            .collect();
        let opts = BatchOptions { compression, temp_dir: dir.map(Into::into), ..BatchOptions::default() };
        let report = client.send_batch_streaming(FormCode::Fa3, invoices, &opts).await?;
        Ok::<_, Box<dyn std::error::Error>>(format!(
            "{count} invoices -> {} part(s) uploaded, session {} status {}, {} accepted, {} rejected",
            report.parts,
            report.reference_number,
            report.status.status.code,
            report.accepted().count(),
            report.rejected().count()
        ))
    });
    drop(child.stdin.take());
    let _ = child.wait();
    result
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve-emulator") {
        return serve_emulator();
    }
    let upload_mode = args.iter().any(|a| a == "--upload");
    args.retain(|a| a != "--upload");
    let mb: u64 = args.first().map_or(Ok(100), |s| s.parse())?;
    let compression = match args.get(1).map_or("zip", String::as_str) {
        "zip" => Compression::Zip,
        "targz" => Compression::TarGz,
        other => return Err(format!("unknown format {other}").into()),
    };
    let total = mb * 1_000_000;
    let size = invoice_gen::invoice_size_for(total);
    let start = Instant::now();
    let what = if upload_mode {
        upload(total, size, compression, args.get(2))?
    } else {
        package_only(total, size, compression, args.get(2))?
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{compression:?} {}: {what}, {secs:.2} s, {:.1} MB/s of XML, peak RSS {} KiB",
        if upload_mode { "package+upload (async streaming)" } else { "package" },
        total as f64 / 1e6 / secs,
        peak_rss_kib().map_or_else(|| "n/a".to_owned(), |k| k.to_string()),
    );
    Ok(())
}
