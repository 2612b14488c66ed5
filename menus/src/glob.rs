//! Shell-style globs over entry ids (`*`, `?`, `[...]`, `\`), in the two dialects the
//! default ladder needs, with one matcher.
//!
//! - [`efi_fnmatch`]: systemd-boot's `efi_fnmatch` (`src/boot/efi-string.c`,
//!   "fnmatch-compatible with reduced feature support"), for `loader.conf`'s `default`
//!   (`menu::loader_conf_matches`). Case-sensitive: systemd-boot lowercases the
//!   pattern and its ids before matching, and so do its callers here.
//! - [`id_glob`]: the glob of leapboot's own `default` setting (`leapboot.default=`,
//!   `/etc/leapboot.toml`) and of `leapboot boot --entry` (`menu::pattern_matches`):
//!   ASCII case is ignored, and sets may be negated, as in a shell.
//!
//! Both dialects share: `*` matches any run of characters (including none), `?` one
//! character, `\x` the character `x`, and `[...]` one character of a set, where a `]`
//! right after `[` is a member, a `-` first or last is a member, `a-z` is a range, and
//! ranges do not chain (`[a-c-f]` is `a`–`c`, `-` and `f`). Characters are Unicode
//! scalar values (systemd-boot's are UCS-2), compared by code point; there is no
//! special meaning for `/` or a leading `.` (no `FNM_PATHNAME`, no `FNM_PERIOD`).
//! Where they differ, rule by rule ([`Dialect`] names each):
//!
//! | rule | [`efi_fnmatch`] | [`id_glob`] | libc `fnmatch(3)` |
//! | --- | --- | --- | --- |
//! | ASCII case | significant | ignored | significant (ignored with `FNM_CASEFOLD`) |
//! | `[!…]`, `[^…]` | `!`, `^` are members | negated set | negated set |
//! | `\` inside a set | escapes the next character | a member | escapes |
//! | unterminated `[` | never matches | a literal `[` | a literal `[` |
//! | reversed range `[c-a]` | matches `c` only | matches nothing | matches nothing |
//! | `[[:alpha:]]` classes | not supported | not supported | supported |
//! | trailing `\` | never matches | never matches | never matches (glibc) |
//!
//! The reversed-range row follows from how each reads a set: systemd-boot adds each
//! character as it reads it and turns `-` into a range from the character before,
//! which stays a member; the id glob reads `c-a` as one item.
//!
//! The matcher compiles the pattern into tokens, each of which but `*` matches exactly
//! one character, and then follows systemd's `efi_fnmatch`: the pattern is simple
//! patterns joined by `*`; the first must match at the start, each later one at its
//! leftmost place after the one before, and the last one at the end. No backtracking:
//! at most pattern length × text length steps, whatever the input.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// A glob dialect: which rules a pattern is read by (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// systemd-boot's `efi_fnmatch`, for `loader.conf`'s `default`.
    EfiFnmatch,
    /// leapboot's case-insensitive id glob, for the `default` setting.
    IdGlob,
}

/// The rules a dialect is made of.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// ASCII case is ignored.
    fold_case: bool,
    /// `[!…]` and `[^…]` are negated sets.
    negation: bool,
    /// `\` escapes the next character inside a set.
    escapes_in_sets: bool,
    /// An unterminated `[` is a literal `[` (else the pattern never matches).
    unterminated_set_is_literal: bool,
    /// In `x-y`, `x` is a member even when the range is empty.
    range_start_is_member: bool,
}

impl Dialect {
    fn rules(self) -> Rules {
        match self {
            Dialect::EfiFnmatch => Rules {
                fold_case: false,
                negation: false,
                escapes_in_sets: true,
                unterminated_set_is_literal: false,
                range_start_is_member: true,
            },
            Dialect::IdGlob => Rules {
                fold_case: true,
                negation: true,
                escapes_in_sets: false,
                unterminated_set_is_literal: true,
                range_start_is_member: false,
            },
        }
    }
}

/// True when `pattern` matches all of `text`, as systemd-boot's `efi_fnmatch` decides.
pub fn efi_fnmatch(pattern: &str, text: &str) -> bool {
    matches(Dialect::EfiFnmatch, pattern, text)
}

/// True when `pattern` matches all of `text` by leapboot's id glob (ASCII case ignored,
/// negated sets).
pub fn id_glob(pattern: &str, text: &str) -> bool {
    matches(Dialect::IdGlob, pattern, text)
}

/// True when `pattern` matches all of `text` in `dialect`.
pub fn matches(dialect: Dialect, pattern: &str, text: &str) -> bool {
    let rules = dialect.rules();
    let fold = |s: &str| -> Vec<char> {
        if rules.fold_case {
            s.chars().map(|c| c.to_ascii_lowercase()).collect()
        } else {
            s.chars().collect()
        }
    };
    let Some(tokens) = compile(&fold(pattern), rules) else {
        return false;
    };
    let text = fold(text);
    let mut parts = tokens.split(|t| matches!(t, Token::Star));
    let first = parts.next().unwrap_or_default();
    let Some(rest) = text.get(first.len()..).filter(|_| fits(first, &text)) else {
        return false;
    };
    let Some(last) = parts.next_back() else {
        // No `*`: the one simple pattern is the whole text.
        return rest.is_empty();
    };
    let mut rest = rest;
    for part in parts {
        // Leftmost place where this simple pattern matches.
        let Some(at) = (0..=rest.len()).find(|&at| rest.get(at..).is_some_and(|r| fits(part, r)))
        else {
            return false;
        };
        rest = rest.get(at + part.len()..).unwrap_or_default();
    }
    // The last simple pattern ends at the end of the text.
    rest.len()
        .checked_sub(last.len())
        .and_then(|at| rest.get(at..))
        .is_some_and(|tail| fits(last, tail))
}

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`.
    Star,
    /// `?`.
    Any,
    /// A literal character.
    Char(char),
    /// `[...]`: inclusive ranges (a single character is a range of one).
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// Never matches (a trailing `\`).
    Never,
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Star => true,
            Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Set { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Never => false,
        }
    }
}

/// True when the simple pattern `part` (no `*`) matches the start of `text`.
fn fits(part: &[Token], text: &[char]) -> bool {
    part.len() <= text.len() && part.iter().zip(text).all(|(t, &c)| t.matches(c))
}

/// Compiles a pattern; `None` when it can never match (an unterminated set where that
/// is not a literal `[`).
fn compile(p: &[char], rules: Rules) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        i += 1;
        out.push(match c {
            '*' => {
                // A run of stars is one star.
                while p.get(i) == Some(&'*') {
                    i += 1;
                }
                Token::Star
            }
            '?' => Token::Any,
            '\\' => match p.get(i) {
                Some(&e) => {
                    i += 1;
                    Token::Char(e)
                }
                None => Token::Never,
            },
            '[' => match set(p, i, rules) {
                Some((token, next)) => {
                    i = next;
                    token
                }
                None if rules.unterminated_set_is_literal => Token::Char('['),
                None => return None,
            },
            c => Token::Char(c),
        });
    }
    Some(out)
}

/// Reads the set whose first character is `p[start]` (just after `[`): the token and
/// the index after its `]`, or `None` when no `]` closes it. The shape is systemd's
/// `efi_fnmatch_prefix`: a `-` that is neither first nor last, and does not follow a
/// range, makes a range from the character before it to the one after.
fn set(p: &[char], start: usize, rules: Rules) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = rules.negation && matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    let mut can_range = true;
    loop {
        let q = *p.get(i)?;
        i += 1;
        if q == '\\' && rules.escapes_in_sets {
            let e = *p.get(i)?;
            i += 1;
            ranges.push((e, e));
            can_range = true;
        } else if q == ']' && !first {
            return Some((Token::Set { negated, ranges }, i));
        } else if q == '-' && can_range && !first && p.get(i) != Some(&']') {
            if rules.escapes_in_sets && p.get(i) == Some(&'\\') {
                i += 1;
            }
            let hi = *p.get(i)?;
            i += 1;
            // The character before the `-`: always a single member just pushed, as
            // `can_range` is false right after a range and `first` before anything.
            let lo = ranges.last().map_or(q, |&(lo, _)| lo);
            if !rules.range_start_is_member {
                ranges.pop();
            }
            ranges.push((lo, hi));
            can_range = false;
        } else {
            ranges.push((q, q));
            can_range = true;
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::{efi_fnmatch, id_glob};

    mod id_glob_rules {
        use super::id_glob as matches;

        #[test]
        fn literal() {
            assert!(matches("abc", "abc"));
            assert!(!matches("abc", "abcd"));
        }
        #[test]
        fn case_insensitive() {
            assert!(matches("Debian-*", "debian-6.1"));
        }
        #[test]
        fn leading_wildcard() {
            assert!(matches("*-6.1.0-50-amd64", "6df8-6.1.0-50-amd64"));
        }
        #[test]
        fn middle_wildcards() {
            assert!(matches("a*b*c", "aXXbYYc"));
            assert!(!matches("a*b*c", "aXXbYY"));
        }
        #[test]
        fn question_mark() {
            assert!(matches("fedora-?", "fedora-1"));
            assert!(!matches("fedora-?", "fedora-12"));
        }
        #[test]
        fn classes() {
            assert!(matches("v[0-9]", "v7"));
            assert!(!matches("v[!0-9]", "v7"));
            assert!(matches("v[ab]", "vb"));
        }
        #[test]
        fn unterminated_class_is_literal() {
            assert!(matches("v[", "v["));
        }
        #[test]
        fn escaped_star() {
            assert!(matches("a\\*", "a*"));
            assert!(!matches("a\\*", "ab"));
        }
        #[test]
        fn many_stars_are_fast() {
            let p = "*a".repeat(200);
            assert!(!matches(&p, &"a".repeat(150)));
        }
    }

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
            assert_eq!(efi_fnmatch(p, t), want, "efi_fnmatch({p:?}, {t:?})");
        }
    }

    /// No negated sets in systemd-boot: `!` and `^` are members.
    #[test]
    fn no_negation() {
        assert!(efi_fnmatch("v[!0-9]", "v!"));
        assert!(efi_fnmatch("v[!0-9]", "v7"));
        assert!(!efi_fnmatch("v[!0-9]", "vx"));
        assert!(efi_fnmatch("v[^a]", "v^"));
    }

    /// A `*` inside a set is a member, not a wildcard.
    #[test]
    fn star_in_set() {
        assert!(efi_fnmatch("a[*]b", "a*b"));
        assert!(!efi_fnmatch("a[*]b", "axb"));
    }

    /// A trailing backslash never matches.
    #[test]
    fn trailing_escape() {
        assert!(!efi_fnmatch("abc\\", "abc\\"));
        assert!(!efi_fnmatch("abc\\", "abc"));
    }

    /// Typical `default` lines.
    #[test]
    fn loader_conf_defaults() {
        assert!(efi_fnmatch(
            "6df8915d70974b70ab1ab09dbccc374a-*",
            "6df8915d70974b70ab1ab09dbccc374a-6.1.0-50-amd64.conf"
        ));
        assert!(efi_fnmatch("fedora-*.efi", "fedora-6.8.efi"));
        assert!(!efi_fnmatch("fedora-6.8", "fedora-6.8.conf"));
    }

    /// Hostile patterns stay fast and never panic, in both dialects.
    #[test]
    fn garbage_never_panics() {
        let text = "a".repeat(3000);
        assert!(!efi_fnmatch(
            &"*a".repeat(300).replace("*a*a", "*a*b"),
            &text
        ));
        assert!(!id_glob(&"*a".repeat(300).replace("*a*a", "*a*b"), &text));
        for p in [
            "[",
            "[]",
            "[\\",
            "[a-",
            "[a-\\",
            "\\",
            "*[",
            "*\\",
            "[]]]",
            "[-]",
            "**\\*",
            "[\\]",
            "[!",
            "[^]",
            "[!]",
            "[a-]",
            "[-a",
            "*[*",
            "[[:alpha:]]",
        ] {
            for t in ["a]-\\*[", "", "[", "\\"] {
                let _ = efi_fnmatch(p, t);
                let _ = id_glob(p, t);
            }
        }
    }
}
