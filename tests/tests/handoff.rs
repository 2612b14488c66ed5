//! End to end: failed handoffs leave a trail. The Debian kernel boots leapboot as PID 1;
//! broken entries (a truncated kernel, a missing initrd, a text file as kernel) are
//! reported with cause and remedy and the fallbacks boot; a debug boot makes the target
//! kernel's earliest messages visible; when every entry fails leapboot stays in the menu.
//!
//! The firmware kernel gets `loglevel=7` so its `kexec_core: Starting new kernel` line
//! (KERN_NOTICE) shows, and the tests check that the whole report came before it.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS, assert_alive, target_cmdline};
use leapboot_qemu::{DiskImage, Partition, Vm, default_timeout, qemu_or_skip};
use std::time::{Duration, Instant};

/// The lines of the serial log, without `\r`.
fn lines(vm: &Vm) -> Vec<String> {
    vm.lines()
}

/// Index of the first line at or after `from` containing `pat`.
fn find(lines: &[String], from: usize, pat: &str) -> Option<usize> {
    lines
        .iter()
        .skip(from)
        .position(|l| l.contains(pat))
        .map(|i| i + from)
}

/// The report of the entry that booted was printed in full before the firmware kernel
/// said it was starting the new one.
fn assert_report_before_kexec(log: &[String], id: &str) {
    let start = find(log, 0, &format!("handoff: report for '{id}'"))
        .unwrap_or_else(|| panic!("no report for '{id}'"));
    let end = find(
        log,
        start,
        &format!("handoff: end of report for '{id}': starting the new kernel"),
    )
    .unwrap_or_else(|| panic!("report for '{id}' not finished"));
    let kexec = find(log, start, "kexec_core: Starting new kernel")
        .expect("the firmware kernel's 'Starting new kernel' line (loglevel=7)");
    assert!(
        end < kexec,
        "report ends at line {end}, kernel starts at {kexec}"
    );
    for want in [
        "handoff: entry ",
        "handoff: volume ",
        "handoff: kernel /",
        "handoff: kernel version: 6.1.0-50-amd64 (debian-kernel@lists.debian.org)",
        "handoff: kernel image: bzImage, boot protocol 2.15, EFI stub (PE x86-64), signed",
        "handoff: initrd /target.img (",
        "handoff: command line (",
        "handoff: syscall: kexec_file_load(",
        "handoff: memory: needs about ",
        "handoff: system: lockdown ",
        "handoff: checks: ",
        "handoff: phases: kernel until PID 1 ",
        "handoff: loaded '",
    ] {
        let at = find(log, start, want).unwrap_or_else(|| panic!("report lacks {want:?}"));
        assert!(at < end, "{want:?} printed after the report ended");
    }
}

fn esp_with_kernels(s: &Scenario) -> (Partition, Vec<u8>) {
    let vmlinuz = std::fs::read(&s.kernel.vmlinuz).expect("reading vmlinuz");
    let cut = vmlinuz[..vmlinuz.len() / 2].to_vec();
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &s.kernel.vmlinuz)
        .file("/target.img", s.target_initrd(&["esp"]));
    (esp, cut)
}

/// (1) A truncated kernel: the report names the file and says it is not a bootable
/// image, no load is attempted, and the next entry boots.
#[test]
fn truncated_kernel_reported_and_fallback_boots() {
    if !qemu_or_skip("truncated_kernel_reported_and_fallback_boots") {
        return;
    }
    let t = Instant::now();
    let mut s = Scenario::new("handoff-truncated");
    let (esp, cut) = esp_with_kernels(&s);
    let esp = esp
        .file("/vmlinuz-cut", cut.clone())
        .file(
            "/loader/entries/broken.conf",
            format!("title Broken\nversion 9.0\nlinux /vmlinuz-cut\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=broken\n"),
        )
        .file(
            "/loader/entries/good.conf",
            format!("title Good\nversion 1.0\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=good\n"),
        )
        .file("/loader/loader.conf", "default broken*\n");
    s.disk(&DiskImage::gpt(100).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("loglevel=7");
    vm.wait_for(
        "handoff: report for 'broken' (attempt 1 of 2)",
        default_timeout(),
    )
    .unwrap();
    let kernel = vm
        .wait_for("handoff: kernel /vmlinuz-cut (", default_timeout())
        .unwrap();
    assert!(
        kernel.contains(&format!("({} bytes", cut.len())),
        "{kernel}"
    );
    let failed = vm
        .wait_for("handoff: check failed: ", default_timeout())
        .unwrap();
    assert!(
        failed.contains("/vmlinuz-cut is not a bootable kernel image: truncated"),
        "{failed}"
    );
    vm.wait_for("handoff: remedy: ", default_timeout()).unwrap();
    vm.wait_for("handoff: not loading 'broken'", default_timeout())
        .unwrap();
    vm.wait_for("'good' (2 of 2)", default_timeout()).unwrap();
    assert_eq!(
        target_cmdline(&mut vm),
        format!(r"initrd=\target.img {TARGET_OPTIONS} entry=good leapboot.entry=good")
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log = lines(&vm);
    assert!(
        !log.iter().any(|l| l.contains("kexec_file_load failed")),
        "the truncated kernel was loaded"
    );
    assert_report_before_kexec(&log, "good");
    assert_alive(&vm.log());
    eprintln!(
        "truncated_kernel_reported_and_fallback_boots: {:.1?}",
        t.elapsed()
    );
}

/// (2) An initrd missing from the volume: the entry is listed as not bootable, with the
/// path, and the next entry boots.
#[test]
fn missing_initrd_marks_entry_unbootable() {
    if !qemu_or_skip("missing_initrd_marks_entry_unbootable") {
        return;
    }
    let t = Instant::now();
    let mut s = Scenario::new("handoff-missing-initrd");
    let (esp, _) = esp_with_kernels(&s);
    let esp = esp
        .file(
            "/loader/entries/newer.conf",
            format!("title Newer\nversion 2.0\nlinux /vmlinuz\ninitrd /gone.img\noptions {TARGET_OPTIONS} entry=newer\n"),
        )
        .file(
            "/loader/entries/older.conf",
            format!("title Older\nversion 1.0\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=older\n"),
        )
        .file("/loader/loader.conf", "default newer*\n");
    s.disk(&DiskImage::gpt(100).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("loglevel=7");
    let listed = vm
        .wait_for("[newer] on vda1 [not bootable:", default_timeout())
        .unwrap();
    assert!(listed.contains("/gone.img"), "{listed}");
    vm.wait_for("handoff: report for 'older'", default_timeout())
        .unwrap();
    assert_eq!(
        target_cmdline(&mut vm),
        format!(r"initrd=\target.img {TARGET_OPTIONS} entry=older leapboot.entry=older")
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log = lines(&vm);
    assert_report_before_kexec(&log, "older");
    assert_alive(&vm.log());
    eprintln!("missing_initrd_marks_entry_unbootable: {:.1?}", t.elapsed());
}

/// (3) `leapboot.debug=1`: the target's command line carries the debug parameters
/// (with `console=ttyS0,115200`, which the entry lacks, so the target prints on the
/// serial line at all) and the target kernel's earliest messages appear through the
/// early console, each once: the early console hands over to the real one on the
/// same UART (no `keep_bootcon`, which would print every line twice).
#[test]
fn debug_boot_shows_target_early_messages() {
    if !qemu_or_skip("debug_boot_shows_target_early_messages") {
        return;
    }
    let t = Instant::now();
    let mut s = Scenario::new("handoff-debug");
    let (esp, _) = esp_with_kernels(&s);
    let esp = esp.file(
        "/loader/entries/dbg.conf",
        "title Debug\nlinux /vmlinuz\ninitrd /target.img\noptions panic=-1 loglevel=4 entry=dbg\n",
    );
    s.disk(&DiskImage::gpt(100).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("loglevel=7 leapboot.debug=1");
    let added = vm
        .wait_for("handoff: debug boot: added ", default_timeout())
        .unwrap();
    assert!(
        added.contains("earlycon=uart8250,io,0x3f8,115200"),
        "{added}"
    );
    let cmdline = target_cmdline(&mut vm);
    assert_eq!(
        cmdline,
        "initrd=\\target.img panic=-1 loglevel=4 entry=dbg leapboot.entry=dbg ignore_loglevel \
         earlycon=uart8250,io,0x3f8,115200 console=ttyS0,115200 printk.devkmsg=on"
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log = lines(&vm);
    assert_report_before_kexec(&log, "dbg");
    let jump = find(&log, 0, "kexec_core: Starting new kernel").unwrap();
    // The new kernel's first lines, printed by the early console: its banner, the
    // firmware memory map, the early console itself, all before its real console starts.
    let banner = find(&log, jump, "Linux version 6.1.0-50-amd64").expect("target banner");
    let e820 = find(&log, jump, "BIOS-e820:").expect("target memory map");
    let early = find(&log, jump, "at I/O port 0x3f8").expect("earlycon line");
    let boot_console = find(&log, jump, "printk: bootconsole [").expect("bootconsole line");
    let real_console = find(&log, jump, "printk: console [ttyS0] enabled").expect("console line");
    assert!(
        banner < real_console
            && e820 < real_console
            && early < real_console
            && boot_console < real_console,
        "early lines came after the real console: banner {banner}, e820 {e820}, earlycon {early}, bootconsole {boot_console}, console {real_console}"
    );
    // The early console hands over to the real one on the same UART...
    let handover = find(&log, jump, "bootconsole [uart0] disabled")
        .or_else(|| find(&log, jump, "bootconsole [uart8250] disabled"))
        .or_else(|| find(&log, jump, "bootconsole [uart] disabled"))
        .expect("the early console hands over to the real console");
    assert!(
        real_console <= handover,
        "handover {handover} before the real console {real_console}"
    );
    // ...and no line is printed twice, before the handover or after it.
    let after = |want: &str| log[jump..].iter().filter(|l| l.contains(want)).count();
    assert_eq!(after("Linux version 6.1.0-50-amd64"), 1, "banner doubled");
    assert_eq!(after("Command line: "), 1, "early line doubled");
    assert_eq!(
        after("Freeing unused kernel image (initmem) memory"),
        1,
        "late line doubled"
    );
    // (Only the handover's own two lines reach both consoles, by design:
    // "console [ttyS0] enabled" and "bootconsole [...] disabled".)
    assert_alive(&vm.log());
    eprintln!(
        "debug_boot_shows_target_early_messages: {:.1?}",
        t.elapsed()
    );
}

/// (4) Every entry fails: each attempt's report is printed, then one summary line per
/// attempt, and leapboot waits in the menu (no loop of attempts).
#[test]
fn every_fallback_fails_stays_in_menu() {
    if !qemu_or_skip("every_fallback_fails_stays_in_menu") {
        return;
    }
    let t = Instant::now();
    let mut s = Scenario::new("handoff-all-fail");
    let (esp, cut) = esp_with_kernels(&s);
    let esp = esp
        .file("/vmlinuz-cut", cut)
        .file("/notakernel", "this is a text file, not a bzImage\n".repeat(100))
        .file(
            "/loader/entries/a.conf",
            format!("title A\nversion 3.0\nlinux /vmlinuz-cut\ninitrd /target.img\noptions {TARGET_OPTIONS}\n"),
        )
        .file(
            "/loader/entries/b.conf",
            format!("title B\nversion 2.0\nlinux /notakernel\noptions {TARGET_OPTIONS}\n"),
        )
        .file(
            "/loader/entries/c.conf",
            format!("title C\nversion 1.0\nlinux /vmlinuz\ninitrd /gone.img\noptions {TARGET_OPTIONS}\n"),
        )
        .file("/loader/loader.conf", "default a*\n");
    s.disk(&DiskImage::gpt(100).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("loglevel=7");
    vm.wait_for(
        "handoff: report for 'a' (attempt 1 of 3)",
        default_timeout(),
    )
    .unwrap();
    vm.wait_for("handoff: end of report for 'a'", default_timeout())
        .unwrap();
    // Then the entries after 'a' in menu order, wrapping around: the menu lists
    // c, b, a (BLS order), so c, then b.
    vm.wait_for(
        "handoff: report for 'c' (attempt 2 of 3)",
        default_timeout(),
    )
    .unwrap();
    let c = vm
        .wait_for("handoff: entry 'c' is not bootable", default_timeout())
        .unwrap();
    assert!(c.contains("/gone.img"), "{c}");
    vm.wait_for(
        "handoff: report for 'b' (attempt 3 of 3)",
        default_timeout(),
    )
    .unwrap();
    let b = vm
        .wait_for("handoff: check failed: ", default_timeout())
        .unwrap();
    assert!(
        b.contains("/notakernel is not a bootable kernel image: text"),
        "{b}"
    );
    vm.wait_for(
        "no entry could be booted (3 attempts); staying in the menu",
        default_timeout(),
    )
    .unwrap();
    for (n, id, what) in [
        (
            1,
            "a",
            "pre-flight check failed: /vmlinuz-cut is not a bootable kernel image: truncated",
        ),
        (2, "c", "not bootable: initrd /gone.img"),
        (
            3,
            "b",
            "pre-flight check failed: /notakernel is not a bootable kernel image: text",
        ),
    ] {
        let line = vm
            .wait_for(&format!("attempt {n} of 3: '{id}': "), default_timeout())
            .unwrap();
        assert!(line.contains(what), "{line}");
    }
    // Back in the menu, which lists the entries again and waits for a key.
    vm.wait_for("leapboot: menu: 3 entries:", default_timeout())
        .unwrap();
    // No second round of attempts follows: the marker must not appear again.
    assert!(
        vm.wait_for("handoff: report for ", Duration::from_secs(5))
            .is_err(),
        "attempts were repeated"
    );
    assert!(vm.is_running(), "QEMU exited: PID 1 died or rebooted");
    let log = vm.log();
    assert_eq!(
        log.matches("handoff: report for 'a'").count(),
        1,
        "attempts were repeated"
    );
    assert!(!log.contains("kexec_core: Starting new kernel"));
    assert_alive(&log);
    vm.kill().unwrap();
    eprintln!("every_fallback_fails_stays_in_menu: {:.1?}", t.elapsed());
}

/// The Debian kernel without its Authenticode signature: cut to the length its header
/// promises and with the PE certificate table entry (data directory 4) cleared.
fn unsigned_kernel(vmlinuz: &[u8]) -> Vec<u8> {
    let u32_at = |off: usize| u32::from_le_bytes(vmlinuz[off..off + 4].try_into().unwrap());
    let setup = (usize::from(vmlinuz[0x1F1]) + 1) * 512;
    let expected = setup + u32_at(0x1F4) as usize * 16;
    let mut k = vmlinuz[..expected].to_vec();
    let pe = u32_at(0x3C) as usize;
    let cert_dir = pe + 24 + 112 + 4 * 8; // PE32+ optional header, entry 4
    k[cert_dir..cert_dir + 8].fill(0);
    k
}

/// (5) Real kexec_file_load failures, decoded: under `lockdown=integrity` the firmware
/// kernel refuses an unsigned kernel, and also Debian's signed one, whose key it only
/// trusts through UEFI's db (its platform keyring), which qboot does not have. Each
/// report gives the errno, the lockdown mode, whether the kernel is signed, a remedy
/// and the kernel's own message; then leapboot stays in the menu.
#[test]
fn lockdown_refusals_decoded() {
    if !qemu_or_skip("lockdown_refusals_decoded") {
        return;
    }
    let t = Instant::now();
    let mut s = Scenario::new("handoff-lockdown");
    let (esp, _) = esp_with_kernels(&s);
    let vmlinuz = std::fs::read(&s.kernel.vmlinuz).unwrap();
    let esp = esp
        .file("/vmlinuz-unsigned", unsigned_kernel(&vmlinuz))
        .file(
            "/loader/entries/unsigned.conf",
            format!("title Unsigned\nlinux /vmlinuz-unsigned\ninitrd /target.img\noptions {TARGET_OPTIONS}\n"),
        )
        .file(
            "/loader/entries/signed.conf",
            format!("title Signed\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS}\n"),
        )
        .file("/loader/loader.conf", "default unsigned*\n");
    s.disk(&DiskImage::gpt(100).partition(esp));
    s.firmware("timeout = 0\n");
    let mut vm = s.boot("loglevel=7 lockdown=integrity");
    for (n, id, signed, why) in [
        (1, "unsigned", ", unsigned,", "the kernel is not signed"),
        (
            2,
            "signed",
            ", signed (",
            "the kernel is signed, but not by a key the firmware kernel trusts",
        ),
    ] {
        vm.wait_for(
            &format!("handoff: report for '{id}' (attempt {n} of 2)"),
            default_timeout(),
        )
        .unwrap();
        let image = vm
            .wait_for("handoff: kernel image: ", default_timeout())
            .unwrap();
        assert!(image.contains(signed), "{image}");
        vm.wait_for("handoff: system: lockdown integrity", default_timeout())
            .unwrap();
        // The pre-flight checks pass: only the kernel knows what it refuses.
        vm.wait_for("memory ok", default_timeout()).unwrap();
        let failed = vm
            .wait_for("handoff: kexec_file_load failed: ", default_timeout())
            .unwrap();
        assert!(failed.contains("EPERM"), "{failed}");
        let cause = vm.wait_for("handoff: cause: ", default_timeout()).unwrap();
        assert!(
            cause.contains("lockdown mode 'integrity'") && cause.contains(why),
            "{cause}"
        );
        let remedy = vm.wait_for("handoff: remedy: ", default_timeout()).unwrap();
        assert!(
            remedy.contains("signed with a key the firmware kernel trusts"),
            "{remedy}"
        );
        let said = vm
            .wait_for("handoff: kernel said: ", default_timeout())
            .unwrap();
        assert!(
            said.contains("kexec of unsigned images is restricted"),
            "{said}"
        );
        vm.wait_for(
            &format!("handoff: end of report for '{id}'"),
            default_timeout(),
        )
        .unwrap();
    }
    vm.wait_for(
        "no entry could be booted (2 attempts); staying in the menu",
        default_timeout(),
    )
    .unwrap();
    vm.wait_for(
        "attempt 1 of 2: 'unsigned': kexec_file_load failed: EPERM",
        default_timeout(),
    )
    .unwrap();
    vm.wait_for(
        "attempt 2 of 2: 'signed': kexec_file_load failed: EPERM",
        default_timeout(),
    )
    .unwrap();
    vm.wait_for("leapboot: menu: 2 entries:", default_timeout())
        .unwrap();
    assert!(vm.is_running(), "QEMU exited: PID 1 died or rebooted");
    assert_alive(&vm.log());
    vm.kill().unwrap();
    eprintln!("lockdown_refusals_decoded: {:.1?}", t.elapsed());
}
