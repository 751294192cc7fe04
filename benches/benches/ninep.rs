//! 9P: codec speed, and read throughput of the server over loopback TCP
//! (one client, one outstanding 8 KiB-msize Tread at a time, as `9p read`
//! does), serving a MemFs and a live Fossil.
use std::hint::black_box;
use std::sync::Arc;

use colony_benches::random_block;
use colony_fossil::Fossil;
use colony_fossil::fossil::FossilOptions;
use colony_ns::ninep::{
    Fcall, Message, NOFID, OREAD, Rread, Tattach, Topen, Tread, Tversion, Twalk,
};
use colony_ns::{FileSystem, FossilFs, ListenAddr, MemFs, Server, ServerConfig};
use colony_venti::MemStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn codec(c: &mut Criterion) {
    let frame = Fcall::new(
        1,
        Rread {
            data: random_block(1, 8168),
        },
    )
    .encode()
    .unwrap();
    let mut g = c.benchmark_group("ninep_codec");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("decode_rread_8k", |b| {
        b.iter(|| Fcall::decode(black_box(&frame)).unwrap())
    });
    let fcall = Fcall::decode(&frame).unwrap();
    g.bench_function("encode_rread_8k", |b| {
        b.iter(|| black_box(&fcall).encode().unwrap())
    });
    g.finish();
}

async fn rpc(s: &mut TcpStream, tag: u16, msg: impl Into<Message>) -> Message {
    s.write_all(&Fcall::new(tag, msg).encode().unwrap())
        .await
        .unwrap();
    let frame = colony_ns::ninep::read_frame(s, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    Fcall::decode(&frame).unwrap().msg
}

const SIZE: usize = 4 << 20;

/// A MemFs holding `/big`, 4 MiB.
fn memfs() -> Arc<dyn FileSystem> {
    let fs = MemFs::with_root("bench", "bench", 0o777);
    let f = fs.create(0, b"big", 0o644, "bench").unwrap();
    fs.write(f.node(), 0, &random_block(2, SIZE), "bench")
        .unwrap();
    Arc::new(fs)
}

/// A Fossil holding `/big`, saved to a MemStore and reopened, so reads
/// load its blocks from the store (then from the fossil's cache).
fn fossil() -> Arc<dyn FileSystem> {
    let store = Arc::new(MemStore::new());
    let options = FossilOptions {
        owner: "bench".into(),
        ..FossilOptions::default()
    };
    let new = Fossil::create_empty(store.clone(), options.clone()).unwrap();
    let f = new.create(new.root(), b"big", 0o644, "bench").unwrap();
    new.write(f.qid.path, 0, &random_block(2, SIZE), "bench")
        .unwrap();
    let score = new.save().unwrap();
    let fossil = Fossil::open(store, score, options).unwrap();
    Arc::new(FossilFs::new(Arc::new(fossil)))
}

fn server_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("ninep_server");
    g.throughput(Throughput::Bytes(SIZE as u64));
    read_big(&mut g, "read_4MiB_tcp_msize8192", memfs());
    read_big(&mut g, "fossil_read_4MiB_tcp_msize8192", fossil());
    g.finish();
}

/// Reads `/big` of `fs` through the server, one 8 KiB Tread at a time.
fn read_big(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    fs: Arc<dyn FileSystem>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Server::new(fs, ServerConfig::default());
    let handle = rt.block_on(server.bind_tcp("127.0.0.1:0")).unwrap();
    let ListenAddr::Tcp(addr) = *handle.local_addr() else {
        unreachable!()
    };
    let mut s = rt.block_on(async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        rpc(
            &mut s,
            0xffff,
            Tversion {
                msize: 8192,
                version: "9P2000".into(),
            },
        )
        .await;
        rpc(
            &mut s,
            0,
            Tattach {
                fid: 0,
                afid: NOFID,
                uname: "bench".into(),
                aname: String::new(),
            },
        )
        .await;
        rpc(
            &mut s,
            0,
            Twalk {
                fid: 0,
                newfid: 1,
                wnames: vec!["big".into()],
            },
        )
        .await;
        rpc(
            &mut s,
            0,
            Topen {
                fid: 1,
                mode: OREAD,
            },
        )
        .await;
        s
    });
    g.bench_function(name, |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut off = 0u64;
                let mut head = [0u8; 4];
                while off < SIZE as u64 {
                    let t = Fcall::new(
                        1,
                        Tread {
                            fid: 1,
                            offset: off,
                            count: 8168,
                        },
                    )
                    .encode()
                    .unwrap();
                    s.write_all(&t).await.unwrap();
                    s.read_exact(&mut head).await.unwrap();
                    let mut rest = vec![0u8; u32::from_le_bytes(head) as usize - 4];
                    s.read_exact(&mut rest).await.unwrap();
                    off += u64::from(u32::from_le_bytes(rest[3..7].try_into().unwrap()));
                }
            })
        })
    });
    drop(s);
    rt.block_on(handle.shutdown()).unwrap();
}

criterion_group!(benches, codec, server_read);
criterion_main!(benches);
