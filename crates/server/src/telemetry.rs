//! Logs, traces and metrics. Structured logs always; OTLP export of traces and metrics when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the exporters read the standard OTEL_* variables).
//! docs/observability.md describes what is exported.

use crate::metrics::{self, StoreTiming};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, KeyValue};
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tonic::transport::{Certificate, ClientTlsConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Flushes buffered spans and metrics when dropped at shutdown.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Whether metrics are exported (an OTLP endpoint is configured): only then is it worth
    /// reading the gauge counts from the database.
    pub fn exports_metrics(&self) -> bool {
        self.meters.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("flushing traces at shutdown failed: {e}");
            }
        }
        if let Some(m) = self.meters.take() {
            if let Err(e) = m.shutdown() {
                eprintln!("flushing metrics at shutdown failed: {e}");
            }
        }
    }
}

/// Who is reporting: `service.name` from OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES),
/// else `aftersales`; `service.instance.id` from OTEL_RESOURCE_ATTRIBUTES, else a random id
/// per process, so the collector keeps each replica's counters apart instead of mixing
/// several cumulative series into one.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let mut builder = Resource::builder();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|v| v.as_str() != "unknown_service");
    if !named {
        builder = builder.with_service_name("aftersales");
    }
    if detected
        .get(&Key::from_static_str("service.instance.id"))
        .is_none()
    {
        builder = builder.with_attribute(KeyValue::new(
            "service.instance.id",
            uuid::Uuid::new_v4().to_string(),
        ));
    }
    builder.build()
}

/// The batch exporter's default queue (2048 spans) drops spans under load; a larger queue
/// absorbs bursts, and the SDK reports drops in its own log at shutdown.
const SPAN_QUEUE: usize = 65_536;

/// Checks the exported spans' filter (`--trace-filter`, RUST_LOG's syntax) when the command
/// line is read: one that does not parse stops the start rather than exporting something
/// unintended.
pub fn span_filter_directives(directives: &str) -> Result<String, String> {
    EnvFilter::try_new(directives)
        .map(|_| directives.to_string())
        .map_err(|e| format!("not a tracing filter (AFTERSALES_TRACE_FILTER): {e}"))
}

/// `span_filter` (directives checked by [`span_filter_directives`]) filters the exported spans
/// apart from the logs (RUST_LOG).
pub fn init(
    format: LogFormat,
    span_filter: &str,
) -> Result<TelemetryGuard, Box<dyn std::error::Error>> {
    let spans = EnvFilter::try_new(span_filter)?;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter())
            .boxed(),
    };
    let endpoint_set = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .map(|v| !v.is_empty())
        .unwrap_or(false);
    let resource = endpoint_set.then(resource);
    let (otel_layer, provider) = if let Some(resource) = resource.clone() {
        let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
        if let Some(tls) = otlp_tls("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")? {
            builder = builder.with_tls_config(tls);
        }
        let exporter = builder.build()?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(SPAN_QUEUE)
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("aftersales");
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(spans);
        (Some(layer), Some(provider))
    } else {
        (None, None)
    };
    let (store_timing, meters) = match resource {
        Some(resource) => {
            let meters = metrics::provider(resource)?;
            // After the provider is global: the layer's histogram is made on it.
            let layer = StoreTiming::new().with_filter(StoreTiming::targets());
            (Some(layer), Some(meters))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .with(store_timing)
        .try_init()?;
    Ok(TelemetryGuard { provider, meters })
}

/// TLS for an OTLP exporter whose endpoint (`signal_endpoint_var`, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) is `https://`: the public roots built into the binary, and
/// the CA certificate file `OTEL_EXPORTER_OTLP_CERTIFICATE` names (the OpenTelemetry
/// variable, which the exporter crate does not read itself) for a collector with a private
/// CA. `None` for `http://`. An unreadable CA file stops the start: exporting in plain text
/// or to no one instead would hide it.
pub(crate) fn otlp_tls(
    signal_endpoint_var: &str,
) -> Result<Option<ClientTlsConfig>, Box<dyn std::error::Error>> {
    let endpoint = [signal_endpoint_var, "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    if !endpoint.to_ascii_lowercase().starts_with("https://") {
        return Ok(None);
    }
    let mut tls = ClientTlsConfig::new().with_webpki_roots();
    if let Some(path) = std::env::var_os("OTEL_EXPORTER_OTLP_CERTIFICATE").filter(|p| !p.is_empty())
    {
        let pem = std::fs::read(&path).map_err(|e| {
            format!(
                "OTEL_EXPORTER_OTLP_CERTIFICATE {}: {e}",
                std::path::Path::new(&path).display()
            )
        })?;
        tls = tls.ca_certificate(Certificate::from_pem(pem));
    }
    Ok(Some(tls))
}
