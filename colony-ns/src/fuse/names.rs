//! Checking the names the kernel hands over.

use std::ffi::OsStr;

use fuser::Errno;

/// The longest name (in bytes) a directory entry may have, as on Linux.
pub const NAME_MAX: usize = 255;

/// A name to create or rename to: ENAMETOOLONG past [`NAME_MAX`] bytes,
/// EILSEQ if not UTF-8 (the file system stores UTF-8 names, as 9P does).
pub(crate) fn new_name(name: &OsStr) -> Result<&str, Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    name.to_str()
        .ok_or(Errno::from_i32(nix::errno::Errno::EILSEQ as i32))
}

/// A name to look up: as [`new_name`], except that a name the file system
/// cannot hold is simply not there (ENOENT).
pub(crate) fn existing_name(name: &OsStr) -> Result<&str, Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    name.to_str().ok_or(Errno::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn long_and_non_utf8_names() {
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(new_name(OsStr::new(&long)), Err(Errno::ENAMETOOLONG));
        assert_eq!(existing_name(OsStr::new(&long)), Err(Errno::ENAMETOOLONG));
        let ok = "y".repeat(NAME_MAX);
        assert_eq!(new_name(OsStr::new(&ok)), Ok(ok.as_str()));
        let bad = OsStr::from_bytes(b"a\xffb");
        assert_eq!(new_name(bad), Err(Errno::from_i32(84)));
        assert_eq!(existing_name(bad), Err(Errno::ENOENT));
    }
}
