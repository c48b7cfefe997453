//! The SQLite file journal's writer: a thread of its own with its own connection
//! (`rusqlite`), which drains the [`GroupCommit`] and writes each batch in one transaction
//! from two prepared statements.
//!
//! Why not through sqlx's connection, as the reads go: every write there was a hand-off to
//! sqlx's worker thread and back, each value copied into sqlx's argument list before SQLite
//! copied it again, and a batch's statements were one text of up to eight signals parsed as
//! a statement batch. Here the drain runs where the connection is, and the values are bound
//! straight from the records. The in-memory journal keeps the sqlx drain: a second
//! connection to `:memory:` would open a database of its own.

use super::{
    BatchFailure, DrainGuard, Execution, GroupCommit, JournalError, UPSERT_ORDER, UPSERT_SIGNAL,
    sqlite_dec_in, sqlite_sql, sqlite_time_in,
};
use shared::execution::{BrokerOrderId, OrderRecord, SignalRecord, StageTimes};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak, mpsc};

/// How the writer is woken: one message each time a drain is due (the group's `draining`
/// went from false to true). Dropped with the group, which ends the thread.
pub(crate) type Wake = mpsc::Sender<()>;

/// The pragmas of the writer's connection, as the sqlx pool sets them on its own
/// (`SqliteJournal::connect`): `synchronous` and `wal_autocheckpoint` are per connection
/// (<https://www.sqlite.org/pragma.html#pragma_synchronous>,
/// <https://www.sqlite.org/pragma.html#pragma_wal_autocheckpoint>).
fn configure(
    conn: &rusqlite::Connection,
    size_limit: i64,
    durability: shared::ports::Durability,
) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let synchronous = match durability {
        shared::ports::Durability::ProcessCrash => "NORMAL",
        shared::ports::Durability::PowerLoss => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", size_limit)?;
    conn.set_prepared_statement_cache_capacity(4);
    Ok(())
}

/// Whether the writer may write the file of the sqlx URL `url` (a file's, as
/// [`super::Location::of`] reads it): its parameters ([`super::sqlite_parameters`]) are none,
/// or only `mode=rw` or `mode=rwc` (<https://www.sqlite.org/uri.html#recognized_query_parameters>),
/// which the writer's own opening matches (read-write; the file exists, made by the pool).
pub(crate) fn takes_parameters(url: &str) -> bool {
    super::sqlite_parameters(url)
        .all(|(key, value)| key == "mode" && (value == "rw" || value == "rwc"))
}

/// Opens the journal file at `path` (made and migrated already) for writing and starts the
/// writer thread; answers how to wake it, and its connection's `synchronous` level as the
/// connection reports it once configured.
///
/// # Errors
/// [`JournalError`] when the file cannot be opened or configured, or the thread not started.
pub(crate) fn start(
    path: &std::path::Path,
    size_limit: i64,
    durability: shared::ports::Durability,
    group: &Arc<GroupCommit>,
) -> Result<(Wake, i64), JournalError> {
    let fail = |e: rusqlite::Error| error("open the writer", &e);
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    configure(&conn, size_limit, durability).map_err(fail)?;
    let synchronous: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(fail)?;
    let (wake, woken) = mpsc::channel();
    let group = Arc::downgrade(group);
    std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || run(conn, &woken, &group))
        .map_err(|e| JournalError {
            reason: format!("open the writer: thread: {}", e.kind()),
        })?;
    Ok((wake, synchronous))
}

/// The least time between the starts of two of the writer's transactions while executions
/// wait: those that come meanwhile share the next one (a commit rewrites the last page of
/// every table and index it appended to, whatever the number of rows).
///
/// The same under load: 3 ms after a cycle of three executions or more (cf8d2a9) took
/// about a tenth off the writer's CPU per signal, but each signal waits for a cycle, and in
/// the throughput run the executed rate was about a seventh lower, with the CPU per signal of
/// the whole stack the same within the noise (`perf/README.md`, seventh session).
const COMMIT_GAP: std::time::Duration = std::time::Duration::from_millis(1);

/// The thread: a drain for each wake-up, until the journal is dropped.
fn run(mut conn: rusqlite::Connection, woken: &mpsc::Receiver<()>, group: &Weak<GroupCommit>) {
    let mut last = std::time::Instant::now();
    while woken.recv().is_ok() {
        let Some(group) = group.upgrade() else { break };
        // A panic answers nobody (the waiters see their write abandoned; `DrainGuard` lets
        // the next execution start a new drain) and the thread goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = DrainGuard(&group);
            loop {
                // At most one transaction each COMMIT_GAP: under load, the executions that
                // come meanwhile share it; a write that comes after the gap has passed starts
                // at once, and a drain with nothing left ends without a wait.
                if group.has_pending()
                    && let Some(rest) = COMMIT_GAP.checked_sub(last.elapsed())
                {
                    std::thread::sleep(rest);
                }
                let Some(batch) = group.next_batch() else {
                    break;
                };
                last = std::time::Instant::now();
                let result = write(&mut conn, &batch);
                for e in GroupCommit::answer_or_each(batch, result)
                    .into_iter()
                    .flatten()
                {
                    let alone = write(&mut conn, std::slice::from_ref(&e)).map_err(|f| f.error);
                    let _ = e.done.send(alone);
                }
                // After the answers: nobody waits on what it does.
                after_batch(&conn, &group);
            }
        }));
    }
}

/// `batch` in one transaction (`BEGIN IMMEDIATE`: the write lock at once, as the first
/// statement is a write anyway): every signal, then every leg. On an error the transaction
/// is rolled back (dropped); one SQLite refused is written again one execution at a time by
/// the caller ([`GroupCommit::answer_or_each`]), any other error is every waiter's, and a
/// retry writes it all again (upserts).
fn write(conn: &mut rusqlite::Connection, batch: &[Execution]) -> Result<(), BatchFailure> {
    // SQLite's refusal of what was written (a constraint, a value too big or of the wrong
    // type), not a busy, full or failing file.
    let fail = |e: rusqlite::Error| BatchFailure {
        refused: matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::ConstraintViolation
                        | rusqlite::ErrorCode::TooBig
                        | rusqlite::ErrorCode::TypeMismatch
                )
        ) || matches!(&e, rusqlite::Error::ToSqlConversionFailure(_)),
        error: error("signal and order upsert", &e),
    };
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(fail)?;
    {
        let mut signal = tx.prepare_cached(sqlite_sql(UPSERT_SIGNAL)).map_err(fail)?;
        let mut order = tx.prepare_cached(sqlite_sql(UPSERT_ORDER)).map_err(fail)?;
        for e in batch {
            bind_signal(&mut signal, &e.signal).map_err(fail)?;
            signal.raw_execute().map_err(fail)?;
            for o in &e.orders {
                bind_order(&mut order, o).map_err(fail)?;
                order.raw_execute().map_err(fail)?;
            }
        }
    }
    tx.commit().map_err(fail)
}

/// Binds a signal record in `UPSERT_SIGNAL`'s parameter order (`?1`..`?17`), with the
/// values and text forms the sqlx path binds (`bind_signal!`).
fn bind_signal(s: &mut rusqlite::Statement<'_>, r: &SignalRecord) -> rusqlite::Result<()> {
    let st: &StageTimes = &r.stages;
    s.raw_bind_parameter(1, r.signal_id.as_str())?;
    s.raw_bind_parameter(2, &r.raw)?;
    s.raw_bind_parameter(3, r.normalized.as_str())?;
    s.raw_bind_parameter(4, &r.symbol)?;
    s.raw_bind_parameter(5, &r.exchange)?;
    s.raw_bind_parameter(6, &r.action)?;
    s.raw_bind_parameter(7, r.broker.map(|b| b.to_string()))?;
    s.raw_bind_parameter(8, &r.instrument)?;
    s.raw_bind_parameter(9, &r.contract_resolution)?;
    s.raw_bind_parameter(10, r.status.as_str())?;
    s.raw_bind_parameter(11, &r.reason)?;
    s.raw_bind_parameter(12, sqlite_time_in(st.received))?;
    s.raw_bind_parameter(13, sqlite_time_in(st.enqueued))?;
    s.raw_bind_parameter(14, sqlite_time_in(st.routed))?;
    s.raw_bind_parameter(15, sqlite_time_in(st.executor_start))?;
    s.raw_bind_parameter(16, sqlite_time_in(st.broker_sent))?;
    s.raw_bind_parameter(17, sqlite_time_in(st.broker_acked))
}

/// Binds an order record in `UPSERT_ORDER`'s parameter order (`?1`..`?16`), as
/// `bind_order!` does.
fn bind_order(s: &mut rusqlite::Statement<'_>, r: &OrderRecord) -> rusqlite::Result<()> {
    s.raw_bind_parameter(1, r.signal_id.as_str())?;
    s.raw_bind_parameter(2, r.broker.to_string())?;
    s.raw_bind_parameter(3, r.account.as_str())?;
    s.raw_bind_parameter(4, r.leg.as_str())?;
    s.raw_bind_parameter(5, i64::from(r.attempt))?;
    s.raw_bind_parameter(6, &r.instrument)?;
    s.raw_bind_parameter(7, r.client_order_id.as_str())?;
    s.raw_bind_parameter(8, r.broker_order_id.as_ref().map(BrokerOrderId::as_str))?;
    s.raw_bind_parameter(9, r.side.as_str())?;
    s.raw_bind_parameter(10, sqlite_dec_in(Some(r.quantity)))?;
    s.raw_bind_parameter(11, sqlite_dec_in(r.fill_price))?;
    s.raw_bind_parameter(12, super::enum_text(&r.outcome))?;
    s.raw_bind_parameter(13, &r.error)?;
    s.raw_bind_parameter(14, sqlite_time_in(r.sent_at))?;
    s.raw_bind_parameter(15, sqlite_time_in(r.acked_at))?;
    s.raw_bind_parameter(16, sqlite_dec_in(r.fee))
}

/// As `SqliteJournal::after_batch` on the sqlx path: when the checkpoint task found the log
/// [`super::RESTART_FRAMES`] long, a PASSIVE checkpoint here, between two transactions, so that the
/// next write can rewind the log once every frame is in
/// (<https://www.sqlite.org/wal.html#avoiding_excessively_large_wal_files>).
fn after_batch(conn: &rusqlite::Connection, group: &GroupCommit) {
    if !group.restart_due.load(Ordering::Acquire) {
        return;
    }
    group.caught_up(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    }));
}

/// A rusqlite error as the sqlx path words one (`db_error`): SQLite's code and message cut
/// to a line, which name a table or a constraint, never a value.
fn error(what: &str, e: &rusqlite::Error) -> JournalError {
    let kind = match e {
        rusqlite::Error::SqliteFailure(f, message) => {
            super::database_error(f.extended_code, message.as_deref().unwrap_or(""))
        }
        other => other.to_string().chars().take(120).collect(),
    };
    JournalError {
        reason: format!("{what}: {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::configure;
    use shared::ports::Durability;

    /// The writer's connection syncs as the pool's does: FULL (2) for real brokers, NORMAL
    /// (1) for paper ones (`synchronous` is per connection).
    #[test]
    fn the_writer_syncs_each_commit_for_real_brokers_only() {
        let level = |durability| {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            configure(&conn, 1 << 20, durability).unwrap();
            conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                .unwrap()
        };
        assert_eq!(level(Durability::ProcessCrash), 1);
        assert_eq!(level(Durability::PowerLoss), 2);
    }
}
