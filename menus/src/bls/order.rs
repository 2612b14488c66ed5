//! Boot order of BLS entries, as systemd's `boot_entry_compare` (src/shared/bootspec.c)
//! and the Boot Loader Specification, "Sorting".

use super::version;
use crate::entry::Entry;
use std::cmp::Ordering;

/// Compares two BLS entries; `Less` boots first (is listed higher).
pub fn compare(a: &Entry, b: &Entry) -> Ordering {
    let meta = |e: &Entry| e.bls.clone().unwrap_or_default();
    let (ma, mb) = (meta(a), meta(b));
    // Entries with no tries left go last.
    let r = (ma.tries_left == Some(0)).cmp(&(mb.tries_left == Some(0)));
    if r != Ordering::Equal {
        return r;
    }
    // Entries with a sort-key go before those without.
    let r = ma.sort_key.is_none().cmp(&mb.sort_key.is_none());
    if r != Ordering::Equal {
        return r;
    }
    if let (Some(ka), Some(kb)) = (&ma.sort_key, &mb.sort_key) {
        // Then by sort-key, machine-id (alphabetically), version (newest first).
        let r = ka.cmp(kb);
        if r != Ordering::Equal {
            return r;
        }
        let r = ma.machine_id.cmp(&mb.machine_id);
        if r != Ordering::Equal {
            return r;
        }
        let r = version::compare(a.version.as_deref().unwrap_or(""), b.version.as_deref().unwrap_or(""));
        if r != Ordering::Equal {
            return r.reverse();
        }
    }
    // Then by id, newest first.
    let r = version::compare(&a.id, &b.id);
    if r != Ordering::Equal {
        return r.reverse();
    }
    // Counted entries: more tries left first, then fewer tries done.
    match (ma.tries_left, mb.tries_left) {
        (Some(la), Some(lb)) => lb.cmp(&la).then(ma.tries_done.cmp(&mb.tries_done)),
        _ => Ordering::Equal,
    }
}
