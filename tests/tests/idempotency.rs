//! AIP-155 under concurrency: a client that retries (or a proxy that duplicates) may send the
//! same request, with the same request_id, many times at once. The write must happen once —
//! one case, one event — and every copy must get the first answer. A request_id reused with
//! a different request is refused with INVALID_ARGUMENT.
//!
//! Each scenario fires [`COPIES`] identical requests over as many connections, released
//! together by a barrier, on SQLite and on PostgreSQL: the write happens exactly once and
//! every copy answers OK with the first answer. The hard case is a copy that checks for a
//! stored answer before the first copy commits and reads the case after: it must not answer
//! from the case it reads (ABORTED on the etag, FAILED_PRECONDITION "already agreed" or
//! "order line used" (TB-03), an UNCHANGED ingest), and must not record a refused attempt;
//! the service checks for the stored answer again before it refuses.

use aftersales_domain::access::Role;
use aftersales_tests::{
    authed, create, event_types, manual_case, on_both_backends, pb, reason, Backend, Client,
    TaobaoRefund, TestServer, SHOP,
};
use std::future::Future;
use std::sync::Arc;
use tonic::{Code, Status};

const TENANT: &str = "acme";
const COPIES: usize = 16;

/// Run `call` COPIES times at once, each on its own connection; the answers in task order.
async fn all_at_once<T, F, Fut>(server: &TestServer, call: F) -> Vec<Result<T, Status>>
where
    T: Send + 'static,
    F: Fn(Client) -> Fut,
    Fut: Future<Output = Result<T, Status>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(COPIES));
    let mut tasks = Vec::new();
    for _ in 0..COPIES {
        let fut = call(server.client().await);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// The one answer the copies got: every OK answer is the same, field for field (wire bytes
/// cannot be compared: a case's platform_attributes map is encoded in hash order), and every
/// copy answered OK.
fn one_answer<T: PartialEq + std::fmt::Debug>(what: &str, answers: Vec<Result<T, Status>>) -> T {
    let mut oks = Vec::new();
    let mut errs = Vec::new();
    for a in answers {
        match a {
            Ok(v) => oks.push(v),
            Err(s) => errs.push(format!("{:?} {} ({})", s.code(), s.message(), reason(&s))),
        }
    }
    assert!(
        errs.is_empty(),
        "{what}: {} of {COPIES} identical requests did not get the stored answer: {errs:#?}",
        errs.len()
    );
    assert!(!oks.is_empty(), "{what}: no copy succeeded: {errs:#?}");
    let first = oks.remove(0);
    for (i, other) in oks.iter().enumerate() {
        assert_eq!(
            other,
            &first,
            "{what}: answer {} differs from the first",
            i + 1
        );
    }
    first
}

fn assert_reused(what: &str, r: Result<impl std::fmt::Debug, Status>) {
    let err = r.expect_err(what);
    assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
    assert_eq!(reason(&err), "REQUEST_ID_REUSED", "{what}: {err:?}");
}

async fn case_count(client: &mut Client, key: &str) -> usize {
    client
        .list_cases(authed(
            key,
            pb::ListCasesRequest {
                page_size: 500,
                page_token: String::new(),
                filter: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .cases
        .len()
}

/// Sixteen identical CreateCase calls at once: one case, one creation event, and the copies
/// that answer OK all name it. Then the same request_id with another body, and on another
/// method: INVALID_ARGUMENT, nothing written.
async fn create_case_copies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let request = pb::CreateCaseRequest {
        case: Some(manual_case(pb::CaseKind::ReturnAndRefund, "o-dup")),
        request_id: "6f1c1d9e-create".into(),
    };
    let answers = all_at_once(&server, |mut c| {
        let (key, request) = (key.clone(), request.clone());
        async move {
            c.create_case(authed(&key, request))
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    let case = one_answer("CreateCase", answers);
    assert_eq!(
        case_count(&mut client, &key).await,
        1,
        "one case, not one per copy"
    );
    assert_eq!(
        event_types(&mut client, &key, &case.name).await,
        ["case_created"]
    );
    // A copy sent after the first committed gets the stored answer.
    let again = client
        .create_case(authed(&key, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, case);

    let mut other = request.clone();
    other.case = Some(manual_case(pb::CaseKind::ReturnAndRefund, "o-other"));
    assert_reused(
        "CreateCase, same request_id, other case",
        client.create_case(authed(&key, other)).await,
    );
    assert_reused(
        "AgreeCase with CreateCase's request_id",
        client
            .agree_case(authed(
                &key,
                pb::AgreeCaseRequest {
                    name: case.name.clone(),
                    request_id: request.request_id.clone(),
                    ..Default::default()
                },
            ))
            .await,
    );
    assert_eq!(case_count(&mut client, &key).await, 1);
    assert_eq!(
        event_types(&mut client, &key, &case.name).await,
        ["case_created"]
    );
    server.stop().await;
}

/// Sixteen identical IngestPlatformCase calls at once for a record never seen: one case with
/// one event, every OK answer CREATED with that case. The same request_id with a newer record:
/// INVALID_ARGUMENT, nothing applied.
async fn ingest_copies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    let request = pb::IngestPlatformCaseRequest {
        shop: SHOP.into(),
        platform: "taobao".into(),
        native_record_json: TaobaoRefund::signed_return("8800000000000001").json(),
        request_id: "6f1c1d9e-ingest".into(),
    };
    let answers = all_at_once(&server, |mut c| {
        let (key, request) = (key.clone(), request.clone());
        async move {
            c.ingest_platform_case(authed(&key, request))
                .await
                .map(|r| r.into_inner())
        }
    })
    .await;
    let answers: Vec<_> = answers
        .into_iter()
        .map(|a| {
            // A copy that lost the race reads the stored case at the same version and answers
            // UNCHANGED: not the first answer, so under the contract it is an error.
            a.and_then(|r| {
                if r.outcome == pb::IngestOutcome::Unchanged as i32 {
                    Err(Status::aborted("UNCHANGED instead of the stored answer"))
                } else {
                    Ok(r)
                }
            })
        })
        .collect();
    let answer = one_answer("IngestPlatformCase", answers);
    assert_eq!(answer.outcome, pb::IngestOutcome::Created as i32);
    let case = answer.case.unwrap();
    assert_eq!(case_count(&mut client, &key).await, 1);
    assert_eq!(
        event_types(&mut client, &key, &case.name).await,
        ["case_created"]
    );

    let mut newer = TaobaoRefund::signed_return("8800000000000001");
    newer.status = "WAIT_BUYER_RETURN_GOODS";
    newer.version_ms += 60_000;
    let mut other = request.clone();
    other.native_record_json = newer.json();
    assert_reused(
        "IngestPlatformCase, same request_id, newer record",
        client.ingest_platform_case(authed(&key, other)).await,
    );
    assert_eq!(
        event_types(&mut client, &key, &case.name).await,
        ["case_created"]
    );
    server.stop().await;
}

/// Sixteen identical AgreeCase calls at once, with the etag read before and without one: the
/// case is agreed once (one merchant_agreed event, version 2) and every OK answer is the agreed
/// case. The same request_id on another case: INVALID_ARGUMENT, nothing written.
async fn agree_case_copies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = server.key(TENANT, "alice", Role::Agent, false).await;
    let mut client = server.client().await;
    for (i, with_etag) in [true, false].into_iter().enumerate() {
        let what = if with_etag {
            "AgreeCase with etag"
        } else {
            "AgreeCase without etag"
        };
        let case = create(
            &mut client,
            &key,
            manual_case(pb::CaseKind::ReturnAndRefund, &format!("o-agree-{i}")),
        )
        .await;
        let request = pb::AgreeCaseRequest {
            name: case.name.clone(),
            etag: if with_etag {
                case.etag.clone()
            } else {
                String::new()
            },
            request_id: format!("6f1c1d9e-agree-{i}"),
            ..Default::default()
        };
        let answers = all_at_once(&server, |mut c| {
            let (key, request) = (key.clone(), request.clone());
            async move {
                c.agree_case(authed(&key, request))
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        let agreed = one_answer(what, answers);
        assert_eq!(agreed.state, pb::CaseState::AwaitingBuyer as i32, "{what}");
        assert_eq!(agreed.etag, "\"2\"", "{what}: one write");
        let events = event_types(&mut client, &key, &case.name).await;
        let agreed_events = events.iter().filter(|t| *t == "merchant_agreed").count();
        assert_eq!(agreed_events, 1, "{what}: agreed once: {events:?}");
        let refused = events.iter().filter(|t| *t == "action_refused").count();
        // Nothing else: a copy of a request that succeeded was not a refused attempt.
        assert_eq!(refused, 0, "{what}: {events:?}");
        assert_eq!(events, ["case_created", "merchant_agreed"], "{what}");

        let other_case = create(
            &mut client,
            &key,
            manual_case(pb::CaseKind::ReturnAndRefund, &format!("o-agree-other-{i}")),
        )
        .await;
        let mut other = request.clone();
        other.name = other_case.name.clone();
        assert_reused(what, client.agree_case(authed(&key, other)).await);
        assert_eq!(
            event_types(&mut client, &key, &other_case.name).await,
            ["case_created"]
        );
    }
    server.stop().await;
}

async fn concurrent_duplicate_create_case(backend: Backend) {
    create_case_copies(backend).await
}

async fn concurrent_duplicate_ingest(backend: Backend) {
    ingest_copies(backend).await
}

async fn concurrent_duplicate_agree_case(backend: Backend) {
    agree_case_copies(backend).await
}

on_both_backends!(
    concurrent_duplicate_create_case,
    concurrent_duplicate_ingest,
    concurrent_duplicate_agree_case,
);
