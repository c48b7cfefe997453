//! What the broker clients' reads share: one GET sorted into found, not found (404) or
//! failed, and transport errors told without their URL (it can carry an account id).

use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

/// Why one read failed, before each broker maps it to its own error.
#[derive(Debug)]
pub enum ReadFailure {
    /// No answer, no whole body, or a body that does not parse: worth another try.
    Unreachable(String),
    /// The broker answered with an error status; the body is the broker's to interpret.
    Status(StatusCode, Vec<u8>),
}

/// Sends a GET; `None` on a 404 whose body is a JSON object (the broker's own "not found";
/// any other 404 is a [`ReadFailure::Status`]).
pub async fn get_json<T: DeserializeOwned>(
    request: RequestBuilder,
) -> Result<Option<T>, ReadFailure> {
    get_json_without(request, None, is_json_object).await
}

/// [`get_json`], with `secret` (the credential the request carries) written `[REDACTED]` in
/// an error status's body and in a parse error's text before either is cut to
/// [`SHOWN_CHARS`]: an answer that echoes it (a gateway, a debugging server) would otherwise
/// leave the start of it in an error a cut split it in, past a whole-value scrub after. A 404
/// is `None` only when `brokers_404` says its body is the broker's own error (a broker
/// whose error body has a field of its own names it: OANDA's `errorMessage`).
pub async fn get_json_without<T: DeserializeOwned>(
    request: RequestBuilder,
    secret: Option<&str>,
    brokers_404: fn(&[u8]) -> bool,
) -> Result<Option<T>, ReadFailure> {
    let without = |text: String| match secret {
        Some(s) => without_secret(&text, s),
        None => text,
    };
    let resp = request
        .send()
        .await
        .map_err(|e| ReadFailure::Unreachable(describe(e)))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ReadFailure::Unreachable(describe(e)))?;
    // A broker's error is a JSON object as far as its documents show (OANDA's v20
    // specification, `{errorMessage}`; Coinbase's `{error, message}` is what its answers
    // have been seen to carry, not a documented shape); a 404 page of something in front of
    // the broker (a proxy or gateway that does not know the path) is not the broker saying
    // there is nothing there: read as flat, it would plan a reversal as an entry.
    if status == StatusCode::NOT_FOUND && brokers_404(&bytes) {
        return Ok(None);
    }
    if !status.is_success() {
        let body = match secret {
            Some(_) => without(String::from_utf8_lossy(&bytes).into_owned()).into_bytes(),
            None => bytes.to_vec(),
        };
        return Err(ReadFailure::Status(status, body));
    }
    // serde_json's error can quote what it could not take, which may be an echo.
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ReadFailure::Unreachable(format!(
            "unreadable {status} body: {}",
            shown_text(without(e.to_string()).as_bytes())
        ))
    })
}

/// Whether `body` is a JSON object, as the brokers' error answers are.
pub fn is_json_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_ok()
}

/// The HTTP client every broker conversation uses: `timeout` for a whole request, and no
/// redirect followed. reqwest follows up to ten by default and re-sends a request's body on a
/// 307 or 308 (<https://docs.rs/reqwest/0.13/reqwest/redirect/index.html>): an order POST
/// answered with one by a proxy or a misconfigured base URL would be sent a second time by the
/// library, out of the execution core's sight, and a redirect's own connection failure would
/// look like a request that never left ([`never_sent`]). No broker here documents a redirect;
/// a 3xx is an answer like any other status (an unknown outcome for an order).
///
/// # Errors
/// reqwest's, when its TLS backend cannot start.
pub fn broker_client(timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Whether a failed request provably never left: the connection to the broker could not be
/// made (refused, unreachable, a DNS failure, a TLS handshake that failed), so not one byte of
/// the request was written. reqwest reports these with `is_connect`: "Returns true if the
/// error is related to connect" (<https://docs.rs/reqwest/0.13/reqwest/struct.Error.html#method.is_connect>),
/// found as hyper-util's client error "from `Connect`"
/// (<https://docs.rs/hyper-util/0.1/hyper_util/client/legacy/struct.Error.html#method.is_connect>),
/// which that client raises only while it gets a connection, before it hands the request to
/// one (`Client::connection_for` in `client/legacy/client.rs`). Any other transport
/// error (a timeout, a connection dropped mid-request, an unreadable answer) may have reached
/// the broker and is not this.
pub fn never_sent(e: &reqwest::Error) -> bool {
    e.is_connect()
}

/// A transport error in a few words, without the URL. Tokens travel in headers and are never
/// part of a reqwest error.
pub fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.without_url().to_string()
    }
}

/// Checks a broker's base URL before any credential is sent to it: an `https` URL, or `http`
/// to this machine (the loopback address, as the tests' broker fakes and a local proxy are).
/// A bearer token over plain HTTP to another host would cross the network readable.
///
/// # Errors
/// What is wrong with it, naming the variable (`name`), never echoing the text when it does
/// not parse (it may be a credential pasted in the wrong place).
pub fn check_base_url(name: &str, url: &str) -> Result<(), String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(format!(
            "{name} is not a URL: give the broker's https://… base URL"
        ));
    };
    match shared::config::base_url_refusal(
        name,
        parsed.scheme(),
        parsed.host_str(),
        "the broker's https://… base URL",
    ) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

/// `text` with every occurrence of `secret` (a credential's value) written `[REDACTED]`; as it
/// is when `secret` is empty. Broker clients scrub their own credentials with it before an
/// answer's text is cut to [`SHOWN_CHARS`], which [`shown_text`]'s redaction by shape
/// (bearer values, JWTs) cannot do for a value of another shape.
pub fn without_secret(text: &str, secret: &str) -> String {
    if secret.is_empty() || !text.contains(secret) {
        text.to_owned()
    } else {
        text.replace(secret, "[REDACTED]")
    }
}

/// How much of a broker's error body an error keeps, in characters.
pub const SHOWN_CHARS: usize = 200;

/// The first [`SHOWN_CHARS`] characters of a broker's error body (lossy UTF-8, trimmed),
/// with credentials written `[REDACTED]` first: what follows `Bearer` (the scheme of every
/// broker's `Authorization` header here: OANDA's API token,
/// <https://developer.oanda.com/rest-live-v20/development-guide/>; Tradovate's access token,
/// <https://partner.tradovate.com/overview/quick-setup/access-token-request>; Coinbase's JWT,
/// <https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication>;
/// the `b64token` syntax of RFC 6750 §2.1) and any JSON Web Token (three base64url parts, the
/// first starting `eyJ`, the encoded `{"`, RFC 7519 §3). A wrong base URL, a proxy or a debugging server can echo the
/// request's headers, and error text is journaled, logged and mailed. Redacting before cutting
/// keeps a token split by the cut from leaving a readable prefix.
pub fn shown_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let redacted = redact_jwts(&redact_bearer(&text));
    redacted
        .chars()
        .take(SHOWN_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A character of an RFC 6750 `b64token` (`ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/"` then `"="`s), the token after `Bearer`.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

/// The shortest run taken for a token, so that prose ("the bearer of") is not redacted. No
/// broker documents its token's length: a shorter token would be left as it is; the tokens in
/// the brokers' examples are far longer.
const MIN_TOKEN_CHARS: usize = 16;

/// `text` with the token after every `Bearer` (any case, then spaces, or a JSON-escaped
/// space) replaced.
fn redact_bearer(text: &str) -> String {
    const SCHEME: &str = "bearer";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(at) = lower[from..].find(SCHEME).map(|i| i + from) {
        let mut end = at + SCHEME.len();
        // Separators between the scheme and the token: spaces, tabs, `\u0020`, `%20`, `+` (a
        // form-encoded space), `:`.
        loop {
            let tail = &text[end..];
            if let Some(c) = tail
                .chars()
                .next()
                .filter(|c| matches!(c, ' ' | '\t' | ':' | '+'))
            {
                end += c.len_utf8();
            } else if tail.starts_with("\\u0020") {
                end += 6;
            } else if tail.starts_with("%20") {
                end += 3;
            } else {
                break;
            }
        }
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if !starts_word || end == at + SCHEME.len() {
            // Not the scheme: on after it, without measuring what follows (a body of
            // `bearerbearer…` is read once).
            from = at + SCHEME.len();
            continue;
        }
        let token_len: usize = text[end..]
            .chars()
            .take_while(|c| token_char(*c))
            .map(char::len_utf8)
            .sum();
        if token_len >= MIN_TOKEN_CHARS {
            out.push_str(&text[rest..end]);
            out.push_str("[REDACTED]");
            rest = end + token_len;
            from = rest;
        } else {
            // Too short for a token: on from its start, which a later `Bearer` may be
            // (`Bearer Bearer <token>`); it is under MIN_TOKEN_CHARS, so read at most twice.
            from = end;
        }
    }
    out.push_str(&text[rest..]);
    out
}

/// `text` with every JSON Web Token (`eyJ…`, three dot-separated base64url parts) replaced.
fn redact_jwts(text: &str) -> String {
    let b64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(at) = text[from..].find("eyJ").map(|i| i + from) {
        // Three parts of base64url joined by two dots (the signature may be empty: "alg":
        // "none").
        let mut end = at;
        let mut parts = 0;
        loop {
            let len: usize = text[end..].chars().take_while(|c| b64url(*c)).count();
            end += len;
            parts += 1;
            if parts < 3 && text[end..].starts_with('.') {
                end += 1;
            } else {
                break;
            }
        }
        let starts_word = text[..at].chars().next_back().is_none_or(|c| !b64url(c));
        if parts == 3 && starts_word {
            out.push_str(&text[rest..at]);
            out.push_str("[REDACTED]");
            rest = end;
        }
        // On after the run either way: a token starting inside it would end where it ends,
        // with no more parts (and a body of `eyJeyJ…` is read once).
        from = end.max(at + 3);
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_echoed_authorization_header_never_shows_its_token() {
        let token = "0a1b2c3d4e5f-6a7b8c9d0e1f2a3b4c5d6e7f-8a9b0c1d2e3f4a5b6c7d8e9f";
        for echoed in [
            format!("GET /v3/accounts HTTP/1.1\r\nAuthorization: Bearer {token}\r\n"),
            format!(r#"{{"headers":{{"authorization":["bearer  {token}"]}}}}"#),
            format!(r#"{{"Authorization":"Bearer\u0020{token}"}}"#),
            format!("authorization=Bearer%20{token}&x=1"),
            format!("authorization=Bearer+{token}&x=1"),
        ] {
            let shown = shown_text(echoed.as_bytes());
            assert!(!shown.contains(&token[..8]), "{shown}");
            assert!(shown.contains("[REDACTED]"), "{shown}");
        }
        // The words around it stay, so the error still says what happened.
        assert_eq!(
            shown_text(format!("bad gateway; Authorization: Bearer {token} rejected").as_bytes()),
            "bad gateway; Authorization: Bearer [REDACTED] rejected"
        );
        // A word that merely contains "bearer" is kept whole.
        assert_eq!(
            shown_text(b"the bearer of this note"),
            "the bearer of this note"
        );
    }

    #[test]
    fn a_base_url_is_https_or_this_machine() {
        for ok in [
            "https://api-fxtrade.oanda.com",
            "http://127.0.0.1:9001",
            "http://localhost:8080/v1",
            "http://[::1]:80",
        ] {
            assert_eq!(check_base_url("X_BASE_URL", ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("not a url", "is not a URL"),
            ("ftp://api.example", "scheme \"ftp\""),
            ("http://api-fxtrade.oanda.com", "plain http"),
        ] {
            let err = check_base_url("X_BASE_URL", bad).unwrap_err();
            assert!(err.starts_with("X_BASE_URL"), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_jwt_anywhere_is_redacted_and_the_cut_comes_after() {
        let jwt = "eyJhbGciOiJFUzI1NiIsImtpZCI6Im9yZ2FuaXphdGlvbnMvYWJjIn0.eyJzdWIiOiJvcmdhbml6YXRpb25zIn0.c2lnbmF0dXJl";
        let shown = shown_text(format!(r#"{{"jwt":"{jwt}","error":"UNAUTHORIZED"}}"#).as_bytes());
        assert_eq!(shown, r#"{"jwt":"[REDACTED]","error":"UNAUTHORIZED"}"#);
        // A token cut by the length limit leaves no prefix behind.
        let long = format!("{} Bearer {}", "x".repeat(SHOWN_CHARS - 12), "t".repeat(64));
        let shown = shown_text(long.as_bytes());
        assert!(!shown.contains("ttt"), "{shown}");
        assert_eq!(shown.chars().count(), SHOWN_CHARS);
        // Hostile bodies stay linear: a megabyte of either pattern is read once.
        for unit in ["bearer", "eyJ", "Bearer bearer "] {
            let body = unit.repeat((1 << 20) / unit.len());
            let started = std::time::Instant::now();
            let _ = shown_text(body.as_bytes());
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{unit}"
            );
        }
        // A short word after the scheme does not hide a token after it.
        assert_eq!(
            shown_text(format!("Bearer Bearer {}", "k".repeat(40)).as_bytes()),
            "Bearer Bearer [REDACTED]"
        );
        // Not a JWT: one part, or "eyJ" inside a longer word.
        assert_eq!(shown_text(b"eyJust text"), "eyJust text");
        assert_eq!(shown_text(b"keyJ.a.b"), "keyJ.a.b");
    }

    /// A port nobody listens on, and a server that takes the request and hangs up without an
    /// answer: only the first provably never got the request.
    #[tokio::test]
    async fn only_a_connection_never_made_counts_as_never_sent() {
        let client = broker_client(std::time::Duration::from_secs(5)).unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = client
            .post(format!("http://127.0.0.1:{closed_port}/orders"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        assert!(never_sent(&refused), "{refused:?}");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::Read;
            let (mut socket, _) = listener.accept().unwrap();
            // Read the request, then hang up: the broker may have acted on it.
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).unwrap();
            drop(socket);
            n
        });
        let dropped = client
            .post(format!("http://127.0.0.1:{port}/orders"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        assert!(server.join().unwrap() > 0, "the request reached the server");
        assert!(!never_sent(&dropped), "{dropped:?}");
    }

    /// A 307 to an order POST is the answer, not an instruction to send the order again.
    #[tokio::test]
    async fn a_redirect_is_answered_never_followed() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let mut requests = usize::from(socket.read(&mut buf).unwrap() > 0);
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{port}/orders\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            socket.write_all(answer.as_bytes()).unwrap();
            // A followed redirect comes back on this kept-alive connection or on a new one.
            socket
                .set_read_timeout(Some(std::time::Duration::from_millis(500)))
                .unwrap();
            if socket.read(&mut buf).is_ok_and(|n| n > 0) {
                requests += 1;
            }
            listener.set_nonblocking(true).unwrap();
            if listener.accept().is_ok() {
                requests += 1;
            }
            requests
        });
        let client = broker_client(std::time::Duration::from_secs(5)).unwrap();
        let answer = client
            .post(format!("http://127.0.0.1:{port}/orders"))
            .body(r#"{"order":{"units":"1000"}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
        drop(answer);
        assert_eq!(server.join().unwrap(), 1, "the order was sent once");
    }
}
