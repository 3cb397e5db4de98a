#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod emulator_cmd;
mod invoice;
mod journal;
mod manage;
mod send;
mod send_batch;
mod tokens;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use ksef_client::env::{CustomEnvironment, Environment};
use ksef_client::{Authenticator, FormCode, KsefClient};
use ksef_crypto::x509::{KeyAlgorithm, SubjectFields, TestIdentity};
use ksef_crypto::{Certificate, ContextIdentifier, PrivateKey, UnixTime};
use ksef_transport::{TransportConfig, UreqTransport};

/// Exit codes of `ksef` (also listed in the README).
mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other error (I/O, network, protocol).
    pub const ERROR: u8 = 1;
    /// Usage error (bad flags or arguments; produced by clap as well).
    pub const USAGE: u8 = 2;
    /// Partial success: some invoices were rejected.
    pub const PARTIAL: u8 = 3;
    /// Authentication failed.
    pub const AUTH: u8 = 4;
    /// KSeF answered 429 Too Many Requests even after the client's retries.
    pub const RATE_LIMITED: u8 = 5;
    /// The command is not allowed in the selected environment (e.g. test identities on prod).
    pub const REFUSED: u8 = 6;
}

const AFTER_HELP: &str = "\
ENVIRONMENTS:
  local  an embedded ksef-emulator started in-process (default; nothing is sent to KSeF)
  test   KSeF TE (test), demo  KSeF DEMO (pre-production), prod  KSeF production
  URL    any KSeF-compatible API base URL, e.g. http://127.0.0.1:8080

EXIT CODES:
  0 ok, 1 error, 2 usage, 3 partial (some invoices rejected), 4 authentication failed,
  5 rate limited (HTTP 429 after retries), 6 refused in this environment

FILES:
  state dir: $KSEF_STATE_DIR, else $XDG_STATE_HOME/ksef, else ~/.local/state/ksef
    identities/<name>/key.pem (0600), identities/<name>/cert.pem, emulator/ (local KSeF data)";

/// `ksef`: send, receive and manage KSeF 2.0 invoices.
#[derive(Debug, Parser)]
#[command(name = "ksef", version, about, long_about = None, after_long_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Environment: test, demo, prod, local (embedded emulator) or an API base URL.
    /// [default: local]
    #[arg(long, global = true, env = "KSEF_ENV")]
    env: Option<String>,
    /// A profile from the config file ($KSEF_CONFIG, else <config dir>/ksef/config.toml).
    #[arg(long, global = true, env = "KSEF_PROFILE")]
    profile: Option<String>,
    /// State directory (identities, local emulator data).
    #[arg(long, global = true, env = "KSEF_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Output format on stdout.
    /// [default: human]
    #[arg(long, global = true, value_enum)]
    output: Option<Output>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Output {
    /// Human-readable text.
    Human,
    /// One JSON document per command.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a shell completion script to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The KSeF emulator.
    #[command(subcommand)]
    Emulator(EmulatorCmd),
    /// Prints the ksef(1) man page (roff) to stdout, e.g. `ksef man > ksef.1`.
    Man,
    /// Test identities (self-signed certificates; TE and local only).
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Sends invoice files online or in a batch; every step is journaled, a rerun (or --resume)
    /// finishes an interrupted run without sending anything twice.
    Send {
        /// Invoice XML files or directories (their *.xml).
        files: Vec<PathBuf>,
        /// Resume the newest unfinished run of this environment.
        #[arg(long)]
        resume: bool,
        /// online: one invoice at a time in an online session; batch: an encrypted package;
        /// auto: online for up to 20 files, batch above.
        #[arg(long, value_enum, default_value_t = SendMode::Auto)]
        mode: SendMode,
        /// Batch package archive format.
        #[arg(long, value_enum, default_value_t = Archive::Zip)]
        archive: Archive,
        /// The invoices' form code (schema).
        #[arg(long, value_enum, default_value_t = Form::Fa3)]
        form: Form,
        /// Save each accepted invoice's UPO here as <KSeF number>.xml.
        #[arg(long)]
        upo_dir: Option<PathBuf>,
        /// Declare the invoices as issued in offline mode (`offlineMode`).
        #[arg(long)]
        offline: bool,
        /// Technical correction: Base64 SHA-256 of the invoice this one corrects
        /// (`hashOfCorrectedInvoice`; one file only).
        #[arg(long, value_name = "SHA256_B64")]
        corrects: Option<String>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Logs in and stores the tokens; logs out; lists authentication sessions.
    #[command(subcommand)]
    Auth(AuthCmd),
    /// Incremental download of invoices into a directory (the checkpoint is kept there too).
    Sync {
        /// Target directory; invoices are written as <KSeF number>.xml.
        #[arg(long)]
        dir: PathBuf,
        /// Which side: seller (Subject1), buyer (Subject2), third party (Subject3), authorized.
        #[arg(long, value_enum, default_value_t = SyncSubject::Buyer)]
        subject: SyncSubject,
        /// On the first run, start this many days back.
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Received and issued invoices.
    #[command(subcommand)]
    Invoices(InvoicesCmd),
    /// KOD I QR codes (verification links) for invoice files; offline, no login.
    Qr {
        /// The invoice XML file.
        file: PathBuf,
        /// Seller NIP.
        #[arg(long)]
        nip: String,
        /// Issue date (YYYY-MM-DD, the invoice's P_1).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// The KSeF number, printed under the code (else "OFFLINE").
        #[arg(long)]
        ksef_number: Option<String>,
        /// Write the code here (.png or .svg); otherwise only the link is printed.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Downloads an invoice's UPO by session reference and KSeF number.
    Upo {
        /// Session reference number.
        #[arg(long)]
        session: String,
        /// The invoice's KSeF number.
        #[arg(long)]
        ksef_number: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Effective limits of the current context and subject, and the API rate limits.
    Limits {
        #[command(flatten)]
        login: LoginArgs,
    },
    /// KSeF tokens.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Permissions: grant, revoke, list.
    #[command(subcommand)]
    Permissions(manage::permissions::Cmd),
    /// KSeF certificates: limits, enroll, list, get, revoke.
    #[command(subcommand)]
    Certs(manage::certs::Cmd),
    /// The /testdata API (KSeF TE and local only): subjects, persons, permissions, limits.
    #[command(subcommand)]
    Testdata(manage::testdata::Cmd),
    /// Shows the send journal: one row per file, or with --runs the runs with their batch
    /// packages (session, state, parts uploaded, final status).
    Status {
        /// Only this run.
        #[arg(long)]
        run: Option<i64>,
        /// Runs and their batch packages instead of files.
        #[arg(long)]
        runs: bool,
    },
    /// End to end against the embedded emulator: test subject, identity, XAdES login,
    /// five FA(3) invoices online (UPOs, KOD I QR codes), a batch of 200, sync back.
    Quickstart {
        /// Where to write invoices, UPOs and QR codes (default: <state dir>/quickstart).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// The seller NIP.
        #[arg(long, default_value = "5265877635")]
        nip: String,
    },
}

/// How `ksef send` sends.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SendMode {
    /// Online session, one invoice at a time.
    Online,
    /// Batch session: one encrypted package (ZIP or tar.gz) in parts.
    Batch,
    /// Online for up to 20 files, batch above.
    Auto,
}

/// Batch archive format.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Archive {
    /// ZIP (deflate).
    Zip,
    /// tar + gzip.
    Targz,
}

/// Invoice form codes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Form {
    /// FA (2) (KSeF TE only).
    #[value(name = "FA2")]
    Fa2,
    /// FA (3).
    #[value(name = "FA3")]
    Fa3,
    /// PEF (3).
    #[value(name = "PEF")]
    Pef,
    /// PEF_KOR (3).
    #[value(name = "PEF_KOR")]
    PefKor,
    /// FA_RR (1).
    #[value(name = "FA_RR")]
    FaRr,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Self::Fa2 => "FA2",
            Self::Fa3 => "FA3",
            Self::Pef => "PEF",
            Self::PefKor => "PEF_KOR",
            Self::FaRr => "FA_RR",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SyncSubject {
    Seller,
    Buyer,
    Third,
    Authorized,
}

#[derive(Debug, Subcommand)]
enum InvoicesCmd {
    /// Downloads one invoice's XML by KSeF number (stdout, or --out FILE).
    Get {
        /// The KSeF number.
        ksef_number: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Queries invoice metadata with filters (paged).
    Query(manage::invoices::QueryArgs),
    /// Exports invoices matching filters into a directory (XML files and _metadata.json).
    Export(manage::invoices::ExportArgs),
}

#[derive(Debug, Subcommand)]
enum TokensCmd {
    /// Generates a KSeF token (printed once; store it yourself, e.g. in KSEF_TOKEN).
    #[command(name = "generate", visible_alias = "new")]
    New {
        /// Description (5-256 characters).
        #[arg(long)]
        description: String,
        /// Permissions, KSeF names: InvoiceRead, InvoiceWrite, CredentialsRead, ... (repeatable).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Lists the context's tokens (never their secrets).
    List(manage::tokens::ListArgs),
    /// Shows one token's status.
    Get(manage::tokens::RefArgs),
    /// Revokes a token.
    Revoke(manage::tokens::RefArgs),
}

#[derive(Debug, Subcommand)]
enum AuthCmd {
    /// Logs in and stores the access and refresh tokens in <state dir>/tokens/ (0600).
    Login {
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Revokes the current authentication session and deletes the stored tokens.
    Logout,
    /// Lists authentication sessions of the context.
    Sessions {
        #[command(flatten)]
        login: LoginArgs,
    },
}

/// How to log in (each command logs in on its own).
#[derive(Debug, Args)]
struct LoginArgs {
    /// Context NIP (default: the identity's own NIP).
    #[arg(long)]
    nip: Option<String>,
    /// Context: an internal identifier (`<nip>-<5 digits>`) instead of the NIP.
    #[arg(long, conflicts_with = "nip_vat_ue")]
    internal_id: Option<String>,
    /// Context: a NIP-VAT-UE pair (`<nip>-<VAT UE number>`) instead of the NIP.
    #[arg(long)]
    nip_vat_ue: Option<String>,
    /// A stored identity (<state dir>/identities/NAME); default the NIP.
    #[arg(long)]
    identity: Option<String>,
    /// Certificate file (PEM or DER), with --key.
    #[arg(long, requires = "key", conflicts_with = "p12")]
    cert: Option<PathBuf>,
    /// Private key file (PEM, also `ENCRYPTED PRIVATE KEY`, or PKCS#8/PKCS#1/SEC1 DER), with --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// A PKCS#12 file (.p12/.pfx) holding the certificate and its key, instead of --cert/--key.
    #[arg(long, conflicts_with = "identity")]
    p12: Option<PathBuf>,
    /// File whose first line is the password of an encrypted --key or of --p12. Without it the
    /// password comes from KSEF_KEY_PASSWORD, else it is asked for on the terminal.
    #[arg(long)]
    key_password_file: Option<PathBuf>,
    /// A KSeF token instead of a certificate.
    #[arg(long, env = "KSEF_TOKEN", hide_env_values = true, conflicts_with_all = ["cert", "identity", "p12"])]
    ksef_token: Option<SecretArg>,
}

/// A secret given on the command line or in the environment (a KSeF token): zeroized on drop,
/// redacted in `Debug`, so the parsed arguments can be logged at trace level without leaking it.
#[derive(Clone)]
struct SecretArg(zeroize::Zeroizing<String>);

impl SecretArg {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(s.to_owned())))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArg(<redacted>)")
    }
}

#[derive(Debug, Subcommand)]
enum EmulatorCmd {
    /// Runs the emulator in the foreground until Ctrl-C.
    Serve(emulator_cmd::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum IdentityCmd {
    /// Makes a self-signed test identity and stores it in the state dir.
    New {
        /// NIP (10 digits) of the subject.
        #[arg(long)]
        nip: String,
        /// A person identified by PESEL instead of NIP.
        #[arg(long, conflicts_with = "seal")]
        pesel: Option<String>,
        /// A company seal instead of a person.
        #[arg(long)]
        seal: bool,
        /// ECDSA P-256 key (default RSA-2048).
        #[arg(long)]
        ec: bool,
        /// Identity name (directory under identities/); default the NIP.
        #[arg(long)]
        name: Option<String>,
    },
}

/// A failure with its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<ksef_client::Error> for Failure {
    fn from(e: ksef_client::Error) -> Self {
        let code = match &e {
            ksef_client::Error::Auth(_) => exit::AUTH,
            ksef_client::Error::Api(api) if api.is_rate_limited() => {
                let wait = match api.retry_after() {
                    Some(ksef_transport::RetryAfter::Seconds(s)) => format!("KSeF asks to wait {s} s before retrying"),
                    Some(ksef_transport::RetryAfter::Date(t)) => {
                        let at: chrono::DateTime<chrono::Utc> = t.into();
                        format!("KSeF asks to wait until {}", at.format("%Y-%m-%d %H:%M:%S UTC"))
                    }
                    None => "KSeF gave no Retry-After; wait a minute".to_string(),
                };
                return Self::new(
                    exit::RATE_LIMITED,
                    format!("rate limit exceeded (HTTP 429): {wait}; {}", error_chain(&e)),
                );
            }
            _ => exit::ERROR,
        };
        Self::new(code, error_chain(&e))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::new(exit::ERROR, e.to_string())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn fail(code: u8) -> impl FnOnce(ksef_crypto::Error) -> Failure {
    move |e| Failure::new(code, error_chain(&e))
}

/// The selected KSeF.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Test,
    Demo,
    Prod,
    Local,
    Url(String),
}

impl Target {
    fn parse(s: &str) -> Result<Self, Failure> {
        Ok(match s {
            "test" | "te" => Self::Test,
            "demo" => Self::Demo,
            "prod" | "prd" => Self::Prod,
            "local" => Self::Local,
            u if u.starts_with("http://") || u.starts_with("https://") => Self::Url(u.trim_end_matches('/').into()),
            other => {
                return Err(Failure::new(
                    exit::USAGE,
                    format!("unknown environment {other:?} (expected test, demo, prod, local or a URL)"),
                ));
            }
        })
    }

    fn banner(&self) {
        match self {
            Self::Prod => eprintln!(
                "WARNING: environment PROD - invoices sent now are legally binding in the Polish national KSeF."
            ),
            Self::Local => eprintln!("NOTE: environment LOCAL (embedded emulator) - nothing is sent to KSeF."),
            _ => {}
        }
    }

    /// The journal's name for this environment.
    fn key(&self) -> String {
        match self {
            Self::Test => "test".into(),
            Self::Demo => "demo".into(),
            Self::Prod => "prod".into(),
            Self::Local => "local".into(),
            Self::Url(u) => u.clone(),
        }
    }

    fn allows_test_identities(&self) -> bool {
        matches!(self, Self::Test | Self::Local | Self::Url(_))
    }
}

/// The blocking client the CLI uses.
type Client = KsefClient<UreqTransport>;

/// A connection: the client, its environment and (for local) the emulator kept alive.
struct Connection {
    client: Client,
    env: Environment,
    _emulator: Option<ksef_emulator::Emulator>,
}

fn connect(target: &Target, state: &Path) -> Result<Connection, Failure> {
    let (env, emulator) = match target {
        Target::Test => (Environment::Test, None),
        Target::Demo => (Environment::Demo, None),
        Target::Prod => (Environment::Production, None),
        Target::Url(u) => (custom(u)?, None),
        Target::Local => {
            let dir = state.join("emulator");
            std::fs::create_dir_all(&dir)?;
            let emu = ksef_emulator::Emulator::builder()
                .data_dir(&dir)
                .start()
                .map_err(|e| Failure::new(exit::ERROR, format!("embedded emulator: {}", error_chain(&e))))?;
            tracing::info!(url = %emu.base_url(), data = %dir.display(), "embedded emulator started");
            (custom(&emu.base_url())?, Some(emu))
        }
    };
    let mut builder = KsefClient::builder(env.clone());
    if matches!(target, Target::Local | Target::Url(_)) {
        builder = builder.allow_loopback_urls(true);
    }
    let client = builder.build(UreqTransport::new(&TransportConfig::default()))?;
    Ok(Connection { client, env, _emulator: emulator })
}

fn custom(url: &str) -> Result<Environment, Failure> {
    CustomEnvironment::new(url, url)
        .map(Environment::Custom)
        .map_err(|e| Failure::new(exit::USAGE, format!("bad URL {url:?}: {e}")))
}

fn state_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("ksef");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/ksef")
}

/// Writes `bytes` to `path`; on Unix with mode 0600 when `secret`.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    use std::io::Write;
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let level = match cli.global.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).init();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let g = &config::resolve(&cli.global)?;
    let state = state_dir(g.state_dir.as_deref());
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ksef", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(exit::OK)
        }
        Command::Emulator(EmulatorCmd::Serve(args)) => {
            match emulator_cmd::serve(args, &state, g.output == Output::Json) {
                Err(e) => Err(Failure::new(exit::ERROR, error_chain(&e))),
            }
        }
        Command::Identity(IdentityCmd::New { nip, pesel, seal, ec, name }) => {
            let target = Target::parse(&g.env)?;
            target.banner();
            if !target.allows_test_identities() {
                return Err(Failure::new(
                    exit::REFUSED,
                    "self-signed test identities are accepted only by KSeF TE and the emulator (use --env test or local)",
                ));
            }
            let name = name.unwrap_or_else(|| nip.clone());
            let (dir, _) = new_identity(&state, &name, &nip, pesel.as_deref(), seal, ec)?;
            if g.output == Output::Json {
                println!("{}", serde_json::json!({ "name": name, "dir": dir, "nip": nip }));
            } else {
                println!("identity {name}: {}", dir.display());
            }
            Ok(exit::OK)
        }
        Command::Send { files, resume, mode, archive, form, upo_dir, offline, corrects, login: l } => {
            let target = Target::parse(&g.env)?;
            target.banner();
            let files = if files.is_empty() && resume { Vec::new() } else { send::collect_files(&files)? };
            if corrects.is_some() && files.len() != 1 {
                return Err(Failure::new(exit::USAGE, "--corrects applies to exactly one invoice file"));
            }
            let opts = ksef_client::SendOptions { offline_mode: offline, hash_of_corrected_invoice: corrects };
            let conn = connect(&target, &state)?;
            ensure_auth(&conn, &state, &target.key(), &l)?;
            std::fs::create_dir_all(&state)?;
            let mut journal = journal::Journal::open(&state.join("journal.sqlite"))
                .map_err(|e| Failure::new(exit::ERROR, format!("journal: {e}")))?;
            let result = send::send(
                &conn,
                &target.key(),
                &mut journal,
                &send::SendJob {
                    files: &files,
                    resume,
                    opts: &opts,
                    upo_dir: upo_dir.as_deref(),
                    output: g.output,
                    mode: match mode {
                        SendMode::Online => "online",
                        SendMode::Batch => "batch",
                        SendMode::Auto => "auto",
                    },
                    form: form.name(),
                    archive: match archive {
                        Archive::Zip => "zip",
                        Archive::Targz => "targz",
                    },
                    state_dir: &state,
                },
            );
            keep_tokens(&state, &target.key(), &conn);
            result
        }
        Command::Auth(cmd) => {
            let target = Target::parse(&g.env)?;
            target.banner();
            let key = target.key();
            let conn = connect(&target, &state)?;
            match cmd {
                AuthCmd::Login { login: l } => {
                    login(&conn, &state, &l)?;
                    tokens::save(&state, &key, &conn.client)?;
                    let p = tokens::path(&state, &key);
                    if g.output == Output::Json {
                        println!("{}", serde_json::json!({ "tokens": p }));
                    } else {
                        println!("logged in; tokens stored in {} (mode 0600)", p.display());
                    }
                }
                AuthCmd::Logout => {
                    if tokens::load(&state, &key, &conn.client)? {
                        use ksef_model::operations::RevokeCurrentAuthSession;
                        if let Err(e) = conn.client.call_blocking::<RevokeCurrentAuthSession>(&(), ()) {
                            tracing::warn!("revoking the session: {e}");
                        }
                    }
                    let removed = tokens::remove(&state, &key)?;
                    if g.output == Output::Json {
                        println!("{}", serde_json::json!({ "removed": removed }));
                    } else if removed {
                        println!("logged out");
                    } else {
                        println!("not logged in");
                    }
                }
                AuthCmd::Sessions { login: l } => {
                    use ksef_model::operations::{ListAuthSessions, ListAuthSessionsParams};
                    ensure_auth(&conn, &state, &key, &l)?;
                    let params = ListAuthSessionsParams { continuation_token: None, page_size: None };
                    let list = conn.client.call_blocking::<ListAuthSessions>(&params, ())?.value;
                    keep_tokens(&state, &key, &conn);
                    let rows: Vec<_> = list
                        .items
                        .iter()
                        .map(|s| {
                            serde_json::json!({
                                "reference_number": s.reference_number.to_string(),
                                "start_date": s.start_date,
                                "status": s.status.code,
                                "current": s.is_current.unwrap_or(false),
                            })
                        })
                        .collect();
                    if g.output == Output::Json {
                        println!("{}", serde_json::Value::Array(rows));
                    } else {
                        for r in &rows {
                            let cur = if r["current"] == true { " (current)" } else { "" };
                            println!(
                                "{}  {}  status {}{cur}",
                                r["reference_number"].as_str().unwrap_or(""),
                                r["start_date"].as_str().unwrap_or(""),
                                r["status"]
                            );
                        }
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Sync { dir, subject, days, login: l } => {
            use ksef_model::types::InvoiceQuerySubjectType as S;
            let target = Target::parse(&g.env)?;
            target.banner();
            let conn = connect(&target, &state)?;
            ensure_auth(&conn, &state, &target.key(), &l)?;
            let subject = match subject {
                SyncSubject::Seller => S::Subject1,
                SyncSubject::Buyer => S::Subject2,
                SyncSubject::Third => S::Subject3,
                SyncSubject::Authorized => S::SubjectAuthorized,
            };
            let cp_path = dir.join(".ksef-sync.json");
            let from = chrono::Utc::now() - chrono::Duration::days(days.max(0));
            let mut checkpoint: ksef_client::sync::SyncCheckpoint = match std::fs::read(&cp_path) {
                Ok(b) => serde_json::from_slice(&b)
                    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", cp_path.display())))?,
                Err(_) => ksef_client::sync::SyncCheckpoint::new(from, &[subject]),
            };
            let mut written = 0usize;
            loop {
                let step = conn.client.sync_step_blocking(&mut checkpoint, subject, from)?;
                for (meta, xml) in &step.invoices {
                    write_file(&dir.join(format!("{}.xml", meta.ksef_number.as_str())), xml, false)?;
                    written += 1;
                }
                // The checkpoint is saved only after the invoices it covers are on disk.
                let cp =
                    serde_json::to_vec_pretty(&checkpoint).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
                write_file(&cp_path, &cp, false)?;
                if !step.more {
                    break;
                }
            }
            keep_tokens(&state, &target.key(), &conn);
            if g.output == Output::Json {
                println!("{}", serde_json::json!({ "dir": dir, "new_invoices": written }));
            } else {
                println!("{written} new invoices in {}", dir.display());
            }
            Ok(exit::OK)
        }
        Command::Invoices(InvoicesCmd::Get { ksef_number, out, login: l }) => {
            let target = Target::parse(&g.env)?;
            target.banner();
            let conn = connect(&target, &state)?;
            ensure_auth(&conn, &state, &target.key(), &l)?;
            let xml = conn.client.get_invoice_blocking(&ksef_number)?;
            keep_tokens(&state, &target.key(), &conn);
            match out {
                Some(p) => write_file(&p, xml.as_bytes(), false)?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(xml.as_bytes())?;
                }
            }
            Ok(exit::OK)
        }
        Command::Qr { file, nip, date, ksef_number, out } => {
            let target = Target::parse(&g.env)?;
            let env = match &target {
                Target::Test => Environment::Test,
                Target::Demo => Environment::Demo,
                Target::Prod => Environment::Production,
                // The emulator has no QR host of its own; links point at its API URL base.
                Target::Local => custom("http://127.0.0.1")?,
                Target::Url(u) => custom(u)?,
            };
            let xml = std::fs::read(&file)?;
            let bad = |e: &dyn std::fmt::Display| Failure::new(exit::USAGE, e.to_string());
            let link = ksef_client::qr::invoice_link(&env, &nip, date, &xml).map_err(|e| bad(&e))?;
            if let Some(p) = &out {
                let code = ksef_client::qr::LabeledQr::invoice(&link, ksef_number.as_deref()).map_err(|e| bad(&e))?;
                let opts = ksef_client::qr::RenderOptions::default();
                if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) {
                    write_file(p, code.to_svg(opts).as_bytes(), false)?;
                } else {
                    write_file(p, &code.to_png(opts).map_err(|e| bad(&e))?, false)?;
                }
            }
            if g.output == Output::Json {
                println!("{}", serde_json::json!({ "link": link, "file": out }));
            } else {
                println!("{link}");
            }
            Ok(exit::OK)
        }
        Command::Upo { session, ksef_number, out, login: l } => {
            let target = Target::parse(&g.env)?;
            target.banner();
            let conn = connect(&target, &state)?;
            ensure_auth(&conn, &state, &target.key(), &l)?;
            let upo = conn.client.invoice_upo_by_ksef_number_blocking(&session, &ksef_number)?;
            keep_tokens(&state, &target.key(), &conn);
            match out {
                Some(p) => write_file(&p, upo.as_bytes(), false)?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(upo.as_bytes())?;
                }
            }
            Ok(exit::OK)
        }
        Command::Limits { login: l } => manage::limits::run(&l, g, &state),
        Command::Invoices(InvoicesCmd::Query(a)) => manage::invoices::query(a, g, &state),
        Command::Invoices(InvoicesCmd::Export(a)) => manage::invoices::export(a, g, &state),
        Command::Tokens(TokensCmd::List(a)) => manage::tokens::list(a, g, &state),
        Command::Tokens(TokensCmd::Get(a)) => manage::tokens::get(a, g, &state),
        Command::Tokens(TokensCmd::Revoke(a)) => manage::tokens::revoke(a, g, &state),
        Command::Permissions(c) => manage::permissions::run(c, g, &state),
        Command::Certs(c) => manage::certs::run(c, g, &state),
        Command::Testdata(c) => manage::testdata::run(c, g, &state),
        Command::Tokens(TokensCmd::New { description, permissions, login: l }) => {
            use ksef_model::operations::GenerateToken;
            use ksef_model::types::{GenerateTokenRequest, TokenPermissionType};
            let target = Target::parse(&g.env)?;
            target.banner();
            let perms = permissions
                .iter()
                .map(|p| match serde_json::from_value::<TokenPermissionType>(serde_json::Value::String(p.clone())) {
                    Ok(TokenPermissionType::Unknown(_)) | Err(_) => {
                        Err(Failure::new(exit::USAGE, format!("unknown permission {p:?}")))
                    }
                    Ok(t) => Ok(t),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let description =
                description.as_str().try_into().map_err(|e| Failure::new(exit::USAGE, format!("description: {e}")))?;
            let conn = connect(&target, &state)?;
            ensure_auth(&conn, &state, &target.key(), &l)?;
            let r = conn
                .client
                .call_blocking::<GenerateToken>(&(), GenerateTokenRequest { description, permissions: perms })?
                .value;
            keep_tokens(&state, &target.key(), &conn);
            let (reference, token) = (r.reference_number.to_string(), r.token.to_string());
            if g.output == Output::Json {
                println!("{}", serde_json::json!({ "reference_number": reference, "token": token }));
            } else {
                println!("reference: {reference}");
                println!("token:     {token}");
                eprintln!("The token is shown only once.");
            }
            Ok(exit::OK)
        }
        Command::Status { run, runs } => {
            let path = state.join("journal.sqlite");
            if !path.exists() {
                if runs {
                    return send::print_runs(&[], g.output).map(|()| exit::OK);
                }
                return send::print_rows(&[], g.output).map(|()| exit::OK);
            }
            let journal =
                journal::Journal::open(&path).map_err(|e| Failure::new(exit::ERROR, format!("journal: {e}")))?;
            if runs {
                let list = journal.runs(run).map_err(|e| Failure::new(exit::ERROR, format!("journal: {e}")))?;
                send::print_runs(&list, g.output)?;
            } else {
                let rows = journal.files(run).map_err(|e| Failure::new(exit::ERROR, format!("journal: {e}")))?;
                send::print_rows(&rows, g.output)?;
            }
            Ok(exit::OK)
        }
        Command::Quickstart { out_dir, nip } => {
            let target = Target::parse(&g.env)?;
            if target != Target::Local && !matches!(target, Target::Url(_)) {
                return Err(Failure::new(
                    exit::REFUSED,
                    "quickstart runs against the emulator only (--env local or a URL)",
                ));
            }
            target.banner();
            let out = out_dir.unwrap_or_else(|| state.join("quickstart"));
            quickstart(&target, &state, &out, &nip, g.output)
        }
    }
}

fn new_identity(
    state: &Path,
    name: &str,
    nip: &str,
    pesel: Option<&str>,
    seal: bool,
    ec: bool,
) -> Result<(PathBuf, TestIdentity), Failure> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Failure::new(exit::USAGE, format!("bad identity name {name:?}")));
    }
    let fields = if seal {
        SubjectFields::seal(nip, "Firma Testowa")
    } else if let Some(p) = pesel {
        SubjectFields::person_pesel(p, "Jan", "Testowy")
    } else {
        SubjectFields::person_nip(nip, "Jan", "Testowy")
    }
    .map_err(fail(exit::USAGE))?;
    let alg = if ec { KeyAlgorithm::P256 } else { KeyAlgorithm::Rsa2048 };
    let now = UnixTime::now();
    let id = TestIdentity::generate(
        alg,
        &fields,
        UnixTime::from_secs(now.as_secs().saturating_sub(3600)),
        365,
        &mut rand::rng(),
    )
    .map_err(fail(exit::ERROR))?;
    let dir = state.join("identities").join(name);
    let key = id.key.to_pkcs8_pem().map_err(fail(exit::ERROR))?;
    write_file(&dir.join("key.pem"), key.as_bytes(), true)?;
    write_file(&dir.join("cert.pem"), id.certificate.to_pem().map_err(fail(exit::ERROR))?.as_bytes(), false)?;
    write_file(&dir.join("context"), nip.as_bytes(), false)?;
    Ok((dir, id))
}

fn read_cert(path: &Path) -> Result<Certificate, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
    match std::str::from_utf8(&bytes) {
        Ok(t) if t.contains("-----BEGIN") => Certificate::from_pem(t),
        _ => Certificate::from_der(&bytes),
    }
    .map_err(fail(exit::ERROR))
}

fn read_key(path: &Path, l: &LoginArgs) -> Result<PrivateKey, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
    let bytes = zeroize::Zeroizing::new(bytes);
    match std::str::from_utf8(&bytes) {
        Ok(t) if PrivateKey::pem_is_encrypted(t) => {
            PrivateKey::from_pem_with_password(t, &key_password(path, l)?).map_err(|e| protected_file_error(path, e))
        }
        Ok(t) if t.contains("-----BEGIN") => PrivateKey::from_pem(t).map_err(fail(exit::ERROR)),
        _ => PrivateKey::from_der(&bytes).map_err(fail(exit::ERROR)),
    }
}

/// The certificate and key of a PKCS#12 file.
fn read_p12(path: &Path, l: &LoginArgs) -> Result<TestIdentity, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
    let bundle = ksef_crypto::Pkcs12Bundle::from_der(&bytes, &key_password(path, l)?)
        .map_err(|e| protected_file_error(path, e))?;
    Ok(TestIdentity { key: bundle.key, certificate: bundle.certificate })
}

/// The password of a protected key file: --key-password-file, KSEF_KEY_PASSWORD, or a prompt.
fn key_password(path: &Path, l: &LoginArgs) -> Result<zeroize::Zeroizing<String>, Failure> {
    if let Some(f) = &l.key_password_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(f).map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", f.display())))?,
        );
        return Ok(zeroize::Zeroizing::new(text.lines().next().unwrap_or("").to_string()));
    }
    if let Ok(p) = std::env::var("KSEF_KEY_PASSWORD") {
        return Ok(zeroize::Zeroizing::new(p));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let p = rpassword::prompt_password(format!("Password for {}: ", path.display()))?;
        return Ok(zeroize::Zeroizing::new(p));
    }
    Err(Failure::new(
        exit::AUTH,
        format!(
            "{} is password-protected: set KSEF_KEY_PASSWORD or pass --key-password-file (no terminal to ask on)",
            path.display()
        ),
    ))
}

fn protected_file_error(path: &Path, e: ksef_crypto::Error) -> Failure {
    match e {
        ksef_crypto::Error::WrongPassword => Failure::new(
            exit::AUTH,
            format!(
                "wrong password for {} (check KSEF_KEY_PASSWORD / --key-password-file; or the file is damaged)",
                path.display()
            ),
        ),
        e => Failure::new(exit::ERROR, format!("{}: {}", path.display(), error_chain(&e))),
    }
}

/// Refuses, before any request, a certificate that is not valid now, saying when it was.
fn check_validity(cert: &Certificate) -> Result<(), Failure> {
    let now = ksef_crypto::UnixTime::now();
    let day = |t: ksef_crypto::UnixTime| {
        chrono::DateTime::from_timestamp(i64::try_from(t.as_secs()).unwrap_or(i64::MAX), 0)
            .map_or_else(|| t.as_secs().to_string(), |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
    };
    if now > cert.not_after() {
        return Err(Failure::new(
            exit::AUTH,
            format!(
                "the certificate {} expired on {}: KSeF refuses it (auth status 460); use a valid certificate",
                cert.subject_rfc4514(),
                day(cert.not_after())
            ),
        ));
    }
    if now < cert.not_before() {
        return Err(Failure::new(
            exit::AUTH,
            format!("the certificate {} is not valid before {}", cert.subject_rfc4514(), day(cert.not_before())),
        ));
    }
    Ok(())
}

/// Writes the (possibly refreshed) tokens back; a failure is only logged.
fn keep_tokens(state: &Path, env_key: &str, conn: &Connection) {
    if let Err(e) = tokens::save(state, env_key, &conn.client) {
        tracing::debug!("tokens not stored: {}", e.message);
    }
}

/// Uses the login flags if any were given (and stores the tokens), else the stored tokens.
fn ensure_auth(conn: &Connection, state: &Path, env_key: &str, l: &LoginArgs) -> Result<(), Failure> {
    if l.nip.is_some()
        || l.internal_id.is_some()
        || l.nip_vat_ue.is_some()
        || l.identity.is_some()
        || l.cert.is_some()
        || l.p12.is_some()
        || l.ksef_token.is_some()
    {
        login(conn, state, l)?;
        return tokens::save(state, env_key, &conn.client);
    }
    if tokens::load(state, env_key, &conn.client)? {
        return Ok(());
    }
    Err(Failure::new(exit::AUTH, "not logged in: run `ksef auth login` or pass --nip/--identity/--cert/--ksef-token"))
}

/// Logs `conn` in with a KSeF token, a certificate + key, or a stored identity.
fn login(conn: &Connection, state: &Path, l: &LoginArgs) -> Result<(), Failure> {
    let auth = if let Some(token) = &l.ksef_token {
        let ctx = context(l, None).ok_or_else(|| Failure::new(exit::USAGE, "--ksef-token needs a context (--nip)"))?;
        Authenticator::ksef_token(ctx, token.as_str())
    } else if let (Some(c), Some(k)) = (&l.cert, &l.key) {
        let ctx = context(l, None).ok_or_else(|| Failure::new(exit::USAGE, "--cert/--key need a context (--nip)"))?;
        let id = TestIdentity { key: read_key(k, l)?, certificate: read_cert(c)? };
        check_validity(&id.certificate)?;
        Authenticator::xades(ctx, id)
    } else if let Some(p) = &l.p12 {
        let ctx = context(l, None).ok_or_else(|| Failure::new(exit::USAGE, "--p12 needs a context (--nip)"))?;
        let id = read_p12(p, l)?;
        check_validity(&id.certificate)?;
        Authenticator::xades(ctx, id)
    } else {
        let name = l.identity.clone().or_else(|| l.nip.clone()).ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                "say how to log in: --identity, --nip (stored identity), --cert/--key or --ksef-token",
            )
        })?;
        let dir = state.join("identities").join(&name);
        let id = load_identity(&dir)?;
        let own = std::fs::read_to_string(dir.join("context"))?.trim().to_string();
        let ctx = context(l, Some(own)).ok_or_else(|| Failure::new(exit::USAGE, "no context"))?;
        Authenticator::xades(ctx, id)
    };
    conn.client.login_blocking(auth)?;
    Ok(())
}

/// The context from the flags (InternalId, NipVatUe, NIP), else `fallback` as a NIP.
fn context(l: &LoginArgs, fallback: Option<String>) -> Option<ContextIdentifier> {
    if let Some(i) = &l.internal_id {
        return Some(ContextIdentifier::InternalId(i.clone()));
    }
    if let Some(v) = &l.nip_vat_ue {
        return Some(ContextIdentifier::NipVatUe(v.clone()));
    }
    l.nip.clone().or(fallback).map(ContextIdentifier::Nip)
}

/// Loads a stored identity (for commands that log in on their own).
fn load_identity(dir: &Path) -> Result<TestIdentity, Failure> {
    let key = std::fs::read_to_string(dir.join("key.pem"))?;
    let cert = std::fs::read_to_string(dir.join("cert.pem"))?;
    Ok(TestIdentity {
        key: PrivateKey::from_pem(&key).map_err(fail(exit::ERROR))?,
        certificate: Certificate::from_pem(&cert).map_err(fail(exit::ERROR))?,
    })
}

fn quickstart(target: &Target, state: &Path, out: &Path, nip: &str, output: Output) -> Result<u8, Failure> {
    use ksef_model::operations::TestdataCreateSubject;
    use ksef_model::types::{SubjectCreateRequest, SubjectType};

    let conn = connect(target, state)?;
    let client = &conn.client;
    let bad = |e: &dyn std::fmt::Display| Failure::new(exit::ERROR, e.to_string());
    // The subject may exist already (persistent local data): a failure here is logged, not fatal.
    let created = client.call_blocking::<TestdataCreateSubject>(
        &(),
        SubjectCreateRequest {
            created_date: None,
            description: "Quickstart".try_into().map_err(|e| bad(&e))?,
            subject_nip: nip.try_into().map_err(|e| bad(&e))?,
            subject_type: SubjectType::Jst,
            subunits: None,
        },
    );
    if let Err(e) = created {
        tracing::info!("test subject not created (may exist): {e}");
    }
    let (id_dir, identity) = new_identity(state, &format!("quickstart-{nip}"), nip, None, true, true)?;
    client.login_blocking(Authenticator::xades(ContextIdentifier::Nip(nip.into()), identity))?;

    let today = chrono::Utc::now().date_naive();
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let invoices: Vec<Vec<u8>> =
        (1..=5).map(|i| invoice::sample_fa3(nip, &format!("QS/{stamp}/{i}"), today).into_bytes()).collect();
    for (i, x) in invoices.iter().enumerate() {
        write_file(&out.join("invoices").join(format!("invoice-{}.xml", i + 1)), x, false)?;
    }
    let (session, results) = client.send_invoices_blocking(FormCode::Fa3, &invoices)?;
    let mut rows = Vec::new();
    let mut rejected = 0;
    for (i, (r, xml)) in results.into_iter().zip(&invoices).enumerate() {
        let n = i + 1;
        match r {
            Ok(acc) => {
                let ksef = acc.ksef_number.as_str().to_string();
                let upo = client.invoice_upo_by_ksef_number_blocking(&session.reference_number, &ksef)?;
                let upo_path = out.join("upo").join(format!("{ksef}.xml"));
                write_file(&upo_path, upo.as_bytes(), false)?;
                let link = ksef_client::qr::invoice_link(&conn.env, nip, today, xml).map_err(|e| bad(&e))?;
                let code = ksef_client::qr::LabeledQr::invoice(&link, Some(&ksef)).map_err(|e| bad(&e))?;
                let png = code.to_png(ksef_client::qr::RenderOptions::default()).map_err(|e| bad(&e))?;
                let qr_path = out.join("qr").join(format!("{ksef}.png"));
                write_file(&qr_path, &png, false)?;
                rows.push(serde_json::json!({ "invoice": n, "ksef_number": ksef, "upo": upo_path, "qr": qr_path, "link": link }));
            }
            Err(e) => {
                rejected += 1;
                rows.push(serde_json::json!({ "invoice": n, "rejected": error_chain(&e) }));
            }
        }
    }
    // A batch of a few hundred invoices, through the journaled `ksef send --mode batch` path.
    let batch_count = 200;
    let batch_dir = out.join("batch").join(&stamp);
    let mut batch_files = Vec::with_capacity(batch_count);
    for i in 1..=batch_count {
        let xml = invoice::sample_fa3(nip, &format!("QS/{stamp}/B{i}"), today);
        let path = batch_dir.join(format!("batch-{i:04}.xml"));
        write_file(&path, xml.as_bytes(), false)?;
        batch_files.push(path);
    }
    let mut journal = journal::Journal::open(&state.join("journal.sqlite"))
        .map_err(|e| Failure::new(exit::ERROR, format!("journal: {e}")))?;
    let sent = send::send_run(
        &conn,
        &target.key(),
        &mut journal,
        &send::SendJob {
            files: &batch_files,
            resume: false,
            opts: &ksef_client::SendOptions::default(),
            upo_dir: None,
            output,
            mode: "batch",
            form: "FA3",
            archive: "zip",
            state_dir: state,
        },
    )?;
    let batch_session = journal
        .batches(sent.run)
        .map_err(|e| Failure::new(exit::ERROR, format!("journal: {e}")))?
        .into_iter()
        .rev()
        .find_map(|b| (b.state == "done").then_some(b.session_ref).flatten())
        .unwrap_or_default();
    let batch_accepted = sent.rows.iter().filter(|r| r.state == "accepted").count();
    let batch_rejected = sent.rows.len() - batch_accepted;
    rejected += batch_rejected;
    // Sync everything issued by the seller back (incremental export by permanent-storage date).
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    let subject = ksef_model::types::InvoiceQuerySubjectType::Subject1;
    let mut checkpoint = ksef_client::sync::SyncCheckpoint::new(from, &[subject]);
    let sync_dir = out.join("sync");
    let mut synced = 0usize;
    loop {
        let step = client.sync_step_blocking(&mut checkpoint, subject, from)?;
        for (meta, xml) in &step.invoices {
            write_file(&sync_dir.join(format!("{}.xml", meta.ksef_number.as_str())), xml, false)?;
            synced += 1;
        }
        if !step.more {
            break;
        }
    }
    if output == Output::Json {
        let v = serde_json::json!({
            "batch": {
                "session": batch_session,
                "run": sent.run,
                "dir": batch_dir,
                "accepted": batch_accepted,
                "rejected": batch_rejected,
            },
            "sync": { "dir": sync_dir, "invoices": synced },
            "session": session.reference_number,
            "identity": id_dir,
            "out_dir": out,
            "invoices": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| bad(&e))?);
    } else {
        println!("Quickstart against {}", client.base_url());
        println!("  identity:   {}", id_dir.display());
        println!("  session:    {}", session.reference_number);
        for r in &rows {
            match r.get("ksef_number").and_then(|v| v.as_str()) {
                Some(k) => println!("  invoice {}: {k}", r["invoice"]),
                None => println!("  invoice {}: REJECTED {}", r["invoice"], r["rejected"]),
            }
        }
        println!("  batch:      {batch_session} ({batch_accepted} accepted, {batch_rejected} rejected)");
        println!("  synced:     {synced} invoices into {}", sync_dir.display());
        println!("  invoices:   {}", out.join("invoices").display());
        println!("  UPOs:       {}", out.join("upo").display());
        println!("  QR codes:   {}", out.join("qr").display());
    }
    Ok(if rejected > 0 { exit::PARTIAL } else { exit::OK })
}

#[cfg(test)]
mod secret_arg_tests {
    use clap::Parser as _;

    #[test]
    fn a_ksef_token_argument_never_shows_in_debug() {
        let cli = super::Cli::try_parse_from([
            "ksef",
            "auth",
            "login",
            "--nip",
            "5265877635",
            "--ksef-token",
            "SECRET-TOKEN-123",
        ])
        .expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains("SECRET-TOKEN-123"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
