//! A local stack safe to leave running: web pages are refused (an `Origin` header, a host name
//! that is not loopback), a slow request is dropped, and the stack does not start with the
//! README's default secret when a real broker is configured.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_web_page_cannot_post_an_alert() {
    let stack = common::start().await;
    let body = common::alert("oanda-eurusd-long", local_stack::LOCAL_SECRET);
    let client = reqwest::Client::new();
    // What a page on another site sends: a CORS simple request, text/plain, with its origin.
    let resp = client
        .post(format!("{}/webhook", stack.base))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "browser_request");
    // The secret in the path is refused the same way, and the refusal's log line does not
    // carry it (the suite's log audit fails on the local secret in any captured line).
    let resp = client
        .post(format!(
            "{}/webhook/{}",
            stack.base,
            local_stack::LOCAL_SECRET
        ))
        .header("origin", "https://evil.example")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Even the stack's own origin may not post (the dashboard only reads).
    let own = stack.base.clone();
    let resp = client
        .post(format!("{}/webhook", stack.base))
        .header("origin", own.as_str())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // A DNS name pointing at 127.0.0.1 (rebinding) is not the stack's host.
    let resp = client
        .post(format!("{}/webhook", stack.base))
        .header("host", "evil.example:8080")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "forbidden_host");
    // Nothing of it reached the queues; the same alert without a browser's marks is traded.
    let state = common::get_json(&stack.base, "/dashboard/state").await;
    assert_eq!(state["signals"], serde_json::json!([]), "{state}");
    let (status, reply) = common::post(&stack.base, "oanda-eurusd-long").await;
    assert_eq!(status, 200, "{reply}");
    // The dashboard's own reads (a GET from its own origin) still work.
    let resp = client
        .get(format!("{}/dashboard/state", stack.base))
        .header("origin", own.as_str())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A page's no-cors GET (an image of another site pointing here) carries no Origin, but
    // Fetch Metadata names the site: refused, so no page has the stack read a broker.
    for site in ["cross-site", "same-site"] {
        let resp = client
            .get(format!("{}/local/positions", stack.base))
            .header("sec-fetch-site", site)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{site}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "browser_request");
    }
    // The address typed in the bar (`none`) reads the page.
    let resp = client
        .get(format!("{}/local/positions", stack.base))
        .header("sec-fetch-site", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Sends `head` on a raw connection and returns how long the stack kept it open (bounded).
fn held_open(addr: &str, head: &[u8], limit: Duration) -> (Duration, Vec<u8>) {
    // Timed from before the connection: the server's timer starts once it has accepted, so
    // a client slow to write cannot make the hold look shorter than the server's timeout.
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(head).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    (start.elapsed(), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_bodies_are_dropped() {
    let stack = common::start().await;
    let addr = stack.base.trim_start_matches("http://").to_owned();
    let limit = Duration::from_secs(30);
    // Headers that never end: the connection is closed after the header timeout.
    let a = addr.clone();
    let (held, _) = tokio::task::spawn_blocking(move || {
        held_open(&a, b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n", limit)
    })
    .await
    .unwrap();
    assert!(
        held >= local_stack::HEADER_TIMEOUT - Duration::from_millis(500) && held < limit,
        "held {held:?}"
    );
    // A body that never comes: 408 after the body timeout.
    let (held, answer) = tokio::task::spawn_blocking(move || {
        held_open(
            &addr,
            b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n{\"action\"",
            limit,
        )
    })
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(held < limit, "held {held:?}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_by_name() {
    let stack = common::start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/webhook", stack.base))
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let v: serde_json::Value = resp.json().await.unwrap();
    // The code ingest gives a body over its 16 KiB, whichever limit stopped the read.
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("16384"),
        "{v}"
    );
}

/// A method a route does not answer gets 405 with the `Allow` header naming those it does
/// (RFC 9110, 15.5.6), from ingest's routes and the stack's own alike.
#[tokio::test]
async fn a_405_names_the_methods_its_route_answers() {
    let stack = common::start().await;
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        (reqwest::Method::GET, "/webhook".to_owned(), "POST"),
        (
            reqwest::Method::PUT,
            format!("/webhook/{}", local_stack::LOCAL_SECRET),
            "POST",
        ),
        (reqwest::Method::POST, "/healthcheck".to_owned(), "GET"),
        (reqwest::Method::POST, "/oandastatus".to_owned(), "GET"),
    ] {
        let resp = client
            .request(method.clone(), format!("{}{path}", stack.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(
            resp.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
    }
}

/// A visibility timeout of 0 (or less) let a message come back while its signal executed and
/// a second executor take it over at once (its lease is made of the visibility): one order
/// filled twice. Such settings are refused at start, by name, as is a webhook secret the
/// deployed webhook would refuse (`tvctl dev --secret x` refused every alert instead).
#[tokio::test]
async fn queue_settings_that_would_execute_a_signal_twice_are_refused() {
    local_stack::console::set_quiet(true);
    let env = shared::config::MapEnv::new(Vec::<(&str, &str)>::new());
    for (visibility_ms, max_receives, named) in [
        (0, 5, "the visibility timeout is 0 s"),
        (-5_000, 5, "the visibility timeout is -5 s"),
        (500, 5, "the visibility timeout is 0.5 s"),
        (4_000, 5, "the visibility timeout is 4 s"),
        (43_201_000, 5, "the visibility timeout is 43201 s"),
        (5_000, 2, "max receives is 2"),
    ] {
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: "sqlite::memory:".into(),
            visibility_timeout: chrono::Duration::milliseconds(visibility_ms),
            max_receives,
            ..Default::default()
        };
        let err = local_stack::start(cfg, &env).await.unwrap_err();
        assert!(err.starts_with(named), "{err}");
    }
    // A secret the deployed webhook would refuse is refused here too, by its rule.
    for (secret, rule) in [
        ("x", "at least 16 characters"),
        ("abc/defghijklmnopq", "must be URL-safe"),
        // Standard clients percent-encode these in a path, which ingest would not match.
        ("abcdefgh\u{e9}ijklmnop", "must be URL-safe"),
        ("abcdefgh\tijklmnop", "must be URL-safe"),
    ] {
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: "sqlite::memory:".into(),
            secret: secret.into(),
            ..Default::default()
        };
        let err = local_stack::start(cfg, &env).await.unwrap_err();
        // Named as both places the trader may have set it.
        assert!(
            err.starts_with("the webhook secret (--secret or WEBHOOK_SECRET) ")
                && err.contains(rule),
            "{err}"
        );
        assert!(secret.len() < 4 || !err.contains(secret), "{err}");
    }
    // The smallest accepted visibility starts.
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        visibility_timeout: chrono::Duration::seconds(5),
        ..Default::default()
    };
    local_stack::start(cfg, &env).await.unwrap();
}

/// Each local executor's risk settings size and cap its orders, as each executor Lambda's
/// `RISK_CONFIG` does (they were read by none of them here, while refusals told the trader to
/// set them): `OANDA_RISK_CONFIG` and the like. The plain name is refused, naming those (one
/// file would size each broker in another's units), and a file that does not parse fails the
/// start, naming its setting.
#[tokio::test]
async fn each_executors_risk_settings_size_its_orders() {
    local_stack::console::set_quiet(true);
    let cfg = || local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        ..Default::default()
    };
    let env = shared::config::MapEnv::new([(
        "OANDA_RISK_CONFIG",
        "default_max_position = \"10000\"\n[classes.fx]\nsize = \"2500\"\n",
    )]);
    let stack = local_stack::start(cfg(), &env).await.unwrap();
    let base = format!("http://{}", stack.addr);
    for name in ["oanda-eurusd-long", "coinbase-btcusd-long"] {
        let (status, reply) = common::post(&base, name).await;
        assert_eq!(status, 200, "{reply}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let paper = common::get_json(&base, "/local/positions").await;
        // OANDA's own size; Coinbase kept its default (100 USD spent of 10,000).
        let usd = paper["coinbase"]["USD"]
            .as_str()
            .and_then(|u| u.parse::<f64>().ok());
        if paper["oanda"]["EUR_USD"] == "2500" && usd.is_some_and(|u| (9899.0..9901.0).contains(&u))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{paper}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shared_file =
        shared::config::MapEnv::new([("RISK_CONFIG", "default_max_position = \"1\"\n")]);
    let err = local_stack::start(cfg(), &shared_file).await.unwrap_err();
    assert!(
        err.contains("OANDA_RISK_CONFIG") && err.contains("COINBASE_RISK_CONFIG"),
        "{err}"
    );
    let bad =
        shared::config::MapEnv::new([("TRADOVATE_RISK_CONFIG", "[classes.futures]\nsize = 2\n")]);
    let err = local_stack::start(cfg(), &bad).await.unwrap_err();
    assert!(
        err.starts_with("setting TRADOVATE_RISK_CONFIG is invalid"),
        "{err}"
    );
    // Set but empty is not unset: refused, naming it, rather than trading the defaults.
    let blank = shared::config::MapEnv::new([("OANDA_RISK_CONFIG", "")]);
    let err = local_stack::start(cfg(), &blank).await.unwrap_err();
    assert!(
        err.starts_with("setting OANDA_RISK_CONFIG is invalid: it is set but empty"),
        "{err}"
    );
    // A contract in a month the routing table never trades (ES: H, M, U, Z): refused.
    let month = shared::config::MapEnv::new([(
        "TRADOVATE_RISK_CONFIG",
        "default_max_position = \"5\"\n[instruments.ESF7]\nsize = \"1\"\n",
    )]);
    let err = local_stack::start(cfg(), &month).await.unwrap_err();
    assert!(
        err.starts_with(
            "setting TRADOVATE_RISK_CONFIG is invalid: instruments.ESF7: there is no F contract of ES to route to (the embedded routing table lists ES in the months H, M, U, Z only)"
        ),
        "{err}"
    );
    // A routing table variable set but empty: refused, not read as the embedded table.
    let blank_table = shared::config::MapEnv::new([("ROUTING_TABLE_FILE", " ")]);
    let err = local_stack::start(cfg(), &blank_table).await.unwrap_err();
    assert!(
        err.starts_with("setting ROUTING_TABLE_FILE is invalid: it is set but empty"),
        "{err}"
    );
    // A section under the TradingView symbol would never apply: refused, naming it.
    let symbol = shared::config::MapEnv::new([(
        "OANDA_RISK_CONFIG",
        "default_max_position = \"10000\"\n[instruments.EURUSD]\nsize = \"7\"\n",
    )]);
    let err = local_stack::start(cfg(), &symbol).await.unwrap_err();
    assert!(
        err.starts_with("setting OANDA_RISK_CONFIG is invalid: instruments.EURUSD:"),
        "{err}"
    );
    // The same from a file: the error names the file's setting, where the trader looks.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oanda-risk.toml");
    std::fs::write(
        &file,
        "default_max_position = \"10000\"\n[instruments.EURUSD]\nsize = \"7\"\n",
    )
    .unwrap();
    let from_file =
        shared::config::MapEnv::new([("OANDA_RISK_CONFIG_FILE", file.to_str().unwrap())]);
    let err = local_stack::start(cfg(), &from_file).await.unwrap_err();
    assert!(
        err.starts_with("setting OANDA_RISK_CONFIG_FILE is invalid: instruments.EURUSD:"),
        "{err}"
    );
}

/// A PostgreSQL journal that cannot be reached fails the start, naming the journal's kind
/// and never its URL (before, paper orders filled while every journal write failed, with
/// nothing on the console).
#[tokio::test]
async fn an_unreachable_postgresql_journal_fails_the_start() {
    local_stack::console::set_quiet(true);
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "postgres://trader:pg-pw-5f2c@127.0.0.1:1/journal".into(),
        ..Default::default()
    };
    let env = shared::config::MapEnv::new(Vec::<(&str, &str)>::new());
    // Nothing listens on port 1: refused at once, said so, not waited out for seconds.
    let started = std::time::Instant::now();
    let err = local_stack::start(cfg, &env).await.unwrap_err();
    assert!(
        err.starts_with("the journal (a PostgreSQL URL (not shown)) cannot be used")
            && err.contains("connection refused"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{err}"
    );
    assert!(
        !err.contains("pg-pw-5f2c") && !err.contains("trader"),
        "{err}"
    );
}

/// A journal path that is a directory or a device, or an empty journal setting, fails the
/// start by name, and before anything is made: no state file, no log beside it.
#[tokio::test]
async fn a_journal_path_that_is_not_a_file_fails_the_start_and_makes_nothing() {
    local_stack::console::set_quiet(true);
    let dir = tempfile::tempdir().unwrap();
    let env = shared::config::MapEnv::new(Vec::<(&str, &str)>::new());
    let taken = dir.path().join("journal.sqlite");
    std::fs::create_dir(&taken).unwrap();
    for (journal, expected) in [
        (taken.display().to_string(), "is a directory, not a file"),
        ("/dev/null".to_owned(), "is not a regular file"),
        (String::new(), "the journal setting is empty"),
        ("  ".to_owned(), "the journal setting is empty"),
    ] {
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: journal.clone(),
            ..Default::default()
        };
        let err = local_stack::start(cfg, &env).await.unwrap_err();
        assert!(err.contains(expected), "{journal:?}: {err}");
    }
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(made, vec![std::ffi::OsString::from("journal.sqlite")]);
    assert!(!std::path::Path::new("/dev/null.state.sqlite").exists());
    // A port in use fails the start before the journal, the state file or the log is made.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = local_stack::LocalConfig {
        port: taken.local_addr().unwrap().port(),
        journal_url: dir.path().join("busy.sqlite").display().to_string(),
        ..Default::default()
    };
    let err = local_stack::start(cfg, &env).await.unwrap_err();
    assert!(err.starts_with("cannot listen on 127.0.0.1:"), "{err}");
    assert!(err.contains("--port or TVCTL_PORT"), "{err}");
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(made, vec![std::ffi::OsString::from("journal.sqlite")]);
    // A state path that is a directory is refused the same way.
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: dir.path().join("j.sqlite").display().to_string(),
        state_path: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let err = local_stack::start(cfg, &env).await.unwrap_err();
    assert!(err.contains("the state file"), "{err}");
    assert!(err.contains("is a directory"), "{err}");
}

/// A real broker's base URL that is not https (or http to this machine) fails the start by
/// the variable's name: the token would cross the network readable, or go nowhere sensible.
/// The journal, the state file, their SQLite logs, the state's lock and queue file and the
/// handlers' log are each a file of their own: a start that would write one file as two of
/// them is refused by name, however the paths are spelled, before it makes or changes a file.
#[tokio::test]
async fn a_start_whose_files_would_overlap_is_refused_and_changes_nothing() {
    local_stack::console::set_quiet(true);
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path();
    let env = shared::config::MapEnv::new(Vec::<(&str, &str)>::new());
    // An existing database and a stack's state file (SQLite's header is what marks them),
    // with their side files; and a file that is no database.
    let db = |name: &str| {
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend_from_slice(name.as_bytes());
        std::fs::write(k.join(name), bytes).unwrap();
    };
    db("x.sqlite");
    db("run.state.sqlite");
    std::fs::write(k.join("run.state.sqlite.lock"), b"").unwrap();
    std::fs::write(k.join("hard.sqlite"), b"hard").unwrap();
    std::fs::hard_link(k.join("hard.sqlite"), k.join("hard-too.sqlite")).unwrap();
    // Links to journals not made yet: SQLite would make the journal's file through them, and
    // its side files beside that file.
    std::os::unix::fs::symlink("t.sqlite", k.join("link.sqlite")).unwrap();
    std::fs::create_dir(k.join("sub")).unwrap();
    std::os::unix::fs::symlink("sub/t.sqlite", k.join("sublink.sqlite")).unwrap();
    // A link to a directory not made yet.
    std::os::unix::fs::symlink("notyet", k.join("dl")).unwrap();
    let p = |name: &str| k.join(name).display().to_string();
    // A journal and a state file of stacks that have stopped.
    let journal = journal::SqliteJournal::connect(&p("old.sqlite"))
        .await
        .unwrap();
    journal.pool().close().await;
    drop(local_store::LocalStore::open(&k.join("old-state.sqlite")).unwrap());
    let before = listing(k);
    for (journal, state, expected) in [
        (
            p("t.sqlite"),
            Some(p("t.sqlite")),
            "the journal and the state file would be one file",
        ),
        (
            p("t.sqlite"),
            Some(p("sub/../t.sqlite")),
            "the journal and the state file would be one file",
        ),
        (
            p("t.sqlite"),
            Some(p("link.sqlite")),
            "the journal and the state file would be one file",
        ),
        (
            p("hard.sqlite"),
            Some(p("hard-too.sqlite")),
            "the journal and the state file would be one file",
        ),
        (
            p("new/../t.sqlite"),
            Some(p("t.sqlite-wal")),
            "the state file and the journal's write-ahead log would be one file",
        ),
        (
            p("new/../t.sqlite"),
            Some(p("t.sqlite")),
            "the journal and the state file would be one file",
        ),
        (
            p("sublink.sqlite"),
            Some(p("sub/t.sqlite-wal")),
            "the state file and the journal's write-ahead log would be one file",
        ),
        (
            p("dl/s.sqlite"),
            Some(p("notyet/s.sqlite")),
            "the journal and the state file would be one file",
        ),
        (p("t.sqlite/"), None, "is a directory's path"),
        (
            p("t.sqlite"),
            Some(p("s.sqlite/.")),
            "is a directory's path",
        ),
        (p("new/.."), None, "is a directory's path"),
        (
            p("old-state.sqlite"),
            Some(p("s.sqlite")),
            "is a local stack's state file (it has the `idempotency` table)",
        ),
        (
            p("t.sqlite"),
            Some(p("old.sqlite")),
            "is a journal (it has the `signals` table)",
        ),
        (
            p("t.sqlite"),
            Some(p("t.sqlite-wal")),
            "the state file and the journal's write-ahead log would be one file",
        ),
        (
            p("t.sqlite-wal"),
            Some(p("t.sqlite")),
            "the journal and the state file's write-ahead log would be one file",
        ),
        (
            p("s.sqlite.queues"),
            Some(p("s.sqlite")),
            "the journal and the queue file would be one file",
        ),
        (p("x.sqlite-wal"), None, "is the SQLite write-ahead log of"),
        (
            p("t.sqlite"),
            Some(p("run.state.sqlite.lock")),
            "is the lock of",
        ),
        (
            p("t.sqlite"),
            Some(p("run.state.sqlite.queues")),
            "is the queue file of",
        ),
        (
            p("t.state.sqlite"),
            None,
            "is named as a local stack's state file",
        ),
        // The journal URL's parameters: each refused by its key, before anything is made.
        (
            format!("sqlite://{}?mode=rw", p("none.sqlite")),
            None,
            "no journal at",
        ),
        (
            format!("sqlite://{}?MODE=rwc", p("t.sqlite")),
            None,
            "a parameter \"MODE\" that SQLite does not read",
        ),
        (p("j?x.sqlite"), None, "a parameter \"x.sqlite\""),
        (
            format!("sqlite://{}?mode=ro", p("old.sqlite")),
            None,
            "\"mode\" would open it read-only",
        ),
        (
            format!("sqlite://{}?immutable=1", p("t.sqlite")),
            None,
            "\"immutable\" would open it read-only",
        ),
        (
            format!("sqlite://{}?vfs=nope", p("t.sqlite")),
            None,
            "\"vfs\" has a value SQLite does not read here",
        ),
        (
            format!("sqlite://{}?cache=both", p("t.sqlite")),
            None,
            "\"cache\" has a value SQLite does not read here",
        ),
        (
            "sqlite::memory:?bogus=1".into(),
            Some(p("mem.state.sqlite")),
            "a parameter \"bogus\" that SQLite does not read",
        ),
    ] {
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: journal.clone(),
            state_path: state.clone().map(Into::into),
            ..Default::default()
        };
        let Err(err) = local_stack::start(cfg, &env).await else {
            panic!("{journal} / {state:?} started");
        };
        assert!(err.contains(expected), "{journal} / {state:?}: {err}");
        // A parameter is named by its key, never its value.
        assert!(!err.contains("nope") && !err.contains("both"), "{err}");
        assert_eq!(listing(k), before, "{journal} / {state:?}");
    }
    for name in ["x.sqlite", "run.state.sqlite"] {
        assert!(
            std::fs::read(k.join(name))
                .unwrap()
                .ends_with(name.as_bytes()),
            "{name} changed"
        );
    }
    // Apart, the same names start (a name's stem that is no database is no matter); and a
    // second stack is not let write the running one's journal or state file, under any name,
    // nor makes a file trying.
    std::fs::write(k.join("trade"), b"notes").unwrap();
    // The handlers' log never takes the journal's name: the next name that is free.
    let named = local_stack::LocalConfig {
        journal_url: p("t.sqlite.log"),
        state_path: Some(k.join("t.sqlite")),
        ..Default::default()
    };
    assert_eq!(named.log_file(), Some(k.join("t.sqlite.handlers.log")));
    // The log, as `tvctl dev` makes it before the start, is locked with the databases.
    std::fs::write(k.join("s.sqlite.log"), b"").unwrap();
    let on = |journal: &str, state: &str| local_stack::LocalConfig {
        port: 0,
        journal_url: p(journal),
        state_path: Some(k.join(state)),
        ..Default::default()
    };
    let _running = local_stack::start(on("t.sqlite", "s.sqlite"), &env)
        .await
        .unwrap();
    let _other = local_stack::start(on("trade-journal", "trade.lock"), &env)
        .await
        .unwrap();
    std::fs::hard_link(k.join("t.sqlite"), k.join("t-hard.sqlite")).unwrap();
    std::os::unix::fs::symlink("s.sqlite", k.join("s-link.sqlite")).unwrap();
    std::fs::hard_link(k.join("s.sqlite"), k.join("s-hard.sqlite")).unwrap();
    let before = listing(k);
    for (journal, state, what) in [
        ("t.sqlite", "s2.sqlite", "journal"),
        ("t-hard.sqlite", "s2.sqlite", "journal"),
        ("link.sqlite", "s2.sqlite", "journal"),
        ("j2.sqlite", "s.sqlite", "state file"),
        ("j2.sqlite", "s-link.sqlite", "state file"),
        ("j2.sqlite", "s-hard.sqlite", "state file"),
        ("s.sqlite.log", "s3.sqlite", "journal"),
    ] {
        let err = local_stack::start(on(journal, state), &env)
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!("the {what} "))
                && err.contains("is in use by another process"),
            "{journal} / {state}: {err}"
        );
        assert_eq!(listing(k), before, "{journal} / {state}");
    }
}

/// The names in `dir` with their sizes, sorted.
fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let size = std::fs::symlink_metadata(e.path()).unwrap().len();
            (e.file_name().to_string_lossy().into_owned(), size)
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_real_brokers_base_url_must_be_https() {
    local_stack::console::set_quiet(true);
    for (url, why) in [
        ("http://api-fxtrade.oanda.com", "plain http"),
        ("ftp://api-fxtrade.oanda.com", "scheme"),
        ("not a url", "is not a URL"),
    ] {
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: "sqlite::memory:".into(),
            secret: "a-secret-of-its-own-1234".into(),
            ..Default::default()
        };
        let env = shared::config::MapEnv::new([
            ("OANDA_BASE_URL", url),
            ("OANDA_ACCOUNT", "101-004-1234567-001"),
            ("OANDA_SECRET", "token-0123456789abcdef"),
        ]);
        let err = local_stack::start(cfg, &env).await.unwrap_err();
        assert!(err.starts_with("OANDA_BASE_URL"), "{url}: {err}");
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("token-0123"), "{err}");
    }
}

#[tokio::test]
async fn a_real_broker_needs_a_secret_of_its_own() {
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        ..Default::default()
    };
    let env = shared::config::MapEnv::new([
        ("OANDA_BASE_URL", fake.url.as_str()),
        ("OANDA_ACCOUNT", fake.account.as_str()),
        ("OANDA_SECRET", fake.token.as_str()),
    ]);
    let err = local_stack::start(cfg, &env).await.unwrap_err();
    assert!(err.contains("WEBHOOK_SECRET"), "{err}");
    assert!(err.contains("oanda"), "{err}");
    // A broker set only in part is an error naming what is missing, not paper.
    let cfg = local_stack::LocalConfig {
        port: 0,
        journal_url: "sqlite::memory:".into(),
        secret: common::REAL_BROKER_SECRET.into(),
        ..Default::default()
    };
    let partial = shared::config::MapEnv::new([("OANDA_ACCOUNT", fake.account.as_str())]);
    let err = local_stack::start(cfg, &partial).await.unwrap_err();
    assert_eq!(err, "missing setting OANDA_SECRET or OANDA_SECRET_PARAM");
}

/// A real broker with the queues and idempotency records in memory: a crash would lose an
/// accepted alert or let its resend trade again, so the stack does not start; a journal
/// file in any form sqlx reads (`sqlite:` and `sqlite://` URLs too) keeps a state file
/// beside it, and so does a state path given with a journal that is not a file.
#[tokio::test]
async fn a_real_broker_needs_its_state_in_a_file() {
    local_stack::console::set_quiet(true);
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let env = shared::config::MapEnv::new([
        ("OANDA_BASE_URL", fake.url.as_str()),
        ("OANDA_ACCOUNT", fake.account.as_str()),
        ("OANDA_SECRET", fake.token.as_str()),
    ]);
    let real =
        |journal_url: String, state_path: Option<std::path::PathBuf>| local_stack::LocalConfig {
            port: 0,
            journal_url,
            state_path,
            secret: common::REAL_BROKER_SECRET.into(),
            ..Default::default()
        };
    for (url, shown) in [
        ("sqlite::memory:", "SQLite in memory"),
        ("sqlite://?mode=memory", "SQLite in memory"),
        ("sqlite:j.sqlite?mode=m%65mory", "SQLite in memory"),
        (
            "postgres://trader:pg/password-1@127.0.0.1:1/journal?password=pg-password-2",
            "a PostgreSQL URL (not shown)",
        ),
    ] {
        let err = local_stack::start(real(url.into(), None), &env)
            .await
            .unwrap_err();
        assert!(err.contains("refusing to start"), "{url}: {err}");
        assert!(err.contains("in memory") && err.contains("oanda"), "{err}");
        assert!(err.contains("--state"), "{err}");
        assert!(err.contains(&format!("({shown})")), "{err}");
        for secret in [fake.token.as_str(), "pg-password", "trader"] {
            assert!(!err.contains(secret), "{err}");
        }
    }
    // Judged before a broker client logs in: a Tradovate that cannot be reached is not
    // what the start reports.
    let tradovate = shared::config::MapEnv::new([
        ("TRADOVATE_BASE_URL", "http://127.0.0.1:1"),
        ("TRADOVATE_USERNAME", "u"),
        ("TRADOVATE_PASSWORD", "p"),
        ("TRADOVATE_APP_ID", "a"),
        ("TRADOVATE_DEVICE_ID", "d"),
        ("TRADOVATE_CID", "1"),
        ("TRADOVATE_SEC", "s"),
    ]);
    let err = local_stack::start(real("sqlite::memory:".into(), None), &tradovate)
        .await
        .unwrap_err();
    assert!(
        err.starts_with("refusing to start: a real broker is configured (tradovate)"),
        "{err}"
    );
    // A SQLite URI filename would open the file while its lock is taken on another name;
    // libpq's key=value settings would become a file's name. Refused, and not echoed.
    for (journal_url, state_path, why) in [
        ("sqlite:file:j.sqlite", None, "SQLite URI"),
        (
            "j.sqlite",
            Some("file:s.sqlite".into()),
            "not a file's path",
        ),
        (
            "sqlite::memory:",
            Some(":memory:".into()),
            "not a file's path",
        ),
        (
            "host=db user=trader password=pg-pw dbname=j",
            None,
            "settings",
        ),
        ("host=db user=trader dbname=j", None, "key=value"),
    ] {
        let err = local_stack::start(real(journal_url.into(), state_path), &env)
            .await
            .unwrap_err();
        assert!(err.contains(why), "{err}");
        assert!(!err.contains("pg-pw") && !err.contains("trader"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    // `sqlite:` with a relative-looking path under the temporary directory, and a parameter.
    let url = format!("sqlite:{}/sub/j.sqlite?mode=rwc", dir.path().display());
    let cfg = real(url, None);
    let state = dir.path().join("sub/j.state.sqlite");
    assert_eq!(cfg.state_file().as_deref(), Some(state.as_path()));
    local_stack::start(cfg, &env).await.unwrap();
    assert!(state.exists() && dir.path().join("sub/j.sqlite").exists());
    // A journal that is not a file, with a state path of its own.
    let kept = dir.path().join("kept.state.sqlite");
    local_stack::start(real("sqlite::memory:".into(), Some(kept.clone())), &env)
        .await
        .unwrap();
    assert!(kept.exists());
    // A journal file whose directory is not the state file's, with an escaped space.
    let url = format!("sqlite://{}/my%20journal/j.sqlite", dir.path().display());
    let state = dir.path().join("elsewhere.sqlite");
    local_stack::start(real(url, Some(state.clone())), &env)
        .await
        .unwrap();
    assert!(dir.path().join("my journal/j.sqlite").exists() && state.exists());
    // `mode=rw` on a journal that exists starts (refused above where none is).
    let existing = dir.path().join("rw.sqlite");
    let made = journal::SqliteJournal::connect(existing.to_str().unwrap())
        .await
        .unwrap();
    made.pool().close().await;
    drop(made);
    let url = format!("sqlite://{}?mode=rw&cache=private", existing.display());
    local_stack::start(real(url, None), &env).await.unwrap();
    assert!(dir.path().join("rw.state.sqlite").exists());
    // Parameters SQLite reads and a writing journal can take start, as sqlx splits them.
    for (name, params) in [
        ("q", "?"),
        ("amp", "?&"),
        ("shared", "?cache=shared"),
        ("mutable", "?immutable=0"),
        ("dotfile", "?vfs=unix-dotfile&mode=rwc"),
    ] {
        let url = format!("sqlite://{}/{name}.sqlite{params}", dir.path().display());
        local_stack::start(real(url.clone(), None), &env)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(dir.path().join(format!("{name}.sqlite")).exists(), "{url}");
    }
}

/// With a real broker configured the state file, the queues' file and the journal sync each
/// commit to disk: a claim lost with a power cut would let the restart send its signal's
/// orders again. On paper they do not (an `fsync` per commit would cap the signal rate).
#[tokio::test]
async fn a_real_brokers_files_are_synced_at_each_commit_and_paper_ones_are_not() {
    local_stack::console::set_quiet(true);
    let fake = broker_fakes::oanda::FakeOanda::start().await;
    let real = shared::config::MapEnv::new([
        ("OANDA_BASE_URL", fake.url.as_str()),
        ("OANDA_ACCOUNT", fake.account.as_str()),
        ("OANDA_SECRET", fake.token.as_str()),
    ]);
    let paper = shared::config::MapEnv::new(Vec::<(String, String)>::new());
    let dir = tempfile::tempdir().unwrap();
    for (name, env, durability, level) in [
        ("real", &real, shared::ports::Durability::PowerLoss, 2),
        ("paper", &paper, shared::ports::Durability::ProcessCrash, 1),
    ] {
        let cfg = local_stack::LocalConfig {
            port: 0,
            journal_url: dir
                .path()
                .join(format!("{name}.sqlite"))
                .display()
                .to_string(),
            secret: common::REAL_BROKER_SECRET.into(),
            ..Default::default()
        };
        let stack = local_stack::start(cfg, env).await.unwrap();
        assert_eq!(stack.state.durability(), Ok(durability), "{name}");
        let journal::AnyJournal::Sqlite(j) = &stack.journal else {
            panic!("{name}: a SQLite journal expected");
        };
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(j.pool())
            .await
            .unwrap();
        assert_eq!(synchronous, level, "{name}: the journal's synchronous");
        assert_eq!(
            j.writer_synchronous(),
            Some(level),
            "{name}: the journal writer's synchronous"
        );
    }
}

#[test]
fn the_lease_ends_before_the_last_receive() {
    let cfg = local_stack::LocalConfig::default();
    // 5 receives, 5 s apart: the fifth comes 20 s after the first at the soonest.
    assert_eq!(cfg.lease(), chrono::Duration::seconds(15));
    assert!(cfg.lease() < cfg.visibility_timeout * (cfg.max_receives as i32 - 1));
    let one = local_stack::LocalConfig {
        visibility_timeout: chrono::Duration::seconds(1),
        max_receives: 2,
        ..Default::default()
    };
    assert_eq!(one.lease(), chrono::Duration::seconds(1));
    let files = local_stack::LocalConfig {
        journal_url: "/tmp/x/journal.sqlite".into(),
        ..Default::default()
    };
    assert_eq!(
        files.state_file().unwrap(),
        std::path::Path::new("/tmp/x/journal.state.sqlite")
    );
    assert_eq!(
        files.log_file().unwrap(),
        std::path::Path::new("/tmp/x/journal.log")
    );
    let memory = local_stack::LocalConfig {
        journal_url: "sqlite::memory:".into(),
        ..Default::default()
    };
    assert_eq!(memory.state_file(), None);
    // Every form sqlx opens as a file keeps its state beside it; only memory and other
    // databases do not.
    let state = |journal_url: &str| {
        local_stack::LocalConfig {
            journal_url: journal_url.into(),
            ..Default::default()
        }
        .state_file()
    };
    let beside = Some(std::path::PathBuf::from("data/j.state.sqlite"));
    assert_eq!(
        state("sqlite:my%20data/j.sqlite"),
        Some(std::path::PathBuf::from("my data/j.state.sqlite")),
        "escapes decoded as sqlx decodes them"
    );
    // The log is never the state file, whatever the state file is called.
    let named = |state_path: &str| local_stack::LocalConfig {
        state_path: Some(state_path.into()),
        ..Default::default()
    };
    assert_eq!(
        named("st/s.log").log_file(),
        Some(std::path::PathBuf::from("st/s.log.log"))
    );
    assert_eq!(
        named("st/x.state.sqlite").log_file(),
        Some(std::path::PathBuf::from("st/x.log"))
    );
    let shown = |journal_url: &str| {
        local_stack::LocalConfig {
            journal_url: journal_url.into(),
            ..Default::default()
        }
        .journal_shown()
    };
    assert_eq!(shown("sqlite://data/j.sqlite?mode=rwc"), "data/j.sqlite");
    for url in [
        "postgres://u:secret@db.internal:5432/journal?sslmode=require&password=x",
        "postgresql://u:se/cret?@db.internal/journal",
    ] {
        assert_eq!(shown(url), "a PostgreSQL URL (not shown)");
    }
    // The log is never the journal either.
    let journal_log = local_stack::LocalConfig {
        journal_url: "data/j.log".into(),
        ..Default::default()
    };
    assert_eq!(
        journal_log.log_file(),
        Some(std::path::PathBuf::from("data/j.state.sqlite.log"))
    );
    assert_eq!(state("sqlite:data/j.sqlite"), beside);
    assert_eq!(state("sqlite://data/j.sqlite?mode=rwc"), beside);
    assert_eq!(state("data/j.sqlite"), beside);
    assert_eq!(
        state("sqlite:///tmp/j.sqlite"),
        Some(std::path::PathBuf::from("/tmp/j.state.sqlite"))
    );
    for memory in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://?mode=memory",
        "sqlite:j.sqlite?cache=shared&mode=memory",
        "postgres://u@127.0.0.1/journal",
    ] {
        assert_eq!(state(memory), None, "{memory}");
    }
}
