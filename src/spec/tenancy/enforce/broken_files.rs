//! A tenant's broken spec files, taken out of the revision without stopping everyone else's.

use super::*;

/// Specs a tenant broke (a YAML error, an unknown field, a dangling reference) take only that
/// tenant's file out of the revision, not everyone's: the file's objects are dropped, their
/// earlier Secrets kept, the errors reported as rejections. An error in a platform file — or
/// anywhere under `--strict-tenancy` — still stops the whole revision (the caller sees it in
/// `diagnostics`). Repeats while dropping a file exposes errors in other tenants' files.
pub fn isolate_broken_files(
    policy: &Policy,
    catalog: &mut Catalog,
    diagnostics: &mut Vec<Diagnostic>,
    verdict: &mut Verdict,
) {
    if policy.strict {
        return;
    }
    for _ in 0..8 {
        let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
        if errors.is_empty()
            || errors
                .iter()
                .any(|d| tenant_of(policy, &d.position.file).is_none())
        {
            return;
        }
        let files: BTreeSet<PathBuf> = errors.iter().map(|d| d.position.file.clone()).collect();
        let (moved, kept): (Vec<Diagnostic>, Vec<Diagnostic>) = std::mem::take(diagnostics)
            .into_iter()
            .partition(|d| files.contains(&d.position.file));
        for d in moved.into_iter().filter(Diagnostic::is_error) {
            let tenant = tenant_of(policy, &d.position.file).unwrap_or_default();
            let mut d = d;
            d.message = format!(
                "tenant `{tenant}`, rule `schema`: {}; this file is left out",
                d.message
            );
            verdict.diagnostics.push(d);
        }
        let dropped = |file: &Path| files.contains(file);
        // `file#`: every Secret written from this file is kept (its objects may not even parse).
        for file in &files {
            verdict
                .held
                .insert(format!("{}#", file.display()), "its spec file has errors".into());
        }
        catalog.credentials.retain(|o| !dropped(&o.origin.file));
        catalog.pull_secrets.retain(|o| !dropped(&o.origin.file));
        catalog.secrets.retain(|o| !dropped(&o.origin.file));
        catalog.defaults.retain(|o| !dropped(&o.origin.file));
        catalog.tenants.retain(|o| !dropped(&o.origin.file));
        // Checked again without those files: a reference into them is now an error of its own.
        *diagnostics = kept.into_iter().filter(|d| !d.is_error()).collect();
        let warnings: BTreeSet<String> = diagnostics.iter().map(ToString::to_string).collect();
        diagnostics.extend(
            crate::spec::validate::validate(catalog)
                .into_iter()
                .filter(|d| !warnings.contains(&d.to_string())),
        );
    }
}
