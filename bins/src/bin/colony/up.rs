//! `colony up`: one node, storage and cpu in one process, from one data
//! directory (made on first use), seeded and serving the grid.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use colony_bins::logging;
use colony_bins::node::NodeArgs;
use colony_core::colony::Colony;

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
        args.serve(Arc::new(Colony::open(config)?)).await?;
        Ok(ExitCode::SUCCESS)
    })
}
