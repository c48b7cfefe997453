//! The local stack's durable state, in a SQLite file beside its journal and the queues' file
//! beside it: the queues' messages, receive counts and dedup windows
//! ([`local_sqs::QueueLog`], an append-only file of records, see `queue_file`), the executors'
//! idempotency records and latest signal times ([`IdempotencyStore`]), and the paper brokers'
//! books ([`PaperLog`]).
//!
//! Writes are grouped: each one goes into the transaction that is open on the store's one
//! connection, and a committer thread commits it when somebody waits for durability
//! ([`LocalStore::flush`]) or within [`IDLE_COMMIT`]. Whatever must be on disk before the
//! world hears of it waits for its commit: a message the webhook accepted, before the 200
//! (the queue's `send` flushes, unless the queue was built not to wait); an idempotency
//! claim, before an order to a real broker leaves ([`Claims`]); a paper fill, before the
//! journal records it (the local stack's journal flushes first). A crash loses
//! only writes nobody waited for, and only a suffix of them: commits follow the order of the
//! writes, so what survives is always a state the stack went through (a receive count, a
//! deletion after a journaled fill: their loss redelivers a message that is then found done).
//! One exception: after a commit that failed (its waiters were told), the queue file is
//! rewritten from what the queues hold in memory, which keeps their operations since, though
//! SQLite writes made before them were lost with the commit.
//! Many waiters share one commit, so a commit's cost is spread over a batch of signals.
//!
//! The file runs in WAL mode with `synchronous=NORMAL`: a committed write survives the process
//! being killed (`kill -9`), though not a power cut
//! (<https://www.sqlite.org/pragma.html#pragma_synchronous>, "WAL mode is safe from corruption
//! with synchronous=NORMAL", and a commit reaches the WAL file before it returns); opened
//! for real brokers ([`LocalStore::open_with`], `Durability::PowerLoss`), `synchronous=FULL`
//! and each append to the queues' file synced, so a commit outlives a power cut too. The
//! automatic checkpoint is off (it would run inside a commit, holding up every writer); a
//! thread of its own checkpoints from a connection of its own when the committer asks
//! (<https://www.sqlite.org/wal.html#automatic_checkpoint>). When that thread finds the log
//! [`RESTART_FRAMES`] long, the committer, after announcing its next commit, copies the few
//! frames left itself (with the checkpoint's `fsync`, while the next write waits), so that
//! write rewinds the log.
//!
//! Each queue operation is one record in the queues' file, which the committer writes after
//! the SQLite transaction, under the same lock: a queue record that reaches the file follows
//! every SQLite write made before it. A paper fill is one row, carrying the holdings it changed; the sweep folds
//! them into the book.
//!
//! Records expire as their DynamoDB counterparts do: completed idempotency records at their
//! `expires_at`, swept as claims go on; dedup entries after the five-minute window, dropped
//! from memory as sends come and from the queues' file when it is rewritten. So memory stays
//! bounded, and the files but for the paper fills: one row a fill, kept as the paper
//! accounts' history (a few hundred bytes each; the sweep folds their holdings, it does not
//! delete them).

use chrono::{DateTime, Utc};
use executor_runtime::paper::{FILLS_IN_MEMORY, PaperBook, PaperFill, PaperLog};
use local_sqs::{Durable, QueueLog, Saved, WriteMark};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use shared::execution::Side;
use shared::outcome::Outcome;
use shared::ports::{
    Claim, HAND_OVER_SKEW, IdempotencyKey, IdempotencyStore, InstrumentKey, StoreError,
};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

mod queue_file;
use queue_file::{QueueFile, QueueRecords};

/// The queues' file, its records, and what to say of it at start.
type QueuesOpened = (QueueFile, QueueRecords, Vec<String>);

/// The most latest-signal times [`Inner::latest`] holds: past it, memory is emptied and rows
/// are read again (instruments come from alerts, so their number is not bounded by the code).
const LATEST_IN_MEMORY: usize = 4096;

/// How many claims pass between two sweeps (expired records, the paper fills' fold).
const SWEEP_EVERY: u64 = 1_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_message (
    queue TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL, group_id TEXT NOT NULL,
    dedup_id TEXT NOT NULL, body TEXT NOT NULL, sent_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL, source_queue TEXT, last_error TEXT,
    removed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, seq));
CREATE TABLE IF NOT EXISTS queue_dedup (
    queue TEXT NOT NULL, dedup_id TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS queue_dedup_at ON queue_dedup (at_ms);
CREATE TABLE IF NOT EXISTS queue_seq (queue TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS latest_signal (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paper_holding (
    account TEXT NOT NULL, name TEXT NOT NULL, amount TEXT NOT NULL,
    PRIMARY KEY (account, name));
CREATE TABLE IF NOT EXISTS paper_account (account TEXT PRIMARY KEY, orders INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue_file (made_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS front_month_hold (
    symbol TEXT PRIMARY KEY, contract TEXT NOT NULL, month INTEGER NOT NULL,
    until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS broker_account (
    broker TEXT NOT NULL, account TEXT NOT NULL, since_ms INTEGER NOT NULL,
    PRIMARY KEY (broker, since_ms));
";

/// How close to its end a continuous symbol's hold ([`LocalStore::hold_forward`]) is written
/// again with the same contract: its end moves at most once a day, not at every signal.
const HOLD_REWRITE_WITHIN: chrono::Duration = chrono::Duration::days(1);

/// Paper fills by account in order: a fill is one `paper_fill` row carrying the holdings it
/// changed (`holdings`, JSON `[[name, amount], ...]`, the amounts after the fill) and the
/// account's order count after it (`n`, which only grows: fills are written under the book's
/// lock). The sweep folds the rows above an account's folded count (`paper_account.orders`)
/// into `paper_holding`, and a book is read as what is folded plus those rows, both found by
/// this index. Made after [`SCHEMA`], once a file from before `holdings` has the column.
const PAPER_FILL_INDEX: &str = "CREATE INDEX IF NOT EXISTS paper_fill_n ON paper_fill (account, n)";

/// The accounts that have paper fills, one index seek each rather than a scan of every fill.
const PAPER_ACCOUNTS: &str = "
WITH RECURSIVE accounts(account) AS (
    SELECT MIN(account) FROM paper_fill
    UNION ALL
    SELECT (SELECT MIN(account) FROM paper_fill WHERE account > accounts.account)
    FROM accounts WHERE accounts.account IS NOT NULL)
SELECT account FROM accounts WHERE account IS NOT NULL";

/// Files from before the queue file kept a removed message's row, emptied, as its queue's
/// record of the dedup id and the sequence number until the window had passed, and swept
/// such rows by this index. Made after [`SCHEMA`], once a file from before `removed` has the
/// column (its rows move to the queue file at the first start).
const REMOVED_INDEX: &str = "CREATE INDEX IF NOT EXISTS queue_message_removed
    ON queue_message (sent_at_ms) WHERE removed";

/// The `at_ms` of an idempotency record kept before records carried their signal's time: a
/// claim looks for one under its key as well, while any may be left ([`Inner::undated`]).
const UNDATED: i64 = i64::MIN;

/// The executors' idempotency records, keyed by their signal's time first, then by
/// `broker#account#signal_id`. Files from before kept them keyed by `key` alone, at a place
/// in the index set by the signal id's hash (each claim and each completion dirtied a page
/// of its own, about a tenth of the stack's CPU per signal in the committer's log writes,
/// `perf/README.md`): [`rebuild_undated`] moves them here as [`UNDATED`], and each moves
/// under its signal's time at its next claim.
const IDEMPOTENCY_TABLE: &str = "
CREATE TABLE IF NOT EXISTS idempotency (
    at_ms INTEGER NOT NULL, key TEXT NOT NULL, lease_until_ms INTEGER, outcome TEXT,
    expires_at_ms INTEGER, PRIMARY KEY (at_ms, key));
";

/// Paper fills, keyed by account, their signal's time, then client order id. Files from
/// before kept them by account and client order id (a place set by the signal id's hash, as
/// for idempotency records): [`rebuild_undated`] moves them here as [`UNDATED`] (also the
/// column's default, i64::MIN, which a fill written by a tvctl from before takes), and a
/// lookup that does not find a fill under its signal's time looks for it there.
const PAPER_FILL_TABLE: &str = "
CREATE TABLE IF NOT EXISTS paper_fill (
    account TEXT NOT NULL, at_ms INTEGER NOT NULL DEFAULT -9223372036854775808,
    client_order_id TEXT NOT NULL, order_id TEXT NOT NULL,
    quantity TEXT NOT NULL, price TEXT NOT NULL, n INTEGER NOT NULL, holdings TEXT, side TEXT,
    instrument TEXT,
    PRIMARY KEY (account, at_ms, client_order_id));
";

/// The completed idempotency records by expiry, for the sweep ([`EXPIRE`]): partial, so a
/// claim (no expiry yet) writes no entry in it, nor does its completion delete one. Made
/// after [`IDEMPOTENCY_TABLE`] and its rebuild (which would drop it with the table it
/// renames). Files from before kept `idempotency_expiry`, over every record.
const EXPIRES_INDEX: &str = "
DROP INDEX IF EXISTS idempotency_expiry;
CREATE INDEX IF NOT EXISTS idempotency_expires ON idempotency (expires_at_ms)
    WHERE expires_at_ms IS NOT NULL;
";

/// The sweep's deletion of the completed records past their expiry (`?1`, milliseconds),
/// found by [`EXPIRES_INDEX`].
const EXPIRE: &str =
    "DELETE FROM idempotency WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1";

/// Whether the state file still holds an idempotency record kept before records were dated.
const ANY_UNDATED: &str = "SELECT EXISTS (SELECT 1 FROM idempotency WHERE at_ms = ?1)";

/// Files written before the dedup window became an append-only log kept it in `queue_seen`,
/// keyed by dedup id: its rows move to `queue_dedup` and the table goes.
const MIGRATE_QUEUE_SEEN: &str = "
INSERT INTO queue_dedup (queue, dedup_id, at_ms) SELECT queue, dedup_id, at_ms FROM queue_seen;
DROP TABLE queue_seen;
";

/// Why the state file could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("local state {path}: {reason}")]
pub struct OpenError {
    /// The file.
    pub path: String,
    /// SQLite's message.
    pub reason: String,
}

/// How long a write may wait for its commit when nobody flushes.
pub const IDLE_COMMIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The least time between the starts of two commits: waiters that come within it share the
/// next commit (at 200 alerts/s they come further apart and are committed at once).
///
/// The same under load: a commit rewrites the last page of every table and index it
/// appended to whatever the number of rows, so 3 ms after a commit of three signals or more
/// (cf8d2a9) took about a quarter off the committer's CPU per signal; but a signal waits
/// for several commits of this file and a journal cycle, and in the throughput run the
/// executed rate was about a seventh lower at 3 ms, with the CPU per signal of the whole stack
/// the same within the noise (the committer's share higher at 1 ms, the runtime's lower:
/// `perf/README.md`, seventh session).
pub const COMMIT_GAP: std::time::Duration = std::time::Duration::from_millis(1);

/// The longest wait between two commits while they keep failing: each failure doubles the
/// wait from [`COMMIT_GAP`] up to this. Well inside the webhook's 2 s budget for its send's
/// commit (ingest's `ENQUEUE_BUDGET`), so an alert sent once the failure has cleared is
/// still answered in time.
pub const MAX_COMMIT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);

/// Commits between two checkpoints of the write-ahead log.
const CHECKPOINT_EVERY: u64 = 256;

/// Frames in the write-ahead log (16 MiB of 4 KiB pages) past which the committer has the log
/// start over from its beginning.
///
/// SQLite rewinds the log only when a writer starts a transaction with every frame already
/// copied into the database (<https://www.sqlite.org/wal.html#avoiding_excessively_large_wal_files>).
/// A checkpoint beside a writer that commits every few milliseconds never finds that moment,
/// and the log grew without end: about 1 GB a minute at 200 alerts/s, its index mapped into
/// the process. So once a background checkpoint finds the log this long, the committer,
/// between two of its transactions, checkpoints what was written since (a few hundred
/// frames at most: the background one copied the rest) and the next write rewinds the log.
pub const RESTART_FRAMES: i64 = 4096;

/// The size the write-ahead log file is cut back to when it starts over (64 MiB), so a burst
/// does not leave a large file behind (<https://www.sqlite.org/pragma.html#pragma_journal_size_limit>).
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// The connection and whether a transaction is open on it, and the queues' file (written
/// after each transaction).
struct Inner {
    conn: Connection,
    open: bool,
    queues: QueueFile,
    /// `latest_signal` as the open transaction leaves it, for the keys whose row was read
    /// (and found) or written since the last lost write: `advance` reads a key's row once,
    /// not at every signal. Emptied whenever writes are lost (a failed commit, a transaction
    /// SQLite rolled back), so it never holds a time the file and its open transaction do
    /// not; one entry per instrument an executor traded, at most [`LATEST_IN_MEMORY`].
    latest: HashMap<String, i64>,
    /// Whether records kept before they carried their signal's time ([`UNDATED`]) may be
    /// left, as the open transaction leaves them: a claim that finds its dated key new looks
    /// for the undated one too. Read at start; cleared by a sweep that finds none left; set
    /// back to [`had_undated`](Self::had_undated) whenever writes are lost (the rows a lost
    /// claim moved, or a lost sweep deleted, come back). An in-progress record whose signal
    /// never comes again keeps it set: one more index probe for each new claim.
    undated: bool,
    /// Whether the file held undated records at start.
    had_undated: bool,
    /// The paper accounts with a fill in the open transaction.
    fills_open: Vec<String>,
}

impl Inner {
    /// After lost writes: what memory holds of the file is read again.
    fn writes_lost(&mut self) {
        self.latest.clear();
        self.undated = self.had_undated;
    }

    /// Holds `at` as `key`'s latest signal time, within [`LATEST_IN_MEMORY`].
    fn remember(&mut self, key: String, at: i64) {
        if self.latest.len() >= LATEST_IN_MEMORY && !self.latest.contains_key(&key) {
            self.latest.clear();
        }
        self.latest.insert(key, at);
    }
}

/// How many ranges of lost writes [`Durability`] keeps; the writes of older ones all count
/// as lost ([`Durability::forgotten_upto`]).
const LOST_RANGES: usize = 64;

/// What the committer has made durable: writes numbered `..=committed` were in commits that
/// succeeded, except those in `lost`'s ranges.
///
/// Every range is kept (up to [`LOST_RANGES`]), not only the latest: a writer may ask after
/// its commit failed and a later one succeeded, or after a second failure, and its write must
/// still read as lost (with only the latest range kept, it read as kept).
#[derive(Debug, Default)]
struct Durability {
    committed: u64,
    /// Writes in `after + 1..=upto` were in a commit that failed, with its message; oldest
    /// first. A range's SQLite writes may be on disk (the queue file's write failed after
    /// SQLite's commit): a flush that covers them fails all the same, which is safe.
    lost: VecDeque<(u64, u64, Arc<str>)>,
    /// Every write up to here counts as lost: the ranges dropped from `lost` past
    /// [`LOST_RANGES`] (a flush reaching back there fails, which is safe).
    forgotten_upto: u64,
    /// The paper accounts a failed SQLite transaction lost a fill of: their books in memory
    /// hold fills the file does not, until the stack is restarted
    /// ([`LocalStore::paper_fills_kept`]).
    fills_lost: Vec<(String, Arc<str>)>,
}

impl Durability {
    /// The message of a commit that lost a write numbered in `mark + 1..=target`, if any.
    fn lost_between(&self, mark: u64, target: u64) -> Option<&str> {
        if mark >= target {
            return None;
        }
        self.lost
            .iter()
            .rev()
            .find(|(after, upto, _)| *after < target && mark < *upto)
            .map(|(_, _, e)| &**e)
            .or((mark < self.forgotten_upto).then_some("an earlier commit failed"))
    }

    /// Whether the writes up to `target` are settled: committed, or `target` itself lost.
    fn settled(&self, target: u64) -> bool {
        self.committed >= target
            || self
                .lost_between(target.saturating_sub(1), target)
                .is_some()
    }

    /// The error a flush answers for writes in `mark + 1..=target`, if one was lost.
    fn verdict(&self, mark: u64, target: u64) -> Result<(), String> {
        match self.lost_between(mark, target) {
            Some(e) => Err(format!("local state: commit failed: {e}")),
            None => Ok(()),
        }
    }
}

/// What flushes ask of the committer.
#[derive(Default)]
struct Requested {
    /// The highest write number somebody waits for.
    upto: u64,
    /// The committer sleeps on `wake`: only then does a flush wake it (a notification is a
    /// system call, on every flush; a committer awake sees `upto` before it sleeps again).
    waiting: bool,
}

/// What the store and its committer thread share.
struct Shared {
    inner: Mutex<Inner>,
    /// The queues' records not written yet and what they leave standing; taken by the
    /// committer under `inner`'s lock, so its write follows the transaction's.
    queue_records: Mutex<QueueRecords>,
    /// Writes made so far; the committer reads it under `inner`'s lock.
    written: AtomicU64,
    /// The highest write number somebody waits for, and whether the committer sleeps on
    /// `wake`.
    requested: Mutex<Requested>,
    wake: Condvar,
    shutdown: AtomicBool,
    durable: tokio::sync::watch::Sender<Durability>,
    /// Set by the checkpoint thread when the log is [`RESTART_FRAMES`] long; the committer
    /// clears it once a checkpoint between two transactions has copied every frame.
    restart_due: AtomicBool,
}

/// The state file: one connection; writes grouped into transactions committed by a thread of
/// the store's own (see the crate's documentation).
pub struct LocalStore {
    shared: Arc<Shared>,
    committer: Option<std::thread::JoinHandle<()>>,
    writes: AtomicU64,
    path: String,
    /// `<path>.lock`, locked exclusively for the store's life: two processes on one state
    /// file would execute each other's messages and overwrite each other's rows.
    _lock: Option<std::fs::File>,
    /// What a trader should hear of the state at start ([`LocalStore::opening_notes`]).
    notes: Vec<String>,
    /// The `front_month_hold` rows read or written since the start, symbol → (contract,
    /// month, until in ms): a hold that needs no write is answered from here, without the
    /// state file's lock. This process is the file's only writer (`_lock`).
    holds: Mutex<HashMap<String, (String, i64, i64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Commits the open transaction, if any, then writes the queues' records, and publishes
    /// how far writes are durable.
    ///
    /// The writes counted are those made up to the moment the queue records are taken (under
    /// their lock; no SQLite write can be made meanwhile, the connection's lock is held), so
    /// a count never covers a record that is not in this write. When the transaction or the
    /// write fails, every write up to that count is reported lost, and the queue records are
    /// dropped: the next write rewrites the queue file from what stands before appending, so
    /// no later record follows a gap.
    fn commit(&self) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        let sqlite = if inner.open {
            inner.open = false;
            let r = run(&inner.conn, "COMMIT", []).map(|_| ());
            if r.is_err() && !inner.conn.is_autocommit() {
                // SQLite keeps the transaction after some failed commits (SQLITE_BUSY): end
                // it, so the next write starts afresh and the state stays a prefix.
                let _ = inner.conn.execute_batch("ROLLBACK");
            }
            r.map_err(text)
        } else {
            Ok(())
        };
        // The paper fills of a transaction SQLite did not commit are lost with it; when only
        // the queue file's write fails, they are in the file.
        let fills = if sqlite.is_err() {
            std::mem::take(&mut inner.fills_open)
        } else {
            inner.fills_open.clear();
            Vec::new()
        };
        // The queues' records after the transaction: a record that reaches the file follows
        // every SQLite write made before it.
        let (upto, result) = match sqlite {
            Ok(()) => inner.queues.write(&self.queue_records, &self.written),
            Err(e) => {
                let upto = inner
                    .queues
                    .drop_pending(&self.queue_records, &self.written);
                (upto, Err(e))
            }
        };
        match &result {
            Ok(()) => {
                self.durable
                    .send_modify(|d| d.committed = d.committed.max(upto));
                if self.restart_due.load(Ordering::Acquire) {
                    // Its waiters have heard of the commit; the next write waits for the
                    // catch-up, which must run before a transaction begins.
                    self.catch_up(&inner.conn);
                }
                // Still under the connection's lock, so no SQLite write is made after what
                // the rewrite writes; after the commit's waiters are answered.
                inner.queues.rewrite_if_due(&self.queue_records);
            }
            Err(e) => {
                tracing::error!(error = %e, "local state: commit failed, its writes are lost");
                inner.writes_lost();
                self.lost(upto, e, fills);
            }
        }
        result
    }

    /// Publishes that the writes after the last commit, up to `upto`, are lost: their flushes
    /// answer `error`. `fills`: the paper accounts whose fills SQLite lost with them.
    fn lost(&self, upto: u64, error: &str, fills: Vec<String>) {
        self.durable.send_modify(|d| {
            match d.lost.back_mut() {
                // A failure retried with no commit between (the committer tries again while a
                // flush waits): one range, so the kept ranges are not all copies of it.
                Some(last) if last.0 == d.committed => {
                    last.1 = last.1.max(upto);
                    last.2 = error.into();
                }
                _ => {
                    if d.lost.len() == LOST_RANGES
                        && let Some((_, upto, _)) = d.lost.pop_front()
                    {
                        d.forgotten_upto = upto;
                    }
                    d.lost.push_back((d.committed, upto, error.into()));
                }
            }
            for account in fills {
                if !d.fills_lost.iter().any(|(a, _)| *a == account) {
                    d.fills_lost.push((account, error.into()));
                }
            }
        });
    }

    /// The checkpoint thread's checkpoint, on `conn` (not the writer's): PASSIVE, beside the
    /// writes; a log found [`RESTART_FRAMES`] long asks the committer to catch up.
    fn checkpoint_beside(&self, conn: &Connection) {
        match wal_checkpoint(conn) {
            Ok((_, log, _)) if log >= RESTART_FRAMES => {
                self.restart_due.store(true, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "local state: checkpoint failed"),
        }
    }

    /// Checkpoints on the writer's connection, between two transactions, what the background
    /// checkpoint has not copied yet; when every frame is in the database the next write
    /// starts the log over (see [`RESTART_FRAMES`]). PASSIVE waits for nobody: busy (the
    /// background checkpoint runs) or incomplete, it is tried again after the next commit.
    fn catch_up(&self, conn: &Connection) {
        match wal_checkpoint(conn) {
            Ok((0, log, copied)) if log == copied => {
                self.restart_due.store(false, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "local state: catch-up checkpoint"),
        }
    }

    /// The committer thread: commits when a flush waits, or [`IDLE_COMMIT`] after a write,
    /// and every [`CHECKPOINT_EVERY`] commits asks the checkpoint thread for a checkpoint
    /// (from a connection of its own: in WAL mode a checkpoint runs beside the writer, and
    /// its copying and `fsync` no longer hold up the next commit and its waiters; only the
    /// occasional catch-up of [`RESTART_FRAMES`] runs on the committer).
    fn run_committer(self: Arc<Self>, checkpoint: Option<Connection>) {
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let shared = self.clone();
        let checkpointer = checkpoint.and_then(|c| {
            std::thread::Builder::new()
                .name("local-store-ckpt".into())
                .spawn(move || {
                    for () in asked {
                        shared.checkpoint_beside(&c);
                    }
                })
                .map_err(|e| tracing::warn!(error = %e, "local state: no checkpoint thread"))
                .ok()
        });
        self.commit_loop(checkpointer.is_some().then_some(&ask));
        // Ends the checkpoint thread once it has done what it was asked.
        drop(ask);
        if let Some(t) = checkpointer {
            let _ = t.join();
        }
    }

    fn commit_loop(&self, checkpoint: Option<&std::sync::mpsc::SyncSender<()>>) {
        let mut commits = 0u64;
        let mut last = std::time::Instant::now();
        // Commits that failed in a row: the next waits longer each time, up to
        // `MAX_COMMIT_BACKOFF`. A failure that stays (a full disk, a directory that cannot be
        // synced) was retried every millisecond, each try a rewrite of the whole queue file
        // under the locks and an error line.
        let mut failing = 0u32;
        loop {
            {
                let mut requested = lock(&self.requested);
                loop {
                    let done = self.durable.borrow().committed;
                    if self.shutdown.load(Ordering::Acquire) || requested.upto > done {
                        break;
                    }
                    requested.waiting = true;
                    let (guard, waited) = self
                        .wake
                        .wait_timeout(requested, IDLE_COMMIT)
                        .unwrap_or_else(|e| e.into_inner());
                    requested = guard;
                    requested.waiting = false;
                    if waited.timed_out() {
                        break;
                    }
                }
            }
            let gap = match failing {
                0 => COMMIT_GAP,
                n => (COMMIT_GAP * 2u32.saturating_pow(n.min(16))).min(MAX_COMMIT_BACKOFF),
            };
            if let Some(rest) = gap.checked_sub(last.elapsed()) {
                std::thread::sleep(rest);
            }
            last = std::time::Instant::now();
            failing = match self.commit() {
                Ok(()) => 0,
                Err(_) => failing.saturating_add(1),
            };
            commits += 1;
            if let Some(ask) = checkpoint
                && commits.is_multiple_of(CHECKPOINT_EVERY)
            {
                // Full: one is asked for already, and it will see these commits too.
                let _ = ask.try_send(());
            }
            if self.shutdown.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

impl Drop for LocalStore {
    /// Folds the paper fills, commits what is pending and stops the committer. (A file closed
    /// so holds its whole paper book in `paper_holding`, which is all an older `tvctl` reads.)
    fn drop(&mut self) {
        match self.writing() {
            Ok(guard) => {
                if let Err(e) = Self::fold_paper(&guard.conn) {
                    tracing::warn!(error = %e, "local state: paper fills not folded at close");
                }
            }
            Err(e) => tracing::warn!(error = %e, "local state: paper fills not folded at close"),
        }
        {
            // Under the lock the committer checks it in, so it cannot miss it and sleep on.
            let _requested = lock(&self.shared.requested);
            self.shared.shutdown.store(true, Ordering::Release);
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

/// Runs `sql` through the connection's statement cache: the statements are a fixed set, and
/// preparing one on every call was a large part of a write's cost.
fn run(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// The row `sql` finds, if any, read by `read`, through the statement cache as [`run`].
fn one_row<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached(sql)?.query_row(params, read).optional()
}

/// `path` with `suffix` after its whole name (`journal.state.sqlite` → `journal.state.sqlite.lock`):
/// two state files never share a lock or a queue file, as they could by their stems.
fn appended(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The queues' file of the state file at `state`: `<state>.queues`
/// (`.tvctl/journal.state.sqlite.queues`).
pub fn queue_file_path(state: &Path) -> std::path::PathBuf {
    appended(state, ".queues")
}

/// Every file a state file at `state` brings, with what each is: the state file, SQLite's
/// side files of it (`-wal`, `-shm`, and `-journal`, which WAL mode does not use but an older
/// file may hold; <https://www.sqlite.org/tempfiles.html>), its lock, the queues' file and the
/// file a rewrite of it writes first. SQLite names its side files after `real`, the path the
/// state file resolves to (its Unix VFS follows a symbolic link to the database); this store
/// names its own after `state`, as given. A start whose other files (the journal, the
/// handlers' log) are any of these would write over the state.
pub fn state_files(state: &Path, real: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let queues = queue_file_path(state);
    vec![
        ("state file", state.to_path_buf()),
        ("state file's write-ahead log", appended(real, "-wal")),
        ("state file's shared-memory index", appended(real, "-shm")),
        ("state file's rollback journal", appended(real, "-journal")),
        ("state file's lock", lock_path(state)),
        ("queue file", queues.clone()),
        ("queue file's rewrite", queue_file::new_path(&queues)),
    ]
}

/// The tables of the SQLite database at `path`, read from the database file alone (SQLite's
/// `immutable` URI parameter: no lock taken, no side file made or read,
/// <https://www.sqlite.org/uri.html#uriimmutable>); empty when it is none or cannot be read.
/// Enough to tell a journal from a state file: each one's tables are made at its first start
/// and in the file after its first checkpoint.
pub fn tables_of(path: &Path) -> Vec<String> {
    let Ok(absolute) = std::path::absolute(path) else {
        return Vec::new();
    };
    // A URI's path: `%`, `?` and `#` are its own characters.
    let escaped = absolute
        .to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(format!("file:{escaped}?immutable=1"), flags) else {
        return Vec::new();
    };
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut q| {
            q.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default()
}

/// `<state>.lock`, which [`LocalStore::open`] locks for the store's life.
pub fn lock_path(state: &Path) -> std::path::PathBuf {
    appended(state, ".lock")
}

/// Whether `table` has a column named `column`.
fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        params![table, column],
        |r| r.get(0),
    )
}

/// Creates what is missing of [`SCHEMA`], adds `queue_message.removed` to a file from before
/// it (its messages were all in their queues: removal deleted the row then),
/// `paper_fill.holdings` to one from before a fill was one row (its holdings were all in
/// `paper_holding`), `paper_fill.side` and `paper_fill.instrument` to one from before fills
/// kept them, moves idempotency records and paper fills kept without their signal's time to
/// tables keyed by it ([`IDEMPOTENCY_TABLE`], [`PAPER_FILL_TABLE`], [`rebuild_undated`]),
/// and makes [`EXPIRES_INDEX`], [`REMOVED_INDEX`] and [`PAPER_FILL_INDEX`].
fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(IDEMPOTENCY_TABLE)?;
    conn.execute_batch(PAPER_FILL_TABLE)?;
    if !has_column(conn, "idempotency", "at_ms")? {
        rebuild_undated(
            conn,
            "idempotency",
            IDEMPOTENCY_TABLE,
            "key, lease_until_ms, outcome, expires_at_ms",
        )?;
    }
    conn.execute_batch(EXPIRES_INDEX)?;
    if !has_column(conn, "queue_message", "removed")? {
        conn.execute_batch(
            "ALTER TABLE queue_message ADD COLUMN removed INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    if !has_column(conn, "paper_fill", "holdings")? {
        conn.execute_batch("ALTER TABLE paper_fill ADD COLUMN holdings TEXT")?;
    }
    // Fills from before it read back without a side (`PaperFill::side`).
    if !has_column(conn, "paper_fill", "side")? {
        conn.execute_batch("ALTER TABLE paper_fill ADD COLUMN side TEXT")?;
    }
    // Fills from before it read back without an instrument (`PaperFill::instrument`).
    if !has_column(conn, "paper_fill", "instrument")? {
        conn.execute_batch("ALTER TABLE paper_fill ADD COLUMN instrument TEXT")?;
    }
    // After the columns added since, which the rebuild copies.
    if !has_column(conn, "paper_fill", "at_ms")? {
        rebuild_undated(
            conn,
            "paper_fill",
            PAPER_FILL_TABLE,
            "account, client_order_id, order_id, quantity, price, n, holdings, side, instrument",
        )?;
    }
    conn.execute_batch(REMOVED_INDEX)?;
    conn.execute_batch(PAPER_FILL_INDEX)
}

/// Rebuilds `table`, from before its rows carried their signal's time, as `create` makes it
/// (keyed by that time), in one transaction: its rows' `columns` are kept, each row as
/// [`UNDATED`]. Its indexes go with the old table; the caller makes them after.
fn rebuild_undated(
    conn: &Connection,
    table: &str,
    create: &str,
    columns: &str,
) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "BEGIN;
         ALTER TABLE {table} RENAME TO {table}_undated;
         {create}
         INSERT INTO {table} (at_ms, {columns}) SELECT {UNDATED}, {columns} FROM {table}_undated;
         DROP TABLE {table}_undated;
         COMMIT;"
    ))
}

/// A PASSIVE checkpoint of the write-ahead log: (1 if it could not run to the end, frames in
/// the log, frames copied into the database)
/// (<https://www.sqlite.org/pragma.html#pragma_wal_checkpoint>).
fn wal_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

fn text(e: rusqlite::Error) -> String {
    e.to_string()
}

/// A fill's holdings as `paper_fill.holdings` keeps them: JSON `[[name, amount], ...]`, the
/// amounts as exact decimal text.
fn encode_holdings(holdings: &[(String, Decimal)]) -> String {
    let pairs: Vec<(&str, String)> = holdings
        .iter()
        .map(|(name, amount)| (name.as_str(), amount.to_string()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// [`encode_holdings`]'s text back; the error names what did not read.
fn decode_holdings(text: &str) -> Result<Vec<(String, Decimal)>, String> {
    let pairs: Vec<(String, String)> = serde_json::from_str(text)
        .map_err(|e| format!("paper fill holdings {text:?} do not read: {e}"))?;
    pairs
        .into_iter()
        .map(|(name, amount)| decimal(&amount).map(|a| (name, a)))
        .collect()
}

/// A paper fill not yet folded into its book: (orders count after the fill, holdings it
/// changed).
type UnfoldedFill = (i64, Vec<(String, Decimal)>);

/// `account`'s paper fills above its folded count, in order: (orders count after the fill,
/// holdings it changed). Rows without holdings are left out: an older `tvctl` wrote them and
/// folded them itself (it sets the folded count to its own fills' count, so its rows are not
/// above it anyway).
fn unfolded_fills(conn: &Connection, account: &str) -> Result<Vec<UnfoldedFill>, String> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT n, holdings FROM paper_fill
             WHERE account = ?1 AND holdings IS NOT NULL
               AND n > COALESCE((SELECT orders FROM paper_account WHERE account = ?1), 0)
             ORDER BY n",
        )
        .map_err(text)?;
    let rows = stmt
        .query_map(params![account], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(text)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(text)?;
    rows.into_iter()
        .map(|(n, h)| decode_holdings(&h).map(|h| (n, h)))
        .collect()
}

fn decimal(s: &str) -> Result<Decimal, String> {
    s.parse().map_err(|e| format!("stored amount {s:?}: {e}"))
}

impl LocalStore {
    /// Opens (or creates) the state file at `path` and its tables, its commits outliving the
    /// process only ([`shared::ports::Durability::ProcessCrash`]; paper brokers).
    ///
    /// Errors: [`OpenError`] naming the file when SQLite cannot open it or create the tables.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, shared::ports::Durability::ProcessCrash)
    }

    /// [`open`](Self::open), its commits kept as far as `durability` says: with
    /// [`PowerLoss`](shared::ports::Durability::PowerLoss), SQLite's `synchronous=FULL` and
    /// each append to the queues' file synced, both before a commit's waiters hear of it.
    ///
    /// Errors: as [`open`](Self::open).
    pub fn open_with(
        path: &Path,
        durability: shared::ports::Durability,
    ) -> Result<Self, OpenError> {
        let err = |e: rusqlite::Error| OpenError {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let lock_path = lock_path(path);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| OpenError {
                path: lock_path.display().to_string(),
                reason: e.to_string(),
            })?;
        lock.try_lock().map_err(|e| OpenError {
            path: path.display().to_string(),
            reason: format!("in use by another process (another tvctl dev?): {e}"),
        })?;
        let conn = Connection::open(path).map_err(err)?;
        // WAL: readers never block the writer, and a commit appends to the log instead of
        // rewriting pages. NORMAL: no fsync per commit (a committed write outlives the process,
        // not a power cut). No automatic checkpoint: it would run inside a commit, with an
        // fsync, while every writer waits; a thread checkpoints instead (and the committer
        // catches up now and then, see RESTART_FRAMES).
        // FULL for real brokers: the log is synced at each commit, so a claim outlives a power
        // cut before its order is sent (<https://www.sqlite.org/pragma.html#pragma_synchronous>).
        let synchronous = match durability {
            shared::ports::Durability::ProcessCrash => "NORMAL",
            shared::ports::Durability::PowerLoss => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA busy_timeout=5000;
                 PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WAL_SIZE_LIMIT};"
        ))
        .map_err(err)?;
        create_tables(&conn).map_err(err)?;
        let old_dedup: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'queue_seen'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if old_dedup {
            conn.execute_batch(&format!("BEGIN; {MIGRATE_QUEUE_SEEN} COMMIT;"))
                .map_err(err)?;
        }
        let queues =
            Self::open_queues(&conn, &queue_file_path(path)).map_err(|reason| OpenError {
                path: path.display().to_string(),
                reason,
            })?;
        let checkpoint = Connection::open(path).map_err(err)?;
        checkpoint
            .execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(err)?;
        // The tables into the file itself at once (the background checkpoints come every few
        // hundred commits): what `tables_of` reads to tell a state file from a journal.
        if let Err(e) = wal_checkpoint(&checkpoint) {
            tracing::debug!(error = %e, "local state: first checkpoint");
        }
        let (mut queue_file, queue_records, notes) = queues;
        if durability == shared::ports::Durability::PowerLoss {
            // Every rewrite of the queue file syncs its directory after the rename, and with a
            // real broker one that cannot fails (`QueueFile::sync_writes`): on a filesystem
            // that refuses to sync a directory, the first rewrite would fail every commit
            // after it. Refused here, by name, before anything is accepted.
            queue_file::sync_dir_of(path).map_err(|e| OpenError {
                path: path.display().to_string(),
                reason: format!(
                    "its folder cannot be written to disk (syncing it failed: {e}); with a \
                     real broker every accepted alert must outlive a power cut: put the state \
                     file on a local disk"
                ),
            })?;
            queue_file.sync_writes();
        }
        Self::started(
            conn,
            (queue_file, queue_records),
            Some(checkpoint),
            path.display().to_string(),
            Some(lock),
        )
        .map(|mut store| {
            store.notes = notes;
            store
        })
        .map_err(|reason| OpenError {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The store around an open connection, with its committer thread running.
    fn started(
        conn: Connection,
        (queues, queue_records): (QueueFile, QueueRecords),
        checkpoint: Option<Connection>,
        path: String,
        lock: Option<std::fs::File>,
    ) -> Result<Self, String> {
        conn.set_prepared_statement_cache_capacity(64);
        let undated = one_row(&conn, ANY_UNDATED, params![UNDATED], |r| r.get(0))
            .map_err(text)?
            .unwrap_or(false);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                conn,
                open: false,
                queues,
                latest: HashMap::new(),
                undated,
                had_undated: undated,
                fills_open: Vec::new(),
            }),
            queue_records: Mutex::new(queue_records),
            written: AtomicU64::new(0),
            requested: Mutex::new(Requested::default()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            durable: tokio::sync::watch::Sender::new(Durability::default()),
            restart_due: AtomicBool::new(false),
        });
        let committer = std::thread::Builder::new()
            .name("local-store-commit".into())
            .spawn({
                let shared = shared.clone();
                move || shared.run_committer(checkpoint)
            })
            .map_err(|e| format!("committer thread: {e}"))?;
        Ok(Self {
            shared,
            committer: Some(committer),
            writes: AtomicU64::new(0),
            path,
            _lock: lock,
            holds: Mutex::default(),
            notes: Vec::new(),
        })
    }

    /// The queues' file at `path` ([`queue_file_path`]), read; or, when there is none, made
    /// from what the state file's tables kept of the queues (a file from before the queues
    /// had a file of their own), whose rows are then deleted. With what a trader should hear
    /// of it at start.
    ///
    /// Errors: the file's ([`QueueFile::read`]), or none where the state file says it made
    /// one (moved or deleted: its queued alerts would be lost).
    fn open_queues(conn: &Connection, path: &Path) -> Result<QueuesOpened, String> {
        let rows: i64 = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM queue_message) + (SELECT COUNT(*) FROM queue_dedup)
                      + (SELECT COUNT(*) FROM queue_seq)",
                [],
                |r| r.get(0),
            )
            .map_err(text)?;
        let had_file: bool = conn
            .query_row("SELECT COUNT(*) > 0 FROM queue_file", [], |r| r.get(0))
            .map_err(text)?;
        let new = queue_file::new_path(path);
        if had_file && !path.exists() && new.exists() {
            // The first start wrote the file and recorded it here, and was killed before the
            // rename that puts it in place.
            std::fs::rename(&new, path).map_err(|e| format!("{}: {e}", path.display()))?;
            queue_file::sync_dir_or_warn(path);
        }
        if let Some((file, records, mut notes)) = QueueFile::read(path)? {
            if !had_file {
                return Err(format!(
                    "the queue file {} does not belong to this state file, which never made one \
                     (was the state file deleted or replaced?): its queued alerts would run \
                     without their idempotency records. Move it aside to start afresh, or put \
                     its state file back",
                    path.display()
                ));
            }
            if records.is_empty() && Self::has_traded(conn)? {
                // A file holding only its header although this state file has traded: what
                // the refusals advise to start afresh (or a file replaced by hand).
                tracing::warn!(file = %path.display(), "local state: the queue file holds no queue; the queues start empty");
                notes.push(format!(
                    "the queue file {} holds no queue (only its header): the queues start \
                     empty, with their sequence numbers and dedup window anew; an alert sent \
                     again that already executed still finds its idempotency record",
                    path.display()
                ));
            }
            if rows > 0 {
                // A tvctl from before wrote them after this file was made: not read.
                tracing::warn!(
                    rows,
                    file = %path.display(),
                    "local state: queue rows in the state file are ignored, the queue file holds the queues"
                );
                notes.push(format!(
                    "{rows} queue row(s) in the state file, written by an older tvctl, are not \
                     read: the queues are in {}",
                    path.display()
                ));
            }
            return Ok((file, records, notes));
        }
        if had_file {
            return Err(format!(
                "the queue file {} is missing, though this state file's queues have been kept \
                 there: its queued alerts would be lost. Put it back. {}",
                path.display(),
                queue_file::restart_empty(path)
            ));
        }
        let names: Vec<String> = {
            let mut stmt = conn
                .prepare(
                    "SELECT queue FROM queue_message UNION SELECT queue FROM queue_dedup
                     UNION SELECT queue FROM queue_seq",
                )
                .map_err(text)?;
            stmt.query_map([], |r| r.get(0))
                .map_err(text)?
                .collect::<Result<_, _>>()
                .map_err(text)?
        };
        let saved = names
            .into_iter()
            .map(|name| Self::queue_rows(conn, &name).map(|s| (name, s)))
            .collect::<Result<Vec<_>, _>>()?;
        let moved = saved.iter().map(|(_, s)| s.messages.len()).sum::<usize>();
        // The rows go and the file is recorded once the new file is on disk, before it is put
        // in place: a kill before the record starts over from the rows, one after it finds
        // the new file and puts it in place (above).
        let (file, records) = QueueFile::create(path, saved, || {
            conn.execute_batch(
                "BEGIN; DELETE FROM queue_message; DELETE FROM queue_dedup; DELETE FROM queue_seq;
                 INSERT INTO queue_file (made_at_ms) VALUES (0); COMMIT;",
            )
            .map_err(text)
        })?;
        let notes = if rows > 0 {
            vec![format!(
                "moved the queues of an older state file ({moved} queued message(s)) into {}",
                path.display()
            )]
        } else {
            Vec::new()
        };
        Ok((file, records, notes))
    }

    /// The contract a continuous symbol (`ES1!`) trades now, given the router's resolution
    /// (`shared::front_month::FrontMonthCache::hold_forward`, whose contract this keeps): the
    /// later contract held for the symbol while its hold lasts, else `routed.contract`,
    /// written as the symbol's hold. Kept in the state file, so a restart (whose front-month
    /// cache starts empty, or without market data at all, the roll rule then deciding) never
    /// sends the symbol back to an earlier contract than one it traded: the executor rolls an
    /// earlier contract into a later one, never the reverse, and would leave the account long
    /// one month and short the other. A hold that moves to another contract is committed
    /// before this answers (the intent routed to it is sent after).
    ///
    /// Errors: SQLite's message, when the hold cannot be read, written or committed.
    pub async fn hold_forward(
        &self,
        symbol: &str,
        routed: shared::front_month::Routed<'_>,
    ) -> Result<String, String> {
        let err = |e: rusqlite::Error| format!("local state: front-month hold of {symbol}: {e}");
        let now = ms(routed.now);
        // The contract to answer without a write, given the symbol's hold.
        let kept = |(contract, month, until): &(String, i64, i64)| {
            let later = *month > routed.month && *until > now;
            let same =
                contract == routed.contract && *until > ms(routed.expires_at - HOLD_REWRITE_WITHIN);
            (later || same).then(|| contract.clone())
        };
        if let Some(contract) = lock(&self.holds).get(symbol).and_then(kept) {
            return Ok(contract);
        }
        let since = self.mark();
        let moved = {
            let inner = self.writing().map_err(err)?;
            let held: Option<(String, i64, i64)> = one_row(
                &inner.conn,
                "SELECT contract, month, until_ms FROM front_month_hold WHERE symbol = ?1",
                params![symbol],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(err)?;
            if let Some(row) = held.as_ref()
                && let Some(contract) = kept(row)
            {
                lock(&self.holds).insert(symbol.to_owned(), row.clone());
                return Ok(contract);
            }
            let row = (
                routed.contract.to_owned(),
                routed.month,
                ms(routed.expires_at),
            );
            run(
                &inner.conn,
                "INSERT INTO front_month_hold (symbol, contract, month, until_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (symbol) DO UPDATE SET contract = excluded.contract,
                     month = excluded.month, until_ms = excluded.until_ms",
                params![symbol, row.0, row.1, row.2],
            )
            .map_err(err)?;
            let moved = held.as_ref().is_none_or(|(c, _, _)| c != routed.contract);
            lock(&self.holds).insert(symbol.to_owned(), row);
            moved
        };
        if moved && let Err(e) = self.flush(since).await {
            // Not on disk: the next signal writes it again.
            lock(&self.holds).remove(symbol);
            return Err(e);
        }
        Ok(routed.contract.to_owned())
    }

    /// Whether this state holds an idempotency record or a paper fill: it has executed
    /// signals. A state file that holds none is new, whether or not the file existed (a
    /// start that made it may have ended before any signal).
    ///
    /// Errors: SQLite's message.
    pub fn has_executed(&self) -> Result<bool, String> {
        Self::has_traded(&self.writing().map_err(text)?.conn)
    }

    /// Whether the state file holds an idempotency record or a paper fill: it has executed
    /// signals, so its queues have carried messages.
    fn has_traded(conn: &Connection) -> Result<bool, String> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM idempotency) OR EXISTS (SELECT 1 FROM paper_fill)",
            [],
            |r| r.get(0),
        )
        .map_err(text)
    }

    /// What the state file's tables kept of queue `queue` (files from before the queue file):
    /// its messages, every dedup id it recorded, its highest sequence number.
    fn queue_rows(conn: &Connection, queue: &str) -> Result<Saved, String> {
        let mut stmt = conn
            .prepare(
                "SELECT seq, message_id, group_id, dedup_id, body, sent_at_ms, receive_count,
                        source_queue, last_error
                 FROM queue_message WHERE queue = ?1 AND NOT removed ORDER BY seq",
            )
            .map_err(text)?;
        let messages = stmt
            .query_map(params![queue], |r| {
                Ok(Durable {
                    seq: r.get::<_, i64>(0)? as u64,
                    message_id: r.get(1)?,
                    group_id: r.get(2)?,
                    dedup_id: r.get(3)?,
                    body: r.get::<_, String>(4)?.into(),
                    sent_at: from_ms(r.get(5)?),
                    receive_count: r.get(6)?,
                    source_queue: r.get(7)?,
                    last_error: r.get(8)?,
                })
            })
            .map_err(text)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(text)?;
        let mut stmt = conn
            .prepare(
                "SELECT dedup_id, MAX(at_ms) FROM (
                     SELECT dedup_id, sent_at_ms AS at_ms FROM queue_message WHERE queue = ?1
                     UNION ALL
                     SELECT dedup_id, at_ms FROM queue_dedup WHERE queue = ?1)
                 GROUP BY dedup_id",
            )
            .map_err(text)?;
        let seen = stmt
            .query_map(params![queue], |r| {
                Ok((r.get::<_, String>(0)?, from_ms(r.get(1)?)))
            })
            .map_err(text)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(text)?;
        // The highest of a row still there (removed or not) and of what the sweep kept of
        // rows it deleted.
        let last_seq: i64 = conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT seq FROM queue_seq WHERE queue = ?1), 0),
                            COALESCE((SELECT MAX(seq) FROM queue_message WHERE queue = ?1), 0))",
                params![queue],
                |r| r.get(0),
            )
            .map_err(text)?;
        Ok(Saved {
            messages,
            seen,
            last_seq: last_seq as u64,
        })
    }

    /// How far this store's commits are kept, as its connection reports it (`PRAGMA
    /// synchronous`: FULL, 2, or more) and its queues' file is written (each append synced).
    ///
    /// Errors: the pragma cannot be read.
    pub fn durability(&self) -> Result<shared::ports::Durability, String> {
        let inner = lock(&self.shared.inner);
        let level: i64 = inner
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(text)?;
        Ok(if level >= 2 && inner.queues.syncs_writes() {
            shared::ports::Durability::PowerLoss
        } else {
            shared::ports::Durability::ProcessCrash
        })
    }

    /// How many appends to the queues' file were synced to disk before their commit returned
    /// (none unless [`durability`](Self::durability) is `PowerLoss`).
    pub fn synced_queue_writes(&self) -> u64 {
        lock(&self.shared.inner).queues.synced_writes()
    }

    /// What a trader should hear of the state at start, one line each: the queue file cut back
    /// after a kill in the middle of a write, or made from an older state file's queues.
    pub fn opening_notes(&self) -> &[String] {
        &self.notes
    }

    /// The point the store's writes have reached: take it before the writes a later
    /// [`flush`](Self::flush) answers for.
    pub fn mark(&self) -> WriteMark {
        WriteMark(self.shared.written.load(Ordering::Acquire))
    }

    /// Waits until every write made before the call is committed (group commit: one commit
    /// serves every waiter that came before it), and answers for the writes made after
    /// `since` (a [`mark`](Self::mark) taken before them).
    ///
    /// Errors: SQLite's message when a commit that held a write made after `since` failed
    /// (it is lost, and the caller must not report it done), even if later commits succeeded.
    pub async fn flush(&self, since: WriteMark) -> Result<(), String> {
        let target = self.shared.written.load(Ordering::Acquire);
        let mut rx = self.shared.durable.subscribe();
        {
            let d = rx.borrow();
            if d.settled(target) {
                return d.verdict(since.0, target);
            }
        }
        let sleeping = {
            let mut requested = lock(&self.shared.requested);
            requested.upto = requested.upto.max(target);
            requested.waiting
        };
        if sleeping {
            self.shared.wake.notify_one();
        }
        // Every lost range stays in the state, so the verdict read once settled counts the
        // failures of every commit since `since`, however many came meanwhile.
        rx.wait_for(|d| d.settled(target))
            .await
            .map_err(|_| "local state: the committer has stopped".to_owned())?
            .verdict(since.0, target)
    }

    /// Waits until every write made before the call is settled, and answers whether all that
    /// stands is in the files: `Ok` once a commit covering every write so far succeeded (the
    /// first good commit after a failed one writes the queue file again from what stands, so
    /// writes lost earlier are then on disk too); an error when the latest of them were lost.
    ///
    /// Errors: the failed commit's message, while no commit has succeeded since.
    pub async fn flush_standing(&self) -> Result<(), String> {
        let target = self.shared.written.load(Ordering::Acquire);
        self.flush(WriteMark(target)).await?;
        if self.shared.durable.borrow().committed >= target {
            Ok(())
        } else {
            Err(
                "local state: the latest commit failed, and what stands is not all on disk \
                 (an earlier write was lost)"
                    .to_owned(),
            )
        }
    }

    /// Waits until every write made before the call is committed, as [`flush`](Self::flush)
    /// does, and answers whether the paper fills of `accounts` made so far are in the file:
    /// the local stack's journal records a paper fill only after this (see `StateFirst`
    /// there), so a crash never leaves the journal holding a fill the state file lost. An
    /// account that is not a paper broker's has no fills here, and is never refused.
    ///
    /// Errors: once a transaction SQLite did not commit held a fill of one of `accounts`,
    /// until the stack is restarted (that book in memory holds a fill the file does not; a
    /// restart reads the books from the file, and the journal never recorded the lost fill).
    pub async fn paper_fills_kept<'a>(
        &self,
        accounts: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), String> {
        // A flush for no writes of the caller's: it waits, and never fails.
        self.flush(self.mark()).await?;
        let durable = self.shared.durable.borrow();
        if durable.fills_lost.is_empty() {
            return Ok(());
        }
        for account in accounts {
            if let Some((_, e)) = durable.fills_lost.iter().find(|(a, _)| a == account) {
                return Err(format!(
                    "local state: a paper fill of {account} was lost in a failed commit ({e}); \
                     its paper trades are not journaled until the stack is restarted (it then \
                     reads the paper books back from {})",
                    self.path
                ));
            }
        }
        Ok(())
    }

    /// Commits what is pending now, on the caller's thread (start-up, tests).
    ///
    /// Errors: SQLite's message.
    pub fn commit(&self) -> Result<(), String> {
        self.shared.commit()
    }

    /// Ends every lease of an in-progress idempotency record not ended already
    /// ([`HAND_OVER_SKEW`] before `now`), so the next claim takes it over and reconciles by
    /// lookup at once: called at
    /// start, when the file is locked to this process and every lease in it belonged to a
    /// process that has ended. Returns how many of them were live within `recent` (and
    /// [`HAND_OVER_SKEW`]) of `now`:
    /// attempts the last process was running when it ended, or ran until their lease ran
    /// out less than that ago, so that may have sent an order that recently (an attempt
    /// sends until its lease's last moments; a lease an `unknown` outcome kept, its signal
    /// in a dead-letter queue, has long run out).
    ///
    /// Errors: SQLite's message.
    pub fn release_leases(
        &self,
        now: DateTime<Utc>,
        recent: chrono::Duration,
    ) -> Result<usize, String> {
        let guard = self.writing().map_err(text)?;
        // A lease an earlier start ended is [`HAND_OVER_SKEW`] before that start: counted as
        // it was, so a start refused after this (a changed broker account) and the next one
        // moments later still give the broker its time to list what the killed run sent.
        let live: i64 = guard
            .conn
            .query_row(
                "SELECT COUNT(*) FROM idempotency WHERE outcome IS NULL AND lease_until_ms > ?1",
                params![ms(now - recent - HAND_OVER_SKEW)],
                |r| r.get(0),
            )
            .map_err(text)?;
        // Only leases not ended already: one long run out keeps its end, and is not counted
        // by a start after this one.
        run(
            &guard.conn,
            "UPDATE idempotency SET lease_until_ms = ?1
             WHERE outcome IS NULL AND (lease_until_ms IS NULL OR lease_until_ms > ?1)",
            params![ms(now - HAND_OVER_SKEW)],
        )
        .map_err(text)?;
        drop(guard);
        self.commit()?;
        Ok(usize::try_from(live).unwrap_or_default())
    }

    /// A state that lives in memory only (a journal that is not a file): the same tables,
    /// kept until the process ends.
    ///
    /// Errors: [`OpenError`] when SQLite cannot create the tables.
    pub fn in_memory() -> Result<Self, OpenError> {
        let err = |e: rusqlite::Error| OpenError {
            path: ":memory:".into(),
            reason: e.to_string(),
        };
        let conn = Connection::open_in_memory().map_err(err)?;
        create_tables(&conn).map_err(err)?;
        Self::started(conn, QueueFile::in_memory(), None, ":memory:".into(), None).map_err(
            |reason| OpenError {
                path: ":memory:".into(),
                reason,
            },
        )
    }

    /// The connection, for a read.
    fn conn(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared.inner)
    }

    /// One statement, written in the open transaction.
    fn write_one(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        run(&self.writing()?.conn, sql, params)
    }

    /// The connection inside the open transaction (begun if none is), for one write; the write
    /// is counted before it is made, and made under the lock the committer takes, so a flush
    /// that counts it waits for a commit that includes it.
    fn writing(&self) -> rusqlite::Result<MutexGuard<'_, Inner>> {
        let mut inner = lock(&self.shared.inner);
        if inner.open && inner.conn.is_autocommit() {
            // SQLite ended the transaction itself: after some errors (SQLITE_FULL, IOERR,
            // NOMEM) it rolls the whole transaction back
            // (<https://www.sqlite.org/lang_transaction.html#response_to_errors_within_a_transaction>).
            // Its writes are lost and their waiters must hear so; and the writes after it
            // need a transaction of their own, not one commit each outside any.
            // The queue records made since the last commit are lost with it, as a failed
            // commit loses them.
            inner.open = false;
            let fills = std::mem::take(&mut inner.fills_open);
            let upto = inner
                .queues
                .drop_pending(&self.shared.queue_records, &self.shared.written);
            tracing::error!("local state: SQLite rolled a transaction back, its writes are lost");
            inner.writes_lost();
            self.shared.lost(
                upto,
                "SQLite rolled the transaction back after an error",
                fills,
            );
        }
        if !inner.open {
            run(&inner.conn, "BEGIN", [])?;
            inner.open = true;
        }
        self.shared.written.fetch_add(1, Ordering::AcqRel);
        Ok(inner)
    }

    /// Deletes the completed idempotency records past their `expires_at` as of `now`, and
    /// folds the paper fills written since the last sweep into their books. (The queues' dedup
    /// entries leave with their queue file's rewrites.)
    ///
    /// Errors: SQLite's message, or a fill's holdings that do not read.
    pub fn sweep(&self, now: DateTime<Utc>) -> Result<(), String> {
        let mut guard = self.writing().map_err(text)?;
        Self::sweep_with(&guard.conn, now)?;
        Self::undated_left(&mut guard);
        Ok(())
    }

    fn sweep_with(conn: &Connection, now: DateTime<Utc>) -> Result<(), String> {
        Self::expire(conn, now).map_err(text)?;
        Self::fold_paper(conn)
    }

    /// Folds each account's paper fills above its folded count into `paper_holding` and
    /// `paper_account`, in order ([`PAPER_FILL_INDEX`]): a book's read then replays only
    /// the fills since the last sweep.
    fn fold_paper(conn: &Connection) -> Result<(), String> {
        let accounts = {
            let mut stmt = conn.prepare_cached(PAPER_ACCOUNTS).map_err(text)?;
            stmt.query_map([], |r| r.get::<_, String>(0))
                .map_err(text)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(text)?
        };
        for account in accounts {
            let fills = unfolded_fills(conn, &account)?;
            let Some(last) = fills.last().map(|f| f.0) else {
                continue;
            };
            // The last amount of each holding: one write each, not one per fill.
            let mut amounts = std::collections::BTreeMap::new();
            for (_, holdings) in fills {
                amounts.extend(holdings);
            }
            for (name, amount) in &amounts {
                run(
                    conn,
                    "INSERT OR REPLACE INTO paper_holding (account, name, amount)
                     VALUES (?1, ?2, ?3)",
                    params![account, name, amount.to_string()],
                )
                .map_err(text)?;
            }
            run(
                conn,
                "INSERT INTO paper_account (account, orders) VALUES (?1, ?2)
                 ON CONFLICT (account) DO UPDATE SET orders = MAX(orders, excluded.orders)",
                params![account, last],
            )
            .map_err(text)?;
        }
        Ok(())
    }

    /// Deletes what has expired as of `now` (see [`sweep`](Self::sweep)).
    fn expire(conn: &Connection, now: DateTime<Utc>) -> Result<(), rusqlite::Error> {
        run(conn, EXPIRE, params![ms(now)])?;
        Ok(())
    }

    /// [`sweep`](Self::sweep), every [`SWEEP_EVERY`] writes.
    fn maybe_sweep(&self, inner: &mut Inner, now: DateTime<Utc>) {
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !n.is_multiple_of(SWEEP_EVERY) {
            return;
        }
        if let Err(e) = Self::sweep_with(&inner.conn, now) {
            tracing::warn!(error = %e, "local state: not swept (expired records, paper fills to fold)");
        }
        Self::undated_left(inner);
    }

    /// After a sweep: whether any record kept before records were dated is left (they leave
    /// by expiry, or by their next claim). Read in the open transaction; were its writes
    /// lost, [`Inner::writes_lost`] sets the look for them on again.
    fn undated_left(inner: &mut Inner) {
        if inner.undated
            && let Ok(Some(false)) =
                one_row(&inner.conn, ANY_UNDATED, params![UNDATED], |r| r.get(0))
        {
            inner.undated = false;
        }
    }

    /// What the file kept of queue `queue`: its messages in order, its dedup window as of
    /// `now` and its highest sequence number.
    ///
    /// Errors: none since the queues have a file of their own (kept for the callers).
    pub fn queue(&self, queue: &str, now: DateTime<Utc>) -> Result<Saved, String> {
        Ok(lock(&self.shared.queue_records).saved(queue, now))
    }

    /// The accounts each broker traded, from the start each was first set
    /// ([`Self::note_broker_account`]): (broker, account, since), oldest first per broker.
    /// Empty for a state file from before they were kept.
    ///
    /// Errors: SQLite's message.
    pub fn broker_accounts(&self) -> Result<Vec<(String, String, DateTime<Utc>)>, String> {
        let guard = self.conn();
        let mut stmt = guard
            .conn
            .prepare(
                "SELECT broker, account, since_ms FROM broker_account ORDER BY broker, since_ms",
            )
            .map_err(text)?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                from_ms(r.get::<_, i64>(2)?),
            ))
        })
        .map_err(text)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(text)
    }

    /// Keeps that `broker` trades `account` from `since` (a start), when its latest account
    /// kept is another or none; committed before it returns.
    ///
    /// Errors: SQLite's message, or the commit's.
    pub fn note_broker_account(
        &self,
        broker: &str,
        account: &str,
        since: DateTime<Utc>,
    ) -> Result<(), String> {
        let guard = self.writing().map_err(text)?;
        let latest: Option<String> = guard
            .conn
            .query_row(
                "SELECT account FROM broker_account WHERE broker = ?1 ORDER BY since_ms DESC LIMIT 1",
                params![broker],
                |r| r.get(0),
            )
            .optional()
            .map_err(text)?;
        if latest.as_deref() == Some(account) {
            return Ok(());
        }
        run(
            &guard.conn,
            "INSERT OR REPLACE INTO broker_account (broker, account, since_ms) VALUES (?1, ?2, ?3)",
            params![broker, account, ms(since)],
        )
        .map_err(text)?;
        drop(guard);
        self.commit()
    }

    /// The book `account`'s paper broker kept: its holdings, its most recent fills (at most
    /// [`FILLS_IN_MEMORY`]) and its order count; `None` for an account never traded.
    ///
    /// Errors: SQLite's message, or an amount that does not parse.
    pub fn paper_book(&self, account: &str) -> Result<Option<PaperBook>, String> {
        let guard = self.conn();
        let conn = &guard.conn;
        let folded: Option<i64> = conn
            .query_row(
                "SELECT orders FROM paper_account WHERE account = ?1",
                params![account],
                |r| r.get(0),
            )
            .optional()
            .map_err(text)?;
        let unfolded = unfolded_fills(conn, account)?;
        let Some(mut orders) = folded.or_else(|| unfolded.first().map(|f| f.0)) else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare("SELECT name, amount FROM paper_holding WHERE account = ?1")
            .map_err(text)?;
        let mut holdings: std::collections::BTreeMap<String, Decimal> = stmt
            .query_map(params![account], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(text)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(text)?
            .into_iter()
            .map(|(n, a)| decimal(&a).map(|d| (n, d)))
            .collect::<Result<_, _>>()?;
        // The fills after the fold, over what it folded, in order.
        for (n, changed) in unfolded {
            holdings.extend(changed);
            orders = orders.max(n);
        }
        let mut stmt = conn
            .prepare(
                "SELECT client_order_id, order_id, quantity, price, side, instrument
                 FROM paper_fill WHERE account = ?1 ORDER BY n DESC LIMIT ?2",
            )
            .map_err(text)?;
        let rows = stmt
            .query_map(params![account, FILLS_IN_MEMORY as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                ))
            })
            .map_err(text)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(text)?;
        let mut recent = rows
            .into_iter()
            .map(|(id, row)| Ok((id, paper_fill(row)?)))
            .collect::<Result<Vec<_>, String>>()?;
        recent.reverse();
        Ok(Some(PaperBook {
            holdings,
            recent,
            orders: orders as u64,
        }))
    }

    /// [`IdempotencyStore::claim`]'s read and write, in the open transaction (not yet
    /// committed).
    fn claim_now(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let k = Self::idempotency_key(key);
        let at = ms(key.signal_time);
        let err = Self::store_error("claim");
        // Every statement under the connection's lock: no savepoint needed.
        let mut guard = self.writing().map_err(&err)?;
        let tx = &guard.conn;
        // Almost every claim is of a signal never seen: one statement claims it. Only a key
        // already held is read and judged below.
        let inserted = run(
            tx,
            "INSERT INTO idempotency (at_ms, key, lease_until_ms, outcome, expires_at_ms)
             VALUES (?1, ?2, ?3, NULL, NULL) ON CONFLICT (at_ms, key) DO NOTHING",
            params![at, k, ms(lease_until)],
        )
        .map_err(&err)?;
        let row = if inserted == 1 {
            match Self::take_undated(&guard, at, &k).map_err(&err)? {
                None => {
                    self.maybe_sweep(&mut guard, now);
                    return Ok(Claim::Acquired);
                }
                // Kept before records were dated: now under the signal's time, judged below.
                found => found,
            }
        } else {
            one_row(
                tx,
                "SELECT lease_until_ms, outcome, expires_at_ms FROM idempotency
                 WHERE at_ms = ?1 AND key = ?2",
                params![at, k],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(&err)?
        };
        let claim = match row {
            Some((_, Some(outcome), _)) => {
                let outcome = Outcome::from_name(&outcome).ok_or_else(|| StoreError {
                    reason: format!("local state: unknown stored outcome {outcome:?}"),
                })?;
                return Ok(Claim::Completed { outcome });
            }
            Some((Some(held), None, _)) if held > ms(now) => {
                return Ok(Claim::Busy {
                    lease_until: from_ms(held),
                });
            }
            Some(_) => Claim::TakenOver,
            None => Claim::Acquired,
        };
        run(
            tx,
            "INSERT OR REPLACE INTO idempotency
                 (at_ms, key, lease_until_ms, outcome, expires_at_ms)
             VALUES (?1, ?2, ?3, NULL, NULL)",
            params![at, k, ms(lease_until)],
        )
        .map_err(&err)?;
        self.maybe_sweep(&mut guard, now);
        Ok(claim)
    }

    /// The record of `key` kept before records were dated ([`UNDATED`]), if any is left:
    /// moved over the row a claim just inserted under the signal's time `at`, and returned
    /// (lease end, outcome, expiry) to be judged as a record found there.
    fn take_undated(inner: &Inner, at: i64, key: &str) -> rusqlite::Result<Option<Row>> {
        if !inner.undated {
            return Ok(None);
        }
        let tx = &inner.conn;
        let row: Option<Row> = one_row(
            tx,
            "SELECT lease_until_ms, outcome, expires_at_ms FROM idempotency
             WHERE at_ms = ?1 AND key = ?2",
            params![UNDATED, key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if let Some((lease_until, outcome, expires_at)) = &row {
            run(
                tx,
                "UPDATE idempotency SET lease_until_ms = ?3, outcome = ?4, expires_at_ms = ?5
                 WHERE at_ms = ?1 AND key = ?2",
                params![at, key, lease_until, outcome, expires_at],
            )?;
            run(
                tx,
                "DELETE FROM idempotency WHERE at_ms = ?1 AND key = ?2",
                params![UNDATED, key],
            )?;
        }
        Ok(row)
    }

    /// The text key of an idempotency record (its row is keyed by the signal's time, then
    /// this).
    fn idempotency_key(key: &IdempotencyKey) -> String {
        format!("{}#{}#{}", key.broker.as_str(), key.account, key.signal_id)
    }

    fn instrument_key(key: &InstrumentKey) -> String {
        format!("{}#{}#{}", key.broker.as_str(), key.account, key.instrument)
    }

    fn store_error(op: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError {
            reason: format!("local state {op}: {e}"),
        }
    }
}

impl LocalStore {
    /// The queues' records, for one write: counted and made under the lock the committer
    /// takes them under, so a flush that counts it waits for a write that includes it.
    fn queue_writing(&self) -> MutexGuard<'_, QueueRecords> {
        let records = lock(&self.shared.queue_records);
        self.shared.written.fetch_add(1, Ordering::AcqRel);
        records
    }
}

/// Each operation is a record in the queue file (see `queue_file`), written with the next
/// commit after the SQLite transaction.
impl QueueLog for LocalStore {
    fn mark(&self) -> WriteMark {
        LocalStore::mark(self)
    }

    fn flush(&self, since: WriteMark) -> local_sqs::Flush<'_> {
        Box::pin(LocalStore::flush(self, since))
    }

    fn flush_standing(&self) -> local_sqs::Flush<'_> {
        Box::pin(LocalStore::flush_standing(self))
    }

    fn sent(&self, queue: &str, m: &Durable) -> Result<(), String> {
        self.queue_writing().sent(queue, m)
    }

    fn received(&self, queue: &str, seq: u64, receive_count: u32) -> Result<(), String> {
        self.queue_writing().received(queue, seq, receive_count)
    }

    fn removed(&self, queue: &str, seq: u64) -> Result<(), String> {
        self.queue_writing().removed(queue, seq)
    }

    fn noted(&self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
        self.queue_writing().noted(queue, seq, error)
    }
}

impl PaperLog for LocalStore {
    fn filled(
        &self,
        account: &str,
        client_order_id: &str,
        signal_time: DateTime<Utc>,
        fill: &PaperFill,
        holdings: &[(String, Decimal)],
        orders: u64,
    ) -> Result<(), String> {
        // Under the connection's lock, after `writing` has noticed a transaction SQLite rolled
        // back: a book that lost a fill trades no more until a restart. A fill row carries the
        // holdings after it, so a later row would put the lost fill's effect back in the file
        // without the row that names it under its client order id, and a replay of its signal
        // would then fill it a second time.
        let holdings = encode_holdings(holdings);
        let mut writing = self.writing().map_err(text)?;
        if let Some((_, e)) = self
            .shared
            .durable
            .borrow()
            .fills_lost
            .iter()
            .find(|(a, _)| a == account)
        {
            return Err(format!(
                "a fill of {account} was lost in a failed commit ({e}); its paper book takes no \
                 fill until the stack is restarted and reads it back from {}",
                self.path
            ));
        }
        // One row, so one statement and no savepoint: the holdings ride on the fill, and the
        // sweep folds them into the book (PAPER_FILL_INDEX).
        run(
            &writing.conn,
            "INSERT OR REPLACE INTO paper_fill
                 (account, at_ms, client_order_id, order_id, quantity, price, n, holdings, side,
                  instrument)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                account,
                ms(signal_time),
                client_order_id,
                fill.order_id,
                fill.quantity.to_string(),
                fill.price.to_string(),
                orders as i64,
                holdings,
                fill.side.map(Side::as_str),
                fill.instrument
            ],
        )
        .map_err(text)?;
        // Noted once the row is written: a statement that failed (SQLite rolled back) made no
        // fill.
        if !writing.fills_open.iter().any(|a| a == account) {
            writing.fills_open.push(account.to_owned());
        }
        Ok(())
    }

    fn fill(
        &self,
        account: &str,
        client_order_id: &str,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<PaperFill>, String> {
        let conn = self.conn();
        // Under the signal's time, else kept from before fills were dated (PAPER_FILL_TABLE):
        // a lookup is rare (a fill memory no longer holds), so the second look is always made.
        for at in [ms(signal_time), UNDATED] {
            let row: Option<FillRow> = one_row(
                &conn.conn,
                "SELECT order_id, quantity, price, side, instrument FROM paper_fill
                 WHERE account = ?1 AND at_ms = ?2 AND client_order_id = ?3",
                params![account, at, client_order_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(text)?;
            if let Some(row) = row {
                return paper_fill(row).map(Some);
            }
        }
        Ok(None)
    }
}

/// An idempotency row's lease end, outcome and expiry (milliseconds), as stored.
type Row = (Option<i64>, Option<String>, Option<i64>);

/// A `paper_fill` row's order id, quantity, price, side and instrument, as stored.
type FillRow = (String, String, String, Option<String>, Option<String>);

/// A [`FillRow`] read back; the error names what did not read.
fn paper_fill((order_id, quantity, price, side, instrument): FillRow) -> Result<PaperFill, String> {
    let side = match side.as_deref() {
        None => None,
        Some("buy") => Some(Side::Buy),
        Some("sell") => Some(Side::Sell),
        Some(other) => return Err(format!("paper fill side {other:?} is neither buy nor sell")),
    };
    Ok(PaperFill {
        order_id,
        quantity: decimal(&quantity)?,
        price: decimal(&price)?,
        side,
        instrument,
    })
}

/// One executor's idempotency records in the state file: [`LocalStore`]'s, with whether a
/// claim waits for its commit before the executor goes on to send orders.
///
/// An order to a real broker leaves the process: its claim must be on disk first, so that a
/// crash after the order finds the lease and the takeover reconciles instead of sending again
/// ([`Claims::orders_leave`]). A paper broker's fill is written to this same file after the
/// claim, and a commit keeps the order of writes: a crash that loses the claim loses the fill
/// with it, and the signal runs again against a book that never saw it
/// ([`Claims::fills_in_this_file`]). The journal, a file of its own, is written only after a
/// flush (the local stack's `StateFirst`), which covers both.
#[derive(Debug, Clone)]
pub struct Claims {
    store: Arc<LocalStore>,
    wait: bool,
}

impl Claims {
    /// For an executor trading with a real broker: a claim waits for its commit.
    pub fn orders_leave(store: Arc<LocalStore>) -> Self {
        Self { store, wait: true }
    }

    /// For an executor trading with a paper broker that keeps its fills in `store`: a claim
    /// is committed with the fill it leads to (or lost with it).
    pub fn fills_in_this_file(store: Arc<LocalStore>) -> Self {
        Self { store, wait: false }
    }
}

impl IdempotencyStore for Claims {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        if self.wait {
            return self.store.claim(key, now, lease_until).await;
        }
        self.store.claim_now(key, now, lease_until)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.complete(key, outcome, expires_at).await
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.release(key, lease_until).await
    }

    async fn hand_over(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store.hand_over(key, lease_until, now).await
    }

    async fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.advance(key, signal_time).await
    }
}

/// The lease protocol of `DynamoIdempotencyStore` (conditional writes there, one SQLite
/// transaction here), with its expiry: as DynamoDB's TTL deletes an item some time after its
/// `expires_at`, completed records past it are deleted by the sweep every [`SWEEP_EVERY`]
/// writes.
impl IdempotencyStore for LocalStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mark = self.mark();
        let claim = self.claim_now(key, now, lease_until)?;
        if matches!(claim, Claim::Acquired | Claim::TakenOver) {
            // The claim is on disk before the executor acts on it (an order leaves): a crash
            // after the order finds the lease, and the takeover reconciles instead of sending.
            self.flush(mark)
                .await
                .map_err(|reason| StoreError { reason })?;
        }
        Ok(claim)
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // An upsert, not `INSERT OR REPLACE`: the claim's row is changed where it is, so its
        // key's index entry is not rewritten, nor its page written to the log again (a
        // replace deletes the row and inserts it anew). A completion follows its claim, which
        // moved an undated record under the signal's time; were that move lost with its
        // commit (a paper broker's claim does not wait for it), the dated row written here is
        // the record: a claim reads a dated row first, and an undated one only where none is.
        self.write_one(
            "INSERT INTO idempotency (at_ms, key, lease_until_ms, outcome, expires_at_ms)
                 VALUES (?1, ?2, NULL, ?3, ?4)
                 ON CONFLICT (at_ms, key) DO UPDATE SET lease_until_ms = NULL,
                     outcome = excluded.outcome, expires_at_ms = excluded.expires_at_ms",
            params![
                ms(key.signal_time),
                Self::idempotency_key(key),
                outcome.as_str(),
                ms(expires_at)
            ],
        )
        .map(|_| ())
        .map_err(Self::store_error("complete"))
    }

    async fn release(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Only this attempt's own claim, as `hand_over`: a later attempt's may cover orders
        // that attempt sent.
        self.write_one(
            "DELETE FROM idempotency
                 WHERE at_ms = ?1 AND key = ?2 AND outcome IS NULL AND lease_until_ms = ?3",
            params![
                ms(key.signal_time),
                Self::idempotency_key(key),
                ms(lease_until)
            ],
        )
        .map(|_| ())
        .map_err(Self::store_error("release"))
    }

    async fn hand_over(
        &self,
        key: &IdempotencyKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(
            "UPDATE idempotency SET lease_until_ms = ?4
                 WHERE at_ms = ?1 AND key = ?2 AND outcome IS NULL AND lease_until_ms = ?3",
            params![
                ms(key.signal_time),
                Self::idempotency_key(key),
                ms(lease_until),
                ms(now - HAND_OVER_SKEW)
            ],
        )
        .map(|_| ())
        .map_err(Self::store_error("hand over"))
    }

    async fn advance(
        &self,
        key: &InstrumentKey,
        signal_time: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let k = Self::instrument_key(key);
        let err = Self::store_error("advance");
        // One write after a read, both under the connection's lock: no savepoint needed. The
        // read is of memory once the key was read or written (`Inner::latest`).
        let mut guard = self.writing().map_err(&err)?;
        let inner = &mut *guard;
        let latest = match inner.latest.get(&k) {
            Some(at) => Some(*at),
            None => {
                let read: Option<i64> = one_row(
                    &inner.conn,
                    "SELECT at_ms FROM latest_signal WHERE key = ?1",
                    params![k],
                    |r| r.get(0),
                )
                .map_err(&err)?;
                if let Some(at) = read {
                    inner.remember(k.clone(), at);
                }
                read
            }
        };
        let at = ms(signal_time);
        if let Some(later) = latest.filter(|l| *l > at) {
            return Ok(Some(from_ms(later)));
        }
        if latest != Some(at) {
            run(
                &inner.conn,
                "INSERT INTO latest_signal (key, at_ms) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET at_ms = excluded.at_ms",
                params![k, at],
            )
            .map_err(&err)?;
            inner.remember(k, at);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use shared::ports::DEDUP_WINDOW;
    use shared::routing::Broker;
    use shared::signal::SignalId;

    fn t0() -> DateTime<Utc> {
        shared::clock::test_epoch()
    }

    fn key(n: u8) -> IdempotencyKey {
        IdempotencyKey {
            broker: Broker::Oanda,
            account: "101-001-1-001".into(),
            signal_id: SignalId::of_canonical(&format!("signal {n}")),
            signal_time: t0() - Duration::seconds(i64::from(n)),
        }
    }

    /// A state file's path in a directory of its own, removed (with the file's log and
    /// lock) when the returned guard is dropped.
    fn file(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("local-store-{name}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let path = dir.path().join("state.sqlite");
        (dir, path)
    }

    #[tokio::test]
    async fn the_lease_protocol_holds_across_a_reopen_and_completed_records_expire() {
        let (_dir, path) = file("lease");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let k = key(1);
        let lease = t0() + Duration::seconds(15);
        assert_eq!(s.claim(&k, t0(), lease).await, Ok(Claim::Acquired));
        drop(s);
        // The process died holding the lease: the record is still there, busy until it ends.
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let later = t0() + Duration::seconds(1);
        assert_eq!(
            s.claim(&k, later, later + Duration::seconds(15)).await,
            Ok(Claim::Busy { lease_until: lease })
        );
        let after = lease + Duration::seconds(1);
        let lease2 = after + Duration::seconds(15);
        assert_eq!(s.claim(&k, after, lease2).await, Ok(Claim::TakenOver));
        // Handing over ends only this attempt's lease.
        s.hand_over(&k, lease, after)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            s.claim(&k, after, lease2).await,
            Ok(Claim::Busy { .. })
        ));
        s.hand_over(&k, lease2, after)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.claim(&k, after, lease2).await, Ok(Claim::TakenOver));
        let expires = after + Duration::days(7);
        s.complete(&k, Outcome::Filled, expires)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.claim(&k, after, lease2).await,
            Ok(Claim::Completed {
                outcome: Outcome::Filled
            })
        );
        // Until swept, an expired record is still read (as DynamoDB's is until its TTL
        // deletion); the sweep deletes it.
        assert!(matches!(
            s.claim(&k, expires, expires + Duration::seconds(15)).await,
            Ok(Claim::Completed { .. })
        ));
        s.sweep(expires).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.claim(&k, expires, expires + Duration::seconds(15)).await,
            Ok(Claim::Acquired)
        );
        // Release drops only this attempt's in-progress record: not a later attempt's claim
        // (an attempt run past its lease, releasing after another took over).
        let held = expires + Duration::seconds(15);
        s.release(&k, lease2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.claim(&k, expires, lease2).await,
            Ok(Claim::Busy { lease_until: held }),
            "a stale release dropped a later attempt's claim"
        );
        s.release(&k, held).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.claim(&k, expires, lease2).await, Ok(Claim::Acquired));
    }

    /// At start every lease of the file ends (its process has ended); what is counted is the
    /// leases still live then or within `recent` before (an attempt that ran to its lease's
    /// end may have sent just before it), not a lease that ran out long before (an
    /// `unknown` outcome's, kept until its replay).
    #[tokio::test]
    async fn a_start_ends_every_lease_and_counts_the_live_and_recent_ones() {
        let (_dir, path) = file("release-leases");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let now = t0() + Duration::minutes(10);
        assert_eq!(
            s.claim(&key(1), t0(), t0() + Duration::seconds(15)).await,
            Ok(Claim::Acquired)
        );
        assert_eq!(
            s.claim(&key(2), now, now + Duration::seconds(15)).await,
            Ok(Claim::Acquired)
        );
        // Its lease ran out a second before the start.
        assert_eq!(
            s.claim(
                &key(3),
                now - Duration::seconds(16),
                now - Duration::seconds(1)
            )
            .await,
            Ok(Claim::Acquired)
        );
        // Its lease ran out ten seconds before: long enough for the broker to list it.
        assert_eq!(
            s.claim(
                &key(4),
                now - Duration::seconds(25),
                now - Duration::seconds(10)
            )
            .await,
            Ok(Claim::Acquired)
        );
        assert_eq!(s.release_leases(now, Duration::seconds(3)), Ok(2));
        // A start moments later (the first refused after it ended the leases, say) counts
        // the same ones: its executors wait for the broker as the first's would have.
        assert_eq!(
            s.release_leases(now + Duration::seconds(1), Duration::seconds(3)),
            Ok(2)
        );
        for n in [1, 2, 3, 4] {
            assert_eq!(
                s.claim(&key(n), now, now + Duration::seconds(15)).await,
                Ok(Claim::TakenOver),
                "key {n}"
            );
        }
    }

    /// An idempotency record of `key(n)` as a tvctl from before kept it: `(n, lease_until,
    /// outcome, expires_at)`.
    type OldRecord<'a> = (u8, Option<i64>, Option<&'a str>, Option<i64>);

    /// A state file as a tvctl from before wrote it, at `path`: idempotency records keyed by
    /// their text alone.
    fn undated_file(path: &Path, records: &[OldRecord<'_>]) {
        let conn = Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(
            "CREATE TABLE idempotency (key TEXT PRIMARY KEY, lease_until_ms INTEGER,
                 outcome TEXT, expires_at_ms INTEGER);
             CREATE INDEX idempotency_expiry ON idempotency (expires_at_ms);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (n, lease_until, outcome, expires_at) in records {
            conn.execute(
                "INSERT INTO idempotency VALUES (?1, ?2, ?3, ?4)",
                params![
                    LocalStore::idempotency_key(&key(*n)),
                    lease_until,
                    outcome,
                    expires_at
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Every idempotency row of `s` as (signal time or [`UNDATED`], key), by time.
    fn idempotency_rows(s: &LocalStore) -> Vec<(i64, String)> {
        let c = s.conn();
        let mut stmt = c
            .conn
            .prepare("SELECT at_ms, key FROM idempotency ORDER BY at_ms")
            .unwrap_or_else(|e| panic!("{e}"));
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap_or_else(|e| panic!("{e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn records_kept_before_they_were_dated_are_found_by_their_next_claim() {
        let (_dir, path) = file("undated");
        let lease = t0() + Duration::seconds(15);
        let expires = t0() + Duration::days(7);
        let day = t0() + Duration::days(1);
        undated_file(
            &path,
            &[
                (1, None, Some("filled"), Some(ms(expires))),
                (2, Some(ms(lease)), None, None),
                (3, None, Some("filled"), Some(ms(day))),
            ],
        );
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.conn().undated);
        // Completed before: completed now, and the record stays so under its signal's time.
        for _ in 0..2 {
            assert_eq!(
                s.claim(&key(1), t0(), lease).await,
                Ok(Claim::Completed {
                    outcome: Outcome::Filled
                })
            );
        }
        // Leased before: busy until the lease ends, then taken over, never acquired afresh.
        let later = t0() + Duration::seconds(1);
        assert_eq!(
            s.claim(&key(2), later, later + Duration::seconds(15)).await,
            Ok(Claim::Busy { lease_until: lease })
        );
        let after = lease + Duration::seconds(1);
        assert_eq!(
            s.claim(&key(2), after, after + Duration::seconds(15)).await,
            Ok(Claim::TakenOver)
        );
        s.complete(&key(2), Outcome::Filled, expires)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            s.claim(&key(2), after, after + Duration::seconds(15)).await,
            Ok(Claim::Completed { .. })
        ));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let dated = idempotency_rows(&s);
        // The two claimed moved under their signals' times; the third waits, undated.
        assert_eq!(
            dated,
            vec![
                (UNDATED, LocalStore::idempotency_key(&key(3))),
                (ms(key(2).signal_time), LocalStore::idempotency_key(&key(2))),
                (ms(key(1).signal_time), LocalStore::idempotency_key(&key(1))),
            ]
        );
        assert!(s.conn().undated);
        // A sweep before the last undated record expires leaves the look for them on.
        s.sweep(day - Duration::seconds(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.conn().undated);
        // The expired one leaves with a sweep, and with it the look for undated records.
        s.sweep(day).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.conn().undated);
        assert_eq!(
            s.claim(&key(3), day, day + Duration::seconds(15)).await,
            Ok(Claim::Acquired)
        );
    }

    /// A record kept before records were dated and still in progress, taken over by a claim
    /// (which moves it under its signal's time), then released or handed over: the release
    /// leaves nothing to revive (the next claim acquires afresh, as for any released
    /// record), and the hand-over ends the moved record's lease (the next claim takes it over
    /// at once, never acquires afresh), across a restart too.
    #[tokio::test]
    async fn a_moved_undated_record_is_released_and_handed_over_where_it_now_is() {
        let (_dir, path) = file("undated-moved");
        let lease = t0() + Duration::seconds(15);
        undated_file(
            &path,
            &[
                (1, Some(ms(lease)), None, None),
                (2, Some(ms(lease)), None, None),
            ],
        );
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let after = lease + Duration::seconds(1);
        let held = after + Duration::seconds(15);
        for n in [1, 2] {
            assert_eq!(s.claim(&key(n), after, held).await, Ok(Claim::TakenOver));
        }
        s.release(&key(1), held)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.hand_over(&key(2), held, after)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let rows = idempotency_rows(&s);
        // Neither undated row is left: the released record is gone, the handed-over one is
        // under its signal's time.
        assert_eq!(
            rows,
            vec![(ms(key(2).signal_time), LocalStore::idempotency_key(&key(2)))]
        );
        let next = after + Duration::seconds(1);
        assert_eq!(
            s.claim(&key(2), next, next + Duration::seconds(15)).await,
            Ok(Claim::TakenOver),
            "a handed-over record is taken over at once, never acquired afresh"
        );
        assert_eq!(
            s.claim(&key(1), next, next + Duration::seconds(15)).await,
            Ok(Claim::Acquired)
        );
    }

    /// The SQLite this workspace links is built as `.cargo/config.toml` says
    /// (`LIBSQLITE3_FLAGS`): without its memory manager, under which every connection of the
    /// process shares one page cache and its mutex (the state file's and the journal's
    /// writers then wait on each other), and without memory statistics. A build that lost
    /// the setting (run from elsewhere, or with the variable set otherwise) fails here rather
    /// than quietly running slower.
    #[test]
    fn sqlite_is_built_without_its_memory_manager_or_memory_statistics() {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .and_then(|mut s| {
                s.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let why = "the workspace's .cargo/config.toml was not read, or LIBSQLITE3_FLAGS set in \
                   the environment replaced it: it must include -USQLITE_ENABLE_MEMORY_MANAGEMENT \
                   -DSQLITE_DEFAULT_MEMSTATUS=0";
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "SQLite built with its memory manager: {why}; compile options {options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "SQLite built with memory statistics: {why}; compile options {options:?}"
        );
    }

    #[test]
    fn the_sweep_finds_expired_records_by_the_partial_index_of_completed_ones() {
        // A file from before (the full index over every record, the table rebuilt), one in
        // the new shape that kept the full index (made by a build between the two, or given
        // it again by a tvctl from before), and a new one.
        let (_dir, old) = file("expires-old");
        undated_file(&old, &[(1, None, Some("filled"), Some(ms(t0())))]);
        let (_dir2, kept) = file("expires-kept");
        drop(LocalStore::open(&kept).unwrap_or_else(|e| panic!("{e}")));
        Connection::open(&kept)
            .and_then(|c| {
                c.execute_batch(
                    "CREATE INDEX idempotency_expiry ON idempotency (expires_at_ms);
                     INSERT INTO idempotency VALUES (0, 'done', NULL, 'filled', 0);",
                )
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let (_dir3, new) = file("expires-new");
        for path in [old, kept, new] {
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            {
                let c = s.conn();
                let indexes: Vec<String> = c
                    .conn
                    .prepare(
                        "SELECT name FROM sqlite_master
                         WHERE type = 'index' AND tbl_name = 'idempotency' AND sql IS NOT NULL",
                    )
                    .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(indexes, ["idempotency_expires"], "{}", path.display());
                let plan: Vec<String> = c
                    .conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {EXPIRE}"))
                    .and_then(|mut q| q.query_map([0], |r| r.get(3))?.collect())
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    plan.iter()
                        .any(|p| p.contains("USING INDEX idempotency_expires")),
                    "{plan:?}"
                );
            }
            // The sweep deletes the expired record each file holds (none in the new one).
            s.sweep(t0()).unwrap_or_else(|e| panic!("{e}"));
            let left: i64 = s
                .conn()
                .conn
                .query_row("SELECT COUNT(*) FROM idempotency", [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(left, 0, "{}", path.display());
        }
    }

    #[tokio::test]
    async fn an_undated_record_a_lost_commit_had_moved_is_found_again() {
        let lease = t0() + Duration::seconds(15);
        let after = lease + Duration::seconds(1);
        // The committer commits on its own IDLE_COMMIT after a write; when that commit comes
        // before the rollback, the scenario starts again on a fresh file (bounded).
        for attempt in 0..50 {
            let (_dir, path) = file("undated-lost");
            // The only undated record: in progress, its lease over.
            undated_file(&path, &[(2, Some(ms(lease)), None, None)]);
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            let committed = s.shared.durable.borrow().committed;
            let mark = s.mark();
            // A paper broker's claim (no wait for its commit): the record moves under its
            // signal's time, and the store's first sweep, in the same transaction, finds no
            // undated record left.
            assert_eq!(
                s.claim_now(&key(2), after, after + Duration::seconds(15)),
                Ok(Claim::TakenOver)
            );
            assert!(!s.conn().undated, "the sweep found none left");
            if !rolled_back_since(&s, committed) {
                continue;
            }
            assert!(s.flush(mark).await.is_err(), "the moved record is not kept");
            // The record is back where it was, and the next claim finds it: taken over
            // again (it would reconcile), never acquired afresh.
            assert_eq!(
                s.claim(&key(2), after, after + Duration::seconds(15)).await,
                Ok(Claim::TakenOver),
                "attempt {attempt}"
            );
            return;
        }
        panic!("the committer committed before every rollback");
    }

    #[tokio::test]
    async fn a_claim_before_a_real_order_is_on_disk_when_it_returns() {
        let (_dir, path) = file("claims");
        let store = Arc::new(LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}")));
        let real = Claims::orders_leave(store.clone());
        let lease = t0() + Duration::seconds(15);
        assert_eq!(real.claim(&key(1), t0(), lease).await, Ok(Claim::Acquired));
        // Another connection (what a restarted process reads) sees the lease at once.
        let reader = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let held: i64 = reader
            .query_row(
                "SELECT lease_until_ms FROM idempotency WHERE key = ?1",
                params![LocalStore::idempotency_key(&key(1))],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held, ms(lease));
        // A paper executor's claims keep the same protocol.
        let paper = Claims::fills_in_this_file(store.clone());
        assert_eq!(paper.claim(&key(2), t0(), lease).await, Ok(Claim::Acquired));
        assert_eq!(
            paper.claim(&key(2), t0(), lease).await,
            Ok(Claim::Busy { lease_until: lease })
        );
        paper
            .complete(&key(2), Outcome::Filled, t0() + Duration::days(7))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            real.claim(&key(2), t0(), lease).await,
            Ok(Claim::Completed {
                outcome: Outcome::Filled
            })
        );
    }

    #[test]
    fn a_store_for_real_brokers_syncs_each_commit_and_a_paper_one_does_not() {
        let (_dir, path) = file("durability");
        let sends = |s: &LocalStore, from: u64| {
            for seq in from..from + 3 {
                s.sent("q", &message(seq, &format!("d{seq}"), t0()))
                    .unwrap_or_else(|e| panic!("{e}"));
                s.commit().unwrap_or_else(|e| panic!("{e}"));
            }
        };
        let paper = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            paper.durability(),
            Ok(shared::ports::Durability::ProcessCrash)
        );
        sends(&paper, 1);
        assert_eq!(paper.synced_queue_writes(), 0);
        drop(paper);
        // The same file opened for a real broker: each commit's log synced (FULL, read back
        // from the connection), each append to the queues' file synced before it returns.
        let real = LocalStore::open_with(&path, shared::ports::Durability::PowerLoss)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(real.durability(), Ok(shared::ports::Durability::PowerLoss));
        sends(&real, 4);
        assert_eq!(
            real.synced_queue_writes(),
            3,
            "one synced append per commit"
        );
        assert_eq!(queued(&real), [1, 2, 3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn signal_order_survives_a_reopen() {
        let (_dir, path) = file("advance");
        let k = InstrumentKey {
            broker: Broker::Oanda,
            account: "a".into(),
            instrument: "EUR_USD".into(),
        };
        {
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.advance(&k, t0()).await, Ok(None));
        }
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let older = t0() - Duration::seconds(1);
        assert_eq!(s.advance(&k, older).await, Ok(Some(t0())));
        assert_eq!(
            s.advance(&k, t0()).await,
            Ok(None),
            "equal times are not older"
        );
    }

    /// A continuous symbol's hold: a later contract held stays the answer, across a reopen
    /// (the front-month cache of a restart starts empty) and until it ends; a move to a later
    /// contract is committed before it is answered; an earlier one is never written over it.
    #[tokio::test]
    async fn a_front_month_hold_survives_a_reopen_and_never_goes_back() {
        use shared::front_month::Routed;
        let (_dir, path) = file("hold");
        let routed = |contract: &'static str, month: i64, now: DateTime<Utc>| Routed {
            contract,
            month,
            now,
            expires_at: now + shared::front_month::HELD_FOR,
        };
        {
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                s.hold_forward("ES1!", routed("ESZ6", 12, t0())).await,
                Ok("ESZ6".into())
            );
            assert_eq!(
                s.hold_forward("ES1!", routed("ESH7", 15, t0())).await,
                Ok("ESH7".into())
            );
            // Committed when answered: nothing is left for the committer to write.
            assert!(s.shared.durable.borrow().committed >= s.mark().0);
            // An earlier contract is not written over it (this process's memory).
            assert_eq!(
                s.hold_forward("ES1!", routed("ESZ6", 12, t0())).await,
                Ok("ESH7".into())
            );
        }
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        // After a reopen, from the file.
        assert_eq!(
            s.hold_forward("ES1!", routed("ESZ6", 12, t0())).await,
            Ok("ESH7".into())
        );
        // Another symbol has a hold of its own.
        assert_eq!(
            s.hold_forward("ES2!", routed("ESM7", 18, t0())).await,
            Ok("ESM7".into())
        );
        // A hold that ended no longer holds.
        let later = t0() + shared::front_month::HELD_FOR + Duration::days(1);
        assert_eq!(
            s.hold_forward("ES1!", routed("ESZ6", 12, later)).await,
            Ok("ESZ6".into())
        );
    }

    #[tokio::test]
    async fn latest_signal_times_in_memory_are_bounded_and_read_again() {
        let s = LocalStore::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let k = |n: usize| InstrumentKey {
            broker: Broker::Oanda,
            account: "a".into(),
            instrument: format!("X{n}"),
        };
        for n in 0..=LATEST_IN_MEMORY {
            assert_eq!(s.advance(&k(n), t0()).await, Ok(None));
        }
        let held = lock(&s.shared.inner).latest.len();
        assert!((1..=LATEST_IN_MEMORY).contains(&held), "{held}");
        // The first instrument's time left memory; its row still refuses an older signal.
        let older = t0() - Duration::seconds(1);
        assert_eq!(s.advance(&k(0), older).await, Ok(Some(t0())));
        assert_eq!(s.advance(&k(LATEST_IN_MEMORY), older).await, Ok(Some(t0())));
    }

    #[test]
    fn a_queue_comes_back_with_its_messages_counts_and_dedup_window() {
        let (_dir, path) = file("queue");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let m = |seq: u64, dedup: &str| Durable {
            seq,
            message_id: format!("q-{seq:08}"),
            group_id: "EURUSD".into(),
            dedup_id: dedup.into(),
            body: format!("body {dedup}").into(),
            sent_at: t0(),
            receive_count: 0,
            source_queue: None,
            last_error: None,
        };
        s.sent("q", &m(1, "a")).unwrap_or_else(|e| panic!("{e}"));
        s.sent("q", &m(2, "b")).unwrap_or_else(|e| panic!("{e}"));
        s.sent("q", &m(3, "c")).unwrap_or_else(|e| panic!("{e}"));
        s.received("q", 2, 3).unwrap_or_else(|e| panic!("{e}"));
        s.noted("q", 2, "boom").unwrap_or_else(|e| panic!("{e}"));
        s.removed("q", 3).unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(saved.messages.len(), 2);
        assert_eq!(saved.messages[1].receive_count, 3);
        assert_eq!(saved.messages[1].last_error.as_deref(), Some("boom"));
        assert_eq!(saved.last_seq, 3, "message ids are never reused");
        let mut seen: Vec<_> = saved.seen.iter().map(|(d, _)| d.as_str()).collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            ["a", "b", "c"],
            "a deleted message's dedup id is still seen"
        );
        // Five minutes on, the window has passed.
        let later = s
            .queue("q", t0() + DEDUP_WINDOW)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(later.seen.is_empty());
        assert!(
            s.queue("other", t0())
                .unwrap_or_else(|e| panic!("{e}"))
                .messages
                .is_empty()
        );
        // None of it in the state file's tables: the queues have a file of their own.
        let rows: i64 = lock(&s.shared.inner)
            .conn
            .query_row("SELECT COUNT(*) FROM queue_message", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, 0);
        // A removal after the reopen is kept too.
        s.removed("q", 1).unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = saved.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [2]);
        assert_eq!(saved.last_seq, 3);
    }

    fn message(seq: u64, dedup: &str, at: DateTime<Utc>) -> Durable {
        Durable {
            seq,
            message_id: format!("q-{seq:08}"),
            group_id: "EURUSD".into(),
            dedup_id: dedup.into(),
            body: format!("body {dedup} {}", "x".repeat(200)).into(),
            sent_at: at,
            receive_count: 0,
            source_queue: None,
            last_error: None,
        }
    }

    /// The sequence numbers queue `q` holds.
    fn queued(s: &LocalStore) -> Vec<u64> {
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        saved.messages.iter().map(|m| m.seq).collect()
    }

    /// A state file at `path` with messages 1 to 3 queued, closed; its queue file.
    fn three_queued(path: &Path) -> std::path::PathBuf {
        let s = LocalStore::open(path).unwrap_or_else(|e| panic!("{e}"));
        for seq in 1..=3 {
            s.sent("q", &message(seq, &format!("d{seq}"), t0()))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        queue_file_path(path)
    }

    fn queue_file_len(s: &LocalStore) -> u64 {
        lock(&s.shared.inner).queues.len()
    }

    #[test]
    fn the_queue_file_is_rewritten_as_what_stands_and_reads_back_the_same() {
        let (_dir, path) = file("rewrite");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        lock(&s.shared.inner).queues.compact_at(64 << 10);
        // 2,000 messages over ten minutes, each received twice and removed, but every
        // hundredth, which stays with an error noted.
        let mut largest = 0;
        for seq in 1..=2_000u64 {
            let at = t0() + Duration::milliseconds(300 * seq as i64);
            s.sent("q", &message(seq, &format!("d{seq}"), at))
                .unwrap_or_else(|e| panic!("{e}"));
            s.received("q", seq, 1).unwrap_or_else(|e| panic!("{e}"));
            s.received("q", seq, 2).unwrap_or_else(|e| panic!("{e}"));
            if seq % 100 == 0 {
                s.noted("q", seq, &format!("error {seq}"))
                    .unwrap_or_else(|e| panic!("{e}"));
            } else {
                s.removed("q", seq).unwrap_or_else(|e| panic!("{e}"));
            }
            s.commit().unwrap_or_else(|e| panic!("{e}"));
            largest = largest.max(queue_file_len(&s));
        }
        // The highest sequence number, of a message removed: kept by its own record.
        let end = t0() + Duration::milliseconds(300 * 2_000);
        s.sent("q", &message(2_001, "d2001", end))
            .unwrap_or_else(|e| panic!("{e}"));
        s.removed("q", 2_001).unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        // Records not yet written when a rewrite runs (a queue operation while the committer
        // rewrites) are written after it, and read over it change nothing.
        s.received("q", 100, 3).unwrap_or_else(|e| panic!("{e}"));
        s.received("q", 100, 2).unwrap_or_else(|e| panic!("{e}"));
        lock(&s.shared.inner)
            .queues
            .rewrite_now(&s.shared.queue_records)
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        // Without rewrites the file would end about 650 KB long. What stands (the window's
        // 1,000 dedup ids, 20 messages) is about 40 KB, and a file is rewritten at four
        // times what stood at its last rewrite.
        let end_len = queue_file_len(&s);
        assert!(largest < 200 << 10, "the file grew to {largest} bytes");
        assert!(end_len < largest, "rewritten: {end_len} bytes at the end");
        let before = s.queue("q", end).unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let after = s.queue("q", end).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = after.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=20).map(|n| n * 100).collect::<Vec<_>>());
        assert_eq!(after.messages, before.messages);
        assert!(
            after
                .messages
                .iter()
                .all(|m| m.receive_count == 2 && m.last_error == Some(format!("error {}", m.seq)))
        );
        assert_eq!(after.last_seq, 2_001);
        // The window: the last five minutes' sends (1,001 of them, removed or not), and no
        // more are kept than that (the queued messages sent before it, at most).
        let mut seen: Vec<_> = after.seen.clone();
        seen.sort_unstable();
        let mut expected: Vec<_> = before.seen.clone();
        expected.sort_unstable();
        assert_eq!(seen, expected);
        assert_eq!(seen.len(), 1_001);
        assert!(seen.iter().all(|(_, at)| *at > end - DEDUP_WINDOW));
        let kept = lock(&s.shared.queue_records).seen_len("q");
        assert!((1_001..=1_021).contains(&kept), "{kept} dedup ids kept");
    }

    /// A commit that keeps failing (a disk that stays full) is tried again less and less
    /// often, up to four times a second: it was tried every millisecond, each try a rewrite of the
    /// whole queue file under the locks and an error line. Once the disk has room the next
    /// try succeeds and later writes are kept.
    #[tokio::test]
    async fn a_commit_that_keeps_failing_is_tried_less_and_less_often() {
        let (_dir, path) = file("full-disk");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        {
            let mut inner = lock(&s.shared.inner);
            inner.queues.fail_next_write();
            inner.queues.fail_rewrites(true);
        }
        let lost = s.mark();
        s.sent("q", &message(1, "a", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.flush(lost).await.is_err());
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let tried = lock(&s.shared.inner).queues.rewrites_tried;
        assert!((1..=20).contains(&tried), "{tried} rewrites in 1.5 s");
        lock(&s.shared.inner).queues.fail_rewrites(false);
        let kept = s.mark();
        s.sent("q", &message(2, "b", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::timeout(std::time::Duration::from_secs(5), s.flush(kept))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn a_write_lost_in_a_failed_commit_reads_as_lost_after_later_commits_succeeded() {
        let (_dir, path) = file("lost-then-kept");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        // A writer's write is lost (the disk is full) before it asks for it: the commit came
        // from another waiter or the committer's own timer.
        lock(&s.shared.inner).queues.fail_next_write();
        let lost = s.mark();
        s.sent("q", &message(1, "a", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = s.commit();
        // Then another writer's write, committed; then a second failure, and another commit.
        let kept = s.mark();
        s.sent("q", &message(2, "b", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        lock(&s.shared.inner).queues.fail_next_write();
        s.sent("q", &message(3, "c", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = s.commit();
        let last = s.mark();
        s.sent("q", &message(4, "d", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        // The first writer asks only now: its write still reads as lost, after a success and
        // after a later failure (with only the latest failure kept, it read as kept).
        let failed = s.flush(lost).await;
        assert!(
            failed.as_ref().is_err_and(|e| e.contains("disk is full")),
            "{failed:?}"
        );
        // A flush answers for every write after its mark: the second writer's mark is before
        // the second failure.
        assert!(s.flush(kept).await.is_err());
        s.flush(last).await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// What a duplicate send waits for: after a commit that lost a message's send, with none
    /// good since, what stands is not all on disk (an error, where a flush from the resend's
    /// own mark answered `Ok` for no writes of its own); the next good commit writes the queue
    /// file again from what stands, the lost message with it, and then it is.
    #[tokio::test]
    async fn what_stands_is_on_disk_only_after_a_good_commit_following_a_lost_one() {
        let (_dir, path) = file("standing");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        // The disk stays full until said otherwise: the committer's own retries of the lost
        // write (after its backoff, or an idle commit on a busy machine) fail too, so the
        // state below does not depend on how fast this test runs.
        {
            let mut inner = lock(&s.shared.inner);
            inner.queues.fail_next_write();
            inner.queues.fail_rewrites(true);
        }
        let mark = s.mark();
        s.sent("q", &message(1, "a", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.flush(mark).await.is_err());
        // A resend of it writes nothing: from its own mark a flush has nothing to answer for.
        s.flush(s.mark()).await.unwrap_or_else(|e| panic!("{e}"));
        let standing = s.flush_standing().await;
        assert!(
            standing
                .as_ref()
                .is_err_and(|e| e.contains("latest commit failed")),
            "{standing:?}"
        );
        lock(&s.shared.inner).queues.fail_rewrites(false);
        // Another message, committed: the queue file is written again from what stands.
        s.sent("q", &message(2, "b", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.flush_standing().await.unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = saved.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2]);
    }

    #[tokio::test]
    async fn a_write_lost_before_more_failures_than_are_kept_still_reads_as_lost() {
        let (_dir, path) = file("many-failures");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mark = s.mark();
        lock(&s.shared.inner).queues.fail_next_write();
        s.sent("q", &message(1, "a", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        // Its waiter has counted its target (this write), and is polled again only after
        // more failures, each after a success, than the state keeps.
        let mut waiter = Box::pin(s.flush(mark));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let first = std::future::Future::poll(waiter.as_mut(), &mut cx);
        let _ = s.commit();
        for n in 2..=LOST_RANGES as u64 + 3 {
            s.commit().unwrap_or_else(|e| panic!("{e}"));
            lock(&s.shared.inner).queues.fail_next_write();
            s.sent("q", &message(n, &format!("m{n}"), t0()))
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = s.commit();
        }
        assert_eq!(s.shared.durable.borrow().lost.len(), LOST_RANGES);
        let verdict = match first {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => waiter.await,
        };
        assert!(verdict.is_err(), "the forgotten failure still counts");
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        let last = s.mark();
        s.sent("q", &message(999, "z", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.flush(last).await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn a_paper_fill_sqlite_kept_is_journaled_though_the_queue_file_write_failed() {
        // The committer commits on its own IDLE_COMMIT after a write; when it commits between
        // the fill and the queue record (whose write fails), the commit that fails holds no
        // fill, and the scenario starts again on a fresh file (bounded).
        for _ in 0..50 {
            let (_dir, path) = file("fill-kept");
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            lock(&s.shared.inner).queues.fail_next_write();
            s.filled("paper-oanda", "c1", t0(), &paper_fill(1), &[], 1)
                .unwrap_or_else(|e| panic!("{e}"));
            s.sent("q", &message(1, "a", t0()))
                .unwrap_or_else(|e| panic!("{e}"));
            {
                // Under the connection's lock no commit runs: with the fill still in the open
                // transaction, the next commit holds it and the queue record made after it.
                let inner = lock(&s.shared.inner);
                if inner.fills_open.is_empty() {
                    continue;
                }
            }
            // That commit may be the committer's own (its idle timer), and this one then
            // finds nothing to commit: started again.
            let Err(e) = s.commit() else { continue };
            assert!(e.contains("disk is full"), "{e}");
            s.paper_fills_kept(["paper-oanda"])
                .await
                .unwrap_or_else(|e| panic!("SQLite committed the fill: {e}"));
            drop(s);
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(s.fill("paper-oanda", "c1", t0()).is_ok_and(|f| f.is_some()));
            return;
        }
        panic!("the committer committed every fill before its commit could fail");
    }

    #[tokio::test]
    async fn a_failed_queue_file_write_fails_its_waiters_and_the_file_is_rewritten_before_the_next()
    {
        let (_dir, path) = file("failed-write");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        s.sent("q", &message(1, "a", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.flush(WriteMark(0))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Half of the next write reaches the file, then the disk is full.
        lock(&s.shared.inner).queues.fail_next_write();
        let mark = s.mark();
        s.sent("q", &message(2, "b", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        let failed = s.flush(mark).await;
        assert!(
            failed.is_err_and(|e| e.contains("disk is full")),
            "the send's waiter hears of it"
        );
        // The next write rewrites the file from what stands (the queue still holds message
        // 2) before anything follows: no record after a gap.
        let mark = s.mark();
        s.sent("q", &message(3, "c", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.removed("q", 1).unwrap_or_else(|e| panic!("{e}"));
        s.flush(mark).await.unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = saved.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(saved.last_seq, 3);
        assert_eq!(saved.seen.len(), 3);
    }

    #[test]
    fn state_files_never_share_a_queue_file_and_one_is_never_read_as_another_s() {
        let (_dir, dir_path) = file("named-queues");
        let named = |name: &str| dir_path.with_file_name(name);
        // Two state files with one stem: each its own queue file and lock.
        for name in ["x.db", "x.sqlite"] {
            let s = LocalStore::open(&named(name)).unwrap_or_else(|e| panic!("{e}"));
            s.sent("q", &message(1, name, t0()))
                .unwrap_or_else(|e| panic!("{e}"));
            s.commit().unwrap_or_else(|e| panic!("{e}"));
            drop(s);
            assert!(named(&format!("{name}.queues")).exists());
            assert!(named(&format!("{name}.lock")).exists());
        }
        for name in ["x.db", "x.sqlite"] {
            let s = LocalStore::open(&named(name)).unwrap_or_else(|e| panic!("{e}"));
            let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
            let ids: Vec<_> = saved.messages.iter().map(|m| m.dedup_id.as_str()).collect();
            assert_eq!(ids, [name]);
        }
        // A state file at another's queue file's path: that file is a SQLite database now,
        // and the other state file refuses it as its queue file, leaving it as it is.
        let other = named("x.sqlite.queues");
        std::fs::remove_file(&other).unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&other).unwrap_or_else(|e| panic!("{e}"));
        s.filled("paper-coinbase", "c1", t0(), &paper_fill(1), &[], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let size = || {
            std::fs::metadata(&other)
                .map(|m| m.len())
                .unwrap_or_default()
        };
        let before = size();
        let refused = LocalStore::open(&named("x.sqlite")).map(|_| ());
        assert!(
            refused.is_err_and(|e| e.to_string().contains("is a SQLite database")),
            "refused"
        );
        assert_eq!(size(), before, "left as it is");
        let s = LocalStore::open(&other).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.fill("paper-coinbase", "c1", t0())
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
        );
    }

    #[test]
    fn a_queue_file_damaged_before_its_end_or_missing_is_refused_and_left_as_it_is() {
        let (_dir, path) = file("damaged");
        let queues = three_queued(&path);
        let good = std::fs::read(&queues).unwrap_or_else(|e| panic!("{e}"));
        // A byte of the first record's body, then of its length: records follow it.
        for at in [queue_file::MAGIC.len() + 20, queue_file::MAGIC.len() + 2] {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            std::fs::write(&queues, &bad).unwrap_or_else(|e| panic!("{e}"));
            let refused = LocalStore::open(&path).map(|_| ());
            assert!(
                refused.is_err_and(|e| e.to_string().contains("is damaged at byte 8")),
                "byte {at}"
            );
            assert_eq!(
                std::fs::read(&queues).ok().as_ref(),
                Some(&bad),
                "left as it is"
            );
        }
        // Moved away: refused too, since the state file kept its queues there.
        std::fs::remove_file(&queues).unwrap_or_else(|e| panic!("{e}"));
        let refused = LocalStore::open(&path).map(|_| ());
        assert!(refused.is_err_and(|e| e.to_string().contains("is missing")));
        // Emptied: refused as well.
        std::fs::write(&queues, b"").unwrap_or_else(|e| panic!("{e}"));
        let refused = LocalStore::open(&path).map(|_| ());
        assert!(refused.is_err_and(|e| e.to_string().contains("is empty")));
        // Put back, all is there.
        std::fs::write(&queues, &good).unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queued(&s), [1, 2, 3]);
        assert!(s.opening_notes().is_empty());
        s.filled("paper-coinbase", "c1", t0(), &paper_fill(1), &[], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        // Left where the first start's rename would have put it (killed just before): put
        // in place.
        std::fs::rename(&queues, queue_file::new_path(&queues)).unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queued(&s), [1, 2, 3]);
        drop(s);
        // What the refusals advise, to start with empty queues and keep the books: a file
        // holding only the header.
        std::fs::write(&queues, queue_file::MAGIC).unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(queued(&s).is_empty());
        // Said at start: this state file has traded, so its queues were not empty before.
        assert!(
            s.opening_notes()
                .iter()
                .any(|n| n.contains("holds no queue") && n.contains("start empty")),
            "{:?}",
            s.opening_notes()
        );
        assert!(
            s.fill("paper-coinbase", "c1", t0())
                .unwrap_or_else(|e| panic!("{e}"))
                .is_some()
        );
        drop(s);
        // The state file gone, its queue file left: refused, since the queued alerts would
        // run without their idempotency records.
        std::fs::write(&queues, &good).unwrap_or_else(|e| panic!("{e}"));
        for side in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{side}", path.display()));
        }
        let refused = LocalStore::open(&path).map(|_| ());
        assert!(
            refused.is_err_and(|e| e.to_string().contains("does not belong to this state file"))
        );
        assert_eq!(std::fs::read(&queues).ok(), Some(good));
    }

    #[test]
    fn a_state_that_never_traded_starts_its_empty_queue_file_without_a_note() {
        let (_dir, path) = file("fresh");
        drop(LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            std::fs::read(queue_file_path(&path)).ok().as_deref(),
            Some(&queue_file::MAGIC[..])
        );
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.opening_notes().is_empty(), "{:?}", s.opening_notes());
    }

    #[test]
    fn the_directory_written_to_disk_after_a_rename_is_the_file_s_own() {
        let (_dir, path) = file("state.db");
        queue_file::sync_dir_of(&queue_file_path(&path)).unwrap_or_else(|e| panic!("{e}"));
        // A bare file name is in the current directory.
        queue_file::sync_dir_of(Path::new("state.queues")).unwrap_or_else(|e| panic!("{e}"));
        // The directory of the path, not the current one: a directory that does not exist
        // cannot be opened.
        let missing = path.with_file_name("no-such-dir").join("state.queues");
        let e = queue_file::sync_dir_of(&missing).err();
        assert_eq!(e.map(|e| e.kind()), Some(std::io::ErrorKind::NotFound));
    }

    #[test]
    fn a_queue_file_cut_short_by_a_kill_reads_up_to_its_last_whole_record() {
        let (_dir, path) = file("torn");
        let queues = three_queued(&path);
        let whole = std::fs::metadata(&queues)
            .unwrap_or_else(|e| panic!("{e}"))
            .len();
        // The start of a fourth message's record, as a kill in the middle of a write leaves it.
        let mut torn = Vec::new();
        queue_file::tests::sent_record(&mut torn, "q", &message(4, "d4", t0()));
        let mut bytes = std::fs::read(&queues).unwrap_or_else(|e| panic!("{e}"));
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        std::fs::write(&queues, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.opening_notes()
                .iter()
                .any(|n| n.contains("cut back") && n.contains("nothing it answered is lost")),
            "{:?}",
            s.opening_notes()
        );
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = saved.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(
            std::fs::metadata(&queues)
                .unwrap_or_else(|e| panic!("{e}"))
                .len(),
            whole,
            "cut back to its last whole record"
        );
        drop(s);
        // Zeros after the records (a file extended but never written) read as their end too.
        let mut bytes = std::fs::read(&queues).unwrap_or_else(|e| panic!("{e}"));
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(&queues, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queued(&s).len(), 3);
        // What comes next follows it and is read back.
        s.sent("q", &message(4, "d4", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let mut bytes = std::fs::read(&queues).unwrap_or_else(|e| panic!("{e}"));
        let last = bytes.len() - 1;
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let seqs = queued(&s);
        assert_eq!(seqs, [1, 2, 3, 4]);
        drop(s);
        // A last record whose bytes are all there but fail its checksum is damage, not a
        // write cut short: refused, the file left as it is.
        bytes[last] ^= 0xff;
        std::fs::write(&queues, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let refused = LocalStore::open(&path)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let said = refused.clone().err().unwrap_or_default();
        assert!(said.contains("is damaged at byte"), "{said}");
        assert_eq!(std::fs::read(&queues).ok(), Some(bytes));
        // Done as the refusal says (`truncate -s N`), the start keeps what came before the
        // damage: the first three messages.
        let n: u64 = said
            .split("truncate -s ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{said}"));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&queues)
            .and_then(|f| f.set_len(n))
            .unwrap_or_else(|e| panic!("{e}"));
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(queued(&s), [1, 2, 3]);
    }

    #[test]
    fn a_file_from_before_removed_rows_were_kept_opens_with_its_messages() {
        let (_dir, path) = file("old-queue");
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            conn.execute_batch(&format!(
                "CREATE TABLE queue_message (
                     queue TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL,
                     group_id TEXT NOT NULL, dedup_id TEXT NOT NULL, body TEXT NOT NULL,
                     sent_at_ms INTEGER NOT NULL, receive_count INTEGER NOT NULL,
                     source_queue TEXT, last_error TEXT, PRIMARY KEY (queue, seq));
                 CREATE TABLE queue_dedup (
                     queue TEXT NOT NULL, dedup_id TEXT NOT NULL, at_ms INTEGER NOT NULL);
                 CREATE TABLE queue_seq (queue TEXT PRIMARY KEY, seq INTEGER NOT NULL);
                 INSERT INTO queue_message VALUES ('q', 7, 'q-00000007', 'EURUSD', 'b', 'body',
                     {at}, 1, NULL, NULL);
                 INSERT INTO queue_dedup VALUES ('q', 'a', {at}), ('q', 'b', {at});
                 INSERT INTO queue_seq VALUES ('q', 9);",
                at = ms(t0())
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = saved.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [7]);
        assert_eq!(saved.last_seq, 9);
        let mut seen: Vec<_> = saved.seen.iter().map(|(d, _)| d.as_str()).collect();
        seen.sort_unstable();
        assert_eq!(seen, ["a", "b"]);
        // Moved to the queue file: the rows are gone, and the next start reads the file.
        let rows: i64 = lock(&s.shared.inner)
            .conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM queue_message) + (SELECT COUNT(*) FROM queue_dedup)
                      + (SELECT COUNT(*) FROM queue_seq)",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, 0);
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let again = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.messages, saved.messages);
        assert_eq!(again.last_seq, 9);
        assert_eq!(again.seen.len(), 2);
        // And it takes the new writes.
        s.removed("q", 7).unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            s.queue("q", t0())
                .unwrap_or_else(|e| panic!("{e}"))
                .messages
                .is_empty()
        );
    }

    #[test]
    fn a_sequence_number_given_twice_is_refused_and_leaves_nothing() {
        let (_dir, path) = file("failed-send");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        s.sent("q", &message(1, "a", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.sent("q", &message(2, "b", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        // A sequence number given twice is refused: message ids are never reused.
        let refused = s.sent("q", &message(2, "bad", t0()));
        assert!(refused.is_err_and(|e| e.contains("sequence number 2 given twice")));
        s.sent("q", &message(3, "c", t0()))
            .unwrap_or_else(|e| panic!("{e}"));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<_> = saved.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3], "nothing of the refused send");
        assert_eq!(saved.messages[1].dedup_id, "b");
        let mut seen: Vec<_> = saved.seen.iter().map(|(d, _)| d.as_str()).collect();
        seen.sort_unstable();
        assert_eq!(seen, ["a", "b", "c"]);
        assert_eq!(saved.last_seq, 3);
    }

    #[tokio::test]
    async fn a_transaction_sqlite_rolled_back_fails_its_waiters_and_not_the_writes_after_it() {
        // Found by the next write (`writing`), or by the commit (which fails).
        rolled_back(false).await;
        rolled_back(true).await;
    }

    /// Rolls the open transaction back, as SQLite does on its own after SQLITE_FULL or an I/O
    /// error, when every write since the commit numbered `committed` is in it (no commit
    /// since); false when one came first. Under the writer's lock, so no commit can slip in
    /// between the check and the rollback.
    fn rolled_back_since(s: &LocalStore, committed: u64) -> bool {
        let inner = lock(&s.shared.inner);
        if !inner.open
            || inner.conn.is_autocommit()
            || s.shared.durable.borrow().committed != committed
        {
            return false;
        }
        inner
            .conn
            .execute_batch("ROLLBACK")
            .unwrap_or_else(|e| panic!("{e}"));
        true
    }

    async fn rolled_back(commit_first: bool) {
        // Paper fills: rows of the state file's SQLite transaction.
        // The book whose fill is lost, and another one, which goes on trading.
        let (lost_book, other_book) = ("paper-coinbase", "paper-oanda");
        let fill = |s: &LocalStore, account: &str, n: u64| {
            s.filled(account, &format!("c{n}"), t0(), &paper_fill(n), &[], n)
        };
        let instrument = InstrumentKey {
            broker: Broker::Coinbase,
            account: "paper-coinbase".into(),
            instrument: "BTC-USD".into(),
        };
        // The committer commits on its own IDLE_COMMIT after a write; when that commit comes
        // between the write and the rollback there is nothing to roll back, and the
        // scenario starts again on a fresh file (bounded).
        for attempt in 0..50 {
            let (_dir, path) = file("rolled-back");
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            // An instrument's latest signal written and committed (so memory holds it),
            // then moved on in the transaction that is rolled back, before its fill.
            assert_eq!(s.advance(&instrument, t0()).await, Ok(None));
            s.flush(WriteMark(0))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let committed = s.shared.durable.borrow().committed;
            let mark = s.mark();
            let lost_time = t0() + chrono::Duration::seconds(10);
            assert_eq!(s.advance(&instrument, lost_time).await, Ok(None));
            fill(&s, lost_book, 1).unwrap_or_else(|e| panic!("{e}"));
            // A queue record in the same commit.
            s.sent("q", &message(1, "a", t0()))
                .unwrap_or_else(|e| panic!("{e}"));
            if !rolled_back_since(&s, committed) {
                continue;
            }
            if commit_first {
                // Fails here, or in the committer if it came first.
                let _ = s.commit();
            }
            // A waiter for the first write: polled once, so it has counted its target. The
            // committer may already have failed the commit, and then it is ready at once.
            let mut lost = Box::pin(s.flush(mark));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let first = std::future::Future::poll(lost.as_mut(), &mut cx);
            fill(&s, other_book, 2).unwrap_or_else(|e| panic!("{e}"));
            s.sent("q", &message(2, "b", t0()))
                .unwrap_or_else(|e| panic!("{e}"));
            let outcome = match first {
                std::task::Poll::Ready(r) => {
                    drop(lost);
                    r
                }
                std::task::Poll::Pending => lost.await,
            };
            assert!(
                outcome.is_err(),
                "the rolled-back write is not reported kept"
            );
            let refused = s.paper_fills_kept(["other", "paper-coinbase"]).await;
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.contains("paper-coinbase") && e.contains("restarted")),
                "the journal records no fill of that book until a restart reads it back: \
                 {refused:?}"
            );
            s.paper_fills_kept(["paper-oanda"])
                .await
                .unwrap_or_else(|e| panic!("another book's fills are journaled: {e}"));
            // Nor does that book take another fill, whose row would carry the lost fill's
            // holdings into the file without the row that names it.
            let more = fill(&s, lost_book, 3);
            assert!(
                more.as_ref().is_err_and(|e| e.contains("restarted")),
                "{more:?}"
            );
            // The rolled-back time is not remembered: a signal between the two is in order.
            let mark = s.mark();
            let between = t0() + chrono::Duration::seconds(5);
            assert_eq!(
                s.advance(&instrument, between).await,
                Ok(None),
                "attempt {attempt}, {commit_first}"
            );
            s.flush(mark)
                .await
                .unwrap_or_else(|e| panic!("the write after it is kept: {e}"));
            drop(s);
            let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
            let kept = |account: &str, n: u64| {
                s.fill(account, &format!("c{n}"), t0())
                    .unwrap_or_else(|e| panic!("{e}"))
                    .is_some()
            };
            assert!(
                !kept(lost_book, 1) && kept(other_book, 2) && !kept(lost_book, 3),
                "attempt {attempt}, {commit_first}"
            );
            s.paper_fills_kept(["paper-coinbase"])
                .await
                .unwrap_or_else(|e| panic!("restarted, the book is the file's: {e}"));
            // The queue record dropped with the transaction left no gap: the file was
            // rewritten from what the queue holds (both messages) before the next record.
            let seqs = queued(&s);
            assert_eq!(seqs, [1, 2], "attempt {attempt}, {commit_first}");
            return;
        }
        panic!("the committer committed every first write before it could be rolled back");
    }

    #[test]
    fn a_file_with_the_keyed_dedup_table_keeps_its_window_when_opened() {
        let (_dir, path) = file("old-dedup");
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            conn.execute_batch(&format!(
                "CREATE TABLE queue_seen (
                     queue TEXT NOT NULL, dedup_id TEXT NOT NULL, at_ms INTEGER NOT NULL,
                     PRIMARY KEY (queue, dedup_id));
                 INSERT INTO queue_seen VALUES ('q', 'a', {});",
                ms(t0())
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s.queue("q", t0()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(saved.seen, [("a".to_owned(), t0())]);
        drop(s);
        // Opened again: migrated once, nothing doubled.
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.queue("q", t0())
                .unwrap_or_else(|e| panic!("{e}"))
                .seen
                .len(),
            1
        );
    }

    #[test]
    fn a_dedup_id_accepted_again_after_its_window_comes_back_once_with_its_last_time() {
        let (_dir, path) = file("dedup-again");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let m = |seq: u64, at: DateTime<Utc>| Durable {
            seq,
            message_id: format!("q-{seq:08}"),
            group_id: "EURUSD".into(),
            dedup_id: "a".into(),
            body: "".into(),
            sent_at: at,
            receive_count: 0,
            source_queue: None,
            last_error: None,
        };
        let again = t0() + DEDUP_WINDOW + Duration::seconds(1);
        s.sent("q", &m(1, t0())).unwrap_or_else(|e| panic!("{e}"));
        s.sent("q", &m(2, again)).unwrap_or_else(|e| panic!("{e}"));
        // Seen from a time when both are inside a window: one entry, the later time.
        let saved = s
            .queue("q", t0() + Duration::seconds(2))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(saved.seen, [("a".to_owned(), again)]);
        // And so after a restart, read from the queue file.
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let saved = s
            .queue("q", t0() + Duration::seconds(2))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(saved.seen, [("a".to_owned(), again)]);
    }

    /// The write-ahead log's checkpoint sequence number (bytes 12..16 of its header), which
    /// SQLite raises each time the log starts over (<https://www.sqlite.org/fileformat.html#walformat>).
    fn wal_restarts(path: &Path) -> Option<u32> {
        let wal = std::fs::read(path.with_extension("sqlite-wal")).ok()?;
        Some(u32::from_be_bytes(wal.get(12..16)?.try_into().ok()?))
    }

    #[test]
    fn the_write_ahead_log_starts_over_under_steady_writes() {
        let (_dir, path) = file("wal");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let checkpoints = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        // Paper fills, each with a holding of 8 KiB (a name of that length): a few pages a
        // commit, as the steady writes of a run.
        let name = "x".repeat(8 << 10);
        // As under load: the checkpoint thread's checkpoint always runs while a transaction
        // is open, so it never finds the log fully copied when the next one begins; only the
        // committer's catch-up lets the log start over.
        let bound = 3 * RESTART_FRAMES as u64 * 4096;
        let mut first = None;
        for seq in 1..=20_000u64 {
            s.filled(
                "paper-coinbase",
                &format!("c{seq}"),
                t0(),
                &paper_fill(seq),
                &[(format!("{name}{seq}"), Decimal::ONE)],
                seq,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            s.shared.checkpoint_beside(&checkpoints);
            s.commit().unwrap_or_else(|e| panic!("{e}"));
            let size = std::fs::metadata(path.with_extension("sqlite-wal"))
                .map(|m| m.len())
                .unwrap_or_default();
            assert!(size <= bound, "the log is {size} bytes after {seq} writes");
            let restarts = wal_restarts(&path);
            match first {
                None => first = restarts,
                Some(n) if restarts.is_some_and(|r| r > n) => return,
                Some(_) => {}
            }
        }
        panic!("the log never started over");
    }

    #[test]
    fn a_paper_book_comes_back_with_its_holdings_and_fills() {
        let (_dir, path) = file("paper");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.paper_book("paper-oanda").unwrap_or_default().is_none());
        let fill = |n: u64| PaperFill {
            order_id: format!("paper-{n}"),
            quantity: Decimal::from(1000),
            price: "1.08345".parse().unwrap_or_default(),
            side: Some(if n == 1 { Side::Buy } else { Side::Sell }),
            instrument: Some("EUR_USD".into()),
        };
        s.filled(
            "paper-oanda",
            "c1",
            t0(),
            &fill(1),
            &[("EUR_USD".into(), Decimal::from(1000))],
            1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.filled(
            "paper-oanda",
            "c2",
            t0(),
            &fill(2),
            &[("EUR_USD".into(), Decimal::from(-1000))],
            2,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // What a restart after a kill reads: nothing folded yet, both fills replayed in order.
        let live = read_book(&s, "paper-oanda");
        assert_eq!(live.orders, 2);
        assert_eq!(live.holdings.get("EUR_USD"), Some(&Decimal::from(-1000)));
        assert_eq!(holding_rows(&s), 0, "no sweep yet");
        drop(s);
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(holding_rows(&s), 1, "a closed store folded its fills");
        let book = read_book(&s, "paper-oanda");
        assert_eq!(book.orders, 2);
        assert_eq!(book.holdings.get("EUR_USD"), Some(&Decimal::from(-1000)));
        let ids: Vec<_> = book.recent.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"], "oldest first");
        // Each fill whole, its side and instrument too: what a takeover journals.
        assert_eq!(book.recent[0].1, fill(1));
        assert_eq!(s.fill("paper-oanda", "c2", t0()), Ok(Some(fill(2))));
        assert_eq!(s.fill("paper-oanda", "c3", t0()), Ok(None));
        // Found under its signal's time only (or undated, from a file from before).
        assert_eq!(
            s.fill("paper-oanda", "c2", t0() + Duration::milliseconds(1)),
            Ok(None)
        );
    }

    /// `account`'s book as a restart reads it (an empty one when it never traded).
    fn read_book(s: &LocalStore, account: &str) -> PaperBook {
        s.paper_book(account)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default()
    }

    fn holding_rows(s: &LocalStore) -> i64 {
        s.conn()
            .conn
            .query_row("SELECT COUNT(*) FROM paper_holding", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn paper_fill(n: u64) -> PaperFill {
        PaperFill {
            order_id: format!("paper-{n}"),
            quantity: Decimal::from(n),
            price: Decimal::from(100 + n),
            side: Some(Side::Buy),
            instrument: Some("BTC-USD".into()),
        }
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_paper_book_folded_by_a_sweep_comes_back_with_the_fills_after_it() {
        let (_dir, path) = file("paper-fold");
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let spot = |s: &LocalStore, id: &str, n: u64, btc: &str, usd: &str| {
            s.filled(
                "paper-coinbase",
                id,
                t0(),
                &paper_fill(n),
                &[("BTC".into(), dec(btc)), ("USD".into(), dec(usd))],
                n,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        };
        spot(&s, "c1", 1, "0.5", "50000");
        spot(&s, "c2", 2, "0.25", "75000");
        // Another account's fill is folded with them and stays its own.
        s.filled(
            "paper-oanda",
            "o1",
            t0(),
            &paper_fill(1),
            &[("EUR_USD".into(), Decimal::from(-1000))],
            1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.sweep(t0()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            holding_rows(&s),
            3,
            "BTC and USD of one account, EUR_USD of the other"
        );
        // After the fold: BTC changes twice, USD once; the folded amounts are older.
        spot(&s, "c3", 3, "0", "100000");
        s.filled(
            "paper-coinbase",
            "c4",
            t0(),
            &paper_fill(4),
            &[("BTC".into(), dec("0.1"))],
            4,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // What a restart after a kill reads: the fold, then the two fills after it, in order.
        let live = read_book(&s, "paper-coinbase");
        assert_eq!(live.orders, 4);
        assert_eq!(live.holdings.get("BTC"), Some(&dec("0.1")));
        assert_eq!(live.holdings.get("USD"), Some(&dec("100000")));
        s.commit().unwrap_or_else(|e| panic!("{e}"));
        drop(s);

        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let book = read_book(&s, "paper-coinbase");
        assert_eq!(book.orders, 4);
        assert_eq!(book.holdings, live.holdings);
        let ids: Vec<_> = book.recent.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2", "c3", "c4"]);
        let oanda = read_book(&s, "paper-oanda");
        assert_eq!(oanda.orders, 1);
        assert_eq!(oanda.holdings.len(), 1);
        assert_eq!(oanda.holdings.get("EUR_USD"), Some(&Decimal::from(-1000)));
        // A second sweep folds the last fill too, and the book reads the same.
        s.sweep(t0()).unwrap_or_else(|e| panic!("{e}"));
        let again = read_book(&s, "paper-coinbase");
        assert_eq!((again.orders, again.holdings), (book.orders, book.holdings));
    }

    #[test]
    fn a_file_from_before_fills_carried_their_holdings_keeps_its_book() {
        let (_dir, path) = file("old-paper");
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            conn.execute_batch(
                "CREATE TABLE paper_holding (
                     account TEXT NOT NULL, name TEXT NOT NULL, amount TEXT NOT NULL,
                     PRIMARY KEY (account, name));
                 CREATE TABLE paper_fill (
                     account TEXT NOT NULL, client_order_id TEXT NOT NULL,
                     order_id TEXT NOT NULL, quantity TEXT NOT NULL, price TEXT NOT NULL,
                     n INTEGER NOT NULL, PRIMARY KEY (account, client_order_id));
                 CREATE TABLE paper_account (account TEXT PRIMARY KEY, orders INTEGER NOT NULL);
                 INSERT INTO paper_fill VALUES ('a', 'c1', 'paper-1', '1000', '1.1', 1),
                     ('a', 'c2', 'paper-2', '2000', '1.2', 2);
                 INSERT INTO paper_holding VALUES ('a', 'EUR_USD', '-1000');
                 INSERT INTO paper_account VALUES ('a', 2);",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let book = read_book(&s, "a");
        assert_eq!(book.orders, 2);
        assert_eq!(book.holdings.get("EUR_USD"), Some(&Decimal::from(-1000)));
        assert_eq!(book.recent.len(), 2);
        // Their sides were not kept: they read back without one (the file gained the column).
        assert!(
            book.recent
                .iter()
                .all(|(_, f)| f.side.is_none() && f.instrument.is_none()),
            "{book:?}"
        );
        assert_eq!(
            s.fill("a", "c2", t0()).map(|f| f.map(|f| f.side)),
            Ok(Some(None))
        );
        drop(s);
        // A newer tvctl killed after a fill it had not folded yet, then an older one that
        // reads only the folded book and writes its next fill the old way (folding it itself):
        // the older tool's fill is the book's latest, and the newer row is not replayed over it.
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            conn.execute_batch(
                "INSERT INTO paper_fill (account, client_order_id, order_id, quantity, price, n,
                     holdings) VALUES ('a', 'c3', 'paper-3', '2000', '1.3', 3,
                     '[[\"EUR_USD\",\"1000\"]]');
                 INSERT INTO paper_fill (account, client_order_id, order_id, quantity, price, n)
                     VALUES ('a', 'c3-old', 'paper-3', '2000', '1.3', 3),
                            ('a', 'c4', 'paper-4', '1000', '1.4', 4);
                 INSERT OR REPLACE INTO paper_holding VALUES ('a', 'EUR_USD', '-2000');
                 INSERT OR REPLACE INTO paper_account VALUES ('a', 4);",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let s = LocalStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let book = read_book(&s, "a");
        assert_eq!(book.orders, 4);
        assert_eq!(book.holdings.get("EUR_USD"), Some(&Decimal::from(-2000)));
        s.sweep(t0()).unwrap_or_else(|e| panic!("{e}"));
        let swept = read_book(&s, "a");
        assert_eq!(swept.holdings.get("EUR_USD"), Some(&Decimal::from(-2000)));
        assert_eq!(swept.orders, 4);
    }
}
