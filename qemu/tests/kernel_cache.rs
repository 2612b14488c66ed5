//! The kernel cache under concurrency: several threads asking for the same
//! kernel in a fresh cache unpack it once and all get a complete tree.
//!
//! Ignored by default (it unpacks ~400 MB); run with
//! `cargo test -p leapboot-qemu --test kernel_cache -- --ignored`.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_qemu::kernel::{debian_kernel_in, kernel_version};

#[test]
#[ignore = "unpacks a whole kernel package (~400 MB) into a scratch cache"]
fn parallel_preparation_unpacks_once() {
    let shared = leapboot_qemu::debian_kernel().unwrap();
    let cache_root = shared.vmlinuz.ancestors().nth(3).unwrap().to_path_buf();
    let version = kernel_version();
    let deb = std::fs::read_dir(&cache_root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("linux-image-{version}_"))
        })
        .expect("the shared cache keeps the .deb");

    let scratch = cache_root.join(format!(".selftest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::hard_link(&deb, scratch.join(deb.file_name().unwrap()))
        .or_else(|_| std::fs::copy(&deb, scratch.join(deb.file_name().unwrap())).map(|_| ()))
        .unwrap();

    let started = std::time::Instant::now();
    let kernels: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| debian_kernel_in(&scratch, &version).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "3 parallel requests on a fresh cache took {:.1?}",
        started.elapsed()
    );
    assert!(kernels.iter().all(|k| k == &kernels[0]));
    assert!(kernels[0].modules_dir.join("modules.dep").is_file());
    // Only the deb, the lock and the unpacked tree: no temporary leftovers.
    let mut names: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&".lock".to_string()));
    assert!(names.contains(&version));
    // Cheap once cached.
    let started = std::time::Instant::now();
    debian_kernel_in(&scratch, &version).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    std::fs::remove_dir_all(&scratch).unwrap();
}
