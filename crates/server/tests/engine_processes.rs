//! The deadline engine as real `aftersales` processes on the wall clock: deadlines that fell
//! due while no server ran fire once after start, a SIGKILLed server loses nothing, and three
//! replicas on one PostgreSQL database fire every deadline exactly once.
//!
//! The deadlines are seeded already overdue (TB-04: an unshipped refund-only request is
//! refunded after 2 days; the cases were opened 3 days ago), so nothing waits for a deadline:
//! the tests wait only for the processes to do the work.

use aftersales_domain::event::Actor;
use aftersales_domain::{Case, CaseId, PlatformCode, TenantId};
use aftersales_platforms::AdapterRegistry;
use aftersales_store::{CaseWrite, Store, StoredEvent, WriteMode};
use chrono::{Duration as ChronoDuration, Utc};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{Db, TENANT};

/// `n` unshipped refund-only Taobao cases opened three days ago: each has one TB-04 deadline,
/// overdue by a day, whose consequence (auto-refund) ends the case, so each fires exactly once.
async fn seed(store: &Arc<dyn Store>, n: usize) -> BTreeSet<CaseId> {
    let policies = AdapterRegistry::builtin().load_policies().unwrap();
    let taobao = PlatformCode::parse("taobao").unwrap();
    let opened = Utc::now() - ChronoDuration::days(3);
    let policy = policies.in_force(&taobao, opened).unwrap().clone();
    let tenant = TenantId::parse(TENANT).unwrap();
    let writes = (0..n).map(|i| {
        let draft = common::unshipped_taobao_refund(&format!("shop-{}", i % 7), &format!("o-{i}"));
        let id = CaseId::parse(uuid::Uuid::now_v7().to_string()).unwrap();
        let change = Case::open(
            id,
            tenant.clone(),
            draft,
            &policy,
            Actor::merchant("seed"),
            opened,
            &[],
        )
        .unwrap();
        let store = store.clone();
        async move {
            let id = change.case.id.clone();
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
            id
        }
    });
    futures::stream::iter(writes)
        .buffer_unordered(16)
        .collect()
        .await
}

async fn expiry_events(store: &Arc<dyn Store>) -> Vec<StoredEvent> {
    let tenant = TenantId::parse(TENANT).unwrap();
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .tenant_events(&tenant, &[], after, 5000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page.into_iter().filter(|e| e.kind == "deadline_expired"));
    }
    out
}

fn start_server(url: &str, batch: u32) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AFTERSALES_DATABASE_URL", url)
        .env("AFTERSALES_SWEEP_BATCH", batch.to_string())
        .env("AFTERSALES_SWEEP_INTERVAL_MS", "50")
        // Short, so a killed process's claims are rescued within the test.
        .env("AFTERSALES_TIMER_LEASE_SECONDS", "2")
        .env("AFTERSALES_PG_MAX_CONNECTIONS", "10")
        .env("AFTERSALES_LOG_FORMAT", "text")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aftersales");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("stdout");
    assert!(first.starts_with("listening on "), "{first}");
    child
}

fn kill9(child: &mut Child) {
    let _ = child.kill(); // SIGKILL on Unix: no drain, no cleanup.
    let _ = child.wait();
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Wait until `want` expiries are stored or `limit` passes; returns the events.
async fn wait_for_expiries(
    store: &Arc<dyn Store>,
    want: usize,
    limit: Duration,
) -> Vec<StoredEvent> {
    let until = Instant::now() + limit;
    loop {
        let events = expiry_events(store).await;
        if events.len() >= want || Instant::now() > until {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Exactly one expiry per seeded case: none missing, none twice, none for another case.
fn assert_exactly_once(events: &[StoredEvent], seeded: &BTreeSet<CaseId>) {
    let mut per_case: BTreeMap<&CaseId, usize> = BTreeMap::new();
    for e in events {
        *per_case.entry(&e.case_id).or_default() += 1;
    }
    let twice: Vec<_> = per_case.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "fired more than once: {twice:?}");
    let fired: BTreeSet<CaseId> = per_case.keys().map(|c| (*c).clone()).collect();
    let missing: Vec<_> = seeded.difference(&fired).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} never fired, e.g. {missing:?}",
        seeded.len() - fired.len().min(seeded.len())
    );
    assert_eq!(fired.len(), seeded.len());
    assert_eq!(events.len(), seeded.len());
}

/// Deadlines that fell due while no server ran fire after start, once, and say how late; a
/// server SIGKILLed in the middle of the work loses nothing and repeats nothing after restart.
async fn restart_after_sigkill_fires_each_deadline_once(postgres: bool) {
    let (db, url) = Db::fresh(postgres).await;
    let store = aftersales_store::connect(&url, 4).await.unwrap();
    let seeded = seed(&store, 1000).await;

    let mut first = start_server(&url, 20);
    let before_kill = wait_for_expiries(&store, 1, Duration::from_secs(60)).await;
    kill9(&mut first);
    let at_kill = expiry_events(&store).await.len();
    assert!(!before_kill.is_empty(), "the first server fired nothing");
    assert!(
        at_kill < seeded.len(),
        "the kill should land mid-work ({at_kill} of {} already fired)",
        seeded.len()
    );

    let mut second = start_server(&url, 20);
    let events = wait_for_expiries(&store, seeded.len(), Duration::from_secs(120)).await;
    // A moment longer: anything fired twice would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = if events.len() == seeded.len() {
        expiry_events(&store).await
    } else {
        events
    };
    stop(&mut second);
    assert_exactly_once(&events, &seeded);
    for e in &events {
        let late = e.detail["late_by_ms"].as_i64().unwrap();
        assert!(
            late >= ChronoDuration::days(1).num_milliseconds(),
            "late but not lost, and the event says how late: {late}"
        );
        assert_eq!(e.detail["rule"], "TB-04");
    }
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_sigkill_sqlite() {
    restart_after_sigkill_fires_each_deadline_once(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_sigkill_postgres() {
    restart_after_sigkill_fires_each_deadline_once(true).await
}

/// Three replicas on one PostgreSQL database, 10,000 deadlines due at once: exactly 10,000
/// expiries, each case once, shared between the replicas; one replica is SIGKILLed halfway
/// and its claims are rescued by the others when its lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_fire_ten_thousand_deadlines_exactly_once() {
    let (db, url) = Db::fresh(true).await;
    let store = aftersales_store::connect(&url, 8).await.unwrap();
    let seeded = seed(&store, 10_000).await;

    let mut replicas: Vec<Child> = (0..3).map(|_| start_server(&url, 100)).collect();
    wait_for_expiries(&store, 3000, Duration::from_secs(120)).await;
    kill9(&mut replicas[0]);
    let events = wait_for_expiries(&store, seeded.len(), Duration::from_secs(240)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = if events.len() == seeded.len() {
        expiry_events(&store).await
    } else {
        events
    };
    for r in &mut replicas[1..] {
        stop(r);
    }
    assert_exactly_once(&events, &seeded);
    let engines: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e.detail["engine"].as_str())
        .collect();
    assert!(
        engines.len() >= 2,
        "the replicas shared the work: {engines:?}"
    );
    db.drop_now().await;
}
