//! `tvctl report` on a journal the local stack produced: `tvctl dev` as a process, a scripted
//! run of alerts posted over HTTP (paper brokers fill at the alert's close), then the report's
//! JSON checked for figures worked out by hand, its CSV for the trades, and its HTML for every
//! section and for having nothing to load from the network; the same rows copied into
//! PostgreSQL report alike.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::{Value, json};
use shared::clock::Clock as _;
use shared::execution::TradeJournal;
use std::process::Command;
use std::time::{Duration, Instant};

/// A sample alert with this action, close and `timenow`.
fn alert(sample: &str, action: &str, close: &str, timenow: chrono::DateTime<chrono::Utc>) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/alerts")
        .join(format!("{sample}.json"));
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let (kind, direction) = match action {
        "LONG_ENTRY" => ("ENTRY", "LONG"),
        "SHORT_ENTRY" => ("ENTRY", "SHORT"),
        "LONG_EXIT" => ("EXIT", "LONG"),
        _ => unreachable!("not scripted"),
    };
    let t = timenow.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    doc["action"] = json!(action);
    doc["signal"]["type"] = json!(kind);
    doc["signal"]["direction"] = json!(direction);
    doc["market_data"]["timenow"] = json!(t);
    doc["market_data"]["timestamp"] = json!(t);
    for field in ["open", "high", "low", "close"] {
        doc["price_data"][field] = json!(close);
    }
    doc["passphrase"] = json!(local_stack::LOCAL_SECRET);
    doc
}

/// Every RFC 3339 time in `v` cut to whole microseconds.
fn to_micros(v: Value) -> Value {
    use chrono::SubsecRound;
    match v {
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(t) => Value::String(
                t.with_timezone(&chrono::Utc)
                    .trunc_subsecs(6)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
            Err(_) => Value::String(s),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(to_micros).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, to_micros(v))).collect()),
        v => v,
    }
}

/// A database of its own on the throwaway PostgreSQL cluster the test command starts
/// (`JOURNAL_TEST_PG_URL`), dropped at the end.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(tag: &str) -> Self {
        use sqlx::Connection;
        let admin = std::env::var("JOURNAL_TEST_PG_URL").expect(
            "JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a throwaway PostgreSQL",
        );
        // A name of digits and letters only: safe to put in the statement.
        let name = format!("tvctl_{tag}_{}", std::process::id());
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Self { admin, name, url }
    }

    /// Tables in the database's `public` schema.
    async fn tables(&self) -> i64 {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        n
    }

    async fn drop(self) {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&self.admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }
}

fn tvctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(args)
        .env_remove("TVCTL_JOURNAL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// An SQS replay audits in the deployment's PostgreSQL journal and never migrates it: a
/// tvctl newer than the deployment brought the database to its own migrations under the
/// deployed executors. An empty database, or one whose migrations are not this build's in
/// order, is refused before anything moves; one behind or ahead (a newer build's
/// migrations after all of this build's) is used as it is, with a warning; the database is
/// left as it was every time.
#[tokio::test]
async fn an_sqs_replay_never_migrates_the_deployments_journal() {
    use sqlx::Connection;
    let pg = PgDatabase::create("audit").await;
    let replay = |url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args([
                "dlq",
                "replay",
                "--queue-url",
                "http://127.0.0.1:1/000000000000/tv-oanda-dlq.fifo",
                "--source-url",
                "http://127.0.0.1:1/000000000000/tv-oanda.fifo",
                "--dry-run",
                "0123456789",
            ])
            .env("JOURNAL_URL", url)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let refused = |code: i32, text: &str, applied: &str| {
        assert_eq!(code, 3, "{text}");
        assert!(
            text.contains(&format!("the journal's schema is at migration {applied}"))
                && text.contains("nothing was replayed"),
            "{text}"
        );
        assert!(!text.contains(&pg.url), "{text}");
    };
    // Empty: refused, nothing created.
    let (code, text) = replay(&pg.url);
    refused(code, &text, "none");
    assert_eq!(pg.tables().await, 0, "the replay created tables");

    // A deployment one migration behind this build (this build deployed, its executors not
    // yet in a journal session since; or an older build): used as it is, not migrated, the
    // replay going on to the queue (unreachable here).
    let deployed = journal::AnyJournal::connect(&pg.url).await.unwrap();
    deployed.recent_signals(1).await.unwrap();
    drop(deployed);
    let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let all = versions(&mut c).await;
    let latest = *all.last().unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(latest)
        .execute(&mut c)
        .await
        .unwrap();
    let (code, text) = replay(&pg.url);
    assert!(
        text.contains("warning: the journal's schema is at migration")
            && text.contains("not migrated from here"),
        "{text}"
    );
    assert!(text.contains("nothing was replayed"), "{text}");
    assert_eq!(code, 3, "{text}");
    assert_eq!(
        versions(&mut c).await,
        all[..all.len() - 1],
        "the replay migrated the journal: {text}"
    );

    // A deployment newer than this build (a migration it does not know after all of its
    // own: a newer build's, rolled back say): used as it is, as this build's executors use
    // it, with a warning; untouched.
    for version in [latest, 99_999_999_999_999] {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'as deployed', true, '\\x00', 0)",
        )
        .bind(version)
        .execute(&mut c)
        .await
        .unwrap();
    }
    let (code, text) = replay(&pg.url);
    assert!(
        text.contains("warning: the journal's schema is at migration 99999999999999, ahead of"),
        "{code}: {text}"
    );
    assert_eq!(versions(&mut c).await.len(), all.len() + 1);
    // A migration this build does not know among its own (another history): refused.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(latest)
        .execute(&mut c)
        .await
        .unwrap();
    let (code, text) = replay(&pg.url);
    refused(code, &text, "99999999999999");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'as deployed', true, '\\x00', 0)",
    )
    .bind(latest)
    .execute(&mut c)
    .await
    .unwrap();

    // The deployment's schema is this build's: the audit trail is taken, and the replay goes
    // on to the queue.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 99999999999999")
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    let (code, text) = replay(&pg.url);
    assert!(!text.contains("schema is at migration"), "{text}");
    assert_eq!(code, 3, "{text}");
    pg.drop().await;
}

#[tokio::test]
async fn the_report_of_a_local_run_has_the_hand_computed_figures() {
    let dir = std::env::temp_dir().join(format!("tvctl-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.sqlite");
    // Alerts up to 10 s old, on a machine however slow: an age limit they cannot reach.
    let stack = common::start_with(&journal, &[("MAX_ALERT_AGE_SECS", "600")]);
    let client = reqwest::Client::new();
    let t0 = shared::clock::SystemClock.now() - chrono::Duration::seconds(10);
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    // Paper brokers fill at the alert's close, with the default sizes: 1,000 units of a pair,
    // one contract.
    let mut run = [
        alert("oanda-eurusd-long", "LONG_ENTRY", "1.10000", at(0)),
        alert("oanda-eurusd-long", "SHORT_ENTRY", "1.10200", at(1)),
        alert("oanda-eurusd-long", "LONG_ENTRY", "1.10100", at(2)),
        alert("tradovate-es-long", "LONG_ENTRY", "5000.00", at(0)),
        alert("tradovate-es-long", "LONG_EXIT", "5004.50", at(1)),
    ];
    // The ES strategy's name carries terminal escapes (a window title, a clear screen), as
    // any alert's `indicator` may: tvctl shows them, never writes them to the terminal.
    for doc in &mut run[3..] {
        doc["indicator"] = json!("ES\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}");
    }
    for doc in &run {
        let resp = client
            .post(format!("{}/webhook", stack.base))
            .body(doc.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    // Bounded wait for the five signals to end.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t: Value = reqwest::get(format!("{}/local/trades", stack.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let signals = t["signals"].as_array().unwrap();
        if signals.len() == 5 && signals.iter().all(|s| s["status"] == "filled") {
            break;
        }
        assert!(Instant::now() < deadline, "signals did not all fill: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stack);

    let path = journal.to_string_lossy().into_owned();
    let (code, text) = tvctl(&["report", "--journal", &path, "--json"]);
    assert_eq!(code, 0, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["signals"], 5);
    assert_eq!(r["outcomes"], json!({"filled": 5}));
    // EUR_USD: long 1,000 at 1.10000, closed at 1.10200 (+2.00), short 1,000 closed at 1.10100
    // (+1.00), long 1,000 left open at 1.10100. ESZ6: 4.50 points × 50 USD (+225.00).
    let pnl: Vec<(String, String)> = r["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let pnl: rust_decimal::Decimal = t["pnl"].as_str().unwrap().parse().unwrap();
            (
                t["instrument"].as_str().unwrap().to_owned(),
                pnl.normalize().to_string(),
            )
        })
        .collect();
    let mut sorted = pnl.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("ESZ6".to_owned(), "225".to_owned()),
            ("EUR_USD".to_owned(), "1".to_owned()),
            ("EUR_USD".to_owned(), "2".to_owned()),
        ],
        "{pnl:?}"
    );
    let usd = &r["totals"]["USD"];
    let realized: rust_decimal::Decimal = usd["realized"].as_str().unwrap().parse().unwrap();
    assert_eq!(realized.normalize().to_string(), "228");
    assert_eq!(
        (usd["trades"].as_u64(), usd["wins"].as_u64()),
        (Some(3), Some(3))
    );
    let open = r["open_positions"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["instrument"], "EUR_USD");
    assert_eq!(open[0]["quantity"], "1000");
    // Paper fills at the close: no slippage anywhere.
    assert!(
        r["slippage"].as_array().unwrap().iter().all(|s| s["price"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
            .is_zero()),
        "{}",
        r["slippage"]
    );
    let stages: Vec<&str> = r["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["stage"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"routed_to_executor"), "{stages:?}");

    // Filters: one instrument, and a window that ends before the run.
    let (_, text) = tvctl(&[
        "report",
        "--journal",
        &path,
        "--json",
        "--instrument",
        "ESZ6",
    ]);
    let only: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(only["signals"], 2);
    let (_, text) = tvctl(&[
        "report",
        "--journal",
        &path,
        "--json",
        "--until",
        "2020-01-01",
    ]);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["signals"], 0);

    // The same rows in PostgreSQL (a database of this test's own on the throwaway cluster):
    // `tvctl report` on its URL prints the same report.
    let pg = PgDatabase::create("report").await;
    // On the database still empty: the report fails naming what is missing, and creates
    // nothing (it opens the journal read-only, never migrating).
    let (code, text) = tvctl(&["report", "--journal", &pg.url, "--json"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("is not a journal: it has no journal tables"),
        "{text}"
    );
    assert_eq!(pg.tables().await, 0, "the report created tables");
    let sqlite = journal::AnyJournal::connect(&path).await.unwrap();
    let postgres = journal::AnyJournal::connect(&pg.url).await.unwrap();
    for s in sqlite.all_signals().await.unwrap() {
        postgres.upsert_signal(&s).await.unwrap();
    }
    for o in sqlite.all_orders().await.unwrap() {
        postgres.upsert_order(&o).await.unwrap();
    }
    drop(postgres);
    let (code, text) = tvctl(&["report", "--journal", &pg.url, "--json"]);
    assert_eq!(code, 0, "{text}");
    // PostgreSQL keeps times to the microsecond, SQLite to the nanosecond: alike otherwise.
    assert_eq!(
        to_micros(serde_json::from_str::<Value>(&text).unwrap()),
        to_micros(r.clone())
    );
    assert!(!text.contains(&pg.url), "the URL is not printed");

    // A row this build cannot read (a status a newer executor might write) is left out and
    // named; the rest is reported, where the whole report failed with exit 3 ("unreachable").
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        sqlx::query("UPDATE orders SET outcome = 'from_a_newer_executor' WHERE leg = 'close'")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let (code, text) = tvctl(&["report", "--journal", &pg.url, "--json"]);
    assert_eq!(code, 0, "{text}");
    let unread: Value = serde_json::from_str(&text).unwrap();
    let warnings = unread["warnings"].to_string();
    assert!(
        warnings.contains("journal row(s) could not be read")
            && warnings.contains("from_a_newer_executor"),
        "{warnings}"
    );
    assert_eq!(unread["signals"], r["signals"], "every signal still read");
    pg.drop().await;

    // The same in SQLite, on a copy of the journal.
    let copy = dir.join("newer.sqlite");
    // `VACUUM INTO` copies what the write-ahead log holds too.
    rusqlite::Connection::open(&journal)
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_string_lossy()])
        .unwrap();
    rusqlite::Connection::open(&copy)
        .unwrap()
        .execute(
            "UPDATE signals SET status = 'from_a_newer_executor' WHERE rowid = (SELECT MIN(rowid) FROM signals)",
            [],
        )
        .unwrap();
    let (code, text) = tvctl(&["report", "--journal", &copy.to_string_lossy(), "--json"]);
    assert_eq!(code, 0, "{text}");
    let unread: Value = serde_json::from_str(&text).unwrap();
    let warnings = unread["warnings"].to_string();
    assert!(
        warnings.contains("1 journal row(s) could not be read")
            && warnings.contains("from_a_newer_executor"),
        "{warnings}"
    );
    assert_eq!(
        unread["signals"].as_u64().unwrap() + 1,
        r["signals"].as_u64().unwrap()
    );

    let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["report", "--journal", &path, "--csv"])
        .env_remove("TVCTL_JOURNAL")
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{csv}{said}");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // The report's warnings (its fills are a paper broker's) on stderr, beside the trades.
    assert!(
        said.lines()
            .any(|l| l.starts_with("warning: ") && l.contains("paper")),
        "{said}"
    );
    assert!(csv.starts_with("closed_at,broker,instrument"));
    // To a pipe the CSV is data: the strategy's name as the alert had it (a terminal would
    // get it escaped).
    assert!(
        csv.contains("ES\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}/"),
        "{csv}"
    );

    let html_path = dir.join("report.html");
    let (code, out) = tvctl(&[
        "report",
        "--journal",
        &path,
        "--output",
        &html_path.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}");
    // It names the journal it read: `--journal` defaults to `.tvctl/journal.sqlite`, which
    // need not be the one a stack started with `tvctl dev --journal <path>` writes.
    assert!(out.trim_end().ends_with(&format!(", from {path}")), "{out}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    for section in [
        "id=\"summary\"",
        "id=\"equity\"",
        "id=\"instruments\"",
        "id=\"positions\"",
        "id=\"slippage\"",
        "id=\"latency\"",
        "id=\"outcomes\"",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    assert!(
        html.matches("<svg").count() >= 4,
        "the charts are inline SVG"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "loads nothing"
    );
    // A report is written again over a report, never over the journal it reads nor any other
    // file that is not a report (the journal was once overwritten, its history lost).
    let (code, out) = tvctl(&[
        "report",
        "--journal",
        &path,
        "-o",
        &html_path.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}");
    let journal_bytes = std::fs::read(&path).unwrap();
    let (code, out) = tvctl(&["report", "--journal", &path, "-o", &path]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is a SQLite database"), "{out}");
    assert!(out.contains("not overwritten"), "{out}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        journal_bytes,
        "the journal is untouched"
    );
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "my notes").unwrap();
    let (code, out) = tvctl(&["report", "--journal", &path, "-o", &notes.to_string_lossy()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not an HTML report"), "{out}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes");
    let (code, out) = tvctl(&["report", "--journal", &path, "-o", &dir.to_string_lossy()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not a regular file"), "{out}");
    // A stream takes it: /dev/null stands for /dev/stdout or a pipe.
    let (code, out) = tvctl(&["report", "--journal", &path, "-o", "/dev/null"]);
    assert_eq!(code, 0, "{out}");

    // A strategy or instrument the journal does not have is refused (exit 1), naming those it
    // has, and the report file is left as it was; the alert's symbol, in any case, selects.
    let html = html_path.to_string_lossy();
    let before = std::fs::read(&html_path).unwrap();
    let (code, out) = tvctl(&[
        "report",
        "--journal",
        &path,
        "-o",
        &html,
        "--instrument",
        "NOPE",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--instrument \"NOPE\"")
            && out.contains("journal has: ES")
            && out.contains(", EUR_USD (EURUSD)")
            && out.contains(" (ES1!)"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&html_path).unwrap(),
        before,
        "the report kept"
    );
    let (code, out) = tvctl(&[
        "report",
        "--journal",
        &path,
        "--json",
        "--strategy",
        "nope/1",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("\"nope/1\"") && out.contains("journal has: "),
        "{out}"
    );
    assert!(
        out.contains("ES\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}/"),
        "the strategy's escapes shown: {out}"
    );
    assert!(
        !out.contains(['\u{1b}', '\u{7}', '\u{202e}']),
        "no escape reaches the terminal: {out}"
    );
    let (code, out) = tvctl(&[
        "report",
        "--journal",
        &path,
        "--json",
        "--instrument",
        "eurusd",
    ]);
    assert_eq!(code, 0, "{out}");
    let eur: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(eur["signals"], 3, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Help never prints a setting's value taken from the environment: a journal URL carries
/// the database password, `WEBHOOK_SECRET` the webhook's.
#[test]
fn help_shows_no_secret_from_the_environment() {
    for (args, var, value) in [
        (
            ["report", "--help"],
            "TVCTL_JOURNAL",
            "postgres://u:s3cretpw@127.0.0.1/db",
        ),
        (["send", "--help"], "WEBHOOK_SECRET", "hush-hush-0123456789"),
        (["dev", "--help"], "WEBHOOK_SECRET", "hush-hush-0123456789"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
            .args(args)
            .env(var, value)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains(var), "{args:?} names {var}: {text}");
        assert!(
            !text.contains("s3cretpw") && !text.contains("hush-hush"),
            "{args:?}: {text}"
        );
    }
}

/// What the user typed wrong exits 2 (bad usage), as the README says, not 3 (unreachable).
#[test]
fn bad_input_exits_with_the_usage_code() {
    // Filters that could select nothing are named, before the journal is even looked for.
    for (args, says) in [
        (
            vec!["--since", "2026-12-02", "--until", "2026-12-01"],
            "is not before --until",
        ),
        (vec!["--instrument", ""], "--instrument is empty"),
        (vec!["--strategy", " "], "--strategy is empty"),
    ] {
        let mut all = vec![
            "report",
            "--journal",
            "/nonexistent/journal.sqlite",
            "--json",
        ];
        all.extend(&args);
        let (code, text) = tvctl(&all);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    // A journal file that is not there says where a stack's journal is given.
    let (code, text) = tvctl(&[
        "report",
        "--journal",
        "/nonexistent/journal.sqlite",
        "--json",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("no journal at /nonexistent/journal.sqlite (a stack started with `tvctl dev --journal PATH` writes PATH"),
        "{text}"
    );
    // Journal paths that are not a journal, named as such; -o with --json, which ignores it.
    let dir = std::env::temp_dir().join(format!("tvctl-not-a-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("journal.state.sqlite");
    std::fs::write(&state, b"").unwrap();
    let queues = dir.join("journal.state.sqlite.queues");
    std::fs::write(&queues, b"").unwrap();
    let dir_text = dir.to_string_lossy().into_owned();
    let state_text = state.to_string_lossy().into_owned();
    let queues_text = queues.to_string_lossy().into_owned();
    // A SQLite database, but not a journal: no table of one.
    let empty = dir.join("other.sqlite");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER);")
        .unwrap();
    let empty_text = empty.to_string_lossy().into_owned();
    // A journal of an older version (before order fees, migration 0003): a journal, its
    // tables older than this tvctl's, not "no journal tables"; exit 3 as unreadable.
    let older = dir.join("older.sqlite");
    rusqlite::Connection::open(&older)
        .unwrap()
        .execute_batch(concat!(
            include_str!("../../journal/migrations/sqlite/0001_init.sql"),
            include_str!("../../journal/migrations/sqlite/0002_order_attempts.sql"),
        ))
        .unwrap();
    let (code, text) = tvctl(&["report", "--journal", &older.to_string_lossy(), "--json"]);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("its tables are older than this tvctl's (") && text.contains("fee"),
        "{text}"
    );
    // Neither a database nor a log of journal records.
    let text_file = dir.join("notes.txt");
    std::fs::write(&text_file, "a trader's notes, not a journal\n").unwrap();
    let text_file = text_file.to_string_lossy().into_owned();
    for (args, says) in [
        (
            vec!["report", "--journal", "", "--json"],
            "the journal setting is empty",
        ),
        (
            vec!["report", "--journal", &dir_text, "--json"],
            "is a directory",
        ),
        (
            vec!["report", "--journal", &state_text, "--json"],
            "is the local stack's state file",
        ),
        (
            vec!["report", "--journal", &queues_text, "--json"],
            "is the local stack's queue file",
        ),
        (
            vec!["report", "--json", "-o", "out.html"],
            "cannot be used with",
        ),
        (
            vec!["report", "--journal", "sqlite::memory:", "--json"],
            "is a journal in memory, which holds nothing",
        ),
        (
            vec!["report", "--journal", &empty_text, "--json"],
            "is not a journal: it has no journal tables",
        ),
        (
            vec!["report", "--journal", &text_file, "--json"],
            "is not a journal: it is not a SQLite database",
        ),
        (
            vec!["report", "--log-lines", "/nonexistent/lines.log", "--json"],
            "--log-lines /nonexistent/lines.log: No such file",
        ),
        (
            vec!["report", "--log-lines", &text_file, "--json"],
            "no journal record in these lines",
        ),
        (
            vec![
                "report",
                "--journal",
                &empty_text,
                "-o",
                "/nonexistent/dir/r.html",
            ],
            "/nonexistent/dir: no such folder for the report",
        ),
    ] {
        let (code, text) = tvctl(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    // TVCTL_JOURNAL in the environment does not stand in the way of --log-lines: the lines
    // are read (and found to hold no record), not refused as "cannot be used with --journal".
    let out = Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["report", "--log-lines", &text_file, "--json"])
        .env("TVCTL_JOURNAL", "/nonexistent/journal.sqlite")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no journal record in these lines"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
    for args in [
        vec![
            "report",
            "--journal",
            "/nonexistent/journal.sqlite",
            "--json",
        ],
        vec!["report", "--since", "yesterday-ish", "--json"],
        vec!["alert-template", "oanda", "EURUSD", "--action", "BUY"],
        vec!["alert-template", "nyse", "EURUSD"],
        // Neither a sample nor a file; a file that is not JSON.
        vec!["send", "no-such-sample", "--url", "http://127.0.0.1:9"],
        vec!["send", "Cargo.toml", "--url", "http://127.0.0.1:9"],
        // JSON that is not an object; settings the local stack refuses.
        vec![
            "send",
            "tests/fixtures/not-an-object.json",
            "--url",
            "http://127.0.0.1:9",
        ],
        // A key given twice, which the webhook refuses too.
        vec![
            "send",
            "tests/fixtures/key-twice.json",
            "--url",
            "http://127.0.0.1:9",
        ],
        vec!["dev", "--port", "0", "--visibility-secs", "4"],
        // Past what a duration holds: refused as any other value out of range, no panic.
        vec![
            "dev",
            "--port",
            "0",
            "--visibility-secs",
            "9223372036854775807",
        ],
    ] {
        let (code, text) = tvctl(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.starts_with("tvctl: "), "{args:?}: {text}");
    }
}

/// A failed send or status read names the URL without its secret parts: the webhook secret
/// in the path (the URL `alert-template` gives), a password in the base URL, or text that is
/// not a URL at all.
#[test]
fn a_failed_request_never_prints_the_secret_in_its_url() {
    for args in [
        vec![
            "send",
            "oanda-eurusd-long",
            "--url",
            "http://127.0.0.1:9/webhook/MYSECRETVALUE123456",
        ],
        vec![
            "send",
            "oanda-eurusd-long",
            "--url",
            "not a url MYSECRETVALUE123456",
        ],
        vec![
            "status",
            "--base",
            "http://trader:MYSECRETVALUE123456@127.0.0.1:9",
        ],
    ] {
        let (code, text) = tvctl(&args);
        assert_ne!(code, 0, "{args:?}: {text}");
        assert!(text.starts_with("tvctl: "), "{args:?}: {text}");
        assert!(!text.contains("MYSECRET"), "{args:?}: {text}");
        // Nothing listens on port 9: the message says what usually causes that.
        if args[0] == "status" || args[3].starts_with("http") {
            assert!(text.contains("is `tvctl dev` running"), "{args:?}: {text}");
        }
    }
}

/// `alert-template` for an instrument the risk settings give no size says so: the webhook
/// answers such an entry 200 and the executor refuses it (a trial set up gold, saw 200 in
/// TradingView, and nothing traded). A sized one, or an exit, says nothing of the kind.
#[test]
fn an_alert_template_for_an_instrument_without_a_size_says_entries_are_refused() {
    let template = |args: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tvctl"));
        cmd.arg("alert-template").args(args);
        for name in [
            "OANDA_RISK_CONFIG",
            "OANDA_RISK_CONFIG_FILE",
            "COINBASE_RISK_CONFIG",
            "COINBASE_RISK_CONFIG_FILE",
            "TRADOVATE_RISK_CONFIG",
            "TRADOVATE_RISK_CONFIG_FILE",
            "RISK_CONFIG",
            "RISK_CONFIG_FILE",
            "ROUTING_TABLE_FILE",
        ] {
            cmd.env_remove(name);
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = template(&["oanda", "XAUUSD"], &[]);
    assert!(
        said.contains("note: an entry for XAU_USD is refused")
            && said.contains("no size is configured for XAU_USD (metal)")
            && said.contains("OANDA_RISK_CONFIG"),
        "{said}"
    );
    assert_eq!(
        template(&["oanda", "XAUUSD", "--action", "LONG_EXIT"], &[]),
        ""
    );
    assert_eq!(template(&["oanda", "EURUSD"], &[]), "");
    // The routing table of this shell (`ROUTING_TABLE_FILE`), as `tvctl dev` here routes by:
    // a symbol only the trader's table routes gets its template.
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("routing.toml");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let embedded = std::fs::read_to_string(workspace.join("shared/routing.toml")).unwrap();
    let own = embedded.replace("[oanda.aliases]\n", "[oanda.aliases]\nGOLD = \"XAU_USD\"\n");
    assert_ne!(own, embedded);
    std::fs::write(&table, own).unwrap();
    let said = template(
        &["oanda", "GOLD"],
        &[("ROUTING_TABLE_FILE", table.to_str().unwrap())],
    );
    assert!(
        said.contains("note: an entry for XAU_USD is refused"),
        "{said}"
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_tvctl"))
        .args(["alert-template", "oanda", "GOLD"])
        .env_remove("ROUTING_TABLE_FILE")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        template(
            &["oanda", "XAUUSD"],
            &[(
                "OANDA_RISK_CONFIG",
                "default_max_position = 100000\n[instruments.XAU_USD]\nsize = 10\n"
            )]
        ),
        ""
    );
    // Gold quoted in silver: a class's size (an amount of money) does not size it, and the
    // note says what does.
    let metal_class = "default_max_position = 100000\n[classes.metal]\nnotional = 20000\n";
    let said = template(&["oanda", "XAUXAG"], &[("OANDA_RISK_CONFIG", metal_class)]);
    assert!(
        said.contains("note: an entry for XAU_XAG is refused")
            && said.contains("is quoted in a metal (its price is ounces of XAG)"),
        "{said}"
    );
    // A crypto-quoted product with a size but no cap of its own or its class's: refused at
    // every entry, so said here too (a size alone passed the note).
    let cross = "default_max_position = 100000\n[instruments.\"ETH-BTC\"]\nsize = \"0.01\"\n";
    let said = template(&["coinbase", "ETHBTC"], &[("COINBASE_RISK_CONFIG", cross)]);
    assert!(
        said.contains("note: an entry for ETH-BTC is refused")
            && said.contains("classes.crypto_cross.max_notional"),
        "{said}"
    );
    // A short entry on spot sells what is held: no size or cap applies, no note.
    assert_eq!(
        template(
            &["coinbase", "ETHBTC", "--action", "SHORT_ENTRY"],
            &[("COINBASE_RISK_CONFIG", cross)]
        ),
        ""
    );
    let capped = format!("{cross}max_notional = \"1\"\n");
    assert_eq!(
        template(
            &["coinbase", "ETHBTC"],
            &[("COINBASE_RISK_CONFIG", &capped)]
        ),
        ""
    );
}

/// The versions in sqlx's migrations table, in order.
async fn versions(c: &mut sqlx::PgConnection) -> Vec<i64> {
    sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(c)
        .await
        .unwrap()
}
