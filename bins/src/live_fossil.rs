//! What `colony 9p serve` and `colony mount` share: opening an archive as a
//! live, writable [`Fossil`], and saving it on signals.
//!
//! SIGHUP (and, for `colony mount`, a `save` request on its control
//! socket, see [`crate::control`]) saves and prints the new `vac:` score on
//! standard output, and the command goes on; SIGTERM or Ctrl-C ends
//! [`SaveSignals::run`], so the command can stop serving before its last
//! [`save_and_print`]. Standard output holds only these score lines; logs
//! go to standard error.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_venti::Score;
use tokio::net::UnixStream;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::archive_arg::resolve_archive;
use crate::control::{self, ControlSocket};
use crate::stop_signal::StopSignal;
use crate::store_args::StoreArgs;

/// The archive to open live, where its blocks are, and how much to cache.
#[derive(Args, Clone, Debug)]
pub struct LiveArgs {
    /// `vac:SCORE`, a bare score, a .vac file holding one, or a scorename
    /// of the data directory (`label@node`; needs --data).
    pub archive: String,
    /// Where the blocks are.
    #[command(flatten)]
    pub store: StoreArgs,
    /// MiB of blocks the fossil keeps locally (dirty and cached); more
    /// dirty data is written to the store early.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub cache_mb: u64,
}

impl LiveArgs {
    /// Opens the archive as a writable fossil; returns it with its score.
    pub fn open(&self) -> anyhow::Result<(Score, Arc<Fossil>)> {
        let score = resolve_archive(&self.archive, self.store.data.as_deref())?;
        let store = self.store.open()?;
        let options = FossilOptions {
            local_limit: self.cache_mb << 20,
            // Each block read alone costs a round trip to a server.
            children_ahead: self.store.is_remote(),
            ..FossilOptions::default()
        };
        let fossil = Fossil::open(store, score, options)
            .with_context(|| format!("opening {}", score.labelled("vac")))?;
        Ok((score, Arc::new(fossil)))
    }
}

/// Saves the fossil, prints the new `vac:` score on standard output and
/// returns it.
pub fn save_and_print(fossil: &Fossil) -> anyhow::Result<Score> {
    let saved = fossil.save().context("saving")?;
    println!("{}", saved.labelled("vac"));
    Ok(saved)
}

/// Runs `flush` (which pushes what others hold into the fossil), then
/// [`save_and_print`], on a blocking thread.
async fn flush_and_save(
    fossil: Arc<Fossil>,
    flush: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<Score> {
    tokio::task::spawn_blocking(move || {
        flush()?;
        save_and_print(&fossil)
    })
    .await?
}

/// The next client of `control`; never, without one.
async fn next_client(control: &Option<ControlSocket>) -> std::io::Result<UnixStream> {
    match control {
        Some(c) => c.accept().await,
        None => std::future::pending().await,
    }
}

/// The signals that save: install them before the file system becomes
/// reachable, so a signal that comes then saves rather than kills.
pub struct SaveSignals {
    hup: Signal,
    stop: StopSignal,
}

impl SaveSignals {
    /// Installs the SIGHUP, SIGTERM and SIGINT handlers. Needs a tokio
    /// runtime.
    pub fn install() -> anyhow::Result<Self> {
        Ok(SaveSignals {
            hup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
            stop: StopSignal::install()?,
        })
    }

    /// Saves on each SIGHUP and each `save` request on `control` (after
    /// `before_save`, which pushes what others hold into the fossil) and
    /// returns at SIGTERM or Ctrl-C. `who` names the command in logs.
    pub async fn run(
        mut self,
        who: &str,
        fossil: &Arc<Fossil>,
        control: Option<ControlSocket>,
        before_save: impl Fn() -> anyhow::Result<()> + Clone + Send + 'static,
    ) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    // The tree is unchanged by a failed save: keep going.
                    if let Err(e) = flush_and_save(fossil.clone(), before_save.clone()).await {
                        tracing::error!("{who}: save failed: {e:#}");
                    }
                }
                client = next_client(&control) => {
                    let client = match client {
                        Ok(c) => c,
                        Err(e) => {
                            // E.g. out of descriptors: serving goes on, and
                            // the pause keeps a lasting failure from spinning.
                            tracing::warn!("{who}: control socket: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let save = flush_and_save(fossil.clone(), before_save.clone());
                    let who = who.to_string();
                    // A slow client holds only its own task.
                    tokio::spawn(async move {
                        if let Err(e) = control::answer(client, save).await {
                            tracing::warn!("{who}: control client: {e}");
                        }
                    });
                }
                () = self.stop.recv() => break,
            }
        }
        tracing::info!("{who}: shutting down");
        Ok(())
    }
}
