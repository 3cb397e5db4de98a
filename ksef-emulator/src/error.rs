//! KSeF's error model: exception codes, the legacy `ExceptionResponse` and Problem Details.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The Polish description KSeF gives an exception code (protocol §16.2).
pub fn exception_description(code: u32) -> &'static str {
    match code {
        9101 => "Nieprawidłowy dokument.",
        9102 => "Brak podpisu.",
        9103 => "Przekroczona liczba dozwolonych podpisów.",
        9105 => "Nieprawidłowy podpis.",
        21001 => "Nieczytelna treść.",
        21111 => "Nieprawidłowe wyzwanie autoryzacyjne.",
        21115 => "Nieprawidłowy certyfikat.",
        21117 => "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
        21155 => "Przekroczono dozwoloną liczbę faktur w sesji.",
        21157 => "Nieprawidłowy rozmiar części pakietu.",
        21161 => "Przekroczono dozwoloną liczbę części pakietu.",
        21164 => "Faktura o podanym identyfikatorze nie istnieje.",
        21165 => "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.",
        21166 => "Korekta techniczna niedostępna.",
        21167 => "Status faktury nie pozwala na korektę techniczną.",
        21173 => "Brak sesji o wskazanym numerze referencyjnym.",
        21175 => "Wynik zapytania o podanym identyfikatorze nie istnieje.",
        21178 => "Nie znaleziono UPO dla podanych kryteriów.",
        21180 => "Status sesji nie pozwala na wykonanie operacji.",
        21181 => "Nieprawidłowe żądanie eksportu faktur.",
        21182 => "Osiągnięto limit trwających eksportów.",
        21183 => "Zakres filtrowania wykracza poza dostępny zakres danych.",
        21205 => "Pakiet nie może być pusty.",
        21208 => "Czas oczekiwania na requesty upload lub finish został przekroczony.",
        21217 => "Nieprawidłowe kodowanie znaków.",
        21301 => "Brak autoryzacji.",
        21304 => "Brak uwierzytelnienia.",
        21308 => "Próba wykorzystania metod autoryzacyjnych osoby zmarłej.",
        21401 => "Dokument nie jest zgodny ze schemą (xsd).",
        21402 => "Nieprawidłowy rozmiar pliku.",
        21403 => "Nieprawidłowy skrót pliku.",
        21405 => "Błąd walidacji danych wejściowych.",
        21406 => "Konflikt podpisu i typu uwierzytelnienia.",
        21418 => "Przekazany token kontynuacji ma nieprawidłowy format.",
        21470 => "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
        25001 => "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.",
        25002 => "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu uwierzytelnienia.",
        25003 => "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.",
        25004 => "Niepoprawny format CSR lub niepoprawny podpis CSR.",
        25005 => "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.",
        25006 => "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.",
        25007 => "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.",
        25008 => "Certyfikat o podanym numerze seryjnym nie istnieje.",
        25009 => "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany lub nieważny.",
        25010 => "Nieprawidłowy typ lub długość klucza.",
        25011 => "Nieprawidłowy algorytm podpisu CSR.",
        26001 => "Nie można nadać tokenowi uprawnień których nie posiadasz.",
        26002 => "Nie można wygenerować tokena dla obecnego typu kontekstu.",
        30001 => "Podmiot lub uprawnienie już istnieje.",
        _ => "Nieznany błąd.",
    }
}

/// One entry of a 400 answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// KSeF's exception code (`21405`, ...).
    pub code: u32,
    /// Details (free text, Polish like KSeF's).
    pub details: Vec<String>,
}

/// Why the 403 was given (`reasonCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForbiddenReason {
    /// None of the required permissions is held.
    MissingPermissions,
    /// The context type may not call this operation.
    ContextTypeNotAllowed,
    /// The authentication method may not call this operation.
    AuthMethodNotAllowed,
    /// The caller's IP is outside the token's `AllowedIps`.
    IpNotAllowed,
    /// The resource belongs to someone else.
    InsufficientResourceAccess,
}

impl ForbiddenReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::MissingPermissions => "missing-permissions",
            Self::ContextTypeNotAllowed => "context-type-not-allowed",
            Self::AuthMethodNotAllowed => "auth-method-not-allowed",
            Self::IpNotAllowed => "ip-not-allowed",
            Self::InsufficientResourceAccess => "insufficient-resource-access",
        }
    }
}

/// An error answer of the API, rendered in the format the request asked for.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400 with one or more exception codes.
    #[error("400 Bad Request, exception codes {:?}", .0.iter().map(|e| e.code).collect::<Vec<_>>())]
    BadRequest(Vec<Exception>),
    /// 401: missing, invalid or expired token (or the wrong kind of token).
    #[error("401 Unauthorized: {0}")]
    Unauthorized(String),
    /// 403 with a `reasonCode` and the `security` object.
    #[error("403 Forbidden ({}): {detail}", reason.as_str())]
    Forbidden {
        /// `reasonCode`.
        reason: ForbiddenReason,
        /// `detail`.
        detail: String,
        /// `security` (shape depends on the reason).
        security: Value,
    },
    /// 410: the status has expired.
    #[error("410 Gone")]
    Gone,
    /// 415: wrong `Content-Type`.
    #[error("415 Unsupported Media Type")]
    UnsupportedMediaType,
    /// 429 with `Retry-After`.
    #[error("429 Too Many Requests (retry after {retry_after} s)")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
        /// The detail message.
        detail: String,
    },
}

impl ApiError {
    /// A 400 with one exception code and details.
    pub fn code(code: u32, details: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::BadRequest(vec![Exception { code, details: details.into_iter().map(Into::into).collect() }])
    }

    /// A 400 `21405` (input validation) with one detail.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::code(21405, [detail.into()])
    }

    /// The exception codes, for a 400.
    pub fn codes(&self) -> Vec<u32> {
        match self {
            Self::BadRequest(list) => list.iter().map(|e| e.code).collect(),
            _ => Vec::new(),
        }
    }
}

/// The request facts an error body needs; put into request extensions by the error middleware.
#[derive(Clone, Debug)]
pub(crate) struct ErrorRendering {
    pub problem_details: bool,
    pub instance: String,
    pub now: DateTime<Utc>,
    pub trace_id: String,
}

/// Marker put into a response's extensions so the error middleware can render the body.
#[derive(Clone, Debug)]
pub(crate) struct PendingError(pub ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is rendered by `render` in the error middleware, which knows the request.
        let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        r.extensions_mut().insert(PendingError(self));
        r
    }
}

pub(crate) fn ksef_timestamp(t: DateTime<Utc>) -> String {
    // KSeF writes 7 fractional digits (100 ns ticks); chrono has no `%.7f`.
    let ticks = t.timestamp_subsec_nanos() % 1_000_000_000 / 100;
    format!("{}.{ticks:07}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// Renders an error the way KSeF does for this request.
pub(crate) fn render(err: &ApiError, r: &ErrorRendering) -> Response {
    let ts = ksef_timestamp(r.now);
    let problem = |status: StatusCode, body: Value| -> Response {
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        resp
    };
    match err {
        ApiError::BadRequest(list) => {
            if r.problem_details {
                let errors: Vec<Value> = list
                    .iter()
                    .map(
                        |e| json!({"code": e.code, "description": exception_description(e.code), "details": e.details}),
                    )
                    .collect();
                problem(
                    StatusCode::BAD_REQUEST,
                    json!({"title": "Bad Request", "status": 400, "instance": r.instance,
                           "detail": "Żądanie jest nieprawidłowe.", "errors": errors, "timestamp": ts, "traceId": r.trace_id}),
                )
            } else {
                let list: Vec<Value> = list
                    .iter()
                    .map(|e| {
                        json!({"exceptionCode": e.code, "exceptionDescription": exception_description(e.code), "details": e.details})
                    })
                    .collect();
                let body = json!({"exception": {
                    "exceptionDetailList": list,
                    "serviceCode": format!("00-{}-{}-00", r.trace_id, &r.trace_id[..16]),
                    "serviceCtx": "srvEMULA",
                    "serviceName": "ksef-emulator",
                    "timestamp": ts,
                }});
                let mut resp = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }
        }
        ApiError::Unauthorized(why) => problem(
            StatusCode::UNAUTHORIZED,
            json!({"title": "Unauthorized", "status": 401, "detail": format!("Wymagane jest uwierzytelnienie. {why}").trim_end(),
                   "instance": r.instance, "traceId": r.trace_id, "timestamp": ts}),
        ),
        ApiError::Forbidden { reason, detail, security } => problem(
            StatusCode::FORBIDDEN,
            json!({"title": "Forbidden", "status": 403, "detail": detail, "instance": r.instance,
                   "reasonCode": reason.as_str(), "security": security, "traceId": r.trace_id, "timestamp": ts}),
        ),
        ApiError::Gone => problem(
            StatusCode::GONE,
            json!({"title": "Gone", "status": 410, "instance": r.instance,
                   "detail": "Operacja wygasła i nie jest już dostępna.", "timestamp": ts, "traceId": r.trace_id}),
        ),
        ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response(),
        ApiError::TooManyRequests { retry_after, detail } => {
            let mut resp = if r.problem_details {
                problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"title": "Too Many Requests", "status": 429, "instance": r.instance, "detail": detail,
                           "timestamp": ts, "traceId": r.trace_id}),
                )
            } else {
                let body = json!({"status": {"code": 429, "description": "Too Many Requests", "details": [detail]}});
                let mut resp = (StatusCode::TOO_MANY_REQUESTS, body.to_string()).into_response();
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            };
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            resp
        }
    }
}

/// Whether the request asked for Problem Details (`X-Error-Format: problem-details`).
pub(crate) fn wants_problem_details(headers: &HeaderMap) -> bool {
    headers
        .get("x-error-format")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("problem-details"))
}
