//! Boot counting (Boot Loader Specification, "Boot counting"; the "Automatic Boot
//! Assessment" document of systemd): an entry file named `NAME+LEFT[-DONE].conf` (or a
//! unified kernel image `NAME+LEFT[-DONE].efi`) has `LEFT` tries left and `DONE` tries
//! done. Before booting it, the loader renames it to `NAME+(LEFT-1)-(DONE+1).conf`; the
//! booted system renames it to `NAME.conf` once it has booted well.
//!
//! Parsing mirrors systemd's `boot_filename_extract_tries` (`src/shared/bootspec.c`) and
//! `boot_entry_parse_tries` (`src/boot/boot.c`); the rename mirrors the `next_name` that
//! `boot_entry_parse_tries` prepares and `boot_entry_bump_counters` applies.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::entry::Entry;

/// The largest counter systemd accepts (`INT_MAX`).
pub const MAX_TRIES: u32 = i32::MAX.unsigned_abs();

/// A boot counter read from a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tries {
    /// `LEFT`: tries left.
    pub left: u32,
    /// `DONE`: tries done, `None` when the name has only `+LEFT` (which counts as `-0`).
    pub done: Option<u32>,
}

/// A file name split into the name without its counter and the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The file name without `+LEFT[-DONE]`, suffix kept (`foo+3-1.conf` → `foo.conf`).
    pub stripped: String,
    /// The counter, when the name carries a valid one.
    pub tries: Option<Tries>,
}

impl Counted {
    /// Tries left, if counted.
    pub fn tries_left(&self) -> Option<u32> {
        self.tries.map(|t| t.left)
    }
    /// Tries done, if counted, with a missing `-DONE` read as 0 (as systemd-boot does).
    pub fn tries_done(&self) -> Option<u32> {
        self.tries.map(|t| t.done.unwrap_or(0))
    }
}

/// Reads one run of ASCII digits at the start of `s`: the value and the rest. `None` when
/// there is no digit or the value is above [`MAX_TRIES`].
fn number(s: &str) -> Option<(u32, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let (digits, rest) = s.split_at(n);
    let digits = digits.trim_start_matches('0');
    // More than ten significant digits is above MAX_TRIES whatever they are.
    if digits.len() > 10 {
        return None;
    }
    let v: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let v = u32::try_from(v).ok().filter(|&v| v <= MAX_TRIES)?;
    Some((v, rest))
}

/// Splits a counter off a file name. The suffix is everything from the last `.` (any
/// case, so `.conf`, `.CONF` and `.efi` all work); the counter is the text between the
/// last `+` before it and the suffix, `LEFT` or `LEFT-DONE`, decimal digits only.
/// A name without a valid counter is returned whole with no counter.
///
/// One deliberate difference from systemd's userspace: a counter above [`MAX_TRIES`]
/// makes `bootctl` refuse the whole file (`-ERANGE`), while systemd-boot
/// (`boot_entry_parse_tries`) keeps the entry and ignores the counter. leapboot does what
/// the boot loader does.
pub fn extract_tries(file_name: &str) -> Counted {
    let plain = Counted {
        stripped: file_name.to_string(),
        tries: None,
    };
    let Some(dot) = file_name.rfind('.') else {
        return plain;
    };
    let (head, suffix) = file_name.split_at(dot);
    let Some(plus) = head.rfind('+') else {
        return plain;
    };
    let (name, counter) = head.split_at(plus);
    let counter = &counter[1..];
    let Some((left, rest)) = number(counter) else {
        return plain;
    };
    let (done, rest) = match rest.strip_prefix('-') {
        Some(r) => match number(r) {
            Some((d, rest)) => (Some(d), rest),
            None => return plain,
        },
        None => (None, rest),
    };
    if !rest.is_empty() {
        // The counter sits in the middle of the name.
        return plain;
    }
    Counted {
        stripped: format!("{name}{suffix}"),
        tries: Some(Tries { left, done }),
    }
}

/// The file name for the next boot attempt: `NAME+LEFT[-DONE].ext` becomes
/// `NAME+(LEFT-1)-(DONE+1).ext`, saturating at 0 and [`MAX_TRIES`] as systemd-boot does
/// (an entry with no tries left still counts one more try when booted by hand).
/// `None` when the name has no counter.
pub fn next_name(file_name: &str) -> Option<String> {
    let c = extract_tries(file_name);
    let t = c.tries?;
    let dot = file_name.rfind('.')?;
    let plus = file_name.get(..dot)?.rfind('+')?;
    let (prefix, suffix) = (&file_name[..plus], &file_name[dot..]);
    let left = t.left.saturating_sub(1);
    let done = t.done.unwrap_or(0).saturating_add(1).min(MAX_TRIES);
    Some(format!("{prefix}+{left}-{done}{suffix}"))
}

/// For an entry with a boot counter: its file's current path and the path to rename it
/// to before booting it (both absolute within the entry's volume, the one that holds its
/// `source.file`). The caller does the rename on the volume, and skips it when the volume
/// is read-only; `None` for an entry without a counter.
pub fn rename_for_boot(entry: &Entry) -> Option<(String, String)> {
    let meta = entry.bls.as_ref()?;
    meta.tries_left?;
    let old = entry.source.file.clone();
    let dir = old.rsplit_once('/').map(|(d, _)| d)?;
    let new = next_name(&meta.file_name)?;
    Some((old.clone(), format!("{dir}/{new}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Option<Tries> = None;
    fn t(left: u32, done: Option<u32>) -> Option<Tries> {
        Some(Tries { left, done })
    }

    /// systemd `src/test/test-bootspec.c`, `TEST(bootspec_extract_tries)`, one row per case:
    /// (file name, stripped name, counter).
    #[test]
    fn systemd_extract_tries_vectors() {
        let rows: &[(&str, &str, Option<Tries>)] = &[
            ("foo.conf", "foo.conf", NONE),
            ("foo+0.conf", "foo.conf", t(0, None)),
            ("foo+1.conf", "foo.conf", t(1, None)),
            ("foo+2.conf", "foo.conf", t(2, None)),
            ("foo+33.conf", "foo.conf", t(33, None)),
            ("foo+2147483647.conf", "foo.conf", t(2147483647, None)),
            ("foo+33-0.conf", "foo.conf", t(33, Some(0))),
            ("foo+33-1.conf", "foo.conf", t(33, Some(1))),
            ("foo+33-107.conf", "foo.conf", t(33, Some(107))),
            ("foo+33-107.efi", "foo.efi", t(33, Some(107))),
            (
                "foo+33-2147483647.conf",
                "foo.conf",
                t(33, Some(2147483647)),
            ),
            ("foo+007-000008.conf", "foo.conf", t(7, Some(8))),
            ("foo-1.conf", "foo-1.conf", NONE),
            ("foo-999.conf", "foo-999.conf", NONE),
            ("foo-.conf", "foo-.conf", NONE),
            ("foo+.conf", "foo+.conf", NONE),
            ("+.conf", "+.conf", NONE),
            ("-.conf", "-.conf", NONE),
            ("", "", NONE),
            ("+1.", ".", t(1, None)),
            ("+1-7.", ".", t(1, Some(7))),
            (
                "some+name+24324-22.efi",
                "some+name.efi",
                t(24324, Some(22)),
            ),
            ("sels+2-3+7-6.", "sels+2-3.", t(7, Some(6))),
            ("a+1-2..", "a+1-2..", NONE),
            ("ses.sgesge.+4-1.efi", "ses.sgesge..efi", t(4, Some(1))),
            ("abc+0x4.conf", "abc+0x4.conf", NONE),
            ("def+1-0x3.conf", "def+1-0x3.conf", NONE),
        ];
        for &(name, stripped, tries) in rows {
            let c = extract_tries(name);
            assert_eq!(
                (c.stripped.as_str(), c.tries),
                (stripped, tries),
                "{name:?}"
            );
        }
    }

    /// Above INT_MAX: bootctl refuses the file (-ERANGE); systemd-boot ignores the
    /// counter and keeps the whole name, which leapboot follows.
    #[test]
    fn counter_above_int_max_is_no_counter() {
        for name in [
            "foo+2147483648.conf",
            "foo+33-2147483648.conf",
            "foo+99999999999999999999.conf",
        ] {
            let c = extract_tries(name);
            assert_eq!((c.stripped.as_str(), c.tries), (name, None), "{name:?}");
        }
    }

    /// A missing `-DONE` counts as `-0` for ordering (systemd-boot's `boot_entry_parse_tries`).
    #[test]
    fn missing_done_reads_as_zero() {
        let c = extract_tries("x+3.conf");
        assert_eq!((c.tries_left(), c.tries_done()), (Some(3), Some(0)));
        assert_eq!(extract_tries("x.conf").tries_done(), None);
    }

    /// The suffix is matched in any case; FAT names are case-insensitive.
    #[test]
    fn upper_case_suffix() {
        let c = extract_tries("Fedora+2-1.CONF");
        assert_eq!(
            (c.stripped.as_str(), c.tries),
            ("Fedora.CONF", t(2, Some(1)))
        );
    }

    /// The series from `boot_entry_parse_tries`' comment:
    /// foobar+3 → +2-1 → +1-2 → +0-3, and foobar+4-0 → +3-1 → … → +0-4.
    #[test]
    fn next_name_series() {
        let mut name = "foobar+3.efi".to_string();
        let mut seen = Vec::new();
        for _ in 0..3 {
            name = next_name(&name).unwrap();
            seen.push(name.clone());
        }
        assert_eq!(seen, ["foobar+2-1.efi", "foobar+1-2.efi", "foobar+0-3.efi"]);
        assert_eq!(
            next_name("foobar+4-0.conf").as_deref(),
            Some("foobar+3-1.conf")
        );
    }

    /// Booting an entry with no tries left still counts a try: `LESS_BY(left, 1)`.
    #[test]
    fn next_name_saturates() {
        assert_eq!(next_name("x+0-3.conf").as_deref(), Some("x+0-4.conf"));
        assert_eq!(
            next_name("x+1-2147483647.conf").as_deref(),
            Some("x+0-2147483647.conf")
        );
    }

    /// Names without a counter are not renamed.
    #[test]
    fn next_name_without_counter() {
        assert_eq!(next_name("x.conf"), None);
        assert_eq!(next_name("x+a.conf"), None);
    }

    /// Leading zeros are read but not written back.
    #[test]
    fn next_name_normalises_zeros() {
        assert_eq!(
            next_name("foo+007-000008.conf").as_deref(),
            Some("foo+6-9.conf")
        );
    }

    /// A name whose `+` comes after the last dot has no counter and no rename.
    #[test]
    fn plus_after_last_dot() {
        assert_eq!(extract_tries("foo.conf+3").tries, None);
        assert_eq!(next_name("foo.conf+3"), None);
    }
}
