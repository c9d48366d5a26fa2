//! The native JD payloads (platform-apis.md §3): the POP merchant after-sales service order
//! (ASC, 售后服务单) of `jingdong.asc.query.view` / `jingdong.asc.query.list`, and the VOP
//! buyer-side afs service detail. The two families share field names (`customerExpect`,
//! `orderId`, `processResult`, `questionDesc`, `approveNotes`) and differ in the rest; one
//! struct reads both, and `transformers` decides which family a record is by its id and state
//! fields (`serviceId` + `serviceStatus` for POP, `afsServiceId` + `afsServiceStep` for VOP),
//! refusing a record that mixes them (§3: "Do not mix them").
//!
//! These types only *read* the payload: every enumerated field stays the raw value and is
//! mapped with an explicit match in `transformers`.
//!
//! # Envelopes
//!
//! | API | answer | confidence |
//! |---|---|---|
//! | `jingdong.asc.query.view` | `{"jingdong_asc_query_view_responce": {"code": "0", "result": {"data": {…}}}}` | path `jingdong_asc_query_view_responce.result.data` read by an open-source JD adaptor in three files (find_string ids 36910254199, 37127441801, 37737757914) [S] |
//! | `jingdong.asc.query.list` | `{"jingdong_asc_query_list_responce": {"code": "0", "pageResult": {"data": [one], "totalCount"}}}` | two independent projects (ids 30553692201, 10262757814) [C] |
//! | any JOS API, failed | `{"error_response": {"code", "zh_desc", "en_desc"}}` | both list sources check `error_response` / `zh_desc` [C] |
//! | VOP afs service detail | `{"success": true, "resultCode", "resultMessage", "result": {afsServiceId, afsServiceStep, …}}` | fields [C] (§3.2); the wrapper is NOT in §3 [U], assumed from the VOP field lists |
//!
//! JOS spells the wrapper `..._responce` (sic, §3.1).

use crate::MappingError;
use serde::Deserialize;

use super::PLATFORM;

pub use crate::taobao::model::Scalar;
pub use crate::taobao::model::TopBool as JdBool;

/// A POP ASC service order (list item or `result.data` of the view) or a VOP afs service
/// detail. Every field is optional here; `transformers` decides what is required.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceOrder {
    // Identity.
    /// POP 服务单号.
    pub service_id: Option<Scalar>,
    /// VOP 服务单号.
    pub afs_service_id: Option<Scalar>,
    /// POP 申请单号.
    pub apply_id: Option<Scalar>,
    /// VOP 申请单号.
    pub afs_apply_id: Option<Scalar>,
    /// 订单号.
    pub order_id: Option<Scalar>,
    pub order_type: Option<Scalar>,
    pub order_type_name: Option<String>,
    pub sku_id: Option<Scalar>,
    pub ware_id: Option<Scalar>,
    pub ware_name: Option<String>,
    /// JD-03 数量 (POP list).
    pub ware_num: Option<Scalar>,
    /// JD-03 数量 (POP detail).
    pub service_count: Option<Scalar>,

    // State.
    /// POP 服务单状态: only 10005 待收货 is documented (§3.1).
    pub service_status: Option<Scalar>,
    pub service_status_name: Option<String>,
    /// VOP 服务单环节 (§3.2).
    pub afs_service_step: Option<Scalar>,
    pub afs_service_step_name: Option<String>,

    // Kind and review.
    /// JD-01 服务类型: 10 退货, 20 换货, 30 维修.
    pub customer_expect: Option<Scalar>,
    pub customer_expect_name: Option<String>,
    /// POP 审核结果 (the sample: 31 上门取件).
    pub approve_result: Option<Scalar>,
    pub approve_result_name: Option<String>,
    /// VOP 审核结果 (§3.2).
    pub approved_result: Option<Scalar>,
    pub approved_result_name: Option<String>,
    pub approve_notes: Option<String>,
    pub approve_pin: Option<String>,
    pub approve_name: Option<String>,
    /// POP 审核时间 (ms epoch).
    pub approve_date: Option<Scalar>,
    pub approve_time: Option<Scalar>,
    /// JD-05 处理结果 (§3.2).
    pub process_result: Option<Scalar>,
    pub process_result_name: Option<String>,
    pub process_pin: Option<String>,
    pub process_time: Option<Scalar>,

    // Collection (JD-04).
    /// 取件方式: 4 上门取件, 40 客户发货, 7 客户送货.
    pub pickware_type: Option<Scalar>,
    pub pickware_type_name: Option<String>,
    pub expect_pickware_type: Option<Scalar>,
    /// A string on the POP list, an object on the POP detail: kept as text.
    pub pickware_address: Option<serde_json::Value>,
    pub return_ware_type: Option<Scalar>,
    pub refund_type: Option<Scalar>,

    // Reason (JD-03).
    pub question_desc: Option<String>,
    /// `{"APPLYREASON": "七天无理由", …}` as a JSON string.
    pub ext_json_str: Option<String>,

    // Money, yuan (JD-03).
    /// POP list: the line's actual payment.
    pub actual_pay_price: Option<Scalar>,
    /// POP detail lines.
    pub service_bill_detail_list: Option<Vec<BillDetail>>,
    /// VOP 退款金额.
    pub afs_service_price: Option<Scalar>,
    /// VOP 退款明细.
    #[serde(rename = "serviceFinanceDetailInfoDTOs")]
    pub service_finance_details: Option<Vec<FinanceDetail>>,

    // Times.
    /// POP 申请时间, ms epoch.
    pub apply_time: Option<Scalar>,
    /// POP 更新时间, ms epoch.
    pub update_date: Option<Scalar>,
    /// VOP 申请时间, `yyyy-MM-dd HH:mm:ss`.
    pub afs_apply_time: Option<Scalar>,

    // Parties and addresses.
    pub customer_pin: Option<String>,
    pub customer_name: Option<String>,
    pub customer_info: Option<CustomerInfo>,
    /// VOP 客户信息.
    #[serde(rename = "serviceCustomerInfoDTO")]
    pub service_customer_info_dto: Option<VopCustomer>,
    /// POP: the merchant's return address (商家退货地址).
    pub afs_contact_info: Option<ContactInfo>,
    /// VOP 售后地址信息.
    #[serde(rename = "serviceAftersalesAddressInfoDTO")]
    pub service_aftersales_address_info_dto: Option<VopAddress>,
    /// VOP 客户发货信息: the buyer's return waybill.
    #[serde(rename = "serviceExpressInfoDTO")]
    pub service_express_info_dto: Option<VopExpress>,
    /// VOP 服务单追踪信息.
    #[serde(rename = "serviceTrackInfoDTOs")]
    pub service_track_info_dtos: Option<Vec<Track>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BillDetail {
    pub sku_id: Option<Scalar>,
    pub ware_num: Option<Scalar>,
    pub pay_price: Option<Scalar>,
    pub actual_pay_price: Option<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FinanceDetail {
    pub refund_way: Option<Scalar>,
    pub status: Option<Scalar>,
    pub refund_price: Option<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CustomerInfo {
    pub jd_pin: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VopCustomer {
    pub customer_pin: Option<String>,
    pub customer_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContactInfo {
    pub contact_name: Option<String>,
    pub contact_mobile: Option<Scalar>,
    pub contact_tel: Option<Scalar>,
    pub detail_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VopAddress {
    pub address: Option<String>,
    pub tel: Option<Scalar>,
    pub link_man: Option<String>,
    pub post_code: Option<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VopExpress {
    pub express_company: Option<String>,
    pub express_code: Option<Scalar>,
    pub deliver_date: Option<Scalar>,
    pub freight_money: Option<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Track {
    pub title: Option<String>,
    pub context: Option<String>,
    pub create_date: Option<Scalar>,
}

/// JOS `error_response`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct JosError {
    pub code: Option<Scalar>,
    pub zh_desc: Option<String>,
    pub en_desc: Option<String>,
}

impl JosError {
    pub(crate) fn to_error(&self) -> MappingError {
        let message: Vec<&str> = [self.zh_desc.as_deref(), self.en_desc.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        MappingError::new(
            PLATFORM,
            "error_response.code",
            self.code.as_ref().map(Scalar::text).unwrap_or(""),
            format!(
                "JOS answered with an error instead of a service order: {}",
                if message.is_empty() {
                    "(no message)".to_string()
                } else {
                    message.join(" — ")
                }
            ),
        )
    }
}

pub(crate) fn json_error(
    field: &str,
    input: &str,
    e: &serde_json::Error,
    what: &str,
) -> MappingError {
    crate::json::json_error(PLATFORM, field, input, e, what)
}

pub(crate) fn expect_object(field: &str, text: &str) -> Result<(), MappingError> {
    crate::json::expect_object(PLATFORM, field, text)
}

pub(crate) fn utf8(native: &[u8]) -> Result<&str, MappingError> {
    crate::json::utf8(PLATFORM, native)
}

/// Read one service order found at `path`.
pub fn parse_order(path: &str, raw: &str) -> Result<ServiceOrder, MappingError> {
    crate::json::parse_object(
        PLATFORM,
        path,
        raw,
        "does not match the JD service order shape (POP ASC or VOP afs)",
    )
}

/// Read a list's `data` found at `path` into its one record.
pub fn parse_list(path: &str, raw: &str) -> Result<(String, ServiceOrder), MappingError> {
    let item = crate::json::only_item(
        PLATFORM,
        path,
        raw,
        "service orders",
        "{\"jingdong_asc_query_list_responce\":{\"pageResult\":{\"data\":[record]}}}",
    )?;
    let at = format!("{path}[0]");
    let order = parse_order(&at, item.get())?;
    Ok((at, order))
}
