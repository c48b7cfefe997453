//! Placeholder crate; see README.md.
