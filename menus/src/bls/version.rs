//! The UAPI version comparison ("Version Format Specification", systemd's
//! `strverscmp_improved`), used to order entry versions and ids.

use std::cmp::Ordering;

fn is_valid(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'^' | b'.')
}

/// Compares two version strings by the UAPI rules: `~` sorts before everything
/// (pre-releases), `-` separates version from release, `^` marks a newer patched
/// release, `.` separates point releases; numeric segments compare by value and are
/// newer than alphabetic ones; other characters are ignored.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    loop {
        while i < a.len() && !is_valid(a[i]) {
            i += 1;
        }
        while j < b.len() && !is_valid(b[j]) {
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == b'~' || cb == b'~' {
            // The string prefixed with '~' is older.
            let r = (ca != b'~').cmp(&(cb != b'~'));
            if r != Ordering::Equal {
                return r;
            }
            i += 1;
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == 0 || cb == 0 {
            // Longer (more segments) is newer.
            return ca.cmp(&cb);
        }
        if ca == b'-' || cb == b'-' {
            // The string prefixed with '-' is older (123-9 < 123.1-1).
            let r = (ca != b'-').cmp(&(cb != b'-'));
            if r != Ordering::Equal {
                return r;
            }
            i += 1;
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == b'^' || cb == b'^' {
            // The string prefixed with '^' is newer.
            let r = (ca != b'^').cmp(&(cb != b'^'));
            if r != Ordering::Equal {
                return r.reverse();
            }
            i += 1;
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == b'.' || cb == b'.' {
            // The string prefixed with '.' is newer.
            let r = (ca != b'.').cmp(&(cb != b'.'));
            if r != Ordering::Equal {
                return r.reverse();
            }
            i += 1;
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        let (aa, bb);
        if ca.is_ascii_digit() || cb.is_ascii_digit() {
            // A numeric segment is newer than an alphabetic one.
            let r = ca.is_ascii_digit().cmp(&cb.is_ascii_digit());
            if r != Ordering::Equal {
                return r;
            }
            while at(a, i) == b'0' {
                i += 1;
            }
            while at(b, j) == b'0' {
                j += 1;
            }
            aa = a[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            bb = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            let r = aa.cmp(&bb).then_with(|| a[i..i + aa].cmp(&b[j..j + aa]));
            if r != Ordering::Equal {
                return r;
            }
        } else {
            aa = a[i..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
            bb = b[j..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let m = aa.min(bb);
            let r = a[i..i + m].cmp(&b[j..j + m]).then(aa.cmp(&bb));
            if r != Ordering::Equal {
                return r;
            }
        }
        i += aa;
        j += bb;
    }
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn basics() {
        assert_eq!(compare("1.2", "1.2"), Equal);
        assert_eq!(compare("1.10", "1.9"), Greater);
        assert_eq!(compare("6.1.0-50-amd64", "6.1.0-9-amd64"), Greater);
        assert_eq!(compare("123~rc1", "123"), Less);
        assert_eq!(compare("123^post1", "123"), Greater);
        assert_eq!(compare("123-9", "123.1-1"), Less);
        assert_eq!(compare("00123", "123"), Equal);
        assert_eq!(compare("abc", "abcde"), Less);
        assert_eq!(compare("1a", "1"), Greater);
    }
}
