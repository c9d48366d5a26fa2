//! Wiring: configuration, store, gRPC server with health and reflection, graceful shutdown.
//! The binary in main.rs and the end-to-end tests both start the server through `serve`.

pub mod deadlines;
pub mod metrics;
pub mod telemetry;
pub mod transport;
pub mod view_pass;

pub use deadlines::{DeadlineEngine, EngineOptions, SweepReport};

use aftersales_api::auth::Authenticator;
use aftersales_api::case_views::StoredViewRoute;
use aftersales_api::gate::{Gate, GateLimits};
use aftersales_api::{AftersalesApi, ApiConfig};
use aftersales_domain::{Clock, PolicyRegistry};
use aftersales_platforms::AdapterRegistry;
use aftersales_proto::v1::aftersales_service_server::AftersalesServiceServer;
use aftersales_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Sleeps for `pause`, or until `stop` turns true; answers whether the background loop that
/// called it goes on. A sender that is gone counts as stop: `changed()` then returns at once
/// every time, and a loop that only slept on it would spin against the database (the
/// `serve` future dropped before it drains, or a test's sender dropped).
pub(crate) async fn pause_unless_stopped(
    stop: &mut watch::Receiver<bool>,
    pause: Duration,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => !*stop.borrow(),
        changed = stop.changed() => changed.is_ok() && !*stop.borrow(),
    }
}

/// The SQLite file a fresh clone uses with no configuration.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/aftersales.db";
/// Largest request the server decodes; native platform records are far smaller.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] aftersales_store::StoreError),
    #[error("policies: {0}")]
    Policy(String),
    #[error("{0}")]
    Other(String),
}

/// Open the store named by the URL, with `pg_writers` group-commit writers on PostgreSQL
/// (`None`: the store's default for the pool). Migrations run here; the Postgres migrator
/// holds an advisory lock, so replicas starting together are safe.
pub async fn open_store(
    url: &str,
    pg_max_connections: u32,
    pg_writers: Option<usize>,
) -> Result<Arc<dyn Store>, StartError> {
    Ok(aftersales_store::connect_with_writers(url, pg_max_connections, pg_writers).await?)
}

/// A URL safe to print: the password replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub struct ServeOptions {
    pub page_token_secret: Vec<u8>,
    pub watch_poll: Duration,
    /// How long in-flight calls get to finish after a shutdown signal.
    pub drain_timeout: Duration,
    pub engine: EngineOptions,
    /// Load shedding and the per-tenant request rate.
    pub limits: GateLimits,
    /// The longest any call may run (a client's shorter `grpc-timeout` wins); past it the
    /// call is dropped (its transaction rolls back) and answered CANCELLED. Streams are
    /// bounded only until they start.
    pub request_timeout: Duration,
    /// How long an API key's row is used before it is read again (see `aftersales_api::auth`):
    /// the longest a revocation made on another replica takes to hold here.
    pub key_row_ttl: Duration,
    /// How often the metrics gauges (open cases, active deadlines) are read from the database;
    /// None: not at all (no metrics are exported).
    pub gauge_interval: Option<Duration>,
    /// The background pass that renders again the case views a new format made stale
    /// ([`view_pass`]); None: not run by this process.
    pub view_pass: Option<view_pass::ViewPassOptions>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            page_token_secret: Vec::new(),
            watch_poll: Duration::from_millis(500),
            drain_timeout: Duration::from_secs(25),
            engine: EngineOptions::default(),
            limits: GateLimits::default(),
            request_timeout: Duration::from_secs(30),
            key_row_ttl: Duration::from_secs(1),
            gauge_interval: None,
            view_pass: Some(view_pass::ViewPassOptions::default()),
        }
    }
}

/// Everything `serve` needs that a test may want to replace.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub adapters: AdapterRegistry,
    pub policies: Arc<PolicyRegistry>,
}

impl Services {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let adapters = AdapterRegistry::builtin();
        let policies = Arc::new(adapters.load_policies().map_err(StartError::Policy)?);
        Ok(Services {
            store,
            clock,
            adapters,
            policies,
        })
    }
}

/// Serve on `listener` until `shutdown` resolves, then stop accepting, end event streams and
/// let in-flight calls finish (up to `drain_timeout`).
pub async fn serve(
    services: Services,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (drain_tx, drain_rx) = watch::channel(false);
    // Off the runtime's threads: the index is pure CPU work and nothing waits for it.
    tokio::task::spawn_blocking(aftersales_platforms::signing::warm_up);
    let secret = if options.page_token_secret.is_empty() {
        tracing::warn!(
            "AFTERSALES_PAGE_TOKEN_SECRET is not set: page tokens are signed with a per-process key \
             and will not work across replicas or restarts"
        );
        let mut k = vec![0u8; 32];
        rand_fill(&mut k);
        k
    } else {
        options.page_token_secret
    };
    let authenticator = Authenticator::new(services.store.clone(), options.key_row_ttl);
    let api = AftersalesApi::new(
        services.store.clone(),
        services.adapters,
        services.policies.clone(),
        services.clock.clone(),
        ApiConfig {
            page_token_secret: secret,
            watch_poll: options.watch_poll,
        },
        drain_rx.clone(),
    )
    .with_authenticator(authenticator.clone());
    let engine = options.engine.enabled.then(|| {
        let engine = DeadlineEngine::new(
            services.store.clone(),
            services.clock.clone(),
            services.policies.clone(),
            options.engine.clone(),
            Some(api.commit_notifier()),
        );
        tokio::spawn(engine.run(drain_rx.clone()))
    });
    if let Some(pass) = options.view_pass {
        // After AftersalesApi::new, which registers the renderer whose format the pass
        // renders in.
        tokio::spawn(view_pass::run(
            services.store.clone(),
            pass,
            drain_rx.clone(),
        ));
    }
    let _group_commit_metrics = metrics::GroupCommitMetrics::register(&services.store);
    if let Some(every) = options.gauge_interval {
        tokio::spawn(metrics::Gauges::register().run(
            services.store.clone(),
            services.clock.clone(),
            every,
            drain_rx.clone(),
        ));
    }
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AftersalesServiceServer<AftersalesApi>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(aftersales_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| StartError::Other(format!("reflection: {e}")))?;
    // Python grpcio and older grpcurl speak only v1alpha reflection.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(aftersales_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| StartError::Other(format!("reflection: {e}")))?;
    let api = Arc::new(api);
    let service = AftersalesServiceServer::from_arc(api.clone())
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(MAX_REQUEST_BYTES * 4);
    // GetCase and ListCases answer with the cases' stored views (aftersales_api::case_views).
    let service = StoredViewRoute::new(service, api, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES * 4);
    // Authentication, roles, load shedding and rates for every call of the service; health
    // and reflection stay open beside it.
    let service = Gate::new(
        service,
        authenticator,
        services.clock.clone(),
        options.limits.clone(),
    );

    let local = listener
        .local_addr()
        .map_err(|e| StartError::Other(e.to_string()))?;
    tracing::info!(
        address = %local,
        backend = services.store.backend(),
        case_writers = services.store.write_stats().writers,
        "serving aftersales.v1"
    );

    let drain_timeout = options.drain_timeout;
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight calls");
        let _ = drain_tx.send(true);
        health_reporter
            .set_not_serving::<AftersalesServiceServer<AftersalesApi>>()
            .await;
        let _ = stopped_tx.send(());
    };
    let server = tonic::transport::Server::builder()
        .timeout(options.request_timeout)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(transport::incoming(listener), signal);
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => return r.map_err(|e| StartError::Other(e.to_string())),
        _ = stopped_rx => {}
    }
    // One drain budget for both: the engine's sweep in progress (it commits or rolls back as
    // a whole) and the in-flight calls.
    let drain_deadline = tokio::time::Instant::now() + drain_timeout;
    if let Some(engine) = engine {
        let _ = tokio::time::timeout_at(drain_deadline, engine).await;
    }
    match tokio::time::timeout_at(drain_deadline, server).await {
        Ok(r) => r.map_err(|e| StartError::Other(e.to_string())),
        Err(_) => {
            tracing::warn!(
                ?drain_timeout,
                "in-flight calls did not finish in time; stopping anyway"
            );
            Ok(())
        }
    }
}

fn rand_fill(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rng().fill_bytes(buf);
}

/// Resolves on SIGTERM or SIGINT.
pub fn termination_signal() -> impl Future<Output = ()> + Send + 'static {
    // Registered now, not when the future is first polled: a SIGTERM that arrives while the
    // server is still starting must drain it, not kill it with the default action.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match term {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await
                }
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            super::redact("sqlite://./data/a.db"),
            "sqlite://./data/a.db"
        );
    }

    // The loops of the deadline engine, the gauges and the view pass end, rather than spin,
    // when the sender of their stop signal is gone; a stop sent ends them at once, and a
    // pause that runs out without one lets them go on.
    #[tokio::test]
    async fn a_background_pause_ends_the_loop_when_stopped_or_the_sender_is_gone() {
        use super::pause_unless_stopped;
        use std::time::Duration;
        use tokio::sync::watch;
        let hour = Duration::from_secs(3600);
        let bound = Duration::from_secs(10);

        let (tx, mut rx) = watch::channel(false);
        assert!(pause_unless_stopped(&mut rx, Duration::from_millis(1)).await);
        drop(tx);
        let after_drop = tokio::time::timeout(bound, pause_unless_stopped(&mut rx, hour)).await;
        assert_eq!(after_drop, Ok(false));

        let (tx, mut rx) = watch::channel(false);
        let stopping = tokio::spawn(async move { pause_unless_stopped(&mut rx, hour).await });
        tx.send(true).unwrap();
        let after_stop = tokio::time::timeout(bound, stopping).await;
        assert!(!after_stop
            .expect("stopped within the bound")
            .expect("task ran"));
    }
}
