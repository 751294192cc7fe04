//! Owner and group names (what the file system stores) to Unix numbers
//! (what the kernel shows) and back.
//!
//! The rule, per table (users from `/etc/passwd`, groups from `/etc/group`,
//! read once when the file system is mounted):
//! * a name listed in the table maps to its number;
//! * a name of decimal digits maps to that number, so ids without a name
//!   round-trip (`chown 4321` stores "4321");
//! * any other name (a Plan 9 user such as "glenda") maps to the table's
//!   `nobody`/`nogroup` id, or 65534 if it has none;
//! * a number maps back to its name in the table, else to its decimal text.

use std::collections::HashMap;

use crate::IdRange;
use std::path::Path;

/// The id of an unknown name when the table has no `nobody` (Linux's
/// overflow uid/gid).
pub const UNKNOWN_ID: u32 = 65534;

/// One direction-pair table: names <-> numbers.
#[derive(Debug, Clone, Default)]
pub struct IdTable {
    by_name: HashMap<String, u32>,
    by_id: HashMap<u32, String>,
    unknown: u32,
}

impl IdTable {
    /// Parses `name:x:id:...` lines (passwd and group share the first three
    /// fields); the first name of an id wins when several share it.
    /// `nobody` names the entry unknown names map to.
    pub fn parse(text: &str, nobody: &str) -> Self {
        let mut t = IdTable {
            unknown: UNKNOWN_ID,
            ..Self::default()
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(id) = id.trim().parse::<u32>() else {
                continue;
            };
            // An all-digit name would shadow the numeric rule (useradd
            // refuses them too).
            if name.is_empty()
                || name.starts_with('#')
                || is_number(name)
                || t.by_name.contains_key(name)
            {
                continue;
            }
            t.by_name.insert(name.to_owned(), id);
            t.by_id.entry(id).or_insert_with(|| name.to_owned());
        }
        if let Some(&id) = t.by_name.get(nobody) {
            t.unknown = id;
        }
        t
    }

    /// Reads and parses a table file; a missing or unreadable file gives an
    /// empty table (every name then maps by the numeric or unknown rule).
    pub fn load(path: &Path, nobody: &str) -> Self {
        Self::parse(&std::fs::read_to_string(path).unwrap_or_default(), nobody)
    }

    /// The number shown for a stored name.
    pub fn id(&self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        is_number(name)
            .then(|| name.parse().ok())
            .flatten()
            .unwrap_or(self.unknown)
    }

    /// The name stored for a number.
    pub fn name(&self, id: u32) -> String {
        self.by_id
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

fn is_number(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// The user and group tables of a mount, and the host id range its
/// numbers are shifted into when it is a user namespace's root.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    /// Users, from `/etc/passwd`.
    pub users: IdTable,
    /// Groups, from `/etc/group`.
    pub groups: IdTable,
    /// The user namespace's ids on the host: stored owners show shifted
    /// into it (so the kernel maps them back to the stored numbers inside)
    /// and ids the namespace sets are stored shifted back.
    pub range: Option<IdRange>,
}

impl IdMap {
    /// The system's tables, as they are now, unshifted.
    pub fn system() -> Self {
        IdMap {
            users: IdTable::load(Path::new("/etc/passwd"), "nobody"),
            groups: IdTable::load(Path::new("/etc/group"), "nogroup"),
            range: None,
        }
    }

    /// The host uid `stat` shows for a stored owner.
    pub fn uid(&self, name: &str) -> u32 {
        self.to_host(self.users.id(name))
    }

    /// The host gid `stat` shows for a stored group.
    pub fn gid(&self, name: &str) -> u32 {
        self.to_host(self.groups.id(name))
    }

    /// The host uid `stat` shows for a file: its numeric owner, where
    /// recorded, else its owner's name mapped.
    pub fn uid_of(&self, meta: &crate::fs::Meta) -> u32 {
        meta.uid_number
            .map_or_else(|| self.uid(&meta.uid), |u| self.to_host(u))
    }

    /// The host gid `stat` shows for a file, as [`IdMap::uid_of`].
    pub fn gid_of(&self, meta: &crate::fs::Meta) -> u32 {
        meta.gid_number
            .map_or_else(|| self.gid(&meta.gid), |g| self.to_host(g))
    }

    /// The owner stored for a host uid (of a request, or a `chown`).
    pub fn user_name(&self, host_uid: u32) -> String {
        self.users.name(self.to_inner(host_uid))
    }

    /// The group stored for a host gid.
    pub fn group_name(&self, host_gid: u32) -> String {
        self.groups.name(self.to_inner(host_gid))
    }

    /// A stored id as the host sees it.
    pub fn to_host(&self, id: u32) -> u32 {
        self.range.map_or(id, |r| r.to_host(id))
    }

    /// A host id as stored.
    pub fn to_inner(&self, id: u32) -> u32 {
        self.range.map_or(id, |r| r.to_inner(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          # comment\n\
                          daemon:x:1:1::/:/bin/false\n\
                          toor:x:0:0::/:/bin/sh\n\
                          broken line\n\
                          123:x:5:5::/:/bin/sh\n\
                          nobody:x:65000:65000::/:/bin/false\n";

    #[test]
    fn a_range_shifts_what_stat_shows_and_what_is_stored_back() {
        let ids = IdMap {
            users: IdTable::parse(PASSWD, "nobody"),
            groups: IdTable::parse("root:x:0:\nstaff:x:50:\n", "nogroup"),
            range: Some(IdRange::new(1 << 20, 65536)),
        };
        assert_eq!(ids.uid("root"), 1 << 20);
        assert_eq!(ids.uid("4242"), (1 << 20) + 4242);
        assert_eq!(ids.gid("staff"), (1 << 20) + 50);
        assert_eq!(ids.user_name((1 << 20) + 1), "daemon");
        assert_eq!(ids.user_name((1 << 20) + 4242), "4242");
        assert_eq!(ids.group_name(1 << 20), "root");
        // A stored id beyond the range shows as nobody inside it, never as
        // another range's id; a host id outside it stores as nobody.
        assert_eq!(ids.uid("100000"), (1 << 20) + crate::OVERFLOW_ID);
        assert_eq!(ids.user_name(4242), "65534");
        assert_eq!(ids.user_name(0), "root", "host root is root inside");
    }

    #[test]
    fn names_numbers_and_unknowns() {
        let t = IdTable::parse(PASSWD, "nobody");
        assert_eq!(t.id("root"), 0);
        assert_eq!(t.id("toor"), 0);
        assert_eq!(t.name(0), "root");
        assert_eq!(t.id("daemon"), 1);
        assert_eq!(t.id("4321"), 4321);
        assert_eq!(t.id("123"), 123);
        assert_eq!(t.name(5), "5");
        assert_eq!(t.name(4321), "4321");
        assert_eq!(t.id("glenda"), 65000);
        assert_eq!(t.id(""), 65000);
        assert_eq!(t.id("99999999999"), 65000);
        let bare = IdTable::parse("", "nobody");
        assert_eq!(bare.id("glenda"), UNKNOWN_ID);
    }
}
