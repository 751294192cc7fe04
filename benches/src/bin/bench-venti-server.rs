//! colony's venti server in its own process, for the `venti_load` bench
//! (which measures this process's memory): `bench-venti-server mem` or
//! `bench-venti-server arena DIR`. Prints the address it listens on, then
//! serves until its standard input closes (so it ends with the bench).

use std::io::Read;
use std::sync::Arc;

use colony_venti::proto::VentiServer;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, MemStore};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store: Arc<dyn BlockStore> = match args.as_slice() {
        [kind] if kind == "mem" => Arc::new(MemStore::new()),
        [kind, dir] if kind == "arena" => {
            let config = ArenaConfig {
                arena_size: 256 << 20,
                ..ArenaConfig::default()
            };
            Arc::new(ArenaStore::open(dir, config).expect("opening the arena store"))
        }
        _ => {
            eprintln!("usage: bench-venti-server mem | arena DIR");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let server = VentiServer::bind("127.0.0.1:0", store.clone())
            .await
            .expect("listening on loopback");
        println!("{}", server.local_addr());
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
        server.shutdown().await;
    });
    store.sync().expect("final sync");
}
