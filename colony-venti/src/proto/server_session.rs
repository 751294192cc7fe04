//! [`ServerSession`]: one venti server connection as a state machine,
//! without I/O (in the shape of quinn-proto's `Connection`).
//!
//! Bytes the peer sent go in ([`ServerSession::recv_buffer`] and
//! [`ServerSession::received`]); storage jobs come out
//! ([`ServerSession::poll_event`]); their replies go back in
//! ([`ServerSession::reply`]); bytes to send come out
//! ([`ServerSession::transmit`], [`ServerSession::transmitted`]). Time is
//! passed in: [`ServerSession::poll_timeout`] says when the session next
//! needs [`ServerSession::handle_timeout`]. The tokio server
//! ([`VentiServer`](crate::proto::VentiServer)) is a thin driver over it,
//! and tests drive it in process with simulated time.
//!
//! The rules are plan9port's server's with the differences listed in
//! `server.rs`, and the bounds of [`ServerLimits`]: a tag stays taken
//! until its reply is transmitted, the bytes of replies in flight are
//! bounded (at the bound the session stops taking input), the handshake
//! and any write that makes no progress are timed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::proto::flight::{Admit, Flight, reply_bound};
use crate::proto::frame::{FrameBuffer, encode_frame};
use crate::proto::jobs::{Job, rerror};
use crate::proto::limits::{ServerLimits, ServerStats};
use crate::proto::message::{Message, Rhello};
use crate::proto::version::{VERSION_LINE, Version};

/// What the session asks of its driver.
#[derive(Debug)]
pub enum ServerEvent {
    /// Storage work for `tag`: run it and give the reply to
    /// [`ServerSession::reply`].
    Job {
        /// The request's tag.
        tag: u8,
        /// What to do.
        job: Job,
    },
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client's version line.
    Line,
    /// Waiting for `Thello`.
    Hello(Version),
    /// Serving requests.
    Open(Version),
}

/// A request frame, parsed: its tag and message (or why it does not parse).
struct Request {
    tag: u8,
    kind: u8,
    msg: Result<Message>,
}

/// One server connection's protocol state.
pub struct ServerSession {
    phase: Phase,
    peer: SocketAddr,
    limits: ServerLimits,
    buf: FrameBuffer,
    flight: Flight,
    /// A request read but not yet admitted (its tag or bytes are busy).
    held: Option<Request>,
    /// Bytes to send; `out[..sent]` are sent already.
    out: Vec<u8>,
    sent: usize,
    /// Each reply frame in `out`: where it ends, and its tag.
    frames: VecDeque<(usize, u8)>,
    /// No more requests will be read (EOF, Tgoodbye, a fatal frame, or
    /// the server stopping); the session ends once replies are out.
    input_done: bool,
    /// The connection is over at once: nothing more is read or written.
    dead: bool,
    /// When the handshake must be done by.
    handshake_deadline: Option<Instant>,
    /// Since when unsent bytes have made no progress.
    stalled_since: Option<Instant>,
}

impl ServerSession {
    /// A new connection from `peer` at `now`; our version line is the
    /// first thing to transmit.
    pub fn new(
        limits: &ServerLimits,
        stats: ServerStats,
        peer: SocketAddr,
        now: Instant,
    ) -> ServerSession {
        ServerSession {
            phase: Phase::Line,
            peer,
            limits: limits.clone(),
            buf: FrameBuffer::new(),
            flight: Flight::new(limits.max_reply_bytes, stats),
            held: None,
            out: VERSION_LINE.to_vec(),
            sent: 0,
            frames: VecDeque::new(),
            input_done: false,
            dead: false,
            handshake_deadline: Some(now + limits.handshake_timeout),
            stalled_since: Some(now),
        }
    }

    /// The negotiated version, once the handshake is done.
    pub fn version(&self) -> Option<Version> {
        match self.phase {
            Phase::Open(v) => Some(v),
            _ => None,
        }
    }

    /// True while the session takes input: not at its end, and not held
    /// at the bound of replies in flight.
    pub fn wants_input(&self) -> bool {
        !self.input_done && !self.dead && self.held.is_none()
    }

    /// Where to put bytes read from the peer (never empty).
    pub fn recv_buffer(&mut self) -> &mut [u8] {
        self.buf.spare()
    }

    /// Records `n` bytes read into [`ServerSession::recv_buffer`]; 0 is
    /// the end of the peer's stream.
    pub fn received(&mut self, n: usize) {
        if n > 0 {
            self.buf.filled(n);
            return;
        }
        if self.buf.pending().is_empty() {
            debug!(peer = %self.peer, "venti client closed the connection");
        } else {
            warn!(peer = %self.peer, pending = self.buf.pending().len(),
                  "venti client vanished in the middle of a message");
        }
        self.end_input();
    }

    /// Reading failed: no more input.
    pub fn read_failed(&mut self, e: &std::io::Error) {
        warn!(peer = %self.peer, "venti read: {e}");
        self.end_input();
    }

    /// The server is stopping: read no more, answer what was read.
    pub fn finish_input(&mut self) {
        debug!(peer = %self.peer, "venti server stopping; closing connection");
        self.end_input();
    }

    fn end_input(&mut self) {
        self.input_done = true;
    }

    /// Bytes to send next (empty when there are none).
    pub fn transmit(&self) -> &[u8] {
        if self.dead {
            &[]
        } else {
            &self.out[self.sent..]
        }
    }

    /// Records that the first `n` bytes of [`ServerSession::transmit`]
    /// were sent: replies wholly sent free their tags and bytes.
    pub fn transmitted(&mut self, n: usize, now: Instant) {
        self.sent += n;
        while let Some(&(end, tag)) = self.frames.front() {
            if end > self.sent {
                break;
            }
            self.frames.pop_front();
            self.flight.wrote(tag);
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
            self.stalled_since = None;
        } else {
            if self.sent >= COMPACT_AT {
                self.out.drain(..self.sent);
                for f in &mut self.frames {
                    f.0 -= self.sent;
                }
                self.sent = 0;
            }
            if n > 0 {
                self.stalled_since = Some(now);
            }
        }
    }

    /// Writing failed: the peer is gone.
    pub fn write_failed(&mut self, e: &std::io::Error) {
        debug!(peer = %self.peer, "venti write: {e}");
        self.die();
    }

    fn die(&mut self) {
        self.dead = true;
        self.input_done = true;
        self.held = None;
        self.flight.close();
    }

    /// True once the connection should be closed: replies to everything
    /// read are sent, or the peer can no longer be served.
    pub fn is_finished(&self) -> bool {
        self.dead || (self.input_done && self.flight.is_empty() && self.transmit().is_empty())
    }

    /// When [`ServerSession::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.dead {
            return None;
        }
        let stall = self.stalled_since.map(|t| t + self.limits.write_timeout);
        match (self.handshake_deadline, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends the session if the handshake or a write overran its time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.handshake_deadline.is_some_and(|d| now >= d) {
            warn!(peer = %self.peer, "{}", Error::HandshakeTimeout(self.limits.handshake_timeout));
            self.die();
        } else if self
            .stalled_since
            .is_some_and(|t| now >= t + self.limits.write_timeout)
        {
            warn!(peer = %self.peer, "{}", Error::WriteTimeout(self.limits.write_timeout));
            self.die();
        }
    }

    /// Queues the reply to `tag`'s job.
    pub fn reply(&mut self, tag: u8, msg: Message, now: Instant) {
        let Phase::Open(version) = self.phase else {
            return;
        };
        if self.dead {
            return;
        }
        if let Err(e) = encode_frame(version, tag, &msg, &mut self.out) {
            warn!(peer = %self.peer, tag, "venti: reply does not fit a frame: {e}");
            encode_frame(version, tag, &rerror(e.to_string()), &mut self.out)
                .expect("short Rerror fits any frame");
        }
        self.frames.push_back((self.out.len(), tag));
        self.flight.writing(tag);
        self.stalled_since.get_or_insert(now);
    }

    /// Parses what input allows: answers what needs no storage and returns
    /// the next storage job, or `None` when more input (or a transmit, or
    /// a reply) is needed first.
    pub fn poll_event(&mut self, now: Instant) -> Option<ServerEvent> {
        // Before the hello, the end of input ends the session.
        let over = |s: &Self| s.dead || (s.input_done && s.version().is_none());
        while !over(self) {
            match self.phase {
                Phase::Line => self.read_line()?,
                Phase::Hello(version) => self.read_hello(version, now)?,
                Phase::Open(version) => {
                    if let Some(job) = self.next_request(version, now)? {
                        return Some(job);
                    }
                }
            }
        }
        None
    }

    /// `Some(())` once the phase advanced, `None` if more input is needed.
    fn read_line(&mut self) -> Option<()> {
        let negotiated = match self.buf.take_line() {
            Ok(Some(line)) => Version::negotiate(&line),
            Ok(None) => return None,
            Err(e) => Err(e),
        };
        match negotiated {
            Ok(v) => self.phase = Phase::Hello(v),
            Err(e) => self.refuse(&e),
        }
        Some(())
    }

    fn read_hello(&mut self, version: Version, now: Instant) -> Option<()> {
        let hello = match self.buf.next_frame(version) {
            Ok(Some(body)) => Message::decode(body),
            Ok(None) => return None,
            Err(e) => Err(e),
        };
        match hello {
            Ok((0, Message::Thello(h))) if h.version == version.token() => {
                debug!(peer = %self.peer, uid = %h.uid, %version, "venti hello");
                self.phase = Phase::Open(version);
                self.handshake_deadline = None;
                let rhello = Message::Rhello(Rhello {
                    sid: "anonymous".into(),
                    rcrypto: 0,
                    rcodec: 0,
                });
                encode_frame(version, 0, &rhello, &mut self.out).expect("Rhello fits any frame");
                self.stalled_since.get_or_insert(now);
            }
            Ok((tag, Message::Thello(h))) => {
                warn!(peer = %self.peer, tag, version = %h.version, negotiated = %version,
                      "venti: bad hello (tag must be 0, version the negotiated one); closing");
                self.end_input();
            }
            Ok((tag, msg)) => {
                warn!(peer = %self.peer, tag, kind = msg.kind(),
                      "venti: first message is not Thello; closing");
                self.end_input();
            }
            Err(e) => self.refuse(&e),
        }
        Some(())
    }

    /// Handshake failures close without a reply (after our version
    /// line), as plan9port does.
    fn refuse(&mut self, e: &Error) {
        warn!(peer = %self.peer, "venti: {e}; closing");
        self.end_input();
    }

    /// Reads and admits one request. `None`: more input is needed, or the
    /// request waits for replies to be sent; `Some(None)`: it was answered
    /// here; `Some(Some(job))`: storage work.
    fn next_request(&mut self, version: Version, now: Instant) -> Option<Option<ServerEvent>> {
        let request = match self.held.take() {
            Some(r) => r,
            None => {
                if self.input_done {
                    return None;
                }
                match self.buf.next_frame(version) {
                    Ok(Some(body)) => match parse(body) {
                        Some(r) => r,
                        None => {
                            warn!(peer = %self.peer,
                                  "venti: frame too short for a type and tag; closing");
                            self.input_done = true;
                            return None;
                        }
                    },
                    Ok(None) => return None,
                    Err(e) => {
                        warn!(peer = %self.peer, "venti: {e}; closing");
                        self.input_done = true;
                        return None;
                    }
                }
            }
        };
        if matches!(request.msg, Ok(Message::Tgoodbye)) {
            debug!(peer = %self.peer, "venti goodbye");
            self.input_done = true;
            return None;
        }
        match self
            .flight
            .admit(request.tag, reply_bound(request.msg.as_ref().ok()))
        {
            Admit::Admitted => Some(self.dispatch(request, now)),
            Admit::Wait => {
                self.held = Some(request);
                None
            }
            Admit::Reused => {
                warn!(peer = %self.peer, "{}", Error::TagInFlight(request.tag));
                self.input_done = true;
                None
            }
            Admit::Closed => None,
        }
    }

    /// Answers an admitted request here, or returns its storage job.
    fn dispatch(&mut self, request: Request, now: Instant) -> Option<ServerEvent> {
        let Request { tag, kind, msg } = request;
        let reply = match msg {
            Ok(Message::Tread(req)) => return Some(job(tag, Job::Read(req))),
            Ok(Message::Twrite(req)) => return Some(job(tag, Job::Write(req))),
            Ok(Message::Tsync) => return Some(job(tag, Job::Sync)),
            Ok(Message::Tping) => Message::Rping,
            Ok(other) => {
                warn!(peer = %self.peer, tag, kind = other.kind(), "venti: unknown request");
                rerror("unknown request".into())
            }
            Err(e) => {
                warn!(peer = %self.peer, tag, kind, "venti: {e}");
                rerror(e.to_string())
            }
        };
        self.reply(tag, reply, now);
        None
    }
}

fn job(tag: u8, job: Job) -> ServerEvent {
    ServerEvent::Job { tag, job }
}

/// Sent bytes kept at the front of the output before it is compacted.
const COMPACT_AT: usize = 256 * 1024;

/// Splits a request frame into tag and message; `None` if too short to
/// hold a type and a tag.
fn parse(body: &[u8]) -> Option<Request> {
    let [kind, tag, ..] = *body else {
        return None;
    };
    Some(Request {
        tag,
        kind,
        msg: Message::decode(body).map(|(_, msg)| msg),
    })
}
