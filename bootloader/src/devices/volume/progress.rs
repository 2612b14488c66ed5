//! How far a long read has got, for the handoff: a kernel or a 64 MiB initrd read from a
//! slow disk (a BMC's virtual media, a failing drive) should say how far it is rather
//! than sit silent.
//!
//! The readers copy whole files through [`read_to_end`], which reads in
//! [`CHUNK`]-sized steps and tells the watcher of the current thread, if any, the bytes
//! done and the total. [`watch`] installs a watcher for the length of one call, so the
//! `FileSystem` trait stays as it is and a reader without a watcher pays nothing but a
//! thread-local look-up per chunk.

use std::cell::RefCell;
use std::io::Read;

/// Bytes read between two reports.
pub const CHUNK: usize = 1024 * 1024;

type Watcher = Box<dyn FnMut(u64, u64)>;

thread_local! {
    static WATCHER: RefCell<Option<Watcher>> = const { RefCell::new(None) };
}

/// Runs `f` with `watcher(done, total)` told of every chunk the readers copy on this
/// thread meanwhile; the previous watcher (if any) comes back afterwards.
pub fn watch<T>(watcher: impl FnMut(u64, u64) + 'static, f: impl FnOnce() -> T) -> T {
    let previous = WATCHER.with(|w| w.borrow_mut().replace(Box::new(watcher)));
    let out = f();
    WATCHER.with(|w| *w.borrow_mut() = previous);
    out
}

fn tell(done: u64, total: u64) {
    WATCHER.with(|w| {
        if let Ok(mut w) = w.try_borrow_mut()
            && let Some(f) = w.as_mut()
        {
            f(done, total);
        }
    });
}

/// `reader.read_to_end(out)` in [`CHUNK`] steps, telling the watcher after each one;
/// `total` is the size the file claims (what the watcher shows as the end).
pub fn read_to_end(mut reader: impl Read, out: &mut Vec<u8>, total: u64) -> std::io::Result<usize> {
    let start = out.len();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
        let done = u64::try_from(out.len().saturating_sub(start)).unwrap_or(u64::MAX);
        tell(done, total);
    }
    Ok(out.len().saturating_sub(start))
}

/// One progress line at most every `every`, plus the last: what a watcher built with
/// [`Throttle::watcher`] logs.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: std::time::Duration,
    started: std::time::Instant,
    last: Option<std::time::Instant>,
}

impl Throttle {
    /// A throttle starting now.
    pub fn new(every: std::time::Duration) -> Throttle {
        Throttle {
            every,
            started: std::time::Instant::now(),
            last: None,
        }
    }

    /// The line to show for `done` of `total` bytes at `now`, or `None` when the last
    /// line is too recent (the final chunk always gets one, if any line was shown or
    /// the read took longer than `every`).
    pub fn line(
        &mut self,
        what: &str,
        done: u64,
        total: u64,
        now: std::time::Instant,
    ) -> Option<String> {
        let elapsed = now.saturating_duration_since(self.started);
        let finished = done >= total;
        let due = match self.last {
            None => elapsed >= self.every,
            Some(t) => now.saturating_duration_since(t) >= self.every,
        };
        if !(due || (finished && self.last.is_some())) {
            return None;
        }
        self.last = Some(now);
        let secs = elapsed.as_secs_f64().max(0.001);
        // Display only: a rate in MiB/s needs no more than f64's 53 bits.
        #[allow(clippy::cast_precision_loss)]
        let rate = done as f64 / secs / (1024.0 * 1024.0);
        let pct = done.saturating_mul(100).checked_div(total).unwrap_or(100);
        Some(format!(
            "reading {what}: {} of {} ({pct}%), {rate:.1} MiB/s",
            mib(done),
            mib(total),
        ))
    }
}

/// Bytes as MiB with one decimal (display only).
fn mib(bytes: u64) -> String {
    // Display only: one decimal of a MiB count needs no more than f64's 53 bits.
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn chunks_are_reported_to_the_watcher_of_this_thread_only() {
        let data = vec![7u8; CHUNK * 2 + 5];
        let seen = std::rc::Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let mut out = Vec::new();
        let n = watch(
            move |done, total| s.borrow_mut().push((done, total)),
            || read_to_end(&data[..], &mut out, 3 * 1024 * 1024),
        )
        .unwrap();
        assert_eq!(n, data.len());
        assert_eq!(out, data);
        let seen = seen.borrow();
        assert_eq!(seen.first(), Some(&(CHUNK as u64, 3 * 1024 * 1024)));
        assert_eq!(seen.last().map(|s| s.0), Some(data.len() as u64));
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
        // No watcher afterwards: nothing is told, nothing breaks.
        let mut again = Vec::new();
        read_to_end(&data[..], &mut again, 0).unwrap();
        assert_eq!(again.len(), data.len());
    }

    #[test]
    fn throttle_shows_a_line_a_second_and_the_last() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let t0 = t.started;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let total = 64 * 1024 * 1024;
        assert_eq!(t.line("initrd /initrd.img", 1 << 20, total, at(100)), None);
        let l = t
            .line("initrd /initrd.img", 16 << 20, total, at(1000))
            .unwrap();
        assert_eq!(
            l,
            "reading initrd /initrd.img: 16.0 MiB of 64.0 MiB (25%), 16.0 MiB/s"
        );
        assert_eq!(
            t.line("initrd /initrd.img", 20 << 20, total, at(1500)),
            None
        );
        let last = t
            .line("initrd /initrd.img", total, total, at(1600))
            .unwrap();
        assert!(last.contains("64.0 MiB of 64.0 MiB (100%)"), "{last}");
        // A fast read says nothing at all.
        let mut fast = Throttle::new(Duration::from_secs(1));
        let now = Instant::now();
        assert_eq!(fast.line("kernel", total, total, now), None);
    }
}
