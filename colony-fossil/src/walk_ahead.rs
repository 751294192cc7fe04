//! [`WalkAhead`]: fetches an archive's directory tree ahead of a
//! depth-first walk of it (unvac's), into a [`ReadAhead`].
//!
//! On a tree of small files the walk is otherwise bound by round trips:
//! each directory's listing, then its files' top blocks, then their
//! first leaves, one after the other. Here several threads each take the
//! directory nearest the walk's next steps, list it, fetch all its
//! children's top blocks in one batch (files', and subdirectories'
//! listings, which they queue), then the files' first leaves in a
//! second. The [`ReadAhead`]'s cap bounds the bytes held and in flight;
//! what the walk has passed is neither fetched nor kept.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard};

use colony_venti::BlockStore;

use crate::dir::{Child, DirReader};
use crate::entry::Entry;
use crate::mode::{self, Kind};
use crate::read_ahead::{Pos, ReadAhead, Room, Sharing, Want};
use crate::tree::first_leaves;

/// Children of a directory whose top blocks are asked for in one batch.
const CHILDREN_AHEAD: usize = 128;

/// Threads fetching ahead: directories in flight at once. Two kept the
/// server as busy as four on the vac_net bench's tree of 11,900 small
/// files (unvac 162-166 MB/s against 155-160), for less CPU.
pub const WORKERS: usize = 2;

/// The walk's position after every child of the directory at `pos`:
/// where the directory's own streams are read for the last time.
pub fn dir_end(pos: &[u32]) -> Pos {
    let mut end = pos.to_vec();
    end.push(u32::MAX);
    end
}

/// A directory to fetch ahead.
struct Task {
    pos: Pos,
    dir: Entry,
    meta: Entry,
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        self.pos == other.pos
    }
}

impl Eq for Task {}

impl PartialOrd for Task {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Task {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.pos.cmp(&other.pos)
    }
}

#[derive(Default)]
struct Queue {
    /// Directories not taken yet, nearest the walk first.
    tasks: BinaryHeap<Reverse<Task>>,
    /// Directories being fetched (each may queue more).
    busy: usize,
    stopped: bool,
}

/// Fetches a tree ahead of its walk; run by [`WORKERS`] threads.
pub struct WalkAhead<'r, 'a, S: BlockStore + ?Sized> {
    ahead: &'r ReadAhead<'a, S>,
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl<'r, 'a, S: BlockStore + ?Sized> WalkAhead<'r, 'a, S> {
    /// Fetches ahead from the directory of streams `dir` and `meta`, the
    /// walk's root (at position `[]`).
    pub fn new(ahead: &'r ReadAhead<'a, S>, dir: Entry, meta: Entry) -> Self {
        let mut queue = Queue::default();
        queue.tasks.push(Reverse(Task {
            pos: Vec::new(),
            dir,
            meta,
        }));
        WalkAhead {
            ahead,
            queue: Mutex::new(queue),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the work: every [`WalkAhead::run`] returns soon.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.ahead.stop();
        self.changed.notify_all();
    }

    /// A guard that calls [`WalkAhead::stop`] when dropped.
    pub fn stop_on_drop(&self) -> StopOnDrop<'_, 'r, 'a, S> {
        StopOnDrop(self)
    }

    /// Fetches directories until the tree is done or [`WalkAhead::stop`].
    pub fn run(&self) {
        loop {
            let task = {
                let mut q = self.lock();
                loop {
                    if q.stopped {
                        return;
                    }
                    if let Some(Reverse(t)) = q.tasks.pop() {
                        q.busy += 1;
                        break t;
                    }
                    if q.busy == 0 {
                        // Nothing queued and nobody to queue more.
                        self.changed.notify_all();
                        return;
                    }
                    q = self.changed.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            self.fetch_dir(&task);
            let mut q = self.lock();
            q.busy -= 1;
            if q.busy == 0 && q.tasks.is_empty() {
                // The tree is done: the idle workers end too.
                self.changed.notify_all();
            }
        }
    }

    /// Queues subdirectories for any worker.
    fn queue(&self, dirs: Vec<Task>) {
        if dirs.is_empty() {
            return;
        }
        self.lock().tasks.extend(dirs.into_iter().map(Reverse));
        self.changed.notify_all();
    }

    /// Lists the directory of `task` and fetches its children's top
    /// blocks and first leaves, a batch of children at a time.
    fn fetch_dir(&self, task: &Task) {
        let end = dir_end(&task.pos);
        if self.ahead.passed(&end) {
            return;
        }
        // The walk reads these streams again, up to the directory's end.
        let view = Sharing::new(self.ahead, end);
        let dir = DirReader::new(&view, task.dir, task.meta);
        // A directory that cannot be listed is the walk's to report.
        let Ok(list) = dir.list() else { return };
        for (c, chunk) in list.chunks(CHILDREN_AHEAD).enumerate() {
            let first = (c * CHILDREN_AHEAD) as u32;
            let mut last = task.pos.clone();
            last.push(first + chunk.len() as u32 - 1);
            if self.lock().stopped || self.ahead.passed(&dir_end(&last)) {
                continue;
            }
            let mut tops = Vec::new();
            let mut files = Vec::new();
            let mut dirs = Vec::new();
            for (i, de) in (first..).zip(chunk) {
                let mut pos = task.pos.clone();
                pos.push(i);
                match (mode::kind(de.mode), dir.open(de)) {
                    (Kind::File | Kind::Symlink, Ok(Child::File(e))) => {
                        tops.push(top(&e, pos.clone()));
                        files.push((e, pos));
                    }
                    (Kind::Dir, Ok(Child::Dir { dir, meta })) => {
                        let end = dir_end(&pos);
                        tops.push(top(&dir, end.clone()));
                        tops.push(top(&meta, end));
                        dirs.push(Task { pos, dir, meta });
                    }
                    // Nothing to read, or the walk's to report.
                    _ => {}
                }
            }
            self.ahead.fetch(&tops, Room::Wait);
            self.queue(dirs);
            let leaves: Vec<Want> = files
                .into_iter()
                .flat_map(|(e, pos)| {
                    let key = (e.score, e.top_type());
                    let first = self.ahead.peek(&key, |b| first_leaves(&e, b, LEAVES_AHEAD));
                    first.unwrap_or_default().into_iter().map(move |key| Want {
                        key,
                        most: e.dsize as usize,
                        tag: pos.clone(),
                    })
                })
                .collect();
            self.ahead.fetch(&leaves, Room::Wait);
        }
    }
}

/// Stops a [`WalkAhead`] when dropped ([`WalkAhead::stop_on_drop`]).
pub struct StopOnDrop<'w, 'r, 'a, S: BlockStore + ?Sized>(&'w WalkAhead<'r, 'a, S>);

impl<S: BlockStore + ?Sized> Drop for StopOnDrop<'_, '_, '_, S> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Leaves of a file fetched ahead of the walk: as many as it reads at
/// once.
pub const LEAVES_AHEAD: u64 = 256;

/// The top block of stream `e`, read at `tag`.
fn top(e: &Entry, tag: Pos) -> Want {
    let most = if e.depth == 0 {
        (e.dsize as u64).min(e.size) as usize
    } else {
        e.psize as usize
    };
    Want {
        key: (e.score, e.top_type()),
        most,
        tag,
    }
}
