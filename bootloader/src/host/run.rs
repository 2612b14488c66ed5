//! The subcommands `reboot`, `load`, `unload` and `status`: each step of the plan in
//! the order of the module docs of [`super`], printing what it decides.
//!
//! Output: the plan (`leapboot: reboot: ...` lines) and the handoff report
//! (`leapboot: kexec: handoff: ...`, the lines PID 1 prints before its jumps) on
//! stdout; problems on stderr (`leapboot: ...`), with the reason and what to do.
//! `--quiet` prints only problems.

use super::next::{self, Choice, GrubEnv, Loader, LoaderVars};
use super::traps::{self, Level, Probe, Trap};
use super::{EXIT_PROBLEMS, EXIT_UNREADABLE, SystemRoot};
use super::{cmdline, efivars, handover, kernels, kexec_default, mounts, state};
use crate::devices::scan::contain;
use crate::handoff::{self, BootOptions, Handoff};
use crate::settings::Settings;
use clap::Args;
use leapboot_menus::grub::grubenv::{EnvBlock, EnvWrite};
use leapboot_menus::grub::{GrubOptions, GrubScan};
use leapboot_menus::{Entry, Menu, VolumeRole, VolumeScan, VolumeView};
use std::path::PathBuf;

/// The exit codes of `reboot` and `load`, as `--help` prints them.
pub const EXIT_HELP: &str = "\
Exit status:
  0  done (handed over, loaded, or the plan printed with --dry-run); with
     --on-reboot, also nothing to do (LOAD_KEXEC=false, a firmware reboot asked for)
  1  nothing was loaded: no boot loader config, the entry cannot boot, a trap stops
     it (not root, kexec_load_disabled, an unsigned kernel under lockdown), or the
     load or the handover failed; each said on stderr with what to do
  2  usage error, or input that cannot be read (an --entry that matches nothing)";

/// Which entry, and which command line: shared by `reboot` and `load`.
#[derive(Debug, Clone, Args)]
pub struct Select {
    /// Boot this entry (id or BLS-style glob, as `leapboot list` shows ids) instead of
    /// the one the boot loader would boot next.
    #[arg(long, value_name = "ID|GLOB")]
    pub entry: Option<String>,
    /// Boot the newest kernel (UAPI version order) among the boot loader's entries, or
    /// among /boot/vmlinuz-* when no config is found.
    #[arg(long, conflicts_with = "entry")]
    pub latest: bool,
    /// Use this boot's command line (/proc/cmdline without BOOT_IMAGE=, initrd= and
    /// leapboot.entry=) instead of the entry's.
    #[arg(long)]
    pub reuse_cmdline: bool,
    /// Parameters appended to the command line.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub append: Option<String>,
    /// Log every step to stderr.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print only problems.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Testing aid: read the running system's files under DIR (also
    /// LEAPBOOT_SYSTEM_ROOT); nothing is loaded, written or rebooted.
    #[arg(long, value_name = "DIR", hide = true)]
    pub system_root: Option<PathBuf>,
}

/// `leapboot reboot`.
#[derive(Debug, Clone, Args)]
pub struct RebootArgs {
    #[command(flatten)]
    select: Select,
    /// Print the plan (the handoff report) and load nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Jump right after the load and a sync, without a clean shutdown through systemd.
    #[arg(long, conflicts_with = "dry_run")]
    pub now: bool,
    /// When the kexec reboot cannot be done, reboot through firmware instead.
    #[arg(long)]
    pub fallback: bool,
    /// Reboot once through firmware and the boot loader (unloads any image; the
    /// kexec unit loads nothing this time).
    #[arg(long, conflicts_with_all = ["dry_run", "now", "fallback", "entry", "latest", "reuse_cmdline", "append"])]
    pub firmware: bool,
}

/// `leapboot load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    select: Select,
    /// Print the plan (the handoff report) and load nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// For the systemd unit: load only while a reboot is under way, honour
    /// LOAD_KEXEC=false and a firmware reboot asked for, keep an image another tool
    /// loaded, and consume the one-shots (the jump follows).
    #[arg(long)]
    pub on_reboot: bool,
}

/// `leapboot unload`.
#[derive(Debug, Clone, Args)]
pub struct UnloadArgs {
    /// Print only problems.
    #[arg(short, long)]
    pub quiet: bool,
    /// Testing aid (see `reboot`).
    #[arg(long, value_name = "DIR", hide = true)]
    pub system_root: Option<PathBuf>,
}

/// `leapboot status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Testing aid (see `reboot`).
    #[arg(long, value_name = "DIR", hide = true)]
    pub system_root: Option<PathBuf>,
}

/// What the run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `leapboot reboot`.
    Reboot,
    /// `leapboot load` by hand.
    Load,
    /// `leapboot load --on-reboot` (the unit).
    OnReboot,
}

impl Mode {
    fn by(self) -> &'static str {
        match self {
            Mode::Reboot => "leapboot reboot",
            Mode::Load => "leapboot load",
            Mode::OnReboot => "leapboot load --on-reboot (leapboot-kexec.service)",
        }
    }
}

/// Where lines go.
struct Out {
    quiet: bool,
}

impl Out {
    /// A plan line on stdout.
    fn say(&self, line: impl AsRef<str>) {
        if !self.quiet {
            crate::outln!("leapboot: reboot: {}", line.as_ref());
        }
    }
    /// A problem on stderr.
    fn problem(&self, line: impl AsRef<str>) {
        crate::errln!("leapboot: {}", line.as_ref());
    }
}

/// Everything decided before the load.
struct Plan {
    entry: Entry,
    why: String,
    opts: BootOptions,
    settings: Settings,
    env_writes: Vec<EnvWrite>,
    consume_oneshot: bool,
}

/// Reads a small file of the running system, trimmed.
fn read_trim(sys: &SystemRoot, path: &str) -> Option<String> {
    std::fs::read_to_string(sys.path(path))
        .ok()
        .map(|s| s.trim().to_string())
}

/// `0`/`1` files.
fn read_flag(sys: &SystemRoot, path: &str) -> Option<bool> {
    read_trim(sys, path).map(|s| s == "1")
}

/// The running system's side of the traps.
fn probe(sys: &SystemRoot) -> Probe {
    let (euid, cap_sys_boot) = std::fs::read_to_string(sys.path("/proc/self/status"))
        .map(|s| traps::parse_status(&s))
        .unwrap_or((None, None));
    let loaded = state::read_loaded(sys);
    let boot = state::boot_id(sys);
    let shutdown = sys.path("/run/initramfs/shutdown").exists() || finalrd_enabled(sys);
    Probe {
        euid,
        cap_sys_boot,
        kexec_load_disabled: read_flag(sys, "/proc/sys/kernel/kexec_load_disabled"),
        kexec_loaded: read_flag(sys, "/sys/kernel/kexec_loaded"),
        loaded_by_leapboot: loaded.is_some_and(|l| l.boot_id.is_empty() || l.boot_id == boot),
        lockdown: read_trim(sys, "/sys/kernel/security/lockdown")
            .and_then(|t| handoff::kexec::parse_lockdown(&t)),
        secure_boot: efivars::read(sys, "SecureBoot", efivars::GLOBAL_GUID)
            .ok()
            .flatten()
            .and_then(|v| efivars::number(&v.data, 1).ok())
            .map(|n| n == 1),
        crash_size: read_trim(sys, "/sys/kernel/kexec_crash_size").and_then(|s| s.parse().ok()),
        shutdown_initramfs: shutdown.then(|| {
            traps::shutdown_initramfs_owner(
                finalrd_enabled(sys),
                sys.path("/usr/lib/dracut").is_dir(),
            )
        }),
    }
}

/// Ubuntu's finalrd enabled (it fills `/run/initramfs` only while shutting down).
fn finalrd_enabled(sys: &SystemRoot) -> bool {
    let Ok(rd) = std::fs::read_dir(sys.path("/etc/systemd/system")) else {
        return false;
    };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wants"))
        .any(|e| e.path().join("finalrd.service").exists())
}

/// Runs every config source over the boot volumes, with GRUB run as the platform's
/// GRUB (`efi` or `pc`), each volume's scan contained as PID 1's are.
fn scan(found: &mounts::Found, efi: bool) -> (Vec<VolumeScan>, Menu) {
    let views: Vec<VolumeView<'_>> = found
        .volumes
        .iter()
        .map(|v| VolumeView {
            info: &v.info,
            fs: v.fs.as_ref(),
        })
        .collect();
    let options = GrubOptions {
        platform: if efi { "efi" } else { "pc" }.into(),
        ..GrubOptions::default()
    };
    let mut scans = Vec::new();
    for (i, m) in found.mounts.iter().enumerate() {
        let dev = m.describe();
        match contain(&dev, || {
            leapboot_menus::scan::scan_volume_with(&views, i, &options)
        }) {
            Ok(Some(s)) => {
                for d in &s.diagnostics {
                    crate::log!(
                        crate::log::Area::Config,
                        "{dev}: {}: {d}",
                        d.severity.as_str()
                    );
                }
                scans.push(s);
            }
            Ok(None) => {}
            Err(e) => crate::log!(crate::log::Area::Config, "{e}; volume skipped"),
        }
    }
    let menu = Menu::assemble(&scans, None);
    (scans, menu)
}

/// Where the volume an entry's files are on is mounted.
fn volume_of<'a>(found: &'a mounts::Found, e: &Entry) -> Option<&'a mounts::HostVolume> {
    found.mount_of(&e.volume).map(|(_, m)| m)
}

/// The entries systemd-boot lists: Boot Loader Specification entries and unified
/// kernel images on the ESP, XBOOTLDR or a `/boot` of its own, whose files exist.
fn systemd_boot_candidates(found: &mounts::Found, menu: &Menu) -> Vec<usize> {
    (0..menu.entries.len())
        .filter(|&i| {
            menu.entries.get(i).is_some_and(|e| {
                e.bls.is_some()
                    && e.bootable()
                    && found.mount_of(&e.volume).is_some_and(|(v, m)| {
                        v.info.role != VolumeRole::Other || m.mount_point == "/boot"
                    })
            })
        })
        .collect()
}

/// The GRUB menu GRUB shows: the first config with entries, in volume order (the ESP's
/// on EFI, the `/boot` filesystem's on BIOS), as [`Menu::assemble`] picks it.
fn primary_grub(scans: &[VolumeScan]) -> Option<&GrubScan> {
    scans
        .iter()
        .filter_map(|s| s.grub.as_ref())
        .find(|g| !g.entries.is_empty())
}

/// Reads a file of a volume the menu refers to.
fn read_on(
    found: &mounts::Found,
    vol: &leapboot_menus::VolumeRef,
    path: &str,
    limit: u64,
) -> Option<Vec<u8>> {
    found
        .mount_of(vol)
        .and_then(|(v, _)| v.fs.read(path, limit).ok())
}

/// grubenv's `next_entry` and `saved_entry`, from `$prefix/grubenv` beside the config.
fn grub_env(found: &mounts::Found, g: &GrubScan) -> GrubEnv {
    let dir = g.menu_config.path.rsplit_once('/').map_or("", |(d, _)| d);
    let Some(bytes) = read_on(
        found,
        &g.menu_config.volume,
        &format!("{dir}/grubenv"),
        64 * 1024,
    ) else {
        return GrubEnv::default();
    };
    let Ok(blk) = EnvBlock::parse(&bytes) else {
        return GrubEnv::default();
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    GrubEnv {
        next_entry: nonempty(blk.get("next_entry")),
        saved_entry: nonempty(blk.get("saved_entry")),
    }
}

/// The kernels installed in `/boot`, on the volume that holds it.
fn boot_kernels(
    found: &mounts::Found,
) -> Option<(
    &crate::devices::volume::Volume,
    &mounts::HostVolume,
    Vec<kernels::KernelFile>,
)> {
    let (v, m) = found
        .iter()
        .filter(|(_, m)| mounts::is_under("/boot", &m.mount_point))
        .max_by_key(|(_, m)| m.mount_point.len())?;
    let dir = m.fs_path("/boot");
    let names: Vec<String> =
        v.fs.read_dir(&dir)
            .ok()?
            .into_iter()
            .map(|d| d.name)
            .collect();
    Some((v, m, kernels::kernels_in(&dir, &names)))
}

/// A kernel named by its path on the running system (`KERNEL_IMAGE=/boot/vmlinuz-x`):
/// the boot volume that holds it, and the path within that volume.
fn locate(found: &mounts::Found, host_path: &str) -> Option<(usize, String)> {
    let (i, m) = found
        .mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| mounts::is_under(host_path, &m.mount_point))
        .max_by_key(|(_, m)| m.mount_point.len())?;
    Some((i, m.fs_path(host_path)))
}

/// The loader that boots next and a sentence on how that is known.
fn which_loader(sys: &SystemRoot, scans: &[VolumeScan], menu: &Menu) -> (Loader, String) {
    if let Ok(Some(info)) = efivars::read_string(sys, "LoaderInfo", efivars::LOADER_GUID) {
        return (
            Loader::SystemdBoot,
            format!("{info} (the LoaderInfo EFI variable)"),
        );
    }
    if efivars::exists(sys, "LoaderInfo", efivars::LOADER_GUID) {
        return (
            Loader::SystemdBoot,
            "systemd-boot (the LoaderInfo EFI variable)".into(),
        );
    }
    if let Some(g) = primary_grub(scans) {
        let platform = if sys.path("/sys/firmware/efi").is_dir() {
            "EFI"
        } else {
            "BIOS"
        };
        return (
            Loader::Grub,
            format!(
                "GRUB ({platform}), config {} on {}",
                g.menu_config.path, g.menu_config.volume.device
            ),
        );
    }
    if menu.entries.iter().any(|e| e.bls.is_some()) {
        return (Loader::Unknown, "no LoaderInfo EFI variable and no GRUB config; Boot Loader Specification entries found".into());
    }
    (
        Loader::Unknown,
        "none identified (no LoaderInfo EFI variable, no GRUB config, no boot entries)".into(),
    )
}

/// Where the choice comes from when neither a boot loader config nor `--latest` names
/// a kernel: why leapboot does not guess.
fn no_config(found: &mounts::Found) -> String {
    format!(
        "no boot loader config found: looked for GRUB's config (/boot/grub/grub.cfg, /boot/grub2/grub.cfg, EFI/*/grub.cfg on the ESP) and Boot Loader Specification entries (/loader/entries, /boot/loader/entries, /EFI/Linux) on {}; not guessing which kernel to boot: --latest boots the newest kernel installed in /boot, --reuse-cmdline boots the running kernel again with this boot's command line",
        found.describe()
    )
}

/// Chooses the entry and its command line. `Err` carries the exit status, said already.
fn decide(
    sys: &SystemRoot,
    sel: &Select,
    found: &mounts::Found,
    scans: &[VolumeScan],
    menu: &Menu,
    defaults: &kexec_default::KexecDefaults,
    out: &Out,
) -> Result<Plan, u8> {
    let (loader, how) = which_loader(sys, scans, menu);
    out.say(format!("boot loader: {how}"));
    let grub = primary_grub(scans);
    let candidates: Vec<usize> = match loader {
        Loader::SystemdBoot => systemd_boot_candidates(found, menu),
        Loader::Grub => grub
            .map(|g| {
                next::grub_menu_indices(menu, g)
                    .into_iter()
                    .flatten()
                    .collect()
            })
            .unwrap_or_default(),
        Loader::Unknown => (0..menu.entries.len())
            .filter(|&i| menu.entries.get(i).is_some_and(|e| e.bls.is_some()))
            .collect(),
    };
    let proc_cmdline = read_trim(sys, "/proc/cmdline").unwrap_or_default();
    let oneshot_set = loader == Loader::SystemdBoot
        && efivars::exists(sys, "LoaderEntryOneShot", efivars::LOADER_GUID);

    // The loader's own choice, computed even when overridden, to say what it would be.
    let loader_choice: Option<Choice> = match loader {
        Loader::SystemdBoot => {
            let read = |n: &str| {
                efivars::read_string(sys, n, efivars::LOADER_GUID)
                    .ok()
                    .flatten()
            };
            let vars = LoaderVars {
                oneshot: read("LoaderEntryOneShot"),
                default: read("LoaderEntryDefault"),
                last_booted: read("LoaderEntryLastBooted"),
            };
            // systemd-boot reads the loader.conf of the ESP it runs from.
            let lc = scans
                .iter()
                .filter(|s| s.volume.role == VolumeRole::Esp)
                .chain(scans.iter().filter(|s| s.volume.role != VolumeRole::Esp))
                .find_map(|s| s.loader_conf.as_ref()?.default_pattern());
            next::systemd_boot(menu, &candidates, &vars, lc.as_ref())
        }
        Loader::Grub => grub.and_then(|g| next::grub(menu, g, &grub_env(found, g))),
        Loader::Unknown => next::ladder(menu),
    };
    if let Some(c) = &loader_choice
        && let Some(e) = menu.entries.get(c.index)
        && (sel.entry.is_some() || sel.latest)
    {
        out.say(format!(
            "the boot loader itself would boot '{}' ({})",
            e.id, c.why
        ));
    }

    // The entry: an override, else the loader's choice; kernel files when no config
    // names one.
    let kernel_override = defaults
        .kernel_override()
        .filter(|_| sel.entry.is_none() && !sel.latest);
    let reuse_line = || {
        let mut c = cmdline::reuse(&proc_cmdline);
        if let Some(a) = defaults.cmdline().filter(|_| !sel.reuse_cmdline) {
            c = a.to_string();
        }
        c
    };
    let mut synthetic = false;
    let (entry, why): (Entry, String) = if let Some(p) = &sel.entry {
        match next::by_pattern(menu, p) {
            Some(c) => (
                menu.entries.get(c.index).cloned().ok_or(EXIT_PROBLEMS)?,
                c.why.to_string(),
            ),
            None => {
                let ids: Vec<&str> = menu.entries.iter().map(|e| e.id.as_str()).collect();
                out.problem(format!(
                    "no entry matches '{p}' (the entries: {})",
                    if ids.is_empty() {
                        "none".into()
                    } else {
                        ids.join(", ")
                    }
                ));
                return Err(EXIT_UNREADABLE);
            }
        }
    } else if sel.latest {
        match next::latest(menu, &candidates) {
            Some(c) => (
                menu.entries.get(c.index).cloned().ok_or(EXIT_PROBLEMS)?,
                c.why.to_string(),
            ),
            None => {
                let Some((v, m, ks)) = boot_kernels(found) else {
                    out.problem(format!(
                        "--latest: no boot loader entry and no /boot to look in; {}",
                        no_config(found)
                    ));
                    return Err(EXIT_PROBLEMS);
                };
                let Some(k) = kernels::newest(&ks) else {
                    out.problem(format!(
                        "--latest: no boot loader entry has a version, and no kernel (vmlinuz-*) is installed in /boot on {}",
                        m.describe()
                    ));
                    return Err(EXIT_PROBLEMS);
                };
                synthetic = true;
                (
                    kernels::entry(
                        &v.info,
                        k,
                        reuse_line(),
                        "--latest (the newest vmlinuz-* in /boot)",
                    ),
                    format!(
                        "--latest: no boot loader entry names a kernel, so the newest installed, {} (UAPI version order), with this boot's command line",
                        k.version
                    ),
                )
            }
        }
    } else if let Some((image, initrd)) = kernel_override {
        let Some((vi, path)) = locate(found, image) else {
            out.problem(format!(
                "{}: KERNEL_IMAGE={image} is not on a boot volume leapboot reads ({})",
                kexec_default::PATH,
                found.describe()
            ));
            return Err(EXIT_PROBLEMS);
        };
        let v = found.volumes.get(vi).ok_or(EXIT_PROBLEMS)?;
        let initrd =
            initrd.and_then(|i| locate(found, i).filter(|(j, _)| *j == vi).map(|(_, p)| p));
        let version = kernels::version_of_kernel_path(image)
            .unwrap_or("")
            .to_string();
        let k = kernels::KernelFile {
            version: if version.is_empty() {
                image.to_string()
            } else {
                version
            },
            kernel: path,
            initrd,
        };
        synthetic = true;
        (
            kernels::entry(&v.info, &k, reuse_line(), kexec_default::PATH),
            format!(
                "KERNEL_IMAGE={image} in {} (its INITRD, and APPEND or this boot's command line)",
                kexec_default::PATH
            ),
        )
    } else if let Some(c) = loader_choice {
        (
            menu.entries.get(c.index).cloned().ok_or(EXIT_PROBLEMS)?,
            c.why.to_string(),
        )
    } else if sel.reuse_cmdline {
        let release = read_trim(sys, "/proc/sys/kernel/osrelease")
            .unwrap_or_else(crate::sys::system::kernel_release);
        let found_k = boot_kernels(found)
            .and_then(|(v, _, ks)| kernels::running(&ks, &release).cloned().map(|k| (v, k)));
        let Some((v, k)) = found_k else {
            out.problem(format!(
                "--reuse-cmdline: no boot loader config, and the running kernel's image (vmlinuz-{release}) is not installed in /boot"
            ));
            return Err(EXIT_PROBLEMS);
        };
        synthetic = true;
        (
            kernels::entry(
                &v.info,
                &k,
                reuse_line(),
                "--reuse-cmdline (the running kernel in /boot)",
            ),
            format!(
                "--reuse-cmdline with no boot loader config: the running kernel {release} again, with this boot's command line"
            ),
        )
    } else if loader == Loader::SystemdBoot {
        out.problem(format!(
            "systemd-boot is the boot loader (LoaderInfo), but it would find no bootable entry on the ESP or XBOOTLDR; {}",
            no_config(found)
        ));
        return Err(EXIT_PROBLEMS);
    } else {
        out.problem(no_config(found));
        return Err(EXIT_PROBLEMS);
    };

    // The command line: --reuse-cmdline, else /etc/default/kexec's APPEND, else the
    // entry's; --append after either.
    let mut settings = Settings::default();
    let mut opts = BootOptions::default();
    if synthetic {
        settings.append = sel.append.clone();
    } else if sel.reuse_cmdline || defaults.cmdline().is_some() {
        let mut line = if sel.reuse_cmdline {
            cmdline::reuse_for_entry(&proc_cmdline, &entry.cmdline)
        } else {
            defaults.cmdline().unwrap_or_default().to_string()
        };
        if let Some(a) = sel
            .append
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            line = format!("{line} {a}");
        }
        out.say(if sel.reuse_cmdline {
            "command line: this boot's (/proc/cmdline without BOOT_IMAGE=, initrd=, leapboot.entry=)".to_string()
        } else {
            format!("command line: APPEND from {}", kexec_default::PATH)
        });
        opts.cmdline_override = Some(line);
    } else {
        settings.append = sel.append.clone();
    }

    // What this boot consumes, as the loader would.
    let env_writes: Vec<EnvWrite> = match menu.entries.iter().position(|e| *e == entry) {
        Some(i) if !synthetic => menu.env_writes_for(i).to_vec(),
        _ => grub.map(|g| g.env_writes.clone()).unwrap_or_default(),
    };
    Ok(Plan {
        entry,
        why,
        opts,
        settings,
        env_writes,
        consume_oneshot: oneshot_set,
    })
}

/// The one-shots and boot counter this boot uses up, in words.
fn consumption(plan: &Plan) -> Vec<String> {
    let mut v = Vec::new();
    for w in &plan.env_writes {
        let changes: Vec<String> = w
            .changes
            .iter()
            .map(|c| match c {
                leapboot_menus::grub::grubenv::EnvChange::Set(k, val) if val.is_empty() => {
                    format!("{k} cleared")
                }
                leapboot_menus::grub::grubenv::EnvChange::Set(k, val) => format!("{k}={val}"),
                leapboot_menus::grub::grubenv::EnvChange::Unset(k) => format!("{k} removed"),
            })
            .collect();
        v.push(format!(
            "grubenv {} on {}: {} (save_env at {}:{})",
            w.path,
            w.volume.device,
            changes.join(", "),
            w.source.file,
            w.source.line
        ));
    }
    if plan.consume_oneshot {
        v.push(
            "the LoaderEntryOneShot EFI variable removed (systemd-boot removes it on every boot)"
                .into(),
        );
    }
    if let Some((old, new)) = leapboot_menus::bls::counter::rename_for_boot(&plan.entry) {
        v.push(format!("boot counter: {old} renamed to {new}"));
    }
    v
}

/// Uses up the one-shots and the boot counter, after the load and before the jump.
/// Each failure is said and the boot goes on (the loader would boot it too).
fn consume(sys: &SystemRoot, found: &mounts::Found, plan: &Plan, out: &Out) {
    for w in &plan.env_writes {
        let Some((_, v)) = found.mount_of(&w.volume) else {
            out.problem(format!(
                "grubenv {} on {}: volume not mounted, not written",
                w.path, w.volume.device
            ));
            continue;
        };
        let path = v.host_path(&w.path);
        match crate::writes::grubenv::apply_to_file(&path, &w.changes) {
            Ok(true) => out.say(format!(
                "grubenv {} written ({} change(s))",
                path.display(),
                w.changes.len()
            )),
            Ok(false) => {}
            Err(e) => out.problem(format!(
                "grubenv {}: not written: {e}; booting anyway",
                path.display()
            )),
        }
    }
    if plan.consume_oneshot {
        match efivars::remove(sys, "LoaderEntryOneShot", efivars::LOADER_GUID) {
            Ok(()) => out.say("LoaderEntryOneShot removed"),
            Err(e) => out.problem(format!(
                "LoaderEntryOneShot: not removed: {e}; booting anyway"
            )),
        }
    }
    if let Some((old, new)) = leapboot_menus::bls::counter::rename_for_boot(&plan.entry)
        && let Some(v) = volume_of(found, &plan.entry)
    {
        match crate::writes::counting::rename_mounted(&v.host_path(&old), &v.host_path(&new)) {
            Ok(()) => out.say(format!(
                "boot counting: renamed {old} to {new} on {}",
                v.describe()
            )),
            Err(e) => out.problem(format!(
                "boot counting: cannot rename {old} to {new}: {e}; booting anyway"
            )),
        }
    }
}

/// Why the unit should not load this time; `None` to go ahead.
fn unit_skip_reason(sys: &SystemRoot, defaults: &kexec_default::KexecDefaults) -> Option<String> {
    if !defaults.load_allowed() {
        return Some(format!("LOAD_KEXEC=false in {}", kexec_default::PATH));
    }
    if state::firmware_marker(sys) {
        return Some(format!(
            "a firmware reboot was asked for ({})",
            state::FIRMWARE_MARKER
        ));
    }
    let fw_ui = efivars::read(sys, "OsIndications", efivars::GLOBAL_GUID)
        .ok()
        .flatten()
        .and_then(|v| efivars::number(&v.data, 8).ok())
        .is_some_and(|n| n & efivars::BOOT_TO_FW_UI != 0);
    if fw_ui {
        return Some(
            "the firmware's setup was asked for (systemctl reboot --firmware-setup)".into(),
        );
    }
    if let Some(arg) = read_trim(sys, "/run/systemd/reboot-param") {
        return Some(format!(
            "a reboot argument was given ('{arg}'), which only the firmware reads"
        ));
    }
    if efivars::exists(sys, "LoaderConfigTimeoutOneShot", efivars::LOADER_GUID) {
        return Some(
            "the boot loader's menu was asked for (systemctl reboot --boot-loader-menu)".into(),
        );
    }
    None
}

/// Whether systemd is rebooting now (a start job for `reboot.target`); `None` when
/// systemctl cannot say.
fn reboot_underway() -> Option<bool> {
    let o = std::process::Command::new("systemctl")
        .args(["list-jobs", "--no-legend", "--plain"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout);
    Some(text.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1) == Some(&"reboot.target") && f.get(2) == Some(&"start")
    }))
}

/// After a failure in `reboot`: nothing stays loaded, and what happens instead.
fn failed(sys: &SystemRoot, mode: Mode, fallback: bool, out: &Out) -> u8 {
    if mode == Mode::OnReboot {
        out.problem("nothing was loaded: this reboot goes through firmware");
        return EXIT_PROBLEMS;
    }
    if mode == Mode::Load {
        out.problem("nothing was loaded");
        return EXIT_PROBLEMS;
    }
    if !fallback {
        out.problem("nothing was loaded and the system stays up (leapboot reboot --fallback reboots through firmware instead when this happens)");
        return EXIT_PROBLEMS;
    }
    if !sys.is_real() {
        out.problem("--fallback: would reboot through firmware now (systemctl reboot); not with --system-root");
        return EXIT_PROBLEMS;
    }
    out.problem(
        "--fallback: rebooting through firmware and the boot loader instead (systemctl reboot)",
    );
    if let Err(e) = handover::firmware_reboot(sys) {
        out.problem(format!("--fallback: {e}"));
    }
    EXIT_PROBLEMS
}

/// Unloads after a failed load: "a failed load leaves nothing loaded" (a failed
/// `kexec_file_load` keeps an image loaded before it).
fn unload_after_failure(sys: &SystemRoot) {
    if sys.is_real() {
        crate::sys::kexec::unload();
    }
    state::clear_loaded(sys);
}

/// `reboot` and `load`.
fn run(sel: &Select, mode: Mode, dry_run: bool, now: bool, fallback: bool) -> u8 {
    let sys = SystemRoot::from_option(sel.system_root.as_deref());
    crate::log::set_stderr(sel.verbose);
    let out = Out { quiet: sel.quiet };
    let dry_run = dry_run || !sys.is_real();
    let defaults = match std::fs::read_to_string(sys.path(kexec_default::PATH)) {
        Ok(t) => {
            let d = kexec_default::parse(&t);
            for p in &d.problems {
                out.problem(format!("warning: {p}"));
            }
            Some(d)
        }
        Err(_) => None,
    };
    let defaults = defaults.unwrap_or_default();
    if mode == Mode::OnReboot {
        if let Some(why) = unit_skip_reason(&sys, &defaults) {
            out.say(format!(
                "not loading: {why}; this reboot goes through firmware"
            ));
            return 0;
        }
        if sys.is_real() && reboot_underway() == Some(false) {
            out.say("not loading: no reboot is under way (a poweroff, halt or kexec)");
            return 0;
        }
    } else if !defaults.load_allowed() {
        out.say(format!(
            "{} says LOAD_KEXEC=false: that stops the unit, not a load asked for by hand",
            kexec_default::PATH
        ));
    }
    let p = probe(&sys);
    if mode == Mode::OnReboot && p.kexec_loaded == Some(true) && !p.loaded_by_leapboot {
        out.say("not loading: an image loaded by another tool is kept; this reboot boots it");
        return 0;
    }
    let Some(found) = mounts::running_system(&sys) else {
        out.problem(format!(
            "cannot read {}: the boot volumes are found through the mount table",
            sys.path("/proc/self/mountinfo").display()
        ));
        return EXIT_UNREADABLE;
    };
    for w in &found.warnings {
        out.problem(format!("warning: {w}"));
    }
    out.say(format!("boot volumes: {}", found.describe()));
    let efi = sys.path("/sys/firmware/efi").is_dir();
    let (scans, menu) = scan(&found, efi);
    let plan = match decide(&sys, sel, &found, &scans, &menu, &defaults, &out) {
        Ok(p) => p,
        Err(code) if code == EXIT_UNREADABLE => return code,
        Err(_) => return failed(&sys, mode, fallback && !dry_run, &out),
    };
    out.say(format!(
        "next entry: '{}' \"{}\": {}",
        plan.entry.id, plan.entry.title, plan.why
    ));
    let uses = consumption(&plan);
    if uses.is_empty() {
        out.say("consumed before the jump: nothing (no one-shot set, no boot counter)");
    }
    for u in &uses {
        if mode == Mode::Load {
            out.say(format!(
                "not consumed by a load by hand (leapboot reboot and the unit consume it): {u}"
            ));
        } else {
            out.say(format!("consumed after the load, before the jump: {u}"));
        }
    }
    let method = if now {
        handover::Method::Now
    } else {
        handover::Method::Systemd
    };
    match mode {
        Mode::Reboot => out.say(format!("then: {}", method.describe())),
        Mode::Load => out.say("then: nothing; the next kexec reboot (systemctl kexec) boots it"),
        Mode::OnReboot => {
            out.say("then: this reboot ends in a kexec (systemd-reboot.service's leapboot drop-in)")
        }
    }
    let mut all = traps::before_load(&p, mode != Mode::OnReboot);
    if mode == Mode::Reboot && !now {
        all.extend(traps::before_handover(&p));
    }
    let h = match handoff::prepare(&plan.entry, &found.volumes, &plan.settings, &plan.opts) {
        Ok(h) => h,
        Err(e) => {
            out.problem(format!("{e}"));
            for t in &all {
                out.problem(t.line());
            }
            return failed(&sys, mode, fallback && !dry_run, &out);
        }
    };
    for l in &h.summary {
        if !sel.quiet {
            crate::outln!("leapboot: kexec: handoff: {l}");
        }
    }
    // Lockdown as this system reports it (the probe reads it under the system root).
    let lockdown = p.lockdown.as_deref().or(h.situation.lockdown.as_deref());
    if let Some(t) = traps::signature(lockdown, h.situation.kernel_signed, &plan.entry.kernel) {
        all.push(t);
    }
    let stops: Vec<&Trap> = all.iter().filter(|t| t.level == Level::Stop).collect();
    for t in &all {
        if t.level == Level::Stop && !dry_run {
            out.problem(t.line());
        } else {
            out.say(t.line());
        }
    }
    if dry_run {
        if !stops.is_empty() {
            out.say(format!(
                "a real run would stop here: {} trap(s) above",
                stops.len()
            ));
        }
        out.say(if sys.is_real() {
            "dry run: nothing was loaded or changed"
        } else {
            "--system-root is a testing aid: nothing was loaded, changed or rebooted"
        });
        return 0;
    }
    if !stops.is_empty() {
        out.problem("not loading: a trap above stops it");
        return failed(&sys, mode, fallback, &out);
    }
    load_and_hand_over(&sys, &found, plan, h, mode, method, fallback, &out)
}

/// The load, the trail, the one-shots, the handover.
#[allow(clippy::too_many_arguments)]
fn load_and_hand_over(
    sys: &SystemRoot,
    found: &mounts::Found,
    plan: Plan,
    mut h: Handoff,
    mode: Mode,
    method: handover::Method,
    fallback: bool,
    out: &Out,
) -> u8 {
    if let Err(e) = handoff::execute::load_reported(&mut h) {
        unload_after_failure(sys);
        for l in h.report.lines.iter().skip(h.summary.len()) {
            out.problem(format!("kexec: handoff: {l}"));
        }
        out.problem(format!("{e}"));
        return failed(sys, mode, fallback, out);
    }
    if let Some(l) = h.report.lines.last() {
        out.say(l);
    }
    let boot = state::boot_id(sys);
    let time = state::now();
    let mut lines = vec![format!(
        "{}: '{}' \"{}\" loaded; {}",
        mode.by(),
        plan.entry.id,
        plan.entry.title,
        plan.why
    )];
    lines.extend(h.report.lines.iter().cloned());
    let header = state::ReportHeader {
        entry: plan.entry.id.clone(),
        time,
        boot_id: boot.clone(),
    };
    let report = match state::persist_report(sys, &header, &lines) {
        Ok(p) => {
            out.say(format!("report written to {}", p.display()));
            Some(p.display().to_string())
        }
        Err(e) => {
            out.problem(format!(
                "warning: cannot write the report under {}: {e}",
                state::LOG_DIR
            ));
            None
        }
    };
    let logged = state::journal(&lines);
    out.say(format!("report sent to the {logged}"));
    let device = volume_of(found, &plan.entry)
        .map_or(plan.entry.volume.device.clone(), |m| m.device.clone());
    let loaded = state::Loaded {
        entry: plan.entry.id.clone(),
        title: plan.entry.title.clone(),
        kernel: format!("{device}:{}", plan.entry.kernel),
        cmdline: h.cmdline.clone(),
        loaded_at: time,
        boot_id: boot,
        by: format!(
            "{} (uid {}, pid {})",
            mode.by(),
            current_uid(sys),
            std::process::id()
        ),
        report,
    };
    if let Err(e) = state::write_loaded(sys, &loaded) {
        out.problem(format!("warning: cannot write {}: {e}", state::LOADED_FILE));
    }
    if mode == Mode::Load {
        out.say(format!(
            "loaded '{}'; systemctl kexec boots it (leapboot unload removes it)",
            plan.entry.id
        ));
        return 0;
    }
    consume(sys, found, &plan, out);
    if mode == Mode::OnReboot {
        out.say(format!("loaded '{}' for this reboot", plan.entry.id));
        return 0;
    }
    match method {
        handover::Method::Now => {
            out.say("jumping now (--now)");
            let why = handover::now();
            unload_after_failure(sys);
            out.problem(format!("the jump failed: {why}"));
            failed(sys, mode, fallback, out)
        }
        handover::Method::Systemd if handover::systemd_is_pid1(sys) => {
            match handover::systemd_kexec() {
                Ok(()) => {
                    out.say("handed over to systemd: systemctl kexec");
                    0
                }
                Err(e) => {
                    unload_after_failure(sys);
                    out.problem(format!("the handover failed: {e}"));
                    failed(sys, mode, fallback, out)
                }
            }
        }
        handover::Method::Systemd => {
            out.problem(format!(
                "'{}' is loaded, but systemd is not PID 1, so leapboot cannot ask for a clean kexec reboot: use your init system's kexec reboot, or leapboot reboot --now to jump without stopping services",
                plan.entry.id
            ));
            EXIT_PROBLEMS
        }
    }
}

/// The effective uid, for the state file.
fn current_uid(sys: &SystemRoot) -> String {
    std::fs::read_to_string(sys.path("/proc/self/status"))
        .ok()
        .and_then(|s| traps::parse_status(&s).0)
        .map_or("?".into(), |u| u.to_string())
}

/// `leapboot reboot`.
pub fn reboot(a: &RebootArgs) -> u8 {
    if a.firmware {
        return firmware(a);
    }
    run(&a.select, Mode::Reboot, a.dry_run, a.now, a.fallback)
}

/// `leapboot reboot --firmware`: one reboot through firmware and the boot loader.
fn firmware(a: &RebootArgs) -> u8 {
    let sys = SystemRoot::from_option(a.select.system_root.as_deref());
    let out = Out {
        quiet: a.select.quiet,
    };
    if !sys.is_real() {
        out.say("--firmware: would unload, set the firmware-reboot marker and run systemctl reboot; not with --system-root");
        return 0;
    }
    if read_flag(&sys, "/sys/kernel/kexec_loaded") == Some(true)
        && let Err(errno) = crate::sys::kexec::unload_checked()
    {
        out.problem(format!(
            "cannot unload the loaded image: {}; run as root",
            std::io::Error::from_raw_os_error(errno)
        ));
        return EXIT_PROBLEMS;
    }
    state::clear_loaded(&sys);
    out.say("rebooting once through firmware and the boot loader (leapboot's unit loads nothing this time)");
    match handover::firmware_reboot(&sys) {
        Ok(()) => 0,
        Err(e) => {
            out.problem(e);
            EXIT_PROBLEMS
        }
    }
}

/// `leapboot load`.
pub fn load(a: &LoadArgs) -> u8 {
    let mode = if a.on_reboot {
        Mode::OnReboot
    } else {
        Mode::Load
    };
    run(&a.select, mode, a.dry_run, false, false)
}

/// `leapboot unload`.
pub fn unload(a: &UnloadArgs) -> u8 {
    let sys = SystemRoot::from_option(a.system_root.as_deref());
    let out = Out { quiet: a.quiet };
    let loaded = read_flag(&sys, "/sys/kernel/kexec_loaded");
    let ours = state::read_loaded(&sys);
    let what = match &ours {
        Some(l) => format!(
            "'{}' (loaded by {} at {})",
            l.entry,
            l.by,
            state::rfc3339(l.loaded_at)
        ),
        None => "an image loaded by another tool".into(),
    };
    if loaded == Some(false) {
        state::clear_loaded(&sys);
        out.say("nothing is loaded");
        return 0;
    }
    if !sys.is_real() {
        out.say(format!("would unload {what}; not with --system-root"));
        return 0;
    }
    match crate::sys::kexec::unload_checked() {
        Err(libc::ENOSYS) => {
            out.say("nothing to unload: this kernel has no kexec_file_load (CONFIG_KEXEC_FILE)");
            0
        }
        Ok(()) => {
            state::clear_loaded(&sys);
            out.say(format!("unloaded {what}"));
            0
        }
        Err(errno) => {
            out.problem(format!(
                "cannot unload {what}: {}{}",
                std::io::Error::from_raw_os_error(errno),
                if errno == libc::EPERM {
                    "; run as root"
                } else {
                    ""
                }
            ));
            EXIT_PROBLEMS
        }
    }
}

/// `leapboot status`.
pub fn status(a: &StatusArgs) -> u8 {
    let sys = SystemRoot::from_option(a.system_root.as_deref());
    let inputs = state::StatusInputs {
        kexec_loaded: read_flag(&sys, "/sys/kernel/kexec_loaded"),
        loaded: state::read_loaded(&sys),
        boot_id: state::boot_id(&sys),
        cmdline: read_trim(&sys, "/proc/cmdline").unwrap_or_default(),
        last_report: state::last_report(&sys).map(|(h, p)| (h, p.display().to_string())),
        boot_time: state::boot_time(&sys),
        firmware_marker: state::firmware_marker(&sys),
    };
    for l in state::status_lines(&inputs) {
        crate::outln!("{l}");
    }
    0
}
