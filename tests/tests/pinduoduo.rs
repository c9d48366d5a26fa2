//! Pinduoduo end to end through the gRPC API, on SQLite and on PostgreSQL: detail records with
//! the platform's own deadline (PD-04), working-day refund processing (PD-03) and the cap on
//! requests per order (PD-07). Mapping tables are unit-tested in crates/platforms/src/pinduoduo.

use aftersales_tests::{
    authed, create, detail, events_of, manual_case, on_both_backends, pb, reason, test_epoch,
    time_of, Backend, Client, TestServer,
};
use chrono::{DateTime, Duration, Utc};
use tonic::Code;

const TENANT: &str = "acme";
const SHOP: &str = "pdd-store";

/// A `pdd.refund.information.get` answer in its envelope: integer fen amounts, millisecond
/// times (platform-apis.md §2.4).
fn detail_record(
    id: u64,
    status: u32,
    opened: DateTime<Utc>,
    expire: Option<DateTime<Utc>>,
) -> String {
    serde_json::json!({
        "refund_information_get_response": {
            "id": id,
            "order_sn": format!("241121-{id}"),
            "after_sales_status": status,
            // Detail encoding: 1 = 仅退款.
            "after_sales_type": 1,
            "after_sales_reason": "未收到货",
            "refund_amount": 1990,
            "order_amount": 2990,
            "shipping_status": 0,
            "recreated_at": opened.timestamp_millis(),
            "updated_time": opened.timestamp().to_string(),
            "expire_time": expire.map(|t| t.timestamp_millis()),
        }
    })
    .to_string()
}

async fn ingest(client: &mut Client, key: &str, json: String) -> pb::Case {
    client
        .ingest_platform_case(authed(
            key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "pinduoduo".into(),
                native_record_json: json,
                request_id: String::new(),
            },
        ))
        .await
        .expect("ingest")
        .into_inner()
        .case
        .expect("case")
}

fn active<'a>(case: &'a pb::Case, rule: &str) -> &'a pb::Deadline {
    case.deadlines
        .iter()
        .find(|d| d.rule_id == rule && d.state == pb::DeadlineState::Active as i32)
        .unwrap_or_else(|| panic!("no active {rule} deadline"))
}

/// PD-04: 48 hours to handle a request, but the record's own expire_time is the deadline; the
/// difference is recorded, and when it passes the (assumed) consequence applies.
async fn pd_04_expire_time_is_the_merchant_deadline(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let expire = test_epoch() + Duration::hours(40);
    let case = ingest(
        &mut client,
        &key,
        detail_record(9001, 2, test_epoch(), Some(expire)),
    )
    .await;
    assert_eq!(case.kind, pb::CaseKind::RefundOnly as i32);
    assert_eq!(case.state, pb::CaseState::AwaitingMerchant as i32);
    assert_eq!(
        (case.requested_refund_fen, case.order_total_fen),
        (1990, 2990)
    );
    let pd04 = active(&case, "PD-04");
    assert_eq!(time_of(&pd04.due_time), expire);
    assert_eq!(pd04.source, pb::DeadlineSource::Platform as i32);
    assert_eq!(
        time_of(&pd04.computed_due_time),
        test_epoch() + Duration::hours(48)
    );
    let events = events_of(&mut client, &key, &case.name).await;
    let mismatch = events
        .iter()
        .find(|e| e.r#type == "deadline_mismatch")
        .unwrap();
    assert_eq!(detail(mismatch)["difference_seconds"], -8 * 3600);

    server.clock.set(expire);
    assert_eq!(server.sweep().await.expired, 1);
    let after = aftersales_tests::get(&mut client, &key, &case.name).await;
    assert_eq!(after.state, pb::CaseState::Refunded as i32);
    server.stop().await;
}

/// PD-03: refunds are processed within 3 working days: from Wednesday 2026-09-30 15:00 the
/// National Day holiday (10-01…10-07) does not count and the make-up Saturday 10-10 does.
async fn pd_03_refund_processing_counts_chinese_working_days(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let opened = DateTime::parse_from_rfc3339("2026-09-30T15:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    // 4 = the merchant agreed, the refund is being processed.
    let case = ingest(&mut client, &key, detail_record(9002, 4, opened, None)).await;
    assert_eq!(case.state, pb::CaseState::AwaitingMerchantExecution as i32);
    let pd03 = active(&case, "PD-03");
    let due = DateTime::parse_from_rfc3339("2026-10-10T15:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(time_of(&pd03.due_time), due);
    assert_eq!(pd03.consequence, "auto_refund");
    server.stop().await;
}

/// PD-07: at most three return-and-refund or exchange requests per order; the fourth is
/// refused naming the rule. Refund-only requests do not count.
async fn pd_07_a_fourth_return_or_exchange_on_an_order_is_refused(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let pdd = |kind: pb::CaseKind, order: &str| {
        let mut c = manual_case(kind, order);
        c.platform = "pinduoduo".into();
        c.shop = SHOP.into();
        c
    };
    for kind in [
        pb::CaseKind::ReturnAndRefund,
        pb::CaseKind::Exchange,
        pb::CaseKind::ReturnAndRefund,
        pb::CaseKind::RefundOnly,
    ] {
        create(&mut client, &key, pdd(kind, "pdd-o-1")).await;
    }
    let err = client
        .create_case(authed(
            &key,
            pb::CreateCaseRequest {
                case: Some(pdd(pb::CaseKind::Exchange, "pdd-o-1")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "AFTER_SALES_ENTRY_CLOSED");
    assert!(err.message().contains("PD-07"), "{}", err.message());
    create(
        &mut client,
        &key,
        pdd(pb::CaseKind::ReturnAndRefund, "pdd-o-2"),
    )
    .await;
    server.stop().await;
}

on_both_backends!(
    pd_04_expire_time_is_the_merchant_deadline,
    pd_03_refund_processing_counts_chinese_working_days,
    pd_07_a_fourth_return_or_exchange_on_an_order_is_refused,
);
