//! `tvctl report`: the journal's analytics ([`analytics::analyze`]) as one self-contained HTML
//! file (inline SVG charts drawn with `plotters`, markup with `maud`; nothing loaded from the
//! network), JSON, or CSV of the trades.

use analytics::{Filter, Report};
use maud::{DOCTYPE, Markup, html};
use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use shared::execution::{OrderRecord, SignalRecord, StageTimes};
use std::collections::BTreeMap;

/// Where the journal is: a SQLite file or PostgreSQL URL, or a file of `journal=log` lines.
#[derive(Debug, Clone)]
pub enum Source {
    Journal(String),
    LogLines(std::path::PathBuf),
}

/// Why a source could not be read: it is not a journal (what was named is wrong: `tvctl`
/// exits 2), or it could not be opened or read (exit 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    NotAJournal(String),
    Unavailable(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAJournal(why) | Self::Unavailable(why) => f.write_str(why),
        }
    }
}

impl From<LoadError> for String {
    fn from(e: LoadError) -> Self {
        e.to_string()
    }
}

/// What a report reads: the signal rows, the order rows, and each journal row that could not
/// be read, named (left out of the report, which says so).
pub type Loaded = (Vec<SignalRecord>, Vec<OrderRecord>, Vec<String>);

/// Every signal and order row of the source. A row that cannot be read (a status or leg a
/// newer executor wrote) is left out and named in the third list, where it failed the whole
/// report.
///
/// # Errors
/// [`LoadError::NotAJournal`] for a path or URL that names no journal (see
/// [`missing_journal`]), or a database without the journal's tables; otherwise
/// [`LoadError::Unavailable`], naming the source, when it cannot be opened or read.
pub async fn load(source: &Source) -> Result<Loaded, LoadError> {
    match source {
        Source::Journal(url) => {
            if let Some(missing) = missing_journal(url) {
                return Err(LoadError::NotAJournal(missing));
            }
            let unavailable = |e: String| {
                // SQLite's answer for a file that is not a database (a log, a text file): a
                // wrong path, not an unreachable journal.
                if e.contains("file is not a database") {
                    LoadError::NotAJournal(format!(
                        "{} is not a journal: it is not a SQLite database",
                        journal::shown(url)
                    ))
                } else {
                    LoadError::Unavailable(format!("journal {}: {e}", journal::shown(url)))
                }
            };
            // Read-only: a report never migrates or writes the journal it is pointed at.
            let journal = journal::AnyJournal::open_read_only(url)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            // One snapshot: a signal written while the report reads is in it with its legs, or
            // not at all.
            let rows = journal.report_rows().await;
            let read = |e: shared::execution::JournalError| {
                let text = e.to_string();
                // SQLite's "no such column: fee", PostgreSQL's `column "fee" does not
                // exist`: a journal, written by an older version (a report never migrates).
                if text.contains("no such column")
                    || (text.contains("column") && text.contains("does not exist"))
                {
                    return LoadError::Unavailable(format!(
                        "journal {}: its tables are older than this tvctl's ({text}); this \
                         version's executors or `tvctl dev` migrate it when they next write \
                         it (a report only reads)",
                        journal::shown(url)
                    ));
                }
                // SQLite's "no such table: signals", PostgreSQL's `relation "signals" does
                // not exist`: a database, but not a journal (or one no executor ever wrote).
                if text.contains("no such table") || text.contains("does not exist") {
                    LoadError::NotAJournal(format!(
                        "{} is not a journal: it has no journal tables (no executor or local \
                         stack has written a journal there)",
                        journal::shown(url)
                    ))
                } else {
                    unavailable(text)
                }
            };
            let ((signals, mut unreadable), (orders, unread_orders)) = rows.map_err(read)?;
            unreadable.extend(unread_orders);
            Ok((signals, orders, unreadable))
        }
        Source::LogLines(path) => {
            // A file that cannot be read, or holds no journal record, is the wrong file given
            // (exit 2), as a journal path that does not exist is.
            let text = std::fs::read_to_string(path).map_err(|e| {
                LoadError::NotAJournal(format!("--log-lines {}: {e}", path.display()))
            })?;
            parse_log_lines(&text)
                .map_err(|e| LoadError::NotAJournal(format!("--log-lines {}: {e}", path.display())))
        }
    }
}

/// The report's warnings for the journal rows it could not read: how many, and the first few
/// by name (a status or leg this build does not know suggests a newer executor wrote them).
pub fn unreadable_warnings(unreadable: &[String]) -> Vec<String> {
    const SHOWN: usize = 5;
    if unreadable.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "{} journal row(s) could not be read and are left out (written by a newer version of the executors?); figures that depend on them are incomplete",
        unreadable.len()
    )];
    out.extend(unreadable.iter().take(SHOWN).cloned());
    if unreadable.len() > SHOWN {
        out.push(format!("… and {} more", unreadable.len() - SHOWN));
    }
    out
}

/// Why `url` is not a journal to report on: empty, or a SQLite path that does not exist, is a
/// directory, or is the local stack's state file (`<stem>.state.sqlite`, beside the journal)
/// or its queue file (`<stem>.state.sqlite.queues`).
/// A report reads, and a mistyped path must not pass for an empty journal.
pub fn missing_journal(url: &str) -> Option<String> {
    if url.trim().is_empty() {
        return Some("the journal setting is empty: give the journal's path or URL".into());
    }
    match journal::Location::of(url) {
        journal::Location::File(path) if !path.exists() => {
            Some(format!("no journal at {}", path.display()))
        }
        journal::Location::File(path) if path.is_dir() => Some(format!(
            "{} is a directory: give the journal file's path",
            path.display()
        )),
        journal::Location::Memory => Some(format!(
            "{} is a journal in memory, which holds nothing: give the journal file's path",
            journal::shown(url)
        )),
        journal::Location::Unusable(why) => Some(format!("not a journal to report on: {why}")),
        journal::Location::File(path) if path.to_string_lossy().ends_with(".state.sqlite") => {
            Some(format!(
                "{} is the local stack's state file (idempotency records, paper books), not \
                 its journal: the journal is the file beside it without `.state`",
                path.display()
            ))
        }
        journal::Location::File(path)
            if path.to_string_lossy().ends_with(".state.sqlite.queues") =>
        {
            Some(format!(
                "{} is the local stack's queue file, not its journal: the journal is the \
                 `.sqlite` file beside it without `.state`",
                path.display()
            ))
        }
        _ => None,
    }
}

/// Why `--output` must not be written: it exists and is not an HTML report (the journal, its
/// state file, a log), or it is not a regular file. `None` when it may be (missing, empty, or a
/// report written before). A report goes where the trader says, but never over their trade
/// history: `-o .tvctl/journal.sqlite` once overwrote the live journal.
pub fn unwritable_output(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path).ok()?;
    let kind = meta.file_type();
    // A terminal, a pipe or /dev/stdout takes the HTML as a stream; a directory or a disk
    // (block device) never.
    if kind.is_char_device() || kind.is_fifo() {
        return None;
    }
    if !meta.is_file() {
        return Some(format!(
            "{} is not a regular file: give the HTML report's path",
            path.display()
        ));
    }
    let mut head = [0u8; 16];
    let Ok(read) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        // What cannot be read cannot be told apart from a journal.
        return Some(format!(
            "{} exists and cannot be read: it is not overwritten; give another --output",
            path.display()
        ));
    };
    let head = &head[..read];
    const DOCTYPE: &[u8] = b"<!doctype html";
    if head.is_empty()
        || head
            .get(..DOCTYPE.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(DOCTYPE))
    {
        return None;
    }
    // The SQLite file header, <https://www.sqlite.org/fileformat.html#the_database_header>.
    let what = if head.starts_with(b"SQLite format 3\0") {
        "a SQLite database (a journal or the local state?)"
    } else {
        "not an HTML report"
    };
    Some(format!(
        "{} exists and is {what}: it is not overwritten; give another --output",
        path.display()
    ))
}

/// An order written again, as the database journal's upsert keeps it
/// ([`OrderRecord::overwritten_by`]).
fn merged(earlier: &OrderRecord, later: OrderRecord) -> OrderRecord {
    earlier.overwritten_by(later)
}

/// A signal record written again, merged as the journal's upsert merges it: the broker,
/// instrument and resolution kept when the later write has none, each stage's first time
/// kept (the broker's last answer the latest), the status and reason the later write's.
fn merged_signal(earlier: &SignalRecord, later: SignalRecord) -> SignalRecord {
    let (first, last) = (&earlier.stages, &later.stages);
    SignalRecord {
        broker: later.broker.or(earlier.broker),
        instrument: later.instrument.or_else(|| earlier.instrument.clone()),
        contract_resolution: later
            .contract_resolution
            .or_else(|| earlier.contract_resolution.clone()),
        stages: StageTimes {
            received: first.received.or(last.received),
            enqueued: first.enqueued.or(last.enqueued),
            routed: first.routed.or(last.routed),
            executor_start: first.executor_start.or(last.executor_start),
            broker_sent: first.broker_sent.or(last.broker_sent),
            broker_acked: last.broker_acked.or(first.broker_acked),
        },
        ..later
    }
}

/// The journal records in `journal=log` lines: the executors' JSON log lines that carry
/// `journal` (`signal` or `order`) and `record` (the row as JSON), at the top level as the
/// Lambdas write them (`shared::telemetry::init_json_logs` flattens events) or under `fields`. Anything before a
/// line's first `{` (a timestamp and stream name, as `aws logs` prints them) is skipped, and
/// lines that are not journal records are ignored. A record written twice (an upsert) is
/// merged as the database journal merges it: signals by id (each stage's first time kept,
/// the status the last), orders by (signal, leg, attempt) (the first send time kept, a known
/// outcome never written back to `unknown`). A journal line whose record does not
/// parse (a status a newer executor wrote) is left out and named by its line number.
///
/// # Errors
/// No journal record in the lines, or none that parses (the first one's line number).
pub fn parse_log_lines(text: &str) -> Result<Loaded, String> {
    let mut unreadable = Vec::new();
    let mut signals: Vec<SignalRecord> = Vec::new();
    let mut orders: Vec<OrderRecord> = Vec::new();
    let mut signal_at = std::collections::HashMap::new();
    let mut order_at = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some(start) = line.find('{') else {
            continue;
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&line[start..]) else {
            continue;
        };
        // The Lambdas log flat JSON (`journal` and `record` at the top); a subscriber that
        // nests an event's fields puts them under `fields`.
        let fields = if doc.get("journal").is_some() {
            &doc
        } else {
            &doc["fields"]
        };
        let (Some(kind), Some(record)) = (fields["journal"].as_str(), fields["record"].as_str())
        else {
            continue;
        };
        let bad = |e: serde_json::Error| format!("line {}: {kind} record: {e}", n + 1);
        match kind {
            "signal" => {
                let r: SignalRecord = match serde_json::from_str(record) {
                    Ok(r) => r,
                    Err(e) => {
                        unreadable.push(bad(e));
                        continue;
                    }
                };
                match signal_at.get(r.signal_id.as_str()) {
                    Some(&i) => signals[i] = merged_signal(&signals[i], r),
                    None => {
                        signal_at.insert(r.signal_id.to_string(), signals.len());
                        signals.push(r);
                    }
                }
            }
            "order" => {
                let r: OrderRecord = match serde_json::from_str(record) {
                    Ok(r) => r,
                    Err(e) => {
                        unreadable.push(bad(e));
                        continue;
                    }
                };
                // The journal's key (`orders`' primary key): a leg sent from two accounts
                // (a key rotated between an attempt and its takeover) is two rows there.
                let key = (
                    r.signal_id.to_string(),
                    r.broker,
                    r.account.to_string(),
                    r.leg,
                    r.attempt,
                );
                match order_at.get(&key) {
                    Some(&i) => orders[i] = merged(&orders[i], r),
                    None => {
                        order_at.insert(key, orders.len());
                        orders.push(r);
                    }
                }
            }
            _ => {}
        }
    }
    if signals.is_empty()
        && orders.is_empty()
        && let Some(first) = unreadable.first()
    {
        return Err(first.clone());
    }
    if signals.is_empty() && orders.is_empty() && !text.trim().is_empty() {
        return Err(
            "no journal record in these lines: export the executors' `journal=log` lines \
             (README: aws logs tail … --filter-pattern '{ $.journal = \"*\" }')"
                .into(),
        );
    }
    Ok((signals, orders, unreadable))
}

/// The trades as CSV: one row per closing fill.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "closed_at,broker,instrument,strategy,side,quantity,entry_price,exit_price,pnl,fees,currency,estimated\n",
    );
    for t in &report.trades {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            t.closed_at.to_rfc3339(),
            t.broker,
            csv_field(&t.instrument),
            csv_field(&t.strategy),
            if t.long { "long" } else { "short" },
            t.quantity,
            t.entry_price,
            t.exit_price,
            t.pnl,
            t.fees,
            t.currency,
            t.estimated
        ));
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote, a line break, a tab or a semicolon
/// (the list separator a spreadsheet in many locales splits a `.csv` on: unquoted, `x;=1+1`
/// would become a cell starting with `=`); a leading `=`, `+`, `-`, `@`, tab or carriage
/// return is prefixed with `'` so a spreadsheet does not run it as a formula (OWASP, "CSV
/// Injection": <https://owasp.org/www-community/attacks/CSV_Injection>). The strategy's
/// name is the alert's `indicator`, any text a TradingView alert carries.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r', ';', '\t']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn f64_of(d: Decimal) -> f64 {
    // Charts only: every figure in the tables and the JSON stays a Decimal.
    d.to_f64().unwrap_or(0.0)
}

/// The realized equity curve of one currency as an SVG line chart.
fn equity_svg(currency: &str, points: &[analytics::EquityPoint]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 280)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let ys: Vec<f64> = std::iter::once(0.0)
            .chain(points.iter().map(|p| f64_of(p.equity)))
            .collect();
        let (lo, hi) = ys
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(*y), hi.max(*y)));
        let pad = ((hi - lo) * 0.1).max(1e-9);
        let chart = ChartBuilder::on(&root)
            .caption(format!("Realized equity ({currency})"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0usize..points.len().max(1), (lo - pad)..(hi + pad));
        if let Ok(mut chart) = chart {
            let _ = chart.configure_mesh().x_desc("trade").draw();
            let _ = chart.draw_series(LineSeries::new(
                ys.iter().enumerate().map(|(i, y)| (i, *y)),
                &BLUE,
            ));
        }
        let _ = root.present();
    }
    svg
}

/// A vertical bar chart of labelled values (P&L by instrument, latency by stage), each bar
/// centred on its label.
fn bars_svg(title: &str, bars: &[(String, f64)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 280)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let lo = bars.iter().map(|b| b.1).fold(0.0_f64, f64::min);
        let hi = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
        let pad = ((hi - lo) * 0.1).max(1e-9);
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (0usize..bars.len().saturating_sub(1)).into_segmented(),
                (lo - pad)..(hi + pad),
            );
        if let Ok(mut chart) = chart {
            let _ = chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(bars.len().max(1))
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .draw();
            let _ = chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let color = if *v >= 0.0 { GREEN } else { RED };
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *v),
                    ],
                    color.mix(0.6).filled(),
                );
                bar.set_margin(0, 0, 4, 4);
                bar
            }));
        }
        let _ = root.present();
    }
    svg
}

/// A time span for the exposure column: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
fn span(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{:.1} h", s as f64 / 3600.0),
        s => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

/// A win rate as a percentage with one decimal (`41.1%`).
/// The win rate in percent to one place, from the counts: not from the 4-place ratio, whose
/// rounding would round again (6 of 11 is 54.545…%, shown 54.5%, not 54.6%).
fn rate(s: &analytics::Stats) -> String {
    if s.trades == 0 {
        return "–".into();
    }
    let percent = Decimal::from(s.wins * 100) / Decimal::from(s.trades);
    format!(
        "{}%",
        percent
            .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    )
}

/// Slippage in basis points, as a histogram of 1-bp buckets from −10 to +10 (the ends hold
/// everything beyond).
fn slippage_svg(report: &Report) -> String {
    let mut counts = [0u32; 21];
    for s in &report.slippage {
        let bucket = f64_of(s.bps).round().clamp(-10.0, 10.0) as i64 + 10;
        if let Some(c) = counts.get_mut(bucket as usize) {
            *c += 1;
        }
    }
    let bars: Vec<(String, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{}", i as i64 - 10), f64::from(*c)))
        .collect();
    bars_svg("Slippage (bps, positive = worse; fills per bucket)", &bars)
}

/// A profit factor: "∞ (no losses)" when trades won and none lost, which "–" (no trades, or
/// none won or lost) would hide.
fn profit_factor_cell(s: &analytics::Stats) -> String {
    match s.profit_factor {
        None if s.wins > 0 && s.losses == 0 => "∞ (no losses)".into(),
        pf => decimal_cell(pf),
    }
}

/// A figure with every integer digit and at least 8 significant digits, at least 4 decimals:
/// an average price keeps the digits its instrument quotes (1.27001, a coin at 0.00001), where
/// 4 decimals showed `1.27` and `0`; a large P&L keeps its units.
fn decimal_cell(d: Option<Decimal>) -> String {
    d.map_or_else(
        || "–".into(),
        |d| {
            let shown = if d.abs() >= Decimal::ONE {
                let integer_digits = d.abs().trunc().to_string().len() as u32;
                d.round_dp(8u32.saturating_sub(integer_digits).max(4))
            } else {
                d.round_sf(8).unwrap_or(d)
            };
            shown.normalize().to_string()
        },
    )
}

/// A table of one grouping of trades: key, currency, trades, win rate, realized, drawdown.
fn period_table(title: &str, key: &str, rows: &[analytics::Summary]) -> Markup {
    html! {
        h3 { (title) }
        table {
            tr { th { (key) } th { "Currency" } th { "Trades" } th { "Win rate" } th { "Realized" } th { "Profit factor" } th { "Max drawdown" } }
            @for s in rows {
                tr {
                    td { (s.key) } td { (s.currency) } td { (s.stats.trades) }
                    td { (rate(&s.stats)) }
                    td { (decimal_cell(Some(s.stats.realized))) } td { (profit_factor_cell(&s.stats)) }
                    td { (decimal_cell(Some(s.stats.max_drawdown))) }
                }
            }
        }
    }
}

/// The most recent fills listed one per row in the HTML; `--json` carries all.
const SLIPPAGE_ROWS: usize = 200;

/// Per instrument and currency: fills, Σ bps, Σ pips or ticks with the unit, Σ money (`None`
/// once a fill's money is unknown: a contract with no known point value).
type SlippageSums = (
    u64,
    Decimal,
    Option<(Decimal, &'static str)>,
    Option<Decimal>,
);

/// Slippage per instrument (mean and sum) and the most recent fills one per row.
fn slippage_tables(report: &Report) -> Markup {
    let mut per: BTreeMap<(&str, &str), SlippageSums> = BTreeMap::new();
    for s in &report.slippage {
        let e = per
            .entry((s.instrument.as_str(), s.currency.as_str()))
            .or_insert((0, Decimal::ZERO, None, Some(Decimal::ZERO)));
        e.0 += 1;
        e.1 += s.bps;
        if let Some((n, unit)) = s.increments {
            let (sum, _) = e.2.get_or_insert((Decimal::ZERO, unit));
            *sum += n;
        }
        e.3 = e.3.zip(s.money).map(|(sum, money)| sum + money);
    }
    let skipped = report.slippage.len().saturating_sub(SLIPPAGE_ROWS);
    html! {
        h3 { "By instrument" }
        table {
            tr { th { "Instrument" } th { "Fills" } th { "Mean bps" } th { "Mean pips/ticks" } th { "Total cost" } th { "Currency" } }
            @for ((instrument, currency), (n, bps, incr, money)) in &per {
                tr {
                    td { (instrument) } td { (n) }
                    td { (decimal_cell(Some(*bps / Decimal::from(*n)))) }
                    td { @if let Some((sum, unit)) = incr { (decimal_cell(Some(*sum / Decimal::from(*n)))) " " (unit) } @else { "–" } }
                    td { (decimal_cell(*money)) } td { (currency) }
                }
            }
        }
        h3 { "Fills" }
        p class="meta" {
            @if skipped > 0 { "The last " (SLIPPAGE_ROWS) " of " (report.slippage.len()) " fills; --json lists every one. " }
            "Fills on the signal's own contract with the alert's close; a roll's close of the earlier contract (and a fill without a price) has no alert price to slip from and is left out."
        }
        table {
            tr { th { "Filled (UTC)" } th { "Signal" } th { "Instrument" } th { "Leg" } th { "Side" } th { "Alert close" } th { "Fill" } th { "Slippage" } th { "Pips/ticks" } th { "bps" } th { "Money" } }
            @for s in report.slippage.iter().skip(skipped) {
                tr {
                    td { (s.at.format("%Y-%m-%d %H:%M:%S%.3f")) } td { (s.signal_id) } td { (s.instrument) } td { (s.leg.as_str()) } td { (s.side.as_str()) }
                    td { (s.alert_close) } td { (s.fill_price) } td { (decimal_cell(Some(s.price))) }
                    td { @if let Some((n, unit)) = s.increments { (decimal_cell(Some(n))) " " (unit) } @else { "–" } }
                    td { (decimal_cell(Some(s.bps))) }
                    td { (decimal_cell(s.money)) " " (s.currency) }
                }
            }
        }
    }
}

/// The report as one HTML document with inline SVG charts and CSS.
pub fn html(report: &Report, filter: &Filter, source: &str) -> String {
    // One chart per currency: a JPY or points bar beside USD ones would mislead.
    let mut by_instrument: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    for s in &report.by_instrument {
        by_instrument
            .entry(s.currency.as_str())
            .or_default()
            .push((s.key.clone(), f64_of(s.stats.realized)));
    }
    let latency: Vec<(String, f64)> = report
        .latency
        .iter()
        .map(|l| (l.stage.replace('_', " "), l.p50_ms as f64))
        .collect();
    let page: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "tv-pipeline report" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                h1 { "Strategy report" }
                p class="meta" {
                    "Source: " (source) ". "
                    @if let Some(s) = filter.since { "Since " (s.to_rfc3339()) ". " }
                    @if let Some(u) = filter.until { "Until " (u.to_rfc3339()) ". " }
                    @if let Some(s) = &filter.strategy { "Strategy " (s) ". " }
                    @if let Some(i) = &filter.instrument { "Instrument " (i) ". " }
                    (report.signals) @if report.signals == 1 { " signal." } @else { " signals." }
                }
                @for w in &report.warnings { p class="warn" { (w) } }
                section id="summary" {
                    h2 { "Summary" }
                    table {
                        tr { th { "Currency" } th { "Trades" } th { "Win rate" } th { "Realized P&L" } th { "Fees" } th { "Avg win" } th { "Avg loss" } th { "Profit factor" } th { "Max drawdown" } }
                        @for (currency, s) in &report.totals {
                            tr {
                                td { (currency) } td { (s.trades) }
                                td { (rate(s)) }
                                td { (decimal_cell(Some(s.realized))) } td { (decimal_cell(Some(s.fees))) }
                                td { (decimal_cell(s.average_win)) } td { (decimal_cell(s.average_loss)) }
                                td { (profit_factor_cell(s)) } td { (decimal_cell(Some(s.max_drawdown))) }
                            }
                        }
                    }
                }
                section id="equity" {
                    h2 { "Equity curve" }
                    @for (currency, points) in &report.equity { (maud::PreEscaped(equity_svg(currency, points))) }
                    @if report.equity.is_empty() { p { "No closed trade yet." } }
                }
                section id="instruments" {
                    h2 { "P&L by instrument" }
                    @for (currency, bars) in &by_instrument {
                        (maud::PreEscaped(bars_svg(&format!("Realized P&L by instrument ({currency})"), bars)))
                    }
                    table {
                        tr { th { "Instrument" } th { "Currency" } th { "Trades" } th { "Realized" } th { "Fees" } th { "Exposure" } }
                        @for s in &report.by_instrument {
                            tr { td { (s.key) } td { (s.currency) } td { (s.stats.trades) } td { (decimal_cell(Some(s.stats.realized))) } td { (decimal_cell(Some(s.stats.fees))) } td { (s.exposure_secs.map(span).unwrap_or_default()) } }
                        }
                    }
                    h3 { "By broker" }
                    table {
                        tr { th { "Broker" } th { "Currency" } th { "Trades" } th { "Win rate" } th { "Realized" } th { "Fees" } }
                        @for s in &report.by_broker {
                            tr { td { (s.key) } td { (s.currency) } td { (s.stats.trades) } td { (rate(&s.stats)) } td { (decimal_cell(Some(s.stats.realized))) } td { (decimal_cell(Some(s.stats.fees))) } }
                        }
                    }
                }
                section id="periods" {
                    h2 { "P&L by period (UTC, by closing fill)" }
                    (period_table("By day", "Day", &report.by_day))
                    (period_table("By ISO week", "Week", &report.by_week))
                    (period_table("By month", "Month", &report.by_month))
                    (period_table("By strategy", "Strategy", &report.by_strategy))
                }
                section id="positions" {
                    h2 { "Open positions" }
                    table {
                        tr { th { "Broker" } th { "Account" } th { "Instrument" } th { "Quantity" } th { "Average" } th { "Last" } th { "Last price at (UTC)" } th { "Unrealized" } th { "Fees paid on it" } }
                        @for p in &report.open_positions {
                            tr {
                                td { (p.broker) } td { (p.account) } td { (p.instrument) } td { (p.quantity) }
                                td { (decimal_cell(Some(p.average_price))) } td { (p.last_price) }
                                td { (p.last_price_at.format("%Y-%m-%d %H:%M:%S")) }
                                td { (decimal_cell(Some(p.unrealized))) " " (p.currency) }
                                td { (decimal_cell(Some(p.fees))) " " (p.currency) }
                            }
                        }
                    }
                }
                section id="slippage" {
                    h2 { "Execution quality: slippage against the alert's close" }
                    (maud::PreEscaped(slippage_svg(report)))
                    (slippage_tables(report))
                }
                section id="latency" {
                    h2 { "Latency by stage" }
                    (maud::PreEscaped(bars_svg("p50 latency by stage (ms)", &latency)))
                    p {
                        "Stages from the alert (alert_to_…) start at TradingView's {{timenow}}, \
                         which is whole seconds: up to a second of them is that rounding, not \
                         the pipeline. The other stages are timed by the pipeline's own clock."
                    }
                    table {
                        tr { th { "Stage" } th { "Count" } th { "p50 ms" } th { "p95 ms" } th { "p99 ms" } }
                        @for l in &report.latency {
                            tr { td { (l.stage) } td { (l.count) } td { (l.p50_ms) } td { (l.p95_ms) } td { (l.p99_ms) } }
                        }
                    }
                }
                section id="outcomes" {
                    h2 { "Outcomes" }
                    table {
                        tr { th { "Status" } th { "Signals" } }
                        @for (k, v) in &report.outcomes { tr { td { (k) } td { (v) } } }
                    }
                    h3 { "Refusals by reason" }
                    table { @for (k, v) in &report.refusals { tr { td { (k) } td { (v) } } } }
                    h3 { "Rejections by broker reason" }
                    table { @for (k, v) in &report.rejections { tr { td { (k) } td { (v) } } } }
                    h3 { "Expired signals by reason" }
                    table { @for (k, v) in &report.expirations { tr { td { (k) } td { (v) } } } }
                }
            }
        }
    };
    page.into_string()
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}\
td:first-child,th:first-child{text-align:left}.meta{color:#555}.warn{color:#a60}svg{display:block;margin:.5em 0}";

#[cfg(test)]
mod tests {

    #[test]
    fn a_figure_keeps_its_instruments_digits() {
        use std::str::FromStr;
        let cell = |s: &str| super::decimal_cell(Some(Decimal::from_str(s).unwrap()));
        assert_eq!(cell("1.27001"), "1.27001");
        assert_eq!(cell("0.00001"), "0.00001");
        assert_eq!(cell("1.2700133333333333"), "1.2700133");
        assert_eq!(cell("6012.25"), "6012.25");
        assert_eq!(cell("-150.000"), "-150");
        assert_eq!(cell("123456789.123456"), "123456789.1235");
        assert_eq!(cell("-0.000012345678912"), "-0.000012345679");
        assert_eq!(super::decimal_cell(None), "–");
    }

    use super::*;
    use shared::outcome::Outcome;

    #[test]
    fn journal_log_lines_read_back_with_their_last_version() {
        let signal = r#"{"signal_id":"0123456789abcdef0123456789abcdef","raw":"{}","normalized":null,"symbol":"EURUSD","exchange":"OANDA","action":"LONG_ENTRY","broker":"oanda","instrument":"EUR_USD","contract_resolution":null,"status":"executing","reason":null,"stages":{"received":null,"enqueued":null,"routed":null,"executor_start":null,"broker_sent":null,"broker_acked":null}}"#;
        // As the executors write it: flattened, `journal` and `record` at the top.
        let line = |record: &str| {
            serde_json::json!({
                "level": "INFO",
                "journal": "signal",
                "record": record,
                "message": "journal",
                "span": {"signal_id": "0123", "name": "signal"},
            })
            .to_string()
        };
        let filled = signal.replace("\"executing\"", "\"filled\"");
        let text = format!(
            "2026-11-30T10:00:00Z stream {}\nnot json\n{{\"message\":\"other\"}}\n{}\n",
            line(signal),
            line(&filled)
        );
        let (signals, orders, unreadable) = parse_log_lines(&text).unwrap_or_default();
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].status.as_str(), "filled");
        assert!(orders.is_empty() && unreadable.is_empty());
        // Written again hours later (a replay): its stages keep their first times, as the
        // database's upsert keeps them, so the report's latencies are the first attempt's.
        let started = |at: &str, status: &str| {
            signal
                .replace("\"executing\"", &format!("\"{status}\""))
                .replace(
                    "\"executor_start\":null",
                    &format!("\"executor_start\":\"{at}\""),
                )
        };
        let text = format!(
            "{}\n{}\n",
            line(&started("2026-11-30T10:00:01Z", "filled")),
            line(&started("2026-11-30T15:00:00Z", "no_op"))
        );
        let (signals, _, _) = parse_log_lines(&text).unwrap_or_default();
        assert_eq!(signals[0].status.as_str(), "no_op");
        assert_eq!(
            signals[0].stages.executor_start.map(|t| t.to_rfc3339()),
            Some("2026-11-30T10:00:01+00:00".to_owned())
        );
        // A record this build cannot read beside readable ones: left out and named by line.
        let newer = signal
            .replace("0123456789abcdef", "fedcba9876543210")
            .replace("\"executing\"", "\"from_a_newer_executor\"");
        let text = format!("{}\n{}\n", line(&filled), line(&newer));
        let (signals, _, unreadable) = parse_log_lines(&text).unwrap_or_default();
        assert_eq!(signals.len(), 1);
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        assert!(
            unreadable[0].starts_with("line 2: signal record")
                && unreadable[0].contains("from_a_newer_executor"),
            "{unreadable:?}"
        );
        let broken = line("{\"signal_id\": 3}");
        assert!(parse_log_lines(&broken).unwrap_err().starts_with("line 1:"));
        // Lines without any journal record (the wrong log group): an error, not an empty report.
        assert!(parse_log_lines("{\"message\":\"alert enqueued\"}\n").is_err());
    }

    /// An order logged filled, then logged again by a writer that could not tell (a takeover
    /// that read it while it was working): the report keeps the fill, as the journal does.
    #[test]
    fn a_logged_order_known_filled_is_never_merged_back_to_unknown() {
        use shared::execution::{ClientOrderId, Leg, Side};
        let id = shared::SignalId::of_canonical("merged");
        let filled = OrderRecord {
            signal_id: id.clone(),
            broker: shared::Broker::Oanda,
            account: "101-004-1-001".into(),
            instrument: "EUR_USD".into(),
            leg: Leg::Open,
            attempt: 1,
            client_order_id: ClientOrderId::new(&id, Leg::Open),
            broker_order_id: Some("6368".into()),
            side: Side::Buy,
            quantity: Decimal::from(1000),
            fill_price: Some(Decimal::new(108_345, 5)),
            outcome: Outcome::Filled,
            error: None,
            sent_at: None,
            acked_at: None,
            fee: None,
        };
        let unknown = OrderRecord {
            fill_price: None,
            outcome: Outcome::Unknown,
            error: Some("no answer".into()),
            ..filled.clone()
        };
        assert_eq!(merged(&filled, unknown.clone()), filled);
        // Nor is its size or side: a takeover that saw part of it filled so far (or none,
        // with no side known) writes what it saw.
        let seen_in_part = OrderRecord {
            quantity: Decimal::from(400),
            side: Side::Sell,
            fill_price: Some(Decimal::new(108_300, 5)),
            ..unknown.clone()
        };
        assert_eq!(merged(&filled, seen_in_part), filled);
        // The other way round it is resolved: the fill wins.
        assert_eq!(merged(&unknown, filled.clone()), filled);
        // The same leg and attempt from another account is another row, as in the journal.
        let other = OrderRecord {
            account: "101-004-1-002".into(),
            broker_order_id: Some("7001".into()),
            ..filled.clone()
        };
        let line = |r: &OrderRecord| {
            serde_json::json!({
                "journal": "order",
                "record": serde_json::to_string(r).unwrap_or_default(),
            })
            .to_string()
        };
        let text = format!("{}\n{}\n", line(&filled), line(&other));
        let (_, orders, unreadable) = parse_log_lines(&text).unwrap_or_default();
        assert!(unreadable.is_empty(), "{unreadable:?}");
        assert_eq!(orders, vec![filled, other]);
    }

    /// An instrument whose slippage has no money (a contract with no known point value)
    /// shows no total cost: it showed 0 beside fills that slipped.
    #[test]
    fn slippage_of_unknown_money_has_no_total_cost() {
        let slip = |instrument: &str, money| analytics::Slippage {
            signal_id: "s".into(),
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            instrument: instrument.into(),
            leg: shared::execution::Leg::Open,
            side: shared::execution::Side::Buy,
            alert_close: Decimal::from(100),
            fill_price: Decimal::from(102),
            price: Decimal::from(2),
            increments: None,
            bps: Decimal::from(200),
            money,
            currency: "USD".into(),
        };
        let report = Report {
            slippage: vec![slip("QQZ6", None), slip("ESZ6", Some(Decimal::from(100)))],
            ..Report::default()
        };
        let html = slippage_tables(&report).into_string();
        let row = |instrument: &str| {
            let at = html.find(&format!("<td>{instrument}</td>")).unwrap();
            html[at..at + html[at..].find("</tr>").unwrap()].to_owned()
        };
        assert!(!row("QQZ6").contains("<td>0</td>"), "{}", row("QQZ6"));
        assert!(
            row("QQZ6").contains("<td>–</td><td>USD</td>"),
            "{}",
            row("QQZ6")
        );
        assert!(row("ESZ6").contains("<td>100</td>"), "{}", row("ESZ6"));
    }

    #[test]
    fn a_win_rate_is_rounded_once_from_its_counts() {
        let stats = |wins, trades| analytics::Stats {
            wins,
            trades,
            win_rate: Some(Decimal::new(5455, 4)),
            ..Default::default()
        };
        // 6 of 11 is 54.545…%: 54.5%, where the 4-place ratio 0.5455 rounded again gave 54.6%.
        assert_eq!(rate(&stats(6, 11)), "54.5%");
        assert_eq!(rate(&stats(2, 3)), "66.7%");
        assert_eq!(rate(&stats(0, 0)), "–");
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_urls_lose_their_password() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        // A leading tab or carriage return, and a semicolon a spreadsheet may split on.
        assert_eq!(csv_field("\t=1+1"), "\"'\t=1+1\"");
        assert_eq!(csv_field("\r=1+1"), "\"'\r=1+1\"");
        assert_eq!(csv_field("x;=1+1"), "\"x;=1+1\"");
        for url in [
            "postgres://user:pw@host:5432/db",
            "postgres://user:p/w?x@host/db",
            "postgres://host/db?user=u&password=pw",
        ] {
            let shown = journal::shown(url);
            assert!(!shown.contains("pw") && !shown.contains("user"), "{shown}");
        }
        // Connection settings are not taken for a file's name, and not echoed.
        let said = missing_journal("host=h user=u password=pw dbname=j").unwrap();
        assert!(said.starts_with("not a journal to report on"), "{said}");
        assert!(!said.contains("pw"), "{said}");
        assert!(journal::shown("host=h password=pw").contains("not shown"));
    }
}
