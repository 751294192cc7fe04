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
use colony_bins::archive_arg::archive_score;
use colony_bins::logging;
use colony_bins::store_args::StoreArgs;
use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::{FossilFs, Server, ServerConfig, ServerHandle};
use tokio::signal::unix::{SignalKind, signal};

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
    /// `vac:SCORE`, a bare score, or a .vac file holding one.
    archive: String,
    #[command(flatten)]
    store: StoreArgs,
    /// TCP address to listen on (host:port). Plan 9 tools reach it as
    /// `tcp!HOST!PORT`; keep it on loopback unless you mean it.
    #[arg(long, default_value = "127.0.0.1:5640", conflicts_with = "unix")]
    addr: String,
    /// Listen on a Unix socket at this path instead (removed at exit).
    #[arg(long)]
    unix: Option<PathBuf>,
    /// MiB of blocks the fossil keeps locally (dirty and cached); more
    /// dirty data is written to the store early.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    cache_mb: u64,
}

pub fn run(cmd: NinepCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NinepCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let score = archive_score(&args.archive)?;
    let store = args.store.open()?;
    let options = FossilOptions {
        local_limit: args.cache_mb << 20,
        ..FossilOptions::default()
    };
    let fossil = Fossil::open(store, score, options)
        .with_context(|| format!("opening {}", score.labelled("vac")))?;
    let fossil = Arc::new(fossil);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let server = Server::new(
            Arc::new(FossilFs::new(fossil.clone())),
            ServerConfig::default(),
        );
        // Handlers first: a signal that comes once clients can connect
        // must save, not kill.
        let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let handle = bind(&server, &args).await?;
        tracing::info!(
            "9p: serving {} on {}",
            score.labelled("vac"),
            handle.local_addr()
        );
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    let f = fossil.clone();
                    match tokio::task::spawn_blocking(move || f.save()).await? {
                        Ok(saved) => println!("{}", saved.labelled("vac")),
                        // The tree is unchanged by a failed save: keep serving.
                        Err(e) => tracing::error!("9p: save failed: {e}"),
                    }
                }
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        tracing::info!("9p: shutting down");
        handle.shutdown().await?;
        anyhow::Ok(())
    })?;
    let saved = fossil.save().context("saving")?;
    println!("{}", saved.labelled("vac"));
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
