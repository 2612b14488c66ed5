//! GRUB script semantics, one rule per test: quoting and expansion, control flow,
//! functions, `search`, devices, menus, defaults, grubenv and limits. Expected values
//! follow GRUB's sources (`grub-core/script/*.c`, `normal/menu.c`, `commands/*.c`).

// Test helpers outside #[test] fns (and `grub_common`) unwrap, expect and panic: a failure
// there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod grub_common;
use grub_common::*;
use leapboot_menus::grub::default::GrubFlavour;
use leapboot_menus::grub::grubenv::{EnvBlock, EnvChange};
use leapboot_menus::grub::{GrubNode, GrubScan};
use leapboot_menus::menu::DefaultReason;
use leapboot_menus::{MemFs, Menu, Severity, VolumeView, scan_all};
use std::time::{Duration, Instant};

const K: (&str, &str) = ("/vmlinuz", "K");
const I: (&str, &str) = ("/initrd.img", "I");

/// The command line of an entry whose body is `linux /vmlinuz <words>`, after `setup`.
fn cmdline_of(setup: &str, words: &str) -> String {
    let cfg = format!("{setup}\nmenuentry t {{\n  linux /vmlinuz {words}\n}}\n");
    let (s, d) = run(&cfg, &[K]);
    assert!(d.iter().all(|d| d.severity != Severity::Error), "{d:?}");
    s.entries[0].cmdline.clone()
}

fn titles(s: &GrubScan) -> Vec<&str> {
    s.entries
        .iter()
        .map(|e| e.path.as_deref().unwrap_or(""))
        .collect()
}

fn grubenv(vars: &[(&str, &str)]) -> String {
    let mut b = EnvBlock::new(1024);
    for (k, v) in vars {
        b.set(k, v).unwrap();
    }
    String::from_utf8(b.as_bytes().to_vec()).unwrap()
}

// ------------------------------------------------------------------ quoting

#[test]
fn single_quotes_are_literal() {
    assert_eq!(
        cmdline_of("set a=X", "'$a b\\c'"),
        "BOOT_IMAGE=/vmlinuz \"$a b\\\\c\""
    );
}

#[test]
fn double_quotes_expand_without_splitting() {
    assert_eq!(
        cmdline_of("set a='1 2'", "\"x=$a\" y=$a"),
        "BOOT_IMAGE=/vmlinuz \"x=1 2\" y=1 2"
    );
}

#[test]
fn unquoted_expansion_splits_on_blanks() {
    assert_eq!(
        cmdline_of("set a='p  q\tr'", "$a"),
        "BOOT_IMAGE=/vmlinuz p q r"
    );
}

#[test]
fn empty_unquoted_vanishes_empty_quoted_stays() {
    // `""` is an argument (GRUB's loader then leaves an empty slot: two blanks).
    assert_eq!(
        cmdline_of("set e=", "a $e $unset b"),
        "BOOT_IMAGE=/vmlinuz a b"
    );
    assert_eq!(
        cmdline_of("set e=", "a \"$e\" b"),
        "BOOT_IMAGE=/vmlinuz a  b"
    );
}

#[test]
fn braces_and_concatenation() {
    assert_eq!(
        cmdline_of("set v=1", "pre${v}post x$v-y"),
        "BOOT_IMAGE=/vmlinuz pre1post x1-y"
    );
}

#[test]
fn backslash_escapes() {
    assert_eq!(
        cmdline_of("", "a\\ b c\\$d \"e\\\"f\""),
        "BOOT_IMAGE=/vmlinuz \"a b\" c$d e\\\"f"
    );
}

#[test]
fn hex_escapes_are_kept_for_the_kernel() {
    assert_eq!(
        cmdline_of("", "LABEL=A\\x20B"),
        "BOOT_IMAGE=/vmlinuz LABEL=A\\x20B"
    );
}

#[test]
fn leading_blank_in_value_makes_no_argument() {
    // grub_script_argv_split_append skips blanks before the first word (the cases
    // from GRUB's script tests are in `grub_words.rs`).
    assert_eq!(cmdline_of("set v=' a'", "x $v"), "BOOT_IMAGE=/vmlinuz x a");
}

#[test]
fn assignment_word_and_set() {
    assert_eq!(
        cmdline_of("a=1\nset b=2 ignored\nc=\"3 4\"", "$a $b \"$c\""),
        "BOOT_IMAGE=/vmlinuz 1 2 \"3 4\""
    );
}

#[test]
fn unset_and_export() {
    assert_eq!(
        cmdline_of("set a=1\nunset a", "[$a]"),
        "BOOT_IMAGE=/vmlinuz []"
    );
}

// ------------------------------------------------------------------ control flow

#[test]
fn if_elif_else() {
    let setup =
        "set v=2\nif [ $v = 1 ]; then r=one; elif [ \"$v\" = 2 ]; then r=two; else r=other; fi";
    assert_eq!(cmdline_of(setup, "$r"), "BOOT_IMAGE=/vmlinuz two");
    let setup = "if false; then r=a; elif false; then r=b; else r=c; fi";
    assert_eq!(cmdline_of(setup, "$r"), "BOOT_IMAGE=/vmlinuz c");
}

#[test]
fn test_operators() {
    let cases = [
        ("[ -n \"\" ]", false),
        ("[ -n ]", true),
        ("[ -z \"\" ]", true),
        ("[ \"\" ]", false),
        ("[ x ]", true),
        ("[ ]", true),
        ("[ a != b ]", true),
        ("[ a \"<\" b ]", true),
        ("[ b \">\" a ]", true),
        ("[ 10 -gt 9 ]", true),
        ("[ -1 -lt 0 ]", true),
        ("[ ! a = a ]", false),
        ("[ a = b -o c = c ]", true),
        ("[ a = a -a c = d ]", false),
        ("[ a = b -a c = d -o e = e ]", true),
        ("[ -e /vmlinuz ]", true),
        ("[ -f /vmlinuz ]", true),
        ("[ -d /boot/grub ]", true),
        ("[ -d /vmlinuz ]", false),
        ("[ -s /empty ]", false),
        ("[ -e /missing ]", false),
        ("[ -e (hd9,gpt9)/vmlinuz ]", false),
        ("test vmlinuz-2 -plt vmlinuz-11", true),
        ("! [ a = a ]", false),
    ];
    for (expr, want) in cases {
        let cfg = format!(
            "if {expr}; then r=yes; else r=no; fi\nmenuentry t {{\n linux /vmlinuz $r\n}}\n"
        );
        let (s, _) = run(&cfg, &[K, ("/empty", "")]);
        let got = s.entries[0].cmdline.ends_with("yes");
        assert_eq!(got, want, "{expr}");
    }
}

#[test]
fn status_of_unknown_command_is_success() {
    let (s, d) = run(
        "if frobnicate; then r=yes; fi\nmenuentry t {\n linux /vmlinuz $r\n}\n",
        &[K],
    );
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz yes");
    let u = d
        .iter()
        .find(|d| d.message.contains("frobnicate"))
        .expect("logged");
    assert_eq!((u.file.as_str(), u.line), ("/boot/grub/grub.cfg", 1));
}

#[test]
fn for_while_break_continue() {
    let setup = "l=\nfor x in a b c d; do if [ $x = b ]; then continue; fi; if [ $x = d ]; then break; fi; l=\"$l$x\"; done\n\
                 n=\nwhile [ \"$n\" != xxx ]; do n=\"${n}x\"; done\n\
                 until true; do u=never; done";
    assert_eq!(
        cmdline_of(setup, "$l $n [$u]"),
        "BOOT_IMAGE=/vmlinuz ac xxx []"
    );
}

#[test]
fn status_variable() {
    assert_eq!(
        cmdline_of("false\ns=$?\ntrue\nt=$?", "$s $t"),
        "BOOT_IMAGE=/vmlinuz 1 0"
    );
}

// ------------------------------------------------------------------ functions

#[test]
fn functions_with_positional_parameters() {
    // `rest="$@"` is two words after `shift` (`rest=y z` and `w`): the assignment
    // takes the first only.
    let setup = "function f {\n  a1=$1; n=$#; all=\"$*\"\n  shift\n  rest=\"$@\"\n  return 3\n}\nf x 'y z' w\nst=$?";
    assert_eq!(
        cmdline_of(setup, "$a1 $n \"$all\" \"$rest\" $st"),
        "BOOT_IMAGE=/vmlinuz x 3 \"x y z w\" \"y z\" 3"
    );
}

#[test]
fn function_defined_later_in_file_is_unknown_earlier() {
    let (s, d) = run(
        "g\nfunction g { r=set; }\nmenuentry t {\n linux /vmlinuz [$r]\n}\n",
        &[K],
    );
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz []");
    assert!(d.iter().any(|d| d.message.contains("unknown command `g`")));
}

#[test]
fn functions_run_at_boot_see_menu_time_values() {
    // Ubuntu's `gfxmode` function sets `$vt_handoff` inside the entry.
    let cfg = "function gfxmode {\n set gfxpayload=\"${1}\"\n if [ \"${1}\" = keep ]; then set vt_handoff=vt.handoff=7; else set vt_handoff=; fi\n}\n\
               mode=keep\nmenuentry u {\n gfxmode $mode\n linux /vmlinuz ro $vt_handoff\n}\nmode=text\n";
    let (s, _) = run(cfg, &[K]);
    // The body runs when the menu is shown, after `mode=text`.
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz ro");
}

#[test]
fn menuentry_arguments_are_positional_parameters() {
    let cfg = "for b in 32 64; do\n menuentry \"Install ($b-bit)\" $b --class os {\n  linux /ppc$2/vmlinuz $1\n }\ndone\n";
    let (s, _) = run(cfg, &[("/ppc32/vmlinuz", ""), ("/ppc64/vmlinuz", "")]);
    assert_eq!(titles(&s), ["Install (32-bit)", "Install (64-bit)"]);
    assert_eq!(s.entries[1].kernel, "/ppc64/vmlinuz");
    // Unquoted `$1` splits the title into two arguments.
    assert_eq!(
        s.entries[1].cmdline,
        "BOOT_IMAGE=/ppc64/vmlinuz Install (64-bit)"
    );
}

// ------------------------------------------------------------------ menuentry options

#[test]
fn menuentry_options() {
    let cfg = "if [ x\"${feature_menuentry_id}\" = xy ]; then menuentry_id_option=\"--id\"; else menuentry_id_option=\"\"; fi\n\
               menuentry 'A' --class a --class b --id=ida --hotkey x {\n linux /vmlinuz\n}\n\
               menuentry 'B' --unrestricted --id idb {\n linux /vmlinuz\n}\n\
               menuentry 'C' $menuentry_id_option idc {\n linux /vmlinuz\n}\n\
               menuentry 'D' --users alice {\n linux /vmlinuz\n}\n\
               menuentry 'E' {\n linux /vmlinuz\n}\n";
    let (s, _) = run(cfg, &[K]);
    let ids: Vec<&str> = s.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["ida", "idb", "idc", "D", "E"]);
    assert_eq!(s.info[0].classes, ["a", "b"]);
    assert_eq!(s.info[0].hotkey.as_deref(), Some("x"));
    assert_eq!(s.info[1].users, None);
    assert_eq!(s.info[3].users.as_deref(), Some("alice"));
    assert_eq!(s.info[4].users.as_deref(), Some(""));
}

#[test]
fn menuentry_source_option() {
    let (s, _) = run("menuentry S --source 'linux /vmlinuz from-source'\n", &[K]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz from-source");
}

// ------------------------------------------------------------------ loaders

#[test]
fn every_initrd_in_order_and_last_linux_wins() {
    let cfg = "menuentry t {\n linux /old\n linux /vmlinuz a\n initrd /ucode.img /initrd.img\n}\n";
    let (s, _) = run(cfg, &[K, I, ("/old", ""), ("/ucode.img", "")]);
    assert_eq!(s.entries[0].initrds, ["/ucode.img", "/initrd.img"]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz a");
    assert_eq!(s.info[0].loader.as_deref(), Some("linux"));
}

#[test]
fn missing_kernel_or_initrd_is_a_problem() {
    let cfg = "menuentry a {\n linux /nope\n}\nmenuentry b {\n linux /vmlinuz\n initrd /initrd.img /gone.img\n}\n";
    let (s, _) = run(cfg, &[K, I]);
    assert!(s.entries[0].problem.as_deref().unwrap().contains("/nope"));
    assert!(
        s.entries[1]
            .problem
            .as_deref()
            .unwrap()
            .contains("/gone.img")
    );
}

#[test]
fn entries_that_load_no_linux_are_listed_unbootable() {
    let cfg = "menuentry w {\n chainloader /EFI/Microsoft/Boot/bootmgfw.efi\n}\nmenuentry fw {\n fwsetup\n}\nmenuentry e {\n echo nothing\n}\n";
    let (s, _) = run(cfg, &[K]);
    assert_eq!(s.entries.len(), 3);
    assert!(
        s.entries[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("chainloader")
    );
    assert!(s.entries[1].problem.as_deref().unwrap().contains("fwsetup"));
    assert!(
        s.entries[2]
            .problem
            .as_deref()
            .unwrap()
            .contains("no `linux`")
    );
}

/// Xen and tboot entries: `multiboot`/`multiboot2` load the hypervisor (or tboot)
/// and `module`/`module2` the kernel and initrds it hands on; leapboot boots none.
#[test]
fn multiboot_entries_are_not_supported() {
    let cfg = "menuentry xen {\n multiboot2 /boot/xen.gz placeholder dom0_mem=1G\n module2 /boot/vmlinuz root=/dev/sda1\n module2 --nounzip /boot/initrd.img\n}\n\
               menuentry tboot {\n multiboot /boot/tboot.gz logging=serial\n module /boot/vmlinuz ro\n module /boot/initrd.img\n}\n\
               menuentry arm {\n xen_hypervisor /boot/xen\n xen_module /boot/vmlinuz\n}\n\
               menuentry late {\n linux /vmlinuz\n multiboot2 --quirk-bad-kludge /boot/xen.gz\n}\n\
               menuentry early {\n multiboot2 /boot/xen.gz\n linux /vmlinuz\n}\n";
    let (s, d) = run(cfg, &[K]);
    let problem = |i: usize| s.entries[i].problem.clone().unwrap_or_default();
    for i in [0, 1, 3] {
        assert!(
            problem(i).starts_with("multiboot (Xen/tboot) is not supported"),
            "{}",
            problem(i)
        );
        assert_eq!(s.entries[i].kernel, "");
        assert!(s.entries[i].initrds.is_empty());
    }
    assert!(problem(0).contains("/boot/xen.gz with `multiboot2`"));
    assert!(problem(1).contains("/boot/tboot.gz with `multiboot`"));
    assert!(
        problem(2).starts_with("Xen is not supported"),
        "{}",
        problem(2)
    );
    assert!(
        problem(3).contains("/boot/xen.gz"),
        "the option is not the file"
    );
    // The last loader wins, as in GRUB.
    assert_eq!(s.entries[4].problem, None);
    assert_eq!(s.entries[4].kernel, "/vmlinuz");
    // The modules of a loaded multiboot kernel are no warning.
    assert!(d.iter().all(|d| !d.message.contains("module")), "{d:?}");
}

#[test]
fn module_without_multiboot_fails() {
    let cfg = "menuentry m {\n if module /boot/vmlinuz; then r=loaded; else r=refused; fi\n linux /vmlinuz $r\n}\n";
    let (s, d) = run(cfg, &[K]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz refused");
    assert!(
        d.iter()
            .any(|d| d.message.contains("`module` before `multiboot`"))
    );
}

#[test]
fn cmdline_quoting_follows_grub_create_loader_cmdline() {
    assert_eq!(
        cmdline_of("", "'a b' \"it's\" q\\\"t"),
        "BOOT_IMAGE=/vmlinuz \"a b\" it\\'s q\\\"t"
    );
}

// ------------------------------------------------------------------ search and devices

fn two_volumes(cfg: &str) -> Vec<(leapboot_menus::VolumeInfo, MemFs)> {
    let esp = MemFs::new().with("/EFI/distro/grub.cfg", cfg.as_bytes().to_vec());
    let root = MemFs::new()
        .with("/boot/vmlinuz", "K")
        .with("/boot/initrd.img", "I")
        .with("/etc/os-release", "x");
    vec![
        (vol("vda1", "AB12-CD34", Some("ESP")), esp),
        (
            vol("vda2", "5e1f0000-aaaa-bbbb-cccc-000000000002", Some("root")),
            root,
        ),
    ]
}

#[test]
fn search_fs_uuid_label_and_file() {
    for search in [
        "search --no-floppy --fs-uuid --set=root 5E1F0000-AAAA-BBBB-CCCC-000000000002",
        "search --label --set root root",
        "search -f /etc/os-release --set=root",
        "search.fs_uuid 5e1f0000-aaaa-bbbb-cccc-000000000002 root hd0,gpt1",
        "search.fs_label root root",
        "search --file --set=root --hint-efi=hd0,gpt1 --hint hd0,gpt2 /etc/os-release",
    ] {
        let cfg = format!(
            "{search}\nmenuentry t {{\n linux /boot/vmlinuz root=$root\n initrd /boot/initrd.img\n}}\n"
        );
        let (s, d) = scan_vols(&two_volumes(&cfg), 0);
        let s = s.unwrap();
        let e = &s.entries[0];
        assert_eq!(e.volume.device, "vda2", "{search}: {d:?}");
        assert_eq!(
            e.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=hd0,gpt2",
            "{search}"
        );
        assert!(e.problem.is_none());
    }
}

#[test]
fn failed_search_leaves_the_variable() {
    let cfg = "set root=hd0,gpt2\nsearch --fs-uuid --set=root deadbeef\nmenuentry t {\n linux /boot/vmlinuz\n}\n";
    let (s, d) = scan_vols(&two_volumes(cfg), 0);
    assert_eq!(s.unwrap().entries[0].volume.device, "vda2");
    assert!(d.iter().any(|d| d.message.contains("deadbeef")));
}

#[test]
fn device_paths() {
    let cfg = "menuentry a {\n linux (hd0,gpt2)/boot/vmlinuz\n}\nmenuentry b {\n set root=(hd0,msdos2)\n linux ($root)/boot/vmlinuz\n}\n\
               menuentry c {\n linux (hd7,gpt1)/vmlinuz\n}\n";
    let (s, d) = scan_vols(&two_volumes(cfg), 0);
    let s = s.unwrap();
    assert_eq!(s.entries[0].volume.device, "vda2");
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=(hd0,gpt2)/boot/vmlinuz");
    // `set root=(...)` drops the parentheses (`grub_env_write_root`); the partition
    // table tag does not matter to leapboot.
    assert_eq!(s.entries[1].volume.device, "vda2");
    assert_eq!(s.entries[1].cmdline, "BOOT_IMAGE=(hd0,msdos2)/boot/vmlinuz");
    // An unknown device falls back to the config's volume, with a warning.
    assert!(
        s.entries[2]
            .problem
            .as_deref()
            .unwrap()
            .contains("not found on vda1")
    );
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Warning && d.message.contains("hd7,gpt1"))
    );
}

#[test]
fn prefix_root_and_config_directory_are_preset() {
    // `$config_directory` exists while the config is read (it is unset again when
    // entries run), so it is captured in `cd`.
    let cfg = "cd=$config_directory\nmenuentry t {\n linux /EFI/distro/k $root $prefix $cd $feature_menuentry_id $grub_platform [$config_directory]\n}\n";
    let esp = MemFs::new()
        .with("/EFI/distro/grub.cfg", cfg)
        .with("/EFI/distro/k", "K");
    let (s, _) = scan_vols(&[(vol("vda1", "AB12-CD34", None), esp)], 0);
    assert_eq!(
        s.unwrap().entries[0].cmdline,
        "BOOT_IMAGE=/EFI/distro/k hd0,gpt1 (hd0,gpt1)/EFI/distro (hd0,gpt1)/EFI/distro y efi []"
    );
}

#[test]
fn esp_stub_configfile_into_another_volume() {
    let stub = "search.fs_uuid 5e1f0000-aaaa-bbbb-cccc-000000000002 root\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n";
    let main = "set timeout=3\nmenuentry Main {\n linux /boot/vmlinuz dir=$config_directory\n}\n";
    let esp = MemFs::new().with("/EFI/distro/grub.cfg", stub);
    let root = MemFs::new()
        .with("/boot/grub/grub.cfg", main)
        .with("/boot/vmlinuz", "K");
    let vols = vec![
        (vol("vda1", "AB12-CD34", None), esp),
        (
            vol("vda2", "5e1f0000-aaaa-bbbb-cccc-000000000002", None),
            root,
        ),
    ];
    let (s, _) = scan_vols(&vols, 0);
    let s = s.unwrap();
    assert_eq!(s.config.path, "/EFI/distro/grub.cfg");
    assert_eq!(s.menu_config.path, "/boot/grub/grub.cfg");
    assert_eq!(s.menu_config.volume.device, "vda2");
    // `read_config_file` restores `$config_directory` before the menu is shown, so
    // the body sees the stub's value (copied into the new context because exported).
    assert_eq!(
        s.entries[0].cmdline,
        "BOOT_IMAGE=/boot/vmlinuz dir=(hd0,gpt1)/EFI/distro"
    );
    assert_eq!(s.entries[0].source.file, "(vda2)/boot/grub/grub.cfg");
    assert_eq!(s.timeout.seconds, Some(3));
    // Both volumes lead to the same menu: the merged menu lists it once.
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, f)| VolumeView { info: i, fs: f })
        .collect();
    let m = Menu::assemble(&scan_all(&views), None);
    assert_eq!(m.entries.len(), 1);
    assert_eq!(m.timeout.and_then(|t| t.seconds), Some(3));
}

#[test]
fn fedora_esp_stub_with_root_dev_only() {
    let stub = "search --no-floppy --root-dev-only --fs-uuid --set=dev 5e1f0000-aaaa-bbbb-cccc-000000000002\n\
                set prefix=($dev)/grub2\nexport $prefix\nconfigfile $prefix/grub.cfg\n";
    let esp = MemFs::new().with("/EFI/fedora/grub.cfg", stub);
    // The stub sets `dev`, not `root`: the main config searches for its own root.
    let main = "search --no-floppy --fs-uuid --set=root 5e1f0000-aaaa-bbbb-cccc-000000000002\nmenuentry F {\n linux /vmlinuz\n}\n";
    let boot = MemFs::new()
        .with("/grub2/grub.cfg", main)
        .with("/vmlinuz", "K");
    let vols = vec![
        (vol("vda1", "AB12-CD34", None), esp),
        (
            vol("vda2", "5e1f0000-aaaa-bbbb-cccc-000000000002", None),
            boot,
        ),
    ];
    let (s, d) = scan_vols(&vols, 0);
    let s = s.unwrap();
    assert_eq!(s.entries[0].volume.device, "vda2", "{d:?}");
    assert!(s.entries[0].problem.is_none());
}

#[test]
fn configfile_context_keeps_only_exported_variables() {
    let cfg = "a=plain\nb=shared\nexport b\nconfigfile /boot/grub/two.cfg\n";
    let two = "menuentry t {\n linux /vmlinuz [$a] [$b]\n}\n";
    let (s, _) = run(cfg, &[K, ("/boot/grub/two.cfg", two)]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz [] [shared]");
}

#[test]
fn source_shares_context_and_menu() {
    let cfg = "menuentry first {\n linux /vmlinuz $v\n}\nsource /boot/grub/more.cfg\n";
    let more = "v=fromsource\nmenuentry second {\n linux /vmlinuz\n}\n";
    let (s, _) = run(cfg, &[K, ("/boot/grub/more.cfg", more)]);
    assert_eq!(titles(&s), ["first", "second"]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz fromsource");
}

#[test]
fn submenu_sees_only_exported_variables() {
    let cfg = "a=plain\nexport b\nb=shared\nsubmenu S {\n menuentry t {\n  linux /vmlinuz [$a] [$b] [$chosen]\n }\n}\n";
    let (s, _) = run(cfg, &[K]);
    assert_eq!(s.entries[0].path.as_deref(), Some("S>t"));
    assert_eq!(
        s.entries[0].cmdline,
        "BOOT_IMAGE=/vmlinuz [] [shared] [S>t]"
    );
    assert!(matches!(&s.tree[0], GrubNode::Submenu { children, .. } if children.len() == 1));
}

// ------------------------------------------------------------------ default selection

fn menu_cfg(default: &str) -> String {
    format!(
        "set default=\"{default}\"\n\
         menuentry 'One' --id one {{\n linux /vmlinuz 1\n}}\n\
         submenu 'Adv>anced' --id adv {{\n\
           menuentry 'Two' --id two {{\n  linux /vmlinuz 2\n }}\n\
           menuentry 'Three' {{\n  linux /vmlinuz 3\n }}\n\
         }}\n\
         menuentry 'Four' {{\n linux /vmlinuz 4\n}}\n"
    )
}

fn default_of(default: &str) -> Option<String> {
    let (s, _) = run(&menu_cfg(default), &[K]);
    s.default.map(|i| s.entries[i].title.clone())
}

#[test]
fn default_by_index_title_and_id() {
    assert_eq!(default_of("0").as_deref(), Some("One"));
    assert_eq!(default_of("2").as_deref(), Some("Four"));
    assert_eq!(default_of("Four").as_deref(), Some("Four"));
    assert_eq!(default_of("one").as_deref(), Some("One"));
    assert_eq!(default_of("9").as_deref(), Some("One"), "out of range");
    assert_eq!(default_of("nothing").as_deref(), Some("One"), "no match");
    assert_eq!(default_of("").as_deref(), Some("One"));
}

#[test]
fn default_path_into_submenu() {
    assert_eq!(default_of("adv>two").as_deref(), Some("Two"));
    assert_eq!(default_of("adv>Three").as_deref(), Some("Three"));
    assert_eq!(default_of("1>1").as_deref(), Some("Three"));
    // `>>` is a literal `>` in a title.
    assert_eq!(default_of("Adv>>anced>Three").as_deref(), Some("Three"));
    // A submenu with no remainder boots its first entry.
    assert_eq!(default_of("adv").as_deref(), Some("Two"));
    assert_eq!(default_of("adv>nothing").as_deref(), Some("Two"));
}

#[test]
fn entry_paths_escape_gt() {
    let (s, _) = run(&menu_cfg("0"), &[K]);
    assert_eq!(
        titles(&s),
        ["One", "Adv>>anced>Two", "Adv>>anced>Three", "Four"]
    );
    assert_eq!(s.entries[2].id, "Adv>>anced>Three");
}

#[test]
fn leading_digit_default_is_an_index_upstream() {
    let cfg = "set default=2abc-id\nmenuentry a --id 2abc-id {\n linux /vmlinuz\n}\nmenuentry b {\n linux /vmlinuz\n}\nmenuentry c {\n linux /vmlinuz\n}\n";
    let (s, _) = run(cfg, &[K]);
    assert_eq!(s.default, Some(2));
}

/// A RHEL 8 style menu: BLS ids `<machine-id>-<version>` whose machine id starts with
/// a digit, and `saved_entry` naming the older kernel.
fn rhel_menu(default: &str) -> String {
    format!(
        "set default=\"{default}\"\n\
         menuentry 'RHEL (4.18.0-80.11.2)' --id 8e15296c-4.18.0-80.11.2 {{\n linux /vmlinuz new\n}}\n\
         menuentry 'RHEL (4.18.0-80)' --id 8e15296c-4.18.0-80 {{\n linux /vmlinuz old\n}}\n\
         menuentry 'RHEL (0-rescue)' --id 8e15296c-0-rescue {{\n linux /vmlinuz rescue\n}}\n"
    )
}

/// rhboot's `get_entry_number` (`grub-core/normal/menu.c` in rhboot/grub2): ids, then
/// titles, then a whole-value number, for a config in a `grub2` directory.
#[test]
fn rhboot_default_for_a_grub2_config() {
    let vols = one(&[
        ("/boot/grub2/grub.cfg", &rhel_menu("8e15296c-4.18.0-80")),
        K,
    ]);
    let (s, d) = scan_vols(&vols, 0);
    let s = s.unwrap();
    assert_eq!(s.flavour, GrubFlavour::Rhboot);
    assert_eq!(s.default, Some(1));
    let note = d
        .iter()
        .find(|d| d.severity == Severity::Info && d.message.contains("Fedora/RHEL GRUB"))
        .expect("the choice is explained");
    assert!(
        note.message.contains("/boot/grub2/grub.cfg"),
        "{}",
        note.message
    );
    assert!(
        note.message.contains("upstream GRUB would select entry 0"),
        "{}",
        note.message
    );
    // Upstream's reading of the same config: index 8, out of range, so entry 0.
    let (s, d) = run(&rhel_menu("8e15296c-4.18.0-80"), &[K]);
    assert_eq!(s.flavour, GrubFlavour::Upstream);
    assert_eq!(s.default, Some(0));
    assert!(d.iter().all(|d| !d.message.contains("Fedora/RHEL GRUB")));
}

/// rhboot: a number counts only when it is the whole value, after ids and titles.
#[test]
fn rhboot_default_numbers_and_titles() {
    let pick = |default: &str| {
        let vols = one(&[("/boot/grub2/grub.cfg", &rhel_menu(default)), K]);
        scan_vols(&vols, 0).0.unwrap().default
    };
    assert_eq!(pick("2"), Some(2));
    assert_eq!(pick("RHEL (0-rescue)"), Some(2));
    assert_eq!(pick("2abc"), Some(0));
    assert_eq!(pick("8e15296c-0-rescue"), Some(2));
}

/// Only rhboot's GRUB has `blscfg`: a config that runs it gets rhboot's rules
/// wherever it lies (here `/boot/grub/grub.cfg`).
#[test]
fn rhboot_default_for_a_blscfg_config() {
    let e = |v: &str| format!("title Fedora ({v})\nversion {v}\nlinux /vmlinuz-{v}\n");
    let (e61, e62) = (e("6.1"), e("6.2"));
    let n61 = format!("/loader/entries/{MID}-6.1.conf");
    let n62 = format!("/loader/entries/{MID}-6.2.conf");
    let cfg = format!("set default={MID}-6.1\nblscfg\n");
    let vols = one(&[
        ("/boot/grub/grub.cfg", cfg.as_str()),
        ("/vmlinuz-6.1", "K"),
        ("/vmlinuz-6.2", "K"),
        (n61.as_str(), e61.as_str()),
        (n62.as_str(), e62.as_str()),
    ]);
    let (s, d) = scan_vols(&vols, 0);
    let s = s.unwrap();
    assert_eq!(s.flavour, GrubFlavour::Rhboot);
    assert_eq!(titles(&s), ["Fedora (6.2)", "Fedora (6.1)"]);
    assert_eq!(s.default, Some(1));
    assert!(
        d.iter()
            .any(|d| d.message.contains("the config runs `blscfg`"))
    );
}

#[test]
fn fallback_list_in_order() {
    let cfg = "set default=0\nset fallback=\"3 1\"\n\
               menuentry broken {\n linux /missing\n}\nmenuentry one {\n linux /vmlinuz\n}\n\
               menuentry chain {\n chainloader /x.efi\n}\nmenuentry three {\n linux /vmlinuz\n}\n";
    let (s, _) = run(cfg, &[K]);
    assert_eq!(s.attempts, [0, 3, 1]);
    let vols = one(&[("/boot/grub/grub.cfg", cfg), K]);
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, f)| VolumeView { info: i, fs: f })
        .collect();
    let m = Menu::assemble(&scan_all(&views), None);
    assert_eq!(m.default_entry().unwrap().title, "three");
    assert_eq!(
        m.fallbacks
            .iter()
            .map(|&i| m.entries[i].title.as_str())
            .collect::<Vec<_>>(),
        ["one"]
    );
    assert!(
        matches!(&m.default_reason, Some(DefaultReason::Grub(g)) if g.fallback && g.value.as_deref() == Some("0"))
    );
}

#[test]
fn timeout_and_style() {
    let (s, _) = run(
        "set timeout=7\nset timeout_style=countdown\nmenuentry t {\n linux /vmlinuz\n}\n",
        &[K],
    );
    assert_eq!(s.timeout.seconds, Some(7));
    assert_eq!(format!("{:?}", s.timeout.style), "Countdown");
    let (s, _) = run(
        "set timeout=-1\nset timeout_style=hidden\nmenuentry t {\n linux /vmlinuz\n}\n",
        &[K],
    );
    assert_eq!(
        (s.timeout.seconds, format!("{:?}", s.timeout.style).as_str()),
        (None, "Menu")
    );
}

// ------------------------------------------------------------------ grubenv

const HEADER: &str = "if [ -s $prefix/grubenv ]; then\n  set have_grubenv=true\n  load_env\nfi\n\
if [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\n   set next_entry=\n   save_env next_entry\n   set boot_once=true\nelse\n   set default=\"${saved_entry}\"\nfi\n\
function savedefault {\n  if [ -z \"${boot_once}\" ]; then\n    saved_entry=\"${chosen}\"\n    save_env saved_entry\n  fi\n}\n\
menuentry A --id a {\n savedefault\n linux /vmlinuz a\n}\nsubmenu S --id s {\n menuentry B --id b {\n  savedefault\n  linux /vmlinuz b\n }\n}\n";

#[test]
fn next_entry_is_used_once_and_cleared() {
    let env = grubenv(&[("next_entry", "s>b"), ("saved_entry", "a")]);
    let (s, _) = run(HEADER, &[K, ("/boot/grub/grubenv", env.as_str())]);
    assert_eq!(s.default.map(|i| s.entries[i].title.as_str()), Some("B"));
    assert_eq!(s.env_writes.len(), 1);
    assert_eq!(s.env_writes[0].path, "/boot/grub/grubenv");
    assert_eq!(
        s.env_writes[0].changes,
        [EnvChange::Set("next_entry".into(), String::new())]
    );
    // boot_once keeps `savedefault` quiet in A; inside the submenu `boot_once` is not
    // exported, so GRUB's `savedefault` there does write `saved_entry`.
    assert_eq!(s.info[0].env_writes, s.env_writes);
    assert_eq!(s.info[1].env_writes.len(), 2);
    assert_eq!(
        s.info[1].env_writes[1].changes,
        [EnvChange::Set("saved_entry".into(), "s>b".into())]
    );
    // Applying the write gives a block of the same size without next_entry's value.
    let new =
        leapboot_menus::grub::grubenv::apply(env.as_bytes(), &s.env_writes[0].changes).unwrap();
    assert_eq!(new.len(), 1024);
    let blk = EnvBlock::parse(&new).unwrap();
    assert_eq!(blk.get("next_entry").as_deref(), Some(""));
    assert_eq!(blk.get("saved_entry").as_deref(), Some("a"));
}

#[test]
fn saved_entry_and_savedefault() {
    let env = grubenv(&[("saved_entry", "s>b")]);
    let (s, _) = run(HEADER, &[K, ("/boot/grub/grubenv", env.as_str())]);
    assert_eq!(s.default.map(|i| s.entries[i].title.as_str()), Some("B"));
    assert!(s.env_writes.is_empty());
    // Booting A saves `a`; booting S>B saves the path of ids `s>b`.
    let last = |i: usize| s.info[i].env_writes.last().map(|w| w.changes.clone());
    assert_eq!(
        last(0),
        Some(vec![EnvChange::Set("saved_entry".into(), "a".into())])
    );
    assert_eq!(
        last(1),
        Some(vec![EnvChange::Set("saved_entry".into(), "s>b".into())])
    );
    let vols = one(&[
        ("/boot/grub/grub.cfg", HEADER),
        K,
        ("/boot/grub/grubenv", env.as_str()),
    ]);
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|(i, f)| VolumeView { info: i, fs: f })
        .collect();
    let m = Menu::assemble(&scan_all(&views), None);
    assert_eq!(m.env_writes_for(m.default.unwrap()).len(), 1);
}

#[test]
fn load_env_file_and_whitelist() {
    let env = grubenv(&[("a", "1"), ("b", "2")]);
    let cfg = "load_env -f /x/env a\nmenuentry t {\n linux /vmlinuz [$a] [$b]\n}\n";
    let (s, _) = run(cfg, &[K, ("/x/env", env.as_str())]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz [1] []");
}

#[test]
fn save_env_is_seen_by_later_load_env() {
    let env = grubenv(&[("count", "1")]);
    let cfg = "load_env\ncount=2\nsave_env count\nunset count\nload_env\nmenuentry t {\n linux /vmlinuz $count\n}\n";
    let (s, _) = run(cfg, &[K, ("/boot/grub/grubenv", env.as_str())]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz 2");
}

// ------------------------------------------------------------------ blscfg

fn bls_volume(cfg: &str, files: &[(&str, &str)]) -> GrubScan {
    let mut all = vec![
        ("/grub2/grub.cfg", cfg),
        ("/vmlinuz-6.1", "K"),
        ("/vmlinuz-6.2", "K"),
        ("/initramfs-6.2.img", "I"),
    ];
    all.extend_from_slice(files);
    let vols = one(&all);
    let (s, d) = scan_vols(&vols, 0);
    assert!(d.iter().all(|d| d.severity != Severity::Error), "{d:?}");
    s.unwrap()
}

const MID: &str = "4f2bc1a50f1e4a0c9a36c1c5f8d1b3aa";

#[test]
fn blscfg_fedora_semantics() {
    let e61 = "title Fedora (6.1)\nversion 6.1\nlinux /vmlinuz-6.1\noptions $kernelopts\n";
    let e62 = "title Fedora (6.2)\nversion 6.2\nlinux /vmlinuz-6.2\ninitrd /initramfs-6.2.img $tuned_initrd\noptions $kernelopts $tuned_params\noptions ignored\ngrub_arg --unrestricted\ngrub_class kernel\ngrub_users $grub_users\n";
    let cfg = "set kernelopts=\"root=UUID=x ro quiet\"\nset tuned_params=\"skew_tick=1\"\nblscfg\n";
    let n61 = format!("/loader/entries/{MID}-6.1.fc38.x86_64.conf");
    let n62 = format!("/loader/entries/{MID}-6.2.fc38.x86_64.conf");
    let s = bls_volume(cfg, &[(n61.as_str(), e61), (n62.as_str(), e62)]);
    // Newest first by file name (name-version-release, RPM order).
    assert_eq!(titles(&s), ["Fedora (6.2)", "Fedora (6.1)"]);
    let e = &s.entries[0];
    assert_eq!(e.id, format!("{MID}-6.2.fc38.x86_64"));
    assert_eq!(e.version.as_deref(), Some("6.2"));
    // First `options` line only; variables expanded; `linux ($root)...`.
    assert_eq!(
        e.cmdline,
        "BOOT_IMAGE=(hd0,gpt1)/vmlinuz-6.2 root=UUID=x ro quiet skew_tick=1"
    );
    assert_eq!(e.initrds, ["/initramfs-6.2.img"]);
    assert_eq!(s.info[0].classes, ["kernel"]);
    assert_eq!(e.source.file, n62);
    assert_eq!(s.bls_files.len(), 2);
}

#[test]
fn blscfg_default_kernelopts_blsdir_and_filters() {
    let e = "title T\nlinux /vmlinuz-6.1\n";
    let s = bls_volume(
        "set default_kernelopts=\"ro fallback\"\nset blsdir=/my/entries\nblscfg\n",
        &[("/my/entries/a-6.1.conf", e), ("/loader/entries/b.conf", e)],
    );
    assert_eq!(s.entries.len(), 1);
    assert_eq!(
        s.entries[0].cmdline,
        "BOOT_IMAGE=(hd0,gpt1)/vmlinuz-6.1 ro fallback"
    );
    // `blscfg default` then `blscfg non-default`: the default entry comes first.
    let a = "title A\nlinux /vmlinuz-6.1\n";
    let b = "title B\nlinux /vmlinuz-6.2\n";
    let s = bls_volume(
        "set default=x-6.1\nblscfg default\nblscfg non-default\nblscfg\n",
        &[
            ("/loader/entries/x-6.1.conf", a),
            ("/loader/entries/x-6.2.conf", b),
        ],
    );
    assert_eq!(titles(&s), ["A", "B"]);
}

#[test]
fn blscfg_falls_back_to_boot_loader_entries() {
    let e = "title T\nlinux /vmlinuz-6.1\n";
    let s = bls_volume("blscfg\n", &[("/boot/loader/entries/t.conf", e)]);
    assert_eq!(titles(&s), ["T"]);
}

#[test]
fn blscfg_save_default_and_early_initrd() {
    let e = "title T\nlinux /vmlinuz-6.2\ninitrd /initramfs-6.2.img\n";
    let cfg = "set save_default=true\nset early_initrd=ucode.img\nfunction savedefault { saved_entry=\"${chosen}\"; save_env saved_entry; }\nblscfg\n";
    let env = grubenv(&[]);
    let s = bls_volume(
        cfg,
        &[
            ("/loader/entries/t-6.2.conf", e),
            ("/ucode.img", "U"),
            ("/grub2/grubenv", env.as_str()),
        ],
    );
    assert_eq!(s.entries[0].initrds, ["/ucode.img", "/initramfs-6.2.img"]);
    assert_eq!(
        s.info[0].env_writes[0].changes,
        [EnvChange::Set("saved_entry".into(), "t-6.2".into())]
    );
}

// ------------------------------------------------------------------ robustness and limits

#[test]
fn syntax_error_loses_only_its_command() {
    let cfg = "menuentry a {\n linux /vmlinuz a\n}\nset x=1 | 2\nmenuentry b {\n linux /vmlinuz b\n}\n[[ bad ]]\nmenuentry c {\n linux /vmlinuz c\n}\n";
    let (s, d) = run(cfg, &[K]);
    assert_eq!(titles(&s), ["a", "b", "c"]);
    let lines: Vec<u32> = d
        .iter()
        .filter(|d| d.message.contains("syntax error"))
        .map(|d| d.line)
        .collect();
    assert_eq!(lines, [4, 8]);
}

#[test]
fn unknown_commands_are_skipped_not_fatal() {
    let cfg = "set_background_image foo.png\nfrobnicate --all\nmenuentry a {\n frobnicate\n linux /vmlinuz\n}\n";
    let (s, d) = run(cfg, &[K]);
    assert_eq!(s.entries.len(), 1);
    assert!(s.entries[0].problem.is_none());
    assert_eq!(
        d.iter()
            .filter(|d| d.message.contains("unknown command"))
            .count(),
        3
    );
}

fn quick<T>(f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    r
}

#[test]
fn hundred_thousand_menuentries_from_loops() {
    let digits = "0 1 2 3 4 5 6 7 8 9";
    let cfg = format!(
        "for a in {digits}; do for b in {digits}; do for c in {digits}; do for d in {digits}; do for e in {digits}; do\n\
         menuentry \"e$a$b$c$d$e\" {{\n linux /vmlinuz\n }}\ndone; done; done; done; done\n"
    );
    let (s, d) = quick(|| run(&cfg, &[K]));
    assert_eq!(s.entries.len(), leapboot_menus::MAX_ENTRIES_PER_SOURCE);
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("menu entries"))
    );
}

#[test]
fn hundred_thousand_menuentries_in_a_file() {
    let cfg = "menuentry e {\n linux /vmlinuz\n}\n".repeat(100_000);
    let vols = one(&[("/boot/grub/grub.cfg", cfg.as_str()), K]);
    let (s, d) = quick(|| scan_vols(&vols, 0));
    assert!(s.is_none());
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("limit")),
        "{d:?}"
    );
}

#[test]
fn endless_loop_ends_with_an_error() {
    let (s, d) = quick(|| {
        run(
            "menuentry a {\n linux /vmlinuz\n}\nwhile true; do x=1; done\nmenuentry b {\n linux /vmlinuz\n}\n",
            &[K],
        )
    });
    assert_eq!(
        s.entries.len(),
        1,
        "the loop never ends, so `b` is never defined"
    );
    assert!(
        s.entries[0].problem.is_none(),
        "entries found so far still evaluate"
    );
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("stopped after"))
    );
}

#[test]
fn deep_recursion_ends_with_an_error() {
    let (_, d) = quick(|| {
        run(
            "function f { f; f; }\nf\nmenuentry a {\n linux /vmlinuz\n}\n",
            &[K],
        )
    });
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("nested deeper"))
    );
    let (s, d) = quick(|| {
        run(
            "source $prefix/grub.cfg\nmenuentry a {\n linux /vmlinuz\n}\n",
            &[K],
        )
    });
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("nested deeper"))
    );
    assert!(!s.entries.is_empty());
    let (_, d) = quick(|| run("configfile $prefix/grub.cfg\n", &[K]));
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("nested deeper"))
    );
}

#[test]
fn self_sourcing_twice_is_bounded() {
    // Each level sources the file twice: 2^32 calls without the step budget.
    let cfg = "set x=1\nsource $prefix/grub.cfg\nsource $prefix/grub.cfg\nmenuentry a {\n linux /vmlinuz\n}\n";
    let (s, d) = quick(|| run(cfg, &[K]));
    assert!(!s.entries.is_empty());
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("stopped after"))
    );
}

#[test]
fn save_env_writes_are_bounded() {
    let env = grubenv(&[("n", "0")]);
    let cfg = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35; do\n n=$i\n save_env n\ndone\nmenuentry t {\n linux /vmlinuz\n}\n";
    let (s, d) = quick(|| run(cfg, &[K, ("/boot/grub/grubenv", env.as_str())]));
    assert_eq!(s.env_writes.len(), 32);
    assert!(d.iter().any(|d| d.message.contains("save_env")));
}

#[test]
fn exponential_values_are_capped() {
    let cfg = "a=xxxxxxxxxxxxxxxx\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do a=\"$a$a\"; done\nmenuentry t {\n linux /vmlinuz\n}\n";
    let (s, d) = quick(|| run(cfg, &[K]));
    assert_eq!(s.entries.len(), 1);
    assert!(d.iter().any(|d| d.severity == Severity::Error));
}

#[test]
fn nested_submenus_are_bounded() {
    let cfg = "function m { submenu \"level $1\" { m x; }; }\nm x\n";
    let (s, d) = quick(|| run(cfg, &[K]));
    assert!(s.entries.is_empty());
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.message.contains("nested deeper"))
    );
}

/// An entry whose kernel is missing names the path it looked for in `kernel`, on the
/// volume it looked on, as a BLS entry does (issue 14), not an empty kernel beside a
/// problem that names the path.
#[test]
fn missing_kernel_is_named_in_the_entry() {
    let cfg = "menuentry m {\n linux /boot/missing quiet\n initrd /initrd.img\n}\n\
               menuentry n {\n linux /vmlinuz\n linux /gone\n}\n";
    let (s, _) = run(cfg, &[K, I]);
    let m = &s.entries[0];
    assert!(
        m.problem.as_deref().unwrap().contains("/boot/missing"),
        "{m:?}"
    );
    assert_eq!(m.kernel, "/boot/missing");
    assert_eq!(m.volume.device, "vda1");
    // The last `linux` counts, found or not.
    assert_eq!(s.entries[1].kernel, "/gone");
    // No linux command at all: still no kernel.
    let (s, _) = run("menuentry c {\n chainloader /x.efi\n}\n", &[]);
    assert_eq!(s.entries[0].kernel, "");
}
