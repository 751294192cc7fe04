//! Completion for gridorc's line editor: the command words first, then
//! scorenames the user owns or runs (as `scores` and `status` last told).

use std::sync::{Arc, Mutex};

use colony_core::rpc::COMMANDS;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// Words gridorc itself handles, beside the grid commands.
pub const LOCAL_COMMANDS: [&str; 4] = ["attach", "shells", "help", "exit"];

/// The names completion offers, shared with the loop that refreshes them.
pub type Names = Arc<Mutex<Vec<String>>>;

/// The start of the word at `pos` and its candidates: command words for
/// the first word; for later words of a command that takes names (not
/// `invite`'s user), the names starting with what is typed.
pub fn candidates(line: &str, pos: usize, names: &[String]) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let prefix = &before[start..];
    let earlier: Vec<&str> = before[..start].split_whitespace().collect();
    let pool: Vec<&str> = match earlier.as_slice() {
        [] => COMMANDS
            .iter()
            .chain(LOCAL_COMMANDS.iter())
            .copied()
            .collect(),
        ["invite"] | ["save", _] | ["scores"] => Vec::new(),
        [cmd, ..] if takes_names(cmd) => names.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let mut found: Vec<String> = pool
        .into_iter()
        .filter(|w| w.starts_with(prefix))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    (start, found)
}

fn takes_names(cmd: &str) -> bool {
    matches!(
        cmd,
        "spawn" | "spawndisk" | "save" | "invite" | "boom" | "attach" | "shells"
    )
}

/// The rustyline helper: completion only.
pub struct GridHelper {
    /// The names to offer.
    pub names: Names,
}

impl Completer for GridHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        Ok(candidates(line, pos, &names))
    }
}

impl Hinter for GridHelper {
    type Hint = String;
}
impl Highlighter for GridHelper {}
impl Validator for GridHelper {}
impl Helper for GridHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_then_names() {
        let names: Vec<String> = ["clean.n1.alice", "work@n1", "wiki@n1"]
            .map(String::from)
            .to_vec();
        let c = |line: &str| candidates(line, line.len(), &names);
        assert_eq!(c("sp"), (0, vec!["spawn".into(), "spawndisk".into()]));
        assert_eq!(c("a"), (0, vec!["attach".into()]));
        assert_eq!(
            c(""),
            (0, {
                let mut all: Vec<String> = COMMANDS
                    .iter()
                    .chain(LOCAL_COMMANDS.iter())
                    .map(|s| s.to_string())
                    .collect();
                all.sort();
                all
            })
        );
        assert_eq!(c("spawn w"), (6, vec!["wiki@n1".into(), "work@n1".into()]));
        assert_eq!(c("boom  cl"), (6, vec!["clean.n1.alice".into()]));
        assert_eq!(c("shells cl"), (7, vec!["clean.n1.alice".into()]));
        assert_eq!(c("save work@n1 "), (13, vec![]));
        assert_eq!(c("invite w"), (7, vec![]));
        assert_eq!(
            c("invite bob w"),
            (11, vec!["wiki@n1".into(), "work@n1".into()])
        );
        assert_eq!(c("status x"), (7, vec![]));
        // Completion inside the line uses only what is before the cursor.
        assert_eq!(
            candidates("spawn wo tail", 8, &names),
            (6, vec!["work@n1".into()])
        );
    }
}
