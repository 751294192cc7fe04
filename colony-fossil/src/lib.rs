//! colony-fossil: Plan 9 vac archives over a venti [`BlockStore`].
//!
//! * Formats, each a type with `encode`/`decode`: [`Entry`] (VtEntry),
//!   [`Root`] (VtRoot), [`MetaBlock`], [`DirEntry`], mode bits ([`mode`]).
//! * Streams: [`tree`] builds pointer trees bottom-up ([`TreeWriter`]) and
//!   reads them back with zero extension ([`TreeReader`], and
//!   [`StreamReader`] for `io::Read`/`Seek`).
//! * Archives: [`archive::Archive`] opens a `vac:` score (vac and fossil
//!   layouts); [`dir::DirReader`] lists a directory (dir stream + meta
//!   stream).
//! * [`vac`] imports a tree ([`source::Source`]: the local file system or
//!   memory) and [`unvac`] exports an archive to a directory. By default
//!   import is byte-exact with plan9port vac ([`vac::Flavor::Plan9port`]);
//!   [`vac::Flavor::Clean`] writes the spec's recommended form.
//!
//! * `testdata` (feature `testdata`): the plan9port reference recordings
//!   (the tiny vac's blocks in a `MemStore`), shared by the tests of this
//!   crate and of the crates above it.
//! * [`fossil::Fossil`] is the live copy-on-write file system over a
//!   block store: lazy loading, block-granular copy-on-write
//!   ([`cow_tree::CowTree`]), a bounded local store ([`local`]) and `save`.
//! * [`fuzz`]: the properties the fuzz targets assert, replayed on the
//!   committed corpus by `cargo test`.
//!
//! [`BlockStore`]: colony_venti::BlockStore

pub mod archive;
mod bytes;
pub mod cow_tree;
pub mod data_pool;
pub mod dir;
pub mod dir_entry;
pub mod entry;
mod error;
pub mod extension;
pub mod fossil;
pub mod fuzz;
pub mod local;
pub mod meta_block;
pub mod mode;
pub mod name;
mod progress;
pub mod read_ahead;
pub mod root;
pub mod source;
pub mod stream;
#[cfg(feature = "testdata")]
pub mod testdata;
pub mod tree;
pub mod unvac;
pub mod vac;
pub mod walk_ahead;

pub use dir_entry::{DirEntry, Record};
pub use entry::Entry;
pub use error::{Error, Result};
pub use fossil::{Fossil, FossilOptions};
pub use meta_block::{MetaBlock, MetaMagic};
pub use progress::Progress;
pub use root::Root;
pub use stream::StreamReader;
pub use tree::{TreeReader, TreeWriter};
