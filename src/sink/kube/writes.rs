//! The Secret writes of the Kubernetes sink: create, adopt-or-conflict on an existing one,
//! apply, removal of keys no longer rendered, and guarded prunes.

use super::*;

impl KubeSink<'_> {
    pub(super) async fn create(&self, rendered: &Rendered) -> Result<(Status, String), CallError> {
        let body = serde_json::to_vec(&manifest::manifest(rendered, true)).unwrap_or_default();
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let request = secrets_path(&rendered.namespace);
        match self
            .kube
            .call_as::<WriteAnswer, _>(OnConflict::Retry, || request.create(&params, body.clone()))
            .await
        {
            Ok(created) => {
                self.remember(rendered, &created);
                Ok((Status::Created, String::new()))
            }
            Err(e) if e.reason() == "AlreadyExists" => self.existing(rendered).await,
            Err(e) => Err(e),
        }
    }

    /// A Secret of this name exists but was not in our inventory: ours after all (a race),
    /// adoptable, or someone else's.
    pub(super) async fn existing(&self, rendered: &Rendered) -> Result<(Status, String), CallError> {
        match self.found(rendered).await? {
            Some(Found::Ours) => self
                .apply(rendered)
                .await
                .map(|_| (Status::Updated, "changed: found on create".into())),
            Some(Found::Adoptable) => self
                .apply(rendered)
                .await
                .map(|_| (Status::Adopted, "taken over (adopt: true)".into())),
            Some(Found::Foreign) => Ok((
                Status::Conflict,
                format!(
                    "a Secret named {} already exists and is not managed by pullsync; left alone (set `adopt: true` in {} to take it over)",
                    rendered.name, rendered.spec_ref
                ),
            )),
            // It existed a moment ago and is gone: the next sync creates it.
            None => Ok((
                Status::Skipped,
                "deleted by someone else while being created; created on the next sync".into(),
            )),
        }
    }

    pub(super) async fn apply(&self, rendered: &Rendered) -> Result<(), CallError> {
        let body = manifest::manifest(rendered, true);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let request = secrets_path(&rendered.namespace);
        let applied = self
            .kube
            .call_as::<WriteAnswer, _>(OnConflict::Retry, || {
                request.patch(&rendered.name, &params, &Patch::Apply(&body))
            })
            .await?;
        self.remember(rendered, &applied);
        Ok(())
    }

    /// Remove keys pullsync's create wrote and the specs no longer render, with a JSON merge
    /// patch (`null` deletes; RFC 7386) under pullsync's field manager: an apply alone leaves
    /// them, since the create's `Update` entry still owns them (Kubernetes docs, Server-Side
    /// Apply: a field is removed only when no other manager owns it).
    pub(super) async fn remove_created(&self, rendered: &Rendered, keys: &[String]) -> Result<(), CallError> {
        let mut patch = serde_json::json!({});
        for key in keys {
            let name = key.split_once('/').map_or("", |(_, name)| name);
            let at = match Change::of_key(key) {
                Some(part @ (Change::Labels | Change::Annotations)) => &mut patch["metadata"][part.as_str()],
                Some(Change::Data) => &mut patch["data"],
                Some(Change::Drift) | None => continue,
            };
            at[name] = Value::Null;
        }
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let request = secrets_path(&rendered.namespace);
        let patched = self
            .kube
            .call_as::<WriteAnswer, _>(OnConflict::Retry, || {
                request.patch(&rendered.name, &params, &Patch::Merge(&patch))
            })
            .await?;
        self.remember(rendered, &patched);
        Ok(())
    }

    pub(super) async fn prune(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<(Status, String), CallError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: Some(resource_version.to_string()),
                uid: None,
            }),
            ..Default::default()
        };
        let request = secrets_path(namespace);
        match self
            .kube
            .call(OnConflict::Return, || request.delete(name, &params))
            .await
        {
            Ok(_) => {
                if let Some(informer) = &self.informer {
                    informer.expect_deleted(namespace, name);
                }
                Ok((Status::Pruned, String::new()))
            }
            Err(e) if e.is_not_found() => Ok((Status::Pruned, "already gone".into())),
            Err(e) if e.code() == Some(409) => Ok((
                Status::Skipped,
                "changed since it was observed; not pruned this time".into(),
            )),
            Err(e) => Err(e),
        }
    }
}
