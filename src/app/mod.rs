//! The commands: wire load → validate → resolve → fetch → render → sink, and print results
//! (effect). Exit codes: 0 success, 1 invalid specs or failed secrets, 2 usage errors.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::{Cli, Command, Output, RenderOutput};
use crate::credentials::{self, age_file};
use crate::engine::config::RenderConfig;
use crate::render::manifest;
use crate::sink::dir::{self, DirOptions};
use crate::spec::resolve::{Layer, Namespaces};
use crate::spec::{self, Diagnostic};

pub(crate) mod cluster;

use crate::engine::context::Context;
use crate::engine::error::Stop;
use crate::engine::pipeline::{Resolved, check_and_resolve, pipeline, vault_session};
use crate::spec::tenancy::TenancySettings;
pub mod explain;
mod tools;

use tools::{encrypt, schema};
mod status;
mod status_table;
mod wait;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate {
            dir,
            output,
            check_sources,
            render,
        } => {
            let render = render.config()?;
            let code = validate(&dir, output, &render.tenancy, &render.cluster)?;
            if check_sources && code == ExitCode::SUCCESS {
                return check_sources_cmd(&dir, &render).await;
            }
            Ok(code)
        }
        Command::Render {
            dir,
            output,
            show_secrets,
            render,
        } => render_cmd(&dir, output, show_secrets, &render.config()?).await,
        Command::Sync {
            once,
            repo,
            out,
            auth_json,
            render,
            cluster,
            output,
        } => match out {
            Some(out) => sync(once, &repo, &out, auth_json, &render.config()?).await,
            None => cluster::sync(once, &repo, &render.config()?, &cluster.config(), output).await,
        },
        Command::Plan {
            repo,
            render,
            cluster,
            output,
        } => cluster::plan(&repo, &render.config()?, &cluster.config(), output).await,
        Command::Schema { kind } => schema(kind.as_deref()),
        Command::CredentialProvider {
            url,
            ca_file,
            resolve,
            timeout,
            attempts,
        } => {
            let options = crate::provider::plugin::PluginOptions {
                url,
                ca_file,
                resolve,
                timeout,
                attempts,
            };
            crate::provider::plugin::run(&options).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::InstallCredentialProvider {
            bin_dir,
            config,
            node_config_dir,
            url,
            resolve,
            ca_file,
            match_images,
            audience,
            default_cache_duration,
            wait,
        } => {
            let options = crate::provider::install::InstallOptions {
                bin_dir,
                config,
                node_config_dir,
                url,
                resolve,
                ca_file,
                match_images,
                audience,
                default_cache: default_cache_duration,
                wait,
            };
            crate::provider::install::run(&options).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Status {
            status_url,
            kubeconfig,
            service,
            output,
        } => Ok(status::run(status_url, kubeconfig, service, output).await),
        Command::Run {
            repo,
            listen,
            resync_interval,
            poll_interval,
            leader_election,
            lease_duration,
            renew_deadline,
            retry_period,
            identity,
            git_url,
            git_ref,
            git_path,
            git_cache,
            // Set process-wide in `main` (libgit2's own option).
            git_timeout: _,
            git_token_file,
            git_ssh_key,
            git_known_hosts,
            verify_commits,
            allowed_signers,
            webhook_secret_file,
            admission_listen,
            admission_tls_cert,
            admission_tls_key,
            admission_mode,
            admission_anonymous,
            admission_read_unmanaged,
            provider_listen,
            provider_tls_cert,
            provider_tls_key,
            provider_audience,
            provider_max_cache,
            render,
            cluster,
        } => {
            let provider = match (provider_listen, provider_tls_cert, provider_tls_key) {
                (Some(listen), Some(cert), Some(key)) => Some(crate::provider::server::ProviderOptions {
                    listen,
                    cert,
                    key,
                    audience: provider_audience,
                    max_cache: provider_max_cache,
                }),
                _ => None,
            };
            let admission = match (admission_listen, admission_tls_cert, admission_tls_key) {
                (Some(listen), Some(cert), Some(key)) => Some(crate::admission::server::AdmissionOptions {
                    listen,
                    cert,
                    key,
                    mode: admission_mode,
                    anonymous: admission_anonymous,
                    read_unmanaged: admission_read_unmanaged,
                }),
                _ => None,
            };
            let git = git_url.map(|url| crate::repo::GitSource {
                url,
                reference: crate::repo::GitRef::parse(&git_ref),
                subpath: git_path.unwrap_or_default(),
                cache: git_cache,
                auth: crate::repo::GitAuth {
                    token_file: git_token_file,
                    ssh_key: git_ssh_key,
                    known_hosts: git_known_hosts,
                },
                verify: verify_commits.zip(allowed_signers),
            });
            let options = crate::daemon::RunOptions {
                repo: repo.unwrap_or_default(),
                git,
                webhook_secret: webhook_secret_file,
                admission,
                provider,
                listen,
                resync: resync_interval,
                poll: poll_interval,
                leader_election,
                lease: crate::k8s::leader::LeaseTiming::new(lease_duration, renew_deadline, retry_period)
                    .map_err(|e| anyhow::anyhow!(e))?,
                identity: identity.unwrap_or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .map(|h| h.trim().to_string())
                        .unwrap_or_else(|_| format!("pullsync-{}", std::process::id()))
                }),
            };
            Ok(crate::daemon::run(options, render.config()?, cluster.config()).await?)
        }
        Command::Wait {
            revision,
            namespaces,
            status_url,
            timeout,
        } => wait::run(&revision, &namespaces, &status_url, timeout).await,
        Command::Explain {
            image,
            dockerconfig,
            repo,
            namespace,
            age_identity,
            output,
        } => {
            let candidates = match repo {
                Some(dir) => explain::Candidates::Repo {
                    dir,
                    namespace: namespace.unwrap_or_default(),
                    age_identity,
                },
                None => explain::Candidates::Files(dockerconfig),
            };
            explain::run(&image, &candidates, output).await
        }
        Command::Encrypt {
            recipients,
            recipients_files,
            armor,
            output,
        } => encrypt(&recipients, &recipients_files, armor, &output),
        Command::Version => {
            println!("pullsync {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}

fn validate(
    dir: &Path,
    output: Output,
    tenancy: &TenancySettings,
    identity: &crate::spec::fleet::ClusterIdentity,
) -> anyhow::Result<ExitCode> {
    let (diagnostics, objects) = match check_and_resolve(dir, &Namespaces::default(), tenancy, identity) {
        Err(Stop::Failed(error)) => return Err(error.into()),
        Ok(Resolved {
            checked,
            desired,
            mut diagnostics,
            tenancy,
        }) => {
            // Offline, a tenancy rejection is an error like any other (exit 1).
            diagnostics.extend(tenancy.diagnostics);
            spec::diag::sort(&mut diagnostics);
            let c = &checked.catalog;
            let count = c.credentials.len()
                + c.pull_secrets.len()
                + c.secrets.len()
                + c.defaults.len()
                + c.tenants.len();
            tracing::debug!(
                objects = count,
                secrets = desired.secrets.len(),
                "specs are valid"
            );
            (diagnostics, count)
        }
        Err(Stop::Invalid(diagnostics)) => (diagnostics, 0),
    };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    match output {
        Output::Json => {
            let doc = json!({
                "valid": errors == 0,
                "errors": errors,
                "warnings": diagnostics.len() - errors,
                "objects": objects,
                "diagnostics": diagnostics,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            print_diagnostics(&diagnostics);
            if errors == 0 {
                println!(
                    "{}: valid ({objects} objects, {} warning(s))",
                    dir.display(),
                    diagnostics.len()
                );
            } else {
                println!(
                    "{}: {errors} error(s), {} warning(s)",
                    dir.display(),
                    diagnostics.len() - errors
                );
            }
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `validate --check-sources`: fetch every credential once; report which cannot be read.
async fn check_sources_cmd(dir: &Path, args: &RenderConfig) -> anyhow::Result<ExitCode> {
    let checked = spec::check(dir)?;
    let catalog = &checked.catalog;
    let context = Context {
        age_identities: args
            .age_identity
            .as_deref()
            .map(age_file::Identities::load)
            .transpose()?
            .map(std::sync::Arc::new),
        vault: vault_session(args)?,
        files: args.file_policy(false, []),
        aws: args.aws.clone(),
        azure_authority: args.azure_authority.clone(),
        source_timeout: credentials::SourceTimeout(args.source_timeout),
        ..Context::default()
    };
    let names: BTreeSet<&str> = catalog.credentials.iter().map(|c| c.name.as_str()).collect();
    let values = credentials::fetch_all(catalog, &names, &context.sources()).await;
    for (name, value) in &values.ok {
        println!(
            "ok      Credential/{name}: {} (version {}, fields: {})",
            value.origin,
            value.version,
            value.fields.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    for (name, error) in &values.failed {
        println!("FAILED  Credential/{name}: {error}");
    }
    Ok(if values.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn layer_text(layer: &Layer) -> String {
    match layer {
        Layer::Builtin => "pullsync".into(),
        Layer::Cluster { defaults, at } => format!("cluster Defaults/{defaults} ({at})"),
        Layer::Namespace { defaults, at } => format!("namespace Defaults/{defaults} ({at})"),
        Layer::Object { at } => format!("the object ({at})"),
    }
}

async fn render_cmd(
    dir: &Path,
    output: RenderOutput,
    show_secrets: bool,
    args: &RenderConfig,
) -> anyhow::Result<ExitCode> {
    let pipeline = match pipeline(dir, args, &Context::default()).await {
        Ok(p) => p,
        Err(Stop::Failed(error)) => return Err(error.into()),
        Err(Stop::Invalid(diagnostics)) => {
            print_diagnostics(&diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    print_diagnostics(&pipeline.diagnostics);
    let outcome = &pipeline.outcome;
    let mut stdout = std::io::stdout().lock();
    match output {
        RenderOutput::Json => {
            let secrets: Vec<_> = outcome
                .rendered
                .iter()
                .map(|r| {
                    json!({
                        "namespace": r.namespace,
                        "name": r.name,
                        "spec": r.spec_ref,
                        "manifest": manifest::manifest(r, show_secrets),
                        "provenance": r.provenance,
                    })
                })
                .collect();
            let failed: Vec<_> = outcome
                .failed
                .iter()
                .map(|f| json!({"namespace": f.namespace, "name": f.name, "spec": f.spec_ref, "reason": f.reason}))
                .collect();
            let doc = json!({"revision": pipeline.revision, "secrets": secrets, "failed": failed});
            writeln!(stdout, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        RenderOutput::Yaml => {
            for r in &outcome.rendered {
                writeln!(stdout, "---")?;
                writeln!(stdout, "# {}/{} from {}", r.namespace, r.name, r.spec_ref)?;
                for (key, layer) in &r.provenance {
                    writeln!(stdout, "#   {key}: from {}", layer_text(layer))?;
                }
                write!(stdout, "{}", manifest::to_yaml(r, show_secrets))?;
            }
        }
    }
    for f in &outcome.failed {
        eprintln!("error: {}/{} ({}): {}", f.namespace, f.name, f.spec_ref, f.reason);
    }
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn sync(
    once: bool,
    repo: &Path,
    out: &Path,
    auth_json: bool,
    args: &RenderConfig,
) -> anyhow::Result<ExitCode> {
    if !once {
        anyhow::bail!("only `sync --once` exists so far; the long-running daemon is not built yet");
    }
    let context = Context {
        digest_key: Some(dir::digest_key(out)?),
        ..Context::default()
    };
    let pipeline = match pipeline(repo, args, &context).await {
        Ok(p) => p,
        Err(Stop::Failed(error)) => return Err(error.into()),
        Err(Stop::Invalid(diagnostics)) => {
            print_diagnostics(&diagnostics);
            eprintln!("nothing was written: fix the errors above");
            return Ok(ExitCode::FAILURE);
        }
    };
    print_diagnostics(&pipeline.diagnostics);
    let options = DirOptions {
        out: out.to_path_buf(),
        instance: args.instance.clone(),
        auth_json,
    };
    let report = dir::sync(&pipeline.outcome, &options).context("writing secrets")?;
    for warning in &report.warnings {
        tracing::warn!(%warning, "auth.json");
    }
    for path in &report.written {
        tracing::info!(file = %path.display(), "written");
    }
    for path in &report.removed {
        tracing::info!(file = %path.display(), "removed (no longer in the specs)");
    }
    for path in &report.kept {
        tracing::warn!(file = %path.display(), "kept the last good file: its secret failed to render");
    }
    println!(
        "revision {}: {} secret(s) rendered, {} file(s) written, {} unchanged, {} removed, {} failed",
        pipeline.revision,
        pipeline.outcome.rendered.len(),
        report.written.len(),
        report.unchanged.len(),
        report.removed.len(),
        pipeline.outcome.failed.len()
    );
    for f in &pipeline.outcome.failed {
        eprintln!("error: {}/{} ({}): {}", f.namespace, f.name, f.spec_ref, f.reason);
    }
    Ok(if pipeline.outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
