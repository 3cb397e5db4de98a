//! The `X-System-Warning` response header.

/// One item of an `X-System-Warning` header (`[code]: message`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SystemWarning {
    /// The code between the brackets; empty when the item did not follow the format.
    pub code: String,
    /// The message (trimmed); the whole item when it did not follow the format.
    pub message: String,
}

impl core::fmt::Display for SystemWarning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.code.is_empty() { f.write_str(&self.message) } else { write!(f, "[{}]: {}", self.code, self.message) }
    }
}

/// Parses an `X-System-Warning` value: `[code]: message | [code]: message`.
///
/// Items that do not follow the format are kept whole as the message with an empty code, so
/// nothing the server said is dropped.
pub fn parse_system_warnings(value: &str) -> Vec<SystemWarning> {
    value
        .split('|')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            if let Some(rest) = item.strip_prefix('[')
                && let Some((code, msg)) = rest.split_once(']')
                && let Some(msg) = msg.strip_prefix(':')
                && !code.is_empty()
            {
                return SystemWarning { code: code.to_owned(), message: msg.trim().to_owned() };
            }
            SystemWarning { code: String::new(), message: item.to_owned() }
        })
        .collect()
}

/// Collects the warnings of every `X-System-Warning` header of a response.
pub fn system_warnings(headers: &http::HeaderMap) -> Vec<SystemWarning> {
    headers
        .get_all("x-system-warning")
        .iter()
        .flat_map(|v| parse_system_warnings(&String::from_utf8_lossy(v.as_bytes())))
        .collect()
}
