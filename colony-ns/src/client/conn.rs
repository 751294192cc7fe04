//! One 9P connection, multiplexed: an I/O task owns the stream, requests
//! carry tags, and any number of synchronous callers wait for their own
//! reply at once.
//!
//! A caller waits on a std channel, not on tokio, so FUSE threads and
//! `spawn_blocking` closures can call in (from inside an async task it
//! would block a runtime thread). When the stream ends or breaks, every
//! request waiting and every later one fails with
//! [`Error::ConnectionLost`]; nothing hangs. A server that falls silent
//! without closing (a host gone, a partitioned network) is caught by a
//! watchdog: while requests wait and nothing has come for a while, it
//! sends a Tflush of no request (answered at once by a live server), and
//! if that too goes unanswered the connection is declared dead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::fids::FidNumbers;
use crate::error::{Error, Result};
use crate::ninep::{Fcall, Message, NOTAG, Rerror, Tflush, encode_frame, read_frame};

/// What becomes of a reply: called exactly once, with the reply or the
/// reason there will be none.
pub(crate) type Sink = Box<dyn FnOnce(Result<Message>) + Send>;

struct State {
    /// Requests sent and not yet answered, by tag.
    pending: HashMap<u16, Sink>,
    /// Where the search for a free tag starts.
    next_tag: u16,
    /// Why the connection ended; once set, every call fails with it.
    dead: Option<String>,
    /// When the server last sent a frame.
    heard: Instant,
}

/// What the connection's handle and its I/O tasks share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Fid numbers in use on this connection.
    pub fids: FidNumbers,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the connection (the first reason given wins) and fails every
    /// request still waiting.
    fn fail_all(&self, why: String) {
        let (pending, why) = {
            let mut state = self.lock();
            let why = state.dead.get_or_insert(why).clone();
            (std::mem::take(&mut state.pending), why)
        };
        for (_, sink) in pending {
            sink(Err(Error::ConnectionLost(why.clone())));
        }
    }

    /// Hands a reply to its request's sink; false if no request has its tag.
    fn deliver(&self, fcall: Fcall) -> bool {
        let sink = {
            let mut state = self.lock();
            state.heard = Instant::now();
            state.pending.remove(&fcall.tag)
        };
        let Some(sink) = sink else {
            return false;
        };
        sink(answer(fcall.msg));
        true
    }
}

/// Fails every waiter when the reader task ends in any way, including
/// being dropped with its runtime.
struct FailOnDrop(Arc<Shared>);

impl Drop for FailOnDrop {
    fn drop(&mut self) {
        self.0.fail_all("the connection's I/O task stopped".into());
    }
}

/// A connection after Tversion: send requests, get replies.
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    /// Frames for the writer task.
    out: mpsc::UnboundedSender<Vec<u8>>,
    /// The negotiated msize.
    pub msize: u32,
    reader: JoinHandle<()>,
    watchdog: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The writer ends by itself once `out` (and the watchdog's copy)
        // is gone, closing the stream.
        self.reader.abort();
        self.watchdog.abort();
    }
}

/// Sends `msg` on a connection; `sink` gets its reply (an Rerror as the
/// error it names), or the reason the connection ended.
fn start(
    shared: &Shared,
    out: &mpsc::UnboundedSender<Vec<u8>>,
    msize: u32,
    msg: Message,
    sink: Sink,
) {
    let mut state = shared.lock();
    let tag = match state.dead.clone() {
        Some(why) => Err(why),
        None => free_tag(&mut state).ok_or_else(|| "out of tags".to_string()),
    };
    let tag = match tag {
        Ok(tag) => {
            // Registered before it is sent, so the reply always finds it.
            state.pending.insert(tag, sink);
            drop(state);
            tag
        }
        Err(why) => {
            drop(state);
            return sink(Err(Error::ConnectionLost(why)));
        }
    };
    match encode_frame(&Fcall::new(tag, msg), msize) {
        Ok(frame) => {
            if out.send(frame).is_err() {
                shared.fail_all("the connection's writer stopped".into());
            }
        }
        Err(e) => {
            // Unless the connection died meanwhile and answered it already.
            let sink = shared.lock().pending.remove(&tag);
            if let Some(sink) = sink {
                sink(Err(e));
            }
        }
    }
}

/// Declares the connection dead when requests wait and the server stays
/// silent: after `silence` without a frame it probes with a Tflush of no
/// request, and after another `silence` without one it gives up.
async fn watch(
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    msize: u32,
    silence: Duration,
) {
    let mut probed: Option<Instant> = None;
    loop {
        tokio::time::sleep(silence / 4).await;
        let (waiting, quiet) = {
            let state = shared.lock();
            if state.dead.is_some() {
                return;
            }
            (!state.pending.is_empty(), state.heard.elapsed())
        };
        if !waiting || quiet < silence {
            probed = None;
            continue;
        }
        match probed {
            None => {
                let ping = Tflush { oldtag: NOTAG }.into();
                start(&shared, &out, msize, ping, Box::new(drop));
                probed = Some(Instant::now());
            }
            Some(at) if at.elapsed() >= silence => {
                let secs = quiet.as_secs_f32();
                return shared.fail_all(format!(
                    "the server sent nothing for {secs:.1}s while requests waited"
                ));
            }
            Some(_) => {}
        }
    }
}

impl Conn {
    /// Takes over a stream on which Tversion is done, spawning its reader
    /// and writer on the current tokio runtime.
    pub fn spawn<S>(stream: S, msize: u32, fids: FidNumbers, silence: Duration) -> Conn
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: HashMap::new(),
                next_tag: 0,
                dead: None,
                heard: Instant::now(),
            }),
            fids,
        });
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (out, mut frames) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer_shared = shared.clone();
        tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                if let Err(e) = wr.write_all(&frame).await {
                    writer_shared.fail_all(format!("writing: {e}"));
                    return;
                }
            }
            let _ = wr.shutdown().await;
        });
        let reader_shared = shared.clone();
        let reader = tokio::spawn(async move {
            let guard = FailOnDrop(reader_shared);
            let why = loop {
                match read_frame(&mut rd, msize).await {
                    Ok(Some(frame)) => match Fcall::decode(&frame) {
                        Ok(fcall) => {
                            let tag = fcall.tag;
                            if !guard.0.deliver(fcall) {
                                break format!("reply with tag {tag}, which no request has");
                            }
                        }
                        Err(e) => break format!("undecodable reply: {e}"),
                    },
                    Ok(None) => break "the server closed the connection".into(),
                    Err(e) => break format!("reading: {e}"),
                }
            };
            guard.0.fail_all(why);
        });
        let watchdog = tokio::spawn(watch(shared.clone(), out.clone(), msize, silence));
        Conn {
            shared,
            out,
            msize,
            reader,
            watchdog,
        }
    }

    /// Sends `msg`; `sink` gets its reply (an Rerror as the error it
    /// names), or the reason the connection ended.
    pub fn start(&self, msg: Message, sink: Sink) {
        start(&self.shared, &self.out, self.msize, msg, sink);
    }

    /// Sends `msg` without waiting; [`Pending::wait`] gets the reply.
    pub fn send(&self, msg: impl Into<Message>) -> Pending {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let msg = msg.into();
        let sent = msg.name();
        self.start(
            msg,
            Box::new(move |reply| {
                let _ = tx.send(reply);
            }),
        );
        Pending { rx, sent }
    }

    /// Sends `msg` and waits for its reply, which must be an `R`.
    pub fn call<R: TryFrom<Message, Error = Message>>(&self, msg: impl Into<Message>) -> Result<R> {
        self.send(msg).wait()
    }
}

/// The first tag at or after `next_tag` that no request holds (NOTAG is
/// Tversion's), or `None` if all are taken.
fn free_tag(state: &mut State) -> Option<u16> {
    for _ in 0..=u16::MAX {
        let tag = state.next_tag;
        state.next_tag = state.next_tag.wrapping_add(1);
        if tag != NOTAG && !state.pending.contains_key(&tag) {
            return Some(tag);
        }
    }
    None
}

/// A request sent whose reply has not been taken yet.
pub(crate) struct Pending {
    rx: std::sync::mpsc::Receiver<Result<Message>>,
    sent: &'static str,
}

impl Pending {
    /// Waits for the reply, which must be an `R`.
    pub fn wait<R: TryFrom<Message, Error = Message>>(self) -> Result<R> {
        let reply = self
            .rx
            .recv()
            .map_err(|_| Error::ConnectionLost("the reply was dropped".into()))??;
        expect(self.sent, reply)
    }
}

/// A reply as the caller sees it: an Rerror is the error its text names.
pub(crate) fn answer(reply: Message) -> Result<Message> {
    match reply {
        Message::Rerror(Rerror { ename }) => Err(Error::from_ename(&ename)),
        reply => Ok(reply),
    }
}

/// Checks that the reply to `sent` is an `R`.
pub(crate) fn expect<R: TryFrom<Message, Error = Message>>(
    sent: &'static str,
    reply: Message,
) -> Result<R> {
    R::try_from(reply).map_err(|other| Error::UnexpectedReply {
        sent,
        got: other.name().into(),
    })
}
