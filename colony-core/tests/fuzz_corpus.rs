//! The committed fuzz corpus (`fuzz/corpus/TARGET/`) replayed through the
//! properties this crate's fuzz targets assert (`colony_core::fuzz`).

use std::path::{Path, PathBuf};

use colony_venti::fuzz::replay_corpus;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn grid_rpc() {
    replay_corpus(&corpus("grid_rpc"), colony_core::fuzz::grid_rpc);
}

#[test]
fn ndb_records() {
    replay_corpus(&corpus("ndb_records"), colony_core::fuzz::ndb_records);
}

#[test]
fn peer_wire() {
    replay_corpus(&corpus("peer_wire"), colony_core::fuzz::peer_wire);
}
