//! Pure functions from the native 1688 record ([`OpOrderRefundModel`]) to the common
//! [`PlatformRecord`].
//!
//! Every enumerated 1688 value is matched explicitly, once, in a `parse` function whose only
//! fallback is an error naming the field and the raw value. Value parsers name the bare field
//! (`status`); [`to_record`] puts the record's path in front of it
//! (`result.opOrderRefundModelDetail.status`). The mappings from the parsed enums to common
//! terms are exhaustive matches without wildcard arms, so a new value has to be decided here
//! before it compiles.
//!
//! # Kind: `disputeRequest`, `onlyRefund`, `refundGoods`
//!
//! Precedence, first match wins:
//! 1. `disputeRequest` as the create-refund strings (platform-apis.md §4.3): `refund` →
//!    refund only, `returnRefund` → return and refund. A flag that says the opposite
//!    (`refundGoods: true` with `refund`, `onlyRefund: true` with `returnRefund`) is a
//!    contradiction and refused; a `false` flag is not (gateways default them).
//! 2. `disputeRequest` as an Integer (what the model declares): its codes are not documented
//!    (§4.4 [U]; the official examples show `3` on a return-and-refund and on a record whose
//!    kind they do not say), so the number is never read. The flags decide instead: exactly
//!    one of `onlyRefund: true` (refund only) or `refundGoods: true` (return and refund);
//!    otherwise the record is refused with an error saying the codes are undocumented.
//! 3. No `disputeRequest`: the flags decide as in 2; both or neither true is refused.
//!
//! Every other `disputeRequest` string is refused naming the raw value.
//!
//! # Units
//!
//! Every amount of the model is a `Long` in **fen** (单位：分, §4.4 [C]): `1990` is ¥19.90. A
//! numeric string (`"1990"`) is accepted; anything with a decimal point (`19.90`, `"19.9"`) is
//! refused as a yuan amount in a fen field, and so is a negative amount, except
//! `frozenFund: -1`, which the official examples use for "nothing frozen".
//!
//! # Times
//!
//! The SDK writes `java.util.Date` as `yyyyMMddHHmmssSSS+0800` (`20180802211113000+0800`:
//! 2018-08-02 21:11:13.000 at UTC+08:00), read exactly by [`parse_sdk_time`]: 17 digits, a
//! sign and four offset digits, the offset applied as written. `yyyy-MM-dd HH:mm:ss`, Beijing
//! time, is accepted as well (what some gateways and ERPs re-serialise to). A JSON number is
//! refused: 1688 never sends one, and epoch seconds and milliseconds cannot be told from a
//! mis-typed date. `""` is read as absent.

use super::model::{OpOrderRefundModel, OpOrderRefundOperationModel, Scalar};
use super::PLATFORM;
use crate::MappingError;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    Address, BoundedText, CaseKind, CaseState, Fen, Fulfilment, OrderId, PlatformCaseId,
    PlatformRecord, PlatformStatus, Shipment,
};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use std::collections::BTreeMap;

/// `source_api` of a record read from a detail answer.
pub const SOURCE_DETAIL: &str = "alibaba.trade.refund.OpQueryOrderRefund.sellerView";
/// `source_api` of a record read from a list answer.
pub const SOURCE_LIST: &str = "alibaba.trade.refund.queryOrderRefundList";

pub(crate) fn err(field: &str, raw: impl Into<String>, problem: impl Into<String>) -> MappingError {
    MappingError::new(PLATFORM, field, raw, problem)
}

pub(crate) fn missing(field: &str) -> MappingError {
    err(field, "", "required field is missing")
}

pub(crate) use crate::json::{present, present_scalar, under};

// ---------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------

/// `status` (退款状态, platform-apis.md §4.1 [C]): the six lower-case values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// waitselleragree 等待卖家同意
    WaitSellerAgree,
    /// waitbuyermodify 待买家修改
    WaitBuyerModify,
    /// waitbuyersend 等待买家退货
    WaitBuyerSend,
    /// waitsellerreceive 等待卖家确认收货
    WaitSellerReceive,
    /// refundsuccess 退款成功
    RefundSuccess,
    /// refundclose 退款关闭
    RefundClose,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 6] = [
        RefundStatus::WaitSellerAgree,
        RefundStatus::WaitBuyerModify,
        RefundStatus::WaitBuyerSend,
        RefundStatus::WaitSellerReceive,
        RefundStatus::RefundSuccess,
        RefundStatus::RefundClose,
    ];

    /// Exactly as the platform spells it (lower case); anything else is an error naming
    /// `status` and the raw value.
    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        use RefundStatus as S;
        Ok(match raw.text().trim() {
            "waitselleragree" => S::WaitSellerAgree,
            "waitbuyermodify" => S::WaitBuyerModify,
            "waitbuyersend" => S::WaitBuyerSend,
            "waitsellerreceive" => S::WaitSellerReceive,
            "refundsuccess" => S::RefundSuccess,
            "refundclose" => S::RefundClose,
            other => {
                return Err(err(
                    "status",
                    other,
                    "unknown 1688 refund status (documented: waitselleragree, waitbuyermodify, \
                     waitbuyersend, waitsellerreceive, refundsuccess, refundclose)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        use RefundStatus as S;
        match self {
            S::WaitSellerAgree => "waitselleragree",
            S::WaitBuyerModify => "waitbuyermodify",
            S::WaitBuyerSend => "waitbuyersend",
            S::WaitSellerReceive => "waitsellerreceive",
            S::RefundSuccess => "refundsuccess",
            S::RefundClose => "refundclose",
        }
    }

    /// The platform's own words for the value (platform-apis.md §4.1), shown beside it.
    pub fn text(self) -> &'static str {
        use RefundStatus as S;
        match self {
            S::WaitSellerAgree => "等待卖家同意",
            S::WaitBuyerModify => "待买家修改",
            S::WaitBuyerSend => "等待买家退货",
            S::WaitSellerReceive => "等待卖家确认收货",
            S::RefundSuccess => "退款成功",
            S::RefundClose => "退款关闭",
        }
    }

    /// The normalised state, by the status alone (see [`state`] for `taskStatus`).
    pub fn state(self) -> CaseState {
        use CaseState as C;
        use RefundStatus as S;
        match self {
            // AL-02: the merchant agrees or refuses.
            S::WaitSellerAgree => C::AwaitingMerchant,
            // The merchant refused; the buyer modifies the request or escalates.
            S::WaitBuyerModify => C::AwaitingBuyer,
            // The merchant agreed to a return; the buyer ships it.
            S::WaitBuyerSend => C::AwaitingBuyer,
            // The buyer shipped the return; the merchant confirms receipt.
            S::WaitSellerReceive => C::ReturnInTransit,
            S::RefundSuccess => C::Refunded,
            S::RefundClose => C::Closed,
        }
    }

    /// Whether the status says the buyer has been paid back.
    pub fn refund_paid(self) -> bool {
        use RefundStatus as S;
        match self {
            S::RefundSuccess => true,
            S::WaitSellerAgree
            | S::WaitBuyerModify
            | S::WaitBuyerSend
            | S::WaitSellerReceive
            | S::RefundClose => false,
        }
    }
}

/// The normalised state: the status's, unless the platform has a work order open on it.
///
/// `taskStatus` is the CRM work order's sub-status and is empty until a work order is created
/// (platform-apis.md §4.4); on 1688 a work order on a refund is a dispute or complaint that the
/// platform's staff (小二) handle, i.e. platform intervention — the role Taobao's `cs_status`
/// 2–5 plays (TB-05). While one exists the platform has the case, whatever the status says.
/// A resolved status still wins: the refund ended, whatever the work order's bookkeeping. The
/// sub-status values themselves are not documented [U] and are kept raw (`task_status`).
pub fn state(status: RefundStatus, task_status: Option<&str>) -> CaseState {
    let by_status = status.state();
    match task_status.map(str::trim).filter(|t| !t.is_empty()) {
        Some(_) if !by_status.is_resolved() => CaseState::PlatformIntervening,
        Some(_) | None => by_status,
    }
}

// ---------------------------------------------------------------------------------------------
// disputeRequest / onlyRefund / refundGoods
// ---------------------------------------------------------------------------------------------

/// `disputeRequest` as the create-refund API spells it (platform-apis.md §4.3 [C]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeRequest {
    /// refund 退款 (仅退款)
    Refund,
    /// returnRefund 退款退货. Only after the goods were received.
    ReturnRefund,
}

impl DisputeRequest {
    pub const ALL: [DisputeRequest; 2] = [DisputeRequest::Refund, DisputeRequest::ReturnRefund];

    pub fn parse(raw: &str) -> Result<Self, MappingError> {
        Ok(match raw.trim() {
            "refund" => DisputeRequest::Refund,
            "returnRefund" => DisputeRequest::ReturnRefund,
            other => {
                return Err(err(
                    "disputeRequest",
                    other,
                    "unknown disputeRequest (expected refund 退款 or returnRefund 退款退货)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            DisputeRequest::Refund => "refund",
            DisputeRequest::ReturnRefund => "returnRefund",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            DisputeRequest::Refund => "退款",
            DisputeRequest::ReturnRefund => "退款退货",
        }
    }

    pub fn kind(self) -> CaseKind {
        match self {
            DisputeRequest::Refund => CaseKind::RefundOnly,
            DisputeRequest::ReturnRefund => CaseKind::ReturnAndRefund,
        }
    }
}

/// The kind the two flags state: exactly one of them true.
fn kind_by_flags(only_refund: Option<bool>, refund_goods: Option<bool>) -> Option<CaseKind> {
    match (only_refund, refund_goods) {
        (Some(true), Some(true)) => None,
        (Some(true), Some(false) | None) => Some(CaseKind::RefundOnly),
        (Some(false) | None, Some(true)) => Some(CaseKind::ReturnAndRefund),
        (Some(false) | None, Some(false) | None) => None,
    }
}

fn flags_text(only_refund: Option<bool>, refund_goods: Option<bool>) -> String {
    let show = |b: Option<bool>| b.map_or("absent".to_string(), |b| b.to_string());
    format!(
        "onlyRefund={}, refundGoods={}",
        show(only_refund),
        show(refund_goods)
    )
}

/// The case kind, by the precedence in the module doc.
pub fn kind(
    dispute_request: Option<&Scalar>,
    only_refund: Option<bool>,
    refund_goods: Option<bool>,
) -> Result<CaseKind, MappingError> {
    let Some(raw) = dispute_request else {
        return kind_by_flags(only_refund, refund_goods).ok_or_else(|| {
            err(
                "disputeRequest",
                flags_text(only_refund, refund_goods),
                "missing, and onlyRefund/refundGoods do not decide the kind (exactly one must \
                 be true): send disputeRequest as refund or returnRefund",
            )
        });
    };
    let t = raw.text().trim();
    let integer = matches!(raw, Scalar::Num(_))
        || t.strip_prefix('-')
            .unwrap_or(t)
            .bytes()
            .all(|b| b.is_ascii_digit());
    if integer {
        // The model's Integer codes are undocumented [U]: never read, only the flags decide.
        return kind_by_flags(only_refund, refund_goods).ok_or_else(|| {
            err(
                "disputeRequest",
                t,
                format!(
                    "an integer disputeRequest is not read: the meanings of its codes are not \
                     documented (platform-apis.md §4.4), and onlyRefund/refundGoods do not \
                     decide the kind ({}; exactly one must be true). Send disputeRequest as \
                     refund or returnRefund",
                    flags_text(only_refund, refund_goods)
                ),
            )
        });
    }
    let request = DisputeRequest::parse(t)?;
    match (request, only_refund, refund_goods) {
        (DisputeRequest::Refund, _, Some(true)) => Err(err(
            "refundGoods",
            "true",
            "contradicts disputeRequest refund (仅退款): a refund-only request returns no goods",
        )),
        (DisputeRequest::ReturnRefund, Some(true), _) => Err(err(
            "onlyRefund",
            "true",
            "contradicts disputeRequest returnRefund (退款退货)",
        )),
        (r, _, _) => Ok(r.kind()),
    }
}

// ---------------------------------------------------------------------------------------------
// goodsStatus
// ---------------------------------------------------------------------------------------------

/// `goodsStatus`: the model's Integer codes (§4.4 [C]) and the create-refund API's strings
/// (§4.3 [C]), both accepted explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoodsStatus {
    /// 1 买家未收到货
    BuyerNotReceived,
    /// 2 买家已收到货
    BuyerReceived,
    /// 3 买家已退货
    BuyerReturned,
    /// refundWaitSellerSend 售中等待卖家发货
    RefundWaitSellerSend,
    /// refundWaitBuyerReceive 售中等待买家收货
    RefundWaitBuyerReceive,
    /// refundBuyerReceived 售中已收货（未确认完成交易）
    RefundBuyerReceived,
    /// aftersaleBuyerNotReceived 售后未收货
    AftersaleBuyerNotReceived,
    /// aftersaleBuyerReceived 售后已收到货
    AftersaleBuyerReceived,
}

impl GoodsStatus {
    pub const ALL: [GoodsStatus; 8] = [
        GoodsStatus::BuyerNotReceived,
        GoodsStatus::BuyerReceived,
        GoodsStatus::BuyerReturned,
        GoodsStatus::RefundWaitSellerSend,
        GoodsStatus::RefundWaitBuyerReceive,
        GoodsStatus::RefundBuyerReceived,
        GoodsStatus::AftersaleBuyerNotReceived,
        GoodsStatus::AftersaleBuyerReceived,
    ];

    /// From the code (a number or a numeric string) or the create-refund string.
    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        use GoodsStatus as G;
        Ok(match raw.text().trim() {
            "1" => G::BuyerNotReceived,
            "2" => G::BuyerReceived,
            "3" => G::BuyerReturned,
            "refundWaitSellerSend" => G::RefundWaitSellerSend,
            "refundWaitBuyerReceive" => G::RefundWaitBuyerReceive,
            "refundBuyerReceived" => G::RefundBuyerReceived,
            "aftersaleBuyerNotReceived" => G::AftersaleBuyerNotReceived,
            "aftersaleBuyerReceived" => G::AftersaleBuyerReceived,
            other => {
                return Err(err(
                    "goodsStatus",
                    other,
                    "unknown goodsStatus (expected 1 买家未收到货, 2 买家已收到货, 3 买家已退货, \
                     or refundWaitSellerSend, refundWaitBuyerReceive, refundBuyerReceived, \
                     aftersaleBuyerNotReceived, aftersaleBuyerReceived)",
                ))
            }
        })
    }

    pub fn code(self) -> &'static str {
        use GoodsStatus as G;
        match self {
            G::BuyerNotReceived => "1",
            G::BuyerReceived => "2",
            G::BuyerReturned => "3",
            G::RefundWaitSellerSend => "refundWaitSellerSend",
            G::RefundWaitBuyerReceive => "refundWaitBuyerReceive",
            G::RefundBuyerReceived => "refundBuyerReceived",
            G::AftersaleBuyerNotReceived => "aftersaleBuyerNotReceived",
            G::AftersaleBuyerReceived => "aftersaleBuyerReceived",
        }
    }

    pub fn text(self) -> &'static str {
        use GoodsStatus as G;
        match self {
            G::BuyerNotReceived => "买家未收到货",
            G::BuyerReceived => "买家已收到货",
            G::BuyerReturned => "买家已退货",
            G::RefundWaitSellerSend => "售中等待卖家发货",
            G::RefundWaitBuyerReceive => "售中等待买家收货",
            G::RefundBuyerReceived => "售中已收货（未确认完成交易）",
            G::AftersaleBuyerNotReceived => "售后未收货",
            G::AftersaleBuyerReceived => "售后已收到货",
        }
    }

    /// Where the goods were when the buyer asked. "Not received" (1, the after-sale string)
    /// is read as shipped but not received: a refund whose goods never left is 售中
    /// `refundWaitSellerSend`. Returned (3) means the buyer had them first.
    pub fn fulfilment(self) -> Fulfilment {
        use GoodsStatus as G;
        match self {
            G::RefundWaitSellerSend => Fulfilment::NotShipped,
            G::BuyerNotReceived | G::RefundWaitBuyerReceive | G::AftersaleBuyerNotReceived => {
                Fulfilment::ShippedNotReceived
            }
            G::BuyerReceived
            | G::BuyerReturned
            | G::RefundBuyerReceived
            | G::AftersaleBuyerReceived => Fulfilment::Received,
        }
    }
}

/// `goodsStatus` decides; without it, `goodsReceived: true` says received, and nothing else
/// says where the goods are (`goodsReceived: false` does not say whether they left).
pub fn fulfilment(goods_status: Option<GoodsStatus>, goods_received: Option<bool>) -> Fulfilment {
    match (goods_status, goods_received) {
        (Some(g), _) => g.fulfilment(),
        (None, Some(true)) => Fulfilment::Received,
        (None, Some(false) | None) => Fulfilment::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars: money, times, ids, text
// ---------------------------------------------------------------------------------------------

/// An amount in fen (see the module doc): a whole, non-negative number.
pub(crate) fn fen(field: &str, raw: &Scalar) -> Result<Fen, MappingError> {
    let t = raw.text().trim();
    if t.contains('.') {
        return Err(err(
            field,
            t,
            "1688 refund amounts are Long fen (分; 1990 = ¥19.90): a decimal, yuan-looking \
             amount is refused",
        ));
    }
    if t.starts_with('-') {
        return Err(err(field, t, "a negative amount is refused"));
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(field, t, "not a whole number of fen"));
    }
    let n: i64 = t.parse().map_err(|_| err(field, t, "amount too large"))?;
    Fen::new(n).map_err(|e| err(field, t, e.to_string()))
}

pub(crate) fn opt_fen(field: &str, raw: &Option<Scalar>) -> Result<Option<Fen>, MappingError> {
    present_scalar(raw).map(|v| fen(field, v)).transpose()
}

/// `frozenFund`: fen, or `-1`, which the official examples send when nothing is frozen.
fn frozen_fund(raw: &Option<Scalar>) -> Result<(), MappingError> {
    match present_scalar(raw) {
        Some(v) if v.text().trim() == "-1" => Ok(()),
        Some(v) => fen("frozenFund", v).map(|_| ()),
        None => Ok(()),
    }
}

/// Parse the SDK's `yyyyMMddHHmmssSSS+0800` exactly (module doc): 22 characters, every field
/// range-checked (month 1–12, the day within the month, hour < 24, minute and second < 60,
/// offset hours < 24 and minutes < 60). `None` for anything else.
pub fn parse_sdk_time(raw: &str) -> Option<DateTime<Utc>> {
    let b = raw.as_bytes();
    if b.len() != 22
        || !b[..17].iter().all(u8::is_ascii_digit)
        || !b[18..].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let sign: i32 = match b[17] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    // Every slice is ASCII digits, so the parses cannot fail.
    let num = |from: usize, to: usize| raw[from..to].parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(4, 6)?, num(6, 8)?)?;
    let time =
        NaiveTime::from_hms_milli_opt(num(8, 10)?, num(10, 12)?, num(12, 14)?, num(14, 17)?)?;
    let (oh, om) = (num(18, 20)?, num(20, 22)?);
    if oh >= 24 || om >= 60 {
        return None;
    }
    let offset = FixedOffset::east_opt(sign * (oh * 3600 + om * 60) as i32)?;
    offset
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// A 1688 time in either accepted form (module doc); `None` for `""`.
pub(crate) fn time(field: &str, raw: &Scalar) -> Result<Option<DateTime<Utc>>, MappingError> {
    match raw {
        Scalar::Num(n) => Err(err(
            field,
            n.as_str(),
            "1688 times are strings in the form yyyyMMddHHmmssSSS+0800 \
             (20180802211113000+0800); a number is refused",
        )),
        Scalar::Str(s) if s.trim().is_empty() => Ok(None),
        Scalar::Str(s) => parse_sdk_time(s.trim())
            .or_else(|| parse_shanghai(s).ok())
            .map(Some)
            .ok_or_else(|| {
                err(
                    field,
                    s.as_str(),
                    "not a time: expected yyyyMMddHHmmssSSS+0800 (20180802211113000+0800) or \
                     yyyy-MM-dd HH:mm:ss (Beijing time)",
                )
            }),
    }
}

pub(crate) fn opt_time(
    field: &str,
    raw: &Option<Scalar>,
) -> Result<Option<DateTime<Utc>>, MappingError> {
    match raw {
        Some(v) => time(field, v),
        None => Ok(None),
    }
}

/// The version stamp: `gmtModified` as epoch millis. Without it a record cannot be ordered
/// against the one stored, and a status change could be mistaken for a re-delivery.
fn version(gmt_modified: &Option<Scalar>) -> Result<i64, MappingError> {
    match opt_time("gmtModified", gmt_modified)? {
        Some(t) => Ok(t.timestamp_millis()),
        None => Err(err(
            "gmtModified",
            "",
            "missing: the record's modification time is its version, without it the record \
             cannot be ordered",
        )),
    }
}

/// An id 1688 sends as a number or a string. A number must be a plain integer: `1.5e17` has
/// already lost digits somewhere and is refused rather than stored wrong.
pub(crate) fn id_text<'a>(field: &str, raw: &'a Scalar) -> Result<&'a str, MappingError> {
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

/// `refundId` (the logical key the detail API is queried by), else `id`.
fn case_id(m: &OpOrderRefundModel) -> Result<PlatformCaseId, MappingError> {
    let (field, raw) = match (present_scalar(&m.refund_id), present_scalar(&m.id)) {
        (Some(r), _) => ("refundId", r),
        (None, Some(i)) => ("id", i),
        (None, None) => {
            return Err(err(
                "refundId",
                "",
                "required field is missing (and no id either): the refund's key",
            ))
        }
    };
    let text = id_text(field, raw)?;
    PlatformCaseId::parse(text).map_err(|e| err(field, text, e.to_string()))
}

fn order_id(field: &str, raw: &Scalar) -> Result<OrderId, MappingError> {
    let text = id_text(field, raw)?;
    OrderId::parse(text).map_err(|e| err(field, text, e.to_string()))
}

pub(crate) fn text(field: &str, raw: &str) -> Result<BoundedText, MappingError> {
    BoundedText::parse(raw).map_err(|e| err(field, raw, e.to_string()))
}

fn scalar_text(v: &Option<Scalar>) -> Option<&str> {
    present_scalar(v).map(|s| s.text().trim())
}

// ---------------------------------------------------------------------------------------------
// The record
// ---------------------------------------------------------------------------------------------

/// Map one `OpOrderRefundModel`, found at `path` in the payload, into the common record.
/// Errors name the field as `<path>.<field>`.
pub fn to_record(
    path: &str,
    m: &OpOrderRefundModel,
    source_api: &str,
) -> Result<PlatformRecord, MappingError> {
    record(m, source_api).map_err(|e| under(path, e))
}

fn record(m: &OpOrderRefundModel, source_api: &str) -> Result<PlatformRecord, MappingError> {
    let platform_case_id = case_id(m)?;
    let order_id = order_id(
        "orderId",
        present_scalar(&m.order_id).ok_or_else(|| missing("orderId"))?,
    )?;
    // One sub-order is the case's line; several (a refund over several lines) leave the line
    // unset, the list is kept in the attributes.
    let entries = m
        .order_entry_id_list
        .iter()
        .flatten()
        .map(|e| id_text("orderEntryIdList", e))
        .collect::<Result<Vec<&str>, _>>()?;
    let sub_order_id = match entries.as_slice() {
        [one] => {
            Some(OrderId::parse(*one).map_err(|e| err("orderEntryIdList", *one, e.to_string()))?)
        }
        _ => None,
    };

    let status = RefundStatus::parse(present_scalar(&m.status).ok_or_else(|| missing("status"))?)?;
    let state = state(status, scalar_text(&m.task_status));
    let kind = kind(
        present_scalar(&m.dispute_request),
        m.only_refund.map(|b| b.0),
        m.refund_goods.map(|b| b.0),
    )?;
    let goods = present_scalar(&m.goods_status)
        .map(GoodsStatus::parse)
        .transpose()?;
    let fulfilment = fulfilment(goods, m.goods_received.map(|b| b.0));

    // Money, all fen.
    let requested_refund = fen(
        "applyPayment",
        present_scalar(&m.apply_payment).ok_or_else(|| missing("applyPayment"))?,
    )?;
    // The most the order line can refund: kept, and a request above it is refused. It is not
    // the order total (the line may be partly refunded already).
    if let Some(max) = opt_fen("canRefundPayment", &m.can_refund_payment)? {
        if requested_refund > max {
            return Err(err(
                "applyPayment",
                requested_refund.get().to_string(),
                format!(
                    "the requested refund ({} fen) exceeds canRefundPayment, the most that \
                     can be refunded ({} fen)",
                    requested_refund.get(),
                    max.get()
                ),
            ));
        }
    }
    let refund_payment = opt_fen("refundPayment", &m.refund_payment)?;
    // 极速退款: prepaidBalance says the refund is ELIGIBLE for the platform's advance, not that
    // the advance was paid (platform-apis.md §4.4: "不代表一定垫资成功"). It is the only advance
    // figure 1688 sends, so a positive one is recorded as the advance; 0 is none.
    let platform_advance = opt_fen("prepaidBalance", &m.prepaid_balance)?.filter(|a| a.get() > 0);
    for (field, value) in [
        ("applyCarriage", &m.apply_carriage),
        ("applyExpect", &m.apply_expect),
        ("refundCarriage", &m.refund_carriage),
        (
            "refundOfficialSolutionCost",
            &m.refund_official_solution_cost,
        ),
    ] {
        opt_fen(field, value)?;
    }
    frozen_fund(&m.frozen_fund)?;

    // Return parcel and address.
    let return_shipment = present_scalar(&m.freight_bill)
        .map(|t| {
            Ok::<_, MappingError>(Shipment {
                carrier: text(
                    "buyerLogisticsName",
                    present(&m.buyer_logistics_name).unwrap_or(""),
                )?,
                tracking_number: text("freightBill", t.text().trim())?,
                shipped_at: None,
            })
        })
        .transpose()?;
    let phone = scalar_text(&m.seller_mobile)
        .map(|p| ("sellerMobile", p))
        .or_else(|| scalar_text(&m.seller_tel).map(|p| ("sellerTel", p)));
    let return_address = if present(&m.seller_receive_address).is_some()
        || present(&m.seller_real_name).is_some()
        || phone.is_some()
    {
        Some(Address {
            name: text("sellerRealName", present(&m.seller_real_name).unwrap_or(""))?,
            phone: match phone {
                Some((field, p)) => text(field, p)?,
                None => BoundedText::default(),
            },
            detail: text(
                "sellerReceiveAddress",
                present(&m.seller_receive_address).unwrap_or(""),
            )?,
            ..Address::default()
        })
    } else {
        None
    };

    let reason = match (present(&m.apply_reason), present(&m.apply_sub_reason)) {
        (Some(r), Some(sub)) => format!("{r} — {sub}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => String::new(),
    };

    Ok(PlatformRecord {
        platform_case_id,
        order_id: Some(order_id),
        sub_order_id,
        kind,
        state,
        fulfilment,
        requested_refund,
        // Not in the model: canRefundPayment is the refundable maximum, not the order total.
        order_total: None,
        refunded: if status.refund_paid() {
            refund_payment
        } else {
            None
        },
        reason: text("applyReason", &reason)?,
        buyer: text("buyerLoginId", present(&m.buyer_login_id).unwrap_or(""))?,
        return_address,
        return_shipment,
        reship_shipment: None,
        status: PlatformStatus {
            code: status.code().to_string(),
            text: status.text().to_string(),
        },
        version: version(&m.gmt_modified)?,
        // 该退款单超时完成的时间期限: the platform's own deadline for the party now due; for a
        // request awaiting the merchant it replaces AL-02's computed one. What the platform
        // then does is `timeOutOperateType` (kept raw).
        platform_deadline: opt_time("gmtTimeOut", &m.gmt_time_out)?,
        attributes: attributes(m, source_api, &entries)?,
        opened_at: opt_time("gmtApply", &m.gmt_apply)?,
        // The refund model does not carry the order's state.
        order_state: None,
        platform_advance,
        task: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

/// Raw fields kept for the record, under their 1688 names in snake_case (`timeOutOperateType`
/// → `time_out_operate_type`), bounded like any text. Empty values are left out.
struct Attributes {
    out: BTreeMap<String, String>,
}

impl Attributes {
    fn new() -> Self {
        Attributes {
            out: BTreeMap::new(),
        }
    }

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

    fn flag(&mut self, key: &str, value: Option<super::model::AlBool>) -> Result<(), MappingError> {
        self.value(key, value.map(|b| if b.0 { "true" } else { "false" }))
    }
}

/// The latest entry of the operation log: the one with the latest `gmtCreate`; entries
/// without a time rank last, and among equals the first listed wins (the platform lists the
/// log newest first in its examples).
fn latest_operation(
    ops: &[OpOrderRefundOperationModel],
) -> Result<Option<&OpOrderRefundOperationModel>, MappingError> {
    let mut best: Option<(Option<DateTime<Utc>>, &OpOrderRefundOperationModel)> = None;
    for (i, op) in ops.iter().enumerate() {
        let at = opt_time(
            &format!("refundOperationList[{i}].gmtCreate"),
            &op.gmt_create,
        )?;
        match &best {
            Some((best_at, _)) if at <= *best_at => {}
            _ => best = Some((at, op)),
        }
    }
    Ok(best.map(|(_, op)| op))
}

fn attributes(
    m: &OpOrderRefundModel,
    source_api: &str,
    entries: &[&str],
) -> Result<BTreeMap<String, String>, MappingError> {
    // Times kept raw are validated like the others.
    for (field, value) in [
        ("gmtCreate", &m.gmt_create),
        ("gmtCompleted", &m.gmt_completed),
        ("gmtFreezed", &m.gmt_freezed),
    ] {
        opt_time(field, value)?;
    }
    let mut a = Attributes::new();
    a.value("source_api", Some(source_api))?;
    a.scalar("id", &m.id)?;
    a.scalar("refund_id", &m.refund_id)?;
    a.value("order_entry_id_list", Some(&entries.join(",")))?;
    for (entry, count) in m.order_entry_count_map.iter().flatten() {
        a.value(&format!("order_entry_count.{entry}"), Some(count.text()))?;
    }
    // Kind and goods.
    a.scalar("dispute_request", &m.dispute_request)?;
    // 售中 / 售后: codes not documented [U], kept raw.
    a.scalar("dispute_type", &m.dispute_type)?;
    a.flag("only_refund", m.only_refund)?;
    a.flag("refund_goods", m.refund_goods)?;
    a.flag("new_refund_return", m.new_refund_return)?;
    a.scalar("goods_status", &m.goods_status)?;
    a.flag("goods_received", m.goods_received)?;
    a.flag("buyer_send_goods", m.buyer_send_goods)?;
    // Money, fen.
    a.scalar("apply_carriage", &m.apply_carriage)?;
    a.scalar("apply_expect", &m.apply_expect)?;
    a.scalar("refund_payment", &m.refund_payment)?;
    a.scalar("refund_carriage", &m.refund_carriage)?;
    a.scalar("can_refund_payment", &m.can_refund_payment)?;
    a.scalar("frozen_fund", &m.frozen_fund)?;
    a.scalar("prepaid_balance", &m.prepaid_balance)?;
    a.scalar(
        "refund_official_solution_cost",
        &m.refund_official_solution_cost,
    )?;
    // Reasons.
    a.scalar("apply_reason_id", &m.apply_reason_id)?;
    a.scalar("apply_sub_reason_id", &m.apply_sub_reason_id)?;
    a.text("reject_reason", &m.reject_reason)?;
    a.scalar("reject_reason_id", &m.reject_reason_id)?;
    a.scalar("reject_times", &m.reject_times)?;
    // Deadlines, freezing and the platform's staff.
    a.scalar("gmt_time_out", &m.gmt_time_out)?;
    // What the platform does at gmtTimeOut; values not documented [U], never interpreted.
    a.scalar("time_out_operate_type", &m.time_out_operate_type)?;
    a.flag("time_out_freeze", m.time_out_freeze)?;
    a.scalar("gmt_freezed", &m.gmt_freezed)?;
    a.flag("aftersale_agree_timeout", m.aftersale_agree_timeout)?;
    a.flag("aftersale_auto_disburse", m.aftersale_auto_disburse)?;
    a.flag("seller_delay_disburse", m.seller_delay_disburse)?;
    a.scalar("task_status", &m.task_status)?;
    a.flag("crm_modify_refund", m.crm_modify_refund)?;
    a.flag("insufficient_account", m.insufficient_account)?;
    a.flag("insufficient_bail", m.insufficient_bail)?;
    a.scalar("instant_refund_type", &m.instant_refund_type)?;
    a.scalar("disburse_channel", &m.disburse_channel)?;
    a.flag("support_new_steppay", m.support_new_steppay)?;
    // Times.
    a.scalar("gmt_apply", &m.gmt_apply)?;
    a.scalar("gmt_create", &m.gmt_create)?;
    a.scalar("gmt_modified", &m.gmt_modified)?;
    a.scalar("gmt_completed", &m.gmt_completed)?;
    // Parties and goods.
    a.scalar("buyer_member_id", &m.buyer_member_id)?;
    a.scalar("buyer_user_id", &m.buyer_user_id)?;
    a.scalar("seller_member_id", &m.seller_member_id)?;
    a.scalar("seller_user_id", &m.seller_user_id)?;
    a.text("seller_login_id", &m.seller_login_id)?;
    a.scalar("alipay_payment_id", &m.alipay_payment_id)?;
    a.text("product_name", &m.product_name)?;
    a.scalar("trade_type_str", &m.trade_type_str)?;
    // The return address takes the mobile; the landline is kept.
    a.scalar("seller_tel", &m.seller_tel)?;
    a.text("buyer_logistics_name", &m.buyer_logistics_name)?;
    // The operation log: its length and its latest entry. The history itself is this
    // service's events.
    if let Some(ops) = &m.refund_operation_list {
        a.value("refund_operation_count", Some(&ops.len().to_string()))?;
        if let Some(op) = latest_operation(ops)? {
            let p = "last_operation";
            a.scalar(&format!("{p}.id"), &op.id)?;
            a.scalar(&format!("{p}.operate_type_int"), &op.operate_type_int)?;
            a.scalar(
                &format!("{p}.before_operate_status"),
                &op.before_operate_status,
            )?;
            a.scalar(
                &format!("{p}.after_operate_status"),
                &op.after_operate_status,
            )?;
            a.text(&format!("{p}.operate_remark"), &op.operate_remark)?;
            a.text(&format!("{p}.discription"), &op.discription)?;
            a.scalar(&format!("{p}.operator_role_id"), &op.operator_role_id)?;
            a.text(&format!("{p}.operator_login_id"), &op.operator_login_id)?;
            a.scalar(&format!("{p}.gmt_create"), &op.gmt_create)?;
        }
    }
    Ok(a.out)
}
