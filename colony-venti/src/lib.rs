//! colony-venti: a write-once, content-addressed block store and the Plan 9
//! venti protocol.
//!
//! A block's address is its SHA-1 [`Score`]; a block is named by the pair
//! (score, [`BlockType`]). Every store implements [`BlockStore`]:
//! [`MemStore`] in memory for tests and embedding; further implementations
//! (arena files, a remote venti server, a read-through cache) live beside it.
//! With the `conformance` feature, `conformance` holds the checks every
//! store must pass. [`fuzz`] holds the properties the fuzz targets assert,
//! replayed on the committed corpus by `cargo test`.

pub mod address;
pub mod arena;
mod block_type;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod fuzz;
pub mod length_frame;
mod marker;
mod mem;
pub mod private;
pub mod proto;
mod score;
mod store;

pub use arena::{ArenaStore, Config as ArenaConfig};
pub use block_type::{BlockType, ROOT_SIZE};
pub use error::{Error, Result};
pub use marker::{DATA_MARKER, is_data_dir, mark_data_dir};
pub use mem::MemStore;
pub use score::{Score, ScoreProblem};
pub use store::{BlockStore, MAX_BLOCK, check_block_size};
