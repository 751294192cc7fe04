//! A deterministic tree of files shaped like a source tree with assets:
//! many small text and Python files, fewer larger ones, a few big binary
//! ones, in nested directories and one directory of a thousand files.

use std::fs;
use std::io;
use std::path::Path;

use crate::random_block;

/// What [`write_tree`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeSize {
    /// Regular files.
    pub files: usize,
    /// Directories below the root.
    pub dirs: usize,
    /// Bytes in the files.
    pub bytes: u64,
}

/// Files in the one wide directory (`wide/`).
const WIDE: usize = 1000;

/// Writes `files` files under `root` (created if missing): one in five of
/// the small ones is a Python module that compiles; the rest are text
/// (small and medium sizes) or random bytes (large and huge). Sizes follow
/// the file's number, so two calls make the same tree (about 31 KiB a
/// file on average: 8,000 files are about 250 MB).
pub fn write_tree(root: &Path, files: usize) -> io::Result<TreeSize> {
    let mut size = TreeSize {
        files: 0,
        dirs: 0,
        bytes: 0,
    };
    let mut made = std::collections::HashSet::new();
    for i in 0..files {
        let dir = if i < WIDE {
            "wide".to_string()
        } else {
            let j = i - WIDE;
            format!("pkg{}/mod{}", j / 400, (j / 40) % 10)
        };
        let at = root.join(&dir);
        if made.insert(dir.clone()) {
            fs::create_dir_all(&at)?;
        }
        let (name, body) = file(i);
        size.bytes += body.len() as u64;
        size.files += 1;
        fs::write(at.join(name), body)?;
    }
    // Parents counted once each: pkgN directories are shared by their mods.
    size.dirs = made
        .iter()
        .flat_map(|d| {
            let parts: Vec<&str> = d.split('/').collect();
            (1..=parts.len()).map(move |n| parts[..n].join("/"))
        })
        .collect::<std::collections::HashSet<_>>()
        .len();
    Ok(size)
}

/// File `i`'s name and contents.
fn file(i: usize) -> (String, Vec<u8>) {
    // A cheap hash of i spreads sizes within each class.
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match i % 100 {
        0..=69 if i.is_multiple_of(5) => {
            (format!("m{i}.py"), python(i, 1024 + (h % 7168) as usize))
        }
        0..=69 => (format!("t{i}.txt"), text(i, 512 + (h % 7680) as usize)),
        70..=94 => (
            format!("d{i}.dat"),
            text(i, (8 << 10) + (h % (32 << 10)) as usize),
        ),
        95..=98 => (
            format!("b{i}.bin"),
            random_block(i as u64, (64 << 10) + (h % (448 << 10)) as usize),
        ),
        _ => (
            format!("h{i}.bin"),
            random_block(i as u64, (1 << 20) + (h % (512 << 10)) as usize),
        ),
    }
}

/// About `len` bytes of numbered lines of text.
fn text(i: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 80);
    let mut line = 0;
    while out.len() < len {
        out.extend_from_slice(
            format!("file {i} line {line}: the quick brown fox jumps over the lazy dog\n")
                .as_bytes(),
        );
        line += 1;
    }
    out.truncate(len);
    out
}

/// A Python module of about `len` bytes that compiles.
fn python(i: usize, len: usize) -> Vec<u8> {
    let mut out = format!("\"\"\"Module {i}.\"\"\"\n\nimport os\n\n").into_bytes();
    let mut f = 0;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "\ndef f{f}(x, y={f}):\n    \"\"\"Function {f} of module {i}.\"\"\"\n    \
                 z = [x * k + y for k in range({f} % 17 + 1)]\n    \
                 return os.path.join(str(sum(z)), 'm{i}')\n"
            )
            .as_bytes(),
        );
        f += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_the_same_every_time() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = write_tree(a.path(), 1200).unwrap();
        let sb = write_tree(b.path(), 1200).unwrap();
        assert_eq!(sa, sb);
        assert_eq!(sa.files, 1200);
        // wide/, pkg0/, pkg0/mod0..mod4 (200 files past the wide ones).
        assert_eq!(sa.dirs, 1 + 1 + 5);
        let (name, body) = file(1000);
        assert_eq!(
            fs::read(a.path().join("pkg0/mod0").join(&name)).unwrap(),
            body
        );
        assert!(name.ends_with(".py"));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("def f0(x, y=0):"));
    }
}
