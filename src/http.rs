//! The operators' endpoint of `herald run` (`[http] listen`, `--http ADDR`):
//! - `GET /metrics`: the Prometheus text exposition of herald's metrics;
//! - `GET /healthz`: 200 while the process serves;
//! - `GET /readyz`: 200 when every stream is open and no target is
//!   stopped, else 503 with the reasons, one a line;
//! - `GET /status`: the JSON of `herald status`, with whether it is ready.

use crate::logging::say;
use herald_engine::health::Health;
use herald_engine::metrics::{COMMIT_SECONDS, HANDLER_SECONDS};
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A response body: whole, in memory.
type Body = http_body_util::Full<hyper::body::Bytes>;

/// Buckets of a handler call, in seconds: 50 µs to 5 s.
const HANDLER_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0,
];

/// Buckets of a group commit, in seconds: 100 µs to 10 s.
const COMMIT_BUCKETS: [f64; 11] = [
    0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.25, 1.0, 10.0,
];

/// Installs the Prometheus recorder as the global one, with the engine's
/// series described. Call before the engine is built: it takes its handles
/// from the recorder installed then.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HANDLER_SECONDS.into()), &HANDLER_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(COMMIT_SECONDS.into()), &COMMIT_BUCKETS)?
        .install_recorder()?;
    herald_engine::metrics::describe();
    Ok(handle)
}

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 32;

/// How long a client may take to send a request's headers.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest one connection is kept (keep-alive included).
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The wait after a failed accept.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// The file in the store's directory naming the address a running
/// herald serves on, for `herald status`.
pub const ADDRESS_FILE: &str = "herald-http.addr";

/// What the endpoint serves from.
pub struct Endpoint {
    /// Renders the metrics.
    pub prometheus: PrometheusHandle,
    /// The running engine's store (read for `/status` and the store's gauges).
    pub store: herald_store::Store,
    /// What it reports on.
    pub serves: Serves,
    /// One store read at a time: each scans the dead letters and timers.
    pub reads: tokio::sync::Semaphore,
}

/// Whose endpoint it is.
pub enum Serves {
    /// A herald on a store of its own.
    Alone {
        /// The store's directory, as `/status` names it.
        store_dir: PathBuf,
        /// The streams' states.
        health: Health,
    },
    /// One instance of a cluster (`[cluster] store = "mongodb"`).
    Cluster {
        /// The instance's partitions and the cluster's leases.
        view: crate::cluster::View,
        /// The store, as `/status` names it.
        location: PathBuf,
        /// The cluster's partitions.
        partitions: u32,
    },
}

impl Serves {
    fn readiness(&self) -> Result<(), Vec<String>> {
        match self {
            Serves::Alone { health, .. } => health.readiness(),
            Serves::Cluster { view, .. } => view.readiness(),
        }
    }
}

/// Binds `addr` and serves `endpoint` on it until the runtime ends; logs
/// the address bound (the port chosen, for port 0).
pub async fn start(addr: SocketAddr, endpoint: Endpoint) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ([http] listen / --http): {e}"))?;
    let bound = listener.local_addr()?;
    // Where `herald status` finds this herald while it holds the store:
    // written whole (a rename), so a reader never sees half an address.
    // (A cluster's store is in MongoDB, which `herald status` reads itself.)
    if let Serves::Alone { store_dir, .. } = &endpoint.serves {
        let file = store_dir.join(ADDRESS_FILE);
        let partial = store_dir.join(format!("{ADDRESS_FILE}.partial"));
        let written = std::fs::write(&partial, format!("{bound}\n"))
            .and_then(|()| std::fs::rename(&partial, &file));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot record the endpoint's address for `herald status`");
        }
    }
    say::info(
        format!("herald: serving /metrics, /healthz, /readyz and /status on http://{bound}"),
        json!({ "http": bound.to_string() }),
    );
    let endpoint = Arc::new(endpoint);
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            // At the limit, the next connection waits in the listen queue.
            let Ok(permit) = connections.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(error = %e, "the HTTP endpoint cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let endpoint = endpoint.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&endpoint, request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(REQUEST_TIMEOUT)
                    .serve_connection(io, service);
                // A client that goes away mid-request is its own business; one
                // that holds a connection open past the timeout loses it.
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
                drop(permit);
            });
        }
    });
    Ok(bound)
}

/// An address a client on this machine reaches a listener on `addr` at:
/// the unspecified address (`0.0.0.0`, `::`) is reached at loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

/// Answers one request.
async fn answer(
    endpoint: &Arc<Endpoint>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    if request.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET only\n".into(),
        );
    }
    match request.uri().path() {
        "/healthz" => reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        "/readyz" => match endpoint.serves.readiness() {
            Ok(()) => reply(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "ready\n".into(),
            ),
            Err(reasons) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                format!("not ready:\n{}\n", reasons.join("\n")),
            ),
        },
        "/metrics" => {
            let _reading = endpoint.reads.acquire().await;
            let read = endpoint.clone();
            // The store's gauges are read from the store, off the runtime's threads.
            let gauges = tokio::task::spawn_blocking(move || {
                herald_engine::metrics::set_store_gauges(&read.store)
            })
            .await;
            let failed = match gauges {
                Ok(result) => result.err().map(|e| e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = failed {
                tracing::warn!(error = %e, "cannot read the store's gauges");
            }
            if let Serves::Cluster { view, .. } = &endpoint.serves
                && let Err(e) = view.set_gauges().await
            {
                tracing::warn!(error = %e, "cannot read the cluster's leases");
            }
            endpoint.prometheus.run_upkeep();
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                endpoint.prometheus.render(),
            )
        }
        "/status" => {
            let _reading = endpoint.reads.acquire().await;
            let read = endpoint.clone();
            let report = tokio::task::spawn_blocking(move || match &read.serves {
                Serves::Alone { store_dir, .. } => {
                    crate::status::report(&read.store, store_dir, None)
                }
                Serves::Cluster {
                    location,
                    partitions,
                    ..
                } => crate::status::report(&read.store, location, Some(*partitions)),
            })
            .await;
            let mut report = match report {
                Ok(Ok(report)) => report,
                Ok(Err(e)) => return failed(&e),
                Err(e) => return failed(&e),
            };
            if let Serves::Cluster { view, .. } = &endpoint.serves {
                match view.report().await {
                    Ok(cluster) => report["cluster"] = cluster,
                    Err(e) => return failed(&e),
                }
            }
            let (ready, reasons) = match endpoint.serves.readiness() {
                Ok(()) => (true, Vec::new()),
                Err(reasons) => (false, reasons),
            };
            report["running"] = json!({ "ready": ready, "reasons": reasons });
            reply(StatusCode::OK, "application/json", format!("{report:#}\n"))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: /metrics, /healthz, /readyz, /status\n".into(),
        ),
    }
}

/// A 500 saying `error`.
fn failed(error: &dyn std::fmt::Display) -> Response<Body> {
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        format!("{error}\n"),
    )
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
