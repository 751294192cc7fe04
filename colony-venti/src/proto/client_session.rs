//! [`ClientSession`]: the client side of one venti connection as a state
//! machine, without I/O (in the shape of quinn-proto's `Connection`).
//!
//! Requests go in ([`ClientSession::start`]) and come out as bytes
//! ([`ClientSession::take_transmit`]); bytes from the server go in
//! ([`ClientSession::handle_input`]) and come out as replies matched to
//! their tags ([`ClientSession::poll_event`]). Time is passed in:
//! [`ClientSession::poll_timeout`] says when [`ClientSession::handle_timeout`]
//! is next due. [`VentiClient`](crate::proto::VentiClient) drives it over
//! a socket; tests drive it in process against a
//! [`ServerSession`](crate::proto::ServerSession) with simulated time.
//!
//! The watchdog is the 9P client's: while requests wait and the server
//! has said nothing for [`ClientConfig::silence`], a `Tping` probes it (a
//! live server answers at once, however slow its storage); silence for as
//! long again fails the session with [`Error::Silent`]. So a server that
//! falls silent fails every call within twice `silence`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::proto::frame::{FrameBuffer, encode_frame};
use crate::proto::message::{Message, Thello, kind};
use crate::proto::tags::TagSet;
use crate::proto::version::{VERSION_LINE, Version};

/// How a client times its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long the version exchange and hello may take. Default 30 s.
    pub handshake_timeout: Duration,
    /// How long the server may say nothing while requests wait before it
    /// is probed, and again before the session fails. Default 15 s.
    pub silence: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            handshake_timeout: Duration::from_secs(30),
            silence: Duration::from_secs(15),
        }
    }
}

/// What the session tells its driver.
#[derive(Debug)]
pub enum ClientEvent {
    /// The handshake is done: requests may start.
    Open(Version),
    /// The reply to the request sent with `tag`, which is free again. Its
    /// type is the request's answer or `Rerror`.
    Reply {
        /// The request's tag.
        tag: u8,
        /// The reply.
        msg: Message,
    },
    /// The session is over: no request in flight will be answered. The
    /// cause, shared with [`Error::Disconnected`] of later requests.
    Failed(Arc<Error>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Line,
    Hello(Version),
    Open(Version),
    Failed,
}

/// One client connection's protocol state.
pub struct ClientSession {
    phase: Phase,
    config: ClientConfig,
    buf: FrameBuffer,
    out: Vec<u8>,
    tags: TagSet,
    /// The request type sent with each tag in flight.
    kinds: [u8; 256],
    in_flight: usize,
    /// The watchdog's Tping, while it waits.
    probe: Option<u8>,
    events: VecDeque<ClientEvent>,
    /// Why the session failed, once it has.
    failure: Option<Arc<Error>>,
    handshake_deadline: Option<Instant>,
    /// When the server last spoke, or when requests began to wait if later.
    heard: Instant,
}

impl ClientSession {
    /// A session starting at `now`: our version line is the first thing to
    /// transmit.
    pub fn new(config: ClientConfig, now: Instant) -> ClientSession {
        ClientSession {
            phase: Phase::Line,
            config,
            buf: FrameBuffer::new(),
            out: VERSION_LINE.to_vec(),
            tags: TagSet::default(),
            kinds: [0; 256],
            in_flight: 0,
            probe: None,
            events: VecDeque::new(),
            failure: None,
            handshake_deadline: Some(now + config.handshake_timeout),
            heard: now,
        }
    }

    /// The negotiated version, once open.
    pub fn version(&self) -> Option<Version> {
        match self.phase {
            Phase::Open(v) => Some(v),
            _ => None,
        }
    }

    /// True once the session has failed.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Requests sent and not answered (the watchdog's probe included).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Sends `msg`, a request, under the lowest free tag (libventi's
    /// choice, so our bytes match plan9port's tools). `Ok(None)`: all 256
    /// tags are in flight. Before [`ClientEvent::Open`] or after
    /// [`ClientEvent::Failed`] this is an error.
    pub fn start(&mut self, msg: &Message, now: Instant) -> Result<Option<u8>> {
        self.start_with(msg.kind(), now, |version, tag, out| {
            encode_frame(version, tag, msg, out)
        })
    }

    /// [`ClientSession::start`] with the frame written by `encode`
    /// (version, tag, output), so a large body is encoded straight from the
    /// caller's buffer. `encode` must write exactly one frame of a request
    /// of type `kind`, or nothing and an error.
    pub fn start_with(
        &mut self,
        kind: u8,
        now: Instant,
        encode: impl FnOnce(Version, u8, &mut Vec<u8>) -> Result<()>,
    ) -> Result<Option<u8>> {
        let version = match self.phase {
            Phase::Open(v) => v,
            Phase::Failed => {
                let why = self.failure.clone().expect("a failed session knows why");
                return Err(Error::Disconnected(why));
            }
            Phase::Line | Phase::Hello(_) => return Err(Error::NotOpen),
        };
        let Some(tag) = self.tags.acquire_lowest() else {
            return Ok(None);
        };
        if let Err(e) = encode(version, tag, &mut self.out) {
            self.tags.release(tag);
            return Err(e);
        }
        if self.in_flight == 0 {
            // Silence counts from when something is awaited.
            self.heard = now;
        }
        self.kinds[usize::from(tag)] = kind;
        self.in_flight += 1;
        Ok(Some(tag))
    }

    /// The bytes to send, taken out of the session.
    pub fn take_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// How many bytes wait to be sent.
    pub fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// The next thing to tell the driver.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Takes bytes from the server. An empty slice is the end of its
    /// stream, which fails the session.
    pub fn handle_input(&mut self, mut data: &[u8], now: Instant) {
        if self.phase == Phase::Failed {
            return;
        }
        if data.is_empty() {
            return self.fail(Error::PeerClosed);
        }
        self.heard = now;
        while !data.is_empty() && self.phase != Phase::Failed {
            let spare = self.buf.spare();
            let n = spare.len().min(data.len());
            spare[..n].copy_from_slice(&data[..n]);
            self.buf.filled(n);
            data = &data[n..];
            if let Err(e) = self.parse() {
                self.fail(e);
            }
        }
    }

    /// Reading from the server failed.
    pub fn read_failed(&mut self, e: std::io::Error) {
        self.fail(Error::Net {
            op: "read from the venti server",
            source: e,
        });
    }

    /// Fails the session: the driver could not send, or gave up.
    pub fn fail(&mut self, e: Error) {
        if self.phase == Phase::Failed {
            return;
        }
        self.phase = Phase::Failed;
        self.tags = TagSet::default();
        self.in_flight = 0;
        self.probe = None;
        self.out.clear();
        let e = Arc::new(e);
        self.failure = Some(e.clone());
        self.events.push_back(ClientEvent::Failed(e));
    }

    /// When [`ClientSession::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Failed => None,
            Phase::Line | Phase::Hello(_) => self.handshake_deadline,
            Phase::Open(_) if self.in_flight == 0 => None,
            Phase::Open(_) if self.probe.is_some() => Some(self.heard + 2 * self.config.silence),
            Phase::Open(_) => Some(self.heard + self.config.silence),
        }
    }

    /// Fails a handshake past its time or a server silent too long; probes
    /// a server silent for a while.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Failed => {}
            Phase::Line | Phase::Hello(_) => {
                if self.handshake_deadline.is_some_and(|d| now >= d) {
                    self.fail(Error::Silent(self.config.handshake_timeout));
                }
            }
            Phase::Open(version) => {
                if self.in_flight == 0 {
                    return;
                }
                let silent = now.saturating_duration_since(self.heard);
                if silent >= 2 * self.config.silence {
                    self.fail(Error::Silent(silent));
                } else if silent >= self.config.silence && self.probe.is_none() {
                    if let Some(tag) = self.tags.acquire_lowest() {
                        encode_frame(version, tag, &Message::Tping, &mut self.out)
                            .expect("Tping fits any frame");
                        self.kinds[usize::from(tag)] = kind::TPING;
                        self.in_flight += 1;
                        self.probe = Some(tag);
                    }
                }
            }
        }
    }

    /// Takes what is complete out of the receive buffer.
    fn parse(&mut self) -> Result<()> {
        loop {
            match self.phase {
                Phase::Failed => return Ok(()),
                Phase::Line => {
                    let Some(line) = self.buf.take_line()? else {
                        return Ok(());
                    };
                    let version = Version::negotiate(&line)?;
                    let hello = Message::Thello(Thello::anonymous(version.token()));
                    encode_frame(version, 0, &hello, &mut self.out)?;
                    self.phase = Phase::Hello(version);
                }
                Phase::Hello(version) => {
                    let Some(body) = self.buf.next_frame(version)? else {
                        return Ok(());
                    };
                    match Message::decode(body)? {
                        (0, Message::Rhello(_)) => {}
                        (_, Message::Rerror(e)) => return Err(e.into_error(None)),
                        (0, msg) => {
                            return Err(Error::UnexpectedReply {
                                sent: kind::THELLO,
                                got: msg.kind(),
                            });
                        }
                        (tag, _) => return Err(Error::UnknownTag(tag)),
                    }
                    self.phase = Phase::Open(version);
                    self.handshake_deadline = None;
                    self.events.push_back(ClientEvent::Open(version));
                }
                Phase::Open(version) => {
                    let Some(body) = self.buf.next_frame(version)? else {
                        return Ok(());
                    };
                    let (tag, msg) = Message::decode(body)?;
                    self.answer(tag, msg)?;
                }
            }
        }
    }

    /// Matches a reply to its request.
    fn answer(&mut self, tag: u8, msg: Message) -> Result<()> {
        if !self.tags.contains(tag) {
            return Err(Error::UnknownTag(tag));
        }
        let sent = self.kinds[usize::from(tag)];
        if msg.kind() != sent + 1 && msg.kind() != kind::RERROR {
            return Err(Error::UnexpectedReply {
                sent,
                got: msg.kind(),
            });
        }
        self.tags.release(tag);
        self.in_flight -= 1;
        if self.probe == Some(tag) {
            // Any answer, Rerror included (plan9port's), shows it alive.
            self.probe = None;
        } else {
            self.events.push_back(ClientEvent::Reply { tag, msg });
        }
        Ok(())
    }
}
