//! Hostile server responses, generated from a valid one: truncated and corrupted JSON, wrong
//! types, deep nesting, every status code from 100 to 599 with a garbage body, odd headers.
//! Each is a typed error (never a panic), and only the intact 200 decodes.

use ksef_model::operations::GetRateLimits;
use ksef_transport::parse_response;

fn resp(status: u16, headers: &[(&str, &str)], body: &[u8]) -> http::Response<Vec<u8>> {
    let mut b = http::Response::builder().status(status);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(body.to_vec()).unwrap()
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

#[test]
fn generated_hostile_responses_are_typed_errors() {
    let valid = br#"{"onlineSession":{"perSecond":10,"perMinute":30,"perHour":120},"batchSession":{"perSecond":10,"perMinute":20,"perHour":60},"invoiceSend":{"perSecond":10,"perMinute":30,"perHour":180},"invoiceStatus":{"perSecond":30,"perMinute":120,"perHour":1200},"sessionList":{"perSecond":5,"perMinute":10,"perHour":60},"sessionInvoiceList":{"perSecond":10,"perMinute":20,"perHour":200},"sessionMisc":{"perSecond":10,"perMinute":120,"perHour":1200},"invoiceMetadata":{"perSecond":8,"perMinute":16,"perHour":20},"invoiceExport":{"perSecond":8,"perMinute":16,"perHour":20},"invoiceExportStatus":{"perSecond":10,"perMinute":60,"perHour":600},"invoiceDownload":{"perSecond":8,"perMinute":16,"perHour":64},"other":{"perSecond":10,"perMinute":30,"perHour":120},"anonymous":{"perSecond":60,"perMinute":600,"perHour":3600},"batchSessionClose":{"perSecond":10,"perMinute":20,"perHour":60},"onlineSessionClose":{"perSecond":10,"perMinute":30,"perHour":120},"collectiveIdentifier":{"perSecond":10,"perMinute":30,"perHour":120},"global":{"perSecond":100,"perMinute":1000,"perHour":10000},"someFutureGroup":{"perSecond":1,"perMinute":2,"perHour":3}}"#;
    assert!(parse_response::<GetRateLimits>(resp(200, JSON, valid)).is_ok(), "the template must decode");
    let text = std::str::from_utf8(valid).unwrap();
    let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
    // Truncations at 50 points.
    for k in 0..50 {
        let cut = valid.len() * k / 50;
        bodies.push((format!("truncated at {cut}"), valid[..cut].to_vec()));
    }
    // Type confusion and damage.
    for (name, b) in [
        ("number as string", text.replacen("10", "\"10\"", 1)),
        // Not here: a negative limit decodes (the spec sets no minimum for these integers).
        ("float", text.replacen("10", "10.5", 1)),
        ("overflow", text.replacen("10", "99999999999999999999999999", 1)),
        ("null group", text.replacen("{\"perSecond\":10,\"perMinute\":30,\"perHour\":120}", "null", 1)),
        ("array", format!("[{text}]")),
        ("missing field", text.replacen("\"perSecond\":10,", "", 1)),
        ("duplicate key", text.replacen("{\"onlineSession\"", "{\"onlineSession\":1,\"onlineSession\"", 1)),
        ("trailing garbage", format!("{text}}}")),
        ("two documents", format!("{text}{text}")),
        ("NaN", text.replacen("10", "NaN", 1)),
        ("single quotes", text.replace('"', "'")),
        ("deep nesting", format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))),
        ("deep objects", format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000))),
        ("bad escape", text.replacen("onlineSession", "online\\uZZZZSession", 1)),
        ("lone surrogate", text.replacen("onlineSession", "online\\ud800Session", 1)),
        ("empty object", "{}".to_owned()),
        ("empty", String::new()),
        ("HTML", "<html><body>502 Bad Gateway</body></html>".to_owned()),
    ] {
        bodies.push((name.to_owned(), b.into_bytes()));
    }
    bodies.push(("invalid UTF-8".to_owned(), [&valid[..20], b"\xff\xfe", &valid[20..]].concat()));
    bodies.push(("UTF-16 BOM".to_owned(), [b"\xfe\xff".as_slice(), valid].concat()));
    let mut cases = 0usize;
    let accepted: Vec<&str> = bodies
        .iter()
        .filter(|(_, body)| parse_response::<GetRateLimits>(resp(200, JSON, body)).is_ok())
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(accepted.is_empty(), "200 bodies decoded: {accepted:?}");
    cases += bodies.len();
    // Every status but 200, with a valid body, garbage, an error-shaped body with wrong types.
    let odd_error = br#"{"exception":{"exceptionDetailList":[{"exceptionCode":"x","details":7}]}}"#;
    let mut decoded = Vec::new();
    for status in 100..=599u16 {
        if status == 200 {
            continue;
        }
        let headers: &[(&str, &str)] =
            &[("content-type", "application/problem+json"), ("retry-after", "99999999999999999999")];
        // A valid body under another 2xx status is taken as success (lenient, not hostile).
        let valid_body: Option<&[u8]> = if (200..300).contains(&status) { None } else { Some(valid) };
        for body in valid_body.into_iter().chain([&b"\x00\xff garbage"[..], odd_error]) {
            if parse_response::<GetRateLimits>(resp(status, headers, body)).is_ok() {
                decoded.push(status);
            }
            cases += 1;
        }
    }
    assert!(decoded.is_empty(), "decoded under statuses {decoded:?}");
    println!("hostile responses: {} bodies on 200, {} cases in all", bodies.len(), cases);
    assert!(cases >= 1300);
}
