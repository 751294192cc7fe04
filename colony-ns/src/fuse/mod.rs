//! A FUSE adapter: any [`FileSystem`](crate::FileSystem) mounted into the
//! Linux file tree, so ordinary programs use it.
//!
//! Pure Rust (the `fuser` crate without libfuse): as root, mounting is a
//! `mount(2)` on an open `/dev/fuse`; without the right to mount, `fuser`
//! falls back to the setuid `fusermount3` helper (Debian package `fuse3`).
//!
//! How Unix meets the file-system trait:
//! * inode numbers are node ids shifted so the root is 1;
//! * owners and groups are numbers where the file system records them
//!   (colony's vac extension does), else names shown as numbers through
//!   `/etc/passwd` and `/etc/group` ([`ids`]); new files belong to the
//!   caller's uid and gid (the directory's group where it is set-gid);
//! * the kernel checks permissions (`default_permissions`) from those
//!   attributes, as it does for any Linux file system, sticky directories
//!   and supplementary groups included;
//! * set-uid, set-gid and sticky bits are stored as 9P2000.u's DMSETUID,
//!   DMSETGID and DMSETVTX; times have nanoseconds where the file system
//!   keeps them;
//! * fifos, sockets and character and block devices are made by mknod(2)
//!   where the file system holds them; extended attributes (ACLs and file
//!   capabilities included, their ids shifted as owners are: `xattr.rs`)
//!   likewise; elsewhere EOPNOTSUPP;
//! * rename works within and across directories; an existing target is
//!   replaced in one step where the file system can (RENAME_NOREPLACE and
//!   RENAME_EXCHANGE too), else removed first; a file system that cannot
//!   move across directories (a 9P2000 client's) gives EXDEV, with any
//!   target left in place, and `mv` copies instead;
//! * there are no hard links yet (link(2) fails with EPERM);
//! * holes: lseek's SEEK_DATA/SEEK_HOLE and fallocate (allocate, keep
//!   size, punch a hole, zero a range) go to the trait; statfs reports
//!   the file system's own use and limit (`space.rs`);
//! * a removed file stays usable by whoever holds it (open, or looked up
//!   just before another process renamed over it) until the kernel's
//!   FORGET, where the file system keeps removed nodes
//!   ([`FileSystem::keep_removed`](crate::FileSystem::keep_removed): a
//!   Fossil, a MemFs); elsewhere (a 9P2000 client) a file unlinked while
//!   open is hidden (`.colony_hidden_<node>`) and removed at its last
//!   close;
//! * errors map to errno in one place (`errno.rs`).

mod acl;
mod adapter;
mod attr;
mod dir;
mod edit;
mod errno;
mod holders;
pub mod ids;
mod mount;
mod names;
mod open_files;
mod space;
mod xattr;

pub use mount::{Flusher, MountHandle, MountOptions, mount};
pub use names::NAME_MAX;
