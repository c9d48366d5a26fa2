//! Pure functions from a JD service order ([`ServiceOrder`]) to the common [`PlatformRecord`].
//!
//! Every enumerated JD value is matched explicitly in a `parse` function whose only fallback
//! is an error naming the field and the raw value; the mappings to common terms are
//! exhaustive matches without wildcard arms.
//!
//! # State
//!
//! - POP (`serviceId` + `serviceStatus`): only 10005 待收货 is documented (§3.1) and mapped;
//!   any other code is refused. `processResult` is kept (validated) but does not move a POP
//!   record: without the status table it cannot be told whether the service order finished.
//! - VOP (`afsServiceId` + `afsServiceStep`): the step decides ([`AfsServiceStep::state`]); at
//!   50 完成 `processResult` decides, or the kind when it is absent.
//! - Review (JD-02): on JD POP the merchant reviews (商家审核, step 22) unless JD's customer
//!   service does (客服审核, step 21): 22 and 10 wait for the merchant, 21 is JD's.
//!
//! # Units and times
//!
//! Amounts are **yuan** (`199.00`, `"0.1"`, `2480`), parsed exactly by `Fen::parse_yuan`
//! (no float; more than two decimals, a sign or an exponent are refused). Times are epoch
//! milliseconds (POP, a number or digit string of at least 12 digits; fewer would be seconds
//! and are refused) or `yyyy-MM-dd HH:mm:ss` Beijing time (VOP).

use super::model::{Scalar, ServiceOrder};
use super::PLATFORM;
use crate::MappingError;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    Address, BoundedText, CaseKind, CaseState, Fen, Fulfilment, OrderId, PlatformCaseId,
    PlatformRecord, PlatformStatus, Shipment,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// `source_api` of a record read from a view answer.
pub const SOURCE_VIEW: &str = "jingdong.asc.query.view";
/// `source_api` of a record read from a list answer.
pub const SOURCE_LIST: &str = "jingdong.asc.query.list";
/// `source_api` of a VOP afs service detail.
pub const SOURCE_VOP: &str = "vop.afs.service.detail";

pub(crate) fn err(field: &str, raw: impl Into<String>, problem: impl Into<String>) -> MappingError {
    MappingError::new(PLATFORM, field, raw, problem)
}

pub(crate) fn missing(field: &str) -> MappingError {
    err(field, "", "required field is missing")
}

pub(crate) use crate::json::{present, present_scalar, under};

/// A code sent as a number or a numeric string.
fn code_of<'a>(field: &str, raw: &'a Scalar) -> Result<&'a str, MappingError> {
    let t = raw.text().trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(field, t, "expected a numeric code"));
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// customerExpect (JD-01)
// ---------------------------------------------------------------------------------------------

/// `customerExpect` (服务类型, §3.1/§3.2 [C]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerExpect {
    /// 10 退货
    Return,
    /// 20 换货
    Exchange,
    /// 30 维修
    Repair,
}

impl CustomerExpect {
    pub const ALL: [CustomerExpect; 3] = [Self::Return, Self::Exchange, Self::Repair];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_of("customerExpect", raw)? {
            "10" => Self::Return,
            "20" => Self::Exchange,
            "30" => Self::Repair,
            other => {
                return Err(err(
                    "customerExpect",
                    other,
                    "unknown or unconfirmed customerExpect (confirmed: 10 退货, 20 换货, 30 维修; \
                     the longer list of one ERP, platform-apis.md §3.1, is not confirmed)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Return => "10",
            Self::Exchange => "20",
            Self::Repair => "30",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Return => "退货",
            Self::Exchange => "换货",
            Self::Repair => "维修",
        }
    }

    /// JD-01.
    pub fn kind(self) -> CaseKind {
        match self {
            Self::Return => CaseKind::ReturnAndRefund,
            Self::Exchange => CaseKind::Exchange,
            Self::Repair => CaseKind::Repair,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// afsServiceStep (VOP)
// ---------------------------------------------------------------------------------------------

/// `afsServiceStep` (服务单环节, §3.2 [C]; 100 from one source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfsServiceStep {
    Apply,
    ApproveRejected,
    CustomerServiceReview,
    MerchantReview,
    JdReceive,
    MerchantReceive,
    JdProcess,
    MerchantProcess,
    UserConfirm,
    Completed,
    Cancelled,
    ApplyFailed,
}

/// What a step says before the result is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    State(CaseState),
    /// 完成: resolved by `processResult`, else the kind.
    Resolved,
}

impl AfsServiceStep {
    pub const ALL: [AfsServiceStep; 12] = [
        Self::Apply,
        Self::ApproveRejected,
        Self::CustomerServiceReview,
        Self::MerchantReview,
        Self::JdReceive,
        Self::MerchantReceive,
        Self::JdProcess,
        Self::MerchantProcess,
        Self::UserConfirm,
        Self::Completed,
        Self::Cancelled,
        Self::ApplyFailed,
    ];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_of("afsServiceStep", raw)? {
            "10" => Self::Apply,
            "20" => Self::ApproveRejected,
            "21" => Self::CustomerServiceReview,
            "22" => Self::MerchantReview,
            "31" => Self::JdReceive,
            "32" => Self::MerchantReceive,
            "33" => Self::JdProcess,
            "34" => Self::MerchantProcess,
            "40" => Self::UserConfirm,
            "50" => Self::Completed,
            "60" => Self::Cancelled,
            "100" => Self::ApplyFailed,
            other => {
                return Err(err(
                    "afsServiceStep",
                    other,
                    "unknown afsServiceStep (documented: 10, 20, 21, 22, 31, 32, 33, 34, 40, 50, \
                     60, 100)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Apply => "10",
            Self::ApproveRejected => "20",
            Self::CustomerServiceReview => "21",
            Self::MerchantReview => "22",
            Self::JdReceive => "31",
            Self::MerchantReceive => "32",
            Self::JdProcess => "33",
            Self::MerchantProcess => "34",
            Self::UserConfirm => "40",
            Self::Completed => "50",
            Self::Cancelled => "60",
            Self::ApplyFailed => "100",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Apply => "申请阶段",
            Self::ApproveRejected => "审核不通过",
            Self::CustomerServiceReview => "客服审核",
            Self::MerchantReview => "商家审核",
            Self::JdReceive => "京东收货",
            Self::MerchantReceive => "商家收货",
            Self::JdProcess => "京东处理",
            Self::MerchantProcess => "商家处理",
            Self::UserConfirm => "用户确认",
            Self::Completed => "完成",
            Self::Cancelled => "取消",
            Self::ApplyFailed => "申请售后失败",
        }
    }

    pub fn state(self) -> StepState {
        use CaseState as C;
        use StepState::*;
        match self {
            // Review pending: on POP the merchant reviews (JD-02).
            Self::Apply => State(C::AwaitingMerchant),
            // The review refused the request for good.
            Self::ApproveRejected => State(C::Closed),
            // JD's customer service holds the review (JD-02): nothing due from the merchant.
            Self::CustomerServiceReview => State(C::PlatformIntervening),
            // The merchant reviews (JD-02).
            Self::MerchantReview => State(C::AwaitingMerchant),
            // Approved; the goods travel back and their receipt is confirmed (JD-04/JD-05).
            // See `state` for a customer-shipped return without a waybill.
            Self::JdReceive | Self::MerchantReceive => State(C::ReturnInTransit),
            // JD handles the received goods: the platform holds the case.
            Self::JdProcess => State(C::PlatformIntervening),
            // The merchant carries out the refund, exchange or repair (JD-05).
            Self::MerchantProcess => State(C::AwaitingMerchantExecution),
            // The buyer confirms the result.
            Self::UserConfirm => State(C::AwaitingBuyer),
            // Finished: how is `processResult`'s (JD-05), else the kind's.
            Self::Completed => Resolved,
            // Cancelled (by the buyer or, e.g., for a waybill not uploaded in time).
            Self::Cancelled => State(C::Closed),
            // The request never became a service order.
            Self::ApplyFailed => State(C::Closed),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// serviceStatus (POP)
// ---------------------------------------------------------------------------------------------

/// POP `serviceStatus`: only 10005 待收货 is documented (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    /// 10005 待收货
    AwaitingReceipt,
}

impl ServiceStatus {
    pub const ALL: [ServiceStatus; 1] = [Self::AwaitingReceipt];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_of("serviceStatus", raw)? {
            "10005" => Self::AwaitingReceipt,
            other => {
                return Err(err(
                    "serviceStatus",
                    other,
                    "undocumented serviceStatus: only 10005 待收货 is documented \
                     (platform-apis.md §3.1); other codes are not guessed",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::AwaitingReceipt => "10005",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::AwaitingReceipt => "待收货",
        }
    }

    pub fn state(self) -> CaseState {
        match self {
            // Approved, the goods on their way back; receipt to be confirmed (JD-05).
            Self::AwaitingReceipt => CaseState::ReturnInTransit,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// approvedResult (JD-02) and pickwareType (JD-04)
// ---------------------------------------------------------------------------------------------

/// How returned goods reach the merchant (JD-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Pickup,
    CustomerShips,
}

impl Collection {
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Pickup => "pickup",
            Collection::CustomerShips => "customer_ships",
        }
    }
}

/// `approvedResult` / POP `approveResult` (审核结果, §3.2 [C]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovedResult {
    DirectPoints,
    DirectBalance,
    DirectCoupon,
    DirectJingdou,
    DirectGoods,
    DoorstepReplacement,
    SelfPickup,
    CustomerDelivers,
    CustomerShips,
    FlashRefund,
    VirtualRefund,
    ApplianceInspection,
    ApplianceInstall,
    ApplianceRelocate,
    ApplianceRepair,
    ApplianceOther,
}

impl ApprovedResult {
    pub const ALL: [ApprovedResult; 16] = [
        Self::DirectPoints,
        Self::DirectBalance,
        Self::DirectCoupon,
        Self::DirectJingdou,
        Self::DirectGoods,
        Self::DoorstepReplacement,
        Self::SelfPickup,
        Self::CustomerDelivers,
        Self::CustomerShips,
        Self::FlashRefund,
        Self::VirtualRefund,
        Self::ApplianceInspection,
        Self::ApplianceInstall,
        Self::ApplianceRelocate,
        Self::ApplianceRepair,
        Self::ApplianceOther,
    ];

    pub fn parse(field: &str, raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_of(field, raw)? {
            "11" => Self::DirectPoints,
            "12" => Self::DirectBalance,
            "13" => Self::DirectCoupon,
            "14" => Self::DirectJingdou,
            "21" => Self::DirectGoods,
            "22" => Self::DoorstepReplacement,
            "31" => Self::SelfPickup,
            "32" => Self::CustomerDelivers,
            "33" => Self::CustomerShips,
            "34" => Self::FlashRefund,
            "35" => Self::VirtualRefund,
            "80" => Self::ApplianceInspection,
            "81" => Self::ApplianceInstall,
            "82" => Self::ApplianceRelocate,
            "83" => Self::ApplianceRepair,
            "84" => Self::ApplianceOther,
            other => {
                return Err(err(
                    field,
                    other,
                    "unknown approvedResult (documented: 11–14, 21, 22, 31–35, 80–84)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::DirectPoints => "11",
            Self::DirectBalance => "12",
            Self::DirectCoupon => "13",
            Self::DirectJingdou => "14",
            Self::DirectGoods => "21",
            Self::DoorstepReplacement => "22",
            Self::SelfPickup => "31",
            Self::CustomerDelivers => "32",
            Self::CustomerShips => "33",
            Self::FlashRefund => "34",
            Self::VirtualRefund => "35",
            Self::ApplianceInspection => "80",
            Self::ApplianceInstall => "81",
            Self::ApplianceRelocate => "82",
            Self::ApplianceRepair => "83",
            Self::ApplianceOther => "84",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::DirectPoints => "直赔积分",
            Self::DirectBalance => "直赔余额",
            Self::DirectCoupon => "直赔优惠券",
            Self::DirectJingdou => "直赔京豆",
            Self::DirectGoods => "直赔商品",
            Self::DoorstepReplacement => "上门换新",
            Self::SelfPickup => "自营取件",
            Self::CustomerDelivers => "客户送货",
            Self::CustomerShips => "客户发货",
            Self::FlashRefund => "闪电退款",
            Self::VirtualRefund => "虚拟退款",
            Self::ApplianceInspection => "大家电检测",
            Self::ApplianceInstall => "大家电安装",
            Self::ApplianceRelocate => "大家电移机",
            Self::ApplianceRepair => "大家电维修",
            Self::ApplianceOther => "大家电其它",
        }
    }

    /// JD-04: the collection method the review decided, where it says one.
    pub fn collection(self) -> Option<Collection> {
        match self {
            Self::SelfPickup => Some(Collection::Pickup),
            Self::CustomerDelivers | Self::CustomerShips => Some(Collection::CustomerShips),
            Self::DirectPoints
            | Self::DirectBalance
            | Self::DirectCoupon
            | Self::DirectJingdou
            | Self::DirectGoods
            | Self::DoorstepReplacement
            | Self::FlashRefund
            | Self::VirtualRefund
            | Self::ApplianceInspection
            | Self::ApplianceInstall
            | Self::ApplianceRelocate
            | Self::ApplianceRepair
            | Self::ApplianceOther => None,
        }
    }
}

/// `pickwareType` (取件方式, §3.2 [C]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickwareType {
    /// 4 上门取件
    Pickup,
    /// 40 客户发货
    CustomerShips,
    /// 7 客户送货
    CustomerDelivers,
}

impl PickwareType {
    pub const ALL: [PickwareType; 3] = [Self::Pickup, Self::CustomerShips, Self::CustomerDelivers];

    pub fn parse(field: &str, raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_of(field, raw)? {
            "4" => Self::Pickup,
            "40" => Self::CustomerShips,
            "7" => Self::CustomerDelivers,
            other => {
                return Err(err(
                    field,
                    other,
                    "unknown pickwareType (documented: 4 上门取件, 40 客户发货, 7 客户送货)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Pickup => "4",
            Self::CustomerShips => "40",
            Self::CustomerDelivers => "7",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Pickup => "上门取件",
            Self::CustomerShips => "客户发货",
            Self::CustomerDelivers => "客户送货",
        }
    }

    /// JD-04: collected at the door, or sent (or brought) by the buyer.
    pub fn collection(self) -> Collection {
        match self {
            Self::Pickup => Collection::Pickup,
            Self::CustomerShips | Self::CustomerDelivers => Collection::CustomerShips,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// processResult (JD-05)
// ---------------------------------------------------------------------------------------------

/// `processResult` (处理结果, §3.2 [C]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessResult {
    RepairReplace,
    Return,
    ExchangeGood,
    ReturnedAsIs,
    Faulty,
    InspectionIssued,
    Repair,
    ForceClosed,
    OfflineReplace,
}

impl ProcessResult {
    pub const ALL: [ProcessResult; 9] = [
        Self::RepairReplace,
        Self::Return,
        Self::ExchangeGood,
        Self::ReturnedAsIs,
        Self::Faulty,
        Self::InspectionIssued,
        Self::Repair,
        Self::ForceClosed,
        Self::OfflineReplace,
    ];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_of("processResult", raw)? {
            "23" => Self::RepairReplace,
            "40" => Self::Return,
            "50" => Self::ExchangeGood,
            "60" => Self::ReturnedAsIs,
            "71" => Self::Faulty,
            "72" => Self::InspectionIssued,
            "73" => Self::Repair,
            "80" => Self::ForceClosed,
            "90" => Self::OfflineReplace,
            other => {
                return Err(err(
                    "processResult",
                    other,
                    "unknown processResult (documented: 23, 40, 50, 60, 71, 72, 73, 80, 90)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::RepairReplace => "23",
            Self::Return => "40",
            Self::ExchangeGood => "50",
            Self::ReturnedAsIs => "60",
            Self::Faulty => "71",
            Self::InspectionIssued => "72",
            Self::Repair => "73",
            Self::ForceClosed => "80",
            Self::OfflineReplace => "90",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::RepairReplace => "返修换新",
            Self::Return => "退货",
            Self::ExchangeGood => "换良",
            Self::ReturnedAsIs => "原返",
            Self::Faulty => "病单",
            Self::InspectionIssued => "出检",
            Self::Repair => "维修",
            Self::ForceClosed => "强制关单",
            Self::OfflineReplace => "线下换新",
        }
    }

    /// JD-05: the resolved state.
    pub fn state(self) -> CaseState {
        use CaseState as C;
        match self {
            // Replaced with new goods.
            Self::RepairReplace | Self::ExchangeGood | Self::OfflineReplace => C::Exchanged,
            // The return was accepted: refunded.
            Self::Return => C::Refunded,
            Self::Repair => C::Repaired,
            // Goods sent back as they came, a faulty-order verdict, an inspection report only,
            // or closed by force: no refund, exchange or repair.
            Self::ReturnedAsIs | Self::Faulty | Self::InspectionIssued | Self::ForceClosed => {
                C::Closed
            }
        }
    }
}

/// The resolved state of a kind finished without a `processResult`.
fn resolved_by_kind(kind: CustomerExpect) -> CaseState {
    match kind {
        CustomerExpect::Return => CaseState::Refunded,
        CustomerExpect::Exchange => CaseState::Exchanged,
        CustomerExpect::Repair => CaseState::Repaired,
    }
}

// ---------------------------------------------------------------------------------------------
// Money and times
// ---------------------------------------------------------------------------------------------

/// A yuan amount (number or string) as exact fen.
pub fn yuan(field: &str, raw: &Scalar) -> Result<Fen, MappingError> {
    Fen::parse_yuan(raw.text()).map_err(|e| err(field, raw.text(), e.to_string()))
}

fn opt_yuan(field: &str, raw: &Option<Scalar>) -> Result<Option<Fen>, MappingError> {
    present_scalar(raw).map(|v| yuan(field, v)).transpose()
}

fn sum(field: &str, parts: &[Fen]) -> Result<Fen, MappingError> {
    let total = parts
        .iter()
        .try_fold(0i64, |acc, f| acc.checked_add(f.get()))
        .ok_or_else(|| err(field, "", "sum overflows"))?;
    Fen::new(total).map_err(|e| err(field, total.to_string(), e.to_string()))
}

/// Epoch milliseconds (POP) or `yyyy-MM-dd HH:mm:ss` Beijing time (VOP).
pub fn time(field: &str, raw: &Scalar) -> Result<DateTime<Utc>, MappingError> {
    let t = raw.text().trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        if t.len() < 12 {
            return Err(err(
                field,
                t,
                "an epoch time must be milliseconds (JD sends e.g. 1578664268000); seconds \
                 are refused",
            ));
        }
        return t
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| err(field, t, "epoch milliseconds out of range"));
    }
    parse_shanghai(t).map_err(|_| {
        err(
            field,
            t,
            "expected epoch milliseconds or yyyy-MM-dd HH:mm:ss (Beijing time)",
        )
    })
}

fn opt_time(field: &str, raw: &Option<Scalar>) -> Result<Option<DateTime<Utc>>, MappingError> {
    present_scalar(raw).map(|v| time(field, v)).transpose()
}

fn id_text<'a>(field: &str, raw: &'a Scalar) -> Result<&'a str, MappingError> {
    match raw {
        Scalar::Num(n) if !raw.is_plain_integer() => Err(err(
            field,
            n.as_str(),
            "a numeric id must be a plain integer; send big ids as strings",
        )),
        Scalar::Num(n) => Ok(n),
        Scalar::Str(s) => Ok(s.trim()),
    }
}

pub(crate) fn text(field: &str, raw: &str) -> Result<BoundedText, MappingError> {
    BoundedText::parse(raw).map_err(|e| err(field, raw, e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// The record
// ---------------------------------------------------------------------------------------------

/// Which family a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Pop,
    Vop,
}

pub fn to_record(
    path: &str,
    o: &ServiceOrder,
    source_api: &str,
) -> Result<PlatformRecord, MappingError> {
    record(o, source_api).map_err(|e| under(path, e))
}

fn record(o: &ServiceOrder, source_api: &str) -> Result<PlatformRecord, MappingError> {
    let family = match (
        present_scalar(&o.service_status).is_some() || present_scalar(&o.service_id).is_some(),
        present_scalar(&o.afs_service_step).is_some()
            || present_scalar(&o.afs_service_id).is_some(),
    ) {
        (true, true) => {
            return Err(err(
                "serviceStatus",
                "serviceId/serviceStatus with afsServiceId/afsServiceStep",
                "a record mixing the POP (serviceId, serviceStatus) and VOP (afsServiceId, \
                 afsServiceStep) families is refused (platform-apis.md §3: do not mix them)",
            ))
        }
        (true, false) => Family::Pop,
        (false, true) => Family::Vop,
        (false, false) => return Err(missing("serviceId")),
    };
    if (family == Family::Pop) != (source_api != SOURCE_VOP) {
        return Err(err(
            if family == Family::Pop {
                "serviceId"
            } else {
                "afsServiceId"
            },
            source_api,
            "the record's family does not match its envelope (POP ASC answers carry \
             serviceId/serviceStatus, the VOP answer afsServiceId/afsServiceStep)",
        ));
    }
    let (id_field, id_raw) = match family {
        Family::Pop => ("serviceId", &o.service_id),
        Family::Vop => ("afsServiceId", &o.afs_service_id),
    };
    let id = id_text(
        id_field,
        present_scalar(id_raw).ok_or_else(|| missing(id_field))?,
    )?;
    let platform_case_id =
        PlatformCaseId::parse(id).map_err(|e| err(id_field, id, e.to_string()))?;
    let order = id_text(
        "orderId",
        present_scalar(&o.order_id).ok_or_else(|| missing("orderId"))?,
    )?;
    let order_id = OrderId::parse(order).map_err(|e| err("orderId", order, e.to_string()))?;

    let expect = CustomerExpect::parse(
        present_scalar(&o.customer_expect).ok_or_else(|| missing("customerExpect"))?,
    )?;
    let kind = expect.kind();

    // JD-02 / JD-04.
    let approved = match (
        present_scalar(&o.approved_result),
        present_scalar(&o.approve_result),
    ) {
        (Some(v), _) => Some(ApprovedResult::parse("approvedResult", v)?),
        (None, Some(v)) => Some(ApprovedResult::parse("approveResult", v)?),
        (None, None) => None,
    };
    let pickware = present_scalar(&o.pickware_type)
        .map(|v| PickwareType::parse("pickwareType", v))
        .transpose()?;
    let expect_pickware = present_scalar(&o.expect_pickware_type)
        .map(|v| PickwareType::parse("expectPickwareType", v))
        .transpose()?;
    let by_review = approved.and_then(ApprovedResult::collection);
    let collection = match (pickware.map(PickwareType::collection), by_review) {
        (Some(p), Some(r)) if p != r => {
            return Err(err(
                "pickwareType",
                pickware.map(PickwareType::code).unwrap_or(""),
                format!(
                    "contradicts the review result {} {} (JD-04)",
                    approved.map(ApprovedResult::code).unwrap_or(""),
                    approved.map(ApprovedResult::text).unwrap_or("")
                ),
            ))
        }
        (Some(p), _) => Some(p),
        (None, r) => r.or(expect_pickware.map(PickwareType::collection)),
    };
    let process = present_scalar(&o.process_result)
        .map(ProcessResult::parse)
        .transpose()?;

    // The buyer's return waybill (VOP 客户发货信息).
    let return_shipment = match &o.service_express_info_dto {
        Some(x) => present_scalar(&x.express_code)
            .map(|code| {
                Ok::<_, MappingError>(Shipment {
                    carrier: text(
                        "serviceExpressInfoDTO.expressCompany",
                        present(&x.express_company).unwrap_or(""),
                    )?,
                    tracking_number: text("serviceExpressInfoDTO.expressCode", code.text())?,
                    shipped_at: opt_time("serviceExpressInfoDTO.deliverDate", &x.deliver_date)?,
                })
            })
            .transpose()?,
        None => None,
    };

    let (status, state) = match family {
        Family::Pop => {
            let s = ServiceStatus::parse(
                present_scalar(&o.service_status).ok_or_else(|| missing("serviceStatus"))?,
            )?;
            (
                PlatformStatus {
                    code: s.code().to_string(),
                    text: s.text().to_string(),
                },
                s.state(),
            )
        }
        Family::Vop => {
            let step = AfsServiceStep::parse(
                present_scalar(&o.afs_service_step).ok_or_else(|| missing("afsServiceStep"))?,
            )?;
            let state = match step.state() {
                StepState::Resolved => process.map_or(resolved_by_kind(expect), |p| p.state()),
                // JD-04: a return the buyer must send, with no waybill yet, waits for the buyer.
                StepState::State(CaseState::ReturnInTransit)
                    if collection == Some(Collection::CustomerShips)
                        && return_shipment.is_none() =>
                {
                    CaseState::AwaitingBuyer
                }
                StepState::State(s) => s,
            };
            (
                PlatformStatus {
                    code: step.code().to_string(),
                    text: step.text().to_string(),
                },
                state,
            )
        }
    };

    // Money (JD-03), yuan.
    let lines = o
        .service_bill_detail_list
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, l)| {
            present_scalar(&l.actual_pay_price)
                .map(|v| yuan(&format!("serviceBillDetailList[{i}].actualPayPrice"), v))
        })
        .collect::<Result<Vec<Fen>, _>>()?;
    let requested = match (
        opt_yuan("afsServicePrice", &o.afs_service_price)?,
        opt_yuan("actualPayPrice", &o.actual_pay_price)?,
    ) {
        (Some(v), _) | (None, Some(v)) => Some(v),
        (None, None) if !lines.is_empty() => Some(sum("serviceBillDetailList", &lines)?),
        (None, None) => None,
    };
    let requested_refund = match (requested, kind) {
        (Some(v), _) => v,
        // An exchange or a repair refunds nothing.
        (None, CaseKind::Exchange | CaseKind::Repair) => Fen::ZERO,
        (None, _) => return Err(missing("actualPayPrice")),
    };
    let finance = o
        .service_finance_details
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, f)| {
            present_scalar(&f.refund_price)
                .map(|v| yuan(&format!("serviceFinanceDetailInfoDTOs[{i}].refundPrice"), v))
        })
        .collect::<Result<Vec<Fen>, _>>()?;
    let refunded = if state == CaseState::Refunded && !finance.is_empty() {
        Some(sum("serviceFinanceDetailInfoDTOs", &finance)?)
    } else {
        None
    };

    // Parties and addresses.
    let buyer = present(&o.customer_pin)
        .or(o.customer_info.as_ref().and_then(|c| present(&c.jd_pin)))
        .or(o
            .service_customer_info_dto
            .as_ref()
            .and_then(|c| present(&c.customer_pin)))
        .unwrap_or("");
    let return_address = match (&o.afs_contact_info, &o.service_aftersales_address_info_dto) {
        (Some(c), _) => Some(Address {
            name: text(
                "afsContactInfo.contactName",
                present(&c.contact_name).unwrap_or(""),
            )?,
            phone: text(
                "afsContactInfo.contactMobile",
                present_scalar(&c.contact_mobile)
                    .or(present_scalar(&c.contact_tel))
                    .map(Scalar::text)
                    .unwrap_or(""),
            )?,
            detail: text(
                "afsContactInfo.detailAddress",
                present(&c.detail_address).unwrap_or(""),
            )?,
            ..Address::default()
        }),
        (None, Some(a)) => Some(Address {
            name: text(
                "serviceAftersalesAddressInfoDTO.linkMan",
                present(&a.link_man).unwrap_or(""),
            )?,
            phone: text(
                "serviceAftersalesAddressInfoDTO.tel",
                present_scalar(&a.tel).map(Scalar::text).unwrap_or(""),
            )?,
            detail: text(
                "serviceAftersalesAddressInfoDTO.address",
                present(&a.address).unwrap_or(""),
            )?,
            ..Address::default()
        }),
        (None, None) => None,
    };

    // Times.
    let opened_at = match family {
        Family::Pop => opt_time("applyTime", &o.apply_time)?,
        Family::Vop => opt_time("afsApplyTime", &o.afs_apply_time)?,
    };
    let mut stamps = vec![
        opened_at,
        opt_time("updateDate", &o.update_date)?,
        opt_time("approveDate", &o.approve_date)?,
        opt_time("approveTime", &o.approve_time)?,
        opt_time("processTime", &o.process_time)?,
    ];
    for (i, t) in o.service_track_info_dtos.iter().flatten().enumerate() {
        stamps.push(opt_time(
            &format!("serviceTrackInfoDTOs[{i}].createDate"),
            &t.create_date,
        )?);
    }
    // The latest time the record carries: POP updateDate, else the review, process or track
    // times, else the application.
    let version = stamps
        .into_iter()
        .flatten()
        .max()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| missing("updateDate"))?;

    let reason = present(&o.question_desc).unwrap_or("");
    let mut a = Attributes::default();
    a.value("source_api", Some(source_api))?;
    a.value(
        "family",
        Some(if family == Family::Pop { "pop" } else { "vop" }),
    )?;
    a.value("customer_expect", Some(expect.code()))?;
    a.value("customer_expect_text", Some(expect.text()))?;
    if let Some(r) = approved {
        a.value("approved_result", Some(r.code()))?;
        a.value("approved_result_text", Some(r.text()))?;
    }
    if let Some(p) = pickware {
        a.value("pickware_type", Some(p.code()))?;
        a.value("pickware_type_text", Some(p.text()))?;
    }
    if let Some(p) = expect_pickware {
        a.value("expect_pickware_type", Some(p.code()))?;
    }
    a.value("collection", collection.map(Collection::as_str))?;
    if let Some(p) = process {
        a.value("process_result", Some(p.code()))?;
        a.value("process_result_text", Some(p.text()))?;
    }
    a.scalar("sku_id", &o.sku_id)?;
    a.scalar("ware_id", &o.ware_id)?;
    a.text("ware_name", &o.ware_name)?;
    // JD-03 数量.
    a.value(
        "quantity",
        present_scalar(&o.ware_num)
            .or(present_scalar(&o.service_count))
            .map(Scalar::text),
    )?;
    a.scalar("apply_id", &o.apply_id)?;
    a.scalar("afs_apply_id", &o.afs_apply_id)?;
    a.scalar("order_type", &o.order_type)?;
    a.scalar("return_ware_type", &o.return_ware_type)?;
    a.scalar("refund_type", &o.refund_type)?;
    a.text("approve_notes", &o.approve_notes)?;
    a.text("approve_pin", &o.approve_pin)?;
    a.text("process_pin", &o.process_pin)?;
    a.text("customer_name", &o.customer_name)?;
    if let Some(c) = &o.customer_info {
        a.text("customer_name", &c.name)?;
    }
    if let Some(c) = &o.service_customer_info_dto {
        a.text("customer_name", &c.customer_name)?;
    }
    a.text("ext_json_str", &o.ext_json_str)?;
    match &o.pickware_address {
        Some(serde_json::Value::String(s)) => a.value("pickware_address", Some(s))?,
        Some(serde_json::Value::Object(m)) => a.value(
            "pickware_address",
            m.get("detailAddress").and_then(serde_json::Value::as_str),
        )?,
        _ => {}
    }
    if let Some(r) = requested {
        a.value("refund_amount_fen", Some(&r.get().to_string()))?;
    }

    Ok(PlatformRecord {
        platform_case_id,
        order_id: Some(order_id),
        // No per-line id in §3: the sku is kept in the attributes.
        sub_order_id: None,
        kind,
        state,
        // Return, exchange and repair are about goods the buyer holds.
        fulfilment: Fulfilment::Received,
        requested_refund,
        order_total: None,
        refunded,
        reason: text("questionDesc", reason)?,
        buyer: text("customerPin", buyer)?,
        return_address,
        return_shipment,
        reship_shipment: None,
        status,
        version,
        // JD sends no deadline of its own (JD-06).
        platform_deadline: None,
        attributes: a.out,
        opened_at,
        order_state: None,
        platform_advance: None,
        task: None,
    })
}

#[derive(Default)]
struct Attributes {
    out: BTreeMap<String, String>,
}

impl Attributes {
    fn value(&mut self, key: &str, value: Option<&str>) -> Result<(), MappingError> {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            let v = text(key, v)?;
            self.out.insert(key.to_string(), v.as_str().to_string());
        }
        Ok(())
    }

    fn text(&mut self, key: &str, value: &Option<String>) -> Result<(), MappingError> {
        self.value(key, value.as_deref())
    }

    fn scalar(&mut self, key: &str, value: &Option<Scalar>) -> Result<(), MappingError> {
        self.value(key, value.as_ref().map(Scalar::text))
    }
}
