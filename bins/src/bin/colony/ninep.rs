//! `colony 9p serve`: a vac archive as a live, writable Fossil over 9P2000.
//!
//! Saving: SIGHUP saves and prints the new `vac:` score on standard output,
//! and serving goes on; SIGTERM or Ctrl-C stops serving (requests in
//! flight finish), saves, prints the score and exits. Standard output holds
//! only these score lines; logs go to standard error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use colony_bins::live_fossil::{LiveArgs, SaveSignals, save_and_print};
use colony_bins::logging;
use colony_ns::{FossilFs, Server, ServerConfig, ServerHandle};

#[derive(Subcommand)]
pub enum NinepCommand {
    /// Serve an archive as a writable file system over 9P2000; save on
    /// SIGHUP (and keep serving) and on SIGTERM/Ctrl-C (and exit),
    /// printing each new `vac:` score.
    Serve(ServeArgs),
}

/// `colony 9p serve`.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    live: LiveArgs,
    /// TCP address to listen on (host:port). Plan 9 tools reach it as
    /// `tcp!HOST!PORT`; keep it on loopback unless you mean it.
    #[arg(long, default_value = "127.0.0.1:5640", conflicts_with = "unix")]
    addr: String,
    /// Listen on a Unix socket at this path instead, created mode 0600 so
    /// only its owner can connect (removed at exit). The server does no
    /// authentication.
    #[arg(long)]
    unix: Option<PathBuf>,
}

pub fn run(cmd: NinepCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NinepCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let (score, fossil) = args.live.open()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let server = Server::new(
            Arc::new(FossilFs::new(fossil.clone())),
            ServerConfig::default(),
        );
        let signals = SaveSignals::install()?;
        let handle = bind(&server, &args).await?;
        tracing::info!(
            "9p: serving {} on {}",
            score.labelled("vac"),
            handle.local_addr()
        );
        // 9P writes reach the fossil before they are answered: nothing to
        // flush before a save.
        signals.run("9p", &fossil, None, || Ok(())).await?;
        handle.shutdown().await?;
        anyhow::Ok(())
    })?;
    save_and_print(&fossil)?;
    Ok(ExitCode::SUCCESS)
}

async fn bind(server: &Server, args: &ServeArgs) -> anyhow::Result<ServerHandle> {
    Ok(match &args.unix {
        Some(path) => server
            .bind_unix(path)
            .await
            .with_context(|| format!("listening on {}", path.display()))?,
        None => server
            .bind_tcp(args.addr.as_str())
            .await
            .with_context(|| format!("listening on {}", args.addr))?,
    })
}
