//! ArenaStore over the disks of `arena::{mem_disk, crash_disk,
//! faulty_disk}`: the image a crash at every moment would leave (unsynced
//! writes lost, writes torn at any byte), failed writes and syncs, and a
//! full disk, without killing processes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use colony_venti::arena::clump::ClumpCheck;
use colony_venti::arena::crash_disk::{CrashDisk, CrashPoint};
use colony_venti::arena::disk::Disk;
use colony_venti::arena::faulty_disk::{FaultyDisk, WriteFault};
use colony_venti::arena::mem_disk::MemDisk;
use colony_venti::conformance::block;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, Error, Score};

/// Small arenas, batches and index flushes, so a few dozen blocks cross
/// arena seals, batch writes and index commits.
fn config() -> ArenaConfig {
    ArenaConfig {
        arena_size: 128 << 10,
        index_bits: 1,
        flush_entries: 16,
        write_buffer: 4096,
        sync_ahead: 0,
    }
}

/// [`config`] with the active arena synced behind the writers every
/// 16 KiB.
fn ahead() -> ArenaConfig {
    ArenaConfig {
        sync_ahead: 16 << 10,
        ..config()
    }
}

/// Blocks `from..to`, of varied sizes.
fn blocks(from: u64, to: u64) -> Vec<Vec<u8>> {
    (from..to)
        .map(|i| block(i, 200 + (i as usize * 1777) % 6000))
        .collect()
}

/// Writes blocks `seeds` and returns them.
fn write_blocks(store: &ArenaStore, seeds: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    let blocks = blocks(seeds.start, seeds.end);
    for b in &blocks {
        store.write(BlockType::DATA, b).unwrap();
    }
    blocks
}

/// Opens the image and checks it: it opens, every block of `synced` reads
/// back exactly, every block of `maybe` is either absent or exact, and
/// `check` finds nothing wrong.
fn check_image(image: MemDisk, at: CrashPoint, synced: &[Vec<u8>], maybe: &[Vec<u8>]) {
    let store = ArenaStore::open_on(Arc::new(image), config())
        .unwrap_or_else(|e| panic!("crash at {at:?}: the store does not open: {e}"));
    for b in synced {
        match store.read(&Score::of(b), BlockType::DATA) {
            Ok(got) => assert!(&got == b, "crash at {at:?}: a synced block reads wrong"),
            Err(e) => panic!("crash at {at:?}: a synced block of {} bytes: {e}", b.len()),
        }
    }
    for b in maybe {
        match store.read(&Score::of(b), BlockType::DATA) {
            Ok(got) => assert_eq!(&got, b, "crash at {at:?}"),
            Err(Error::NotFound { .. }) => {}
            Err(e) => panic!("crash at {at:?}: an unsynced block: {e}"),
        }
    }
    let report = store.check(&mut |_| {}).unwrap();
    assert!(report.is_clean(), "crash at {at:?}: {:?}", report.problems);
}

/// A store on a [`FaultyDisk`] over `inner`.
fn faulty(inner: Arc<dyn Disk>) -> (FaultyDisk, ArenaStore) {
    let disk = FaultyDisk::new(inner);
    let store = ArenaStore::open_on(Arc::new(disk.clone()), config()).unwrap();
    (disk, store)
}

/// Syncs, then checks that a crash loses none of `blocks`.
fn sync_and_crash(store: &ArenaStore, disk: &CrashDisk, blocks: &[Vec<u8>]) {
    store.sync().unwrap();
    check_image(
        disk.image(CrashPoint::DURABLE),
        CrashPoint::DURABLE,
        blocks,
        &[],
    );
}

#[test]
fn a_crash_at_any_moment_keeps_every_synced_block() {
    let disk = CrashDisk::new("/crash");
    let store = ArenaStore::open_on(Arc::new(disk.clone()), config()).unwrap();
    let (mut synced, mut unsynced) = (Vec::new(), Vec::new());
    let mut torn = 0;
    // Crash images after every few writes, every third round synced: the
    // pending work includes batches, arena seals and index commits.
    for round in 0..13 {
        unsynced.extend(write_blocks(&store, 10 * round..10 * round + 10));
        for at in disk.crash_points(1021) {
            torn += usize::from(at.torn > 0);
            check_image(disk.image(at), at, &synced, &unsynced);
        }
        if round % 3 == 2 {
            store.sync().unwrap();
            synced.append(&mut unsynced);
        }
    }
    assert!(torn > 20, "writes were torn at {torn} points only");
    // What is pending is lost when none of it reached the disk; after a
    // sync returns, a crash loses nothing.
    let image = ArenaStore::open_on(Arc::new(disk.image(CrashPoint::DURABLE)), config()).unwrap();
    let absent = image.has(&Score::of(&unsynced[0]), BlockType::DATA);
    assert!(!absent.unwrap());
    synced.append(&mut unsynced);
    sync_and_crash(&store, &disk, &synced);
}

#[test]
fn a_crash_inside_any_sync_keeps_the_blocks_of_the_last_returned_one() {
    let disk = CrashDisk::new("/crash");
    // Syncs made behind the writers are checked too.
    let store = ArenaStore::open_on(Arc::new(disk.clone()), ahead()).unwrap();
    // Blocks acknowledged by a returned sync, and blocks written since.
    let state = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let checks = Arc::new(AtomicUsize::new(0));
    disk.on_sync({
        let (state, checks) = (state.clone(), checks.clone());
        Arc::new(move |disk: &CrashDisk| {
            let (synced, unsynced) = &*state.lock().unwrap();
            for at in disk.crash_points(4093) {
                check_image(disk.image(at), at, synced, unsynced);
                checks.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    for round in 0..8 {
        let more = blocks(1000 + 10 * round, 1010 + 10 * round);
        state.lock().unwrap().1.extend(more.iter().cloned());
        for b in &more {
            store.write(BlockType::DATA, b).unwrap();
        }
        if round % 2 == 1 {
            store.sync().unwrap();
            let (synced, unsynced) = &mut *state.lock().unwrap();
            synced.append(unsynced);
        }
    }
    // Syncs of arenas (seals, new arenas), of the names and of the index.
    assert!(
        checks.load(Ordering::Relaxed) > 100,
        "{checks:?} images checked"
    );
}

#[test]
fn writers_go_on_while_a_sync_waits_for_the_disk() {
    let disk = CrashDisk::new("/crash");
    let store = Arc::new(ArenaStore::open_on(Arc::new(disk.clone()), config()).unwrap());
    let before = write_blocks(&store, 300..310);
    // The first sync the store asks of the disk (the arena's) waits until
    // the test lets it go.
    let (entered, in_sync) = std::sync::mpsc::channel();
    let (release, go) = std::sync::mpsc::channel::<()>();
    let go = Mutex::new(Some(go));
    disk.on_sync(Arc::new(move |_: &CrashDisk| {
        if let Some(go) = go.lock().unwrap().take() {
            entered.send(()).unwrap();
            go.recv().unwrap();
        }
    }));
    let syncing = std::thread::spawn({
        let store = store.clone();
        move || store.sync()
    });
    in_sync.recv().unwrap();
    let (wrote, written) = std::sync::mpsc::channel();
    let writer = std::thread::spawn({
        let store = store.clone();
        move || wrote.send(write_blocks(&store, 310..330)).unwrap()
    });
    let during = written
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("writes waited for a sync's fdatasync");
    release.send(()).unwrap();
    syncing.join().unwrap().unwrap();
    writer.join().unwrap();
    // What the sync covered is durable; what was written during it may be.
    check_image(
        disk.image(CrashPoint::DURABLE),
        CrashPoint::DURABLE,
        &before,
        &during,
    );
    sync_and_crash(&store, &disk, &[before, during].concat());
}

#[test]
fn blocks_are_synced_behind_the_writers_before_any_sync() {
    let disk = CrashDisk::new("/crash");
    // One arena and no index flush: no other syncs meanwhile.
    let config = ArenaConfig {
        arena_size: 1 << 20,
        flush_entries: 1 << 10,
        ..ahead()
    };
    let store = ArenaStore::open_on(Arc::new(disk.clone()), config).unwrap();
    // The sync-ahead thread's first sync is held until the test lets it
    // go; the store's own sync then shows what it had made durable.
    let (entered, in_sync) = std::sync::mpsc::channel();
    let (release, go) = std::sync::mpsc::channel::<()>();
    let go = Mutex::new(Some(go));
    let image = Arc::new(Mutex::new(None));
    let syncing = Arc::new(AtomicBool::new(false));
    disk.on_sync({
        let (image, syncing) = (image.clone(), syncing.clone());
        Arc::new(move |disk: &CrashDisk| {
            if std::thread::current().name() == Some("arena-sync-ahead") {
                if let Some(go) = go.lock().unwrap().take() {
                    entered.send(()).unwrap();
                    go.recv().unwrap();
                }
            } else if syncing.load(Ordering::Relaxed) {
                let mut image = image.lock().unwrap();
                if image.is_none() {
                    *image = Some(disk.image(CrashPoint::DURABLE));
                }
            }
        })
    });
    // Past `sync_ahead` (16 KiB) with no sync called.
    let ahead = write_blocks(&store, 400..420);
    in_sync
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("no sync behind the writers");
    // Writers go on while it waits for the disk.
    let during = write_blocks(&store, 420..430);
    release.send(()).unwrap();
    syncing.store(true, Ordering::Relaxed);
    store.sync().unwrap();
    let before_sync = image.lock().unwrap().take().expect("the sync's image");
    // Durable before the store's sync: every block written to the file
    // before the held sync went on (all but the last, which may have
    // waited in the open batch).
    let covered = &ahead[..ahead.len() - 2];
    let rest = [&ahead[ahead.len() - 2..], &during[..]].concat();
    check_image(before_sync, CrashPoint::DURABLE, covered, &rest);
    sync_and_crash(&store, &disk, &[ahead, during].concat());
}

#[test]
fn a_crash_in_a_failed_sync_keeps_the_blocks_of_the_last_good_one() {
    let crash = CrashDisk::new("/crash");
    let (disk, store) = faulty(Arc::new(crash.clone()));
    let synced = write_blocks(&store, 100..130);
    store.sync().unwrap();
    let more = write_blocks(&store, 130..150);
    // The arena's data reaches the disk; the index's sync then fails.
    disk.fail_sync(2);
    let err = store.sync().unwrap_err();
    assert!(matches!(err, Error::Io { op: "sync", .. }), "{err}");
    for at in crash.crash_points(1021) {
        check_image(crash.image(at), at, &synced, &more);
    }
    // The store goes on: the next sync makes everything durable.
    sync_and_crash(&store, &crash, &[synced, more].concat());
}

#[test]
fn failed_and_short_writes_are_reported_and_written_again() {
    let mem = MemDisk::new("/mem");
    let (disk, store) = faulty(Arc::new(mem.clone()));
    let mut written = Vec::new();
    for (round, fault) in [WriteFault::Error, WriteFault::Short(100)]
        .into_iter()
        .enumerate()
    {
        let batch = blocks(200 + 10 * round as u64, 210 + 10 * round as u64);
        disk.fail_write("arena.00000000", 1, fault);
        // The failure shows in whichever call writes the batch.
        let failures: Vec<Error> = batch
            .iter()
            .filter_map(|b| store.write(BlockType::DATA, b).err())
            .chain(store.sync().err())
            .collect();
        assert_eq!(failures.len(), 1, "{failures:?}");
        let failed = &failures[0];
        match &failed {
            Error::Io {
                op: "write",
                path,
                offset: Some(_),
                ..
            } => assert!(path.starts_with("/mem"), "{failed}"),
            other => panic!("want a write error naming file and offset: {other}"),
        }
        written.extend(batch);
        // Every block stays readable, and the next sync writes it again.
        for b in &written {
            assert_eq!(&store.read(&Score::of(b), BlockType::DATA).unwrap(), b);
        }
        store.sync().unwrap();
    }
    drop(store);
    let store = ArenaStore::open_on(Arc::new(mem), config()).unwrap();
    for b in &written {
        assert_eq!(&store.read(&Score::of(b), BlockType::DATA).unwrap(), b);
    }
    assert!(store.check(&mut |_| {}).unwrap().is_clean());
}

#[test]
fn a_full_disk_is_a_clear_error_and_reads_go_on() {
    let mem = MemDisk::new("/mem");
    let (disk, store) = faulty(Arc::new(mem.clone()));
    let before = write_blocks(&store, 300..320);
    store.sync().unwrap();
    disk.set_full(true);
    // Writes go on until one needs the disk (a batch, a new arena).
    let after = blocks(320, 400);
    let mut acknowledged = Vec::new();
    let err = after
        .iter()
        .find_map(|b| match store.write(BlockType::DATA, b) {
            Ok(_) => {
                acknowledged.push(b.clone());
                None
            }
            Err(e) => Some(e),
        })
        .or_else(|| store.sync().err())
        .expect("a full disk fails a write or the sync");
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert!(err.to_string().starts_with("disk full: "), "{err}");
    assert!(matches!(store.sync(), Err(Error::DiskFull { .. })));
    for b in before.iter().chain(&acknowledged) {
        assert_eq!(&store.read(&Score::of(b), BlockType::DATA).unwrap(), b);
    }
    // Room again: everything acknowledged becomes durable.
    disk.set_full(false);
    store.sync().unwrap();
    drop(store);
    let store = ArenaStore::open_on(Arc::new(mem), config()).unwrap();
    for b in before.iter().chain(&acknowledged) {
        assert_eq!(&store.read(&Score::of(b), BlockType::DATA).unwrap(), b);
    }
}

#[test]
fn a_failed_read_is_an_io_error_naming_file_and_offset_not_absence() {
    let (disk, store) = faulty(Arc::new(MemDisk::new("/mem")));
    let stored = write_blocks(&store, 600..700);
    store.sync().unwrap();
    disk.set_unreadable(true);
    for b in &stored {
        let s = Score::of(b);
        for r in [
            store.read(&s, BlockType::DATA).map(drop),
            store.has(&s, BlockType::DATA).map(drop),
        ] {
            match r {
                Err(Error::Io {
                    op: "read",
                    path,
                    offset: Some(_),
                    source,
                }) => {
                    assert!(path.starts_with("/mem/"), "{}", path.display());
                    assert!(source.to_string().contains("injected"), "{source}");
                }
                other => panic!("want a read error, got {other:?}"),
            }
        }
    }
    disk.set_unreadable(false);
    assert_eq!(
        &store.read(&Score::of(&stored[0]), BlockType::DATA).unwrap(),
        &stored[0]
    );
}

#[test]
fn damage_is_refused_naming_the_block_file_offset_and_check() {
    let mem = MemDisk::new("/mem");
    let store = ArenaStore::open_on(Arc::new(mem.clone()), config()).unwrap();
    let b = block(500, 3000);
    let s = store.write(BlockType::DATA, &b).unwrap();
    store.sync().unwrap();
    drop(store);
    let name = "arena.00000000";
    let mut bytes = mem.contents(name).unwrap();
    // The last byte of the log is the block's (stored raw: incompressible).
    let at = bytes.iter().rposition(|&x| x != 0).unwrap();
    bytes[at] ^= 1;
    mem.set_contents(name, bytes);
    let store = ArenaStore::open_on(Arc::new(mem.clone()), config()).unwrap();
    match store.read(&s, BlockType::DATA) {
        Err(Error::Corrupt {
            score,
            arena,
            check,
            ..
        }) => {
            assert_eq!(score, s);
            assert_eq!(arena, mem.path().join(name));
            assert_eq!(check, ClumpCheck::Sha1);
        }
        other => panic!("want Corrupt, got {other:?}"),
    }
    // A read that leaves hashing to its caller still checks the CRC.
    match store.read_unhashed(&s, BlockType::DATA) {
        Err(Error::Corrupt { score, check, .. }) => {
            assert_eq!(score, s);
            assert_eq!(check, ClumpCheck::DataChecksum);
        }
        other => panic!("want Corrupt, got {other:?}"),
    }
}
