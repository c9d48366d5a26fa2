//! Taobao / Tmall end to end through the gRPC API, on SQLite and on PostgreSQL: the request
//! rules (TB-01, TB-03, CM-03, TB-06, TB-11), the other native payloads (Tmall disputes, TMC
//! messages) and the whole signed-elsewhere task (TB-20 … TB-31), with deadlines fired by the
//! engine on a manual clock.

use aftersales_domain::access::Role;
use aftersales_tests::{
    authed, create, detail, events_of, get, ingest, manual_case, next_event, on_both_backends, pb,
    reason, test_epoch, time_of, ts, violated_fields, Backend, Client, TaobaoRefund, TestServer,
    SHOP,
};
use chrono::Duration;
use tonic::Code;

const TENANT: &str = "acme";

async fn try_create(
    client: &mut Client,
    key: &str,
    case: pb::Case,
) -> Result<pb::Case, tonic::Status> {
    client
        .create_case(authed(
            key,
            pb::CreateCaseRequest {
                case: Some(case),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn ingest_json(
    client: &mut Client,
    key: &str,
    json: &str,
) -> Result<pb::IngestPlatformCaseResponse, tonic::Status> {
    client
        .ingest_platform_case(authed(
            key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "taobao".into(),
                native_record_json: json.into(),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn task_of(case: &pb::Case) -> &pb::SignedElsewhereTask {
    case.signed_elsewhere_task
        .as_ref()
        .expect("a task case carries its task")
}

fn state(case: &pb::Case) -> pb::CaseState {
    pb::CaseState::try_from(case.state).unwrap()
}

fn task_state(case: &pb::Case) -> pb::SignedElsewhereTaskState {
    pb::SignedElsewhereTaskState::try_from(task_of(case).task_state).unwrap()
}

fn active<'a>(case: &'a pb::Case, rule: &str) -> &'a pb::Deadline {
    case.deadlines
        .iter()
        .find(|d| d.rule_id == rule && d.state == pb::DeadlineState::Active as i32)
        .unwrap_or_else(|| panic!("no active {rule} deadline on {}", case.name))
}

type Reply = pb::reply_signed_elsewhere_task_request::Reply;

async fn reply(
    client: &mut Client,
    key: &str,
    name: &str,
    r: Reply,
) -> Result<pb::Case, tonic::Status> {
    client
        .reply_signed_elsewhere_task(authed(
            key,
            pb::ReplySignedElsewhereTaskRequest {
                name: name.into(),
                reply: Some(r),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn refund(client: &mut Client, key: &str, name: &str) -> Result<pb::Case, tonic::Status> {
    client
        .refund_case(authed(
            key,
            pb::RefundCaseRequest {
                name: name.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn shipment(carrier: &str, number: &str) -> pb::Shipment {
    pb::Shipment {
        carrier: carrier.into(),
        tracking_number: number.into(),
        ship_time: None,
    }
}

/// A signed-elsewhere task as an integration reads it from the seller centre (the payload
/// this service defines, see crates/platforms/src/taobao/task.rs), created at the test epoch.
fn task_json(
    task_id: &str,
    oid: &str,
    status: &str,
    modified: &str,
    buyer_complained: bool,
) -> String {
    serde_json::json!({
        "platform_task": {
            "task_id": task_id,
            "task_type": "异地签收",
            "tid": "4012345678901",
            "oid": oid,
            "status": status,
            // The test epoch, 2026-11-21T02:00Z, in Beijing time.
            "created": "2026-11-21 10:00:00",
            "modified": modified,
            "receiver_address": "浙江省杭州市余杭区良渚街道金色家园3幢2单元",
            "sign_location": "【杭州市】萧山区北干街道菜鸟驿站已签收",
            "buyer_nick": "tb_buyer_07",
            "refund_fee": "59.00",
            "false_shipment_complaint_filed": buyer_complained,
        }
    })
    .to_string()
}

async fn task_server(backend: Backend) -> (TestServer, String, Client) {
    let server = TestServer::start(backend).await;
    // TB-22: replying needs the platform-task permission.
    let key = server.key(TENANT, "cs-lead", Role::Agent, true).await;
    let client = server.client().await;
    (server, key, client)
}

async fn new_task(client: &mut Client, key: &str, task_id: &str, oid: &str) -> pb::Case {
    ingest_json(
        client,
        key,
        &task_json(task_id, oid, "等待卖家回复", "2026-11-21 10:00:00", false),
    )
    .await
    .expect("ingest task")
    .case
    .expect("case")
}

// ---- Requests: TB-01, TB-03, CM-03 -----------------------------------------------------------

/// TB-01: within 15 days of trade success a request opens; after, it is refused naming the rule.
async fn tb_01_request_after_the_15_day_window_is_refused(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut inside = manual_case(pb::CaseKind::ReturnAndRefund, "o-window-1");
    inside.trade_success_time = Some(ts(test_epoch() - Duration::days(15) + Duration::minutes(1)));
    let ok = create(&mut client, &key, inside).await;
    assert_eq!(
        ok.order_state,
        pb::OrderState::TradeSuccess as i32,
        "derived from trade_success_time"
    );

    let mut late = manual_case(pb::CaseKind::ReturnAndRefund, "o-window-2");
    late.trade_success_time = Some(ts(test_epoch() - Duration::days(15) - Duration::minutes(1)));
    let err = try_create(&mut client, &key, late).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "OUTSIDE_AFTER_SALES_WINDOW");
    assert!(err.message().contains("TB-01"), "{}", err.message());
    server.stop().await;
}

/// TB-03: once a request on an order line succeeded, failed or was withdrawn, no new one.
async fn tb_03_second_request_on_the_same_order_line_is_refused(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut first = manual_case(pb::CaseKind::RefundOnly, "o-line");
    first.sub_order_id = "o-line-1".into();
    let first = create(&mut client, &key, first).await;
    client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: first.name.clone(),
                reason: "buyer withdrew".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("close");

    let mut again = manual_case(pb::CaseKind::ReturnAndRefund, "o-line");
    again.sub_order_id = "o-line-1".into();
    let err = try_create(&mut client, &key, again).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "ORDER_LINE_ALREADY_USED");
    assert!(
        err.message().contains("TB-03") && err.message().contains(&first.name),
        "{}",
        err.message()
    );

    // Another line of the same order is its own entry.
    let mut other_line = manual_case(pb::CaseKind::ReturnAndRefund, "o-line");
    other_line.sub_order_id = "o-line-2".into();
    create(&mut client, &key, other_line).await;
    server.stop().await;
}

/// CM-03: awaiting payment allows only cancel; awaiting shipment only refund; after shipment
/// the return kinds open.
async fn cm_03_kind_must_fit_the_order_state(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let with = |kind, order: &str, order_state: pb::OrderState| {
        let mut c = manual_case(kind, order);
        c.order_state = order_state as i32;
        c
    };
    let err = try_create(
        &mut client,
        &key,
        with(
            pb::CaseKind::ReturnAndRefund,
            "o-cm-1",
            pb::OrderState::AwaitingShipment,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "KIND_NOT_ALLOWED_FOR_ORDER_STATE")
    );
    assert!(err.message().contains("CM-03"));
    let err = try_create(
        &mut client,
        &key,
        with(
            pb::CaseKind::RefundOnly,
            "o-cm-2",
            pb::OrderState::AwaitingPayment,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err), "KIND_NOT_ALLOWED_FOR_ORDER_STATE");
    create(
        &mut client,
        &key,
        with(
            pb::CaseKind::CancelOrder,
            "o-cm-3",
            pb::OrderState::AwaitingPayment,
        ),
    )
    .await;
    create(
        &mut client,
        &key,
        with(
            pb::CaseKind::RefundOnly,
            "o-cm-4",
            pb::OrderState::AwaitingShipment,
        ),
    )
    .await;
    create(
        &mut client,
        &key,
        with(
            pb::CaseKind::Exchange,
            "o-cm-5",
            pb::OrderState::AwaitingReceipt,
        ),
    )
    .await;
    server.stop().await;
}

// ---- TB-06 refused delivery, TB-11 express refund ----------------------------------------

/// TB-06: shipped, not signed for; the buyer refuses delivery. Agreeing waits for the parcel
/// to come back (with a receipt clock); confirming its arrival refunds.
async fn tb_06_refused_delivery_refunds_once_the_parcel_is_back(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut c = manual_case(pb::CaseKind::RefundOnly, "o-refused");
    c.fulfilment = pb::Fulfilment::ShippedNotReceived as i32;
    let case = create(&mut client, &key, c).await;
    let agreed = client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("agree")
        .into_inner();
    assert_eq!(state(&agreed), pb::CaseState::ReturnInTransit);
    assert_eq!(agreed.refunded_fen, 0, "no money before the parcel is back");
    let clock = active(&agreed, "TB-06");
    assert_eq!(time_of(&clock.due_time), test_epoch() + Duration::days(10));
    assert!(clock.assumed, "TB-06 gives no period: assumed and said so");

    let back = client
        .confirm_return_received(authed(
            &key,
            pb::ConfirmReturnReceivedRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("confirm")
        .into_inner();
    assert_eq!(state(&back), pb::CaseState::Refunded);
    assert_eq!(back.refunded_fen, case.requested_refund_fen);
    server.stop().await;
}

/// TB-11: the platform advanced the refund (先行垫付 paid); the case stays open until the goods
/// reach the merchant, and the merchant's refund repays the platform.
async fn tb_11_express_refund_keeps_the_case_open_until_the_goods_arrive(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut r = TaobaoRefund::signed_return("7001");
    r.status = "WAIT_SELLER_CONFIRM_GOODS";
    let mut json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    json["refund_get_response"]["refund"]["advance_status"] = serde_json::json!(2);
    json["refund_get_response"]["refund"]["sid"] = serde_json::json!("YT123456789");
    json["refund_get_response"]["refund"]["company_name"] = serde_json::json!("圆通速递");
    let case = ingest_json(&mut client, &key, &json.to_string())
        .await
        .expect("ingest")
        .case
        .unwrap();
    assert_eq!(
        state(&case),
        pb::CaseState::ReturnInTransit,
        "still open: the goods are on their way"
    );
    assert_eq!(case.platform_advance_fen, 20007);
    assert_eq!(case.refunded_fen, 0, "the merchant has not refunded yet");

    client
        .confirm_return_received(authed(
            &key,
            pb::ConfirmReturnReceivedRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("confirm");
    let done = refund(&mut client, &key, &case.name).await.expect("refund");
    assert_eq!(state(&done), pb::CaseState::Refunded);
    let events = events_of(&mut client, &key, &case.name).await;
    let refunded = events
        .iter()
        .find(|e| e.r#type == "merchant_refunded")
        .unwrap();
    assert_eq!(detail(refunded)["platform_advance_recovered_fen"], 20007);
    assert_eq!(detail(refunded)["rule"], "TB-11");
    server.stop().await;
}

// ---- Other native payloads -----------------------------------------------------------------

/// TMC messages carry no status: a known case is marked for a fresh fetch and the message is
/// recorded; an unknown one asks for the fetch; the fetched record clears the mark.
async fn tmc_message_marks_the_case_for_a_fresh_fetch(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut r = TaobaoRefund::signed_return("7101");
    let case = ingest(&mut client, &key, &r).await.unwrap().case.unwrap();
    let message = |refund_id: &str| {
        serde_json::json!({
            "topic": "taobao_refund_RefundSellerAgreeAgreement",
            "content": serde_json::json!({
                "refund_id": refund_id, "tid": "tid-7101", "oid": "tid-7101-1",
                "refund_fee": "200.07", "refund_phase": "aftersale", "bill_type": "return_bill",
                "modified": "2026-11-21 10:05:00",
            }).to_string(),
        })
        .to_string()
    };
    let noticed = ingest_json(&mut client, &key, &message("7101"))
        .await
        .expect("notice");
    assert_eq!(noticed.outcome, pb::IngestOutcome::RefreshRequested as i32);
    let marked = noticed.case.unwrap();
    assert!(marked.needs_refresh);
    assert_eq!(
        marked.refresh_topic,
        "taobao_refund_RefundSellerAgreeAgreement"
    );
    assert_eq!(
        marked.state, case.state,
        "a message without status moves nothing"
    );
    let listed = client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                filter: "needs_refresh = true".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed
            .cases
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec![case.name.as_str()]
    );
    let events = events_of(&mut client, &key, &case.name).await;
    let notice = events
        .iter()
        .find(|e| e.r#type == "platform_notice")
        .expect("recorded (X-01)");
    assert_eq!(
        detail(notice)["topic"],
        "taobao_refund_RefundSellerAgreeAgreement"
    );

    let unknown = ingest_json(&mut client, &key, &message("7199"))
        .await
        .expect("notice");
    assert_eq!(unknown.outcome, pb::IngestOutcome::FetchRequired as i32);
    assert!(unknown.case.is_none());
    assert_eq!(unknown.platform_case_id, "7199");

    r.status = "WAIT_BUYER_RETURN_GOODS";
    r.version_ms += 60_000;
    let fetched = ingest(&mut client, &key, &r).await.unwrap().case.unwrap();
    assert!(!fetched.needs_refresh);
    assert_eq!(state(&fetched), pb::CaseState::AwaitingBuyer);
    server.stop().await;
}

/// Tmall disputes: numeric status read by kind (exchange 12 = waiting to ship the exchange
/// item), and the dispute's own time_out is the deadline.
async fn tmall_exchange_dispute_is_ingested_with_its_own_deadline(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let json = include_str!("../../crates/platforms/tests/fixtures/taobao/tmall_dispute_receive_get_response_exchange.json");
    let case = ingest_json(&mut client, &key, json)
        .await
        .expect("ingest")
        .case
        .unwrap();
    assert_eq!(case.kind, pb::CaseKind::Exchange as i32);
    assert_eq!(state(&case), pb::CaseState::AwaitingMerchantExecution);
    assert_eq!(case.platform_status.as_ref().unwrap().code, "exchange:12");
    assert_eq!(
        case.reship_shipment.as_ref().unwrap().tracking_number,
        "SF1402345678901"
    );
    server.stop().await;
}

// ---- Signed-elsewhere task -----------------------------------------------------------------

/// TB-20: the three examples of the rule through CheckSignedElsewhere, with the divisions.
async fn tb_20_check_signed_elsewhere_answers_with_the_divisions(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let check = |delivery: &'static str, signing: &'static str| {
        let mut client = client.clone();
        let key = key.clone();
        async move {
            client
                .check_signed_elsewhere(authed(
                    &key,
                    pb::CheckSignedElsewhereRequest {
                        delivery_address: delivery.into(),
                        signing_location: signing.into(),
                    },
                ))
                .await
                .expect("check")
                .into_inner()
        }
    };
    let a = check("北京市朝阳区建国路88号", "海南省海口市龙华区").await;
    assert_eq!(a.verdict, pb::SigningVerdict::SignedElsewhere as i32);
    assert_eq!(a.reason, "different_province");
    let b = check("浙江省杭州市余杭区良渚街道", "杭州市萧山区北干街道").await;
    assert_eq!(b.verdict, pb::SigningVerdict::SignedElsewhere as i32);
    assert_eq!(
        b.delivery.as_ref().unwrap().county.as_ref().unwrap().code,
        "330110"
    );
    assert_eq!(
        b.signing.as_ref().unwrap().county.as_ref().unwrap().code,
        "330109"
    );
    let c = check(
        "杭州市余杭区良渚街道金色家园3幢",
        "杭州市余杭区金色家园菜鸟驿站",
    )
    .await;
    assert_eq!(c.verdict, pb::SigningVerdict::SameDistrict as i32);
    assert!(c.pickup_point);
    assert!(!c.dataset.is_empty());
    let err = client
        .check_signed_elsewhere(authed(&key, pb::CheckSignedElsewhereRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec!["delivery_address", "signing_location"]
    );
    server.stop().await;
}

/// TB-21, TB-23, TB-30, TB-31: the buyer's "not received" creates a task awaiting the
/// merchant's reply for 24 hours, shown in Taobao's words, with a reminder at creation and
/// one before the timeout, both on the stream. Receiving it costs nothing.
async fn tb_21_tb_23_new_task_has_a_24_hour_reply_clock_and_reminders(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let mut stream = client
        .watch_case_events(authed(
            &key,
            pb::WatchCaseEventsRequest { after_sequence: 0 },
        ))
        .await
        .expect("watch")
        .into_inner();
    let case = new_task(&mut client, &key, "YD-1", "oid-1").await;
    assert_eq!(case.kind, pb::CaseKind::SignedElsewhereTask as i32);
    assert_eq!(state(&case), pb::CaseState::AwaitingMerchant);
    assert_eq!(
        task_state(&case),
        pb::SignedElsewhereTaskState::AwaitingReply
    );
    assert_eq!(task_of(&case).task_state_text, "等待卖家回复");
    let check = task_of(&case)
        .check
        .as_ref()
        .expect("TB-20 decided on ingest");
    assert_eq!(check.verdict, pb::SigningVerdict::SignedElsewhere as i32);
    // TB-31: no penalty for receiving a task.
    assert!(task_of(&case).complaint.is_none());
    let reply_clock = active(&case, "TB-21");
    assert_eq!(
        time_of(&reply_clock.due_time),
        test_epoch() + Duration::hours(24)
    );

    assert_eq!(next_event(&mut stream).await.r#type, "case_created");
    let created = next_event(&mut stream).await;
    assert_eq!(created.r#type, "deadline_reminder");
    assert_eq!(
        (
            detail(&created)["signal"].as_str(),
            detail(&created)["rule"].as_str()
        ),
        (Some("task_created"), Some("TB-23"))
    );

    server.clock.set(time_of(&reply_clock.remind_time));
    assert_eq!(server.sweep().await.reminded, 1);
    let before = next_event(&mut stream).await;
    assert_eq!(before.r#type, "deadline_reminder");
    assert_eq!(detail(&before)["rule"], "TB-21");
    server.stop().await;
}

/// TB-22: without the platform-task permission an account can read the task but not reply.
async fn tb_22_reply_needs_the_platform_task_permission(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let case = new_task(&mut client, &key, "YD-2", "oid-2").await;
    let plain = server.key(TENANT, "temp-staff", Role::Agent, false).await;
    let err = reply(
        &mut client,
        &plain,
        &case.name,
        Reply::SlipOrReshipLater(Default::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        get(&mut client, &plain, &case.name).await.name,
        case.name,
        "can still read"
    );
    reply(
        &mut client,
        &key,
        &case.name,
        Reply::SlipOrReshipLater(Default::default()),
    )
    .await
    .expect("the permitted account replies");
    server.stop().await;
}

/// TB-24: each reply needs its own proof; with it, proving delivery or reshipping completes a
/// task that raised no complaint (TB-28).
async fn tb_24_each_reply_needs_its_own_proof(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let case = new_task(&mut client, &key, "YD-3", "oid-3").await;
    let err = reply(
        &mut client,
        &key,
        &case.name,
        Reply::UpdateTrackingNumber(shipment("", "")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        vec![
            "update_tracking_number.carrier",
            "update_tracking_number.tracking_number"
        ]
    );
    let err = reply(
        &mut client,
        &key,
        &case.name,
        Reply::SignedSlipNow(pb::EvidenceRef::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&err), vec!["signed_slip_now.uri"]);
    let err = reply(
        &mut client,
        &key,
        &case.name,
        Reply::RescheduleDelivery(Default::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        violated_fields(&err),
        vec![
            "reschedule_delivery.agreed_delivery_time",
            "reschedule_delivery.note"
        ]
    );
    let err = client
        .reply_signed_elsewhere_task(authed(
            &key,
            pb::ReplySignedElsewhereTaskRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), vec!["reply"]);

    let slip = pb::EvidenceRef {
        kind: "signed_slip".into(),
        uri: "oss://proofs/slip-3.jpg".into(),
        ..Default::default()
    };
    let done = reply(&mut client, &key, &case.name, Reply::SignedSlipNow(slip))
        .await
        .expect("reply");
    assert_eq!(state(&done), pb::CaseState::Closed);
    assert_eq!(task_state(&done), pb::SignedElsewhereTaskState::Completed);
    assert_eq!(
        task_of(&done).outcome,
        pb::TaskOutcome::DeliveryProved as i32
    );
    assert_eq!(
        task_of(&done).plan,
        pb::TaskReplyOption::SignedSlipNow as i32
    );
    assert_eq!(done.evidence.last().unwrap().uri, "oss://proofs/slip-3.jpg");
    let events = events_of(&mut client, &key, &case.name).await;
    let replied = events.iter().find(|e| e.r#type == "task_replied").unwrap();
    assert_eq!(detail(replied)["reply_text"], "立即提供签收底单");

    let other = new_task(&mut client, &key, "YD-4", "oid-4").await;
    let reshipped = reply(
        &mut client,
        &key,
        &other.name,
        Reply::ReshipNow(shipment("顺丰速运", "SF100200300")),
    )
    .await
    .expect("reship");
    assert_eq!(state(&reshipped), pb::CaseState::Reshipped);
    assert_eq!(
        reshipped.reship_shipment.as_ref().unwrap().tracking_number,
        "SF100200300"
    );
    // Completed tasks take no more replies.
    let err = reply(
        &mut client,
        &key,
        &other.name,
        Reply::ProactiveCompensation(Default::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "TASK_REPLY_NOT_ALLOWED_NOW")
    );
    server.stop().await;
}

/// TB-25: "signed slip or reship later" puts the task in 待卖家执行 with 24 hours to upload;
/// an upload in time completes it, none brings intervention with a complaint.
async fn tb_25_plan_needing_a_later_upload(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let kept = new_task(&mut client, &key, "YD-5", "oid-5").await;
    let later = reply(
        &mut client,
        &key,
        &kept.name,
        Reply::SlipOrReshipLater(Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(
        task_state(&later),
        pb::SignedElsewhereTaskState::AwaitingExecution
    );
    assert_eq!(task_of(&later).task_state_text, "待卖家执行");
    assert_eq!(
        time_of(&active(&later, "TB-25").due_time),
        test_epoch() + Duration::hours(24)
    );
    let done = reply(
        &mut client,
        &key,
        &kept.name,
        Reply::ReshipNow(shipment("中通快递", "ZT55501")),
    )
    .await
    .expect("upload the reship number");
    assert_eq!(state(&done), pb::CaseState::Reshipped);
    assert_eq!(
        task_of(&done).plan,
        pb::TaskReplyOption::SlipOrReshipLater as i32,
        "the plan stays the one chosen"
    );

    let missed = new_task(&mut client, &key, "YD-6", "oid-6").await;
    reply(
        &mut client,
        &key,
        &missed.name,
        Reply::SlipOrReshipLater(Default::default()),
    )
    .await
    .unwrap();
    // Only the upload options are possible while executing.
    let err = reply(
        &mut client,
        &key,
        &missed.name,
        Reply::ProactiveCompensation(Default::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err), "TASK_REPLY_NOT_ALLOWED_NOW");
    server.advance_and_sweep(Duration::hours(24)).await;
    let after = get(&mut client, &key, &missed.name).await;
    assert_eq!(
        task_state(&after),
        pb::SignedElsewhereTaskState::PlatformIntervening
    );
    let complaint = task_of(&after)
        .complaint
        .as_ref()
        .expect("TB-25: a complaint on the buyer's behalf");
    assert_eq!(
        (complaint.kind, complaint.rule_id.as_str()),
        (pb::ComplaintKind::OnBuyersBehalf as i32, "TB-25")
    );
    server.stop().await;
}

/// TB-26 and TB-28: proactive compensation hands the task to the platform with a complaint;
/// an agreed reship afterwards settles it, but it completes only when the platform finished
/// the complaint.
async fn tb_26_tb_28_compensation_then_reship_completes_after_the_complaint(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let case = new_task(&mut client, &key, "YD-7", "oid-7").await;
    let comp = reply(
        &mut client,
        &key,
        &case.name,
        Reply::ProactiveCompensation(Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(
        task_state(&comp),
        pb::SignedElsewhereTaskState::PlatformIntervening
    );
    assert_eq!(task_of(&comp).complaint.as_ref().unwrap().rule_id, "TB-26");
    let reshipped = reply(
        &mut client,
        &key,
        &case.name,
        Reply::ReshipNow(shipment("顺丰速运", "SF7")),
    )
    .await
    .unwrap();
    assert_eq!(
        task_state(&reshipped),
        pb::SignedElsewhereTaskState::PlatformIntervening,
        "TB-28 (2): the complaint is still open"
    );
    assert_eq!(
        task_of(&reshipped).outcome,
        pb::TaskOutcome::Reshipped as i32
    );

    let finished = ingest_json(
        &mut client,
        &key,
        &task_json("YD-7", "oid-7", "已完结", "2026-11-21 18:00:00", false),
    )
    .await
    .expect("platform finished")
    .case
    .unwrap();
    assert_eq!(
        state(&finished),
        pb::CaseState::Reshipped,
        "completed as what settled it"
    );
    assert!(task_of(&finished)
        .complaint
        .as_ref()
        .unwrap()
        .finish_time
        .is_some());
    server.stop().await;
}

/// TB-27: refunding within the 24 hours completes the task at once.
async fn tb_27_refund_within_24_hours_completes_the_task(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let case = new_task(&mut client, &key, "YD-8", "oid-8").await;
    server.clock.advance(Duration::hours(23));
    let done = refund(&mut client, &key, &case.name).await.expect("refund");
    assert_eq!(state(&done), pb::CaseState::Refunded);
    assert_eq!(task_state(&done), pb::SignedElsewhereTaskState::Completed);
    assert_eq!(done.refunded_fen, 5900);
    assert_eq!(
        server.advance_and_sweep(Duration::hours(2)).await.expired,
        0,
        "no timeout after completion"
    );
    server.stop().await;
}

/// TB-29 and TB-28: a task left to time out gets a false-shipment complaint; refunding then
/// waits for the platform to finish it (后续待跟进 → completed). A second task on the same
/// sub-order that times out files no second complaint, nor does one whose buyer already filed.
async fn tb_29_timeout_files_one_false_shipment_complaint(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let first = new_task(&mut client, &key, "YD-9", "oid-9").await;
    let buyer_filed = ingest_json(
        &mut client,
        &key,
        &task_json(
            "YD-11",
            "oid-11",
            "等待卖家回复",
            "2026-11-21 10:00:00",
            true,
        ),
    )
    .await
    .unwrap()
    .case
    .unwrap();
    assert!(task_of(&buyer_filed).prior_false_shipment_complaint);
    server.advance_and_sweep(Duration::hours(24)).await;

    let timed_out = get(&mut client, &key, &first.name).await;
    assert_eq!(
        task_state(&timed_out),
        pb::SignedElsewhereTaskState::PlatformIntervening
    );
    assert_eq!(task_of(&timed_out).task_state_text, "平台介入中");
    let complaint = task_of(&timed_out).complaint.as_ref().unwrap();
    assert_eq!(
        (complaint.kind, complaint.rule_id.as_str()),
        (pb::ComplaintKind::FalseShipment as i32, "TB-21")
    );
    let no_second = get(&mut client, &key, &buyer_filed.name).await;
    assert!(
        task_of(&no_second).complaint.is_none(),
        "TB-29: the buyer's own complaint stands alone"
    );
    let events = events_of(&mut client, &key, &buyer_filed.name).await;
    let expired = events
        .iter()
        .find(|e| e.r#type == "deadline_expired")
        .unwrap();
    assert_eq!(detail(expired)["complaint"], "not_filed_duplicate");

    // A new task on the same sub-order knows a complaint exists.
    let again = new_task(&mut client, &key, "YD-10", "oid-9").await;
    assert!(task_of(&again).prior_false_shipment_complaint);

    // TB-28: refunded after the timeout, the task waits for the complaint to finish.
    let refunded = refund(&mut client, &key, &first.name).await.unwrap();
    assert_eq!(state(&refunded), pb::CaseState::PlatformIntervening);
    assert_eq!(task_of(&refunded).outcome, pb::TaskOutcome::Refunded as i32);
    let follow_up = ingest_json(
        &mut client,
        &key,
        &task_json("YD-9", "oid-9", "后续待跟进", "2026-11-22 12:00:00", false),
    )
    .await
    .unwrap()
    .case
    .unwrap();
    assert_eq!(
        task_state(&follow_up),
        pb::SignedElsewhereTaskState::FollowUpPending
    );
    assert!(task_of(&follow_up)
        .complaint
        .as_ref()
        .unwrap()
        .finish_time
        .is_some());
    let done = ingest_json(
        &mut client,
        &key,
        &task_json("YD-9", "oid-9", "已完结", "2026-11-22 13:00:00", false),
    )
    .await
    .unwrap()
    .case
    .unwrap();
    assert_eq!(state(&done), pb::CaseState::Refunded);
    server.stop().await;
}

/// TB-20 on manual creation: a task entered by hand is checked the same way as one ingested.
async fn tb_20_manual_task_is_checked_on_creation(backend: Backend) {
    let (server, key, mut client) = task_server(backend).await;
    let case = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::SignedElsewhereTask, "o-manual"),
    )
    .await;
    let check = task_of(&case).check.as_ref().unwrap();
    assert_eq!(check.verdict, pb::SigningVerdict::SignedElsewhere as i32);
    assert_eq!(check.reason, "different_district");
    let mut missing = manual_case(pb::CaseKind::SignedElsewhereTask, "o-manual-2");
    missing.signed_elsewhere_task = None;
    let err = try_create(&mut client, &key, missing).await.unwrap_err();
    assert_eq!(violated_fields(&err), vec!["case.signed_elsewhere_task"]);
    server.stop().await;
}

on_both_backends!(
    tb_01_request_after_the_15_day_window_is_refused,
    tb_03_second_request_on_the_same_order_line_is_refused,
    cm_03_kind_must_fit_the_order_state,
    tb_06_refused_delivery_refunds_once_the_parcel_is_back,
    tb_11_express_refund_keeps_the_case_open_until_the_goods_arrive,
    tmc_message_marks_the_case_for_a_fresh_fetch,
    tmall_exchange_dispute_is_ingested_with_its_own_deadline,
    tb_20_check_signed_elsewhere_answers_with_the_divisions,
    tb_21_tb_23_new_task_has_a_24_hour_reply_clock_and_reminders,
    tb_22_reply_needs_the_platform_task_permission,
    tb_24_each_reply_needs_its_own_proof,
    tb_25_plan_needing_a_later_upload,
    tb_26_tb_28_compensation_then_reship_completes_after_the_complaint,
    tb_27_refund_within_24_hours_completes_the_task,
    tb_29_timeout_files_one_false_shipment_complaint,
    tb_20_manual_task_is_checked_on_creation,
);
