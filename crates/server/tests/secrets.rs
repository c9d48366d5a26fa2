//! Secrets never reach the logs: the real binary, logging everything at debug level (JSON, the
//! format log shippers ingest), is called with good keys, a wrong secret for a real key id, a
//! malformed key, and the key-management RPCs whose answers carry new keys; afterwards its
//! whole log is searched for every key and every secret part.

mod common;

use aftersales_proto::v1 as pb;
use aftersales_proto::v1::aftersales_service_client::AftersalesServiceClient;
use common::{Db, ServerProcess};
use std::process::Command;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

fn authed<T>(key: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {key}")).unwrap(),
    );
    r
}

fn owner_key(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aftersales"))
        .args([
            "keys",
            "create",
            "--tenant",
            "acme",
            "--account",
            "boss",
            "--role",
            "owner",
        ])
        .env("AFTERSALES_DATABASE_URL", url)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run aftersales keys create");
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // The command prints the key on stdout (its purpose) and nothing secret on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(secret_of(&key)), "{stderr}");
    key
}

/// The secret part of `ask_<id>_<secret>`.
fn secret_of(key: &str) -> &str {
    key.rsplit('_').next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_or_secret_is_ever_logged() {
    let (db, url) = Db::fresh(false).await;
    let owner = owner_key(&url);
    let server = ServerProcess::start(
        &url,
        &[("RUST_LOG", "debug"), ("AFTERSALES_LOG_FORMAT", "json")],
    );
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AftersalesServiceClient::new(channel);

    let created = client
        .create_api_key(authed(
            &owner,
            pb::CreateApiKeyRequest {
                api_key: Some(pb::ApiKey {
                    account: "erp".into(),
                    role: pb::ApiKeyRole::Agent as i32,
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let agent = created.key;
    client
        .list_cases(authed(&agent, pb::ListCasesRequest::default()))
        .await
        .unwrap();
    let rotated = client
        .rotate_api_key(authed(
            &owner,
            pb::RotateApiKeyRequest {
                name: created.api_key.unwrap().name,
                grace_period: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .key;
    // A real key id with a wrong secret, a rotated-out key, a malformed key: all refused, and
    // the refusals logged, without what was presented.
    let key_id = owner.split('_').nth(1).unwrap();
    let wrong = format!("ask_{key_id}_{}", "0".repeat(64));
    for bad in [wrong.as_str(), agent.as_str(), "ask_not-a-key-at-all"] {
        let status = client
            .list_cases(authed(bad, pb::ListCasesRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
    client
        .list_cases(authed(&rotated, pb::ListCasesRequest::default()))
        .await
        .unwrap();

    let log = std::fs::read_to_string(&server.log).expect("server log");
    assert!(
        log.contains("rpc refused at the gate") && log.contains("api key rotated"),
        "the log should show the calls (else this test proves nothing): {log}"
    );
    for key in [&owner, &agent, &rotated, &wrong] {
        assert!(!log.contains(key.as_str()), "a key is in the log");
        assert!(
            !log.contains(secret_of(key)),
            "a key's secret is in the log"
        );
    }
    assert!(
        !log.contains("ask_not-a-key-at-all"),
        "a presented key is in the log"
    );
    drop(server);
    db.drop_now().await;
}
