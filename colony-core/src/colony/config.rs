//! What a node's [`Colony`](super::Colony) is opened with, and where it
//! keeps things in its data directory.

use std::path::{Path, PathBuf};

use colony_ns::session::LinuxConfig;

/// The block store's folder in a data directory.
pub const VENTI_DIR: &str = "venti";
/// The folder of running environments' private files (FUSE mountpoints,
/// `spawndisk` local stores) in a data directory.
pub const ENVS_DIR: &str = "envs";

/// How to open a node.
#[derive(Clone, Debug)]
pub struct ColonyConfig {
    /// Holds `venti/`, the names database, the node id, the CA, `limits`
    /// and `envs/`; made by `colony init`
    /// ([`identity::init`](crate::identity::init)).
    pub data_dir: PathBuf,
    /// Host name or IP address the cpu listeners bind and that cpu
    /// addresses name.
    pub cpu_host: String,
    /// How to run the session helper ([`SessionRuntime`](super::SessionRuntime)'s;
    /// a [`RemoteRuntime`](super::RemoteRuntime) leaves sessions to its
    /// cpu service).
    pub helper: LinuxConfig,
    /// The tree `colony up` seeds `clean.<node>` from; not used by
    /// [`Colony`](super::Colony) itself.
    pub seed: Option<PathBuf>,
}

impl ColonyConfig {
    /// The block store's directory.
    pub fn venti_dir(&self) -> PathBuf {
        self.data_dir.join(VENTI_DIR)
    }

    /// The directory of running environments' files.
    pub fn envs_dir(&self) -> PathBuf {
        self.data_dir.join(ENVS_DIR)
    }

    /// `host:port` for `cpu_host`, bracketing an IPv6 literal.
    pub fn cpu_address(&self, port: u16) -> String {
        host_port(&self.cpu_host, port)
    }
}

/// `host:port`, bracketing an IPv6 literal.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where the environment spawned from `name` keeps a file with `suffix`
/// (names hold only `A-Za-z0-9._+-@`, which are safe in file names).
pub(crate) fn env_path(envs: &Path, name: &str, suffix: &str) -> PathBuf {
    envs.join(format!("{name}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(host_port("127.0.0.1", 7), "127.0.0.1:7");
        assert_eq!(host_port("::1", 7), "[::1]:7");
        assert_eq!(host_port("[::1]", 7), "[::1]:7");
        assert_eq!(host_port("node.example", 80), "node.example:80");
        assert_eq!(
            env_path(Path::new("/d/envs"), "x@n", "root"),
            PathBuf::from("/d/envs/x@n.root")
        );
    }
}
