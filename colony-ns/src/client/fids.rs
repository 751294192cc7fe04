//! Fids on the client side: numbers handed out and taken back, and a
//! handle that clunks its fid when the last user lets go.
//!
//! A number is free again only once the server has answered the Tclunk or
//! Tremove that ended it, so a new fid can never be mistaken for an old
//! one still being torn down.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::conn::Conn;
use crate::error::Result;
use crate::ninep::{NOFID, Rremove, Tclunk, Tremove};

/// The fid numbers of one connection.
#[derive(Default)]
pub(crate) struct FidNumbers {
    state: Mutex<Numbers>,
}

#[derive(Default)]
struct Numbers {
    free: Vec<u32>,
    next: u32,
}

impl FidNumbers {
    fn lock(&self) -> MutexGuard<'_, Numbers> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An unused number (never NOFID).
    pub fn take(&self) -> u32 {
        let mut n = self.lock();
        if let Some(fid) = n.free.pop() {
            return fid;
        }
        let fid = n.next;
        // 2^32 - 1 fids at once is beyond any server; NOFID is skipped.
        n.next = n.next.wrapping_add(1);
        if n.next == NOFID {
            n.next = 0;
        }
        fid
    }

    /// Gives a number back once the server has forgotten it.
    pub fn give_back(&self, fid: u32) {
        self.lock().free.push(fid);
    }

    /// How many numbers are out now.
    #[cfg(test)]
    pub fn outstanding(&self) -> usize {
        let n = self.lock();
        n.next as usize - n.free.len()
    }
}

/// A fid the server holds for us; dropping the handle clunks it (without
/// waiting). Shared as `Arc<Fid>` between the calls using it, so it is
/// clunked only after the last of them.
pub(crate) struct Fid {
    /// `None` once the fid was removed (Tremove also ends the fid).
    conn: Option<Arc<Conn>>,
    /// The number on the wire.
    pub num: u32,
}

impl Fid {
    /// A handle for `num`, which the server has just bound (attach, walk,
    /// create).
    pub fn new(conn: &Arc<Conn>, num: u32) -> Fid {
        Fid {
            conn: Some(conn.clone()),
            num,
        }
    }

    /// Removes the fid's file; the fid ends either way (remove(5)).
    pub fn remove(mut self) -> Result<()> {
        let Some(conn) = self.conn.take() else {
            return Ok(());
        };
        let reply = conn.call::<Rremove>(Tremove { fid: self.num });
        conn.shared.fids.give_back(self.num);
        reply.map(drop)
    }
}

impl Drop for Fid {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let (shared, fid) = (conn.shared.clone(), self.num);
        // Clunk ends the fid even when it fails (clunk(5)); a dead
        // connection takes every fid with it, so the number is free then too.
        conn.start(
            Tclunk { fid }.into(),
            Box::new(move |_| shared.fids.give_back(fid)),
        );
    }
}

/// A fid that must not be given up if the request that would bind it
/// fails: a number reserved for Twalk's newfid or Tattach.
pub(crate) struct NewFid<'a> {
    conn: &'a Arc<Conn>,
    /// The reserved number.
    pub num: u32,
}

impl<'a> NewFid<'a> {
    /// Reserves a number.
    pub fn reserve(conn: &'a Arc<Conn>) -> Self {
        NewFid {
            num: conn.shared.fids.take(),
            conn,
        }
    }

    /// The server bound the number: it is a fid now.
    pub fn bound(self) -> Fid {
        let fid = Fid::new(self.conn, self.num);
        std::mem::forget(self);
        fid
    }
}

impl Drop for NewFid<'_> {
    /// The request failed: the server never bound the number.
    fn drop(&mut self) {
        self.conn.shared.fids.give_back(self.num);
    }
}
