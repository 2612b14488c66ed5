//! The full-screen boot menu, drawn with ratatui on every console at once.
//!
//! ```text
//! discovery ──Update──┐
//! consoles ──bytes──> keys::Decoder ──Key──> state::MenuState ──Action──> init
//!                                                 │
//!                                  render::draw ──┴──> term::Screen (one per console)
//! ```
//!
//! - [`state`]: the menu as a pure state machine (rows, highlight, countdown,
//!   editor, log view, help); keys and discovery updates in, [`Action`]s out.
//! - [`render`]: the state drawn into a ratatui buffer (snapshot-tested).
//! - [`keys`]: console bytes to keys, split escape sequences included.
//! - [`term`]: the consoles: raw mode, size (probed when the kernel says 0x0),
//!   one ratatui terminal per console, `poll(2)` over all of them.
//! - [`logs`]: the log viewer's lines, leapboot's and the kernel's, in time order.
//! - [`text`]: the consoles PID 1 opens, and the plain-text chooser used when no
//!   full-screen menu can be drawn (and for headless boots).
//!
//! The menu knows no config format and owns no boot policy: what an entry's command
//! line is, whether a password is right, and what to say when nothing can boot, it
//! asks through [`Policy`] (PID 1's answers are `init::Pid1Policy`).
//!
//! [`Tui::run`] is the loop: it drains discovery updates, lets the countdown run,
//! draws every console, and hands each key to the state. Keys from any console
//! drive the same state; every console shows it at its own size. While the menu is
//! up, log lines are kept from the consoles ([`crate::log::hold_consoles`]) and
//! the kernel's console log level is lowered, so nothing scribbles over the
//! screen; both come back when the menu is left. A panic or a console that can no
//! longer be written ends the run with an error, and init falls back to the plain
//! text chooser.

pub mod keys;
pub mod logs;
pub mod render;
pub mod state;
pub mod term;
pub mod text;

pub use state::{Action, MenuState, Update};

use crate::log::Area;
use leapboot_menus::{Entry, Menu, VolumeInfo};
use render::Caps;
use std::time::{Duration, Instant};
use term::Screens;

/// How long the loop waits for a key before looking at discovery and the clock.
const FRAME: Duration = Duration::from_millis(100);

/// How often the log viewer reads new lines.
const LOG_REFRESH: Duration = Duration::from_millis(500);

/// What the menu asks of the boot loader, so it holds no boot policy itself.
pub trait Policy: std::fmt::Debug + Send + Sync {
    /// The command line `entry` boots with as it is: where the editor starts.
    fn cmdline(&self, entry: &Entry) -> String;
    /// Locked-down mode: editing and debug boots need the password.
    fn locked_down(&self) -> bool;
    /// A password is set (without one, locked-down mode refuses edits outright).
    fn has_password(&self) -> bool;
    /// True when `typed` is the password.
    fn password_ok(&self, typed: &str) -> bool;
    /// Devices have settled: report it when nothing in `menu` can boot.
    fn nothing_bootable(&self, menu: &Menu, volumes: &[VolumeInfo]);
}

/// Where discovery updates come from.
pub trait Feed {
    /// The next update, waiting at most `wait` (zero: only what is already there).
    fn next(&mut self, wait: Duration) -> Option<Update>;
}

impl Feed for std::sync::mpsc::Receiver<Update> {
    fn next(&mut self, wait: Duration) -> Option<Update> {
        if wait.is_zero() {
            self.try_recv().ok()
        } else {
            self.recv_timeout(wait).ok()
        }
    }
}

impl From<crate::devices::discovery::Event> for Update {
    fn from(e: crate::devices::discovery::Event) -> Update {
        use crate::devices::discovery::Event;
        match e {
            Event::Status(s) => Update::Status(s),
            Event::Menu(s) => Update::Menu {
                menu: s.menu,
                pending: s.pending,
                volumes: s.volumes,
            },
            Event::Settled => Update::Settled,
        }
    }
}

impl Feed for crate::devices::discovery::Discovery {
    fn next(&mut self, wait: Duration) -> Option<Update> {
        self.recv_timeout(wait).map(Update::from)
    }
}

/// A feed that never has news (a menu known in full up front).
pub struct NoFeed;

impl Feed for NoFeed {
    fn next(&mut self, _wait: Duration) -> Option<Update> {
        None
    }
}

/// Why the menu could not run; init then uses the text chooser.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// No console could be opened or written.
    #[error("no console to draw the menu on: {0}")]
    NoConsole(std::io::Error),
    /// Drawing failed.
    #[error("drawing the menu failed: {0}")]
    Draw(std::io::Error),
    /// A panic inside the menu (contained).
    #[error("menu: internal error (contained): {0}")]
    Internal(String),
}

/// The menu on its consoles, kept across runs so the highlight, open submenus and
/// stopped countdown survive a rescan or a failed boot.
pub struct Tui {
    screens: Screens,
    state: MenuState,
    kmsg: logs::Kmsg,
    last_log_refresh: Option<Instant>,
    entered: bool,
    console_level: Option<i32>,
}

impl Tui {
    /// Opens the named consoles (`ttyS0`, `tty0`) with the capabilities `TERM` and
    /// `NO_COLOR` give, and a menu that counts down `timeout` seconds and asks
    /// `policy` what it cannot know.
    pub fn open(
        names: &[String],
        policy: impl Policy + 'static,
        timeout: i64,
    ) -> Result<Tui, TuiError> {
        let screens = Screens::open(names, Caps::from_env()).map_err(TuiError::NoConsole)?;
        Ok(Tui::with_screens(screens, MenuState::new(policy, timeout)))
    }

    /// A menu over consoles already open (tests use a pty).
    pub fn with_screens(screens: Screens, state: MenuState) -> Tui {
        Tui {
            screens,
            state,
            kmsg: logs::Kmsg::open(),
            last_log_refresh: None,
            entered: false,
            console_level: None,
        }
    }

    /// The menu state (the entries an [`Action::Boot`] index refers to).
    pub fn state(&self) -> &MenuState {
        &self.state
    }

    /// The menu state, to change.
    pub fn state_mut(&mut self) -> &mut MenuState {
        &mut self.state
    }

    /// A boot attempt failed: the countdown stays off and the status line says why.
    pub fn boot_failed(&mut self, why: &str) {
        self.state.stop_countdown();
        self.state.notice(format!("boot failed: {why}"), true);
    }

    /// Shows the menu until the user or the countdown chooses. Never panics: a panic
    /// inside is contained, the consoles are left in a sane state, and an error
    /// comes back.
    pub fn run(&mut self, feed: &mut dyn Feed) -> Result<Action, TuiError> {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner(feed)));
        let out = match r {
            Ok(r) => r,
            Err(p) => Err(TuiError::Internal(
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string()),
            )),
        };
        if out.is_err() {
            self.leave();
        }
        out
    }

    fn run_inner(&mut self, feed: &mut dyn Feed) -> Result<Action, TuiError> {
        self.enter();
        let mut last = Instant::now();
        loop {
            // Discovery news, bounded so a burst cannot starve the keys.
            for _ in 0..64 {
                match feed.next(Duration::ZERO) {
                    Some(u) => {
                        let settled = matches!(u, Update::Settled);
                        self.state.update(u);
                        if settled {
                            self.state.report_if_nothing_bootable();
                        }
                    }
                    None => break,
                }
            }
            let now = Instant::now();
            if let Some(a) = self.state.tick(now.duration_since(last)) {
                if let Some(e) = self.state.menu().default_entry() {
                    crate::log!(
                        Area::Menu,
                        "countdown over: booting default entry '{}'",
                        e.id
                    );
                }
                return Ok(a);
            }
            last = now;
            self.refresh_log(now);
            self.draw()?;
            for k in self.screens.keys(FRAME) {
                let counting = self.state.counting();
                let action = self.state.key(k);
                if counting && !self.state.counting() {
                    crate::log!(Area::Menu, "countdown stopped by a key");
                }
                match action {
                    Some(Action::Redraw) => {
                        for s in &mut self.screens.list {
                            s.redraw();
                        }
                    }
                    Some(a) => {
                        log_action(&self.state, &a);
                        return Ok(a);
                    }
                    None => {}
                }
            }
        }
    }

    fn draw(&mut self) -> Result<(), TuiError> {
        let caps = self.screens.caps;
        let mut log_rows = usize::MAX;
        for s in &mut self.screens.list {
            log_rows = log_rows.min(render::log_rows(s.size().height));
            let state = &self.state;
            s.draw(|f| {
                let area = f.area();
                if let Some(p) = render::draw(state, area, f.buffer_mut(), caps) {
                    f.set_cursor_position(p);
                }
            })
            .map_err(TuiError::Draw)?;
        }
        if log_rows != usize::MAX {
            self.state.set_log_rows(log_rows);
        }
        if !self.screens.any_alive() {
            return Err(TuiError::NoConsole(std::io::Error::other(
                "every console failed to take the menu",
            )));
        }
        Ok(())
    }

    fn refresh_log(&mut self, now: Instant) {
        let Some(view) = self.state.log_view_mut() else {
            self.last_log_refresh = None;
            return;
        };
        let due = self
            .last_log_refresh
            .is_none_or(|t| now.duration_since(t) >= LOG_REFRESH);
        if !due {
            return;
        }
        self.last_log_refresh = Some(now);
        self.kmsg.read_new();
        view.lines = logs::merge(&crate::log::lines(), &self.kmsg.records);
    }

    /// Takes the consoles: log lines held back, kernel console messages quieted,
    /// alternate screen, raw mode.
    fn enter(&mut self) {
        if self.entered {
            return;
        }
        crate::log::hold_consoles(true);
        self.console_level = quiet_kernel_console();
        self.screens.enter();
        self.entered = true;
    }

    /// Gives the consoles back: plain screen, cursor shown, the console mode as it
    /// was, the kernel's console log level restored, held log lines written.
    pub fn leave(&mut self) {
        if !self.entered {
            return;
        }
        self.screens.leave();
        if let Some(level) = self.console_level.take() {
            set_kernel_console_level(level);
        }
        crate::log::hold_consoles(false);
        self.entered = false;
    }

    /// The booting screen: leaves the menu and prints what is about to boot as plain
    /// lines, so the consoles end with that record followed by the handoff summary
    /// the boot code logs.
    pub fn booting(&mut self, index: usize, cmdline_override: Option<&str>, debug: bool) {
        let lines = render::booting_lines(&self.state, index, cmdline_override, debug);
        self.leave();
        for s in &mut self.screens.list {
            s.print_lines(&lines);
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        self.leave();
    }
}

fn log_action(state: &MenuState, a: &Action) {
    match a {
        Action::Boot {
            index,
            cmdline_override,
            debug,
        } => {
            let id = state
                .menu()
                .entries
                .get(*index)
                .map(|e| e.id.as_str())
                .unwrap_or("?");
            crate::log!(
                Area::Menu,
                "chosen: '{id}'{}{}",
                if *debug {
                    " with handoff debugging"
                } else {
                    ""
                },
                match cmdline_override {
                    Some(c) => format!(" with the edited command line: {c}"),
                    None => String::new(),
                }
            );
        }
        Action::Rescan => crate::log!(Area::Menu, "rescan requested"),
        Action::Redraw => {}
    }
}

/// The kernel's console log level (first field of `/proc/sys/kernel/printk`).
fn kernel_console_level() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/printk")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn set_kernel_console_level(level: i32) {
    crate::sys::system::set_console_log_level(level);
}

/// As PID 1, lets only emergencies through to the consoles while the menu is up
/// (the log viewer still shows every kernel message); returns the level to restore.
fn quiet_kernel_console() -> Option<i32> {
    if std::process::id() != 1 {
        return None;
    }
    let level = kernel_console_level()?;
    if level > 1 {
        set_kernel_console_level(1);
        Some(level)
    } else {
        None
    }
}
