//! Import: write a tree into a block store as a vac archive (`vac`).
//!
//! The layout and packing follow plan9port vac exactly (spec §5): qids in
//! visiting order, one VtEntry slot per file and two per directory in the
//! same order, v8 DirEntries, vac's MetaBlock packing policy. With
//! [`Flavor::Plan9port`] (the default) the output is byte-identical to what
//! plan9port `vac` writes for the same tree, metadata and run time,
//! including its quirks: the Local bit (0x20) in entries, the `0x5656fc79`
//! magic with its old sort order, stale `free` counts, and a root QidSpace
//! max one past the last qid. [`Flavor::Clean`] writes what the spec
//! recommends instead (Local cleared, `free` 0, max = last qid, a chosen
//! magic), which fossil's `flfmt -v` accepts.
//!
//! Known difference from plan9port: a symlink's full target is stored
//! (plan9port keeps 8 bytes). vac also writes two scratch blocks when it
//! starts (an empty top block and the first `/` MetaBlock); they are not
//! reachable from the root and are not written here.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use colony_venti::{BlockStore, BlockType, MAX_BLOCK, Score};

use crate::data_pool::{DataPool, Geometry, Pending, Written, write_stream};
use crate::dir_entry::DirEntry;
use crate::entry::{ENTRY_SIZE, Entry, flags};
use crate::error::{Error, Result};
use crate::extension::{Special, XattrMode};
use crate::fossil::links::{LinkTable, join};
use crate::meta_block::{MetaBlock, MetaMagic};
use crate::mode;
use crate::root::Root;
use crate::source::{FsOptions, FsSource, Node, NodeKind, Source};
use crate::tree::{TreeWriter, WriteStats, put_block};

/// Which writer to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Byte-exact plan9port vac output (magic `0x5656fc79`, Local bits).
    Plan9port,
    /// The spec's recommended output with the given MetaBlock magic.
    Clean(MetaMagic),
}

/// What becomes the children of `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    /// The source's top itself (`vac tree` gives `/tree/...`).
    Named,
    /// The top directory's children (`vac .` gives `/a`, `/b`...).
    Contents,
}

/// Options of [`import`].
#[derive(Clone)]
pub struct VacOptions {
    /// Block size (vac's `-b`): leaves are this big, pointer blocks hold
    /// `block_size / 20` scores. 8192 by default.
    pub block_size: u32,
    /// Output flavor; [`Flavor::Plan9port`] by default.
    pub flavor: Flavor,
    /// The ctime recorded for every file: vac records its own run time.
    /// `None` means now.
    pub ctime: Option<u32>,
    /// What becomes the children of `/`.
    pub top: Top,
    /// Ask the store before writing each block and skip blocks it has
    /// (saves sending data to a remote store on re-import).
    pub skip_existing: bool,
    /// Visiting order and owner names for [`import_path`].
    pub fs: FsOptions,
    /// Keep what Linux has beyond vac, in colony's extension
    /// ([`crate::extension`]: numeric owners, nanosecond times, sockets
    /// and devices, extended attributes) and vac's set-uid, set-gid and
    /// sticky bits, which plan9port's vac drops. plan9port reads such
    /// archives as it reads its own; off by default, since the output is
    /// then no longer byte-identical to plan9port's.
    pub linux: bool,
}

impl Default for VacOptions {
    fn default() -> Self {
        VacOptions {
            block_size: 8192,
            flavor: Flavor::Plan9port,
            ctime: None,
            top: Top::Named,
            skip_existing: false,
            fs: FsOptions::default(),
            linux: false,
        }
    }
}

pub use crate::progress::Progress;

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// Score of the VtRoot (print it as `vac:HEX`).
    pub score: Score,
    /// Files (not directories) archived.
    pub files: u64,
    /// Directories archived.
    pub dirs: u64,
    /// File bytes read.
    pub bytes: u64,
    /// Paths left out, with why (sockets, devices, unreadable files).
    pub skipped: Vec<(PathBuf, String)>,
    /// Blocks written and skipped.
    pub stats: WriteStats,
}

/// Counts what [`import`] would read from `source` (files and
/// directories, file bytes), so a caller can size a progress bar.
pub fn measure(source: &dyn Source, top: Top) -> Result<Progress> {
    fn walk(source: &dyn Source, rel: &Path, total: &mut Progress) -> Result<()> {
        for node in source.list(rel)?.nodes {
            total.files += 1;
            let child = rel.join(std::ffi::OsStr::from_bytes(&node.name));
            match node.kind {
                NodeKind::Dir => walk(source, &child, total)?,
                NodeKind::File | NodeKind::Symlink => total.bytes += node.size,
                NodeKind::NamedPipe | NodeKind::Special => {}
            }
        }
        Ok(())
    }
    let mut total = Progress::default();
    if top == Top::Named {
        let t = source.top()?;
        total.files += 1;
        if t.kind != NodeKind::Dir {
            total.bytes += t.size;
            return Ok(total);
        }
    }
    walk(source, Path::new(""), &mut total)?;
    Ok(total)
}

/// Imports the file-system tree at `path` (see [`VacOptions::fs`]).
pub fn import_path<S: BlockStore + ?Sized>(
    store: &S,
    path: &Path,
    options: &VacOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Imported> {
    let src = FsSource::new(path, options.fs.clone());
    import(store, &src, options, progress)
}

/// Imports `source` into `store` and returns the archive's root score.
/// File data is written on worker threads, one per CPU (see
/// [`data_pool`](crate::data_pool)); the archive does not depend on it.
pub fn import<S: BlockStore + ?Sized>(
    store: &S,
    source: &dyn Source,
    options: &VacOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Imported> {
    let bs = options.block_size;
    if !(512..=MAX_BLOCK as u32).contains(&bs) {
        return Err(Error::Unrepresentable(format!(
            "block size {bs}: must be 512..={MAX_BLOCK}"
        )));
    }
    let (magic, quirks) = match options.flavor {
        Flavor::Plan9port => (MetaMagic::Old, true),
        Flavor::Clean(m) => (m, false),
    };
    let ctime = options.ctime.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now.min(u32::MAX as u64) as u32
    });
    let geometry = Geometry {
        psize: bs / 20 * 20,
        dsize: bs,
        skip_existing: options.skip_existing,
    };
    let bytes = AtomicU64::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        let pool = DataPool::start(scope, store, geometry, workers, &bytes);
        let imp = Importer {
            store,
            source,
            geometry,
            pool: &pool,
            bytes: &bytes,
            magic,
            quirks,
            linux: options.linux,
            ctime,
            qid: 0,
            progress,
            done: Progress::default(),
            out: Imported {
                score: Score::NONE,
                files: 0,
                dirs: 0,
                bytes: 0,
                skipped: Vec::new(),
                stats: WriteStats::default(),
            },
            unfinished: VecDeque::new(),
            links: HashMap::new(),
            prefix: None,
        };
        imp.run(options)
    })
}

impl<S: BlockStore + ?Sized> Importer<'_, '_, S> {
    /// The import after setup: the tree, then the root.
    fn run(mut self, options: &VacOptions) -> Result<Imported> {
        let mut root = DirState::new(b"vac", b"vac");
        match options.top {
            Top::Named => {
                let top = self.source.top()?;
                self.prefix = Some(top.name.clone());
                self.add_child(&mut root, Path::new(""), &top)?;
            }
            Top::Contents => self.add_children(&mut root, Path::new(""))?,
        }
        self.finish_walked(true)?;
        let (rdir, rmeta) = self.finish_dir(root)?;
        // Workers may have read more since the last child was reported.
        self.report();
        // With `linux`, `/` of a tree's contents is that tree's top, as
        // its owner, group, mode and times say.
        let root_node = match options.top {
            Top::Contents if self.linux => Some(self.source.top()?),
            _ => None,
        };
        let pmeta = self.root_meta(root_node.as_ref())?;
        let mut top = Vec::with_capacity(3 * ENTRY_SIZE);
        for e in [rdir, rmeta, pmeta] {
            top.extend_from_slice(&e.encode()?);
        }
        let top_score = put_block(
            self.store,
            BlockType::DIR,
            &top,
            self.geometry.skip_existing,
            &mut self.out.stats,
        )?;
        let root = Root::vac(top_score, self.geometry.dsize).encode()?;
        self.out.stats.blocks += 1;
        self.out.stats.bytes += root.len() as u64;
        self.out.score = self.store.write(BlockType::ROOT, &root)?;
        self.store.sync()?;
        Ok(self.out)
    }
}

/// Directories walked and waiting to be finished before the walk stops
/// to wait for the oldest: finishing each one as soon as it is walked
/// would idle the workers at every directory's last files.
const MAX_UNFINISHED: usize = 256;

/// A directory's two entries (dir stream, meta stream), once finished.
type Finished = Rc<Cell<Option<(Entry, Entry)>>>;

/// A directory being built: its VtEntry slots and MetaBlocks, and the
/// owner its new children inherit before their own is set (as in libvac).
struct DirState {
    slots: Vec<Entry>,
    /// Slots of files whose data the workers are still writing.
    pending: Vec<(usize, Pending)>,
    /// How many of `pending`, from the start, are known to be done.
    done_upto: usize,
    /// Slots of subdirectories, filled in when they are finished (always
    /// before this one: they were walked first).
    subdirs: Vec<(usize, Finished)>,
    metas: Vec<MetaBlock>,
    uid: Vec<u8>,
    gid: Vec<u8>,
}

impl DirState {
    fn new(uid: &[u8], gid: &[u8]) -> DirState {
        DirState {
            slots: Vec::new(),
            pending: Vec::new(),
            done_upto: 0,
            subdirs: Vec::new(),
            metas: Vec::new(),
            uid: uid.to_vec(),
            gid: gid.to_vec(),
        }
    }

    /// True once the workers have written every file of this directory.
    fn files_done(&mut self) -> bool {
        while let Some((_, p)) = self.pending.get_mut(self.done_upto) {
            if !p.is_done() {
                return false;
            }
            self.done_upto += 1;
        }
        true
    }
}

/// A hard-link group being archived: its id and its names' paths.
type LinkGroup = (u64, Vec<Vec<u8>>);

struct Importer<'a, 'p, S: BlockStore + ?Sized> {
    store: &'a S,
    source: &'a dyn Source,
    geometry: Geometry,
    pool: &'p DataPool<'a>,
    /// File bytes read so far, by the workers too.
    bytes: &'p AtomicU64,
    magic: MetaMagic,
    quirks: bool,
    linux: bool,
    ctime: u32,
    qid: u64,
    progress: &'p mut dyn FnMut(&Progress),
    done: Progress,
    out: Imported,
    /// Walked directories not yet finished, oldest first; each is
    /// finished after its subdirectories, which were walked before it.
    unfinished: VecDeque<(DirState, Finished)>,
    /// With `linux`, files of several names by (device, inode): the group
    /// id (the first name's qid) and the archive paths of the names.
    links: HashMap<(u64, u64), LinkGroup>,
    /// What archive paths start with: the top's name, if it is archived.
    prefix: Option<Vec<u8>>,
}

impl<'a, S: BlockStore + ?Sized> Importer<'a, '_, S> {
    fn writer(&self, dir: bool) -> TreeWriter<'a, S> {
        TreeWriter::new(self.store, self.geometry.psize, self.geometry.dsize, dir)
            .skip_existing(self.geometry.skip_existing)
    }

    fn add_children(&mut self, dir: &mut DirState, rel: &Path) -> Result<()> {
        let listing = self.source.list(rel)?;
        self.out.skipped.extend(listing.skipped);
        for node in &listing.nodes {
            let child = rel.join(std::ffi::OsStr::from_bytes(&node.name));
            self.add_child(dir, &child, node)?;
        }
        Ok(())
    }

    /// vac's `vac()` for one file: `vacfilecreate`, `vacfilesetdir`, then
    /// the contents.
    /// `de` with what [`VacOptions::linux`] keeps of `node`: set-id and
    /// sticky bits, and colony's extension records. Attributes past the
    /// room a DirEntry has for them are left out, and say so.
    fn with_linux(&mut self, mut de: DirEntry, node: &Node, rel: &Path) -> DirEntry {
        de.mode |= mode::from_unix_special_bits(node.perm);
        if let Some((uid, gid)) = node.ids {
            de.set_uid_number(Some(uid));
            de.set_gid_number(Some(gid));
        }
        de.set_nanos(node.nanos);
        de.set_special(node.special);
        for (name, value) in &node.xattrs {
            if let Err(e) = de.set_xattr(name, value, XattrMode::Any) {
                let why = format!("extended attribute {}: {e}", name.escape_ascii());
                self.out.skipped.push((rel.to_path_buf(), why));
            }
        }
        de
    }

    fn add_child(&mut self, parent: &mut DirState, rel: &Path, node: &Node) -> Result<()> {
        if node.kind == NodeKind::Special && !self.linux {
            // plan9port's vac leaves sockets and devices out.
            let what = match node.special {
                Some(Special::Socket) => "socket",
                _ => "device",
            };
            let why = format!("{what}: not archived (only with colony's extension)");
            self.out.skipped.push((rel.to_path_buf(), why));
            return Ok(());
        }
        let data = match node.kind {
            NodeKind::File => match self.source.open(rel) {
                Ok(r) => Some(r),
                Err(e) => {
                    // vac warns and leaves out files it cannot open.
                    self.out.skipped.push((rel.to_path_buf(), e.to_string()));
                    return Ok(());
                }
            },
            _ => None,
        };
        self.qid += 1;
        // Each name of a file of several is a whole entry (its contents
        // read again: dedup stores them once) in the group of the first.
        let group = match (self.linux, node.inode) {
            (true, Some(key)) => {
                let path = self.archive_path(rel);
                let (g, paths) = self.links.entry(key).or_insert((self.qid, Vec::new()));
                paths.push(path);
                Some(*g)
            }
            _ => None,
        };
        let slot = parent.slots.len() as u32;
        let is_dir = node.kind == NodeKind::Dir;
        let placeholder = Entry::empty(self.geometry.psize, self.geometry.dsize, false);
        parent.slots.push(placeholder);
        if is_dir {
            parent.slots.push(placeholder);
        }
        let kind = match node.kind {
            NodeKind::File => mode::Kind::File,
            NodeKind::Dir => mode::Kind::Dir,
            NodeKind::Symlink => mode::Kind::Symlink,
            NodeKind::NamedPipe => mode::Kind::NamedPipe,
            NodeKind::Special => match node.special {
                Some(Special::CharDevice(_) | Special::BlockDevice(_)) => mode::Kind::Device,
                _ => mode::Kind::File,
            },
        };
        let de = DirEntry {
            version: 8,
            elem: node.name.clone(),
            entry: slot,
            generation: 0,
            mentry: slot + 1,
            mgen: 0,
            qid: group.unwrap_or(self.qid),
            v7_score: None,
            uid: node.uid.clone(),
            gid: node.gid.clone(),
            mid: Vec::new(),
            mtime: node.mtime,
            mcount: 0,
            ctime: self.ctime,
            atime: node.atime,
            mode: mode::from_unix(kind, node.perm),
            records: Vec::new(),
        };
        let mut de = if self.linux {
            self.with_linux(de, node, rel)
        } else {
            de
        };
        de.set_link(group);
        if self.quirks {
            // Created with the parent's owner and the run time, then
            // rewritten in place: the source of vac's stale `free` counts.
            let created = DirEntry {
                uid: parent.uid.clone(),
                gid: parent.gid.clone(),
                mtime: self.ctime,
                atime: self.ctime,
                ..de.clone()
            };
            let b = self.meta_alloc(parent, &created, None)?;
            if !parent.metas[b].update(&de)? {
                self.meta_alloc(parent, &de, Some(b + 1))?;
                parent.metas[b].remove(&de.elem);
            }
        } else {
            self.meta_alloc(parent, &de, None)?;
        }
        let s = slot as usize;
        match node.kind {
            NodeKind::Dir => {
                let mut dir = DirState::new(&node.uid, &node.gid);
                self.add_children(&mut dir, rel)?;
                let finished = Finished::default();
                parent.subdirs.push((s, finished.clone()));
                self.unfinished.push_back((dir, finished));
                self.out.dirs += 1;
            }
            NodeKind::File => {
                let r = data.expect("opened above");
                parent.pending.push((s, self.pool.submit(r, rel)?));
                self.out.files += 1;
            }
            NodeKind::Symlink => {
                let target = self.source.read_link(rel)?;
                let w = write_stream(self.store, self.geometry, &mut &target[..], rel, self.bytes)?;
                parent.slots[s] = self.finish_data(w);
                self.out.files += 1;
            }
            NodeKind::NamedPipe | NodeKind::Special => {
                parent.slots[s] = placeholder;
                self.out.files += 1;
            }
        }
        self.done.files += 1;
        self.report();
        self.finish_walked(false)
    }

    /// Finishes walked directories, oldest first: all of them if `all`,
    /// else those whose files are written, and the oldest anyway while
    /// too many wait.
    fn finish_walked(&mut self, all: bool) -> Result<()> {
        loop {
            let waiting = self.unfinished.len();
            let Some((dir, _)) = self.unfinished.front_mut() else {
                break;
            };
            if !all && waiting <= MAX_UNFINISHED && !dir.files_done() {
                break;
            }
            let Some((dir, finished)) = self.unfinished.pop_front() else {
                break;
            };
            finished.set(Some(self.finish_dir(dir)?));
        }
        Ok(())
    }

    /// The archive path of source path `rel`.
    fn archive_path(&self, rel: &Path) -> Vec<u8> {
        let r = rel.as_os_str().as_bytes();
        match &self.prefix {
            Some(p) if r.is_empty() => p.clone(),
            Some(p) => join(p, r),
            None => r.to_vec(),
        }
    }

    /// Writes the link table of the files of several names, if any.
    fn write_links(&mut self) -> Result<Option<crate::extension::TableAt>> {
        let table = LinkTable::of_groups(std::mem::take(&mut self.links).into_values());
        if table.is_empty() {
            return Ok(None);
        }
        let bytes = table.encode();
        let w = write_stream(
            self.store,
            self.geometry,
            &mut &bytes[..],
            Path::new("/"),
            &AtomicU64::new(0),
        )?;
        self.add_stats(w.stats);
        Ok(Some((w.entry.score, w.entry.size, w.entry.depth)))
    }

    fn report(&mut self) {
        self.done.bytes = self.bytes.load(Ordering::Relaxed);
        (self.progress)(&self.done);
    }

    /// libvac's `filemetaalloc`: the last block (or those from `start`) if
    /// the record fits under vac's 80% rule, else a new block.
    fn meta_alloc(&self, dir: &mut DirState, de: &DirEntry, start: Option<usize>) -> Result<usize> {
        let n = de.size();
        let nb = dir.metas.len();
        let start = start.unwrap_or(nb.saturating_sub(1)).min(nb);
        for bo in start..nb {
            if dir.metas[bo].has_room(n) {
                dir.metas[bo].insert(de)?;
                return Ok(bo);
            }
        }
        let mut mb = MetaBlock::new(
            self.geometry.dsize as usize,
            (self.geometry.dsize / 100) as u16,
            self.magic,
        )?;
        mb.insert(de)?;
        dir.metas.push(mb);
        Ok(nb)
    }

    /// Accounts for a file's data stream and returns its entry.
    fn finish_data(&mut self, w: Written) -> Entry {
        self.add_stats(w.stats);
        self.out.bytes += w.size;
        let mut e = w.entry;
        // libventi sets Local on copy-on-write; a single full-block write
        // takes the allocate path that does not.
        if self.quirks && w.size != 0 && w.size != self.geometry.dsize as u64 {
            e.flags |= flags::LOCAL;
        }
        e
    }

    fn add_stats(&mut self, st: WriteStats) {
        self.out.stats.blocks += st.blocks;
        self.out.stats.bytes += st.bytes;
        self.out.stats.skipped += st.skipped;
    }

    /// Writes a directory's dir stream and meta stream.
    fn finish_dir(&mut self, mut dir: DirState) -> Result<(Entry, Entry)> {
        for (s, pending) in std::mem::take(&mut dir.pending) {
            let w = pending.wait(&mut || self.report())?;
            dir.slots[s] = self.finish_data(w);
        }
        for (s, finished) in std::mem::take(&mut dir.subdirs) {
            let (d, m) = finished
                .take()
                .expect("subdirectories are finished before their parent");
            dir.slots[s] = d;
            dir.slots[s + 1] = m;
        }
        let epb = self.geometry.dsize as usize / ENTRY_SIZE;
        let mut w = self.writer(true);
        let mut leaf = Vec::with_capacity(epb * ENTRY_SIZE);
        for chunk in dir.slots.chunks(epb) {
            leaf.clear();
            for e in chunk {
                leaf.extend_from_slice(&e.encode()?);
            }
            w.push_leaf(&leaf)?;
        }
        let n = dir.slots.len() as u64;
        // libventi's vtfilesetdirsize: whole blocks count dsize bytes.
        let size =
            self.geometry.dsize as u64 * (n / epb as u64) + ENTRY_SIZE as u64 * (n % epb as u64);
        let (mut d, st) = w.finish(size)?;
        self.add_stats(st);
        let mut w = self.writer(false);
        for mb in &dir.metas {
            w.push_leaf(&mb.encode())?;
        }
        let (mut m, st) = w.finish(dir.metas.len() as u64 * self.geometry.dsize as u64)?;
        self.add_stats(st);
        if self.quirks && n > 0 {
            d.flags |= flags::LOCAL;
            m.flags |= flags::LOCAL;
        }
        Ok((d, m))
    }

    /// The "parent" meta stream: one MetaBlock holding `/` with its
    /// QidSpace record; `/` is vac's (owner "vac", 0777, time 0) unless
    /// `top` describes it.
    fn root_meta(&mut self, top: Option<&Node>) -> Result<Entry> {
        let mut de = match top {
            Some(t) => {
                let mut de =
                    DirEntry::root(&t.uid, t.mtime, mode::from_unix(mode::Kind::Dir, t.perm));
                de.gid = t.gid.clone();
                de.atime = t.atime;
                self.with_linux(de, t, Path::new(""))
            }
            None => DirEntry::root(b"vac", 0, mode::DIR | 0o777),
        };
        let links = self.write_links()?;
        de.set_link_table(links);
        let mut mb = MetaBlock::new(
            self.geometry.dsize as usize,
            (self.geometry.dsize / 100) as u16,
            self.magic,
        )?;
        if self.quirks {
            // vacfscreate writes `/`; vac later adds the QidSpace with the
            // next qid it would hand out.
            mb.insert(&de)?;
            de.set_qid_space(0, self.qid + 1);
            if !mb.update(&de)? {
                return Err(Error::format("MetaBlock", "no room for / in its block"));
            }
        } else {
            de.set_qid_space(0, self.qid);
            mb.insert(&de)?;
        }
        let mut w = self.writer(false);
        w.push_leaf(&mb.encode())?;
        let (mut e, st) = w.finish(self.geometry.dsize as u64)?;
        self.add_stats(st);
        if self.quirks {
            e.flags |= flags::LOCAL;
        }
        Ok(e)
    }
}
