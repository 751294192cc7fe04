//! Progress of long operations for whoever watches: a bar on a terminal,
//! and elsewhere (a service manager, a log file) a plain line every few
//! seconds, so a first `colony up > log` is never silent for minutes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a line is written when the output is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

/// Where a meter reports.
#[derive(Clone, Copy, Debug)]
pub enum Output {
    /// Standard output: for commands whose output is a report (`colony up`).
    Stdout,
    /// Standard error: for commands whose standard output is their result
    /// (`colony vac` prints the score there).
    Stderr,
}

/// Work done (or to do): bytes, and files when the operation counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amount {
    /// Bytes.
    pub bytes: u64,
    /// Files and directories, if counted.
    pub files: Option<u64>,
}

impl Amount {
    /// Bytes only.
    pub fn bytes(bytes: u64) -> Amount {
        Amount { bytes, files: None }
    }

    /// Files and bytes, from a fossil import or export count.
    pub fn of(p: &colony_fossil::Progress) -> Amount {
        Amount {
            bytes: p.bytes,
            files: Some(p.files),
        }
    }
}

/// One long operation's progress.
pub struct Meter {
    what: String,
    total: Amount,
    view: View,
}

enum View {
    Bar(ProgressBar),
    Lines {
        out: Box<dyn Write + Send>,
        every: Duration,
        started: Instant,
        last: Instant,
    },
}

impl Meter {
    /// A meter for `what` on `output`: a bar if it is a terminal, a line
    /// every [`LINE_EVERY`] otherwise.
    pub fn new(what: &str, output: Output) -> Meter {
        let (terminal, target, out): (bool, _, Box<dyn Write + Send>) = match output {
            Output::Stdout => (
                std::io::stdout().is_terminal(),
                ProgressDrawTarget::stdout(),
                Box::new(std::io::stdout()),
            ),
            Output::Stderr => (
                std::io::stderr().is_terminal(),
                ProgressDrawTarget::stderr(),
                Box::new(std::io::stderr()),
            ),
        };
        if terminal {
            let bar = ProgressBar::with_draw_target(Some(0), target);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            Meter::with_view(what, View::Bar(bar))
        } else {
            Meter::lines(what, out, LINE_EVERY)
        }
    }

    /// A meter that writes a line to `out` at most once per `every`.
    pub fn lines(what: &str, out: Box<dyn Write + Send>, every: Duration) -> Meter {
        let now = Instant::now();
        Meter::with_view(
            what,
            View::Lines {
                out,
                every,
                started: now,
                last: now,
            },
        )
    }

    fn with_view(what: &str, view: View) -> Meter {
        Meter {
            what: what.to_string(),
            total: Amount::default(),
            view,
        }
    }

    /// Sets what the whole operation amounts to.
    pub fn set_total(&mut self, total: Amount) {
        self.total = total;
        if let View::Bar(bar) = &self.view {
            bar.set_length(total.bytes);
        }
    }

    /// Reports `done` so far.
    pub fn update(&mut self, done: Amount) {
        let (what, total) = (&self.what, self.total);
        match &mut self.view {
            View::Bar(bar) => {
                if done.bytes > total.bytes {
                    bar.set_length(done.bytes);
                }
                bar.set_position(done.bytes);
            }
            View::Lines {
                out,
                every,
                started,
                last,
            } => {
                if last.elapsed() < *every {
                    return;
                }
                *last = Instant::now();
                let line = progress_line(what, done, total, started.elapsed());
                // Progress is a courtesy: a closed log must not fail the work.
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// A line of its own (above the bar on a terminal).
    pub fn note(&mut self, text: &str) {
        match &mut self.view {
            View::Bar(bar) => bar.println(format!("{}: {text}", self.what)),
            View::Lines { out, .. } => {
                let _ = writeln!(out, "{}: {text}", self.what);
            }
        }
    }

    /// Removes the bar; lines need nothing.
    pub fn finish(&self) {
        if let View::Bar(bar) = &self.view {
            bar.finish_and_clear();
        }
    }
}

/// `seed: 1,200 of 5,000 files, 1.00 GiB of 4.00 GiB (25%), 102.40 MiB/s`.
pub fn progress_line(what: &str, done: Amount, total: Amount, elapsed: Duration) -> String {
    let mut line = format!("{what}: ");
    if let (Some(d), Some(t)) = (done.files, total.files) {
        line += &format!("{} of {} files, ", HumanCount(d), HumanCount(t));
    }
    let percent = (done.bytes as f64 * 100.0 / total.bytes.max(1) as f64).min(100.0);
    let rate = done.bytes as f64 / elapsed.as_secs_f64().max(1e-3);
    line += &format!(
        "{} of {} ({percent:.0}%), {}/s",
        HumanBytes(done.bytes),
        HumanBytes(total.bytes),
        HumanBytes(rate as u64)
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_report_files_bytes_and_share_of_the_total() {
        let out = Shared::default();
        let mut m = Meter::lines("seed", Box::new(out.clone()), Duration::ZERO);
        m.note("counting what to import");
        m.set_total(Amount {
            bytes: 4 << 30,
            files: Some(5000),
        });
        m.update(Amount {
            bytes: 1 << 30,
            files: Some(1200),
        });
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "seed: counting what to import");
        assert!(
            lines[1].starts_with("seed: 1,200 of 5,000 files, 1.00 GiB of 4.00 GiB (25%), "),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with("/s"), "{}", lines[1]);
    }

    #[test]
    fn lines_come_at_most_once_per_interval() {
        let out = Shared::default();
        let mut m = Meter::lines("check", Box::new(out.clone()), Duration::from_secs(3600));
        m.set_total(Amount::bytes(100));
        for done in 0..100 {
            m.update(Amount::bytes(done));
        }
        assert_eq!(out.text(), "", "nothing before the first interval ends");
    }

    #[test]
    fn a_line_without_file_counts_gives_bytes_only() {
        let line = progress_line(
            "check",
            Amount::bytes(512 << 20),
            Amount::bytes(1 << 30),
            Duration::from_secs(2),
        );
        assert_eq!(line, "check: 512.00 MiB of 1.00 GiB (50%), 256.00 MiB/s");
    }
}
