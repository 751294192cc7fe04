//! What a gridorc user asks: the spawngrid's commands, as a wire message
//! and as the command line a user types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rpc::frame;

/// One grid request. Names are sent as typed and checked by the server,
/// which alone knows what the asker may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `scores [SUBSTRING]`: the asker's names, optionally only those
    /// containing the substring.
    Scores {
        /// Keep only names containing this.
        filter: Option<String>,
    },
    /// `spawn NAME` (`disk: false`) or `spawndisk NAME` (`disk: true`).
    Spawn {
        /// The scorename to spawn.
        name: String,
        /// Local store on disk instead of in memory.
        disk: bool,
    },
    /// `save OLD NEW`: snapshot the running environment OLD as `NEW@node`.
    Save {
        /// The running environment.
        env: String,
        /// The label of the new name.
        label: String,
    },
    /// `invite USER NAME`: snapshot the running environment NAME for USER.
    Invite {
        /// Who gets the snapshot.
        user: String,
        /// The asker's running environment.
        env: String,
    },
    /// `status`: the asker's running environments.
    Status,
    /// `boom NAME`: stop the asker's running environment NAME.
    Boom {
        /// The running environment.
        env: String,
    },
}

/// The command words, in menu order.
pub const COMMANDS: [&str; 7] = [
    "scores",
    "spawn",
    "spawndisk",
    "save",
    "invite",
    "status",
    "boom",
];

/// The original gridorc's menu line, word for word.
pub const MENU: &str = "scores | spawn scorename | save oldname newname | invite user scorename | boom scorename | status";

impl Request {
    /// The frame for the wire, prefix included.
    pub fn encode(&self) -> Result<Vec<u8>> {
        frame::encode(self, frame::MAX_REQUEST)
    }

    /// Decodes one whole frame (see [`frame::decode`]).
    pub fn decode(frame: &[u8]) -> Result<Request> {
        frame::decode(frame, frame::MAX_REQUEST)
    }

    /// Parses a command line as typed at gridorc. A known command with
    /// the wrong number of arguments is [`Error::BadCommand`] with its
    /// usage, as the original printed it.
    pub fn parse(line: &str) -> Result<Request> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&command, args)) = words.split_first() else {
            return Err(Error::BadCommand(format!("no command; {MENU}")));
        };
        let owned = |s: &&str| s.to_string();
        let request = match (command, args) {
            ("scores", []) => Request::Scores { filter: None },
            ("scores", [f]) => Request::Scores {
                filter: Some(owned(f)),
            },
            ("spawn" | "spawndisk", [name]) => Request::Spawn {
                name: owned(name),
                disk: command == "spawndisk",
            },
            ("save", [env, label]) => Request::Save {
                env: owned(env),
                label: owned(label),
            },
            ("invite", [user, env]) => Request::Invite {
                user: owned(user),
                env: owned(env),
            },
            ("status", []) => Request::Status,
            ("boom", [env]) => Request::Boom { env: owned(env) },
            _ => return Err(Error::BadCommand(usage(command))),
        };
        Ok(request)
    }
}

/// The usage line of `command`, or "unknown command".
pub fn usage(command: &str) -> String {
    match command {
        "scores" => "usage: scores [SUBSTRING]".into(),
        "spawn" => "usage: spawn SCORENAME".into(),
        "spawndisk" => "usage: spawndisk SCORENAME".into(),
        "save" => "usage: save OLDNAME NEWNAME".into(),
        "invite" => "usage: invite USER SCORENAME".into(),
        "status" => "usage: status".into(),
        "boom" => "usage: boom SCORENAME".into(),
        other => format!("unknown command {other:?}; {MENU}"),
    }
}

/// The command line that [`Request::parse`] reads back.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Scores { filter: None } => f.write_str("scores"),
            Request::Scores { filter: Some(s) } => write!(f, "scores {s}"),
            Request::Spawn { name, disk: false } => write!(f, "spawn {name}"),
            Request::Spawn { name, disk: true } => write!(f, "spawndisk {name}"),
            Request::Save { env, label } => write!(f, "save {env} {label}"),
            Request::Invite { user, env } => write!(f, "invite {user} {env}"),
            Request::Status => f.write_str("status"),
            Request::Boom { env } => write!(f, "boom {env}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._+@-]{1,20}"
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            prop::option::of(word()).prop_map(|filter| Request::Scores { filter }),
            (word(), any::<bool>()).prop_map(|(name, disk)| Request::Spawn { name, disk }),
            (word(), word()).prop_map(|(env, label)| Request::Save { env, label }),
            (word(), word()).prop_map(|(user, env)| Request::Invite { user, env }),
            Just(Request::Status),
            word().prop_map(|env| Request::Boom { env }),
        ]
    }

    proptest! {
        #[test]
        fn wire_round_trip(r in request()) {
            prop_assert_eq!(Request::decode(&r.encode().unwrap()).unwrap(), r);
        }

        #[test]
        fn line_round_trip(r in request()) {
            prop_assert_eq!(Request::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Request::decode(&bytes);
        }
    }

    #[test]
    fn wrong_arguments_get_the_usage() {
        for (line, want) in [
            ("spawn", "usage: spawn SCORENAME"),
            ("spawn a b", "usage: spawn SCORENAME"),
            ("save x", "usage: save OLDNAME NEWNAME"),
            ("invite bob", "usage: invite USER SCORENAME"),
            ("status now", "usage: status"),
            ("scores a b", "usage: scores [SUBSTRING]"),
            ("boom", "usage: boom SCORENAME"),
            ("rm -rf", "unknown command \"rm\""),
            ("   ", "no command"),
        ] {
            match Request::parse(line) {
                Err(Error::BadCommand(m)) => assert!(m.starts_with(want), "{line}: {m}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        assert_eq!(
            Request::parse("  spawndisk   clean.n1 ").unwrap(),
            Request::Spawn {
                name: "clean.n1".into(),
                disk: true
            }
        );
    }

    #[test]
    fn an_over_long_request_is_refused_both_ways() {
        let big = Request::Boom {
            env: "x".repeat(frame::MAX_REQUEST),
        };
        assert!(matches!(big.encode(), Err(Error::FrameTooLong { .. })));
        let bytes = frame::encode(&big, usize::MAX).unwrap();
        assert!(matches!(
            Request::decode(&bytes),
            Err(Error::FrameTooLong { .. })
        ));
    }
}
