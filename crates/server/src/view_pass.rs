//! The background pass that renders again the case views a new view format made stale
//! (aftersales_store::case_view, "the pass"). Without it a case that is not written again
//! after a deploy that changed the rendering would be served from its body, the slow way,
//! for ever.

use aftersales_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::Instrument;

/// How hard the pass may press on the database: it reads a page of cases, renders what is
/// stale and writes it in one transaction, then pauses, so the calls it runs beside keep the
/// database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewPassOptions {
    /// Cases per page (per transaction).
    pub page: u32,
    /// The least pause after each page.
    pub pause: Duration,
    /// The pause after a page is at least this many times as long as the page took, so the
    /// pass keeps to a fixed share of the time however loaded the database is (a page's
    /// transaction holds SQLite's write lock and adds a commit beside the case writes').
    pub pause_per_page_time: u32,
    /// The pause before trying again after the database failed a page.
    pub retry: Duration,
    /// The pause after another process (a replica started at the same time) took the page:
    /// it is running the same pass, and following it closely would only repeat its reads.
    pub behind_another: Duration,
}

impl Default for ViewPassOptions {
    fn default() -> Self {
        ViewPassOptions {
            page: 256,
            pause: Duration::from_millis(20),
            pause_per_page_time: 4,
            retry: Duration::from_secs(5),
            behind_another: Duration::from_secs(1),
        }
    }
}

/// What a run of the pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewPassReport {
    pub examined: u64,
    pub rendered: u64,
    /// The pass is finished for this format (else the process was told to stop first).
    pub finished: bool,
}

/// Runs the pass until it is finished for this binary's view format or `stop` turns true.
/// A failed page is tried again after `options.retry`: nothing is lost by stopping midway,
/// the next start resumes.
pub async fn run(
    store: Arc<dyn Store>,
    options: ViewPassOptions,
    mut stop: watch::Receiver<bool>,
) -> ViewPassReport {
    let span = tracing::info_span!("case view pass", db.system = store.backend());
    async move {
        let started = Instant::now();
        let mut report = ViewPassReport::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let page_started = Instant::now();
            let wait = match store.refresh_case_views(options.page.max(1)).await {
                Ok(page) => {
                    report.examined += u64::from(page.examined);
                    report.rendered += u64::from(page.rendered);
                    if page.finished {
                        report.finished = true;
                        break;
                    }
                    if page.taken {
                        options.behind_another
                    } else {
                        options
                            .pause
                            .max(page_started.elapsed() * options.pause_per_page_time)
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "a page of the case view pass failed; trying again");
                    options.retry
                }
            };
            if !crate::pause_unless_stopped(&mut stop, wait).await {
                break;
            }
        }
        // Quiet when there was nothing to do (every start after the pass has finished).
        if report.examined > 0 {
            tracing::info!(
                examined = report.examined,
                rendered = report.rendered,
                finished = report.finished,
                seconds = started.elapsed().as_secs_f64(),
                "case view pass"
            );
        }
        report
    }
    .instrument(span)
    .await
}
