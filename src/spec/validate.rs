//! Semantic checks on a loaded catalog (pure): names, references, registry keys, labels,
//! field mappings. Every finding points at the node to fix and says what to write instead.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use super::catalog::{Catalog, Object, Origin};
use super::diag::Diagnostic;
use super::duration;
use super::model::{CredentialSpec, DataSource, LabelSelector, Rotation, SelectorOperator};
use super::names;
use super::suggest::closest;
use crate::image::explain;
use crate::image::registry::check_server_key;

/// Label and annotation prefix reserved for what pullsync itself writes.
pub const RESERVED_PREFIX: &str = "pullsync.dev/";

/// Argo CD's tracking keys: copied onto a generated Secret, they make Argo CD think it owns
/// (and may prune) the Secret. Argo CD docs, "Resource Tracking".
pub const ARGOCD_TRACKING_KEYS: [&str; 3] = [
    "app.kubernetes.io/instance",
    "argocd.argoproj.io/instance",
    "argocd.argoproj.io/tracking-id",
];

/// Secret types that must be produced by `PullSecret`, not by `Secret`.
const PULL_SECRET_TYPES: [&str; 2] = ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"];

pub fn validate(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut v = Validator {
        catalog,
        out: Vec::new(),
    };
    v.names_and_duplicates();
    for object in &catalog.credentials {
        v.credential(object);
    }
    for object in &catalog.pull_secrets {
        let id = object.id();
        let spec = &object.spec;
        v.targets(
            &id,
            &object.origin,
            &spec.namespaces,
            spec.namespace_selector.as_ref(),
        );
        v.key_values(&id, &object.origin, "spec.labels", &spec.labels, true);
        v.key_values(&id, &object.origin, "spec.annotations", &spec.annotations, false);
        v.rotation(&id, &object.origin, "spec.rotation", spec.rotation.as_ref());
        v.registries(object);
        for (i, account) in spec.service_accounts.iter().enumerate() {
            if let Err(why) = names::dns1123_subdomain(account) {
                v.error(
                    &id,
                    object.origin.at(&format!("spec.serviceAccounts[{i}]")),
                    format!("service account name `{account}` is not valid: it {why}"),
                    "write the name of a ServiceAccount in each target namespace",
                );
            }
        }
    }
    for object in &catalog.secrets {
        let id = object.id();
        let spec = &object.spec;
        v.targets(
            &id,
            &object.origin,
            &spec.namespaces,
            spec.namespace_selector.as_ref(),
        );
        v.key_values(&id, &object.origin, "spec.labels", &spec.labels, true);
        v.key_values(&id, &object.origin, "spec.annotations", &spec.annotations, false);
        v.rotation(&id, &object.origin, "spec.rotation", spec.rotation.as_ref());
        v.opaque_data(object);
    }
    for object in &catalog.defaults {
        let id = object.id();
        v.key_values(&id, &object.origin, "spec.labels", &object.spec.labels, true);
        v.key_values(
            &id,
            &object.origin,
            "spec.annotations",
            &object.spec.annotations,
            false,
        );
        v.rotation(
            &id,
            &object.origin,
            "spec.rotation",
            object.spec.rotation.as_ref(),
        );
    }
    for object in &catalog.tenants {
        let id = object.id();
        let spec = &object.spec;
        v.namespace_list(&id, &object.origin, &spec.namespaces);
        if let Some(selector) = &spec.namespace_selector {
            v.selector(&id, &object.origin, "spec.namespaceSelector", selector);
        }
        for (i, name) in spec.credentials.iter().enumerate() {
            v.credential_ref(&id, &object.origin, &format!("spec.credentials[{i}]"), name);
        }
    }
    v.out
}

struct Validator<'a> {
    catalog: &'a Catalog,
    out: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn error(
        &mut self,
        object: &str,
        at: super::diag::Position,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.out
            .push(Diagnostic::error(at, message).object(object).help(help));
    }

    fn warning(
        &mut self,
        object: &str,
        at: super::diag::Position,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.out
            .push(Diagnostic::warning(at, message).object(object).help(help));
    }

    /// DNS-1123 names, namespace only on Defaults, no kind/name (or Defaults scope) twice.
    fn names_and_duplicates(&mut self) {
        let c = self.catalog;
        let all: Vec<(&'static str, &String, &Option<String>, &Origin)> = c
            .credentials
            .iter()
            .map(|o| (o.kind, &o.name, &o.namespace, &o.origin))
            .chain(
                c.pull_secrets
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .chain(
                c.secrets
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .chain(
                c.defaults
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .chain(
                c.tenants
                    .iter()
                    .map(|o| (o.kind, &o.name, &o.namespace, &o.origin)),
            )
            .collect();
        let mut seen: HashMap<(&str, &str), &Origin> = HashMap::new();
        let mut scopes: HashMap<Option<&str>, (&str, &Origin)> = HashMap::new();
        for (kind, name, namespace, origin) in all {
            let id = format!("{kind}/{name}");
            if let Err(why) = names::dns1123_subdomain(name) {
                self.error(
                    &id,
                    origin.at("metadata.name"),
                    format!("name `{name}` is not valid: it {why}"),
                    "write a lower-case DNS name such as `ngc-pull-secret`",
                );
            }
            match (kind, namespace) {
                ("Defaults", Some(ns)) => {
                    if let Err(why) = names::dns1123_label(ns) {
                        self.error(
                            &id,
                            origin.at("metadata.namespace"),
                            format!("namespace `{ns}` is not valid: it {why}"),
                            "write the name of an existing namespace, e.g. `ml-team`",
                        );
                    }
                }
                ("Defaults", None) => {}
                (_, Some(_)) => self.error(
                    &id,
                    origin.key_at("metadata.namespace"),
                    format!("{kind} is not namespaced: metadata.namespace is only for Defaults"),
                    if matches!(kind, "PullSecret" | "Secret") {
                        "remove metadata.namespace and list target namespaces under spec.namespaces"
                    } else {
                        "remove metadata.namespace"
                    },
                ),
                _ => {}
            }
            if let Some(first) = seen.get(&(kind, name.as_str())) {
                self.out.push(
                    Diagnostic::error(
                        origin.at("metadata.name"),
                        format!("{kind} `{name}` is defined twice"),
                    )
                    .object(&id)
                    .help("rename one of them or delete the duplicate")
                    .related(first.at("metadata.name"), "first defined here"),
                );
            } else {
                seen.insert((kind, name.as_str()), origin);
            }
            if kind == "Defaults" {
                let scope = namespace.as_deref();
                if let Some((first_name, first)) = scopes.get(&scope) {
                    let what = match scope {
                        Some(ns) => format!("namespace `{ns}`"),
                        None => "the cluster".to_string(),
                    };
                    self.out.push(
                        Diagnostic::error(
                            origin.at("metadata.name"),
                            format!("a second Defaults for {what} (the first is `{first_name}`)"),
                        )
                        .object(&id)
                        .help("merge them into one Defaults object: each scope has one")
                        .related(first.at("metadata.name"), "first Defaults for this scope"),
                    );
                } else {
                    scopes.insert(scope, (name.as_str(), origin));
                }
            }
        }
    }

    fn credential(&mut self, object: &Object<CredentialSpec>) {
        let id = object.id();
        let origin = &object.origin;
        let spec = &object.spec;
        let sources = [
            spec.age_file.is_some(),
            spec.file.is_some(),
            spec.service_account_token.is_some(),
            spec.kubernetes_secret.is_some(),
            spec.vault.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            let message = if sources == 0 {
                "no source: a Credential needs exactly one of ageFile, file, serviceAccountToken, kubernetesSecret, vault"
            } else {
                "more than one source: a Credential needs exactly one of ageFile, file, serviceAccountToken, kubernetesSecret, vault"
            };
            self.error(&id, origin.key_at("spec"), message,
                "keep one source, e.g. `ageFile: {path: ngc.age}`; make a second Credential for a second source");
        }
        if let Some(age) = &spec.age_file {
            self.age_path(&id, origin, &age.path);
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
                    if kv.version.is_some() && kv.engine == super::model::KvEngine::V1 {
                        self.error(
                            &id,
                            origin.at("spec.vault.kv.version"),
                            "KV v1 has no versions",
                            "remove `version`, or use `engine: v2`",
                        );
                    }
                    if kv.path.starts_with("data/") && kv.engine == super::model::KvEngine::V2 {
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
                    if !dynamic.params.is_empty() && dynamic.method == super::model::DynamicMethod::Read {
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
        let literal_username = spec.username.is_some() || spec.username_preset.is_some();
        for (logical, source_key) in &spec.fields {
            let at = origin.at(&format!("spec.fields.{logical}"));
            if source_key.is_empty() {
                self.error(
                    &id,
                    at.clone(),
                    format!("field `{logical}` maps to an empty key"),
                    format!("write the key in the source that holds `{logical}`"),
                );
            }
            if logical == "username" && literal_username {
                self.error(
                    &id,
                    at.clone(),
                    "the username is given twice: as a literal and as a field mapping",
                    "remove `fields.username`, or remove username/usernamePreset",
                );
            }
            if let Some(file) = &spec.file
                && let Some(only) = &file.key
                && source_key != only
            {
                self.error(&id, at,
                    format!("field `{logical}` maps to key `{source_key}`, but this file source holds only `{only}`"),
                    format!("map it to `{only}`, or drop `file.key` to read the file as a map"));
            }
        }
        self.rotation(&id, origin, "spec.rotation", spec.rotation.as_ref());
    }

    fn age_path(&mut self, id: &str, origin: &Origin, path: &str) {
        let at = origin.at("spec.ageFile.path");
        let relative = Path::new(path);
        if relative.is_absolute() {
            self.error(
                id,
                at,
                format!("ageFile path `{path}` is absolute"),
                "write a path relative to this spec file, inside the spec repository",
            );
            return;
        }
        let base = origin.file.parent().unwrap_or(Path::new(""));
        match normalize(&base.join(relative)) {
            None => self.error(id, at, format!("ageFile path `{path}` leaves the spec repository"),
                "keep encrypted files inside the spec repository"),
            Some(resolved) if !self.catalog.files.contains(&resolved) => self.error(id, at,
                format!("ageFile `{}` does not exist", resolved.display()),
                "create it with `pullsync encrypt --recipient AGE_PUBLIC_KEY --output FILE < values.yaml`, or fix the path (relative to this spec file)"),
            Some(_) => {}
        }
    }

    fn registries(&mut self, object: &Object<super::model::PullSecretSpec>) {
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
            if self.credential_ref(&id, origin, &path, &entry.credential) {
                for field in ["username", "password"] {
                    self.field_resolves(&id, origin, &path, &entry.credential, field);
                }
            }
        }
    }

    fn opaque_data(&mut self, object: &Object<super::model::SecretSpec>) {
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
    fn credential_ref(&mut self, id: &str, origin: &Origin, path: &str, name: &str) -> bool {
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
    fn field_resolves(&mut self, id: &str, origin: &Origin, path: &str, credential: &str, field: &str) {
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

    fn targets(
        &mut self,
        id: &str,
        origin: &Origin,
        namespaces: &[String],
        selector: Option<&LabelSelector>,
    ) {
        if namespaces.is_empty() && selector.is_none() {
            self.error(
                id,
                origin.key_at("spec"),
                "no target namespaces",
                "add `namespaces: [ml-team]` or a `namespaceSelector`",
            );
        }
        self.namespace_list(id, origin, namespaces);
        if let Some(selector) = selector {
            self.selector(id, origin, "spec.namespaceSelector", selector);
        }
    }

    fn namespace_list(&mut self, id: &str, origin: &Origin, namespaces: &[String]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, ns) in namespaces.iter().enumerate() {
            let at = origin.at(&format!("spec.namespaces[{i}]"));
            if let Err(why) = names::dns1123_label(ns) {
                self.error(
                    id,
                    at.clone(),
                    format!("namespace `{ns}` is not valid: it {why}"),
                    "write a namespace name such as `ml-team`",
                );
            }
            if seen.insert(ns, i).is_some() {
                self.warning(
                    id,
                    at,
                    format!("namespace `{ns}` is listed twice"),
                    "remove the duplicate",
                );
            }
        }
    }

    fn selector(&mut self, id: &str, origin: &Origin, path: &str, selector: &LabelSelector) {
        self.key_values(
            id,
            origin,
            &format!("{path}.matchLabels"),
            &selector.match_labels,
            true,
        );
        for (i, req) in selector.match_expressions.iter().enumerate() {
            let base = format!("{path}.matchExpressions[{i}]");
            if let Err(why) = names::qualified_key(&req.key) {
                self.error(
                    id,
                    origin.at(&format!("{base}.key")),
                    format!("label key `{}` is not valid: it {why}", req.key),
                    "write a label key such as `team` or `example.com/team`",
                );
            }
            let needs_values = matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
            if needs_values && req.values.is_empty() {
                self.error(
                    id,
                    origin.at(&base),
                    format!("operator {:?} needs values", req.operator),
                    "add `values: [...]`",
                );
            } else if !needs_values && !req.values.is_empty() {
                self.error(
                    id,
                    origin.at(&format!("{base}.values")),
                    format!("operator {:?} takes no values", req.operator),
                    "remove `values`",
                );
            }
        }
    }

    fn key_values(
        &mut self,
        id: &str,
        origin: &Origin,
        path: &str,
        map: &BTreeMap<String, String>,
        labels: bool,
    ) {
        let what = if labels { "label" } else { "annotation" };
        let mut total = 0;
        for (key, value) in map {
            let at = origin.key_at(&format!("{path}.{key}"));
            total += key.len() + value.len();
            if let Err(why) = names::qualified_key(key) {
                self.error(
                    id,
                    at.clone(),
                    format!("{what} key `{key}` is not valid: it {why}"),
                    "write `name` or `prefix.example.com/name`, e.g. `opendatahub.io/dashboard`",
                );
            } else if key.starts_with(RESERVED_PREFIX) {
                self.error(
                    id,
                    at.clone(),
                    format!("{what} key `{key}` uses the prefix reserved for pullsync"),
                    format!("choose a key outside `{RESERVED_PREFIX}`"),
                );
            } else if ARGOCD_TRACKING_KEYS.contains(&key.as_str()) {
                self.warning(
                    id,
                    at.clone(),
                    format!(
                        "{what} `{key}` is Argo CD's tracking key and is never copied onto generated secrets"
                    ),
                    "remove it: with it, Argo CD would treat the secret as its own and could prune it",
                );
            }
            if labels && let Err(why) = names::label_value(value) {
                self.error(id, origin.at(&format!("{path}.{key}")), format!("label `{key}` has a value that {why}"),
                    "label values are at most 63 characters of [A-Za-z0-9-_.]; put free text in an annotation");
            }
        }
        if !labels && total > names::TOTAL_ANNOTATION_SIZE_MAX {
            self.error(
                id,
                origin.at(path),
                format!(
                    "annotations total {total} bytes, over Kubernetes' limit of {}",
                    names::TOTAL_ANNOTATION_SIZE_MAX
                ),
                "shorten or remove annotations",
            );
        }
    }

    fn rotation(&mut self, id: &str, origin: &Origin, path: &str, rotation: Option<&Rotation>) {
        let Some(rotation) = rotation else { return };
        for (field, value) in [
            ("renewBefore", &rotation.renew_before),
            ("refreshInterval", &rotation.refresh_interval),
        ] {
            if let Some(text) = value
                && let Err(why) = duration::parse(text)
            {
                self.error(
                    id,
                    origin.at(&format!("{path}.{field}")),
                    format!("{field}: {why}"),
                    "durations use s, m, h, d units",
                );
            }
        }
        if let Some(schedule) = &rotation.schedule
            && let Err(why) = super::cron::Schedule::parse(schedule)
        {
            self.error(
                id,
                origin.at(&format!("{path}.schedule")),
                format!("schedule is not a valid cron expression: {why}"),
                "write e.g. `0 3 * * *` (minute hour day-of-month month day-of-week, UTC)",
            );
        }
    }
}

/// Resolve `.` and `..` without touching the file system; `None` if it climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Where an `ageFile` path points, relative to the spec root.
pub fn age_file_path(origin: &Origin, path: &str) -> Option<PathBuf> {
    let base = origin.file.parent().unwrap_or(Path::new(""));
    normalize(&base.join(path))
}
