//! ECR registry hosts, as the ECR user guide ("Private registry concepts") writes them:
//! `<account>.dkr.ecr.<region>.amazonaws.com` (`.amazonaws.com.cn` in China regions), and
//! `public.ecr.aws` for ECR Public.

/// The registry host a private ECR registry of `account` in `region` has.
pub fn registry_host(account: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("{account}.dkr.ecr.{region}.{suffix}")
}

/// Whether `server` (a PullSecret's registry key) is what an ECR credential can log in to:
/// ECR Public's host, or the private host of `region` for a 12-digit account (the credential's
/// `account` when it names one).
pub fn server_matches(public: bool, region: &str, account: Option<&str>, server: &str) -> bool {
    if public {
        return server == "public.ecr.aws";
    }
    let host_account = server.split('.').next().unwrap_or_default();
    host_account.len() == 12
        && host_account.chars().all(|c| c.is_ascii_digit())
        && server == registry_host(host_account, region)
        && account.is_none_or(|a| a == host_account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        type Case = (
            &'static str,
            bool,
            &'static str,
            Option<&'static str>,
            &'static str,
            bool,
        );
        let cases: [Case; 8] = [
            ("not ECR", false, "us-east-1", None, "nvcr.io", false),
            (
                "private",
                false,
                "us-east-1",
                None,
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                true,
            ),
            (
                "China",
                false,
                "cn-north-1",
                None,
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                true,
            ),
            (
                "another region",
                false,
                "us-east-1",
                None,
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                false,
            ),
            (
                "a path",
                false,
                "us-east-1",
                None,
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team",
                false,
            ),
            (
                "another account",
                false,
                "us-east-1",
                Some("210987654321"),
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                false,
            ),
            (
                "short account",
                false,
                "us-east-1",
                None,
                "1234.dkr.ecr.us-east-1.amazonaws.com",
                false,
            ),
            ("public", true, "us-east-1", None, "public.ecr.aws", true),
        ];
        for (name, public, region, account, server, want) in cases {
            assert_eq!(server_matches(public, region, account, server), want, "{name}");
        }
    }
}
