//! The GRUB script lexer, after `grub-core/script/yylex.l` and `lexer.c`.
//!
//! Input is prepared the way `read_config_file_getline` (`grub-core/normal/main.c`) and
//! `grub_file_getline` hand lines to the lexer: every `\r` is dropped, a line is cut
//! at a NUL byte, and a line whose first character is `#` is removed entirely, even
//! in the middle of a quoted string or a block. Every kept line ends with `\n`.
//!
//! Tokens are produced on demand from a byte offset, so the parser can restart at the
//! next line after a syntax error as GRUB does (its lexer returns only `BAD` after an
//! error, so nothing more of the file is consumed by the failed command).
//!
//! Words keep their quoting structure ([`Part`]); expansion happens in the
//! interpreter. Unquoted `\c` becomes `c` here, except `\xHH`, which is kept as
//! written: that is the rhboot (Fedora/RHEL) behaviour of `wildcard_unescape` that
//! CentOS/RHEL media rely on (`LABEL=CentOS\x207\x20x86_64`); upstream GRUB would
//! turn it into `x20`.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// One piece of a word, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Unquoted text, escapes already resolved.
    Lit(String),
    /// `'...'`: literal, and makes the word present even when empty.
    Sq(String),
    /// `"..."`: text and variables, no word splitting; present even when empty.
    Dq(Vec<DqPart>),
    /// Unquoted `$name` / `${name}`: expanded with word splitting.
    Var(String),
    /// `$"..."`: a translatable string; GRUB substitutes variables into it.
    Gettext(Vec<DqPart>),
}

/// A piece of a double-quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DqPart {
    /// Literal text.
    Lit(String),
    /// `$name` / `${name}`, expanded without splitting.
    Var(String),
}

/// A word as written: its parts and its raw source text (reserved words and names
/// are recognised on the raw text, as flex does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Parts in order.
    pub parts: Vec<Part>,
    /// The source text of the token.
    pub raw: String,
}

impl Word {
    /// True when the raw text is exactly `s` (a reserved word written plainly).
    pub fn is(&self, s: &str) -> bool {
        self.raw == s
    }

    /// True when the raw text is a GRUB `NAME` token: `[A-Za-z_][A-Za-z0-9_]*`.
    pub fn is_name(&self) -> bool {
        is_name(&self.raw)
    }

    /// A word made of one literal, for generated scripts and tests.
    pub fn lit(s: &str) -> Word {
        Word {
            parts: vec![Part::Lit(s.to_string())],
            raw: s.to_string(),
        }
    }
}

/// True when `s` is a GRUB variable or function name.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokKind {
    /// End of line.
    Newline,
    /// `;`
    Semi,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// A word (reserved words included; the parser looks at the raw text).
    Word(Word),
    /// Something the grammar never accepts (`|`, `&&`, `<`, `[[`, a stray `$`, an
    /// unterminated quote): the reason.
    Bad(String),
    /// End of the input.
    Eof,
}

/// A token with where it starts and ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Kind and payload.
    pub kind: TokKind,
    /// 1-based line in the original file where the token starts.
    pub line: u32,
    /// Byte offset just after the token in the prepared text.
    pub end: usize,
}

/// A file prepared for lexing.
#[derive(Debug, Clone, Default)]
pub struct Source {
    text: Vec<u8>,
    /// Start offset of each kept line in `text`.
    starts: Vec<usize>,
    /// Original 1-based line number of each kept line.
    numbers: Vec<u32>,
    /// Lines dropped for being longer than the limit: (line, length).
    pub long_lines: Vec<(u32, usize)>,
    /// Lines cut at a NUL byte: (line, byte column of the NUL, 1-based).
    pub nul_lines: Vec<(u32, usize)>,
}

impl Source {
    /// Prepares `raw` (the whole file) as GRUB's line reader would.
    pub fn new(raw: &str, max_line: usize) -> Source {
        let mut src = Source::default();
        for (n, line) in raw.split('\n').enumerate() {
            let number = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
            let line = match line.find('\0') {
                Some(i) => {
                    src.nul_lines.push((number, i.saturating_add(1)));
                    line.get(..i).unwrap_or("")
                }
                None => line,
            };
            if line.starts_with('#') {
                continue;
            }
            if line.len() > max_line {
                src.long_lines.push((number, line.len()));
                continue;
            }
            src.starts.push(src.text.len());
            src.numbers.push(number);
            src.text.extend(line.bytes().filter(|&b| b != b'\r'));
            src.text.push(b'\n');
        }
        // `split` yields a last empty piece after a final newline; it became an empty
        // line, which GRUB never reads. Drop it.
        if (raw.ends_with('\n') || raw.is_empty())
            && let Some(&start) = src.starts.last()
            && src.text.len() == start.saturating_add(1)
        {
            src.starts.pop();
            src.numbers.pop();
            src.text.truncate(start);
        }
        src
    }

    /// Length of the prepared text.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// True when there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn line_index(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Original line number of the byte at `offset`.
    pub fn line_at(&self, offset: usize) -> u32 {
        self.numbers
            .get(self.line_index(offset))
            .copied()
            .unwrap_or(0)
    }

    /// Offset of the start of the line after the one holding `offset` (or the end).
    pub fn next_line_start(&self, offset: usize) -> usize {
        let i = self.line_index(offset);
        self.starts
            .get(i.saturating_add(1))
            .copied()
            .unwrap_or(self.text.len())
    }
}

/// Produces tokens from a [`Source`] starting at a byte offset.
#[derive(Debug)]
pub struct Lexer<'s> {
    src: &'s Source,
    pos: usize,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Bytes that end a word in the main state (`CHAR` excludes them).
fn ends_word(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'{' | b'}' | b'|' | b'&' | b';' | b'<' | b'>'
    )
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Accumulates literal bytes, flushing them as a part when something else comes.
#[derive(Default)]
struct LitBuf(Vec<u8>);

impl LitBuf {
    fn take(&mut self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(&std::mem::take(&mut self.0)).into_owned())
        }
    }
}

impl<'s> Lexer<'s> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'s Source) -> Lexer<'s> {
        Lexer { src, pos: 0 }
    }

    /// The source being read.
    pub fn source(&self) -> &'s Source {
        self.src
    }

    /// Current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to `pos` (used to resume after a syntax error).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.src.text.len());
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.src.text.get(i).copied()
    }

    fn token(&self, kind: TokKind, start: usize, end: usize) -> Token {
        Token {
            kind,
            line: self.src.line_at(start),
            end,
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Token {
        loop {
            while self.at(self.pos).is_some_and(is_blank) {
                self.pos = self.pos.saturating_add(1);
            }
            let start = self.pos;
            let Some(b) = self.at(start) else {
                return self.token(TokKind::Eof, start, start);
            };
            let one = start.saturating_add(1);
            let single = |lx: &mut Lexer<'_>, kind: TokKind| {
                lx.pos = one;
                lx.token(kind, start, one)
            };
            match b {
                b'#' => {
                    while self.at(self.pos).is_some_and(|c| c != b'\n') {
                        self.pos = self.pos.saturating_add(1);
                    }
                    continue;
                }
                b'\n' => return single(self, TokKind::Newline),
                b';' if self.at(one) == Some(b';') => {
                    self.pos = one.saturating_add(1);
                    return self.token(TokKind::Bad("`;;`".into()), start, self.pos);
                }
                b';' => return single(self, TokKind::Semi),
                b'{' => return single(self, TokKind::LBrace),
                b'}' => return single(self, TokKind::RBrace),
                b'|' | b'&' | b'<' | b'>' => {
                    let mut end = one;
                    if (b == b'|' || b == b'&') && self.at(one) == Some(b) {
                        end = end.saturating_add(1);
                    }
                    self.pos = end;
                    let text =
                        String::from_utf8_lossy(self.src.text.get(start..end).unwrap_or(&[]))
                            .into_owned();
                    return self.token(TokKind::Bad(format!("`{text}`")), start, end);
                }
                _ => {}
            }
            let kind = self.word(start);
            return self.token(kind, start, self.pos);
        }
    }

    /// Reads a variable name after `$` at `i`; returns the name and the offset after
    /// it, or `None` when `$` does not start a valid variable.
    fn var_name(&self, i: usize) -> Option<(String, usize)> {
        let text = &self.src.text;
        let first = *text.get(i)?;
        let take = |from: usize, pred: &dyn Fn(u8) -> bool| -> usize {
            let mut j = from;
            while text.get(j).is_some_and(|&c| pred(c)) {
                j = j.saturating_add(1);
            }
            j
        };
        let name_at = |from: usize| -> Option<usize> {
            let c = *text.get(from)?;
            if c.is_ascii_alphabetic() || c == b'_' {
                Some(take(from, &|c: u8| c.is_ascii_alphanumeric() || c == b'_'))
            } else if c.is_ascii_digit() {
                Some(take(from, &|c: u8| c.is_ascii_digit()))
            } else if matches!(c, b'?' | b'#' | b'*' | b'@') {
                Some(from.saturating_add(1))
            } else {
                None
            }
        };
        let slice = |a: usize, b: usize| {
            String::from_utf8_lossy(text.get(a..b).unwrap_or(&[])).into_owned()
        };
        if first == b'{' {
            let from = i.saturating_add(1);
            let end = name_at(from)?;
            if text.get(end) == Some(&b'}') {
                Some((slice(from, end), end.saturating_add(1)))
            } else {
                None
            }
        } else {
            let end = name_at(i)?;
            Some((slice(i, end), end))
        }
    }

    /// Reads a double-quoted (or `$"..."`) string whose opening quote is at `i - 1`.
    /// Returns the parts and the offset after the closing quote, or an error.
    fn dq(&self, mut i: usize, gettext: bool) -> Result<(Vec<DqPart>, usize), String> {
        let mut parts = Vec::new();
        let mut lit = LitBuf::default();
        loop {
            let Some(c) = self.at(i) else {
                return Err("unterminated double quote at end of file".into());
            };
            match c {
                b'"' => {
                    if let Some(s) = lit.take() {
                        parts.push(DqPart::Lit(s));
                    }
                    return Ok((parts, i.saturating_add(1)));
                }
                b'\\' => {
                    let next = self.at(i.saturating_add(1));
                    match next {
                        Some(b'\n') => i = i.saturating_add(2),
                        Some(b'"') => {
                            lit.0.push(b'"');
                            i = i.saturating_add(2);
                        }
                        Some(b'\\') if gettext => {
                            lit.0.extend_from_slice(b"\\\\");
                            i = i.saturating_add(2);
                        }
                        Some(b'\\') => {
                            lit.0.push(b'\\');
                            i = i.saturating_add(2);
                        }
                        Some(b'$') if !gettext => {
                            lit.0.push(b'$');
                            i = i.saturating_add(2);
                        }
                        _ => {
                            lit.0.push(b'\\');
                            i = i.saturating_add(1);
                        }
                    }
                }
                b'$' if !gettext => {
                    let (name, end) = self.var_name(i.saturating_add(1)).ok_or_else(|| {
                        "`$` not followed by a variable name in a double-quoted string".to_string()
                    })?;
                    if let Some(s) = lit.take() {
                        parts.push(DqPart::Lit(s));
                    }
                    parts.push(DqPart::Var(name));
                    i = end;
                }
                b'$' => {
                    // Inside `$"..."` GRUB substitutes variables after translation.
                    match self.var_name(i.saturating_add(1)) {
                        Some((name, end)) => {
                            if let Some(s) = lit.take() {
                                parts.push(DqPart::Lit(s));
                            }
                            parts.push(DqPart::Var(name));
                            i = end;
                        }
                        None => {
                            lit.0.push(b'$');
                            i = i.saturating_add(1);
                        }
                    }
                }
                _ => {
                    lit.0.push(c);
                    i = i.saturating_add(1);
                }
            }
        }
    }

    /// Lexes a word starting at `start`; leaves `self.pos` after it.
    fn word(&mut self, start: usize) -> TokKind {
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = LitBuf::default();
        let mut i = start;
        let flush = |lit: &mut LitBuf, parts: &mut Vec<Part>| {
            if let Some(s) = lit.take() {
                parts.push(Part::Lit(s));
            }
        };
        while let Some(c) = self.at(i) {
            if ends_word(c) {
                break;
            }
            match c {
                b'\\' => match self.at(i.saturating_add(1)) {
                    None => break,
                    Some(b'\n') => i = i.saturating_add(2),
                    Some(b'x')
                        if self.at(i.saturating_add(2)).is_some_and(is_hex)
                            && self.at(i.saturating_add(3)).is_some_and(is_hex) =>
                    {
                        // rhboot keeps `\xHH` for the kernel to decode (see module docs).
                        lit.0.extend_from_slice(
                            self.src.text.get(i..i.saturating_add(4)).unwrap_or(&[]),
                        );
                        i = i.saturating_add(4);
                    }
                    Some(n) => {
                        lit.0.push(n);
                        i = i.saturating_add(2);
                    }
                },
                b'\'' => {
                    let from = i.saturating_add(1);
                    let Some(len) = self
                        .src
                        .text
                        .get(from..)
                        .and_then(|t| t.iter().position(|&b| b == b'\''))
                    else {
                        self.pos = self.src.text.len();
                        return TokKind::Bad("unterminated single quote at end of file".into());
                    };
                    let end = from.saturating_add(len);
                    flush(&mut lit, &mut parts);
                    parts.push(Part::Sq(
                        String::from_utf8_lossy(self.src.text.get(from..end).unwrap_or(&[]))
                            .into_owned(),
                    ));
                    i = end.saturating_add(1);
                }
                b'"' => match self.dq(i.saturating_add(1), false) {
                    Ok((dq, end)) => {
                        flush(&mut lit, &mut parts);
                        parts.push(Part::Dq(dq));
                        i = end;
                    }
                    Err(e) => {
                        self.pos = self.src.text.len();
                        return TokKind::Bad(e);
                    }
                },
                b'$' if self.at(i.saturating_add(1)) == Some(b'"') => {
                    match self.dq(i.saturating_add(2), true) {
                        Ok((dq, end)) => {
                            flush(&mut lit, &mut parts);
                            parts.push(Part::Gettext(dq));
                            i = end;
                        }
                        Err(e) => {
                            self.pos = self.src.text.len();
                            return TokKind::Bad(e);
                        }
                    }
                }
                b'$' => match self.var_name(i.saturating_add(1)) {
                    Some((name, end)) => {
                        flush(&mut lit, &mut parts);
                        parts.push(Part::Var(name));
                        i = end;
                    }
                    None => break,
                },
                _ => {
                    lit.0.push(c);
                    i = i.saturating_add(1);
                }
            }
        }
        flush(&mut lit, &mut parts);
        if i == start {
            // Nothing matched: a `$` that starts no variable, or `\` at the very end.
            let end = start.saturating_add(1);
            self.pos = end;
            let shown =
                String::from_utf8_lossy(self.src.text.get(start..end).unwrap_or(&[])).into_owned();
            return TokKind::Bad(format!("unexpected `{shown}`"));
        }
        self.pos = i;
        let raw = String::from_utf8_lossy(self.src.text.get(start..i).unwrap_or(&[])).into_owned();
        if raw == "[[" || raw == "]]" {
            return TokKind::Bad(format!("`{raw}`"));
        }
        TokKind::Word(Word { parts, raw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Vec<TokKind> {
        let src = Source::new(s, 1 << 16);
        let mut lx = Lexer::new(&src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            if t.kind == TokKind::Eof {
                break;
            }
            out.push(t.kind);
        }
        out
    }

    fn words(s: &str) -> Vec<Vec<Part>> {
        lex(s)
            .into_iter()
            .filter_map(|k| match k {
                TokKind::Word(w) => Some(w.parts),
                _ => None,
            })
            .collect()
    }

    fn lit(s: &str) -> Part {
        Part::Lit(s.into())
    }

    #[test]
    fn comments_and_delimiters() {
        let k = lex("a b # c\n# whole line\nd;e\n");
        assert_eq!(k.len(), 7);
        assert!(matches!(k[2], TokKind::Newline));
        assert!(matches!(k[4], TokKind::Semi));
    }

    #[test]
    fn hash_inside_word_is_literal() {
        assert_eq!(words("a#b\n"), vec![vec![lit("a#b")]]);
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            words("'a $b \\c'\n"),
            vec![vec![Part::Sq("a $b \\c".into())]]
        );
    }

    #[test]
    fn double_quotes_escapes_and_vars() {
        let w = words("\"x\\$y\\\\z\\q$v${w}\"\n");
        assert_eq!(
            w,
            vec![vec![Part::Dq(vec![
                DqPart::Lit("x$y\\z\\q".into()),
                DqPart::Var("v".into()),
                DqPart::Var("w".into()),
            ])]]
        );
    }

    #[test]
    fn unquoted_escapes_and_hex_quirk() {
        assert_eq!(words("a\\ b\n"), vec![vec![lit("a b")]]);
        assert_eq!(words("L=CentOS\\x207\n"), vec![vec![lit("L=CentOS\\x207")]]);
        assert_eq!(words("\\xyz\n"), vec![vec![lit("xyz")]]);
    }

    #[test]
    fn line_continuation_joins() {
        assert_eq!(words("ab\\\ncd\n"), vec![vec![lit("abcd")]]);
    }

    #[test]
    fn variables_in_words() {
        assert_eq!(
            words("pre$a-${b}post $1 $# $@\n"),
            vec![
                vec![
                    lit("pre"),
                    Part::Var("a".into()),
                    lit("-"),
                    Part::Var("b".into()),
                    lit("post")
                ],
                vec![Part::Var("1".into())],
                vec![Part::Var("#".into())],
                vec![Part::Var("@".into())],
            ]
        );
    }

    #[test]
    fn stray_dollar_and_operators_are_bad() {
        assert!(lex("echo $\n").iter().any(|k| matches!(k, TokKind::Bad(_))));
        assert!(lex("a | b\n").iter().any(|k| matches!(k, TokKind::Bad(_))));
        assert!(
            lex("[[ a ]]\n")
                .iter()
                .any(|k| matches!(k, TokKind::Bad(_)))
        );
        assert!(lex("\"$\"\n").iter().any(|k| matches!(k, TokKind::Bad(_))));
    }

    #[test]
    fn multiline_quotes() {
        let w = words("'a\nb'\n");
        assert_eq!(w, vec![vec![Part::Sq("a\nb".into())]]);
        assert!(lex("'abc\n").iter().any(|k| matches!(k, TokKind::Bad(_))));
    }

    #[test]
    fn braces_split_words() {
        let k = lex("menuentry x{y}\n");
        assert!(matches!(k[2], TokKind::LBrace));
        assert!(matches!(k[4], TokKind::RBrace));
    }

    #[test]
    fn line_numbers_skip_comment_lines() {
        let src = Source::new("# c\r\nfoo\r\n#x\nbar\n", 100);
        let mut lx = Lexer::new(&src);
        let t = lx.next_token();
        assert_eq!(t.line, 2);
        lx.next_token();
        let t = lx.next_token();
        assert_eq!(t.line, 4);
        assert!(matches!(t.kind, TokKind::Word(ref w) if w.raw == "bar"));
    }

    #[test]
    fn nul_cuts_line_and_long_lines_dropped() {
        let src = Source::new("ab\0cd\nxxxxxxxxxxxxxxxx\nok\n", 8);
        assert_eq!(src.long_lines, vec![(2, 16)]);
        assert_eq!(src.nul_lines, vec![(1, 3)]);
        let mut lx = Lexer::new(&src);
        assert!(matches!(lx.next_token().kind, TokKind::Word(ref w) if w.raw == "ab"));
    }
}
