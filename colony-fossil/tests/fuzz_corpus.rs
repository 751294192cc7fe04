//! The committed fuzz corpus (`fuzz/corpus/TARGET/`) replayed through the
//! properties this crate's fuzz targets assert (`colony_fossil::fuzz`).

use std::path::{Path, PathBuf};

use colony_venti::fuzz::replay_corpus;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn fossil_entry() {
    replay_corpus(&corpus("fossil_entry"), colony_fossil::fuzz::fossil_entry);
}

#[test]
fn fossil_root() {
    replay_corpus(&corpus("fossil_root"), colony_fossil::fuzz::fossil_root);
}

#[test]
fn fossil_meta_block() {
    replay_corpus(
        &corpus("fossil_meta_block"),
        colony_fossil::fuzz::fossil_meta_block,
    );
}

#[test]
fn fossil_dir_entry() {
    replay_corpus(
        &corpus("fossil_dir_entry"),
        colony_fossil::fuzz::fossil_dir_entry,
    );
}

#[test]
fn fossil_live() {
    replay_corpus(&corpus("fossil_live"), colony_fossil::fuzz::fossil_live);
}
