//! `colony mount`: a vac archive as a live, writable Fossil mounted with
//! FUSE, in the foreground.
//!
//! Saving: SIGHUP, or `colony save DIR` (through the mount's control
//! socket, see `colony_bins::control`), flushes what the kernel holds,
//! saves and prints the new `vac:` score on standard output (and `colony
//! save` prints it too), and the mount stays; SIGTERM or Ctrl-C unmounts,
//! saves, prints the score and exits. Each mount is its own
//! fossil: two mounts of one score do not see each other's changes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use colony_bins::control::{ControlSocket, request_save};
use colony_bins::live_fossil::{LiveArgs, SaveSignals, save_and_print};
use colony_bins::logging;
use colony_ns::{FossilFs, MountOptions};

/// `colony mount`.
#[derive(Args)]
pub struct MountArgs {
    #[command(flatten)]
    live: LiveArgs,
    /// The directory to mount on.
    dir: PathBuf,
}

pub fn mount(args: MountArgs) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let (score, fossil) = args.live.open()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let signals = SaveSignals::install()?;
        let control = ControlSocket::bind(&args.dir)?;
        let options = MountOptions {
            fs_name: score.labelled("vac"),
            ..MountOptions::default()
        };
        let handle = colony_ns::mount(Arc::new(FossilFs::new(fossil.clone())), &args.dir, &options)
            .with_context(|| format!("mounting on {}", args.dir.display()))?;
        let dir = handle.mountpoint().to_path_buf();
        tracing::info!("mount: {} on {}", score.labelled("vac"), dir.display());
        signals
            .run("mount", &fossil, Some(control), move || flush_kernel(&dir))
            .await?;
        // Unmounting first means no write comes in after the last save.
        handle
            .unmount()
            .with_context(|| format!("unmounting {}", args.dir.display()))?;
        anyhow::Ok(())
    })?;
    save_and_print(&fossil)?;
    Ok(ExitCode::SUCCESS)
}

/// `colony save`.
#[derive(Args)]
pub struct SaveArgs {
    /// The mount point of a running `colony mount`.
    dir: PathBuf,
}

pub fn save(args: SaveArgs) -> anyhow::Result<ExitCode> {
    let score = request_save(&args.dir)?;
    println!("{}", score.labelled("vac"));
    Ok(ExitCode::SUCCESS)
}

/// Pushes dirty pages the kernel holds for the mount into the fossil. The
/// FUSE mount does not ask for a writeback cache, so each write(2) already
/// reached the fossil before it returned; syncfs(2) makes that hold however
/// the kernel is set up.
fn flush_kernel(dir: &Path) -> anyhow::Result<()> {
    let root = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    nix::unistd::syncfs(&root).with_context(|| format!("syncfs {}", dir.display()))?;
    Ok(())
}
