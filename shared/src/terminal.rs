//! Text for a terminal. What the journal holds came in part from outside: an alert's
//! `indicator` and `timeframe` are any text a TradingView alert carried, a refusal's reason
//! can quote a broker's message. Printed as they are, an escape sequence among them
//! (`ESC ] 0 ; … BEL` sets the window title, `ESC [ 2 J` clears the screen, a carriage
//! return writes over the line) would act on the operator's terminal instead of showing.

use std::borrow::Cow;

/// `text` with every control character but line feed and tab, and every Unicode
/// bidirectional override or isolate (which reorder how the rest of a line reads), written
/// as Rust escapes (`ESC` as `\u{1b}`, carriage return as `\r`); other text is returned as
/// it is, without a copy.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, |c, out| out.extend(c.escape_debug()))
}

/// [`printable`] for JSON text: the same characters written as JSON escapes (`\u009b`), so
/// the document still parses to the same value. serde_json escapes C0 controls itself but
/// writes DEL, C1 controls and the bidirectional marks as they are; all of them are in the
/// Basic Multilingual Plane, and in JSON text they can stand only inside a string, where
/// `\uXXXX` means them (RFC 8259, section 7).
pub fn printable_json(json: &str) -> Cow<'_, str> {
    escape(json, |c, out| {
        use std::fmt::Write as _;
        let _ = write!(out, "\\u{:04x}", u32::from(c));
    })
}

fn escape(text: &str, write: impl Fn(char, &mut String)) -> Cow<'_, str> {
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            write(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether [`printable`] writes `c` as an escape: C0 and C1 controls and DEL but `\n` and
/// `\t`; U+202A–U+202E and U+2066–U+2069, the bidirectional embeddings, overrides and
/// isolates (Unicode Standard Annex #9, <https://www.unicode.org/reports/tr9/>).
fn escaped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_run() {
        assert_eq!(
            printable("Trend\u{1b}]0;title\u{7}\u{1b}[2J\r!"),
            "Trend\\u{1b}]0;title\\u{7}\\u{1b}[2J\\r!"
        );
        // C1 controls (CSI as one character) and DEL too.
        assert_eq!(printable("a\u{9b}2Jb\u{7f}"), "a\\u{9b}2Jb\\u{7f}");
        // A right-to-left override would make what follows read backwards.
        assert_eq!(printable("x\u{202e}yz\u{2066}"), "x\\u{202e}yz\\u{2066}");
    }

    #[test]
    fn json_keeps_its_value() {
        let value = serde_json::json!({"strategy": "a\u{1b}[2J\u{9b}b\u{7f}\u{202e}c\r", "n": 1});
        let text = serde_json::to_string(&value).unwrap();
        let shown = printable_json(&text);
        assert!(!shown.chars().any(escaped), "{shown}");
        assert!(
            shown.contains("\\u009b") && shown.contains("\\u202e"),
            "{shown}"
        );
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn plain_text_lines_and_tabs_are_kept_without_a_copy() {
        let text = "signal 0123 LONG_ENTRY EURUSD on oanda -> filled\n\tEUR/USD €\n";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
    }
}
