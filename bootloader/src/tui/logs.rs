//! The log viewer's lines: leapboot's own (from [`crate::log::lines`]) and the
//! kernel's (from `/dev/kmsg`), merged in time order. Both carry CLOCK_BOOTTIME
//! stamps, so sorting by stamp interleaves them as they happened.
//!
//! `/dev/kmsg` gives one record per `read(2)`: `PRI,SEQ,USEC,FLAGS[,...];TEXT`
//! followed by optional ` KEY=VALUE` continuation lines (the kernel's
//! `Documentation/ABI/testing/dev-kmsg`). PRI is `facility * 8 + level`; only
//! facility 0 (the kernel) is taken, since leapboot's own lines are in kmsg too
//! (written at debug level as facility `user`) and come from the in-memory log.

use super::state::LogLine;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// Most kernel records kept.
pub const MAX_KERNEL_LINES: usize = 8192;

/// One kernel record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsgRecord {
    /// Syslog level, 0-7.
    pub level: u8,
    /// Syslog facility (0 is the kernel).
    pub facility: u32,
    /// Sequence number.
    pub seq: u64,
    /// Microseconds of CLOCK_BOOTTIME... as printk stamps them.
    pub usec: u64,
    /// The message (first line only).
    pub text: String,
}

/// Parses one `/dev/kmsg` record; `None` for anything malformed.
pub fn parse_kmsg(record: &[u8]) -> Option<KmsgRecord> {
    let text = String::from_utf8_lossy(record);
    let first = text.lines().next()?;
    let (head, msg) = first.split_once(';')?;
    let mut f = head.split(',');
    let pri: u32 = f.next()?.trim().parse().ok()?;
    let seq: u64 = f.next()?.trim().parse().ok()?;
    let usec: u64 = f.next()?.trim().parse().ok()?;
    Some(KmsgRecord {
        level: (pri & 7) as u8,
        facility: pri >> 3,
        seq,
        usec,
        text: msg.to_string(),
    })
}

/// The stamp of a leapboot log line, `[    2.614361] leapboot: ...`, in microseconds.
pub fn parse_stamp(line: &str) -> Option<u64> {
    let inner = line.strip_prefix('[')?.split_once(']')?.0.trim();
    let (s, us) = inner.split_once('.')?;
    let s: u64 = s.parse().ok()?;
    let us: u64 = us.parse().ok()?;
    s.checked_mul(1_000_000)?.checked_add(us)
}

/// A kernel record as dmesg prints it.
pub fn format_kernel(r: &KmsgRecord) -> String {
    format!(
        "[{:5}.{:06}] {}",
        r.usec / 1_000_000,
        r.usec % 1_000_000,
        r.text
    )
}

/// Merges leapboot's lines and kernel records by time (stable: leapboot's line
/// first on a tie; a leapboot line without a stamp keeps the time of the line
/// before it).
pub fn merge(leapboot: &[String], kernel: &[KmsgRecord]) -> Vec<LogLine> {
    let mut out: Vec<LogLine> = Vec::with_capacity(leapboot.len() + kernel.len());
    let mut last = 0;
    for l in leapboot {
        let usec = parse_stamp(l).unwrap_or(last);
        last = usec;
        let level = if l.contains("failed") || l.contains("error") {
            4
        } else {
            6
        };
        out.push(LogLine {
            usec,
            kernel: false,
            level,
            text: l.clone(),
        });
    }
    for r in kernel.iter().filter(|r| r.facility == 0) {
        out.push(LogLine {
            usec: r.usec,
            kernel: true,
            level: r.level,
            text: format_kernel(r),
        });
    }
    out.sort_by_key(|l| (l.usec, l.kernel));
    out
}

/// Kernel records read so far from `/dev/kmsg`.
pub struct Kmsg {
    file: Option<File>,
    /// Records in order.
    pub records: Vec<KmsgRecord>,
}

impl Kmsg {
    /// Opens `/dev/kmsg` non-blocking at the start of the ring buffer (no records read yet).
    pub fn open() -> Kmsg {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok();
        Kmsg {
            file,
            records: Vec::new(),
        }
    }

    /// Reads every new record; returns true if there were any.
    pub fn read_new(&mut self) -> bool {
        let Some(f) = &mut self.file else {
            return false;
        };
        let mut any = false;
        let mut buf = vec![0u8; 8192];
        // Bounded: a flood of messages must not keep the menu from drawing.
        for _ in 0..4096 {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(r) = buf.get(..n).and_then(parse_kmsg) {
                        self.records.push(r);
                        any = true;
                    }
                }
                // EPIPE: records were overwritten before we read them; go on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if self.records.len() > MAX_KERNEL_LINES {
            let cut = self.records.len() - MAX_KERNEL_LINES;
            self.records.drain(..cut);
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records() {
        let r = parse_kmsg(b"6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n")
            .unwrap();
        assert_eq!(
            r,
            KmsgRecord {
                level: 6,
                facility: 0,
                seq: 339,
                usec: 5_140_900,
                text: "NET: Registered protocol family 10".into()
            }
        );
        let u = parse_kmsg(b"15,400,6000000,-,caller=T1;leapboot: menu: hi").unwrap();
        assert_eq!((u.facility, u.level), (1, 7));
        assert_eq!(parse_kmsg(b"garbage"), None);
        assert_eq!(parse_kmsg(b"x,1,2,-;t"), None);
        assert_eq!(parse_kmsg(b""), None);
    }

    #[test]
    fn stamps() {
        assert_eq!(
            parse_stamp("[    2.614361] leapboot: menu: x"),
            Some(2_614_361)
        );
        assert_eq!(parse_stamp("[12345.000001] x"), Some(12_345_000_001));
        assert_eq!(parse_stamp("no stamp"), None);
        assert_eq!(parse_stamp("[ 1.x] y"), None);
    }

    #[test]
    fn merged_in_time_order_without_leapboot_kmsg_copies() {
        let ours = vec![
            "[    1.000000] leapboot: init: start".to_string(),
            "[    3.000000] leapboot: disk: vda".to_string(),
            "continued".to_string(),
        ];
        let kernel = vec![
            parse_kmsg(b"6,1,500000,-;Linux version 6.1").unwrap(),
            parse_kmsg(b"3,2,2000000,-;virtio_blk: oops").unwrap(),
            parse_kmsg(b"15,3,1000001,-;leapboot: init: start").unwrap(),
            parse_kmsg(b"6,4,3000000,-;same time").unwrap(),
        ];
        let m = merge(&ours, &kernel);
        let texts: Vec<&str> = m.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "[    0.500000] Linux version 6.1",
                "[    1.000000] leapboot: init: start",
                "[    2.000000] virtio_blk: oops",
                "[    3.000000] leapboot: disk: vda",
                "continued",
                "[    3.000000] same time",
            ]
        );
        assert_eq!(m[2].level, 3);
        assert!(m[2].kernel);
    }
}
