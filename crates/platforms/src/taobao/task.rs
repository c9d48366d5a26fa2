//! The Taobao signed-elsewhere platform task (异地签收任务, TB-20 … TB-31) as a native payload.
//!
//! Taobao publishes no open API for platform tasks (platform-apis.md §1.7 [U]): merchants see
//! them in 千牛 / the seller centre (售后任务). This service therefore defines the payload an
//! integration sends when it reads a task there, using Taobao's own words for the status:
//!
//! ```json
//! {"platform_task": {
//!   "task_id": "YD20261120001",          // required: the task's id
//!   "task_type": "异地签收",              // required: only signed-elsewhere tasks exist here
//!   "tid": "4012345678901", "oid": "4012345678902",
//!   "status": "等待卖家回复",              // TB-30, in Taobao's words (or awaiting_reply …)
//!   "created": "2026-11-20 10:00:00",    // when the buyer submitted it (Beijing time)
//!   "modified": "2026-11-20 10:00:00",   // orders versions of the task
//!   "timeout": "2026-11-21 10:00:00",    // optional: the platform's own reply deadline
//!   "receiver_address": "浙江省杭州市余杭区…",
//!   "sign_location": "【杭州市】萧山区…驿站已签收",
//!   "buyer_nick": "…",
//!   "refund_fee": "59.00",               // optional: the line's amount at stake (yuan)
//!   "false_shipment_complaint_filed": false  // TB-29: the buyer already filed one
//! }}
//! ```
//!
//! The TB-20 check is decided here from the two addresses with the same code as the
//! CheckSignedElsewhere RPC ([`crate::signing`]).

use super::model::{expect_object, json_error, Scalar, TopBool};
use super::transformers::{err, missing, opt_money, opt_order_id, present, text, time};
use crate::MappingError;
use aftersales_domain::{
    CaseKind, Fen, Fulfilment, PlatformCaseId, PlatformRecord, PlatformStatus, SignedElsewhereTask,
    TaskState,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The task as sent; every field optional here, required ones decided in [`to_record`].
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PlatformTask {
    pub task_id: Option<Scalar>,
    pub task_type: Option<String>,
    pub tid: Option<Scalar>,
    pub oid: Option<Scalar>,
    pub status: Option<String>,
    pub created: Option<String>,
    pub modified: Option<String>,
    pub timeout: Option<String>,
    pub receiver_address: Option<String>,
    pub sign_location: Option<String>,
    pub buyer_nick: Option<String>,
    pub refund_fee: Option<Scalar>,
    pub false_shipment_complaint_filed: Option<TopBool>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    platform_task: Box<serde_json::value::RawValue>,
}

/// Read `{"platform_task": {…}}`.
pub fn parse_payload(native: &[u8]) -> Result<PlatformTask, MappingError> {
    let text = std::str::from_utf8(native)
        .map_err(|_| err("$", "<not UTF-8>", "the payload is not UTF-8 JSON"))?;
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| json_error("$", text, &e, "not a platform task payload"))?;
    let inner = envelope.platform_task.get();
    expect_object("platform_task", inner)?;
    serde_json::from_str(inner)
        .map_err(|e| json_error("platform_task", inner, &e, "bad platform task"))
}

/// Only 异地签收 tasks are modelled (TB-20 … TB-31); other task types would need rules of
/// their own.
fn check_type(raw: Option<&str>) -> Result<(), MappingError> {
    match raw {
        Some("异地签收" | "signed_elsewhere") => Ok(()),
        Some(other) => Err(err(
            "platform_task.task_type",
            other,
            "only signed-elsewhere tasks (异地签收) are supported",
        )),
        None => Err(missing("platform_task.task_type")),
    }
}

fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, MappingError> {
    present(v).ok_or_else(|| missing(field))
}

/// Map a task into the common record.
pub fn to_record(t: &PlatformTask) -> Result<PlatformRecord, MappingError> {
    check_type(present(&t.task_type))?;
    let id_raw = t
        .task_id
        .as_ref()
        .ok_or_else(|| missing("platform_task.task_id"))?;
    let platform_case_id = PlatformCaseId::parse(id_raw.text())
        .map_err(|e| err("platform_task.task_id", id_raw.text(), e.to_string()))?;
    let order_id =
        opt_order_id("platform_task.tid", &t.tid)?.ok_or_else(|| missing("platform_task.tid"))?;
    let sub_order_id = opt_order_id("platform_task.oid", &t.oid)?;
    let status_raw = required("platform_task.status", &t.status)?;
    let task_state = TaskState::parse(status_raw).ok_or_else(|| {
        err(
            "platform_task.status",
            status_raw,
            "unknown task status (TB-30: 等待卖家回复, 待卖家执行, 后续待跟进, 平台介入中, 已完结)",
        )
    })?;
    let created = time(
        "platform_task.created",
        required("platform_task.created", &t.created)?,
    )?;
    let modified = time(
        "platform_task.modified",
        required("platform_task.modified", &t.modified)?,
    )?;
    let timeout = present(&t.timeout)
        .map(|raw| time("platform_task.timeout", raw))
        .transpose()?;
    let delivery = required("platform_task.receiver_address", &t.receiver_address)?;
    let signing = required("platform_task.sign_location", &t.sign_location)?;
    let task = crate::signing::checked(SignedElsewhereTask {
        delivery_address: delivery.to_string(),
        signing_location: signing.to_string(),
        prior_false_shipment_complaint: t.false_shipment_complaint_filed.is_some_and(|b| b.0),
        ..SignedElsewhereTask::default()
    });
    let mut attributes = BTreeMap::new();
    attributes.insert("task_type".to_string(), "异地签收".to_string());
    attributes.insert(
        "signed_elsewhere".to_string(),
        task.check
            .as_ref()
            .map(|c| c.verdict.as_str())
            .unwrap_or_default()
            .to_string(),
    );
    Ok(PlatformRecord {
        platform_case_id,
        order_id: Some(order_id),
        sub_order_id,
        kind: CaseKind::SignedElsewhereTask,
        // A task in 已完结 does not say how it ended; the stored outcome decides, else Closed.
        state: task_state.common_state(None),
        // TB-21: the buyer says the parcel did not arrive.
        fulfilment: Fulfilment::ShippedNotReceived,
        requested_refund: opt_money("platform_task.refund_fee", &t.refund_fee)?
            .unwrap_or(Fen::ZERO),
        order_total: None,
        refunded: None,
        reason: text("platform_task.task_type", "未收到包裹 (异地签收)")?,
        buyer: text(
            "platform_task.buyer_nick",
            present(&t.buyer_nick).unwrap_or(""),
        )?,
        return_address: None,
        return_shipment: None,
        reship_shipment: None,
        status: PlatformStatus {
            code: task_state.as_str().to_string(),
            text: task_state.platform_text().to_string(),
        },
        version: modified.timestamp_millis(),
        platform_deadline: timeout,
        attributes,
        opened_at: Some(created),
        order_state: None,
        platform_advance: None,
        task: Some(task),
    })
}
