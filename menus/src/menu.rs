//! The merged menu: entries of every volume in boot order, and the default chosen by
//! one ladder (CONVENTIONS.md settings, then the configs' own default, then the first
//! bootable entry), used alike by the TUI, the headless boot and `leapboot list`.

use crate::bls;
use crate::bls::loader_conf::DefaultPattern;
use crate::entry::{Entry, EntryKind, VolumeRole};
use crate::glob;
use crate::grub::GrubScan;
use crate::grub::default::GrubTimeout;
use crate::grub::grubenv::EnvWrite;
use crate::scan::VolumeScan;
use std::collections::HashSet;

/// Which rung of the default ladder chose the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultReason {
    /// The `default` setting (`leapboot.default=` or `/etc/leapboot.toml`) matched.
    Setting(String),
    /// `loader.conf`'s `default` matched.
    LoaderConf(String),
    /// A GRUB config's own `default` (then `fallback`) chose it.
    Grub(GrubDefault),
    /// Nothing chose one: the first bootable entry.
    FirstBootable,
}

/// How a GRUB menu chose the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubDefault {
    /// The config whose menu it is (path within its volume).
    pub config: String,
    /// `$default` when the menu was shown.
    pub value: Option<String>,
    /// True when GRUB's own default could not boot and a `fallback` entry (or, failing
    /// those, a later attempt) was taken.
    pub fallback: bool,
}

/// Entries in boot order with the default.
#[derive(Debug, Clone, Default)]
pub struct Menu {
    /// Entries in boot order.
    pub entries: Vec<Entry>,
    /// Index of the default entry, when any entry is bootable.
    pub default: Option<usize>,
    /// Why that entry is the default.
    pub default_reason: Option<DefaultReason>,
    /// Entries to try, in order, when the default fails to load (GRUB's `fallback`).
    pub fallbacks: Vec<usize>,
    /// The timeout of the first GRUB menu, when there is one.
    pub timeout: Option<GrubTimeout>,
    /// For each entry, the GRUB environment writes GRUB would make when booting it
    /// (empty for other sources), to apply before the kexec.
    pub env_writes: Vec<Vec<EnvWrite>>,
}

/// True when a `default` setting glob matches an entry ([`glob::id_glob`]: ASCII case
/// ignored, negated sets): against leapboot's id, or, for a BLS or UKI entry, against
/// the id systemd-boot uses ([`crate::entry::BlsMeta::sd_id`]: file name without counter,
/// with `.conf`/`.efi`).
pub fn pattern_matches(pattern: &str, e: &Entry) -> bool {
    glob::id_glob(pattern, &e.id)
        || e.bls
            .as_ref()
            .is_some_and(|m| glob::id_glob(pattern, &m.sd_id))
}

/// True when a `loader.conf` `default` glob matches an entry exactly as systemd-boot
/// matches it (`config_find_entry` in `src/boot/boot.c`, with [`glob::efi_fnmatch`]):
/// only BLS and UKI entries, and only their systemd-boot id,
/// lowercased, suffix included (`default fedora-*` matches `fedora-6.8.conf`;
/// `default fedora-6.8` does not).
pub fn loader_conf_matches(pattern: &str, e: &Entry) -> bool {
    e.bls
        .as_ref()
        .is_some_and(|m| glob::efi_fnmatch(&pattern.to_ascii_lowercase(), &m.sd_id))
}

/// True for entries ordered by the Boot Loader Specification rules.
fn is_bls_kind(e: &Entry) -> bool {
    matches!(e.kind, EntryKind::Bls | EntryKind::Uki)
}

/// What [`Entry::same_boot`] compares, borrowed, as a set key.
#[derive(PartialEq, Eq, Hash)]
struct BootKey<'a> {
    uuid: Option<&'a str>,
    device: &'a str,
    kernel: &'a str,
    initrds: &'a [String],
    cmdline: &'a str,
}

impl<'a> BootKey<'a> {
    fn of(e: &'a Entry) -> BootKey<'a> {
        BootKey {
            uuid: e.volume.uuid.as_deref(),
            device: &e.volume.device,
            kernel: &e.kernel,
            initrds: &e.initrds,
            cmdline: &e.cmdline,
        }
    }
}

impl Menu {
    /// Merges the scans of every volume, orders, and picks the default.
    /// `setting_default` is the `default` setting glob, if any.
    pub fn assemble(scans: &[VolumeScan], setting_default: Option<&str>) -> Menu {
        // One GRUB menu per config shown: an ESP stub that `configfile`s the config of
        // another volume and that config read directly are the same menu.
        let mut grub_menus: Vec<&GrubScan> = Vec::new();
        for g in scans.iter().filter_map(|s| s.grub.as_ref()) {
            if !grub_menus.iter().any(|o| o.menu_config == g.menu_config) {
                grub_menus.push(g);
            }
        }
        // BLS files that GRUB's `blscfg` read are listed as GRUB reads them.
        let read_by_grub = |e: &Entry| {
            e.kind == EntryKind::Bls
                && grub_menus.iter().any(|g| {
                    g.bls_files
                        .iter()
                        .any(|f| f.volume == e.volume && f.path == e.source.file)
                })
        };
        let mut bls_entries: Vec<Entry> = Vec::new();
        let mut others: Vec<Entry> = Vec::new();
        // What each kept entry boots, to drop a second one that boots the same (looked
        // up, not compared with every kept entry: thousands of entries stay cheap).
        let mut booting: HashSet<BootKey<'_>> = HashSet::new();
        for scan in scans {
            for e in &scan.entries {
                if e.kind == EntryKind::Grub || read_by_grub(e) {
                    continue;
                }
                if is_bls_kind(e) {
                    // Every BLS file and UKI is its own entry, as in systemd-boot.
                    bls_entries.push(e.clone());
                } else if booting.insert(BootKey::of(e)) {
                    others.push(e.clone());
                }
            }
        }
        bls::order::sort(&mut bls_entries);
        bls::order::unique_titles(&mut bls_entries);
        let mut entries = bls_entries;
        let mut env_writes: Vec<Vec<EnvWrite>> = vec![Vec::new(); entries.len()];
        let mut grub_offsets: Vec<(usize, &GrubScan)> = Vec::new();
        for g in &grub_menus {
            grub_offsets.push((entries.len(), g));
            for (e, info) in g.entries.iter().zip(&g.info) {
                entries.push(e.clone());
                env_writes.push(info.env_writes.clone());
            }
        }
        entries.extend(others);
        env_writes.resize(entries.len(), Vec::new());
        let mut fallbacks = Vec::new();
        let primary_grub = grub_offsets
            .iter()
            .find(|(_, g)| !g.entries.is_empty())
            .copied();

        let find = |pattern: &str| {
            entries
                .iter()
                .position(|e| e.bootable() && pattern_matches(pattern, e))
        };
        let mut default = None;
        let mut reason = None;
        let by_setting = setting_default
            .filter(|p| !p.is_empty())
            .and_then(|p| find(p).map(|i| (p, i)));
        if let Some((p, i)) = by_setting {
            default = Some(i);
            reason = Some(DefaultReason::Setting(p.to_string()));
        }
        if default.is_none() {
            // systemd-boot reads the loader.conf of its own ESP; leapboot prefers an ESP's.
            let esp_first = scans
                .iter()
                .filter(|s| s.volume.role == VolumeRole::Esp)
                .chain(scans.iter().filter(|s| s.volume.role != VolumeRole::Esp));
            let lc = esp_first
                .filter_map(|s| s.loader_conf.as_ref()?.default_pattern())
                .next();
            // `@saved` needs systemd-boot's LoaderEntryLastBooted variable: nothing to match.
            if let Some(DefaultPattern::Glob(p)) = lc {
                let hit = entries
                    .iter()
                    .position(|e| e.bootable() && loader_conf_matches(&p, e));
                if let Some(i) = hit {
                    default = Some(i);
                    reason = Some(DefaultReason::LoaderConf(p));
                }
            }
        }
        if default.is_none()
            && let Some((offset, g)) = primary_grub
        {
            // GRUB boots its default, then each `fallback` entry, until one loads.
            let mut tries: Vec<usize> = Vec::new();
            for a in &g.attempts {
                let i = offset.saturating_add(*a);
                if entries.get(i).is_some_and(Entry::bootable) && !tries.contains(&i) {
                    tries.push(i);
                }
            }
            if let Some((&first, rest)) = tries.split_first() {
                default = Some(first);
                fallbacks = rest.to_vec();
                reason = Some(DefaultReason::Grub(GrubDefault {
                    config: g.menu_config.path.clone(),
                    value: g.default_value.clone(),
                    fallback: g.default.map(|d| offset.saturating_add(d)) != Some(first),
                }));
            }
        }
        if default.is_none() {
            default = entries.iter().position(Entry::bootable);
            reason = default.map(|_| DefaultReason::FirstBootable);
        }
        let timeout = primary_grub.map(|(_, g)| g.timeout);
        Menu {
            entries,
            default,
            default_reason: reason,
            fallbacks,
            timeout,
            env_writes,
        }
    }

    /// The GRUB environment writes to make before booting entry `i`.
    pub fn env_writes_for(&self, i: usize) -> &[EnvWrite] {
        self.env_writes.get(i).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The default entry.
    pub fn default_entry(&self) -> Option<&Entry> {
        self.entries.get(self.default?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{VolumeInfo, VolumeRole};
    use crate::fs::FileSystem;
    use crate::fs::MemFs;
    use crate::scan::{VolumeView, scan_all};

    fn scan1(fs: &dyn FileSystem) -> Vec<crate::scan::VolumeScan> {
        let v = vol();
        scan_all(&[VolumeView { info: &v, fs }])
    }

    fn vol() -> VolumeInfo {
        VolumeInfo {
            uuid: Some("1234-ABCD".into()),
            label: Some("ESP".into()),
            device: "vda1".into(),
            fs_type: "vfat".into(),
            role: VolumeRole::Esp,
        }
    }

    fn esp() -> MemFs {
        MemFs::new()
            .with("/loader/entries/debian-6.1.0-9.conf", "title Debian 9\nversion 6.1.0-9\nlinux /k9\noptions a\n")
            .with("/loader/entries/debian-6.1.0-50.conf", "title Debian 50\nversion 6.1.0-50\nlinux /k50\ninitrd /i50\noptions b\noptions c\n")
            .with("/loader/entries/broken.conf", "title Broken\nlinux /missing\n")
            .with("/loader/entries/other-arch.conf", "title Arm\nlinux /k9\narchitecture aa64\n")
            .with("/k9", "K")
            .with("/k50", "K")
            .with("/i50", "I")
    }

    #[test]
    fn newest_first_and_missing_kernel_unbootable() {
        let m = Menu::assemble(&scan1(&esp()), None);
        let ids: Vec<_> = m.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["debian-6.1.0-50", "debian-6.1.0-9", "broken"]);
        assert_eq!(m.default, Some(0));
        assert_eq!(m.entries[0].cmdline, "b c");
        assert_eq!(m.entries[0].initrds, ["/i50"]);
        assert!(
            m.entries[2]
                .problem
                .as_deref()
                .unwrap()
                .contains("/missing")
        );
    }

    #[test]
    fn setting_then_loader_conf() {
        let fs = esp().with("/loader/loader.conf", "default debian-6.1.0-9.conf\n");
        let m = Menu::assemble(&scan1(&fs), None);
        assert_eq!(m.default_entry().unwrap().id, "debian-6.1.0-9");
        assert_eq!(
            m.default_reason,
            Some(DefaultReason::LoaderConf("debian-6.1.0-9.conf".into()))
        );
        let m = Menu::assemble(&scan1(&fs), Some("*-50"));
        assert_eq!(m.default_entry().unwrap().id, "debian-6.1.0-50");
        // A pattern that matches only an unbootable entry falls through.
        let m = Menu::assemble(&scan1(&fs), Some("broken"));
        assert_eq!(m.default_entry().unwrap().id, "debian-6.1.0-9");
    }
}
