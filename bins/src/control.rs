//! The control socket of a `colony mount`, through which `colony save DIR`
//! asks the process serving the mount at DIR to save.
//!
//! Where: one Unix socket per mount point, `mount-<hash>.sock` in the
//! private directory `$XDG_RUNTIME_DIR/colony` (or `/tmp/colony-<uid>`
//! without it), where `<hash>` is the first 16 hex digits of the SHA-1 of
//! the mount point's canonical path. The directory is made mode 0700 and
//! refused unless it is ours and private, so nobody else can plant a
//! socket there. Finding the socket needs only the mount point: no pid
//! file to go stale, no signal that could reach the wrong process. A
//! socket left by a process that died is noticed (nobody accepts on it)
//! and replaced; a live one means the mount point is served already.
//!
//! Protocol: one request line, `save`, and one reply line, `vac:<score>`
//! or `error: <text>`; then the connection closes.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use colony_venti::Score;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The one request there is.
const SAVE: &str = "save";
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request line read.
const MAX_REQUEST: u64 = 64;

/// The private directory holding control sockets, created if missing.
fn control_dir() -> anyhow::Result<PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(run) if !run.is_empty() => PathBuf::from(run).join("colony"),
        _ => std::env::temp_dir().join(format!("colony-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    // symlink_metadata: a symlink planted in /tmp is refused, not followed.
    let meta =
        std::fs::symlink_metadata(&dir).with_context(|| format!("inspecting {}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "refusing control directory {}: not a directory private to uid {uid}",
            dir.display()
        );
    }
    Ok(dir)
}

/// The control socket of the mount at `mountpoint`.
pub fn socket_path(mountpoint: &Path) -> anyhow::Result<PathBuf> {
    let canonical = std::fs::canonicalize(mountpoint)
        .with_context(|| format!("resolving {}", mountpoint.display()))?;
    let hash = Score::of(canonical.as_os_str().as_encoded_bytes()).to_string();
    Ok(control_dir()?.join(format!("mount-{}.sock", &hash[..16])))
}

/// A bound control socket; the socket file is removed when dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the control socket for `mountpoint` (before mounting, so a
    /// mount point served already is refused before anything changes).
    /// Needs a tokio runtime.
    pub fn bind(mountpoint: &Path) -> anyhow::Result<ControlSocket> {
        let path = socket_path(mountpoint)?;
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => bail!(
                "{} is served by another colony mount already (control socket {})",
                mountpoint.display(),
                path.display()
            ),
            // Nobody accepts: left by a process that died.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => std::fs::remove_file(&path)
                .with_context(|| format!("removing stale {}", path.display()))?,
            Err(_) => {}
        }
        let listener =
            UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        Ok(ControlSocket { listener, path })
    }

    /// The next client.
    pub async fn accept(&self) -> std::io::Result<UnixStream> {
        Ok(self.listener.accept().await?.0)
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves one client: reads its request and answers it with `save`'s
/// score or error.
pub async fn answer(
    stream: UnixStream,
    save: impl Future<Output = anyhow::Result<Score>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut limited = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    let got = tokio::time::timeout(REQUEST_TIMEOUT, limited.read_line(&mut line)).await;
    let reply = match got {
        Err(_) => "error: no request within 10 s".to_string(),
        Ok(Err(e)) => format!("error: reading the request: {e}"),
        Ok(Ok(_)) if line.trim_end() == SAVE => match save.await {
            Ok(score) => score.labelled("vac"),
            Err(e) => format!("error: {e:#}"),
        },
        Ok(Ok(_)) => format!("error: unknown request {:?}", line.trim_end()),
    };
    write.write_all(format!("{reply}\n").as_bytes()).await?;
    write.shutdown().await
}

/// Asks the `colony mount` serving `mountpoint` to save; returns the new
/// score. Waits for the save however long it takes.
pub fn request_save(mountpoint: &Path) -> anyhow::Result<Score> {
    let path = socket_path(mountpoint)?;
    let mut stream = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        anyhow!(
            "no colony mount serves {} (control socket {}: {e})",
            mountpoint.display(),
            path.display()
        )
    })?;
    stream
        .write_all(format!("{SAVE}\n").as_bytes())
        .context("sending the request")?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .context("reading the reply")?;
    let reply = reply.trim_end();
    if let Some(e) = reply.strip_prefix("error: ") {
        bail!("the mount could not save: {e}");
    }
    if reply.is_empty() {
        bail!("the mount closed the connection without answering");
    }
    Score::parse_labelled(reply, "vac").with_context(|| format!("bad reply {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binds a control socket for a new directory and answers each client
    /// with `save`'s result, on a runtime of its own.
    fn serve(save: fn() -> anyhow::Result<Score>) -> (tempfile::TempDir, tokio::runtime::Runtime) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let control = rt
            .block_on(async { ControlSocket::bind(dir.path()) })
            .unwrap();
        rt.spawn(async move {
            loop {
                let client = control.accept().await.unwrap();
                tokio::spawn(answer(client, async move { save() }));
            }
        });
        (dir, rt)
    }

    fn raw(mountpoint: &Path, request: &[u8]) -> String {
        let mut s =
            std::os::unix::net::UnixStream::connect(socket_path(mountpoint).unwrap()).unwrap();
        s.write_all(request).unwrap();
        let mut reply = String::new();
        BufReader::new(s).read_line(&mut reply).unwrap();
        reply
    }

    #[test]
    fn save_returns_the_score_or_the_error() {
        let (dir, _rt) = serve(|| Ok(Score::of(b"root")));
        assert_eq!(request_save(dir.path()).unwrap(), Score::of(b"root"));
        assert_eq!(
            raw(dir.path(), b"frob\n"),
            "error: unknown request \"frob\"\n"
        );
        let (dir, _rt) = serve(|| Err(anyhow!("store full")));
        let e = request_save(dir.path()).unwrap_err().to_string();
        assert_eq!(e, "the mount could not save: store full");
    }

    #[test]
    fn one_live_socket_per_mount_point_and_stale_ones_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // A socket nobody accepts on, as a crashed mount leaves it.
        let path = socket_path(dir.path()).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let e = request_save(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no colony mount serves"), "{e}");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let bind = || rt.block_on(async { ControlSocket::bind(dir.path()) });
        let live = bind().unwrap();
        let e = bind().err().unwrap().to_string();
        assert!(e.contains("served by another colony mount already"), "{e}");
        drop(live);
        assert!(!path.exists(), "removed when dropped");
        let missing = dir.path().join("nope");
        let e = request_save(&missing).unwrap_err();
        assert!(format!("{e:#}").contains("resolving "), "{e:#}");
    }
}
