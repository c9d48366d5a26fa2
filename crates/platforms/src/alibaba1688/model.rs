//! The native 1688 payloads, exactly as the 1688 open platform returns them
//! (platform-apis.md §4; the official Java/PHP "ocean" SDK classes
//! `AlibabaTradeRefundOpOrderRefundModel`, `AlibabaTradeRefundOpQueryOrderRefundResult`,
//! `AlibabaTradeRefundOpQueryOrderRefundListResult`, and the API pages of
//! `alibaba.trade.refund.OpQueryOrderRefund` / `alibaba.trade.refund.queryOrderRefundList`).
//!
//! These types only *read* the payload: every enumerated field (`status`, `disputeRequest`,
//! `goodsStatus`…) stays the raw value the platform sent, and `transformers` maps it with an
//! explicit match, so an unknown value is an error carrying the raw value and never a silent
//! default.
//!
//! # Envelopes
//!
//! Both refund APIs answer with the same record type, `OpOrderRefundModel`, inside a `result`:
//!
//! | API | answer |
//! |---|---|
//! | `alibaba.trade.refund.OpQueryOrderRefund` (`.sellerView` for sellers) | `{"result": {"opOrderRefundModelDetail": {…}}, "errorCode", "errorMessage", "extErrorMessage"}` |
//! | `alibaba.trade.refund.queryOrderRefundList` | `{"result": {"opOrderRefundModels": […], "totalCount", "currentPageNum"}, "success", "errorCode", "errorMsg"}` |
//!
//! `opOrderRefundModelDetail` is the member name of the SDK class
//! `alibaba.trade.refund.result.OpQueryOrderRefund` and of the official example answer;
//! `opOrderRefundModel` is accepted as well (some integrations rename it), with or without
//! the `result` wrapper. Errors come as `errorCode` + `errorMessage` (detail) or `errorMsg`
//! (list), and gateway failures (signature, permission) as `error_code` + `error_message`
//! (`gw.APIACLDecline`…).
//!
//! # Why a bare record is refused
//!
//! 1688's order APIs describe refunds too, with other units (the order detail's amounts are
//! yuan numbers, `refundPayment` of an order line included) and other encodings; a record
//! without its refund-API envelope cannot be told apart from those, and reading a yuan amount
//! as fen is off by a factor of 100. [`super::Alibaba1688Adapter`] refuses it and asks for the
//! API answer as returned.

use crate::MappingError;
use serde::Deserialize;
use std::collections::BTreeMap;

use super::PLATFORM;

/// The same scalar reader as Taobao's: 1688 sends ids (`orderId`, `orderEntryIdList`, above
/// 2^53), amounts and codes as JSON numbers or strings, and a number is kept as its exact
/// text.
pub use crate::taobao::model::Scalar;
/// A JSON boolean, or the strings `"true"`/`"false"` some gateways write.
pub use crate::taobao::model::TopBool as AlBool;

/// `alibaba.trade.refund.OpOrderRefundModel` (退款单). Every field is optional here: which ones
/// are required is decided, with a precise error, in `transformers`. Field comments quote the
/// SDK's Chinese javadoc. `extInfo` (a free-form map) is not read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OpOrderRefundModel {
    // Identity.
    /// 退款单编号 (Long).
    pub id: Option<Scalar>,
    /// 退款单逻辑主键 (String, `TQ` + id): the key the detail API is queried by.
    pub refund_id: Option<Scalar>,
    /// 退款单对应的订单编号 (Long).
    pub order_id: Option<Scalar>,
    /// 退款单包含的订单明细，时间逆序排列 (sub-order ids, Long).
    pub order_entry_id_list: Option<Vec<Scalar>>,
    /// 子订单退货数量: sub-order id → quantity.
    pub order_entry_count_map: Option<BTreeMap<String, Scalar>>,
    pub buyer_member_id: Option<Scalar>,
    pub buyer_user_id: Option<Scalar>,
    pub buyer_login_id: Option<String>,
    pub seller_member_id: Option<Scalar>,
    pub seller_user_id: Option<Scalar>,
    pub seller_login_id: Option<String>,
    /// 支付宝交易号.
    pub alipay_payment_id: Option<Scalar>,
    /// 产品名称(退款单关联订单明细的货品名称).
    pub product_name: Option<String>,
    /// 交易类型.
    pub trade_type_str: Option<Scalar>,

    // State.
    /// 退款状态 (platform-apis.md §4.1).
    pub status: Option<Scalar>,
    /// 工单子状态: empty unless a CRM work order (dispute / complaint) was created.
    pub task_status: Option<Scalar>,
    /// 是否小二修改过退款单.
    pub crm_modify_refund: Option<AlBool>,

    // Kind.
    /// 售后退款要求: an Integer in the model, whose codes are not documented [U]; the
    /// create-refund API's strings `refund` / `returnRefund` (§4.3) are read too.
    pub dispute_request: Option<Scalar>,
    /// 纠纷类型：售中退款 售后退款，默认为售中退款 (Integer, codes [U]).
    pub dispute_type: Option<Scalar>,
    /// 是否仅退款.
    pub only_refund: Option<AlBool>,
    /// 是否要求退货.
    pub refund_goods: Option<AlBool>,
    /// 是否新流程创建的退款退货.
    pub new_refund_return: Option<AlBool>,
    /// 买家是否已收到货.
    pub goods_received: Option<AlBool>,
    /// 买家是否已经发货（如果有退货的流程）.
    pub buyer_send_goods: Option<AlBool>,
    /// 1 买家未收到货, 2 买家已收到货, 3 买家已退货; or the create-refund strings (§4.3).
    pub goods_status: Option<Scalar>,

    // Money: Long, fen (单位：分).
    /// 买家申请退款金额.
    pub apply_payment: Option<Scalar>,
    /// 运费的申请退款金额.
    pub apply_carriage: Option<Scalar>,
    /// 买家原始输入的退款金额(可以为空).
    pub apply_expect: Option<Scalar>,
    /// 实际退款金额.
    pub refund_payment: Option<Scalar>,
    /// 运费的实际退款金额.
    pub refund_carriage: Option<Scalar>,
    /// 最大能够退款金额.
    pub can_refund_payment: Option<Scalar>,
    /// 实际冻结账户金额 (`-1` in the official examples: nothing frozen).
    pub frozen_fund: Option<Scalar>,
    /// 极速退款垫资金额: when set, the refund MAY go through the advance flow; not that it did.
    pub prepaid_balance: Option<Scalar>,
    /// 退货官方物流上门取件单费用.
    pub refund_official_solution_cost: Option<Scalar>,

    // Reasons.
    pub apply_reason: Option<String>,
    pub apply_reason_id: Option<Scalar>,
    /// 二级退款原因.
    pub apply_sub_reason: Option<String>,
    pub apply_sub_reason_id: Option<Scalar>,
    /// 卖家拒绝原因.
    pub reject_reason: Option<String>,
    pub reject_reason_id: Option<Scalar>,
    /// 退款单被拒绝的次数.
    pub reject_times: Option<Scalar>,

    // Deadlines and freezing.
    /// 该退款单超时完成的时间期限: the platform's own deadline for the party now due.
    pub gmt_time_out: Option<Scalar>,
    /// 超时后执行的动作: what the platform does at `gmtTimeOut`. Values not documented [U].
    pub time_out_operate_type: Option<Scalar>,
    /// 是否因为超时被系统冻结.
    pub time_out_freeze: Option<AlBool>,
    /// 该退款单超时冻结开始时间.
    pub gmt_freezed: Option<Scalar>,
    /// 售后超时标记.
    pub aftersale_agree_timeout: Option<AlBool>,
    /// 售后自动打款.
    pub aftersale_auto_disburse: Option<AlBool>,
    /// 是否卖家延迟打款，即安全退款.
    pub seller_delay_disburse: Option<AlBool>,
    /// 交易4.0退款余额不足.
    pub insufficient_account: Option<AlBool>,
    /// 极速到账退款保证金不足.
    pub insufficient_bail: Option<AlBool>,
    /// 极速到账退款类型.
    pub instant_refund_type: Option<Scalar>,
    /// 极速到账打款渠道.
    pub disburse_channel: Option<Scalar>,
    /// 是否支持交易4.0.
    pub support_new_steppay: Option<AlBool>,

    // Times: `yyyyMMddHHmmssSSS+0800`.
    /// 申请退款时间.
    pub gmt_apply: Option<Scalar>,
    pub gmt_create: Option<Scalar>,
    pub gmt_modified: Option<Scalar>,
    pub gmt_completed: Option<Scalar>,

    // Return logistics.
    /// 运单号: the buyer's return waybill.
    pub freight_bill: Option<Scalar>,
    /// 买家退货物流公司名.
    pub buyer_logistics_name: Option<String>,
    /// 卖家收退货地址.
    pub seller_receive_address: Option<String>,
    /// 收货人姓名.
    pub seller_real_name: Option<String>,
    /// 收货人手机.
    pub seller_mobile: Option<Scalar>,
    /// 收货人电话.
    pub seller_tel: Option<Scalar>,

    /// 操作记录列表 (returned when asked for with `needOrderRefundOperation`).
    pub refund_operation_list: Option<Vec<OpOrderRefundOperationModel>>,
}

/// `alibaba.trade.refund.OpOrderRefundOperationModel`: one entry of the operation log. Only
/// what the record keeps (the count and the latest entry) is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OpOrderRefundOperationModel {
    /// 退款操作记录流水号.
    pub id: Option<Scalar>,
    /// 操作前 / 操作后的退款状态.
    pub before_operate_status: Option<Scalar>,
    pub after_operate_status: Option<Scalar>,
    /// 操作类型.
    pub operate_type_int: Option<Scalar>,
    /// 操作备注, e.g. 卖家拒绝协议，等待买家修改.
    pub operate_remark: Option<String>,
    /// 描述、说明 (sic: the platform spells it `discription`).
    pub discription: Option<String>,
    /// 操作者角色.
    pub operator_role_id: Option<Scalar>,
    pub operator_login_id: Option<String>,
    pub gmt_create: Option<Scalar>,
}

// ---------------------------------------------------------------------------------------------
// Error answers
// ---------------------------------------------------------------------------------------------

/// The members of a 1688 answer that carry an error: the refund APIs' `errorCode` with
/// `errorMessage` (detail) or `errorMsg` (list) and `extErrorMessage`, `success: false`, and the
/// gateway's `error_code` / `error_message`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorMembers {
    #[serde(rename = "errorCode")]
    error_code: Option<Scalar>,
    #[serde(rename = "errorMessage")]
    error_message: Option<Scalar>,
    #[serde(rename = "errorMsg")]
    error_msg: Option<Scalar>,
    #[serde(rename = "extErrorMessage")]
    ext_error_message: Option<Scalar>,
    success: Option<AlBool>,
    #[serde(rename = "error_code")]
    gw_error_code: Option<Scalar>,
    #[serde(rename = "error_message")]
    gw_error_message: Option<Scalar>,
}

fn filled(v: &Option<Scalar>) -> Option<&str> {
    v.as_ref()
        .map(|s| s.text().trim())
        .filter(|s| !s.is_empty())
}

impl ErrorMembers {
    /// Read the error members of the top-level object. A member of the wrong JSON type is an
    /// error of its own.
    pub(crate) fn read(text: &str) -> Result<ErrorMembers, MappingError> {
        serde_json::from_str(text).map_err(|e| {
            json_error(
                "$",
                text,
                &e,
                "errorCode, errorMessage, errorMsg, extErrorMessage, success, error_code and \
                 error_message must be strings, numbers or booleans",
            )
        })
    }

    /// Whether the answer says it failed. Empty or null members (some gateways send
    /// `"errorCode": null` beside a result) and `success: true` say nothing.
    pub(crate) fn failed(&self) -> bool {
        [
            &self.error_code,
            &self.error_message,
            &self.error_msg,
            &self.gw_error_code,
            &self.gw_error_message,
        ]
        .into_iter()
        .any(|v| filled(v).is_some())
            || self.success.is_some_and(|s| !s.0)
    }

    /// The error answer as a mapping error carrying the code and the message.
    pub(crate) fn to_error(&self) -> MappingError {
        let (field, code) = match (filled(&self.error_code), filled(&self.gw_error_code)) {
            (Some(c), _) => ("errorCode", c),
            (None, Some(c)) => ("error_code", c),
            (None, None) if self.success.is_some_and(|s| !s.0) => ("success", "false"),
            (None, None) => ("errorMessage", ""),
        };
        let message: Vec<&str> = [
            filled(&self.error_message),
            filled(&self.error_msg),
            filled(&self.gw_error_message),
            filled(&self.ext_error_message),
        ]
        .into_iter()
        .flatten()
        .collect();
        MappingError::new(
            PLATFORM,
            field,
            code,
            format!(
                "the platform answered with an error instead of a refund record: {}",
                if message.is_empty() {
                    "(no message)".to_string()
                } else {
                    message.join(" — ")
                }
            ),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

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

/// Read one `OpOrderRefundModel` found at `path` (e.g. `result.opOrderRefundModelDetail`).
pub fn parse_model(path: &str, raw: &str) -> Result<OpOrderRefundModel, MappingError> {
    crate::json::parse_object(
        PLATFORM,
        path,
        raw,
        "does not match the alibaba.trade.refund.OpOrderRefundModel shape",
    )
}

/// Read the list `opOrderRefundModels` found at `path` into its one record.
pub fn parse_list(path: &str, raw: &str) -> Result<(String, OpOrderRefundModel), MappingError> {
    let item = crate::json::only_item(
        PLATFORM,
        path,
        raw,
        "records",
        "{\"result\":{\"opOrderRefundModels\":[record]}}",
    )?;
    let at = format!("{path}[0]");
    let model = parse_model(&at, item.get())?;
    Ok((at, model))
}
