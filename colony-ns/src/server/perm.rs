//! Plan 9 permission checks: owner, group and other bits, where a user's
//! group is the group of the same name (Plan 9's default) and the group
//! leader is that user.

use crate::fs::Meta;

/// Read permission bit (in each of the owner/group/other triples).
pub(crate) const READ: u32 = 4;
/// Write permission bit.
pub(crate) const WRITE: u32 = 2;
/// Execute (search, for directories) permission bit.
pub(crate) const EXEC: u32 = 1;

/// Whether `user` has all of `need` (a combination of READ, WRITE, EXEC).
pub(crate) fn allowed(meta: &Meta, user: &str, need: u32) -> bool {
    let has = |shift: u32| (meta.mode >> shift) & need == need;
    has(0) || (meta.uid == user && has(6)) || (meta.gid == user && has(3))
}

/// Whether `user` owns the file or leads its group: who may change mode,
/// times and group.
pub(crate) fn owner_or_leader(meta: &Meta, user: &str) -> bool {
    meta.uid == user || meta.gid == user
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ninep::Qid;

    fn meta(mode: u32) -> Meta {
        Meta {
            qid: Qid::default(),
            mode,
            atime: 0,
            mtime: 0,
            length: 0,
            name: "f".into(),
            uid: "ann".into(),
            gid: "dev".into(),
            muid: String::new(),
            ..Meta::default()
        }
    }

    #[test]
    fn owner_group_other() {
        let m = meta(0o640);
        assert!(allowed(&m, "ann", READ | WRITE));
        assert!(!allowed(&m, "ann", EXEC));
        assert!(allowed(&m, "dev", READ));
        assert!(!allowed(&m, "dev", WRITE));
        assert!(!allowed(&m, "bob", READ));
        assert!(allowed(&meta(0o604), "bob", READ));
        assert!(
            owner_or_leader(&m, "ann") && owner_or_leader(&m, "dev") && !owner_or_leader(&m, "bob")
        );
    }
}
