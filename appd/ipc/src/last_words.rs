//! A core host's *last words*: what it writes on its stdout, a pipe appd reads until the
//! process is gone, when it cannot say it over the session's link — today only that its
//! sandbox refused a system call (`weft-core-host`'s `confine::violation`). appd reads at most
//! [`MAX_LAST_WORDS`] bytes and trusts nothing in them but a name and a number of the exact
//! shape [`parse_sandbox_violation`] accepts.

/// The exit code of a core host its sandbox stopped.
pub const EXIT_SANDBOX_VIOLATION: i32 = 8;

/// The first word of the line: `sandbox-violation <name> <number>`.
pub const SANDBOX_VIOLATION: &str = "sandbox-violation";

/// The most bytes of last words appd keeps.
pub const MAX_LAST_WORDS: usize = 512;

/// The refused call's name and number, from last words of the exact shape
/// `sandbox-violation <name> <number>` (name: at most 32 of `a-z0-9_`).
pub fn parse_sandbox_violation(text: &str) -> Option<(String, i64)> {
    let line = text.lines().find_map(|line| line.strip_prefix(SANDBOX_VIOLATION))?;
    let mut fields = line.split_whitespace();
    let name = fields.next()?;
    let number = fields.next()?.parse().ok()?;
    let plain = name.len() <= 32 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (plain && fields.next().is_none()).then(|| (name.to_owned(), number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_words_parse_only_in_their_exact_shape() {
        assert_eq!(parse_sandbox_violation("sandbox-violation socket 41\n"), Some(("socket".into(), 41)));
        assert_eq!(parse_sandbox_violation("noise\nsandbox-violation openat 257\n"), Some(("openat".into(), 257)));
        assert_eq!(parse_sandbox_violation("sandbox-violation socket"), None);
        assert_eq!(parse_sandbox_violation("sandbox-violation <script> 1"), None);
        assert_eq!(parse_sandbox_violation("sandbox-violation socket 41 extra"), None);
        assert_eq!(parse_sandbox_violation(&format!("sandbox-violation {} 1", "a".repeat(33))), None);
        assert_eq!(parse_sandbox_violation(""), None);
    }
}
