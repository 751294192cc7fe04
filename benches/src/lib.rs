//! Benchmarks and measurement helpers for colony. The benchmarks live in
//! `benches/`; this library holds what they share.

pub mod figures;
pub mod file_tree;
pub mod fuse_requests;
pub mod node;
pub mod user;
pub mod venti_wire;

/// `n` pseudo-random bytes from `seed` (xorshift; fast, reproducible, and
/// incompressible enough to defeat LZ4).
pub fn random_block(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}
