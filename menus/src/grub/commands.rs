//! GRUB commands: which ones have an effect leapboot reproduces, which are accepted
//! and ignored because they only matter to a firmware loader, and what happens to
//! the rest (`grub_script_execute_cmdline`: a function of that name, else an
//! assignment if the word holds `=`, else an unknown command, logged and skipped).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::grubenv::EnvChange;
use super::interp::{
    Body, ERR_BAD_ARGUMENT, ERR_BAD_NUMBER, ERR_FILE_NOT_FOUND, ERR_INVALID_COMMAND, ERR_NO_KERNEL,
    ERR_NONE, ERR_TEST_FAILURE, FileRef, Halt, Interp, LoaderKind, Loc, MenuItem,
};
use super::options::{self, OptSpec, Takes};
use super::parser::Script;
use crate::diag::Severity;
use std::rc::Rc;

/// Commands that only set up the firmware-side screen, terminal, modules or
/// security of GRUB itself. They succeed and do nothing here.
const IGNORED: &[&str] = &[
    "insmod",
    "rmmod",
    "lsmod",
    "dump",
    "terminal_input",
    "terminal_output",
    "terminal",
    "terminfo",
    "serial",
    "loadfont",
    "lsfonts",
    "background_image",
    "background_color",
    "clear",
    "echo",
    "play",
    "sleep",
    "gettext",
    "videoinfo",
    "videotest",
    "password",
    "password_pbkdf2",
    "nativedisk",
    "ls",
    "cat",
    "help",
    "lspci",
    "cpuid",
    "smbios",
    "acpi",
    "hdparm",
    "verify_detached",
    "trust",
    "distrust",
    "list_trusted",
    "shim_lock",
    "tpm",
    "tpm2_key_protector_init",
    "tpm2_key_protector_clear",
    "date",
    "keymap",
    "setkey",
    "list_env",
    "usb",
    "connectefi",
    "lsefi",
    "lsefimmap",
    "lsefisystab",
    "lssal",
    "lsacpi",
    "lsapm",
    "lsmmap",
    "vbeinfo",
    "vbetest",
    "efitextmode",
    "outb",
    "outw",
    "outl",
    "inb",
    "inw",
    "inl",
    "pcidump",
    "setpci",
    "cmosclean",
    "cmosset",
    "cmostest",
    "boottime",
    "cacheinfo",
    "functional_test",
    "extract_entries_source",
    "extract_entries_configfile",
    "extract_legacy_entries_source",
    "extract_legacy_entries_configfile",
    "cutmem",
    "badram",
    "rdmsr",
    "wrmsr",
    "read_byte",
    "read_word",
    "read_dword",
    "write_byte",
    "write_word",
    "write_dword",
    "loadbios",
    "fakebios",
    "ieee1275_fb",
    "suspend",
    "boot_loader_interface",
    "bli",
];

/// Loaders leapboot cannot hand over to a kexec'd kernel. The multiboot ones
/// (`multiboot`, `multiboot2`, Arm's `xen_hypervisor`) and their modules are
/// handled apart, so an entry can say it is Xen or tboot.
const OTHER_LOADERS: &[&str] = &[
    "chainloader",
    "knetbsd",
    "kfreebsd",
    "kopenbsd",
    "xnu_kernel",
    "xnu_kernel64",
    "xnu_mkext",
    "xnu_kext",
    "appleloader",
    "ntldr",
    "freedos",
    "truecrypt",
    "plan9",
    "legacy_kernel",
    "pxechain",
    "kfreebsd_module",
    "knetbsd_module",
];

/// Commands GRUB has whose effect leapboot does not reproduce; they fail.
const UNSUPPORTED: &[&str] = &[
    "regexp",
    "read",
    "loopback",
    "cryptomount",
    "normal",
    "legacy_configfile",
    "legacy_source",
    "tr",
    "hashsum",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "parttool",
    "drivemap",
    "sendkey",
    "hwmatch",
];

const BLOCK: &str = "{\u{0}block}";

const MENUENTRY_OPTS: [OptSpec; 6] = [
    OptSpec {
        long: "class",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "users",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "hotkey",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "source",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "id",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "unrestricted",
        short: None,
        takes: Takes::Nothing,
    },
];

const ENV_OPTS: [OptSpec; 2] = [
    OptSpec {
        long: "file",
        short: Some('f'),
        takes: Takes::Value,
    },
    OptSpec {
        long: "skip-sig",
        short: Some('s'),
        takes: Takes::Nothing,
    },
];

impl<'v> Interp<'v> {
    /// Runs command `name` (`grub_script_execute_cmdline`, after `!`).
    pub(super) fn dispatch(
        &mut self,
        name: &str,
        args: Vec<String>,
        block: Option<&Rc<Script>>,
    ) -> i32 {
        match name {
            "set" => self.cmd_set(&args),
            "unset" => {
                if args.is_empty() {
                    return ERR_BAD_ARGUMENT;
                }
                for a in &args {
                    self.unset(a);
                }
                ERR_NONE
            }
            "export" => {
                if args.is_empty() {
                    return ERR_BAD_ARGUMENT;
                }
                for a in &args {
                    self.export(a);
                }
                ERR_NONE
            }
            "[" | "test" => super::test_expr::cmd_test(self, &args),
            "true" => ERR_NONE,
            "false" => ERR_TEST_FAILURE,
            "search" | "search.fs_uuid" | "search.fs_label" | "search.file" => {
                super::search::cmd_search(self, name, &args)
            }
            "probe" => super::search::cmd_probe(self, &args),
            "load_env" => self.cmd_load_env(&args),
            "save_env" => self.cmd_save_env(&args),
            "source" | "." => self.cmd_source(&args, false),
            "configfile" => self.cmd_source(&args, true),
            "blscfg" | "bls_import" => {
                // Only rhboot's GRUB has `blscfg`.
                self.rhboot_evidence
                    .get_or_insert_with(|| format!("the config runs `{name}`"));
                super::blscfg::cmd_blscfg(self, &args)
            }
            "linux" | "linux16" | "linuxefi" => self.cmd_linux(name, &args),
            "initrd" | "initrd16" | "initrdefi" => self.cmd_initrd(&args),
            "devicetree" => self.cmd_devicetree(&args),
            "menuentry" | "submenu" => self.cmd_menuentry(name == "submenu", args, block),
            "boot" => {
                if self.in_entry() || self.top_plan.loader.is_some() {
                    self.halt = Some(Halt::Boot);
                    ERR_NONE
                } else {
                    self.diag(Severity::Warning, "`boot` with nothing loaded");
                    ERR_NO_KERNEL
                }
            }
            "reboot" | "halt" | "fwsetup" | "poweroff" => {
                if self.in_entry() {
                    self.plan_mut().action = Some(name.to_string());
                    self.halt = Some(Halt::Boot);
                } else {
                    self.diag(
                        Severity::Warning,
                        format!("`{name}` while reading the config; GRUB would stop here"),
                    );
                    self.halt = Some(Halt::Exit);
                }
                ERR_NONE
            }
            "exit" | "normal_exit" => {
                if !self.in_entry() {
                    self.diag(
                        Severity::Info,
                        format!("`{name}`: GRUB stops reading the config here"),
                    );
                }
                self.halt = Some(Halt::Exit);
                ERR_NONE
            }
            "setparams" => {
                if self.set_params(args) {
                    ERR_NONE
                } else {
                    ERR_INVALID_COMMAND
                }
            }
            "shift" => {
                let n = match args.first() {
                    None => Some(1),
                    Some(a) => a.parse::<usize>().ok(),
                };
                match n {
                    Some(n) if args.len() <= 1 && self.shift(n) => ERR_NONE,
                    _ => ERR_BAD_ARGUMENT,
                }
            }
            "return" => self.cmd_return(&args),
            "break" | "continue" => {
                let count = match args.as_slice() {
                    [] => Some(1u32),
                    [a] => a.parse::<u32>().ok().filter(|&n| n > 0),
                    _ => None,
                };
                match count {
                    Some(n) => {
                        self.do_break(n, name == "continue");
                        ERR_NONE
                    }
                    None => ERR_BAD_ARGUMENT,
                }
            }
            "eval" => {
                let text = args.join(" ");
                if !self.enter("eval") {
                    return ERR_BAD_ARGUMENT;
                }
                let loc = self.loc.clone();
                let line = self.line;
                let r = self.exec_text(
                    &text,
                    Loc {
                        generated: true,
                        ..loc
                    },
                );
                self.line = line;
                self.leave();
                r
            }
            "increment" | "decrement" => self.cmd_increment(&args, name == "increment"),
            "keystatus" => {
                // No key is held while leapboot reads configs.
                if args.is_empty() {
                    ERR_NONE
                } else {
                    ERR_TEST_FAILURE
                }
            }
            _ if IGNORED.contains(&name) => ERR_NONE,
            "multiboot" | "multiboot2" | "xen_hypervisor" => self.cmd_multiboot(name, &args),
            "module" | "module2" | "xen_module" => self.cmd_multiboot_module(name),
            _ if OTHER_LOADERS.contains(&name) => self.cmd_other_loader(name),
            _ if UNSUPPORTED.contains(&name) => {
                self.diag(
                    Severity::Info,
                    format!("`{name}` is not reproduced by leapboot; it counts as failed"),
                );
                ERR_INVALID_COMMAND
            }
            _ => {
                if let Some(body) = self.functions.get(name).cloned() {
                    return self.call_function(&body, args);
                }
                if let Some((var, value)) = name.split_once('=') {
                    let special = var.starts_with(|c: char| c.is_ascii_digit())
                        || matches!(var, "#" | "*" | "@");
                    if special {
                        self.diag(Severity::Warning, format!("invalid variable name `{var}`"));
                    } else {
                        self.set(var, value);
                    }
                    return ERR_NONE;
                }
                self.diag(
                    Severity::Warning,
                    format!("unknown command `{name}`, skipped"),
                );
                ERR_NONE
            }
        }
    }

    /// `set NAME=VALUE` (only the first argument counts).
    fn cmd_set(&mut self, args: &[String]) -> i32 {
        let Some(first) = args.first() else {
            return ERR_NONE;
        };
        match first.split_once('=') {
            Some((name, value)) => {
                if self.set(name, value) {
                    ERR_NONE
                } else {
                    ERR_BAD_ARGUMENT
                }
            }
            None => {
                self.diag(
                    Severity::Warning,
                    format!("`set {first}` is not an assignment"),
                );
                ERR_BAD_ARGUMENT
            }
        }
    }

    fn cmd_return(&mut self, args: &[String]) -> i32 {
        if args.len() > 1 || !self.do_return() {
            self.diag(Severity::Warning, "`return` outside a function");
            return ERR_BAD_ARGUMENT;
        }
        match args.first() {
            None => self
                .get("?")
                .and_then(|v| v.parse::<i32>().ok())
                .unwrap_or(ERR_NONE),
            Some(a) => match a.parse::<i32>() {
                Ok(n) => n,
                Err(_) => ERR_BAD_ARGUMENT,
            },
        }
    }

    /// rhboot's `increment`/`decrement VAR`.
    fn cmd_increment(&mut self, args: &[String], up: bool) -> i32 {
        let [name] = args else {
            return ERR_BAD_ARGUMENT;
        };
        let Some(old) = self.get(name).map(str::to_string) else {
            return ERR_FILE_NOT_FOUND;
        };
        let (neg, digits) = match old.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, old.as_str()),
        };
        let Ok((n, rest)) = super::default::strtoul(digits) else {
            return ERR_BAD_NUMBER;
        };
        if !rest.is_empty() {
            return ERR_BAD_NUMBER;
        }
        let Ok(n) = i64::try_from(n) else {
            return ERR_BAD_NUMBER;
        };
        let n = if neg { n.saturating_neg() } else { n };
        let n = if up {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        self.set(name, &n.to_string());
        ERR_NONE
    }

    // ------------------------------------------------------------ menuentry

    /// `menuentry`/`submenu` (`grub_cmd_menuentry`, `grub_normal_add_menu_entry`).
    fn cmd_menuentry(
        &mut self,
        submenu: bool,
        mut args: Vec<String>,
        block: Option<&Rc<Script>>,
    ) -> i32 {
        let what = if submenu { "submenu" } else { "menuentry" };
        if self.in_entry() {
            self.diag(
                Severity::Info,
                format!("`{what}` inside a running entry is ignored"),
            );
            return ERR_NONE;
        }
        if block.is_some() {
            args.push(BLOCK.to_string());
        }
        let parsed = match options::parse(&MENUENTRY_OPTS, &args, true, true) {
            Ok(p) => p,
            Err(e) => {
                self.diag(
                    Severity::Warning,
                    format!("{what}: {e}; the entry is skipped"),
                );
                return ERR_BAD_ARGUMENT;
            }
        };
        for opt in &parsed.missing {
            self.diag(
                Severity::Warning,
                format!(
                    "{what}: `--{opt}` has no value (an empty variable?); GRUB rejects this entry, leapboot keeps it"
                ),
            );
        }
        if parsed.opts.iter().any(|(_, v)| v.as_deref() == Some(BLOCK)) {
            self.diag(
                Severity::Warning,
                format!("{what}: the `{{ }}` block was taken as an option value; skipped"),
            );
            return ERR_BAD_ARGUMENT;
        }
        let mut positional = parsed.args.clone();
        let has_block = positional.last().map(String::as_str) == Some(BLOCK);
        if has_block {
            positional.pop();
        }
        let source = parsed.value(3).map(str::to_string);
        let body = match (block, has_block, source) {
            (Some(b), true, None) => Body::Script(b.clone()),
            (_, false, Some(text)) => Body::Text(Rc::from(text.as_str())),
            (_, true, Some(_)) => {
                self.diag(
                    Severity::Warning,
                    format!("{what}: both `--source` and a block; skipped"),
                );
                return ERR_BAD_ARGUMENT;
            }
            _ => {
                self.diag(Severity::Warning, format!("{what}: no body; skipped"));
                return ERR_BAD_ARGUMENT;
            }
        };
        let Some(title) = positional.first().cloned() else {
            self.diag(
                Severity::Warning,
                format!("{what} is missing its title; skipped"),
            );
            return ERR_BAD_ARGUMENT;
        };
        let size: usize = positional
            .iter()
            .map(String::len)
            .chain(
                parsed
                    .opts
                    .iter()
                    .filter_map(|(_, v)| v.as_ref().map(String::len)),
            )
            .sum();
        if size > self.limits.max_item {
            self.diag(
                Severity::Warning,
                format!(
                    "{what}: title and arguments take {size} bytes, more than {}; skipped",
                    self.limits.max_item
                ),
            );
            return ERR_BAD_ARGUMENT;
        }
        let users = if parsed.has(1) {
            Some(parsed.value(1).unwrap_or("").to_string())
        } else if parsed.has(5) {
            None
        } else {
            Some(String::new())
        };
        let item = MenuItem {
            title,
            id: parsed.value(4).map(str::to_string),
            args: positional,
            classes: parsed.values(0).into_iter().map(str::to_string).collect(),
            users,
            hotkey: parsed.value(2).map(str::to_string),
            submenu,
            body,
            loc: Loc {
                generated: false,
                ..self.loc.clone()
            },
            line: self.line,
            bls: None,
        };
        if self.add_menu_item(item) {
            ERR_NONE
        } else {
            ERR_BAD_ARGUMENT
        }
    }

    // ------------------------------------------------------------ files and configs

    /// `source FILE` (same context) and `configfile FILE` (new context; its menu, if
    /// any, is the one GRUB shows and boots from).
    fn cmd_source(&mut self, args: &[String], new_context: bool) -> i32 {
        let what = if new_context { "configfile" } else { "source" };
        let [name] = args else {
            self.diag(Severity::Warning, format!("{what}: one file name expected"));
            return ERR_BAD_ARGUMENT;
        };
        let file = match self.resolve(name) {
            Ok(f) => f,
            Err(e) => {
                self.diag(Severity::Warning, format!("{what}: {e}"));
                return ERR_FILE_NOT_FOUND;
            }
        };
        if !self.enter(what) {
            return ERR_BAD_ARGUMENT;
        }
        let data = match self.read_file(&file) {
            Ok(d) => d,
            Err(e) => {
                let shown = self.display_file(file.volume, &file.path);
                self.diag(Severity::Warning, format!("{what}: {shown}: {e}"));
                self.leave();
                return ERR_FILE_NOT_FOUND;
            }
        };
        if new_context {
            self.push_context();
        }
        self.read_config_file(&file, name, &data);
        if new_context {
            let limit = matches!(self.halt, Some(Halt::Limit));
            if (self.halt.is_none() || limit) && self.menu_len() > 0 {
                if limit {
                    self.reset_budget();
                }
                let mut menu = self.eval_menu();
                menu.config = Some(file.clone());
                self.halt = Some(Halt::Menu(menu));
            }
            self.pop_context();
        }
        self.leave();
        ERR_NONE
    }

    /// The environment file for `load_env`/`save_env`: `-f FILE` or `$prefix/grubenv`.
    fn env_file(&mut self, what: &str, parsed: &options::Parsed) -> Option<FileRef> {
        let name = match parsed.value(0) {
            Some(f) => f.to_string(),
            None => match self.get("prefix") {
                Some(p) => format!("{p}/grubenv"),
                None => {
                    self.diag(
                        Severity::Warning,
                        format!("{what}: variable `prefix` isn't set"),
                    );
                    return None;
                }
            },
        };
        // Never another volume's file by guesswork: a write must land where GRUB's would.
        match self.resolve_strict(&name) {
            Ok(f) => Some(f),
            Err(e) => {
                self.diag(Severity::Warning, format!("{what}: {e}"));
                None
            }
        }
    }

    /// `load_env [-f FILE] [-s] [NAME...]`: sets the block's variables, or only the
    /// named ones.
    fn cmd_load_env(&mut self, args: &[String]) -> i32 {
        let parsed = match options::parse(&ENV_OPTS, args, false, false) {
            Ok(p) => p,
            Err(e) => {
                self.diag(Severity::Warning, format!("load_env: {e}"));
                return ERR_BAD_ARGUMENT;
            }
        };
        let Some(file) = self.env_file("load_env", &parsed) else {
            return ERR_FILE_NOT_FOUND;
        };
        let blk = match self.read_env(&file) {
            Ok(b) => b,
            Err(e) => {
                let shown = self.display_file(file.volume, &file.path);
                self.diag(Severity::Warning, format!("load_env: {shown}: {e}"));
                return ERR_FILE_NOT_FOUND;
            }
        };
        for (name, value) in blk.vars() {
            if parsed.args.is_empty() || parsed.args.contains(&name) {
                self.set(&name, &value);
            }
        }
        ERR_NONE
    }

    /// `save_env [-f FILE] NAME...`: records the change for the bootloader to write.
    fn cmd_save_env(&mut self, args: &[String]) -> i32 {
        let parsed = match options::parse(&ENV_OPTS, args, false, false) {
            Ok(p) => p,
            Err(e) => {
                self.diag(Severity::Warning, format!("save_env: {e}"));
                return ERR_BAD_ARGUMENT;
            }
        };
        if parsed.args.is_empty() {
            self.diag(Severity::Warning, "save_env: no variable is specified");
            return ERR_BAD_ARGUMENT;
        }
        let Some(file) = self.env_file("save_env", &parsed) else {
            return ERR_FILE_NOT_FOUND;
        };
        let changes: Vec<EnvChange> = parsed
            .args
            .iter()
            .map(|n| match self.get(n) {
                Some(v) => EnvChange::Set(n.clone(), v.to_string()),
                None => EnvChange::Unset(n.clone()),
            })
            .collect();
        match self.save_env(&file, changes) {
            Ok(()) => ERR_NONE,
            Err(e) => {
                let shown = self.display_file(file.volume, &file.path);
                self.diag(Severity::Warning, format!("save_env: {shown}: {e}"));
                ERR_FILE_NOT_FOUND
            }
        }
    }

    // ------------------------------------------------------------ loaders

    fn file_problem(&self, what: &str, name: &str, f: &FileRef) -> String {
        let dev = self
            .volumes
            .get(f.volume)
            .map(|v| v.info.device.as_str())
            .unwrap_or("?");
        format!(
            "{what} {name} not found on {dev} (GRUB path `{name}`, looked up as {})",
            f.path
        )
    }

    /// `linux FILE [ARGS...]` and its variants: loads a kernel, replacing any
    /// earlier one (and its initrds).
    fn cmd_linux(&mut self, command: &str, args: &[String]) -> i32 {
        if !self.in_entry() {
            self.diag(Severity::Info, format!("`{command}` outside a menu entry"));
        }
        let Some(written) = args.first() else {
            self.plan_mut().kernel_error = Some(format!("`{command}` without a file name"));
            return ERR_BAD_ARGUMENT;
        };
        {
            let plan = self.plan_mut();
            plan.loader = None;
            plan.initrds.clear();
            plan.initrd_error = None;
            plan.missing_kernel = None;
        }
        let file = match self.resolve(written) {
            Ok(f) => f,
            Err(e) => {
                self.plan_mut().kernel_error = Some(format!("kernel: {e}"));
                return ERR_FILE_NOT_FOUND;
            }
        };
        if !self.is_file(&file) {
            let msg = self.file_problem("kernel", written, &file);
            let plan = self.plan_mut();
            plan.kernel_error = Some(msg);
            plan.missing_kernel = Some(file);
            return ERR_FILE_NOT_FOUND;
        }
        let len: usize = args.iter().map(|a| a.len().saturating_add(1)).sum();
        if len > self.limits.max_cmdline {
            let max = self.limits.max_cmdline;
            self.plan_mut().kernel_error = Some(format!(
                "kernel command line of {len} bytes is longer than {max}"
            ));
            return ERR_BAD_ARGUMENT;
        }
        let plan = self.plan_mut();
        plan.kernel_error = None;
        plan.loader = Some(LoaderKind::Linux {
            command: command.to_string(),
            kernel: file,
            written: written.clone(),
            args: args.get(1..).unwrap_or(&[]).to_vec(),
        });
        ERR_NONE
    }

    /// `initrd FILE...`: every file, in order, replacing earlier initrds.
    fn cmd_initrd(&mut self, args: &[String]) -> i32 {
        if !matches!(self.plan_mut().loader, Some(LoaderKind::Linux { .. })) {
            self.diag(
                Severity::Info,
                "`initrd` before a kernel is loaded is ignored, as in GRUB",
            );
            return ERR_NO_KERNEL;
        }
        if args.is_empty() {
            self.plan_mut().initrd_error = Some("`initrd` without a file name".into());
            return ERR_BAD_ARGUMENT;
        }
        let mut files = Vec::with_capacity(args.len());
        for a in args {
            // `newc:NAME:PATH` names the file inside the cpio; the path is what is read.
            let path = match a.strip_prefix("newc:").and_then(|r| r.split_once(':')) {
                Some((_, p)) => p,
                None => a.as_str(),
            };
            let problem = match self.resolve(path) {
                Ok(f) if self.is_file(&f) => {
                    files.push(f);
                    None
                }
                Ok(f) => Some(self.file_problem("initrd", path, &f)),
                Err(e) => Some(format!("initrd: {e}")),
            };
            if let Some(p) = problem {
                let plan = self.plan_mut();
                plan.initrds.clear();
                plan.initrd_error = Some(p);
                return ERR_FILE_NOT_FOUND;
            }
        }
        let plan = self.plan_mut();
        plan.initrds = files;
        plan.initrd_error = None;
        ERR_NONE
    }

    fn cmd_devicetree(&mut self, args: &[String]) -> i32 {
        let [name] = args else {
            return ERR_BAD_ARGUMENT;
        };
        match self.resolve(name) {
            Ok(f) if self.is_file(&f) => {
                self.plan_mut().devicetree = Some(f);
                ERR_NONE
            }
            Ok(_) | Err(_) => {
                self.diag(Severity::Info, format!("devicetree {name} not found"));
                ERR_FILE_NOT_FOUND
            }
        }
    }

    /// `multiboot FILE...`, `multiboot2 FILE...` (`grub-core/loader/multiboot.c`) and
    /// `xen_hypervisor FILE...` (`grub-core/loader/arm64/xen_boot.c`): Xen and tboot
    /// entries. Recorded so the entry can say why it cannot boot; like any loader,
    /// it replaces the kernel and initrds loaded before it.
    fn cmd_multiboot(&mut self, name: &str, args: &[String]) -> i32 {
        // `--quirk-*` options come before the file (`grub_cmd_multiboot`).
        let Some(file) = args.iter().find(|a| !a.starts_with("--")) else {
            self.plan_mut().kernel_error = Some(format!("`{name}` without a file name"));
            return ERR_BAD_ARGUMENT;
        };
        let plan = self.plan_mut();
        plan.loader = Some(LoaderKind::Multiboot {
            command: name.to_string(),
            file: file.clone(),
        });
        plan.initrds.clear();
        plan.initrd_error = None;
        plan.kernel_error = None;
        plan.missing_kernel = None;
        ERR_NONE
    }

    /// `module`, `module2`, `xen_module`: the kernel and initrds Xen or tboot hand on.
    /// GRUB refuses them when no multiboot kernel is loaded ("you need to load the
    /// kernel first").
    fn cmd_multiboot_module(&mut self, name: &str) -> i32 {
        if matches!(self.plan_mut().loader, Some(LoaderKind::Multiboot { .. })) {
            ERR_NONE
        } else {
            self.diag(
                Severity::Info,
                format!("`{name}` before `multiboot` fails in GRUB (no kernel loaded)"),
            );
            ERR_BAD_ARGUMENT
        }
    }

    fn cmd_other_loader(&mut self, name: &str) -> i32 {
        if name.ends_with("_module") || name.starts_with("xnu_k") {
            // Modules belong to the loader already chosen (kfreebsd, knetbsd, xnu).
            return ERR_NONE;
        }
        let plan = self.plan_mut();
        plan.loader = Some(LoaderKind::Other(name.to_string()));
        plan.initrds.clear();
        plan.kernel_error = None;
        ERR_NONE
    }
}
