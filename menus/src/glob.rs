//! Shell-style globs (`*`, `?`, `[...]`) as systemd-boot matches `default` patterns
//! against entry ids, case-insensitively. The matcher is iterative with one
//! backtrack point, so hostile patterns cost O(pattern × text), never exponential.

/// True when `pattern` matches the whole of `text`, ignoring ASCII case.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some('[') => {
                if let Some((ok, next)) = class(&p, pi, t[ti]) {
                    if ok {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                } else if t[ti] == '[' {
                    // An unterminated class is a literal '['.
                    pi += 1;
                    ti += 1;
                    continue;
                }
            }
            Some('\\') if p.get(pi + 1) == Some(&t[ti]) => {
                pi += 2;
                ti += 1;
                continue;
            }
            Some(&c) if c != '\\' && c == t[ti] => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns whether it
/// matched and the index after `]`, or `None` when the class is not terminated.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let end = p[i + 2];
            if ch <= c && c <= end {
                matched = true;
            }
            i += 3;
        } else {
            if ch == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

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
