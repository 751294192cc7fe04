//! File names: bytes, as Linux has them. A name is any bytes but NUL and
//! `/`, not empty, `.` or `..`; vac stores it as a length-prefixed byte
//! string, so names that are not UTF-8 (`b"caf\xe9"`) are kept exactly.
//! Every layer (the live file system, FUSE, 9P, vac and unvac) passes
//! names as `&[u8]` and checks them here.

use std::fmt;

/// The longest name a file may be given (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;

/// Why bytes cannot name a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameFault {
    /// No bytes at all.
    #[error("the name is empty")]
    Empty,
    /// `.` or `..`, which name the directory and its parent.
    #[error("\".\" and \"..\" are not file names")]
    Dots,
    /// A `/`, which separates names in a path.
    #[error("the name holds '/'")]
    Slash,
    /// A NUL byte, which ends a C string.
    #[error("the name holds NUL")]
    Nul,
    /// Longer than [`NAME_MAX`] bytes.
    #[error("the name is {0} bytes long, the most is {NAME_MAX}")]
    TooLong(usize),
}

/// Whether `name` has the form of a file name (not empty, `.` or `..`, no
/// `/` or NUL), whatever its length: the rule for names read from an
/// archive, which a system with longer names than Linux's may have made.
pub fn check_form(name: &[u8]) -> Result<(), NameFault> {
    if name.is_empty() {
        Err(NameFault::Empty)
    } else if name == b"." || name == b".." {
        Err(NameFault::Dots)
    } else if name.contains(&b'/') {
        Err(NameFault::Slash)
    } else if name.contains(&0) {
        Err(NameFault::Nul)
    } else {
        Ok(())
    }
}

/// Whether `name` may be given to a file: [`check_form`], and at most
/// [`NAME_MAX`] bytes.
pub fn check(name: &[u8]) -> Result<(), NameFault> {
    check_form(name)?;
    if name.len() > NAME_MAX {
        return Err(NameFault::TooLong(name.len()));
    }
    Ok(())
}

/// Shows a name in a message: its UTF-8 as text (control characters, `"`
/// and `\` escaped as Rust does), other bytes as `\xNN`, so that nothing
/// is lost or mistaken ([`show`]).
#[derive(Clone, Copy)]
pub struct Shown<'a>(&'a [u8]);

/// `name` for a message ([`Shown`]).
pub fn show(name: &[u8]) -> Shown<'_> {
    Shown(name)
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            write!(f, "{}", chunk.valid().escape_debug())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_any_bytes_but_nul_and_slash() {
        for good in [
            &b"caf\xe9"[..],
            b"\xff\xfe",
            b"a b",
            b"...",
            b".x",
            &[b'x'; NAME_MAX],
        ] {
            assert_eq!(check(good), Ok(()), "{}", show(good));
        }
        assert_eq!(check(b""), Err(NameFault::Empty));
        assert_eq!(check(b"."), Err(NameFault::Dots));
        assert_eq!(check(b".."), Err(NameFault::Dots));
        assert_eq!(check(b"a/b"), Err(NameFault::Slash));
        assert_eq!(check(b"a\0b"), Err(NameFault::Nul));
        let long = [b'x'; NAME_MAX + 1];
        assert_eq!(check(&long), Err(NameFault::TooLong(NAME_MAX + 1)));
        assert_eq!(check_form(&long), Ok(()));
    }

    #[test]
    fn shown_names_keep_every_byte() {
        assert_eq!(show(b"caf\xe9").to_string(), "caf\\xe9");
        assert_eq!(show("café".as_bytes()).to_string(), "café");
        assert_eq!(show(b"\xff\xfe").to_string(), "\\xff\\xfe");
        assert_eq!(format!("{:?}", show(b"a\xff")), "\"a\\xff\"");
        assert_eq!(show(b"a\0\n\"").to_string(), "a\\0\\n\\\"");
    }
}
