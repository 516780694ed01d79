//! Making untrusted text safe for the terminal.
//!
//! Anything a server or the cluster sends (versions, error messages, banners)
//! may carry escape sequences. Before it reaches the screen every control
//! character becomes a visible escape (`\x1b`, `\u{202e}`), so no remote
//! text can move the cursor, retitle the window or write the clipboard.

/// Returns `text` with every control character (C0 but tab, DEL, C1) and
/// bidi override shown as a visible escape.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (0x80..0xa0).contains(&(c as u32)) || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Sanitises each line of `text` on its own, keeping the line breaks
/// (`\r\n` read as one).
pub fn sanitize_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| sanitize(line.strip_suffix('\r').unwrap_or(line)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `c` reorders text (a bidi override, embedding or isolate).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c as u32, 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069)
}

/// Sanitises and keeps only the first non-empty line, for one-line table
/// cells; tabs become spaces (the screen does not draw them).
pub fn one_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    sanitize(line).replace('\t', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_breaks_and_lose_their_escapes() {
        assert_eq!(
            sanitize_lines("ok\r\n\x1b]0;owned\x07title\nlast"),
            "ok\n\\x1b]0;owned\\x07title\nlast"
        );
    }

    #[test]
    fn escapes_become_visible() {
        assert_eq!(
            sanitize("a\x1b]52;c;ZXZpbA==\x07b"),
            "a\\x1b]52;c;ZXZpbA==\\x07b"
        );
        assert_eq!(sanitize("x\u{202e}y\u{9b}"), "x\\u{202e}y\\u{9b}");
        assert_eq!(sanitize("tab\tok 数据库"), "tab\tok 数据库");
    }

    #[test]
    fn one_line_takes_the_first_line_with_text() {
        assert_eq!(one_line("\n  first\tpart\nsecond"), "first part");
    }

    #[test]
    fn sanitising_is_idempotent() {
        let once = sanitize("\x1b[2J\r\n\u{85}");
        assert_eq!(sanitize(&once), once);
        assert!(!once.chars().any(|c| c.is_control()));
    }
}
