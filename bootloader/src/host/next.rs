//! Which entry the machine's own boot loader boots next: pure functions over the
//! assembled [`Menu`], the GRUB scan, and the EFI variables and grubenv values read by
//! the caller.
//!
//! - **systemd-boot** (the `LoaderInfo` EFI variable exists): the ladder of
//!   `config_default_entry_select` in systemd's `src/boot/efi/boot.c` (v252): the
//!   `LoaderEntryOneShot` variable, then `LoaderEntryDefault` (`@saved` there means
//!   `LoaderEntryLastBooted`), then `loader.conf`'s `default` (also `@saved`), then the
//!   first entry. Each is a glob matched with `efi_fnmatch` against the lowercased ids
//!   with their `.conf`/`.efi` suffix, all values lowercased first (`config_load_defaults`).
//!   Only entries systemd-boot itself lists count: those on the ESP and XBOOTLDR whose
//!   files exist (it drops the others when it loads them).
//! - **GRUB**: its config decides, run by the `menus` interpreter: `load_env` reads
//!   grubenv, grub-mkconfig's header turns `next_entry` (`grub-reboot`) into `$default`
//!   and clears it, or uses `saved_entry` (`grub-set-default`); `$default` then selects
//!   by the rules of the GRUB that wrote the config, as the scan applied them
//!   ([`GrubScan::flavour`], `menus::grub::default`): upstream GRUB (Debian, Ubuntu,
//!   Arch) reads leading digits as an index, then titles and ids, with `>` paths into
//!   submenus (`get_entry_number` in `grub-core/normal/menu.c`); the GRUB of Fedora, RHEL
//!   and their rebuilds (a config that runs `blscfg` or lives in `grub2/`) matches ids
//!   first, then titles, then a whole-value number (rhboot's `get_entry_number_helper`,
//!   rhbz#1640979). When that entry cannot boot, GRUB's `fallback` entries follow, as
//!   GRUB tries them.
//! - **Neither** (no `LoaderInfo`, no GRUB config, but Boot Loader Specification
//!   entries): the menu's own ladder (`loader.conf`, then the first entry), said so.
//!
//! Overrides: `--entry` (a glob over every entry's id, the first bootable match) and
//! `--latest` (the newest version among the loader's own entries, UAPI order; the
//! first in menu order among equals).

use super::kernels;
use leapboot_menus::bls::loader_conf::DefaultPattern;
use leapboot_menus::bls::version;
use leapboot_menus::grub::GrubScan;
use leapboot_menus::grub::default::GrubFlavour;
use leapboot_menus::menu::{DefaultReason, loader_conf_matches, pattern_matches};
use leapboot_menus::{Entry, Menu};

/// The boot loader that runs at the next firmware boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    /// systemd-boot (it set `LoaderInfo`).
    SystemdBoot,
    /// GRUB, EFI or BIOS.
    Grub,
    /// Not identified: leapboot's own ladder over the entries found.
    Unknown,
}

impl Loader {
    /// Name for the plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Loader::SystemdBoot => "systemd-boot",
            Loader::Grub => "GRUB",
            Loader::Unknown => "no boot loader identified",
        }
    }
}

/// The rules a GRUB flavour reads `$default` by, in words, with their source.
pub fn rule(flavour: GrubFlavour) -> &'static str {
    match flavour {
        GrubFlavour::Upstream => {
            "upstream GRUB: a leading number is an index, else a title or id (grub-core/normal/menu.c, get_entry_number)"
        }
        GrubFlavour::Rhboot => {
            "Fedora/RHEL GRUB: ids, then titles, then a whole number (rhboot grub-core/normal/menu.c, rhbz#1640979)"
        }
    }
}

/// The Boot Loader Interface variables systemd-boot chooses by (decoded strings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoaderVars {
    /// `LoaderEntryOneShot` (`bootctl set-oneshot`, `systemctl reboot --boot-loader-entry=`).
    pub oneshot: Option<String>,
    /// `LoaderEntryDefault` (`bootctl set-default`).
    pub default: Option<String>,
    /// `LoaderEntryLastBooted` (for `@saved`).
    pub last_booted: Option<String>,
}

/// What grubenv holds, to say where `$default` came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrubEnv {
    /// `next_entry` (`grub-reboot`).
    pub next_entry: Option<String>,
    /// `saved_entry` (`grub-set-default`, `savedefault`).
    pub saved_entry: Option<String>,
}

/// Where GRUB's `$default` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrubValueFrom {
    /// grubenv's `next_entry`: used once, cleared by this boot.
    NextEntry,
    /// grubenv's `saved_entry`.
    SavedEntry,
    /// The config itself (`set default=...`).
    Config,
    /// `$default` was not set: the first entry.
    Unset,
}

/// Why an entry is the one that boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// systemd-boot: `LoaderEntryOneShot` matched.
    OneShot(String),
    /// systemd-boot: `LoaderEntryDefault` matched.
    EfiDefault(String),
    /// systemd-boot: `@saved` (in the variable or loader.conf): `LoaderEntryLastBooted`.
    LastBooted(String),
    /// systemd-boot: `loader.conf` `default` matched.
    LoaderConf(String),
    /// systemd-boot: nothing named one; the first entry.
    FirstEntry,
    /// GRUB: `$default` by the flavour's rules.
    Grub {
        /// The config whose menu it is.
        config: String,
        /// `$default` when the menu was shown.
        value: Option<String>,
        /// Where that value came from.
        from: GrubValueFrom,
        /// Whose rules read it.
        flavour: GrubFlavour,
        /// True when the default cannot boot and a `fallback` entry was taken.
        fallback: bool,
    },
    /// No loader identified: the menu's ladder chose.
    Ladder(String),
    /// `--entry`.
    Pattern(String),
    /// `--latest`.
    Latest(String),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::OneShot(v) => write!(
                f,
                "systemd-boot: LoaderEntryOneShot={v} (one-shot, removed by this boot)"
            ),
            Why::EfiDefault(v) => write!(f, "systemd-boot: LoaderEntryDefault={v}"),
            Why::LastBooted(v) => write!(f, "systemd-boot: @saved, LoaderEntryLastBooted={v}"),
            Why::LoaderConf(v) => write!(f, "systemd-boot: loader.conf default {v}"),
            Why::FirstEntry => write!(
                f,
                "systemd-boot: no one-shot, LoaderEntryDefault or loader.conf default names an entry: the first entry"
            ),
            Why::Grub {
                config,
                value,
                from,
                flavour,
                fallback,
            } => {
                let v = value.as_deref().unwrap_or("");
                let src = match from {
                    GrubValueFrom::NextEntry => format!(
                        "default='{v}' from grubenv next_entry (grub-reboot; cleared by this boot)"
                    ),
                    GrubValueFrom::SavedEntry => {
                        format!("default='{v}' from grubenv saved_entry")
                    }
                    GrubValueFrom::Config => format!("default='{v}' set in {config}"),
                    GrubValueFrom::Unset => "default not set: the first entry".to_string(),
                };
                write!(f, "GRUB ({config}): {src}; {}", rule(*flavour))?;
                if *fallback {
                    write!(f, "; that entry cannot boot, so GRUB's fallback is taken")?;
                }
                Ok(())
            }
            Why::Ladder(r) => write!(
                f,
                "no boot loader identified (no LoaderInfo EFI variable, no GRUB config): {r}"
            ),
            Why::Pattern(p) => write!(f, "--entry '{p}'"),
            Why::Latest(v) => write!(
                f,
                "--latest: version {v} is the newest (UAPI version order)"
            ),
        }
    }
}

/// The entry to boot and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Index into the menu's entries.
    pub index: usize,
    /// Why.
    pub why: Why,
}

/// systemd-boot's ladder over `candidates` (menu indices, in menu order, of the entries
/// systemd-boot lists). `loader_conf` is the ESP's `loader.conf` default.
pub fn systemd_boot(
    menu: &Menu,
    candidates: &[usize],
    vars: &LoaderVars,
    loader_conf: Option<&DefaultPattern>,
) -> Option<Choice> {
    let find = |pattern: &str| {
        candidates.iter().copied().find(|&i| {
            menu.entries
                .get(i)
                .is_some_and(|e| loader_conf_matches(pattern, e))
        })
    };
    let saved = vars
        .last_booted
        .as_deref()
        .and_then(|l| find(l).map(|i| (i, l.to_string())));
    if let Some(p) = vars.oneshot.as_deref()
        && let Some(i) = find(p)
    {
        return Some(Choice {
            index: i,
            why: Why::OneShot(p.to_string()),
        });
    }
    let efi_saved = vars
        .default
        .as_deref()
        .is_some_and(|d| d.eq_ignore_ascii_case("@saved"));
    if efi_saved {
        if let Some((i, l)) = saved.clone() {
            return Some(Choice {
                index: i,
                why: Why::LastBooted(l),
            });
        }
    } else if let Some(p) = vars.default.as_deref()
        && let Some(i) = find(p)
    {
        return Some(Choice {
            index: i,
            why: Why::EfiDefault(p.to_string()),
        });
    }
    match loader_conf {
        // "No need to do the same thing twice": @saved in both places was tried above.
        Some(DefaultPattern::Saved) if !efi_saved => {
            if let Some((i, l)) = saved {
                return Some(Choice {
                    index: i,
                    why: Why::LastBooted(l),
                });
            }
        }
        Some(DefaultPattern::Glob(p)) => {
            if let Some(i) = find(p) {
                return Some(Choice {
                    index: i,
                    why: Why::LoaderConf(p.clone()),
                });
            }
        }
        _ => {}
    }
    candidates.first().map(|&i| Choice {
        index: i,
        why: Why::FirstEntry,
    })
}

/// The menu index of each of the GRUB scan's entries (`None` for one the menu does not
/// list, which does not happen for the menu's own GRUB config).
pub fn grub_menu_indices(menu: &Menu, g: &GrubScan) -> Vec<Option<usize>> {
    g.entries
        .iter()
        .map(|ge| menu.entries.iter().position(|e| e == ge))
        .collect()
}

/// GRUB's choice: `$default` by the flavour's rules, then GRUB's `fallback` entries
/// while the chosen one cannot boot.
pub fn grub(menu: &Menu, g: &GrubScan, env: &GrubEnv) -> Option<Choice> {
    let map = grub_menu_indices(menu, g);
    let to_menu = |k: usize| map.get(k).copied().flatten();
    let default = g.default?;
    let mut tries = vec![default];
    tries.extend(g.attempts.iter().skip(1).copied());
    let bootable = tries.iter().copied().find(|&k| {
        to_menu(k)
            .and_then(|i| menu.entries.get(i))
            .is_some_and(Entry::bootable)
    });
    let chosen = bootable.unwrap_or(default);
    let from = match g.default_value.as_deref() {
        None | Some("") => GrubValueFrom::Unset,
        Some(v) if env.next_entry.as_deref() == Some(v) => GrubValueFrom::NextEntry,
        Some(v) if env.saved_entry.as_deref() == Some(v) => GrubValueFrom::SavedEntry,
        Some(_) => GrubValueFrom::Config,
    };
    Some(Choice {
        index: to_menu(chosen)?,
        why: Why::Grub {
            config: g.menu_config.path.clone(),
            value: g.default_value.clone(),
            from,
            flavour: g.flavour,
            fallback: chosen != default,
        },
    })
}

/// No loader identified: the menu's default and the rung that chose it.
pub fn ladder(menu: &Menu) -> Option<Choice> {
    let why = match &menu.default_reason {
        Some(DefaultReason::LoaderConf(p)) => format!("loader.conf default {p}"),
        Some(DefaultReason::Setting(p)) => format!("the default setting {p}"),
        Some(DefaultReason::Grub(g)) => format!("GRUB's default in {}", g.config),
        Some(DefaultReason::FirstBootable) | None => "the first bootable entry".into(),
    };
    menu.default.map(|i| Choice {
        index: i,
        why: Why::Ladder(why),
    })
}

/// `--entry`: the first bootable entry whose id matches `pattern` (leapboot's id glob,
/// or systemd-boot's id with its suffix), else the first that matches at all.
pub fn by_pattern(menu: &Menu, pattern: &str) -> Option<Choice> {
    let matching: Vec<usize> = (0..menu.entries.len())
        .filter(|&i| {
            menu.entries
                .get(i)
                .is_some_and(|e| pattern_matches(pattern, e))
        })
        .collect();
    let i = matching
        .iter()
        .copied()
        .find(|&i| menu.entries.get(i).is_some_and(Entry::bootable))
        .or(matching.first().copied())?;
    Some(Choice {
        index: i,
        why: Why::Pattern(pattern.to_string()),
    })
}

/// An entry's kernel version: its own `version`, else the one in its kernel's file name.
pub fn version_of(e: &Entry) -> Option<String> {
    e.version
        .clone()
        .or_else(|| kernels::version_of_kernel_path(&e.kernel).map(str::to_string))
}

/// `--latest`: among `candidates` (menu indices), the bootable entry with the newest
/// version; the first in menu order among equals.
pub fn latest(menu: &Menu, candidates: &[usize]) -> Option<Choice> {
    let mut best: Option<(usize, String)> = None;
    for &i in candidates {
        let Some(e) = menu.entries.get(i).filter(|e| e.bootable()) else {
            continue;
        };
        let Some(v) = version_of(e) else { continue };
        if best
            .as_ref()
            .is_none_or(|(_, b)| version::compare(&v, b) == std::cmp::Ordering::Greater)
        {
            best = Some((i, v));
        }
    }
    best.map(|(index, v)| Choice {
        index,
        why: Why::Latest(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leapboot_menus::grub::grubenv::{EnvBlock, EnvChange};
    use leapboot_menus::{MemFs, VolumeInfo, VolumeRole, VolumeView, scan_all};

    fn vol(role: VolumeRole) -> VolumeInfo {
        VolumeInfo {
            uuid: Some("1a57a2b4-0000-4000-8000-000000000001".into()),
            label: None,
            device: "vda2".into(),
            fs_type: "ext4".into(),
            role,
        }
    }

    fn menu_of(fs: &MemFs, role: VolumeRole) -> (Vec<leapboot_menus::VolumeScan>, Menu) {
        let v = vol(role);
        let scans = scan_all(&[VolumeView { info: &v, fs }]);
        let m = Menu::assemble(&scans, None);
        (scans, m)
    }

    fn grubenv(vars: &[(&str, &str)]) -> Vec<u8> {
        let mut b = EnvBlock::new(1024);
        for (k, v) in vars {
            b.set(k, v).unwrap();
        }
        b.as_bytes().to_vec()
    }

    /// Debian 12's grub.cfg (GRUB_DEFAULT=saved), shared with `tests/reboot_cli.rs`.
    fn debian_cfg() -> String {
        include_str!("../../tests/data/debian12-grub.cfg").replace("@ROOT_UUID@", "1a57")
    }

    fn debian(env: &[(&str, &str)]) -> MemFs {
        MemFs::new()
            .with("/boot/grub/grub.cfg", debian_cfg())
            .with("/boot/grub/grubenv", grubenv(env))
            .with("/boot/vmlinuz-6.1.0-50-amd64", "K")
            .with("/boot/initrd.img-6.1.0-50-amd64", "I")
            .with("/boot/vmlinuz-6.1.0-9-amd64", "K")
            .with("/boot/initrd.img-6.1.0-9-amd64", "I")
    }

    fn grub_choice(fs: &MemFs, env: &GrubEnv) -> (Menu, Choice, GrubScan) {
        let (scans, m) = menu_of(fs, VolumeRole::Other);
        let g = scans.iter().find_map(|s| s.grub.clone()).unwrap();
        let c = grub(&m, &g, env).unwrap();
        (m, c, g)
    }

    #[test]
    fn grub_no_grubenv_values_boots_the_first_entry() {
        let (m, c, _) = grub_choice(&debian(&[]), &GrubEnv::default());
        assert_eq!(m.entries[c.index].id, "gnulinux-simple-1a57");
        assert!(
            matches!(
                c.why,
                Why::Grub {
                    from: GrubValueFrom::Unset,
                    flavour: GrubFlavour::Upstream,
                    ..
                }
            ),
            "{:?}",
            c.why
        );
    }

    /// `grub-reboot "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux
    /// 6.1.0-9-amd64"`: the title path into the submenu, once; the config clears it.
    #[test]
    fn grub_reboot_with_a_submenu_title_path() {
        let next =
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-9-amd64";
        let env = GrubEnv {
            next_entry: Some(next.into()),
            saved_entry: Some("gnulinux-simple-1a57".into()),
        };
        let (m, c, g) = grub_choice(
            &debian(&[
                ("next_entry", next),
                ("saved_entry", "gnulinux-simple-1a57"),
            ]),
            &env,
        );
        assert_eq!(
            m.entries[c.index].id,
            "gnulinux-6.1.0-9-amd64-advanced-1a57"
        );
        assert!(
            matches!(
                c.why,
                Why::Grub {
                    from: GrubValueFrom::NextEntry,
                    ..
                }
            ),
            "{:?}",
            c.why
        );
        assert!(c.why.to_string().contains("cleared by this boot"));
        // The one-shot is consumed: GRUB's own write clears next_entry.
        let writes = m.env_writes_for(c.index);
        assert!(
            writes.iter().any(|w| w.path == "/boot/grub/grubenv"
                && w.changes == [EnvChange::Set("next_entry".into(), String::new())]),
            "{writes:?}"
        );
        assert_eq!(g.default_value.as_deref(), Some(next));
    }

    /// `grub-set-default` with an id path (how Debian's GRUB_SAVEDEFAULT stores a
    /// submenu entry).
    #[test]
    fn saved_entry_id_path() {
        let saved = "gnulinux-advanced-1a57>gnulinux-6.1.0-50-amd64-recovery-1a57";
        let env = GrubEnv {
            next_entry: None,
            saved_entry: Some(saved.into()),
        };
        let (m, c, _) = grub_choice(&debian(&[("saved_entry", saved)]), &env);
        assert_eq!(
            m.entries[c.index].id,
            "gnulinux-6.1.0-50-amd64-recovery-1a57"
        );
        assert!(matches!(
            c.why,
            Why::Grub {
                from: GrubValueFrom::SavedEntry,
                ..
            }
        ));
        // A numeric path: upstream reads `1>2` as index 1, then 2 inside.
        let (m, c, _) = grub_choice(&debian(&[("saved_entry", "1>2")]), &GrubEnv::default());
        assert_eq!(
            m.entries[c.index].id,
            "gnulinux-6.1.0-9-amd64-advanced-1a57"
        );
        assert!(matches!(
            c.why,
            Why::Grub {
                from: GrubValueFrom::Config,
                ..
            }
        ));
    }

    #[test]
    fn grub_fallback_when_the_default_cannot_boot() {
        let cfg = "set default=0\nset fallback=1\nmenuentry Gone --id gone {\n linux /missing\n}\nmenuentry Here --id here {\n linux /boot/k\n}\n";
        let fs = MemFs::new()
            .with("/boot/grub/grub.cfg", cfg)
            .with("/boot/k", "K");
        let (m, c, _) = grub_choice(&fs, &GrubEnv::default());
        assert_eq!(m.entries[c.index].id, "here");
        assert!(c.why.to_string().contains("fallback"));
    }

    const MID: &str = "9af7b02ac08149d985841c07c8ff366e";

    /// Fedora's config: `saved_entry` is a BLS id that starts with a digit. rhboot's GRUB
    /// matches the id; upstream's rule would read index 9 (out of range: entry 0).
    fn fedora(saved: &str) -> MemFs {
        let cfg = "set kernelopts=\"root=UUID=x ro\"\nif [ -s $prefix/grubenv ]; then\n  load_env\nfi\nif [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\n   set next_entry=\n   save_env next_entry\nelse\n   set default=\"${saved_entry}\"\nfi\ninsmod blscfg\nblscfg\n";
        let entry = |v: &str| {
            format!(
                "title Fedora Linux ({v}) 40\nversion {v}\nlinux /vmlinuz-{v}\noptions $kernelopts\n"
            )
        };
        MemFs::new()
            .with("/grub2/grub.cfg", cfg)
            .with("/grub2/grubenv", grubenv(&[("saved_entry", saved)]))
            .with(
                &format!("/loader/entries/{MID}-6.8.5-301.fc40.x86_64.conf"),
                entry("6.8.5-301.fc40.x86_64"),
            )
            .with(
                &format!("/loader/entries/{MID}-6.7.1-200.fc40.x86_64.conf"),
                entry("6.7.1-200.fc40.x86_64"),
            )
            .with("/vmlinuz-6.8.5-301.fc40.x86_64", "K")
            .with("/vmlinuz-6.7.1-200.fc40.x86_64", "K")
    }

    #[test]
    fn fedora_grub_matches_ids_first() {
        let saved = format!("{MID}-6.7.1-200.fc40.x86_64");
        let env = GrubEnv {
            saved_entry: Some(saved.clone()),
            ..GrubEnv::default()
        };
        let (m, c, g) = grub_choice(&fedora(&saved), &env);
        assert_eq!(g.flavour, GrubFlavour::Rhboot);
        assert_eq!(m.entries[c.index].id, saved);
        assert!(matches!(
            c.why,
            Why::Grub {
                from: GrubValueFrom::SavedEntry,
                ..
            }
        ));
        assert!(c.why.to_string().contains("Fedora/RHEL GRUB"), "{}", c.why);
        // Upstream's rule on the same value: leading digit 9, out of range, entry 0.
        assert_eq!(
            leapboot_menus::grub::default::default_index(
                &[("a", "x"), ("b", saved.as_str())],
                Some(saved.as_str()),
                GrubFlavour::Upstream
            ),
            0
        );
    }

    fn esp(loader_conf: Option<&str>) -> MemFs {
        let e = |t: &str, v: &str| {
            format!(
                "title {t}\nversion {v}\nsort-key debian\nlinux /vmlinuz-{v}\noptions root=/dev/vda2\n"
            )
        };
        let mut fs = MemFs::new()
            .with(
                "/loader/entries/debian-6.1.0-50.conf",
                e("Debian 50", "6.1.0-50"),
            )
            .with(
                "/loader/entries/debian-6.1.0-9.conf",
                e("Debian 9", "6.1.0-9"),
            )
            .with(
                "/loader/entries/Debian-Old.conf",
                e("Debian old", "5.10.0-1"),
            )
            .with("/loader/entries/gone.conf", "title Gone\nlinux /nothing\n")
            .with("/vmlinuz-6.1.0-50", "K")
            .with("/vmlinuz-6.1.0-9", "K")
            .with("/vmlinuz-5.10.0-1", "K");
        if let Some(lc) = loader_conf {
            fs.insert("/loader/loader.conf", lc.as_bytes().to_vec());
        }
        fs
    }

    fn sd(fs: &MemFs, vars: &LoaderVars) -> (Menu, Choice) {
        let (scans, m) = menu_of(fs, VolumeRole::Esp);
        let candidates: Vec<usize> = (0..m.entries.len())
            .filter(|&i| m.entries[i].bls.is_some() && m.entries[i].bootable())
            .collect();
        let lc = scans
            .iter()
            .find_map(|s| s.loader_conf.as_ref()?.default_pattern());
        let c = systemd_boot(&m, &candidates, vars, lc.as_ref()).unwrap();
        (m, c)
    }

    #[test]
    fn systemd_boot_ladder() {
        let fs = esp(Some("default debian-6.1.0-9.conf\n"));
        // The one-shot beats everything; matched lowercased, with its suffix, as a glob.
        let vars = LoaderVars {
            oneshot: Some("debian-old.CONF".into()),
            default: Some("debian-6.1.0-50.conf".into()),
            last_booted: None,
        };
        let (m, c) = sd(&fs, &vars);
        assert_eq!(m.entries[c.index].id, "Debian-Old");
        assert_eq!(c.why, Why::OneShot("debian-old.CONF".into()));
        // Then LoaderEntryDefault.
        let vars = LoaderVars {
            default: Some("debian-6.1.0-5*".into()),
            ..LoaderVars::default()
        };
        let (m, c) = sd(&fs, &vars);
        assert_eq!(m.entries[c.index].id, "debian-6.1.0-50");
        // A one-shot naming nothing falls through; so does a default without .conf.
        let vars = LoaderVars {
            oneshot: Some("nothing".into()),
            default: Some("debian-6.1.0-50".into()),
            last_booted: None,
        };
        let (m, c) = sd(&fs, &vars);
        assert_eq!(m.entries[c.index].id, "debian-6.1.0-9");
        assert_eq!(c.why, Why::LoaderConf("debian-6.1.0-9.conf".into()));
        // No loader.conf: the first entry (newest by systemd's order), never the
        // missing-kernel one.
        let (m, c) = sd(&esp(None), &LoaderVars::default());
        assert_eq!(m.entries[c.index].id, "debian-6.1.0-50");
        assert_eq!(c.why, Why::FirstEntry);
        let vars = LoaderVars {
            oneshot: Some("gone.conf".into()),
            ..LoaderVars::default()
        };
        let (m, c) = sd(&esp(None), &vars);
        assert_eq!(m.entries[c.index].id, "debian-6.1.0-50");
    }

    #[test]
    fn systemd_boot_saved() {
        let vars = LoaderVars {
            default: Some("@saved".into()),
            last_booted: Some("debian-6.1.0-9.conf".into()),
            ..LoaderVars::default()
        };
        let (m, c) = sd(&esp(None), &vars);
        assert_eq!(m.entries[c.index].id, "debian-6.1.0-9");
        assert_eq!(c.why, Why::LastBooted("debian-6.1.0-9.conf".into()));
        let vars = LoaderVars {
            last_booted: Some("debian-old.conf".into()),
            ..LoaderVars::default()
        };
        let (m, c) = sd(&esp(Some("default @saved\n")), &vars);
        assert_eq!(m.entries[c.index].id, "Debian-Old");
    }

    #[test]
    fn overrides() {
        let (_, m) = menu_of(&debian(&[]), VolumeRole::Other);
        let all: Vec<usize> = (0..m.entries.len()).collect();
        let c = latest(&m, &all).unwrap();
        // Newest version, first in menu order: the top entry, not the submenu copy.
        assert_eq!(m.entries[c.index].id, "gnulinux-simple-1a57");
        assert_eq!(c.why, Why::Latest("6.1.0-50-amd64".into()));
        let c = by_pattern(&m, "*6.1.0-9*").unwrap();
        assert_eq!(
            m.entries[c.index].id,
            "gnulinux-6.1.0-9-amd64-advanced-1a57"
        );
        assert!(by_pattern(&m, "nothing").is_none());
        let (_, m) = menu_of(&esp(None), VolumeRole::Esp);
        let all: Vec<usize> = (0..m.entries.len()).collect();
        assert_eq!(
            m.entries[latest(&m, &all).unwrap().index].id,
            "debian-6.1.0-50"
        );
    }
}
