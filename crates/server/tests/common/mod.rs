//! What the fault tests need around the real `aftersales` binary: a fresh database per test,
//! the server as a child process (killed on drop, so a failing test leaks nothing), API keys
//! made by `aftersales keys create`, a private PostgreSQL instance that a test may stop and
//! start, and raw reads of the tables the store's trait does not expose.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aftersales_store::scratch::ScratchDatabase;

pub const TENANT: &str = "acme";

/// A database of its own for one test, dropped (SQLite files removed, PostgreSQL database
/// dropped) by [`Db::drop_now`].
pub struct Db(ScratchDatabase);

impl Db {
    pub async fn fresh(postgres: bool) -> (Db, String) {
        let (db, url) = ScratchDatabase::fresh(postgres, "aftersales_faults")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (Db(db), url)
    }

    /// A fresh database on the PostgreSQL server `admin` connects to.
    pub async fn fresh_on(admin: &str) -> (Db, String) {
        let (db, url) = ScratchDatabase::postgres(admin, "aftersales_faults")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (Db(db), url)
    }

    pub async fn drop_now(self) {
        if let Err(e) = self.0.drop_now().await {
            eprintln!("{e}");
        }
    }
}

/// `aftersales keys create` against `url`: the agent key it prints.
pub fn create_key(url: &str, tenant: &str, account: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args([
            "keys",
            "create",
            "--tenant",
            tenant,
            "--account",
            account,
            "--role",
            "agent",
        ])
        .env("AFTERSALES_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run aftersales keys create");
    assert!(
        out.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running `aftersales serve`. Dropping it SIGKILLs the process if it still runs.
pub struct ServerProcess {
    child: Child,
    pub addr: String,
    /// The server's stderr (its log), kept in a file so a failing test can show it.
    pub log: PathBuf,
}

impl ServerProcess {
    /// Start the binary on `url` with a free loopback port; `env` adds or overrides settings.
    pub fn start(url: &str, env: &[(&str, &str)]) -> ServerProcess {
        let log = std::env::temp_dir().join(format!(
            "aftersales-faults-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aftersales"));
        cmd.args(["serve"])
            .env("AFTERSALES_DATABASE_URL", url)
            .env("AFTERSALES_LISTEN", "127.0.0.1:0")
            .env("AFTERSALES_SWEEP_INTERVAL_MS", "50")
            .env("AFTERSALES_TIMER_LEASE_SECONDS", "2")
            .env("AFTERSALES_PG_MAX_CONNECTIONS", "10")
            .env("AFTERSALES_DRAIN_SECONDS", "10")
            .env("AFTERSALES_PAGE_TOKEN_SECRET", "faults")
            .env("AFTERSALES_LOG_FORMAT", "text")
            // The load is one tenant writing as fast as it can: these tests are about durability,
            // not throttling (tests/tests/security.rs covers the rate limit).
            .env("AFTERSALES_RATE_LIMIT_PER_TENANT", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&log).expect("server log file"),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start aftersales");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = match lines.next() {
            Some(Ok(line)) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "aftersales printed no address ({other:?}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        ServerProcess { child, addr, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no drain, no cleanup, as a crashed host or the OOM killer.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM {} failed", self.pid());
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for aftersales")
    }

    /// Wait for the process to exit, at most `limit`: its status and how long it took.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.try_wait() {
                return Some((status, start.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// The server's log so far (for a failure message), at most the last `max` bytes.
    pub fn log_tail(&self, max: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let cut = log.len().saturating_sub(max);
        let cut = (cut..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[cut..].to_string()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A PostgreSQL instance of the test's own (initdb into a temp dir, a free loopback port,
/// trust auth), so the test can stop and start it without touching the shared cluster other
/// tests use. Stopped and removed on drop, also when the test fails.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// The directory holding initdb and pg_ctl: `AFTERSALES_TEST_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/<version>/bin`, else `pg_config --bindir`.
    fn bin_dir() -> PathBuf {
        if let Ok(dir) = std::env::var("AFTERSALES_TEST_PG_BIN") {
            return PathBuf::from(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((v, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return bin;
        }
        let out = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("PostgreSQL server binaries (initdb, pg_ctl) are needed: none under /usr/lib/postgresql and no pg_config");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()))
    }

    /// initdb and start. Running as root (CI), the server runs as the `postgres` user:
    /// initdb refuses root.
    pub fn start() -> PrivatePostgres {
        let dir =
            std::env::temp_dir().join(format!("aftersales-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown {} to postgres failed", dir.display());
        }
        let port = free_port();
        let pg = PrivatePostgres {
            dir,
            bin: Self::bin_dir(),
            port,
            as_postgres,
        };
        let data = pg.data_dir();
        let out = pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_server();
        pg
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=50",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-l",
                &log,
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
        );
    }

    /// `pg_ctl stop -m immediate`: every connection dropped at once, no shutdown checkpoint
    /// (the next start recovers from the WAL), as a crashed database host.
    pub fn stop_server(&self) {
        let out = self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One row of the `deadlines` mirror, as the columns the case body must agree with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeadlineRow {
    pub case_id: String,
    pub position: i64,
    pub key: String,
    pub rule_id: String,
    pub due_at: i64,
    pub remind_at: Option<i64>,
    pub reminded_at: Option<i64>,
    pub state: String,
}

type DeadlineTuple = (
    String,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    String,
);

const DEADLINE_ROWS: &str = "SELECT case_id, position, key, rule_id, due_at, remind_at, \
     reminded_at, state FROM deadlines WHERE tenant_id = $1 ORDER BY case_id, position";
const LAST_SEQ: &str = "SELECT last_seq FROM tenant_event_counters WHERE tenant_id = $1";
const REQUEST_IDS: &str = "SELECT request_id FROM idempotency_keys WHERE tenant_id = $1";

/// Reads of tables the `Store` trait does not expose, on either backend.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

macro_rules! on_pool {
    ($raw:expr, |$pool:ident| $body:expr) => {
        match $raw {
            Raw::Sqlite($pool) => $body,
            Raw::Postgres($pool) => $body,
        }
    };
}

impl Raw {
    pub async fn connect(url: &str) -> Raw {
        if url.starts_with("sqlite:") {
            Raw::Sqlite(sqlx::SqlitePool::connect(url).await.expect("open sqlite"))
        } else {
            Raw::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .expect("open postgres"),
            )
        }
    }

    pub async fn deadline_rows(&self, tenant: &str) -> Vec<DeadlineRow> {
        let rows: Vec<DeadlineTuple> = on_pool!(self, |pool| sqlx::query_as(DEADLINE_ROWS)
            .bind(tenant)
            .fetch_all(pool)
            .await
            .expect("read deadlines"));
        rows.into_iter()
            .map(
                |(case_id, position, key, rule_id, due_at, remind_at, reminded_at, state)| {
                    DeadlineRow {
                        case_id,
                        position,
                        key,
                        rule_id,
                        due_at,
                        remind_at,
                        reminded_at,
                        state,
                    }
                },
            )
            .collect()
    }

    pub async fn last_seq(&self, tenant: &str) -> i64 {
        let row: Option<(i64,)> = on_pool!(self, |pool| sqlx::query_as(LAST_SEQ)
            .bind(tenant)
            .fetch_optional(pool)
            .await
            .expect("read event counter"));
        row.map_or(0, |r| r.0)
    }

    pub async fn request_ids(&self, tenant: &str) -> std::collections::HashSet<String> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(REQUEST_IDS)
            .bind(tenant)
            .fetch_all(pool)
            .await
            .expect("read idempotency keys"));
        rows.into_iter().map(|r| r.0).collect()
    }

    pub async fn close(self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// Serialise the fault tests: each runs a load that wants the machine's cores, and several
/// at once would measure each other. (A tokio mutex: the guard is held across awaits, and
/// each test has its own runtime.)
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// An unshipped refund-only Taobao request for 10 yuan on `order` of `shop`, nothing else set:
/// the case the engine tests seed (TB-04 reminds the merchant 36 h after it opens and refunds
/// at 48 h).
pub fn unshipped_taobao_refund(shop: &str, order: &str) -> aftersales_domain::CaseDraft {
    use aftersales_domain::{
        BoundedText, CaseKind, Fen, Fulfilment, OrderId, PlatformCode, ShopId,
    };
    aftersales_domain::CaseDraft {
        order_id: Some(OrderId::parse(order).unwrap()),
        ..aftersales_domain::CaseDraft::new(
            ShopId::parse(shop).unwrap(),
            PlatformCode::parse("taobao").unwrap(),
            CaseKind::RefundOnly,
            Fulfilment::NotShipped,
            Fen::new(1000).unwrap(),
            BoundedText::parse("not needed").unwrap(),
            BoundedText::parse("b").unwrap(),
        )
    }
}
