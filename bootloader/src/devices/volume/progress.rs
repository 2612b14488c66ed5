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

/// Tells the watcher of this thread, if any, that `done` of `total` bytes are read: for
/// readers that copy in steps of their own rather than through [`read_to_end`] (the
/// XFS and Btrfs volumes' [`read_chunked`](super::bounded::read_chunked)).
pub fn tell(done: u64, total: u64) {
    WATCHER.with(|w| {
        if let Ok(mut w) = w.try_borrow_mut()
            && let Some(f) = w.as_mut()
        {
            f(done, total);
        }
    });
}

/// Bytes asked for at a time once `total` is reached (a file longer than it claimed).
const PROBE: usize = 64 * 1024;

/// `reader.read_to_end(out)` in [`CHUNK`] steps, telling the watcher after each one;
/// `total` is the size the file claims (what the watcher shows as the end). Each step
/// grows `out` by a chunk (at most what `total` says is left, at least [`PROBE`]) and
/// reads straight into it until it is full or the file ends, as the XFS and Btrfs
/// volumes' [`read_chunked`](super::bounded::read_chunked) does: no bounce buffer
/// to copy from, and one watcher call per chunk, not per `read` (ext4 and FAT return
/// a block or a cluster per call). `scripts/bench` measured the gain.
pub fn read_to_end(mut reader: impl Read, out: &mut Vec<u8>, total: u64) -> std::io::Result<usize> {
    let start = out.len();
    loop {
        let done = out.len().saturating_sub(start);
        let left = total.saturating_sub(u64::try_from(done).unwrap_or(u64::MAX));
        let step = usize::try_from(left).unwrap_or(CHUNK).clamp(PROBE, CHUNK);
        let at = out.len();
        out.resize(at.saturating_add(step), 0);
        let got = fill(&mut reader, out.get_mut(at..).unwrap_or_default());
        out.truncate(at.saturating_add(*got.as_ref().unwrap_or(&0)));
        let got = got?;
        if got > 0 {
            let done = u64::try_from(out.len().saturating_sub(start)).unwrap_or(u64::MAX);
            tell(done, total);
        }
        if got < step {
            return Ok(out.len().saturating_sub(start));
        }
    }
}

/// Reads into `buf` until it is full or `reader` ends; the bytes read. After an error
/// the bytes read before it are lost to the caller (the read failed as a whole).
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Files this large get their last progress line even when read in under `every`:
/// the log then has the size and rate of every initrd-sized read, fast or slow
/// (`scripts/bench` times initrd reads by it), and a small file read says nothing.
pub const LAST_LINE_BYTES: u64 = 16 * 1024 * 1024;

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
    /// line is too recent (the final chunk always gets one, if any line was shown, the
    /// read took longer than `every` or `total` is [`LAST_LINE_BYTES`] or more).
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
        let big = total >= LAST_LINE_BYTES;
        if !(due || (finished && (self.last.is_some() || big))) {
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

    /// A reader that returns at most a block per call, as `ext4-view` and `fatfs` do.
    struct Blockwise<'a>(&'a [u8]);

    impl Read for Blockwise<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(4096);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn every_byte_arrives_whatever_size_the_file_claims() {
        let data: Vec<u8> = (0..CHUNK + 100_000).map(|i| (i % 251) as u8).collect();
        let len = data.len() as u64;
        for total in [0, 10, CHUNK as u64, len - 1, len, len + 1, 4 * CHUNK as u64] {
            let mut out = vec![1, 2];
            let n = read_to_end(Blockwise(&data), &mut out, total).unwrap();
            assert_eq!(n, data.len(), "claimed {total}");
            assert_eq!(out[..2], [1, 2]);
            assert!(out[2..] == data[..], "claimed {total}");
        }
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
        // A fast read of a small file says nothing at all; of a big one, only its end.
        let mut fast = Throttle::new(Duration::from_secs(1));
        let now = Instant::now();
        let small = LAST_LINE_BYTES - 1;
        assert_eq!(fast.line("kernel", small, small, now), None);
        let mut fast = Throttle::new(Duration::from_secs(1));
        assert_eq!(fast.line("initrd /i", 1 << 20, total, now), None);
        let last = fast.line("initrd /i", total, total, now).unwrap();
        assert!(last.contains("64.0 MiB of 64.0 MiB (100%)"), "{last}");
    }
}
