//! The committed fuzz corpus (`fuzz/corpus/TARGET/`) replayed through the
//! properties this crate's fuzz targets assert (`colony_ns::fuzz`).

use std::path::{Path, PathBuf};

use colony_venti::fuzz::replay_corpus;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn ninep_message() {
    replay_corpus(&corpus("ninep_message"), colony_ns::fuzz::ninep_message);
}

#[test]
fn id_table() {
    replay_corpus(&corpus("id_table"), colony_ns::fuzz::id_table);
}

#[test]
fn cpu_frame() {
    replay_corpus(&corpus("cpu_frame"), colony_ns::fuzz::cpu_frame);
}
