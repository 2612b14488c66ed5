//! Kernel modules: the names asked for (the `modules` setting, or the list the
//! initramfs builder wrote to `/etc/leapboot/modules`), resolved with their
//! dependencies from `/lib/modules/$(uname -r)/modules.dep`, loaded in order with
//! `finit_module(2)`. A module that fails is logged and the rest still load.

use crate::log::Area;
use leapboot_initramfs::ModulesDep;
use std::path::{Path, PathBuf};

/// The list the initramfs builder writes.
pub const MODULES_LIST: &str = "/etc/leapboot/modules";

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    crate::sys::system::kernel_release()
}

/// Names from the initramfs list, one per line, `#` comments allowed.
pub fn listed_modules(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Loads `names` with dependencies from `dir` (`/lib/modules/<release>`); returns
/// how many modules were loaded (already-loaded ones count as loaded).
pub fn load_all(dir: &Path, names: &[String]) -> usize {
    load_counted(dir, names, &std::sync::atomic::AtomicUsize::new(0))
}

/// [`load_all`], counting loaded modules in `loaded` as it goes.
fn load_counted(dir: &Path, names: &[String], loaded: &std::sync::atomic::AtomicUsize) -> usize {
    if names.is_empty() {
        return 0;
    }
    let dep = match ModulesDep::load(dir) {
        Ok(d) => d,
        Err(e) => {
            crate::log!(
                Area::Modules,
                "cannot read {}: {e}; no modules loaded",
                dir.join("modules.dep").display()
            );
            return 0;
        }
    };
    let order = match dep.load_order(names) {
        Ok(o) => o,
        Err(e) => {
            crate::log!(
                Area::Modules,
                "{e}; loading the modules that resolve one by one"
            );
            let mut all = Vec::new();
            for n in names {
                if let Ok(o) = dep.load_order(std::slice::from_ref(n)) {
                    for m in o {
                        if !all.contains(&m) {
                            all.push(m);
                        }
                    }
                }
            }
            all
        }
    };
    for rel in order {
        let path: PathBuf = dir.join(&rel);
        match finit(&path) {
            Ok(()) => {
                loaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::log!(Area::Modules, "loaded {rel}");
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                loaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => crate::log!(
                Area::Modules,
                "{}: finit_module failed: {e}",
                path.display()
            ),
        }
    }
    loaded.load(std::sync::atomic::Ordering::Relaxed)
}

/// [`load_all`] in a background thread, waiting at most `limit`: a driver's probe
/// can block its module load on a disk that does not answer (the kernel reads the
/// partition table while probing), and that must not hold PID 1. Returns how many
/// modules were loaded by then.
pub fn load_all_within(dir: &Path, names: &[String], limit: std::time::Duration) -> usize {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tx, rx) = std::sync::mpsc::channel();
    let loaded = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&loaded);
    let (dir, names) = (dir.to_path_buf(), names.to_vec());
    let spawned = std::thread::Builder::new()
        .name("modules".into())
        .spawn(move || {
            let _ = tx.send(load_counted(&dir, &names, &counter));
        });
    if spawned.is_err() {
        crate::log!(
            Area::Modules,
            "cannot start the module loader thread; no modules loaded"
        );
        return 0;
    }
    match rx.recv_timeout(limit) {
        Ok(n) => n,
        Err(_) => {
            crate::log!(
                Area::Modules,
                "modules still loading after {} s (a device may be slow to answer its driver's probe); continuing",
                limit.as_secs()
            );
            loaded.load(Ordering::Relaxed)
        }
    }
}

fn finit(path: &Path) -> std::io::Result<()> {
    let f = std::fs::File::open(path)?;
    use crate::sys::system::{MODULE_INIT_COMPRESSED_FILE, finit_module};
    let flags = if path.extension().is_some_and(|e| e != "ko") {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    };
    finit_module(&f, flags)
}
