//! JD (京东): the POP merchant after-sales service order (ASC, 售后服务单) and the VOP
//! buyer-side afs service detail (platform-apis.md §3).
//!
//! - `model`: the native service order and the JOS envelopes, as JD returns them.
//! - `transformers`: pure functions mapping a service order into the common
//!   [`PlatformRecord`](aftersales_domain::PlatformRecord): `customerExpect` (JD-01),
//!   `afsServiceStep` and `serviceStatus` (state), `approvedResult` (JD-02),
//!   `pickwareType` (JD-04), `processResult` (JD-05), yuan → fen, times.
//! - `policies/jd/*.toml`: the JD policy versions (JD-06: every deadline assumed).
//!
//! # Accepted payloads
//!
//! [`JdAdapter::map_record`] decides by the top-level JSON members:
//!
//! | payload | what it is | result |
//! |---|---|---|
//! | `{"jingdong_asc_query_view_responce": {"result": {"data": {…}}}}` | `jingdong.asc.query.view` [S] | `Record` |
//! | `{"jingdong_asc_query_list_responce": {"pageResult": {"data": [one]}}}` | `jingdong.asc.query.list` with exactly one record [C] | `Record` |
//! | `{"result": {"afsServiceId": …, "afsServiceStep": …}, "success": true}` | VOP afs service detail; wrapper assumed [U] | `Record` |
//! | `{"error_response": {"code", "zh_desc", "en_desc"}}` | JOS error [C] | error carrying code and messages |
//! | a wrapper with `code` other than `"0"`, or VOP `success: false` | business failure | error |
//! | service order fields at the top (`serviceId`, `afsServiceId`, `serviceStatus`, …) | a bare record | **refused** |
//!
//! Two kinds in one payload (two wrappers, a wrapper and an error, a wrapper and bare fields)
//! are refused rather than guessed. A bare record is refused because the POP and VOP families
//! use different codes and only the envelope says which API answered.

pub mod model;
pub mod transformers;

#[cfg(test)]
mod tests;

use crate::{MappingError, PlatformAdapter};
use aftersales_domain::{PlatformCode, PlatformInput};
use model::{JosError, Scalar};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The platform code JD cases carry.
pub const PLATFORM: &str = "jd";

/// Every JD policy version, oldest first.
const POLICY_SOURCES: &[&str] = &[include_str!("../../policies/jd/2024-01-01.toml")];

/// JOS response wrappers (sic: "responce", §3.1).
pub const VIEW_WRAPPER: &str = "jingdong_asc_query_view_responce";
pub const LIST_WRAPPER: &str = "jingdong_asc_query_list_responce";
const ERROR_WRAPPER: &str = "error_response";
/// The VOP wrapper's record member (assumed [U]).
const VOP_RESULT: &str = "result";

/// Members only a bare service order has at the top level.
const BARE_RECORD_MEMBERS: [&str; 8] = [
    "serviceId",
    "afsServiceId",
    "serviceStatus",
    "afsServiceStep",
    "customerExpect",
    "orderId",
    "applyTime",
    "afsApplyTime",
];

#[derive(Debug)]
enum Shape {
    Record {
        path: String,
        raw: Box<RawValue>,
        source: &'static str,
    },
    List {
        path: String,
        raw: Box<RawValue>,
    },
    JosError(JosError),
}

type Members = BTreeMap<String, Box<RawValue>>;

fn members(field: &str, raw: &str) -> Result<Members, MappingError> {
    model::expect_object(field, raw)?;
    serde_json::from_str(raw).map_err(|e| model::json_error(field, raw, &e, "not a JSON object"))
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

/// A JOS wrapper's `code` other than "0" is a business failure.
fn check_code(wrapper: &str, inner: &Members) -> Result<(), MappingError> {
    if let Some(code) = inner.get("code").filter(|c| !is_null(c)) {
        let code: Scalar = serde_json::from_str(code.get())
            .map_err(|e| model::json_error(wrapper, code.get(), &e, "code must be a string"))?;
        if code.text().trim() != "0" {
            let msg: Vec<String> = ["msg", "message", "zh_desc", "en_desc"]
                .into_iter()
                .filter_map(|m| inner.get(m).map(|v| v.get().to_string()))
                .collect();
            return Err(MappingError::new(
                PLATFORM,
                format!("{wrapper}.code"),
                code.text(),
                format!(
                    "JOS answered with a business failure instead of a service order: {}",
                    if msg.is_empty() {
                        "(no message)".to_string()
                    } else {
                        msg.join(" — ")
                    }
                ),
            ));
        }
    }
    Ok(())
}

fn take(inner: &mut Members, member: &str, path: &str) -> Result<Box<RawValue>, MappingError> {
    inner
        .remove(member)
        .filter(|r| !is_null(r))
        .ok_or_else(|| MappingError::new(PLATFORM, path, "", "required member is missing"))
}

impl Shape {
    fn of(native: &[u8]) -> Result<Shape, MappingError> {
        let text = model::utf8(native)?;
        let top = members("$", text)?;
        let kinds: Vec<&str> = [VIEW_WRAPPER, LIST_WRAPPER, ERROR_WRAPPER, VOP_RESULT]
            .into_iter()
            .filter(|m| top.get(*m).is_some_and(|r| !is_null(r)))
            .collect();
        let bare: Vec<&str> = BARE_RECORD_MEMBERS
            .into_iter()
            .filter(|m| top.contains_key(*m))
            .collect();
        if kinds.len() + usize::from(!bare.is_empty()) > 1 {
            let mut all: Vec<&str> = kinds.clone();
            all.extend(&bare);
            return Err(MappingError::new(
                PLATFORM,
                "$",
                all.join(", "),
                "members of more than one payload kind (view answer, list answer, VOP answer, \
                 error answer, bare record fields): send one kind per payload",
            ));
        }
        if !bare.is_empty() {
            return Err(MappingError::new(
                PLATFORM,
                "$",
                bare.join(", "),
                "a bare service order is refused: POP (serviceStatus) and VOP (afsServiceStep) \
                 use different codes and only the envelope says which API answered. Send the \
                 answer as returned: {\"jingdong_asc_query_view_responce\":{\"result\":{\"data\":{…}}}} \
                 (jingdong.asc.query.view), \
                 {\"jingdong_asc_query_list_responce\":{\"pageResult\":{\"data\":[record]}}} \
                 (jingdong.asc.query.list) or {\"result\":{…},\"success\":true} (VOP)",
            ));
        }
        match kinds.first().copied() {
            Some(ERROR_WRAPPER) => {
                let raw = &top[ERROR_WRAPPER];
                model::expect_object(ERROR_WRAPPER, raw.get())?;
                let e: JosError = serde_json::from_str(raw.get()).map_err(|e| {
                    model::json_error(
                        ERROR_WRAPPER,
                        raw.get(),
                        &e,
                        "code, zh_desc and en_desc must be strings",
                    )
                })?;
                Ok(Shape::JosError(e))
            }
            Some(VIEW_WRAPPER) => {
                let mut inner = members(VIEW_WRAPPER, top[VIEW_WRAPPER].get())?;
                check_code(VIEW_WRAPPER, &inner)?;
                let result_path = format!("{VIEW_WRAPPER}.result");
                let result = take(&mut inner, "result", &result_path)?;
                let mut result = members(&result_path, result.get())?;
                if let Some(s) = result.get("success") {
                    if s.get().trim() == "false" {
                        return Err(MappingError::new(
                            PLATFORM,
                            format!("{result_path}.success"),
                            "false",
                            format!(
                                "JOS answered with a failure instead of a service order: {}",
                                result
                                    .iter()
                                    .filter(|(k, _)| k.as_str() != "success")
                                    .map(|(k, v)| format!("{k}={}", v.get()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
                let path = format!("{result_path}.data");
                let raw = take(&mut result, "data", &path)?;
                Ok(Shape::Record {
                    path,
                    raw,
                    source: transformers::SOURCE_VIEW,
                })
            }
            Some(LIST_WRAPPER) => {
                let mut inner = members(LIST_WRAPPER, top[LIST_WRAPPER].get())?;
                check_code(LIST_WRAPPER, &inner)?;
                let page_path = format!("{LIST_WRAPPER}.pageResult");
                let page = take(&mut inner, "pageResult", &page_path)?;
                let mut page = members(&page_path, page.get())?;
                let path = format!("{page_path}.data");
                let raw = take(&mut page, "data", &path)?;
                Ok(Shape::List { path, raw })
            }
            Some(_) => {
                if let Some(s) = top.get("success") {
                    if s.get().trim() == "false" {
                        let msg: Vec<String> = ["resultCode", "resultMessage"]
                            .into_iter()
                            .filter_map(|m| top.get(m).map(|v| format!("{m}={}", v.get())))
                            .collect();
                        return Err(MappingError::new(
                            PLATFORM,
                            "success",
                            "false",
                            format!(
                                "VOP answered with a failure instead of an afs service: {}",
                                msg.join(", ")
                            ),
                        ));
                    }
                }
                Ok(Shape::Record {
                    path: VOP_RESULT.to_string(),
                    raw: top[VOP_RESULT].clone(),
                    source: transformers::SOURCE_VOP,
                })
            }
            None => {
                let keys: Vec<&str> = top.keys().map(String::as_str).collect();
                Err(MappingError::new(
                    PLATFORM,
                    "$",
                    keys.join(", "),
                    "not a JD after-sales payload: expected jingdong_asc_query_view_responce, \
                     jingdong_asc_query_list_responce, error_response or a VOP {\"result\":{…}}",
                ))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct JdAdapter;

/// What this adapter reads where JD does not document it; the policy must say the same.
const NATIVE_FACTS: &[(&str, &str)] = &[
    // actualPayPrice / payPrice / afsServicePrice are yuan (the sample's 1419 for a down
    // jacket; §3.1 "they look like yuan").
    ("amount_unit", "yuan"),
    // POP applyTime/updateDate/approveDate are epoch millis; VOP afsApplyTime is
    // yyyy-MM-dd HH:mm:ss Beijing time.
    ("time_format", "epoch_millis|yyyy-MM-dd HH:mm:ss"),
    // Only this serviceStatus is documented (§3.1); every other code is refused.
    ("service_status_confirmed", "10005"),
];

impl PlatformAdapter for JdAdapter {
    fn platform(&self) -> PlatformCode {
        PlatformCode::parse(PLATFORM).expect("\"jd\" is a valid platform code")
    }

    fn policy_sources(&self) -> &'static [&'static str] {
        POLICY_SOURCES
    }

    fn native_facts(&self) -> &'static [(&'static str, &'static str)] {
        NATIVE_FACTS
    }

    fn map_record(&self, native: &[u8]) -> Result<PlatformInput, MappingError> {
        let (path, order, source) = match Shape::of(native)? {
            Shape::Record { path, raw, source } => {
                let o = model::parse_order(&path, raw.get())?;
                (path, o, source)
            }
            Shape::List { path, raw } => {
                let (at, o) = model::parse_list(&path, raw.get())?;
                (at, o, transformers::SOURCE_LIST)
            }
            Shape::JosError(e) => return Err(e.to_error()),
        };
        Ok(PlatformInput::Record(Box::new(transformers::to_record(
            &path, &order, source,
        )?)))
    }
}
