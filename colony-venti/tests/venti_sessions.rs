//! The sans-IO sessions in process: a `ClientSession` and a
//! `ServerSession` joined by memory, with simulated time.

use std::time::{Duration, Instant};

use colony_venti::proto::{
    ClientConfig, ClientEvent, ClientSession, Job, Message, ServerEvent, ServerLimits,
    ServerSession, ServerStats, Tread, Twrite, Version, encode_frame,
};
use colony_venti::{BlockStore, Error, MemStore, Score};

/// Both ends of one connection, the store behind the server, the clock,
/// and the server's jobs held back (a slow store) when `hold` is set.
struct Pair {
    client: ClientSession,
    server: ServerSession,
    store: MemStore,
    now: Instant,
    hold: bool,
    held: Vec<(u8, Job)>,
    /// The client's events, in order.
    events: Vec<ClientEvent>,
}

const SILENCE: Duration = Duration::from_secs(15);

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let peer = "127.0.0.1:17034".parse().unwrap();
        Pair {
            client: ClientSession::new(ClientConfig::default(), now),
            server: ServerSession::new(&ServerLimits::default(), ServerStats::default(), peer, now),
            store: MemStore::new(),
            now,
            hold: false,
            held: Vec::new(),
            events: Vec::new(),
        }
    }

    /// An open pair.
    fn open() -> Pair {
        let mut p = Pair::new();
        p.pump();
        assert!(
            matches!(p.events.as_slice(), [ClientEvent::Open(Version::V04)]),
            "{:?}",
            p.events
        );
        p.events.clear();
        p
    }

    /// Moves bytes both ways and runs jobs until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            let bytes = self.client.take_transmit();
            let mut rest = &bytes[..];
            while !rest.is_empty() && self.server.wants_input() {
                let spare = self.server.recv_buffer();
                let n = spare.len().min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                self.server.received(n);
                rest = &rest[n..];
                moved = true;
                self.server_events();
            }
            self.server_events();
            let out = self.server.transmit().to_vec();
            if !out.is_empty() {
                self.client.handle_input(&out, self.now);
                self.server.transmitted(out.len(), self.now);
                moved = true;
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    fn server_events(&mut self) {
        while let Some(ServerEvent::Job { tag, job }) = self.server.poll_event(self.now) {
            if self.hold {
                self.held.push((tag, job));
            } else {
                let reply = job.answer(&self.store);
                self.server.reply(tag, reply, self.now);
            }
        }
    }

    fn release(&mut self) {
        for (tag, job) in std::mem::take(&mut self.held) {
            let reply = job.answer(&self.store);
            self.server.reply(tag, reply, self.now);
        }
        self.pump();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.pump();
    }

    fn start(&mut self, msg: &Message) -> u8 {
        self.client.start(msg, self.now).unwrap().unwrap()
    }
}

fn twrite(data: &[u8]) -> Message {
    Message::Twrite(Twrite {
        ty: 13,
        pad: [0; 3],
        data: data.to_vec(),
    })
}

fn tread(score: Score) -> Message {
    Message::Tread(Tread::new(score, 13, 65535))
}

#[test]
fn hello_then_requests() {
    let mut p = Pair::open();
    assert_eq!(p.server.version(), Some(Version::V04));
    let w = p.start(&twrite(b"block"));
    p.pump();
    assert!(matches!(
        p.events.drain(..).as_slice(),
        [ClientEvent::Reply { tag: 0, msg: Message::Rwrite(r) }] if r.score == Score::of(b"block")
    ));
    let r = p.start(&tread(Score::of(b"block")));
    let s = p.start(&Message::Tsync);
    assert_eq!((w, r, s), (0, 0, 1), "lowest free tags, as libventi");
    p.pump();
    let got: Vec<(u8, Message)> = p
        .events
        .drain(..)
        .map(|e| match e {
            ClientEvent::Reply { tag, msg } => (tag, msg),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert!(matches!(&got[0], (0, Message::Rread(r)) if r.data == b"block"));
    assert_eq!(got[1], (1, Message::Rsync));
    assert_eq!(p.client.in_flight(), 0);
    assert_eq!(p.client.poll_timeout(), None, "idle: no timer");
}

#[test]
fn version_negotiation_follows_the_servers_line() {
    let now = Instant::now();
    let mut c = ClientSession::new(ClientConfig::default(), now);
    assert_eq!(c.take_transmit(), b"venti-04:02-libventi\n");
    c.handle_input(b"venti-02-sigil\n", now);
    // Thello in a 2-byte frame, version "02".
    let hello = c.take_transmit();
    let len = usize::from(u16::from_be_bytes([hello[0], hello[1]]));
    assert_eq!(len, hello.len() - 2);
    let (tag, msg) = Message::decode(&hello[2..]).unwrap();
    assert!(matches!(msg, Message::Thello(h) if h.version == "02" && tag == 0));
    let mut rhello = Vec::new();
    encode_frame(
        Version::V02,
        0,
        &Message::Rhello(colony_venti::proto::Rhello {
            sid: "x".into(),
            rcrypto: 0,
            rcodec: 0,
        }),
        &mut rhello,
    )
    .unwrap();
    c.handle_input(&rhello, now);
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Open(Version::V02))
    ));

    // No common version: the client fails with a version error.
    let mut c = ClientSession::new(ClientConfig::default(), now);
    c.handle_input(b"venti-05-x\n", now);
    assert!(matches!(
        c.poll_event(),
        Some(ClientEvent::Failed(e)) if matches!(*e, Error::Version(_))
    ));
    assert!(c.start(&Message::Tsync, now).is_err());
}

#[test]
fn all_256_tags_in_flight() {
    let mut p = Pair::open();
    p.hold = true;
    let blocks: Vec<Vec<u8>> = (0..256u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for b in &blocks {
        p.start(&twrite(b));
    }
    assert_eq!(p.client.start(&Message::Tsync, p.now).unwrap(), None);
    p.pump();
    assert_eq!(p.held.len(), 256, "the server took every request at once");
    p.release();
    assert_eq!(p.events.len(), 256);
    for e in p.events.drain(..) {
        let ClientEvent::Reply { tag, msg } = e else {
            panic!("{e:?}")
        };
        let want = Score::of(&blocks[usize::from(tag)]);
        assert!(matches!(msg, Message::Rwrite(r) if r.score == want));
    }
    assert_eq!(p.store.len(), 256);
    assert_eq!(p.client.start(&Message::Tsync, p.now).unwrap(), Some(0));
}

#[test]
fn a_silent_server_is_probed_then_given_up() {
    let mut p = Pair::open();
    p.start(&tread(Score::of(b"x")));
    // The request is sent, but nothing comes back.
    let _ = p.client.take_transmit();
    assert_eq!(p.client.poll_timeout(), Some(p.now + SILENCE));
    p.now += SILENCE;
    p.client.handle_timeout(p.now);
    let probe = p.client.take_transmit();
    assert!(matches!(
        Message::decode(&probe[4..]).unwrap(),
        (1, Message::Tping)
    ));
    assert!(!p.client.is_failed());
    p.now += SILENCE - Duration::from_millis(1);
    p.client.handle_timeout(p.now);
    assert!(!p.client.is_failed());
    p.now += Duration::from_millis(1);
    p.client.handle_timeout(p.now);
    assert!(matches!(
        p.client.poll_event(),
        Some(ClientEvent::Failed(e)) if matches!(*e, Error::Silent(d) if d == 2 * SILENCE)
    ));
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn a_slow_but_live_server_answers_the_probe_and_is_kept() {
    let mut p = Pair::open();
    p.hold = true;
    p.start(&twrite(b"slow"));
    p.pump();
    for _ in 0..5 {
        p.advance(SILENCE);
    }
    assert!(!p.client.is_failed(), "{:?}", p.events);
    assert!(p.events.is_empty(), "probes are not reported");
    p.release();
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::Reply {
            tag: 0,
            msg: Message::Rwrite(_)
        }]
    ));
}

#[test]
fn the_handshake_is_timed_on_both_sides() {
    let mut p = Pair::new();
    let limit = ServerLimits::default().handshake_timeout;
    assert_eq!(p.server.poll_timeout(), Some(p.now + limit));
    // Nothing moves: the client never gets the server's line.
    p.now += limit;
    p.server.handle_timeout(p.now);
    assert!(p.server.is_finished());
    p.now += ClientConfig::default().handshake_timeout;
    p.client.handle_timeout(p.now);
    assert!(matches!(
        p.client.poll_event(),
        Some(ClientEvent::Failed(e)) if matches!(*e, Error::Silent(_))
    ));
}

#[test]
fn malformed_input() {
    // To the client: a reply for a tag not in flight, then a bad frame.
    let mut p = Pair::open();
    let mut bad = Vec::new();
    encode_frame(Version::V04, 9, &Message::Rsync, &mut bad).unwrap();
    p.client.handle_input(&bad, p.now);
    assert!(matches!(
        p.client.poll_event(),
        Some(ClientEvent::Failed(e)) if matches!(*e, Error::UnknownTag(9))
    ));
    let mut p = Pair::open();
    p.client.handle_input(&[0, 0, 0, 2, 99, 0], p.now);
    assert!(matches!(
        p.client.poll_event(),
        Some(ClientEvent::Failed(e)) if matches!(*e, Error::Malformed(_))
    ));

    // To the server: an unknown type gets Rerror and the session goes on.
    let mut p = Pair::open();
    let tag = p.start(&Message::Tping);
    let _ = p.client.take_transmit();
    p.server.recv_buffer()[..6].copy_from_slice(&[0, 0, 0, 2, 99, tag]);
    p.server.received(6);
    p.pump();
    assert!(matches!(
        p.events.as_slice(),
        [ClientEvent::Reply { tag: 0, msg: Message::Rerror(e) }] if e.error.contains("unknown message type 99")
    ));
    assert!(p.server.wants_input());
    // A frame past the limit ends input; the session then finishes.
    let huge = (1u32 << 20).to_be_bytes();
    p.server.recv_buffer()[..4].copy_from_slice(&huge);
    p.server.received(4);
    assert!(p.server.poll_event(p.now).is_none());
    assert!(!p.server.wants_input());
    assert!(p.server.is_finished());
}

#[test]
fn the_server_bounds_replies_in_flight_and_times_writes() {
    let now = Instant::now();
    let limits = ServerLimits {
        max_reply_bytes: 100_000,
        ..ServerLimits::default()
    };
    let peer = "127.0.0.1:1".parse().unwrap();
    let mut p = Pair::open();
    p.server = ServerSession::new(&limits, ServerStats::default(), peer, now);
    p.client = ClientSession::new(ClientConfig::default(), now);
    p.pump();
    p.events.clear();
    let score = p
        .store
        .write(colony_venti::BlockType::DATA, &[7; 50_000])
        .unwrap();
    for _ in 0..3 {
        p.start(&tread(score));
    }
    // Move the requests but send no reply bytes to the client.
    let bytes = p.client.take_transmit();
    p.server.recv_buffer()[..bytes.len()].copy_from_slice(&bytes);
    p.server.received(bytes.len());
    let mut jobs = 0;
    while let Some(ServerEvent::Job { tag, job }) = p.server.poll_event(p.now) {
        let reply = job.answer(&p.store);
        p.server.reply(tag, reply, p.now);
        jobs += 1;
    }
    // A maximal read reserves 64 KiB of reply: one fits, the next waits.
    assert_eq!(jobs, 1);
    assert!(!p.server.wants_input(), "held at the bound");
    let stall = p.server.poll_timeout().unwrap();
    assert_eq!(stall, p.now + limits.write_timeout);
    p.server.handle_timeout(stall);
    assert!(
        p.server.is_finished(),
        "a client that reads nothing is dropped"
    );
}
