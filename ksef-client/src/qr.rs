//! KSeF QR codes: the verification links (KOD I for every invoice, KOD II for offline
//! invoices, built by `ksef_crypto::qr`) and their rendering to SVG and PNG with the label
//! printed under the code: the KSeF number, `OFFLINE`, or `CERTYFIKAT`.
//!
//! Rendering is pure Rust: the `qrcode` crate computes the modules; the PNG label uses a small
//! embedded 5×7 bitmap font (digits, `A`–`Z`, `-`, space), the SVG label a `<text>` element.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use ksef_crypto::ContextIdentifier;
use ksef_crypto::PrivateKey;
use ksef_crypto::qr::IssueDate;

use crate::env::Environment;

/// Label under KOD II.
pub const LABEL_CERTIFICATE: &str = "CERTYFIKAT";
/// Label under KOD I before the invoice has a KSeF number.
pub const LABEL_OFFLINE: &str = "OFFLINE";

/// Why a link or image could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// Bad link input (NIP, serial, context) or a signing failure.
    #[error("cannot build the verification link")]
    Link(#[source] ksef_crypto::Error),
    /// The text does not fit in a QR code.
    #[error("the text does not fit in a QR code")]
    Encode(#[source] QrEncodeError),
    /// The label has a character the bitmap font lacks.
    #[error("label character {0:?} cannot be rendered (allowed: 0-9, A-Z, '-', space)")]
    LabelCharacter(char),
    /// PNG encoding failed.
    #[error("PNG encoding failed")]
    Png(#[source] std::io::Error),
}

/// The QR encoder's error.
#[derive(Debug)]
pub struct QrEncodeError(qrcode::types::QrError);

impl fmt::Display for QrEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for QrEncodeError {}

fn host(env: &Environment) -> &str {
    let b = env.qr_base_url();
    b.strip_prefix("https://").or_else(|| b.strip_prefix("http://")).unwrap_or(b)
}

fn issue_date(d: NaiveDate) -> IssueDate {
    IssueDate { year: d.year() as u16, month: d.month() as u8, day: d.day() as u8 }
}

/// KOD I: `https://{qr host}/invoice/{seller NIP}/{DD-MM-YYYY}/{Base64URL(SHA-256(invoice))}`.
///
/// # Errors
/// [`QrError::Link`] if the NIP is not 10 digits.
pub fn invoice_link(
    env: &Environment,
    seller_nip: &str,
    issue: NaiveDate,
    invoice_xml: &[u8],
) -> Result<String, QrError> {
    ksef_crypto::qr::invoice_url(host(env), seller_nip, issue_date(issue), &ksef_crypto::sha256(invoice_xml))
        .map_err(QrError::Link)
}

/// KOD II: the certificate link signed with the key of an `Offline` KSeF certificate.
///
/// # Errors
/// [`QrError::Link`] for bad input or a signing failure.
pub fn certificate_link<R: ksef_crypto::rand_core::CryptoRng + ?Sized>(
    env: &Environment,
    context: &ContextIdentifier,
    seller_nip: &str,
    certificate_serial_hex: &str,
    invoice_xml: &[u8],
    offline_key: &PrivateKey,
    rng: &mut R,
) -> Result<String, QrError> {
    ksef_crypto::qr::certificate_url(
        host(env),
        context,
        seller_nip,
        certificate_serial_hex,
        &ksef_crypto::sha256(invoice_xml),
        offline_key,
        rng,
    )
    .map_err(QrError::Link)
}

/// Rendering options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Pixels per module (PNG) / user units per module (SVG). Default 4.
    pub module_size: u32,
    /// Quiet zone around the code, in modules. Default 4 (the ISO minimum).
    pub quiet_zone: u32,
    /// Label font scale: pixels per font dot (PNG). Default 2.
    pub label_scale: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { module_size: 4, quiet_zone: 4, label_scale: 2 }
    }
}

/// A QR code with its label, ready to render.
#[derive(Debug, Clone)]
pub struct LabeledQr {
    width: usize,
    dark: Vec<bool>,
    label: String,
}

impl LabeledQr {
    /// Encode `text` (error correction level M) with `label` under it. The label is
    /// upper-cased; it may hold `0-9`, `A-Z`, `-` and spaces.
    ///
    /// # Errors
    /// [`QrError::Encode`] if the text is too long, [`QrError::LabelCharacter`].
    pub fn new(text: &str, label: &str) -> Result<Self, QrError> {
        let label = label.to_ascii_uppercase();
        if let Some(c) = label.chars().find(|c| glyph(*c).is_none()) {
            return Err(QrError::LabelCharacter(c));
        }
        let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
            .map_err(|e| QrError::Encode(QrEncodeError(e)))?;
        let width = code.width();
        let dark = code.into_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect();
        Ok(Self { width, dark, label })
    }

    /// KOD I labelled with the KSeF number, or `OFFLINE` while there is none.
    ///
    /// # Errors
    /// As [`LabeledQr::new`].
    pub fn invoice(link: &str, ksef_number: Option<&str>) -> Result<Self, QrError> {
        Self::new(link, ksef_number.unwrap_or(LABEL_OFFLINE))
    }

    /// KOD II labelled `CERTYFIKAT`.
    ///
    /// # Errors
    /// As [`LabeledQr::new`].
    pub fn certificate(link: &str) -> Result<Self, QrError> {
        Self::new(link, LABEL_CERTIFICATE)
    }

    /// Modules per side (without the quiet zone).
    pub fn modules(&self) -> usize {
        self.width
    }

    /// The label text.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }

    fn layout(&self, o: RenderOptions) -> Layout {
        let m = o.module_size.max(1);
        let qr_px = (self.width as u32 + 2 * o.quiet_zone) * m;
        let s = o.label_scale.max(1);
        let text_w = (self.label.chars().count() as u32 * 6).saturating_sub(1) * s;
        let width = qr_px.max(text_w + 2 * 4 * s);
        let label_h = if self.label.is_empty() { 0 } else { 7 * s + 4 * s };
        Layout { m, qr_px, width, height: qr_px + label_h, qr_x: (width - qr_px) / 2, text_w, s }
    }

    /// Render as an 8-bit grayscale PNG.
    ///
    /// # Errors
    /// [`QrError::Png`] (only on an encoder failure).
    pub fn to_png(&self, o: RenderOptions) -> Result<Vec<u8>, QrError> {
        let l = self.layout(o);
        let (w, h) = (l.width as usize, l.height as usize);
        let mut px = vec![255u8; w * h];
        let q = o.quiet_zone as usize;
        let m = l.m as usize;
        for y in 0..self.width {
            for x in 0..self.width {
                if self.is_dark(x, y) {
                    let x0 = l.qr_x as usize + (x + q) * m;
                    let y0 = (y + q) * m;
                    for row in px.chunks_mut(w).skip(y0).take(m) {
                        row[x0..x0 + m].fill(0);
                    }
                }
            }
        }
        let s = l.s as usize;
        let tx0 = (w - l.text_w as usize) / 2;
        let ty0 = l.qr_px as usize + s;
        for (i, c) in self.label.chars().enumerate() {
            let rows = glyph(c).unwrap_or([0; 7]);
            for (gy, bits) in rows.iter().enumerate() {
                for gx in 0..5 {
                    if bits & (0b10000 >> gx) != 0 {
                        let x0 = tx0 + (i * 6 + gx) * s;
                        let y0 = ty0 + gy * s;
                        for row in px.chunks_mut(w).skip(y0).take(s) {
                            row[x0..x0 + s].fill(0);
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, l.width, l.height);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().map_err(|e| QrError::Png(std::io::Error::other(e)))?;
            wr.write_image_data(&px).map_err(|e| QrError::Png(std::io::Error::other(e)))?;
            wr.finish().map_err(|e| QrError::Png(std::io::Error::other(e)))?;
        }
        Ok(out)
    }

    /// Render as SVG (one path for the modules, a `<text>` for the label).
    pub fn to_svg(&self, o: RenderOptions) -> String {
        let l = self.layout(o);
        let q = o.quiet_zone as usize;
        let m = l.m as usize;
        let mut path = String::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    let px = l.qr_x as usize + (start + q) * m;
                    let py = (y + q) * m;
                    path.push_str(&format!("M{px} {py}h{}v{m}h-{}z", (x - start) * m, (x - start) * m));
                } else {
                    x += 1;
                }
            }
        }
        let font = 7 * l.s;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
             shape-rendering=\"crispEdges\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
             <path fill=\"#000\" d=\"{path}\"/>",
            w = l.width,
            h = l.height
        );
        if !self.label.is_empty() {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-family=\"monospace\" font-size=\"{font}\" text-anchor=\"middle\" \
                 fill=\"#000\">{}</text>",
                l.width / 2,
                l.qr_px + l.s + font,
                self.label // only [0-9A-Z -]: nothing to escape
            ));
        }
        svg.push_str("</svg>");
        svg
    }
}

struct Layout {
    m: u32,
    qr_px: u32,
    width: u32,
    height: u32,
    qr_x: u32,
    text_w: u32,
    s: u32,
}

/// 5×7 glyphs, one byte per row, bit 4 = leftmost column.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ' ' => [0; 7],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &[u8] = b"<Faktura>test</Faktura>";

    fn decode_png(png_bytes: &[u8]) -> (usize, usize, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        buf.truncate(info.buffer_size());
        (info.width as usize, info.height as usize, buf)
    }

    fn scan(png_bytes: &[u8]) -> String {
        let (w, h, px) = decode_png(png_bytes);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| px[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn kod1_link_matches_spec_shape() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let link = invoice_link(&Environment::Test, "1111111111", d, XML).unwrap();
        let hash = ksef_crypto::encoding::b64url_encode(ksef_crypto::sha256(XML));
        assert_eq!(link, format!("https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/{hash}"));
        assert!(!hash.contains('=') && !hash.contains('+') && !hash.contains('/'));
        assert!(matches!(invoice_link(&Environment::Production, "123", d, XML), Err(QrError::Link(_))));
        let prd = invoice_link(&Environment::Production, "1111111111", d, XML).unwrap();
        assert!(prd.starts_with("https://qr.ksef.mf.gov.pl/invoice/"));
    }

    #[test]
    fn png_decodes_back_to_the_link() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let link = invoice_link(&Environment::Test, "1111111111", d, XML).unwrap();
        for label in [Some("5265877635-20250826-0100001AF629-AF"), None] {
            let qr = LabeledQr::invoice(&link, label).unwrap();
            let png_bytes = qr.to_png(RenderOptions::default()).unwrap();
            assert_eq!(scan(&png_bytes), link);
            // The label band under the code has ink; the code area is taller than wide by it.
            let (w, h, px) = decode_png(&png_bytes);
            let qr_px = (qr.modules() + 8) * 4;
            assert!(h > qr_px);
            let ink = px[qr_px * w..].iter().filter(|p| **p == 0).count();
            assert!(ink > 20, "label must be drawn");
            if label.is_some() {
                assert!(w >= 35 * 6 * 2, "a 35-character label fits");
            }
        }
    }

    #[test]
    fn kod2_certificate_link_and_render() {
        let mut rng = HashRng(0);
        let key = PrivateKey::generate_p256(&mut rng);
        let ctx = ContextIdentifier::from_parts("Nip", "1111111111").unwrap();
        let link =
            certificate_link(&Environment::Test, &ctx, "1111111111", "01F20A5D352AE590", XML, &key, &mut rng).unwrap();
        assert!(
            link.starts_with("https://qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/")
        );
        let qr = LabeledQr::certificate(&link).unwrap();
        assert_eq!(qr.label(), "CERTYFIKAT");
        assert_eq!(scan(&qr.to_png(RenderOptions { module_size: 3, ..RenderOptions::default() }).unwrap()), link);
    }

    /// Deterministic test RNG: SHA-256 of a counter.
    struct HashRng(u64);
    impl ksef_crypto::rand_core::TryRng for HashRng {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.0 += 1;
            let h = ksef_crypto::sha256(self.0.to_le_bytes());
            Ok(u64::from_le_bytes(h[..8].try_into().unwrap()))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for chunk in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
            Ok(())
        }
    }
    impl ksef_crypto::rand_core::TryCryptoRng for HashRng {}

    #[test]
    fn svg_output() {
        let qr = LabeledQr::invoice("https://qr-test.ksef.mf.gov.pl/invoice/x", None).unwrap();
        let svg = qr.to_svg(RenderOptions::default());
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let text = doc.descendants().find(|n| n.has_tag_name("text")).unwrap();
        assert_eq!(text.text(), Some("OFFLINE"));
        let path = doc.descendants().find(|n| n.has_tag_name("path")).unwrap();
        assert!(path.attribute("d").unwrap().starts_with('M'));
    }

    #[test]
    fn label_and_size_errors() {
        assert!(matches!(LabeledQr::new("x", "zażółć"), Err(QrError::LabelCharacter('ż'))));
        assert_eq!(LabeledQr::new("x", "offline").unwrap().label(), "OFFLINE");
        let huge = "x".repeat(5000);
        assert!(matches!(LabeledQr::new(&huge, ""), Err(QrError::Encode(_))));
    }
}
