//! The files of a mount that processes hold open for writing or mapped
//! shared and writable: the only files whose pages the kernel may still
//! hold dirty (closing a file writes its pages back). Found in /proc, so
//! the file system need not be told of every open and release (it is
//! not, once it answers OPEN with ENOSYS: see `Adapter::open`).
//!
//! Each descriptor is looked at without reaching the file's own file
//! system (`statx` with `AT_STATX_DONT_SYNC` through the /proc link), so a
//! hung FUSE server elsewhere on the host cannot stall the search.

use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::libc;

/// A file's device and inode numbers.
type FileId = (u64, u64);

/// Opens every regular file on the device `dev` (a mount's `st_dev`) that
/// some process holds writable: each once, however many hold it.
pub(crate) fn writable_files(dev: u64) -> Vec<File> {
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return files;
    };
    for proc in procs.flatten() {
        let pid = proc.file_name();
        if !pid.as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let dir = proc.path();
        for link in held_links(&dir) {
            let Some((id, regular)) = identify(&link) else {
                continue;
            };
            if id.0 != dev || !regular || seen.contains(&id) {
                continue;
            }
            // Gone since it was listed, or not ours to open: nothing to
            // write back through it.
            if let Ok(file) = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&link)
            {
                seen.insert(id);
                files.push(file);
            }
        }
    }
    files
}

/// A process's links to the files it holds writable: descriptors opened
/// for writing, and shared writable mappings.
fn held_links(proc: &Path) -> Vec<std::path::PathBuf> {
    let mut links = Vec::new();
    if let Ok(fds) = std::fs::read_dir(proc.join("fd")) {
        for fd in fds.flatten() {
            let info = proc.join("fdinfo").join(fd.file_name());
            if std::fs::read(&info).is_ok_and(|i| opened_for_writing(&i)) {
                links.push(fd.path());
            }
        }
    }
    if let Ok(maps) = std::fs::read(proc.join("maps")) {
        for range in shared_writable_ranges(&maps) {
            links.push(proc.join("map_files").join(range));
        }
    }
    links
}

/// Whether /proc's fdinfo text says the descriptor may write (its
/// `flags:` field, in octal, has O_WRONLY or O_RDWR).
fn opened_for_writing(fdinfo: &[u8]) -> bool {
    let text = String::from_utf8_lossy(fdinfo);
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32)
}

/// The address ranges ("start-end", as map_files names them) of the
/// shared, writable mappings of files in /proc's maps text.
fn shared_writable_ranges(maps: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(maps);
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?.as_bytes();
            let inode = fields.nth(2)?;
            let shared_writable = perms.get(1) == Some(&b'w') && perms.get(3) == Some(&b's');
            (shared_writable && inode != "0").then(|| range.to_string())
        })
        .collect()
}

/// The device and inode of the file a /proc link leads to, and whether it
/// is a regular file, asking the kernel only what it already knows.
fn identify(link: &Path) -> Option<(FileId, bool)> {
    let path = std::ffi::CString::new(link.as_os_str().as_bytes()).ok()?;
    // SAFETY: statx writes only into `st`, which is large enough; `path`
    // is a NUL-terminated string that outlives the call.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_DONT_SYNC,
            libc::STATX_TYPE | libc::STATX_INO,
            &mut st,
        )
    };
    if r != 0 {
        return None;
    }
    let dev = libc::makedev(st.stx_dev_major, st.stx_dev_minor);
    let regular = u32::from(st.stx_mode) & libc::S_IFMT == libc::S_IFREG;
    Some(((dev, st.stx_ino), regular))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_flags_say_whether_a_descriptor_writes() {
        let info = |flags: &str| format!("pos:\t0\nflags:\t{flags}\nmnt_id:\t31\nino:\t5\n");
        assert!(!opened_for_writing(info("0100000").as_bytes()), "O_RDONLY");
        assert!(opened_for_writing(info("0100001").as_bytes()), "O_WRONLY");
        assert!(opened_for_writing(info("02100002").as_bytes()), "O_RDWR");
        assert!(!opened_for_writing(b"pos:\t0\n"), "no flags field");
    }

    #[test]
    fn only_shared_writable_file_mappings_count() {
        let maps = b"5600-5700 r--p 00000000 00:2f 12 /m/a\n\
                     7f00-7f10 rw-s 00000000 00:2f 13 /m/b\n\
                     7f10-7f20 rw-p 00000000 00:2f 14 /m/c\n\
                     7f20-7f30 r--s 00000000 00:2f 15 /m/d\n\
                     7f30-7f40 rw-s 00000000 00:01 0 /dev/zero (deleted)\n";
        assert_eq!(shared_writable_ranges(maps), ["7f00-7f10"]);
    }

    #[test]
    fn a_file_this_process_holds_writable_is_found_once() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let _writer = File::create(&path).unwrap();
        let _again = OpenOptions::new().append(true).open(&path).unwrap();
        let _reader = File::open(dir.path().join("f")).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let found: Vec<u64> = writable_files(meta.dev())
            .iter()
            .map(|f| f.metadata().unwrap().ino())
            .filter(|&ino| ino == meta.ino())
            .collect();
        assert_eq!(found, [meta.ino()]);
    }
}
