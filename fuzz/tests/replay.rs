//! Replays the seed corpus and every saved reproducer through the fuzz targets' checks on the
//! stable toolchain, so a fixed finding stays fixed without running the fuzzer.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use tv_pipeline_fuzz::{alert_parser, webhook};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Every file of `dirs` through `check`; the failure lists every input that broke one.
fn replay(dirs: &[&str], check: impl Fn(&[u8]) + std::panic::RefUnwindSafe) -> usize {
    let mut n = 0;
    let mut broken = Vec::new();
    for dir in dirs {
        for file in files(dir) {
            let data = read(&file);
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                broken.push(file.display().to_string());
            }
            n += 1;
        }
    }
    assert!(
        broken.is_empty(),
        "inputs that break an invariant: {broken:#?}"
    );
    n
}

#[test]
fn alert_parser_seeds_and_reproducers_hold() {
    let n = replay(&["corpus/alert_parser", "regressions/alert_parser"], |d| {
        let _ = alert_parser::check(d);
    });
    assert!(n >= 10, "only {n} inputs: the seed corpus is missing");
}

#[test]
fn webhook_seeds_and_reproducers_hold() {
    let n = replay(&["corpus/webhook", "regressions/webhook"], |d| {
        let _ = webhook::check(d);
    });
    assert!(n >= 20, "only {n} inputs: the seed corpus is missing");
}

/// The seeds must reach the deep end, or the fuzzer starts far from the code that matters:
/// every filled-in sample validates, and is enqueued with the secret in the path or the body.
#[test]
fn the_seeds_reach_validation_and_the_queue() {
    for file in files("corpus/alert_parser") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let refused = ["minimal-test-webhook.json", "unsubstituted-template.json"];
        let outcome = alert_parser::check(&read(&file));
        assert_eq!(
            outcome.is_ok(),
            !refused.contains(&name.as_str()),
            "{name}: {outcome:?}"
        );
    }
    for file in files("corpus/webhook") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let expected = match name.as_str() {
            n if n.starts_with("minimal-test-webhook") || n.starts_with("unsubstituted") => 422,
            "healthcheck.txt" => 200,
            "wrong-method.txt" => 405,
            "not-found.txt" => 404,
            "allowlist-refused.txt" | "wrong-secret.txt" => 401,
            "queue-down.txt" => 503,
            _ => 200,
        };
        assert_eq!(webhook::check(&read(&file)), Some(expected), "{name}");
    }
}
