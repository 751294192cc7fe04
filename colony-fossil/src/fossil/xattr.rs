//! Extended attributes, kept in the file's DirEntry
//! ([`crate::extension`]'s Xattr records).

use crate::error::{Error, Result};
use crate::extension::XattrMode;
use crate::fossil::{Fossil, NodeId, now};

impl Fossil {
    /// The value of `node`'s extended attribute `name` ([`Error::NoAttr`]
    /// if it has none of that name).
    pub fn getxattr(&self, node: NodeId, name: &[u8]) -> Result<Vec<u8>> {
        let n = self.live(node)?;
        let st = n.read();
        st.de.xattr(name).map(<[u8]>::to_vec).ok_or(Error::NoAttr)
    }

    /// The names of `node`'s extended attributes.
    pub fn listxattr(&self, node: NodeId) -> Result<Vec<Vec<u8>>> {
        let n = self.live(node)?;
        let st = n.read();
        Ok(st.de.xattr_names().map(<[u8]>::to_vec).collect())
    }

    /// Sets `node`'s extended attribute `name` ([`XattrMode`]: create,
    /// replace or either); a change of metadata (ctime).
    pub fn setxattr(&self, node: NodeId, name: &[u8], value: &[u8], mode: XattrMode) -> Result<()> {
        self.edit_entry(node, |de| de.set_xattr(name, value, mode))
    }

    /// Removes `node`'s extended attribute `name` ([`Error::NoAttr`] if
    /// it has none of that name).
    pub fn removexattr(&self, node: NodeId, name: &[u8]) -> Result<()> {
        self.edit_entry(node, |de| de.remove_xattr(name))
    }

    /// Applies `edit` to `node`'s DirEntry (nothing changes if it fails),
    /// and records the change.
    fn edit_entry(
        &self,
        node: NodeId,
        edit: impl FnOnce(&mut crate::DirEntry) -> Result<()>,
    ) -> Result<()> {
        let _g = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let n = self.live(node)?;
        let pid = {
            let mut st = n.write();
            if st.removed {
                return Err(Error::NotFound);
            }
            edit(&mut st.de)?;
            st.changed(now());
            st.parent
        };
        self.mark_dirty(node);
        self.mark_dirty(pid);
        Ok(())
    }
}
