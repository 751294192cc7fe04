//! The spawning API's bookkeeping and every refusal, over [`BareRuntime`]
//! (real arena store, real redb names, real live fossils; no namespace,
//! so no root needed). The sessions themselves are tested end to end in
//! `tests/colony.rs`.

use std::path::Path;
use std::sync::Arc;

use colony_fossil::{Fossil, FossilOptions};
use colony_ns::session::LinuxConfig;
use colony_venti::{BlockStore, Score};

use super::*;
use crate::identity::{InitOptions, adduser, init};
use crate::limits::LIMITS_FILE;

fn user(name: &str) -> UserName {
    UserName::new(name).unwrap()
}

fn config(dir: &Path) -> ColonyConfig {
    ColonyConfig {
        data_dir: dir.to_path_buf(),
        cpu_host: "127.0.0.1".into(),
        helper: LinuxConfig::new("/nonexistent/colony-session-helper"),
        seed: None,
    }
}

/// A node `n1` with users admin, alice, bob and bobby, `limits` written
/// before opening.
struct Grid {
    dir: tempfile::TempDir,
    colony: Colony<BareRuntime>,
}

impl Grid {
    fn new(limits: Option<&str>) -> Grid {
        let dir = tempfile::tempdir().unwrap();
        init(
            dir.path(),
            &InitOptions {
                node_id: Some(NodeId::new("n1").unwrap()),
                admin: user("admin"),
                ..InitOptions::default()
            },
        )
        .unwrap();
        for u in ["alice", "bob", "bobby"] {
            adduser(dir.path(), &user(u)).unwrap();
        }
        if let Some(text) = limits {
            std::fs::write(dir.path().join(LIMITS_FILE), text).unwrap();
        }
        let colony = Colony::with_runtime(config(dir.path()), BareRuntime).unwrap();
        let grid = Grid { dir, colony };
        let score = grid.seed_tree();
        grid.colony.seed(&user("admin"), score).unwrap();
        for u in ["alice", "bob", "bobby"] {
            grid.colony.grant_seed(&user(u)).unwrap();
        }
        grid
    }

    /// A tree with `/hello` = "world", saved into the node's store.
    fn seed_tree(&self) -> Score {
        let fs = Fossil::create_empty(self.colony.store(), FossilOptions::default()).unwrap();
        write_file(&fs, "hello", b"world");
        let score = fs.save().unwrap();
        self.colony.store().sync().unwrap();
        score
    }

    /// `who` spawns their own clean environment, `clean.n1.<who>`, with
    /// no disk store.
    async fn spawn_clean(&self, who: &UserName) -> EnvInfo {
        let name = format!("clean.n1.{who}");
        self.colony.spawn(who, &name, false).await.unwrap()
    }

    /// A spawn that must fail; its error.
    async fn spawn_err(&self, who: &UserName, name: &str, disk: bool) -> Error {
        self.colony.spawn(who, name, disk).await.unwrap_err()
    }

    /// The names `who` holds, filtered as [`Colony::scores`] filters.
    fn score_names(&self, who: &UserName, filter: Option<&str>) -> Vec<String> {
        let records = self.colony.scores(who, filter).unwrap();
        names(&records).into_iter().map(String::from).collect()
    }

    fn reopen(self) -> Grid {
        let Grid { dir, colony } = self;
        drop(colony);
        let colony = Colony::with_runtime(config(dir.path()), BareRuntime).unwrap();
        Grid { dir, colony }
    }
}

fn write_file(fs: &Fossil, name: &str, data: &[u8]) {
    let meta = fs
        .create(fs.root(), name.as_bytes(), 0o644, "glenda")
        .unwrap();
    fs.write(meta.qid.path, 0, data, "glenda").unwrap();
}

fn read_file(fs: &Fossil, name: &str) -> Vec<u8> {
    let meta = fs.lookup(fs.root(), name.as_bytes()).unwrap();
    let mut out = Vec::new();
    loop {
        let chunk = fs.read(meta.qid.path, out.len() as u64, 1 << 20).unwrap();
        if chunk.is_empty() {
            return out;
        }
        out.extend(chunk);
    }
}

fn names(records: &[NameRecord]) -> Vec<&str> {
    records.iter().map(|r| r.name.as_str()).collect()
}

#[tokio::test]
async fn spawn_write_save_and_spawn_the_saved_name() {
    let g = Grid::new(None);
    let alice = user("alice");
    let info = g.spawn_clean(&alice).await;
    assert_eq!(info.name, "clean.n1.alice");
    assert_eq!(info.owner, "alice");
    assert!(!info.disk);
    assert_eq!(info.attach, "gridorc attach clean.n1.alice");
    assert_eq!(info.cpu_addr, "", "a bare environment has no cpu listener");
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    assert_eq!(read_file(&fs, "hello"), b"world");
    write_file(&fs, "note", b"saved by alice");

    let saved = g
        .colony
        .save(&alice, "clean.n1.alice", "work")
        .await
        .unwrap();
    assert_eq!(saved.name.as_str(), "work@n1");
    assert_eq!(saved.owner, alice);
    assert_eq!(saved.invite, None);
    assert_eq!(g.score_names(&alice, None), ["clean.n1.alice", "work@n1"]);

    g.colony.spawn(&alice, "work@n1", false).await.unwrap();
    let again = g.colony.env_fossil(&alice, "work@n1").unwrap();
    assert_eq!(read_file(&again, "note"), b"saved by alice");
    let status = g.colony.status(&alice).unwrap();
    assert_eq!(
        status.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["clean.n1.alice", "work@n1"]
    );
    assert!(status[0].local_bytes > 0, "{status:?}");
    assert!(g.colony.status(&user("bob")).unwrap().is_empty());
}

#[tokio::test]
async fn unknown_and_other_users_names_are_refused_alike() {
    let g = Grid::new(None);
    let bob = user("bob");
    let theirs = g.spawn_err(&bob, "clean.n1.alice", false).await;
    let missing = g.spawn_err(&bob, "clean.n1.nobody", false).await;
    assert_eq!(theirs.to_string(), "scorename clean.n1.alice not found");
    assert_eq!(missing.to_string(), "scorename clean.n1.nobody not found");
    // Exact match: "bob" is not "bobby".
    let bobby = g.spawn_err(&bob, "clean.n1.bobby", false).await;
    assert!(matches!(bobby, Error::NameNotFound(n) if n == "clean.n1.bobby"));
    // Not the admin's seed either.
    assert!(matches!(
        g.colony.spawn(&bob, "clean.n1", false).await,
        Err(Error::NameNotFound(_))
    ));
    assert_eq!(g.score_names(&bob, None), ["clean.n1.bob"]);
}

#[tokio::test]
async fn scores_filter_within_own_names() {
    let g = Grid::new(None);
    let alice = user("alice");
    g.spawn_clean(&alice).await;
    for label in ["alpha", "beta", "alphabet"] {
        g.colony
            .save(&alice, "clean.n1.alice", label)
            .await
            .unwrap();
    }
    assert_eq!(
        g.score_names(&alice, Some("alpha")),
        ["alpha@n1", "alphabet@n1"]
    );
    assert!(g.colony.scores(&alice, Some("bob")).unwrap().is_empty());
    assert!(
        g.colony
            .scores(&user("bob"), Some("alpha"))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn already_running() {
    let g = Grid::new(None);
    let alice = user("alice");
    g.spawn_clean(&alice).await;
    let e = g.spawn_err(&alice, "clean.n1.alice", true).await;
    assert_eq!(
        e.to_string(),
        "clean.n1.alice is already running on this node; use save to clone it to a new name"
    );
    assert_eq!(g.colony.status(&alice).unwrap().len(), 1);
}

#[tokio::test]
async fn node_and_user_limits() {
    let g = Grid::new(Some("limits sessions-per-node=2 sessions-per-user=1\n"));
    let (alice, bob, bobby) = (user("alice"), user("bob"), user("bobby"));
    g.spawn_clean(&alice).await;
    g.colony
        .save(&alice, "clean.n1.alice", "second")
        .await
        .unwrap();
    let e = g.spawn_err(&alice, "second@n1", false).await;
    assert_eq!(
        e.to_string(),
        "spawn limit reached: alice runs 1 of 1 environments"
    );
    g.spawn_clean(&bob).await;
    let e = g.spawn_err(&bobby, "clean.n1.bobby", false).await;
    assert_eq!(
        e.to_string(),
        "spawn limit reached: the node runs 2 of 2 environments"
    );
    // boom frees the slot.
    g.colony.boom(&bob, "clean.n1.bob").await.unwrap();
    g.spawn_clean(&bobby).await;
}

#[tokio::test]
async fn concurrent_spawns_cannot_pass_a_limit_together() {
    let g = Grid::new(Some("limits sessions-per-user=1\n"));
    let alice = user("alice");
    g.spawn_clean(&alice).await;
    for label in ["a", "b"] {
        g.colony
            .save(&alice, "clean.n1.alice", label)
            .await
            .unwrap();
    }
    g.colony.boom(&alice, "clean.n1.alice").await.unwrap();
    let (a, b) = tokio::join!(
        g.colony.spawn(&alice, "a@n1", false),
        g.colony.spawn(&alice, "b@n1", false)
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} {b:?}");
    assert_eq!(g.colony.status(&alice).unwrap().len(), 1);
}

#[tokio::test]
async fn disk_slots_and_the_disk_store_file() {
    let g = Grid::new(Some("limits disk-slots=1 disk-store=1048576\n"));
    let (alice, bob) = (user("alice"), user("bob"));
    let info = g
        .colony
        .spawn(&alice, "clean.n1.alice", true)
        .await
        .unwrap();
    assert!(info.disk);
    let local = g.dir.path().join("envs/clean.n1.alice.local");
    assert!(local.is_file());
    let e = g.spawn_err(&bob, "clean.n1.bob", true).await;
    assert_eq!(
        e.to_string(),
        "no available disk slots: the node uses 1 of 1"
    );
    // A failed spawn holds no slot; a memory spawn needs no disk slot.
    g.spawn_clean(&bob).await;
    // Writes beyond the disk store's limit go to venti early and survive.
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    write_file(&fs, "big", &big);
    assert!(fs.cache_stats().early_flushes > 0);
    let saved = g
        .colony
        .save(&alice, "clean.n1.alice", "big")
        .await
        .unwrap();
    g.colony.boom(&alice, "clean.n1.alice").await.unwrap();
    drop(fs);
    assert!(!local.exists(), "boom removes the disk store");
    g.colony
        .spawn(&alice, saved.name.as_str(), true)
        .await
        .unwrap();
    let fs = g.colony.env_fossil(&alice, "big@n1").unwrap();
    assert!(read_file(&fs, "big") == big, "big file differs");
}

#[tokio::test]
async fn bad_arguments() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    for bad in ["", "has space", "x@", "a/b", "x@Node"] {
        assert!(
            matches!(
                g.colony.spawn(&alice, bad, false).await,
                Err(Error::BadName { .. })
            ),
            "{bad:?}"
        );
    }
    g.spawn_clean(&alice).await;
    for bad in ["", "a/b", ".hidden", "x@n1"] {
        let e = g
            .colony
            .save(&alice, "clean.n1.alice", bad)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::BadName { .. }), "{bad:?}: {e}");
    }
    let e = g
        .colony
        .invite(&alice, &alice, "clean.n1.alice")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invite alice clean.n1.alice: you cannot invite yourself; use save"
    );
    let e = g
        .colony
        .invite(&alice, &user("carol"), "clean.n1.alice")
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "user carol does not exist");
    // Nothing was minted by the refusals.
    assert_eq!(g.score_names(&alice, None), ["clean.n1.alice"]);
    assert_eq!(g.score_names(&bob, None), ["clean.n1.bob"]);
}

#[tokio::test]
async fn save_refuses_an_existing_name() {
    let g = Grid::new(None);
    let alice = user("alice");
    g.spawn_clean(&alice).await;
    let first = g
        .colony
        .save(&alice, "clean.n1.alice", "work")
        .await
        .unwrap();
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "later", b"x");
    let e = g
        .colony
        .save(&alice, "clean.n1.alice", "work")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "scorename work@n1 already exists; names never change"
    );
    assert_eq!(
        g.colony.names().get(&first.name).unwrap().unwrap(),
        first,
        "the name still holds the first snapshot"
    );
}

#[tokio::test]
async fn others_environments_are_not_running_for_you() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    g.spawn_clean(&alice).await;
    let want = "clean.n1.alice is not one of your running environments";
    let errors = [
        g.colony.boom(&bob, "clean.n1.alice").await.unwrap_err(),
        g.colony
            .save(&bob, "clean.n1.alice", "stolen")
            .await
            .unwrap_err(),
        g.colony
            .invite(&bob, &user("bobby"), "clean.n1.alice")
            .await
            .unwrap_err(),
        g.colony.env_fossil(&bob, "clean.n1.alice").err().unwrap(),
    ];
    for e in errors {
        assert_eq!(e.to_string(), want);
    }
    // The same as for a name nobody runs.
    let e = g.colony.boom(&alice, "clean.n1.bob").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "clean.n1.bob is not one of your running environments"
    );
    assert_eq!(g.colony.status(&alice).unwrap().len(), 1);
    assert!(g.colony.scores(&bob, Some("stolen")).unwrap().is_empty());
}

#[tokio::test]
async fn invite_gives_the_invitee_their_own_name() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    g.spawn_clean(&alice).await;
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "for-bob", b"hi bob");
    let invite = g
        .colony
        .invite(&alice, &bob, "clean.n1.alice")
        .await
        .unwrap();
    assert_eq!(invite.name.as_str(), "clean.n1.alice.bob@n1");
    assert_eq!(invite.owner, bob);
    let from = invite.invite.as_ref().unwrap();
    assert_eq!(
        (from.by.as_str(), from.from.as_str()),
        ("alice", "clean.n1.alice")
    );
    let second = g
        .colony
        .invite(&alice, &bob, "clean.n1.alice")
        .await
        .unwrap();
    assert_eq!(second.name.as_str(), "clean.n1.alice.bob.2@n1");
    // The inviter does not get the names; the invitee does.
    assert_eq!(g.score_names(&alice, None), ["clean.n1.alice"]);
    assert_eq!(
        names(&g.colony.names().shared_with(&bob).unwrap()),
        ["clean.n1.alice.bob.2@n1", "clean.n1.alice.bob@n1"]
    );
    assert!(matches!(
        g.colony.spawn(&alice, invite.name.as_str(), false).await,
        Err(Error::NameNotFound(_))
    ));
    g.colony
        .spawn(&bob, invite.name.as_str(), false)
        .await
        .unwrap();
    let theirs = g.colony.env_fossil(&bob, invite.name.as_str()).unwrap();
    assert_eq!(read_file(&theirs, "for-bob"), b"hi bob");
}

#[tokio::test]
async fn boom_keeps_every_saved_name() {
    let g = Grid::new(None);
    let alice = user("alice");
    g.spawn_clean(&alice).await;
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "kept", b"yes");
    g.colony
        .save(&alice, "clean.n1.alice", "keep")
        .await
        .unwrap();
    g.colony.boom(&alice, "clean.n1.alice").await.unwrap();
    assert!(g.colony.status(&alice).unwrap().is_empty());
    assert!(matches!(
        g.colony.boom(&alice, "clean.n1.alice").await,
        Err(Error::NotRunning(_))
    ));
    g.colony.spawn(&alice, "keep@n1", false).await.unwrap();
    let fs = g.colony.env_fossil(&alice, "keep@n1").unwrap();
    assert_eq!(read_file(&fs, "kept"), b"yes");
    // The original spawns again from its own, unchanged snapshot.
    g.spawn_clean(&alice).await;
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    assert!(fs.lookup(fs.root(), b"kept").is_err());
}

#[tokio::test]
async fn reopening_keeps_names_and_blocks() {
    let g = Grid::new(None);
    let alice = user("alice");
    g.spawn_clean(&alice).await;
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "durable", b"across restarts");
    drop(fs);
    g.colony
        .save(&alice, "clean.n1.alice", "durable")
        .await
        .unwrap();
    g.colony.shutdown().await.unwrap();
    let before = g.colony.names().all().unwrap();
    let g = g.reopen();
    assert_eq!(g.colony.names().all().unwrap(), before);
    assert!(g.colony.status(&alice).unwrap().is_empty());
    g.colony.spawn(&alice, "durable@n1", false).await.unwrap();
    let fs = g.colony.env_fossil(&alice, "durable@n1").unwrap();
    assert_eq!(read_file(&fs, "durable"), b"across restarts");
}

#[tokio::test]
async fn shutdown_stops_everything_and_refuses_spawns() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    g.spawn_clean(&alice).await;
    g.colony.spawn(&bob, "clean.n1.bob", true).await.unwrap();
    g.colony.shutdown().await.unwrap();
    assert!(g.colony.status(&alice).unwrap().is_empty());
    assert!(g.colony.status(&bob).unwrap().is_empty());
    let e = g.spawn_err(&alice, "clean.n1.alice", false).await;
    assert_eq!(e.to_string(), "this node is shutting down");
    assert!(!g.dir.path().join("envs/clean.n1.bob.local").exists());
}

#[tokio::test]
async fn seeds_and_grants() {
    let g = Grid::new(None);
    let admin = user("admin");
    let seed = g
        .colony
        .names()
        .get(&g.colony.seed_name().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(seed.name.as_str(), "clean.n1");
    assert_eq!(seed.owner, admin);
    // Seeding again with the same score is a no-op; another is refused.
    assert_eq!(g.colony.seed(&admin, seed.score).unwrap(), seed);
    let e = g.colony.seed(&admin, Score::of(b"other")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "scorename clean.n1 already exists; names never change"
    );
    assert!(matches!(
        g.colony.seed(&user("bob"), seed.score),
        Err(Error::NameExists(_))
    ));
    // A grant is the seed's score under the user's own name, once.
    let bob = g.colony.grant_seed(&user("bob")).unwrap();
    assert_eq!((bob.name.as_str(), bob.score), ("clean.n1.bob", seed.score));
    assert_eq!(g.colony.grant_seed(&user("bob")).unwrap(), bob);
}

#[test]
fn grant_needs_the_seed_and_open_needs_init() {
    let dir = tempfile::tempdir().unwrap();
    let e = Colony::with_runtime(config(dir.path()), BareRuntime)
        .err()
        .unwrap();
    assert!(matches!(e, Error::NotInitialised { .. }), "{e}");
    assert!(e.to_string().contains("run colony init"), "{e}");
    init(dir.path(), &InitOptions::default()).unwrap();
    let colony = Colony::with_runtime(config(dir.path()), BareRuntime).unwrap();
    let e = colony.grant_seed(&user("admin")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("scorename clean.{} not found", colony.node())
    );
    // One process per data directory: the store is locked.
    let second = Colony::with_runtime(config(dir.path()), BareRuntime)
        .err()
        .unwrap();
    assert!(
        matches!(&second, Error::Store(colony_venti::Error::Locked { .. })),
        "{second}"
    );
}

#[test]
fn open_clears_stale_environment_files() {
    let g = Grid::new(None);
    let envs = g.dir.path().join("envs");
    std::fs::write(envs.join("x@n1.local"), b"stale").unwrap();
    std::fs::create_dir(envs.join("x@n1.root")).unwrap();
    let g = g.reopen();
    assert_eq!(std::fs::read_dir(envs).unwrap().count(), 0);
    drop(g);
}

#[test]
fn colony_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Colony<BareRuntime>>();
    check::<Colony>();
    let _: Option<Arc<Colony>> = None;
}

/// Issue 12: no other local account reads a node's data.
fn assert_private(top: &Path) {
    assert_eq!(colony_venti::private::not_private(top).unwrap(), []);
}

#[tokio::test]
async fn every_data_file_is_0600_and_every_directory_0700() {
    let g = Grid::new(None);
    let alice = user("alice");
    g.colony
        .spawn(&alice, "clean.n1.alice", true)
        .await
        .unwrap();
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "secret", b"alice's");
    g.colony
        .save(&alice, "clean.n1.alice", "mine")
        .await
        .unwrap();
    crate::identity::revoked::revoke(g.dir.path(), &user("bobby")).unwrap();
    let dir = g.dir.path();
    for made in [
        "node-id",
        "names.redb",
        "node.cred",
        "ca/ca.key",
        "ca/ca.crt",
        "users/alice.cred",
        "revoked-users",
        "venti/index",
        "envs/clean.n1.alice.local",
        "running/clean.n1.alice",
        colony_venti::DATA_MARKER,
    ] {
        assert!(dir.join(made).exists(), "{made} missing");
    }
    assert_private(dir);
    g.colony.boom(&alice, "clean.n1.alice").await.unwrap();
    drop(fs);
    let g = g.reopen();
    assert_private(g.dir.path());
}

#[test]
fn a_loose_data_directory_is_tightened_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let g = Grid::new(None);
    let dir = g.dir.path().to_path_buf();
    // As an earlier version left it.
    for loose in [&dir, &dir.join("venti"), &dir.join("envs")] {
        std::fs::set_permissions(loose, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let g = g.reopen();
    for tight in [&dir, &dir.join("venti"), &dir.join("envs")] {
        let mode = std::fs::metadata(tight).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", tight.display());
    }
    assert_eq!(g.colony.node().as_str(), "n1", "the node still opens");
}

/// A crash: the node's process ends without `shutdown` (what `kill -9`
/// leaves of a bare node: its data directory), and a new one opens it.
fn crash(g: Grid) -> Grid {
    g.reopen()
}

#[tokio::test]
async fn synced_environments_come_back_after_a_crash() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    let started = g.spawn_clean(&alice).await.started;
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "synced", b"before the crash");
    let root = g.colony.sync_env(&alice, "clean.n1.alice").await.unwrap();
    write_file(&fs, "unsynced", b"lost");
    // A sync with nothing new writes nothing and keeps the root.
    g.colony.spawn(&bob, "clean.n1.bob", true).await.unwrap();
    let bobs = g.colony.env_fossil(&bob, "clean.n1.bob").unwrap();
    write_file(&bobs, "disk", b"spawndisk too");
    g.colony.sync_env(&bob, "clean.n1.bob").await.unwrap();
    let again = g.colony.sync_env(&bob, "clean.n1.bob").await.unwrap();
    assert_eq!(
        g.colony.sync_env(&bob, "clean.n1.bob").await.unwrap(),
        again
    );
    let record = std::fs::read_to_string(g.dir.path().join("running/clean.n1.alice")).unwrap();
    assert!(record.contains(&format!("root {root}\n")), "{record}");
    drop((fs, bobs));

    let g = crash(g);
    assert!(g.colony.status(&alice).unwrap().is_empty());
    let resumed = g.colony.resume().await.unwrap();
    assert_eq!(resumed.len(), 2);
    let status = g.colony.status(&alice).unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].name.as_str(), status[0].owner.as_str()),
        ("clean.n1.alice", "alice")
    );
    assert_eq!((status[0].started, status[0].disk), (started, false));
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    assert_eq!(read_file(&fs, "synced"), b"before the crash");
    assert_eq!(read_file(&fs, "hello"), b"world");
    assert!(fs.lookup(fs.root(), b"unsynced").is_err());
    let status = g.colony.status(&bob).unwrap();
    assert!(status[0].disk, "spawndisk comes back as spawndisk");
    let bobs = g.colony.env_fossil(&bob, "clean.n1.bob").unwrap();
    assert_eq!(read_file(&bobs, "disk"), b"spawndisk too");
    assert!(g.dir.path().join("envs/clean.n1.bob.local").exists());
    // Nobody else sees them; the names are running, so spawning them again
    // is refused.
    assert!(g.colony.status(&user("bobby")).unwrap().is_empty());
    let e = g.spawn_err(&alice, "clean.n1.alice", false).await;
    assert!(matches!(e, Error::AlreadyRunning(_)), "{e}");
}

#[tokio::test]
async fn boom_forgets_and_shutdown_keeps_everything() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    g.spawn_clean(&alice).await;
    g.spawn_clean(&bob).await;
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    write_file(&fs, "unsynced", b"kept by a clean stop");
    g.colony.boom(&bob, "clean.n1.bob").await.unwrap();
    assert!(!g.dir.path().join("running/clean.n1.bob").exists());
    drop(fs);
    g.colony.shutdown().await.unwrap();
    let g = g.reopen();
    let resumed = g.colony.resume().await.unwrap();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    assert_eq!(read_file(&fs, "unsynced"), b"kept by a clean stop");
    // A save moves the record too.
    write_file(&fs, "saved", b"by save");
    g.colony
        .save(&alice, "clean.n1.alice", "mine")
        .await
        .unwrap();
    drop(fs);
    let g = crash(g);
    g.colony.resume().await.unwrap();
    let fs = g.colony.env_fossil(&alice, "clean.n1.alice").unwrap();
    assert_eq!(read_file(&fs, "saved"), b"by save");
}

#[tokio::test]
async fn a_revoked_user_or_a_bad_record_is_not_resumed() {
    let g = Grid::new(None);
    let (alice, bob) = (user("alice"), user("bob"));
    g.spawn_clean(&alice).await;
    g.spawn_clean(&bob).await;
    let running = g.dir.path().join("running");
    std::fs::write(running.join("x@n1"), "name x@n1\n").unwrap();
    let g = crash(g);
    crate::identity::revoked::revoke(g.dir.path(), &bob).unwrap();
    let g = g.reopen();
    let resumed = g.colony.resume().await.unwrap();
    assert_eq!(names_of(&resumed), ["clean.n1.alice"]);
    assert!(!running.join("clean.n1.bob").exists());
    // The bad record is left for the operator.
    assert!(running.join("x@n1").exists());
}

fn names_of(envs: &[EnvInfo]) -> Vec<&str> {
    envs.iter().map(|e| e.name.as_str()).collect()
}
