//! The arena record decoders (clump header, arena head and trailer, index
//! header, entry and bucket, saved bloom filter) never panic, and what decodes re-encodes to
//! the same bytes.
#![no_main]
use colony_venti::Score;
use colony_venti::arena::clump::ClumpHeader;
use colony_venti::arena::head::{ArenaHead, ArenaTrailer};
use colony_venti::arena::format::PAGE_SIZE;
use colony_venti::arena::bucket::{Bucket, IndexEntry, IndexHeader};
use colony_venti::arena::saved_bloom;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ClumpHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..ClumpHeader::SIZE]);
        // Unpacking arbitrary stored bytes fails cleanly or yields uncsize bytes.
        if let Some(stored) = data[ClumpHeader::SIZE..].get(..usize::from(h.size))
            && let Ok(block) = h.unpack(stored)
        {
            assert_eq!(block.len(), usize::from(h.uncsize));
        }
    }
    if let Ok(h) = ArenaHead::decode(data) {
        assert_eq!(&h.encode()[..], &data[..ArenaHead::SIZE]);
    }
    if let Ok(t) = ArenaTrailer::decode(data) {
        assert_eq!(&t.encode()[..], &data[..ArenaTrailer::SIZE]);
    }
    if let Ok(h) = IndexHeader::decode(data) {
        assert_eq!(&h.encode()[..], &data[..IndexHeader::SIZE]);
    }
    if let Ok(e) = IndexEntry::decode(data) {
        assert_eq!(&e.encode()[..], &data[..IndexEntry::SIZE]);
    }
    if let Ok((state, bloom)) = saved_bloom::decode(data) {
        assert_eq!(saved_bloom::encode(&state, &bloom), data);
    }
    // A bucket is a whole page: pad short inputs with zeros.
    let mut page = data.to_vec();
    page.resize(PAGE_SIZE, 0);
    let decoded = Bucket::decode(&page);
    if let Ok(b) = &decoded {
        assert_eq!(b.encode(), page);
    }
    // The lookup fast path agrees with the full decoder wherever that succeeds.
    let probe = Score::from_slice(&page[8..28]);
    let ty = colony_venti::BlockType::from_wire(page[28]).unwrap_or(colony_venti::BlockType::DATA);
    if let (Ok(b), Ok(found)) = (&decoded, Bucket::find_in_page(&page, &probe, ty)) {
        assert_eq!(found, b.find(&probe, ty).copied());
    }
});
