//! Batch packaging throughput: invoice XML → archive → parts → AES-256-CBC, ZIP and TarGz.
//!
//! `cargo bench -p ksef-client --bench batch` packages 100 MB of generated invoices;
//! `KSEF_BENCH_1GB=1` adds a 1 GB run. Encrypted parts go to a counting sink, so the figure is
//! the CPU cost of packaging (the RSS example measures the real temp-file path).

use std::io::{self, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ksef_client::batch::{BatchBuilder, Compression, PartSink};
use ksef_crypto::SessionKey;

#[path = "support/invoice_gen.rs"]
mod invoice_gen;

/// Discards the ciphertext, counting it.
struct CountingSink;

struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PartSink for CountingSink {
    type Part = u64;
    type Writer = Counter;
    fn begin(&mut self, _ordinal: u32) -> io::Result<Counter> {
        Ok(Counter(0))
    }
    fn end(&mut self, _ordinal: u32, w: Counter) -> io::Result<u64> {
        Ok(w.0)
    }
}

fn package(key: &SessionKey, compression: Compression, invoices: &[Vec<u8>], repeat: usize) -> u64 {
    let mut b = BatchBuilder::new(key, compression, CountingSink);
    let mut n = 0;
    for round in 0..repeat {
        for inv in invoices {
            b.add_invoice(&format!("{round}-{n}.xml"), inv).expect("add");
            n += 1;
        }
    }
    b.finish().expect("finish").archive.size
}

fn bench(c: &mut Criterion) {
    let key = SessionKey::from_parts(&[1; 32], &[2; 16]).expect("key");
    let mut sizes: Vec<(&str, u64)> = vec![("100MB", 100_000_000)];
    if std::env::var_os("KSEF_BENCH_1GB").is_some() {
        sizes.push(("1GB", 1_000_000_000));
    }
    for (label, total) in sizes {
        let size = invoice_gen::invoice_size_for(total);
        // 500 distinct invoices, reused under different names, keep the bench's own memory small.
        let distinct: Vec<Vec<u8>> = (0..500).map(|i| invoice_gen::invoice(i, size)).collect();
        let per_round: u64 = distinct.iter().map(|v| v.len() as u64).sum();
        let repeat = total.div_ceil(per_round) as usize;
        let bytes = per_round * repeat as u64;
        let mut g = c.benchmark_group(format!("batch_{label}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(bytes));
        for (name, comp) in [("zip", Compression::Zip), ("targz", Compression::TarGz)] {
            g.bench_function(name, |b| b.iter(|| package(&key, comp, &distinct, repeat)));
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
