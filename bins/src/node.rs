//! What the node commands share (`colony up`, `colony-sto`, `colony-cpu`):
//! the grid-node arguments, first-use setup, the seed, the welcome text,
//! the session helper and the stop signal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use colony_core::colony::{Colony, ColonyConfig, EnvRuntime};
use colony_core::identity::{self, InitOptions, USERS_DIR};
use colony_core::node::NODE_ID_FILE;
use colony_core::replication::{Replicator, peer_addresses};
use colony_core::rpc::{GridServer, host_of, is_wildcard};
use colony_core::{NodeId, UserName};
use colony_ns::session::LinuxConfig;

use crate::data_dir::DataDirArg;
use crate::seed::{self, SeedSource};
use crate::stop_signal::StopSignal;

/// The hidden first argument that makes a node binary the session
/// helper: `colony session-helper`, its task on standard input (see
/// `LinuxConfig::helper_args`).
pub const SESSION_HELPER: &str = "session-helper";

/// Becomes the session helper (and never returns) when the first
/// argument asks for it. Call first thing in `main`: the helper is
/// started for every session command.
pub fn run_helper_if_asked() {
    if std::env::args().nth(1).as_deref() == Some(SESSION_HELPER) {
        colony_ns::session::helper_main();
    }
}

/// This binary as its own session helper.
pub fn helper_config() -> anyhow::Result<LinuxConfig> {
    Ok(LinuxConfig {
        helper_args: vec![SESSION_HELPER.to_string()],
        ..LinuxConfig::new(std::env::current_exe().context("finding this binary")?)
    })
}

/// The arguments of a node that keeps the store and serves the grid.
#[derive(Args)]
pub struct NodeArgs {
    /// The node's data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Where the grid server listens, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:16999")]
    pub addr: String,
    /// The tree to seed `clean.<node>` from (default: the host's root file
    /// system without /proc, /sys, /dev, /run, /tmp, /root, /home, password
    /// hashes, ssh host keys, colony data directories and other file
    /// systems).
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// A file or directory to leave out of the seed (repeatable; a
    /// directory stays as an empty directory).
    #[arg(long = "exclude", value_name = "PATH")]
    pub exclude: Vec<PathBuf>,
    /// The host name or address cpu listeners bind and attach commands
    /// name (default: the host of --addr for `colony up`, of --cpu for
    /// colony-sto).
    #[arg(long)]
    pub cpu_host: Option<String>,
    /// Another name the node certificate is valid for (first start only).
    #[arg(long = "hostname")]
    pub hostnames: Vec<String>,
    /// The admin user, who owns the seed (first start only).
    #[arg(long, default_value = "admin")]
    pub admin: UserName,
    /// The grid address (HOST:PORT) of another storage node to replicate
    /// blocks and names with (repeatable; also one a line in DATA/peers).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
}

impl NodeArgs {
    /// Initialises the data directory on first use and returns the node's
    /// configuration; without `--cpu-host`, cpu listeners use the host of
    /// `cpu_near` (an address of this node or of its cpu service).
    pub fn prepare(&self, cpu_near: &str) -> anyhow::Result<ColonyConfig> {
        let dir = self.data.path();
        if !dir.join(NODE_ID_FILE).exists() {
            let options = InitOptions {
                node_id: None,
                hostnames: self.hostnames.clone(),
                admin: self.admin.clone(),
            };
            let made = identity::init(&dir, &options)?;
            println!("initialised {} as node {}", dir.display(), made.node);
        }
        let cpu_host = match &self.cpu_host {
            Some(h) => h.clone(),
            None => {
                let host = host_of(cpu_near)?;
                if is_wildcard(host) {
                    bail!(
                        "{cpu_near} listens everywhere: say which address clients reach with --cpu-host"
                    );
                }
                host.to_string()
            }
        };
        Ok(ColonyConfig {
            data_dir: dir,
            cpu_host,
            helper: helper_config()?,
            seed: self.seed.clone(),
        })
    }

    /// Seeds the node if it has no `clean.<node>` yet, gives every user
    /// with a credential their name for it, serves the grid on `--addr`,
    /// pulls from its peers and prints how to connect; on SIGTERM or
    /// Ctrl-C stops pulling, checkpoints and stops every environment (the
    /// next start resumes them), keeps every name and syncs the store.
    pub async fn serve<R: EnvRuntime>(&self, colony: Arc<Colony<R>>) -> anyhow::Result<()> {
        let mut stop = StopSignal::install()?;
        let dir = &colony.config().data_dir;
        ensure_seed(&colony, dir, self)?;
        for user in users(dir)? {
            colony.grant_seed(&user)?;
        }
        // What ran when the node last stopped or died, from its last sync.
        for env in colony.resume().await? {
            println!("resumed {} for {}", env.name, env.owner);
        }
        let server = GridServer::bind(&self.addr, colony.clone()).await?;
        let bound = server.local_addr().to_string();
        let peers = peer_addresses(dir, &self.peers)?;
        let replicator = Replicator::start(colony.replica().clone(), &peers)?;
        if !peers.is_empty() {
            println!("replicating with {}", peers.join(", "));
        }
        print_welcome(dir, colony.node(), &self.admin, &bound, &self.addr);
        stop.recv().await;
        tracing::info!("stopping: checkpointing every environment, syncing the store");
        replicator.stop().await;
        server.shutdown().await;
        colony.shutdown().await?;
        Ok(())
    }
}

/// Imports and records `clean.<node>` unless this node has it.
fn ensure_seed<R: EnvRuntime>(
    colony: &Colony<R>,
    dir: &Path,
    args: &NodeArgs,
) -> anyhow::Result<()> {
    let name = colony.seed_name()?;
    if colony.names().get(&name)?.is_some() {
        return Ok(());
    }
    let source = match &args.seed {
        Some(tree) => SeedSource::new(tree, dir, &args.exclude, false)?,
        None => SeedSource::host_root(dir, &args.exclude)?,
    };
    let store = colony.store();
    let imported = seed::import(store.as_ref(), &source)?;
    store.sync().context("syncing the seed's blocks")?;
    for (path, why) in &imported.skipped {
        tracing::debug!(path = %path.display(), "left out of the seed: {why}");
    }
    colony.seed(&args.admin, imported.score)?;
    println!(
        "seeded {name}: {} files, {} directories, {} bytes ({} left out)",
        imported.files,
        imported.dirs,
        imported.bytes,
        imported.skipped.len()
    );
    for line in seed::left_out_summary(&source, &imported.skipped) {
        println!("    {line}");
    }
    Ok(())
}

/// The users with a credential in the data directory.
fn users(dir: &Path) -> anyhow::Result<Vec<UserName>> {
    let users_dir = dir.join(USERS_DIR);
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(&users_dir).with_context(|| format!("{}", users_dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cred")
            && let Some(user) = path.file_stem().and_then(|s| s.to_str())
            && let Ok(user) = UserName::new(user)
        {
            found.push(user);
        }
    }
    found.sort();
    Ok(found)
}

/// How to connect, as `colony up` and `colony-sto` print it once serving.
fn print_welcome(dir: &Path, node: &NodeId, admin: &UserName, bound: &str, addr: &str) {
    let cred = identity::user_credential(dir, admin);
    println!("colony node {node} serving the grid on {bound}");
    println!("connect as {admin}:");
    println!("    gridorc --cred {} --addr {addr}", cred.display());
    println!(
        "    (from a source checkout: cargo run --release --bin gridorc -- --cred {} --addr {addr})",
        cred.display()
    );
    println!(
        "then: spawn clean.{node}    (a new user NAME: colony adduser --data {} NAME; they spawn clean.{node}.NAME)",
        dir.display()
    );
}
