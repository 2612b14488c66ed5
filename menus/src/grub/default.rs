//! Which entry GRUB boots, as `grub-core/normal/menu.c` decides it, in upstream
//! GRUB and in rhboot's (Fedora, RHEL and their rebuilds).
//!
//! - `default` (`get_entry_number`), upstream: a value that starts with a number
//!   (after blanks, `0x` hex, a leading `0` octal) is that index, whatever follows the
//!   digits; anything else is compared with each entry's title, then its id, entry by
//!   entry, where `>` ends the first path element and `>>` stands for a literal `>`
//!   (`menuentry_eq`).
//! - `default`, rhboot (`get_entry_number_helper`, rhboot commit "Fix menu entry
//!   selection based on ID and title", rhbz#1640979; in Fedora 30 and later, RHEL 8
//!   and later, not in RHEL 7): every entry's id first, compared up to the first
//!   blank of the value, and the match counts only when the value has no blank;
//!   then every entry's title; only then a number, and only when the whole value
//!   is one. So `saved_entry=9af7...-5.18.0` (a BLS id starting with a digit)
//!   selects that entry there, where upstream reads index 9, and `1>2` selects
//!   nothing there.
//! - Either way the number is cast to `int`, and an index out of range or no match
//!   means entry 0.
//! - Entering a submenu (`grub_menu_execute_entry`) hands it the part of `default`
//!   after the first unescaped `>`; with no such part `default` is unset, so the
//!   submenu boots its first entry. The two builds agree here.
//! - `fallback` (`get_and_remove_first_entry_number`) is a blank-separated list of
//!   indexes upstream; rhboot also takes ids in it (a title there reads through a
//!   null pointer in rhboot, so leapboot ends the list at it).
//! - `timeout` (`grub_menu_get_timeout`) is read with `strtoul`; unset or not a
//!   number means wait for a key; `timeout_style` is `menu` unless it says
//!   `countdown` or `hidden`, and is forced to `menu` when there is no timeout.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// Which GRUB's reading of `default` and `fallback` applies to a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrubFlavour {
    /// Upstream GRUB (Debian, Ubuntu, Arch...): leading digits are an index.
    #[default]
    Upstream,
    /// rhboot's GRUB (Fedora, RHEL, CentOS, Rocky, Alma...): ids, then titles, then
    /// a whole-value number.
    Rhboot,
}

/// GRUB's `grub_isspace`.
fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

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

/// `(int) n` as the menu code casts it: the low 32 bits, as a signed number.
fn to_int(n: u64) -> i32 {
    i32::from_ne_bytes(
        u32::try_from(n & 0xffff_ffff)
            .unwrap_or(u32::MAX)
            .to_ne_bytes(),
    )
}

/// An entry number as `run_menu` uses it: a negative `int` is no entry.
fn entry_of(n: u64) -> Option<usize> {
    usize::try_from(to_int(n)).ok()
}

/// rhboot's `menuentry_eq (name, spec, limit)`, true when it returns non-zero. It
/// returns a length, so an empty name never matches a whole value. With a `limit`
/// (the offset of the first blank in `spec`) the name may also end where that blank
/// is; GRUB then returns `limit - 1`, so a one-character name never matches that
/// way. Upstream's `menuentry_eq (name, spec)` is the same without a limit.
fn eq_limit(name: &str, spec: &str, limit: Option<usize>) -> bool {
    let a = name.as_bytes();
    let b = spec.as_bytes();
    let (mut i, mut j) = (0usize, 0usize);
    while limit.is_none_or(|l| i <= l) {
        let c1 = a.get(i).copied();
        if b.get(j) == Some(&b'>') && b.get(j.saturating_add(1)) != Some(&b'>') {
            return c1.is_none() && j != 0;
        }
        if b.get(j) == Some(&b'>') {
            j = j.saturating_add(1);
        }
        let c2 = b.get(j).copied();
        if c1 != c2 {
            return limit == Some(i) && c1.is_none() && c2.is_some_and(is_blank) && i != 1;
        }
        if c1.is_none() {
            return i != 0;
        }
        i = i.saturating_add(1);
        j = j.saturating_add(1);
    }
    false
}

/// `menuentry_eq`: true when `name` equals the first element of the path `spec`
/// (`>` ends it, `>>` is a literal `>`).
pub fn menuentry_eq(name: &str, spec: &str) -> bool {
    eq_limit(name, spec, None)
}

/// What rhboot's `get_entry_number_helper` finds for `value`: the entry and the rest
/// of the value after it (`None` for a title match, whose tail GRUB sets to NULL), or
/// `Err(())` when it found nothing (-1).
fn rhboot_lookup<'v>(
    entries: &[(&str, &str)],
    value: &'v str,
) -> Result<(usize, Option<&'v str>), ()> {
    let l = value.bytes().position(is_blank).unwrap_or(value.len());
    if let Some(i) = entries
        .iter()
        .position(|(_, id)| eq_limit(id, value, Some(l)))
    {
        return Ok((i, Some(value.get(l..).unwrap_or(""))));
    }
    if let Some(i) = entries
        .iter()
        .position(|(title, _)| eq_limit(title, value, None))
    {
        return Ok((i, None));
    }
    match strtoul(value) {
        Ok((n, tail)) if tail.bytes().next().is_none_or(is_blank) => {
            entry_of(n).map(|e| (e, Some(tail))).ok_or(())
        }
        _ => Err(()),
    }
}

/// What `default` selects among `entries` (title, id), before range checking:
/// `None` when it names nothing (`get_entry_number` returned -1).
pub fn entry_number(entries: &[(&str, &str)], value: &str, flavour: GrubFlavour) -> Option<usize> {
    match flavour {
        GrubFlavour::Upstream => match strtoul(value) {
            Ok((n, _)) => entry_of(n),
            Err(false) => None,
            Err(true) => entries
                .iter()
                .position(|(title, id)| menuentry_eq(title, value) || menuentry_eq(id, value)),
        },
        // `get_entry_number`: anything left after the match makes it -1.
        GrubFlavour::Rhboot => match rhboot_lookup(entries, value) {
            Ok((i, None | Some(""))) => Some(i),
            _ => None,
        },
    }
}

/// The index GRUB boots from a menu of `entries` (title, id): out of range or
/// unmatched is 0.
pub fn default_index(entries: &[(&str, &str)], value: Option<&str>, flavour: GrubFlavour) -> usize {
    value
        .and_then(|v| entry_number(entries, v, flavour))
        .filter(|&n| n < entries.len())
        .unwrap_or(0)
}

/// rhboot's `get_entry_number` over (title, id) pairs: [`entry_number`] with
/// [`GrubFlavour::Rhboot`].
pub fn rhboot_entry_number<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: &str,
) -> Option<usize> {
    let entries: Vec<(&str, &str)> = entries.into_iter().collect();
    entry_number(&entries, value, GrubFlavour::Rhboot)
}

/// The index rhboot's GRUB boots from the first `len` of `entries` (title, id):
/// [`default_index`] with [`GrubFlavour::Rhboot`].
pub fn rhboot_default_index<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    len: usize,
    value: Option<&str>,
) -> usize {
    let entries: Vec<(&str, &str)> = entries.into_iter().take(len).collect();
    default_index(&entries, value, GrubFlavour::Rhboot)
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

/// The entries in `fallback`, in order, as `get_and_remove_first_entry_number` takes
/// them one by one: blank-separated indexes (rhboot: ids too); reading stops at the
/// first thing that names no entry.
pub fn fallback_list(entries: &[(&str, &str)], value: &str, flavour: GrubFlavour) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = value;
    while out.len() < 64 {
        let (entry, tail) = match flavour {
            GrubFlavour::Upstream => match strtoul(rest) {
                Ok((n, tail)) => (entry_of(n), tail),
                Err(_) => break,
            },
            GrubFlavour::Rhboot => match rhboot_lookup(entries, rest) {
                Ok((i, Some(tail))) => (Some(i), tail),
                Ok((_, None)) | Err(()) => break,
            },
        };
        let Some(entry) = entry else { break };
        out.push(entry);
        rest = tail.trim_start_matches([' ', '\t', '\n', '\r']);
        if rest.is_empty() {
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
        .map(|(n, _)| to_int(n))
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
        default_index(&MENU, Some(v), GrubFlavour::Upstream)
    }

    fn rh(v: &str) -> usize {
        default_index(&MENU, Some(v), GrubFlavour::Rhboot)
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
        assert_eq!(default_index(&MENU, None, GrubFlavour::Upstream), 0);
        assert_eq!(default_index(&MENU, None, GrubFlavour::Rhboot), 0);
        assert_eq!(rh("7"), 0);
        assert_eq!(rh("nothing"), 0);
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
    fn index_wraps_as_an_int() {
        // `(int) grub_strtoul (...)`: 2^32 + 1 is 1; 2^31 is negative, so entry 0.
        assert_eq!(idx("4294967297"), 1);
        assert_eq!(rh("4294967297"), 1);
        assert_eq!(idx("2147483650"), 0);
    }

    const BLS: [(&str, &str); 3] = [
        ("Fedora (6.2)", "9af7b02a-6.2"),
        ("Fedora (6.1)", "9af7b02a-6.1"),
        ("2 rescue", "rescue"),
    ];

    #[test]
    fn rhboot_ids_then_titles_then_whole_numbers() {
        let rh = |v: &str| default_index(&BLS, Some(v), GrubFlavour::Rhboot);
        let up = |v: &str| default_index(&BLS, Some(v), GrubFlavour::Upstream);
        // A BLS id starting with a digit is the id, not index 9.
        assert_eq!(rh("9af7b02a-6.1"), 1);
        assert_eq!(up("9af7b02a-6.1"), 0);
        // A title starting with a digit too.
        assert_eq!(rh("2 rescue"), 2);
        assert_eq!(up("2 rescue"), 2);
        assert_eq!(rh("Fedora (6.1)"), 1);
        // A number only when it is the whole value (leading blanks allowed).
        assert_eq!(rh("1"), 1);
        assert_eq!(rh(" 0x2"), 2);
        assert_eq!(rh("2abc"), 0);
        assert_eq!(up("2abc"), 2);
        assert_eq!(rh("1 "), 0);
        // Index paths into submenus are not numbers there.
        assert_eq!(rh("1>0"), 0);
        assert_eq!(up("1>0"), 1);
        // Id paths are.
        assert_eq!(rh("rescue>x"), 2);
        // An id followed by a blank and more: matched, then refused (entry 0).
        assert_eq!(rh("rescue now"), 0);
    }

    #[test]
    fn rhboot_ids_before_titles_of_earlier_entries() {
        // Entry 0's title is entry 1's id: upstream takes entry 0 (title or id, entry
        // by entry), rhboot entry 1 (every id first).
        let menu = [("shared", "a"), ("B", "shared")];
        assert_eq!(
            default_index(&menu, Some("shared"), GrubFlavour::Upstream),
            0
        );
        assert_eq!(default_index(&menu, Some("shared"), GrubFlavour::Rhboot), 1);
    }

    #[test]
    fn rhboot_id_is_compared_up_to_the_first_blank() {
        // The id matches the first blank-separated part, and then the rest makes the
        // value name nothing; titles are not tried (`get_entry_number`).
        let menu = [("x", "abc"), ("abc def", "y")];
        assert_eq!(
            default_index(&menu, Some("abc def"), GrubFlavour::Rhboot),
            0
        );
        assert_eq!(
            entry_number(&menu, "abc def", GrubFlavour::Rhboot),
            None,
            "-1, so entry 0"
        );
        assert_eq!(
            entry_number(&menu, "abc def", GrubFlavour::Upstream),
            Some(1)
        );
        // A one-character id never matches that way (GRUB returns `limit - 1`, 0).
        let menu = [("t", "a"), ("a b", "z")];
        assert_eq!(entry_number(&menu, "a b", GrubFlavour::Rhboot), Some(1));
    }

    #[test]
    fn empty_names_never_match() {
        let menu = [("", ""), ("b", "b")];
        assert_eq!(entry_number(&menu, "", GrubFlavour::Upstream), None);
        assert_eq!(entry_number(&menu, "", GrubFlavour::Rhboot), None);
        assert!(!menuentry_eq("", ">x"));
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
    fn rhboot_wrappers_are_the_rhboot_flavour() {
        assert_eq!(
            rhboot_default_index(BLS, BLS.len(), Some("9af7b02a-6.1")),
            1
        );
        assert_eq!(rhboot_default_index(BLS, 1, Some("9af7b02a-6.1")), 0);
        assert_eq!(rhboot_entry_number(BLS, "rescue"), Some(2));
    }

    #[test]
    fn rhboot_paths_into_submenus() {
        assert_eq!(rh("gnulinux-advanced-1a57>gnulinux-6.1.0-advanced"), 1);
        assert_eq!(
            rh("Advanced options for Debian GNU/Linux>Debian, with Linux 6.1"),
            1
        );
        // A number with a path after it is not a whole number.
        assert_eq!(rh("1>2"), 0);
        assert_eq!(idx("1>2"), 1);
        // An id path whose later element holds a blank: the id matches up to the
        // blank, and what follows makes GRUB refuse it.
        assert_eq!(rh("gnulinux-advanced-1a57>Debian, with Linux 6.1"), 0);
        assert_eq!(rh("a>>b"), 2);
        assert_eq!(rh("nothing"), 0);
    }

    #[test]
    fn fallbacks() {
        let up = |v: &str| fallback_list(&BLS, v, GrubFlavour::Upstream);
        let rh = |v: &str| fallback_list(&BLS, v, GrubFlavour::Rhboot);
        assert_eq!(up("1 2  3"), [1, 2, 3]);
        assert_eq!(up("1 x 3"), [1]);
        assert!(up("x").is_empty());
        assert_eq!(up("1x 2"), [1]);
        assert_eq!(rh("1 2  3"), [1, 2, 3]);
        assert_eq!(rh("rescue 9af7b02a-6.1\t0"), [2, 1, 0]);
        assert_eq!(up("9af7b02a-6.1 0"), [9]);
        assert_eq!(rh("1x 2"), Vec::<usize>::new());
        // A title ends the list (rhboot reads through a null pointer there).
        assert_eq!(rh("1 Fedora (6.1)"), [1]);
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
