//! Console bytes to keys.
//!
//! One [`Decoder`] per console, fed whatever `read(2)` returned. It knows the
//! sequences that the Linux VT (`TERM=linux`), xterm-likes and the serial terminals
//! behind IPMI SOL send: CSI (`ESC [`) with `~` codes (`ESC [ 3 ~` Delete,
//! `ESC [ 21 ~` F10), SS3 (`ESC O A`), and the Linux console's own F1-F5
//! (`ESC [ [ A` .. `ESC [ [ E`). A sequence may arrive split across reads on a slow
//! serial line: the decoder keeps the partial bytes until the rest arrives. A lone
//! `ESC` is the Escape key only once nothing follows it for a moment: the caller
//! calls [`Decoder::flush`] when the console has been quiet for [`ESC_WAIT`].
//! Cursor position reports (`ESC [ row ; col R`, the answer to the size probe) come
//! out as [`Key::CursorReport`]. Nothing here panics on any input; unknown sequences
//! become [`Key::Unknown`] and are dropped by the menu.

// Parses bytes from disks and consoles: no indexing that can panic, no silent casts.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use std::time::Duration;

/// How long a partial escape sequence may wait for its next byte before the bytes
/// are taken as typed keys (a lone `ESC` is then the Escape key). IPMI SOL can
/// split a sequence across packets tens of milliseconds apart.
pub const ESC_WAIT: Duration = Duration::from_millis(150);

/// Longest escape sequence kept; anything longer is dropped as [`Key::Unknown`].
const MAX_SEQUENCE: usize = 32;

/// A key (or terminal report) decoded from console bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Control plus a letter (`Ctrl-x` is `Ctrl('x')`); Tab, Enter and Backspace
    /// have their own variants.
    Ctrl(char),
    /// Enter or Return (CR, LF, or CR LF as one key).
    Enter,
    /// Escape.
    Esc,
    /// Backspace (DEL or BS).
    Backspace,
    /// Delete (`ESC [ 3 ~`).
    Delete,
    /// Insert.
    Insert,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Function key 1 to 12.
    F(u8),
    /// Answer to `ESC [ 6 n`: the cursor's 1-based row and column.
    CursorReport {
        /// Row, 1-based.
        row: u16,
        /// Column, 1-based.
        col: u16,
    },
    /// A sequence leapboot does not use.
    Unknown,
}

/// Turns a byte stream into keys; keeps partial sequences between reads.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    /// The last byte taken was CR: a following LF is the same Enter.
    after_cr: bool,
}

/// What one attempt to decode the front of the buffer found.
enum Step {
    /// `n` bytes make this key.
    Key(Key, usize),
    /// `n` bytes are dropped (NUL, a stray LF after CR).
    Skip(usize),
    /// The bytes so far are the start of a longer sequence.
    Incomplete,
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Feeds bytes; returns every key they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        self.buf.extend_from_slice(bytes);
        let mut keys = Vec::new();
        self.drain(&mut keys, false);
        keys
    }

    /// True when bytes of an unfinished sequence are waiting.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The console has been quiet for [`ESC_WAIT`]: the waiting bytes are what was
    /// typed (a lone `ESC` is Escape; `ESC x` is Escape then `x`).
    pub fn flush(&mut self) -> Vec<Key> {
        let mut keys = Vec::new();
        self.drain(&mut keys, true);
        keys
    }

    fn drain(&mut self, keys: &mut Vec<Key>, flush: bool) {
        let mut at = 0;
        while let Some(rest) = self.buf.get(at..).filter(|r| !r.is_empty()) {
            match step(rest, self.after_cr) {
                Step::Key(k, n) => {
                    self.after_cr = rest.first() == Some(&b'\r');
                    keys.push(k);
                    at += n.max(1);
                }
                Step::Skip(n) => {
                    self.after_cr = false;
                    at += n.max(1);
                }
                Step::Incomplete if flush => {
                    // Nothing more is coming: ESC is Escape, the rest is read again.
                    self.after_cr = false;
                    if rest.first() == Some(&0x1b) {
                        keys.push(Key::Esc);
                        at += 1;
                    } else {
                        // A cut UTF-8 sequence.
                        keys.push(Key::Unknown);
                        at = self.buf.len();
                    }
                }
                Step::Incomplete => break,
            }
        }
        self.buf.drain(..at.min(self.buf.len()));
    }
}

fn step(b: &[u8], after_cr: bool) -> Step {
    let Some(&first) = b.first() else {
        return Step::Incomplete;
    };
    match first {
        0x1b => escape(b),
        b'\r' => Step::Key(Key::Enter, 1),
        b'\n' if after_cr => Step::Skip(1),
        b'\n' => Step::Key(Key::Enter, 1),
        b'\t' => Step::Key(Key::Tab, 1),
        0x7f | 0x08 => Step::Key(Key::Backspace, 1),
        0 => Step::Skip(1),
        1..=0x1a => Step::Key(Key::Ctrl(char::from(b'a' + first - 1)), 1),
        0x1c..=0x1f => Step::Key(Key::Unknown, 1),
        0x20..=0x7e => Step::Key(Key::Char(char::from(first)), 1),
        _ => utf8(b),
    }
}

fn utf8(b: &[u8]) -> Step {
    let Some(&lead) = b.first() else {
        return Step::Incomplete;
    };
    let len = match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Step::Key(Key::Unknown, 1),
    };
    let Some(seq) = b.get(..len) else {
        // Continuation bytes must be 10xxxxxx; a bad one ends the sequence now.
        if b.iter().skip(1).all(|c| c & 0xc0 == 0x80) {
            return Step::Incomplete;
        }
        return Step::Key(Key::Unknown, 1);
    };
    match std::str::from_utf8(seq).ok().and_then(|s| s.chars().next()) {
        Some(c) if !c.is_control() => Step::Key(Key::Char(c), len),
        _ => Step::Key(Key::Unknown, 1),
    }
}

fn escape(b: &[u8]) -> Step {
    match b.get(1) {
        None => Step::Incomplete,
        Some(b'[') => csi(b),
        Some(b'O') => match b.get(2) {
            None => Step::Incomplete,
            Some(&c) => Step::Key(ss3(c), 3),
        },
        // ESC ESC, or Alt plus a key: Escape now, the next byte on its own.
        Some(_) => Step::Key(Key::Esc, 1),
    }
}

fn ss3(c: u8) -> Key {
    match c {
        b'A' => Key::Up,
        b'B' => Key::Down,
        b'C' => Key::Right,
        b'D' => Key::Left,
        b'H' => Key::Home,
        b'F' => Key::End,
        b'M' => Key::Enter,
        b'P' => Key::F(1),
        b'Q' => Key::F(2),
        b'R' => Key::F(3),
        b'S' => Key::F(4),
        _ => Key::Unknown,
    }
}

/// `ESC [ params final`, and the Linux console's `ESC [ [ A`.
fn csi(b: &[u8]) -> Step {
    if b.get(2) == Some(&b'[') {
        return match b.get(3) {
            None => Step::Incomplete,
            Some(&c @ b'A'..=b'E') => Step::Key(Key::F(c - b'A' + 1), 4),
            Some(_) => Step::Key(Key::Unknown, 4),
        };
    }
    // `escape` calls this after `ESC [`: `body` is empty at worst.
    let body = b.get(2..).unwrap_or_default();
    let Some(end) = body.iter().position(|c| (0x40..=0x7e).contains(c)) else {
        if body.iter().all(|c| (0x20..=0x3f).contains(c)) && b.len() < MAX_SEQUENCE {
            return Step::Incomplete;
        }
        // Not a CSI sequence after all (or an endless one): drop what we have.
        let n = body
            .iter()
            .position(|c| !(0x20..=0x3f).contains(c))
            .map_or(b.len(), |p| p + 2);
        return Step::Key(Key::Unknown, n);
    };
    // `end` is a position in `body`: the split always succeeds.
    let Some((&last, params)) = body.get(..=end).and_then(<[u8]>::split_last) else {
        return Step::Key(Key::Unknown, b.len());
    };
    let n = end + 3;
    let nums: Vec<u16> = std::str::from_utf8(params)
        .unwrap_or("")
        .split(';')
        .map(|p| p.parse::<u16>().unwrap_or(0))
        .collect();
    let first = nums.first().copied().unwrap_or(0);
    let key = match last {
        b'A' => Key::Up,
        b'B' => Key::Down,
        b'C' => Key::Right,
        b'D' => Key::Left,
        b'H' => Key::Home,
        b'F' => Key::End,
        b'Z' => Key::BackTab,
        b'R' => match *nums.as_slice() {
            [row, col] => Key::CursorReport { row, col },
            _ => Key::Unknown,
        },
        b'~' => match first {
            1 | 7 => Key::Home,
            2 => Key::Insert,
            3 => Key::Delete,
            4 | 8 => Key::End,
            5 => Key::PageUp,
            6 => Key::PageDown,
            11..=15 => u8::try_from(first - 10).map_or(Key::Unknown, Key::F),
            17..=21 => u8::try_from(first - 11).map_or(Key::Unknown, Key::F),
            23 | 24 => u8::try_from(first - 12).map_or(Key::Unknown, Key::F),
            _ => Key::Unknown,
        },
        _ => Key::Unknown,
    };
    Step::Key(key, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Vec<Key> {
        let mut d = Decoder::new();
        let mut k = d.feed(bytes);
        k.extend(d.flush());
        k
    }

    /// Every sequence, fed one byte at a time, gives the same keys as fed at once.
    fn bytewise(bytes: &[u8]) -> Vec<Key> {
        let mut d = Decoder::new();
        let mut k = Vec::new();
        for b in bytes {
            k.extend(d.feed(std::slice::from_ref(b)));
        }
        k.extend(d.flush());
        k
    }

    #[test]
    fn plain_keys() {
        assert_eq!(
            all(b"jk\r\x7f\x18 "),
            [
                Key::Char('j'),
                Key::Char('k'),
                Key::Enter,
                Key::Backspace,
                Key::Ctrl('x'),
                Key::Char(' ')
            ]
        );
    }

    #[test]
    fn cr_lf_is_one_enter_but_lf_alone_is_enter() {
        assert_eq!(all(b"\r\n"), [Key::Enter]);
        assert_eq!(all(b"\n\n"), [Key::Enter, Key::Enter]);
        assert_eq!(all(b"\r\r"), [Key::Enter, Key::Enter]);
        assert_eq!(bytewise(b"\r\na"), [Key::Enter, Key::Char('a')]);
    }

    #[test]
    fn vt_and_xterm_sequences() {
        let cases: &[(&[u8], Key)] = &[
            (b"\x1b[A", Key::Up),
            (b"\x1b[B", Key::Down),
            (b"\x1b[C", Key::Right),
            (b"\x1b[D", Key::Left),
            (b"\x1bOA", Key::Up),
            (b"\x1b[H", Key::Home),
            (b"\x1b[F", Key::End),
            (b"\x1bOH", Key::Home),
            (b"\x1b[1~", Key::Home),
            (b"\x1b[4~", Key::End),
            (b"\x1b[3~", Key::Delete),
            (b"\x1b[5~", Key::PageUp),
            (b"\x1b[6~", Key::PageDown),
            (b"\x1b[21~", Key::F(10)),
            (b"\x1b[[A", Key::F(1)),
            (b"\x1bOP", Key::F(1)),
            (b"\x1b[1;5A", Key::Up),
            (b"\x1b[Z", Key::BackTab),
            (b"\x1b[24;80R", Key::CursorReport { row: 24, col: 80 }),
            (b"\x1b[?1;2c", Key::Unknown),
        ];
        for (bytes, key) in cases {
            assert_eq!(all(bytes), [*key], "{bytes:?}");
            assert_eq!(bytewise(bytes), [*key], "{bytes:?} byte by byte");
        }
    }

    #[test]
    fn split_sequence_waits_for_the_rest() {
        let mut d = Decoder::new();
        assert_eq!(d.feed(b"\x1b"), []);
        assert!(d.pending());
        assert_eq!(d.feed(b"["), []);
        assert_eq!(d.feed(b"2"), []);
        assert_eq!(d.feed(b"1"), []);
        assert_eq!(d.feed(b"~j"), [Key::F(10), Key::Char('j')]);
        assert!(!d.pending());
    }

    #[test]
    fn lone_escape_needs_the_quiet_flush() {
        let mut d = Decoder::new();
        assert_eq!(d.feed(b"\x1b"), []);
        assert_eq!(d.flush(), [Key::Esc]);
        assert!(!d.pending());
        // ESC ESC: the first is Escape at once, the second waits.
        assert_eq!(d.feed(b"\x1b\x1b"), [Key::Esc]);
        assert_eq!(d.flush(), [Key::Esc]);
        // Alt-x: Escape, then x.
        assert_eq!(d.feed(b"\x1bx"), [Key::Esc, Key::Char('x')]);
        // ESC [ then quiet: Escape, then '['.
        assert_eq!(d.feed(b"\x1b["), []);
        assert_eq!(d.flush(), [Key::Esc, Key::Char('[')]);
    }

    #[test]
    fn utf8_characters_even_split() {
        assert_eq!(bytewise("é€".as_bytes()), [Key::Char('é'), Key::Char('€')]);
        assert_eq!(all(&[0xff, b'a']), [Key::Unknown, Key::Char('a')]);
        assert_eq!(all(&[0xc3, b'a']), [Key::Unknown, Key::Char('a')]);
        // Cut short and then quiet.
        assert_eq!(all(&[0xe2, 0x82]), [Key::Unknown]);
    }

    #[test]
    fn garbage_never_panics_and_is_bounded() {
        let mut junk = b"\x1b[".to_vec();
        junk.extend(std::iter::repeat_n(b'1', 100));
        let keys = all(&junk);
        assert!(!keys.is_empty());
        let mut d = Decoder::new();
        for i in 0..=255u8 {
            d.feed(&[0x1b, i, i.wrapping_mul(7), 0x1b, b'[', i]);
        }
        d.flush();
        assert!(!d.pending());
    }
}
