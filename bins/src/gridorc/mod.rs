//! gridorc, the grid's user client: the spawngrid's commands over the
//! grid RPC, in a line editor or one at a time.
//!
//! * [`complete`]: completion of command words and of the user's names.
//! * [`repl`]: the interactive loop (menu, history, answers).
//! * [`attach`]: a shell or command in a running environment through its
//!   cpu listener.
//! * [`shells`]: named persistent shells there, which outlive the
//!   connection.

pub mod attach;
pub mod complete;
pub mod repl;
pub mod shells;

use std::path::PathBuf;

use clap::Args;

/// The port grid servers listen on by default: the original spawngrid's
/// command port.
pub const DEFAULT_PORT: u16 = 16999;

/// Who connects where.
#[derive(Args, Clone, Debug)]
pub struct ConnectArgs {
    /// The user's credential file (from `colony adduser`).
    #[arg(long, env = "COLONY_CRED")]
    pub cred: PathBuf,
    /// The grid server, HOST:PORT.
    #[arg(long, env = "COLONY_GRID", default_value = "localhost:16999")]
    pub addr: String,
}
