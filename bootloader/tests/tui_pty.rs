//! The menu loop on a real terminal: a pseudo-terminal stands in for the serial
//! console. Its size starts at 0x0, as a serial line's does, so the menu probes it;
//! keys typed on the other side (escape sequences split across writes included)
//! drive the menu, discovery updates arrive while it runs, and the loop returns the
//! action with the terminal left in a sane state.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The test opens its own pty (openpty, TIOCSWINSZ): libc calls the crate has no reason to wrap.
#![allow(unsafe_code)]

use leapboot::init::Pid1Policy;
use leapboot::settings::Settings;
use leapboot::tui::render::Caps;
use leapboot::tui::state::{Action, MenuState, Update};
use leapboot::tui::term::{Screen, Screens};
use leapboot::tui::{Feed, Tui};
use leapboot_menus::{Entry, EntryKind, Menu, Source, VolumeRef};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn entry(id: &str, cmdline: &str) -> Entry {
    Entry {
        id: id.into(),
        title: format!("Title {id}"),
        version: None,
        kind: EntryKind::Bls,
        volume: VolumeRef {
            uuid: None,
            label: None,
            device: "vda1".into(),
        },
        kernel: "/vmlinuz".into(),
        initrds: vec![],
        cmdline: cmdline.into(),
        devicetree: None,
        source: Source {
            file: format!("/loader/entries/{id}.conf"),
            line: 1,
        },
        path: None,
        problem: None,
        bls: None,
        uki: None,
    }
}

fn menu(ids: &[&str]) -> Menu {
    Menu {
        entries: ids
            .iter()
            .map(|i| entry(i, &format!("entry={i}")))
            .collect(),
        default: Some(0),
        ..Menu::default()
    }
}

/// A pty pair: the master (the "user's terminal") and the slave (the console).
fn pty() -> (File, File) {
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes two fds; the other arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened and are owned here.
    unsafe { (File::from_raw_fd(m), File::from_raw_fd(s)) }
}

/// Everything the menu wrote, collected by a thread (the pty must be drained or
/// the menu's writes block).
fn collect(master: &File) -> Arc<Mutex<Vec<u8>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut r = master.try_clone().unwrap();
    let o = Arc::clone(&out);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            o.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    out
}

fn wait_output(out: &Arc<Mutex<Vec<u8>>>, what: &[u8]) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if out.lock().unwrap().windows(what.len()).any(|w| w == what) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "menu never wrote {:?}; wrote:\n{}",
        String::from_utf8_lossy(what),
        String::from_utf8_lossy(&out.lock().unwrap())
    );
}

/// What a terminal of `rows` x `cols` shows after everything written so far.
fn screen(out: &Arc<Mutex<Vec<u8>>>, rows: u16, cols: u16) -> String {
    let nz = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    let mut p = vt100::Parser::new(nz(rows), nz(cols), 0);
    p.process(&out.lock().unwrap());
    p.screen().contents()
}

/// Waits until the emulated screen shows `what`.
fn wait_screen(out: &Arc<Mutex<Vec<u8>>>, rows: u16, cols: u16, what: &str) -> String {
    wait_screen_for(out, rows, cols, what, |s| s.contains(what))
}

/// Waits until the emulated screen passes `ok`.
fn wait_screen_for(
    out: &Arc<Mutex<Vec<u8>>>,
    rows: u16,
    cols: u16,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let s = screen(out, rows, cols);
        if ok(&s) {
            return s;
        }
        assert!(
            Instant::now() < end,
            "the screen never showed {what}; it shows:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when row `row` (0-based) of the screen contains `what`.
fn row_has(screen: &str, row: usize, what: &str) -> bool {
    screen.lines().nth(row).is_some_and(|l| l.contains(what))
}

/// Runs the menu on the pty slave in its own thread; returns the action and the
/// booting record's lines.
fn run_menu(
    slave: File,
    state: MenuState,
    mut feed: impl Feed + Send + 'static,
) -> std::thread::JoinHandle<(Action, Vec<u8>)> {
    std::thread::spawn(move || {
        let screen = Screen::from_file("pty", slave).unwrap();
        let screens = Screens {
            list: vec![screen],
            caps: Caps::FULL,
        };
        let mut tui = Tui::with_screens(screens, state);
        let action = tui.run(&mut feed).expect("menu runs");
        if let Action::Boot {
            index,
            cmdline_override,
            debug,
        } = &action
        {
            tui.booting(*index, cmdline_override.as_deref(), *debug);
        }
        (action, Vec::new())
    })
}

#[test]
fn countdown_boots_the_default_and_leaves_a_sane_terminal() {
    let (master, slave) = pty();
    let out = collect(&master);
    let state = MenuState::with_menu(
        Pid1Policy::new(&Settings::default()),
        1,
        menu(&["one", "two"]),
    );
    let t0 = Instant::now();
    let (action, _) = run_menu(slave, state, leapboot::tui::NoFeed)
        .join()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        action,
        Action::Boot {
            index: 0,
            cmdline_override: None,
            debug: false
        }
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    wait_output(&out, b"Booting 'Title one' (one)");
    let text = out.lock().unwrap().clone();
    let s = String::from_utf8_lossy(&text);
    // Alternate screen, size probe (the pty says 0x0), countdown text, then leave.
    let enter = s.find("\x1b[?1049h").expect("alternate screen");
    let probe = s.find("\x1b[6n").expect("size probe");
    let leave = s.rfind("\x1b[?1049l").expect("left the alternate screen");
    let record = s.find("Booting 'Title one' (one)").unwrap();
    assert!(enter < probe && probe < leave && leave < record, "{s:?}");
    // The main screen, after the menu, shows only the record.
    let shown = screen(&out, 24, 80);
    assert!(
        shown.starts_with("Booting 'Title one' (one)\n  Volume   vda1"),
        "{shown}"
    );
    // The record is plain lines after the reset.
    let tail = &s[record..];
    assert!(tail.contains("  Kernel   /vmlinuz\r"), "{tail:?}");
    assert!(
        !tail.contains('\x1b'),
        "escape sequences in the record: {tail:?}"
    );
}

#[test]
fn keys_on_the_console_edit_and_boot_the_second_entry() {
    let (mut master, slave) = pty();
    let out = collect(&master);
    let (tx, rx) = mpsc::channel::<Update>();
    // The menu starts empty; discovery sends entries while it runs.
    let handle = run_menu(
        slave,
        MenuState::new(Pid1Policy::new(&Settings::default()), 30),
        rx,
    );
    wait_output(&out, b"\x1b[6n");
    tx.send(Update::Status("waiting for devices (vda settling)".into()))
        .unwrap();
    tx.send(Update::Menu {
        menu: menu(&["one", "two"]),
        pending: vec!["vdb".into()],
        volumes: vec![],
    })
    .unwrap();
    wait_screen(&out, 30, 100, "Title two");
    let shown = wait_screen(&out, 30, 100, "reading vdb");
    assert!(
        row_has(&shown, 0, "waiting for devices (vda settling)"),
        "{shown}"
    );
    // The terminal answers the size probe: 30 rows, 100 columns.
    master.write_all(b"\x1b[30;100R").unwrap();
    wait_screen_for(&out, 30, 100, "the key line on row 30", |s| {
        row_has(s, 29, "Enter boot")
    });
    // Down, split across writes as a slow serial line may deliver it.
    master.write_all(b"\x1b").unwrap();
    std::thread::sleep(Duration::from_millis(40));
    master.write_all(b"[").unwrap();
    std::thread::sleep(Duration::from_millis(40));
    master.write_all(b"B").unwrap();
    // A new snapshot puts an entry first; the highlight stays on 'two'.
    tx.send(Update::Menu {
        menu: menu(&["zero", "one", "two"]),
        pending: vec![],
        volumes: vec![],
    })
    .unwrap();
    tx.send(Update::Settled).unwrap();
    let shown = wait_screen(&out, 30, 100, "Title zero");
    assert!(shown.contains(">  Title two"), "{shown}");
    master.write_all(b"e").unwrap();
    wait_screen(&out, 30, 100, "Edit the command line of 'Title two'");
    master.write_all(b" leapboot_test=1").unwrap();
    master.write_all(b"\x18").unwrap();
    let (action, _) = handle.join().unwrap();
    assert_eq!(
        action,
        Action::Boot {
            index: 2,
            cmdline_override: Some("entry=two leapboot_test=1".into()),
            debug: false
        }
    );
    wait_screen(&out, 30, 100, "(edited)");
}

#[test]
fn resize_reported_by_the_terminal_redraws_at_the_new_size() {
    let (mut master, slave) = pty();
    let out = collect(&master);
    let state = MenuState::with_menu(Pid1Policy::new(&Settings::default()), -1, menu(&["one"]));
    let handle = run_menu(slave, state, leapboot::tui::NoFeed);
    wait_screen(&out, 24, 80, "Title one");
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
    // The key line moves to row 40, and the frame is 120 columns wide.
    let shown = wait_screen_for(&out, 40, 120, "the key line on row 40", |s| {
        row_has(s, 39, "Enter boot")
    });
    assert!(
        row_has(&shown, 1, &format!("┌ Boot entries {}┐", "─".repeat(104))),
        "{shown}"
    );
    master.write_all(b"\r").unwrap();
    let (action, _) = handle.join().unwrap();
    assert!(matches!(action, Action::Boot { index: 0, .. }));
}
