//! Stored KSeF access and refresh tokens: `<state dir>/tokens/<environment>.json`, mode 0600.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ksef_client::AuthTokens;
use ksef_transport::SecretToken;
use zeroize::Zeroizing;

use crate::{Failure, exit};

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    access: String,
    access_valid_until: DateTime<Utc>,
    refresh: String,
    refresh_valid_until: DateTime<Utc>,
}

impl Drop for Stored {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access.zeroize();
        self.refresh.zeroize();
    }
}

/// The token file of an environment key (`local`, `test`, a URL ...).
pub(crate) fn path(state: &Path, env_key: &str) -> PathBuf {
    let name: String = env_key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    state.join("tokens").join(format!("{name}.json"))
}

/// Saves the client's current tokens (0600).
pub(crate) fn save(state: &Path, env_key: &str, client: &crate::Client) -> Result<(), Failure> {
    let now = Utc::now();
    let t = client.tokens();
    let (Some(access), Some(refresh), Some(av), Some(rv)) =
        (t.unexpired_access(now), t.usable_refresh(now), t.access_valid_until(), t.refresh_valid_until())
    else {
        return Err(Failure::new(exit::AUTH, "no tokens to store"));
    };
    let s = Stored {
        access: access.expose_secret().to_string(),
        access_valid_until: av,
        refresh: refresh.expose_secret().to_string(),
        refresh_valid_until: rv,
    };
    let json = Zeroizing::new(serde_json::to_vec(&s).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?);
    crate::write_file(&path(state, env_key), &json, true)?;
    Ok(())
}

/// Loads stored tokens into the client; `false` if there are none (or the refresh token expired).
pub(crate) fn load(state: &Path, env_key: &str, client: &crate::Client) -> Result<bool, Failure> {
    let p = path(state, env_key);
    let Ok(bytes) = std::fs::read(&p).map(Zeroizing::new) else { return Ok(false) };
    let s: Stored = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(exit::AUTH, format!("{}: not a token file: {e}", p.display())))?;
    if s.refresh_valid_until <= Utc::now() {
        return Ok(false);
    }
    client.tokens().set(AuthTokens {
        access: SecretToken::new(s.access.as_str()),
        access_valid_until: s.access_valid_until,
        refresh: SecretToken::new(s.refresh.as_str()),
        refresh_valid_until: s.refresh_valid_until,
    });
    Ok(true)
}

/// Deletes the stored tokens; `true` if there were any.
pub(crate) fn remove(state: &Path, env_key: &str) -> Result<bool, Failure> {
    match std::fs::remove_file(path(state, env_key)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}
