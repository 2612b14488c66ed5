//! Headless boots: the chosen entry, then GRUB's `fallback` entries, then every other
//! entry, each attempt with its own handoff report (GRUB's `menu.c` tries `fallback`
//! after a failed default the same way).

use super::attempt::attempt;
use super::{BootOptions, Report};
use crate::log::Area;
use crate::phases::{self, Phase};
use crate::settings::Settings;
use leapboot_menus::Menu;

/// The order headless boots try entries in: the chosen one, then GRUB's `fallback`
/// indexes, then every other entry in menu order starting after the chosen one and
/// wrapping around; each index once.
pub fn fallback_order(entries: usize, chosen: usize, grub_fallbacks: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    let mut push = |i: usize| {
        if i < entries && !order.contains(&i) {
            order.push(i);
        }
    };
    push(chosen);
    for &i in grub_fallbacks {
        push(i);
    }
    for k in 1..=entries {
        push((chosen + k) % entries.max(1));
    }
    order
}

/// Headless boot: tries the chosen entry, then the fallbacks ([`fallback_order`]), each
/// with a full handoff report, and returns every report when none started (the caller
/// then waits in the menu). Entries listed as not bootable are skipped with a report
/// line saying why. Returns only on failure.
pub fn boot_with_fallback(
    menu: &Menu,
    chosen: usize,
    settings: &Settings,
    opts: &BootOptions,
) -> Vec<Report> {
    phases::end(Phase::Menu);
    let order = fallback_order(menu.entries.len(), chosen, &menu.fallbacks);
    let total = order.len();
    let mut reports = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        let Some(entry) = menu.entries.get(i) else {
            continue;
        };
        if n > 0 {
            crate::log!(
                Area::Kexec,
                "fallback: trying entry {i} '{}' ({} of {total})",
                entry.id,
                n + 1
            );
        }
        let opts = BootOptions {
            env_writes: menu.env_writes_for(i).to_vec(),
            ..opts.clone()
        };
        let (r, err) = attempt(entry, settings, &opts, (n + 1, total));
        crate::log!(Area::Kexec, "boot failed: {err}");
        reports.push(r);
    }
    crate::log!(
        Area::Kexec,
        "no entry could be booted ({} attempt{}); staying in the menu. Reports:",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    for r in &reports {
        crate::log!(Area::Kexec, "  {}", r.summary());
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_order_chosen_grub_then_wrap() {
        assert_eq!(fallback_order(4, 1, &[]), [1, 2, 3, 0]);
        assert_eq!(fallback_order(4, 1, &[3, 3, 9]), [1, 3, 2, 0]);
        assert_eq!(fallback_order(0, 0, &[]), Vec::<usize>::new());
        assert_eq!(fallback_order(1, 0, &[]), [0]);
    }
}
