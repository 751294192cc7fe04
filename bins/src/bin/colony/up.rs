//! `colony up`: one node, storage and cpu in one process, from one data
//! directory (made on first use), seeded and serving the grid.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use colony_bins::logging;
use colony_bins::node::{NodeArgs, print_welcome, shutdown_signal};
use colony_core::colony::Colony;
use colony_core::rpc::GridServer;

/// `colony up`.
#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    node: NodeArgs,
}

pub fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let args = args.node;
    // Without --cpu-host, cpu listeners are on the grid server's host.
    let config = args.prepare(&args.addr)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let colony = Arc::new(Colony::open(config)?);
        args.seed_and_grant(&colony)?;
        let server = GridServer::bind(&args.addr, colony.clone()).await?;
        let dir = &colony.config().data_dir;
        let bound = server.local_addr().to_string();
        print_welcome(dir, colony.node(), &args.admin, &bound, &args.addr);
        shutdown_signal().await?;
        tracing::info!("stopping: booming every environment, syncing the store");
        server.shutdown().await;
        colony.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}
