//! AWS error codes in words a user can act on (pure). The AWS message is kept (clipped); it
//! never holds key material.

/// `code` and `message` of an AWS error response, explained; `session_token` says whether the
/// identity had one, `access_key_id` is shown by its prefix only (`ASIA…` is temporary).
pub fn explain(code: &str, message: &str, access_key_id: &str, session_token: bool) -> String {
    let message: String = message.chars().take(200).collect();
    let prefix: String = access_key_id.chars().take(4).collect();
    let hint = match code {
        "UnrecognizedClientException" | "InvalidClientTokenId" => {
            if prefix == "ASIA" && !session_token {
                "these are temporary (STS) credentials (access key ASIA…) sent without their session token: add `session_token` to the identity credential".to_string()
            } else if prefix == "ASIA" {
                // The key is a temporary one; with a token sent, the token is what AWS refused.
                "the session token is not the one issued with this temporary access key (ASIA…): copy `session_token` from the same STS answer as the key, whole and unquoted".to_string()
            } else {
                "AWS does not know this access key: it is wrong, deleted or deactivated, or belongs to another partition".to_string()
            }
        }
        "InvalidSignatureException" | "SignatureDoesNotMatch" => {
            "the secret access key does not belong to this access key id (a copy-paste error, or a rotated secret)".to_string()
        }
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => {
            "the temporary credentials expired: refresh the session token (or check this machine's clock)".to_string()
        }
        "AccessDeniedException" | "AccessDenied" => {
            "the identity may not do this: grant `ecr:GetAuthorizationToken` (ECR Public: also `ecr-public:GetAuthorizationToken` and `sts:GetServiceBearerToken`)".to_string()
        }
        "InvalidIdentityToken" | "IDPRejectedClaim" => {
            "STS rejected the service-account token: check the role's trust policy (OIDC provider, audience `sts.amazonaws.com`, subject)".to_string()
        }
        _ => String::new(),
    };
    if hint.is_empty() {
        format!("AWS {code}: {message}")
    } else {
        format!("AWS {code}: {message} — {hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nvcf_case_temporary_keys_without_a_session_token() {
        let text = explain(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            "ASIAEXAMPLE",
            false,
        );
        assert!(text.contains("without their session token"), "{text}");
        let text = explain("UnrecognizedClientException", "x", "ASIAEXAMPLE", true);
        assert!(text.contains("the session token is not the one"), "{text}");
        assert!(!text.contains("does not know this access key"), "{text}");
        let text = explain("UnrecognizedClientException", "x", "AKIAEXAMPLE", false);
        assert!(text.contains("wrong, deleted"), "{text}");
        assert!(explain("SignatureDoesNotMatch", "x", "AKIA", false).contains("secret access key"));
        assert!(explain("ExpiredTokenException", "x", "ASIA", true).contains("expired"));
        assert_eq!(
            explain("Throttling", "slow down", "AKIA", false),
            "AWS Throttling: slow down"
        );
    }
}
