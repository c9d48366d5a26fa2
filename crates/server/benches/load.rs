//! Load generator: the release `aftersales` binary on a fresh database, driven over gRPC on
//! loopback by this process, beside the ceilings of the same machine measured in the same run.
//!
//! ```sh
//! cargo bench -p aftersales-server --bench load -- [--backend sqlite|postgres|both] \
//!     [--mix ingest-new,ingest-update,actions,get,list,realistic] [--concurrency 16,64] \
//!     [--seconds 10] [--requests 200000] [--seed 120000] [--connections 4] \
//!     [--database-url URL (an existing database, e.g. one deadline_sweep --keep left)] \
//!     [--open-rate CALLS_PER_S (the open-loop loads at this rate, not half the saturating one)]
//! ```
//!
//! Ceilings, each at the same concurrency and with the same client settings:
//! - **echo**: a bare tonic server (this binary re-run as `--echo-server`, its own process like
//!   the real server) answering `grpc.health.v1.Health/Check`: the cost of an RPC and nothing
//!   else.
//! - **raw insert**: one single-row INSERT per commit into a scratch table of the same
//!   database, with the server's durability (SQLite WAL + `synchronous=FULL` through one sqlx
//!   writer connection, as the store writes; PostgreSQL `synchronous_commit=on` with as many
//!   connections as the server's pool).
//!
//! Every mix is bounded by `--seconds` and `--requests`. Targets are ratios to a ceiling; a
//! missed one prints `FAIL` without changing the exit code (an error does).

#[path = "support/proc.rs"]
mod proc;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftersales_proto::v1 as pb;
use aftersales_store::scratch::ScratchDatabase;
use pb::aftersales_service_client::AftersalesServiceClient;
use sqlx::Connection;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*).into()) };
}

const TENANT: &str = "bench";
/// What a call answers when its mix has no work left (every seeded case acted on): the loop
/// stops rather than counting errors.
const EXHAUSTED: &str = "no seeded case left to act on";
const SHOPS: usize = 8;
/// The p99 target applies at this share of the saturating rate.
const HALF: f64 = 0.5;
const TARGET_P99_AT_HALF: Duration = Duration::from_millis(10);
const TARGET_GET_VS_ECHO: f64 = 0.5;
const TARGET_WRITES_VS_INSERT: f64 = 1.0;
const TARGET_RSS_KB: u64 = 200 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mix {
    IngestNew,
    IngestUpdate,
    Actions,
    Get,
    List,
    Realistic,
}

impl Mix {
    const ALL: [Mix; 6] = [
        Mix::IngestNew,
        Mix::IngestUpdate,
        Mix::Actions,
        Mix::Get,
        Mix::List,
        Mix::Realistic,
    ];

    fn name(self) -> &'static str {
        match self {
            Mix::IngestNew => "ingest-new",
            Mix::IngestUpdate => "ingest-update",
            Mix::Actions => "actions",
            Mix::Get => "get",
            Mix::List => "list",
            Mix::Realistic => "realistic",
        }
    }

    /// Whether every request of the mix is an acknowledged durable case write.
    fn is_write(self) -> bool {
        matches!(self, Mix::IngestNew | Mix::IngestUpdate | Mix::Actions)
    }
}

#[derive(Debug, Clone)]
struct Args {
    backends: Vec<Backend>,
    mixes: Vec<Mix>,
    concurrency: Vec<usize>,
    seconds: f64,
    requests: u64,
    seed: usize,
    connections: usize,
    database_url: Option<String>,
    /// Calls/s of the open-loop loads instead of half the rate each saturated at: to compare
    /// two builds' tails at one rate, since each saturates at its own.
    open_rate: Option<f64>,
}

fn parse_args() -> Res<Args> {
    let mut args = Args {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        mixes: Mix::ALL.to_vec(),
        concurrency: vec![16, 64],
        seconds: 10.0,
        requests: 200_000,
        seed: 120_000,
        connections: 4,
        database_url: None,
        open_rate: None,
    };
    let mut it = std::env::args().skip(1);
    let value = |flag: &str, v: Option<String>| v.ok_or_else(|| format!("{flag} needs a value"));
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--backend" => {
                args.backends = match value("--backend", it.next())?.as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    other => bail!("--backend sqlite|postgres|both, not {other:?}"),
                }
            }
            "--mix" => {
                let v = value("--mix", it.next())?;
                args.mixes = v
                    .split(',')
                    .map(|m| {
                        Mix::ALL
                            .into_iter()
                            .find(|x| x.name() == m)
                            .ok_or_else(|| format!("unknown mix {m:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--concurrency" => {
                args.concurrency = value("--concurrency", it.next())?
                    .split(',')
                    .map(|c| c.parse::<usize>().map_err(|e| format!("{c}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => args.seconds = value("--seconds", it.next())?.parse()?,
            "--requests" => args.requests = value("--requests", it.next())?.parse()?,
            "--seed" => args.seed = value("--seed", it.next())?.parse()?,
            "--connections" => args.connections = value("--connections", it.next())?.parse()?,
            "--database-url" => args.database_url = Some(value("--database-url", it.next())?),
            "--open-rate" => args.open_rate = Some(value("--open-rate", it.next())?.parse()?),
            "-h" | "--help" => {
                println!("see the comment at the top of crates/server/benches/load.rs");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.concurrency.contains(&0)
        || args.connections == 0
        || args.seconds <= 0.0
        || args.open_rate.is_some_and(|r| r.is_nan() || r <= 0.0)
    {
        bail!("--concurrency, --connections, --seconds and --open-rate must be positive");
    }
    if args.database_url.is_some() && args.backends.len() != 1 {
        bail!("--database-url needs --backend sqlite or --backend postgres");
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// Latency and report

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    requests: u64,
    errors: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    /// The mix ran out of work (every seeded case acted on) before its window ended.
    ran_out: bool,
    /// CPU spent per counted call over the measured window (closed loops only).
    cpu: Option<CpuPerCall>,
    /// Time the emulated autoanalyze spent in ANALYZEs that ended within the measured window
    /// (PostgreSQL only): the background work a tail may have coincided with.
    autoanalyze: Option<Duration>,
}

fn figures(mut latencies: Vec<Duration>, errors: u64, elapsed: Duration) -> Figures {
    latencies.sort_unstable();
    let at = |q: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)]
        }
    };
    Figures {
        requests: latencies.len() as u64,
        errors,
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        ran_out: false,
        cpu: None,
        autoanalyze: None,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn rate(r: f64) -> String {
    format!("{:.0}/s", r)
}

#[derive(Default)]
struct Report {
    rows: Vec<Vec<String>>,
    targets: Vec<(String, String, bool)>,
}

impl Report {
    fn row(&mut self, backend: &str, what: &str, concurrency: usize, f: &Figures, rss: &str) {
        let analyzed = f
            .autoanalyze
            .filter(|_| backend == Backend::Postgres.name())
            .map(ms);
        println!(
            "  {backend:8} {what:28} c={concurrency:<3} {:>9} ({} calls)  p50 {:>9}  p99 {:>9}  \
             p999 {:>9}  errors {}  cpu/call {}  {rss}  {}",
            rate(f.per_second),
            f.requests,
            ms(f.p50),
            ms(f.p99),
            ms(f.p999),
            f.errors,
            cpu_cell(f.cpu),
            analyzed
                .as_ref()
                .map(|a| format!("autoanalyze {a}"))
                .unwrap_or_default(),
        );
        self.rows.push(vec![
            backend.to_string(),
            what.to_string(),
            concurrency.to_string(),
            f.requests.to_string(),
            rate(f.per_second),
            ms(f.p50),
            ms(f.p99),
            ms(f.p999),
            f.errors.to_string(),
            cpu_cell(f.cpu),
            rss.to_string(),
            analyzed.unwrap_or_default(),
        ]);
    }

    fn target(&mut self, what: String, measured: String, met: bool) {
        println!(
            "  target {what}: {measured} {}",
            if met { "ok" } else { "FAIL" }
        );
        self.targets.push((what, measured, met));
    }

    fn markdown(&self) -> String {
        let mut s = String::from(
            "| backend | load | concurrency | calls | throughput | p50 | p99 | p99.9 | errors | CPU per call (server / client / PostgreSQL) | server RSS (now / peak) | autoanalyze in the window |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s.push_str("\n| target | measured | met |\n|---|---|---|\n");
        for (what, measured, met) in &self.targets {
            s.push_str(&format!(
                "| {what} | {measured} | {} |\n",
                if *met { "yes" } else { "**no**" }
            ));
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// CPU per call

/// Whose CPU a load is charged: the process answering it, this client, and (on PostgreSQL)
/// the server backends of the bench's database. Throughput on a machine the three share is
/// bounded by their sum, so the split says which of them a ratio is really measuring.
#[derive(Debug, Clone, Default)]
struct CpuProbe {
    server: Option<u32>,
    /// PostgreSQL's backends show the database name in their process title.
    database: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CpuTicks {
    server: u64,
    client: u64,
    database: u64,
}

/// Microseconds of CPU per counted call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuPerCall {
    /// None where no server process answers (the raw INSERT ceiling runs in this client).
    server: Option<f64>,
    client: f64,
    database: Option<f64>,
}

fn process_ticks(pid: &str) -> u64 {
    proc::cpu_ticks(pid).unwrap_or(0)
}

impl CpuProbe {
    fn sample(&self) -> CpuTicks {
        let database = match &self.database {
            Some(name) => std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| c.windows(name.len()).any(|w| w == name.as_bytes()))
                })
                .map(|pid| process_ticks(&pid))
                .sum(),
            None => 0,
        };
        CpuTicks {
            server: self.server.map_or(0, |p| process_ticks(&p.to_string())),
            client: process_ticks("self"),
            database,
        }
    }

    fn per_call(&self, from: CpuTicks, to: CpuTicks, calls: u64) -> Option<CpuPerCall> {
        if calls == 0 {
            return None;
        }
        let us = |a: u64, b: u64| {
            b.saturating_sub(a) as f64 / proc::clock_ticks_per_second() as f64 * 1e6 / calls as f64
        };
        Some(CpuPerCall {
            server: self.server.map(|_| us(from.server, to.server)),
            client: us(from.client, to.client),
            database: self
                .database
                .as_ref()
                .map(|_| us(from.database, to.database)),
        })
    }
}

fn cpu_cell(cpu: Option<CpuPerCall>) -> String {
    match cpu {
        Some(c) => {
            let db = c.database.map(|d| format!(" / {d:.0}")).unwrap_or_default();
            let server = c.server.map_or("–".to_string(), |s| format!("{s:.0}"));
            format!("{server} / {:.0}{db} µs", c.client)
        }
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

struct Process {
    child: Child,
    addr: String,
}

impl Process {
    /// Start `cmd`, whose first stdout line is `listening on ADDR`.
    fn start(mut cmd: Command, what: &str) -> Res<Process> {
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("start {what}: {e}"))?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let first = match lines.next() {
            Some(Ok(line)) => line,
            other => {
                let _ = child.kill();
                bail!("{what} printed no address: {other:?}")
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("{what}: unexpected first line {first:?}"))?
            .to_string();
        Ok(Process { child, addr })
    }

    fn status_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    }

    fn rss(&self) -> String {
        format!(
            "{:.0} / {:.0} MiB",
            self.status_kb("VmRSS:") as f64 / 1024.0,
            self.status_kb("VmHWM:") as f64 / 1024.0
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server under test, or, when `AFTERSALES_BENCH_SERVER_WRAPPER` names a command (say
/// `valgrind --tool=callgrind --instr-atstart=no`), the server run under it: profiles are
/// taken of the same process, settings and load as the figures (docs/benchmarks.md).
fn server_command(url: &str, pool: u32) -> Command {
    let binary = env!("CARGO_BIN_EXE_aftersales");
    let wrapper = std::env::var("AFTERSALES_BENCH_SERVER_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(binary);
            cmd
        }
        None => Command::new(binary),
    };
    cmd.arg("serve")
        .env("AFTERSALES_DATABASE_URL", url)
        .env("AFTERSALES_LISTEN", "127.0.0.1:0")
        .env("AFTERSALES_PG_MAX_CONNECTIONS", pool.to_string())
        .env("AFTERSALES_PAGE_TOKEN_SECRET", "load-bench")
        // The bench is one tenant as fast as it can go: throttling would measure the limiter.
        .env("AFTERSALES_RATE_LIMIT_PER_TENANT", "0")
        .env("AFTERSALES_MAX_CONCURRENT_REQUESTS", "1024")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit());
    cmd
}

fn create_key(url: &str) -> Res<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["keys", "create", "--tenant", TENANT, "--account", "load"])
        .args(["--role", "agent"])
        .env("AFTERSALES_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!("keys create: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// The echo ceiling's server: nothing but tonic and the health service, on the same runtime
/// shape as the real server (tokio's multi-threaded default).
fn echo_server() -> Res<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming)
            .await?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Databases

/// A database for one backend's run: a scratch one, dropped at the end, or the one given.
struct Database {
    url: String,
    scratch: Option<ScratchDatabase>,
}

/// The database name in a PostgreSQL URL, which its backends show in their process title.
fn postgres_database_name(backend: Backend, url: &str) -> Option<String> {
    (backend == Backend::Postgres)
        .then(|| url.rsplit('/').next())
        .flatten()
        .map(|path| path.split('?').next().unwrap_or(path).to_string())
        .filter(|name| !name.is_empty())
}

impl Database {
    async fn fresh(backend: Backend) -> Res<Database> {
        let (scratch, url) =
            ScratchDatabase::fresh(backend == Backend::Postgres, "aftersales_load").await?;
        Ok(Database {
            url,
            scratch: Some(scratch),
        })
    }

    async fn drop_now(self) {
        if let Some(scratch) = self.scratch {
            if let Err(e) = scratch.drop_now().await {
                eprintln!("{e}");
            }
        }
    }
}

/// The write ceiling: single-row INSERTs, one per commit, from `concurrency` tasks sharing a
/// pool shaped like the store's writer, into a scratch table dropped afterwards.
async fn raw_insert_rate(
    backend: Backend,
    url: &str,
    pool: u32,
    concurrency: usize,
    args: &Args,
) -> Res<Figures> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use std::str::FromStr;
    let table = format!("bench_raw_{}", uuid::Uuid::new_v4().simple());
    let create = format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL)"
    );
    let insert = format!("INSERT INTO {table} (id, tenant, body) VALUES ($1, $2, $3)");
    let body = "x".repeat(512);
    let next = Arc::new(AtomicU64::new(0));
    // No server process: the inserts run in this client (and, on PostgreSQL, its backends).
    let probe = CpuProbe {
        server: None,
        database: postgres_database_name(backend, url),
    };
    // The same loop for either pool type.
    macro_rules! insert_loop {
        ($db:expr) => {{
            let db = $db;
            sqlx::query(&create).execute(&db).await?;
            let shared = (db.clone(), Arc::new(insert.clone()), Arc::new(body.clone()));
            let r = closed_loop(concurrency, args, &probe, move |_| {
                let (db, insert, body) = shared.clone();
                let id = next.fetch_add(1, Ordering::Relaxed) as i64;
                async move {
                    sqlx::query(&insert)
                        .bind(id)
                        .bind(TENANT)
                        .bind(body.as_str())
                        .execute(&db)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            })
            .await;
            sqlx::query(&format!("DROP TABLE {table}"))
                .execute(&db)
                .await?;
            db.close().await;
            r
        }};
    }
    let result = match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            // The store's writer: one connection (SQLite has one writer anyway).
            let db = sqlx::pool::PoolOptions::<sqlx::Sqlite>::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            insert_loop!(db)
        }
        Backend::Postgres => {
            let db = sqlx::pool::PoolOptions::<sqlx::Postgres>::new()
                .max_connections(pool)
                .connect(url)
                .await?;
            insert_loop!(db)
        }
    };
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Load

/// Run `call` from `concurrency` tasks, each starting its next call when the last ends, until
/// `--seconds` pass or `--requests` calls were made. The first second is warm-up, not counted.
async fn closed_loop<F, Fut>(concurrency: usize, args: &Args, probe: &CpuProbe, call: F) -> Figures
where
    F: Fn(u64) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop = measure_from + Duration::from_secs_f64(args.seconds);
    let measured = Arc::new(AtomicU64::new(0));
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let ran_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let first_errors = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let budget = args.requests;
    let cpu_from = tokio::spawn({
        let probe = probe.clone();
        async move {
            tokio::time::sleep_until(measure_from.into()).await;
            (probe.sample(), autoanalyze_so_far())
        }
    });
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (call, issued, errors, first_errors) = (
            call.clone(),
            issued.clone(),
            errors.clone(),
            first_errors.clone(),
        );
        let (measured, ran_out) = (measured.clone(), ran_out.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let now = Instant::now();
                if now >= stop {
                    break;
                }
                if now >= measure_from && measured.fetch_add(1, Ordering::Relaxed) >= budget {
                    break;
                }
                let n = issued.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                let outcome = call(n).await;
                let took = began.elapsed();
                match outcome {
                    Ok(()) if began >= measure_from => {
                        latencies.push(took);
                    }
                    Ok(()) => {}
                    Err(e) if e == EXHAUSTED => {
                        ran_out.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        *first_errors.lock().unwrap().entry(e).or_default() += 1;
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    let (cpu_to, analyzed_to) = (probe.sample(), autoanalyze_so_far());
    let (cpu_from, analyzed_from) = cpu_from.await.unwrap_or_default();
    let elapsed = Instant::now()
        .min(stop)
        .saturating_duration_since(measure_from);
    for (e, n) in first_errors.lock().unwrap().iter().take(5) {
        println!("    error ×{n}: {e}");
    }
    let counted = latencies.len() as u64;
    Figures {
        ran_out: ran_out.load(Ordering::Relaxed),
        cpu: probe.per_call(cpu_from, cpu_to, counted),
        autoanalyze: Some(analyzed_to.saturating_sub(analyzed_from)),
        ..figures(
            latencies,
            errors.load(Ordering::Relaxed),
            elapsed.max(Duration::from_millis(1)),
        )
    }
}

/// Open-loop: `per_second` calls on a fixed schedule for `--seconds` (at most `--requests`),
/// each timed from when it was due, so a stalled server cannot hide its queue. With `kind_of`
/// (which kind of call the `n`th is), also the figures of each kind: what makes a mix's tail.
/// The last figures are the client's own lag: from when each call was due to when its task
/// first ran. That part of every latency is the client's, not the server's: tokio's timer
/// fires on whole milliseconds, once its driver is next polled (at 200 GetCase/s, a median
/// 1.34 ms, against the server's own 0.71 ms). A dispatcher thread on the OS's timer keeps
/// time better but made the tail no better on this machine (docs/benchmarks.md).
async fn open_loop<F, Fut>(
    per_second: f64,
    args: &Args,
    kind_of: Option<fn(u64) -> Mix>,
    call: F,
) -> (Figures, Vec<(Mix, Figures)>, Figures)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let total = ((per_second * args.seconds) as u64)
        .min(args.requests)
        .max(1);
    let start = Instant::now() + Duration::from_millis(50);
    let analyzed_from = autoanalyze_so_far();
    let latencies = Arc::new(Mutex::new(Vec::<(u64, Duration)>::with_capacity(
        total as usize,
    )));
    let lags = Arc::new(Mutex::new(Vec::<Duration>::with_capacity(total as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(4096));
    let mut tasks = Vec::new();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / per_second);
        tokio::time::sleep_until(due.into()).await;
        let permit = in_flight.clone().acquire_owned().await.expect("open");
        let (call, latencies, lags, errors) = (
            call.clone(),
            latencies.clone(),
            lags.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            lags.lock().unwrap().push(due.elapsed());
            let outcome = call(n).await;
            let took = due.elapsed();
            drop(permit);
            match outcome {
                Ok(()) => latencies.lock().unwrap().push((n, took)),
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let analyzed = Some(autoanalyze_so_far().saturating_sub(analyzed_from));
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    let figures_of = |pick: &dyn Fn(u64) -> bool| {
        let picked = latencies.iter().filter(|(n, _)| pick(*n)).map(|(_, d)| *d);
        Figures {
            autoanalyze: analyzed,
            ..figures(picked.collect(), 0, elapsed)
        }
    };
    let breakdown = match kind_of {
        Some(kind_of) => Mix::ALL
            .into_iter()
            .map(|mix| (mix, figures_of(&|n| kind_of(n) == mix)))
            .filter(|(_, f)| f.requests > 0)
            .collect(),
        None => Vec::new(),
    };
    let all = figures_of(&|_| true);
    let lags = std::mem::take(&mut *lags.lock().unwrap());
    (
        Figures {
            errors: errors.load(Ordering::Relaxed),
            ..all
        },
        breakdown,
        figures(lags, 0, elapsed),
    )
}

/// Which call the `n`th call of the realistic mix is: 50% get, 15% list, 15% ingest-new,
/// 10% ingest-update, 10% actions.
fn realistic_kind(n: u64) -> Mix {
    match n % 20 {
        0..=9 => Mix::Get,
        10..=12 => Mix::List,
        13..=15 => Mix::IngestNew,
        16..=17 => Mix::IngestUpdate,
        _ => Mix::Actions,
    }
}

/// The cases the bench made, with what the next call on each needs. The first half gets
/// newer versions from the platform, the second half merchant actions, so neither finds the
/// other's changes (a stale etag, an update to a refunded case).
struct Seeded {
    names: Vec<String>,
    refund_ids: Vec<String>,
    shops: Vec<String>,
    etags: Vec<Mutex<String>>,
    /// The next seeded case an action takes (counted from the first action case): each is
    /// agreed once.
    next_action: AtomicUsize,
    /// Where the current concurrency's share of the action cases ends (see
    /// [`Seeded::share_actions`]).
    action_end: AtomicUsize,
}

struct Load {
    channels: Vec<Channel>,
    auth: MetadataValue<tonic::metadata::Ascii>,
    /// Set once seeding is done; only seeding runs before.
    seeded: std::sync::OnceLock<Seeded>,
    next_refund: AtomicU64,
    next_version: AtomicU64,
    run: String,
}

fn taobao_refund(refund_id: &str, shop_tid: &str, version_ms: u64) -> String {
    serde_json::json!({
        "refund_get_response": { "refund": {
            "refund_id": refund_id,
            "tid": shop_tid,
            "oid": format!("{shop_tid}-1"),
            "status": "WAIT_SELLER_AGREE",
            "order_status": "WAIT_SELLER_SEND_GOODS",
            "good_status": "BUYER_NOT_RECEIVED",
            "has_good_return": false,
            "refund_phase": "onsale",
            "cs_status": 1,
            "refund_fee": "120.00",
            "total_fee": "120.00",
            "payment": "120.00",
            "buyer_nick": "tb_buyer",
            "seller_nick": "flagship",
            "reason": "不想要了",
            "desc": "拍错了",
            "title": "羊毛大衣",
            "created": beijing_now(),
            "modified": beijing_now(),
            "refund_version": version_ms,
            "refund_remind_timeout": { "remind_type": 0, "exist_timeout": false },
        }}
    })
    .to_string()
}

/// Taobao's timestamps are Beijing wall-clock time.
fn beijing_now() -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    chrono::Utc::now()
        .with_timezone(&beijing)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

impl Seeded {
    fn updatable(&self) -> usize {
        self.names.len().div_ceil(2)
    }

    /// Gives the `k`-th of `of` concurrency levels its own equal share of the action cases,
    /// three quarters of it to the `actions` loop and the rest to `realistic` (a tenth of
    /// whose calls are actions), so a loop that uses up its share leaves the others' cases
    /// untouched. Before, c=16's `actions` could agree to every case, and c=64 measured
    /// nothing while `realistic` quietly ran ingest updates in place of actions.
    fn share_actions(&self, k: usize, of: usize, mix: Mix) {
        let cases = self.names.len() - self.updatable();
        let of = of.max(1);
        let (lo, hi) = (cases * k / of, cases * (k + 1) / of);
        let split = lo + (hi - lo) * 3 / 4;
        let (from, to) = if mix == Mix::Realistic {
            (split, hi)
        } else {
            (lo, split)
        };
        self.next_action.store(from, Ordering::Relaxed);
        self.action_end.store(to, Ordering::Relaxed);
    }
}

impl Load {
    fn seeded(&self) -> &Seeded {
        self.seeded.get().expect("seeded before any mix runs")
    }

    fn client(&self, n: u64) -> AftersalesServiceClient<Channel> {
        AftersalesServiceClient::new(self.channels[n as usize % self.channels.len()].clone())
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert("authorization", self.auth.clone());
        r
    }

    fn shop(n: u64) -> String {
        format!("shop-{}", n as usize % SHOPS)
    }

    async fn ingest_new(&self, n: u64) -> Result<pb::Case, String> {
        let id = self.next_refund.fetch_add(1, Ordering::Relaxed);
        let refund_id = format!("{}{id:08}", self.run);
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        let json = taobao_refund(&refund_id, &format!("t{refund_id}"), version);
        let response = self
            .client(n)
            .ingest_platform_case(self.request(pb::IngestPlatformCaseRequest {
                shop: Self::shop(id),
                platform: "taobao".into(),
                native_record_json: json,
                request_id: String::new(),
            }))
            .await
            .map_err(|s| format!("ingest: {:?} {}", s.code(), s.message()))?;
        response
            .into_inner()
            .case
            .ok_or_else(|| "ingest answered without a case".to_string())
    }

    /// A newer version of a seeded refund: the case row, deadlines and an event rewritten.
    async fn ingest_update(&self, n: u64) -> Result<(), String> {
        let i = n as usize % self.seeded().updatable();
        let refund_id = &self.seeded().refund_ids[i];
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        let json = taobao_refund(refund_id, &format!("t{refund_id}"), version);
        self.client(n)
            .ingest_platform_case(self.request(pb::IngestPlatformCaseRequest {
                shop: self.seeded().shops[i].clone(),
                platform: "taobao".into(),
                native_record_json: json,
                request_id: String::new(),
            }))
            .await
            .map(|_| ())
            .map_err(|s| format!("ingest update: {:?} {}", s.code(), s.message()))
    }

    /// A merchant agreeing to a seeded refund (each case once), with its etag and a request id.
    async fn action(&self, n: u64) -> Result<(), String> {
        let seeded = self.seeded();
        let nth = seeded.next_action.fetch_add(1, Ordering::Relaxed);
        if nth >= seeded.action_end.load(Ordering::Relaxed) {
            return Err(EXHAUSTED.into());
        }
        let i = seeded.updatable() + nth;
        let Some(name) = self.seeded().names.get(i) else {
            return Err(EXHAUSTED.into());
        };
        let etag = self.seeded().etags[i].lock().unwrap().clone();
        self.client(n)
            .agree_case(self.request(pb::AgreeCaseRequest {
                name: name.clone(),
                etag,
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            }))
            .await
            .map(|_| ())
            .map_err(|s| format!("agree: {:?} {}", s.code(), s.message()))
    }

    async fn get(&self, n: u64) -> Result<(), String> {
        let i = (n.wrapping_mul(2_654_435_761) as usize) % self.seeded().names.len();
        self.client(n)
            .get_case(self.request(pb::GetCaseRequest {
                name: self.seeded().names[i].clone(),
            }))
            .await
            .map(|_| ())
            .map_err(|s| format!("get: {:?} {}", s.code(), s.message()))
    }

    /// One page of a shop's open refunds waiting for the merchant: an agent's work queue.
    async fn list(&self, n: u64) -> Result<(), String> {
        let filter = format!(
            "platform = \"taobao\" AND shop = \"{}\" AND state = AWAITING_MERCHANT",
            Self::shop(n)
        );
        let page = self
            .client(n)
            .list_cases(self.request(pb::ListCasesRequest {
                page_size: 50,
                page_token: String::new(),
                filter,
            }))
            .await
            .map_err(|s| format!("list: {:?} {}", s.code(), s.message()))?
            .into_inner();
        if page.cases.is_empty() {
            return Err("list: an empty page where seeded cases wait".into());
        }
        Ok(())
    }

    /// What a merchant's day looks like from here: mostly reads, a fifth writes.
    async fn realistic(&self, n: u64) -> Result<(), String> {
        match realistic_kind(n) {
            Mix::Get => self.get(n).await,
            Mix::List => self.list(n).await,
            Mix::IngestNew => self.ingest_new(n).await.map(|_| ()),
            Mix::IngestUpdate => self.ingest_update(n).await,
            _ => match self.action(n).await {
                Err(e) if e == EXHAUSTED => self.ingest_update(n).await,
                other => other,
            },
        }
    }

    async fn call(&self, mix: Mix, n: u64) -> Result<(), String> {
        match mix {
            Mix::IngestNew => self.ingest_new(n).await.map(|_| ()),
            Mix::IngestUpdate => self.ingest_update(n).await,
            Mix::Actions => self.action(n).await,
            Mix::Get => self.get(n).await,
            Mix::List => self.list(n).await,
            Mix::Realistic => self.realistic(n).await,
        }
    }
}

async fn channels(addr: &str, count: usize) -> Res<Vec<Channel>> {
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }
    Ok(out)
}

async fn echo_rate(echo: &Process, concurrency: usize, args: &Args) -> Res<Figures> {
    let chans = Arc::new(channels(&echo.addr, args.connections).await?);
    let probe = CpuProbe {
        server: Some(echo.child.id()),
        database: None,
    };
    Ok(closed_loop(concurrency, args, &probe, move |n| {
        let chans = chans.clone();
        async move {
            HealthClient::new(chans[n as usize % chans.len()].clone())
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|_| ())
                .map_err(|s| s.to_string())
        }
    })
    .await)
}

/// One seeded case: its name, platform refund id, etag and shop.
type Made = (String, String, String, String);

/// Cases every mix reads or acts on: `--seed` new refunds, ingested at the highest concurrency.
async fn seed(load: &Arc<Load>, count: usize, concurrency: usize) -> Res<Seeded> {
    let mut made = seed_range(load, 0..count, concurrency).await?;
    made.sort();
    Ok(Seeded {
        names: made.iter().map(|m| m.0.clone()).collect(),
        refund_ids: made.iter().map(|m| m.1.clone()).collect(),
        shops: made.iter().map(|m| m.3.clone()).collect(),
        etags: made.into_iter().map(|m| Mutex::new(m.2)).collect(),
        next_action: AtomicUsize::new(0),
        action_end: AtomicUsize::new(usize::MAX),
    })
}

/// Does for the bench's PostgreSQL database what autovacuum's ANALYZE does for a live one:
/// a table whose rows changed by more than 50 plus a tenth of its size since it was last
/// analysed (autovacuum's default threshold) is analysed again — at most once per
/// [`AUTOVACUUM_NAPTIME`] (autovacuum visits a database once a minute), unless the table has
/// more than doubled since its statistics were taken, checked every [`ANALYZE_EVERY`].
///
/// This machine's server runs with autovacuum off, and without fresh statistics the plans
/// are a fresh database's, not a live one's: sessions that planned foreign-key checks on
/// never-analysed tables read every case of the tenant (seeding 120,000 cases took 616 s
/// that way), and the read connections' cached generic plan for the idempotency lookup,
/// made while `idempotency_keys` was empty, stayed a sequential scan of it all through the
/// `actions` mix (2026-12-06: 1,984 scans reading 7.3 M rows in a few seconds). An ANALYZE
/// invalidates the cached plans of the tables it analyses, as autovacuum's does. The
/// doubling rule is what keeps a database filling up from empty (the seeding) planned as
/// the size it is; a live database is not filling up from empty, and there the naptime
/// rule is autovacuum's own.
///
/// Throttled as autovacuum's workers are (`autovacuum_vacuum_cost_delay`, 2 ms by default,
/// with `vacuum_cost_limit` 200). The time each ANALYZE takes is added to
/// [`AUTOANALYZE_MICROS`], which each row reports for its window. Re-analysing every table
/// as soon as it passed the threshold (before 2026-12-07) took a core for ~2 s of a 10 s
/// window unthrottled, and 1.3–2.4 s of each 5 s window of the write mixes throttled.
async fn emulate_autoanalyze(url: String) -> Res<()> {
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    sqlx::query("SET vacuum_cost_delay = '2ms'")
        .execute(&mut conn)
        .await?;
    sqlx::query("SET vacuum_cost_limit = 200")
        .execute(&mut conn)
        .await?;
    let mut analysed_at: HashMap<String, Instant> = HashMap::new();
    loop {
        let stale: Vec<(String, i64, f32)> = sqlx::query_as(
            "SELECT quote_ident(s.relname), s.n_live_tup, c.reltuples \
             FROM pg_stat_user_tables s \
             JOIN pg_class c ON c.oid = s.relid \
             WHERE s.n_mod_since_analyze > 50 + 0.1 * GREATEST(c.reltuples, 0)",
        )
        .fetch_all(&mut conn)
        .await?;
        for (table, live, estimated) in stale {
            let napping = analysed_at
                .get(&table)
                .is_some_and(|at| at.elapsed() < AUTOVACUUM_NAPTIME);
            let doubled = live as f64 > 2.0 * f64::from(estimated.max(0.0));
            if napping && !doubled {
                continue;
            }
            // A table dropped since the SELECT (the raw-INSERT ceiling's scratch table) is
            // no reason to stop keeping the others fresh.
            let began = Instant::now();
            let outcome = sqlx::query(&format!("ANALYZE {table}"))
                .execute(&mut conn)
                .await;
            AUTOANALYZE_MICROS.fetch_add(began.elapsed().as_micros() as u64, Ordering::Relaxed);
            analysed_at.insert(table.clone(), Instant::now());
            if let Err(e) = outcome {
                eprintln!("  autoanalyze: ANALYZE {table}: {e}");
            }
        }
        tokio::time::sleep(ANALYZE_EVERY).await;
    }
}

const ANALYZE_EVERY: Duration = Duration::from_secs(1);
/// `autovacuum_naptime`'s default.
const AUTOVACUUM_NAPTIME: Duration = Duration::from_secs(60);

/// Time spent in the emulated autoanalyze's ANALYZEs so far, in microseconds.
static AUTOANALYZE_MICROS: AtomicU64 = AtomicU64::new(0);

fn autoanalyze_so_far() -> Duration {
    Duration::from_micros(AUTOANALYZE_MICROS.load(Ordering::Relaxed))
}

/// A background task that ends with the scope holding it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn seed_range(
    load: &Arc<Load>,
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Res<Vec<Made>> {
    let made = Arc::new(Mutex::new(Vec::with_capacity(range.len())));
    let next = Arc::new(AtomicU64::new(range.start as u64));
    let end = range.end as u64;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (load, made, next) = (load.clone(), made.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return Ok::<(), String>(());
                }
                let case = load.ingest_new(n).await?;
                let refund_id = case.platform_case_id.clone();
                made.lock()
                    .unwrap()
                    .push((case.name, refund_id, case.etag, case.shop));
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let made = std::mem::take(&mut *made.lock().unwrap());
    Ok(made)
}

async fn run_backend(backend: Backend, args: &Args, report: &mut Report) -> Res<()> {
    let b = backend.name();
    println!("\n== {b}");
    let max_concurrency = *args.concurrency.iter().max().unwrap_or(&16);
    let pool = 16u32;
    let db = match &args.database_url {
        Some(url) => Database {
            url: url.clone(),
            scratch: None,
        },
        None => Database::fresh(backend).await?,
    };
    let outcome = async {
        // Migrate (a fresh database) and make the bench's key before the server starts.
        let key = create_key(&db.url)?;
        let server = Process::start(server_command(&db.url, pool), "aftersales serve")?;
        let _autoanalyze = (backend == Backend::Postgres).then(|| {
            let url = db.url.clone();
            AbortOnDrop(tokio::spawn(async move {
                if let Err(e) = emulate_autoanalyze(url).await {
                    eprintln!("  autoanalyze stopped: {e}");
                }
            }))
        });
        let echo = Process::start(
            {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("--echo-server");
                c
            },
            "echo server",
        )?;
        println!(
            "  server {} (RSS {}), echo {}",
            server.addr,
            server.rss(),
            echo.addr
        );

        let unix_ms = chrono::Utc::now().timestamp_millis() as u64;
        let load = Arc::new(Load {
            channels: channels(&server.addr, args.connections).await?,
            auth: MetadataValue::try_from(format!("Bearer {key}"))?,
            seeded: std::sync::OnceLock::new(),
            next_refund: AtomicU64::new(0),
            // Refund ids and versions unique across runs on a kept database.
            next_version: AtomicU64::new(unix_ms),
            run: (unix_ms / 1000).to_string(),
        });
        let began = Instant::now();
        let seeded = seed(&load, args.seed.max(1), max_concurrency).await?;
        println!(
            "  seeded {} cases in {:.1} s (RSS {})",
            seeded.names.len(),
            began.elapsed().as_secs_f64(),
            server.rss()
        );
        if load.seeded.set(seeded).is_err() {
            bail!("seeded twice");
        }

        for (k, &c) in args.concurrency.iter().enumerate() {
            let echo_f = echo_rate(&echo, c, args).await?;
            report.row(b, "ceiling: bare tonic echo", c, &echo_f, "");
            let insert_f = raw_insert_rate(backend, &db.url, pool, c, args).await?;
            report.row(b, "ceiling: raw INSERT/commit", c, &insert_f, "");
            let probe = CpuProbe {
                server: Some(server.child.id()),
                database: postgres_database_name(backend, &db.url),
            };
            for &mix in &args.mixes {
                load.seeded().share_actions(k, args.concurrency.len(), mix);
                let l = load.clone();
                let f = closed_loop(c, args, &probe, move |n| {
                    let l = l.clone();
                    async move { l.call(mix, n).await }
                })
                .await;
                // A rate over a window cut short by running out of seeded cases is still a
                // rate, but a window with no calls in it measured nothing: say so, not 0/s.
                let name = if f.ran_out {
                    format!("{} (seeded cases ran out)", mix.name())
                } else {
                    mix.name().to_string()
                };
                report.row(b, &name, c, &f, &server.rss());
                if f.requests == 0 && f.ran_out {
                    println!("  {b}: {} not measured at c={c}: raise --seed", mix.name());
                    continue;
                }
                if mix == Mix::Get {
                    let ratio = f.per_second / echo_f.per_second;
                    report.target(
                        format!("{b}: GetCase ≥ {TARGET_GET_VS_ECHO}× echo at c={c}"),
                        format!("{ratio:.2}×"),
                        ratio >= TARGET_GET_VS_ECHO,
                    );
                }
                if mix.is_write() {
                    let ratio = f.per_second / insert_f.per_second;
                    report.target(
                        format!(
                            "{b}: {} writes ≥ {TARGET_WRITES_VS_INSERT}× raw INSERT at c={c}",
                            mix.name()
                        ),
                        format!("{ratio:.2}×"),
                        ratio >= TARGET_WRITES_VS_INSERT,
                    );
                }
                if matches!(mix, Mix::Get | Mix::Realistic) && c == max_concurrency {
                    let l = load.clone();
                    let half = args.open_rate.unwrap_or(f.per_second * HALF);
                    let kind_of =
                        (mix == Mix::Realistic).then_some(realistic_kind as fn(u64) -> Mix);
                    let (h, kinds, lag) = open_loop(half, args, kind_of, move |n| {
                        let l = l.clone();
                        async move { l.call(mix, n).await }
                    })
                    .await;
                    let what = format!("{} at half load ({})", mix.name(), rate(half));
                    report.row(b, &what, 0, &h, &server.rss());
                    for (kind, k) in &kinds {
                        let what =
                            format!("{} at half load: its {} calls", mix.name(), kind.name());
                        report.row(b, &what, 0, k, &server.rss());
                    }
                    let what = format!("{} at half load: the client's start lag", mix.name());
                    report.row(b, &what, 0, &lag, &server.rss());
                    report.target(
                        format!("{b}: {} p99 < 10 ms at half load", mix.name()),
                        ms(h.p99),
                        h.p99 < TARGET_P99_AT_HALF && h.errors == 0,
                    );
                }
            }
        }
        let peak = server.status_kb("VmHWM:");
        report.target(
            format!("{b}: server peak RSS < 200 MiB"),
            format!("{:.0} MiB", peak as f64 / 1024.0),
            peak < TARGET_RSS_KB,
        );
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    db.drop_now().await;
    outcome
}

fn main() -> Res<()> {
    if std::env::args().any(|a| a == "--echo-server") {
        return echo_server();
    }
    let args = parse_args()?;
    let rt = tokio::runtime::Runtime::new()?;
    let mut report = Report::default();
    for &backend in &args.backends {
        rt.block_on(run_backend(backend, &args, &mut report))?;
    }
    println!("\n{}", report.markdown());
    Ok(())
}
