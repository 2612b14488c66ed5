//! The GRUB script grammar (`grub-core/script/parser.y`) as a recursive-descent
//! parser, one *unit* at a time.
//!
//! GRUB's `read_config_file` reads one line, parses it, executes it, then reads the
//! next; a line is extended only while a construct is open (`{`, `if`, `for`,
//! `while`, `function`, a quote, a trailing `\`). [`Parser::next_unit`] returns one
//! such unit. On a syntax error GRUB drops the unit and carries on with the next line
//! of the file; the caller does the same with [`Parser::recover`].
//!
//! Rules kept from the grammar, because they decide what GRUB accepts:
//! - a block, an `if`/`then`/`else` branch and a loop body hold at least one command;
//! - `then`, `else`, `elif`, `fi`, `do`, `done` follow a `;` or a newline;
//! - `function NAME { ...; }` needs a delimiter before `}`; a block does not;
//! - functions are defined only at the top of a unit, never inside a block or `if`;
//! - reserved words are arguments when they are not in command position.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::lexer::{Lexer, Source, TokKind, Token, Word};
use std::rc::Rc;

/// Deepest nesting of blocks, `if` and loops the parser accepts.
pub const MAX_NESTING: u32 = 64;

/// A list of commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// Commands in order.
    pub cmds: Vec<Cmd>,
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `word args... [{ block }]`.
    Simple {
        /// Command name and arguments, unexpanded.
        words: Vec<Word>,
        /// A `{ ... }` block argument (menuentry and submenu bodies).
        block: Option<Rc<Script>>,
        /// Line of the command name.
        line: u32,
    },
    /// `if ...; then ...; [elif ...; then ...;] [else ...;] fi`.
    If {
        /// Condition commands.
        cond: Script,
        /// Commands when the condition holds.
        then: Script,
        /// `else` commands, or the `elif` chain as a nested `If`.
        otherwise: Option<Script>,
        /// Line of `if`.
        line: u32,
    },
    /// `for NAME in words; do ...; done`.
    For {
        /// Loop variable.
        var: String,
        /// Words to iterate over.
        words: Vec<Word>,
        /// Body.
        body: Script,
        /// Line of `for`.
        line: u32,
    },
    /// `while`/`until ...; do ...; done`.
    While {
        /// Condition commands.
        cond: Script,
        /// Body.
        body: Script,
        /// True for `until`.
        until: bool,
        /// Line of `while`.
        line: u32,
    },
    /// `function NAME { ... }` (top of a unit only).
    Function {
        /// Function name.
        name: String,
        /// Body.
        body: Rc<Script>,
        /// Line of `function`.
        line: u32,
    },
}

impl Cmd {
    /// The line the command starts on.
    pub fn line(&self) -> u32 {
        match self {
            Cmd::Simple { line, .. }
            | Cmd::If { line, .. }
            | Cmd::For { line, .. }
            | Cmd::While { line, .. }
            | Cmd::Function { line, .. } => *line,
        }
    }
}

/// A syntax error: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line of the offending token.
    pub line: u32,
    /// Byte offset just after the offending token (where recovery starts from).
    pub offset: usize,
    /// Lowercase description.
    pub message: String,
}

/// Reserved words that never start a command.
const CLOSERS: [&str; 11] = [
    "then", "else", "elif", "fi", "do", "done", "in", "case", "esac", "select", "function",
];

/// Parses units out of a [`Source`].
#[derive(Debug)]
pub struct Parser<'s> {
    lex: Lexer<'s>,
    peeked: Option<Token>,
    depth: u32,
}

type PResult<T> = Result<T, SyntaxError>;

impl<'s> Parser<'s> {
    /// A parser at the start of `src`.
    pub fn new(src: &'s Source) -> Parser<'s> {
        Parser {
            lex: Lexer::new(src),
            peeked: None,
            depth: 0,
        }
    }

    fn peek(&mut self) -> &Token {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next_token());
        }
        // Filled just above; the Eof token is never used.
        self.peeked.get_or_insert(Token {
            kind: TokKind::Eof,
            line: 0,
            end: 0,
        })
    }

    fn bump(&mut self) -> Token {
        match self.peeked.take() {
            Some(t) => t,
            None => self.lex.next_token(),
        }
    }

    fn error(&self, tok: &Token, what: &str) -> SyntaxError {
        let message = match &tok.kind {
            TokKind::Bad(reason) => format!("syntax error: {reason}"),
            TokKind::Eof => format!("syntax error: unexpected end of file, {what}"),
            TokKind::Newline => format!("syntax error: unexpected end of line, {what}"),
            TokKind::Semi => format!("syntax error: unexpected `;`, {what}"),
            TokKind::LBrace => format!("syntax error: unexpected `{{`, {what}"),
            TokKind::RBrace => format!("syntax error: unexpected `}}`, {what}"),
            TokKind::Word(w) => format!("syntax error: unexpected `{}`, {what}", w.raw),
        };
        SyntaxError {
            line: tok.line,
            offset: tok.end,
            message,
        }
    }

    fn fail<T>(&mut self, what: &str) -> PResult<T> {
        let tok = self.bump();
        Err(self.error(&tok, what))
    }

    fn peek_is_word(&mut self, s: &str) -> bool {
        matches!(&self.peek().kind, TokKind::Word(w) if w.is(s))
    }

    fn expect_word(&mut self, s: &str) -> PResult<()> {
        if self.peek_is_word(s) {
            self.bump();
            Ok(())
        } else {
            self.fail(&format!("expected `{s}`"))
        }
    }

    fn newlines0(&mut self) {
        while self.peek().kind == TokKind::Newline {
            self.bump();
        }
    }

    /// `delimiters0`: an optional `;` or newline, then any newlines. Returns whether a
    /// delimiter was there.
    fn delimiters0(&mut self) -> bool {
        if matches!(self.peek().kind, TokKind::Semi | TokKind::Newline) {
            self.bump();
            self.newlines0();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_NESTING {
            let tok = self.bump();
            return Err(SyntaxError {
                line: tok.line,
                offset: tok.end,
                message: format!("nesting deeper than {MAX_NESTING} levels"),
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// After a syntax error: forget the failed unit and continue at the line after
    /// the one where the error was found.
    pub fn recover(&mut self, err: &SyntaxError) {
        self.peeked = None;
        self.depth = 0;
        let next = self
            .lex
            .source()
            .next_line_start(err.offset.saturating_sub(1));
        self.lex
            .seek(next.max(err.offset.min(self.lex.source().len())));
    }

    /// The next unit, `Ok(None)` at the end of the input.
    pub fn next_unit(&mut self) -> PResult<Option<Script>> {
        self.depth = 0;
        self.newlines0();
        if self.peek().kind == TokKind::Eof {
            return Ok(None);
        }
        let mut script = Script::default();
        loop {
            let cmd = self.statement()?;
            script.cmds.push(cmd);
            match self.peek().kind {
                TokKind::Newline => {
                    self.bump();
                    return Ok(Some(script));
                }
                TokKind::Semi => {
                    self.bump();
                    match self.peek().kind {
                        TokKind::Newline => {
                            self.bump();
                            return Ok(Some(script));
                        }
                        TokKind::Eof => return Ok(Some(script)),
                        _ => {}
                    }
                }
                _ => return self.fail("expected `;` or end of line after a command"),
            }
        }
    }

    fn statement(&mut self) -> PResult<Cmd> {
        if self.peek_is_word("function") {
            return self.function();
        }
        self.command()
    }

    fn starts_command(&mut self) -> bool {
        match &self.peek().kind {
            TokKind::Word(w) => !CLOSERS.iter().any(|c| w.is(c)),
            _ => false,
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let (is_if, is_for, is_while, is_until) = match &self.peek().kind {
            TokKind::Word(w) => (w.is("if"), w.is("for"), w.is("while"), w.is("until")),
            _ => (false, false, false, false),
        };
        if is_if {
            return self.if_cmd();
        }
        if is_for {
            return self.for_cmd();
        }
        if is_while || is_until {
            return self.while_cmd(is_until);
        }
        if !self.starts_command() {
            return self.fail("expected a command");
        }
        let first = self.bump();
        let line = first.line;
        let TokKind::Word(name) = first.kind else {
            return Err(self.error(&first, "expected a command"));
        };
        let mut words = vec![name];
        while let TokKind::Word(_) = self.peek().kind {
            if let TokKind::Word(w) = self.bump().kind {
                words.push(w);
            }
        }
        let block = if self.peek().kind == TokKind::LBrace {
            Some(Rc::new(self.block()?))
        } else {
            None
        };
        Ok(Cmd::Simple { words, block, line })
    }

    /// `commands1`: at least one command, with the delimiters after it consumed.
    /// Returns the commands and whether the list ended with a delimiter.
    fn commands1(&mut self) -> PResult<(Script, bool)> {
        self.newlines0();
        let mut script = Script::default();
        script.cmds.push(self.command()?);
        loop {
            if !self.delimiters0() {
                return Ok((script, false));
            }
            if self.starts_command() {
                script.cmds.push(self.command()?);
            } else {
                return Ok((script, true));
            }
        }
    }

    fn block(&mut self) -> PResult<Script> {
        self.bump(); // `{`
        self.enter()?;
        let (body, _) = self.commands1()?;
        if self.peek().kind != TokKind::RBrace {
            return self.fail("expected `}` to close the block");
        }
        self.bump();
        self.leave();
        Ok(body)
    }

    fn function(&mut self) -> PResult<Cmd> {
        let kw = self.bump();
        let name = match self.bump() {
            Token {
                kind: TokKind::Word(w),
                ..
            } if w.is_name() && !is_reserved(&w.raw) => w.raw,
            tok => return Err(self.error(&tok, "expected a function name")),
        };
        self.newlines0();
        if self.peek().kind != TokKind::LBrace {
            return self.fail("expected `{` after the function name");
        }
        self.bump();
        self.enter()?;
        let (body, delimited) = self.commands1()?;
        if !delimited || self.peek().kind != TokKind::RBrace {
            return self.fail("expected `;` or a newline, then `}` to close the function");
        }
        self.bump();
        self.leave();
        Ok(Cmd::Function {
            name,
            body: Rc::new(body),
            line: kw.line,
        })
    }

    fn if_cmd(&mut self) -> PResult<Cmd> {
        let kw = self.bump();
        self.enter()?;
        let cmd = self.if_clause(kw.line)?;
        self.expect_word("fi")?;
        self.leave();
        Ok(cmd)
    }

    fn if_clause(&mut self, line: u32) -> PResult<Cmd> {
        let (cond, d) = self.commands1()?;
        if !d {
            return self.fail("expected `;` or a newline before `then`");
        }
        self.expect_word("then")?;
        let (then, d) = self.commands1()?;
        if !d {
            return self.fail("expected `;` or a newline after the `then` branch");
        }
        let otherwise = if self.peek_is_word("else") {
            self.bump();
            let (e, d) = self.commands1()?;
            if !d {
                return self.fail("expected `;` or a newline before `fi`");
            }
            Some(e)
        } else if self.peek_is_word("elif") {
            let tok = self.bump();
            self.enter()?;
            let nested = self.if_clause(tok.line)?;
            self.leave();
            Some(Script { cmds: vec![nested] })
        } else {
            None
        };
        Ok(Cmd::If {
            cond,
            then,
            otherwise,
            line,
        })
    }

    fn for_cmd(&mut self) -> PResult<Cmd> {
        let kw = self.bump();
        let var = match self.bump() {
            Token {
                kind: TokKind::Word(w),
                ..
            } if w.is_name() && !is_reserved(&w.raw) => w.raw,
            tok => return Err(self.error(&tok, "expected a variable name after `for`")),
        };
        self.expect_word("in")?;
        let mut words = Vec::new();
        while let TokKind::Word(_) = self.peek().kind {
            if let TokKind::Word(w) = self.bump().kind {
                words.push(w);
            }
        }
        if !self.delimiters0() {
            return self.fail("expected `;` or a newline before `do`");
        }
        self.expect_word("do")?;
        self.enter()?;
        let (body, d) = self.commands1()?;
        if !d {
            return self.fail("expected `;` or a newline before `done`");
        }
        self.expect_word("done")?;
        self.leave();
        Ok(Cmd::For {
            var,
            words,
            body,
            line: kw.line,
        })
    }

    fn while_cmd(&mut self, until: bool) -> PResult<Cmd> {
        let kw = self.bump();
        self.enter()?;
        let (cond, d) = self.commands1()?;
        if !d {
            return self.fail("expected `;` or a newline before `do`");
        }
        self.expect_word("do")?;
        let (body, d) = self.commands1()?;
        if !d {
            return self.fail("expected `;` or a newline before `done`");
        }
        self.expect_word("done")?;
        self.leave();
        Ok(Cmd::While {
            cond,
            body,
            until,
            line: kw.line,
        })
    }
}

/// True for the words flex turns into reserved tokens.
pub fn is_reserved(s: &str) -> bool {
    matches!(
        s,
        "case"
            | "do"
            | "done"
            | "elif"
            | "else"
            | "esac"
            | "fi"
            | "for"
            | "if"
            | "in"
            | "select"
            | "then"
            | "until"
            | "while"
            | "function"
    )
}

/// Parses every unit of `src`, for scripts that are not read line by line by the
/// interpreter (tests, generated bodies): the units that parsed, and the errors.
pub fn parse_all(src: &Source) -> (Vec<Script>, Vec<SyntaxError>) {
    let mut p = Parser::new(src);
    let mut units = Vec::new();
    let mut errors = Vec::new();
    loop {
        match p.next_unit() {
            Ok(Some(s)) => units.push(s),
            Ok(None) => break,
            Err(e) => {
                p.recover(&e);
                errors.push(e);
            }
        }
    }
    (units, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Vec<Script>, Vec<SyntaxError>) {
        let src = Source::new(s, 1 << 16);
        parse_all(&src)
    }

    fn ok(s: &str) -> Vec<Script> {
        let (u, e) = parse(s);
        assert!(e.is_empty(), "{s:?}: {e:?}");
        u
    }

    #[test]
    fn simple_and_semicolons() {
        let u = ok("set a=1; set b=2\necho x\n");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].cmds.len(), 2);
    }

    #[test]
    fn if_elif_else() {
        let u = ok("if a; then b; elif c; then d; else e; fi\n");
        let Cmd::If {
            otherwise: Some(o), ..
        } = &u[0].cmds[0]
        else {
            panic!()
        };
        assert!(matches!(
            o.cmds[0],
            Cmd::If {
                otherwise: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn multiline_if_and_blocks() {
        let u =
            ok("if [ x ]; then\n  menuentry 'a' {\n    linux /k\n  }\nfi\nmenuentry b { echo }\n");
        assert_eq!(u.len(), 2);
        let Cmd::Simple { block: Some(b), .. } = &u[1].cmds[0] else {
            panic!()
        };
        assert_eq!(b.cmds.len(), 1);
    }

    #[test]
    fn empty_block_is_an_error_and_recovery_continues() {
        let (u, e) = parse("menuentry a {\n}\necho ok\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, 2);
        assert_eq!(u.len(), 1);
    }

    #[test]
    fn function_needs_delimiter_before_brace() {
        assert!(!parse("function f { echo }\n").1.is_empty());
        ok("function f { echo; }\nfunction g {\n echo\n}\n");
    }

    #[test]
    fn function_inside_if_is_an_error() {
        assert!(!parse("if true; then function f { a; }; fi\n").1.is_empty());
    }

    #[test]
    fn reserved_words_as_arguments() {
        let u = ok("echo if then fi\n");
        let Cmd::Simple { words, .. } = &u[0].cmds[0] else {
            panic!()
        };
        assert_eq!(words.len(), 4);
    }

    #[test]
    fn loops() {
        ok(
            "for x in a b c; do echo $x; done\nwhile false; do echo; done\nuntil true\ndo\necho\ndone\n",
        );
        assert!(!parse("for if in a; do b; done\n").1.is_empty());
    }

    #[test]
    fn error_inside_block_resumes_at_next_line() {
        // The `|` on line 2 fails the unit; line 3 runs as a top-level command and the
        // stray `}` on line 4 is a second error.
        let (u, e) = parse("menuentry a {\n  linux /k | x\n  initrd /i\n}\nset after=1\n");
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(u.len(), 2);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "if true; then ".repeat(100) + "a" + &"; fi".repeat(100) + "\n";
        let (_, e) = parse(&s);
        assert!(e.iter().any(|e| e.message.contains("nesting")));
    }
}
