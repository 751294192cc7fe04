//! `colony peers`: the replication status a running node writes.

use std::process::ExitCode;

use clap::Args;
use colony_bins::data_dir::DataDirArg;
use colony_core::replication::status::read_report;

/// `colony peers`.
#[derive(Args)]
pub struct PeersArgs {
    #[command(flatten)]
    data: DataDirArg,
}

pub fn peers(args: PeersArgs) -> anyhow::Result<ExitCode> {
    print!("{}", read_report(&args.data.path())?);
    Ok(ExitCode::SUCCESS)
}
