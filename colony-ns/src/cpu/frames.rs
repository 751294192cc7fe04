//! The cpu protocol's frames, carried over the mutual-TLS stream as
//! [`crate::frame`]s. The client sends one request ([`ClientFrame::Run`] or
//! [`ClientFrame::Shell`]), then input; the server answers
//! [`ServerFrame::Started`], output, and one [`ServerFrame::Exit`] — or one
//! [`ServerFrame::Error`] and closes.
//!
//! Named persistent shells came later: their requests travel in one
//! variant appended to each enum ([`ClientFrame::Shells`],
//! [`ServerFrame::Shells`]), so the earlier variants keep their encoding,
//! and carry their own version ([`SHELLS_VERSION`]) that a listener checks
//! before anything else.

use crate::Result;
use crate::session::{CommandSpec, ExitStatus, WindowSize};
use serde::{Deserialize, Serialize};

/// The version of [`ShellRequest`]s and [`ShellAnswer`]s this side speaks.
pub const SHELLS_VERSION: u16 = 1;

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// Run a command with piped stdin, stdout and stderr.
    Run(CommandSpec),
    /// Open a terminal running `command` (the session's shell if `None`).
    Shell {
        /// The client's `TERM`.
        term: String,
        /// The client's window size.
        size: WindowSize,
        /// What to run on the terminal.
        command: Option<CommandSpec>,
    },
    /// Bytes for the command's stdin (or typed at the terminal).
    Stdin(Vec<u8>),
    /// The client's input ended.
    StdinEof,
    /// The client's window changed size.
    Resize(WindowSize),
    /// Deliver this signal number to the command's process group.
    Signal(i32),
    /// A request about the session's named persistent shells, in version
    /// `version` of those requests.
    Shells {
        /// The client's [`SHELLS_VERSION`].
        version: u16,
        /// What it asks.
        request: ShellRequest,
    },
}

/// What a client asks about named persistent shells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShellRequest {
    /// Attach to the shell `label`, starting it with `command` (the
    /// session's shell if `None`) if it is not running. The server answers
    /// [`ShellAnswer::Attached`], the shell's recent output and then its
    /// live output as [`ServerFrame::Stdout`] (with
    /// [`ShellAnswer::Skipped`] where this client fell behind), until the
    /// shell ends ([`ServerFrame::Exit`]). The client's `Stdin`, `Resize`
    /// and `Signal` frames go to the shell; closing the connection
    /// detaches.
    Attach {
        /// The shell's name in the session.
        label: String,
        /// The client's `TERM` (used when the shell starts).
        term: String,
        /// The client's window size (the terminal takes it).
        size: WindowSize,
        /// What to run if the shell starts.
        command: Option<CommandSpec>,
    },
    /// The running shells: [`ShellAnswer::List`].
    List,
    /// End the shell `label`: [`ShellAnswer::Killed`] once it has ended.
    Kill {
        /// The shell's name.
        label: String,
    },
}

/// The server's answer to a [`ShellRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShellAnswer {
    /// Attached; `started` if this request started the shell.
    Attached {
        /// The shell was started for this request.
        started: bool,
        /// The session was restored when its node started again: shells started
        /// before are gone.
        restored: bool,
    },
    /// The running shells in label order.
    List {
        /// The shells.
        shells: Vec<ShellInfo>,
        /// As in [`ShellAnswer::Attached`].
        restored: bool,
    },
    /// The shell has ended.
    Killed,
    /// An attached client fell behind the shell's output: this many bytes
    /// of it were not sent to it (the ring may still hold them).
    Skipped {
        /// How many.
        bytes: u64,
    },
}

/// One running shell, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellInfo {
    /// Its name.
    pub label: String,
    /// What it runs.
    pub command: Vec<String>,
    /// Seconds since it started.
    pub age_secs: u64,
    /// Clients attached now.
    pub clients: u32,
    /// Bytes of recent output it holds for the next client.
    pub buffered: u64,
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The command is running.
    Started,
    /// Output (for a terminal, everything it shows).
    Stdout(Vec<u8>),
    /// Error output of a piped command.
    Stderr(Vec<u8>),
    /// The command ended; the server closes after this.
    Exit(ExitStatus),
    /// The request was refused or failed; the server closes after this.
    Error(String),
    /// The answer to [`ClientFrame::Shells`].
    Shells(ShellAnswer),
}

impl ClientFrame {
    /// The frame with its length prefix.
    pub fn encode(&self) -> Result<Vec<u8>> {
        crate::frame::encode(self)
    }

    /// Parses a frame body (without the prefix).
    pub fn decode(body: &[u8]) -> Result<Self> {
        crate::frame::decode(body)
    }
}

impl ServerFrame {
    /// The frame with its length prefix.
    pub fn encode(&self) -> Result<Vec<u8>> {
        crate::frame::encode(self)
    }

    /// Parses a frame body (without the prefix).
    pub fn decode(body: &[u8]) -> Result<Self> {
        crate::frame::decode(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn size() -> impl Strategy<Value = WindowSize> {
        (any::<u16>(), any::<u16>()).prop_map(|(rows, cols)| WindowSize { rows, cols })
    }

    fn command() -> impl Strategy<Value = CommandSpec> {
        (
            prop::collection::vec(".*", 0..4),
            prop::collection::vec((".*", ".*"), 0..3),
            ".*",
        )
            .prop_map(|(argv, env, cwd)| CommandSpec { argv, env, cwd })
    }

    fn client_frame() -> impl Strategy<Value = ClientFrame> {
        prop_oneof![
            command().prop_map(ClientFrame::Run),
            (".*", size(), prop::option::of(command())).prop_map(|(term, size, command)| {
                ClientFrame::Shell {
                    term,
                    size,
                    command,
                }
            }),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(ClientFrame::Stdin),
            Just(ClientFrame::StdinEof),
            size().prop_map(ClientFrame::Resize),
            any::<i32>().prop_map(ClientFrame::Signal),
            (any::<u16>(), shell_request())
                .prop_map(|(version, request)| ClientFrame::Shells { version, request }),
        ]
    }

    fn shell_request() -> impl Strategy<Value = ShellRequest> {
        prop_oneof![
            (".*", ".*", size(), prop::option::of(command())).prop_map(
                |(label, term, size, command)| ShellRequest::Attach {
                    label,
                    term,
                    size,
                    command,
                }
            ),
            Just(ShellRequest::List),
            ".*".prop_map(|label| ShellRequest::Kill { label }),
        ]
    }

    fn shell_answer() -> impl Strategy<Value = ShellAnswer> {
        let info = (
            ".*",
            prop::collection::vec(".*", 0..3),
            any::<(u64, u32, u64)>(),
        )
            .prop_map(
                |(label, command, (age_secs, clients, buffered))| ShellInfo {
                    label,
                    command,
                    age_secs,
                    clients,
                    buffered,
                },
            );
        prop_oneof![
            any::<(bool, bool)>()
                .prop_map(|(started, restored)| ShellAnswer::Attached { started, restored }),
            (prop::collection::vec(info, 0..4), any::<bool>())
                .prop_map(|(shells, restored)| ShellAnswer::List { shells, restored }),
            Just(ShellAnswer::Killed),
            any::<u64>().prop_map(|bytes| ShellAnswer::Skipped { bytes }),
        ]
    }

    fn server_frame() -> impl Strategy<Value = ServerFrame> {
        prop_oneof![
            Just(ServerFrame::Started),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(ServerFrame::Stdout),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(ServerFrame::Stderr),
            any::<i32>().prop_map(|c| ServerFrame::Exit(ExitStatus::Code(c))),
            any::<i32>().prop_map(|s| ServerFrame::Exit(ExitStatus::Signal(s))),
            ".*".prop_map(ServerFrame::Error),
            shell_answer().prop_map(ServerFrame::Shells),
        ]
    }

    proptest! {
        #[test]
        fn client_frames_round_trip(f in client_frame()) {
            let bytes = f.encode().unwrap();
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            prop_assert_eq!(len, bytes.len() - 4);
            prop_assert_eq!(ClientFrame::decode(&bytes[4..]).unwrap(), f);
        }

        #[test]
        fn server_frames_round_trip(f in server_frame()) {
            let bytes = f.encode().unwrap();
            prop_assert_eq!(ServerFrame::decode(&bytes[4..]).unwrap(), f);
        }

        #[test]
        fn garbage_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = ClientFrame::decode(&body);
            let _ = ServerFrame::decode(&body);
        }
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(ClientFrame::decode(&[]).is_err());
        assert!(ClientFrame::decode(&[200]).is_err(), "unknown variant");
        // The variants before shells keep their numbers (after the length
        // prefix and the framing's version byte).
        assert_eq!(ClientFrame::StdinEof.encode().unwrap()[5], 3);
        assert_eq!(ServerFrame::Error(String::new()).encode().unwrap()[5], 4);
        let mut bytes = ServerFrame::Started.encode().unwrap();
        bytes.push(0);
        assert!(ServerFrame::decode(&bytes[4..]).is_err(), "trailing byte");
    }
}
