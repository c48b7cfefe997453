//! The check behind the suite-wide log audit: does a log line carry a credential?
//!
//! Two kinds of evidence: the exact test credentials the suite uses (listed in
//! `scripts/log-audit-secrets.txt`), whole or any [`SLICE`] characters of one (a cut leaves
//! a credential's start or end), and shapes no log line of ours should ever have whatever
//! the value: a PEM block, a JWT, a bearer or basic authorization header with a value.

/// How many characters of a listed credential in a row fail a line: error texts are cut to a
/// length (a broker's body to 200 characters, an echoed alert value to 64), and a credential
/// the cut split leaves its start or its end.
pub const SLICE: usize = 12;

/// Why `line` fails the audit, if it does. A listed credential is looked for in any letter
/// case (the webhook's secret is redacted so, and a redaction that broke must not pass), and
/// also in its base64 forms (`value` and `value:`, an HTTP Basic header's, Databento's key).
pub fn finding(line: &str, secrets: &[String]) -> Option<String> {
    let lower = line.to_lowercase();
    let within = |s: &str| {
        let chars: Vec<char> = s.to_lowercase().chars().collect();
        if chars.len() <= SLICE {
            return lower.contains(chars.iter().collect::<String>().as_str());
        }
        chars
            .windows(SLICE)
            .any(|w| lower.contains(w.iter().collect::<String>().as_str()))
    };
    let encoded = |s: &str| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        [b64.encode(s), b64.encode(format!("{s}:"))]
            .iter()
            // Without the padding, whose place depends on what follows.
            .any(|e| line.contains(e.trim_end_matches('=')))
    };
    if let Some(s) = secrets
        .iter()
        .find(|s| !s.is_empty() && (within(s) || encoded(s)))
    {
        // Say which entry without printing it whole.
        let head: String = s.chars().take(4).collect();
        return Some(format!("listed credential {head}…"));
    }
    if line.contains("-----BEGIN") {
        return Some("PEM block".into());
    }
    if has_jwt(line) {
        return Some("JWT".into());
    }
    // In any letter case (`authorization: bearer …`), after the separators the clients'
    // redaction skips (spaces, tabs, `\u0020`, `%20`, `+`, `:`); a value of 8 token
    // characters or more, so that prose ("the bearer of") is not taken for one.
    let lower = line.to_ascii_lowercase();
    if lower.match_indices("bearer").any(|(i, _)| {
        after_separators(&line[i + "bearer".len()..]).is_some_and(|value| {
            value
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(*c))
                .count()
                >= 8
        })
    }) {
        return Some("bearer header value".into());
    }
    // An `Authorization: Basic …` header (Databento's key is sent so), in any letter case.
    if lower.match_indices("basic").any(|(i, _)| {
        // Bytes: 24 back may fall inside a character. `to_ascii_lowercase` keeps every
        // byte's place, so `i` is a place in `line` too.
        let before = &lower.as_bytes()[i.saturating_sub(24)..i];
        before.windows(13).any(|w| w == b"authorization")
            && after_separators(&line[i + "basic".len()..])
                .and_then(|value| value.chars().next())
                .is_some_and(|c| c.is_ascii_alphanumeric())
    }) {
        return Some("basic authorization value".into());
    }
    None
}

/// `text` after the separators an authorization scheme and its value may have between them
/// (spaces, tabs, a JSON-escaped space `\u0020`, `%20`, `+`, `:`), at least one; `None`
/// when there is none (the scheme's word runs on: `bearers`).
fn after_separators(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let next = [" ", "\t", "\\u0020", "%20", "+", ":"]
            .iter()
            .find_map(|sep| rest.strip_prefix(sep));
        match next {
            Some(r) => rest = r,
            None => break,
        }
    }
    (rest.len() < text.len()).then_some(rest)
}

/// `eyJ…` (base64url of `{"`) followed by a dot and a second base64url segment.
fn has_jwt(line: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    line.match_indices("eyJ").any(|(i, _)| {
        let rest = &line[i..];
        let head = rest.chars().take_while(|c| b64(*c)).count();
        head >= 10
            && rest[head..].starts_with('.')
            && rest[head + 1..].chars().take_while(|c| b64(*c)).count() >= 10
    })
}

/// The listed credentials: one per line, `#` comments and blank lines ignored.
pub fn parse_secrets(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Vec<String> {
        parse_secrets("# test values\n\ntv-secret-0123456789\n")
    }

    #[test]
    fn planted_credentials_are_found() {
        let cases = [
            r#"{"message":"x","secret":"tv-secret-0123456789"}"#,
            r#"{"key":"-----BEGIN EC PRIVATE KEY-----\nMHc"}"#,
            r#"{"auth":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJvcmdhbml6YXRpb25zIn0.sig"}"#,
            r#"{"header":"Authorization: Bearer abc123def"}"#,
            r#"{"headers":{"authorization":"Basic ZGIta2V5Og=="}}"#,
            r#"{"message":"sent with AUTHORIZATION: basic ZGIta2V5Og=="}"#,
            r#"{"h":"authorization: bearer 0a1b2c3d4e5f67890abc"}"#,
            r#"{"h":"BEARER 0a1b2c3d4e5f67890abc"}"#,
            // A credential cut at its end or start by a length limit.
            r#"{"error":"xxxx tv-secret-01234"}"#,
            r#"{"error":"…et-0123456789 rest"}"#,
            // In another case, as the webhook's redaction takes it.
            "x TV-SECRET-0123456789 y",
            // After the separators the clients' redaction skips.
            r#"{"h":"authorization: bearer  0a1b2c3d4e5f67890abc"}"#,
            "authorization=Bearer%200a1b2c3d4e5f67890abc",
            r#"{"h":"Bearer\u00200a1b2c3d4e5f67890abc"}"#,
            r#"{"h":"Authorization: Basic  ZGIta2V5Og=="}"#,
            // Base64 of the value, and of `value:` (an HTTP Basic header's value alone).
            "value=dHYtc2VjcmV0LTAxMjM0NTY3ODk6",
            "dHYtc2VjcmV0LTAxMjM0NTY3ODk=",
        ];
        for line in cases {
            assert!(finding(line, &listed()).is_some(), "{line}");
        }
    }

    #[test]
    fn ordinary_lines_pass() {
        let cases = [
            r#"{"level":"INFO","message":"order sent","signal_id":"8d6c2c6e3f0b5a7e9a512b0d7e1f4c11"}"#,
            r#"{"message":"token refreshed","token":"[REDACTED]","header":"Bearer [REDACTED]"}"#,
            r#"{"message":"eyJ alone is not a token"}"#,
            r#"{"message":"basic checks passed","authorization":"[REDACTED]"}"#,
            r#"{"message":"ééééééééééééé basic checks"}"#,
            r#"{"message":"the bearer of the news"}"#,
            r#"{"message":"tv-secret-0 is eleven characters of it"}"#,
        ];
        for line in cases {
            assert_eq!(finding(line, &listed()), None, "{line}");
        }
    }

    #[test]
    fn the_finding_names_the_entry_without_printing_it() {
        let f = finding("x tv-secret-0123456789 y", &listed()).unwrap_or_default();
        assert!(!f.contains("0123456789"), "{f}");
    }
}
