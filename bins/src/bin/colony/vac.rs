//! `colony vac` and `colony unvac`: archive a tree into venti and extract
//! one, compatible with plan9port's vac and unvac.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use colony_bins::archive_arg::archive_score;
use colony_bins::progress::{Amount, Meter, Output};
use colony_bins::store_args::StoreArgs;
use colony_fossil::vac::{self, Flavor, VacOptions};
use colony_fossil::{MetaMagic, unvac};

/// `colony vac`.
#[derive(Args)]
pub struct VacArgs {
    /// The file or directory to archive; it becomes `/NAME` in the archive.
    path: PathBuf,
    /// Also write `vac:SCORE` to this file (vac's -f).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Write the spec's recommended form (MetaBlock magic 0x5656fc7a, no
    /// Local bits) instead of plan9port vac's exact bytes.
    #[arg(long)]
    clean: bool,
    /// Block size in bytes (vac's -b).
    #[arg(short = 'b', long, default_value_t = 8192)]
    block_size: u32,
    /// Keep what Linux has beyond vac: numeric owners, set-id and sticky
    /// bits, nanosecond times, sockets, devices, extended attributes and
    /// hard links, in colony's extension (plan9port's unvac and vacfs read
    /// the archive as before, without them: a hard link as a copy).
    #[arg(long)]
    linux: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// `colony unvac`.
#[derive(Args)]
pub struct UnvacArgs {
    /// `vac:SCORE`, a bare score, or a .vac file holding one.
    archive: String,
    /// Existing directory to extract into.
    dest: PathBuf,
    /// Do not restore modification times.
    #[arg(long)]
    no_times: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn vac(args: VacArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let options = VacOptions {
        block_size: args.block_size,
        flavor: if args.clean {
            Flavor::Clean(MetaMagic::New)
        } else {
            Flavor::Plan9port
        },
        linux: args.linux,
        ..VacOptions::default()
    };
    let mut meter = Meter::new("vac", Output::Stderr);
    let source = colony_fossil::source::FsSource::new(&args.path, options.fs.clone());
    meter.set_total(Amount::of(&vac::measure(&source, options.top)?));
    let imported = vac::import(&store, &source, &options, &mut |p| {
        meter.update(Amount::of(p))
    })
    .with_context(|| format!("archiving {}", args.path.display()))?;
    meter.finish();
    for (path, why) in &imported.skipped {
        eprintln!("vac: skipped {}: {why}", path.display());
    }
    let line = imported.score.labelled("vac");
    if let Some(out) = &args.output {
        std::fs::write(out, format!("{line}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

pub fn unvac(args: UnvacArgs) -> anyhow::Result<ExitCode> {
    let score = archive_score(&args.archive)?;
    let store = args.store.open()?;
    let mut meter = Meter::new("unvac", Output::Stderr);
    meter.set_total(Amount::of(&unvac::measure(&store, &score)?));
    let options = unvac::UnvacOptions {
        times: !args.no_times,
        ..unvac::UnvacOptions::default()
    };
    let out = unvac::export(&store, &score, &args.dest, &options, &mut |p| {
        meter.update(Amount::of(p))
    })?;
    meter.finish();
    for (path, why) in &out.skipped {
        eprintln!("unvac: skipped {}: {why}", path.display());
    }
    for (path, err) in &out.errors {
        eprintln!("unvac: {}: {err}", path.display());
    }
    Ok(if out.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
