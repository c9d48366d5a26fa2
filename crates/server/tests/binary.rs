//! The `aftersales` binary as a newcomer runs it: it creates its SQLite database, creates a
//! key, serves, answers health checks and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aftersales"))
}

#[tokio::test]
async fn binary_serves_health_and_stops_on_sigterm() {
    let dir =
        std::env::temp_dir().join(format!("aftersales-bin-{}", uuid::Uuid::new_v4().simple()));
    // A database file in a directory that does not exist yet, as ./data/ on a fresh clone.
    let url = format!("sqlite://{}/data/aftersales.db", dir.display());

    let out = bin()
        .args([
            "keys",
            "create",
            "--tenant",
            "acme",
            "--account",
            "alice",
            "--role",
            "owner",
        ])
        .env("AFTERSALES_DATABASE_URL", &url)
        .output()
        .expect("run keys create");
    assert!(
        out.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap();
    assert!(key.trim().starts_with("ask_"), "{key}");

    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AFTERSALES_DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("stdout");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no key")
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    assert!(dir.join("data/aftersales.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_database_url_fails_clearly() {
    let out = bin()
        .args(["migrate"])
        .env(
            "AFTERSALES_DATABASE_URL",
            "mysql://root:hunter2@localhost/x",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the password must not be printed: {err}"
    );
}

/// `--pg-writers` outside 1..=`--pg-max-connections` is refused before anything is opened,
/// saying what the range is; one inside it is taken.
#[test]
fn pg_writers_outside_the_pool_are_refused() {
    let dir =
        std::env::temp_dir().join(format!("aftersales-bin-{}", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}/aftersales.db", dir.display());
    for (writers, pool) in [("0", "16"), ("17", "16"), ("3", "2")] {
        let out = bin()
            .args(["migrate", "--pg-max-connections", pool])
            .env("AFTERSALES_DATABASE_URL", &url)
            .env("AFTERSALES_PG_WRITERS", writers)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{writers} writers, pool {pool}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--pg-writers must be between 1 and --pg-max-connections"),
            "{err}"
        );
        assert!(!dir.exists(), "nothing is created before the refusal");
    }
    let out = bin()
        .args(["migrate", "--pg-writers", "2", "--pg-max-connections", "2"])
        .env("AFTERSALES_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
