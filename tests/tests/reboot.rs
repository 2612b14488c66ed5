//! End to end on a real distribution: `leapboot reboot` on an installed Debian 12 with
//! systemd, booted the normal way (firmware, then the boot loader Debian's tools
//! installed, then Debian's kernel and initramfs). The images are built once by
//! Debian's tools and cached (`leapboot_qemu::distro`: BIOS + GRUB, UEFI (OVMF) +
//! systemd-boot; a few minutes each the first time); each test boots a `-snapshot` of
//! one with a small second disk holding this build's static leapboot, installs that as
//! `/usr/bin/leapboot` (where the Debian package puts it), and drives the guest
//! through its test driver on ttyS0 (`LEAPBOOT-GUEST-UP ...` after
//! `multi-user.target`, `LEAPBOOT-GUEST-DOWN verb=...` at the end of each shutdown).
//!
//! - `grub_reboot_one_shot_is_booted_by_kexec` (BIOS): `grub-reboot` picks the older
//!   kernel in the "Advanced options" submenu; `leapboot reboot --dry-run` plans it and
//!   loads nothing; `leapboot reboot` ends the shutdown with a kexec and comes back
//!   without SeaBIOS or GRUB on the serial line, into that kernel (`uname -r`,
//!   `/proc/cmdline` with `leapboot.entry=`), with `next_entry` consumed, and
//!   `leapboot status` says the boot came by kexec.
//! - `bootctl_oneshot_is_booted_by_kexec` (UEFI): the same with `bootctl set-oneshot`;
//!   no OVMF or systemd-boot after the jump, `LoaderEntryOneShot` removed.
//! - `truncated_kernel_fails_and_the_system_stays_up` (BIOS): the default entry's
//!   kernel cut short: exit status 1 with a message naming it, nothing loaded, no
//!   reboot.
//! - `opt_in_unit_turns_systemctl_reboot_into_kexec` (BIOS): with
//!   `packaging/systemd/leapboot-kexec.service` and its `systemd-reboot.service` drop-in
//!   installed and enabled as the README says, a plain `systemctl reboot` after
//!   `grub-reboot` is a kexec into GRUB's next entry; uninstalled again, the next one
//!   goes through firmware and GRUB.
//!
//! `bench_reboot` (ignored; `scripts/bench`) times reboot command to guest-up marker,
//! `leapboot reboot` against `systemctl reboot` through SeaBIOS + GRUB and through
//! OVMF + systemd-boot.
//!
//! Serial logs: `target/e2e/reboot-<case>/serial.log`. Under TCG a boot of an image
//! takes 30 to 50 s; `LEAPBOOT_QEMU_TIMEOUT` scales every wait.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::leapboot_bin;
use leapboot_qemu::distro::{self, BootKind, DistroImage, Guest, GuestUp, RunOutput, boot_timeout};
use leapboot_qemu::{default_timeout, qemu_or_skip};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the guest gets leapboot.
const GUEST_BIN: &str = "/usr/bin/leapboot";
/// The opt-in unit and its drop-in for `systemd-reboot.service`, in the workspace.
const UNIT: &str = "packaging/systemd/leapboot-kexec.service";
const DROP_IN: &str = "packaging/systemd/systemd-reboot.service.d/leapboot-kexec.conf";
/// What the serial line shows of SeaBIOS and of GRUB.
const BIOS_BANNERS: &[&str] = &["SeaBIOS", "GNU GRUB"];
/// What the serial line shows of OVMF (its boot manager's lines) and of systemd-boot
/// (its menu, of which the automatic firmware-setup entry is the one line no other
/// program here prints).
const UEFI_BANNERS: &[&str] = &["BdsDxe", "Reboot Into Firmware Interface"];

/// What the serial line shows of an image's firmware and boot loader.
fn firmware_banners(boot: BootKind) -> &'static [&'static str] {
    match boot {
        BootKind::Bios => BIOS_BANNERS,
        BootKind::Uefi => UEFI_BANNERS,
    }
}

/// A booted image with leapboot installed.
struct Case {
    name: String,
    image: DistroImage,
    guest: Guest,
    /// [`firmware_banners`] of the image.
    firmware: &'static [&'static str],
}

impl Case {
    /// [`Case::boot_image`] with the BIOS + GRUB image.
    fn boot(name: &str, extra: &[(&str, &Path)]) -> Case {
        let image =
            distro::debian12_bios().unwrap_or_else(|e| panic!("{name}: Debian 12 image: {e}"));
        Case::boot_image(image, name, extra)
    }

    /// Boots `image` with a test disk holding leapboot and `extra` files, checks the
    /// first boot went through firmware and boot loader into the default entry, and
    /// installs leapboot as [`GUEST_BIN`].
    fn boot_image(image: DistroImage, name: &str, extra: &[(&str, &Path)]) -> Case {
        let dir = leapboot_qemu::binaries::workspace_dir()
            .join("target/e2e")
            .join(format!("reboot-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bin = leapboot_bin();
        let mut files: Vec<(&str, &Path)> = vec![("leapboot", bin.as_path())];
        files.extend_from_slice(extra);
        let test_disk = dir.join("test-disk.img");
        distro::test_disk(&test_disk, &files).unwrap_or_else(|e| panic!("{name}: test disk: {e}"));
        let mut guest = Guest::boot(&image, &[&test_disk], &dir.join("serial.log"))
            .unwrap_or_else(|e| panic!("{name}: starting QEMU: {e}"));
        let up = guest
            .wait_up(boot_timeout())
            .unwrap_or_else(|e| panic!("{name}: first boot: {e}"));
        assert_eq!(up.boot, 1, "{name}: {up:?}");
        let log = guest.vm().log();
        let firmware = firmware_banners(image.boot);
        for banner in firmware {
            assert!(
                log.contains(banner),
                "{name}: the first boot shows no {banner:?} on the serial line"
            );
        }
        assert_eq!(up.uname, image.kernels[0], "{name}: the default kernel");
        assert!(!up.cmdline.contains("leapboot.entry="), "{}", up.cmdline);
        let mut case = Case {
            name: name.to_string(),
            image,
            guest,
            firmware,
        };
        case.ok(&format!(
            "install -m 0755 {}/leapboot {GUEST_BIN}",
            distro::TEST_DISK_MOUNT
        ));
        case
    }

    /// Runs `script` in the guest.
    fn run(&mut self, script: &str) -> RunOutput {
        self.guest
            .run(script, default_timeout())
            .unwrap_or_else(|e| panic!("{}: {script}: {e}", self.name))
    }

    /// Runs `script` in the guest and checks it succeeded; its output.
    fn ok(&mut self, script: &str) -> String {
        let out = self.run(script);
        assert_eq!(
            out.status, 0,
            "{}: `{script}` failed:\n{}",
            self.name, out.output
        );
        out.output
    }

    /// Starts `script`, which reboots the guest, and waits for the end of the
    /// shutdown (systemd-shutdown about to do `verb`) and for the guest to be up again.
    fn reboot_with(&mut self, script: &str, verb: &str) -> Reboot {
        let name = self.name.clone();
        let fail = |what: &str, e: leapboot_qemu::Error| -> ! {
            panic!("{name}: `{script}`: {what}: {e}")
        };
        let started = Instant::now();
        let id = self
            .guest
            .start(script)
            .unwrap_or_else(|e| fail("sending", e));
        let start_uptime = self
            .guest
            .wait_started(id, default_timeout())
            .unwrap_or_else(|e| fail("starting", e));
        let down = self
            .guest
            .wait_down(boot_timeout())
            .unwrap_or_else(|e| fail("shutting down", e));
        let up = self
            .guest
            .wait_up(boot_timeout())
            .unwrap_or_else(|e| fail("coming back", e));
        let seconds = started.elapsed().as_secs_f64();
        let log = self.guest.log_since(id);
        let until_up = log.find(distro::UP_MARKER).unwrap_or(log.len());
        let log = log[..until_up].to_string();
        assert_eq!(
            down.verb, verb,
            "{}: `{script}` ended the shutdown with {:?}, not {verb:?}:\n{log}",
            self.name, down.verb
        );
        Reboot {
            shutdown: down.uptime - start_uptime,
            handover: (up.at.as_secs_f64() - down.at.as_secs_f64() - up.uptime).max(0.0),
            up,
            log,
            seconds,
        }
    }
}

/// One reboot, seen from the host and from both kernels.
struct Reboot {
    /// The new boot's line.
    up: GuestUp,
    /// The serial output from the start of the command to that line.
    log: String,
    /// Seconds from sending the command to the new boot's line.
    seconds: f64,
    /// From the command's start to the end of the shutdown (old kernel's clock):
    /// stopping services, unmounting; for `leapboot reboot` also its load.
    shutdown: f64,
    /// From the end of the shutdown to the new kernel's clock starting: firmware and
    /// GRUB, or the kexec jump; either way the kernel's decompression.
    handover: f64,
}

impl Case {
    /// This image's firmware and boot loader banners that appear in `log`.
    fn banners(&self, log: &str) -> Vec<&'static str> {
        self.firmware
            .iter()
            .copied()
            .filter(|b| log.contains(b))
            .collect()
    }
}

/// `next_entry` from `grub-editenv list` output, if set and not empty.
fn next_entry(env: &str) -> Option<&str> {
    env.lines()
        .find_map(|l| l.strip_prefix("next_entry="))
        .filter(|v| !v.is_empty())
}

/// The GRUB id Debian's `10_linux` gives the "Advanced options" entry of `kernel`,
/// which leapboot uses as the entry's id.
fn advanced_id(image: &DistroImage, kernel: &str) -> String {
    format!("gnulinux-{kernel}-advanced-{}", image.root_uuid)
}

#[test]
fn grub_reboot_one_shot_is_booted_by_kexec() {
    if !qemu_or_skip("grub_reboot_one_shot_is_booted_by_kexec") {
        return;
    }
    let mut case = Case::boot("grub-reboot", &[]);
    let kernels = case.image.kernels.clone();
    assert!(
        kernels.len() >= 2,
        "the image needs two kernels for a non-default entry: {kernels:?}"
    );
    let target = kernels[1].clone();
    let path = case.image.grub_advanced_entry(&target);

    // The system's own way to pick the next boot once.
    let env = case.ok(&format!("grub-reboot '{path}' && grub-editenv list"));
    assert_eq!(next_entry(&env), Some(path.as_str()), "{env}");

    // The plan names that entry and loads nothing.
    let plan = case.run("leapboot reboot --dry-run");
    assert_eq!(
        plan.status, 0,
        "leapboot reboot --dry-run:\n{}",
        plan.output
    );
    assert!(
        plan.output.contains(&format!("vmlinuz-{target}")),
        "the plan does not boot {target}:\n{}",
        plan.output
    );
    assert_eq!(case.ok("cat /sys/kernel/kexec_loaded").trim(), "0");
    let env = case.ok("grub-editenv list");
    assert_eq!(
        next_entry(&env),
        Some(path.as_str()),
        "a dry run consumed the one-shot: {env}"
    );

    let Reboot {
        up, log, seconds, ..
    } = case.reboot_with("leapboot reboot", "kexec");
    eprintln!("grub-reboot: leapboot reboot to guest up in {seconds:.1} s");
    assert_eq!(up.boot, 2, "{up:?}");
    assert!(
        case.banners(&log).is_empty(),
        "the reboot went through {:?}:\n{log}",
        case.banners(&log)
    );
    assert_eq!(up.uname, target, "{up:?}");
    assert!(
        up.cmdline
            .contains(&format!("BOOT_IMAGE=/boot/vmlinuz-{target} ")),
        "{}",
        up.cmdline
    );
    assert!(
        up.cmdline.contains(&format!(
            "leapboot.entry={}",
            advanced_id(&case.image, &target)
        )),
        "{}",
        up.cmdline
    );

    // The one-shot was used, as GRUB uses it.
    let env = case.ok("grub-editenv list");
    assert_eq!(next_entry(&env), None, "next_entry not consumed: {env}");

    let status = case.ok("leapboot status");
    assert!(
        status.contains("came by kexec from leapboot"),
        "leapboot status after the kexec boot:\n{status}"
    );
}

/// `LoaderEntryOneShot` in efivarfs (systemd's vendor GUID).
const ONESHOT_VAR: &str =
    "/sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

#[test]
fn bootctl_oneshot_is_booted_by_kexec() {
    if !qemu_or_skip("bootctl_oneshot_is_booted_by_kexec") {
        return;
    }
    let image =
        distro::debian12_uefi().unwrap_or_else(|e| panic!("bootctl: Debian 12 UEFI image: {e}"));
    let mut case = Case::boot_image(image, "bootctl", &[]);
    let kernels = case.image.kernels.clone();
    assert!(kernels.len() >= 2, "{kernels:?}");
    let target = kernels[1].clone();
    let entry = case
        .image
        .bls_entry(&target)
        .unwrap_or_else(|| panic!("no loader entry for {target} in the image's manifest"))
        .to_string();

    // systemd-boot's one-shot, set the system's way (an EFI variable).
    let list = case.ok(&format!(
        "bootctl set-oneshot '{entry}' && test -e {ONESHOT_VAR} && bootctl list --no-pager"
    ));
    assert!(list.contains(&entry), "{list}");

    let plan = case.run("leapboot reboot --dry-run");
    assert_eq!(
        plan.status, 0,
        "leapboot reboot --dry-run:\n{}",
        plan.output
    );
    assert!(
        plan.output.contains(&target),
        "the plan does not boot {target}:\n{}",
        plan.output
    );
    case.ok(&format!("test -e {ONESHOT_VAR}"));

    let Reboot {
        up, log, seconds, ..
    } = case.reboot_with("leapboot reboot", "kexec");
    eprintln!("bootctl: leapboot reboot to guest up in {seconds:.1} s");
    assert_eq!(up.boot, 2, "{up:?}");
    assert!(
        case.banners(&log).is_empty(),
        "the reboot went through {:?}:\n{log}",
        case.banners(&log)
    );
    assert_eq!(up.uname, target, "{up:?}");
    let id = entry.trim_end_matches(".conf");
    assert!(
        up.cmdline.contains(&format!("leapboot.entry={id}")),
        "{}",
        up.cmdline
    );
    // The one-shot was used, as systemd-boot uses it.
    let gone = case.run(&format!("test -e {ONESHOT_VAR}"));
    assert_ne!(
        gone.status, 0,
        "LoaderEntryOneShot still set after the kexec boot"
    );
}

#[test]
fn truncated_kernel_fails_and_the_system_stays_up() {
    if !qemu_or_skip("truncated_kernel_fails_and_the_system_stays_up") {
        return;
    }
    let mut case = Case::boot("truncated", &[]);
    let default = case.image.kernels[0].clone();
    case.ok(&format!("truncate -s 1M /boot/vmlinuz-{default}"));

    let out = case.run("leapboot reboot");
    assert_eq!(
        out.status, 1,
        "leapboot reboot with a truncated kernel:\n{}",
        out.output
    );
    assert!(
        out.output.contains(&format!("vmlinuz-{default}")),
        "the message does not name the kernel:\n{}",
        out.output
    );
    assert_eq!(case.ok("cat /sys/kernel/kexec_loaded").trim(), "0");

    // Still up a while later: no reboot started, the same boot answers.
    let id = case
        .guest
        .start("sleep 10; systemctl is-system-running; cat /var/lib/leapboot-test/boots")
        .unwrap();
    let later = case
        .guest
        .wait_done(id, default_timeout())
        .unwrap_or_else(|e| panic!("truncated: the guest stopped answering: {e}"));
    let last = later.output.lines().last().unwrap_or_default();
    assert_eq!(last, "1", "the guest rebooted:\n{}", later.output);
    assert!(
        !later.output.contains("stopping"),
        "the system is shutting down:\n{}",
        later.output
    );
    let log = case.guest.log_since(out.id);
    assert!(case.banners(&log).is_empty(), "{log}");
    assert!(!log.contains(distro::UP_MARKER), "{log}");
}

#[test]
fn opt_in_unit_turns_systemctl_reboot_into_kexec() {
    if !qemu_or_skip("opt_in_unit_turns_systemctl_reboot_into_kexec") {
        return;
    }
    let workspace = leapboot_qemu::binaries::workspace_dir();
    let unit: PathBuf = workspace.join(UNIT);
    let drop_in: PathBuf = workspace.join(DROP_IN);
    for f in [&unit, &drop_in] {
        assert!(
            f.is_file(),
            "{} does not exist: the opt-in unit lands with `leapboot reboot`",
            f.display()
        );
    }
    let mut case = Case::boot(
        "unit",
        &[
            ("leapboot-kexec.service", unit.as_path()),
            ("leapboot-kexec.conf", drop_in.as_path()),
        ],
    );
    let default = case.image.kernels[0].clone();
    let target = case.image.kernels[1].clone();
    // The install steps of the README ("Plain `reboot` through kexec"); the unit runs
    // /usr/bin/leapboot, where GUEST_BIN is.
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("{GUEST_BIN} ")),
        "the unit no longer runs {GUEST_BIN}:\n{text}"
    );
    let disk = distro::TEST_DISK_MOUNT;
    case.ok(&format!(
        "install -m 644 {disk}/leapboot-kexec.service /etc/systemd/system/ && \
         install -D -m 644 {disk}/leapboot-kexec.conf \
             /etc/systemd/system/systemd-reboot.service.d/leapboot-kexec.conf && \
         systemctl daemon-reload && systemctl enable --now leapboot-kexec.service"
    ));

    // A one-shot, so that the reboot must boot what GRUB would boot next.
    let path = case.image.grub_advanced_entry(&target);
    case.ok(&format!("grub-reboot '{path}'"));

    let Reboot {
        up, log, seconds, ..
    } = case.reboot_with("systemctl reboot", "kexec");
    eprintln!("unit: systemctl reboot (unit enabled) to guest up in {seconds:.1} s");
    assert_eq!(up.boot, 2, "{up:?}");
    assert!(
        case.banners(&log).is_empty(),
        "with the unit enabled, systemctl reboot went through {:?}:\n{log}",
        case.banners(&log)
    );
    assert_eq!(up.uname, target, "{up:?}");
    assert!(
        up.cmdline.contains(&format!(
            "leapboot.entry={}",
            advanced_id(&case.image, &target)
        )),
        "{}",
        up.cmdline
    );
    let env = case.ok("grub-editenv list");
    assert_eq!(next_entry(&env), None, "next_entry not consumed: {env}");

    // The README's uninstall.
    case.ok("systemctl disable --now leapboot-kexec.service && \
         rm /etc/systemd/system/leapboot-kexec.service \
            /etc/systemd/system/systemd-reboot.service.d/leapboot-kexec.conf && \
         systemctl daemon-reload");
    let Reboot {
        up, log, seconds, ..
    } = case.reboot_with("systemctl reboot", "reboot");
    eprintln!("unit: systemctl reboot (unit disabled) to guest up in {seconds:.1} s");
    assert_eq!(up.boot, 3, "{up:?}");
    assert_eq!(up.uname, default, "{up:?}");
    assert_eq!(
        case.banners(&log),
        case.firmware,
        "with the unit disabled, systemctl reboot must go through firmware and GRUB:\n{log}"
    );
    assert!(!up.cmdline.contains("leapboot.entry="), "{}", up.cmdline);
}

/// Min, median and max of `values` (not empty).
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (v[0], median, v[v.len() - 1])
}

/// The median of `values`, or NaN for none.
fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        f64::NAN
    } else {
        summary(values).1
    }
}

/// A systemd time span as `systemd-analyze` prints it (`1min 2.345s`, `870ms`).
fn timespan(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for word in text.split_whitespace() {
        let split = word.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, unit) = word.split_at(split);
        let number: f64 = number.parse().ok()?;
        total += number
            * match unit {
                "h" => 3600.0,
                "min" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                "us" => 0.000_001,
                _ => return None,
            };
    }
    Some(total)
}

/// Kernel (with initramfs) and userspace seconds from `systemd-analyze time`:
/// "Startup finished in 9.5s (kernel) + 22.6s (userspace) = 32.1s".
fn startup(text: &str) -> Option<(f64, f64)> {
    let rest = text.split("Startup finished in ").nth(1)?;
    let (kernel, rest) = rest.split_once(" (kernel) + ")?;
    let (userspace, _) = rest.split_once(" (userspace)")?;
    Some((timespan(kernel)?, timespan(userspace)?))
}

/// One way of rebooting, measured.
#[derive(Default)]
struct Timings {
    total: Vec<f64>,
    shutdown: Vec<f64>,
    handover: Vec<f64>,
    kernel: Vec<f64>,
    userspace: Vec<f64>,
    load: Vec<f64>,
}

impl Timings {
    /// Records `reboot`, and from the booted guest what systemd and leapboot measured.
    fn add(&mut self, case: &mut Case, reboot: &Reboot) {
        self.total.push(reboot.seconds);
        self.shutdown.push(reboot.shutdown);
        self.handover.push(reboot.handover);
        let analyze = case.run("systemd-analyze time");
        if let Some((kernel, userspace)) = startup(&analyze.output) {
            self.kernel.push(kernel);
            self.userspace.push(userspace);
        }
        // leapboot's report of a kexec boot: "loaded '<id>' in N ms".
        if reboot.up.cmdline.contains("leapboot.entry=") {
            let report = case.run("cat /var/log/leapboot/last-handoff.log");
            let ms = report.output.lines().find_map(|l| {
                let (_, rest) = l.split_once("loaded '")?;
                let (_, rest) = rest.split_once("' in ")?;
                rest.strip_suffix(" ms")?.trim().parse::<f64>().ok()
            });
            self.load.extend(ms.map(|ms| ms / 1000.0));
        }
    }

    fn print(&self, label: &str) {
        let (min, median_total, max) = summary(&self.total);
        let load = if self.load.is_empty() {
            "     -".to_string()
        } else {
            format!("{:>6.1}", median(&self.load))
        };
        println!(
            "bench: {label:<42} {min:>6.1} {median_total:>6.1} {max:>6.1} | {:>8.1} {load} {:>8.1} {:>6.1} {:>6.1}",
            median(&self.shutdown),
            median(&self.handover),
            median(&self.kernel),
            median(&self.userspace),
        );
    }
}

/// Boots `image` and reboots it `runs` times each way, alternating: `leapboot reboot`
/// (kexec) and `systemctl reboot` (firmware and boot loader).
fn measure(image: DistroImage, name: &str, runs: usize) -> (Timings, Timings) {
    let mut case = Case::boot_image(image, name, &[]);
    let mut kexec = Timings::default();
    let mut firmware = Timings::default();
    for _ in 0..runs {
        let reboot = case.reboot_with("leapboot reboot", "kexec");
        assert!(case.banners(&reboot.log).is_empty(), "{}", reboot.log);
        kexec.add(&mut case, &reboot);
        let reboot = case.reboot_with("systemctl reboot", "reboot");
        assert_eq!(case.banners(&reboot.log), case.firmware, "{}", reboot.log);
        firmware.add(&mut case, &reboot);
    }
    (kexec, firmware)
}

/// `scripts/bench`: seconds from the reboot command to the guest-up marker after
/// `multi-user.target`, `LEAPBOOT_BENCH_RUNS` (3) runs each, alternating on one booted
/// image: on the BIOS image (a) `leapboot reboot` and (b) `systemctl reboot` through
/// SeaBIOS and GRUB; on the UEFI image (a') `leapboot reboot` and (c) `systemctl
/// reboot` through OVMF and systemd-boot. Columns: min, median, max of the whole;
/// then medians of its parts: `shutdown` (command start to systemd-shutdown's last
/// step, old kernel's clock; includes leapboot's load, also shown alone as `load`),
/// `handover` (from there to the new kernel's clock starting: firmware and boot
/// loader, or the kexec jump; both include the kernel's decompression), `kernel` and
/// `user` as `systemd-analyze time` reports them (kernel includes the initramfs;
/// userspace ends at `multi-user.target`, a little before the marker). Prints lines
/// starting with `bench: `.
#[test]
#[ignore = "benchmark: scripts/bench"]
fn bench_reboot() {
    if !qemu_or_skip("bench_reboot") {
        return;
    }
    let runs: usize = std::env::var("LEAPBOOT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let bios = distro::debian12_bios().unwrap_or_else(|e| panic!("BIOS image: {e}"));
    let uefi = distro::debian12_uefi().unwrap_or_else(|e| panic!("UEFI image: {e}"));
    let (a, b) = measure(bios, "bench-bios", runs);
    let (a_uefi, c) = measure(uefi, "bench-uefi", runs);
    let accel = std::env::var("LEAPBOOT_QEMU_ACCEL").unwrap_or_else(|_| "tcg".into());
    println!(
        "bench: reboot command to guest-up marker, Debian 12 under QEMU ({accel}), {runs} runs each, seconds"
    );
    println!(
        "bench: {:<42} {:>6} {:>6} {:>6} | {:>8} {:>6} {:>8} {:>6} {:>6}",
        "", "min", "median", "max", "shutdown", "load", "handover", "kernel", "user"
    );
    a.print("(a) leapboot reboot, BIOS image");
    b.print("(b) systemctl reboot: SeaBIOS + GRUB");
    a_uefi.print("(a') leapboot reboot, UEFI image");
    c.print("(c) systemctl reboot: OVMF + systemd-boot");
    println!(
        "bench: ratios of the medians: a/b {:.2}, a'/c {:.2}",
        median(&a.total) / median(&b.total),
        median(&a_uefi.total) / median(&c.total)
    );
}

#[test]
fn systemd_time_spans_are_read() {
    assert_eq!(timespan("1min 2.5s"), Some(62.5));
    assert_eq!(timespan("870ms"), Some(0.87));
    assert_eq!(
        startup("Startup finished in 9.540s (kernel) + 22.645s (userspace) = 32.185s \n"),
        Some((9.54, 22.645))
    );
    assert_eq!(startup("Bootup is not yet finished"), None);
}
