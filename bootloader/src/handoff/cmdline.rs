//! The command line the new kernel gets, as pure functions of the entry, the settings
//! and the menu's choices ([`handoff_cmdline`]):
//! - for a Boot Loader Specification Type #1 entry, `initrd=\path` for each initrd in
//!   front ([`initrd_params`]), as systemd-boot passes them; a GRUB entry has GRUB's
//!   `BOOT_IMAGE=<kernel>` in front, already in its own command line;
//! - the entry's options and the `append` setting ([`final_cmdline`], what the menu's
//!   editor starts from), or the menu's edit;
//! - then `leapboot.entry=<id>` ([`entry_param`]; unless the `entry_param` setting is
//!   off), added at the handoff as GRUB's `linux` command adds `BOOT_IMAGE=`;
//! - for a debug boot, what makes its early boot visible on leapboot's consoles
//!   ([`debug_params`]): `earlycon` for the serial port, `console=` when the entry names
//!   none, `ignore_loglevel`, `keep_bootcon` when the early console's UART gets no real
//!   console, `printk.devkmsg=on`.
//!
//! The consoles a debug boot names are a [`ConsoleEnv`]; reading it from the running
//! system is [`super::consoles`]' job.

use super::BootOptions;
use crate::settings::{Settings, split_cmdline};
use leapboot_menus::{Entry, EntryKind};

/// `leapboot.entry=<id>`, quoted when the id holds blanks (GRUB title paths); `"` is
/// dropped from the id, since the kernel's parser has no escape for it.
pub fn entry_param(id: &str) -> String {
    let clean: String = id.chars().filter(|&c| c != '"').collect();
    if clean.chars().any(char::is_whitespace) {
        format!("leapboot.entry=\"{clean}\"")
    } else {
        format!("leapboot.entry={clean}")
    }
}

fn push_param(c: &mut String, p: &str) {
    if p.is_empty() {
        return;
    }
    if !c.is_empty() {
        c.push(' ');
    }
    c.push_str(p);
}

/// The entry's command line, then the `append` setting: what the menu's editor starts
/// from. [`handoff_cmdline`] adds what leapboot itself passes.
pub fn final_cmdline(entry: &Entry, settings: &Settings) -> String {
    let mut c = entry.cmdline.trim().to_string();
    if let Some(a) = settings.append.as_deref() {
        push_param(&mut c, a.trim());
    }
    c
}

/// True when a debug boot was asked for, in the menu or by the `debug` setting.
pub fn is_debug(settings: &Settings, opts: &BootOptions) -> bool {
    opts.debug || settings.debug
}

/// The command line handed over: [`initrd_params`], the menu's edit or
/// [`final_cmdline`], then `leapboot.entry=<id>` (when the `entry_param` setting is on
/// and the line does not set it already), then [`debug_params`] for a debug boot.
pub fn handoff_cmdline(
    entry: &Entry,
    settings: &Settings,
    opts: &BootOptions,
    consoles: &ConsoleEnv,
) -> String {
    let mut c = base_cmdline(entry, settings, opts);
    if is_debug(settings, opts) {
        for p in debug_params(&c, consoles) {
            push_param(&mut c, &p);
        }
    }
    c
}

/// [`handoff_cmdline`] without the debug parameters.
pub(crate) fn base_cmdline(entry: &Entry, settings: &Settings, opts: &BootOptions) -> String {
    let mut c = initrd_params(entry).join(" ");
    let line = opts
        .cmdline_override
        .clone()
        .unwrap_or_else(|| final_cmdline(entry, settings));
    push_param(&mut c, line.trim());
    if settings.entry_param && !has_param(&c, "leapboot.entry") {
        push_param(&mut c, &entry_param(&entry.id));
    }
    c
}

/// `initrd=\path` for each initrd of a Boot Loader Specification Type #1 entry that
/// loads a kernel (`linux`), in load order: what systemd-boot puts in front of the
/// entry's options (`initrd_prepare` in systemd's `src/boot/boot.c`; the path as
/// `xstr8_to_path` makes it, `/` turned into `\` and repeated separators folded), so
/// the booted system's `/proc/cmdline` reads as it would under systemd-boot. The
/// kernel leapboot starts with kexec ignores them (only the EFI stub reads
/// `initrd=`; `early_initrd` wants `<address>,<size>`). Nothing for GRUB entries
/// (GRUB passes `BOOT_IMAGE=`) or unified kernel images, Type #2 or a Type #1 `uki`
/// entry: systemd-stub hands over the embedded `.initrd` without naming it. The path
/// is the one leapboot read, within the entry's volume (under `/boot` for the Fedora
/// layout, where systemd-boot would not look).
pub fn initrd_params(entry: &Entry) -> Vec<String> {
    if entry.kind != EntryKind::Bls || entry.uki.is_some() {
        return Vec::new();
    }
    entry
        .initrds
        .iter()
        .map(|p| {
            let mut out = String::from("initrd=");
            for c in p.chars() {
                let c = if c == '/' { '\\' } else { c };
                if !(c == '\\' && out.ends_with('\\')) {
                    out.push(c);
                }
            }
            out
        })
        .collect()
}

/// A serial port's registers, from `/sys/class/tty/ttySN/{port,iomem_base,io_type}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uart {
    /// earlycon access method: `io`, `mmio`, `mmio16`, `mmio32`, `mmio32be`.
    pub access: &'static str,
    /// I/O port or MMIO address.
    pub addr: u64,
}

/// A console leapboot writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUse {
    /// `ttyS0`, `tty0`, `hvc0`.
    pub name: String,
    /// Options as in `console=ttyS0,115200n8` (from the firmware command line, else the
    /// port's current speed).
    pub options: Option<String>,
    /// For a 8250-style serial port: where its registers are.
    pub uart: Option<Uart>,
}

/// The consoles a debug boot makes visible, and any early console the firmware kernel
/// itself was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleEnv {
    /// leapboot's consoles, in the firmware command line's `console=` order.
    pub consoles: Vec<ConsoleUse>,
    /// `earlycon=...` or `earlyprintk=...` from the firmware command line.
    pub firmware_early: Option<String>,
}

impl ConsoleEnv {
    /// Fills in options and order from a firmware command line (pure; see [`probe`](ConsoleEnv::probe)).
    pub fn from_cmdline(firmware_cmdline: &str, mut consoles: Vec<ConsoleUse>) -> ConsoleEnv {
        let params = split_cmdline(firmware_cmdline);
        let named: Vec<(String, Option<String>)> = params
            .iter()
            .filter_map(|p| p.strip_prefix("console="))
            .map(|v| match v.split_once(',') {
                Some((n, o)) => (n.to_string(), Some(o.to_string())),
                None => (v.to_string(), None),
            })
            .collect();
        for c in &mut consoles {
            if let Some((_, o)) = named.iter().rev().find(|(n, _)| *n == c.name) {
                c.options.clone_from(o);
            }
        }
        // Keep the firmware's console= order: the last one becomes /dev/console.
        consoles.sort_by_key(|c| named.iter().rposition(|(n, _)| *n == c.name));
        let firmware_early = params
            .iter()
            .rev()
            .find(|p| p.starts_with("earlycon=") || p.starts_with("earlyprintk="))
            .cloned();
        ConsoleEnv {
            consoles,
            firmware_early,
        }
    }
}

fn has_param(cmdline: &str, key: &str) -> bool {
    split_cmdline(cmdline)
        .iter()
        .any(|p| p.split_once('=').map_or(p.as_str(), |(k, _)| k) == key)
}

/// What a debug boot adds to `cmdline` so the new kernel's early boot shows on
/// leapboot's consoles; each only when `cmdline` does not already set it, in this
/// order (early parameters take effect in command-line order, and the early console
/// replays what was logged before it only at the log level in force then):
/// - `ignore_loglevel`: every message, whatever `loglevel=`/`quiet` say;
/// - `earlycon=uart8250,<io|mmio..>,<addr>,<options>` for the first serial console whose
///   registers are known (or the firmware kernel's own `earlycon=`/`earlyprintk=`, or
///   `earlyprintk=serial,ttySN,<speed>` for ttyS0/ttyS1), so messages appear before the
///   console driver starts;
/// - `console=` for each of leapboot's consoles, when the entry names no console;
/// - `keep_bootcon` (the early console keeps printing after the real one starts), only
///   when the early console's UART gets no `console=` of its own, or which UART it
///   drives is not known. On the same UART both would print every line; without it
///   the kernel hands over (printk's `register_console`: when the preferred console
///   registers, boot consoles are unregistered, and it does not replay what they
///   printed), so the early lines are kept and none is doubled;
/// - `printk.devkmsg=on` (user-space `/dev/kmsg` writes are not rate-limited away).
pub fn debug_params(cmdline: &str, env: &ConsoleEnv) -> Vec<String> {
    let mut out = Vec::new();
    if !has_param(cmdline, "ignore_loglevel") {
        out.push("ignore_loglevel".to_string());
    }
    let serial = env.consoles.iter().find(|c| c.name.starts_with("ttyS"));
    if !has_param(cmdline, "earlycon") && !has_param(cmdline, "earlyprintk") {
        let opts = |c: &ConsoleUse| c.options.clone().unwrap_or_else(|| "115200".into());
        if let Some(e) = &env.firmware_early {
            out.push(e.clone());
        } else if let Some(c) = serial {
            match &c.uart {
                Some(u) => out.push(format!(
                    "earlycon=uart8250,{},{:#x},{}",
                    u.access,
                    u.addr,
                    opts(c)
                )),
                None if c.name == "ttyS0" || c.name == "ttyS1" => {
                    let speed: String = opts(c).chars().take_while(char::is_ascii_digit).collect();
                    out.push(format!("earlyprintk=serial,{},{speed}", c.name));
                }
                None => {}
            }
        }
    }
    if !has_param(cmdline, "console") {
        for c in &env.consoles {
            match &c.options {
                Some(o) => out.push(format!("console={},{o}", c.name)),
                None => out.push(format!("console={}", c.name)),
            }
        }
    }
    if !has_param(cmdline, "keep_bootcon") && needs_keep_bootcon(cmdline, &out, env) {
        out.push("keep_bootcon".to_string());
    }
    if !has_param(cmdline, "printk.devkmsg") {
        out.push("printk.devkmsg=on".to_string());
    }
    out
}

/// True when the early console (the entry's own, or the one [`debug_params`] adds in
/// `added`) would go silent at the handover: its UART is unknown, or no `console=`
/// names it.
fn needs_keep_bootcon(cmdline: &str, added: &[String], env: &ConsoleEnv) -> bool {
    let mut params = split_cmdline(cmdline);
    params.extend(added.iter().cloned());
    let Some(early) = params
        .iter()
        .rev()
        .find(|p| p.starts_with("earlycon") || p.starts_with("earlyprintk"))
    else {
        // No early console: nothing to keep.
        return false;
    };
    let Some(tty) = early_tty(early, env) else {
        return true;
    };
    !params.iter().any(|p| {
        p.strip_prefix("console=")
            .is_some_and(|v| v.split(',').next() == Some(tty.as_str()))
    })
}

/// The serial tty an early console parameter drives, when it can be told:
/// `earlyprintk=serial,ttyS1,...` names it (`serial` alone is ttyS0); an
/// `earlycon=uart8250,<access>,<addr>` (or `uart,...`) is the console whose registers
/// are at that address, or one of the four PC ports.
fn early_tty(param: &str, env: &ConsoleEnv) -> Option<String> {
    if let Some(v) = param.strip_prefix("earlyprintk=") {
        let fields: Vec<&str> = v.split(',').collect();
        if let Some(t) = fields.iter().find(|f| f.starts_with("ttyS")) {
            return Some((*t).to_string());
        }
        return (fields.first() == Some(&"serial")).then(|| "ttyS0".to_string());
    }
    let v = param.strip_prefix("earlycon=")?;
    let mut fields = v.split(',');
    if !matches!(fields.next(), Some("uart8250" | "uart")) {
        return None;
    }
    let access = fields.next()?;
    let addr = fields.next()?;
    let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).ok()?;
    if let Some(c) = env.consoles.iter().find(|c| {
        c.uart
            .as_ref()
            .is_some_and(|u| u.access == access && u.addr == addr)
    }) {
        return Some(c.name.clone());
    }
    let legacy = match (access, addr) {
        ("io", 0x3f8) => "ttyS0",
        ("io", 0x2f8) => "ttyS1",
        ("io", 0x3e8) => "ttyS2",
        ("io", 0x2e8) => "ttyS3",
        _ => return None,
    };
    Some(legacy.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_param_quotes_blanks() {
        assert_eq!(entry_param("debian-6.1"), "leapboot.entry=debian-6.1");
        assert_eq!(
            entry_param("Advanced options>Debian \"x\""),
            "leapboot.entry=\"Advanced options>Debian x\""
        );
    }

    fn entry(kind: EntryKind, initrds: &[&str], cmdline: &str) -> Entry {
        Entry {
            id: "e".into(),
            title: "E".into(),
            version: None,
            kind,
            volume: leapboot_menus::VolumeRef {
                uuid: None,
                label: None,
                device: "vda1".into(),
            },
            kernel: "/vmlinuz".into(),
            initrds: initrds.iter().map(|s| s.to_string()).collect(),
            cmdline: cmdline.into(),
            devicetree: None,
            source: leapboot_menus::Source {
                file: "/loader/entries/e.conf".into(),
                line: 1,
            },
            path: None,
            problem: None,
            bls: None,
            uki: None,
        }
    }

    /// systemd-boot puts `initrd=\path` for each initrd of a Type #1 entry in front of
    /// its options (`initrd_prepare`, systemd `src/boot/boot.c`); leapboot passes the
    /// same line, so `/proc/cmdline` reads as it would under systemd-boot.
    #[test]
    fn bls_entries_get_initrd_params_like_systemd_boot() {
        let settings = Settings {
            entry_param: false,
            ..Settings::default()
        };
        let opts = BootOptions::default();
        let bls = entry(
            EntryKind::Bls,
            &["/intel-ucode.img", "/6a98/6.8.5/initrd"],
            "root=/dev/vda2 ro",
        );
        assert_eq!(
            base_cmdline(&bls, &settings, &opts),
            r"initrd=\intel-ucode.img initrd=\6a98\6.8.5\initrd root=/dev/vda2 ro"
        );
        // With no options, and with the menu's edit (which starts without them).
        assert_eq!(
            base_cmdline(&entry(EntryKind::Bls, &["/i"], ""), &settings, &opts),
            r"initrd=\i"
        );
        let edited = BootOptions {
            cmdline_override: Some("single".into()),
            ..BootOptions::default()
        };
        assert_eq!(base_cmdline(&bls, &settings, &edited).split(' ').count(), 3);
        // No initrd, no parameter; GRUB passes BOOT_IMAGE= instead (in its command line).
        assert_eq!(
            base_cmdline(&entry(EntryKind::Bls, &[], "ro"), &settings, &opts),
            "ro"
        );
        let grub = entry(EntryKind::Grub, &["/initrd.img"], "BOOT_IMAGE=/vmlinuz ro");
        assert_eq!(
            base_cmdline(&grub, &settings, &opts),
            "BOOT_IMAGE=/vmlinuz ro"
        );
        // A unified kernel image: systemd-stub passes its .initrd without naming it.
        let mut uki = entry(EntryKind::Uki, &[], "ro");
        uki.uki = Some(leapboot_menus::UkiSections::default());
        assert_eq!(base_cmdline(&uki, &settings, &opts), "ro");
        let mut type1_uki = entry(EntryKind::Bls, &[], "ro");
        type1_uki.uki = Some(leapboot_menus::UkiSections::default());
        assert_eq!(base_cmdline(&type1_uki, &settings, &opts), "ro");
    }

    fn serial_env() -> ConsoleEnv {
        ConsoleEnv::from_cmdline(
            "console=tty0 console=ttyS0,115200n8 quiet",
            vec![
                ConsoleUse {
                    name: "ttyS0".into(),
                    options: None,
                    uart: Some(Uart {
                        access: "io",
                        addr: 0x3f8,
                    }),
                },
                ConsoleUse {
                    name: "tty0".into(),
                    options: None,
                    uart: None,
                },
            ],
        )
    }

    #[test]
    fn debug_params_for_serial() {
        let env = serial_env();
        assert_eq!(env.consoles[0].name, "tty0");
        assert_eq!(env.consoles[1].options.as_deref(), Some("115200n8"));
        assert_eq!(
            debug_params("root=/dev/sda1 quiet", &env),
            [
                "ignore_loglevel",
                "earlycon=uart8250,io,0x3f8,115200n8",
                "console=tty0",
                "console=ttyS0,115200n8",
                "printk.devkmsg=on"
            ]
        );
        // What the entry sets already is not added again.
        assert_eq!(
            debug_params(
                "console=ttyS1 earlyprintk=vga keep_bootcon printk.devkmsg=ratelimit",
                &env
            ),
            ["ignore_loglevel"]
        );
    }

    /// `keep_bootcon` only when the early console's UART gets no real console: with
    /// both on one UART every line would print twice (issue 14); without it the kernel
    /// hands over from the boot console to the real one on that UART (printk's
    /// `register_console`), and no line is lost or doubled.
    #[test]
    fn keep_bootcon_only_when_the_early_uart_gets_no_real_console() {
        let env = serial_env();
        let has = |cmdline: &str| {
            debug_params(cmdline, &env)
                .iter()
                .any(|p| p == "keep_bootcon")
        };
        // leapboot adds console=ttyS0: the same UART as earlycon.
        assert!(!has("root=/dev/vda2"));
        // The entry's own console on the early console's UART.
        assert!(!has("console=ttyS0,115200 root=/dev/vda2"));
        assert!(!has("console=tty0 console=ttyS0 root=/dev/vda2"));
        // The entry's console elsewhere: the serial line keeps its early console.
        assert!(has("console=tty0 root=/dev/vda2"));
        assert!(has("console=ttyS1,9600"));
        // An early console on another port than the real one.
        assert!(has("earlyprintk=serial,ttyS1,115200 console=ttyS0"));
        // The entry's own earlycon on the real console's UART (by address).
        assert!(!has("earlycon=uart8250,io,0x3f8,115200 console=ttyS0"));
        // An early console whose UART is not known to leapboot: keep it, as before.
        assert!(has("earlycon=uart8250,mmio32,0xfe215040 console=ttyS0"));
    }

    #[test]
    fn debug_params_reuse_firmware_early_console_and_fall_back_to_earlyprintk() {
        let env = ConsoleEnv::from_cmdline(
            "console=ttyS0 earlycon=uart8250,mmio32,0xfe215040,115200",
            vec![ConsoleUse {
                name: "ttyS0".into(),
                options: Some("9600".into()),
                uart: None,
            }],
        );
        assert_eq!(
            debug_params("", &env)[1],
            "earlycon=uart8250,mmio32,0xfe215040,115200"
        );
        let env = ConsoleEnv {
            consoles: vec![ConsoleUse {
                name: "ttyS1".into(),
                options: Some("57600n8".into()),
                uart: None,
            }],
            firmware_early: None,
        };
        assert_eq!(debug_params("", &env)[1], "earlyprintk=serial,ttyS1,57600");
    }
}
