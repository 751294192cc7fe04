//! ScoreNames over both stores: immutability, exact matching, invites and
//! the grow-only merge.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::record::tests::record;
use super::*;

fn user(u: &str) -> UserName {
    UserName::new(u).unwrap()
}

fn node(n: &str) -> NodeId {
    NodeId::new(n).unwrap()
}

/// Runs `check` against a memory store and a redb store.
fn both(node_id: &str, check: impl Fn(&dyn Fn() -> ScoreNames<Arc<dyn NameStore>>)) {
    check(&|| {
        ScoreNames::new(
            Arc::new(MemNames::new()) as Arc<dyn NameStore>,
            node(node_id),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let counter = std::cell::Cell::new(0);
    check(&|| {
        counter.set(counter.get() + 1);
        let path = dir.path().join(format!("names{}.redb", counter.get()));
        ScoreNames::new(
            Arc::new(RedbNames::open(&path).unwrap()) as Arc<dyn NameStore>,
            node(node_id),
        )
    });
}

#[test]
fn minted_names_never_change() {
    both("node1", |make| {
        let names = make();
        let alice = user("alice");
        let r = names.mint("mywork", &alice, Score::of(b"a")).unwrap();
        assert_eq!(r.name.as_str(), "mywork@node1");
        assert_eq!(r.minted_by(), Some(node("node1")));
        assert!(r.created.is_some());
        // Same label again, by anyone, with any score: refused.
        for score in [Score::of(b"a"), Score::of(b"b")] {
            for who in [&alice, &user("bob")] {
                assert!(
                    matches!(names.mint("mywork", who, score), Err(Error::NameExists(n)) if n == "mywork@node1")
                );
            }
        }
        // Replication of the identical record is a no-op; a changed one is refused.
        assert!(!names.insert(r.clone()).unwrap());
        let mut changed = r.clone();
        changed.score = Score::of(b"other");
        assert!(matches!(names.insert(changed), Err(Error::NameExists(_))));
        assert_eq!(names.get(&r.name).unwrap(), Some(r));
        assert!(matches!(
            names.mint("no/slash", &alice, Score::of(b"a")),
            Err(Error::BadName { .. })
        ));
    });
}

#[test]
fn two_nodes_never_mint_the_same_name() {
    let a = ScoreNames::new(MemNames::new(), node("aaaa"));
    let b = ScoreNames::new(MemNames::new(), node("bbbb"));
    let alice = user("alice");
    let ra = a.mint("mywork", &alice, Score::of(b"1")).unwrap();
    let rb = b.mint("mywork", &alice, Score::of(b"2")).unwrap();
    assert_ne!(ra.name, rb.name);
    assert_eq!(a.merge(std::slice::from_ref(&rb)).unwrap(), 1);
    assert_eq!(b.merge(std::slice::from_ref(&ra)).unwrap(), 1);
    assert_eq!(a.all().unwrap(), b.all().unwrap());
}

#[test]
fn users_match_exactly_never_by_substring() {
    both("n", |make| {
        let names = make();
        let (bob, bobby, ob) = (user("bob"), user("bobby"), user("ob"));
        let hers = names.mint("bobbywork", &bobby, Score::of(b"x")).unwrap();
        names.mint("bobwork", &bob, Score::of(b"y")).unwrap();
        let mine: Vec<_> = names
            .owned_by(&bob)
            .unwrap()
            .into_iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(mine, ["bobwork@n"]);
        assert!(names.owned_by(&ob).unwrap().is_empty());
        assert!(matches!(
            names.resolve(&bob, &hers.name),
            Err(Error::NameNotFound(_))
        ));
        assert!(matches!(
            names.resolve(&ob, &hers.name),
            Err(Error::NameNotFound(_))
        ));
        assert_eq!(names.resolve(&bobby, &hers.name).unwrap(), hers);
        // Names match exactly too: a label prefix is not the name.
        assert!(matches!(
            names.resolve(&bobby, &Name::parse("bobbywork").unwrap()),
            Err(Error::NameNotFound(_))
        ));
        assert_eq!(names.all().unwrap().len(), 2);
    });
}

#[test]
fn invites_give_the_invitee_a_name_of_their_own() {
    both("n", |make| {
        let names = make();
        let (alice, bob) = (user("alice"), user("bob"));
        let src = names.mint("proj", &alice, Score::of(b"s")).unwrap();
        // Only the owner of the source can invite.
        assert!(matches!(
            names.invite(&bob, &src.name, &bob, "steal", Score::of(b"t")),
            Err(Error::NameNotFound(_))
        ));
        let inv = names
            .invite(&alice, &src.name, &bob, "proj.bob", Score::of(b"snap"))
            .unwrap();
        assert_eq!(inv.owner, bob);
        assert_eq!(
            inv.invite,
            Some(Invite {
                by: alice.clone(),
                from: src.name.clone()
            })
        );
        assert_eq!(names.shared_with(&bob).unwrap(), std::slice::from_ref(&inv));
        assert_eq!(names.owned_by(&bob).unwrap(), std::slice::from_ref(&inv));
        // The inviter does not see the invitee's snapshot, as in the original grid.
        assert!(names.shared_with(&alice).unwrap().is_empty());
        assert!(matches!(
            names.resolve(&alice, &inv.name),
            Err(Error::NameNotFound(_))
        ));
    });
}

#[test]
fn a_conflicting_merge_changes_nothing() {
    both("n", |make| {
        let names = make();
        let r = names.mint("x", &user("a"), Score::of(b"1")).unwrap();
        let mut evil = r.clone();
        evil.owner = user("mallory");
        let other = NameRecord {
            name: Name::parse("y@m").unwrap(),
            ..r.clone()
        };
        match names.merge(&[other.clone(), evil.clone()]) {
            Err(Error::NameConflict { ours, theirs }) => {
                assert_eq!(*ours, r);
                assert_eq!(*theirs, evil);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            names.all().unwrap(),
            std::slice::from_ref(&r),
            "the batch was all or nothing"
        );
        // Conflicts inside one batch are refused too.
        let mut other2 = other.clone();
        other2.created = Some(1);
        assert!(matches!(
            names.merge(&[other.clone(), other2]),
            Err(Error::NameConflict { .. })
        ));
        assert_eq!(names.merge(&[other.clone(), other.clone()]).unwrap(), 1);
    });
}

#[test]
fn redb_names_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    node("disk1").store(dir.path()).unwrap();
    let r = {
        let names = ScoreNames::open(dir.path()).unwrap();
        names.mint("keep", &user("alice"), Score::of(b"k")).unwrap()
    };
    let names = ScoreNames::open(dir.path()).unwrap();
    assert_eq!(names.get(&r.name).unwrap(), Some(r.clone()));
    assert_eq!(names.owned_by(&user("alice")).unwrap(), [r]);
    assert!(matches!(
        names.mint("keep", &user("alice"), Score::of(b"k")),
        Err(Error::NameExists(_))
    ));
}

#[test]
fn a_damaged_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("names.redb");
    std::fs::write(
        &path,
        b"this is not a redb file at all, not even close......",
    )
    .unwrap();
    assert!(matches!(
        RedbNames::open(&path),
        Err(Error::Database { .. })
    ));
}

/// One record per name, so subsets of it never conflict.
fn universe() -> impl Strategy<Value = Vec<NameRecord>> {
    prop::collection::vec(record(), 0..24).prop_map(|rs| {
        let by_name: BTreeMap<_, _> = rs.into_iter().map(|r| (r.name.clone(), r)).collect();
        by_name.into_values().collect()
    })
}

fn subsets() -> impl Strategy<Value = (Vec<NameRecord>, Vec<NameRecord>)> {
    universe()
        .prop_flat_map(|u| {
            let n = u.len();
            (Just(u), prop::collection::vec(any::<(bool, bool)>(), n))
        })
        .prop_map(|(u, picks)| {
            let a = u
                .iter()
                .zip(&picks)
                .filter(|(_, p)| p.0)
                .map(|(r, _)| r.clone())
                .collect();
            let b = u
                .iter()
                .zip(&picks)
                .filter(|(_, p)| p.1)
                .map(|(r, _)| r.clone())
                .collect();
            (a, b)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn merge_is_a_commutative_idempotent_union((a, b) in subsets()) {
        both("n", |make| {
            let ab = make();
            ab.merge(&a).unwrap();
            ab.merge(&b).unwrap();
            let ba = make();
            ba.merge(&b).unwrap();
            ba.merge(&a).unwrap();
            let mut union: Vec<_> = a.iter().chain(&b).cloned().collect();
            union.sort_by(|x, y| x.name.cmp(&y.name));
            union.dedup();
            assert_eq!(ab.all().unwrap(), union);
            assert_eq!(ba.all().unwrap(), union);
            assert_eq!(ab.merge(&a).unwrap(), 0);
            assert_eq!(ab.merge(&union).unwrap(), 0);
            assert_eq!(ab.all().unwrap(), union);
            for r in &union {
                let owned = ab.owned_by(&r.owner).unwrap();
                assert!(owned.iter().all(|o| o.owner == r.owner));
                assert_eq!(owned, union.iter().filter(|u| u.owner == r.owner).cloned().collect::<Vec<_>>());
            }
        });
    }
}

#[test]
fn a_spawngrid_file_imports_exports_and_merges() {
    let file = "scorename=clean.fraspasto rootscore=vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35 user=glenda

scorename=mywork.111 rootscore=vac:4a9c0000000000000000000000000000000000ff user=bobby

";
    both("n", |make| {
        let names = make();
        assert_eq!(names.import_ndb(file.as_bytes()).unwrap(), 2);
        // Importing the same file again (on this or any node) adds nothing.
        assert_eq!(names.import_ndb(file.as_bytes()).unwrap(), 0);
        let clean = Name::parse("clean.fraspasto").unwrap();
        assert_eq!(
            names.resolve(&user("glenda"), &clean).unwrap().minted_by(),
            None
        );
        assert!(names.owned_by(&user("bob")).unwrap().is_empty());
        let r = names
            .mint("next", &user("glenda"), Score::of(b"n"))
            .unwrap();
        let out = names.export_ndb().unwrap();
        assert!(out.starts_with(file.lines().next().unwrap()));
        let copy = make();
        assert_eq!(copy.import_ndb(out.as_bytes()).unwrap(), 3);
        assert_eq!(copy.all().unwrap(), names.all().unwrap());
        assert_eq!(copy.get(&r.name).unwrap(), Some(r));
        // A file that contradicts what we hold is refused whole.
        let bad = file.replace("user=bobby", "user=mallory");
        assert!(matches!(
            names.import_ndb(bad.as_bytes()),
            Err(Error::NameConflict { .. })
        ));
    });
}

#[test]
fn concurrent_mints_of_one_name_have_one_winner() {
    both("n", |make| {
        let names = Arc::new(make());
        let winners: Vec<_> = (0..8)
            .map(|i| {
                let names = names.clone();
                std::thread::spawn(move || {
                    names.mint("race", &user(&format!("u{i}")), Score::of(&[i]))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|r| r.is_ok())
            .collect();
        assert_eq!(winners.len(), 1);
        let winner = winners.into_iter().next().unwrap().unwrap();
        assert_eq!(names.all().unwrap(), [winner]);
    });
}

/// A log whose end the test moves.
struct TestLog(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);

impl NameLog for TestLog {
    fn end(&self) -> Option<LogPos> {
        Some(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
    fn learned(&self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn records_are_numbered_in_the_order_learned_at_the_log_end() {
    both("node1", |make| {
        let log = Arc::new(TestLog(5.into(), 0.into()));
        let names = make().with_log(log.clone()).unwrap();
        let alice = user("alice");
        names.mint("a", &alice, Score::of(b"a")).unwrap();
        log.0.store(9, std::sync::atomic::Ordering::SeqCst);
        let theirs = names_of("x@n2 y@n2");
        assert_eq!(names.merge(&theirs).unwrap(), 2);
        // Known records learn nothing and wake nobody.
        assert_eq!(names.merge(&theirs).unwrap(), 0);
        assert_eq!(log.1.load(std::sync::atomic::Ordering::SeqCst), 2);
        let learned = names.learned_since(0, 10).unwrap();
        let got: Vec<(u64, LogPos, &str)> = learned
            .iter()
            .map(|l| (l.seq, l.at, l.record.name.as_str()))
            .collect();
        assert_eq!(got, vec![(0, 5, "a@node1"), (1, 9, "x@n2"), (2, 9, "y@n2")]);
        let from_1: Vec<u64> = names
            .learned_since(1, 1)
            .unwrap()
            .iter()
            .map(|l| l.seq)
            .collect();
        assert_eq!(from_1, vec![1]);
        assert!(names.learned_since(3, 10).unwrap().is_empty());
    });
}

/// Records named by `names` (space-separated), owned by alice.
fn names_of(names: &str) -> Vec<NameRecord> {
    names
        .split(' ')
        .map(|n| NameRecord {
            name: Name::parse(n).unwrap(),
            score: Score::of(n.as_bytes()),
            owner: user("alice"),
            created: Some(1),
            invite: None,
        })
        .collect()
}

#[test]
fn names_stored_before_numbering_are_numbered_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("names.redb");
    {
        // As an earlier version left it: records without numbers.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("names"))
                .unwrap();
            for r in names_of("old@n1 older@n1") {
                t.insert(r.name.as_str(), r.encode().as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    // A tool minting while the node is stopped has no log: unnumbered too.
    ScoreNames::new(RedbNames::open(&path).unwrap(), node("n1"))
        .mint("offline", &user("alice"), Score::of(b"o"))
        .unwrap();
    let store = RedbNames::open(&path).unwrap();
    assert!(store.learned_since(0, 10).unwrap().is_empty());
    let names = ScoreNames::new(store, node("n1"))
        .with_log(Arc::new(TestLog(77.into(), 0.into())))
        .unwrap();
    let got: Vec<(u64, LogPos)> = names
        .learned_since(0, 10)
        .unwrap()
        .iter()
        .map(|l| (l.seq, l.at))
        .collect();
    assert_eq!(got, vec![(0, 77), (1, 77), (2, 77)]);
    names.merge(&names_of("new@n2")).unwrap();
    assert_eq!(
        names.learned_since(3, 10).unwrap()[0].record.name.as_str(),
        "new@n2"
    );
}
