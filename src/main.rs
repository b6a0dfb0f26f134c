use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_retained_memory();
    raise_open_file_limit();
    carego::install_tls_provider();
    let traces = carego::init_tracing();
    let cli = carego::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(carego::cli::run(cli));
    // Whatever spans are still batched go out now.
    if let Some(provider) = traces {
        let _ = provider.shutdown();
    }
    match outcome {
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

/// Every open event stream is a socket: lift the soft limit on open files
/// to the hard one (often 1024 against 524288 under systemd), so a server
/// holding thousands of streams is not cut off at a thousand.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a stack value.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
