//! Acknowledged case writes against the database's raw one-row-per-commit INSERT rate.
//!
//! ```sh
//! cargo bench -p aftersales-store --bench group_commit -- \
//!     [--backend sqlite|postgres|both] [--writes 20000] [--concurrency 16] [--tenants 1] \
//!     [--pool 16] [--writers N]
//! ```
//!
//! For each backend, in a fresh database (SQLite: a file under the temp dir; PostgreSQL:
//! database `aftersales_bench_<uuid>` on `AFTERSALES_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped at the end), `--concurrency` tasks:
//!
//! 1. **raw**: INSERT one row per statement, autocommit, into a scratch table
//!    (`id BIGINT PRIMARY KEY, payload TEXT`, a 200-byte payload), `--writes` rows. The pool is
//!    the store's: SQLite one connection in WAL with `synchronous=FULL`; PostgreSQL `--pool`
//!    connections with the server's settings (`synchronous_commit` is printed).
//! 2. **store**: `Store::write` of `--writes` new cases, as ingest stores them: each built
//!    beforehand with the domain (`Case::open` under the builtin Taobao policy: a received
//!    refund-only case, its deadlines and its `case_created` event), spread over `--tenants`
//!    tenants. A write counts once acknowledged (committed). `--warmup` writes go first,
//!    unmeasured, then (PostgreSQL) ANALYZE, as autovacuum would run on a live database.
//!
//! Prints writes/s of both, store/raw, the store's mean batch (writes per transaction) and
//! its latency percentiles. Figures are recorded in docs/benchmarks.md.

use aftersales_domain::event::Actor;
use aftersales_domain::{
    BoundedText, CaseDraft, CaseId, CaseKind, Fen, Fulfilment, OrderId, PlatformCode,
    PolicyRegistry, ShopId, TenantId,
};
use aftersales_platforms::AdapterRegistry;
use aftersales_store::scratch::ScratchDatabase;
use aftersales_store::{CaseWrite, PostgresStore, SqliteStore, Store, WriteMode};
use chrono::{DateTime, Utc};
use sqlx::Connection;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq)]
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

struct Args {
    backends: Vec<Backend>,
    writes: usize,
    concurrency: usize,
    tenants: usize,
    pool: u32,
    writers: Option<usize>,
    warmup: usize,
}

fn parse_args() -> Res<Args> {
    let mut args = Args {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        writes: 20_000,
        concurrency: 16,
        tenants: 1,
        pool: 16,
        writers: None,
        warmup: 2_000,
    };
    let mut it = std::env::args().skip(1);
    let number = |flag: &str, v: Option<String>| -> Res<usize> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        Ok(v.replace(['_', ','], "")
            .parse()
            .map_err(|e| format!("{flag} {v}: {e}"))?)
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            // cargo bench passes `--bench` to a harness = false target.
            "--bench" => {}
            "--backend" => {
                args.backends = match it.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => vec![Backend::Sqlite, Backend::Postgres],
                    other => {
                        return Err(format!("--backend sqlite|postgres|both, not {other:?}").into())
                    }
                }
            }
            "--writes" => args.writes = number("--writes", it.next())?,
            "--concurrency" => args.concurrency = number("--concurrency", it.next())?,
            "--tenants" => args.tenants = number("--tenants", it.next())?,
            "--pool" => args.pool = number("--pool", it.next())? as u32,
            "--writers" => args.writers = Some(number("--writers", it.next())?),
            "--warmup" => args.warmup = number("--warmup", it.next())?,
            "-h" | "--help" => {
                println!(
                    "group_commit [--backend sqlite|postgres|both] [--writes 20000] \
                     [--concurrency 16] [--tenants 1] [--pool 16] [--writers N] [--warmup 2000]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    if args.writes == 0 || args.concurrency == 0 || args.tenants == 0 || args.pool == 0 {
        return Err("--writes, --concurrency, --tenants and --pool must be at least 1".into());
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// Databases

// ---------------------------------------------------------------------------------------------
// Raw INSERT rate

const SCRATCH: &str = "CREATE TABLE scratch (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)";
const INSERT_SCRATCH: &str = "INSERT INTO scratch (id, payload) VALUES ($1, $2)";

/// `concurrency` tasks share `pool` and insert `writes` rows, one per autocommit statement.
async fn raw_rate<DB>(pool: &sqlx::Pool<DB>, writes: usize, concurrency: usize) -> Res<Duration>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(SCRATCH).execute(pool).await?;
    let payload = "x".repeat(200);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let pool = pool.clone();
        let next = next.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= writes {
                    return Ok::<(), sqlx::Error>(());
                }
                sqlx::query(INSERT_SCRATCH)
                    .bind(n as i64)
                    .bind(payload.clone())
                    .execute(&pool)
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

async fn raw(backend: Backend, url: &str, args: &Args) -> Res<(Duration, String)> {
    match backend {
        Backend::Sqlite => {
            // The store's writer: one connection, WAL, synchronous=FULL.
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&pool)
                .await?;
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await?;
            let took = raw_rate(&pool, args.writes, args.concurrency).await?;
            pool.close().await;
            Ok((
                took,
                format!("journal_mode={mode} synchronous={sync} (2 = FULL), 1 connection"),
            ))
        }
        Backend::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(args.pool)
                .connect(url)
                .await?;
            let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(&pool)
                .await?;
            let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&pool).await?;
            let took = raw_rate(&pool, args.writes, args.concurrency).await?;
            pool.close().await;
            Ok((
                took,
                format!(
                    "synchronous_commit={sync} fsync={fsync}, pool of {}",
                    args.pool
                ),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Store writes

fn new_case(
    policies: &PolicyRegistry,
    n: usize,
    tenants: usize,
    at: DateTime<Utc>,
) -> Res<CaseWrite> {
    let taobao = PlatformCode::parse("taobao")?;
    let policy = policies
        .in_force(&taobao, at)
        .ok_or("no Taobao policy in force")?;
    let draft = CaseDraft {
        order_id: Some(OrderId::parse(format!("order-{n}"))?),
        order_total: Some(Fen::new(5990).map_err(|e| format!("{e:?}"))?),
        ..CaseDraft::new(
            ShopId::parse(format!("shop-{}", n % 7))?,
            taobao.clone(),
            CaseKind::RefundOnly,
            Fulfilment::Received,
            Fen::new(1990).map_err(|e| format!("{e:?}"))?,
            BoundedText::parse("质量问题 / quality problem").map_err(|e| format!("{e:?}"))?,
            BoundedText::parse("tb_buyer").map_err(|e| format!("{e:?}"))?,
        )
    };
    let change = aftersales_domain::Case::open(
        CaseId::parse(format!("case-{n:08}"))?,
        TenantId::parse(format!("tenant-{}", n % tenants))?,
        draft,
        policy,
        Actor::merchant("bench"),
        at,
        &[],
    )
    .map_err(|e| format!("Case::open: {e}"))?;
    Ok(CaseWrite {
        case: change.case,
        mode: WriteMode::Insert,
        events: change.events,
        idempotency: None,
        caller: None,
    })
}

struct StoreRun {
    took: Duration,
    latencies: Vec<Duration>,
    mean_batch: f64,
    largest_batch: u64,
    transactions: u64,
    writers: String,
}

/// `concurrency` tasks write `writes` through `store`; the latency of each.
async fn drive(
    store: &Arc<dyn Store>,
    writes: Vec<CaseWrite>,
    concurrency: usize,
) -> Res<Vec<Duration>> {
    let queue = Arc::new(std::sync::Mutex::new(writes.into_iter()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let store = store.clone();
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(write) = queue.lock().unwrap().next() else {
                    return Ok::<_, aftersales_store::StoreError>(latencies);
                };
                let t = Instant::now();
                store.write(write).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(latencies)
}

async fn store_writes(
    backend: Backend,
    url: &str,
    args: &Args,
    warmup: Vec<CaseWrite>,
    writes: Vec<CaseWrite>,
) -> Res<StoreRun> {
    let (store, writers): (Arc<dyn Store>, String) = match backend {
        Backend::Sqlite => (
            Arc::new(SqliteStore::connect(url).await?),
            "1 writer".into(),
        ),
        Backend::Postgres => {
            let writers = args
                .writers
                .unwrap_or_else(|| aftersales_store::postgres::default_writers(args.pool));
            let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
            (
                Arc::new(PostgresStore::connect_with_writers(options, args.pool, writers).await?),
                format!("{writers} writers, pool of {}", args.pool),
            )
        }
    };
    // Not measured: the tables hold some cases, and on PostgreSQL have statistics, as
    // autovacuum would give them. Without, a session that planned its foreign-key checks
    // on the empty `cases` table keeps a plan that reads every case of the tenant per check
    // (through `cases_by_created`), and every write gets slower as the table grows.
    drive(&store, warmup, args.concurrency).await?;
    if backend == Backend::Postgres {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        let _ = conn.close().await;
    }
    let before = store.write_stats();
    let start = Instant::now();
    let mut latencies = drive(&store, writes, args.concurrency).await?;
    let took = start.elapsed();
    let stats = store.write_stats();
    let batches = stats.batches - before.batches;
    let written = stats.writes - before.writes;
    if written as usize != latencies.len() {
        return Err(format!("{} acknowledged, {written} counted", latencies.len()).into());
    }
    drop(store);
    latencies.sort_unstable();
    Ok(StoreRun {
        took,
        latencies,
        mean_batch: written as f64 / batches.max(1) as f64,
        largest_batch: stats.largest_batch,
        transactions: stats.transactions - before.transactions,
        writers,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

async fn bench(backend: Backend, args: &Args, policies: &PolicyRegistry) -> Res<()> {
    let at = Utc::now();
    let mut writes = (0..args.warmup + args.writes)
        .map(|n| new_case(policies, n, args.tenants, at))
        .collect::<Res<Vec<_>>>()?;
    let warmup: Vec<CaseWrite> = writes.drain(..args.warmup).collect();
    let deadlines = writes[0].case.deadlines.len();
    let events = writes[0].events.len();

    let (db, url) =
        ScratchDatabase::fresh(backend == Backend::Postgres, "aftersales_bench").await?;
    let outcome = async {
        let (raw_took, raw_setup) = raw(backend, &url, args).await?;
        let run = store_writes(backend, &url, args, warmup, writes).await?;
        Ok::<_, Error>((raw_took, raw_setup, run))
    }
    .await;
    if let Err(e) = db.drop_now().await {
        eprintln!("{e}");
    }
    let (raw_took, raw_setup, run) = outcome?;

    let raw_rate = rate(args.writes, raw_took);
    let store_rate = rate(args.writes, run.took);
    println!(
        "== {} (concurrency {}) ==",
        backend.name(),
        args.concurrency
    );
    println!(
        "raw INSERT, one row per commit: {:>8.0} rows/s   ({} rows in {:.2} s; {raw_setup})",
        raw_rate,
        args.writes,
        raw_took.as_secs_f64()
    );
    println!(
        "Store::write, new cases:        {:>8.0} writes/s ({} writes in {:.2} s; {}; each a case, {deadlines} deadline rows, {events} event(s); {} tenant(s))",
        store_rate,
        args.writes,
        run.took.as_secs_f64(),
        run.writers,
        args.tenants,
    );
    println!(
        "store / raw:                    {:>8.2}",
        store_rate / raw_rate
    );
    println!(
        "mean batch {:.1} writes/transaction, largest {}, {} transactions; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        run.mean_batch,
        run.largest_batch,
        run.transactions,
        percentile(&run.latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&run.latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&run.latencies, 1.0).as_secs_f64() * 1e3,
    );
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let policies = AdapterRegistry::builtin().load_policies()?;
        for backend in &args.backends {
            bench(*backend, &args, &policies).await?;
        }
        Ok::<_, Error>(())
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
