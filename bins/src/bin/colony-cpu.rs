//! `colony-cpu`: the cpu service of a split node. Storage nodes
//! (`colony-sto`) ask it, over mutual TLS, to root sessions in the fossils
//! they export over 9P; it runs each session and its owner-only cpu
//! listener. It is its own session helper (hidden `colony-cpu
//! session-helper`). Argument parsing and wiring only.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use colony_bins::data_dir::DataDirArg;
use colony_bins::exit::exit_code;
use colony_bins::logging;
use colony_bins::node::{helper_config, run_helper_if_asked};
use colony_bins::stop_signal::StopSignal;
use colony_core::cpu_service::{CpuServer, CpuServiceConfig};

/// colony-cpu: runs sessions for colony-sto storage nodes.
#[derive(Parser)]
#[command(name = "colony-cpu", version)]
struct Cli {
    /// A data directory made by `colony init` (its node.cred and CA; on
    /// the storage node's host, its own data directory will do).
    #[command(flatten)]
    data: DataDirArg,
    /// Where the cpu service listens for storage nodes, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:16997")]
    addr: String,
}

fn main() -> ExitCode {
    run_helper_if_asked();
    let cli = Cli::parse();
    logging::init("info");
    exit_code("colony-cpu", run(cli))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = CpuServiceConfig {
        data_dir: cli.data.path(),
        helper: helper_config()?,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let mut stop = StopSignal::install()?;
        let server = CpuServer::bind(&cli.addr, config).await?;
        println!("colony cpu service on {}", server.local_addr());
        stop.recv().await;
        tracing::info!("stopping: every environment");
        server.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}
