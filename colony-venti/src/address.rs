//! Venti server addresses: `host:port`, or Plan 9 dial strings.

use crate::error::{Error, Result};

/// The venti port (service name `venti`).
pub const DEFAULT_PORT: u16 = 17034;

/// Turns an address as users type it into `host:port` for the socket
/// library. Accepts `host:port`, `host` (port 17034), `[v6]:port`, and
/// Plan 9 dial strings `tcp!host!port` / `tcp!host!venti` / `host!port`, the
/// form plan9port's `-h` flag and `$venti` variable use.
///
/// ```
/// use colony_venti::address::parse_address;
/// assert_eq!(parse_address("tcp!127.0.0.1!17034").unwrap(), "127.0.0.1:17034");
/// assert_eq!(parse_address("tcp!example.org!venti").unwrap(), "example.org:17034");
/// assert_eq!(parse_address("localhost").unwrap(), "localhost:17034");
/// assert_eq!(parse_address("[::1]:9000").unwrap(), "[::1]:9000");
/// ```
pub fn parse_address(text: &str) -> Result<String> {
    parse(text.trim()).map_err(|problem| Error::BadAddress {
        text: text.to_string(),
        problem,
    })
}

/// Why text is not a venti address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressProblem {
    /// Nothing but blanks.
    #[error("it is empty")]
    Empty,
    /// A dial string with other than 2 or 3 `!`-separated fields.
    #[error("want tcp!host!port, host!port or tcp!host")]
    DialFields,
    /// No host, or the wildcard `*` (which names no server to dial).
    #[error("no host to dial")]
    NoHost,
    /// The port is not a number in 1..=65535 (nor `venti`).
    #[error("port {0:?} is not a number up to 65535")]
    Port(String),
    /// A `[v6]` address without its `]` or with text after it other
    /// than `:port`.
    #[error("want [v6] or [v6]:port")]
    Bracket,
}

fn port(p: &str) -> Result<u16, AddressProblem> {
    p.parse().map_err(|_| AddressProblem::Port(p.to_string()))
}

fn parse(text: &str) -> Result<String, AddressProblem> {
    if text.is_empty() {
        return Err(AddressProblem::Empty);
    }
    if text.contains('!') {
        let parts: Vec<&str> = text.split('!').collect();
        let (host, port) = match parts.as_slice() {
            ["tcp" | "net", host] => (*host, None),
            ["tcp" | "net", host, port] => (*host, Some(*port)),
            [host, port] => (*host, Some(*port)),
            _ => return Err(AddressProblem::DialFields),
        };
        let port = match port {
            None | Some("venti") => DEFAULT_PORT,
            Some(p) => self::port(p)?,
        };
        if host.is_empty() || host == "*" {
            return Err(AddressProblem::NoHost);
        }
        return Ok(join(host, port));
    }
    if let Some(rest) = text.strip_prefix('[') {
        // [v6] or [v6]:port
        let (host, after) = rest.split_once(']').ok_or(AddressProblem::Bracket)?;
        let port = match after {
            "" => DEFAULT_PORT,
            p => port(p.strip_prefix(':').ok_or(AddressProblem::Bracket)?)?,
        };
        return Ok(join(host, port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port = self::port(port)?;
            if host.is_empty() {
                return Err(AddressProblem::NoHost);
            }
            Ok(join(host, port))
        }
        // A bare IPv6 address.
        Some(_) => Ok(join(text, DEFAULT_PORT)),
        None => Ok(join(text, DEFAULT_PORT)),
    }
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for (input, want) in [
            ("127.0.0.1:17034", "127.0.0.1:17034"),
            ("tcp!localhost!1234", "localhost:1234"),
            ("localhost!1234", "localhost:1234"),
            ("tcp!10.0.0.1", "10.0.0.1:17034"),
            ("::1", "[::1]:17034"),
            ("[::1]", "[::1]:17034"),
            ("tcp!::1!99", "[::1]:99"),
        ] {
            assert_eq!(parse_address(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects() {
        let port = |p: &str| AddressProblem::Port(p.into());
        for (bad, want) in [
            (" ", AddressProblem::Empty),
            ("tcp!", AddressProblem::NoHost),
            ("tcp!*!17034", AddressProblem::NoHost),
            ("a!b!c!d", AddressProblem::DialFields),
            ("host:port", port("port")),
            ("tcp!h!x", port("x")),
            (":17034", AddressProblem::NoHost),
            ("[::1", AddressProblem::Bracket),
            ("[::1]x", AddressProblem::Bracket),
            ("[::1]:", port("")),
            ("h:99999", port("99999")),
        ] {
            match parse_address(bad) {
                Err(Error::BadAddress { text, problem }) => {
                    assert_eq!((text.as_str(), problem), (bad, want))
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
