//! `VentiClient`: a [`BlockStore`] on a remote venti server.
//!
//! Built on std threads and sockets, so it works from plain threads and
//! from `spawn_blocking` inside a tokio runtime alike. Callers write
//! frames themselves (under a lock); one reader thread routes each reply
//! by tag to the caller waiting for it. Any number of threads may have
//! requests in flight (256 tags in all), and [`VentiClient::write_many`] /
//! [`BlockStore::read_many`] keep many in flight for a single caller.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{debug, warn};

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::proto::frame::{FrameBuffer, FrameWriter, encode_frame};
use crate::proto::message::{Message, Thello, Tread, Twrite, kind};
use crate::proto::tags::TagSet;
use crate::proto::version::{VERSION_LINE, Version};
use crate::score::Score;
use crate::store::{BlockStore, check_block_size};

/// The count our reads ask for: venti/read's, the most a 2-byte count
/// holds (and so valid in `02`).
pub const READ_COUNT: u32 = u16::MAX as u32;

/// How long the version exchange and hello may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes a batch encodes before it writes them to the socket: few
/// syscalls, yet the server gets work early.
const BATCH_BYTES: usize = 64 * 1024;

/// A connection to a venti server.
///
/// ```no_run
/// use colony_venti::{BlockStore, BlockType, proto::VentiClient};
/// let venti = VentiClient::connect("127.0.0.1:17034").unwrap();
/// let score = venti.write(BlockType::DATA, b"hello").unwrap();
/// assert_eq!(venti.read(&score, BlockType::DATA).unwrap(), b"hello");
/// let scores = venti.write_many(&[(BlockType::DATA, &b"a"[..]), (BlockType::DATA, b"b")]).unwrap();
/// ```
pub struct VentiClient {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

/// One request, as the pipeline sends it.
enum Request<'a> {
    Read { score: Score, ty: BlockType },
    Write { ty: BlockType, data: &'a [u8] },
    Sync,
    Ping,
}

impl Request<'_> {
    fn kind(&self) -> u8 {
        match self {
            Request::Read { .. } => kind::TREAD,
            Request::Write { .. } => kind::TWRITE,
            Request::Sync => kind::TSYNC,
            Request::Ping => kind::TPING,
        }
    }

    fn encode(&self, version: Version, tag: u8, out: &mut Vec<u8>) -> Result<()> {
        match *self {
            Request::Read { score, ty } => {
                let msg = Message::Tread(Tread::new(score, ty.wire(), READ_COUNT));
                encode_frame(version, tag, &msg, out)
            }
            // Encoded from the caller's slice: no intermediate copy.
            Request::Write { ty, data } => {
                let f = FrameWriter::begin(version, out);
                f.out.extend_from_slice(&[kind::TWRITE, tag]);
                Twrite::encode_parts(ty.wire(), [0; 3], data, f.out);
                f.finish()
            }
            Request::Sync => encode_frame(version, tag, &Message::Tsync, out),
            Request::Ping => encode_frame(version, tag, &Message::Tping, out),
        }
    }
}

/// Where the reader thread delivers a reply: the caller's channel, with
/// the request's index in the caller's batch.
type Completion = (usize, Result<Message>);

struct Waiter {
    kind: u8,
    index: usize,
    done: mpsc::Sender<Completion>,
}

struct State {
    tags: TagSet,
    waiters: Vec<Option<Waiter>>,
    /// Why the connection is unusable, once it is.
    dead: Option<String>,
}

struct Shared {
    version: Version,
    /// The socket, for writing frames; the lock keeps frames whole.
    writer: Mutex<TcpStream>,
    state: Mutex<State>,
    /// Signalled when a tag is freed or the connection dies.
    tag_freed: Condvar,
}

impl VentiClient {
    /// Connects to `addr`, exchanges version lines (we offer `04:02`; the
    /// server's order decides) and says hello.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<VentiClient> {
        let stream = TcpStream::connect(addr).map_err(|source| Error::Net {
            op: "connect",
            source,
        })?;
        VentiClient::handshake(stream)
    }

    /// Starts a session on an already connected stream.
    pub fn handshake(stream: TcpStream) -> Result<VentiClient> {
        let net = |op| move |source| Error::Net { op, source };
        stream.set_nodelay(true).map_err(net("set TCP_NODELAY"))?;
        stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(net("set read timeout"))?;
        let mut rd = stream.try_clone().map_err(net("clone socket"))?;
        let mut wr = stream;
        wr.write_all(VERSION_LINE)
            .map_err(net("send version line"))?;
        let mut buf = FrameBuffer::new();
        let line = loop {
            if let Some(line) = buf.take_line()? {
                break line;
            }
            fill(&mut rd, &mut buf, "reading the server's version line")?;
        };
        let version = Version::negotiate(&line)?;
        let mut out = Vec::new();
        encode_frame(
            version,
            0,
            &Message::Thello(Thello::anonymous(version.token())),
            &mut out,
        )?;
        wr.write_all(&out).map_err(net("send Thello"))?;
        let reply = loop {
            if let Some(body) = buf.next_frame(version)? {
                break Message::decode(body)?;
            }
            fill(&mut rd, &mut buf, "waiting for Rhello")?;
        };
        match reply {
            (0, Message::Rhello(_)) => {}
            (_, Message::Rerror(e)) => return Err(Error::Remote(e.error)),
            (tag, msg) => {
                return Err(Error::Protocol(format!(
                    "answer to Thello is type {} tag {tag}, want Rhello tag 0",
                    msg.kind()
                )));
            }
        }
        rd.set_read_timeout(None)
            .map_err(net("clear read timeout"))?;
        debug!(%version, "venti session open");
        let shared = Arc::new(Shared {
            version,
            writer: Mutex::new(wr),
            state: Mutex::new(State {
                tags: TagSet::default(),
                waiters: (0..256).map(|_| None).collect(),
                dead: None,
            }),
            tag_freed: Condvar::new(),
        });
        let reader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("venti-client-reader".into())
                .spawn(move || shared.read_replies(rd, buf))
                .map_err(net("start reader thread"))?
        };
        Ok(VentiClient {
            shared,
            reader: Some(reader),
        })
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Version {
        self.shared.version
    }

    /// Checks the server is alive. Any answer counts, `Rerror` included:
    /// plan9port's server answers Tping with `Rerror "unknown request"`.
    pub fn ping(&self) -> Result<()> {
        self.call(Request::Ping).map(|_| ())
    }

    /// Writes many blocks with up to 256 requests in flight; returns their
    /// scores in order. Each is checked against the SHA-1 of its data.
    /// Empty blocks are answered locally. The first failure is returned,
    /// after every request sent has been answered.
    pub fn write_many(&self, blocks: &[(BlockType, &[u8])]) -> Result<Vec<Score>> {
        let mut scores = vec![Score::EMPTY; blocks.len()];
        let mut sent = Vec::new();
        for (i, (_, data)) in blocks.iter().enumerate() {
            check_block_size(data)?;
            if !data.is_empty() {
                sent.push(i);
            }
        }
        let reqs: Vec<Request> = sent
            .iter()
            .map(|&i| Request::Write {
                ty: blocks[i].0,
                data: blocks[i].1,
            })
            .collect();
        let mut first_err = None;
        self.pipeline(&reqs, |j, reply| {
            let data = blocks[sent[j]].1;
            match reply.and_then(|m| write_reply(m, data)) {
                Ok(score) => scores[sent[j]] = score,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        });
        first_err.map_or(Ok(scores), Err)
    }

    fn call(&self, req: Request) -> Result<Message> {
        let mut out = None;
        self.pipeline(std::slice::from_ref(&req), |_, reply| out = Some(reply));
        out.expect("the pipeline answers every request")
    }

    /// Sends `reqs`, keeping as many in flight as tags allow, and hands
    /// every reply (or failure) to `done` with the request's index.
    fn pipeline(&self, reqs: &[Request], mut done: impl FnMut(usize, Result<Message>)) {
        let shared = &*self.shared;
        let (tx, rx) = mpsc::channel::<Completion>();
        let mut next = 0;
        let mut outstanding = 0usize;
        let mut out = Vec::new();
        while next < reqs.len() || outstanding > 0 {
            while next < reqs.len() {
                let req = &reqs[next];
                // Block for a tag only when none of ours is in flight: our
                // own replies free tags otherwise.
                let tag = match shared.take_tag(req.kind(), next, &tx, outstanding == 0) {
                    Ok(Some(tag)) => tag,
                    Ok(None) => break,
                    Err(e) => {
                        done(next, Err(e));
                        next += 1;
                        continue;
                    }
                };
                if let Err(e) = req.encode(shared.version, tag, &mut out) {
                    shared.cancel(tag);
                    done(next, Err(e));
                } else {
                    outstanding += 1;
                }
                next += 1;
                // Send as we go, so the server starts while we encode more.
                if out.len() >= BATCH_BYTES {
                    shared.send(&out);
                    out.clear();
                }
            }
            if !out.is_empty() {
                // On failure the connection is marked dead and every
                // waiter, ours included, gets the error.
                shared.send(&out);
                out.clear();
            }
            if outstanding > 0 {
                let (i, reply) = rx.recv().expect("we hold a sender");
                done(i, reply);
                outstanding -= 1;
                while let Ok((i, reply)) = rx.try_recv() {
                    done(i, reply);
                    outstanding -= 1;
                }
            }
        }
    }
}

/// Reads from the socket into `buf`; EOF is an error here.
fn fill(rd: &mut TcpStream, buf: &mut FrameBuffer, what: &str) -> Result<()> {
    match rd.read(buf.spare()) {
        Ok(0) => Err(Error::Disconnected(format!(
            "server closed the connection while {what}"
        ))),
        Ok(n) => {
            buf.filled(n);
            Ok(())
        }
        Err(e) => Err(Error::Disconnected(format!("{what}: {e}"))),
    }
}

/// Checks an Rwrite against the data sent.
fn write_reply(msg: Message, data: &[u8]) -> Result<Score> {
    match msg {
        Message::Rwrite(r) => {
            let want = Score::of(data);
            if r.score == want {
                Ok(r.score)
            } else {
                Err(Error::Protocol(format!(
                    "sha1 hash mismatch: server says {} for a block whose SHA-1 is {want}",
                    r.score
                )))
            }
        }
        other => Err(unexpected(other)),
    }
}

/// Checks an Rread against the score asked for. An Rerror with plan9port's
/// "no block" text for this block is [`Error::NotFound`].
fn read_reply(msg: Message, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
    match msg {
        Message::Rread(r) => {
            if r.data.len() > READ_COUNT as usize {
                return Err(Error::Protocol(format!(
                    "read of {score} returned {} bytes, asked for at most {READ_COUNT}",
                    r.data.len()
                )));
            }
            let got = Score::of(&r.data);
            if got != *score {
                return Err(Error::Protocol(format!(
                    "sha1 hash mismatch: read {score}, got a block whose SHA-1 is {got}"
                )));
            }
            Ok(r.data)
        }
        Message::Rerror(e) => {
            let not_found = Error::NotFound { score: *score, ty };
            if e.error == not_found.to_string() {
                Err(not_found)
            } else {
                Err(Error::Remote(e.error))
            }
        }
        other => Err(unexpected(other)),
    }
}

/// A reply that is neither the expected one nor Rerror was already refused
/// by the reader; this maps Rerror (and anything else) to an error.
fn unexpected(msg: Message) -> Error {
    match msg {
        Message::Rerror(e) => Error::Remote(e.error),
        other => Error::Protocol(format!("unexpected reply type {}", other.kind())),
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("venti client state lock")
    }

    /// Takes a free tag and registers the waiter for its reply. With
    /// `block` false, returns `None` instead of waiting for a tag.
    fn take_tag(
        &self,
        kind: u8,
        index: usize,
        done: &mpsc::Sender<Completion>,
        block: bool,
    ) -> Result<Option<u8>> {
        let mut st = self.lock();
        loop {
            if let Some(why) = &st.dead {
                return Err(Error::Disconnected(why.clone()));
            }
            if let Some(tag) = st.tags.acquire_lowest() {
                st.waiters[usize::from(tag)] = Some(Waiter {
                    kind,
                    index,
                    done: done.clone(),
                });
                return Ok(Some(tag));
            }
            if !block {
                return Ok(None);
            }
            st = self.tag_freed.wait(st).expect("venti client state lock");
        }
    }

    /// Frees a tag whose request was never sent.
    fn cancel(&self, tag: u8) {
        let mut st = self.lock();
        st.waiters[usize::from(tag)] = None;
        st.tags.release(tag);
        self.tag_freed.notify_one();
    }

    /// Writes encoded frames; a failure kills the connection.
    fn send(&self, frames: &[u8]) {
        let result = self
            .writer
            .lock()
            .expect("venti client writer lock")
            .write_all(frames);
        if let Err(e) = result {
            self.fail(format!("sending to the server: {e}"));
        }
    }

    /// Marks the connection dead and fails every request in flight.
    fn fail(&self, why: String) {
        let waiters: Vec<Waiter> = {
            let mut st = self.lock();
            if st.dead.is_none() {
                warn!("venti connection lost: {why}");
                st.dead = Some(why.clone());
            }
            st.waiters.iter_mut().filter_map(Option::take).collect()
        };
        self.tag_freed.notify_all();
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
        for w in waiters {
            let _ = w
                .done
                .send((w.index, Err(Error::Disconnected(why.clone()))));
        }
    }

    /// The reader thread: routes each reply to its waiter until the
    /// connection ends.
    fn read_replies(&self, mut rd: TcpStream, mut buf: FrameBuffer) {
        let why = loop {
            if let Err(e) = self.route_frames(&mut buf) {
                break e.to_string();
            }
            if let Err(e) = fill(&mut rd, &mut buf, "waiting for replies") {
                break e.to_string();
            }
        };
        self.fail(why);
    }

    fn route_frames(&self, buf: &mut FrameBuffer) -> Result<()> {
        while let Some(body) = buf.next_frame(self.version)? {
            let (tag, msg) = Message::decode(body)?;
            let waiter = {
                let mut st = self.lock();
                let Some(w) = &st.waiters[usize::from(tag)] else {
                    return Err(Error::Protocol(format!(
                        "reply for tag {tag}, which is not in flight"
                    )));
                };
                if msg.kind() != w.kind + 1 && msg.kind() != kind::RERROR {
                    // The waiter stays registered: failing the connection answers it.
                    return Err(Error::Protocol(format!(
                        "type mismatch: reply type {} to request type {}",
                        msg.kind(),
                        w.kind
                    )));
                }
                st.tags.release(tag);
                st.waiters[usize::from(tag)].take().expect("checked above")
            };
            self.tag_freed.notify_one();
            let _ = waiter.done.send((waiter.index, Ok(msg)));
        }
        Ok(())
    }
}

impl BlockStore for VentiClient {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        if score.is_special() {
            // plan9port's server has no block for EMPTY: answer locally.
            return Ok(Vec::new());
        }
        self.call(Request::Read { score: *score, ty })
            .and_then(|m| read_reply(m, score, ty))
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        check_block_size(data)?;
        if data.is_empty() {
            return Ok(Score::EMPTY);
        }
        self.call(Request::Write { ty, data })
            .and_then(|m| write_reply(m, data))
    }

    /// Reads many blocks with up to 256 requests in flight; one result per
    /// block, in order, each verified against its score.
    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<Result<Vec<u8>>> {
        let mut results: Vec<Result<Vec<u8>>> = blocks.iter().map(|_| Ok(Vec::new())).collect();
        let sent: Vec<usize> = (0..blocks.len())
            .filter(|&i| !blocks[i].0.is_special())
            .collect();
        let reqs: Vec<Request> = sent
            .iter()
            .map(|&i| Request::Read {
                score: blocks[i].0,
                ty: blocks[i].1,
            })
            .collect();
        self.pipeline(&reqs, |j, reply| {
            let (score, ty) = blocks[sent[j]];
            results[sent[j]] = reply.and_then(|m| read_reply(m, &score, ty));
        });
        results
    }

    /// A read: venti has no "has" message.
    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        match self.read(score, ty) {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. } | Error::Remote(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn sync(&self) -> Result<()> {
        match self.call(Request::Sync)? {
            Message::Rsync => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

impl Drop for VentiClient {
    fn drop(&mut self) {
        // Like plan9port's tools: no Tgoodbye, just close. The reader
        // thread sees the shutdown and ends; marking the connection dead
        // first keeps that quiet.
        if let Ok(mut st) = self.shared.state.lock() {
            st.dead
                .get_or_insert_with(|| "the client was closed".into());
        }
        if let Ok(w) = self.shared.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
