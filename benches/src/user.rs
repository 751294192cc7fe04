//! A grid user as `gridorc` acts for them: the grid RPC to their node,
//! and the cpu client into their environments.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use colony_core::identity::Credential;
use colony_core::rpc::{GridClient, host_of};
use colony_ns::cpu::Identity;
use colony_ns::cpu::client::{Target, interactive_on, run_command};
use colony_ns::session::CommandSpec;

/// A user connected to a node's grid server.
pub struct User {
    /// The grid RPC, as `gridorc` holds it.
    pub client: GridClient,
    identity: Identity,
}

impl User {
    /// Connects with the credential file `cred` to the grid server `addr`.
    pub async fn connect(cred: &Path, addr: &str) -> User {
        User {
            client: GridClient::connect(cred, addr).await.unwrap(),
            identity: Credential::load(cred).unwrap().cpu_identity(),
        }
    }

    /// Spawns `env` and returns how to reach its cpu listener.
    pub async fn spawn(&mut self, env: &str) -> Target {
        let info = self.client.spawn(env, false).await.unwrap();
        Target {
            server_name: host_of(&info.cpu_addr).unwrap().to_string(),
            addr: info.cpu_addr,
            identity: self.identity.clone(),
        }
    }

    /// Spawns `env`, opens its shell on a new terminal (as `gridorc spawn
    /// ENV` then `gridorc attach ENV` do) and returns the time until the
    /// `# ` prompt; then leaves the shell and booms `env`, untimed.
    pub async fn spawn_to_prompt(&mut self, env: &str) -> Duration {
        let start = Instant::now();
        let target = self.spawn(env).await;
        let pty = nix::pty::openpty(None, None).unwrap();
        let shell = tokio::spawn(async move { interactive_on(&target, "xterm", pty.slave).await });
        let mut master = std::fs::File::from(pty.master);
        let (elapsed, master) = tokio::task::spawn_blocking(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.ends_with(b"# ") {
                let n = master.read(&mut buf).unwrap();
                assert!(n > 0, "no prompt: {:?}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&buf[..n]);
            }
            let elapsed = start.elapsed();
            master.write_all(b"exit\n").unwrap();
            (elapsed, master)
        })
        .await
        .unwrap();
        assert!(shell.await.unwrap().unwrap().success());
        drop(master);
        self.client.boom(env).await.unwrap();
        elapsed
    }

    /// Writes `bytes` to the file `path` in the environment at `target`,
    /// through its cpu listener (`cat > PATH` reading them).
    pub async fn write(&self, target: &Target, path: &str, bytes: Vec<u8>) {
        self.sh(target, &format!("cat > {path}"), bytes).await;
    }

    /// Standard output of `sh -c SCRIPT` in the environment at `target`,
    /// which must succeed.
    pub async fn output(&self, target: &Target, script: &str) -> String {
        String::from_utf8(self.sh(target, script, Vec::new()).await).unwrap()
    }

    /// Runs `sh -c SCRIPT` with `input` in the environment at `target`
    /// through its cpu listener; it must succeed. Returns its output.
    async fn sh(&self, target: &Target, script: &str, input: Vec<u8>) -> Vec<u8> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let status = run_command(
            target,
            CommandSpec::new(["sh", "-c", script]),
            std::io::Cursor::new(input),
            &mut stdout,
            &mut stderr,
            false,
        )
        .await
        .unwrap();
        let said = String::from_utf8_lossy(&stderr);
        assert!(status.success(), "{script}: {status:?}: {said}");
        stdout
    }

    /// Saves `env` as `label` and returns how long the save RPC took.
    pub async fn save(&mut self, env: &str, label: &str) -> Duration {
        let start = Instant::now();
        self.client.save(env, label).await.unwrap();
        start.elapsed()
    }
}
