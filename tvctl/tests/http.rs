//! `tvctl`'s own HTTP requests: no redirect followed (an alert and its secret never go to a
//! host an answer names), base URLs checked before any request, and an answer that is not
//! the pipeline's not taken for one.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

fn tvctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(args)
        .env_remove("TVCTL_BASE")
        .env_remove("TVCTL_URL")
        .env_remove("WEBHOOK_SECRET")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Answers each of the next `n` connections with `answer`, then returns what each request
/// said; a listener that has no request within 2 s stops early.
fn serve(listener: TcpListener, n: usize, answer: String) -> std::thread::JoinHandle<Vec<String>> {
    serve_with(listener, n, move |_| answer.clone())
}

/// As [`serve`], each answer chosen by `answer` from the request's text.
fn serve_with(
    listener: TcpListener,
    n: usize,
    answer: impl Fn(&str) -> String + Send + 'static,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let mut seen = Vec::new();
        for _ in 0..n {
            let (mut socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut buf = vec![0u8; 16 * 1024];
            let got = socket.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..got]).into_owned();
            let _ = socket.write_all(answer(&request).as_bytes());
            seen.push(request);
        }
        seen
    })
}

/// An HTTP/1.1 answer with a JSON body, closing the connection.
fn json_answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Whether anything connects to `listener` within `wait`.
fn connected_within(listener: &TcpListener, wait: Duration) -> bool {
    listener.set_nonblocking(true).unwrap();
    let end = std::time::Instant::now() + wait;
    while std::time::Instant::now() < end {
        if listener.accept().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_redirect_is_never_followed_with_the_alert_and_its_secret() {
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let captured = elsewhere.local_addr().unwrap().port();
    let webhook = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = webhook.local_addr().unwrap().port();
    let server = serve(
        webhook,
        1,
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{captured}/captured\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    let url = format!("http://127.0.0.1:{port}/webhook/A-SECRET-IN-THE-PATH-1234");
    let (code, text) = tvctl(&["send", "oanda-eurusd-long", "--url", &url]);
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("POST /webhook/"), "{}", seen[0]);
    assert!(
        !connected_within(&elsewhere, Duration::from_millis(500)),
        "the alert went on to the host the answer named"
    );
    // The 307 is the answer shown: not an accepted alert.
    assert_eq!(code, 3, "{text}");
    assert!(text.starts_with("307"), "{text}");
}

/// The answer is read as it came, only what is printed redacted: a short passphrase (`s`)
/// redacted out of the webhook's own keys (`"signal_id"`, `"status"`) made its 200 read as
/// "not the webhook's answer, nothing is known to be queued", exit 3, and a resend (a new
/// `timenow`, a new signal) traded twice. A path secret echoed decoded is hidden too.
#[test]
fn a_short_passphrase_does_not_hide_an_enqueued_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 1, |_| {
        json_answer(
            "200 OK",
            r#"{"signal_id":"0123456789abcdef0123456789abcdef","status":"enqueued"}"#,
        )
    });
    let url = format!("http://127.0.0.1:{port}/webhook");
    let (code, text) = tvctl(&[
        "send",
        "oanda-eurusd-long",
        "--url",
        &url,
        "--passphrase",
        "s",
    ]);
    server.join().unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("not the webhook's answer"), "{text}");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 1, |_| {
        let page = "Cannot POST /webhook/a secret, mine!";
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{page}",
            page.len()
        )
    });
    let url = format!("http://127.0.0.1:{port}/webhook/a%20secret,%20mine!");
    let (_, text) = tvctl(&["send", "oanda-eurusd-long", "--url", &url]);
    server.join().unwrap();
    assert!(!text.contains("a secret, mine!"), "{text}");

    // API Gateway's message is matched as it came too: a passphrase `en` redacted out of
    // "Missing Authentication Token" lost the hint that the URL is wrong.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 1, |_| {
        json_answer(
            "403 Forbidden",
            r#"{"message":"Missing Authentication Token"}"#,
        )
    });
    let url = format!("http://127.0.0.1:{port}/webhook");
    let (code, text) = tvctl(&[
        "send",
        "oanda-eurusd-long",
        "--url",
        &url,
        "--passphrase",
        "en",
    ]);
    server.join().unwrap();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("API Gateway has no such route"), "{text}");
}

/// A server at `--url` that echoes the request back does not get the passphrase printed
/// on the terminal (or in a CI log): the answer is shown without it.
#[test]
fn an_echoed_passphrase_is_not_printed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 1, |request| {
        let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
        json_answer("200 OK", body)
    });
    let url = format!("http://127.0.0.1:{port}/webhook");
    let (_, text) = tvctl(&[
        "send",
        "oanda-eurusd-long",
        "--url",
        &url,
        "--passphrase",
        "a-secret-of-mine",
    ]);
    let seen = server.join().unwrap();
    assert!(seen[0].contains("a-secret-of-mine"), "it was sent");
    assert!(!text.contains("a-secret-of-mine"), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
    // Nor in a gateway's refusal quoted in the error (`{"message": …}`).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 1, |request| {
        let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
        json_answer(
            "400 Bad Request",
            &serde_json::json!({ "message": body }).to_string(),
        )
    });
    let url = format!("http://127.0.0.1:{port}/webhook");
    let (_, text) = tvctl(&[
        "send",
        "oanda-eurusd-long",
        "--url",
        &url,
        "--passphrase",
        "a-secret-of-mine",
    ]);
    server.join().unwrap();
    assert!(!text.contains("a-secret-of-mine"), "{text}");
    // Nor the secret in the URL's path, echoed in a server's own 404.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 1, |request| {
        let path = request.split(' ').nth(1).unwrap_or_default().to_owned();
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\nCannot POST {path}",
            "Cannot POST ".len() + path.len()
        )
    });
    let url = format!("http://127.0.0.1:{port}/webhook/abcdefghijklmnop1234");
    let (_, text) = tvctl(&["send", "oanda-eurusd-long", "--url", &url]);
    let seen = server.join().unwrap();
    assert!(seen[0].contains("abcdefghijklmnop1234"), "it was sent");
    assert!(!text.contains("abcdefghijklmnop1234"), "{text}");
}

#[test]
fn base_urls_are_checked_before_any_request_and_a_trailing_slash_is_fine() {
    for args in [
        vec!["status", "--base", "notaurl"],
        vec!["trades", "--base", "ftp://127.0.0.1:9"],
        vec!["positions", "--base", "http://127.0.0.1:9?x=1"],
        vec![
            "send",
            "oanda-eurusd-long",
            "--timenow",
            "2026-12-02T14:00:00Z",
            "--age-secs",
            "60",
            "--url",
            "http://127.0.0.1:9/webhook",
        ],
        vec![
            "send",
            "oanda-eurusd-long",
            "--age-secs",
            "64000000000",
            "--url",
            "http://127.0.0.1:9/webhook",
        ],
    ] {
        let (code, text) = tvctl(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
    }
    // An action it does not know is named, with the five it does.
    let (code, text) = tvctl(&[
        "send",
        "oanda-eurusd-long",
        "--action",
        "BUY",
        "--url",
        "http://127.0.0.1:9/webhook",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(
            "unknown action BUY: one of LONG_ENTRY, SHORT_ENTRY, LONG_EXIT, SHORT_EXIT, FLATTEN"
        ),
        "{text}"
    );
    // An alert whose `signal` is not an object cannot take --action's type and direction:
    // named, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signal-text.json");
    std::fs::write(
        &file,
        r#"{"symbol":"EURUSD","exchange":"OANDA","signal":"ENTRY","market_data":{}}"#,
    )
    .unwrap();
    let (code, text) = tvctl(&[
        "send",
        file.to_str().unwrap(),
        "--action",
        "SHORT_ENTRY",
        "--url",
        "http://127.0.0.1:9/webhook",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("its signal is not an object, so --action cannot set signal.type"),
        "{text}"
    );
    // A trailing slash joins with one: the request reaches `/oandastatus`, not `//oandastatus`.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = r#"{"broker":"oanda","status":"ok"}"#;
    let server = serve(listener, 1, json_answer("200 OK", body));
    let base = format!("http://127.0.0.1:{port}/");
    let _ = tvctl(&["status", "--base", &base]);
    let seen = server.join().unwrap();
    assert!(seen[0].starts_with("GET /oandastatus "), "{}", seen[0]);
}

/// A local stack whose brokers are all `ok` but whose `oanda` queue holds a dead letter (after a
/// restart the health no longer shows the failure that put it there): `status` names the
/// queue and how to list it, and exits 1, where it said 0 as if nothing waited.
#[test]
fn a_waiting_dead_letter_makes_status_exit_1_naming_its_queue() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 5, |request| {
        let path = request.split(' ').nth(1).unwrap_or("");
        let body = match path {
                "/local/queues" => r#"[{"name":"oanda.fifo","depth":0,"dead_letters":[{"message_id":"m-1"}]},{"name":"signals.fifo","depth":0,"dead_letters":[]}]"#.to_owned(),
                "/local/settings" => r#"{"max_alert_age_secs":30,"max_clock_skew_secs":5}"#.to_owned(),
                p => format!(r#"{{"broker":"{}","status":"ok"}}"#, p.trim_start_matches('/').trim_end_matches("status")),
        };
        json_answer("200 OK", &body)
    });
    let base = format!("http://127.0.0.1:{port}");
    let (code, text) = tvctl(&["status", "--base", &base]);
    let _ = server.join();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("1 message(s) in oanda-dlq.fifo")
            && text.contains(&format!(
                "tvctl dlq list --local {base} --queue oanda-dlq.fifo"
            )),
        "{text}"
    );
    assert!(!text.contains("signals-dlq.fifo"), "{text}");
}

/// `dlq list --local` of the default queue (the signals queue's) while a letter waits in the
/// OANDA queue's: the listing says 0 of its own queue, then names the other queue's letter
/// and the command that lists it, where a trader saw only "0 message(s)".
#[test]
fn a_dlq_listing_names_the_letters_waiting_in_the_other_dead_letter_queues() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_with(listener, 2, |request| {
        let path = request.split(' ').nth(1).unwrap_or("");
        let body = if path.starts_with("/local/dlq") {
            "[]".to_owned()
        } else {
            r#"[{"name":"oanda.fifo","depth":0,"dead_letters":[{"message_id":"m-1"}]},{"name":"signals.fifo","depth":0,"dead_letters":[]}]"#.to_owned()
        };
        json_answer("200 OK", &body)
    });
    let base = format!("http://127.0.0.1:{port}");
    let (code, text) = tvctl(&["dlq", "list", "--local", &base]);
    let seen = server.join().unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(seen[1].starts_with("GET /local/queues "), "{seen:?}");
    assert!(text.contains("0 message(s) in signals-dlq.fifo"), "{text}");
    assert!(
        text.contains(&format!(
            "(1 message(s) in oanda-dlq.fifo: tvctl dlq list --local {base} --queue oanda-dlq.fifo)"
        )),
        "{text}"
    );
}

/// A server that answers every GET with some JSON is not the pipeline: its answer is not
/// printed as a broker's health (exit 3, naming the URL).
#[test]
fn a_status_answer_that_names_another_broker_is_not_taken_for_one() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = r#"{"signal_id":"x","status":"enqueued","broker":"oanda"}"#;
    let answer = json_answer("200 OK", body);
    // `status` asks oanda first (answered as oanda), then tradovate, answered as oanda too.
    let server = serve(listener, 2, answer);
    let (code, text) = tvctl(&["status", "--base", &format!("http://127.0.0.1:{port}")]);
    let _ = server.join();
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("not a broker status answer"), "{text}");
}

/// `send`'s exit code follows who answered: ingest's own answers keep theirs (0 queued, 1
/// refused); a 200 from a server that is not the webhook (a wrong `--url`) queued nothing and
/// is exit 3, never 0; API Gateway's own refusals (a resource policy, throttling) are exit 1
/// with its message, its missing route exit 3 naming the URL, its 5xx exit 3 saying the alert
/// may have been queued.
#[test]
fn a_send_is_judged_by_who_answered_it() {
    for (status, content_type, body, code, says) in [
        (
            "200 OK",
            "text/plain",
            "hello",
            3,
            "not the webhook's answer",
        ),
        (
            "200 OK",
            "application/json",
            r#"{"ok":true}"#,
            3,
            "not the webhook's answer",
        ),
        (
            "404 Not Found",
            "text/html",
            "<html>404</html>",
            3,
            "is --url the webhook's URL",
        ),
        (
            "403 Forbidden",
            "application/json",
            r#"{"message":"Missing Authentication Token"}"#,
            3,
            "API Gateway has no such route",
        ),
        (
            "403 Forbidden",
            "application/json",
            r#"{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke"}"#,
            1,
            "API Gateway refused the request: User: anonymous",
        ),
        (
            "429 Too Many Requests",
            "application/json",
            r#"{"message":"Too Many Requests"}"#,
            1,
            "API Gateway refused the request: Too Many Requests",
        ),
        (
            "504 Gateway Timeout",
            "application/json",
            r#"{"message":"Endpoint request timed out"}"#,
            3,
            // With the time it sent, for the resend to deduplicate.
            "may have been queued: check `tvctl trades` before sending again, and resend with \
             --timenow 20",
        ),
        (
            "200 OK",
            "application/json",
            r#"{"signal_id":"0123456789abcdef0123456789abcdef","status":"enqueued"}"#,
            0,
            "200 ",
        ),
        (
            "422 Unprocessable Entity",
            "application/json",
            r#"{"error":{"code":"stale_alert","message":"too old"}}"#,
            1,
            "stale_alert",
        ),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let server = serve(listener, 1, answer);
        let url = format!("http://127.0.0.1:{port}/webhook");
        let (got, text) = tvctl(&["send", "oanda-eurusd-long", "--url", &url]);
        let _ = server.join();
        assert_eq!(got, code, "{status} {body}: {text}");
        assert!(text.contains(says), "{status} {body}: {text}");
    }
}

/// A 404 of a server that is not the local stack (a wrong `--base`), HTML or JSON of any
/// shape, is exit 3, as for no answer: exit 1 would read as the stack refusing or finding
/// nothing.
#[test]
fn a_read_answered_by_another_server_is_exit_3() {
    for (command, content_type, body) in [
        (
            "trades",
            "text/html",
            "<html><body>404 Not Found</body></html>",
        ),
        (
            "positions",
            "text/html",
            "<html><body>404 Not Found</body></html>",
        ),
        ("trades", "application/json", "[]"),
        ("positions", "application/json", r#""Not Found""#),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let server = serve(listener, 1, answer);
        let (code, text) = tvctl(&[command, "--base", &format!("http://127.0.0.1:{port}")]);
        let _ = server.join();
        assert_eq!(code, 3, "{command} {body}: {text}");
        assert!(text.contains("--base takes the stack's root URL"), "{text}");
    }
}

/// A real broker whose positions were not read is exit 3, as a status not read is for
/// `status`: a script must not take positions it was not shown for none. Read in full, 0.
#[test]
fn positions_not_read_from_a_broker_are_exit_3() {
    for (body, code, says) in [
        (
            r#"{"oanda":{},"real":["oanda"],"read_at":{},"read_errors":{"oanda":["EUR_USD: timed out"]}}"#,
            3,
            "oanda: not read from the broker: EUR_USD: timed out",
        ),
        (
            r#"{"oanda":{"EUR_USD":"1000"},"real":["oanda"],"read_at":{"oanda":"2026-12-05T06:00:00Z"},"read_errors":{}}"#,
            0,
            "oanda: (read from the broker at 2026-12-05T06:00:00Z) EUR_USD 1000",
        ),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve(listener, 1, json_answer("200 OK", body));
        let (got, text) = tvctl(&["positions", "--base", &format!("http://127.0.0.1:{port}")]);
        let seen = server.join().unwrap();
        assert!(seen[0].starts_with("GET /local/positions "), "{seen:?}");
        assert_eq!(got, code, "{body}: {text}");
        assert!(text.contains(says), "{text}");
    }
}

/// A deployed API's 403 (or any answer but the local stack's list) is not an empty
/// dead-letter queue: "0 message(s)" would tell an operator nothing was dead-lettered.
#[test]
fn a_dead_letter_list_that_is_not_one_is_never_shown_as_empty() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = r#"{"message":"Missing Authentication Token"}"#;
    let server = serve(listener, 1, json_answer("403 Forbidden", body));
    let (code, text) = tvctl(&[
        "dlq",
        "list",
        "--local",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let _ = server.join();
    assert_eq!(code, 3, "{text}");
    assert!(!text.contains("0 message(s)"), "{text}");
    assert!(
        text.contains("not the local stack's dead-letter list"),
        "{text}"
    );
}

/// `send --list` names every built-in sample, and says which ones the webhook refuses (they
/// are there to show a refusal) with the code it answers.
#[test]
fn the_sample_list_marks_the_samples_the_webhook_refuses() {
    let (code, text) = tvctl(&["send", "--list"]);
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert!(lines.contains(&"oanda-eurusd-long"), "{text}");
    assert!(lines.contains(&"tradovate-es-long"), "{text}");
    assert!(
        lines.contains(&"minimal-test-webhook  (an alert the webhook refuses: missing_field)"),
        "{text}"
    );
    assert!(
        lines.contains(
            &"unsubstituted-template  (an alert the webhook refuses: unsubstituted_placeholder)"
        ),
        "{text}"
    );
}

/// A webhook that refuses the secret tvctl sent when none was set (the local default) is told
/// so, with how to set the right one; one that refuses a secret that was set names where it
/// came from, never the secret itself.
#[test]
fn a_refused_default_secret_says_how_to_set_the_right_one() {
    let body = r#"{"error":{"code":"unauthorized","message":"unauthorized"}}"#;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let server = serve(listener, 1, json_answer("401 Unauthorized", body));
    let (code, text) = tvctl(&["send", "oanda-eurusd-long", "--url", &url]);
    server.join().unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("refused (401) with the local default secret")
            && text.contains("WEBHOOK_SECRET"),
        "{text}"
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let server = serve(listener, 1, json_answer("401 Unauthorized", body));
    let (code, text) = tvctl(&[
        "send",
        "oanda-eurusd-long",
        "--url",
        &url,
        "--passphrase",
        "a-secret-of-mine",
    ]);
    server.join().unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("local default secret"), "{text}");
    assert!(!text.contains("a-secret-of-mine"), "{text}");
    assert!(
        text.contains(
            "refused (401): tvctl sent the secret WEBHOOK_SECRET (or --passphrase) gives"
        ),
        "{text}"
    );
    // A secret in the URL's path is the one the webhook checked, whatever passphrase was
    // sent: named as such, not shown.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/webhook/wrong-secret-in-the-path",
        listener.local_addr().unwrap()
    );
    let server = serve(listener, 1, json_answer("401 Unauthorized", body));
    let (code, text) = tvctl(&["send", "oanda-eurusd-long", "--url", &url]);
    server.join().unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "refused (401) the secret in the --url path (after /webhook/), which the webhook \
             checks instead of the alert's passphrase"
        ) && !text.contains("local default secret"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret-in-the-path"), "{text}");
}

/// Answers every connection by `answer` until `stop` is set; returns what each request said.
fn serve_until(
    listener: TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    answer: impl Fn(&str) -> String + Send + 'static,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut socket, _)) => {
                    socket.set_nonblocking(false).unwrap();
                    socket
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    let mut buf = vec![0u8; 16 * 1024];
                    let got = socket.read(&mut buf).unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..got]).into_owned();
                    let _ = socket.write_all(answer(&request).as_bytes());
                    seen.push(request);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        seen
    })
}

/// `dlq replay --local` judges a letter's age by the stack's own limit (60 s), not the one
/// given (a `MAX_ALERT_AGE_SECS` in the shell, here 600 s), and says so: a letter 120 s old
/// is stale to the stack, so `--force` sends it forced. By the longer limit tvctl sent it
/// unforced, and the stack refused it as stale, asking for the `--force` just given.
#[test]
fn a_local_forced_replay_judges_age_by_the_stacks_limit() {
    let letter = local_letter_aged(120);
    let (base, stop, server) = local_stack_holding(letter, 60);
    let (code, text) = tvctl(&[
        "dlq",
        "replay",
        "--local",
        &base,
        "m-1",
        "--force",
        "--dry-run",
        "--max-age-secs",
        "600",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.join().unwrap();
    assert!(text.contains("would replay (forced)"), "{code}: {text}");
    assert!(
        text.contains("the local stack holds a 60 s alert age limit; --max-age-secs 600"),
        "{text}"
    );
}

/// A shorter limit given (`MAX_ALERT_AGE_SECS` 10 in the shell) does not refuse a letter the
/// stack takes (30 s old against its 60): it replays unforced, with a note naming both. By
/// the shorter limit tvctl refused it as stale.
#[test]
fn a_local_replay_is_not_refused_by_a_shorter_limit_given() {
    let letter = local_letter_aged(30);
    let (base, stop, server) = local_stack_holding(letter, 60);
    let (code, text) = tvctl(&[
        "dlq",
        "replay",
        "--local",
        &base,
        "m-1",
        "--dry-run",
        "--max-age-secs",
        "10",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.join().unwrap();
    assert!(
        text.contains("would replay") && !text.contains("would replay (forced)"),
        "{code}: {text}"
    );
    assert!(
        text.contains("the local stack holds a 60 s alert age limit; --max-age-secs 10"),
        "{text}"
    );
}

/// A letter just past the stack's limit (31 s against 30) is refused unforced, and the
/// refusal does not suggest the look-up-only replay the stack would refuse now (it takes one
/// only past the limit and the clocks' 5 s): it says when. It suggested one, which answered
/// "replay it without --lookup-only": each command sent the trader to the other.
#[test]
fn a_refusal_suggests_a_lookup_only_replay_only_when_it_would_be_taken() {
    let letter = local_letter_aged(31);
    let (base, stop, server) = local_stack_holding(letter, 30);
    let (code, text) = tvctl(&["dlq", "replay", "--local", &base, "m-1", "--dry-run"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.join().unwrap();
    assert!(
        text.contains("over the 30 s max age; replay with --lookup-only once it is over 35 s old"),
        "{code}: {text}"
    );
}

/// A local stack as tvctl's replay reads it, on a free port: `/local/settings` with an age
/// limit of `max_age_secs`, `/local/dlq` listing `letter`, no queues. Its base URL, the flag
/// that stops it, and its thread (the requests it saw).
fn local_stack_holding(
    letter: String,
    max_age_secs: u32,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<Vec<String>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let settings = format!(r#"{{"max_alert_age_secs":{max_age_secs},"max_clock_skew_secs":5}}"#);
    let server = serve_until(listener, stop.clone(), move |request| {
        let path = request.split(' ').nth(1).unwrap_or("");
        if path.starts_with("/local/settings") {
            json_answer("200 OK", &settings)
        } else if path.starts_with("/local/dlq?") {
            json_answer("200 OK", &letter)
        } else if path.starts_with("/local/queues") {
            json_answer("200 OK", "[]")
        } else {
            json_answer("404 Not Found", r#"{"error":"not found"}"#)
        }
    });
    (format!("http://127.0.0.1:{port}"), stop, server)
}

/// A local dead-letter listing holding one letter, `m-1`: the sample OANDA long entry whose
/// `timenow` is `age_secs` old.
fn local_letter_aged(age_secs: i64) -> String {
    let alert = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/tests/alerts/oanda-eurusd-long.json"),
    )
    .unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&alert).unwrap();
    let now = shared::clock::Clock::now(&shared::clock::SystemClock);
    let t = (now - chrono::Duration::seconds(age_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    doc["market_data"]["timenow"] = serde_json::json!(t);
    doc["market_data"]["timestamp"] = serde_json::json!(t);
    let valid = shared::alert::RawAlert::parse(doc.to_string().as_bytes())
        .unwrap()
        .validate()
        .unwrap();
    let message = shared::message::SignalMessage {
        version: shared::message::SIGNAL_VERSION,
        signal_id: valid.signal_id.clone(),
        received_at: now,
        enqueued_at: now,
        alert: valid.alert,
        raw: valid.canonical,
        replay_forced: false,
    };
    serde_json::json!([{
        "message_id": "m-1",
        "group": message.group_id(),
        "receive_count": 5,
        "body": serde_json::to_string(&message).unwrap(),
    }])
    .to_string()
}

/// `dlq replay --local --lookup-only` judges a letter's age by the stack's own limit (120 s),
/// not the one given (a `MAX_ALERT_AGE_SECS` in the shell, here 30 s): a letter 60 s old is
/// younger than the stack's limit, and sent back unforced its executor would trade it.
/// Refused by tvctl before anything is sent back, where the shorter limit said "would
/// replay (look-up only)".
#[test]
fn a_local_lookup_only_replay_judges_age_by_the_stacks_limit() {
    let letter = local_letter_aged(60);
    let (base, stop, server) = local_stack_holding(letter, 120);
    let (code, text) = tvctl(&[
        "dlq",
        "replay",
        "--local",
        &base,
        "--all",
        "--lookup-only",
        "--dry-run",
        "--max-age-secs",
        "30",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = server.join().unwrap();
    assert!(
        seen.iter().any(|r| r.starts_with("GET /local/settings ")),
        "{seen:?}"
    );
    assert!(!text.contains("would replay"), "{text}");
    assert!(text.contains("would be refused"), "{code}: {text}");
}
