//! Shared glue for colony's binaries: progress bars and logging. Everything
//! else the binaries do lives in the library crates.

pub mod archive_arg;
pub mod logging;
pub mod progress;
pub mod store_args;
