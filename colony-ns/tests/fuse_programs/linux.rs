//! What a Linux file system has beyond 9P2000, through real programs and
//! system calls in a mount: every file type, numeric owners and the
//! kernel's permission rules, nanosecond times, extended attributes, ACLs
//! and file capabilities, and atomic renames.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::sh;

fn errno(r: std::io::Result<impl std::fmt::Debug>) -> i32 {
    r.expect_err("should fail")
        .raw_os_error()
        .expect("an errno")
}

pub fn every_file_type(mnt: &Path) {
    let out = sh(
        mnt,
        "mkfifo p && mknod c c 1 3 && mknod b b 8 1
         chmod 620 c
         stat -c '%n %F %a %t:%T' p c b
         (echo through the fifo > p &) ; cat p",
    );
    assert_eq!(
        out,
        "p fifo 644 0:0\nc character special file 620 1:3\nb block special file 644 8:1\n\
         through the fifo\n"
    );
    let sock = mnt.join("s");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert!(fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
    // A socket's name in this file system connects like any other.
    let mut client = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    std::io::Write::write_all(&mut client, b"hi").unwrap();
    let mut got = [0u8; 2];
    std::io::Read::read_exact(&mut server, &mut got).unwrap();
    assert_eq!(&got, b"hi");
}

/// Runs `script` with `sh` as uid and gid `id` with supplementary groups
/// `groups` only (through `setpriv`), returning whether it succeeded and
/// its stderr.
fn sh_as(cwd: &Path, id: u32, groups: &[u32], script: &str) -> (bool, String) {
    // The mount's temporary parent is root's 0700 directory: let others
    // through to the mount (the mount's own permissions then decide).
    let parent = cwd.parent().expect("mount parent");
    fs::set_permissions(parent, fs::Permissions::from_mode(0o711)).unwrap();
    let groups = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", list.join(","))
    };
    let out = Command::new("setpriv")
        .args([format!("--reuid={id}"), format!("--regid={id}"), groups])
        .args(["sh", "-ec", script])
        .current_dir(cwd)
        .output()
        .expect("run setpriv");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn owners_are_numbers_and_the_kernel_checks_them(mnt: &Path) {
    sh(
        mnt,
        "mkdir open sticky setgid private && chmod 777 open && chmod 1777 sticky
         chmod 700 private
         chgrp 4343 setgid && chmod 2775 setgid
         touch sticky/roots && chmod 666 sticky/roots
         touch f && chown 4242:4343 f",
    );
    let f = fs::metadata(mnt.join("f")).unwrap();
    assert_eq!((f.uid(), f.gid()), (4242, 4343), "ids with no name kept");
    // An unprivileged id creates in a 0777 directory; the file is its own.
    let (ok, err) = sh_as(mnt, 65534, &[], "touch open/mine && echo x > sticky/theirs");
    assert!(ok, "{err}");
    let mine = fs::metadata(mnt.join("open/mine")).unwrap();
    assert_eq!((mine.uid(), mine.gid()), (65534, 65534));
    // It may not remove root's file from a sticky directory, nor enter a
    // private one; root may remove its file there.
    let (ok, _) = sh_as(mnt, 65534, &[], "rm -f sticky/roots");
    assert!(!ok && mnt.join("sticky/roots").exists(), "sticky");
    let (ok, _) = sh_as(mnt, 65534, &[], "ls private");
    assert!(!ok, "0700 directory of another user");
    // A supplementary group opens what the group may.
    sh(
        mnt,
        "touch private/g && chgrp 4343 private/g && chmod 060 private/g && chmod 755 private",
    );
    let (ok, err) = sh_as(mnt, 65534, &[4343], "echo w > private/g");
    assert!(ok, "supplementary group: {err}");
    let (ok, _) = sh_as(mnt, 65534, &[], "echo w > private/g");
    assert!(!ok, "not in the group");
    // In a set-gid directory new files take its group and new directories
    // its set-gid bit.
    let out = sh(
        mnt,
        "touch setgid/f && mkdir setgid/d && stat -c '%g %a' setgid/f setgid/d",
    );
    assert_eq!(out, "4343 644\n4343 2755\n");
    // Set-id bits are kept as set.
    let out = sh(
        mnt,
        "touch s && chmod 4755 s && chmod g+s s && stat -c %a s",
    );
    assert_eq!(out, "6755\n");
}

/// Writing, truncating or giving away a file drops its set-id bits as
/// Linux file systems do: set-uid always, set-gid where the group may
/// execute (else it marks mandatory locking and stays), except that a
/// caller with CAP_FSETID (root) keeps them when it writes or truncates;
/// writing drops a file capability whoever writes.
pub fn set_ids_drop_on_write_truncate_and_chown(mnt: &Path) {
    sh(
        mnt,
        "for f in w nw t keep own grp lock; do touch $f; done
         chmod 6777 w t && chmod 2767 nw && chmod 4755 keep own && chmod 2755 grp && chmod 2745 lock",
    );
    let (ok, err) = sh_as(
        mnt,
        65534,
        &[],
        "echo x >> w && echo x >> nw && truncate -s 0 t",
    );
    assert!(ok, "{err}");
    let out = sh(
        mnt,
        "echo x >> keep && truncate -s 1 keep
         chown 4242 own grp lock
         stat -c '%n %a' w nw t keep own grp lock",
    );
    assert_eq!(
        out,
        "w 777\nnw 2767\nt 777\nkeep 4755\nown 755\ngrp 755\nlock 2745\n"
    );
    let out = sh(
        mnt,
        "touch c && setcap cap_net_raw+ep c && getcap c | wc -l
         echo x >> c && getcap c | wc -l",
    );
    assert_eq!(out, "1\n0\n", "a write drops the file's capability");
}

pub fn times_have_nanoseconds(mnt: &Path) {
    let out = sh(
        mnt,
        "touch -d '2001-02-03 04:05:06.123456789 UTC' f
         touch -a -d '2002-01-01 00:00:00.000000001 UTC' f
         stat -c '%.9Y %.9X' f
         mkfifo p && ln -s f l && mkdir d
         touch -d '2003-03-03 03:03:03.5 UTC' p d && touch -h -d '2004-04-04 04:04:04.25 UTC' l
         stat -c '%.9Y' p d && stat -c '%.9Y' l",
    );
    assert_eq!(
        out,
        "981173106.123456789 1009843200.000000001\n\
         1046660583.500000000\n1046660583.500000000\n1081051444.250000000\n"
    );
    // UTIME_OMIT leaves a time alone; UTIME_NOW sets it to now.
    let f = mnt.join("f");
    let before = fs::metadata(&f).unwrap();
    let omit = nix::sys::time::TimeSpec::UTIME_OMIT;
    let now = nix::sys::time::TimeSpec::UTIME_NOW;
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &f,
        &now,
        &omit,
        nix::sys::stat::UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let after = fs::metadata(&f).unwrap();
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec())
    );
    assert!(after.atime() > before.atime());
    // A change of metadata moves ctime, not mtime.
    sh(mnt, "chmod 600 f");
    let chmodded = fs::metadata(&f).unwrap();
    assert_eq!(chmodded.mtime_nsec(), 123_456_789);
    assert!(
        (chmodded.ctime(), chmodded.ctime_nsec()) >= (after.ctime(), after.ctime_nsec()),
        "ctime"
    );
}

pub fn extended_attributes_acls_and_capabilities(mnt: &Path) {
    use nix::errno::Errno as E;
    let out = sh(
        mnt,
        "touch f && setfattr -n user.color -v blue f && setfattr -n user.empty f
         getfattr -d --absolute-names f | grep user. | sort
         setfattr -x user.color f && getfattr -d --absolute-names f | grep -c user.
         cp /bin/true t && setcap cap_net_raw+ep t && getcap t
         touch a && setfacl -m u:4242:r,g:4343:rw a && getfacl -cn a && stat -c %a a
         mkdir dd && setfacl -d -m u:4242:rx dd && getfacl -cnd dd",
    );
    assert_eq!(
        out,
        "user.color=\"blue\"\nuser.empty=\"\"\n1\n\
         t cap_net_raw=ep\n\
         user::rw-\nuser:4242:r--\ngroup::r--\ngroup:4343:rw-\nmask::rw-\nother::r--\n\n\
         664\n\
         user::rwx\nuser:4242:r-x\ngroup::r-x\nmask::r-x\nother::r-x\n\n"
    );
    // The ACL binds: uid 4242 reads a, cannot write it.
    let (ok, err) = sh_as(mnt, 4242, &[], "cat a");
    assert!(ok, "{err}");
    assert!(!sh_as(mnt, 4242, &[], "echo x > a").0);
    // chmod rewrites the ACL's mask, and the kernel sees it at once; a
    // file made in a directory with a default ACL inherits it.
    let out = sh(
        mnt,
        "chmod 600 a && getfacl -cn a | grep -e mask -e 4343
         touch dd/new && getfacl -cn dd/new | grep user:",
    );
    assert_eq!(
        out,
        "group:4343:rw-\t#effective:---\nmask::---\nuser::rw-\nuser:4242:r-x\t#effective:r--\n"
    );
    assert!(
        !sh_as(mnt, 4242, &[], "cat a").0,
        "the mask took the read away"
    );
    assert!(sh_as(mnt, 4242, &[], "cat dd/new").0, "inherited entry");
    // The kernel's flag rules and error numbers.
    let f = mnt.join("f");
    let set = |name: &str, value: &[u8], flags: i32| -> i32 {
        let path = std::ffi::CString::new(f.as_os_str().as_encoded_bytes()).unwrap();
        let name = std::ffi::CString::new(name).unwrap();
        // SAFETY: valid NUL-terminated strings and a live buffer.
        let r = unsafe {
            nix::libc::setxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                flags,
            )
        };
        if r == 0 { 0 } else { E::last_raw() }
    };
    assert_eq!(
        set("user.empty", b"x", nix::libc::XATTR_CREATE),
        E::EEXIST as i32
    );
    assert_eq!(
        set("user.none", b"x", nix::libc::XATTR_REPLACE),
        E::ENODATA as i32
    );
    assert_eq!(set("user.big", &[7; 8000], 0), E::ENOSPC as i32);
    assert_eq!(set("user.empty", b"replaced", nix::libc::XATTR_REPLACE), 0);
    let get = Command::new("getfattr")
        .args(["-n", "user.none"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&get.stderr).contains("No such attribute"));
}

pub fn renames_are_atomic_and_have_flags(mnt: &Path) {
    use nix::errno::Errno as E;
    let out = sh(
        mnt,
        "echo a > a && echo b > b && mkdir d && echo c > d/c
         mv a b && cat b && test ! -e a && echo a > a",
    );
    assert_eq!(out, "a\n");
    let rename2 = |from: &str, to: &str, flags: u32| -> i32 {
        let (from, to) = (mnt.join(from), mnt.join(to));
        let from = std::ffi::CString::new(from.as_os_str().as_encoded_bytes()).unwrap();
        let to = std::ffi::CString::new(to.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid NUL-terminated paths.
        let r = unsafe {
            nix::libc::renameat2(
                nix::libc::AT_FDCWD,
                from.as_ptr(),
                nix::libc::AT_FDCWD,
                to.as_ptr(),
                flags,
            )
        };
        if r == 0 { 0 } else { E::last_raw() }
    };
    assert_eq!(rename2("a", "d/c", nix::libc::RENAME_EXCHANGE), 0);
    assert_eq!(sh(mnt, "cat a d/c"), "c\na\n");
    assert_eq!(
        rename2("a", "nope", nix::libc::RENAME_EXCHANGE),
        E::ENOENT as i32
    );
    let noreplace = |from: &str, to: &str| rename2(from, to, nix::libc::RENAME_NOREPLACE);
    assert_eq!(noreplace("a", "b"), E::EEXIST as i32);
    assert_eq!(noreplace("a", "fresh"), 0);
    // Replacing is one step: a reader opening the target by name while a
    // writer keeps renaming new versions over it never finds it missing.
    let target = mnt.join("target");
    fs::write(&target, b"0").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (target, stop) = (target.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut opened = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fs::read(&target).expect("the target is always there");
                opened += 1;
            }
            opened
        })
    };
    for i in 0..300 {
        let tmp = mnt.join(format!("tmp{i}"));
        fs::write(&tmp, i.to_string()).unwrap();
        fs::rename(&tmp, &target).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(fs::read(&target).unwrap(), b"299");
    // A target open while replaced stays readable through its descriptor.
    let mut held = fs::File::open(&target).unwrap();
    fs::write(mnt.join("new"), b"new").unwrap();
    fs::rename(mnt.join("new"), &target).unwrap();
    let mut old = String::new();
    std::io::Read::read_to_string(&mut held, &mut old).unwrap();
    assert_eq!(old, "299");
    assert_eq!(fs::read(&target).unwrap(), b"new");
    assert_eq!(errno(fs::read(mnt.join("tmp0"))), E::ENOENT as i32);
    let names: Vec<_> = fs::read_dir(mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".colony"))
        .collect();
    drop(held);
    assert!(names.len() <= 1, "{names:?}");
    assert_eq!(
        fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o644
    );
}

/// Hard links: one inode of several names across directories, a true
/// link count, the file kept while a name remains; what dpkg does to keep
/// a backup (link the old file aside, rename the new one over it); git's
/// object store; EPERM for a directory.
pub fn hard_links(mnt: &Path) {
    let out = sh(
        mnt,
        "mkdir a b && echo one > a/f && ln a/f b/g && ln b/g h
         stat -c '%h' a/f b/g h
         test \"$(stat -c %i a/f)\" = \"$(stat -c %i b/g)\" && echo same inode
         echo two >> b/g && cat a/f
         rm a/f && stat -c '%h' b/g h && cat h
         mv h b/h && stat -c '%h %n' b/h
         echo status > status && ln status status-old
         echo new > status-new && mv status-new status
         cat status status-old && stat -c '%h' status status-old",
    );
    assert_eq!(
        out,
        "3\n3\n3\nsame inode\none\ntwo\n2\n2\none\ntwo\n2 b/h\nnew\nstatus\n1\n1\n"
    );
    assert_eq!(
        errno(fs::hard_link(mnt.join("a"), mnt.join("a2"))),
        nix::libc::EPERM
    );
    // git writes objects by linking a temporary file to its name.
    sh(
        mnt,
        "export HOME=\"$PWD\" GIT_CONFIG_NOSYSTEM=1
         git init -q repo && cd repo
         git config core.createObject link
         echo x > x && git add x && git -c user.name=T -c user.email=t@e.invalid commit -qm x
         git fsck --strict",
    );
}

/// What needed hard links in an environment: dpkg installs a package (it
/// links status to status-old before replacing it) and useradd adds a
/// user (it locks /etc/passwd by linking a lock file).
pub fn dpkg_installs_and_useradd_adds(mnt: &Path) {
    let out = sh(
        mnt,
        "mkdir -p root/var/lib/dpkg/info root/var/lib/dpkg/updates root/etc
         touch root/var/lib/dpkg/status root/var/lib/dpkg/available
         mkdir -p pkg/DEBIAN pkg/usr/share/hello && echo hi > pkg/usr/share/hello/hi
         printf 'Package: hello\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@e.invalid>\\nDescription: test\\n' > pkg/DEBIAN/control
         dpkg-deb -Zgzip --build pkg hello.deb >/dev/null
         dpkg --root=\"$PWD/root\" --log=/dev/null -i hello.deb >/dev/null
         dpkg --root=\"$PWD/root\" -s hello | grep Status
         cat root/usr/share/hello/hi && test -e root/var/lib/dpkg/status-old
         echo 'root:x:0:0:root:/root:/bin/sh' > root/etc/passwd
         echo 'root:x:0:' > root/etc/group
         echo 'root:*::0:99999:7:::' > root/etc/shadow
         echo 'root:*::' > root/etc/gshadow
         useradd --prefix \"$PWD/root\" -M -u 4242 tester
         cut -d: -f1,3 root/etc/passwd",
    );
    assert_eq!(
        out,
        "Status: install ok installed\nhi\nroot:0\ntester:4242\n"
    );
}
