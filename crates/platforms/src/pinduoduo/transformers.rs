//! Pure functions from the native Pinduoduo records ([`RefundListItem`],
//! [`RefundInformation`]) to the common [`PlatformRecord`].
//!
//! Every enumerated PDD value is matched explicitly, once, in a `parse` function whose only
//! fallback is an error naming the field and the raw value. Value parsers name the bare field
//! (`after_sales_status`); the record functions put the record's path in front of it
//! (`refund_list[0].after_sales_status`, `refund_information_get_response.after_sales_status`).
//! The mappings from the parsed enums to common terms are exhaustive matches without wildcard
//! arms, so a new value has to be decided here before it compiles.
//!
//! # Units
//!
//! - List amounts are yuan strings (`"19.90"`, platform-apis.md §2.4 [C]). A JSON number in a
//!   list amount is refused: the list documents strings only, and an integer there is what a
//!   detail's fen amount looks like, so it is more likely a mislabelled payload than yuan.
//! - Detail amounts are integers (the generated SDKs type them `int`/`long`). Their unit is
//!   not stated in the docs ([U], platform-apis.md §2.4); they are read as **fen**, assumed
//!   from the refund message example (`refund_fee: 1990` = ¥19.90, §2.5). A numeric string
//!   (`"1990"`) is accepted (one SDK types `order_amount` as `string | number`); anything with
//!   a decimal point (`"19.90"`) is refused as a yuan amount in a fen field.
//!
//! # Times
//!
//! PDD times come in three forms, all accepted wherever a time is read ([`time`]):
//! - unix **seconds**, as a number or a numeric string: the list's `created_time` /
//!   `updated_time` (`"1551612204"` on the official page), the request windows of §2.1;
//! - unix **milliseconds**: the refund message's `modified` (`1625637425016`), and the
//!   detail's LONG times on the official page (`expire_time`, `recreated_at`:
//!   `1638792640659`). Told apart from seconds by size: below 10^11 is seconds (10^11 s is the
//!   year 5138), from 10^11 up is milliseconds (10^11 ms is 1973);
//! - `yyyy-MM-dd HH:mm:ss`, Beijing time, which some gateways and ERPs write.
//!
//! `0` and `""` are read as absent (no real PDD time is 1970-01-01; a gateway writes them for
//! an unset LONG) rather than refusing the record.

use super::model::{
    ExchangeShippingDetail, RefundInformation, RefundListItem, Scalar, DETAIL, LIST_ITEM,
};
use super::PLATFORM;
use crate::MappingError;
use aftersales_domain::time::parse_shanghai;
use aftersales_domain::{
    BoundedText, CaseKind, CaseState, Fen, Fulfilment, OrderId, PlatformCaseId, PlatformRecord,
    PlatformStatus, Shipment,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub(crate) fn err(field: &str, raw: impl Into<String>, problem: impl Into<String>) -> MappingError {
    MappingError::new(PLATFORM, field, raw, problem)
}

pub(crate) fn missing(field: &str) -> MappingError {
    err(field, "", "required field is missing")
}

pub(crate) use crate::json::{present, present_scalar, under};

/// The text of a code sent as a number or a string (`2`, `"2"`).
fn code_text(raw: &Scalar) -> &str {
    raw.text().trim()
}

// ---------------------------------------------------------------------------------------------
// after_sales_status
// ---------------------------------------------------------------------------------------------

/// `after_sales_status` (售后状态, platform-apis.md §2.2): all 26 codes the platform
/// documents. 1, 19, 20, 23, 26 and 28–30 exist in no list and are refused like any other
/// unknown value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSalesStatus {
    /// 0 无售后
    NoAfterSales,
    /// 2 买家申请退款，待商家处理
    RefundRequested,
    /// 3 退货退款，待商家处理
    ReturnRefundAwaitingMerchant,
    /// 4 商家同意退款，退款中
    MerchantAgreedRefunding,
    /// 5 平台同意退款，退款中
    PlatformAgreedRefunding,
    /// 6 驳回退款，待买家处理
    RejectedAwaitingBuyer,
    /// 7 已同意退货退款，待用户发货
    ReturnAgreedAwaitingBuyerShipment,
    /// 8 平台处理中
    PlatformHandling,
    /// 9 平台拒绝退款，退款关闭
    PlatformRefusedClosed,
    /// 10 退款成功
    RefundSucceeded,
    /// 11 买家撤销
    BuyerWithdrew,
    /// 12 买家逾期未处理，退款失败
    BuyerOverdueRefundFailed,
    /// 13 买家逾期，超过有效期
    BuyerOverdueExpired,
    /// 14 换货补寄待商家处理
    ExchangeReshipAwaitingMerchant,
    /// 15 换货补寄待用户处理
    ExchangeReshipAwaitingBuyer,
    /// 16 换货补寄成功
    ExchangeReshipSucceeded,
    /// 17 换货补寄失败
    ExchangeReshipFailed,
    /// 18 换货补寄待用户确认完成
    ExchangeReshipAwaitingBuyerConfirmation,
    /// 21 待商家同意维修
    RepairAwaitingMerchant,
    /// 22 待用户确认发货
    AwaitingBuyerShipmentConfirmation,
    /// 24 维修关闭
    RepairClosed,
    /// 25 维修成功
    RepairSucceeded,
    /// 27 待用户确认收货
    AwaitingBuyerReceiptConfirmation,
    /// 31 已同意拒收退款，待用户拒收
    RefusalRefundAgreedAwaitingRefusal,
    /// 32 补寄待商家发货
    ReshipAwaitingMerchantShipment,
    /// 33 待商家召回. [S]: only in the newer SDKs and the current official page; older
    /// lists stop at 32.
    AwaitingMerchantRecall,
}

impl AfterSalesStatus {
    pub const ALL: [AfterSalesStatus; 26] = [
        AfterSalesStatus::NoAfterSales,
        AfterSalesStatus::RefundRequested,
        AfterSalesStatus::ReturnRefundAwaitingMerchant,
        AfterSalesStatus::MerchantAgreedRefunding,
        AfterSalesStatus::PlatformAgreedRefunding,
        AfterSalesStatus::RejectedAwaitingBuyer,
        AfterSalesStatus::ReturnAgreedAwaitingBuyerShipment,
        AfterSalesStatus::PlatformHandling,
        AfterSalesStatus::PlatformRefusedClosed,
        AfterSalesStatus::RefundSucceeded,
        AfterSalesStatus::BuyerWithdrew,
        AfterSalesStatus::BuyerOverdueRefundFailed,
        AfterSalesStatus::BuyerOverdueExpired,
        AfterSalesStatus::ExchangeReshipAwaitingMerchant,
        AfterSalesStatus::ExchangeReshipAwaitingBuyer,
        AfterSalesStatus::ExchangeReshipSucceeded,
        AfterSalesStatus::ExchangeReshipFailed,
        AfterSalesStatus::ExchangeReshipAwaitingBuyerConfirmation,
        AfterSalesStatus::RepairAwaitingMerchant,
        AfterSalesStatus::AwaitingBuyerShipmentConfirmation,
        AfterSalesStatus::RepairClosed,
        AfterSalesStatus::RepairSucceeded,
        AfterSalesStatus::AwaitingBuyerReceiptConfirmation,
        AfterSalesStatus::RefusalRefundAgreedAwaitingRefusal,
        AfterSalesStatus::ReshipAwaitingMerchantShipment,
        AfterSalesStatus::AwaitingMerchantRecall,
    ];

    /// From the code, sent as a number or a numeric string.
    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        use AfterSalesStatus as S;
        Ok(match code_text(raw) {
            "0" => S::NoAfterSales,
            "2" => S::RefundRequested,
            "3" => S::ReturnRefundAwaitingMerchant,
            "4" => S::MerchantAgreedRefunding,
            "5" => S::PlatformAgreedRefunding,
            "6" => S::RejectedAwaitingBuyer,
            "7" => S::ReturnAgreedAwaitingBuyerShipment,
            "8" => S::PlatformHandling,
            "9" => S::PlatformRefusedClosed,
            "10" => S::RefundSucceeded,
            "11" => S::BuyerWithdrew,
            "12" => S::BuyerOverdueRefundFailed,
            "13" => S::BuyerOverdueExpired,
            "14" => S::ExchangeReshipAwaitingMerchant,
            "15" => S::ExchangeReshipAwaitingBuyer,
            "16" => S::ExchangeReshipSucceeded,
            "17" => S::ExchangeReshipFailed,
            "18" => S::ExchangeReshipAwaitingBuyerConfirmation,
            "21" => S::RepairAwaitingMerchant,
            "22" => S::AwaitingBuyerShipmentConfirmation,
            "24" => S::RepairClosed,
            "25" => S::RepairSucceeded,
            "27" => S::AwaitingBuyerReceiptConfirmation,
            "31" => S::RefusalRefundAgreedAwaitingRefusal,
            "32" => S::ReshipAwaitingMerchantShipment,
            "33" => S::AwaitingMerchantRecall,
            other => {
                return Err(err(
                    "after_sales_status",
                    other,
                    "unknown Pinduoduo after-sales status (documented: 0, 2-18, 21, 22, 24, 25, \
                     27, 31-33)",
                ))
            }
        })
    }

    pub fn code(self) -> u8 {
        use AfterSalesStatus as S;
        match self {
            S::NoAfterSales => 0,
            S::RefundRequested => 2,
            S::ReturnRefundAwaitingMerchant => 3,
            S::MerchantAgreedRefunding => 4,
            S::PlatformAgreedRefunding => 5,
            S::RejectedAwaitingBuyer => 6,
            S::ReturnAgreedAwaitingBuyerShipment => 7,
            S::PlatformHandling => 8,
            S::PlatformRefusedClosed => 9,
            S::RefundSucceeded => 10,
            S::BuyerWithdrew => 11,
            S::BuyerOverdueRefundFailed => 12,
            S::BuyerOverdueExpired => 13,
            S::ExchangeReshipAwaitingMerchant => 14,
            S::ExchangeReshipAwaitingBuyer => 15,
            S::ExchangeReshipSucceeded => 16,
            S::ExchangeReshipFailed => 17,
            S::ExchangeReshipAwaitingBuyerConfirmation => 18,
            S::RepairAwaitingMerchant => 21,
            S::AwaitingBuyerShipmentConfirmation => 22,
            S::RepairClosed => 24,
            S::RepairSucceeded => 25,
            S::AwaitingBuyerReceiptConfirmation => 27,
            S::RefusalRefundAgreedAwaitingRefusal => 31,
            S::ReshipAwaitingMerchantShipment => 32,
            S::AwaitingMerchantRecall => 33,
        }
    }

    /// The platform's own words for the code (the official API pages), shown beside it.
    pub fn text(self) -> &'static str {
        use AfterSalesStatus as S;
        match self {
            S::NoAfterSales => "无售后",
            S::RefundRequested => "买家申请退款，待商家处理",
            S::ReturnRefundAwaitingMerchant => "退货退款，待商家处理",
            S::MerchantAgreedRefunding => "商家同意退款，退款中",
            S::PlatformAgreedRefunding => "平台同意退款，退款中",
            S::RejectedAwaitingBuyer => "驳回退款，待买家处理",
            S::ReturnAgreedAwaitingBuyerShipment => "已同意退货退款，待用户发货",
            S::PlatformHandling => "平台处理中",
            S::PlatformRefusedClosed => "平台拒绝退款，退款关闭",
            S::RefundSucceeded => "退款成功",
            S::BuyerWithdrew => "买家撤销",
            S::BuyerOverdueRefundFailed => "买家逾期未处理，退款失败",
            S::BuyerOverdueExpired => "买家逾期，超过有效期",
            S::ExchangeReshipAwaitingMerchant => "换货补寄待商家处理",
            S::ExchangeReshipAwaitingBuyer => "换货补寄待用户处理",
            S::ExchangeReshipSucceeded => "换货补寄成功",
            S::ExchangeReshipFailed => "换货补寄失败",
            S::ExchangeReshipAwaitingBuyerConfirmation => "换货补寄待用户确认完成",
            S::RepairAwaitingMerchant => "待商家同意维修",
            S::AwaitingBuyerShipmentConfirmation => "待用户确认发货",
            S::RepairClosed => "维修关闭",
            S::RepairSucceeded => "维修成功",
            S::AwaitingBuyerReceiptConfirmation => "待用户确认收货",
            S::RefusalRefundAgreedAwaitingRefusal => "已同意拒收退款，待用户拒收",
            S::ReshipAwaitingMerchantShipment => "补寄待商家发货",
            S::AwaitingMerchantRecall => "待商家召回",
        }
    }

    /// The normalised state. The kind is needed for one code only: 16 (换货补寄成功) ends an
    /// exchange as exchanged and a reship as reshipped.
    ///
    /// Errors: 0 (no after-sales) is not a case, and 16 on a kind that is neither an
    /// exchange nor a reship contradicts itself.
    pub fn state(self, kind: CaseKind) -> Result<CaseState, MappingError> {
        use AfterSalesStatus as S;
        use CaseState as C;
        Ok(match self {
            S::NoAfterSales => {
                return Err(err(
                    "after_sales_status",
                    "0",
                    "0 (无售后) says the order has no after-sales: there is no case to open or \
                     update",
                ))
            }
            S::RefundRequested
            | S::ReturnRefundAwaitingMerchant
            | S::ExchangeReshipAwaitingMerchant
            | S::RepairAwaitingMerchant => C::AwaitingMerchant,
            // Agreed, but the money has not reached the buyer yet (退款中): PD-03's 1–3
            // working days of refund processing run here; 10 (退款成功) resolves it. Not
            // Refunded: a refunding case that fails must still be able to move.
            S::MerchantAgreedRefunding | S::PlatformAgreedRefunding => C::AwaitingMerchantExecution,
            S::RejectedAwaitingBuyer
            | S::ReturnAgreedAwaitingBuyerShipment
            | S::ExchangeReshipAwaitingBuyer
            | S::ExchangeReshipAwaitingBuyerConfirmation
            | S::AwaitingBuyerShipmentConfirmation
            | S::AwaitingBuyerReceiptConfirmation => C::AwaitingBuyer,
            // The merchant agreed to a refund on refused delivery; the buyer must now refuse
            // the parcel (TB-06's flow on PDD). The buyer acts next.
            S::RefusalRefundAgreedAwaitingRefusal => C::AwaitingBuyer,
            S::PlatformHandling => C::PlatformIntervening,
            // The platform refused the refund: rejected for good.
            S::PlatformRefusedClosed => C::Closed,
            S::RefundSucceeded => C::Refunded,
            S::BuyerWithdrew => C::WithdrawnByBuyer,
            // The buyer let its own deadline pass and the platform ended the request without
            // a resolution.
            S::BuyerOverdueRefundFailed | S::BuyerOverdueExpired => C::Expired,
            S::ExchangeReshipSucceeded => match kind {
                CaseKind::Exchange => C::Exchanged,
                CaseKind::Reship => C::Reshipped,
                other => {
                    return Err(err(
                        "after_sales_type",
                        other.as_str(),
                        "contradicts after_sales_status 16 (换货补寄成功), which only ends an \
                         exchange or a reship",
                    ))
                }
            },
            // The exchange or reship failed: closed without the goods going out.
            S::ExchangeReshipFailed => C::Closed,
            S::RepairClosed => C::Closed,
            S::RepairSucceeded => C::Repaired,
            // The merchant agreed to reship and still has to ship it (PD-06).
            S::ReshipAwaitingMerchantShipment => C::AwaitingMerchantExecution,
            // The merchant must recall the parcel from the carrier (PD-E6's end: a logistics
            // exception refunded, the merchant recalls the parcel): merchant work remains.
            S::AwaitingMerchantRecall => C::AwaitingMerchantExecution,
        })
    }

    /// Whether the status says the buyer has been paid back.
    fn refund_paid(self) -> bool {
        use AfterSalesStatus as S;
        match self {
            S::RefundSucceeded => true,
            S::NoAfterSales
            | S::RefundRequested
            | S::ReturnRefundAwaitingMerchant
            | S::MerchantAgreedRefunding
            | S::PlatformAgreedRefunding
            | S::RejectedAwaitingBuyer
            | S::ReturnAgreedAwaitingBuyerShipment
            | S::PlatformHandling
            | S::PlatformRefusedClosed
            | S::BuyerWithdrew
            | S::BuyerOverdueRefundFailed
            | S::BuyerOverdueExpired
            | S::ExchangeReshipAwaitingMerchant
            | S::ExchangeReshipAwaitingBuyer
            | S::ExchangeReshipSucceeded
            | S::ExchangeReshipFailed
            | S::ExchangeReshipAwaitingBuyerConfirmation
            | S::RepairAwaitingMerchant
            | S::AwaitingBuyerShipmentConfirmation
            | S::RepairClosed
            | S::RepairSucceeded
            | S::AwaitingBuyerReceiptConfirmation
            | S::RefusalRefundAgreedAwaitingRefusal
            | S::ReshipAwaitingMerchantShipment
            | S::AwaitingMerchantRecall => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// after_sales_type: two encodings
// ---------------------------------------------------------------------------------------------

/// `after_sales_type` in the **query encoding** of `pdd.refund.list.increment.get`
/// (platform-apis.md §2.3 [C]), used to read **list records**.
///
/// Which encoding the list *response* uses is not documented ("售后类型" only, [U]). It is
/// read with the query encoding, as qihangerp's open-source ERP maps list items (2 = 仅退款 …);
/// verify against live data. The policy file's header says the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAfterSalesType {
    /// 1 全部: a query filter, not a record's type.
    All,
    /// 2 仅退款
    RefundOnly,
    /// 3 退货退款
    ReturnAndRefund,
    /// 4 换货
    Exchange,
    /// 5 缺货补寄
    OutOfStockReship,
    /// 6 维修 (newer SDKs only)
    Repair,
}

impl ListAfterSalesType {
    pub const ALL: [ListAfterSalesType; 6] = [
        ListAfterSalesType::All,
        ListAfterSalesType::RefundOnly,
        ListAfterSalesType::ReturnAndRefund,
        ListAfterSalesType::Exchange,
        ListAfterSalesType::OutOfStockReship,
        ListAfterSalesType::Repair,
    ];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_text(raw) {
            "1" => ListAfterSalesType::All,
            "2" => ListAfterSalesType::RefundOnly,
            "3" => ListAfterSalesType::ReturnAndRefund,
            "4" => ListAfterSalesType::Exchange,
            "5" => ListAfterSalesType::OutOfStockReship,
            "6" => ListAfterSalesType::Repair,
            other => {
                return Err(err(
                    "after_sales_type",
                    other,
                    "unknown after-sales type for a list record (query encoding: 2 仅退款, \
                     3 退货退款, 4 换货, 5 缺货补寄, 6 维修)",
                ))
            }
        })
    }

    pub fn code(self) -> u8 {
        match self {
            ListAfterSalesType::All => 1,
            ListAfterSalesType::RefundOnly => 2,
            ListAfterSalesType::ReturnAndRefund => 3,
            ListAfterSalesType::Exchange => 4,
            ListAfterSalesType::OutOfStockReship => 5,
            ListAfterSalesType::Repair => 6,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            ListAfterSalesType::All => "全部",
            ListAfterSalesType::RefundOnly => "仅退款",
            ListAfterSalesType::ReturnAndRefund => "退货退款",
            ListAfterSalesType::Exchange => "换货",
            ListAfterSalesType::OutOfStockReship => "缺货补寄",
            ListAfterSalesType::Repair => "维修",
        }
    }

    /// The case kind; 1 (全部) is refused, it only exists as a query filter.
    pub fn kind(self) -> Result<CaseKind, MappingError> {
        Ok(match self {
            ListAfterSalesType::All => {
                return Err(err(
                    "after_sales_type",
                    "1",
                    "1 (全部) is the list query's 'all types' filter, not a record's type",
                ))
            }
            ListAfterSalesType::RefundOnly => CaseKind::RefundOnly,
            ListAfterSalesType::ReturnAndRefund => CaseKind::ReturnAndRefund,
            ListAfterSalesType::Exchange => CaseKind::Exchange,
            ListAfterSalesType::OutOfStockReship => CaseKind::Reship,
            ListAfterSalesType::Repair => CaseKind::Repair,
        })
    }
}

/// `after_sales_type` in the encoding of `pdd.refund.information.get`'s answer
/// (platform-apis.md §2.3 [C]), used to read **detail records**.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailAfterSalesType {
    /// 1 仅退款
    RefundOnly,
    /// 2 退货退款
    ReturnAndRefund,
    /// 3 换货
    Exchange,
    /// 4 补寄
    Reship,
    /// 5 维修
    Repair,
}

impl DetailAfterSalesType {
    pub const ALL: [DetailAfterSalesType; 5] = [
        DetailAfterSalesType::RefundOnly,
        DetailAfterSalesType::ReturnAndRefund,
        DetailAfterSalesType::Exchange,
        DetailAfterSalesType::Reship,
        DetailAfterSalesType::Repair,
    ];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_text(raw) {
            "1" => DetailAfterSalesType::RefundOnly,
            "2" => DetailAfterSalesType::ReturnAndRefund,
            "3" => DetailAfterSalesType::Exchange,
            "4" => DetailAfterSalesType::Reship,
            "5" => DetailAfterSalesType::Repair,
            other => {
                return Err(err(
                    "after_sales_type",
                    other,
                    "unknown after-sales type for a detail record (1 仅退款, 2 退货退款, 3 换货, \
                     4 补寄, 5 维修)",
                ))
            }
        })
    }

    pub fn code(self) -> u8 {
        match self {
            DetailAfterSalesType::RefundOnly => 1,
            DetailAfterSalesType::ReturnAndRefund => 2,
            DetailAfterSalesType::Exchange => 3,
            DetailAfterSalesType::Reship => 4,
            DetailAfterSalesType::Repair => 5,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            DetailAfterSalesType::RefundOnly => "仅退款",
            DetailAfterSalesType::ReturnAndRefund => "退货退款",
            DetailAfterSalesType::Exchange => "换货",
            DetailAfterSalesType::Reship => "补寄",
            DetailAfterSalesType::Repair => "维修",
        }
    }

    pub fn kind(self) -> CaseKind {
        match self {
            DetailAfterSalesType::RefundOnly => CaseKind::RefundOnly,
            DetailAfterSalesType::ReturnAndRefund => CaseKind::ReturnAndRefund,
            DetailAfterSalesType::Exchange => CaseKind::Exchange,
            DetailAfterSalesType::Reship => CaseKind::Reship,
            DetailAfterSalesType::Repair => CaseKind::Repair,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shipping, express refund and the small flags
// ---------------------------------------------------------------------------------------------

/// `shipping_status` (detail only): 订单发货状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShippingStatus {
    /// 0 未发货
    NotShipped,
    /// 1 已发货（包含：已发货，已揽收）
    Shipped,
}

impl ShippingStatus {
    pub const ALL: [ShippingStatus; 2] = [ShippingStatus::NotShipped, ShippingStatus::Shipped];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_text(raw) {
            "0" => ShippingStatus::NotShipped,
            "1" => ShippingStatus::Shipped,
            other => {
                return Err(err(
                    "shipping_status",
                    other,
                    "unknown shipping status (expected 0 未发货 or 1 已发货)",
                ))
            }
        })
    }
}

/// `user_shipping_status`: what the buyer ticked when applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserShippingStatus {
    /// 0 未勾选
    NotChosen,
    /// 1 消费者选择的收货状态为未收到货
    NotReceived,
    /// 2 消费者选择的收货状态为已收到货
    Received,
}

impl UserShippingStatus {
    pub const ALL: [UserShippingStatus; 3] = [
        UserShippingStatus::NotChosen,
        UserShippingStatus::NotReceived,
        UserShippingStatus::Received,
    ];

    pub fn parse(raw: &Scalar) -> Result<Self, MappingError> {
        Ok(match code_text(raw) {
            "0" => UserShippingStatus::NotChosen,
            "1" => UserShippingStatus::NotReceived,
            "2" => UserShippingStatus::Received,
            other => {
                return Err(err(
                    "user_shipping_status",
                    other,
                    "unknown buyer receipt choice (expected 0 未勾选, 1 未收到货, 2 已收到货)",
                ))
            }
        })
    }
}

/// Where the goods were. The buyer's own "received" wins (like Taobao's good_status); then
/// the order's shipping status. Shipped (which includes merely collected by the carrier) is
/// read as not yet received, unless the buyer said received or the request's kind only
/// exists with the goods in the buyer's hands (a return, an exchange or a repair sends them
/// back). Where nothing says, `Unknown`, never a guess.
pub fn fulfilment(
    shipping: Option<ShippingStatus>,
    user: Option<UserShippingStatus>,
    kind: CaseKind,
) -> Fulfilment {
    match user {
        Some(UserShippingStatus::Received) => return Fulfilment::Received,
        Some(UserShippingStatus::NotReceived | UserShippingStatus::NotChosen) | None => {}
    }
    match shipping {
        Some(ShippingStatus::NotShipped) => Fulfilment::NotShipped,
        Some(ShippingStatus::Shipped) => match user {
            Some(UserShippingStatus::NotReceived) => Fulfilment::ShippedNotReceived,
            Some(UserShippingStatus::NotChosen | UserShippingStatus::Received) | None => {
                if kind.needs_return() {
                    Fulfilment::Received
                } else {
                    Fulfilment::ShippedNotReceived
                }
            }
        },
        // The list carries no shipping status; "not received" alone does not say whether the
        // parcel left.
        None => Fulfilment::Unknown,
    }
}

/// `speed_refund_status` (list only): 极速退款状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedRefundStatus {
    /// "1" 有极速退款资格
    Eligible,
    /// "2" 极速退款失败
    Failed,
    /// "3" 极速退款成功: the platform refunded the buyer first.
    Succeeded,
}

impl SpeedRefundStatus {
    pub const ALL: [SpeedRefundStatus; 3] = [
        SpeedRefundStatus::Eligible,
        SpeedRefundStatus::Failed,
        SpeedRefundStatus::Succeeded,
    ];

    /// `None` for every other value: the platform documents them all as 非极速退款 (not an
    /// express refund), so no value is unknown here.
    pub fn parse(raw: &Scalar) -> Option<Self> {
        match code_text(raw) {
            "1" => Some(SpeedRefundStatus::Eligible),
            "2" => Some(SpeedRefundStatus::Failed),
            "3" => Some(SpeedRefundStatus::Succeeded),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            SpeedRefundStatus::Eligible => "1",
            SpeedRefundStatus::Failed => "2",
            SpeedRefundStatus::Succeeded => "3",
        }
    }

    /// 极速退款 succeeded: the platform paid the buyer before the merchant (TB-11's advance,
    /// on PDD).
    pub fn advanced(self) -> bool {
        match self {
            SpeedRefundStatus::Succeeded => true,
            SpeedRefundStatus::Eligible | SpeedRefundStatus::Failed => false,
        }
    }
}

/// A documented enumeration kept raw in the attributes: validated against its codes.
fn enumerated(
    field: &str,
    raw: &Scalar,
    codes: &[&str],
    meaning: &str,
) -> Result<(), MappingError> {
    let t = code_text(raw);
    if codes.contains(&t) {
        Ok(())
    } else {
        Err(err(field, t, format!("unknown value (expected {meaning})")))
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars: money, times, ids, text
// ---------------------------------------------------------------------------------------------

/// A list amount: a yuan string. See the module doc for why a JSON number is refused.
pub(crate) fn yuan(field: &str, raw: &Scalar) -> Result<Fen, MappingError> {
    match raw {
        Scalar::Str(s) => Fen::parse_yuan(s).map_err(|e| err(field, s.as_str(), e.to_string())),
        Scalar::Num(n) => Err(err(
            field,
            n.as_str(),
            "a list record's amounts are yuan strings (\"19.90\"); a JSON number is refused \
             because the detail API's integers are fen and the unit cannot be told",
        )),
    }
}

/// A detail (or message) amount: an integer, read as fen. See the module doc.
pub(crate) fn fen(field: &str, raw: &Scalar) -> Result<Fen, MappingError> {
    let t = raw.text().trim();
    if t.contains('.') {
        return Err(err(
            field,
            t,
            "amounts of pdd.refund.information.get and of refund messages are integer fen \
             (1990 = ¥19.90); a yuan amount is refused",
        ));
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) || t.is_empty() {
        return Err(err(field, t, "not a non-negative integer amount in fen"));
    }
    let n: i64 = t.parse().map_err(|_| err(field, t, "amount too large"))?;
    Fen::new(n).map_err(|e| err(field, t, e.to_string()))
}

fn opt_amount(
    field: &str,
    raw: &Option<Scalar>,
    read: fn(&str, &Scalar) -> Result<Fen, MappingError>,
) -> Result<Option<Fen>, MappingError> {
    present_scalar(raw).map(|v| read(field, v)).transpose()
}

/// Unix seconds below 10^11, milliseconds from there (see the module doc).
const MILLIS_FROM: i64 = 100_000_000_000;

/// A PDD time in any of its forms (module doc); `None` for `0` and `""`.
pub(crate) fn time(field: &str, raw: &Scalar) -> Result<Option<DateTime<Utc>>, MappingError> {
    let t = raw.text().trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let out_of_range = || err(field, t, "not a unix time in seconds or milliseconds");
        let n: i64 = t.parse().map_err(|_| out_of_range())?;
        if n == 0 {
            return Ok(None);
        }
        let millis = if n < MILLIS_FROM {
            n.checked_mul(1000).ok_or_else(out_of_range)?
        } else {
            n
        };
        return DateTime::from_timestamp_millis(millis)
            .map(Some)
            .ok_or_else(out_of_range);
    }
    match raw {
        Scalar::Str(s) => parse_shanghai(s).map(Some).map_err(|_| {
            err(
                field,
                s.as_str(),
                "not a time: expected unix seconds, unix milliseconds or yyyy-MM-dd HH:mm:ss \
                 (Beijing time)",
            )
        }),
        Scalar::Num(n) => Err(err(
            field,
            n.as_str(),
            "a numeric time must be a whole number of unix seconds or milliseconds",
        )),
    }
}

fn opt_time(field: &str, raw: &Option<Scalar>) -> Result<Option<DateTime<Utc>>, MappingError> {
    match raw {
        Some(v) => time(field, v),
        None => Ok(None),
    }
}

/// The version stamp: `updated_time` as epoch millis. Without it a record cannot be ordered
/// against the one stored, and a status change could be mistaken for a re-delivery.
fn version(updated_time: &Option<Scalar>) -> Result<i64, MappingError> {
    match opt_time("updated_time", updated_time)? {
        Some(t) => Ok(t.timestamp_millis()),
        None => Err(err(
            "updated_time",
            updated_time.as_ref().map(Scalar::text).unwrap_or(""),
            "missing: the record's update time is its version, without it the record cannot \
             be ordered",
        )),
    }
}

/// An id PDD sends as a number or a string. A number must be a plain integer: `1.5e21` has
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

fn case_id(raw: &Option<Scalar>) -> Result<PlatformCaseId, MappingError> {
    let raw = present_scalar(raw).ok_or_else(|| missing("id"))?;
    let text = id_text("id", raw)?;
    PlatformCaseId::parse(text).map_err(|e| err("id", text, e.to_string()))
}

pub(crate) fn order_id(field: &str, raw: &Option<Scalar>) -> Result<OrderId, MappingError> {
    let raw = present_scalar(raw).ok_or_else(|| {
        err(
            field,
            "",
            "required field is missing: a Pinduoduo after-sales order belongs to one order \
             (order_sn), and the detail API needs it to fetch the record",
        )
    })?;
    let text = id_text(field, raw)?;
    OrderId::parse(text).map_err(|e| err(field, text, e.to_string()))
}

pub(crate) fn text(field: &str, raw: &str) -> Result<BoundedText, MappingError> {
    BoundedText::parse(raw).map_err(|e| err(field, raw, e.to_string()))
}

fn reason(
    reason_field: &str,
    reason: Option<&str>,
    remark: Option<&str>,
) -> Result<BoundedText, MappingError> {
    let joined = match (reason, remark) {
        (Some(reason), Some(remark)) => format!("{reason} — {remark}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => String::new(),
    };
    text(reason_field, &joined)
}

/// A parcel whose carrier may be unknown (empty text): PDD names the return carrier only in
/// `shipping_name`, and the merchant's exchange parcel only by a numeric logistics id.
fn shipment(
    tracking_field: &str,
    tracking: &Scalar,
    carrier: Option<&str>,
) -> Result<Shipment, MappingError> {
    Ok(Shipment {
        carrier: text("shipping_name", carrier.unwrap_or(""))?,
        tracking_number: text(tracking_field, tracking.text())?,
        shipped_at: None,
    })
}

// ---------------------------------------------------------------------------------------------
// The records
// ---------------------------------------------------------------------------------------------

/// Map one list record (`pdd.refund.list.increment.get`) into the common record. Errors name
/// the field as `refund_list[0].<field>`.
pub fn list_to_record(r: &RefundListItem) -> Result<PlatformRecord, MappingError> {
    list_record(r).map_err(|e| under(LIST_ITEM, e))
}

fn list_record(r: &RefundListItem) -> Result<PlatformRecord, MappingError> {
    let platform_case_id = case_id(&r.id)?;
    let order_id = order_id("order_sn", &r.order_sn)?;

    let status = AfterSalesStatus::parse(
        present_scalar(&r.after_sales_status).ok_or_else(|| missing("after_sales_status"))?,
    )?;
    let kind = ListAfterSalesType::parse(
        present_scalar(&r.after_sales_type).ok_or_else(|| missing("after_sales_type"))?,
    )?
    .kind()?;
    let state = status.state(kind)?;
    let user = present_scalar(&r.user_shipping_status)
        .map(UserShippingStatus::parse)
        .transpose()?;
    let fulfilment = fulfilment(None, user, kind);

    let requested_refund = yuan(
        "refund_amount",
        present_scalar(&r.refund_amount).ok_or_else(|| missing("refund_amount"))?,
    )?;
    let order_total = opt_amount("order_amount", &r.order_amount, yuan)?;
    opt_amount("discount_amount", &r.discount_amount, yuan)?;
    opt_amount("goods_price", &r.goods_price, yuan)?;

    let speed = present_scalar(&r.speed_refund_status).and_then(SpeedRefundStatus::parse);

    let return_shipment = present_scalar(&r.tracking_number)
        .map(|t| shipment("tracking_number", t, present(&r.shipping_name)))
        .transpose()?;

    Ok(PlatformRecord {
        platform_case_id,
        order_id: Some(order_id),
        // PDD after-sales are per order (order_sn); there is no sub-order id.
        sub_order_id: None,
        kind,
        state,
        fulfilment,
        requested_refund,
        order_total,
        refunded: status.refund_paid().then_some(requested_refund),
        reason: reason("after_sale_reason", present(&r.after_sale_reason), None)?,
        // PDD after-sales records carry no buyer name.
        buyer: BoundedText::default(),
        return_address: None,
        return_shipment,
        reship_shipment: None,
        status: PlatformStatus {
            code: status.code().to_string(),
            text: status.text().to_string(),
        },
        version: version(&r.updated_time)?,
        // The list carries no deadline; expire_time is only in the detail.
        platform_deadline: None,
        attributes: list_attributes(r)?,
        opened_at: opt_time("created_time", &r.created_time)?,
        order_state: None,
        // 极速退款 succeeded: the platform refunded the buyer first (TB-11's advance).
        platform_advance: speed.filter(|s| s.advanced()).map(|_| requested_refund),
        task: None,
    })
}

/// Map one detail (`pdd.refund.information.get`) into the common record. Errors name the
/// field as `refund_information_get_response.<field>`.
pub fn detail_to_record(r: &RefundInformation) -> Result<PlatformRecord, MappingError> {
    detail_record(r).map_err(|e| under(DETAIL, e))
}

fn detail_record(r: &RefundInformation) -> Result<PlatformRecord, MappingError> {
    let platform_case_id = case_id(&r.id)?;
    let order_id = order_id("order_sn", &r.order_sn)?;

    let status = AfterSalesStatus::parse(
        present_scalar(&r.after_sales_status).ok_or_else(|| missing("after_sales_status"))?,
    )?;
    let kind = DetailAfterSalesType::parse(
        present_scalar(&r.after_sales_type).ok_or_else(|| missing("after_sales_type"))?,
    )?
    .kind();
    let state = status.state(kind)?;
    let shipping = present_scalar(&r.shipping_status)
        .map(ShippingStatus::parse)
        .transpose()?;
    let user = present_scalar(&r.user_shipping_status)
        .map(UserShippingStatus::parse)
        .transpose()?;
    let fulfilment = fulfilment(shipping, user, kind);

    let requested_refund = fen(
        "refund_amount",
        present_scalar(&r.refund_amount).ok_or_else(|| missing("refund_amount"))?,
    )?;
    let order_total = opt_amount("order_amount", &r.order_amount, fen)?;
    opt_amount("discount_amount", &r.discount_amount, fen)?;
    opt_amount("goods_price", &r.goods_price, fen)?;

    let exchange = r.exchange_shipping_detail.as_ref();
    // The buyer's return: express_no, or for an exchange the parcel sent back.
    let return_shipment = match (
        present_scalar(&r.express_no),
        exchange.and_then(|x| present_scalar(&x.customer_send_back_trunk_number)),
    ) {
        (Some(t), _) => Some(shipment("express_no", t, present(&r.shipping_name))?),
        (None, Some(t)) => Some(shipment(
            "exchange_shipping_detail.customer_send_back_trunk_number",
            t,
            present(&r.shipping_name),
        )?),
        (None, None) => None,
    };
    // The merchant's replacement parcel of an exchange (its carrier is only a logistics id,
    // kept in the attributes).
    let reship_shipment = exchange
        .and_then(|x| present_scalar(&x.merchant_exchange_trunk_number))
        .map(|t| {
            shipment(
                "exchange_shipping_detail.merchant_exchange_trunk_number",
                t,
                None,
            )
        })
        .transpose()?;

    Ok(PlatformRecord {
        platform_case_id,
        order_id: Some(order_id),
        // PDD after-sales are per order (order_sn); there is no sub-order id.
        sub_order_id: None,
        kind,
        state,
        fulfilment,
        requested_refund,
        order_total,
        refunded: status.refund_paid().then_some(requested_refund),
        reason: reason(
            "after_sales_reason",
            present(&r.after_sales_reason),
            present(&r.remark),
        )?,
        buyer: BoundedText::default(),
        return_address: None,
        return_shipment,
        reship_shipment,
        status: PlatformStatus {
            code: status.code().to_string(),
            text: status.text().to_string(),
        },
        version: version(&r.updated_time)?,
        // 售后逾期时间: the platform's own merchant deadline, filled only while the request
        // waits for the merchant; it replaces the policy's computed one (PD-04).
        platform_deadline: opt_time("expire_time", &r.expire_time)?,
        attributes: detail_attributes(r)?,
        // 售后单创建时间（重新申请时间）: a re-application restarts the request.
        opened_at: opt_time("recreated_at", &r.recreated_at)?,
        order_state: None,
        // The detail has the 极速退款 flag but not whether it succeeded: no advance is known.
        platform_advance: None,
        task: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

/// Raw fields kept for the record under their PDD names, bounded like any text. Empty values
/// are left out.
pub(crate) struct Attributes {
    out: BTreeMap<String, String>,
}

impl Attributes {
    pub(crate) fn new() -> Self {
        Attributes {
            out: BTreeMap::new(),
        }
    }

    pub(crate) fn value(&mut self, key: &str, value: Option<String>) -> Result<(), MappingError> {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            let v = text(key, &v)?;
            self.out.insert(key.to_string(), v.as_str().to_string());
        }
        Ok(())
    }

    pub(crate) fn text(&mut self, key: &str, value: &Option<String>) -> Result<(), MappingError> {
        self.value(key, value.clone())
    }

    pub(crate) fn scalar(&mut self, key: &str, value: &Option<Scalar>) -> Result<(), MappingError> {
        self.value(key, value.as_ref().map(|x| x.text().to_string()))
    }

    pub(crate) fn into_map(self) -> BTreeMap<String, String> {
        self.out
    }
}

/// The small documented enumerations kept raw: validated here, so an unknown value is an
/// error rather than silently stored.
fn validate_flags(
    speed_refund_flag: &Option<Scalar>,
    dispute_refund_status: &Option<Scalar>,
    refund_operator_role: &Option<Scalar>,
) -> Result<(), MappingError> {
    if let Some(v) = present_scalar(speed_refund_flag) {
        enumerated(
            "speed_refund_flag",
            v,
            &["0", "1"],
            "1 极速退款 or 0 非极速退款",
        )?;
    }
    if let Some(v) = present_scalar(dispute_refund_status) {
        enumerated(
            "dispute_refund_status",
            v,
            &["0", "1"],
            "1 纠纷退款 or 0 非纠纷退款",
        )?;
    }
    if let Some(v) = present_scalar(refund_operator_role) {
        enumerated(
            "refund_operator_role",
            v,
            &["0", "1", "2", "3", "4", "5", "6", "7"],
            "0 默认, 1 用户, 2 商家, 3 平台, 4 系统, 5 团长, 6 司机, 7 代理人",
        )?;
    }
    Ok(())
}

fn list_attributes(r: &RefundListItem) -> Result<BTreeMap<String, String>, MappingError> {
    validate_flags(
        &r.speed_refund_flag,
        &r.dispute_refund_status,
        &r.refund_operator_role,
    )?;
    let mut a = Attributes::new();
    a.value(
        "source_api",
        Some("pdd.refund.list.increment.get".to_string()),
    )?;
    a.scalar("after_sales_type", &r.after_sales_type)?;
    a.scalar("speed_refund_flag", &r.speed_refund_flag)?;
    a.scalar("speed_refund_status", &r.speed_refund_status)?;
    a.scalar("user_shipping_status", &r.user_shipping_status)?;
    a.scalar("dispute_refund_status", &r.dispute_refund_status)?;
    a.scalar("refund_operator_role", &r.refund_operator_role)?;
    a.scalar("discount_amount", &r.discount_amount)?;
    a.scalar("goods_price", &r.goods_price)?;
    a.scalar("goods_id", &r.goods_id)?;
    a.text("goods_name", &r.goods_name)?;
    a.text("good_image", &r.good_image)?;
    a.scalar("goods_number", &r.goods_number)?;
    a.scalar("sku_id", &r.sku_id)?;
    a.scalar("outer_id", &r.outer_id)?;
    a.scalar("outer_goods_id", &r.outer_goods_id)?;
    a.scalar("confirm_time", &r.confirm_time)?;
    a.scalar("created_time", &r.created_time)?;
    a.scalar("updated_time", &r.updated_time)?;
    // The confirm (成团) time is validated like the other times.
    opt_time("confirm_time", &r.confirm_time)?;
    Ok(a.into_map())
}

fn detail_attributes(r: &RefundInformation) -> Result<BTreeMap<String, String>, MappingError> {
    validate_flags(
        &r.speed_refund_flag,
        &r.dispute_refund_status,
        &r.refund_operator_role,
    )?;
    if let Some(v) = present_scalar(&r.join_or_not) {
        enumerated("join_or_not", v, &["0", "1"], "1 介入 or 0 未介入")?;
    }
    if let Some(v) = present_scalar(&r.part_after_sales_type) {
        enumerated(
            "part_after_sales_type",
            v,
            &["0", "1", "2"],
            "0 无意义, 1 件数, 2 比例",
        )?;
    }
    opt_time("confirm_time", &r.confirm_time)?;
    let mut a = Attributes::new();
    a.value("source_api", Some("pdd.refund.information.get".to_string()))?;
    a.scalar("after_sales_type", &r.after_sales_type)?;
    a.scalar("shipping_status", &r.shipping_status)?;
    a.scalar("user_shipping_status", &r.user_shipping_status)?;
    a.scalar("speed_refund_flag", &r.speed_refund_flag)?;
    a.scalar("dispute_refund_status", &r.dispute_refund_status)?;
    // 是否介入: kept, not read into the state. Whether it means "intervening now" or "ever
    // intervened" is not said; status 8 (平台处理中) is the platform's own word for it.
    a.scalar("join_or_not", &r.join_or_not)?;
    a.scalar("refund_operator_role", &r.refund_operator_role)?;
    a.scalar("part_after_sales_type", &r.part_after_sales_type)?;
    a.scalar("part_after_sales_value", &r.part_after_sales_value)?;
    a.scalar("discount_amount", &r.discount_amount)?;
    a.scalar("goods_price", &r.goods_price)?;
    a.scalar("goods_number", &r.goods_number)?;
    a.scalar("sku_id", &r.sku_id)?;
    a.text("remark", &r.remark)?;
    a.value("exist_images", r.exist_images.map(|b| b.0.to_string()))?;
    // PD-08: the buyer's evidence photos, one attribute each (a list may be long).
    for (i, url) in r.images.iter().flatten().enumerate() {
        a.value(&format!("images.{i}"), Some(url.clone()))?;
    }
    a.scalar("confirm_time", &r.confirm_time)?;
    a.scalar("recreated_at", &r.recreated_at)?;
    a.scalar("updated_time", &r.updated_time)?;
    a.scalar("expire_time", &r.expire_time)?;
    if let Some(x) = &r.exchange_shipping_detail {
        exchange_attributes(&mut a, x)?;
    }
    Ok(a.into_map())
}

fn exchange_attributes(a: &mut Attributes, x: &ExchangeShippingDetail) -> Result<(), MappingError> {
    let p = "exchange_shipping_detail";
    if let Some(v) = present_scalar(&x.exchange_goods_price) {
        fen(&format!("{p}.exchange_goods_price"), v)?;
    }
    if let Some(v) = &x.fast_exchange_expire_time {
        time(&format!("{p}.fast_exchange_expire_time"), v)?;
    }
    for (key, value) in [
        ("customer_send_back_ship_id", &x.customer_send_back_ship_id),
        (
            "customer_send_back_trunk_number",
            &x.customer_send_back_trunk_number,
        ),
        ("exchange_goods_name", &x.exchange_goods_name),
        ("exchange_goods_number", &x.exchange_goods_number),
        ("exchange_goods_price", &x.exchange_goods_price),
        ("exchange_receiver_province", &x.exchange_receiver_province),
        (
            "exchange_receiver_province_id",
            &x.exchange_receiver_province_id,
        ),
        ("exchange_receiver_city", &x.exchange_receiver_city),
        ("exchange_receiver_city_id", &x.exchange_receiver_city_id),
        ("exchange_receiver_town", &x.exchange_receiver_town),
        ("exchange_receiver_town_id", &x.exchange_receiver_town_id),
        (
            "merchant_exchange_detail_address_mask",
            &x.merchant_exchange_detail_address_mask,
        ),
        (
            "merchant_exchange_detail_phone_mask",
            &x.merchant_exchange_detail_phone_mask,
        ),
        (
            "merchant_exchange_detail_receiver_mask",
            &x.merchant_exchange_detail_receiver_mask,
        ),
        ("merchant_exchange_ship_id", &x.merchant_exchange_ship_id),
        (
            "merchant_exchange_trunk_number",
            &x.merchant_exchange_trunk_number,
        ),
        ("sku_id_exchange", &x.sku_id_exchange),
        ("fast_exchange_expire_time", &x.fast_exchange_expire_time),
    ] {
        a.scalar(&format!("{p}.{key}"), value)?;
    }
    a.value(
        &format!("{p}.is_fast_exchange"),
        x.is_fast_exchange.map(|b| b.0.to_string()),
    )?;
    Ok(())
}
