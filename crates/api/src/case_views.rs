//! GetCase and ListCases answered with each case's stored view: the `aftersales.v1.Case`
//! message rendered when the case was written (aftersales_store::case_view), sent as stored.
//!
//! Three parts: the renderer the store calls on every case write ([`ApiCaseView`]); a
//! response that is either those bytes or a message ([`CaseResponse`]), so one codec serves
//! both the stored view and the fallback to the body; and a route in front of the generated
//! service that sends GetCase and ListCases to handlers answering with it
//! ([`StoredViewRoute`]; a page is a [`ListCasesAnswer`] of such responses). The
//! generated handler must answer with a `pb::Case` value, which would mean decoding the bytes
//! only to encode them again.

use crate::convert::case_to_pb;
use aftersales_domain::Case;
use aftersales_proto::v1 as pb;
use aftersales_store::CaseViewRenderer;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;

/// Bump whenever the rendering of some stored case changes through code the format does not
/// already hash: a dependency's (`prost`'s encoding, `chrono`'s arithmetic). Stored views in
/// the old shape then stop being served, and each case is rendered again at its next write.
const CONVERSION_REVISION: u64 = 1;

/// The domain crate's source, gathered by build.rs: `case_to_pb` calls domain methods
/// (`Case::etag`, `Case::next_deadline_at`, `TaskState::of` and its texts) whose changes
/// can change a view as surely as an edit to the conversion can.
const DOMAIN_SOURCE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/domain-source"));

/// The format of the views this binary renders: a hash of the proto's descriptors (a field
/// added or renumbered), of the source of the conversion into them and of the domain it
/// reads (so an edit to either cannot leave old views served; an edit that changes nothing
/// costs only a re-render at each case's next write), and of [`CONVERSION_REVISION`].
static FORMAT: LazyLock<i64> = LazyLock::new(|| {
    format_of(&[
        aftersales_proto::FILE_DESCRIPTOR_SET,
        include_bytes!("convert.rs"),
        include_bytes!("evidence.rs"),
        DOMAIN_SOURCE,
        &CONVERSION_REVISION.to_le_bytes(),
    ])
});

/// The first eight bytes of the SHA-256 of `parts`, each length-prefixed so that no two
/// different lists of parts hash alike.
fn format_of(parts: &[&[u8]]) -> i64 {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

/// How this API renders a case for the store to keep.
pub struct ApiCaseView;

/// The one renderer, registered by [`crate::AftersalesApi::new`].
pub static API_CASE_VIEW: ApiCaseView = ApiCaseView;

impl CaseViewRenderer for ApiCaseView {
    fn format(&self) -> i64 {
        *FORMAT
    }

    fn render(&self, case: &Case) -> Vec<u8> {
        case_to_pb(case.clone()).encode_to_vec()
    }
}

/// A `Case` response: the stored view's bytes as they are, or a message to encode.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseResponse {
    Encoded(Vec<u8>),
    /// Boxed: a message is some two kilobytes before its strings.
    Message(Box<pb::Case>),
}

impl Default for CaseResponse {
    fn default() -> Self {
        CaseResponse::Message(Box::default())
    }
}

impl CaseResponse {
    /// The response as a message (decoding stored bytes), for callers inside the process.
    pub fn into_message(self) -> Result<pb::Case, DecodeError> {
        match self {
            CaseResponse::Encoded(bytes) => pb::Case::decode(bytes.as_slice()),
            CaseResponse::Message(m) => Ok(*m),
        }
    }
}

impl Message for CaseResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            CaseResponse::Encoded(bytes) => buf.put_slice(bytes),
            CaseResponse::Message(m) => m.encode_raw(buf),
        }
    }

    /// Decoding (a client's, a test's) builds the message: stored bytes already held are
    /// decoded first so that fields merge as they would on the wire.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if let CaseResponse::Encoded(bytes) = self {
            *self = CaseResponse::Message(Box::new(pb::Case::decode(bytes.as_slice())?));
        }
        match self {
            CaseResponse::Message(m) => m.merge_field(tag, wire_type, buf, ctx),
            CaseResponse::Encoded(_) => unreachable!("replaced by a message above"),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            CaseResponse::Encoded(bytes) => bytes.len(),
            CaseResponse::Message(m) => m.encoded_len(),
        }
    }

    fn clear(&mut self) {
        *self = CaseResponse::default();
    }
}

/// A `ListCasesResponse` whose cases are [`CaseResponse`]s: stored views sent as they are,
/// beside the messages of cases whose view would not do. Field numbers are the proto's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListCasesAnswer {
    pub cases: Vec<CaseResponse>,
    pub next_page_token: String,
}

const LIST_CASES_CASES: u32 = 1;
const LIST_CASES_NEXT_PAGE_TOKEN: u32 = 2;

impl ListCasesAnswer {
    /// The answer as the generated message (decoding stored bytes), for callers inside the
    /// process.
    pub fn into_message(self) -> Result<pb::ListCasesResponse, DecodeError> {
        Ok(pb::ListCasesResponse {
            cases: self
                .cases
                .into_iter()
                .map(CaseResponse::into_message)
                .collect::<Result<_, _>>()?,
            next_page_token: self.next_page_token,
        })
    }
}

impl Message for ListCasesAnswer {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for case in &self.cases {
            prost::encoding::encode_key(LIST_CASES_CASES, WireType::LengthDelimited, buf);
            prost::encoding::encode_varint(case.encoded_len() as u64, buf);
            case.encode_raw(buf);
        }
        if !self.next_page_token.is_empty() {
            prost::encoding::string::encode(LIST_CASES_NEXT_PAGE_TOKEN, &self.next_page_token, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            LIST_CASES_CASES => {
                let mut case = CaseResponse::default();
                prost::encoding::message::merge(wire_type, &mut case, buf, ctx)?;
                self.cases.push(case);
                Ok(())
            }
            LIST_CASES_NEXT_PAGE_TOKEN => {
                prost::encoding::string::merge(wire_type, &mut self.next_page_token, buf, ctx)
            }
            _ => prost::encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let cases: usize = self
            .cases
            .iter()
            .map(|case| {
                let len = case.encoded_len();
                prost::encoding::key_len(LIST_CASES_CASES)
                    + prost::encoding::encoded_len_varint(len as u64)
                    + len
            })
            .sum();
        let token = if self.next_page_token.is_empty() {
            0
        } else {
            prost::encoding::string::encoded_len(LIST_CASES_NEXT_PAGE_TOKEN, &self.next_page_token)
        };
        cases + token
    }

    fn clear(&mut self) {
        self.cases.clear();
        self.next_page_token.clear();
    }
}

/// The paths the generated service routes GetCase and ListCases by.
const GET_CASE_PATH: &str = "/aftersales.v1.AftersalesService/GetCase";
const LIST_CASES_PATH: &str = "/aftersales.v1.AftersalesService/ListCases";

/// The generated service with GetCase and ListCases taken out of it and answered from stored
/// views; every other call goes through to `inner`. Sits inside the gate, which has admitted the caller
/// and opened the call's span before either handler runs.
#[derive(Clone)]
pub struct StoredViewRoute<S> {
    inner: S,
    api: Arc<crate::AftersalesApi>,
    max_decoding: usize,
    max_encoding: usize,
}

impl<S> StoredViewRoute<S> {
    /// `inner` is the generated service for `api`; the limits are those it was given.
    pub fn new(
        inner: S,
        api: Arc<crate::AftersalesApi>,
        max_decoding: usize,
        max_encoding: usize,
    ) -> Self {
        StoredViewRoute {
            inner,
            api,
            max_decoding,
            max_encoding,
        }
    }
}

impl<S: NamedService> NamedService for StoredViewRoute<S> {
    const NAME: &'static str = S::NAME;
}

/// ListCases as a unary service over [`ListCasesAnswer`].
struct ListCasesFromViews(Arc<crate::AftersalesApi>);

impl tonic::server::UnaryService<pb::ListCasesRequest> for ListCasesFromViews {
    type Response = ListCasesAnswer;
    type Future = Pin<
        Box<dyn Future<Output = Result<tonic::Response<ListCasesAnswer>, tonic::Status>> + Send>,
    >;

    fn call(&mut self, request: tonic::Request<pb::ListCasesRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move { api.list_cases_answer(request).await })
    }
}

/// GetCase as a unary service over [`CaseResponse`].
struct GetCaseFromView(Arc<crate::AftersalesApi>);

impl tonic::server::UnaryService<pb::GetCaseRequest> for GetCaseFromView {
    type Response = CaseResponse;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<CaseResponse>, tonic::Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<pb::GetCaseRequest>) -> Self::Future {
        let api = self.0.clone();
        Box::pin(async move { api.get_case_response(request).await })
    }
}

impl<S> tower::Service<http::Request<Body>> for StoredViewRoute<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let limits = (self.max_decoding, self.max_encoding);
        match request.uri().path() {
            GET_CASE_PATH => serve_unary(GetCaseFromView(self.api.clone()), request, limits),
            LIST_CASES_PATH => serve_unary(ListCasesFromViews(self.api.clone()), request, limits),
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

/// One unary call through `handler`, framed and limited as the generated service frames its
/// own (`(max_decoding, max_encoding)` are its message size limits).
fn serve_unary<Req, H>(
    handler: H,
    request: http::Request<Body>,
    (max_decoding, max_encoding): (usize, usize),
) -> Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>
where
    Req: Message + Default + Send + 'static,
    H: tonic::server::UnaryService<Req> + Send + 'static,
    H::Response: Message + Send + 'static,
    H::Future: Send,
{
    Box::pin(async move {
        let codec = tonic_prost::ProstCodec::<H::Response, Req>::default();
        let mut grpc = tonic::server::Grpc::new(codec)
            .apply_max_message_size_config(Some(max_decoding), Some(max_encoding));
        Ok(grpc.unary(handler, request).await)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersales_domain::event::Actor;
    use aftersales_domain::{
        BoundedText, CaseDraft, CaseId, CaseKind, Fen, Fulfilment, OrderId, PlatformCode, ShopId,
        TenantId,
    };
    use aftersales_platforms::AdapterRegistry;
    use chrono::{TimeZone, Utc};

    /// A Taobao refund opened through CreateCase under the embedded policy.
    fn a_case() -> Case {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap();
        let platform = PlatformCode::parse("taobao").unwrap();
        let policies = AdapterRegistry::builtin().load_policies().unwrap();
        let policy = policies.in_force(&platform, now).unwrap();
        let text = |s: &str| BoundedText::parse(s).unwrap();
        let draft = CaseDraft {
            order_id: Some(OrderId::parse("order-1").unwrap()),
            order_total: Some(Fen::new(25900).unwrap()),
            ..CaseDraft::new(
                ShopId::parse("tmall-flagship").unwrap(),
                platform,
                CaseKind::ReturnAndRefund,
                Fulfilment::Received,
                Fen::new(20007).unwrap(),
                text("arrived broken"),
                text("buyer-1"),
            )
        };
        let id = CaseId::parse("case-1").unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        Case::open(
            id,
            tenant,
            draft,
            policy,
            Actor::merchant("alice"),
            now,
            &[],
        )
        .unwrap()
        .case
    }

    #[test]
    fn a_view_is_the_message_get_case_answered_with_before() {
        let case = a_case();
        assert_eq!(
            API_CASE_VIEW.render(&case),
            case_to_pb(case.clone()).encode_to_vec()
        );
        assert!(
            !case.deadlines.is_empty(),
            "TB-07's deadline is in the view"
        );
    }

    /// The format hashes the domain methods the conversion calls, so a change to one of
    /// them stops old views being served (build.rs gathers them).
    #[test]
    fn the_format_covers_the_domain_the_conversion_reads() {
        let domain = String::from_utf8_lossy(DOMAIN_SOURCE);
        for (file, method) in [
            ("case.rs\0", "pub fn etag(&self)"),
            ("case.rs\0", "pub fn next_deadline_at(&self)"),
            ("task.rs\0", "pub fn of(state: CaseState) -> TaskState"),
        ] {
            assert!(domain.contains(file), "{file} gathered");
            assert!(domain.contains(method), "{method} gathered");
        }
        // Any part changed, or a byte moved across a boundary, is another format.
        let base = format_of(&[b"descriptors", b"conversion", b"domain"]);
        assert_eq!(base, format_of(&[b"descriptors", b"conversion", b"domain"]));
        for other in [
            format_of(&[b"descriptors", b"conversion", b"domain!"]),
            format_of(&[b"descriptors", b"conversio", b"ndomain"]),
            format_of(&[b"descriptors", b"conversion"]),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(API_CASE_VIEW.format(), *FORMAT);
    }

    #[test]
    fn stored_bytes_go_on_the_wire_as_the_message_would() {
        let message = case_to_pb(a_case());
        let bytes = message.encode_to_vec();
        let stored = CaseResponse::Encoded(bytes.clone());
        assert_eq!(stored.encoded_len(), bytes.len());
        assert_eq!(stored.encode_to_vec(), bytes);
        assert_eq!(
            CaseResponse::Message(Box::new(message.clone())).encode_to_vec(),
            bytes
        );
        // A client decoding the answer gets the message either way.
        assert_eq!(
            CaseResponse::decode(bytes.as_slice()).unwrap(),
            CaseResponse::Message(Box::new(message.clone()))
        );
        assert_eq!(stored.into_message().unwrap(), message);
    }

    #[test]
    fn a_page_of_stored_views_goes_on_the_wire_as_the_message_would() {
        let message = case_to_pb(a_case());
        let mut second = message.clone();
        second.name = "cases/case-2".into();
        let page = pb::ListCasesResponse {
            cases: vec![message.clone(), second.clone()],
            next_page_token: "token".into(),
        };
        let answer = ListCasesAnswer {
            cases: vec![
                CaseResponse::Encoded(message.encode_to_vec()),
                CaseResponse::Message(Box::new(second)),
            ],
            next_page_token: "token".into(),
        };
        assert_eq!(answer.encoded_len(), page.encoded_len());
        assert_eq!(answer.encode_to_vec(), page.encode_to_vec());
        assert_eq!(answer.clone().into_message().unwrap(), page);
        let decoded = ListCasesAnswer::decode(page.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded.into_message().unwrap(), page);
        // The last page has no token, and no field for it.
        let last = ListCasesAnswer {
            next_page_token: String::new(),
            ..answer
        };
        let last_page = pb::ListCasesResponse {
            next_page_token: String::new(),
            ..page
        };
        assert_eq!(last.encode_to_vec(), last_page.encode_to_vec());
    }
}
