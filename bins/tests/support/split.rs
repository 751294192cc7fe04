//! A node split in two processes, as the split tests and bench start it:
//! `colony-cpu` and `colony-sto` on one data directory, on loopback ports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::grid::{Grid, start_until};
use super::{Killed, colony, loopback};

/// The storage node binary.
pub const STO: &str = env!("CARGO_BIN_EXE_colony-sto");
/// The cpu service binary.
pub const CPU: &str = env!("CARGO_BIN_EXE_colony-cpu");

/// The two processes' addresses.
pub struct Split {
    /// The node as its users reach it (colony-sto's grid server).
    pub grid: Grid,
    /// colony-sto's 9P export.
    pub ninep: String,
    /// colony-cpu's service.
    pub cpu: String,
}

impl Split {
    /// A split node on the data directory `data`, on free loopback ports.
    pub fn new(data: PathBuf) -> Split {
        Split {
            grid: Grid {
                data,
                addr: loopback(),
                netns: None,
            },
            ninep: loopback(),
            cpu: loopback(),
        }
    }

    /// The colony-cpu command.
    pub fn cpu_service(&self) -> Command {
        let mut cmd = Command::new(CPU);
        cmd.args(["--addr", &self.cpu, "--data"])
            .arg(&self.grid.data);
        cmd
    }

    /// Starts colony-cpu; returns once it serves.
    pub fn start_cpu(&self) -> Killed {
        start_cpu_service(self.cpu_service())
    }

    /// The colony-sto command, seeding from the tree `seed` if given.
    pub fn sto_node(&self, seed: Option<&Path>) -> Command {
        let mut cmd = Command::new(STO);
        cmd.args(["--addr", &self.grid.addr])
            .args(["--ninep-addr", &self.ninep])
            .args(["--cpu", &self.cpu])
            .arg("--data")
            .arg(&self.grid.data);
        if let Some(seed) = seed {
            cmd.arg("--seed").arg(seed);
        }
        cmd
    }

    /// Starts colony-sto, seeding it from the tree `seed` if given;
    /// returns once it serves, with what it printed.
    pub fn start_sto(&self, seed: Option<&Path>) -> (Killed, String) {
        start_until(self.sto_node(seed), "then:")
    }

    /// `colony cpu` as `user` into the cpu listener at `addr`.
    pub fn cpu_command(&self, user: &str, addr: &str, command: &[&str]) -> Output {
        let cred = self.grid.cred(user);
        let mut args = vec!["cpu", "--cred", cred.to_str().unwrap(), "--addr", addr];
        args.extend(command);
        colony(&args)
    }
}

/// Starts a colony-cpu command ([`Split::cpu_service`]); returns once it
/// serves.
pub fn start_cpu_service(cmd: Command) -> Killed {
    start_until(cmd, "colony cpu service on").0
}
