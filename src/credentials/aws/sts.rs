//! STS `AssumeRoleWithWebIdentity` (effect): temporary keys for a role, in exchange for the
//! pod's projected service-account token — the call IRSA makes. Unsigned by design (the
//! token is the proof), sent only to the configured STS endpoint.

use super::sigv4::AwsKeys;
use super::{AwsSettings, client, endpoint};
use crate::credentials::exchange_error::{Call, ExchangeError};
use crate::credentials::http::form;

/// The text of `<tag>…</tag>` in an STS or ECR error answer, with XML's five predefined
/// entities decoded. Not an XML parser, on purpose: the answers come from the configured
/// endpoint, the fields read are leaf elements without attributes (the STS API reference), and
/// no XML crate is in the tree; a tag that is absent or odd reads as absent.
pub(super) fn tag(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(unescape(&xml[start..end]))
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

const CALL: Call = "AssumeRoleWithWebIdentity";

pub async fn assume_role_with_web_identity(
    settings: &AwsSettings,
    region: &str,
    role_arn: &str,
) -> Result<(AwsKeys, Option<std::time::SystemTime>), ExchangeError> {
    let path = &settings.web_identity_token_file;
    let token = crate::bounded::read_text(path, crate::bounded::MAX_SMALL_FILE).map_err(|source| {
        ExchangeError::WebIdentityToken {
            path: path.clone(),
            source,
        }
    })?;
    let (url, _) = endpoint(settings, &format!("sts.{region}.amazonaws.com"));
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", "pullsync"),
        ("DurationSeconds", "3600"),
        ("WebIdentityToken", token.trim()),
    ]);
    let response = client()?
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(ExchangeError::send(CALL))?;
    let status = response.status();
    let text = response.text().await.map_err(ExchangeError::send(CALL))?;
    if !status.is_success() {
        let code = tag(&text, "Code").unwrap_or_else(|| "Unknown".to_string());
        let message = tag(&text, "Message").unwrap_or_default();
        return Err(ExchangeError::Refused {
            call: CALL,
            status: status.as_u16(),
            explained: format!(
                "{role_arn}: {}",
                super::errors::explain(&code, &message, "", true)
            ),
        });
    }
    let field = |name: &'static str| {
        tag(&text, name).ok_or(ExchangeError::Incomplete {
            call: CALL,
            field: name,
        })
    };
    let keys = AwsKeys {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?.into(),
        session_token: Some(field("SessionToken")?.into()),
    };
    let expires = tag(&text, "Expiration").and_then(|t| crate::time::parse(&t));
    Ok((keys, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_encoding() {
        let xml = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId><Expiration>2026-11-30T03:52:50.894495Z</Expiration></Credentials></R>";
        assert_eq!(tag(xml, "AccessKeyId").as_deref(), Some("ASIA1"));
        assert_eq!(tag(xml, "SessionToken"), None);
        let error = "<Error><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity for &quot;role&quot; &amp;c</Message></Error>";
        assert_eq!(
            tag(error, "Message").as_deref(),
            Some("Not authorized to perform sts:AssumeRoleWithWebIdentity for \"role\" &c")
        );
        assert_eq!(unescape("&amp;lt;"), "&lt;", "decoded once, not twice");
    }
}
