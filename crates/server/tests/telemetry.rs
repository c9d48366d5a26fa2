//! Traces and metrics leave the real `aftersales` binary over OTLP and arrive at a collector
//! with what docs/observability.md promises: the test runs an OTLP/gRPC collector in-process
//! (the trace and metrics services of opentelemetry-proto, keeping every export request),
//! points the server at it with OTEL_EXPORTER_OTLP_ENDPOINT, calls it with a W3C
//! `traceparent` and checks the spans and metrics that arrive. Nothing sleeps for a deadline:
//! the seeded deadlines are already due, and the test polls the collector with a time limit.

use aftersales_domain::event::Actor;
use aftersales_domain::{Case, CaseId, PlatformCode, TenantId};
use aftersales_platforms::AdapterRegistry;
use aftersales_proto::v1 as pb;
use aftersales_proto::v1::aftersales_service_client::AftersalesServiceClient;
use aftersales_store::{CaseWrite, WriteMode};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;

mod common;

use common::{create_key, Db, ServerProcess, TENANT};

// ---------------------------------------------------------------------------------------------
// The collector

/// Every export request received, per signal.
#[derive(Clone, Default)]
struct Collector {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl Collector {
    /// Serve on a free loopback port until the test's runtime ends; the endpoint URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .add_service(MetricsServiceServer::new(self.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        format!("http://{addr}")
    }

    /// As [`start`](Self::start), over TLS with the test certificate for `localhost`
    /// (tests/fixtures/otlp-tls, signed by its `ca.pem`).
    async fn start_tls(&self) -> String {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/otlp-tls");
        let cert = std::fs::read(format!("{fixtures}/collector.pem")).unwrap();
        let key = std::fs::read(format!("{fixtures}/collector.key")).unwrap();
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(TraceServiceServer::new(self.clone()))
            .add_service(MetricsServiceServer::new(self.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        format!("https://localhost:{port}")
    }

    /// Every span received so far, with its resource's `service.name`.
    fn spans(&self) -> Vec<(String, Span)> {
        let traces = self.traces.lock().unwrap();
        let mut out = Vec::new();
        for request in traces.iter() {
            for rs in &request.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| string_attr(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        out.push((service.clone(), span.clone()));
                    }
                }
            }
        }
        out
    }

    /// The metrics of the newest export request (each carries every instrument's cumulative
    /// state), and its resource attributes.
    fn latest_metrics(&self) -> Option<(Vec<KeyValue>, Vec<Metric>)> {
        let metrics = self.metrics.lock().unwrap();
        let request = metrics.last()?;
        let mut resource = Vec::new();
        let mut out = Vec::new();
        for rm in &request.resource_metrics {
            if let Some(r) = &rm.resource {
                resource.extend(r.attributes.iter().cloned());
            }
            for sm in &rm.scope_metrics {
                out.extend(sm.metrics.iter().cloned());
            }
        }
        Some((resource, out))
    }
}

// ---------------------------------------------------------------------------------------------
// Reading OTLP values

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attr(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Whether `attributes` hold every `(key, value)` of `want`, strings or integers compared as
/// text.
fn has(attributes: &[KeyValue], want: &[(&str, &str)]) -> bool {
    want.iter().all(|(k, v)| match attr(attributes, k) {
        Some(any_value::Value::StringValue(s)) => s == v,
        Some(any_value::Value::IntValue(i)) => i.to_string() == *v,
        _ => false,
    })
}

/// The server on `url`, exporting to `endpoint` quickly (spans after 100 ms, metrics every
/// 200 ms, at the level RUST_LOG lets through: info), with `env` on top; and a client of it.
async fn start_exporting(
    url: &str,
    endpoint: &str,
    env: &[(&str, &str)],
) -> (
    ServerProcess,
    AftersalesServiceClient<tonic::transport::Channel>,
) {
    let mut settings = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("RUST_LOG", "info"),
    ];
    settings.extend_from_slice(env);
    let server = ServerProcess::start(url, &settings);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (server, AftersalesServiceClient::new(channel))
}

/// Poll `probe` until it yields, failing after `limit` with `what` and `context()`.
async fn eventually<T>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not arrive in {limit:?}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding and calling

/// An unshipped refund-only Taobao case opened at `opened`: TB-04 reminds the merchant 36 h
/// after opening and refunds at 48 h.
async fn seed(store: &Arc<dyn aftersales_store::Store>, opened: DateTime<Utc>, order: &str) {
    let policies = AdapterRegistry::builtin().load_policies().unwrap();
    let taobao = PlatformCode::parse("taobao").unwrap();
    let policy = policies.in_force(&taobao, opened).unwrap().clone();
    let change = Case::open(
        CaseId::parse(uuid::Uuid::now_v7().to_string()).unwrap(),
        TenantId::parse(TENANT).unwrap(),
        common::unshipped_taobao_refund("shop-1", order),
        &policy,
        Actor::merchant("seed"),
        opened,
        &[],
    )
    .unwrap();
    store
        .write(CaseWrite {
            case: change.case,
            mode: WriteMode::Insert,
            events: change.events,
            idempotency: None,
            caller: None,
        })
        .await
        .expect("seed case");
}

/// A request with the key and a W3C trace context naming the caller's span.
fn traced<T>(key: &str, traceparent: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {key}")).unwrap(),
    );
    r.metadata_mut()
        .insert("traceparent", MetadataValue::try_from(traceparent).unwrap());
    r
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn span_context(spans: &[(String, Span)]) -> String {
    let mut lines: Vec<String> = spans
        .iter()
        .map(|(_, s)| {
            format!(
                "{} trace={} id={} parent={}",
                s.name,
                hex(&s.trace_id),
                hex(&s.span_id),
                hex(&s.parent_span_id)
            )
        })
        .collect();
    lines.truncate(200);
    format!("{} spans arrived:\n{}", spans.len(), lines.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// The test

const LIMIT: Duration = Duration::from_secs(20);

async fn spans_and_metrics_reach_the_collector(postgres: bool) {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let (db, url) = Db::fresh(postgres).await;
    {
        let store = aftersales_store::connect(&url, 2).await.unwrap();
        // Overdue by a day: its TB-04 expiry fires (refund) as soon as the engine runs.
        seed(&store, Utc::now() - ChronoDuration::days(3), "o-expire").await;
        // 40 h old: past its reminder (36 h), not yet due (48 h): a reminder fires.
        seed(&store, Utc::now() - ChronoDuration::hours(40), "o-remind").await;
    }
    let key = create_key(&url, TENANT, "ops");
    let (server, mut client) = start_exporting(
        &url,
        &endpoint,
        &[
            ("OTEL_SERVICE_NAME", "aftersales-telemetry-test"),
            ("AFTERSALES_GAUGE_INTERVAL_MS", "100"),
        ],
    )
    .await;

    // The caller's trace: one trace id, a different parent span per call.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let create_parent = "00f067aa0ba902b7";
    let missing_parent = "00f067aa0ba902b8";
    let refused_parent = "00f067aa0ba902b9";
    let tp = |parent: &str| format!("00-{trace_id}-{parent}-01");

    let created = client
        .create_case(traced(
            &key,
            &tp(create_parent),
            pb::CreateCaseRequest {
                case: Some(pb::Case {
                    shop: "shop-1".into(),
                    platform: "taobao".into(),
                    order_id: "o-rpc".into(),
                    kind: pb::CaseKind::RefundOnly as i32,
                    fulfilment: pb::Fulfilment::Received as i32,
                    requested_refund_fen: 5000,
                    order_total_fen: 9900,
                    reason: "wrong colour".into(),
                    buyer: "tb_buyer_02".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .expect("create case")
        .into_inner();
    let case_id = created
        .name
        .strip_prefix("cases/")
        .expect("a case name")
        .to_string();
    let missing = client
        .get_case(traced(
            &key,
            &tp(missing_parent),
            pb::GetCaseRequest {
                name: "cases/no-such-case".into(),
            },
        ))
        .await
        .expect_err("no such case");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let refused = client
        .get_case(traced(
            "ask_0000000000000000_nottherightsecret",
            &tp(refused_parent),
            pb::GetCaseRequest {
                name: created.name.clone(),
            },
        ))
        .await
        .expect_err("a wrong key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // A stream the client gives up on: the call ends CANCELLED when the client goes away.
    let mut watch = client
        .watch_case_events(traced(
            &key,
            &tp(create_parent),
            pb::WatchCaseEventsRequest { after_sequence: 0 },
        ))
        .await
        .expect("watch")
        .into_inner();
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("an event in time")
        .expect("an event")
        .expect("not the end");
    drop(watch);

    // --- Traces -------------------------------------------------------------------------------
    let rpc_span = |method: &str, parent: &str| {
        let name = format!("aftersales.v1.AftersalesService/{method}");
        let parent = parent.to_string();
        move |spans: &[(String, Span)]| {
            spans
                .iter()
                .find(|(_, s)| s.name == name && hex(&s.parent_span_id) == parent)
                .map(|(service, s)| (service.clone(), s.clone()))
        }
    };
    let find_create = rpc_span("CreateCase", create_parent);
    let (service, create) = eventually(
        LIMIT,
        "the CreateCase span",
        || find_create(&collector.spans()),
        || span_context(&collector.spans()),
    )
    .await;
    assert_eq!(service, "aftersales-telemetry-test");
    // The caller's trace continues: same trace id, the caller's span as parent.
    assert_eq!(hex(&create.trace_id), trace_id);
    assert_eq!(hex(&create.parent_span_id), create_parent);
    assert_eq!(create.kind, SpanKind::Server as i32);
    for (k, v) in [
        ("rpc.system", "grpc"),
        ("rpc.service", "aftersales.v1.AftersalesService"),
        ("rpc.method", "CreateCase"),
        ("tenant", TENANT),
        ("account", "ops"),
        ("platform", "taobao"),
        ("case_id", case_id.as_str()),
    ] {
        assert_eq!(
            string_attr(&create.attributes, k).as_deref(),
            Some(v),
            "{k} on {create:?}"
        );
    }
    assert_eq!(
        int_attr(&create.attributes, "rpc.grpc.status_code"),
        Some(0)
    );
    // Each attribute once: a field recorded twice would be sent twice.
    let mut keys: Vec<&str> = create.attributes.iter().map(|kv| kv.key.as_str()).collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "repeated attributes on {create:?}");

    // A store call is a child span in the same trace.
    let spans = collector.spans();
    let store_write = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| {
            s.span_id != create.span_id
                && s.trace_id == create.trace_id
                && s.parent_span_id == create.span_id
                && s.name == "write"
        })
        .unwrap_or_else(|| {
            panic!(
                "no store `write` span under CreateCase\n{}",
                span_context(&spans)
            )
        });
    let system = if postgres { "postgresql" } else { "sqlite" };
    assert_eq!(
        string_attr(&store_write.attributes, "db.system").as_deref(),
        Some(system)
    );
    assert_eq!(
        string_attr(&store_write.attributes, "case_id").as_deref(),
        Some(case_id.as_str())
    );

    // Errors: NOT_FOUND from the handler, UNAUTHENTICATED from the gate, CANCELLED when the
    // client dropped its stream.
    for (method, parent, code) in [
        ("GetCase", missing_parent, 5),
        ("GetCase", refused_parent, 16),
        ("WatchCaseEvents", create_parent, 1),
    ] {
        let find = rpc_span(method, parent);
        let (_, span) = eventually(
            LIMIT,
            &format!("the {method} span answering {code}"),
            || find(&collector.spans()),
            || span_context(&collector.spans()),
        )
        .await;
        assert_eq!(hex(&span.trace_id), trace_id);
        assert_eq!(
            int_attr(&span.attributes, "rpc.grpc.status_code"),
            Some(code),
            "{method} {span:?}"
        );
    }

    // The deadline engine: each firing is a span with its kind, rule and lateness, under the
    // per-case `deadline.fire` span.
    for (name, kind, min_late_ms) in [
        ("deadline.expired", "expiry", 23 * 3_600_000),
        ("deadline.reminder", "reminder", 3 * 3_600_000),
    ] {
        let fired = eventually(
            LIMIT,
            name,
            || {
                collector
                    .spans()
                    .into_iter()
                    .map(|(_, s)| s)
                    .find(|s| s.name == name)
            },
            || span_context(&collector.spans()),
        )
        .await;
        assert_eq!(
            string_attr(&fired.attributes, "deadline.kind").as_deref(),
            Some(kind)
        );
        assert_eq!(
            string_attr(&fired.attributes, "rule").as_deref(),
            Some("TB-04")
        );
        assert_eq!(
            string_attr(&fired.attributes, "platform").as_deref(),
            Some("taobao")
        );
        let late = int_attr(&fired.attributes, "late_by_ms").expect("late_by_ms");
        assert!(late >= min_late_ms, "{name} late by {late} ms");
        let spans = collector.spans();
        let fire = spans
            .iter()
            .map(|(_, s)| s)
            .find(|s| s.span_id == fired.parent_span_id)
            .unwrap_or_else(|| panic!("no parent of {name}\n{}", span_context(&spans)));
        assert_eq!(fire.name, "deadline.fire");
        assert_eq!(
            string_attr(&fire.attributes, "tenant").as_deref(),
            Some(TENANT)
        );
    }

    // --- Metrics ------------------------------------------------------------------------------
    let find_metric = |metrics: &[Metric], name: &str| -> Option<Metric> {
        metrics.iter().find(|m| m.name == name).cloned()
    };
    let histogram_count = |m: &Metric, want: &[(&str, &str)]| -> u64 {
        match &m.data {
            Some(metric::Data::Histogram(h)) => h
                .data_points
                .iter()
                .filter(|p| has(&p.attributes, want))
                .map(|p| p.count)
                .sum(),
            _ => 0,
        }
    };
    let number = |m: &Metric, want: &[(&str, &str)]| -> Option<i64> {
        let points = match &m.data {
            Some(metric::Data::Gauge(g)) => &g.data_points,
            Some(metric::Data::Sum(s)) => &s.data_points,
            _ => return None,
        };
        points
            .iter()
            .find(|p| has(&p.attributes, want))
            .and_then(|p| match p.value {
                Some(number_data_point::Value::AsInt(i)) => Some(i),
                Some(number_data_point::Value::AsDouble(d)) => Some(d as i64),
                None => None,
            })
    };
    let describe = || match collector.latest_metrics() {
        None => "no metrics export arrived".to_string(),
        Some((_, metrics)) => format!("{metrics:#?}").chars().take(20_000).collect(),
    };
    // Wait for an export that has seen everything above: the last call's duration, and the
    // gauges after the engine fired both seeded cases (the expired one refunded, so open cases
    // are the reminded one and the created one).
    let (resource, metrics) = eventually(
        LIMIT,
        "metrics with every instrument",
        || {
            let (resource, metrics) = collector.latest_metrics()?;
            let rpc = find_metric(&metrics, "rpc.server.call.duration")?;
            (histogram_count(&rpc, &[("rpc.method", "WatchCaseEvents")]) > 0).then_some(())?;
            let open = find_metric(&metrics, "aftersales.cases.open")?;
            (number(
                &open,
                &[("platform", "taobao"), ("state", "awaiting_merchant")],
            )? == 2)
                .then_some(())?;
            find_metric(&metrics, "aftersales.deadline.reminders")?;
            find_metric(&metrics, "aftersales.deadline.expirations")?;
            let writes = find_metric(&metrics, "aftersales.store.case_writes")?;
            (number(&writes, &[])? >= 1).then_some(())?;
            Some((resource, metrics))
        },
        describe,
    )
    .await;
    assert_eq!(
        string_attr(&resource, "service.name").as_deref(),
        Some("aftersales-telemetry-test")
    );
    assert!(string_attr(&resource, "service.instance.id").is_some());

    let rpc = find_metric(&metrics, "rpc.server.call.duration").unwrap();
    assert_eq!(rpc.unit, "s");
    for (method, code, n) in [
        ("CreateCase", "0", 1),
        ("GetCase", "5", 1),
        ("GetCase", "16", 1),
        ("WatchCaseEvents", "1", 1),
    ] {
        assert_eq!(
            histogram_count(
                &rpc,
                &[
                    ("rpc.method", method),
                    ("rpc.grpc.status_code", code),
                    ("rpc.service", "aftersales.v1.AftersalesService")
                ]
            ),
            n,
            "{method} {code}"
        );
    }

    let open = find_metric(&metrics, "aftersales.cases.open").unwrap();
    assert!(matches!(open.data, Some(metric::Data::Gauge(_))));
    let active = find_metric(&metrics, "aftersales.deadlines.active").unwrap();
    // The reminded case's TB-04 and the created case's deadlines run; none is overdue once the
    // engine has fired.
    assert!(number(&active, &[("platform", "taobao"), ("status", "due")]).unwrap() >= 1);
    assert_eq!(
        number(&active, &[("platform", "taobao"), ("status", "overdue")]),
        Some(0)
    );

    // The group commit's counters: the created case and the engine's firings were case
    // writes, each committed in some transaction, and none is waiting any more.
    let counter = |name: &str| {
        let m = find_metric(&metrics, name).unwrap_or_else(|| panic!("no {name}"));
        match &m.data {
            Some(metric::Data::Sum(sum)) => assert!(sum.is_monotonic, "{name} is a counter"),
            other => panic!("{name} is not a sum: {other:?}"),
        }
        number(&m, &[]).unwrap()
    };
    let (writes, batches) = (
        counter("aftersales.store.case_writes"),
        counter("aftersales.store.write_batches"),
    );
    assert!(
        batches >= 1 && batches <= writes,
        "{writes} writes in {batches} batches"
    );
    assert_eq!(counter("aftersales.store.writes_abandoned"), 0);
    let pending = find_metric(&metrics, "aftersales.store.writes_pending").unwrap();
    assert!(matches!(pending.data, Some(metric::Data::Gauge(_))));

    // PostgreSQL answers concurrent lookups of a case (GetCase's not-found one above) and of a
    // stored request in shared statements, and says how many shared each; SQLite runs each
    // lookup alone and exports no such series.
    let grouped = find_metric(&metrics, "aftersales.store.grouped_lookups");
    if postgres {
        let grouped = grouped.expect("grouped lookups on PostgreSQL");
        let statements =
            find_metric(&metrics, "aftersales.store.grouped_lookup_statements").unwrap();
        let case_lookups = number(&grouped, &[("lookup", "case")]).unwrap();
        let case_statements = number(&statements, &[("lookup", "case")]).unwrap();
        assert!(
            case_lookups >= 1 && (1..=case_lookups).contains(&case_statements),
            "{case_lookups} case lookups in {case_statements} statements"
        );
        assert!(number(&grouped, &[("lookup", "request")]).is_some());
        let waiting = find_metric(&metrics, "aftersales.store.grouped_lookups_waiting").unwrap();
        assert!(matches!(waiting.data, Some(metric::Data::Gauge(_))));
    } else {
        assert!(grouped.is_none(), "SQLite exports no grouped lookups");
    }

    let lateness = find_metric(&metrics, "aftersales.deadline.lateness").unwrap();
    assert_eq!(lateness.unit, "s");
    assert_eq!(
        histogram_count(
            &lateness,
            &[("deadline.kind", "expiry"), ("platform", "taobao")]
        ),
        1
    );
    assert_eq!(
        histogram_count(&lateness, &[("deadline.kind", "reminder")]),
        1
    );
    let reminders = find_metric(&metrics, "aftersales.deadline.reminders").unwrap();
    assert_eq!(
        number(&reminders, &[("platform", "taobao"), ("rule", "TB-04")]),
        Some(1)
    );
    let expirations = find_metric(&metrics, "aftersales.deadline.expirations").unwrap();
    assert_eq!(
        number(&expirations, &[("platform", "taobao"), ("rule", "TB-04")]),
        Some(1)
    );

    let store = find_metric(&metrics, "db.client.operation.duration").unwrap();
    assert!(
        histogram_count(
            &store,
            &[("db.operation.name", "write"), ("db.system.name", system)]
        ) >= 3,
        "the created case and both firings are writes"
    );
    assert!(histogram_count(&store, &[("db.operation.name", "gauge_counts")]) >= 1);

    drop(server);
    db.drop_now().await;
}

#[tokio::test]
async fn sqlite_spans_and_metrics_reach_the_collector() {
    spans_and_metrics_reach_the_collector(false).await
}

#[tokio::test]
async fn postgres_spans_and_metrics_reach_the_collector() {
    spans_and_metrics_reach_the_collector(true).await
}

/// The test CA the TLS collector's certificate is signed by.
fn test_ca() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/otlp-tls/ca.pem"
    )
    .to_string()
}

/// A collector reached over `https://` (a vendor endpoint, or an in-cluster collector with
/// TLS) gets the spans and metrics, its private CA given by OTEL_EXPORTER_OTLP_CERTIFICATE.
#[tokio::test]
async fn spans_and_metrics_reach_a_collector_over_tls() {
    let collector = Collector::default();
    let endpoint = collector.start_tls().await;
    let (db, url) = Db::fresh(false).await;
    let key = create_key(&url, TENANT, "ops");
    let ca = test_ca();
    let (server, mut client) = start_exporting(
        &url,
        &endpoint,
        &[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_str()),
            ("OTEL_SERVICE_NAME", "aftersales-tls-test"),
        ],
    )
    .await;
    list_cases_until_its_span(
        &collector,
        &server,
        &mut client,
        &key,
        "aftersales-tls-test",
    )
    .await;
    let log = || std::fs::read_to_string(&server.log).unwrap_or_default();
    eventually(
        Duration::from_secs(20),
        "a metrics export, over TLS",
        || collector.latest_metrics(),
        log,
    )
    .await;
    drop(server);
    db.drop_now().await;
}

/// Makes a traced ListCases call and waits until its span reaches `collector` from the
/// service named `service`.
async fn list_cases_until_its_span(
    collector: &Collector,
    server: &ServerProcess,
    client: &mut AftersalesServiceClient<tonic::transport::Channel>,
    key: &str,
    service: &str,
) {
    let request = pb::ListCasesRequest {
        page_size: 1,
        ..Default::default()
    };
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    client
        .list_cases(traced(key, traceparent, request))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(20),
        &format!("a span of the ListCases call from {service}"),
        || {
            collector
                .spans()
                .into_iter()
                .find(|(from, span)| from == service && span.name.contains("ListCases"))
        },
        || std::fs::read_to_string(&server.log).unwrap_or_default(),
    )
    .await;
}

/// Starts `aftersales serve` on a fresh SQLite file with `env`, expects it to refuse to start,
/// and answers what it said.
fn refused_start(env: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!(
        "aftersales-refused-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["serve"])
        .env(
            "AFTERSALES_DATABASE_URL",
            format!("sqlite://{}/a.db", dir.display()),
        )
        .env("AFTERSALES_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A CA file that cannot be read stops the start with an error naming the variable, rather
/// than exporting nowhere.
#[test]
fn an_unreadable_otlp_ca_file_stops_the_start() {
    let err = refused_start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://localhost:4317"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
    ]);
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

/// Logs quietened to warnings still leave every span exported: the span filter is its own
/// (`AFTERSALES_TRACE_FILTER`, info when unset), not RUST_LOG.
#[tokio::test]
async fn quiet_logs_do_not_stop_span_export() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let (db, url) = Db::fresh(false).await;
    let key = create_key(&url, TENANT, "ops");
    let (server, mut client) = start_exporting(
        &url,
        &endpoint,
        &[
            ("RUST_LOG", "warn"),
            ("OTEL_SERVICE_NAME", "aftersales-quiet-logs"),
        ],
    )
    .await;
    list_cases_until_its_span(
        &collector,
        &server,
        &mut client,
        &key,
        "aftersales-quiet-logs",
    )
    .await;
    drop(server);
    db.drop_now().await;
}

/// A span filter that does not parse stops the start, naming the variable.
#[test]
fn an_unparsable_trace_filter_stops_the_start() {
    let err = refused_start(&[("AFTERSALES_TRACE_FILTER", "info,[unclosed")]);
    assert!(err.contains("AFTERSALES_TRACE_FILTER"), "{err}");
}
