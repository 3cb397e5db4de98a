//! Runs one fuzz harness over every file of a corpus directory, on stable Rust, without
//! libFuzzer: `cargo run --manifest-path fuzz/Cargo.toml --example replay -- TARGET DIR...`.
//! A panic (a failed property) names the file.

use std::path::PathBuf;
use std::process::ExitCode;

fn harness(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "xades_verify" => ksef_fuzz::xades_verify,
        "c14n" => ksef_fuzz::c14n,
        "upo_parse" => ksef_fuzz::upo_parse,
        "ids" => ksef_fuzz::ids,
        "package_extract" => ksef_fuzz::package_extract,
        "response_decode" => ksef_fuzz::response_decode,
        "keys_certs" => ksef_fuzz::keys_certs,
        _ => return None,
    })
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(f) = args.next().as_deref().and_then(harness) else {
        eprintln!(
            "usage: replay TARGET DIR... (targets: xades_verify c14n upo_parse ids package_extract response_decode keys_certs)"
        );
        return ExitCode::from(2);
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in args {
        match std::fs::read_dir(&dir) {
            Ok(rd) => files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file())),
            Err(e) => {
                eprintln!("{dir}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    files.sort();
    for path in &files {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            eprintln!("FAILED on {}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!("{} inputs replayed, no failure", files.len());
    ExitCode::SUCCESS
}
