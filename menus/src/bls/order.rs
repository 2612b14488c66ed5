//! Boot order and menu titles of BLS entries (Type #1 and Type #2 alike), as systemd-boot
//! computes them: `boot_entry_compare` and `generate_boot_entry_titles` in systemd's
//! `src/boot/boot.c` (the Boot Loader Specification, "Sorting", describes the same order).

use super::version;
use crate::entry::{BlsMeta, Entry};
use std::cmp::Ordering;

fn meta(e: &Entry) -> Option<&BlsMeta> {
    e.bls.as_ref()
}

/// Compares two BLS entries; `Less` is listed (and preferred) first. The steps, in
/// systemd-boot's order:
///
/// 1. entries with no tries left go last (boot counting);
/// 2. entries with a `sort-key` go before entries without one;
/// 3. if both have one: by `sort-key` (byte order), then `machine-id` (byte order, a
///    missing one first), then `version`, newest first (UAPI version comparison, a
///    missing one as empty);
/// 4. by id, newest first (UAPI version comparison of the lowercased file name without
///    counter, suffix included: [`BlsMeta::sd_id`]);
/// 5. if both are counted: more tries left first, then fewer tries done.
pub fn compare(a: &Entry, b: &Entry) -> Ordering {
    let (ma, mb) = (meta(a), meta(b));
    let left = |m: Option<&BlsMeta>| m.and_then(|m| m.tries_left);

    // 1. "Order entries that have no tries left to the end of the list."
    let r = (left(ma) == Some(0)).cmp(&(left(mb) == Some(0)));
    if r != Ordering::Equal {
        return r;
    }

    // 2. New-style (sort-key) entries before old-style ones.
    let (ka, kb) = (
        ma.and_then(|m| m.sort_key.as_deref()),
        mb.and_then(|m| m.sort_key.as_deref()),
    );
    let r = ka.is_none().cmp(&kb.is_none());
    if r != Ordering::Equal {
        return r;
    }

    // 3. Both new-style: sort-key, then machine-id (group installations of one OS), then
    //    version, newest first.
    if let (Some(ka), Some(kb)) = (ka, kb) {
        let r = ka.as_bytes().cmp(kb.as_bytes());
        if r != Ordering::Equal {
            return r;
        }
        let (ida, idb) = (
            ma.and_then(|m| m.machine_id.as_deref()),
            mb.and_then(|m| m.machine_id.as_deref()),
        );
        let r = ida.map(str::as_bytes).cmp(&idb.map(str::as_bytes));
        if r != Ordering::Equal {
            return r;
        }
        let r = version::compare_opt(a.version.as_deref(), b.version.as_deref());
        if r != Ordering::Equal {
            return r.reverse();
        }
    }

    // 4. By id, newest first: the version is usually part of the id.
    let id = |e: &Entry| {
        e.bls
            .as_ref()
            .map_or_else(|| e.id.to_ascii_lowercase(), |m| m.sd_id.clone())
    };
    let r = version::compare(&id(a), &id(b));
    if r != Ordering::Equal {
        return r.reverse();
    }

    // 5. Both counted and otherwise equal: more tries left first, then fewer tries done.
    match (ma, mb) {
        (Some(ma), Some(mb)) => match (ma.tries_left, mb.tries_left) {
            (Some(la), Some(lb)) => lb
                .cmp(&la)
                .then(ma.tries_done.unwrap_or(0).cmp(&mb.tries_done.unwrap_or(0))),
            _ => Ordering::Equal,
        },
        _ => Ordering::Equal,
    }
}

/// Sorts BLS entries into boot order with [`compare`]; the sort is stable, so entries
/// that compare equal keep their scan order.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(compare);
}

/// Makes equal menu titles distinct, as systemd-boot's `generate_boot_entry_titles`
/// does, in stages that stop as soon as all titles differ: append ` (version)` to the
/// titles that clash, then ` (first 8 characters of machine-id)`, then ` (id)` (the
/// systemd-boot id, [`BlsMeta::sd_id`]). An entry that lacks the field a stage adds is
/// left alone in that stage.
///
/// Only bootable entries take part: systemd-boot does not list the others at all, so
/// their titles do not make a listed entry's title longer.
pub fn unique_titles(entries: &mut [Entry]) {
    type Extra = fn(&Entry) -> Option<String>;
    let stages: [Extra; 3] = [
        |e| e.version.clone(),
        |e| {
            e.bls
                .as_ref()?
                .machine_id
                .as_ref()
                .map(|m| m.chars().take(8).collect())
        },
        |e| {
            Some(
                e.bls
                    .as_ref()
                    .map_or_else(|| e.id.clone(), |m| m.sd_id.clone()),
            )
        },
    ];
    for extra in stages {
        let clashing = clashing_titles(entries);
        if !clashing.contains(&true) {
            return;
        }
        for (e, clash) in entries.iter_mut().zip(clashing) {
            if let Some(x) = extra(e).filter(|_| clash) {
                e.title = format!("{} ({x})", e.title);
            }
        }
    }
}

/// For each entry, whether it is bootable and another bootable entry has its title:
/// the bootable titles counted once, so the cost grows with the number of entries,
/// not with its square (a disk can hold thousands).
fn clashing_titles(entries: &[Entry]) -> Vec<bool> {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in entries.iter().filter(|e| e.bootable()) {
        *counts.entry(e.title.as_str()).or_default() += 1;
    }
    entries
        .iter()
        .map(|e| e.bootable() && counts.get(e.title.as_str()).is_some_and(|&n| n > 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{EntryKind, Source, VolumeRef};

    fn entry(
        file: &str,
        sort_key: Option<&str>,
        machine_id: Option<&str>,
        version: Option<&str>,
    ) -> Entry {
        let c = super::super::counter::extract_tries(file);
        Entry {
            id: c.stripped.trim_end_matches(".conf").to_string(),
            title: file.to_string(),
            version: version.map(str::to_string),
            kind: EntryKind::Bls,
            volume: VolumeRef {
                uuid: None,
                label: None,
                device: "vda1".into(),
            },
            kernel: "/k".into(),
            initrds: vec![],
            cmdline: String::new(),
            devicetree: None,
            source: Source {
                file: format!("/loader/entries/{file}"),
                line: 1,
            },
            path: None,
            problem: None,
            bls: Some(BlsMeta {
                sort_key: sort_key.map(str::to_string),
                machine_id: machine_id.map(str::to_string),
                tries_left: c.tries_left(),
                tries_done: c.tries_done(),
                file_name: file.to_string(),
                sd_id: c.stripped.to_ascii_lowercase(),
            }),
            uki: None,
        }
    }

    fn order(mut v: Vec<Entry>) -> Vec<String> {
        sort(&mut v);
        v.into_iter().map(|e| e.bls.unwrap().file_name).collect()
    }

    /// systemd `src/test/test-bootspec.c`, `TEST_RET(bootspec_sort)`.
    #[test]
    fn systemd_bootspec_sort() {
        let v = vec![
            entry(
                "a-10.conf",
                None,
                Some("dd235d00696545768f6f693bfd23b15f"),
                Some("10"),
            ),
            entry(
                "a-5.conf",
                None,
                Some("dd235d00696545768f6f693bfd23b15f"),
                Some("5"),
            ),
            entry(
                "b.conf",
                None,
                Some("b75451ad92f94feeab50b0b442768dbd"),
                Some("3"),
            ),
            entry(
                "c.conf",
                Some("xxxx"),
                Some("309de666fd5044268a9a26541ac93176"),
                Some("5"),
            ),
            entry(
                "cx.conf",
                Some("xxxx"),
                Some("309de666fd5044268a9a26541ac93176"),
                Some("10"),
            ),
            entry(
                "d.conf",
                Some("kkkk"),
                Some("81c6e3147cf544c19006af023e22b292"),
                Some("100"),
            ),
        ];
        // d: has a sort key, the lowest one; cx, c: same sort key, newest version first;
        // b, a-10, a-5: no sort key, by id, newest first.
        assert_eq!(
            order(v),
            [
                "d.conf",
                "cx.conf",
                "c.conf",
                "b.conf",
                "a-10.conf",
                "a-5.conf"
            ]
        );
    }

    /// Rule 1: no tries left goes last, before every other rule.
    #[test]
    fn no_tries_left_goes_last() {
        let v = vec![
            entry("z+0-3.conf", Some("a"), None, None),
            entry("a.conf", None, None, None),
        ];
        assert_eq!(order(v), ["a.conf", "z+0-3.conf"]);
    }

    /// Rule 2: entries with a sort key go first, even when their id is older.
    #[test]
    fn sort_key_first() {
        let v = vec![
            entry("zzz.conf", None, None, None),
            entry("aaa.conf", Some("x"), None, None),
        ];
        assert_eq!(order(v), ["aaa.conf", "zzz.conf"]);
    }

    /// Rule 3: sort keys compare as bytes, ascending.
    #[test]
    fn sort_key_ascending_bytes() {
        let v = vec![
            entry("1.conf", Some("fedora"), None, None),
            entry("2.conf", Some("Zeta"), None, None),
            entry("3.conf", Some("debian"), None, None),
        ];
        assert_eq!(order(v), ["2.conf", "3.conf", "1.conf"]);
    }

    /// Rule 3: same sort key, grouped by machine-id, a missing one first.
    #[test]
    fn machine_id_groups() {
        let v = vec![
            entry("a.conf", Some("k"), Some("bbbb"), Some("9")),
            entry("b.conf", Some("k"), Some("aaaa"), Some("1")),
            entry("c.conf", Some("k"), None, Some("1")),
        ];
        assert_eq!(order(v), ["c.conf", "b.conf", "a.conf"]);
    }

    /// Rule 3: same sort key and machine-id, newest version first, a missing version last.
    #[test]
    fn version_newest_first() {
        let v = vec![
            entry("a.conf", Some("k"), Some("m"), Some("6.1.0-9")),
            entry("b.conf", Some("k"), Some("m"), None),
            entry("c.conf", Some("k"), Some("m"), Some("6.1.0-50")),
        ];
        assert_eq!(order(v), ["c.conf", "a.conf", "b.conf"]);
    }

    /// Rule 4: by id, newest first, with the suffix and in lower case (so `foo.conf` is
    /// newer than `foo-1.conf`, as the `-` makes the latter older).
    #[test]
    fn id_newest_first_with_suffix() {
        let v = vec![
            entry("foo-1.conf", None, None, None),
            entry("foo.conf", None, None, None),
        ];
        assert_eq!(order(v), ["foo.conf", "foo-1.conf"]);
        let v = vec![
            entry("B.conf", None, None, None),
            entry("a.conf", None, None, None),
        ];
        assert_eq!(order(v), ["B.conf", "a.conf"]);
    }

    /// Rule 5: same id, more tries left first, then fewer done; `+3` counts as `+3-0`.
    #[test]
    fn tries_break_ties() {
        let v = vec![
            entry("x+1-2.conf", None, None, None),
            entry("x+3-1.conf", None, None, None),
            entry("x+3.conf", None, None, None),
        ];
        assert_eq!(order(v), ["x+3.conf", "x+3-1.conf", "x+1-2.conf"]);
    }

    /// Rule 5 applies only when both are counted.
    #[test]
    fn tries_need_both_counted() {
        let v = vec![
            entry("x.conf", None, None, None),
            entry("x+3.conf", None, None, None),
        ];
        assert_eq!(order(v), ["x.conf", "x+3.conf"]);
    }

    /// Titles: version, then 8 characters of machine-id, then id are added to the ones
    /// that clash (`generate_boot_entry_titles`).
    #[test]
    fn titles_made_unique_in_stages() {
        let mut v = vec![
            entry("a.conf", None, Some("0123456789abcdef"), Some("1")),
            entry("b.conf", None, Some("fedcba9876543210"), Some("1")),
            entry("c.conf", None, Some("0123456789abcdef"), Some("1")),
            entry("d.conf", None, None, Some("2")),
        ];
        for e in &mut v {
            e.title = "T".into();
        }
        unique_titles(&mut v);
        let t: Vec<_> = v.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(
            t,
            [
                "T (1) (01234567) (a.conf)",
                "T (1) (fedcba98)",
                "T (1) (01234567) (c.conf)",
                "T (2)"
            ]
        );
    }

    /// Unbootable entries neither change nor take part.
    #[test]
    fn titles_ignore_unbootable() {
        let mut v = vec![
            entry("a.conf", None, None, Some("1")),
            entry("b.conf", None, None, Some("2")),
        ];
        v[0].title = "T".into();
        v[1].title = "T".into();
        v[1].problem = Some("kernel missing".into());
        unique_titles(&mut v);
        assert_eq!((v[0].title.as_str(), v[1].title.as_str()), ("T", "T"));
    }
}
