//! What each request does: 9P2000 semantics over a [`FileSystem`], with the
//! fid rules and permission checks the protocol asks of a server.

use crate::error::{Error, Result};
use crate::fs::{Meta, NodeId, RenameMode, SetMeta, check_name};
use crate::ninep::{
    DMAPPEND, DMDIR, DMEXCL, IOHDRSZ, Message, NOFID, ORCLOSE, ORDWR, OREAD, OTRUNC, OWRITE,
    Rattach, Rclunk, Rcreate, Ropen, Rread, Rremove, Rstat, Rwalk, Rwrite, Rwstat, Stat, Tattach,
    Tcreate, Topen, Tread, Twalk, Twrite, Twstat,
};
use crate::server::Shared;
use crate::server::fid::{DirCursor, Fid, FidRef, FidTable, Open, lock};
use crate::server::perm::{self, EXEC, READ, WRITE};

/// One connection's view while answering a request.
pub(crate) struct Ops<'a> {
    pub shared: &'a Shared,
    pub fids: &'a FidTable,
    /// The negotiated msize.
    pub msize: u32,
    /// 9P2000.colony was agreed: Tlinux is served.
    pub linux: bool,
}

impl Ops<'_> {
    /// Answers a request other than Tversion and Tflush (the connection
    /// handles those, as they act on the connection itself).
    pub fn handle(&self, msg: Message) -> Result<Message> {
        Ok(match msg {
            Message::Tauth(_) => {
                return Err(Error::AuthNotRequired(self.shared.config.service.clone()));
            }
            Message::Tattach(m) => self.attach(m)?.into(),
            Message::Twalk(m) => self.walk(m)?.into(),
            Message::Topen(m) => self.open(m)?.into(),
            Message::Tcreate(m) => self.create(m)?.into(),
            Message::Tread(m) => self.read(m)?.into(),
            Message::Twrite(m) => self.write(m)?.into(),
            Message::Tclunk(m) => {
                let fid = self.fids.remove(m.fid)?;
                self.release(&fid)?;
                Rclunk {}.into()
            }
            Message::Tremove(m) => self.remove(m.fid)?.into(),
            Message::Tstat(m) => Rstat {
                stat: Stat::of(&self.fs().stat(self.node(m.fid)?)?),
            }
            .into(),
            Message::Twstat(m) => self.wstat(m)?.into(),
            Message::Tlinux(m) => self.linux(m)?.into(),
            _ => return Err(Error::BadMessage),
        })
    }

    /// Plan 9's permission check; always passed on a 9P2000.colony
    /// connection, whose client's kernel makes Linux's own.
    fn allowed(&self, meta: &Meta, user: &str, need: u32) -> bool {
        self.linux || perm::allowed(meta, user, need)
    }

    /// The owner-or-group-leader check, as [`Ops::allowed`].
    fn owner_or_leader(&self, meta: &Meta, user: &str) -> bool {
        self.linux || perm::owner_or_leader(meta, user)
    }

    /// The file of fid `fid`.
    pub(crate) fn node(&self, fid: u32) -> Result<NodeId> {
        Ok(lock(&self.fids.get(fid)?).node)
    }

    pub(crate) fn fs(&self) -> &dyn crate::fs::FileSystem {
        &*self.shared.fs
    }

    /// The largest Rread/Twrite payload: msize less the I/O header.
    pub(crate) fn iounit(&self) -> u32 {
        self.msize - IOHDRSZ
    }

    fn attach(&self, m: Tattach) -> Result<Rattach> {
        if m.afid != NOFID {
            // No auth fids exist: authentication is not required.
            return Err(Error::UnknownFid);
        }
        let config = &self.shared.config;
        for (what, name, max) in [
            ("uname", &m.uname, config.max_uname),
            ("aname", &m.aname, config.max_aname),
        ] {
            if name.len() > max {
                return Err(Error::NameTooLong {
                    what,
                    len: name.len(),
                    max,
                });
            }
        }
        if self.fids.contains(m.fid) {
            return Err(Error::FidInUse);
        }
        // Before the file system does any work for a fid it cannot keep.
        self.fids.check_room()?;
        let node = self.fs().attach(&m.uname, &m.aname)?;
        let qid = self.fs().stat(node)?.qid;
        self.fids.insert(
            m.fid,
            Fid {
                node,
                uname: m.uname.into(),
                open: None,
                named: None,
            },
        )?;
        Ok(Rattach { qid })
    }

    fn walk(&self, m: Twalk) -> Result<Rwalk> {
        let from = lock(&self.fids.get(m.fid)?).clone();
        if from.open.is_some() {
            return Err(Error::FidOpen);
        }
        if m.newfid != m.fid {
            if self.fids.contains(m.newfid) {
                return Err(Error::FidInUse);
            }
            self.fids.check_room()?;
        }
        let mut cur = self.fs().stat(from.node)?;
        let mut named = from.named;
        let mut wqids = Vec::with_capacity(m.wnames.len());
        for (i, name) in m.wnames.iter().enumerate() {
            match self.step(&cur, name, &from.uname) {
                Ok(next) => {
                    wqids.push(next.qid);
                    named = (name != b"..").then(|| (cur.node(), name.clone()));
                    cur = next;
                }
                // The first element failing is an error; a later one ends
                // the walk short, and newfid is left alone.
                Err(e) if i == 0 => return Err(e),
                Err(_) => return Ok(Rwalk { wqids }),
            }
        }
        let walked = Fid {
            node: cur.node(),
            uname: from.uname,
            open: None,
            named,
        };
        if m.newfid == m.fid {
            self.fids.replace(m.fid, walked);
        } else {
            self.fids.insert(m.newfid, walked)?;
        }
        Ok(Rwalk { wqids })
    }

    /// One walk element: `dir` must be a searchable directory.
    fn step(&self, dir: &Meta, name: &[u8], user: &str) -> Result<Meta> {
        if !dir.is_dir() {
            return Err(Error::NotDir);
        }
        if !self.allowed(dir, user, EXEC) {
            return Err(Error::PermissionDenied);
        }
        self.fs().lookup(dir.node(), name)
    }

    /// The permission bits an open mode needs.
    fn need(mode: u8) -> u32 {
        let access = match mode & 3 {
            OREAD => READ,
            OWRITE => WRITE,
            ORDWR => READ | WRITE,
            _ => EXEC,
        };
        if mode & OTRUNC != 0 {
            access | WRITE
        } else {
            access
        }
    }

    /// Checks an open of `meta` with `mode` and takes the DMEXCL lock;
    /// returns the open state.
    fn check_open(&self, meta: &Meta, mode: u8, user: &str) -> Result<Open> {
        let writes = matches!(mode & 3, OWRITE | ORDWR) || mode & (OTRUNC | ORCLOSE) != 0;
        if meta.is_dir() && writes {
            return Err(Error::IsDir);
        }
        if !self.allowed(meta, user, Self::need(mode)) {
            return Err(Error::PermissionDenied);
        }
        if mode & ORCLOSE != 0 {
            let parent = self.parent_of(meta)?;
            if parent.node() == meta.node() || !self.allowed(&parent, user, WRITE) {
                return Err(Error::PermissionDenied);
            }
        }
        let excl = meta.mode & DMEXCL != 0;
        if excl && !self.shared.lock_excl(meta.node()) {
            return Err(Error::InUse);
        }
        Ok(Open {
            access: mode & 3,
            rclose: mode & ORCLOSE != 0,
            excl,
            dir: meta.is_dir().then(DirCursor::default),
        })
    }

    /// The directory holding a file (the root for the root).
    fn parent_of(&self, meta: &Meta) -> Result<Meta> {
        self.fs().parent(meta.node())
    }

    fn open(&self, m: Topen) -> Result<Ropen> {
        let fid = self.fids.get(m.fid)?;
        let mut f = lock(&fid);
        if f.open.is_some() {
            return Err(Error::FidOpen);
        }
        let meta = self.fs().stat(f.node)?;
        let open = self.check_open(&meta, m.mode, &f.uname)?;
        let mut qid = meta.qid;
        if m.mode & OTRUNC != 0 && meta.mode & DMAPPEND == 0 {
            let trunc = SetMeta {
                length: Some(0),
                ..SetMeta::default()
            };
            match self.fs().wstat(f.node, &trunc, &f.uname) {
                Ok(after) => qid = after.qid,
                Err(e) => {
                    self.unlock_excl(&open, f.node);
                    return Err(e);
                }
            }
        }
        f.open = Some(open);
        Ok(Ropen {
            qid,
            iounit: self.iounit(),
        })
    }

    fn unlock_excl(&self, open: &Open, node: NodeId) {
        if open.excl {
            self.shared.unlock_excl(node);
        }
    }

    fn create(&self, m: Tcreate) -> Result<Rcreate> {
        let fid = self.fids.get(m.fid)?;
        let mut f = lock(&fid);
        if f.open.is_some() {
            return Err(Error::FidOpen);
        }
        check_name(&m.name)?;
        let dir = self.fs().stat(f.node)?;
        if !dir.is_dir() {
            return Err(Error::NotDir);
        }
        if !self.allowed(&dir, &f.uname, WRITE) {
            return Err(Error::PermissionDenied);
        }
        let is_dir = m.perm & DMDIR != 0;
        if is_dir && (matches!(m.mode & 3, OWRITE | ORDWR) || m.mode & (OTRUNC | ORCLOSE) != 0) {
            return Err(Error::IsDir);
        }
        // The new file inherits the directory's restrictions (create(5)).
        let keep = if is_dir { 0o777 } else { 0o666 };
        let perm = m.perm & (!keep | (dir.mode & keep));
        let meta = self.fs().create(f.node, &m.name, perm, &f.uname)?;
        let excl = meta.mode & DMEXCL != 0;
        if excl {
            // A brand-new node: nobody else can hold its lock.
            self.shared.lock_excl(meta.node());
        }
        f.named = Some((f.node, m.name.clone()));
        f.node = meta.node();
        f.open = Some(Open {
            access: m.mode & 3,
            rclose: m.mode & ORCLOSE != 0,
            excl,
            dir: is_dir.then(DirCursor::default),
        });
        Ok(Rcreate {
            qid: meta.qid,
            iounit: self.iounit(),
        })
    }

    fn read(&self, m: Tread) -> Result<Rread> {
        let fid = self.fids.get(m.fid)?;
        let mut f = lock(&fid);
        let node = f.node;
        let open = f.open.as_mut().ok_or(Error::NotOpenRead)?;
        if open.access == OWRITE {
            return Err(Error::NotOpenRead);
        }
        let count = m.count.min(self.iounit());
        let Some(cursor) = open.dir.as_mut() else {
            return Ok(Rread {
                data: self.fs().read(node, m.offset, count)?,
            });
        };
        // Directories: whole stat entries only, continuing where the last
        // read ended (or from the start at offset 0).
        let start = match m.offset {
            0 => DirCursor::default(),
            off if off == cursor.offset => *cursor,
            _ => return Err(Error::BadDirOffset),
        };
        let mut data = Vec::new();
        let mut cookie = start.cookie;
        let mut failed = None;
        self.fs().readdir(node, start.cookie, &mut |entry| {
            let stat = Stat::of(&entry.meta);
            if data.len() + stat.encoded_len() > count as usize {
                if data.is_empty() {
                    failed = Some(Error::DirEntryTooBig);
                }
                return false;
            }
            if let Err(e) = stat.encode(&mut data) {
                failed = Some(e);
                return false;
            }
            cookie = entry.cookie;
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        *cursor = DirCursor {
            offset: m.offset + data.len() as u64,
            cookie,
        };
        Ok(Rread { data })
    }

    fn write(&self, m: Twrite) -> Result<Rwrite> {
        let fid = self.fids.get(m.fid)?;
        let f = lock(&fid);
        match f.open {
            Some(Open {
                access: OWRITE | ORDWR,
                ..
            }) => {}
            _ => return Err(Error::NotOpenWrite),
        }
        let count = self.fs().write(f.node, m.offset, &m.data, &f.uname)?;
        Ok(Rwrite { count })
    }

    /// What a clunk does beyond forgetting the fid: drop the DMEXCL lock,
    /// remove an ORCLOSE file.
    pub(crate) fn release(&self, fid: &FidRef) -> Result<()> {
        let f = lock(fid);
        let Some(open) = f.open else { return Ok(()) };
        self.unlock_excl(&open, f.node);
        if open.rclose {
            self.fs().remove(f.node)?;
        }
        Ok(())
    }

    fn remove(&self, fid: u32) -> Result<Rremove> {
        // The fid is gone whatever happens to the file.
        let fid = self.fids.remove(fid)?;
        let (node, uname, open, named) = {
            let f = lock(&fid);
            (f.node, f.uname.clone(), f.open, f.named.clone())
        };
        if let Some(open) = open {
            self.unlock_excl(&open, node);
        }
        let meta = self.fs().stat(node)?;
        let named = self.walked_name(&meta, named);
        let parent = self.parent_by(&meta, named.as_ref())?;
        if parent.node() == node {
            return Err(Error::RemoveRoot);
        }
        if !self.allowed(&parent, &uname, WRITE) {
            return Err(Error::PermissionDenied);
        }
        match named {
            Some((dir, name)) => self.fs().unlink(dir, &name)?,
            None => self.fs().remove(node)?,
        }
        Ok(Rremove {})
    }

    fn wstat(&self, m: Twstat) -> Result<Rwstat> {
        let fid = self.fids.get(m.fid)?;
        let (node, user, named) = {
            let f = lock(&fid);
            (f.node, f.uname.clone(), f.named.clone())
        };
        let mut change = m.stat.wstat_change()?;
        let meta = self.fs().stat(node)?;
        let named = self.walked_name(&meta, named);
        // Setting a field to what it already is changes nothing.
        if change.uid.as_ref() == Some(&meta.uid) {
            change.uid = None;
        }
        let name = named.as_ref().map_or(&meta.name, |(_, n)| n);
        if change.name.as_ref() == Some(name) {
            change.name = None;
        }
        if change.is_empty() {
            self.fs().sync(node)?;
            return Ok(Rwstat {});
        }
        self.check_wstat(&meta, named.as_ref(), &change, &user)?;
        match (named, change.name.take()) {
            // A file of several names: the name walked is the one renamed,
            // after the rest of the change (a taken name refused first).
            (Some((dir, old)), Some(new)) => {
                if self.fs().lookup(dir, &new).is_ok() {
                    return Err(Error::Exists);
                }
                if !change.is_empty() {
                    self.fs().wstat(node, &change, &user)?;
                }
                let to = (dir, new.as_slice());
                self.fs()
                    .rename_at((dir, &old), to, RenameMode::NoReplace, &user)?;
                lock(&fid).named = Some((dir, new));
            }
            (_, name) => {
                change.name = name;
                self.fs().wstat(node, &change, &user)?;
            }
        }
        Ok(Rwstat {})
    }

    /// The directory and name the fid reached `meta`'s file by, if it has
    /// several names and that one still names it.
    fn walked_name(
        &self,
        meta: &Meta,
        named: Option<(NodeId, Vec<u8>)>,
    ) -> Option<(NodeId, Vec<u8>)> {
        named.filter(|(dir, name)| {
            meta.nlink > 1
                && self
                    .fs()
                    .lookup(*dir, name)
                    .is_ok_and(|m| m.node() == meta.node())
        })
    }

    /// The directory of the file's name `named` ([`Self::walked_name`]),
    /// else of its one name.
    fn parent_by(&self, meta: &Meta, named: Option<&(NodeId, Vec<u8>)>) -> Result<Meta> {
        match named {
            Some((dir, _)) => self.fs().stat(*dir),
            None => self.parent_of(meta),
        }
    }

    /// Who may change what (stat(5)); the whole change is refused if any
    /// part of it is.
    fn check_wstat(
        &self,
        meta: &Meta,
        named: Option<&(NodeId, Vec<u8>)>,
        change: &SetMeta,
        user: &str,
    ) -> Result<()> {
        if let Some(name) = &change.name {
            check_name(name)?;
            let parent = self.parent_by(meta, named)?;
            if parent.node() == meta.node() || !self.allowed(&parent, user, WRITE) {
                return Err(Error::PermissionDenied);
            }
        }
        if let Some(mode) = change.mode
            && (mode & DMDIR) != (meta.mode & DMDIR)
        {
            return Err(Error::DirBit);
        }
        let needs_owner = change.mode.is_some()
            || change.mtime.is_some()
            || change.atime.is_some()
            || change.gid.is_some();
        if needs_owner && !self.owner_or_leader(meta, user) {
            return Err(Error::PermissionDenied);
        }
        if let Some(length) = change.length {
            if meta.is_dir() && length != 0 {
                return Err(Error::DirLength);
            }
            if !self.allowed(meta, user, WRITE) {
                return Err(Error::PermissionDenied);
            }
        }
        // Giving a file away is not a 9P client's to do (Plan 9's file
        // servers allow it only from their console).
        if change.uid.is_some() {
            return Err(Error::PermissionDenied);
        }
        Ok(())
    }
}
