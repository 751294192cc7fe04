//! `colony`: the administration tool. Argument parsing and wiring only.

mod venti;

use clap::{Parser, Subcommand};

/// colony: content-addressed file-system images and the services around them.
#[derive(Parser)]
#[command(name = "colony", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The venti block store: serve it, read and write blocks, check it.
    #[command(subcommand)]
    Venti(venti::VentiCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Venti(cmd) => venti::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("colony: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
