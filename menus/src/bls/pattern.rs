//! `default` patterns as systemd-boot matches them against entry ids: `efi_fnmatch`
//! (`src/boot/efi-string.c`), "fnmatch-compatible with reduced feature support".
//!
//! Supported: `*` (any run), `?` (one character), `\x` (a literal `x`), and sets `[...]`
//! with ranges `a-z` (a `]` right after `[` is a member; `-` first or last is a member;
//! ranges do not chain, so `[a-c-f]` is `a`–`c`, `-` and `f`; `\` escapes inside a set).
//! Not supported, as in systemd-boot: negated sets (`[!…]`, `[^…]` treat `!`/`^` as
//! members) and character classes. An unterminated set or a trailing `\` never matches.
//! Case is not folded here: systemd-boot lowercases both the pattern and the ids first
//! (`strtolower16`), and so do the callers ([`super::loader_conf`], [`crate::entry::BlsMeta::sd_id`]).
//!
//! The pattern is taken as simple patterns joined by `*`: the first must match at the
//! start, each later one at its leftmost place after the previous, the last at the end.
//! As every simple pattern has a fixed length, that needs no backtracking: the cost is at
//! most pattern length × text length.

/// Matches the simple pattern `p` (no `*` in it, up to `end`) against the start of `h`.
/// Returns the number of characters of `h` it consumed, or `None`.
fn simple_prefix(p: &[char], h: &[char]) -> Option<usize> {
    let (mut i, mut j) = (0usize, 0usize);
    while i < p.len() {
        let c = *h.get(j)?;
        match p[i] {
            '\\' => {
                i += 1;
                if *p.get(i)? != c {
                    return None;
                }
            }
            '?' => {}
            '[' => {
                let mut first = true;
                let mut can_range = true;
                let mut hit = false;
                loop {
                    i += 1;
                    let q = *p.get(i)?;
                    if q == '\\' {
                        i += 1;
                        if *p.get(i)? == c {
                            hit = true;
                        }
                        can_range = true;
                    } else if q == ']' && !first {
                        break;
                    } else if q == '-' && can_range && !first && p.get(i + 1) != Some(&']') {
                        let low = p[i - 1];
                        i += 1;
                        if p.get(i) == Some(&'\\') {
                            i += 1;
                        }
                        let high = *p.get(i)?;
                        if low <= c && c <= high {
                            hit = true;
                        }
                        can_range = false;
                    } else {
                        if q == c {
                            hit = true;
                        }
                        can_range = true;
                    }
                    first = false;
                }
                if !hit {
                    return None;
                }
            }
            q => {
                if q != c {
                    return None;
                }
            }
        }
        i += 1;
        j += 1;
    }
    Some(j)
}

/// Splits a pattern at the `*`s that are not escaped and not inside a set.
fn split_stars(p: &[char]) -> Vec<&[char]> {
    let mut parts = Vec::new();
    let (mut start, mut i) = (0usize, 0usize);
    while i < p.len() {
        match p[i] {
            '\\' => i += 2,
            '[' => {
                // Skip the set as `simple_prefix` reads it, so a `*` inside is a member.
                let mut k = i + 1;
                let mut first = true;
                while k < p.len() {
                    match p[k] {
                        '\\' => k += 1,
                        ']' if !first => break,
                        _ => {}
                    }
                    first = false;
                    k += 1;
                }
                i = k + 1;
            }
            '*' => {
                parts.push(&p[start..i]);
                while i < p.len() && p[i] == '*' {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    parts.push(&p[start.min(p.len())..]);
    parts
}

/// True when `pattern` matches all of `text`, as systemd-boot's `efi_fnmatch`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let h: Vec<char> = text.chars().collect();
    let parts = split_stars(&p);
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let exact = |part: &[char], at: &[char]| simple_prefix(part, at) == Some(at.len());
    if rest.is_empty() {
        return exact(first, &h);
    }
    let Some(mut pos) = simple_prefix(first, &h) else {
        return false;
    };
    let (last, middle) = rest.split_last().unwrap_or((&rest[0], &[]));
    for part in middle {
        // Leftmost place where this part matches.
        let found = (pos..=h.len()).find_map(|at| simple_prefix(part, &h[at..]).map(|n| at + n));
        match found {
            Some(end) => pos = end,
            None => return false,
        }
    }
    // The last part must end exactly at the end of the text.
    (pos..=h.len()).any(|at| exact(last, &h[at..]))
}

#[cfg(test)]
mod tests {
    use super::matches;

    /// systemd `src/test/test-efi-string.c`, `TEST(efi_fnmatch)`: (pattern, text, result).
    #[test]
    fn systemd_efi_fnmatch_vectors() {
        let rows: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("abc", "abc", true),
            ("aBc", "abc", false),
            ("b", "a", false),
            ("b", "", false),
            ("abc", "a", false),
            ("a?c", "azc", true),
            ("???", "?.9", true),
            ("1?", "1", false),
            ("***", "", true),
            ("*", "123", true),
            ("**", "abcd", true),
            ("*b*", "abcd", true),
            ("abc*d", "abc", false),
            ("start*end", "startend", true),
            ("start*end", "startendend", true),
            ("start*end", "startenddne", false),
            ("start*end", "startendstartend", true),
            ("start*end", "starten", false),
            ("*.conf", "arch.conf", true),
            ("debian-*.conf", "debian-wheezy.conf", true),
            ("debian-*.*", "debian-wheezy.efi", true),
            ("ab*cde", "abzcd", false),
            ("\\*\\a\\[", "*a[", true),
            ("[abc] [abc] [abc]", "a b c", true),
            ("abc]", "abc]", true),
            ("[abc]", "z", false),
            ("[abc", "a", false),
            ("[][!] [][!] [][!]", "[ ] !", true),
            ("[]-] []-]", "] -", true),
            ("[1\\]] [1\\]]", "1 ]", true),
            ("[$-\\+]", "&", true),
            ("[1-3A-C] [1-3A-C]", "2 B", true),
            ("[3-5] [3-5] [3-5]", "3 4 5", true),
            ("[f-h] [f-h] [f-h]", "f g h", true),
            ("[a-c-f] [a-c-f] [a-c-f] [a-c-f] [a-c-f]", "a b c - f", true),
            ("[a-c-f]", "e", false),
            ("[--0] [--0] [--0]", "- . 0", true),
            ("[+--] [+--] [+--]", "+ , -", true),
            ("[f-l]", "m", false),
            ("[b]", "z-a", false),
            ("[a\\-z]", "b", false),
            ("?a*b[.-0]c", "/a/b/c", true),
            (
                "debian-*-*-*.*",
                "debian-jessie-2018-06-17-kernel-image-5.10.0-16-amd64.efi",
                true,
            ),
            (
                "a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*",
                "aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmmnnnnooooppppqqqqrrrrssssttttuuuuvvvvwwwwxxxxyyyy",
                false,
            ),
            (
                "a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*",
                "aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmmnnnnooooppppqqqqrrrrssssttttuuuuvvvvwwwwxxxxyyyyzzzz!!!!",
                true,
            ),
        ];
        for &(p, t, want) in rows {
            assert_eq!(matches(p, t), want, "efi_fnmatch({p:?}, {t:?})");
        }
    }

    /// No negated sets in systemd-boot: `!` and `^` are members.
    #[test]
    fn no_negation() {
        assert!(matches("v[!0-9]", "v!"));
        assert!(matches("v[!0-9]", "v7"));
        assert!(!matches("v[!0-9]", "vx"));
        assert!(matches("v[^a]", "v^"));
    }

    /// A `*` inside a set is a member, not a wildcard.
    #[test]
    fn star_in_set() {
        assert!(matches("a[*]b", "a*b"));
        assert!(!matches("a[*]b", "axb"));
    }

    /// A trailing backslash never matches.
    #[test]
    fn trailing_escape() {
        assert!(!matches("abc\\", "abc\\"));
        assert!(!matches("abc\\", "abc"));
    }

    /// Typical `default` lines.
    #[test]
    fn loader_conf_defaults() {
        assert!(matches(
            "6df8915d70974b70ab1ab09dbccc374a-*",
            "6df8915d70974b70ab1ab09dbccc374a-6.1.0-50-amd64.conf"
        ));
        assert!(matches("fedora-*.efi", "fedora-6.8.efi"));
        assert!(!matches("fedora-6.8", "fedora-6.8.conf"));
    }

    /// Hostile patterns stay fast and never panic.
    #[test]
    fn garbage_never_panics() {
        let text = "a".repeat(3000);
        assert!(!matches(&"*a".repeat(300).replace("*a*a", "*a*b"), &text));
        for p in [
            "[", "[]", "[\\", "[a-", "[a-\\", "\\", "*[", "*\\", "[]]]", "[-]", "**\\*", "[\\]",
        ] {
            let _ = matches(p, "a]-\\*[");
            let _ = matches(p, "");
        }
    }
}
