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
    let bad = || Error::BadAddress(text.to_string());
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if text.contains('!') {
        let parts: Vec<&str> = text.split('!').collect();
        let (host, port) = match parts.as_slice() {
            ["tcp" | "net", host] => (*host, None),
            ["tcp" | "net", host, port] => (*host, Some(*port)),
            [host, port] => (*host, Some(*port)),
            _ => return Err(bad()),
        };
        let port = match port {
            None | Some("venti") => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        if host.is_empty() || host == "*" {
            return Err(bad());
        }
        return Ok(join(host, port));
    }
    if let Some(rest) = text.strip_prefix('[') {
        // [v6] or [v6]:port
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => DEFAULT_PORT,
            p => p
                .strip_prefix(':')
                .ok_or_else(bad)?
                .parse()
                .map_err(|_| bad())?,
        };
        return Ok(join(host, port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port: u16 = port.parse().map_err(|_| bad())?;
            if host.is_empty() {
                return Err(bad());
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
        for bad in [
            "",
            "tcp!",
            "tcp!*!17034",
            "a!b!c!d",
            "host:port",
            ":17034",
            "[::1",
            "[::1]x",
            "h:99999",
        ] {
            assert!(
                matches!(parse_address(bad), Err(Error::BadAddress(_))),
                "{bad:?}"
            );
        }
    }
}
