//! `gridorc`: the grid's user client. Argument parsing and wiring only;
//! see `colony_bins::gridorc`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use colony_bins::gridorc::ConnectArgs;
use colony_bins::gridorc::repl::{Gridorc, Outcome, default_history};

/// gridorc: spawn, save, invite and boom environments on a colony grid.
///
/// Without a command, an interactive line editor with history and
/// completion; with one (`gridorc spawn NAME`, `gridorc scores`, ...), runs
/// it and exits (1 if the grid refused it). `gridorc attach NAME
/// [COMMAND...]` opens a shell, or runs COMMAND, in a running environment;
/// `gridorc attach NAME --shell LABEL [COMMAND...]` attaches to its named
/// persistent shell LABEL, starting it if need be (Ctrl-\ detaches), and
/// `--kill` ends that; `gridorc shells NAME` lists them.
#[derive(Parser)]
#[command(name = "gridorc", version)]
struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The history file of the interactive mode (default:
    /// $XDG_STATE_HOME/colony/gridorc_history or ~/.local/state/...).
    #[arg(long)]
    history: Option<PathBuf>,
    /// A command to run instead of the interactive mode.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut gridorc = match Gridorc::connect(cli.connect) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gridorc: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.as_slice() {
        [] => gridorc
            .interactive(cli.history.or_else(default_history))
            .unwrap_or_else(|e| {
                eprintln!("gridorc: {e:#}");
                ExitCode::FAILURE
            }),
        [attach, words @ ..] if attach == "attach" => match gridorc.attach_status(words) {
            Ok(status) => ExitCode::from(u8::try_from(status.shell_code()).unwrap_or(1)),
            Err(e) => {
                eprintln!("gridorc: {e:#}");
                ExitCode::FAILURE
            }
        },
        words => match gridorc.execute(&words.join(" ")) {
            Outcome::Done | Outcome::Exit => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::FAILURE,
        },
    }
}
