//! Opening a `vac:` score: the VtRoot, the top-level dir block, the vac
//! and fossil layouts (spec §5.2, §5.8).

use colony_venti::{BlockStore, BlockType, ROOT_SIZE, Score};

use crate::dir::DirReader;
use crate::dir_entry::DirEntry;
use crate::entry::{ENTRY_SIZE, Entry, flags};
use crate::error::{Error, Result};
use crate::meta_block::MetaBlock;
use crate::root::Root;
use crate::tree::TreeReader;

/// An opened archive: reading it cost the root, the top block(s) and the
/// root's MetaBlock; everything below loads on demand.
#[derive(Clone, Debug)]
pub struct Archive {
    /// The root block.
    pub root: Root,
    /// True if the top block had fossil's extra level of indirection.
    pub fossil_layout: bool,
    /// Dir stream of `/`.
    pub dir: Entry,
    /// Meta stream of `/`.
    pub meta: Entry,
    /// The "parent" meta stream holding `/`'s own DirEntry.
    pub parent_meta: Entry,
    /// `/`'s DirEntry.
    pub root_entry: DirEntry,
}

/// Reads the 300-byte root block, requiring exactly 300 bytes back.
pub fn read_root<S: BlockStore + ?Sized>(store: &S, score: &Score) -> Result<Root> {
    let raw = store
        .read(score, BlockType::ROOT)
        .map_err(|e| Error::from(e).in_block(*score))?;
    if Score::of(&raw) != *score {
        return Err(Error::HashMismatch {
            score: *score,
            ty: BlockType::ROOT,
        });
    }
    if raw.len() != ROOT_SIZE {
        return Err(
            Error::format("VtRoot", format!("{} bytes, want {ROOT_SIZE}", raw.len()))
                .in_block(*score),
        );
    }
    let root = Root::decode(&raw).map_err(|e| e.in_block(*score))?;
    root.check_vac().map_err(|e| e.in_block(*score))?;
    Ok(root)
}

impl Archive {
    /// Opens the archive whose root block is `score`.
    pub fn open<S: BlockStore + ?Sized>(store: &S, score: &Score) -> Result<Archive> {
        Archive::from_root(store, read_root(store, score)?)
    }

    /// Opens the archive below a root block already read.
    pub fn from_root<S: BlockStore + ?Sized>(store: &S, root: Root) -> Result<Archive> {
        let bs = root.block_size;
        let mut top = Entry {
            size: 3 * ENTRY_SIZE as u64,
            score: root.score,
            ..Entry::empty((bs / ENTRY_SIZE as u32) * ENTRY_SIZE as u32, bs, true)
        };
        let mut fossil_layout = false;
        loop {
            let block = TreeReader::new(store, top)?.read_leaf(0)?;
            let at = |i| Entry::decode_at(&block, i).map_err(|e| e.in_block(top.score));
            let (e0, e1, e2) = (at(0)?, at(1)?, at(2)?);
            if !e2.is_active() && !fossil_layout && e0.is_active() && e0.dir {
                // Fossil's extra level: entry 0 points at the real top block.
                fossil_layout = true;
                top = e0;
                continue;
            }
            for (i, e) in [(0, &e0), (1, &e1), (2, &e2)] {
                if !e.is_active() {
                    return Err(
                        Error::format("VtEntry", format!("top entry {i} is not active"))
                            .in_block(top.score),
                    );
                }
            }
            if !e0.dir {
                return Err(
                    Error::format("VtEntry", "top entry 0 is not a dir stream").in_block(top.score)
                );
            }
            let mut r = TreeReader::new(store, e2)?;
            if r.leaves() == 0 {
                return Err(Error::format("MetaBlock", "root meta stream is empty"));
            }
            let mscore = r.leaf_score(0)?;
            let mb = MetaBlock::decode(&r.read_leaf(0)?).map_err(|e| e.in_block(mscore))?;
            if mb.slots.is_empty() {
                return Err(Error::format("MetaBlock", "no DirEntry for /").in_block(mscore));
            }
            let root_entry = DirEntry::decode(mb.record(0)).map_err(|e| e.in_block(mscore))?;
            return Ok(Archive {
                root,
                fossil_layout,
                dir: e0,
                meta: e1,
                parent_meta: e2,
                root_entry,
            });
        }
    }

    /// The root directory `/`.
    pub fn root_dir<'a, S: BlockStore + ?Sized>(&self, store: &'a S) -> DirReader<'a, S> {
        DirReader::new(store, self.dir, self.meta)
    }

    /// True if any of the top entries carries vac's Local bit (such
    /// archives are what plan9port vac writes; fossil's `flfmt -v`
    /// rejects them).
    pub fn has_local_bits(&self) -> bool {
        [self.dir, self.meta, self.parent_meta]
            .iter()
            .any(|e| e.flags & flags::LOCAL != 0)
    }
}
