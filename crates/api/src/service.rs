//! The `aftersales.v1.AftersalesService` implementation: authenticate, parse, decide in the
//! domain, persist in one store write, answer.

use crate::case_views::{CaseResponse, ListCasesAnswer};
use crate::convert::{
    address_text, case_name, case_to_pb, draft_from_pb, due_deadline_to_pb, event_to_pb,
    from_timestamp, parse_case_name, policy_to_pb, shipment_from_pb, signing_check_to_pb,
    task_reply_from_pb, timeline_step_to_pb, Violations,
};
use crate::error::ApiError;
use crate::gate::principal_of;
use crate::query::{page_size, parse_due_filter, parse_filter, PageTokens};
use aftersales_domain::access::{Permission, Principal, Target};
use aftersales_domain::event::{Actor, EventKind, NewEvent};
use aftersales_domain::{
    BoundedText, Case, CaseId, Clock, Fen, MerchantAction, OrderId, PlatformCode, PlatformInput,
    PlatformNotice, PlatformOutcome, Policy, PolicyRegistry, Shipment, ShopId, TenantId,
};
use aftersales_platforms::AdapterRegistry;
use aftersales_proto::v1 as pb;
use aftersales_proto::v1::aftersales_service_server::AftersalesService;
use aftersales_store::{
    Caller, CaseRead, CaseWrite, DueDeadline, DueDeadlineCursor, HealthQuery, IdempotencyRecord,
    OrderRef, Store, StoreError, WriteMode,
};
use prost::Message;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{Instrument, Span};

/// PD-06: the ERP's stock answer, if sent.
fn stock_check_from_pb(
    c: Option<&pb::StockCheck>,
) -> Result<Option<aftersales_domain::action::StockCheck>, ApiError> {
    let Some(c) = c else { return Ok(None) };
    let mut v = Violations::default();
    if c.checked_by.trim().is_empty() {
        v.add(
            "stock_check.checked_by",
            "required: who answered the stock check",
        );
    }
    let checked_by = v.text("stock_check.checked_by", c.checked_by.trim());
    let note = v.text("stock_check.note", &c.note);
    v.into_result()?;
    Ok(Some(aftersales_domain::action::StockCheck {
        in_stock: c.in_stock,
        checked_by,
        note,
    }))
}

/// AL-01: the plan as sent; completeness is the domain's to judge (it names what is missing).
fn return_plan_from_pb(
    p: Option<&pb::ReturnPlan>,
) -> Result<Option<aftersales_domain::action::ReturnPlanDraft>, ApiError> {
    use aftersales_domain::action::FreightPayment;
    let Some(p) = p else { return Ok(None) };
    let mut v = Violations::default();
    let freight = match pb::FreightPayment::try_from(p.freight) {
        Ok(pb::FreightPayment::Collect) => Some(FreightPayment::Collect),
        Ok(pb::FreightPayment::Prepaid) => Some(FreightPayment::Prepaid),
        Ok(pb::FreightPayment::Unspecified) => None,
        Err(_) => {
            v.add("return_plan.freight", "not a FreightPayment value");
            None
        }
    };
    if p.return_within_days < 0 {
        v.add("return_plan.return_within_days", "must not be negative");
    }
    let draft = aftersales_domain::action::ReturnPlanDraft {
        address: v.text("return_plan.address", p.address.trim()),
        recipient: v.text("return_plan.recipient", p.recipient.trim()),
        phone: v.text("return_plan.phone", p.phone.trim()),
        carrier: v.text("return_plan.carrier", p.carrier.trim()),
        freight,
        carrier_requirement: v.text(
            "return_plan.carrier_requirement",
            p.carrier_requirement.trim(),
        ),
        return_within_days: u32::try_from(p.return_within_days).unwrap_or(0),
        goods_condition: v.text("return_plan.goods_condition", p.goods_condition.trim()),
        chat_record: v.text("return_plan.chat_record", p.chat_record.trim()),
    };
    v.into_result()?;
    Ok(Some(draft))
}

/// AL-20 … AL-22: the appeal as sent; whether its ground is valid is the domain's to say.
fn appeal_from_pb(a: Option<&pb::Appeal>) -> Result<aftersales_domain::appeal::Appeal, ApiError> {
    use aftersales_domain::appeal::{Appeal, AppealGround};
    let Some(a) = a else {
        return Err(ApiError::field("appeal", "required"));
    };
    let mut v = Violations::default();
    let ground = pb::AppealGround::try_from(a.ground).ok().and_then(|p| {
        AppealGround::ALL
            .into_iter()
            .find(|g| crate::evidence::appeal_ground_to_pb(*g) == p)
    });
    if ground.is_none() {
        v.add("appeal.ground", "required: an AppealGround");
    }
    if a.appealed.trim().is_empty() {
        v.add(
            "appeal.appealed",
            "required: the ruling or penalty appealed",
        );
    }
    if a.statement.trim().is_empty() {
        v.add("appeal.statement", "required");
    }
    let appealed = v.text("appeal.appealed", a.appealed.trim());
    let statement = v.text("appeal.statement", a.statement.trim());
    let evidence = match crate::evidence::items_from_pb(&a.evidence) {
        Ok(items) => items,
        Err(ApiError::InvalidArgument(more)) => {
            v.extend(
                more.into_iter()
                    .map(|(f, p)| (format!("appeal.evidence.{f}"), p))
                    .collect(),
            );
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    v.into_result()?;
    let ground = ground.ok_or_else(|| {
        ApiError::Internal("appeal validation let a missing ground through".into())
    })?;
    Ok(Appeal {
        ground,
        appealed,
        statement,
        evidence,
    })
}

/// AL-20: whom the platform ruled for, and what it said.
fn ruling_from_pb(req: &pb::RecordRulingRequest) -> Result<MerchantAction, ApiError> {
    use aftersales_domain::appeal::RulingFor;
    let mut v = Violations::default();
    let in_favour_of = match pb::RulingFor::try_from(req.in_favour_of) {
        Ok(pb::RulingFor::Buyer) => Some(RulingFor::Buyer),
        Ok(pb::RulingFor::Merchant) => Some(RulingFor::Merchant),
        Ok(pb::RulingFor::Unspecified) | Err(_) => {
            v.add("in_favour_of", "required: BUYER or MERCHANT");
            None
        }
    };
    if req.note.trim().is_empty() {
        v.add("note", "required: what the platform decided");
    }
    let note = v.text("note", req.note.trim());
    v.into_result()?;
    in_favour_of
        .map(|in_favour_of| MerchantAction::RecordRuling { in_favour_of, note })
        .ok_or_else(|| ApiError::Internal("ruling validation let a missing field through".into()))
}

/// the satisfaction check as the domain takes it; the outcome is required.
fn satisfaction_check_from_pb(
    req: &pb::RecordSatisfactionCheckRequest,
) -> Result<MerchantAction, ApiError> {
    use aftersales_domain::satisfaction::SatisfactionReport;
    let mut v = Violations::default();
    let outcome = pb::SatisfactionOutcome::try_from(req.outcome)
        .ok()
        .and_then(crate::convert::satisfaction_outcome_from_pb);
    if outcome.is_none() {
        v.add(
            "outcome",
            "required: SATISFIED, DISSATISFIED or UNREACHABLE",
        );
    }
    let note = v.text("note", &req.note);
    v.into_result()?;
    outcome
        .map(|outcome| {
            MerchantAction::RecordSatisfactionCheck(SatisfactionReport {
                outcome,
                note,
                review_invited: req.review_invited,
            })
        })
        .ok_or_else(|| ApiError::Internal("satisfaction validation let no outcome through".into()))
}

/// AL-03: the change and the new shipment, both required.
fn tracking_change_from_pb(
    req: &pb::RecordTrackingChangeRequest,
) -> Result<MerchantAction, ApiError> {
    use aftersales_domain::action::TrackingChange;
    let mut v = Violations::default();
    let change = match pb::TrackingChange::try_from(req.change) {
        Ok(pb::TrackingChange::Corrected) => Some(TrackingChange::Corrected),
        Ok(pb::TrackingChange::AddedLater) => Some(TrackingChange::AddedLater),
        Ok(pb::TrackingChange::ReplacedForReship) => Some(TrackingChange::ReplacedForReship),
        Ok(pb::TrackingChange::Unspecified) | Err(_) => {
            v.add(
                "change",
                "required: CORRECTED, ADDED_LATER or REPLACED_FOR_RESHIP",
            );
            None
        }
    };
    let shipment = shipment_from_pb(&mut v, "shipment", req.shipment.as_ref());
    v.into_result()?;
    match (change, shipment) {
        (Some(change), Some(shipment)) => {
            Ok(MerchantAction::RecordTrackingChange { change, shipment })
        }
        _ => Err(ApiError::Internal(
            "tracking validation let a missing field through".into(),
        )),
    }
}

/// Both results, or every field violation of both at once (a caller fixes them in one go).
fn merge_violations<A, B>(
    a: Result<A, ApiError>,
    b: Result<B, ApiError>,
) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(ApiError::InvalidArgument(mut x)), Err(ApiError::InvalidArgument(y))) => {
            x.extend(y);
            Err(ApiError::InvalidArgument(x))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Native records larger than this are refused before parsing: no platform sends one.
pub const MAX_NATIVE_RECORD_BYTES: usize = 1 << 20;
/// Optimistic-concurrency retries for calls without an etag.
const WRITE_ATTEMPTS: usize = 5;
const WATCH_BATCH: u32 = 200;

pub struct ApiConfig {
    pub page_token_secret: Vec<u8>,
    /// How often a WatchCaseEvents stream looks for events written by other replicas.
    pub watch_poll: Duration,
}

pub struct AftersalesApi {
    store: Arc<dyn Store>,
    adapters: AdapterRegistry,
    policies: Arc<PolicyRegistry>,
    clock: Arc<dyn Clock>,
    page_tokens: PageTokens,
    /// Bumped after every committed write so local watchers wake at once.
    feed: watch::Sender<u64>,
    /// Turns true when the server drains: open event streams end so shutdown can finish.
    shutdown: watch::Receiver<bool>,
    watch_poll: Duration,
    /// The gate's authenticator, told when a key is revoked or rotated here.
    authenticator: Option<crate::auth::Authenticator>,
}

impl AftersalesApi {
    pub fn new(
        store: Arc<dyn Store>,
        adapters: AdapterRegistry,
        policies: Arc<PolicyRegistry>,
        clock: Arc<dyn Clock>,
        config: ApiConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (feed, _) = watch::channel(0);
        // Every case this process writes from now on keeps GetCase's answer beside it.
        aftersales_store::render_case_views_with(&crate::case_views::API_CASE_VIEW);
        AftersalesApi {
            store,
            adapters,
            policies,
            clock,
            page_tokens: PageTokens::new(&config.page_token_secret),
            feed,
            shutdown,
            watch_poll: config.watch_poll,
            authenticator: None,
        }
    }

    /// Revocations and rotations made through this service take effect at once in `auth`
    /// (which otherwise re-reads a key's row only after its time-to-live).
    pub fn with_authenticator(mut self, auth: crate::auth::Authenticator) -> Self {
        self.authenticator = Some(auth);
        self
    }

    pub(crate) fn forget_key(&self, key_id: &str) {
        if let Some(auth) = &self.authenticator {
            auth.forget(key_id);
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn page_tokens(&self) -> &PageTokens {
        &self.page_tokens
    }

    /// A handle that wakes this server's WatchCaseEvents streams, for writers outside the API
    /// (the deadline engine).
    pub fn commit_notifier(&self) -> watch::Sender<u64> {
        self.feed.clone()
    }

    fn notify(&self) {
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn policy_of(&self, case: &Case) -> Result<&Policy, ApiError> {
        self.policies
            .version(&case.platform, &case.policy_version)
            .ok_or_else(|| {
                ApiError::Internal(format!(
                    "case {} opened under policy {} of {}, which this build does not have",
                    case.id, case.policy_version, case.platform
                ))
            })
    }

    /// AIP-155: the first answer to a request id, if there was one.
    async fn replay<M: Message + Default>(
        &self,
        tenant: &TenantId,
        request_id: &str,
        method: &str,
        fingerprint: &str,
    ) -> Result<Option<M>, ApiError> {
        if request_id.is_empty() {
            return Ok(None);
        }
        let Some(rec) = self.store.idempotent_response(tenant, request_id).await? else {
            return Ok(None);
        };
        if rec.method != method || rec.fingerprint != fingerprint {
            return Err(ApiError::RequestIdReused {
                request_id: request_id.to_string(),
            });
        }
        M::decode(rec.response.as_slice()).map(Some).map_err(|e| {
            ApiError::Internal(format!(
                "stored response for {request_id} does not decode: {e}"
            ))
        })
    }

    /// A concurrent request with the same request_id committed first: answer with its response.
    async fn replay_after_race<M: Message + Default>(
        &self,
        tenant: &TenantId,
        request_id: &str,
        method: &str,
        fingerprint: &str,
    ) -> Result<M, ApiError> {
        self.replay(tenant, request_id, method, fingerprint)
            .await?
            .ok_or_else(|| ApiError::Internal("duplicate request without a stored answer".into()))
    }

    /// A refusal, unless this very request — an earlier attempt or a concurrent copy — is
    /// what changed the case: then its stored answer is this one's too (AIP-155: a retry
    /// must never be told its successful first attempt failed).
    async fn refuse_unless_replayed<M: Message + Default>(
        &self,
        tenant: &TenantId,
        request_id: &str,
        method: &str,
        fingerprint: &str,
        refusal: ApiError,
    ) -> Result<M, ApiError> {
        match self.replay(tenant, request_id, method, fingerprint).await? {
            Some(done) => Ok(done),
            None => Err(refusal),
        }
    }

    fn policy_in_force(
        &self,
        platform: &PlatformCode,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<&Policy, ApiError> {
        self.policies
            .in_force(platform, at)
            .ok_or_else(|| ApiError::Domain {
                error: aftersales_domain::DomainError::NoPolicyInForce {
                    platform: platform.to_string(),
                    at: at.to_rfc3339(),
                },
                subject: format!("platforms/{platform}"),
            })
    }

    fn unknown_platform(&self, code: &PlatformCode) -> String {
        let known: Vec<&str> = self.adapters.platforms().map(|p| p.as_str()).collect();
        format!(
            "no adapter for platform {code}; supported: {}",
            known.join(", ")
        )
    }

    fn idempotency<M: Message>(
        &self,
        request_id: &str,
        method: &str,
        fingerprint: &str,
        response: &M,
    ) -> Option<IdempotencyRecord> {
        (!request_id.is_empty()).then(|| IdempotencyRecord {
            request_id: request_id.to_string(),
            method: method.to_string(),
            fingerprint: fingerprint.to_string(),
            response: response.encode_to_vec(),
            created_at: self.clock.now(),
        })
    }

    /// The cases already opened on an order, when a rule needs them (TB-03, TB-29, PD-07).
    async fn order_history(
        &self,
        tenant: &TenantId,
        needed: bool,
        platform: &PlatformCode,
        shop: &ShopId,
        order_id: &Option<OrderId>,
    ) -> Result<Vec<Case>, ApiError> {
        let Some(order_id) = order_id.clone().filter(|_| needed) else {
            return Ok(Vec::new());
        };
        let order = OrderRef {
            platform: platform.clone(),
            shop: shop.clone(),
            order_id,
        };
        Ok(self.store.cases_on_order(tenant, &order).await?)
    }

    /// The case `id` of the caller's tenant, if the caller may do `need` on it: a case of
    /// another tenant or outside the caller's shops is NOT_FOUND, like one that never
    /// existed; TB-22 and roles answer PERMISSION_DENIED.
    async fn load_case(
        &self,
        p: &Principal,
        id: &CaseId,
        need: Permission,
    ) -> Result<Case, ApiError> {
        let case = self
            .store
            .case(&p.tenant, id)
            .await?
            .ok_or_else(|| case_not_found(id))?;
        admit_to_case(p, need, id, case_target(&case), &case.platform)?;
        Ok(case)
    }

    /// Every merchant action goes through here: checked, applied in the domain, written with
    /// its event in one transaction, retried on a concurrent change unless the caller pinned
    /// an etag.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        p: &Principal,
        method: &'static str,
        name: &str,
        etag: &str,
        request_id: &str,
        fingerprint: String,
        action: Result<MerchantAction, ApiError>,
    ) -> Result<pb::Case, ApiError> {
        let (id, action) = merge_violations(parse_case_name("name", name), action)?;
        check_request_id(request_id)?;
        // Access first: a stored answer is only replayed to a caller who may act on the case
        // now (a revoked scope must not read it back through a retry).
        //
        // No lookup of the request_id before acting: a retry of a request that already
        // succeeded finds the case changed (an etag mismatch), the action no longer
        // applicable (a domain refusal) or, if it still applies, its idempotency record
        // taken (DuplicateRequest); each of the three answers with the stored response, so
        // a first attempt — nearly every call — is spared a read.
        let mut case = self.load_case(p, &id, Permission::Act).await?;
        for attempt in 0..WRITE_ATTEMPTS {
            // The first attempt uses the case read for the access check; a retry after a
            // concurrent change reads it again.
            if attempt > 0 {
                case = self.load_case(p, &id, Permission::Act).await?;
            }
            if !etag.is_empty() && etag != case.etag() {
                let mismatch = ApiError::EtagMismatch {
                    name: case_name(&id),
                    current: case.etag(),
                };
                return self
                    .refuse_unless_replayed(&p.tenant, request_id, method, &fingerprint, mismatch)
                    .await;
            }
            let policy = self.policy_of(&case)?;
            let now = self.clock.now();
            let change = match case.apply_merchant_action(
                &action,
                policy,
                Actor::merchant(&p.account),
                now,
            ) {
                Ok(change) => change,
                Err(error) => {
                    if let Some(done) = self
                        .replay::<pb::Case>(&p.tenant, request_id, method, &fingerprint)
                        .await?
                    {
                        return Ok(done);
                    }
                    // Refused attempts are part of the record, but change nothing.
                    let refusal = NewEvent {
                        kind: EventKind::ActionRefused(action.kind()),
                        actor: Actor::merchant(&p.account),
                        from_state: Some(case.state),
                        to_state: None,
                        detail: serde_json::json!({ "action": action.kind().as_str(), "reason": error.reason(), "message": error.to_string() }),
                        occurred_at: now,
                    };
                    self.store
                        .write(CaseWrite {
                            case,
                            mode: WriteMode::EventsOnly,
                            events: vec![refusal],
                            idempotency: None,
                            caller: Some(caller_of(p)),
                        })
                        .await?;
                    self.notify();
                    return Err(ApiError::Domain {
                        error,
                        subject: case_name(&id),
                    });
                }
            };
            let response = case_to_pb(change.case.clone());
            let write = CaseWrite {
                idempotency: self.idempotency(request_id, method, &fingerprint, &response),
                mode: WriteMode::Update {
                    expected_version: case.version,
                },
                case: change.case,
                events: change.events,
                caller: Some(caller_of(p)),
            };
            match self.store.write(write).await {
                Ok(_) => {
                    self.notify();
                    return Ok(response);
                }
                Err(StoreError::VersionConflict { .. }) if !etag.is_empty() => {
                    let current = self.load_case(p, &id, Permission::Read).await?;
                    return Err(ApiError::EtagMismatch {
                        name: case_name(&id),
                        current: current.etag(),
                    });
                }
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(StoreError::DuplicateRequest { .. }) => {
                    return self
                        .replay_after_race(&p.tenant, request_id, method, &fingerprint)
                        .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Contended {
            name: case_name(&id),
        })
    }

    async fn ingest(
        &self,
        p: &Principal,
        req: pb::IngestPlatformCaseRequest,
    ) -> Result<pb::IngestPlatformCaseResponse, ApiError> {
        const METHOD: &str = "IngestPlatformCase";
        let fingerprint = fingerprint(&req);
        let mut v = Violations::default();
        let shop = v.check("shop", ShopId::parse(req.shop.as_str()));
        let platform = v.check("platform", PlatformCode::parse(req.platform.as_str()));
        let adapter = platform.as_ref().and_then(|code| {
            let a = self.adapters.get(code).cloned();
            if a.is_none() {
                v.add("platform", self.unknown_platform(code));
            }
            a
        });
        if req.native_record_json.trim().is_empty() {
            v.add("native_record_json", "required");
        } else if req.native_record_json.len() > MAX_NATIVE_RECORD_BYTES {
            v.add(
                "native_record_json",
                format!("larger than {MAX_NATIVE_RECORD_BYTES} bytes"),
            );
        }
        if let Err(ApiError::InvalidArgument(more)) = check_request_id(&req.request_id) {
            v.extend(more);
        }
        v.into_result()?;
        let (Some(shop), Some(platform), Some(adapter)) = (shop, platform, adapter) else {
            return Err(ApiError::Internal(
                "ingest validation let a missing field through".into(),
            ));
        };
        Span::current().record("platform", platform.as_str());
        // The shop is the caller's own naming: outside its scope is PERMISSION_DENIED.
        authorize_shop(p, Permission::Act, &shop, false)?;
        if let Some(done) = self
            .replay(&p.tenant, &req.request_id, METHOD, &fingerprint)
            .await?
        {
            return Ok(done);
        }
        let record = match adapter
            .map_record(req.native_record_json.as_bytes())
            .map_err(ApiError::BadNativeRecord)?
        {
            PlatformInput::Record(record) => *record,
            PlatformInput::Notice(notice) => {
                return self
                    .ingest_notice(p, &shop, &platform, notice, &req.request_id, &fingerprint)
                    .await
            }
        };
        // TB-22: a platform task is answered only by accounts with the permission, and
        // ingesting one is part of working it.
        authorize_shop(p, Permission::Act, &shop, record.kind.is_platform_task())?;
        let platform_case_id = record.platform_case_id.to_string();
        for _ in 0..WRITE_ATTEMPTS {
            let now = self.clock.now();
            let existing = self
                .store
                .case_by_platform_id(&p.tenant, &platform, &record.platform_case_id)
                .await?;
            let (write, outcome) = match existing {
                None => {
                    let opened = record.opened_at.unwrap_or(now);
                    let policy = self.policy_in_force(&platform, opened)?;
                    // TB-29 needs the earlier tasks on the sub-order; other kinds need nothing.
                    let earlier = self
                        .order_history(
                            &p.tenant,
                            record.kind.is_platform_task(),
                            &platform,
                            &shop,
                            &record.order_id,
                        )
                        .await?;
                    let change = Case::from_platform(
                        new_case_id(),
                        p.tenant.clone(),
                        shop.clone(),
                        platform.clone(),
                        record.clone(),
                        policy,
                        now,
                        &earlier,
                    )
                    .map_err(|error| ApiError::Domain {
                        error,
                        subject: format!("platforms/{platform}"),
                    })?;
                    (
                        CaseWrite {
                            case: change.case,
                            mode: WriteMode::Insert,
                            events: change.events,
                            idempotency: None,
                            caller: Some(caller_of(p)),
                        },
                        pb::IngestOutcome::Created,
                    )
                }
                Some(case) => {
                    Span::current().record("case_id", case.id.as_str());
                    if case.shop != shop {
                        return Err(wrong_shop(p, &platform, &record.platform_case_id, &case));
                    }
                    let policy = self.policy_of(&case)?;
                    match case.apply_platform_record(record.clone(), policy, now) {
                        PlatformOutcome::Applied(change) => (
                            CaseWrite {
                                mode: WriteMode::Update {
                                    expected_version: case.version,
                                },
                                case: change.case,
                                events: change.events,
                                idempotency: None,
                                caller: Some(caller_of(p)),
                            },
                            pb::IngestOutcome::Updated,
                        ),
                        PlatformOutcome::Unchanged => {
                            // A concurrent copy of this request may be what stored it.
                            let replayed = self
                                .replay(&p.tenant, &req.request_id, METHOD, &fingerprint)
                                .await?;
                            return Ok(replayed.unwrap_or(pb::IngestPlatformCaseResponse {
                                case: Some(case_to_pb(case)),
                                outcome: pb::IngestOutcome::Unchanged as i32,
                                platform_case_id,
                            }));
                        }
                        PlatformOutcome::Stale(event) => (
                            CaseWrite {
                                case,
                                mode: WriteMode::EventsOnly,
                                events: vec![event],
                                idempotency: None,
                                caller: Some(caller_of(p)),
                            },
                            pb::IngestOutcome::Stale,
                        ),
                        PlatformOutcome::Refused(event, error) => {
                            if let Some(done) = self
                                .replay(&p.tenant, &req.request_id, METHOD, &fingerprint)
                                .await?
                            {
                                return Ok(done);
                            }
                            let subject = case_name(&case.id);
                            self.store
                                .write(CaseWrite {
                                    case,
                                    mode: WriteMode::EventsOnly,
                                    events: vec![event],
                                    idempotency: None,
                                    caller: Some(caller_of(p)),
                                })
                                .await?;
                            self.notify();
                            return Err(ApiError::Domain { error, subject });
                        }
                    }
                }
            };
            let response = pb::IngestPlatformCaseResponse {
                case: Some(case_to_pb(write.case.clone())),
                outcome: outcome as i32,
                platform_case_id: platform_case_id.clone(),
            };
            let write = CaseWrite {
                idempotency: self.idempotency(&req.request_id, METHOD, &fingerprint, &response),
                ..write
            };
            Span::current().record("case_id", write.case.id.as_str());
            match self.store.write(write).await {
                Ok(_) => {
                    self.notify();
                    return Ok(response);
                }
                // Someone else created or changed it first: read again and apply on top.
                Err(
                    StoreError::VersionConflict { .. } | StoreError::DuplicatePlatformCase { .. },
                ) => continue,
                Err(StoreError::DuplicateRequest { .. }) => {
                    return self
                        .replay_after_race(&p.tenant, &req.request_id, METHOD, &fingerprint)
                        .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Contended {
            name: format!("platforms/{platform}/records/{}", record.platform_case_id),
        })
    }

    /// A platform message without status (Taobao TMC): mark the known case for a fresh fetch
    /// and record the message; about an unknown record, tell the caller to fetch it.
    async fn ingest_notice(
        &self,
        p: &Principal,
        shop: &ShopId,
        platform: &PlatformCode,
        notice: PlatformNotice,
        request_id: &str,
        fingerprint: &str,
    ) -> Result<pb::IngestPlatformCaseResponse, ApiError> {
        const METHOD: &str = "IngestPlatformCase";
        let platform_case_id = notice.platform_case_id.to_string();
        for _ in 0..WRITE_ATTEMPTS {
            let Some(case) = self
                .store
                .case_by_platform_id(&p.tenant, platform, &notice.platform_case_id)
                .await?
            else {
                // Nothing can be opened from a message without status, and nothing is lost:
                // the caller fetches the record and ingests it.
                return Ok(pb::IngestPlatformCaseResponse {
                    case: None,
                    outcome: pb::IngestOutcome::FetchRequired as i32,
                    platform_case_id,
                });
            };
            Span::current().record("case_id", case.id.as_str());
            if &case.shop != shop {
                return Err(wrong_shop(p, platform, &notice.platform_case_id, &case));
            }
            let change = case.note_platform_notice(&notice, self.clock.now());
            let response = pb::IngestPlatformCaseResponse {
                case: Some(case_to_pb(change.case.clone())),
                outcome: pb::IngestOutcome::RefreshRequested as i32,
                platform_case_id: platform_case_id.clone(),
            };
            let write = CaseWrite {
                idempotency: self.idempotency(request_id, METHOD, fingerprint, &response),
                mode: WriteMode::Update {
                    expected_version: case.version,
                },
                case: change.case,
                events: change.events,
                caller: Some(caller_of(p)),
            };
            match self.store.write(write).await {
                Ok(_) => {
                    self.notify();
                    return Ok(response);
                }
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(StoreError::DuplicateRequest { .. }) => {
                    return self
                        .replay_after_race(&p.tenant, request_id, METHOD, fingerprint)
                        .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Contended {
            name: format!("platforms/{platform}/records/{platform_case_id}"),
        })
    }

    async fn create(
        &self,
        p: &Principal,
        req: pb::CreateCaseRequest,
    ) -> Result<pb::Case, ApiError> {
        let fingerprint = fingerprint(&req);
        let Some(case) = req.case else {
            return Err(ApiError::field("case", "required"));
        };
        self.create_with(p, "CreateCase", case, &req.request_id, fingerprint, None)
            .await
    }

    /// Open a case (CreateCase, or FileAppeal with its appeal) under the policy in force.
    async fn create_with(
        &self,
        p: &Principal,
        method: &'static str,
        case: pb::Case,
        request_id: &str,
        fingerprint: String,
        appeal: Option<aftersales_domain::appeal::Appeal>,
    ) -> Result<pb::Case, ApiError> {
        let draft = draft_from_pb(Some(&case));
        let (mut draft, ()) = merge_violations(draft, check_request_id(request_id))?;
        draft.appeal = appeal;
        Span::current().record("platform", draft.platform.as_str());
        if self.adapters.get(&draft.platform).is_none() {
            return Err(ApiError::field(
                "case.platform",
                self.unknown_platform(&draft.platform),
            ));
        }
        authorize_shop(
            p,
            Permission::Act,
            &draft.shop,
            draft.kind.is_platform_task(),
        )?;
        if let Some(done) = self
            .replay::<pb::Case>(&p.tenant, request_id, method, &fingerprint)
            .await?
        {
            return Ok(done);
        }
        let now = self.clock.now();
        let platform = draft.platform.clone();
        let policy = self.policy_in_force(&platform, now)?;
        let platform_case_id = draft.platform_case_id.clone();
        // TB-20: the task records whether its parcel was really signed for elsewhere.
        draft.task = draft.task.map(aftersales_platforms::signing::checked);
        // TB-03, TB-29, PD-07 and PD-E10 look at what the order already had. Two concurrent creates
        // on one order can both pass; the platform itself is the final guard there.
        // PD-E10: an evidence request looks for a return the merchant signed for.
        let needs_history = (draft.kind.is_buyer_request() && policy.limits_requests())
            || draft.kind.is_platform_task()
            || draft.evidence_request.is_some();
        let earlier = self
            .order_history(
                &p.tenant,
                needs_history,
                &platform,
                &draft.shop,
                &draft.order_id,
            )
            .await?;
        let change = match Case::open(
            new_case_id(),
            p.tenant.clone(),
            draft,
            policy,
            Actor::merchant(&p.account),
            now,
            &earlier,
        ) {
            Ok(change) => change,
            // TB-03 and the like may be seeing the case a concurrent copy of this request
            // opened since the replay check.
            Err(error) => {
                let refusal = ApiError::Domain {
                    error,
                    subject: "cases".into(),
                };
                return self
                    .refuse_unless_replayed(&p.tenant, request_id, method, &fingerprint, refusal)
                    .await;
            }
        };
        Span::current().record("case_id", change.case.id.as_str());
        let response = case_to_pb(change.case.clone());
        let write = CaseWrite {
            idempotency: self.idempotency(request_id, method, &fingerprint, &response),
            case: change.case,
            mode: WriteMode::Insert,
            events: change.events,
            caller: Some(caller_of(p)),
        };
        match self.store.write(write).await {
            Ok(_) => {
                self.notify();
                Ok(response)
            }
            Err(StoreError::DuplicatePlatformCase { .. }) => Err(ApiError::AlreadyExists {
                resource_type: "aftersales.v1.Case",
                name: format!(
                    "platforms/{platform}/records/{}",
                    platform_case_id.map(|i| i.to_string()).unwrap_or_default()
                ),
            }),
            Err(StoreError::DuplicateRequest { .. }) => {
                self.replay_after_race(&p.tenant, request_id, method, &fingerprint)
                    .await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn list_cases_impl(
        &self,
        p: &Principal,
        req: pb::ListCasesRequest,
    ) -> Result<ListCasesAnswer, ApiError> {
        let size = page_size(req.page_size, 50, 500)?;
        let mut query = parse_filter(&req.filter, self.clock.now())?;
        query.shops = scoped_shops(p, query.shop.as_ref())?;
        let scope = format!("ListCases|{}", req.filter);
        if !req.page_token.is_empty() {
            query.after_id = Some(self.page_tokens.open_case_id(&scope, &req.page_token)?);
        }
        query.limit = size + 1;
        let mut cases = self.store.list_case_reads(&p.tenant, &query).await?;
        let next_page_token = self
            .page_tokens
            .finish_page(&mut cases, size, &scope, |c| match c {
                CaseRead::View(view) => view.id.to_string(),
                CaseRead::Case(case) => case.id.to_string(),
            });
        Ok(ListCasesAnswer {
            cases: cases
                .into_iter()
                .map(|read| match read {
                    CaseRead::View(view) => CaseResponse::Encoded(view.bytes),
                    CaseRead::Case(case) => CaseResponse::Message(Box::new(case_to_pb(*case))),
                })
                .collect(),
            next_page_token,
        })
    }

    async fn list_events_impl(
        &self,
        p: &Principal,
        req: pb::ListCaseEventsRequest,
    ) -> Result<pb::ListCaseEventsResponse, ApiError> {
        let id = parse_case_name("parent", &req.parent)?;
        let size = page_size(req.page_size, 100, 1000)?;
        let scope = format!("ListCaseEvents|{}", req.parent);
        let after = if req.page_token.is_empty() {
            0
        } else {
            self.page_tokens
                .open(&scope, &req.page_token)?
                .parse::<i64>()
                .map_err(|_| ApiError::field("page_token", "corrupt position"))?
        };
        self.load_case(p, &id, Permission::Read).await?;
        let mut events = self
            .store
            .case_events(&p.tenant, &id, after, size + 1)
            .await?;
        let next_page_token = self
            .page_tokens
            .finish_page(&mut events, size, &scope, |e| e.seq.to_string());
        Ok(pb::ListCaseEventsResponse {
            events: events.iter().map(event_to_pb).collect(),
            next_page_token,
        })
    }

    async fn list_due_deadlines_impl(
        &self,
        p: &Principal,
        req: pb::ListDueDeadlinesRequest,
    ) -> Result<pb::ListDueDeadlinesResponse, ApiError> {
        let size = page_size(req.page_size, 100, 1000)?;
        let mut query = parse_due_filter(&req.filter, self.clock.now())?;
        query.shops = scoped_shops(p, query.shop.as_ref())?;
        let scope = format!("ListDueDeadlines|{}", req.filter);
        if !req.page_token.is_empty() {
            let pos = self.page_tokens.open(&scope, &req.page_token)?;
            query.after = Some(
                decode_due_cursor(&pos)
                    .ok_or_else(|| ApiError::field("page_token", "corrupt position"))?,
            );
        }
        query.limit = size + 1;
        let mut due = self.store.list_due_deadlines(&p.tenant, &query).await?;
        let next_page_token =
            self.page_tokens
                .finish_page(&mut due, size, &scope, encode_due_cursor);
        Ok(pb::ListDueDeadlinesResponse {
            due_deadlines: due.iter().map(due_deadline_to_pb).collect(),
            next_page_token,
        })
    }

    async fn project_timeline_impl(
        &self,
        p: &Principal,
        req: pb::ProjectCaseTimelineRequest,
    ) -> Result<pb::ProjectCaseTimelineResponse, ApiError> {
        let id = parse_case_name("name", &req.name)?;
        let max_steps = match req.max_steps {
            n if n < 0 => return Err(ApiError::field("max_steps", "must not be negative")),
            0 => 20,
            n => (n as usize).min(100),
        };
        let case = self.load_case(p, &id, Permission::Read).await?;
        let policy = self.policy_of(&case)?;
        let steps = case.project_timeline(policy, self.clock.now(), max_steps);
        Ok(pb::ProjectCaseTimelineResponse {
            case: Some(case_to_pb(case)),
            steps: steps.iter().map(timeline_step_to_pb).collect(),
        })
    }

    fn get_policy_impl(&self, req: pb::GetPolicyRequest) -> Result<pb::Policy, ApiError> {
        let bad = || {
            ApiError::field("name", "must be platforms/{platform}/policies/{version} or platforms/{platform}/policies/-")
        };
        let rest = req.name.strip_prefix("platforms/").ok_or_else(bad)?;
        let (platform, version) = rest.split_once("/policies/").ok_or_else(bad)?;
        let platform =
            PlatformCode::parse(platform).map_err(|e| ApiError::field("name", e.to_string()))?;
        Span::current().record("platform", platform.as_str());
        let found = if version == "-" {
            let at = match &req.effective_time {
                Some(t) => from_timestamp(t)
                    .ok_or_else(|| ApiError::field("effective_time", "not a valid timestamp"))?,
                None => self.clock.now(),
            };
            self.policies.in_force(&platform, at)
        } else {
            self.policies.version(&platform, version)
        };
        found.map(policy_to_pb).ok_or_else(|| ApiError::NotFound {
            resource_type: "aftersales.v1.Policy",
            name: req.name.clone(),
        })
    }
}

/// A work-queue position: due time, case and deadline index, so equal due times page
/// stably.
fn encode_due_cursor(d: &DueDeadline) -> String {
    format!(
        "{}:{}:{}",
        aftersales_domain::time::to_millis(d.deadline.due_at),
        d.position,
        d.case_id
    )
}

fn decode_due_cursor(raw: &str) -> Option<DueDeadlineCursor> {
    let mut parts = raw.splitn(3, ':');
    let due_ms: i64 = parts.next()?.parse().ok()?;
    let position: u32 = parts.next()?.parse().ok()?;
    let case_id = CaseId::parse(parts.next()?).ok()?;
    Some(DueDeadlineCursor {
        due_at: aftersales_domain::time::from_millis(due_ms),
        case_id,
        position,
    })
}

/// A shop-scoped caller's listing is limited to its shops; a shop it names itself must be
/// one of them (PERMISSION_DENIED, not an empty page that looks like "no cases").
fn scoped_shops(p: &Principal, named: Option<&ShopId>) -> Result<Vec<ShopId>, ApiError> {
    if let Some(shop) = named {
        authorize_shop(p, Permission::Read, shop, false)?;
    }
    Ok(p.shops.shops().to_vec())
}

/// A platform record sent under the wrong shop. The right shop is named only to a caller who
/// may see it: to a shop-scoped key the record's case in another shop must stay invisible.
fn wrong_shop(
    p: &Principal,
    platform: &PlatformCode,
    record: &aftersales_domain::PlatformCaseId,
    case: &Case,
) -> ApiError {
    if p.shops.allows(&case.shop) {
        ApiError::field(
            "shop",
            format!("{platform} record {record} belongs to shop {}", case.shop),
        )
    } else {
        ApiError::from_denial(aftersales_domain::access::Denial::Shop {
            account: p.account.clone(),
            shop: "of this record".into(),
        })
    }
}

/// The caller may do `need` in a shop it named itself (a request's shop, a new case's):
/// outside its scope is PERMISSION_DENIED, not NOT_FOUND.
fn authorize_shop(
    p: &Principal,
    need: Permission,
    shop: &ShopId,
    platform_task: bool,
) -> Result<(), ApiError> {
    p.authorize(
        need,
        Some(Target {
            shop,
            platform_task,
        }),
    )
    .map_err(ApiError::from_denial)
}

fn case_not_found(id: &CaseId) -> ApiError {
    ApiError::NotFound {
        resource_type: "aftersales.v1.Case",
        name: case_name(id),
    }
}

/// The caller may act on (or read) the case `target` describes, which is now the call's.
fn admit_to_case(
    p: &Principal,
    need: Permission,
    id: &CaseId,
    target: Target<'_>,
    platform: &PlatformCode,
) -> Result<(), ApiError> {
    p.authorize(need, Some(target))
        .map_err(|d| ApiError::denial_on(d, "aftersales.v1.Case", case_name(id)))?;
    let span = Span::current();
    span.record("case_id", id.as_str());
    span.record("platform", platform.as_str());
    Ok(())
}

fn case_target(case: &Case) -> Target<'_> {
    Target {
        shop: &case.shop,
        platform_task: case.kind.is_platform_task(),
    }
}

/// The audit trail's "who": recorded on every event a call appends.
fn caller_of(p: &Principal) -> Caller {
    Caller {
        account: p.account.clone(),
        key_id: p.key_id.clone(),
    }
}

fn new_case_id() -> CaseId {
    // UUIDv7 is time-ordered, so listing in id order is listing in creation order.
    CaseId::parse(uuid::Uuid::now_v7().to_string()).expect("a UUID is a valid case id")
}

/// Digest of the whole request, so a request id reused with a different body is caught.
fn fingerprint<M: Message>(req: &M) -> String {
    hex::encode(Sha256::digest(req.encode_to_vec()))
}

fn check_request_id(request_id: &str) -> Result<(), ApiError> {
    if request_id.len() > 128
        || request_id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ApiError::field(
            "request_id",
            "at most 128 printable characters without spaces (a UUID is recommended)",
        ));
    }
    Ok(())
}

/// An action that carries a free-text reason.
fn reason_action(
    raw: &str,
    required: bool,
    build: impl FnOnce(BoundedText) -> MerchantAction,
) -> Result<MerchantAction, ApiError> {
    let mut v = Violations::default();
    if required && raw.trim().is_empty() {
        v.add("reason", "required");
    }
    let reason = v.text("reason", raw);
    v.into_result().map(|()| build(reason))
}

/// An action that carries a shipment (carrier and tracking number required).
fn shipment_action(
    raw: Option<&pb::Shipment>,
    build: impl FnOnce(Shipment) -> MerchantAction,
) -> Result<MerchantAction, ApiError> {
    let mut v = Violations::default();
    let shipment = shipment_from_pb(&mut v, "shipment", raw);
    v.into_result()?;
    shipment
        .map(build)
        .ok_or_else(|| ApiError::field("shipment", "required"))
}

/// Turns the domain result into a tonic one, logging a failure. The status code goes on the
/// RPC span in the gate, from the response as sent (so tonic's own errors and timeouts are
/// recorded too, and only once).
fn respond<T>(result: Result<T, ApiError>) -> Result<Response<T>, Status> {
    match result {
        Ok(v) => Ok(Response::new(v)),
        Err(e) => {
            let status = Status::from(e);
            if matches!(
                status.code(),
                tonic::Code::Internal | tonic::Code::Unavailable
            ) {
                tracing::warn!(code = ?status.code(), message = status.message(), "rpc failed");
            } else {
                tracing::info!(code = ?status.code(), message = status.message(), "rpc refused");
            }
            Err(status)
        }
    }
}

/// A handler body run as the caller the gate admitted: `|p, req| …` yields
/// `Result<_, ApiError>` (with `?` and `.await`), answered through `respond`.
macro_rules! as_caller {
    ($request:ident, |$p:tt, $req:ident| $body:expr) => {{
        let (_, extensions, $req) = $request.into_parts();
        let result = async {
            let $p = principal_of(&extensions)?;
            $body
        }
        .await;
        respond(result)
    }};
}

/// The body of a custom method that applies one merchant action to a case (AIP-136): read
/// the request, build the action from it, apply it through `act` as the caller the gate
/// admitted, answer.
macro_rules! act_rpc {
    ($api:expr, $request:ident, $method:literal, |$req:ident| $action:expr) => {{
        let (_, extensions, $req) = $request.into_parts();
        let fp = fingerprint(&$req);
        let action = $action;
        let result = match principal_of(&extensions) {
            Ok(p) => {
                $api.act(
                    &p,
                    $method,
                    &$req.name,
                    &$req.etag,
                    &$req.request_id,
                    fp,
                    action,
                )
                .await
            }
            Err(e) => Err(e),
        };
        respond(result)
    }};
}

/// A response of stored views as the generated message, decoding the views.
fn as_message<T, M>(
    response: Response<T>,
    into_message: impl FnOnce(T) -> Result<M, prost::DecodeError>,
) -> Result<Response<M>, Status> {
    let (metadata, answer, extensions) = response.into_parts();
    let message = into_message(answer)
        .map_err(|e| Status::internal(format!("a stored case view does not decode: {e}")))?;
    Ok(Response::from_parts(metadata, message, extensions))
}

impl AftersalesApi {
    /// ListCases: each case's stored view where it is current, else the case from its body.
    pub(crate) async fn list_cases_answer(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<ListCasesAnswer>, Status> {
        as_caller!(request, |p, req| self.list_cases_impl(&p, req).await)
    }

    /// GetCase: the stored view where it is current, else the case from its body
    /// (crate::case_views); the same checks either way.
    pub(crate) async fn get_case_response(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<CaseResponse>, Status> {
        as_caller!(request, |p, req| {
            let id = parse_case_name("name", &req.name)?;
            let read = self.store.case_read(&p.tenant, &id).await?;
            match read.ok_or_else(|| case_not_found(&id))? {
                CaseRead::View(view) => {
                    let target = Target {
                        shop: &view.shop,
                        platform_task: view.kind.is_platform_task(),
                    };
                    admit_to_case(&p, Permission::Read, &id, target, &view.platform)?;
                    Ok(CaseResponse::Encoded(view.bytes))
                }
                CaseRead::Case(case) => {
                    admit_to_case(
                        &p,
                        Permission::Read,
                        &id,
                        case_target(&case),
                        &case.platform,
                    )?;
                    Ok(CaseResponse::Message(Box::new(case_to_pb(*case))))
                }
            }
        })
    }
}

#[tonic::async_trait]
impl AftersalesService for AftersalesApi {
    async fn ingest_platform_case(
        &self,
        request: Request<pb::IngestPlatformCaseRequest>,
    ) -> Result<Response<pb::IngestPlatformCaseResponse>, Status> {
        as_caller!(request, |p, req| self.ingest(&p, req).await)
    }

    async fn create_case(
        &self,
        request: Request<pb::CreateCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        as_caller!(request, |p, req| self.create(&p, req).await)
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        // Served by crate::case_views::StoredViewRoute in the server; this is the same
        // answer as a message, for a service mounted without that route.
        as_message(
            self.get_case_response(request).await?,
            CaseResponse::into_message,
        )
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        // As GetCase.
        as_message(
            self.list_cases_answer(request).await?,
            ListCasesAnswer::into_message,
        )
    }

    async fn list_case_events(
        &self,
        request: Request<pb::ListCaseEventsRequest>,
    ) -> Result<Response<pb::ListCaseEventsResponse>, Status> {
        as_caller!(request, |p, req| self.list_events_impl(&p, req).await)
    }

    async fn agree_case(
        &self,
        request: Request<pb::AgreeCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "AgreeCase", |req| merge_violations(
            stock_check_from_pb(req.stock_check.as_ref()),
            return_plan_from_pb(req.return_plan.as_ref()),
        )
        .map(|(stock_check, return_plan)| MerchantAction::Agree {
            stock_check,
            return_plan,
        }))
    }

    async fn file_appeal(
        &self,
        request: Request<pb::FileAppealRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        as_caller!(request, |p, req| {
            let appeal = appeal_from_pb(req.appeal.as_ref())?;
            // An appeal is a case of kind APPEAL the platform reviews; CreateCase does the
            // rest (idempotency, the write, the event).
            let case = pb::Case {
                shop: req.shop.clone(),
                platform: req.platform.clone(),
                order_id: req.order_id.clone(),
                kind: pb::CaseKind::Appeal as i32,
                reason: appeal.statement.as_str().into(),
                ..Default::default()
            };
            self.create_with(
                &p,
                "FileAppeal",
                case,
                &req.request_id,
                fingerprint(&req),
                Some(appeal),
            )
            .await
        })
    }

    async fn record_ruling(
        &self,
        request: Request<pb::RecordRulingRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RecordRuling", |req| ruling_from_pb(&req))
    }

    async fn evaluate_deposit_release(
        &self,
        request: Request<pb::EvaluateDepositReleaseRequest>,
    ) -> Result<Response<pb::DepositReleaseEvaluation>, Status> {
        as_caller!(request, |p, req| {
            let platform = PlatformCode::parse(req.platform.as_str())
                .map_err(|e| ApiError::field("platform", e.to_string()));
            let (platform, facts) =
                merge_violations(platform, crate::deposit::facts_from_pb(&req))?;
            let now = self.clock.now();
            let policy = self.policy_in_force(&platform, now)?;
            let rules = policy.deposit_release.ok_or_else(|| {
                ApiError::field(
                    "platform",
                    format!(
                        "{platform}'s policy {} has no deposit-release rules",
                        policy.version
                    ),
                )
            })?;
            let evaluation =
                aftersales_domain::deposit::evaluate_deposit_release(&facts, &rules, now)
                    .map_err(|e| ApiError::field("trades", e.to_string()))?;
            if !req.name.is_empty() {
                let tracking = aftersales_domain::deposit::DepositTracking::of(&evaluation);
                self.act(
                    &p,
                    "EvaluateDepositRelease",
                    &req.name,
                    "",
                    &req.request_id,
                    fingerprint(&req),
                    Ok(MerchantAction::UpdateDepositRelease(tracking)),
                )
                .await?;
            }
            Ok(crate::deposit::evaluation_to_pb(&evaluation))
        })
    }

    async fn get_shop_health(
        &self,
        request: Request<pb::GetShopHealthRequest>,
    ) -> Result<Response<pb::GetShopHealthResponse>, Status> {
        as_caller!(request, |p, req| {
            let mut v = Violations::default();
            let from = crate::deposit::required_time(&mut v, "start_time", &req.start_time);
            let to = crate::deposit::required_time(&mut v, "end_time", &req.end_time);
            if let (Some(f), Some(t)) = (from, to) {
                if t <= f {
                    v.add("end_time", "must be after start_time");
                }
            }
            let platform = (!req.platform.is_empty())
                .then(|| v.check("platform", PlatformCode::parse(req.platform.as_str())))
                .flatten();
            let shop = (!req.shop.is_empty())
                .then(|| v.check("shop", ShopId::parse(req.shop.as_str())))
                .flatten();
            v.into_result()?;
            let (Some(from), Some(to)) = (from, to) else {
                return Err(ApiError::Internal(
                    "window validation let a missing time through".into(),
                ));
            };
            let shops = scoped_shops(&p, shop.as_ref())?;
            let facts = self
                .store
                .case_health_facts(
                    &p.tenant,
                    &HealthQuery {
                        from,
                        to,
                        platform,
                        shop,
                        shops,
                    },
                )
                .await?;
            let shops = aftersales_domain::health::shop_health(&facts)
                .into_iter()
                .map(|h| pb::ShopHealth {
                    platform: h.platform,
                    shop: h.shop,
                    cases: h.cases as i64,
                    intervened: h.intervened as i64,
                    intervention_rate: h.intervention_rate,
                    disputed: h.disputed as i64,
                    dispute_rate: h.dispute_rate,
                    resolved: h.resolved as i64,
                    resolved_on_time: h.resolved_on_time as i64,
                    resolved_after_deadline: h.resolved_after_deadline as i64,
                    median_first_response_seconds: h.median_first_response_seconds,
                    responded: h.responded as i64,
                    satisfaction_checked: h.satisfaction_checked as i64,
                    satisfied: h.satisfied as i64,
                    dissatisfied: h.dissatisfied as i64,
                    satisfaction_rate: h.satisfaction_rate,
                })
                .collect();
            Ok(pb::GetShopHealthResponse { shops })
        })
    }

    async fn record_tracking_change(
        &self,
        request: Request<pb::RecordTrackingChangeRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RecordTrackingChange", |req| {
            tracking_change_from_pb(&req)
        })
    }

    async fn record_buyer_confirmation(
        &self,
        request: Request<pb::RecordBuyerConfirmationRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RecordBuyerConfirmation", |req| Ok(
            MerchantAction::RecordBuyerConfirmation
        ))
    }

    async fn reject_case(
        &self,
        request: Request<pb::RejectCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RejectCase", |req| reason_action(
            &req.reason,
            true,
            |reason| MerchantAction::Reject { reason }
        ))
    }

    async fn record_return_shipment(
        &self,
        request: Request<pb::RecordReturnShipmentRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(
            self,
            request,
            "RecordReturnShipment",
            |req| shipment_action(req.shipment.as_ref(), |shipment| {
                MerchantAction::RecordReturnShipment { shipment }
            })
        )
    }

    async fn confirm_return_received(
        &self,
        request: Request<pb::ConfirmReturnReceivedRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "ConfirmReturnReceived", |req| Ok(
            MerchantAction::ConfirmReturnReceived
        ))
    }

    async fn record_reship(
        &self,
        request: Request<pb::RecordReshipRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RecordReship", |req| shipment_action(
            req.shipment.as_ref(),
            |shipment| { MerchantAction::RecordReship { shipment } }
        ))
    }

    async fn refund_case(
        &self,
        request: Request<pb::RefundCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RefundCase", |req| match req.amount_fen {
            None => Ok(MerchantAction::Refund { amount: None }),
            Some(n) if n > 0 => Fen::new(n)
                .map(|a| MerchantAction::Refund { amount: Some(a) })
                .map_err(|e| ApiError::field("amount_fen", e.to_string())),
            Some(_) => Err(ApiError::field("amount_fen", "must be positive when set")),
        })
    }

    async fn escalate_case(
        &self,
        request: Request<pb::EscalateCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "EscalateCase", |req| reason_action(
            &req.reason,
            false,
            |reason| MerchantAction::Escalate { reason }
        ))
    }

    async fn close_case(
        &self,
        request: Request<pb::CloseCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "CloseCase", |req| reason_action(
            &req.reason,
            true,
            |reason| MerchantAction::Close { reason }
        ))
    }

    async fn record_satisfaction_check(
        &self,
        request: Request<pb::RecordSatisfactionCheckRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "RecordSatisfactionCheck", |req| {
            satisfaction_check_from_pb(&req)
        })
    }

    type WatchCaseEventsStream = ReceiverStream<Result<pb::WatchCaseEventsResponse, Status>>;

    async fn watch_case_events(
        &self,
        request: Request<pb::WatchCaseEventsRequest>,
    ) -> Result<Response<Self::WatchCaseEventsStream>, Status> {
        let span = Span::current();
        let setup = async {
            let (_, ext, req) = request.into_parts();
            let p = principal_of(&ext)?;
            if req.after_sequence < 0 {
                return Err(ApiError::field("after_sequence", "must not be negative"));
            }
            // A shop-scoped account follows only its shops' cases.
            Ok((p.tenant, p.shops.shops().to_vec(), req.after_sequence))
        }
        .await;
        let (tenant, shops, mut cursor) = match setup {
            Ok(v) => v,
            Err(e) => return respond::<()>(Err(e)).map(|_| unreachable!()),
        };
        let (tx, rx) = mpsc::channel(64);
        let store = self.store.clone();
        let mut changes = self.feed.subscribe();
        let mut shutdown = self.shutdown.clone();
        let poll = self.watch_poll;
        tokio::spawn(
            async move {
                loop {
                    match store
                        .tenant_events(&tenant, &shops, cursor, WATCH_BATCH)
                        .await
                    {
                        Ok(events) => {
                            let full = events.len() == WATCH_BATCH as usize;
                            for e in events {
                                cursor = e.seq;
                                let msg = pb::WatchCaseEventsResponse {
                                    event: Some(event_to_pb(&e)),
                                };
                                if tx.send(Ok(msg)).await.is_err() {
                                    return;
                                }
                            }
                            if full {
                                continue;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(Status::from(ApiError::from(e)))).await;
                            return;
                        }
                    }
                    if *shutdown.borrow() {
                        return;
                    }
                    // Local writes wake us at once; writes on other replicas are found by
                    // the periodic look.
                    tokio::select! {
                        _ = changes.changed() => {}
                        _ = tokio::time::sleep(poll) => {}
                        _ = shutdown.changed() => return,
                        _ = tx.closed() => return,
                    }
                }
            }
            .instrument(span),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_due_deadlines(
        &self,
        request: Request<pb::ListDueDeadlinesRequest>,
    ) -> Result<Response<pb::ListDueDeadlinesResponse>, Status> {
        as_caller!(request, |p, req| self
            .list_due_deadlines_impl(&p, req)
            .await)
    }

    async fn project_case_timeline(
        &self,
        request: Request<pb::ProjectCaseTimelineRequest>,
    ) -> Result<Response<pb::ProjectCaseTimelineResponse>, Status> {
        as_caller!(request, |p, req| self.project_timeline_impl(&p, req).await)
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        as_caller!(request, |_p, req| self.get_policy_impl(req))
    }

    async fn check_signed_elsewhere(
        &self,
        request: Request<pb::CheckSignedElsewhereRequest>,
    ) -> Result<Response<pb::SignedElsewhereCheck>, Status> {
        as_caller!(request, |_p, req| {
            let mut v = Violations::default();
            let delivery = address_text(&mut v, "delivery_address", &req.delivery_address);
            let signing = address_text(&mut v, "signing_location", &req.signing_location);
            v.into_result()?;
            let check = aftersales_platforms::signing::check(&delivery, &signing);
            Ok(signing_check_to_pb(&check))
        })
    }

    async fn check_evidence(
        &self,
        request: Request<pb::CheckEvidenceRequest>,
    ) -> Result<Response<pb::EvidenceCheck>, Status> {
        as_caller!(request, |p, req| {
            let id = parse_case_name("name", &req.name);
            let items = crate::evidence::items_from_pb(&req.items);
            let (id, items) = merge_violations(id, items)?;
            let case = self.load_case(&p, &id, Permission::Read).await?;
            let policy = self.policy_of(&case)?;
            let verdict =
                case.check_evidence(&items, policy)
                    .map_err(|error| ApiError::Domain {
                        error,
                        subject: case_name(&id),
                    })?;
            let request = case.evidence_request.as_ref().ok_or_else(|| {
                ApiError::Internal("a checked case has an evidence request".into())
            })?;
            Ok(crate::evidence::verdict_to_pb(request, &verdict))
        })
    }

    async fn submit_evidence(
        &self,
        request: Request<pb::SubmitEvidenceRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "SubmitEvidence", |req| {
            crate::evidence::items_from_pb(&req.items).map(|items| {
                if req.stage_only {
                    MerchantAction::StageEvidence { items }
                } else {
                    MerchantAction::SubmitEvidence { items }
                }
            })
        })
    }

    async fn reply_signed_elsewhere_task(
        &self,
        request: Request<pb::ReplySignedElsewhereTaskRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        act_rpc!(self, request, "ReplySignedElsewhereTask", |req| {
            task_reply_from_pb(req.reply.as_ref()).map(MerchantAction::ReplyToTask)
        })
    }

    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        as_caller!(request, |p, req| self.create_api_key_impl(&p, req).await)
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        as_caller!(request, |p, req| self.list_api_keys_impl(&p, req).await)
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        as_caller!(request, |p, req| self.revoke_api_key_impl(&p, req).await)
    }

    async fn rotate_api_key(
        &self,
        request: Request<pb::RotateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        as_caller!(request, |p, req| self.rotate_api_key_impl(&p, req).await)
    }
}
