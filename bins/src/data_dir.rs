//! `--data DIR` for the grid commands: the node's data directory.

use std::path::PathBuf;

use clap::Args;

/// The node's data directory: `--data`, else `$COLONY_DATA`, else
/// `/var/lib/colony` for root and `~/.local/share/colony` for others.
#[derive(Args, Clone, Debug)]
pub struct DataDirArg {
    /// The node's data directory (default: $COLONY_DATA, else
    /// /var/lib/colony as root, ~/.local/share/colony otherwise).
    #[arg(long = "data", env = "COLONY_DATA")]
    pub data: Option<PathBuf>,
}

impl DataDirArg {
    /// The directory chosen.
    pub fn path(&self) -> PathBuf {
        if let Some(dir) = &self.data {
            return dir.clone();
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/colony");
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".local/share/colony")
    }
}
