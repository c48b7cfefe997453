//! [`ViolationCheck`]: the end-of-test check that a broker fake recorded no violation.

use std::sync::Mutex;

/// Fails the test at its end (when dropped, unless the test is already failing) if the fake
/// it reads recorded a violation: a request that breaks a rule the broker documents (an order
/// resent too early or without its ticket, a query the API does not define, more logins than
/// the minute allows). A fake answers such a request in the kindest way, where the broker may
/// not, so a test passing on it would prove nothing. Keep it bound to a name until the end.
pub struct ViolationCheck {
    read: Box<dyn Fn() -> Vec<String> + Send + Sync>,
    expected: Mutex<Vec<&'static str>>,
}

impl std::fmt::Debug for ViolationCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViolationCheck")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl ViolationCheck {
    /// A check over `violations`, which reads the fake's record (`move || fake.violations()`
    /// over a clone of the fake).
    pub fn new(violations: impl Fn() -> Vec<String> + Send + Sync + 'static) -> Self {
        Self {
            read: Box::new(violations),
            expected: Mutex::new(Vec::new()),
        }
    }

    /// The test breaks one of the fake's rules on purpose (say why where it calls this): a
    /// violation that starts with `what` is not counted at its end; any other still is.
    pub fn expect_violation(&self, what: &'static str) {
        self.expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(what);
    }
}

impl Drop for ViolationCheck {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let expected = self
            .expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let broken: Vec<String> = (self.read)()
            .into_iter()
            .filter(|v| !expected.iter().any(|e| v.starts_with(e)))
            .collect();
        assert!(
            broken.is_empty(),
            "the fake recorded violations: {broken:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unexpected_violation_fails_the_test_an_expected_one_does_not() {
        let failed = std::panic::catch_unwind(|| {
            let _check = ViolationCheck::new(|| vec!["close of a side that does not exist".into()]);
        });
        assert!(failed.is_err());
        let check = ViolationCheck::new(|| vec!["close of a side that does not exist on X".into()]);
        check.expect_violation("close of a side that does not exist");
        drop(check);
    }
}
