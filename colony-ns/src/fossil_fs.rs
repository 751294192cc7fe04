//! colony-fossil's live [`Fossil`] as a [`FileSystem`]: its methods have
//! the trait's names and semantics, so this is a field-by-field copy of
//! metadata and a mapping of error variants.

use colony_fossil::Fossil;
use colony_fossil::fossil as cf;

use crate::error::{Error, Result};
use crate::fs::{DirEntry, FileSystem, Meta, NodeId, SetMeta};
use crate::ninep::Qid;

fn meta(m: cf::Meta) -> Meta {
    Meta {
        qid: Qid {
            ty: m.qid.ty,
            version: m.qid.version,
            path: m.qid.path,
        },
        mode: m.mode,
        atime: m.atime,
        mtime: m.mtime,
        length: m.length,
        name: m.name,
        uid: m.uid,
        gid: m.gid,
        muid: m.muid,
    }
}

fn error(e: colony_fossil::Error) -> Error {
    use colony_fossil::Error as F;
    match e {
        F::NotFound => Error::NotFound,
        F::Exists => Error::Exists,
        F::NotDir => Error::NotDir,
        F::IsDir => Error::IsDir,
        F::NotEmpty => Error::NotEmpty,
        F::BadName(_) => Error::BadName,
        F::DirBit => Error::DirBit,
        F::DirLength => Error::DirLength,
        F::RemoveRoot => Error::RemoveRoot,
        F::NotSymlink => Error::NotSymlink,
        // Damaged or missing blocks, store failures: the storage's text.
        other => Error::Other(other.to_string()),
    }
}

fn ok(r: colony_fossil::Result<cf::Meta>) -> Result<Meta> {
    r.map(meta).map_err(error)
}

impl FileSystem for Fossil {
    fn attach(&self, _uname: &str, _aname: &str) -> Result<NodeId> {
        Ok(self.root())
    }

    fn stat(&self, node: NodeId) -> Result<Meta> {
        ok(Fossil::stat(self, node))
    }

    fn lookup(&self, dir: NodeId, name: &str) -> Result<Meta> {
        ok(Fossil::lookup(self, dir, name))
    }

    fn parent(&self, node: NodeId) -> Result<Meta> {
        ok(Fossil::parent(self, node))
    }

    fn read(&self, node: NodeId, offset: u64, count: u32) -> Result<Vec<u8>> {
        Fossil::read(self, node, offset, count).map_err(error)
    }

    fn write(&self, node: NodeId, offset: u64, data: &[u8], user: &str) -> Result<u32> {
        Fossil::write(self, node, offset, data, user).map_err(error)
    }

    fn create(&self, dir: NodeId, name: &str, perm: u32, user: &str) -> Result<Meta> {
        ok(Fossil::create(self, dir, name, perm, user))
    }

    fn remove(&self, node: NodeId) -> Result<()> {
        Fossil::remove(self, node).map_err(error)
    }

    fn wstat(&self, node: NodeId, change: &SetMeta, user: &str) -> Result<Meta> {
        let change = cf::SetMeta {
            name: change.name.clone(),
            mode: change.mode,
            atime: change.atime,
            mtime: change.mtime,
            length: change.length,
            uid: change.uid.clone(),
            gid: change.gid.clone(),
        };
        ok(Fossil::wstat(self, node, &change, user))
    }

    fn readdir(
        &self,
        dir: NodeId,
        cookie: u64,
        sink: &mut dyn FnMut(DirEntry) -> bool,
    ) -> Result<()> {
        Fossil::readdir(self, dir, cookie, &mut |item| {
            sink(DirEntry {
                meta: meta(item.meta),
                cookie: item.cookie,
            })
        })
        .map_err(error)
    }

    fn symlink(&self, dir: NodeId, name: &str, target: &str, user: &str) -> Result<Meta> {
        ok(Fossil::symlink(self, dir, name, target.as_bytes(), user))
    }

    fn readlink(&self, node: NodeId) -> Result<String> {
        let bytes = Fossil::readlink(self, node).map_err(error)?;
        String::from_utf8(bytes).map_err(|_| Error::BadUtf8)
    }
}
