//! Progress counts reported to callers of import and export (for a
//! progress bar).

/// Work done so far (or, from `measure`, the total to do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Files and directories handled.
    pub files: u64,
    /// File bytes read (import) or written (export).
    pub bytes: u64,
}
