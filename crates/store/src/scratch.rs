//! Throwaway databases for tests and benches: a new SQLite file, or a new
//! database on a PostgreSQL server the caller may `CREATE DATABASE` on, each removed again by
//! [`ScratchDatabase::drop_now`]. Every suite and bench of the workspace makes its databases
//! here, so they all honour `AFTERSALES_TEST_POSTGRES_URL` the same way, query string
//! (`?sslmode=…`) included.

use sqlx::Connection;
use std::path::{Path, PathBuf};

/// Where the PostgreSQL server for tests and benches is named.
pub const ADMIN_URL_VAR: &str = "AFTERSALES_TEST_POSTGRES_URL";

/// The server's local default (trust auth), as `.ci/run` starts it.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL server to create databases on: [`ADMIN_URL_VAR`], else [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// `admin_url` with its database replaced by `name`; the query string is kept.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.find('?') {
        Some(q) => admin_url.split_at(q),
        None => (admin_url, ""),
    };
    let authority_from = base.find("://").map_or(0, |i| i + 3);
    match base[authority_from..].find('/') {
        Some(slash) => format!("{}/{name}{query}", &base[..authority_from + slash]),
        None => format!("{base}/{name}{query}"),
    }
}

#[derive(Debug)]
pub enum ScratchDatabase {
    Sqlite { path: PathBuf },
    Postgres { admin_url: String, name: String },
}

impl ScratchDatabase {
    /// A new database named after `prefix`: a PostgreSQL one on [`admin_url`] when
    /// `postgres`, else a SQLite file in the temp dir.
    pub async fn fresh(postgres: bool, prefix: &str) -> Result<(Self, String), String> {
        if postgres {
            Self::postgres(&admin_url(), prefix).await
        } else {
            Ok(Self::sqlite(&std::env::temp_dir(), prefix))
        }
    }

    /// A new SQLite file `<prefix>-<unique>.db` in `dir` (created by the store that opens it)
    /// and its URL.
    pub fn sqlite(dir: &Path, prefix: &str) -> (Self, String) {
        let path = dir.join(format!("{prefix}-{}.db", unique()));
        let url = format!("sqlite://{}", path.display());
        (ScratchDatabase::Sqlite { path }, url)
    }

    /// A new, empty database `<prefix>_<unique>` on the server `admin_url` reaches, and its
    /// URL. The error says how to start the local server.
    pub async fn postgres(admin_url: &str, prefix: &str) -> Result<(Self, String), String> {
        let mut conn = sqlx::PgConnection::connect(admin_url).await.map_err(|e| {
            format!(
                "PostgreSQL is required and is not reachable at {admin_url}: {e}. Start it \
                 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or \
                 point {ADMIN_URL_VAR} at a server where this user may CREATE DATABASE."
            )
        })?;
        let name = format!("{prefix}_{}", unique());
        let created = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("CREATE DATABASE {name} failed (the user needs CREATEDB): {e}"));
        let _ = conn.close().await;
        created?;
        let url = database_url(admin_url, &name);
        Ok((
            ScratchDatabase::Postgres {
                admin_url: admin_url.to_string(),
                name,
            },
            url,
        ))
    }

    /// Removes the file (and its WAL and shared-memory files) or drops the database,
    /// disconnecting whoever is still connected.
    pub async fn drop_now(&self) -> Result<(), String> {
        match self {
            ScratchDatabase::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let file = format!("{}{suffix}", path.display());
                    match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(format!("could not remove {file}: {e}"))
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            ScratchDatabase::Postgres { admin_url, name } => {
                let mut conn = sqlx::PgConnection::connect(admin_url)
                    .await
                    .map_err(|e| format!("could not drop database {name}: {e}"))?;
                let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| format!("could not drop database {name}: {e}"));
                let _ = conn.close().await;
                dropped.map(|_| ())
            }
        }
    }
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_swaps_the_database_and_keeps_the_query() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/t1",
            ),
            (
                "postgres://u:p@db.internal/postgres?sslmode=disable",
                "postgres://u:p@db.internal/t1?sslmode=disable",
            ),
            ("postgres://u@host:5432", "postgres://u@host:5432/t1"),
            (
                "postgres://u@host?sslmode=require",
                "postgres://u@host/t1?sslmode=require",
            ),
        ];
        for (admin, want) in cases {
            assert_eq!(database_url(admin, "t1"), want, "{admin}");
        }
    }

    #[test]
    fn sqlite_scratch_files_are_unique_and_removed() {
        let dir = std::env::temp_dir();
        let (a, url_a) = ScratchDatabase::sqlite(&dir, "aftersales-scratch");
        let (_b, url_b) = ScratchDatabase::sqlite(&dir, "aftersales-scratch");
        assert_ne!(url_a, url_b);
        let ScratchDatabase::Sqlite { path } = &a else {
            unreachable!()
        };
        std::fs::write(path, b"x").unwrap();
        std::fs::write(format!("{}-wal", path.display()), b"x").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(a.drop_now()).unwrap();
        assert!(!path.exists());
        assert!(!Path::new(&format!("{}-wal", path.display())).exists());
    }
}
