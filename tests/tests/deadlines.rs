//! The deadline engine end to end: deadlines computed from the Taobao policy, reminders and
//! expiries fired by the engine on a manual clock, consequences visible through the gRPC API.
//! Every test runs on SQLite and on PostgreSQL; nothing sleeps to wait for a deadline.

use aftersales_domain::access::Role;
use aftersales_domain::{Clock, Policy};
use aftersales_platforms::AdapterRegistry;
use aftersales_server::{DeadlineEngine, EngineOptions};
use aftersales_tests::{
    authed, create, detail, events_of, get, manual_case, next_event, on_both_backends, pb,
    test_epoch, time_of, ts, Backend, Client, TestServer,
};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

const TENANT: &str = "acme";

fn deadline<'a>(case: &'a pb::Case, rule: &str) -> &'a pb::Deadline {
    case.deadlines
        .iter()
        .rev()
        .find(|d| d.rule_id == rule)
        .unwrap_or_else(|| panic!("no {rule} deadline on {}", case.name))
}

/// `type:rule` of each timer event of a case, in order.
async fn timer_events(client: &mut Client, key: &str, name: &str) -> Vec<String> {
    events_of(client, key, name)
        .await
        .iter()
        .filter(|e| e.r#type.starts_with("deadline_"))
        .map(|e| format!("{}:{}", e.r#type, detail(e)["rule"].as_str().unwrap_or("")))
        .collect()
}

async fn act_agree(client: &mut Client, key: &str, name: &str) -> pb::Case {
    client
        .agree_case(authed(
            key,
            pb::AgreeCaseRequest {
                name: name.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("agree")
        .into_inner()
}

/// X-02 / TB-23 / TB-07: the reminder comes exactly at the policy's lead time, once; the
/// expiry applies TB-02's auto-agree and the return flow's clocks start at the due time.
async fn tb_07_x_02_reminder_then_auto_agree(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::ReturnAndRefund, "o-1"),
    )
    .await;
    let tb07 = deadline(&case, "TB-07");
    let due = time_of(&tb07.due_time);
    let remind = time_of(&tb07.remind_time);
    assert_eq!(due, test_epoch() + Duration::days(5));
    assert_eq!(remind, due - Duration::hours(24));

    assert_eq!(server.sweep().await.claimed, 0, "nothing due at the start");
    server.clock.set(remind - Duration::milliseconds(1));
    assert_eq!(server.sweep().await.reminded, 0, "not a millisecond early");
    server.clock.set(remind);
    let r = server.sweep().await;
    assert_eq!((r.reminded, r.expired), (1, 0));
    assert_eq!(server.sweep().await.claimed, 0, "a reminder goes out once");

    let reminded = get(&mut client, &key, &case.name).await;
    assert_eq!(reminded.state, pb::CaseState::AwaitingMerchant as i32);
    assert_eq!(
        time_of(&deadline(&reminded, "TB-07").remind_sent_time),
        remind
    );

    server.clock.set(due);
    assert_eq!(server.sweep().await.expired, 1);
    let after = get(&mut client, &key, &case.name).await;
    assert_eq!(after.state, pb::CaseState::AwaitingBuyer as i32);
    let fired = deadline(&after, "TB-07");
    assert_eq!(fired.state, pb::DeadlineState::Fired as i32);
    assert_eq!(time_of(&fired.close_time), due);
    let tb08 = deadline(&after, "TB-08");
    assert_eq!(tb08.state, pb::DeadlineState::Active as i32);
    assert_eq!(time_of(&tb08.start_time), due);
    assert_eq!(time_of(&tb08.due_time), due + Duration::days(7));

    let events = events_of(&mut client, &key, &case.name).await;
    let expired = events
        .iter()
        .find(|e| e.r#type == "deadline_expired")
        .expect("expiry event");
    assert_eq!(expired.actor_kind, pb::ActorKind::SystemTimer as i32);
    assert_eq!(expired.from_state, pb::CaseState::AwaitingMerchant as i32);
    assert_eq!(expired.to_state, pb::CaseState::AwaitingBuyer as i32);
    let d = detail(expired);
    assert_eq!(d["rule"], "TB-07");
    assert_eq!(d["consequence"], "auto_agree");
    assert_eq!(d["consequence_applied"], true);
    assert_eq!(d["late_by_ms"], 0);
    assert_eq!(
        timer_events(&mut client, &key, &case.name).await,
        ["deadline_reminder:TB-07", "deadline_expired:TB-07"]
    );
    server.stop().await;
}

/// Acting a second before the deadline marks it met; nothing fires afterwards.
async fn acting_before_the_deadline_cancels_the_consequence(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "o-1"),
    )
    .await;
    let due = time_of(&deadline(&case, "TB-07").due_time);
    server.clock.set(due - Duration::seconds(1));
    let agreed = act_agree(&mut client, &key, &case.name).await;
    assert_eq!(agreed.state, pb::CaseState::Refunded as i32);
    assert_eq!(
        deadline(&agreed, "TB-07").state,
        pb::DeadlineState::Met as i32
    );
    server.clock.set(due + Duration::days(30));
    let r = server.sweep().await;
    assert_eq!((r.claimed, r.expired), (0, 0));
    assert!(timer_events(&mut client, &key, &case.name)
        .await
        .iter()
        .all(|e| !e.starts_with("deadline_expired")));
    server.stop().await;
}

/// Drive the clock hour by hour, sweeping each time, until `until`.
async fn run_hourly(server: &TestServer, until: DateTime<Utc>) {
    while server.clock.now() < until {
        server.clock.advance(Duration::hours(1));
        server.sweep().await;
    }
}

/// Every Taobao consequence through the state machine, reminders before expiries, each
/// expiry within the sweep interval of its due time: TB-04 auto-refund, TB-21/TB-29 false-
/// shipment complaint, TB-08 lapse after agreeing a return, TB-10 auto-refund of a return the
/// merchant never confirmed.
async fn each_taobao_consequence_fires_in_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "ops", Role::Agent, true).await;
    let mut client = server.client().await;

    let mut unshipped = manual_case(pb::CaseKind::RefundOnly, "o-tb04");
    unshipped.fulfilment = pb::Fulfilment::NotShipped as i32;
    let tb04 = create(&mut client, &key, unshipped).await;
    let tb21 = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::SignedElsewhereTask, "o-tb21"),
    )
    .await;
    let tb08 = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::ReturnAndRefund, "o-tb08"),
    )
    .await;
    act_agree(&mut client, &key, &tb08.name).await;
    let tb10 = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::ReturnAndRefund, "o-tb10"),
    )
    .await;
    act_agree(&mut client, &key, &tb10.name).await;
    client
        .record_return_shipment(authed(
            &key,
            pb::RecordReturnShipmentRequest {
                name: tb10.name.clone(),
                shipment: Some(pb::Shipment {
                    carrier: "SF".into(),
                    tracking_number: "SF100".into(),
                    ship_time: None,
                }),
                ..Default::default()
            },
        ))
        .await
        .expect("record return");

    run_hourly(&server, test_epoch() + Duration::days(11)).await;

    let expect = [
        (
            &tb04,
            pb::CaseState::Refunded,
            vec!["deadline_reminder:TB-04", "deadline_expired:TB-04"],
        ),
        (
            &tb21,
            pb::CaseState::PlatformIntervening,
            // TB-23: a reminder when the task is created, and one before it times out.
            vec![
                "deadline_reminder:TB-23",
                "deadline_reminder:TB-21",
                "deadline_expired:TB-21",
            ],
        ),
        (
            &tb08,
            pb::CaseState::Expired,
            vec![
                "deadline_reminder:TB-05",
                "deadline_expired:TB-05",
                "deadline_reminder:TB-08",
                "deadline_expired:TB-08",
            ],
        ),
        (
            &tb10,
            pb::CaseState::Refunded,
            vec!["deadline_reminder:TB-10", "deadline_expired:TB-10"],
        ),
    ];
    for (case, state, timers) in expect {
        let now = get(&mut client, &key, &case.name).await;
        assert_eq!(now.state, state as i32, "{} ({:?})", case.name, timers);
        assert_eq!(timer_events(&mut client, &key, &case.name).await, timers);
        for e in events_of(&mut client, &key, &case.name).await {
            if e.r#type == "deadline_expired" {
                let late = detail(&e)["late_by_ms"].as_i64().unwrap();
                assert!(
                    (0..3_600_000).contains(&late),
                    "fired within the hour: {late}"
                );
            }
        }
    }
    let refunded = get(&mut client, &key, &tb04.name).await;
    assert_eq!(refunded.refunded_fen, 5000, "TB-04 refunds what was asked");
    server.stop().await;
}

/// ProjectCaseTimeline predicts exactly what the engine then does when nobody acts.
async fn projected_timeline_is_what_then_happens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "ops", Role::Viewer, false).await;
    let writer = server.key(TENANT, "ops", Role::Agent, false).await;
    let mut client = server.client().await;
    let case = create(
        &mut client,
        &writer,
        manual_case(pb::CaseKind::ReturnAndRefund, "o-1"),
    )
    .await;
    let projection = client
        .project_case_timeline(authed(
            &key,
            pb::ProjectCaseTimelineRequest {
                name: case.name.clone(),
                max_steps: 0,
            },
        ))
        .await
        .expect("project")
        .into_inner();
    let predicted: Vec<String> = projection
        .steps
        .iter()
        .map(|s| {
            let signal = if s.signal == pb::TimerSignal::Reminder as i32 {
                "deadline_reminder"
            } else {
                "deadline_expired"
            };
            format!("{signal}:{}", s.deadline.as_ref().unwrap().rule_id)
        })
        .collect();
    assert_eq!(
        predicted,
        [
            "deadline_reminder:TB-07",
            "deadline_expired:TB-07",
            "deadline_reminder:TB-05",
            "deadline_expired:TB-05",
            "deadline_reminder:TB-08",
            "deadline_expired:TB-08",
        ]
    );
    let last = projection.steps.last().unwrap();
    assert_eq!(last.to_state, pb::CaseState::Expired as i32);
    assert_eq!(
        time_of(&last.time),
        test_epoch() + Duration::days(5 + 7),
        "TB-08's 7 days run from the auto-agreement"
    );
    assert_eq!(
        get(&mut client, &key, &case.name).await.state,
        pb::CaseState::AwaitingMerchant as i32,
        "projecting changes nothing"
    );

    run_hourly(&server, test_epoch() + Duration::days(13)).await;
    assert_eq!(timer_events(&mut client, &key, &case.name).await, predicted);

    let missing = client
        .project_case_timeline(authed(
            &key,
            pb::ProjectCaseTimelineRequest {
                name: "cases/nope".into(),
                max_steps: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    server.stop().await;
}

async fn due_page(
    client: &mut Client,
    key: &str,
    filter: &str,
    page_size: i32,
    page_token: String,
) -> pb::ListDueDeadlinesResponse {
    client
        .list_due_deadlines(authed(
            key,
            pb::ListDueDeadlinesRequest {
                page_size,
                page_token,
                filter: filter.into(),
            },
        ))
        .await
        .expect("list due deadlines")
        .into_inner()
}

/// ListDueDeadlines is the work queue across shops, earliest first, paged; ListCases and
/// ListDueDeadlines both answer "overdue" and "due before T".
async fn work_queue_and_overdue_filters(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "ops", Role::Agent, false).await;
    let other = server.key("other-tenant", "ops", Role::Agent, false).await;
    let mut client = server.client().await;
    let mut names = Vec::new();
    for (i, shop) in ["shop-a", "shop-b", "shop-a", "shop-b", "shop-a"]
        .into_iter()
        .enumerate()
    {
        // Opened an hour apart, so due an hour apart (TB-07, 5 days).
        server.clock.set(test_epoch() + Duration::hours(i as i64));
        let mut c = manual_case(pb::CaseKind::RefundOnly, &format!("o-{i}"));
        c.shop = shop.into();
        names.push(create(&mut client, &key, c).await.name);
    }
    create(
        &mut client,
        &other,
        manual_case(pb::CaseKind::RefundOnly, "o-x"),
    )
    .await;

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = due_page(&mut client, &key, "", 2, token).await;
        assert!(page.due_deadlines.len() <= 2);
        seen.extend(page.due_deadlines.iter().map(|d| d.case.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, names, "every tenant deadline once, earliest first");

    let shop_a = due_page(&mut client, &key, r#"shop = "shop-a""#, 10, String::new()).await;
    let shop_a: Vec<_> = shop_a
        .due_deadlines
        .iter()
        .map(|d| d.case.clone())
        .collect();
    assert_eq!(
        shop_a,
        [names[0].clone(), names[2].clone(), names[4].clone()]
    );
    let first = due_page(&mut client, &key, "", 1, String::new()).await;
    let d = &first.due_deadlines[0];
    assert_eq!((d.shop.as_str(), d.platform.as_str()), ("shop-a", "taobao"));
    assert_eq!(d.deadline.as_ref().unwrap().rule_id, "TB-07");
    assert!(
        due_page(&mut client, &key, "due_party = BUYER", 10, String::new())
            .await
            .due_deadlines
            .is_empty()
    );
    let before = format!(
        r#"due_time < "{}""#,
        (test_epoch() + Duration::days(5) + Duration::hours(2)).to_rfc3339()
    );
    assert_eq!(
        due_page(&mut client, &key, &before, 10, String::new())
            .await
            .due_deadlines
            .len(),
        2
    );

    // Past the first two due times, before any sweep: they are overdue.
    server
        .clock
        .set(test_epoch() + Duration::days(5) + Duration::minutes(90));
    let overdue = due_page(&mut client, &key, "overdue = true", 10, String::new()).await;
    assert_eq!(overdue.due_deadlines.len(), 2);
    let cases = client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                filter: "overdue = true".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .cases;
    let mut overdue_cases: Vec<_> = cases.iter().map(|c| c.name.clone()).collect();
    overdue_cases.sort();
    let mut expected = names[..2].to_vec();
    expected.sort();
    assert_eq!(overdue_cases, expected);

    // The engine catches up: nothing is overdue any more and the queue shrank.
    assert_eq!(server.sweep().await.expired, 2);
    assert!(
        due_page(&mut client, &key, "overdue = true", 10, String::new())
            .await
            .due_deadlines
            .is_empty()
    );
    assert_eq!(
        due_page(&mut client, &key, "", 10, String::new())
            .await
            .due_deadlines
            .len(),
        3
    );

    let bad = client
        .list_due_deadlines(authed(
            &key,
            pb::ListDueDeadlinesRequest {
                filter: "due_party = SELLER".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    server.stop().await;
}

/// The engine loop the binary runs: a timer event reaches a WatchCaseEvents stream without
/// the test driving the sweep.
async fn background_engine_streams_timer_events(backend: Backend) {
    let server = TestServer::start_with(backend, true).await;
    let key = server.key(TENANT, "ops", Role::Agent, false).await;
    let mut client = server.client().await;
    let mut stream = client
        .watch_case_events(authed(
            &key,
            pb::WatchCaseEventsRequest { after_sequence: 0 },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut unshipped = manual_case(pb::CaseKind::RefundOnly, "o-1");
    unshipped.fulfilment = pb::Fulfilment::NotShipped as i32;
    let case = create(&mut client, &key, unshipped).await;
    assert_eq!(next_event(&mut stream).await.r#type, "case_created");
    server.clock.advance(Duration::days(3));
    let fired = next_event(&mut stream).await;
    assert_eq!(fired.r#type, "deadline_expired");
    assert_eq!(fired.case, case.name);
    assert_eq!(detail(&fired)["rule"], "TB-04");
    assert_eq!(
        detail(&fired)["late_by_ms"],
        Duration::days(1).num_milliseconds(),
        "TB-04 was due after 2 days; the clock jumped to 3"
    );
    assert_eq!(
        get(&mut client, &key, &case.name).await.state,
        pb::CaseState::Refunded as i32
    );
    server.stop().await;
}

/// A case keeps the policy version it opened under: a later version with a shorter period
/// does not rewrite its running deadline, and the engine fires by the case's own version.
/// GetPolicy shows either version.
async fn policy_change_never_rewrites_running_deadlines(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "o-1"),
    )
    .await;
    assert_eq!(case.policy_version, "taobao-2024-01-01");

    // The same platform's next version, in force from a day later, with TB-07 cut to 1 day.
    let mut registry = AdapterRegistry::builtin().load_policies().unwrap();
    let current = registry
        .version(
            &aftersales_domain::PlatformCode::parse("taobao").unwrap(),
            "taobao-2024-01-01",
        )
        .unwrap()
        .clone();
    let mut next: Policy = current.clone();
    next.version = "taobao-2026-11-22".into();
    next.effective_from = test_epoch() + Duration::days(1);
    for rule in &mut next.deadlines {
        if rule.rule == "TB-07" {
            rule.due_after = aftersales_domain::policy::DueAfter::parse("1d").unwrap();
            rule.remind_before = None;
        }
    }
    registry.add(next).unwrap();
    let engine = DeadlineEngine::new(
        server.store.clone(),
        Arc::new(server.clock.clone()),
        Arc::new(registry),
        EngineOptions::default(),
        None,
    );
    server.clock.set(test_epoch() + Duration::days(3));
    let r = engine.sweep_until_idle().await.unwrap();
    assert_eq!(
        (r.expired, r.reminded),
        (0, 0),
        "still the 5 days of its own version"
    );
    server.clock.set(test_epoch() + Duration::days(5));
    assert_eq!(engine.sweep_until_idle().await.unwrap().expired, 1);
    assert_eq!(
        get(&mut client, &key, &case.name).await.state,
        pb::CaseState::Refunded as i32
    );

    let policy = client
        .get_policy(authed(
            &key,
            pb::GetPolicyRequest {
                name: "platforms/taobao/policies/taobao-2024-01-01".into(),
                effective_time: Some(ts(test_epoch())),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.version, "taobao-2024-01-01");
    server.stop().await;
}

on_both_backends!(
    tb_07_x_02_reminder_then_auto_agree,
    acting_before_the_deadline_cancels_the_consequence,
    each_taobao_consequence_fires_in_order,
    projected_timeline_is_what_then_happens,
    work_queue_and_overdue_filters,
    background_engine_streams_timer_events,
    policy_change_never_rewrites_running_deadlines,
);
