//! `MemStore`: a block store in memory, for tests and embedding.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::block_type::BlockType;
use crate::error::{Error, Result};
use crate::score::Score;
use crate::store::{BlockStore, check_block_size};

/// Blocks by name.
type Blocks = HashMap<(Score, BlockType), Arc<[u8]>>;

/// A [`BlockStore`] held in a hash map. Nothing is durable; `sync` is a
/// no-op. Cloning shares the same blocks.
#[derive(Clone, Default)]
pub struct MemStore {
    blocks: Arc<RwLock<Blocks>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Number of blocks stored.
    pub fn len(&self) -> usize {
        self.blocks.read().expect("MemStore lock").len()
    }

    /// True if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BlockStore for MemStore {
    fn read(&self, score: &Score, ty: BlockType) -> Result<Vec<u8>> {
        if score.is_special() {
            return Ok(Vec::new());
        }
        let blocks = self.blocks.read().expect("MemStore lock");
        blocks
            .get(&(*score, ty))
            .map(|b| b.to_vec())
            .ok_or(Error::NotFound { score: *score, ty })
    }

    fn write(&self, ty: BlockType, data: &[u8]) -> Result<Score> {
        check_block_size(data)?;
        if data.is_empty() {
            return Ok(Score::EMPTY);
        }
        let score = Score::of(data);
        let mut blocks = self.blocks.write().expect("MemStore lock");
        blocks.entry((score, ty)).or_insert_with(|| data.into());
        Ok(score)
    }

    fn has(&self, score: &Score, ty: BlockType) -> Result<bool> {
        Ok(score.is_special()
            || self
                .blocks
                .read()
                .expect("MemStore lock")
                .contains_key(&(*score, ty)))
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MAX_BLOCK;

    #[test]
    fn write_read_dedup() {
        let s = MemStore::new();
        let a = s.write(BlockType::DATA, b"fox").unwrap();
        let b = s.write(BlockType::DATA, b"fox").unwrap();
        assert_eq!(a, b);
        assert_eq!(s.len(), 1);
        s.write(BlockType::DIR, b"fox").unwrap();
        assert_eq!(s.len(), 2, "type is part of the name");
        assert!(s.has(&a, BlockType::DATA).unwrap());
        assert!(!s.has(&a, BlockType::ROOT).unwrap());
        let err = s.read(&a, BlockType::ROOT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no block with score {a}/16 exists")
        );
    }

    #[test]
    fn special_scores_and_limits() {
        let s = MemStore::new();
        assert_eq!(s.write(BlockType::DATA, b"").unwrap(), Score::EMPTY);
        assert!(s.is_empty());
        assert_eq!(s.read(&Score::EMPTY, BlockType::DATA).unwrap(), b"");
        assert_eq!(s.read(&Score::NONE, BlockType::DIR).unwrap(), b"");
        assert!(s.write(BlockType::DATA, &vec![1; MAX_BLOCK]).is_ok());
        assert!(matches!(
            s.write(BlockType::DATA, &vec![1; MAX_BLOCK + 1]),
            Err(Error::TooLarge { size, .. }) if size == MAX_BLOCK + 1
        ));
    }
}
