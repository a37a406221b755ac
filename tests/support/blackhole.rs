//! A loopback endpoint that accepts connections and never answers: a stuck load balancer, a
//! proxy that lost its upstream, a source that hangs. No real server here can be told to hang
//! per connection and count what it holds, so this one is written for the fault. It counts the
//! connections it accepted and the most it held open at once.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Blackhole {
    /// `127.0.0.1:PORT`.
    pub host: String,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
    stop: AtomicBool,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                shared.max_open.fetch_max(open, Ordering::SeqCst);
                let counts = shared.clone();
                // Read (and drop) whatever the client sends until it hangs up; answer nothing.
                std::thread::spawn(move || {
                    let mut sink = [0u8; 4096];
                    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                    counts.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Blackhole { host, counts }
    }

    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections held now (clients that have not hung up).
    pub fn open(&self) -> usize {
        self.counts.open.load(Ordering::SeqCst)
    }

    /// The most connections held open at the same moment.
    pub fn max_open(&self) -> usize {
        self.counts.max_open.load(Ordering::SeqCst)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.counts.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(&self.host);
    }
}
