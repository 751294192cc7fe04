//! The committed fuzz corpus (`fuzz/corpus/TARGET/`) replayed through the
//! properties this crate's fuzz targets assert (`colony_venti::fuzz`).

use std::path::{Path, PathBuf};

use colony_venti::fuzz::replay_corpus;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn score_text() {
    replay_corpus(&corpus("score_text"), colony_venti::fuzz::score_text);
}

#[test]
fn arena_records() {
    replay_corpus(&corpus("arena_records"), colony_venti::fuzz::arena_records);
}

#[test]
fn venti_message() {
    replay_corpus(&corpus("venti_message"), colony_venti::fuzz::venti_message);
}
