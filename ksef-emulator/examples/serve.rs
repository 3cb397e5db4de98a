//! Serves the emulator on a fixed or ephemeral port until killed, for clients in other languages.
//!
//! `cargo run -p ksef-emulator --example serve -- [--port N] [--bind ADDR] [--storage-host HOST] [--seed N]
//! [--no-rate-limits] [--data-dir DIR] [--faults FILE] [--processing-delay MS]`
//!
//! Prints `KSEF_EMULATOR_BASE_URL=http://<addr>/v2` on stdout once it accepts connections.
//! `--storage-host` without a port gets the listening port appended (pre-signed URLs then point at
//! `http://HOST:PORT/...`; map HOST to 127.0.0.1 in /etc/hosts).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ksef_emulator::Emulator;

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: serve [--port N] [--bind ADDR] [--storage-host HOST] [--seed N] [--no-rate-limits] \
         [--data-dir DIR] [--faults FILE] [--processing-delay MS]"
    );
    std::process::exit(2)
}

fn main() {
    let mut port: u16 = 0;
    let mut ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut storage_host: Option<String> = None;
    let mut seed: Option<u64> = None;
    let mut rate_limits = true;
    let mut data_dir: Option<String> = None;
    let mut faults: Option<String> = None;
    let mut delay_ms: u64 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| usage(&format!("{name} needs a value")));
        match a.as_str() {
            "--port" => port = value("--port").parse().unwrap_or_else(|_| usage("bad --port")),
            "--bind" => ip = value("--bind").parse().unwrap_or_else(|_| usage("bad --bind")),
            "--storage-host" => storage_host = Some(value("--storage-host")),
            "--seed" => seed = Some(value("--seed").parse().unwrap_or_else(|_| usage("bad --seed"))),
            "--no-rate-limits" => rate_limits = false,
            "--data-dir" => data_dir = Some(value("--data-dir")),
            "--faults" => faults = Some(value("--faults")),
            "--processing-delay" => {
                delay_ms = value("--processing-delay").parse().unwrap_or_else(|_| usage("bad --processing-delay"));
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1)
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, port)).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut builder =
            Emulator::builder().rate_limits(rate_limits).processing_delay(std::time::Duration::from_millis(delay_ms));
        if let Some(d) = data_dir {
            builder = builder.data_dir(d);
        }
        if let Some(f) = faults {
            builder = builder.http_faults_file(f);
        }
        if let Some(s) = seed {
            builder = builder.seed(s);
        }
        if let Some(h) = storage_host {
            let h = if h.contains(':') { h } else { format!("{h}:{}", addr.port()) };
            builder = builder.storage_host(h);
        }
        println!("KSEF_EMULATOR_BASE_URL=http://{addr}/v2");
        let _ = std::io::stdout().flush();
        ksef_emulator::serve(listener, builder, std::future::pending()).await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })
    });
    if let Err(e) = result {
        eprintln!("emulator: {e}");
        std::process::exit(1);
    }
}
