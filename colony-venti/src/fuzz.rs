//! The properties this crate's fuzz targets assert, kept in the library
//! (as rustls keeps its `fuzz_message`) so that `cargo test` replays the
//! committed corpus (`fuzz/corpus/TARGET/`) on stable and the fuzzer and
//! the tests can never check different things.
//!
//! Each property takes arbitrary bytes, must never panic on its own, and
//! panics (an assertion) only when a decoder breaks its contract: what
//! decodes must encode back to the same bytes or the same value.
//!
//! ```
//! colony_venti::fuzz::score_text(b"2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
//! ```

use std::path::Path;

use crate::arena::bucket::{Bucket, IndexEntry, IndexHeader};
use crate::arena::clump::ClumpHeader;
use crate::arena::format::PAGE_SIZE;
use crate::arena::head::{ArenaHead, ArenaTrailer};
use crate::arena::saved_bloom;
use crate::proto::{FrameBuffer, Message, Version, encode_frame};
use crate::{BlockType, Score};

/// Runs `property` on every file of the corpus folder `dir`, naming the
/// file that fails. An empty or missing folder fails: a target without
/// seeds would replay nothing.
pub fn replay_corpus(dir: &Path, property: fn(&[u8])) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| property(&data)).is_err() {
            panic!("{} breaks its fuzz property", file.display());
        }
    }
}

/// `fuzz_targets/score_text`: score text that parses prints back the same.
pub fn score_text(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(score) = text.parse::<Score>()
    {
        assert_eq!(score.to_string().parse::<Score>().unwrap(), score);
    }
}

/// `fuzz_targets/arena_records`: the arena record decoders (clump header,
/// arena head and trailer, index header, entry and bucket, saved bloom
/// filter) re-encode what they decode to the same bytes, and the bucket
/// lookup fast path agrees with the full decoder.
pub fn arena_records(data: &[u8]) {
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
    let probe = Score::from_slice(&page[8..28]);
    let ty = BlockType::from_wire(page[28]).unwrap_or(BlockType::DATA);
    if let (Ok(b), Ok(found)) = (&decoded, Bucket::find_in_page(&page, &probe, ty)) {
        assert_eq!(found, b.find(&probe, ty).copied());
    }
}

/// `fuzz_targets/venti_message`: the message decoder, frame reader and
/// version-line parser; every message that decodes re-encodes to exactly
/// its bytes, as a body and as a frame.
///
/// The first byte picks the framing (bit 0: version 04, else 02), whether
/// a version line leads (bit 1) and the chunk size the stream arrives in
/// (the other bits, plus one); the rest is the body and the stream.
pub fn venti_message(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 {
        Version::V02
    } else {
        Version::V04
    };
    check_venti_body(version, rest);
    let mut line_pending = mode & 2 != 0;
    let chunk = usize::from(mode >> 2) + 1;
    let mut buf = FrameBuffer::new();
    for mut piece in rest.chunks(chunk) {
        while !piece.is_empty() {
            let spare = buf.spare();
            let n = spare.len().min(piece.len());
            spare[..n].copy_from_slice(&piece[..n]);
            buf.filled(n);
            piece = &piece[n..];
            if line_pending {
                match buf.take_line() {
                    Ok(Some(line)) => {
                        let _ = Version::negotiate(&line);
                        line_pending = false;
                    }
                    Ok(None) => continue,
                    Err(_) => return,
                }
            }
            loop {
                match buf.next_frame(version) {
                    Ok(Some(body)) => check_venti_body(version, body),
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    }
}

fn check_venti_body(version: Version, body: &[u8]) {
    if let Ok((tag, msg)) = Message::decode(body) {
        let mut again = Vec::new();
        msg.encode(tag, &mut again)
            .expect("a decoded message encodes");
        assert_eq!(again, body);
        let mut frame = Vec::new();
        encode_frame(version, tag, &msg, &mut frame).expect("a decoded frame body fits a frame");
        assert_eq!(&frame[version.length_size()..], body);
    }
}

#[cfg(test)]
mod tests {
    /// An input the fuzzer found: a saved bloom filter whose checksum
    /// holds but whose size field is out of range.
    const BLOOM_SIZE_OVERFLOW: &[u8] = &[
        99, 111, 108, 66, 0, 0, 0, 1, 0, 0, 99, 111, 108, 67, 13, 2, 0, 54, 133, 40, 1, 200, 89,
        120, 84, 99, 111, 108, 73, 0, 0, 99, 111, 108, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 26,
        0, 155, 155, 155, 51, 131, 124, 244, 155, 255, 255, 255, 32, 255, 255, 155,
    ];

    #[test]
    fn found_by_fuzzing() {
        super::arena_records(BLOOM_SIZE_OVERFLOW);
    }
}
