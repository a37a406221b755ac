//! ECR `GetAuthorizationToken` (effect): a registry password valid for 12 hours, for the
//! account (private registries) or for `public.ecr.aws`. Registry hosts follow the ECR
//! user guide ("Private registry concepts"); their grammar is in [`crate::value::ecr_host`].

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use super::sigv4::{self, AwsKeys};
use super::{AwsSettings, client, endpoint, errors};
use crate::credentials::exchange_error::{Call, ExchangeError};
use crate::spec::model::EcrSource;
use crate::value::credential::CredentialValue;
use crate::value::secret::SecretValue;

const CALL: Call = "ECR GetAuthorizationToken";

pub async fn fetch(
    source: &EcrSource,
    keys: &AwsKeys,
    settings: &AwsSettings,
) -> Result<CredentialValue, ExchangeError> {
    let (default_host, service, target, region) = if source.public {
        (
            "api.ecr-public.us-east-1.amazonaws.com".to_string(),
            "ecr-public",
            "SpencerFrontendService.GetAuthorizationToken",
            "us-east-1",
        )
    } else {
        (
            format!("api.ecr.{}.amazonaws.com", source.region),
            "ecr",
            "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
            source.region.as_str(),
        )
    };
    let (url, host) = endpoint(settings, &default_host);
    let body = match (&source.account, source.public) {
        (Some(account), false) => json!({"registryIds": [account]}),
        _ => json!({}),
    }
    .to_string();
    let headers = [
        ("content-type", "application/x-amz-json-1.1".to_string()),
        ("x-amz-target", target.to_string()),
    ];
    let amz_date = sigv4::amz_date(SystemTime::now());
    let request = sigv4::Request {
        method: "POST",
        host: &host,
        path: "/",
        query: &[],
        headers: &headers,
        body: body.as_bytes(),
        region,
        service,
        amz_date: &amz_date,
    };
    let mut call = client()?.post(url).body(body.clone());
    for (name, value) in sigv4::sign(&request, keys) {
        if name != "host" {
            call = call.header(name, value);
        }
    }
    let response = call.send().await.map_err(ExchangeError::send(CALL))?;
    let status = response.status();
    let text = response.text().await.map_err(ExchangeError::send(CALL))?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        // `__type` may carry a namespace prefix: `com.amazon.coral.service#UnrecognizedClientException`.
        // Signature and identity errors may come as XML (the front end answers before ECR).
        let code = answer["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or_default().to_string())
            .or_else(|| super::sts::tag(&text, "Code"))
            .unwrap_or_else(|| "Unknown".to_string());
        let message = answer["message"]
            .as_str()
            .or(answer["Message"].as_str())
            .map(str::to_string)
            .or_else(|| super::sts::tag(&text, "Message"))
            .unwrap_or_default();
        let message = if code == "Unknown" && message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        return Err(ExchangeError::Refused {
            call: CALL,
            status: status.as_u16(),
            explained: errors::explain(&code, &message, &keys.access_key_id, keys.session_token.is_some()),
        });
    }
    let (username, password, expires_at, registry) = parse_answer(&answer, source.public)?;
    let mut fields = BTreeMap::new();
    fields.insert("username".to_string(), SecretValue::new(username));
    fields.insert("password".to_string(), SecretValue::new(password));
    fields.insert("registry".to_string(), SecretValue::new(registry.clone()));
    Ok(CredentialValue {
        fields,
        // Each token has its own expiry; the time says which token without digesting it.
        version: expires_at
            .map(|t| format!("expires-{}", crate::time::format(t)))
            .unwrap_or_else(|| format!("fetched-{}", crate::time::format(SystemTime::now()))),
        expires_at,
        origin: format!(
            "ecr{} {}",
            if source.public { "-public" } else { "" },
            if registry.is_empty() {
                source.region.clone()
            } else {
                registry
            }
        ),
    })
}

/// (username, password, expiry, registry host) from a `GetAuthorizationToken` answer: a list
/// of `authorizationData` for ECR, one object for ECR Public.
fn parse_answer(
    answer: &Value,
    public: bool,
) -> Result<(String, String, Option<SystemTime>, String), ExchangeError> {
    let data = if public {
        &answer["authorizationData"]
    } else {
        &answer["authorizationData"][0]
    };
    let token = data["authorizationToken"]
        .as_str()
        .ok_or(ExchangeError::Incomplete {
            call: CALL,
            field: "authorizationToken",
        })?;
    let not_a_login = ExchangeError::Malformed {
        call: CALL,
        problem: "the token is not base64 of `user:password`",
    };
    let Some(decoded) = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return Err(not_a_login);
    };
    let (username, password) = decoded.split_once(':').ok_or(not_a_login)?;
    let expires_at = data["expiresAt"]
        .as_f64()
        .map(|secs| UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0)));
    let registry = if public {
        "public.ecr.aws".to_string()
    } else {
        data["proxyEndpoint"]
            .as_str()
            .map(|e| e.trim_start_matches("https://").trim_end_matches('/').to_string())
            .unwrap_or_default()
    };
    Ok((username.to_string(), password.to_string(), expires_at, registry))
}

#[cfg(test)]
mod tests {
    #[test]
    fn private_and_public_answers() {
        // Shapes of the ECR and ECR Public API references (values made up for the test).
        let private = serde_json::json!({"authorizationData": [{"authorizationToken": "QVdTOnRva2VuLWE=", "expiresAt": 1.7e9, "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]});
        let (user, pass, expires, registry) = super::parse_answer(&private, false).unwrap();
        assert_eq!((user.as_str(), pass.as_str()), ("AWS", "token-a"));
        assert_eq!(registry, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert!(expires.is_some());
        let public = serde_json::json!({"authorizationData": {"authorizationToken": "QVdTOnRva2VuLWI=", "expiresAt": 1.7e9}});
        let (_, pass, _, registry) = super::parse_answer(&public, true).unwrap();
        assert_eq!((pass.as_str(), registry.as_str()), ("token-b", "public.ecr.aws"));
        assert!(super::parse_answer(&serde_json::json!({}), false).is_err());
    }
}
