//! `ksef emulator serve`: runs the KSeF emulator in the foreground until the process is stopped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Options of `ksef emulator serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Data directory (SQLite); default <state dir>/emulator.
    #[arg(long, conflicts_with = "in_memory")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory (lost on exit).
    #[arg(long)]
    pub in_memory: bool,
    /// HTTP fault configuration: TOML (JSON when the name ends in .json), see the ksef-emulator
    /// README; also settable at run time with POST /_emulator/faults.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Seed of reference numbers, KSeF numbers and (without a data directory) the server keys
    /// and token secret.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Do not enforce KSeF's rate limits (load tests).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Hold each queued job (invoice, session close) this many milliseconds before finishing
    /// it; invoices report status 150 meanwhile.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub processing_delay: u64,
    /// Access-token lifetime: seconds, or a number with s, m, h or d (default 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub access_token_ttl: Option<chrono::Duration>,
    /// Refresh-token lifetime: seconds, or a number with s, m, h or d (default 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub refresh_token_ttl: Option<chrono::Duration>,
    /// Host name in pre-signed storage URLs (batch parts, UPOs, exports); the listening port is
    /// appended when it has none. Give it a loopback alias (e.g. `127.0.0.1 ksef-storage.test`
    /// in /etc/hosts): careful clients refuse localhost in pre-signed links.
    #[arg(long, value_name = "HOST")]
    pub storage_host: Option<String>,
}

/// Why the emulator could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be created.
    #[error("could not create the data directory {0}")]
    DataDir(PathBuf, #[source] std::io::Error),
    /// The emulator did not start (bind, data directory, fault file, keys).
    #[error("the emulator did not start")]
    Start(#[from] ksef_emulator::StartError),
}

/// `5`, `30s`, `15m`, `12h`, `7d` → a positive duration.
pub fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits.parse().map_err(|_| format!("`{s}`: expected a number with s, m, h or d"))?;
    let d = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => return Err(format!("`{s}`: unit must be s, m, h or d")),
    };
    d.filter(|d| *d > chrono::Duration::zero()).ok_or_else(|| format!("`{s}`: must be positive and not too large"))
}

/// Starts the emulator as configured; prints its base URL (or JSON with `json`) and serves until
/// the process is stopped.
pub fn serve(args: ServeArgs, state_dir: &Path, json: bool) -> Result<std::convert::Infallible, ServeError> {
    let mut lifetimes = ksef_emulator::TokenLifetimes::default();
    if let Some(t) = args.access_token_ttl {
        lifetimes.access = t;
    }
    if let Some(t) = args.refresh_token_ttl {
        lifetimes.refresh = t;
    }
    let mut b = ksef_emulator::Emulator::builder()
        .bind(SocketAddr::new(args.bind, args.port))
        .rate_limits(!args.no_rate_limits)
        .processing_delay(std::time::Duration::from_millis(args.processing_delay))
        .lifetimes(lifetimes);
    if let Some(seed) = args.seed {
        b = b.seed(seed);
    }
    if let Some(f) = &args.faults {
        b = b.http_faults_file(f);
    }
    if let Some(h) = args.storage_host {
        b = if h.contains(':') { b.storage_host(h) } else { b.storage_host_on_listening_port(h) };
    }
    let dir = (!args.in_memory).then(|| args.data_dir.unwrap_or_else(|| state_dir.join("emulator")));
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).map_err(|e| ServeError::DataDir(d.clone(), e))?;
        b = b.data_dir(d);
    }
    let emu = b.start()?;
    eprintln!("NOTE: this is an emulator - nothing is sent to KSeF. Ctrl-C stops it.");
    if json {
        println!("{}", serde_json::json!({ "base_url": emu.base_url(), "data_dir": dir }));
    } else {
        println!("{}", emu.base_url());
        match &dir {
            Some(d) => eprintln!("data: {}", d.display()),
            None => eprintln!("data: in memory"),
        }
    }
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(chrono::Duration::seconds(90)));
        assert_eq!(parse_duration("15m"), Ok(chrono::Duration::minutes(15)));
        assert_eq!(parse_duration("7d"), Ok(chrono::Duration::days(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999d").is_err());
    }
}
