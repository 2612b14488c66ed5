// Test helpers outside #[test] fns unwrap, expect and panic: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Every GRUB config of the shared corpus in `../shared/corpus/grub` beside the
//! repository (real distribution configs; their origin and licences are in that
//! folder's README, which asks that they stay there rather than be copied in), run the
//! way GRUB runs it and compared with its golden file
//! `menus/tests/golden/<case>.json`: the merged menu (every entry with id, title, kind,
//! volume, kernel, initrds, command line, problem and source; the default and why; the
//! timeout), what GRUB itself would do (its default, `$default`, the attempts,
//! `save_env` writes, the submenu tree) and every diagnostic.
//!
//! After a deliberate change, regenerate the golden files with one command and review
//! the diff before committing it (see `docs/testing.md`):
//!
//! ```sh
//! LEAPBOOT_BLESS=1 cargo test -p leapboot-menus --test grub_corpus
//! git diff menus/tests/golden
//! ```
//!
//! The golden files were first written from the output that passed the earlier
//! hand-written assertions, whose values were worked out from the configs and GRUB's
//! sources (`grub-core/script/execute.c`, `normal/menu.c`, `commands/search.c`,
//! rhboot's `blscfg.c`), not taken from any other tool's output. The rules behind the
//! less obvious values are also checked explicitly in `grub_rules`, so a bless cannot
//! quietly record a broken one.
//!
//! A missing golden file, or a corpus file missing from a corpus that is there, fails
//! the test. A plain clone has no `../shared`: then the tests say so and pass, unless
//! `LEAPBOOT_REQUIRE_CORPUS=1` (set by `scripts/test`, so CI never passes without it).

use leapboot_menus::grub::GrubNode;
use leapboot_menus::grub::default::{GrubFlavour, GrubTimeout, TimeoutStyle};
use leapboot_menus::grub::grubenv::{EnvBlock, EnvChange, EnvWrite};
use leapboot_menus::menu::DefaultReason;
use leapboot_menus::{
    Entry, EntryKind, MemFs, Menu, Severity, Source, VolumeInfo, VolumeRef, VolumeRole, VolumeScan,
    VolumeView, scan_all,
};
use std::path::{Path, PathBuf};

mod golden_common;
use golden_common::{Golden, Json, int, ints, opt_int, opt_s, s, strs};

/// The one command that regenerates this test's golden files.
const BLESS_COMMAND: &str = "LEAPBOOT_BLESS=1 cargo test -p leapboot-menus --test grub_corpus";

// ---------------------------------------------------------------------------
// The cases.

/// Contents of a file a case adds to a volume.
#[derive(Clone, Copy)]
enum Content {
    /// An empty placeholder (a kernel or initrd the corpus does not carry).
    Empty,
    /// A text file written here.
    Text(&'static str),
    /// A 1024-byte GRUB environment block holding these variables.
    Grubenv(&'static [(&'static str, &'static str)]),
}

/// One volume of a case.
enum Vol {
    /// A u-root case folder: the root of one partition, with its filesystem UUID,
    /// label and type in the files `UUID`, `LABEL` and `TYPE`.
    Folder {
        dir: &'static str,
        device: &'static str,
        extra: &'static [&'static str],
    },
    /// A single config file (petitboot's cases) placed at `at` on a volume `sda1`.
    File {
        file: &'static str,
        at: &'static str,
        uuid: &'static str,
        label: Option<&'static str>,
        extra: &'static [(&'static str, Content)],
    },
}

/// A corpus case: its name (also the golden file's path) and its volumes.
struct Case {
    name: &'static str,
    vols: Vec<Vol>,
}

fn folder(dir: &'static str, device: &'static str, extra: &'static [&'static str]) -> Vol {
    Vol::Folder { dir, device, extra }
}

fn file(
    file: &'static str,
    at: &'static str,
    uuid: &'static str,
    label: Option<&'static str>,
    extra: &'static [(&'static str, Content)],
) -> Vol {
    Vol::File {
        file,
        at,
        uuid,
        label,
        extra,
    }
}

const E: Content = Content::Empty;

/// Every case; its name is its golden file's path below `menus/tests/golden/`.
/// Paths are relative to `menus/tests/corpus/grub`.
fn cases() -> Vec<Case> {
    let c = |name, vols| Case { name, vols };
    vec![
        // grub-mkconfig output, GRUB_TIMEOUT=0, no grubenv.
        c("debian12", vec![folder("debian12", "sda1", &[])]),
        // CentOS 7 install DVD: `search -l` finds the DVD itself; `set default="1"`.
        c(
            "uroot/CentOS_7_x86_64_DVD_1810",
            vec![folder(
                "uroot/CentOS_7_x86_64_DVD_1810",
                "sr0",
                &["/images/pxeboot/vmlinuz", "/images/pxeboot/initrd.img"],
            )],
        ),
        // CentOS 7 EFI install: the ESP's config finds the kernels on sda2 by UUID.
        c(
            "uroot/CentOS_7_x86_64_DVD_1810_efi_install",
            vec![
                folder(
                    "uroot/CentOS_7_x86_64_DVD_1810_efi_install_sda1",
                    "sda1",
                    &[],
                ),
                folder(
                    "uroot/CentOS_7_x86_64_DVD_1810_efi_install_sda2",
                    "sda2",
                    &[],
                ),
            ],
        ),
        // CentOS 7 legacy /boot: `linux16`; the folder holds only the config.
        c(
            "uroot/CentOS_7_x86_64_DVD_1810_legacy_install_sda1",
            vec![folder(
                "uroot/CentOS_7_x86_64_DVD_1810_legacy_install_sda1",
                "sda1",
                &[
                    "/vmlinuz-3.10.0-957.el7.x86_64",
                    "/initramfs-3.10.0-957.el7.x86_64.img",
                ],
            )],
        ),
        // CentOS 8 Stream on one partition: grubenv next to the config, `blscfg` reads
        // /boot/loader/entries, tboot is multiboot2, 10_reset_boot_success saves.
        c(
            "uroot/CentOS_8_Stream_x86_64_blscfg_sda1",
            vec![folder(
                "uroot/CentOS_8_Stream_x86_64_blscfg_sda1",
                "sda1",
                &[],
            )],
        ),
        c(
            "uroot/debian_10_4_installed",
            vec![folder(
                "uroot/debian_10_4_installed",
                "sda1",
                &[
                    "/boot/vmlinuz-4.19.0-9-amd64",
                    "/boot/initrd.img-4.19.0-9-amd64",
                ],
            )],
        ),
        // Debian 9 live ISO: 80 entries, most of them localisations in submenus.
        c(
            "uroot/debian_9_install",
            vec![folder(
                "uroot/debian_9_install",
                "sr0",
                &[
                    "/live/vmlinuz-4.9.0-3-amd64",
                    "/live/initrd.img-4.9.0-3-amd64",
                ],
            )],
        ),
        // Fedora 27 live: the label search finds nothing (no label), `$root` stays.
        c(
            "uroot/fedora_27_install",
            vec![folder(
                "uroot/fedora_27_install",
                "sr0",
                &["/images/pxeboot/vmlinuz", "/images/pxeboot/initrd.img"],
            )],
        ),
        // Qubes: Xen entries load with `multiboot`; nothing here can boot.
        c(
            "uroot/qubes_3_2_boot",
            vec![folder("uroot/qubes_3_2_boot", "sda1", &[])],
        ),
        // RHEL 7.8, root filesystem holding /boot; no kernels in the folder.
        c(
            "uroot/rhel_7_8_another",
            vec![folder("uroot/rhel_7_8_another", "sda1", &[])],
        ),
        // RHEL 7.8 /boot partition: the first two entries share one `--id`.
        c(
            "uroot/rhel_7_8_installed",
            vec![folder("uroot/rhel_7_8_installed", "sda1", &[])],
        ),
        // Ubuntu 16.04 /boot: hidden menu, `vt.handoff=7` from the `gfxmode`
        // function, fwsetup entry unbootable.
        c(
            "uroot/ubuntu_16_04_boot",
            vec![folder(
                "uroot/ubuntu_16_04_boot",
                "sda1",
                &[
                    "/vmlinuz-4.10.0-42-generic.efi.signed",
                    "/initrd.img-4.10.0-42-generic",
                    "/vmlinuz-4.10.0-40-generic.efi.signed",
                    "/initrd.img-4.10.0-40-generic",
                ],
            )],
        ),
        // ---- petitboot's single-file configs, each on a volume with the UUID its
        // `search` asks for and empty kernel/initrd placeholders.
        c(
            "petitboot/grub2-f18-ppc64",
            vec![file(
                "petitboot/grub2-f18-ppc64.conf",
                "/boot/grub2/grub.cfg",
                "773653a7-660e-490e-9a74-d9fdfc9bbbf6",
                None,
                &[
                    ("/vmlinuz-3.6.10-4.fc18.ppc64p7", E),
                    ("/initramfs-3.6.10-4.fc18.ppc64p7.img", E),
                ],
            )],
        ),
        // Fedora 20 ppc media: entries come from a `for` loop guarded by `[ -d ... ]`;
        // `$2` in the body is the extra argument after the title.
        c(
            "petitboot/grub2-f20-ppc",
            vec![file(
                "petitboot/grub2-f20-ppc.conf",
                "/boot/grub/grub.cfg",
                "2013-12-10-00-00-00-00",
                None,
                &[
                    ("/ppc/ppc32/vmlinuz", E),
                    ("/ppc/ppc32/initrd.img", E),
                    ("/ppc/ppc64/vmlinuz", E),
                    ("/ppc/ppc64/initrd.img", E),
                ],
            )],
        ),
        // RHEL 8 ppc64le (generated for petitboot): `--users $grub_users` with the
        // variable unset; the grubenv gives `kernelopts` and a saved_entry.
        c(
            "petitboot/grub2-rhel8",
            vec![file(
                "petitboot/grub2-rhel8.conf",
                "/boot/grub2/grub.cfg",
                "9a8ea027-4829-45b9-829b-18ed6cc1f33b",
                None,
                &[
                    (
                        "/boot/grub2/grubenv",
                        Content::Grubenv(&[
                            (
                                "saved_entry",
                                "8e15296c9cc14deb9e3f8548d49fd6fc-4.18.0-80.el8.ppc64le",
                            ),
                            (
                                "kernelopts",
                                "root=/dev/mapper/rhel-root ro crashkernel=auto",
                            ),
                        ]),
                    ),
                    ("/vmlinuz-4.18.0-80.11.2.el8_0.ppc64le", E),
                    ("/initramfs-4.18.0-80.11.2.el8_0.ppc64le.img", E),
                    ("/vmlinuz-4.18.0-80.el8.ppc64le", E),
                    ("/initramfs-4.18.0-80.el8.ppc64le.img", E),
                ],
            )],
        ),
        // RHCOS: `search --label boot` sets `bootpart`; no ignition.firstboot, so
        // `$ignition_firstboot` is empty and vanishes; no `--id`.
        c(
            "petitboot/grub2-rhcos-ootpa",
            vec![file(
                "petitboot/grub2-rhcos-ootpa.conf",
                "/grub2/grub.cfg",
                "645e1535-a6f3-4fa6-a82c-b8c032619a7b",
                Some("boot"),
                &[
                    (
                        "/ostree/rhcos-6264e4be818e20cf1021bd6e7aa8c76147ce07dec186468c7dfbbc9c5dfc7d8b/vmlinuz-4.18.0-80.11.2.el8_0.ppc64le",
                        E,
                    ),
                    (
                        "/ostree/rhcos-6264e4be818e20cf1021bd6e7aa8c76147ce07dec186468c7dfbbc9c5dfc7d8b/initramfs-4.18.0-80.11.2.el8_0.ppc64le.img",
                        E,
                    ),
                ],
            )],
        ),
        // Kubuntu 13.04: `keystatus` (no key held) makes the os-prober snippet set
        // timeout=0; `$vt_handoff` comes from `gfxmode keep`; memtest via linux16.
        c(
            "petitboot/grub2-ubuntu-13_04-x86",
            vec![file(
                "petitboot/grub2-ubuntu-13_04-x86.conf",
                "/boot/grub/grub.cfg",
                "29beca39-9181-4780-bbb2-ab5d4be59aaf",
                None,
                &[
                    ("/boot/vmlinuz-3.8.0-19-generic", E),
                    ("/boot/initrd.img-3.8.0-19-generic", E),
                    ("/boot/memtest86+.bin", E),
                ],
            )],
        ),
        // Fedora CoreOS 38: one BLS file (the corpus file) read by `blscfg` from
        // /loader/entries, under a minimal grub.cfg written here.
        c(
            "petitboot/grub2-blscfg-fcos38",
            vec![file(
                "petitboot/grub2-blscfg-fcos38.conf",
                "/loader/entries/ostree-1-fedora-coreos.conf",
                "4310acc5-6457-44fd-89e5-6a976d84ae0e",
                Some("boot"),
                &[
                    (
                        "/grub2/grub.cfg",
                        Content::Text(
                            "function load_video {\n  insmod all_video\n}\nset timeout=1\nblscfg\n",
                        ),
                    ),
                    (
                        "/ostree/fedora-coreos-00f1847831b603756e2804045135de37a3740b16b7777f8633b779e043222e29/vmlinuz-6.3.8-200.fc38.ppc64le",
                        E,
                    ),
                    (
                        "/ostree/fedora-coreos-00f1847831b603756e2804045135de37a3740b16b7777f8633b779e043222e29/initramfs-6.3.8-200.fc38.ppc64le.img",
                        E,
                    ),
                ],
            )],
        ),
    ]
}

// ---------------------------------------------------------------------------
// Running a case.

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The shared corpus's GRUB folder (`<repo>/../shared/corpus/grub`).
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/grub")
}

/// True when the corpus is there; otherwise a notice, or a failure when
/// `LEAPBOOT_REQUIRE_CORPUS=1`.
fn corpus_present() -> bool {
    let dir = corpus_dir();
    if dir.is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("LEAPBOOT_REQUIRE_CORPUS").is_none_or(|v| v != "1"),
        "{} is missing and LEAPBOOT_REQUIRE_CORPUS=1",
        dir.display()
    );
    println!(
        "NOTICE: {} is absent (a plain clone has no ../shared); corpus checks skipped",
        dir.display()
    );
    false
}

fn golden_dir() -> PathBuf {
    tests_dir().join("golden")
}

/// Reads a corpus file; a missing one is a failure, not a skip.
fn read_fixture(path: &Path) -> Vec<u8> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("corpus file {} cannot be read: {e} ", path.display()))
}

/// Loads a corpus folder into a MemFs, every file at its path below `root`.
fn load_folder(root: &Path) -> MemFs {
    let mut fs = MemFs::new();
    let mut stack = vec![root.to_path_buf()];
    let mut files = 0usize;
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus folder {} cannot be read: {e}", dir.display()));
        for e in rd {
            let p = e
                .unwrap_or_else(|e| panic!("corpus folder {}: {e}", dir.display()))
                .path();
            if p.is_dir() {
                stack.push(p);
            } else {
                // OK to unwrap: `p` was listed under `root`.
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                fs.insert(&format!("/{rel}"), read_fixture(&p));
                files += 1;
            }
        }
    }
    assert!(files > 0, "corpus folder {} is empty", root.display());
    fs
}

/// A small file of a case folder (`UUID`, `LABEL`, `TYPE`), trimmed.
fn folder_value(dir: &Path, name: &str) -> Option<String> {
    let p = dir.join(name);
    p.exists().then(|| {
        String::from_utf8_lossy(&read_fixture(&p))
            .trim()
            .to_string()
    })
}

fn grubenv(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut b = EnvBlock::new(1024);
    for (k, v) in vars {
        b.set(k, v)
            .unwrap_or_else(|e| panic!("grubenv {k}={v}: {e}"));
    }
    b.as_bytes().to_vec()
}

fn build_volume(v: &Vol) -> (VolumeInfo, MemFs) {
    match v {
        Vol::Folder { dir, device, extra } => {
            let dir = corpus_dir().join(dir);
            let mut fs = load_folder(&dir);
            for p in *extra {
                fs.insert(p, Vec::new());
            }
            let info = VolumeInfo {
                uuid: folder_value(&dir, "UUID"),
                label: folder_value(&dir, "LABEL"),
                device: device.to_string(),
                fs_type: folder_value(&dir, "TYPE").unwrap_or_else(|| "ext4".into()),
                role: VolumeRole::Other,
            };
            (info, fs)
        }
        Vol::File {
            file,
            at,
            uuid,
            label,
            extra,
        } => {
            let mut fs = MemFs::new();
            fs.insert(at, read_fixture(&corpus_dir().join(file)));
            for (p, content) in *extra {
                let data = match content {
                    Content::Empty => Vec::new(),
                    Content::Text(t) => t.as_bytes().to_vec(),
                    Content::Grubenv(vars) => grubenv(vars),
                };
                fs.insert(p, data);
            }
            let info = VolumeInfo {
                uuid: Some(uuid.to_string()),
                label: label.map(str::to_string),
                device: "sda1".into(),
                fs_type: "ext4".into(),
                role: VolumeRole::Other,
            };
            (info, fs)
        }
    }
}

/// What the crate produced for a case.
struct Outcome {
    volumes: Vec<VolumeInfo>,
    scans: Vec<VolumeScan>,
    menu: Menu,
}

impl Outcome {
    /// The first GRUB scan (every case has one).
    fn grub(&self) -> &leapboot_menus::grub::GrubScan {
        self.scans
            .iter()
            .find_map(|s| s.grub.as_ref())
            .expect("every corpus case has a GRUB config")
    }

    fn diagnostics(&self) -> impl Iterator<Item = &leapboot_menus::Diagnostic> {
        self.scans.iter().flat_map(|s| &s.diagnostics)
    }
}

fn run(case: &Case) -> Outcome {
    let vols: Vec<(VolumeInfo, MemFs)> = case.vols.iter().map(build_volume).collect();
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(info, fs)| VolumeView { info, fs })
        .collect();
    let scans = scan_all(&views);
    let menu = Menu::assemble(&scans, None);
    assert!(
        scans.iter().any(|s| s.grub.is_some()),
        "{}: no GRUB config found",
        case.name
    );
    Outcome {
        volumes: vols.into_iter().map(|(i, _)| i).collect(),
        scans,
        menu,
    }
}

fn run_named(name: &str) -> Outcome {
    let all = cases();
    let case = all
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no corpus case {name}"));
    run(case)
}

fn volume_ref(v: &VolumeRef) -> Json {
    Json::Obj(vec![
        ("device", s(&v.device)),
        ("uuid", opt_s(v.uuid.as_deref())),
        ("label", opt_s(v.label.as_deref())),
    ])
}

fn source(src: &Source) -> Json {
    Json::Obj(vec![("file", s(&src.file)), ("line", int(src.line))])
}

fn kind(k: EntryKind) -> Json {
    s(k.as_str())
}

fn timeout(t: &GrubTimeout) -> Json {
    let style = match t.style {
        TimeoutStyle::Menu => "menu",
        TimeoutStyle::Countdown => "countdown",
        TimeoutStyle::Hidden => "hidden",
    };
    Json::Obj(vec![
        ("seconds", t.seconds.map_or(Json::Null, int)),
        ("style", s(style)),
    ])
}

fn env_write(w: &EnvWrite) -> Json {
    let changes = w
        .changes
        .iter()
        .map(|c| match c {
            EnvChange::Set(k, v) => s(&format!("set {k}={v}")),
            EnvChange::Unset(k) => s(&format!("unset {k}")),
        })
        .collect();
    Json::Obj(vec![
        ("volume", s(&w.volume.device)),
        ("path", s(&w.path)),
        ("changes", Json::Arr(changes)),
        ("source", source(&w.source)),
    ])
}

/// An entry as the menu holds it; `grub` adds what only GRUB knows about it.
fn entry(index: usize, e: &Entry, grub: Option<Json>) -> Json {
    let mut f = vec![
        ("index", int(index)),
        ("id", s(&e.id)),
        ("title", s(&e.title)),
        ("path", opt_s(e.path.as_deref())),
        ("version", opt_s(e.version.as_deref())),
        ("kind", kind(e.kind)),
        ("volume", volume_ref(&e.volume)),
        ("kernel", s(&e.kernel)),
        ("initrds", strs(&e.initrds)),
        ("cmdline", s(&e.cmdline)),
        ("devicetree", opt_s(e.devicetree.as_deref())),
        ("source", source(&e.source)),
        ("problem", opt_s(e.problem.as_deref())),
    ];
    if let Some(g) = grub {
        f.push(("grub", g));
    }
    Json::Obj(f)
}

fn grub_info(i: &leapboot_menus::grub::GrubEntryInfo) -> Json {
    Json::Obj(vec![
        ("grub_id", s(&i.grub_id)),
        ("loader", opt_s(i.loader.as_deref())),
        ("classes", strs(&i.classes)),
        ("users", opt_s(i.users.as_deref())),
        ("hotkey", opt_s(i.hotkey.as_deref())),
        (
            "env_writes_on_boot",
            Json::Arr(i.env_writes.iter().map(env_write).collect()),
        ),
    ])
}

fn tree(nodes: &[GrubNode], offset: Option<usize>) -> Json {
    Json::Arr(
        nodes
            .iter()
            .map(|n| match n {
                // Entries by their index in `entries` (the menu's, when the scan's
                // entries are in the menu).
                GrubNode::Entry(i) => int(offset.unwrap_or(0).saturating_add(*i)),
                GrubNode::Submenu {
                    title,
                    id,
                    path,
                    children,
                } => Json::Obj(vec![
                    ("submenu", s(title)),
                    ("id", s(id)),
                    ("path", s(path)),
                    ("children", tree(children, offset)),
                ]),
            })
            .collect(),
    )
}

fn default_reason(r: Option<&DefaultReason>) -> Json {
    match r {
        None => Json::Null,
        Some(DefaultReason::Setting(p)) => Json::Obj(vec![("setting", s(p))]),
        Some(DefaultReason::LoaderConf(p)) => Json::Obj(vec![("loader_conf", s(p))]),
        Some(DefaultReason::FirstBootable) => s("first_bootable"),
        Some(DefaultReason::Grub(g)) => Json::Obj(vec![(
            "grub",
            Json::Obj(vec![
                ("config", s(&g.config)),
                ("value", opt_s(g.value.as_deref())),
                ("fallback", Json::Bool(g.fallback)),
            ]),
        )]),
    }
}

fn severity(v: Severity) -> Json {
    s(v.as_str())
}

/// Where a GRUB scan's entries sit in the menu: the offset at which they appear in
/// order, or `None` when the menu does not hold them (another config's menu was shown).
fn menu_offset(menu: &Menu, entries: &[Entry]) -> Option<usize> {
    if entries.is_empty() {
        return None;
    }
    let last = menu.entries.len().checked_sub(entries.len())?;
    (0..=last).find(|&o| menu.entries.get(o..o + entries.len()) == Some(entries))
}

fn document(name: &str, o: &Outcome) -> Json {
    let menu = &o.menu;
    // GRUB data per menu entry, for the scans whose entries the menu holds.
    let mut grub_of: Vec<Option<Json>> = menu.entries.iter().map(|_| None).collect();
    let mut grubs = Vec::new();
    for scan in &o.scans {
        let Some(g) = &scan.grub else { continue };
        let offset = menu_offset(menu, &g.entries);
        if let Some(off) = offset {
            for (i, info) in g.info.iter().enumerate() {
                if let Some(slot) = grub_of.get_mut(off + i) {
                    *slot = Some(grub_info(info));
                }
            }
        }
        let mut f = vec![
            ("volume", s(&scan.volume.device)),
            (
                "config",
                s(&format!("{}:{}", g.config.volume.device, g.config.path)),
            ),
            (
                "menu_config",
                s(&format!(
                    "{}:{}",
                    g.menu_config.volume.device, g.menu_config.path
                )),
            ),
            ("entries_in_menu_from", opt_int(offset)),
            ("default_value", opt_s(g.default_value.as_deref())),
            (
                "default",
                opt_int(g.default.map(|d| offset.unwrap_or(0) + d)),
            ),
            (
                "attempts",
                ints(
                    &g.attempts
                        .iter()
                        .map(|a| offset.unwrap_or(0) + a)
                        .collect::<Vec<_>>(),
                ),
            ),
            ("timeout", timeout(&g.timeout)),
            (
                "env_writes",
                Json::Arr(g.env_writes.iter().map(env_write).collect()),
            ),
            (
                "bls_files",
                Json::Arr(
                    g.bls_files
                        .iter()
                        .map(|c| s(&format!("{}:{}", c.volume.device, c.path)))
                        .collect(),
                ),
            ),
            ("tree", tree(&g.tree, offset)),
        ];
        if offset.is_none() {
            // Not in the menu: keep the entries here, so nothing the scan found is lost.
            f.push((
                "entries",
                Json::Arr(
                    g.entries
                        .iter()
                        .zip(&g.info)
                        .enumerate()
                        .map(|(i, (e, info))| entry(i, e, Some(grub_info(info))))
                        .collect(),
                ),
            ));
        }
        grubs.push(Json::Obj(f));
    }
    let entries = menu
        .entries
        .iter()
        .zip(grub_of)
        .enumerate()
        .map(|(i, (e, g))| entry(i, e, g))
        .collect();
    let volumes = o
        .volumes
        .iter()
        .map(|v| {
            let role = match v.role {
                VolumeRole::Esp => "esp",
                VolumeRole::Xbootldr => "xbootldr",
                VolumeRole::Other => "other",
            };
            Json::Obj(vec![
                ("device", s(&v.device)),
                ("uuid", opt_s(v.uuid.as_deref())),
                ("label", opt_s(v.label.as_deref())),
                ("fs_type", s(&v.fs_type)),
                ("role", s(role)),
            ])
        })
        .collect();
    let diagnostics = o
        .scans
        .iter()
        .flat_map(|scan| {
            scan.diagnostics.iter().map(|d| {
                Json::Obj(vec![
                    ("volume", s(&scan.volume.device)),
                    ("severity", severity(d.severity)),
                    ("file", s(&d.file)),
                    ("line", int(d.line)),
                    ("message", s(&d.message)),
                ])
            })
        })
        .collect();
    Json::Obj(vec![
        ("case", s(name)),
        ("volumes", Json::Arr(volumes)),
        (
            "default",
            Json::Obj(vec![
                ("index", opt_int(menu.default)),
                ("id", opt_s(menu.default_entry().map(|e| e.id.as_str()))),
                ("reason", default_reason(menu.default_reason.as_ref())),
                ("fallbacks", ints(&menu.fallbacks)),
            ]),
        ),
        ("timeout", menu.timeout.as_ref().map_or(Json::Null, timeout)),
        ("entries", Json::Arr(entries)),
        ("grub", Json::Arr(grubs)),
        ("diagnostics", Json::Arr(diagnostics)),
    ])
}

/// Each case's document against its golden file; with `LEAPBOOT_BLESS=1`, the golden
/// files are written instead (and golden files of cases that no longer exist removed).
#[test]
fn golden() {
    if !corpus_present() {
        return;
    }
    let mut golden = Golden::new(golden_dir(), BLESS_COMMAND);
    for case in cases() {
        let o = run(&case);
        println!(
            "{}: {} entries, default {}",
            case.name,
            o.menu.entries.len(),
            o.menu.default_entry().map_or("none", |e| e.id.as_str())
        );
        golden.check(case.name, &document(case.name, &o).pretty());
    }
    golden.finish();
}

// ---------------------------------------------------------------------------
// Rules checked explicitly, beside the golden files: each is a GRUB (or leapboot)
// rule that the golden output merely records, checked here so that a bless which
// breaks it fails.

#[test]
fn every_command_of_every_config_is_understood() {
    if !corpus_present() {
        return;
    }
    // The distributions' generators write only commands GRUB knows; a syntax error or
    // an unknown command here is a hole in the interpreter, and nothing is an error.
    for case in cases() {
        let o = run(&case);
        let bad: Vec<String> = o
            .diagnostics()
            .filter(|d| {
                d.severity == Severity::Error
                    || d.message.contains("syntax error")
                    || d.message.contains("unknown command")
            })
            .map(ToString::to_string)
            .collect();
        assert!(bad.is_empty(), "{}: {bad:#?}", case.name);
    }
}

#[test]
fn grub_rules() {
    if !corpus_present() {
        return;
    }
    // Arguments are split on unquoted blanks (`grub-core/script/execute.c`): the
    // trailing blank after `console=ttyS0` in Debian's `linux` line is no argument,
    // while `"${loopback}"` with `loopback` unset is an empty argument, so GRUB's
    // command line ends with a blank there (Debian 9: `loopback` is not exported, so
    // inside the submenu it is empty).
    let o = run_named("debian12");
    assert!(o.grub().entries[0].cmdline.ends_with(" console=ttyS0"));
    let o = run_named("uroot/debian_9_install");
    assert!(
        o.grub().entries[1]
            .cmdline
            .ends_with("locales=sq_AL.UTF-8 ")
    );
    // `[ ${iso_path} ]` with `iso_path` unset is `[ ]`, which is true in GRUB's
    // `test` (`grub-core/commands/test.c`), so the live entries pass `findiso=`.
    assert!(o.grub().entries[0].cmdline.ends_with(" findiso="));

    // `\x20` stays on the command line for the kernel to decode, as Fedora/RHEL
    // GRUB keeps it (upstream would drop the backslash).
    let o = run_named("uroot/CentOS_7_x86_64_DVD_1810");
    assert!(
        o.grub().entries[1]
            .cmdline
            .contains("inst.stage2=hd:LABEL=CentOS\\x207\\x20x86_64 ")
    );

    // `search --fs-uuid` finds the kernels on another partition (`commands/search.c`):
    // the ESP's config loads from sda2.
    let o = run_named("uroot/CentOS_7_x86_64_DVD_1810_efi_install");
    let g = o.grub();
    assert_eq!(g.config.volume.device, "sda1");
    assert!(g.entries.iter().all(|e| e.volume.device == "sda2"));

    // A `saved_entry` that starts with a digit would be read as an index by upstream
    // `get_entry_number` (`normal/menu.c`, `grub_strtoul`: 9 and 8, both out of
    // range). These configs are for rhboot's GRUB (CentOS 8 runs `blscfg`; RHEL 8's
    // is `/boot/grub2/grub.cfg`), whose `get_entry_number_helper` looks ids up first:
    // CentOS 8 boots its 5.18.0 entry (entry 0 either way), RHEL 8 the older kernel
    // that `saved_entry` names (entry 1, where upstream's reading gave entry 0).
    for (name, saved, want, why) in [
        (
            "uroot/CentOS_8_Stream_x86_64_blscfg_sda1",
            "9af7b02ac08149d985841c07c8ff366e-5.18.0",
            0,
            "blscfg",
        ),
        (
            "petitboot/grub2-rhel8",
            "8e15296c9cc14deb9e3f8548d49fd6fc-4.18.0-80.el8.ppc64le",
            1,
            "grub2",
        ),
    ] {
        let o = run_named(name);
        let g = o.grub();
        assert_eq!(g.default_value.as_deref(), Some(saved), "{name}");
        assert!(g.entries.len() < 8, "{name}");
        assert_eq!(g.flavour, GrubFlavour::Rhboot, "{name} ({why})");
        assert_eq!(g.default, Some(want), "{name}");
        assert_eq!(g.entries[want].id, saved, "{name}");
    }

    // The BLS files `blscfg` read are GRUB entries in the merged menu, not also BLS
    // entries (README, "Where entries come from"), and GRUB's default is the menu's.
    let o = run_named("uroot/CentOS_8_Stream_x86_64_blscfg_sda1");
    assert_eq!(o.menu.entries.len(), o.grub().entries.len());
    assert!(o.menu.entries.iter().all(|e| e.kind == EntryKind::Grub));
    assert!(matches!(
        o.menu.default_reason,
        Some(DefaultReason::Grub(_))
    ));

    // Ids need not be unique in GRUB: two entries with the same `--id` are both kept
    // as written (RHEL 7.8's generator wrote them so).
    let o = run_named("uroot/rhel_7_8_installed");
    assert_eq!(o.grub().entries[0].id, o.grub().entries[1].id);

    // `--users $grub_users` with the variable unset: GRUB rejects the entry;
    // leapboot keeps each of the three with a warning.
    let o = run_named("petitboot/grub2-rhel8");
    assert_eq!(o.grub().entries.len(), 3);
    let users = o
        .diagnostics()
        .filter(|d| d.severity == Severity::Warning && d.message.contains("--users"))
        .count();
    assert_eq!(users, 3);

    // GRUB's default is reported even when it cannot boot, but the menu has no
    // default when no entry can boot (Qubes: every entry is Xen via `multiboot`).
    let o = run_named("uroot/qubes_3_2_boot");
    assert!(o.grub().entries.iter().all(|e| e.problem.is_some()));
    assert_eq!(o.grub().default, Some(0));
    assert_eq!(o.menu.default, None);
}
