//! The signals that stop a service: SIGTERM and SIGINT (Ctrl-C).

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGTERM and SIGINT, caught from the moment this is made. Make it before
/// the service says it is ready: a stop that comes right after that line
/// then ends the service cleanly instead of killing it (a handler put in
/// place only when the service starts waiting leaves a gap in which the
/// signal's default action applies).
pub struct StopSignal {
    term: Signal,
    int: Signal,
}

impl StopSignal {
    /// Installs both handlers. Needs a tokio runtime.
    pub fn install() -> anyhow::Result<StopSignal> {
        Ok(StopSignal {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        })
    }

    /// Returns at the first SIGTERM or SIGINT since [`StopSignal::install`].
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
