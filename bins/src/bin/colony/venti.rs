//! `colony venti …`: serve a block store, read and write blocks like
//! plan9port's `venti/read` and `venti/write`, check and rebuild a store.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use colony_bins::logging;
use colony_bins::progress::{Amount, Meter, Output};
use colony_bins::store_args::open_arena as open;
use colony_venti::address::parse_address;
use colony_venti::arena::Progress;
use colony_venti::proto::{VentiClient, VentiServer};
use colony_venti::{ArenaConfig, BlockStore, BlockType, MAX_BLOCK, Score};

#[derive(Subcommand)]
pub enum VentiCommand {
    /// Serve a store over the venti protocol; creates it on first use.
    Serve {
        /// The store's directory.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on. Plan 9 tools reach it with
        /// `-h tcp!HOST!PORT`; keep it on loopback unless you mean it.
        #[arg(long, default_value = "127.0.0.1:17034")]
        addr: String,
        /// Size of each new arena file, in MiB.
        #[arg(long, default_value_t = 512)]
        arena_mb: u64,
    },
    /// Write standard input as one block and print its score (venti/write).
    Write {
        #[command(flatten)]
        server: Server,
        /// Block type, in libventi numbering as venti/write's -t (0 data,
        /// 1-7 data pointers, 8 dir, 9-15 dir pointers, 16 root).
        #[arg(short = 't', default_value_t = 0)]
        ty: u8,
        /// Zero-truncate the block for its type before writing.
        #[arg(short = 'z')]
        zero_truncate: bool,
    },
    /// Read one block to standard output (venti/read).
    Read {
        #[command(flatten)]
        server: Server,
        /// Block type in libventi numbering; without it every type is tried.
        #[arg(short = 't')]
        ty: Option<u8>,
        /// The score, bare or labelled (`vac:…`).
        score: String,
    },
    /// Ask the server to make every write durable (venti/sync).
    Sync {
        #[command(flatten)]
        server: Server,
    },
    /// Verify every clump, every sealed arena and the index.
    Check {
        /// The store's directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Rebuild the index from the arenas.
    Reindex {
        /// The store's directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Print what the store holds and what its index costs.
    Stats {
        /// The store's directory.
        #[arg(long)]
        data: PathBuf,
    },
}

/// Where the venti server is.
#[derive(Args)]
pub struct Server {
    /// The server: host:port or a Plan 9 dial string (tcp!host!port).
    #[arg(long = "venti", env = "venti", default_value = "127.0.0.1:17034")]
    venti: String,
}

impl Server {
    fn connect(&self) -> anyhow::Result<VentiClient> {
        let addr = parse_address(&self.venti)?;
        VentiClient::connect(addr.as_str()).with_context(|| format!("venti server {addr}"))
    }
}

pub fn run(cmd: VentiCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        VentiCommand::Serve {
            data,
            addr,
            arena_mb,
        } => serve(data, &addr, arena_mb),
        VentiCommand::Write {
            server,
            ty,
            zero_truncate,
        } => {
            let ty = BlockType::from_libventi(ty)?;
            let mut block = Vec::new();
            std::io::stdin()
                .take(MAX_BLOCK as u64 + 1)
                .read_to_end(&mut block)
                .context("reading standard input")?;
            let data = if zero_truncate {
                ty.truncate(&block)
            } else {
                &block
            };
            let client = server.connect()?;
            let score = client.write(ty, data)?;
            client.sync()?;
            println!("{score}");
            Ok(ExitCode::SUCCESS)
        }
        VentiCommand::Read { server, ty, score } => {
            let score: Score = score.parse()?;
            let client = server.connect()?;
            let block = match ty {
                Some(t) => client.read(&score, BlockType::from_libventi(t)?)?,
                None => read_any_type(&client, &score)?,
            };
            std::io::stdout().write_all(&block)?;
            Ok(ExitCode::SUCCESS)
        }
        VentiCommand::Sync { server } => {
            server.connect()?.sync()?;
            Ok(ExitCode::SUCCESS)
        }
        VentiCommand::Check { data } => check(data),
        VentiCommand::Reindex { data } => {
            let store = open(&data, ArenaConfig::default())?;
            let mut meter = Meter::new("reindex", Output::Stderr);
            let entries = store.reindex(&mut |p: Progress| meter_store(&mut meter, p))?;
            meter.finish();
            println!("reindexed {entries} blocks in {}", data.display());
            Ok(ExitCode::SUCCESS)
        }
        VentiCommand::Stats { data } => {
            let s = open(&data, ArenaConfig::default())?.stats();
            println!("blocks            {}", s.blocks);
            println!("stored bytes      {}", s.stored_bytes);
            println!("uncompressed      {}", s.uncompressed_bytes);
            println!("log bytes         {}", s.log_bytes);
            println!("arenas            {} ({} sealed)", s.arenas, s.sealed);
            println!("index buckets     {}", s.index_buckets);
            println!(
                "index entries     {} (load {:.3})",
                s.index_entries, s.index_load
            );
            println!("pending entries   {}", s.pending_entries);
            println!(
                "memory            bloom {} B, pending {} B",
                s.bloom_bytes, s.pending_bytes
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Like venti/read without -t: data first, then pointers, dir and root.
fn read_any_type(client: &VentiClient, score: &Score) -> anyhow::Result<Vec<u8>> {
    let mut seen = Vec::new();
    for t in 0..=16u8 {
        let ty = BlockType::from_libventi(t)?;
        if seen.contains(&ty) {
            continue;
        }
        seen.push(ty);
        // Only absence moves on to the next type: a failed read is reported.
        match client.read(score, ty) {
            Ok(block) => return Ok(block),
            Err(colony_venti::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    bail!("no block with score {score} exists")
}

fn check(data: PathBuf) -> anyhow::Result<ExitCode> {
    let store = open(&data, ArenaConfig::default())?;
    let mut meter = Meter::new("check", Output::Stderr);
    let report = store.check(&mut |p: Progress| meter_store(&mut meter, p))?;
    meter.finish();
    for problem in &report.problems {
        println!("{problem}");
    }
    println!(
        "{} arenas, {} clumps, {} bytes, {} index entries: {}",
        report.arenas,
        report.clumps,
        report.bytes,
        report.index_entries,
        if report.is_clean() {
            "clean".to_string()
        } else {
            format!("{} problems", report.problems.len())
        }
    );
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn serve(data: PathBuf, addr: &str, arena_mb: u64) -> anyhow::Result<ExitCode> {
    logging::init("info");
    let config = ArenaConfig {
        arena_size: arena_mb << 20,
        ..ArenaConfig::default()
    };
    let store = Arc::new(open(&data, config)?);
    let addr = parse_address(addr)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let mut stop = colony_bins::stop_signal::StopSignal::install()?;
        let server = VentiServer::bind(addr.as_str(), store.clone()).await?;
        tracing::info!(
            "venti: serving {} on {}",
            data.display(),
            server.local_addr()
        );
        stop.recv().await;
        tracing::info!("venti: shutting down");
        server.shutdown().await;
        anyhow::Ok(())
    })?;
    store.sync()?;
    Ok(ExitCode::SUCCESS)
}

/// A store's (done, total) bytes on a meter.
fn meter_store(meter: &mut Meter, p: Progress) {
    meter.set_total(Amount::bytes(p.total));
    meter.update(Amount::bytes(p.done));
}
