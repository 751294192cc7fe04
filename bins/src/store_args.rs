//! The store a command works on: a local arena store or a venti server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use colony_venti::address::parse_address;
use colony_venti::proto::VentiClient;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore};

/// `--data DIR` (a local store, created on first use) or `--venti ADDR`.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// A local block store directory.
    #[arg(long, conflicts_with = "venti")]
    pub data: Option<PathBuf>,
    /// A venti server: host:port or tcp!host!port (default: $venti).
    #[arg(long, env = "venti")]
    pub venti: Option<String>,
}

impl StoreArgs {
    /// True if the blocks are on a venti server, not in a local store.
    pub fn is_remote(&self) -> bool {
        self.data.is_none() && self.venti.is_some()
    }

    /// Opens the chosen store.
    pub fn open(&self) -> anyhow::Result<Arc<dyn BlockStore>> {
        match (&self.data, &self.venti) {
            (Some(dir), _) => Ok(Arc::new(open_arena(dir, ArenaConfig::default())?)),
            (None, Some(addr)) => {
                let addr = parse_address(addr)?;
                Ok(Arc::new(
                    VentiClient::connect(addr.as_str())
                        .with_context(|| format!("venti server {addr}"))?,
                ))
            }
            (None, None) => bail!("say where the blocks are: --data DIR or --venti HOST:PORT"),
        }
    }
}

/// Opens (or creates) the arena store in `dir`.
pub fn open_arena(dir: &Path, config: ArenaConfig) -> anyhow::Result<ArenaStore> {
    ArenaStore::open(dir, config).with_context(|| format!("opening store {}", dir.display()))
}
