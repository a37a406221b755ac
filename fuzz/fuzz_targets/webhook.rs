//! The webhook verifier: any body and signature header is accepted or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (signature, body) = data.split_at(data.len().min(80));
    let signature = String::from_utf8_lossy(signature).into_owned();
    let header = |name: &str| (name == "x-hub-signature-256").then(|| signature.clone());
    let _ = pullsync::daemon::webhook::verify(b"fuzz-secret", body, header);
});
