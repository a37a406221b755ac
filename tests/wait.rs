//! `pullsync wait` against a hand-written HTTP/1.1 server that sends its /status body chunked
//! and split mid-character, as a real proxy may: the client must reassemble it, not panic.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Serve one /status response per connection in many small writes; returns the URL.
fn serve(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/status", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let bytes = body.as_bytes();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
            // Chunks of 3 bytes: multi-byte characters are cut in the middle.
            for piece in bytes.chunks(3) {
                let _ = stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes());
                let _ = stream.write_all(piece);
                let _ = stream.write_all(b"\r\n");
                let _ = stream.flush();
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = stream.write_all(b"0\r\n\r\n");
        }
    });
    url
}

#[test]
fn a_chunked_status_split_inside_a_character_is_read_whole() {
    let status = serde_json::json!({
        "applied": [{"revision": "abc123", "namespaces": ["équipe-ü"], "complete": true}],
        "rejected": [],
        "diagnostics": ["spécifications: ✓ — ünïcödé everywhere"],
    });
    let url = serve(status.to_string());
    let run = support::pullsync(
        &[
            "wait",
            "--revision",
            "abc123",
            "--namespace",
            "équipe-ü",
            "--status-url",
            &url,
            "--timeout",
            "10s",
        ],
        None,
        None,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("revision abc123 is applied"),
        "{}",
        run.stdout
    );
}
