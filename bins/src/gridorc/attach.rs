//! `attach NAME`: a shell (or one command) in one of the user's running
//! environments, through its cpu listener, as the same user.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, anyhow};
use colony_core::colony::EnvInfo;
use colony_core::identity::Credential;
use colony_core::rpc::{GridClient, host_of};
use colony_ns::cpu::client::{Target, interactive, run_command};
use colony_ns::session::{CommandSpec, ExitStatus};

/// The user's running environment spawned from `name`, as `status` tells.
pub async fn find_env(client: &mut GridClient, name: &str) -> anyhow::Result<EnvInfo> {
    client
        .status()
        .await?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| anyhow!("{name} is not one of your running environments"))
}

/// How to reach the cpu listener at `cpu_addr` (`host:port`) with the
/// credential at `cred`.
pub fn target(cred: &Path, cpu_addr: &str) -> anyhow::Result<Target> {
    Ok(Target {
        addr: cpu_addr.to_string(),
        server_name: host_of(cpu_addr)?.to_string(),
        identity: Credential::load(cred)?.cpu_identity(),
    })
}

/// Runs `command` in the environment with this process's standard
/// streams; without a command, the environment's shell: on this terminal
/// if standard input is one, else `sh` reading standard input.
pub async fn run(target: &Target, command: &[String]) -> anyhow::Result<ExitStatus> {
    let status = if command.is_empty() && std::io::stdin().is_terminal() {
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        interactive(target, &term).await
    } else {
        let argv: Vec<&str> = if command.is_empty() {
            vec!["sh"]
        } else {
            command.iter().map(String::as_str).collect()
        };
        run_command(
            target,
            CommandSpec::new(argv),
            tokio::io::stdin(),
            tokio::io::stdout(),
            tokio::io::stderr(),
            true,
        )
        .await
    };
    status.with_context(|| format!("cpu listener {}", target.addr))
}
