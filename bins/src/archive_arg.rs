//! How commands name an archive: `vac:SCORE`, a bare score, a .vac file
//! holding the `vac:` line, or a scorename of the data directory.

use std::path::Path;

use anyhow::{Context, anyhow};
use colony_core::{Name, ScoreNames};
use colony_venti::Score;

/// A score given as text, or the name of a .vac file holding one.
pub fn archive_score(arg: &str) -> anyhow::Result<Score> {
    if let Ok(score) = arg.parse() {
        return Ok(score);
    }
    let text = std::fs::read_to_string(Path::new(arg))
        .with_context(|| format!("{arg} is neither a score nor a readable .vac file"))?;
    Ok(Score::parse_labelled(text.trim(), "vac")?)
}

/// The root score `arg` names: a score or a .vac file as for
/// [`archive_score`] (a file of that name wins over a scorename), else a
/// scorename (`label@node`, or an imported `label`) looked up in the
/// scorenames of the data directory `data`, which a name requires.
pub fn resolve_archive(arg: &str, data: Option<&Path>) -> anyhow::Result<Score> {
    if arg.parse::<Score>().is_ok() || Path::new(arg).is_file() {
        return archive_score(arg);
    }
    let name = Name::parse(arg).map_err(|e| {
        anyhow!("{arg} is neither a score, a readable .vac file, nor a scorename ({e})")
    })?;
    let data = data.ok_or_else(|| {
        anyhow!("{arg} is a scorename: say whose with --data DIR (names live in a data directory)")
    })?;
    let names = ScoreNames::open(data)
        .with_context(|| format!("opening the scorenames of {}", data.display()))?;
    let record = names
        .get(&name)
        .with_context(|| format!("looking up {name} in {}", data.display()))?
        .ok_or_else(|| anyhow!("no scorename {name} in {}", data.display()))?;
    Ok(record.score)
}
