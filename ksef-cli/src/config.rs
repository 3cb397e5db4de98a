//! Profiles: `[profiles.<name>]` tables in a TOML file. Precedence: flag, then environment
//! variable, then the profile, then the built-in default.

use std::path::PathBuf;

use crate::{Failure, Global, Output, exit};

/// One profile.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    env: Option<String>,
    state_dir: Option<PathBuf>,
    output: Option<Output>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profiles: std::collections::BTreeMap<String, Profile>,
}

/// The effective global settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub env: String,
    pub state_dir: Option<PathBuf>,
    pub output: Output,
}

/// The config file: `$KSEF_CONFIG`, else `$XDG_CONFIG_HOME/ksef/config.toml`, else
/// `~/.config/ksef/config.toml`.
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KSEF_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("ksef/config.toml"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/ksef/config.toml"))
}

/// Applies the selected profile (if any) under the flags and environment variables.
pub(crate) fn resolve(g: &Global) -> Result<Settings, Failure> {
    let profile = match &g.profile {
        None => Profile::default(),
        Some(name) => {
            let path = config_path().ok_or_else(|| Failure::new(exit::USAGE, "no config file location"))?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", path.display())))?;
            let mut file: File =
                toml::from_str(&text).map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", path.display())))?;
            file.profiles
                .remove(name)
                .ok_or_else(|| Failure::new(exit::USAGE, format!("no profile {name:?} in {}", path.display())))?
        }
    };
    Ok(Settings {
        env: g.env.clone().or(profile.env).unwrap_or_else(|| "local".into()),
        state_dir: g.state_dir.clone().or(profile.state_dir),
        output: g.output.or(profile.output).unwrap_or(Output::Human),
    })
}
