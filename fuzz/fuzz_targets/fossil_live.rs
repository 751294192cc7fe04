//! A live Fossil over arbitrary blocks: open, walk, read, write, save.
//! Input: blocks as `type[1] len[2] data`; the last root block is opened.
#![no_main]
use std::sync::Arc;

use colony_fossil::fossil::{Fossil, FossilOptions, NodeId};
use colony_venti::{BlockStore, BlockType, MemStore, Score};
use libfuzzer_sys::fuzz_target;

fn walk(fs: &Fossil, dir: NodeId, depth: usize, budget: &mut usize) {
    let mut kids = Vec::new();
    let _ = fs.readdir(dir, 0, &mut |e| {
        kids.push(e.meta);
        kids.len() < 32
    });
    for m in kids {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let id = m.qid.path;
        let _ = fs.stat(id);
        let _ = fs.lookup(dir, &m.name);
        if m.is_dir() {
            if depth < 4 {
                walk(fs, id, depth + 1, budget);
            }
        } else {
            let _ = fs.read(id, 0, 1 << 16);
            let _ = fs.read(id, m.length.saturating_sub(10), 100);
            let _ = fs.write(id, m.length / 2, b"fuzz", "f");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let store = MemStore::new();
    let mut root = None;
    let mut at = 0;
    while at + 3 <= data.len() {
        let ty = data[at];
        let len = u16::from_be_bytes([data[at + 1], data[at + 2]]) as usize;
        let body = &data[at + 3..(at + 3 + len).min(data.len())];
        at += 3 + len;
        let Ok(ty) = BlockType::from_wire(ty) else { continue };
        if let Ok(s) = store.write(ty, body)
            && ty == BlockType::ROOT
        {
            root = Some(s);
        }
    }
    let Some(root) = root else { return };
    let opts = FossilOptions {
        local_limit: 1 << 20,
        ..FossilOptions::default()
    };
    let Ok(fs) = Fossil::open(Arc::new(store.clone()), root, opts) else { return };
    let mut budget = 64;
    walk(&fs, fs.root(), 0, &mut budget);
    let _ = fs.create(fs.root(), "new", 0o644, "f");
    let _: Option<Score> = fs.save().ok();
});
