//! Checking the names the kernel hands over.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use fuser::Errno;

/// The longest name (in bytes) a directory entry may have, as on Linux.
pub use crate::fs::NAME_MAX;

/// A name to look up, create or rename to, as the bytes the kernel sent
/// (names are bytes: `b"caf\xe9"` is a name like any other):
/// ENAMETOOLONG past [`NAME_MAX`] bytes, as Linux's own file systems
/// answer, even for a lookup.
pub(crate) fn entry_name(name: &OsStr) -> Result<&[u8], Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_non_utf8_names() {
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(entry_name(OsStr::new(&long)), Err(Errno::ENAMETOOLONG));
        let ok = "y".repeat(NAME_MAX);
        assert_eq!(entry_name(OsStr::new(&ok)), Ok(ok.as_bytes()));
        let latin1 = OsStr::from_bytes(b"caf\xe9");
        assert_eq!(entry_name(latin1), Ok(&b"caf\xe9"[..]));
    }
}
