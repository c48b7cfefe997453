//! `tvctl`: the operator CLI.
//!
//! Exit codes scripts can rely on: 0 success (an empty list too); 1 the request was refused or
//! what it named was not found (a 4xx, a refused replay, an unknown signal id); 2 bad usage; 3
//! the target could not be reached or failed (5xx), or a status or a broker's positions could
//! not be read.

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use shared::clock::Clock as _;
use std::process::ExitCode;

mod dlq;
mod samples;

#[derive(Parser, Debug)]
#[command(
    name = "tvctl",
    version,
    about = "Run the local stack, send alerts, read trades and positions, inspect dead-letter queues."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the local stack: the real handlers over in-process queues, paper brokers unless
    /// any of a broker's settings is set: then its real API (all its credentials required;
    /// with no base URL, OANDA's and Tradovate's practice/demo servers, Coinbase's live
    /// exchange, real money). Prints one line per signal and per order.
    Dev {
        /// Port on 127.0.0.1 (0 picks a free one; the `listening on` line printed once the
        /// stack has started says which).
        #[arg(
            long,
            env = "TVCTL_PORT",
            hide_env_values = true,
            default_value_t = 8080
        )]
        port: u16,
        /// Webhook secret (the local default is printed at start). Prefer the WEBHOOK_SECRET
        /// variable: a value on the command line shows in the process list and the shell's
        /// history.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Seconds before an unacknowledged message comes back (5 to 43200). The executors'
        /// lease is 3 of them (15 s by default), and an executor sends nothing after its
        /// lease less 1 s.
        #[arg(long, default_value_t = 5)]
        visibility_secs: i64,
        /// How old an alert's `timenow` may be, in seconds, at the webhook and again at the
        /// executor (1 to 86400), as the deployed stack's `MAX_ALERT_AGE_SECS`; an executor
        /// also sends nothing after its lease less 1 s (14 s after it takes the signal, by
        /// default).
        #[arg(long, env = "MAX_ALERT_AGE_SECS", hide_env_values = true, default_value_t = 30,
              value_parser = clap::value_parser!(u32).range(1..=MAX_AGE_LIMIT_SECS))]
        max_age_secs: u32,
        /// How far ahead of this machine's clock an alert's `timenow` may be, in seconds (0 to
        /// 300), as the deployed stack's `MAX_CLOCK_SKEW_SECS`; further is refused
        /// `alert_from_future`. Keep it small: an alert stamped ahead takes its instrument's
        /// latest signal time with it, and every alert stamped before that is superseded.
        #[arg(long, env = "MAX_CLOCK_SKEW_SECS", hide_env_values = true, default_value_t = 5,
              value_parser = clap::value_parser!(u32).range(0..=300))]
        max_skew_secs: u32,
        /// The journal: a SQLite file (or `sqlite:` URL), or a PostgreSQL URL. A URL with a
        /// password is better set in `TVCTL_JOURNAL`: a command line is readable by every
        /// user of the machine (`ps`).
        #[arg(
            long,
            env = "TVCTL_JOURNAL",
            hide_env_values = true,
            default_value = ".tvctl/journal.sqlite"
        )]
        journal: String,
        /// The SQLite file of the idempotency records and paper books, with the queues' file
        /// beside it (`<state file>.queues`) (default: beside a journal file,
        /// `<journal stem>.state.sqlite`). Needed with a journal that is not a file to trade a
        /// real broker.
        #[arg(long, env = "TVCTL_STATE", hide_env_values = true)]
        state: Option<std::path::PathBuf>,
    },
    /// Post an alert (a file, or a built-in sample by name) with the passphrase and a fresh
    /// `timenow`/`timestamp` filled in.
    Send {
        /// A path to an alert JSON file, or a sample name (see `tvctl send --list`).
        #[arg(required_unless_present = "list")]
        alert: Option<String>,
        /// List the built-in samples.
        #[arg(long)]
        list: bool,
        #[arg(
            long,
            env = "TVCTL_URL",
            hide_env_values = true,
            default_value = "http://127.0.0.1:8080/webhook"
        )]
        url: String,
        /// The webhook secret sent as the body's passphrase (default: the local stack's).
        /// Prefer the WEBHOOK_SECRET variable: a value on the command line shows in the
        /// process list and the shell's history.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true, default_value = local_stack::LOCAL_SECRET, hide_default_value = true)]
        passphrase: String,
        /// Use this `timenow` (RFC 3339) instead of now: the same value twice is a resend.
        #[arg(long, conflicts_with = "age_secs")]
        timenow: Option<String>,
        /// Make the alert this many seconds old (a stale alert).
        #[arg(long, default_value_t = 0)]
        age_secs: i64,
        /// Override the action (LONG_ENTRY, SHORT_ENTRY, LONG_EXIT, SHORT_EXIT, FLATTEN).
        #[arg(long)]
        action: Option<String>,
        /// Set the alert's `quantity` (a plain decimal), which an entry trades instead of the
        /// configured size, within the executor's `max_override`: units at OANDA, contracts
        /// at Tradovate, and at Coinbase the amount of the quote currency a buy spends (2 on
        /// ETH-USD is 2 USD, not 2 ETH; so `{{strategy.order.contracts}}` fits OANDA and
        /// Tradovate, not Coinbase). Sent as text; the webhook checks it as any alert's.
        /// A negative number is taken as the value (`--quantity -1`), not read as another
        /// option: the webhook refuses it by name on an entry, and takes it as absent on an
        /// exit, a FLATTEN or a Coinbase short entry, which use no quantity.
        #[arg(long, allow_negative_numbers = true)]
        quantity: Option<String>,
    },
    /// What the journal holds: the latest signals and their legs, or one signal's.
    Trades {
        /// One signal: its id or the start of it, 4 to 32 hex characters, either case (the
        /// 12 this command prints will do).
        signal: Option<String>,
        #[arg(
            long,
            env = "TVCTL_BASE",
            hide_env_values = true,
            default_value = "http://127.0.0.1:8080"
        )]
        base: String,
        #[arg(long)]
        json: bool,
        /// How many of the latest signals (1 to 10,000); a line says when the journal holds
        /// older ones (`tvctl report` reads them all). Not with SIGNAL, which shows one.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=TRADES_MAX),
              conflicts_with = "signal")]
        limit: u32,
    },
    /// What each account holds.
    Positions {
        #[arg(
            long,
            env = "TVCTL_BASE",
            hide_env_values = true,
            default_value = "http://127.0.0.1:8080"
        )]
        base: String,
        #[arg(long)]
        json: bool,
    },
    /// Dead-letter queues: list and show without consuming, replay to the source queue.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Health of each broker path (last success and failure, Tradovate token expiry), from
    /// `GET /{broker}status` of the local stack or a deployed API, and the local stack's queue
    /// depths and dead letters. Exit 1 when a broker path is degraded or a local queue holds
    /// dead letters.
    Status {
        #[arg(
            long,
            env = "TVCTL_BASE",
            hide_env_values = true,
            default_value = "http://127.0.0.1:8080"
        )]
        base: String,
        #[arg(long)]
        json: bool,
    },
    /// What the strategy earned and what execution cost, from the journal: realized P&L
    /// (first in, first out), open positions, trade statistics, slippage, stage latencies and
    /// outcomes. One self-contained HTML file (charts inline, nothing loaded from the
    /// network), or `--json`, or `--csv` (the trades).
    Report {
        /// A SQLite journal file or a PostgreSQL URL [default: `TVCTL_JOURNAL`, else
        /// .tvctl/journal.sqlite]. `TVCTL_JOURNAL` in the environment does not stand in the way
        /// of `--log-lines`; `--journal` given with it does. A URL with a password is better set
        /// in `TVCTL_JOURNAL`: a command line is readable by every user of the machine (`ps`).
        #[arg(long, conflicts_with = "log_lines")]
        journal: Option<String>,
        /// A file of `journal=log` lines exported from CloudWatch Logs (README).
        #[arg(long)]
        log_lines: Option<std::path::PathBuf>,
        /// Signals from this time on (RFC 3339, or a date `2026-11-30`), by the alert's `timenow`.
        #[arg(long)]
        since: Option<String>,
        /// Signals before this time (RFC 3339, or a date: that day excluded).
        #[arg(long)]
        until: Option<String>,
        /// `indicator/timeframe`, e.g. `Trend_Validator/5`, in any case; one no signal of the
        /// journal has exits 1, naming those it has.
        #[arg(long)]
        strategy: Option<String>,
        /// A broker instrument (`EUR_USD`, `ESZ6`, `BTC-USD`) or the alert's symbol, in any
        /// case; one no signal of the journal has exits 1, naming those it has.
        #[arg(long)]
        instrument: Option<String>,
        /// Whose fills count: `auto` (the real accounts' where the journal holds any, else the
        /// paper accounts'), `all` (summed alike), `real` or `paper`. The local stack's paper
        /// fills are simulated (at the alert's close, no fees): a journal that went live after
        /// its paper trial would otherwise blend them into what the strategy earned.
        #[arg(long, default_value = "auto", value_parser = analytics::Accounts::parse)]
        accounts: analytics::Accounts,
        /// Where the HTML goes.
        #[arg(long, short, default_value = "report.html", conflicts_with_all = ["json", "csv"])]
        output: std::path::PathBuf,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// The TradingView alert message to paste for a broker and symbol (placeholders in
    /// place, each quoted so the body is valid JSON), and the webhook URL to use.
    AlertTemplate {
        /// `oanda`, `tradovate` or `coinbase`.
        broker: String,
        /// The chart's symbol as TradingView names it (`EURUSD`, `ES1!`, `BTCUSD`).
        symbol: String,
        /// The alert's action: `LONG_ENTRY`, `LONG_EXIT`, `SHORT_ENTRY`, `SHORT_EXIT` or
        /// `FLATTEN`; run once per action the strategy uses.
        #[arg(long, default_value = "LONG_ENTRY")]
        action: String,
    },
}

/// A time bound: RFC 3339, or a date (its midnight UTC).
fn time_bound(name: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "--{name} {text:?}: expected RFC 3339 (2026-11-30T14:00:00Z) or a date (2026-11-30)"
            )
        })
}

/// Which dead-letter queue: an SQS queue URL (real SQS, or moto through `AWS_ENDPOINT_URL`),
/// or a queue of the local stack by name.
#[derive(clap::Args, Debug)]
struct DlqTarget {
    /// The dead-letter queue's URL.
    #[arg(long, conflicts_with = "local")]
    queue_url: Option<String>,
    /// The source queue's URL, where replays go (SQS does not record it on the message).
    /// Not with `--local`: a local dead letter goes back to the queue it came from.
    #[arg(long, conflicts_with = "local")]
    source_url: Option<String>,
    /// The local stack's base URL, with `--queue`; `--local` alone is `TVCTL_BASE` (as the
    /// other commands read it), else `tvctl dev`'s default, http://127.0.0.1:8080.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "BASE_URL")]
    local: Option<String>,
    /// The local stack's queue (`oanda.fifo`, or its DLQ `oanda-dlq.fifo`); not with
    /// `--queue-url`, which names the queue itself.
    #[arg(long, default_value = "signals-dlq.fifo", conflicts_with = "queue_url")]
    queue: String,
}

#[derive(Subcommand, Debug)]
enum DlqCommand {
    /// Every message with its signal, age, receive count and last error.
    List {
        #[command(flatten)]
        target: DlqTarget,
        #[arg(long)]
        json: bool,
    },
    /// One message in full.
    Show {
        #[command(flatten)]
        target: DlqTarget,
        message_id: String,
    },
    /// Send chosen messages (or `--all`) back to their source queue. A signal older than its
    /// max age is refused unless `--force`, which names the messages (`--all --force` only
    /// with `--dry-run`): a forced replay is never superseded by a later signal of its series,
    /// so each is the operator's own decision. Every decision is written to the audit trail.
    Replay {
        #[command(flatten)]
        target: DlqTarget,
        message_ids: Vec<String>,
        #[arg(long, conflicts_with = "message_ids")]
        all: bool,
        #[arg(long)]
        force: bool,
        /// Send back only letters older than the age limit, unforced: the executor finds each
        /// stale and trades nothing, reconciling an unknown one by lookup (it journals what
        /// the earlier attempt did). A younger letter is refused: it could still trade.
        #[arg(long, conflicts_with = "force")]
        lookup_only: bool,
        #[arg(long)]
        dry_run: bool,
        /// How old a dead letter's signal may be and still be replayed without `--force`, in
        /// seconds (1 to 86400), against SQS. Default 30. With `--local`, the stack's own
        /// limit, which its executors hold, whatever this says (a note says so when it
        /// differs).
        #[arg(long, env = "MAX_ALERT_AGE_SECS", hide_env_values = true,
              value_parser = clap::value_parser!(u32).range(1..=MAX_AGE_LIMIT_SECS))]
        max_age_secs: Option<u32>,
        #[arg(long)]
        json: bool,
        /// Against SQS: append the audit records to this file (JSON lines) instead of the
        /// journal at `JOURNAL_URL`, for deployments whose database is out of reach
        /// (`journal=log`, or Aurora in isolated subnets). Not with `--local`: the local
        /// stack's replays are audited in its journal.
        #[arg(long, conflicts_with = "local")]
        audit_file: Option<std::path::PathBuf>,
    },
}

/// The most signals `tvctl trades` shows (`--limit`): what the local stack's `/local/trades`
/// answers at most.
const TRADES_MAX: i64 = local_stack::TRADES_MAX;

/// The longest alert age limit `--max-age-secs` takes (a day), for `dev` and `dlq replay`.
const MAX_AGE_LIMIT_SECS: i64 = 86_400;

/// What an alert's `timenow` must hold to, as `tvctl dev` says it at start and `tvctl status`
/// reads it (`GET /local/settings`); a figure the stack did not give is `?`.
fn freshness_line(max_age_secs: Option<i64>, max_skew_secs: Option<i64>) -> String {
    let shown = |v: Option<i64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    format!(
        "alerts accepted with a timenow at most {} s old and at most {} s ahead of this \
         machine's clock (--max-age-secs, --max-skew-secs)",
        shown(max_age_secs),
        shown(max_skew_secs)
    )
}

/// The alert age limit the local stack at `base` holds (`GET /local/settings`).
async fn local_max_age(base: &str) -> Result<i64, Failure> {
    let v = get_json(&format!("{base}/local/settings")).await?;
    v["max_alert_age_secs"].as_i64().ok_or_else(|| {
        Failure::Unreachable(format!(
            "the local stack at {} did not say its alert age limit (GET /local/settings), \
             which a replay holds to: a stack of an older tvctl; start it with this one",
            tvctl::shown_url(base).trim_end_matches('/')
        ))
    })
}

async fn dlq_target(t: DlqTarget) -> Result<dlq::Target, String> {
    match (t.queue_url, t.local) {
        (Some(dlq_url), _) => {
            let cfg = aws_adapters::load_sdk_config().await;
            Ok(dlq::Target::Sqs {
                client: aws_sdk_sqs::Client::new(&cfg),
                dlq_url,
                source_url: t.source_url,
            })
        }
        (None, Some(base)) => {
            // `--local` alone: the stack the other commands read (a second stack on another
            // port was read as empty while the dead letter sat in the one TVCTL_BASE named).
            let base = if base.is_empty() {
                std::env::var("TVCTL_BASE")
                    .ok()
                    .filter(|b| !b.trim().is_empty())
                    .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned())
            } else {
                base
            };
            let base = tvctl::base_url("--local", &base).map_err(|_| {
                "--local takes the local stack's base URL (http://127.0.0.1:8080); the queue \
                 goes in --queue (oanda-dlq.fifo)"
                    .to_owned()
            })?;
            Ok(dlq::Target::Local {
                base,
                queue: t.queue,
            })
        }
        (None, None) => Err("give --queue-url (SQS) or --local <base url> (local stack)".into()),
    }
}

/// The `dlq` commands. A command given wrongly (no target, no message named, a target that
/// is not a URL, no audit trail named, an audit file that cannot be written) is a usage error
/// (exit 2); a queue, journal or local stack that fails to answer is exit 3.
async fn run_dlq(command: DlqCommand) -> Result<ExitCode, Failure> {
    let now = shared::clock::SystemClock.now();
    match command {
        DlqCommand::List { target, json } => {
            let target = dlq_target(target).await.map_err(Failure::Usage)?;
            let mut messages = target.list(now).await?;
            journaled_reasons(&target, &mut messages).await;
            // On standard error, so `--json` stays a document.
            if let Some(note) =
                dlq::partial_listing(messages.len(), target.counted().await, &target.name())
            {
                err(&note);
            }
            if json {
                out_json(&serde_json::to_string(&messages).map_err(|e| e.to_string())?);
            } else {
                for m in &messages {
                    out(&format!(
                        "{}  group {}  receives {}  age {}s  signal {}  {}  last error: {}",
                        m.message_id,
                        m.group,
                        m.receive_count,
                        m.age_secs.map_or("?".into(), |a| a.to_string()),
                        m.signal_id.as_deref().unwrap_or("?"),
                        m.summary.as_deref().unwrap_or("unreadable body"),
                        m.last_error.as_deref().unwrap_or("-")
                    ));
                }
                // Named: the default is the signals queue's, and an empty list of another
                // queue's dead letters must not pass for none anywhere.
                out(&format!(
                    "{} message(s) in {}{}",
                    messages.len(),
                    target.name(),
                    match &target {
                        dlq::Target::Local { base, .. } => {
                            format!(
                                " (the local stack at {})",
                                tvctl::shown_url(base).trim_end_matches('/')
                            )
                        }
                        dlq::Target::Sqs { .. } => String::new(),
                    }
                ));
                // The local stack's other dead-letter queues: `--queue` defaults to the
                // signals queue's, and a letter an executor failed sits in its broker's
                // (`oanda-dlq.fifo`), where a trader running the plain command never looked.
                // The one listed is named as its dead-letter queue (`--queue oanda.fifo` lists
                // `oanda-dlq.fifo`), or it was named again as another.
                if let dlq::Target::Local { base, .. } = &target
                    && let Ok(queues) = get_json(&format!("{base}/local/queues")).await
                {
                    let shown = tvctl::shown_url(base);
                    let listed = target.name();
                    for line in dead_letter_lines_but(
                        &queues,
                        shown.trim_end_matches('/'),
                        "",
                        Some(listed.as_str()),
                    ) {
                        out(&line);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { target, message_id } => {
            let target = dlq_target(target).await.map_err(Failure::Usage)?;
            let messages = target.list(now).await?;
            match messages.into_iter().find(|m| m.message_id == message_id) {
                Some(m) => {
                    let mut m = [m];
                    journaled_reasons(&target, &mut m).await;
                    let [m] = m;
                    let mut v = serde_json::to_value(&m).map_err(|e| e.to_string())?;
                    v["body"] =
                        serde_json::from_str(&m.body).unwrap_or(Value::String(m.body.clone()));
                    out_json(&serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    err(&format!(
                        "tvctl: message {message_id} is not in {} (`tvctl dlq list` with the \
                         same --queue-url, or --local and --queue, lists its message ids)",
                        target.name()
                    ));
                    Ok(ExitCode::from(1))
                }
            }
        }
        DlqCommand::Replay {
            target,
            message_ids,
            all,
            force,
            lookup_only,
            dry_run,
            max_age_secs,
            json,
            audit_file,
        } => {
            if message_ids.is_empty() && !all {
                return Err(Failure::Usage(
                    "name the messages to replay, or --all".into(),
                ));
            }
            // A forced replay trades past the age limit and is never superseded: an entry
            // dead-lettered at 09:00 and forced at 15:00 re-opens a position the strategy's
            // exit at 11:00 closed. One by one, then, each looked at (`dlq list` gives ages).
            if all && force && !dry_run {
                return Err(Failure::Usage(
                    "--force replays the messages it names, not --all: a forced replay trades \
                     past the age limit and is never superseded by a later signal, so each is \
                     your decision. See them with --all --force --dry-run (or dlq list, with \
                     their ages), then name the ones to force"
                        .into(),
                ));
            }
            let target = dlq_target(target).await.map_err(Failure::Usage)?;
            // A replay from SQS goes to the queue `--source-url` names: without it, refused
            // before anything is listed or audited (it was found only at the first letter,
            // exit 3 and a `failed` row; a dry run said "would replay").
            if let dlq::Target::Sqs {
                source_url: None, ..
            } = &target
            {
                return Err(Failure::Usage(
                    "--source-url is required to replay from SQS: the queue each letter goes \
                     back to (its own source queue's URL)"
                        .into(),
                ));
            }
            // A replay holds to the limit the executor it goes to holds. With `--local`, the
            // stack's own, whatever limit was given (a MAX_ALERT_AGE_SECS in this shell, say):
            // a longer one sent a letter stale to the stack unforced, where it ended
            // `expired` (the stack now refuses it), and `--force` unforced with it; a shorter
            // one refused as stale a letter the stack takes, and suggested a look-up-only
            // replay the stack's limit then refused.
            let max_age_secs = match (max_age_secs, &target) {
                (given, dlq::Target::Local { base, .. }) => {
                    let own = local_max_age(base).await?;
                    if let Some(secs) = given.filter(|s| i64::from(*s) != own) {
                        err(&format!(
                            "tvctl: note: the local stack holds a {own} s alert age limit; \
                             --max-age-secs {secs} (or MAX_ALERT_AGE_SECS) is not used with \
                             --local"
                        ));
                    }
                    own
                }
                (Some(secs), _) => i64::from(secs),
                (None, _) => shared::alert::Freshness::default().max_age.num_seconds(),
            };
            // Check the audit trail is reachable before anything moves.
            if matches!(target, dlq::Target::Sqs { .. }) {
                match &audit_file {
                    Some(path) => {
                        open_audit_file(path).map_err(Failure::Usage)?;
                    }
                    None => {
                        audit_journal().await?;
                    }
                }
            }
            let opts = dlq::ReplayOptions {
                ids: message_ids,
                all,
                force,
                lookup_only,
                dry_run,
                max_age: chrono::Duration::seconds(max_age_secs),
                // Who replayed, for the audit: `USER`, else `LOGNAME` (a container may set
                // `USER` empty), else the process's uid (the owner of `/proc/self`, Linux's
                // proc(5)), else "unknown".
                operator: ["USER", "LOGNAME"]
                    .into_iter()
                    .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
                    .or_else(|| {
                        use std::os::unix::fs::MetadataExt;
                        std::fs::metadata("/proc/self")
                            .ok()
                            .map(|m| format!("uid {}", m.uid()))
                    })
                    .unwrap_or_else(|| "unknown".into()),
                // Only a forced replay's note names what the journal shows since (whether a
                // letter's own signal filled is read by its id, in the replay).
                journaled: match force {
                    true => latest_journaled(&target).await,
                    false => None,
                },
            };
            let all = opts.all;
            let (outcomes, audits) = dlq::replay(&target, &opts, now).await?;
            // Written after the run, reported after the outcomes: a failed audit must not hide
            // what moved.
            let audited = match (&target, &audit_file) {
                (dlq::Target::Sqs { .. }, Some(path)) => file_audit(path, &audits),
                _ => dlq::audit(&target, &audits).await,
            };
            if json {
                out_json(&serde_json::to_string(&outcomes).map_err(|e| e.to_string())?);
            } else if outcomes.is_empty() {
                // `--all` on an empty queue: said, so silence is never read as done.
                out(&format!(
                    "0 message(s) in {}: nothing {}",
                    target.name(),
                    if dry_run {
                        "would be replayed"
                    } else {
                        "replayed"
                    }
                ));
            } else {
                for o in &outcomes {
                    out(&format!(
                        "{}  {}  {}",
                        o.message_id,
                        o.signal_id.as_deref().unwrap_or("?"),
                        o.result
                    ));
                }
            }
            if all {
                let counted = target.counted().await;
                let note = if dry_run {
                    dlq::partial_listing(outcomes.len(), counted, &target.name())
                } else {
                    // The letters this run left (refused, failed) are in the count: they
                    // are not what a second run would reach.
                    // (A run that stopped left its last letter in the queue, replayed or not.)
                    let left = outcomes.iter().filter(|o| !o.replayed || o.stopped).count() as u64;
                    counted
                        .map(|n| (n, n.saturating_sub(left)))
                        .filter(|(_, rest)| *rest > 0)
                        .map(|(n, rest)| {
                            format!(
                                "SQS still counts about {n} message(s) in {}{}: a FIFO queue \
                                 hands out a message group's later messages only after its \
                                 earlier ones are deleted, so run the replay again for the \
                                 other {rest} or so",
                                target.name(),
                                if left > 0 {
                                    format!(", {left} of them the letters left above")
                                } else {
                                    String::new()
                                }
                            )
                        })
                };
                if let Some(note) = note {
                    err(&note);
                }
            }
            audited?;
            // A dry run says what the run would do, exit code included: 1 when it would
            // refuse a message (scripts check before they replay).
            let refused = outcomes.iter().any(|o| !o.replayed && !o.would_replay);
            // A queue or stack that failed mid-run (a send, or the delete after one) is the
            // target failing: 3, whatever was replayed before it.
            if outcomes.iter().any(|o| o.stopped) {
                return Ok(ExitCode::from(3));
            }
            Ok(if refused {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Prints to stdout with terminal escapes shown, not run (`shared::terminal::printable`):
/// journal text came in part from alerts and brokers.
fn out(text: &str) {
    use std::io::Write;
    let text = shared::terminal::printable(text);
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// clap names a bad value by its flag even when it came from the flag's environment
/// variable, which the user may not know sets it: `MAX_ALERT_AGE_SECS=0` read as "invalid
/// value '0' for '--max-age-secs <MAX_AGE_SECS>'". When the flag is not on the command line (`args`)
/// and its variable is set, the error names the variable and the parser's reason (`0 is not
/// in 1..=86400`); the variables that hold secrets take any text, so no reason shows one.
fn from_environment(e: &clap::Error, args: impl Iterator<Item = String>) -> Option<String> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let cmd = Cli::command();
    // Every flag of every subcommand (and their subcommands'), where the variables are named.
    let flags = || {
        cmd.get_subcommands()
            .flat_map(|c| std::iter::once(c).chain(c.get_subcommands()))
            .flat_map(|c| c.get_arguments())
    };
    if e.kind() == ErrorKind::InvalidUtf8 {
        // clap says "in one or more arguments" of a variable too.
        let env = flags()
            .filter_map(|a| a.get_env())
            .find(|v| std::env::var_os(v).is_some_and(|x| x.to_str().is_none()))?;
        return Some(format!(
            "the environment variable {} is not valid UTF-8",
            env.to_string_lossy()
        ));
    }
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let flag = format!("--{long}");
    let given = args
        .into_iter()
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    if given {
        return None;
    }
    let env = flags()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_str()?
        .to_owned();
    let value = std::env::var_os(&env)?;
    let why = match std::error::Error::source(e) {
        Some(source) if e.kind() == ErrorKind::ValueValidation => format!(": {source}"),
        _ if value.is_empty() => ": it is empty".into(),
        _ => String::new(),
    };
    Some(format!(
        "the environment variable {env} (read for {flag}) is not a valid value{why}"
    ))
}

/// Prints a JSON document to stdout, the characters [`out`] would escape written as JSON
/// escapes so that it parses to the same value (`shared::terminal::printable_json`).
fn out_json(json: &str) {
    use std::io::Write;
    let json = shared::terminal::printable_json(json);
    let _ = writeln!(std::io::stdout().lock(), "{json}");
}

/// Prints CSV to stdout: escaped as [`out`] does on a terminal; to a file or a pipe as it is,
/// since CSV quotes any character a field holds and what reads the file wants it unchanged.
fn out_csv(csv: &str) {
    use std::io::{IsTerminal as _, Write};
    let stdout = std::io::stdout();
    let csv = if stdout.is_terminal() {
        shared::terminal::printable(csv)
    } else {
        std::borrow::Cow::Borrowed(csv)
    };
    let _ = writeln!(stdout.lock(), "{csv}");
}

/// Prints to stderr as [`out`] does: a refusal can name what the journal holds.
fn err(text: &str) {
    use std::io::Write;
    let text = shared::terminal::printable(text);
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// mimalloc rather than glibc's malloc: under load glibc's allocator (with its consolidation
/// of freed chunks) was about a seventh of the local stack's CPU.
/// Built without transparent huge pages (the workspace's `no_thp` feature): see the root
/// `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match from_environment(&e, std::env::args().skip(1)) {
            Some(why) => {
                err(&format!("tvctl: {why}"));
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
    match run(cli.command).await {
        Ok(code) => code,
        Err(Failure::Usage(e)) => {
            err(&format!("tvctl: {e}"));
            ExitCode::from(2)
        }
        Err(Failure::Refused(e)) => {
            err(&format!("tvctl: {e}"));
            ExitCode::from(1)
        }
        Err(Failure::Unreachable(e)) => {
            err(&format!("tvctl: {e}"));
            ExitCode::from(3)
        }
    }
}

/// Why a command failed: what it was given is wrong (exit 2, as for a bad flag), its target
/// refused it (the pipeline's 4xx, or API Gateway's) or had nothing of what was asked (exit
/// 1), or its target could not be reached, answered with a 5xx or with something that is not
/// the pipeline's answer (exit 3).
enum Failure {
    Usage(String),
    /// The pipeline answered: a 4xx refusal, or nothing of what was asked for (exit 1).
    Refused(String),
    Unreachable(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Self::Unreachable(e)
    }
}

impl From<dlq::DlqError> for Failure {
    fn from(e: dlq::DlqError) -> Self {
        match e {
            dlq::DlqError::Usage(e) => Self::Usage(e),
            dlq::DlqError::NotFound(e) => Self::Refused(e),
            dlq::DlqError::Unavailable(e) => Self::Unreachable(e),
        }
    }
}

/// `GET /{broker}status`: 200 when healthy or unknown, 503 (with the same body) when degraded.
async fn broker_status(base: &str, broker: &str) -> Result<Value, Failure> {
    let url = format!("{base}/{broker}status");
    let resp = tvctl::http_client()?
        .get(&url)
        .send()
        .await
        .map_err(|e| request_failed(&url, e))?;
    let status = resp.status();
    // `status` exits 1 for a degraded broker: a status it could not read (a 4xx, a throttled
    // API) is exit 3, so that a monitor paging on 1 pages on the brokers only.
    if !(status.is_success() || status.as_u16() == 503) {
        return Err(match answered(&url, status) {
            Failure::Refused(why) => Failure::Unreachable(why),
            other => other,
        });
    }
    let body: Value = resp.json().await.map_err(|e| {
        Failure::Unreachable(format!("{}: {}", tvctl::shown_url(&url), e.without_url()))
    })?;
    // The pipeline's own error (a 503 `health_unavailable`), named as it said it.
    if let Some(error) = body.get("error") {
        return Err(Failure::Unreachable(format!(
            "{}: HTTP {status}: {} {}",
            tvctl::shown_url(&url),
            error["code"].as_str().unwrap_or(""),
            error["message"].as_str().unwrap_or("")
        )));
    }
    // Any JSON is not an answer: a server that is not the pipeline's names no broker, or
    // another one.
    if body.get("broker").and_then(Value::as_str) != Some(broker) {
        return Err(Failure::Unreachable(format!(
            "{}: not a broker status answer (is --base the pipeline's root URL, or the API's \
             stage URL when deployed?)",
            tvctl::shown_url(&url)
        )));
    }
    Ok(body)
}

/// Who answered a webhook POST.
#[derive(Debug, PartialEq, Eq)]
enum WebhookAnswer {
    /// Ingest (the webhook): a success names the queued signal (`{"signal_id": …, "status":
    /// "enqueued", …}`), a refusal says why (`{"error": {"code": …, "message": …}}`).
    Ingest,
    /// A deployed API Gateway itself, before or instead of ingest: `{"message": …}` (its
    /// gateway responses: throttling, `Missing Authentication Token` for a path it has no
    /// route for, a 5xx when the integration failed) or `{"Message": …}` (a resource
    /// policy's refusal, as for a source address outside the allowlist).
    Gateway(String),
    /// Anything else: another server, a proxy's page.
    Other,
}

fn webhook_answer(status: reqwest::StatusCode, body: &str) -> WebhookAnswer {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return WebhookAnswer::Other;
    };
    let ingest = if status.is_success() {
        v.get("signal_id").is_some_and(Value::is_string)
            && v.get("status").is_some_and(Value::is_string)
    } else {
        v.get("error")
            .and_then(|e| e.get("code"))
            .is_some_and(Value::is_string)
    };
    if ingest {
        return WebhookAnswer::Ingest;
    }
    match ["message", "Message"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
    {
        Some(m) if !status.is_success() => WebhookAnswer::Gateway(m.to_owned()),
        _ => WebhookAnswer::Other,
    }
}

/// What `send` adds to an answer that left the alert's fate open (a 5xx that is not
/// ingest's refusal, as a gateway's timeout while ingest was queueing it).
fn may_be_queued(timenow: &str) -> String {
    format!(
        "the alert may have been queued: check `tvctl trades` before sending again, and resend \
         with --timenow {timenow} (the one sent) so that it deduplicates; past the alert age \
         limit the webhook refuses it as stale"
    )
}

/// An answer other than the one expected, from the pipeline: a 4xx is a refusal (exit 1;
/// `--base` naming a path of the stack rather than its root answers 404 or 405), anything
/// else a failing target. Callers make an answer that is not the pipeline's exit 3.
fn answered(url: &str, status: reqwest::StatusCode) -> Failure {
    let text = format!("{}: HTTP {status}", tvctl::shown_url(url));
    if status.is_client_error() {
        Failure::Refused(format!(
            "{text} (--base takes the stack's root URL: http://127.0.0.1:8080 locally, the API's \
             stage URL when deployed)"
        ))
    } else {
        Failure::Unreachable(text)
    }
}

use tvctl::request_failed;

/// The `tvctl send` line `tvctl dev` suggests: `tvctl send` posts to `TVCTL_URL` or port
/// 8080 with `WEBHOOK_SECRET` or the local default, so the line names this stack's URL when
/// that would go elsewhere (another stack on this machine could trade it), and the secret's
/// variable, never its value, when this stack's secret came from `--secret`.
fn send_hint(addr: std::net::SocketAddr, tvctl_url: Option<&str>, secret_in_env: bool) -> String {
    let url = format!("http://{addr}/webhook");
    let default_url = tvctl_url.unwrap_or("http://127.0.0.1:8080/webhook");
    let mut line = String::new();
    if !secret_in_env {
        line.push_str("WEBHOOK_SECRET=<your secret> ");
    }
    line.push_str("tvctl send oanda-eurusd-long");
    if default_url.trim_end_matches('/') != url {
        line.push_str(&format!(" --url {url}"));
    }
    line
}

async fn get_json(url: &str) -> Result<Value, Failure> {
    let resp = tvctl::http_client()?
        .get(url)
        .send()
        .await
        .map_err(|e| request_failed(url, e))?;
    if !resp.status().is_success() {
        let status = resp.status();
        // The stack's own refusal names what was wrong (`{"error": …}`); a server that is
        // not the stack gets the hint about `--base`.
        let said = resp
            .json::<Value>()
            .await
            .ok()
            // Read, not indexed for writing: `v["error"]` on an array or a string panics.
            .and_then(|mut v| v.get_mut("error").map(Value::take));
        return Err(match said {
            Some(Value::String(error)) if status.is_client_error() => Failure::Refused(error),
            Some(Value::String(error)) => {
                Failure::Unreachable(format!("{}: HTTP {status}: {error}", tvctl::shown_url(url)))
            }
            // Ingest's refusal (`{"error": {"code", "message"}}`): the stack answered, at a
            // path under the one `--base` should name.
            Some(Value::Object(_)) => answered(url, status),
            // Not the pipeline's answer (another server, a proxy's page): the target is wrong,
            // exit 3 as for no answer, with the hint.
            _ => match answered(url, status) {
                Failure::Refused(why) => Failure::Unreachable(why),
                other => other,
            },
        });
    }
    resp.json().await.map_err(|e| {
        Failure::Unreachable(format!("{}: {}", tvctl::shown_url(url), e.without_url()))
    })
}

async fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Dev {
            port,
            secret,
            visibility_secs,
            max_age_secs,
            max_skew_secs,
            journal,
            state,
        } => {
            let cfg = local_stack::LocalConfig {
                port,
                journal_url: journal,
                state_path: state,
                secret: secret
                    .clone()
                    .unwrap_or_else(|| local_stack::LOCAL_SECRET.into()),
                // Past chrono's range `seconds` panics; the rest of the range is
                // `local_stack::check`'s.
                visibility_timeout: chrono::Duration::try_seconds(visibility_secs)
                    .filter(|_| visibility_secs <= 43_200)
                    .ok_or_else(|| {
                        Failure::Usage(format!(
                            "--visibility-secs {visibility_secs}: give 5 to 43200 seconds \
                             (12 hours, the most SQS allows)"
                        ))
                    })?,
                freshness: shared::alert::Freshness {
                    max_age: chrono::Duration::seconds(max_age_secs.into()),
                    max_skew: chrono::Duration::seconds(max_skew_secs.into()),
                },
                ..Default::default()
            };
            // What the stack refuses, refused before the log file is made: the settings
            // given are wrong (exit 2). (A new state file beside recent signals is refused
            // by the start itself, once the state file is open.)
            local_stack::check(&cfg, &shared::config::ProcessEnv)
                .await
                .map_err(Failure::Usage)?;
            // The handlers' warnings and errors: JSON lines in a file beside the journal (the
            // console shows one line per alert and order).
            if let Some(log) = cfg.log_file() {
                local_stack::make_dir_of(&log)?;
                shared::telemetry::init_json_logs_to(&log)?;
                out(&format!("handler logs: {}", log.display()));
            }
            // What it was given is wrong (a setting, a port in use, a state file another
            // `tvctl dev` holds): exit 2; a journal database that cannot be used: exit 3.
            let stack = local_stack::start(cfg, &shared::config::ProcessEnv)
                .await
                .map_err(|e| {
                    if e.starts_with("the journal (") && e.contains(") cannot be used") {
                        Failure::Unreachable(e)
                    } else {
                        Failure::Usage(e)
                    }
                })?;
            out(&format!("listening on http://{}", stack.addr));
            out(&freshness_line(
                Some(max_age_secs.into()),
                Some(max_skew_secs.into()),
            ));
            if secret.is_none() {
                out(&format!(
                    "webhook secret: {} (local default; set WEBHOOK_SECRET or --secret to change)",
                    local_stack::LOCAL_SECRET
                ));
            }
            let secret_in_env = secret.is_none()
                || std::env::var("WEBHOOK_SECRET").ok().as_deref() == secret.as_deref();
            out(&format!(
                "post alerts to http://{}/webhook (or: {})",
                stack.addr,
                send_hint(
                    stack.addr,
                    std::env::var("TVCTL_URL").ok().as_deref(),
                    secret_in_env
                )
            ));
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
            // Said, so a log shows the stack stopped by request, not that it died.
            out(
                "stopping (Ctrl-C); with a state file, alerts accepted and not yet executed \
                 run when tvctl dev starts on it again (those past the staleness budget by \
                 then are journaled expired)",
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Send { list: true, .. } => {
            // Some samples are there to show a refusal: say which, and with what code.
            for (name, text) in samples::SAMPLES {
                match shared::alert::RawAlert::parse(text.as_bytes()).and_then(|a| a.validate()) {
                    Ok(_) => out(name),
                    Err(e) => out(&format!(
                        "{name}  (an alert the webhook refuses: {})",
                        e.code().as_str()
                    )),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Send {
            alert,
            url,
            passphrase,
            timenow,
            age_secs,
            action,
            quantity,
            ..
        } => {
            let alert = alert
                .ok_or_else(|| Failure::Usage("an alert file or sample name is required".into()))?;
            let text = match samples::SAMPLES
                .iter()
                .find(|(n, _)| *n == alert.trim_end_matches(".json"))
            {
                Some((_, body)) => (*body).to_owned(),
                // Neither a sample nor a readable file, or not JSON: the command was wrong,
                // not the stack unreachable (exit 2, not 3).
                None => std::fs::read_to_string(&alert).map_err(|e| {
                    Failure::Usage(format!(
                        "{alert}: {e} (not a file, nor a sample: see tvctl send --list)"
                    ))
                })?,
            };
            if text.starts_with('\u{feff}') {
                return Err(Failure::Usage(format!(
                    "{alert}: starts with a UTF-8 byte order mark (EF BB BF): save it without one"
                )));
            }
            // As ingest reads it: a key given twice is refused here too, not merged; a bare
            // `NaN` (an unquoted `{{volume}}`) is read as quoted.
            let mut doc: Value = shared::alert::read_alert_json(text.as_bytes()).map_err(|e| {
                // The webhook's own words where it has them (beside a bare `NaN`, the other
                // mistake, at its column in the file), else serde_json's.
                let why = shared::alert::RawAlert::parse(text.as_bytes())
                    .err()
                    .map_or_else(|| e.to_string(), |refused| refused.to_string());
                Failure::Usage(format!("{alert}: not JSON: {why}"))
            })?;
            if !doc.is_object() {
                return Err(Failure::Usage(format!(
                    "{alert}: an alert is a JSON object ({{...}}), not this"
                )));
            }
            let url_ok = reqwest::Url::parse(&url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !url_ok {
                // Not echoed: the URL may carry the webhook secret in its path.
                return Err(Failure::Usage(
                    "--url (or TVCTL_URL) is not an http(s) URL: give the webhook's URL, like \
                     http://127.0.0.1:8080/webhook"
                        .into(),
                ));
            }
            // Ten years either way: enough for any stale or early alert a test wants, and a
            // timestamp that stays a four-digit year (RFC 3339).
            const MAX_AGE_SECS: i64 = 10 * 366 * 86_400;
            let now = chrono::Duration::try_seconds(age_secs)
                .filter(|_| age_secs.abs() <= MAX_AGE_SECS)
                .and_then(|age| shared::clock::SystemClock.now().checked_sub_signed(age))
                .ok_or_else(|| {
                    Failure::Usage(format!(
                        "--age-secs {age_secs} is out of range (an alert's age in seconds, at \
                         most {MAX_AGE_SECS} either way)"
                    ))
                })?;
            if let Some(t) = &timenow
                && chrono::DateTime::parse_from_rfc3339(t).is_err()
            {
                return Err(Failure::Usage(format!(
                    "--timenow {t:?} is not an RFC 3339 time, like 2026-12-02T14:00:00Z"
                )));
            }
            let timenow =
                timenow.unwrap_or_else(|| now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            if let Some(md) = doc.get_mut("market_data").and_then(Value::as_object_mut) {
                md.insert("timenow".into(), json!(timenow));
                md.insert("timestamp".into(), json!(timenow));
            }
            if let Some(a) = action {
                let (kind, direction) = match a.as_str() {
                    "LONG_ENTRY" => ("ENTRY", "LONG"),
                    "SHORT_ENTRY" => ("ENTRY", "SHORT"),
                    "LONG_EXIT" => ("EXIT", "LONG"),
                    "SHORT_EXIT" => ("EXIT", "SHORT"),
                    "FLATTEN" => ("FLATTEN", "FLAT"),
                    other => {
                        return Err(Failure::Usage(format!(
                            "unknown action {other}: one of LONG_ENTRY, SHORT_ENTRY, LONG_EXIT, \
                             SHORT_EXIT, FLATTEN"
                        )));
                    }
                };
                // Indexed for writing, a `signal` that is a string or an array would panic.
                if doc
                    .get("signal")
                    .is_some_and(|s| !s.is_object() && !s.is_null())
                {
                    return Err(Failure::Usage(format!(
                        "{alert}: its signal is not an object, so --action cannot set \
                         signal.type and signal.direction: make it {{\"type\": …, \
                         \"direction\": …}} or leave it out"
                    )));
                }
                doc["action"] = json!(a);
                doc["signal"]["type"] = json!(kind);
                doc["signal"]["direction"] = json!(direction);
            }
            if let Some(q) = quantity {
                doc["quantity"] = json!(q);
            }
            let sent_default_secret = passphrase == local_stack::LOCAL_SECRET;
            // The webhook checks a secret in the path (`/webhook/<secret>`) instead of the
            // body's `passphrase`: a refusal then is of that one.
            let in_path = reqwest::Url::parse(&url).ok().and_then(|u| {
                u.path()
                    .trim_end_matches('/')
                    .rsplit_once("/webhook/")
                    .map(|(_, secret)| secret.to_owned())
                    .filter(|secret| !secret.is_empty() && !secret.contains('/'))
            });
            let path_secret = in_path.is_some();
            doc["passphrase"] = json!(passphrase);
            let resp = tvctl::http_client()?
                .post(&url)
                .header("content-type", "text/plain; charset=utf-8")
                .body(doc.to_string())
                .send()
                .await
                .map_err(|e| {
                    let timed_out = e.is_timeout();
                    let mut why = request_failed(&url, e);
                    if timed_out {
                        // The webhook may have queued it: a plain rerun has a fresh timenow, a
                        // new signal, and could trade twice.
                        why.push_str("; ");
                        why.push_str(&may_be_queued(&timenow));
                    }
                    why
                })?;
            let status = resp.status();
            // Read without the passphrase sent: a server or proxy at `--url` that echoes the
            // request would put it on the terminal (and a CI log), in the answer printed or a
            // gateway's message quoted below, as the URL is not printed for its secret.
            // The same for the secret in the URL's path (a server's "Cannot POST
            // /webhook/<secret>").
            let raw = resp.text().await.unwrap_or_default();
            // The path's secret as the URL carries it (percent-encoded) and decoded, as a
            // server may echo its path.
            let decoded = in_path.as_deref().map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            });
            let secrets: Vec<&str> = [
                Some(passphrase.as_str()),
                in_path.as_deref(),
                decoded.as_deref(),
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
            let redacted = |text: &str| {
                secrets.iter().fold(text.to_owned(), |text, secret| {
                    tvctl::without_echoed_secret(&text, secret)
                })
            };
            // Only what is printed is redacted: the answer is read as it came, or a short
            // secret redacted out of its keys (`s` of `"signal_id"`) turned the webhook's 200
            // into "not the webhook's answer", and a resend traded twice.
            let body = redacted(&raw);
            // The webhook answers JSON: escaped as JSON, it still parses after the status (any
            // other answer gets the same escapes, harmless in text).
            out_json(&format!("{} {body}", status.as_u16()));
            let shown = tvctl::shown_url(&url);
            let wrong_url = "is --url the webhook's URL: http://127.0.0.1:8080/webhook locally, \
                             the API's stage URL and /webhook when deployed?";
            match webhook_answer(status, &raw) {
                // The stack's own 404 for another path (`TVCTL_URL` without `/webhook`): the
                // URL is wrong, which the refusal alone does not say.
                WebhookAnswer::Ingest
                    if status == reqwest::StatusCode::NOT_FOUND
                        && serde_json::from_str::<Value>(&raw)
                            .is_ok_and(|v| v["error"]["code"] == "not_found") =>
                {
                    let origin = reqwest::Url::parse(&url)
                        .map(|u| u.origin().ascii_serialization())
                        .unwrap_or_default();
                    err(&format!(
                        "{shown}: no such route: the local stack's webhook is at {origin}/webhook"
                    ));
                }
                // Refused the secret in the URL's path, which the webhook checks instead of the
                // passphrase tvctl sends: neither WEBHOOK_SECRET nor --passphrase changes it.
                WebhookAnswer::Ingest
                    if status == reqwest::StatusCode::UNAUTHORIZED && path_secret =>
                {
                    err(&format!(
                        "{shown}: refused (401) the secret in the --url path (after /webhook/), \
                         which the webhook checks instead of the alert's passphrase: it must be \
                         the one the stack or deployment was started with (a deployment also \
                         refuses an address outside its allowlist)"
                    ));
                }
                // Refused the secret tvctl sends when none is given: say which it sent.
                WebhookAnswer::Ingest
                    if status == reqwest::StatusCode::UNAUTHORIZED && sent_default_secret =>
                {
                    err(&format!(
                        "{shown}: refused (401) with the local default secret, which tvctl sends \
                         when none is set: set WEBHOOK_SECRET (or --passphrase) to the secret the \
                         stack or deployment was started with (a deployment also refuses an \
                         address outside its allowlist)"
                    ));
                }
                // Refused the secret the user set: say where it came from and what it must be.
                WebhookAnswer::Ingest if status == reqwest::StatusCode::UNAUTHORIZED => {
                    err(&format!(
                        "{shown}: refused (401): tvctl sent the secret WEBHOOK_SECRET (or \
                         --passphrase) gives, as the alert's `passphrase` (a secret in the \
                         --url path is used instead); it must be the one the stack or deployment \
                         was started with (a deployment also refuses an address outside its \
                         allowlist; the local stack's console says which)"
                    ));
                }
                WebhookAnswer::Ingest => {}
                // API Gateway has no route for the path: the URL is wrong.
                WebhookAnswer::Gateway(m) if m == "Missing Authentication Token" => {
                    return Err(Failure::Unreachable(format!(
                        "{shown}: HTTP {status}: API Gateway has no such route ({wrong_url})"
                    )));
                }
                WebhookAnswer::Gateway(m) if status.is_client_error() => {
                    return Err(Failure::Refused(format!(
                        "{shown}: HTTP {status}: API Gateway refused the request: {}",
                        redacted(&m)
                    )));
                }
                WebhookAnswer::Gateway(m) => {
                    return Err(Failure::Unreachable(format!(
                        "{shown}: HTTP {status}: API Gateway: {}; {}",
                        redacted(&m),
                        may_be_queued(&timenow)
                    )));
                }
                // A 200 from a server that is not the webhook queued nothing: exit 3, never 0.
                WebhookAnswer::Other if !status.is_server_error() => {
                    return Err(Failure::Unreachable(format!(
                        "{shown}: HTTP {status}: not the webhook's answer, nothing is known to \
                         be queued ({wrong_url})"
                    )));
                }
                WebhookAnswer::Other => {
                    return Err(Failure::Unreachable(format!(
                        "{shown}: HTTP {status}: not the webhook's answer; {}",
                        may_be_queued(&timenow)
                    )));
                }
            }
            Ok(if status.is_success() {
                ExitCode::SUCCESS
            } else if status.is_client_error() {
                ExitCode::from(1)
            } else {
                ExitCode::from(3)
            })
        }
        Command::Trades {
            signal,
            base,
            json,
            limit,
        } => {
            let base = tvctl::base_url("--base (or TVCTL_BASE)", &base).map_err(Failure::Usage)?;
            let url = match &signal {
                // An id is hex (either case): nothing in it needs escaping. What cannot be
                // one is a usage error here; the stack says the same to other callers.
                Some(id)
                    if (4..=32).contains(&id.len())
                        && id.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    format!("{base}/local/trades?signal={id}")
                }
                Some(id) => {
                    return Err(Failure::Usage(format!(
                        "a signal is its id or the start of it: 4 to 32 hex characters, got {id:?}"
                    )));
                }
                None => format!("{base}/local/trades?limit={limit}"),
            };
            let v = get_json(&url).await?;
            if json {
                out_json(&v.to_string());
            } else {
                // Each signal's legs under it (the answer lists them apart, in signal order).
                let mut legs: std::collections::HashMap<&str, Vec<&Value>> =
                    std::collections::HashMap::new();
                for o in v["orders"].as_array().into_iter().flatten() {
                    legs.entry(o["signal_id"].as_str().unwrap_or(""))
                        .or_default()
                        .push(o);
                }
                for s in v["signals"].as_array().into_iter().flatten() {
                    let id = s["signal_id"].as_str().unwrap_or("");
                    // When ingest received it (UTC): a list of hundreds needs its times.
                    let received = s["stages"]["received"]
                        .as_str()
                        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                        .map_or_else(
                            || "-".to_owned(),
                            |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                        );
                    out(&format!(
                        "{}  {received}  {:<11} {:<8} {:<9} {:<8} {}{}",
                        id.get(..12).unwrap_or(id),
                        s["action"].as_str().unwrap_or(""),
                        s["symbol"].as_str().unwrap_or(""),
                        s["broker"].as_str().unwrap_or(""),
                        s["status"].as_str().unwrap_or(""),
                        s["reason"].as_str().unwrap_or(""),
                        replayed_tag(&v["replays"], id)
                    ));
                    for o in legs.remove(id).unwrap_or_default() {
                        out(&order_line(o));
                    }
                }
                // A leg whose signal is not listed (never, from this stack): shown, not lost.
                for o in v["orders"].as_array().into_iter().flatten() {
                    if legs.contains_key(o["signal_id"].as_str().unwrap_or("")) {
                        out(&order_line(o));
                    }
                }
                // An empty list says so: silence reads as a command that did nothing.
                if signal.is_none() && v["signals"].as_array().is_some_and(Vec::is_empty) {
                    out(
                        "(no signal journaled yet: an accepted alert is journaled once its executor is done with it)",
                    );
                }
                // One signal: the dead-letter replays of it too (the list leaves them to the
                // report, which names each message).
                if signal.is_some() {
                    for r in v["replays"].as_array().into_iter().flatten() {
                        out(&replay_line(r));
                    }
                }
                if v["more"] == true && i64::from(limit) >= TRADES_MAX {
                    out(&format!(
                        "(the latest {limit} signal{}, the most `trades` shows; the journal holds older ones: tvctl report reads them all)",
                        if limit == 1 { "" } else { "s" }
                    ));
                } else if v["more"] == true {
                    out(&format!(
                        "(the latest {limit} signal{}; the journal holds older ones: --limit N shows more, tvctl report reads them all)",
                        if limit == 1 { "" } else { "s" }
                    ));
                }
                // Dead letters are not all in the journal (a signal that failed before an
                // executor journaled it, its broker unreachable, is only there): said, so an
                // alert answered 200 and missing above is found.
                if signal.is_none()
                    && let Ok(queues) = get_json(&format!("{base}/local/queues")).await
                {
                    let shown = tvctl::shown_url(&base);
                    for line in
                        dead_letter_lines(&queues, shown.trim_end_matches('/'), NOT_LISTED_ABOVE)
                    {
                        out(&line);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Positions { base, json } => {
            let base = tvctl::base_url("--base (or TVCTL_BASE)", &base).map_err(Failure::Usage)?;
            let v = get_json(&format!("{base}/local/positions")).await?;
            if json {
                out_json(&v.to_string());
            } else {
                for line in tvctl::positions_lines(&v) {
                    out(&line);
                }
            }
            // A broker not read (its reasons printed above, or in the JSON's `read_errors`):
            // what it holds is unknown, never success.
            Ok(if tvctl::positions_unread(&v) {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Dlq { command } => run_dlq(command).await,
        Command::Report {
            journal,
            log_lines,
            since,
            until,
            strategy,
            instrument,
            accounts,
            output,
            json,
            csv,
        } => {
            use tvctl::report;
            let journal = journal
                .or_else(|| std::env::var("TVCTL_JOURNAL").ok())
                .unwrap_or_else(|| ".tvctl/journal.sqlite".to_owned());
            let filter = analytics::Filter {
                since: since
                    .as_deref()
                    .map(|t| time_bound("since", t))
                    .transpose()
                    .map_err(Failure::Usage)?,
                until: until
                    .as_deref()
                    .map(|t| time_bound("until", t))
                    .transpose()
                    .map_err(Failure::Usage)?,
                strategy,
                instrument,
                accounts,
            };
            // Filters that can select nothing are mistakes, not empty reports.
            if let (Some(s), Some(u)) = (filter.since, filter.until)
                && s >= u
            {
                return Err(Failure::Usage(format!(
                    "--since {s} is not before --until {u}: nothing could be selected"
                )));
            }
            for (name, value) in [
                ("--strategy", &filter.strategy),
                ("--instrument", &filter.instrument),
            ] {
                if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return Err(Failure::Usage(format!("{name} is empty")));
                }
            }
            if !json
                && !csv
                && let Some(why) = report::unwritable_output(&output)
            {
                return Err(Failure::Usage(why));
            }
            let (source, name) = match log_lines {
                Some(path) => {
                    let name = path.display().to_string();
                    (report::Source::LogLines(path), name)
                }
                None => {
                    let name = match journal::Location::of(&journal) {
                        journal::Location::Postgres => "PostgreSQL journal".to_owned(),
                        _ => journal::shown(&journal),
                    };
                    if let Some(missing) = report::missing_journal(&journal) {
                        // The default is `tvctl dev`'s default journal, which a stack started
                        // with `--journal PATH` does not write.
                        let hint = match journal::Location::of(&journal) {
                            journal::Location::File(_) => {
                                " (a stack started with `tvctl dev --journal PATH` writes PATH: \
                                 give it with --journal, or TVCTL_JOURNAL)"
                            }
                            _ => "",
                        };
                        return Err(Failure::Usage(format!("{missing}{hint}")));
                    }
                    (report::Source::Journal(journal), name)
                }
            };
            // The HTML's folder must exist before the journal is read (a large journal takes
            // seconds), and a wrong folder is a usage error like any other wrong path.
            if !json
                && !csv
                && let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return Err(Failure::Usage(format!(
                    "{}: no such folder for the report",
                    dir.display()
                )));
            }
            let (signals, orders, unreadable) =
                report::load(&source).await.map_err(|e| match e {
                    report::LoadError::NotAJournal(why) => Failure::Usage(why),
                    report::LoadError::Unavailable(why) => Failure::Unreachable(why),
                })?;
            // A strategy or instrument no signal of the journal has is a mistake (a typo, the
            // alert's symbol for the broker's name), not an empty report: say what there is,
            // and leave an earlier report file as it was.
            if let Some(why) = unknown_names(&filter, &signals, &orders) {
                return Err(Failure::Refused(why));
            }
            let mut r = analytics::analyze(&signals, &orders, &filter);
            r.warnings.extend(report::unreadable_warnings(&unreadable));
            if json {
                out_json(&serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?);
            } else if csv {
                // The trades on stdout; what they leave out or estimate on stderr, so a
                // spreadsheet is not taken as the whole story.
                for w in &r.warnings {
                    err(&format!("warning: {w}"));
                }
                let text = report::csv(&r);
                out_csv(text.trim_end());
            } else {
                std::fs::write(&output, report::html(&r, &filter, &name))
                    .map_err(|e| Failure::Usage(format!("{}: {e}", output.display())))?;
                let plural = |n: usize, one: &str, many: &str| {
                    format!("{n} {}", if n == 1 { one } else { many })
                };
                // Named: `--journal` defaults to `.tvctl/journal.sqlite`, which need not be the
                // journal a stack started with `tvctl dev --journal <path>` writes.
                out(&format!(
                    "{}: {}, {}, from {name}",
                    output.display(),
                    plural(r.signals, "signal", "signals"),
                    plural(r.trades.len(), "trade", "trades")
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::AlertTemplate {
            broker,
            symbol,
            action,
        } => {
            let b = match broker.to_ascii_lowercase().as_str() {
                "oanda" => shared::routing::Broker::Oanda,
                "tradovate" => shared::routing::Broker::Tradovate,
                "coinbase" => shared::routing::Broker::Coinbase,
                other => {
                    return Err(Failure::Usage(format!(
                        "broker {other:?}: expected oanda, tradovate or coinbase"
                    )));
                }
            };
            let action = action.to_ascii_uppercase();
            let others = [
                "LONG_ENTRY",
                "LONG_EXIT",
                "SHORT_ENTRY",
                "SHORT_EXIT",
                "FLATTEN",
            ]
            .into_iter()
            .filter(|a| *a != action)
            .collect::<Vec<_>>()
            .join(", ");
            let tvctl::template::Template {
                text,
                exchanges: exchange,
                instrument,
            } = tvctl::template::template(
                // The table `tvctl dev` in this shell routes by (`ROUTING_TABLE_FILE`, else
                // the embedded one), as the risk note below reads this shell's settings.
                &shared::RoutingTable::from_env(&shared::config::ProcessEnv)
                    .map_err(|e| Failure::Usage(e.to_string()))?,
                b,
                &symbol,
                &action,
                shared::clock::SystemClock.now(),
            )
            .map_err(Failure::Usage)?;
            // An entry with no size configured is answered 200 by the webhook and refused by
            // the executor: said here, before the alert is set up (the settings `tvctl dev`
            // would read from this shell; a deployment reads its executors' own).
            if action.ends_with("_ENTRY") {
                match local_stack::entry_without_size(
                    &shared::config::ProcessEnv,
                    b,
                    &instrument,
                    &action,
                ) {
                    Ok(Some(why)) => err(&format!(
                        "note: an entry for {instrument} is refused as the risk settings stand \
                         here: {why}"
                    )),
                    Ok(None) => {}
                    Err(why) => err(&format!("note: the risk settings cannot be read: {why}")),
                }
            }
            out(&format!(
                "Create an indicator or price alert on the {symbol} chart (its exchange must be \
                 one of: {exchange}); TradingView fills in {{{{ticker}}}}, {{{{exchange}}}} and \
                 the prices when it fires. One alert per action: this one is {action} (--action \
                 {others} gives the others). For a strategy, whose alert \
                 fires on every order with one message, put this JSON (one per action) in each \
                 order's alert_message in Pine and {{{{strategy.order.alert_message}}}} as the \
                 alert's message.\n\n\
                 Webhook URL:\n  local:      http://127.0.0.1:<port of tvctl dev, 8080 by default>/webhook/<your webhook secret>\n  \
                 \x20           (for `tvctl send` and curl: TradingView's servers cannot reach your 127.0.0.1)\n  \
                 deployment: <the stack's WebhookUrl output>/<your webhook secret>\n\
                 (or leave the URL without it and add \"passphrase\": \"<secret>\" to the message)\n\n\
                 Message:\n{text}"
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { base, json } => {
            let base = tvctl::base_url("--base (or TVCTL_BASE)", &base).map_err(Failure::Usage)?;
            let mut brokers = Vec::new();
            for broker in ["oanda", "tradovate", "coinbase"] {
                brokers.push(broker_status(&base, broker).await?);
            }
            // Only the local stack has queues and settings to show; a deployed API refuses the
            // path.
            let queues = get_json(&format!("{base}/local/queues")).await.ok();
            // Asked only of a stack that has queues: each refusal by a deployment counts in
            // its refused-ratio alarm.
            let settings = match &queues {
                Some(_) => get_json(&format!("{base}/local/settings")).await.ok(),
                None => None,
            };
            let degraded = brokers.iter().any(|b| b["status"] == "degraded");
            // A dead letter waits for the trader (replay or drop it): after a restart the
            // broker's health no longer shows the failure that put it there.
            let waiting = queues.as_ref().map_or_else(Vec::new, |q| {
                dead_letter_lines(q, tvctl::shown_url(&base).trim_end_matches('/'), "")
            });
            if json {
                out_json(
                    &json!({"brokers": brokers, "queues": queues, "settings": settings})
                        .to_string(),
                );
            } else {
                for b in &brokers {
                    let mut line = format!(
                        "{:<10} {:<9} last success {}  last failure {}{}",
                        b["broker"].as_str().unwrap_or(""),
                        b["status"].as_str().unwrap_or(""),
                        b["last_success"].as_str().unwrap_or("-"),
                        b["last_failure"].as_str().unwrap_or("-"),
                        b["last_failure_kind"]
                            .as_str()
                            .map(|k| format!(" ({k})"))
                            .unwrap_or_default(),
                    );
                    if let Some(secs) = b["token_expires_in_secs"].as_i64() {
                        line.push_str(&format!("  token expires in {secs} s"));
                    }
                    if let Some(at) = b["last_token_failure"].as_str() {
                        line.push_str(&format!("  token refresh failed {at}"));
                    }
                    out(&line);
                }
                for q in queues
                    .as_ref()
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out(&format!(
                        "{:<20} depth {:<4} dead letters {}",
                        q["name"].as_str().unwrap_or(""),
                        q["depth"],
                        q["dead_letters"].as_array().map_or(0, Vec::len)
                    ));
                }
                for line in &waiting {
                    out(line);
                }
                if let Some(s) = &settings {
                    out(&freshness_line(
                        s["max_alert_age_secs"].as_i64(),
                        s["max_clock_skew_secs"].as_i64(),
                    ));
                }
            }
            Ok(if degraded || !waiting.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// What `trades` says of the dead letters it counts: a letter whose signal no executor
/// journaled is not among the signals it lists.
const NOT_LISTED_ABOVE: &str = ", some perhaps never journaled, so not listed above";

/// One line per local queue holding dead letters (the local stack's `/local/queues`): how
/// many, `note` after that (`trades`: why they may be missing from its list), and the command
/// that lists them.
fn dead_letter_lines(queues: &Value, base: &str, note: &str) -> Vec<String> {
    dead_letter_lines_but(queues, base, note, None)
}

/// [`dead_letter_lines`] for every dead-letter queue but `listed` (the one a `dlq list` has
/// just listed).
fn dead_letter_lines_but(
    queues: &Value,
    base: &str,
    note: &str,
    listed: Option<&str>,
) -> Vec<String> {
    queues
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| {
            let n = q["dead_letters"].as_array().map_or(0, Vec::len);
            let name = q["name"].as_str()?;
            let dlq = format!("{}-dlq.fifo", name.strip_suffix(".fifo").unwrap_or(name));
            (n > 0 && listed != Some(dlq.as_str())).then(|| {
                format!(
                    "({n} message(s) in {dlq}{note}: tvctl dlq list --local {} --queue {dlq})",
                    tvctl::shown_url(base).trim_end_matches('/')
                )
            })
        })
        .collect()
}

/// One replay decision of a signal (a `ReplayAudit` as JSON): when, by whom, whether a dry
/// run, which message, and what became of it.
fn replay_line(r: &Value) -> String {
    format!(
        "  replay  {} by {}{}: {} {}: {}",
        r["at"].as_str().unwrap_or(""),
        r["operator"].as_str().unwrap_or(""),
        if r["dry_run"] == true {
            " (dry run)"
        } else {
            ""
        },
        r["queue"].as_str().unwrap_or(""),
        r["message_id"].as_str().unwrap_or(""),
        r["result"].as_str().unwrap_or("")
    )
}

/// Why a report's `--strategy` or `--instrument` can select nothing: no signal of the whole
/// journal has that strategy, nor that instrument (the broker's name of the signal's or one
/// of its legs', or the alert's symbol; any case). Names the ones the journal has (at most
/// 20 of each). `None` when every name given is in the journal (a time range may still
/// select nothing: an empty report).
fn unknown_names(
    filter: &analytics::Filter,
    signals: &[shared::execution::SignalRecord],
    orders: &[shared::execution::OrderRecord],
) -> Option<String> {
    use std::collections::BTreeSet;
    let listed = |names: BTreeSet<String>| {
        let n = names.len();
        let mut shown: Vec<String> = names.into_iter().take(20).collect();
        if n > shown.len() {
            shown.push(format!("and {} more", n - shown.len()));
        }
        if shown.is_empty() {
            "none".to_owned()
        } else {
            shown.join(", ")
        }
    };
    // Each signal's alert is parsed again for its strategy: stop at the first match, and
    // gather the names only for the refusal.
    if let Some(want) = &filter.strategy
        && !signals
            .iter()
            .any(|s| analytics::strategy_of(s).eq_ignore_ascii_case(want))
    {
        let strategies: BTreeSet<String> = signals.iter().map(analytics::strategy_of).collect();
        return Some(format!(
            "--strategy {want:?}: no signal of the journal has it (strategies are \
             indicator/timeframe; the journal has: {})",
            listed(strategies)
        ));
    }
    if let Some(want) = &filter.instrument {
        let known = |name: &str| name.eq_ignore_ascii_case(want);
        let found = signals
            .iter()
            .any(|s| known(&s.symbol) || s.instrument.as_deref().is_some_and(known))
            || orders.iter().any(|o| known(&o.instrument));
        if !found {
            // Each broker name with the alert symbols it was traded under (`EUR_USD
            // (EURUSD)`): either selects, and a trader may know only the one in the alert.
            let mut instruments: std::collections::BTreeMap<String, BTreeSet<String>> =
                std::collections::BTreeMap::new();
            for s in signals {
                if let Some(i) = &s.instrument {
                    let symbols = instruments.entry(i.clone()).or_default();
                    if !s.symbol.eq_ignore_ascii_case(i) {
                        symbols.insert(s.symbol.clone());
                    }
                }
            }
            for o in orders {
                instruments.entry(o.instrument.clone()).or_default();
            }
            let names = instruments
                .into_iter()
                .map(|(i, symbols)| {
                    if symbols.is_empty() {
                        return i;
                    }
                    let n = symbols.len();
                    let mut shown: Vec<String> = symbols.into_iter().take(5).collect();
                    if n > shown.len() {
                        shown.push(format!("and {} more", n - shown.len()));
                    }
                    format!("{i} ({})", shown.join(", "))
                })
                .collect();
            return Some(format!(
                "--instrument {want:?}: no signal of the journal has it (the broker's name, or \
                 the alert's symbol, in parentheses; the journal has: {})",
                listed(names)
            ));
        }
    }
    None
}

/// One order row of `tvctl trades`. A leg sent more than once says which send the row is, so
/// a duplicate order stands out next to its first attempt.
fn order_line(o: &Value) -> String {
    let leg = o["leg"].as_str().unwrap_or("");
    let leg = match o["attempt"].as_u64() {
        Some(n) if n > 1 => format!("{leg} (attempt {n})"),
        _ => leg.to_owned(),
    };
    let instrument = o["instrument"].as_str().unwrap_or("");
    let quantity = o["quantity"].as_str().unwrap_or("");
    // A Coinbase quantity is named in its currency (the stack's `quantity_unit`): a buy not
    // known to have filled keeps the quote amount it was to spend, so 100 USD does not read
    // as 100 BTC.
    let quantity = match o["quantity_unit"].as_str() {
        Some(unit) if o["broker"] == "coinbase" => format!("{quantity} {unit}"),
        _ => quantity.to_owned(),
    };
    // The leg's own reason (a broker's refusal, what a lookup found, the rest of a fill in
    // part), shortened: the signal line gives one reason for all its legs.
    const SHOWN: usize = 160;
    // On one line: a broker's text may hold line breaks.
    let error = o["error"]
        .as_str()
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "));
    let error = match error.as_deref().filter(|e| !e.is_empty()) {
        Some(e) if e.chars().count() > SHOWN => {
            format!(": {}…", e.chars().take(SHOWN).collect::<String>())
        }
        Some(e) => format!(": {e}"),
        None => String::new(),
    };
    format!(
        "  order {} {} {} {} {} @ {} {}{error}",
        o["signal_id"]
            .as_str()
            .map(|x| x.get(..12).unwrap_or(x))
            .unwrap_or(""),
        instrument,
        leg,
        o["side"].as_str().unwrap_or(""),
        quantity,
        o["fill_price"].as_str().unwrap_or("-"),
        o["outcome"].as_str().unwrap_or("")
    )
}

/// How long `dlq list` and `dlq show` wait for the journal's reasons before listing without
/// them.
const REASONS_READ: std::time::Duration = std::time::Duration::from_secs(10);

/// The journal's status and reason for each SQS dead letter's signal, as its last error, when
/// `JOURNAL_URL` names the journal: SQS's redrive moves a message with no reason, and the
/// executors journal why a signal failed. The local stack's list has them already. A journal
/// that cannot be read leaves the list as it is, said once on stderr (in the journal's own
/// words, which never carry the URL).
async fn journaled_reasons(target: &dlq::Target, messages: &mut [dlq::DeadMessage]) {
    if !matches!(target, dlq::Target::Sqs { .. }) || messages.is_empty() {
        return;
    }
    let Ok(url) = std::env::var("JOURNAL_URL") else {
        return;
    };
    // Read only, and never a file made up on the spot: a mistyped path would be a new empty
    // journal whose "no row" reads as "failed before an executor journaled it", and a
    // listing must not bring a production schema up to date either.
    if let Some(missing) = tvctl::report::missing_journal(&url) {
        err(&format!(
            "the journal at JOURNAL_URL was not read for the dead letters' reasons: {missing}"
        ));
        return;
    }
    let read = async {
        let journal = journal::AnyJournal::open_read_only(&url).await?;
        for m in messages.iter_mut().filter(|m| m.last_error.is_none()) {
            let Some(id) = m
                .signal_id
                .as_deref()
                .and_then(|s| s.parse::<shared::signal::SignalId>().ok())
            else {
                continue;
            };
            m.last_error = Some(
                match shared::execution::TradeJournal::signal(&journal, &id).await? {
                    Some(record) => record.journaled(),
                    None => "no row in the journal at JOURNAL_URL (it failed before an executor \
                         journaled it)"
                        .to_owned(),
                },
            );
        }
        Ok::<_, shared::execution::JournalError>(())
    };
    match tokio::time::timeout(REASONS_READ, read).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => err(&format!(
            "the journal at JOURNAL_URL was not read for the dead letters' reasons: {e}"
        )),
        Err(_) => err(&format!(
            "the journal at JOURNAL_URL did not answer within {} s: the dead letters are listed \
             without their reasons",
            REASONS_READ.as_secs()
        )),
    }
}

/// The journal's latest signals (at most `TRADES_MAX`), for a forced replay's note: the local
/// stack's `/local/trades`, or the journal at `JOURNAL_URL` against SQS (read only, never a
/// file made up). `None`, said on stderr, when it cannot be read in [`REASONS_READ`].
async fn latest_journaled(target: &dlq::Target) -> Option<Vec<shared::execution::SignalRecord>> {
    let limit = TRADES_MAX;
    let read = async {
        match target {
            dlq::Target::Local { base, .. } => {
                let v = get_json(&format!("{base}/local/trades?limit={limit}"))
                    .await
                    .map_err(|e| match e {
                        Failure::Usage(e) | Failure::Refused(e) | Failure::Unreachable(e) => e,
                    })?;
                serde_json::from_value(v["signals"].clone()).map_err(|e| e.to_string())
            }
            dlq::Target::Sqs { .. } => {
                let url = std::env::var("JOURNAL_URL")
                    .map_err(|_| "JOURNAL_URL is not set".to_owned())?;
                if let Some(missing) = tvctl::report::missing_journal(&url) {
                    return Err(missing);
                }
                let journal = journal::AnyJournal::open_read_only(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                journal
                    .recent_signals(limit)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    };
    match tokio::time::timeout(REASONS_READ, read).await {
        Ok(Ok(signals)) => Some(signals),
        Ok(Err(e)) => {
            err(&format!(
                "the journal was not read for later signals of the forced letters' symbols: {e}"
            ));
            None
        }
        Err(_) => {
            err(&format!(
                "the journal did not answer within {} s: later signals of the forced letters' \
                 symbols were not looked for",
                REASONS_READ.as_secs()
            ));
            None
        }
    }
}

/// The journal at `JOURNAL_URL`, which audits SQS replays: unset is a usage error, a journal
/// that cannot be reached exit 3.
async fn audit_journal() -> Result<journal::AnyJournal, Failure> {
    let url = std::env::var("JOURNAL_URL").map_err(|_| {
        Failure::Usage(
            "no audit trail: SQS replays are audited in the journal at JOURNAL_URL, or with \
             --audit-file <path> in a local JSON-lines file when the database is out of reach; \
             nothing was replayed"
                .to_owned(),
        )
    })?;
    let unreadable = |e: shared::execution::JournalError| {
        Failure::Unreachable(format!(
            "the audit trail's journal cannot be read ({e}); nothing was replayed (--audit-file \
             <path> audits in a local file instead)"
        ))
    };
    // A PostgreSQL journal is the deployment's: opened now (an unreachable database found
    // before anything moves, not after) and never migrated from here, its schema required to
    // be this build's: a newer tvctl would change the schema under the deployed executors,
    // a deployment's step, not an operator tool's.
    // One that lacks this build's latest migrations is used as it is (the deployed executors
    // may not have migrated it yet since a deploy of this build), said in a warning; so is
    // one ahead of this build (a newer build's migrations after all of its own: after a
    // rollback, this is the deployment's build), as its executors use it.
    let (journal, behind) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (pg, behind) = journal::PgJournal::open_unmigrated(&url)
            .await
            .map_err(unreadable)?;
        (journal::AnyJournal::Postgres(pg), behind)
    } else {
        let journal = journal::AnyJournal::connect(&url)
            .await
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        (journal, None)
    };
    if let Some(why) = behind {
        err(&format!("tvctl: warning: {why}"));
    }
    journal.recent_signals(1).await.map_err(unreadable)?;
    Ok(journal)
}

fn open_audit_file(path: &std::path::Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            format!(
                "audit file {} cannot be written ({e}); nothing was replayed",
                path.display()
            )
        })
}

/// Appends one JSON line per audit record and syncs the file before returning.
fn file_audit(
    path: &std::path::Path,
    audits: &[shared::replay::ReplayAudit],
) -> Result<(), String> {
    use std::io::Write;
    let mut file = open_audit_file(path)?;
    let mut text = String::new();
    for a in audits {
        text.push_str(&serde_json::to_string(a).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("audit file {}: {e}", path.display()))
}

async fn journal_audit(audits: &[shared::replay::ReplayAudit]) -> Result<(), String> {
    use shared::replay::AuditLog;
    let journal = audit_journal().await.map_err(|e| match e {
        Failure::Usage(e) | Failure::Refused(e) | Failure::Unreachable(e) => e,
    })?;
    for a in audits {
        journal.record_replay(a).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// For a signal `trades` lists by when it was received: ` [replay (forced) queued at <time>:
/// ...]` when a dead-letter replay of it was queued (the latest one; dry runs and refusals not
/// counted): it executed after that (when the executor next took it, which a stack down at
/// the time delays), perhaps after signals listed below it, which the list's order does not
/// show; a look-up-only replay (`[replay (look-up only) queued at <time>: ...]`) only looked it
/// up. The time is when the replay was asked for, not when it ran (the audit keeps the one).
fn replayed_tag(replays: &Value, signal_id: &str) -> String {
    let latest = replays
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["signal_id"] == signal_id
                && r["dry_run"] != true
                && r["result"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("replayed"))
        })
        .filter_map(|r| {
            let at = r["at"]
                .as_str()?
                .parse::<chrono::DateTime<chrono::Utc>>()
                .ok()?;
            let look_up_only = r["result"]
                .as_str()
                .is_some_and(|t| t.starts_with("replayed (look-up only)"));
            Some((at, r["forced"] == true, look_up_only))
        })
        .max();
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%SZ");
    match latest {
        None => String::new(),
        // Sent back past the age limit on purpose: the executor only looked it up.
        Some((t, _, true)) => format!(
            "  [replay (look-up only) queued at {}: looked up after that, nothing sent by the replay]",
            at(t)
        ),
        Some((t, forced, false)) => format!(
            "  [replay{} queued at {}: executed after that, not when received]",
            if forced { " (forced)" } else { "" },
            at(t)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_signal_says_when_a_replay_of_it_ran() {
        let replays = serde_json::json!([
            {"signal_id": "aa", "at": "2026-12-05T21:04:23Z", "dry_run": true,
             "result": "would replay (forced)", "forced": true},
            {"signal_id": "aa", "at": "2026-12-05T21:05:12.5Z", "dry_run": false,
             "result": "replayed (forced), the signal 90 s old", "forced": true},
            {"signal_id": "bb", "at": "2026-12-05T21:06:00Z", "dry_run": false,
             "result": "refused: older than the 30 s age limit", "forced": false},
        ]);
        assert_eq!(
            replayed_tag(&replays, "aa"),
            "  [replay (forced) queued at 2026-12-05 21:05:12Z: executed after that, not when received]"
        );
        // A refused or dry-run replay moved nothing: no tag.
        assert_eq!(replayed_tag(&replays, "bb"), "");
        // A look-up-only replay traded nothing: not said to have executed.
        let looked_up = serde_json::json!([
            {"signal_id": "dd", "at": "2026-12-05T21:07:00Z", "dry_run": false,
             "result": "replayed (look-up only)", "forced": false},
        ]);
        assert_eq!(
            replayed_tag(&looked_up, "dd"),
            "  [replay (look-up only) queued at 2026-12-05 21:07:00Z: looked up after that, nothing sent by the replay]"
        );
        assert_eq!(replayed_tag(&replays, "cc"), "");
        assert_eq!(replayed_tag(&Value::Null, "aa"), "");
    }

    #[test]
    fn the_suggested_send_reaches_this_stack() {
        let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(
            send_hint(at(8080), None, true),
            "tvctl send oanda-eurusd-long"
        );
        assert_eq!(
            send_hint(at(8181), None, true),
            "tvctl send oanda-eurusd-long --url http://127.0.0.1:8181/webhook"
        );
        assert_eq!(
            send_hint(at(8181), Some("http://127.0.0.1:8181/webhook"), true),
            "tvctl send oanda-eurusd-long"
        );
        assert_eq!(
            send_hint(at(8080), Some("http://127.0.0.1:9000/webhook"), false),
            "WEBHOOK_SECRET=<your secret> tvctl send oanda-eurusd-long --url http://127.0.0.1:8080/webhook"
        );
    }

    #[test]
    fn an_order_line_names_the_attempt_only_of_a_resend() {
        let mut o = json!({
            "signal_id": "0123456789abcdef0123456789abcdef",
            "instrument": "EUR_USD",
            "leg": "open",
            "attempt": 1,
            "side": "buy",
            "quantity": "1000",
            "fill_price": "1.08345",
            "outcome": "filled",
        });
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab EUR_USD open buy 1000 @ 1.08345 filled"
        );
        o["attempt"] = json!(2);
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab EUR_USD open (attempt 2) buy 1000 @ 1.08345 filled"
        );
    }

    #[test]
    fn dead_letters_beside_the_trades_name_their_queue_and_the_command() {
        let queues = json!([
            {"name": "signals.fifo", "depth": 0, "dead_letters": []},
            {"name": "oanda.fifo", "depth": 0, "dead_letters": [{"message_id": "m-1"}, {"message_id": "m-2"}]},
        ]);
        assert_eq!(
            super::dead_letter_lines(&queues, "http://127.0.0.1:8080", super::NOT_LISTED_ABOVE),
            [
                "(2 message(s) in oanda-dlq.fifo, some perhaps never journaled, so not listed above: \
              tvctl dlq list --local http://127.0.0.1:8080 --queue oanda-dlq.fifo)"
            ]
        );
        assert!(super::dead_letter_lines(&json!({"error": "x"}), "b", "").is_empty());
        // After `dlq list` of one queue: the others only.
        assert!(super::dead_letter_lines_but(&queues, "b", "", Some("oanda-dlq.fifo")).is_empty());
        assert_eq!(
            super::dead_letter_lines_but(&queues, "b", "", Some("signals-dlq.fifo")).len(),
            1
        );
    }

    #[test]
    fn a_replay_line_says_when_by_whom_and_whether_it_was_a_dry_run() {
        let audit = shared::replay::ReplayAudit {
            at: "2026-12-03T09:15:00Z".parse().unwrap(),
            queue: "oanda-dlq.fifo".into(),
            message_id: "m-1".into(),
            signal_id: None,
            forced: false,
            dry_run: true,
            result: "would replay".into(),
            operator: "alice".into(),
        };
        let mut r = serde_json::to_value(&audit).unwrap();
        assert_eq!(
            replay_line(&r),
            "  replay  2026-12-03T09:15:00Z by alice (dry run): oanda-dlq.fifo m-1: would replay"
        );
        r["dry_run"] = json!(false);
        r["result"] = json!("replayed (forced)");
        assert_eq!(
            replay_line(&r),
            "  replay  2026-12-03T09:15:00Z by alice: oanda-dlq.fifo m-1: replayed (forced)"
        );
    }

    #[test]
    fn a_coinbase_quantity_is_shown_in_its_currency() {
        // As the stack answers: `quantity_unit` is the quote currency until a buy fills.
        let mut o = json!({
            "signal_id": "0123456789abcdef0123456789abcdef",
            "broker": "coinbase",
            "instrument": "BTC-USD",
            "leg": "open",
            "attempt": 1,
            "side": "buy",
            "quantity": "100",
            "quantity_unit": "USD",
            "fill_price": null,
            "outcome": "rejected",
        });
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab BTC-USD open buy 100 USD @ - rejected"
        );
        // The leg's own reason, shortened.
        o["error"] = json!("INSUFFICIENT_FUND: not enough USD");
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab BTC-USD open buy 100 USD @ - rejected: INSUFFICIENT_FUND: not enough USD"
        );
        o["error"] = json!("x".repeat(200));
        assert!(order_line(&o).ends_with(&format!(": {}…", "x".repeat(160))));
        o["error"] = serde_json::Value::Null;
        // Filled, the quantity is the coins bought; a sell's is always the coins sold.
        o["outcome"] = json!("filled");
        o["quantity"] = json!("0.0015");
        o["quantity_unit"] = json!("BTC");
        o["fill_price"] = json!("66000");
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab BTC-USD open buy 0.0015 BTC @ 66000 filled"
        );
        o["side"] = json!("sell");
        o["outcome"] = json!("unknown");
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab BTC-USD open sell 0.0015 BTC @ 66000 unknown"
        );
        // Other brokers' lines stay as they were: units and contracts go without saying.
        o["broker"] = json!("oanda");
        o["instrument"] = json!("EUR_USD");
        o["quantity_unit"] = json!("units");
        assert_eq!(
            order_line(&o),
            "  order 0123456789ab EUR_USD open sell 0.0015 @ 66000 unknown"
        );
    }
}
