//! Tmall dispute tests (platform-apis.md §1.4): both status tables code by code, the kind
//! decides the table, envelopes, the platform's own deadline; plus the payload dispatch of
//! `TaobaoAdapter::map_record`.

use super::dispute::{DisputeRequest, DisputeStatus, ExchangeDisputeStatus, RefundDisputeStatus};
use super::model::Scalar;
use super::TaobaoAdapter;
use crate::{AdapterRegistry, MappingError, PlatformAdapter};
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    Case, CaseId, CaseKind, CaseState, DeadlineSource, Fen, Fulfilment, OrderState, PlatformCode,
    PlatformInput, PlatformRecord, Policy, ShopId, TenantId,
};
use chrono::{DateTime, Duration, Utc};

const WRAPPED_EXCHANGE: &str =
    include_str!("../../tests/fixtures/taobao/tmall_dispute_receive_get_response_exchange.json");
const TMC: &str =
    include_str!("../../tests/fixtures/taobao/tmc_refund_seller_agree_agreement.json");
const REFUND: &str =
    include_str!("../../tests/fixtures/taobao/refund_get_response_wait_seller_agree.json");

// ---- helpers --------------------------------------------------------------------------------

/// A minimal realistic refund-only dispute awaiting the merchant. Raw JSON text per field.
fn base() -> Vec<(&'static str, String)> {
    [
        ("refund_id", r#""7001""#),
        ("biz_order_id", r#""2001""#),
        ("oid", "2002"),
        ("dispute_request", r#""仅退款""#),
        ("status", "1"),
        ("good_status", r#""BUYER_RECEIVED""#),
        ("refund_phase", r#""aftersale""#),
        ("refund_fee", r#""66.50""#),
        ("buyer_nick", r#""tm_buyer""#),
        ("reason", r#""质量问题""#),
        ("created", r#""2024-06-01 12:00:00""#),
        ("modified", r#""2024-06-01 12:00:05""#),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

fn object(changes: &[(&'static str, Option<&str>)]) -> String {
    let mut fields = base();
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        if let Some(v) = value {
            fields.push((key, v.to_string()));
        }
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    format!("{{{}}}", body.join(", "))
}

/// `{"dispute":{…}}` with the base dispute's fields replaced or removed.
fn dispute_with(changes: &[(&'static str, Option<&str>)]) -> Vec<u8> {
    format!(r#"{{"dispute": {}}}"#, object(changes)).into_bytes()
}

fn map(native: impl AsRef<[u8]>) -> Result<PlatformRecord, MappingError> {
    match TaobaoAdapter.map_record(native.as_ref())? {
        PlatformInput::Record(r) => Ok(*r),
        other => panic!("expected a record, got {other:?}"),
    }
}

fn map_ok(changes: &[(&'static str, Option<&str>)]) -> PlatformRecord {
    map(dispute_with(changes)).unwrap_or_else(|e| panic!("{changes:?} should map: {e}"))
}

fn map_err(changes: &[(&'static str, Option<&str>)]) -> MappingError {
    match map(dispute_with(changes)) {
        Ok(r) => panic!("{changes:?} should be refused, got {r:?}"),
        Err(e) => e,
    }
}

fn err_of(native: impl AsRef<[u8]>) -> MappingError {
    match TaobaoAdapter.map_record(native.as_ref()) {
        Ok(r) => panic!("should be refused, got {r:?}"),
        Err(e) => e,
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn bj(s: &str) -> DateTime<Utc> {
    parse_shanghai(s).unwrap()
}

fn policy() -> Policy {
    let reg = AdapterRegistry::builtin()
        .load_policies()
        .expect("embedded policies load");
    reg.in_force(
        &PlatformCode::parse("taobao").unwrap(),
        bj("2024-06-01 00:00:00"),
    )
    .expect("a Taobao policy is in force")
    .clone()
}

fn open(record: PlatformRecord, policy: &Policy) -> Case {
    let now = record.opened_at.expect("fixtures carry created") + Duration::hours(1);
    Case::from_platform(
        CaseId::parse("case-1").unwrap(),
        TenantId::parse("acme").unwrap(),
        ShopId::parse("tmall-flagship").unwrap(),
        PlatformCode::parse("taobao").unwrap(),
        record,
        policy,
        now,
        &[],
    )
    .expect("case opens")
    .case
}

// ---- the two status tables ------------------------------------------------------------------

#[test]
fn every_refund_dispute_status_maps_to_a_state() {
    use CaseState::*;
    // §1.4, first table: (raw code, the platform's words, state).
    let table: &[(&str, &str, CaseState)] = &[
        ("1", "买家已经申请退款，等待卖家同意", AwaitingMerchant),
        ("2", "卖家已经同意退款，等待买家退货", AwaitingBuyer),
        ("3", "买家已经退货，等待卖家确认收货", ReturnInTransit),
        ("4", "退款关闭", Closed),
        ("5", "退款成功", Refunded),
        ("6", "卖家拒绝退款", AwaitingBuyer),
        ("7", "等待买家确认重新邮寄的货物", AwaitingBuyer),
        ("8", "等待卖家确认退货地址", AwaitingMerchant),
    ];
    assert_eq!(table.len(), RefundDisputeStatus::ALL.len());
    for s in RefundDisputeStatus::ALL {
        assert!(
            table
                .iter()
                .any(|(code, _, _)| *code == s.code().to_string()),
            "{s:?} is missing from the table"
        );
    }
    for (code, words, state) in table {
        for (request, kind, flag) in [
            ("仅退款", CaseKind::RefundOnly, "false"),
            ("退货退款", CaseKind::ReturnAndRefund, "true"),
        ] {
            // Sent as a number and as a string: the same status.
            for raw in [code.to_string(), quoted(code)] {
                let r = map_ok(&[
                    ("dispute_request", Some(&quoted(request))),
                    ("status", Some(&raw)),
                    ("has_good_return", Some(flag)),
                ]);
                assert_eq!(r.state, *state, "{request} status {raw}");
                assert_eq!(r.kind, kind, "{request} status {raw}");
                assert_eq!(r.status.code, format!("refund:{code}"));
                assert_eq!(r.status.text, *words);
                assert_eq!(r.attributes["status"], *code);
                assert_eq!(r.attributes["dispute_request"], request);
            }
        }
    }
}

#[test]
fn every_exchange_dispute_status_maps_to_a_state() {
    use CaseState::*;
    // §1.4, second table: (raw code, the platform's words, state).
    let table: &[(&str, &str, CaseState)] = &[
        ("1", "换货待处理", AwaitingMerchant),
        ("2", "待买家退货", AwaitingBuyer),
        ("3", "买家已退货，待收货", ReturnInTransit),
        ("4", "换货关闭", Closed),
        ("5", "换货成功", Exchanged),
        ("6", "待买家修改", AwaitingBuyer),
        ("12", "待发出换货商品", AwaitingMerchantExecution),
        ("13", "待买家收货", AwaitingBuyer),
        ("14", "请退款", AwaitingMerchantExecution),
    ];
    assert_eq!(table.len(), ExchangeDisputeStatus::ALL.len());
    for s in ExchangeDisputeStatus::ALL {
        assert!(
            table
                .iter()
                .any(|(code, _, _)| *code == s.code().to_string()),
            "{s:?} is missing from the table"
        );
    }
    for (code, words, state) in table {
        for raw in [code.to_string(), quoted(code)] {
            let r = map_ok(&[
                ("dispute_request", Some(r#""换货""#)),
                ("status", Some(&raw)),
            ]);
            assert_eq!(r.state, *state, "换货 status {raw}");
            assert_eq!(r.kind, CaseKind::Exchange);
            assert_eq!(r.status.code, format!("exchange:{code}"));
            assert_eq!(r.status.text, *words);
            assert_eq!(r.refunded, None, "an exchange pays nothing back");
        }
    }
}

#[test]
fn the_enums_round_trip_their_codes() {
    for s in RefundDisputeStatus::ALL {
        let raw = Scalar::Num(s.code().to_string());
        assert_eq!(RefundDisputeStatus::parse(&raw).unwrap(), s);
        assert_eq!(
            DisputeStatus::parse(DisputeRequest::RefundOnly, &raw).unwrap(),
            DisputeStatus::Refund(s)
        );
    }
    for s in ExchangeDisputeStatus::ALL {
        let raw = Scalar::Str(s.code().to_string());
        assert_eq!(ExchangeDisputeStatus::parse(&raw).unwrap(), s);
        assert_eq!(
            DisputeStatus::parse(DisputeRequest::Exchange, &raw).unwrap(),
            DisputeStatus::Exchange(s)
        );
    }
    for k in DisputeRequest::ALL {
        assert_eq!(DisputeRequest::parse(k.code()).unwrap(), k);
    }
}

#[test]
fn the_same_number_means_different_things_per_kind() {
    let refund = map_ok(&[("status", Some("3"))]);
    let exchange = map_ok(&[
        ("dispute_request", Some(r#""换货""#)),
        ("status", Some("3")),
    ]);
    assert_eq!(refund.status.code, "refund:3");
    assert_eq!(exchange.status.code, "exchange:3");
    assert_ne!(refund.status.text, exchange.status.text);
    let refund = map_ok(&[("status", Some("6"))]);
    let exchange = map_ok(&[
        ("dispute_request", Some(r#""换货""#)),
        ("status", Some("6")),
    ]);
    assert_eq!(
        (refund.status.text.as_str(), refund.state),
        ("卖家拒绝退款", CaseState::AwaitingBuyer)
    );
    assert_eq!(
        (exchange.status.text.as_str(), exchange.state),
        ("待买家修改", CaseState::AwaitingBuyer)
    );
}

#[test]
fn unknown_or_wrong_table_status_is_an_error_naming_field_and_value() {
    let cases: &[(&str, &str, &str)] = &[
        // Valid for a refund, not for an exchange: 7..11 are unused in the exchange table.
        ("换货", "7", "7"),
        ("换货", r#""8""#, "8"),
        ("换货", "11", "11"),
        ("换货", "15", "15"),
        ("换货", "0", "0"),
        // Valid for an exchange, not for a refund.
        ("仅退款", "12", "12"),
        ("退货退款", r#""14""#, "14"),
        ("仅退款", "9", "9"),
        ("仅退款", "0", "0"),
        ("仅退款", "-1", "-1"),
        ("仅退款", "3.0", "3.0"),
        // The names are tmall.dispute.receive.get *filter* values, not Dispute.status.
        ("仅退款", r#""WAIT_SELLER_AGREE""#, "WAIT_SELLER_AGREE"),
    ];
    for (request, raw, shown) in cases {
        let e = map_err(&[
            ("dispute_request", Some(&quoted(request))),
            ("status", Some(raw)),
            ("has_good_return", None),
        ]);
        assert_eq!(e.field, "dispute.status", "{request} {raw}: {e}");
        assert_eq!(e.raw, *shown, "{request} {raw}: {e}");
        let table = if *request == "换货" {
            "换货"
        } else {
            "仅退款/退货退款"
        };
        assert!(e.problem.contains(table), "{e}");
    }
    for missing in [None, Some(r#""""#)] {
        let e = map_err(&[("status", missing)]);
        assert_eq!(e.field, "dispute.status");
        assert!(e.problem.contains("missing"), "{e}");
    }
}

#[test]
fn unknown_dispute_kind_is_an_error_naming_field_and_value() {
    for raw in ["维修", "补寄", "REFUND_ONLY", "仅退款/退货退款"] {
        let e = map_err(&[("dispute_request", Some(&quoted(raw)))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("dispute.dispute_request", raw)
        );
    }
    let e = map_err(&[("dispute_request", None)]);
    assert_eq!(e.field, "dispute.dispute_request");
    assert!(e.problem.contains("missing"), "{e}");
}

#[test]
fn has_good_return_contradicting_a_refund_kind_is_an_error() {
    let e = map_err(&[("has_good_return", Some("true"))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.has_good_return", "true")
    );
    assert!(e.problem.contains("仅退款"), "{e}");
    let e = map_err(&[
        ("dispute_request", Some(r#""退货退款""#)),
        ("has_good_return", Some(r#""false""#)),
    ]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.has_good_return", "false")
    );
    // An exchange's flag is kept, not checked.
    for flag in ["true", "false"] {
        let r = map_ok(&[
            ("dispute_request", Some(r#""换货""#)),
            ("has_good_return", Some(flag)),
        ]);
        assert_eq!(r.attributes["has_good_return"], flag);
    }
}

// ---- the platform's deadline ----------------------------------------------------------------

#[test]
fn tb_02_tmall_dispute_time_out_is_the_platform_deadline() {
    let r = map_ok(&[("time_out", Some(r#""2024-06-04 18:30:00""#))]);
    assert_eq!(r.platform_deadline, Some(bj("2024-06-04 18:30:00")));
    assert_eq!(
        r.platform_deadline.unwrap().to_rfc3339(),
        "2024-06-04T10:30:00+00:00",
        "Beijing time"
    );
    assert_eq!(r.attributes["time_out"], "2024-06-04 18:30:00");

    // TB-07 (signed for, 5 days) is the computed deadline; Tmall's time_out wins over it.
    let case = open(r, &policy());
    let d = case
        .deadlines
        .iter()
        .find(|d| d.key == "merchant_response_signed")
        .expect("a merchant deadline");
    assert_eq!(
        (d.source, d.due_at),
        (DeadlineSource::Platform, bj("2024-06-04 18:30:00"))
    );
    assert_eq!(d.computed_due_at, Some(bj("2024-06-06 12:00:00")));

    assert_eq!(map_ok(&[("time_out", None)]).platform_deadline, None);
    assert_eq!(
        map_ok(&[("time_out", Some(r#""""#))]).platform_deadline,
        None
    );
    let e = map_err(&[("time_out", Some(r#""2024/06/04 18:30""#))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.time_out", "2024/06/04 18:30")
    );
}

#[test]
fn tb_05_a_refused_dispute_waits_for_the_buyer() {
    let r = map_ok(&[("status", Some("6"))]);
    assert_eq!(r.state, CaseState::AwaitingBuyer);
    assert_eq!(r.refunded, None);
}

// ---- fields and envelopes -------------------------------------------------------------------

#[test]
fn wrapped_exchange_dispute_maps_every_field() {
    let r = map(WRAPPED_EXCHANGE).unwrap();
    assert_eq!(r.platform_case_id.as_str(), "88012345678901234");
    assert_eq!(r.order_id.as_ref().unwrap().as_str(), "3456789012345678901");
    assert_eq!(
        r.sub_order_id.as_ref().unwrap().as_str(),
        "3456789012345678902"
    );
    assert_eq!(r.kind, CaseKind::Exchange);
    assert_eq!(r.state, CaseState::AwaitingMerchantExecution);
    assert_eq!(r.status.code, "exchange:12");
    assert_eq!(r.status.text, "待发出换货商品");
    assert_eq!(r.fulfilment, Fulfilment::Received);
    assert_eq!(r.order_state, Some(OrderState::TradeSuccess));
    assert_eq!(r.requested_refund, Fen::ZERO);
    assert_eq!(r.order_total, None);
    assert_eq!(r.refunded, None);
    assert_eq!(r.platform_advance, None);
    assert_eq!(r.task, None);
    assert_eq!(r.reason.as_str(), "尺码不合适 — 换大一号");
    assert_eq!(r.buyer.as_str(), "t**买家");
    assert_eq!(r.opened_at, Some(bj("2024-03-15 10:20:30")));
    assert_eq!(r.version, bj("2024-03-18 09:00:00").timestamp_millis());
    assert_eq!(r.platform_deadline, Some(bj("2024-03-20 09:00:00")));

    let back = r.return_shipment.as_ref().expect("the buyer's return");
    assert_eq!(back.carrier.as_str(), "中通快递");
    assert_eq!(back.tracking_number.as_str(), "ZT7312345678901");
    assert_eq!(back.shipped_at, Some(bj("2024-03-16 15:30:00")));
    let out = r.reship_shipment.as_ref().expect("the exchange item");
    assert_eq!(out.carrier.as_str(), "顺丰速运");
    assert_eq!(out.tracking_number.as_str(), "SF1402345678901");
    assert_eq!(out.shipped_at, None);
    assert_eq!(
        r.return_address.as_ref().unwrap().detail.as_str(),
        "浙江省杭州市余杭区文一西路 969 号 示例仓 收"
    );

    for (key, value) in [
        ("buyer_address", "上海市浦东新区世纪大道 100 号"),
        ("buyer_name", "张三"),
        ("buyer_phone", "138****0000"),
        ("dispute_request", "换货"),
        ("status", "12"),
        ("good_status", "BUYER_RETURNED_GOODS"),
        ("order_status", "TRADE_FINISHED"),
        ("refund_phase", "aftersale"),
        ("has_good_return", "true"),
        ("alipay_no", "2024031522001100001234567890"),
        ("num", "1"),
        ("title", "纯棉T恤 男款 白色"),
        ("seller_nick", "示例旗舰店"),
        ("time_out", "2024-03-20 09:00:00"),
        ("modified", "2024-03-18 09:00:00"),
        ("attribute", ";exchangeSku:颜色:白色;尺码:XXL;"),
    ] {
        assert_eq!(
            r.attributes.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
}

#[test]
fn the_same_dispute_maps_the_same_in_every_envelope() {
    let one = object(&[]);
    let payloads = [
        format!(r#"{{"dispute": {one}}}"#),
        format!(
            r#"{{"tmall_dispute_receive_get_response": {{"dispute_list": {{"dispute": [{one}]}}, "request_id": "x"}}}}"#
        ),
        // The Go SDK's shape (TmallDisputeReceiveGetResultSet, XML tag results>dispute).
        format!(
            r#"{{"tmall_dispute_receive_get_response": {{"result": {{"page_results": 1, "has_next": false, "results": {{"dispute": [{one}]}}}}}}}}"#
        ),
        format!(
            r#"{{"tmall_dispute_receive_get_response": {{"result": {{"results": [{one}]}}}}}}"#
        ),
    ];
    let expected = map(&payloads[0]).unwrap();
    for p in &payloads[1..] {
        assert_eq!(map(p).unwrap(), expected, "{p}");
    }
}

#[test]
fn a_dispute_list_must_hold_exactly_one_dispute() {
    let one = object(&[]);
    let two = format!(
        r#"{{"tmall_dispute_receive_get_response": {{"dispute_list": {{"dispute": [{one}, {one}]}}}}}}"#
    );
    let e = err_of(&two);
    assert_eq!(
        e.field,
        "tmall_dispute_receive_get_response.dispute_list.dispute"
    );
    assert_eq!(e.raw, "2 disputes");
    assert!(e.problem.contains("one at a time"), "{e}");

    let none = r#"{"tmall_dispute_receive_get_response": {"dispute_list": {"dispute": []}}}"#;
    let e = err_of(none);
    assert_eq!(
        e.field,
        "tmall_dispute_receive_get_response.dispute_list.dispute"
    );
    assert!(e.problem.contains("no dispute"), "{e}");

    let e = err_of(r#"{"tmall_dispute_receive_get_response": {"dispute_list": {}}}"#);
    assert_eq!(
        e.field,
        "tmall_dispute_receive_get_response.dispute_list.dispute"
    );
    assert!(e.problem.contains("missing"), "{e}");

    let e = err_of(r#"{"tmall_dispute_receive_get_response": {"request_id": "x"}}"#);
    assert_eq!(e.field, "tmall_dispute_receive_get_response.dispute_list");

    let e = err_of(format!(
        r#"{{"tmall_dispute_receive_get_response": {{"result": {{"results": [{one}, {one}, {one}]}}}}}}"#
    ));
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        (
            "tmall_dispute_receive_get_response.result.results",
            "3 disputes"
        )
    );
}

#[test]
fn top_errors_and_malformed_disputes_are_errors() {
    let e = err_of(
        r#"{"tmall_dispute_receive_get_response": {"result": {"error_code": "isv.invalid", "error_msg": "bad seller"}}}"#,
    );
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        (
            "tmall_dispute_receive_get_response.result.error_code",
            "isv.invalid"
        )
    );
    assert!(e.problem.contains("bad seller"), "{e}");

    let e = err_of(r#"{"dispute": [1, 2]}"#);
    assert_eq!(e.field, "dispute");
    let e = err_of(r#"{"dispute": {"refund_id": {"x": 1}}}"#);
    assert_eq!(e.field, "dispute");
    let e = err_of(format!(
        r#"{{"dispute": {}, "tmall_dispute_receive_get_response": {{}}}}"#,
        object(&[])
    ));
    assert_eq!(e.field, "$");
}

#[test]
fn ids_money_and_version() {
    let e = map_err(&[("refund_id", None)]);
    assert_eq!(e.field, "dispute.refund_id");
    // A numeric id keeps every digit.
    let r = map_ok(&[("refund_id", Some("1234567890123456789012"))]);
    assert_eq!(r.platform_case_id.as_str(), "1234567890123456789012");
    let e = map_err(&[("refund_id", Some("1.5e21"))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.refund_id", "1.5e21")
    );

    // biz_order_id is the struct's name for the trade; tid (request fields) must agree.
    let r = map_ok(&[("biz_order_id", None), ("tid", Some("2001"))]);
    assert_eq!(r.order_id.unwrap().as_str(), "2001");
    let r = map_ok(&[("tid", Some(r#""2001""#))]);
    assert_eq!(r.order_id.unwrap().as_str(), "2001");
    let e = map_err(&[("tid", Some("2999"))]);
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("dispute.tid", "2999"));
    assert_eq!(map_ok(&[("biz_order_id", None)]).order_id, None);

    let r = map_ok(&[]);
    assert_eq!(r.requested_refund, Fen::new(6650).unwrap());
    let e = map_err(&[("refund_fee", Some(r#""66.5x""#))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.refund_fee", "66.5x")
    );
    let e = map_err(&[("refund_fee", None)]);
    assert_eq!(e.field, "dispute.refund_fee");
    let r = map_ok(&[("status", Some("5"))]);
    assert_eq!(
        (r.state, r.refunded),
        (CaseState::Refunded, Some(Fen::new(6650).unwrap()))
    );
    // An exchange asks for goods: no refund_fee means 0, not an error.
    let r = map_ok(&[("dispute_request", Some(r#""换货""#)), ("refund_fee", None)]);
    assert_eq!(r.requested_refund, Fen::ZERO);

    // Version: refund_version (epoch millis) first, then modified.
    assert_eq!(
        map_ok(&[]).version,
        bj("2024-06-01 12:00:05").timestamp_millis()
    );
    assert_eq!(
        map_ok(&[("refund_version", Some("1717214405123"))]).version,
        1717214405123
    );
    let e = map_err(&[("refund_version", Some("-5"))]);
    assert_eq!(e.field, "dispute.refund_version");
    let e = map_err(&[("modified", None)]);
    assert_eq!(e.field, "dispute.modified");
    assert!(e.problem.contains("cannot be ordered"), "{e}");
}

#[test]
fn refund_value_tables_report_the_dispute_field() {
    let e = map_err(&[("good_status", Some(r#""LOST""#))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.good_status", "LOST")
    );
    let e = map_err(&[("order_status", Some(r#""TRADE_LOST""#))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.order_status", "TRADE_LOST")
    );
    let e = map_err(&[("refund_phase", Some(r#""presale""#))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("dispute.refund_phase", "presale")
    );
}

#[test]
fn order_state_only_when_order_status_is_sent() {
    assert_eq!(map_ok(&[]).order_state, None);
    let r = map_ok(&[
        ("order_status", Some(r#""WAIT_SELLER_SEND_GOODS""#)),
        ("good_status", None),
    ]);
    assert_eq!(r.order_state, Some(OrderState::AwaitingShipment));
    assert_eq!(r.fulfilment, Fulfilment::NotShipped);
    // No goods status, trade status or phase: where the goods are is not known.
    let r = map_ok(&[("good_status", None), ("refund_phase", None)]);
    assert_eq!(r.fulfilment, Fulfilment::Unknown);
}

#[test]
fn shipments_need_a_tracking_number() {
    let r = map_ok(&[("buyer_logistic_name", Some(r#""中通快递""#))]);
    assert_eq!(r.return_shipment, None);
    let r = map_ok(&[
        ("dispute_request", Some(r#""退货退款""#)),
        ("status", Some("3")),
        ("buyer_logistic_no", Some(r#""YT123""#)),
    ]);
    let s = r.return_shipment.unwrap();
    assert_eq!(
        (s.carrier.as_str(), s.tracking_number.as_str()),
        ("", "YT123")
    );
    assert_eq!(r.reship_shipment, None);
}

// ---- dispatch -------------------------------------------------------------------------------

#[test]
fn map_record_dispatches_by_top_level_shape() {
    assert!(matches!(
        TaobaoAdapter.map_record(TMC.as_bytes()).unwrap(),
        PlatformInput::Notice(_)
    ));
    let tmc_wrapped = format!(r#"{{"tmc_message": {TMC}}}"#);
    assert!(matches!(
        TaobaoAdapter.map_record(tmc_wrapped.as_bytes()).unwrap(),
        PlatformInput::Notice(_)
    ));
    assert_eq!(map(WRAPPED_EXCHANGE).unwrap().status.code, "exchange:12");
    assert_eq!(map(dispute_with(&[])).unwrap().status.code, "refund:1");
    // The refund path is unchanged, including its errors for what is not a payload at all.
    assert_eq!(map(REFUND).unwrap().status.code, "WAIT_SELLER_AGREE");
    assert_eq!(err_of("[1]").field, "$");
    assert_eq!(err_of(b"\xff".as_slice()).field, "$");
}

#[test]
fn a_payload_of_two_kinds_is_refused() {
    for p in [
        format!(
            r#"{{"topic": "taobao_refund_RefundClosed", "dispute": {}}}"#,
            object(&[])
        ),
        r#"{"dispute": {}, "refund": {}}"#.to_string(),
        r#"{"tmc_message": {}, "refund_get_response": {}}"#.to_string(),
    ] {
        let e = err_of(&p);
        assert_eq!(e.field, "$", "{p}");
        assert!(e.problem.contains("more than one payload kind"), "{e}");
    }
}
