//! `leapboot-gen DIR`: writes leapboot's shell completions and man pages into DIR,
//! made from the same clap definitions as the command line (`leapboot::cli::command`):
//!
//! ```text
//! DIR/completions/leapboot        bash
//! DIR/completions/_leapboot       zsh
//! DIR/completions/leapboot.fish   fish
//! DIR/man/leapboot.1              and leapboot-list.1, leapboot-check.1, ...
//! ```
//!
//! `scripts/package` puts them where Debian's bash-completion, zsh, fish and man
//! look. Not installed by `cargo install --path bootloader --bin leapboot`.

use clap_complete::Shell;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: leapboot-gen DIR");
        return ExitCode::from(2);
    };
    match generate(&PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leapboot-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(dir: &std::path::Path) -> std::io::Result<()> {
    let completions = dir.join("completions");
    let man = dir.join("man");
    std::fs::create_dir_all(&completions)?;
    std::fs::create_dir_all(&man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = leapboot::cli::command();
        clap_complete::generate_to(shell, &mut cmd, "leapboot", &completions)?;
    }
    // bash-completion looks the command's own name up in its completions folder.
    std::fs::rename(
        completions.join("leapboot.bash"),
        completions.join("leapboot"),
    )?;
    clap_mangen::generate_to(leapboot::cli::command(), &man)?;
    Ok(())
}
