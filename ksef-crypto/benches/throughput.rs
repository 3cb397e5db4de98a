//! AES-256-CBC encryption and SHA-256 throughput on 1 MiB and 100 MiB.
//!
//! aes 0.9 and sha2 0.11 pick AES-NI (or VAES) / SHA-NI at run time (cpufeatures); nothing to
//! enable. CBC encryption is inherently sequential (each block depends on the previous one), so
//! its speed is the latency of one AES-256 block plus whatever else sits on the chain: our
//! encryptor keeps the chaining value in a register (see `CbcChain` in `src/symmetric.rs`).
//! Compare with `openssl speed -evp aes-256-cbc -bytes 16384` and `openssl speed -evp sha256`
//! in the same run.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ksef_crypto::{SessionKey, Sha256Stream, sha256};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = SessionKey::from_parts(&[7u8; 32], &[9u8; 16]).unwrap();
    let mut g = c.benchmark_group("throughput");
    g.sample_size(10);
    for (label, size) in [("1MiB", 1usize << 20), ("100MiB", 100usize << 20)] {
        let data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let mut out = Vec::with_capacity(size + 16);
        g.bench_with_input(BenchmarkId::new("aes256cbc_encrypt", label), &data, |b, d| {
            b.iter(|| {
                out.clear();
                let mut e = key.encryptor();
                e.update(black_box(d), &mut out);
                e.finish(&mut out);
                black_box(out.len())
            });
        });
        let mut buf = data.clone();
        g.bench_with_input(BenchmarkId::new("aes256cbc_encrypt_in_place", label), &data, |b, d| {
            b.iter(|| {
                // Same work as `openssl speed`: one buffer encrypted where it is.
                buf.truncate(d.len());
                key.encrypt_in_place(black_box(&mut buf));
                black_box(buf.len())
            });
        });
        let ct = key.encrypt(&data);
        let mut pt = Vec::with_capacity(size + 16);
        g.bench_with_input(BenchmarkId::new("aes256cbc_decrypt", label), &ct, |b, d| {
            b.iter(|| {
                pt.clear();
                let mut dec = key.decryptor();
                dec.update(black_box(d), &mut pt);
                dec.finish(&mut pt).unwrap();
                black_box(pt.len())
            });
        });
        g.bench_with_input(BenchmarkId::new("sha256", label), &data, |b, d| {
            b.iter(|| black_box(sha256(black_box(d))));
        });
        g.bench_with_input(BenchmarkId::new("sha256_stream_64k_chunks", label), &data, |b, d| {
            b.iter(|| {
                let mut s = Sha256Stream::new();
                for c in d.chunks(64 * 1024) {
                    s.update(c);
                }
                black_box(s.finish())
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
