//! A session owned by glenda behind a cpu listener on loopback, and the
//! grid CA its certificates come from (each test file adds its helpers).

use super::pki::{Ca, target};
use super::{TestRoot, config};
use colony_ns::cpu::client::Target;
use colony_ns::cpu::{CpuConfig, CpuHandle, Identity, listen};
use colony_ns::session::{LinuxSession, Session};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session, its listener and the CA.
pub struct Fixture {
    /// The session's root tree on the host.
    pub root: TestRoot,
    /// The session.
    pub session: Arc<LinuxSession>,
    /// Its listener.
    pub handle: CpuHandle,
    /// The grid CA.
    pub ca: Ca,
}

impl Fixture {
    /// Starts session `name` and a listener configured by `config` from
    /// the CA's defaults ([`Ca::cpu_config`]).
    pub async fn start(name: &str, configure: impl FnOnce(CpuConfig) -> CpuConfig) -> Fixture {
        let root = TestRoot::new();
        let session = Arc::new(
            LinuxSession::start(&config(), &root.spec(name))
                .await
                .unwrap(),
        );
        let ca = Ca::new("grid CA");
        let cfg = configure(ca.cpu_config());
        let handle = listen("127.0.0.1:0", cfg, session.clone()).await.unwrap();
        Fixture {
            root,
            session,
            handle,
            ca,
        }
    }

    /// How `identity` reaches the listener.
    pub fn target(&self, identity: Identity) -> Target {
        target(self.handle.local_addr(), identity)
    }

    /// Stops the listener, then the session.
    pub async fn finish(self) {
        self.handle.shutdown().await;
        stop(self.session).await;
    }
}

/// Stops the session once the listener's connections have let it go.
pub async fn stop(session: Arc<LinuxSession>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&session) > 1 {
        assert!(Instant::now() < deadline, "connections linger");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut session = Arc::into_inner(session).expect("listener let go of the session");
    session.stop().await.unwrap();
}
