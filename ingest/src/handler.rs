//! The webhook core, independent of Lambda: a plain request in, a status and JSON body out.

use crate::error::{AuthFailure, IngestError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::RoutingTable;
use shared::alert::{Freshness, MAX_BODY_BYTES, RawAlert, ValidatedAlert};
use shared::clock::Clock;
use shared::error::AlertError;
use shared::health::{HealthState, HealthStore, NoHealth};
use shared::message::SignalMessage;
use shared::ports::{FifoMessage, FifoQueue};
use shared::routing::Broker;
use shared::secrets::{find_any_case, replace_any_case};
use std::net::IpAddr;
use subtle::ConstantTimeEq;
use tracing::{Instrument, error_span, info, warn};

/// The longest the webhook waits for the queue to take an alert before it answers 503
/// `enqueue_failed`. TradingView cancels a webhook request after 3 s and resends only one
/// answered with a 5xx, never one that timed out (TradingView, "About webhooks":
/// <https://www.tradingview.com/support/solutions/43000529348-about-webhooks/>): the SDK's own
/// retries on a throttled or slow queue could otherwise outlast it, and the alert would be
/// lost without a resend. The rest of the 3 s is for API Gateway, the Lambda and the network.
pub const ENQUEUE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// What the edge extracted from the HTTP request.
///
/// Its `Debug` shows neither a path's secret (`/webhook/<secret>` as `/webhook/[REDACTED]`)
/// nor the body (which may carry the `passphrase`), only the body's length.
#[derive(Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    /// The path without the API Gateway stage.
    pub path: &'a str,
    pub source_ip: Option<IpAddr>,
    pub body: &'a [u8],
}

impl std::fmt::Debug for WebhookRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Any path below the webhook's may be the secret, whatever its shape.
        let path = match self.path.split_once("/webhook/") {
            Some((head, _)) => format!("{head}/webhook/[REDACTED]"),
            None => self.path.to_owned(),
        };
        f.debug_struct("WebhookRequest")
            .field("method", &self.method)
            .field("path", &path)
            .field("source_ip", &self.source_ip)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The HTTP status and JSON body to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// What was queued, for an alert that was (status 200): the body says the same in JSON,
    /// this spares a caller that shows it (the local stack's console and dashboard) reading
    /// it back.
    pub accepted: Option<Accepted>,
    /// For a refusal the body names only by its code (a 401, or a body unread before its
    /// sender was authenticated): what failed, for the operator's own console
    /// ([`AuthFailure::hint`], or the alert error scrubbed of the secret); never sent to the
    /// caller.
    pub operator_note: Option<String>,
    /// For a 405: the methods the route answers, for the answer's `Allow` header.
    pub allow: Option<&'static str>,
}

/// An alert ingest queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub signal_id: shared::SignalId,
    pub broker: Broker,
    /// The broker's instrument the routing table gave.
    pub instrument: String,
    pub action: shared::Action,
}

impl Reply {
    fn error(err: &IngestError, message: String) -> Self {
        Self {
            status: err.status(),
            body: json!({"error": {"code": err.code(), "message": message}}),
            accepted: None,
            operator_note: match err {
                IngestError::Unauthorized(why) => Some(why.hint().to_owned()),
                // The queue's own words (a local queue's message may be queued in memory
                // though not on disk), for the operator; the caller's answer names no queue.
                IngestError::Enqueue(e) => Some(e.to_string()),
                _ => None,
            },
            allow: match err {
                IngestError::MethodNotAllowed { allow } => Some(allow),
                _ => None,
            },
        }
    }
}

pub struct Ingest<Q, C, H = NoHealth> {
    queue: Q,
    /// Where the status endpoints read each broker's health.
    health: H,
    clock: C,
    /// Only the digest is kept: comparing digests is constant-time whatever the lengths.
    secret_digest: [u8; 32],
    /// Kept only to scrub it from refusals: a sender who pastes the secret into another field
    /// (or the method) must not see it echoed, nor find it in the logs.
    secret: SecretString,
    freshness: Freshness,
    allowlist: Option<Vec<IpAddr>>,
    routing: RoutingTable,
    /// The brokers whose executors are deployed ([`Self::with_brokers`]; every broker unless
    /// told).
    brokers: Vec<Broker>,
}

impl<Q, C, H> std::fmt::Debug for Ingest<Q, C, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("secret", &"[REDACTED]")
            .field("freshness", &self.freshness)
            .field("allowlist", &self.allowlist)
            .finish_non_exhaustive()
    }
}

/// `/oandastatus` → OANDA, and so on for each broker.
fn status_route(path: &str) -> Option<Broker> {
    Broker::ALL.into_iter().find(|b| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_suffix("status"))
            == Some(b.as_str())
    })
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl<Q: FifoQueue, C: Clock> Ingest<Q, C, NoHealth> {
    pub fn new(
        queue: Q,
        clock: C,
        secret: &SecretString,
        freshness: Freshness,
        allowlist: Option<Vec<IpAddr>>,
        routing: RoutingTable,
    ) -> Self {
        Self {
            queue,
            health: NoHealth,
            clock,
            secret_digest: digest(secret.expose_secret().as_bytes()),
            secret: secret.clone(),
            freshness,
            allowlist,
            routing,
            brokers: Broker::ALL.to_vec(),
        }
    }
}

impl<Q: FifoQueue, C: Clock, H: HealthStore> Ingest<Q, C, H> {
    /// The time by the ingest's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Serves `GET /{broker}status` from `health`.
    pub fn with_health<H2: HealthStore>(self, health: H2) -> Ingest<Q, C, H2> {
        Ingest {
            queue: self.queue,
            health,
            clock: self.clock,
            secret_digest: self.secret_digest,
            secret: self.secret,
            freshness: self.freshness,
            allowlist: self.allowlist,
            routing: self.routing,
            brokers: self.brokers,
        }
    }

    /// Only these brokers' executors are deployed: an alert routed to another is refused with
    /// 422 `unroutable_symbol` before it is queued. Its broker's queue has no consumer, so it
    /// would wait there until the queue's retention deleted it, answered 200 and never
    /// executed.
    pub fn with_brokers(mut self, brokers: Vec<Broker>) -> Self {
        self.brokers = brokers;
        self
    }

    pub async fn handle(&self, req: WebhookRequest<'_>) -> Reply {
        let path = req.path.trim_end_matches('/');
        let result = match (req.method, path) {
            ("GET", "/healthcheck") => {
                return Reply {
                    status: 200,
                    body: json!({"status": "ok"}),
                    accepted: None,
                    operator_note: None,
                    allow: None,
                };
            }
            (_, "/healthcheck") => Err(IngestError::MethodNotAllowed { allow: "GET" }),
            (method, p) if status_route(p).is_some() => match (method, status_route(p)) {
                ("GET", Some(broker)) => self.status(broker).await,
                _ => Err(IngestError::MethodNotAllowed { allow: "GET" }),
            },
            ("POST", "/webhook") => self.webhook(None, req).await,
            ("POST", p) => match p.strip_prefix("/webhook/") {
                Some(secret) if !secret.is_empty() && !secret.contains('/') => {
                    self.webhook(Some(secret), req).await
                }
                _ => Err(IngestError::NotFound),
            },
            (_, p) if p == "/webhook" || p.starts_with("/webhook/") => {
                Err(IngestError::MethodNotAllowed { allow: "POST" })
            }
            _ => Err(IngestError::NotFound),
        };
        match result {
            Ok(reply) => reply,
            Err(err) => {
                match &err {
                    IngestError::Unauthorized(why) => {
                        warn!(
                            code = err.code(),
                            reason = why.as_str(),
                            source_ip = req
                                .source_ip
                                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                            "alert refused"
                        )
                    }
                    IngestError::Enqueue(e) => {
                        warn!(code = err.code(), error = %e, "alert not enqueued")
                    }
                    // The path may hold the secret: never log it.
                    IngestError::NotFound | IngestError::MethodNotAllowed { .. } => {
                        warn!(code = err.code(), method = %self.scrub(req.method), "no such route")
                    }
                    IngestError::Alert(e) | IngestError::Unread(e) => {
                        warn!(code = err.code(), error = %self.scrub(&e.to_string()), "alert refused")
                    }
                    IngestError::Health(e) => {
                        warn!(code = err.code(), error = %e, "broker health unreadable")
                    }
                }
                let mut reply = Reply::error(&err, self.scrub(&err.public_message()));
                if let IngestError::Unread(e) = &err {
                    reply.operator_note =
                        Some(format!("what was wrong: {}", self.scrub(&e.to_string())));
                }
                reply
            }
        }
    }

    /// `text` with every occurrence of the webhook secret replaced, and with any part of it
    /// that a cut (`…`) left replaced too: the start of one before a cut (an echo cut at its
    /// end, past 64 characters), the end of one after a cut (a deep key path cut at its
    /// start, keeping its last 128 characters), and a middle part between two cuts: a secret
    /// pasted across either limit must not leak any of its characters.
    fn scrub(&self, text: &str) -> String {
        let secret = self.secret.expose_secret();
        if secret.is_empty() {
            return text.to_owned();
        }
        // Refusals quote values with `{:?}`, which escapes quotes and backslashes.
        let quoted = format!("{secret:?}");
        let escaped = &quoted[1..quoted.len() - 1];
        let forms: &[&str] = if escaped == secret {
            &[secret]
        } else {
            &[secret, escaped]
        };
        // In any letter case: the secret typed in capitals is the secret all the same.
        let mut whole = text.to_owned();
        for form in forms {
            whole = replace_any_case(&whole, form, "[REDACTED]");
        }
        // The longest proper part of a form that `fits` (a start before a cut, an end after
        // one), by its length in bytes.
        let longest = |fits: &dyn Fn(&str) -> bool, start: bool| {
            forms
                .iter()
                .flat_map(|form| {
                    (1..form.len())
                        .filter(|&k| form.is_char_boundary(k))
                        .map(|k| if start { &form[..k] } else { &form[k..] })
                        .filter(|part| fits(part))
                        .map(str::len)
                })
                .max()
        };
        let mut out = String::with_capacity(whole.len());
        let mut rest = whole.as_str();
        let mut after_cut = false;
        loop {
            let (piece, next) = match rest.find('…') {
                Some(cut) => (&rest[..cut], Some(&rest[cut + '…'.len_utf8()..])),
                None => (rest, None),
            };
            let mut piece = piece;
            if after_cut
                && let Some(n) = longest(
                    &|part| {
                        piece
                            .as_bytes()
                            .get(..part.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(part.as_bytes()))
                    },
                    false,
                )
            {
                out.push_str("[REDACTED]");
                piece = &piece[n..];
            }
            // Between two cuts (a deep path cut at its start, one of its keys cut at 64
            // characters), a piece can be a middle part of the secret, neither its start nor its
            // end: redacted whole (a short piece that merely occurs in the secret too is lost to
            // the message, never the secret to the log).
            if after_cut
                && next.is_some()
                && !piece.is_empty()
                && forms.iter().any(|form| {
                    form.to_ascii_lowercase()
                        .contains(&piece.to_ascii_lowercase())
                })
            {
                out.push_str("[REDACTED]");
                piece = "";
            }
            match next {
                Some(next) => {
                    let ends_with = |part: &str| {
                        piece
                            .len()
                            .checked_sub(part.len())
                            .and_then(|at| piece.as_bytes().get(at..))
                            .is_some_and(|p| p.eq_ignore_ascii_case(part.as_bytes()))
                    };
                    match longest(&ends_with, true) {
                        Some(n) => {
                            out.push_str(&piece[..piece.len() - n]);
                            out.push_str("[REDACTED]");
                        }
                        None => out.push_str(piece),
                    }
                    out.push('…');
                    rest = next;
                    after_cut = true;
                }
                None => {
                    out.push_str(piece);
                    return out;
                }
            }
        }
    }

    /// The alert without the webhook secret: a sender who pastes it into another field (the
    /// `indicator`, say, besides the path) gets it replaced with `[REDACTED]` in every field
    /// and in the canonical body, before anything is queued, journaled or logged. Answers the
    /// fields it was found in (for the reply's warning and a log line that names no value).
    /// The signal id is then the hash of the redacted canonical body, not of the text with the
    /// secret in it (whoever reads the journal's copy could test guesses of the secret against
    /// that hash); redaction is deterministic, so a resend of the same body gets the same id and
    /// deduplicates as usual.
    ///
    /// # Errors
    /// `invalid_field` when the alert no longer reads back once redacted (the secret sat in a
    /// field with a fixed form); nothing is queued then.
    fn redact(
        &self,
        mut valid: ValidatedAlert,
    ) -> Result<(ValidatedAlert, Vec<String>), IngestError> {
        let secret = self.secret.expose_secret();
        if secret.is_empty() {
            return Ok((valid, Vec::new()));
        }
        // The canonical body is serde_json's text, which encodes each character on its own
        // (only quotes, backslashes and control characters are escaped): a key, string or
        // number holding the secret holds its encoded form in that text. Neither form there,
        // nothing to redact, and the walk below (a parse, a path per field, a reprint) is
        // spared on every ordinary alert.
        let encoded = serde_json::to_string(secret).unwrap_or_default();
        let encoded = encoded
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or(secret);
        if !contains_any_case(&valid.canonical, secret)
            && (encoded == secret || !contains_any_case(&valid.canonical, encoded))
        {
            return Ok((valid, Vec::new()));
        }
        let mut canonical: serde_json::Value = match serde_json::from_str(&valid.canonical) {
            Ok(v) => v,
            Err(_) => return Ok((valid, Vec::new())),
        };
        let mut fields = Vec::new();
        redact_strings(&mut canonical, secret, "", &mut fields);
        // A key or a number can hold it too; those cannot be redacted without changing what
        // the alert says, so the alert is refused (the message names no value).
        if contains_any_case(&canonical.to_string(), secret) {
            return Err(IngestError::Alert(AlertError::InvalidField {
                field: "a key or number of the alert".into(),
                expected: "free of the webhook secret".into(),
            }));
        }
        if fields.is_empty() {
            return Ok((valid, fields));
        }
        // Field paths are made of the sender's keys: scrubbed like any echo.
        let fields: Vec<String> = fields.iter().map(|f| self.scrub(f)).collect();
        warn!(fields = %fields.join(", "), "webhook secret found in the alert body; redacted before queueing");
        let mut alert = serde_json::to_value(&valid.alert).unwrap_or_default();
        redact_strings(&mut alert, secret, "", &mut Vec::new());
        valid.alert = serde_json::from_value(alert).map_err(|_| {
            IngestError::Alert(AlertError::InvalidField {
                field: fields.join(", "),
                expected: "free of the webhook secret".into(),
            })
        })?;
        valid.canonical = canonical.to_string();
        valid.signal_id = shared::SignalId::of_canonical(&valid.canonical);
        Ok((valid, fields))
    }

    /// Coarse broker health: times and kinds only, never an error text that could carry an
    /// account id. 503 when degraded, so an uptime check can alarm on the status code alone.
    async fn status(&self, broker: Broker) -> Result<Reply, IngestError> {
        let health = self
            .health
            .read(broker)
            .await
            .map_err(IngestError::Health)?;
        let now = self.clock.now();
        let state = health.state(now);
        let mut body = json!({
            "broker": broker.as_str(),
            "status": state,
            "last_success": health.last_success,
            "last_failure": health.last_failure,
            "last_failure_kind": health.last_failure_kind,
        });
        if broker == Broker::Tradovate {
            body["token_expires_at"] = json!(health.token_expires_at);
            body["token_refreshed_at"] = json!(health.token_refreshed_at);
            body["last_token_failure"] = json!(health.standing_token_failure());
            body["token_expires_in_secs"] =
                json!(health.token_expires_at.map(|e| (e - now).num_seconds()));
        }
        Ok(Reply {
            status: if state == HealthState::Degraded {
                503
            } else {
                200
            },
            body,
            accepted: None,
            operator_note: None,
            allow: None,
        })
    }

    fn check_secret(&self, candidate: Option<&str>) -> Result<(), IngestError> {
        let candidate = candidate.ok_or(IngestError::Unauthorized(AuthFailure::NoSecret))?;
        if bool::from(digest(candidate.as_bytes()).ct_eq(&self.secret_digest)) {
            Ok(())
        } else {
            Err(IngestError::Unauthorized(AuthFailure::WrongSecret))
        }
    }

    async fn webhook(
        &self,
        path_secret: Option<&str>,
        req: WebhookRequest<'_>,
    ) -> Result<Reply, IngestError> {
        let received_at = self.clock.now();
        if req.body.len() > MAX_BODY_BYTES {
            return Err(AlertError::PayloadTooLarge {
                size: req.body.len(),
                limit: MAX_BODY_BYTES,
            }
            .into());
        }
        if let Some(allowed) = &self.allowlist
            && !req.source_ip.is_some_and(|ip| allowed.contains(&ip))
        {
            return Err(IngestError::Unauthorized(AuthFailure::SourceIpNotAllowed));
        }
        // A secret in the path is checked before the body is even parsed; a secret in the
        // body needs the JSON first.
        if path_secret.is_some() {
            self.check_secret(path_secret)?;
        }
        let raw = RawAlert::parse(req.body).map_err(|e| match path_secret {
            Some(_) => IngestError::Alert(e),
            None => IngestError::Unread(e),
        })?;
        if path_secret.is_none() {
            self.check_secret(raw.passphrase().map(|s| s.expose_secret()))?;
        }
        let (valid, redacted) = self.redact(raw.validate()?)?;
        // At ERROR level, so the span is kept whatever the level filter: a warning or an error
        // must name its signal when only those are logged (`tvctl dev`'s default).
        let span = error_span!("signal", signal_id = %valid.signal_id);
        async {
            let route = valid.route_and_check(&self.routing, received_at, self.freshness)?;
            if !self.brokers.contains(&route.broker) {
                let md = &valid.alert.market_data;
                return Err(IngestError::Alert(AlertError::UnroutableSymbol {
                    // As the table's own refusals give them: the symbol cut, the exchange as
                    // matched (no delayed-data suffix).
                    symbol: shared::error::echo(&md.symbol),
                    exchange: self.routing.venue_of(&md.exchange),
                    reason: format!(
                        "it routes to {}, whose executor is not deployed here (DEPLOYED_BROKERS: \
                         {}); deploy it or send the alert to a deployment that has it",
                        route.broker,
                        self.brokers
                            .iter()
                            .map(|b| b.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                }));
            }
            let message = SignalMessage {
                version: SignalMessage::version_of(&valid.alert),
                signal_id: valid.signal_id.clone(),
                received_at,
                enqueued_at: self.clock.now(),
                alert: valid.alert,
                raw: valid.canonical,
                replay_forced: false,
            };
            let body = serde_json::to_string(&message).map_err(|e| {
                IngestError::Enqueue(shared::ports::QueueError::Refused {
                    queue: "signals".into(),
                    reason: format!("signal could not be serialised: {e}"),
                })
            })?;
            let group_id = message.group_id();
            let send = self.queue.send(FifoMessage {
                group_id: group_id.clone(),
                dedup_id: message.signal_id.to_string(),
                body,
            });
            // A 503 TradingView never reads is a lost alert: it is answered within the budget,
            // and a send that lands after all makes the resend a duplicate the queue drops.
            tokio::time::timeout(ENQUEUE_BUDGET, send)
                .await
                .map_err(|_| {
                    IngestError::Enqueue(shared::ports::QueueError::Unavailable {
                        queue: "signals".into(),
                        reason: format!(
                            "no answer within {} ms (the message may be queued all the same; \
                             a resend is dropped as a duplicate if so)",
                            ENQUEUE_BUDGET.as_millis()
                        ),
                    })
                })?
                .map_err(IngestError::Enqueue)?;
            info!(
                action = %message.alert.action,
                symbol = %message.alert.market_data.symbol,
                broker = %route.broker,
                instrument = %route.instrument,
                group = %group_id,
                "alert enqueued"
            );
            let mut body = json!({
                "signal_id": message.signal_id,
                "status": "enqueued",
                "broker": route.broker,
                "instrument": route.instrument,
            });
            if !redacted.is_empty() {
                body["warnings"] = json!([format!(
                    "the webhook secret was found in {} and replaced with [REDACTED] before the \
                     alert was queued; remove it from the alert message",
                    redacted.join(", ")
                )]);
            }
            Ok(Reply {
                status: 200,
                body,
                accepted: Some(Accepted {
                    signal_id: message.signal_id,
                    broker: route.broker,
                    instrument: route.instrument.to_string(),
                    action: message.alert.action,
                }),
                operator_note: None,
                allow: None,
            })
        }
        .instrument(span)
        .await
    }
}

fn contains_any_case(hay: &str, needle: &str) -> bool {
    find_any_case(hay, needle).is_some()
}

/// Replaces `secret`, in any ASCII letter case, in every string of `value` (keys are the
/// alert's own field names, never the sender's text), collecting the dotted paths of the
/// strings that held it.
fn redact_strings(
    value: &mut serde_json::Value,
    secret: &str,
    path: &str,
    found: &mut Vec<String>,
) {
    match value {
        serde_json::Value::String(text) if contains_any_case(text, secret) => {
            *text = replace_any_case(text, secret, "[REDACTED]");
            found.push(if path.is_empty() {
                "the body".into()
            } else {
                path.to_owned()
            });
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                redact_strings(item, secret, &format!("{path}[{i}]"), found);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                redact_strings(item, secret, &child, found);
            }
        }
        _ => {}
    }
}
