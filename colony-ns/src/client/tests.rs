//! The client over a real server on an in-memory stream, for what needs
//! its insides: the fid budget and the watchdog.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::RemoteFs;
use super::remote::Tuning;
use crate::{FileSystem, MemFs, Server, ServerConfig};

/// Copies bytes from `rd` to `wr` until either ends, dropping them
/// while `frozen` (the stream stays open but says nothing).
async fn relay<R, W>(mut rd: R, mut wr: W, frozen: Arc<AtomicBool>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = rd.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        if !frozen.load(Ordering::SeqCst) && wr.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A server that falls silent without closing the connection fails the
/// calls waiting on it once its probe goes unanswered; an idle
/// connection is left alone.
#[test]
fn a_silent_server_is_given_up() {
    let rt = runtime();
    let silence = Duration::from_millis(100);
    let frozen = Arc::new(AtomicBool::new(false));
    let fs = rt.block_on(async {
        let (client, near) = tokio::io::duplex(1 << 16);
        let (far, server_end) = tokio::io::duplex(1 << 16);
        let server = Server::new(memfs(), ServerConfig::default());
        tokio::spawn(async move { server.serve(server_end).await });
        let (near_rd, near_wr) = tokio::io::split(near);
        let (far_rd, far_wr) = tokio::io::split(far);
        tokio::spawn(relay(near_rd, far_wr, frozen.clone()));
        tokio::spawn(relay(far_rd, near_wr, frozen.clone()));
        let tuning = Tuning {
            silence,
            ..Tuning::default()
        };
        RemoteFs::connect_with(client, "glenda", "", tuning)
            .await
            .unwrap()
    });
    let root = fs.attach("glenda", "").unwrap();
    std::thread::sleep(silence * 5);
    fs.stat(root).expect("idle is not silence");
    frozen.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let e = fs.stat(root).expect_err("the server is silent");
    assert!(matches!(e, crate::Error::ConnectionLost(_)), "{e:?}");
    assert!(e.to_string().contains("sent nothing"), "{e}");
    let took = started.elapsed();
    assert!(took >= silence && took < silence * 20, "{took:?}");
    assert!(matches!(
        fs.stat(root),
        Err(crate::Error::ConnectionLost(_))
    ));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn memfs() -> Arc<MemFs> {
    Arc::new(MemFs::with_root("glenda", "glenda", 0o775))
}

/// Past its budget the client gives fids back, and every node stays
/// usable by id (walked to again from where it was seen).
#[test]
fn fids_stay_within_budget() {
    let rt = runtime();
    let served = memfs();
    let budget = 8;
    let fs = rt.block_on(async {
        let (client, server_end) = tokio::io::duplex(1 << 16);
        let server = Server::new(served.clone(), ServerConfig::default());
        tokio::spawn(async move { server.serve(server_end).await });
        let tuning = Tuning {
            fid_budget: budget,
            ..Tuning::default()
        };
        RemoteFs::connect_with(client, "glenda", "", tuning)
            .await
            .unwrap()
    });
    let root = fs.attach("glenda", "").unwrap();
    let dir = fs
        .create(root, b"d", crate::ninep::DMDIR | 0o755, "glenda")
        .unwrap();
    let files: Vec<_> = (0..40)
        .map(|i| {
            let f = fs
                .create(dir.node(), format!("f{i}").as_bytes(), 0o644, "glenda")
                .unwrap();
            fs.write(f.node(), 0, format!("{i}").as_bytes(), "glenda")
                .unwrap();
            assert_eq!(fs.read(f.node(), 0, 10).unwrap(), format!("{i}").as_bytes());
            f.node()
        })
        .collect();
    // The root (never given up) and the budget.
    assert!(fs.nodes.holding() <= budget + 1, "{}", fs.nodes.holding());
    for (i, &f) in files.iter().enumerate() {
        assert_eq!(fs.stat(f).unwrap().name, format!("f{i}").into_bytes());
        assert_eq!(fs.read(f, 0, 10).unwrap(), format!("{i}").as_bytes());
        fs.write(f, 0, b"x", "glenda").unwrap();
    }
    assert!(fs.nodes.holding() <= budget + 1);
    // Clunks are not waited for: give them a moment to be answered.
    let fids = || fs.conn.shared.fids.outstanding();
    for _ in 0..100 {
        if fids() <= 3 * (budget + 1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(fids() <= 3 * (budget + 1), "{} fids out", fids());
    let f0 = served.lookup(dir.node(), b"f0").unwrap();
    assert_eq!(served.read(f0.node(), 0, 10).unwrap(), b"x");
}
