//! Every way a program asks for durability reaches a session's root file
//! system: fsync and fdatasync of a file and fsync of a directory through
//! FUSE, and `sync(2)` and `syncfs(2)`, which Linux sends no FUSE server,
//! through the sessions' seccomp supervisor. Each must have made a
//! checkpoint holding what was written before it when it returns, also
//! for a process that outlives the command that started it; a checkpoint
//! that fails fails the call. Needs root and /dev/fuse (skips with a
//! message elsewhere; fails under CI).

mod support;

use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::session::{FsConfig, FsSession, Root, Session, SessionSpec, testroot};
use colony_ns::{Checkpoint, FossilFs};
use colony_venti::{BlockStore, MemStore};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{config, fuse_sessions_possible, sh};

/// Saves the fossil at each sync and keeps the saved trees; refuses while
/// `fail` is set.
struct Recorder {
    store: Arc<dyn BlockStore>,
    fossil: Arc<Fossil>,
    saved: Mutex<Vec<colony_venti::Score>>,
    fail: AtomicBool,
}

impl Checkpoint for Recorder {
    fn checkpoint(&self) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("refused by the test".into());
        }
        let score = self.fossil.save().map_err(|e| e.to_string())?;
        self.saved.lock().unwrap().push(score);
        Ok(())
    }
}

impl Recorder {
    /// Whether the last checkpoint holds `/root/NAME`.
    fn last_holds(&self, name: &str) -> bool {
        let Some(&score) = self.saved.lock().unwrap().last() else {
            return false;
        };
        let saved = Fossil::open(self.store.clone(), score, FossilOptions::default()).unwrap();
        let root = saved.lookup(saved.root(), b"root").unwrap().qid.path;
        saved.lookup(root, name.as_bytes()).is_ok()
    }

    fn count(&self) -> usize {
        self.saved.lock().unwrap().len()
    }
}

/// A session rooted in a live fossil of the test root (with coreutils'
/// `sync`) whose syncs go to a [`Recorder`].
async fn session(scratch: &std::path::Path) -> (FsSession, Arc<Recorder>) {
    let tree = tempfile::tempdir().unwrap();
    testroot::build(tree.path(), &["sync", "rm"]).unwrap();
    let store: Arc<dyn BlockStore> = Arc::new(MemStore::new());
    let score = testroot::import(&*store, tree.path()).unwrap();
    let fossil = Arc::new(Fossil::open(store.clone(), score, FossilOptions::default()).unwrap());
    let recorder = Arc::new(Recorder {
        store,
        fossil: fossil.clone(),
        saved: Mutex::new(Vec::new()),
        fail: AtomicBool::new(false),
    });
    let config = FsConfig {
        linux: config(),
        fs: Arc::new(FossilFs::with_checkpoint(fossil, recorder.clone())),
        mountpoint: scratch.join("syncs"),
    };
    let spec = SessionSpec::new("syncs", Root::Dir(PathBuf::from("/nonexistent")));
    (FsSession::start(&config, &spec).await.unwrap(), recorder)
}

#[tokio::test]
async fn every_sync_call_is_a_checkpoint() {
    if !fuse_sessions_possible() {
        return;
    }
    let scratch = support::private_dir();
    let (mut s, recorder) = session(scratch.path()).await;
    // Closing a file is not a sync.
    let (status, _, err) = sh(&s, "echo x > /root/closed").await;
    assert!(status.success(), "{err}");
    assert_eq!(recorder.count(), 0);
    for (file, call) in [
        ("fsynced", "sync /root/fsynced"),
        ("fdatasynced", "sync -d /root/fdatasynced"),
        ("in-dir", "sync /root"),
        ("synced", "sync"),
        ("syncfsed", "sync -f /root"),
    ] {
        let before = recorder.count();
        let (status, _, err) = sh(&s, &format!("echo {file} > /root/{file} && {call}")).await;
        assert!(status.success(), "{call}: {err}");
        assert!(recorder.count() > before, "{call} made no checkpoint");
        assert!(
            recorder.last_holds(file),
            "{call}: {file} not in the checkpoint"
        );
    }

    // A failed checkpoint fails the call with an I/O error.
    recorder.fail.store(true, Ordering::SeqCst);
    for call in ["sync -f /root", "sync /root/closed"] {
        let (status, _, err) = sh(&s, call).await;
        assert!(!status.success(), "{call} succeeded");
        assert!(err.contains("Input/output error"), "{call}: {err}");
    }
    recorder.fail.store(false, Ordering::SeqCst);

    // A process that outlives its command still has its syncs served.
    let script = "(while [ ! -e /root/go ]; do :; done; echo late > /root/late; \
                  sync -f /root && echo ok > /root/ok) </dev/null >/dev/null 2>&1 &";
    let (status, _, err) = sh(&s, script).await;
    assert!(status.success(), "{err}");
    let (status, _, err) = sh(&s, "echo > /root/go").await;
    assert!(status.success(), "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let ok = s.mountpoint().join("root/ok");
    while !ok.exists() {
        assert!(Instant::now() < deadline, "the late sync never returned");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(recorder.last_holds("late"));
    s.stop().await.unwrap();
}
