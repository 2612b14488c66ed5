//! End to end: the full-screen menu on the serial console under QEMU, driven by
//! keys sent to ttyS0. The serial output is fed to a terminal emulator (`vt100`),
//! so the tests look at the screen a user would see, not at raw escape sequences.
//!
//! One disk: a FAT ESP with two BLS entries, `First` (id `b-first`) and `Second`
//! (id `a-second`; without sort keys, systemd-boot orders by id, descending), both
//! booting the same Debian kernel into the target initramfs, which prints its
//! command line. `First` is the default.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS, assert_alive, target_cmdline};
use leapboot_qemu::{DiskImage, Partition, Vm, default_timeout, qemu_or_skip};
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

const DOWN: &[u8] = b"\x1b[B";
const UP: &[u8] = b"\x1b[A";
const HOME: &[u8] = b"\x1b[H";
const END: &[u8] = b"\x1b[F";

/// The two-entry disk, with these settings in `/etc/leapboot.toml`.
fn scenario(name: &str, settings: &str) -> Scenario {
    scenario_with(name, settings, false)
}

/// Debian's GRUB menu on an ext4 root: an entry, the "Advanced options" submenu
/// with two, and a memory test whose image is missing (listed, not bootable).
fn grub_cfg() -> String {
    let linux = format!("linux /boot/vmlinuz root=UUID={ROOT_UUID} ro {TARGET_OPTIONS}");
    format!(
        "set default=0\nset timeout=5\n\
         menuentry 'Debian GNU/Linux' --class debian --id gnulinux-simple {{\n\
         \t{linux} entry=grub\n\tinitrd /boot/target.img\n}}\n\
         submenu 'Advanced options for Debian GNU/Linux' --id gnulinux-advanced {{\n\
         \tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-amd64' --id gnulinux-6.1-advanced {{\n\
         \t\t{linux} entry=grub-advanced\n\t\tinitrd /boot/target.img\n\t}}\n\
         \tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)' --id gnulinux-6.1-recovery {{\n\
         \t\t{linux} single entry=grub-recovery\n\t\tinitrd /boot/target.img\n\t}}\n\
         }}\n\
         menuentry 'Memory test (memtest86+x64.bin)' --id memtest {{\n\
         \tlinux /boot/memtest86+x64.bin\n}}\n"
    )
}

const ROOT_UUID: &str = "5a0e1c2d-7b3f-4e8a-9c6d-1f2e3a4b5c6d";

fn scenario_with(name: &str, settings: &str, grub_root: bool) -> Scenario {
    let mut s = Scenario::new(name);
    let vmlinuz = s.kernel.vmlinuz.clone();
    let esp = Partition::esp(64)
        .file_from("/vmlinuz", &vmlinuz)
        .file("/target.img", s.target_initrd(&["esp"]))
        .file(
            "/loader/entries/b-first.conf",
            format!("title First\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=first\n"),
        )
        .file(
            "/loader/entries/a-second.conf",
            format!("title Second\nlinux /vmlinuz\ninitrd /target.img\noptions {TARGET_OPTIONS} entry=second\n"),
        );
    let mut disk = DiskImage::gpt(if grub_root { 170 } else { 100 }).partition(esp);
    if grub_root {
        let root = Partition::linux_ext4(64, "root", ROOT_UUID)
            .file_from("/boot/vmlinuz", &vmlinuz)
            .file("/boot/target.img", s.target_initrd(&["root"]))
            .file("/boot/grub/grub.cfg", grub_cfg());
        disk = disk.partition(root);
    }
    s.disk(&disk);
    s.firmware(settings);
    s
}

/// What an 80x24 terminal on the serial line shows now (the menu assumes 80x24
/// on a serial console, which reports no size).
fn screen(vm: &Vm) -> String {
    let n = |v| NonZeroU16::new(v).unwrap_or(NonZeroU16::MIN);
    let mut p = vt100::Parser::new(n(24), n(80), 0);
    p.process(vm.log().as_bytes());
    p.screen().contents()
}

/// Polls the emulated screen until `ok` holds; fails with the screen and the
/// serial log's path on timeout or when QEMU exits.
fn wait_screen(vm: &mut Vm, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + default_timeout();
    loop {
        let s = screen(vm);
        if ok(&s) {
            return s;
        }
        assert!(
            vm.is_running() && Instant::now() < end,
            "{}: the screen never showed {what} (serial log {}); it shows:\n{s}",
            if vm.is_running() {
                "timed out"
            } else {
                "QEMU exited"
            },
            vm.log_path().display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn shows(vm: &mut Vm, text: &str) -> String {
    wait_screen(vm, &format!("{text:?}"), |s| s.contains(text))
}

/// The line of `screen` holding `text`.
fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
    screen.lines().find(|l| l.contains(text)).unwrap_or("")
}

/// Down to the second entry, `e`, type ` leapboot_test=1`, Enter: the target
/// kernel gets the edited command line, once.
#[test]
fn edit_the_second_entry_and_boot_it() {
    if !qemu_or_skip("edit_the_second_entry_and_boot_it") {
        return;
    }
    // `entry_param = false`: the boot code would otherwise add `leapboot.entry=<id>`
    // after the edited line (as GRUB adds `BOOT_IMAGE=`), and this test wants the
    // line exactly as typed.
    let s = scenario("menu-edit", "timeout = 30\nentry_param = false\n");
    let mut vm = s.boot("");
    let t0 = Instant::now();
    let menu = shows(&mut vm, "Booting in");
    let first = menu
        .lines()
        .position(|l| l.contains(">* First"))
        .expect(&menu);
    assert!(
        menu.lines()
            .nth(first + 1)
            .is_some_and(|l| l.contains("   Second")),
        "{menu}"
    );
    let shown_after = t0.elapsed();
    vm.send(DOWN).unwrap();
    let menu = wait_screen(&mut vm, "the highlight on Second", |s| {
        line_with(s, "Second").contains(">  Second")
    });
    assert!(
        line_with(&menu, "Enter boots").contains("highlighted"),
        "the countdown did not stop:\n{menu}"
    );
    vm.send(b"e").unwrap();
    let editor = shows(&mut vm, "Edit the command line of 'Second'");
    assert!(editor.contains("entry=second"), "{editor}");
    vm.send(b" leapboot_test=1").unwrap();
    let editor = shows(&mut vm, "Edited.");
    // The command line wraps inside its box: read it as one line.
    let edited: String = editor
        .lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| l.trim_start_matches('│').trim_end().trim_end_matches('│'))
        .collect();
    assert!(edited.contains(" leapboot_test=1"), "{editor}");
    vm.send(b"\r").unwrap();
    let cmdline = target_cmdline(&mut vm);
    assert_eq!(
        cmdline,
        format!(r"initrd=\target.img {TARGET_OPTIONS} entry=second leapboot_test=1")
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    assert_alive(&log);
    assert!(log.contains("leapboot: menu: countdown stopped by a key"));
    assert!(
        log.contains("leapboot: menu: chosen: 'a-second' with the edited command line"),
        "no chosen line"
    );
    assert!(
        log.contains("Booting 'Second' (a-second)"),
        "no booting record"
    );
    eprintln!(
        "menu-edit: menu on screen after {:.1} s, target booted after {:.1} s",
        shown_after.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// A key stops the countdown: nothing boots after the timeout; Enter then boots
/// the highlighted entry.
#[test]
fn a_key_stops_the_countdown() {
    if !qemu_or_skip("a_key_stops_the_countdown") {
        return;
    }
    let s = scenario("menu-stop", "timeout = 2\n");
    let mut vm = s.boot("");
    shows(&mut vm, "Booting in");
    vm.send(b" ").unwrap();
    let t = Instant::now();
    shows(&mut vm, "Enter boots the highlighted entry");
    // Well past the 2 s timeout nothing is loaded.
    let err = vm.wait_for("handoff:", Duration::from_secs(5));
    assert!(err.is_err(), "booted although a key stopped the countdown");
    assert!(t.elapsed() >= Duration::from_secs(4));
    let menu = screen(&vm);
    assert!(line_with(&menu, "First").contains(">* First"), "{menu}");
    // The log viewer: leapboot's lines (kept off the console while the menu is up)
    // and the kernel's from /dev/kmsg, in time order; Home goes to the first.
    vm.send(b"l").unwrap();
    let log = shows(&mut vm, "Log: leapboot and kernel messages");
    assert!(
        log.contains("leapboot: menu: countdown stopped by a key"),
        "{log}"
    );
    vm.send(HOME).unwrap();
    let top = shows(&mut vm, "Linux version 6.1");
    assert!(
        top.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("[    0.000000] Linux version")),
        "{top}"
    );
    vm.send(b"q").unwrap();
    shows(&mut vm, "Enter boots the highlighted entry");
    vm.send(b"\r").unwrap();
    let cmdline = target_cmdline(&mut vm);
    // (systemd-boot's initrd= in front; the boot code may add `leapboot.entry=first`
    // after the entry's options.)
    assert!(
        cmdline.starts_with(&format!(r"initrd=\target.img {TARGET_OPTIONS} entry=first")),
        "{cmdline}"
    );
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    assert_alive(&log);
    assert!(log.contains("leapboot: menu: countdown stopped by a key"));
    assert!(!log.contains("countdown over"));
}

/// No key, `timeout = 2`: the default boots by itself, about 2 s after the menu.
#[test]
fn without_a_key_the_default_boots_after_the_timeout() {
    if !qemu_or_skip("without_a_key_the_default_boots_after_the_timeout") {
        return;
    }
    let s = scenario("menu-timeout", "timeout = 2\n");
    let mut vm = s.boot("");
    let menu = shows(&mut vm, "Booting in");
    let shown = Instant::now();
    assert!(menu.contains("'First'"), "{menu}");
    vm.wait_for(
        "leapboot: menu: countdown over: booting default entry 'b-first'",
        default_timeout(),
    )
    .unwrap();
    let waited = shown.elapsed();
    let cmdline = target_cmdline(&mut vm);
    // (systemd-boot's initrd= in front; the boot code may add `leapboot.entry=first`
    // after the entry's options.)
    assert!(
        cmdline.starts_with(&format!(r"initrd=\target.img {TARGET_OPTIONS} entry=first")),
        "{cmdline}"
    );
    vm.wait_exit(default_timeout()).unwrap();
    assert_alive(&vm.log());
    // The countdown ran (the menu was seen within it, so less than 2 s remain).
    assert!(
        waited <= Duration::from_secs(3) + Duration::from_secs(2),
        "{waited:?}"
    );
    eprintln!(
        "menu-timeout: booted {:.1} s after the menu showed",
        waited.as_secs_f64()
    );
}

/// Sends one command to QEMU's human monitor on a unix socket.
fn monitor(sock: &std::path::Path, command: &str) {
    use std::io::Write;
    let end = Instant::now() + Duration::from_secs(20);
    let mut s = loop {
        match std::os::unix::net::UnixStream::connect(sock) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < end, "monitor {}: {e}", sock.display());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    // The command runs before the monitor reads the next line; closing is fine
    // once the file it writes has appeared (checked by the caller).
    std::thread::sleep(Duration::from_millis(300));
}

/// Waits for a file QEMU writes to reach its final size.
fn wait_file(path: &std::path::Path, min: u64) -> Vec<u8> {
    let end = Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    loop {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len >= min && len == last {
            return std::fs::read(path).unwrap();
        }
        assert!(Instant::now() < end, "{} never written", path.display());
        last = len;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The text in VGA text memory (every even byte of 0xb8000..0xc0000), one line
/// per 80 columns.
fn vga_text(mem: &[u8]) -> String {
    let chars: Vec<char> = mem
        .chunks(2)
        .map(|c| match c[0] {
            0x20..=0x7e => char::from(c[0]),
            _ => ' ',
        })
        .collect();
    chars
        .chunks(80)
        .map(|l| l.iter().collect::<String>().trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A binary PPM (P6, maxval 255) as an RGB PNG.
fn ppm_to_png(ppm: &[u8]) -> Vec<u8> {
    use std::io::Write;
    // Header: "P6", width, height, maxval, each after whitespace; then one byte.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&ppm[start..i]).to_string());
    }
    assert_eq!(fields[0], "P6", "not a binary PPM");
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = &ppm[i + 1..];
    let row = w as usize * 3;
    let mut raw = Vec::with_capacity((row + 1) * h as usize);
    for y in 0..h as usize {
        raw.push(0); // filter: none
        raw.extend_from_slice(&pixels[y * row..(y + 1) * row]);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&raw).unwrap();
    let idat = z.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.finalize().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    png
}

/// Serial and VGA at once: a key typed on the serial line moves the highlight on
/// both; the VGA screen (80x25, which the VT reports) is dumped as a picture,
/// `target/e2e/menu-vga/menu.png` (the README's screenshot, docs/menu.png).
#[test]
fn serial_and_vga_show_the_same_menu() {
    if !qemu_or_skip("serial_and_vga_show_the_same_menu") {
        return;
    }
    use leapboot_qemu::{DiskSpec, Firmware, VmConfig};
    let s = scenario_with("menu-vga", "timeout = -1\n", true);
    let sock = s.dir.join("monitor.sock");
    // SeaBIOS sets up VGA text mode, which the kernel's VGA console takes over.
    let cfg = VmConfig::new(&s.kernel.vmlinuz, s.dir.join("firmware-initrd.img"))
        .append("console=tty0 console=ttyS0,115200 panic=-1 loglevel=4")
        .serial_log(s.dir.join("serial.log"))
        .disk(DiskSpec::virtio(s.dir.join("disk0.img")))
        .firmware(Firmware::SeaBios)
        .extra_arg("-vga")
        .extra_arg("std")
        .extra_arg("-monitor")
        .extra_arg(format!("unix:{},server=on,wait=off", sock.display()));
    let mut vm = Vm::start(cfg).unwrap();
    shows(&mut vm, "Second");
    shows(&mut vm, "Advanced options");
    vm.send(HOME).unwrap();
    vm.send(DOWN).unwrap();
    wait_screen(&mut vm, "the highlight on Second", |s| {
        line_with(s, "Second").contains(">  Second")
    });
    let mem_path = s.dir.join("vga.bin");
    let end = Instant::now() + default_timeout();
    let vga = loop {
        let _ = std::fs::remove_file(&mem_path);
        monitor(
            &sock,
            // Quoted: unquoted, the monitor reads `32768 /work/...` as a division.
            &format!("pmemsave 0xb8000 32768 \"{}\"", mem_path.display()),
        );
        let text = vga_text(&wait_file(&mem_path, 32768));
        if text.contains(">  Second") {
            break text;
        }
        assert!(
            Instant::now() < end,
            "VGA never showed the highlight on Second:\n{text}"
        );
    };
    assert!(vga.contains("Boot entries"), "{vga}");
    assert!(vga.contains("Cmdline  console=ttyS0,115200"), "{vga}");
    // For the picture: open GRUB's submenu and highlight its first entry.
    vm.send(END).unwrap();
    vm.send(UP).unwrap();
    vm.send(b"\r").unwrap();
    vm.send(DOWN).unwrap();
    let grub = wait_screen(&mut vm, "the first entry of the open submenu", |s| {
        line_with(s, "with Linux 6.1.0-50-amd64").starts_with("│>")
    });
    assert!(grub.contains("GRUB /boot/grub/grub.cfg"), "{grub}");
    assert!(grub.contains("(recovery mode)"), "{grub}");
    let end = Instant::now() + default_timeout();
    loop {
        let _ = std::fs::remove_file(&mem_path);
        monitor(
            &sock,
            &format!("pmemsave 0xb8000 32768 \"{}\"", mem_path.display()),
        );
        if vga_text(&wait_file(&mem_path, 32768)).contains("(recovery mode)") {
            break;
        }
        assert!(Instant::now() < end, "VGA never showed the open submenu");
    }
    let ppm_path = s.dir.join("menu.ppm");
    monitor(&sock, &format!("screendump \"{}\"", ppm_path.display()));
    let png = ppm_to_png(&wait_file(&ppm_path, 1000));
    let png_path = s.dir.join("menu.png");
    std::fs::write(&png_path, png).unwrap();
    eprintln!("menu screenshot: {}", png_path.display());
    // Enter on either console boots; here the serial line's.
    vm.send(HOME).unwrap();
    vm.send(DOWN).unwrap();
    vm.send(b"\r").unwrap();
    let cmdline = target_cmdline(&mut vm);
    assert!(cmdline.contains("entry=second"), "{cmdline}");
    assert_alive(&vm.log());
}

/// A GRUB PBKDF2 string (`grub-mkpasswd-pbkdf2` format) for `password`.
fn grub_pbkdf2(password: &str) -> String {
    let salt = b"leapboot-e2e-salt";
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, 1000, &mut out);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    format!("grub.pbkdf2.sha512.1000.{}.{}", hex(salt), hex(&out))
}

/// Locked-down mode: `e` asks for the password; a wrong one edits nothing, the right
/// one opens the editor.
#[test]
fn locked_down_edit_needs_the_password() {
    if !qemu_or_skip("locked_down_edit_needs_the_password") {
        return;
    }
    let settings = format!(
        "timeout = -1\nlockdown = true\npassword = \"{}\"\n",
        grub_pbkdf2("sesame")
    );
    let s = scenario("menu-lockdown", &settings);
    let mut vm = s.boot("");
    shows(&mut vm, "Enter boots");
    vm.send(b"e").unwrap();
    shows(&mut vm, "Locked: password");
    vm.send(b"wrong\r").unwrap();
    let screen = shows(&mut vm, "wrong password");
    assert!(!screen.contains("Edit the command line"), "{screen}");
    assert!(
        !screen.contains("wrong\n"),
        "the password was echoed:\n{screen}"
    );
    vm.send(b"e").unwrap();
    shows(&mut vm, "Locked: password");
    vm.send(b"sesame\r").unwrap();
    shows(&mut vm, "Edit the command line of 'First'");
    assert!(vm.is_running());
    assert_alive(&vm.log());
}
