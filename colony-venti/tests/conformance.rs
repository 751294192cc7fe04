//! The BlockStore conformance suite on every store of this crate:
//! MemStore, ArenaStore on disk (and on the memory and crash-image disks
//! its tests use), and VentiClient talking over a loopback socket to
//! colony's server backed by MemStore and by ArenaStore on disk.

mod common;

use std::ops::Deref;
use std::sync::Arc;

use colony_venti::arena::disk::Disk;
use colony_venti::conformance::{
    FailingStore, failures_underneath_are_errors, synced_blocks_survive_reopening,
};
use colony_venti::proto::VentiClient;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, MemStore};
use common::{Running, start};
use tempfile::TempDir;

/// Small arenas and frequent index flushes, so the checks cross arena
/// seals and index writes.
fn config() -> ArenaConfig {
    ArenaConfig {
        arena_size: 1 << 20,
        index_bits: 1,
        flush_entries: 64,
        write_buffer: 16 << 10,
        sync_ahead: 32 << 10,
    }
}

/// An ArenaStore in its own temporary directory (the store is dropped,
/// and flushed, before the directory goes).
struct OnDisk {
    store: Arc<ArenaStore>,
    _dir: TempDir,
}

fn on_disk() -> OnDisk {
    let dir = tempfile::tempdir().unwrap();
    OnDisk {
        store: Arc::new(ArenaStore::open(dir.path(), config()).unwrap()),
        _dir: dir,
    }
}

impl Deref for OnDisk {
    type Target = ArenaStore;
    fn deref(&self) -> &ArenaStore {
        &self.store
    }
}

/// A VentiClient connected over loopback to colony's server on a store;
/// holds what the store needs until the client and server are gone.
struct Remote<K> {
    client: VentiClient,
    _server: Running,
    _keep: K,
}

fn remote<K>(store: Arc<dyn BlockStore>, keep: K) -> Remote<K> {
    let server = start(store);
    Remote {
        client: VentiClient::connect(server.addr).unwrap(),
        _server: server,
        _keep: keep,
    }
}

impl<K> Deref for Remote<K> {
    type Target = VentiClient;
    fn deref(&self) -> &VentiClient {
        &self.client
    }
}

mod mem {
    colony_venti::block_store_conformance!(Box::new(colony_venti::MemStore::new()));
}

mod arena {
    colony_venti::block_store_conformance!(super::on_disk());
}

/// An ArenaStore on another disk than the file system.
fn arena_on(disk: impl Disk + 'static) -> Box<ArenaStore> {
    Box::new(ArenaStore::open_on(Arc::new(disk), config()).unwrap())
}

mod arena_on_mem_disk {
    colony_venti::block_store_conformance!(super::arena_on(
        colony_venti::arena::mem_disk::MemDisk::new("/mem")
    ));
}

mod arena_on_crash_disk {
    colony_venti::block_store_conformance!(super::arena_on(
        colony_venti::arena::crash_disk::CrashDisk::new("/crash")
    ));
}

mod client_over_mem {
    colony_venti::block_store_conformance!(super::remote(
        std::sync::Arc::new(colony_venti::MemStore::new()),
        ()
    ));
}

mod client_over_arena {
    colony_venti::block_store_conformance!({
        let disk = super::on_disk();
        super::remote(disk.store.clone(), disk)
    });
}

#[test]
fn mem_clones_share_synced_blocks() {
    let mem = MemStore::new();
    synced_blocks_survive_reopening(&|| Box::new(mem.clone()));
}

#[test]
fn arena_synced_blocks_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    synced_blocks_survive_reopening(&|| Box::new(ArenaStore::open(dir.path(), config()).unwrap()));
}

#[test]
fn client_synced_blocks_survive_reconnecting() {
    let disk = on_disk();
    let server = start(disk.store.clone());
    synced_blocks_survive_reopening(&|| Box::new(VentiClient::connect(server.addr).unwrap()));
}

#[test]
fn client_over_a_failing_store_reports_errors() {
    let under = Arc::new(FailingStore::default());
    failures_underneath_are_errors(&*remote(under.clone(), ()), &under);
}
