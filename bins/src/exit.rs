//! How the binaries end.

use std::process::ExitCode;

/// The exit code a command chose, or, when it failed, `PROGRAM: error:
/// causes…` on stderr and failure.
pub fn exit_code(program: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("{program}: {e:#}");
        ExitCode::FAILURE
    })
}
