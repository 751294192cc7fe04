//! Resource limits for spawning, as data for the spawning API.
//!
//! The original grid had node-wide limits only (`spawnmax=5` environments,
//! a fixed 100 MB ramdisk each), so one user could take every slot. Here
//! a node also caps each user. `spawndisk` environments keep their local
//! store in a file and take one of the node's disk slots (the original had
//! `diskmax=3`, two slots of a 1 GB partition each). The limits live in the
//! data directory's `limits` file, one ndb entry (`attr=value`), e.g.
//! `limits sessions-per-node=5 sessions-per-user=2 local-store=104857600
//! disk-slots=2 disk-store=1073741824 id-base=1879048192 memory=2147483648
//! pids=1024 cpu=1000 network=nat shells-per-env=8 shell-ring=1048576`; a
//! missing file or attribute means the default.

use std::path::Path;

use crate::error::{Error, Result};
use colony_ns::cpu::ShellLimits;
use colony_ns::session::{Limits as SessionLimits, Network};

use crate::ndb;
use crate::user::UserName;

/// The limits file in a data directory.
pub const LIMITS_FILE: &str = "limits";

/// What one node allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Environments the node runs at once, all users together.
    pub sessions_per_node: u32,
    /// Environments one user may run at once on the node.
    pub sessions_per_user: u32,
    /// Bytes of local write-back store per environment; beyond it dirty
    /// blocks go to venti early (the original's ramdisk size).
    pub local_store: u64,
    /// Environments with their local store on disk (`spawndisk`) the node
    /// runs at once; each also counts as a session.
    pub disk_slots: u32,
    /// Bytes of local store per `spawndisk` environment.
    pub disk_store: u64,
    /// The first host id of environments' user namespaces: each takes a
    /// range of 65,536 ids above it (see
    /// [`IdRanges`](crate::colony::IdRanges)).
    pub id_base: u32,
    /// Memory one environment may use, in bytes; beyond it the kernel
    /// kills inside that environment only.
    pub memory: u64,
    /// Processes and threads one environment may run at once.
    pub pids: u64,
    /// CPU time one environment may use, in thousandths of a core.
    pub cpu_millis: u64,
    /// How environments reach the network: `nat` (outbound through
    /// pasta, never the host's loopback) or `none` (loopback only).
    pub network: Network,
    /// Named persistent shells one environment runs at once.
    pub shells_per_env: u32,
    /// Bytes of recent output each named shell keeps for clients that
    /// attach later.
    pub shell_ring: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            sessions_per_node: 5,
            sessions_per_user: 2,
            local_store: 100 << 20,
            disk_slots: 2,
            disk_store: 1 << 30,
            // Above every ordinary account and systemd's container ranges.
            id_base: 0x7000_0000,
            memory: 2 << 30,
            pids: 1024,
            cpu_millis: 1000,
            network: Network::Nat,
            shells_per_env: 8,
            shell_ring: 1 << 20,
        }
    }
}

impl Limits {
    /// May `user`, who runs `theirs` environments here, start one more
    /// while the node runs `total`? Otherwise [`Error::LimitReached`].
    pub fn admit(&self, user: &UserName, theirs: u32, total: u32) -> Result<()> {
        if total >= self.sessions_per_node {
            return Err(Error::LimitReached(format!(
                "spawn limit reached: the node runs {total} of {} environments",
                self.sessions_per_node
            )));
        }
        if theirs >= self.sessions_per_user {
            return Err(Error::LimitReached(format!(
                "spawn limit reached: {user} runs {theirs} of {} environments",
                self.sessions_per_user
            )));
        }
        Ok(())
    }

    /// May one more `spawndisk` environment start while `in_use` disk
    /// slots are taken? Otherwise [`Error::LimitReached`].
    pub fn admit_disk(&self, in_use: u32) -> Result<()> {
        if in_use >= self.disk_slots {
            return Err(Error::LimitReached(format!(
                "no available disk slots: the node uses {in_use} of {}",
                self.disk_slots
            )));
        }
        Ok(())
    }

    /// Reads `data_dir/limits` (defaults when it does not exist).
    pub fn load(data_dir: &Path) -> Result<Limits> {
        let path = data_dir.join(LIMITS_FILE);
        match std::fs::read(&path) {
            Ok(text) => Limits::decode(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Limits::default()),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    }

    /// Parses the ndb text of a limits file: at most one entry, known
    /// attributes only, each a number.
    pub fn decode(text: &[u8]) -> Result<Limits> {
        let entries = ndb::parse(text)?;
        let mut limits = Limits::default();
        if let [_, second, ..] = &entries[..] {
            return Err(Error::Ndb {
                line: second.line,
                reason: "a limits file holds one entry".into(),
            });
        }
        for entry in &entries {
            for t in &entry.tuples {
                let number = || {
                    t.value.parse::<u64>().map_err(|_| Error::Ndb {
                        line: entry.line,
                        reason: format!("{}={:?} is not a number", t.attr, t.value),
                    })
                };
                let small = |n: u64| {
                    u32::try_from(n).map_err(|_| Error::Ndb {
                        line: entry.line,
                        reason: format!("{}={n} is too large", t.attr),
                    })
                };
                match t.attr.as_str() {
                    "limits" => {}
                    "sessions-per-node" => limits.sessions_per_node = small(number()?)?,
                    "sessions-per-user" => limits.sessions_per_user = small(number()?)?,
                    "local-store" => limits.local_store = number()?,
                    "disk-slots" => limits.disk_slots = small(number()?)?,
                    "disk-store" => limits.disk_store = number()?,
                    "id-base" => limits.id_base = small(number()?)?,
                    "memory" => limits.memory = number()?,
                    "pids" => limits.pids = number()?,
                    "cpu" => limits.cpu_millis = number()?,
                    "shells-per-env" => limits.shells_per_env = small(number()?)?,
                    "shell-ring" => limits.shell_ring = small(number()?)?,
                    "network" => {
                        limits.network = match t.value.as_str() {
                            "nat" => Network::Nat,
                            "none" => Network::Loopback,
                            other => {
                                return Err(Error::Ndb {
                                    line: entry.line,
                                    reason: format!("network={other:?}: nat or none"),
                                });
                            }
                        }
                    }
                    other => {
                        return Err(Error::Ndb {
                            line: entry.line,
                            reason: format!("unknown limit {other:?}"),
                        });
                    }
                }
            }
        }
        Ok(limits)
    }

    /// The ndb text of a limits file.
    pub fn encode(&self) -> String {
        format!(
            "limits sessions-per-node={} sessions-per-user={} local-store={} disk-slots={} disk-store={} id-base={} memory={} pids={} cpu={} network={} shells-per-env={} shell-ring={}\n",
            self.sessions_per_node,
            self.sessions_per_user,
            self.local_store,
            self.disk_slots,
            self.disk_store,
            self.id_base,
            self.memory,
            self.pids,
            self.cpu_millis,
            if self.network == Network::Nat {
                "nat"
            } else {
                "none"
            },
            self.shells_per_env,
            self.shell_ring,
        )
    }

    /// What each environment's named shells are held to.
    pub fn shells(&self) -> ShellLimits {
        ShellLimits {
            per_session: self.shells_per_env as usize,
            ring_bytes: self.shell_ring as usize,
        }
    }

    /// What each environment's session is held to.
    pub fn session(&self) -> SessionLimits {
        SessionLimits {
            memory_bytes: Some(self.memory),
            pids: Some(self.pids),
            cpu_weight: None,
            cpu_millis: Some(self.cpu_millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admit_counts_the_node_and_the_user() {
        let l = Limits::default();
        let bob = UserName::new("bob").unwrap();
        l.admit(&bob, 0, 0).unwrap();
        l.admit(&bob, 1, 4).unwrap();
        assert!(
            matches!(l.admit(&bob, 2, 2), Err(Error::LimitReached(m)) if m.contains("bob runs 2 of 2"))
        );
        assert!(
            matches!(l.admit(&bob, 0, 5), Err(Error::LimitReached(m)) if m.contains("node runs 5 of 5"))
        );
    }

    #[test]
    fn admit_disk_counts_slots() {
        let l = Limits::default();
        l.admit_disk(0).unwrap();
        l.admit_disk(1).unwrap();
        assert!(
            matches!(l.admit_disk(2), Err(Error::LimitReached(m)) if m == "no available disk slots: the node uses 2 of 2")
        );
        let none = Limits { disk_slots: 0, ..l };
        assert!(matches!(none.admit_disk(0), Err(Error::LimitReached(_))));
    }

    #[test]
    fn file_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Limits::load(dir.path()).unwrap(), Limits::default());
        std::fs::write(
            dir.path().join(LIMITS_FILE),
            "# this node is small\nlimits sessions-per-user=1 disk-slots=1 network=none shell-ring=4096\n",
        )
        .unwrap();
        assert_eq!(
            Limits::load(dir.path()).unwrap(),
            Limits {
                sessions_per_user: 1,
                disk_slots: 1,
                network: Network::Loopback,
                shell_ring: 4096,
                ..Limits::default()
            }
        );
        for (text, want) in [
            ("limits sessions-per-user=two\n", "not a number"),
            ("limits sessions-per-node=99999999999\n", "too large"),
            ("limits disk-slots=4294967296\n", "too large"),
            ("limits shell-ring=4294967296\n", "too large"),
            ("limits shells-per-env=many\n", "not a number"),
            ("limits disk-store=-1\n", "not a number"),
            ("limits cpus=4\n", "unknown limit"),
            ("limits network=host\n", "nat or none"),
            ("limits\n\nlimits\n", "one entry"),
        ] {
            match Limits::decode(text.as_bytes()) {
                Err(Error::Ndb { reason, .. }) => assert!(reason.contains(want), "{reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            node in any::<u32>(),
            user in any::<u32>(),
            store in any::<u64>(),
            slots in any::<u32>(),
            disk in any::<u64>(),
            id_base in any::<u32>(),
            (memory, pids, cpu) in any::<(u64, u64, u64)>(),
            nat in any::<bool>(),
            (shells_per_env, shell_ring) in any::<(u32, u32)>(),
        ) {
            let l = Limits {
                sessions_per_node: node,
                sessions_per_user: user,
                local_store: store,
                disk_slots: slots,
                disk_store: disk,
                id_base,
                memory,
                pids,
                cpu_millis: cpu,
                network: if nat { Network::Nat } else { Network::Loopback },
                shells_per_env,
                shell_ring,
            };
            prop_assert_eq!(Limits::decode(l.encode().as_bytes()).unwrap(), l);
        }
    }
}
