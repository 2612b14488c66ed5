//! Boot counting file-name suffixes (Boot Loader Specification, "Boot counting"):
//! `NAME+LEFT[-DONE].conf`. Mirrors systemd's `boot_filename_extract_tries`.

/// A file name split into the entry id part and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Name without the counter and without `suffix`.
    pub stem: String,
    /// Tries left, when the name carries a valid counter.
    pub tries_left: Option<u32>,
    /// Tries done (0 when the counter has only `+LEFT`).
    pub tries_done: Option<u32>,
}

fn parse_num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&n| n <= i32::MAX as u32)
}

/// Splits `file_name` (for example `fedora+3-1.conf`) into stem and counters. A name
/// without a valid counter keeps all of it in the stem and has no counters.
pub fn split(file_name: &str, suffix: &str) -> Counted {
    let base = file_name.strip_suffix(suffix).unwrap_or(file_name);
    let plain = Counted { stem: base.to_string(), tries_left: None, tries_done: None };
    let Some(plus) = base.rfind('+') else { return plain };
    let counter = &base[plus + 1..];
    let (left, done) = match counter.split_once('-') {
        Some((l, d)) => (parse_num(l), parse_num(d)),
        None => (parse_num(counter), Some(0)),
    };
    match (left, done) {
        (Some(l), Some(d)) => {
            Counted { stem: base[..plus].to_string(), tries_left: Some(l), tries_done: Some(d) }
        }
        _ => plain,
    }
}

/// The file name after one more boot attempt: `+LEFT-DONE` becomes
/// `+(LEFT-1)-(DONE+1)`; `None` when there is no counter or no try left.
pub fn next_name(c: &Counted, suffix: &str) -> Option<String> {
    let left = c.tries_left?.checked_sub(1)?;
    let done = c.tries_done.unwrap_or(0).checked_add(1)?;
    Some(format!("{}+{}-{}{}", c.stem, left, done, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters() {
        let c = split("x+1.conf", ".conf");
        assert_eq!((c.stem.as_str(), c.tries_left, c.tries_done), ("x", Some(1), Some(0)));
        assert_eq!(next_name(&c, ".conf").as_deref(), Some("x+0-1.conf"));
        let c = split("x+3-2.conf", ".conf");
        assert_eq!((c.tries_left, c.tries_done), (Some(3), Some(2)));
        let c = split("x+a.conf", ".conf");
        assert_eq!((c.stem.as_str(), c.tries_left), ("x+a", None));
        let c = split("x.conf", ".conf");
        assert_eq!((c.stem.as_str(), c.tries_left), ("x", None));
        assert_eq!(next_name(&split("x+0-3.conf", ".conf"), ".conf"), None);
    }
}
