//! The `BlockStore` trait: what every block store offers.

use std::sync::Arc;

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::score::Score;

/// Largest block a store accepts: plan9port's `VtMaxLumpSize`, 56 KiB.
pub const MAX_BLOCK: usize = 57344;

/// A write-once, content-addressed store of blocks.
///
/// Blocks are named by (score, type). Writing a block that exists is a
/// no-op that returns its score. The two special scores
/// ([`Score::EMPTY`], [`Score::NONE`]) read as an empty block and are never
/// stored. Implementations are synchronous and shareable between threads;
/// network code calls them from blocking threads.
///
/// ```
/// use colony_venti::{BlockStore, BlockType, MemStore, Score};
/// let store = MemStore::new();
/// let score = store.write(BlockType::DATA, b"hello").unwrap();
/// assert_eq!(score, Score::of(b"hello"));
/// assert_eq!(store.read(&score, BlockType::DATA).unwrap(), b"hello");
/// assert!(store.read(&score, BlockType::DIR).is_err());
/// let both = store.read_many(&[(score, BlockType::DATA), (Score::of(b"x"), BlockType::DATA)]);
/// assert_eq!(both[0].as_ref().unwrap(), b"hello");
/// assert!(both[1].is_err());
/// ```
pub trait BlockStore: Send + Sync {
    /// Reads the block stored as (score, type), verified against its score.
    /// An absent block is [`Error::NotFound`].
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>>;

    /// Reads many blocks: one result per (score, type), in order, each as
    /// [`BlockStore::read`] would give it. Stores that can overlap the
    /// reads (a remote client keeps them all in flight) override this.
    fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<Result<Vec<u8>>> {
        blocks.iter().map(|(s, t)| self.read(s, *t)).collect()
    }

    /// Reads a block for a reader that hashes it itself (a network client
    /// or a peer checks every block against its score), so that a block
    /// is hashed once per trust boundary: a store with a cheaper check of
    /// its own ([`ArenaStore`](crate::ArenaStore)'s CRC32C) makes that
    /// one instead. The default is [`BlockStore::read`].
    fn read_unhashed(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        self.read(score, ty)
    }

    /// Stores `data` as a block of type `ty` and returns its score. The
    /// bytes are stored exactly as given: callers zero-truncate first
    /// ([`BlockType::truncate`]). Empty data stores nothing and returns
    /// [`Score::EMPTY`]. More than [`MAX_BLOCK`] bytes is [`Error::TooLarge`].
    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score>;

    /// True if (score, type) can be read from this store.
    fn has(&self, score: &Score, ty: BlockType) -> Result<bool>;

    /// Returns once every write acknowledged before the call is durable.
    fn sync(&self) -> Result<()>;
}

/// Checks a write's size, the rule every store shares.
pub fn check_block_size(data: &[u8]) -> Result<()> {
    if data.len() > MAX_BLOCK {
        return Err(Error::TooLarge {
            size: data.len(),
            max: MAX_BLOCK,
        });
    }
    Ok(())
}

macro_rules! forward_block_store {
    ($($ptr:ty),*) => {$(
        impl<S: BlockStore + ?Sized> BlockStore for $ptr {
            fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
                (**self).read(score, ty)
            }
            fn read_many(&self, blocks: &[(Score, BlockType)]) -> Vec<Result<Vec<u8>>> {
                (**self).read_many(blocks)
            }
            fn read_unhashed(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
                (**self).read_unhashed(score, ty)
            }
            fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
                (**self).write(ty, data)
            }
            fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
                (**self).has(score, ty)
            }
            fn sync(&self) -> Result<()> {
                (**self).sync()
            }
        }
    )*};
}

forward_block_store!(Arc<S>, Box<S>, &S);
