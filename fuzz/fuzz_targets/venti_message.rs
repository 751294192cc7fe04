//! The venti message decoder, frame reader and version-line parser never
//! panic; every message that decodes re-encodes to exactly its bytes, as a
//! body and as a frame.
#![no_main]
use colony_venti::proto::{FrameBuffer, Message, Version, encode_frame};
use libfuzzer_sys::fuzz_target;

fn check_body(version: Version, body: &[u8]) {
    if let Ok((tag, msg)) = Message::decode(body) {
        let mut again = Vec::new();
        msg.encode(tag, &mut again).expect("a decoded message encodes");
        assert_eq!(again, body);
        let mut frame = Vec::new();
        encode_frame(version, tag, &msg, &mut frame).expect("a decoded frame body fits a frame");
        assert_eq!(&frame[version.length_size()..], body);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 { Version::V02 } else { Version::V04 };
    // The whole input as one message body.
    check_body(version, rest);
    // As a stream, maybe led by a version line, arriving in chunks.
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
                    Ok(Some(body)) => check_body(version, body),
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    }
});
