//! `attach NAME --shell LABEL [--kill] [COMMAND...]` and `shells NAME`:
//! named persistent shells in a running environment (issue 16), which
//! outlive the connection: detach with Ctrl-\ (or lose the link), attach
//! again from any terminal and find the recent output.

use std::io::IsTerminal;

use anyhow::{Context, anyhow, bail};
use colony_ns::cpu::RawTerminal;
use colony_ns::cpu::ShellInfo;
use colony_ns::cpu::client::Target;
use colony_ns::cpu::shell_client::{self, AttachedShell, ShellEnd};
use colony_ns::session::{CommandSpec, ExitStatus, WindowSize, window_size};

/// The usage of `attach`.
pub const USAGE: &str = "usage: attach SCORENAME [--shell LABEL [--kill]] [COMMAND...]";

/// A parsed `attach` command line (the words after `attach`).
#[derive(Debug, PartialEq, Eq)]
pub struct AttachArgs {
    /// The environment.
    pub name: String,
    /// The named shell, if any.
    pub shell: Option<String>,
    /// End the named shell instead of attaching.
    pub kill: bool,
    /// What to run (for a named shell: only when it starts).
    pub command: Vec<String>,
}

impl AttachArgs {
    /// Parses `NAME [--shell LABEL [--kill]] [COMMAND...]`; options come
    /// before the command, whose own words are left alone.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> anyhow::Result<AttachArgs> {
        let mut words = words.iter().map(|w| w.as_ref().to_string());
        let name = words.next().ok_or_else(|| anyhow!(USAGE))?;
        let mut args = AttachArgs {
            name,
            shell: None,
            kill: false,
            command: Vec::new(),
        };
        while let Some(word) = words.next() {
            match word.as_str() {
                "--shell" if args.shell.is_none() => {
                    args.shell = Some(words.next().ok_or_else(|| anyhow!(USAGE))?);
                }
                "--kill" if !args.kill => args.kill = true,
                _ => {
                    args.command.push(word);
                    args.command.extend(words.by_ref());
                }
            }
        }
        if args.kill && (args.shell.is_none() || !args.command.is_empty()) {
            bail!("--kill takes --shell LABEL and no command; {USAGE}");
        }
        Ok(args)
    }
}

/// Attaches this process's terminal (or, without one, its standard
/// input and output) to the shell `label` of the environment `name`,
/// starting it with `command` if it is not running; returns how it
/// ended: its status, or success when the user detached.
pub async fn attach(
    target: &Target,
    name: &str,
    label: &str,
    command: &[String],
) -> anyhow::Result<ExitStatus> {
    let command = (!command.is_empty()).then(|| CommandSpec::new(command));
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let terminal = std::io::stdin().is_terminal();
    let size = if terminal {
        window_size(std::os::fd::AsFd::as_fd(&std::io::stdin()))?
    } else {
        WindowSize { rows: 24, cols: 80 }
    };
    let shell = shell_client::attach(target, label, &term, size, command)
        .await
        .with_context(|| format!("cpu listener {}", target.addr))?;
    if shell.started() && shell.restored() {
        eprintln!("gridorc: {}; started a new shell {label}", gone(name));
    }
    let end = if terminal {
        on_terminal(shell).await
    } else {
        shell
            .relay(tokio::io::stdin(), tokio::io::stdout())
            .await
            .map_err(Into::into)
    };
    match end.with_context(|| format!("shell {label} in {name}"))? {
        ShellEnd::Exited(status) => Ok(status),
        ShellEnd::Detached => {
            eprintln!("\r\ngridorc: detached from shell {label}; it runs on in {name}");
            Ok(ExitStatus::Code(0))
        }
    }
}

/// Relays this process's terminal, in raw mode until the end.
async fn on_terminal(shell: AttachedShell) -> anyhow::Result<ShellEnd> {
    let tty = std::os::fd::AsFd::as_fd(&std::io::stdin()).try_clone_to_owned()?;
    let raw = RawTerminal::new(tty)?;
    let end = shell.relay_terminal(&raw).await;
    drop(raw);
    Ok(end?)
}

/// Ends the shell `label` of the environment `name`.
pub async fn kill(target: &Target, name: &str, label: &str) -> anyhow::Result<()> {
    shell_client::kill(target, label)
        .await
        .with_context(|| format!("shell {label} in {name}"))
}

/// The `shells NAME` listing of the environment `name`.
pub async fn list(target: &Target, name: &str) -> anyhow::Result<String> {
    let (shells, restored) = shell_client::list(target)
        .await
        .with_context(|| format!("cpu listener {}", target.addr))?;
    Ok(listing(name, &shells, restored))
}

/// One line per shell under a header, tab-separated: label, attached
/// clients, bytes buffered, age, command; a restored environment says
/// its earlier shells are gone.
pub fn listing(name: &str, shells: &[ShellInfo], restored: bool) -> String {
    let mut out = String::new();
    if restored {
        out += &format!("{}\n", gone(name));
    }
    if shells.is_empty() {
        out += &format!("no shells in {name}\n");
        return out;
    }
    out += "label\tclients\tbuffered\tage\tcommand\n";
    for s in shells {
        out += &format!(
            "{}\t{}\t{}\t{}\t{}\n",
            s.label,
            s.clients,
            s.buffered,
            age(s.age_secs),
            s.command.join(" ")
        );
    }
    out
}

/// What a restored environment's user is told.
fn gone(name: &str) -> String {
    format!("{name} was restored when its node started again: shells started before then are gone")
}

/// `1h02m`, `3m05s` or `42s`.
fn age(secs: u64) -> String {
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> anyhow::Result<AttachArgs> {
        AttachArgs::parse(&line.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn attach_lines() {
        let plain = parse("work@n1 ls -l --shell").unwrap();
        assert_eq!(plain.shell, None);
        assert_eq!(plain.command, ["ls", "-l", "--shell"]);
        let shell = parse("work@n1 --shell build make -j2").unwrap();
        assert_eq!(shell.shell.as_deref(), Some("build"));
        assert_eq!(shell.command, ["make", "-j2"]);
        let kill = parse("work@n1 --shell build --kill").unwrap();
        assert!(kill.kill);
        for bad in [
            "",
            "work@n1 --shell",
            "work@n1 --kill",
            "w --shell b --kill ls",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listings() {
        let shells = [ShellInfo {
            label: "build".into(),
            command: vec!["/bin/sh".into(), "-c".into(), "make".into()],
            age_secs: 3725,
            clients: 2,
            buffered: 1234,
        }];
        assert_eq!(
            listing("w@n1", &shells, false),
            "label\tclients\tbuffered\tage\tcommand\nbuild\t2\t1234\t1h02m\t/bin/sh -c make\n"
        );
        assert_eq!(
            listing("w@n1", &[], true),
            "w@n1 was restored when its node started again: shells started before then are gone\n\
             no shells in w@n1\n"
        );
        assert_eq!(age(42), "42s");
        assert_eq!(age(185), "3m05s");
    }
}
