//! [`Flight`]: what one server connection has in flight — the tags whose
//! replies are not yet written and the bytes those replies may take.
//!
//! A tag is taken when its request is read and freed only once its reply
//! has been written to the socket, so a client that does not read its
//! replies cannot have more than 256 requests, nor more than
//! [`ServerLimits::max_reply_bytes`](crate::proto::ServerLimits) of
//! replies, held by the server.

use crate::proto::limits::ServerStats;
use crate::proto::message::{MAX_STRING, Message};
use crate::proto::tags::TagSet;
use crate::store::MAX_BLOCK;

/// Bytes of a reply besides its data or string: length (4), type, tag and
/// the data's or string's own length (2).
const REPLY_HEADER: usize = 8;

/// The most bytes the reply to `request` can take on the wire (an
/// `Rerror` for anything that fails, so never less than the longest one).
pub fn reply_bound(request: Option<&Message>) -> usize {
    let data = match request {
        Some(Message::Tread(t)) => (t.count as usize).min(MAX_BLOCK),
        _ => 0,
    };
    REPLY_HEADER + data.max(MAX_STRING)
}

/// The answer to [`Flight::admit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// The tag and its bytes are taken.
    Admitted,
    /// Not now: the bytes in flight are at the bound, or the tag's reply is
    /// being written (the client may have read it already). Ask again
    /// after the next [`Flight::wrote`].
    Wait,
    /// The tag's reply is not even being written: the client reused a tag
    /// it cannot have an answer for.
    Reused,
    /// The writer is gone; nothing more will be written.
    Closed,
}

/// One connection's tags and reply bytes in flight. Plain state, owned by
/// the connection's [`ServerSession`](crate::proto::ServerSession).
pub struct Flight {
    /// Tags whose reply is not yet written.
    busy: TagSet,
    /// Tags whose reply is encoded and on its way to the socket.
    writing: TagSet,
    /// Bytes reserved by each busy tag.
    reserved: Vec<usize>,
    /// Their sum.
    bytes: usize,
    closed: bool,
    max_bytes: usize,
    stats: ServerStats,
}

impl Flight {
    /// Nothing in flight; at most `max_bytes` of replies at once.
    pub fn new(max_bytes: usize, stats: ServerStats) -> Flight {
        Flight {
            busy: TagSet::default(),
            writing: TagSet::default(),
            reserved: vec![0; 256],
            bytes: 0,
            closed: false,
            max_bytes,
            stats,
        }
    }

    /// Takes `tag` and `bytes` for a request just read, if they are free.
    pub fn admit(&mut self, tag: u8, bytes: usize) -> Admit {
        if self.closed {
            return Admit::Closed;
        }
        if self.busy.contains(tag) {
            return if self.writing.contains(tag) {
                Admit::Wait
            } else {
                Admit::Reused
            };
        }
        if self.bytes > 0 && self.bytes + bytes > self.max_bytes {
            return Admit::Wait;
        }
        self.busy.acquire(tag);
        self.reserved[usize::from(tag)] = bytes;
        self.bytes += bytes;
        self.stats.reserve(bytes);
        Admit::Admitted
    }

    /// Marks `tag`'s reply as being written.
    pub fn writing(&mut self, tag: u8) {
        self.writing.acquire(tag);
    }

    /// Frees `tag`, whose reply is written, and its bytes.
    pub fn wrote(&mut self, tag: u8) {
        self.writing.release(tag);
        if self.busy.contains(tag) {
            self.busy.release(tag);
            let n = std::mem::take(&mut self.reserved[usize::from(tag)]);
            self.bytes -= n;
            self.stats.release(n);
        }
    }

    /// True when no tag waits for its reply to be written.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0 && self.busy == TagSet::default()
    }

    /// The writer is gone: admit nothing more.
    pub fn close(&mut self) {
        self.closed = true;
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // Replies never written (the client vanished) leave the count.
        self.stats.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_free_only_once_its_reply_is_written() {
        let stats = ServerStats::default();
        let mut f = Flight::new(10_000, stats.clone());
        assert_eq!(f.admit(7, 1000), Admit::Admitted);
        // Queued, not yet written: reusing the tag is a protocol error.
        assert_eq!(f.admit(7, 1000), Admit::Reused);
        f.writing(7);
        // Being written: the client may have its reply; wait.
        assert_eq!(f.admit(7, 1000), Admit::Wait);
        f.wrote(7);
        assert_eq!(f.admit(7, 1000), Admit::Admitted);
        assert_eq!(stats.reply_bytes(), 1000);
        drop(f);
        assert_eq!(
            stats.reply_bytes(),
            0,
            "a dropped connection frees its bytes"
        );
    }

    #[test]
    fn bytes_in_flight_are_bounded() {
        let stats = ServerStats::default();
        let mut f = Flight::new(3000, stats.clone());
        assert_eq!(f.admit(1, 2000), Admit::Admitted);
        assert_eq!(f.admit(2, 1000), Admit::Admitted);
        assert_eq!(f.admit(3, 1), Admit::Wait);
        assert_eq!(stats.reply_bytes(), 3000);
        f.writing(1);
        f.wrote(1);
        assert_eq!(f.admit(3, 2000), Admit::Admitted);
        f.writing(2);
        f.writing(3);
        f.wrote(2);
        f.wrote(3);
        // With nothing in flight one request always goes, however large.
        assert_eq!(f.admit(4, 5000), Admit::Admitted);
        f.writing(4);
        f.wrote(4);
        assert_eq!(stats.reply_bytes(), 0);
        f.close();
        assert_eq!(f.admit(5, 1), Admit::Closed);
    }

    #[test]
    fn reply_bounds() {
        use crate::Score;
        use crate::proto::message::Tread;
        let big = Message::Tread(Tread::new(Score::EMPTY, 0, u32::MAX));
        assert_eq!(reply_bound(Some(&big)), REPLY_HEADER + MAX_BLOCK);
        let small = Message::Tread(Tread::new(Score::EMPTY, 0, 10));
        assert_eq!(reply_bound(Some(&small)), REPLY_HEADER + MAX_STRING);
        assert_eq!(reply_bound(None), REPLY_HEADER + MAX_STRING);
    }
}
