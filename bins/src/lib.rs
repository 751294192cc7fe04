//! Shared glue for colony's binaries: progress bars, logging, arguments and
//! the live-fossil save loop. Everything else the binaries do lives in the
//! library crates.

pub mod archive_arg;
pub mod control;
pub mod data_dir;
pub mod exit;
pub mod gridorc;
pub mod live_fossil;
pub mod logging;
pub mod node;
pub mod progress;
pub mod seed;
pub mod stop_signal;
pub mod store_args;
