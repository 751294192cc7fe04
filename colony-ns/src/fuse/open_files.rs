//! Files unlinked while open stay usable until closed, as POSIX requires.
//!
//! A file system that keeps removed files for their holders (a Fossil:
//! [`FileSystem::keep_removed`], until the kernel's FORGET) needs nothing
//! more. Elsewhere the trait's unlink deletes a file's last name and the
//! file at once, so a file still open whose last name goes is renamed to a
//! hidden name in its directory instead (what libfuse's high-level API
//! does) and removed at its last release; a directory holding such a file
//! cannot be removed until it is closed.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::error::Result;
use crate::fs::{FileSystem, Meta, NodeId, SetMeta};

/// The name a file unlinked while open hides under.
pub(crate) fn hidden_name(node: NodeId) -> Vec<u8> {
    format!(".colony_hidden_{node:016x}").into_bytes()
}

#[derive(Default)]
struct Open {
    handles: u64,
    hidden: bool,
}

/// Open handles per node, counted only where something may need hiding:
/// nothing reads them when the file system keeps removed files.
#[derive(Default)]
pub(crate) struct OpenFiles {
    nodes: Mutex<HashMap<NodeId, Open>>,
    /// The file system keeps removed files for their holders
    /// ([`FileSystem::keep_removed`]): nothing is hidden.
    removed_kept: bool,
}

impl OpenFiles {
    fn lock(&self) -> MutexGuard<'_, HashMap<NodeId, Open>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an open handle.
    pub(crate) fn opened(&self, node: NodeId) {
        if self.removed_kept {
            return;
        }
        self.lock().entry(node).or_default().handles += 1;
    }

    /// The table for a file system that keeps removed files for their
    /// holders (`removed_kept`), or not.
    pub(crate) fn new(removed_kept: bool) -> Self {
        OpenFiles {
            removed_kept,
            ..OpenFiles::default()
        }
    }

    /// Whether removing `node` now would take it from a holder: it is open
    /// and the file system does not keep removed files.
    pub(crate) fn must_hide(&self, node: NodeId) -> bool {
        !self.removed_kept && self.lock().contains_key(&node)
    }

    /// Records a release; removes the node if it was the last handle of a
    /// file unlinked meanwhile.
    pub(crate) fn released(&self, fs: &dyn FileSystem, node: NodeId) -> Result<()> {
        let mut nodes = self.lock();
        let Some(open) = nodes.get_mut(&node) else {
            return Ok(());
        };
        open.handles -= 1;
        if open.handles > 0 {
            return Ok(());
        }
        let hidden = open.hidden;
        nodes.remove(&node);
        if hidden {
            fs.remove(node)?;
        }
        Ok(())
    }

    /// Unlinks `file`'s name `at` (directory, name): removes the name, or
    /// hides it if it is the open file's last (and the file system would
    /// not keep it). The table stays locked throughout so no open slips in
    /// between.
    pub(crate) fn unlink(
        &self,
        fs: &dyn FileSystem,
        at: (NodeId, &[u8]),
        file: &Meta,
        user: &str,
    ) -> Result<()> {
        if self.removed_kept {
            return fs.unlink(at.0, at.1);
        }
        let mut nodes = self.lock();
        match nodes.get_mut(&file.node()) {
            Some(open) if !open.hidden && file.nlink <= 1 => {
                let hide = SetMeta {
                    name: Some(hidden_name(file.node())),
                    ..SetMeta::default()
                };
                fs.wstat(file.node(), &hide, user)?;
                open.hidden = true;
                Ok(())
            }
            _ => fs.unlink(at.0, at.1),
        }
    }
}
