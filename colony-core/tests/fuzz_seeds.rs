//! The fuzz seed corpus (`fuzz/corpus/TARGET/`) is what this file cuts
//! from the plan9port recordings in `testdata/` and from real encoder
//! output, and every fuzz target has one.
//!
//! After changing a recording or an encoder, write the corpus anew with
//! `COLONY_WRITE_SEEDS=1 cargo test -p colony-core --test fuzz_seeds`.
//! The replay of each crate's corpus through its fuzz properties is in
//! that crate's `tests/fuzz_corpus.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use colony_core::Limits;
use colony_core::colony::EnvInfo;
use colony_core::identity::revocations::Revoked;
use colony_core::names::{Invite, ndb_io};
use colony_core::replication::revoked::WireRevoked;
use colony_core::replication::wire::{
    self, Bytes, MAX_PEER_REQUEST, MAX_PEER_RESPONSE, PeerRequest, PeerResponse, wire_block,
};
use colony_core::rpc::{NameInfo, Request, Response};
use colony_core::{Name, NameRecord, NodeId, UserName};
use colony_fossil::entry::ENTRY_SIZE;
use colony_fossil::testdata::{TINY_CTIME, hostile_archive, testdata, twrites};
use colony_fossil::{MetaBlock, Root};
use colony_ns::cpu::{ClientFrame, ServerFrame};
use colony_ns::fs::{RenameMode, XattrMode};
use colony_ns::ninep::linux::{LinuxOp, LinuxReply};
use colony_ns::ninep::{Fcall, Rlinux, Tlinux};
use colony_ns::session::{CommandSpec, ExitStatus, WindowSize};
use colony_venti::arena::bucket::Bucket;
use colony_venti::arena::clump::ClumpHeader;
use colony_venti::arena::head::{ArenaHead, ArenaTrailer};
use colony_venti::arena::saved_bloom;
use colony_venti::{ArenaConfig, ArenaStore, BlockStore, BlockType, MemStore, Score};

/// Seeds of one target: file name -> bytes.
type Seeds = BTreeMap<String, Vec<u8>>;

/// A memory store that also keeps every block written, in order, so an
/// archive made by an encoder becomes a `fossil_live` seed.
#[derive(Default)]
struct Recorder {
    store: MemStore,
    blocks: std::sync::Mutex<Vec<(BlockType, Vec<u8>)>>,
}

impl BlockStore for Recorder {
    fn read(&self, score: &Score, ty: BlockType) -> colony_venti::Result<Vec<u8>> {
        self.store.read(score, ty)
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> colony_venti::Result<Score> {
        let score = self.store.write(ty, data)?;
        self.blocks.lock().unwrap().push((ty, data.to_vec()));
        Ok(score)
    }

    fn has(&self, score: &Score, ty: BlockType) -> colony_venti::Result<bool> {
        self.store.has(score, ty)
    }

    fn sync(&self) -> colony_venti::Result<()> {
        self.store.sync()
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn read(rel: &str) -> Vec<u8> {
    let path = testdata().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded sessions of `folder` as (stem, bytes) for files ending in
/// `suffix`.
fn recordings(folder: &str, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(testdata().join(folder))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .map(|n| (n.clone(), read(&format!("{folder}/{n}"))))
        .collect();
    out.sort();
    out
}

/// Every block of the recorded archives (tiny vac, then the golden one).
fn recorded_blocks() -> Vec<(BlockType, Vec<u8>)> {
    let mut blocks = twrites("tiny-vac/tiny-vac.c2s");
    let golden = String::from_utf8(read("golden/golden-archive-blocks.txt")).unwrap();
    let mut lines = golden.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("### ") {
            let ty: u8 = rest
                .split("wire type ")
                .nth(1)
                .and_then(|t| t.split(',').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("golden header {line:?}"));
            let data = hex::decode(lines.next().expect("hex line")).expect("hex");
            blocks.push((BlockType::from_wire(ty).unwrap(), data));
        }
    }
    blocks
}

fn score_text() -> Seeds {
    let tsv = String::from_utf8(read("tiny-vac/tiny-vac.blocks.tsv")).unwrap();
    let mut seeds = Seeds::new();
    for (i, line) in tsv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .take(4)
        .enumerate()
    {
        let score = line.split('\t').next().unwrap();
        seeds.insert(format!("score-{i}"), score.as_bytes().to_vec());
    }
    seeds.insert("vac-line".into(), read("tiny-vac/tiny.vac"));
    seeds
}

/// Whole recorded venti streams (mode byte: version 04 or 02, a leading
/// version line, 64-byte chunks) and each message body of the
/// single-block sessions.
fn venti_message() -> Seeds {
    let mut seeds = Seeds::new();
    for folder in ["venti-sessions", "tiny-vac"] {
        for suffix in [".c2s", ".s2c"] {
            for (name, raw) in recordings(folder, suffix) {
                // The client's version line picks both directions' framing.
                let stem = name.strip_suffix(suffix).unwrap();
                let offer = read(&format!("{folder}/{stem}.c2s"));
                let v04 = u8::from(offer.starts_with(b"venti-04"));
                let mut stream = vec![v04 | 2 | (63 << 2)];
                stream.extend_from_slice(&raw);
                seeds.insert(format!("stream-{name}"), stream);
                if folder == "venti-sessions" && v04 == 1 {
                    let line = raw.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
                    for (i, body) in frames(&raw[line..], 4, false).into_iter().enumerate() {
                        let mut seed = vec![1];
                        seed.extend_from_slice(body);
                        seeds.insert(format!("body-{name}-{i}"), seed);
                    }
                }
            }
        }
    }
    seeds
}

/// Splits length-prefixed frames: big-endian `len[width]` counting what
/// follows (venti), or little-endian `size[4]` counting itself (9P, with
/// `counts_itself`); returns the bodies (venti) or whole frames (9P).
fn frames(mut raw: &[u8], width: usize, counts_itself: bool) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while raw.len() >= width {
        if counts_itself {
            let size = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize;
            out.push(&raw[..size]);
            raw = &raw[size..];
        } else {
            let len = raw[..width]
                .iter()
                .fold(0usize, |n, &b| n << 8 | usize::from(b));
            out.push(&raw[width..width + len]);
            raw = &raw[width + len..];
        }
    }
    out
}

/// Every distinct 9P frame of the recorded sessions, and the stat records
/// of every directory read (an Rread's data).
fn ninep_message() -> Seeds {
    let mut seeds = Seeds::new();
    for suffix in [".c2s", ".s2c"] {
        for (name, raw) in recordings("9p-sessions", suffix) {
            for (i, frame) in frames(&raw, 4, true).into_iter().enumerate() {
                if seeds.values().any(|s| s == frame) {
                    continue;
                }
                seeds.insert(format!("{name}-{i}"), frame.to_vec());
                // Rread: size[4] type[1]=117 tag[2] count[4] data.
                if frame[4] == 117 && name.starts_with("9p-ls") && frame.len() > 11 {
                    seeds.insert(format!("{name}-{i}-dir"), frame[11..].to_vec());
                }
            }
        }
    }
    // 9P2000.colony: Tlinux and Rlinux frames, and their payloads alone.
    let ops = [
        LinuxOp::Stat,
        LinuxOp::Unlink { name: b"tmp_obj" },
        LinuxOp::Rename {
            name: b"config.lock",
            dir: 3,
            to: b"config",
            mode: RenameMode::Replace,
        },
        LinuxOp::Setxattr {
            name: b"user.x",
            value: b"1",
            mode: XattrMode::Create,
        },
    ];
    for (i, op) in ops.iter().enumerate() {
        let op = op.encode().unwrap();
        let frame = Fcall::new(
            1,
            Tlinux {
                fid: 5,
                op: op.clone(),
            },
        );
        seeds.insert(format!("tlinux-{i}"), frame.encode().unwrap());
        seeds.insert(format!("linux-op-{i}"), op);
    }
    let meta = colony_ns::Meta {
        name: b"note".to_vec(),
        uid: "alice".into(),
        gid: "alice".into(),
        uid_number: Some(4242),
        nlink: 2,
        ..colony_ns::Meta::default()
    };
    let replies = [
        LinuxReply::Meta(meta.clone()),
        LinuxReply::Entries {
            entries: vec![(meta, 7)],
            end: true,
        },
        LinuxReply::Names(vec![b"user.x".to_vec()]),
    ];
    for (i, reply) in replies.iter().enumerate() {
        let reply = reply.encode().unwrap();
        let frame = Fcall::new(
            1,
            Rlinux {
                reply: reply.clone(),
            },
        );
        seeds.insert(format!("rlinux-{i}"), frame.encode().unwrap());
        seeds.insert(format!("linux-reply-{i}"), reply);
    }
    seeds
}

fn fossil_seeds() -> [(&'static str, Seeds); 5] {
    let blocks = recorded_blocks();
    let (mut roots, mut entries, mut metas, mut dir_entries) =
        (Seeds::new(), Seeds::new(), Seeds::new(), Seeds::new());
    for (i, (ty, data)) in blocks.iter().enumerate() {
        if *ty == BlockType::ROOT && Root::decode(data).is_ok() {
            roots.insert(format!("root-{i}"), data.clone());
        } else if *ty == BlockType::DIR {
            for (j, e) in data.chunks_exact(ENTRY_SIZE).enumerate().take(3) {
                entries.insert(format!("block-{i}-entry-{j}"), e.to_vec());
            }
        } else if let Ok(mb) = MetaBlock::decode(data) {
            metas.insert(format!("block-{i}"), data.clone());
            for (j, de) in mb.entries().unwrap().iter().enumerate() {
                dir_entries.insert(format!("block-{i}-entry-{j}"), de.encode().unwrap());
            }
        }
    }
    // fossil_live: every block as type[1] len[2] data, the root last.
    let mut live = Seeds::new();
    let (tiny, golden) = blocks.split_at(twrites("tiny-vac/tiny-vac.c2s").len());
    // An archive whose directory /d holds an entry named `..` (issue 12).
    let hostile = Recorder::default();
    hostile_archive(&hostile, b"..", true);
    let hostile = hostile.blocks.into_inner().unwrap();
    for (name, archive) in [
        ("tiny-vac", tiny),
        ("golden", golden),
        ("hostile-name", &hostile[..]),
    ] {
        let mut seed = Vec::new();
        for (ty, data) in archive {
            seed.push(ty.wire());
            seed.extend_from_slice(&(data.len() as u16).to_be_bytes());
            seed.extend_from_slice(data);
        }
        live.insert(name.into(), seed);
    }
    [
        ("fossil_root", roots),
        ("fossil_entry", entries),
        ("fossil_meta_block", metas),
        ("fossil_dir_entry", dir_entries),
        ("fossil_live", live),
    ]
}

/// Records cut from a real arena store holding the recorded blocks and
/// enough noise to seal its first arena: the arena head, the first clumps,
/// the trailer, the index header and a bucket page, the saved bloom filter.
fn arena_records() -> Seeds {
    let dir = tempfile::tempdir().unwrap();
    let config = ArenaConfig {
        arena_size: 64 << 10,
        index_bits: 1,
        flush_entries: 64,
        write_buffer: 0,
        sync_ahead: 0,
    };
    let store = ArenaStore::open(dir.path(), config.clone()).unwrap();
    for (ty, data) in twrites("tiny-vac/tiny-vac.c2s") {
        store.write(ty, &data).unwrap();
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..10 {
        let noise: Vec<u8> = (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        store.write(BlockType::DATA, &noise).unwrap();
    }
    store.sync().unwrap();
    drop(store);
    let arena = std::fs::read(dir.path().join("arena.00000000")).unwrap();
    assert!(
        dir.path().join("arena.00000001").exists(),
        "the first arena is sealed"
    );
    // The head records when the arena was made, the trailer and the
    // saved bloom state a CRC over the head: fix both so the seeds do not
    // change from run to run.
    let mut seeds = Seeds::new();
    let head = ArenaHead {
        created: TINY_CTIME.into(),
        ..ArenaHead::decode(&arena).unwrap()
    };
    seeds.insert("arena-head".into(), head.encode().to_vec());
    let mut at = 512;
    for i in 0..3 {
        let h = ClumpHeader::decode(&arena[at..]).unwrap();
        let end = at + ClumpHeader::SIZE + usize::from(h.size);
        seeds.insert(format!("clump-{i}"), arena[at..end].to_vec());
        at = end;
    }
    let size = config.arena_size as usize;
    let trailer = ArenaTrailer {
        arena_crc: 0,
        ..ArenaTrailer::decode(&arena[size - 64..]).unwrap()
    };
    seeds.insert("arena-trailer".into(), trailer.encode().to_vec());
    let index = std::fs::read(dir.path().join("index")).unwrap();
    seeds.insert("index-header".into(), trim_zeros(&index[..4096]));
    // Entries reach a bucket in hash-table order: sort them.
    let mut bucket = Bucket::decode(&index[4096..8192]).unwrap();
    bucket.entries.sort_by_key(|e| e.score);
    seeds.insert("index-bucket".into(), trim_zeros(&bucket.encode()));
    let (mut state, bloom) =
        saved_bloom::decode(&std::fs::read(dir.path().join("bloom")).unwrap()).unwrap();
    if let Some((crc, _)) = &mut state.active {
        *crc = 0;
    }
    seeds.insert("bloom".into(), saved_bloom::encode(&state, &bloom));
    seeds
}

fn trim_zeros(b: &[u8]) -> Vec<u8> {
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    b[..end].to_vec()
}

fn cpu_frame() -> Seeds {
    let size = WindowSize { rows: 24, cols: 80 };
    let client = [
        ClientFrame::Run(CommandSpec::new(["sh", "-c", "echo hi"])),
        ClientFrame::Shell {
            term: "xterm".into(),
            size,
            command: None,
        },
        ClientFrame::Stdin(b"ls -l\n".to_vec()),
        ClientFrame::StdinEof,
        ClientFrame::Resize(size),
        ClientFrame::Signal(2),
    ];
    let server = [
        ServerFrame::Started,
        ServerFrame::Stdout(b"hello\n".to_vec()),
        ServerFrame::Stderr(b"sh: x: not found\n".to_vec()),
        ServerFrame::Exit(ExitStatus::Code(1)),
        ServerFrame::Exit(ExitStatus::Signal(9)),
        ServerFrame::Error("not the owner".into()),
    ];
    let mut seeds = Seeds::new();
    // The property decodes bodies; the prefix is the frame reader's.
    for (i, f) in client.iter().enumerate() {
        seeds.insert(format!("client-{i}"), f.encode().unwrap()[4..].to_vec());
    }
    for (i, f) in server.iter().enumerate() {
        seeds.insert(format!("server-{i}"), f.encode().unwrap()[4..].to_vec());
    }
    seeds.insert("client-framed".into(), client[0].encode().unwrap());
    seeds
}

fn grid_rpc() -> Seeds {
    let lines = [
        "scores",
        "spawn clean.n1",
        "save clean.n1 mywork",
        "invite bob mywork.n1",
        "boom clean.n1",
        "status",
    ];
    let mut seeds = Seeds::new();
    for (i, line) in lines.iter().enumerate() {
        seeds.insert(format!("line-{i}"), line.as_bytes().to_vec());
        let request = Request::parse(line).unwrap();
        seeds.insert(format!("request-{i}"), request.encode().unwrap());
    }
    let name = NameInfo {
        name: "mywork.n1".into(),
        created: Some(1_795_308_306),
        invited_by: Some("alice".into()),
    };
    let env = EnvInfo {
        name: "clean.n1".into(),
        owner: "alice".into(),
        cpu_addr: "127.0.0.1:17100".into(),
        disk: false,
        local_bytes: 4096,
        started: 1_795_308_306,
        attach: EnvInfo::attach_command("clean.n1"),
    };
    let responses = [
        Response::Names(vec![name.clone()]),
        Response::Spawned(env.clone()),
        Response::Saved(name.clone()),
        Response::Invited {
            user: "bob".into(),
            name,
        },
        Response::Status {
            user: "alice".into(),
            envs: vec![env],
        },
        Response::Boomed("clean.n1".into()),
        Response::Error("scorename hello@n1 not found".into()),
    ];
    for (i, r) in responses.iter().enumerate() {
        seeds.insert(format!("response-{i}"), r.encode().unwrap());
    }
    seeds
}

fn peer_wire() -> Seeds {
    let score = Score::of(b"hello");
    let record = |invite: Option<Invite>| NameRecord {
        name: Name::parse("mywork.n1").unwrap(),
        score,
        owner: UserName::new("alice").unwrap(),
        created: Some(1_795_308_306),
        invite,
    };
    let invited = Invite {
        by: UserName::new("bob").unwrap(),
        from: Name::parse("clean.n2").unwrap(),
    };
    let requests = [
        PeerRequest::Log {
            log: 0,
            names: 0,
            max: wire::MAX_ENTRIES,
            wait_ms: 5000,
            revoked: 0,
        },
        PeerRequest::Blocks(vec![
            wire_block(&score, BlockType::DATA),
            wire_block(&score, BlockType::DIR),
        ]),
    ];
    let responses = [
        PeerResponse::Log {
            entries: vec![(wire_block(&score, BlockType::DATA), 5)],
            next: 8192 + 43,
            end: 8192 + 43,
            names: vec![
                Bytes(record(None).encode()),
                Bytes(record(Some(invited)).encode()),
            ],
            next_names: 2,
            revoked: None,
        },
        PeerResponse::Log {
            entries: vec![],
            next: 8192 + 43,
            end: 8192 + 43,
            names: vec![],
            next_names: 2,
            revoked: Some(WireRevoked::of(&Revoked {
                users: [UserName::new("bob").unwrap()].into(),
                nodes: [NodeId::new("n3").unwrap()].into(),
            })),
        },
        PeerResponse::Blocks(vec![Bytes(b"hello".to_vec())]),
        PeerResponse::Error("not a node of this grid".into()),
    ];
    let mut seeds = Seeds::new();
    // The property decodes bodies; the length prefix is the frame reader's.
    for (i, r) in requests.iter().enumerate() {
        let frame = wire::encode(r, MAX_PEER_REQUEST).unwrap();
        seeds.insert(format!("request-{i}"), frame[4..].to_vec());
    }
    for (i, r) in responses.iter().enumerate() {
        let frame = wire::encode(r, MAX_PEER_RESPONSE).unwrap();
        seeds.insert(format!("response-{i}"), frame[4..].to_vec());
    }
    seeds
}

fn ndb_records() -> Seeds {
    let names = b"scorename=clean.fraspasto rootscore=vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35 user=glenda\n\nscorename=mywork.211 rootscore=vac:0000000000000000000000000000000000000001 user=rabbit\n\n";
    let records = ndb_io::import(names).unwrap();
    let mut seeds = Seeds::new();
    seeds.insert("scorenames".into(), ndb_io::export(&records).into_bytes());
    seeds.insert(
        "generic".into(),
        b"sys=helix ip=10.0.0.2\n\tdom=helix.example\n# comment\nsys=x\n".to_vec(),
    );
    seeds.insert("limits".into(), Limits::default().encode().into_bytes());
    seeds
}

fn id_table() -> Seeds {
    let mut seeds = Seeds::new();
    seeds.insert(
        "passwd".into(),
        b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nglenda:x:1000:1000::/home/glenda:/bin/rc\n".to_vec(),
    );
    seeds.insert(
        "group".into(),
        b"root:x:0:\nsys:x:3:glenda\nnogroup:x:65534:\nglenda:x:1000:\n".to_vec(),
    );
    seeds
}

/// Every target's seeds, by target name.
fn all_seeds() -> BTreeMap<String, Seeds> {
    let mut all = BTreeMap::new();
    for (target, seeds) in [
        ("score_text", score_text()),
        ("venti_message", venti_message()),
        ("arena_records", arena_records()),
        ("ninep_message", ninep_message()),
        ("cpu_frame", cpu_frame()),
        ("id_table", id_table()),
        ("grid_rpc", grid_rpc()),
        ("peer_wire", peer_wire()),
        ("ndb_records", ndb_records()),
    ]
    .into_iter()
    .chain(fossil_seeds())
    {
        assert!(!seeds.is_empty(), "no seeds for {target}");
        all.insert(target.to_string(), seeds);
    }
    all
}

/// The fuzz targets, from `fuzz/fuzz_targets/*.rs`.
fn targets() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .collect();
    names.sort();
    names
}

fn committed(dir: &Path) -> Seeds {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Seeds::new();
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_fuzz_target_has_its_committed_seeds() {
    let all = all_seeds();
    assert_eq!(
        all.keys().cloned().collect::<Vec<_>>(),
        targets(),
        "one seed set per fuzz target"
    );
    let write = std::env::var_os("COLONY_WRITE_SEEDS").is_some();
    for (target, seeds) in &all {
        let dir = fuzz_dir().join("corpus").join(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        assert!(
            committed(&dir) == *seeds,
            "fuzz/corpus/{target} is not what this test cuts: \
             COLONY_WRITE_SEEDS=1 cargo test -p colony-core --test fuzz_seeds"
        );
    }
}
