//! The scoped FA(3) schema check: required elements and their formats → invoice status 430.

use ksef_emulator::Emulator;

use crate::common::*;
use crate::sessions::{fa3, invoice_xml, open, owner_login, send, session_crypto};

#[test]
fn fa3_required_elements_and_formats() {
    let emu = Emulator::builder().rate_limits(false).start().unwrap();
    let http = Http::new(&emu);
    let (nip, token) = owner_login(&emu, &http, 195);
    let c = session_crypto(&http);
    let s = open(&http, &token, &c, fa3());
    let good = String::from_utf8(invoice_xml(&nip, "S/0")).unwrap();
    let st = send(&http, &token, &s, &c, good.as_bytes());
    assert_eq!(st["status"]["code"], 200, "{st}");
    let cases: Vec<(&str, String)> = vec![
        ("P_23", good.replace("S/0", "S/1").replace("<P_23>2</P_23>", "")),
        ("P_23", good.replace("S/0", "S/2").replace("<P_23>2</P_23>", "<P_23>3</P_23>")),
        ("P_15", good.replace("S/0", "S/3").replace("<P_15>53.63</P_15>", "<P_15>53.634</P_15>")),
        ("P_15", good.replace("S/0", "S/4").replace("<P_15>53.63</P_15>", "<P_15>053.63</P_15>")),
        (
            "RodzajFaktury",
            good.replace("S/0", "S/5")
                .replace("<RodzajFaktury>VAT</RodzajFaktury>", "<RodzajFaktury>XYZ</RodzajFaktury>"),
        ),
        ("KodWaluty", good.replace("S/0", "S/6").replace("<KodWaluty>PLN</KodWaluty>", "<KodWaluty>zł</KodWaluty>")),
        (
            "WariantFormularza",
            good.replace("S/0", "S/7")
                .replace("<WariantFormularza>3</WariantFormularza>", "<WariantFormularza>2</WariantFormularza>"),
        ),
        (
            "Podmiot2",
            good.replace("S/0", "S/8").replacen("<Podmiot2>", "<Podmiot2Zly>", 1).replacen(
                "</Podmiot2>",
                "</Podmiot2Zly>",
                1,
            ),
        ),
        ("DataWytworzeniaFa", good.replace("S/0", "S/9").replace("2025-09-01T00:00:00Z", "wczoraj")),
    ];
    for (field, xml) in cases {
        assert_ne!(xml, good);
        let st = send(&http, &token, &s, &c, xml.as_bytes());
        assert_eq!(st["status"]["code"], 430, "{field}: {st}");
        let detail = st["status"]["details"][0].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("FA (3)") && detail.contains(field), "{field}: {detail}");
    }
    // The seller NIP's format (TNrNIP), not its checksum.
    let zero = good.replace("S/0", "S/10").replacen(&format!("<NIP>{nip}</NIP>"), "<NIP>1001234567</NIP>", 1);
    assert_eq!(send(&http, &token, &s, &c, zero.as_bytes())["status"]["code"], 430);
}
