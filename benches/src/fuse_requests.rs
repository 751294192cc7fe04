//! Counting the requests the kernel sends one FUSE mount, per opcode, from
//! the kernel's own tracepoint `fuse:fuse_request_send` (Linux 6.13 and
//! later): every round trip a workload costs, FORGETs and INTERRUPTs
//! included, without touching the server. Needs root; the tracing buffer
//! is the machine's, so another user of ftrace at the same time would
//! disturb the counts (and be disturbed).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

/// Where tracefs is mounted (mounted there if it is not yet: call this in
/// a private mount namespace to keep the host's as it was).
const TRACEFS: &str = "/sys/kernel/tracing";

/// The event's directory under [`TRACEFS`].
const EVENT: &str = "events/fuse/fuse_request_send";

/// Each CPU's share of the ring buffer, in KiB: room for a few hundred
/// thousand requests between two [`RequestCounter::take`]s.
const BUFFER_KIB: &str = "65536";

/// Requests per opcode name (`LOOKUP`, `GETATTR`...).
pub type Counts = BTreeMap<String, u64>;

/// Counts the requests sent to one FUSE connection until dropped.
pub struct RequestCounter {
    dir: PathBuf,
    /// The ring buffer's size before, restored when done.
    buffer_kib: String,
}

impl RequestCounter {
    /// Starts counting the requests sent to the FUSE mount whose files
    /// have device number `dev` (`st_dev`).
    pub fn start(dev: u64) -> io::Result<RequestCounter> {
        let dir = PathBuf::from(TRACEFS);
        if !dir.join(EVENT).exists() {
            nix::mount::mount(
                Some("tracefs"),
                &dir,
                Some("tracefs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .map_err(io::Error::from)?;
        }
        if !dir.join(EVENT).exists() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel has no fuse:fuse_request_send tracepoint",
            ));
        }
        // The tracepoint names a connection by the kernel's own encoding
        // of the device number, not the one stat(2) gives.
        let connection = (nix::sys::stat::major(dev) << 20) | nix::sys::stat::minor(dev);
        // "1408", or "7 (expanded: 1408)" while tracing never ran.
        let buffer_kib = fs::read_to_string(dir.join("buffer_size_kb"))?
            .split_whitespace()
            .next()
            .unwrap_or("7")
            .to_string();
        let counter = RequestCounter { dir, buffer_kib };
        counter.write("buffer_size_kb", BUFFER_KIB)?;
        counter.write(
            &format!("{EVENT}/filter"),
            &format!("connection == {connection}"),
        )?;
        counter.write("trace", "")?;
        counter.write(&format!("{EVENT}/enable"), "1")?;
        Ok(counter)
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        fs::write(self.dir.join(file), value)
            .map_err(|e| io::Error::new(e.kind(), format!("{TRACEFS}/{file}: {e}")))
    }

    /// The requests sent since [`RequestCounter::start`] or the last take,
    /// per opcode; starts counting afresh. Fails if the buffer overflowed
    /// meanwhile (the counts would be short).
    pub fn take(&self) -> io::Result<Counts> {
        let text = fs::read_to_string(self.dir.join("trace"))?;
        let lost = lost_events(&self.dir)?;
        self.write("trace", "")?;
        if lost > 0 {
            return Err(io::Error::other(format!(
                "the trace buffer lost {lost} events: raise BUFFER_KIB"
            )));
        }
        let mut counts = Counts::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            // "... opcode 3 (FUSE_GETATTR) len 56"
            let Some(at) = line.find(" opcode ") else {
                continue;
            };
            let op = line[at..].split_whitespace().nth(2).unwrap_or("?");
            let op = op.trim_matches(['(', ')']).trim_start_matches("FUSE_");
            *counts.entry(op.to_string()).or_default() += 1;
        }
        Ok(counts)
    }
}

/// Events each CPU's buffer dropped since it was last cleared.
fn lost_events(dir: &Path) -> io::Result<u64> {
    let mut lost = 0;
    for cpu in fs::read_dir(dir.join("per_cpu"))? {
        let stats = fs::read_to_string(cpu?.path().join("stats"))?;
        lost += stats
            .lines()
            .filter_map(|l| l.strip_prefix("overrun: "))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(lost)
}

impl Drop for RequestCounter {
    fn drop(&mut self) {
        let _ = self.write(&format!("{EVENT}/enable"), "0");
        let _ = self.write(&format!("{EVENT}/filter"), "0");
        let _ = self.write("trace", "");
        let _ = self.write("buffer_size_kb", &self.buffer_kib);
    }
}
