//! How long things take and how often the API server is called: the histograms and counters
//! a dashboard needs, beside the gauges `/status` derives. One [`Metrics`] per process, cloned
//! into whatever observes (the engine, the credential sources, the Kubernetes client); every
//! clone shares the same series (`prometheus-client` keeps them behind an `Arc`), and
//! `/metrics` registers them at each scrape. Labels are kinds, verbs and codes — never a
//! credential's value, a path or a namespace (bounded cardinality on a 10,000-namespace install).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The HTTP status, or `error` when no answer came (connection, timeout).
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// A whole sync: 50 ms … 100 s.
fn sync_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

/// One credential fetch: 5 ms … 20 s (the source timeout is 25 s by default).
fn fetch_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// One object write or one API request: 2 ms … 8 s.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.002, 2.0, 13))
}

/// One admission answer: 50 µs … 0.4 s (computed in memory).
fn admission_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 14))
}

#[derive(Clone)]
pub struct Metrics {
    sync: Histograms<ResultLabel>,
    fetch: Histograms<SourceLabel>,
    apply: Histograms<ActionLabel>,
    requests: Family<RequestLabels, Counter>,
    request_duration: Histograms<MethodLabel>,
    admissions: Family<ResultLabel, Counter>,
    admission_duration: Histograms<ResultLabel>,
    provided: Family<ResultLabel, Counter>,
    provider_duration: Histograms<ResultLabel>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sync: Family::new_with_constructor(sync_buckets),
            fetch: Family::new_with_constructor(fetch_buckets),
            apply: Family::new_with_constructor(request_buckets),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(request_buckets),
            admissions: Family::default(),
            admission_duration: Family::new_with_constructor(admission_buckets),
            provided: Family::default(),
            // A TokenReview per answer: the request buckets (2 ms … 8 s).
            provider_duration: Family::new_with_constructor(request_buckets),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A sync ended: `result` is the word `/status` counts it under (`success`, `failed`,
    /// `invalid`, `error`).
    pub fn sync_done(&self, result: &str, took: Duration) {
        self.sync
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// A credential was fetched from its source (`vault`, `ecr`, …), successfully or not;
    /// answers from the cache are not fetches.
    pub fn fetched(&self, source: &str, took: Duration) {
        self.fetch
            .get_or_create(&SourceLabel {
                source: source.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One planned action (`create`, `update`, `prune`, `patch-sa`, `restart`) was carried
    /// out, retries included.
    pub fn applied(&self, action: &str, took: Duration) {
        self.apply
            .get_or_create(&ActionLabel {
                action: action.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One request to the API server was answered (`code`: its status) or not (`None`).
    pub fn requested(&self, method: &str, code: Option<u16>, took: Duration) {
        let code = code.map_or_else(|| "error".to_string(), |c| c.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                code,
            })
            .inc();
        self.request_duration
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The admission webhook answered a review: `allowed`, `warned` or `denied`.
    pub fn admitted(&self, result: &str, took: Duration) {
        let label = ResultLabel {
            result: result.to_string(),
        };
        self.admissions.get_or_create(&label).inc();
        self.admission_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// The credential provider answered a kubelet: `served`, `empty` (no spec gives the
    /// pod's namespace a credential for the image), `refused` (the token did not pass) or
    /// `unavailable` (not ready, or the credential could not be fetched).
    pub fn provided(&self, result: &str, took: Duration) {
        let label = ResultLabel {
            result: result.to_string(),
        };
        self.provided.get_or_create(&label).inc();
        self.provider_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// Provider requests answered so far, by result (for `/status`).
    pub fn provider_counts(&self) -> std::collections::BTreeMap<String, u64> {
        ["served", "empty", "refused", "unavailable"]
            .into_iter()
            .map(|result| {
                let label = ResultLabel {
                    result: result.to_string(),
                };
                (result.to_string(), self.provided.get_or_create(&label).get())
            })
            .collect()
    }

    /// Add these series to a scrape's registry (clones share the observations).
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "pullsync_sync_duration",
            "How long one sync took, by result",
            prometheus_client::registry::Unit::Seconds,
            self.sync.clone(),
        );
        registry.register_with_unit(
            "pullsync_source_fetch_duration",
            "How long one credential fetch took, by source kind (cache answers excluded)",
            prometheus_client::registry::Unit::Seconds,
            self.fetch.clone(),
        );
        registry.register_with_unit(
            "pullsync_apply_duration",
            "How long one planned action took against the API server, retries included",
            prometheus_client::registry::Unit::Seconds,
            self.apply.clone(),
        );
        registry.register(
            "pullsync_kube_requests",
            "Requests to the Kubernetes API server by method and status (watches excluded)",
            self.requests.clone(),
        );
        registry.register(
            "pullsync_admission_reviews",
            "Pod admission reviews answered, by result (allowed, warned, denied)",
            self.admissions.clone(),
        );
        registry.register_with_unit(
            "pullsync_admission_review_duration",
            "How long one admission review took to answer",
            prometheus_client::registry::Unit::Seconds,
            self.admission_duration.clone(),
        );
        registry.register(
            "pullsync_provider_requests",
            "Image credential provider requests answered, by result (served, empty, refused, unavailable)",
            self.provided.clone(),
        );
        registry.register_with_unit(
            "pullsync_provider_request_duration",
            "How long one image credential provider request took to answer, TokenReview included",
            prometheus_client::registry::Unit::Seconds,
            self.provider_duration.clone(),
        );
        registry.register_with_unit(
            "pullsync_kube_request_duration",
            "How long one request to the API server took, by method",
            prometheus_client::registry::Unit::Seconds,
            self.request_duration.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_series_and_encode_with_units() {
        let metrics = Metrics::default();
        let clone = metrics.clone();
        clone.sync_done("success", Duration::from_millis(120));
        clone.fetched("vault", Duration::from_millis(30));
        clone.applied("create", Duration::from_millis(4));
        clone.requested("PUT", Some(200), Duration::from_millis(3));
        clone.requested("GET", None, Duration::from_secs(30));
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "pullsync_sync_duration_seconds_count{result=\"success\"} 1",
            "pullsync_sync_duration_seconds_bucket{le=\"0.2\",result=\"success\"} 1",
            "pullsync_source_fetch_duration_seconds_count{source=\"vault\"} 1",
            "pullsync_apply_duration_seconds_count{action=\"create\"} 1",
            "pullsync_kube_requests_total{method=\"PUT\",code=\"200\"} 1",
            "pullsync_kube_requests_total{method=\"GET\",code=\"error\"} 1",
            "pullsync_kube_request_duration_seconds_count{method=\"GET\"} 1",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }
}
