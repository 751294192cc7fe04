//! Every block plan9port vac wrote decodes and encodes back to the same
//! bytes; the §7.4 golden archive decodes to what the spec says.

mod common;

use colony_fossil::{DirEntry, Entry, MetaBlock, Root, entry::ENTRY_SIZE};
use colony_venti::{BlockType, Score};

fn check_block(ty: BlockType, data: &[u8]) -> &'static str {
    if ty == BlockType::ROOT {
        let r = Root::decode(data).unwrap();
        assert_eq!(&r.encode().unwrap()[..], data);
        "root"
    } else if ty == BlockType::DIR {
        let mut full = data.to_vec();
        full.resize(data.len().div_ceil(ENTRY_SIZE) * ENTRY_SIZE, 0);
        let mut again = Vec::new();
        for c in full.chunks(ENTRY_SIZE) {
            again.extend_from_slice(&Entry::decode(c).unwrap().encode().unwrap());
        }
        assert_eq!(BlockType::DIR.truncate(&again), data);
        "dir"
    } else if ty.is_pointer() {
        assert_eq!(data.len() % Score::SIZE, 0);
        "pointer"
    } else if data.starts_with(&[0x56, 0x56, 0xfc]) {
        let mut full = data.to_vec();
        full.resize(8192, 0);
        let mb = MetaBlock::decode(&full).unwrap();
        assert_eq!(BlockType::DATA.truncate(&mb.encode()), data);
        for i in 0..mb.slots.len() {
            let rec = mb.record(i);
            assert_eq!(DirEntry::decode(rec).unwrap().encode().unwrap(), rec);
        }
        "meta"
    } else {
        "data"
    }
}

#[test]
fn tiny_vac_blocks_round_trip() {
    let blocks = common::twrites("tiny-vac/tiny-vac.c2s");
    assert_eq!(blocks.len(), 16);
    let kinds: Vec<_> = blocks.iter().map(|(t, d)| check_block(*t, d)).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "meta").count(), 5);
    assert_eq!(kinds.iter().filter(|k| **k == "dir").count(), 5);
    assert_eq!(Score::of(&blocks[15].1).to_string(), common::TINY_SCORE);
}

/// The golden archive's blocks, in file order: (wire type, bytes).
pub fn golden() -> Vec<(BlockType, Vec<u8>)> {
    let text = std::fs::read_to_string(common::testdata().join("golden/golden-archive-blocks.txt"))
        .unwrap();
    let mut out = Vec::new();
    let mut ty = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### ") {
            let w = rest.split("wire type ").nth(1).unwrap();
            ty = Some(BlockType::from_wire(w.split(',').next().unwrap().parse().unwrap()).unwrap());
        } else if let Some(t) = ty.take() {
            out.push((t, hex::decode(line).unwrap()));
        }
    }
    out
}

#[test]
fn golden_blocks_round_trip() {
    let g = golden();
    assert_eq!(g.len(), 6);
    for (t, d) in &g {
        check_block(*t, d);
    }
    let root = Root::decode(&g[5].1).unwrap();
    assert_eq!(
        Score::of(&g[5].1).to_string(),
        "eb4aba5d0e5d4e0290b6af2186137197087c12bf"
    );
    assert_eq!(root.score, Score::of(&g[4].1));
    let mut mb = g[3].1.clone();
    mb.resize(8192, 0);
    let de = MetaBlock::decode(&mb).unwrap().entries().unwrap().remove(0);
    assert_eq!(de.elem, b"/");
    assert_eq!(de.qid_space(), Some((0, 1)));
}
