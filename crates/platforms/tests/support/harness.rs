//! The fuzz harness shared by `fuzz_ingest.rs` (this crate) and the divisions crate's
//! `fuzz_address.rs` (included there by path, so both measure the same way): a counting
//! allocator, per-call measurement, a watchdog for calls that never return, the seeded
//! proptest runner and the per-target summary.
//!
//! Each test binary that includes this module must install the allocator:
//! `#[global_allocator] static ALLOC: harness::Counting = harness::Counting;`

#![allow(dead_code)]

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

// ---- counting allocator -----------------------------------------------------------------------

/// Counts live heap bytes per thread. libtest runs the tests of one binary on parallel
/// threads, so a process-wide counter would charge one test's allocations to another; the
/// parsers under test are single-threaded, so the calling thread's count is the call's.
/// Memory freed on another thread than the one that allocated it makes a thread's count drift,
/// which is why a measurement is taken relative to the count at the call's start.
pub struct Counting;

thread_local! {
    // `const` initialisers and `Cell<i64>` (no destructor): reading them never allocates and
    // never fails, which the allocator needs.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn grow(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + n as i64;
        live.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - n as i64));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as free-then-allocate: the peak sees the new size, not old + new, which
            // is what an in-place realloc really costs (a moving one briefly holds both).
            shrink(layout.size());
            grow(new_size);
        }
        p
    }
}

// ---- one measured call ------------------------------------------------------------------------

/// The memory bound of one call on an input of `len` bytes: `64 × len + 16 MiB` of live heap
/// above what was live when the call started.
///
/// Why: a parser may hold a few copies of its input at once (the text, serde_json's members
/// of each envelope level as boxed raw JSON, unescaped strings, a lossy UTF-8 copy of a
/// non-UTF-8 payload at up to 3 bytes per invalid byte, a `Vec<char>` of one line at 4 bytes
/// per character for an error snippet, an address's per-character offsets at 8 bytes per
/// character): a small constant factor, well under 64. The 16 MiB covers fixed costs that
/// do not grow with the input. What the bound catches is growth faster than linear — a
/// quadratic allocation on a 1 MiB payload is terabytes — and a constant factor gone wild.
/// The figures measured are printed in the summary (`max peak`, `max peak/len`).
pub fn memory_bound(len: usize) -> u64 {
    64 * len as u64 + 16 * 1024 * 1024
}

/// The hang guard: a call on `len` bytes taking longer than 2 s plus 4 s per MiB fails the
/// property. This is a hang detector, not a performance target. In a debug build on the
/// shared 2-core machine an adapter maps a 1 MiB payload in well under 100 ms, and the
/// address parser, the slowest target, reads a 1 MiB text in about a second; the allowance
/// per MiB keeps that linear cost from failing CI when the machine is busy. Super-linear work
/// is far beyond the guard at these sizes: the quadratic TB-20 compound search this test
/// found took 3.6 s on 48 KB and a minute on 192 KB.
pub fn hang_guard(len: usize) -> Duration {
    Duration::from_secs(2) + Duration::from_secs(4).mul_f64(len as f64 / (1 << 20) as f64)
}

/// A call still running after this long never returns for practical purposes: the watchdog
/// saves its input, names it and aborts the process (a test that never returns would
/// otherwise hold CI until its time limit, naming nothing).
pub const WATCHDOG_ABORT: Duration = Duration::from_secs(60);

/// What one call cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Peak live heap bytes above the count at the call's start.
    pub peak: u64,
    pub elapsed: Duration,
}

type Running = HashMap<ThreadId, (Instant, String, Arc<[u8]>)>;

fn running() -> &'static Mutex<Running> {
    static RUNNING: OnceLock<Mutex<Running>> = OnceLock::new();
    static WATCHDOG: OnceLock<()> = OnceLock::new();
    let r = RUNNING.get_or_init(|| Mutex::new(HashMap::new()));
    WATCHDOG.get_or_init(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(500));
            let stuck = running()
                .lock()
                .map(|m| {
                    m.values()
                        .find(|(t, _, _)| t.elapsed() > WATCHDOG_ABORT)
                        .map(|(t, label, bytes)| (t.elapsed(), label.clone(), bytes.clone()))
                })
                .unwrap_or(None);
            if let Some((elapsed, label, bytes)) = stuck {
                let saved = save_input("hang", &label, &bytes);
                eprintln!(
                    "HANG: a call has run for {elapsed:?} (> {WATCHDOG_ABORT:?}) on {label}, \
                     {} bytes, saved to {saved}; first bytes: {}",
                    bytes.len(),
                    preview(&bytes, 300)
                );
                std::process::abort();
            }
        });
    });
    r
}

/// Run `f` once, measuring its heap peak and time, under the watchdog.
pub fn measure<R>(label: &str, input: &Arc<[u8]>, f: impl FnOnce() -> R) -> (R, Cost) {
    /// Takes the call off the watchdog's list also when it panics (proptest catches the
    /// panic and goes on shrinking).
    struct Watched(ThreadId);
    impl Drop for Watched {
        fn drop(&mut self) {
            if let Ok(mut m) = running().lock() {
                m.remove(&self.0);
            }
        }
    }
    let me = std::thread::current().id();
    running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(me, (Instant::now(), label.to_string(), input.clone()));
    let _watched = Watched(me);
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let t = Instant::now();
    let r = f();
    let elapsed = t.elapsed();
    let peak = (PEAK.with(Cell::get) - start).max(0) as u64;
    (r, Cost { peak, elapsed })
}

/// Check a call's cost against the hang guard and the memory bound.
pub fn check_cost(len: usize, cost: Cost) -> Result<(), String> {
    let guard = hang_guard(len);
    if cost.elapsed > guard {
        return Err(format!(
            "took {:?}, over the {guard:?} hang guard",
            cost.elapsed
        ));
    }
    let bound = memory_bound(len);
    if cost.peak > bound {
        return Err(format!(
            "peak live heap {} bytes, over the bound 64 × {len} + 16 MiB = {bound}",
            cost.peak
        ));
    }
    Ok(())
}

// ---- inputs -----------------------------------------------------------------------------------

/// One generated input: how it was made (short, for failure messages) and its bytes.
#[derive(Clone)]
pub struct Input {
    pub how: String,
    pub bytes: Arc<[u8]>,
    /// For a two-text input (`pair`), where the second text starts.
    pub split: usize,
}

impl Input {
    pub fn new(how: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Input {
        Input {
            how: how.into(),
            bytes: Arc::from(bytes.into()),
            split: 0,
        }
    }

    /// Two texts in one input, e.g. the delivery and signing addresses of a TB-20 check.
    pub fn pair(how: impl Into<String>, a: &str, b: &str) -> Input {
        let mut i = Input::new(how, format!("{a}{b}"));
        i.split = a.len();
        i
    }

    /// The two texts of a `pair`.
    pub fn texts(&self) -> (&str, &str) {
        let (a, b) = self.bytes.split_at(self.split);
        (
            std::str::from_utf8(a).expect("a pair holds text"),
            std::str::from_utf8(b).expect("a pair holds text"),
        )
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} bytes): {}",
            self.how,
            self.bytes.len(),
            preview(&self.bytes, 600)
        )
    }
}

/// The first `max` bytes as escaped text, marked when cut.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s = format!("{:?}", String::from_utf8_lossy(cut));
    if bytes.len() > max {
        s.push_str(&format!(" … (+{} bytes)", bytes.len() - max));
    }
    s
}

/// Save a failing input where the failure message can point to it.
pub fn save_input(kind: &str, label: &str, bytes: &[u8]) -> String {
    let name: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(80)
        .collect();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let path = dir.join(format!("{kind}-{name}.bin"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, bytes)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    }
}

// ---- runs -------------------------------------------------------------------------------------

/// The number of cases of a strategy whose CI default is `default`: `AFTERSALES_FUZZ_CASES`
/// (the bulk strategies' count for a long run) scales every strategy by the same factor.
pub fn cases(default: u32) -> u32 {
    match std::env::var("AFTERSALES_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(n) => ((default as u64 * n) / BULK_CASES as u64).clamp(1, u32::MAX as u64) as u32,
        None => default,
    }
}

/// The CI case count of the bulk strategies; `AFTERSALES_FUZZ_CASES` replaces it.
pub const BULK_CASES: u32 = 1000;

/// A fixed seed per target, so CI runs are reproducible; `AFTERSALES_FUZZ_SEED` (a number)
/// changes every stream at once for exploring beyond the CI run.
fn seed(target: &str) -> [u8; 32] {
    let extra: u64 = std::env::var("AFTERSALES_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // FNV-1a of the target name, spread over the 32 bytes with the extra seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ extra;
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        for b in target.bytes().chain([i as u8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    out
}

/// Counts for one target's summary line.
#[derive(Debug, Default)]
pub struct Stats {
    pub executions: u64,
    pub ok: u64,
    pub err: u64,
    pub max_peak: u64,
    pub max_peak_len: usize,
    pub max_ratio_over_64k: f64,
    /// How the input with that ratio was made.
    pub max_ratio_how: String,
    pub max_time: Duration,
    pub max_time_len: usize,
    pub max_len: usize,
}

impl Stats {
    pub fn record(&mut self, input: &Input, ok: bool, cost: Cost) {
        let len = input.bytes.len();
        self.executions += 1;
        if ok {
            self.ok += 1
        } else {
            self.err += 1
        }
        if cost.peak > self.max_peak {
            self.max_peak = cost.peak;
            self.max_peak_len = len;
        }
        // The factor over the input only means something for inputs large enough that fixed
        // costs do not dominate.
        if len >= 64 * 1024 && cost.peak as f64 / len as f64 > self.max_ratio_over_64k {
            self.max_ratio_over_64k = cost.peak as f64 / len as f64;
            self.max_ratio_how = input.how.chars().take(160).collect();
        }
        if cost.elapsed > self.max_time {
            self.max_time = cost.elapsed;
            self.max_time_len = len;
        }
        self.max_len = self.max_len.max(len);
    }
}

/// Run `cases` inputs of `strategy` through `property` on a seeded ChaCha runner, and print
/// the target's summary line. A failing case (a property error or a panic, which proptest
/// turns into a failure) fails the test with the minimal input proptest found, its bytes
/// saved under the target's tmp dir.
pub fn run<S>(
    target: &str,
    cases: u32,
    strategy: S,
    property: impl Fn(&Input, &mut Stats) -> Result<(), String>,
) where
    S: Strategy<Value = Input>,
{
    let config = Config {
        cases,
        failure_persistence: None,
        // A hang or panic found on a large input shrinks by re-running it: keep that bounded.
        max_shrink_time: 60_000,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed(target)),
    );
    let stats = RefCell::new(Stats::default());
    let started = Instant::now();
    let result = runner.run(&strategy, |input| {
        property(&input, &mut stats.borrow_mut())
            .map_err(|e| TestCaseError::fail(format!("{e}\n  input: {input:?}")))
    });
    let s = stats.into_inner();
    eprintln!(
        "fuzz {target}: {} executions ({} Ok, {} Err) in {:.1?}; max peak {} KiB (input {} B), \
         max peak/len {:.1} (inputs >= 64 KiB), max time {:.1?} (input {} B), largest input {} B",
        s.executions,
        s.ok,
        s.err,
        started.elapsed(),
        s.max_peak / 1024,
        s.max_peak_len,
        s.max_ratio_over_64k,
        s.max_time,
        s.max_time_len,
        s.max_len,
    );
    if std::env::var_os("AFTERSALES_FUZZ_VERBOSE").is_some() && !s.max_ratio_how.is_empty() {
        eprintln!("fuzz {target}: max peak/len on {}", s.max_ratio_how);
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            let saved = save_input("fail", &format!("{target} {}", input.how), &input.bytes);
            eprintln!("fuzz {target}: property failed on {input:?}\n  saved to {saved}");
            // Once more outside proptest, so a panic shows where it happened.
            let _ = property(&input, &mut Stats::default());
            panic!(
                "fuzz {target}: property failed: {reason}\n  minimal input: {input:?}\n  \
                 saved to {saved}"
            );
        }
        Err(TestError::Abort(reason)) => panic!("fuzz {target}: aborted: {reason}"),
    }
}
