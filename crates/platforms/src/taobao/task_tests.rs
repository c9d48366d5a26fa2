//! The signed-elsewhere task payload (TB-20 … TB-31): every TB-30 status as Taobao words it,
//! the TB-20 check on ingest, and precise errors.

use super::TaobaoAdapter;
use crate::PlatformAdapter;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    CaseKind, CaseState, PlatformInput, PlatformRecord, SigningVerdict, TaskState,
};

fn payload(status: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut task = serde_json::json!({
        "task_id": "YD20261120001",
        "task_type": "异地签收",
        "tid": "4012345678901",
        "oid": "4012345678902",
        "status": status,
        "created": "2026-11-20 10:00:00",
        "modified": "2026-11-20 10:05:00",
        "receiver_address": "浙江省杭州市余杭区良渚街道金色家园3幢",
        "sign_location": "【杭州市】萧山区北干街道菜鸟驿站已签收",
        "buyer_nick": "tb_buyer",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            task.as_object_mut().unwrap().remove(k);
        } else {
            task[k] = v.clone();
        }
    }
    serde_json::json!({ "platform_task": task })
        .to_string()
        .into_bytes()
}

fn record(status: &str, extra: serde_json::Value) -> Result<PlatformRecord, crate::MappingError> {
    match TaobaoAdapter.map_record(&payload(status, extra))? {
        PlatformInput::Record(r) => Ok(*r),
        other => panic!("a task is a record, got {other:?}"),
    }
}

#[test]
fn tb_30_every_task_status_maps_in_taobaos_words_and_ours() {
    let table = [
        (
            "等待卖家回复",
            TaskState::AwaitingReply,
            CaseState::AwaitingMerchant,
        ),
        (
            "待卖家执行",
            TaskState::AwaitingExecution,
            CaseState::AwaitingMerchantExecution,
        ),
        // The seed's own misspelling of 待卖家执行.
        (
            "等家执行",
            TaskState::AwaitingExecution,
            CaseState::AwaitingMerchantExecution,
        ),
        (
            "后续待跟进",
            TaskState::FollowUpPending,
            CaseState::FollowUpPending,
        ),
        (
            "平台介入中",
            TaskState::PlatformIntervening,
            CaseState::PlatformIntervening,
        ),
        ("已完结", TaskState::Completed, CaseState::Closed),
    ];
    for (raw, task_state, common) in table {
        let r = record(raw, serde_json::json!({})).unwrap();
        assert_eq!(r.state, common, "{raw}");
        assert_eq!(r.status.code, task_state.as_str(), "{raw}");
        assert_eq!(r.status.text, task_state.platform_text(), "{raw}");
        let by_name = record(task_state.as_str(), serde_json::json!({})).unwrap();
        assert_eq!(by_name.state, common, "{}", task_state.as_str());
    }
    for s in TaskState::ALL {
        assert!(
            table.iter().any(|(_, t, _)| *t == s),
            "{} has no row",
            s.as_str()
        );
    }
}

#[test]
fn tb_20_tb_21_task_payload_becomes_a_checked_task_record() {
    let r = record(
        "等待卖家回复",
        serde_json::json!({ "timeout": "2026-11-21 10:00:00", "refund_fee": "59.00" }),
    )
    .unwrap();
    assert_eq!(r.kind, CaseKind::SignedElsewhereTask);
    assert_eq!(r.platform_case_id.as_str(), "YD20261120001");
    assert_eq!(
        r.platform_deadline,
        Some(parse_shanghai("2026-11-21 10:00:00").unwrap())
    );
    assert_eq!(r.requested_refund.get(), 5900);
    let task = r.task.expect("task facts");
    let check = task.check.expect("TB-20 decided on ingest");
    assert_eq!(check.verdict, SigningVerdict::SignedElsewhere);
    assert_eq!(check.reason, "different_district");
    assert!(!task.prior_false_shipment_complaint);
    assert_eq!(r.attributes["signed_elsewhere"], "signed_elsewhere");
}

#[test]
fn tb_29_the_buyers_own_false_shipment_complaint_is_carried() {
    let r = record(
        "等待卖家回复",
        serde_json::json!({ "false_shipment_complaint_filed": "true" }),
    )
    .unwrap();
    assert!(r.task.unwrap().prior_false_shipment_complaint);
}

#[test]
fn task_payload_errors_name_the_field_and_value() {
    let e = record("处理中", serde_json::json!({})).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("platform_task.status", "处理中")
    );
    let e = record("等待卖家回复", serde_json::json!({ "task_type": "催发货" })).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.raw.as_str()),
        ("platform_task.task_type", "催发货")
    );
    for field in [
        "task_id",
        "tid",
        "created",
        "modified",
        "receiver_address",
        "sign_location",
    ] {
        let e = record("等待卖家回复", serde_json::json!({ field: null })).unwrap_err();
        assert_eq!(e.field, format!("platform_task.{field}"), "{field}");
    }
    let e = record("等待卖家回复", serde_json::json!({ "timeout": "tomorrow" })).unwrap_err();
    assert_eq!(e.field, "platform_task.timeout");
}

#[test]
fn tb_28_a_task_first_seen_while_the_platform_intervenes_waits_for_its_complaint() {
    let r = record("平台介入中", serde_json::json!({})).unwrap();
    let registry = crate::AdapterRegistry::builtin().load_policies().unwrap();
    let policy = registry
        .in_force(&TaobaoAdapter.platform(), r.opened_at.unwrap())
        .unwrap();
    let case = aftersales_domain::Case::from_platform(
        aftersales_domain::CaseId::parse("c-1").unwrap(),
        aftersales_domain::TenantId::parse("acme").unwrap(),
        aftersales_domain::ShopId::parse("shop").unwrap(),
        TaobaoAdapter.platform(),
        r,
        policy,
        parse_shanghai("2026-11-21 10:00:00").unwrap(),
        &[],
    )
    .unwrap()
    .case;
    let complaint = case
        .task
        .unwrap()
        .complaint
        .expect("TB-28 (2): a complaint is open");
    assert!(complaint.finished_at.is_none());
}
