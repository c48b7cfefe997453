//! `tvctl dlq` given wrongly exits 2 (usage), as every other command does; a target that
//! does not answer exits 3. Before, every `dlq` failure exited 3, so a script could not tell
//! a typo from an outage.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn tvctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(args)
        .env_remove("JOURNAL_URL")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn a_dlq_command_given_wrongly_is_a_usage_error_and_an_absent_stack_is_not() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let local = format!("http://127.0.0.1:{closed}");
    for (args, says) in [
        (vec!["dlq", "list"], "give --queue-url (SQS) or --local"),
        (
            vec!["dlq", "list", "--local", "oanda-dlq.fifo"],
            "--local takes the local stack's base URL",
        ),
        (
            vec!["dlq", "replay", "--local", &local],
            "name the messages to replay, or --all",
        ),
        // `--local` alone: `tvctl dev`'s default URL, not a missing value.
        (
            vec!["dlq", "replay", "--local", "--queue", "oanda-dlq.fifo"],
            "name the messages to replay, or --all",
        ),
        (
            vec![
                "dlq",
                "replay",
                "--queue-url",
                &local,
                "--source-url",
                &local,
                "m-1",
            ],
            "no audit trail",
        ),
        // Without the queue the letters go back to: refused before anything is listed, a
        // dry run too (it said "would replay", and the real run failed at its first letter).
        (
            vec!["dlq", "replay", "--queue-url", &local, "m-1"],
            "--source-url is required",
        ),
        (
            vec!["dlq", "replay", "--queue-url", &local, "--dry-run", "m-1"],
            "--source-url is required",
        ),
        // A flag that does not apply to the target given is refused, not dropped: an audit
        // file or a source queue with `--local`, a queue name beside `--queue-url`.
        (
            vec![
                "dlq",
                "replay",
                "--local",
                &local,
                "--audit-file",
                "audit.jsonl",
                "m-1",
            ],
            "cannot be used with",
        ),
        (
            vec!["dlq", "list", "--local", &local, "--source-url", &local],
            "cannot be used with",
        ),
        (
            vec![
                "dlq",
                "list",
                "--queue-url",
                &local,
                "--queue",
                "oanda-dlq.fifo",
            ],
            "cannot be used with",
        ),
        // The same range as `tvctl dev --max-age-secs`.
        (
            vec![
                "dlq",
                "replay",
                "--local",
                &local,
                "--all",
                "--max-age-secs",
                "0",
            ],
            "--max-age-secs",
        ),
        (
            vec![
                "dlq",
                "replay",
                "--local",
                &local,
                "--all",
                "--max-age-secs",
                "86401",
            ],
            "--max-age-secs",
        ),
    ] {
        let (code, text) = tvctl(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    // Given rightly, but nothing listens there: a replay asks the stack its age limit first,
    // and says so the same way.
    let (code, text) = tvctl(&["dlq", "replay", "--local", &local, "--all"]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("is `tvctl dev` running"), "{text}");
    let (code, text) = tvctl(&["dlq", "list", "--local", &local]);
    assert_eq!(code, 3, "{text}");
    // Named, with what usually causes it.
    assert!(
        text.contains(&format!("http://127.0.0.1:{closed}/local/…"))
            && text.contains("is `tvctl dev` running"),
        "{text}"
    );
}

/// Help names each variable a flag reads and never prints its value: `TVCTL_URL` can hold the
/// webhook secret in its path, as `tvctl alert-template` suggests.
#[test]
fn help_never_prints_what_the_environment_holds() {
    let secret_url = "http://127.0.0.1:1/webhook/my-secret-in-the-path";
    for args in [
        vec!["send", "--help"],
        vec!["dev", "--help"],
        vec!["trades", "--help"],
        vec!["status", "--help"],
        vec!["positions", "--help"],
        vec!["dlq", "replay", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(&args)
            .env("TVCTL_URL", secret_url)
            .env("TVCTL_BASE", "http://127.0.0.1:1/base-value")
            .env("TVCTL_PORT", "45678")
            .env("TVCTL_JOURNAL", "/tmp/journal-value.sqlite")
            .env("MAX_ALERT_AGE_SECS", "4567")
            .env("WEBHOOK_SECRET", "webhook-secret-value")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
        for value in [
            "my-secret-in-the-path",
            "base-value",
            "45678",
            "journal-value",
            "4567",
            "webhook-secret-value",
        ] {
            assert!(!text.contains(value), "{args:?} printed {value}: {text}");
        }
    }
}
