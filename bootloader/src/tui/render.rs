//! Drawing the [`MenuState`] into a ratatui [`Buffer`]: the menu (title bar, entry
//! list, details pane, status line, key hints), the help over it, the command-line
//! editor and the log viewer. Pure: the same state and size give the same cells,
//! which the snapshot tests compare.
//!
//! Every piece of information is in the text itself (`>` marks the highlighted
//! row, `*` the default, `(not bootable: …)` an entry that cannot boot), so a
//! console without colours ([`Caps::PLAIN`]) loses nothing. Colours and box-drawing
//! characters are additions. Nothing here panics on a small or odd-sized area:
//! every write is clipped to the area.

use super::state::{Countdown, Editor, LogView, MenuState, Mode, PasswordPrompt, Row};
use crate::printable::printable;
use leapboot_menus::Entry;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::widgets::{Block, Borders, Clear, Widget};

/// What a console can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Colours and attributes.
    pub color: bool,
    /// UTF-8 box drawing and arrows (else ASCII).
    pub unicode: bool,
}

impl Caps {
    /// Colours and UTF-8 (the Linux VT, xterm-likes).
    pub const FULL: Caps = Caps {
        color: true,
        unicode: true,
    };
    /// Plain ASCII text (a dumb terminal).
    pub const PLAIN: Caps = Caps {
        color: false,
        unicode: false,
    };

    /// From the environment the kernel gives PID 1: `TERM` (`linux` by default;
    /// `TERM=dumb` on the kernel command line gives plain text, `vt100`/`vt102`/
    /// `vt220`/`ansi` ASCII lines with colours) and `NO_COLOR`.
    pub fn from_env() -> Caps {
        let term = std::env::var("TERM").unwrap_or_default();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Caps::for_term(&term, no_color)
    }

    /// Capabilities for a `TERM` value.
    pub fn for_term(term: &str, no_color: bool) -> Caps {
        match term {
            "dumb" => Caps::PLAIN,
            "vt100" | "vt102" | "vt220" | "ansi" => Caps {
                color: !no_color,
                unicode: false,
            },
            _ => Caps {
                color: !no_color,
                unicode: true,
            },
        }
    }
}

const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Styles that vanish without colour.
struct Look {
    caps: Caps,
}

impl Look {
    fn s(&self, style: Style) -> Style {
        if self.caps.color {
            style
        } else {
            Style::default()
        }
    }
    fn bar(&self) -> Style {
        self.s(Style::new()
            .fg(Color::White)
            .bg(Color::Blue)
            .add_modifier(Modifier::BOLD))
    }
    fn highlight(&self) -> Style {
        self.s(Style::new().fg(Color::Black).bg(Color::Cyan))
    }
    fn group(&self) -> Style {
        self.s(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
    }
    fn dim(&self) -> Style {
        self.s(Style::new().fg(Color::DarkGray))
    }
    fn label(&self) -> Style {
        self.s(Style::new().fg(Color::Yellow))
    }
    fn error(&self) -> Style {
        self.s(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
    }
    fn attention(&self) -> Style {
        self.s(Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD))
    }
    fn block<'a>(&self, title: &'a str) -> Block<'a> {
        let b = Block::new()
            .borders(Borders::ALL)
            .title(title)
            .border_style(self.s(Style::new().fg(Color::Blue)));
        if self.caps.unicode {
            b
        } else {
            b.border_set(ASCII_BORDER)
        }
    }
    /// `text` as this console can show it: `·` becomes `-` without UTF-8.
    fn text(&self, text: &str) -> String {
        if self.caps.unicode {
            text.to_string()
        } else {
            text.replace('·', "-")
        }
    }
    fn arrows(&self) -> &'static str {
        if self.caps.unicode {
            "↑↓"
        } else {
            "Up/Down"
        }
    }
}

/// Writes `text` at (x, y), clipped to `area`'s right edge and `max` columns, with
/// terminal controls from disks shown as escapes ([`printable`]; ratatui would drop
/// them unseen).
fn put(buf: &mut Buffer, area: Rect, x: u16, y: u16, text: &str, max: usize, style: Style) {
    if y < area.top() || y >= area.bottom() || x < area.left() || x >= area.right() {
        return;
    }
    let room = usize::from(area.right() - x).min(max);
    if room == 0 || !buf.area.contains(Position { x, y }) {
        return;
    }
    buf.set_stringn(x, y, printable(text), room, style);
}

/// Fills a whole row of `area` with `style`.
fn fill(buf: &mut Buffer, area: Rect, y: u16, style: Style) {
    if y >= area.top() && y < area.bottom() {
        buf.set_style(Rect::new(area.x, y, area.width, 1), style);
    }
}

/// Splits `text` into pieces of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() || width == 0 {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// Draws the whole screen for `state` into `buf` over `area`; returns where the
/// terminal cursor goes (the editor), if anywhere.
pub fn draw(state: &MenuState, area: Rect, buf: &mut Buffer, caps: Caps) -> Option<Position> {
    let area = area.intersection(buf.area);
    if area.width < 4 || area.height < 3 {
        return None;
    }
    let look = Look { caps };
    Clear.render(area, buf);
    match state.mode() {
        Mode::Menu => {
            menu(state, area, buf, &look);
            None
        }
        Mode::Help => {
            menu(state, area, buf, &look);
            help(area, buf, &look);
            None
        }
        Mode::Edit(ed) => editor(state, ed, area, buf, &look),
        Mode::Log(view) => {
            log(view, area, buf, &look);
            None
        }
        Mode::Password(p) => {
            menu(state, area, buf, &look);
            password(p, area, buf, &look)
        }
    }
}

/// The password prompt over the menu: one boxed line, typed characters as `*`.
fn password(p: &PasswordPrompt, area: Rect, buf: &mut Buffer, look: &Look) -> Option<Position> {
    let w = area.width.clamp(20, 60);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + area.height.saturating_sub(5) / 2,
        w,
        3.min(area.height),
    );
    Clear.render(r, buf);
    let block = look.block(" Locked: password ");
    let inner = block.inner(r);
    block.render(r, buf);
    let stars: String = "*".repeat(
        p.typed
            .len()
            .min(usize::from(inner.width.saturating_sub(1))),
    );
    put(
        buf,
        inner,
        inner.x,
        inner.y,
        &stars,
        usize::from(inner.width),
        Style::default(),
    );
    Some(Position::new(inner.x + stars.len() as u16, inner.y))
}

fn title_bar(buf: &mut Buffer, area: Rect, left: &str, right: &str, look: &Look) {
    let y = area.y;
    fill(buf, area, y, look.bar());
    let (left, right) = (look.text(left), look.text(right));
    put(buf, area, area.x + 1, y, &left, usize::MAX, look.bar());
    // The right side gives way to the left: cut to what is free.
    let total = usize::from(area.width);
    let room = total.saturating_sub(left.chars().count() + 4);
    let right: String = right.chars().take(room).collect();
    let w = right.chars().count();
    if w > 0 {
        let x = area.x + (total - w - 1) as u16;
        put(buf, area, x, y, &right, w, look.bar());
    }
}

fn key_line(buf: &mut Buffer, area: Rect, y: u16, text: &str, look: &Look) {
    put(
        buf,
        area,
        area.x + 1,
        y,
        text,
        usize::from(area.width).saturating_sub(2),
        look.dim(),
    );
}

/// Rows of the details pane (inside its border) on a screen of this height.
fn details_rows(height: u16) -> u16 {
    match height {
        0..=15 => 0,
        16..=29 => 6,
        _ => 8,
    }
}

fn menu(state: &MenuState, area: Rect, buf: &mut Buffer, look: &Look) {
    let n = state.menu().entries.len();
    let count = format!("{n} entr{}", if n == 1 { "y" } else { "ies" });
    // While devices are being read, the title bar says so.
    let right = if state.settled() {
        format!("{count} · leapboot {}", env!("CARGO_PKG_VERSION"))
    } else {
        format!(
            "{}{}",
            state.status().unwrap_or("looking for devices"),
            pending_text(state)
        )
    };
    title_bar(buf, area, "leapboot boot menu", &right, look);
    let det = details_rows(area.height);
    let det_total = if det > 0 { det + 2 } else { 0 };
    let list_h = area.height.saturating_sub(1 + det_total + 2);
    let list = Rect::new(area.x, area.y + 1, area.width, list_h);
    entry_list(state, list, buf, look);
    if det > 0 {
        let d = Rect::new(area.x, list.bottom(), area.width, det_total);
        details(state, d, buf, look);
    }
    let status_y = area.bottom().saturating_sub(2);
    status_line(state, area, status_y, buf, look);
    let keys = if look.caps.unicode {
        "↑↓ select  Enter boot  e edit  d debug boot  l log  r rescan  h help"
    } else {
        "Up/Down select  Enter boot  e edit  d debug boot  l log  r rescan  h help"
    };
    key_line(buf, area, area.bottom().saturating_sub(1), keys, look);
}

fn entry_list(state: &MenuState, area: Rect, buf: &mut Buffer, look: &Look) {
    if area.height < 3 {
        return;
    }
    let block = look.block(" Boot entries ");
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = state.rows();
    let width = usize::from(inner.width);
    if rows.is_empty() {
        let msg = if state.settled() {
            "No boot entries found. r rescans the devices; l shows the log."
        } else {
            "Looking for boot entries..."
        };
        put(
            buf,
            inner,
            inner.x + 1,
            inner.y,
            msg,
            width.saturating_sub(1),
            look.dim(),
        );
        if state.settled() {
            let vols: Vec<String> = state
                .volumes()
                .iter()
                .map(|v| format!("{} ({})", v.device, v.fs_type))
                .collect();
            let text = if vols.is_empty() {
                "No volume with an ext4 or FAT filesystem was found.".to_string()
            } else {
                format!("Volumes read: {}", vols.join(", "))
            };
            let lines = wrap(&text, width.saturating_sub(2));
            for (i, l) in lines.iter().enumerate() {
                let y = inner.y + 2 + i as u16;
                put(
                    buf,
                    inner,
                    inner.x + 1,
                    y,
                    l,
                    width.saturating_sub(1),
                    look.dim(),
                );
            }
        }
        return;
    }
    let visible = usize::from(inner.height);
    let sel = state.selected_index();
    // Keep the highlighted row on screen, with its group header when it fits.
    let mut top = 0;
    if let Some(s) = sel
        && s >= visible
    {
        top = s + 1 - visible;
    }
    let default = state.menu().default;
    for (i, row) in rows.iter().enumerate().skip(top).take(visible) {
        let y = inner.y + (i - top) as u16;
        let selected = Some(i) == sel;
        let mark = if selected { ">" } else { " " };
        match row {
            Row::Group { label } => {
                let label = look.text(label);
                let line = if look.caps.unicode {
                    format!("── {label} ")
                } else {
                    format!("-- {label} ")
                };
                let fill_ch = if look.caps.unicode { "─" } else { "-" };
                let pad = width.saturating_sub(line.chars().count());
                put(
                    buf,
                    inner,
                    inner.x,
                    y,
                    &format!("{line}{}", fill_ch.repeat(pad)),
                    width,
                    look.group(),
                );
            }
            Row::Submenu {
                title,
                depth,
                open,
                count,
                ..
            } => {
                let sign = match (open, look.caps.unicode) {
                    (true, true) => "▼",
                    (false, true) => "►",
                    (true, false) => "-",
                    (false, false) => "+",
                };
                let indent = "  ".repeat(*depth);
                let text = format!(
                    "{mark}  {indent}{sign} {title}  ({count} entr{})",
                    if *count == 1 { "y" } else { "ies" }
                );
                let style = if selected {
                    look.highlight()
                } else {
                    Style::default()
                };
                if selected {
                    fill(buf, inner, y, style);
                }
                put(buf, inner, inner.x, y, &text, width, style);
            }
            Row::Entry { index, depth } => {
                let Some(e) = state.menu().entries.get(*index) else {
                    continue;
                };
                let star = if default == Some(*index) { "*" } else { " " };
                let indent = "  ".repeat(*depth + usize::from(*depth > 0));
                let mut text = format!("{mark}{star} {indent}{}", e.title);
                let mut style = Style::default();
                if let Some(p) = &e.problem {
                    text.push_str(&format!("  (not bootable: {p})"));
                    style = look.dim();
                }
                if selected {
                    style = look.highlight();
                    fill(buf, inner, y, style);
                }
                put(buf, inner, inner.x, y, &text, width, style);
            }
        }
    }
    if rows.len() > visible {
        let more = format!(" {}/{} ", sel.map_or(0, |s| s + 1), rows.len());
        let x = area.right().saturating_sub(more.len() as u16 + 2);
        put(
            buf,
            area,
            x,
            area.bottom().saturating_sub(1),
            &more,
            more.len(),
            look.dim(),
        );
    }
}

/// (label, value) lines describing an entry, most important first.
pub fn entry_facts(state: &MenuState, e: &Entry) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    if let Some(p) = &e.problem {
        f.push(("Problem", p.clone()));
    }
    let mut vol = e.volume.device.clone();
    if let Some(v) = state.volume_of(e) {
        vol.push_str(&format!("  {}", v.fs_type));
    }
    vol.push_str(&format!(
        "  UUID={}",
        e.volume.uuid.as_deref().unwrap_or("-")
    ));
    if let Some(l) = &e.volume.label {
        vol.push_str(&format!("  LABEL={l}"));
    }
    f.push(("Volume", vol));
    f.push((
        "Config",
        format!(
            "{} line {}  ({})",
            e.source.file,
            e.source.line,
            e.kind.as_str()
        ),
    ));
    f.push((
        "Kernel",
        match &e.version {
            Some(v) => format!("{}  (version {v})", e.kernel),
            None => e.kernel.clone(),
        },
    ));
    f.push((
        if e.initrds.len() > 1 {
            "Initrds"
        } else {
            "Initrd"
        },
        if e.initrds.is_empty() {
            "none".to_string()
        } else {
            e.initrds.join("  ")
        },
    ));
    f.push(("Cmdline", state.final_cmdline(e)));
    f
}

fn details(state: &MenuState, area: Rect, buf: &mut Buffer, look: &Look) {
    let block = look.block(" Details ");
    let inner = block.inner(area);
    block.render(area, buf);
    let facts: Vec<(&str, String)> = match state.selected_row() {
        Some(Row::Entry { .. }) => match state.selected_entry() {
            Some(e) => entry_facts(state, e),
            None => Vec::new(),
        },
        Some(Row::Submenu {
            title, count, open, ..
        }) => vec![
            ("Submenu", title),
            (
                "Entries",
                format!(
                    "{count}; {}",
                    if open {
                        "Enter or Left closes it"
                    } else {
                        "Enter or Right opens it"
                    }
                ),
            ),
        ],
        _ => Vec::new(),
    };
    let label_w = 9usize;
    let val_w = usize::from(inner.width).saturating_sub(label_w + 1);
    let mut y = inner.y;
    let n = facts.len();
    for (i, (label, value)) in facts.into_iter().enumerate() {
        if y >= inner.bottom() {
            break;
        }
        let left_after = usize::from(inner.bottom() - y);
        // The last fact (the command line) wraps over the rows that are left.
        let lines = if i + 1 == n {
            wrap(&value, val_w)
        } else {
            vec![value]
        };
        let style = if label == "Problem" {
            look.error()
        } else {
            look.label()
        };
        put(buf, inner, inner.x + 1, y, label, label_w, style);
        let shown = lines.len().min(left_after);
        for (j, l) in lines.iter().take(shown).enumerate() {
            let mut text = l.clone();
            if j + 1 == shown && shown < lines.len() && val_w > 3 {
                // Cut: say so.
                text = text.chars().take(val_w - 3).collect::<String>() + "...";
            }
            put(
                buf,
                inner,
                inner.x + 1 + label_w as u16,
                y,
                &text,
                val_w,
                Style::default(),
            );
            y += 1;
        }
    }
}

fn status_line(state: &MenuState, area: Rect, y: u16, buf: &mut Buffer, look: &Look) {
    let width = usize::from(area.width).saturating_sub(2);
    let default_title = state
        .menu()
        .default_entry()
        .map(|e| e.title.clone())
        .unwrap_or_default();
    let (text, style) = if let Some(n) = state.current_notice() {
        (
            n.text.clone(),
            if n.error {
                look.error()
            } else {
                look.attention()
            },
        )
    } else {
        match state.countdown() {
            Countdown::Running(left) if state.menu().default.is_some() => {
                let secs = left.as_millis().div_ceil(1000);
                (
                    format!("Booting in {secs} s, any key stops the countdown: '{default_title}'"),
                    look.attention(),
                )
            }
            Countdown::Running(_) | Countdown::Waiting => (
                format!(
                    "Booting the default entry once every device has been read{}",
                    pending_text(state)
                ),
                look.attention(),
            ),
            Countdown::Off => {
                if !state.settled() {
                    let s = state.status().unwrap_or("looking for devices");
                    (format!("{s}{}", pending_text(state)), look.dim())
                } else if state.menu().entries.is_empty() {
                    ("No entries. r rescans the devices.".to_string(), look.dim())
                } else {
                    (
                        "Enter boots the highlighted entry; * marks the default.".to_string(),
                        look.dim(),
                    )
                }
            }
        }
    };
    put(buf, area, area.x + 1, y, &text, width, style);
}

fn pending_text(state: &MenuState) -> String {
    if state.pending().is_empty() {
        String::new()
    } else {
        format!(" (reading {})", state.pending().join(", "))
    }
}

/// The help text, one (keys, what) pair a line.
pub const HELP: &[(&str, &str)] = &[
    ("Up Down  j k", "move the highlight"),
    ("Home End", "first, last entry"),
    ("Right Left", "open, close a submenu"),
    ("Enter", "boot the highlighted entry"),
    ("e", "edit the command line, then boot it once"),
    ("d", "boot with handoff debugging"),
    ("l", "log: leapboot and kernel messages"),
    ("r", "look for devices again"),
    ("h ?  F1", "this help"),
    ("Ctrl-L", "redraw the screen"),
    ("", ""),
    // At most 51 characters a line: the box is 70 wide, the text starts at column 16,
    // and a blank stays before the border (tests/tui_render.rs checks).
    (
        "Editor",
        "Left Right Home End move, Backspace Delete erase,",
    ),
    ("", "Ctrl-K cuts to the end, Ctrl-U to the start;"),
    ("", "Enter, F10 or Ctrl-X boots, Esc cancels"),
];

fn help(area: Rect, buf: &mut Buffer, look: &Look) {
    let w = area.width.min(70);
    let h = area.height.min(HELP.len() as u16 + 4);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(r, buf);
    let block = look.block(" Keys ");
    let inner = block.inner(r);
    block.render(r, buf);
    for (i, (keys, what)) in HELP.iter().enumerate() {
        let y = inner.y + i as u16;
        put(buf, inner, inner.x + 1, y, keys, 14, look.label());
        put(
            buf,
            inner,
            inner.x + 16,
            y,
            what,
            usize::from(inner.width).saturating_sub(16),
            Style::default(),
        );
    }
    let y = inner.y + HELP.len() as u16 + 1;
    if y < inner.bottom() {
        put(
            buf,
            inner,
            inner.x + 1,
            y,
            "Any key closes this help.",
            usize::MAX,
            look.dim(),
        );
    } else {
        put(
            buf,
            inner,
            inner.x + 1,
            inner.bottom().saturating_sub(1),
            "Any key closes this help.",
            usize::MAX,
            look.dim(),
        );
    }
}

fn editor(
    state: &MenuState,
    ed: &Editor,
    area: Rect,
    buf: &mut Buffer,
    look: &Look,
) -> Option<Position> {
    let title = state
        .menu()
        .entries
        .get(ed.index)
        .map(|e| format!("Edit the command line of '{}'", e.title))
        .unwrap_or_default();
    title_bar(buf, area, &title, "", look);
    let inner_w = usize::from(area.width.saturating_sub(2)).max(1);
    let text: String = ed.text.iter().collect();
    let lines = wrap(&text, inner_w);
    let need = (ed.text.len() / inner_w + 1).max(lines.len());
    // Title bar, the box, facts (kernel, initrds), a gap, status, keys.
    let facts_h: u16 = if area.height >= 14 { 4 } else { 0 };
    let max_box = area.height.saturating_sub(1 + facts_h + 2).max(3);
    let box_h = (need as u16 + 2).clamp(3, max_box);
    let r = Rect::new(area.x, area.y + 1, area.width, box_h);
    let block = look.block(" Command line ");
    let inner = block.inner(r);
    block.render(r, buf);
    let rows = usize::from(inner.height).max(1);
    let cur_line = ed.cursor / inner_w;
    let first = (cur_line + 1).saturating_sub(rows);
    for (i, l) in lines.iter().enumerate().skip(first).take(rows) {
        put(
            buf,
            inner,
            inner.x,
            inner.y + (i - first) as u16,
            l,
            inner_w,
            Style::default(),
        );
    }
    if facts_h > 0
        && let Some(e) = state.menu().entries.get(ed.index)
    {
        let y0 = r.bottom() + 1;
        let facts = [
            ("Kernel", e.kernel.clone()),
            (
                "Initrd",
                if e.initrds.is_empty() {
                    "none".into()
                } else {
                    e.initrds.join("  ")
                },
            ),
            (
                "Volume",
                e.volume.device.clone() + "  UUID=" + e.volume.uuid.as_deref().unwrap_or("-"),
            ),
        ];
        for (i, (l, v)) in facts.iter().enumerate() {
            let y = y0 + i as u16;
            if y >= area.bottom().saturating_sub(2) {
                break;
            }
            put(buf, area, area.x + 2, y, l, 8, look.label());
            put(
                buf,
                area,
                area.x + 11,
                y,
                v,
                usize::from(area.width).saturating_sub(12),
                Style::default(),
            );
        }
    }
    let changed = ed.line() != ed.original;
    put(
        buf,
        area,
        area.x + 1,
        area.bottom().saturating_sub(2),
        if changed {
            "Edited. It boots once with this command line; nothing is saved."
        } else {
            "Unchanged. An edit boots once; nothing is saved."
        },
        usize::MAX,
        look.attention(),
    );
    key_line(
        buf,
        area,
        area.bottom().saturating_sub(1),
        "Enter/F10/Ctrl-x boot  Esc cancel  Ctrl-k cut to end  Ctrl-u cut to start",
        look,
    );
    let x = inner.x + (ed.cursor % inner_w) as u16;
    let y = inner.y + (cur_line - first) as u16;
    (y < inner.bottom() && x < area.right()).then_some(Position { x, y })
}

/// Log lines that fit on a screen of this height.
pub fn log_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(2)).max(1)
}

fn log(view: &LogView, area: Rect, buf: &mut Buffer, look: &Look) {
    let rows = log_rows(area.height);
    let first = view.first_shown(rows);
    let total = view.lines.len();
    let last = (first + rows).min(total);
    title_bar(
        buf,
        area,
        "Log: leapboot and kernel messages",
        &format!("lines {}-{last} of {total}", (first + 1).min(total)),
        look,
    );
    let width = usize::from(area.width);
    for (i, l) in view.lines.iter().skip(first).take(rows).enumerate() {
        let text: String = l.text.chars().skip(view.left).collect();
        let style = if l.level <= 3 {
            look.error()
        } else if l.level == 4 {
            look.attention()
        } else if l.kernel {
            look.dim()
        } else {
            Style::default()
        };
        put(
            buf,
            area,
            area.x,
            area.y + 1 + i as u16,
            &text,
            width,
            style,
        );
    }
    let keys = format!(
        "{} PgUp PgDn Home End scroll  Left Right pan  q or Esc back{}",
        look.arrows(),
        if view.top.is_none() {
            "  (following)"
        } else {
            ""
        }
    );
    key_line(buf, area, area.bottom().saturating_sub(1), &keys, look);
}

/// The booting record: plain lines printed when an entry is chosen, before the
/// handoff summary that the boot code logs.
pub fn booting_lines(
    state: &MenuState,
    index: usize,
    cmdline_override: Option<&str>,
    debug: bool,
) -> Vec<String> {
    let Some(e) = state.menu().entries.get(index) else {
        return Vec::new();
    };
    let mut out = vec![format!(
        "Booting '{}' ({}){}",
        e.title,
        e.id,
        if debug { " with handoff debugging" } else { "" }
    )];
    for (label, value) in entry_facts(state, e) {
        if label == "Cmdline" {
            match cmdline_override {
                Some(c) => out.push(format!("  {label:8} {c}  (edited)")),
                None => out.push(format!("  {label:8} {value}")),
            }
        } else {
            out.push(format!("  {label:8} {value}"));
        }
    }
    out
}

/// The buffer as text, one line per row with trailing spaces removed (snapshots).
pub fn buffer_text(buf: &Buffer) -> String {
    let mut out = String::new();
    let w = usize::from(buf.area.width);
    for row in buf.content().chunks(w.max(1)) {
        let mut line = String::new();
        for c in row {
            line.push_str(c.symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
