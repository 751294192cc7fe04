//! A [`RemoteFs`] talking to a real [`Server`] over a real socket, for the
//! client's tests: the served tree is kept to check what arrived.
#![allow(dead_code)] // each test binary uses part of this module

use std::sync::Arc;

use colony_ns::{FileSystem, MemFs, RemoteFs, Server, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The user the tests connect as (the MemFs root's owner).
pub const USER: &str = "glenda";

/// A multi-threaded runtime for the connection and server tasks (the
/// RemoteFs calls themselves run on ordinary threads).
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// An empty MemFs whose root glenda owns (mode 0775).
pub fn memfs() -> Arc<MemFs> {
    Arc::new(MemFs::with_root(USER, USER, 0o775))
}

/// A loopback TCP connection: (client end, server end).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.expect("connect"), accepted.expect("accept").0)
}

/// Serves `served` with `config` on one end of a loopback TCP connection
/// and connects a RemoteFs as `user` on the other.
pub fn connect(
    rt: &Runtime,
    served: Arc<dyn FileSystem>,
    config: ServerConfig,
    user: &str,
) -> RemoteFs {
    rt.block_on(async {
        let (client, server_end) = tcp_pair().await;
        let server = Server::new(served, config);
        tokio::spawn(async move { server.serve(server_end).await });
        RemoteFs::connect(client, user, "").await.expect("connect")
    })
}
