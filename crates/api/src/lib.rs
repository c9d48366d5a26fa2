//! The gRPC face of the service: authentication, request validation, proto ↔ domain
//! conversion and error mapping. Decisions are made in the domain; this crate only translates.

pub mod auth;
pub mod case_views;
pub mod convert;
pub mod deposit;
pub mod error;
pub mod evidence;
pub mod gate;
pub mod keys;
pub mod query;
pub mod service;

pub use service::{AftersalesApi, ApiConfig};
