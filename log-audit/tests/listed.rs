//! The audit binary reads the credentials the tests list at run time (`.listed` files in the
//! capture directory) and looks for them in every captured line.
#![allow(clippy::unwrap_used, reason = "a test")]

use std::process::Command;

fn audit(dir: &std::path::Path, secrets: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_log-audit"))
        .arg(dir)
        .arg(secrets)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_generated_key_listed_by_its_process_is_found_without_its_armour() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.txt");
    std::fs::write(&secrets, "# none of the file's own\ntv-secret-0123456789\n").unwrap();
    let capture = dir.path().join("capture");
    std::fs::create_dir(&capture).unwrap();
    // A key's body line, cut short in an error text: no `-----BEGIN` to be seen by.
    let body = "MHcCAQEEIBv1nq3kq8bQ0hR0m2c5bX0yXkq1w2Yp7o3mB8bT4fW1oAoGCCqGSM49";
    std::fs::write(
        capture.join("executor-1.jsonl"),
        format!("{{\"message\":\"key refused: {}\"}}\n", &body[..40]),
    )
    .unwrap();
    let (ok, out) = audit(&capture, &secrets);
    assert!(ok, "unlisted, the line passes: {out}");
    std::fs::write(capture.join("listed-1.listed"), format!("{body}\n")).unwrap();
    let (ok, out) = audit(&capture, &secrets);
    assert!(!ok, "{out}");
    assert!(
        out.contains("executor-1.jsonl:1: listed credential MHcC…")
            && out.contains(
                "2 listed credentials (1 processes listed keys of their own), 1 findings"
            ),
        "{out}"
    );
    // The listed file's lines are not audited as log lines.
    assert!(!out.contains("listed-1.listed:"), "{out}");
}
