//! The host commands as a user runs them (issue 14): the binary itself, its exit
//! codes (0 ok, 1 problems found by `check` or an entry that cannot boot, 2 usage or
//! input that cannot be read) and what it says on stderr, without `-v`.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_qemu::disk::{DiskImage, Partition};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of `leapboot` did.
#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

fn run_cmd(mut cmd: Command) -> Run {
    let o = cmd.output().expect("running leapboot");
    Run {
        code: o.status.code().expect("leapboot exited by a signal"),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn leapboot<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leapboot"));
    cmd.args(args);
    run_cmd(cmd)
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("leapboot-cli-exit-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `root` with these files (paths relative to it, parents made).
fn with_files(root: &Path, files: &[(&str, &[u8])]) {
    for (p, data) in files {
        let path = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// A volume root with one bootable BLS entry (`good`).
fn good_root(name: &str) -> PathBuf {
    let d = dir(name);
    with_files(
        &d,
        &[
            (
                "/loader/entries/good.conf",
                b"title Good\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=/dev/vda2 ro\n",
            ),
            ("/vmlinuz", b"not really a kernel"),
            ("/initrd.img", b"070701"),
        ],
    );
    d
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------- item 1

#[test]
fn list_of_a_missing_disk_is_an_error_naming_it() {
    let r = leapboot(&["list", "--disk", "/nonexistent.img"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.err.contains("/nonexistent.img"), "{r:?}");
    assert!(r.err.contains("no such file"), "{r:?}");
}

#[test]
fn check_of_a_missing_disk_or_root_is_an_error() {
    let r = leapboot(&["check", "--disk", "/nonexistent.img"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.err.contains("/nonexistent.img"), "{r:?}");
    let r = leapboot(&["check", "--root", "/nonexistent"]);
    assert_eq!(r.code, 2, "{r:?}");
    // The summary does not pass for a clean bill of health.
    assert!(r.out.contains("1 path(s) given could not be read"), "{r:?}");
    assert!(
        r.err.contains("/nonexistent") && r.err.contains("no such directory"),
        "{r:?}"
    );
}

#[test]
fn a_directory_given_as_disk_suggests_root() {
    let d = dir("disk-is-dir");
    let r = leapboot(&["list", "--disk", &s(&d)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.err.contains(&s(&d)), "{r:?}");
    assert!(r.err.contains("is a directory"), "{r:?}");
    assert!(r.err.contains(&format!("--root {}", s(&d))), "{r:?}");
}

#[test]
fn a_file_given_as_root_suggests_disk() {
    let d = dir("root-is-file");
    let img = d.join("demo.img");
    std::fs::write(&img, vec![0u8; 4096]).unwrap();
    for cmd in ["check", "list"] {
        let r = leapboot(&[cmd, "--root", &s(&img)]);
        assert_eq!(r.code, 2, "{cmd}: {r:?}");
        assert!(
            r.err
                .contains("is a file, not a directory; did you mean --disk"),
            "{cmd}: {r:?}"
        );
        // Said once, not once per path a source looked at.
        assert!(!r.out.contains("not a directory"), "{cmd}: {r:?}");
        assert_eq!(r.err.lines().count(), 1, "{cmd}: {r:?}");
    }
}

#[test]
fn a_readable_input_beside_a_missing_one_is_still_listed() {
    let good = good_root("good-beside-missing");
    let r = leapboot(&["list", "--root", &s(&good), "--disk", "/nonexistent.img"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.out.contains("[good]"), "{r:?}");
    assert!(r.err.contains("/nonexistent.img"), "{r:?}");
}

#[test]
fn good_input_exits_0_and_says_nothing_on_stderr() {
    let good = good_root("good-alone");
    for cmd in ["list", "check"] {
        let r = leapboot(&[cmd, "--root", &s(&good)]);
        assert_eq!(r.code, 0, "{cmd}: {r:?}");
        assert_eq!(r.err, "", "{cmd}: {r:?}");
    }
}

#[test]
fn check_exits_1_on_config_errors() {
    let d = dir("check-errors");
    // A file where the entries directory belongs.
    with_files(&d, &[("/loader/entries", b"not a directory")]);
    let r = leapboot(&["check", "--root", &s(&d)]);
    assert!(r.out.contains("error"), "{r:?}");
    assert_eq!(r.code, 1, "{r:?}");
}

/// `leapboot list` with no arguments as a user who cannot open any disk: an error
/// on stderr without `-v`, and exit 2. Run as `nobody` through `setpriv` when the
/// test runs as root (as `scripts/test` does).
#[test]
fn list_without_arguments_as_a_normal_user_says_why() {
    let mut cmd = if nix_is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_leapboot"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_leapboot"))
    };
    cmd.arg("list");
    let r = match cmd.output() {
        Ok(_) => run_cmd(cmd),
        Err(e) => {
            eprintln!("SKIPPED list_without_arguments_as_a_normal_user_says_why: setpriv: {e}");
            return;
        }
    };
    if r.code == 0 && !r.out.contains("no boot entries") {
        eprintln!("SKIPPED: this user can read a disk here: {r:?}");
        return;
    }
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.err.contains("cannot open") || r.err.contains("no block devices"),
        "{r:?}"
    );
    assert!(
        r.err.contains("--disk") && r.err.contains("--root"),
        "{r:?}"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn help_documents_the_exit_codes() {
    let r = leapboot(&["--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for want in ["Exit status:", "  0 ", "  1 ", "  2 "] {
        assert!(r.out.contains(want), "{want:?} missing in\n{}", r.out);
    }
}

// ---------------------------------------------------------------- item 5

/// `boot --dry-run` prints the handoff report once, on stdout; the stamped log lines
/// stay off stderr without `-v`.
#[test]
fn dry_run_prints_the_report_once() {
    let kernel = match leapboot_qemu::debian_kernel() {
        Ok(k) => k,
        Err(e) => {
            assert!(
                std::env::var_os("LEAPBOOT_REQUIRE_QEMU").is_none_or(|v| v != "1"),
                "the Debian kernel is needed: {e}"
            );
            eprintln!("SKIPPED dry_run_prints_the_report_once: the Debian kernel: {e}");
            return;
        }
    };
    let d = dir("dry-run");
    std::fs::copy(&kernel.vmlinuz, d.join("vmlinuz")).unwrap();
    with_files(
        &d,
        &[
            (
                "/loader/entries/dry.conf",
                b"title Dry\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=/dev/vda2 ro\n",
            ),
            ("/initrd.img", b"07070100000000000000000000000000"),
        ],
    );
    let r = leapboot(&["boot", "--root", &s(&d), "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.out.matches("report for 'dry'").count(), 1, "{r:?}");
    assert!(
        !r.err.contains("handoff:"),
        "report repeated on stderr: {r:?}"
    );
    // With -v the log is there, and the report is still printed once on stdout.
    let r = leapboot(&["boot", "--root", &s(&d), "--dry-run", "-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.out.matches("report for 'dry'").count(), 1, "{r:?}");
    assert!(r.err.contains("leapboot: config:"), "{r:?}");
}

// ---------------------------------------------------------------- item 6

#[test]
fn boot_with_no_entries_says_there_are_none() {
    let d = dir("boot-none");
    let r = leapboot(&["boot", "--root", &s(&d), "--dry-run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!r.err.contains("no entry matches"), "{r:?}");
    assert!(r.err.contains("no boot entries"), "{r:?}");
    assert!(r.err.contains(&s(&d)), "{r:?}");
}

#[test]
fn boot_when_the_only_entry_cannot_boot_says_why() {
    let d = dir("boot-unbootable");
    with_files(
        &d,
        &[(
            "/loader/entries/lonely.conf",
            b"title Lonely\nlinux /missing\n",
        )],
    );
    let r = leapboot(&["boot", "--root", &s(&d), "--dry-run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!r.err.contains("no entry matches"), "{r:?}");
    assert!(r.err.contains("no bootable entry"), "{r:?}");
    assert!(
        r.err.contains("'lonely'") && r.err.contains("/missing"),
        "{r:?}"
    );
}

#[test]
fn boot_of_an_entry_that_does_not_exist_names_the_pattern() {
    let good = good_root("boot-nomatch");
    let r = leapboot(&["boot", "--root", &s(&good), "--entry", "nope*", "--dry-run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.err.contains("no entry matches 'nope*'"), "{r:?}");
    assert!(r.err.contains("good"), "the ids there are: {r:?}");
}

// ---------------------------------------------------------------- item 9

/// (b) An empty command line is said, not printed as `cmdline: ` with a trailing blank.
#[test]
fn list_has_no_trailing_blanks() {
    let d = dir("no-options");
    with_files(
        &d,
        &[
            ("/loader/entries/bare.conf", b"title Bare\nlinux /vmlinuz\n"),
            ("/vmlinuz", b"k"),
        ],
    );
    let r = leapboot(&["list", "--root", &s(&d)]);
    assert_eq!(r.code, 0, "{r:?}");
    for l in r.out.lines() {
        assert!(!l.ends_with(' '), "trailing blank in {l:?}:\n{}", r.out);
    }
    assert!(r.out.contains("cmdline: (empty)"), "{}", r.out);
}

/// (c) The same disk or directory given twice is read once.
#[test]
fn the_same_input_twice_is_listed_once() {
    let good = good_root("twice");
    let again = format!("{}/", s(&good));
    let r = leapboot(&["list", "--root", &s(&good), "--root", &again]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.out.matches("[good]").count(), 1, "{r:?}");

    let d = dir("twice-disk");
    let img = d.join("a.img");
    let built = DiskImage::superfloppy(
        Partition::esp(16)
            .file(
                "/loader/entries/disk.conf",
                "title Disk\nlinux /vmlinuz\noptions x\n",
            )
            .file("/vmlinuz", "k"),
    )
    .write(&img);
    if let Err(e) = built {
        eprintln!("SKIPPED the disk half of the_same_input_twice_is_listed_once: {e}");
        return;
    }
    let r = leapboot(&["list", "--disk", &s(&img), "--disk", &s(&img)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.out.matches("[disk]").count(), 1, "{r:?}");
    let r = leapboot(&["list", "--json", "--disk", &s(&img), "--disk", &s(&img)]);
    assert_eq!(r.out.matches("\"id\": \"disk\"").count(), 1, "{r:?}");
}

/// (d) An empty file and a file of random bytes are told apart.
#[test]
fn empty_and_unreadable_images_are_told_apart() {
    let d = dir("empty-random");
    let empty = d.join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    let random = d.join("random.img");
    // Not random at all, but no partition table or filesystem either.
    let bytes: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();

    let r = leapboot(&["list", "--disk", &s(&empty)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.err.contains("is empty"), "{r:?}");
    let r = leapboot(&["list", "-v", "--disk", &s(&empty)]);
    assert!(r.err.contains("empty.img: empty"), "{r:?}");
    assert!(!r.err.contains("1 partition(s)"), "{r:?}");

    let r = leapboot(&["list", "--disk", &s(&random)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.err
            .contains("no partition table and no filesystem leapboot reads"),
        "{r:?}"
    );
    let r = leapboot(&["list", "-v", "--disk", &s(&random)]);
    assert!(
        r.err
            .contains("random.img: no partition table and no filesystem leapboot reads"),
        "{r:?}"
    );
    assert!(!r.err.contains("1 partition(s)"), "{r:?}");
}

/// Titles, ids and paths from a disk reach the terminal as visible escapes (issue 16):
/// a GRUB title that would retitle the terminal, clear it, overwrite the line with CR
/// and BS, forge a second line, or reorder text with a bidi override is shown escaped
/// by `list`, `check` and the log (`-v`); `--json` keeps the title exact.
#[test]
fn terminal_controls_from_a_disk_are_shown_escaped() {
    let d = dir("terminal-injection");
    let title = "Evil\u{1b}]0;owned\u{7}\u{1b}[2J\rBS\u{8}\nleapboot: menu: * forged\u{202e}";
    let cfg = format!("menuentry '{title}' {{\n linux /vmlinuz-\u{1b}[31m\n}}\n");
    with_files(&d, &[("/boot/grub/grub.cfg", cfg.as_bytes())]);
    for args in [
        vec!["list", "-v", "--root", &s(&d)],
        vec!["check", "-v", "--root", &s(&d)],
    ] {
        let r = leapboot(&args);
        for (name, text) in [("stdout", &r.out), ("stderr", &r.err)] {
            for bad in ['\u{1b}', '\u{7}', '\u{8}', '\r', '\u{202e}'] {
                assert!(
                    !text.contains(bad),
                    "{args:?}: {name} carries {bad:?} raw:\n{text}"
                );
            }
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("leapboot: menu: * forged")),
                "{args:?}: {name} has a forged line:\n{text}"
            );
        }
        let all = format!("{}{}", r.out, r.err);
        assert!(
            all.contains(r"Evil\x1b]0;owned\x07\x1b[2JBS\x08\nleapboot: menu: * forged\u{202e}"),
            "{args:?}: the title is not shown escaped:\n{all}"
        );
    }
    // GRUB's line reader drops every CR (`grub_file_getline`); the rest is exact.
    let r = leapboot(&["list", "--json", "--root", &s(&d)]);
    let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        v["entries"][0]["title"],
        title.replace('\r', ""),
        "{}",
        r.out
    );
}

/// A disk whose primary GPT header was wiped (issue 16, partial damage): its
/// partitions are read from the backup header, as the UEFI spec says, and listed; the
/// damage is a warning, and `check` fails on it.
#[test]
fn a_wiped_primary_gpt_is_read_from_its_backup_and_check_fails() {
    let d = dir("gpt-wiped");
    let img = d.join("disk.img");
    let esp = Partition::esp(34)
        .file("/vmlinuz", "kernel")
        .file("/loader/entries/good.conf", "title Good\nlinux /vmlinuz\n");
    DiskImage::gpt(40).partition(esp).write(&img).unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[512..1024].fill(0);
    std::fs::write(&img, &bytes).unwrap();

    let r = leapboot(&["list", "--disk", &s(&img)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("Good [good]"), "{r:?}");
    assert!(
        r.err.contains("warning: disk.img: GPT: no primary header at LBA 1; partitions read from the backup header"),
        "{r:?}"
    );
    let r = leapboot(&["check", "--disk", &s(&img)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.out.contains("1 damaged partition table(s) read around"),
        "{r:?}"
    );
}

/// A disk holding only an encrypted volume is read, not unreadable: `list` names the
/// LUKS volume as a warning and exits 0 (leapboot lists it, and does not unlock it).
#[test]
fn a_disk_with_only_luks_is_listed_as_locked_not_unreadable() {
    let d = dir("luks-only");
    let img = d.join("luks.img");
    let image = DiskImage::gpt(0).partition(Partition::new(
        leapboot_qemu::PartType::Linux,
        20,
        leapboot_qemu::Filesystem::luks2("5a9a7c3e-0000-4000-8000-0000000000aa", "vault"),
    ));
    let missing = image.missing_requirements();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("LEAPBOOT_REQUIRE_QEMU").is_none(),
            "cannot build a LUKS image: {missing:?}"
        );
        eprintln!("skipped: cannot build a LUKS image: {missing:?}");
        return;
    }
    image.write(&img).unwrap();
    let r = leapboot(&["list", "--disk", &s(&img)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.err.contains("encrypted (LUKS2)") && r.err.contains("not unlocked by leapboot"),
        "{r:?}"
    );
}
