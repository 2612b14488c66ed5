//! GRUB configs as GRUB itself reads them.
//!
//! A `grub.cfg` is a program. leapboot runs it with a GRUB script interpreter
//! ([`lexer`], [`parser`], `interp`) over the volumes it can read, the way GRUB's
//! normal mode would after `grub-install` set `$root` and `$prefix`, then runs each
//! menu entry's body to learn what it would load. Everything GRUB would only show or
//! configure on the firmware side (`insmod`, `terminal_output`, fonts, `echo`) is
//! accepted and ignored; an unknown command is logged with its file and line and
//! skipped, so one command never loses the rest of the file.
//!
//! Where a config is looked for on a volume, first found wins: `/boot/grub/grub.cfg`,
//! `/grub/grub.cfg`, `/boot/grub2/grub.cfg`, `/grub2/grub.cfg`, then `/EFI/*/grub.cfg`
//! (directories in case-insensitive name order). That volume is `$root`; `$prefix`
//! and `$config_directory` are the config's directory on it, written `(hd0,gpt2)/boot/grub`
//! ([`paths`] explains the device names). `$cmdpath` is not set. ESP stubs that
//! `search` another volume and `configfile` its config are followed.
//!
//! Pre-set variables are those of GRUB 2.12's normal mode: every `feature_*` flag
//! (so `$menuentry_id_option` is `--id` and ids survive), `grub_cpu`, `grub_platform`
//! (see [`GrubOptions`]), all exported, as are `root` and `prefix`.
//!
//! # Entries
//! Each menu entry becomes an [`Entry`] of kind `grub`: `id` is its `--id` (for
//! `blscfg` entries the BLS file name), else its title path; `path` is the titles
//! from the top menu joined with `>`, with a `>` inside a title written `>>` as in
//! GRUB's `$chosen`; `volume`, `kernel` and `initrds` are where the `linux` and
//! `initrd` commands found their files (GRUB's `$root` at that point); `source` is
//! the config file and line of the `menuentry` (the BLS file for `blscfg` entries).
//! Entries that load no Linux kernel (`chainloader`, `fwsetup`, `reboot`...) are
//! listed with the reason as their `problem`; Xen and tboot entries (`multiboot`,
//! `multiboot2`, Arm's `xen_hypervisor`, with their `module` lines) say that
//! multiboot (Xen/tboot) is not supported. A missing initrd is a problem too, where
//! GRUB would print an error and boot without it.
//!
//! # Command line
//! GRUB's Linux loaders pass `BOOT_IMAGE=<kernel path as written>` followed by the
//! arguments, each quoted as `grub_create_loader_cmdline` does (`"..."` around an
//! argument with a space; `\`, `'` and `"` escaped). leapboot passes the same string,
//! `BOOT_IMAGE=` included, so the booted system sees the command line it would see
//! under GRUB (dracut's FIPS check, for one, finds the kernel through `BOOT_IMAGE`).
//! `\xHH` is kept as written, as Fedora/RHEL GRUB does (see [`lexer`]).
//!
//! # Default, fallback, timeout
//! [`default`] mirrors `grub-core/normal/menu.c` of upstream GRUB and of rhboot's
//! (Fedora, RHEL and rebuilds), which differ: rhboot matches `default` against ids,
//! then titles, then a whole-value number; upstream reads leading digits as an index.
//! rhboot's rules apply when the config shows it was written for that GRUB: it runs
//! `blscfg`, or it is read from a `grub2` directory (`/boot/grub2/grub.cfg`, as
//! `grub2-install` puts it; upstream's is `/boot/grub`). RHEL 7's GRUB, Fedora's
//! before 30 and openSUSE's also live in `grub2` without that change (rhboot's
//! rhel-7 branches lack it); their configs name entries by title or by a
//! `gnulinux-...` id, on which both readings agree. Where the choice differs from upstream's,
//! an info diagnostic says so. The scan reports GRUB's choice, whose rules made it
//! ([`GrubScan::flavour`]) and the fallback order; [`crate::Menu`] maps them to its
//! entries.
//!
//! # grubenv
//! `load_env` reads the block ([`grubenv`]); `save_env` is not written here: each
//! write GRUB would make is reported ([`GrubScan::env_writes`] while reading the
//! config, [`GrubEntryInfo::env_writes`] when an entry boots, for example
//! `savedefault` or Ubuntu's `recordfail`), for the bootloader to apply in place
//! before it boots. So `next_entry` is used once and cleared exactly as the
//! grub-mkconfig header asks.
//!
//! # Where GRUB builds differ
//! - `default` and `fallback`: rhboot's id-first lookup for configs written for
//!   Fedora/RHEL GRUB, upstream's (`2abc` is index 2) for the others (see above).
//! - `\xHH` in words and on the command line: kept, as Fedora/RHEL GRUB does;
//!   upstream would drop the backslash and break `LABEL=CentOS\x207...` on install media.
//! - `blscfg` is rhboot's newest behaviour (see [`blscfg`]).
//! - `--users $grub_users` with the variable empty leaves `--users` without a value;
//!   GRUB rejects such an entry, leapboot keeps it with a warning (RHEL 8 writes
//!   these for petitboot, which also keeps them).
//! - `linux16`, `linuxefi`, `initrd16`, `initrdefi` are accepted on every platform.
//!
//! # Not supported
//! Password checks (`superusers`, `--users`) are not enforced; `regexp`, `loopback`,
//! `cryptomount`, `read`, `hwmatch` are not reproduced and return failure; file
//! globbing (GRUB's optional wildcard module) is not done; `-nt`/`-ot` see no
//! modification times; `$"..."` is not translated; `search` sees only the volumes
//! leapboot reads (not XFS, Btrfs, LVM or LUKS); a menu entry's body runs once, on a
//! copy of the environment, so changes a failed entry makes are not seen by its
//! fallbacks.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

pub mod blscfg;
mod commands;
pub mod default;
pub mod grubenv;
mod interp;
pub mod lexer;
pub mod options;
pub mod parser;
pub mod paths;
pub mod search;
mod test_expr;

pub use interp::Limits;

use crate::diag::{Diagnostic, Severity};
use crate::entry::{Entry, EntryKind, Source, VolumeRef};
use crate::fs::{FileKind, FileSystem, VolumeView};
use default::{GrubFlavour, GrubTimeout, default_index, fallback_list};
use grubenv::EnvWrite;
use interp::{BootPlan, EvalKind, EvalMenu, FileRef, Halt, Interp, LoaderKind, MenuItem};
use std::rc::Rc;

/// How to run GRUB configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubOptions {
    /// `$grub_platform`: `efi` or `pc` (the firmware leapboot itself was started by).
    pub platform: String,
    /// `$grub_cpu`.
    pub cpu: String,
    /// GRUB device names of the volumes, by volume index, where the caller knows
    /// them (`hd0,gpt2`); others are derived from Linux names ([`paths`]).
    pub device_names: Vec<Option<String>>,
    /// GRUB's own names of assembled volumes (md arrays, LVM LVs), by volume index:
    /// the first is the volume's name, each resolves to it ([`paths`]).
    pub device_aliases: Vec<Vec<String>>,
    /// Bounds on the work one scan may do.
    pub limits: Limits,
}

impl Default for GrubOptions {
    fn default() -> Self {
        GrubOptions {
            platform: "efi".into(),
            cpu: if cfg!(target_arch = "x86") {
                "i386".into()
            } else {
                std::env::consts::ARCH.into()
            },
            device_names: Vec::new(),
            device_aliases: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// A config file on a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The volume.
    pub volume: VolumeRef,
    /// Path within the volume.
    pub path: String,
}

/// GRUB's data about an entry that [`Entry`] has no field for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrubEntryInfo {
    /// GRUB's own id (`--id`, else the title), as `$chosen` and `saved_entry` use it.
    pub grub_id: String,
    /// `--class` values.
    pub classes: Vec<String>,
    /// `--users` (a password would be asked when `superusers` is set); `None` for
    /// `--unrestricted`.
    pub users: Option<String>,
    /// `--hotkey`.
    pub hotkey: Option<String>,
    /// Loader command that loaded the kernel (`linux`, `linuxefi`, `linux16`).
    pub loader: Option<String>,
    /// `save_env` writes GRUB makes when booting this entry: those made while
    /// reading the config first, then those of submenus on the way, then the entry's.
    pub env_writes: Vec<EnvWrite>,
}

/// The menu tree: entries and submenus in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrubNode {
    /// An entry: index into [`GrubScan::entries`].
    Entry(usize),
    /// A submenu (or an entry whose body runs `configfile`).
    Submenu {
        /// Title.
        title: String,
        /// GRUB id.
        id: String,
        /// Title path, as entries' `path`.
        path: String,
        /// Contents.
        children: Vec<GrubNode>,
    },
}

/// What GRUB would do with the config found on one volume.
#[derive(Debug, Clone)]
pub struct GrubScan {
    /// The config found on the scanned volume.
    pub config: ConfigFile,
    /// The config whose menu GRUB shows (different after an ESP stub's `configfile`).
    pub menu_config: ConfigFile,
    /// Entries, depth first in menu order.
    pub entries: Vec<Entry>,
    /// GRUB data for each entry, parallel to `entries`.
    pub info: Vec<GrubEntryInfo>,
    /// The menu tree.
    pub tree: Vec<GrubNode>,
    /// `$default` when the menu is shown.
    pub default_value: Option<String>,
    /// The entry GRUB boots when the timeout expires, bootable or not.
    pub default: Option<usize>,
    /// Whose rules chose `default` and the fallbacks: rhboot's when the config shows
    /// it was written for Fedora/RHEL GRUB (it runs `blscfg`, or is read from a
    /// `grub2` directory), else upstream's.
    pub flavour: GrubFlavour,
    /// Every entry GRUB tries, in order: the default, then the `fallback` entries.
    pub attempts: Vec<usize>,
    /// Timeout and how it is shown.
    pub timeout: GrubTimeout,
    /// `save_env` writes GRUB makes while reading the config, in order.
    pub env_writes: Vec<EnvWrite>,
    /// BLS entry files that `blscfg` turned into entries.
    pub bls_files: Vec<ConfigFile>,
}

/// Where configs are looked for on a volume, in order (the `/EFI/*` step lists the
/// directories).
pub const CONFIG_PATHS: [&str; 4] = [
    "/boot/grub/grub.cfg",
    "/grub/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/grub2/grub.cfg",
];

/// Every GRUB config on a volume, in search order.
pub fn find_configs(fs: &dyn FileSystem) -> Vec<String> {
    let mut out: Vec<String> = CONFIG_PATHS
        .iter()
        .filter(|p| fs.is_file(p))
        .map(|p| p.to_string())
        .collect();
    if let Ok(mut dirs) = fs.read_dir("/EFI") {
        dirs.retain(|d| d.kind == FileKind::Dir);
        dirs.sort_by_key(|d| d.name.to_ascii_lowercase());
        for d in dirs {
            let p = format!("/EFI/{}/grub.cfg", d.name);
            if fs.is_file(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The kernel command line GRUB's Linux loaders build: `BOOT_IMAGE=` and the
/// arguments (`grub_create_loader_cmdline`, with rhboot's `\xHH` kept as written).
pub fn kernel_cmdline(written: &str, args: &[String]) -> String {
    let mut out = String::from("BOOT_IMAGE=");
    for (n, arg) in std::iter::once(written)
        .chain(args.iter().map(String::as_str))
        .enumerate()
    {
        if n > 0 {
            out.push(' ');
        }
        let quote = arg.contains(' ');
        if quote {
            out.push('"');
        }
        let chars: Vec<char> = arg.chars().collect();
        let mut i = 0usize;
        while let Some(&c) = chars.get(i) {
            let hex = |k: usize| chars.get(k).is_some_and(char::is_ascii_hexdigit);
            if c == '\\'
                && chars.get(i.saturating_add(1)) == Some(&'x')
                && hex(i.saturating_add(2))
                && hex(i.saturating_add(3))
            {
                out.extend(chars.get(i..i.saturating_add(4)).unwrap_or(&[]));
                i = i.saturating_add(4);
                continue;
            }
            if matches!(c, '\\' | '\'' | '"') {
                out.push('\\');
            }
            out.push(c);
            i = i.saturating_add(1);
        }
        if quote {
            out.push('"');
        }
    }
    out
}

/// Runs the GRUB config of `volumes[index]` (if it has one) with default options.
pub fn scan(
    volumes: &[VolumeView<'_>],
    index: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<GrubScan> {
    scan_with(volumes, index, &GrubOptions::default(), diags)
}

/// Runs the GRUB config of `volumes[index]` (if it has one).
pub fn scan_with(
    volumes: &[VolumeView<'_>],
    index: usize,
    options: &GrubOptions,
    diags: &mut Vec<Diagnostic>,
) -> Option<GrubScan> {
    let view = volumes.get(index)?;
    let configs = find_configs(view.fs);
    let path = configs.first()?.clone();
    for other in configs.get(1..).unwrap_or(&[]) {
        diags.push(Diagnostic::new(
            Severity::Info,
            other,
            0,
            format!("GRUB config not used: {path} comes first"),
        ));
    }
    let data = match view.fs.read(&path, crate::MAX_CONFIG_BYTES) {
        Ok(d) => d,
        Err(e) => {
            diags.push(Diagnostic::new(Severity::Error, &path, 0, e.to_string()));
            return None;
        }
    };
    let mut it = Interp::new(volumes, index, options);
    let root = it.devices.name(index).to_string();
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    init_env(&mut it, &root, dir, options);
    let file = FileRef {
        volume: index,
        path: path.clone(),
    };
    let grub_name = format!("({root}){path}");
    it.read_config_file(&file, &grub_name, &data);
    let menu = match it.halt.take() {
        Some(Halt::Menu(m)) => m,
        halt => {
            it.reset_budget();
            let mut m = it.eval_menu();
            if matches!(halt, Some(Halt::Boot)) && m.items.is_empty() {
                // `linux ...; boot` at config level: GRUB boots it without a menu.
                m = config_level_menu(&it, &file);
            }
            m.config = Some(file.clone());
            m
        }
    };
    let menu_file = menu.config.clone().unwrap_or_else(|| file.clone());
    let config_writes = std::mem::take(&mut it.writes);
    let flavour = if it.rhboot_evidence.is_some() {
        GrubFlavour::Rhboot
    } else {
        GrubFlavour::Upstream
    };
    let mut b = Builder {
        it: &it,
        entries: Vec::new(),
        info: Vec::new(),
        config_writes: config_writes.clone(),
        output: 0,
        full: false,
        flavour,
        notes: Vec::new(),
    };
    let (tree, attempts) = b.flatten(&menu, "", &[]);
    let (entries, info, full, notes) = (b.entries, b.info, b.full, b.notes);
    let shown = it.display_file(menu_file.volume, &menu_file.path);
    for note in notes {
        diags.push(Diagnostic::new(Severity::Info, &shown, 0, note));
    }
    if full {
        let max = options.limits.max_output;
        diags.push(Diagnostic::new(
            Severity::Error,
            &path,
            0,
            format!("menu entries take more than {max} bytes; the rest are not listed"),
        ));
    }
    let timeout = default::timeout(menu.timeout.as_deref(), menu.timeout_style.as_deref());
    let bls_files = it.bls_files.iter().map(|f| config_ref(&it, f)).collect();
    let scan = GrubScan {
        config: config_ref(&it, &file),
        menu_config: config_ref(&it, &menu_file),
        entries,
        info,
        tree,
        default_value: menu.default.clone(),
        default: attempts.first().copied(),
        flavour,
        attempts,
        timeout,
        env_writes: config_writes,
        bls_files,
    };
    diags.extend(it.take_diagnostics());
    Some(scan)
}

fn config_ref(it: &Interp<'_>, f: &FileRef) -> ConfigFile {
    ConfigFile {
        volume: it.volume_ref(f.volume),
        path: f.path.clone(),
    }
}

/// GRUB's variables at the start of normal mode.
fn init_env(it: &mut Interp<'_>, root: &str, dir: &str, options: &GrubOptions) {
    const FEATURES: [&str; 11] = [
        "feature_chainloader_bpb",
        "feature_ntldr",
        "feature_platform_search_hint",
        "feature_default_font_path",
        "feature_all_video_module",
        "feature_menuentry_id",
        "feature_menuentry_options",
        "feature_200_final",
        "feature_nativedisk_cmd",
        "feature_timeout_style",
        "feature_search_cryptodisk_only",
    ];
    for f in FEATURES {
        it.set(f, "y");
        it.export(f);
    }
    for (name, value) in [
        ("grub_cpu", options.cpu.clone()),
        ("grub_platform", options.platform.clone()),
        ("color_normal", "light-gray/black".into()),
        ("color_highlight", "black/light-gray".into()),
        ("root", root.to_string()),
        ("prefix", format!("({root}){dir}")),
    ] {
        it.set(name, &value);
        it.export(name);
    }
}

/// A one-entry menu for a config that loads a kernel and runs `boot` itself.
fn config_level_menu(it: &Interp<'_>, file: &FileRef) -> EvalMenu {
    let title = file.path.clone();
    let item = MenuItem {
        title: title.clone(),
        id: None,
        args: vec![title],
        classes: Vec::new(),
        users: None,
        hotkey: None,
        submenu: false,
        body: interp::Body::Text(Rc::from("")),
        loc: interp::Loc {
            volume: file.volume,
            path: Rc::from(file.path.as_str()),
            generated: false,
        },
        line: 0,
        bls: None,
    };
    let plan = it.top_plan.clone();
    EvalMenu {
        items: vec![interp::EvalItem {
            item,
            kind: EvalKind::Leaf(plan),
        }],
        ..EvalMenu::default()
    }
}

/// Turns an evaluated menu into entries, the tree and the boot attempts.
struct Builder<'a, 'v> {
    it: &'a Interp<'v>,
    entries: Vec<Entry>,
    info: Vec<GrubEntryInfo>,
    config_writes: Vec<EnvWrite>,
    /// Bytes of text in the entries so far.
    output: usize,
    /// Set once `output` passed the limit: no more entries.
    full: bool,
    /// Whose `default` rules apply.
    flavour: GrubFlavour,
    /// Where the flavour changed GRUB's choice, for the log.
    notes: Vec<String>,
}

fn escape_title(t: &str) -> String {
    t.replace('>', ">>")
}

impl Builder<'_, '_> {
    /// Returns the nodes of `menu` and the entries GRUB tries in it, in order
    /// (`run_menu`'s default, then `grub_menu_execute_with_fallback`).
    fn flatten(
        &mut self,
        menu: &EvalMenu,
        prefix: &str,
        writes: &[EnvWrite],
    ) -> (Vec<GrubNode>, Vec<usize>) {
        let mut nodes = Vec::with_capacity(menu.items.len());
        let mut tries: Vec<Vec<usize>> = Vec::with_capacity(menu.items.len());
        for ev in &menu.items {
            if self.full {
                break;
            }
            let item = &ev.item;
            let title = escape_title(&item.title);
            let path = if prefix.is_empty() {
                title
            } else {
                format!("{prefix}>{title}")
            };
            match &ev.kind {
                EvalKind::Leaf(plan) => {
                    let i = self.entries.len();
                    let (entry, info) = self.entry(item, plan, &path, writes);
                    let size = [
                        &entry.id,
                        &entry.title,
                        &entry.cmdline,
                        &path,
                        &entry.kernel,
                    ]
                    .iter()
                    .map(|s| s.len())
                    .chain(entry.initrds.iter().map(String::len))
                    .sum::<usize>();
                    self.output = self.output.saturating_add(size);
                    if self.output > self.it.limits.max_output {
                        self.full = true;
                        break;
                    }
                    self.entries.push(entry);
                    self.info.push(info);
                    nodes.push(GrubNode::Entry(i));
                    tries.push(vec![i]);
                }
                EvalKind::Menu(sub, sub_writes) => {
                    let mut w = writes.to_vec();
                    w.extend(sub_writes.iter().cloned());
                    let (children, t) = self.flatten(sub, &path, &w);
                    nodes.push(GrubNode::Submenu {
                        title: item.title.clone(),
                        id: item.grub_id().to_string(),
                        path,
                        children,
                    });
                    tries.push(t);
                }
            }
        }
        let ids: Vec<(&str, &str)> = menu
            .items
            .iter()
            .map(|e| (e.item.title.as_str(), e.item.grub_id()))
            .collect();
        let pick = default_index(&ids, menu.default.as_deref(), self.flavour);
        if let Some(value) = menu.default.as_deref() {
            let upstream = default_index(&ids, Some(value), GrubFlavour::Upstream);
            let title = |i: usize| ids.get(i).map_or("", |(t, _)| t);
            if pick != upstream && self.notes.len() < 16 {
                let why = self.it.rhboot_evidence.as_deref().unwrap_or("");
                self.notes.push(format!(
                    "`default` is `{value}`: read as Fedora/RHEL GRUB reads it ({why}), it selects entry {pick} `{}`; upstream GRUB would select entry {upstream} `{}`",
                    title(pick),
                    title(upstream)
                ));
            }
        }
        let mut attempts = tries.get(pick).cloned().unwrap_or_default();
        let fallback = menu.fallback.as_deref().unwrap_or("");
        for n in fallback_list(&ids, fallback, self.flavour) {
            if let Some(t) = tries.get(n) {
                attempts.extend(t.iter().copied());
            }
        }
        (nodes, attempts)
    }

    fn entry(
        &mut self,
        item: &MenuItem,
        plan: &BootPlan,
        path: &str,
        writes: &[EnvWrite],
    ) -> (Entry, GrubEntryInfo) {
        let it = self.it;
        let (file, line) = match &item.bls {
            Some(b) => (it.display_file(b.file.volume, &b.file.path), 1),
            None => (it.display_file(item.loc.volume, &item.loc.path), item.line),
        };
        let mut problem = None;
        let mut volume = it.volume_ref(item.loc.volume);
        let mut kernel = String::new();
        let mut initrds = Vec::new();
        let mut cmdline = String::new();
        let mut devicetree = None;
        let mut loader = None;
        match (&plan.loader, &plan.action) {
            (_, Some(action)) => {
                problem = Some(format!(
                    "the entry runs `{action}`, which only GRUB itself can do"
                ));
            }
            (
                Some(LoaderKind::Linux {
                    command,
                    kernel: k,
                    written,
                    args,
                }),
                None,
            ) => {
                volume = it.volume_ref(k.volume);
                kernel = k.path.clone();
                cmdline = kernel_cmdline(written, args);
                loader = Some(command.clone());
                for f in &plan.initrds {
                    if f.volume != k.volume && problem.is_none() {
                        problem = Some(format!(
                            "initrd {} is on {}, not on {} with the kernel; leapboot loads both from one volume",
                            f.path,
                            it.volume_ref(f.volume).device,
                            volume.device
                        ));
                    }
                    initrds.push(f.path.clone());
                }
                if let Some(e) = &plan.initrd_error {
                    problem.get_or_insert_with(|| e.clone());
                }
                devicetree = plan
                    .devicetree
                    .as_ref()
                    .filter(|d| d.volume == k.volume)
                    .map(|d| d.path.clone());
            }
            (Some(LoaderKind::Multiboot { command, file }), None) => {
                let what = if command == "xen_hypervisor" {
                    "Xen"
                } else {
                    "multiboot (Xen/tboot)"
                };
                problem = Some(format!(
                    "{what} is not supported: the entry loads {file} with `{command}`, not a Linux kernel"
                ));
            }
            (Some(LoaderKind::Other(cmd)), None) => {
                problem = Some(format!(
                    "the entry uses `{cmd}`, which leapboot cannot boot (Linux kernels only)"
                ));
            }
            (None, None) => {
                problem =
                    Some(plan.kernel_error.clone().unwrap_or_else(|| {
                        "the entry loads no kernel (no `linux` command)".into()
                    }));
                if let Some(k) = &plan.missing_kernel {
                    volume = it.volume_ref(k.volume);
                    kernel = k.path.clone();
                }
            }
        }
        let id = item.id.clone().unwrap_or_else(|| path.to_string());
        let entry = Entry {
            id,
            title: item.title.clone(),
            version: item.bls.as_ref().and_then(|b| b.version.clone()),
            kind: EntryKind::Grub,
            volume,
            kernel,
            initrds,
            cmdline,
            devicetree,
            source: Source { file, line },
            path: Some(path.to_string()),
            problem,
            bls: None,
            uki: None,
        };
        let mut env_writes = self.config_writes.clone();
        env_writes.extend(writes.iter().cloned());
        env_writes.extend(plan.writes.iter().cloned());
        let info = GrubEntryInfo {
            grub_id: item.grub_id().to_string(),
            classes: item.classes.clone(),
            users: item.users.clone(),
            hotkey: item.hotkey.clone(),
            loader,
            env_writes,
        };
        (entry, info)
    }
}
