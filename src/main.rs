use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_retained_memory();
    carego::install_tls_provider();
    carego::init_tracing();
    let cli = carego::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(carego::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Argon2 needs 19 MiB per hash, allocated on blocking-pool threads. glibc's
/// adaptive mmap threshold would soon serve such blocks from per-thread
/// arenas and keep them after free (hundreds of MB under a login burst). A
/// fixed threshold makes every large block an mmap that is returned at once.
fn limit_retained_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
