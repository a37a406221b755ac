//! Checks of `Credential` objects: exactly one source, paths, usernames, field mappings,
//! Vault and cluster source settings (pure).

use std::path::Path;

use super::super::catalog::{Object, Origin};
use super::super::model::CredentialSpec;
use super::super::names;
use super::{Validator, normalize};

impl Validator<'_> {
    pub(super) fn credential(&mut self, object: &Object<CredentialSpec>) {
        let id = object.id();
        let origin = &object.origin;
        let spec = &object.spec;
        let sources = [
            spec.age_file.is_some(),
            spec.file.is_some(),
            spec.service_account_token.is_some(),
            spec.kubernetes_secret.is_some(),
            spec.vault.is_some(),
            spec.ecr.is_some(),
            spec.gcp_access_token.is_some(),
            spec.acr_token.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            let message = if sources == 0 {
                "no source: a Credential needs exactly one of ageFile, file, serviceAccountToken, kubernetesSecret, vault, ecr, gcpAccessToken, acrToken"
            } else {
                "more than one source: a Credential needs exactly one of ageFile, file, serviceAccountToken, kubernetesSecret, vault, ecr, gcpAccessToken, acrToken"
            };
            self.error(&id, origin.key_at("spec"), message,
                "keep one source, e.g. `ageFile: {path: ngc.age}`; make a second Credential for a second source");
        }
        if let Some(age) = &spec.age_file {
            self.age_path(&id, origin, &age.path);
        }
        if let Some(ecr) = &spec.ecr {
            self.ecr(&id, origin, ecr);
        }
        // Exchanged from another credential: that one must exist and hold material itself
        // (fetching orders a credential after the one it is exchanged from, one level deep).
        if let Some(other) = spec.exchanged_from() {
            let path = match (&spec.ecr, &spec.gcp_access_token) {
                (Some(_), _) => "spec.ecr.identity.credential",
                (_, Some(_)) => "spec.gcpAccessToken.serviceAccountKey",
                _ => "spec.acrToken.servicePrincipal",
            };
            if other == object.name {
                self.error(
                    &id,
                    origin.at(path),
                    "a credential cannot be exchanged from itself",
                    "name the Credential that holds the keys",
                );
            } else if self.credential_ref(&id, origin, path, other)
                && self
                    .catalog
                    .credential(other)
                    .is_some_and(|c| c.spec.exchanged_from().is_some())
            {
                self.error(
                    &id,
                    origin.at(path),
                    format!("`{other}` is itself exchanged from another credential, not keys"),
                    "name the Credential that holds the keys (Vault, age, file)",
                );
            }
        }
        if let Some(file) = &spec.file {
            let path = Path::new(&file.path);
            if !path.is_absolute() {
                self.error(
                    &id,
                    origin.at("spec.file.path"),
                    format!("file path `{}` is relative", file.path),
                    "write an absolute path outside the spec repository, e.g. `/var/run/secrets/ngc`",
                );
            } else if path.starts_with(&self.catalog.root) {
                self.error(&id, origin.at("spec.file.path"),
                    format!("file path `{}` is inside the spec repository", file.path),
                    "plain secrets must not live in Git: encrypt the file with `pullsync encrypt` and use `ageFile`");
            }
            if let Some(key) = &file.key
                && let Err(why) = names::data_key(key)
            {
                self.error(
                    &id,
                    origin.at("spec.file.key"),
                    format!("key `{key}` is not valid: it {why}"),
                    "write a field name such as `token` or `password`",
                );
            }
        }
        if let Some(token) = &spec.service_account_token {
            if let Err(why) = names::dns1123_label(&token.namespace) {
                self.error(
                    &id,
                    origin.at("spec.serviceAccountToken.namespace"),
                    format!("namespace `{}` is not valid: it {why}", token.namespace),
                    "write a namespace name such as `private-ai-demo`",
                );
            }
            if let Err(why) = names::dns1123_subdomain(&token.service_account) {
                self.error(
                    &id,
                    origin.at("spec.serviceAccountToken.serviceAccount"),
                    format!(
                        "service account `{}` is not valid: it {why}",
                        token.service_account
                    ),
                    "write a ServiceAccount name such as `pipeline`",
                );
            }
            if let Some(seconds) = token.expiration_seconds
                && seconds < 600
            {
                self.error(
                    &id,
                    origin.at("spec.serviceAccountToken.expirationSeconds"),
                    format!(
                        "expirationSeconds {seconds} is below the API server's minimum of 600 (10 minutes)"
                    ),
                    "write 600 or more, e.g. 3600",
                );
            }
        }
        if let Some(vault) = &spec.vault {
            match (&vault.kv, &vault.dynamic) {
                (Some(kv), None) => {
                    for (field, value) in [("mount", &kv.mount), ("path", &kv.path)] {
                        if value.trim_matches('/').is_empty() || value.contains("//") {
                            self.error(
                                &id,
                                origin.at(&format!("spec.vault.kv.{field}")),
                                format!("kv {field} `{value}` is empty or has an empty segment"),
                                "write e.g. `mount: secret, path: registries/ngc`",
                            );
                        }
                    }
                    if kv.version.is_some() && kv.engine == super::super::model::KvEngine::V1 {
                        self.error(
                            &id,
                            origin.at("spec.vault.kv.version"),
                            "KV v1 has no versions",
                            "remove `version`, or use `engine: v2`",
                        );
                    }
                    if kv.path.starts_with("data/") && kv.engine == super::super::model::KvEngine::V2 {
                        self.error(
                            &id,
                            origin.at("spec.vault.kv.path"),
                            format!("kv path `{}` starts with `data/`", kv.path),
                            format!("write the path without the API prefix: `{}`", &kv.path[5..]),
                        );
                    }
                }
                (None, Some(dynamic)) => {
                    if dynamic.path.trim_matches('/').is_empty() {
                        self.error(
                            &id,
                            origin.at("spec.vault.dynamic.path"),
                            "dynamic path is empty",
                            "write the path that issues the secret, e.g. `database/creds/registry-reader`",
                        );
                    }
                    if !dynamic.params.is_empty()
                        && dynamic.method == super::super::model::DynamicMethod::Read
                    {
                        self.error(
                            &id,
                            origin.at("spec.vault.dynamic.params"),
                            "params are sent only with `method: write`",
                            "add `method: write`, or remove `params`",
                        );
                    }
                }
                _ => self.error(
                    &id,
                    origin.key_at("spec.vault"),
                    "vault needs exactly one of `kv` or `dynamic`",
                    "write `vault: {kv: {mount: secret, path: registries/ngc}}`",
                ),
            }
        }
        if let Some(secret) = &spec.kubernetes_secret
            && let Err(why) = names::dns1123_subdomain(&secret.name)
        {
            self.error(
                &id,
                origin.at("spec.kubernetesSecret.name"),
                format!("secret name `{}` is not valid: it {why}", secret.name),
                "write the name of a Secret in pullsync's own namespace",
            );
        }
        if spec.username.is_some() && spec.username_preset.is_some() {
            self.error(
                &id,
                origin.key_at("spec.usernamePreset"),
                "both username and usernamePreset are set",
                "keep one: usernamePreset names a convention, username is a literal",
            );
        }
        if let Some((message, help)) = spec.username.as_deref().and_then(mangled_username) {
            self.warning(&id, origin.at("spec.username"), message, help);
        }
        let literal_username = spec.username.is_some() || spec.username_preset.is_some();
        for (logical, source_key) in &spec.fields {
            let at = || origin.at(&format!("spec.fields.{logical}"));
            if source_key.is_empty() {
                self.error(
                    &id,
                    at(),
                    format!("field `{logical}` maps to an empty key"),
                    format!("write the key in the source that holds `{logical}`"),
                );
            }
            if logical == "username" && literal_username {
                self.error(
                    &id,
                    at(),
                    "the username is given twice: as a literal and as a field mapping",
                    "remove `fields.username`, or remove username/usernamePreset",
                );
            }
            if let Some(file) = &spec.file
                && let Some(only) = &file.key
                && source_key != only
            {
                self.error(&id, at(),
                    format!("field `{logical}` maps to key `{source_key}`, but this file source holds only `{only}`"),
                    format!("map it to `{only}`, or drop `file.key` to read the file as a map"));
            }
        }
        self.rotation(&id, origin, "spec.rotation", spec.rotation.as_ref());
        self.renew_before_fits(&id, origin, spec);
    }

    /// `renewBefore` at or past the token's whole lifetime makes every token due on arrival;
    /// at run time the renew point is clamped to half the issued lifetime, but say so here.
    fn renew_before_fits(&mut self, id: &str, origin: &Origin, spec: &CredentialSpec) {
        let Some(token) = &spec.service_account_token else {
            return;
        };
        // TokenRequest's default lifetime is one hour (authentication.k8s.io/v1 TokenRequestSpec).
        let lifetime = std::time::Duration::from_secs(token.expiration_seconds.unwrap_or(3600).max(0) as u64);
        let Some(text) = spec.rotation.as_ref().and_then(|r| r.renew_before.as_deref()) else {
            return;
        };
        let Ok(renew_before) = crate::spec::duration::parse(text) else {
            return;
        };
        if renew_before * 2 > lifetime {
            self.warning(
                id,
                origin.at("spec.rotation.renewBefore"),
                format!(
                    "renewBefore {text} is more than half the token's requested lifetime ({}s); pullsync renews at half the lifetime instead",
                    lifetime.as_secs()
                ),
                format!(
                    "set renewBefore to at most {}s, or ask a longer expirationSeconds (clusters may still issue shorter tokens)",
                    lifetime.as_secs() / 2
                ),
            );
        }
    }

    pub(super) fn age_path(&mut self, id: &str, origin: &Origin, path: &str) {
        let at = || origin.at("spec.ageFile.path");
        let relative = Path::new(path);
        if relative.is_absolute() {
            self.error(
                id,
                at(),
                format!("ageFile path `{path}` is absolute"),
                "write a path relative to this spec file, inside the spec repository",
            );
            return;
        }
        let base = origin.file.parent().unwrap_or(Path::new(""));
        match normalize(&base.join(relative)) {
            None => self.error(id, at(), format!("ageFile path `{path}` leaves the spec repository"),
                "keep encrypted files inside the spec repository"),
            Some(resolved) if !self.catalog.files.contains(&resolved) => self.error(id, at(),
                format!("ageFile `{}` does not exist", resolved.display()),
                "create it with `pullsync encrypt --recipient AGE_PUBLIC_KEY --output FILE < values.yaml`, or fix the path (relative to this spec file)"),
            Some(_) => {}
        }
    }
}

impl Validator<'_> {
    fn ecr(&mut self, id: &str, origin: &Origin, ecr: &super::super::model::EcrSource) {
        let region_ok = ecr.region.split('-').count() >= 3
            && ecr
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            self.error(
                id,
                origin.at("spec.ecr.region"),
                format!("region `{}` is not an AWS region", ecr.region),
                "write a region such as `us-east-1` or `eu-west-1`",
            );
        }
        if ecr.public && ecr.region != "us-east-1" {
            self.error(
                id,
                origin.at("spec.ecr.region"),
                "ECR Public hands out tokens in us-east-1 only",
                "write `region: us-east-1`",
            );
        }
        if let Some(account) = &ecr.account
            && (account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()))
        {
            self.error(
                id,
                origin.at("spec.ecr.account"),
                format!("account `{account}` is not a 12-digit AWS account id"),
                "write the account id, e.g. `123456789012` (quote it so YAML keeps leading zeros)",
            );
        }
        let identity = &ecr.identity;
        match (&identity.credential, &identity.web_identity) {
            (Some(_), Some(_)) | (None, None) => self.error(
                id,
                origin.key_at("spec.ecr.identity"),
                "an ECR identity needs exactly one of `credential` or `webIdentity`",
                "`credential: aws-keys` (a Credential with access_key_id, secret_access_key[, session_token]) or `webIdentity: {roleArn: …}`",
            ),
            (Some(_), None) => {}
            (None, Some(web)) => {
                if !web.role_arn.starts_with("arn:aws") || !web.role_arn.contains(":role/") {
                    self.error(
                        id,
                        origin.at("spec.ecr.identity.webIdentity.roleArn"),
                        format!("`{}` is not an IAM role ARN", web.role_arn),
                        "write `arn:aws:iam::123456789012:role/NAME`",
                    );
                }
            }
        }
    }
}

/// A literal username that looks like a registry convention after a shell ate its `$` (the
/// seeds' NGC `$oauthtoken`, Harbor's `robot$project+name`) or changed its case (ECR `AWS`).
pub(super) fn mangled_username(username: &str) -> Option<(String, &'static str)> {
    match username {
        "" => Some((
            "the username is empty: `$oauthtoken` typed through a shell becomes empty".into(),
            "for NGC write `usernamePreset: ngc`",
        )),
        "oauthtoken" => Some((
            "username `oauthtoken` is NGC's `$oauthtoken` without its `$`".into(),
            "write `usernamePreset: ngc` (no quoting to get wrong)",
        )),
        "aws" => Some((
            "ECR's username is `AWS`, in capitals".into(),
            "use an `ecr` source (it gives `AWS`), or `usernamePreset: ecr`",
        )),
        u if u == "robot" || (u.starts_with("robot+") || u.starts_with("robot_")) => Some((
            format!("username `{u}` looks like a Harbor robot account that lost `$project` to a shell"),
            "write Harbor robot names in full and single-quoted in YAML, e.g. `username: 'robot$ml+ci'`",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::mangled_username;

    #[test]
    fn usernames_a_shell_mangled() {
        assert!(mangled_username("oauthtoken").is_some());
        assert!(mangled_username("").is_some());
        assert!(mangled_username("robot+ci").is_some());
        assert!(mangled_username("aws").is_some());
        assert!(mangled_username("robot$ml+ci").is_none());
        assert!(mangled_username("$oauthtoken").is_none());
        assert!(mangled_username("AWS").is_none());
        assert!(mangled_username("robotics-ci").is_none());
    }
}
