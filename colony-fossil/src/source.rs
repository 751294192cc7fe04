//! What import reads: a tree of files with their metadata. [`FsSource`]
//! reads the local file system; [`MemSource`] is built in memory.
//!
//! Paths are relative to the top of the tree; the empty path is the top.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::extension::{Nanos, Special};

/// What kind of file a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link; its target is stored as data.
    Symlink,
    /// Named pipe; stored empty with the named-pipe mode bit.
    NamedPipe,
    /// Socket or device ([`Node::special`] says which); stored empty, in
    /// colony's extension (a device with vac's device bit too).
    Special,
}

/// One file and the metadata vac keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Last path element.
    pub name: Vec<u8>,
    /// The kind.
    pub kind: NodeKind,
    /// Unix permission bits (only 0777 survive in vac).
    pub perm: u32,
    /// Owner name.
    pub uid: Vec<u8>,
    /// Group name.
    pub gid: Vec<u8>,
    /// Modification time (seconds; vac keeps 32 bits).
    pub mtime: u32,
    /// Access time.
    pub atime: u32,
    /// Length in bytes (files and symlink targets).
    pub size: u64,
    /// Numeric owner and group, where the source has them.
    pub ids: Option<(u32, u32)>,
    /// Nanoseconds of atime, mtime and ctime.
    pub nanos: Nanos,
    /// Which socket or device a [`NodeKind::Special`] is.
    pub special: Option<Special>,
    /// Extended attributes.
    pub xattrs: Xattrs,
    /// Device and inode number of a file (not a directory) that has more
    /// than one name, so that import can keep its hard links.
    pub inode: Option<(u64, u64)>,
}

/// A file's extended attributes: name and value, in the order read.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// A directory's children, in the order import visits them, and the
/// entries that cannot be archived.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Children to archive, in visiting order.
    pub nodes: Vec<Node>,
    /// Children left out (unreadable entries) with why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// A tree import can read.
pub trait Source: Sync {
    /// The top node (its name becomes the child of `/`).
    fn top(&self) -> Result<Node>;
    /// The children of directory `dir`.
    fn list(&self, dir: &Path) -> Result<Listing>;
    /// A reader over the contents of file `file`.
    fn open(&self, file: &Path) -> Result<Box<dyn Read + Send + '_>>;
    /// The full target of symlink `link`.
    fn read_link(&self, link: &Path) -> Result<Vec<u8>>;
}

/// Reorders the children (second argument) of the directory at a relative
/// path (first argument).
pub type OrderFn = Arc<dyn Fn(&Path, &mut Vec<Node>) + Send + Sync>;

/// Visiting order of a directory's children.
#[derive(Clone, Default)]
pub enum Order {
    /// Sorted by name bytes: reproducible on any machine.
    #[default]
    ByName,
    /// Whatever order the operating system's readdir returns (what
    /// plan9port vac does).
    Readdir,
    /// A caller's order: the function reorders the children of the
    /// directory at the given relative path.
    Custom(OrderFn),
}

/// Options of [`FsSource`].
#[derive(Clone, Default)]
pub struct FsOptions {
    /// Visiting order.
    pub order: Order,
    /// Owner and group names to record for every file instead of the
    /// names the system reports.
    pub owner: Option<(String, String)>,
}

/// The local file system below a path.
pub struct FsSource {
    top: PathBuf,
    options: FsOptions,
    names: Mutex<HashMap<(bool, u32), Vec<u8>>>,
}

impl FsSource {
    /// The tree at `top` (a directory, file or symlink).
    pub fn new(top: impl Into<PathBuf>, options: FsOptions) -> FsSource {
        FsSource {
            top: top.into(),
            options,
            names: Mutex::new(HashMap::new()),
        }
    }

    fn path(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.top.clone()
        } else {
            self.top.join(rel)
        }
    }

    /// The user (`group = false`) or group name of an id, numeric if the
    /// system has no name for it.
    fn name_of(&self, group: bool, id: u32) -> Vec<u8> {
        let mut names = self.names.lock().expect("name cache lock");
        names
            .entry((group, id))
            .or_insert_with(|| {
                let name = if group {
                    nix::unistd::Group::from_gid(id.into())
                        .ok()
                        .flatten()
                        .map(|g| g.name)
                } else {
                    nix::unistd::User::from_uid(id.into())
                        .ok()
                        .flatten()
                        .map(|u| u.name)
                };
                name.unwrap_or_else(|| id.to_string()).into_bytes()
            })
            .clone()
    }

    /// The extended attributes of `path` (not following a symlink); a file
    /// system without them has none.
    fn xattrs(path: &Path) -> std::result::Result<Xattrs, String> {
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        let fail = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        // Sizes can change between the probe and the read; retry then.
        let fetch =
            |call: &dyn Fn(*mut u8, usize) -> isize| -> std::result::Result<Vec<u8>, String> {
                for _ in 0..4 {
                    let n = call(std::ptr::null_mut(), 0);
                    if n < 0 {
                        return Err(fail("xattr"));
                    }
                    let mut buf = vec![0u8; n as usize];
                    let got = call(buf.as_mut_ptr(), buf.len());
                    if got >= 0 {
                        buf.truncate(got as usize);
                        return Ok(buf);
                    }
                    if std::io::Error::last_os_error().raw_os_error() != Some(nix::libc::ERANGE) {
                        return Err(fail("xattr"));
                    }
                }
                Err("xattr: keeps changing size".into())
            };
        // SAFETY: `c` is NUL-terminated; buffers are live and of the length given.
        let names = match fetch(&|b, n| unsafe { nix::libc::llistxattr(c.as_ptr(), b.cast(), n) }) {
            Ok(v) => v,
            Err(_)
                if matches!(
                    std::io::Error::last_os_error().raw_os_error(),
                    Some(nix::libc::ENOTSUP)
                ) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            let cname = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: as above.
            let value = fetch(&|b, n| unsafe {
                nix::libc::lgetxattr(c.as_ptr(), cname.as_ptr(), b.cast(), n)
            })?;
            out.push((name.to_vec(), value));
        }
        Ok(out)
    }

    fn node(&self, name: Vec<u8>, md: &fs::Metadata) -> std::result::Result<Node, String> {
        let ft = md.file_type();
        let kind = if ft.is_file() {
            NodeKind::File
        } else if ft.is_dir() {
            NodeKind::Dir
        } else if ft.is_symlink() {
            NodeKind::Symlink
        } else if ft.is_fifo() {
            NodeKind::NamedPipe
        } else {
            NodeKind::Special
        };
        let special = if ft.is_socket() {
            Some(Special::Socket)
        } else if ft.is_char_device() {
            Some(Special::CharDevice(md.rdev()))
        } else if ft.is_block_device() {
            Some(Special::BlockDevice(md.rdev()))
        } else {
            None
        };
        let ((uid, gid), ids) = match &self.options.owner {
            Some((u, g)) => ((u.clone().into_bytes(), g.clone().into_bytes()), None),
            None => (
                (self.name_of(false, md.uid()), self.name_of(true, md.gid())),
                Some((md.uid(), md.gid())),
            ),
        };
        let nsec = |n: i64| n.clamp(0, 999_999_999) as u32;
        Ok(Node {
            ids,
            nanos: Nanos {
                atime: nsec(md.atime_nsec()),
                mtime: nsec(md.mtime_nsec()),
                ctime: nsec(md.ctime_nsec()),
            },
            special,
            xattrs: Vec::new(),
            inode: (md.nlink() > 1 && !ft.is_dir()).then(|| (md.dev(), md.ino())),
            name,
            kind,
            perm: md.mode() & 0o7777,
            uid,
            gid,
            mtime: clamp_time(md.mtime()),
            atime: clamp_time(md.atime()),
            size: if kind == NodeKind::File || kind == NodeKind::Symlink {
                md.len()
            } else {
                0
            },
        })
    }
}

/// vac stores 32-bit unsigned seconds: earlier times become 0, later ones
/// the maximum.
fn clamp_time(t: i64) -> u32 {
    t.clamp(0, u32::MAX as i64) as u32
}

impl Source for FsSource {
    fn top(&self) -> Result<Node> {
        let md = fs::symlink_metadata(&self.top).map_err(|e| Error::io("stat", &self.top, e))?;
        // "." and "dir/.." have no last element: name them as resolved.
        let resolved =
            fs::canonicalize(&self.top).map_err(|e| Error::io("resolve", &self.top, e))?;
        let name = match self.top.file_name().or(resolved.file_name()) {
            Some(n) => n.as_bytes().to_vec(),
            None => {
                return Err(Error::io(
                    "name",
                    &self.top,
                    std::io::Error::other("/ has no name: import its contents instead"),
                ));
            }
        };
        self.node(name, &md)
            .map_err(|why| Error::io("archive", &self.top, std::io::Error::other(why)))
    }

    fn list(&self, dir: &Path) -> Result<Listing> {
        let path = self.path(dir);
        let mut out = Listing::default();
        let rd = fs::read_dir(&path).map_err(|e| Error::io("read directory", &path, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| Error::io("read directory", &path, e))?;
            let rel = dir.join(ent.file_name());
            match ent.metadata() {
                Ok(md) => match self
                    .node(ent.file_name().as_bytes().to_vec(), &md)
                    .and_then(|mut n| {
                        n.xattrs = Self::xattrs(&ent.path())?;
                        Ok(n)
                    }) {
                    Ok(n) => out.nodes.push(n),
                    Err(why) => out.skipped.push((rel, why)),
                },
                Err(e) => out.skipped.push((rel, format!("stat: {e}"))),
            }
        }
        match &self.options.order {
            Order::ByName => out.nodes.sort_by(|a, b| a.name.cmp(&b.name)),
            Order::Readdir => {}
            Order::Custom(f) => f(dir, &mut out.nodes),
        }
        Ok(out)
    }

    fn open(&self, file: &Path) -> Result<Box<dyn Read + Send + '_>> {
        let path = self.path(file);
        let f = fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        Ok(Box::new(f))
    }

    fn read_link(&self, link: &Path) -> Result<Vec<u8>> {
        let path = self.path(link);
        let t = fs::read_link(&path).map_err(|e| Error::io("readlink", &path, e))?;
        Ok(t.as_os_str().as_bytes().to_vec())
    }
}

/// Metadata for [`MemSource`] nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits.
    pub perm: u32,
    /// Owner.
    pub uid: String,
    /// Group.
    pub gid: String,
    /// Modification time.
    pub mtime: u32,
    /// Access time.
    pub atime: u32,
}

struct MemNode {
    node: Node,
    children: Vec<PathBuf>,
    data: Vec<u8>,
}

/// A tree held in memory; children are visited in the order they were
/// added.
pub struct MemSource {
    nodes: HashMap<PathBuf, MemNode>,
}

impl MemSource {
    /// A tree whose top is the directory `name`.
    pub fn new(name: &str, meta: Meta) -> MemSource {
        let mut nodes = HashMap::new();
        nodes.insert(
            PathBuf::new(),
            MemNode {
                node: mem_node(name.as_bytes(), NodeKind::Dir, &meta, 0),
                children: Vec::new(),
                data: Vec::new(),
            },
        );
        MemSource { nodes }
    }

    fn add(&mut self, path: &str, kind: NodeKind, data: &[u8], meta: &Meta) -> Result<&mut Self> {
        let p = PathBuf::from(path);
        let parent = p.parent().unwrap_or(Path::new("")).to_path_buf();
        let name = p
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let bad = |why: &str| Error::io("add", &p, std::io::Error::other(why.to_string()));
        if name.is_empty() || self.nodes.contains_key(&p) {
            return Err(bad("empty or duplicate path"));
        }
        match self.nodes.get_mut(&parent) {
            Some(d) if d.node.kind == NodeKind::Dir => d.children.push(p.clone()),
            _ => return Err(bad("parent is not a directory")),
        }
        let node = mem_node(&name, kind, meta, data.len() as u64);
        self.nodes.insert(
            p,
            MemNode {
                node,
                children: Vec::new(),
                data: data.to_vec(),
            },
        );
        Ok(self)
    }

    /// Adds directory `path` (its parent must exist).
    pub fn dir(&mut self, path: &str, meta: Meta) -> Result<&mut Self> {
        self.add(path, NodeKind::Dir, &[], &meta)
    }

    /// Adds file `path` with `data`.
    pub fn file(&mut self, path: &str, data: &[u8], meta: Meta) -> Result<&mut Self> {
        self.add(path, NodeKind::File, data, &meta)
    }

    /// Adds a symlink pointing at `target`.
    pub fn symlink(&mut self, path: &str, target: &[u8], meta: Meta) -> Result<&mut Self> {
        self.add(path, NodeKind::Symlink, target, &meta)
    }

    fn get(&self, p: &Path) -> Result<&MemNode> {
        self.nodes
            .get(p)
            .ok_or_else(|| Error::io("find", p, std::io::ErrorKind::NotFound.into()))
    }
}

fn mem_node(name: &[u8], kind: NodeKind, m: &Meta, size: u64) -> Node {
    Node {
        name: name.to_vec(),
        kind,
        perm: m.perm,
        uid: m.uid.clone().into_bytes(),
        gid: m.gid.clone().into_bytes(),
        mtime: m.mtime,
        atime: m.atime,
        size,
        ids: None,
        nanos: Nanos::default(),
        special: None,
        xattrs: Vec::new(),
        inode: None,
    }
}

impl Source for MemSource {
    fn top(&self) -> Result<Node> {
        Ok(self.get(Path::new(""))?.node.clone())
    }

    fn list(&self, dir: &Path) -> Result<Listing> {
        let d = self.get(dir)?;
        let nodes = d
            .children
            .iter()
            .map(|c| self.get(c).map(|n| n.node.clone()))
            .collect::<Result<_>>()?;
        Ok(Listing {
            nodes,
            skipped: Vec::new(),
        })
    }

    fn open(&self, file: &Path) -> Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(&self.get(file)?.data[..]))
    }

    fn read_link(&self, link: &Path) -> Result<Vec<u8>> {
        Ok(self.get(link)?.data.clone())
    }
}
