//! LVM2's text metadata: the `vg { ... }` configuration format that LVM writes into
//! each physical volume's metadata area (lvm2 `lib/config/config.c` reads it; the
//! keys are in `lib/format_text/import_vsn1.c`).
//!
//! ```text
//! debian-vg {                       # a section
//!     extent_size = 8192            # an integer
//!     status = ["RESIZEABLE", "READ"]   # a list
//!     physical_volumes { pv0 { id = "SyeBGO-..." pe_start = 2048 } }
//! }
//! contents = "Text Format Volume Group"
//! ```
//!
//! Values are integers, floats, double-quoted strings (with `\"` and `\\` escapes) and
//! flat lists of those; `#` starts a comment. Parsed without recursion limits of the
//! writer's making: the text is at most [`MAX_TEXT`] bytes, sections nest at most
//! [`MAX_DEPTH`] deep and [`MAX_VALUES`] values are kept in all, so hostile metadata
//! ends in an error, never in a stack overflow or an allocation that aborts.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// Longest metadata text read (LVM's default metadata area is 1 MiB).
pub const MAX_TEXT: usize = 8 << 20;
/// Deepest section nesting (a VG needs 4: vg, logical_volumes, lv, segment).
pub const MAX_DEPTH: usize = 16;
/// Most values (section items plus list elements) in one text.
pub const MAX_VALUES: usize = 1 << 20;

/// A value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A float (LVM writes none that leapboot reads).
    Float(f64),
    /// A string, unescaped.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A section.
    Section(Section),
}

/// A `name { ... }` block: its items in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// Key and value, in the order written.
    pub items: Vec<(String, Value)>,
}

impl Section {
    /// The value of `key` (the last one if repeated, as LVM does).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// `key` as an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// `key` as a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `key` as a section.
    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key)? {
            Value::Section(s) => Some(s),
            _ => None,
        }
    }

    /// `key` as a list.
    pub fn list(&self, key: &str) -> Option<&[Value]> {
        match self.get(key)? {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The sections among the items, with their names.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.items.iter().filter_map(|(k, v)| match v {
            Value::Section(s) => Some((k.as_str(), s)),
            _ => None,
        })
    }

    /// True when `key` is a list holding the string `flag` (`status`, `flags`).
    pub fn has_flag(&self, key: &str, flag: &str) -> bool {
        self.list(key)
            .is_some_and(|l| l.iter().any(|v| matches!(v, Value::Str(s) if s == flag)))
    }
}

/// Why the text could not be parsed: where (line) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata text line {line}: {reason}")]
pub struct TextError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
    values: usize,
}

/// Parses a whole metadata text into its top-level section.
pub fn parse(text: &[u8]) -> Result<Section, TextError> {
    if text.len() > MAX_TEXT {
        return Err(TextError {
            line: 0,
            reason: format!("{} bytes is more than the {MAX_TEXT} read", text.len()),
        });
    }
    let mut p = Parser {
        text,
        pos: 0,
        line: 1,
        values: 0,
    };
    let top = p.items(0)?;
    p.skip_blanks();
    match p.peek() {
        None => Ok(top),
        Some(c) => Err(p.error(format!("unexpected {}", shown(c)))),
    }
}

fn shown(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", char::from(c))
    } else {
        format!("byte {c:#04x}")
    }
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.' | b'/' | b'@' | b':')
}

impl Parser<'_> {
    fn error(&self, reason: String) -> TextError {
        TextError {
            line: self.line,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos = self.pos.saturating_add(1);
        if c == b'\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(c)
    }

    /// Skips blanks, newlines and comments; NUL bytes (the text's terminator) too.
    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'#' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.bump();
                }
            } else if c.is_ascii_whitespace() || c == 0 {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn count(&mut self) -> Result<(), TextError> {
        self.values = self.values.saturating_add(1);
        if self.values > MAX_VALUES {
            return Err(self.error(format!("more than {MAX_VALUES} values")));
        }
        Ok(())
    }

    /// Items until `}` (depth > 0) or the end (depth 0).
    fn items(&mut self, depth: usize) -> Result<Section, TextError> {
        let mut section = Section::default();
        loop {
            self.skip_blanks();
            match self.peek() {
                None if depth == 0 => return Ok(section),
                None => return Err(self.error("unexpected end inside a section".into())),
                Some(b'}') if depth > 0 => {
                    self.bump();
                    return Ok(section);
                }
                Some(_) => {}
            }
            let name = self.name()?;
            self.skip_blanks();
            self.count()?;
            match self.bump() {
                Some(b'=') => {
                    self.skip_blanks();
                    let v = self.value(true)?;
                    section.items.push((name, v));
                }
                Some(b'{') => {
                    if depth >= MAX_DEPTH {
                        return Err(
                            self.error(format!("sections nested more than {MAX_DEPTH} deep"))
                        );
                    }
                    let inner = self.items(depth.saturating_add(1))?;
                    section.items.push((name, Value::Section(inner)));
                }
                Some(c) => {
                    return Err(self.error(format!(
                        "expected '=' or '{{' after {name}, found {}",
                        shown(c)
                    )));
                }
                None => return Err(self.error(format!("unexpected end after {name}"))),
            }
        }
    }

    fn name(&mut self) -> Result<String, TextError> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.bump();
        }
        let bytes = self.text.get(start..self.pos).unwrap_or_default();
        if bytes.is_empty() {
            let found = self.peek().map_or_else(|| "the end".into(), shown);
            return Err(self.error(format!("expected a name, found {found}")));
        }
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn value(&mut self, list_allowed: bool) -> Result<Value, TextError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'[') if list_allowed => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_blanks();
                    if self.peek() == Some(b']') {
                        self.bump();
                        return Ok(Value::List(items));
                    }
                    self.count()?;
                    items.push(self.value(false)?);
                    self.skip_blanks();
                    match self.peek() {
                        Some(b',') => {
                            self.bump();
                        }
                        Some(b']') => {}
                        Some(c) => {
                            return Err(self.error(format!(
                                "expected ',' or ']' in a list, found {}",
                                shown(c)
                            )));
                        }
                        None => return Err(self.error("unexpected end inside a list".into())),
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            Some(c) => Err(self.error(format!("expected a value, found {}", shown(c)))),
            None => Err(self.error("expected a value, found the end".into())),
        }
    }

    fn number(&mut self) -> Result<Value, TextError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'e' | b'E' | b'+'))
        {
            self.bump();
        }
        let s = String::from_utf8_lossy(self.text.get(start..self.pos).unwrap_or_default())
            .into_owned();
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        s.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| self.error(format!("'{s}' is not a number")))
    }

    fn string(&mut self) -> Result<String, TextError> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                Some(b'"') => return Ok(String::from_utf8_lossy(&out).into_owned()),
                Some(b'\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => return Err(self.error("unterminated string".into())),
                },
                Some(c) => out.push(c),
                None => return Err(self.error("unterminated string".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_group() {
        let text = br#"vg0 {
id = "abc"
seqno = 3
status = ["READ", "WRITE"]	# comment
logical_volumes {
root-lv {
segment1 { stripes = [ "pv0", 0, "pv1", 10 ] }
}
}
}
# Generated by LVM2
contents = "Text Format Volume Group"
description = "a \"quoted\" \\ word"
version = 1
"#;
        let top = parse(&text[..]).unwrap();
        let vg = top.section("vg0").unwrap();
        assert_eq!(vg.int("seqno"), Some(3));
        assert!(vg.has_flag("status", "WRITE"));
        let seg = vg
            .section("logical_volumes")
            .and_then(|l| l.section("root-lv"))
            .and_then(|l| l.section("segment1"))
            .unwrap();
        assert_eq!(
            seg.list("stripes").unwrap(),
            [
                Value::Str("pv0".into()),
                Value::Int(0),
                Value::Str("pv1".into()),
                Value::Int(10)
            ]
        );
        assert_eq!(top.str("description"), Some("a \"quoted\" \\ word"));
    }

    #[test]
    fn errors_say_where() {
        let e = parse(b"vg {\n a = \n}").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(parse(b"vg { a = \"x }").is_err());
        assert!(parse(b"vg { a = [1, [2]] }").is_err());
        assert!(parse(b"vg { a = 1 ").is_err());
        assert!(parse(b"}").is_err());
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let deep = "a {".repeat(MAX_DEPTH + 1) + &"}".repeat(MAX_DEPTH + 1);
        assert!(
            parse(deep.as_bytes())
                .unwrap_err()
                .reason
                .contains("nested")
        );
        let ok = "a {".repeat(MAX_DEPTH) + &"}".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let many = format!("a = [{}]", "1,".repeat(MAX_VALUES + 1));
        assert!(
            parse(many.as_bytes())
                .unwrap_err()
                .reason
                .contains("values")
        );
    }

    #[test]
    fn nul_terminator_is_ignored() {
        assert!(parse(b"vg { a = 1 }\n\0\0").is_ok());
    }
}
