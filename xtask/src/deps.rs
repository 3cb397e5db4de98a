//! The crate graph points one way (ARCHITECTURE.md): checked by a test, so `cargo test` catches an
//! upward dependency.

/// For each workspace crate, the sibling crates it may depend on (normal and build dependencies).
/// Dev-dependencies may also name `ksef-emulator` (the test server) and `ksef-crypto` (test
/// identities and encryption in end-to-end tests); neither ends up in a published dependency tree.
pub const ALLOWED: &[(&str, &[&str])] = &[
    ("ksef-model", &[]),
    ("ksef-crypto", &[]),
    ("ksef-transport", &["ksef-model"]),
    ("ksef-permissions", &["ksef-model", "ksef-transport"]),
    ("ksef-client", &["ksef-model", "ksef-crypto", "ksef-transport", "ksef-permissions"]),
    ("ksef-emulator", &["ksef-model", "ksef-crypto"]),
    ("ksef-cli", &["ksef-model", "ksef-crypto", "ksef-transport", "ksef-permissions", "ksef-client", "ksef-emulator"]),
    ("xtask", &["ksef-crypto"]),
];

/// Crates any workspace crate may name as a dev-dependency.
pub const TEST_ONLY: &[&str] = &["ksef-emulator", "ksef-crypto"];

#[cfg(test)]
mod tests {
    use super::{ALLOWED, TEST_ONLY};

    #[test]
    fn no_crate_depends_upward() {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
            .current_dir(crate::codegen::project_root())
            .output()
            .expect("cargo metadata runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
        let mut checked = 0;
        for pkg in meta["packages"].as_array().expect("packages") {
            let name = pkg["name"].as_str().expect("name");
            let allowed = ALLOWED
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is not in xtask/src/deps.rs ALLOWED"))
                .1;
            for dep in pkg["dependencies"].as_array().expect("dependencies") {
                let dep_name = dep["name"].as_str().expect("dep name");
                if !dep_name.starts_with("ksef-") {
                    continue;
                }
                let dev = dep["kind"].as_str() == Some("dev");
                let ok = allowed.contains(&dep_name) || (dev && TEST_ONLY.contains(&dep_name));
                assert!(ok, "{name} must not depend on {dep_name} (see ARCHITECTURE.md: dependencies point one way)");
                checked += 1;
            }
        }
        assert!(checked > 0, "no workspace dependency was checked");
    }
}
