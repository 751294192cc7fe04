//! [`EnvInfo`]: what `spawn` and `status` tell the user about a running
//! environment.

use serde::{Deserialize, Serialize};

/// One running environment, as its owner sees it. It crosses the grid RPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvInfo {
    /// The scorename it was spawned from (one environment per name per
    /// node).
    pub name: String,
    /// The user who spawned it, the only one let in.
    pub owner: String,
    /// `host:port` of its cpu listener (empty for an environment without
    /// one, as [`BareRuntime`](super::BareRuntime) runs them).
    pub cpu_addr: String,
    /// Spawned with `spawndisk` (local store on disk).
    pub disk: bool,
    /// Bytes its local store holds now (dirty and cached blocks).
    pub local_bytes: u64,
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// The exact command that attaches to it.
    pub attach: String,
}

impl EnvInfo {
    /// The command that attaches to the environment spawned from `name`.
    pub fn attach_command(name: &str) -> String {
        format!("gridorc attach {name}")
    }
}
