//! The queues' part of the state: an append-only file of records (`<state file>.queues`, e.g.
//! `.tvctl/journal.state.sqlite.queues`) and, in memory, what those records leave standing: each
//! queue's messages, its dedup window and its highest sequence number.
//!
//! The file starts with [`MAGIC`]. A queue operation appends one record to a buffer; the store's committer writes the buffer
//! with its commit, after the SQLite transaction (see [`crate::LocalStore`]), so the file
//! always holds a prefix of the operations in order (records dropped by a failed write make
//! the next write rewrite the file from what stands first). A record is framed as its length
//! (`u32`, little-endian), the CRC-32 of the length, the CRC-32 of its bytes and the bytes: a
//! start after a kill reads the records up to the last whole one and cuts back a record cut
//! short (its bytes past the file's end) or zeros after it; damage anywhere else (a length or
//! a record failing its checksum with more of the file after it, a file that does not start
//! with [`MAGIC`]) refuses the start and leaves the file as it is, so that no alert queued
//! after it is dropped unseen. Once the file is [`COMPACT_BYTES`] long (or four times what is
//! left standing, if more) the committer writes what is standing into a new file and renames
//! it over the old one (a rename replaces a file atomically:
//! <https://pubs.opengroup.org/onlinepubs/9799919799/functions/rename.html>), so the file stays
//! bounded by the backlog and the dedup window.
//!
//! Each operation was a SQLite statement before (a row per message, updated on each receive
//! and removal), and the state file's writes, commits and checkpoints of those rows were
//! about a fifth of the local stack's CPU per signal.

use chrono::{DateTime, Utc};
use local_sqs::{Durable, Saved};
use shared::ports::DEDUP_WINDOW;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The first bytes of a queue file, before its records: a file without them is not read
/// (nor cut back), whatever it is.
pub const MAGIC: &[u8; 8] = b"tvqueue1";

/// The longest record (16 MiB): a length above it is damage, not a record cut short. A send
/// whose record would be longer is refused (a local queue's messages are alerts of a few
/// kilobytes; SQS itself takes at most 256 KiB,
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html>).
pub const MAX_RECORD: usize = 16 << 20;

/// The file's length past which the committer rewrites it as what is standing (32 MiB; at
/// 200 alerts/s, about once a minute: some 2.6 KB of records an alert).
pub const COMPACT_BYTES: u64 = 32 << 20;

/// The checksum of a record's bytes: CRC-32 (IEEE).
fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// A message accepted: the queue, then [`Durable`]'s fields.
const SENT: u8 = 1;
/// A message received once more: the queue, its sequence number, its receive count.
const RECEIVED: u8 = 2;
/// A message deleted, dead-lettered or removed: the queue and its sequence number.
const REMOVED: u8 = 3;
/// The error a consumer reported: the queue, the sequence number, the error.
const NOTED: u8 = 4;
/// A dedup id seen (written by a rewrite, for removed messages inside the window): the
/// queue, the id, the time in milliseconds.
const SEEN: u8 = 5;
/// A queue's highest sequence number (written by a rewrite): the queue, the number.
const LAST_SEQ: u8 = 6;

/// One queue as its records leave it.
#[derive(Debug, Default)]
struct Standing {
    /// Its messages by sequence number.
    messages: BTreeMap<u64, Durable>,
    /// Dedup ids with the time each was sent (milliseconds), oldest first; entries older than
    /// the window before the latest send are dropped as sends come.
    seen: VecDeque<(i64, String)>,
    /// The highest sequence number it ever gave.
    last_seq: u64,
}

impl Standing {
    fn see(&mut self, at: i64, dedup_id: String) {
        self.seen.push_back((at, dedup_id));
        let cutoff = at - DEDUP_WINDOW.num_milliseconds();
        while self.seen.front().is_some_and(|(t, _)| *t <= cutoff) {
            self.seen.pop_front();
        }
    }
}

/// The queues' records not written yet, and what every record so far leaves standing: what
/// the queue operations change, under a lock of its own (not the SQLite connection's).
#[derive(Debug, Default)]
pub(crate) struct QueueRecords {
    pending: Vec<u8>,
    queues: HashMap<String, Standing>,
}

impl QueueRecords {
    /// Whether no record named a queue: a file holding only its header (what a fresh start
    /// writes, or a reset to empty queues), or nothing read yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// The queues' file (none for a state in memory), which the committer writes: under the
/// SQLite connection's lock, after the transaction.
#[derive(Debug)]
pub(crate) struct QueueFile {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
    /// The file's length: every record in it is whole.
    len: u64,
    /// The records being written (swapped with [`QueueRecords`]' pending ones, so queue
    /// operations go on during the write).
    buf: Vec<u8>,
    /// The length at which the committer rewrites the file.
    compact_at: u64,
    /// The least of `compact_at`: [`COMPACT_BYTES`] (lower in tests).
    compact_bytes: u64,
    /// Records were dropped (a failed write or transaction) while what stands kept them: the
    /// file is rewritten from what stands before anything more is appended, so no record
    /// follows a gap.
    needs_rewrite: bool,
    /// Each append is synced to disk (`sync_data`) before the commit that wrote it returns
    /// (`Durability::PowerLoss`); otherwise it outlives the process only.
    sync_writes: bool,
    /// Appends synced to disk so far ([`QueueFile::synced_writes`]).
    synced: u64,
    /// Fails the next write after writing half of it (tests).
    #[cfg(test)]
    fail_next_write: bool,
    /// Every rewrite after a lost write fails, as on a disk that stays full (tests).
    #[cfg(test)]
    fail_rewrites: bool,
    /// The rewrites after a lost write tried (tests).
    #[cfg(test)]
    pub(crate) rewrites_tried: u64,
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_u32(b, s.len() as u32);
    b.extend_from_slice(s.as_bytes());
}

fn put_opt(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            put_str(b, s);
        }
    }
}

/// Appends one framed record: its length and checksum, then what `body` writes.
fn frame(b: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = b.len();
    b.extend_from_slice(&[0; HEADER]);
    body(b);
    let len = ((b.len() - start - HEADER) as u32).to_le_bytes();
    let crc = checksum(&b[start + HEADER..]);
    b[start..start + 4].copy_from_slice(&len);
    b[start + 4..start + 8].copy_from_slice(&checksum(&len).to_le_bytes());
    b[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// How to start with empty queues and keep the state file's books and idempotency records:
/// a file holding only the header in place of the queue file at `path`.
pub(crate) fn restart_empty(path: &Path) -> String {
    format!(
        "To start with empty queues (what the file held is then lost) and keep the paper books \
         and idempotency records, move it aside and put a file holding only the header in its \
         place: printf tvqueue1 > {}",
        shell_quoted(path)
    )
}

/// `path` as one shell word, in single quotes (a `'` in it closed, escaped and reopened), so
/// an instruction that names it can be pasted as it is: a path with a space, unquoted, made
/// `truncate` cut a file named by its first word and leave the damaged one.
pub(crate) fn shell_quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Where a rewrite writes the new file before renaming it over `path`.
pub(crate) fn new_path(path: &Path) -> PathBuf {
    path.with_extension("queues.new")
}

/// Writes `path`'s directory to disk, so a rename into it survives a power cut: `fsync` of a
/// file does not cover the directory entry that names it ("For that an explicit fsync() on a
/// file descriptor for the directory is also needed",
/// <https://man7.org/linux/man-pages/man2/fsync.2.html>). Without it, a power cut after a
/// rewrite could bring back the file it replaced. (On paper the records appended later are
/// not synced one by one: as the state file's commits, the last of them may be lost to a
/// power cut, never to a killed process; for real brokers each append is synced.)
pub(crate) fn sync_dir_of(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// [`sync_dir_of`] after `path` was renamed into place, a failure only warned of: the file in
/// use is the new one whatever it says, and on paper the state file promises what outlives
/// the process, not a power cut (see `lib.rs`; for real brokers, [`QueueFile::sync_writes`],
/// a rewrite whose directory is not synced fails instead).
pub(crate) fn sync_dir_or_warn(path: &Path) {
    if let Err(e) = sync_dir_of(path) {
        tracing::warn!(error = %e, file = %path.display(), "local state: the queue file's directory not written to disk after its rename");
    }
}

/// A record's header: its length (`u32`, little-endian), the CRC-32 of those four bytes and
/// the CRC-32 of its bytes. The length's own checksum tells a damaged length (refused) from
/// a record cut short by a kill (cut back).
const HEADER: usize = 12;

fn put_sent(b: &mut Vec<u8>, queue: &str, m: &Durable) {
    frame(b, |b| {
        b.push(SENT);
        put_str(b, queue);
        put_u64(b, m.seq);
        put_str(b, &m.message_id);
        put_str(b, &m.group_id);
        put_str(b, &m.dedup_id);
        put_str(b, &m.body);
        put_u64(b, m.sent_at.timestamp_millis() as u64);
        put_u32(b, m.receive_count);
        put_opt(b, m.source_queue.as_deref());
        put_opt(b, m.last_error.as_deref());
    });
}

/// A record's bytes, read front to back; `None` when they end early or a string is not UTF-8.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn opt(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
}

fn from_ms(v: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v as i64).unwrap_or_default()
}

impl QueueFile {
    /// Queues kept in memory only (a state that is not a file).
    pub(crate) fn in_memory() -> (Self, QueueRecords) {
        let file = Self {
            path: None,
            file: None,
            len: 0,
            buf: Vec::new(),
            compact_at: COMPACT_BYTES,
            compact_bytes: COMPACT_BYTES,
            needs_rewrite: false,
            sync_writes: false,
            synced: 0,
            #[cfg(test)]
            fail_next_write: false,
            #[cfg(test)]
            fail_rewrites: false,
            #[cfg(test)]
            rewrites_tried: 0,
        };
        (file, QueueRecords::default())
    }

    /// The file at `path`, read; `None` when there is none. Also returns what a trader should
    /// hear of it at start: a partial last record cut back (the process was killed while
    /// writing it).
    ///
    /// Errors, naming the file (which is left as it is): not a queue file (no [`MAGIC`]: a
    /// SQLite database, say the state file of another `--state`); damaged before its end (a
    /// record that fails its checksum with more records after it: its queued alerts cannot
    /// be told apart from the damage, and the start is refused rather than dropping them); a
    /// record that does not read although its checksum matches (a newer format); I/O.
    pub(crate) fn read(path: &Path) -> Result<Option<(Self, QueueRecords, Vec<String>)>, String> {
        let shown = path.display();
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{shown}: {e}")),
        };
        let (mut q, mut records) = Self::in_memory();
        q.path = Some(path.to_owned());
        let mut notes = Vec::new();
        if bytes.is_empty() {
            // Never written by this code (a file starts with its header): emptied.
            return Err(format!(
                "the queue file {shown} is empty: its queued alerts would be lost. {}",
                restart_empty(path)
            ));
        }
        if !bytes.starts_with(MAGIC) {
            let what = if bytes.starts_with(b"SQLite format 3\0") {
                "is a SQLite database (the state file of another --state?): give the state file \
                 a path of its own"
                    .to_owned()
            } else {
                format!(
                    "does not start with the queue file's header (`tvqueue1`): damaged, or not a \
                     queue file. {}",
                    restart_empty(path)
                )
            };
            return Err(format!("{shown} {what}; it is left as it is"));
        }
        let mut at = MAGIC.len();
        let word = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        while at < bytes.len() {
            let header = bytes.get(at..at + HEADER);
            // The length only if its checksum holds.
            let len = header
                .filter(|h| checksum(&h[..4]) == word(h, 4))
                .map(|h| word(h, 0) as usize)
                .filter(|&len| len > 0 && len <= MAX_RECORD);
            let end = len.map(|len| at + HEADER + len);
            let whole = match (header, end.and_then(|end| bytes.get(at + HEADER..end))) {
                (Some(h), Some(body)) => checksum(body) == word(h, 8),
                _ => false,
            };
            if !whole {
                // A kill in the middle of a write leaves a prefix of its records: the last
                // one cut short (its header, or its bytes past the file's end), or zeros
                // where the file was extended but not written. Anything else is damage: a
                // length that fails its checksum, or a record that fails its own with more
                // of the file after it.
                // A record whose bytes are all there was written whole: a checksum that
                // fails is damage, even at the end.
                let torn = header.is_none()
                    || end.is_some_and(|end| end > bytes.len())
                    || bytes[at..].iter().all(|&b| b == 0);
                if !torn {
                    return Err(format!(
                        "{shown} is damaged at byte {at} of {}: not started, so that the alerts \
                         queued after it are not dropped, and left as it is. To keep what the \
                         file holds before the damage (the queued alerts, dead letters and \
                         dedup window written before it; what follows is lost), copy it aside \
                         and cut it there: truncate -s {at} {}. {}",
                        bytes.len(),
                        shell_quoted(path),
                        restart_empty(path)
                    ));
                }
                break;
            }
            let end = end.unwrap_or(at);
            let body = &bytes[at + HEADER..end];
            records.apply(body).ok_or_else(|| {
                format!(
                    "{shown}: the record at byte {at} does not read (written by a newer version?): \
                     not read, and left as it is"
                )
            })?;
            at = end;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{shown}: {e}"))?;
        if at < bytes.len() {
            let dropped = bytes.len() - at;
            tracing::warn!(
                file = %shown,
                kept = at,
                dropped,
                "local state: the queue file ends in a partial record (the process was killed while writing it); cut back to the last whole one"
            );
            notes.push(if bytes[at..].iter().all(|&b| b == 0) {
                format!("queue file {shown}: cut back {dropped} zero byte(s) after its last record")
            } else {
                format!(
                    "queue file {shown}: cut back {dropped} byte(s) of a record the last run did \
                     not finish writing (killed while writing it, nothing it answered is lost; \
                     after a power cut on paper, whose appends are not synced, the last \
                     answered alerts may be)"
                )
            });
            file.set_len(at as u64)
                .map_err(|e| format!("{shown}: {e}"))?;
        }
        bytes.clear();
        q.file = Some(file);
        q.len = at as u64;
        // Not four times this length: most of it may be records of messages long gone, and
        // each start would raise the next rewrite further.
        q.compact_at = q.compact_bytes;
        Ok(Some((q, records, notes)))
    }

    /// A new file at `path` holding `queues` (what an older state file kept in its tables).
    ///
    /// Errors: the file's I/O error.
    pub(crate) fn create(
        path: &Path,
        queues: Vec<(String, Saved)>,
        before_rename: impl FnOnce() -> Result<(), String>,
    ) -> Result<(Self, QueueRecords), String> {
        let (mut q, mut records) = Self::in_memory();
        for (name, saved) in queues {
            let standing = records.queues.entry(name).or_default();
            standing.last_seq = saved.last_seq;
            let mut seen: Vec<_> = saved
                .seen
                .into_iter()
                .map(|(id, at)| (at.timestamp_millis(), id))
                .collect();
            seen.sort_unstable();
            standing.seen = seen.into();
            for m in saved.messages {
                standing.last_seq = standing.last_seq.max(m.seq);
                standing.messages.insert(m.seq, m);
            }
        }
        q.path = Some(path.to_owned());
        q.rewrite_with(&records, before_rename)?;
        Ok((q, records))
    }

    /// Writes the records made since the last call to the end of the file; or, after records
    /// were dropped, rewrites the file from what stands instead (queue operations wait for
    /// that rewrite; otherwise only while the records are taken). Returns `written` as it was
    /// when the records were taken (under their lock, where queue operations count
    /// themselves): the writes this write covers, with the SQLite ones before them.
    ///
    /// Errors: the I/O error of the write, or of the rewrite. These records are dropped, and
    /// nothing is appended until a rewrite succeeds (at a later commit): the file may end in
    /// part of a record, which a start cuts back, but never holds a record after a gap.
    pub(crate) fn write(
        &mut self,
        records: &Mutex<QueueRecords>,
        written: &AtomicU64,
    ) -> (u64, Result<(), String>) {
        let mut r = lock(records);
        let upto = written.load(Ordering::Acquire);
        if self.needs_rewrite {
            // What stands holds every record not yet written: they are in the rewrite. A
            // failed one leaves the file as it was (it goes through `.new`), and is tried
            // again at the next commit.
            #[cfg(test)]
            let result = {
                self.rewrites_tried += 1;
                match self.fail_rewrites {
                    true => Err("the disk is full (a test)".to_owned()),
                    false => self.rewrite(&r),
                }
            };
            #[cfg(not(test))]
            let result = self.rewrite(&r);
            let result = result.map_err(|e| format!("queue file rewrite after a lost write: {e}"));
            r.pending.clear();
            if result.is_ok() {
                self.needs_rewrite = false;
            }
            return (upto, result);
        }
        std::mem::swap(&mut r.pending, &mut self.buf);
        drop(r);
        if self.buf.is_empty() {
            return (upto, Ok(()));
        }
        let Some(file) = self.file.as_mut() else {
            self.buf.clear();
            return (upto, Ok(()));
        };
        #[cfg(test)]
        let written = if std::mem::take(&mut self.fail_next_write) {
            file.write_all(&self.buf[..self.buf.len() / 2])
                .and_then(|()| Err(std::io::Error::other("the disk is full (a test)")))
        } else {
            file.write_all(&self.buf)
        };
        #[cfg(not(test))]
        let written = file.write_all(&self.buf);
        // Synced before the commit's waiters hear of it: an accepted alert's send is then on
        // disk before the webhook's 200 (`fdatasync`: the data and the length that reads it,
        // <https://man7.org/linux/man-pages/man2/fsync.2.html>).
        let written = written.and_then(|()| {
            if self.sync_writes {
                file.sync_data()?;
                self.synced += 1;
            }
            Ok(())
        });
        let n = self.buf.len() as u64;
        self.buf.clear();
        if let Err(e) = written {
            let error = format!("queue file write: {e}");
            self.needs_rewrite = true;
            // What follows is a rewrite, which replaces the file; cut back meanwhile, so a
            // start before it finds no partial record (a start would cut it back anyway).
            if let Err(undo) = file.set_len(self.len) {
                tracing::warn!(error = %undo, "local state: the queue file not cut back after a failed write");
            }
            return (upto, Err(error));
        }
        self.len += n;
        (upto, Ok(()))
    }

    /// Drops the records not written yet (their SQLite transaction failed, and they are
    /// reported lost with it): the next write rewrites the file from what stands first.
    /// Returns `written` as it was when they were dropped.
    pub(crate) fn drop_pending(
        &mut self,
        records: &Mutex<QueueRecords>,
        written: &AtomicU64,
    ) -> u64 {
        let mut r = lock(records);
        let upto = written.load(Ordering::Acquire);
        if !r.pending.is_empty() {
            r.pending.clear();
            self.needs_rewrite = true;
        }
        upto
    }

    /// Rewrites the file as what stands once it has grown to [`COMPACT_BYTES`] (or four times
    /// what stood at the last rewrite). A failed rewrite is a warning: the file stays as it
    /// is, and grows. Queue operations wait for the rewrite: what stands is written as it is
    /// encoded, through a 1 MiB buffer (encoded whole first, a backlog of 12,000 messages
    /// and the window's dedup ids took some 30 MiB more memory at each rewrite).
    pub(crate) fn rewrite_if_due(&mut self, records: &Mutex<QueueRecords>) {
        if self.len < self.compact_at {
            return;
        }
        let records = lock(records);
        if let Err(e) = self.rewrite(&records) {
            // A rewrite whose rename was made but whose folder was not synced is in use all
            // the same; the next commit rewrites again (`needs_rewrite`).
            tracing::warn!(error = %e, "local state: the queue file's rewrite failed (if the error is its folder's sync, the new file is in use and is rewritten at the next commit; else the old one is kept and grows)");
            self.compact_at = self.len + self.compact_bytes;
        }
    }

    /// The length at which the file is rewritten next: [`COMPACT_BYTES`], or four times what
    /// stands now (so a large backlog is not rewritten at every commit).
    fn next_compaction(&self) -> u64 {
        self.compact_bytes.max(4 * self.len)
    }

    /// Writes what stands ([`QueueRecords::write_standing`]) into `<file>.new` and renames it
    /// over the file. The records not written yet stay to be written after it: what stands
    /// already holds their effect, and each record sets what it names (a message's records
    /// are its send, receives, errors and removal, in order), so reading them again over it
    /// changes nothing.
    fn rewrite(&mut self, records: &QueueRecords) -> Result<(), String> {
        self.rewrite_with(records, || Ok(()))
    }

    /// [`rewrite`](Self::rewrite), with `before_rename` run once the new file is on disk and
    /// before it replaces the old one (its error leaves the old one).
    fn rewrite_with(
        &mut self,
        records: &QueueRecords,
        before_rename: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let new = new_path(&path);
        let io = |e: std::io::Error| format!("{}: {e}", new.display());
        // Left by a rewrite the process did not finish: never read.
        match std::fs::remove_file(&new) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        // The handle is kept: after the rename it is the file's, and the next records follow
        // what was rewritten.
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&new)
            .map_err(io)?;
        let written = (|| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            let len = records.write_standing(&mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            // On disk before it replaces the file: after a power cut the rename may be kept
            // and data written just before it not (once a minute at 200 alerts/s).
            file.sync_data()?;
            Ok::<_, std::io::Error>((file, len))
        })()
        .map_err(|e| format!("{}: {e}", path.display()));
        // Once `before_rename` has done its part (an old state file's queue rows deleted, the
        // file recorded), the new file is the only copy of what it holds: a failed rename
        // leaves it in place, for the next start to finish (it renames a recorded `.new`).
        let mut recorded = false;
        let written = written
            .and_then(|written| {
                before_rename().map(|()| {
                    recorded = true;
                    written
                })
            })
            .and_then(|written| {
                std::fs::rename(&new, &path)
                    .map(|()| written)
                    .map_err(|e| format!("{}: {e}", path.display()))
            });
        let (file, len) = written.inspect_err(|_| {
            // Not left to fill a disk that may be full already, unless it is all there is.
            if !recorded {
                let _ = std::fs::remove_file(&new);
            }
        })?;
        self.file = Some(file);
        self.len = len;
        self.compact_at = self.next_compaction();
        if self.sync_writes {
            // Appends synced into a file whose name a power cut could take back (the old
            // file returning) would be lost with it: until the directory is synced, the next
            // write rewrites again first, and its commit fails if that fails.
            if let Err(e) = sync_dir_of(&path) {
                self.needs_rewrite = true;
                return Err(format!(
                    "{}: its directory not written to disk after the rewrite: {e}",
                    path.display()
                ));
            }
        } else {
            sync_dir_or_warn(&path);
        }
        Ok(())
    }

    /// Syncs each later append to disk before [`write`](Self::write) returns.
    pub(crate) fn sync_writes(&mut self) {
        self.sync_writes = true;
    }

    /// Whether each append is synced ([`sync_writes`](Self::sync_writes)).
    pub(crate) fn syncs_writes(&self) -> bool {
        self.sync_writes
    }

    /// How many appends were synced to disk ([`sync_writes`](Self::sync_writes)); rewrites,
    /// always synced, are not counted.
    pub(crate) fn synced_writes(&self) -> u64 {
        self.synced
    }

    /// Lowers the rewrite threshold (tests).
    #[cfg(test)]
    pub(crate) fn compact_at(&mut self, bytes: u64) {
        self.compact_bytes = bytes;
        self.compact_at = self.next_compaction();
    }

    /// The file's length in bytes: every record in it is whole.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Rewrites the file as what stands now (tests).
    #[cfg(test)]
    pub(crate) fn rewrite_now(&mut self, records: &Mutex<QueueRecords>) -> Result<(), String> {
        self.rewrite(&lock(records))
    }

    /// Fails the next write after writing half of it, as a full disk would (tests).
    #[cfg(test)]
    pub(crate) fn fail_next_write(&mut self) {
        self.fail_next_write = true;
    }

    /// Fails every rewrite after a lost write, as a disk that stays full would (tests).
    #[cfg(test)]
    pub(crate) fn fail_rewrites(&mut self, on: bool) {
        self.fail_rewrites = on;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl QueueRecords {
    /// Applies one record's bytes to what is standing; `None` when they do not read.
    fn apply(&mut self, body: &[u8]) -> Option<()> {
        let mut r = Reader(body);
        let tag = r.u8()?;
        let queue = r.str()?;
        let standing = self.queues.entry(queue).or_default();
        match tag {
            SENT => {
                let m = Durable {
                    seq: r.u64()?,
                    message_id: r.str()?,
                    group_id: r.str()?,
                    dedup_id: r.str()?,
                    body: r.str()?.into(),
                    sent_at: from_ms(r.u64()?),
                    receive_count: r.u32()?,
                    source_queue: r.opt()?,
                    last_error: r.opt()?,
                };
                standing.last_seq = standing.last_seq.max(m.seq);
                standing.see(m.sent_at.timestamp_millis(), m.dedup_id.clone());
                standing.messages.insert(m.seq, m);
            }
            RECEIVED => {
                let seq = r.u64()?;
                let count = r.u32()?;
                if let Some(m) = standing.messages.get_mut(&seq) {
                    m.receive_count = count;
                }
            }
            REMOVED => {
                standing.messages.remove(&r.u64()?);
            }
            NOTED => {
                let seq = r.u64()?;
                let error = r.str()?;
                if let Some(m) = standing.messages.get_mut(&seq) {
                    m.last_error = Some(error);
                }
            }
            SEEN => {
                let id = r.str()?;
                let at = r.u64()? as i64;
                standing.see(at, id);
            }
            LAST_SEQ => standing.last_seq = standing.last_seq.max(r.u64()?),
            _ => return None,
        }
        Some(())
    }

    /// A message accepted by `queue`.
    ///
    /// Errors: a sequence number at or below one the queue gave already (message ids are
    /// never reused), or a body near [`MAX_RECORD`].
    pub(crate) fn sent(&mut self, queue: &str, m: &Durable) -> Result<(), String> {
        let standing = self.queues.entry(queue.to_owned()).or_default();
        if m.seq <= standing.last_seq {
            return Err(format!(
                "queue {queue}: sequence number {} given twice (the highest is {})",
                m.seq, standing.last_seq
            ));
        }
        if m.body.len() > MAX_RECORD - 4096 {
            return Err(format!(
                "queue {queue}: a message of {} bytes is over the queue file's {MAX_RECORD}",
                m.body.len()
            ));
        }
        put_sent(&mut self.pending, queue, m);
        standing.last_seq = m.seq;
        standing.see(m.sent_at.timestamp_millis(), m.dedup_id.clone());
        standing.messages.insert(m.seq, m.clone());
        Ok(())
    }

    /// The message `seq` of `queue` received for the `count`th time; nothing for a message
    /// not standing.
    pub(crate) fn received(&mut self, queue: &str, seq: u64, count: u32) -> Result<(), String> {
        let Some(m) = self.message(queue, seq) else {
            return Ok(());
        };
        m.receive_count = count;
        frame(&mut self.pending, |b| {
            b.push(RECEIVED);
            put_str(b, queue);
            put_u64(b, seq);
            put_u32(b, count);
        });
        Ok(())
    }

    /// The message `seq` of `queue` gone (deleted, dead-lettered, removed); its dedup id
    /// stays seen for the window.
    pub(crate) fn removed(&mut self, queue: &str, seq: u64) -> Result<(), String> {
        let Some(standing) = self.queues.get_mut(queue) else {
            return Ok(());
        };
        if standing.messages.remove(&seq).is_some() {
            frame(&mut self.pending, |b| {
                b.push(REMOVED);
                put_str(b, queue);
                put_u64(b, seq);
            });
        }
        Ok(())
    }

    /// The error a consumer reported for the message `seq` of `queue`.
    pub(crate) fn noted(&mut self, queue: &str, seq: u64, error: &str) -> Result<(), String> {
        let Some(m) = self.message(queue, seq) else {
            return Ok(());
        };
        m.last_error = Some(error.to_owned());
        frame(&mut self.pending, |b| {
            b.push(NOTED);
            put_str(b, queue);
            put_u64(b, seq);
            put_str(b, error);
        });
        Ok(())
    }

    fn message(&mut self, queue: &str, seq: u64) -> Option<&mut Durable> {
        self.queues.get_mut(queue)?.messages.get_mut(&seq)
    }

    /// How many dedup ids `queue` keeps (tests).
    #[cfg(test)]
    pub(crate) fn seen_len(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.seen.len())
    }

    /// What stands of `queue`: its messages in order, the dedup ids seen after `now` less
    /// the window (each with its latest time), its highest sequence number.
    pub(crate) fn saved(&self, queue: &str, now: DateTime<Utc>) -> Saved {
        let Some(standing) = self.queues.get(queue) else {
            return Saved::default();
        };
        let cutoff = (now - DEDUP_WINDOW).timestamp_millis();
        let mut seen: HashMap<&str, i64> = HashMap::new();
        for (at, id) in standing.seen.iter().filter(|(at, _)| *at > cutoff) {
            let latest = seen.entry(id).or_insert(*at);
            *latest = (*latest).max(*at);
        }
        Saved {
            messages: standing.messages.values().cloned().collect(),
            seen: seen
                .into_iter()
                .map(|(id, at)| (id.to_owned(), from_ms(at as u64)))
                .collect(),
            last_seq: standing.last_seq,
        }
    }

    /// Writes what stands to `out` as records: for each queue its highest sequence number, the
    /// dedup ids of removed messages sent in the five minutes before its latest send, and
    /// each standing message.
    /// Returns the bytes written.
    fn write_standing(&self, out: &mut impl Write) -> std::io::Result<u64> {
        out.write_all(MAGIC)?;
        let mut len = MAGIC.len() as u64;
        let mut b = Vec::new();
        let mut emit = |b: &mut Vec<u8>| -> std::io::Result<()> {
            out.write_all(b)?;
            len += b.len() as u64;
            b.clear();
            Ok(())
        };
        let mut names: Vec<&String> = self.queues.keys().collect();
        names.sort_unstable();
        for name in names {
            let standing = &self.queues[name];
            frame(&mut b, |b| {
                b.push(LAST_SEQ);
                put_str(b, name);
                put_u64(b, standing.last_seq);
            });
            emit(&mut b)?;
            // A standing message's SENT record makes its dedup id seen again.
            let standing_ids: HashSet<(i64, &str)> = standing
                .messages
                .values()
                .map(|m| (m.sent_at.timestamp_millis(), m.dedup_id.as_str()))
                .collect();
            for (at, id) in &standing.seen {
                if !standing_ids.contains(&(*at, id.as_str())) {
                    frame(&mut b, |b| {
                        b.push(SEEN);
                        put_str(b, name);
                        put_str(b, id);
                        put_u64(b, *at as u64);
                    });
                    emit(&mut b)?;
                }
            }
            for m in standing.messages.values() {
                put_sent(&mut b, name, m);
                emit(&mut b)?;
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    /// A path named in an instruction is one shell word, a space or a `'` in it too.
    #[test]
    fn a_path_in_an_instruction_is_shell_quoted() {
        let quoted = super::shell_quoted(std::path::Path::new("/home/a/My Stack/it's.queues"));
        assert_eq!(quoted, r"'/home/a/My Stack/it'\''s.queues'");
    }

    /// A message's record as the file holds it (to cut one short).
    pub(crate) fn sent_record(b: &mut Vec<u8>, queue: &str, m: &local_sqs::Durable) {
        super::put_sent(b, queue, m);
    }

    /// An old state file's queues moved into a new queue file whose rename fails (a directory
    /// in the way): once `before_rename` has recorded the move (in the state file, deleting
    /// its rows), the new file is the only copy, and it is kept for the next start to finish.
    /// It was removed, and the messages were nowhere. A failure before that removes it.
    #[test]
    fn a_recorded_new_file_is_kept_when_its_rename_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite.queues");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("in-the-way"), b"x").unwrap();
        let err = super::QueueFile::create(&path, Vec::new(), || Ok(()))
            .err()
            .unwrap();
        assert!(super::new_path(&path).exists(), "{err}");

        let err = super::QueueFile::create(&path, Vec::new(), || Err("not recorded".into()))
            .err()
            .unwrap();
        assert!(err.contains("not recorded"), "{err}");
        assert!(!super::new_path(&path).exists());
    }
}
