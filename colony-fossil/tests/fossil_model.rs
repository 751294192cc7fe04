//! Model-based test: random operations on a `Fossil` and on a plain
//! in-memory tree must leave the same tree, live, after save + reopen,
//! and through unvac.

use std::collections::BTreeMap;
use std::sync::Arc;

use colony_fossil::Error;
use colony_fossil::fossil::{DMDIR, Fossil, FossilOptions, LocalKind, NodeId, SetMeta};
use colony_venti::{MemStore, Score};
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq)]
struct MFile {
    dir: bool,
    data: Vec<u8>,
    perm: u32,
    uid: String,
}

/// Path ("a/b") -> file; "" is the root.
type Model = BTreeMap<String, MFile>;

#[derive(Clone, Debug)]
enum Op {
    Create {
        parent: usize,
        name: u8,
        dir: bool,
    },
    Write {
        file: usize,
        offset: u64,
        len: usize,
        seed: u8,
    },
    Truncate {
        file: usize,
        len: u64,
    },
    Remove {
        node: usize,
    },
    Rename {
        node: usize,
        parent: usize,
        name: u8,
    },
    Wstat {
        node: usize,
        perm: u32,
        uid: u8,
    },
    Save,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..6, any::<bool>())
            .prop_map(|(parent, name, dir)| Op::Create { parent, name, dir }),
        4 => (any::<usize>(), 0u64..15000, 1usize..3000, any::<u8>())
            .prop_map(|(file, offset, len, seed)| Op::Write { file, offset, len, seed }),
        2 => (any::<usize>(), 0u64..16000).prop_map(|(file, len)| Op::Truncate { file, len }),
        2 => any::<usize>().prop_map(|node| Op::Remove { node }),
        2 => (any::<usize>(), any::<usize>(), 0u8..6)
            .prop_map(|(node, parent, name)| Op::Rename { node, parent, name }),
        1 => (any::<usize>(), 0u32..0o777, 0u8..3)
            .prop_map(|(node, perm, uid)| Op::Wstat { node, perm: perm | 0o700, uid }),
        1 => Just(Op::Save),
        1 => Just(Op::Reopen),
    ]
}

fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

fn pick(model: &Model, i: usize, want: impl Fn(&MFile) -> bool) -> Option<String> {
    let v: Vec<&String> = model
        .iter()
        .filter(|(_, f)| want(f))
        .map(|(p, _)| p)
        .collect();
    (!v.is_empty()).then(|| v[i % v.len()].clone())
}

fn walk(fs: &Fossil, path: &str) -> NodeId {
    let mut at = fs.root();
    for n in path.split('/').filter(|n| !n.is_empty()) {
        at = fs.lookup(at, n.as_bytes()).unwrap().qid.path;
    }
    at
}

/// The Fossil's tree as a model.
fn snapshot(fs: &Fossil) -> Model {
    fn visit(fs: &Fossil, id: NodeId, path: &str, out: &mut Model) {
        let mut kids = Vec::new();
        fs.readdir(id, 0, &mut |e| {
            kids.push(e.meta);
            true
        })
        .unwrap();
        for m in kids {
            let p = child(path, std::str::from_utf8(&m.name).unwrap());
            let dir = m.is_dir();
            let data = if dir {
                Vec::new()
            } else {
                fs.read(m.qid.path, 0, m.length as u32).unwrap()
            };
            assert_eq!(data.len() as u64, m.length);
            out.insert(
                p.clone(),
                MFile {
                    dir,
                    data,
                    perm: m.mode & 0o777,
                    uid: m.uid.clone(),
                },
            );
            if dir {
                visit(fs, m.qid.path, &p, out);
            }
        }
    }
    let mut out = Model::new();
    let r = fs.stat(fs.root()).unwrap();
    out.insert(
        String::new(),
        MFile {
            dir: true,
            data: Vec::new(),
            perm: r.mode & 0o777,
            uid: r.uid,
        },
    );
    visit(fs, fs.root(), "", &mut out);
    out
}

/// Small blocks (deep trees, many MetaBlocks) and a 16 KiB local store
/// (early flushes), in memory or, with `dir`, in a new file there; the
/// file-backed runs also read ahead across directories, so the model
/// checks both settings of `children_ahead`.
fn options(dir: Option<&tempfile::TempDir>) -> FossilOptions {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let local = match dir {
        Some(d) => {
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            LocalKind::File(d.path().join(format!("local{n}")))
        }
        None => LocalKind::Memory,
    };
    FossilOptions {
        block_size: 512,
        local_limit: 16 << 10,
        owner: "adm".into(),
        children_ahead: dir.is_some(),
        local,
    }
}

fn apply(fs: &Fossil, model: &mut Model, op: &Op) {
    match *op {
        Op::Create { parent, name, dir } => {
            let Some(p) = pick(model, parent, |f| f.dir) else {
                return;
            };
            let name = format!("n{name}");
            let path = child(&p, &name);
            let perm = if dir { DMDIR | 0o755 } else { 0o644 };
            let got = fs.create(walk(fs, &p), name.as_bytes(), perm, "u");
            match model.entry(path) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    assert!(matches!(got, Err(Error::Exists)), "{got:?}");
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    got.unwrap();
                    v.insert(MFile {
                        dir,
                        data: Vec::new(),
                        perm: perm & 0o777,
                        uid: "u".into(),
                    });
                }
            }
        }
        Op::Write {
            file,
            offset,
            len,
            seed,
        } => {
            let Some(p) = pick(model, file, |f| !f.dir) else {
                return;
            };
            let data: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8) | 1).collect();
            fs.write(walk(fs, &p), offset, &data, "w").unwrap();
            let f = model.get_mut(&p).unwrap();
            let end = offset as usize + len;
            if f.data.len() < end {
                f.data.resize(end, 0);
            }
            f.data[offset as usize..end].copy_from_slice(&data);
        }
        Op::Truncate { file, len } => {
            let Some(p) = pick(model, file, |f| !f.dir) else {
                return;
            };
            fs.truncate(walk(fs, &p), len, "t").unwrap();
            model.get_mut(&p).unwrap().data.resize(len as usize, 0);
        }
        Op::Remove { node } => {
            let Some(p) = pick(model, node, |_| true) else {
                return;
            };
            let got = fs.remove(walk(fs, &p));
            let prefix = format!("{p}/");
            if p.is_empty() {
                assert!(matches!(got, Err(Error::RemoveRoot)));
            } else if model.keys().any(|k| k.starts_with(&prefix)) {
                assert!(matches!(got, Err(Error::NotEmpty)), "{got:?}");
            } else {
                got.unwrap();
                model.remove(&p);
            }
        }
        Op::Rename { node, parent, name } => {
            let Some(p) = pick(model, node, |_| true) else {
                return;
            };
            let Some(np) = pick(model, parent, |f| f.dir) else {
                return;
            };
            let name = format!("n{name}");
            let to = child(&np, &name);
            let got = fs.rename(walk(fs, &p), walk(fs, &np), name.as_bytes(), "r");
            let prefix = format!("{p}/");
            if p.is_empty() {
                assert!(matches!(got, Err(Error::RemoveRoot)), "{got:?}");
            } else if np == p || np.starts_with(&prefix) {
                assert!(matches!(got, Err(Error::MoveIntoSelf)), "{got:?}");
            } else if to == p {
                got.unwrap();
            } else if model.contains_key(&to) {
                assert!(matches!(got, Err(Error::Exists)), "{got:?}");
            } else {
                got.unwrap();
                let moved: Vec<String> = model
                    .keys()
                    .filter(|k| **k == p || k.starts_with(&prefix))
                    .cloned()
                    .collect();
                for k in moved {
                    let f = model.remove(&k).unwrap();
                    model.insert(format!("{to}{}", &k[p.len()..]), f);
                }
                assert_eq!(parent_of(&to), np);
            }
        }
        Op::Wstat { node, perm, uid } => {
            let Some(p) = pick(model, node, |_| true) else {
                return;
            };
            let f = model.get_mut(&p).unwrap();
            let dirbit = if f.dir { DMDIR } else { 0 };
            let change = SetMeta {
                mode: Some(dirbit | perm),
                uid: Some(format!("user{uid}")),
                ..Default::default()
            };
            fs.wstat(walk(fs, &p), &change, "s").unwrap();
            f.perm = perm;
            f.uid = format!("user{uid}");
        }
        Op::Save | Op::Reopen => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fossil_matches_a_plain_tree(ops in prop::collection::vec(op(), 1..40), on_disk: bool) {
        let tmp = tempfile::tempdir().unwrap();
        let local = on_disk.then_some(&tmp);
        let store = MemStore::new();
        let mut fs = Fossil::create_empty(Arc::new(store.clone()), options(local)).unwrap();
        let mut model = snapshot(&fs);
        let mut last: Option<Score> = None;
        for op in &ops {
            match op {
                Op::Save => {
                    let s = fs.save().unwrap();
                    prop_assert_eq!(fs.save().unwrap(), s);
                    last = Some(s);
                }
                Op::Reopen => {
                    let s = fs.save().unwrap();
                    fs = Fossil::open(Arc::new(store.clone()), s, options(local)).unwrap();
                    prop_assert_eq!(&snapshot(&fs), &model);
                    last = Some(s);
                }
                _ => apply(&fs, &mut model, op),
            }
        }
        prop_assert_eq!(&snapshot(&fs), &model);
        let s = fs.save().unwrap();
        prop_assert!(last.is_none_or(|l| l == s || colony_fossil::archive::read_root(&store, &s).unwrap().prev == l));
        let again = Fossil::open(Arc::new(store.clone()), s, options(local)).unwrap();
        prop_assert_eq!(&snapshot(&again), &model);
        // unvac reads the saved archive the same way.
        let dest = tempfile::tempdir().unwrap();
        let x = colony_fossil::unvac::export(&store, &s, dest.path(),
            &colony_fossil::unvac::UnvacOptions { owners: false, times: false, ..Default::default() }, &mut |_| {}).unwrap();
        prop_assert!(x.errors.is_empty(), "{:?}", x.errors);
        for (p, f) in &model {
            if p.is_empty() { continue; }
            let on_disk = dest.path().join(p);
            if f.dir {
                prop_assert!(on_disk.is_dir(), "{}", p);
            } else {
                prop_assert_eq!(&std::fs::read(&on_disk).unwrap(), &f.data, "{}", p);
            }
        }
    }
}
