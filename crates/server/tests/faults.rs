//! Fault tests: the real `aftersales` binary under a write load, then a fault, and afterwards
//! a check that no acknowledged write was lost, none was applied twice and no case was left
//! half-updated. The faults:
//!
//! 1. SIGKILL mid-load, restart on the same database (SQLite, PostgreSQL);
//! 2. SIGTERM mid-load: drain, exit 0, restart (SQLite, PostgreSQL);
//! 3. PostgreSQL stopped (immediate) for 10 s under load, on a private instance the test
//!    starts (initdb, a free port), and started again; the server is not restarted;
//! 4. SQLite's write lock held by another process for 7 s under load.
//!
//! The checks after each: every acknowledged write is there (through the API: the case, its
//! version, one event per write) and resending it with its request_id returns the first
//! answer and writes nothing; and across the tenant (from the database) every case's state is
//! the `to_state` of its last state-changing event, its `deadlines` rows mirror its body, and
//! the event feed is gap-free and matches its counter.
//!
//! The load client acknowledges a write only on an OK answer. Any other answer (UNAVAILABLE,
//! RESOURCE_EXHAUSTED from a rate limit, a transport error) is "not acknowledged" and the
//! same request, with the same request_id, is sent again; a request still unanswered when the
//! load stops is resent after the fault (AIP-155 makes that safe), and the database tells
//! whether its first attempt had committed.
//!
//! Everything is bounded by count and by time; traffic goes to 127.0.0.1 only. Each test
//! prints its figures (acknowledged, lost, duplicates, failures by code, recovery time) with
//! eprintln; `cargo test -p aftersales-server --test faults -- --nocapture` shows them.

mod common;

use aftersales_domain::time::to_millis;
use aftersales_domain::{CaseId, TenantId};
use aftersales_proto::v1 as pb;
use aftersales_store::{CaseQuery, Store};
use common::{create_key, Db, DeadlineRow, PrivatePostgres, Raw, ServerProcess, TENANT};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

type Client = pb::aftersales_service_client::AftersalesServiceClient<Channel>;

/// Concurrent load tasks (each its own connection).
const WORKERS: usize = 12;
/// A call that has not answered in this long counts as hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Answers that mean "not now, retry" rather than "no": the load client resends the same
/// request after them. RESOURCE_EXHAUSTED is what the coming rate and concurrency limits
/// answer.
const RETRYABLE: [Code; 2] = [Code::Unavailable, Code::ResourceExhausted];

// ---------------------------------------------------------------------------------------------
// The load: chains of writes on cases, each write with its own request_id.

/// The write sequences a load task runs, each on a case of its own, each step valid in the
/// state the previous one left.
#[derive(Debug, Clone, Copy)]
enum Chain {
    /// CreateCase (return and refund, goods received) → AgreeCase → RecordReturnShipment →
    /// ConfirmReturnReceived → RefundCase.
    ManualReturn,
    /// IngestPlatformCase (a Taobao refund waiting for the merchant) → IngestPlatformCase (a
    /// newer version: waiting for the buyer's return) → RecordReturnShipment →
    /// ConfirmReturnReceived → RefundCase.
    IngestedReturn,
    /// CreateCase → RejectCase → EscalateCase → CloseCase.
    RejectEscalateClose,
}

const CHAINS: [Chain; 3] = [
    Chain::ManualReturn,
    Chain::IngestedReturn,
    Chain::RejectEscalateClose,
];

/// What is fixed for one chain: its order and Taobao record.
struct ChainCtx {
    uniq: String,
    created: String,
    version_ms: i64,
}

impl ChainCtx {
    fn new(run: &str, worker: usize, n: usize) -> ChainCtx {
        let now = chrono::Utc::now();
        ChainCtx {
            uniq: format!("{run}-w{worker}-{n}"),
            // Taobao writes Beijing time without an offset.
            created: (now + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            version_ms: now.timestamp_millis(),
        }
    }
}

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn shipment() -> Option<pb::Shipment> {
    Some(pb::Shipment {
        carrier: "中通快递".into(),
        tracking_number: "ZT7700112233".into(),
        ship_time: None,
    })
}

fn manual_case(order: &str) -> pb::Case {
    pb::Case {
        shop: "tmall-flagship".into(),
        platform: "taobao".into(),
        order_id: order.into(),
        kind: pb::CaseKind::ReturnAndRefund as i32,
        fulfilment: pb::Fulfilment::Received as i32,
        requested_refund_fen: 5000,
        order_total_fen: 9900,
        reason: "wrong colour".into(),
        buyer: "tb_buyer_02".into(),
        ..Default::default()
    }
}

/// A `taobao.refund.get` answer as TOP returns it.
fn taobao_refund(ctx: &ChainCtx, status: &str, version_ms: i64) -> String {
    serde_json::json!({
        "refund_get_response": {
            "refund": {
                "refund_id": format!("r-{}", ctx.uniq),
                "tid": format!("tid-{}", ctx.uniq),
                "oid": format!("tid-{}-1", ctx.uniq),
                "status": status,
                "order_status": "TRADE_FINISHED",
                "good_status": "BUYER_RECEIVED",
                "has_good_return": true,
                "refund_phase": "aftersale",
                "cs_status": 1,
                "refund_fee": "200.07",
                "total_fee": "259.00",
                "payment": "259.00",
                "buyer_nick": "tb_buyer_01",
                "seller_nick": "flagship",
                "reason": "尺码不合适",
                "desc": "穿着偏小",
                "title": "羊毛大衣",
                "created": ctx.created,
                "modified": ctx.created,
                "refund_version": version_ms,
                "refund_remind_timeout": { "remind_type": 0, "exist_timeout": false },
            }
        }
    })
    .to_string()
}

/// One write as sent, kept whole so it can be resent byte for byte.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // a test's few thousand requests
enum Req {
    Create(pb::CreateCaseRequest),
    Ingest {
        req: pb::IngestPlatformCaseRequest,
        first: bool,
    },
    Agree(pb::AgreeCaseRequest),
    Reject(pb::RejectCaseRequest),
    ReturnShipment(pb::RecordReturnShipmentRequest),
    ConfirmReturn(pb::ConfirmReturnReceivedRequest),
    Refund(pb::RefundCaseRequest),
    Escalate(pb::EscalateCaseRequest),
    Close(pb::CloseCaseRequest),
}

/// An OK answer.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Case(pb::Case),
    Ingest(pb::IngestPlatformCaseResponse),
}

impl Answer {
    fn case(&self) -> &pb::Case {
        match self {
            Answer::Case(c) => c,
            Answer::Ingest(r) => r.case.as_ref().expect("an ingest that opened a case"),
        }
    }
}

fn authed<T>(key: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {key}")).unwrap(),
    );
    r
}

impl Chain {
    /// Step `step` of the chain, given the case as the previous step's answer left it.
    fn request(self, step: usize, prev: Option<&pb::Case>, ctx: &ChainCtx) -> Option<Req> {
        let name = || prev.map(|c| c.name.clone()).unwrap_or_default();
        let etag = || prev.map(|c| c.etag.clone()).unwrap_or_default();
        let request_id = rid();
        use Chain::*;
        Some(match (self, step) {
            (ManualReturn | RejectEscalateClose, 0) => Req::Create(pb::CreateCaseRequest {
                case: Some(manual_case(&format!("o-{}", ctx.uniq))),
                request_id,
            }),
            (IngestedReturn, 0 | 1) => Req::Ingest {
                req: pb::IngestPlatformCaseRequest {
                    shop: "tmall-flagship".into(),
                    platform: "taobao".into(),
                    native_record_json: if step == 0 {
                        taobao_refund(ctx, "WAIT_SELLER_AGREE", ctx.version_ms)
                    } else {
                        taobao_refund(ctx, "WAIT_BUYER_RETURN_GOODS", ctx.version_ms + 60_000)
                    },
                    request_id,
                },
                first: step == 0,
            },
            (ManualReturn, 1) => Req::Agree(pb::AgreeCaseRequest {
                name: name(),
                etag: etag(),
                request_id,
                ..Default::default()
            }),
            (ManualReturn | IngestedReturn, 2) => {
                Req::ReturnShipment(pb::RecordReturnShipmentRequest {
                    name: name(),
                    etag: etag(),
                    request_id,
                    shipment: shipment(),
                })
            }
            (ManualReturn | IngestedReturn, 3) => {
                Req::ConfirmReturn(pb::ConfirmReturnReceivedRequest {
                    name: name(),
                    etag: etag(),
                    request_id,
                })
            }
            (ManualReturn | IngestedReturn, 4) => Req::Refund(pb::RefundCaseRequest {
                name: name(),
                etag: etag(),
                request_id,
                amount_fen: None,
            }),
            (RejectEscalateClose, 1) => Req::Reject(pb::RejectCaseRequest {
                name: name(),
                etag: etag(),
                request_id,
                reason: "已超过退货期".into(),
            }),
            (RejectEscalateClose, 2) => Req::Escalate(pb::EscalateCaseRequest {
                name: name(),
                etag: etag(),
                request_id,
                reason: "buyer unresponsive".into(),
            }),
            (RejectEscalateClose, 3) => Req::Close(pb::CloseCaseRequest {
                name: name(),
                etag: etag(),
                request_id,
                reason: "platform ruled for merchant".into(),
            }),
            _ => return None,
        })
    }
}

impl Req {
    fn method(&self) -> &'static str {
        match self {
            Req::Create(_) => "CreateCase",
            Req::Ingest { .. } => "IngestPlatformCase",
            Req::Agree(_) => "AgreeCase",
            Req::Reject(_) => "RejectCase",
            Req::ReturnShipment(_) => "RecordReturnShipment",
            Req::ConfirmReturn(_) => "ConfirmReturnReceived",
            Req::Refund(_) => "RefundCase",
            Req::Escalate(_) => "EscalateCase",
            Req::Close(_) => "CloseCase",
        }
    }

    /// The event the write records on its case.
    fn event(&self) -> &'static str {
        match self {
            Req::Create(_) | Req::Ingest { first: true, .. } => "case_created",
            Req::Ingest { first: false, .. } => "platform_updated",
            Req::Agree(_) => "merchant_agreed",
            Req::Reject(_) => "merchant_rejected",
            Req::ReturnShipment(_) => "return_shipment_recorded",
            Req::ConfirmReturn(_) => "return_received",
            Req::Refund(_) => "merchant_refunded",
            Req::Escalate(_) => "escalated_to_platform",
            Req::Close(_) => "merchant_closed",
        }
    }

    fn request_id(&self) -> &str {
        match self {
            Req::Create(r) => &r.request_id,
            Req::Ingest { req, .. } => &req.request_id,
            Req::Agree(r) => &r.request_id,
            Req::Reject(r) => &r.request_id,
            Req::ReturnShipment(r) => &r.request_id,
            Req::ConfirmReturn(r) => &r.request_id,
            Req::Refund(r) => &r.request_id,
            Req::Escalate(r) => &r.request_id,
            Req::Close(r) => &r.request_id,
        }
    }

    async fn send(&self, client: &mut Client, key: &str) -> Result<Answer, Status> {
        let case =
            |r: Result<tonic::Response<pb::Case>, Status>| r.map(|r| Answer::Case(r.into_inner()));
        match self {
            Req::Create(r) => case(client.create_case(authed(key, r.clone())).await),
            Req::Ingest { req, .. } => client
                .ingest_platform_case(authed(key, req.clone()))
                .await
                .map(|r| Answer::Ingest(r.into_inner())),
            Req::Agree(r) => case(client.agree_case(authed(key, r.clone())).await),
            Req::Reject(r) => case(client.reject_case(authed(key, r.clone())).await),
            Req::ReturnShipment(r) => {
                case(client.record_return_shipment(authed(key, r.clone())).await)
            }
            Req::ConfirmReturn(r) => {
                case(client.confirm_return_received(authed(key, r.clone())).await)
            }
            Req::Refund(r) => case(client.refund_case(authed(key, r.clone())).await),
            Req::Escalate(r) => case(client.escalate_case(authed(key, r.clone())).await),
            Req::Close(r) => case(client.close_case(authed(key, r.clone())).await),
        }
    }
}

/// An acknowledged write: the request and its OK answer.
#[derive(Debug, Clone)]
struct Ack {
    req: Req,
    answer: Answer,
}

/// A non-OK answer, or no answer within [`CALL_TIMEOUT`] (recorded as DEADLINE_EXCEEDED).
#[derive(Debug, Clone)]
struct Failure {
    started: Instant,
    ended: Instant,
    code: Code,
    message: String,
    method: &'static str,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answered {:?} after {:?}: {}",
            self.method,
            self.code,
            self.ended - self.started,
            self.message
        )
    }
}

/// The first few failures, one a line.
fn show(failures: &[Failure]) -> String {
    failures
        .iter()
        .take(10)
        .map(|f| format!("  {f}\n"))
        .collect()
}

#[derive(Debug, Default)]
struct Record {
    acks: Vec<Ack>,
    failures: Vec<Failure>,
    /// Sent at least once, never answered OK when the load stopped.
    pending: Vec<Req>,
    /// When each OK answer arrived (for recovery times).
    ack_times: Vec<Instant>,
}

struct Control {
    stop: AtomicBool,
    acks: AtomicUsize,
    /// Calls sent and not yet answered.
    in_flight: AtomicUsize,
    /// Hard bound on acknowledged writes, whatever the test does.
    max_acks: usize,
}

impl Control {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && self.acks.load(Ordering::SeqCst) < self.max_acks
    }
}

struct Load {
    ctl: Arc<Control>,
    record: Arc<Mutex<Record>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn client_for(addr: &str) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    Client::new(channel)
}

impl Load {
    fn start(addr: &str, key: &str, workers: usize, max_acks: usize) -> Load {
        let ctl = Arc::new(Control {
            stop: AtomicBool::new(false),
            acks: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_acks,
        });
        let record = Arc::new(Mutex::new(Record::default()));
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let tasks = (0..workers)
            .map(|w| {
                let client = client_for(addr);
                let (key, ctl, record, run) =
                    (key.to_string(), ctl.clone(), record.clone(), run.clone());
                tokio::spawn(async move { worker(w, client, key, ctl, record, run).await })
            })
            .collect();
        Load { ctl, record, tasks }
    }

    fn acks(&self) -> usize {
        self.ctl.acks.load(Ordering::SeqCst)
    }

    fn in_flight(&self) -> usize {
        self.ctl.in_flight.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.ctl.stop.store(true, Ordering::SeqCst);
    }

    /// Stop (if not yet) and wait for every task to give up or finish its call.
    async fn join(self) -> Record {
        self.stop();
        for t in self.tasks {
            t.await.expect("load task panicked");
        }
        Arc::try_unwrap(self.record)
            .expect("tasks done")
            .into_inner()
            .unwrap()
    }

    /// A copy of the failures so far.
    fn failures(&self) -> Vec<Failure> {
        self.record.lock().unwrap().failures.clone()
    }

    fn ack_times(&self) -> Vec<Instant> {
        self.record.lock().unwrap().ack_times.clone()
    }
}

async fn worker(
    w: usize,
    mut client: Client,
    key: String,
    ctl: Arc<Control>,
    record: Arc<Mutex<Record>>,
    run: String,
) {
    let mut n = 0;
    while ctl.running() {
        let chain = CHAINS[(w + n) % CHAINS.len()];
        let ctx = ChainCtx::new(&run, w, n);
        n += 1;
        let mut prev: Option<pb::Case> = None;
        for step in 0.. {
            let Some(req) = chain.request(step, prev.as_ref(), &ctx) else {
                break;
            };
            match call_until_answered(&mut client, &key, req, &ctl, &record).await {
                Some(answer) => prev = Some(answer.case().clone()),
                None => return,
            }
        }
    }
}

/// Send `req` until it is answered OK (acknowledged) or the load stops (pending, if it was
/// sent at all). Every non-OK answer is recorded and the same request resent.
async fn call_until_answered(
    client: &mut Client,
    key: &str,
    req: Req,
    ctl: &Control,
    record: &Mutex<Record>,
) -> Option<Answer> {
    let mut sent = false;
    let mut backoff = Duration::from_millis(20);
    loop {
        if !ctl.running() {
            if sent {
                record.lock().unwrap().pending.push(req);
            }
            return None;
        }
        sent = true;
        let started = Instant::now();
        ctl.in_flight.fetch_add(1, Ordering::SeqCst);
        let outcome = tokio::time::timeout(CALL_TIMEOUT, req.send(client, key)).await;
        ctl.in_flight.fetch_sub(1, Ordering::SeqCst);
        let ended = Instant::now();
        let (code, message) = match outcome {
            Ok(Ok(answer)) => {
                let mut r = record.lock().unwrap();
                r.acks.push(Ack {
                    req,
                    answer: answer.clone(),
                });
                r.ack_times.push(ended);
                ctl.acks.fetch_add(1, Ordering::SeqCst);
                return Some(answer);
            }
            Ok(Err(status)) => (status.code(), status.message().to_string()),
            Err(_) => (
                Code::DeadlineExceeded,
                "no answer within the call timeout".into(),
            ),
        };
        record.lock().unwrap().failures.push(Failure {
            started,
            ended,
            code,
            message,
            method: req.method(),
        });
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

fn by_code<'a>(failures: impl IntoIterator<Item = &'a Failure>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in failures {
        *out.entry(format!("{:?}", f.code)).or_default() += 1;
    }
    out
}

/// Failures whose code is not a clean "retry later".
fn unclean<'a>(failures: impl IntoIterator<Item = &'a Failure>) -> Vec<Failure> {
    failures
        .into_iter()
        .filter(|f| !RETRYABLE.contains(&f.code))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Verification after the fault.

#[derive(Debug, Default)]
struct Figures {
    /// OK answers during the load.
    acknowledged: usize,
    /// Unanswered when the load stopped, resent afterwards.
    in_flight: usize,
    /// Of those, how many the server had committed before the fault (answer lost on the way).
    in_flight_committed: usize,
    /// Acknowledged writes missing afterwards (case missing, its event missing, or the case
    /// older than the acknowledged version).
    lost: usize,
    /// Writes applied twice: an event more than once, or a case nobody asked for.
    duplicates: usize,
    /// Acknowledged requests whose resend (same request_id) did not return the first answer.
    replay_mismatches: usize,
    /// Cases whose state, deadline mirror or event feed disagree.
    inconsistencies: Vec<String>,
    cases: usize,
    events: usize,
}

/// Resend until OK, for the requests left pending by the fault; the server may still be
/// coming up.
async fn resend_until_ok(client: &mut Client, key: &str, req: &Req) -> Answer {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(CALL_TIMEOUT, req.send(client, key)).await {
            Ok(Ok(answer)) => return answer,
            Ok(Err(s)) if RETRYABLE.contains(&s.code()) && Instant::now() < until => {}
            Ok(Err(s)) => panic!(
                "resending {} {} after the fault: {:?} {}",
                req.method(),
                req.request_id(),
                s.code(),
                s.message()
            ),
            Err(_) => panic!("resending {} hung", req.method()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Check the record against the server at `addr` and the database at `url`. `seeded` are
/// cases the test wrote itself (not through the load), which only the consistency checks
/// cover.
async fn verify(
    addr: &str,
    key: &str,
    url: &str,
    record: &mut Record,
    seeded: &BTreeSet<String>,
) -> Figures {
    let tenant = TenantId::parse(TENANT).unwrap();
    let raw = Raw::connect(url).await;
    let mut fig = Figures {
        acknowledged: record.acks.len(),
        in_flight: record.pending.len(),
        ..Figures::default()
    };
    let mut client = client_for(addr);

    // 1. The writes left unanswered: did they commit? Resend each; now they must answer.
    let committed = raw.request_ids(TENANT).await;
    let mut acks = record.acks.clone();
    for req in std::mem::take(&mut record.pending) {
        if committed.contains(req.request_id()) {
            fig.in_flight_committed += 1;
        }
        let answer = resend_until_ok(&mut client, key, &req).await;
        acks.push(Ack { req, answer });
    }
    // Every write the chains made is now acknowledged, in order per case.

    // 2. Resend every acknowledged write: the stored answer comes back, byte for byte.
    let mismatches = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut resends = Vec::new();
    for ack in acks.iter().cloned() {
        let (mut client, key, mismatches, sem) = (
            client.clone(),
            key.to_string(),
            mismatches.clone(),
            sem.clone(),
        );
        resends.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            match tokio::time::timeout(CALL_TIMEOUT, ack.req.send(&mut client, &key)).await {
                Ok(Ok(again)) if again == ack.answer => {}
                other => {
                    let n = mismatches.fetch_add(1, Ordering::SeqCst);
                    if n < 5 {
                        eprintln!(
                            "replay of {} {} differs: {:?}",
                            ack.req.method(),
                            ack.req.request_id(),
                            other.map(|r| r.map(|a| a.case().etag.clone()))
                        );
                    }
                }
            }
        }));
    }
    for r in resends {
        r.await.unwrap();
    }
    fig.replay_mismatches = mismatches.load(Ordering::SeqCst);

    // 3. Each case the load wrote: there, as the last acknowledged answer left it, with one
    //    event per acknowledged write and nothing else.
    let mut per_case: BTreeMap<String, Vec<&Ack>> = BTreeMap::new();
    for ack in &acks {
        per_case
            .entry(ack.answer.case().name.clone())
            .or_default()
            .push(ack);
    }
    let checks: Vec<CaseCheck> = futures::stream::iter(
        per_case
            .iter()
            .map(|(name, acks)| check_case(client.clone(), key, name, acks)),
    )
    .buffer_unordered(16)
    .collect()
    .await;
    for c in checks {
        fig.lost += c.lost;
        fig.duplicates += c.duplicates;
        fig.inconsistencies.extend(c.inconsistencies);
    }

    // 4. The whole tenant, from the database: no case nobody asked for, every case's state
    //    is where its events say, its deadline rows mirror its body, the feed has no gaps.
    let store = aftersales_store::connect(url, 2).await.expect("open store");
    let cases = all_cases(store.as_ref(), &tenant).await;
    fig.cases = cases.len();
    for case in &cases {
        let name = format!("cases/{}", case.id);
        if !per_case.contains_key(&name) && !seeded.contains(case.id.as_str()) {
            fig.duplicates += 1;
            eprintln!("DUPLICATE: {name} was created but never acknowledged or asked for");
        }
    }
    let events = all_events(store.as_ref(), &tenant).await;
    fig.events = events.len();
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as i64 + 1 {
            fig.inconsistencies
                .push(format!("event feed gap: position {i} has seq {}", e.seq));
            break;
        }
    }
    let last_seq = raw.last_seq(TENANT).await;
    if last_seq != events.len() as i64 {
        fig.inconsistencies.push(format!(
            "event counter says {last_seq}, the feed has {} events",
            events.len()
        ));
    }
    let mut last_state: HashMap<&CaseId, aftersales_domain::CaseState> = HashMap::new();
    for e in &events {
        if let Some(to) = e.to_state {
            last_state.insert(&e.case_id, to);
        }
    }
    let mut rows: BTreeMap<String, Vec<DeadlineRow>> = BTreeMap::new();
    for row in raw.deadline_rows(TENANT).await {
        rows.entry(row.case_id.clone()).or_default().push(row);
    }
    for case in &cases {
        match last_state.get(&case.id) {
            Some(s) if *s == case.state => {}
            other => fig.inconsistencies.push(format!(
                "case {} is {} but its last state-changing event says {:?}",
                case.id,
                case.state.as_str(),
                other.map(|s| s.as_str())
            )),
        }
        let want: Vec<DeadlineRow> = case
            .deadlines
            .iter()
            .enumerate()
            .map(|(i, d)| DeadlineRow {
                case_id: case.id.to_string(),
                position: i as i64,
                key: d.key.clone(),
                rule_id: d.rule_id.clone(),
                due_at: to_millis(d.due_at),
                remind_at: d.remind_at.map(to_millis),
                reminded_at: d.reminded_at.map(to_millis),
                state: d.state.as_str().to_string(),
            })
            .collect();
        let mut have = rows.remove(case.id.as_str()).unwrap_or_default();
        have.sort();
        if have != want {
            fig.inconsistencies.push(format!(
                "case {}: deadline rows {have:?} do not mirror its body {want:?}",
                case.id
            ));
        }
    }
    for case_id in rows.keys() {
        fig.inconsistencies.push(format!(
            "deadline rows for case {case_id}, which is not stored"
        ));
    }
    raw.close().await;
    fig
}

#[derive(Debug, Default)]
struct CaseCheck {
    lost: usize,
    duplicates: usize,
    inconsistencies: Vec<String>,
}

/// One case the load wrote, through the API: there, as the last acknowledged answer left
/// it, with one event per acknowledged write and no other.
async fn check_case(mut client: Client, key: &str, name: &str, acks: &[&Ack]) -> CaseCheck {
    let mut out = CaseCheck::default();
    let last = acks.last().unwrap().answer.case();
    let got = client
        .get_case(authed(key, pb::GetCaseRequest { name: name.into() }))
        .await;
    let got = match got {
        Ok(c) => c.into_inner(),
        Err(s) if s.code() == Code::NotFound => {
            out.lost += acks.len();
            eprintln!("LOST: {name} is gone ({} acknowledged writes)", acks.len());
            return out;
        }
        Err(s) => panic!("GetCase {name}: {s:?}"),
    };
    if version(&got.etag) < version(&last.etag) {
        out.lost += 1;
        eprintln!(
            "LOST: {name} is at {} but {} was acknowledged",
            got.etag, last.etag
        );
    } else if &got != last {
        out.inconsistencies.push(format!(
            "{name}: differs from its last acknowledged answer ({} vs {})",
            got.etag, last.etag
        ));
    }
    let events = client
        .list_case_events(authed(
            key,
            pb::ListCaseEventsRequest {
                parent: name.into(),
                page_size: 1000,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap_or_else(|s| panic!("ListCaseEvents {name}: {s:?}"))
        .into_inner()
        .events;
    let mut want: BTreeMap<&str, usize> = BTreeMap::new();
    for a in acks {
        *want.entry(a.req.event()).or_default() += 1;
    }
    let mut have: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        *have.entry(e.r#type.as_str()).or_default() += 1;
    }
    for (kind, n) in &want {
        let h = have.get(kind).copied().unwrap_or(0);
        if h < *n {
            out.lost += n - h;
            eprintln!("LOST: {name} has {h} {kind} events, {n} acknowledged");
        }
    }
    for (kind, h) in &have {
        let n = want.get(kind).copied().unwrap_or(0);
        if *h > n {
            out.duplicates += h - n;
            eprintln!("DUPLICATE: {name} has {h} {kind} events, {n} acknowledged");
        }
    }
    out
}

fn version(etag: &str) -> i64 {
    etag.trim_matches('"').parse().unwrap_or(0)
}

async fn all_cases(store: &dyn Store, tenant: &TenantId) -> Vec<aftersales_domain::Case> {
    let mut out: Vec<aftersales_domain::Case> = Vec::new();
    loop {
        let page = store
            .list_cases(
                tenant,
                &CaseQuery {
                    after_id: out.last().map(|c| c.id.clone()),
                    limit: 500,
                    ..CaseQuery::default()
                },
            )
            .await
            .expect("list cases");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

async fn all_events(store: &dyn Store, tenant: &TenantId) -> Vec<aftersales_store::StoredEvent> {
    let mut out: Vec<aftersales_store::StoredEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = store
            .tenant_events(tenant, &[], after, 5000)
            .await
            .expect("tenant events");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn assert_sound(test: &str, fig: &Figures) {
    assert_eq!(fig.lost, 0, "{test}: acknowledged writes lost: {fig:?}");
    assert_eq!(fig.duplicates, 0, "{test}: writes applied twice: {fig:?}");
    assert_eq!(
        fig.replay_mismatches, 0,
        "{test}: a resent request did not get its first answer: {fig:?}"
    );
    assert!(
        fig.inconsistencies.is_empty(),
        "{test}: half-updated or inconsistent data: {:#?}",
        fig.inconsistencies
    );
    assert!(fig.acknowledged > 0, "{test}: the load wrote nothing");
}

fn print_figures(test: &str, fig: &Figures, extra: &str) {
    eprintln!(
        "[faults] {test}: acknowledged={} unanswered_at_stop={} (committed_before_fault={}) \
         lost={} duplicates={} replay_mismatches={} inconsistencies={} cases={} events={}{extra}",
        fig.acknowledged,
        fig.in_flight,
        fig.in_flight_committed,
        fig.lost,
        fig.duplicates,
        fig.replay_mismatches,
        fig.inconsistencies.len(),
        fig.cases,
        fig.events,
    );
}

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL mid-load.

/// The load runs until this many writes are acknowledged or [`KILL_AFTER`] passes.
const KILL_AFTER_ACKS: usize = 1500;
const KILL_AFTER: Duration = Duration::from_secs(3);

/// A server SIGKILLed under a write load loses no acknowledged write, applies none twice and
/// leaves no case half-updated; after a restart on the same database, resending any request
/// with its request_id returns the first answer and changes nothing.
async fn sigkill_under_load_loses_nothing(postgres: bool) {
    let _serial = common::exclusive().await;
    let test = if postgres {
        "sigkill/postgres"
    } else {
        "sigkill/sqlite"
    };
    let (db, url) = Db::fresh(postgres).await;
    let key = create_key(&url, TENANT, "loader");
    let mut server = ServerProcess::start(&url, &[]);
    let load = Load::start(&server.addr, &key, WORKERS, KILL_AFTER_ACKS * 4);
    let started = Instant::now();
    while load.acks() < KILL_AFTER_ACKS && started.elapsed() < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_at = Instant::now();
    load.stop();
    let in_flight_at_kill = load.in_flight();
    server.kill9();
    let ran = killed_at - started;
    let mut record = load.join().await;
    let before_kill: Vec<&Failure> = record
        .failures
        .iter()
        .filter(|f| f.ended < killed_at)
        .collect();
    let unclean_before = unclean(before_kill.iter().copied());
    assert!(
        unclean_before.is_empty(),
        "{test}: failures before the kill:\n{}",
        show(&unclean_before)
    );

    let restarted = ServerProcess::start(&url, &[]);
    let fig = verify(&restarted.addr, &key, &url, &mut record, &BTreeSet::new()).await;
    print_figures(
        test,
        &fig,
        &format!(
            " load_ran={ran:?} writes_per_s={:.0} calls_in_flight_at_kill={in_flight_at_kill} failures_at_kill={:?}",
            fig.acknowledged as f64 / ran.as_secs_f64(),
            by_code(record.failures.iter().filter(|f| f.ended >= killed_at)),
        ),
    );
    drop(restarted);
    assert_sound(test, &fig);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_sqlite() {
    sigkill_under_load_loses_nothing(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_postgres() {
    sigkill_under_load_loses_nothing(true).await
}

// ---------------------------------------------------------------------------------------------
// 2. SIGTERM mid-load.

const DRAIN_SECONDS: u64 = 10;

/// SIGTERM under load: calls the server accepted finish OK, later ones get a clean
/// UNAVAILABLE (never INTERNAL or a reset), the process exits 0 within its drain timeout,
/// every acknowledged write is there after a restart, and nothing was committed without its
/// answer reaching the client.
async fn sigterm_under_load_drains(postgres: bool) {
    let _serial = common::exclusive().await;
    let test = if postgres {
        "sigterm/postgres"
    } else {
        "sigterm/sqlite"
    };
    let (db, url) = Db::fresh(postgres).await;
    let key = create_key(&url, TENANT, "loader");
    let drain = DRAIN_SECONDS.to_string();
    let mut server = ServerProcess::start(&url, &[("AFTERSALES_DRAIN_SECONDS", drain.as_str())]);
    let load = Load::start(&server.addr, &key, WORKERS, KILL_AFTER_ACKS * 4);
    let started = Instant::now();
    while load.acks() < KILL_AFTER_ACKS / 2 && started.elapsed() < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acks_at_term = load.acks();
    let term_at = Instant::now();
    server.sigterm();
    let exit = server
        .wait_exit(Duration::from_secs(DRAIN_SECONDS + 10))
        .await;
    let exited_at = Instant::now();
    let mut record = load.join().await;
    let Some((status, took)) = exit else {
        panic!(
            "{test}: still running {}s after SIGTERM; log:\n{}",
            DRAIN_SECONDS + 10,
            server.log_tail(4000)
        );
    };
    let acked_during_drain = record
        .ack_times
        .iter()
        .filter(|t| **t >= term_at && **t <= exited_at)
        .count();
    let after_term: Vec<&Failure> = record
        .failures
        .iter()
        .filter(|f| f.ended >= term_at)
        .collect();
    let started_before_term = after_term.iter().filter(|f| f.started < term_at).count();
    let after_term = by_code(after_term);
    // A call sent once the server had begun to close its connections may also fail in the
    // client before it was sent: tonic answers CANCELLED "operation was canceled" for a
    // request its connection closed under. Nothing reached the server, so it is as clean as
    // UNAVAILABLE; the check below that nothing committed went unanswered covers the rest.
    //
    // Likewise a call started after SIGTERM that the client could not hand to a server before
    // the process was gone: tonic's channel holds it while it reconnects, and the client's own
    // timeout ends it (DEADLINE_EXCEEDED) long after the server exited — no server was left
    // to work on it.
    let never_sent = |f: &Failure| {
        f.started >= term_at
            && ((f.code == Code::Cancelled && f.message.contains("operation was canceled"))
                || (f.code == Code::DeadlineExceeded && f.ended > exited_at))
    };
    let cancelled_unsent = record.failures.iter().filter(|f| never_sent(f)).count();
    let bad = unclean(record.failures.iter().filter(|f| !never_sent(f)));
    let log = server.log_tail(4000);

    let restarted = ServerProcess::start(&url, &[]);
    let fig = verify(&restarted.addr, &key, &url, &mut record, &BTreeSet::new()).await;
    print_figures(
        test,
        &fig,
        &format!(
            " acks_at_sigterm={acks_at_term} acked_during_drain={acked_during_drain} \
             exit={status} exit_after={took:?} failures_after_sigterm={:?} \
             (of which started before it: {started_before_term}, cancelled before being sent: \
             {cancelled_unsent})",
            after_term,
        ),
    );
    drop(restarted);
    assert!(
        bad.is_empty(),
        "{test}: answers other than OK or a clean UNAVAILABLE:\n{}server log:\n{log}",
        show(&bad)
    );
    assert!(
        status.success(),
        "{test}: exit status {status}; log:\n{log}"
    );
    assert!(
        took < Duration::from_secs(DRAIN_SECONDS),
        "{test}: took {took:?} to exit, drain timeout is {DRAIN_SECONDS}s"
    );
    assert_eq!(
        fig.in_flight_committed, 0,
        "{test}: writes committed whose answer never reached the client: {fig:?}"
    );
    assert_sound(test, &fig);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_sqlite() {
    sigterm_under_load_drains(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_postgres() {
    sigterm_under_load_drains(true).await
}

// ---------------------------------------------------------------------------------------------
// 3. PostgreSQL goes away for ten seconds.

const OUTAGE: Duration = Duration::from_secs(10);
/// Cases seeded with a deadline falling due this long after the database stops.
const DUE_INTO_OUTAGE: Duration = Duration::from_secs(4);
const SEEDED: usize = 20;
/// A call may take this long to say UNAVAILABLE while the database is down.
const MAX_OUTAGE_ANSWER: Duration = Duration::from_secs(8);

/// `n` unshipped refund-only Taobao cases whose TB-04 deadline (auto-refund after 2 days) falls
/// due at `due`: opened 2 days before it.
async fn seed_due_at(
    store: &Arc<dyn Store>,
    n: usize,
    due: chrono::DateTime<chrono::Utc>,
) -> BTreeSet<String> {
    use aftersales_domain::event::Actor;
    use aftersales_domain::{Case, PlatformCode};
    use aftersales_store::{CaseWrite, WriteMode};
    let policies = aftersales_platforms::AdapterRegistry::builtin()
        .load_policies()
        .unwrap();
    let taobao = PlatformCode::parse("taobao").unwrap();
    let opened = due - chrono::Duration::days(2);
    let policy = policies.in_force(&taobao, opened).unwrap().clone();
    let tenant = TenantId::parse(TENANT).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let draft = common::unshipped_taobao_refund("seeded-shop", &format!("seed-{i}"));
        let id = CaseId::parse(uuid::Uuid::now_v7().to_string()).unwrap();
        let change = Case::open(
            id.clone(),
            tenant.clone(),
            draft,
            &policy,
            Actor::merchant("seed"),
            opened,
            &[],
        )
        .unwrap();
        let tb04 = change
            .case
            .deadlines
            .iter()
            .find(|d| d.rule_id == "TB-04" && d.is_active())
            .expect("a TB-04 deadline");
        assert_eq!(tb04.due_at, due, "TB-04 is 2 calendar days");
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
        ids.insert(id.to_string());
    }
    ids
}

/// PostgreSQL stops (immediate: every connection dropped) for ten seconds under load. While
/// it is down calls answer UNAVAILABLE within a few seconds (not INTERNAL, not a hang); once
/// it is back the same server process recovers by itself; deadlines that fell due during the
/// outage fire exactly once; and no acknowledged write is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_under_load() {
    let _serial = common::exclusive().await;
    let test = "pg-outage";
    let pg = PrivatePostgres::start();
    let (db, url) = Db::fresh_on(&pg.admin_url()).await;
    let key = create_key(&url, TENANT, "loader");
    let store = aftersales_store::connect(&url, 2)
        .await
        .expect("open store");
    let server = ServerProcess::start(&url, &[]);
    let load = Load::start(&server.addr, &key, WORKERS, 20_000);

    // Some load first, then cases due shortly into the outage, then the outage.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let due = chrono::Utc::now() + chrono::Duration::from_std(DUE_INTO_OUTAGE).unwrap();
    let due = aftersales_domain::time::from_millis(to_millis(due));
    let seeded = seed_due_at(&store, SEEDED, due).await;
    let stopped_at = Instant::now();
    let stopped_wall = chrono::Utc::now();
    pg.stop_server();
    assert!(
        due > stopped_wall,
        "{test}: the seeded deadlines fell due before the outage began"
    );
    tokio::time::sleep(OUTAGE).await;
    let restart_began = Instant::now();
    pg.start_server();
    let started_at = Instant::now();

    // Recovery: the first OK answer after the database is back.
    let recovered_at = loop {
        if let Some(t) = load.ack_times().into_iter().find(|t| *t >= started_at) {
            break t;
        }
        assert!(
            started_at.elapsed() < Duration::from_secs(30),
            "{test}: no call succeeded within 30 s of PostgreSQL coming back; failures: {:?}\nlog:\n{}",
            by_code(load.failures().iter().filter(|f| f.ended >= started_at)),
            server.log_tail(4000)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let recovery = recovered_at - started_at;
    // Nothing can commit while PostgreSQL is down; an answer to a write that committed just
    // before may arrive just after the stop.
    let acks_during = load
        .ack_times()
        .iter()
        .filter(|t| **t >= stopped_at + Duration::from_secs(1) && **t < restart_began)
        .count();
    // Load a little longer on the recovered server, then stop it.
    let acks_at_recovery = load.acks();
    let more = Instant::now();
    while load.acks() < acks_at_recovery + 300 && more.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut record = load.join().await;

    // The deadlines that fell due while the database was down: fired once each, afterwards.
    let tenant = TenantId::parse(TENANT).unwrap();
    let expiries_of = |store: Arc<dyn Store>, tenant: TenantId| async move {
        all_events(store.as_ref(), &tenant)
            .await
            .into_iter()
            .filter(|e| e.kind == "deadline_expired")
            .collect::<Vec<_>>()
    };
    let wait_from = Instant::now();
    loop {
        let expiries = expiries_of(store.clone(), tenant.clone()).await;
        let fired: BTreeSet<&str> = expiries.iter().map(|e| e.case_id.as_str()).collect();
        if fired.len() >= seeded.len() || wait_from.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment longer: a second firing would show now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let expiries = expiries_of(store.clone(), tenant.clone()).await;
    let mut per_case: BTreeMap<String, usize> = BTreeMap::new();
    for e in &expiries {
        *per_case.entry(e.case_id.to_string()).or_default() += 1;
    }
    let fired_late_ms: Vec<i64> = expiries
        .iter()
        .filter_map(|e| e.detail["late_by_ms"].as_i64())
        .collect();

    let outage_failures: Vec<&Failure> = record
        .failures
        .iter()
        .filter(|f| f.ended >= stopped_at && f.started < started_at)
        .collect();
    let slowest = outage_failures
        .iter()
        .map(|f| f.ended - f.started)
        .max()
        .unwrap_or_default();
    let outage_failed = outage_failures.len();
    let outage_failures = by_code(outage_failures);
    let bad = unclean(record.failures.iter());
    let log = server.log_tail(6000);

    let fig = verify(&server.addr, &key, &url, &mut record, &seeded).await;
    print_figures(
        test,
        &fig,
        &format!(
            " outage={OUTAGE:?} failed_during_outage={:?} slowest_failed_answer={slowest:?} \
             acked_during_outage(after 1 s)={acks_during} pg_restart_took={:?} recovery_after_pg_up={recovery:?} \
             deadlines_due_in_outage={} expiry_events={} fired_late_ms(min..max)={:?}..{:?}",
            outage_failures,
            started_at - restart_began,
            seeded.len(),
            expiries.len(),
            fired_late_ms.iter().min(),
            fired_late_ms.iter().max(),
        ),
    );
    drop(server);
    drop(store);
    assert!(
        bad.is_empty(),
        "{test}: answers other than OK or UNAVAILABLE:\n{}server log:\n{log}",
        show(&bad)
    );
    assert!(
        outage_failed > 0,
        "{test}: no call failed while PostgreSQL was down: the outage did not happen"
    );
    assert!(
        slowest <= MAX_OUTAGE_ANSWER,
        "{test}: a call took {slowest:?} to fail while PostgreSQL was down"
    );
    assert_eq!(
        acks_during, 0,
        "{test}: writes acknowledged while PostgreSQL was down"
    );
    let twice: Vec<_> = per_case.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{test}: fired more than once: {twice:?}");
    let missing: Vec<_> = seeded
        .iter()
        .filter(|id| !per_case.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{test}: deadlines that fell due during the outage never fired: {missing:?}\nlog:\n{log}"
    );
    assert_eq!(expiries.len(), seeded.len(), "{test}: one expiry per case");
    assert_sound(test, &fig);
    // The database lives in the private instance, which goes with it.
    drop(db);
    drop(pg);
}

// ---------------------------------------------------------------------------------------------
// 4. SQLite: another process holds the write lock.

/// How long the other process holds the lock: past the store's 5 s busy timeout.
const LOCK_HELD: Duration = Duration::from_secs(7);

/// The embedded database's nearest thing to an outage: another process (a backup, a
/// `sqlite3` shell left in a transaction) holds the write lock for 7 s under load. Writes
/// answer UNAVAILABLE once the busy timeout runs out (not INTERNAL, not a hang), reads go on,
/// and the server writes again by itself once the lock is released; nothing acknowledged is
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_lock_held_elsewhere_under_load() {
    use sqlx::Connection;
    let _serial = common::exclusive().await;
    let test = "sqlite-locked";
    let (db, url) = Db::fresh(false).await;
    let key = create_key(&url, TENANT, "loader");
    let server = ServerProcess::start(&url, &[]);
    let load = Load::start(&server.addr, &key, WORKERS, 20_000);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    let locked_at = Instant::now();
    tokio::time::sleep(LOCK_HELD).await;
    // A read while the lock is held: WAL lets readers on.
    let mut reader = client_for(&server.addr);
    let read = reader
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                page_size: 1,
                ..Default::default()
            },
        ))
        .await;
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("release the write lock");
    let released_at = Instant::now();
    drop(other);
    // Answers to writes that committed before the lock was taken may still arrive just after;
    // none may have committed while it was held.
    let acks_during = load
        .ack_times()
        .iter()
        .filter(|t| **t >= locked_at + Duration::from_secs(1) && **t < released_at)
        .count();

    let recovered_at = loop {
        if let Some(t) = load.ack_times().into_iter().find(|t| *t >= released_at) {
            break t;
        }
        assert!(
            released_at.elapsed() < Duration::from_secs(30),
            "{test}: no write succeeded within 30 s of the lock's release; log:\n{}",
            server.log_tail(4000)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let acks_at_recovery = load.acks();
    let more = Instant::now();
    while load.acks() < acks_at_recovery + 300 && more.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut record = load.join().await;
    let locked: Vec<&Failure> = record
        .failures
        .iter()
        .filter(|f| f.ended >= locked_at && f.started < released_at)
        .collect();
    let slowest = locked
        .iter()
        .map(|f| f.ended - f.started)
        .max()
        .unwrap_or_default();
    let locked_failed = locked.len();
    let locked = by_code(locked);
    let bad = unclean(record.failures.iter());
    let log = server.log_tail(6000);

    let fig = verify(&server.addr, &key, &url, &mut record, &BTreeSet::new()).await;
    print_figures(
        test,
        &fig,
        &format!(
            " lock_held={LOCK_HELD:?} failed_while_locked={locked:?} slowest_failed_answer={slowest:?} \
             acked_while_locked(after 1 s)={acks_during} read_while_locked={} recovery_after_release={:?}",
            if read.is_ok() { "OK".to_string() } else { format!("{:?}", read.as_ref().err().map(|s| s.code())) },
            recovered_at - released_at,
        ),
    );
    drop(server);
    assert!(
        bad.is_empty(),
        "{test}: answers other than OK or UNAVAILABLE:\n{}server log:\n{log}",
        show(&bad)
    );
    assert!(
        read.is_ok(),
        "{test}: a read failed while only the write lock was held: {read:?}"
    );
    assert_eq!(
        acks_during, 0,
        "{test}: writes acknowledged while another process held the lock"
    );
    assert!(
        locked_failed > 0,
        "{test}: no write failed while the lock was held: the lock did not hold"
    );
    assert!(
        slowest <= Duration::from_secs(12),
        "{test}: a call took {slowest:?} to fail while the database was locked"
    );
    assert_sound(test, &fig);
    db.drop_now().await;
}

// ---------------------------------------------------------------------------------------------
// The checks themselves: they must see a lost, a doubled and a half-written write.

/// A short load with no fault, then the database is tampered with as a faulty store would:
/// one acknowledged write's event deleted, one event recorded twice, one deadline row out of
/// step with its case. [`verify`] must report each, or the fault tests above prove nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_catch_lost_doubled_and_half_written_writes() {
    use sqlx::Connection;
    let _serial = common::exclusive().await;
    let test = "checks";
    let (db, url) = Db::fresh(false).await;
    let key = create_key(&url, TENANT, "loader");
    let server = ServerProcess::start(&url, &[]);
    let load = Load::start(&server.addr, &key, WORKERS, 150);
    let started = Instant::now();
    while load.acks() < 150 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut record = load.join().await;
    let clean = verify(&server.addr, &key, &url, &mut record, &BTreeSet::new()).await;
    assert_sound(test, &clean);

    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let exec = |sql: &'static str| sqlx::query(sql);
    // Doubled: the first event again, at the end of the feed.
    exec(
        "INSERT INTO case_events (tenant_id, seq, case_id, kind, actor_kind, actor_id, \
         from_state, to_state, detail, occurred_at) \
         SELECT tenant_id, (SELECT MAX(seq) FROM case_events) + 1, case_id, kind, actor_kind, \
         actor_id, from_state, to_state, detail, occurred_at FROM case_events WHERE seq = 1",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    exec("UPDATE tenant_event_counters SET last_seq = (SELECT MAX(seq) FROM case_events)")
        .execute(&mut conn)
        .await
        .unwrap();
    // Lost: the newest merchant action's event, now inside the feed (the case row keeps its
    // version: the record of the action is what is gone).
    exec(
        "DELETE FROM case_events WHERE seq = (SELECT MAX(seq) FROM case_events \
         WHERE actor_kind = 'merchant' AND kind NOT IN ('case_created', 'platform_updated'))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // Half-written: one deadline row no longer mirrors its case.
    exec(
        "UPDATE deadlines SET due_at = due_at + 1 WHERE rowid = (SELECT MIN(rowid) FROM deadlines)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let tampered = verify(&server.addr, &key, &url, &mut record, &BTreeSet::new()).await;
    print_figures(test, &tampered, "");
    drop(server);
    assert!(
        tampered.lost >= 1,
        "the deleted event was not seen as lost: {tampered:?}"
    );
    assert!(
        tampered.duplicates >= 1,
        "the doubled event was not seen: {tampered:?}"
    );
    let seen = |what: &str| tampered.inconsistencies.iter().any(|i| i.contains(what));
    assert!(
        seen("event feed gap"),
        "the gap in the feed was not seen: {tampered:?}"
    );
    assert!(
        seen("do not mirror"),
        "the deadline row out of step was not seen: {tampered:?}"
    );
    db.drop_now().await;
}
