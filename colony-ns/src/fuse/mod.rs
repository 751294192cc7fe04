//! A FUSE adapter: any [`FileSystem`](crate::FileSystem) mounted into the
//! Linux file tree, so ordinary programs use it.
//!
//! Pure Rust (the `fuser` crate without libfuse): as root, mounting is a
//! `mount(2)` on an open `/dev/fuse`; without the right to mount, `fuser`
//! falls back to the setuid `fusermount3` helper (Debian package `fuse3`).
//!
//! How Unix meets the file-system trait:
//! * inode numbers are node ids shifted so the root is 1;
//! * owners and groups are names, shown as numbers through `/etc/passwd`
//!   and `/etc/group` ([`ids`]);
//! * set-uid, set-gid and sticky bits are stored as 9P2000.u's DMSETUID,
//!   DMSETGID and DMSETVTX; times are whole seconds;
//! * rename works within and across directories; an existing target is
//!   replaced (removed first: the trait's rename never replaces); a file
//!   system that cannot move across directories (a 9P2000 client's) gives
//!   EXDEV, with any target left in place, and `mv` copies instead;
//! * there are no hard links (link(2) fails with EPERM), fifos, sockets or
//!   devices (mknod(2) of them fails with EPERM), nor extended attributes;
//! * holes: lseek's SEEK_DATA/SEEK_HOLE and fallocate (allocate, keep
//!   size, punch a hole, zero a range) go to the trait; statfs reports
//!   the file system's own use and limit (`space.rs`);
//! * a file unlinked while open is hidden (`.colony_hidden_<node>`) and
//!   removed at its last close, so it stays usable meanwhile;
//! * errors map to errno in one place (`errno.rs`).

mod adapter;
mod attr;
mod dir;
mod edit;
mod errno;
pub mod ids;
mod mount;
mod names;
mod open_files;
mod space;

pub use mount::{Flusher, MountHandle, MountOptions, mount};
pub use names::NAME_MAX;
