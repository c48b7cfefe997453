//! The suite-wide log audit: `scripts/test.sh` runs every test with `TV_LOG_CAPTURE_DIR` set,
//! so each test process (and each binary the tests start) appends its log lines there; this
//! reads all of them and fails on any credential, token, passphrase or private key.
//!
//! `cargo run -p log-audit -- <capture dir> <secrets file> [min lines]`
#![allow(clippy::print_stdout, reason = "a command-line report")]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(secrets)) = (args.first(), args.get(1)) else {
        println!("usage: log_audit <capture dir> <secrets file> [min lines]");
        return ExitCode::from(2);
    };
    let min_lines: usize = args.get(2).and_then(|m| m.parse().ok()).unwrap_or(1);
    let mut values = match std::fs::read_to_string(secrets) {
        Ok(text) => log_audit::parse_secrets(&text),
        Err(e) => {
            println!("log audit: cannot read {secrets}: {e}");
            return ExitCode::from(2);
        }
    };
    let entries: Vec<std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(e) => e.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            println!("log audit: cannot read {dir}: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut files, mut lines, mut findings) = (0usize, 0usize, Vec::new());
    // Read whole whatever its bytes: a line with one invalid UTF-8 byte is audited as the
    // rest (lossy), not the process's whole capture skipped unseen.
    let read = |path: &std::path::Path, findings: &mut Vec<String>| match std::fs::read(path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => {
            findings.push(format!("{}: could not be read: {e}", path.display()));
            None
        }
    };
    // Credentials the tests made at run time (generated keys), listed by the processes
    // that made them: looked for too, and not log lines themselves.
    let is_listed = |p: &std::path::Path| p.extension().is_some_and(|e| e == "listed");
    for path in entries.iter().filter(|p| is_listed(p)) {
        if let Some(text) = read(path, &mut findings) {
            values.extend(log_audit::parse_secrets(&text));
        }
    }
    let generated = entries.iter().filter(|p| is_listed(p)).count();
    let listed = log_audit::Listed::new(&values);
    for path in entries.iter().filter(|p| !is_listed(p)) {
        let Some(text) = read(path, &mut findings) else {
            continue;
        };
        files += 1;
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            if let Some(why) = log_audit::finding(line, &listed) {
                findings.push(format!("{}:{}: {why}", path.display(), n + 1));
            }
        }
    }
    println!(
        "log audit: {lines} lines from {files} processes, {} listed credentials ({generated} \
         processes listed keys of their own), {} findings",
        listed.len(),
        findings.len()
    );
    for f in &findings {
        println!("  {f}");
    }
    if lines < min_lines {
        println!("log audit: expected at least {min_lines} lines; was capture on?");
        return ExitCode::FAILURE;
    }
    if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
