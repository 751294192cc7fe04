//! Plan 9 ndb text and scorenames records: parsing never panics, and
//! whatever parses writes back to text that parses to the same thing
//! (generic entries, scorenames records and the limits file).
#![no_main]

use colony_core::names::ndb_io;
use colony_core::Limits;
use colony_core::ndb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = ndb::parse(data) {
        for entry in &entries {
            if let Ok(text) = entry.encode() {
                let back = ndb::parse(text.as_bytes()).expect("encoded ndb parses");
                assert_eq!(back.len(), 1);
                assert_eq!(back[0].tuples, entry.tuples);
            }
        }
    }
    if let Ok(records) = ndb_io::import(data) {
        let text = ndb_io::export(&records);
        assert_eq!(ndb_io::import(text.as_bytes()).expect("export imports"), records);
    }
    if let Ok(limits) = Limits::decode(data) {
        assert_eq!(Limits::decode(limits.encode().as_bytes()).unwrap(), limits);
    }
});
