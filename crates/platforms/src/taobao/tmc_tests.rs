//! TMC refund message tests (platform-apis.md §1.5): every topic, content as a string and as
//! an object, the refused topics, and the validated content fields.

use super::tmc::{BillType, RefundTopic};
use super::TaobaoAdapter;
use crate::{MappingError, PlatformAdapter};
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{PlatformInput, PlatformNotice};
use chrono::{DateTime, Utc};

const FIXTURE: &str =
    include_str!("../../tests/fixtures/taobao/tmc_refund_seller_agree_agreement.json");

// ---- helpers --------------------------------------------------------------------------------

/// A realistic refund message content. Raw JSON text per field.
fn base() -> Vec<(&'static str, String)> {
    [
        ("refund_id", "201234567890123456"),
        ("tid", "3456789012345678901"),
        ("oid", "3456789012345678902"),
        ("refund_fee", r#""200.07""#),
        ("refund_phase", r#""onsale""#),
        ("bill_type", r#""refund_bill""#),
        ("buyer_nick", r#""t**买家""#),
        ("buyer_open_uid", r#""AAHm5d-EAAeGwJedwSHpg8bT""#),
        ("seller_nick", r#""示例旗舰店""#),
        ("modified", r#""2024-03-15 10:30:00""#),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

fn content(changes: &[(&'static str, Option<&str>)]) -> String {
    let mut fields = base();
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        if let Some(v) = value {
            fields.push((key, v.to_string()));
        }
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// The message with `content` as TMC delivers it: a JSON string holding the object.
fn message(topic: &str, changes: &[(&'static str, Option<&str>)]) -> String {
    let as_string = serde_json::to_string(&content(changes)).unwrap();
    format!(r#"{{"topic": {topic:?}, "content": {as_string}}}"#)
}

/// The same message with `content` as an object.
fn message_with_object(topic: &str, changes: &[(&'static str, Option<&str>)]) -> String {
    format!(r#"{{"topic": {topic:?}, "content": {}}}"#, content(changes))
}

fn notice(native: impl AsRef<[u8]>) -> Result<PlatformNotice, MappingError> {
    match TaobaoAdapter.map_record(native.as_ref())? {
        PlatformInput::Notice(n) => Ok(n),
        other => panic!("expected a notice, got {other:?}"),
    }
}

fn notice_err(native: impl AsRef<[u8]>) -> MappingError {
    match notice(native.as_ref()) {
        Ok(n) => panic!("should be refused, got {n:?}"),
        Err(e) => e,
    }
}

fn bj(s: &str) -> DateTime<Utc> {
    parse_shanghai(s).unwrap()
}

// ---- topics ---------------------------------------------------------------------------------

#[test]
fn every_refund_topic_maps_to_a_notice() {
    // §1.5: (topic, meaning as the notice carries it).
    let table: &[(&str, &str)] = &[
        (
            "taobao_refund_RefundCreated",
            "refund created (退款创建消息)",
        ),
        (
            "taobao_refund_RefundSellerAgreeAgreement",
            "seller agreed (卖家同意退款协议消息)",
        ),
        (
            "taobao_refund_RefundSellerRefuseAgreement",
            "seller refused (卖家拒绝退款协议消息)",
        ),
        (
            "taobao_refund_RefundBuyerModifyAgreement",
            "buyer modified the request (买家修改退款协议消息)",
        ),
        (
            "taobao_refund_RefundBuyerReturnGoods",
            "buyer shipped the goods back (买家退货给卖家消息)",
        ),
        (
            "taobao_refund_RefundCreateMessage",
            "a message (留言) was posted (发表退款留言消息)",
        ),
        ("taobao_refund_RefundClosed", "refund closed (退款关闭消息)"),
        (
            "taobao_refund_RefundSuccess",
            "refund succeeded (退款成功消息)",
        ),
        (
            "taobao_refund_TaobaoInterApplied",
            "platform intervention requested (申请淘宝介入消息)",
        ),
        (
            "taobao_refund_TaobaoIntervened",
            "Taobao intervened (淘宝介入退款消息)",
        ),
        (
            "taobao_refund_RefundableMarked",
            "refundable mark set (退款标记创建消息)",
        ),
        (
            "taobao_refund_RefundableCanceled",
            "refundable mark removed (退款标记取消消息)",
        ),
        // [S]: one secondary source only.
        (
            "taobao_refund_RefundTimeoutRemind",
            "refund timeout reminder (退款超时提醒消息)",
        ),
    ];
    assert_eq!(table.len(), RefundTopic::ALL.len());
    for t in RefundTopic::ALL {
        assert!(
            table.iter().any(|(code, _)| *code == t.code()),
            "{t:?} untested"
        );
        assert_eq!(RefundTopic::parse(t.code()).unwrap(), t);
    }
    for (topic, meaning) in table {
        let n = notice(message(topic, &[])).unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert_eq!(n.topic, *topic);
        assert_eq!(n.meaning, *meaning);
        assert_eq!(n.platform_case_id.as_str(), "201234567890123456");
    }
}

#[test]
fn content_as_a_string_or_an_object_is_the_same_notice() {
    let topic = "taobao_refund_RefundSellerAgreeAgreement";
    let from_string = notice(message(topic, &[])).unwrap();
    let from_object = notice(message_with_object(topic, &[])).unwrap();
    assert_eq!(from_string, from_object);
    let wrapped = notice(format!(r#"{{"tmc_message": {}}}"#, message(topic, &[]))).unwrap();
    assert_eq!(wrapped, from_string);

    let n = from_string;
    assert_eq!(n.order_id.as_ref().unwrap().as_str(), "3456789012345678901");
    assert_eq!(
        n.sub_order_id.as_ref().unwrap().as_str(),
        "3456789012345678902"
    );
    assert_eq!(n.occurred_at, Some(bj("2024-03-15 10:30:00")));
    assert_eq!(
        n.occurred_at.unwrap().to_rfc3339(),
        "2024-03-15T02:30:00+00:00",
        "modified is Beijing time"
    );
    let attrs: Vec<(&str, &str)> = n
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        attrs,
        [
            ("bill_type", "refund_bill"),
            ("buyer_nick", "t**买家"),
            ("buyer_open_uid", "AAHm5d-EAAeGwJedwSHpg8bT"),
            ("refund_fee", "200.07"),
            ("refund_phase", "onsale"),
            ("seller_nick", "示例旗舰店"),
        ]
    );
}

#[test]
fn the_fixture_message_maps_and_ignores_envelope_fields() {
    let n = notice(FIXTURE).unwrap();
    assert_eq!(n.topic, "taobao_refund_RefundSellerAgreeAgreement");
    assert_eq!(n.platform_case_id.as_str(), "201234567890123456");
    assert_eq!(n.attributes["bill_type"], "return_bill");
    assert_eq!(n.occurred_at, Some(bj("2024-03-15 10:30:00")));
    assert!(!n.attributes.contains_key("pub_time"));
}

#[test]
fn unknown_topics_and_refund_block_message_are_refused() {
    for topic in [
        "taobao_refund_RefundBlockMessage",
        "taobao_refund_RefundSomethingNew",
        "taobao_refund_refundcreated",
        "tmall_refund_RefundCreated",
        "",
    ] {
        let e = notice_err(message(topic, &[]));
        assert_eq!(e.field, "topic", "{topic}: {e}");
        assert_eq!(e.raw, if topic.is_empty() { "" } else { topic });
    }
    let e = notice_err(message("taobao_refund_RefundBlockMessage", &[]));
    assert!(e.problem.contains("无此消息"), "{e}");
    // Without `topic` a bare payload is not recognised as a TMC message (it goes to the
    // refund path); inside the wrapper the missing topic is named.
    let e = notice_err(r#"{"tmc_message": {"content": "{}"}}"#);
    assert_eq!(e.field, "topic");
    assert!(e.problem.contains("missing"), "{e}");
    let e = notice_err(r#"{"topic": 42, "content": "{}"}"#);
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("topic", "42"));
}

#[test]
fn trade_topics_are_refused_with_a_clear_message() {
    for topic in [
        "taobao_trade_TradePartlyRefund",
        "taobao_trade_TradeClose",
        "taobao_trade_TradeSuccess",
    ] {
        // Checked before the content: a trade message has no refund_id to complain about.
        let e = notice_err(message(topic, &[("refund_id", None)]));
        assert_eq!((e.field.as_str(), e.raw.as_str()), ("topic", topic));
        assert!(e.problem.contains("only taobao_refund_* topics"), "{e}");
        assert!(e.problem.contains("refund_id"), "{e}");
    }
}

// ---- content --------------------------------------------------------------------------------

#[test]
fn refund_id_is_required() {
    for topic in [
        "taobao_refund_RefundCreated",
        "taobao_refund_RefundableMarked",
    ] {
        let e = notice_err(message(topic, &[("refund_id", None)]));
        assert_eq!(e.field, "content.refund_id");
        assert!(
            e.problem.contains("missing") && e.problem.contains(topic),
            "{e}"
        );
    }
    let e = notice_err(message(
        "taobao_refund_RefundCreated",
        &[("refund_id", Some("1.5e21"))],
    ));
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("content.refund_id", "1.5e21")
    );
    // String ids and numeric ids are the same id.
    let n = notice(message(
        "taobao_refund_RefundCreated",
        &[("refund_id", Some(r#""201234567890123456""#))],
    ))
    .unwrap();
    assert_eq!(n.platform_case_id.as_str(), "201234567890123456");
    // tid, oid and modified are optional.
    let n = notice(message(
        "taobao_refund_RefundCreated",
        &[("tid", None), ("oid", None), ("modified", None)],
    ))
    .unwrap();
    assert_eq!(
        (n.order_id, n.sub_order_id, n.occurred_at),
        (None, None, None)
    );
}

#[test]
fn bill_type_refund_phase_and_refund_fee_are_validated() {
    for b in BillType::ALL {
        assert_eq!(BillType::parse(b.code()).unwrap(), b);
        let n = notice(message(
            "taobao_refund_RefundClosed",
            &[("bill_type", Some(&format!("{:?}", b.code())))],
        ))
        .unwrap();
        assert_eq!(n.attributes["bill_type"], b.code());
    }
    let bad: &[(&'static str, &str, &str, &str)] = &[
        (
            "bill_type",
            r#""exchange_bill""#,
            "content.bill_type",
            "exchange_bill",
        ),
        (
            "refund_phase",
            r#""presale""#,
            "content.refund_phase",
            "presale",
        ),
        ("refund_fee", r#""1,00""#, "content.refund_fee", "1,00"),
        (
            "modified",
            r#""2024-03-15T10:30:00""#,
            "content.modified",
            "2024-03-15T10:30:00",
        ),
    ];
    for (key, raw, field, shown) in bad {
        let e = notice_err(message("taobao_refund_RefundClosed", &[(key, Some(raw))]));
        assert_eq!((e.field.as_str(), e.raw.as_str()), (*field, *shown), "{e}");
    }
    // Absent (RefundCreated's bill_type is optional in the typings) is not an error.
    let n = notice(message(
        "taobao_refund_RefundCreated",
        &[("bill_type", None)],
    ))
    .unwrap();
    assert!(!n.attributes.contains_key("bill_type"));
}

#[test]
fn content_must_be_an_object_or_a_string_holding_one() {
    for content in [r#""not json""#, "42", "[1]", r#""[1]""#] {
        let e = notice_err(format!(
            r#"{{"topic": "taobao_refund_RefundClosed", "content": {content}}}"#
        ));
        assert_eq!(e.field, "content", "{content}: {e}");
    }
    let e = notice_err(r#"{"topic": "taobao_refund_RefundClosed"}"#);
    assert_eq!(e.field, "content");
    assert!(e.problem.contains("missing"), "{e}");
    let e = notice_err(r#"{"topic": "taobao_refund_RefundClosed", "content": "{\"refund_id\": "}"#);
    assert_eq!(e.field, "content");
}

#[test]
fn the_tmc_message_wrapper_holds_the_whole_message() {
    let inner = message("taobao_refund_RefundClosed", &[]);
    let e = notice_err(format!(
        r#"{{"tmc_message": {inner}, "topic": "taobao_refund_RefundClosed"}}"#
    ));
    assert_eq!(e.field, "tmc_message");
    let e = notice_err(format!(r#"{{"tmc_message": {{"tmc_message": {inner}}}}}"#));
    assert_eq!(e.field, "tmc_message.tmc_message");
    let e = notice_err(r#"{"tmc_message": "x"}"#);
    assert_eq!(e.field, "tmc_message");
}
