//! `colony`: the administration tool. Argument parsing and wiring only.

mod cpu;
mod mount;
mod ninep;
mod node;
mod peers;
mod up;
mod users;
mod vac;
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
    /// Archive a file tree into venti and print its `vac:` score.
    Vac(vac::VacArgs),
    /// Extract a vac archive into a directory.
    Unvac(vac::UnvacArgs),
    /// Serve an archive over 9P2000 as a live, writable file system.
    #[command(name = "9p", subcommand)]
    Ninep(ninep::NinepCommand),
    /// Mount an archive with FUSE as a live, writable file system, in the
    /// foreground; save on SIGHUP (and stay mounted) and on SIGTERM/Ctrl-C
    /// (and unmount), printing each new `vac:` score.
    Mount(mount::MountArgs),
    /// Ask the `colony mount` serving DIR to save; print the new `vac:`
    /// score. The mount stays.
    Save(mount::SaveArgs),
    /// Set up a new grid in a data directory: node id, private CA, the
    /// node's certificate and an admin user's credential file; or, with
    /// --join, a new node of an existing grid.
    Init(users::InitArgs),
    /// The grid's nodes: add one.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Issue a credential file (certificate, key, CA) for a new user.
    Adduser(users::AddUserArgs),
    /// Run a node: init the data directory if needed, seed `clean.<node>`,
    /// serve the grid (storage and cpu in this process) until SIGTERM or
    /// Ctrl-C, and print how to connect.
    Up(up::UpArgs),
    /// Open a shell, or run a command, in a session through its cpu
    /// listener.
    Cpu(cpu::CpuArgs),
    /// The replication peers of the node in a data directory, as its
    /// running process last wrote them: connected or not, how far behind
    /// each way, last exchange, last error.
    Peers(peers::PeersArgs),
}

fn main() -> std::process::ExitCode {
    colony_bins::node::run_helper_if_asked();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Venti(cmd) => venti::run(cmd),
        Command::Vac(args) => vac::vac(args),
        Command::Unvac(args) => vac::unvac(args),
        Command::Ninep(cmd) => ninep::run(cmd),
        Command::Mount(args) => mount::mount(args),
        Command::Save(args) => mount::save(args),
        Command::Init(args) => users::init(args),
        Command::Adduser(args) => users::adduser(args),
        Command::Node(cmd) => node::run(cmd),
        Command::Up(args) => up::up(args),
        Command::Cpu(args) => cpu::cpu(args),
        Command::Peers(args) => peers::peers(args),
    };
    colony_bins::exit::exit_code("colony", result)
}
