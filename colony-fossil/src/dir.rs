//! Reading one directory: its dir stream of VtEntries and its meta stream
//! of MetaBlocks (spec §5.1, §5.4). Shared by unvac and the live file
//! system.

use std::sync::Mutex;

use colony_venti::BlockStore;

use crate::dir_entry::DirEntry;
use crate::entry::{ENTRY_SIZE, Entry};
use crate::error::{Error, Result};
use crate::meta_block::MetaBlock;
use crate::mode;
use crate::name;
use crate::tree::TreeReader;

/// The entries of `mb`, one block of a directory's meta stream, refusing
/// the block with [`Error::BadEntryName`] if any name cannot name a file.
/// Every reader of a directory's children (unvac, the live file system
/// and so the FUSE and 9P servers) decodes them here or through
/// [`DirReader::lookup`]: names from an archive are checked in this one
/// place. (A root's block holds `/` and is read with
/// [`MetaBlock::entries`].)
pub fn child_entries(mb: &MetaBlock) -> Result<Vec<DirEntry>> {
    mb.entries()?.into_iter().map(checked_child).collect()
}

fn checked_child(de: DirEntry) -> Result<DirEntry> {
    match name::check_form(&de.elem) {
        Ok(()) => Ok(de),
        Err(fault) => Err(Error::BadEntryName {
            name: de.elem,
            fault,
        }),
    }
}

/// The streams a DirEntry points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    /// A file (or symlink, pipe, device): one data stream.
    File(Entry),
    /// A directory: its dir stream and its meta stream.
    Dir {
        /// Stream of the children's VtEntries.
        dir: Entry,
        /// Stream of the children's MetaBlocks.
        meta: Entry,
    },
}

/// A directory inside an archive.
pub struct DirReader<'a, S: BlockStore + ?Sized> {
    store: &'a S,
    dir: Entry,
    meta: Entry,
    /// The dir stream's leaf read last, by number: opening the children
    /// in turn reads each leaf once.
    entries: Mutex<Option<(u64, Vec<u8>)>>,
}

impl<'a, S: BlockStore + ?Sized> DirReader<'a, S> {
    /// The directory made of these two streams.
    pub fn new(store: &'a S, dir: Entry, meta: Entry) -> DirReader<'a, S> {
        DirReader {
            store,
            dir,
            meta,
            entries: Mutex::new(None),
        }
    }

    /// Every MetaBlock of the meta stream, in order.
    pub fn meta_blocks(&self) -> Result<Vec<MetaBlock>> {
        let mut r = TreeReader::new(self.store, self.meta)?;
        let ty = self.meta.leaf_type();
        r.read_leaves(0..r.leaves())?
            .into_iter()
            .map(|(score, mut block)| {
                ty.extend(&mut block, self.meta.dsize as usize);
                MetaBlock::decode(&block).map_err(|e| e.in_block(score))
            })
            .collect()
    }

    /// Every DirEntry, block by block and in slot order within a block;
    /// [`Error::BadEntryName`] if a name cannot name a file.
    pub fn list(&self) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for mb in self.meta_blocks()? {
            out.extend(child_entries(&mb)?);
        }
        Ok(out)
    }

    /// The child named `name`, found by binary search in each block as
    /// unvac and vacfs do; [`Error::BadEntryName`] if the archive holds
    /// an entry named `name` that cannot name a file (such as `..`).
    pub fn lookup(&self, name: &[u8]) -> Result<Option<DirEntry>> {
        for mb in self.meta_blocks()? {
            if let Some(de) = mb.lookup(name)? {
                return checked_child(de).map(Some);
            }
        }
        Ok(None)
    }

    /// VtEntry `index` of the dir stream.
    pub fn entry(&self, index: u32) -> Result<Entry> {
        let mut r = TreeReader::new(self.store, self.dir)?;
        let epb = (self.dir.dsize as usize / ENTRY_SIZE) as u64;
        if epb == 0 {
            return Err(Error::format("VtEntry", "dir stream dsize below one entry"));
        }
        let bn = index as u64 / epb;
        if bn >= r.leaves() {
            return Err(Error::format(
                "VtEntry",
                format!(
                    "index {index} past the dir stream of {} bytes",
                    self.dir.size
                ),
            ));
        }
        let mut last = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().is_none_or(|(n, _)| *n != bn) {
            *last = Some((bn, r.read_leaf(bn)?));
        }
        let (_, block) = last.as_ref().expect("just read");
        Entry::decode_at(block, (index as u64 % epb) as usize)
    }

    /// The streams of `de`, with libvac's consistency checks: the entries
    /// are active, their Dir flags match the mode, and the gens match.
    pub fn open(&self, de: &DirEntry) -> Result<Child> {
        let get = |index: u32, generation: u32, dir: bool| -> Result<Entry> {
            let e = self.entry(index)?;
            if !e.is_active() || e.generation != generation {
                return Err(Error::format(
                    "DirEntry",
                    format!("entry {index} has been removed"),
                ));
            }
            if e.dir != dir {
                return Err(Error::format(
                    "DirEntry",
                    format!("entry {index}: Dir flag does not match the mode"),
                ));
            }
            e.check()
        };
        if de.mode & mode::DIR != 0 {
            Ok(Child::Dir {
                dir: get(de.entry, de.generation, true)?,
                meta: get(de.mentry, de.mgen, false)?,
            })
        } else {
            Ok(Child::File(get(de.entry, de.generation, false)?))
        }
    }
}
