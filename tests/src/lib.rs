//! Test harness: the real server (the same `serve` the binary runs) on an ephemeral port with
//! an injected manual clock, over a fresh SQLite file or a fresh PostgreSQL database per test.
//!
//! PostgreSQL is found through `AFTERSALES_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). If it cannot be reached the test fails,
//! loudly: a suite that silently skips a backend proves nothing about it.

use aftersales_api::auth::{generate_key, KeyGrant};
use aftersales_api::gate::GateLimits;
use aftersales_domain::access::{Role, ShopScope};
use aftersales_domain::{ManualClock, TenantId};
use aftersales_proto::v1::aftersales_service_client::AftersalesServiceClient;
use aftersales_server::{
    open_store, serve, DeadlineEngine, EngineOptions, ServeOptions, Services, SweepReport,
};
use aftersales_store::scratch::ScratchDatabase;
use aftersales_store::Store;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;

pub use aftersales_proto::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Run the same test body on both backends, as two tests named `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A running server and what a test needs to drive it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    /// The same engine `serve` runs, driven by the test at chosen clock times.
    pub engine: DeadlineEngine,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    database: ScratchDatabase,
}

/// The instant every test's clock starts at: a Saturday morning in Beijing.
pub fn test_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T02:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, false).await
    }

    /// `background_engine`: also run the engine's own sweep loop, as the binary does.
    pub async fn start_with(backend: Backend, background_engine: bool) -> TestServer {
        Self::start_limited(backend, background_engine, GateLimits::default()).await
    }

    /// With chosen load-shedding and rate limits (the default has no tenant rate limit, so
    /// scenarios that make many calls at one clock instant are not throttled).
    pub async fn start_limited(
        backend: Backend,
        background_engine: bool,
        limits: GateLimits,
    ) -> TestServer {
        Self::start_configured(backend, |o| {
            o.engine.enabled = background_engine;
            o.limits = limits;
        })
        .await
    }

    /// With any serving option changed from the harness's defaults.
    pub async fn start_configured(
        backend: Backend,
        configure: impl FnOnce(&mut ServeOptions),
    ) -> TestServer {
        let (database, url) =
            ScratchDatabase::fresh(backend == Backend::Postgres, "aftersales_e2e")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        let store = open_store(&url, 8, None).await.expect("open store");
        let clock = ManualClock::new(test_epoch());
        let services = Services::new(store.clone(), Arc::new(clock.clone())).expect("services");
        let engine = DeadlineEngine::new(
            store.clone(),
            Arc::new(clock.clone()),
            services.policies.clone(),
            EngineOptions::default(),
            None,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let options = ServeOptions {
            page_token_secret: b"test-secret".to_vec(),
            watch_poll: Duration::from_millis(100),
            drain_timeout: Duration::from_secs(5),
            // Tests drive the engine themselves (`sweep`) so every firing happens at a known
            // clock time.
            engine: EngineOptions {
                enabled: false,
                idle_poll: Duration::from_millis(50),
                ..EngineOptions::default()
            },
            ..ServeOptions::default()
        };
        let mut options = options;
        configure(&mut options);
        let task = tokio::spawn(async move {
            serve(services, listener, options, async {
                let _ = rx.await;
            })
            .await
            .expect("server failed");
        });
        TestServer {
            addr,
            clock,
            store,
            backend,
            engine,
            shutdown: Some(tx),
            task: Some(task),
            database,
        }
    }

    pub async fn client(&self) -> AftersalesServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to test server");
        AftersalesServiceClient::new(channel)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Create an API key directly in the store, as `aftersales keys create` does.
    pub async fn key(
        &self,
        tenant: &str,
        account: &str,
        role: Role,
        platform_task: bool,
    ) -> String {
        self.scoped_key(tenant, account, role, platform_task, &[])
            .await
    }

    /// A key limited to `shops` (every shop when empty).
    pub async fn scoped_key(
        &self,
        tenant: &str,
        account: &str,
        role: Role,
        platform_task: bool,
        shops: &[&str],
    ) -> String {
        let shops = if shops.is_empty() {
            ShopScope::AllShops
        } else {
            ShopScope::Only(
                shops
                    .iter()
                    .map(|s| aftersales_domain::ShopId::parse(*s).unwrap())
                    .collect(),
            )
        };
        let (plain, record) = generate_key(
            KeyGrant {
                tenant: TenantId::parse(tenant).unwrap(),
                account: account.to_string(),
                role,
                platform_task,
                shops,
                created_by: String::new(),
            },
            test_epoch(),
        );
        self.store
            .insert_api_key(&record)
            .await
            .expect("insert key");
        plain
    }

    /// The usual start of a scenario: a server, an agent key of `tenant` and a client.
    pub async fn start_as_agent(backend: Backend, tenant: &str) -> (TestServer, String, Client) {
        let server = TestServer::start(backend).await;
        let key = server.key(tenant, "ops", Role::Agent, false).await;
        let client = server.client().await;
        (server, key, client)
    }

    /// A second server on the same database and clock, as another replica would be (its own
    /// gate, its own key-verification memory).
    pub async fn replica(&self) -> Replica {
        let services =
            Services::new(self.store.clone(), Arc::new(self.clock.clone())).expect("services");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let options = ServeOptions {
            page_token_secret: b"test-secret".to_vec(),
            watch_poll: Duration::from_millis(100),
            drain_timeout: Duration::from_secs(5),
            engine: EngineOptions {
                enabled: false,
                ..EngineOptions::default()
            },
            ..ServeOptions::default()
        };
        let task = tokio::spawn(async move {
            serve(services, listener, options, async {
                let _ = rx.await;
            })
            .await
            .expect("replica failed");
        });
        Replica {
            addr,
            shutdown: tx,
            task,
        }
    }

    /// The SQLite file behind a SQLite test server.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.database {
            ScratchDatabase::Sqlite { path } => Some(path),
            ScratchDatabase::Postgres { .. } => None,
        }
    }

    /// Runs `sql` on the server's database behind the store's back: how a test makes a row
    /// look as another binary would have left it.
    pub async fn execute_sql(&self, sql: &str) {
        use sqlx::Connection;
        match &self.database {
            ScratchDatabase::Sqlite { path } => {
                let url = format!("sqlite://{}", path.display());
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
            ScratchDatabase::Postgres { admin_url, name } => {
                let url = aftersales_store::scratch::database_url(admin_url, name);
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        }
    }

    /// Run the deadline engine until nothing is due at the clock's current time.
    pub async fn sweep(&self) -> SweepReport {
        self.engine
            .sweep_until_idle()
            .await
            .expect("deadline sweep")
    }

    /// Move the clock and fire whatever is then due.
    pub async fn advance_and_sweep(&self, by: chrono::Duration) -> SweepReport {
        self.clock.advance(by);
        self.sweep().await
    }

    /// Stop the server (graceful) and drop its database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        if let Err(e) = self.database.drop_now().await {
            eprintln!("{e}");
        }
    }
}

/// A second server of a [`TestServer`] (see [`TestServer::replica`]).
pub struct Replica {
    addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Replica {
    pub async fn client(&self) -> Client {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to replica");
        AftersalesServiceClient::new(channel)
    }

    pub async fn stop_replica(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Wrap a message with the caller's API key.
pub fn authed<T>(key: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {key}")).unwrap(),
    );
    r
}

/// A `taobao.refund.get` response as TOP returns it.
pub struct TaobaoRefund {
    pub refund_id: String,
    pub status: &'static str,
    pub version_ms: i64,
    pub has_good_return: bool,
    pub good_status: &'static str,
    pub order_status: &'static str,
    pub refund_fee: &'static str,
    pub total_fee: &'static str,
    pub created: &'static str,
    pub cs_status: i64,
    pub timeout: Option<&'static str>,
    pub tid: String,
}

impl TaobaoRefund {
    /// A signed-for return-and-refund waiting for the merchant (TB-07).
    pub fn signed_return(refund_id: &str) -> TaobaoRefund {
        TaobaoRefund {
            refund_id: refund_id.to_string(),
            status: "WAIT_SELLER_AGREE",
            version_ms: 1_763_690_000_000,
            has_good_return: true,
            good_status: "BUYER_RECEIVED",
            order_status: "TRADE_FINISHED",
            refund_fee: "200.07",
            total_fee: "259.00",
            created: "2026-11-21 09:30:00",
            cs_status: 1,
            timeout: None,
            tid: format!("tid-{refund_id}"),
        }
    }

    pub fn json(&self) -> String {
        let timeout = match self.timeout {
            Some(t) => serde_json::json!({ "remind_type": 1, "exist_timeout": true, "timeout": t }),
            None => serde_json::json!({ "remind_type": 0, "exist_timeout": false }),
        };
        serde_json::json!({
            "refund_get_response": {
                "refund": {
                    "refund_id": self.refund_id,
                    "tid": self.tid,
                    "oid": format!("{}-1", self.tid),
                    "status": self.status,
                    "order_status": self.order_status,
                    "good_status": self.good_status,
                    "has_good_return": self.has_good_return,
                    "refund_phase": "aftersale",
                    "cs_status": self.cs_status,
                    "refund_fee": self.refund_fee,
                    "total_fee": self.total_fee,
                    "payment": "259.00",
                    "buyer_nick": "tb_buyer_01",
                    "seller_nick": "flagship",
                    "reason": "尺码不合适",
                    "desc": "穿着偏小",
                    "title": "羊毛大衣",
                    "created": self.created,
                    "modified": "2026-11-21 09:30:00",
                    "refund_version": self.version_ms,
                    "refund_remind_timeout": timeout,
                }
            }
        })
        .to_string()
    }
}

/// The shop every scenario uses unless it needs several.
pub const SHOP: &str = "tmall-flagship";

pub type Client = aftersales_proto::v1::aftersales_service_client::AftersalesServiceClient<Channel>;

pub async fn ingest(
    client: &mut Client,
    key: &str,
    record: &TaobaoRefund,
) -> Result<pb::IngestPlatformCaseResponse, tonic::Status> {
    client
        .ingest_platform_case(authed(
            key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "taobao".into(),
                native_record_json: record.json(),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

pub fn manual_case(kind: pb::CaseKind, order: &str) -> pb::Case {
    pb::Case {
        shop: SHOP.into(),
        platform: "taobao".into(),
        order_id: order.into(),
        kind: kind as i32,
        fulfilment: pb::Fulfilment::Received as i32,
        requested_refund_fen: 5000,
        order_total_fen: 9900,
        reason: "wrong colour".into(),
        buyer: "tb_buyer_02".into(),
        // TB-20: a task carries the two addresses it is about (TB-20 example B).
        signed_elsewhere_task: (kind == pb::CaseKind::SignedElsewhereTask).then(|| {
            pb::SignedElsewhereTask {
                delivery_address: "浙江省杭州市余杭区良渚街道金色家园3幢".into(),
                signing_location: "【杭州市】萧山区北干街道菜鸟驿站已签收".into(),
                ..Default::default()
            }
        }),
        ..Default::default()
    }
}

pub async fn create(client: &mut Client, key: &str, case: pb::Case) -> pb::Case {
    client
        .create_case(authed(
            key,
            pb::CreateCaseRequest {
                case: Some(case),
                request_id: String::new(),
            },
        ))
        .await
        .expect("create case")
        .into_inner()
}

pub async fn events_of(client: &mut Client, key: &str, name: &str) -> Vec<pb::CaseEvent> {
    client
        .list_case_events(authed(
            key,
            pb::ListCaseEventsRequest {
                parent: name.into(),
                page_size: 1000,
                page_token: String::new(),
            },
        ))
        .await
        .expect("list events")
        .into_inner()
        .events
}

/// The types of a case's events, oldest first.
pub async fn event_types(client: &mut Client, key: &str, name: &str) -> Vec<String> {
    events_of(client, key, name)
        .await
        .into_iter()
        .map(|e| e.r#type)
        .collect()
}

/// The next event on a WatchCaseEvents stream, failing the test after 10 s.
pub async fn next_event(s: &mut tonic::Streaming<pb::WatchCaseEventsResponse>) -> pb::CaseEvent {
    tokio::time::timeout(std::time::Duration::from_secs(10), s.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("event, not error")
        .event
        .expect("event set")
}

/// A proto timestamp for `t`.
pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The instant a set proto timestamp holds; fails the test when unset.
pub fn time_of(t: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.as_ref().expect("timestamp set");
    DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap()
}

/// The `google.rpc.ErrorInfo` reason of an error, or "".
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The fields named by an error's `BadRequest` violations, in order.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// An event's detail JSON.
pub fn detail(e: &pb::CaseEvent) -> serde_json::Value {
    serde_json::from_str(&e.detail_json).unwrap()
}

pub async fn get(client: &mut Client, key: &str, name: &str) -> pb::Case {
    client
        .get_case(authed(key, pb::GetCaseRequest { name: name.into() }))
        .await
        .expect("get case")
        .into_inner()
}
