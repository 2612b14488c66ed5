//! `leapboot-initramfs`: builds a reproducible initramfs (newc cpio, gzip by
//! default) for a leapboot firmware payload.

#![forbid(unsafe_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use leapboot_initramfs::{Archive, Error};

/// Build a reproducible initramfs for a leapboot firmware payload.
///
/// The archive always contains /dev, /dev/console (char 5:1, 0600), /proc,
/// /sys, /run and /tmp. Output is gzip-compressed newc cpio unless
/// --no-compress is given; identical inputs give identical bytes.
#[derive(Debug, Parser)]
#[command(name = "leapboot-initramfs", version)]
struct Cli {
    /// Program to install as /init (mode 0755).
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,

    /// Configuration to install as /etc/leapboot.toml (mode 0644).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Kernel modules directory (an extracted lib/modules/<version> with modules.dep).
    #[arg(long, value_name = "DIR")]
    modules_dir: Option<PathBuf>,

    /// Kernel module to include with its dependencies (repeatable; needs --modules-dir).
    #[arg(long = "module", value_name = "NAME", requires = "modules_dir")]
    modules: Vec<String>,

    /// Copy host file or directory SRC to DEST in the archive, keeping its
    /// permission bits (repeatable).
    #[arg(long = "file", value_name = "SRC:DEST", value_parser = parse_file_spec)]
    files: Vec<(PathBuf, String)>,

    /// Write an uncompressed cpio instead of gzip.
    #[arg(long)]
    no_compress: bool,

    /// Output file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
}

/// Splits `SRC:DEST` at the last colon.
fn parse_file_spec(spec: &str) -> Result<(PathBuf, String), String> {
    match spec.rsplit_once(':') {
        Some((src, dest)) if !src.is_empty() && !dest.is_empty() => {
            Ok((PathBuf::from(src), dest.to_string()))
        }
        _ => Err(format!("expected SRC:DEST, got {spec:?}")),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(io_err(path))
}

/// Adds a host file, symlink or directory tree at `dest`.
fn add_host_path(archive: &mut Archive, src: &Path, dest: &str) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(src).map_err(|e| io_err(src)(e).to_string())?;
    let mode = meta.permissions().mode() & 0o7777;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target = std::fs::read_link(src).map_err(|e| io_err(src)(e).to_string())?;
        let target = target
            .to_str()
            .ok_or_else(|| format!("symlink target of {} is not valid UTF-8", src.display()))?;
        archive.add_symlink(dest, target).map_err(|e| e.to_string())
    } else if file_type.is_dir() {
        archive.add_dir(dest, mode).map_err(|e| e.to_string())?;
        let mut children = Vec::new();
        for entry in std::fs::read_dir(src).map_err(|e| io_err(src)(e).to_string())? {
            let entry = entry.map_err(|e| io_err(src)(e).to_string())?;
            children.push(entry.file_name());
        }
        children.sort();
        for name in children {
            let name_str = name
                .to_str()
                .ok_or_else(|| format!("file name in {} is not valid UTF-8", src.display()))?;
            add_host_path(archive, &src.join(&name), &format!("{dest}/{name_str}"))?;
        }
        Ok(())
    } else if file_type.is_file() {
        let data = read(src).map_err(|e| e.to_string())?;
        archive
            .add_file(dest, mode, data)
            .map_err(|e| e.to_string())
    } else {
        Err(format!(
            "{}: only regular files, directories and symlinks can be copied",
            src.display()
        ))
    }
}

fn run(cli: &Cli) -> Result<String, String> {
    let mut archive = Archive::new();
    let s = |e: Error| e.to_string();
    for dir in ["/dev", "/proc", "/sys", "/run", "/tmp"] {
        let mode = if dir == "/tmp" { 0o1777 } else { 0o755 };
        archive.add_dir(dir, mode).map_err(s)?;
    }
    archive
        .add_char_device("/dev/console", 0o600, 5, 1)
        .map_err(s)?;
    if let Some(init) = &cli.init {
        archive
            .add_file("/init", 0o755, read(init).map_err(s)?)
            .map_err(s)?;
    }
    if let Some(config) = &cli.config {
        archive
            .add_file("/etc/leapboot.toml", 0o644, read(config).map_err(s)?)
            .map_err(s)?;
    }
    let mut module_count = 0;
    if let Some(dir) = &cli.modules_dir {
        module_count = archive.add_modules(dir, &cli.modules).map_err(s)?.len();
    }
    for (src, dest) in &cli.files {
        add_host_path(&mut archive, src, dest)?;
    }
    if !archive.contains("/init") {
        eprintln!("leapboot-initramfs: warning: the archive has no /init");
    }

    let (bytes, kind) = if cli.no_compress {
        (archive.to_cpio(), "uncompressed cpio")
    } else {
        (archive.to_gzip().map_err(s)?, "gzip cpio")
    };
    // Write next to the target and rename, so a failed run never leaves a
    // truncated payload behind.
    let mut tmp_name = cli.output.as_os_str().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    std::fs::write(&tmp, &bytes).map_err(|e| io_err(&tmp)(e).to_string())?;
    if let Err(e) = std::fs::rename(&tmp, &cli.output) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&cli.output)(e).to_string());
    }
    Ok(format!(
        "wrote {}: {} entries, {} modules, {} bytes ({kind})",
        cli.output.display(),
        archive.len(),
        module_count,
        bytes.len()
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("leapboot-initramfs: error: {e}");
            ExitCode::FAILURE
        }
    }
}
