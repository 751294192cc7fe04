//! The version line each side sends before any framed message, and the
//! negotiation libventi does on the peer's line.

use std::fmt;

use crate::error::{Error, Result};
use crate::proto::VersionFault;

/// The line we send, as client and as server. It is plan9port's exactly,
/// so recorded sessions compare byte for byte.
pub const VERSION_LINE: &[u8] = b"venti-04:02-libventi\n";

/// Most bytes libventi accepts before the line's `\n`.
pub const MAX_VERSION_LINE: usize = 1022;

/// A protocol version, which fixes the frame length width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// `02`: 2-byte frame lengths.
    V02,
    /// `04`: 4-byte frame lengths.
    V04,
}

impl Version {
    /// The token in version lines and in `Thello.version`.
    pub fn token(self) -> &'static str {
        match self {
            Version::V02 => "02",
            Version::V04 => "04",
        }
    }

    /// Chooses a version from the peer's line (without its `\n`) as libventi
    /// does: check the line, split the text after `venti-` at every `:` and
    /// `-` (the comment too), and take the first token we support. The
    /// peer's order wins.
    ///
    /// ```
    /// use colony_venti::proto::Version;
    /// assert_eq!(Version::negotiate(b"venti-04:02-libventi").unwrap(), Version::V04);
    /// assert_eq!(Version::negotiate(b"venti-02:04-x").unwrap(), Version::V02);
    /// assert_eq!(Version::negotiate(b"venti-99-02").unwrap(), Version::V02);
    /// assert!(Version::negotiate(b"venti-05-x").is_err());
    /// ```
    pub fn negotiate(line: &[u8]) -> Result<Version> {
        if line.len() > MAX_VERSION_LINE {
            return Err(Error::Version(VersionFault::LineTooLong {
                max: MAX_VERSION_LINE,
            }));
        }
        // Printable ASCII only, as libventi requires.
        if let Some(&b) = line.iter().find(|&&b| !(0x20..0x7f).contains(&b)) {
            return Err(Error::Version(VersionFault::BadByte { byte: b }));
        }
        let text = std::str::from_utf8(line).expect("printable ASCII is UTF-8");
        let Some(rest) = text.strip_prefix("venti-") else {
            return Err(Error::Version(VersionFault::NotVenti {
                line: text.to_string(),
            }));
        };
        rest.split([':', '-'])
            .find_map(|tok| match tok {
                "04" => Some(Version::V04),
                "02" => Some(Version::V02),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Version(VersionFault::NoCommonVersion {
                    line: text.to_string(),
                })
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_rules() {
        assert_eq!(Version::negotiate(b"venti-02-sigil").unwrap(), Version::V02);
        // The comment is tokenised too.
        assert_eq!(Version::negotiate(b"venti-xx-04").unwrap(), Version::V04);
        assert_eq!(Version::negotiate(b"venti-03:02").unwrap(), Version::V02);
        for bad in [
            &b"Venti-04"[..],
            b"venti",
            b"venti-",
            b"venti-4-0",
            b"venti-04\r",
            b"venti-04\x7f",
        ] {
            assert!(
                matches!(Version::negotiate(bad), Err(Error::Version(_))),
                "{bad:?}"
            );
        }
        let mut long = b"venti-04-".to_vec();
        long.resize(MAX_VERSION_LINE, b'a');
        assert_eq!(Version::negotiate(&long).unwrap(), Version::V04);
        long.push(b'a');
        assert!(Version::negotiate(&long).is_err());
        assert_eq!(
            Version::negotiate(&VERSION_LINE[..VERSION_LINE.len() - 1]).unwrap(),
            Version::V04
        );
    }
}
