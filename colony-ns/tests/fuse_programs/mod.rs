//! Real programs in a FUSE mount, for any file system: each program is a
//! function of the mount directory, and [`program_tests!`] makes one test
//! per program for a file-system constructor (MemFs here; Fossil once its
//! adapter exists, unchanged).
//!
//! FUSE tests need /dev/fuse and root. Without them a test prints why and
//! passes, except when the `CI` environment variable is set: then it fails,
//! so CI cannot silently skip them. The same holds for the programs used.
#![allow(dead_code)] // each test binary uses part of this module

pub mod linux;
pub mod programs;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use colony_ns::fuse::{MountOptions, mount};
use colony_ns::{FileSystem, MemFs};

/// A fresh MemFs whose root is owned by root and writable by its owner.
pub fn memfs() -> Arc<dyn FileSystem> {
    Arc::new(MemFs::with_root("root", "root", 0o755))
}

/// Whether a requirement is met; if not, says why and, under CI, fails.
pub fn require(ok: bool, why: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set, so this may not be skipped: {why}"
        );
        eprintln!("skipped: {why}");
    }
    ok
}

/// Whether FUSE mounts can be made here (/dev/fuse and root).
pub fn fuse_ready() -> bool {
    require(Path::new("/dev/fuse").exists(), "no /dev/fuse")
        && require(nix::unistd::geteuid().is_root(), "not running as root")
}

/// A new temporary directory to mount on (kept while the guard lives) and
/// its canonical path; `None` where FUSE mounts cannot be made.
pub fn mount_dir() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    if !fuse_ready() {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().canonicalize().expect("canonical path");
    Some((dir, mnt))
}

/// Whether `program` is on the PATH.
pub fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success());
    require(found, &format!("{program} is not installed"))
}

/// Whether `path` is a mount point now, per /proc/self/mountinfo.
pub fn is_mounted(path: &Path) -> bool {
    let path = path.to_str().expect("UTF-8 path");
    // Field 5 is the mount point, with space, tab, newline and backslash
    // written as octal escapes.
    let escaped = path
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012");
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(escaped.as_str()))
}

/// Mounts a fresh file system from `make` with `options` on a temporary
/// directory, runs `program` in it, unmounts and checks that no mount is
/// left.
pub fn run(
    make: fn() -> Arc<dyn FileSystem>,
    options: fn() -> MountOptions,
    tools: &[&str],
    program: fn(&Path),
) {
    if !fuse_ready() || !tools.iter().all(|t| have(t)) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // Every user may enter, as in an environment (whose processes run as
    // many ids); the temporary directory keeps others out of the tree.
    let options = MountOptions {
        allow_other: true,
        ..options()
    };
    let handle = mount(make(), &mnt, &options).expect("mount");
    let mnt = handle.mountpoint().to_path_buf();
    assert!(is_mounted(&mnt));
    program(&mnt);
    handle.unmount().expect("unmount");
    assert!(!is_mounted(&mnt), "mount left behind");
}

/// Runs a shell script in `cwd`; panics with its output unless it succeeds.
pub fn sh(cwd: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-euc")
        .arg(script)
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "script failed ({}):\n{script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// One test per program, over file systems made by `$make`
/// (a `fn() -> Arc<dyn FileSystem>`) mounted with the default options, or
/// with those `$options` (a `fn() -> MountOptions`) gives; `@ninep $make`
/// leaves out the three that need what 9P2000 cannot do (giving files
/// away, renaming across directories, holes); `@linux $make` adds those
/// that need a file system with every Linux file type, numeric owners,
/// nanosecond times and extended attributes ([`linux`]).
#[macro_export]
macro_rules! program_tests {
    (@linux $make:expr) => {
        $crate::program_tests!(@linux $make, colony_ns::fuse::MountOptions::default);
    };
    (@linux $make:expr, $options:expr) => {
        $crate::program_tests!($make, $options);
        $crate::program_tests!(@each_in linux, $make, $options;
            every_file_type: ["mkfifo", "mknod"],
            owners_are_numbers_and_the_kernel_checks_them: [],
            set_ids_drop_on_write_truncate_and_chown: ["truncate", "setcap", "getcap"],
            times_have_nanoseconds: [],
            extended_attributes_acls_and_capabilities: ["setfattr", "getfattr", "setfacl", "setcap"],
            renames_are_atomic_and_have_flags: [],
            hard_links: ["ln", "git"],
            dpkg_installs_and_useradd_adds: ["dpkg", "dpkg-deb", "useradd"],
        );
    };
    (@ninep $make:expr) => {
        $crate::program_tests!(@ninep $make, colony_ns::fuse::MountOptions::default);
    };
    (@ninep $make:expr, $options:expr) => {
        $crate::program_tests!(@each_in programs, $make, $options;
            cp_a_tree_in_and_out: [],
            tar_in_and_out: ["tar"],
            git_init_add_commit_log: ["git"],
            cc_compile_and_run: ["cc"],
            sqlite_write_and_read_back: ["sqlite3"],
            rm_rf_deep_tree: [],
            symlinks: [],
            names_that_are_not_utf8: ["ls", "od", "readlink"],
            errors_have_the_right_errno: [],
            large_file_offsets: [],
            many_files_in_one_directory: [],
            unlinked_open_files_stay_usable: [],
            syncfs_after_unlink_and_rename: [],
        );
    };
    (@each_in $module:ident, $make:expr, $options:expr; $($name:ident: [$($tool:literal),*]),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::fuse_programs::run($make, $options, &["diff", "cp", $($tool),*],
                    $crate::fuse_programs::$module::$name);
            }
        )*
    };
    ($make:expr) => {
        $crate::program_tests!($make, colony_ns::fuse::MountOptions::default);
    };
    ($make:expr, $options:expr) => {
        $crate::program_tests!(@ninep $make, $options);
        $crate::program_tests!(@each_in programs, $make, $options;
            stat_agrees_with_changes: [],
            rename_replaces_and_mv_crosses_directories: [],
            sparse_files_seek_and_allocate: [],
            sparse_files_use_few_blocks: ["du"],
        );
    };
}
