//! Import and export of a spawngrid `scorenames` file (Plan 9 ndb).
//!
//! The original grid's `savesnap` appended
//! `scorename=NAME rootscore=vac:SCORE user=USER` and a blank line per
//! name; `scorecopy` merged the files of two nodes by set union. Each
//! entry must hold exactly one `scorename`, `rootscore` (`vac:` and 40
//! hex digits) and `user`. colony writes three more attributes when they
//! apply, and reads them back, so an export re-imports to the same
//! records: `created=SECONDS` (Unix time of minting), and for an invite
//! `invitedby=USER invitefrom=NAME`. Other attributes are ignored, as
//! ndb/query ignores attributes it is not asked for.
//!
//! Minting node of imported names: a Plan 9 name (`clean.fraspasto`,
//! `mywork.211`) has no `@node`, so it imports as a name of no node
//! (`NameRecord::minted_by` is `None`) with no creation time. Not the
//! importing node: then two nodes importing the same old grid would hold
//! different records for one name and refuse each other's merges.

use colony_venti::Score;

use crate::error::{Error, Result};
use crate::names::{Invite, Name, NameRecord};
use crate::ndb::{self, Entry, Tuple};
use crate::user::UserName;

/// Parses a scorenames file into records, in file order.
pub fn import(input: &[u8]) -> Result<Vec<NameRecord>> {
    ndb::parse(input)?.iter().map(record).collect()
}

fn record(e: &Entry) -> Result<NameRecord> {
    let bad = |reason: String| Error::Ndb {
        line: e.line,
        reason,
    };
    let one = |attr: &'static str| -> Result<Option<&str>> {
        match e.values(attr).collect::<Vec<_>>()[..] {
            [] => Ok(None),
            [v] => Ok(Some(v)),
            _ => Err(bad(format!("{attr} given twice"))),
        }
    };
    let need = |attr: &'static str| one(attr)?.ok_or_else(|| bad(format!("entry has no {attr}")));
    let with_line = |err: Error| bad(err.to_string());
    let name = Name::parse(need("scorename")?).map_err(with_line)?;
    let score = Score::parse_labelled(need("rootscore")?, "vac").map_err(|e| bad(e.to_string()))?;
    let owner = UserName::new(need("user")?).map_err(with_line)?;
    let created = one("created")?
        .map(|t| {
            t.parse::<u64>()
                .map_err(|_| bad(format!("created={t:?} is not a number of seconds")))
        })
        .transpose()?;
    let invite = match (one("invitedby")?, one("invitefrom")?) {
        (None, None) => None,
        (Some(by), Some(from)) => Some(Invite {
            by: UserName::new(by).map_err(with_line)?,
            from: Name::parse(from).map_err(with_line)?,
        }),
        _ => return Err(bad("invitedby and invitefrom come together".into())),
    };
    Ok(NameRecord {
        name,
        score,
        owner,
        created,
        invite,
    })
}

/// The ndb entry for one record.
pub fn entry(r: &NameRecord) -> Entry {
    let mut tuples = vec![
        Tuple::new("scorename", r.name.as_str()),
        Tuple::new("rootscore", &r.score.labelled("vac")),
        Tuple::new("user", r.owner.as_str()),
    ];
    if let Some(t) = r.created {
        tuples.push(Tuple::new("created", &t.to_string()));
    }
    if let Some(i) = &r.invite {
        tuples.push(Tuple::new("invitedby", i.by.as_str()));
        tuples.push(Tuple::new("invitefrom", i.from.as_str()));
    }
    Entry { line: 0, tuples }
}

/// Writes records as a scorenames file: one line and a blank line each.
pub fn export(records: &[NameRecord]) -> String {
    let entries: Vec<Entry> = records.iter().map(entry).collect();
    // Every attribute and value here is from a checked grammar: no white
    // space, no newline, never empty attributes.
    ndb::encode(&entries).expect("scorename records are always writable ndb")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::record::tests::record as any_record;
    use proptest::prelude::*;

    const SPAWNGRID: &str = "scorename=clean.fraspasto rootscore=vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35 user=glenda

scorename=mywork.211 rootscore=vac:4a9c0000000000000000000000000000000000ff user=rabbit

scorename=myworkbob.311 rootscore=vac:4a9c0000000000000000000000000000000000fe user=bob

";

    #[test]
    fn reads_the_spawngrid_format() {
        let rs = import(SPAWNGRID.as_bytes()).unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[0].name.as_str(), "clean.fraspasto");
        assert_eq!(rs[0].minted_by(), None);
        assert_eq!(
            rs[0].score.to_string(),
            "16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35"
        );
        assert_eq!(rs[0].owner.as_str(), "glenda");
        assert_eq!(rs[0].created, None);
        // The export is byte-identical to what savesnap wrote.
        assert_eq!(export(&rs), SPAWNGRID);
    }

    #[test]
    fn any_attribute_order_extras_and_continuations() {
        let text = "# scorenames\nuser=bob\textra=1\n\trootscore=vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35 # the root\n  scorename='x@node1' created=7 invitedby=alice invitefrom=w@node1\n";
        let r = &import(text.as_bytes()).unwrap()[0];
        assert_eq!(r.name.as_str(), "x@node1");
        assert_eq!(r.created, Some(7));
        assert_eq!(r.invite.as_ref().unwrap().by.as_str(), "alice");
    }

    #[test]
    fn precise_errors() {
        let score = "rootscore=vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35";
        let cases = [
            (format!("scorename=a {score}\n"), "entry has no user"),
            (format!("user=bob {score}\n"), "entry has no scorename"),
            (
                "scorename=a user=bob rootscore=16ff\n".to_string(),
                "bad score",
            ),
            (format!("scorename=a {score} user=Bob\n"), "bad user name"),
            (format!("scorename=a/b {score} user=bob\n"), "bad scorename"),
            (
                format!("scorename=a scorename=b {score} user=bob\n"),
                "scorename given twice",
            ),
            (
                format!("scorename=a {score} user=bob created=soon\n"),
                "not a number",
            ),
            (
                format!("scorename=a {score} user=bob invitedby=x\n"),
                "come together",
            ),
        ];
        for (text, want) in cases {
            let text = format!("scorename=ok {score} user=bob\n\n{text}");
            match import(text.as_bytes()) {
                Err(Error::Ndb { line: 3, reason }) => assert!(reason.contains(want), "{reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(records in prop::collection::vec(any_record(), 0..8)) {
            prop_assert_eq!(import(export(&records).as_bytes()).unwrap(), records);
        }
    }
}
