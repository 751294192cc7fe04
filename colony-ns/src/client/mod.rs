//! A 9P2000 client that is a [`FileSystem`](crate::FileSystem):
//! [`RemoteFs`], so a tree served by any 9P2000 server (ours over a Fossil,
//! say, across mutual TLS) can be used like a local one, and FUSE-mounted
//! with [`crate::fuse::mount`].
//!
//! * `conn`: one connection, tags multiplexed; an I/O task owns the stream
//!   and synchronous callers wait for their own replies, many at once.
//! * `fids`: fid numbers and handles that clunk when dropped.
//! * `nodes`: each node's fids (one unopened, one per open access) and
//!   where it was seen, to walk to it again.
//! * `listing`: readdir cookies over 9P's sequential directory reads.
//! * `remote`: connecting, and the fid work the calls share.
//! * `filesystem`: the trait's methods as 9P requests.
//!
//! Limits of 9P2000 that show through: renames stay within a directory
//! ([`Error::CrossDir`](crate::Error::CrossDir), which FUSE reports as
//! EXDEV so `mv` copies instead); owners cannot be given away; the
//! connection's user acts for every caller.

mod conn;
mod fids;
mod filesystem;
mod listing;
mod nodes;
mod remote;

pub use remote::{MSIZE, RemoteFs};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::nodes::Nodes;
    use super::*;
    use crate::{FileSystem, MemFs, Server, ServerConfig};

    /// Past its budget the client gives fids back, and every node stays
    /// usable by id (walked to again from where it was seen).
    #[test]
    fn fids_stay_within_budget() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let served = Arc::new(MemFs::with_root("glenda", "glenda", 0o775));
        let budget = 8;
        let fs = rt.block_on(async {
            let (client, server_end) = tokio::io::duplex(1 << 16);
            let server = Server::new(served.clone(), ServerConfig::default());
            tokio::spawn(async move { server.serve(server_end).await });
            RemoteFs::connect_with(client, "glenda", "", Nodes::with_budget(budget))
                .await
                .unwrap()
        });
        let root = fs.attach("glenda", "").unwrap();
        let dir = fs
            .create(root, "d", crate::ninep::DMDIR | 0o755, "glenda")
            .unwrap();
        let files: Vec<_> = (0..40)
            .map(|i| {
                let f = fs
                    .create(dir.node(), &format!("f{i}"), 0o644, "glenda")
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
            assert_eq!(fs.stat(f).unwrap().name, format!("f{i}"));
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
        let f0 = served.lookup(dir.node(), "f0").unwrap();
        assert_eq!(served.read(f0.node(), 0, 10).unwrap(), b"x");
    }
}
