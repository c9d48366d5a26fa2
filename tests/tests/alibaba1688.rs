//! 1688 end to end through the gRPC API, on SQLite and on PostgreSQL: after-sales plans
//! (AL-01), the platform's own deadline and auto-agree (AL-02), tracking changes (AL-03),
//! deposit release (AL-10 … AL-13), disputes, rulings and appeals (AL-20 … AL-22).

use aftersales_domain::Clock;
use aftersales_tests::{
    authed, create, detail, event_types, events_of, get, manual_case, on_both_backends, pb, reason,
    time_of, ts, Backend, Client, TestServer,
};
use chrono::{DateTime, Duration, Utc};
use tonic::Code;

const TENANT: &str = "acme";
const SHOP: &str = "1688-factory";

fn bj(s: &str) -> DateTime<Utc> {
    aftersales_domain::time::parse_shanghai(s).unwrap()
}

fn al_case(kind: pb::CaseKind, order: &str) -> pb::Case {
    let mut c = manual_case(kind, order);
    c.platform = "alibaba1688".into();
    c.shop = SHOP.into();
    c
}

fn plan() -> pb::ReturnPlan {
    pb::ReturnPlan {
        address: "浙江省杭州市余杭区文一西路969号".into(),
        recipient: "琳琳".into(),
        phone: "13800000000".into(),
        carrier: "中通快递".into(),
        freight: pb::FreightPayment::Collect as i32,
        carrier_requirement: "none".into(),
        return_within_days: 7,
        goods_condition: "original packaging, tags attached".into(),
        chat_record: "wangwang://msg/8812".into(),
    }
}

async fn agree(
    client: &mut Client,
    key: &str,
    name: &str,
    return_plan: Option<pb::ReturnPlan>,
) -> Result<pb::Case, tonic::Status> {
    client
        .agree_case(authed(
            key,
            pb::AgreeCaseRequest {
                name: name.into(),
                return_plan,
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// AL-01: a return is agreed only with a complete plan; the refusal names every missing part.
async fn al_01_return_needs_a_complete_plan(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        al_case(pb::CaseKind::ReturnAndRefund, "al-1"),
    )
    .await;
    let err = agree(&mut client, &key, &case.name, None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "RETURN_PLAN_INCOMPLETE")
    );
    assert!(
        err.message().contains("return_plan") && err.message().contains("AL-01"),
        "{}",
        err.message()
    );
    let partial = pb::ReturnPlan {
        carrier: String::new(),
        freight: 0,
        chat_record: String::new(),
        ..plan()
    };
    let err = agree(&mut client, &key, &case.name, Some(partial))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("missing: carrier, chat_record, freight"),
        "{}",
        err.message()
    );
    let agreed = agree(&mut client, &key, &case.name, Some(plan()))
        .await
        .expect("agree");
    assert_eq!(agreed.state, pb::CaseState::AwaitingBuyer as i32);
    let kept = agreed.return_plan.expect("the plan is kept");
    assert_eq!(
        (kept.freight, kept.return_within_days),
        (pb::FreightPayment::Collect as i32, 7)
    );
    assert_eq!(agreed.return_address.unwrap().name, "琳琳");
    // A refund without goods travelling back needs no plan.
    let refund = create(&mut client, &key, al_case(pb::CaseKind::RefundOnly, "al-2")).await;
    assert_eq!(
        agree(&mut client, &key, &refund.name, None)
            .await
            .unwrap()
            .state,
        pb::CaseState::Refunded as i32
    );
    server.stop().await;
}

/// AL-02: the refund's gmtTimeOut is the merchant's deadline; letting it pass agrees the
/// request automatically (the platform needs no plan from the merchant for that).
async fn al_02_gmt_time_out_then_auto_agree(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let json = serde_json::json!({
        "result": { "opOrderRefundModelDetail": {
            "refundId": "TQ86514937", "orderId": "151267031008969811",
            "orderEntryIdList": [151267031009969811u64],
            "status": "waitselleragree", "disputeRequest": "returnRefund",
            "goodsStatus": 2, "applyPayment": 1990, "canRefundPayment": 2990,
            "applyReason": "颜色/图案/款式不符", "buyerLoginId": "alitestforisv02",
            "gmtApply": "20261121100000000+0800", "gmtModified": "20261121100005000+0800",
            "gmtTimeOut": "20261124100000000+0800", "timeOutOperateType": "1",
        }}
    })
    .to_string();
    let case = client
        .ingest_platform_case(authed(
            &key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "alibaba1688".into(),
                native_record_json: json,
                request_id: String::new(),
            },
        ))
        .await
        .expect("ingest")
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (case.kind, case.requested_refund_fen),
        (pb::CaseKind::ReturnAndRefund as i32, 1990)
    );
    let al02 = case
        .deadlines
        .iter()
        .find(|d| d.rule_id == "AL-02")
        .expect("AL-02 clock");
    assert_eq!(time_of(&al02.due_time), bj("2026-11-24 10:00:00"));
    assert_eq!(al02.source, pb::DeadlineSource::Platform as i32);
    server.clock.set(bj("2026-11-24 10:00:00"));
    assert_eq!(server.sweep().await.expired, 1);
    let after = get(&mut client, &key, &case.name).await;
    assert_eq!(
        after.state,
        pb::CaseState::AwaitingBuyer as i32,
        "agreed: the buyer returns the goods"
    );
    server.stop().await;
}

/// AL-03: a tracking number corrected, added later or replaced for a reship, each an event.
async fn al_03_tracking_changes_are_recorded(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(&mut client, &key, al_case(pb::CaseKind::RefundOnly, "al-3")).await;
    for (change, number) in [
        (pb::TrackingChange::Corrected, "ZT100"),
        (pb::TrackingChange::AddedLater, "ZT101"),
        (pb::TrackingChange::ReplacedForReship, "SF200"),
    ] {
        client
            .record_tracking_change(authed(
                &key,
                pb::RecordTrackingChangeRequest {
                    name: case.name.clone(),
                    change: change as i32,
                    shipment: Some(pb::Shipment {
                        carrier: "快递".into(),
                        tracking_number: number.into(),
                        ship_time: None,
                    }),
                    ..Default::default()
                },
            ))
            .await
            .expect("tracking change");
    }
    let events = events_of(&mut client, &key, &case.name).await;
    let changes: Vec<String> = events
        .iter()
        .filter(|e| e.r#type == "tracking_changed")
        .map(|e| detail(e)["change"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(changes, ["corrected", "added_later", "replaced_for_reship"]);
    assert_eq!(
        get(&mut client, &key, &case.name)
            .await
            .reship_shipment
            .unwrap()
            .tracking_number,
        "SF200"
    );
    let err = client
        .record_tracking_change(authed(
            &key,
            pb::RecordTrackingChangeRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

/// AL-03 with AIP-155: a tracking change can be recorded again and again, so a retry of one
/// that succeeded is not refused by the case — only its request_id tells it is a retry. The
/// retry answers with the first answer and records nothing; the same request_id with another
/// shipment is REQUEST_ID_REUSED and records nothing either.
async fn al_03_retried_tracking_change_answers_once(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let case = create(
        &mut client,
        &key,
        al_case(pb::CaseKind::RefundOnly, "al-3r"),
    )
    .await;
    let request = |number: &str| pb::RecordTrackingChangeRequest {
        name: case.name.clone(),
        change: pb::TrackingChange::Corrected as i32,
        shipment: Some(pb::Shipment {
            carrier: "快递".into(),
            tracking_number: number.into(),
            ship_time: None,
        }),
        request_id: "9d0e7c1a-tracking".into(),
        ..Default::default()
    };
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(
            client
                .record_tracking_change(authed(&key, request("ZT300")))
                .await
                .expect("tracking change")
                .into_inner(),
        );
    }
    assert_eq!(answers[0], answers[1], "the retry gets the first answer");
    assert_eq!(answers[1].etag, "\"2\"", "one write");
    let err = client
        .record_tracking_change(authed(&key, request("ZT301")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");
    assert_eq!(
        event_types(&mut client, &key, &case.name).await,
        ["case_created", "tracking_changed"]
    );
    assert_eq!(get(&mut client, &key, &case.name).await.etag, "\"2\"");
    server.stop().await;
}

fn service(
    code: &str,
    kind: pb::ServiceKind,
    open: &str,
    close: Option<&str>,
) -> pb::ServiceSubscription {
    pb::ServiceSubscription {
        code: code.into(),
        name: code.into(),
        kind: kind as i32,
        open_time: Some(ts(bj(open))),
        close_time: close.map(|c| ts(bj(c))),
    }
}

/// A shop's history: 300 orders placed while the protection ran, finished long ago except
/// the last ones; one in flight; one open complaint; an open 官方直送 and a shipping-time
/// sub-service (which never blocks).
fn history(resolved: bool) -> pb::EvaluateDepositReleaseRequest {
    let mut trades = Vec::new();
    for i in 0..300 {
        let placed = bj("2025-07-01 09:00:00") + Duration::hours(i * 20);
        let finished = placed + Duration::days(5);
        trades.push(pb::ShopTrade {
            order_id: format!("o-{i}"),
            place_time: Some(ts(placed)),
            status: pb::ShopTradeStatus::Success as i32,
            finish_time: Some(ts(finished)),
            anxin_gou: false,
        });
    }
    // The last counted success: 2026-03-28 14:20 Beijing.
    trades.push(pb::ShopTrade {
        order_id: "o-last".into(),
        place_time: Some(ts(bj("2026-02-27 10:00:00"))),
        status: pb::ShopTradeStatus::Success as i32,
        finish_time: Some(ts(bj("2026-03-28 14:20:00"))),
        anxin_gou: false,
    });
    // Placed after the protection closed: never counted, even though it finished later.
    trades.push(pb::ShopTrade {
        order_id: "o-after".into(),
        place_time: Some(ts(bj("2026-03-02 10:00:00"))),
        status: pb::ShopTradeStatus::Success as i32,
        finish_time: Some(ts(bj("2026-06-01 10:00:00"))),
        anxin_gou: false,
    });
    trades.push(pb::ShopTrade {
        order_id: "o-flight".into(),
        place_time: Some(ts(bj("2026-02-20 10:00:00"))),
        status: if resolved {
            pb::ShopTradeStatus::Closed
        } else {
            pb::ShopTradeStatus::InFlight
        } as i32,
        finish_time: resolved.then(|| ts(bj("2026-03-20 09:00:00"))),
        anxin_gou: false,
    });
    pb::EvaluateDepositReleaseRequest {
        shop: SHOP.into(),
        platform: "alibaba1688".into(),
        services: vec![
            service(
                "buyer_protection",
                pb::ServiceKind::BuyerProtection,
                "2025-06-01 00:00:00",
                Some("2026-03-01 00:00:00"),
            ),
            service(
                "official_direct",
                pb::ServiceKind::OfficialDirectDelivery,
                "2025-06-01 00:00:00",
                resolved.then_some("2026-03-05 00:00:00"),
            ),
            service(
                "ship_48h",
                pb::ServiceKind::ShippingTime,
                "2025-06-01 00:00:00",
                None,
            ),
        ],
        trades,
        complaints: vec![pb::ShopComplaint {
            case_id: "cp-1".into(),
            order_id: "o-7".into(),
            open_time: Some(ts(bj("2026-03-10 10:00:00"))),
            finish_time: resolved.then(|| ts(bj("2026-03-25 10:00:00"))),
        }],
        anxin_gou_exit_request_time: None,
        name: String::new(),
        request_id: String::new(),
    }
}

/// AL-10 … AL-12 over the API: first what blocks (the open sub-service, the trade in flight,
/// the open complaint), then, once resolved, the unfreeze date: last counted finish
/// 2026-03-28 14:20 + 30 days = 2026-04-27 14:20 (later than the 03-05 closure and the 03-25
/// complaint end), third day after → 2026-04-30 00:00 Beijing.
async fn al_10_al_11_al_12_deposit_release_from_a_shop_history(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let blocked = client
        .evaluate_deposit_release(authed(&key, history(false)))
        .await
        .expect("evaluate")
        .into_inner();
    assert!(blocked.unfreeze_time.is_none() && !blocked.unfrozen);
    let kinds: Vec<(&str, &str, &str)> = blocked
        .blockers
        .iter()
        .filter(|b| b.kind != "acceptance_period")
        .map(|b| (b.rule_id.as_str(), b.kind.as_str(), b.id.as_str()))
        .collect();
    assert!(
        kinds.contains(&("AL-10", "service_open", "official_direct")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("AL-11", "trade_in_flight", "o-flight")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("AL-11", "complaint_open", "cp-1")),
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|(_, _, id)| *id == "ship_48h"),
        "shipping-time services never block"
    );
    assert_eq!(blocked.steps.len(), 3);
    assert!(
        !blocked.assumptions.is_empty(),
        "the counting choices are stated"
    );

    let resolved = client
        .evaluate_deposit_release(authed(&key, history(true)))
        .await
        .expect("evaluate")
        .into_inner();
    assert_eq!(
        time_of(&resolved.conditions_hold_time),
        bj("2026-04-27 14:20:00")
    );
    assert_eq!(time_of(&resolved.unfreeze_time), bj("2026-04-30 00:00:00"));
    assert!(resolved.unfrozen, "the test clock is in November 2026");

    let mut contradictory = history(true);
    contradictory.trades.push(contradictory.trades[0].clone());
    let err = client
        .evaluate_deposit_release(authed(&key, contradictory))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // The numbers are the platform's policy data: a platform without them is told so.
    let mut taobao = history(true);
    taobao.platform = "taobao".into();
    let err = client
        .evaluate_deposit_release(authed(&key, taobao))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("no deposit-release rules"),
        "{}",
        err.message()
    );
    server.stop().await;
}

/// AL-13: 安心购 trades in flight when the shop asked to leave leave 90 days after they finish.
async fn al_13_anxin_gou_trades_leave_90_days_after_they_finish(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut req = history(true);
    req.trades.push(pb::ShopTrade {
        order_id: "o-anxin".into(),
        place_time: Some(ts(bj("2026-02-25 10:00:00"))),
        status: pb::ShopTradeStatus::Success as i32,
        finish_time: Some(ts(bj("2026-03-15 10:00:00"))),
        anxin_gou: true,
    });
    req.anxin_gou_exit_request_time = Some(ts(bj("2026-03-01 00:00:00")));
    let e = client
        .evaluate_deposit_release(authed(&key, req))
        .await
        .unwrap()
        .into_inner();
    // 2026-03-15 10:00 + 90 days = 2026-06-13 10:00.
    assert_eq!(
        time_of(&e.anxin_gou_exit_complete_time),
        bj("2026-06-13 10:00:00")
    );
    server.stop().await;
}

fn red_stamp(stamp: pb::StampKind) -> pb::EvidenceItem {
    pb::EvidenceItem {
        kind: pb::ProofKind::RedStampProof as i32,
        uri: "oss://appeal/carrier-letter.jpg".into(),
        stamp: stamp as i32,
        ..Default::default()
    }
}

async fn file_appeal(
    client: &mut Client,
    key: &str,
    ground: pb::AppealGround,
    evidence: Vec<pb::EvidenceItem>,
) -> Result<pb::Case, tonic::Status> {
    client
        .file_appeal(authed(
            key,
            pb::FileAppealRequest {
                shop: SHOP.into(),
                platform: "alibaba1688".into(),
                order_id: "al-ap".into(),
                appeal: Some(pb::Appeal {
                    ground: ground as i32,
                    appealed: "延迟发货处罚 #P-77".into(),
                    statement: "the carrier lost the first parcel".into(),
                    evidence,
                }),
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// AL-20 … AL-22: invalid grounds are refused with the reason; a shipping-penalty appeal
/// needs a carrier-stamped document (a finance stamp is not one); a valid appeal goes to the
/// platform, whose ruling is recorded. A dispute's ruling for the buyer refunds.
async fn al_20_al_21_al_22_appeals_and_rulings(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let err = file_appeal(
        &mut client,
        &key,
        pb::AppealGround::PriceSetTooLowByMistake,
        vec![red_stamp(pb::StampKind::CarrierRedStamp)],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "APPEAL_NOT_VALID")
    );
    assert!(
        err.message().contains("AL-21") && err.message().contains("too low"),
        "{}",
        err.message()
    );
    let err = file_appeal(
        &mut client,
        &key,
        pb::AppealGround::ShippingNotMerchantsFault,
        vec![red_stamp(pb::StampKind::FinanceStamp)],
    )
    .await
    .unwrap_err();
    assert!(
        err.message().contains("AL-22") && err.message().contains("finance_stamp"),
        "{}",
        err.message()
    );
    let appeal = file_appeal(
        &mut client,
        &key,
        pb::AppealGround::ShippingNotMerchantsFault,
        vec![red_stamp(pb::StampKind::CarrierRedStamp)],
    )
    .await
    .expect("a valid appeal");
    assert_eq!(
        (appeal.kind, appeal.state),
        (
            pb::CaseKind::Appeal as i32,
            pb::CaseState::PlatformIntervening as i32
        )
    );
    let ruled = client
        .record_ruling(authed(
            &key,
            pb::RecordRulingRequest {
                name: appeal.name.clone(),
                in_favour_of: pb::RulingFor::Merchant as i32,
                note: "penalty withdrawn".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("ruling")
        .into_inner();
    assert_eq!(ruled.state, pb::CaseState::Closed as i32);
    assert_eq!(ruled.ruling.unwrap().note, "penalty withdrawn");

    // A dispute: the merchant escalates, the platform rules for the buyer.
    let dispute = create(&mut client, &key, al_case(pb::CaseKind::RefundOnly, "al-d")).await;
    client
        .escalate_case(authed(
            &key,
            pb::EscalateCaseRequest {
                name: dispute.name.clone(),
                reason: "buyer disputes".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("escalate");
    let ruled = client
        .record_ruling(authed(
            &key,
            pb::RecordRulingRequest {
                name: dispute.name.clone(),
                in_favour_of: pb::RulingFor::Buyer as i32,
                note: "refund in full".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("ruling")
        .into_inner();
    assert_eq!(
        (ruled.state, ruled.refunded_fen),
        (pb::CaseState::Refunded as i32, dispute.requested_refund_fen)
    );
    server.stop().await;
}

/// AL-23: intervention rate, dispute rate, resolved on time vs after a deadline ran out, and
/// the median first response, per platform and shop over a window.
async fn al_23_shop_health_over_a_window(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let start = server.clock.now();
    // Answered after 30 minutes, refunded.
    let quick = create(&mut client, &key, al_case(pb::CaseKind::RefundOnly, "h-1")).await;
    // Escalated after 60 minutes, the platform rules for the buyer: intervened and disputed.
    let disputed = create(&mut client, &key, al_case(pb::CaseKind::RefundOnly, "h-2")).await;
    // Left alone: AL-02 agrees it when its clock runs out.
    let ignored = create(&mut client, &key, al_case(pb::CaseKind::RefundOnly, "h-3")).await;
    server.clock.advance(Duration::minutes(30));
    agree(&mut client, &key, &quick.name, None).await.unwrap();
    server.clock.advance(Duration::minutes(30));
    client
        .escalate_case(authed(
            &key,
            pb::EscalateCaseRequest {
                name: disputed.name.clone(),
                reason: "buyer insists".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    client
        .record_ruling(authed(
            &key,
            pb::RecordRulingRequest {
                name: disputed.name.clone(),
                in_favour_of: pb::RulingFor::Buyer as i32,
                note: "refund".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    server.advance_and_sweep(Duration::days(6)).await;
    assert_eq!(
        get(&mut client, &key, &ignored.name).await.state,
        pb::CaseState::Refunded as i32
    );
    // asking the buyer afterwards is not a response to the request; the ignored case
    // stays unanswered in the figures below.
    client
        .record_satisfaction_check(authed(
            &key,
            pb::RecordSatisfactionCheckRequest {
                name: ignored.name.clone(),
                outcome: pb::SatisfactionOutcome::Satisfied as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("satisfaction check");

    let health = |from: DateTime<Utc>, to: DateTime<Utc>| pb::GetShopHealthRequest {
        start_time: Some(ts(from)),
        end_time: Some(ts(to)),
        platform: "alibaba1688".into(),
        shop: SHOP.into(),
    };
    let h = client
        .get_shop_health(authed(&key, health(start, start + Duration::days(1))))
        .await
        .expect("health")
        .into_inner();
    let [shop] = h.shops.as_slice() else {
        panic!("one shop: {h:?}")
    };
    assert_eq!((shop.cases, shop.intervened, shop.disputed), (3, 1, 1));
    assert!((shop.intervention_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        (
            shop.resolved,
            shop.resolved_on_time,
            shop.resolved_after_deadline
        ),
        (3, 2, 1)
    );
    // First responses: 30 min (agree) and 60 min (escalate); the lower middle is 30 min. The
    // satisfaction check on the ignored case six days later is not one.
    assert_eq!(
        (shop.responded, shop.median_first_response_seconds),
        (2, Some(1800))
    );
    // one resolved case checked, satisfied; the others not asked.
    assert_eq!(
        (
            shop.satisfaction_checked,
            shop.satisfied,
            shop.dissatisfied,
            shop.satisfaction_rate
        ),
        (1, 1, 0, Some(1.0))
    );

    let earlier = client
        .get_shop_health(authed(&key, health(start - Duration::days(2), start)))
        .await
        .unwrap()
        .into_inner();
    assert!(earlier.shops.is_empty(), "the window is of case creation");
    let err = client
        .get_shop_health(authed(&key, health(start, start)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}

/// AL-10 … AL-12 as a case: it follows each evaluation — the merchant has work while the
/// deposit is held, then it waits for the unfreeze date, a deadline that fires on the day;
/// the merchant transfers the money out and closes it.
async fn al_12_deposit_release_case_tracks_its_steps(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    server.clock.set(bj("2026-04-01 09:00:00"));
    let mut c = al_case(pb::CaseKind::DepositRelease, "");
    c.order_id = String::new();
    c.requested_refund_fen = 0;
    c.order_total_fen = 0;
    let case = create(&mut client, &key, c).await;
    let evaluate = |resolved: bool| {
        let mut req = history(resolved);
        req.name = case.name.clone();
        req
    };
    client
        .evaluate_deposit_release(authed(&key, evaluate(false)))
        .await
        .expect("evaluate");
    let held = get(&mut client, &key, &case.name).await;
    assert_eq!(held.state, pb::CaseState::AwaitingMerchant as i32);
    let tracking = held.deposit.expect("the evaluation is kept");
    assert_eq!(tracking.step, 1, "a sub-service is still open");
    assert!(
        tracking.blockers.iter().any(|b| b.starts_with("AL-10")),
        "{:?}",
        tracking.blockers
    );

    client
        .evaluate_deposit_release(authed(&key, evaluate(true)))
        .await
        .expect("evaluate");
    let waiting = get(&mut client, &key, &case.name).await;
    assert_eq!(
        waiting.state,
        pb::CaseState::AwaitingMerchantExecution as i32
    );
    let unfreeze = waiting
        .deadlines
        .iter()
        .find(|d| d.key == "deposit_unfreeze" && d.state == pb::DeadlineState::Active as i32)
        .expect("the unfreeze date is the case's deadline");
    assert_eq!(time_of(&unfreeze.due_time), bj("2026-04-30 00:00:00"));
    assert_eq!(
        (unfreeze.rule_id.as_str(), unfreeze.source),
        ("AL-12", pb::DeadlineSource::Facts as i32)
    );

    server.clock.set(bj("2026-04-30 00:00:00"));
    assert_eq!(server.sweep().await.expired, 1);
    let events = events_of(&mut client, &key, &case.name).await;
    let fired = events
        .iter()
        .find(|e| e.r#type == "deadline_expired")
        .unwrap();
    assert_eq!(detail(fired)["consequence"], "deposit_unfrozen");
    let closed = client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: case.name.clone(),
                reason: "deposit transferred out (转出)".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("close")
        .into_inner();
    assert_eq!(closed.state, pb::CaseState::Closed as i32);
    server.stop().await;
}

on_both_backends!(
    al_12_deposit_release_case_tracks_its_steps,
    al_23_shop_health_over_a_window,
    al_01_return_needs_a_complete_plan,
    al_02_gmt_time_out_then_auto_agree,
    al_03_tracking_changes_are_recorded,
    al_03_retried_tracking_change_answers_once,
    al_10_al_11_al_12_deposit_release_from_a_shop_history,
    al_13_anxin_gou_trades_leave_90_days_after_they_finish,
    al_20_al_21_al_22_appeals_and_rulings,
);
