//! Plan 9 ndb(6) files: entries of `attr=value` tuples.
//!
//! The syntax follows 9front's libndb (`ndbparse`, `_ndbparsetuple`):
//!
//! * An entry starts on a line whose first character is neither white
//!   space (space, tab, carriage return) nor `#`. Lines that begin with
//!   white space continue the current entry; so does a line that begins
//!   with `#` (a comment). Any other line, an empty one included, ends the
//!   entry. The spawngrid wrote each record as one line and a blank line.
//! * A line holds tuples separated by white space: `attr=value`, or
//!   `attr` alone (value empty). White space may precede the `=`. The
//!   attribute runs to `=` or white space.
//! * A value runs to white space, or is quoted with `'` or `"` to hold
//!   white space; inside quotes a doubled quote stands for one. A value
//!   that begins with `#` is empty, and `#` where a tuple would start
//!   comments out the rest of the line; `#` inside a value is literal.
//!
//! Deliberate differences, both to avoid losing data silently: a last
//! line without a newline is read (libndb drops it), and attributes are
//! kept whole (libndb cuts them to 31 bytes). The closing quote of a
//! quoted value is consumed before the next tuple.

use crate::error::{Error, Result};

/// One `attr=value` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuple {
    /// The attribute.
    pub attr: String,
    /// The value (empty for a bare attribute).
    pub value: String,
}

/// One entry: its tuples in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number of the entry's first tuple in the parsed text
    /// (0 for an entry built in memory).
    pub line: usize,
    /// The tuples.
    pub tuples: Vec<Tuple>,
}

fn is_white(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r')
}

/// Parses a whole ndb file. The only error is a line that is not UTF-8.
pub fn parse(input: &[u8]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut current: Option<Entry> = None;
    let mut lines: Vec<&[u8]> = input.split(|&c| c == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop(); // the text after the final newline
    }
    for (i, raw) in lines.into_iter().enumerate() {
        let number = i + 1;
        let line = std::str::from_utf8(raw).map_err(|e| Error::Ndb {
            line: number,
            reason: format!("not UTF-8: {e}"),
        })?;
        let starts_entry = raw.first().is_none_or(|&c| !is_white(c) && c != b'#');
        if starts_entry && let Some(done) = current.take() {
            entries.push(done);
        }
        let tuples = parse_line(line);
        if !tuples.is_empty() {
            current
                .get_or_insert_with(|| Entry {
                    line: number,
                    tuples: Vec::new(),
                })
                .tuples
                .extend(tuples);
        }
    }
    entries.extend(current);
    Ok(entries)
}

fn parse_line(line: &str) -> Vec<Tuple> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_white(b[i]) {
            i += 1;
        }
        if i == b.len() || b[i] == b'#' {
            return out;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !is_white(b[i]) {
            i += 1;
        }
        let attr = line[start..i].to_string();
        while i < b.len() && is_white(b[i]) {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            match b.get(i) {
                Some(&q @ (b'\'' | b'"')) => {
                    i += 1;
                    let mut from = i;
                    while i < b.len() {
                        if b[i] == q {
                            value.push_str(&line[from..i]);
                            if b.get(i + 1) == Some(&q) {
                                value.push(q as char);
                                i += 2;
                                from = i;
                                continue;
                            }
                            from = i;
                            break;
                        }
                        i += 1;
                    }
                    if i == b.len() {
                        value.push_str(&line[from..i]); // unterminated: to end of line
                    } else {
                        i += 1; // the closing quote
                    }
                }
                Some(b'#') => {}
                _ => {
                    let start = i;
                    while i < b.len() && !is_white(b[i]) {
                        i += 1;
                    }
                    value = line[start..i].to_string();
                }
            }
        }
        out.push(Tuple { attr, value });
    }
}

impl Tuple {
    /// A tuple from borrowed text.
    pub fn new(attr: &str, value: &str) -> Tuple {
        Tuple {
            attr: attr.to_string(),
            value: value.to_string(),
        }
    }

    fn encode_into(&self, out: &mut String) -> Result<()> {
        let bad = |reason: String| Error::Ndb { line: 0, reason };
        let a = self.attr.as_bytes();
        if a.is_empty() || a[0] == b'#' || a.iter().any(|&c| c == b'=' || c == b'\n' || is_white(c))
        {
            return Err(bad(format!("attribute {:?} cannot be written", self.attr)));
        }
        if self.value.contains('\n') {
            return Err(bad(format!("value of {} holds a newline", self.attr)));
        }
        out.push_str(&self.attr);
        out.push('=');
        let v = self.value.as_bytes();
        let quote =
            v.iter().any(|&c| is_white(c)) || matches!(v.first(), Some(b'#' | b'\'' | b'"'));
        if quote {
            out.push('\'');
            out.push_str(&self.value.replace('\'', "''"));
            out.push('\'');
        } else {
            out.push_str(&self.value);
        }
        Ok(())
    }
}

impl Entry {
    /// The values of every tuple named `attr`, in order.
    pub fn values<'a>(&'a self, attr: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.tuples
            .iter()
            .filter(move |t| t.attr == attr)
            .map(|t| t.value.as_str())
    }

    /// The entry as one line (tuples separated by spaces, values quoted
    /// where they must be), newline included. Refuses an entry without
    /// tuples, an attribute that could not be read back, or a newline in
    /// a value.
    pub fn encode(&self) -> Result<String> {
        let Some((first, rest)) = self.tuples.split_first() else {
            return Err(Error::Ndb {
                line: self.line,
                reason: "an entry needs at least one tuple".into(),
            });
        };
        let mut out = String::new();
        first.encode_into(&mut out)?;
        for t in rest {
            out.push(' ');
            t.encode_into(&mut out)?;
        }
        out.push('\n');
        Ok(out)
    }
}

/// Writes entries the way the spawngrid's `savesnap` did: each entry on
/// one line followed by a blank line.
pub fn encode(entries: &[Entry]) -> Result<String> {
    let mut out = String::new();
    for e in entries {
        out.push_str(&e.encode()?);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tuples(e: &Entry) -> Vec<(&str, &str)> {
        e.tuples
            .iter()
            .map(|t| (t.attr.as_str(), t.value.as_str()))
            .collect()
    }

    #[test]
    fn spawngrid_records() {
        let text = b"scorename=clean.fraspasto rootscore=vac:16ff837b1a70e2e8cad4b85e8dbfd7f13b109a35 user=glenda\n\nscorename=mywork.211 rootscore=vac:0000000000000000000000000000000000000001 user=rabbit\n\n";
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].line, 1);
        assert_eq!(e[1].line, 3);
        assert_eq!(e[1].values("user").collect::<Vec<_>>(), ["rabbit"]);
    }

    #[test]
    fn continuation_comments_and_quotes() {
        let text = "# a comment\nsys=helix dom=helix.example\n\tip=10.0.0.1 # trailing\n# comment inside\n  name='two words' q=\"it''s\" bare  eq =x sp= y v=#gone\nnext=1 w='it''s' u='open\nlast=x";
        let e = parse(text.as_bytes()).unwrap();
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(
            tuples(&e[0]),
            [
                ("sys", "helix"),
                ("dom", "helix.example"),
                ("ip", "10.0.0.1"),
                ("name", "two words"),
                ("q", "it''s"),
                ("bare", ""),
                ("eq", "x"),
                ("sp", ""),
                ("y", ""),
                ("v", ""),
            ]
        );
        assert_eq!(e[0].line, 2);
        assert_eq!(tuples(&e[1]), [("next", "1"), ("w", "it's"), ("u", "open")]);
        assert_eq!(tuples(&e[2]), [("last", "x")]);
    }

    #[test]
    fn blank_line_ends_entry_and_indented_line_may_start_one() {
        let e = parse(b"a=1\n\n\tb=2\n c=3\nd=4\n").unwrap();
        assert_eq!(
            e.iter().map(tuples).collect::<Vec<_>>(),
            [
                vec![("a", "1")],
                vec![("b", "2"), ("c", "3")],
                vec![("d", "4")]
            ]
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse(b"a=1\nb=\xff\n"),
            Err(Error::Ndb { line: 2, .. })
        ));
        for bad in [
            Tuple::new("", "x"),
            Tuple::new("#a", "x"),
            Tuple::new("a b", "x"),
            Tuple::new("a=b", "x"),
            Tuple::new("a", "x\ny"),
        ] {
            let e = Entry {
                line: 0,
                tuples: vec![bad.clone()],
            };
            assert!(matches!(e.encode(), Err(Error::Ndb { .. })), "{bad:?}");
        }
        assert!(
            Entry {
                line: 0,
                tuples: vec![]
            }
            .encode()
            .is_err()
        );
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let attr = "[^=\\s#\\n][^=\\s\\n]{0,8}";
        let value = "[^\\n]{0,12}";
        prop::collection::vec((attr, value), 1..6).prop_map(|ts| Entry {
            line: 0,
            tuples: ts
                .into_iter()
                .map(|(attr, value)| Tuple { attr, value })
                .collect(),
        })
    }

    proptest! {
        #[test]
        fn round_trip(entries in prop::collection::vec(entry(), 0..6)) {
            let text = encode(&entries).unwrap();
            let back = parse(text.as_bytes()).unwrap();
            prop_assert_eq!(back.iter().map(|e| &e.tuples).collect::<Vec<_>>(), entries.iter().map(|e| &e.tuples).collect::<Vec<_>>());
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }
    }
}
