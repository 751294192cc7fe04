//! `colony-sto`: a storage node — block store, scorenames and one live
//! fossil per environment, serving the grid to gridorc — whose sessions
//! run on a separate `colony-cpu`, which roots them in the fossils over
//! 9P on mutual TLS. Argument parsing and wiring only.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use colony_bins::exit::exit_code;
use colony_bins::logging;
use colony_bins::node::NodeArgs;
use colony_core::colony::{Colony, RemoteRuntime};

/// colony-sto: a storage node whose environments run on a colony-cpu.
#[derive(Parser)]
#[command(name = "colony-sto", version)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// Where the 9P export of the environments' fossils listens, HOST:PORT
    /// (HOST is what the cpu service dials: not 0.0.0.0).
    #[arg(long, default_value = "127.0.0.1:16998")]
    ninep_addr: String,
    /// The cpu service (colony-cpu --addr), HOST:PORT; cpu listeners
    /// default to its host (--cpu-host).
    #[arg(long, default_value = "127.0.0.1:16997")]
    cpu: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init("info");
    exit_code("colony-sto", run(cli))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let args = cli.node;
    let config = args.prepare(&cli.cpu)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let remote = RemoteRuntime::bind(&config.data_dir, &cli.ninep_addr, &cli.cpu).await?;
        tracing::info!(ninep = %remote.ninep_addr(), cpu = %cli.cpu, "environments run on the cpu service");
        args.serve(Arc::new(Colony::with_runtime(config, remote)?))
            .await?;
        Ok(ExitCode::SUCCESS)
    })
}
