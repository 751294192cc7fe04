//! Score text parsing never panics, and what parses prints back the same.
#![no_main]
use colony_venti::Score;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(score) = text.parse::<Score>()
    {
        assert_eq!(score.to_string().parse::<Score>().unwrap(), score);
    }
});
