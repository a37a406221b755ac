//! What the image credential provider may answer (pure data, in memory only, never written):
//! per namespace, the logins that PullSecrets with `delivery: provider` or `both` give it —
//! each registry key with its username and password, the ServiceAccounts it is limited to —
//! and until when an answer stays true. Built by the leader's sync from the same resolved
//! intents and fetched values as the Secrets, so one fetch per credential serves every pod that
//! asks, and a pod can only ever receive what the specs give its own namespace.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use crate::render::login_of;
use crate::spec::Catalog;
use crate::spec::resolve::{Desired, IntentBody, Payload};
use crate::value::credential::Values;
use crate::value::secret::SecretValue;

/// One registry entry as the kubelet receives it.
#[derive(Debug, Clone)]
pub struct Login {
    /// The `auths` key exactly as the spec writes it (the kubelet matches it again).
    pub server: String,
    pub username: SecretValue,
    pub password: SecretValue,
}

/// One provider-delivered pull credential, shared by every namespace it reaches.
#[derive(Debug)]
pub struct Provided {
    /// The PullSecret's name.
    pub name: String,
    /// `file#PullSecret/NAME`.
    pub spec_ref: String,
    /// Empty: every ServiceAccount of the namespace; else only these.
    pub service_accounts: Vec<String>,
    /// The registry keys in spec order (known even when the logins are not).
    pub servers: Vec<String>,
    /// The logins, or why this sync has none (a credential failed with no last good value).
    pub logins: Result<Vec<Login>, String>,
    /// The soonest expiry or renewal of the credentials behind it: no answer is cached past it.
    pub valid_until: Option<SystemTime>,
}

impl Provided {
    /// Whether a pod running as `account` may receive it.
    pub fn serves(&self, account: &str) -> bool {
        self.service_accounts.is_empty() || self.service_accounts.iter().any(|a| a == account)
    }
}

#[derive(Debug, Default)]
pub struct ProviderIndex {
    /// Namespace → what the provider gives pods there.
    pub namespaces: BTreeMap<String, Vec<Arc<Provided>>>,
    /// The revision it was built from.
    pub revision: String,
    /// Whether the leader's sync has filled it in (before that, nothing is answered).
    pub ready: bool,
}

impl ProviderIndex {
    /// From one sync's intents and values; `renews` gives each credential's next renewal
    /// (its cache entry's due time), `None` where nothing is kept between syncs.
    pub fn build<E: std::fmt::Display>(
        desired: &Desired,
        catalog: &Catalog,
        values: &Values<E>,
        renews: &dyn Fn(&str) -> Option<SystemTime>,
        revision: &str,
    ) -> ProviderIndex {
        let mut index = ProviderIndex {
            revision: revision.to_string(),
            ready: true,
            ..ProviderIndex::default()
        };
        // One entry per intent body: a fan-out to 10,000 namespaces is one set of logins.
        let mut built: HashMap<*const IntentBody, Arc<Provided>> = HashMap::new();
        for intent in desired.secrets.values() {
            let Payload::Pull(registries) = &intent.payload else {
                continue;
            };
            if !intent.delivery.provided() {
                continue;
            }
            let provided = built
                .entry(Arc::as_ptr(&intent.body))
                .or_insert_with(|| {
                    let logins = registries
                        .iter()
                        .map(|entry| {
                            login_of(catalog, values, entry).map(|(username, password)| Login {
                                server: entry.server.clone(),
                                username,
                                password,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>();
                    let valid_until = intent
                        .credentials()
                        .into_iter()
                        .flat_map(|c| {
                            let expires = values.ok.get(c).and_then(|v| v.expires_at);
                            [expires, renews(c)]
                        })
                        .flatten()
                        .min();
                    Arc::new(Provided {
                        name: intent.name.clone(),
                        spec_ref: intent.spec_ref.clone(),
                        service_accounts: intent.service_accounts.clone(),
                        servers: registries.iter().map(|r| r.server.clone()).collect(),
                        logins,
                        valid_until,
                    })
                })
                .clone();
            index
                .namespaces
                .entry(intent.namespace.clone())
                .or_default()
                .push(provided);
        }
        index
    }

    /// How many namespaces and distinct credentials it serves (for `/status`).
    pub fn counts(&self) -> (usize, usize) {
        let distinct: std::collections::HashSet<*const Provided> =
            self.namespaces.values().flatten().map(Arc::as_ptr).collect();
        (self.namespaces.len(), distinct.len())
    }
}
