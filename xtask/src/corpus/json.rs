//! JSON cases: hostile server replies for the client's response decoding (status + headers +
//! body), and hostile request bodies for the emulator.

use serde_json::{Value, json};

use super::Corpus;

/// A valid `GET /rate-limits` reply, the template of the response cases.
const RATE_LIMITS: &str = r#"{"onlineSession":{"perSecond":10,"perMinute":30,"perHour":120},"batchSession":{"perSecond":10,"perMinute":20,"perHour":60},"invoiceSend":{"perSecond":10,"perMinute":30,"perHour":180},"invoiceStatus":{"perSecond":30,"perMinute":120,"perHour":1200},"sessionList":{"perSecond":5,"perMinute":10,"perHour":60},"sessionInvoiceList":{"perSecond":10,"perMinute":20,"perHour":200},"sessionMisc":{"perSecond":10,"perMinute":120,"perHour":1200},"invoiceMetadata":{"perSecond":8,"perMinute":16,"perHour":20},"invoiceExport":{"perSecond":8,"perMinute":16,"perHour":20},"invoiceExportStatus":{"perSecond":10,"perMinute":60,"perHour":600},"invoiceDownload":{"perSecond":8,"perMinute":16,"perHour":64},"other":{"perSecond":10,"perMinute":30,"perHour":120},"anonymous":{"perSecond":60,"perMinute":600,"perHour":3600},"batchSessionClose":{"perSecond":10,"perMinute":20,"perHour":60},"onlineSessionClose":{"perSecond":10,"perMinute":30,"perHour":120},"collectiveIdentifier":{"perSecond":10,"perMinute":30,"perHour":120},"global":{"perSecond":100,"perMinute":1000,"perHour":10000},"someFutureGroup":{"perSecond":1,"perMinute":2,"perHour":3}}"#;

const JSON_CT: &str = "application/json";

fn reply(status: u16, headers: &[(&str, &str)]) -> Value {
    let h: Vec<Value> = headers.iter().map(|(k, v)| json!([k, v])).collect();
    json!({"operation": "GetRateLimits", "status": status, "headers": h})
}

/// `(status, attack, headers, body, expected transport error)`.
type StatusCase<'a> = (u16, &'a str, &'a [(&'a str, &'a str)], Vec<u8>, &'a str);

/// Hostile replies to `GET /rate-limits`. `transport`: the `ksef_transport::Error` variant of
/// `parse_response` (`Decode` for a 2xx body that is not the schema, `Api` for an error status).
pub fn responses(c: &mut Corpus) {
    let t = RATE_LIMITS;
    let ct: &[(&str, &str)] = &[("content-type", JSON_CT)];
    c.add(
        "json-response",
        "control-valid",
        "body",
        t.as_bytes().to_vec(),
        "none (control: decodes)",
        reply(200, ct),
        json!({"transport": "Ok"}),
    );
    let mut bodies: Vec<(String, String, Vec<u8>)> = Vec::new();
    for k in [1usize, 2, 5, 10, 20, 30, 40, 45, 49] {
        let cut = t.len() * k / 50;
        bodies.push((
            format!("truncated-{k}of50"),
            format!("the body cut at byte {cut}"),
            t.as_bytes()[..cut].to_vec(),
        ));
    }
    let damaged: Vec<(&str, &str, String)> = vec![
        ("number-as-string", "a number sent as a string", t.replacen("10", "\"10\"", 1)),
        ("float", "a float where an integer belongs", t.replacen("10", "10.5", 1)),
        ("overflow", "an integer beyond 64 bits", t.replacen("10", "99999999999999999999999999", 1)),
        (
            "null-group",
            "a required object set to null",
            t.replacen("{\"perSecond\":10,\"perMinute\":30,\"perHour\":120}", "null", 1),
        ),
        ("array", "the object wrapped in an array", format!("[{t}]")),
        ("missing-field", "a required field missing", t.replacen("\"perSecond\":10,", "", 1)),
        (
            "duplicate-key",
            "a key given twice with another type",
            t.replacen("{\"onlineSession\"", "{\"onlineSession\":1,\"onlineSession\"", 1),
        ),
        ("trailing-garbage", "bytes after the document", format!("{t}}}")),
        ("two-documents", "two JSON documents", format!("{t}{t}")),
        ("nan", "NaN (not JSON)", t.replacen("10", "NaN", 1)),
        ("single-quotes", "single-quoted strings", t.replace('"', "'")),
        (
            "deep-arrays",
            "100 000 nested arrays (stack exhaustion)",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        ("deep-objects", "10 000 nested objects", format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000))),
        ("bad-escape", "an invalid \\u escape", t.replacen("onlineSession", "online\\uZZZZSession", 1)),
        (
            "lone-surrogate",
            "a lone surrogate escape in a key",
            t.replacen("\"perSecond\":10", "\"perSecond\\ud800\":10", 1),
        ),
        ("empty-object", "an empty object", "{}".to_owned()),
        ("empty", "an empty body", String::new()),
        ("html", "an HTML error page under 200", "<html><body>502 Bad Gateway</body></html>".to_owned()),
        (
            "negative-as-string",
            "a string where an object belongs",
            t.replacen("{\"perSecond\":10,\"perMinute\":30,\"perHour\":120}", "\"-1\"", 1),
        ),
        ("bool", "a boolean where an integer belongs", t.replacen("10", "true", 1)),
    ];
    for (slug, attack, body) in damaged {
        bodies.push((slug.to_owned(), attack.to_owned(), body.into_bytes()));
    }
    bodies.push((
        "invalid-utf8".to_owned(),
        "invalid UTF-8 inside a key".to_owned(),
        [&t.as_bytes()[..20], b"\xff\xfe", &t.as_bytes()[20..]].concat(),
    ));
    bodies.push((
        "utf16-bom".to_owned(),
        "a UTF-16 byte-order mark".to_owned(),
        [b"\xfe\xff".as_slice(), t.as_bytes()].concat(),
    ));
    for (slug, attack, body) in bodies {
        c.add(
            "json-response",
            &slug,
            "body",
            body,
            format!("200: {attack}"),
            reply(200, ct),
            json!({"transport": "Error::Decode"}),
        );
    }
    // Unexpected statuses, each with a hostile body and headers.
    let problem: &[(&str, &str)] =
        &[("content-type", "application/problem+json"), ("retry-after", "99999999999999999999")];
    let odd_error = br#"{"exception":{"exceptionDetailList":[{"exceptionCode":"x","details":7}]}}"#.to_vec();
    let deep_error = format!("{{\"exception\":{}1{}}}", "{\"a\":".repeat(5000), "}".repeat(5000)).into_bytes();
    let statuses: Vec<StatusCase<'_>> = vec![
        (201, "an unexpected 2xx with garbage", ct, b"\x00\xff garbage".to_vec(), "Decode"),
        (204, "204 where a body is required", ct, Vec::new(), "Decode"),
        (206, "206 with half a body", ct, t.as_bytes()[..100].to_vec(), "Decode"),
        (301, "a redirect to elsewhere", &[("location", "http://127.0.0.1:1/evil")], Vec::new(), "Api|Decode"),
        (400, "400 with an error of wrong types", problem, odd_error.clone(), "Api"),
        (400, "400 with a deeply nested error", ct, deep_error.clone(), "Api"),
        (400, "400 with invalid UTF-8", ct, b"\xff\xfe{".to_vec(), "Api"),
        (401, "401 with an empty body", &[], Vec::new(), "Api"),
        (403, "403 with HTML", &[("content-type", "text/html")], b"<html>Forbidden</html>".to_vec(), "Api"),
        (404, "404 with the success body", ct, t.as_bytes().to_vec(), "Api"),
        (413, "413 with garbage", ct, b"\x00\xff garbage".to_vec(), "Api"),
        (429, "429 with a huge Retry-After", problem, b"{\"status\":{\"code\":429}}".to_vec(), "Api"),
        (429, "429 with a negative Retry-After", &[("retry-after", "-5")], Vec::new(), "Api"),
        (
            429,
            "429 with an HTTP-date Retry-After in the past",
            &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
            b"not json".to_vec(),
            "Api",
        ),
        (
            500,
            "500 with a truncated error body",
            ct,
            br#"{"exception":{"exceptionDetailList":[{"exceptionCode":21405"#.to_vec(),
            "Api",
        ),
        (
            502,
            "502 HTML from a proxy",
            &[("content-type", "text/html")],
            b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            "Api",
        ),
        (
            503,
            "503 with the wrong content type",
            &[("content-type", "image/png")],
            b"\x89PNG\r\n\x1a\n".to_vec(),
            "Api",
        ),
        (599, "a non-standard status", ct, b"{}".to_vec(), "Api"),
        (100, "an informational status as final", ct, Vec::new(), "Api|Decode"),
    ];
    for (status, attack, headers, body, kind) in statuses {
        c.add(
            "json-response",
            &format!("status-{status}"),
            "body",
            body,
            attack,
            reply(status, headers),
            json!({"transport": format!("Error::{}", kind.replace('|', "|Error::"))}),
        );
    }
}

/// Hostile JSON request bodies for the emulator (the harness logs in and sends each to `path`
/// with its token): 400 with KSeF's exception code `21405`.
pub fn requests(c: &mut Corpus) {
    let open = r#"{"formCode":{"systemCode":"FA (3)","schemaVersion":"1-0E","value":"FA"},"encryption":{"encryptedSymmetricKey":"AAAA","initializationVector":"AAAAAAAAAAAAAAAAAAAAAA=="}}"#;
    let token = r#"{"permissions":["InvoiceRead"],"description":"Token korpusu"}"#;
    let cases: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("/sessions/online", "truncated", "the body cut in half", open.as_bytes()[..open.len() / 2].to_vec()),
        ("/sessions/online", "empty", "an empty body", Vec::new()),
        ("/sessions/online", "null", "JSON null", b"null".to_vec()),
        ("/sessions/online", "array", "an array instead of an object", format!("[{open}]").into_bytes()),
        ("/sessions/online", "string", "a string instead of an object", b"\"formCode\"".to_vec()),
        (
            "/sessions/online",
            "deep-nesting",
            "100 000 nested arrays",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
        (
            "/sessions/online",
            "deep-objects",
            "10 000 nested objects in a field",
            format!("{{\"formCode\":{}1{}}}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes(),
        ),
        (
            "/sessions/online",
            "invalid-utf8",
            "invalid UTF-8 in a string",
            [&open.as_bytes()[..30], b"\xff\xfe", &open.as_bytes()[30..]].concat(),
        ),
        ("/sessions/online", "bom", "a UTF-8 byte-order mark", [b"\xEF\xBB\xBF".as_slice(), open.as_bytes()].concat()),
        ("/sessions/online", "nan", "NaN (not JSON)", open.replacen("\"FA (3)\"", "NaN", 1).into_bytes()),
        ("/sessions/online", "single-quotes", "single-quoted strings", open.replace('"', "'").into_bytes()),
        ("/sessions/online", "trailing-garbage", "bytes after the document", format!("{open}}}").into_bytes()),
        ("/sessions/online", "two-documents", "two JSON documents", format!("{open}{open}").into_bytes()),
        (
            "/sessions/online",
            "missing-encryption",
            "a required object missing",
            open.split(",\"encryption\"").next().map(|s| format!("{s}}}")).unwrap_or_default().into_bytes(),
        ),
        (
            "/sessions/online",
            "wrong-type",
            "a number where an object belongs",
            open.replacen("{\"systemCode\":\"FA (3)\",\"schemaVersion\":\"1-0E\",\"value\":\"FA\"}", "42", 1)
                .into_bytes(),
        ),
        (
            "/sessions/online",
            "duplicate-key",
            "a key given twice with another type",
            open.replacen("{\"formCode\"", "{\"formCode\":1,\"formCode\"", 1).into_bytes(),
        ),
        (
            "/sessions/online",
            "lone-surrogate",
            "a lone surrogate escape",
            open.replacen("FA (3)", "FA \\ud800", 1).into_bytes(),
        ),
        (
            "/sessions/online",
            "huge-number",
            "a 400-digit number",
            open.replacen("\"AAAA\"", &"9".repeat(400), 1).into_bytes(),
        ),
        (
            "/tokens",
            "unknown-permission",
            "an unknown enum value",
            token.replacen("InvoiceRead", "GodMode", 1).into_bytes(),
        ),
        (
            "/tokens",
            "permissions-not-array",
            "a string where an array belongs",
            token.replacen("[\"InvoiceRead\"]", "\"InvoiceRead\"", 1).into_bytes(),
        ),
        (
            "/tokens",
            "description-number",
            "a number where a string belongs",
            token.replacen("\"Token korpusu\"", "12345", 1).into_bytes(),
        ),
        ("/tokens", "truncated", "the body cut in half", token.as_bytes()[..token.len() / 2].to_vec()),
        (
            "/tokens",
            "null-bytes",
            "NUL bytes around the document",
            [b"\0".as_slice(), token.as_bytes(), b"\0"].concat(),
        ),
    ];
    for (path, slug, attack, body) in cases {
        c.add(
            "json-request",
            &format!("{}-{slug}", path.trim_start_matches('/').replace('/', "-")),
            "json",
            body,
            format!("POST {path}: {attack}"),
            json!({"method": "POST", "path": path}),
            json!({"emulator": {"status": 400, "code": 21405}}),
        );
    }
}
