//! Plugins: out-of-process extensions in any language, installed once and run on every node
//! (Mattermost's cluster flow, `docs/plugins.md` has the protocol).
//!
//! - A bundle uploaded on one node (`POST /api/v4/plugins`) is checked and unpacked
//!   ([`bundle`]), stored at `plugins/<id>.tar.gz` in the shared file store, installed here, and
//!   announced to the cluster (a reliable `plugins` extension message); each peer reads it from
//!   the file store and installs it too. A node that starts later syncs every bundle from the
//!   file store. Removal goes the same way.
//! - Whether a plugin runs is `PluginSettings.PluginStates` in the config, so enabling and
//!   disabling follow config propagation (a config in the database, as in Mattermost's HA).
//! - On each node the [`host::PluginHost`] actor runs each enabled plugin as a
//!   [`process::PluginProcess`] and supervises it: a process that dies is restarted every
//!   [`host::RESTART_DELAY`]; after [`host::MAX_CRASHES`] crashes within [`host::CRASH_WINDOW`]
//!   it is left stopped as `FailedToStayRunning`. Plugins register the same hooks and commands
//!   as extension actors, and call back into the node through [`api`].
//! - `GET /api/v4/plugins/statuses` asks every peer for its statuses (a cluster request to the
//!   `plugins` extension), so it shows each plugin on each node.

pub mod api;
pub mod bundle;
pub mod host;
pub mod process;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The file-store folder bundles are kept in.
pub const STORE_FOLDER: &str = "plugins";
/// The extension name of the plugin system's cluster messages and questions.
pub const CLUSTER_NAME: &str = "plugins";

/// Mattermost's plugin states.
pub mod state {
    pub const NOT_RUNNING: i32 = 0;
    pub const STARTING: i32 = 1;
    pub const RUNNING: i32 = 2;
    pub const FAILED_TO_START: i32 = 3;
    pub const FAILED_TO_STAY_RUNNING: i32 = 4;
    pub const STOPPING: i32 = 5;
}

/// One plugin on one node (Mattermost's `PluginStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginStatus {
    pub plugin_id: String,
    /// The node's id.
    pub cluster_id: String,
    pub plugin_path: String,
    pub state: i32,
    pub error: String,
    pub name: String,
    pub description: String,
    pub version: String,
}

/// What the API reads without waiting for the host: statuses, manifests and running processes.
#[derive(Clone, Default)]
pub struct Shared {
    pub statuses: Arc<RwLock<BTreeMap<String, PluginStatus>>>,
    pub manifests: Arc<RwLock<BTreeMap<String, bundle::Manifest>>>,
    pub running: Arc<RwLock<BTreeMap<String, actix::Addr<process::PluginProcess>>>>,
}

impl Shared {
    pub fn statuses(&self) -> Vec<PluginStatus> {
        self.statuses.read().map(|s| s.values().cloned().collect()).unwrap_or_default()
    }
    pub fn manifest(&self, id: &str) -> Option<bundle::Manifest> {
        self.manifests.read().ok().and_then(|m| m.get(id).cloned())
    }
    pub fn manifests(&self) -> Vec<bundle::Manifest> {
        self.manifests.read().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }
    pub fn process(&self, id: &str) -> Option<actix::Addr<process::PluginProcess>> {
        self.running.read().ok().and_then(|m| m.get(id).cloned())
    }
    pub fn is_running(&self, id: &str) -> bool {
        self.statuses.read().ok().is_some_and(|s| s.get(id).is_some_and(|st| st.state == state::RUNNING))
    }
}

/// The node's plugin system, as the API sees it.
#[derive(Clone)]
pub struct Plugins {
    pub host: actix::Addr<host::PluginHost>,
    pub shared: Shared,
}
