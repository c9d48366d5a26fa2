//! Pinduoduo end to end through the gRPC API, on SQLite and on PostgreSQL: detail records with
//! the platform's own deadline (PD-04), working-day refund processing (PD-03) and the cap on
//! requests per order (PD-07). Mapping tables are unit-tested in crates/platforms/src/pinduoduo.

use aftersales_tests::{
    authed, create, detail, events_of, manual_case, on_both_backends, pb, reason, test_epoch,
    time_of, Backend, Client, TestServer,
};
use chrono::{DateTime, Duration, Utc};
use tonic::Code;
use tonic_types::StatusExt;

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

// ---- Evidence (PD-E0 … PD-E10) ---------------------------------------------------------------

fn pdd_case(kind: pb::CaseKind, order: &str) -> pb::Case {
    let mut c = manual_case(kind, order);
    c.platform = "pinduoduo".into();
    c.shop = SHOP.into();
    c
}

fn evidence_case(scenario: &str, order: &str) -> pb::Case {
    let mut c = pdd_case(pb::CaseKind::EvidenceRequest, order);
    c.evidence_request = Some(pb::EvidenceRequest {
        scenario: scenario.into(),
        ..Default::default()
    });
    c
}

fn proof(kind: pb::ProofKind, uri: &str) -> pb::EvidenceItem {
    pb::EvidenceItem {
        kind: kind as i32,
        uri: uri.into(),
        ..Default::default()
    }
}

fn shipping_slip() -> pb::EvidenceItem {
    pb::EvidenceItem {
        recipient_name: "王五".into(),
        recipient_address: "上海市浦东新区世纪大道100号".into(),
        ..proof(pb::ProofKind::ShippingSlip, "oss://e/slip.jpg")
    }
}

/// A red-stamp proof as PD-E1/PD-E9 want it: carrier stamp, the four details handwritten on
/// the printed form, signed, same recipient as the slip.
fn red_stamp() -> pb::EvidenceItem {
    let all = [
        pb::StampField::TrackingNumber,
        pb::StampField::RecipientName,
        pb::StampField::CourierName,
        pb::StampField::DeliveryDate,
    ];
    pb::EvidenceItem {
        stamp: pb::StampKind::CarrierRedStamp as i32,
        handwritten_fields: all.iter().map(|f| *f as i32).collect(),
        printed_form: true,
        signer_signature: true,
        ..shipping_slip_fields(proof(pb::ProofKind::RedStampProof, "oss://e/stamp.jpg"))
    }
}

fn shipping_slip_fields(item: pb::EvidenceItem) -> pb::EvidenceItem {
    let slip = shipping_slip();
    pb::EvidenceItem {
        recipient_name: slip.recipient_name,
        recipient_address: slip.recipient_address,
        ..item
    }
}

async fn submit(
    client: &mut Client,
    key: &str,
    name: &str,
    items: Vec<pb::EvidenceItem>,
    stage_only: bool,
) -> Result<pb::Case, tonic::Status> {
    client
        .submit_evidence(authed(
            key,
            pb::SubmitEvidenceRequest {
                name: name.into(),
                items,
                stage_only,
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// PD-E1 and PD-E9: CheckEvidence names each invalid item and why; an insufficient submission
/// is refused with one violation per problem; staged proofs count; a valid submission is
/// recorded and goes to the platform's review.
async fn pd_e1_evidence_is_checked_staged_and_submitted(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        evidence_case("goods_not_received", "pdd-e1"),
    )
    .await;
    let request = case.evidence_request.as_ref().unwrap();
    assert_eq!(request.rule_id, "PD-E1");
    assert_eq!(
        time_of(&active(&case, "PD-E1").due_time),
        test_epoch() + Duration::hours(48)
    );

    let finance = pb::EvidenceItem {
        stamp: pb::StampKind::FinanceStamp as i32,
        ..red_stamp()
    };
    let check = client
        .check_evidence(authed(
            &key,
            pb::CheckEvidenceRequest {
                name: case.name.clone(),
                items: vec![shipping_slip(), finance.clone()],
            },
        ))
        .await
        .expect("check")
        .into_inner();
    assert!(!check.met);
    let wrong_stamp = check
        .problems
        .iter()
        .find(|p| p.code == "WRONG_STAMP")
        .expect("the finance stamp is named");
    assert_eq!(wrong_stamp.rule_id, "PD-E9");
    assert!(
        wrong_stamp.message.contains("finance")
            && wrong_stamp.message.contains("carrier red stamp")
    );
    assert_eq!(wrong_stamp.item_index, Some(1));
    // The other alternative (the buyer confirming in the platform chat) is reported missing.
    assert!(check
        .problems
        .iter()
        .any(|p| p.code == "MISSING" && p.proof == pb::ProofKind::ChatScreenshot as i32));

    let err = submit(
        &mut client,
        &key,
        &case.name,
        vec![shipping_slip(), finance],
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "EVIDENCE_INSUFFICIENT")
    );
    let violations = err
        .get_error_details()
        .precondition_failure()
        .unwrap()
        .violations
        .clone();
    assert!(violations.iter().any(|v| v.r#type == "WRONG_STAMP"));

    let staged = submit(&mut client, &key, &case.name, vec![shipping_slip()], true)
        .await
        .unwrap();
    assert_eq!(
        staged.state,
        pb::CaseState::AwaitingMerchant as i32,
        "staging moves nothing"
    );
    assert_eq!(staged.evidence_request.as_ref().unwrap().staged.len(), 1);
    let submitted = submit(&mut client, &key, &case.name, vec![red_stamp()], false)
        .await
        .unwrap();
    assert_eq!(submitted.state, pb::CaseState::PlatformIntervening as i32);
    let s = &submitted.evidence_request.as_ref().unwrap().submissions[0];
    assert_eq!((s.item_count, s.late), (2, false));
    let events = events_of(&mut client, &key, &case.name).await;
    assert!(events.iter().any(|e| e.r#type == "evidence_submitted"));
    server.stop().await;
}

/// A submission after the deadline (before the engine fired it) is accepted and marked late.
async fn pd_e1_late_submission_is_recorded_as_late(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        evidence_case("goods_not_received", "pdd-late"),
    )
    .await;
    server.clock.advance(Duration::hours(49));
    let chat = pb::EvidenceItem {
        source: pb::ProofSource::PlatformChat as i32,
        continuous: true,
        complete: true,
        buyer_confirms: true,
        ..proof(pb::ProofKind::ChatScreenshot, "oss://e/chat.png")
    };
    let submitted = submit(&mut client, &key, &case.name, vec![chat], false)
        .await
        .unwrap();
    assert!(submitted.evidence_request.as_ref().unwrap().submissions[0].late);
    server.stop().await;
}

/// PD-E1 and PD-E6 timeouts: the buyer is refunded; for tracking that cannot be found it is a
/// logistics exception.
async fn pd_e1_pd_e6_timeouts_refund_the_buyer(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let e1 = create(
        &mut client,
        &key,
        evidence_case("goods_not_received", "pdd-t1"),
    )
    .await;
    let e6 = create(
        &mut client,
        &key,
        evidence_case("tracking_not_found", "pdd-t6"),
    )
    .await;
    server.advance_and_sweep(Duration::hours(48)).await;
    for (case, consequence) in [(&e1, "auto_refund"), (&e6, "logistics_exception_refund")] {
        let after = aftersales_tests::get(&mut client, &key, &case.name).await;
        assert_eq!(after.state, pb::CaseState::Refunded as i32, "{consequence}");
        let events = events_of(&mut client, &key, &case.name).await;
        let expired = events
            .iter()
            .find(|e| e.r#type == "deadline_expired")
            .unwrap();
        assert_eq!(detail(expired)["consequence"], consequence);
    }
    server.stop().await;
}

/// PD-E8: a valid progress message is the first step and starts the report's clock; when that
/// passes, refund with return at the merchant's cost.
async fn pd_e8_progress_then_report_clock(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        evidence_case("appliance_quality", "pdd-e8"),
    )
    .await;
    assert_eq!(
        time_of(&active(&case, "PD-E8").due_time),
        test_epoch() + Duration::hours(72)
    );
    server.clock.advance(Duration::hours(20));
    let progress = pb::EvidenceItem {
        capture_time: Some(aftersales_tests::ts(test_epoch() + Duration::hours(20))),
        visit_time: Some(aftersales_tests::ts(test_epoch() + Duration::hours(40))),
        ..proof(
            pb::ProofKind::TechnicianVisitMessage,
            "oss://e/progress.png",
        )
    };
    let staged = submit(&mut client, &key, &case.name, vec![progress], true)
        .await
        .unwrap();
    assert_eq!(
        staged.state,
        pb::CaseState::AwaitingMerchantExecution as i32
    );
    let report_clock = active(&staged, "PD-E8");
    assert_eq!(report_clock.key, "appliance_report");
    server.advance_and_sweep(Duration::hours(72)).await;
    let after = aftersales_tests::get(&mut client, &key, &case.name).await;
    assert_eq!(
        after.state,
        pb::CaseState::AwaitingBuyer as i32,
        "refund with return"
    );
    server.stop().await;
}

/// PD-E10: the merchant signed for the return, so a later damage claim on that order needs the
/// PD-E5 evidence, not PD-E4.
async fn pd_e10_signed_return_turns_a_damage_claim_into_pd_e5(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let ret = create(
        &mut client,
        &key,
        pdd_case(pb::CaseKind::ReturnAndRefund, "pdd-e10"),
    )
    .await;
    client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: ret.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    client
        .record_return_shipment(authed(
            &key,
            pb::RecordReturnShipmentRequest {
                name: ret.name.clone(),
                shipment: Some(pb::Shipment {
                    carrier: "中通".into(),
                    tracking_number: "ZT1".into(),
                    ship_time: None,
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let signed = client
        .confirm_return_received(authed(
            &key,
            pb::ConfirmReturnReceivedRequest {
                name: ret.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(signed.return_signed_time.is_some());

    let claim = create(
        &mut client,
        &key,
        evidence_case("damaged_return_refused", "pdd-e10"),
    )
    .await;
    let request = claim.evidence_request.as_ref().unwrap();
    assert_eq!(
        (request.scenario.as_str(), request.rule_id.as_str()),
        ("damaged_return_signed", "PD-E5")
    );
    assert!(request.note.contains("PD-E10"), "{}", request.note);
    let elsewhere = create(
        &mut client,
        &key,
        evidence_case("damaged_return_refused", "pdd-e10-other"),
    )
    .await;
    assert_eq!(
        elsewhere.evidence_request.as_ref().unwrap().rule_id,
        "PD-E4"
    );

    let err = client
        .create_case(authed(
            &key,
            pb::CreateCaseRequest {
                case: Some(evidence_case("no_such_scenario", "pdd-x")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("goods_not_received"),
        "{}",
        err.message()
    );
    server.stop().await;
}

// ---- PD-01, PD-02, PD-06, PD-08 -----------------------------------------------------------

/// PD-01: seven days from signing for the goods (not from trade success, as on Taobao).
async fn pd_01_window_counts_from_signing(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut inside = pdd_case(pb::CaseKind::ReturnAndRefund, "pdd-w1");
    inside.signed_time = Some(aftersales_tests::ts(test_epoch() - Duration::days(6)));
    create(&mut client, &key, inside).await;
    let mut late = pdd_case(pb::CaseKind::ReturnAndRefund, "pdd-w2");
    late.signed_time = Some(aftersales_tests::ts(test_epoch() - Duration::days(8)));
    // A trade-success time (Taobao's start) does not count on Pinduoduo.
    late.trade_success_time = Some(aftersales_tests::ts(test_epoch()));
    let err = client
        .create_case(authed(
            &key,
            pb::CreateCaseRequest {
                case: Some(late),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "OUTSIDE_AFTER_SALES_WINDOW");
    assert!(
        err.message().contains("PD-01") && err.message().contains("signing"),
        "{}",
        err.message()
    );
    server.stop().await;
}

/// PD-02: the buyer pays return shipping, except for quality problems.
async fn pd_02_return_shipping_is_paid_by_reason(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let with = |reason: pb::ReasonCategory, kind: pb::CaseKind, order: &str| {
        let mut c = pdd_case(kind, order);
        c.reason_category = reason as i32;
        c
    };
    let quality = create(
        &mut client,
        &key,
        with(
            pb::ReasonCategory::QualityProblem,
            pb::CaseKind::ReturnAndRefund,
            "pdd-s1",
        ),
    )
    .await;
    assert_eq!(quality.return_shipping_payer, pb::DueParty::Merchant as i32);
    let no_reason = create(
        &mut client,
        &key,
        with(
            pb::ReasonCategory::NoReason,
            pb::CaseKind::Exchange,
            "pdd-s2",
        ),
    )
    .await;
    assert_eq!(no_reason.return_shipping_payer, pb::DueParty::Buyer as i32);
    let refund = create(
        &mut client,
        &key,
        with(
            pb::ReasonCategory::QualityProblem,
            pb::CaseKind::RefundOnly,
            "pdd-s3",
        ),
    )
    .await;
    assert_eq!(
        refund.return_shipping_payer,
        pb::DueParty::Unspecified as i32,
        "nothing travels back"
    );
    server.stop().await;
}

/// PD-06 and PD-08: the merchant opens a reship, the buyer confirms, the merchant agrees only
/// after the ERP's stock check, the reship tracking is recorded — and every step is in the
/// case history with its time.
async fn pd_06_pd_08_reship_flow(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(&mut client, &key, pdd_case(pb::CaseKind::Reship, "pdd-r1")).await;
    assert_eq!(
        case.state,
        pb::CaseState::AwaitingBuyer as i32,
        "the buyer confirms first"
    );
    assert!(case.merchant_initiated);
    let agree = |stock_check: Option<pb::StockCheck>| pb::AgreeCaseRequest {
        name: case.name.clone(),
        stock_check,
        ..Default::default()
    };
    let err = client
        .agree_case(authed(&key, agree(None)))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "ACTION_NOT_ALLOWED_IN_STATE");
    server.clock.advance(Duration::minutes(30));
    let confirmed = client
        .record_buyer_confirmation(authed(
            &key,
            pb::RecordBuyerConfirmationRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("buyer confirmed")
        .into_inner();
    assert_eq!(confirmed.state, pb::CaseState::AwaitingMerchant as i32);

    let err = client
        .agree_case(authed(&key, agree(None)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "STOCK_CHECK_REQUIRED")
    );
    let out = pb::StockCheck {
        in_stock: false,
        checked_by: "wms".into(),
        note: "sku 42: 0 left".into(),
    };
    let err = client
        .agree_case(authed(&key, agree(Some(out))))
        .await
        .unwrap_err();
    assert_eq!(reason(&err), "OUT_OF_STOCK");
    server.clock.advance(Duration::minutes(30));
    let ok = pb::StockCheck {
        in_stock: true,
        checked_by: "wms".into(),
        note: "sku 42: 17 left".into(),
    };
    let agreed = client
        .agree_case(authed(&key, agree(Some(ok))))
        .await
        .expect("agree")
        .into_inner();
    assert_eq!(
        agreed.state,
        pb::CaseState::AwaitingMerchantExecution as i32
    );
    assert_eq!(
        time_of(&active(&agreed, "PD-06").due_time),
        test_epoch() + Duration::hours(49)
    );
    server.clock.advance(Duration::hours(2));
    let shipped = client
        .record_reship(authed(
            &key,
            pb::RecordReshipRequest {
                name: case.name.clone(),
                shipment: Some(pb::Shipment {
                    carrier: "韵达".into(),
                    tracking_number: "YD777".into(),
                    ship_time: None,
                }),
                ..Default::default()
            },
        ))
        .await
        .expect("reship")
        .into_inner();
    assert_eq!(shipped.state, pb::CaseState::Reshipped as i32);

    // PD-08: when each step happened is kept, refusals included.
    let steps: Vec<(String, i64)> = events_of(&mut client, &key, &case.name)
        .await
        .iter()
        .map(|e| {
            (
                e.r#type.clone(),
                time_of(&e.occur_time).timestamp() - test_epoch().timestamp(),
            )
        })
        .collect();
    let at = |t: &str| {
        steps
            .iter()
            .filter(|(k, _)| k == t)
            .map(|(_, s)| *s)
            .collect::<Vec<_>>()
    };
    assert_eq!(at("case_created"), vec![0]);
    assert_eq!(at("buyer_confirmed"), vec![1800]);
    assert_eq!(at("merchant_agreed"), vec![3600]);
    assert_eq!(at("reship_recorded"), vec![3600 + 7200]);
    assert_eq!(
        at("action_refused").len(),
        3,
        "the early agree and both stock refusals"
    );
    let events = events_of(&mut client, &key, &case.name).await;
    let agreed = events
        .iter()
        .find(|e| e.r#type == "merchant_agreed")
        .unwrap();
    assert_eq!(detail(agreed)["stock_check"]["checked_by"], "wms");
    server.stop().await;
}

on_both_backends!(
    pd_01_window_counts_from_signing,
    pd_02_return_shipping_is_paid_by_reason,
    pd_06_pd_08_reship_flow,
    pd_e1_evidence_is_checked_staged_and_submitted,
    pd_e1_late_submission_is_recorded_as_late,
    pd_e1_pd_e6_timeouts_refund_the_buyer,
    pd_e8_progress_then_report_clock,
    pd_e10_signed_return_turns_a_damage_claim_into_pd_e5,
    pd_04_expire_time_is_the_merchant_deadline,
    pd_03_refund_processing_counts_chinese_working_days,
    pd_07_a_fourth_return_or_exchange_on_an_order_is_refused,
);
