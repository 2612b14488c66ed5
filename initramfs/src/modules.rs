//! `modules.dep` parsing and dependency closure.
//!
//! Format, as written by kmod's `depmod` (one line per module, paths relative
//! to `/lib/modules/<version>`):
//!
//! ```text
//! kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
//! kernel/drivers/virtio/virtio.ko:
//! ```
//!
//! The list after the colon is the module's *complete* (transitive)
//! dependency set. depmod sorts it by topological index so that users come
//! before the modules they use: loading the list from last to first satisfies
//! every dependency (checked against `depmod` from kmod 30 on a Debian 6.1
//! kernel, e.g. `nfsv3.ko: nfs_acl.ko nfs.ko lockd.ko grace.ko sunrpc.ko
//! fscache.ko netfs.ko`). [`ModulesDep::load_order`] does not rely on the
//! order alone: it walks each dependency's own line depth-first, visiting
//! the listed dependencies last-to-first, so the result is correct even for
//! hand-written files whose lists are incomplete or unordered.
//!
//! Module names follow kmod's rule: the file name up to the first `.`, with
//! `-` replaced by `_` (`virtio-blk`, `virtio_blk`, `virtio_blk.ko.xz` all
//! name `kernel/drivers/block/virtio_blk.ko`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::{Error, Result};

/// One module known from `modules.dep`.
#[derive(Debug, Clone)]
struct Module {
    /// Path relative to the modules directory, as listed.
    path: String,
    /// Indices of dependencies, in listed order.
    deps: Vec<usize>,
}

/// Parsed `modules.dep` (plus, optionally, `modules.builtin`).
#[derive(Debug, Clone, Default)]
pub struct ModulesDep {
    /// Modules in order of first appearance in the file.
    modules: Vec<Module>,
    /// Normalised module name -> index into `modules`.
    by_name: BTreeMap<String, usize>,
    /// Normalised names of modules built into the kernel.
    builtin: BTreeSet<String>,
    /// Raw text of `modules.builtin`, if one was loaded.
    builtin_text: Option<String>,
    /// Where the text came from, for error messages.
    origin: String,
}

/// Normalises a module name or path the way kmod does: the last path
/// component up to its first `.`, with `-` replaced by `_`.
///
/// `kernel/fs/ext4/ext4.ko.zst` -> `ext4`, `virtio-blk` -> `virtio_blk`.
pub fn module_name(name_or_path: &str) -> String {
    let base = name_or_path.rsplit('/').next().unwrap_or(name_or_path);
    let stem = base.split('.').next().unwrap_or(base);
    stem.replace('-', "_")
}

impl ModulesDep {
    /// Parses the text of a `modules.dep` file.
    ///
    /// Blank lines and lines starting with `#` are ignored. Every other line
    /// must be `PATH: [DEP ...]`; errors name the offending line number.
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_with_origin(text, "modules.dep")
    }

    /// Like [`ModulesDep::parse`], naming `origin` (e.g. a path) in errors.
    pub fn parse_with_origin(text: &str, origin: &str) -> Result<Self> {
        let mut dep = ModulesDep {
            origin: origin.to_string(),
            ..Self::default()
        };
        let syntax = |line: usize, reason: String| Error::ModulesDepSyntax {
            origin: origin.to_string(),
            line,
            reason,
        };
        // First pass: register every module that has its own line, so that
        // indices follow file order.
        let mut lines = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let lineno = idx.saturating_add(1);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                return Err(syntax(lineno, format!("missing ':' in {line:?}")));
            };
            let path = path.trim();
            check_module_path(path).map_err(|reason| syntax(lineno, reason))?;
            let name = module_name(path);
            if let Some(&prev) = dep.by_name.get(&name) {
                let prev_path = dep.modules.get(prev).map_or("", |m| m.path.as_str());
                return Err(syntax(
                    lineno,
                    format!(
                        "duplicate entry for module {name} ({path}; already listed as {prev_path})"
                    ),
                ));
            }
            dep.by_name.insert(name, dep.modules.len());
            dep.modules.push(Module {
                path: path.to_string(),
                deps: Vec::new(),
            });
            lines.push((lineno, dep.modules.len() - 1, deps));
        }
        // Second pass: resolve dependency lists. Dependencies without a line
        // of their own become leaf modules.
        for (lineno, index, deps) in lines {
            let mut resolved = Vec::new();
            for dep_path in deps.split_whitespace() {
                check_module_path(dep_path).map_err(|reason| syntax(lineno, reason))?;
                let name = module_name(dep_path);
                let dep_index = match dep.by_name.get(&name) {
                    Some(&i) => {
                        let known = dep.modules.get(i).map_or("", |m| m.path.as_str());
                        if known != dep_path {
                            return Err(syntax(
                                lineno,
                                format!(
                                    "dependency {dep_path} conflicts with {known} for module {name}"
                                ),
                            ));
                        }
                        i
                    }
                    None => {
                        let i = dep.modules.len();
                        dep.by_name.insert(name, i);
                        dep.modules.push(Module {
                            path: dep_path.to_string(),
                            deps: Vec::new(),
                        });
                        i
                    }
                };
                if !resolved.contains(&dep_index) {
                    resolved.push(dep_index);
                }
            }
            if let Some(module) = dep.modules.get_mut(index) {
                module.deps = resolved;
            }
        }
        Ok(dep)
    }

    /// Reads `modules_dir/modules.dep`, and `modules_dir/modules.builtin` if
    /// it exists (a missing `modules.builtin` is not an error).
    pub fn load(modules_dir: &Path) -> Result<Self> {
        let dep_path = modules_dir.join("modules.dep");
        let text = read_text(&dep_path)?;
        let mut dep = Self::parse_with_origin(&text, &dep_path.display().to_string())?;
        let builtin_path = modules_dir.join("modules.builtin");
        match std::fs::read(&builtin_path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| Error::ModulesDepSyntax {
                    origin: builtin_path.display().to_string(),
                    line: 0,
                    reason: "file is not valid UTF-8".into(),
                })?;
                dep.set_builtin(&text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path: builtin_path,
                    source,
                });
            }
        }
        Ok(dep)
    }

    /// Records the modules built into the kernel from the text of a
    /// `modules.builtin` file (one module path per line), replacing any
    /// previously recorded set. Built-in names are skipped by
    /// [`ModulesDep::load_order`].
    pub fn set_builtin(&mut self, text: &str) {
        self.builtin = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(module_name)
            .collect();
        self.builtin_text = Some(text.to_string());
    }

    /// The raw `modules.builtin` text recorded by [`ModulesDep::load`] or
    /// [`ModulesDep::set_builtin`], if any.
    pub fn builtin_text(&self) -> Option<&str> {
        self.builtin_text.as_deref()
    }

    /// Whether `name` (any spelling accepted by [`ModulesDep::path_of`]) is
    /// built into the kernel according to `modules.builtin`.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&module_name(name))
    }

    /// Relative path of the module called `name` (`-` and `_` are
    /// equivalent; a `.ko*` suffix or leading directories are ignored).
    pub fn path_of(&self, name: &str) -> Option<&str> {
        self.index_of(name)
            .and_then(|i| self.modules.get(i))
            .map(|m| m.path.as_str())
    }

    /// The dependencies of `name` as listed in `modules.dep` (relative
    /// paths, in file order), or `None` if the module is unknown.
    pub fn deps_of(&self, name: &str) -> Option<Vec<&str>> {
        let module = self.index_of(name).and_then(|i| self.modules.get(i))?;
        Some(
            module
                .deps
                .iter()
                .filter_map(|&d| self.modules.get(d))
                .map(|m| m.path.as_str())
                .collect(),
        )
    }

    /// Relative paths of all known modules, in order of first appearance.
    pub fn module_paths(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(|m| m.path.as_str())
    }

    /// Number of known modules.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether no modules are known.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(&module_name(name)).copied()
    }

    /// Load order for the modules `names`: every dependency comes before its
    /// users, each module appears once, and the result depends only on the
    /// input. Returns relative module paths.
    ///
    /// Names of modules built into the kernel (see [`ModulesDep::is_builtin`])
    /// are skipped. An unknown name, or a dependency cycle, is an error.
    pub fn load_order(&self, names: &[String]) -> Result<Vec<String>> {
        const UNSEEN: u8 = 0;
        const ACTIVE: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![UNSEEN; self.modules.len()];
        let mut order = Vec::new();
        for name in names {
            let Some(root) = self.index_of(name) else {
                if self.is_builtin(name) {
                    continue;
                }
                return Err(Error::UnknownModule {
                    name: name.clone(),
                    origin: self.origin.clone(),
                });
            };
            if state.get(root).copied() != Some(UNSEEN) {
                continue;
            }
            // Iterative post-order DFS (no recursion: input may be hostile).
            // Each frame is (module, number of its deps not yet visited);
            // deps are visited from the last listed to the first.
            let mut stack: Vec<(usize, usize)> = Vec::new();
            let push = |stack: &mut Vec<(usize, usize)>, state: &mut [u8], i: usize| {
                let n = self.modules.get(i).map_or(0, |m| m.deps.len());
                if let Some(s) = state.get_mut(i) {
                    *s = ACTIVE;
                }
                stack.push((i, n));
            };
            push(&mut stack, &mut state, root);
            while let Some(frame) = stack.last_mut() {
                let (current, remaining) = *frame;
                if remaining == 0 {
                    stack.pop();
                    if let Some(s) = state.get_mut(current) {
                        *s = DONE;
                    }
                    if let Some(m) = self.modules.get(current) {
                        order.push(m.path.clone());
                    }
                    continue;
                }
                frame.1 = remaining - 1;
                let Some(&next) = self
                    .modules
                    .get(current)
                    .and_then(|m| m.deps.get(remaining - 1))
                else {
                    continue;
                };
                match state.get(next).copied() {
                    Some(UNSEEN) => push(&mut stack, &mut state, next),
                    Some(ACTIVE) => {
                        return Err(Error::DependencyCycle {
                            module: self
                                .modules
                                .get(next)
                                .map_or_else(String::new, |m| m.path.clone()),
                            origin: self.origin.clone(),
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(order)
    }

    /// Renders a `modules.dep` restricted to the modules whose relative
    /// paths are in `paths`, in the same format and line order as the
    /// original. Dependencies outside `paths` are dropped, so pass a closed
    /// set (such as the output of [`ModulesDep::load_order`]).
    pub fn subset_text(&self, paths: &[String]) -> String {
        let wanted: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
        let mut out = String::new();
        for module in &self.modules {
            if !wanted.contains(module.path.as_str()) {
                continue;
            }
            // Modules only seen as dependencies get a line of their own
            // too, so the output is self-contained.
            out.push_str(&module.path);
            out.push(':');
            for dep in module.deps.iter().filter_map(|&d| self.modules.get(d)) {
                if wanted.contains(dep.path.as_str()) {
                    out.push(' ');
                    out.push_str(&dep.path);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Basic syntax check of a module path from `modules.dep`.
fn check_module_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("empty module path".into());
    }
    if path.ends_with('/') {
        return Err(format!("module path {path:?} ends with '/'"));
    }
    if module_name(path).is_empty() {
        return Err(format!("module path {path:?} has an empty module name"));
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| Error::ModulesDepSyntax {
        origin: path.display().to_string(),
        line: 0,
        reason: "file is not valid UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic excerpt in depmod's format and order.
    const DEP: &str = "\
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/hid/hid-generic.ko.zst: kernel/drivers/hid/hid.ko
kernel/drivers/hid/hid.ko:
";

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn pos(order: &[String], path: &str) -> usize {
        order
            .iter()
            .position(|p| p == path)
            .unwrap_or_else(|| panic!("{path} missing from {order:?}"))
    }

    #[test]
    fn module_name_normalisation() {
        assert_eq!(module_name("kernel/fs/ext4/ext4.ko.zst"), "ext4");
        assert_eq!(module_name("virtio-blk"), "virtio_blk");
        assert_eq!(module_name("hid-generic.ko"), "hid_generic");
        assert_eq!(module_name(""), "");
    }

    #[test]
    fn path_of_accepts_all_spellings() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let p = Some("kernel/drivers/block/virtio_blk.ko");
        assert_eq!(dep.path_of("virtio_blk"), p);
        assert_eq!(dep.path_of("virtio-blk"), p);
        assert_eq!(dep.path_of("virtio_blk.ko"), p);
        assert_eq!(dep.path_of("virtio-blk.ko.xz"), p);
        assert_eq!(
            dep.path_of("hid_generic"),
            Some("kernel/drivers/hid/hid-generic.ko.zst")
        );
        assert_eq!(dep.path_of("nope"), None);
        assert_eq!(dep.len(), 12);
    }

    #[test]
    fn virtio_blk_order() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let order = dep.load_order(&names(&["virtio_blk"])).unwrap();
        assert_eq!(
            order,
            vec![
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/block/virtio_blk.ko",
            ]
        );
    }

    #[test]
    fn shared_deps_appear_once_and_before_users() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let order = dep
            .load_order(&names(&["virtio-net", "virtio_blk", "ext4", "virtio_net"]))
            .unwrap();
        let unique: BTreeSet<&String> = order.iter().collect();
        assert_eq!(unique.len(), order.len(), "duplicates in {order:?}");
        assert_eq!(order.len(), 10);
        // every listed dependency precedes its user
        for user in &order {
            for d in dep.deps_of(user).unwrap() {
                assert!(pos(&order, d) < pos(&order, user), "{d} after {user}");
            }
        }
        assert!(
            pos(&order, "kernel/net/core/failover.ko")
                < pos(&order, "kernel/drivers/net/net_failover.ko")
        );
        // stable
        assert_eq!(
            order,
            dep.load_order(&names(&["virtio-net", "virtio_blk", "ext4", "virtio_net"]))
                .unwrap()
        );
    }

    #[test]
    fn order_correct_even_if_line_is_unordered_or_incomplete() {
        // a's list is in the "wrong" order and omits c (a transitive dep via b).
        let text = "a.ko: b.ko d.ko\nb.ko: c.ko\nc.ko:\nd.ko: b.ko\n";
        let dep = ModulesDep::parse(text).unwrap();
        let order = dep.load_order(&names(&["a"])).unwrap();
        assert_eq!(order, vec!["c.ko", "b.ko", "d.ko", "a.ko"]);
    }

    #[test]
    fn deps_without_own_line_are_leaves() {
        let dep = ModulesDep::parse("x/a.ko: x/b.ko\n").unwrap();
        assert_eq!(
            dep.load_order(&names(&["a"])).unwrap(),
            vec!["x/b.ko", "x/a.ko"]
        );
        assert_eq!(dep.path_of("b"), Some("x/b.ko"));
    }

    #[test]
    fn unknown_module_is_an_error_naming_it() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let err = dep
            .load_order(&names(&["virtio_blk", "no_such_mod"]))
            .unwrap_err();
        assert!(matches!(err, Error::UnknownModule { ref name, .. } if name == "no_such_mod"));
        assert!(err.to_string().contains("no_such_mod"), "{err}");
        assert!(dep.load_order(&names(&[""])).is_err());
    }

    #[test]
    fn builtin_modules_are_skipped() {
        let mut dep = ModulesDep::parse(DEP).unwrap();
        dep.set_builtin("kernel/fs/ext4/ext4.ko\nkernel/drivers/ata/ata-piix.ko\n");
        assert!(dep.is_builtin("ata_piix"));
        assert!(!dep.is_builtin("virtio_blk"));
        let order = dep
            .load_order(&names(&["ata-piix", "virtio_ring"]))
            .unwrap();
        assert_eq!(order, vec!["kernel/drivers/virtio/virtio_ring.ko"]);
        // a loadable module wins over a builtin entry of the same name
        assert_eq!(dep.load_order(&names(&["ext4"])).unwrap().len(), 4);
    }

    #[test]
    fn cycle_is_an_error() {
        let dep = ModulesDep::parse("a.ko: b.ko\nb.ko: a.ko\n").unwrap();
        let err = dep.load_order(&names(&["a"])).unwrap_err();
        assert!(matches!(err, Error::DependencyCycle { .. }), "{err}");
        let dep = ModulesDep::parse("a.ko: a.ko\n").unwrap();
        assert!(dep.load_order(&names(&["a"])).is_err());
    }

    #[test]
    fn long_chain_does_not_overflow_the_stack() {
        let n = 200_000;
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!("m{i}.ko: m{}.ko\n", i + 1));
        }
        let dep = ModulesDep::parse(&text).unwrap();
        let order = dep.load_order(&names(&["m0"])).unwrap();
        assert_eq!(order.len(), n + 1);
        assert_eq!(order.first().map(String::as_str), Some("m200000.ko"));
        assert_eq!(order.last().map(String::as_str), Some("m0.ko"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = ModulesDep::parse("a.ko:\n\n# comment\nbroken line\n").unwrap_err();
        assert!(
            matches!(err, Error::ModulesDepSyntax { line: 4, .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("modules.dep:4: "), "{err}");

        let err = ModulesDep::parse("a.ko:\nx/a.ko:\n").unwrap_err();
        assert!(
            matches!(err, Error::ModulesDepSyntax { line: 2, .. }),
            "{err}"
        );

        let err = ModulesDep::parse(": b.ko\n").unwrap_err();
        assert!(
            matches!(err, Error::ModulesDepSyntax { line: 1, .. }),
            "{err}"
        );

        let err = ModulesDep::parse("a.ko: x/b.ko\nb.ko:\n").unwrap_err();
        assert!(
            matches!(err, Error::ModulesDepSyntax { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn subset_text_keeps_format_and_order() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let order = dep.load_order(&names(&["virtio_blk"])).unwrap();
        assert_eq!(
            dep.subset_text(&order),
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n\
             kernel/drivers/virtio/virtio.ko:\n\
             kernel/drivers/virtio/virtio_ring.ko:\n"
        );
        let reparsed = ModulesDep::parse(&dep.subset_text(&order)).unwrap();
        assert_eq!(reparsed.load_order(&names(&["virtio_blk"])).unwrap(), order);
    }

    #[test]
    fn load_reads_dep_and_builtin() {
        let dir = crate::cpio::tests::TempDir::new("modload");
        std::fs::write(dir.path().join("modules.dep"), DEP).unwrap();
        let dep = ModulesDep::load(dir.path()).unwrap();
        assert!(dep.builtin_text().is_none());
        std::fs::write(dir.path().join("modules.builtin"), "kernel/x/y.ko\n").unwrap();
        let dep = ModulesDep::load(dir.path()).unwrap();
        assert!(dep.is_builtin("y"));
        let err = ModulesDep::load(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
