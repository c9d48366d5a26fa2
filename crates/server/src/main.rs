//! `aftersales`: the after-sales service. `aftersales` alone serves on 127.0.0.1:50051 with
//! an embedded SQLite database under ./data/.

use aftersales_api::auth::{generate_key, KeyGrant};
use aftersales_api::gate::{GateLimits, RateLimit};
use aftersales_domain::access::{Role, ShopScope};
use aftersales_domain::{ShopId, SystemClock, TenantId};
use aftersales_server::telemetry::{self, LogFormat};
use aftersales_server::{
    open_store, redact, serve, termination_signal, EngineOptions, ServeOptions, Services,
    DEFAULT_DATABASE_URL,
};
use aftersales_store::{ApiKeyRecord, Store};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "aftersales",
    version,
    about = "After-sales cases from every marketplace, one model, every deadline kept."
)]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    /// Log format.
    #[arg(
        long,
        env = "AFTERSALES_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    /// Which spans are exported over OTLP, in RUST_LOG's syntax (e.g. `info,aftersales_store=off`),
    /// apart from RUST_LOG, which filters the logs only: quietening the logs must not blind
    /// the dashboards.
    #[arg(
        long,
        env = "AFTERSALES_TRACE_FILTER",
        default_value = "info",
        value_parser = telemetry::span_filter_directives,
        global = true
    )]
    trace_filter: String,
    /// Serving options; also accepted after `serve`. Flattened here so `aftersales` alone
    /// (no subcommand) still reads them from the environment.
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// sqlite://PATH (embedded, created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "AFTERSALES_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    /// PostgreSQL connection pool size.
    #[arg(
        long,
        env = "AFTERSALES_PG_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pg_max_connections: u32,
    /// PostgreSQL group-commit writers: case-write transactions in flight at once, each on a
    /// connection of the pool [default: an eighth of the pool, 1 to 4]. SQLite always has one.
    #[arg(long, env = "AFTERSALES_PG_WRITERS", global = true)]
    pg_writers: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gRPC API and run the deadline engine (the default).
    Serve,
    /// Apply database migrations and exit (for a deployment's migration step).
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(
        long,
        env = "AFTERSALES_LISTEN",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    listen: SocketAddr,
    /// Secret for signing page tokens; set the same value on every replica.
    #[arg(
        long,
        env = "AFTERSALES_PAGE_TOKEN_SECRET",
        hide_env_values = true,
        global = true
    )]
    page_token_secret: Option<String>,
    /// Seconds in-flight calls get to finish after SIGTERM.
    #[arg(
        long,
        env = "AFTERSALES_DRAIN_SECONDS",
        default_value_t = 25,
        global = true
    )]
    drain_seconds: u64,
    /// Run the deadline engine in this process (every replica may; they share the work).
    #[arg(long, env = "AFTERSALES_DEADLINE_ENGINE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    deadline_engine: bool,
    /// Timers claimed per sweep.
    #[arg(
        long,
        env = "AFTERSALES_SWEEP_BATCH",
        default_value_t = 512,
        global = true
    )]
    sweep_batch: u32,
    /// Longest pause between sweeps, in milliseconds, when nothing is due sooner.
    #[arg(
        long,
        env = "AFTERSALES_SWEEP_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    sweep_interval_ms: u64,
    /// Seconds a claimed timer stays leased; a crashed replica's claims are rescued after it.
    #[arg(
        long,
        env = "AFTERSALES_TIMER_LEASE_SECONDS",
        default_value_t = 30,
        global = true
    )]
    timer_lease_seconds: u64,
    /// Calls served at once by this process; more are refused with UNAVAILABLE and a retry
    /// delay rather than queued.
    #[arg(
        long,
        env = "AFTERSALES_MAX_CONCURRENT_REQUESTS",
        default_value_t = 256,
        global = true
    )]
    max_concurrent_requests: usize,
    /// Sustained calls per second per tenant and per process (0: no limit); beyond it calls
    /// answer RESOURCE_EXHAUSTED with a retry delay.
    #[arg(
        long,
        env = "AFTERSALES_RATE_LIMIT_PER_TENANT",
        default_value_t = 200.0,
        global = true
    )]
    rate_limit_per_tenant: f64,
    /// Calls a tenant may make at once above its rate (the token bucket's size).
    #[arg(
        long,
        env = "AFTERSALES_RATE_BURST_PER_TENANT",
        default_value_t = 400.0,
        global = true
    )]
    rate_burst_per_tenant: f64,
    /// Longest a call may run, in seconds (a client's shorter deadline wins).
    #[arg(
        long,
        env = "AFTERSALES_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30,
        global = true
    )]
    request_timeout_seconds: u64,
    /// How long, in milliseconds, an API key's row is used before it is read again: the
    /// longest a revocation made on another replica takes to hold here (0: read every call).
    #[arg(
        long,
        env = "AFTERSALES_KEY_ROW_TTL_MS",
        default_value_t = 1000,
        global = true
    )]
    key_row_ttl_ms: u64,
    /// Milliseconds between reads of the gauge counts (open cases, active deadlines) when
    /// metrics are exported (OTEL_EXPORTER_OTLP_ENDPOINT set); each read is two indexed counts.
    #[arg(
        long,
        env = "AFTERSALES_GAUGE_INTERVAL_MS",
        default_value_t = 15_000,
        global = true
    )]
    gauge_interval_ms: u64,
    /// Run the background pass that renders again the stored case views a new release made
    /// stale (docs/reliability.md, "Stored views"); it runs once per view format, resumed
    /// across restarts, and a replica that finds it finished does nothing.
    #[arg(long, env = "AFTERSALES_VIEW_PASS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    view_pass: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        tenant: String,
        /// The merchant account (sub-account) the key acts as.
        #[arg(long)]
        account: String,
        /// owner, agent or viewer.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Grant the platform-task permission (TB-22: answer platform tasks).
        #[arg(long)]
        platform_task: bool,
        /// Limit the key to a shop (repeat for several); without it the key sees every shop.
        #[arg(long = "shop")]
        shops: Vec<String>,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key: every replica refuses it from its next call.
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The key id (the 16 hex digits after `ask_`).
        #[arg(long)]
        key_id: String,
    },
    /// Replace a key with a new one of the same grant and print the new key once; the old
    /// one keeps working for the grace period.
    Rotate {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key_id: String,
        #[arg(long, default_value_t = 0)]
        grace_seconds: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = match telemetry::init(cli.log_format, &cli.trace_filter) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exports_metrics = _telemetry.exports_metrics();
    match run(cli, exports_metrics).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, exports_metrics: bool) -> Result<(), Box<dyn std::error::Error>> {
    let command = cli.command.unwrap_or(Command::Serve);
    let args = cli.serve;
    tracing::info!(database = %redact(&cli.db.database_url), "opening store");
    if let Some(writers) = cli.db.pg_writers {
        let pool = cli.db.pg_max_connections;
        if writers == 0 || writers > pool as usize {
            return Err(format!(
                "--pg-writers must be between 1 and --pg-max-connections ({pool}); \
                 each writer holds one of the pool's connections while it commits"
            )
            .into());
        }
    }
    let store = open_store(
        &cli.db.database_url,
        cli.db.pg_max_connections,
        cli.db.pg_writers,
    )
    .await?;
    match command {
        Command::Migrate => {
            println!("migrations applied to {}", redact(&cli.db.database_url));
            Ok(())
        }
        Command::Keys { command } => keys(store.as_ref(), command).await,
        Command::Serve => {
            if args.sweep_batch == 0 || args.timer_lease_seconds == 0 {
                return Err("--sweep-batch and --timer-lease-seconds must be positive".into());
            }
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            // Printed on stdout so scripts and tests can find an ephemeral port.
            println!("listening on {}", listener.local_addr()?);
            let services = Services::new(store, Arc::new(SystemClock))?;
            let options = ServeOptions {
                page_token_secret: args.page_token_secret.unwrap_or_default().into_bytes(),
                drain_timeout: Duration::from_secs(args.drain_seconds),
                limits: GateLimits {
                    max_concurrent: args.max_concurrent_requests.max(1),
                    tenant_rate: (args.rate_limit_per_tenant > 0.0).then_some(RateLimit {
                        per_second: args.rate_limit_per_tenant,
                        burst: args.rate_burst_per_tenant.max(1.0),
                    }),
                },
                request_timeout: Duration::from_secs(args.request_timeout_seconds.max(1)),
                key_row_ttl: Duration::from_millis(args.key_row_ttl_ms),
                gauge_interval: exports_metrics
                    .then(|| Duration::from_millis(args.gauge_interval_ms.max(100))),
                engine: EngineOptions {
                    enabled: args.deadline_engine,
                    batch: args.sweep_batch,
                    lease: Duration::from_secs(args.timer_lease_seconds),
                    idle_poll: Duration::from_millis(args.sweep_interval_ms.max(10)),
                    ..EngineOptions::default()
                },
                view_pass: args
                    .view_pass
                    .then(aftersales_server::view_pass::ViewPassOptions::default),
                ..ServeOptions::default()
            };
            serve(services, listener, options, termination_signal()).await?;
            Ok(())
        }
    }
}

/// One line per key, tab-separated, for scripts; the secret is never stored, so never shown.
fn describe(k: &ApiKeyRecord, now: chrono::DateTime<chrono::Utc>) -> String {
    let shops = match &k.shops {
        ShopScope::AllShops => "*".to_string(),
        ShopScope::Only(s) => s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
    };
    format!(
        "{}\t{}\t{}\tplatform_task={}\tshops={}\t{}\tcreated={}",
        k.key_id,
        k.account,
        k.role.as_str(),
        k.platform_task,
        shops,
        k.state(now).as_str(),
        k.created_at.to_rfc3339()
    )
}

async fn keys(store: &dyn Store, command: KeysCommand) -> Result<(), Box<dyn std::error::Error>> {
    let now = chrono::Utc::now();
    match command {
        KeysCommand::Create {
            tenant,
            account,
            role,
            platform_task,
            shops,
        } => {
            let tenant = TenantId::parse(tenant)?;
            let role: Role = role.parse()?;
            if account.trim().is_empty() {
                return Err("--account must not be empty".into());
            }
            let shops = shops
                .iter()
                .map(|s| ShopId::parse(s.as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            let grant = KeyGrant {
                tenant,
                account: account.trim().to_string(),
                role,
                platform_task,
                shops: if shops.is_empty() {
                    ShopScope::AllShops
                } else {
                    ShopScope::Only(shops)
                },
                created_by: String::new(),
            };
            let (plaintext, record) = generate_key(grant, now);
            store.insert_api_key(&record).await?;
            println!("{plaintext}");
            eprintln!(
                "created key {} for tenant {}: {}; it is shown only once",
                record.key_id,
                record.tenant,
                describe(&record, now)
            );
            Ok(())
        }
        KeysCommand::List { tenant } => {
            let tenant = TenantId::parse(tenant)?;
            let mut after: Option<String> = None;
            loop {
                let page = store.list_api_keys(&tenant, after.as_deref(), 500).await?;
                for k in &page {
                    println!("{}", describe(k, now));
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.key_id.clone()),
                    _ => return Ok(()),
                }
            }
        }
        KeysCommand::Revoke { tenant, key_id } => {
            let tenant = TenantId::parse(tenant)?;
            match store.revoke_api_key(&tenant, &key_id, now).await? {
                Some(k) => {
                    println!("{}", describe(&k, now));
                    Ok(())
                }
                None => Err(format!("tenant {tenant} has no key {key_id}").into()),
            }
        }
        KeysCommand::Rotate {
            tenant,
            key_id,
            grace_seconds,
        } => {
            let tenant = TenantId::parse(tenant)?;
            if grace_seconds > 7 * 24 * 3600 {
                return Err("--grace-seconds must be at most 7 days".into());
            }
            let old = store
                .api_key(&key_id)
                .await?
                .filter(|k| k.tenant == tenant)
                .ok_or_else(|| format!("tenant {tenant} has no key {key_id}"))?;
            let grant = KeyGrant::successor_of(&old, String::new());
            let (plaintext, record) = generate_key(grant, now);
            let grace = chrono::Duration::seconds(grace_seconds as i64);
            store
                .rotate_api_key(&tenant, &key_id, &record, now + grace)
                .await?
                .ok_or_else(|| format!("tenant {tenant} has no key {key_id}"))?;
            println!("{plaintext}");
            eprintln!(
                "rotated {key_id} to {}; the old key works until {}",
                record.key_id,
                (now + grace).to_rfc3339()
            );
            Ok(())
        }
    }
}
