//! What the grid server answers: one [`Response`] per request, sent to
//! the asker only.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::colony::EnvInfo;
use crate::error::Result;
use crate::names::NameRecord;
use crate::rpc::frame;

/// One of the asker's scorenames. The root score is left out: scores are
/// capabilities (the original grid stopped printing them), and a user
/// needs only the name to spawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameInfo {
    /// The name, exactly as `spawn` takes it.
    pub name: String,
    /// When it was minted (seconds since the Unix epoch), if known.
    pub created: Option<u64>,
    /// The user whose `invite` made it, if one did.
    pub invited_by: Option<String>,
}

impl NameInfo {
    /// What the owner of `record` is shown.
    pub fn of(record: &NameRecord) -> NameInfo {
        NameInfo {
            name: record.name.to_string(),
            created: record.created,
            invited_by: record.invite.as_ref().map(|i| i.by.to_string()),
        }
    }
}

/// One grid answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// `scores`: the asker's names, in name order.
    Names(Vec<NameInfo>),
    /// `spawn`/`spawndisk`: the new environment.
    Spawned(EnvInfo),
    /// `save`: the new name.
    Saved(NameInfo),
    /// `invite`: the name minted for the invitee, and who that is.
    Invited {
        /// The invitee.
        user: String,
        /// Their new name.
        name: NameInfo,
    },
    /// `status`: who asked, and their running environments.
    Status {
        /// The asker, as the server knows them (certificate common name).
        user: String,
        /// Their running environments on this node.
        envs: Vec<EnvInfo>,
    },
    /// `boom`: the environment that was stopped.
    Boomed(String),
    /// The request failed; the text says why, precisely.
    Error(String),
}

impl Response {
    /// The frame for the wire, prefix included.
    pub fn encode(&self) -> Result<Vec<u8>> {
        frame::encode(self, frame::MAX_RESPONSE)
    }

    /// Decodes one whole frame (see [`frame::decode`]).
    pub fn decode(frame: &[u8]) -> Result<Response> {
        frame::decode(frame, frame::MAX_RESPONSE)
    }
}

/// Seconds as a short age: `42s`, `5m`, `3h12m`, `2d4h`.
pub fn age(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn env_line(f: &mut fmt::Formatter<'_>, e: &EnvInfo) -> fmt::Result {
    write!(
        f,
        "{}\tcpu {}\tlocal {}\tage {}",
        e.name,
        e.cpu_addr,
        bytes(e.local_bytes),
        age(now().saturating_sub(e.started))
    )?;
    if e.disk {
        f.write_str("\tdisk")?;
    }
    Ok(())
}

/// The text gridorc prints, without a final newline.
impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Names(names) => {
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    f.write_str(&n.name)?;
                    if let Some(by) = &n.invited_by {
                        write!(f, "\t(invited by {by})")?;
                    }
                }
                Ok(())
            }
            Response::Spawned(e) => {
                write!(f, "{} spawned on ", e.name)?;
                env_line(f, e)?;
                write!(f, "\nattach with: {}", e.attach)
            }
            Response::Saved(n) => write!(f, "{} saved", n.name),
            Response::Invited { user, name } => write!(f, "{} saved for {user}", name.name),
            Response::Status { user, envs } => {
                write!(f, "active grid namespaces for {user}")?;
                for e in envs {
                    f.write_str("\n")?;
                    env_line(f, e)?;
                }
                Ok(())
            }
            Response::Boomed(env) => write!(f, "{env} BOOMed"),
            Response::Error(msg) => f.write_str(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,24}"
    }

    fn env() -> impl Strategy<Value = EnvInfo> {
        (
            text(),
            text(),
            text(),
            any::<bool>(),
            any::<u64>(),
            any::<u64>(),
            text(),
        )
            .prop_map(
                |(name, owner, cpu_addr, disk, local_bytes, started, attach)| EnvInfo {
                    name,
                    owner,
                    cpu_addr,
                    disk,
                    local_bytes,
                    started,
                    attach,
                },
            )
    }

    fn name() -> impl Strategy<Value = NameInfo> {
        (text(), any::<Option<u64>>(), prop::option::of(text())).prop_map(
            |(name, created, invited_by)| NameInfo {
                name,
                created,
                invited_by,
            },
        )
    }

    fn response() -> impl Strategy<Value = Response> {
        prop_oneof![
            prop::collection::vec(name(), 0..8).prop_map(Response::Names),
            env().prop_map(Response::Spawned),
            name().prop_map(Response::Saved),
            (text(), name()).prop_map(|(user, name)| Response::Invited { user, name }),
            (text(), prop::collection::vec(env(), 0..4))
                .prop_map(|(user, envs)| Response::Status { user, envs }),
            text().prop_map(Response::Boomed),
            text().prop_map(Response::Error),
        ]
    }

    proptest! {
        #[test]
        fn wire_round_trip(r in response()) {
            prop_assert_eq!(Response::decode(&r.encode().unwrap()).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
            let _ = Response::decode(&bytes);
        }
    }

    #[test]
    fn text_for_the_user() {
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m");
        assert_eq!(age(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(age(2 * 86_400 + 4 * 3600), "2d4h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 19), "1.5 MiB");
        let names = Response::Names(vec![
            NameInfo {
                name: "a@n1".into(),
                created: Some(1),
                invited_by: None,
            },
            NameInfo {
                name: "b@n1".into(),
                created: None,
                invited_by: Some("bob".into()),
            },
        ]);
        assert_eq!(names.to_string(), "a@n1\nb@n1\t(invited by bob)");
        assert_eq!(Response::Boomed("x@n1".into()).to_string(), "x@n1 BOOMed");
        let env = EnvInfo {
            name: "x@n1".into(),
            owner: "alice".into(),
            cpu_addr: "127.0.0.1:4000".into(),
            disk: true,
            local_bytes: 2048,
            started: now(),
            attach: "gridorc attach x@n1".into(),
        };
        let status = Response::Status {
            user: "alice".into(),
            envs: vec![env.clone()],
        };
        let text = status.to_string();
        assert!(
            text.starts_with(
                "active grid namespaces for alice\nx@n1\tcpu 127.0.0.1:4000\tlocal 2.0 KiB\tage "
            ),
            "{text}"
        );
        assert!(text.ends_with("\tdisk"), "{text}");
        assert!(
            Response::Spawned(env)
                .to_string()
                .ends_with("\nattach with: gridorc attach x@n1")
        );
    }
}
