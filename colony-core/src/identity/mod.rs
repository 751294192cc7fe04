//! Identity (in progress).
