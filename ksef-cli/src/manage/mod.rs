//! The receive and manage commands: `invoices query|export`, `permissions`, `tokens`, `certs`,
//! `limits`, `testdata`, and the rejection formatting shared with `send`.

pub(crate) mod certs;
pub(crate) mod invoices;
pub(crate) mod limits;
pub(crate) mod permissions;
pub(crate) mod rejection;
pub(crate) mod testdata;
pub(crate) mod tokens;

use std::path::Path;
use std::str::FromStr;

use crate::config::Settings;
use crate::{Connection, Failure, LoginArgs, Output, Target, exit};

/// A logged-in connection; the (possibly refreshed) tokens are written back on drop.
pub(crate) struct Remote<'a> {
    pub conn: Connection,
    pub target: Target,
    state: &'a Path,
}

impl Remote<'_> {
    /// The client.
    pub(crate) fn client(&self) -> &crate::Client {
        &self.conn.client
    }

    /// Calls `O`; a 403 names the permissions the operation needs (`x-required-permissions`).
    pub(crate) fn call<O>(&self, params: &O::Params, body: O::Request) -> Result<O::Response, Failure>
    where
        O: ksef_model::Operation,
        O::Request: ksef_transport::RequestBody + Clone,
        O::Response: ksef_transport::ResponseBody,
    {
        self.client().call_blocking::<O>(params, body).map(|r| r.value).map_err(forbidden::<O>)
    }
}

/// A client error; for HTTP 403 with a hint naming the permissions `O` requires.
pub(crate) fn forbidden<O: ksef_model::Operation>(e: ksef_client::Error) -> Failure {
    let is_403 = e.status().is_some_and(|s| s.as_u16() == 403);
    let mut f = Failure::from(e);
    if is_403 {
        let needed = ksef_client::permissions::required::required_for::<O>();
        if !needed.is_empty() {
            let names: Vec<String> = needed.iter().map(ToString::to_string).collect();
            f.message.push_str(&format!(
                "; `{}` needs one of these permissions in the logged-in context: {} (log in as a subject \
                 holding one, or have it granted with `ksef permissions grant`)",
                O::SPEC.name,
                names.join(", ")
            ));
        }
    }
    f
}

impl Drop for Remote<'_> {
    fn drop(&mut self) {
        crate::keep_tokens(self.state, &self.target.key(), &self.conn);
    }
}

/// Parses the environment, prints its banner, connects and logs in (flags or stored tokens).
pub(crate) fn remote<'a>(g: &Settings, state: &'a Path, login: &LoginArgs) -> Result<Remote<'a>, Failure> {
    let target = Target::parse(&g.env)?;
    target.banner();
    let conn = crate::connect(&target, state)?;
    crate::ensure_auth(&conn, state, &target.key(), login)?;
    Ok(Remote { conn, target, state })
}

/// Prints `json` (pretty) in JSON mode, else runs `human`.
pub(crate) fn emit(output: Output, json: &serde_json::Value, human: impl FnOnce()) -> Result<(), Failure> {
    if output == Output::Json {
        let text = serde_json::to_string_pretty(json).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
        println!("{text}");
    } else {
        human();
    }
    Ok(())
}

/// A usage error (exit 2) about `what`.
pub(crate) fn usage(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(exit::USAGE, format!("{what}: {e}"))
}

/// Parses a KSeF enum value by its wire name (`--flag VALUE`), listing the accepted values on error.
pub(crate) fn parse_enum<T: FromStr>(flag: &str, value: &str, accepted: &str) -> Result<T, Failure> {
    T::from_str(value)
        .map_err(|_| Failure::new(exit::USAGE, format!("{flag}: unknown value {value:?} (accepted: {accepted})")))
}

/// A `ksef_permissions` validation error as a usage error naming the field.
pub(crate) fn invalid(e: &ksef_client::permissions::ValidationError) -> Failure {
    Failure::new(exit::USAGE, format!("invalid request ({}): {e}", e.field()))
}

/// JSON of any serializable value.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure::new(exit::ERROR, e.to_string()))
}

/// A page size flag checked against KSeF's range.
pub(crate) fn page_size(v: Option<u32>, min: u32, max: u32) -> Result<Option<i32>, Failure> {
    match v {
        None => Ok(None),
        Some(n) if (min..=max).contains(&n) => Ok(i32::try_from(n).ok()),
        Some(n) => Err(Failure::new(exit::USAGE, format!("--page-size {n}: must be {min}..={max}"))),
    }
}

/// Refuses `/testdata/*` (and other test-only) commands outside TE, the emulator and URLs.
pub(crate) fn require_test_env(target: &Target, what: &str) -> Result<(), Failure> {
    match target {
        Target::Test | Target::Local | Target::Url(_) => Ok(()),
        Target::Demo | Target::Prod => Err(Failure::new(
            exit::REFUSED,
            format!(
                "{what} uses the /testdata API, which exists only on KSeF TE and the emulator (use --env test or local)"
            ),
        )),
    }
}

/// A connection without login, for the anonymous `/testdata/*` operations (TE and local only).
pub(crate) fn anonymous(g: &Settings, state: &Path, what: &str) -> Result<Connection, Failure> {
    let target = Target::parse(&g.env)?;
    target.banner();
    require_test_env(&target, what)?;
    crate::connect(&target, state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        <crate::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
