//! The DirEntry `mode` word (spec §5.5) and its mapping to Unix modes.

/// Permission bits, same layout as Unix.
pub const PERM_MASK: u32 = 0o777;
/// Sticky bit (plan9port's vac does not record it; colony's does).
pub const STICKY: u32 = 0x200;
/// Set-uid (plan9port's vac does not record it; colony's does).
pub const SETUID: u32 = 0x400;
/// Set-gid (plan9port's vac does not record it; colony's does).
pub const SETGID: u32 = 0x800;
/// Append-only file.
pub const APPEND: u32 = 0x1000;
/// Exclusive-use file.
pub const EXCLUSIVE: u32 = 0x2000;
/// Symbolic link; the target is the file's data.
pub const LINK: u32 = 0x4000;
/// Directory.
pub const DIR: u32 = 0x8000;
/// MS-DOS hidden.
pub const HIDDEN: u32 = 0x10000;
/// MS-DOS system.
pub const SYSTEM: u32 = 0x20000;
/// MS-DOS archive.
pub const ARCHIVE: u32 = 0x40000;
/// MS-DOS temporary.
pub const TEMPORARY: u32 = 0x80000;
/// Read-only snapshot.
pub const SNAPSHOT: u32 = 0x100000;
/// Unix device (plan9port vac only).
pub const DEVICE: u32 = 0x200000;
/// Named pipe (plan9port vac only).
pub const NAMED_PIPE: u32 = 0x400000;

/// The kind of file a mode word describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    NamedPipe,
    /// A device.
    Device,
}

/// The kind of file `mode` describes.
pub fn kind(mode: u32) -> Kind {
    if mode & DIR != 0 {
        Kind::Dir
    } else if mode & LINK != 0 {
        Kind::Symlink
    } else if mode & NAMED_PIPE != 0 {
        Kind::NamedPipe
    } else if mode & DEVICE != 0 {
        Kind::Device
    } else {
        Kind::File
    }
}

/// The vac mode vac stores for a file of `kind` with Unix permission bits
/// `perm`: only the 0777 bits survive (setuid, setgid and sticky are lost,
/// as in plan9port vac).
pub fn from_unix(kind: Kind, perm: u32) -> u32 {
    let k = match kind {
        Kind::File => 0,
        Kind::Dir => DIR,
        Kind::Symlink => LINK,
        Kind::NamedPipe => NAMED_PIPE,
        Kind::Device => DEVICE,
    };
    k | (perm & PERM_MASK)
}

/// vac's set-uid, set-gid and sticky bits for Unix permission bits (what
/// [`from_unix`] leaves out, as plan9port does).
pub fn from_unix_special_bits(perm: u32) -> u32 {
    [(0o4000, SETUID), (0o2000, SETGID), (0o1000, STICKY)]
        .iter()
        .filter(|(unix, _)| perm & unix != 0)
        .fold(0, |m, (_, vac)| m | vac)
}

/// Unix permission bits to restore for a vac mode (setuid, setgid and
/// sticky included, for archives written by tools that keep them).
pub fn to_unix_perm(mode: u32) -> u32 {
    let mut p = mode & PERM_MASK;
    if mode & SETUID != 0 {
        p |= 0o4000;
    }
    if mode & SETGID != 0 {
        p |= 0o2000;
    }
    if mode & STICKY != 0 {
        p |= 0o1000;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(from_unix(Kind::Dir, 0o755), 0x81ed);
        assert_eq!(from_unix(Kind::File, 0o4644), 0x1a4);
        assert_eq!(kind(0x81ff), Kind::Dir);
        assert_eq!(kind(LINK | 0o777), Kind::Symlink);
        assert_eq!(kind(0o644), Kind::File);
        assert_eq!(to_unix_perm(SETUID | STICKY | 0o755), 0o5755);
        assert_eq!(from_unix_special_bits(0o6755), SETUID | SETGID);
        assert_eq!(from_unix_special_bits(0o1777), STICKY);
    }
}
