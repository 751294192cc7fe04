//! gridorc's loop: connect, print the menu, read a line, send it, print
//! the answer (which only this user sees). `attach`, `shells`, `help` and
//! `exit` are handled here; everything else goes to the grid server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use colony_core::rpc::{GridClient, MENU, Request, Response};
use colony_ns::session::ExitStatus;
use rustyline::config::Config;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Editor};

use super::ConnectArgs;
use super::attach;
use super::complete::{GridHelper, Names};
use super::shells::{self, AttachArgs};

/// The line printed under the original menu for what it lacked.
pub const MORE: &str = "spawndisk scorename | attach scorename [--shell label [--kill]] [command] | shells scorename | help | exit";

/// A connected gridorc.
pub struct Gridorc {
    args: ConnectArgs,
    client: GridClient,
    runtime: tokio::runtime::Runtime,
    names: Names,
}

/// What one line did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It worked (and printed its answer).
    Done,
    /// It failed (and printed why on standard error).
    Failed,
    /// The user asked to leave.
    Exit,
}

impl Gridorc {
    /// Connects as the user of `args.cred`.
    pub fn connect(args: ConnectArgs) -> anyhow::Result<Gridorc> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let client = runtime.block_on(GridClient::connect(&args.cred, &args.addr))?;
        Ok(Gridorc {
            args,
            client,
            runtime,
            names: Names::default(),
        })
    }

    /// Runs one command line, printing its answer.
    pub fn execute(&mut self, line: &str) -> Outcome {
        let words: Vec<&str> = line.split_whitespace().collect();
        let result = match words.as_slice() {
            [] => return Outcome::Done,
            ["exit" | "quit"] => return Outcome::Exit,
            ["help"] => {
                println!("{MENU}\n{MORE}");
                Ok(true)
            }
            ["attach", words @ ..] => self.attach(words),
            ["shells", name] => self.shells(name),
            ["shells", ..] => Err(anyhow::anyhow!("usage: shells SCORENAME")),
            _ => self.request(line),
        };
        match result {
            Ok(true) => Outcome::Done,
            Ok(false) => Outcome::Failed,
            Err(e) => {
                eprintln!("{e:#}");
                Outcome::Failed
            }
        }
    }

    /// Sends a grid command; `Ok(false)` when the server refused it.
    fn request(&mut self, line: &str) -> anyhow::Result<bool> {
        let request = Request::parse(line)?;
        let mut response = self.runtime.block_on(self.client.call(&request))?;
        match &mut response {
            Response::Error(msg) => {
                eprintln!("{msg}");
                return Ok(false);
            }
            // The exact command for this user and server, not just the
            // server's `gridorc attach NAME`.
            Response::Spawned(env) => env.attach = self.attach_command(&env.name),
            _ => {}
        }
        println!("{response}");
        Ok(true)
    }

    /// The gridorc command line that attaches this user to `name`.
    fn attach_command(&self, name: &str) -> String {
        format!(
            "gridorc --cred {} --addr {} attach {name}",
            shell_word(&self.args.cred.to_string_lossy()),
            shell_word(&self.args.addr)
        )
    }

    fn attach(&mut self, words: &[&str]) -> anyhow::Result<bool> {
        Ok(self.attach_status(words)?.success())
    }

    /// `attach NAME [--shell LABEL [--kill]] [COMMAND...]` (the words
    /// after `attach`): runs COMMAND (or the shell) in the running
    /// environment NAME with this process's standard streams, or attaches
    /// them to its named shell LABEL, or ends that; returns how it ended.
    pub fn attach_status<S: AsRef<str>>(&mut self, words: &[S]) -> anyhow::Result<ExitStatus> {
        let args = AttachArgs::parse(words)?;
        let cred = self.args.cred.clone();
        self.runtime.block_on(async {
            let env = attach::find_env(&mut self.client, &args.name).await?;
            let target = attach::target(&cred, &env.cpu_addr)?;
            match (&args.shell, args.kill) {
                (None, _) => attach::run(&target, &args.command).await,
                (Some(label), false) => {
                    shells::attach(&target, &args.name, label, &args.command).await
                }
                (Some(label), true) => shells::kill(&target, &args.name, label)
                    .await
                    .map(|()| ExitStatus::Code(0)),
            }
        })
    }

    /// `shells NAME`: prints the environment's named shells.
    fn shells(&mut self, name: &str) -> anyhow::Result<bool> {
        let cred = self.args.cred.clone();
        let listing = self.runtime.block_on(async {
            let env = attach::find_env(&mut self.client, name).await?;
            shells::list(&attach::target(&cred, &env.cpu_addr)?, name).await
        })?;
        print!("{listing}");
        Ok(true)
    }

    /// Refreshes the names completion offers: the user's scorenames and
    /// running environments.
    fn refresh_names(&mut self) {
        let found: colony_core::Result<Vec<String>> = self.runtime.block_on(async {
            let mut names: Vec<String> = self
                .client
                .scores(None)
                .await?
                .into_iter()
                .map(|n| n.name)
                .collect();
            names.extend(self.client.status().await?.into_iter().map(|e| e.name));
            Ok(names)
        });
        if let (Ok(found), Ok(mut names)) = (found, self.names.lock()) {
            *names = found;
        }
    }

    /// The interactive loop, with history kept in `history`.
    pub fn interactive(mut self, history: Option<PathBuf>) -> anyhow::Result<ExitCode> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(true)
            .max_history_size(10_000)?
            .build();
        let mut editor: Editor<GridHelper, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(GridHelper {
            names: self.names.clone(),
        }));
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).ok();
            }
            // A missing history file is the first run, not an error.
            let _ = editor.load_history(path);
        }
        println!("{MENU}\n{MORE}");
        self.refresh_names();
        loop {
            match editor.readline("grid: ") {
                Ok(line) => {
                    if self.execute(&line) == Outcome::Exit {
                        break;
                    }
                    self.refresh_names();
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(path) = &history {
            editor
                .save_history(path)
                .with_context(|| format!("saving history to {}", path.display()))?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The default history file: `$XDG_STATE_HOME/colony/gridorc_history`,
/// else `~/.local/state/colony/gridorc_history`.
pub fn default_history() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("colony/gridorc_history"))
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+@=,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_word("/var/lib/colony/users/a.cred"),
            "/var/lib/colony/users/a.cred"
        );
        assert_eq!(shell_word("[::1]:16999"), "'[::1]:16999'");
        assert_eq!(shell_word("my creds/a b"), "'my creds/a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
