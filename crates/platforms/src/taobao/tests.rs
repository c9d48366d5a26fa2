//! Taobao adapter tests: raw value tables, realistic TOP payloads, and the embedded policy.

use super::transformers::{CsStatus, GoodStatus, OrderStatus, RefundPhase, RefundStatus};
use super::TaobaoAdapter;
use crate::test_support::{bj, deadline, keys};
use crate::{AdapterRegistry, MappingError, PlatformAdapter};
use aftersales_domain::{
    ActionKind, Case, CaseKind, CaseState, Consequence, DeadlineSource, DueParty, Fulfilment,
    PlatformCode, PlatformRecord, Policy,
};
use chrono::Duration;

fn policy() -> Policy {
    crate::test_support::policy("taobao")
}

fn open(record: PlatformRecord, policy: &Policy) -> Case {
    crate::test_support::open(record, policy, "tmall-flagship")
}

const WRAPPED: &str =
    include_str!("../../tests/fixtures/taobao/refund_get_response_wait_seller_agree.json");
const BARE: &str =
    include_str!("../../tests/fixtures/taobao/refund_bare_wait_seller_confirm_goods.json");

// ---- helpers --------------------------------------------------------------------------------

/// A minimal realistic bare refund: refund only, before shipment, awaiting the merchant.
/// Values are raw JSON text so numbers, strings and big ids can be written exactly.
fn base() -> Vec<(&'static str, String)> {
    [
        ("refund_id", r#""1001""#),
        ("tid", "2001"),
        ("oid", "2002"),
        ("status", r#""WAIT_SELLER_AGREE""#),
        ("order_status", r#""WAIT_SELLER_SEND_GOODS""#),
        ("good_status", r#""BUYER_NOT_RECEIVED""#),
        ("has_good_return", "false"),
        ("refund_phase", r#""onsale""#),
        ("cs_status", "1"),
        ("refund_fee", r#""88.00""#),
        ("total_fee", r#""88.00""#),
        ("payment", r#""88.00""#),
        ("buyer_nick", r#""tb_buyer""#),
        ("reason", r#""不想要了""#),
        ("created", r#""2024-06-01 12:00:00""#),
        ("modified", r#""2024-06-01 12:00:05""#),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The base refund with fields replaced (`Some(raw json)`) or removed (`None`).
fn refund_with(changes: &[(&'static str, Option<&str>)]) -> Vec<u8> {
    let mut fields = base();
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        if let Some(v) = value {
            fields.push((key, v.to_string()));
        }
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    format!("{{{}}}", body.join(", ")).into_bytes()
}

fn map(native: impl AsRef<[u8]>) -> Result<PlatformRecord, MappingError> {
    match TaobaoAdapter.map_record(native.as_ref())? {
        aftersales_domain::PlatformInput::Record(r) => Ok(*r),
        other => panic!("expected a record, got {other:?}"),
    }
}

fn map_ok(changes: &[(&'static str, Option<&str>)]) -> PlatformRecord {
    map(refund_with(changes)).unwrap_or_else(|e| panic!("{changes:?} should map: {e}"))
}

fn map_err(changes: &[(&'static str, Option<&str>)]) -> MappingError {
    match map(refund_with(changes)) {
        Ok(r) => panic!("{changes:?} should be refused, got {r:?}"),
        Err(e) => e,
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

// ---- raw value tables -----------------------------------------------------------------------

#[test]
fn every_refund_status_maps_to_a_state_and_kind() {
    use CaseKind::*;
    use CaseState::*;
    // (status, has_good_return, state, kind)
    let table: &[(&str, Option<bool>, CaseState, CaseKind)] = &[
        (
            "WAIT_SELLER_AGREE",
            Some(false),
            AwaitingMerchant,
            RefundOnly,
        ),
        (
            "WAIT_SELLER_AGREE",
            Some(true),
            AwaitingMerchant,
            ReturnAndRefund,
        ),
        ("WAIT_SELLER_AGREE", None, AwaitingMerchant, RefundOnly),
        (
            "WAIT_BUYER_RETURN_GOODS",
            Some(true),
            AwaitingBuyer,
            ReturnAndRefund,
        ),
        // The status alone says goods go back: an absent flag does not make it refund-only.
        (
            "WAIT_BUYER_RETURN_GOODS",
            None,
            AwaitingBuyer,
            ReturnAndRefund,
        ),
        (
            "WAIT_SELLER_CONFIRM_GOODS",
            Some(true),
            ReturnInTransit,
            ReturnAndRefund,
        ),
        (
            "WAIT_SELLER_CONFIRM_GOODS",
            None,
            ReturnInTransit,
            ReturnAndRefund,
        ),
        (
            "SELLER_REFUSE_BUYER",
            Some(false),
            AwaitingBuyer,
            RefundOnly,
        ),
        (
            "SELLER_REFUSE_BUYER",
            Some(true),
            AwaitingBuyer,
            ReturnAndRefund,
        ),
        ("CLOSED", Some(false), Closed, RefundOnly),
        ("CLOSED", Some(true), Closed, ReturnAndRefund),
        ("SUCCESS", Some(false), Refunded, RefundOnly),
        ("SUCCESS", Some(true), Refunded, ReturnAndRefund),
        (
            "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS",
            Some(true),
            AwaitingBuyer,
            Exchange,
        ),
        (
            "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS",
            None,
            AwaitingBuyer,
            Exchange,
        ),
        (
            "WAIT_SELLER_CONSIGN_GOODS",
            Some(true),
            AwaitingMerchantExecution,
            Exchange,
        ),
        (
            "WAIT_SELLER_CONSIGN_GOODS",
            Some(false),
            AwaitingMerchantExecution,
            Exchange,
        ),
        (
            "EXCHANGE_TRANSFORM_TO_REFUND",
            Some(false),
            AwaitingMerchant,
            RefundOnly,
        ),
        (
            "EXCHANGE_TRANSFORM_TO_REFUND",
            Some(true),
            AwaitingMerchant,
            ReturnAndRefund,
        ),
    ];
    for &(status, has_return, state, kind) in table {
        let flag = has_return.map(|b| b.to_string());
        let r = map_ok(&[
            ("status", Some(&quoted(status))),
            ("has_good_return", flag.as_deref()),
        ]);
        assert_eq!(
            (r.state, r.kind),
            (state, kind),
            "{status} with has_good_return={has_return:?}"
        );
        assert_eq!(r.status.code, status);
        assert!(
            !r.status.text.is_empty() && !r.status.text.is_ascii(),
            "{status} needs its Chinese text"
        );
    }
    for s in RefundStatus::ALL {
        assert!(
            table.iter().any(|row| row.0 == s.code()),
            "{} is missing from the table",
            s.code()
        );
    }
    assert_eq!(map_ok(&[]).status.text, "等待卖家同意");
}

#[test]
fn unknown_refund_status_is_an_error_naming_field_and_value() {
    for raw in [
        "WAIT_SELLER_CONFIRM_GOODS5",
        "NO_REFUND",
        "wait_seller_agree",
        "1",
    ] {
        let e = map_err(&[("status", Some(&quoted(raw)))]);
        assert_eq!(
            (e.platform.as_str(), e.field.as_str(), e.raw.as_str()),
            ("taobao", "refund.status", raw)
        );
        assert!(e.to_string().contains(raw), "{e}");
    }
    // Sent as a number: still the raw status, still refused.
    assert_eq!(
        map_err(&[("status", Some("1"))]).field,
        "refund",
        "a number is not a status string"
    );
    assert_eq!(map_err(&[("status", None)]).field, "refund.status");
    assert_eq!(map_err(&[("status", Some(r#""""#))]).field, "refund.status");
}

#[test]
fn has_good_return_false_contradicting_a_return_status_is_an_error() {
    let e = map_err(&[
        ("status", Some(r#""WAIT_BUYER_RETURN_GOODS""#)),
        ("has_good_return", Some("false")),
    ]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("refund.has_good_return", "false")
    );
    // Gateways that stringify booleans are accepted; nonsense is not.
    assert_eq!(
        map_ok(&[("has_good_return", Some(r#""true""#))]).kind,
        CaseKind::ReturnAndRefund
    );
    assert_eq!(
        map_err(&[("has_good_return", Some(r#""yes""#))]).field,
        "refund"
    );
}

#[test]
fn tb_05_every_cs_status_maps_number_or_string() {
    // (code, platform has the case)
    let table = [
        (1, false),
        (2, true),
        (3, true),
        (4, true),
        (5, true),
        (6, false),
    ];
    for (code, intervening) in table {
        for raw in [code.to_string(), format!("\"{code}\"")] {
            let open = map_ok(&[("cs_status", Some(&raw))]);
            let expected = if intervening {
                CaseState::PlatformIntervening
            } else {
                CaseState::AwaitingMerchant
            };
            assert_eq!(open.state, expected, "cs_status {raw} on WAIT_SELLER_AGREE");
            assert_eq!(open.attributes["cs_status"], code.to_string());
            let refused = map_ok(&[
                ("cs_status", Some(&raw)),
                ("status", Some(r#""SELLER_REFUSE_BUYER""#)),
            ]);
            let expected = if intervening {
                CaseState::PlatformIntervening
            } else {
                CaseState::AwaitingBuyer
            };
            assert_eq!(
                refused.state, expected,
                "cs_status {raw} after a refusal (TB-05)"
            );
            // A final status stays final whatever customer service is doing.
            let done = map_ok(&[("cs_status", Some(&raw)), ("status", Some(r#""SUCCESS""#))]);
            assert_eq!(done.state, CaseState::Refunded);
            let closed = map_ok(&[("cs_status", Some(&raw)), ("status", Some(r#""CLOSED""#))]);
            assert_eq!(closed.state, CaseState::Closed);
        }
    }
    for cs in CsStatus::ALL {
        assert!(
            table.iter().any(|(c, _)| *c == cs.code()),
            "cs_status {} is missing",
            cs.code()
        );
    }
    assert_eq!(
        map_ok(&[("cs_status", None)]).state,
        CaseState::AwaitingMerchant
    );
}

#[test]
fn unknown_cs_status_is_an_error() {
    for raw in ["0", "7", "\"2a\"", "\"\"", "2.0", "-1"] {
        let e = map_err(&[("cs_status", Some(raw))]);
        assert_eq!(e.field, "refund.cs_status", "{raw}");
        assert_eq!(e.raw, raw.trim_matches('"'), "{raw}");
    }
    // Unknown even on a final status: the value is validated, not only used.
    assert_eq!(
        map_err(&[("cs_status", Some("9")), ("status", Some(r#""SUCCESS""#))]).field,
        "refund.cs_status"
    );
}

#[test]
fn every_good_status_and_order_status_gives_a_fulfilment() {
    use Fulfilment::*;
    // (good_status, order_status, refund_phase, fulfilment)
    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Fulfilment,
    );
    let table: &[Row] = &[
        // TB-04: paid, not shipped.
        (
            Some("BUYER_NOT_RECEIVED"),
            Some("WAIT_SELLER_SEND_GOODS"),
            Some("onsale"),
            NotShipped,
        ),
        (None, Some("WAIT_SELLER_SEND_GOODS"), None, NotShipped),
        (None, Some("WAIT_BUYER_PAY"), None, NotShipped),
        (None, Some("TRADE_NO_CREATE_PAY"), None, NotShipped),
        // TB-06: shipped, not signed for.
        (
            Some("BUYER_NOT_RECEIVED"),
            Some("WAIT_BUYER_CONFIRM_GOODS"),
            Some("onsale"),
            ShippedNotReceived,
        ),
        (None, Some("WAIT_BUYER_CONFIRM_GOODS"), None, Unknown),
        // TB-07: signed for.
        (
            Some("BUYER_RECEIVED"),
            Some("WAIT_BUYER_CONFIRM_GOODS"),
            Some("onsale"),
            Received,
        ),
        (
            Some("BUYER_RETURNED_GOODS"),
            Some("WAIT_BUYER_CONFIRM_GOODS"),
            None,
            Received,
        ),
        (Some("BUYER_RECEIVED"), None, None, Received),
        (Some("BUYER_RETURNED_GOODS"), None, None, Received),
        (
            Some("BUYER_NOT_RECEIVED"),
            Some("TRADE_FINISHED"),
            Some("aftersale"),
            Received,
        ),
        (None, Some("TRADE_BUYER_SIGNED"), None, Received),
        // The buyer's "received" wins over a trade status still saying "not shipped".
        (
            Some("BUYER_RECEIVED"),
            Some("WAIT_SELLER_SEND_GOODS"),
            None,
            Received,
        ),
        // Not said.
        (
            Some("BUYER_NOT_RECEIVED"),
            Some("SELLER_CONSIGNED_PART"),
            None,
            Unknown,
        ),
        (
            Some("BUYER_NOT_RECEIVED"),
            Some("TRADE_CLOSED"),
            None,
            Unknown,
        ),
        (None, Some("TRADE_CLOSED_BY_TAOBAO"), None, Unknown),
        (Some("BUYER_NOT_RECEIVED"), None, None, Unknown),
        (None, None, None, Unknown),
        // Without a trade status the phase decides: 售后 is after trade success.
        (None, None, Some("aftersale"), Received),
        (Some("BUYER_NOT_RECEIVED"), None, Some("onsale"), Unknown),
    ];
    for &(good, order, phase, expected) in table {
        let (g, o, p) = (good.map(quoted), order.map(quoted), phase.map(quoted));
        let r = map_ok(&[
            ("good_status", g.as_deref()),
            ("order_status", o.as_deref()),
            ("refund_phase", p.as_deref()),
        ]);
        assert_eq!(
            r.fulfilment, expected,
            "good {good:?} order {order:?} phase {phase:?}"
        );
        assert_eq!(r.attributes.get("good_status").map(String::as_str), good);
        assert_eq!(r.attributes.get("order_status").map(String::as_str), order);
    }
    for g in GoodStatus::ALL {
        let code = to_upper_snake(&format!("{g:?}"));
        assert_eq!(GoodStatus::parse(&code).unwrap(), g);
        assert!(
            table.iter().any(|row| row.0 == Some(code.as_str())),
            "{code} is missing from the table"
        );
    }
    for o in OrderStatus::ALL {
        let code = to_upper_snake(&format!("{o:?}"));
        assert_eq!(OrderStatus::parse(&code).unwrap(), o);
        assert!(
            table.iter().any(|row| row.1 == Some(code.as_str())),
            "{code} is missing from the table"
        );
    }
}

/// `WaitSellerSendGoods` → `WAIT_SELLER_SEND_GOODS`.
fn to_upper_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn unknown_good_order_and_phase_values_are_errors() {
    let cases = [
        ("good_status", "BUYER_LOST_IT", "refund.good_status"),
        ("order_status", "TRADE_MAYBE", "refund.order_status"),
        ("order_status", "ALL_CLOSED", "refund.order_status"),
        ("refund_phase", "presale", "refund.refund_phase"),
        ("refund_phase", "ONSALE", "refund.refund_phase"),
    ];
    for (field, raw, path) in cases {
        let e = map_err(&[(field, Some(&quoted(raw)))]);
        assert_eq!((e.field.as_str(), e.raw.as_str()), (path, raw));
    }
    for p in RefundPhase::ALL {
        let raw = match p {
            RefundPhase::OnSale => "onsale",
            RefundPhase::AfterSale => "aftersale",
        };
        assert_eq!(
            map_ok(&[("refund_phase", Some(&quoted(raw)))]).attributes["refund_phase"],
            raw
        );
    }
}

// ---- realistic payloads ---------------------------------------------------------------------

#[test]
fn wrapped_refund_get_response_maps_every_field() {
    let r = map(WRAPPED).unwrap();
    // Ids above 2^53 arrive as JSON numbers and keep every digit.
    assert_eq!(r.platform_case_id.as_str(), "201234567890123456");
    assert_eq!(r.order_id.as_ref().unwrap().as_str(), "3456789012345678901");
    assert_eq!(
        r.sub_order_id.as_ref().unwrap().as_str(),
        "3456789012345678902"
    );
    assert_eq!(
        (r.state, r.kind, r.fulfilment),
        (
            CaseState::AwaitingMerchant,
            CaseKind::ReturnAndRefund,
            Fulfilment::Received
        )
    );
    assert_eq!(r.status.code, "WAIT_SELLER_AGREE");
    assert_eq!(r.status.text, "等待卖家同意");
    assert_eq!(
        r.requested_refund.get(),
        20007,
        "\"200.07\" is exactly 20007 fen"
    );
    assert_eq!(r.order_total.unwrap().get(), 30000);
    assert_eq!(r.refunded, None);
    // refund_version wins over modified (10:25:00 → …500000).
    assert_eq!(r.version, 1_710_469_500_123);
    assert_eq!(r.opened_at, Some(bj("2024-03-15 10:20:30")));
    assert_eq!(
        r.opened_at.unwrap().to_rfc3339(),
        "2024-03-15T02:20:30+00:00"
    );
    assert_eq!(r.platform_deadline, Some(bj("2024-03-20 10:20:30")));
    assert_eq!(r.buyer.as_str(), "t**买家");
    assert_eq!(r.reason.as_str(), "尺码不合适 — 穿着偏小，想退货");
    assert_eq!(r.return_shipment, None);
    assert_eq!(r.return_address, None);
    let a = &r.attributes;
    for (k, v) in [
        ("good_status", "BUYER_RECEIVED"),
        ("order_status", "WAIT_BUYER_CONFIRM_GOODS"),
        ("refund_phase", "onsale"),
        ("cs_status", "1"),
        ("advance_status", "0"),
        ("has_good_return", "true"),
        ("remind_type", "1"),
        ("remind_exist_timeout", "true"),
        ("remind_timeout", "2024-03-20 10:20:30"),
        ("operation_contraint", "refund_onweb"),
        ("alipay_no", "2024031522001100001234567890"),
        ("dispute_type", "REFUND_AND_RETURN"),
        ("payment", "99.93"),
        ("num_iid", "654321098765"),
        ("refund_version", "1710469500123"),
        ("seller_nick", "示例旗舰店"),
    ] {
        assert_eq!(a.get(k).map(String::as_str), Some(v), "attribute {k}");
    }
}

#[test]
fn bare_refund_with_big_numeric_id_and_return_shipment() {
    let r = map(BARE).unwrap();
    assert_eq!(
        r.platform_case_id.as_str(),
        "1234567890123456789012",
        "no precision lost"
    );
    assert_eq!(r.order_id.as_ref().unwrap().as_str(), "3456789012345678901");
    assert_eq!(
        (r.state, r.kind, r.fulfilment),
        (
            CaseState::ReturnInTransit,
            CaseKind::ReturnAndRefund,
            Fulfilment::Received
        )
    );
    assert_eq!(r.status.text, "等待卖家确认收货");
    assert_eq!(r.requested_refund.get(), 5990);
    // No refund_version: modified, as epoch millis of Beijing time.
    assert_eq!(r.version, bj("2024-05-04 18:30:15").timestamp_millis());
    assert_eq!(r.version, 1_714_818_615_000);
    assert_eq!(r.platform_deadline, None, "exist_timeout is false");
    assert_eq!(
        r.buyer.as_str(),
        "AAHm5d-EAAeGwJedwSHpg8bT",
        "empty nick falls back to the open uid"
    );
    assert_eq!(r.reason.as_str(), "七天无理由退换货");
    let ship = r.return_shipment.as_ref().unwrap();
    assert_eq!(ship.carrier.as_str(), "中通快递");
    assert_eq!(ship.tracking_number.as_str(), "78512345678901");
    assert_eq!(ship.shipped_at, Some(bj("2024-05-04 18:30:00")));
    let addr = r.return_address.as_ref().unwrap();
    assert!(addr
        .detail
        .as_str()
        .starts_with("张三，13800000000，浙江省 杭州市 余杭区"));
    assert!(addr.province.is_empty() && addr.name.is_empty());
    assert_eq!(r.attributes["refund_phase"], "aftersale");
    assert_eq!(r.attributes["cs_status"], "1");
}

#[test]
fn the_same_refund_maps_the_same_in_every_envelope() {
    let bare = refund_with(&[]);
    let bare_text = String::from_utf8(bare.clone()).unwrap();
    let wrapped =
        format!(r#"{{"refund_get_response": {{"refund": {bare_text}, "request_id": "x"}}}}"#);
    let simplified = format!(r#"{{"refund": {bare_text}}}"#);
    let expected = map(&bare).unwrap();
    assert_eq!(map(wrapped).unwrap(), expected);
    assert_eq!(map(simplified).unwrap(), expected);
}

#[test]
fn numeric_and_string_ids_are_the_same_id() {
    let numeric = map_ok(&[
        ("refund_id", Some("9876543210987654321")),
        ("tid", Some("2001")),
        ("oid", Some("2002")),
    ]);
    let strings = map_ok(&[
        ("refund_id", Some(r#""9876543210987654321""#)),
        ("tid", Some(r#""2001""#)),
        ("oid", Some(r#""2002""#)),
    ]);
    assert_eq!(numeric, strings);
    assert_eq!(numeric.platform_case_id.as_str(), "9876543210987654321");
    let big = map_ok(&[
        ("refund_id", Some("1234567890123456789012")),
        ("tid", Some("99999999999999999999999999")),
    ]);
    assert_eq!(big.platform_case_id.as_str(), "1234567890123456789012");
    assert_eq!(big.order_id.unwrap().as_str(), "99999999999999999999999999");
}

#[test]
fn ids_that_are_not_plain_integers_or_missing_are_errors() {
    for raw in ["1.2345678901234568e21", "1.5", "-7"] {
        let e = map_err(&[("refund_id", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("refund.refund_id", raw)
        );
    }
    assert_eq!(map_err(&[("refund_id", None)]).field, "refund.refund_id");
    assert_eq!(
        map_err(&[("refund_id", Some(r#""""#))]).field,
        "refund.refund_id"
    );
    assert_eq!(map_err(&[("tid", Some(r#""a/b""#))]).field, "refund.tid");
    assert_eq!(map_err(&[("oid", Some("3e5"))]).field, "refund.oid");
    assert_eq!(map_err(&[("refund_id", Some("true"))]).field, "refund");
    // tid/oid are optional.
    let r = map_ok(&[("tid", None), ("oid", Some("null"))]);
    assert_eq!((r.order_id, r.sub_order_id), (None, None));
}

#[test]
fn money_is_exact_fen() {
    let r = map_ok(&[
        ("refund_fee", Some(r#""200.07""#)),
        ("total_fee", Some(r#""300.1""#)),
    ]);
    assert_eq!(r.requested_refund.get(), 20007);
    assert_eq!(r.order_total.unwrap().get(), 30010);
    assert_eq!(
        map_ok(&[("refund_fee", Some(r#""0.29""#))])
            .requested_refund
            .get(),
        29
    );
    // A gateway that sends numbers: the literal text is read, never an f64.
    assert_eq!(
        map_ok(&[("refund_fee", Some("0.29"))])
            .requested_refund
            .get(),
        29
    );
    assert_eq!(map_ok(&[("total_fee", None)]).order_total, None);
}

#[test]
fn malformed_money_is_an_error_with_the_field_path() {
    let cases = [
        ("refund_fee", r#""12.345""#, "refund.refund_fee", "12.345"),
        ("refund_fee", r#""¥12.00""#, "refund.refund_fee", "¥12.00"),
        ("refund_fee", r#""""#, "refund.refund_fee", ""),
        ("refund_fee", "1e3", "refund.refund_fee", "1e3"),
        ("total_fee", r#""abc""#, "refund.total_fee", "abc"),
        ("payment", r#""-1.00""#, "refund.payment", "-1.00"),
    ];
    for (field, json, path, raw) in cases {
        let e = map_err(&[(field, Some(json))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            (path, raw),
            "{field} = {json}"
        );
    }
    assert_eq!(map_err(&[("refund_fee", None)]).field, "refund.refund_fee");
}

#[test]
fn success_means_the_requested_amount_was_refunded() {
    let r = map_ok(&[
        ("status", Some(r#""SUCCESS""#)),
        ("refund_fee", Some(r#""200.07""#)),
    ]);
    assert_eq!(r.refunded.unwrap().get(), 20007);
    for status in ["WAIT_SELLER_AGREE", "CLOSED", "SELLER_REFUSE_BUYER"] {
        assert_eq!(
            map_ok(&[("status", Some(&quoted(status)))]).refunded,
            None,
            "{status}"
        );
    }
}

#[test]
fn refund_version_is_preferred_over_modified() {
    let modified = bj("2024-06-01 12:00:05").timestamp_millis();
    assert_eq!(map_ok(&[]).version, modified);
    assert_eq!(
        map_ok(&[("refund_version", Some("1717214400999"))]).version,
        1_717_214_400_999
    );
    assert_eq!(
        map_ok(&[("refund_version", Some(r#""1717214400999""#))]).version,
        1_717_214_400_999
    );
    assert_eq!(
        map_ok(&[
            ("refund_version", Some("1717214400999")),
            ("modified", None)
        ])
        .version,
        1_717_214_400_999
    );
    for bad in ["\"v2\"", "0", "1.5", "99999999999999999999"] {
        let e = map_err(&[("refund_version", Some(bad))]);
        assert_eq!(e.field, "refund.refund_version", "{bad}");
    }
    assert_eq!(
        map_err(&[("modified", Some(r#""2024/06/01 12:00""#))]).field,
        "refund.modified"
    );
    let neither = map_err(&[("modified", None)]);
    assert_eq!(neither.field, "refund.refund_version");
}

#[test]
fn platform_deadline_comes_from_refund_remind_timeout() {
    let on = r#"{"remind_type": 2, "exist_timeout": true, "timeout": "2024-06-03 12:00:00"}"#;
    let r = map_ok(&[("refund_remind_timeout", Some(on))]);
    assert_eq!(r.platform_deadline, Some(bj("2024-06-03 12:00:00")));
    assert_eq!(
        r.platform_deadline.unwrap().to_rfc3339(),
        "2024-06-03T04:00:00+00:00"
    );
    assert_eq!(r.attributes["remind_type"], "2");
    let off = r#"{"remind_type": 2, "exist_timeout": false, "timeout": "2024-06-03 12:00:00"}"#;
    assert_eq!(
        map_ok(&[("refund_remind_timeout", Some(off))]).platform_deadline,
        None
    );
    assert_eq!(
        map_ok(&[("refund_remind_timeout", Some("{}"))]).platform_deadline,
        None
    );
    assert_eq!(map_ok(&[]).platform_deadline, None);
    let no_time = r#"{"exist_timeout": true}"#;
    assert_eq!(
        map_err(&[("refund_remind_timeout", Some(no_time))]).field,
        "refund.refund_remind_timeout.timeout"
    );
    let bad_time = r#"{"exist_timeout": true, "timeout": "2024-06-03T12:00:00+08:00"}"#;
    let e = map_err(&[("refund_remind_timeout", Some(bad_time))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        (
            "refund.refund_remind_timeout.timeout",
            "2024-06-03T12:00:00+08:00"
        )
    );
}

#[test]
fn created_and_text_fields() {
    assert_eq!(map_ok(&[]).opened_at, Some(bj("2024-06-01 12:00:00")));
    assert_eq!(map_ok(&[("created", None)]).opened_at, None);
    assert_eq!(
        map_err(&[("created", Some(r#""yesterday""#))]).field,
        "refund.created"
    );
    let r = map_ok(&[("desc", Some(r#""包装破损""#))]);
    assert_eq!(r.reason.as_str(), "不想要了 — 包装破损");
    let r = map_ok(&[("reason", None), ("desc", Some(r#""只有说明""#))]);
    assert_eq!(r.reason.as_str(), "只有说明");
    let long = format!("\"{}\"", "长".repeat(2001));
    assert_eq!(map_err(&[("reason", Some(&long))]).field, "refund.reason");
    assert_eq!(
        map_err(&[("buyer_nick", Some(&long))]).field,
        "refund.buyer_nick"
    );
}

#[test]
fn payloads_that_are_not_refunds_are_errors() {
    let e = map(b"{not json").unwrap_err();
    assert_eq!(e.field, "$");
    assert_eq!(map(b"[1, 2]").unwrap_err().field, "$");
    assert_eq!(map(b"null").unwrap_err().field, "$");
    assert_eq!(
        map(br#"{"refund_get_response": [1]}"#).unwrap_err().field,
        "refund_get_response"
    );
    assert_eq!(
        map(br#"{"refund_get_response": {"refund": ["1001"]}}"#)
            .unwrap_err()
            .field,
        "refund"
    );
    assert_eq!(map(b"\xff\xfe").unwrap_err().field, "$");
    let top_error = r#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isv.refund-not-exist","sub_msg":"退款不存在","request_id":"abc"}}"#;
    let e = map(top_error).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("error_response", "15 isv.refund-not-exist")
    );
    assert!(e.problem.contains("退款不存在"), "{e}");
    let empty = map(br#"{"refund_get_response":{"request_id":"abc"}}"#).unwrap_err();
    assert_eq!(empty.field, "refund_get_response.refund");
    // A wrong JSON type inside the refund is reported with the text around it.
    let e = map(refund_with(&[("status", Some(r#"{"v": "SUCCESS"}"#))])).unwrap_err();
    assert_eq!(e.field, "refund");
    assert!(e.raw.contains("SUCCESS"), "{e}");
}

// ---- the embedded policy --------------------------------------------------------------------

#[test]
fn tb_01_policy_loads_with_window_and_every_action() {
    let reg = AdapterRegistry::builtin().load_policies().unwrap();
    let taobao = PlatformCode::parse("taobao").unwrap();
    assert!(reg.in_force(&taobao, bj("2023-12-31 23:59:59")).is_none());
    let p = reg.in_force(&taobao, bj("2024-01-01 00:00:00")).unwrap();
    assert_eq!(p.version, "taobao-2024-01-01");
    assert_eq!(p.after_sales_window_days, Some(15), "TB-01");
    // Taobao has no evidence requests, merchant-opened requests or 1688's tracking changes.
    let elsewhere = [
        ActionKind::RecordBuyerConfirmation,
        ActionKind::StageEvidence,
        ActionKind::SubmitEvidence,
        ActionKind::RecordTrackingChange,
        ActionKind::UpdateDepositRelease,
    ];
    // (RecordRuling: TB-05's customer-service intervention ends in a ruling.)
    for a in ActionKind::ALL {
        assert_eq!(p.allows(a), !elsewhere.contains(&a), "{a}");
    }
    for d in &p.deadlines {
        assert!(d.rule.starts_with("TB-"), "{}", d.key);
        assert!(
            d.note.contains(&d.rule),
            "{}: the note quotes its rule",
            d.key
        );
    }
    assert_eq!(TaobaoAdapter.policy_sources().len(), 1);
}

#[test]
fn tb_04_unshipped_refund_gives_merchant_two_days_then_auto_refund() {
    let p = policy();
    let record = map_ok(&[]);
    assert_eq!(
        (record.kind, record.fulfilment),
        (CaseKind::RefundOnly, Fulfilment::NotShipped)
    );
    let case = open(record, &p);
    assert_eq!(keys(&case), ["merchant_response_unshipped"]);
    let d = deadline(&case, "merchant_response_unshipped");
    assert_eq!(d.rule_id, "TB-04");
    assert_eq!(d.due_party, DueParty::Merchant);
    assert_eq!(
        d.due_at,
        bj("2024-06-03 12:00:00"),
        "2 days after the request"
    );
    assert_eq!(d.remind_at, Some(bj("2024-06-03 00:00:00")));
    assert_eq!(d.consequence, Consequence::AutoRefund);
    assert_eq!(
        (d.source, d.computed_due_at),
        (DeadlineSource::Policy, None)
    );
    // The same through deadlines_for directly.
    assert_eq!(
        p.deadlines_for(&case, bj("2024-06-01 12:00:00"), None),
        case.deadlines
    );
}

#[test]
fn tb_07_signed_for_refund_gives_merchant_five_days() {
    let p = policy();
    for has_return in ["false", "true"] {
        let record = map_ok(&[
            ("order_status", Some(r#""WAIT_BUYER_CONFIRM_GOODS""#)),
            ("good_status", Some(r#""BUYER_RECEIVED""#)),
            ("has_good_return", Some(has_return)),
        ]);
        assert_eq!(record.fulfilment, Fulfilment::Received);
        let case = open(record, &p);
        assert_eq!(
            keys(&case),
            ["merchant_response_signed"],
            "has_good_return={has_return}"
        );
        let d = deadline(&case, "merchant_response_signed");
        assert_eq!(d.rule_id, "TB-07");
        assert_eq!(d.due_party, DueParty::Merchant);
        assert_eq!(
            d.due_at,
            bj("2024-06-06 12:00:00"),
            "5 days after the request"
        );
        assert_eq!(d.remind_at, Some(bj("2024-06-05 12:00:00")));
        assert_eq!(d.consequence, Consequence::AutoAgree, "TB-02");
    }
}

#[test]
fn tb_02_shipped_or_unknown_fulfilment_still_gets_an_assumed_merchant_deadline() {
    let p = policy();
    let shipped = open(
        map_ok(&[("order_status", Some(r#""WAIT_BUYER_CONFIRM_GOODS""#))]),
        &p,
    );
    assert_eq!(keys(&shipped), ["merchant_response_shipped"]);
    assert_eq!(
        deadline(&shipped, "merchant_response_shipped").due_at,
        bj("2024-06-06 12:00:00")
    );
    let unknown = open(map_ok(&[("order_status", Some(r#""TRADE_CLOSED""#))]), &p);
    assert_eq!(keys(&unknown), ["merchant_response_fulfilment_unknown"]);
    assert_eq!(
        deadline(&unknown, "merchant_response_fulfilment_unknown").due_at,
        bj("2024-06-03 12:00:00")
    );
    for key in [
        "merchant_response_shipped",
        "merchant_response_fulfilment_unknown",
        "merchant_response_exchange",
    ] {
        assert!(
            p.deadlines.iter().any(|d| d.key == key && d.assumed),
            "{key} must be marked assumed"
        );
    }
}

#[test]
fn tb_05_after_a_refusal_the_buyer_may_escalate_from_day_three() {
    let p = policy();
    let case = open(map_ok(&[("status", Some(r#""SELLER_REFUSE_BUYER""#))]), &p);
    assert_eq!(case.state, CaseState::AwaitingBuyer);
    assert_eq!(keys(&case), ["buyer_may_escalate"]);
    let d = deadline(&case, "buyer_may_escalate");
    assert_eq!(d.rule_id, "TB-05");
    assert_eq!(d.due_party, DueParty::Buyer);
    assert_eq!(
        d.due_at,
        bj("2024-06-04 12:00:00"),
        "3 days after the request was opened"
    );
    assert_eq!(d.consequence, Consequence::BuyerMayEscalate);
    // Once customer service is in, the platform has the case: no buyer clock.
    let escalated = open(
        map_ok(&[
            ("status", Some(r#""SELLER_REFUSE_BUYER""#)),
            ("cs_status", Some("3")),
        ]),
        &p,
    );
    assert_eq!(escalated.state, CaseState::PlatformIntervening);
    assert!(escalated.deadlines.is_empty());
}

#[test]
fn tb_08_agreed_return_gives_buyer_seven_days_to_ship() {
    let p = policy();
    let record = map_ok(&[
        ("status", Some(r#""WAIT_BUYER_RETURN_GOODS""#)),
        ("has_good_return", Some("true")),
        ("good_status", Some(r#""BUYER_RECEIVED""#)),
        ("order_status", Some(r#""TRADE_FINISHED""#)),
    ]);
    let case = open(record, &p);
    // TB-08 and the TB-05 escalation window both apply to an awaiting-buyer return: intended
    // (state and kind cannot tell an agreed return from a refusal; TB-05 is informational).
    assert_eq!(keys(&case), ["buyer_may_escalate", "buyer_return_waybill"]);
    let d = deadline(&case, "buyer_return_waybill");
    assert_eq!(d.rule_id, "TB-08");
    assert_eq!(d.due_party, DueParty::Buyer);
    assert_eq!(d.due_at, bj("2024-06-08 12:00:00"));
    assert_eq!(d.consequence, Consequence::AutoClose);
    // An exchange waiting for the buyer is confirming the replacement, not shipping a return.
    let exchange = open(
        map_ok(&[(
            "status",
            Some(r#""WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS""#),
        )]),
        &p,
    );
    assert_eq!(exchange.kind, CaseKind::Exchange);
    assert!(exchange.deadlines.is_empty(), "{:?}", keys(&exchange));
}

#[test]
fn tb_10_merchant_has_ten_days_to_confirm_the_return() {
    let p = policy();
    let record = map(BARE).unwrap();
    let returned_at = record.return_shipment.as_ref().unwrap().shipped_at.unwrap();
    let case = open(record, &p);
    assert_eq!(case.state, CaseState::ReturnInTransit);
    assert_eq!(keys(&case), ["merchant_confirm_return"]);
    // The clock runs from entering return_in_transit, i.e. when the buyer submitted the return.
    let ds = p.deadlines_for(&case, returned_at, None);
    assert_eq!(ds.len(), 1);
    let d = &ds[0];
    assert_eq!(d.rule_id, "TB-10");
    assert_eq!(d.due_party, DueParty::Merchant);
    assert_eq!(
        d.due_at,
        bj("2024-05-14 18:30:00"),
        "10 days after the return was submitted"
    );
    assert_eq!(d.remind_at, Some(bj("2024-05-13 18:30:00")));
    assert_eq!(d.consequence, Consequence::AutoRefund);
}

#[test]
fn platform_deadline_overrides_the_merchant_one_and_keeps_the_computed_one() {
    let p = policy();
    let mut record = map(WRAPPED).unwrap();
    let case = open(record.clone(), &p);
    let d = deadline(&case, "merchant_response_signed");
    assert_eq!(d.source, DeadlineSource::Platform);
    assert_eq!(d.due_at, bj("2024-03-20 10:20:30"));
    assert_eq!(
        d.computed_due_at,
        Some(bj("2024-03-20 10:20:30")),
        "TB-07: 5 days after 2024-03-15 10:20:30"
    );

    // Taobao announces a different time: it wins, the policy's computation stays beside it.
    record.platform_deadline = Some(bj("2024-03-19 22:00:00"));
    let case = open(record, &p);
    let d = deadline(&case, "merchant_response_signed");
    assert_eq!(
        (d.source, d.due_at),
        (DeadlineSource::Platform, bj("2024-03-19 22:00:00"))
    );
    assert_eq!(d.computed_due_at, Some(bj("2024-03-20 10:20:30")));
    assert_eq!(
        d.remind_at,
        Some(bj("2024-03-18 22:00:00")),
        "reminder follows the platform's time"
    );

    // Buyer deadlines are never overridden by the platform's (merchant-facing) deadline.
    let on = r#"{"exist_timeout": true, "timeout": "2024-06-02 12:00:00"}"#;
    let buyer = open(
        map_ok(&[
            ("status", Some(r#""WAIT_BUYER_RETURN_GOODS""#)),
            ("has_good_return", Some("true")),
            ("refund_remind_timeout", Some(on)),
        ]),
        &p,
    );
    let d = deadline(&buyer, "buyer_return_waybill");
    assert_eq!(
        (d.source, d.computed_due_at),
        (DeadlineSource::Policy, None)
    );
}

#[test]
fn resolved_cases_have_no_deadlines() {
    let p = policy();
    for status in ["SUCCESS", "CLOSED"] {
        let case = open(map_ok(&[("status", Some(&quoted(status)))]), &p);
        assert!(case.state.is_resolved());
        assert!(case.deadlines.is_empty(), "{status}: {:?}", keys(&case));
    }
}

#[test]
fn merchant_deadline_rules_never_overlap_and_cover_every_open_request() {
    let p = policy();
    let base = open(map_ok(&[]), &p);
    for state in CaseState::ALL {
        for kind in CaseKind::ALL {
            for fulfilment in Fulfilment::ALL {
                let mut case = base.clone();
                (case.state, case.kind, case.fulfilment) = (state, kind, fulfilment);
                let ds = p.deadlines_for(&case, bj("2024-06-01 12:00:00"), None);
                let merchant: Vec<_> = ds
                    .iter()
                    .filter(|d| d.due_party == DueParty::Merchant)
                    .collect();
                // The platform's deadline replaces every merchant deadline: two would get the
                // same due time, so at most one may apply.
                assert!(
                    merchant.len() <= 1,
                    "{state}/{kind}/{}: {merchant:?}",
                    fulfilment.as_str()
                );
                let keys: Vec<_> = ds.iter().map(|d| d.key.as_str()).collect();
                let mut dedup = keys.clone();
                dedup.dedup();
                assert_eq!(keys.len(), dedup.len());
                // Every order-line request awaiting the merchant has a clock (TB-02), except
                // return/exchange before shipment, which CM-03 rules out.
                let request = matches!(
                    kind,
                    CaseKind::RefundOnly | CaseKind::ReturnAndRefund | CaseKind::Exchange
                );
                let impossible =
                    kind != CaseKind::RefundOnly && fulfilment == Fulfilment::NotShipped;
                if state == CaseState::AwaitingMerchant && request && !impossible {
                    assert_eq!(
                        merchant.len(),
                        1,
                        "{kind}/{} has no merchant deadline",
                        fulfilment.as_str()
                    );
                }
            }
        }
    }
}

#[test]
fn tb_21_tb_25_signed_elsewhere_tasks_have_24_hour_clocks() {
    let p = policy();
    let mut case = open(map_ok(&[]), &p);
    case.kind = CaseKind::SignedElsewhereTask;
    let start = bj("2024-06-01 12:00:00");
    let ds = p.deadlines_for(&case, start, None);
    assert_eq!(ds.len(), 1);
    assert_eq!(
        (ds[0].rule_id.as_str(), ds[0].due_at),
        ("TB-21", start + Duration::hours(24))
    );
    assert_eq!(
        ds[0].consequence,
        Consequence::FalseShipmentComplaint,
        "TB-29"
    );
    case.state = CaseState::AwaitingMerchantExecution;
    case.task = Some(aftersales_domain::SignedElsewhereTask {
        plan: Some(aftersales_domain::TaskPlan::SlipOrReshipLater),
        ..Default::default()
    });
    let ds = p.deadlines_for(&case, start, None);
    assert_eq!(ds.len(), 1);
    assert_eq!(
        (ds[0].rule_id.as_str(), ds[0].consequence),
        ("TB-25", Consequence::PlatformIntervenes)
    );
    // The TB-25 clock belongs to that plan only; rescheduling has its own (assumed) one.
    case.task.as_mut().unwrap().plan = Some(aftersales_domain::TaskPlan::RescheduleDelivery);
    let ds = p.deadlines_for(&case, start, None);
    assert_eq!(ds.len(), 1);
    assert_eq!((ds[0].rule_id.as_str(), ds[0].assumed), ("TB-24", true));
}
