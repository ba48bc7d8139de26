//! Saved logins of `starling admin auth`, as mmctl keeps them: one file, readable by its owner only
//! (0600), holding a named entry per server and which one is current. The file holds tokens, never
//! passwords.

use super::client::{CliError, CliResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Credential {
    pub url: String,
    pub username: String,
    pub token: String,
    /// `session` (a login) or `access_token` (a personal access token).
    pub auth_method: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub current: String,
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
}

/// The file: `--config-path`, else `$XDG_CONFIG_HOME/starling/admin.json`, else
/// `~/.config/starling/admin.json`.
pub fn default_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("starling/admin.json");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".config/starling/admin.json")
}

impl Credentials {
    pub fn load(path: &Path) -> CliResult<Credentials> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CliError::usage(format!("{} is not a credentials file: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(CliError::usage(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Write the file (and its folder), mode 0600 from the start: the token is never readable by
    /// others, not even for a moment.
    pub fn save(&self, path: &Path) -> CliResult<()> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let fail = |e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(fail)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        f.write_all(&serde_json::to_vec_pretty(self).unwrap_or_default()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }

    pub fn current(&self) -> Option<(&str, &Credential)> {
        self.credentials.get(&self.current).map(|c| (self.current.as_str(), c))
    }
}
