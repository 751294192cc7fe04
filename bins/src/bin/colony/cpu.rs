//! `colony cpu`: a shell or a command in a session, through its cpu
//! listener, as the user of a credential file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use colony_bins::gridorc::attach;

/// `colony cpu`.
#[derive(Args)]
pub struct CpuArgs {
    /// The user's credential file.
    #[arg(long, env = "COLONY_CRED")]
    cred: PathBuf,
    /// The cpu listener, HOST:PORT (as `gridorc status` shows it).
    #[arg(long)]
    addr: String,
    /// The command to run (default: the shell, on this terminal).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn cpu(args: CpuArgs) -> anyhow::Result<ExitCode> {
    let target = attach::target(&args.cred, &args.addr)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let status = runtime.block_on(attach::run(&target, &args.command))?;
    Ok(ExitCode::from(
        u8::try_from(status.shell_code()).unwrap_or(1),
    ))
}
