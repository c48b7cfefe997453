//! The parts of `tvctl` other crates use: the journal report (`tvctl report`, and the bench in
//! `perf`) and the TradingView alert template (`tvctl alert-template`).

pub mod report;
pub mod template;

/// How long `tvctl` waits for a whole answer: a stack or webhook that takes the connection and
/// never answers is unreachable (exit 3), not a command that hangs.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The HTTP client of every `tvctl` request: [`REQUEST_TIMEOUT`], and no redirect followed.
/// A redirect would carry an alert, with its passphrase in the body or the secret in the path,
/// to whatever host the answer names, and a redirected `send` could read a status page's 200
/// as an accepted alert; a 3xx is shown as the answer it is.
///
/// # Errors
/// reqwest's, when its TLS backend cannot start.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// A request that got no answer, named by its URL without secrets; a refused connection says
/// what usually causes it.
pub fn request_failed(url: &str, e: reqwest::Error) -> String {
    let hint = if e.is_connect() {
        " (nothing answers there: is `tvctl dev` running, and on that port? --url or TVCTL_URL \
         for send, --local for dlq, --base or TVCTL_BASE for the others)"
    } else if e.is_timeout() {
        " (no answer within 30 s)"
    } else {
        ""
    };
    format!("{}: {}{hint}", shown_url(url), e.without_url())
}

/// A base URL as given to `--base` or `--local`: `http` or `https` with a host, no query or
/// fragment, as parsed (surrounding spaces dropped); a trailing `/` is dropped so that paths
/// join with one. `what` names the flag in the refusal, which never echoes the text (it may
/// hold a secret).
///
/// # Errors
/// What is wrong, naming `what`.
pub fn base_url(what: &str, text: &str) -> Result<String, String> {
    match reqwest::Url::parse(text) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.has_host()
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            Ok(u.as_str().trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "{what} is not an http(s) URL without a query, like http://127.0.0.1:8080"
        )),
    }
}

/// `text` with `secret` replaced by `[REDACTED]` in the forms a server that echoes a request
/// may give it back: as sent, in any ASCII letter case, JSON-escaped (serde's escapes, and
/// `\u00XX` for `&`, `<`, `>` and `'` as Go's encoder writes them), HTML-escaped (`&amp;`,
/// `&lt;`, `&gt;`, `&quot;` or `&#34;`, `&#39;`, `&#x27;` or `&apos;`, as an error page
/// quotes a path), and
/// percent-encoded (every byte but letters, digits and `-._~`, as a path or form carries it). For the answer
/// of a server at `tvctl send --url`, which need not be the webhook (a proxy, a debug
/// server); the webhook itself never echoes the secret.
pub fn without_echoed_secret(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let json = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or(secret)
        .to_owned();
    let go = json
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\'', "\\u0027");
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let html = |quote: &str, apostrophe: &str| {
        secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', quote)
            .replace('\'', apostrophe)
    };
    let mut out = text.to_owned();
    // The longest first: a form that contains another is replaced whole.
    let mut forms = vec![
        json,
        go,
        percent,
        html("&quot;", "&#39;"),
        html("&#34;", "&#x27;"),
        html("&quot;", "&apos;"),
        secret.to_owned(),
    ];
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    for form in forms {
        out = shared::secrets::replace_any_case(&out, &form, "[REDACTED]");
    }
    out
}

/// A URL as `tvctl` prints it in a message: scheme, host and port, and the path's first
/// segment, `/…` standing for the rest; no user or password, no query. The webhook URL carries
/// the secret in its path (`/webhook/<secret>`, as `alert-template` gives it), and a base URL
/// can carry a password (`http://user:pw@host`). Text that does not parse as a URL is not
/// shown at all: it may be a secret pasted in the wrong place.
pub fn shown_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return "the URL given (not shown: it does not parse as a URL)".into();
    };
    let host = parsed.host_str().unwrap_or("");
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().strip_prefix('/').unwrap_or(parsed.path());
    let path = match path.split_once('/') {
        Some((first, _)) => format!("/{first}/…"),
        None => format!("/{path}"),
    };
    format!("{}://{host}{port}{path}", parsed.scheme())
}

/// `tvctl positions`' lines from `GET /local/positions` (the local stack's answer: an object
/// per broker of what it holds, `real` naming the brokers read from the broker, `read_at`
/// when, `read_errors` their failed reads): one line per broker, an instrument at 0 (closed
/// to flat, kept in a paper book) left out. A paper book with nothing open is `flat`; a real
/// broker's read with nothing open says so without calling the account flat (only this run's
/// alerts' instruments are read). A real broker not read at all gives why on its line when
/// there is one reason; otherwise each failed read follows its broker's line.
pub fn positions_lines(v: &serde_json::Value) -> Vec<String> {
    let real: Vec<&str> = v["real"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let mut lines = Vec::new();
    for (broker, held) in v.as_object().into_iter().flatten() {
        if broker == "read_errors" || broker == "real" || broker == "read_at" {
            continue;
        }
        let real = real.contains(&broker.as_str());
        let read_at = v["read_at"][broker.as_str()].as_str();
        let from = match read_at {
            Some(at) => format!("(read from the broker at {at})"),
            None => "(read from the broker)".to_owned(),
        };
        let line = match held.as_object() {
            Some(book) => {
                let open: Vec<String> = book
                    .iter()
                    .filter_map(|(name, q)| {
                        let text = q.as_str().map_or_else(|| q.to_string(), str::to_owned);
                        let zero =
                            rust_decimal::Decimal::from_str_exact(&text).is_ok_and(|d| d.is_zero());
                        (!zero).then(|| format!("{name} {text}"))
                    })
                    .collect();
                match (open.is_empty(), real) {
                    (true, false) => "flat".to_owned(),
                    // No read made (no instrument known, or every read failed): why comes
                    // from the read errors, on this line or after it.
                    (true, true) if read_at.is_none() => "not read from the broker".to_owned(),
                    (true, true) => format!(
                        "{from} nothing held among the instruments read (those of the journal's \
                         latest signals and of the signals journaled since the start)"
                    ),
                    (false, false) => open.join(", "),
                    (false, true) => format!("{from} {}", open.join(", ")),
                }
            }
            None => held
                .as_str()
                .map_or_else(|| held.to_string(), str::to_owned),
        };
        let errors: Vec<String> = v["read_errors"][broker.as_str()]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
            .collect();
        // A broker not read at all for one reason says it on its one line; otherwise each
        // read error (an instrument's, the rate-limit hold's) follows on a line of its own.
        match errors.as_slice() {
            [why] if real && read_at.is_none() && line == "not read from the broker" => {
                lines.push(format!("{broker}: {line}: {why}"));
            }
            _ => {
                lines.push(format!("{broker}: {line}"));
                lines.extend(errors.iter().map(|e| format!("{broker}: not read: {e}")));
            }
        }
    }
    lines
}

/// Whether `GET /local/positions`' answer `v` names a broker whose positions were not read,
/// or not all of them (`read_errors` holds a reason for it): `tvctl positions` then exits 3,
/// as `status` does for a status it could not read, so a script never takes a position it
/// was not shown for none.
pub fn positions_unread(v: &serde_json::Value) -> bool {
    v["read_errors"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, errors)| errors.as_array().is_none_or(|e| !e.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::{positions_lines, positions_unread, shown_url, without_echoed_secret};

    /// An echoed secret is hidden in the forms a server may give it back in.
    #[test]
    fn an_echoed_secret_is_hidden_in_any_form() {
        let secret = "Tok&en<\"1/2";
        for echoed in [
            "Tok&en<\"1/2",
            "tok&EN<\"1/2",
            r#"Tok&en<\"1/2"#,
            r#"Tok\u0026en\u003c\"1/2"#,
            "Tok%26en%3C%221%2F2",
            "tok%26en%3c%221%2f2",
            "Tok&amp;en&lt;&quot;1/2",
            "Tok&amp;en&lt;&#34;1/2",
        ] {
            let shown = without_echoed_secret(&format!("before {echoed} after"), secret);
            assert_eq!(shown, "before [REDACTED] after", "{echoed}");
        }
        assert_eq!(without_echoed_secret("nothing", ""), "nothing");
    }

    #[test]
    fn a_url_is_shown_without_its_secret_parts() {
        assert_eq!(
            shown_url("http://127.0.0.1:8080/webhook/MYSECRETVALUE123456"),
            "http://127.0.0.1:8080/webhook/…"
        );
        assert_eq!(
            shown_url("https://trader:pw-91c2@status.example:8443/oandastatus?token=abc"),
            "https://status.example:8443/oandastatus"
        );
        assert_eq!(shown_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        let shown = shown_url("not a url MYSECRETVALUE123456");
        assert!(!shown.contains("MYSECRET"), "{shown}");
    }

    /// A paper book closed to flat reads `flat`; a real broker's read that found nothing says
    /// so without calling the account flat, and its failed reads follow its line.
    #[test]
    fn positions_lines_tell_a_flat_paper_book_from_a_real_read_that_found_nothing() {
        let v = serde_json::json!({
            "oanda": {"EUR_USD": "0"},
            "tradovate": {},
            "coinbase": {"BTC-USD": "0.00102961"},
            "real": ["tradovate", "coinbase"],
            "read_at": {"coinbase": "2026-12-05T06:00:00Z", "tradovate": "2026-12-05T06:00:01Z"},
            "read_errors": {"tradovate": ["ESZ6: timed out"]},
        });
        assert_eq!(
            positions_lines(&v),
            [
                "coinbase: (read from the broker at 2026-12-05T06:00:00Z) BTC-USD 0.00102961",
                "oanda: flat",
                "tradovate: (read from the broker at 2026-12-05T06:00:01Z) nothing held among \
                 the instruments read (those of the journal's latest signals and of the signals \
                 journaled since the start)",
                "tradovate: not read: ESZ6: timed out",
            ]
        );
        assert!(positions_unread(&v));
    }

    /// Only a broker with a reason it was not read makes the answer unread: paper books,
    /// and real brokers read in full, do not.
    #[test]
    fn positions_are_unread_only_where_a_read_failed() {
        let read = serde_json::json!({
            "oanda": {"EUR_USD": "1000"},
            "coinbase": {"BTC-USD": "0.5"},
            "real": ["coinbase"],
            "read_at": {"coinbase": "2026-12-05T06:00:00Z"},
            "read_errors": {},
        });
        assert!(!positions_unread(&read));
        assert!(!positions_unread(&serde_json::json!({"oanda": {}})));
        let empty_list = serde_json::json!({"oanda": {}, "read_errors": {"oanda": []}});
        assert!(!positions_unread(&empty_list));
        let not_asked = serde_json::json!({
            "oanda": {},
            "real": ["oanda"],
            "read_errors": {"oanda": ["no instrument of this broker yet"]},
        });
        assert!(positions_unread(&not_asked));
    }

    /// A real broker that was not asked (no instrument of it known yet) has no read time: it
    /// is never shown as read and holding nothing, and why it was not read follows.
    #[test]
    fn positions_lines_never_show_a_broker_not_asked_as_read() {
        let v = serde_json::json!({
            "oanda": {},
            "real": ["oanda"],
            "read_at": {},
            "read_errors": {"oanda": ["no instrument of this broker yet"]},
        });
        assert_eq!(
            positions_lines(&v),
            ["oanda: not read from the broker: no instrument of this broker yet"]
        );
        // Every read failed, each for its own reason: no one of them stands for the broker.
        let v = serde_json::json!({
            "oanda": {},
            "real": ["oanda"],
            "read_at": {},
            "read_errors": {"oanda": ["EUR_USD: timed out", "GBP_USD: timed out"]},
        });
        assert_eq!(
            positions_lines(&v),
            [
                "oanda: not read from the broker",
                "oanda: not read: EUR_USD: timed out",
                "oanda: not read: GBP_USD: timed out",
            ]
        );
    }
}
