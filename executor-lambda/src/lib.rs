//! Cold-start wiring for the executor Lambdas. Everything here runs once per container,
//! before the first event; a missing setting fails the start with its name.

use aws_adapters::{
    DynamoHealthStore, DynamoIdempotencyStore, SnsNotifier, SsmSecretStore, load_sdk_config,
};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Duration;
use executor_runtime::health::Recorded;
use executor_runtime::killswitch::{KillSwitch, ParameterKillSwitch, StaticKillSwitch};
use executor_runtime::metrics::StdoutMetrics;
use executor_runtime::notify::{MemoryNotifyGate, RateLimited};
use executor_runtime::processor::MissingMessageId;
use executor_runtime::processor::{Executor, ExecutorSettings};
use executor_runtime::risk::RiskConfig;
use executor_runtime::venue::Venue;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::clock::SystemClock;
use shared::config::{ConfigError, Env};
use shared::execution::{JournalError, OrderRecord, SignalRecord, TradeJournal};
use shared::health::NotifyGate;
use shared::ports::SecretStore;
use shared::signal::SignalId;
use std::future::Future;
use std::sync::Arc;
use tracing::{info, warn};

/// How long before the invocation's deadline a journal call is given up: time for the
/// executor to hand its lease over (one DynamoDB write) and for the failed record's
/// visibility to be shortened (`aws_adapters::AFTER_BATCH_BUDGET`, 3 s) before Lambda's
/// timeout would fail the batch whole.
pub const JOURNAL_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The shortest `RECORD_TTL_DAYS` taken: a broker queue keeps a message 4 days and its
/// dead-letter queue 14 more (the CDK app's retention; SQS resets a message's age when it
/// moves it to a dead-letter queue), plus a day.
pub const MIN_RECORD_TTL_DAYS: i64 = 19;

/// The deadline of the invocation running now, set by the Lambda loop before each batch
/// ([`run`]) and read by the journal ([`DeployedJournal`]). Invocations of one container
/// run one at a time, so one value serves them all.
#[derive(Debug, Clone, Default)]
pub struct InvocationDeadline(Arc<std::sync::Mutex<Option<std::time::SystemTime>>>);

impl InvocationDeadline {
    /// Sets the deadline of the batch about to run (`None`: no usable deadline).
    pub fn set(&self, deadline: Option<std::time::SystemTime>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = deadline;
    }

    /// How long a journal call may take now: until the deadline less
    /// [`JOURNAL_DEADLINE_MARGIN`]; `None` without a deadline.
    fn journal_time(&self) -> Option<std::time::Duration> {
        let deadline = (*self.0.lock().unwrap_or_else(|e| e.into_inner()))?;
        Some(fifo_batch::time_left(deadline).saturating_sub(JOURNAL_DEADLINE_MARGIN))
    }
}

/// The journal of a deployment: a database, or structured log lines when the cheap profile
/// runs without one.
///
/// A database call is given up [`JOURNAL_DEADLINE_MARGIN`] before the invocation's deadline
/// (a `JournalError`): its pool waits up to 30 s for a connection (a paused Aurora resuming),
/// which after a slow broker conversation could run the invocation past its timeout; the
/// record would then come back only after the queue's visibility timeout (6 minutes), the
/// instrument's later signals expiring behind it. Given up, the executor hands its lease
/// over and the record comes back within seconds, taken over and looked up, not sent again.
/// Safe to cut: every write is an idempotent upsert in one transaction.
#[derive(Debug, Clone)]
pub enum DeployedJournal {
    Database(JournalDatabase, InvocationDeadline),
    Log,
}

/// How the database's URL is read to open it when first used.
pub type ReadUrl = Arc<
    dyn Fn()
            -> std::pin::Pin<Box<dyn Future<Output = Result<secrecy::SecretString, String>> + Send>>
        + Send
        + Sync,
>;

/// The journal's database: opened at cold start from `JOURNAL_URL`, or, from
/// `JOURNAL_URL_PARAM`, at the start of the first batch ([`run`]'s [`Starting`], before the
/// venue is built, so that no signal trades while the journal's URL is unknown). The
/// parameter is an SSM read: at cold start, one throttled or failed read would fail the
/// container's start, and with it the whole batch, back only after the queue's visibility
/// timeout (6 minutes), its signals expired. At a batch's start it fails that batch's records,
/// back within seconds, and the next batch reads the parameter again; so does any later use
/// while it is not open.
#[derive(Clone)]
pub enum JournalDatabase {
    Open(journal::AnyJournal),
    Deferred {
        /// The parameter's name, for errors (never its value: the URL holds a password).
        param: String,
        read: ReadUrl,
        opened: Arc<tokio::sync::OnceCell<journal::AnyJournal>>,
    },
}

impl std::fmt::Debug for JournalDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(j) => f.debug_tuple("Open").field(j).finish(),
            Self::Deferred { param, opened, .. } => f
                .debug_struct("Deferred")
                .field("param", param)
                .field("opened", &opened.initialized())
                .finish_non_exhaustive(),
        }
    }
}

impl JournalDatabase {
    /// A database whose URL `read` gives, read and opened when first used.
    pub fn deferred(param: impl Into<String>, read: ReadUrl) -> Self {
        Self::Deferred {
            param: param.into(),
            read,
            opened: Arc::default(),
        }
    }

    /// The open database; a deferred one is opened now if it is not yet.
    ///
    /// # Errors
    /// A deferred one's URL could not be read or is not a journal's (named by the
    /// parameter, never by the URL).
    pub async fn get(&self) -> Result<&journal::AnyJournal, JournalError> {
        match self {
            Self::Open(j) => Ok(j),
            Self::Deferred {
                param,
                read,
                opened,
            } => {
                opened
                    .get_or_try_init(|| async {
                        let url = read().await.map_err(|e| JournalError {
                            reason: format!(
                                "the journal's URL could not be read from JOURNAL_URL_PARAM ({param}): {e}"
                            ),
                        })?;
                        use secrecy::ExposeSecret;
                        journal::AnyJournal::connect(url.expose_secret())
                            .await
                            .map_err(|e| JournalError {
                                reason: format!("JOURNAL_URL_PARAM ({param}): {e}"),
                            })
                    })
                    .await
            }
        }
    }
}

impl DeployedJournal {
    /// `call`, given up when the invocation's journal time runs out.
    async fn bounded<T>(
        deadline: &InvocationDeadline,
        call: impl std::future::Future<Output = Result<T, JournalError>>,
    ) -> Result<T, JournalError> {
        let Some(left) = deadline.journal_time() else {
            return call.await;
        };
        tokio::time::timeout(left, call)
            .await
            .unwrap_or_else(|_| {
                Err(JournalError {
                    reason: format!(
                        "no answer within the {} ms left before the invocation's deadline (less {} s to hand the signal over)",
                        left.as_millis(),
                        JOURNAL_DEADLINE_MARGIN.as_secs()
                    ),
                })
            })
    }
}

impl TradeJournal for DeployedJournal {
    async fn upsert_signal(&self, r: &SignalRecord) -> Result<(), JournalError> {
        match self {
            Self::Database(j, d) => {
                Self::bounded(d, async { j.get().await?.upsert_signal(r).await }).await
            }
            Self::Log => {
                info!(target: shared::telemetry::JOURNAL_TARGET, journal = "signal", record = %serde_json::to_string(r).unwrap_or_default(), "journal");
                Ok(())
            }
        }
    }

    async fn upsert_order(&self, r: &OrderRecord) -> Result<(), JournalError> {
        match self {
            Self::Database(j, d) => {
                Self::bounded(d, async { j.get().await?.upsert_order(r).await }).await
            }
            Self::Log => {
                info!(target: shared::telemetry::JOURNAL_TARGET, journal = "order", record = %serde_json::to_string(r).unwrap_or_default(), "journal");
                Ok(())
            }
        }
    }

    async fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, JournalError> {
        match self {
            Self::Database(j, d) => {
                Self::bounded(d, async { j.get().await?.signal(id).await }).await
            }
            Self::Log => Ok(None),
        }
    }

    async fn record_execution(
        &self,
        signal: &SignalRecord,
        orders: &[OrderRecord],
    ) -> Result<(), JournalError> {
        if let Self::Database(j, d) = self {
            return Self::bounded(d, async {
                j.get().await?.record_execution(signal, orders).await
            })
            .await;
        }
        self.upsert_signal(signal).await?;
        for o in orders {
            self.upsert_order(o).await?;
        }
        Ok(())
    }

    async fn orders(&self, id: &SignalId) -> Result<Vec<OrderRecord>, JournalError> {
        match self {
            Self::Database(j, d) => {
                Self::bounded(d, async { j.get().await?.orders(id).await }).await
            }
            Self::Log => Ok(Vec::new()),
        }
    }
}

#[derive(Debug)]
pub enum DeployedKillSwitch {
    Parameter(ParameterKillSwitch<SsmSecretStore>),
    Off(StaticKillSwitch),
}

impl KillSwitch for DeployedKillSwitch {
    async fn engaged(&self) -> Result<bool, String> {
        match self {
            Self::Parameter(k) => k.engaged().await,
            Self::Off(k) => k.engaged().await,
        }
    }
}

/// A venue with its results recorded in the health table (when `HEALTH_TABLE` is set).
pub type DeployedVenue<V> = Recorded<V, Option<DynamoHealthStore>, SystemClock>;

/// Where the mail rate limit is kept: the health table when there is one (shared by every
/// container), else this container's memory.
#[derive(Debug)]
pub enum DeployedGate {
    Table(DynamoHealthStore),
    Memory(MemoryNotifyGate),
}

impl NotifyGate for DeployedGate {
    async fn admit(
        &self,
        broker: shared::routing::Broker,
        now: chrono::DateTime<chrono::Utc>,
        min_interval: Duration,
    ) -> Result<Option<u64>, shared::health::HealthError> {
        match self {
            Self::Table(t) => t.admit(broker, now, min_interval).await,
            Self::Memory(m) => m.admit(broker, now, min_interval).await,
        }
    }
}

/// `NOTIFY_MIN_INTERVAL_SECS` (default 900): 0 to a year of seconds, refused by name outside
/// (a value past chrono's range would panic at the start).
fn notify_interval(env: &impl Env) -> Result<Duration, ConfigError> {
    let secs: i64 = env.parsed_or(
        "NOTIFY_MIN_INTERVAL_SECS",
        executor_runtime::notify::DEFAULT_MIN_INTERVAL.num_seconds(),
    )?;
    const YEAR: i64 = 366 * 86_400;
    if !(0..=YEAR).contains(&secs) {
        return Err(invalid(
            "NOTIFY_MIN_INTERVAL_SECS",
            format!("{secs} is outside 0 to {YEAR}"),
        ));
    }
    Ok(Duration::seconds(secs))
}

/// Which journal the executor writes: `JOURNAL=log`, `JOURNAL_URL`, or `JOURNAL_URL_PARAM`
/// (an SSM parameter holding the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
enum JournalChoice {
    Log,
    Url(String),
    Param(String),
}

/// Exactly one of `JOURNAL=log`, `JOURNAL_URL` and `JOURNAL_URL_PARAM`; two of them set, or
/// `JOURNAL` set to anything but `log`, is refused by name: a precedence nobody looks up
/// would leave the database unwritten (`JOURNAL=log` beside a URL) or write another one
/// than meant, with `tvctl report` then reading a journal without those trades.
fn journal_choice(env: &impl Env) -> Result<JournalChoice, ConfigError> {
    let mode = env.unset_or_given("JOURNAL", "a database journal")?;
    if let Some(other) = mode.as_deref().filter(|m| *m != "log") {
        // Repeated only when it is a short word (`LOG`, `logs`): anything else may be a
        // database URL put here by mistake, password and all.
        let shown = if other.len() <= 16 && other.chars().all(|c| c.is_ascii_alphanumeric()) {
            format!("{other:?}")
        } else {
            "a value other than a word".to_owned()
        };
        return Err(invalid(
            "JOURNAL",
            format!(
                "{shown}: the only value is log (a database URL goes in JOURNAL_URL, or its SSM parameter's name in JOURNAL_URL_PARAM)"
            ),
        ));
    }
    let url = env.unset_or_given("JOURNAL_URL", "JOURNAL_URL_PARAM or JOURNAL=log")?;
    let param = env.unset_or_given("JOURNAL_URL_PARAM", "JOURNAL_URL or JOURNAL=log")?;
    match (mode, url, param) {
        (Some(_), None, None) => Ok(JournalChoice::Log),
        (None, Some(url), None) => Ok(JournalChoice::Url(url)),
        (None, None, Some(param)) => Ok(JournalChoice::Param(param)),
        (None, None, None) => Err(ConfigError::Missing {
            name: "JOURNAL_URL, JOURNAL_URL_PARAM or JOURNAL=log".into(),
        }),
        (mode, url, param) => {
            let given: Vec<&str> = [
                mode.map(|_| "JOURNAL"),
                url.map(|_| "JOURNAL_URL"),
                param.map(|_| "JOURNAL_URL_PARAM"),
            ]
            .into_iter()
            .flatten()
            .collect();
            Err(invalid(
                &given.join(", "),
                "set together: give one of JOURNAL=log, JOURNAL_URL and JOURNAL_URL_PARAM",
            ))
        }
    }
}

/// `NOTIFY_FILLS` (default `false`): `true` mails every signal that filled in full too
/// ([`ExecutorSettings::notify_fills`]); any other value is refused by name.
fn notify_fills(env: &impl Env) -> Result<bool, ConfigError> {
    match env.optional("NOTIFY_FILLS").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid(
            "NOTIFY_FILLS",
            format!("{other:?} is neither true nor false"),
        )),
    }
}

/// Failure mails through SNS, at most one per broker every `NOTIFY_MIN_INTERVAL_SECS`.
pub type DeployedNotifier = RateLimited<SnsNotifier, DeployedGate, SystemClock>;

pub type DeployedExecutor<V> = Executor<
    DeployedVenue<V>,
    DynamoIdempotencyStore,
    DeployedJournal,
    DeployedNotifier,
    DeployedKillSwitch,
    SystemClock,
>;

/// What every executor needs besides its venue.
pub struct Common {
    pub sdk: aws_config::SdkConfig,
    pub secrets: SsmSecretStore,
    store: DynamoIdempotencyStore,
    journal: DeployedJournal,
    notifier: SnsNotifier,
    /// `NOTIFY_MIN_INTERVAL_SECS` (default 900): the least time between two failure mails
    /// of this broker.
    notify_interval: Duration,
    kill_switch: DeployedKillSwitch,
    /// `HEALTH_TABLE`: where the status endpoints read each broker's last success/failure.
    pub health: Option<DynamoHealthStore>,
    /// `DEAD_LETTER_QUEUE_URL`: the broker queue's FIFO dead-letter queue, where a signal
    /// whose outcome stays unknown is sent (optional: unset, it is completed `unknown`).
    dead_letters: Option<Arc<dyn shared::ports::DeadLetterQueue>>,
    /// `SOURCE_QUEUE_URL`: the broker queue this executor consumes, where failed records are
    /// made visible again within seconds (optional: unset, they wait out the queue's timeout).
    source_queue_url: Option<String>,
    settings: ExecutorSettings,
    /// The running invocation's deadline, which bounds the journal's calls.
    deadline: InvocationDeadline,
    /// Where the sizes and caps came from, for the start line: `RISK_CONFIG`,
    /// `RISK_CONFIG_FILE` or the executor's built-in defaults.
    risk_source: &'static str,
}

impl std::fmt::Debug for Common {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Common")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The delays a failed record waits before its quick retries (`fifo_batch::retry_delay`
/// after receives 1 to 4: 1, 2, 4 and 8 s), before the queue's redrive (`maxReceiveCount` 5,
/// cdk/lib/common.ts) moves it to the dead-letter queue; each receive's own time (pickup, a
/// cold start, a journal read) comes on top: [`RETRY_LATENCY`].
pub const QUICK_RETRIES: std::time::Duration = std::time::Duration::from_secs(15);

/// What the four quick retries' own times may add to [`QUICK_RETRIES`] (pickup, a cold
/// start, a journal read before the claim of up to 5 s): an allowance, not a bound.
pub const RETRY_LATENCY: std::time::Duration = std::time::Duration::from_secs(15);

/// The executors' time limits, read and checked together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimits {
    /// `MAX_ALERT_AGE_SECS` (30; 1 to 86,400): the staleness budget from the alert's time.
    pub max_age: Duration,
    /// `LEASE_SECS` (90): how long an attempt owns a signal. At least the budget plus
    /// [`AFTER_DRIVE`](executor_runtime::processor::AFTER_DRIVE) (an attempt's end after its
    /// budget), [`QUICK_RETRIES`], [`RETRY_LATENCY`] and
    /// [`HAND_OVER_SKEW`](shared::ports::HAND_OVER_SKEW) (60 s with the defaults): an
    /// attempt that ends `unknown` and cannot dead-letter it keeps its lease, so the quick
    /// retries find it busy until the queue's redrive dead-letters it; a lease that ended
    /// before the last of them let that retry take the signal over (a forced replay's takeover
    /// may send). An attempt also sends nothing after its lease less the skew
    /// (`executor_runtime::processor::send_deadline`). At most 86,400.
    pub lease: Duration,
    /// `RECORD_TTL_DAYS` (30; 19 to 3,650): how long a completed idempotency record is kept.
    /// At least [`MIN_RECORD_TTL_DAYS`]: a signal's message can wait 4 days in its queue, then
    /// 14 in the dead-letter queue (moving a message there resets its enqueue time, and a
    /// replay can come up to the last of them); a record gone before that would let a replay
    /// claim the signal anew and trade it again.
    pub record_ttl: Duration,
}

impl TimeLimits {
    /// Reads the three settings.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the setting that is not a whole number in its range,
    /// or `LEASE_SECS` shorter than the budget plus the time after it (see [`Self::lease`]).
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let within = |name: &str, default: i64, range: std::ops::RangeInclusive<i64>| {
            let value: i64 = env.parsed_or(name, default)?;
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(invalid(
                    name,
                    format!("{value} is outside {} to {}", range.start(), range.end()),
                ))
            }
        };
        let max_age = Duration::seconds(within("MAX_ALERT_AGE_SECS", 30, 1..=86_400)?);
        let lease = Duration::seconds(within("LEASE_SECS", 90, 1..=86_400)?);
        let skew = shared::ports::HAND_OVER_SKEW;
        let after = Duration::from_std(
            executor_runtime::processor::AFTER_DRIVE + QUICK_RETRIES + RETRY_LATENCY,
        )
        .unwrap_or_default()
            + skew;
        if lease < max_age + after {
            return Err(invalid(
                "LEASE_SECS",
                format!(
                    "{} s is shorter than MAX_ALERT_AGE_SECS ({} s) plus {} s: an attempt may end \
                     {} s after its budget, and one that ends unknown and cannot dead-letter it \
                     keeps its lease through {} s of quick retries ({} s of delays, {} s for \
                     their own times) and {} s for clocks, or a retry takes the signal over",
                    lease.num_seconds(),
                    max_age.num_seconds(),
                    after.num_seconds(),
                    executor_runtime::processor::AFTER_DRIVE.as_secs(),
                    (QUICK_RETRIES + RETRY_LATENCY).as_secs(),
                    QUICK_RETRIES.as_secs(),
                    RETRY_LATENCY.as_secs(),
                    skew.num_seconds()
                ),
            ));
        }
        let record_ttl =
            Duration::days(within("RECORD_TTL_DAYS", 30, MIN_RECORD_TTL_DAYS..=3_650)?);
        Ok(Self {
            max_age,
            lease,
            record_ttl,
        })
    }
}

fn invalid(name: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name: name.into(),
        reason: reason.to_string(),
    }
}

impl Common {
    pub async fn load(
        env: &impl Env,
        default_risk: &str,
        broker: shared::routing::Broker,
    ) -> Result<Self, ConfigError> {
        let sdk = load_sdk_config().await;
        let secrets = SsmSecretStore::new(aws_sdk_ssm::Client::new(&sdk));
        let store = DynamoIdempotencyStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            env.required("IDEMPOTENCY_TABLE")?,
        );
        let notifier = SnsNotifier::new(
            aws_sdk_sns::Client::new(&sdk),
            env.required("NOTIFY_TOPIC_ARN")?,
        );
        let deadline = InvocationDeadline::default();
        let journal = match journal_choice(env)? {
            JournalChoice::Log => DeployedJournal::Log,
            JournalChoice::Url(url) => DeployedJournal::Database(
                JournalDatabase::Open(
                    journal::AnyJournal::connect(&url)
                        .await
                        .map_err(|e| invalid("JOURNAL_URL", e))?,
                ),
                deadline.clone(),
            ),
            // Read when first used, not here: see `JournalDatabase`.
            JournalChoice::Param(param) => {
                let store = secrets.clone();
                let name = param.clone();
                let read: ReadUrl = Arc::new(move || {
                    let (store, name) = (store.clone(), name.clone());
                    Box::pin(async move { store.secret(&name).await.map_err(|e| e.to_string()) })
                });
                DeployedJournal::Database(JournalDatabase::deferred(param, read), deadline.clone())
            }
        };
        let kill_switch = match env.unset_or_given("KILL_SWITCH_PARAM", "no kill switch")? {
            Some(name) => DeployedKillSwitch::Parameter(ParameterKillSwitch::new(
                secrets.clone(),
                name,
                std::time::Duration::from_secs(15),
            )),
            None => DeployedKillSwitch::Off(StaticKillSwitch(false)),
        };
        let limits = TimeLimits::from_env(env)?;
        let settings = ExecutorSettings {
            max_age: limits.max_age,
            lease: limits.lease,
            send_margin: shared::ports::HAND_OVER_SKEW,
            record_ttl: limits.record_ttl,
            // A Tradovate file's contract sections are judged by the table the router reads
            // (the same variable); the other brokers' executors need no table at cold start.
            risk: RiskConfig::from_env(
                env,
                default_risk,
                broker,
                (broker == shared::Broker::Tradovate)
                    .then(|| shared::routing::RoutingTable::from_env(env))
                    .transpose()?
                    .as_ref(),
            )?,
            notify_fills: notify_fills(env)?,
        };
        let health = env
            .unset_or_given("HEALTH_TABLE", "no health records")?
            .map(|table| DynamoHealthStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
        let dead_letters = env
            .unset_or_given(
                "DEAD_LETTER_QUEUE_URL",
                "unknown signals completed where they are",
            )?
            .map(|url| {
                Arc::new(aws_adapters::SqsFifoQueue::new(
                    aws_sdk_sqs::Client::new(&sdk),
                    url,
                )) as Arc<dyn shared::ports::DeadLetterQueue>
            });
        let notify_interval = notify_interval(env)?;
        let risk_source = match (
            env.optional(executor_runtime::risk::RISK_CONFIG),
            env.optional(executor_runtime::risk::RISK_CONFIG_FILE),
        ) {
            (Some(_), _) => "RISK_CONFIG",
            (None, Some(_)) => "RISK_CONFIG_FILE",
            (None, None) => "the executor's built-in defaults (no RISK_CONFIG)",
        };
        Ok(Self {
            risk_source,
            notify_interval,
            source_queue_url: env
                .unset_or_given("SOURCE_QUEUE_URL", "failed records waiting out the timeout")?,
            dead_letters,
            health,
            sdk,
            secrets,
            store,
            journal,
            notifier,
            kill_switch,
            settings,
            deadline,
        })
    }

    pub fn executor<V: Venue>(self, venue: V) -> DeployedExecutor<V> {
        let broker = venue.broker();
        let gate = match &self.health {
            Some(table) => DeployedGate::Table(table.clone()),
            None => DeployedGate::Memory(MemoryNotifyGate::default()),
        };
        Executor {
            dead_letters: self.dead_letters,
            venue: Recorded {
                venue,
                health: self.health,
                clock: SystemClock,
            },
            store: self.store,
            journal: self.journal,
            notifier: RateLimited {
                inner: self.notifier,
                gate,
                clock: SystemClock,
                broker,
                min_interval: self.notify_interval,
            },
            kill_switch: self.kill_switch,
            clock: SystemClock,
            metrics: Arc::new(StdoutMetrics),
            settings: self.settings,
        }
    }
}

/// How long before the invocation's deadline a start still running is given up, so that the
/// batch's records are reported failed (and made visible again) before Lambda ends it.
pub const START_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What every batch runs on, started on the first batch rather than before the Lambda loop,
/// and started again on the next batch after a failed start.
///
/// An executor's start reads the network: its broker secrets from SSM, and at Tradovate a
/// login and the account list (a cold container waits up to 10 s for another one's login,
/// then gives up). Failing there, before the runtime hands out the batch, failed the
/// invocation as a whole: its records came back only after the queue's visibility timeout
/// (360 s), past every signal's 30 s staleness budget. Started here instead, a failed start
/// reports each record failed, so they come back within seconds (`AfterBatch`) and the next
/// batch starts it again.
pub struct Starting<T, S> {
    ready: tokio::sync::OnceCell<T>,
    start: S,
}

impl<T, S> std::fmt::Debug for Starting<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Starting")
            .field("started", &self.ready.initialized())
            .finish_non_exhaustive()
    }
}

impl<T, S, Fut, E> Starting<T, S>
where
    S: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    /// Not started yet: `start` runs on the first [`Self::batch`].
    pub fn new(start: S) -> Self {
        Self {
            ready: tokio::sync::OnceCell::new(),
            start,
        }
    }

    /// Runs `handle` over the started value, starting it first if need be. When the start
    /// fails, every record of `event` is reported failed with the reason (nothing of the
    /// batch ran), and the next batch tries the start again.
    ///
    /// # Errors
    /// A record without a message id, as [`fifo_batch::process`].
    pub async fn batch<'a, H, HFut>(
        &'a self,
        event: &SqsEvent,
        deadline: Option<std::time::SystemTime>,
        handle: H,
    ) -> Result<SqsBatchResponse, MissingMessageId>
    where
        H: FnOnce(&'a T) -> HFut,
        HFut: Future<Output = Result<SqsBatchResponse, MissingMessageId>>,
    {
        // Bounded by the invocation's time, less a margin to report the records: a start
        // that outlasted it (a slow SSM, a Tradovate login waiting on a lock, retried reads)
        // had the whole invocation killed, and its records came back only after the
        // visibility timeout (360 s), past every signal's budget. A start cut short leaves
        // the cell empty (`OnceCell::get_or_try_init` is cancel-safe): the next batch starts
        // again.
        let start = self.ready.get_or_try_init(|| (self.start)());
        let started = match deadline {
            Some(d) => {
                let left = fifo_batch::time_left(d).saturating_sub(START_DEADLINE_MARGIN);
                match tokio::time::timeout(left, start).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "not started within the invocation's time: given up {} s before its \
                         deadline, to report the records",
                        START_DEADLINE_MARGIN.as_secs()
                    )),
                }
            }
            None => start.await.map_err(|e| e.to_string()),
        };
        match started {
            Ok(started) => handle(started).await,
            Err(e) => {
                let why = format!("the executor could not start: {e}");
                warn!(error = %why, "every record of the batch comes back within seconds");
                fifo_batch::process(event, deadline, |_| {
                    let why = why.clone();
                    async move { Err::<(), String>(why) }
                })
                .await
            }
        }
    }
}

/// The Lambda loop: SQS batches in, partial batch responses out; failed records are made
/// visible again within seconds on `SOURCE_QUEUE_URL` (the broker queue) and counted in the
/// `RecordFailures` metric. The venue is built by `venue` on the first batch ([`Starting`]),
/// which gives it with the base URL it trades at: a start that fails (an SSM read, a broker
/// login) fails that batch's records, which come back within seconds, and the next batch
/// builds it again. A start that succeeds logs, at `warn` so that a raised level keeps it,
/// the broker, account and host it trades and where its sizes came from ([`start_line`]):
/// a deployment left on a practice or demo host, or on the built-in sizes, says so.
pub async fn run<V, F, Fut, E>(
    common: Common,
    broker: shared::routing::Broker,
    venue: F,
) -> Result<(), lambda_runtime::Error>
where
    V: Venue,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(V, String), E>>,
    E: std::fmt::Display,
{
    let after = aws_adapters::AfterBatch::new(
        aws_sdk_sqs::Client::new(&common.sdk),
        common.source_queue_url.clone(),
        &format!("executor-{broker}"),
    );
    let invocation = common.deadline.clone();
    // Handed to the executor once the venue is built; a failed build keeps it for the next.
    let common = std::sync::Mutex::new(Some(common));
    let common = &common;
    let venue = &venue;
    let executor = Starting::new(move || async move {
        // The journal opened first (its URL read from SSM and parsed, see `JournalDatabase`):
        // no signal trades while the journal's URL is not known. (The database itself is
        // connected on first use; a write that fails then hands the lease over, as before.)
        let journal = common
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.journal.clone());
        if let Some(DeployedJournal::Database(database, _)) = &journal {
            database.get().await.map_err(|e| e.to_string())?;
        }
        let (venue, base_url) = venue().await.map_err(|e| e.to_string())?;
        let common = common
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| "started twice".to_owned())?;
        warn!(
            broker = %broker,
            account = venue.account(),
            "{}",
            start_line(broker, venue.account(), &base_url, common.risk_source)
        );
        Ok::<_, String>(common.executor(venue))
    });
    let (executor, after) = (&executor, &after);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        #[allow(
            clippy::disallowed_methods,
            reason = "Lambda gives its deadline as a wall-clock instant: only the system clock compares with it"
        )]
        let now = std::time::SystemTime::now();
        let deadline =
            executor_runtime::processor::usable_deadline(event.context.deadline(), now);
        invocation.set(deadline);
        async move {
            let response = executor
                .batch(&event.payload, deadline, |executor| {
                    executor.handle_batch(event.payload.clone(), deadline)
                })
                .await?;
            let now = shared::clock::Clock::now(&SystemClock).timestamp_millis();
            after.run(&event.payload, &response, now, deadline).await;
            Ok::<_, executor_runtime::processor::MissingMessageId>(response)
        }
    }))
    .await
}

/// The line a started executor logs: `executor started: trading oanda account 101-… at
/// https://api-fxtrade.oanda.com; sizes from RISK_CONFIG` (the host without a user, password
/// or path: [`shared::config::shown_host`]).
pub fn start_line(
    broker: shared::routing::Broker,
    account: &str,
    base_url: &str,
    risk_source: &str,
) -> String {
    format!(
        "executor started: trading {broker} account {account} at {}; sizes from {risk_source}",
        shared::config::shown_host(base_url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The start line names the broker, the account, the host (never a user or password in
    /// the URL) and where the sizes came from.
    #[test]
    fn the_start_line_names_account_host_and_sizes() {
        let line = start_line(
            shared::routing::Broker::Tradovate,
            "DEMO123",
            "https://user:pw@demo.tradovateapi.com/v1",
            "the executor's built-in defaults (no RISK_CONFIG)",
        );
        assert_eq!(
            line,
            "executor started: trading tradovate account DEMO123 at https://demo.tradovateapi.com; sizes from the executor's built-in defaults (no RISK_CONFIG)"
        );
    }

    /// The journal is exactly one of `JOURNAL=log`, `JOURNAL_URL` and `JOURNAL_URL_PARAM`:
    /// none, two, or a `JOURNAL` other than `log` is refused by name.
    #[test]
    fn the_journal_is_one_of_three_settings_and_two_are_refused() {
        let with = |pairs: &[(&str, &str)]| {
            journal_choice(&shared::config::MapEnv::new(pairs.iter().copied()))
        };
        assert_eq!(with(&[("JOURNAL", "log")]).ok(), Some(JournalChoice::Log));
        assert_eq!(
            with(&[("JOURNAL_URL", " sqlite:/tmp/j.sqlite ")]).ok(),
            Some(JournalChoice::Url("sqlite:/tmp/j.sqlite".into()))
        );
        assert_eq!(
            with(&[("JOURNAL_URL_PARAM", "/tv/journal-url")]).ok(),
            Some(JournalChoice::Param("/tv/journal-url".into()))
        );
        let refused = |pairs: &[(&str, &str)]| with(pairs).unwrap_err().to_string();
        let err = refused(&[]);
        assert!(
            err.contains("JOURNAL_URL, JOURNAL_URL_PARAM or JOURNAL=log"),
            "{err}"
        );
        // A database never written while the executor journals to its log.
        let err = refused(&[("JOURNAL", "log"), ("JOURNAL_URL_PARAM", "/tv/journal-url")]);
        assert!(
            err.contains("JOURNAL, JOURNAL_URL_PARAM") && err.contains("set together"),
            "{err}"
        );
        let err = refused(&[
            ("JOURNAL_URL", "sqlite:/tmp/j"),
            ("JOURNAL_URL_PARAM", "/p"),
        ]);
        assert!(err.contains("JOURNAL_URL, JOURNAL_URL_PARAM"), "{err}");
        for mode in ["LOG", "logs", "postgres"] {
            let err = refused(&[("JOURNAL", mode)]);
            assert!(
                err.contains("JOURNAL") && err.contains(&format!("{mode:?}")),
                "{err}"
            );
        }
        // A URL there by mistake is not repeated: its password would be in the log.
        let err = refused(&[("JOURNAL", "postgres://tv:hunter2@db.example/journal")]);
        assert!(
            err.contains("JOURNAL") && err.contains("JOURNAL_URL") && !err.contains("hunter2"),
            "{err}"
        );
        let err = refused(&[("JOURNAL_URL", " ")]);
        assert!(
            err.contains("JOURNAL_URL") && err.contains("set but empty"),
            "{err}"
        );
    }

    /// `NOTIFY_FILLS` is `true` or `false` (unset: `false`); anything else is refused by
    /// name, not read as off.
    #[test]
    fn notify_fills_is_true_false_or_refused_by_name() {
        let with = |v: &str| notify_fills(&shared::config::MapEnv::new([("NOTIFY_FILLS", v)]));
        assert_eq!(with("true").ok(), Some(true));
        assert_eq!(with("false").ok(), Some(false));
        let unset = notify_fills(&shared::config::MapEnv::new(Vec::<(&str, &str)>::new()));
        assert_eq!(unset.ok(), Some(false));
        for bad in ["yes", "TRUE", "1"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(
                err.contains("NOTIFY_FILLS") && err.contains("neither"),
                "{err}"
            );
        }
    }

    /// `NOTIFY_MIN_INTERVAL_SECS` past chrono's range is refused by name, not a panic.
    #[test]
    fn the_notify_interval_is_refused_by_name_outside_its_range() {
        let with = |v: &str| {
            notify_interval(&shared::config::MapEnv::new([(
                "NOTIFY_MIN_INTERVAL_SECS",
                v,
            )]))
        };
        assert_eq!(with("60").unwrap(), Duration::seconds(60));
        for bad in ["10000000000000000", "-1"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("NOTIFY_MIN_INTERVAL_SECS"), "{err}");
        }
        let default = notify_interval(&shared::config::MapEnv::new(Vec::<(&str, &str)>::new()));
        assert_eq!(
            default.unwrap(),
            executor_runtime::notify::DEFAULT_MIN_INTERVAL
        );
    }

    /// Sets `deadline` so that a journal call has `secs` seconds left from now.
    fn journal_time_left(deadline: &InvocationDeadline, secs: u64) {
        #[allow(
            clippy::disallowed_methods,
            reason = "a Lambda-style deadline is a wall-clock instant"
        )]
        let now = std::time::SystemTime::now();
        deadline.set(Some(
            now + JOURNAL_DEADLINE_MARGIN + std::time::Duration::from_secs(secs),
        ));
    }

    /// A journal whose URL is in a parameter is read when first used: a failed read is that
    /// call's journal error (named by the parameter), and the next call reads the parameter
    /// again; a URL that is not a journal's is an error that does not show it (it holds the
    /// password); once opened, the parameter is not read again.
    #[tokio::test]
    async fn a_journal_url_parameter_is_read_on_first_use_and_again_after_a_failure() {
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        // Refuses connections: once opened, each call meets the invocation's deadline.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = closed.local_addr().unwrap();
        drop(closed);
        let read: ReadUrl = Arc::new(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match n {
                    0 => Err("ThrottlingException: Rate exceeded".to_owned()),
                    // Refused by the journal while it parses the URL.
                    1 => Ok(secrecy::SecretString::from(format!(
                        "postgres://journal:pw-in-url@{at}/journal?sslmode=sometimes"
                    ))),
                    _ => Ok(secrecy::SecretString::from(format!(
                        "postgres://journal:pw-in-url@{at}/journal"
                    ))),
                }
            })
        });
        let database = JournalDatabase::deferred("/tv/journal-url", read);
        assert_eq!(reads.load(Ordering::SeqCst), 0, "not read before first use");
        let deadline = InvocationDeadline::default();
        // Each call given up a second in, not after the pool's 30 s wait.
        journal_time_left(&deadline, 1);
        let journal = DeployedJournal::Database(database, deadline.clone());
        let id = shared::SignalId::of_canonical("deferred");
        let err = journal.orders(&id).await.unwrap_err();
        assert!(
            err.reason.contains("JOURNAL_URL_PARAM (/tv/journal-url)")
                && err.reason.contains("Rate exceeded"),
            "{err}"
        );
        let err = journal.orders(&id).await.unwrap_err();
        assert!(
            err.reason
                .starts_with("JOURNAL_URL_PARAM (/tv/journal-url): "),
            "{err}"
        );
        assert!(!err.reason.contains("pw-in-url"), "{err}");
        // Read a third time, opened (the pool connects lazily), then kept.
        journal_time_left(&deadline, 1);
        assert!(journal.orders(&id).await.is_err());
        assert!(!format!("{journal:?}").contains("pw-in-url"));
        assert!(journal.orders(&id).await.is_err());
        assert_eq!(
            reads.load(Ordering::SeqCst),
            3,
            "opened once read whole, then kept"
        );
    }

    /// A journal whose database takes the connection and never answers (a paused Aurora
    /// that does not resume) is given up before the invocation's deadline, less the margin,
    /// rather than after the pool's 30 s wait, which would run the invocation past its
    /// timeout. Read again after a batch without a deadline, the bound is gone.
    #[tokio::test]
    async fn a_journal_that_does_not_answer_is_given_up_before_the_invocation_deadline() {
        // Accepts connections (the kernel's backlog) and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "postgres://journal:secret@{}/journal",
            silent.local_addr().unwrap()
        );
        let database = journal::AnyJournal::connect(&url).await.unwrap();
        let deadline = InvocationDeadline::default();
        let journal = DeployedJournal::Database(JournalDatabase::Open(database), deadline.clone());
        journal_time_left(&deadline, 2);
        let started = std::time::Instant::now();
        let read = journal
            .orders(&shared::SignalId::of_canonical("silent"))
            .await;
        let took = started.elapsed();
        let err = read.unwrap_err();
        assert!(
            err.reason.contains("before the invocation's deadline"),
            "{err}"
        );
        assert!(!err.reason.contains("secret"), "{err}");
        assert!(
            took < std::time::Duration::from_secs(10),
            "given up after {took:?}, not at the 30 s pool wait"
        );
        drop(silent);
    }

    /// The time limits default to the deployed 30 s / 90 s / 30 days; a value out of its range
    /// or a lease shorter than the budget plus 60 s is refused, naming the setting.
    #[test]
    fn the_time_limits_are_read_and_checked_together() {
        let limits = |pairs: &[(&str, &str)]| {
            TimeLimits::from_env(&shared::config::MapEnv::new(pairs.iter().copied()))
        };
        assert_eq!(
            limits(&[]),
            Ok(TimeLimits {
                max_age: Duration::seconds(30),
                lease: Duration::seconds(90),
                record_ttl: Duration::days(30),
            })
        );
        assert_eq!(
            (1..=4)
                .map(fifo_batch::retry_delay)
                .sum::<std::time::Duration>(),
            QUICK_RETRIES
        );
        assert!(limits(&[("MAX_ALERT_AGE_SECS", "120"), ("LEASE_SECS", "180")]).is_ok());
        assert!(limits(&[("LEASE_SECS", "89")]).is_err());
        for (pairs, name, words) in [
            (
                vec![("MAX_ALERT_AGE_SECS", "120")],
                "LEASE_SECS",
                "90 s is shorter than MAX_ALERT_AGE_SECS (120 s) plus 60 s",
            ),
            // The lease the executors had: a forced replay that ended unknown about 55 s in
            // and could not dead-letter it was taken over by a quick retry.
            (
                vec![("LEASE_SECS", "60")],
                "LEASE_SECS",
                "60 s is shorter than MAX_ALERT_AGE_SECS (30 s) plus 60 s",
            ),
            (
                vec![("LEASE_SECS", "-1")],
                "LEASE_SECS",
                "-1 is outside 1 to 86400",
            ),
            (
                vec![("MAX_ALERT_AGE_SECS", "0")],
                "MAX_ALERT_AGE_SECS",
                "0 is outside",
            ),
            (
                vec![("RECORD_TTL_DAYS", "0")],
                "RECORD_TTL_DAYS",
                "0 is outside 19 to 3650",
            ),
            // Shorter than a dead letter can wait for its replay (4 days queued, then 14 in
            // the dead-letter queue): a replay would trade the signal again.
            (
                vec![("RECORD_TTL_DAYS", "1")],
                "RECORD_TTL_DAYS",
                "1 is outside 19 to 3650",
            ),
            (vec![("LEASE_SECS", "sixty")], "LEASE_SECS", "invalid digit"),
        ] {
            match limits(&pairs) {
                Err(ConfigError::Invalid { name: n, reason }) => {
                    assert_eq!(n, name, "{pairs:?}");
                    assert!(reason.contains(words), "{pairs:?}: {reason}");
                }
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }

    fn event(groups: &[(&str, &str)]) -> SqsEvent {
        let mut event = SqsEvent::default();
        for (id, group) in groups {
            let mut m = aws_lambda_events::sqs::SqsMessage::default();
            m.message_id = Some((*id).to_owned());
            m.attributes
                .insert("MessageGroupId".to_owned(), (*group).to_owned());
            event.records.push(m);
        }
        event
    }

    fn failed(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    /// A start that fails (a login refused for a moment) fails the batch's records, each
    /// one, without running them; the next batch starts again and runs; a started value is
    /// not started a third time.
    #[tokio::test]
    async fn a_failed_start_fails_the_batch_and_the_next_batch_starts_again() {
        let starts = AtomicUsize::new(0);
        let started = Starting::new(|| {
            let n = starts.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err("Tradovate login: the lock is busy".to_owned())
                } else {
                    Ok(n)
                }
            }
        });
        let ran = AtomicUsize::new(0);
        let batch = event(&[("m1", "EURUSD"), ("m2", "GBPUSD")]);
        let handle = |value: &usize| {
            ran.fetch_add(*value, Ordering::SeqCst);
            async { Ok(SqsBatchResponse::default()) }
        };
        let first = started.batch(&batch, None, handle).await.unwrap();
        assert_eq!(failed(&first), ["m1", "m2"]);
        assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing of the batch ran");

        let second = started.batch(&batch, None, handle).await.unwrap();
        assert!(failed(&second).is_empty());
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "ran on the value of the second start"
        );
        started.batch(&batch, None, handle).await.unwrap();
        assert_eq!(
            starts.load(Ordering::SeqCst),
            2,
            "started once it worked, not again"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }

    /// A start slower than the invocation's time is given up before the deadline, less the
    /// margin to report the records: each record is failed (they come back within seconds),
    /// where Lambda would have ended the invocation and left them invisible for the
    /// visibility timeout; the next batch starts again.
    #[tokio::test]
    async fn a_start_slower_than_the_invocation_is_given_up_before_its_deadline() {
        let starts = AtomicUsize::new(0);
        let started = Starting::new(|| {
            let n = starts.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                }
                Ok::<_, String>(n)
            }
        });
        let batch = event(&[("m1", "EURUSD"), ("m2", "GBPUSD")]);
        let handle = |_: &usize| async { Ok(SqsBatchResponse::default()) };
        #[allow(
            clippy::disallowed_methods,
            reason = "a Lambda-style deadline is a wall-clock instant"
        )]
        let deadline = std::time::SystemTime::now()
            + START_DEADLINE_MARGIN
            + std::time::Duration::from_millis(300);
        let begun = std::time::Instant::now();
        let first = started.batch(&batch, Some(deadline), handle).await.unwrap();
        assert!(
            begun.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            begun.elapsed()
        );
        assert_eq!(failed(&first), ["m1", "m2"]);
        let second = started.batch(&batch, None, handle).await.unwrap();
        assert!(failed(&second).is_empty());
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }
}
