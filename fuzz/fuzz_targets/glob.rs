//! The registry-key glob: any pattern against any host label finishes without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let (pattern, name) = data.split_once('\n').unwrap_or((data, ""));
    let _ = pullsync::image::glob::glob_match(pattern, name);
});
