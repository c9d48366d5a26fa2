//! Every failure leaves the service as a `tonic::Status` with exactly one
//! `google.rpc.ErrorInfo` (AIP-193) and, where it helps, field violations, a precondition
//! failure or the resource that was missing. This is the only place that builds them.

use aftersales_domain::access::Denial;
use aftersales_domain::DomainError;
use aftersales_platforms::MappingError;
use aftersales_store::StoreError;
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub const ERROR_DOMAIN: &str = "aftersales.v1";

#[derive(Debug)]
pub enum ApiError {
    /// Request fields that are missing or malformed: (field path, what is wrong).
    InvalidArgument(Vec<(String, String)>),
    /// A platform record the adapter could not map.
    BadNativeRecord(MappingError),
    Unauthenticated(&'static str),
    PermissionDenied {
        reason: &'static str,
        message: String,
    },
    NotFound {
        resource_type: &'static str,
        name: String,
    },
    /// The caller's etag does not match the case any more.
    EtagMismatch {
        name: String,
        current: String,
    },
    /// Concurrent writers kept winning; the caller may retry.
    Contended {
        name: String,
    },
    AlreadyExists {
        resource_type: &'static str,
        name: String,
    },
    /// The request_id was already used for a different request.
    RequestIdReused {
        request_id: String,
    },
    Domain {
        error: DomainError,
        subject: String,
    },
    Store(StoreError),
    /// The tenant is over its request rate.
    RateLimited {
        tenant: String,
        retry_after: std::time::Duration,
    },
    /// The server is at its concurrency limit and sheds the call rather than queue it.
    Overloaded {
        retry_after: std::time::Duration,
    },
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![(field.into(), problem.into())])
    }

    /// A refusal about something the caller named itself (a shop, a method).
    pub fn from_denial(denial: Denial) -> Self {
        ApiError::PermissionDenied {
            reason: denial.reason(),
            message: denial.to_string(),
        }
    }

    /// A refusal about a resource named by id: out of the caller's shops it is NOT_FOUND,
    /// exactly as if it did not exist, so ids of other shops cannot be probed.
    pub fn denial_on(denial: Denial, resource_type: &'static str, name: String) -> Self {
        match denial {
            Denial::Shop { .. } => ApiError::NotFound {
                resource_type,
                name,
            },
            other => ApiError::from_denial(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

fn meta<const N: usize>(pairs: [(&str, String); N]) -> HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        let mut d = ErrorDetails::new();
        let (code, message) = match e {
            ApiError::InvalidArgument(violations) => {
                let fields: Vec<&str> = violations.iter().map(|(f, _)| f.as_str()).collect();
                let message = format!(
                    "invalid request: {}",
                    violations
                        .iter()
                        .map(|(f, p)| format!("{f}: {p}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                d.set_error_info(
                    "INVALID_ARGUMENT",
                    ERROR_DOMAIN,
                    meta([("fields", fields.join(","))]),
                );
                for (f, p) in &violations {
                    d.add_bad_request_violation(f.clone(), p.clone());
                }
                (Code::InvalidArgument, message)
            }
            ApiError::BadNativeRecord(m) => {
                let field = format!("native_record_json.{}", m.field);
                d.set_error_info(
                    "MALFORMED_NATIVE_RECORD",
                    ERROR_DOMAIN,
                    meta([
                        ("platform", m.platform.clone()),
                        ("field", m.field.clone()),
                        ("rawValue", m.raw.clone()),
                    ]),
                );
                d.add_bad_request_violation(field, format!("{} (raw value: {})", m.problem, m.raw));
                (Code::InvalidArgument, m.to_string())
            }
            ApiError::Unauthenticated(why) => {
                d.set_error_info("UNAUTHENTICATED", ERROR_DOMAIN, HashMap::new());
                (Code::Unauthenticated, why.to_string())
            }
            ApiError::PermissionDenied { reason, message } => {
                d.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
                (Code::PermissionDenied, message)
            }
            ApiError::NotFound {
                resource_type,
                name,
            } => {
                d.set_error_info(
                    "NOT_FOUND",
                    ERROR_DOMAIN,
                    meta([("resourceName", name.clone())]),
                );
                d.set_resource_info(resource_type, name.clone(), "", "not found");
                (Code::NotFound, format!("{name} not found"))
            }
            ApiError::EtagMismatch { name, current } => {
                d.set_error_info(
                    "ETAG_MISMATCH",
                    ERROR_DOMAIN,
                    meta([
                        ("resourceName", name.clone()),
                        ("currentEtag", current.clone()),
                    ]),
                );
                (
                    Code::Aborted,
                    format!("{name} changed since it was read (current etag {current}); read it again and retry"),
                )
            }
            ApiError::Contended { name } => {
                d.set_error_info(
                    "CONCURRENT_MODIFICATION",
                    ERROR_DOMAIN,
                    meta([("resourceName", name.clone())]),
                );
                d.set_retry_info(Some(std::time::Duration::from_millis(50)));
                (
                    Code::Aborted,
                    format!("{name} is being changed concurrently; retry"),
                )
            }
            ApiError::AlreadyExists {
                resource_type,
                name,
            } => {
                d.set_error_info(
                    "ALREADY_EXISTS",
                    ERROR_DOMAIN,
                    meta([("resourceName", name.clone())]),
                );
                d.set_resource_info(resource_type, name.clone(), "", "already exists");
                (Code::AlreadyExists, format!("{name} already exists"))
            }
            ApiError::RequestIdReused { request_id } => {
                d.set_error_info(
                    "REQUEST_ID_REUSED",
                    ERROR_DOMAIN,
                    meta([("requestId", request_id.clone())]),
                );
                d.add_bad_request_violation("request_id", "already used for a different request");
                (
                    Code::InvalidArgument,
                    format!("request_id {request_id} was already used for a different request"),
                )
            }
            ApiError::Domain { error, subject } => {
                let mut m = meta([("resourceName", subject.clone())]);
                if let Some(rule) = error.rule_id() {
                    m.insert("rule".into(), rule.into());
                }
                d.set_error_info(error.reason(), ERROR_DOMAIN, m);
                let message = error.to_string();
                match &error {
                    DomainError::InvalidField { field, reason } => {
                        d.add_bad_request_violation(*field, reason.clone());
                        (Code::InvalidArgument, message)
                    }
                    DomainError::EvidenceInsufficient { problems, .. } => {
                        // One violation per problem, so a client can show each to the merchant.
                        for p in problems {
                            d.add_precondition_failure_violation(
                                p.code.clone(),
                                p.path.clone(),
                                p.message.clone(),
                            );
                        }
                        (Code::FailedPrecondition, message)
                    }
                    _ => {
                        d.add_precondition_failure_violation(
                            error.reason(),
                            subject,
                            message.clone(),
                        );
                        (Code::FailedPrecondition, message)
                    }
                }
            }
            ApiError::Store(s) => match s {
                StoreError::TooMany(why) => {
                    d.set_error_info("QUERY_TOO_LARGE", ERROR_DOMAIN, HashMap::new());
                    d.add_bad_request_violation("end_time", why.clone());
                    (Code::InvalidArgument, why)
                }
                StoreError::Precondition(why) => {
                    d.set_error_info("FAILED_PRECONDITION", ERROR_DOMAIN, HashMap::new());
                    (Code::FailedPrecondition, why)
                }
                StoreError::Unavailable(why) => {
                    d.set_error_info("DATABASE_UNAVAILABLE", ERROR_DOMAIN, HashMap::new());
                    d.set_retry_info(Some(std::time::Duration::from_secs(1)));
                    tracing::warn!(error = %why, "database unavailable");
                    (
                        Code::Unavailable,
                        "the database is unavailable; retry shortly".to_string(),
                    )
                }
                other => {
                    tracing::error!(error = %other, "store error");
                    d.set_error_info("INTERNAL", ERROR_DOMAIN, HashMap::new());
                    (Code::Internal, "internal error".to_string())
                }
            },
            ApiError::RateLimited {
                tenant,
                retry_after,
            } => {
                d.set_error_info(
                    "RATE_LIMITED",
                    ERROR_DOMAIN,
                    meta([("tenant", tenant.clone())]),
                );
                d.set_retry_info(Some(retry_after));
                d.add_quota_failure_violation(
                    format!("tenants/{tenant}"),
                    "requests per second for the tenant",
                );
                (
                    Code::ResourceExhausted,
                    format!(
                        "tenant {tenant} is over its request rate; retry in {} ms",
                        retry_after.as_millis()
                    ),
                )
            }
            ApiError::Overloaded { retry_after } => {
                d.set_error_info("OVERLOADED", ERROR_DOMAIN, HashMap::new());
                d.set_retry_info(Some(retry_after));
                (
                    Code::Unavailable,
                    "the server is at capacity; retry shortly".to_string(),
                )
            }
            ApiError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                d.set_error_info("INTERNAL", ERROR_DOMAIN, HashMap::new());
                (Code::Internal, "internal error".to_string())
            }
        };
        Status::with_error_details(code, message, d)
    }
}
