//! Which entry GRUB boots, as upstream `grub-core/normal/menu.c` decides it.
//!
//! - `default` (`get_entry_number`): a value that starts with a number (after
//!   blanks, `0x` hex, a leading `0` octal) is that index, whatever follows the digits;
//!   anything else is compared with each entry's title, then its id, where `>` ends
//!   the first path element and `>>` stands for a literal `>` (`menuentry_eq`). An
//!   index out of range or no match means entry 0.
//! - Entering a submenu (`grub_menu_execute_entry`) hands it the part of `default`
//!   after the first unescaped `>`; with no such part `default` is unset, so the
//!   submenu boots its first entry.
//! - `fallback` (`get_and_remove_first_entry_number`) is a list of indexes only.
//! - `timeout` (`grub_menu_get_timeout`) is read with `strtoul`; unset or not a
//!   number means wait for a key; `timeout_style` is `menu` unless it says
//!   `countdown` or `hidden`, and is forced to `menu` when there is no timeout.
//!
//! Upstream and Fedora's GRUB differ on `default`: rhboot matches ids and titles
//! first and accepts a number only when nothing follows it, so a BLS id such as
//! `9af7b02a...-5.18.0` selects that entry there but index 9 upstream. leapboot
//! follows upstream.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// GRUB's `grub_strtoull` with base 0, as far as the menu code uses it: `Ok(n)` with
/// the rest of the string, `Err(true)` when no digit was found (`GRUB_ERR_BAD_NUMBER`),
/// `Err(false)` on overflow.
pub fn strtoul(s: &str) -> Result<(u64, &str), bool> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r']);
    let bytes = s.as_bytes();
    let (base, mut i) = match bytes {
        [b'0', b'x', ..] => (16u64, 2usize),
        [b'0', b'0'..=b'7', ..] => (8, 0),
        _ => (10, 0),
    };
    let mut n: u64 = 0;
    let mut found = false;
    while let Some(&c) = bytes.get(i) {
        let d = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => break,
        };
        if d >= base {
            break;
        }
        found = true;
        n = match n.checked_mul(base).and_then(|v| v.checked_add(d)) {
            Some(v) => v,
            None => return Err(false),
        };
        i = i.saturating_add(1);
    }
    if !found {
        return Err(true);
    }
    Ok((n, s.get(i..).unwrap_or("")))
}

/// `menuentry_eq`: true when `name` equals the first element of the path `spec`
/// (`>` ends it, `>>` is a literal `>`).
pub fn menuentry_eq(name: &str, spec: &str) -> bool {
    let a = name.as_bytes();
    let b = spec.as_bytes();
    let (mut i, mut j) = (0usize, 0usize);
    loop {
        let c2 = b.get(j).copied();
        let next2 = b.get(j.saturating_add(1)).copied();
        let c1 = a.get(i).copied();
        if c2 == Some(b'>') && next2 != Some(b'>') {
            return c1.is_none();
        }
        if c2 == Some(b'>') {
            j = j.saturating_add(1);
        }
        if a.get(i).copied() != b.get(j).copied() {
            return false;
        }
        if c1.is_none() {
            return true;
        }
        i = i.saturating_add(1);
        j = j.saturating_add(1);
    }
}

/// What `default` selects among `entries` (title, id), before range checking:
/// `None` when it names nothing (`get_entry_number` returned -1).
pub fn entry_number<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: &str,
) -> Option<u64> {
    match strtoul(value) {
        Ok((n, _)) => Some(n),
        Err(false) => None,
        Err(true) => entries
            .into_iter()
            .position(|(title, id)| menuentry_eq(title, value) || menuentry_eq(id, value))
            .and_then(|i| u64::try_from(i).ok()),
    }
}

/// The index GRUB boots from a menu of `len` entries: out of range or unmatched is 0.
pub fn default_index<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    len: usize,
    value: Option<&str>,
) -> usize {
    value
        .and_then(|v| entry_number(entries, v))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n < len)
        .unwrap_or(0)
}

/// The part of `default` after its first unescaped `>`, which a submenu receives.
pub fn remainder(value: &str) -> Option<&str> {
    let b = value.as_bytes();
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        if c == b'>' && b.get(i.saturating_add(1)) == Some(&b'>') {
            i = i.saturating_add(2);
            continue;
        }
        if c == b'>' {
            let rest = value.get(i.saturating_add(1)..).unwrap_or("");
            return if rest.is_empty() { None } else { Some(rest) };
        }
        i = i.saturating_add(1);
    }
    None
}

/// The indexes in `fallback`, in order: each a number, separated by blanks; reading
/// stops at the first thing that is not a number.
pub fn fallback_list(value: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Ok((n, tail)) = strtoul(rest) {
        out.push(n);
        rest = tail.trim_start_matches([' ', '\t', '\n', '\r']);
        if rest.is_empty() || out.len() >= 64 {
            break;
        }
    }
    out
}

/// How GRUB shows the menu before booting (`timeout_style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeoutStyle {
    /// Show the menu and count down.
    Menu,
    /// Show only a countdown; Esc shows the menu.
    Countdown,
    /// Show nothing; Esc shows the menu.
    Hidden,
}

/// The menu timeout GRUB would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GrubTimeout {
    /// Seconds before the default boots; `None` waits for a key.
    pub seconds: Option<u32>,
    /// How the wait is shown.
    pub style: TimeoutStyle,
}

/// `grub_menu_get_timeout` and `get_timeout_style` for the values of `timeout` and
/// `timeout_style`.
pub fn timeout(value: Option<&str>, style: Option<&str>) -> GrubTimeout {
    // `(int) grub_strtoul (...)`: the low 32 bits, as a signed number.
    let seconds = value
        .and_then(|v| strtoul(v).ok())
        .map(|(n, _)| {
            i32::from_ne_bytes(
                u32::try_from(n & 0xffff_ffff)
                    .unwrap_or(u32::MAX)
                    .to_ne_bytes(),
            )
        })
        .and_then(|n| u32::try_from(n).ok());
    let style = match (seconds, style) {
        (None, _) => TimeoutStyle::Menu,
        (_, Some("countdown")) => TimeoutStyle::Countdown,
        (_, Some("hidden")) => TimeoutStyle::Hidden,
        _ => TimeoutStyle::Menu,
    };
    GrubTimeout { seconds, style }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: [(&str, &str); 3] = [
        ("Debian GNU/Linux", "gnulinux-simple-1a57"),
        (
            "Advanced options for Debian GNU/Linux",
            "gnulinux-advanced-1a57",
        ),
        ("a>b", "weird"),
    ];

    fn idx(v: &str) -> usize {
        default_index(MENU, MENU.len(), Some(v))
    }

    #[test]
    fn index_title_and_id() {
        assert_eq!(idx("1"), 1);
        assert_eq!(idx("Advanced options for Debian GNU/Linux"), 1);
        assert_eq!(idx("gnulinux-simple-1a57"), 0);
        assert_eq!(idx("weird"), 2);
    }

    #[test]
    fn out_of_range_and_unknown_give_zero() {
        assert_eq!(idx("7"), 0);
        assert_eq!(idx("nothing"), 0);
        assert_eq!(default_index(MENU, 3, None), 0);
    }

    #[test]
    fn leading_digits_are_an_index_upstream() {
        // Upstream reads `2abc` as 2 and `9af7...-5.18.0` as 9 (out of range here).
        assert_eq!(idx("2abc"), 2);
        assert_eq!(idx("9af7b02ac08149d985841c07c8ff366e-5.18.0"), 0);
        assert_eq!(idx("0x2"), 2);
        assert_eq!(idx(" 1"), 1);
    }

    #[test]
    fn path_into_submenu() {
        assert_eq!(idx("gnulinux-advanced-1a57>gnulinux-6.1.0-advanced"), 1);
        assert_eq!(
            idx("Advanced options for Debian GNU/Linux>Debian, with Linux 6.1"),
            1
        );
        assert_eq!(
            remainder("gnulinux-advanced-1a57>gnulinux-6.1.0-advanced"),
            Some("gnulinux-6.1.0-advanced")
        );
        assert_eq!(remainder("1>2"), Some("2"));
        assert_eq!(remainder("1>"), None);
        assert_eq!(remainder("1"), None);
    }

    #[test]
    fn escaped_gt() {
        assert!(menuentry_eq("a>b", "a>>b"));
        assert!(menuentry_eq("a>b", "a>>b>c"));
        assert!(!menuentry_eq("a", "a>>b"));
        assert_eq!(idx("a>>b"), 2);
        assert_eq!(remainder("a>>b>c>>d"), Some("c>>d"));
    }

    #[test]
    fn fallbacks() {
        assert_eq!(fallback_list("1 2  3"), [1, 2, 3]);
        assert_eq!(fallback_list("1 x 3"), [1]);
        assert!(fallback_list("x").is_empty());
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            timeout(Some("5"), None),
            GrubTimeout {
                seconds: Some(5),
                style: TimeoutStyle::Menu
            }
        );
        assert_eq!(
            timeout(Some("-1"), Some("hidden")),
            GrubTimeout {
                seconds: None,
                style: TimeoutStyle::Menu
            }
        );
        assert_eq!(timeout(None, None).seconds, None);
        assert_eq!(
            timeout(Some("0"), Some("hidden")).style,
            TimeoutStyle::Hidden
        );
        assert_eq!(timeout(Some("4294967295"), None).seconds, None);
        assert_eq!(
            timeout(Some("3s"), Some("countdown")),
            GrubTimeout {
                seconds: Some(3),
                style: TimeoutStyle::Countdown
            }
        );
    }
}
