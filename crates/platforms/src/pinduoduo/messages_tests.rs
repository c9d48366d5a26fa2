//! Pinduoduo refund message tests (platform-apis.md §2.5): every type, content as a string
//! and as an object, the refused types, and the validated content fields.

use super::messages::RefundTopic;
use super::PinduoduoAdapter;
use crate::{MappingError, PlatformAdapter};
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{PlatformInput, PlatformNotice};

/// The stored message of §2.5, as the PDD SDK hands it over (content as a JSON string).
const STORED: &str = r#"{"content":"{\"mall_id\":171504183,\"refund_fee\":1990,\"bill_type\":1,\"modified\":1625637425016,\"refund_id\":7381745730,\"operation\":1000,\"tid\":\"210707-339507978993455\"}","mallID":171504183,"type":"pdd_refund_RefundCreated"}"#;

// ---- helpers --------------------------------------------------------------------------------

fn base() -> Vec<(&'static str, String)> {
    [
        ("mall_id", "171504183"),
        ("refund_id", "7381745730"),
        ("tid", r#""210707-339507978993455""#),
        ("refund_fee", "1990"),
        ("bill_type", "1"),
        ("operation", "1000"),
        ("modified", "1625637425016"),
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

/// The message as the SDK hands it over: `type`, `mallID`, `content` as a JSON string.
fn message(topic: &str, changes: &[(&'static str, Option<&str>)]) -> String {
    let as_string = serde_json::to_string(&content(changes)).unwrap();
    format!(r#"{{"type": {topic:?}, "mallID": 171504183, "content": {as_string}}}"#)
}

fn notice(native: impl AsRef<[u8]>) -> Result<PlatformNotice, MappingError> {
    match PinduoduoAdapter.map_record(native.as_ref())? {
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

// ---- types ----------------------------------------------------------------------------------

#[test]
fn every_refund_message_type_maps_to_a_notice() {
    // §2.5: (type, meaning as the notice carries it).
    let table: &[(&str, &str)] = &[
        (
            "pdd_refund_RefundCreated",
            "after-sales request created (退款创建消息)",
        ),
        (
            "pdd_refund_RefundAgreeAgreement",
            "refund agreed (同意退款协议消息)",
        ),
        (
            "pdd_refund_RefundClosed",
            "after-sales order closed (售后单关闭消息)",
        ),
        (
            "pdd_refund_RefundBuyerModifyAgreement",
            "buyer modified the request (买家修改退款协议消息)",
        ),
        (
            "pdd_refund_RefundBuyerReturnGoods",
            "buyer shipped the goods back (买家退货给卖家消息)",
        ),
        (
            "pdd_refund_RefundCreateMessage",
            "a message (留言) was posted (发表退款留言消息)",
        ),
    ];
    for &(topic, meaning) in table {
        let as_string = notice(message(topic, &[])).unwrap();
        assert_eq!(as_string.topic, topic);
        assert_eq!(as_string.meaning, meaning);
        assert_eq!(as_string.platform_case_id.as_str(), "7381745730");
        // Content as an object, and the type under `topic`: the same notice.
        let as_object = notice(format!(
            r#"{{"topic": {topic:?}, "content": {}}}"#,
            content(&[])
        ))
        .unwrap();
        assert_eq!(as_object, as_string, "{topic}");
    }
    for t in RefundTopic::ALL {
        assert!(
            table.iter().any(|row| row.0 == t.code()),
            "{} is missing from the table",
            t.code()
        );
        assert_eq!(RefundTopic::parse("type", t.code()).unwrap(), t);
    }
}

#[test]
fn the_stored_message_maps_every_field() {
    let n = notice(STORED).unwrap();
    assert_eq!(n.topic, "pdd_refund_RefundCreated");
    assert_eq!(n.platform_case_id.as_str(), "7381745730");
    assert_eq!(
        n.order_id.as_ref().unwrap().as_str(),
        "210707-339507978993455"
    );
    assert_eq!(n.sub_order_id, None);
    assert_eq!(
        n.occurred_at,
        Some(parse_shanghai("2021-07-07 13:57:05").unwrap() + chrono::Duration::milliseconds(16)),
        "modified is epoch milliseconds"
    );
    let attrs: Vec<(&str, &str)> = n
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        attrs,
        [
            ("bill_type", "1"),
            ("mall_id", "171504183"),
            ("modified", "1625637425016"),
            ("operation", "1000"),
            ("refund_fee", "1990"),
        ]
    );
}

#[test]
fn unknown_message_types_are_refused() {
    for topic in [
        "pdd_refund_RefundSomethingNew",
        "pdd_refund_refundcreated",
        "taobao_refund_RefundCreated",
        "",
    ] {
        let e = notice_err(message(topic, &[]));
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("type", topic),
            "{topic}: {e}"
        );
    }
    let e = notice_err(format!(
        r#"{{"topic": "pdd_refund_Nope", "content": {}}}"#,
        content(&[])
    ));
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("topic", "pdd_refund_Nope")
    );
    for topic in ["pdd_trade_TradeConfirmed", "pdd_trade_TradeSellerShip"] {
        let e = notice_err(message(topic, &[("refund_id", None)]));
        assert_eq!((e.field.as_str(), e.raw.as_str()), ("type", topic));
        assert!(e.problem.contains("only pdd_refund_*"), "{e}");
    }
    let e = notice_err(r#"{"type": 42, "content": "{}"}"#);
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("type", "42"));
    let e = notice_err(
        r#"{"type": "pdd_refund_RefundClosed", "topic": "pdd_refund_RefundClosed", "content": "{}"}"#,
    );
    assert_eq!(e.field, "topic");
    assert!(e.problem.contains("both"), "{e}");
}

// ---- content --------------------------------------------------------------------------------

#[test]
fn refund_id_is_required_and_tid_modified_are_optional() {
    let e = notice_err(message("pdd_refund_RefundClosed", &[("refund_id", None)]));
    assert_eq!(e.field, "content.refund_id");
    assert!(e.problem.contains("missing"), "{e}");
    let e = notice_err(message(
        "pdd_refund_RefundClosed",
        &[("refund_id", Some("1.5e21"))],
    ));
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("content.refund_id", "1.5e21")
    );
    let n = notice(message(
        "pdd_refund_RefundClosed",
        &[("refund_id", Some(r#""7381745730""#))],
    ))
    .unwrap();
    assert_eq!(n.platform_case_id.as_str(), "7381745730");
    let n = notice(message(
        "pdd_refund_RefundClosed",
        &[("tid", None), ("modified", None), ("mall_id", None)],
    ))
    .unwrap();
    assert_eq!((n.order_id, n.occurred_at), (None, None));
    assert_eq!(
        n.attributes["mall_id"], "171504183",
        "the envelope's mallID stands in"
    );
}

#[test]
fn refund_fee_is_fen_and_modified_a_time() {
    for raw in [r#""19.90""#, "19.9", r#""abc""#] {
        let e = notice_err(message(
            "pdd_refund_RefundCreated",
            &[("refund_fee", Some(raw))],
        ));
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("content.refund_fee", raw.trim_matches('"'))
        );
    }
    let n = notice(message(
        "pdd_refund_RefundCreated",
        &[("refund_fee", Some(r#""1990""#))],
    ))
    .unwrap();
    assert_eq!(n.attributes["refund_fee"], "1990");
    let e = notice_err(message(
        "pdd_refund_RefundCreated",
        &[("modified", Some(r#""later""#))],
    ));
    assert_eq!(e.field, "content.modified");
}

#[test]
fn content_must_be_an_object_or_a_string_holding_one() {
    for content in [r#""not json""#, "42", "[1]", r#""[1]""#] {
        let e = notice_err(format!(
            r#"{{"type": "pdd_refund_RefundClosed", "content": {content}}}"#
        ));
        assert_eq!(e.field, "content", "{content}: {e}");
    }
    let e = notice_err(r#"{"type": "pdd_refund_RefundClosed"}"#);
    assert_eq!(e.field, "content");
    assert!(e.problem.contains("missing"), "{e}");
}
