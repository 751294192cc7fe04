//! Named persistent shells (issue 16, what hubfs gave the original): a
//! session's owner starts a shell under a label, detaches by closing the
//! connection, and reattaches from any terminal to find its recent output
//! and the shell still running. The listener holds one [`Shells`] per
//! session; [`serve`] answers a connection's [`ShellRequest`].
//!
//! A client that falls more than its queue behind the output misses the
//! output that does not fit, and is told how many bytes it missed, rather
//! than stalling the shell; reattaching gives it the ring.

mod ring;
mod serve;
mod shell;

pub(super) use serve::serve;

use crate::cpu::ShellInfo;
use crate::session::{CommandSpec, Session, WindowSize};
use crate::{Error, Result};
use shell::Shell;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use tokio::sync::Mutex;

/// What a session's shells are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellLimits {
    /// Shells running at once in the session.
    pub per_session: usize,
    /// Bytes of recent output each shell keeps for reattaching clients.
    pub ring_bytes: usize,
}

impl Default for ShellLimits {
    fn default() -> ShellLimits {
        ShellLimits {
            per_session: 8,
            ring_bytes: 1 << 20,
        }
    }
}

/// The longest shell label.
const MAX_LABEL: usize = 32;

/// A session's shells by label.
#[derive(Debug)]
pub(super) struct Shells {
    limits: ShellLimits,
    /// The session was restored when its node started again.
    restored: bool,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    shells: BTreeMap<String, Arc<Shell>>,
    /// The listener has shut down: no new shells.
    closed: bool,
}

impl Shells {
    /// No shells yet.
    pub fn new(limits: ShellLimits, restored: bool) -> Arc<Shells> {
        Arc::new(Shells {
            limits,
            restored,
            table: Mutex::new(Table::default()),
        })
    }

    /// Whether the session was restored when its node started again.
    fn restored(&self) -> bool {
        self.restored
    }

    /// The shell `label`, started in `session` with `command` (its shell
    /// if `None`) on a terminal of `size` if it is not running; and
    /// whether it was started now.
    async fn open<S: Session>(
        self: &Arc<Self>,
        session: &S,
        label: &str,
        term: &str,
        size: WindowSize,
        command: Option<CommandSpec>,
    ) -> Result<(Arc<Shell>, bool)> {
        check_label(label)?;
        let mut table = self.table.lock().await;
        if table.closed {
            return Err(Error::Stopped);
        }
        match table.shells.get(label) {
            Some(shell) if shell.exit_status().is_none() => return Ok((shell.clone(), false)),
            // Ended, on its way out of the table.
            Some(_) => drop(table.shells.remove(label)),
            None => {}
        }
        if table.shells.len() >= self.limits.per_session {
            return Err(Error::TooManyShells {
                max: self.limits.per_session,
            });
        }
        let command = command.unwrap_or_else(|| CommandSpec::new([session.shell_path()]));
        let process = session
            .run_pty(&command.clone().env("TERM", term), size)
            .await?;
        let shell = Shell::new(label, command.argv, &process, self.limits.ring_bytes);
        table.shells.insert(label.to_string(), shell.clone());
        let (run, shells) = (shell.clone(), Arc::downgrade(self));
        tokio::spawn(async move {
            run.clone().run(process).await;
            forget(&shells, &run).await;
        });
        Ok((shell, true))
    }

    /// The running shells in label order.
    async fn list(&self) -> Vec<ShellInfo> {
        let table = self.table.lock().await;
        table
            .shells
            .values()
            .filter(|s| s.exit_status().is_none())
            .map(|s| s.info())
            .collect()
    }

    /// Ends the shell `label`; returns once it has ended.
    async fn kill(&self, label: &str) -> Result<()> {
        let shell = {
            let table = self.table.lock().await;
            table
                .shells
                .get(label)
                .filter(|s| s.exit_status().is_none())
                .cloned()
                .ok_or_else(|| Error::NoSuchShell(label.to_string()))?
        };
        shell.kill().await;
        Ok(())
    }

    /// Takes no more shells and hangs up every one (the session's end
    /// kills whatever survives a hangup).
    pub async fn close(&self) {
        let mut table = self.table.lock().await;
        table.closed = true;
        for shell in table.shells.values() {
            shell.hang_up();
        }
    }
}

/// Takes the ended `shell` out of its table, unless a new shell of the
/// same label has replaced it.
async fn forget(shells: &Weak<Shells>, shell: &Arc<Shell>) {
    let Some(shells) = shells.upgrade() else {
        return;
    };
    let mut table = shells.table.lock().await;
    table.shells.retain(|_, s| !Arc::ptr_eq(s, shell));
}

/// A label is 1 to [`MAX_LABEL`] letters, digits, `.`, `_` or `-`.
fn check_label(label: &str) -> Result<()> {
    let fine = !label.is_empty()
        && label.len() <= MAX_LABEL
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(Error::BadShellLabel(label.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_label;

    #[test]
    fn labels() {
        for good in ["build", "a", "x-1.2_3", &"l".repeat(32)] {
            check_label(good).unwrap();
        }
        for bad in ["", "a b", "../x", "é", &"l".repeat(33)] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
    }
}
