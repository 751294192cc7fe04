//! File contents: writes at any offset (holes read as zeros) and length
//! changes.

use crate::error::{Error, Result};
use crate::fossil::{Fossil, NodeId, now};
use crate::mode;

impl Fossil {
    /// Writes `data` at `offset` (at the end for append-only files),
    /// extending with zeros as needed; sets mtime, the last modifier and
    /// bumps the qid version. Returns the bytes written.
    pub fn write(&self, node: NodeId, offset: u64, data: &[u8], user: &str) -> Result<u32> {
        let count = u32::try_from(data.len())
            .map_err(|_| Error::Unrepresentable(format!("write of {} bytes", data.len())))?;
        {
            let _g = self.gate.read().unwrap_or_else(|p| p.into_inner());
            // A removed node here is one kept for its holders
            // (`keep_removed`): writable, its data saved nowhere.
            let n = self.node(node)?;
            let mut st = n.write();
            if st.is_dir() {
                return Err(Error::IsDir);
            }
            let at = if st.de.mode & mode::APPEND != 0 {
                st.data.size()
            } else {
                offset
            };
            st.data.write(at, data)?;
            st.touch(Some(user), now());
            drop(st);
            self.mark_dirty(node);
            self.after_change()?;
        }
        Ok(count)
    }

    /// Sets a file's length (truncating, or extending with zeros): a
    /// [`Fossil::wstat`] of the length alone.
    pub fn truncate(&self, node: NodeId, length: u64, user: &str) -> Result<()> {
        let change = crate::fossil::SetMeta {
            length: Some(length),
            ..Default::default()
        };
        self.wstat(node, &change, user).map(|_| ())
    }
}
