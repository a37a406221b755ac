//! The spec loader: any file text gives objects and diagnostics, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let _ = pullsync::spec::load::load_str(std::path::Path::new("specs.yaml"), data);
});
