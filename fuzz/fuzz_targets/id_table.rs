#![no_main]
//! passwd/group parsing for the FUSE owner mapping: never panics, and every
//! name the table holds maps to a number that maps back to a name holding
//! the same number.

use colony_ns::fuse::ids::IdTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = IdTable::parse(text, "nobody");
    for line in text.lines() {
        let name = line.split(':').next().unwrap_or("");
        let id = t.id(name);
        assert_eq!(t.id(&t.name(id)), id, "{name:?}");
    }
});
