//! A report's free-text comment, shown on the public service page.

use super::ParseError;

/// What someone wrote with a report: at most a configured number of
/// characters, none of which can change how the page around it reads.
///
/// Refused: control characters (C0 such as NUL and ESC, DEL and C1; tab and
/// line breaks are allowed, since the report form's text box produces them
/// and a page shows them as spaces) and the bidirectional embeddings,
/// overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069), which flip the direction of the text
/// after them: a comment could make the next one, or the page's own words,
/// read backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment(String);

impl Comment {
    /// `None` for a blank comment (nothing but whitespace), as if none was sent.
    pub fn parse(s: &str, max_chars: usize) -> Result<Option<Self>, ParseError> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        if s.chars().count() > max_chars {
            return Err(ParseError::new(
                "comment_too_long",
                format!("a comment has at most {max_chars} characters"),
            ));
        }
        if let Some((at, c)) = s.chars().enumerate().find(|(_, c)| is_refused(*c)) {
            return Err(ParseError::new(
                "invalid_comment",
                format!(
                    "a comment may not contain control characters or bidirectional \
                     formatting characters; character {} is U+{:04X}",
                    at + 1,
                    u32::from(c)
                ),
            ));
        }
        Ok(Some(Comment(s.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_refused(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> &'static str {
        Comment::parse(s, 500).unwrap_err().code
    }

    #[test]
    fn plain_text_in_any_script_is_kept_as_written() {
        for s in [
            "login spins forever",
            "erreur 529 à la connexion",
            "שגיאה בהתחברות", // right-to-left text needs no control characters
            "two lines\r\nof text\tand a tab",
            "emoji 🔥 and zero-width joiner 👩‍💻",
        ] {
            assert_eq!(Comment::parse(s, 500).unwrap().unwrap().as_str(), s);
        }
        assert_eq!(Comment::parse("  \n ", 500).unwrap(), None);
    }

    #[test]
    fn control_and_bidirectional_formatting_characters_are_refused() {
        for c in [
            '\0', '\u{1}', '\u{7}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}',
            '\u{85}', '\u{9b}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
            '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert_eq!(
                code(&format!("ok {c} ok")),
                "invalid_comment",
                "U+{:04X}",
                c as u32
            );
        }
        let e = Comment::parse("ab\u{202e}cd", 500).unwrap_err();
        assert!(e.message.contains("character 3 is U+202E"), "{}", e.message);
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(Comment::parse(&"é".repeat(500), 500).is_ok());
        assert_eq!(code(&"é".repeat(501)), "comment_too_long");
    }
}
