//! The programs run in a mount, one function each; `mnt` is the mount.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::statfs::{TMPFS_MAGIC, statfs};
use nix::unistd::{Whence, lseek};

use super::sh;

/// A varied tree outside the mount: nested directories, empty and odd-sized
/// files, random contents, modes, an old mtime, and symlinks.
fn fixture(dir: &Path) {
    sh(
        dir,
        "mkdir -p src/a/b/c src/empty
         : > src/zero
         printf x > src/one
         head -c 4095 /dev/urandom > src/a/page-1
         head -c 4096 /dev/urandom > src/a/page
         head -c 131073 /dev/urandom > src/a/b/big
         head -c 1048583 /dev/urandom > src/a/b/c/meg
         printf '#!/bin/sh\\necho hi\\n' > src/a/run.sh
         chmod 755 src/a/run.sh
         chmod 600 src/one
         chmod 750 src/a/b
         ln -s a/b/big src/link
         ln -s ../nowhere src/a/dangling
         touch -d '2001-02-03 04:05:06 UTC' src/a/page
         touch -h -d '2002-01-01 00:00:00 UTC' src/link",
    );
}

/// A listing of everything `find` shows about a tree that cp -a and tar
/// preserve: path, type, mode, size, mtime (whole seconds) and link target.
/// Directory mtimes and sizes are left out (they change as entries are made).
fn listing(dir: &Path, tree: &str) -> String {
    sh(
        dir,
        &format!(
            "cd '{tree}' && find . \\( -type d -printf '%p %y %m\\n' \\) -o \
             -printf '%p %y %m %s %TY-%Tm-%Td+%TH:%TM:%.2TS %l\\n' | sort"
        ),
    )
}

pub fn cp_a_tree_in_and_out(mnt: &Path) {
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path();
    fixture(o);
    sh(
        o,
        &format!(
            "cp -a src '{m}/tree' && diff -r --no-dereference src '{m}/tree'",
            m = mnt.display()
        ),
    );
    sh(
        o,
        &format!(
            "cp -a '{m}/tree' back && diff -r --no-dereference src back",
            m = mnt.display()
        ),
    );
    let want = listing(o, "src");
    assert_eq!(listing(mnt, "tree"), want);
    assert_eq!(listing(o, "back"), want);
}

pub fn tar_in_and_out(mnt: &Path) {
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path();
    fixture(o);
    let m = mnt.display();
    sh(
        o,
        &format!(
            "mkdir '{m}/t' && tar cf - -C src . | tar xpf - -C '{m}/t'
             diff -r --no-dereference src '{m}/t'
             tar cf '{m}/t.tar' -C '{m}/t' .
             mkdir back && tar xpf '{m}/t.tar' -C back
             diff -r --no-dereference src back
             tar tvf '{m}/t.tar' > /dev/null"
        ),
    );
    assert_eq!(listing(mnt, "t"), listing(o, "src"));
    assert_eq!(listing(o, "back"), listing(o, "src"));
}

pub fn git_init_add_commit_log(mnt: &Path) {
    let out = sh(
        mnt,
        "export HOME=\"$PWD\" GIT_CONFIG_NOSYSTEM=1
         git init -q repo && cd repo
         git config user.name Tester && git config user.email t@example.invalid
         mkdir -p src/deep && echo 'fn main() {}' > src/main.rs
         seq 1 5000 > src/deep/numbers
         git add -A && git commit -q -m first
         echo more >> src/main.rs && git rm -q src/deep/numbers
         git commit -q -a -m second
         git log --format=%s
         git status --porcelain
         git fsck --full --strict 2>&1
         git gc -q && git log --format=%s -1",
    );
    assert_eq!(out, "second\nfirst\nsecond\n");
}

pub fn cc_compile_and_run(mnt: &Path) {
    fs::write(
        mnt.join("hello.c"),
        "#include <stdio.h>\n\
         int main(int argc, char **argv) { printf(\"hello from %s\\n\", argv[0]); return 3; }\n",
    )
    .unwrap();
    let out = sh(
        mnt,
        "cc -O2 -Wall -o hello hello.c && (./hello || echo \"exit $?\")",
    );
    assert_eq!(out, "hello from ./hello\nexit 3\n");
}

pub fn sqlite_write_and_read_back(mnt: &Path) {
    let out = sh(
        mnt,
        "sqlite3 db.sqlite 'create table t(k integer primary key, v text);'
         sqlite3 db.sqlite \"with recursive n(i) as (select 1 union all select i+1 from n where i < 20000)
                            insert into t select i, printf('value-%d', i) from n;\"
         sqlite3 db.sqlite 'update t set v = v || \"!\" where k % 7 = 0; delete from t where k > 19000;'
         sqlite3 db.sqlite 'pragma integrity_check; select count(*), sum(k), max(v) from t where v like \"%!\";'",
    );
    assert_eq!(out, "ok\n2714|25789785|value-9996!\n");
}

pub fn rm_rf_deep_tree(mnt: &Path) {
    // 50 levels deep, 20 files per level: 1000 files.
    let mut dir = mnt.join("deep");
    for level in 0..50 {
        fs::create_dir(&dir).unwrap();
        for f in 0..20 {
            fs::write(dir.join(format!("f{f}")), format!("{level}/{f}")).unwrap();
        }
        dir = dir.join("d");
    }
    let count = sh(mnt, "find deep -type f | wc -l");
    assert_eq!(count.trim(), "1000");
    sh(mnt, "rm -rf deep && test ! -e deep");
    assert_eq!(fs::read_dir(mnt).unwrap().count(), 0);
}

pub fn symlinks(mnt: &Path) {
    let out = sh(
        mnt,
        "mkdir d && echo data > d/target
         ln -s d/target l && ln -s ../missing d/dangling && ln -s d dl
         readlink l && readlink d/dangling && cat l && cat dl/target
         stat -c %F l && stat -L -c %F l && test ! -e d/dangling && test -L d/dangling
         ls dl/",
    );
    assert_eq!(
        out,
        "d/target\n../missing\ndata\ndata\nsymbolic link\nregular file\ndangling\ntarget\n"
    );
    assert_eq!(fs::read_link(mnt.join("l")).unwrap(), Path::new("d/target"));
}

/// Makes, with real programs, files whose names and link target are not
/// UTF-8: `caf\xe9` (Latin-1), a directory `\xff\xfe` holding the link
/// `l\x80` -> `../caf\xe9` and a copy renamed to `xhiver\xa0`.
pub fn make_byte_names(mnt: &Path) {
    sh(
        mnt,
        r#"n=$(printf 'caf\351') d=$(printf '\377\376') r=$(printf 'hiver\240')
           echo latin-1 > "$n"
           mkdir "$d"
           ln -s "../$n" "$d/$(printf 'l\200')"
           cp "$n" "$d/$r"
           mv "$d/$r" "$d/x$r""#,
    );
}

/// Checks what [`make_byte_names`] made, byte for byte: `ls -b` shows
/// bytes that are not printable as octal escapes.
pub fn check_byte_names(mnt: &Path) {
    let out = sh(
        mnt,
        r#"d=$(printf '\377\376') l=$(printf 'l\200')
           ls -b . "$d"
           readlink "$d/$l" | od -An -tx1
           cat "$d/$l" "$d/x$(printf 'hiver\240')""#,
    );
    assert_eq!(
        out,
        ".:\ncaf\\351\n\\377\\376\n\n\\377\\376:\nl\\200\nxhiver\\240\n \
         2e 2e 2f 63 61 66 e9 0a\nlatin-1\nlatin-1\n"
    );
    let d = mnt.join(OsStr::from_bytes(b"\xff\xfe"));
    let target = fs::read_link(d.join(OsStr::from_bytes(b"l\x80"))).unwrap();
    assert_eq!(target.as_os_str().as_bytes(), b"../caf\xe9");
}

/// Names and symlink targets are bytes, as Linux has them; a name past
/// NAME_MAX is ENAMETOOLONG.
pub fn names_that_are_not_utf8(mnt: &Path) {
    make_byte_names(mnt);
    check_byte_names(mnt);
    let long = mnt.join("x".repeat(256));
    assert_eq!(errno(fs::write(&long, b"")), Errno::ENAMETOOLONG as i32);
    assert_eq!(errno(fs::metadata(&long)), Errno::ENAMETOOLONG as i32);
    fs::write(mnt.join("y".repeat(255)), b"").unwrap();
}

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("should fail")
        .raw_os_error()
        .expect("an errno")
}

pub fn errors_have_the_right_errno(mnt: &Path) {
    use nix::errno::Errno as E;
    let (d, f) = (mnt.join("d"), mnt.join("f"));
    fs::create_dir(&d).unwrap();
    fs::write(d.join("x"), b"x").unwrap();
    fs::write(&f, b"f").unwrap();
    fs::create_dir(mnt.join("e")).unwrap();
    let cases = [
        ("rmdir non-empty", errno(fs::remove_dir(&d)), E::ENOTEMPTY),
        (
            "open missing",
            errno(fs::File::open(mnt.join("nope"))),
            E::ENOENT,
        ),
        ("mkdir existing", errno(fs::create_dir(&d)), E::EEXIST),
        (
            "create exclusive existing",
            errno(fs::File::create_new(&f)),
            E::EEXIST,
        ),
        (
            "write into a directory",
            errno(fs::OpenOptions::new().write(true).open(&d)),
            E::EISDIR,
        ),
        ("unlink a directory", errno(fs::remove_file(&d)), E::EISDIR),
        ("rmdir a file", errno(fs::remove_dir(&f)), E::ENOTDIR),
        (
            "mkdir under a file",
            errno(fs::create_dir(f.join("s"))),
            E::ENOTDIR,
        ),
        (
            "directory below itself",
            errno(fs::rename(&d, d.join("sub"))),
            E::EINVAL,
        ),
        (
            "directory over a non-empty directory",
            errno(fs::rename(mnt.join("e"), &d)),
            E::ENOTEMPTY,
        ),
        (
            "into a missing directory",
            errno(fs::rename(&f, mnt.join("nope/f"))),
            E::ENOENT,
        ),
        (
            "directory over file",
            errno(fs::rename(mnt.join("e"), &f)),
            E::ENOTDIR,
        ),
        ("file over directory", errno(fs::rename(&f, &d)), E::EISDIR),
        (
            "name too long",
            errno(fs::write(mnt.join("n".repeat(256)), b"")),
            E::ENAMETOOLONG,
        ),
        ("readlink of a file", errno(fs::read_link(&f)), E::EINVAL),
    ];
    for (what, got, want) in cases {
        assert_eq!(got, want as i32, "{what}: got {}", E::from_raw(got));
    }
    // Nothing above changed anything.
    let mut names: Vec<_> = fs::read_dir(mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["d", "e", "f"]);
    assert_eq!(fs::read(d.join("x")).unwrap(), b"x");
    let too_long = fs::File::open(mnt.join("n".repeat(256)));
    assert_eq!(errno(too_long), E::ENAMETOOLONG as i32);
}

pub fn stat_agrees_with_changes(mnt: &Path) {
    let out = sh(
        mnt,
        "printf 0123456789 > f && mkdir d
         chmod 640 f && chmod 1777 d
         touch -d '2001-02-03 04:05:06 UTC' f
         touch -a -d '1999-12-31 23:59:59 UTC' f
         stat -c '%a %s %Y %X %F' f d
         truncate -s 4 f && stat -c '%s' f && cat f && echo
         truncate -s 10 f && stat -c '%s' f && od -An -c f | tr -s ' '
         chown 1234:5678 f && stat -c '%u %g' f
         chown root:root f && stat -c '%u %g %U' f
         chmod u+s,g+s f && stat -c '%a' f
         dd if=/dev/zero of=g bs=1 count=1 seek=99999 status=none && stat -c '%s %b' g
         touch -d '@4000000000' h && stat -c %Y h",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "640 10 981173106 946684799 regular file");
    assert!(lines[1].starts_with("1777 0 "), "{}", lines[1]);
    assert!(lines[1].ends_with(" directory"), "{}", lines[1]);
    assert_eq!(&lines[2..5], ["4", "0123", "10"]);
    assert_eq!(lines[5].trim(), "0 1 2 3 \\0 \\0 \\0 \\0 \\0 \\0");
    // A written zero is a hole, as every zero is here: g stores nothing.
    assert_eq!(&lines[6..10], ["1234 5678", "0 0 root", "6640", "100000 0"]);
    assert_eq!(lines[10], "4000000000");
}

pub fn rename_replaces_and_mv_crosses_directories(mnt: &Path) {
    // Inode numbers show a move is a rename, not mv(1)'s copy fallback.
    let out = sh(
        mnt,
        "echo old > a && echo new > b && mv b a && cat a && test ! -e b
         mkdir d1 d2 && echo moved > d1/x && i=$(stat -c %i d1/x)
         mv d1/x d2/x && cat d2/x && test ! -e d1/x && test $(stat -c %i d2/x) = $i
         mkdir d1/sub && echo in > d1/sub/f && i=$(stat -c %i d1/sub/f)
         mv d1/sub d2/ && cat d2/sub/f && test $(stat -c %i d2/sub/f) = $i
         mkdir e1 e2 && touch e2/keep && mv -T e1 e2 2>/dev/null || echo refused
         mkdir e3 && mv -T e1 e3 && test -d e3 && test ! -e e1 && echo replaced
         echo over > d1/y && echo under > d2/y && mv d1/y d2/y && cat d2/y && test ! -e d1/y
         mkdir -p d1/t/u && echo deep > d1/t/u/f && mkdir d2/t && mv -T d1/t d2/t && cat d2/t/u/f
         mkdir d1/full && touch d1/full/k && mkdir d2/full2 && touch d2/full2/k2
         mv -T d2/full2 d1/full 2>/dev/null || echo not empty
         mv d2/sub d1/sub2 && mv d1/sub2 d1/sub2/x 2>/dev/null || echo below itself
         mv d1/sub2 . && cat sub2/f && ls d1 d2",
    );
    assert_eq!(
        out,
        "new\nmoved\nin\nrefused\nreplaced\nover\ndeep\nnot empty\nbelow itself\nin\n\
         d1:\nfull\n\nd2:\nfull2\nt\nx\ny\n"
    );
}

pub fn large_file_offsets(mnt: &Path) {
    // 64 MiB written in 1 MiB pieces of a known pattern, then checked at
    // scattered offsets through a fresh descriptor and with cmp.
    let path = mnt.join("large");
    let mut f = fs::File::create(&path).unwrap();
    let piece: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    for i in 0..64u8 {
        let mut p = piece.clone();
        p[0] = i;
        f.write_all(&p).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    assert_eq!(fs::metadata(&path).unwrap().len(), 64 << 20);
    let mut f = fs::File::open(&path).unwrap();
    for (off, want) in [
        (0u64, 0u8),
        (5 << 20, 5),
        ((40 << 20) + 1000, (1000 % 251) as u8),
    ] {
        let mut b = [0u8];
        f.seek(SeekFrom::Start(off)).unwrap();
        f.read_exact(&mut b).unwrap();
        assert_eq!(b[0], want, "byte at {off}");
    }
    let mut g = fs::OpenOptions::new().write(true).open(&path).unwrap();
    g.seek(SeekFrom::Start(3 << 20)).unwrap();
    g.write_all(b"patched").unwrap();
    drop(g);
    sh(
        mnt,
        "dd if=large of=copy bs=128k status=none && cmp large copy
         dd if=large bs=1 skip=3145728 count=7 status=none > p && printf patched | cmp - p",
    );
}

pub fn many_files_in_one_directory(mnt: &Path) {
    sh(
        mnt,
        "mkdir w && cd w && for i in $(seq 1 3000); do : > f$i; done",
    );
    let n = sh(mnt, "ls w | wc -l && ls -l w | tail -n +2 | wc -l");
    assert_eq!(n, "3000\n3000\n");
    sh(mnt, "cd w && rm f1* && test $(ls | wc -l) = 1889");
}

pub fn unlinked_open_files_stay_usable(mnt: &Path) {
    let path = mnt.join("tmp");
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.write_all(b"before ").unwrap();
    fs::remove_file(&path).unwrap();
    assert!(!path.exists());
    f.write_all(b"after").unwrap();
    let mut back = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut back).unwrap();
    assert_eq!(back, "before after");
    // A name can be reused while the old file is still open.
    fs::write(&path, b"new").unwrap();
    let mut old = fs::File::open(&path).unwrap();
    fs::write(mnt.join("other"), b"replacement").unwrap();
    fs::rename(mnt.join("other"), &path).unwrap();
    let mut text = String::new();
    old.read_to_string(&mut text).unwrap();
    assert_eq!(text, "new");
    assert_eq!(fs::read(&path).unwrap(), b"replacement");
    drop((f, old));
    // The kernel sends RELEASE after close(2) returns: give it a moment.
    let names = || -> Vec<_> {
        fs::read_dir(mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    };
    for _ in 0..100 {
        if names().len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(names(), ["tmp"], "hidden files are gone once closed");
}

const MIB: u64 = 1 << 20;
/// A range that is whole blocks on every backend and on tmpfs and ext4.
const BLOCK: u64 = 8192;

/// SEEK_DATA and SEEK_HOLE from each of a few offsets of a 5 MiB file with
/// data in one block at 1 MiB and one at 3 MiB, made at `path`.
fn hole_probes(path: &Path) -> Vec<(u64, [Result<i64, Errno>; 2])> {
    use std::os::unix::fs::FileExt;
    let f = fs::File::create(path).unwrap();
    f.write_all_at(&[b'a'; BLOCK as usize], MIB).unwrap();
    f.write_all_at(&[b'b'; BLOCK as usize], 3 * MIB).unwrap();
    f.set_len(5 * MIB).unwrap();
    let at = [0, MIB, MIB + 100, MIB + BLOCK, 3 * MIB, 3 * MIB + BLOCK];
    at.into_iter()
        .chain([5 * MIB - 1, 5 * MIB])
        .map(|o| (o, seeks(&f, o)))
        .collect()
}

/// lseek(SEEK_DATA) and lseek(SEEK_HOLE) from `offset`.
fn seeks(f: &fs::File, offset: u64) -> [Result<i64, Errno>; 2] {
    [Whence::SeekData, Whence::SeekHole].map(|w| lseek(f.as_fd(), offset as i64, w))
}

/// Holes through the kernel: SEEK_DATA/SEEK_HOLE answer what tmpfs (and
/// ext4) answer, checked against tmpfs itself where /dev/shm is one; and
/// fallocate: allocate, keep size, punch a hole, zero a range, refusals.
pub fn sparse_files_seek_and_allocate(mnt: &Path) {
    let (a, b, end) = (MIB as i64, 3 * MIB as i64, 5 * MIB as i64);
    let blk = BLOCK as i64;
    let want = vec![
        (0, [Ok(a), Ok(0)]),
        (MIB, [Ok(a), Ok(a + blk)]),
        (MIB + 100, [Ok(a + 100), Ok(a + blk)]),
        (MIB + BLOCK, [Ok(b), Ok(a + blk)]),
        (3 * MIB, [Ok(b), Ok(b + blk)]),
        (3 * MIB + BLOCK, [Err(Errno::ENXIO), Ok(b + blk)]),
        (5 * MIB - 1, [Err(Errno::ENXIO), Ok(end - 1)]),
        (5 * MIB, [Err(Errno::ENXIO), Err(Errno::ENXIO)]),
    ];
    let shm = Path::new("/dev/shm");
    if statfs(shm).is_ok_and(|s| s.filesystem_type() == TMPFS_MAGIC) {
        let dir = tempfile::tempdir_in(shm).unwrap();
        assert_eq!(hole_probes(&dir.path().join("sparse")), want, "tmpfs");
    }
    let path = mnt.join("sparse");
    assert_eq!(hole_probes(&path), want);

    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let fd = f.as_fd();
    let read = |offset: u64, len: usize| {
        let mut buf = vec![0; len];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, offset).unwrap();
        buf
    };
    let keep = FallocateFlags::FALLOC_FL_KEEP_SIZE;
    let punch = FallocateFlags::FALLOC_FL_PUNCH_HOLE;
    let zero = FallocateFlags::FALLOC_FL_ZERO_RANGE;
    // Punch the block at 1 MiB: only the one at 3 MiB holds data.
    fallocate(fd, punch | keep, a, blk).unwrap();
    assert_eq!(seeks(&f, 0), [Ok(b), Ok(0)]);
    assert!(read(MIB, BLOCK as usize).iter().all(|&x| x == 0));
    // Zero 100 bytes inside the block at 3 MiB, keeping the size.
    fallocate(fd, zero | keep, b + 100, 100).unwrap();
    let got = read(3 * MIB, 300);
    assert!(got[..100].iter().all(|&x| x == b'b'), "{got:?}");
    assert!(got[100..200].iter().all(|&x| x == 0), "{got:?}");
    assert!(got[200..].iter().all(|&x| x == b'b'), "{got:?}");
    assert_eq!(f.metadata().unwrap().len(), 5 * MIB);
    // Allocating past the end grows the file unless asked not to.
    fallocate(fd, keep, end, MIB as i64).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 5 * MIB);
    fallocate(fd, FallocateFlags::empty(), end, MIB as i64).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 6 * MIB);
    fallocate(fd, zero, 6 * MIB as i64, MIB as i64).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 7 * MIB);
    assert!(read(5 * MIB, 2 * MIB as usize).iter().all(|&x| x == 0));
    assert_eq!(read(3 * MIB + 300, 3), b"bbb");
    // What no file system here does is refused, changing nothing.
    for mode in [
        punch,
        FallocateFlags::FALLOC_FL_COLLAPSE_RANGE,
        FallocateFlags::FALLOC_FL_INSERT_RANGE,
    ] {
        assert_eq!(
            fallocate(fd, mode, 0, blk),
            Err(Errno::EOPNOTSUPP),
            "{mode:?}"
        );
    }
    assert_eq!(f.metadata().unwrap().len(), 7 * MIB);
    assert_eq!(read(3 * MIB, 3), b"bbb");
}

/// `st_blocks` counts what a file stores, as on tmpfs and ext4: a 1 GiB
/// file holding one byte at its end takes a block or so, a file without
/// holes its length (to its last page or block), and `du` says the same.
pub fn sparse_files_use_few_blocks(mnt: &Path) {
    sparse_and_dense(mnt);
    check_sparse_and_dense(mnt);
}

/// Writes `sparse` (1 GiB, one byte at the end) and `dense` (1 MiB and a
/// byte of data) in `dir`, closing them.
pub fn sparse_and_dense(dir: &Path) {
    use std::os::unix::fs::FileExt;
    let f = fs::File::create(dir.join("sparse")).unwrap();
    f.write_all_at(b"x", (1 << 30) - 1).unwrap();
    fs::write(dir.join("dense"), vec![1; MIB as usize + 1]).unwrap();
}

/// What [`sparse_and_dense`] made shows the blocks it stores.
pub fn check_sparse_and_dense(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let sparse = fs::metadata(dir.join("sparse")).unwrap();
    assert_eq!(sparse.len(), 1 << 30);
    assert!(
        (1..=64).contains(&sparse.blocks()),
        "{} blocks",
        sparse.blocks()
    );
    // Its length, or up to the end of its last page or block (tmpfs counts
    // whole pages).
    let dense = fs::metadata(dir.join("dense")).unwrap();
    let least = (MIB + 1).div_ceil(512);
    assert!(
        (least..least + BLOCK / 512).contains(&dense.blocks()),
        "{} blocks",
        dense.blocks()
    );
    let du = sh(dir, "du --block-size=512 sparse dense");
    assert_eq!(
        du,
        format!("{}\tsparse\n{}\tdense\n", sparse.blocks(), dense.blocks())
    );
}

/// A file system without hard links refuses them as Linux's do: EPERM.
pub fn hard_links_are_refused(mnt: &Path) {
    let f = mnt.join("f");
    fs::write(&f, b"x").unwrap();
    assert_eq!(
        errno(fs::hard_link(&f, mnt.join("f2"))),
        Errno::EPERM as i32
    );
}

/// Unlinking and replacing files leaves no error for `syncfs` to report.
/// (With the write-back cache the kernel keeps files' times and sends
/// them after every unlink and rename, also of a file just removed.)
pub fn syncfs_after_unlink_and_rename(mnt: &Path) {
    sh(
        mnt,
        "echo a > a && echo b > b && mv a b && rm b && echo c > c && mv c d",
    );
    let root = std::fs::File::open(mnt).unwrap();
    nix::unistd::syncfs(&root).expect("syncfs reports no error");
    assert_eq!(std::fs::read(mnt.join("d")).unwrap(), b"c\n");
    assert!(!mnt.join("b").exists());
}
