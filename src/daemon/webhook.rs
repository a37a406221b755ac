//! Push webhooks (pure): is this request really from the Git host? GitHub and Gitea sign the
//! body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`, `X-Gitea-Signature: <hex>`);
//! GitLab sends the shared token as `X-Gitlab-Token`. Comparisons are constant-time; the MAC
//! is ring's (the same crate that signs SigV4 and the content hash), not a second HMAC. A
//! delivery id seen within the replay window is not acted on twice.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ring::hmac;

/// How long a delivery id is remembered: longer than any Git host's retry of one delivery.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(600);
/// Delivery ids remembered at most; the oldest go first (bounded memory under a flood).
const MAX_DELIVERIES: usize = 4096;

/// The headers GitHub, Gitea and GitLab put a unique delivery id in.
pub const DELIVERY_HEADERS: [&str; 3] = ["x-github-delivery", "x-gitea-delivery", "x-gitlab-event-uuid"];

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `hex_signature` is the HMAC-SHA256 of `body` under `secret`. ring compares the
/// tags in constant time; a signature that is not hex of the right length fails first.
fn signature_matches(secret: &[u8], body: &[u8], hex_signature: &str) -> bool {
    let Some(tag) = crate::value::hex::decode(hex_signature.trim()).filter(|t| t.len() == 32) else {
        return false;
    };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), body, &tag).is_ok()
}

/// Whether the headers prove the body came from a host that knows `secret`. An empty secret
/// proves nothing (anyone can compute an HMAC with the empty key), so it verifies nothing.
pub fn verify(secret: &[u8], body: &[u8], header: impl Fn(&str) -> Option<String>) -> bool {
    if secret.is_empty() {
        return false;
    }
    if let Some(signature) = header("x-hub-signature-256") {
        return signature_matches(secret, body, signature.trim().trim_start_matches("sha256="));
    }
    if let Some(signature) = header("x-gitea-signature") {
        return signature_matches(secret, body, &signature);
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

    use crate::value::hex;

    fn sign(key: &[u8], body: &[u8]) -> String {
        hex::lower(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), body).as_ref())
    }

    #[test]
    fn rfc_4231_vectors_verify_including_a_key_longer_than_the_block() {
        // RFC 4231 test case 2: key "Jefe".
        assert!(signature_matches(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        // Test case 6: a 131-byte key, hashed first (the branch a hand-written HMAC gets wrong).
        assert!(signature_matches(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ));
        assert!(!signature_matches(
            &[0xaa; 131],
            b"other",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ));
        assert!(
            !signature_matches(b"Jefe", b"x", "not hex"),
            "garbage is refused, not a panic"
        );
        assert!(
            !signature_matches(b"Jefe", b"x", &"\u{e9}".repeat(32)),
            "non-ASCII is refused, not a panic"
        );
    }

    #[test]
    fn a_gitea_signature_verifies() {
        let body = b"{}";
        let good = sign(b"s3cret", body);
        assert!(verify(b"s3cret", body, |h| (h == "x-gitea-signature")
            .then(|| good.clone())));
        assert!(!verify(b"other", body, |h| (h == "x-gitea-signature")
            .then(|| good.clone())));
    }

    #[test]
    fn signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", sign(b"s3cret", body));
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
        let forged = format!("sha256={}", sign(b"", body));
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
