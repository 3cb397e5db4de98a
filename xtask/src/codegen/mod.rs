//! `cargo xtask codegen`: turns the pinned KSeF OpenAPI spec into `ksef-model/src/generated/`.
//!
//! Pipeline: read the spec (raw JSON, so fixups can patch anything) → apply the explicit fixups of
//! [`fixups`] → generate the serde types with progenitor/typify ([`model`]) and the operation table
//! ([`operations`]) → format with prettyplease → write, or compare with what is committed.

mod fixups;
mod model;
mod operations;
mod spec;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use spec::Spec;

/// What `run` does with the generated files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Write the files to disk.
    Write,
    /// Compare with the committed files; fail with a diff on any difference.
    Check,
}

/// The command a maintainer runs to regenerate; printed in every header.
pub const REGENERATE: &str = "cargo xtask codegen";

/// Runs the generator.
pub fn run(mode: Mode, spec_path: Option<PathBuf>) -> Result<()> {
    let root = project_root();
    let spec_path = spec_path.unwrap_or_else(|| default_spec_path(&root));
    let files = generate(&spec_path)?;
    match mode {
        Mode::Write => {
            for (rel, contents) in &files {
                let path = root.join(rel);
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let old = fs::read_to_string(&path).unwrap_or_default();
                if old != *contents {
                    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("updated {rel}");
                }
            }
            remove_stale(&root, &files)?;
            eprintln!("codegen: {} files up to date", files.len());
            Ok(())
        }
        Mode::Check => check(&root, &files),
    }
}

/// Generates every file, keyed by its path relative to the repository root.
pub fn generate(spec_path: &Path) -> Result<BTreeMap<String, String>> {
    let mut spec = Spec::load(spec_path)?;
    let names = operations::OperationNames::load(&project_root().join("xtask/spec/operations.toml"))?;
    fixups::apply_all(&mut spec.json, &names)?;

    let header = spec.header();
    let model = model::generate(&spec)?;
    let ops = operations::generate(&spec, &names)?;

    let mut files = BTreeMap::new();
    files.insert("ksef-model/src/generated/mod.rs".to_owned(), with_header(&header, GENERATED_MOD)?);
    files.insert("ksef-model/src/generated/types.rs".to_owned(), with_header(&header, &model.types)?);
    files.insert("ksef-model/src/generated/operations.rs".to_owned(), with_header(&header, &ops.table)?);
    files.insert("ksef-model/tests/it/generated_dispatch.rs".to_owned(), with_header(&header, &model.dispatch)?);
    files.insert("ksef-model/SPEC.toml".to_owned(), spec.provenance_toml(model.type_count, ops.count));
    Ok(files)
}

const GENERATED_MOD: &str = "\
//! Code generated from the KSeF OpenAPI spec. See `ksef-model/SPEC.toml` for its provenance.

/// Serde types for every schema of the spec (`components.schemas` and the inline
/// request/response schemas under `paths`).
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all, unused_qualifications)]
pub mod types;

/// The operation table: one [`OperationSpec`](crate::OperationSpec) per operation of the spec,
/// and one marker type per operation implementing [`Operation`](crate::Operation).
#[allow(clippy::all, clippy::pedantic, rustdoc::all)]
pub mod operations;
";

fn with_header(header: &str, body: &str) -> Result<String> {
    let mut s = String::with_capacity(header.len() + body.len() + 1);
    s.push_str(header);
    s.push('\n');
    s.push_str(body);
    Ok(normalize(rustfmt(&s)?))
}

/// Rewrites multi-line `#[doc = "..."]` attributes as one attribute per line, so that prettyplease
/// prints `///` comments: rustfmt re-indents `/** */` blocks on every run and never settles.
pub fn split_doc_lines(file: &mut syn::File) {
    use syn::visit_mut::VisitMut;
    struct Splitter;
    impl VisitMut for Splitter {
        fn visit_attributes_mut(&mut self, attrs: &mut Vec<syn::Attribute>) {
            let mut out = Vec::with_capacity(attrs.len());
            for attr in attrs.drain(..) {
                let text = match &attr.meta {
                    syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) if s.value().contains('\n') => {
                            Some(s.value())
                        }
                        _ => None,
                    },
                    _ => None,
                };
                match text {
                    Some(text) => {
                        for line in text.lines() {
                            let line = if line.is_empty() || line.starts_with(' ') {
                                line.trim_end().to_owned()
                            } else {
                                format!(" {}", line.trim_end())
                            };
                            out.push(syn::parse_quote!(#[doc = #line]));
                        }
                    }
                    None => out.push(attr),
                }
            }
            *attrs = out;
        }
    }
    Splitter.visit_file_mut(file);
}

/// Formats with the toolchain's stable rustfmt and the repository's `rustfmt.toml`, so that
/// `cargo fmt --check` and `codegen --check` agree on generated files.
fn rustfmt(src: &str) -> Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let root = project_root();
    let mut child = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", "2024", "--emit", "stdout", "--config-path"])
        .arg(root.join("rustfmt.toml"))
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt (install it with `rustup component add rustfmt`)")?;
    let mut stdin = child.stdin.take().context("rustfmt stdin")?;
    let input = src.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("rustfmt writer panicked"))??;
    anyhow::ensure!(out.status.success(), "rustfmt failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// `\n` line endings, exactly one trailing newline.
fn normalize(s: String) -> String {
    let mut s = s.replace("\r\n", "\n");
    while s.ends_with("\n\n") {
        s.pop();
    }
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn check(root: &Path, files: &BTreeMap<String, String>) -> Result<()> {
    let mut stale = Vec::new();
    for (rel, want) in files {
        let have = fs::read_to_string(root.join(rel)).unwrap_or_default().replace("\r\n", "\n");
        if have != *want {
            let diff = similar::TextDiff::from_lines(&have, want);
            eprintln!("--- {rel} (committed)\n+++ {rel} (generated)");
            eprint!("{}", diff.unified_diff().context_radius(2));
            stale.push(rel.clone());
        }
    }
    for extra in stale_files(root, files)? {
        eprintln!("{extra}: not produced by the generator any more");
        stale.push(extra);
    }
    if stale.is_empty() {
        eprintln!("codegen --check: {} generated files are fresh", files.len());
        Ok(())
    } else {
        bail!("generated files are stale: {}. Run `{REGENERATE}` and commit the result.", stale.join(", "))
    }
}

/// Files in `ksef-model/src/generated/` that the generator no longer produces.
fn stale_files(root: &Path, files: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let dir = root.join("ksef-model/src/generated");
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries {
            let rel = format!("ksef-model/src/generated/{}", e?.file_name().to_string_lossy());
            if !files.contains_key(&rel) {
                out.push(rel);
            }
        }
    }
    Ok(out)
}

fn remove_stale(root: &Path, files: &BTreeMap<String, String>) -> Result<()> {
    for rel in stale_files(root, files)? {
        fs::remove_file(root.join(&rel))?;
        eprintln!("removed {rel}");
    }
    Ok(())
}

/// The repository root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// `../shared/ksef-spec/openapi.json`, beside the repository.
pub fn default_spec_path(root: &Path) -> PathBuf {
    root.join("../shared/ksef-spec/openapi.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test` catches drift too, not only `cargo xtask codegen --check`.
    #[test]
    fn generated_files_are_fresh() {
        let root = project_root();
        let spec = std::env::var_os("KSEF_OPENAPI").map(PathBuf::from).unwrap_or_else(|| default_spec_path(&root));
        let files = generate(&spec).expect("generation succeeds");
        check(&root, &files).expect("committed generated files match the generator");
    }
}
