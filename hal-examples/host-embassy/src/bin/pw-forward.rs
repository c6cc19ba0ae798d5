//! `pw-forward [--ready FILE] LISTEN=TARGET...`: forwards connections, where each address is
//! `tcp:IP:PORT` or `unix:PATH` (see `postwire_host_embassy::forward`). Writes FILE once every
//! listener is bound. Runs until killed.

use std::process::ExitCode;

use postwire_host_embassy::forward::{Rule, bind};

fn main() -> ExitCode {
    let mut ready = None;
    let mut rules = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--ready" {
            let Some(path) = args.next() else {
                eprintln!("pw-forward: --ready needs a file name");
                return ExitCode::from(2);
            };
            ready = Some(path);
            continue;
        }
        match Rule::parse(&a) {
            Ok(r) => rules.push(r),
            Err(e) => {
                eprintln!("pw-forward: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if rules.is_empty() {
        eprintln!("usage: pw-forward [--ready FILE] LISTEN=TARGET...  (tcp:IP:PORT or unix:PATH)");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pw-forward: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let serve = match bind(rules).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pw-forward: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(path) = ready
            && let Err(e) = std::fs::write(&path, b"ready\n")
        {
            eprintln!("pw-forward: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        serve.await;
        ExitCode::SUCCESS
    })
}
