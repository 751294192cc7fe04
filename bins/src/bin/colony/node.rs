//! `colony node add`: a join file for a new node of this grid.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use colony_bins::data_dir::DataDirArg;
use colony_core::NodeId;
use colony_core::identity;

/// `colony node`.
#[derive(Subcommand)]
pub enum NodeCommand {
    /// Write a join file for a new node (run where the grid CA's key is):
    /// its node credential and the CA certificate, never the CA key,
    /// mode 0600. On the new node: colony init --join FILE.
    Add(NodeAddArgs),
}

/// `colony node add`.
#[derive(Args)]
pub struct NodeAddArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The new node's id (1 to 32 of a-z 0-9).
    #[arg(long)]
    node: NodeId,
    /// Another host name or address the new node's certificate is valid
    /// for (it always covers the node id, localhost, 127.0.0.1 and ::1).
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// The join file to write (never replaced).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Make another join file for a node id added before (its first was
    /// lost before it was used); without it such an id is refused.
    #[arg(long)]
    reissue: bool,
}

pub fn run(cmd: NodeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NodeCommand::Add(args) => {
            identity::node_add(
                &args.data.path(),
                &args.node,
                &args.hostnames,
                &args.output,
                args.reissue,
            )?;
            println!(
                "join file for node {}: {} (on that node: colony init --join {})",
                args.node,
                args.output.display(),
                args.output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
