//! Render KOD I for an invoice file as PNG and SVG.
//!
//! `cargo run -p ksef-client --example qr -- <invoice.xml> <seller NIP> <YYYY-MM-DD> [KSeF number] [out prefix]`

use ksef_client::env::Environment;
use ksef_client::qr::{LabeledQr, RenderOptions, invoice_link};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, nip, date, rest @ ..] = args.as_slice() else {
        return Err("usage: qr <invoice.xml> <seller NIP> <YYYY-MM-DD> [KSeF number] [out prefix]".into());
    };
    let xml = std::fs::read(file)?;
    let link = invoice_link(&Environment::Test, nip, date.parse()?, &xml)?;
    let ksef_number = rest.first().filter(|s| !s.is_empty()).map(String::as_str);
    let prefix = rest.get(1).map_or("kod1", String::as_str);
    let qr = LabeledQr::invoice(&link, ksef_number)?;
    std::fs::write(format!("{prefix}.png"), qr.to_png(RenderOptions::default())?)?;
    std::fs::write(format!("{prefix}.svg"), qr.to_svg(RenderOptions::default()))?;
    println!("{link}");
    Ok(())
}
