//! End to end: `scripts/demo` as a user runs it, in a terminal. The terminal is a
//! pseudo-terminal made here, its output fed to a terminal emulator
//! (`vt100`), so the tests see what the user would see after the demo ends.
//!
//! - Quitting QEMU with `Ctrl-a x` while leapboot's menu is on screen must leave
//!   the terminal as it was: out of the alternate screen, the cursor shown,
//!   attributes reset, line editing and echo on (issue 14, item 2).
//! - So must QEMU killed with SIGKILL at the menu, which cannot restore the raw
//!   mode it set itself.
//! - When the demo ends by itself (the default boots and powers off), the
//!   restore must not move the cursor back over the boot log.
//!
//! Both run `scripts/demo` itself, which builds what it needs (cheap once
//! `scripts/test` has built it) and writes `target/e2e/demo`: they take turns.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_qemu::binaries::workspace_dir;
use leapboot_qemu::{default_timeout, qemu_or_skip};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, Signal, kill_process};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{LocalModes, Winsize, tcgetattr, tcsetwinsize};
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Both tests use `target/e2e/demo`.
static DEMO: Mutex<()> = Mutex::new(());

/// Tall enough that the menu starts in the middle of the screen, below the build
/// and kernel lines, and the boot log after it does not scroll: then a cursor moved
/// back to where the menu started lands above the log's last line.
const ROWS: u16 = 200;
const COLS: u16 = 80;

/// A terminal emulator of the pty's size.
fn emulator() -> vt100::Parser {
    let n = |v| NonZeroU16::new(v).unwrap_or(NonZeroU16::MIN);
    vt100::Parser::new(n(ROWS), n(COLS), 0)
}

/// `scripts/demo ARGS` with a new pseudo-terminal as stdin, stdout and stderr.
struct Demo {
    child: Child,
    master: std::fs::File,
    /// Kept open so the terminal modes can be read after the demo ended.
    slave: OwnedFd,
    output: Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the pty");
        tcsetwinsize(
            &slave,
            Winsize {
                ws_row: ROWS,
                ws_col: COLS,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .expect("set the pty size");
        let stdio = || Stdio::from(slave.try_clone().expect("dup the pty"));
        let child = Command::new(workspace_dir().join("scripts/demo"))
            .args(args)
            .current_dir(workspace_dir())
            .env("TERM", "xterm-256color")
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .expect("running scripts/demo");
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().expect("dup the pty master");
        let (tx, output) = channel();
        // Reads until every copy of the slave is closed (EIO).
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            master,
            slave,
            output,
            seen: Vec::new(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Collects output until `needle` appears, or fails after `limit`.
    fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.text().contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {needle:?} on the terminal after {limit:?}; it showed:\n{}",
                        self.text()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the terminal closed before {needle:?}:\n{}", self.text())
                }
            }
        }
    }

    /// Waits for the demo to exit, then collects what it wrote.
    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for scripts/demo") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "scripts/demo still running after {limit:?}:\n{}",
                    self.text()
                );
            }
            if let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(100)) {
                self.seen.extend(chunk);
            }
        };
        // Everything it wrote is already in the pty: read until it is quiet.
        while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(500)) {
            self.seen.extend(chunk);
        }
        status
    }

    /// Kills the QEMU that the demo started with SIGKILL.
    fn kill_qemu(&self) {
        let demo = i32::try_from(self.child.id()).expect("pid");
        let qemu: Vec<i32> = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| {
                comm(pid).starts_with("qemu-system") && (pid == demo || descends_from(pid, demo))
            })
            .collect();
        assert_eq!(qemu.len(), 1, "QEMU processes under scripts/demo: {qemu:?}");
        let pid = Pid::from_raw(qemu[0]).expect("pid");
        kill_process(pid, Signal::KILL).expect("kill -9 QEMU");
    }

    /// The terminal as a user sees it now.
    fn screen(&self) -> vt100::Parser {
        let mut vt = emulator();
        vt.process(&self.seen);
        vt
    }

    /// Checks what every ending must leave: the normal screen, a visible cursor,
    /// plain attributes, and a terminal in cooked mode with echo.
    fn assert_terminal_restored(&self) {
        let vt = self.screen();
        let screen = vt.screen();
        let mut wrong = Vec::new();
        if screen.alternate_screen() {
            wrong.push("in the alternate screen".to_string());
        }
        if screen.hide_cursor() {
            wrong.push("with the cursor hidden".to_string());
        }
        let plain = emulator();
        if screen.attributes_formatted() != plain.screen().attributes_formatted() {
            wrong.push("with colours or attributes on".to_string());
        }
        let modes = tcgetattr(&self.slave).expect("tcgetattr").local_modes;
        for (mode, name) in [
            (LocalModes::ICANON, "icanon"),
            (LocalModes::ECHO, "echo"),
            (LocalModes::ISIG, "isig"),
        ] {
            if !modes.contains(mode) {
                wrong.push(format!("with -{name}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "the terminal is left {}; last bytes: {}",
            wrong.join(", "),
            tail(&self.seen)
        );
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/proc/PID/comm`.
fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default()
}

/// The parent of `pid` from `/proc/PID/stat` (the field after the `(comm)`).
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split(' ').nth(1)?.parse().ok()
}

fn descends_from(mut pid: i32, ancestor: i32) -> bool {
    while let Some(p) = parent(pid) {
        if p == ancestor {
            return true;
        }
        if p <= 1 {
            return false;
        }
        pid = p;
    }
    false
}

/// The last bytes written, escaped, for failure messages.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(200);
    bytes[start..].escape_ascii().to_string()
}

/// Building (when `scripts/test` has not) and making the disk come first.
fn until_menu() -> Duration {
    default_timeout() + Duration::from_secs(600)
}

#[test]
fn quitting_qemu_at_the_menu_restores_the_terminal() {
    if !qemu_or_skip("quitting_qemu_at_the_menu_restores_the_terminal") {
        return;
    }
    let _turn = DEMO.lock().unwrap_or_else(|p| p.into_inner());
    let mut demo = Demo::start(&["-1"]);
    // The menu's frame, drawn in the alternate screen with the cursor hidden.
    demo.wait_for("Boot entries", until_menu());
    demo.wait_for("↑↓ select", default_timeout());
    demo.master.write_all(b"\x01x").expect("typing Ctrl-a x");
    demo.wait_exit(default_timeout());
    assert!(
        demo.text().contains("QEMU: Terminated"),
        "Ctrl-a x did not end QEMU:\n{}",
        demo.text()
    );
    demo.assert_terminal_restored();
}

#[test]
fn killing_qemu_at_the_menu_restores_the_terminal() {
    if !qemu_or_skip("killing_qemu_at_the_menu_restores_the_terminal") {
        return;
    }
    let _turn = DEMO.lock().unwrap_or_else(|p| p.into_inner());
    let mut demo = Demo::start(&["-1"]);
    demo.wait_for("Boot entries", until_menu());
    demo.wait_for("↑↓ select", default_timeout());
    demo.kill_qemu();
    let status = demo.wait_exit(default_timeout());
    assert!(
        !status.success(),
        "scripts/demo exited 0 after QEMU was killed"
    );
    demo.assert_terminal_restored();
}

#[test]
fn the_demo_boots_the_default_and_leaves_the_log_on_screen() {
    if !qemu_or_skip("the_demo_boots_the_default_and_leaves_the_log_on_screen") {
        return;
    }
    let _turn = DEMO.lock().unwrap_or_else(|p| p.into_inner());
    let mut demo = Demo::start(&["1"]);
    demo.wait_for("Boot entries", until_menu());
    let status = demo.wait_exit(default_timeout());
    assert!(
        status.success(),
        "scripts/demo 1: {status}\n{}",
        demo.text()
    );
    demo.assert_terminal_restored();
    // The booted system's last line stays where it was, above the cursor: leaving
    // an alternate screen that is no longer on would move the cursor back to
    // where the menu started, and the shell prompt would overwrite the log.
    let vt = demo.screen();
    let screen = vt.screen();
    let (row, _) = screen.cursor_position();
    let above: Vec<String> = screen.rows(0, COLS).take(usize::from(row)).collect();
    assert!(
        above
            .iter()
            .any(|l| l.contains("LEAPBOOT-TARGET: powering off")),
        "the boot log is not above the cursor (row {row}):\n{}",
        screen.contents()
    );
}
