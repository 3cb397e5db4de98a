//! `cargo xtask`: maintainers' tasks for ksef-rs (see `xtask/README.md`).
#![forbid(unsafe_code)]

mod codegen;
mod corpus;
#[cfg(test)]
mod deps;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "ksef-rs maintainers' tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate `ksef-model/src/generated/` (types and the operation table) from the KSeF OpenAPI spec.
    Codegen {
        /// Regenerate in memory and fail with a diff if any committed file differs.
        #[arg(long)]
        check: bool,
        /// The OpenAPI spec to read (default: `../shared/ksef-spec/openapi.json` beside the repo).
        #[arg(long, env = "KSEF_OPENAPI")]
        spec: Option<PathBuf>,
    },
    /// Generate the hostile-input corpus `hostile-corpus/` (files + `manifest.json`).
    HostileCorpus {
        /// Regenerate in memory and fail if any committed corpus file differs or is stale.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Codegen { check, spec } => {
            let mode = if check { codegen::Mode::Check } else { codegen::Mode::Write };
            codegen::run(mode, spec)
        }
        Command::HostileCorpus { check } => corpus::run(if check { corpus::Mode::Check } else { corpus::Mode::Write }),
    }
}
