//! Every frame of the recorded plan9port sessions decodes, and re-encodes to
//! the same bytes, in both directions.

mod common;

use colony_ns::ninep::{Fcall, Message};

#[test]
fn recorded_frames_round_trip() {
    let mut total = 0;
    for name in common::SESSIONS {
        let (c2s, s2c) = common::session(name);
        assert!(!c2s.is_empty() && !s2c.is_empty(), "{name}: empty session");
        for frame in c2s.iter().chain(&s2c) {
            let fcall = Fcall::decode(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&fcall.encode().unwrap(), frame, "{name}: {fcall:?}");
            total += 1;
        }
        // Requests are T-messages (even type bytes), replies R-messages (odd).
        assert!(c2s.iter().all(|f| f[4] % 2 == 0), "{name}");
        assert!(s2c.iter().all(|f| f[4] % 2 == 1), "{name}");
    }
    assert_eq!(total, 2 * (12 + 8 + 6 + 11 + 5));
}

#[test]
fn recorded_frames_decode_to_the_transcript() {
    let (c2s, s2c) = common::session("9p-stat-nested");
    let walk = Fcall::decode(&c2s[3]).unwrap();
    let Message::Twalk(walk) = walk.msg else {
        panic!("{walk:?}")
    };
    assert_eq!(walk.wnames, [&b"tiny"[..], b"sub", b"nested.txt"]);
    let stat = Fcall::decode(&s2c[4]).unwrap();
    let Message::Rstat(stat) = stat.msg else {
        panic!("{stat:?}")
    };
    assert_eq!(stat.stat.name, b"nested.txt");
    assert_eq!(
        (stat.stat.qid.path, stat.stat.mode, stat.stat.length),
        (5, 0o644, 7)
    );
    assert_eq!(
        (stat.stat.atime, stat.stat.mtime),
        (981_173_106, 981_173_106)
    );
    assert_eq!(stat.stat.muid, "");
}
