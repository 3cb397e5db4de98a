//! Package generated invoices into encrypted parts on disk and report throughput and peak RSS.
//!
//! `cargo run --release -p ksef-client --example batch_rss -- <MB> <zip|targz> [dir]`
//! (run under `/usr/bin/time -v` for an independent peak-RSS figure).

use std::time::Instant;

use ksef_client::batch::{BatchBuilder, Compression, TempFileSink};
use ksef_crypto::SessionKey;

#[path = "../benches/support/invoice_gen.rs"]
mod invoice_gen;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: u64 = args.first().map_or(Ok(100), |s| s.parse())?;
    let compression = match args.get(1).map_or("zip", String::as_str) {
        "zip" => Compression::Zip,
        "targz" => Compression::TarGz,
        other => return Err(format!("unknown format {other}").into()),
    };
    let sink = match args.get(2) {
        Some(d) => TempFileSink::in_dir(d),
        None => TempFileSink::new(),
    };
    let total = mb * 1_000_000;
    let size = invoice_gen::invoice_size_for(total);
    let key = SessionKey::from_parts(&[1; 32], &[2; 16])?;
    let start = Instant::now();
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
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{compression:?}: {i} invoices, {:.1} MB XML -> archive {:.1} MB in {} part(s), {:.2} s, {:.1} MB/s of XML, peak RSS {} KiB",
        fed as f64 / 1e6,
        pkg.archive.size as f64 / 1e6,
        pkg.parts.len(),
        secs,
        fed as f64 / 1e6 / secs,
        peak_rss_kib().map_or_else(|| "n/a".to_owned(), |k| k.to_string()),
    );
    Ok(())
}
