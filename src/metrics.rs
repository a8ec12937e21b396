//! Every Prometheus series tokengate exports, named and documented in one place.
//!
//! Series are created unregistered; [`EdgeMetrics::register`] adds them to any registry (the binary uses the
//! process-wide default one, an embedding proxy may pass its own). Hot-path label values are resolved once, at build
//! time, into handles ([`RouteHandles`], [`EdgeMetrics::allowed`], [`EdgeMetrics::denied`]), so counting a request is an atomic add.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use crate::edge::deny::{Denial, InvalidToken, Outcome};

/// Latency buckets for auth decisions (seconds): from a cache hit (microseconds) to a slow IdP.
const AUTH_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Latency buckets for calls to other servers (seconds).
const REMOTE_BUCKETS: &[f64] =
    &[0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The name of every series, with its help text, for README and tests.
pub const SERIES: &[(&str, &str)] = &[
    ("tokengate_requests_total", "Requests by route and outcome (allowed, public, missing_token, invalid_token, insufficient_scope, bad_request, no_route, unavailable, rate_limited)."),
    ("tokengate_auth_decisions_total", "Token decisions by result (allow, deny) and reason."),
    ("tokengate_auth_duration_seconds", "Time to decide on a request that needs a token, cache hits included."),
    ("tokengate_token_cache_requests_total", "Verified-token cache lookups by kind (jwt, opaque) and result (hit, miss)."),
    ("tokengate_token_cache_entries", "Entries in the verified-token caches by kind (jwt, opaque)."),
    ("tokengate_introspection_requests_total", "RFC 7662 introspection calls by status (HTTP status code, timeout, error, invalid_response)."),
    ("tokengate_introspection_duration_seconds", "Duration of introspection calls."),
    ("tokengate_introspection_circuit_open", "1 while an issuer's introspection breaker is open (calls suspended after failures, one probe per interval), else 0."),
    ("tokengate_jwks_fetches_total", "JWKS and discovery fetches by issuer, kind (jwks, discovery) and result (ok, error)."),
    ("tokengate_jwks_keys", "Keys currently loaded per issuer."),
    ("tokengate_key_refresh_tasks", "Issuer key-refresh loops running: one per configured issuer of the edge serving (a configuration reload stops the replaced edge's)."),
    ("tokengate_upstream_duration_seconds", "Time from sending a request upstream to its response header."),
    ("tokengate_upstream_errors_total", "Requests that failed upstream, by status sent to the client (502, 504)."),
    ("tokengate_streams_watched", "Long-lived streams (WebSocket, server-sent events, streaming responses) open now whose token is checked again until they end."),
    ("tokengate_streams_closed_total", "Streams closed by tokengate because their token expired, was revoked or turned inactive."),
    ("tokengate_access_log_dropped_total", "Access-log lines dropped because the writer's buffer was full (never silently: counted here)."),
];

/// The built-in authorization server's series (exported when it is enabled).
pub const AUTHZ_SERIES: &[(&str, &str)] = &[
    ("tokengate_revocation_log_position", "The last entry of the revocation log this instance has applied: equal on every instance sharing a database when they are in step."),
    ("tokengate_change_feed_connected", "1 while this instance listens for other instances' revocations and key rotations (PostgreSQL LISTEN), 0 while it reconnects or polls instead."),
];

fn help(name: &str) -> &'static str {
    SERIES.iter().chain(AUTHZ_SERIES).find(|(n, _)| *n == name).map(|(_, h)| *h).unwrap_or("")
}

/// An unregistered gauge named and documented in [`AUTHZ_SERIES`], set from `read` at each scrape.
pub fn gauge_on_scrape(
    name: &str,
    read: impl Fn() -> i64 + Send + Sync + 'static,
) -> prometheus::Result<Box<dyn Collector>> {
    let gauge = prometheus::IntGaugeVec::new(Opts::new(name, help(name)), &[])?;
    Ok(Box::new(OnScrape::new(gauge, move |g| g.with_label_values(&[] as &[&str]).set(read()))))
}

fn counter_vec(name: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help(name)), labels).expect("valid metric")
}

fn histogram(name: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help(name)).buckets(buckets.to_vec())).expect("valid metric")
}

/// Pre-resolved `tokengate_requests_total` handles for one route, indexed by [`Outcome`].
#[derive(Clone)]
pub struct RouteHandles([IntCounter; Outcome::ALL.len()]);

impl RouteHandles {
    /// Counts one request with `outcome`.
    pub fn count(&self, outcome: Outcome) {
        self.0[outcome as usize].inc();
    }
}

/// The edge's metrics.
pub struct EdgeMetrics {
    requests: IntCounterVec,
    decisions: IntCounterVec,
    allow: IntCounter,
    deny_invalid: Vec<IntCounter>,
    /// Auth decision latency.
    pub auth_duration: Histogram,
    cache_requests: IntCounterVec,
    /// Cache hits and misses: [jwt hit, jwt miss, opaque hit, opaque miss].
    pub cache: [IntCounter; 4],
    cache_entries: prometheus::IntGaugeVec,
    introspection: IntCounterVec,
    /// Introspection latency.
    pub introspection_duration: Histogram,
    introspection_circuit: prometheus::IntGaugeVec,
    jwks: IntCounterVec,
    jwks_keys: prometheus::IntGaugeVec,
    /// Key-refresh loops running.
    pub key_refresh_tasks: prometheus::IntGauge,
    /// Upstream latency.
    pub upstream_duration: Histogram,
    upstream_errors: IntCounterVec,
    /// Streams watched now.
    pub streams_watched: prometheus::IntGauge,
    /// Streams closed at their token's end.
    pub streams_closed: IntCounter,
    /// Access-log lines a full buffer dropped (the binary's access log; an embedding proxy's own may count here too).
    pub access_log_dropped: IntCounter,
    no_route: RouteHandles,
    /// The caches of the edge currently serving (it changes on a configuration reload).
    caches: std::sync::RwLock<Option<[std::sync::Weak<crate::edge::cache::TokenCache>; 2]>>,
}

impl EdgeMetrics {
    /// Creates every series, unregistered.
    pub fn new() -> Self {
        let requests = counter_vec("tokengate_requests_total", &["route", "outcome"]);
        let decisions = counter_vec("tokengate_auth_decisions_total", &["result", "reason"]);
        let cache_requests = counter_vec("tokengate_token_cache_requests_total", &["kind", "result"]);
        let cache = [
            cache_requests.with_label_values(&["jwt", "hit"]),
            cache_requests.with_label_values(&["jwt", "miss"]),
            cache_requests.with_label_values(&["opaque", "hit"]),
            cache_requests.with_label_values(&["opaque", "miss"]),
        ];
        let no_route = Self::handles(&requests, "(none)");
        EdgeMetrics {
            allow: decisions.with_label_values(&["allow", "ok"]),
            deny_invalid: InvalidToken::ALL
                .iter()
                .map(|r| decisions.with_label_values(&["deny", r.reason()]))
                .collect(),
            requests,
            decisions,
            auth_duration: histogram("tokengate_auth_duration_seconds", AUTH_BUCKETS),
            cache_requests,
            cache,
            cache_entries: prometheus::IntGaugeVec::new(
                Opts::new("tokengate_token_cache_entries", help("tokengate_token_cache_entries")),
                &["kind"],
            )
            .expect("valid metric"),
            introspection: counter_vec("tokengate_introspection_requests_total", &["status"]),
            introspection_duration: histogram("tokengate_introspection_duration_seconds", REMOTE_BUCKETS),
            introspection_circuit: prometheus::IntGaugeVec::new(
                Opts::new("tokengate_introspection_circuit_open", help("tokengate_introspection_circuit_open")),
                &["issuer"],
            )
            .expect("valid metric"),
            jwks: counter_vec("tokengate_jwks_fetches_total", &["issuer", "kind", "result"]),
            jwks_keys: prometheus::IntGaugeVec::new(
                Opts::new("tokengate_jwks_keys", help("tokengate_jwks_keys")),
                &["issuer"],
            )
            .expect("valid metric"),
            key_refresh_tasks: prometheus::IntGauge::new(
                "tokengate_key_refresh_tasks",
                help("tokengate_key_refresh_tasks"),
            )
            .expect("valid metric"),
            upstream_duration: histogram("tokengate_upstream_duration_seconds", REMOTE_BUCKETS),
            upstream_errors: counter_vec("tokengate_upstream_errors_total", &["status"]),
            streams_watched: prometheus::IntGauge::new("tokengate_streams_watched", help("tokengate_streams_watched"))
                .expect("valid metric"),
            streams_closed: IntCounter::new("tokengate_streams_closed_total", help("tokengate_streams_closed_total"))
                .expect("valid metric"),
            access_log_dropped: IntCounter::new(
                "tokengate_access_log_dropped_total",
                help("tokengate_access_log_dropped_total"),
            )
            .expect("valid metric"),
            no_route,
            caches: std::sync::RwLock::new(None),
        }
    }

    fn handles(requests: &IntCounterVec, route: &str) -> RouteHandles {
        RouteHandles(Outcome::ALL.map(|o| requests.with_label_values(&[route, o.label()])))
    }

    /// Resolves the handles of one route.
    pub fn route(&self, name: &str) -> RouteHandles {
        Self::handles(&self.requests, name)
    }

    /// Handles for requests that matched no route.
    pub fn no_route(&self) -> &RouteHandles {
        &self.no_route
    }

    /// Counts an allowed token decision.
    pub fn allowed(&self) {
        self.allow.inc();
    }

    /// Counts a refused token decision.
    pub fn denied(&self, denial: &Denial) {
        match denial {
            Denial::InvalidToken(r) => {
                let i = InvalidToken::ALL.iter().position(|x| x == r).unwrap_or(0);
                self.deny_invalid[i].inc();
            }
            other => self.decisions.with_label_values(&["deny", other.reason()]).inc(),
        }
    }

    /// Counts an introspection call.
    pub fn introspection(&self, status: &str) {
        self.introspection.with_label_values(&[status]).inc();
    }

    /// Shows whether an issuer's introspection breaker is open.
    pub fn introspection_circuit(&self, issuer: &str, open: bool) {
        self.introspection_circuit.with_label_values(&[issuer]).set(open as i64);
    }

    /// Counts a key-set or discovery fetch.
    pub fn fetch(&self, issuer: &str, kind: &str, ok: bool) {
        self.jwks.with_label_values(&[issuer, kind, if ok { "ok" } else { "error" }]).inc();
    }

    /// Sets the number of keys loaded for an issuer.
    pub fn keys_loaded(&self, issuer: &str, n: usize) {
        self.jwks_keys.with_label_values(&[issuer]).set(n as i64);
    }

    /// Points the cache size gauges at the caches of the edge now serving.
    pub fn watch_caches(
        &self,
        jwt: &std::sync::Arc<crate::edge::cache::TokenCache>,
        opaque: &std::sync::Arc<crate::edge::cache::TokenCache>,
    ) {
        if let Ok(mut c) = self.caches.write() {
            *c = Some([std::sync::Arc::downgrade(jwt), std::sync::Arc::downgrade(opaque)]);
        }
    }

    /// Registers the cache size gauges, read from the current edge's caches at each scrape.
    pub fn register_cache_gauges(self: &std::sync::Arc<Self>, registry: &Registry) -> prometheus::Result<()> {
        let me = std::sync::Arc::downgrade(self);
        registry.register(Box::new(OnScrape::new(self.cache_entries.clone(), move |g| {
            let Some(m) = me.upgrade() else { return };
            let caches = m.caches.read().ok().and_then(|c| c.clone());
            for (kind, cache) in ["jwt", "opaque"].iter().zip(caches.iter().flatten()) {
                g.with_label_values(&[kind]).set(cache.upgrade().map(|c| c.entry_count() as i64).unwrap_or(0));
            }
        })))
    }

    /// Counts an upstream failure answered with `status`.
    pub fn upstream_error(&self, status: u16) {
        self.upstream_errors.with_label_values(&[&status.to_string()]).inc();
    }

    /// Registers every series in `registry`, except the cache sizes, which the edge registers with their source.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        let all: Vec<Box<dyn Collector>> = vec![
            Box::new(self.requests.clone()),
            Box::new(self.decisions.clone()),
            Box::new(self.auth_duration.clone()),
            Box::new(self.cache_requests.clone()),
            Box::new(self.introspection.clone()),
            Box::new(self.introspection_duration.clone()),
            Box::new(self.introspection_circuit.clone()),
            Box::new(self.jwks.clone()),
            Box::new(self.jwks_keys.clone()),
            Box::new(self.key_refresh_tasks.clone()),
            Box::new(self.upstream_duration.clone()),
            Box::new(self.upstream_errors.clone()),
            Box::new(self.streams_watched.clone()),
            Box::new(self.streams_closed.clone()),
            Box::new(self.access_log_dropped.clone()),
        ];
        for c in all {
            registry.register(c)?;
        }
        Ok(())
    }
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A gauge family refreshed just before each scrape (for values read from elsewhere, like cache sizes).
pub struct OnScrape<F: Fn(&prometheus::IntGaugeVec) + Send + Sync> {
    gauges: prometheus::IntGaugeVec,
    refresh: F,
}

impl<F: Fn(&prometheus::IntGaugeVec) + Send + Sync> OnScrape<F> {
    /// Runs `refresh` on `gauges` at each scrape.
    pub fn new(gauges: prometheus::IntGaugeVec, refresh: F) -> Self {
        OnScrape { gauges, refresh }
    }
}

impl<F: Fn(&prometheus::IntGaugeVec) + Send + Sync> Collector for OnScrape<F> {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        (self.refresh)(&self.gauges);
        self.gauges.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `RouteHandles` indexes its counters by `outcome as usize`: each outcome must sit at its own position in
    /// `Outcome::ALL`, or a request would be counted under another outcome's label.
    #[test]
    fn every_outcome_is_counted_under_its_own_label() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i, "{o}");
        }
        let m = EdgeMetrics::new();
        let h = m.route("r");
        for o in Outcome::ALL {
            h.count(o);
            let n = m.requests.with_label_values(&["r", o.label()]).get();
            assert_eq!(n, 1, "{o}");
        }
    }
}
