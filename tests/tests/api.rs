//! End to end through the gRPC API, every test on SQLite and on PostgreSQL.

use aftersales_domain::access::Role;
use aftersales_domain::Clock;
use aftersales_tests::{
    authed, create, event_types, events_of, ingest, manual_case, next_event, on_both_backends, pb,
    reason, test_epoch, violated_fields, Backend, TaobaoRefund, TestServer, SHOP,
};
use chrono::Duration;
use tokio_stream::StreamExt;
use tonic::Code;

const TENANT: &str = "acme";

/// A Taobao refund ingested, read back with money in exact fen, the raw status beside the
/// normalised state, and the TB-07 five-day merchant deadline from the Taobao policy.
async fn tb_07_ingest_taobao_refund_and_read_it_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;

    let resp = ingest(
        &mut client,
        &key,
        &TaobaoRefund::signed_return("8123456789012345678"),
    )
    .await
    .unwrap();
    assert_eq!(resp.outcome, pb::IngestOutcome::Created as i32);
    let created = resp.case.unwrap();
    let got = client
        .get_case(authed(
            &key,
            pb::GetCaseRequest {
                name: created.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);
    assert_eq!(got.platform, "taobao");
    assert_eq!(got.shop, SHOP);
    assert_eq!(got.platform_case_id, "8123456789012345678");
    assert_eq!(got.kind, pb::CaseKind::ReturnAndRefund as i32);
    assert_eq!(got.state, pb::CaseState::AwaitingMerchant as i32);
    assert_eq!(got.requested_refund_fen, 20007);
    assert_eq!(got.order_total_fen, 25900);
    assert_eq!(
        got.platform_status.as_ref().unwrap().code,
        "WAIT_SELLER_AGREE"
    );
    assert_eq!(got.platform_version, 1_763_690_000_000);
    assert!(
        got.policy_version.starts_with("taobao-"),
        "{}",
        got.policy_version
    );
    assert_eq!(got.etag, "\"1\"");
    // TB-07: opened 2026-11-21 09:30 Beijing (01:30Z); five days to answer.
    let due = got.next_deadline_time.expect("a running deadline");
    let merchant = got
        .deadlines
        .iter()
        .find(|d| d.rule_id == "TB-07" && d.state == pb::DeadlineState::Active as i32)
        .expect("TB-07 deadline");
    assert_eq!(merchant.due_time.as_ref().unwrap().seconds, due.seconds);
    assert_eq!(
        merchant.due_time.as_ref().unwrap().seconds,
        (chrono::DateTime::parse_from_rfc3339("2026-11-26T01:30:00Z").unwrap()).timestamp()
    );
    assert_eq!(merchant.consequence, "auto_agree");

    let events = events_of(&mut client, &key, &got.name).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].r#type, "case_created");
    assert_eq!(events[0].actor_kind, pb::ActorKind::Platform as i32);
    server.stop().await;
}

/// Idempotent on (platform, platform case id, version): the same version changes nothing, a
/// newer one is applied, an older one is recorded and not applied.
async fn ingest_is_idempotent_and_refuses_stale_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let mut rec = TaobaoRefund::signed_return("9001");
    let first = ingest(&mut client, &key, &rec).await.unwrap().case.unwrap();

    let again = ingest(&mut client, &key, &rec).await.unwrap();
    assert_eq!(again.outcome, pb::IngestOutcome::Unchanged as i32);
    assert_eq!(again.case.unwrap().etag, first.etag);

    rec.status = "WAIT_BUYER_RETURN_GOODS";
    rec.version_ms += 60_000;
    let newer = ingest(&mut client, &key, &rec).await.unwrap();
    assert_eq!(newer.outcome, pb::IngestOutcome::Updated as i32);
    let newer = newer.case.unwrap();
    assert_eq!(newer.name, first.name, "same platform record, same case");
    assert_eq!(newer.state, pb::CaseState::AwaitingBuyer as i32);
    assert_eq!(newer.etag, "\"2\"");

    rec.status = "WAIT_SELLER_AGREE";
    rec.version_ms -= 30_000;
    let stale = ingest(&mut client, &key, &rec).await.unwrap();
    assert_eq!(stale.outcome, pb::IngestOutcome::Stale as i32);
    let now = client
        .get_case(authed(
            &key,
            pb::GetCaseRequest {
                name: first.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        now.state,
        pb::CaseState::AwaitingBuyer as i32,
        "a stale record is never applied"
    );
    assert_eq!(now.etag, "\"2\"");
    assert_eq!(
        event_types(&mut client, &key, &first.name).await,
        ["case_created", "platform_updated", "stale_platform_record"]
    );
    server.stop().await;
}

/// A newer record that asks for a move the state machine forbids is refused with a clear
/// error and recorded, never applied silently.
async fn illegal_platform_transition_is_refused_and_recorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let mut rec = TaobaoRefund::signed_return("9002");
    rec.status = "SUCCESS";
    let case = ingest(&mut client, &key, &rec).await.unwrap().case.unwrap();
    assert_eq!(case.state, pb::CaseState::Refunded as i32);
    assert_eq!(case.refunded_fen, 20007);

    rec.status = "WAIT_SELLER_AGREE";
    rec.version_ms += 1000;
    let err = ingest(&mut client, &key, &rec).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "ILLEGAL_TRANSITION");
    assert!(
        err.message().contains("refunded") && err.message().contains("awaiting_merchant"),
        "{}",
        err.message()
    );
    let after = client
        .get_case(authed(
            &key,
            pb::GetCaseRequest {
                name: case.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.state, pb::CaseState::Refunded as i32);
    let last = events_of(&mut client, &key, &case.name)
        .await
        .pop()
        .unwrap();
    assert_eq!(last.r#type, "transition_refused");
    server.stop().await;
}

/// An unknown raw status is an error carrying the platform, the field path and the raw value.
async fn unknown_platform_status_is_a_field_violation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let mut rec = TaobaoRefund::signed_return("9003");
    rec.status = "WAIT_SOMETHING_NEW";
    let err = ingest(&mut client, &key, &rec).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(reason(&err), "MALFORMED_NATIVE_RECORD");
    assert!(
        err.message().contains("WAIT_SOMETHING_NEW"),
        "{}",
        err.message()
    );
    let fields = violated_fields(&err);
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("native_record_json.") && f.ends_with("status")),
        "{fields:?}"
    );

    let err = client
        .ingest_platform_case(authed(
            &key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "douyin".into(),
                native_record_json: "{}".into(),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["platform"]);
    server.stop().await;
}

async fn count_matching(
    client: &mut pb::aftersales_service_client::AftersalesServiceClient<tonic::transport::Channel>,
    key: &str,
    filter: &str,
) -> usize {
    let req = pb::ListCasesRequest {
        page_size: 100,
        page_token: String::new(),
        filter: filter.into(),
    };
    client
        .list_cases(authed(key, req))
        .await
        .expect(filter)
        .into_inner()
        .cases
        .len()
}

/// ListCases pages with opaque tokens and filters by platform, shop, kind, state, deadline
/// and update time.
async fn list_cases_pages_and_filters(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let mut names = Vec::new();
    for i in 0..12 {
        let kind = if i % 3 == 0 {
            pb::CaseKind::Reship
        } else {
            pb::CaseKind::ReturnAndRefund
        };
        let mut c = manual_case(kind, &format!("order-{i}"));
        if i % 2 == 0 {
            c.shop = "pdd-outlet".into();
        }
        names.push(create(&mut client, &key, c).await.name);
        server.clock.advance(Duration::minutes(1));
    }
    // Page through everything, 5 at a time.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_cases(authed(
                &key,
                pb::ListCasesRequest {
                    page_size: 5,
                    page_token: token.clone(),
                    filter: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.cases.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names, "every case once, in creation order");

    assert_eq!(
        count_matching(&mut client, &key, "shop = \"pdd-outlet\"").await,
        6
    );
    assert_eq!(count_matching(&mut client, &key, "kind = RESHIP").await, 4);
    assert_eq!(
        count_matching(&mut client, &key, "kind = RESHIP AND shop = \"pdd-outlet\"").await,
        2
    );
    assert_eq!(
        count_matching(
            &mut client,
            &key,
            "platform = \"taobao\" AND state = AWAITING_MERCHANT"
        )
        .await,
        12
    );
    assert_eq!(
        count_matching(&mut client, &key, "state = REFUNDED").await,
        0
    );
    // Manual return cases start the TB-07 five-day clock at creation, one minute apart; the
    // Taobao policy has no merchant deadline for a reship request, so those never match.
    let cutoff = (test_epoch() + Duration::days(5) + Duration::seconds(150)).to_rfc3339();
    assert_eq!(
        count_matching(
            &mut client,
            &key,
            &format!("next_deadline_time < \"{cutoff}\"")
        )
        .await,
        2
    );
    assert_eq!(
        count_matching(
            &mut client,
            &key,
            &format!("next_deadline_time >= \"{cutoff}\"")
        )
        .await,
        6
    );
    let later = (test_epoch() + Duration::seconds(330)).to_rfc3339();
    assert_eq!(
        count_matching(&mut client, &key, &format!("update_time > \"{later}\"")).await,
        6
    );
    let list = |filter: &str| pb::ListCasesRequest {
        page_size: 100,
        page_token: String::new(),
        filter: filter.into(),
    };

    let err = client
        .list_cases(authed(&key, list("buyer = \"x\"")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["filter"]);
    // A token is bound to its filter and cannot be forged.
    let page = client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                page_size: 2,
                page_token: String::new(),
                filter: "kind = RESHIP".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let err = client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                page_size: 2,
                page_token: page.next_page_token.clone(),
                filter: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_token"]);
    let err = client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                page_size: -1,
                page_token: String::new(),
                filter: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);
    server.stop().await;
}

/// The return-and-refund path through every merchant action, with TB-08, TB-09 and TB-10.
async fn tb_08_tb_09_tb_10_return_flow_through_each_action(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let case = ingest(&mut client, &key, &TaobaoRefund::signed_return("7001"))
        .await
        .unwrap()
        .case
        .unwrap();
    let name = case.name.clone();

    let agreed = client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(agreed.state, pb::CaseState::AwaitingBuyer as i32);
    assert!(
        agreed
            .deadlines
            .iter()
            .any(|d| d.rule_id == "TB-08" && d.state == pb::DeadlineState::Active as i32),
        "TB-08: the buyer now has 7 days to ship the return"
    );
    assert!(agreed
        .deadlines
        .iter()
        .any(|d| d.rule_id == "TB-07" && d.state == pb::DeadlineState::Met as i32));

    let shipment = pb::Shipment {
        carrier: "中通快递".into(),
        tracking_number: "ZT7700112233".into(),
        ship_time: None,
    };
    let shipped = client
        .record_return_shipment(authed(
            &key,
            pb::RecordReturnShipmentRequest {
                name: name.clone(),
                shipment: Some(shipment.clone()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shipped.state, pb::CaseState::ReturnInTransit as i32);
    assert_eq!(
        shipped.return_shipment.as_ref().unwrap().tracking_number,
        "ZT7700112233"
    );
    assert!(shipped
        .deadlines
        .iter()
        .any(|d| d.rule_id == "TB-10" && d.state == pb::DeadlineState::Active as i32));

    // TB-09: return information cannot be changed once submitted.
    let mut other = shipment.clone();
    other.tracking_number = "SF000".into();
    let err = client
        .record_return_shipment(authed(
            &key,
            pb::RecordReturnShipmentRequest {
                name: name.clone(),
                shipment: Some(other),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "RETURN_SHIPMENT_IMMUTABLE");

    let received = client
        .confirm_return_received(authed(
            &key,
            pb::ConfirmReturnReceivedRequest {
                name: name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        received.state,
        pb::CaseState::AwaitingMerchantExecution as i32
    );
    let refunded = client
        .refund_case(authed(
            &key,
            pb::RefundCaseRequest {
                name: name.clone(),
                amount_fen: Some(19000),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refunded.state, pb::CaseState::Refunded as i32);
    assert_eq!(refunded.refunded_fen, 19000);
    assert!(
        refunded.next_deadline_time.is_none(),
        "nothing is due on a resolved case"
    );

    let events = events_of(&mut client, &key, &name).await;
    let types: Vec<&str> = events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        types,
        [
            "case_created",
            "merchant_agreed",
            "return_shipment_recorded",
            "action_refused",
            "return_received",
            "merchant_refunded"
        ]
    );
    assert!(events[1..]
        .iter()
        .all(|e| e.actor == "alice" && e.actor_kind == pb::ActorKind::Merchant as i32));
    server.stop().await;
}

/// Reject, escalate, close; reship; and illegal actions refused and recorded.
async fn reject_escalate_close_reship_and_illegal_actions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;

    let c = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::ReturnAndRefund, "o-1"),
    )
    .await;
    let err = client
        .reject_case(authed(
            &key,
            pb::RejectCaseRequest {
                name: c.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&err),
        ["reason"],
        "a rejection must say why"
    );
    let rejected = client
        .reject_case(authed(
            &key,
            pb::RejectCaseRequest {
                name: c.name.clone(),
                reason: "已超过退货期".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.state, pb::CaseState::AwaitingBuyer as i32);
    let escalated = client
        .escalate_case(authed(
            &key,
            pb::EscalateCaseRequest {
                name: c.name.clone(),
                reason: "buyer unresponsive".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(escalated.state, pb::CaseState::PlatformIntervening as i32);
    let closed = client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: c.name.clone(),
                reason: "platform ruled for merchant".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, pb::CaseState::Closed as i32);
    // Illegal: a closed case cannot be agreed to.
    let err = client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: c.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "ACTION_NOT_ALLOWED_IN_STATE");
    let last = events_of(&mut client, &key, &c.name).await.pop().unwrap();
    assert_eq!(last.r#type, "action_refused");

    let r = create(&mut client, &key, manual_case(pb::CaseKind::Reship, "o-2")).await;
    let agreed = client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: r.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        agreed.state,
        pb::CaseState::AwaitingMerchantExecution as i32
    );
    let err = client
        .record_reship(authed(
            &key,
            pb::RecordReshipRequest {
                name: r.name.clone(),
                shipment: Some(pb::Shipment::default()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["shipment.carrier", "shipment.tracking_number"]);
    let reshipped = client
        .record_reship(authed(
            &key,
            pb::RecordReshipRequest {
                name: r.name.clone(),
                shipment: Some(pb::Shipment {
                    carrier: "顺丰速运".into(),
                    tracking_number: "SF1234567890".into(),
                    ship_time: None,
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reshipped.state, pb::CaseState::Reshipped as i32);
    assert_eq!(reshipped.reship_shipment.unwrap().carrier, "顺丰速运");
    server.stop().await;
}

/// A stale etag is refused with ABORTED; the right one succeeds.
async fn etag_mismatch_is_aborted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let c = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::ReturnAndRefund, "o-9"),
    )
    .await;
    let stale = c.etag.clone();
    let agreed = client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: c.name.clone(),
                etag: stale.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let err = client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: c.name.clone(),
                etag: stale,
                reason: "dup".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(reason(&err), "ETAG_MISMATCH");
    let closed = client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: c.name.clone(),
                etag: agreed.etag,
                reason: "dup".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, pb::CaseState::Closed as i32);
    server.stop().await;
}

/// A retry with the same request_id returns the first answer and has no second effect; the
/// same id with a different request is refused.
async fn duplicate_request_id_returns_first_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let create_req = pb::CreateCaseRequest {
        case: Some(manual_case(pb::CaseKind::RefundOnly, "o-5")),
        request_id: "4b7f2a8e-create".into(),
    };
    let first = client
        .create_case(authed(&key, create_req.clone()))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .create_case(authed(&key, create_req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, second);
    let all = client
        .list_cases(authed(&key, pb::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.cases.len(), 1, "the retry created nothing");

    let reject = pb::RejectCaseRequest {
        name: first.name.clone(),
        reason: "no".into(),
        request_id: "4b7f2a8e-reject".into(),
        ..Default::default()
    };
    let a = client
        .reject_case(authed(&key, reject.clone()))
        .await
        .unwrap()
        .into_inner();
    let b = client
        .reject_case(authed(&key, reject.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a, b);
    let rejections = events_of(&mut client, &key, &first.name)
        .await
        .into_iter()
        .filter(|e| e.r#type == "merchant_rejected")
        .count();
    assert_eq!(rejections, 1);
    let mut changed = reject;
    changed.reason = "different".into();
    let err = client.reject_case(authed(&key, changed)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(reason(&err), "REQUEST_ID_REUSED");
    server.stop().await;
}

/// Another tenant's key sees nothing: NOT_FOUND, empty lists, and no way to act.
async fn another_tenants_key_sees_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let intruder = server.key("globex", "mallory", Role::Owner, true).await;
    let mut client = server.client().await;
    let c = ingest(&mut client, &key, &TaobaoRefund::signed_return("5005"))
        .await
        .unwrap()
        .case
        .unwrap();

    let err = client
        .get_case(authed(
            &intruder,
            pb::GetCaseRequest {
                name: c.name.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .agree_case(authed(
            &intruder,
            pb::AgreeCaseRequest {
                name: c.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .list_case_events(authed(
            &intruder,
            pb::ListCaseEventsRequest {
                parent: c.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(client
        .list_cases(authed(&intruder, pb::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .cases
        .is_empty());
    // Ingesting the same platform record under another tenant makes that tenant's own case.
    let theirs = ingest(&mut client, &intruder, &TaobaoRefund::signed_return("5005"))
        .await
        .unwrap();
    assert_eq!(theirs.outcome, pb::IngestOutcome::Created as i32);
    let theirs = theirs.case.unwrap();
    assert_ne!(theirs.name, c.name);
    // The intruder's event feed holds only its own case.
    let mut stream = client
        .watch_case_events(authed(
            &intruder,
            pb::WatchCaseEventsRequest { after_sequence: 0 },
        ))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .event
        .unwrap();
    assert_eq!(
        (first.sequence, first.case.as_str()),
        (1, theirs.name.as_str())
    );
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), stream.next())
            .await
            .is_err()
    );
    server.stop().await;
}

/// Bad arguments come back as INVALID_ARGUMENT with one field violation per bad field.
async fn bad_arguments_name_every_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let bad = pb::Case {
        shop: "Not A Slug".into(),
        platform: "taobao".into(),
        requested_refund_fen: -5,
        ..Default::default()
    };
    let err = client
        .create_case(authed(
            &key,
            pb::CreateCaseRequest {
                case: Some(bad),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        ["case.kind", "case.requested_refund_fen", "case.shop"]
    );
    let err = client
        .get_case(authed(
            &key,
            pb::GetCaseRequest {
                name: "orders/1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["name"]);
    let err = client
        .get_case(authed(
            &key,
            pb::GetCaseRequest {
                name: "cases/0190a0a0-0000-7000-8000-000000000000".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

/// Keys and roles: no key is UNAUTHENTICATED, a viewer reads but cannot act, and (TB-22) an
/// account without the platform-task permission can read a platform task but not answer it.
async fn tb_22_roles_and_platform_task_permission(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.key(TENANT, "boss", Role::Owner, true).await;
    let viewer = server.key(TENANT, "auditor", Role::Viewer, false).await;
    let agent = server.key(TENANT, "temp-staff", Role::Agent, false).await;
    let mut client = server.client().await;

    let err = client
        .list_cases(pb::ListCasesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = client
        .list_cases(authed(
            "ask_0000000000000000_nope",
            pb::ListCasesRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let task = create(
        &mut client,
        &owner,
        manual_case(pb::CaseKind::SignedElsewhereTask, "o-task"),
    )
    .await;
    let err = client
        .create_case(authed(
            &agent,
            pb::CreateCaseRequest {
                case: Some(manual_case(pb::CaseKind::SignedElsewhereTask, "o-t2")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let seen = client
        .get_case(authed(
            &agent,
            pb::GetCaseRequest {
                name: task.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.kind, pb::CaseKind::SignedElsewhereTask as i32);
    let err = client
        .close_case(authed(
            &agent,
            pb::CloseCaseRequest {
                name: task.name.clone(),
                reason: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err), "PLATFORM_TASK_PERMISSION_REQUIRED");

    let err = client
        .close_case(authed(
            &viewer,
            pb::CloseCaseRequest {
                name: task.name.clone(),
                reason: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(client
        .get_case(authed(
            &viewer,
            pb::GetCaseRequest {
                name: task.name.clone()
            }
        ))
        .await
        .is_ok());
    let closed = client
        .close_case(authed(
            &owner,
            pb::CloseCaseRequest {
                name: task.name.clone(),
                reason: "handled on platform".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, pb::CaseState::Closed as i32);
    server.stop().await;
}

/// WatchCaseEvents delivers the tenant's events in order and resumes from a cursor with no
/// gaps and no repeats.
async fn watch_case_events_resumes_from_cursor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let other = server.key("globex", "bob", Role::Agent, false).await;
    let mut client = server.client().await;
    let a = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::ReturnAndRefund, "w-1"),
    )
    .await;
    create(
        &mut client,
        &other,
        manual_case(pb::CaseKind::ReturnAndRefund, "w-x"),
    )
    .await;
    client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: a.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();

    let mut stream = client
        .watch_case_events(authed(
            &key,
            pb::WatchCaseEventsRequest { after_sequence: 0 },
        ))
        .await
        .unwrap()
        .into_inner();
    let e1 = next_event(&mut stream).await;
    let e2 = next_event(&mut stream).await;
    assert_eq!((e1.sequence, e1.r#type.as_str()), (1, "case_created"));
    assert_eq!((e2.sequence, e2.r#type.as_str()), (2, "merchant_agreed"));
    // Live: an event written after the stream opened arrives on it.
    let b = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "w-2"),
    )
    .await;
    let e3 = next_event(&mut stream).await;
    assert_eq!((e3.sequence, e3.case.as_str()), (3, b.name.as_str()));
    drop(stream);

    // Disconnected: two more events happen; resuming after 3 yields exactly 4 and 5.
    client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: b.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: a.name.clone(),
                reason: "done".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let mut resumed = client
        .watch_case_events(authed(
            &key,
            pb::WatchCaseEventsRequest {
                after_sequence: e3.sequence,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let e4 = next_event(&mut resumed).await;
    let e5 = next_event(&mut resumed).await;
    assert_eq!((e4.sequence, e4.r#type.as_str()), (4, "merchant_agreed"));
    assert_eq!((e5.sequence, e5.r#type.as_str()), (5, "merchant_closed"));
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(400), resumed.next())
            .await
            .is_err(),
        "nothing more"
    );
    server.stop().await;
}

/// GetPolicy answers the version in force at a time, or a named version; health and
/// reflection need no key.
async fn policy_health_and_reflection(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Viewer, false).await;
    let mut client = server.client().await;
    let now = client
        .get_policy(authed(
            &key,
            pb::GetPolicyRequest {
                name: "platforms/taobao/policies/-".into(),
                effective_time: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.platform, "taobao");
    assert_eq!(now.after_sales_window_days, 15, "TB-01");
    assert!(now
        .deadlines
        .iter()
        .any(|d| d.rule_id == "TB-07" && d.due_after == "5d"));
    let named = client
        .get_policy(authed(
            &key,
            pb::GetPolicyRequest {
                name: now.name.clone(),
                effective_time: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named, now);
    let before = client
        .get_policy(authed(
            &key,
            pb::GetPolicyRequest {
                name: "platforms/taobao/policies/-".into(),
                effective_time: Some(prost_types::Timestamp {
                    seconds: 946_684_800,
                    nanos: 0,
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(before.code(), Code::NotFound);

    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "aftersales.v1.AftersalesService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1alpha::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, ServerReflectionRequest,
    };
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let listed = format!("{:?}", resp.next().await.unwrap().unwrap());
    assert!(
        listed.contains("aftersales.v1.AftersalesService"),
        "{listed}"
    );
    server.stop().await;
}

async fn check_satisfaction(
    client: &mut pb::aftersales_service_client::AftersalesServiceClient<tonic::transport::Channel>,
    key: &str,
    request: pb::RecordSatisfactionCheckRequest,
) -> Result<pb::Case, tonic::Status> {
    client
        .record_satisfaction_check(authed(key, request))
        .await
        .map(|r| r.into_inner())
}

async fn names_matching(
    client: &mut pb::aftersales_service_client::AftersalesServiceClient<tonic::transport::Channel>,
    key: &str,
    filter: &str,
) -> Vec<String> {
    let req = pb::ListCasesRequest {
        page_size: 100,
        page_token: String::new(),
        filter: filter.into(),
    };
    let mut names: Vec<String> = client
        .list_cases(authed(key, req))
        .await
        .expect(filter)
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    names
}

/// once a case is resolved — on any platform — the merchant records how the buyer
/// feels about it (售后回访); the case stays resolved, the check is in its record, and
/// ListCases finds the resolved cases nobody has asked yet and the unhappy buyers.
async fn x03_satisfaction_checks_after_resolution(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let unhappy = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "x3-1"),
    )
    .await;
    let happy = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "x3-2"),
    )
    .await;
    let open = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "x3-3"),
    )
    .await;
    let mut jd = manual_case(pb::CaseKind::ReturnAndRefund, "x3-4");
    jd.platform = "jd".into();
    let jd = create(&mut client, &key, jd).await;

    // Open: the buyer's satisfaction is still the case itself.
    let err = check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: open.name.clone(),
            outcome: pb::SatisfactionOutcome::Satisfied as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (Code::FailedPrecondition, "ACTION_NOT_ALLOWED_IN_STATE")
    );
    assert_eq!(
        count_matching(&mut client, &key, "satisfaction = UNCHECKED").await,
        0
    );

    for c in [&unhappy, &happy] {
        let agreed = client
            .agree_case(authed(
                &key,
                pb::AgreeCaseRequest {
                    name: c.name.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect("agree")
            .into_inner();
        assert_eq!(agreed.state, pb::CaseState::Refunded as i32);
    }
    let closed = client
        .close_case(authed(
            &key,
            pb::CloseCaseRequest {
                name: jd.name.clone(),
                reason: "buyer kept the goods".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("close")
        .into_inner();
    let mut resolved = vec![unhappy.name.clone(), happy.name.clone(), jd.name.clone()];
    resolved.sort();
    assert_eq!(
        names_matching(&mut client, &key, "satisfaction = UNCHECKED").await,
        resolved,
        "the call list: resolved, nobody asked yet"
    );

    // The outcome is required; a dissatisfied buyer's answer must be written down.
    let err = check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: unhappy.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), violated_fields(&err)),
        (Code::InvalidArgument, vec!["outcome".to_string()])
    );
    let err = check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: unhappy.name.clone(),
            outcome: pb::SatisfactionOutcome::Dissatisfied as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.code(), violated_fields(&err)),
        (Code::InvalidArgument, vec!["note".to_string()])
    );

    let before = server.clock.now();
    let unhappy_check = pb::RecordSatisfactionCheckRequest {
        name: unhappy.name.clone(),
        outcome: pb::SatisfactionOutcome::Dissatisfied as i32,
        note: "退款少了5元运费".into(),
        review_invited: false,
        request_id: "x3-unhappy-1".into(),
        ..Default::default()
    };
    let checked = check_satisfaction(&mut client, &key, unhappy_check.clone())
        .await
        .expect("dissatisfied check");
    assert_eq!(
        checked.state,
        pb::CaseState::Refunded as i32,
        "stays resolved"
    );
    assert!(checked.next_deadline_time.is_none(), "no clock starts");
    let [recorded] = checked.satisfaction_checks.as_slice() else {
        panic!("one check: {:?}", checked.satisfaction_checks)
    };
    assert_eq!(
        (
            recorded.outcome,
            recorded.note.as_str(),
            recorded.review_invited,
            recorded.recorded_by.as_str()
        ),
        (
            pb::SatisfactionOutcome::Dissatisfied as i32,
            "退款少了5元运费",
            false,
            "alice"
        )
    );
    assert_eq!(
        aftersales_tests::time_of(&recorded.record_time),
        before,
        "recorded at the service's clock"
    );
    // An ERP's retry of the same request answers the first call and records nothing twice.
    let retried = check_satisfaction(&mut client, &key, unhappy_check)
        .await
        .expect("retry");
    assert_eq!(retried, checked);
    assert_eq!(
        aftersales_tests::get(&mut client, &key, &unhappy.name)
            .await
            .satisfaction_checks
            .len(),
        1
    );

    // A stale etag is refused like any other change; the current one is taken.
    let err = check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: happy.name.clone(),
            outcome: pb::SatisfactionOutcome::Satisfied as i32,
            etag: "\"1\"".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let current = aftersales_tests::get(&mut client, &key, &happy.name).await;
    let happy_checked = check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: happy.name.clone(),
            outcome: pb::SatisfactionOutcome::Satisfied as i32,
            review_invited: true,
            etag: current.etag.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("satisfied check");
    assert_ne!(happy_checked.etag, current.etag);
    let jd_checked = check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: jd.name.clone(),
            outcome: pb::SatisfactionOutcome::Unreachable as i32,
            ..Default::default()
        },
    )
    .await
    .expect("a JD case is checked the same way");
    assert_eq!(jd_checked.state, closed.state);

    assert!(
        names_matching(&mut client, &key, "satisfaction = UNCHECKED")
            .await
            .is_empty()
    );
    assert_eq!(
        names_matching(&mut client, &key, "satisfaction = DISSATISFIED").await,
        [unhappy.name.as_str()]
    );
    assert_eq!(
        names_matching(
            &mut client,
            &key,
            "satisfaction = \"SATISFIED\" AND state = REFUNDED"
        )
        .await,
        [happy.name.as_str()]
    );
    assert_eq!(
        names_matching(
            &mut client,
            &key,
            "satisfaction = UNREACHABLE AND platform = \"jd\""
        )
        .await,
        [jd.name.as_str()]
    );
    // The latest check decides: the unreachable JD buyer answers on the second call.
    check_satisfaction(
        &mut client,
        &key,
        pb::RecordSatisfactionCheckRequest {
            name: jd.name.clone(),
            outcome: pb::SatisfactionOutcome::Satisfied as i32,
            ..Default::default()
        },
    )
    .await
    .expect("second call");
    assert!(
        names_matching(&mut client, &key, "satisfaction = UNREACHABLE")
            .await
            .is_empty()
    );
    assert_eq!(
        count_matching(&mut client, &key, "satisfaction = SATISFIED").await,
        2
    );
    let err = client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                filter: "satisfaction = HAPPY".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), violated_fields(&err)),
        (Code::InvalidArgument, vec!["filter".to_string()])
    );

    // the check is in the case's record.
    let events = events_of(&mut client, &key, &unhappy.name).await;
    let event = events
        .iter()
        .find(|e| e.r#type == "satisfaction_checked")
        .expect("recorded");
    let detail = aftersales_tests::detail(event);
    assert_eq!(
        (detail["rule"].as_str(), detail["outcome"].as_str()),
        (Some("X-03"), Some("dissatisfied"))
    );
    server.stop().await;
}

on_both_backends!(
    tb_07_ingest_taobao_refund_and_read_it_back,
    tb_07_get_case_answers_with_the_view_stored_at_each_write,
    ingest_is_idempotent_and_refuses_stale_versions,
    illegal_platform_transition_is_refused_and_recorded,
    unknown_platform_status_is_a_field_violation,
    list_cases_pages_and_filters,
    tb_08_tb_09_tb_10_return_flow_through_each_action,
    reject_escalate_close_reship_and_illegal_actions,
    etag_mismatch_is_aborted,
    duplicate_request_id_returns_first_answer,
    another_tenants_key_sees_nothing,
    bad_arguments_name_every_field,
    tb_22_roles_and_platform_task_permission,
    watch_case_events_resumes_from_cursor,
    policy_health_and_reflection,
    x03_satisfaction_checks_after_resolution,
);

/// Every case in the tenant as ListCases answers, by name.
async fn listed(client: &mut aftersales_tests::Client, key: &str) -> Vec<pb::Case> {
    let mut cases = client
        .list_cases(authed(
            key,
            pb::ListCasesRequest {
                page_size: 50,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .cases;
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// `cases` by name, as [`listed`] gives them.
fn by_name(mut cases: Vec<pb::Case>) -> Vec<pb::Case> {
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// The API as the generated service runs it when it is mounted without the server's
/// stored-view route (aftersales_api::case_views), called directly as an agent of a tenant.
struct Unrouted {
    api: aftersales_api::AftersalesApi,
    caller: aftersales_domain::access::Principal,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

impl Unrouted {
    fn new(server: &TestServer, tenant: &str, account: &str) -> Unrouted {
        let services = aftersales_server::Services::new(
            server.store.clone(),
            std::sync::Arc::new(server.clock.clone()),
        )
        .unwrap();
        let (shutdown, watching) = tokio::sync::watch::channel(false);
        let api = aftersales_api::AftersalesApi::new(
            services.store,
            services.adapters,
            services.policies,
            services.clock,
            aftersales_api::ApiConfig {
                page_token_secret: b"unrouted".to_vec(),
                watch_poll: std::time::Duration::from_millis(100),
            },
            watching,
        );
        let caller = aftersales_domain::access::Principal {
            tenant: aftersales_domain::TenantId::parse(tenant).unwrap(),
            account: account.into(),
            role: Role::Agent,
            platform_task: false,
            shops: aftersales_domain::access::ShopScope::AllShops,
            key_id: "unrouted".into(),
        };
        Unrouted {
            api,
            caller,
            _shutdown: shutdown,
        }
    }

    /// `message` as the gate hands it on once it has admitted the caller.
    fn admitted<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.extensions_mut().insert(self.caller.clone());
        request
    }

    async fn get(&self, name: &str) -> pb::Case {
        use pb::aftersales_service_server::AftersalesService;
        let request = self.admitted(pb::GetCaseRequest { name: name.into() });
        self.api.get_case(request).await.unwrap().into_inner()
    }

    async fn listed(&self) -> Vec<pb::Case> {
        use pb::aftersales_service_server::AftersalesService;
        let request = self.admitted(pb::ListCasesRequest {
            page_size: 50,
            ..Default::default()
        });
        by_name(
            self.api
                .list_cases(request)
                .await
                .unwrap()
                .into_inner()
                .cases,
        )
    }
}

/// The case as its stored body gives it, converted as GetCase did before views were stored.
async fn from_body(server: &TestServer, name: &str) -> pb::Case {
    let id = aftersales_domain::CaseId::parse(name.trim_start_matches("cases/")).unwrap();
    let tenant = aftersales_domain::TenantId::parse(TENANT).unwrap();
    let case = server.store.case(&tenant, &id).await.unwrap().unwrap();
    aftersales_api::convert::case_to_pb(case)
}

/// GetCase and ListCases answer with the view written beside each case (docs/benchmarks.md,
/// "stored views"): the message its body gives, after the ingest that opened the case and
/// after the TB-07 auto-agree the engine wrote. A view out of step with its row is never
/// served.
async fn tb_07_get_case_answers_with_the_view_stored_at_each_write(backend: Backend) {
    use aftersales_store::CaseRead;
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let refund = ingest(
        &mut client,
        &key,
        &TaobaoRefund::signed_return("8100000000000000001"),
    )
    .await
    .unwrap()
    .case
    .unwrap();
    let other = ingest(
        &mut client,
        &key,
        &TaobaoRefund::signed_return("8100000000000000002"),
    )
    .await
    .unwrap()
    .case
    .unwrap();
    let reader = client.clone();
    let get = |name: String| {
        let mut client = reader.clone();
        let key = key.clone();
        async move { aftersales_tests::get(&mut client, &key, &name).await }
    };
    assert_eq!(get(refund.name.clone()).await, refund);
    assert_eq!(refund, from_body(&server, &refund.name).await);
    assert_eq!(
        listed(&mut client, &key).await,
        by_name(vec![refund.clone(), other.clone()])
    );
    let id = refund.name.trim_start_matches("cases/");
    let stored = server
        .store
        .case_read(
            &aftersales_domain::TenantId::parse(TENANT).unwrap(),
            &aftersales_domain::CaseId::parse(id).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&stored, Some(CaseRead::View(v)) if v.bytes == prost::Message::encode_to_vec(&refund)),
        "the ingest stored the case's view: {stored:?}"
    );

    // The view is what is served: given another case's view (at this row's version and
    // format), GetCase and ListCases answer with that case.
    let swap =
        "UPDATE cases SET api_view = (SELECT o.api_view FROM cases o WHERE o.id = '{other}') \
                WHERE id = '{id}'";
    let other_id = other.name.trim_start_matches("cases/");
    server
        .execute_sql(&swap.replace("{other}", other_id).replace("{id}", id))
        .await;
    assert_eq!(get(refund.name.clone()).await, other);
    assert_eq!(
        listed(&mut client, &key).await,
        [other.clone(), other.clone()]
    );
    // Mounted without the server's route, the generated handlers answer with the same
    // stored views, decoded into messages.
    let unrouted = Unrouted::new(&server, TENANT, "alice");
    assert_eq!(unrouted.get(&refund.name).await, other);
    assert_eq!(unrouted.listed().await, [other.clone(), other.clone()]);
    // One a version behind its row (as a binary that keeps no views leaves it when it
    // updates the case) is not: the body answers.
    server
        .execute_sql(&format!(
            "UPDATE cases SET api_view_version = api_view_version - 1 WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(get(refund.name.clone()).await, refund);
    assert_eq!(
        listed(&mut client, &key).await,
        by_name(vec![refund.clone(), other.clone()])
    );
    assert_eq!(unrouted.get(&refund.name).await, refund);
    assert_eq!(
        unrouted.listed().await,
        by_name(vec![refund.clone(), other.clone()])
    );

    // TB-07: five days unanswered and the platform agrees for the merchant. The engine's
    // write renders the view again.
    server.advance_and_sweep(Duration::days(5)).await;
    let agreed = from_body(&server, &refund.name).await;
    assert_ne!(agreed.state, refund.state, "the deadline fired");
    assert_eq!(get(refund.name.clone()).await, agreed);
    assert!(matches!(
        server
            .store
            .case_read(
                &aftersales_domain::TenantId::parse(TENANT).unwrap(),
                &aftersales_domain::CaseId::parse(id).unwrap(),
            )
            .await
            .unwrap(),
        Some(CaseRead::View(_))
    ));
    let now = listed(&mut client, &key).await;
    assert_eq!(now.len(), 2);
    for case in &now {
        assert_eq!(case, &from_body(&server, &case.name).await);
        assert_eq!(&get(case.name.clone()).await, case);
    }

    // A release that renders differently starts (its format: no view is in it, and no pass
    // has run in it yet). Its background pass renders every view again, unasked.
    server
        .execute_sql("UPDATE cases SET api_view_format = api_view_format + 1")
        .await;
    server.execute_sql("DELETE FROM case_view_passes").await;
    let served_from_views = || async {
        let mut views = 0;
        for case in &now {
            let id = aftersales_domain::CaseId::parse(case.name.trim_start_matches("cases/"));
            let read = server
                .store
                .case_read(
                    &aftersales_domain::TenantId::parse(TENANT).unwrap(),
                    &id.unwrap(),
                )
                .await
                .unwrap();
            views += usize::from(matches!(read, Some(CaseRead::View(_))));
        }
        views
    };
    assert_eq!(served_from_views().await, 0);
    let replica = server.replica().await;
    let started = std::time::Instant::now();
    while served_from_views().await < now.len() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the new replica's pass did not render the views again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut replica_client = replica.client().await;
    for case in &now {
        assert_eq!(
            &aftersales_tests::get(&mut replica_client, &key, &case.name).await,
            case
        );
    }
    replica.stop_replica().await;
    server.stop().await;
}
