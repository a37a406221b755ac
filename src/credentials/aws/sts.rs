//! STS `AssumeRoleWithWebIdentity` (effect): temporary keys for a role, in exchange for the
//! pod's projected service-account token — the call IRSA makes. Unsigned by design (the
//! token is the proof), sent only to the configured STS endpoint.

use super::sigv4::AwsKeys;
use super::{AwsSettings, client, endpoint};
use crate::credentials::http::encode;

/// The text of `<tag>…</tag>` in a small, trusted XML answer.
pub(super) fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

pub async fn assume_role_with_web_identity(
    settings: &AwsSettings,
    region: &str,
    role_arn: &str,
) -> Result<(AwsKeys, Option<std::time::SystemTime>), String> {
    let token = crate::bounded::read_text(&settings.web_identity_token_file, crate::bounded::MAX_SMALL_FILE)
        .map_err(|e| {
            format!(
                "web identity token {}: {e}",
                settings.web_identity_token_file.display()
            )
        })?;
    let (url, _) = endpoint(settings, &format!("sts.{region}.amazonaws.com"));
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=pullsync&DurationSeconds=3600&WebIdentityToken={}",
        encode(role_arn),
        encode(token.trim())
    );
    let response = client()?
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("STS: {}", e.without_url()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("STS: {}", e.without_url()))?;
    if !status.is_success() {
        let code = tag(&text, "Code").unwrap_or("Unknown");
        let message = tag(&text, "Message").unwrap_or("");
        return Err(format!(
            "AssumeRoleWithWebIdentity {role_arn}: {}",
            super::errors::explain(code, message, "", true)
        ));
    }
    let field = |name: &str| {
        tag(&text, name)
            .map(str::to_string)
            .ok_or_else(|| format!("STS answered without {name}"))
    };
    let keys = AwsKeys {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?.into(),
        session_token: Some(field("SessionToken")?.into()),
    };
    let expires = tag(&text, "Expiration").and_then(crate::time::parse);
    Ok((keys, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_encoding() {
        let xml = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId><Expiration>2026-11-30T03:52:50.894495Z</Expiration></Credentials></R>";
        assert_eq!(tag(xml, "AccessKeyId"), Some("ASIA1"));
        assert_eq!(tag(xml, "SessionToken"), None);
        assert_eq!(
            encode("arn:aws:iam::1:role/x y"),
            "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx%20y"
        );
    }
}
