//! The UAPI version comparison: the "Version Format Specification" of the UAPI group,
//! as systemd implements it in `strverscmp_improved` (`src/fundamental/string-util-fundamental.c`),
//! which systemd-boot uses to order entry versions and ids.
//!
//! Where the specification's examples and systemd disagree, this module follows systemd,
//! because leapboot must order entries exactly as systemd-boot does: systemd checks for
//! `~` before it checks for the end of a string, so `~` sorts below the empty string and
//! below `0`, while the specification's examples list `'' < ~` and `0 < ~`. The tests
//! name both cases.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use std::cmp::Ordering;

/// Characters that take part in the comparison; all others only separate segments.
fn is_version_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'^' | b'.')
}

/// A cursor over one version string; reads past the end as NUL, like the C original.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.i).copied().unwrap_or(0)
    }
    fn bump(&mut self) {
        self.i = self.i.saturating_add(1).min(self.s.len());
    }
    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.i < self.s.len() && f(self.peek()) {
            self.i += 1;
        }
    }
    /// Length of the run of bytes from the cursor that satisfy `f`.
    fn run(&self, f: impl Fn(u8) -> bool) -> usize {
        self.s
            .get(self.i..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| f(c))
            .count()
    }
    fn rest(&self, len: usize) -> &[u8] {
        let end = self.i.saturating_add(len).min(self.s.len());
        self.s.get(self.i..end).unwrap_or_default()
    }
}

/// Compares two version strings; `Greater` means `a` is newer.
///
/// The loop of `strverscmp_improved`: skip characters outside `[A-Za-z0-9~^.-]`; a `~`
/// prefix is older than anything else (pre-release); then the string that has ended is
/// older; a `-` prefix is older than no prefix (version/release separator); a `^` prefix
/// is older than `.` or no prefix but newer than its absence at the end (patch release);
/// a `.` prefix is older than no prefix (`123.a < 123a`); numeric segments are newer than
/// alphabetic ones and compare by value (leading zeros ignored); alphabetic segments
/// compare by ASCII (`A < a`), and the longer one is newer when one is a prefix.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut a = Cursor {
        s: a.as_bytes(),
        i: 0,
    };
    let mut b = Cursor {
        s: b.as_bytes(),
        i: 0,
    };
    loop {
        a.skip_while(|c| !is_version_char(c));
        b.skip_while(|c| !is_version_char(c));

        // '~': pre-releases. The string prefixed with '~' is older.
        if a.peek() == b'~' || b.peek() == b'~' {
            let r = (a.peek() != b'~').cmp(&(b.peek() != b'~'));
            if r != Ordering::Equal {
                return r;
            }
            a.bump();
            b.bump();
        }

        // One string ended: the longer one (more segments) is newer.
        if a.peek() == 0 || b.peek() == 0 {
            return a.peek().cmp(&b.peek());
        }

        // '-', '^' and '.', checked in that order: the string that has the prefix where the
        // other has none is older.
        for sep in [b'-', b'^', b'.'] {
            if a.peek() == sep || b.peek() == sep {
                let r = (a.peek() != sep).cmp(&(b.peek() != sep));
                if r != Ordering::Equal {
                    return r;
                }
                a.bump();
                b.bump();
            }
        }

        let (la, lb);
        if a.peek().is_ascii_digit() || b.peek().is_ascii_digit() {
            // Numeric segments are newer than alphabetic (or empty) ones.
            let (da, db) = (a.run(|c| c.is_ascii_digit()), b.run(|c| c.is_ascii_digit()));
            let r = (da != 0).cmp(&(db != 0));
            if r != Ordering::Equal {
                return r;
            }
            // Leading zeros do not count: 00123 == 123. Then the longer number is bigger,
            // and numbers of equal length compare as strings.
            a.skip_while(|c| c == b'0');
            b.skip_while(|c| c == b'0');
            la = a.run(|c| c.is_ascii_digit());
            lb = b.run(|c| c.is_ascii_digit());
            let r = la.cmp(&lb).then_with(|| a.rest(la).cmp(b.rest(lb)));
            if r != Ordering::Equal {
                return r;
            }
        } else {
            // Alphabetic segments: compare the common length byte-wise, then longer is newer.
            la = a.run(|c| c.is_ascii_alphabetic());
            lb = b.run(|c| c.is_ascii_alphabetic());
            let m = la.min(lb);
            let r = a.rest(m).cmp(b.rest(m)).then(la.cmp(&lb));
            if r != Ordering::Equal {
                return r;
            }
        }
        a.i += la;
        b.i += lb;
    }
}

/// [`compare`] for optional values, treating a missing value as the empty string (systemd's
/// `strempty`), as `boot_entry_compare` does for an entry without `version`.
pub fn compare_opt(a: Option<&str>, b: Option<&str>) -> Ordering {
    compare(a.unwrap_or(""), b.unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::{self, *};

    /// Checks `older < newer` both ways round, and that each equals itself, as systemd's
    /// `test_strverscmp_improved_newer` does.
    fn newer(older: &str, newer: &str) {
        assert_eq!(compare(older, newer), Less, "{older:?} < {newer:?}");
        assert_eq!(compare(newer, older), Greater, "{newer:?} > {older:?}");
        assert_eq!(compare(older, older), Equal, "{older:?} == itself");
        assert_eq!(compare(newer, newer), Equal, "{newer:?} == itself");
    }

    fn cmp_table(rows: &[(&str, &str, Ordering)]) {
        for &(a, b, want) in rows {
            assert_eq!(compare(a, b), want, "compare({a:?}, {b:?})");
            assert_eq!(compare(b, a), want.reverse(), "compare({b:?}, {a:?})");
        }
    }

    /// systemd `src/test/test-string-util.c`, `TEST(strverscmp_improved)`: every later
    /// string of this list is newer than every earlier one.
    #[test]
    fn systemd_ordered_list() {
        let versions = [
            "~1",
            "",
            "ab",
            "abb",
            "abc",
            "0001",
            "002",
            "12",
            "122",
            "122.9",
            "123~rc1",
            "123",
            "123-a",
            "123-a.1",
            "123-a1",
            "123-a1.1",
            "123-3",
            "123-3.1",
            "123^patch1",
            "123^1",
            "123.a-1",
            "123.1-1",
            "123a-1",
            "124",
        ];
        for (i, older) in versions.iter().enumerate() {
            for later in &versions[i + 1..] {
                newer(older, later);
            }
        }
    }

    /// Same test: version-release pairs.
    #[test]
    fn systemd_version_release_pairs() {
        newer("123.45-67.88", "123.45-67.89");
        newer("123.45-67.89", "123.45-67.89a");
        newer("123.45-67.ab", "123.45-67.89");
        newer("123.45-67.9", "123.45-67.89");
        newer("123.45-67", "123.45-67.89");
        newer("123.45-66.89", "123.45-67.89");
        newer("123.45-9.99", "123.45-67.89");
        newer("123.42-99.99", "123.45-67.89");
        newer("123-99.99", "123.45-67.89");
    }

    /// `~` marks a pre-release: older than anything without it.
    #[test]
    fn tilde_is_pre_release() {
        newer("123~rc1-99.99", "123.45-67.89");
        newer("123~rc1-99.99", "123-45.67.89");
        newer("123~rc1-99.99", "123~rc2-67.89");
        newer("123~rc1-99.99", "123^aa2-67.89");
        newer("123~rc1-99.99", "123aa2-67.89");
    }

    /// `-` separates version from release: a `-` where the other has more version is older.
    #[test]
    fn minus_separates_release() {
        newer("123-99.99", "123.45-67.89");
        newer("123-99.99", "123^aa2-67.89");
        newer("123-99.99", "123aa2-67.89");
    }

    /// `^` marks a patched release: newer than the plain version, older than a point release.
    #[test]
    fn caret_is_patch_release() {
        newer("123^45-67.89", "123.45-67.89");
        newer("123^aa1-99.99", "123^aa2-67.89");
        newer("123^aa2-67.89", "123aa2-67.89");
    }

    /// `.` separates point releases: `123.a` is older than `123a`.
    #[test]
    fn dot_is_point_release() {
        newer("123.aa2-67.89", "123aa2-67.89");
        newer("123.aa2-67.89", "123.ab2-67.89");
    }

    /// Characters outside the set are separators only.
    #[test]
    fn invalid_characters_are_separators() {
        assert_eq!(compare("123_aa2-67.89", "123aa+2-67.89"), Equal);
    }

    /// systemd's corner cases: segment counts and ignored characters.
    #[test]
    fn systemd_corner_cases() {
        cmp_table(&[
            ("123.", "123", Greater),
            ("12_3", "123", Less),
            ("12_3", "12", Greater),
            ("12_3", "12.3", Greater),
            ("123.0", "123", Greater),
            ("123_0", "123", Greater),
            ("123..0", "123.0", Less),
            ("", "", Equal),
            ("0_", "0", Equal),
            ("_0_", "0", Equal),
            ("_0", "0", Equal),
            ("0", "0___", Equal),
            ("", "_", Equal),
            ("_", "_", Equal),
            ("", "~", Greater),
            ("~", "~", Equal),
        ]);
    }

    /// Non-ASCII digits and letters are skipped like any other separator.
    #[test]
    fn non_ascii_is_ignored() {
        cmp_table(&[
            ("1٠١٢٣٤٥٦٧٨٩", "1", Equal),
            ("1๐๑๒๓๔๕๖๗๘๙", "1", Equal),
            ("1.1.α", "1.1.β", Equal),
            ("1.1.αα", "1.1.α", Equal),
            ("1.1.ββ", "1.1.αα", Equal),
        ]);
    }

    /// systemd `TEST(strverscmp_improved_rpm)`, the rpm `rpmvercmp.at` vectors with
    /// systemd's results (three of which systemd notes as reversed from rpm).
    #[test]
    fn rpm_vectors() {
        cmp_table(&[
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1a", Equal),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p1", Equal),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p10", Equal),
            ("5.5p1", "5.5p10", Less),
            ("10xyz", "10.1xyz", Greater),
            ("xyz10", "xyz10", Equal),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "xyz.4", Equal),
            ("xyz.4", "8", Less),
            ("xyz.4", "2", Less),
            ("5.5p2", "5.6p1", Less),
            ("5.6p1", "6.5p1", Less),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("10a2", "10b2", Less),
            ("1.0aa", "1.0aa", Equal),
            ("1.0a", "1.0aa", Less),
            ("10.0001", "10.0001", Equal),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101121", Equal),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Less),
            ("a", "a", Equal),
            ("a+", "a+", Equal),
            ("a+", "a_", Equal),
            ("+a", "+a", Equal),
            ("+a", "_a", Equal),
            ("+_", "+_", Equal),
            ("_+", "+_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1~git123", Equal),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0^", Equal),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git1", Equal),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0^20160101", Equal),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0^20160101^git1", "1.0^20160101^git1", Equal),
            ("1.0^20160102", "1.0^20160101^git1", Greater),
            ("1.0~rc1^git1", "1.0~rc1^git1", Equal),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1~pre", Equal),
            ("1.0^git1", "1.0^git1~pre", Greater),
            ("1b.fc17", "1b.fc17", Equal),
            ("1b.fc17", "1.fc17", Greater),
            ("1g.fc17", "1g.fc17", Equal),
            ("1g.fc17", "1.fc17", Greater),
        ]);
    }

    /// The UAPI "Version Format Specification", section "Examples", where it agrees with
    /// systemd.
    #[test]
    fn uapi_spec_examples() {
        cmp_table(&[
            ("11", "11", Equal),
            ("systemd-123", "systemd-123", Equal),
            ("bar-123", "foo-123", Less),
            ("123a", "123", Greater),
            ("123.a", "123", Greater),
            ("123.a", "123.b", Less),
            ("123a", "123.a", Greater),
            ("11α", "11β", Equal),
            ("A", "a", Less),
            ("", "0", Less),
            ("0.", "0", Greater),
            ("0.0", "0", Greater),
            ("1_", "1", Equal),
            ("_1", "1", Equal),
            ("1_", "1.2", Less),
            ("1_2_3", "1.3.3", Greater),
            ("1+", "1", Equal),
            ("+1", "1", Equal),
            ("1+", "1.2", Less),
            ("1+2+3", "1.3.3", Greater),
        ]);
    }

    /// The two specification examples systemd does not follow (`0 < ~` and `'' < ~`):
    /// systemd checks for `~` before the end of the string, so `~` is older than both.
    /// leapboot follows systemd-boot.
    #[test]
    fn uapi_spec_tilde_examples_follow_systemd() {
        cmp_table(&[("0", "~", Greater), ("", "~", Greater)]);
    }

    /// Kernel versions as entry ids carry them.
    #[test]
    fn kernel_versions() {
        newer("6.1.0-9-amd64", "6.1.0-50-amd64");
        newer("5.6.6-300.fc32.x86_64", "5.14.10-300.fc35.x86_64");
        newer("foo-1.conf", "foo.conf");
        newer("a-5.conf", "a-10.conf");
    }

    /// Arbitrary bytes never panic and compare equal to themselves.
    #[test]
    fn garbage_never_panics() {
        let samples = [
            "\0",
            "~~~~",
            "^^^",
            "--..^^~~",
            "9999999999999999999999999",
            "\u{ffff}~0",
            "~\0~",
        ];
        for a in samples {
            assert_eq!(compare(a, a), Equal);
            for b in samples {
                let _ = compare(a, b);
            }
        }
    }
}
