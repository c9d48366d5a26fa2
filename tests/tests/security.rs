//! Authentication, authorisation and bad input, RPC by RPC (issue 8, X-01: a merchant's
//! record is its defence, so another tenant must never see or touch it).
//!
//! One dispatcher (`call`) knows how to make a plausible request and a malformed one for
//! every method of the service; each suite below runs it over every method and checks its
//! list against the gate's method table, so an RPC added without a case here fails the suite.

use aftersales_api::gate::METHODS;
use aftersales_domain::access::{Permission, Role};
use aftersales_tests::*;
use std::collections::BTreeSet;
use std::time::Duration;
use tonic::Code;

/// What tenant A owns, named in requests made with other keys.
struct Targets {
    /// A refund-only case of A (shop `tmall-flagship`).
    case: String,
    /// A's signed-elsewhere task (TB-20).
    task: String,
    /// A's key, as `apiKeys/{id}`.
    key_name: String,
    /// Strings that appear only in A's data; none may appear in an answer to anyone else.
    secrets: Vec<String>,
}

/// A marker only tenant A's cases carry.
const A_BUYER: &str = "buyer-of-tenant-a-only";

async fn seed_tenant_a(server: &TestServer, client: &mut Client) -> (String, Targets) {
    let key = server.key("tenant-a", "a-owner", Role::Owner, true).await;
    let case = create(
        client,
        &key,
        pb::Case {
            buyer: A_BUYER.into(),
            ..manual_case(pb::CaseKind::RefundOnly, "a-order-1")
        },
    )
    .await;
    let task = create(
        client,
        &key,
        pb::Case {
            buyer: A_BUYER.into(),
            ..manual_case(pb::CaseKind::SignedElsewhereTask, "a-order-2")
        },
    )
    .await;
    let listed = client
        .list_api_keys(authed(&key, pb::ListApiKeysRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let key_name = listed.api_keys[0].name.clone();
    let case_id = case.name.trim_start_matches("cases/").to_string();
    let task_id = task.name.trim_start_matches("cases/").to_string();
    let key_id = key_name.trim_start_matches("apiKeys/").to_string();
    let targets = Targets {
        case: case.name,
        task: task.name,
        secrets: vec![
            A_BUYER.to_string(),
            case_id,
            task_id,
            key_id,
            "a-owner".into(),
        ],
        key_name,
    };
    (key, targets)
}

fn shipment() -> pb::Shipment {
    pb::Shipment {
        carrier: "SF".into(),
        tracking_number: "SF1234567890".into(),
        ..Default::default()
    }
}

fn evidence_item() -> pb::EvidenceItem {
    pb::EvidenceItem {
        kind: pb::ProofKind::ShippingSlip as i32,
        uri: "oss://proof/1.jpg".into(),
        ..Default::default()
    }
}

/// The answer as text (to search for another tenant's data), or the error.
type Answer = Result<String, tonic::Status>;

fn text<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Answer {
    r.map(|r| format!("{:?}", r.into_inner()))
}

/// Call `method` with `key` (None: no authorization at all) against `t`. With `bad`, the
/// request is malformed in a field the answer must name (returned beside the answer).
async fn call(
    client: &mut Client,
    key: Option<&str>,
    method: &str,
    t: &Targets,
    bad: bool,
) -> (Answer, &'static str) {
    fn req<T>(key: Option<&str>, msg: T) -> tonic::Request<T> {
        match key {
            Some(k) => authed(k, msg),
            None => tonic::Request::new(msg),
        }
    }
    let name = |good: &str| {
        if bad {
            "cases/".to_string()
        } else {
            good.to_string()
        }
    };
    let case = name(&t.case);
    let request_id = uuid::Uuid::new_v4().to_string();
    match method {
        "IngestPlatformCase" => {
            let record = TaobaoRefund::signed_return("a-refund-77");
            (
                text(
                    client
                        .ingest_platform_case(req(
                            key,
                            pb::IngestPlatformCaseRequest {
                                shop: if bad { "Bad Shop".into() } else { SHOP.into() },
                                platform: "taobao".into(),
                                native_record_json: record.json(),
                                request_id,
                            },
                        ))
                        .await,
                ),
                "shop",
            )
        }
        "CreateCase" => {
            let mut c = manual_case(pb::CaseKind::RefundOnly, "b-order-1");
            if bad {
                c.shop = "Bad Shop".into();
            }
            (
                text(
                    client
                        .create_case(req(
                            key,
                            pb::CreateCaseRequest {
                                case: Some(c),
                                request_id,
                            },
                        ))
                        .await,
                ),
                "case.shop",
            )
        }
        "GetCase" => (
            text(
                client
                    .get_case(req(key, pb::GetCaseRequest { name: case }))
                    .await,
            ),
            "name",
        ),
        "ListCases" => (
            text(
                client
                    .list_cases(req(
                        key,
                        pb::ListCasesRequest {
                            page_size: if bad { -1 } else { 0 },
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "page_size",
        ),
        "ListCaseEvents" => (
            text(
                client
                    .list_case_events(req(
                        key,
                        pb::ListCaseEventsRequest {
                            parent: case,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "parent",
        ),
        "AgreeCase" => (
            text(
                client
                    .agree_case(req(
                        key,
                        pb::AgreeCaseRequest {
                            name: case,
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "FileAppeal" => (
            text(
                client
                    .file_appeal(req(
                        key,
                        pb::FileAppealRequest {
                            shop: SHOP.into(),
                            platform: "alibaba1688".into(),
                            order_id: "b-order-9".into(),
                            appeal: (!bad).then(|| pb::Appeal {
                                ground: pb::AppealGround::NewEvidence as i32,
                                appealed: "ruling 1".into(),
                                statement: "we have the signed slip".into(),
                                evidence: vec![evidence_item()],
                            }),
                            request_id,
                        },
                    ))
                    .await,
            ),
            "appeal",
        ),
        "RecordRuling" => (
            text(
                client
                    .record_ruling(req(
                        key,
                        pb::RecordRulingRequest {
                            name: case,
                            in_favour_of: pb::RulingFor::Merchant as i32,
                            note: "ruled".into(),
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "EvaluateDepositRelease" => (
            text(
                client
                    .evaluate_deposit_release(req(
                        key,
                        pb::EvaluateDepositReleaseRequest {
                            shop: SHOP.into(),
                            platform: if bad {
                                "Not A Platform".into()
                            } else {
                                "alibaba1688".into()
                            },
                            name: if bad { String::new() } else { t.case.clone() },
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "platform",
        ),
        "GetShopHealth" => (
            text(
                client
                    .get_shop_health(req(
                        key,
                        pb::GetShopHealthRequest {
                            start_time: (!bad)
                                .then(|| ts(test_epoch() - chrono::Duration::days(30))),
                            end_time: Some(ts(test_epoch() + chrono::Duration::days(1))),
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "start_time",
        ),
        "RecordTrackingChange" => (
            text(
                client
                    .record_tracking_change(req(
                        key,
                        pb::RecordTrackingChangeRequest {
                            name: case,
                            change: pb::TrackingChange::Corrected as i32,
                            shipment: Some(shipment()),
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "RecordBuyerConfirmation" => (
            text(
                client
                    .record_buyer_confirmation(req(
                        key,
                        pb::RecordBuyerConfirmationRequest {
                            name: case,
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "RejectCase" => (
            text(
                client
                    .reject_case(req(
                        key,
                        pb::RejectCaseRequest {
                            name: t.case.clone(),
                            reason: if bad { String::new() } else { "no".into() },
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "reason",
        ),
        "RecordReturnShipment" => (
            text(
                client
                    .record_return_shipment(req(
                        key,
                        pb::RecordReturnShipmentRequest {
                            name: t.case.clone(),
                            shipment: (!bad).then(shipment),
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "shipment",
        ),
        "ConfirmReturnReceived" => (
            text(
                client
                    .confirm_return_received(req(
                        key,
                        pb::ConfirmReturnReceivedRequest {
                            name: case,
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "RecordReship" => (
            text(
                client
                    .record_reship(req(
                        key,
                        pb::RecordReshipRequest {
                            name: t.case.clone(),
                            shipment: (!bad).then(shipment),
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "shipment",
        ),
        "RefundCase" => (
            text(
                client
                    .refund_case(req(
                        key,
                        pb::RefundCaseRequest {
                            name: t.case.clone(),
                            amount_fen: Some(if bad { -5 } else { 100 }),
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "amount_fen",
        ),
        "EscalateCase" => (
            text(
                client
                    .escalate_case(req(
                        key,
                        pb::EscalateCaseRequest {
                            name: case,
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "CloseCase" => (
            text(
                client
                    .close_case(req(
                        key,
                        pb::CloseCaseRequest {
                            name: t.case.clone(),
                            reason: if bad { String::new() } else { "done".into() },
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "reason",
        ),
        "RecordSatisfactionCheck" => (
            text(
                client
                    .record_satisfaction_check(req(
                        key,
                        pb::RecordSatisfactionCheckRequest {
                            name: t.case.clone(),
                            outcome: if bad {
                                pb::SatisfactionOutcome::Unspecified
                            } else {
                                pb::SatisfactionOutcome::Satisfied
                            } as i32,
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "outcome",
        ),
        "WatchCaseEvents" => {
            let answer = match client
                .watch_case_events(req(
                    key,
                    pb::WatchCaseEventsRequest {
                        after_sequence: if bad { -1 } else { 0 },
                    },
                ))
                .await
            {
                Err(status) => Err(status),
                Ok(stream) => {
                    // Whatever the stream yields in a moment is the answer.
                    let mut stream = stream.into_inner();
                    let mut seen = String::new();
                    while let Ok(Ok(Some(m))) =
                        tokio::time::timeout(Duration::from_millis(300), stream.message()).await
                    {
                        seen.push_str(&format!("{m:?}"));
                    }
                    Ok(seen)
                }
            };
            (answer, "after_sequence")
        }
        "GetPolicy" => (
            text(
                client
                    .get_policy(req(
                        key,
                        pb::GetPolicyRequest {
                            name: if bad {
                                "policies".into()
                            } else {
                                "platforms/taobao/policies/-".into()
                            },
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "ListDueDeadlines" => (
            text(
                client
                    .list_due_deadlines(req(
                        key,
                        pb::ListDueDeadlinesRequest {
                            page_size: if bad { -1 } else { 0 },
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "page_size",
        ),
        "ProjectCaseTimeline" => (
            text(
                client
                    .project_case_timeline(req(
                        key,
                        pb::ProjectCaseTimelineRequest {
                            name: case,
                            max_steps: 5,
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "CheckSignedElsewhere" => (
            text(
                client
                    .check_signed_elsewhere(req(
                        key,
                        pb::CheckSignedElsewhereRequest {
                            delivery_address: if bad {
                                String::new()
                            } else {
                                "浙江省杭州市余杭区良渚街道".into()
                            },
                            signing_location: "【杭州市】萧山区北干街道菜鸟驿站已签收".into(),
                        },
                    ))
                    .await,
            ),
            "delivery_address",
        ),
        "ReplySignedElsewhereTask" => (
            text(
                client
                    .reply_signed_elsewhere_task(req(
                        key,
                        pb::ReplySignedElsewhereTaskRequest {
                            name: name(&t.task),
                            request_id,
                            reply: Some(pb::reply_signed_elsewhere_task_request::Reply::ReshipNow(
                                shipment(),
                            )),
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "CheckEvidence" => (
            text(
                client
                    .check_evidence(req(
                        key,
                        pb::CheckEvidenceRequest {
                            name: case,
                            items: vec![evidence_item()],
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "SubmitEvidence" => (
            text(
                client
                    .submit_evidence(req(
                        key,
                        pb::SubmitEvidenceRequest {
                            name: case,
                            items: vec![evidence_item()],
                            request_id,
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "CreateApiKey" => (
            text(
                client
                    .create_api_key(req(
                        key,
                        pb::CreateApiKeyRequest {
                            api_key: Some(pb::ApiKey {
                                account: if bad {
                                    String::new()
                                } else {
                                    "new-agent".into()
                                },
                                role: pb::ApiKeyRole::Agent as i32,
                                ..Default::default()
                            }),
                        },
                    ))
                    .await,
            ),
            "api_key.account",
        ),
        "ListApiKeys" => (
            text(
                client
                    .list_api_keys(req(
                        key,
                        pb::ListApiKeysRequest {
                            page_size: if bad { -1 } else { 0 },
                            ..Default::default()
                        },
                    ))
                    .await,
            ),
            "page_size",
        ),
        "RevokeApiKey" => (
            text(
                client
                    .revoke_api_key(req(
                        key,
                        pb::RevokeApiKeyRequest {
                            name: if bad {
                                "apiKeys/x".into()
                            } else {
                                t.key_name.clone()
                            },
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        "RotateApiKey" => (
            text(
                client
                    .rotate_api_key(req(
                        key,
                        pb::RotateApiKeyRequest {
                            name: if bad {
                                "apiKeys/x".into()
                            } else {
                                t.key_name.clone()
                            },
                            grace_period: None,
                        },
                    ))
                    .await,
            ),
            "name",
        ),
        other => panic!("security.rs has no request for {other}: add one"),
    }
}

fn all_methods() -> Vec<&'static str> {
    METHODS.iter().map(|(m, _)| *m).collect()
}

/// Tenant B's owner (with every permission) calls every RPC at tenant A's resources: each
/// answer is NOT_FOUND, PERMISSION_DENIED, or an answer about B's own (empty) world that
/// contains nothing of A's.
async fn every_rpc_with_another_tenants_key_reveals_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut client = server.client().await;
    let (a_key, t) = seed_tenant_a(&server, &mut client).await;
    let b_key = server.key("tenant-b", "b-owner", Role::Owner, true).await;
    let mut covered = BTreeSet::new();
    for method in all_methods() {
        let (answer, _) = call(&mut client, Some(&b_key), method, &t, false).await;
        match answer {
            Ok(text) => {
                for secret in &t.secrets {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{method} answered tenant B with tenant A's {secret:?}: {text}"
                    );
                }
            }
            Err(status) => assert!(
                matches!(status.code(), Code::NotFound | Code::PermissionDenied),
                "{method}: {status:?}"
            ),
        }
        covered.insert(method);
    }
    assert_eq!(covered.len(), METHODS.len());
    // And nothing of A's changed: A's case has only its creation event, its key still works.
    let events = client
        .list_case_events(authed(
            &a_key,
            pb::ListCaseEventsRequest {
                parent: t.case.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("tenant A's key still works")
        .into_inner()
        .events;
    assert_eq!(
        events.iter().map(|e| e.r#type.as_str()).collect::<Vec<_>>(),
        ["case_created"],
        "tenant B changed tenant A's case"
    );
    server.stop().await;
}

/// Roles are enforced before any handler runs: a viewer may call every reading RPC and no
/// other; an agent may not manage keys. No key at all is UNAUTHENTICATED everywhere.
async fn roles_and_missing_keys_are_refused_for_every_rpc(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut client = server.client().await;
    let (_, t) = seed_tenant_a(&server, &mut client).await;
    let viewer = server.key("tenant-a", "a-viewer", Role::Viewer, true).await;
    let agent = server.key("tenant-a", "a-agent", Role::Agent, true).await;
    for (method, need) in METHODS {
        let (answer, _) = call(&mut client, None, method, &t, false).await;
        let status = answer.expect_err(method);
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{method} without a key"
        );

        let (answer, _) = call(&mut client, Some(&viewer), method, &t, false).await;
        let refused = matches!(&answer, Err(s) if reason(s) == "ROLE_NOT_PERMITTED");
        // EvaluateDepositRelease only reads unless it names a case; naming one is acting.
        let viewer_may = *need == Permission::Read && *method != "EvaluateDepositRelease";
        assert_eq!(refused, !viewer_may, "viewer on {method}: {answer:?}");
        if refused {
            assert_eq!(answer.unwrap_err().code(), Code::PermissionDenied);
        }

        let (answer, _) = call(&mut client, Some(&agent), method, &t, false).await;
        let refused = matches!(&answer, Err(s) if reason(s) == "ROLE_NOT_PERMITTED");
        assert_eq!(
            refused,
            *need == Permission::ManageKeys,
            "agent on {method}: {answer:?}"
        );
    }
    server.stop().await;
}

/// Every RPC checks its request and names the offending field in a BadRequest violation.
async fn every_rpc_names_the_field_it_refuses(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut client = server.client().await;
    let (owner, t) = seed_tenant_a(&server, &mut client).await;
    for method in all_methods() {
        let (answer, field) = call(&mut client, Some(&owner), method, &t, true).await;
        let status = answer.expect_err(method);
        assert_eq!(status.code(), Code::InvalidArgument, "{method}: {status:?}");
        assert!(
            violated_fields(&status).iter().any(|f| f == field),
            "{method} should name {field}: {:?}",
            violated_fields(&status)
        );
    }
    server.stop().await;
}

/// A key scoped to one shop sees and acts on that shop only; another shop's case is
/// NOT_FOUND (its existence is not revealed), naming another shop is PERMISSION_DENIED, its
/// event feed carries only its shop, and it cannot manage keys even as an owner.
async fn a_shop_scoped_key_sees_only_its_shops(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut client = server.client().await;
    let (owner, t) = seed_tenant_a(&server, &mut client).await;
    let other_shop_case = create(
        &mut client,
        &owner,
        pb::Case {
            shop: "jd-outlet".into(),
            ..manual_case(pb::CaseKind::RefundOnly, "outlet-1")
        },
    )
    .await;
    let scoped = server
        .scoped_key(
            "tenant-a",
            "outlet-agent",
            Role::Owner,
            true,
            &["jd-outlet"],
        )
        .await;

    let status = client
        .get_case(authed(
            &scoped,
            pb::GetCaseRequest {
                name: t.case.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    get(&mut client, &scoped, &other_shop_case.name).await;

    let listed = client
        .list_cases(authed(&scoped, pb::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .cases
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [other_shop_case.name.as_str()]
    );
    let status = client
        .list_cases(authed(
            &scoped,
            pb::ListCasesRequest {
                filter: format!("shop = \"{SHOP}\""),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "SHOP_OUT_OF_SCOPE");

    let status = client
        .reject_case(authed(
            &scoped,
            pb::RejectCaseRequest {
                name: t.case.clone(),
                reason: "not ours".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .create_case(authed(
            &scoped,
            pb::CreateCaseRequest {
                case: Some(manual_case(pb::CaseKind::RefundOnly, "x-1")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let due = client
        .list_due_deadlines(authed(&scoped, pb::ListDueDeadlinesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(due
        .due_deadlines
        .iter()
        .all(|d| d.case == other_shop_case.name));

    let mut stream = client
        .watch_case_events(authed(&scoped, pb::WatchCaseEventsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let first = next_event(&mut stream).await;
    assert_eq!(first.case, other_shop_case.name);
    assert!(
        tokio::time::timeout(Duration::from_millis(400), stream.message())
            .await
            .is_err(),
        "only the scoped shop's events are streamed"
    );

    // A platform record of another shop's case, sent under the scoped shop: refused without
    // naming the shop it belongs to.
    let record = TaobaoRefund::signed_return("flagship-refund-1");
    ingest(&mut client, &owner, &record).await.unwrap();
    let status = client
        .ingest_platform_case(authed(
            &scoped,
            pb::IngestPlatformCaseRequest {
                shop: "jd-outlet".into(),
                platform: "taobao".into(),
                native_record_json: record.json(),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(!status.message().contains(SHOP), "{status:?}");

    let status = client
        .list_api_keys(authed(&scoped, pb::ListApiKeysRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    server.stop().await;
}

/// Audit: every event a call appends names the account and key that made it; the deadline
/// engine's events name none.
async fn events_record_the_authenticated_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut client = server.client().await;
    let key = server.key("tenant-a", "alice", Role::Agent, false).await;
    let tenant = aftersales_domain::TenantId::parse("tenant-a").unwrap();
    let keys = server.store.list_api_keys(&tenant, None, 10).await.unwrap();
    let key_name = format!("apiKeys/{}", keys[0].key_id);
    let case = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "o-1"),
    )
    .await;
    client
        .reject_case(authed(
            &key,
            pb::RejectCaseRequest {
                name: case.name.clone(),
                reason: "wrong item returned".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    // A refused action is recorded too, with who tried it.
    let _ = client
        .confirm_return_received(authed(
            &key,
            pb::ConfirmReturnReceivedRequest {
                name: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    server.advance_and_sweep(chrono::Duration::days(30)).await;
    let events = client
        .list_case_events(authed(
            &key,
            pb::ListCaseEventsRequest {
                parent: case.name.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(events.len() >= 3, "{events:?}");
    for e in &events {
        if e.actor_kind == pb::ActorKind::SystemTimer as i32 {
            assert_eq!(e.recorded_by, "", "{e:?}");
        } else {
            assert_eq!(e.recorded_by, "alice", "{e:?}");
            assert_eq!(e.recorded_by_key, key_name, "{e:?}");
        }
    }
    assert!(events.iter().any(|e| e.r#type == "action_refused"));
    server.stop().await;
}

/// Keys over the API: an owner creates one (its secret shown once, never listed), revokes
/// it, and a second server on the same database refuses it on the very next call; a
/// rotation's old key works through its grace period and not after.
async fn keys_are_created_listed_revoked_and_rotated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let replica = server.replica().await;
    let mut client = server.client().await;
    let mut replica_client = replica.client().await;
    let owner = server.key("tenant-a", "a-owner", Role::Owner, false).await;
    let created = client
        .create_api_key(authed(
            &owner,
            pb::CreateApiKeyRequest {
                api_key: Some(pb::ApiKey {
                    account: "erp-sync".into(),
                    role: pb::ApiKeyRole::Agent as i32,
                    shops: vec![SHOP.into()],
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let new_key = created.key.clone();
    let meta = created.api_key.unwrap();
    assert_eq!(meta.state, pb::ApiKeyState::Active as i32);
    assert_eq!(meta.created_by, "a-owner");
    assert_eq!(meta.shops, [SHOP]);
    let list = |c: &mut Client| {
        let mut c = c.clone();
        let owner = owner.clone();
        async move {
            c.list_api_keys(authed(&owner, pb::ListApiKeysRequest::default()))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let listed = list(&mut client).await;
    assert_eq!(listed.api_keys.len(), 2);
    let secret = new_key.rsplit('_').next().unwrap();
    assert!(
        !format!("{listed:?}").contains(secret),
        "a listing shows a secret"
    );

    // The new key works on both servers.
    for c in [&mut client, &mut replica_client] {
        c.list_cases(authed(&new_key, pb::ListCasesRequest::default()))
            .await
            .unwrap();
    }
    let revoked = client
        .revoke_api_key(authed(
            &owner,
            pb::RevokeApiKeyRequest {
                name: meta.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, pb::ApiKeyState::Revoked as i32);
    // At once on the server that revoked it (it forgets the key's row); on another replica
    // once the row it read is older than its time-to-live (1 s by default).
    let refused = |c: &mut Client| {
        let mut c = c.clone();
        let new_key = new_key.clone();
        async move {
            c.list_cases(authed(&new_key, pb::ListCasesRequest::default()))
                .await
                .map(|_| ())
        }
    };
    assert_eq!(
        refused(&mut client).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    server.clock.advance(chrono::Duration::seconds(1));
    for c in [&mut replica_client, &mut client] {
        assert_eq!(refused(c).await.unwrap_err().code(), Code::Unauthenticated);
    }

    // Rotation with a grace period: both keys work until it ends, then only the new one.
    let agent = server.key("tenant-a", "a-agent", Role::Agent, false).await;
    let agent_name = list(&mut client)
        .await
        .api_keys
        .into_iter()
        .find(|k| k.account == "a-agent")
        .unwrap()
        .name;
    let rotated = client
        .rotate_api_key(authed(
            &owner,
            pb::RotateApiKeyRequest {
                name: agent_name.clone(),
                grace_period: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let successor = rotated.key;
    for k in [&agent, &successor] {
        replica_client
            .list_cases(authed(k, pb::ListCasesRequest::default()))
            .await
            .unwrap();
    }
    let old = list(&mut client)
        .await
        .api_keys
        .into_iter()
        .find(|k| k.name == agent_name)
        .unwrap();
    assert_eq!(old.state, pb::ApiKeyState::Expiring as i32);
    assert_eq!(old.replaced_by, rotated.api_key.unwrap().name);
    // A rotated key cannot be rotated again (one successor per key).
    let status = client
        .rotate_api_key(authed(
            &owner,
            pb::RotateApiKeyRequest {
                name: agent_name,
                grace_period: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    server.clock.advance(chrono::Duration::seconds(3601));
    let status = replica_client
        .list_cases(authed(&agent, pb::ListCasesRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    replica_client
        .list_cases(authed(&successor, pb::ListCasesRequest::default()))
        .await
        .unwrap();
    replica.stop_replica().await;
    server.stop().await;
}

/// Per-tenant rate: the burst passes, the next call is RESOURCE_EXHAUSTED with a retry
/// delay and a quota violation; another tenant is not affected; time refills the bucket.
async fn a_tenant_over_its_rate_is_told_when_to_retry(backend: Backend) {
    let server = TestServer::start_limited(
        backend,
        false,
        aftersales_api::gate::GateLimits {
            tenant_rate: Some(aftersales_api::gate::RateLimit {
                per_second: 2.0,
                burst: 3.0,
            }),
            ..Default::default()
        },
    )
    .await;
    let mut client = server.client().await;
    let a = server.key("tenant-a", "a", Role::Agent, false).await;
    let b = server.key("tenant-b", "b", Role::Agent, false).await;
    let list = |key: &str| authed(key, pb::ListCasesRequest::default());
    for _ in 0..3 {
        client.list_cases(list(&a)).await.unwrap();
    }
    let status = client.list_cases(list(&a)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status), "RATE_LIMITED");
    {
        use tonic_types::StatusExt;
        let details = status.get_error_details();
        assert_eq!(
            details.retry_info().and_then(|r| r.retry_delay),
            Some(Duration::from_millis(500))
        );
        assert!(details.quota_failure().is_some());
    }
    client.list_cases(list(&b)).await.unwrap();
    server.clock.advance(chrono::Duration::milliseconds(500));
    client.list_cases(list(&a)).await.unwrap();
    server.stop().await;
}

/// Size limits: a request over the server's message limit is refused by the transport
/// before decoding, a native record over 1 MiB by the service with a field violation, and
/// more evidence items than a submission may hold by a field violation.
async fn oversized_requests_are_refused(backend: Backend) {
    let (server, key, mut client) = TestServer::start_as_agent(backend, "tenant-a").await;
    let big = "x".repeat(5 * 1024 * 1024);
    let status = client
        .ingest_platform_case(authed(
            &key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "taobao".into(),
                native_record_json: big,
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    let status = client
        .ingest_platform_case(authed(
            &key,
            pb::IngestPlatformCaseRequest {
                shop: SHOP.into(),
                platform: "taobao".into(),
                native_record_json: "x".repeat(1024 * 1024 + 1),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["native_record_json"]);
    let case = create(
        &mut client,
        &key,
        manual_case(pb::CaseKind::RefundOnly, "o-1"),
    )
    .await;
    let status = client
        .submit_evidence(authed(
            &key,
            pb::SubmitEvidenceRequest {
                name: case.name,
                items: vec![evidence_item(); 101],
                stage_only: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        violated_fields(&status).iter().any(|f| f == "items"),
        "{:?}",
        violated_fields(&status)
    );
    // An over-large page is served at the maximum, not refused (AIP-158).
    client
        .list_cases(authed(
            &key,
            pb::ListCasesRequest {
                page_size: 1_000_000,
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    server.stop().await;
}

/// Per-request deadline: a call stuck behind a database lock ends at the server's request
/// timeout (here 300 ms), long before SQLite's 5 s busy timeout would answer UNAVAILABLE, and
/// leaves nothing half-written behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_request_timeout_is_cancelled_and_writes_nothing() {
    use sqlx::Connection;
    let server = TestServer::start_configured(Backend::Sqlite, |o| {
        o.request_timeout = Duration::from_millis(300);
    })
    .await;
    let key = server.key("tenant-a", "ops", Role::Agent, false).await;
    let mut client = server.client().await;
    // Authenticate once so the key is verified before the lock is taken (the key lookup is a
    // read and is not blocked; the write is).
    client
        .list_cases(authed(&key, pb::ListCasesRequest::default()))
        .await
        .unwrap();
    let url = format!("sqlite://{}", server.sqlite_path().unwrap().display());
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let status = client
        .create_case(authed(
            &key,
            pb::CreateCaseRequest {
                case: Some(manual_case(pb::CaseKind::RefundOnly, "o-timeout")),
                request_id: "timeout-1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "expected the request timeout, got {status:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let _ = holder.close().await;
    let listed = client
        .list_cases(authed(&key, pb::ListCasesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.cases.is_empty(), "{listed:?}");
    // The retry with the same request id does the write, once.
    client
        .create_case(authed(
            &key,
            pb::CreateCaseRequest {
                case: Some(manual_case(pb::CaseKind::RefundOnly, "o-timeout")),
                request_id: "timeout-1".into(),
            },
        ))
        .await
        .unwrap();
    server.stop().await;
}

on_both_backends!(
    every_rpc_with_another_tenants_key_reveals_nothing,
    roles_and_missing_keys_are_refused_for_every_rpc,
    every_rpc_names_the_field_it_refuses,
    a_shop_scoped_key_sees_only_its_shops,
    events_record_the_authenticated_account,
    keys_are_created_listed_revoked_and_rotated,
    a_tenant_over_its_rate_is_told_when_to_retry,
    oversized_requests_are_refused,
);
