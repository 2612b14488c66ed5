//! The consoles the menu is drawn on: one ratatui terminal per console, raw mode,
//! size, and input bytes.
//!
//! `/dev/console` is only the last `console=`, so each console is opened by name
//! (`tty0` as `/dev/tty1`, the VT the kernel shows at boot) and gets its own
//! [`ConsoleBackend`]: ratatui's crossterm backend writing ANSI sequences into a
//! buffer that is written to the console in one `write(2)` per frame. The size
//! comes from `TIOCGWINSZ`; a serial line reports 0x0, so leapboot assumes 80x24
//! and asks the terminal (`ESC [ 999;999 H`, `ESC [ 6 n`): a terminal that answers
//! with its cursor position ([`Key::CursorReport`]) gets its real size. Sizes that
//! `TIOCGWINSZ` knows are read again every frame, so a resize redraws (ratatui
//! clears and draws the whole frame at the new size). Input is
//! read with `poll(2)` over every console, each with its own [`Decoder`].

use super::keys::{Decoder, ESC_WAIT, Key};
use super::render::Caps;
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Size assumed until a console tells its own.
pub const DEFAULT_SIZE: Size = Size {
    width: 80,
    height: 24,
};

/// Largest size believed from a probe answer (a bogus answer must not make
/// leapboot allocate a huge buffer).
const MAX_SIDE: u16 = 500;

/// Enter the alternate screen, hide the cursor, clear.
const ENTER: &[u8] = b"\x1b[?1049h\x1b[?25l\x1b[0m\x1b[H\x1b[2J";
/// Reset attributes, clear, show the cursor, leave the alternate screen.
const LEAVE: &[u8] = b"\x1b[0m\x1b[H\x1b[2J\x1b[?25h\x1b[?1049l\x1b[0m";
/// Save the cursor, go as far down-right as the terminal allows, ask where the
/// cursor is, restore.
const PROBE: &[u8] = b"\x1b7\x1b[999;999H\x1b[6n\x1b8";

/// A `Write` into a buffer shared with the console that sends it.
#[derive(Clone, Default)]
struct Pipe(Rc<RefCell<Vec<u8>>>);

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// ratatui's crossterm backend with a size that leapboot sets, writing into a
/// buffer (crossterm's own size query only knows stdout).
///
/// It also leaves out what would change nothing on the screen (ratatui resets the
/// attributes and hides the cursor after every frame), so an idle menu sends no
/// bytes: a serial line or its log stays quiet between countdown ticks.
pub struct ConsoleBackend {
    inner: CrosstermBackend<Pipe>,
    out: Pipe,
    size: Size,
    /// Whether the cursor is hidden, when known.
    hidden: Option<bool>,
    /// Where the cursor is, when known.
    cursor_at: Option<Position>,
}

impl ConsoleBackend {
    fn new(size: Size) -> ConsoleBackend {
        let out = Pipe::default();
        ConsoleBackend {
            inner: CrosstermBackend::new(out.clone()),
            out,
            size,
            hidden: None,
            cursor_at: None,
        }
    }

    /// Something else wrote to the console: forget what is known about the cursor.
    fn forget_cursor(&mut self) {
        self.hidden = None;
        self.cursor_at = None;
    }

    /// Takes the bytes written so far.
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.out.0.borrow_mut())
    }
}

impl Backend for ConsoleBackend {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let mut content = content.peekable();
        if content.peek().is_none() {
            return Ok(());
        }
        self.cursor_at = None;
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> io::Result<()> {
        if self.hidden == Some(true) {
            return Ok(());
        }
        self.hidden = Some(true);
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> io::Result<()> {
        if self.hidden == Some(false) {
            return Ok(());
        }
        self.hidden = Some(false);
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        // Only inline viewports ask; the menu is full screen.
        Ok(Position::ORIGIN)
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let p = position.into();
        if self.cursor_at == Some(p) {
            return Ok(());
        }
        self.cursor_at = Some(p);
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> io::Result<()> {
        self.cursor_at = None;
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> io::Result<Size> {
        Ok(self.size)
    }
    fn window_size(&mut self) -> io::Result<WindowSize> {
        Ok(WindowSize {
            columns_rows: self.size,
            pixels: Size::default(),
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The device a console name means: `tty0` (the current VT) is opened as `tty1`,
/// the VT shown at boot; anything else as `/dev/NAME`.
pub fn device_path(name: &str) -> String {
    match name {
        "tty0" => "/dev/tty1".to_string(),
        n => format!("/dev/{n}"),
    }
}

/// `TIOCGWINSZ`, or `None` when the console does not know (serial lines say 0x0).
pub fn window_size(f: &File) -> Option<Size> {
    let (cols, rows) = crate::sys::tty::window_size(f)?;
    (cols > 0 && rows > 0).then_some(Size {
        width: cols.min(MAX_SIDE),
        height: rows.min(MAX_SIDE),
    })
}

fn get_termios(f: &File) -> Option<libc::termios> {
    crate::sys::tty::get_termios(f)
}

/// Keys as they are typed, no echo, no signals, no flow control; output
/// post-processing stays on so other writers' `\n` still return the carriage.
fn set_raw(f: &File, saved: &libc::termios) {
    let mut t = *saved;
    t.c_iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL
        | libc::IXON);
    t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
    let _ = crate::sys::tty::set_termios(f, &t);
}

fn restore(f: &File, saved: &libc::termios) {
    let _ = crate::sys::tty::set_termios(f, saved);
}

/// One console with its terminal.
pub struct Screen {
    /// Console name (`ttyS0`, `tty0`).
    pub name: String,
    file: File,
    saved: Option<libc::termios>,
    terminal: Terminal<ConsoleBackend>,
    decoder: Decoder,
    last_input: Instant,
    /// The size came from `TIOCGWINSZ` (no probe needed).
    ioctl_size: bool,
    entered: bool,
    /// Writes failed: skipped from now on.
    dead: bool,
}

impl Screen {
    /// Opens a console by name (see [`device_path`]).
    pub fn open(name: &str) -> io::Result<Screen> {
        let path = device_path(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&path)?;
        Screen::from_file(name, file)
    }

    /// Wraps an open terminal file.
    pub fn from_file(name: &str, file: File) -> io::Result<Screen> {
        let ioctl = window_size(&file);
        let size = ioctl.unwrap_or(DEFAULT_SIZE);
        let terminal = Terminal::new(ConsoleBackend::new(size))?;
        Ok(Screen {
            name: name.to_string(),
            saved: get_termios(&file),
            file,
            terminal,
            decoder: Decoder::new(),
            last_input: Instant::now(),
            ioctl_size: ioctl.is_some(),
            entered: false,
            dead: false,
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.dead || bytes.is_empty() {
            return;
        }
        if let Err(e) = (&self.file).write_all(bytes) {
            crate::log!(
                crate::log::Area::Menu,
                "console {}: cannot write: {e}; menu no longer drawn there",
                self.name
            );
            self.dead = true;
        }
    }

    /// Raw mode, alternate screen, and a size probe when the console does not know
    /// its size.
    pub fn enter(&mut self) {
        if self.entered {
            return;
        }
        if let Some(saved) = &self.saved {
            set_raw(&self.file, saved);
        }
        self.write(ENTER);
        if !self.ioctl_size {
            self.write(PROBE);
        }
        self.entered = true;
        self.terminal.backend_mut().forget_cursor();
        let _ = self.terminal.clear();
        let bytes = self.terminal.backend().take();
        self.write(&bytes);
    }

    /// Leaves the alternate screen with attributes reset and the cursor shown, and
    /// restores the console's mode.
    pub fn leave(&mut self) {
        if !self.entered {
            return;
        }
        self.write(LEAVE);
        if let Some(saved) = &self.saved {
            restore(&self.file, saved);
        }
        self.entered = false;
    }

    /// Prints plain lines (after [`leave`](Self::leave)).
    pub fn print_lines(&mut self, lines: &[String]) {
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        self.write(text.as_bytes());
    }

    /// Clears the screen; the next frame is drawn in full.
    pub fn redraw(&mut self) {
        if !self.ioctl_size {
            self.write(PROBE);
        }
        self.terminal.backend_mut().forget_cursor();
        let _ = self.terminal.clear();
        let bytes = self.terminal.backend().take();
        self.write(&bytes);
    }

    /// Takes a size the console reported.
    fn set_size(&mut self, size: Size) {
        self.terminal.backend_mut().size = size;
    }

    /// The size frames are drawn at.
    pub fn size(&self) -> Size {
        self.terminal.backend().size
    }

    /// Draws one frame with `f` and sends what changed.
    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame)) -> io::Result<()> {
        if self.dead {
            return Ok(());
        }
        // A console that learns its size later (stty, a VT resize) is believed.
        if let Some(s) = window_size(&self.file) {
            self.ioctl_size = true;
            self.set_size(s);
        }
        self.terminal.draw(f)?;
        let bytes = self.terminal.backend().take();
        self.write(&bytes);
        Ok(())
    }

    /// Bytes read now, decoded; a size report updates the size and is not a key.
    fn read_keys(&mut self, now: Instant) -> Vec<Key> {
        let mut buf = [0u8; 256];
        let Ok(n) = std::io::Read::read(&mut &self.file, &mut buf) else {
            return Vec::new();
        };
        if n == 0 {
            return Vec::new();
        }
        self.last_input = now;
        let keys = self.decoder.feed(buf.get(..n).unwrap_or_default());
        self.filter(keys)
    }

    fn filter(&mut self, keys: Vec<Key>) -> Vec<Key> {
        let mut out = Vec::new();
        for k in keys {
            match k {
                Key::CursorReport { row, col } if row >= 2 && col >= 10 => {
                    self.set_size(Size {
                        width: col.min(MAX_SIDE),
                        height: row.min(MAX_SIDE),
                    });
                }
                Key::CursorReport { .. } => {}
                k => out.push(k),
            }
        }
        out
    }

    /// Keys held back waiting for the rest of an escape sequence, once the console
    /// has been quiet for [`ESC_WAIT`].
    fn stale_keys(&mut self, now: Instant) -> Vec<Key> {
        if self.decoder.pending() && now.duration_since(self.last_input) >= ESC_WAIT {
            let keys = self.decoder.flush();
            return self.filter(keys);
        }
        Vec::new()
    }

    fn waiting_for_sequence(&self) -> bool {
        self.decoder.pending()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Every console the menu is drawn on.
pub struct Screens {
    /// The consoles.
    pub list: Vec<Screen>,
    /// What they can show.
    pub caps: Caps,
}

impl Screens {
    /// Opens the named consoles; fails when none can be opened.
    pub fn open(names: &[String], caps: Caps) -> io::Result<Screens> {
        let mut list = Vec::new();
        let mut last_err = None;
        for n in names {
            match Screen::open(n) {
                Ok(s) => list.push(s),
                Err(e) => {
                    crate::log!(
                        crate::log::Area::Menu,
                        "console {}: cannot open for the menu: {e}",
                        device_path(n)
                    );
                    last_err = Some(e);
                }
            }
        }
        if list.is_empty() {
            return Err(
                last_err.unwrap_or_else(|| io::Error::other("no console to draw the menu on"))
            );
        }
        Ok(Screens { list, caps })
    }

    /// True while at least one console takes writes.
    pub fn any_alive(&self) -> bool {
        self.list.iter().any(|s| !s.dead)
    }

    /// Enters every console.
    pub fn enter(&mut self) {
        for s in &mut self.list {
            s.enter();
        }
    }

    /// Leaves every console.
    pub fn leave(&mut self) {
        for s in &mut self.list {
            s.leave();
        }
    }

    /// Waits up to `wait` for input on any console; returns the keys typed, in the
    /// order the consoles were read.
    pub fn keys(&mut self, wait: Duration) -> Vec<Key> {
        let now = Instant::now();
        let mut keys = Vec::new();
        for s in &mut self.list {
            keys.extend(s.stale_keys(now));
        }
        if !keys.is_empty() {
            return keys;
        }
        // A half sequence is flushed after ESC_WAIT: do not sleep past that.
        let wait = if self.list.iter().any(Screen::waiting_for_sequence) {
            wait.min(ESC_WAIT)
        } else {
            wait
        };
        let files: Vec<Option<&File>> = self
            .list
            .iter()
            .map(|s| (!s.dead).then_some(&s.file))
            .collect();
        let ready = crate::sys::tty::poll_readable(&files, Some(wait));
        if !ready.iter().any(|r| r.readable || r.failed) {
            let now = Instant::now();
            for s in &mut self.list {
                keys.extend(s.stale_keys(now));
            }
            return keys;
        }
        let now = Instant::now();
        let mut hung_up = false;
        for (s, r) in self.list.iter_mut().zip(&ready) {
            if r.readable {
                keys.extend(s.read_keys(now));
            } else if r.failed {
                hung_up = true;
            }
        }
        if hung_up && keys.is_empty() {
            // A console with nothing behind it: do not spin on it.
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
        keys
    }
}
