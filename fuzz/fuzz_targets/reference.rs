//! The image reference grammar: any string gives a reference or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let _ = pullsync::image::reference::parse_normalized(data);
});
