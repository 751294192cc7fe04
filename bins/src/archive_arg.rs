//! How commands name an archive: `vac:SCORE`, a bare score, or a .vac file
//! holding the `vac:` line.

use std::path::Path;

use anyhow::Context;
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
