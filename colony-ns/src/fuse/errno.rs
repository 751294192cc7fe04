//! The one place where this crate's [`Error`] becomes a Unix errno.

use fuser::Errno;

use crate::error::Error;

/// The errno a FUSE request fails with for `e`. File-system variants map to
/// their POSIX meaning; a storage failure ([`Error::Other`]) and anything
/// protocol-shaped (which a correct file system never returns) are EIO.
pub(crate) fn errno(e: &Error) -> Errno {
    match e {
        Error::NotFound => Errno::ENOENT,
        Error::PermissionDenied => Errno::EACCES,
        Error::Exists => Errno::EEXIST,
        Error::IsDir => Errno::EISDIR,
        Error::NotDir => Errno::ENOTDIR,
        Error::NotEmpty => Errno::ENOTEMPTY,
        // truncate(2) of a directory is EISDIR.
        Error::DirLength => Errno::EISDIR,
        Error::DirBit | Error::WstatField => Errno::EPERM,
        Error::BadName | Error::NulInString | Error::BadDirOffset => Errno::EINVAL,
        // readlink(2) of something that is not a link.
        Error::NotSymlink => Errno::EINVAL,
        Error::TooLarge => Errno::EFBIG,
        Error::NoAttr => Errno::ENODATA,
        Error::BadXattrName(_) => Errno::ERANGE,
        Error::NoSpace => Errno::ENOSPC,
        Error::NotSupported(_) => Errno::EOPNOTSUPP,
        // mv(1) and friends copy and remove instead.
        Error::CrossDir => Errno::EXDEV,
        // lseek(2) SEEK_DATA/SEEK_HOLE past the end or the last data.
        Error::PastEnd => Errno::from_i32(nix::errno::Errno::ENXIO as i32),
        // What a FUSE mount whose server died gives, too.
        Error::ConnectionLost(_) => Errno::ENOTCONN,
        // rmdir(2) of a mount point.
        Error::RemoveRoot | Error::InUse => Errno::EBUSY,
        Error::BadUtf8 => Errno::from_i32(nix::errno::Errno::EILSEQ as i32),
        Error::NotOpenRead | Error::NotOpenWrite => Errno::EBADF,
        Error::TooManyFids { .. } => Errno::from_i32(nix::errno::Errno::EMFILE as i32),
        Error::NameTooLong { .. } | Error::FileNameTooLong => {
            Errno::from_i32(nix::errno::Errno::ENAMETOOLONG as i32)
        }
        // No OS error number (or a bogus one) gives EIO.
        Error::Io(io) => Errno::from_i32(io.raw_os_error().unwrap_or(0)),
        Error::Other(_)
        | Error::BadLinuxMessage(_)
        | Error::Short { .. }
        | Error::FrameTooSmall(_)
        | Error::FrameTooLarge { .. }
        | Error::SizeMismatch { .. }
        | Error::Trailing { .. }
        | Error::TooLong { .. }
        | Error::UnknownType(_)
        | Error::TooManyWalkElements(_)
        | Error::StatSize { .. }
        | Error::AuthNotRequired(_)
        | Error::UnknownFid
        | Error::FidInUse
        | Error::FidOpen
        | Error::DirEntryTooBig
        | Error::NoVersion
        | Error::DuplicateTag
        | Error::MsizeTooSmall
        | Error::BadMessage
        | Error::TooManyConnections { .. }
        | Error::HandshakeTimeout(_)
        | Error::IdleTimeout(_)
        | Error::WriteTimeout(_)
        // Session and cpu-listener errors never come from a file system.
        | Error::NoShell { .. }
        | Error::TestRoot(_)
        | Error::SessionSetup(_)
        | Error::NoCgroup(_)
        | Error::Seccomp(_)
        | Error::SeccompTooLong(_)
        | Error::Capabilities { .. }
        | Error::MountPointNotPrivate { .. }
        | Error::Nat { .. }
        | Error::Stopped
        | Error::Frame(_)
        | Error::Framing(_)
        | Error::Tls(_)
        | Error::Refused(_)
        | Error::BadShellLabel(_)
        | Error::TooManyShells { .. }
        | Error::NoSuchShell(_)
        | Error::ShellsVersion { .. }
        | Error::Protocol(_)
        | Error::Version(_)
        | Error::UnexpectedReply { .. } => Errno::EIO,
        Error::Sys { errno, .. } => Errno::from_i32(*errno as i32),
    }
}

impl From<Error> for Errno {
    fn from(e: Error) -> Self {
        errno(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_system_errors_have_their_posix_numbers() {
        let cases = [
            (Error::NotFound, Errno::ENOENT),
            (Error::Exists, Errno::EEXIST),
            (Error::NotDir, Errno::ENOTDIR),
            (Error::IsDir, Errno::EISDIR),
            (Error::NotEmpty, Errno::ENOTEMPTY),
            (Error::PermissionDenied, Errno::EACCES),
            (Error::WstatField, Errno::EPERM),
            (Error::TooLarge, Errno::EFBIG),
            (Error::CrossDir, Errno::EXDEV),
            (Error::PastEnd, Errno::from_i32(6)), // ENXIO
            (Error::ConnectionLost("eof".into()), Errno::ENOTCONN),
            (Error::Other("venti: connection reset".into()), Errno::EIO),
            (Error::UnknownFid, Errno::EIO),
            (
                Error::Io(std::io::Error::from_raw_os_error(28)),
                Errno::ENOSPC,
            ),
            (Error::Io(std::io::Error::other("x")), Errno::EIO),
        ];
        for (e, want) in cases {
            assert_eq!(errno(&e), want, "{e:?}");
        }
        assert_eq!(errno(&Error::BadUtf8), Errno::from_i32(84)); // EILSEQ on Linux
    }
}
