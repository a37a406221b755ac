//! `schema` and `encrypt`: helpers around the specs that need no cluster (effect: stdout,
//! stdin, one output file).

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::credentials::age_file;
use crate::spec::model;

pub(super) fn schema(kind: Option<&str>) -> anyhow::Result<ExitCode> {
    use schemars::schema_for;
    let all = [
        (
            "Credential",
            serde_json::to_value(schema_for!(model::Document<model::CredentialSpec>))?,
        ),
        (
            "PullSecret",
            serde_json::to_value(schema_for!(model::Document<model::PullSecretSpec>))?,
        ),
        (
            "Secret",
            serde_json::to_value(schema_for!(model::Document<model::SecretSpec>))?,
        ),
        (
            "Defaults",
            serde_json::to_value(schema_for!(model::Document<model::DefaultsSpec>))?,
        ),
        (
            "Tenant",
            serde_json::to_value(schema_for!(model::Document<model::TenantSpec>))?,
        ),
    ];
    let doc = match kind {
        Some(kind) => match all.iter().find(|(k, _)| k.eq_ignore_ascii_case(kind)) {
            Some((_, schema)) => schema.clone(),
            None => anyhow::bail!("unknown kind `{kind}`; kinds: {}", model::KINDS.join(", ")),
        },
        None => serde_json::Value::Object(all.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn encrypt(
    recipients: &[String],
    files: &[std::path::PathBuf],
    armor: bool,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    let recipients = age_file::recipients(recipients, files)?;
    let mut plaintext = Vec::new();
    std::io::stdin()
        .read_to_end(&mut plaintext)
        .context("reading values from stdin")?;
    let sealed = age_file::encrypt(&plaintext, &recipients, armor)?;
    std::fs::write(output, sealed).with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "encrypted to {} recipient(s): {}",
        recipients.len(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
