//! JD end to end through the gRPC API, on SQLite and on PostgreSQL: service orders from
//! application to refund (JD-01 … JD-05) with the assumed deadlines of JD-06, both native
//! shapes, refused unknown codes, and the same flow entered by hand.

use aftersales_tests::{
    authed, create, detail, events_of, get, manual_case, on_both_backends, pb, time_of, Backend,
    Client, TestServer,
};
use chrono::{DateTime, Duration, Utc};
use tonic::Code;

const TENANT: &str = "acme";
const SHOP: &str = "jd-pop-store";

fn bj(s: &str) -> DateTime<Utc> {
    aftersales_domain::time::parse_shanghai(s).unwrap()
}

/// A buyer-side (VOP) afs service detail at `step`, with extra fields (raw JSON).
fn vop(id: &str, step: &str, extra: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("afsServiceId".to_string(), id.to_string()),
        ("orderId".into(), "74040715959".into()),
        ("customerExpect".into(), "10".into()),
        ("afsServiceStep".into(), step.into()),
        ("afsApplyTime".into(), "\"2026-11-21 10:00:00\"".into()),
        ("afsServicePrice".into(), "\"199.00\"".into()),
        ("questionDesc".into(), "\"不要了\"".into()),
        (
            "serviceCustomerInfoDTO".into(),
            r#"{"customerPin": "hnlsdz2018", "customerName": "李楠"}"#.into(),
        ),
    ];
    for (k, v) in extra {
        fields.retain(|(f, _)| f != k);
        fields.push((k.to_string(), v.to_string()));
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    format!(
        r#"{{"success": true, "resultCode": "0000", "result": {{{}}}}}"#,
        body.join(", ")
    )
}

async fn ingest(client: &mut Client, key: &str, json: String) -> Result<pb::Case, tonic::Status> {
    client
        .ingest_platform_case(authed(
            key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "jd".into(),
                native_record_json: json,
                request_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner().case.expect("case"))
}

fn active<'a>(case: &'a pb::Case, rule: &str) -> &'a pb::Deadline {
    case.deadlines
        .iter()
        .find(|d| d.rule_id == rule && d.state == pb::DeadlineState::Active as i32)
        .unwrap_or_else(|| panic!("no active {rule} deadline: {:?}", case.deadlines))
}

/// JD-01 … JD-05 through ingest: the application awaits the merchant's review (JD-02, an
/// assumed 48 hours), the approved return waits for the buyer's waybill (JD-04: an assumed
/// 7 days whose lapse cancels the service order), and the process result ends it (JD-05).
async fn jd_01_to_jd_05_service_order_lifecycle(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let applied = ingest(&mut client, &key, vop("428264969", "10", &[]))
        .await
        .unwrap();
    assert_eq!(
        applied.kind,
        pb::CaseKind::ReturnAndRefund as i32,
        "JD-01 customerExpect 10"
    );
    assert_eq!(applied.state, pb::CaseState::AwaitingMerchant as i32);
    assert_eq!(
        applied.requested_refund_fen, 19900,
        "yuan to fen exactly (JD-03)"
    );
    let review = active(&applied, "JD-02");
    assert_eq!(
        time_of(&review.due_time),
        bj("2026-11-21 10:00:00") + Duration::hours(48)
    );
    assert!(review.assumed, "JD-06: no published period was found");

    // Approved; the buyer ships it back (approveResult 32) and has not uploaded a waybill.
    let waiting = ingest(
        &mut client,
        &key,
        vop(
            "428264969",
            "31",
            &[
                ("approvedResult", "32"),
                ("afsApplyTime", "\"2026-11-21 12:00:00\""),
            ],
        ),
    )
    .await
    .unwrap();
    assert_eq!(waiting.state, pb::CaseState::AwaitingBuyer as i32);
    let waybill = active(&waiting, "JD-04");
    assert_eq!(waybill.consequence, "auto_close");

    server.clock.set(time_of(&waybill.due_time));
    assert_eq!(server.sweep().await.expired, 1);
    let cancelled = get(&mut client, &key, &waiting.name).await;
    assert_eq!(
        cancelled.state,
        pb::CaseState::Expired as i32,
        "the service order is cancelled"
    );

    // Another service order that completes with a refund (processResult 40).
    let done = ingest(
        &mut client,
        &key,
        vop("428264970", "50", &[("processResult", "40")]),
    )
    .await
    .unwrap();
    assert_eq!(done.state, pb::CaseState::Refunded as i32);
    server.stop().await;
}

/// Every code that is not documented is refused with its raw value; the merchant (POP)
/// service order in 10005 (待收货) is the return on its way.
async fn jd_codes_unknown_are_refused_and_pop_10005_is_in_transit(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let err = ingest(&mut client, &key, vop("1", "25", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("afsServiceStep") && err.message().contains("25"),
        "{}",
        err.message()
    );
    let err = ingest(
        &mut client,
        &key,
        vop("2", "10", &[("customerExpect", "80")]),
    )
    .await
    .unwrap_err();
    assert!(
        err.message().contains("customerExpect"),
        "{}",
        err.message()
    );

    let pop = serde_json::json!({
        "jingdong_asc_query_view_responce": { "code": "0", "result": { "data": {
            "serviceId": 724578811u64, "orderId": 109113048299u64, "serviceStatus": 10005,
            "serviceStatusName": "待收货", "customerExpect": 10, "approveResult": 31,
            "pickwareType": 4, "questionDesc": "买错了", "serviceCount": 1,
            "applyTime": 1763690400000u64, "updateDate": 1763694000000u64,
            "serviceBillDetailList": [{"skuId": 59156590170u64, "payPrice": 2480, "actualPayPrice": 1419, "wareNum": 1}],
            "customerInfo": {"jdPin": "jd_4c9c41396a05b", "name": "丁天歌"},
        }}}
    })
    .to_string();
    let in_transit = ingest(&mut client, &key, pop.clone()).await.unwrap();
    assert_eq!(in_transit.state, pb::CaseState::ReturnInTransit as i32);
    assert_eq!(
        in_transit
            .platform_attributes
            .get("collection")
            .map(String::as_str),
        Some("pickup"),
        "JD-04 上门取件"
    );
    let other_status = pop.replace("10005", "10006");
    let err = ingest(&mut client, &key, other_status).await.unwrap_err();
    assert!(err.message().contains("10006"), "{}", err.message());
    server.stop().await;
}

/// The same flow entered by hand, under the JD policy: review, waybill, receipt, refund; and
/// GetPolicy shows every JD period as assumed (JD-06).
async fn jd_06_manual_flow_and_assumed_policy(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    let mut c = manual_case(pb::CaseKind::ReturnAndRefund, "jd-o-1");
    c.platform = "jd".into();
    c.shop = SHOP.into();
    let case = create(&mut client, &key, c).await;
    assert!(active(&case, "JD-02").assumed);
    let agreed = client
        .agree_case(authed(
            &key,
            pb::AgreeCaseRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        active(&agreed, "JD-04").consequence,
        "auto_close",
        "by hand, no platform status: the waybill clock runs"
    );
    let shipped = client
        .record_return_shipment(authed(
            &key,
            pb::RecordReturnShipmentRequest {
                name: case.name.clone(),
                shipment: Some(pb::Shipment {
                    carrier: "京东物流".into(),
                    tracking_number: "JDV001".into(),
                    ship_time: None,
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(active(&shipped, "JD-05").assumed);
    client
        .confirm_return_received(authed(
            &key,
            pb::ConfirmReturnReceivedRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let refunded = client
        .refund_case(authed(
            &key,
            pb::RefundCaseRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refunded.state, pb::CaseState::Refunded as i32);
    let events = events_of(&mut client, &key, &case.name).await;
    assert!(events
        .iter()
        .any(|e| e.r#type == "return_received" && detail(e).is_object()));

    let policy = client
        .get_policy(authed(
            &key,
            pb::GetPolicyRequest {
                name: "platforms/jd/policies/-".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!policy.deadlines.is_empty());
    for d in &policy.deadlines {
        assert!(
            d.assumed,
            "{}: JD publishes no period the service could find",
            d.key
        );
        assert!(d.rule_id.starts_with("JD-"), "{}", d.key);
    }
    server.stop().await;
}

/// Every documented step and process result through the API, each its own service order.
async fn jd_every_step_and_process_result_maps_through_the_api(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, TENANT).await;
    use pb::CaseState as S;
    let steps = [
        ("10", S::AwaitingMerchant),
        ("20", S::Closed),
        ("21", S::PlatformIntervening),
        ("22", S::AwaitingMerchant),
        ("31", S::ReturnInTransit),
        ("32", S::ReturnInTransit),
        ("33", S::PlatformIntervening),
        ("34", S::AwaitingMerchantExecution),
        ("40", S::AwaitingBuyer),
        ("60", S::Closed),
        ("100", S::Closed),
    ];
    for (i, (step, state)) in steps.iter().enumerate() {
        let case = ingest(&mut client, &key, vop(&format!("9100{i}"), step, &[]))
            .await
            .unwrap();
        assert_eq!(case.state, *state as i32, "afsServiceStep {step}");
        assert_eq!(case.platform_status.unwrap().code, *step);
    }
    let results = [
        ("40", "10", S::Refunded),
        ("23", "20", S::Exchanged),
        ("50", "20", S::Exchanged),
        ("90", "20", S::Exchanged),
        ("73", "30", S::Repaired),
        ("60", "10", S::Closed),
        ("71", "30", S::Closed),
        ("72", "30", S::Closed),
        ("80", "10", S::Closed),
    ];
    for (i, (result, expect, state)) in results.iter().enumerate() {
        let case = ingest(
            &mut client,
            &key,
            vop(
                &format!("9200{i}"),
                "50",
                &[("processResult", result), ("customerExpect", expect)],
            ),
        )
        .await
        .unwrap();
        assert_eq!(case.state, *state as i32, "processResult {result}");
    }
    let err = ingest(
        &mut client,
        &key,
        vop("93000", "50", &[("processResult", "41")]),
    )
    .await
    .unwrap_err();
    assert!(
        err.message().contains("processResult") && err.message().contains("41"),
        "{}",
        err.message()
    );
    server.stop().await;
}

on_both_backends!(
    jd_every_step_and_process_result_maps_through_the_api,
    jd_01_to_jd_05_service_order_lifecycle,
    jd_codes_unknown_are_refused_and_pop_10005_is_in_transit,
    jd_06_manual_flow_and_assumed_policy,
);
