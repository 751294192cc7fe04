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

/// The user and group tables of a mount.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    /// Users, from `/etc/passwd`.
    pub users: IdTable,
    /// Groups, from `/etc/group`.
    pub groups: IdTable,
}

impl IdMap {
    /// The system's tables, as they are now.
    pub fn system() -> Self {
        IdMap {
            users: IdTable::load(Path::new("/etc/passwd"), "nobody"),
            groups: IdTable::load(Path::new("/etc/group"), "nogroup"),
        }
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
