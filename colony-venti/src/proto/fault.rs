//! What is wrong with a venti message, frame or version line: the check
//! that failed, kept typed in [`Error::Malformed`] and [`Error::Version`].
//!
//! [`Error::Malformed`]: crate::Error::Malformed
//! [`Error::Version`]: crate::Error::Version

/// A message or frame that breaks the protocol's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageFault {
    /// The message ends before a field it must have.
    #[error("{what} too short")]
    TooShort {
        /// The message.
        what: &'static str,
    },
    /// A string longer than the protocol allows.
    #[error("{what}: string of {len} bytes, the most is {max}")]
    StringTooLong {
        /// The message.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// A string holding a NUL byte.
    #[error("{what}: NUL in string")]
    NulInString {
        /// The message.
        what: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("{what}: string is not UTF-8")]
    NotUtf8 {
        /// The message.
        what: &'static str,
    },
    /// Bytes after the last field.
    #[error("{what}: {left} bytes left over")]
    LeftOver {
        /// The message.
        what: &'static str,
        /// How many.
        left: usize,
    },
    /// A list with more entries than its u8 count can say.
    #[error("{len} {what} entries, the most is 255")]
    ListTooLong {
        /// The list.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A Tread count too large for the 2-byte form asked for.
    #[error("Tread count {count} needs the 4-byte form")]
    CountNeedsWideForm {
        /// The count.
        count: u32,
    },
    /// A Tread count field neither 2 nor 4 bytes long.
    #[error("Tread count of {len} bytes, want 2 or 4")]
    BadCountSize {
        /// Its length.
        len: usize,
    },
    /// A frame too short to hold a type and a tag.
    #[error("message of {len} bytes has no type and tag")]
    NoTypeAndTag {
        /// The frame's length.
        len: usize,
    },
    /// A message type the protocol does not have.
    #[error("unknown message type {kind}")]
    UnknownType {
        /// The type byte.
        kind: u8,
    },
    /// A frame larger than its version allows.
    #[error("frame of {len} bytes, the most is {max}")]
    FrameTooLong {
        /// Its length.
        len: usize,
        /// The most the version allows.
        max: usize,
    },
}

/// A version line that cannot start a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionFault {
    /// Longer than a version line may be.
    #[error("version line longer than {max} bytes")]
    LineTooLong {
        /// The most allowed.
        max: usize,
    },
    /// A byte that is not printable ASCII.
    #[error("byte {byte:#04x} in version line")]
    BadByte {
        /// The byte.
        byte: u8,
    },
    /// Not a venti version line.
    #[error("{line:?} does not start with venti-")]
    NotVenti {
        /// The line.
        line: String,
    },
    /// No version both sides speak.
    #[error("unable to negotiate version with {line:?}")]
    NoCommonVersion {
        /// The peer's line.
        line: String,
    },
}
