//! The same real programs in a FUSE mount of a live Fossil over an
//! in-memory venti store.

#[macro_use]
mod fuse_programs;

use std::sync::Arc;

use colony_fossil::{Fossil, FossilOptions};
use colony_ns::{FileSystem, FossilFs};
use colony_venti::MemStore;

fn fossil() -> Arc<dyn FileSystem> {
    let options = FossilOptions {
        owner: "root".into(),
        ..FossilOptions::default()
    };
    let fossil = Fossil::create_empty(Arc::new(MemStore::new()), options).expect("empty fossil");
    Arc::new(FossilFs::new(Arc::new(fossil)))
}

program_tests!(fossil);

/// The same programs with the options an environment's root is mounted
/// with: the kernel's write-back cache and long-lived names and attributes.
mod sole_writer {
    use super::*;

    program_tests!(fossil, colony_ns::fuse::MountOptions::sole_writer);
}
