//! The trade journal: [`PgJournal`] (PostgreSQL, in AWS) and [`SqliteJournal`] (local),
//! both implementing `shared`'s journal and audit ports with the same schema and semantics.
//!
//! Every write is an upsert on its natural key (a signal by SignalId, an order by signal,
//! broker, account, leg and attempt), so a retry after a failed write rewrites the same rows,
//! while a leg sent a second time gets a row of its own and shows as a duplicate. Stage
//! times keep the first value recorded: a retry never erases or moves a stage that already
//! happened. An order row's outcome known (filled, rejected, not executed...) is never
//! written back to `unknown`: a row is one order at the broker, and a writer that could not
//! tell what became of it (a takeover that read it while it was working, racing the earlier
//! attempt that saw it fill) knows less than the one that could. Decimals are stored exactly (NUMERIC, or decimal text in SQLite).
//!
//! Each database is a cargo feature (`postgres`, `sqlite`; both by default). A build without
//! one still compiles [`AnyJournal`], whose `connect` then refuses that URL scheme.

#![warn(missing_docs)]

#[cfg(not(any(feature = "postgres", feature = "sqlite")))]
compile_error!("the journal needs a database: enable the `postgres` or `sqlite` feature");

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::execution::{
    BrokerOrderId, JournalError, OrderRecord, RawJson, SignalRecord, SignalStatus, StageTimes,
    TradeJournal,
};
use shared::replay::{AuditLog, ReplayAudit};
use shared::signal::SignalId;
#[cfg(feature = "sqlite")]
use std::str::FromStr;

#[cfg(feature = "sqlite")]
mod sqlite_writer;

const UPSERT_SIGNAL: &str = "INSERT INTO signals (signal_id, raw, normalized, symbol, exchange, action, broker, instrument,
    contract_resolution, status, reason, received_at, enqueued_at, routed_at, executor_start_at, broker_sent_at,
    broker_acked_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, CURRENT_TIMESTAMP)
  ON CONFLICT (signal_id) DO UPDATE SET
    raw = EXCLUDED.raw, normalized = EXCLUDED.normalized, broker = COALESCE(EXCLUDED.broker, signals.broker),
    instrument = COALESCE(EXCLUDED.instrument, signals.instrument),
    contract_resolution = COALESCE(EXCLUDED.contract_resolution, signals.contract_resolution),
    status = EXCLUDED.status, reason = EXCLUDED.reason,
    received_at = COALESCE(signals.received_at, EXCLUDED.received_at),
    enqueued_at = COALESCE(signals.enqueued_at, EXCLUDED.enqueued_at),
    routed_at = COALESCE(signals.routed_at, EXCLUDED.routed_at),
    executor_start_at = COALESCE(signals.executor_start_at, EXCLUDED.executor_start_at),
    broker_sent_at = COALESCE(signals.broker_sent_at, EXCLUDED.broker_sent_at),
    broker_acked_at = COALESCE(EXCLUDED.broker_acked_at, signals.broker_acked_at),
    updated_at = CURRENT_TIMESTAMP";

const UPSERT_ORDER: &str =
    "INSERT INTO orders (signal_id, broker, account, leg, attempt, instrument, client_order_id,
    broker_order_id, side, quantity, fill_price, outcome, error, sent_at, acked_at, fee, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, CURRENT_TIMESTAMP)
  ON CONFLICT (signal_id, broker, account, leg, attempt) DO UPDATE SET
    instrument = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN orders.instrument ELSE EXCLUDED.instrument END,
    client_order_id = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN orders.client_order_id ELSE EXCLUDED.client_order_id END,
    broker_order_id = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN COALESCE(orders.broker_order_id, EXCLUDED.broker_order_id)
      ELSE COALESCE(EXCLUDED.broker_order_id, orders.broker_order_id) END,
    side = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN orders.side ELSE EXCLUDED.side END,
    quantity = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN orders.quantity ELSE EXCLUDED.quantity END,
    fill_price = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN COALESCE(orders.fill_price, EXCLUDED.fill_price)
      ELSE COALESCE(EXCLUDED.fill_price, orders.fill_price) END,
    outcome = CASE WHEN EXCLUDED.outcome = 'unknown' THEN orders.outcome ELSE EXCLUDED.outcome END,
    error = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown' THEN orders.error
      ELSE EXCLUDED.error END,
    sent_at = COALESCE(orders.sent_at, EXCLUDED.sent_at),
    acked_at = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN COALESCE(orders.acked_at, EXCLUDED.acked_at)
      ELSE COALESCE(EXCLUDED.acked_at, orders.acked_at) END,
    fee = CASE WHEN EXCLUDED.outcome = 'unknown' AND orders.outcome <> 'unknown'
      THEN COALESCE(orders.fee, EXCLUDED.fee) ELSE COALESCE(EXCLUDED.fee, orders.fee) END,
    updated_at = CURRENT_TIMESTAMP";

const SELECT_SIGNAL: &str = "SELECT signal_id, raw, normalized, symbol, exchange, action, broker, instrument,
    contract_resolution, status, reason, received_at, enqueued_at, routed_at, executor_start_at, broker_sent_at,
    broker_acked_at FROM signals WHERE signal_id = $1";

const SELECT_ORDERS: &str = "SELECT signal_id, broker, account, leg, instrument, client_order_id, broker_order_id,
    side, quantity, fill_price, outcome, error, sent_at, acked_at, attempt, fee FROM orders WHERE signal_id = $1
    ORDER BY leg, attempt";

const ALL_ORDERS: &str =
    "SELECT signal_id, broker, account, leg, instrument, client_order_id, broker_order_id,
    side, quantity, fill_price, outcome, error, sent_at, acked_at, attempt, fee FROM orders
    ORDER BY signal_id, leg, attempt";

/// Every signal, oldest first; a row without its received time last and ties by id, so both
/// databases give one order (SQLite sorts nulls first, PostgreSQL last).
const ALL_SIGNALS: &str = "SELECT signal_id, raw, normalized, symbol, exchange, action, broker, instrument,
    contract_resolution, status, reason, received_at, enqueued_at, routed_at, executor_start_at, broker_sent_at,
    broker_acked_at FROM signals ORDER BY received_at NULLS LAST, signal_id";

/// The latest signals whole, newest first; a row without its received time last (as in
/// [`SIGNALS_STARTING_WITH`]); signals received at the same time by id, highest first, so a
/// limit cuts a tie the same way on every read and on both databases.
const RECENT_SIGNALS: &str = "SELECT signal_id, raw, normalized, symbol, exchange, action, broker, instrument,
    contract_resolution, status, reason, received_at, enqueued_at, routed_at, executor_start_at, broker_sent_at,
    broker_acked_at FROM signals ORDER BY received_at DESC NULLS LAST, signal_id DESC LIMIT $1";

/// The order rows of every signal received at or after `$1`: the legs of a list of recent
/// signals in one query, read by the oldest received time among them (a signal journaled
/// between the two reads adds rows that are left out, and cannot push one of the list out).
const ORDERS_RECEIVED_SINCE: &str = "SELECT signal_id, broker, account, leg, instrument, client_order_id,
    broker_order_id, side, quantity, fill_price, outcome, error, sent_at, acked_at, attempt, fee FROM orders
    WHERE signal_id IN (SELECT signal_id FROM signals WHERE received_at >= $1)";

/// Ids are written in lowercase hex, so a lowercase pattern matches them the same under
/// SQLite's `LIKE` (case-insensitive for ASCII) and PostgreSQL's (case-sensitive). A row
/// without its received time comes last in both (PostgreSQL puts nulls first in a
/// descending order unless told otherwise).
const SIGNALS_STARTING_WITH: &str = "SELECT signal_id FROM signals WHERE signal_id LIKE $1
     ORDER BY received_at DESC NULLS LAST, signal_id DESC LIMIT $2";

/// The `LIKE` pattern of ids starting with `start`: `start` in lowercase, then `%`.
fn id_start_pattern(start: &str) -> Result<String, JournalError> {
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(JournalError {
            reason: format!(
                "the start of a signal id is hex characters, got {:?}",
                start.chars().take(64).collect::<String>()
            ),
        });
    }
    Ok(format!("{}%", start.to_ascii_lowercase()))
}

const INSERT_AUDIT: &str =
    "INSERT INTO replay_audit (at, queue, message_id, signal_id, forced, dry_run, result, operator)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Database errors can carry connection details: keep the kind, drop the rest.
/// A database's error as a reason: its code and its message cut to a line (the message names
/// a table, a constraint or a database, never a value or a password).
fn database_error(code: impl std::fmt::Display, message: &str) -> String {
    format!(
        "database error {code}: {}",
        message.chars().take(160).collect::<String>()
    )
}

/// A batch's write that failed: the error every waiter of the batch would hear, and whether
/// the database refused what was written (a row it will not take) rather than could not be
/// reached: then the batch's executions are written again one at a time
/// ([`GroupCommit::answer_or_each`]), so one refused execution does not fail the others with
/// it (under load a batch holds many executors' records, each of which would come back and
/// meet it again).
pub(crate) struct BatchFailure {
    pub(crate) error: JournalError,
    pub(crate) refused: bool,
}

/// A batch's failure from sqlx's error: a constraint the rows break, a value the database
/// cannot take (PostgreSQL's SQLSTATE class 22, "data exception", such as text holding a NUL:
/// <https://www.postgresql.org/docs/current/errcodes-appendix.html>; SQLite's `SQLITE_TOOBIG`
/// 18 and `SQLITE_MISMATCH` 20: <https://www.sqlite.org/rescode.html>) or one sqlx could not
/// encode is a refusal. Any other answer (a busy or full file, a server shutting down, read
/// only after a failover, out of connections) and a connection, pool or I/O failure are not:
/// written again one at a time, each would wait on the same outage.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn batch_failure(e: sqlx::Error) -> BatchFailure {
    let refused = match &e {
        sqlx::Error::Database(d) => {
            !matches!(d.kind(), sqlx::error::ErrorKind::Other)
                || d.code().is_some_and(|c| {
                    (c.len() == 5 && c.starts_with("22")) || c == "18" || c == "20"
                })
        }
        sqlx::Error::Encode(_) => true,
        _ => false,
    };
    BatchFailure {
        refused,
        error: db_error("signal and order upsert", e),
    }
}

fn db_error(what: &str, e: sqlx::Error) -> JournalError {
    let kind = match &e {
        // The server's message names what is wrong (`database "x" does not exist`), never a
        // password; cut to a line.
        sqlx::Error::Database(d) => database_error(d.code().unwrap_or_default(), d.message()),
        sqlx::Error::PoolTimedOut => "pool timed out".into(),
        // The kind only (`connection refused`): the error's text may name the host.
        sqlx::Error::Io(e) => format!("I/O error: {}", e.kind()),
        sqlx::Error::Configuration(_) => "bad configuration".into(),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::RowNotFound => "row not found".into(),
        sqlx::Error::ColumnDecode { index, .. } => format!("column {index} unreadable"),
        other => other.to_string().chars().take(120).collect(),
    };
    JournalError {
        reason: format!("{what}: {kind}"),
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, JournalError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| JournalError {
        reason: format!("{what} {s:?} unreadable"),
    })
}

fn enum_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn signal_id(s: &str) -> Result<SignalId, JournalError> {
    s.parse().map_err(|_| JournalError {
        reason: format!("signal id {s:?} unreadable"),
    })
}

/// Binds a signal record's parameters, in `UPSERT_SIGNAL`'s order.
macro_rules! bind_signal {
    ($q:expr, $r:expr, $time_in:expr) => {{
        let r: &SignalRecord = $r;
        let st: &StageTimes = &r.stages;
        $q.bind(r.signal_id.as_str())
            .bind(&r.raw)
            .bind(r.normalized.as_str())
            .bind(&r.symbol)
            .bind(&r.exchange)
            .bind(&r.action)
            .bind(r.broker.map(|b| b.to_string()))
            .bind(&r.instrument)
            .bind(&r.contract_resolution)
            .bind(r.status.as_str())
            .bind(&r.reason)
            .bind($time_in(st.received))
            .bind($time_in(st.enqueued))
            .bind($time_in(st.routed))
            .bind($time_in(st.executor_start))
            .bind($time_in(st.broker_sent))
            .bind($time_in(st.broker_acked))
    }};
}

/// Binds an order record's parameters, in `UPSERT_ORDER`'s order.
macro_rules! bind_order {
    ($q:expr, $r:expr, $dec_in:expr, $time_in:expr) => {{
        let r: &OrderRecord = $r;
        $q.bind(r.signal_id.as_str())
            .bind(r.broker.to_string())
            .bind(r.account.as_str())
            .bind(r.leg.as_str())
            .bind(i64::from(r.attempt))
            .bind(&r.instrument)
            .bind(r.client_order_id.as_str())
            .bind(r.broker_order_id.as_ref().map(BrokerOrderId::as_str))
            .bind(r.side.as_str())
            .bind($dec_in(Some(r.quantity)))
            .bind($dec_in(r.fill_price))
            .bind(enum_text(&r.outcome))
            .bind(&r.error)
            .bind($time_in(r.sent_at))
            .bind($time_in(r.acked_at))
            .bind($dec_in(r.fee))
    }};
}

/// One signal's records, waiting in a [`GroupCommit`], and who waits for them.
struct Execution {
    signal: SignalRecord,
    orders: Vec<OrderRecord>,
    done: tokio::sync::oneshot::Sender<Result<(), JournalError>>,
}

/// Group commit of [`TradeJournal::record_execution`]: an execution that arrives while a
/// write is under way waits, and the drain writes every waiting one together (SQLite: one
/// transaction; through the pool, in statement batches of up to [`GROUP_MAX`] signals). Under
/// load this turns a commit per signal into a commit per batch; alone, a signal is written at
/// once. Each caller returns only once its own records are committed, or with the error of
/// the write that held them.
///
/// One drain at a time, on a thread or task of its own (a caller that gives up waiting cannot
/// stop it halfway): a SQLite file's writer thread (`sqlite_writer`), else a task writing
/// through the pool. Waiters are woken only by their own answer. (Waiters queued on a writer's lock
/// instead were each handed the lock in turn after their records were written, one wake-up
/// after another before the next write could start: 9 ms per signal under load.)
#[derive(Default)]
struct GroupCommit {
    pending: std::sync::Mutex<Pending>,
    #[cfg(feature = "sqlite")]
    /// SQLite: set by the checkpoint task when the log is [`RESTART_FRAMES`] long; the drain
    /// clears it once its catch-up checkpoint has copied every frame.
    restart_due: std::sync::atomic::AtomicBool,
    #[cfg(feature = "sqlite")]
    /// SQLite file: the writer thread that drains this group (see `sqlite_writer`); unset,
    /// a drain is a task writing through the pool.
    writer: std::sync::OnceLock<sqlite_writer::Wake>,
    #[cfg(feature = "sqlite")]
    /// SQLite file: the writer connection's `synchronous` level as it reported it once
    /// configured (1 NORMAL, 2 FULL).
    writer_synchronous: std::sync::OnceLock<i64>,
}

/// What waits for the drain, and whether one runs.
#[derive(Default)]
struct Pending {
    executions: Vec<Execution>,
    draining: bool,
}

/// The most signals written in one SQLite statement batch.
#[cfg(feature = "sqlite")]
const GROUP_MAX: usize = 8;

impl GroupCommit {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outcome of a catch-up checkpoint (busy flag, frames in the log, frames copied):
    /// once it copied every frame, the next write rewinds the log and no catch-up is due.
    /// Busy, incomplete or failed, it is tried again after the next batch.
    #[cfg(feature = "sqlite")]
    fn caught_up<E: std::fmt::Display>(&self, checkpoint: Result<(i64, i64, i64), E>) {
        match checkpoint {
            Ok((0, log, copied)) if log == copied => self
                .restart_due
                .store(false, std::sync::atomic::Ordering::Release),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "journal: catch-up checkpoint"),
        }
    }

    /// Starts a drain on the writer thread, if this group has one that still runs.
    fn wake_writer(&self) -> bool {
        #[cfg(feature = "sqlite")]
        if let Some(writer) = self.writer.get() {
            return writer.send(()).is_ok();
        }
        false
    }

    /// Adds an execution; answers where its result will come, and whether the caller must
    /// start the drain (none runs).
    fn enqueue(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> (
        tokio::sync::oneshot::Receiver<Result<(), JournalError>>,
        bool,
    ) {
        let (done, written) = tokio::sync::oneshot::channel();
        let mut pending = self.lock();
        pending.executions.push(Execution {
            signal: signal.clone(),
            orders: orders.to_vec(),
            done,
        });
        let start = !pending.draining;
        pending.draining = true;
        (written, start)
    }

    /// Whether executions wait to be written (the writer thread's commit gap waits only then).
    #[cfg(feature = "sqlite")]
    fn has_pending(&self) -> bool {
        !self.lock().executions.is_empty()
    }

    /// The executions to write next; `None` ends the drain (in the same lock as `enqueue`, so
    /// an execution added after it starts a new one).
    fn next_batch(&self) -> Option<Vec<Execution>> {
        let mut pending = self.lock();
        if pending.executions.is_empty() {
            pending.draining = false;
            None
        } else {
            Some(std::mem::take(&mut pending.executions))
        }
    }

    fn answer(batch: Vec<Execution>, result: &Result<(), JournalError>) {
        for e in batch {
            let _ = e.done.send(result.clone());
        }
    }

    /// Answers a written batch: its result for every waiter, unless the database refused it
    /// and it holds more than one execution; then the executions to write again one at a
    /// time, each to be answered its own result (see [`BatchFailure`]).
    fn answer_or_each(
        batch: Vec<Execution>,
        result: Result<(), BatchFailure>,
    ) -> Option<Vec<Execution>> {
        match result {
            Err(f) if f.refused && batch.len() > 1 => {
                tracing::warn!(
                    error = %f.error,
                    executions = batch.len(),
                    "journal: a batch was refused; writing its executions one at a time"
                );
                Some(batch)
            }
            result => {
                Self::answer(batch, &result.map_err(|f| f.error));
                None
            }
        }
    }

    /// A waiter's result; a drain that ended without answering (it panicked) wrote nothing
    /// this waiter can count on.
    fn outcome(
        written: Result<Result<(), JournalError>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<(), JournalError> {
        written.unwrap_or_else(|_| {
            Err(JournalError {
                reason: "signal and order upsert: the write was abandoned".into(),
            })
        })
    }
}

/// Ends a drain that panicked: the waiting executions are answered (abandoned) and the next
/// execution starts a new drain, instead of every later one waiting for a drain that is gone.
struct DrainGuard<'a>(&'a GroupCommit);

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut pending = self.0.lock();
            pending.executions.clear();
            pending.draining = false;
        }
    }
}

macro_rules! journal_impl {
    ($name:ident, $db:ty, $pool:ty, $sql:expr, $dec_in:expr, $dec_out:expr, $time_in:expr, $time_out:expr) => {
        /// A journal over one database's connection pool; cloning shares the pool.
        #[derive(Clone)]
        pub struct $name {
            pool: $pool,
            /// Executions waiting to be written together (see [`GroupCommit`]).
            group: std::sync::Arc<GroupCommit>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // Never the URL: it may hold a password.
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl $name {
            /// A journal over `pool` as it is: no migration (see `migrate`).
            pub fn from_pool(pool: $pool) -> Self {
                Self {
                    pool,
                    group: Default::default(),
                }
            }

            /// The connection pool, for tests and tools that query the tables directly.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            async fn fetch_orders(&self, id: &str) -> Result<Vec<OrderRecord>, JournalError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(SELECT_ORDERS)))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error("orders read", e))?;
                Self::orders_of(rows)
            }

            /// Every order row of the journal, one query (for reports over the whole journal).
            pub async fn all_orders(&self) -> Result<Vec<OrderRecord>, JournalError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(ALL_ORDERS)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error("orders read", e))?;
                Self::orders_of(rows)
            }

            /// Every signal row of the journal, oldest first, one query.
            pub async fn all_signals(&self) -> Result<Vec<SignalRecord>, JournalError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(ALL_SIGNALS)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error("signals read", e))?;
                rows.iter().map(Self::signal_of).collect()
            }

            fn orders_of(
                rows: Vec<<$db as sqlx::Database>::Row>,
            ) -> Result<Vec<OrderRecord>, JournalError> {
                rows.iter().map(Self::order_of).collect()
            }

            fn order_of(r: &<$db as sqlx::Database>::Row) -> Result<OrderRecord, JournalError> {
                use sqlx::Row;
                let get = |i: usize| -> Result<String, JournalError> {
                    r.try_get::<String, _>(i)
                        .map_err(|e| db_error("orders read", e))
                };
                let opt = |i: usize| -> Result<Option<String>, JournalError> {
                    r.try_get::<Option<String>, _>(i)
                        .map_err(|e| db_error("orders read", e))
                };
                let attempt = r
                    .try_get::<i64, _>(14)
                    .map_err(|e| db_error("orders read", e))?;
                Ok(OrderRecord {
                    signal_id: signal_id(&get(0)?)?,
                    broker: parse_enum("broker", &get(1)?)?,
                    account: get(2)?.into(),
                    leg: parse_enum("leg", &get(3)?)?,
                    attempt: u32::try_from(attempt).map_err(|_| JournalError {
                        reason: format!("attempt {attempt} unreadable"),
                    })?,
                    instrument: get(4)?,
                    client_order_id: shared::execution::ClientOrderId::from_stored(get(5)?),
                    broker_order_id: opt(6)?.map(BrokerOrderId::from),
                    side: parse_enum("side", &get(7)?)?,
                    quantity: $dec_out(r, 8)?.unwrap_or_default(),
                    fill_price: $dec_out(r, 9)?,
                    outcome: parse_enum("outcome", &get(10)?)?,
                    error: opt(11)?,
                    sent_at: $time_out(r, 12)?,
                    acked_at: $time_out(r, 13)?,
                    fee: $dec_out(r, 15)?,
                })
            }

            /// The most recent `limit` signals, newest first (a row without its received
            /// time last, a tie by signal id, highest first), in one query.
            ///
            /// # Errors
            /// [`JournalError`] when the rows cannot be read.
            pub async fn recent_signals(
                &self,
                limit: i64,
            ) -> Result<Vec<SignalRecord>, JournalError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(RECENT_SIGNALS)))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error("signals read", e))?;
                rows.iter().map(Self::signal_of).collect()
            }

            /// The most recent `limit` signals as [`Self::recent_signals`] reads them, each
            /// with its order legs by leg, then attempt (as `orders` gives them): two queries
            /// whatever `limit`, where a read per signal cost a round trip each to a
            /// PostgreSQL journal. A signal without its received time has its legs read on
            /// their own. All in one read transaction, one snapshot ([`Snapshot`]): read
            /// apart, a signal whose replay was journaled between the queries showed its old
            /// status (`unknown`) beside its new legs (`filled`).
            ///
            /// # Errors
            /// [`JournalError`] when the rows cannot be read.
            pub async fn recent_executions(
                &self,
                limit: i64,
            ) -> Result<Vec<(SignalRecord, Vec<OrderRecord>)>, JournalError> {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| db_error("signals read", e))?;
                tx.snapshot().await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(RECENT_SIGNALS)))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| db_error("signals read", e))?;
                let signals = rows
                    .iter()
                    .map(Self::signal_of)
                    .collect::<Result<Vec<_>, _>>()?;
                between_report_reads().await;
                let mut legs: std::collections::HashMap<String, Vec<OrderRecord>> =
                    std::collections::HashMap::new();
                if let Some(oldest) = signals.iter().filter_map(|s| s.stages.received).min() {
                    let rows = sqlx::query(sqlx::AssertSqlSafe($sql(ORDERS_RECEIVED_SINCE)))
                        .bind($time_in(Some(oldest)))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(|e| db_error("orders read", e))?;
                    for r in &rows {
                        let o = Self::order_of(r)?;
                        legs.entry(o.signal_id.as_str().to_owned())
                            .or_default()
                            .push(o);
                    }
                }
                let mut out = Vec::with_capacity(signals.len());
                for s in signals {
                    let mut orders = match s.stages.received {
                        Some(_) => legs.remove(s.signal_id.as_str()).unwrap_or_default(),
                        None => {
                            let rows = sqlx::query(sqlx::AssertSqlSafe($sql(SELECT_ORDERS)))
                                .bind(s.signal_id.as_str())
                                .fetch_all(&mut *tx)
                                .await
                                .map_err(|e| db_error("orders read", e))?;
                            Self::orders_of(rows)?
                        }
                    };
                    // By the enum's order, as `orders` sorts them.
                    orders.sort_by_key(|o| (o.leg, o.attempt));
                    out.push((s, orders));
                }
                // Read only: nothing to commit.
                tx.rollback()
                    .await
                    .map_err(|e| db_error("signals read", e))?;
                Ok(out)
            }

            /// The signal `id` with its order legs (by leg, then attempt), read in one read
            /// transaction, one snapshot ([`Snapshot`]), as [`Self::recent_executions`] reads
            /// many; `None` when no row has that id.
            ///
            /// # Errors
            /// [`JournalError`] when the rows cannot be read.
            pub async fn execution(
                &self,
                id: &SignalId,
            ) -> Result<Option<(SignalRecord, Vec<OrderRecord>)>, JournalError> {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| db_error("signal read", e))?;
                tx.snapshot().await?;
                let row = sqlx::query(sqlx::AssertSqlSafe($sql(SELECT_SIGNAL)))
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| db_error("signal read", e))?;
                let Some(signal) = row.as_ref().map(Self::signal_of).transpose()? else {
                    return Ok(None);
                };
                between_report_reads().await;
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(SELECT_ORDERS)))
                    .bind(id.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| db_error("orders read", e))?;
                let mut orders = Self::orders_of(rows)?;
                orders.sort_by_key(|o| (o.leg, o.attempt));
                // Read only: nothing to commit.
                tx.rollback()
                    .await
                    .map_err(|e| db_error("signal read", e))?;
                Ok(Some((signal, orders)))
            }

            /// The ids of the signals whose id starts with `start` (hex, either case), newest
            /// first, at most `limit`. The whole journal is searched, in one query that reads
            /// ids only (no row of a signal is decoded), so an operator can give the first few
            /// characters of any id the journal holds.
            ///
            /// # Errors
            /// [`JournalError`] when `start` is empty or not hex (it becomes a `LIKE` pattern,
            /// where only hex is known to match itself alone), or the table cannot be read.
            pub async fn signal_ids_starting_with(
                &self,
                start: &str,
                limit: i64,
            ) -> Result<Vec<SignalId>, JournalError> {
                use sqlx::Row;
                let pattern = id_start_pattern(start)?;
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(SIGNALS_STARTING_WITH)))
                    .bind(pattern)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error("signals read", e))?;
                rows.iter()
                    .map(|r| {
                        let id: String = r.try_get(0).map_err(|e| db_error("signals read", e))?;
                        signal_id(&id)
                    })
                    .collect()
            }

            /// The order legs of the most recent signals.
            pub async fn recent_orders(
                &self,
                limit: i64,
            ) -> Result<Vec<OrderRecord>, JournalError> {
                Ok(self
                    .recent_executions(limit)
                    .await?
                    .into_iter()
                    .flat_map(|(_, orders)| orders)
                    .collect())
            }

            /// Every dead-letter replay decision of the audit trail in the order written, as
            /// (queue, message id, result) text.
            ///
            /// # Errors
            /// [`JournalError`] when the table cannot be read.
            pub async fn replay_audits(
                &self,
            ) -> Result<Vec<(String, String, String)>, JournalError> {
                use sqlx::Row;
                let rows =
                    sqlx::query("SELECT queue, message_id, result FROM replay_audit ORDER BY id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| db_error("audit read", e))?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0).map_err(|e| db_error("audit read", e))?,
                            r.try_get(1).map_err(|e| db_error("audit read", e))?,
                            r.try_get(2).map_err(|e| db_error("audit read", e))?,
                        ))
                    })
                    .collect()
            }

            /// The replay decisions about one signal, whole, in the order written (dry runs
            /// included: `dry_run` says which); a decision on a body that did not read names
            /// no signal and is in none.
            ///
            /// # Errors
            /// [`JournalError`] when the table cannot be read.
            pub async fn replay_audits_of(
                &self,
                signal: &SignalId,
            ) -> Result<Vec<ReplayAudit>, JournalError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe($sql(
                    "SELECT at, queue, message_id, signal_id, forced, dry_run, result, operator
                     FROM replay_audit WHERE signal_id = $1 ORDER BY id",
                )))
                .bind(signal.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_error("audit read", e))?;
                rows.iter().map(Self::replay_audit).collect()
            }

            /// One row of `SELECT at, queue, message_id, signal_id, forced, dry_run, result,
            /// operator FROM replay_audit` as its decision.
            fn replay_audit(r: &<$db as sqlx::Database>::Row) -> Result<ReplayAudit, JournalError> {
                use sqlx::Row;
                let text = |i: usize| -> Result<String, JournalError> {
                    r.try_get(i).map_err(|e| db_error("audit read", e))
                };
                let flag = |i: usize| -> Result<bool, JournalError> {
                    r.try_get(i).map_err(|e| db_error("audit read", e))
                };
                let signal: Option<String> = r.try_get(3).map_err(|e| db_error("audit read", e))?;
                Ok(ReplayAudit {
                    at: $time_out(r, 0)?.ok_or_else(|| JournalError {
                        reason: "a replay audit row without its time".into(),
                    })?,
                    queue: text(1)?,
                    message_id: text(2)?,
                    signal_id: signal.and_then(|s| s.parse().ok()),
                    forced: flag(4)?,
                    dry_run: flag(5)?,
                    result: text(6)?,
                    operator: text(7)?,
                })
            }

            /// Every replay decision, whole, in the order written (dry runs included): what a
            /// list of signals tags its replayed ones with. The trail holds one row per
            /// decision an operator made, so it stays small.
            ///
            /// # Errors
            /// [`JournalError`] when the table cannot be read.
            pub async fn replay_decisions(&self) -> Result<Vec<ReplayAudit>, JournalError> {
                let rows = sqlx::query(
                    "SELECT at, queue, message_id, signal_id, forced, dry_run, result, operator
                     FROM replay_audit ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(|e| db_error("audit read", e))?;
                rows.iter().map(Self::replay_audit).collect()
            }
        }

        impl TradeJournal for $name {
            async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
                bind_signal!(
                    sqlx::query(sqlx::AssertSqlSafe($sql(UPSERT_SIGNAL))),
                    r,
                    $time_in
                )
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| db_error("signal upsert", e))
            }

            async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
                bind_order!(
                    sqlx::query(sqlx::AssertSqlSafe($sql(UPSERT_ORDER))),
                    r,
                    $dec_in,
                    $time_in
                )
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| db_error("order upsert", e))
            }

            async fn record_execution(
                &self,
                signal: &SignalRecord,
                orders: &[OrderRecord],
            ) -> Result<(), JournalError> {
                let (done, start) = self.group.enqueue(signal, orders);
                if start && !self.group.wake_writer() {
                    let journal = self.clone();
                    tokio::spawn(async move {
                        let _guard = DrainGuard(&journal.group);
                        while let Some(batch) = journal.group.next_batch() {
                            let result = journal.write_executions(&batch).await;
                            for e in GroupCommit::answer_or_each(batch, result)
                                .into_iter()
                                .flatten()
                            {
                                let alone = journal
                                    .write_executions(std::slice::from_ref(&e))
                                    .await
                                    .map_err(|f| f.error);
                                let _ = e.done.send(alone);
                            }
                            // After the answers: nobody waits on what it does.
                            journal.after_batch().await;
                        }
                    });
                }
                GroupCommit::outcome(done.await)
            }

            async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
                let row = sqlx::query(sqlx::AssertSqlSafe($sql(SELECT_SIGNAL)))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| db_error("signal read", e))?;
                row.as_ref().map(Self::signal_of).transpose()
            }

            async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
                let mut out = self.fetch_orders(id.as_str()).await?;
                // By the enum's order, not the text order of the column: it must not hang on
                // how a leg is spelled.
                out.sort_by_key(|o| (o.leg, o.attempt));
                Ok(out)
            }
        }

        impl $name {
            fn signal_of(r: &<$db as sqlx::Database>::Row) -> Result<SignalRecord, JournalError> {
                use sqlx::Row;
                let get = |i: usize| -> Result<String, JournalError> {
                    r.try_get::<String, _>(i)
                        .map_err(|e| db_error("signal read", e))
                };
                let opt = |i: usize| -> Result<Option<String>, JournalError> {
                    r.try_get::<Option<String>, _>(i)
                        .map_err(|e| db_error("signal read", e))
                };
                let status = get(9)?;
                Ok(SignalRecord {
                    signal_id: signal_id(&get(0)?)?,
                    raw: get(1)?,
                    normalized: RawJson::parse(get(2)?).unwrap_or_default(),
                    symbol: get(3)?,
                    exchange: get(4)?,
                    action: get(5)?,
                    broker: opt(6)?.map(|b| parse_enum("broker", &b)).transpose()?,
                    instrument: opt(7)?,
                    contract_resolution: opt(8)?,
                    status: SignalStatus::parse(&status).ok_or_else(|| JournalError {
                        reason: format!("status {status:?} unreadable"),
                    })?,
                    reason: opt(10)?,
                    stages: StageTimes {
                        received: $time_out(&r, 11)?,
                        enqueued: $time_out(&r, 12)?,
                        routed: $time_out(&r, 13)?,
                        executor_start: $time_out(&r, 14)?,
                        broker_sent: $time_out(&r, 15)?,
                        broker_acked: $time_out(&r, 16)?,
                    },
                })
            }
        }

        impl AuditLog for $name {
            async fn record_replay(&self, a: &ReplayAudit) -> Result<(), JournalError> {
                sqlx::query(sqlx::AssertSqlSafe($sql(INSERT_AUDIT)))
                    .bind($time_in(Some(a.at)))
                    .bind(&a.queue)
                    .bind(&a.message_id)
                    .bind(a.signal_id.as_ref().map(|s| s.to_string()))
                    .bind(a.forced)
                    .bind(a.dry_run)
                    .bind(&a.result)
                    .bind(&a.operator)
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| db_error("audit insert", e))
            }
        }
    };
}

#[cfg(feature = "postgres")]
fn pg_sql(sql: &'static str) -> &'static str {
    sql
}

/// The SQLite form of one of this module's statements, rewritten once per process (a
/// rewrite on every call was measurable under load): the statements are a fixed set of
/// constants, so the cache is bounded.
#[cfg(feature = "sqlite")]
fn cached_sql(key: (&'static str, usize), make: impl FnOnce() -> String) -> &'static str {
    type Cache = std::sync::Mutex<std::collections::HashMap<(usize, usize), &'static str>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry((key.0.as_ptr() as usize, key.1))
        .or_insert_with(|| Box::leak(make().into_boxed_str()))
}

/// SQLite takes `?N` for numbered parameters.
#[cfg(feature = "sqlite")]
fn sqlite_sql(sql: &'static str) -> &'static str {
    cached_sql((sql, usize::MAX), || sqlite_numbered(sql))
}

#[cfg(feature = "sqlite")]
fn sqlite_numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `sql` with each `$N` written as a positional `?`, for a statement batch. sqlx binds a
/// batch's positional parameters in order across its statements, but numbered ones only
/// while none is missing before them, so later statements cannot number theirs. Positional is
/// right only because every `$N` of the upserts appears once, in order (checked in a test).
#[cfg(feature = "sqlite")]
fn sqlite_positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `signals` signal upserts, then `legs` order upserts, as one SQLite batch: one hand-off to
/// sqlx's worker thread for a group of signals. `own_transaction`: the batch is a transaction
/// of its own (one commit, one WAL append), else it runs inside one the caller opened. Never a
/// signal without its legs. Cached per shape (at most [`GROUP_MAX`] signals).
#[cfg(feature = "sqlite")]
fn sqlite_execution_sql(signals: usize, legs: usize, own_transaction: bool) -> &'static str {
    let shape = signals * 1024 + legs + if own_transaction { 0 } else { 1 << 20 };
    cached_sql((UPSERT_ORDER, shape), || {
        let mut sql = String::from(if own_transaction { "BEGIN;\n" } else { "" });
        let signal = sqlite_positional(UPSERT_SIGNAL);
        for _ in 0..signals {
            sql.push_str(&signal);
            sql.push_str(";\n");
        }
        let order = sqlite_positional(UPSERT_ORDER);
        for _ in 0..legs {
            sql.push_str(&order);
            sql.push_str(";\n");
        }
        if own_transaction {
            sql.push_str("COMMIT;");
        }
        sql
    })
}

#[cfg(feature = "sqlite")]
impl SqliteJournal {
    /// Writes `batch` in one transaction, in statement batches of up to [`GROUP_MAX`] signals
    /// each (a batch that fits one is its own transaction: one hand-off). One commit for the
    /// whole drain cycle writes the pages its signals share (the tables' last pages, the
    /// instruments' index pages) once, not once per statement batch. A failed batch is rolled
    /// back, so the connection is not left inside a transaction; one the database refused is
    /// written again one execution at a time ([`GroupCommit::answer_or_each`]), any other
    /// error is every waiter's: a retry writes it all again (upserts).
    async fn write_executions(&self, batch: &[Execution]) -> Result<(), BatchFailure> {
        // One connection for the whole batch: the rollback runs on the connection a batch
        // failed on, and each acquire is a hand-off of its own.
        let mut conn = self.pool.acquire().await.map_err(batch_failure)?;
        let one = batch.len() <= GROUP_MAX;
        let fail = batch_failure;
        if !one && let Err(e) = sqlx::query("BEGIN").execute(&mut *conn).await {
            return Err(fail(e));
        }
        for group in batch.chunks(GROUP_MAX) {
            let legs = group.iter().map(|e| e.orders.len()).sum();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sqlite_execution_sql(
                group.len(),
                legs,
                one,
            )));
            for e in group {
                q = bind_signal!(q, &e.signal, sqlite_time_in);
            }
            for o in group.iter().flat_map(|e| &e.orders) {
                q = bind_order!(q, o, sqlite_dec_in, sqlite_time_in);
            }
            if let Err(e) = q.execute(&mut *conn).await {
                // "cannot rollback - no transaction is active" when BEGIN itself failed.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(fail(e));
            }
        }
        if !one && let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(fail(e));
        }
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
impl SqliteJournal {
    /// After a batch the pool's drain answered (a file whose URL keeps it off the writer
    /// thread; that thread does the same on its own connection): when the checkpoint task
    /// found the log [`RESTART_FRAMES`] long, checkpoints on the pool's connection, between two
    /// transactions, what the task has not copied yet; once every frame is in, the next write
    /// rewinds the log. Busy or incomplete, it is tried after the next batch; and if that
    /// write finds a reader on the log, SQLite skips the rewind and the task flags it again.
    async fn after_batch(&self) {
        if !self
            .group
            .restart_due
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        let mut conn = match self.pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "journal: catch-up checkpoint");
                return;
            }
        };
        self.group.caught_up(wal_checkpoint(&mut conn).await);
    }
}

/// How long a journal session may sit idle before PostgreSQL closes it: one minute, well under
/// Aurora's shortest auto-pause delay (five minutes).
#[cfg(feature = "postgres")]
pub const IDLE_SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The `application_name` of the journal's PostgreSQL sessions.
#[cfg(feature = "postgres")]
pub const APPLICATION_NAME: &str = "tv-pipeline-journal";

#[cfg(feature = "postgres")]
impl PgJournal {
    /// Nothing to do after a batch: PostgreSQL checkpoints on its own.
    async fn after_batch(&self) {}

    /// A batch is one statement, [`pg_executions_sql`]: one round trip and one implicit
    /// transaction, so never a signal without its legs. A batch that holds a key twice (a
    /// signal, or a leg's attempt, written again while the first write waited) goes row by row
    /// instead: PostgreSQL refuses to update one row twice in a statement ("ON CONFLICT DO
    /// UPDATE command cannot affect row a second time",
    /// <https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT>).
    async fn write_executions(&self, batch: &[Execution]) -> Result<(), BatchFailure> {
        if repeats_a_key(batch) {
            return self.write_rows(batch).await;
        }
        let signals: Vec<&SignalRecord> = batch.iter().map(|e| &e.signal).collect();
        let orders: Vec<&OrderRecord> = batch.iter().flat_map(|e| &e.orders).collect();
        let s_text =
            |f: fn(&SignalRecord) -> &str| signals.iter().map(|r| f(r)).collect::<Vec<_>>();
        let s_opt =
            |f: fn(&SignalRecord) -> Option<&str>| signals.iter().map(|r| f(r)).collect::<Vec<_>>();
        let s_time = |f: fn(&StageTimes) -> Option<DateTime<Utc>>| {
            signals.iter().map(|r| f(&r.stages)).collect::<Vec<_>>()
        };
        let o_text = |f: fn(&OrderRecord) -> &str| orders.iter().map(|r| f(r)).collect::<Vec<_>>();
        let o_time = |f: fn(&OrderRecord) -> Option<DateTime<Utc>>| {
            orders.iter().map(|r| f(r)).collect::<Vec<_>>()
        };
        let o_dec = |f: fn(&OrderRecord) -> Option<Decimal>| {
            orders.iter().map(|r| f(r)).collect::<Vec<_>>()
        };
        sqlx::query(sqlx::AssertSqlSafe(pg_executions_sql()))
            .bind(s_text(|r| r.signal_id.as_str()))
            .bind(s_text(|r| &r.raw))
            .bind(s_text(|r| r.normalized.as_str()))
            .bind(s_text(|r| &r.symbol))
            .bind(s_text(|r| &r.exchange))
            .bind(s_text(|r| &r.action))
            .bind(
                signals
                    .iter()
                    .map(|r| r.broker.map(|b| b.to_string()))
                    .collect::<Vec<_>>(),
            )
            .bind(s_opt(|r| r.instrument.as_deref()))
            .bind(s_opt(|r| r.contract_resolution.as_deref()))
            .bind(s_text(|r| r.status.as_str()))
            .bind(s_opt(|r| r.reason.as_deref()))
            .bind(s_time(|t| t.received))
            .bind(s_time(|t| t.enqueued))
            .bind(s_time(|t| t.routed))
            .bind(s_time(|t| t.executor_start))
            .bind(s_time(|t| t.broker_sent))
            .bind(s_time(|t| t.broker_acked))
            .bind(o_text(|r| r.signal_id.as_str()))
            .bind(
                orders
                    .iter()
                    .map(|r| r.broker.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(o_text(|r| r.account.as_str()))
            .bind(o_text(|r| r.leg.as_str()))
            .bind(
                orders
                    .iter()
                    .map(|r| i64::from(r.attempt))
                    .collect::<Vec<_>>(),
            )
            .bind(o_text(|r| &r.instrument))
            .bind(o_text(|r| r.client_order_id.as_str()))
            .bind(
                orders
                    .iter()
                    .map(|r| r.broker_order_id.as_ref().map(BrokerOrderId::as_str))
                    .collect::<Vec<_>>(),
            )
            .bind(o_text(|r| r.side.as_str()))
            .bind(o_dec(|r| Some(r.quantity)))
            .bind(o_dec(|r| r.fill_price))
            .bind(
                orders
                    .iter()
                    .map(|r| enum_text(&r.outcome))
                    .collect::<Vec<_>>(),
            )
            .bind(
                orders
                    .iter()
                    .map(|r| r.error.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(o_time(|r| r.sent_at))
            .bind(o_time(|r| r.acked_at))
            .bind(o_dec(|r| r.fee))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(batch_failure)
    }

    /// The rows one after another, in one transaction for the whole batch (one commit, and
    /// never a signal without its legs); each upsert sees the rows written before it, as
    /// separate calls would. Dropping an uncommitted transaction rolls it back.
    async fn write_rows(&self, batch: &[Execution]) -> Result<(), BatchFailure> {
        let err = batch_failure;
        let mut tx = self.pool.begin().await.map_err(err)?;
        for e in batch {
            bind_signal!(
                sqlx::query(sqlx::AssertSqlSafe(UPSERT_SIGNAL)),
                &e.signal,
                |t: Option<DateTime<Utc>>| t
            )
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        for o in batch.iter().flat_map(|e| &e.orders) {
            bind_order!(
                sqlx::query(sqlx::AssertSqlSafe(UPSERT_ORDER)),
                o,
                |d: Option<Decimal>| d,
                |t: Option<DateTime<Utc>>| t
            )
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }
}

/// Whether a batch holds one signal, or one leg's attempt, more than once.
#[cfg(feature = "postgres")]
fn repeats_a_key(batch: &[Execution]) -> bool {
    let mut signals = std::collections::HashSet::new();
    let mut legs = std::collections::HashSet::new();
    batch
        .iter()
        .any(|e| !signals.insert(e.signal.signal_id.as_str()))
        || batch.iter().flat_map(|e| &e.orders).any(|o| {
            !legs.insert((
                o.signal_id.as_str(),
                o.broker,
                o.account.as_str(),
                o.leg.as_str(),
                o.attempt,
            ))
        })
}

/// The SQL types of `UPSERT_SIGNAL`'s parameters, in order.
#[cfg(feature = "postgres")]
const SIGNAL_TYPES: [&str; 17] = [
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
];

/// The SQL types of `UPSERT_ORDER`'s parameters, in order.
#[cfg(feature = "postgres")]
const ORDER_TYPES: [&str; 16] = [
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "numeric",
    "numeric",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "numeric",
];

/// `UPSERT_SIGNAL` and `UPSERT_ORDER` as one statement over arrays: each parameter is a
/// column's values for the whole batch (`$1` every signal id, ...), `UNNEST` turns them back
/// into rows, and each upsert is a data-modifying `WITH` query of the statement
/// (<https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING>). The
/// upserts' own text is reused, so their conflict rules cannot drift apart. Built once.
#[cfg(feature = "postgres")]
fn pg_executions_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let signals = pg_unnest(UPSERT_SIGNAL, &SIGNAL_TYPES, 0);
        let orders = pg_unnest(UPSERT_ORDER, &ORDER_TYPES, SIGNAL_TYPES.len());
        format!(
            "WITH s AS ({signals} RETURNING 1), o AS ({orders} RETURNING 1) \
             SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM o)"
        )
    })
}

/// An upsert of `VALUES ($1, ..., CURRENT_TIMESTAMP)` rewritten to insert the rows of its
/// parameters' arrays, numbered from `first + 1`.
#[cfg(feature = "postgres")]
fn pg_unnest(upsert: &str, types: &[&str], first: usize) -> String {
    let (head, rest) = upsert.split_once("VALUES").expect("an upsert has VALUES");
    let (_, conflict) = rest
        .split_once("ON CONFLICT")
        .expect("an upsert has ON CONFLICT");
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i + 1))
        .collect();
    format!(
        "{head}SELECT *, CURRENT_TIMESTAMP FROM UNNEST({}) ON CONFLICT{conflict}",
        arrays.join(", ")
    )
}

#[cfg(feature = "postgres")]
fn pg_dec_out(r: &sqlx::postgres::PgRow, i: usize) -> Result<Option<Decimal>, JournalError> {
    use sqlx::Row;
    r.try_get::<Option<Decimal>, _>(i)
        .map_err(|e| db_error("decimal read", e))
}

#[cfg(feature = "postgres")]
fn pg_time_out(r: &sqlx::postgres::PgRow, i: usize) -> Result<Option<DateTime<Utc>>, JournalError> {
    use sqlx::Row;
    r.try_get::<Option<DateTime<Utc>>, _>(i)
        .map_err(|e| db_error("time read", e))
}

/// A PostgreSQL URL's options, once its query holds only keys sqlx reads: sqlx logs any
/// other key with its value at `warn` ("ignoring unrecognized connect parameter",
/// `sqlx-postgres`'s `options/parse.rs`), and a value can be a password (libpq's
/// `sslpassword`, a capitalised `Password`, a typo).
///
/// # Errors
/// [`JournalError`] naming the first such key (never its value), or sqlx's own refusal.
#[cfg(feature = "postgres")]
fn pg_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, JournalError> {
    use std::str::FromStr;
    // The keys `PgConnectOptions::from_str` reads (sqlx-postgres 0.9, `options/parse.rs`).
    const READ: [&str; 18] = [
        "sslmode",
        "ssl-mode",
        "sslrootcert",
        "ssl-root-cert",
        "ssl-ca",
        "sslcert",
        "ssl-cert",
        "sslkey",
        "ssl-key",
        "statement-cache-capacity",
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "application_name",
        "options",
    ];
    // The fragment first (`…/db#x?y` has none), as a URL parser reads it.
    let whole = url.split_once('#').map_or(url, |(u, _)| u);
    let query = whole.split_once('?').map_or("", |(_, q)| q);
    // Decoded as the URL parser sqlx uses decodes a query (`application/x-www-form-urlencoded`).
    for (key, _) in form_urlencoded::parse(query.as_bytes()) {
        let read = READ.contains(&&*key) || (key.starts_with("options[") && key.ends_with(']'));
        if !read {
            // Named only when it is a plain word: a key holding `@`, `:` or `/` is what an
            // unescaped `?` in the password leaves (`postgres://u:ab?cd@host/db`), and quoting
            // it would show the password's end.
            let plain = key.len() <= 40
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '[' | ']'));
            let named = if plain {
                format!("parameter {key:?}")
            } else {
                "URL has a parameter that is not a plain name (a `?` in the password must be \
                 written %3F), or it"
                    .to_owned()
            };
            return Err(JournalError {
                reason: format!(
                    "connect: the journal {named} is not one PostgreSQL's client reads here ({}, \
                     options[…]): drop it or fix its name",
                    READ.join(", ")
                ),
            });
        }
    }
    let options =
        sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| db_error("connect", e))?;
    // sqlx's default `sslmode` (as libpq's) is `prefer`: TLS when the server offers it, else
    // in clear, silently; Aurora PostgreSQL accepts both unless `rds.force_ssl` is set. To a
    // host off this machine, the journal's rows would cross the network in clear without a
    // word, and the password too to anyone in the path who asks for it in clear (sqlx sends
    // it so when a server asks): the URL must say which (`PGSSLMODE` counts, as sqlx reads
    // it).
    use sqlx::postgres::PgSslMode;
    let host = options.get_host();
    let loopback = options.get_socket().is_some()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback && matches!(options.get_ssl_mode(), PgSslMode::Prefer | PgSslMode::Allow) {
        return Err(JournalError {
            reason: format!(
                "connect: the journal's PostgreSQL URL reaches {} without sslmode=require (or \
                 verify-ca, verify-full): with sqlx's default, prefer, the journal's rows, and \
                 the password to anyone in the path who asks for it in clear, go in clear to a \
                 server that does not insist on TLS; add ?sslmode=require (verify-full with \
                 sslrootcert to check the server too), or sslmode=disable to send them in \
                 clear on a network you trust",
                shared::terminal::printable(host)
            ),
        });
    }
    Ok(options)
}

#[cfg(feature = "sqlite")]
fn sqlite_dec_in(d: Option<Decimal>) -> Option<String> {
    d.map(|d| d.to_string())
}

#[cfg(feature = "sqlite")]
fn sqlite_dec_out(r: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Option<Decimal>, JournalError> {
    use sqlx::Row;
    let text: Option<String> = r.try_get(i).map_err(|e| db_error("decimal read", e))?;
    text.map(|t| {
        Decimal::from_str(&t).map_err(|_| JournalError {
            reason: format!("decimal {t:?} unreadable"),
        })
    })
    .transpose()
}

/// Rows read per query by [`SqliteJournal::pages`] once one JSON array of all the rows of a
/// table passes SQLite's string limit (`SQLITE_MAX_LENGTH`, 10^9 bytes by default: about
/// 800,000 signals), where the report failed with "string or blob too big".
#[cfg(all(feature = "sqlite", not(test)))]
const JSON_PAGE_ROWS: i64 = 20_000;
#[cfg(all(feature = "sqlite", test))]
const JSON_PAGE_ROWS: i64 = 3;

/// A page of rows (at most [`JSON_PAGE_ROWS`], `LIMIT ?1 OFFSET ?2`) as one JSON array
/// with its row count, in the records' own serde shape: SQLite keeps times as
/// RFC 3339 text and decimals as text, which is how the records deserialize them. The
/// argument is the SQL of the `normalized` field.
#[cfg(feature = "sqlite")]
macro_rules! sqlite_signals_json {
    ($normalized:literal) => {
        concat!(
            "SELECT json_group_array(json_object(
    'signal_id', signal_id, 'raw', raw, 'normalized', ",
            $normalized,
            ", 'symbol', symbol,
    'exchange', exchange, 'action', action, 'broker', broker, 'instrument', instrument,
    'contract_resolution', contract_resolution, 'status', status, 'reason', reason,
    'stages', json_object('received', received_at, 'enqueued', enqueued_at, 'routed', routed_at,
      'executor_start', executor_start_at, 'broker_sent', broker_sent_at,
      'broker_acked', broker_acked_at))), count(*)
  FROM (SELECT * FROM signals ORDER BY received_at NULLS LAST, signal_id LIMIT ?1 OFFSET ?2)"
        )
    };
}

/// Every signal, whole.
#[cfg(feature = "sqlite")]
const SQLITE_ALL_SIGNALS_JSON: &str = sqlite_signals_json!("json(normalized)");

/// Every signal without its `normalized` intent (`null`).
#[cfg(feature = "sqlite")]
const SQLITE_REPORT_SIGNALS_JSON: &str = sqlite_signals_json!("NULL");

/// Every order row as one JSON array, as [`SQLITE_ALL_SIGNALS_JSON`].
#[cfg(feature = "sqlite")]
const SQLITE_ALL_ORDERS_JSON: &str = "SELECT json_group_array(json_object(
    'signal_id', signal_id, 'broker', broker, 'account', account, 'instrument', instrument,
    'leg', leg, 'attempt', attempt, 'client_order_id', client_order_id,
    'broker_order_id', broker_order_id, 'side', side, 'quantity', quantity,
    'fill_price', fill_price, 'outcome', outcome, 'error', error, 'sent_at', sent_at,
    'acked_at', acked_at, 'fee', fee)), count(*)
  FROM (SELECT * FROM orders ORDER BY signal_id, leg, attempt, broker, account LIMIT ?1 OFFSET ?2)";

#[cfg(test)]
tokio::task_local! {
    /// Test hook: a report's read that finds it set, between its signals query and its orders
    /// query, says so on the first sender and waits for the second, so a test can write in
    /// between.
    static BETWEEN_REPORT_READS: std::cell::RefCell<
        Option<(tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>)>,
    >;
}

/// A read transaction whose queries all see one snapshot of the journal.
trait Snapshot {
    /// Makes this transaction's queries share one snapshot; before its first query.
    async fn snapshot(&mut self) -> Result<(), JournalError>;
}

/// PostgreSQL's default, `READ COMMITTED`, gives each statement a snapshot of its own:
/// `REPEATABLE READ` one for the transaction
/// (<https://www.postgresql.org/docs/current/transaction-iso.html>).
#[cfg(feature = "postgres")]
impl Snapshot for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn snapshot(&mut self) -> Result<(), JournalError> {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut **self)
            .await
            .map(|_| ())
            .map_err(|e| db_error("read transaction", e))
    }
}

/// SQLite in WAL mode gives a read transaction the database as it was at its first read
/// (<https://www.sqlite.org/isolation.html>): nothing to set.
#[cfg(feature = "sqlite")]
impl Snapshot for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn snapshot(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
}

/// Where a test can write between a report's two queries, or the trades view's (see
/// `BETWEEN_REPORT_READS`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn between_report_reads() {
    #[cfg(test)]
    {
        let pair = BETWEEN_REPORT_READS
            .try_with(|p| p.borrow_mut().take())
            .ok()
            .flatten();
        if let Some((reached, resume)) = pair {
            let _ = reached.send(());
            let _ = resume.await;
        }
    }
}

/// Rows read, and each row that could not be read, named ("signal 3f2a…: outcome \"x\"
/// unreadable"): a report on a journal that a newer executor wrote (a status this build does
/// not know) reads every other row instead of failing whole.
pub type Lenient<T> = (Vec<T>, Vec<String>);

/// Each of `rows` through `read`, the rows it cannot read named by their signal id (the first
/// column of the journal's row queries).
#[cfg(feature = "postgres")]
fn lenient<R: sqlx::Row, T>(
    rows: &[R],
    read: impl Fn(&R) -> Result<T, JournalError>,
    what: &str,
) -> Lenient<T>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut out = (Vec::new(), Vec::new());
    for r in rows {
        match read(r) {
            Ok(t) => out.0.push(t),
            Err(e) => {
                let id = r.try_get::<String, _>(0).unwrap_or_else(|_| "?".into());
                out.1.push(format!("{what} {id}: {}", e.reason));
            }
        }
    }
    out
}

#[cfg(feature = "sqlite")]
impl SqliteJournal {
    /// Every signal row (without its `normalized` intent, as a report reads it) and every
    /// order row, each row that does not parse left out and named, from one snapshot: both
    /// tables read in one read transaction (SQLite's WAL mode gives a reader the database as it
    /// was at its transaction's first read, <https://www.sqlite.org/isolation.html>), so a
    /// signal written while the report reads is in both lists with its legs, or in neither.
    /// The signals are parsed while the orders are read.
    ///
    /// # Errors
    /// [`JournalError`] when the tables cannot be read at all.
    pub async fn report_rows(
        &self,
    ) -> Result<(Lenient<SignalRecord>, Lenient<OrderRecord>), JournalError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("report read", e))?;
        let signals = Self::pages_in(&mut tx, SQLITE_REPORT_SIGNALS_JSON, "row").await?;
        let signals = tokio::spawn(Self::parse_lenient(signals, "row"));
        between_report_reads().await;
        let orders = Self::pages_in(&mut tx, SQLITE_ALL_ORDERS_JSON, "order").await?;
        // Read only: nothing to commit.
        tx.rollback()
            .await
            .map_err(|e| db_error("report read", e))?;
        let orders = Self::parse_lenient(orders, "order").await?;
        let signals = signals.await.map_err(|e| JournalError {
            reason: format!("journal read task: {e}"),
        })??;
        Ok((signals, orders))
    }

    /// `pages` (JSON arrays of rows) parsed on a blocking thread, each row that does not parse
    /// into a `T` left out and named by its signal id.
    async fn parse_lenient<T: serde::de::DeserializeOwned + Send + 'static>(
        pages: Vec<String>,
        what: &'static str,
    ) -> Result<Lenient<T>, JournalError> {
        tokio::task::spawn_blocking(move || {
            let mut rows: Vec<Box<serde_json::value::RawValue>> = Vec::new();
            for text in pages {
                let page: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(&text)
                    .map_err(|e| JournalError {
                        reason: format!("{what} read: {e}"),
                    })?;
                rows.extend(page);
            }
            #[derive(serde::Deserialize)]
            struct Id {
                signal_id: Option<String>,
            }
            let mut out = (Vec::with_capacity(rows.len()), Vec::new());
            for row in rows {
                match serde_json::from_str::<T>(row.get()) {
                    Ok(t) => out.0.push(t),
                    Err(e) => {
                        let id = serde_json::from_str::<Id>(row.get())
                            .ok()
                            .and_then(|i| i.signal_id)
                            .unwrap_or_else(|| "?".into());
                        out.1.push(format!("{what} of signal {id}: {e}"));
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| JournalError {
            reason: format!("journal read task: {e}"),
        })?
    }

    /// Every row of `sql` (a JSON array and its row count, `LIMIT ?1 OFFSET ?2`) in order,
    /// read in one transaction, so that rows written meanwhile neither shift a page nor
    /// appear in one: the whole table in one query, and only when that passes SQLite's
    /// string limit ("string or blob too big", `SQLITE_TOOBIG`) page by page (each page sorts
    /// the rows before it again, so paging is kept for the tables that need it; unit tests
    /// page always).
    async fn pages(&self, sql: &'static str, what: &str) -> Result<Vec<String>, JournalError> {
        let mut tx = self.pool.begin().await.map_err(|e| db_error(what, e))?;
        let pages = Self::pages_in(&mut tx, sql, what).await?;
        // Read only: nothing to commit.
        tx.rollback().await.map_err(|e| db_error(what, e))?;
        Ok(pages)
    }

    /// [`Self::pages`] within the read transaction `tx`, which the caller ends.
    async fn pages_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        sql: &'static str,
        what: &str,
    ) -> Result<Vec<String>, JournalError> {
        let mut pages = Vec::new();
        if !cfg!(test) {
            // `LIMIT -1`: no limit.
            match sqlx::query_as::<_, (String, i64)>(sql)
                .bind(-1_i64)
                .bind(0_i64)
                .fetch_one(&mut **tx)
                .await
            {
                Ok((text, _)) => {
                    pages.push(text);
                    return Ok(pages);
                }
                // SQLITE_TOOBIG (18): <https://www.sqlite.org/rescode.html#toobig>.
                Err(e)
                    if e.as_database_error()
                        .and_then(|d| d.code())
                        .is_some_and(|c| c == "18") => {}
                Err(e) => return Err(db_error(what, e)),
            }
        }
        let mut offset = 0;
        loop {
            let (text, rows): (String, i64) = sqlx::query_as(sql)
                .bind(JSON_PAGE_ROWS)
                .bind(offset)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| db_error(what, e))?;
            pages.push(text);
            if rows < JSON_PAGE_ROWS {
                break;
            }
            offset += JSON_PAGE_ROWS;
        }
        Ok(pages)
    }

    async fn all_as_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        what: &str,
    ) -> Result<Vec<T>, JournalError> {
        let pages = self.pages(sql, what).await?;
        // Parsed on a blocking thread: the connection is free for the next query meanwhile
        // (a report reads the orders while the signals parse).
        let what = what.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            for text in pages {
                let page: Vec<T> = serde_json::from_str(&text).map_err(|e| JournalError {
                    reason: format!("{what} read: {e}"),
                })?;
                all.extend(page);
            }
            Ok(all)
        })
        .await
        .map_err(|e| JournalError {
            reason: format!("journal read task: {e}"),
        })?
    }
}

/// A time as the SQLite journal stores it: RFC 3339 with nine fraction digits (one width, so
/// the text sorts as the time does), cut to the microsecond as PostgreSQL's `timestamptz`
/// keeps it, so the two journals give the same stage latencies for the same rows.
#[cfg(feature = "sqlite")]
fn sqlite_time_in(t: Option<DateTime<Utc>>) -> Option<String> {
    use chrono::SubsecRound;
    t.map(|t| {
        t.trunc_subsecs(6)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    })
}

#[cfg(feature = "sqlite")]
fn sqlite_time_out(
    r: &sqlx::sqlite::SqliteRow,
    i: usize,
) -> Result<Option<DateTime<Utc>>, JournalError> {
    use sqlx::Row;
    let text: Option<String> = r.try_get(i).map_err(|e| db_error("time read", e))?;
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| JournalError {
                reason: format!("time {t:?} unreadable"),
            })
    })
    .transpose()
}

#[cfg(feature = "postgres")]
journal_impl!(
    PgJournal,
    sqlx::Postgres,
    sqlx::PgPool,
    pg_sql,
    |d: Option<Decimal>| d,
    pg_dec_out,
    |t: Option<DateTime<Utc>>| t,
    pg_time_out
);
#[cfg(feature = "sqlite")]
journal_impl!(
    SqliteJournal,
    sqlx::Sqlite,
    sqlx::SqlitePool,
    sqlite_sql,
    sqlite_dec_in,
    sqlite_dec_out,
    sqlite_time_in,
    sqlite_time_out
);

#[cfg(feature = "postgres")]
impl PgJournal {
    /// Every signal row and every order row, each row that cannot be read left out and named
    /// (see [`AnyJournal::report_rows`]), from one snapshot: both queries run in one
    /// read-only `REPEATABLE READ` transaction (PostgreSQL's default, `READ COMMITTED`, gives
    /// each statement a snapshot of its own), so a signal written while the report reads is in
    /// both lists with its legs, or in neither.
    ///
    /// # Errors
    /// [`JournalError`] when the tables cannot be read at all.
    pub async fn report_rows(
        &self,
    ) -> Result<(Lenient<SignalRecord>, Lenient<OrderRecord>), JournalError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("report read", e))?;
        tx.snapshot().await?;
        let signals = sqlx::query(sqlx::AssertSqlSafe(pg_sql(ALL_SIGNALS)))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error("signals read", e))?;
        between_report_reads().await;
        let orders = sqlx::query(sqlx::AssertSqlSafe(pg_sql(ALL_ORDERS)))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error("orders read", e))?;
        // Read only: nothing to commit.
        tx.rollback()
            .await
            .map_err(|e| db_error("report read", e))?;
        Ok((
            lenient(&signals, Self::signal_of, "signal"),
            lenient(&orders, Self::order_of, "order of signal"),
        ))
    }

    /// A pool that connects on first use, bringing the schema up to date on each new
    /// connection. Nothing reaches the database here: an executor's cold start must not wait
    /// for a paused Aurora (about 15 s to resume), whose first write, made after the broker
    /// call, may wait instead.
    pub async fn connect(url: &str) -> Result<Self, JournalError> {
        Self::connect_with_idle_timeout(url, IDLE_SESSION_TIMEOUT).await
    }

    /// [`Self::connect`] with each session closed by the server after `idle` without a
    /// statement (PostgreSQL 14+ `idle_session_timeout`, set per session at connect, so no
    /// server setting is needed). Aurora Serverless v2 pauses only while no session is open,
    /// and a Lambda container frozen between invocations would otherwise hold its pooled
    /// connections open for as long as it lives. The pool checks a connection before handing
    /// it out and opens a new one in place of a closed one. The pool itself lets connections
    /// go a little earlier, so a thawed container rarely meets a closed one.
    ///
    /// Sessions carry `application_name` = `tv-pipeline-journal`, so an operator can tell them
    /// apart in `pg_stat_activity`.
    ///
    /// # Errors
    /// [`JournalError`] when `url` is not a PostgreSQL URL.
    pub async fn connect_with_idle_timeout(
        url: &str,
        idle: std::time::Duration,
    ) -> Result<Self, JournalError> {
        let options = Self::session_options(url, idle)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .idle_timeout(idle.mul_f32(0.8))
            // Long enough for Aurora Serverless v2 to resume from zero capacity; well inside
            // the executor's 60 s timeout.
            .acquire_timeout(std::time::Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Cheap once applied: one read of the migrations table under its lock.
                    // A database holding a migration this build lacks is written as it is:
                    // a newer build migrated it, and this one still runs (its invocations
                    // in flight during a deploy, or the whole stack after a rollback, which
                    // CloudFormation makes by itself when a later resource fails). sqlx
                    // refuses such a database by default (`VersionMissing`), and every
                    // session then failed: no signal journaled, none traded, until a deploy.
                    // An older build's statements fit a schema a later migration only added
                    // to (a column with a default, an index: 0003, 0004); one that changed
                    // what they rely on (0002's key of the order rows) fails them by itself,
                    // as before. New migrations should only add (the crate's README).
                    let mut migrator = sqlx::migrate!("migrations/postgres");
                    migrator.set_ignore_missing(true);
                    migrator
                        .run_direct(None, conn, false)
                        .await
                        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
                })
            })
            .connect_lazy_with(options);
        Ok(Self::from_pool(pool))
    }

    /// The connect options of every journal session: `url`, the application name, and the
    /// server-side idle timeout of [`Self::connect_with_idle_timeout`].
    ///
    /// # Errors
    /// [`JournalError`] when `url` is not a PostgreSQL URL.
    pub fn session_options(
        url: &str,
        idle: std::time::Duration,
    ) -> Result<sqlx::postgres::PgConnectOptions, JournalError> {
        Ok(pg_options(url)?
            .application_name(APPLICATION_NAME)
            .options([("idle_session_timeout", format!("{}ms", idle.as_millis()))]))
    }

    /// Opens one session with the pool's settings, outside the pool, and closes it: a
    /// database that refuses connections fails at once, where the pool would try again
    /// until its acquire timeout (30 s). For a start that must not go on without its journal.
    ///
    /// # Errors
    /// [`JournalError`] with the failure's kind (`I/O error: connection refused`, the
    /// server's message), never the URL.
    pub async fn check(&self) -> Result<(), JournalError> {
        use sqlx::Connection as _;
        let conn = sqlx::PgConnection::connect_with(&self.pool.connect_options())
            .await
            .map_err(|e| db_error("connect", e))?;
        let _ = conn.close().await;
        Ok(())
    }

    /// Brings the PostgreSQL schema up to date (`migrations/postgres`); applied migrations
    /// are skipped.
    ///
    /// # Errors
    /// [`JournalError`] naming the migration that failed.
    pub async fn migrate(&self) -> Result<(), JournalError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| JournalError {
                reason: format!("migration: {e}"),
            })
    }

    /// Opens the journal at `url` to write into the schema its deployment keeps, never
    /// migrating it: for an operator's tool, whose build may be newer than the deployment's.
    /// [`Self::connect`] would bring the database up to this build's migrations under the
    /// deployed executors: a schema change made by an operator's tool, not by a deploy.
    /// Connects at once ([`Self::check`]: refused at once when nothing listens;
    /// the pool then waits up to 30 s, for Aurora Serverless v2 resuming from zero capacity,
    /// as [`Self::connect`]'s), and checks the schema
    /// ([`Self::schema_is_this_builds`]).
    ///
    /// `Ok` with a note when the database lacks this build's latest migrations (it has the
    /// others, in order):
    /// either this build is newer than the deployment, or the deployment is this build and
    /// its executors have not opened a journal session since (they migrate at their next);
    /// it is used as it is, unmigrated, and a read of a column it lacks fails by itself. The
    /// same when it holds this build's migrations and later ones (a newer build's, after a
    /// rollback say), as this build's executors write it.
    ///
    /// # Errors
    /// [`JournalError`] when `url` is not a PostgreSQL URL, the database cannot be reached
    /// (the failure's kind, never the URL), has no migration applied, or its migrations are
    /// not this build's in order (neither behind nor ahead of them).
    pub async fn open_unmigrated(url: &str) -> Result<(Self, Option<String>), JournalError> {
        let options = Self::session_options(url, IDLE_SESSION_TIMEOUT)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_lazy_with(options);
        let journal = Self::from_pool(pool);
        // A session outside the pool first: a database that refuses connections fails at
        // once, where the pool would try again until its acquire timeout.
        journal.check().await?;
        let behind = journal.schema_is_this_builds().await?;
        Ok((journal, behind))
    }

    /// Whether the migrations applied to the database (sqlx's `_sqlx_migrations` table, the
    /// successful ones) are this build's `migrations/postgres`: `Ok(None)` when all of them,
    /// `Ok(Some(note))` when all but this build's latest ones (the database behind it), or
    /// all of them and later ones (ahead of it: a newer build's), the note naming both
    /// latest migrations.
    ///
    /// # Errors
    /// [`JournalError`] naming the latest migration of each when the database's migrations
    /// differ from this build's otherwise (one this build does not have among its own), or
    /// there are none at all (the table missing), or the read's failure.
    pub async fn schema_is_this_builds(&self) -> Result<Option<String>, JournalError> {
        let own: Vec<i64> = sqlx::migrate!("migrations/postgres")
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        let applied: Vec<i64> = match sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        {
            Ok(applied) => applied,
            // undefined_table: no migration ever applied.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(db_error("read the schema's migrations", e)),
        };
        let latest = |v: &[i64]| v.last().map_or_else(|| "none".to_owned(), i64::to_string);
        if applied == own {
            return Ok(None);
        }
        // Ahead: a newer build migrated it (a deploy in flight, or one rolled back). Written
        // as it is, as this build's executors write it (`connect_with_idle_timeout`):
        // refused, the deployment's own tool could not replay after a rollback.
        if applied.len() > own.len() && applied.starts_with(&own) {
            return Ok(Some(format!(
                "the journal's schema is at migration {}, ahead of this build's {}: a newer \
                 build migrated it; used as it is, as this build's executors use it",
                latest(&applied),
                latest(&own)
            )));
        }
        if !applied.is_empty() && own.starts_with(&applied) {
            return Ok(Some(format!(
                "the journal's schema is at migration {} where this build's is at {}, not \
                 migrated from here: the deployment's executors bring it up at their next \
                 journal session if the deployment runs this build; if it runs an older one, \
                 use that build's tool",
                latest(&applied),
                latest(&own)
            )));
        }
        Err(JournalError {
            reason: format!(
                "the journal's schema is at migration {} where this build's is at {}: it is \
                 not migrated from here (a build newer than the deployment's would change its \
                 database under its executors, an older one write to tables it does not \
                 know); use the build the deployment runs",
                latest(&applied),
                latest(&own)
            ),
        })
    }
}

/// How often the SQLite journal's log is checkpointed.
#[cfg(feature = "sqlite")]
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Frames in the SQLite journal's write-ahead log (16 MiB of 4 KiB pages) past which the
/// drain has the log start over.
///
/// SQLite rewinds the log only when a write begins with every frame already copied into the
/// database (<https://www.sqlite.org/wal.html#avoiding_excessively_large_wal_files>). The
/// checkpoint task, beside a drain that writes every few milliseconds, never finds that
/// moment, and the log grew without end (about 400 MB a minute at 200 signals/s). So once
/// the task finds the log this long, the drain, after its next batch, checkpoints what was
/// written since (the task copied the rest) and its next write rewinds the log.
#[cfg(feature = "sqlite")]
pub const RESTART_FRAMES: i64 = 4096;

/// The size the SQLite journal's log file is cut back to when it starts over (64 MiB)
/// (<https://www.sqlite.org/pragma.html#pragma_journal_size_limit>).
#[cfg(feature = "sqlite")]
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// A PASSIVE checkpoint: (1 if it could not run to the end, frames in the log, frames copied
/// into the database) (<https://www.sqlite.org/pragma.html#pragma_wal_checkpoint>).
#[cfg(feature = "sqlite")]
async fn wal_checkpoint(conn: &mut sqlx::SqliteConnection) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await
}

/// Checkpoints the write-ahead log (PASSIVE: it copies what no reader needs and waits for
/// nobody) every [`CHECKPOINT_EVERY`] on `conn`, beside the writer, until the journal is
/// dropped (`open` is its group commit, shared by every clone).
#[cfg(feature = "sqlite")]
async fn checkpoint_while_open(
    mut conn: sqlx::SqliteConnection,
    open: std::sync::Weak<GroupCommit>,
) {
    use sqlx::Connection as _;
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if open.strong_count() == 0 {
            break;
        }
        match wal_checkpoint(&mut conn).await {
            Ok((_, log, _)) if log >= RESTART_FRAMES => {
                if let Some(group) = open.upgrade() {
                    group
                        .restart_due
                        .store(true, std::sync::atomic::Ordering::Release);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "journal: checkpoint failed"),
        }
    }
    let _ = conn.close().await;
}

#[cfg(feature = "sqlite")]
impl SqliteJournal {
    /// Opens (creating if needed) and brings the schema up to date. `url` is a `sqlite:`
    /// URL or a file path. Its commits outlive the process, not a power cut
    /// ([`Durability::ProcessCrash`](shared::ports::Durability::ProcessCrash)).
    pub async fn connect(url: &str) -> Result<Self, JournalError> {
        Self::connect_with(url, shared::ports::Durability::ProcessCrash).await
    }

    /// [`connect`](Self::connect), its commits kept as far as `durability` says
    /// (`synchronous=FULL` for [`PowerLoss`](shared::ports::Durability::PowerLoss): the log
    /// synced at each commit, <https://www.sqlite.org/pragma.html#pragma_synchronous>).
    pub async fn connect_with(
        url: &str,
        durability: shared::ports::Durability,
    ) -> Result<Self, JournalError> {
        let synchronous = match durability {
            shared::ports::Durability::ProcessCrash => sqlx::sqlite::SqliteSynchronous::Normal,
            shared::ports::Durability::PowerLoss => sqlx::sqlite::SqliteSynchronous::Full,
        };
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .map_err(|e| db_error("open", e))?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            // SQLite is the local journal (`tvctl dev`): in WAL mode NORMAL survives a process
            // crash, losing at most the last commits on a power cut, and spares an fsync per
            // commit, which capped the local stack at about a hundred signals a second; FULL
            // where real brokers trade (their fills then outlive a power cut as their claims do).
            .synchronous(synchronous)
            // Room for every shape of the grouped execution batch (up to GROUP_MAX signals,
            // their legs) beside the other statements.
            .statement_cache_capacity(256)
            // No checkpoint inside a commit (SQLite's default, every 1,000 pages, with an
            // fsync, while the executors' writes wait): a task checkpoints from a connection
            // of its own (<https://www.sqlite.org/wal.html#automatic_checkpoint>).
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
            .busy_timeout(std::time::Duration::from_secs(5));
        // One connection. In-memory databases live per connection; and a file has one writer
        // at a time anyway: with more connections the others wait in SQLite's busy handler,
        // which sleeps in steps of milliseconds, where the pool's queue hands over at once
        // (the local stack's load run: about 1,800 signals/s with four, 2,500 with one).
        // A file's executions are written by the writer thread's connection beside it
        // (`sqlite_writer`); what still writes through the pool (`upsert_signal`,
        // `upsert_order`, `record_replay`) is off the executors' path, and waits in the busy
        // handler if it meets the writer.
        let max = 1;
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(max)
            // A file on this machine does not go stale the way a network session can: no
            // ping to the connection's thread before every use.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|e| db_error("open", e))?;
        let journal = Self::from_pool(pool);
        journal.migrate().await?;
        if let Location::File(_) = Location::of(&url) {
            // The schema into the file itself at once (the checkpoint task copies only once
            // the log has grown): a reader of the file alone (`immutable=1`, as the local
            // stack reads a file's tables to tell a journal from its state file) sees it.
            if let Ok(mut conn) = journal.pool.acquire().await
                && let Err(e) = wal_checkpoint(&mut conn).await
            {
                tracing::debug!(error = %e, "journal: first checkpoint");
            }
            let checkpoints = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
                .await
                .map_err(|e| db_error("open", e))?;
            tokio::spawn(checkpoint_while_open(
                checkpoints,
                std::sync::Arc::downgrade(&journal.group),
            ));
            // The writer opens the file sqlx opened (`get_filename`: the path, its `%XX`
            // escapes decoded, without the `?` parameters), so only where the parameters
            // change nothing the writer would need to follow: a `vfs`, `immutable` or
            // `mode=ro` on one connection and not the other would lock differently or
            // write where the reads do not look. Those keep the drain on the pool.
            if sqlite_writer::takes_parameters(&url) {
                let (writer, synchronous) = sqlite_writer::start(
                    options.get_filename(),
                    WAL_SIZE_LIMIT,
                    durability,
                    &journal.group,
                )?;
                let _ = journal.group.writer.set(writer);
                let _ = journal.group.writer_synchronous.set(synchronous);
            }
        }
        Ok(journal)
    }

    /// The `synchronous` level of the writer thread's connection, which writes a file's
    /// executions, as that connection reported it (1 NORMAL, 2 FULL); `None` where the
    /// drain writes through the pool (in memory, or a URL with other parameters).
    pub fn writer_synchronous(&self) -> Option<i64> {
        self.group.writer_synchronous.get().copied()
    }

    /// Brings the SQLite schema up to date (`migrations/sqlite`); applied migrations are
    /// skipped.
    ///
    /// # Errors
    /// [`JournalError`] naming the migration that failed.
    pub async fn migrate(&self) -> Result<(), JournalError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(|e| JournalError {
                reason: format!("migration: {e}"),
            })
    }
}

/// Where a journal URL leads, read as [`AnyJournal::connect`] reads it: PostgreSQL for a
/// `postgres://` or `postgresql://` URL, else SQLite through sqlx, which drops a `sqlite://`
/// or `sqlite:` prefix and the `?` parameters and decodes `%XX` escapes
/// (<https://docs.rs/sqlx/0.9.0/sqlx/sqlite/struct.SqliteConnectOptions.html>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A PostgreSQL database.
    Postgres,
    /// A SQLite database in memory: `:memory:`, `mode=memory`, or no path.
    Memory,
    /// A SQLite file, by its path.
    File(std::path::PathBuf),
    /// What SQLite would open, but not as the file the text names, or not a file anyone
    /// means: the reason, naming none of the text. [`AnyJournal::connect`] and
    /// [`AnyJournal::open_read_only`] refuse it.
    Unusable(&'static str),
}

impl Location {
    /// Reads `url` (see [`Location`]).
    pub fn of(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::Postgres;
        }
        // As sqlx trims them: every leading `sqlite://`, then every leading `sqlite:`.
        let rest = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let decode = |t: &str| {
            percent_encoding::percent_decode_str(t)
                .decode_utf8_lossy()
                .into_owned()
        };
        let lower = decode(rest).to_ascii_lowercase();
        // Something meant for a database server, not a file's name: a URL (`user:pw@host`,
        // `mysql://`, a mistyped `postgresql:/`) or libpq's `host=… password=…` settings.
        if lower.contains("://")
            || lower.contains("password")
            || (lower.contains('@') && path.contains(':'))
        {
            return Self::Unusable(
                "it looks like a database server's URL or settings, and only PostgreSQL \
                 (postgres://…) or a SQLite file path is read",
            );
        }
        if path.split_whitespace().filter(|t| t.contains('=')).count() > 1 {
            return Self::Unusable(
                "connection settings (key=value), not a URL: give postgres://… or a SQLite file path",
            );
        }
        let in_memory_param = |p: &str| {
            let p = decode(p);
            p == "mode=memory" || p == "vfs=memdb"
        };
        if path.is_empty() || decode(path) == ":memory:" || params.split('&').any(in_memory_param) {
            return Self::Memory;
        }
        let Ok(path) = percent_encoding::percent_decode_str(path).decode_utf8() else {
            return Self::Unusable(
                "a SQLite path that is not UTF-8 once its %XX escapes are decoded",
            );
        };
        // SQLite reads a name starting with `file:` as a URI (<https://www.sqlite.org/uri.html>).
        if path.starts_with("file:") {
            return Self::Unusable("a SQLite URI (file:…): give the file's path");
        }
        Self::File(std::path::PathBuf::from(path.as_ref()))
    }
}

/// The journal as a message names it: a SQLite file's path, else what kind of journal it is.
/// Never a database URL itself, which can carry a user and password (anywhere: an unescaped
/// `/` or `?` in a password defeats any parse).
pub fn shown(url: &str) -> String {
    match Location::of(url) {
        Location::File(path) => path.display().to_string(),
        Location::Memory => "SQLite in memory".into(),
        Location::Postgres => "a PostgreSQL URL (not shown)".into(),
        Location::Unusable(_) => "an unusable journal setting (not shown)".into(),
    }
}

/// The `?` parameters of a SQLite journal URL as sqlx reads them: split by
/// `form_urlencoded`, keys and values decoded
/// (<https://docs.rs/sqlx/0.9.0/sqlx/sqlite/struct.SqliteConnectOptions.html>); none for a
/// URL without `?`.
fn sqlite_parameters(url: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(url.split_once('?').map_or("", |(_, p)| p).as_bytes())
}

/// The `?` parameters of a SQLite journal's URL judged for a journal that is written (the
/// local stack's, before it makes any file), as sqlx reads them ([`sqlite_parameters`]).
/// Refused, each by its key (never its value):
/// - a key the driver does not read (a plain path with a `?` in it reads as parameters);
/// - `mode=ro` and `immutable=1`/`true` (nothing could be journaled);
/// - a `vfs` SQLite does not build on Unix (`memdb` is the in-memory one;
///   <https://www.sqlite.org/vfs.html>);
/// - `mode=rw` with no file at `path` (it means "an existing journal only", which the
///   stack's file lock would otherwise make).
///
/// A PostgreSQL or unusable setting is not judged here ([`Location::of`]).
///
/// # Errors
/// The reason, naming the parameter's key.
pub fn writable_parameters(url: &str) -> Result<(), String> {
    let path = match Location::of(url) {
        Location::File(path) => Some(path),
        Location::Memory => None,
        Location::Postgres | Location::Unusable(_) => return Ok(()),
    };
    for (key, value) in sqlite_parameters(url) {
        // Named as a debug string cut short: a key is the user's text, and may hold anything.
        let named = format!("{:?}", key.chars().take(40).collect::<String>());
        match (&*key, &*value) {
            ("mode", "rwc" | "memory")
            | ("cache", "shared" | "private")
            | ("immutable", "0" | "false")
            | (
                "vfs",
                "unix" | "unix-dotfile" | "unix-excl" | "unix-none" | "unix-namedsem" | "memdb",
            ) => {}
            ("mode", "rw") => {
                if let Some(path) = path.as_ref().filter(|p| !p.exists()) {
                    return Err(format!(
                        "no journal at {} (`mode=rw` opens an existing journal only): give \
                         the right path, or drop `mode=rw` to start a new journal there",
                        path.display()
                    ));
                }
            }
            ("mode", "ro") | ("immutable", "1" | "true") => {
                return Err(format!(
                    "the journal setting's {named} would open it read-only, and the local \
                     stack journals every signal: drop it (`tvctl report` and `tvctl trades` \
                     read a journal without writing)"
                ));
            }
            ("mode" | "cache" | "immutable" | "vfs", _) => {
                return Err(format!(
                    "the journal setting's {named} has a value SQLite does not read here \
                     (mode: rw, rwc or memory; cache: shared or private; immutable: 0; vfs: \
                     unix, unix-dotfile, unix-excl, unix-none, unix-namedsem or memdb)"
                ));
            }
            _ => {
                return Err(format!(
                    "the journal setting has a parameter {named} that SQLite does not read \
                     (a `?` in a file's path starts parameters: write it as %3F)"
                ));
            }
        }
    }
    Ok(())
}

fn usable(url: &str) -> Result<(), JournalError> {
    match Location::of(url) {
        Location::Unusable(why) => Err(JournalError {
            reason: format!("journal: {why}"),
        }),
        _ => Ok(()),
    }
}

/// Either journal, chosen by URL scheme (`postgres://…` or `sqlite:…`/a path). A variant exists
/// only when its feature is enabled.
#[derive(Debug, Clone)]
pub enum AnyJournal {
    /// A `postgres://` or `postgresql://` URL.
    #[cfg(feature = "postgres")]
    Postgres(PgJournal),
    /// A `sqlite:` URL or a file path.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteJournal),
}

/// Runs `$call` on whichever journal `$self` holds.
macro_rules! each {
    ($self:ident, $j:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "postgres")]
            Self::Postgres($j) => $call,
            #[cfg(feature = "sqlite")]
            Self::Sqlite($j) => $call,
        }
    };
}

/// The refusal of a URL whose database this build left out. It names the scheme only: the URL
/// itself can carry a password.
#[cfg(not(all(feature = "postgres", feature = "sqlite")))]
fn not_built(database: &str, feature: &str) -> JournalError {
    JournalError {
        reason: format!("this build has no {database} journal (journal feature `{feature}`)"),
    }
}

impl AnyJournal {
    /// Opens an existing journal to read it and never to write: no migration, no file
    /// created, SQLite opened read-only, PostgreSQL sessions read-only
    /// (`default_transaction_read_only`). What a report uses, so it works with a read-only
    /// role or file and cannot change the database it is pointed at. Connects at once and
    /// gives up after 10 s.
    ///
    /// # Errors
    /// [`JournalError`] when the setting is [`Location::Unusable`] or the database cannot be
    /// opened (never naming the URL).
    pub async fn open_read_only(url: &str) -> Result<Self, JournalError> {
        usable(url)?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::read_only_postgres(url).await
        } else {
            Self::read_only_sqlite(url).await
        }
    }

    #[cfg(feature = "postgres")]
    async fn read_only_postgres(url: &str) -> Result<Self, JournalError> {
        let options = pg_options(url)?
            .application_name(APPLICATION_NAME)
            .options([("default_transaction_read_only", "on")]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| db_error("connect", e))?;
        Ok(Self::Postgres(PgJournal::from_pool(pool)))
    }

    #[cfg(not(feature = "postgres"))]
    async fn read_only_postgres(_url: &str) -> Result<Self, JournalError> {
        Err(not_built("PostgreSQL", "postgres"))
    }

    #[cfg(feature = "sqlite")]
    async fn read_only_sqlite(url: &str) -> Result<Self, JournalError> {
        use std::str::FromStr;
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .map_err(|e| db_error("open", e))?
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| db_error("open", e))?;
        Ok(Self::Sqlite(SqliteJournal::from_pool(pool)))
    }

    #[cfg(not(feature = "sqlite"))]
    async fn read_only_sqlite(_url: &str) -> Result<Self, JournalError> {
        Err(not_built("SQLite", "sqlite"))
    }

    /// Opens the journal at `url` for writing: PostgreSQL (connected lazily, migrated on each
    /// new session) or SQLite (the file created if missing, migrated now).
    ///
    /// # Errors
    /// [`JournalError`] when the setting is [`Location::Unusable`], the URL is of a database
    /// this build left out, or SQLite cannot be opened or migrated (never naming the URL,
    /// which may hold a password).
    pub async fn connect(url: &str) -> Result<Self, JournalError> {
        Self::connect_with(url, shared::ports::Durability::ProcessCrash).await
    }

    /// [`connect`](Self::connect), a SQLite file's commits kept as far as `durability` says
    /// ([`SqliteJournal::connect_with`]); PostgreSQL's are its server's to keep.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        url: &str,
        durability: shared::ports::Durability,
    ) -> Result<Self, JournalError> {
        usable(url)?;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url).await
        } else {
            Self::connect_sqlite(url, durability).await
        }
    }

    #[cfg(feature = "postgres")]
    async fn connect_postgres(url: &str) -> Result<Self, JournalError> {
        PgJournal::connect(url).await.map(Self::Postgres)
    }

    #[cfg(not(feature = "postgres"))]
    async fn connect_postgres(_url: &str) -> Result<Self, JournalError> {
        Err(not_built("PostgreSQL", "postgres"))
    }

    #[cfg(feature = "sqlite")]
    async fn connect_sqlite(
        url: &str,
        durability: shared::ports::Durability,
    ) -> Result<Self, JournalError> {
        SqliteJournal::connect_with(url, durability)
            .await
            .map(Self::Sqlite)
    }

    #[cfg(not(feature = "sqlite"))]
    async fn connect_sqlite(
        _url: &str,
        _durability: shared::ports::Durability,
    ) -> Result<Self, JournalError> {
        Err(not_built("SQLite", "sqlite"))
    }

    /// The latest `limit` signals, newest first (`tvctl trades`).
    ///
    /// # Errors
    /// [`JournalError`] when the rows cannot be read.
    pub async fn recent_signals(&self, limit: i64) -> Result<Vec<SignalRecord>, JournalError> {
        each!(self, j => j.recent_signals(limit).await)
    }

    /// The latest `limit` signals, newest first, each with its order legs, in two queries
    /// (`tvctl trades`, the dashboard after a restart).
    ///
    /// # Errors
    /// [`JournalError`] when the rows cannot be read.
    pub async fn recent_executions(
        &self,
        limit: i64,
    ) -> Result<Vec<(SignalRecord, Vec<OrderRecord>)>, JournalError> {
        each!(self, j => j.recent_executions(limit).await)
    }

    /// Every signal row, oldest first, in one query. SQLite builds the whole answer as one
    /// JSON document in its own code: reading 100,000 rows one by one through sqlx's worker
    /// thread took seconds. (Past SQLite's string limit, about 800,000 signals, in pages of
    /// 20,000 rows within one read transaction.)
    pub async fn all_signals(&self) -> Result<Vec<SignalRecord>, JournalError> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(j) => j.all_signals().await,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(j) => j.all_as_json(SQLITE_ALL_SIGNALS_JSON, "signals").await,
        }
    }

    /// Every signal row as [`Self::all_signals`] does, but with SQLite without the
    /// `normalized` intent (left `null`): what a report reads, where parsing every intent
    /// was a quarter of the time of a 100,000-signal report. PostgreSQL rows come whole.
    pub async fn signals_for_report(&self) -> Result<Vec<SignalRecord>, JournalError> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(j) => j.all_signals().await,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(j) => j.all_as_json(SQLITE_REPORT_SIGNALS_JSON, "signals").await,
        }
    }

    /// What a report reads, from one snapshot of the journal: every signal row (with SQLite
    /// without its `normalized` intent, as [`Self::signals_for_report`]) and every order row,
    /// both in one read transaction, so a signal written meanwhile is in both with its legs,
    /// or in neither (read separately, a report run during writes could show a filled signal
    /// without its legs, or legs without their signal). Each row that cannot be read (a
    /// status, leg or number this build does not know, written by a newer executor) is left
    /// out and named, where one such row failed the whole read.
    ///
    /// # Errors
    /// [`JournalError`] when the tables cannot be read at all.
    pub async fn report_rows(
        &self,
    ) -> Result<(Lenient<SignalRecord>, Lenient<OrderRecord>), JournalError> {
        each!(self, j => j.report_rows().await)
    }

    /// The signal `id` with its legs, from one snapshot (`tvctl trades <id>`); `None` when no
    /// row has that id. Read apart, a replay journaled between the two reads showed the
    /// signal's old status beside its new legs.
    ///
    /// # Errors
    /// [`JournalError`] when the rows cannot be read.
    pub async fn execution(
        &self,
        id: &SignalId,
    ) -> Result<Option<(SignalRecord, Vec<OrderRecord>)>, JournalError> {
        each!(self, j => j.execution(id).await)
    }

    /// Every order row, in one query (one JSON document with SQLite, as above).
    pub async fn all_orders(&self) -> Result<Vec<OrderRecord>, JournalError> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(j) => j.all_orders().await,
            #[cfg(feature = "sqlite")]
            Self::Sqlite(j) => j.all_as_json(SQLITE_ALL_ORDERS_JSON, "orders").await,
        }
    }

    /// The order rows of the latest `limit` signals.
    ///
    /// # Errors
    /// [`JournalError`] when the rows cannot be read.
    pub async fn recent_orders(&self, limit: i64) -> Result<Vec<OrderRecord>, JournalError> {
        each!(self, j => j.recent_orders(limit).await)
    }

    /// (queue, message id, result) of every replay decision, oldest first.
    pub async fn replay_audits(&self) -> Result<Vec<(String, String, String)>, JournalError> {
        each!(self, j => j.replay_audits().await)
    }

    /// Every replay decision, whole, oldest first.
    ///
    /// # Errors
    /// [`JournalError`] when the table cannot be read.
    pub async fn replay_decisions(&self) -> Result<Vec<ReplayAudit>, JournalError> {
        each!(self, j => j.replay_decisions().await)
    }

    /// The ids starting with `start`, newest first, at most `limit`, from the whole journal.
    ///
    /// # Errors
    /// [`JournalError`] when `start` is empty or not hex, or the table cannot be read.
    pub async fn signal_ids_starting_with(
        &self,
        start: &str,
        limit: i64,
    ) -> Result<Vec<SignalId>, JournalError> {
        each!(self, j => j.signal_ids_starting_with(start, limit).await)
    }

    /// The replay decisions about `signal`, whole, oldest first.
    ///
    /// # Errors
    /// [`JournalError`] when the rows cannot be read.
    pub async fn replay_audits_of(
        &self,
        signal: &SignalId,
    ) -> Result<Vec<ReplayAudit>, JournalError> {
        each!(self, j => j.replay_audits_of(signal).await)
    }
}

impl TradeJournal for AnyJournal {
    async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
        each!(self, j => j.upsert_signal(r).await)
    }

    async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
        each!(self, j => j.upsert_order(r).await)
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        each!(self, j => j.signal(id).await)
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        each!(self, j => j.orders(id).await)
    }

    async fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> Result<(), JournalError> {
        each!(self, j => j.record_execution(signal, orders).await)
    }
}

impl AuditLog for AnyJournal {
    async fn record_replay(&self, a: &ReplayAudit) -> Result<(), JournalError> {
        each!(self, j => j.record_replay(a).await)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    /// A database's error answer with this code and kind, as sqlx hands it over.
    #[derive(Debug)]
    struct Answer(&'static str, sqlx::error::ErrorKind);

    impl std::fmt::Display for Answer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Answer {}

    impl sqlx::error::DatabaseError for Answer {
        fn message(&self) -> &str {
            "scripted"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            match self.1 {
                sqlx::error::ErrorKind::CheckViolation => sqlx::error::ErrorKind::CheckViolation,
                sqlx::error::ErrorKind::UniqueViolation => sqlx::error::ErrorKind::UniqueViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }

    /// A PostgreSQL journal URL with a parameter sqlx does not read is refused naming the
    /// key, never its value; sqlx would have logged the value at `warn` (a password given as
    /// libpq's `sslpassword`, or capitalised).
    #[cfg(feature = "postgres")]
    #[test]
    fn a_postgres_url_parameter_sqlx_does_not_read_is_refused_without_its_value() {
        let logs = shared::telemetry::CapturedLogs::default();
        let _guard =
            tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
        let idle = std::time::Duration::from_secs(60);
        for url in [
            "postgres://u@127.0.0.1:1/db?sslmode=require&sslpassword=hunter2-secret-xyz",
            "postgres://u@127.0.0.1:1/db?Password=hunter2-secret-xyz",
            "postgresql://u@127.0.0.1:1/db?pass%77ord2=hunter2-secret-xyz",
        ] {
            let err = PgJournal::session_options(url, idle).unwrap_err();
            assert!(
                err.reason.contains("is not one PostgreSQL's client reads")
                    && !err.reason.contains("hunter2"),
                "{}",
                err.reason
            );
        }
        let err = PgJournal::session_options(
            "postgres://u@127.0.0.1:1/db?sslpassword=hunter2-secret-xyz",
            idle,
        )
        .unwrap_err();
        assert!(err.reason.contains("\"sslpassword\""), "{}", err.reason);
        // Off this machine, the URL says whether TLS is required (sqlx's default, prefer,
        // falls back to clear text without a word).
        for url in [
            "postgres://u:pw@db.example.internal:5432/journal",
            "postgres://u:pw@10.0.3.7:5432/journal?sslmode=prefer",
        ] {
            let err = PgJournal::session_options(url, idle).unwrap_err();
            assert!(
                err.reason.contains("without sslmode=require") && !err.reason.contains("pw@"),
                "{url}: {}",
                err.reason
            );
        }
        for url in [
            "postgres://u:pw@db.example.internal:5432/journal?sslmode=require",
            "postgres://u:pw@db.example.internal:5432/journal?sslmode=disable",
            "postgres://u:pw@localhost:5432/journal",
            "postgres://u:pw@[::1]:5432/journal",
        ] {
            assert!(PgJournal::session_options(url, idle).is_ok(), "{url}");
        }
        // What sqlx reads still passes.
        assert!(
            PgJournal::session_options(
                "postgres://u:pw@127.0.0.1:1/db?sslmode=disable&application_name=x&options[search_path]=a",
                idle
            )
            .is_ok()
        );
        // A `?` in the password: refused without quoting what follows it.
        let err =
            PgJournal::session_options("postgres://u:ab?topsecret@h/db?sslmode=require", idle)
                .unwrap_err();
        assert!(
            !err.reason.contains("topsecret") && err.reason.contains("%3F"),
            "{}",
            err.reason
        );
        // A fragment holding `?` is no query.
        assert!(
            PgJournal::session_options("postgres://u@h/db?sslmode=require#x?y=1", idle).is_ok()
        );
        assert!(!logs.text().contains("hunter2"), "{}", logs.text());
    }

    /// Only what the rows broke is written again one execution at a time: an outage (a busy
    /// or full file, a server shutting down, read only after a failover, out of connections)
    /// would make each lone write wait on it again, one after another.
    #[test]
    fn only_a_refusal_of_the_rows_is_written_again_one_at_a_time() {
        use sqlx::error::ErrorKind::{CheckViolation, Other, UniqueViolation};
        let refused =
            |code, kind| batch_failure(sqlx::Error::Database(Box::new(Answer(code, kind)))).refused;
        // SQLite: CHECK (275), UNIQUE (2067), too big (18), type mismatch (20).
        assert!(refused("275", CheckViolation));
        assert!(refused("2067", UniqueViolation));
        assert!(refused("18", Other));
        assert!(refused("20", Other));
        // PostgreSQL: a data exception (text holding a NUL, 22021; a numeric out of range,
        // 22003) and a check violation (23514).
        assert!(refused("22021", Other));
        assert!(refused("22003", Other));
        assert!(refused("23514", CheckViolation));
        // Outages: SQLite busy (5), full (13), read-only (8); PostgreSQL admin shutdown
        // (57P01), read-only transaction (25006), too many connections (53300).
        for code in ["5", "13", "8", "57P01", "25006", "53300"] {
            assert!(!refused(code, Other), "{code}");
        }
        assert!(!batch_failure(sqlx::Error::PoolTimedOut).refused);
        assert!(!batch_failure(sqlx::Error::Io(std::io::Error::other("connection reset"))).refused);
    }

    /// The parameter numbers of `sql`, in the order they appear.
    fn numbers(sql: &str) -> Vec<usize> {
        sql.split('$')
            .skip(1)
            .filter_map(|t| {
                let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect()
    }

    #[test]
    fn the_upserts_use_each_parameter_once_in_order_so_a_batch_may_bind_them_by_position() {
        for (sql, n) in [(UPSERT_SIGNAL, 17), (UPSERT_ORDER, 16)] {
            assert_eq!(numbers(sql), (1..=n).collect::<Vec<_>>());
            assert_eq!(sqlite_positional(sql).matches('?').count(), n);
        }
        assert_eq!(
            sqlite_execution_sql(1, 2, true).matches('?').count(),
            17 + 2 * 16
        );
        assert_eq!(
            sqlite_execution_sql(3, 4, true).matches('?').count(),
            3 * 17 + 4 * 16
        );
        // Inside a transaction the caller opened: the same statements, no BEGIN or COMMIT.
        let own = sqlite_execution_sql(3, 4, true);
        let inside = sqlite_execution_sql(3, 4, false);
        assert!(own.starts_with("BEGIN;") && own.ends_with("COMMIT;"));
        assert_eq!(
            own.trim_start_matches("BEGIN;\n")
                .trim_end_matches("COMMIT;"),
            inside
        );
    }

    #[test]
    fn a_journal_setting_is_read_as_the_journal_opens_it() {
        use std::path::PathBuf;
        let file = |p: &str| Location::File(PathBuf::from(p));
        for (url, expected) in [
            ("data/j.sqlite", file("data/j.sqlite")),
            ("sqlite:data/j.sqlite", file("data/j.sqlite")),
            ("sqlite://data/j.sqlite?mode=rwc", file("data/j.sqlite")),
            ("sqlite:///tmp/j.sqlite", file("/tmp/j.sqlite")),
            ("sqlite:my%20data/j.sqlite", file("my data/j.sqlite")),
            ("sqlite::memory:", Location::Memory),
            ("sqlite://:memory:", Location::Memory),
            ("sqlite://?mode=memory", Location::Memory),
            (
                "sqlite:j.sqlite?cache=shared&mode=m%65mory",
                Location::Memory,
            ),
            ("sqlite:", Location::Memory),
            ("postgres://u:p@h/db", Location::Postgres),
            ("postgresql://h/db", Location::Postgres),
        ] {
            assert_eq!(Location::of(url), expected, "{url}");
        }
        assert_eq!(
            Location::of("sqlite:sqlite:j.db"),
            file("j.db"),
            "sqlx trims both"
        );
        assert_eq!(Location::of("sqlite:%3Amemory%3A"), Location::Memory);
        assert_eq!(Location::of("sqlite:j.db?vfs=memdb"), Location::Memory);
        for url in [
            "mysql://u:p@h/db",
            "postgresql:/trader:pw@db/j",
            "postgres%3A//u:pw@h/db",
            "host=db password = pw",
            "sqlite:file:j.sqlite",
            "file:j.sqlite",
            "host=db user=u password=p dbname=j",
            "password=p",
            "sqlite:%FF.sqlite",
        ] {
            assert!(matches!(Location::of(url), Location::Unusable(_)), "{url}");
        }
        assert_eq!(shown("sqlite://data/j.sqlite?mode=rwc"), "data/j.sqlite");
        for url in [
            "postgres://u:p/w?@h/db",
            "host=h password=pw",
            "mysql://u:pw@h",
        ] {
            let s = shown(url);
            assert!(!s.contains("pw") && !s.contains("u:p"), "{s}");
        }
    }

    #[tokio::test]
    async fn an_unusable_setting_is_refused_without_being_echoed() {
        for url in [
            "host=db user=u password=secret-pw dbname=j",
            "sqlite:file:x.sqlite",
        ] {
            let err = AnyJournal::connect(url).await.map(|_| ()).unwrap_err();
            assert!(!err.reason.contains("secret-pw"), "{}", err.reason);
            assert!(err.reason.starts_with("journal: "), "{}", err.reason);
            let err = AnyJournal::open_read_only(url)
                .await
                .map(|_| ())
                .unwrap_err();
            assert!(err.reason.starts_with("journal: "), "{}", err.reason);
        }
        assert!(!std::path::Path::new("host=db user=u password=secret-pw dbname=j").exists());
    }

    /// A filled signal `tag` received at `at`, and its one open leg.
    fn filled_execution(tag: &str, at: DateTime<Utc>) -> (SignalRecord, OrderRecord) {
        use shared::execution::{ClientOrderId, Leg, Side, StageTimes};
        use shared::outcome::Outcome;
        use shared::routing::Broker;
        let id = SignalId::of_canonical(tag);
        let signal = SignalRecord {
            signal_id: id.clone(),
            raw: "{}".into(),
            normalized: serde_json::json!({"tag": tag}).into(),
            symbol: "EURUSD".into(),
            exchange: "OANDA".into(),
            action: "LONG_ENTRY".into(),
            broker: Some(Broker::Oanda),
            instrument: Some("EUR_USD".into()),
            contract_resolution: None,
            status: SignalStatus::Filled,
            reason: None,
            stages: StageTimes {
                received: Some(at),
                ..StageTimes::default()
            },
        };
        let order = OrderRecord {
            signal_id: id.clone(),
            broker: Broker::Oanda,
            account: "paper".into(),
            instrument: "EUR_USD".into(),
            leg: Leg::Open,
            attempt: 1,
            client_order_id: ClientOrderId::new(&id, Leg::Open),
            broker_order_id: None,
            side: Side::Buy,
            quantity: Decimal::ONE,
            fill_price: None,
            outcome: Outcome::Filled,
            error: None,
            sent_at: None,
            acked_at: None,
            fee: None,
        };
        (signal, order)
    }

    /// A report reads one snapshot: a signal written with its leg between the report's
    /// signals query and its orders query is in neither list; read on two connections (as
    /// `tvctl report` did), the leg came without its signal. The next report has both.
    async fn report_reads_one_snapshot(writer: &AnyJournal, reader: AnyJournal, tag: &str) {
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let (before, before_leg) = filled_execution(&format!("{tag}-before"), t0);
        writer
            .record_execution(&before, &[before_leg])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (reached, reached_rx) = tokio::sync::oneshot::channel();
        let (resume, resume_rx) = tokio::sync::oneshot::channel();
        let second = reader.clone();
        let report = tokio::spawn(BETWEEN_REPORT_READS.scope(
            std::cell::RefCell::new(Some((reached, resume_rx))),
            async move { second.report_rows().await },
        ));
        reached_rx.await.unwrap_or_else(|e| panic!("{e}"));
        let (during, during_leg) =
            filled_execution(&format!("{tag}-during"), t0 + chrono::Duration::seconds(1));
        writer
            .record_execution(&during, &[during_leg])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        resume
            .send(())
            .unwrap_or_else(|()| panic!("the report stopped waiting"));
        let ids = |(signals, orders): (Vec<SignalRecord>, Vec<OrderRecord>)| {
            (
                signals.into_iter().map(|s| s.signal_id).collect::<Vec<_>>(),
                orders.into_iter().map(|o| o.signal_id).collect::<Vec<_>>(),
            )
        };
        let ((signals, unread), (orders, unread_orders)) = report
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(unread.is_empty() && unread_orders.is_empty());
        let (signals, orders) = ids((signals, orders));
        assert!(signals.contains(&before.signal_id) && orders.contains(&before.signal_id));
        assert!(
            !signals.contains(&during.signal_id),
            "the signal written after the report began"
        );
        assert!(
            !orders.contains(&during.signal_id),
            "a leg without its signal: the orders were read in a later snapshot"
        );
        let ((signals, _), (orders, _)) =
            reader.report_rows().await.unwrap_or_else(|e| panic!("{e}"));
        let (signals, orders) = ids((signals, orders));
        assert!(signals.contains(&during.signal_id) && orders.contains(&during.signal_id));
    }

    /// The trades view (`recent_executions`, and `execution` for one signal with `one`) reads
    /// one snapshot too: a signal journaled `unknown` whose replay is journaled `filled`
    /// between its two queries shows as it was (`unknown`, its leg `unknown`); read apart, it
    /// showed `unknown` beside a `filled` leg.
    async fn trades_read_one_snapshot(
        writer: &AnyJournal,
        reader: AnyJournal,
        tag: &str,
        one: bool,
    ) {
        use shared::clock::Clock;
        use shared::outcome::Outcome;
        // Now, to the microsecond (as both journals keep it): among the latest a shared
        // database lists, as other tests' rows expect theirs to be.
        let now = shared::clock::SystemClock.now();
        let t0 = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let (mut signal, mut leg) = filled_execution(tag, t0);
        signal.status = SignalStatus::Unknown;
        leg.outcome = Outcome::Unknown;
        writer
            .record_execution(&signal, std::slice::from_ref(&leg))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (reached, reached_rx) = tokio::sync::oneshot::channel();
        let (resume, resume_rx) = tokio::sync::oneshot::channel();
        let second = reader.clone();
        let id = signal.signal_id.clone();
        let read = tokio::spawn(BETWEEN_REPORT_READS.scope(
            std::cell::RefCell::new(Some((reached, resume_rx))),
            async move {
                if one {
                    second
                        .execution(&id)
                        .await
                        .map(|e| e.into_iter().collect::<Vec<_>>())
                } else {
                    second.recent_executions(1_000).await
                }
            },
        ));
        reached_rx.await.unwrap_or_else(|e| panic!("{e}"));
        signal.status = SignalStatus::Filled;
        leg.outcome = Outcome::Filled;
        writer
            .record_execution(&signal, &[leg])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        resume
            .send(())
            .unwrap_or_else(|()| panic!("the read stopped waiting"));
        let rows = read
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (shown, legs) = rows
            .iter()
            .find(|(s, _)| s.signal_id == signal.signal_id)
            .unwrap_or_else(|| panic!("{tag} not listed"));
        assert_eq!(shown.status, SignalStatus::Unknown);
        assert_eq!(
            legs.iter().map(|l| l.outcome).collect::<Vec<_>>(),
            [Outcome::Unknown],
            "a leg from a later snapshot than its signal"
        );
    }

    /// Every read of a report or the trades view sees one snapshot of a SQLite file journal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_reads_see_one_snapshot() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("snapshot.sqlite");
        let path = path.to_string_lossy();
        let writer = AnyJournal::connect(&path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reader = AnyJournal::open_read_only(&path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        reads_see_one_snapshot(&writer, reader, "snapshot").await;
    }

    /// The same of a PostgreSQL journal (`JOURNAL_TEST_PG_URL`), whose test database keeps
    /// every run's rows: the tags are unique per run.
    #[cfg(feature = "postgres")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_reads_see_one_snapshot() {
        use shared::clock::Clock;
        let url = std::env::var("JOURNAL_TEST_PG_URL").unwrap_or_else(|_| {
            panic!(
                "JOURNAL_TEST_PG_URL is not set: run the suite with scripts/test.sh, which \
                 starts a throwaway PostgreSQL"
            )
        });
        // The writer's pool migrates the schema on connect.
        let writer = AnyJournal::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reader = AnyJournal::open_read_only(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let run = shared::clock::SystemClock
            .now()
            .timestamp_nanos_opt()
            .unwrap_or(0);
        reads_see_one_snapshot(&writer, reader, &format!("snapshot-pg-{run}")).await;
    }

    /// The report's read, the trades list's and one signal's, each with a write between its
    /// two queries.
    async fn reads_see_one_snapshot(writer: &AnyJournal, reader: AnyJournal, tag: &str) {
        report_reads_one_snapshot(writer, reader.clone(), &format!("report-{tag}")).await;
        trades_read_one_snapshot(writer, reader.clone(), &format!("trades-{tag}"), false).await;
        trades_read_one_snapshot(writer, reader, &format!("one-{tag}"), true).await;
    }

    /// Whole tables are read a page at a time ([`JSON_PAGE_ROWS`], 3 rows in this build), in
    /// order, every row once: one JSON array of a large journal's rows passed SQLite's string
    /// limit ("string or blob too big").
    #[tokio::test]
    async fn whole_tables_are_read_in_pages_every_row_once_in_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("paged.sqlite");
        let j = AnyJournal::connect(&path.to_string_lossy())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let t0: DateTime<Utc> = "2026-11-30T15:00:00Z".parse().unwrap_or_default();
        let mut ids = Vec::new();
        // Seven: two full pages and one short; then six, the last page empty.
        for n in 0..7 {
            let (signal, order) =
                filled_execution(&format!("paged-{n}"), t0 + chrono::Duration::seconds(n));
            let id = signal.signal_id.clone();
            j.record_execution(&signal, &[order])
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            ids.push(id);
        }
        let signals = j.all_signals().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            signals
                .iter()
                .map(|s| s.signal_id.clone())
                .collect::<Vec<_>>(),
            ids,
            "by received time"
        );
        let ((report, unread), (report_orders, unread_orders)) =
            j.report_rows().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.len(), unread.len()), (7, 0));
        assert_eq!((report_orders.len(), unread_orders.len()), (7, 0));
        let mut by_id = ids.clone();
        by_id.sort();
        let orders = j.all_orders().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            orders
                .iter()
                .map(|o| o.signal_id.clone())
                .collect::<Vec<_>>(),
            by_id
        );
        // A multiple of the page: the last page is empty.
        let six = AnyJournal::connect(&dir.path().join("six.sqlite").to_string_lossy())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for s in signals.iter().take(6) {
            six.upsert_signal(s).await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(six.all_signals().await.map(|s| s.len()).ok(), Some(6));
    }
}
