//! Conformance of leapboot's Boot Loader Specification handling with systemd's own code:
//! for each layout (the BLS trees of the shared corpus plus layouts built here), the
//! order, ids, titles and default that `Menu::assemble` gives must equal what
//! `bootctl --esp-path=DIR list --no-variables` (Debian's systemd-boot package, systemd
//! 252) prints for the same tree.
//!
//! bootctl is systemd's userspace view; leapboot follows the boot loader itself
//! (`src/boot/boot.c`) where the two differ. Each such difference is an explicit,
//! checked [`Exception`] on the layout that shows it (an exception that no longer
//! happens fails the test):
//!
//! - [`Exception::Hidden`]: bootctl lists an entry the boot loader skips (another
//!   architecture; no `linux`/`efi` key; both `linux` and `efi`; an `auto-*` file name).
//! - [`Exception::Order`]: bootctl compares ids with their case; the boot loader lowercases
//!   them first (`strtolower16`).
//! - [`Exception::Title`]: bootctl keeps quotes around a value and adds the whole
//!   machine-id to clashing titles; the boot loader unquotes and adds 8 characters.
//! - [`Exception::Default`]: bootctl may pick an entry whose kernel is missing; the boot
//!   loader never lists such an entry, and leapboot lists it as unbootable and skips it.
//!
//! An entry whose kernel is missing is listed by both; the test checks that leapboot
//! marks exactly the entries bootctl reports as "No such file or directory" unbootable.
//!
//! Each layout is written to a fresh tmpfs (bootctl wants the ESP to be the root of a
//! mount; `SYSTEMD_RELAX_ESP_CHECKS=1` lets it accept a tmpfs). Without root, a working
//! `mount` or `bootctl`, the test prints a notice and passes, unless
//! `LEAPBOOT_REQUIRE_BOOTCTL=1`, when it fails. Corpus layouts are read from
//! `../shared/corpus/bls` beside the repository and skipped with a notice when absent.

// Test helpers outside #[test] fns unwrap, expect and panic: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_menus::entry::{VolumeInfo, VolumeRole};
use leapboot_menus::fs::MemFs;
use leapboot_menus::scan::{VolumeView, scan_all};
use leapboot_menus::{Menu, bls::uki};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of a layout: path within the volume and contents.
type Files = Vec<(String, Vec<u8>)>;

/// A known difference between bootctl 252 and the boot loader, which leapboot follows.
#[derive(Debug, Clone)]
enum Exception {
    /// bootctl lists this id; the boot loader (and leapboot) hide it, and leapboot's
    /// diagnostics for its file contain `why`.
    Hidden { id: &'static str, why: &'static str },
    /// The order leapboot (and the boot loader) give, differing from bootctl's.
    Order {
        leapboot: &'static [&'static str],
        why: &'static str,
    },
    /// The title of `id` differs.
    Title {
        id: &'static str,
        bootctl: &'static str,
        leapboot: &'static str,
        why: &'static str,
    },
    /// The default differs.
    Default {
        bootctl: &'static str,
        leapboot: Option<&'static str>,
        why: &'static str,
    },
    /// leapboot lists this id as unbootable although bootctl reports no missing file.
    Unbootable { id: &'static str, why: &'static str },
}

/// One layout: the ESP's files, optionally an XBOOTLDR partition's, the exceptions.
struct Layout {
    name: String,
    esp: Files,
    xbootldr: Option<Files>,
    exceptions: Vec<Exception>,
    /// The order both must give, when the layout pins it (a spec vector).
    want_order: Option<Vec<&'static str>>,
}

impl Layout {
    fn new(name: &str, esp: Files) -> Self {
        Layout {
            name: name.into(),
            esp,
            xbootldr: None,
            exceptions: Vec::new(),
            want_order: None,
        }
    }
    fn except(mut self, e: Exception) -> Self {
        self.exceptions.push(e);
        self
    }
    fn order(mut self, ids: &[&'static str]) -> Self {
        self.want_order = Some(ids.to_vec());
        self
    }
}

fn file(path: &str, text: &str) -> (String, Vec<u8>) {
    (path.to_string(), text.as_bytes().to_vec())
}

fn entry(name: &str, text: &str) -> (String, Vec<u8>) {
    file(&format!("/loader/entries/{name}"), text)
}

// ---------------------------------------------------------------- environment

/// Whether the environment can run bootctl on a tmpfs; prints why not.
fn bootctl_usable(what: &str) -> bool {
    let require = std::env::var("LEAPBOOT_REQUIRE_BOOTCTL").is_ok_and(|v| v == "1");
    let why = match Command::new("bootctl").arg("--version").output() {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "bootctl --version failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("bootctl not found ({e}); install Debian's systemd-boot package"),
    };
    if require {
        panic!("{what}: LEAPBOOT_REQUIRE_BOOTCTL=1 but {why}");
    }
    eprintln!("SKIP {what}: {why}");
    false
}

/// A tmpfs mounted on a fresh directory, unmounted and removed on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(tag: &str) -> Result<Tmpfs, String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("leapboot-bls-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m,mode=0755", "leapboot-test"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn write(&self, files: &Files) {
        for (path, data) in files {
            let p = self.dir.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

// ---------------------------------------------------------------- bootctl side

/// One entry as `bootctl list` prints it.
#[derive(Debug, Clone)]
struct Listed {
    id: String,
    title: String,
    default: bool,
    missing: bool,
}

/// Parses `bootctl list` output: blocks of right-aligned `key: value` lines separated by
/// blank lines; markers ` (default)`, ` (selected)`, ` (not reported/new)` follow the
/// title; a missing file shows as `linux: /path (No such file or directory)`.
fn parse_bootctl(out: &str) -> Vec<Listed> {
    let mut v = Vec::new();
    for block in out.split("\n\n") {
        let mut id = None;
        let mut title = None;
        let mut missing = false;
        for line in block.lines() {
            let Some((k, val)) = line.split_once(": ") else {
                continue;
            };
            match k.trim() {
                "id" => id = Some(val.to_string()),
                "title" => title = Some(val.to_string()),
                "linux" | "efi" | "initrd" if val.ends_with("(No such file or directory)") => {
                    missing = true
                }
                _ => {}
            }
        }
        let (Some(id), Some(mut title)) = (id, title) else {
            continue;
        };
        let mut default = false;
        loop {
            if let Some(t) = title.strip_suffix(" (not reported/new)") {
                title = t.to_string();
            } else if let Some(t) = title.strip_suffix(" (selected)") {
                title = t.to_string();
            } else if let Some(t) = title.strip_suffix(" (default)") {
                title = t.to_string();
                default = true;
            } else {
                break;
            }
        }
        v.push(Listed {
            id,
            title,
            default,
            missing,
        });
    }
    v
}

fn run_bootctl(esp: &Path, xbootldr: Option<&Path>) -> Vec<Listed> {
    let mut cmd = Command::new("bootctl");
    cmd.arg(format!("--esp-path={}", esp.display()));
    if let Some(x) = xbootldr {
        cmd.arg(format!("--boot-path={}", x.display()));
    }
    cmd.args(["list", "--no-variables", "--no-pager"])
        .env("SYSTEMD_RELAX_ESP_CHECKS", "1")
        .env("SYSTEMD_RELAX_XBOOTLDR_CHECKS", "1")
        .env("SYSTEMD_LOG_LEVEL", "err");
    let out = cmd.output().expect("run bootctl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bootctl failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_bootctl(&stdout)
}

// ---------------------------------------------------------------- leapboot side

struct Ours {
    menu: Menu,
    diags: Vec<String>,
}

fn run_leapboot(l: &Layout) -> Ours {
    let mk = |files: &Files| {
        let mut fs = MemFs::new();
        for (p, d) in files {
            fs.insert(p, d.clone());
        }
        fs
    };
    let esp_info = VolumeInfo {
        uuid: Some("1111-AAAA".into()),
        label: None,
        device: "esp".into(),
        fs_type: "vfat".into(),
        role: VolumeRole::Esp,
    };
    let x_info = VolumeInfo {
        uuid: Some("2222-BBBB".into()),
        label: None,
        device: "xbootldr".into(),
        fs_type: "vfat".into(),
        role: VolumeRole::Xbootldr,
    };
    let esp_fs = mk(&l.esp);
    let x_fs = l.xbootldr.as_ref().map(mk);
    let mut views = vec![VolumeView {
        info: &esp_info,
        fs: &esp_fs,
    }];
    if let Some(x) = &x_fs {
        views.push(VolumeView {
            info: &x_info,
            fs: x,
        });
    }
    let scans = scan_all(&views);
    let diags = scans
        .iter()
        .flat_map(|s| s.diagnostics.iter().map(|d| d.to_string()))
        .collect();
    Ours {
        menu: Menu::assemble(&scans, None),
        diags,
    }
}

fn sd_id(e: &leapboot_menus::Entry) -> String {
    e.bls.as_ref().expect("BLS entry").sd_id.clone()
}

// ---------------------------------------------------------------- comparison

/// Compares one layout; returns a description of every mismatch.
fn check(l: &Layout, listed: Vec<Listed>, ours: &Ours) -> Vec<String> {
    let mut errs = Vec::new();
    let mut listed = listed;
    // Ids are compared in lower case: the boot loader lowercases them, bootctl does not.
    for e in &mut listed {
        e.id = e.id.to_ascii_lowercase();
    }
    let ours_ids: Vec<String> = ours.menu.entries.iter().map(sd_id).collect();

    for ex in &l.exceptions {
        if let Exception::Hidden { id, why } = ex {
            let before = listed.len();
            listed.retain(|e| e.id != *id);
            if listed.len() == before {
                errs.push(format!(
                    "exception Hidden({id}) unused: bootctl does not list it"
                ));
            }
            if ours_ids.iter().any(|o| o == id) {
                errs.push(format!("{id} should be hidden by leapboot"));
            }
            let stem = id.trim_end_matches(".conf").trim_end_matches(".efi");
            if !ours
                .diags
                .iter()
                .any(|d| d.to_ascii_lowercase().contains(stem) && d.contains(why))
            {
                errs.push(format!(
                    "no diagnostic for hidden {id} mentioning {why:?}: {:?}",
                    ours.diags
                ));
            }
        }
    }

    // Order.
    let theirs_ids: Vec<String> = listed.iter().map(|e| e.id.clone()).collect();
    let mut want: Vec<String> = theirs_ids.clone();
    for ex in &l.exceptions {
        if let Exception::Order { leapboot, .. } = ex {
            let lp: Vec<String> = leapboot.iter().map(|s| s.to_string()).collect();
            if lp == theirs_ids {
                errs.push("exception Order unused: bootctl gives the same order".into());
            }
            want = lp;
        }
    }
    if let Some(pinned) = &l.want_order {
        let pinned: Vec<String> = pinned.iter().map(|s| s.to_string()).collect();
        if want != pinned {
            errs.push(format!(
                "bootctl order {want:?} differs from the pinned vector {pinned:?}"
            ));
        }
    }
    if ours_ids != want {
        errs.push(format!("order: leapboot {ours_ids:?}, expected {want:?}"));
        return errs;
    }

    // Titles and bootability, entry by entry.
    for e in &listed {
        let Some(ours_e) = ours.menu.entries.iter().find(|o| sd_id(o) == e.id) else {
            continue;
        };
        let mut want_title = e.title.clone();
        for ex in &l.exceptions {
            match ex {
                Exception::Title {
                    id,
                    bootctl,
                    leapboot,
                    ..
                } if *id == e.id => {
                    if e.title != *bootctl {
                        errs.push(format!(
                            "exception Title({id}): bootctl shows {:?}, not {bootctl:?}",
                            e.title
                        ));
                    }
                    want_title = leapboot.to_string();
                }
                _ => {}
            }
        }
        if ours_e.title != want_title {
            errs.push(format!(
                "title of {}: leapboot {:?}, expected {want_title:?}",
                e.id, ours_e.title
            ));
        }
        let mut want_unbootable = e.missing;
        for ex in &l.exceptions {
            match ex {
                Exception::Unbootable { id, why } if *id == e.id => {
                    if e.missing {
                        errs.push(format!(
                            "exception Unbootable({id}) unused: bootctl reports a missing file"
                        ));
                    }
                    if !ours_e.problem.as_deref().unwrap_or("").contains(why) {
                        errs.push(format!(
                            "{id}: leapboot's problem {:?} does not mention {why:?}",
                            ours_e.problem
                        ));
                    }
                    want_unbootable = true;
                }
                _ => {}
            }
        }
        if want_unbootable == ours_e.bootable() {
            errs.push(format!(
                "{}: bootctl says a file is missing: {}, leapboot problem: {:?}",
                e.id, e.missing, ours_e.problem
            ));
        }
    }

    // Default.
    let theirs_default = listed.iter().find(|e| e.default).map(|e| e.id.clone());
    let ours_default = ours.menu.default_entry().map(sd_id);
    let mut want_default = theirs_default.clone();
    for ex in &l.exceptions {
        if let Exception::Default {
            bootctl, leapboot, ..
        } = ex
        {
            if theirs_default.as_deref() != Some(*bootctl) {
                errs.push(format!(
                    "exception Default: bootctl default is {theirs_default:?}, not {bootctl}"
                ));
            }
            want_default = leapboot.map(str::to_string);
        }
    }
    if ours_default != want_default {
        errs.push(format!(
            "default: leapboot {ours_default:?}, expected {want_default:?}"
        ));
    }
    errs
}

// ---------------------------------------------------------------- layouts

/// The corpus layouts: each folder holding a `loader/` or `EFI/` tree is one ESP.
fn corpus_layouts() -> Option<Vec<Layout>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/bls");
    if !root.is_dir() {
        // scripts/test (and so CI, which has ../shared) must not pass without them.
        assert!(
            std::env::var_os("LEAPBOOT_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
            "{} is missing and LEAPBOOT_REQUIRE_CORPUS=1",
            root.display()
        );
        eprintln!(
            "SKIP corpus layouts: {} not found (a plain clone has no ../shared)",
            root.display()
        );
        return None;
    }
    fn walk(base: &Path, dir: &Path, out: &mut Files) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(data) = std::fs::read(&p) {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((format!("/{rel}"), data));
            }
        }
    }
    let mut layouts = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let is_tree = dir.join("loader").is_dir() || dir.join("EFI").is_dir();
        let has_conf_only = !is_tree
            && std::fs::read_dir(&dir)
                .ok()?
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "conf"));
        if is_tree || has_conf_only {
            let mut files = Files::new();
            walk(&dir, &dir, &mut files);
            files.sort();
            let name = format!("corpus/{}", dir.strip_prefix(&root).unwrap().display());
            if has_conf_only {
                // A lone entry file (u-root's typeone): as an ESP root (both list nothing)
                // and placed in /loader/entries.
                let placed: Files = files
                    .iter()
                    .map(|(p, d)| (format!("/loader/entries{p}"), d.clone()))
                    .collect();
                layouts.push(Layout::new(&format!("{name} (in /loader/entries)"), placed));
            }
            layouts.push(Layout::new(&name, files));
        } else if let Ok(rd) = std::fs::read_dir(&dir) {
            stack.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    layouts.sort_by(|a, b| a.name.cmp(&b.name));
    for l in &mut layouts {
        // u-root's madeup: entry-1 names a relative "fakefile" (so /fakefile, missing) and
        // entry-2 has no linux key at all.
        if l.name == "corpus/uroot/madeup" {
            l.exceptions.push(Exception::Hidden {
                id: "entry-2.conf",
                why: "no 'linux'",
            });
            l.exceptions.push(Exception::Title {
                id: "entry-1.conf",
                bootctl: "Fedora 19 (Rawhide) (3.8.0-2.fc19.x86_64) (6a9857a393724b7a981ebb5b8495b9ea) (entry-1.conf)",
                leapboot: "Fedora 19 (Rawhide)",
                why: "bootctl makes titles unique among entries the loader does not list (entry-2 has no kernel \
                      key, entry-1's kernel is missing); the loader lists neither",
            });
        }
        if l.name == "corpus/uroot/typeone (in /loader/entries)" {
            l.exceptions.push(Exception::Default {
                bootctl: "fedora.conf",
                leapboot: None,
                why: "its kernel is missing: the loader does not list it, leapboot lists it unbootable, so no default",
            });
        }
    }
    Some(layouts)
}

fn kernel() -> Vec<(String, Vec<u8>)> {
    vec![file("/vmlinuz", "K"), file("/initrd.img", "I")]
}

/// Layouts made here, one per rule group.
fn own_layouts() -> Vec<Layout> {
    let mut v = Vec::new();

    // systemd's bootspec_sort vector, bootable.
    let mut esp = kernel();
    for (f, body) in [
        (
            "a-10.conf",
            "title A\nversion 10\nmachine-id dd235d00696545768f6f693bfd23b15f\n",
        ),
        (
            "a-5.conf",
            "title A\nversion 5\nmachine-id dd235d00696545768f6f693bfd23b15f\n",
        ),
        (
            "b.conf",
            "title B\nversion 3\nmachine-id b75451ad92f94feeab50b0b442768dbd\n",
        ),
        (
            "c.conf",
            "title C\nsort-key xxxx\nversion 5\nmachine-id 309de666fd5044268a9a26541ac93176\n",
        ),
        (
            "cx.conf",
            "title C\nsort-key xxxx\nversion 10\nmachine-id 309de666fd5044268a9a26541ac93176\n",
        ),
        (
            "d.conf",
            "title D\nsort-key kkkk\nversion 100\nmachine-id 81c6e3147cf544c19006af023e22b292\n",
        ),
    ] {
        esp.push(entry(f, &format!("{body}linux /vmlinuz\n")));
    }
    v.push(Layout::new("own/bootspec-sort", esp).order(&[
        "d.conf",
        "cx.conf",
        "c.conf",
        "b.conf",
        "a-10.conf",
        "a-5.conf",
    ]));

    // Sort keys, machine-ids, versions; a default glob matching several: newest wins.
    let mut esp = kernel();
    for (f, sk, mid, ver) in [
        (
            "fed1-6.8.5.conf",
            Some("fedora"),
            "aaaa0000aaaa0000aaaa0000aaaa0000",
            "6.8.5-301.fc40",
        ),
        (
            "fed1-6.10.0.conf",
            Some("fedora"),
            "aaaa0000aaaa0000aaaa0000aaaa0000",
            "6.10.0-1.fc40",
        ),
        (
            "fed2-6.9.0.conf",
            Some("fedora"),
            "bbbb0000bbbb0000bbbb0000bbbb0000",
            "6.9.0-1.fc40",
        ),
        (
            "deb-6.1.0-9.conf",
            Some("debian"),
            "cccc0000cccc0000cccc0000cccc0000",
            "6.1.0-9-amd64",
        ),
        (
            "deb-6.1.0-50.conf",
            Some("debian"),
            "cccc0000cccc0000cccc0000cccc0000",
            "6.1.0-50-amd64",
        ),
        (
            "legacy-4.19.conf",
            None,
            "dddd0000dddd0000dddd0000dddd0000",
            "4.19",
        ),
        (
            "legacy-5.4.conf",
            None,
            "dddd0000dddd0000dddd0000dddd0000",
            "5.4",
        ),
        (
            "nover.conf",
            Some("fedora"),
            "aaaa0000aaaa0000aaaa0000aaaa0000",
            "",
        ),
    ] {
        let mut body = format!(
            "title {f}\nmachine-id {mid}\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=/dev/vda2\noptions quiet\n"
        );
        if let Some(sk) = sk {
            body.push_str(&format!("sort-key {sk}\n"));
        }
        if !ver.is_empty() {
            body.push_str(&format!("version {ver}\n"));
        }
        esp.push(entry(f, &body));
    }
    esp.push(file("/loader/loader.conf", "timeout 3\ndefault fed1-*\n"));
    v.push(Layout::new("own/sort-keys-machine-ids", esp));

    // Boot counters: no tries left goes last, counters are not part of the id, a counter
    // that is not one stays in the id, loader.conf's default may name the bad entry's id.
    let mut esp = kernel();
    for (f, ver) in [
        ("os-6.1+3.conf", "6.1"),
        ("os-6.2+0-3.conf", "6.2"),
        ("os-6.3+1-2.conf", "6.3"),
        ("os-5.0+2-0.conf", "5.0"),
        ("abc+0x4.conf", "1"),
        ("plain-7.conf", "7"),
    ] {
        esp.push(entry(
            f,
            &format!("title T {f}\nversion {ver}\nlinux /vmlinuz\n"),
        ));
    }
    esp.push(file("/loader/loader.conf", "default os-6.2*\n"));
    v.push(Layout::new("own/boot-counters", esp));

    // Bad entries: missing kernel and initrd (listed, unbootable), other architecture,
    // no linux key, linux plus efi, auto-* and dot files; default names a missing kernel.
    let other_arch = if leapboot_menus::bls::HOST_ARCH == "aa64" {
        "x64"
    } else {
        "aa64"
    };
    let mut esp = kernel();
    esp.extend([
        entry("good-1.conf", "title Good 1\nlinux /vmlinuz\n"),
        entry(
            "nokernel-9.conf",
            "title No kernel\nlinux /vmlinuz-missing\n",
        ),
        entry(
            "noinitrd-8.conf",
            "title No initrd\nlinux /vmlinuz\ninitrd /initrd.img\ninitrd /gone.img\n",
        ),
        entry(
            "arch-7.conf",
            &format!("title Other arch\nlinux /vmlinuz\narchitecture {other_arch}\n"),
        ),
        entry("nolinux-6.conf", "title No linux\noptions quiet\n"),
        entry("both-5.conf", "title Both\nlinux /vmlinuz\nefi /vmlinuz\n"),
        entry("auto-4.conf", "title Auto\nlinux /vmlinuz\n"),
        entry(".dot-3.conf", "title Dot\nlinux /vmlinuz\n"),
        entry("notconf-2.txt", "title Txt\nlinux /vmlinuz\n"),
        file("/loader/loader.conf", "default nokernel-*\n"),
    ]);
    v.push(
        Layout::new("own/bad-entries", esp)
            .except(Exception::Hidden { id: "arch-7.conf", why: "architecture" })
            .except(Exception::Hidden { id: "nolinux-6.conf", why: "no 'linux'" })
            .except(Exception::Hidden { id: "both-5.conf", why: "both" })
            .except(Exception::Hidden { id: "auto-4.conf", why: "auto-" })
            .except(Exception::Unbootable {
                id: "noinitrd-8.conf",
                why: "initrd /gone.img not found",
            })
            .except(Exception::Default {
                bootctl: "nokernel-9.conf",
                leapboot: Some("good-1.conf"),
                why: "the loader does not list an entry whose kernel is missing, so the pattern matches nothing there \
                      and it falls to the first entry, noinitrd-8, which fails when its initrd cannot be read; \
                      leapboot refuses entries with missing files before kexec (a kexec cannot come back) and \
                      falls to the first bootable entry",
            }),
    );

    // loader.conf default patterns: case, character classes, '?', exact id with .conf,
    // an id without .conf (matches nothing), @saved (nothing to match).
    for (n, conf) in [
        ("glob-case", "default DEBIAN-*\n"),
        ("class", "default debian-6.1.0-[0-9].conf\n"),
        ("question", "default debian-?.?.?-50*\n"),
        ("exact", "default debian-6.1.0-9.conf\n"),
        ("without-conf", "default debian-6.1.0-9\n"),
        ("saved", "default @saved\n"),
        ("quoted-tab", "default\t\"fallback*\"\n"),
        ("last-wins", "default debian-*\ndefault fallback*\n"),
        ("none", "timeout menu-force\neditor no\n"),
        ("negated-set", "default debian-6.1.0-[!5]*\n"),
    ] {
        let mut esp = kernel();
        for f in [
            "debian-6.1.0-9.conf",
            "debian-6.1.0-50.conf",
            "fallback.conf",
            "zz-other.conf",
        ] {
            esp.push(entry(f, &format!("title {f}\nlinux /vmlinuz\n")));
        }
        esp.push(file("/loader/loader.conf", conf));
        let mut l = Layout::new(&format!("own/loader-conf-{n}"), esp);
        if n == "negated-set" {
            l = l.except(Exception::Default {
                bootctl: "debian-6.1.0-9.conf",
                leapboot: Some("debian-6.1.0-50.conf"),
                why: "the loader's efi_fnmatch has no negated sets: '!' is a member, so [!5] matches '5'",
            });
        }
        if n == "quoted-tab" {
            l = l.except(Exception::Default {
                bootctl: "zz-other.conf",
                leapboot: Some("fallback.conf"),
                why: "the loader's line_get_key_value removes the quotes; bootctl matches the quotes literally",
            });
        }
        v.push(l);
    }

    // ESP plus XBOOTLDR: entries merged and ordered together; loader.conf on the ESP.
    let mut esp = kernel();
    esp.push(entry(
        "esp-a-2.conf",
        "title ESP A\nsort-key os\nversion 2\nlinux /vmlinuz\n",
    ));
    esp.push(entry("esp-b.conf", "title ESP B\nlinux /vmlinuz\n"));
    esp.push(file("/loader/loader.conf", "default xb-*\n"));
    let mut xb = kernel();
    xb.push(entry(
        "xb-a-3.conf",
        "title XB A\nsort-key os\nversion 3\nlinux /vmlinuz\n",
    ));
    xb.push(entry("xb-c.conf", "title XB C\nlinux /vmlinuz\n"));
    xb.push(entry("xb-d+1-1.conf", "title XB D\nlinux /vmlinuz\n"));
    let mut l = Layout::new("own/esp-plus-xbootldr", esp);
    l.xbootldr = Some(xb);
    v.push(l);

    // Unified kernel images beside Type #1 entries: title/version/sort-key from .osrel,
    // counters on .efi names, an image without .osrel (neither lists it), default *.efi.
    let m = uki::HOST_MACHINE;
    let img = |osrel: &str, cmdline: &str| {
        uki::build(
            m,
            &[
                (".osrel", osrel.as_bytes()),
                (".cmdline", cmdline.as_bytes()),
                (".linux", b"KERNEL"),
                (".initrd", b"INITRD"),
            ],
        )
    };
    let mut esp = kernel();
    esp.extend([
        (
            "/EFI/Linux/fedora-6.8.5.efi".to_string(),
            img(
                "NAME=Fedora\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40\"\n",
                "root=x quiet\n",
            ),
        ),
        (
            "/EFI/Linux/fedora-6.10.0+2.efi".to_string(),
            img(
                "NAME=Fedora\nID=fedora\nVERSION_ID=41\nPRETTY_NAME=\"Fedora Linux 41\"\n",
                "root=x",
            ),
        ),
        (
            "/EFI/Linux/appliance.efi".to_string(),
            img(
                "NAME=Appliance\nID=base\nIMAGE_ID=appl\nIMAGE_VERSION=7.1\n",
                "",
            ),
        ),
        (
            "/EFI/Linux/plain.efi".to_string(),
            img("ID=plain\nBUILD_ID=2024\n", "x"),
        ),
        (
            "/EFI/Linux/noosrel.efi".to_string(),
            uki::build(m, &[(".linux", b"K")]),
        ),
        (
            "/EFI/Linux/readme.txt".to_string(),
            b"not an image".to_vec(),
        ),
        entry(
            "fedora-6.9.0.conf",
            "title Fedora (type 1)\nsort-key fedora\nversion 6.9.0\nlinux /vmlinuz\n",
        ),
        entry("other.conf", "title Other\nlinux /vmlinuz\n"),
        file("/loader/loader.conf", "default fedora-*.efi\n"),
    ]);
    v.push(Layout::new("own/uki-and-type1", esp));

    // Ids in upper case: the loader lowercases ids before ordering and matching.
    let mut esp = kernel();
    esp.extend([
        entry("Zeta.conf", "title Zeta\nlinux /vmlinuz\n"),
        entry("alpha.conf", "title alpha\nlinux /vmlinuz\n"),
        entry("MID.CONF", "title Mid\nlinux /vmlinuz\n"),
        file("/loader/loader.conf", "default ZETA.*\n"),
    ]);
    v.push(Layout::new("own/id-case", esp).except(Exception::Order {
        leapboot: &["zeta.conf", "mid.conf", "alpha.conf"],
        why: "bootctl orders ids with their case ('Z' < 'a'); the loader lowercases them first",
    }));

    // Titles: clashing titles get version, then machine-id, then id; quotes; no title.
    let mut esp = kernel();
    esp.extend([
        entry("t-1.conf", "title Same\nversion 1\nlinux /vmlinuz\n"),
        entry("t-2.conf", "title Same\nversion 2\nlinux /vmlinuz\n"),
        entry(
            "u-1.conf",
            "title Twin\nversion 1\nmachine-id 0123456789abcdef0123456789abcdef\nlinux /vmlinuz\n",
        ),
        entry(
            "u-2.conf",
            "title Twin\nversion 1\nmachine-id fedcba9876543210fedcba9876543210\nlinux /vmlinuz\n",
        ),
        entry("q.conf", "title \"Quoted Title\"\nlinux /vmlinuz\n"),
        entry("untitled.conf", "version 3\nlinux /vmlinuz\n"),
    ]);
    v.push(
        Layout::new("own/titles", esp)
            .except(Exception::Title {
                id: "u-1.conf",
                bootctl: "Twin (1) (0123456789abcdef0123456789abcdef)",
                leapboot: "Twin (1) (01234567)",
                why: "the loader adds 8 characters of the machine-id, bootctl all of it",
            })
            .except(Exception::Title {
                id: "u-2.conf",
                bootctl: "Twin (1) (fedcba9876543210fedcba9876543210)",
                leapboot: "Twin (1) (fedcba98)",
                why: "the loader adds 8 characters of the machine-id, bootctl all of it",
            })
            .except(Exception::Title {
                id: "q.conf",
                bootctl: "\"Quoted Title\"",
                leapboot: "Quoted Title",
                why: "the loader's line_get_key_value removes surrounding double quotes",
            }),
    );
    v
}

// ---------------------------------------------------------------- driver

/// One line naming an exception and why it exists, for the printed table.
fn describe(e: &Exception) -> String {
    match e {
        Exception::Hidden { id, why } => format!("hidden {id} ({why})"),
        Exception::Order { leapboot, why } => format!("order {leapboot:?} ({why})"),
        Exception::Title {
            id, leapboot, why, ..
        } => format!("title {id} = {leapboot:?} ({why})"),
        Exception::Default {
            bootctl,
            leapboot,
            why,
        } => format!("default {bootctl} -> {leapboot:?} ({why})"),
        Exception::Unbootable { id, why } => format!("unbootable {id} ({why})"),
    }
}

fn run_layouts(what: &str, layouts: Vec<Layout>) {
    if !bootctl_usable(what) {
        return;
    }
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for l in &layouts {
        let esp = match Tmpfs::mount("esp") {
            Ok(t) => t,
            Err(e) => {
                if std::env::var("LEAPBOOT_REQUIRE_BOOTCTL").is_ok_and(|v| v == "1") {
                    panic!("{what}: LEAPBOOT_REQUIRE_BOOTCTL=1 but {e}");
                }
                eprintln!("SKIP {what}: {e} (needs root)");
                return;
            }
        };
        esp.write(&l.esp);
        let xb = l.xbootldr.as_ref().map(|files| {
            let t = Tmpfs::mount("xbootldr").expect("second tmpfs");
            t.write(files);
            t
        });
        let listed = run_bootctl(&esp.dir, xb.as_ref().map(|t| t.dir.as_path()));
        let ours = run_leapboot(l);
        let errs = check(l, listed.clone(), &ours);
        let kinds: Vec<String> = l.exceptions.iter().map(describe).collect();
        table.push(format!(
            "{:<44} {:>2} entries  matches bootctl: {:<3}  exceptions: {}",
            l.name,
            listed.len(),
            if errs.is_empty() { "yes" } else { "NO" },
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join("; ")
            }
        ));
        if !errs.is_empty() {
            let ours_view: Vec<_> = ours
                .menu
                .entries
                .iter()
                .map(|e| (sd_id(e), e.title.clone(), e.problem.clone()))
                .collect();
            failures.push(format!(
                "{}:\n  {}\n  bootctl: {listed:?}\n  leapboot: {ours_view:?} default {:?}\n  diagnostics: {:?}",
                l.name,
                errs.join("\n  "),
                ours.menu.default,
                ours.diags
            ));
        }
    }
    eprintln!("{what}:\n{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} layout(s) differ from bootctl:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_layouts_match_bootctl() {
    if let Some(layouts) = corpus_layouts() {
        assert!(!layouts.is_empty(), "no layouts found in the corpus");
        run_layouts("corpus layouts", layouts);
    }
}

#[test]
fn own_layouts_match_bootctl() {
    run_layouts("own layouts", own_layouts());
}

/// The UAPI version comparison against `systemd-analyze compare-versions` on a few hundred
/// generated pairs (systemd's own `strverscmp_improved`).
#[test]
fn version_compare_matches_systemd_analyze() {
    let require = std::env::var("LEAPBOOT_REQUIRE_BOOTCTL").is_ok_and(|v| v == "1");
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(
            !require,
            "LEAPBOOT_REQUIRE_BOOTCTL=1 but systemd-analyze is missing"
        );
        eprintln!("SKIP version oracle: systemd-analyze not found");
        return;
    }
    let alphabet: Vec<char> = "0129aAbz.-~^_+".chars().collect();
    let mut x: u32 = 0x2545_f491;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let word = |next: &mut dyn FnMut() -> u32| {
        let n = next() % 7;
        (0..n)
            .map(|_| alphabet[(next() as usize) % alphabet.len()])
            .collect::<String>()
    };
    let mut bad = Vec::new();
    for _ in 0..300 {
        let a = word(&mut next);
        let b = if next() % 2 == 0 {
            format!("{}{}", &a[..a.len() / 2], &word(&mut next)[..0])
        } else {
            word(&mut next)
        };
        let out = Command::new("systemd-analyze")
            .args(["compare-versions", "--", &a, &b])
            .output()
            .unwrap();
        // Exit status (systemd 252): 12 for a < b, 0 for equal, 11 for a > b.
        let theirs = match out.status.code() {
            Some(12) => std::cmp::Ordering::Less,
            Some(0) => std::cmp::Ordering::Equal,
            Some(11) => std::cmp::Ordering::Greater,
            other => panic!("systemd-analyze compare-versions {a:?} {b:?}: status {other:?}"),
        };
        let ours = leapboot_menus::bls::version::compare(&a, &b);
        if ours != theirs {
            bad.push(format!(
                "{a:?} vs {b:?}: leapboot {ours:?}, systemd {theirs:?}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
