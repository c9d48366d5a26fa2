//! Pinduoduo adapter tests: the status and type tables, units, times, the refused shapes,
//! and the embedded policy (PD-01, PD-03, PD-04, PD-06).

use super::transformers::{
    AfterSalesStatus, DetailAfterSalesType, ListAfterSalesType, ShippingStatus, SpeedRefundStatus,
    UserShippingStatus,
};
use super::PinduoduoAdapter;
use crate::test_support::object;
use crate::test_support::{bj, deadline, keys};
use crate::{AdapterRegistry, MappingError, PlatformAdapter};
use aftersales_domain::{
    ActionKind, Case, CaseId, CaseKind, CaseState, Consequence, DeadlineSource, DueParty,
    Fulfilment, PlatformCode, PlatformRecord, Policy, ShopId, TenantId,
};

fn map(native: impl AsRef<[u8]>) -> Result<PlatformRecord, MappingError> {
    crate::test_support::record(&PinduoduoAdapter, native.as_ref())
}

fn ok(native: impl AsRef<[u8]>) -> PlatformRecord {
    crate::test_support::mapped(&PinduoduoAdapter, native.as_ref())
}

fn refused(native: impl AsRef<[u8]>) -> MappingError {
    crate::test_support::refused(&PinduoduoAdapter, native.as_ref())
}

fn policy() -> Policy {
    crate::test_support::policy("pinduoduo")
}

fn open(record: PlatformRecord, policy: &Policy) -> Case {
    crate::test_support::open(record, policy, "pdd-flagship")
}

// ---- helpers --------------------------------------------------------------------------------

/// A realistic list record (pdd.refund.list.increment.get): refund only (query encoding 2),
/// awaiting the merchant, yuan strings, unix seconds as strings. Raw JSON text per field.
fn list_base() -> Vec<(&'static str, String)> {
    [
        ("id", "1001"),
        ("order_sn", r#""240601-123456789012345""#),
        ("after_sales_status", "2"),
        ("after_sales_type", "2"),
        ("after_sale_reason", r#""不想要了""#),
        ("refund_amount", r#""19.90""#),
        ("order_amount", r#""29.90""#),
        ("discount_amount", r#""0.00""#),
        ("goods_price", r#""29.90""#),
        ("goods_id", "123456789"),
        ("goods_name", r#""纯棉T恤""#),
        ("goods_number", r#""1""#),
        ("sku_id", r#""987654321""#),
        ("confirm_time", r#""1717200000""#),
        ("created_time", r#""1717214400""#),
        ("updated_time", r#""1717214405""#),
        ("speed_refund_flag", "0"),
        ("user_shipping_status", r#""0""#),
        ("dispute_refund_status", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// A realistic detail (pdd.refund.information.get): refund only (detail encoding 1), not
/// shipped, awaiting the merchant, integer fen, LONG times in milliseconds as on the official
/// page, and the platform's deadline `expire_time` (2024-06-03 10:00:00 Beijing).
fn detail_base() -> Vec<(&'static str, String)> {
    [
        ("id", "2001"),
        ("order_sn", r#""240601-123456789012345""#),
        ("after_sales_status", "2"),
        ("after_sales_type", "1"),
        ("after_sales_reason", r#""未收到货""#),
        ("remark", r#""联系卖家多次，一直不发货，申请仅退款处理""#),
        ("refund_amount", "1990"),
        ("order_amount", "2990"),
        ("discount_amount", "0"),
        ("goods_price", "2990"),
        ("goods_number", "1"),
        ("shipping_status", "0"),
        ("user_shipping_status", r#""0""#),
        ("speed_refund_flag", "0"),
        ("dispute_refund_status", "0"),
        ("join_or_not", r#""0""#),
        ("recreated_at", "1717214400000"),
        ("updated_time", r#""1717214405""#),
        ("expire_time", "1717380000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// The base list record with fields replaced (`Some(raw json)`) or removed (`None`), in its
/// API envelope.
fn list_with(changes: &[(&'static str, Option<&str>)]) -> String {
    format!(
        r#"{{"refund_increment_get_response": {{"refund_list": [{}], "total_count": 1}}}}"#,
        object(list_base(), changes)
    )
}

/// The base detail with fields replaced or removed, in its API envelope.
fn detail_with(changes: &[(&'static str, Option<&str>)]) -> String {
    format!(
        r#"{{"refund_information_get_response": {}}}"#,
        object(detail_base(), changes)
    )
}

fn list_ok(changes: &[(&'static str, Option<&str>)]) -> PlatformRecord {
    ok(list_with(changes))
}

fn list_err(changes: &[(&'static str, Option<&str>)]) -> MappingError {
    refused(list_with(changes))
}

fn detail_ok(changes: &[(&'static str, Option<&str>)]) -> PlatformRecord {
    ok(detail_with(changes))
}

fn detail_err(changes: &[(&'static str, Option<&str>)]) -> MappingError {
    refused(detail_with(changes))
}

// ---- after_sales_status ---------------------------------------------------------------------

/// Every documented code (platform-apis.md §2.2) with the state it maps to, read through a
/// detail record of a kind the code belongs to. 16 appears twice: it ends an exchange as
/// exchanged and a reship as reshipped. Changing the mapping must change this table.
const STATUS_TABLE: &[(u8, &str, CaseState)] = &[
    (2, "1", CaseState::AwaitingMerchant),
    (3, "2", CaseState::AwaitingMerchant),
    (4, "1", CaseState::AwaitingMerchantExecution),
    (5, "1", CaseState::AwaitingMerchantExecution),
    (6, "1", CaseState::AwaitingBuyer),
    (7, "2", CaseState::AwaitingBuyer),
    (8, "1", CaseState::PlatformIntervening),
    (9, "1", CaseState::Closed),
    (10, "1", CaseState::Refunded),
    (11, "1", CaseState::WithdrawnByBuyer),
    (12, "2", CaseState::Expired),
    (13, "2", CaseState::Expired),
    (14, "3", CaseState::AwaitingMerchant),
    (15, "3", CaseState::AwaitingBuyer),
    (16, "3", CaseState::Exchanged),
    (16, "4", CaseState::Reshipped),
    (17, "4", CaseState::Closed),
    (18, "3", CaseState::AwaitingBuyer),
    (21, "5", CaseState::AwaitingMerchant),
    (22, "5", CaseState::AwaitingBuyer),
    (24, "5", CaseState::Closed),
    (25, "5", CaseState::Repaired),
    (27, "5", CaseState::AwaitingBuyer),
    (31, "1", CaseState::AwaitingBuyer),
    (32, "4", CaseState::AwaitingMerchantExecution),
    (33, "1", CaseState::AwaitingMerchantExecution),
];

#[test]
fn every_after_sales_status_maps_to_its_state() {
    for &(code, detail_type, state) in STATUS_TABLE {
        let c = code.to_string();
        let r = detail_ok(&[
            ("after_sales_status", Some(&c)),
            ("after_sales_type", Some(detail_type)),
        ]);
        assert_eq!(
            r.state, state,
            "after_sales_status {code} (type {detail_type})"
        );
        assert_eq!(r.status.code, c);
        assert!(
            !r.status.text.is_empty() && !r.status.text.is_ascii(),
            "{code} needs its Chinese text"
        );
        // A list record reads the same status the same way (its type in the query encoding).
        let list_type = (detail_type.parse::<u8>().unwrap() + 1).to_string();
        let l = list_ok(&[
            ("after_sales_status", Some(&c)),
            ("after_sales_type", Some(&list_type)),
        ]);
        assert_eq!(l.state, state, "list record with after_sales_status {code}");
    }
    // The table and the enum list the same 26 codes, and the enum's are the documented ones.
    let documented: Vec<u8> = [
        0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    ]
    .into_iter()
    .chain([21, 22, 24, 25, 27, 31, 32, 33])
    .collect();
    let codes: Vec<u8> = AfterSalesStatus::ALL.iter().map(|s| s.code()).collect();
    assert_eq!(codes, documented);
    assert_eq!(codes.len(), 26);
    for s in AfterSalesStatus::ALL {
        let in_table = STATUS_TABLE.iter().any(|row| row.0 == s.code());
        assert_eq!(
            in_table,
            s != AfterSalesStatus::NoAfterSales,
            "{} is missing from the table",
            s.code()
        );
    }
    assert_eq!(
        AfterSalesStatus::parse(&crate::taobao::model::Scalar::Num("33".into()))
            .unwrap()
            .text(),
        "待商家召回"
    );
    assert_eq!(detail_ok(&[]).status.text, "买家申请退款，待商家处理");
}

#[test]
fn after_sales_status_0_is_not_a_case() {
    for raw in ["0", r#""0""#] {
        let e = detail_err(&[("after_sales_status", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("refund_information_get_response.after_sales_status", "0")
        );
        assert!(e.problem.contains("无售后"), "{e}");
        let e = list_err(&[("after_sales_status", Some(raw))]);
        assert_eq!(e.field, "refund_list[0].after_sales_status");
    }
}

#[test]
fn nonexistent_after_sales_status_codes_are_rejected() {
    for code in [1, 19, 20, 23, 26, 28, 29, 30, 34, 99] {
        for raw in [code.to_string(), format!("\"{code}\"")] {
            let e = detail_err(&[("after_sales_status", Some(&raw))]);
            assert_eq!(
                (e.platform.as_str(), e.field.as_str(), e.raw.as_str()),
                (
                    "pinduoduo",
                    "refund_information_get_response.after_sales_status",
                    code.to_string().as_str()
                ),
                "{raw}"
            );
            assert!(e.to_string().contains(&code.to_string()), "{e}");
            let e = list_err(&[("after_sales_status", Some(&raw))]);
            assert_eq!(e.field, "refund_list[0].after_sales_status");
        }
    }
    for raw in ["-1", "2.0", r#""02""#, r#""2a""#, r#""待商家处理""#] {
        let e = detail_err(&[("after_sales_status", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            (
                "refund_information_get_response.after_sales_status",
                raw.trim_matches('"')
            )
        );
    }
    for raw in [None, Some(r#""""#), Some("null")] {
        let e = detail_err(&[("after_sales_status", raw)]);
        assert_eq!(
            e.field,
            "refund_information_get_response.after_sales_status"
        );
        assert!(e.problem.contains("missing"), "{e}");
    }
}

#[test]
fn status_16_ends_only_an_exchange_or_a_reship() {
    for detail_type in ["1", "2", "5"] {
        let e = detail_err(&[
            ("after_sales_status", Some("16")),
            ("after_sales_type", Some(detail_type)),
        ]);
        assert_eq!(e.field, "refund_information_get_response.after_sales_type");
        assert!(e.problem.contains("换货补寄成功"), "{e}");
    }
}

#[test]
fn only_status_10_says_the_buyer_was_paid() {
    for &(code, detail_type, _) in STATUS_TABLE {
        let r = detail_ok(&[
            ("after_sales_status", Some(&code.to_string())),
            ("after_sales_type", Some(detail_type)),
        ]);
        let expected = (code == 10).then_some(r.requested_refund);
        assert_eq!(r.refunded, expected, "status {code}");
    }
}

// ---- after_sales_type: the two encodings ----------------------------------------------------

#[test]
fn list_records_read_after_sales_type_with_the_query_encoding() {
    let table = [
        ("2", CaseKind::RefundOnly, "仅退款"),
        ("3", CaseKind::ReturnAndRefund, "退货退款"),
        ("4", CaseKind::Exchange, "换货"),
        ("5", CaseKind::Reship, "缺货补寄"),
        ("6", CaseKind::Repair, "维修"),
    ];
    for (raw, kind, text) in table {
        assert_eq!(
            list_ok(&[("after_sales_type", Some(raw))]).kind,
            kind,
            "{raw}"
        );
        let quoted = format!("\"{raw}\"");
        assert_eq!(list_ok(&[("after_sales_type", Some(&quoted))]).kind, kind);
        let t = ListAfterSalesType::ALL
            .into_iter()
            .find(|t| t.code().to_string() == raw)
            .unwrap();
        assert_eq!((t.kind().unwrap(), t.text()), (kind, text));
    }
    assert_eq!(ListAfterSalesType::ALL.len(), 6);
    // 1 全部 is the query's "all types" filter, not a record's type.
    let e = list_err(&[("after_sales_type", Some("1"))]);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("refund_list[0].after_sales_type", "1")
    );
    assert!(e.problem.contains("全部"), "{e}");
    assert_eq!(ListAfterSalesType::All.text(), "全部");
    for raw in ["0", "7", r#""仅退款""#] {
        let e = list_err(&[("after_sales_type", Some(raw))]);
        assert_eq!(e.field, "refund_list[0].after_sales_type", "{raw}");
        assert_eq!(e.raw, raw.trim_matches('"'));
    }
    assert!(list_err(&[("after_sales_type", None)])
        .problem
        .contains("missing"));
}

#[test]
fn detail_records_read_after_sales_type_with_the_detail_encoding() {
    let table = [
        ("1", CaseKind::RefundOnly, "仅退款"),
        ("2", CaseKind::ReturnAndRefund, "退货退款"),
        ("3", CaseKind::Exchange, "换货"),
        ("4", CaseKind::Reship, "补寄"),
        ("5", CaseKind::Repair, "维修"),
    ];
    for (raw, kind, text) in table {
        assert_eq!(
            detail_ok(&[("after_sales_type", Some(raw))]).kind,
            kind,
            "{raw}"
        );
        let t = DetailAfterSalesType::ALL
            .into_iter()
            .find(|t| t.code().to_string() == raw)
            .unwrap();
        assert_eq!((t.kind(), t.text()), (kind, text));
    }
    assert_eq!(DetailAfterSalesType::ALL.len(), 5);
    for raw in ["0", "6", r#""退货退款""#] {
        let e = detail_err(&[("after_sales_type", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            (
                "refund_information_get_response.after_sales_type",
                raw.trim_matches('"')
            )
        );
    }
}

#[test]
fn the_same_type_number_means_different_kinds_in_list_and_detail() {
    // (number, kind in a list record, kind in a detail record)
    let table = [
        ("2", CaseKind::RefundOnly, CaseKind::ReturnAndRefund),
        ("3", CaseKind::ReturnAndRefund, CaseKind::Exchange),
        ("4", CaseKind::Exchange, CaseKind::Reship),
        ("5", CaseKind::Reship, CaseKind::Repair),
    ];
    for (raw, in_list, in_detail) in table {
        assert_eq!(list_ok(&[("after_sales_type", Some(raw))]).kind, in_list);
        assert_eq!(
            detail_ok(&[("after_sales_type", Some(raw))]).kind,
            in_detail
        );
    }
    // 1 is 仅退款 in a detail and refused in a list; 6 is 维修 in a list and refused in a
    // detail.
    assert_eq!(
        detail_ok(&[("after_sales_type", Some("1"))]).kind,
        CaseKind::RefundOnly
    );
    assert!(map(list_with(&[("after_sales_type", Some("1"))])).is_err());
    assert_eq!(
        list_ok(&[("after_sales_type", Some("6"))]).kind,
        CaseKind::Repair
    );
    assert!(map(detail_with(&[("after_sales_type", Some("6"))])).is_err());
}

// ---- amounts --------------------------------------------------------------------------------

#[test]
fn a_yuan_string_in_a_list_and_integer_fen_in_a_detail_are_the_same_amount() {
    let list = list_ok(&[]);
    let detail = detail_ok(&[]);
    assert_eq!(
        list.requested_refund.get(),
        1990,
        "\"19.90\" in a list record"
    );
    assert_eq!(
        detail.requested_refund.get(),
        1990,
        "1990 in a detail record"
    );
    assert_eq!(list.order_total.unwrap().get(), 2990);
    assert_eq!(detail.order_total.unwrap().get(), 2990);
    // Yuan strings in other spellings; fen as a numeric string.
    assert_eq!(
        list_ok(&[("refund_amount", Some(r#""19.9""#))])
            .requested_refund
            .get(),
        1990
    );
    assert_eq!(
        list_ok(&[("refund_amount", Some(r#""1""#))])
            .requested_refund
            .get(),
        100
    );
    assert_eq!(
        detail_ok(&[("refund_amount", Some(r#""1990""#))])
            .requested_refund
            .get(),
        1990
    );
    assert_eq!(list_ok(&[("order_amount", None)]).order_total, None);
    assert_eq!(
        detail_ok(&[("order_amount", Some(r#""""#))]).order_total,
        None
    );
}

#[test]
fn an_amount_in_the_other_apis_unit_is_refused() {
    // An integer in a list record: the list documents yuan strings; a number is what a fen
    // amount looks like, so the unit cannot be told.
    for raw in ["1990", "19.90"] {
        let e = list_err(&[("refund_amount", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("refund_list[0].refund_amount", raw)
        );
        assert!(e.problem.contains("yuan strings"), "{e}");
    }
    assert_eq!(
        list_err(&[("order_amount", Some("2990"))]).field,
        "refund_list[0].order_amount"
    );
    // A yuan amount in a detail record.
    for raw in [r#""19.90""#, "19.90", "19.9"] {
        let e = detail_err(&[("refund_amount", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            (
                "refund_information_get_response.refund_amount",
                raw.trim_matches('"')
            )
        );
        assert!(e.problem.contains("integer fen"), "{e}");
    }
    for raw in ["-1", r#""¥19""#, r#""1e3""#] {
        assert_eq!(
            detail_err(&[("refund_amount", Some(raw))]).field,
            "refund_information_get_response.refund_amount"
        );
    }
    for raw in [r#""-1.00""#, r#""1,00""#, r#""abc""#] {
        assert_eq!(
            list_err(&[("refund_amount", Some(raw))]).field,
            "refund_list[0].refund_amount"
        );
    }
    // Validated even where only kept as attributes.
    assert_eq!(
        detail_err(&[("goods_price", Some("29.90"))]).field,
        "refund_information_get_response.goods_price"
    );
    assert_eq!(
        list_err(&[("discount_amount", Some("0"))]).field,
        "refund_list[0].discount_amount"
    );
    // Required.
    let e = detail_err(&[("refund_amount", None)]);
    assert_eq!(e.field, "refund_information_get_response.refund_amount");
    assert!(e.problem.contains("missing"), "{e}");
}

// ---- times ----------------------------------------------------------------------------------

#[test]
fn expire_time_becomes_the_platform_deadline() {
    let due = bj("2024-06-03 10:00:00");
    assert_eq!(detail_ok(&[]).platform_deadline, Some(due), "milliseconds");
    for raw in [
        "1717380000",
        r#""1717380000""#,
        r#""1717380000000""#,
        r#""2024-06-03 10:00:00""#,
    ] {
        assert_eq!(
            detail_ok(&[("expire_time", Some(raw))]).platform_deadline,
            Some(due),
            "{raw}"
        );
    }
    // Null (not waiting for the merchant), absent, 0 and "" are no deadline.
    for raw in [Some("null"), None, Some("0"), Some(r#""""#)] {
        assert_eq!(
            detail_ok(&[("expire_time", raw)]).platform_deadline,
            None,
            "{raw:?}"
        );
    }
    for raw in [
        r#""tomorrow""#,
        r#""2024-06-03T10:00:00+08:00""#,
        "1.7e12",
        "-5",
    ] {
        let e = detail_err(&[("expire_time", Some(raw))]);
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            (
                "refund_information_get_response.expire_time",
                raw.trim_matches('"')
            )
        );
    }
    // The list carries no deadline.
    assert_eq!(list_ok(&[]).platform_deadline, None);
}

#[test]
fn created_and_updated_times_give_opening_time_and_version() {
    let list = list_ok(&[]);
    assert_eq!(list.opened_at, Some(bj("2024-06-01 12:00:00")));
    assert_eq!(list.version, bj("2024-06-01 12:00:05").timestamp_millis());
    assert_eq!(list.version, 1_717_214_405_000);
    let detail = detail_ok(&[]);
    assert_eq!(
        detail.opened_at,
        Some(bj("2024-06-01 12:00:00")),
        "recreated_at"
    );
    assert_eq!(detail.version, 1_717_214_405_000);
    // The same instant in every accepted form gives the same version.
    for raw in [
        r#""2024-06-01 12:00:05""#,
        "1717214405",
        "1717214405000",
        r#""1717214405000""#,
    ] {
        assert_eq!(
            detail_ok(&[("updated_time", Some(raw))]).version,
            1_717_214_405_000
        );
        assert_eq!(
            list_ok(&[("updated_time", Some(raw))]).version,
            1_717_214_405_000
        );
    }
    // No update time, no order.
    for raw in [None, Some("null"), Some(r#""""#), Some("0")] {
        let e = list_err(&[("updated_time", raw)]);
        assert_eq!(e.field, "refund_list[0].updated_time", "{raw:?}");
        assert!(e.problem.contains("version"), "{e}");
    }
    assert_eq!(
        detail_err(&[("updated_time", Some(r#""yesterday""#))]).field,
        "refund_information_get_response.updated_time"
    );
    assert_eq!(list_ok(&[("created_time", None)]).opened_at, None);
    assert_eq!(
        list_err(&[("created_time", Some(r#""2024/06/01""#))]).field,
        "refund_list[0].created_time"
    );
    assert_eq!(
        list_err(&[("confirm_time", Some(r#""soon""#))]).field,
        "refund_list[0].confirm_time"
    );
}

// ---- shapes ---------------------------------------------------------------------------------

#[test]
fn a_bare_record_without_its_envelope_is_refused() {
    for bare in [object(detail_base(), &[]), object(list_base(), &[])] {
        let e = refused(&bare);
        assert_eq!(e.field, "$");
        assert!(e.raw.contains("after_sales_type"), "{e}");
        assert!(e.problem.contains("ambiguous"), "{e}");
        assert!(
            e.problem.contains("refund_increment_get_response")
                && e.problem.contains("refund_information_get_response"),
            "the error says what to send: {e}"
        );
    }
    // Even one telltale member is enough.
    let e = refused(r#"{"refund_amount": 1990}"#);
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("$", "refund_amount"));
}

#[test]
fn payloads_mixing_kinds_are_refused() {
    let detail = object(detail_base(), &[]);
    let mixed = [
        format!(
            r#"{{"refund_information_get_response": {detail}, "refund_increment_get_response": {{"refund_list": []}}}}"#
        ),
        format!(r#"{{"refund_information_get_response": {detail}, "after_sales_status": 2}}"#),
        format!(
            r#"{{"refund_information_get_response": {detail}, "type": "pdd_refund_RefundCreated"}}"#
        ),
        format!(r#"{{"refund_information_get_response": {detail}, "error_response": {{}}}}"#),
    ];
    for payload in mixed {
        let e = refused(&payload);
        assert_eq!(e.field, "$", "{payload}");
        assert!(e.problem.contains("more than one payload kind"), "{e}");
        assert!(e.raw.contains("refund_information_get_response"), "{e}");
    }
}

#[test]
fn a_list_payload_holds_exactly_one_record() {
    let item = object(list_base(), &[]);
    for (items, count) in [
        (String::new(), "0 items"),
        (format!("{item}, {item}"), "2 items"),
    ] {
        let e = refused(format!(
            r#"{{"refund_increment_get_response": {{"refund_list": [{items}], "total_count": 2}}}}"#
        ));
        assert_eq!(
            (e.field.as_str(), e.raw.as_str()),
            ("refund_increment_get_response.refund_list", count)
        );
        assert!(e.problem.contains("one at a time"), "{e}");
    }
    let e = refused(r#"{"refund_increment_get_response": {"total_count": 0}}"#);
    assert_eq!(e.field, "refund_increment_get_response.refund_list");
    let e = refused(r#"{"refund_increment_get_response": {"refund_list": {}}}"#);
    assert_eq!(e.field, "refund_increment_get_response.refund_list");
    let e = refused(r#"{"refund_increment_get_response": {"refund_list": [[1]]}}"#);
    assert_eq!(e.field, "refund_list[0]");
    // total_count is the list's total across pages: not checked against the one record.
    assert_eq!(
        ok(format!(
            r#"{{"refund_increment_get_response": {{"refund_list": [{item}], "total_count": 57}}}}"#
        ))
        .platform_case_id
        .as_str(),
        "1001"
    );
}

#[test]
fn payloads_that_are_not_records_are_errors() {
    assert_eq!(refused(b"{not json").field, "$");
    assert_eq!(refused(b"[1, 2]").field, "$");
    assert_eq!(refused(b"null").field, "$");
    assert_eq!(refused(b"\xff\xfe").field, "$");
    let e = refused(r#"{"hello": 1}"#);
    assert_eq!((e.field.as_str(), e.raw.as_str()), ("$", "hello"));
    assert!(e.problem.contains("not a Pinduoduo payload"), "{e}");
    assert_eq!(
        refused(r#"{"refund_information_get_response": [1]}"#).field,
        "refund_information_get_response"
    );
    let pdd_error = r#"{"error_response":{"error_msg":"公共参数错误:type","sub_msg":"","sub_code":null,"error_code":10001,"request_id":"15440104776643887"}}"#;
    let e = refused(pdd_error);
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("error_response", "10001")
    );
    assert!(e.problem.contains("公共参数错误"), "{e}");
    // A wrong JSON type inside the record is reported with the text around it.
    let e = detail_err(&[("after_sales_reason", Some("[1]"))]);
    assert_eq!(e.field, "refund_information_get_response");
}

// ---- the other fields -----------------------------------------------------------------------

#[test]
fn ids_and_order() {
    let r = detail_ok(&[("id", Some("1234567890123456789012"))]);
    assert_eq!(
        r.platform_case_id.as_str(),
        "1234567890123456789012",
        "no precision lost"
    );
    assert_eq!(r.order_id.unwrap().as_str(), "240601-123456789012345");
    assert_eq!(r.sub_order_id, None, "PDD after-sales are per order");
    assert_eq!(
        list_ok(&[("id", Some(r#""1001""#))])
            .platform_case_id
            .as_str(),
        "1001"
    );
    assert_eq!(
        detail_err(&[("id", Some("1.5e21"))]).field,
        "refund_information_get_response.id"
    );
    for field in ["id", "order_sn"] {
        let e = list_err(&[(field, None)]);
        assert_eq!(e.field, format!("refund_list[0].{field}"));
        assert!(e.problem.contains("missing"), "{e}");
    }
}

#[test]
fn reason_buyer_and_what_is_not_derived() {
    let list = list_ok(&[]);
    assert_eq!(list.reason.as_str(), "不想要了");
    assert!(list.buyer.is_empty(), "PDD records name no buyer");
    assert_eq!(list.order_state, None);
    assert_eq!(list.task, None);
    assert_eq!(list.return_address, None);
    let detail = detail_ok(&[]);
    assert_eq!(
        detail.reason.as_str(),
        "未收到货 — 联系卖家多次，一直不发货，申请仅退款处理"
    );
    assert_eq!(detail_ok(&[("remark", None)]).reason.as_str(), "未收到货");
    let long = format!("\"{}\"", "长".repeat(2001));
    assert_eq!(
        list_err(&[("after_sale_reason", Some(&long))]).field,
        "refund_list[0].after_sale_reason"
    );
}

#[test]
fn every_shipping_status_and_buyer_choice_gives_a_fulfilment() {
    use Fulfilment::*;
    // (shipping_status, user_shipping_status, detail type, fulfilment)
    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        Fulfilment,
    );
    let table: &[Row] = &[
        (Some("0"), Some("0"), "1", NotShipped),
        (Some("0"), None, "1", NotShipped),
        (Some("0"), Some("1"), "1", NotShipped),
        // The buyer's "received" wins, as Taobao's good_status does.
        (Some("0"), Some("2"), "1", Received),
        (Some("1"), Some("0"), "1", ShippedNotReceived),
        (Some("1"), None, "1", ShippedNotReceived),
        (Some("1"), Some("1"), "1", ShippedNotReceived),
        (Some("1"), Some("2"), "1", Received),
        // A return, an exchange or a repair sends back goods the buyer holds.
        (Some("1"), Some("0"), "2", Received),
        (Some("1"), None, "3", Received),
        (Some("1"), None, "5", Received),
        (Some("1"), None, "4", ShippedNotReceived),
        // ...unless the buyer says not received.
        (Some("1"), Some("1"), "2", ShippedNotReceived),
        (None, Some("2"), "1", Received),
        (None, Some("1"), "1", Unknown),
        (None, None, "2", Unknown),
    ];
    for &(shipping, user, detail_type, expected) in table {
        let u = user.map(|u| format!("\"{u}\""));
        let r = detail_ok(&[
            ("shipping_status", shipping),
            ("user_shipping_status", u.as_deref()),
            ("after_sales_type", Some(detail_type)),
        ]);
        assert_eq!(
            r.fulfilment, expected,
            "shipping {shipping:?} user {user:?} type {detail_type}"
        );
    }
    assert_eq!(ShippingStatus::ALL.len(), 2);
    assert_eq!(UserShippingStatus::ALL.len(), 3);
    // The list has no shipping status: only the buyer's word.
    assert_eq!(list_ok(&[]).fulfilment, Unknown);
    assert_eq!(
        list_ok(&[("user_shipping_status", Some(r#""2""#))]).fulfilment,
        Received
    );
    for (field, raw) in [
        ("shipping_status", "2"),
        ("user_shipping_status", r#""3""#),
        ("user_shipping_status", r#""str""#),
    ] {
        let e = detail_err(&[(field, Some(raw))]);
        assert_eq!(
            (e.field.clone(), e.raw.as_str()),
            (
                format!("refund_information_get_response.{field}"),
                raw.trim_matches('"')
            )
        );
    }
}

#[test]
fn a_succeeded_express_refund_is_a_platform_advance() {
    let r = list_ok(&[
        ("speed_refund_flag", Some("1")),
        ("speed_refund_status", Some(r#""3""#)),
    ]);
    assert_eq!(r.platform_advance, Some(r.requested_refund));
    assert_eq!(r.attributes["speed_refund_status"], "3");
    // Eligible, failed, and every other value (documented as 非极速退款) advance nothing.
    for raw in [r#""1""#, r#""2""#, r#""0""#, r#""""#, r#""9""#] {
        assert_eq!(
            list_ok(&[("speed_refund_status", Some(raw))]).platform_advance,
            None,
            "{raw}"
        );
    }
    for s in SpeedRefundStatus::ALL {
        assert_eq!(s.advanced(), s == SpeedRefundStatus::Succeeded);
    }
    assert_eq!(list_ok(&[]).platform_advance, None);
    // The detail has the flag only: no advance is known.
    assert_eq!(
        detail_ok(&[("speed_refund_flag", Some("1"))]).platform_advance,
        None
    );
    // The flags are enumerations, validated.
    for (field, raw) in [
        ("speed_refund_flag", "2"),
        ("dispute_refund_status", "3"),
        ("refund_operator_role", "8"),
    ] {
        assert_eq!(
            list_err(&[(field, Some(raw))]).field,
            format!("refund_list[0].{field}")
        );
    }
    assert_eq!(
        detail_err(&[("join_or_not", Some(r#""2""#))]).field,
        "refund_information_get_response.join_or_not"
    );
}

#[test]
fn return_and_exchange_parcels() {
    let r = list_ok(&[
        ("tracking_number", Some(r#""YT1234567890""#)),
        ("shipping_name", Some(r#""圆通速递""#)),
    ]);
    let s = r.return_shipment.unwrap();
    assert_eq!(
        (s.tracking_number.as_str(), s.carrier.as_str(), s.shipped_at),
        ("YT1234567890", "圆通速递", None)
    );
    // Carrier unknown: empty text.
    let s = detail_ok(&[("express_no", Some(r#""SF100200300""#))])
        .return_shipment
        .unwrap();
    assert_eq!(
        (s.tracking_number.as_str(), s.carrier.as_str()),
        ("SF100200300", "")
    );
    assert_eq!(
        list_ok(&[("tracking_number", Some(r#""""#))]).return_shipment,
        None
    );
    // An exchange: the buyer's parcel back and the merchant's replacement.
    let exchange = r#"{"customer_send_back_ship_id": 85, "customer_send_back_trunk_number": "ZT778899", "merchant_exchange_ship_id": 44, "merchant_exchange_trunk_number": "SF998877", "exchange_goods_price": 2990, "is_fast_exchange": false, "fast_exchange_expire_time": 1762401156, "merchant_exchange_detail_address": "~AgAAAAEncrypted~", "merchant_exchange_detail_address_mask": "浙江省杭州市****"}"#;
    let r = detail_ok(&[
        ("after_sales_type", Some("3")),
        ("after_sales_status", Some("18")),
        ("shipping_status", Some("1")),
        ("exchange_shipping_detail", Some(exchange)),
    ]);
    assert_eq!(
        r.return_shipment.unwrap().tracking_number.as_str(),
        "ZT778899"
    );
    assert_eq!(
        r.reship_shipment.unwrap().tracking_number.as_str(),
        "SF998877"
    );
    let a = &r.attributes;
    assert_eq!(
        a["exchange_shipping_detail.merchant_exchange_ship_id"],
        "44"
    );
    assert_eq!(a["exchange_shipping_detail.is_fast_exchange"], "false");
    assert_eq!(
        a["exchange_shipping_detail.merchant_exchange_detail_address_mask"],
        "浙江省杭州市****"
    );
    assert!(
        !a.keys()
            .any(|k| k.ends_with("merchant_exchange_detail_address")),
        "ciphertext of personal data is not kept"
    );
    let bad = r#"{"exchange_goods_price": "29.90"}"#;
    assert_eq!(
        detail_err(&[("exchange_shipping_detail", Some(bad))]).field,
        "refund_information_get_response.exchange_shipping_detail.exchange_goods_price"
    );
}

#[test]
fn raw_fields_are_kept_as_attributes() {
    let list = list_ok(&[]);
    for (k, v) in [
        ("source_api", "pdd.refund.list.increment.get"),
        ("after_sales_type", "2"),
        ("discount_amount", "0.00"),
        ("goods_price", "29.90"),
        ("goods_id", "123456789"),
        ("goods_name", "纯棉T恤"),
        ("sku_id", "987654321"),
        ("created_time", "1717214400"),
        ("updated_time", "1717214405"),
        ("confirm_time", "1717200000"),
        ("speed_refund_flag", "0"),
        ("user_shipping_status", "0"),
    ] {
        assert_eq!(
            list.attributes.get(k).map(String::as_str),
            Some(v),
            "list attribute {k}"
        );
    }
    let detail = detail_ok(&[(
        "images",
        Some(r#"["https://img.pddpic.com/a.jpg", "https://img.pddpic.com/b.jpg"]"#),
    )]);
    for (k, v) in [
        ("source_api", "pdd.refund.information.get"),
        ("after_sales_type", "1"),
        ("shipping_status", "0"),
        ("join_or_not", "0"),
        ("expire_time", "1717380000000"),
        ("recreated_at", "1717214400000"),
        ("images.0", "https://img.pddpic.com/a.jpg"),
        ("images.1", "https://img.pddpic.com/b.jpg"),
    ] {
        assert_eq!(
            detail.attributes.get(k).map(String::as_str),
            Some(v),
            "detail attribute {k}"
        );
    }
}

// ---- the embedded policy --------------------------------------------------------------------

#[test]
fn pd_01_policy_loads_with_window_and_actions() {
    let reg = AdapterRegistry::builtin().load_policies().unwrap();
    let pdd = PlatformCode::parse("pinduoduo").unwrap();
    assert!(reg.in_force(&pdd, bj("2023-12-31 23:59:59")).is_none());
    let p = reg.in_force(&pdd, bj("2024-01-01 00:00:00")).unwrap();
    assert_eq!(p.version, "pinduoduo-2024-01-01");
    assert_eq!(p.after_sales_window_days, Some(7), "PD-01");
    assert!(
        !p.one_request_per_order_line,
        "PD-07 allows several requests"
    );
    for a in ActionKind::ALL {
        assert_eq!(
            p.allows(a),
            !matches!(
                a,
                ActionKind::ReplyToTask
                    | ActionKind::RecordTrackingChange
                    | ActionKind::UpdateDepositRelease
            ),
            "{a}: PDD has no platform tasks, and tracking changes are 1688's (AL-03)"
        );
    }
    for d in &p.deadlines {
        assert!(d.rule.starts_with("PD-"), "{}", d.key);
        assert!(
            d.note.contains(&d.rule),
            "{}: the note quotes its rule",
            d.key
        );
        // PD-01…PD-07 give no consequence (assumed); the evidence rules give theirs, except
        // where a period is missing (PD-E2, PD-E7) or counted from another point (PD-E8).
        let evidence_stated = ["evidence_48h", "tracking_evidence", "appliance_progress"];
        assert_eq!(
            d.assumed,
            !evidence_stated.contains(&d.key.as_str()),
            "{}: assumed exactly where the catalogue is silent",
            d.key
        );
    }
    assert_eq!(PinduoduoAdapter.policy_sources().len(), 1);
    assert_eq!(PinduoduoAdapter.platform().as_str(), "pinduoduo");
}

#[test]
fn pd_04_expire_time_replaces_the_48_hour_deadline() {
    let p = policy();
    let record = detail_ok(&[]);
    assert_eq!(record.state, CaseState::AwaitingMerchant);
    let change = Case::from_platform(
        CaseId::parse("case-1").unwrap(),
        TenantId::parse("acme").unwrap(),
        ShopId::parse("pdd-flagship").unwrap(),
        PlatformCode::parse("pinduoduo").unwrap(),
        record,
        &p,
        bj("2024-06-01 13:00:00"),
        &[],
    )
    .expect("case opens");
    let case = change.case;
    assert_eq!(keys(&case), ["merchant_response"]);
    let d = deadline(&case, "merchant_response");
    assert_eq!(d.rule_id, "PD-04");
    assert_eq!(d.due_party, DueParty::Merchant);
    assert_eq!(
        (d.source, d.due_at),
        (DeadlineSource::Platform, bj("2024-06-03 10:00:00")),
        "expire_time wins"
    );
    assert_eq!(
        d.computed_due_at,
        Some(bj("2024-06-03 12:00:00")),
        "PD-04: 48 hours after recreated_at, kept beside it"
    );
    assert_eq!(d.remind_at, Some(bj("2024-06-02 22:00:00")));
    assert_eq!(d.consequence, Consequence::AutoAgree);
    assert!(d.assumed);
    // The difference is recorded.
    assert!(change
        .events
        .iter()
        .any(|e| e.kind == aftersales_domain::EventKind::DeadlineMismatch));
}

#[test]
fn pd_04_without_expire_time_the_merchant_has_48_hours() {
    let p = policy();
    for detail_type in ["1", "2", "3", "4", "5"] {
        let case = open(
            detail_ok(&[
                ("expire_time", Some("null")),
                ("after_sales_type", Some(detail_type)),
                (
                    "after_sales_status",
                    Some(if detail_type == "1" { "2" } else { "3" }),
                ),
            ]),
            &p,
        );
        assert_eq!(keys(&case), ["merchant_response"], "type {detail_type}");
        let d = deadline(&case, "merchant_response");
        assert_eq!(
            (d.source, d.due_at, d.computed_due_at),
            (DeadlineSource::Policy, bj("2024-06-03 12:00:00"), None)
        );
    }
    // Exchange/reship and repair requests wait for the merchant too (14, 21).
    for (status, detail_type) in [("14", "3"), ("14", "4"), ("21", "5")] {
        let case = open(
            detail_ok(&[
                ("after_sales_status", Some(status)),
                ("after_sales_type", Some(detail_type)),
            ]),
            &p,
        );
        assert_eq!(keys(&case), ["merchant_response"], "{status}/{detail_type}");
    }
}

#[test]
fn pd_03_an_agreed_refund_is_processed_within_three_working_days() {
    let p = policy();
    // Agreed on Friday 2024-06-07; Monday 06-10 is the Dragon Boat Festival holiday.
    let opened = "1717732800000"; // 2024-06-07 12:00:00 Beijing
    for status in ["4", "5"] {
        let case = open(
            detail_ok(&[
                ("after_sales_status", Some(status)),
                ("recreated_at", Some(opened)),
                ("expire_time", Some("null")),
            ]),
            &p,
        );
        assert_eq!(case.state, CaseState::AwaitingMerchantExecution);
        assert_eq!(keys(&case), ["refund_processing"], "status {status}");
        let d = deadline(&case, "refund_processing");
        assert_eq!(d.rule_id, "PD-03");
        assert_eq!(
            d.due_at,
            bj("2024-06-13 12:00:00"),
            "weekend and the 06-10 holiday skipped"
        );
        assert_eq!(d.consequence, Consequence::AutoRefund);
        assert!(d.assumed);
    }
}

#[test]
fn pd_06_an_agreed_reship_needs_its_tracking_number() {
    let p = policy();
    let case = open(
        detail_ok(&[
            ("after_sales_status", Some("32")),
            ("after_sales_type", Some("4")),
            ("expire_time", Some("null")),
        ]),
        &p,
    );
    assert_eq!(
        (case.state, case.kind),
        (CaseState::AwaitingMerchantExecution, CaseKind::Reship)
    );
    assert_eq!(keys(&case), ["reship_tracking"]);
    let d = deadline(&case, "reship_tracking");
    assert_eq!(d.rule_id, "PD-06");
    assert_eq!(d.due_at, bj("2024-06-03 12:00:00"));
    assert_eq!(d.consequence, Consequence::PlatformIntervenes);
    assert!(d.assumed);
}

#[test]
fn resolved_and_buyer_cases_have_no_merchant_deadlines() {
    let p = policy();
    for &(code, detail_type, state) in STATUS_TABLE {
        let case = open(
            detail_ok(&[
                ("after_sales_status", Some(&code.to_string())),
                ("after_sales_type", Some(detail_type)),
                ("expire_time", Some("null")),
            ]),
            &p,
        );
        if state.is_resolved() || state == CaseState::AwaitingBuyer {
            assert!(case.deadlines.is_empty(), "{code}: {:?}", keys(&case));
        }
    }
}

#[test]
fn merchant_deadline_rules_never_overlap() {
    let p = policy();
    let base = open(detail_ok(&[]), &p);
    for state in CaseState::ALL {
        for kind in CaseKind::ALL {
            for fulfilment in Fulfilment::ALL {
                let mut case = base.clone();
                (case.state, case.kind, case.fulfilment) = (state, kind, fulfilment);
                let ds = p.deadlines_for(&case, bj("2024-06-01 12:00:00"), None);
                // The platform's deadline replaces every merchant deadline: at most one.
                assert!(
                    ds.iter()
                        .filter(|d| d.due_party == DueParty::Merchant)
                        .count()
                        <= 1,
                    "{state}/{kind}/{}",
                    fulfilment.as_str()
                );
                // Every buyer request awaiting the merchant has a clock (PD-04).
                let request = matches!(
                    kind,
                    CaseKind::RefundOnly
                        | CaseKind::ReturnAndRefund
                        | CaseKind::Exchange
                        | CaseKind::Reship
                        | CaseKind::Repair
                );
                if state == CaseState::AwaitingMerchant && request {
                    assert_eq!(ds.len(), 1, "{kind}/{}", fulfilment.as_str());
                }
            }
        }
    }
}

/// PD-05: the three resolutions — refund, exchange, reship — each end a case in their own
/// resolved state (detail encoding: 1 仅退款, 3 换货, 4 补寄).
#[test]
fn pd_05_resolutions_are_refund_exchange_and_reship() {
    for (status, kind_code, kind, end) in [
        ("10", "1", CaseKind::RefundOnly, CaseState::Refunded),
        ("16", "3", CaseKind::Exchange, CaseState::Exchanged),
        ("16", "4", CaseKind::Reship, CaseState::Reshipped),
    ] {
        let r = detail_ok(&[
            ("after_sales_status", Some(status)),
            ("after_sales_type", Some(kind_code)),
            ("expire_time", None),
        ]);
        assert_eq!(
            (r.kind, r.state),
            (kind, end),
            "status {status}, type {kind_code}"
        );
    }
}

/// §2.3/§2.4 [U]: the units and encodings the adapter reads are stated in the policy data, and
/// a policy that says otherwise is refused at start.
#[test]
fn pd_native_facts_in_the_policy_match_the_adapter() {
    let mut p = policy();
    assert_eq!(PinduoduoAdapter.check_policy(&p), Ok(()));
    p.native.insert("detail_amount_unit".into(), "yuan".into());
    let err = PinduoduoAdapter.check_policy(&p).unwrap_err();
    assert!(
        err.contains("detail_amount_unit") && err.contains("fen"),
        "{err}"
    );
    p.native.remove("list_after_sales_type_encoding");
    assert!(PinduoduoAdapter.check_policy(&p).is_err());
}
