//! 1688 buyer-protection deposit release (保证金退回, AL-10 … AL-13): from a shop's service
//! subscriptions, trades and complaints, what still blocks the deposit, and the earliest day
//! it unfreezes.
//!
//! Pure: the facts and the instant to judge at are passed in, nothing is read. One pass over
//! the trades and one over the complaints (a hash map of order ids links them), so the
//! evaluation runs on a shop's whole history; only the items reported are sorted.
//!
//! # Source
//! Seed 003 (`shared/seeds/003_9b67b9692fdcc49b.txt`, a 1688 FAQ of 2024-01-27), the answer
//! to 保證金如何退回 (lines 32–60) and to 如何退出安心購 (lines 106–110), quoted as the seed
//! writes them. No other source confirms these values (`platform-apis.md` §4.5 marks them
//! [U]).
//!
//! - AL-10, line 40: 買家保障關閉所有已開通的子服務 … 若您開通了官方直送,官方直送的子服務也需要
//!   一并操作退出;(子服務中的24h/48h/72h/5天/7天/10天/15天發貨服務無法關閉,退出買家保障時無需
//!   關閉).
//! - AL-11, lines 48–56: 關閉服務后,解凍 … 的條件(以下三點需要全部滿足): a、開通買家保障期間的
//!   訂單中,沒有未完結的交易;(交易狀態:成功或者關閉) b、… 沒有未完結的投訴案件; c、… 沒有在交易
//!   售后受理期內(交易成功或者交易關閉后的30天內,為訂單的售后受理期).
//! - AL-12, line 58: 若滿足以上條件,保證金第3天解凍,解凍后用戶需從保障服務中心首頁點擊"轉出".
//! - AL-13, line 110: 如有安心購在途交易,需交易完成90天后狀態會同步退出狀態.
//!
//! # Counting choices
//! The seed gives the numbers but not how a day is counted. Every choice it does not settle is
//! marked *assumed*, here, in the explanation of each date it produces, and in
//! [`DepositReleaseEvaluation::assumptions`]. Where two readings were possible the later date
//! is chosen: telling a merchant to wait a day too long costs a day, telling them the deposit
//! is free before the platform frees it costs a failed transfer and trust.
//!
//! - **Acceptance period (AL-11(c))**, *assumed*: 30 × 24 h from the instant of trade success
//!   or close (not 30 Beijing calendar days). The order is inside it while `now < finish +
//!   30 × 24 h`; at that instant it has left. The seed says only 交易成功或者交易關閉后的30天內.
//! - **"第3天解凍" (AL-12)**, *assumed*: let D be the Beijing date on which all conditions
//!   first hold; the deposit unfreezes at 00:00 Beijing on D + 3 (the third calendar day
//!   after D). Reading D itself as the first day would give D + 2 00:00, a day earlier.
//! - **Leaving 安心购 (AL-13)**, *assumed*: 90 × 24 h from the instant the trade completes; a
//!   closed trade completes as a successful one does (line 50 counts 成功或者關閉 as 完結).
//! - **Orders of the protection period (AL-11)**, *assumed*: an order counts when it was placed
//!   at or after a 买家保障 opening and at or before that subscription's closing (both ends
//!   included), or while it is still open. Several subscriptions (closed, reopened) give
//!   several periods; an order placed in any of them counts.
//! - **Complaints (AL-11(b))**, *assumed*: a complaint counts when its order is a counted
//!   order. A complaint naming no order, or an order that is not among the trades given,
//!   counts too — nothing shows it is not about an order of the period — unless it was opened
//!   before the protection was first opened, when it cannot concern an order placed during it.
//! - **After closing (AL-11, line 48: 關閉服務后)**: the conditions are judged once every
//!   closable service is closed, so "all conditions hold" is the latest of the last closure,
//!   every counted acceptance period's end and every counted complaint's end.
//! - Leaving 安心购 (AL-13) is its own exit; nothing in the seed makes it a condition of the
//!   deposit, so it does not move the unfreeze date.

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Days, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::time::PLATFORM_TZ;

/// The numbers of AL-11 … AL-13, from the platform's policy file (policies are data: the
/// platform may change them, and a version keeps what it said).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositRules {
    /// AL-11(c): the after-sales acceptance period after trade success or close, in days of
    /// 24 h (the counting is assumed; see the module documentation).
    pub acceptance_period_days: u32,
    /// AL-12: the deposit unfreezes at the start of this many Beijing calendar days after the
    /// day the conditions hold (the counting is assumed).
    pub unfreeze_after_days: u32,
    /// AL-13: a 安心购 trade in flight at the exit leaves the service this many days of 24 h
    /// after it completes (the counting is assumed).
    pub anxin_gou_leave_days: u32,
}

// ---- Rules ---------------------------------------------------------------------------------

/// The catalogue rule an item or a date enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rule {
    /// Close the protection service and every closable sub-service.
    #[serde(rename = "AL-10")]
    Al10,
    /// The release conditions on the orders of the protection period.
    #[serde(rename = "AL-11")]
    Al11,
    /// Unfreeze on the third day, then transfer out (转出).
    #[serde(rename = "AL-12")]
    Al12,
    /// Leaving 安心购: trades in flight leave 90 days after they complete.
    #[serde(rename = "AL-13")]
    Al13,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Al10 => "AL-10",
            Rule::Al11 => "AL-11",
            Rule::Al12 => "AL-12",
            Rule::Al13 => "AL-13",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---- Facts ---------------------------------------------------------------------------------

/// What a subscription is, for AL-10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// 买家保障: the protection itself; its period decides which orders count (AL-11).
    BuyerProtection,
    /// 官方直送: a sub-service that must be closed too (AL-10).
    OfficialDirectDelivery,
    /// 24h/48h/72h/5/7/10/15-day shipping (发货服务): cannot be closed and need not be
    /// (AL-10); never blocks.
    ShippingTime,
    /// Any other sub-service: closable, so it must be closed (AL-10).
    Other,
}

impl ServiceKind {
    /// Whether AL-10 requires it closed.
    pub fn must_close(self) -> bool {
        !matches!(self, ServiceKind::ShippingTime)
    }

    pub fn label(self) -> &'static str {
        match self {
            ServiceKind::BuyerProtection => "买家保障 (buyer protection)",
            ServiceKind::OfficialDirectDelivery => "官方直送 (official direct delivery)",
            ServiceKind::ShippingTime => "shipping-time sub-service (发货服务)",
            ServiceKind::Other => "sub-service",
        }
    }
}

/// One subscription of the shop, open or closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSubscription {
    pub code: String,
    pub name: String,
    pub kind: ServiceKind,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// Where a trade stands. A finished trade carries the instant it finished, so a finished trade
/// without a time cannot be written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TradeStatus {
    /// Neither success nor closed (未完结).
    InFlight,
    /// 交易成功, at this instant.
    Success { at: DateTime<Utc> },
    /// 交易关闭, at this instant.
    Closed { at: DateTime<Utc> },
}

impl TradeStatus {
    /// When the trade finished (success or close), if it has.
    pub fn finished(self) -> Option<(Finish, DateTime<Utc>)> {
        match self {
            TradeStatus::InFlight => None,
            TradeStatus::Success { at } => Some((Finish::Success, at)),
            TradeStatus::Closed { at } => Some((Finish::Closed, at)),
        }
    }

    pub fn finished_at(self) -> Option<DateTime<Utc>> {
        self.finished().map(|(_, at)| at)
    }
}

/// How a trade finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// 交易成功
    Success,
    /// 交易关闭
    Closed,
}

impl Finish {
    pub fn label(self) -> &'static str {
        match self {
            Finish::Success => "trade success (交易成功)",
            Finish::Closed => "trade closed (交易关闭)",
        }
    }
}

/// One order of the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub order_id: String,
    pub placed_at: DateTime<Utc>,
    pub status: TradeStatus,
    /// A 安心购 (worry-free purchase) trade (AL-13).
    #[serde(default)]
    pub anxin_gou: bool,
}

/// One complaint case (投诉案件) against the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub case_id: String,
    /// The order complained about, when the platform names it.
    pub order_id: Option<String>,
    pub opened_at: DateTime<Utc>,
    /// When it was concluded (完结); `None` while it is open.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Everything the evaluation reads about one shop.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShopDepositFacts {
    pub services: Vec<ServiceSubscription>,
    pub trades: Vec<Trade>,
    pub complaints: Vec<Complaint>,
    /// When the merchant asked to leave 安心购 (AL-13), if they did.
    pub anxin_gou_exit_requested_at: Option<DateTime<Utc>>,
}

/// Facts that contradict themselves; evaluating them would be a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepositFactsError {
    #[error(
        "service {code} is closed at {}, before it was opened at {}",
        bj(.closed_at),
        bj(.opened_at)
    )]
    ServiceClosedBeforeOpened {
        code: String,
        opened_at: DateTime<Utc>,
        closed_at: DateTime<Utc>,
    },
    #[error(
        "order {order_id} finished at {}, before it was placed at {}",
        bj(.finished_at),
        bj(.placed_at)
    )]
    TradeFinishedBeforePlaced {
        order_id: String,
        placed_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    },
    #[error(
        "complaint {case_id} finished at {}, before it was opened at {}",
        bj(.finished_at),
        bj(.opened_at)
    )]
    ComplaintFinishedBeforeOpened {
        case_id: String,
        opened_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    },
    #[error("order {order_id} is given more than once")]
    DuplicateOrder { order_id: String },
    #[error("complaint {case_id} is given more than once")]
    DuplicateComplaint { case_id: String },
}

// ---- The answer ----------------------------------------------------------------------------

/// What stands between the shop and its deposit, rule by rule, and when it unfreezes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepositReleaseEvaluation {
    pub evaluated_at: DateTime<Utc>,
    /// AL-10.
    pub services: ServicesReport,
    /// AL-11.
    pub conditions: ConditionsReport,
    /// AL-12.
    pub release: ReleaseReport,
    /// AL-13; `None` when no exit from 安心购 was requested.
    pub anxin_gou_exit: Option<AnxinGouExitReport>,
    /// The three steps of the seed: close services, meet the conditions, unfreeze and
    /// transfer out.
    pub steps: Vec<Step>,
    /// The counting choices the seed does not settle.
    pub assumptions: Vec<Assumption>,
}

/// AL-10: the protection service and its sub-services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicesReport {
    pub rule: Rule,
    pub protection: ProtectionState,
    /// The protection periods (overlapping subscriptions merged), oldest first: AL-11 counts
    /// the orders placed in them.
    pub periods: Vec<ProtectionPeriod>,
    /// Still open and closable: each blocks the release.
    pub blocking: Vec<ServiceNote>,
    /// Shipping-time sub-services: cannot be closed, never block.
    pub ignored: Vec<ServiceNote>,
    /// Closable and closed.
    pub closed: Vec<ServiceNote>,
    /// When the last closable service was closed; `None` while one is open or when the
    /// protection was never opened.
    pub all_closed_at: Option<DateTime<Utc>>,
    pub explanation: String,
}

/// The buyer protection (买家保障) over the shop's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProtectionState {
    /// No 买家保障 subscription among the facts: no protection period, no deposit known.
    NeverOpened,
    /// Open now, since `opened_at` (the current period).
    Active { opened_at: DateTime<Utc> },
    /// First opened at `opened_at`, last closed at `closed_at`: the protection's end.
    Ended {
        opened_at: DateTime<Utc>,
        closed_at: DateTime<Utc>,
    },
}

/// A stretch of time in which the protection was active; `closed_at` is `None` while it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProtectionPeriod {
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// One subscription as AL-10 sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceNote {
    pub code: String,
    pub name: String,
    pub kind: ServiceKind,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rule: Rule,
    pub explanation: String,
}

/// AL-11: the conditions on the orders placed while the protection was active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionsReport {
    pub rule: Rule,
    /// Orders placed in a protection period.
    pub counted_orders: usize,
    /// Orders placed before, between or after the protection periods: they do not count.
    pub not_counted_orders: usize,
    /// (a) Counted orders neither successful nor closed, oldest first.
    pub unfinished_trades: Vec<UnfinishedTrade>,
    /// Complaints that count (see [`ComplaintLink`]).
    pub counted_complaints: usize,
    /// (b) Counted complaints not concluded, oldest first.
    pub unfinished_complaints: Vec<UnfinishedComplaint>,
    /// (c) Counted orders inside their acceptance period at the time of evaluation, the one
    /// ending first first.
    pub in_acceptance_period: Vec<AcceptancePeriod>,
    /// The counted order whose acceptance period ends last, whether or not it has ended.
    pub last_acceptance_period: Option<AcceptancePeriod>,
    /// When the last counted complaint was concluded, when all are.
    pub last_complaint_finished_at: Option<DateTime<Utc>>,
}

/// A trade with no known end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfinishedTrade {
    pub order_id: String,
    pub placed_at: DateTime<Utc>,
    pub rule: Rule,
    pub explanation: String,
}

/// Why a complaint counts for AL-11(b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintLink {
    /// Its order was placed while the protection was active.
    CountedOrder,
    /// It names no order and was opened after the protection was first opened.
    NoOrder,
    /// Its order is not among the trades given and it was opened after the protection was
    /// first opened.
    UnknownOrder,
}

/// A counted complaint not yet concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfinishedComplaint {
    pub case_id: String,
    pub order_id: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub link: ComplaintLink,
    pub rule: Rule,
    pub explanation: String,
}

/// A counted order's after-sales acceptance period (售后受理期).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptancePeriod {
    pub order_id: String,
    pub finish: Finish,
    pub finished_at: DateTime<Utc>,
    /// `finished_at` + 30 × 24 h (assumed): the first instant outside the period.
    pub ends_at: DateTime<Utc>,
    /// The Beijing date of `ends_at`.
    pub ends_on: NaiveDate,
    pub rule: Rule,
    pub explanation: String,
}

/// AL-12: when the deposit unfreezes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    pub rule: Rule,
    /// When every closable service is closed and every AL-11 condition holds; `None` while
    /// something with no known end is open (see `not_computable`).
    pub conditions_hold_at: Option<DateTime<Utc>>,
    /// The item that sets `conditions_hold_at`.
    pub decided_by: Option<Milestone>,
    /// 00:00 Beijing on the third day after the day the conditions hold (assumed reading of
    /// 第3天解凍).
    pub unfreezes_at: Option<DateTime<Utc>>,
    /// The Beijing date of `unfreezes_at`.
    pub unfreezes_on: Option<NaiveDate>,
    /// Unfrozen at the time of evaluation: the merchant may transfer it out (转出).
    pub unfrozen: bool,
    /// Why no date can be given yet.
    pub not_computable: Vec<Blocker>,
    pub explanation: String,
}

/// A dated event that decides another date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Milestone {
    pub rule: Rule,
    pub at: DateTime<Utc>,
    pub explanation: String,
}

/// AL-13: leaving 安心购.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnxinGouExitReport {
    pub rule: Rule,
    pub requested_at: DateTime<Utc>,
    /// 安心购 trades in flight at the request that have completed since, the one leaving
    /// first first.
    pub leaving: Vec<AnxinGouLeave>,
    /// 安心购 trades in flight at the request and still in flight: no leave date yet.
    pub in_flight: Vec<UnfinishedTrade>,
    /// When the last of them leaves (the request itself when none was in flight); `None`
    /// while one is still in flight.
    pub exit_completes_at: Option<DateTime<Utc>>,
    /// Whether the exit is complete at the time of evaluation.
    pub exited: bool,
    pub explanation: String,
}

/// One 安心购 trade leaving the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnxinGouLeave {
    pub order_id: String,
    pub finish: Finish,
    pub finished_at: DateTime<Utc>,
    /// `finished_at` + 90 × 24 h (assumed).
    pub leaves_at: DateTime<Utc>,
    /// The Beijing date of `leaves_at`.
    pub leaves_on: NaiveDate,
    pub rule: Rule,
    pub explanation: String,
}

/// Something with no known end that holds the release up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub rule: Rule,
    #[serde(flatten)]
    pub what: Blocking,
    pub explanation: String,
}

/// What a [`Blocker`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocking {
    /// No 买家保障 subscription is known.
    ProtectionNeverOpened,
    /// A closable service is open (AL-10).
    ServiceOpen {
        code: String,
        name: String,
        service: ServiceKind,
    },
    /// The protection is active, so orders placed from now on count too (AL-11).
    ProtectionActive { opened_at: DateTime<Utc> },
    /// A counted trade neither successful nor closed (AL-11(a)).
    TradeInFlight { order_id: String },
    /// A counted complaint not concluded (AL-11(b)).
    ComplaintOpen {
        case_id: String,
        order_id: Option<String>,
    },
}

/// One of the three steps of seed 003 (lines 38, 46, 58).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub step: u8,
    pub rule: Rule,
    pub title: &'static str,
    pub state: StepState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepState {
    /// Complete since this instant.
    Done { since: DateTime<Utc> },
    /// Nothing to do but wait until this instant.
    Waiting {
        until: DateTime<Utc>,
        explanation: String,
    },
    /// Held up by items with no known end.
    Blocked { reasons: Vec<Blocker> },
    /// There is no deposit to release.
    NotApplicable { reason: String },
}

/// A counting choice the seed does not settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Assumption {
    pub rule: Rule,
    pub code: &'static str,
    pub explanation: &'static str,
}

/// Every assumed choice of this module, as each answer lists them.
pub const ASSUMPTIONS: [Assumption; 5] = [
    Assumption {
        rule: Rule::Al11,
        code: "ACCEPTANCE_PERIOD_30_X_24H",
        explanation:
            "the acceptance period (交易成功或者交易關閉后的30天內) is taken as 30 × 24 h \
                      from the instant of trade success or close; the order is outside it from \
                      that instant on",
    },
    Assumption {
        rule: Rule::Al12,
        code: "THIRD_DAY_IS_DAY_PLUS_3",
        explanation: "第3天解凍 is taken as 00:00 Beijing on the third calendar day after the \
                      Beijing day the conditions hold (D + 3); counting that day as the first \
                      would give D + 2, a day earlier",
    },
    Assumption {
        rule: Rule::Al13,
        code: "ANXIN_GOU_90_X_24H",
        explanation: "交易完成90天后 is taken as 90 × 24 h from the instant the trade succeeded \
                      or closed",
    },
    Assumption {
        rule: Rule::Al11,
        code: "PROTECTION_PERIOD_INCLUSIVE",
        explanation: "an order counts when placed at or after a 买家保障 opening and at or \
                      before its closing (both ends included), or while it is open",
    },
    Assumption {
        rule: Rule::Al11,
        code: "UNLINKED_COMPLAINTS_COUNT",
        explanation: "a complaint naming no order, or an order not among the trades given, \
                      counts unless it was opened before the protection was first opened: \
                      nothing shows it is not about an order of the period",
    },
];

// ---- Evaluation ----------------------------------------------------------------------------

/// Judge the shop's deposit at `now`: what blocks it under AL-10 and AL-11, when it unfreezes
/// under AL-12, and where the 安心购 exit stands under AL-13. Linear in the number of trades
/// and complaints. Facts that contradict themselves (a close before its opening, a finish
/// before the placing or opening, an order or complaint given twice) are refused.
pub fn evaluate_deposit_release(
    facts: &ShopDepositFacts,
    rules: &DepositRules,
    now: DateTime<Utc>,
) -> Result<DepositReleaseEvaluation, DepositFactsError> {
    let services = services_report(&facts.services)?;
    let conditions = conditions_report(facts, &services, rules, now)?;
    let release = release_report(&services, &conditions, rules, now);
    let anxin_gou_exit = facts
        .anxin_gou_exit_requested_at
        .map(|requested_at| anxin_gou_report(&facts.trades, requested_at, rules, now));
    let steps = steps(&services, &conditions, &release, now);
    Ok(DepositReleaseEvaluation {
        evaluated_at: now,
        services,
        conditions,
        release,
        anxin_gou_exit,
        steps,
        assumptions: ASSUMPTIONS.to_vec(),
    })
}

fn services_report(subs: &[ServiceSubscription]) -> Result<ServicesReport, DepositFactsError> {
    let mut periods = Vec::new();
    let mut blocking = Vec::new();
    let mut ignored = Vec::new();
    let mut closed = Vec::new();
    let mut last_closure: Option<DateTime<Utc>> = None;
    for s in subs {
        if let Some(closed_at) = s.closed_at {
            if closed_at < s.opened_at {
                return Err(DepositFactsError::ServiceClosedBeforeOpened {
                    code: s.code.clone(),
                    opened_at: s.opened_at,
                    closed_at,
                });
            }
        }
        if s.kind == ServiceKind::BuyerProtection {
            periods.push(ProtectionPeriod {
                opened_at: s.opened_at,
                closed_at: s.closed_at,
            });
        }
        let what = format!("{} {} ({})", s.kind.label(), s.code, s.name);
        let (list, explanation) = match (s.kind.must_close(), s.closed_at) {
            (false, _) => (
                &mut ignored,
                format!(
                    "{what}: the 24h/48h/72h/5/7/10/15-day shipping sub-services cannot be \
                     closed and need not be (AL-10); it does not block the release"
                ),
            ),
            (true, None) => (
                &mut blocking,
                format!(
                    "{what}, opened {}, is still open: close it (关闭服务); the deposit is not \
                     released while a service is open (AL-10)",
                    bj(&s.opened_at)
                ),
            ),
            (true, Some(at)) => {
                last_closure = last_closure.max(Some(at));
                (&mut closed, format!("{what}: closed {} (AL-10)", bj(&at)))
            }
        };
        list.push(ServiceNote {
            code: s.code.clone(),
            name: s.name.clone(),
            kind: s.kind,
            opened_at: s.opened_at,
            closed_at: s.closed_at,
            rule: Rule::Al10,
            explanation,
        });
    }
    let periods = merge_periods(periods);
    let protection = match (periods.first(), periods.last()) {
        (Some(first), Some(last)) => match last.closed_at {
            None => ProtectionState::Active {
                opened_at: last.opened_at,
            },
            Some(closed_at) => ProtectionState::Ended {
                opened_at: first.opened_at,
                closed_at,
            },
        },
        _ => ProtectionState::NeverOpened,
    };
    let all_closed_at = match protection {
        ProtectionState::NeverOpened => None,
        _ if !blocking.is_empty() => None,
        _ => last_closure,
    };
    let explanation = match (protection, all_closed_at) {
        (ProtectionState::NeverOpened, _) => "no 买家保障 (buyer protection) subscription is \
             among the facts: there is no protection period and no deposit to release (AL-10)"
            .to_string(),
        (_, Some(at)) => format!(
            "every closable service is closed, the last at {}; {} shipping-time sub-service(s) \
             cannot be closed and are ignored (AL-10)",
            bj(&at),
            ignored.len()
        ),
        _ => format!(
            "{} service(s) still to close: {} (AL-10)",
            blocking.len(),
            blocking
                .iter()
                .map(|n| format!("{} ({})", n.code, n.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(ServicesReport {
        rule: Rule::Al10,
        protection,
        periods,
        blocking,
        ignored,
        closed,
        all_closed_at,
        explanation,
    })
}

/// Sort by opening and merge periods that overlap or touch; an open period swallows every
/// later one.
fn merge_periods(mut periods: Vec<ProtectionPeriod>) -> Vec<ProtectionPeriod> {
    periods.sort_by_key(|p| p.opened_at);
    let mut merged: Vec<ProtectionPeriod> = Vec::with_capacity(periods.len());
    for p in periods {
        match merged.last_mut() {
            Some(last) if last.closed_at.is_none_or(|end| p.opened_at <= end) => {
                last.closed_at = match (last.closed_at, p.closed_at) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            _ => merged.push(p),
        }
    }
    merged
}

/// Whether an order placed at `t` was placed while the protection was active (both ends
/// included). `periods` are merged and sorted: a binary search, not a scan.
fn in_protection(periods: &[ProtectionPeriod], t: DateTime<Utc>) -> bool {
    let i = periods.partition_point(|p| p.opened_at <= t);
    i > 0 && periods[i - 1].closed_at.is_none_or(|end| t <= end)
}

/// Latest-wins tracker that remembers which item set the maximum (the first on a tie).
struct Latest<T> {
    best: Option<(DateTime<Utc>, T)>,
}

impl<T> Latest<T> {
    fn new() -> Self {
        Latest { best: None }
    }

    fn offer(&mut self, at: DateTime<Utc>, item: impl FnOnce() -> T) {
        if self.best.as_ref().is_none_or(|(b, _)| at > *b) {
            self.best = Some((at, item()));
        }
    }
}

fn conditions_report(
    facts: &ShopDepositFacts,
    services: &ServicesReport,
    rules: &DepositRules,
    now: DateTime<Utc>,
) -> Result<ConditionsReport, DepositFactsError> {
    let periods = &services.periods;
    let acceptance = Duration::days(i64::from(rules.acceptance_period_days));

    // Order id → counted. One pass over the trades.
    let mut known: HashMap<&str, bool> = HashMap::with_capacity(facts.trades.len());
    let mut counted_orders = 0;
    let mut unfinished_trades = Vec::new();
    let mut in_acceptance_period = Vec::new();
    let mut last_period: Latest<&Trade> = Latest::new();
    for t in &facts.trades {
        if let Some(finished_at) = t.status.finished_at() {
            if finished_at < t.placed_at {
                return Err(DepositFactsError::TradeFinishedBeforePlaced {
                    order_id: t.order_id.clone(),
                    placed_at: t.placed_at,
                    finished_at,
                });
            }
        }
        let counted = in_protection(periods, t.placed_at);
        if known.insert(t.order_id.as_str(), counted).is_some() {
            return Err(DepositFactsError::DuplicateOrder {
                order_id: t.order_id.clone(),
            });
        }
        if !counted {
            continue;
        }
        counted_orders += 1;
        match t.status.finished() {
            None => unfinished_trades.push(UnfinishedTrade {
                order_id: t.order_id.clone(),
                placed_at: t.placed_at,
                rule: Rule::Al11,
                explanation: format!(
                    "order {} placed {} while 买家保障 was active is neither successful nor \
                     closed (AL-11(a)): the release date cannot be known until it finishes",
                    t.order_id,
                    bj(&t.placed_at)
                ),
            }),
            Some((finish, at)) => {
                let ends_at = plus(at, acceptance);
                if now < ends_at {
                    in_acceptance_period.push(acceptance_period(t, finish, at, ends_at));
                }
                last_period.offer(ends_at, || t);
            }
        }
    }
    let not_counted_orders = facts.trades.len() - counted_orders;

    // One pass over the complaints, each linked through the map.
    let first_opened = periods.first().map(|p| p.opened_at);
    let mut seen: HashSet<&str> = HashSet::with_capacity(facts.complaints.len());
    let mut counted_complaints = 0;
    let mut unfinished_complaints = Vec::new();
    let mut last_complaint: Latest<()> = Latest::new();
    for c in &facts.complaints {
        if let Some(finished_at) = c.finished_at {
            if finished_at < c.opened_at {
                return Err(DepositFactsError::ComplaintFinishedBeforeOpened {
                    case_id: c.case_id.clone(),
                    opened_at: c.opened_at,
                    finished_at,
                });
            }
        }
        if !seen.insert(c.case_id.as_str()) {
            return Err(DepositFactsError::DuplicateComplaint {
                case_id: c.case_id.clone(),
            });
        }
        let after_first_opening = first_opened.is_some_and(|first| c.opened_at >= first);
        let link = match c.order_id.as_deref().map(|id| known.get(id)) {
            Some(Some(true)) => ComplaintLink::CountedOrder,
            Some(Some(false)) => continue,
            Some(None) if after_first_opening => ComplaintLink::UnknownOrder,
            None if after_first_opening => ComplaintLink::NoOrder,
            _ => continue,
        };
        counted_complaints += 1;
        match c.finished_at {
            Some(at) => last_complaint.offer(at, || ()),
            None => unfinished_complaints.push(UnfinishedComplaint {
                case_id: c.case_id.clone(),
                order_id: c.order_id.clone(),
                opened_at: c.opened_at,
                link,
                rule: Rule::Al11,
                explanation: format!(
                    "complaint {} opened {}, {}, is not concluded (AL-11(b)): the release date \
                     cannot be known until it is",
                    c.case_id,
                    bj(&c.opened_at),
                    match (link, &c.order_id) {
                        (ComplaintLink::CountedOrder, Some(id)) =>
                            format!("about order {id}, placed while 买家保障 was active"),
                        (ComplaintLink::UnknownOrder, Some(id)) => format!(
                            "about order {id}, which is not among the trades given, so it \
                             cannot be shown to be outside the protection period (assumed)"
                        ),
                        _ => "naming no order, opened after 买家保障 was first opened, so it \
                              cannot be shown to concern no order of the period (assumed)"
                            .to_string(),
                    }
                ),
            }),
        }
    }
    let last_complaint_finished_at = if unfinished_complaints.is_empty() {
        last_complaint.best.map(|(at, ())| at)
    } else {
        None
    };

    unfinished_trades.sort_by(|a, b| (a.placed_at, &a.order_id).cmp(&(b.placed_at, &b.order_id)));
    unfinished_complaints.sort_by(|a, b| (a.opened_at, &a.case_id).cmp(&(b.opened_at, &b.case_id)));
    in_acceptance_period.sort_by(|a, b| (a.ends_at, &a.order_id).cmp(&(b.ends_at, &b.order_id)));
    let last_acceptance_period = last_period.best.map(|(ends_at, t)| {
        let (finish, at) = t
            .status
            .finished()
            .expect("only finished trades are offered");
        acceptance_period(t, finish, at, ends_at)
    });
    Ok(ConditionsReport {
        rule: Rule::Al11,
        counted_orders,
        not_counted_orders,
        unfinished_trades,
        counted_complaints,
        unfinished_complaints,
        in_acceptance_period,
        last_acceptance_period,
        last_complaint_finished_at,
    })
}

fn acceptance_period(
    t: &Trade,
    finish: Finish,
    finished_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> AcceptancePeriod {
    AcceptancePeriod {
        order_id: t.order_id.clone(),
        finish,
        finished_at,
        ends_at,
        ends_on: beijing_date(ends_at),
        rule: Rule::Al11,
        explanation: format!(
            "order {}: {} at {}; its after-sales acceptance period (售后受理期) runs {} days to \
             {} (AL-11(c); {} × 24 h, assumed)",
            t.order_id,
            finish.label(),
            bj(&finished_at),
            (ends_at - finished_at).num_days(),
            bj(&ends_at),
            (ends_at - finished_at).num_days()
        ),
    }
}

fn release_report(
    services: &ServicesReport,
    conditions: &ConditionsReport,
    rules: &DepositRules,
    now: DateTime<Utc>,
) -> ReleaseReport {
    let mut not_computable = Vec::new();
    if services.protection == ProtectionState::NeverOpened {
        not_computable.push(Blocker {
            rule: Rule::Al10,
            what: Blocking::ProtectionNeverOpened,
            explanation: services.explanation.clone(),
        });
    }
    not_computable.extend(services.blocking.iter().map(service_blocker));
    not_computable.extend(conditions.unfinished_trades.iter().map(trade_blocker));
    not_computable.extend(
        conditions
            .unfinished_complaints
            .iter()
            .map(complaint_blocker),
    );

    let mut hold: Latest<Milestone> = Latest::new();
    if not_computable.is_empty() {
        if let Some(at) = services.all_closed_at {
            hold.offer(at, || Milestone {
                rule: Rule::Al10,
                at,
                explanation: format!(
                    "the last closable service was closed at {} (AL-10; the conditions are \
                     judged after closing, 關閉服務后)",
                    bj(&at)
                ),
            });
        }
        if let Some(p) = &conditions.last_acceptance_period {
            hold.offer(p.ends_at, || Milestone {
                rule: Rule::Al11,
                at: p.ends_at,
                explanation: format!("the last acceptance period ends: {}", p.explanation),
            });
        }
        if let Some(at) = conditions.last_complaint_finished_at {
            hold.offer(at, || Milestone {
                rule: Rule::Al11,
                at,
                explanation: format!(
                    "the last counted complaint was concluded at {} (AL-11(b))",
                    bj(&at)
                ),
            });
        }
    }
    let decided_by = hold.best.map(|(_, m)| m);
    let conditions_hold_at = decided_by.as_ref().map(|m| m.at);
    let unfreezes_on = conditions_hold_at.map(|t| unfreeze_day(t, rules));
    let unfreezes_at = unfreezes_on.map(start_of_beijing_day);
    let unfrozen = unfreezes_at.is_some_and(|at| now >= at);

    let explanation = match (&decided_by, unfreezes_at) {
        (Some(m), Some(at)) => format!(
            "all conditions hold at {} ({}); the deposit unfreezes on the third day (第3天), \
             {} (AL-12; 00:00 Beijing of the third calendar day after {}, assumed); {}",
            bj(&m.at),
            m.explanation,
            bj(&at),
            beijing_date(m.at),
            if unfrozen {
                "it is unfrozen: transfer it out (转出) from the 保障服务中心 home page, and it is \
                 released from Alipay"
            } else {
                "then transfer it out (转出) from the 保障服务中心 home page"
            }
        ),
        _ if services.protection == ProtectionState::NeverOpened => services.explanation.clone(),
        _ => format!(
            "no unfreeze date yet (AL-12): {} item(s) have no known end — {} open service(s), \
             {} unfinished trade(s), {} unfinished complaint(s)",
            not_computable.len(),
            services.blocking.len(),
            conditions.unfinished_trades.len(),
            conditions.unfinished_complaints.len()
        ),
    };
    ReleaseReport {
        rule: Rule::Al12,
        conditions_hold_at,
        decided_by,
        unfreezes_at,
        unfreezes_on,
        unfrozen,
        not_computable,
        explanation,
    }
}

fn service_blocker(n: &ServiceNote) -> Blocker {
    Blocker {
        rule: Rule::Al10,
        what: Blocking::ServiceOpen {
            code: n.code.clone(),
            name: n.name.clone(),
            service: n.kind,
        },
        explanation: n.explanation.clone(),
    }
}

fn trade_blocker(t: &UnfinishedTrade) -> Blocker {
    Blocker {
        rule: t.rule,
        what: Blocking::TradeInFlight {
            order_id: t.order_id.clone(),
        },
        explanation: t.explanation.clone(),
    }
}

fn complaint_blocker(c: &UnfinishedComplaint) -> Blocker {
    Blocker {
        rule: c.rule,
        what: Blocking::ComplaintOpen {
            case_id: c.case_id.clone(),
            order_id: c.order_id.clone(),
        },
        explanation: c.explanation.clone(),
    }
}

fn anxin_gou_report(
    trades: &[Trade],
    requested_at: DateTime<Utc>,
    rules: &DepositRules,
    now: DateTime<Utc>,
) -> AnxinGouExitReport {
    let leave_after = Duration::days(i64::from(rules.anxin_gou_leave_days));
    let mut leaving = Vec::new();
    let mut in_flight = Vec::new();
    for t in trades {
        let in_flight_at_request = t.anxin_gou
            && t.placed_at <= requested_at
            && t.status.finished_at().is_none_or(|f| f > requested_at);
        if !in_flight_at_request {
            continue;
        }
        match t.status.finished() {
            None => in_flight.push(UnfinishedTrade {
                order_id: t.order_id.clone(),
                placed_at: t.placed_at,
                rule: Rule::Al13,
                explanation: format!(
                    "安心购 order {} placed {} is still in flight: it leaves the service {} days \
                     after it completes (AL-13)",
                    t.order_id,
                    bj(&t.placed_at),
                    i64::from(rules.anxin_gou_leave_days)
                ),
            }),
            Some((finish, at)) => {
                let leaves_at = plus(at, leave_after);
                leaving.push(AnxinGouLeave {
                    order_id: t.order_id.clone(),
                    finish,
                    finished_at: at,
                    leaves_at,
                    leaves_on: beijing_date(leaves_at),
                    rule: Rule::Al13,
                    explanation: format!(
                        "安心购 order {} was in flight at the exit request; {} at {}, so it \
                         leaves the service {} days later, at {} (AL-13; {} × 24 h, assumed)",
                        t.order_id,
                        finish.label(),
                        bj(&at),
                        i64::from(rules.anxin_gou_leave_days),
                        bj(&leaves_at),
                        i64::from(rules.anxin_gou_leave_days)
                    ),
                });
            }
        }
    }
    leaving.sort_by(|a, b| (a.leaves_at, &a.order_id).cmp(&(b.leaves_at, &b.order_id)));
    in_flight.sort_by(|a, b| (a.placed_at, &a.order_id).cmp(&(b.placed_at, &b.order_id)));
    let exit_completes_at = if in_flight.is_empty() {
        Some(
            leaving
                .iter()
                .map(|l| l.leaves_at)
                .fold(requested_at, DateTime::max),
        )
    } else {
        None
    };
    let exited = exit_completes_at.is_some_and(|at| now >= at);
    let explanation = match exit_completes_at {
        None => format!(
            "exit from 安心购 requested {}: {} trade(s) in flight at the request are still in \
             flight; each leaves {} days after it completes (AL-13)",
            bj(&requested_at),
            in_flight.len(),
            i64::from(rules.anxin_gou_leave_days)
        ),
        Some(at) if leaving.is_empty() => format!(
            "exit from 安心购 requested {}: no 安心购 trade was in flight, so nothing waits \
             (AL-13)",
            bj(&at)
        ),
        Some(at) => format!(
            "exit from 安心购 requested {}: the last of {} trade(s) in flight at the request \
             leaves at {} (AL-13); {}",
            bj(&requested_at),
            leaving.len(),
            bj(&at),
            if exited {
                "the exit is complete"
            } else {
                "until then no new 安心购 service order arises unless the service is reopened"
            }
        ),
    };
    AnxinGouExitReport {
        rule: Rule::Al13,
        requested_at,
        leaving,
        in_flight,
        exit_completes_at,
        exited,
        explanation,
    }
}

fn steps(
    services: &ServicesReport,
    conditions: &ConditionsReport,
    release: &ReleaseReport,
    now: DateTime<Utc>,
) -> Vec<Step> {
    let dated = |at: DateTime<Utc>, explanation: String| {
        if at <= now {
            StepState::Done { since: at }
        } else {
            StepState::Waiting {
                until: at,
                explanation,
            }
        }
    };
    let never = match services.protection {
        ProtectionState::NeverOpened => Some(services.explanation.clone()),
        _ => None,
    };

    // Step 1 (AL-10): close the services.
    let close = match (&never, services.all_closed_at) {
        (Some(reason), _) => StepState::NotApplicable {
            reason: reason.clone(),
        },
        (None, Some(at)) => dated(
            at,
            format!("the last service closes at {} (AL-10)", bj(&at)),
        ),
        (None, None) => StepState::Blocked {
            reasons: services.blocking.iter().map(service_blocker).collect(),
        },
    };

    // Step 2 (AL-11): the conditions on the orders of the protection period.
    let meet = match (&never, services.protection) {
        (Some(reason), _) => StepState::NotApplicable {
            reason: reason.clone(),
        },
        (None, protection) => {
            let mut reasons = Vec::new();
            if let ProtectionState::Active { opened_at } = protection {
                reasons.push(Blocker {
                    rule: Rule::Al11,
                    what: Blocking::ProtectionActive { opened_at },
                    explanation: format!(
                        "买家保障 is active since {}: every order placed while it is active \
                         counts, so the orders to wait for are not known until it is closed \
                         (AL-11, AL-10)",
                        bj(&opened_at)
                    ),
                });
            }
            reasons.extend(conditions.unfinished_trades.iter().map(trade_blocker));
            reasons.extend(
                conditions
                    .unfinished_complaints
                    .iter()
                    .map(complaint_blocker),
            );
            match protection {
                ProtectionState::Ended { closed_at, .. } if reasons.is_empty() => {
                    let mut until = closed_at;
                    let mut why = format!("买家保障 closes at {}", bj(&closed_at));
                    if let Some(p) = &conditions.last_acceptance_period {
                        if p.ends_at > until {
                            until = p.ends_at;
                            why = p.explanation.clone();
                        }
                    }
                    if let Some(at) = conditions.last_complaint_finished_at {
                        if at > until {
                            until = at;
                            why = format!("the last complaint concludes at {}", bj(&at));
                        }
                    }
                    let why = if conditions.counted_orders > 0 {
                        why
                    } else {
                        format!("{why}; no order was placed while 买家保障 was active")
                    };
                    dated(
                        until,
                        format!("waiting for the last condition (AL-11): {why}"),
                    )
                }
                _ => StepState::Blocked { reasons },
            }
        }
    };

    // Step 3 (AL-12): unfreeze on the third day, then transfer out.
    let unfreeze = match (&never, release.unfreezes_at) {
        (Some(reason), _) => StepState::NotApplicable {
            reason: reason.clone(),
        },
        (None, Some(at)) => dated(
            at,
            format!(
                "the deposit unfreezes at {} (AL-12); then transfer it out (转出)",
                bj(&at)
            ),
        ),
        (None, None) => StepState::Blocked {
            reasons: release.not_computable.clone(),
        },
    };

    vec![
        Step {
            step: 1,
            rule: Rule::Al10,
            title: "close 买家保障 and every closable sub-service",
            state: close,
        },
        Step {
            step: 2,
            rule: Rule::Al11,
            title: "meet the release conditions on the orders of the protection period",
            state: meet,
        },
        Step {
            step: 3,
            rule: Rule::Al12,
            title: "the deposit unfreezes on the third day; transfer it out (转出)",
            state: unfreeze,
        },
    ]
}

// ---- Time helpers --------------------------------------------------------------------------

/// A platform time as a merchant reads it: Beijing, `yyyy-MM-dd HH:mm:ss`.
fn bj(t: &DateTime<Utc>) -> String {
    t.with_timezone(&PLATFORM_TZ)
        .format("%Y-%m-%d %H:%M:%S Beijing")
        .to_string()
}

fn beijing_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&PLATFORM_TZ).date_naive()
}

/// AL-12: the Beijing date the deposit unfreezes when the conditions hold at `t`.
fn unfreeze_day(t: DateTime<Utc>, rules: &DepositRules) -> NaiveDate {
    let day = beijing_date(t);
    day.checked_add_days(Days::new(u64::from(rules.unfreeze_after_days)))
        .unwrap_or(day)
}

/// 00:00 Beijing on `date`. Midnight exists on every Beijing date this service meets (China
/// has kept no daylight saving since 1991, and its old changes were at 02:00); the fallback
/// is the fixed +08:00 offset.
fn start_of_beijing_day(date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    PLATFORM_TZ
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight) - Duration::hours(8))
}

/// `t + d`, saturating instead of panicking at the end of time.
fn plus(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// ---- The deposit-release case ---------------------------------------------------------------

/// What a deposit-release case keeps of its latest evaluation (the three steps of AL-10 …
/// AL-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositTracking {
    pub evaluated_at: DateTime<Utc>,
    /// The first step not done yet (1 close the services, 2 conditions, 3 transfer out); 4
    /// when the deposit is unfrozen and only the transfer remains.
    pub step: u8,
    pub conditions_hold_at: Option<DateTime<Utc>>,
    pub unfreezes_at: Option<DateTime<Utc>>,
    /// What still holds the deposit, each "RULE: explanation".
    pub blockers: Vec<String>,
}

impl DepositTracking {
    pub fn of(e: &DepositReleaseEvaluation) -> DepositTracking {
        let step = e
            .steps
            .iter()
            .find(|s| !matches!(s.state, StepState::Done { .. }))
            .map_or(4, |s| s.step);
        let mut blockers: Vec<String> = e
            .release
            .not_computable
            .iter()
            .map(|b| format!("{}: {}", b.rule.as_str(), b.explanation))
            .collect();
        blockers.extend(
            e.conditions
                .last_acceptance_period
                .iter()
                .map(|p| format!("{}: {}", p.rule.as_str(), p.explanation)),
        );
        DepositTracking {
            evaluated_at: e.evaluated_at,
            step,
            conditions_hold_at: e.release.conditions_hold_at,
            unfreezes_at: e.release.unfreezes_at,
            blockers,
        }
    }
}

impl crate::case::Case {
    /// Record a new evaluation on a deposit-release case: the merchant has work while a
    /// service or an order holds the deposit; once everything holds it only waits for the
    /// unfreeze date, which becomes the case's deadline (AL-12), replacing the previous one.
    pub(crate) fn track_deposit(
        &self,
        tracking: &DepositTracking,
        policy: &crate::policy::Policy,
        actor: crate::event::Actor,
        now: DateTime<Utc>,
    ) -> Result<crate::action::Change, crate::error::DomainError> {
        use crate::deadline::{Consequence, Deadline, DeadlineSource, DeadlineState, DueParty};
        use crate::state::CaseState;
        if self.kind != crate::case::CaseKind::DepositRelease {
            return Err(crate::error::DomainError::ActionNotApplicableToKind {
                action: crate::ActionKind::UpdateDepositRelease,
                kind: self.kind,
            });
        }
        if self.state.is_resolved() {
            return Err(crate::error::DomainError::ActionNotAllowedInState {
                action: crate::ActionKind::UpdateDepositRelease,
                state: self.state,
            });
        }
        let to = match tracking.unfreezes_at {
            // Nothing left for the merchant but to wait, then transfer the money out.
            Some(_) => CaseState::AwaitingMerchantExecution,
            None => CaseState::AwaitingMerchant,
        };
        if !self.state.can_move_to(to) {
            return Err(crate::error::DomainError::IllegalTransition {
                from: self.state,
                to,
            });
        }
        let mut next = self.clone();
        next.enter_state(to, policy, now, None, DeadlineState::Cancelled);
        for d in next
            .deadlines
            .iter_mut()
            .filter(|d| d.key == UNFREEZE_DEADLINE)
        {
            d.close(DeadlineState::Cancelled, now);
        }
        // A date already past needs no clock: the tracking says it is unfrozen.
        if let Some(due) = tracking.unfreezes_at.filter(|due| *due > now) {
            next.deadlines.push(Deadline {
                key: UNFREEZE_DEADLINE.into(),
                rule_id: "AL-12".into(),
                due_party: DueParty::Platform,
                due_at: due,
                remind_at: None,
                consequence: Consequence::DepositUnfrozen,
                source: DeadlineSource::Facts,
                computed_due_at: None,
                state: DeadlineState::Active,
                started_at: now,
                reminded_at: None,
                closed_at: None,
                assumed: true,
            });
        }
        next.deposit = Some(tracking.clone());
        next.updated_at = now;
        next.version += 1;
        Ok(crate::action::Change {
            events: vec![crate::event::NewEvent {
                kind: crate::event::EventKind::MerchantAction(
                    crate::ActionKind::UpdateDepositRelease,
                ),
                actor,
                from_state: Some(self.state),
                to_state: Some(to),
                detail: serde_json::json!({ "tracking": tracking, "rule": "AL-12" }),
                occurred_at: now,
            }],
            case: next,
        })
    }
}

/// The deposit-release case's deadline: the unfreeze date.
pub const UNFREEZE_DEADLINE: &str = "deposit_unfreeze";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_shanghai;

    /// The 1688 policy's numbers (crates/platforms/policies/alibaba1688).
    const RULES: DepositRules = DepositRules {
        acceptance_period_days: 30,
        unfreeze_after_days: 3,
        anxin_gou_leave_days: 90,
    };

    fn at(beijing: &str) -> DateTime<Utc> {
        parse_shanghai(beijing).unwrap()
    }

    fn period(from: &str, to: Option<&str>) -> ProtectionPeriod {
        ProtectionPeriod {
            opened_at: at(from),
            closed_at: to.map(at),
        }
    }

    #[test]
    fn periods_merge_when_they_overlap_or_touch_and_an_open_one_swallows_the_rest() {
        let merged = merge_periods(vec![
            period("2025-06-01 00:00:00", Some("2025-07-01 00:00:00")),
            period("2025-01-01 00:00:00", Some("2025-03-01 00:00:00")),
            period("2025-02-01 00:00:00", Some("2025-04-01 00:00:00")),
            period("2025-04-01 00:00:00", Some("2025-04-15 00:00:00")),
        ]);
        assert_eq!(
            merged,
            vec![
                period("2025-01-01 00:00:00", Some("2025-04-15 00:00:00")),
                period("2025-06-01 00:00:00", Some("2025-07-01 00:00:00")),
            ]
        );
        let open = merge_periods(vec![
            period("2025-01-01 00:00:00", None),
            period("2025-02-01 00:00:00", Some("2025-03-01 00:00:00")),
        ]);
        assert_eq!(open, vec![period("2025-01-01 00:00:00", None)]);
    }

    #[test]
    fn membership_includes_both_ends_and_skips_gaps() {
        let periods = vec![
            period("2025-01-01 00:00:00", Some("2025-03-01 00:00:00")),
            period("2025-06-01 00:00:00", None),
        ];
        for (t, inside) in [
            ("2024-12-31 23:59:59", false),
            ("2025-01-01 00:00:00", true),
            ("2025-03-01 00:00:00", true),
            ("2025-03-01 00:00:01", false),
            ("2025-05-31 23:59:59", false),
            ("2025-06-01 00:00:00", true),
            ("2030-01-01 00:00:00", true),
        ] {
            assert_eq!(in_protection(&periods, at(t)), inside, "{t}");
        }
        assert!(!in_protection(&[], at("2025-01-01 00:00:00")));
    }

    #[test]
    fn the_unfreeze_day_is_counted_in_beijing() {
        // 23:30 and 00:30 Beijing are 15:30 and 16:30 UTC of the same UTC day.
        assert_eq!(
            unfreeze_day(at("2026-04-13 23:30:00"), &RULES),
            NaiveDate::from_ymd_opt(2026, 4, 16).unwrap()
        );
        assert_eq!(
            unfreeze_day(at("2026-04-14 00:30:00"), &RULES),
            NaiveDate::from_ymd_opt(2026, 4, 17).unwrap()
        );
        assert_eq!(
            start_of_beijing_day(NaiveDate::from_ymd_opt(2026, 4, 16).unwrap()),
            at("2026-04-16 00:00:00")
        );
    }
}
