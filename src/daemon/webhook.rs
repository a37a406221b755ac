//! Push webhooks (pure): is this request really from the Git host? GitHub and Gitea sign the
//! body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`, `X-Gitea-Signature: <hex>`);
//! GitLab sends the shared token as `X-Gitlab-Token`. Comparisons are constant-time. A
//! delivery id seen within the replay window is not acted on twice.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a delivery id is remembered: longer than any Git host's retry of one delivery.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(600);
/// Delivery ids remembered at most; the oldest go first (bounded memory under a flood).
const MAX_DELIVERIES: usize = 4096;

/// The headers GitHub, Gitea and GitLab put a unique delivery id in.
pub const DELIVERY_HEADERS: [&str; 3] = ["x-github-delivery", "x-gitea-delivery", "x-gitlab-event-uuid"];

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner_hash = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer)
        .chain_update(inner_hash)
        .finalize()
        .into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the headers prove the body came from a host that knows `secret`. An empty secret
/// proves nothing (anyone can compute an HMAC with the empty key), so it verifies nothing.
pub fn verify(secret: &[u8], body: &[u8], header: impl Fn(&str) -> Option<String>) -> bool {
    if secret.is_empty() {
        return false;
    }
    let expected = hex(&hmac_sha256(secret, body));
    if let Some(signature) = header("x-hub-signature-256") {
        return constant_time_eq(
            signature.trim().trim_start_matches("sha256=").as_bytes(),
            expected.as_bytes(),
        );
    }
    if let Some(signature) = header("x-gitea-signature") {
        return constant_time_eq(signature.trim().as_bytes(), expected.as_bytes());
    }
    if let Some(token) = header("x-gitlab-token") {
        return constant_time_eq(token.trim().as_bytes(), secret);
    }
    false
}

/// Delivery ids recently acted on (pure: the caller passes the time).
#[derive(Debug, Default)]
pub struct Deliveries {
    seen: BTreeMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl Deliveries {
    /// `true` the first time an id is seen within the window; `false` for a replay.
    pub fn first_time(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, old)) = self.order.front() {
            if now.duration_since(*at) < REPLAY_WINDOW && self.order.len() < MAX_DELIVERIES {
                break;
            }
            if self.seen.get(old) == Some(at) {
                self.seen.remove(old);
            }
            self.order.pop_front();
        }
        if self.seen.contains_key(id) {
            return false;
        }
        self.seen.insert(id.to_string(), now);
        self.order.push_back((now, id.to_string()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", hex(&hmac_sha256(b"s3cret", body)));
        assert!(verify(b"s3cret", body, |h| (h == "x-hub-signature-256")
            .then(|| good.clone())));
        assert!(!verify(b"s3cret", b"tampered", |h| (h == "x-hub-signature-256")
            .then(|| good.clone())));
        assert!(verify(b"s3cret", body, |h| (h == "x-gitlab-token")
            .then(|| "s3cret".to_string())));
        assert!(!verify(b"s3cret", body, |h| (h == "x-gitlab-token")
            .then(|| "nope".to_string())));
        assert!(!verify(b"s3cret", body, |_| None), "unsigned is refused");
    }

    #[test]
    fn an_empty_secret_verifies_nothing() {
        let body = b"{}";
        let forged = format!("sha256={}", hex(&hmac_sha256(b"", body)));
        assert!(!verify(b"", body, |h| (h == "x-hub-signature-256")
            .then(|| forged.clone())));
        assert!(!verify(b"", body, |h| (h == "x-gitlab-token").then(String::new)));
    }

    #[test]
    fn a_replayed_delivery_is_refused_within_the_window() {
        let mut deliveries = Deliveries::default();
        let t0 = Instant::now();
        assert!(deliveries.first_time("a", t0));
        assert!(!deliveries.first_time("a", t0 + Duration::from_secs(1)), "replay");
        assert!(deliveries.first_time("b", t0 + Duration::from_secs(2)));
        assert!(
            deliveries.first_time("a", t0 + REPLAY_WINDOW + Duration::from_secs(1)),
            "forgotten after the window"
        );
        for i in 0..(MAX_DELIVERIES * 2) {
            deliveries.first_time(&i.to_string(), t0 + REPLAY_WINDOW * 2);
        }
        assert!(deliveries.seen.len() <= MAX_DELIVERIES, "bounded");
    }
}
