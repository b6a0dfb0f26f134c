use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    carego::init_tracing();
    let cli = carego::cli::Cli::parse();
    match carego::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
