//! [`FossilFs`]: a live [`Fossil`] as a [`FileSystem`], so the 9P server
//! (and FUSE) can serve it.
//!
//! The Fossil already speaks this trait's language (node ids are qid
//! paths, root 0; Plan 9 mode bits; the trait's own `Meta`, `SetMeta` and
//! `DirEntry` types), so every method is a call. Fossil's errors become this
//! crate's variants with Plan 9's texts; failures of the storage behind it
//! (missing or damaged blocks, a store that fails) become
//! [`Error::Other`] with the text `i/o error: …`, which names the block's
//! score.
//!
//! Known differences from plan9port's vacfs serving the same archive:
//! directories list in slot order (the order entries were made, which
//! keeps readdir cookies stable while the directory changes) where vacfs
//! lists in MetaBlock order (sorted by name within each block). The `aname`
//! of an attach is ignored, as vacfs does.
//!
//! Saving is the owner's business ([`Fossil::save`], e.g. `colony 9p
//! serve` on a signal). A sync (FUSE's fsync and fsyncdir, a 9P client's
//! Twstat that changes nothing) does what the owner's [`Checkpoint`] does
//! (a grid node's: save and record the root, so the environment comes back
//! after a crash); without one it does nothing, since nobody would learn
//! the new score.

use std::sync::Arc;

use colony_fossil::Fossil;

use crate::error::{Error, Result};
use crate::fs::{
    Allocate, DirEntry, FileSystem, Meta, NewFile, NodeId, RenameMode, Seek, SetMeta, Space,
    XattrMode,
};
use crate::ninep::error_strings as es;

/// A [`Fossil`] served as a [`FileSystem`]. It shares the Fossil, so its
/// owner can [`Fossil::save`] while it is being served.
#[derive(Clone)]
pub struct FossilFs {
    fossil: Arc<Fossil>,
    checkpoint: Option<Arc<dyn Checkpoint>>,
}

/// What a sync of a [`FossilFs`] does: make every change so far durable,
/// with a root to recover them from, before the sync returns.
pub trait Checkpoint: Send + Sync {
    /// Makes the tree's changes so far durable; the error's text is what
    /// the syncing program is told (as an I/O error).
    fn checkpoint(&self) -> std::result::Result<(), String>;
}

impl FossilFs {
    /// Serves `fossil`; a sync does nothing.
    pub fn new(fossil: Arc<Fossil>) -> Self {
        FossilFs::serving(fossil, None)
    }

    /// Serves `fossil`; a sync calls `checkpoint` and returns when it has.
    pub fn with_checkpoint(fossil: Arc<Fossil>, checkpoint: Arc<dyn Checkpoint>) -> Self {
        FossilFs::serving(fossil, Some(checkpoint))
    }

    /// Both, with a thread that writes dirty blocks to venti early so that
    /// writes do not wait for it ([`Fossil::relieve_in_background`]; it
    /// ends with the fossil).
    fn serving(fossil: Arc<Fossil>, checkpoint: Option<Arc<dyn Checkpoint>>) -> Self {
        if let Err(e) = Fossil::relieve_in_background(&fossil) {
            // Writers then do it themselves, as they wait.
            tracing::warn!("no relief thread for a fossil: {e}");
        }
        FossilFs { fossil, checkpoint }
    }

    /// The Fossil served.
    pub fn fossil(&self) -> &Arc<Fossil> {
        &self.fossil
    }
}

impl From<colony_fossil::Error> for Error {
    fn from(e: colony_fossil::Error) -> Self {
        use colony_fossil::Error as F;
        match e {
            F::NotFound => Error::NotFound,
            F::Exists => Error::Exists,
            F::NotDir => Error::NotDir,
            F::IsDir => Error::IsDir,
            F::NotEmpty => Error::NotEmpty,
            F::BadName { fault, .. } => fault.into(),
            F::DirBit => Error::DirBit,
            F::DirLength => Error::DirLength,
            F::RemoveRoot => Error::RemoveRoot,
            F::NotSymlink => Error::NotSymlink,
            F::PastEnd => Error::PastEnd,
            F::TooLarge(_) => Error::TooLarge,
            // Plan 9 refuses a move into oneself as a bad path.
            F::MoveIntoSelf => Error::BadName,
            F::NoAttr => Error::NoAttr,
            F::BadXattrName(n) => Error::BadXattrName(n),
            F::NoSpace => Error::NoSpace,
            storage @ (F::Venti(_)
            | F::Format { .. }
            // An archive's entry that cannot name a file: a damaged
            // directory, never shown under its name.
            | F::BadEntryName { .. }
            | F::HashMismatch { .. }
            | F::InBlock { .. }
            | F::AtPath { .. }
            | F::Unrepresentable(_)
            | F::Io { .. }) => Error::Other(format!("{}: {storage}", es::IO_ERROR)),
        }
    }
}

impl FileSystem for FossilFs {
    fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeId> {
        // Loads the root now, so a damaged archive fails the attach.
        let root = self.fossil.root();
        self.fossil.stat(root)?;
        Ok(root)
    }

    fn stat(&self, node: NodeId) -> Result<Meta> {
        Ok(self.fossil.stat(node)?)
    }

    fn lookup(&self, dir: NodeId, name: &[u8]) -> Result<Meta> {
        Ok(self.fossil.lookup(dir, name)?)
    }

    fn parent(&self, node: NodeId) -> Result<Meta> {
        Ok(self.fossil.parent(node)?)
    }

    fn read(&self, node: NodeId, offset: u64, count: u32) -> Result<Vec<u8>> {
        Ok(self.fossil.read(node, offset, count)?)
    }

    fn write(&self, node: NodeId, offset: u64, data: &[u8], user: &str) -> Result<u32> {
        Ok(self.fossil.write(node, offset, data, user)?)
    }

    fn create(&self, dir: NodeId, name: &[u8], perm: u32, user: &str) -> Result<Meta> {
        Ok(self.fossil.create(dir, name, perm, user)?)
    }

    fn remove(&self, node: NodeId) -> Result<()> {
        Ok(self.fossil.remove(node)?)
    }

    fn wstat(&self, node: NodeId, change: &SetMeta, user: &str) -> Result<Meta> {
        Ok(self.fossil.wstat(node, change, user)?)
    }

    fn rename(&self, node: NodeId, dir: NodeId, name: &[u8], user: &str) -> Result<Meta> {
        Ok(self.fossil.rename(node, dir, name, user)?)
    }

    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()> {
        Ok(self.fossil.readdir(dir, cookie, sink)?)
    }

    fn make(&self, dir: NodeId, name: &[u8], new: &NewFile<'_>) -> Result<Meta> {
        Ok(self.fossil.make(dir, name, new)?)
    }

    fn rename_as(
        &self,
        node: NodeId,
        dir: NodeId,
        name: &[u8],
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        Ok(self.fossil.rename_as(node, dir, name, mode, user)?)
    }

    fn link(&self, node: NodeId, dir: NodeId, name: &[u8]) -> Result<Meta> {
        Ok(self.fossil.link(node, dir, name)?)
    }

    fn unlink(&self, dir: NodeId, name: &[u8]) -> Result<()> {
        Ok(self.fossil.unlink(dir, name)?)
    }

    fn rename_at(
        &self,
        from: (NodeId, &[u8]),
        to: (NodeId, &[u8]),
        mode: RenameMode,
        user: &str,
    ) -> Result<Meta> {
        Ok(self.fossil.rename_at(from, to, mode, user)?)
    }

    fn getxattr(&self, node: NodeId, name: &[u8]) -> Result<Vec<u8>> {
        Ok(self.fossil.getxattr(node, name)?)
    }

    fn listxattr(&self, node: NodeId) -> Result<Vec<Vec<u8>>> {
        Ok(self.fossil.listxattr(node)?)
    }

    fn setxattr(&self, node: NodeId, name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        Ok(self.fossil.setxattr(node, name, value, mode)?)
    }

    fn removexattr(&self, node: NodeId, name: &[u8]) -> Result<()> {
        Ok(self.fossil.removexattr(node, name)?)
    }

    fn sync(&self, _node: NodeId) -> Result<()> {
        // A checkpoint covers the whole tree: the node's changes and the
        // names that reach it.
        match &self.checkpoint {
            Some(c) => c
                .checkpoint()
                .map_err(|e| Error::Other(format!("{}: sync: {e}", es::IO_ERROR))),
            None => Ok(()),
        }
    }

    fn keep_removed(&self) -> bool {
        self.fossil.keep_removed();
        true
    }

    fn forget(&self, node: NodeId) {
        self.fossil.forget(node);
    }

    fn readlink(&self, node: NodeId) -> Result<Vec<u8>> {
        Ok(self.fossil.readlink(node)?)
    }

    fn seek_data(&self, node: NodeId, offset: u64, whence: Seek) -> Result<u64> {
        Ok(self.fossil.seek_data(node, offset, whence)?)
    }

    fn allocate(
        &self,
        node: NodeId,
        offset: u64,
        len: u64,
        how: Allocate,
        user: &str,
    ) -> Result<()> {
        Ok(self.fossil.allocate(node, offset, len, how, user)?)
    }

    /// The live Fossil's local store: its dirty bytes and its limit.
    fn space(&self) -> Option<Space> {
        Some(self.fossil.space())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use colony_fossil::Error as F;
    use colony_fossil::name::NameFault;
    use colony_venti::{BlockType, Score};

    #[test]
    fn fossil_errors_become_plan9_texts() {
        let cases = [
            (F::NotFound, es::NOT_FOUND),
            (F::Exists, es::EXISTS),
            (F::NotDir, es::NOT_DIR),
            (F::IsDir, es::IS_DIR),
            (F::NotEmpty, es::NOT_EMPTY),
            (
                F::BadName {
                    name: b"a/b".to_vec(),
                    fault: NameFault::Slash,
                },
                es::BAD_NAME,
            ),
            (
                F::BadName {
                    name: vec![b'x'; 256],
                    fault: NameFault::TooLong(256),
                },
                es::FILE_NAME_TOO_LONG,
            ),
            (F::DirBit, es::DIR_BIT),
            (F::DirLength, es::DIR_LENGTH),
            (F::RemoveRoot, es::REMOVE_ROOT),
            (F::NotSymlink, es::NOT_SYMLINK),
            (F::PastEnd, es::PAST_END),
            (F::TooLarge(1 << 49), es::TOO_LARGE),
            (F::MoveIntoSelf, es::BAD_NAME),
        ];
        for (from, text) in cases {
            assert_eq!(Error::from(from).to_string(), text);
        }
    }

    #[test]
    fn storage_errors_are_io_errors_naming_the_block() {
        let score = Score::of(b"x");
        let missing = colony_venti::Error::NotFound {
            score,
            ty: BlockType::DATA,
        };
        let damaged = F::format("MetaBlock", "bad magic").in_block(score);
        let mismatch = F::HashMismatch {
            score,
            ty: BlockType::DATA,
        };
        for e in [F::Venti(missing), damaged, mismatch] {
            let text = Error::from(e).to_string();
            assert!(text.starts_with("i/o error: "), "{text}");
            assert!(text.contains(&score.to_string()), "{text}");
        }
    }

    #[test]
    fn a_hostile_entry_name_is_an_io_error_naming_entry_and_directory() {
        let e = F::BadEntryName {
            name: b"../x".to_vec(),
            fault: NameFault::Slash,
        }
        .at_path("d");
        let text = Error::from(e).to_string();
        assert!(text.starts_with("i/o error: d: "), "{text}");
        assert!(text.contains("\"../x\""), "{text}");
    }
}
