//! Checks of what `PullSecret` and `Secret` objects refer to: registry keys, credentials and
//! the fields they must provide (pure).

use std::collections::HashMap;

use super::super::catalog::{Object, Origin};
use super::super::diag::Diagnostic;
use super::super::model::{DataSource, PullSecretSpec, SecretSpec};
use super::super::names;
use super::super::suggest::closest;
use super::{PULL_SECRET_TYPES, Validator};
use crate::image::explain;
use crate::image::registry::check_server_key;

impl Validator<'_> {
    pub(super) fn registries(&mut self, object: &Object<PullSecretSpec>) {
        let id = object.id();
        let origin = &object.origin;
        if object.spec.registries.is_empty() {
            self.error(
                &id,
                origin.at("spec.registries"),
                "registries is empty",
                "add at least one `- {server: nvcr.io, credential: ngc}`",
            );
        }
        let mut servers: HashMap<&str, usize> = HashMap::new();
        for (i, entry) in object.spec.registries.iter().enumerate() {
            let base = format!("spec.registries[{i}]");
            if let Err(problem) = check_server_key(&entry.server) {
                self.error(
                    &id,
                    origin.at(&format!("{base}.server")),
                    problem.message,
                    problem.help,
                );
            } else if explain::never_matches(&entry.server) {
                let server = &entry.server;
                let (message, help) = if server.contains(['.', ':']) {
                    (
                        format!(
                            "registry server `{server}` can never match an image: no image reference names this registry"
                        ),
                        "write the host exactly as images name it, e.g. `registry.example.com:5000`"
                            .to_string(),
                    )
                } else {
                    (
                        format!(
                            "registry server `{server}` can never match an image: an image `{server}/app` is read as a Docker Hub repository"
                        ),
                        format!(
                            "write the registry's full name (`{server}.example.com`) or add its port (`{server}:5000`)"
                        ),
                    )
                };
                self.warning(&id, origin.at(&format!("{base}.server")), message, help);
            }
            if let Some(first) = servers.insert(entry.server.as_str(), i) {
                self.out.push(
                    Diagnostic::error(
                        origin.at(&format!("{base}.server")),
                        format!("registry `{}` is listed twice", entry.server),
                    )
                    .object(&id)
                    .help("an auths map holds one entry per server: remove one")
                    .related(
                        origin.at(&format!("spec.registries[{first}].server")),
                        "first listed here",
                    ),
                );
            }
            for (j, earlier) in object.spec.registries[..i].iter().enumerate() {
                let (a, b) = (&earlier.server, &entry.server);
                if check_server_key(a).is_err() || check_server_key(b).is_err() {
                    continue;
                }
                let (wide, narrow) = if explain::overlaps(a, b) {
                    (a, b)
                } else if explain::overlaps(b, a) {
                    (b, a)
                } else {
                    continue;
                };
                self.out.push(
                    Diagnostic::warning(origin.at(&format!("{base}.server")),
                        format!("registry entries `{wide}` and `{narrow}` overlap: every image on `{narrow}` matches both, and the kubelet tries both credentials"))
                        .object(&id)
                        .help("keep one entry per registry unless the second credential is a deliberate fallback")
                        .related(origin.at(&format!("spec.registries[{j}].server")), "the other entry"),
                );
            }
            let path = format!("{base}.credential");
            if let Some(ecr) = self
                .catalog
                .credential(&entry.credential)
                .and_then(|c| c.spec.ecr.as_ref())
                && check_server_key(&entry.server).is_ok()
                && !crate::value::ecr_host::server_matches(
                    ecr.public,
                    &ecr.region,
                    ecr.account.as_deref(),
                    &entry.server,
                )
            {
                let want = if ecr.public {
                    "public.ecr.aws".to_string()
                } else {
                    crate::value::ecr_host::registry_host(
                        ecr.account.as_deref().unwrap_or("<12-digit account id>"),
                        &ecr.region,
                    )
                };
                // The NVCF troubleshooting cases: a repository path in the host, another region.
                self.error(
                    &id,
                    origin.at(&format!("{base}.server")),
                    format!(
                        "registry `{}` is not what ECR credential `{}` logs in to (registry not found)",
                        entry.server, entry.credential
                    ),
                    format!("write the registry host only, `{want}`; repositories go in image names"),
                );
            }
            if self.credential_ref(&id, origin, &path, &entry.credential) {
                for field in ["username", "password"] {
                    self.field_resolves(&id, origin, &path, &entry.credential, field);
                }
            }
        }
    }

    pub(super) fn opaque_data(&mut self, object: &Object<SecretSpec>) {
        let id = object.id();
        let origin = &object.origin;
        let spec = &object.spec;
        if spec.data.is_empty() {
            self.error(
                &id,
                origin.at("spec.data"),
                "data is empty",
                "add at least one key, e.g. `token: {credential: hf, field: token}`",
            );
        }
        if let Some(kind) = &spec.secret_type
            && PULL_SECRET_TYPES.contains(&kind.as_str())
        {
            self.error(
                &id,
                origin.at("spec.type"),
                format!("type `{kind}` is a pull secret"),
                "use `kind: PullSecret`, which writes the auths wrapper and auth field correctly",
            );
        }
        for (key, source) in &spec.data {
            let path = format!("spec.data.{key}");
            if let Err(why) = names::data_key(key) {
                self.error(
                    &id,
                    origin.key_at(&path),
                    format!("data key `{key}` is not valid: it {why}"),
                    "write a key such as `token` or `access-key`",
                );
            }
            match source {
                DataSource { credential: Some(credential), value: None, field } => {
                    let cred_path = format!("{path}.credential");
                    if self.credential_ref(&id, origin, &cred_path, credential) {
                        let field = field.as_deref().unwrap_or(key);
                        self.field_resolves(&id, origin, &format!("{path}.field"), credential, field);
                    }
                }
                DataSource { credential: None, value: Some(_), field: None } => {}
                _ => self.error(&id, origin.at(&path),
                    format!("data key `{key}` needs either `credential` (with an optional `field`) or `value`"),
                    "write `{credential: hf, field: token}` for a secret, or `{value: https://s3.example.com}` for a plain setting"),
            }
        }
    }

    /// Whether the named credential exists; reports it when not.
    pub(super) fn credential_ref(&mut self, id: &str, origin: &Origin, path: &str, name: &str) -> bool {
        if self.catalog.credential(name).is_some() {
            return true;
        }
        let known: Vec<&str> = self.catalog.credentials.iter().map(|c| c.name.as_str()).collect();
        let help = match closest(name, &known) {
            Some(best) => format!("did you mean `{best}`?"),
            None if known.is_empty() => "define it with `kind: Credential`".to_string(),
            None => format!(
                "define it with `kind: Credential`, or use one of: {}",
                known.join(", ")
            ),
        };
        self.error(id, origin.at(path), format!("unknown credential `{name}`"), help);
        false
    }

    /// A field that the credential can never provide, judged from its spec alone.
    pub(super) fn field_resolves(
        &mut self,
        id: &str,
        origin: &Origin,
        path: &str,
        credential: &str,
        field: &str,
    ) {
        let Some(cred) = self.catalog.credential(credential) else {
            return;
        };
        let spec = &cred.spec;
        if field == "username" && (spec.username.is_some() || spec.username_preset.is_some()) {
            return;
        }
        let source_key = spec.fields.get(field).map(String::as_str).unwrap_or(field);
        if let Some(file) = &spec.file
            && let Some(only) = &file.key
            && source_key != only
        {
            let help = if field == "username" {
                format!("give Credential/{credential} a `username` or `usernamePreset`")
            } else {
                format!(
                    "map it in Credential/{credential}: `fields: {{{field}: {only}}}`, or read the file as a map"
                )
            };
            self.out.push(
                Diagnostic::error(origin.at(path),
                    format!("field `{field}` of credential `{credential}` can never resolve: its file source holds only `{only}`"))
                    .object(id)
                    .help(help)
                    .related(cred.origin.at("spec.file.key"), "the single key is set here"),
            );
        }
    }
}
