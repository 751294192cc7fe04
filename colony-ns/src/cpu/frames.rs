//! The cpu protocol's frames, carried over the mutual-TLS stream as
//! [`crate::frame`]s. The client sends one request ([`ClientFrame::Run`] or
//! [`ClientFrame::Shell`]), then input; the server answers
//! [`ServerFrame::Started`], output, and one [`ServerFrame::Exit`] — or one
//! [`ServerFrame::Error`] and closes.

use crate::Result;
use crate::session::{CommandSpec, ExitStatus, WindowSize};
use serde::{Deserialize, Serialize};

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
        let mut bytes = ServerFrame::Started.encode().unwrap();
        bytes.push(0);
        assert!(ServerFrame::decode(&bytes[4..]).is_err(), "trailing byte");
    }
}
