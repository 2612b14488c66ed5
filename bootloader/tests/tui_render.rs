//! Snapshots of the boot menu's screens, drawn with ratatui's test backend at
//! 80x24 (a serial console) and 132x43 (a large VGA text mode), plus properties
//! every screen must have at any size.
//!
//! Snapshots are plain text files in `tests/snapshots/`; on a difference the test
//! prints both. After a deliberate change, regenerate them with
//! `UPDATE_SNAPSHOTS=1 cargo test -p leapboot --test tui_render` and review the diff.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::init::Pid1Policy;
use leapboot::settings::Settings;
use leapboot::tui::keys::Key;
use leapboot::tui::render::{self, Caps};
use leapboot::tui::state::{LogLine, MenuState, Mode, Update};
use leapboot_menus::{Entry, EntryKind, Menu, Source, VolumeInfo, VolumeRef, VolumeRole};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::path::PathBuf;
use std::time::Duration;

const ROOT_UUID: &str = "5a0e1c2d-7b3f-4e8a-9c6d-1f2e3a4b5c6d";

fn entry(id: &str, title: &str, kind: EntryKind, dev: &str, path: Option<&str>) -> Entry {
    let (uuid, label, file) = match dev {
        "vda1" => ("1234-ABCD", "ESP", format!("/loader/entries/{id}.conf")),
        _ => (ROOT_UUID, "root", "/boot/grub/grub.cfg".to_string()),
    };
    Entry {
        id: id.into(),
        title: title.into(),
        version: None,
        kind,
        volume: VolumeRef {
            uuid: Some(uuid.into()),
            label: Some(label.into()),
            device: dev.into(),
        },
        kernel: "/vmlinuz-6.1.0-50-amd64".into(),
        initrds: vec!["/initrd.img-6.1.0-50-amd64".into()],
        cmdline: format!("root=UUID={ROOT_UUID} ro console=ttyS0,115200 quiet"),
        devicetree: None,
        source: Source { file, line: 1 },
        path: path.map(str::to_string),
        problem: None,
        bls: None,
        uki: None,
    }
}

fn volumes() -> Vec<VolumeInfo> {
    vec![
        VolumeInfo {
            uuid: Some("1234-ABCD".into()),
            label: Some("ESP".into()),
            device: "vda1".into(),
            fs_type: "vfat".into(),
            role: VolumeRole::Esp,
        },
        VolumeInfo {
            uuid: Some(ROOT_UUID.into()),
            label: Some("root".into()),
            device: "vda2".into(),
            fs_type: "ext4".into(),
            role: VolumeRole::Other,
        },
    ]
}

/// Two BLS entries on the ESP, and Debian's GRUB menu on the root filesystem with
/// its "Advanced options" submenu and an entry whose kernel is missing.
fn menu() -> Menu {
    let g = EntryKind::Grub;
    let adv = "Advanced options for Debian GNU/Linux";
    let mut e = vec![
        entry(
            "debian-6.1.0-50",
            "Debian GNU/Linux 12 (6.1.0-50-amd64)",
            EntryKind::Bls,
            "vda1",
            None,
        ),
        entry(
            "debian-6.1.0-9",
            "Debian GNU/Linux 12 (6.1.0-9-amd64)",
            EntryKind::Bls,
            "vda1",
            None,
        ),
        entry(
            "gnulinux-simple",
            "Debian GNU/Linux",
            g,
            "vda2",
            Some("Debian GNU/Linux"),
        ),
        entry(
            "gnulinux-6.1.0-50-advanced",
            "Debian GNU/Linux, with Linux 6.1.0-50-amd64",
            g,
            "vda2",
            Some(&format!(
                "{adv}>Debian GNU/Linux, with Linux 6.1.0-50-amd64"
            )),
        ),
        entry(
            "gnulinux-6.1.0-50-recovery",
            "Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)",
            g,
            "vda2",
            Some(&format!(
                "{adv}>Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)"
            )),
        ),
        entry(
            "memtest86+",
            "Memory test (memtest86+x64.bin)",
            g,
            "vda2",
            Some("Memory test (memtest86+x64.bin)"),
        ),
    ];
    e[0].version = Some("6.1.0-50-amd64".into());
    e[1].version = Some("6.1.0-9-amd64".into());
    e[1].problem = Some("kernel /vmlinuz-6.1.0-9-amd64 not found on vda1".into());
    e[1].kernel = "/vmlinuz-6.1.0-9-amd64".into();
    e[3].source.line = 104;
    e[4].source.line = 121;
    e[4].cmdline.push_str(" single dis_ucode_ldr");
    e[2].source.line = 87;
    e[5].source.line = 140;
    e[5].kernel = "/boot/memtest86+x64.bin".into();
    e[5].initrds.clear();
    e[5].cmdline.clear();
    Menu {
        entries: e,
        default: Some(0),
        ..Menu::default()
    }
}

fn state(timeout: i64) -> MenuState {
    let mut s = MenuState::new(Pid1Policy::new(&Settings::default()), timeout);
    s.update(Update::Menu {
        menu: menu(),
        pending: vec![],
        volumes: volumes(),
    });
    s.update(Update::Settled);
    s
}

fn screen(s: &MenuState, w: u16, h: u16, caps: Caps) -> (String, ratatui::buffer::Buffer) {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut cursor = None;
    t.draw(|f| {
        let area = f.area();
        cursor = render::draw(s, area, f.buffer_mut(), caps);
    })
    .unwrap();
    let buf = t.backend().buffer().clone();
    let mut text = render::buffer_text(&buf);
    if let Some(p) = cursor {
        text.push_str(&format!("[cursor at column {}, row {}]\n", p.x, p.y));
    }
    (text, buf)
}

fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it. Got:\n{got}",
            path.display()
        )
    });
    assert!(
        want == got,
        "{name} differs from {}\n--- want\n{want}--- got\n{got}(UPDATE_SNAPSHOTS=1 regenerates after a deliberate change)",
        path.display()
    );
}

fn both_sizes(name: &str, s: &MenuState) {
    check(&format!("{name}_80x24"), &screen(s, 80, 24, Caps::FULL).0);
    check(&format!("{name}_132x43"), &screen(s, 132, 43, Caps::FULL).0);
}

#[test]
fn menu_with_countdown() {
    let mut s = state(5);
    s.tick(Duration::from_millis(1200));
    both_sizes("menu_countdown", &s);
}

#[test]
fn details_of_an_entry_in_an_open_submenu() {
    let mut s = state(5);
    for k in [
        Key::Down,
        Key::Down,
        Key::Down,
        Key::Right,
        Key::Down,
        Key::Down,
    ] {
        s.key(k);
    }
    assert_eq!(
        s.selected_entry().map(|e| e.id.as_str()),
        Some("gnulinux-6.1.0-50-recovery")
    );
    both_sizes("details_submenu", &s);
}

#[test]
fn unbootable_entry_details_and_notice() {
    let mut s = state(5);
    s.key(Key::Down);
    s.key(Key::Enter);
    check("unbootable_80x24", &screen(&s, 80, 24, Caps::FULL).0);
}

#[test]
fn editor() {
    let mut s = state(5);
    s.key(Key::Char('e'));
    for c in " leapboot_test=1".chars() {
        s.key(Key::Char(c));
    }
    for _ in 0..5 {
        s.key(Key::Left);
    }
    assert!(matches!(s.mode(), Mode::Edit(_)));
    both_sizes("editor", &s);
}

#[test]
fn editor_long_line_wraps_and_follows_the_cursor() {
    let mut s = state(-1);
    s.key(Key::Char('e'));
    for i in 0..40 {
        for c in format!(" option{i}=value{i}").chars() {
            s.key(Key::Char(c));
        }
    }
    check("editor_long_80x24", &screen(&s, 80, 24, Caps::FULL).0);
}

fn log_lines() -> Vec<LogLine> {
    let mut v = Vec::new();
    for i in 0..60u64 {
        let kernel = i % 3 != 0;
        let usec = 100_000 * i;
        let text = if kernel {
            format!(
                "[{:5}.{:06}] kernel message {i}",
                usec / 1_000_000,
                usec % 1_000_000
            )
        } else {
            format!(
                "[{:5}.{:06}] leapboot: disk: vda: step {i} with a long message that goes past the right edge of an 80-column console",
                usec / 1_000_000,
                usec % 1_000_000
            )
        };
        v.push(LogLine {
            usec,
            kernel,
            level: if i == 58 { 3 } else { 6 },
            text,
        });
    }
    v
}

#[test]
fn log_viewer() {
    let mut s = state(5);
    s.key(Key::Char('l'));
    s.log_view_mut().unwrap().lines = log_lines();
    both_sizes("log_tail", &s);
    s.set_log_rows(render::log_rows(24));
    for _ in 0..3 {
        s.key(Key::PageUp);
    }
    s.key(Key::Right);
    check("log_scrolled_80x24", &screen(&s, 80, 24, Caps::FULL).0);
}

#[test]
fn help() {
    let mut s = state(5);
    s.key(Key::Char('?'));
    both_sizes("help", &s);
}

/// Every line of the help box ends in a blank before its right border: no text is cut
/// or touches the frame (issue 14: "Backspace Delete erase" did, its comma cut off).
#[test]
fn help_text_keeps_clear_of_the_border() {
    let mut s = state(5);
    s.key(Key::Char('?'));
    for (w, h) in [(80, 24), (132, 43)] {
        let (text, _) = screen(&s, w, h, Caps::FULL);
        let rows: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
        let top = rows
            .iter()
            .position(|r| r.iter().collect::<String>().contains("┌ Keys "))
            .expect("the help box");
        let left = rows[top]
            .iter()
            .collect::<String>()
            .find("┌ Keys ")
            .map(|b| rows[top].iter().collect::<String>()[..b].chars().count())
            .unwrap();
        let right = left
            + rows[top][left..]
                .iter()
                .position(|&c| c == '┐')
                .expect("the box's corner");
        let mut inside = 0;
        for row in &rows[top + 1..] {
            if row[right] != '│' {
                assert_eq!(row[right], '┘', "{w}x{h}:\n{text}");
                break;
            }
            inside += 1;
            assert_eq!(
                row[right - 1],
                ' ',
                "{w}x{h}: text touches the help box's border:\n{text}"
            );
        }
        assert!(inside >= 10, "{w}x{h}:\n{text}");
        assert!(
            text.contains("Backspace Delete erase,"),
            "{w}x{h}: cut:\n{text}"
        );
    }
}

#[test]
fn devices_still_settling() {
    let mut s = MenuState::new(Pid1Policy::new(&Settings::default()), 5);
    let mut m = menu();
    m.entries.truncate(2);
    s.update(Update::Status("waiting for devices (vdb settling)".into()));
    s.update(Update::Menu {
        menu: m,
        pending: vec!["vdb".into()],
        volumes: volumes(),
    });
    s.tick(Duration::from_secs(6));
    check("settling_80x24", &screen(&s, 80, 24, Caps::FULL).0);
    let mut empty = MenuState::new(Pid1Policy::new(&Settings::default()), -1);
    empty.update(Update::Menu {
        menu: Menu::default(),
        pending: vec![],
        volumes: volumes(),
    });
    empty.update(Update::Settled);
    check("no_entries_80x24", &screen(&empty, 80, 24, Caps::FULL).0);
}

#[test]
fn plain_terminal_is_ascii_without_styles() {
    let mut s = state(5);
    s.key(Key::Down);
    s.key(Key::Down);
    s.key(Key::Down);
    let (text, buf) = screen(&s, 80, 24, Caps::PLAIN);
    check("menu_plain_80x24", &text);
    assert!(text.is_ascii(), "non-ASCII on a plain terminal:\n{text}");
    for c in buf.content() {
        assert_eq!(
            (c.fg, c.bg),
            (Color::Reset, Color::Reset),
            "styled cell {c:?}"
        );
        assert!(c.modifier.is_empty(), "styled cell {c:?}");
    }
    s.key(Key::Char('e'));
    let (text, _) = screen(&s, 80, 24, Caps::PLAIN);
    assert!(text.is_ascii());
}

#[test]
fn colours_mark_highlight_and_unbootable() {
    let mut s = state(-1);
    s.key(Key::Down); // the unbootable entry
    let (text, buf) = screen(&s, 80, 24, Caps::FULL);
    let row = text
        .lines()
        .position(|l| l.contains("6.1.0-9-amd64)"))
        .unwrap() as u16;
    assert_eq!(buf[(5, row)].bg, Color::Cyan, "highlight");
    s.key(Key::Up);
    let (_, buf) = screen(&s, 80, 24, Caps::FULL);
    assert_eq!(buf[(5, row)].fg, Color::DarkGray, "unbootable entry greyed");
}

#[test]
fn any_size_draws_without_panicking() {
    let mut states = vec![
        state(5),
        MenuState::with_menu(Pid1Policy::new(&Settings::default()), 0, Menu::default()),
    ];
    let mut e = state(5);
    e.key(Key::Char('e'));
    states.push(e);
    let mut h = state(5);
    h.key(Key::Char('h'));
    states.push(h);
    let mut l = state(5);
    l.key(Key::Char('l'));
    l.log_view_mut().unwrap().lines = log_lines();
    states.push(l);
    for s in &states {
        for w in [0u16, 1, 3, 4, 10, 20, 33, 79, 81, 200] {
            for h in [0u16, 1, 2, 3, 5, 8, 15, 16, 17, 29, 30, 60] {
                let mut buf =
                    ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, w, h));
                let area = buf.area;
                let cur = render::draw(s, area, &mut buf, Caps::FULL);
                if let Some(p) = cur {
                    assert!(
                        p.x < w.max(1) && p.y < h.max(1),
                        "cursor {p:?} outside {w}x{h}"
                    );
                }
            }
        }
    }
}

#[test]
fn booting_record_names_everything() {
    let s = state(5);
    let lines = render::booting_lines(&s, 0, Some("root=/dev/vda2 leapboot_test=1"), true);
    let text = lines.join("\n");
    check("booting_record", &(text + "\n"));
}

/// A title carrying terminal controls is drawn with them as visible escapes, and no
/// cell of the screen holds a control character (issue 16).
#[test]
fn terminal_controls_in_a_title_are_drawn_escaped() {
    let mut m = menu();
    m.entries[0].title = "Evil\u{1b}]0;owned\u{7}\u{1b}[2J".into();
    let mut s = MenuState::new(Pid1Policy::new(&Settings::default()), -1);
    s.update(Update::Menu {
        menu: m,
        pending: vec![],
        volumes: volumes(),
    });
    s.update(Update::Settled);
    let (text, buf) = screen(&s, 132, 43, Caps::FULL);
    assert!(text.contains(r"Evil\x1b]0;owned\x07\x1b[2J"), "{text}");
    for cell in buf.content() {
        assert!(
            !cell.symbol().contains(char::is_control),
            "a cell holds {:?}",
            cell.symbol()
        );
    }
}
