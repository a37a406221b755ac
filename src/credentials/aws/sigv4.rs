//! AWS Signature Version 4 (pure): what `GetAuthorizationToken` and friends need, written
//! from the AWS General Reference ("Create a signed AWS API request") rather than pulling in
//! the SDK. Signs the method, path, sorted query, the `host`, `x-amz-date` (and
//! `x-amz-security-token`, `x-amz-target`, `content-type` when present) headers and the
//! payload's SHA-256.

use ring::hmac;
use sha2::{Digest, Sha256};

use crate::value::hex;

/// An AWS identity: long-lived keys, or temporary ones with their session token.
#[derive(Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: secrecy::SecretString,
    pub session_token: Option<secrecy::SecretString>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// One request to sign.
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// Already URI-encoded `key=value` pairs.
    pub query: &'a [(String, String)],
    /// Lower-case name → value; `host` and `x-amz-date` are added.
    pub headers: &'a [(&'a str, String)],
    pub body: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDD'T'HHMMSS'Z'`.
    pub amz_date: &'a str,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// The headers to send: `host`, `x-amz-date`, the session token if any, the caller's, and
/// `authorization`.
pub fn sign(request: &Request<'_>, keys: &AwsKeys) -> Vec<(String, String)> {
    use secrecy::ExposeSecret;
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), request.host.to_string()),
        ("x-amz-date".into(), request.amz_date.to_string()),
    ];
    if let Some(token) = &keys.session_token {
        headers.push(("x-amz-security-token".into(), token.expose_secret().to_string()));
    }
    headers.extend(
        request
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())),
    );
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query = request.query.to_vec();
    query.sort();
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        request.path,
        query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
        headers
            .iter()
            .map(|(k, v)| format!("{k}:{v}\n"))
            .collect::<String>(),
        signed_headers,
        hex::lower(&Sha256::digest(request.body)),
    );
    let date = &request.amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.amz_date,
        hex::lower(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(
        keys.secret_access_key.expose_secret(),
        date,
        request.region,
        request.service,
    );
    let signature = hex::lower(&hmac_sha256(&key, to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            keys.access_key_id
        ),
    ));
    headers
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// `x-amz-date` for a time.
pub fn amz_date(at: std::time::SystemTime) -> String {
    // RFC 3339 without its separators: `20261130T091500Z`.
    crate::time::format(at).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of the AWS General Reference (IAM ListUsers, 2015-08-30); the
    // documented example key, not a credential.
    #[test]
    fn the_documented_example_signs_as_documented() {
        let keys = AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string().into(),
            session_token: None,
        };
        assert_eq!(
            hex::lower(&signing_key(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830",
                "us-east-1",
                "iam"
            )),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let query = [
            ("Action".to_string(), "ListUsers".to_string()),
            ("Version".to_string(), "2010-05-08".to_string()),
        ];
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        )];
        let request = Request {
            method: "GET",
            host: "iam.amazonaws.com",
            path: "/",
            query: &query,
            headers: &headers,
            body: b"",
            region: "us-east-1",
            service: "iam",
            amz_date: "20150830T123600Z",
        };
        let signed = sign(&request, &keys);
        let auth = &signed.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed_and_never_debug_printed() {
        let keys = AwsKeys {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret-canary".to_string().into(),
            session_token: Some("session-canary".to_string().into()),
        };
        let request = Request {
            method: "POST",
            host: "api.ecr.us-east-1.amazonaws.com",
            path: "/",
            query: &[],
            headers: &[],
            body: b"{}",
            region: "us-east-1",
            service: "ecr",
            amz_date: "20261130T000000Z",
        };
        let signed = sign(&request, &keys);
        assert!(
            signed
                .iter()
                .any(|(k, v)| k == "x-amz-security-token" && v == "session-canary")
        );
        let auth = &signed.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"));
        let debug = format!("{keys:?}");
        assert!(!debug.contains("canary"), "{debug}");
    }
}
