//! What happens when a deadline's time comes: first the "about to time out" reminder,
//! then, if nobody acted, the platform's consequence applied through the state machine.
//!
//! Pure: the deadline engine claims due timers from the store, loads the cases and calls
//! [`Case::apply_due_timers`]; the same function, run forward in time, is the "what happens if
//! nobody acts" projection ([`Case::project_timeline`]).

use crate::action::Change;
use crate::case::Case;
use crate::deadline::{Consequence, Deadline, DeadlineState};
use crate::event::{Actor, ActorKind, EventKind, NewEvent};
use crate::policy::Policy;
use crate::state::CaseState;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Firing one deadline can open the next (auto-agree starts the buyer's return window); after
/// a long outage several may be due at once. Real chains are 2–4 long; the cap only guards
/// against a policy that loops.
const MAX_FIRINGS_PER_CALL: usize = 32;

/// The actor recorded on timer events.
pub fn timer_actor() -> Actor {
    Actor {
        kind: ActorKind::SystemTimer,
        id: "deadline-engine".to_string(),
    }
}

/// Where a consequence takes a case, if anywhere.
fn consequence_target(case: &Case, consequence: Consequence) -> Option<CaseState> {
    match consequence {
        // The platform agrees on the merchant's behalf: the same move as the merchant agreeing
        // (TB-02, TB-07, AL-02).
        Consequence::AutoAgree => crate::action::agree_target(case).ok(),
        // TB-04, TB-10, PD-E1..PD-E7: the buyer is refunded; PD-E6 as a logistics exception.
        Consequence::AutoRefund | Consequence::LogisticsExceptionRefund => {
            Some(CaseState::Refunded)
        }
        // TB-08: the request lapses without a resolution.
        Consequence::AutoClose => Some(CaseState::Expired),
        // TB-25, TB-29/TB-30: the platform takes the case over ("平台介入中: timed out").
        Consequence::PlatformIntervenes | Consequence::FalseShipmentComplaint => {
            Some(CaseState::PlatformIntervening)
        }
        // PD-E8: refund with return; the buyer now sends the goods back, at the merchant's cost.
        Consequence::RefundWithReturnAtMerchantCost => Some(CaseState::AwaitingBuyer),
        // TB-05: the buyer gains a right; AL-12: the money becomes available. Neither moves
        // the case: the merchant acts next.
        Consequence::BuyerMayEscalate | Consequence::DepositUnfrozen => None,
    }
}

fn d_rule(detail: &serde_json::Value) -> String {
    detail["rule"].as_str().unwrap_or_default().to_string()
}

impl Case {
    /// TB-25 / TB-29: a task that times out gets a complaint filed by the platform.
    fn task_complaint_on_timeout(
        &mut self,
        consequence: Consequence,
        rule: String,
        at: DateTime<Utc>,
    ) -> Option<&'static str> {
        let kind = match consequence {
            Consequence::FalseShipmentComplaint => crate::task::ComplaintKind::FalseShipment,
            Consequence::PlatformIntervenes => crate::task::ComplaintKind::OnBuyersBehalf,
            _ => return None,
        };
        self.file_timeout_complaint(kind, &rule, at)
    }
}

/// Whether the consequence pays the buyer back what they asked for.
fn refunds(consequence: Consequence, to: CaseState) -> bool {
    to == CaseState::Refunded
        && matches!(
            consequence,
            Consequence::AutoAgree
                | Consequence::AutoRefund
                | Consequence::LogisticsExceptionRefund
        )
}

impl Case {
    /// The next instant a timer of this case is due: an unsent reminder or an expiry.
    pub fn next_timer_at(&self) -> Option<DateTime<Utc>> {
        self.active_deadlines()
            .flat_map(|d| {
                let reminder = d.remind_at.filter(|_| d.reminded_at.is_none());
                reminder.into_iter().chain(std::iter::once(d.due_at))
            })
            .min()
    }

    /// Apply every timer due at `now`, under the case's own policy version: expire each
    /// deadline whose time has passed (earliest first; each consequence moves the case and may
    /// open deadlines that are themselves already due after an outage), then send the
    /// reminders of deadlines still running. `None` when nothing is due, which is also the
    /// answer when someone acted first and the claimed deadline no longer applies.
    ///
    /// A consequence takes effect at the deadline's due time, not at `now`: the platform
    /// applied it then, so the next state's clocks start then, and the event says how late
    /// this service recorded it.
    pub fn apply_due_timers(&self, policy: &Policy, now: DateTime<Utc>) -> Option<Change> {
        let mut next = self.clone();
        let mut events = Vec::new();
        for _ in 0..MAX_FIRINGS_PER_CALL {
            let due = next
                .deadlines
                .iter()
                .enumerate()
                .filter(|(_, d)| d.is_active() && d.due_at <= now)
                .min_by_key(|(i, d)| (d.due_at, *i))
                .map(|(i, _)| i);
            let Some(position) = due else { break };
            events.push(next.expire(position, policy, now));
        }
        for (position, d) in next.deadlines.iter_mut().enumerate() {
            let Some(remind_at) = d.remind_at else {
                continue;
            };
            if d.is_active() && d.reminded_at.is_none() && remind_at <= now && now < d.due_at {
                d.reminded_at = Some(now);
                events.push(NewEvent {
                    kind: EventKind::DeadlineReminder,
                    actor: timer_actor(),
                    from_state: Some(next.state),
                    to_state: Some(next.state),
                    detail: timer_detail(d, position, now, remind_at),
                    occurred_at: now,
                });
            }
        }
        if events.is_empty() {
            return None;
        }
        next.updated_at = now;
        next.version += 1;
        Some(Change { case: next, events })
    }

    /// Fire deadline `position` and apply its consequence.
    fn expire(&mut self, position: usize, policy: &Policy, now: DateTime<Utc>) -> NewEvent {
        let d = &mut self.deadlines[position];
        let took_effect = d.due_at;
        let consequence = d.consequence;
        d.close(DeadlineState::Fired, now);
        let mut detail = timer_detail(d, position, now, took_effect);
        let from = self.state;
        let target = consequence_target(self, consequence);
        let applied = match target {
            Some(to) if to != from && from.can_move_to(to) => {
                if refunds(consequence, to) {
                    self.refunded = Some(self.requested_refund);
                }
                if let Some(filed) =
                    self.task_complaint_on_timeout(consequence, d_rule(&detail), took_effect)
                {
                    detail["complaint"] = serde_json::json!(filed);
                }
                // The deadlines of the state being left did not run out; they stop mattering.
                self.enter_state(to, policy, took_effect, None, DeadlineState::Cancelled);
                true
            }
            Some(to) => {
                detail["not_applied"] =
                    serde_json::json!(format!("the state machine does not allow {from} -> {to}"));
                false
            }
            None => false,
        };
        detail["consequence_applied"] = serde_json::json!(applied);
        NewEvent {
            kind: EventKind::DeadlineExpired,
            actor: timer_actor(),
            from_state: Some(from),
            to_state: Some(self.state),
            detail,
            occurred_at: now,
        }
    }

    /// "What happens if we do nothing": the reminders and expiries that would follow from now
    /// if neither the merchant, the buyer nor the platform acted, each consequence applied in
    /// turn. Stops when no deadline is left running or after `max_steps` signals.
    pub fn project_timeline(
        &self,
        policy: &Policy,
        now: DateTime<Utc>,
        max_steps: usize,
    ) -> Vec<ProjectedStep> {
        let mut case = self.clone();
        let mut steps = Vec::new();
        while steps.len() < max_steps {
            let Some(at) = case.next_timer_at() else {
                break;
            };
            let at = at.max(now);
            let Some(change) = case.apply_due_timers(policy, at) else {
                break;
            };
            for event in &change.events {
                let Some(step) = ProjectedStep::from_event(event, &change.case, at) else {
                    continue;
                };
                steps.push(step);
            }
            case = change.case;
        }
        steps.truncate(max_steps);
        steps
    }
}

/// One future signal in a projected timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectedStep {
    pub at: DateTime<Utc>,
    pub signal: TimerSignal,
    pub deadline: Deadline,
    pub from_state: CaseState,
    pub to_state: CaseState,
    /// False when the consequence would not move the case (informational, or not allowed).
    pub consequence_applied: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerSignal {
    Reminder,
    Expiry,
}

impl ProjectedStep {
    fn from_event(event: &NewEvent, case: &Case, at: DateTime<Utc>) -> Option<ProjectedStep> {
        let signal = match event.kind {
            EventKind::DeadlineReminder => TimerSignal::Reminder,
            EventKind::DeadlineExpired => TimerSignal::Expiry,
            _ => return None,
        };
        let position = usize::try_from(event.detail.get("position")?.as_u64()?).ok()?;
        let deadline = case.deadlines.get(position)?.clone();
        Some(ProjectedStep {
            at,
            signal,
            deadline,
            from_state: event.from_state?,
            to_state: event.to_state?,
            consequence_applied: event
                .detail
                .get("consequence_applied")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        })
    }
}

/// What a reminder or expiry event says about its deadline. `scheduled` is when the signal was
/// due, so `late_by_ms` shows how long an outage or a busy sweep delayed it.
fn timer_detail(
    d: &Deadline,
    position: usize,
    now: DateTime<Utc>,
    scheduled: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "deadline": d.key,
        "position": position,
        "rule": d.rule_id,
        "due_party": d.due_party,
        "consequence": d.consequence.as_str(),
        "due_at": d.due_at.to_rfc3339(),
        "scheduled_at": scheduled.to_rfc3339(),
        "late_by_ms": (now - scheduled).num_milliseconds().max(0),
        "source": d.source,
        "assumed": d.assumed,
    })
}
