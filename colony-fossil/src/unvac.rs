//! Export: extract a vac archive into a directory (`unvac`).
//!
//! Restored: regular files (holes where the archive has zero subtrees),
//! directories, symlinks, named pipes, permission bits (set-id bits as
//! root), mtimes and atimes, and owners when running as root (by number
//! where colony's extension records it, else by name where the name
//! exists). From colony's extension ([`crate::extension`]) also:
//! nanoseconds of the times, sockets, devices (as root), extended
//! attributes (those this user and file system may set) and hard links
//! (the first name of a group is extracted, the others linked to it).
//!
//! Not restored, and reported: devices without a number (plan9port's vac
//! records none) or without the right to make them, attributes that may
//! not be set here; owners when not root or when a name is unknown here.
//! What vac itself cannot represent, so no export can bring back: hard
//! links of archives without colony's extension (each name becomes its
//! own file), pre-1970 or post-2106 times,
//! and symlink targets beyond 8 bytes in archives written by plan9port
//! vac.
//!
//! A damaged file or directory (missing block, hash mismatch, malformed
//! record) is reported with its path and the block's score; extraction
//! goes on with the rest. A directory holding an entry whose name is not
//! a file name (empty, `.`, `..`, or with `/` or NUL) is such a damaged
//! directory ([`Error::BadEntryName`]): none of its entries is extracted,
//! so nothing is ever written outside the destination.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use colony_venti::{BlockStore, Score};
use filetime::FileTime;

use crate::archive::Archive;
use crate::dir::{Child, DirReader};
use crate::dir_entry::DirEntry;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::extension::Special;
use crate::mode::{self, Kind};
use crate::read_ahead::{ReadAhead, Room, Want};
use crate::tree::TreeReader;
use crate::walk_ahead::{self, LEAVES_AHEAD, WalkAhead};

/// Longest symlink target restored (Linux allows 4095 bytes).
const MAX_LINK: u64 = 65536;

/// Options of [`export`].
#[derive(Clone, Debug)]
pub struct UnvacOptions {
    /// Restore owners (only effective when running as root).
    pub owners: bool,
    /// Restore modification and access times.
    pub times: bool,
    /// Most bytes of blocks fetched ahead of the extraction (held, or
    /// in flight counted at their largest), besides the next batch of
    /// leaves of the file being written.
    pub read_ahead: usize,
}

impl Default for UnvacOptions {
    fn default() -> Self {
        UnvacOptions {
            owners: true,
            times: true,
            read_ahead: 64 << 20,
        }
    }
}

pub use crate::progress::Progress;

/// What an export did.
#[derive(Debug, Default)]
pub struct Exported {
    /// Files, symlinks and pipes extracted.
    pub files: u64,
    /// Directories extracted.
    pub dirs: u64,
    /// Bytes of file data.
    pub bytes: u64,
    /// Paths not extracted on purpose (devices), with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Paths that could not be extracted, each with its error.
    pub errors: Vec<(PathBuf, Error)>,
    /// True if owners were not restored (not root, or names unknown).
    pub owners_not_restored: bool,
    /// Most bytes fetched ahead at once (held, or in flight counted at
    /// their largest): at most [`UnvacOptions::read_ahead`], plus one
    /// file's next batch of leaves.
    pub read_ahead_peak: usize,
}

/// Counts what [`export`] would extract (files and directories, file
/// bytes) by reading the archive's directories, for sizing a progress bar.
pub fn measure<S: BlockStore + ?Sized>(store: &S, score: &Score) -> Result<Progress> {
    fn walk<S: BlockStore + ?Sized>(
        store: &S,
        dir: &DirReader<'_, S>,
        path: &str,
        total: &mut Progress,
    ) -> Result<()> {
        let list = dir
            .list()
            .map_err(|e| e.at_path(if path.is_empty() { "/" } else { path }))?;
        for de in list {
            total.files += 1;
            match dir.open(&de)? {
                Child::Dir { dir, meta } => {
                    let sub = format!("{path}/{}", crate::name::show(&de.elem));
                    walk(store, &DirReader::new(store, dir, meta), &sub, total)?
                }
                Child::File(e) if mode::kind(de.mode) == Kind::File => total.bytes += e.size,
                Child::File(_) => {}
            }
        }
        Ok(())
    }
    let archive = Archive::open(store, score)?;
    let mut total = Progress::default();
    walk(store, &archive.root_dir(store), "", &mut total)?;
    Ok(total)
}

/// Extracts the archive `score` from `store` into `dest`, which must be an
/// existing directory: the children of `/` become its entries. Fails as a
/// whole only if the archive's root cannot be opened.
pub fn export<S: BlockStore + ?Sized>(
    store: &S,
    score: &Score,
    dest: &Path,
    options: &UnvacOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Exported> {
    let store = &ReadAhead::new(store, options.read_ahead);
    let archive = Archive::open(store, score)?;
    let mut x = Exporter {
        store,
        options,
        as_root: nix::unistd::geteuid().is_root(),
        progress,
        done: Progress::default(),
        out: Exported::default(),
        linked: HashMap::new(),
        owners: Owners::default(),
        pos: Vec::new(),
    };
    x.out.owners_not_restored = !(x.as_root && options.owners);
    let root = archive.root_dir(store);
    let walk = WalkAhead::new(store, archive.dir, archive.meta);
    std::thread::scope(|s| {
        for _ in 0..walk_ahead::WORKERS {
            s.spawn(|| walk.run());
        }
        // Stopped however the extraction ends: a panic unwinding here
        // would otherwise wait for the fetchers, and they for room.
        let _stop = walk.stop_on_drop();
        x.extract_dir(&root, dest, "");
    });
    x.out.read_ahead_peak = store.peak();
    Ok(x.out)
}

struct Exporter<'a, 'p, S: BlockStore + ?Sized> {
    store: &'a ReadAhead<'a, S>,
    options: &'a UnvacOptions,
    as_root: bool,
    progress: &'p mut dyn FnMut(&Progress),
    done: Progress,
    out: Exported,
    /// The first name extracted of each hard-link group.
    linked: HashMap<u64, PathBuf>,
    owners: Owners,
    /// Where the extraction is in the archive's walk (the read-ahead's
    /// positions).
    pos: Vec<u32>,
}

impl<S: BlockStore + ?Sized> Exporter<'_, '_, S> {
    /// Extracts every child of `dir` into the existing directory `dest`.
    fn extract_dir(&mut self, dir: &DirReader<'_, ReadAhead<'_, S>>, dest: &Path, apath: &str) {
        let list = match dir.list() {
            Ok(l) => l,
            Err(e) => {
                let p = if apath.is_empty() { "/" } else { apath };
                self.out.errors.push((dest.to_path_buf(), e.at_path(p)));
                return;
            }
        };
        for (i, de) in (0..).zip(&list) {
            self.pos.push(i);
            self.store.advance(&self.pos);
            self.extract_child(dir, de, dest, apath);
            self.pos.pop();
        }
    }

    /// Extracts `de`, a child of `dir`, into `dest`.
    fn extract_child(
        &mut self,
        dir: &DirReader<'_, ReadAhead<'_, S>>,
        de: &DirEntry,
        dest: &Path,
        apath: &str,
    ) {
        let child_apath = format!("{apath}/{}", crate::name::show(&de.elem));
        // `list` refused the directory if any name could leave `dest`
        // (empty, ".", "..", '/' or NUL): Error::BadEntryName.
        let target = dest.join(OsStr::from_bytes(&de.elem));
        match self.extract(dir, de, &target, &child_apath) {
            Err(e) => self.out.errors.push((target, e.at_path(&child_apath))),
            // The first name of a group extracted: the others link to it.
            Ok(()) => {
                if let Some(g) = de.link()
                    && fs::symlink_metadata(&target).is_ok()
                {
                    self.linked.entry(g).or_insert(target);
                }
            }
        }
    }

    fn extract(
        &mut self,
        parent: &DirReader<'_, ReadAhead<'_, S>>,
        de: &DirEntry,
        target: &Path,
        apath: &str,
    ) -> Result<()> {
        let kind = mode::kind(de.mode);
        if let Some(g) = de.link().filter(|_| kind != Kind::Dir) {
            if let Some(first) = self.linked.get(&g) {
                remove_existing(target)?;
                fs::hard_link(first, target).map_err(|e| Error::io("link", target, e))?;
                self.out.files += 1;
                self.done.files += 1;
                (self.progress)(&self.done);
                return Ok(());
            }
        }
        // Sockets and devices, from colony's extension; a device without
        // it (plan9port's vac records no number) cannot be made.
        let node_type = match (kind, de.special()) {
            (_, Some(Special::Socket)) => Some((nix::sys::stat::SFlag::S_IFSOCK, 0)),
            (Kind::Device, Some(Special::CharDevice(r))) => {
                Some((nix::sys::stat::SFlag::S_IFCHR, r))
            }
            (Kind::Device, Some(Special::BlockDevice(r))) => {
                Some((nix::sys::stat::SFlag::S_IFBLK, r))
            }
            (Kind::Device, _) => {
                self.out.skipped.push((
                    target.to_path_buf(),
                    "device without a number: not restored".into(),
                ));
                return Ok(());
            }
            _ => None,
        };
        if let Some((ty, rdev)) = node_type {
            remove_existing(target)?;
            let perm = nix::sys::stat::Mode::from_bits_truncate(0o600);
            if let Err(e) = nix::sys::stat::mknod(target, ty, perm, rdev) {
                // Devices need root (CAP_MKNOD), as tar finds.
                self.out
                    .skipped
                    .push((target.to_path_buf(), format!("mknod: {e}")));
                return Ok(());
            }
            self.out.files += 1;
            self.finish(de, kind, target, None)?;
            self.done.files += 1;
            (self.progress)(&self.done);
            return Ok(());
        }
        let child = parent.open(de)?;
        match (kind, child) {
            (Kind::Dir, Child::Dir { dir, meta }) => {
                // Never follow a symlink left at this name: it could point
                // outside the destination.
                match fs::symlink_metadata(target) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => {
                        remove_existing(target)?;
                        fs::create_dir(target).map_err(|e| Error::io("mkdir", target, e))?;
                    }
                    Err(_) => fs::create_dir(target).map_err(|e| Error::io("mkdir", target, e))?,
                }
                // Writable while we fill it; the real mode comes after.
                set_perm(target, 0o700)?;
                let sub = DirReader::new(self.store, dir, meta);
                self.extract_dir(&sub, target, apath);
                self.out.dirs += 1;
            }
            (Kind::Symlink, Child::File(e)) => {
                if e.size > MAX_LINK {
                    return Err(Error::format(
                        "symlink",
                        format!("target of {} bytes", e.size),
                    ));
                }
                let t = TreeReader::new(self.store, e)?.read_all()?;
                remove_existing(target)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&t), target)
                    .map_err(|e| Error::io("symlink", target, e))?;
                self.out.files += 1;
            }
            (Kind::NamedPipe, Child::File(_)) => {
                remove_existing(target)?;
                nix::unistd::mkfifo(target, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(|e| Error::io("mkfifo", target, e.into()))?;
                self.out.files += 1;
            }
            (Kind::File, Child::File(e)) => {
                let f = self.write_file(e, target)?;
                self.out.files += 1;
                // Through the open file: no lookups of its path.
                self.finish(de, kind, target, Some(&f))?;
                self.done.files += 1;
                (self.progress)(&self.done);
                return Ok(());
            }
            _ => return Err(Error::format("DirEntry", "mode does not match its streams")),
        }
        self.finish(de, kind, target, None)?;
        self.done.files += 1;
        (self.progress)(&self.done);
        Ok(())
    }

    /// Writes a file a batch of leaves at a time (one `read_many` each, so
    /// a remote store has them all in flight), fetching the next batch
    /// while this one is written; zero subtrees become holes.
    /// Returns the file, open, for [`Exporter::finish`].
    fn write_file(&mut self, e: Entry, target: &Path) -> Result<fs::File> {
        let store = self.store;
        let mut r = TreeReader::new(store, e)?;
        let mut f = create_new(target)?;
        // The file's offset, and the end of what was written: what lies
        // past it (holes) is zeros.
        let (mut at, mut written) = (0, 0);
        let dsize = e.dsize as u64;
        let leaves = r.leaves();
        let mut first = 0;
        while first < leaves {
            let end = leaves.min(first + LEAVES_AHEAD);
            // Scores that do not resolve are left for their batch to report.
            let next: Vec<Want> = (end..leaves.min(end + LEAVES_AHEAD))
                .filter_map(|bn| r.leaf_score(bn).ok())
                .map(|s| Want {
                    key: (s, e.leaf_type()),
                    most: e.dsize as usize,
                    tag: self.pos.clone(),
                })
                .collect();
            // This batch is taken before the next is asked for, so one
            // batch at a time is held beyond the read-ahead's cap.
            let batch = r.read_leaves(first..end)?;
            std::thread::scope(|s| -> Result<()> {
                if !next.is_empty() {
                    s.spawn(|| store.fetch(&next, Room::Now));
                }
                for (bn, (_, block)) in (first..end).zip(batch) {
                    let len = (e.size - bn * dsize).min(dsize);
                    // Zero subtrees come back empty, and blocks without
                    // their trailing zeros: the rest is a hole.
                    let data = &block[..block.len().min(len as usize)];
                    if !data.is_empty() {
                        if at != bn * dsize {
                            f.seek(SeekFrom::Start(bn * dsize))
                                .map_err(|e| Error::io("seek", target, e))?;
                        }
                        f.write_all(data)
                            .map_err(|e| Error::io("write", target, e))?;
                        written = bn * dsize + data.len() as u64;
                        at = written;
                    }
                    self.done.bytes += len;
                }
                Ok(())
            })?;
            if end < leaves {
                // A large file reports as it goes; every file, when done.
                (self.progress)(&self.done);
            }
            first = end;
        }
        if written < e.size {
            f.set_len(e.size)
                .map_err(|e| Error::io("truncate", target, e))?;
        }
        self.out.bytes += e.size;
        Ok(f)
    }

    /// Owner, mode and times, in the order that keeps them all.
    /// Numeric owners (colony's extension) win over names, which must be
    /// known here.
    /// `file` is `target` open, if it is a regular file: its owner, mode
    /// and times are set through it.
    fn finish(
        &mut self,
        de: &DirEntry,
        kind: Kind,
        target: &Path,
        file: Option<&fs::File>,
    ) -> Result<()> {
        if self.as_root && self.options.owners {
            let user = de
                .uid_number()
                .map(Into::into)
                .or_else(|| self.owners.user(&de.uid));
            let group = de
                .gid_number()
                .map(Into::into)
                .or_else(|| self.owners.group(&de.gid));
            if user.is_none() || group.is_none() {
                self.out.owners_not_restored = true;
            }
            match file {
                Some(f) => nix::unistd::fchown(f, user, group),
                None => nix::unistd::fchownat(
                    nix::fcntl::AT_FDCWD,
                    target,
                    user,
                    group,
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                ),
            }
            .map_err(|e| Error::io("chown", target, e.into()))?;
        }
        self.restore_xattrs(de, target)?;
        if kind != Kind::Symlink {
            let mut perm = mode::to_unix_perm(de.mode);
            if !self.as_root {
                // Like tar: set-id bits only when restoring as root.
                perm &= 0o1777;
            }
            match file {
                Some(f) => f
                    .set_permissions(fs::Permissions::from_mode(perm))
                    .map_err(|e| Error::io("chmod", target, e))?,
                None => set_perm(target, perm)?,
            }
        }
        if self.options.times {
            let n = de.nanos();
            let (a, m) = (
                FileTime::from_unix_time(de.atime as i64, n.atime),
                FileTime::from_unix_time(de.mtime as i64, n.mtime),
            );
            match file {
                Some(f) => filetime::set_file_handle_times(f, Some(a), Some(m)),
                None => filetime::set_symlink_file_times(target, a, m),
            }
            .map_err(|e| Error::io("utimes", target, e))?;
        }
        Ok(())
    }
}

impl<S: BlockStore + ?Sized> Exporter<'_, '_, S> {
    /// Extended attributes (colony's extension). Those this file system or
    /// this user may not set (`trusted.*` without root, none at all on
    /// some file systems) are left out, and listed.
    fn restore_xattrs(&mut self, de: &DirEntry, target: &Path) -> Result<()> {
        let mut names = de.xattr_names().peekable();
        if names.peek().is_none() {
            return Ok(());
        }
        let path = std::ffi::CString::new(target.as_os_str().as_bytes())
            .map_err(|e| Error::io("setxattr", target, std::io::Error::other(e)))?;
        for name in names {
            let value = de.xattr(name).unwrap_or_default();
            let cname = std::ffi::CString::new(name)
                .map_err(|e| Error::io("setxattr", target, std::io::Error::other(e)))?;
            // SAFETY: NUL-terminated strings and a live buffer of that length.
            let r = unsafe {
                nix::libc::lsetxattr(
                    path.as_ptr(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(nix::libc::ENOTSUP | nix::libc::EPERM) => self.out.skipped.push((
                        target.to_path_buf(),
                        format!("extended attribute {}: {e}", name.escape_ascii()),
                    )),
                    _ => return Err(Error::io("setxattr", target, e)),
                }
            }
        }
        Ok(())
    }
}

/// Owners' names looked up in this system's databases, each once: an
/// archive names the same few owners on every file.
#[derive(Default)]
struct Owners {
    users: HashMap<Vec<u8>, Option<nix::unistd::Uid>>,
    groups: HashMap<Vec<u8>, Option<nix::unistd::Gid>>,
}

impl Owners {
    fn user(&mut self, name: &[u8]) -> Option<nix::unistd::Uid> {
        *self.users.entry(name.to_vec()).or_insert_with(|| {
            nix::unistd::User::from_name(&String::from_utf8_lossy(name))
                .ok()
                .flatten()
                .map(|u| u.uid)
        })
    }

    fn group(&mut self, name: &[u8]) -> Option<nix::unistd::Gid> {
        *self.groups.entry(name.to_vec()).or_insert_with(|| {
            nix::unistd::Group::from_name(&String::from_utf8_lossy(name))
                .ok()
                .flatten()
                .map(|g| g.gid)
        })
    }
}

fn set_perm(p: &Path, perm: u32) -> Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(perm)).map_err(|e| Error::io("chmod", p, e))
}

/// Creates `p` anew for writing, replacing a non-directory left by an
/// earlier extraction (never following a symlink there, nor writing
/// through a hard link to another file).
fn create_new(p: &Path) -> Result<fs::File> {
    let open = || fs::OpenOptions::new().write(true).create_new(true).open(p);
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            remove_existing(p)?;
            open()
        }
        r => r,
    }
    .map_err(|e| Error::io("create", p, e))
}

/// Replaces a non-directory left by an earlier extraction.
fn remove_existing(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(md) if !md.is_dir() => fs::remove_file(p).map_err(|e| Error::io("remove", p, e)),
        _ => Ok(()),
    }
}
