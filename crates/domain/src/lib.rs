//! The common after-sales case model.
//!
//! Everything here is plain Rust: no IO, no async runtime, no database. Adapters translate
//! platform records into these types, the store persists them and the API speaks them over
//! gRPC; the rules about what may happen to a case live here so they can be tested in
//! microseconds.

pub mod access;
pub mod action;
pub mod appeal;
pub mod calendar;
pub mod case;
pub mod clock;
pub mod deadline;
pub mod deposit;
pub mod error;
pub mod event;
pub mod evidence;
pub mod health;
pub mod ids;
pub mod ingest;
pub mod money;
pub mod policy;
pub mod satisfaction;
pub mod state;
pub mod stored_time;
pub mod task;
pub mod text;
pub mod time;
pub mod timer;

pub use action::Change;
pub use action::{ActionKind, MerchantAction};
pub use case::{
    Address, Case, CaseKind, EvidenceRef, Fulfilment, OrderState, PlatformStatus, ReasonCategory,
    RefreshNeeded, Shipment,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deadline::{Consequence, Deadline, DeadlineSource, DeadlineState, DueParty};
pub use error::DomainError;
pub use event::{Actor, ActorKind, EventKind, NewEvent};
pub use ids::{AccountId, CaseId, OrderId, PlatformCaseId, PlatformCode, ShopId, TenantId};
pub use ingest::{CaseDraft, PlatformInput, PlatformNotice, PlatformOutcome, PlatformRecord};
pub use money::Fen;
pub use policy::{Policy, PolicyRegistry};
pub use state::CaseState;
pub use task::{
    ResolvedPlace, SignedElsewhereTask, SigningCheck, SigningVerdict, TaskOutcome, TaskPlan,
    TaskReply, TaskState,
};
pub use text::BoundedText;
pub use timer::{ProjectedStep, TimerSignal};
