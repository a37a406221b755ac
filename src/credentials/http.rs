//! The HTTP client and encodings of the token exchanges (ECR, STS, GCP, Entra ID, ACR):
//! bounded in time and never following a redirect, so a request carrying a signature or a
//! client secret goes only where it was addressed.

use std::time::Duration;

use super::exchange_error::ExchangeError;

/// Sent with every exchange, as on the Kubernetes calls: the cloud's audit trail (CloudTrail's
/// `userAgent`, Entra sign-in logs) then names the tool that asked.
pub const USER_AGENT: &str = concat!("pullsync/", env!("CARGO_PKG_VERSION"));

pub fn client() -> Result<reqwest::Client, ExchangeError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ExchangeError::Client)
}

/// An `application/x-www-form-urlencoded` body (the WHATWG URL standard's serializer).
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Percent-encode one path segment or query value: RFC 3986 unreserved characters pass, every
/// other byte is `%XX`. Not the form serializer: that writes a space as `+`, which a path
/// segment keeps literally.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoding() {
        assert_eq!(
            super::encode("arn:aws:iam::1:role/x y"),
            "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx%20y"
        );
    }

    #[test]
    fn form_bodies_escape_separators_in_values() {
        // A secret holding `&` or `=` must not split into another field.
        assert_eq!(
            super::form(&[("client_secret", "a&b=c d+"), ("scope", "x/.default")]),
            "client_secret=a%26b%3Dc+d%2B&scope=x%2F.default"
        );
    }
}
