//! How GRUB turns the words of a command into its arguments, one rule per test.
//!
//! The rules are GRUB's `grub_script_arglist_to_argv` and `grub_script_env_get`
//! (`grub-core/script/execute.c`) and `grub_script_argv_split_append`
//! (`grub-core/script/argv.c`): an unquoted expansion is split on blanks (space, tab,
//! newline, carriage return, `grub_isspace`) and empty fields are dropped; a quoted
//! one is never split and makes an argument even when empty; the pieces of one word
//! are glued together, so only its unquoted expansions split it.
//!
//! Most cases restate, as argument lists, the scripts of GRUB's own test suite
//! (`tests/grub_script_*.in`), where GRUB's output must equal bash's; each test names
//! the file it checks. The cases are written here, not copied. Two tests show where
//! GRUB's code gives something sh would not, and say so.
//!
//! Each case runs `show WORDS` in a menu entry, where `show` is a function that
//! loads `/vmlinuz` with `"$#" "$@"`: the entry's command line then tells the count
//! and every argument exactly (GRUB quotes an argument holding a blank, and an empty
//! argument leaves an empty slot).

// Test helpers outside #[test] fns unwrap, expect and panic: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod grub_common;
use grub_common::run;
use leapboot_menus::Severity;
use leapboot_menus::grub::lexer::Source;
use leapboot_menus::grub::parser::parse_all;

const K: (&str, &str) = ("/vmlinuz", "K");
const I: (&str, &str) = ("/initrd.img", "I");

const SHOW: &str = "function show {\n linux /vmlinuz \"$#\" \"$@\"\n}\n";

/// Splits a command line built by `grub_create_loader_cmdline` back into arguments.
fn split_cmdline(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let last = out.last_mut().unwrap();
        match c {
            '\\' => last.extend(chars.next()),
            '"' => quoted = !quoted,
            ' ' if !quoted => out.push(String::new()),
            c => last.push(c),
        }
    }
    out
}

/// The arguments `show` receives from `show <words>` in an entry, after `setup` ran
/// at the top of the config.
fn argv(setup: &str, words: &str) -> Vec<String> {
    argv_of(setup, &format!("show {words}"))
}

/// The arguments of the last `show` that the entry body `body` runs.
fn argv_of(setup: &str, body: &str) -> Vec<String> {
    let cfg = format!("{SHOW}{setup}\nmenuentry t {{\n {body}\n}}\n");
    let (s, d) = run(&cfg, &[K]);
    assert!(d.iter().all(|d| d.severity != Severity::Error), "{d:?}");
    let e = &s.entries[0];
    assert_eq!(e.problem, None, "{cfg}");
    let mut args = split_cmdline(&e.cmdline);
    assert_eq!(args.remove(0), "BOOT_IMAGE=/vmlinuz");
    let count: usize = args.remove(0).parse().unwrap();
    if count == 0 {
        // `"$@"` with no parameters is one empty argument in GRUB (see below).
        assert_eq!(args, [""], "{cfg}");
        return Vec::new();
    }
    assert_eq!(args.len(), count, "{cfg}: {}", e.cmdline);
    args
}

fn v(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

// ------------------------------------------------------------------ the issue's cases

#[test]
fn kernel_path_with_a_leading_blank() {
    let cfg = "set k=\" /vmlinuz\"\nmenuentry t {\n linux $k root=/dev/sda1\n}\n";
    let (s, _) = run(cfg, &[K]);
    let e = &s.entries[0];
    assert_eq!(e.problem, None);
    assert_eq!(e.kernel, "/vmlinuz");
    assert_eq!(e.cmdline, "BOOT_IMAGE=/vmlinuz root=/dev/sda1");
}

#[test]
fn initrd_path_with_a_leading_blank() {
    let cfg = "set i=\"\t/initrd.img \"\nmenuentry t {\n linux /vmlinuz\n initrd $i\n}\n";
    let (s, _) = run(cfg, &[K, I]);
    let e = &s.entries[0];
    assert_eq!(e.problem, None);
    assert_eq!(e.initrds, ["/initrd.img"]);
}

#[test]
fn function_arguments_drop_empty_fields() {
    let cfg = "set opts=\"  quiet   splash \"\n\
               function f {\n linux /vmlinuz n=$# \"<$1>\" \"<$2>\"\n}\n\
               menuentry t {\n f $opts\n}\n";
    let (s, _) = run(cfg, &[K]);
    assert_eq!(
        s.entries[0].cmdline,
        "BOOT_IMAGE=/vmlinuz n=2 <quiet> <splash>"
    );
}

// ------------------------------------------------------------------ splitting

/// `grub_script_leading_whitespace.in`: blanks before the first word are no argument.
#[test]
fn leading_blanks_of_an_unquoted_value_are_no_argument() {
    assert_eq!(argv("list=\" 1 2 3\"", "$list"), v(&["1", "2", "3"]));
    assert_eq!(argv("list=\"\t\t1\"", "a $list"), v(&["a", "1"]));
}

/// `grub_script_argv_split_append`: trailing blanks and runs of blanks separate
/// words only; a value of blanks alone is no argument at all.
#[test]
fn runs_of_blanks_and_blank_values() {
    assert_eq!(argv("t=\"p \t\n q  \"", "$t"), v(&["p", "q"]));
    assert_eq!(argv("b=\"   \"", "a $b c"), v(&["a", "c"]));
    assert_eq!(argv("b=\"   \"", "x${b}y"), v(&["xy"]));
    assert_eq!(argv("b=\"   \"", "\"$b\""), v(&["   "]));
}

/// `grub_script_echo1.in` ("empty arguments") and `grub_script_vars1.in`: an empty
/// or unset unquoted variable is no argument, a quoted one is an empty argument.
#[test]
fn empty_quoted_is_an_argument_empty_unquoted_is_not() {
    assert_eq!(argv("", "a \"\" b"), v(&["a", "", "b"]));
    assert_eq!(argv("", "a '' b"), v(&["a", "", "b"]));
    assert_eq!(argv("", "a $foo b"), v(&["a", "b"]));
    assert_eq!(argv("", "a ${foo} b"), v(&["a", "b"]));
    assert_eq!(argv("", "a \"$foo\" b"), v(&["a", "", "b"]));
    assert_eq!(argv("", "a \"${foo}\" b"), v(&["a", "", "b"]));
    assert_eq!(argv("foo=foo", "\"\" $foo"), v(&["", "foo"]));
    assert_eq!(argv("foo=foo", "$bar $foo"), v(&["foo"]));
    assert_eq!(argv("foo=foo\nbar=\"\"", "$bar $foo"), v(&["foo"]));
}

/// `grub_script_echo1.in` (simple arguments): quotes keep blanks inside one argument.
#[test]
fn quotes_keep_blanks() {
    assert_eq!(argv("", "one two three"), v(&["one", "two", "three"]));
    assert_eq!(argv("", "\"one two three\""), v(&["one two three"]));
    assert_eq!(argv("", "'one two three'"), v(&["one two three"]));
    assert_eq!(argv("a='1 2'", "\"$a\" '$a'"), v(&["1 2", "$a"]));
}

/// `grub_script_echo1.in` (multi-part arguments): the parts of a word are glued.
#[test]
fn parts_of_a_word_are_glued() {
    assert_eq!(argv("", "one\"two\"three"), v(&["onetwothree"]));
    assert_eq!(argv("", "one${two}three"), v(&["onethree"]));
    assert_eq!(argv("", "one\"two\"$three"), v(&["onetwo"]));
    assert_eq!(argv("", "one'two'$three"), v(&["onetwo"]));
    assert_eq!(
        argv("", "one'two'three\"four\"five${six}seven$eight"),
        v(&["onetwothreefourfiveseven"])
    );
    assert_eq!(argv("foo=bar", "$foo ${foo}"), v(&["bar", "bar"]));
    assert_eq!(argv("foo=bar", "\"$foo\" \"${foo}\""), v(&["bar", "bar"]));
    assert_eq!(argv("foo=bar", "'$foo' '${foo}'"), v(&["$foo", "${foo}"]));
    assert_eq!(argv("foo=bar", "a$foob a${foo}b"), v(&["a", "abarb"]));
    assert_eq!(
        argv(
            "foo=bar",
            r#"ab"cd"ef$foo'gh'ij${foo}kl\ mn\"op\'qr\$st\(uv\<wx\>yz\)"#
        ),
        v(&[r#"abcdefbarghijbarkl mn"op'qr$st(uv<wx>yz)"#])
    );
}

/// `grub_script_for1.in`: only the unquoted expansion inside a word splits it.
#[test]
fn mixed_word_splits_only_its_unquoted_expansion() {
    let setup = "foo=\"1 2\"";
    assert_eq!(argv(setup, "ab${foo}cd"), v(&["ab1", "2cd"]));
    assert_eq!(argv(setup, "\"ab${foo}cd\""), v(&["ab1 2cd"]));
    assert_eq!(argv(setup, "\"$foo\"$foo"), v(&["1 21", "2"]));
    assert_eq!(argv(setup, "'x y'$foo\"z w\""), v(&["x y1", "2z w"]));
}

/// `grub_script_for1.in`: a `for` list is built by the same rules.
#[test]
fn for_lists_split_the_same_way() {
    let setup = "foo=\"1 2\"\nlead=\"  a b \"\nl=\n\
                 for x in one 'three 3' \"four 4\" ab${foo}cd \"ab${foo}cd\" $lead $none \"\"; do l=\"$l<$x>\"; done";
    assert_eq!(
        argv(setup, "\"$l\""),
        v(&["<one><three 3><four 4><ab1><2cd><ab1 2cd><a><b><>"])
    );
}

/// `grub_script_functions.in` (`fstar`, `fdqstar`, `fat`, `fdqat`): `$*` and `$@`.
#[test]
fn star_and_at() {
    let words = [
        ("$*", &["a", "1", "2", "b"][..]),
        ("aaa$*bbb", &["aaaa", "1", "2", "bbbb"]),
        ("\"$*\"", &["a 1 2 b"]),
        ("aaa\"$*\"bbb", &["aaaa 1 2 bbbb"]),
        ("\"aaa$*bbb\"", &["aaaa 1 2 bbbb"]),
        ("$@", &["a", "1", "2", "b"]),
        ("aaa$@bbb", &["aaaa", "1", "2", "bbbb"]),
        ("\"$@\"", &["a", "1 2", "b"]),
        ("aaa\"$@\"bbb", &["aaaa", "1 2", "bbbb"]),
        ("\"aaa$@bbb\"", &["aaaa", "1 2", "bbbb"]),
    ];
    for (w, want) in words {
        let setup = format!("function g {{\n show {w}\n}}");
        assert_eq!(argv_of(&setup, "g a \"1 2\" b"), v(want), "{w}");
    }
}

/// `grub_script_functions.in` (`fcount`, `fparam`): `$#` and missing parameters.
#[test]
fn parameter_count_and_missing_parameters() {
    let setup = "function g {\n show \"$#\" $1 $2 $3\n}";
    assert_eq!(argv_of(setup, "g"), v(&["0"]));
    assert_eq!(argv_of(setup, "g a"), v(&["1", "a"]));
    assert_eq!(argv_of(setup, "g a b"), v(&["2", "a", "b"]));
}

/// Parameters are split like variables when unquoted: leading blanks are no argument.
#[test]
fn unquoted_parameters_split_like_variables() {
    let setup = "function g {\n show $1 $@\n}";
    assert_eq!(argv_of(setup, "g \" x \" b"), v(&["x", "x", "b"]));
    let setup = "function g {\n show $*\n}";
    assert_eq!(argv_of(setup, "g \"  \" \" y\" \"\""), v(&["y"]));
}

/// `grub_script_vars1.in`: `$1`, `$2` outside any function are empty; `$?` is the
/// status, not a parameter.
#[test]
fn parameters_outside_a_function() {
    let setup = "l=\nfalse\nfor x in $1 $2 $?; do l=\"$l<$x>\"; done";
    assert_eq!(argv(setup, "$l"), v(&["<1>"]));
}

/// `grub_script_echo1.in`: the command name itself is built from parts and split.
#[test]
fn the_command_word_is_built_the_same_way() {
    assert_eq!(argv_of("x=h\ny=o", "s\"$x\"${y}w a b"), v(&["a", "b"]));
    assert_eq!(argv_of("foo=show", "$foo 1234"), v(&["1234"]));
    assert_eq!(argv_of("c=\" show  a \"", "$c b"), v(&["a", "b"]));
}

/// `grub_script_echo1.in`: quotes and backslash-newline across lines.
#[test]
fn multi_line_words() {
    assert_eq!(argv("", "\"one\n\""), v(&["one\n"]));
    assert_eq!(argv("", "one\"two\n\"three"), v(&["onetwo\nthree"]));
    assert_eq!(argv("", "'one\ntwo'"), v(&["one\ntwo"]));
    assert_eq!(argv("", "\"one\\\ntwo\""), v(&["onetwo"]));
    assert_eq!(argv("", "one \\\n two"), v(&["one", "two"]));
    assert_eq!(argv("", "one x\\\n\"x\" two"), v(&["one", "xx", "two"]));
    assert_eq!(argv("", "one x\\\n\\\\ two"), v(&["one", "x\\", "two"]));
    assert_eq!(argv("", "one x\\\n$var"), v(&["one", "x"]));
}

/// `grub_script_echo1.in` (last lines) and `grub_script_escape_comma.in`: backslashes
/// in words and in values.
#[test]
fn backslashes() {
    assert_eq!(
        argv("", r"x\\y x\*y x\\ x\\\\ x\\\\y"),
        v(&[r"x\y", "x*y", r"x\", r"x\\", r"x\\y"])
    );
    let setup = r"x=1\\,1
y='$'
z='\'
t='\*'
v='\?'";
    assert_eq!(
        argv(setup, r"$x $y $z $t $v \\"),
        v(&[r"1\,1", "$", r"\", r"\*", r"\?", r"\"])
    );
}

/// `grub_script_dollar.in`: `\$` inside double quotes is a dollar sign.
#[test]
fn escaped_dollar_in_double_quotes() {
    assert_eq!(argv("", r#""\$""#), v(&["$"]));
}

/// `grub_script_comments.in`: `#` starts a comment only at the start of a word.
#[test]
fn comments() {
    assert_eq!(argv("", "a###b"), v(&["a###b"]));
    assert_eq!(argv("", "a# #b"), v(&["a#"]));
    assert_eq!(argv("", "#"), v(&[]));
    assert_eq!(argv("", r"\#"), v(&["#"]));
    assert_eq!(argv("", r##"'#' "#""##), v(&["#", "#"]));
    assert_eq!(argv("", r##"'\#' "\#""##), v(&[r"\#", r"\#"]));
}

/// `grub_script_echo_keywords.in`: reserved words are plain arguments after a command.
#[test]
fn keywords_as_arguments() {
    assert_eq!(
        argv("", "if then else fi for do done"),
        v(&["if", "then", "else", "fi", "for", "do", "done"])
    );
}

/// `grub_script_blanklines.in`: blank lines and comments around commands parse.
#[test]
fn blank_lines_and_comments_parse() {
    let src = Source::new(
        "# comment 1\n\ncommand1 arg1\n\ncommand2 arg2\n\n\n\nlast command\n# comment 2\n",
        1 << 16,
    );
    let (units, errors) = parse_all(&src);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(units.len(), 3);
}

/// `grub_script_strcmp.in`: `<` and `>` in `test` compare bytes as unsigned.
#[test]
fn string_order_is_unsigned() {
    let setup = "if [ \"z\" \"<\" \"\u{e2}\" ]; then a=unsigned; else a=signed; fi\n\
                 if [ \"z\" \">\" \"\u{e2}\" ]; then b=signed; else b=unsigned; fi";
    assert_eq!(argv(setup, "$a $b"), v(&["unsigned", "unsigned"]));
}

// ------------------------------------------------------------------ GRUB, not sh

/// `grub_script_functions.in` leaves `fdqat` without arguments out because GRUB and
/// bash differ there: the double-quoted word makes an argument (`DQSTR` parts append
/// an empty string), so `"$@"` with no parameters is one empty argument.
#[test]
fn quoted_at_without_parameters_is_one_empty_argument() {
    let cfg = "function g {\n linux /vmlinuz n=$# \"$@\" end\n}\nmenuentry t {\n g\n}\n";
    let (s, _) = run(cfg, &[K]);
    assert_eq!(s.entries[0].cmdline, "BOOT_IMAGE=/vmlinuz n=0  end");
}

/// In `grub_script_arglist_to_argv` the first field of an unquoted expansion is
/// appended to the argument being built, and blanks around the value are dropped by
/// the split, not kept as separators: `a${k}b` with `k=" x "` is `axb` in GRUB,
/// where sh would give `a x b`.
#[test]
fn blanks_around_a_glued_value_are_dropped() {
    assert_eq!(argv("k=\" x \"", "a${k}b"), v(&["axb"]));
    assert_eq!(argv("k=\" x  y \"", "a${k}b"), v(&["ax", "yb"]));
}

/// A NUL byte cuts its line, as GRUB's `grub_file_getline` hands lines to the lexer
/// as C strings: the rest of that line is gone, the next lines are read, and each cut
/// is reported with its line. Inside a quoted word the quote stays open into the next
/// lines, as GRUB's lexer continues a quoted string over a line end; the cut line is
/// named so the lost entries can be traced.
#[test]
fn a_nul_byte_loses_the_rest_of_its_line_only() {
    let files = [("/a", "k"), ("/b", "k"), ("/c", "k")];
    let cfg = "menuentry First { linux /a }\0 junk ' \nmenuentry Second {\n linux /b\n}\n";
    let (scan, diags) = grub_common::run(cfg, &files);
    let titles: Vec<&str> = scan.entries.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(titles, ["First", "Second"], "{diags:?}");
    assert!(
        diags
            .iter()
            .any(|d| d.line == 1 && d.message.contains("NUL byte at column 29")),
        "{diags:?}"
    );

    let cfg = "menuentry 'Fir\0st' { linux /a }\nmenuentry Second { linux /b }\n";
    let (scan, diags) = grub_common::run(cfg, &files);
    assert!(scan.entries.is_empty(), "{:?}", scan.entries);
    assert!(
        diags
            .iter()
            .any(|d| d.line == 1 && d.message.contains("NUL byte")),
        "{diags:?}"
    );
}
