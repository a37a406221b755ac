//! `pullsync status`: read the daemon's `/status` (directly, or through the API server's
//! service proxy so no port-forward is needed) and print it as tables or as the JSON itself
//! (effect; the tables are drawn by `status_table`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::Output;
use crate::daemon::status::Status;

/// Where `/status` is read from.
pub enum From {
    Url(String),
    /// The kubeconfig and the daemon's Service (`NAMESPACE/NAME:PORT`).
    Proxy {
        kubeconfig: PathBuf,
        service: String,
    },
}

/// The in-cluster address of the chart's Service (as `pullsync wait` uses).
const DEFAULT_URL: &str = "http://pullsync.pullsync-system.svc:8080/status";

/// The API server path that proxies to `/status` of a Service given as `NAMESPACE/NAME:PORT`.
/// (Kubernetes API: "proxy" subresource of Service, `name[:port]`, port by name or number.)
pub fn proxy_path(service: &str) -> Result<String, String> {
    let wrong =
        || format!("--service `{service}`: write NAMESPACE/NAME:PORT, e.g. pullsync-system/pullsync:http");
    let (namespace, rest) = service.split_once('/').ok_or_else(wrong)?;
    let (name, port) = rest.split_once(':').ok_or_else(wrong)?;
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !(dns_label(namespace) && dns_label(name) && dns_label(port)) {
        return Err(wrong());
    }
    Ok(format!(
        "/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy/status"
    ))
}

async fn read(from: &From) -> Result<serde_json::Value, String> {
    match from {
        From::Url(url) => super::wait::get_json(url).await,
        From::Proxy { kubeconfig, service } => {
            let path = proxy_path(service)?;
            let settings = crate::k8s::KubeSettings {
                kubeconfig: Some(kubeconfig.clone()),
                qps: 5.0,
                burst: 5,
                concurrency: 1,
                // A person is waiting: one attempt, the API server's answer at once.
                max_attempts: 1,
                identity: None,
            };
            let kube = crate::k8s::Kube::connect(&settings)
                .await
                .map_err(|e| e.to_string())?;
            kube.call(crate::k8s::OnConflict::Return, || {
                http::Request::get(path.as_str())
                    .header(http::header::ACCEPT, "application/json")
                    .body(Vec::new())
                    .map_err(kube::core::request::Error::BuildRequest)
            })
            .await
            .map_err(|e| format!("{e} (through the API server's proxy to {service})"))
        }
    }
}

pub async fn run(
    status_url: Option<String>,
    kubeconfig: Option<PathBuf>,
    service: String,
    output: Output,
) -> ExitCode {
    let from = match (status_url, kubeconfig) {
        (Some(url), _) => From::Url(url),
        (None, Some(kubeconfig)) => From::Proxy { kubeconfig, service },
        (None, None) => From::Url(DEFAULT_URL.to_string()),
    };
    let where_ = match &from {
        From::Url(url) => url.clone(),
        From::Proxy { service, .. } => format!("service {service}"),
    };
    let json = match read(&from).await {
        Ok(json) => json,
        Err(error) => {
            eprintln!("error: cannot read the daemon's status from {where_}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        Output::Json => {
            println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        }
        Output::Text => {
            let status: Status = match serde_json::from_value(json) {
                Ok(status) => status,
                Err(error) => {
                    eprintln!("error: {where_} did not answer a pullsync /status document: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let stdout = std::io::stdout();
            // Colour only for a person at a terminal (and never with NO_COLOR, no-color.org).
            let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let table = super::status_table::draw(&status, std::time::SystemTime::now(), colour);
            print!("{table}");
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_path_names_the_service_and_refuses_anything_else() {
        assert_eq!(
            proxy_path("pullsync-system/pullsync:http").unwrap(),
            "/api/v1/namespaces/pullsync-system/services/pullsync:http/proxy/status"
        );
        assert_eq!(
            proxy_path("ops/sync:8080").unwrap(),
            "/api/v1/namespaces/ops/services/sync:8080/proxy/status"
        );
        for bad in [
            "pullsync",
            "ns/name",
            "ns/na/me:http",
            "../x/y:z",
            "ns/name:http/../../secrets",
            "NS/x:y",
        ] {
            let error = proxy_path(bad).unwrap_err();
            assert!(error.contains("NAMESPACE/NAME:PORT"), "{bad}: {error}");
        }
    }
}
