//! A Server-Sent Events reader, as `EventSource` reads a stream: bytes go
//! in as they arrive, in chunks cut anywhere, and whole events come out.
//!
//! It follows the HTML standard's parsing rules where `/live` can reach
//! them: lines end in `\n`, `\r\n` or `\r` (a `\r` at a chunk's end waits
//! for the next chunk, in case a `\n` follows); a line starting with `:` is
//! a comment (the heartbeat); `field: value` loses one space after the
//! colon; `data` lines are joined with `\n`; a blank line dispatches the
//! event, unless it has no data; `retry` with digits only sets the
//! reconnection delay. `id` is not needed here and is ignored.

use std::collections::VecDeque;
use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field, or `message` when there was none.
    pub event: String,
    pub data: String,
}

/// The reader's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` first in the next one belongs
    /// to that line break.
    after_cr: bool,
    /// The event being read: its type and its data lines so far.
    event: Option<String>,
    data: Option<String>,
    /// Events read and not yet taken.
    ready: VecDeque<SseEvent>,
    /// The stream's latest `retry`.
    retry: Option<Duration>,
    /// Comment lines seen (the server's heartbeats).
    comments: u64,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `chunk`, which may end anywhere, even inside a line break.
    pub fn push(&mut self, chunk: &[u8]) {
        for &b in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(),
                b'\r' => {
                    self.end_line();
                    self.after_cr = true;
                }
                _ => self.line.push(b),
            }
        }
    }

    /// The next whole event, in the order they came.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// How long to wait before reconnecting, if the stream said.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Comment lines read so far.
    pub fn comments(&self) -> u64 {
        self.comments
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
    }

    /// A blank line: the event read so far is whole. Without data there
    /// is nothing to dispatch, and its type is forgotten too.
    fn dispatch(&mut self) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            self.ready.push_back(SseEvent {
                event: event.unwrap_or_else(|| "message".to_owned()),
                data,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE_OPENING: &str =
        "retry: 5000\nevent: change\ndata: {\"generation\":7,\"at_ms\":1764700000000}\n\n";

    fn events(parser: &mut SseParser) -> Vec<SseEvent> {
        std::iter::from_fn(|| parser.next_event()).collect()
    }

    fn change(data: &str) -> SseEvent {
        SseEvent {
            event: "change".into(),
            data: data.into(),
        }
    }

    #[test]
    fn the_live_streams_opening_gives_the_retry_and_one_change() {
        let mut p = SseParser::new();
        p.push(LIVE_OPENING.as_bytes());
        assert_eq!(p.retry(), Some(Duration::from_secs(5)));
        assert_eq!(
            events(&mut p),
            [change("{\"generation\":7,\"at_ms\":1764700000000}")]
        );
    }

    #[test]
    fn an_event_cut_at_every_byte_comes_out_whole_once() {
        let text = format!("{LIVE_OPENING}:\n\n{LIVE_OPENING}");
        for cut in 0..=text.len() {
            let mut p = SseParser::new();
            p.push(&text.as_bytes()[..cut]);
            let mut got = events(&mut p);
            p.push(&text.as_bytes()[cut..]);
            got.extend(events(&mut p));
            assert_eq!(got.len(), 2, "cut at {cut}: {got:?}");
            assert!(got.iter().all(|e| e.event == "change"), "cut at {cut}");
            assert_eq!(p.comments(), 1, "cut at {cut}");
        }
    }

    #[test]
    fn an_event_is_not_dispatched_before_its_blank_line() {
        let mut p = SseParser::new();
        p.push(b"event: change\ndata: {}\n");
        assert_eq!(p.next_event(), None);
        p.push(b"\n");
        assert_eq!(p.next_event(), Some(change("{}")));
    }

    #[test]
    fn heartbeats_are_comments_and_dispatch_nothing() {
        let mut p = SseParser::new();
        p.push(b":\n\n:\n\n: keep-alive\n\n");
        assert_eq!(events(&mut p), []);
        assert_eq!(p.comments(), 3);
    }

    #[test]
    fn every_kind_of_line_break_ends_a_line_even_across_chunks() {
        let mut p = SseParser::new();
        // \r\n split between chunks is one break, not two (which would
        // dispatch an event early).
        p.push(b"event: change\r");
        p.push(b"\ndata: a\r");
        p.push(b"\ndata: b\r\r");
        p.push(b"data: c\n\n");
        assert_eq!(
            events(&mut p),
            [
                change("a\nb"),
                SseEvent {
                    event: "message".into(),
                    data: "c".into()
                }
            ]
        );
    }

    #[test]
    fn fields_follow_the_standards_rules() {
        let mut p = SseParser::new();
        // One space after the colon goes, a second stays; no colon means
        // an empty value; unknown fields and `id` are ignored; a bad
        // `retry` changes nothing.
        p.push(b"retry: 250\nretry: soon\nid: 4\nfoo: bar\nevent:change\ndata:  x\ndata\n\n");
        assert_eq!(p.retry(), Some(Duration::from_millis(250)));
        assert_eq!(events(&mut p), [change(" x\n")]);
        // An event without data is dropped, its type with it.
        p.push(b"event: change\n\ndata: y\n\n");
        assert_eq!(
            events(&mut p),
            [SseEvent {
                event: "message".into(),
                data: "y".into()
            }]
        );
    }
}
