//! `run_command` with interrupt forwarding: this process's SIGINT reaches
//! the remote command's process group. Alone in its own test binary, as it
//! raises SIGINT at itself.

mod support;

use colony_ns::cpu::client::run_command;
use colony_ns::cpu::listen;
use colony_ns::session::{CommandSpec, ExitStatus, LinuxSession, Session};
use std::sync::Arc;
use std::time::Duration;
use support::pki::{Ca, target};
use support::{TestRoot, config, sessions_possible};

#[tokio::test]
async fn an_interrupt_reaches_the_remote_command() {
    if !sessions_possible() {
        return;
    }
    let root = TestRoot::new();
    let session = Arc::new(
        LinuxSession::start(&config(), &root.spec("intr"))
            .await
            .unwrap(),
    );
    let ca = Ca::new("grid CA");
    let handle = listen("127.0.0.1:0", ca.cpu_config(), session.clone())
        .await
        .unwrap();
    let target = target(handle.local_addr(), ca.user("glenda", &ca));
    let client = tokio::spawn(async move {
        // The trap shows the signal went to the whole group, shell included.
        let cmd = CommandSpec::new([
            "sh",
            "-c",
            "trap 'echo caught; exit 42' INT; sleep 100 >/dev/null 2>&1 & wait",
        ]);
        let mut out = Vec::new();
        let status = run_command(
            &target,
            cmd,
            tokio::io::empty(),
            &mut out,
            tokio::io::sink(),
            true,
        )
        .await;
        (status, out)
    });
    // Wait for the sleep: by then the client has its SIGINT handler.
    while session.processes().unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT).unwrap();
    let (status, out) = tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.unwrap(), ExitStatus::Code(42));
    assert_eq!(out, b"caught\n");
    handle.shutdown().await;
    let mut session = Arc::into_inner(session).unwrap();
    session.stop().await.unwrap();
}
