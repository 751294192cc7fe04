//! `colony up`: one node, storage and cpu in one process, from one data
//! directory (made on first use), seeded and serving the grid.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use colony_bins::data_dir::DataDirArg;
use colony_bins::logging;
use colony_bins::seed::{self, SeedSource};
use colony_core::colony::{Colony, ColonyConfig};
use colony_core::identity::{self, InitOptions, USERS_DIR};
use colony_core::node::NODE_ID_FILE;
use colony_core::rpc::{GridServer, host_of};
use colony_core::{NodeId, UserName};
use colony_ns::session::LinuxConfig;
use tokio::signal::unix::{SignalKind, signal};

/// `colony up`.
#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Where the grid server listens, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:16999")]
    addr: String,
    /// The tree to seed `clean.<node>` from (default: the host's root file
    /// system without /proc, /sys, /dev, /run, /tmp, the data directory
    /// and other file systems).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// The host name or address cpu listeners bind and attach commands
    /// name (default: the host of --addr).
    #[arg(long)]
    cpu_host: Option<String>,
    /// Another name the node certificate is valid for (first `up` only).
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// The admin user, who owns the seed (first `up` only).
    #[arg(long, default_value = "admin")]
    admin: UserName,
}

pub fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let dir = args.data.path();
    if !dir.join(NODE_ID_FILE).exists() {
        let options = InitOptions {
            node_id: None,
            hostnames: args.hostnames.clone(),
            admin: args.admin.clone(),
        };
        let made = identity::init(&dir, &options)?;
        println!("initialised {} as node {}", dir.display(), made.node);
    }
    let cpu_host = match &args.cpu_host {
        Some(h) => h.clone(),
        None => {
            let host = host_of(&args.addr)?;
            if host == "0.0.0.0" || host == "::" {
                bail!(
                    "--addr {} listens everywhere: say which address clients reach with --cpu-host",
                    args.addr
                );
            }
            host.to_string()
        }
    };
    let helper = LinuxConfig {
        helper: std::env::current_exe().context("finding the colony binary")?,
        helper_args: vec![crate::SESSION_HELPER.to_string()],
    };
    let config = ColonyConfig {
        data_dir: dir.clone(),
        cpu_host,
        helper,
        seed: args.seed.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(serve(config, &args))
}

async fn serve(config: ColonyConfig, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let dir = config.data_dir.clone();
    let colony = Arc::new(Colony::open(config)?);
    let node = colony.node().clone();
    ensure_seed(&colony, &dir, args)?;
    for user in users(&dir)? {
        colony.grant_seed(&user)?;
    }
    let server = GridServer::bind(&args.addr, colony.clone()).await?;
    let mut term = signal(SignalKind::terminate())?;
    print_welcome(
        &dir,
        &node,
        &args.admin,
        &server.local_addr().to_string(),
        &args.addr,
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping: booming every environment, syncing the store");
    server.shutdown().await;
    colony.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// Imports and records `clean.<node>` unless this node has it.
fn ensure_seed<R: colony_core::colony::EnvRuntime>(
    colony: &Colony<R>,
    dir: &Path,
    args: &UpArgs,
) -> anyhow::Result<()> {
    let name = colony.seed_name()?;
    if colony.names().get(&name)?.is_some() {
        return Ok(());
    }
    let source = match &args.seed {
        Some(tree) => SeedSource::new(tree, &[dir.to_path_buf()], false)?,
        None => SeedSource::host_root(dir)?,
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
