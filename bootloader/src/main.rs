//! The leapboot binary: PID 1 in a firmware initramfs, a host tool everywhere else.

fn main() -> std::process::ExitCode {
    if std::process::id() == 1 {
        leapboot::init::run();
    }
    leapboot::cli::main()
}
