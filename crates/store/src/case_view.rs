//! Each case row keeps, beside its JSON body, the case as the API answers it: the encoded
//! `aftersales.v1.Case` message, rendered when the row is written.
//!
//! Why: GetCase decoded the JSON body into a `Case`, converted it into the API message and
//! encoded that, on every call. Profiled (docs/benchmarks.md), the body's decode alone was a
//! quarter of the server's instructions per GetCase and the conversion and encode another
//! tenth; none of it depends on anything but the row, which changes only when it is written.
//! Written once per write, the bytes are then served as they are, read after read.
//!
//! The store does not know the API's message: the API registers how to render a case
//! ([`render_case_views_with`]) when it starts. It is one function per binary, not per store,
//! because it is the binary's own API encoding. A row written without it (a store used
//! alone, or by a binary before this column existed) has no view or one that is out of date,
//! and a read falls back to the body.
//!
//! When is a stored view still the case? Only if it was rendered from this version of the
//! row (`api_view_version = version`: a binary that does not know the column leaves it behind
//! when it updates the row) by the renderer of this binary's format (`api_view_format`: a change
//! to the API's rendering makes every stored view stale at once, and each is rendered again
//! at the case's next write).
//!
//! The pass: a new format (any change to the API's rendering, or to the domain it reads)
//! makes every stored view stale at once, and a case that is not written again would be
//! served from its body from then on. So the server runs [`crate::Store::refresh_case_views`]
//! in the background after it starts: it walks the cases in key order, a page at a time,
//! renders again each view that is not current and stores it only if the row is still the
//! version it read (a concurrent write has rendered its own). Its progress is kept per format
//! (`case_view_passes`), so a restart resumes it and a finished pass is not run again. Rows a
//! binary of another format writes after the pass has gone by (a rolling deploy's older
//! replicas) stay stale until their next write, and are served from the body until then.

use aftersales_domain::{Case, CaseId, CaseKind, PlatformCode, ShopId};
use std::sync::OnceLock;

/// How the API renders a case into the bytes GetCase answers with.
pub trait CaseViewRenderer: Send + Sync + 'static {
    /// Names the rendering: it must change whenever `render` could encode some stored case
    /// differently than before (a field added to or mapped differently in the message), or
    /// stored views would go on answering in the old shape.
    fn format(&self) -> i64;
    /// The encoded message for `case`.
    fn render(&self, case: &Case) -> Vec<u8>;
}

static RENDERER: OnceLock<&'static dyn CaseViewRenderer> = OnceLock::new();

/// Keep a rendered view beside every case row this process writes from now on. The first
/// renderer registered stays (there is one API encoding per binary); true if it is `renderer`'s
/// format that is in force.
pub fn render_case_views_with(renderer: &'static dyn CaseViewRenderer) -> bool {
    RENDERER.get_or_init(|| renderer).format() == renderer.format()
}

/// The renderer registered, if any.
pub(crate) fn renderer() -> Option<&'static dyn CaseViewRenderer> {
    RENDERER.get().copied()
}

/// The format of the views this process renders, which a stored view's must equal to be
/// served (also bound into the SQL that sends a body only where the view will not do); None
/// (no view is current) if it renders none.
pub(crate) fn format_in_force() -> Option<i64> {
    renderer().map(|r| r.format())
}

/// What a row holds of its view, as written beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewColumns {
    pub view: Vec<u8>,
    pub format: i64,
}

impl ViewColumns {
    /// The view of `case` as this process renders it, if it renders views.
    pub fn of(case: &Case) -> Option<Self> {
        renderer().map(|r| ViewColumns {
            view: r.render(case),
            format: r.format(),
        })
    }
}

/// A stored view is the case's only if rendered from the row's version in the format this
/// process renders.
pub(crate) fn is_current(
    version: i64,
    view_version: Option<i64>,
    view_format: Option<i64>,
) -> bool {
    match (format_in_force(), view_version, view_format) {
        (Some(in_force), Some(v), Some(f)) => v == version && f == in_force,
        _ => false,
    }
}

/// What GetCase and ListCases need of a case: its view and what access control decides by,
/// or the case itself where the view is missing or out of date.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseRead {
    View(StoredView),
    /// Boxed: a case is some two kilobytes, a view's fields a few pointers.
    Case(Box<Case>),
}

/// A case's rendered view, with the columns a caller's access is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredView {
    pub id: CaseId,
    pub shop: ShopId,
    pub platform: PlatformCode,
    pub kind: CaseKind,
    /// The encoded `aftersales.v1.Case`.
    pub bytes: Vec<u8>,
}
