//! The one door every `aftersales.v1.AftersalesService` call passes before its handler runs:
//! the RPC span (continuing the caller's W3C trace), load shedding, authentication, the role
//! check and the tenant's request rate; and on the way out, the call's gRPC status on the span
//! and in the `rpc.server.call.duration` histogram. Health and reflection are registered
//! beside the service, not behind it, so they stay open.
//!
//! The method table below is the single list of what each RPC needs; a test checks it names
//! every method of the service descriptor, so a new RPC cannot ship without a permission.

use crate::auth::Authenticator;
use crate::error::ApiError;
use aftersales_domain::access::{Permission, Principal};
use aftersales_domain::{Clock, TenantId};
use chrono::{DateTime, Utc};
use opentelemetry::metrics::Histogram;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tracing::{field::Empty, Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const SERVICE: &str = "aftersales.v1.AftersalesService";

/// The RPC span. One callsite per method (tracing needs static names) so traces are named
/// `aftersales.v1.AftersalesService/<Method>`.
macro_rules! rpc_span {
    ($method:literal) => {
        tracing::info_span!(
            concat!("aftersales.v1.AftersalesService/", $method),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = "aftersales.v1.AftersalesService",
            rpc.method = $method,
            rpc.grpc.status_code = Empty,
            tenant = Empty,
            account = Empty,
            platform = Empty,
            case_id = Empty,
        )
    };
}

macro_rules! method_table {
    ($($method:literal => $need:ident),* $(,)?) => {
        /// Every RPC and the permission it needs before its handler runs. Case- and
        /// shop-level checks (TB-22, shop scope) follow in the handler through the same
        /// `Principal::authorize`, once the case is known.
        pub const METHODS: &[(&str, Permission)] = &[$(($method, Permission::$need)),*];

        /// The method's name as the table holds it (static, for metric attributes) and a new
        /// span for one call of it.
        fn span_for(method: &str) -> Option<(&'static str, Span)> {
            match method {
                $($method => Some(($method, rpc_span!($method))),)*
                _ => None,
            }
        }
    };
}

method_table! {
    "IngestPlatformCase" => Act,
    "CreateCase" => Act,
    "GetCase" => Read,
    "ListCases" => Read,
    "ListCaseEvents" => Read,
    "AgreeCase" => Act,
    "FileAppeal" => Act,
    "RecordRuling" => Act,
    // Reading when it only evaluates; with a case name it also records the evaluation on
    // the case, and the handler then asks for Act on that case.
    "EvaluateDepositRelease" => Read,
    "GetShopHealth" => Read,
    "RecordTrackingChange" => Act,
    "RecordBuyerConfirmation" => Act,
    "RejectCase" => Act,
    "RecordReturnShipment" => Act,
    "ConfirmReturnReceived" => Act,
    "RecordReship" => Act,
    "RefundCase" => Act,
    "EscalateCase" => Act,
    "CloseCase" => Act,
    "RecordSatisfactionCheck" => Act,
    "WatchCaseEvents" => Read,
    "GetPolicy" => Read,
    "ListDueDeadlines" => Read,
    "ProjectCaseTimeline" => Read,
    "CheckSignedElsewhere" => Read,
    "ReplySignedElsewhereTask" => Act,
    "CheckEvidence" => Read,
    "SubmitEvidence" => Act,
    "CreateApiKey" => ManageKeys,
    "ListApiKeys" => ManageKeys,
    "RevokeApiKey" => ManageKeys,
    "RotateApiKey" => ManageKeys,
}

pub fn permission_of(method: &str) -> Option<Permission> {
    METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, need)| *need)
}

/// A tenant's sustained request rate and the burst it may spend at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Token buckets per tenant, on the injected clock (tests move time, they do not sleep).
/// Per process: with N replicas a tenant gets up to N times the rate, which the operator
/// divides in when setting it.
struct TenantRates {
    limit: RateLimit,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

/// Tenants remembered at most; idle ones are refilled anyway, so forgetting them is exact.
const MAX_TRACKED_TENANTS: usize = 100_000;

impl TenantRates {
    /// Take one token, or say how long until one is there.
    fn take(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_TRACKED_TENANTS && !buckets.contains_key(tenant) {
            buckets.clear();
        }
        let limit = self.limit;
        let bucket = buckets.entry(tenant.clone()).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let elapsed = (now - bucket.at).num_milliseconds().max(0) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.per_second;
            Err(Duration::from_millis((wait * 1000.0).ceil() as u64))
        }
    }
}

/// What the gate enforces besides authentication.
#[derive(Debug, Clone)]
pub struct GateLimits {
    /// Calls handled at once; more are answered UNAVAILABLE at once, not queued.
    pub max_concurrent: usize,
    /// None: no per-tenant rate limit.
    pub tenant_rate: Option<RateLimit>,
}

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            max_concurrent: 256,
            tenant_rate: None,
        }
    }
}

struct GateState {
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    in_flight: Arc<Semaphore>,
    rates: Option<TenantRates>,
    duration: Histogram<f64>,
}

/// Bucket bounds of `rpc.server.call.duration`, in seconds: the OpenTelemetry semantic
/// conventions' advice for this histogram, from 5 ms to 10 s, with 1 ms and 2.5 ms below it
/// (most reads answer in a few milliseconds) and 30 s (the longest a call may run) above.
const RPC_DURATION_BOUNDS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    30.0,
];

/// The histogram, on the global meter provider: a no-op until the binary installs one (the
/// server's `metrics` module does when OTLP is configured).
fn rpc_duration_histogram() -> Histogram<f64> {
    opentelemetry::global::meter("aftersales")
        .f64_histogram("rpc.server.call.duration")
        .with_unit("s")
        .with_description(
            "Time from a call reaching the service to its last response byte (streams: to \
             their end), by method and gRPC status code.",
        )
        .with_boundaries(RPC_DURATION_BOUNDS.to_vec())
        .build()
}

/// W3C `traceparent`/`tracestate` read from the request's headers (gRPC metadata).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Make `span` a child of the caller's span when the call carries a W3C trace context, so the
/// caller's trace continues through the service. Must run before the span is first entered.
/// Without an OpenTelemetry layer (no OTLP endpoint, unit tests) there is nothing to continue
/// and the error is ignored; a malformed `traceparent` is ignored too (the span starts a trace).
fn continue_trace(span: &Span, headers: &http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
}

/// One call's outcome, recorded once: its gRPC status code on the RPC span and its duration in
/// the histogram. Dropped before a status was seen, the call was abandoned (the client went
/// away, or the server's request timeout dropped it, which tonic answers CANCELLED), so it
/// counts as CANCELLED.
struct CallRecord {
    span: Span,
    method: &'static str,
    started: Instant,
    duration: Histogram<f64>,
    done: bool,
}

impl CallRecord {
    fn finish(&mut self, code: i32) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.span.record("rpc.grpc.status_code", code);
        self.duration.record(
            self.started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", SERVICE),
                KeyValue::new("rpc.method", self.method),
                KeyValue::new("rpc.grpc.status_code", i64::from(code)),
            ],
        );
    }

    /// Record the status now if the response's headers carry it (an error answered before any
    /// message: tonic's "trailers-only" response); otherwise it comes in the trailers at the
    /// end of the body, and the body is wrapped to read it there.
    fn watch(mut self, response: http::Response<Body>) -> http::Response<Body> {
        if let Some(code) = grpc_status(response.headers()) {
            self.finish(code);
            return response;
        }
        response.map(|inner| {
            Body::new(ObservedBody {
                inner,
                record: self,
            })
        })
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled as i32);
    }
}

/// The `grpc-status` of a header or trailer map, if it has one. A value that is not a number
/// is UNKNOWN, as a gRPC client would read it.
fn grpc_status(map: &http::HeaderMap) -> Option<i32> {
    let value = map.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(tonic::Code::Unknown as i32),
    )
}

/// A response body that records the call's status from its trailers. A body that ends
/// without trailers, or fails, sent no status: UNKNOWN (a gRPC client reports it so too).
struct ObservedBody {
    inner: Body,
    record: CallRecord,
}

impl http_body::Body for ObservedBody {
    type Data = tonic::codegen::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = grpc_status(trailers).unwrap_or(tonic::Code::Unknown as i32);
                    self.record.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                self.record.finish(tonic::Code::Unknown as i32);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps the generated service: `Gate::new(AftersalesServiceServer::new(api), …)`.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    state: Arc<GateState>,
}

impl<S> Gate<S> {
    pub fn new(inner: S, auth: Authenticator, clock: Arc<dyn Clock>, limits: GateLimits) -> Self {
        Gate {
            inner,
            state: Arc::new(GateState {
                auth,
                clock,
                in_flight: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
                rates: limits.tenant_rate.map(|limit| TenantRates {
                    limit,
                    buckets: Mutex::default(),
                }),
                duration: rpc_duration_histogram(),
            }),
        }
    }
}

impl<S: NamedService> NamedService for Gate<S> {
    const NAME: &'static str = S::NAME;
}

fn refuse(span: &Span, error: ApiError) -> http::Response<Body> {
    let status = tonic::Status::from(error);
    span.in_scope(|| {
        tracing::info!(code = ?status.code(), message = status.message(), "rpc refused at the gate")
    });
    status.into_http()
}

impl GateState {
    /// Everything before the handler; Ok is the caller and the in-flight permit it holds.
    async fn admit(
        &self,
        need: Permission,
        headers: &http::HeaderMap,
        span: &Span,
    ) -> Result<(Principal, OwnedSemaphorePermit), ApiError> {
        // First and cheapest: an overloaded server must not spend a database read on a call
        // it will not serve.
        let permit =
            self.in_flight
                .clone()
                .try_acquire_owned()
                .map_err(|_| ApiError::Overloaded {
                    retry_after: Duration::from_millis(200),
                })?;
        let principal = self.auth.authenticate(headers, self.clock.now()).await?;
        span.record("tenant", principal.tenant.as_str());
        span.record("account", principal.account.as_str());
        principal
            .authorize(need, None)
            .map_err(ApiError::from_denial)?;
        if let Some(rates) = &self.rates {
            rates
                .take(&principal.tenant, self.clock.now())
                .map_err(|retry_after| ApiError::RateLimited {
                    tenant: principal.tenant.to_string(),
                    retry_after,
                })?;
        }
        Ok((principal, permit))
    }
}

impl<S> tower::Service<http::Request<Body>> for Gate<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call (tower's contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Box::pin(async move {
            let (Some(need), Some((method, span))) = (permission_of(&method), span_for(&method))
            else {
                // Not ours: the generated service answers UNIMPLEMENTED.
                return inner.call(request).await;
            };
            continue_trace(&span, request.headers());
            let record = CallRecord {
                span: span.clone(),
                method,
                started: Instant::now(),
                duration: state.duration.clone(),
                done: false,
            };
            let admitted = state
                .admit(need, request.headers(), &span)
                .instrument(span.clone())
                .await;
            let (principal, permit) = match admitted {
                Ok(ok) => ok,
                Err(error) => return Ok(record.watch(refuse(&span, error))),
            };
            request.extensions_mut().insert(principal);
            let response = inner.call(request).instrument(span).await;
            // Held until the handler has answered; a stream's body outlives it on purpose
            // (an open WatchCaseEvents is not work in progress).
            drop(permit);
            response.map(|r| record.watch(r))
        })
    }
}

/// The caller the gate admitted, for handlers.
pub fn principal_of(extensions: &tonic::Extensions) -> Result<Principal, ApiError> {
    extensions.get::<Principal>().cloned().ok_or_else(|| {
        ApiError::Internal("a call reached its handler without passing the gate".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every method of the service descriptor has a permission, and no permission names a
    /// method that does not exist.
    #[test]
    fn the_method_table_names_every_rpc() {
        let set = prost_types::FileDescriptorSet::decode(aftersales_proto::FILE_DESCRIPTOR_SET)
            .expect("descriptor set");
        let mut described: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| f.service.iter())
            .filter(|s| s.name() == "AftersalesService")
            .flat_map(|s| s.method.iter().map(|m| m.name().to_string()))
            .collect();
        described.sort();
        let mut table: Vec<String> = METHODS.iter().map(|(m, _)| m.to_string()).collect();
        table.sort();
        assert_eq!(described, table);
    }

    /// A call beyond the concurrency limit is answered UNAVAILABLE at once (with a retry
    /// delay), not queued behind the one in flight, and before any key lookup.
    #[tokio::test]
    async fn calls_beyond_the_concurrency_limit_are_shed_not_queued() {
        use crate::auth::{generate_key, KeyGrant};
        use aftersales_domain::access::{Role, ShopScope};
        use aftersales_store::{SqliteStore, Store};
        use tokio::sync::{mpsc, oneshot};

        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
        let now = Utc::now();
        let (key, record) = generate_key(
            KeyGrant {
                tenant: TenantId::parse("t1").unwrap(),
                account: "ops".into(),
                role: Role::Agent,
                platform_task: false,
                shops: ShopScope::AllShops,
                created_by: String::new(),
            },
            now,
        );
        store.insert_api_key(&record).await.unwrap();

        // The inner service holds the first call until told to answer.
        let (entered_tx, mut entered) = mpsc::channel::<()>(4);
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
        let inner = tower::service_fn(move |_req: http::Request<Body>| {
            let entered_tx = entered_tx.clone();
            let release_rx = release_rx.clone();
            async move {
                let _ = entered_tx.send(()).await;
                if let Some(rx) = release_rx.lock().await.take() {
                    let _ = rx.await;
                }
                Ok::<_, Infallible>(http::Response::new(Body::default()))
            }
        });
        let clock: Arc<dyn Clock> = Arc::new(aftersales_domain::ManualClock::new(now));
        let gate = Gate::new(
            inner,
            Authenticator::new(store, std::time::Duration::from_secs(1)),
            clock,
            GateLimits {
                max_concurrent: 1,
                tenant_rate: None,
            },
        );
        let request = || {
            http::Request::builder()
                .uri("/aftersales.v1.AftersalesService/GetCase")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::default())
                .unwrap()
        };
        use tower::ServiceExt;
        let first = tokio::spawn(gate.clone().oneshot(request()));
        entered
            .recv()
            .await
            .expect("first call reached the handler");

        let shed = gate.clone().oneshot(request()).await.unwrap();
        let status = tonic::Status::from_header_map(shed.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("capacity"), "{status:?}");

        release_tx.send(()).unwrap();
        let answered = first.await.unwrap().unwrap();
        assert!(tonic::Status::from_header_map(answered.headers()).is_none());
        // With the slot free again, the next call is served.
        let served = tokio::spawn(gate.clone().oneshot(request()));
        entered
            .recv()
            .await
            .expect("served after the first finished");
        served.await.unwrap().unwrap();
    }

    #[test]
    fn a_tenant_bucket_refills_with_the_clock() {
        let rates = TenantRates {
            limit: RateLimit {
                per_second: 2.0,
                burst: 3.0,
            },
            buckets: Mutex::default(),
        };
        let t = TenantId::parse("t1").unwrap();
        let other = TenantId::parse("t2").unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for _ in 0..3 {
            rates.take(&t, now).unwrap();
        }
        assert_eq!(rates.take(&t, now), Err(Duration::from_millis(500)));
        // Another tenant has its own bucket.
        rates.take(&other, now).unwrap();
        let later = now + chrono::Duration::milliseconds(500);
        rates.take(&t, later).unwrap();
        assert!(rates.take(&t, later).is_err());
    }
}
