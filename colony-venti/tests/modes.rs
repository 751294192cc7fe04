//! Host-side modes (issue 12): a store's directory is 0700 and every file
//! in it 0600, whatever the umask allows; a store directory left 0755 by
//! an earlier version is tightened when opened.

mod common;

use common::noise;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, DATA_MARKER};

fn assert_private(top: &Path) {
    assert_eq!(colony_venti::private::not_private(top).unwrap(), []);
}

#[test]
fn every_store_file_is_0600_and_the_directory_0700() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("venti");
    let config = ArenaConfig {
        arena_size: 128 << 10,
        index_bits: 1,
        flush_entries: 16,
        write_buffer: 4096,
        sync_ahead: 0,
    };
    let store = ArenaStore::open(&dir, config.clone()).unwrap();
    // Enough to seal arenas, grow the index and prepare the next arena.
    for i in 0..40 {
        store.write(BlockType::DATA, &noise(i, 8000)).unwrap();
    }
    store.sync().unwrap();
    drop(store);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for want in ["lock", "index", "bloom", "arena.00000001", DATA_MARKER] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    assert_private(&dir);
    // Reopening (recovery, rebuilt index) makes nothing looser.
    std::fs::remove_file(dir.join("index")).unwrap();
    let store = ArenaStore::open(&dir, config).unwrap();
    store.write(BlockType::DATA, b"after").unwrap();
    store.sync().unwrap();
    drop(store);
    assert_private(&dir);
}

#[test]
fn a_loose_store_directory_is_tightened_on_open() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("venti");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = ArenaStore::open(&dir, ArenaConfig::default()).unwrap();
    let score = store.write(BlockType::DATA, b"kept").unwrap();
    store.sync().unwrap();
    drop(store);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let store = ArenaStore::open(&dir, ArenaConfig::default()).unwrap();
    assert_eq!(store.read(&score, BlockType::DATA).unwrap(), b"kept");
}
