//! The boot menu as a state machine: what is shown and what a key does, with no
//! terminal, clock or device in sight. The loop in [`super`] feeds it discovery
//! updates ([`MenuState::update`]), keys ([`MenuState::key`]) and elapsed time
//! ([`MenuState::tick`]); it answers with an [`Action`] when init has work to do.
//! [`super::render`] draws it.
//!
//! Rows: entries in menu order, grouped by source (a BLS directory or GRUB config
//! on one volume), each group under a header row. GRUB entries nested in submenus
//! (their `path` is `Advanced options>Debian, with Linux 6.1`) sit under an
//! expandable submenu row, as GRUB shows them; the submenu holding the default entry
//! starts open. The highlighted row is remembered by entry id (or submenu path), so
//! it stays put while new snapshots arrive; until the user presses a key it follows
//! the default.
//!
//! Keys follow GRUB, systemd-boot and Petitboot: arrows or `j`/`k` move, Home/End
//! jump, Enter boots (or opens a submenu), `→`/`←` open and close submenus, `e`
//! edits the command line, `d` boots with handoff debugging, `l` shows the log, `r`
//! rescans, `h`/`?`/F1 show help. Any key stops the countdown.

use super::Policy;
use super::keys::Key;
use leapboot_menus::{Entry, EntryKind, Menu, VolumeInfo};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// What init must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Boot `menu().entries[index]`.
    Boot {
        /// Index into [`MenuState::menu`]'s entries.
        index: usize,
        /// The command line typed in the editor, which the kernel gets as it is
        /// (it replaces the entry's command line and the `append` setting).
        cmdline_override: Option<String>,
        /// Handoff debugging (the `d` key).
        debug: bool,
    },
    /// Look for devices again (the `r` key).
    Rescan,
    /// Clear and redraw every console (Ctrl-L); handled by the terminal layer.
    Redraw,
}

/// News from device discovery.
#[derive(Debug, Clone)]
pub enum Update {
    /// What discovery is doing (`waiting for devices (vdb settling)`).
    Status(String),
    /// A new full menu; replaces the previous one.
    Menu {
        /// Entries and default.
        menu: Menu,
        /// Disks still being read.
        pending: Vec<String>,
        /// Every volume found so far.
        volumes: Vec<VolumeInfo>,
    },
    /// Every device answered or timed out.
    Settled,
}

/// One line of the menu list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A source header; not selectable.
    Group {
        /// `vda1 (ESP) · Boot Loader Specification`.
        label: String,
    },
    /// A GRUB submenu.
    Submenu {
        /// Unique key: group plus the titles leading to it.
        key: String,
        /// The submenu's title.
        title: String,
        /// Nesting depth (0 at the group's top level).
        depth: usize,
        /// Whether its entries are shown below it.
        open: bool,
        /// Entries under it, at any depth.
        count: usize,
    },
    /// An entry.
    Entry {
        /// Index into the menu's entries.
        index: usize,
        /// Nesting depth.
        depth: usize,
    },
}

/// The countdown to booting the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Countdown {
    /// Not counting (stopped by a key, or `timeout=-1`).
    Off,
    /// Counting; this much is left.
    Running(Duration),
    /// Run out while devices were still being read: boots once they have answered.
    Waiting,
}

/// What the screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The entry list with details.
    Menu,
    /// The key help over the menu.
    Help,
    /// The command-line editor.
    Edit(Editor),
    /// The log viewer.
    Log(LogView),
    /// Locked-down mode: the password prompt before editing (or a debug boot).
    Password(PasswordPrompt),
}

/// What the password unlocks once typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlocks {
    /// The command-line editor for this entry.
    Edit(usize),
    /// A debug boot of this entry (it changes the command line too).
    DebugBoot(usize),
}

/// The password prompt: typed characters are kept, never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPrompt {
    /// What a right password leads to.
    pub unlocks: Unlocks,
    /// Characters typed so far.
    pub typed: Vec<char>,
}

/// The command-line editor: one line of text and a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    /// The entry being edited.
    pub index: usize,
    /// The command line as characters.
    pub text: Vec<char>,
    /// Cursor position, `0..=text.len()`.
    pub cursor: usize,
    /// The command line before editing.
    pub original: String,
}

impl Editor {
    /// The edited text.
    pub fn line(&self) -> String {
        self.text.iter().collect()
    }

    /// Applies an editing key; returns `Some(true)` to boot, `Some(false)` to cancel.
    fn key(&mut self, k: Key) -> Option<bool> {
        let len = self.text.len();
        self.cursor = self.cursor.min(len);
        match k {
            Key::Esc | Key::Ctrl('c') | Key::Ctrl('g') => return Some(false),
            Key::Enter | Key::F(10) | Key::Ctrl('x') => return Some(true),
            Key::Left | Key::Ctrl('b') => self.cursor = self.cursor.saturating_sub(1),
            Key::Right | Key::Ctrl('f') => self.cursor = (self.cursor + 1).min(len),
            Key::Home | Key::Ctrl('a') => self.cursor = 0,
            Key::End | Key::Ctrl('e') => self.cursor = len,
            Key::Backspace | Key::Ctrl('h') if self.cursor > 0 => {
                self.cursor -= 1;
                self.text.remove(self.cursor);
            }
            Key::Delete | Key::Ctrl('d') if self.cursor < len => {
                self.text.remove(self.cursor);
            }
            Key::Ctrl('k') => self.text.truncate(self.cursor),
            Key::Ctrl('u') => {
                self.text.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::Ctrl('w') => {
                let mut start = self.cursor;
                while start > 0 && self.text[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.text[start - 1] != ' ' {
                    start -= 1;
                }
                self.text.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Tab => {
                self.text.insert(self.cursor, ' ');
                self.cursor += 1;
            }
            Key::Char(c) if self.text.len() < MAX_CMDLINE => {
                self.text.insert(self.cursor, c);
                self.cursor += 1;
            }
            _ => {}
        }
        None
    }
}

/// Longest command line the editor takes (x86's COMMAND_LINE_SIZE is 2048).
pub const MAX_CMDLINE: usize = 4096;

/// One line of the log viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Microseconds of CLOCK_BOOTTIME, for ordering.
    pub usec: u64,
    /// From the kernel (else leapboot's own).
    pub kernel: bool,
    /// Syslog level, 0 (emergency) to 7 (debug).
    pub level: u8,
    /// The line as shown, with its `[    1.234567]` stamp.
    pub text: String,
}

/// The log viewer: the merged lines and where the view is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogView {
    /// Every line, oldest first.
    pub lines: Vec<LogLine>,
    /// First line shown; `None` follows the end.
    pub top: Option<usize>,
    /// Columns scrolled to the right.
    pub left: usize,
}

impl LogView {
    /// First line shown when `rows` lines fit.
    pub fn first_shown(&self, rows: usize) -> usize {
        let last_top = self.lines.len().saturating_sub(rows);
        self.top.map_or(last_top, |t| t.min(last_top))
    }

    fn scroll(&mut self, rows: usize, by: isize) {
        let last_top = self.lines.len().saturating_sub(rows);
        let top = self
            .first_shown(rows)
            .saturating_add_signed(by)
            .min(last_top);
        self.top = if top >= last_top { None } else { Some(top) };
    }

    fn key(&mut self, k: Key, rows: usize) -> bool {
        let page = rows.max(1) as isize;
        match k {
            Key::Esc | Key::Char('q') | Key::Char('l') | Key::Enter => return false,
            Key::Up | Key::Char('k') => self.scroll(rows, -1),
            Key::Down | Key::Char('j') => self.scroll(rows, 1),
            Key::PageUp | Key::Ctrl('b') => self.scroll(rows, -page),
            Key::PageDown | Key::Ctrl('f') | Key::Char(' ') => self.scroll(rows, page),
            Key::Home | Key::Char('g') => self.top = Some(0),
            Key::End | Key::Char('G') => self.top = None,
            Key::Left | Key::Char('h') => self.left = self.left.saturating_sub(8),
            Key::Right => self.left = (self.left + 8).min(MAX_CMDLINE),
            _ => {}
        }
        true
    }
}

/// Which row is highlighted, by identity rather than position.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selected {
    Entry { id: String, device: String },
    Submenu(String),
}

/// A short message in the status line (a failed boot, an unbootable entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub error: bool,
}

/// Everything the menu shows.
#[derive(Debug, Clone)]
pub struct MenuState {
    menu: Menu,
    pending: Vec<String>,
    volumes: Vec<VolumeInfo>,
    status: Option<String>,
    settled: bool,
    policy: Arc<dyn Policy>,
    rows: Vec<Row>,
    open: HashSet<String>,
    seen: HashSet<String>,
    selected: Option<Selected>,
    touched: bool,
    countdown: Countdown,
    mode: Mode,
    notice: Option<Notice>,
    log_rows: usize,
    /// Locked-down mode was unlocked with the password in this session.
    unlocked: bool,
}

impl MenuState {
    /// An empty menu that counts `timeout` seconds (0: boots the default as soon as
    /// devices have settled; -1: waits for a key).
    pub fn new(policy: impl Policy + 'static, timeout: i64) -> MenuState {
        let countdown = match u64::try_from(timeout) {
            Ok(s) => Countdown::Running(Duration::from_secs(s)),
            Err(_) => Countdown::Off,
        };
        MenuState {
            menu: Menu::default(),
            pending: Vec::new(),
            volumes: Vec::new(),
            status: None,
            settled: false,
            policy: Arc::new(policy),
            rows: Vec::new(),
            open: HashSet::new(),
            seen: HashSet::new(),
            selected: None,
            touched: false,
            countdown,
            mode: Mode::Menu,
            notice: None,
            log_rows: 20,
            unlocked: false,
        }
    }

    /// A state holding `menu` with every device settled (tests, the host).
    pub fn with_menu(policy: impl Policy + 'static, timeout: i64, menu: Menu) -> MenuState {
        let mut s = MenuState::new(policy, timeout);
        s.update(Update::Menu {
            menu,
            pending: Vec::new(),
            volumes: Vec::new(),
        });
        s.update(Update::Settled);
        s
    }

    /// Applies news from discovery.
    pub fn update(&mut self, u: Update) {
        match u {
            Update::Status(s) => self.status = Some(s),
            Update::Menu {
                menu,
                pending,
                volumes,
            } => {
                self.menu = menu;
                self.pending = pending;
                self.volumes = volumes;
                self.rebuild();
            }
            Update::Settled => {
                self.settled = true;
                self.pending.clear();
                self.status = None;
            }
        }
    }

    /// Discovery starts over (after [`Action::Rescan`]).
    pub fn rescanning(&mut self) {
        self.settled = false;
        self.status = Some("rescanning devices".to_string());
    }

    /// Shows a message in the status line until the next key.
    pub fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
    }

    /// Stops the countdown (init does after a failed boot).
    pub fn stop_countdown(&mut self) {
        self.countdown = Countdown::Off;
    }

    /// Lets time pass; boots the default when the countdown runs out and every
    /// device has answered.
    pub fn tick(&mut self, elapsed: Duration) -> Option<Action> {
        if let Countdown::Running(left) = self.countdown {
            let left = left.saturating_sub(elapsed);
            self.countdown = if left.is_zero() {
                Countdown::Waiting
            } else {
                Countdown::Running(left)
            };
        }
        if self.countdown != Countdown::Waiting || !self.settled {
            return None;
        }
        self.countdown = Countdown::Off;
        match self.menu.default {
            Some(index) => Some(Action::Boot {
                index,
                cmdline_override: None,
                debug: false,
            }),
            None => {
                self.notice("no bootable entry found; r rescans the devices", true);
                None
            }
        }
    }

    /// Handles one key.
    pub fn key(&mut self, k: Key) -> Option<Action> {
        if matches!(k, Key::CursorReport { .. } | Key::Unknown) {
            return None;
        }
        self.touched = true;
        self.countdown = Countdown::Off;
        self.notice = None;
        if k == Key::Ctrl('l') {
            return Some(Action::Redraw);
        }
        match &mut self.mode {
            Mode::Menu => self.menu_key(k),
            Mode::Help => {
                self.mode = Mode::Menu;
                None
            }
            Mode::Edit(ed) => match ed.key(k) {
                Some(true) => {
                    let index = ed.index;
                    let line = ed.line();
                    let changed = line != ed.original;
                    self.mode = Mode::Menu;
                    self.boot(index, changed.then_some(line), false)
                }
                Some(false) => {
                    self.mode = Mode::Menu;
                    None
                }
                None => None,
            },
            Mode::Log(view) => {
                if !view.key(k, self.log_rows) {
                    self.mode = Mode::Menu;
                }
                None
            }
            Mode::Password(p) => match k {
                Key::Enter => {
                    let (unlocks, typed) = (p.unlocks, p.typed.iter().collect::<String>());
                    self.mode = Mode::Menu;
                    if self.password_ok(&typed) {
                        self.unlocked = true;
                        match unlocks {
                            Unlocks::Edit(i) => {
                                self.edit(i);
                                None
                            }
                            Unlocks::DebugBoot(i) => self.boot(i, None, true),
                        }
                    } else {
                        self.notice("wrong password", true);
                        None
                    }
                }
                Key::Esc => {
                    self.mode = Mode::Menu;
                    None
                }
                Key::Backspace => {
                    p.typed.pop();
                    None
                }
                Key::Char(c) if p.typed.len() < 256 => {
                    p.typed.push(c);
                    None
                }
                _ => None,
            },
        }
    }

    /// True when locked-down mode stops `what` until the password is typed; opens the
    /// prompt (or says editing is disabled when no password is set).
    fn locked(&mut self, unlocks: Unlocks) -> bool {
        if !self.policy.locked_down() || self.unlocked {
            return false;
        }
        if self.policy.has_password() {
            self.mode = Mode::Password(PasswordPrompt {
                unlocks,
                typed: Vec::new(),
            });
        } else {
            self.notice(
                "locked-down mode: editing is disabled (no password is set)",
                true,
            );
        }
        true
    }

    /// Says so through the policy when nothing in the menu can boot.
    pub fn report_if_nothing_bootable(&self) {
        self.policy.nothing_bootable(&self.menu, &self.volumes);
    }

    /// Checks a typed password (the policy knows the `password` setting).
    fn password_ok(&self, typed: &str) -> bool {
        self.policy.password_ok(typed)
    }

    fn menu_key(&mut self, k: Key) -> Option<Action> {
        match k {
            Key::Up | Key::Char('k') | Key::Ctrl('p') => self.step(-1),
            Key::Down | Key::Char('j') | Key::Ctrl('n') => self.step(1),
            Key::PageUp => self.step(-10),
            Key::PageDown => self.step(10),
            Key::Home | Key::Char('g') => self.step(isize::MIN / 2),
            Key::End | Key::Char('G') => self.step(isize::MAX / 2),
            Key::Right | Key::Char('+') => self.set_open(true),
            Key::Left | Key::Char('-') => self.set_open(false),
            Key::Enter => match self.selected_row() {
                Some(Row::Entry { index, .. }) => return self.boot(index, None, false),
                Some(Row::Submenu { open, .. }) => self.set_open(!open),
                _ => {}
            },
            Key::Char('d') => {
                if let Some(Row::Entry { index, .. }) = self.selected_row() {
                    if self.locked(Unlocks::DebugBoot(index)) {
                        return None;
                    }
                    return self.boot(index, None, true);
                }
            }
            // `locked` opens the password prompt: a call with an effect, not a guard.
            #[allow(clippy::collapsible_match)]
            Key::Char('e') => match self.selected_row() {
                Some(Row::Entry { index, .. }) => {
                    if !self.locked(Unlocks::Edit(index)) {
                        self.edit(index);
                    }
                }
                Some(Row::Submenu { .. }) => self.notice(
                    "open the submenu with Enter and choose an entry to edit",
                    false,
                ),
                _ => {}
            },
            Key::Char('l') => {
                self.mode = Mode::Log(LogView::default());
            }
            Key::Char('r') => return Some(Action::Rescan),
            Key::Char('h') | Key::Char('?') | Key::F(1) => self.mode = Mode::Help,
            _ => {}
        }
        None
    }

    fn edit(&mut self, index: usize) {
        let Some(e) = self.menu.entries.get(index) else {
            return;
        };
        if let Some(p) = &e.problem {
            let msg = format!("'{}' cannot be booted: {p}", e.title);
            self.notice(msg, true);
            return;
        }
        let original = self.policy.cmdline(e);
        let text: Vec<char> = original.chars().collect();
        self.mode = Mode::Edit(Editor {
            index,
            cursor: text.len(),
            text,
            original,
        });
    }

    fn boot(
        &mut self,
        index: usize,
        cmdline_override: Option<String>,
        debug: bool,
    ) -> Option<Action> {
        let e = self.menu.entries.get(index)?;
        if let Some(p) = &e.problem {
            let msg = format!("'{}' cannot be booted: {p}", e.title);
            self.notice(msg, true);
            return None;
        }
        Some(Action::Boot {
            index,
            cmdline_override,
            debug,
        })
    }

    /// Moves the highlight by `by` selectable rows (clamped).
    fn step(&mut self, by: isize) {
        let selectable: Vec<usize> = (0..self.rows.len())
            .filter(|&i| !matches!(self.rows[i], Row::Group { .. }))
            .collect();
        if selectable.is_empty() {
            return;
        }
        let cur = self
            .selected_index()
            .and_then(|r| selectable.iter().position(|&i| i == r))
            .unwrap_or(0);
        let last = selectable.len() - 1;
        let to = cur.saturating_add_signed(by).min(last);
        if let Some(&row) = selectable.get(to) {
            self.select_row(row);
        }
    }

    fn set_open(&mut self, open: bool) {
        match self.selected_row() {
            Some(Row::Submenu { key, .. }) => {
                if open {
                    self.open.insert(key);
                } else {
                    self.open.remove(&key);
                }
                self.rebuild();
            }
            Some(Row::Entry { index, depth }) if !open && depth > 0 => {
                // ← on a nested entry goes to (and closes) its submenu.
                let key = self.menu.entries.get(index).map(submenu_keys);
                if let Some(parent) = key.and_then(|k| k.last().cloned()) {
                    self.open.remove(&parent);
                    self.selected = Some(Selected::Submenu(parent));
                    self.rebuild();
                }
            }
            _ => {}
        }
    }

    fn select_row(&mut self, row: usize) {
        self.selected = match self.rows.get(row) {
            Some(Row::Entry { index, .. }) => {
                self.menu.entries.get(*index).map(|e| Selected::Entry {
                    id: e.id.clone(),
                    device: e.volume.device.clone(),
                })
            }
            Some(Row::Submenu { key, .. }) => Some(Selected::Submenu(key.clone())),
            _ => self.selected.clone(),
        };
    }

    /// Rebuilds the rows after the menu or the open submenus changed, and keeps the
    /// highlight on the same entry (or the default, until a key was pressed).
    fn rebuild(&mut self) {
        let default_keys = self
            .menu
            .default_entry()
            .map(submenu_keys)
            .unwrap_or_default();
        let mut all_keys = Vec::new();
        for e in &self.menu.entries {
            all_keys.extend(submenu_keys(e));
        }
        for k in all_keys {
            if self.seen.insert(k.clone()) && default_keys.contains(&k) {
                self.open.insert(k);
            }
        }
        if !self.touched {
            // Until the user moves, the highlight follows the default.
            if let Some(e) = self.menu.default_entry() {
                for k in submenu_keys(e) {
                    self.open.insert(k);
                }
                self.selected = Some(Selected::Entry {
                    id: e.id.clone(),
                    device: e.volume.device.clone(),
                });
            }
        }
        let old_row = self.selected_index();
        self.rows = build_rows(&self.menu, &self.open);
        if self.selected_index().is_some() {
            return;
        }
        // The highlighted entry is inside a closed submenu: highlight the submenu.
        if let Some(Selected::Entry { id, device }) = self.selected.clone() {
            let hit = self
                .menu
                .entries
                .iter()
                .find(|e| e.id == id && e.volume.device == device)
                .map(submenu_keys);
            if let Some(keys) = hit {
                for k in keys {
                    if self
                        .rows
                        .iter()
                        .any(|r| matches!(r, Row::Submenu { key, .. } if *key == k))
                    {
                        self.selected = Some(Selected::Submenu(k));
                        return;
                    }
                }
            }
        }
        if !self.rows.iter().any(|r| !matches!(r, Row::Group { .. })) {
            // Nothing to highlight (a rescan starts empty): remember the old one.
            return;
        }
        // Gone: the nearest selectable row to where it was.
        let want = old_row.unwrap_or(0).min(self.rows.len().saturating_sub(1));
        let pick = (want..self.rows.len())
            .chain((0..want).rev())
            .find(|&i| !matches!(self.rows[i], Row::Group { .. }));
        self.selected = None;
        if let Some(i) = pick {
            self.select_row(i);
        }
    }

    // --- What the renderer reads. ---

    /// The current menu.
    pub fn menu(&self) -> &Menu {
        &self.menu
    }

    /// The rows of the list.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Index into [`rows`](Self::rows) of the highlighted row.
    pub fn selected_index(&self) -> Option<usize> {
        let sel = self.selected.as_ref()?;
        self.rows.iter().position(|r| match (r, sel) {
            (Row::Entry { index, .. }, Selected::Entry { id, device }) => self
                .menu
                .entries
                .get(*index)
                .is_some_and(|e| &e.id == id && &e.volume.device == device),
            (Row::Submenu { key, .. }, Selected::Submenu(k)) => key == k,
            _ => false,
        })
    }

    /// The highlighted row.
    pub fn selected_row(&self) -> Option<Row> {
        self.rows.get(self.selected_index()?).cloned()
    }

    /// The highlighted entry, if the highlighted row is one.
    pub fn selected_entry(&self) -> Option<&Entry> {
        match self.selected_row()? {
            Row::Entry { index, .. } => self.menu.entries.get(index),
            _ => None,
        }
    }

    /// The volume an entry lives on, when discovery reported it.
    pub fn volume_of(&self, e: &Entry) -> Option<&VolumeInfo> {
        self.volumes.iter().find(|v| {
            v.device == e.volume.device && (e.volume.uuid.is_none() || v.uuid == e.volume.uuid)
        })
    }

    /// The command line the entry boots with (its own plus the `append` setting).
    pub fn final_cmdline(&self, e: &Entry) -> String {
        self.policy.cmdline(e)
    }

    /// The countdown.
    pub fn countdown(&self) -> Countdown {
        self.countdown
    }

    /// True while the countdown runs (or waits for devices to boot the default).
    pub fn counting(&self) -> bool {
        self.countdown != Countdown::Off
    }

    /// The screen shown.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The log viewer, when it is shown (to refresh its lines).
    pub fn log_view_mut(&mut self) -> Option<&mut LogView> {
        match &mut self.mode {
            Mode::Log(v) => Some(v),
            _ => None,
        }
    }

    /// Tells the state how many log lines fit on the smallest console (paging).
    pub fn set_log_rows(&mut self, rows: usize) {
        self.log_rows = rows.max(1);
    }

    /// Every volume discovery has read.
    pub fn volumes(&self) -> &[VolumeInfo] {
        &self.volumes
    }

    /// Disks still being read.
    pub fn pending(&self) -> &[String] {
        &self.pending
    }

    /// What discovery last said.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// True once every device has answered.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// The status-line message, if any.
    pub fn current_notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }
}

/// The group an entry is listed under: a stable key and the header text.
pub fn group_of(e: &Entry) -> (String, String) {
    let dev = &e.volume.device;
    let on = match &e.volume.label {
        Some(l) if !l.is_empty() => format!("{dev} ({l})"),
        _ => dev.clone(),
    };
    match e.kind {
        EntryKind::Bls | EntryKind::Uki => (
            format!("bls\u{1f}{dev}"),
            format!("{on} · Boot Loader Specification"),
        ),
        EntryKind::Grub => (
            format!("grub\u{1f}{dev}\u{1f}{}", e.source.file),
            format!("{on} · GRUB {}", e.source.file),
        ),
    }
}

/// The submenu titles above a GRUB entry, from its `path` (which ends with its own
/// title): `A>B>Title` gives `[A, A>B]`.
fn submenu_path(e: &Entry) -> Vec<String> {
    let Some(path) = e.path.as_deref() else {
        return Vec::new();
    };
    let parents = match path.strip_suffix(e.title.as_str()) {
        Some(p) => p.strip_suffix('>').unwrap_or(""),
        None => path.rsplit_once('>').map_or("", |(p, _)| p),
    };
    if parents.is_empty() {
        return Vec::new();
    }
    parents.split('>').map(str::to_string).collect()
}

/// Keys of every submenu an entry sits in, outermost first.
fn submenu_keys(e: &Entry) -> Vec<String> {
    let (group, _) = group_of(e);
    let mut key = group;
    submenu_path(e)
        .into_iter()
        .map(|t| {
            key.push('>');
            key.push_str(&t);
            key.clone()
        })
        .collect()
}

#[derive(Default)]
struct Node {
    title: String,
    key: String,
    children: Vec<Child>,
}

enum Child {
    Sub(Node),
    Entry(usize),
}

impl Node {
    fn count(&self) -> usize {
        self.children
            .iter()
            .map(|c| match c {
                Child::Sub(n) => n.count(),
                Child::Entry(_) => 1,
            })
            .sum()
    }

    fn insert(&mut self, path: &[String], index: usize) {
        let Some((first, rest)) = path.split_first() else {
            self.children.push(Child::Entry(index));
            return;
        };
        let pos = self
            .children
            .iter()
            .position(|c| matches!(c, Child::Sub(n) if n.title == *first));
        let pos = match pos {
            Some(p) => p,
            None => {
                self.children.push(Child::Sub(Node {
                    title: first.clone(),
                    key: format!("{}>{first}", self.key),
                    children: Vec::new(),
                }));
                self.children.len() - 1
            }
        };
        if let Some(Child::Sub(n)) = self.children.get_mut(pos) {
            n.insert(rest, index);
        }
    }

    fn flatten(&self, depth: usize, open: &HashSet<String>, rows: &mut Vec<Row>) {
        for c in &self.children {
            match c {
                Child::Entry(index) => rows.push(Row::Entry {
                    index: *index,
                    depth,
                }),
                Child::Sub(n) => {
                    let is_open = open.contains(&n.key);
                    rows.push(Row::Submenu {
                        key: n.key.clone(),
                        title: n.title.clone(),
                        depth,
                        open: is_open,
                        count: n.count(),
                    });
                    if is_open {
                        n.flatten(depth + 1, open, rows);
                    }
                }
            }
        }
    }
}

/// The list rows: groups in order of their first entry, entries in menu order,
/// GRUB submenus as nodes.
pub fn build_rows(menu: &Menu, open: &HashSet<String>) -> Vec<Row> {
    let mut groups: Vec<(String, Node)> = Vec::new();
    for (i, e) in menu.entries.iter().enumerate() {
        let (key, label) = group_of(e);
        let pos = match groups.iter().position(|(_, n)| n.key == key) {
            Some(p) => p,
            None => {
                groups.push((
                    label,
                    Node {
                        key,
                        ..Node::default()
                    },
                ));
                groups.len() - 1
            }
        };
        if let Some((_, node)) = groups.get_mut(pos) {
            node.insert(&submenu_path(e), i);
        }
    }
    let mut rows = Vec::new();
    for (label, node) in &groups {
        rows.push(Row::Group {
            label: label.clone(),
        });
        node.flatten(0, open, &mut rows);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    /// The menu's questions answered from settings alone, as PID 1's policy does.
    #[derive(Debug)]
    struct TestPolicy(Settings);

    impl Policy for TestPolicy {
        fn cmdline(&self, e: &Entry) -> String {
            match self.0.append.as_deref() {
                Some(a) => format!("{} {a}", e.cmdline.trim()),
                None => e.cmdline.trim().to_string(),
            }
        }
        fn locked_down(&self) -> bool {
            self.0.lockdown
        }
        fn has_password(&self) -> bool {
            self.0.password.is_some()
        }
        fn password_ok(&self, typed: &str) -> bool {
            self.0.password.as_deref().is_some_and(|h| {
                crate::settings::password::PasswordHash::parse(h).is_ok_and(|h| h.verify(typed))
            })
        }
        fn nothing_bootable(&self, _: &Menu, _: &[VolumeInfo]) {}
    }
    use leapboot_menus::{Source, VolumeRef};

    fn entry(id: &str, title: &str, dev: &str, kind: EntryKind, path: Option<&str>) -> Entry {
        Entry {
            id: id.into(),
            title: title.into(),
            version: None,
            kind,
            volume: VolumeRef {
                uuid: None,
                label: None,
                device: dev.into(),
            },
            kernel: "/vmlinuz".into(),
            initrds: vec![],
            cmdline: "root=/dev/vda2 ro".into(),
            devicetree: None,
            source: Source {
                file: "/boot/grub/grub.cfg".into(),
                line: 1,
            },
            path: path.map(str::to_string),
            problem: None,
            bls: None,
            uki: None,
        }
    }

    fn grub_menu() -> Menu {
        let g = EntryKind::Grub;
        Menu {
            entries: vec![
                entry("a", "Alpha", "vda1", EntryKind::Bls, None),
                entry("debian", "Debian", "vda2", g, Some("Debian")),
                entry(
                    "adv>6.1",
                    "Debian 6.1",
                    "vda2",
                    g,
                    Some("Advanced>Debian 6.1"),
                ),
                entry(
                    "adv>6.1r",
                    "Debian 6.1 (recovery)",
                    "vda2",
                    g,
                    Some("Advanced>Debian 6.1 (recovery)"),
                ),
                entry("memtest", "Memtest", "vda2", g, Some("Memtest")),
            ],
            default: Some(1),
            ..Menu::default()
        }
    }

    #[test]
    fn groups_and_closed_submenu() {
        let s = MenuState::with_menu(TestPolicy(Settings::default()), 5, grub_menu());
        let r = s.rows();
        assert!(matches!(&r[0], Row::Group { label } if label.contains("vda1")));
        assert_eq!(r[1], Row::Entry { index: 0, depth: 0 });
        assert!(matches!(&r[2], Row::Group { label } if label.contains("GRUB")));
        assert_eq!(r[3], Row::Entry { index: 1, depth: 0 });
        assert!(
            matches!(&r[4], Row::Submenu { title, open: false, count: 2, .. } if title == "Advanced")
        );
        assert_eq!(r[5], Row::Entry { index: 4, depth: 0 });
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("debian"));
    }

    #[test]
    fn default_inside_submenu_opens_it() {
        let mut m = grub_menu();
        m.default = Some(3);
        let s = MenuState::with_menu(TestPolicy(Settings::default()), 5, m);
        assert_eq!(s.rows().len(), 8);
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("adv>6.1r"));
    }

    #[test]
    fn navigation_skips_headers_and_toggles_submenus() {
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 5, grub_menu());
        assert_eq!(s.key(Key::Up), None);
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("a"));
        assert_eq!(s.key(Key::Up), None);
        assert_eq!(s.selected_index(), Some(1));
        s.key(Key::Char('j'));
        s.key(Key::Char('j'));
        assert!(matches!(
            s.selected_row(),
            Some(Row::Submenu { open: false, .. })
        ));
        assert_eq!(s.key(Key::Enter), None);
        assert!(matches!(
            s.selected_row(),
            Some(Row::Submenu { open: true, .. })
        ));
        s.key(Key::Down);
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("adv>6.1"));
        s.key(Key::Left);
        assert!(matches!(
            s.selected_row(),
            Some(Row::Submenu { open: false, .. })
        ));
        s.key(Key::End);
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("memtest"));
        s.key(Key::Home);
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("a"));
    }

    #[test]
    fn countdown_boots_default_only_after_settling() {
        let mut s = MenuState::new(TestPolicy(Settings::default()), 2);
        s.update(Update::Menu {
            menu: grub_menu(),
            pending: vec!["vdb".into()],
            volumes: vec![],
        });
        assert_eq!(s.tick(Duration::from_millis(1500)), None);
        assert_eq!(
            s.countdown(),
            Countdown::Running(Duration::from_millis(500))
        );
        assert_eq!(s.tick(Duration::from_millis(600)), None);
        assert_eq!(s.countdown(), Countdown::Waiting);
        s.update(Update::Settled);
        assert_eq!(
            s.tick(Duration::ZERO),
            Some(Action::Boot {
                index: 1,
                cmdline_override: None,
                debug: false
            })
        );
        assert!(!s.counting());
    }

    #[test]
    fn any_key_stops_the_countdown_and_minus_one_waits() {
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 1, grub_menu());
        s.key(Key::Char('x'));
        assert_eq!(s.tick(Duration::from_secs(10)), None);
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), -1, grub_menu());
        assert_eq!(s.tick(Duration::from_secs(100)), None);
        assert_eq!(s.countdown(), Countdown::Off);
    }

    #[test]
    fn highlight_follows_default_until_touched_then_stays_by_id() {
        let mut s = MenuState::new(TestPolicy(Settings::default()), 5);
        let mut m = grub_menu();
        m.entries.remove(0);
        m.default = Some(0);
        s.update(Update::Menu {
            menu: m,
            pending: vec![],
            volumes: vec![],
        });
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("debian"));
        s.key(Key::Down); // the submenu
        s.key(Key::Down);
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("memtest"));
        // A disk arrives with an entry sorted before the others.
        s.update(Update::Menu {
            menu: grub_menu(),
            pending: vec![],
            volumes: vec![],
        });
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("memtest"));
        // A rescan starts empty, then the entries come back: still 'memtest'.
        s.update(Update::Menu {
            menu: Menu::default(),
            pending: vec![],
            volumes: vec![],
        });
        assert_eq!(s.selected_row(), None);
        s.update(Update::Menu {
            menu: grub_menu(),
            pending: vec![],
            volumes: vec![],
        });
        assert_eq!(s.selected_entry().map(|e| e.id.as_str()), Some("memtest"));
        // The entry disappears: the highlight stays near where it was.
        let mut m = grub_menu();
        m.entries.pop();
        s.update(Update::Menu {
            menu: m,
            pending: vec![],
            volumes: vec![],
        });
        assert!(s.selected_row().is_some());
    }

    #[test]
    fn editor_edits_and_boots_once_with_override() {
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 5, grub_menu());
        s.key(Key::Char('e'));
        assert!(matches!(s.mode(), Mode::Edit(_)));
        for k in [Key::Home, Key::Delete, Key::Char('R'), Key::End] {
            assert_eq!(s.key(k), None);
        }
        for c in " x=1".chars() {
            s.key(Key::Char(c));
        }
        s.key(Key::Backspace);
        s.key(Key::Char('2'));
        assert_eq!(
            s.key(Key::Ctrl('x')),
            Some(Action::Boot {
                index: 1,
                cmdline_override: Some("Root=/dev/vda2 ro x=2".into()),
                debug: false
            })
        );
        assert_eq!(s.mode(), &Mode::Menu);
        // Esc cancels; an unchanged line is no override.
        s.key(Key::Char('e'));
        s.key(Key::Char('z'));
        s.key(Key::Esc);
        assert_eq!(s.mode(), &Mode::Menu);
        s.key(Key::Char('e'));
        assert_eq!(
            s.key(Key::F(10)),
            Some(Action::Boot {
                index: 1,
                cmdline_override: None,
                debug: false
            })
        );
    }

    #[test]
    fn editor_word_and_line_kills() {
        let mut ed = Editor {
            index: 0,
            text: "a bb ccc".chars().collect(),
            cursor: 8,
            original: String::new(),
        };
        ed.key(Key::Ctrl('w'));
        assert_eq!(ed.line(), "a bb ");
        ed.key(Key::Left);
        ed.key(Key::Left);
        ed.key(Key::Ctrl('k'));
        assert_eq!(ed.line(), "a b");
        ed.key(Key::Ctrl('u'));
        assert_eq!((ed.line().as_str(), ed.cursor), ("", 0));
        ed.key(Key::Backspace);
        ed.key(Key::Delete);
        assert_eq!(ed.line(), "");
    }

    #[test]
    fn unbootable_entry_gives_a_notice_not_an_action() {
        let mut m = grub_menu();
        m.entries[1].problem = Some("kernel /vmlinuz not found".into());
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 5, m);
        s.key(Key::Up);
        s.key(Key::Down);
        assert_eq!(s.key(Key::Enter), None);
        assert!(
            s.current_notice()
                .is_some_and(|n| n.error && n.text.contains("not found"))
        );
        assert_eq!(s.key(Key::Char('d')), None);
    }

    #[test]
    fn debug_rescan_help_log() {
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 5, grub_menu());
        assert_eq!(
            s.key(Key::Char('d')),
            Some(Action::Boot {
                index: 1,
                cmdline_override: None,
                debug: true
            })
        );
        assert_eq!(s.key(Key::Char('r')), Some(Action::Rescan));
        s.key(Key::Char('?'));
        assert_eq!(s.mode(), &Mode::Help);
        s.key(Key::Char('x'));
        assert_eq!(s.mode(), &Mode::Menu);
        s.key(Key::Char('l'));
        assert!(matches!(s.mode(), Mode::Log(_)));
        s.key(Key::Esc);
        assert_eq!(s.mode(), &Mode::Menu);
        assert_eq!(s.key(Key::Ctrl('l')), Some(Action::Redraw));
    }

    #[test]
    fn log_view_scrolls_and_follows() {
        let mut v = LogView {
            lines: (0..50)
                .map(|i| LogLine {
                    usec: i,
                    kernel: false,
                    level: 6,
                    text: i.to_string(),
                })
                .collect(),
            ..LogView::default()
        };
        assert_eq!(v.first_shown(10), 40);
        v.key(Key::Up, 10);
        assert_eq!((v.first_shown(10), v.top), (39, Some(39)));
        v.key(Key::PageDown, 10);
        assert_eq!(v.top, None);
        v.key(Key::Home, 10);
        assert_eq!(v.first_shown(10), 0);
        v.key(Key::PageUp, 10);
        assert_eq!(v.first_shown(10), 0);
        assert!(!v.key(Key::Char('q'), 10));
    }

    #[test]
    fn timeout_zero_boots_at_first_settled_tick() {
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 0, grub_menu());
        assert!(matches!(
            s.tick(Duration::ZERO),
            Some(Action::Boot { index: 1, .. })
        ));
        let mut s = MenuState::with_menu(TestPolicy(Settings::default()), 0, Menu::default());
        assert_eq!(s.tick(Duration::ZERO), None);
        assert!(s.current_notice().is_some());
    }

    fn locked_settings(password: Option<&str>) -> Settings {
        let mut salt_hash = String::new();
        if let Some(pw) = password {
            let salt = b"leapboot-salt";
            let mut out = [0u8; 64];
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pw.as_bytes(), salt, 100, &mut out);
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            salt_hash = format!("grub.pbkdf2.sha512.100.{}.{}", hex(salt), hex(&out));
        }
        Settings {
            lockdown: true,
            password: password.map(|_| salt_hash),
            ..Settings::default()
        }
    }

    fn typed(s: &mut MenuState, text: &str) {
        for c in text.chars() {
            s.key(Key::Char(c));
        }
    }

    #[test]
    fn lockdown_edit_needs_the_password() {
        let mut s =
            MenuState::with_menu(TestPolicy(locked_settings(Some("sesame"))), -1, grub_menu());
        s.key(Key::Char('e'));
        assert!(matches!(s.mode(), Mode::Password(_)), "e opens the prompt");
        typed(&mut s, "wrong");
        s.key(Key::Enter);
        assert_eq!(s.mode(), &Mode::Menu, "a wrong password edits nothing");
        s.key(Key::Char('e'));
        typed(&mut s, "sesame");
        s.key(Key::Enter);
        assert!(
            matches!(s.mode(), Mode::Edit(_)),
            "the right password opens the editor"
        );
        s.key(Key::Esc);
        s.key(Key::Char('e'));
        assert!(
            matches!(s.mode(), Mode::Edit(_)),
            "unlocked for the rest of the session"
        );
    }

    #[test]
    fn lockdown_without_password_refuses_edits_and_debug_boots() {
        let mut s = MenuState::with_menu(TestPolicy(locked_settings(None)), -1, grub_menu());
        s.key(Key::Char('e'));
        assert_eq!(s.mode(), &Mode::Menu);
        assert_eq!(s.key(Key::Char('d')), None, "no debug boot either");
        assert_eq!(s.mode(), &Mode::Menu);
        // Booting an entry as it is stays free (GRUB's --unrestricted habit).
        assert!(matches!(
            s.key(Key::Enter),
            Some(Action::Boot {
                cmdline_override: None,
                debug: false,
                ..
            })
        ));
    }
}
