//! `explain --dockerconfig`: any document gives entries or an error, and a lookup in the
//! resulting keyring never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok((entries, _)) = pullsync::app::explain::parse_config(data, "fuzz") {
        let mut keyring = pullsync::image::keyring::Keyring::default();
        keyring.add(entries);
        let _ = keyring.lookup("docker.io/library/nginx");
    }
});
