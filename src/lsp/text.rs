//! Positions as editors count them, and file URIs.
//!
//! Mandate's spans are byte offsets into UTF-8 text; the Language Server Protocol speaks
//! of lines and UTF-16 code units, and of documents by URI. Everything that crosses that
//! line goes through here, so no other module counts code units. Every conversion is
//! total: an offset past the end or inside a character, a line past the last, a column
//! past the end of its line or inside a surrogate pair all land on the nearest valid
//! place before them, never on a panic.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use lsp_types::{Position, Range, TextDocumentContentChangeEvent, Uri};

use crate::syntax::Span;

/// A text with the offsets where its lines start. Lines end at `\n`, `\r\n` or a lone
/// `\r`, as the protocol says.
#[derive(Debug, Clone)]
pub struct Text {
    text: Arc<str>,
    starts: Vec<usize>,
}

impl Text {
    pub fn new(text: Arc<str>) -> Self {
        let starts = crate::diagnostics::line_starts(&text);
        Text { text, starts }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The position of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = self.floor_boundary(offset);
        let line = self.starts.partition_point(|start| *start <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let units: usize = self.text.get(start..offset).unwrap_or_default().chars().map(char::len_utf16).sum();
        Position::new(saturate(line), saturate(units))
    }

    /// The byte offset of a position, clamped to the text.
    pub fn offset(&self, position: Position) -> usize {
        let line = usize::try_from(position.line).unwrap_or(usize::MAX);
        let Some(start) = self.starts.get(line).copied() else { return self.text.len() };
        let end = self.line_end(line);
        let wanted = usize::try_from(position.character).unwrap_or(usize::MAX);
        let mut units = 0;
        for (at, c) in self.text.get(start..end).unwrap_or_default().char_indices() {
            if units + c.len_utf16() > wanted {
                return start + at;
            }
            units += c.len_utf16();
        }
        end
    }

    /// The range of a span.
    pub fn range(&self, span: Span) -> Range {
        Range::new(self.position(span.start), self.position(span.end.max(span.start)))
    }

    /// The span of a range; a range whose end comes before its start is read backwards.
    pub fn span(&self, range: Range) -> Span {
        let (start, end) = (self.offset(range.start), self.offset(range.end));
        Span::new(start.min(end), start.max(end))
    }

    /// Where line `line` ends, before its line break.
    fn line_end(&self, line: usize) -> usize {
        let Some(next) = self.starts.get(line + 1).copied() else { return self.text.len() };
        // Every line but the last ends with a line break, of one byte or of two.
        let break_length = if self.text.get(..next).unwrap_or_default().ends_with("\r\n") { 2 } else { 1 };
        next.saturating_sub(break_length)
    }

    /// The largest character boundary at or before `offset`.
    fn floor_boundary(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The line of text around a byte offset, without its line break, and where it starts.
    pub fn line_at(&self, offset: usize) -> (usize, &str) {
        let offset = self.floor_boundary(offset);
        let line = self.starts.partition_point(|start| *start <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        (start, self.text.get(start..self.line_end(line)).unwrap_or_default())
    }

    /// The text of line number `line`, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = self.starts.get(line).copied()?;
        self.text.get(start..self.line_end(line))
    }

    /// The number of the line a byte offset is on.
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = self.floor_boundary(offset);
        self.starts.partition_point(|start| *start <= offset).saturating_sub(1)
    }

    /// The text of a span, if it lies on character boundaries.
    pub fn slice(&self, span: Span) -> Option<&str> {
        self.text.get(span.start..span.end)
    }
}

fn saturate(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Applies one change an editor sent: a replaced range, or the whole new text.
pub fn apply_change(text: &str, change: &TextDocumentContentChangeEvent) -> String {
    let Some(range) = change.range else { return change.text.clone() };
    let indexed = Text::new(Arc::from(text));
    let span = indexed.span(range);
    let mut changed = String::with_capacity(text.len() + change.text.len());
    changed.push_str(text.get(..span.start).unwrap_or_default());
    changed.push_str(&change.text);
    changed.push_str(text.get(span.end..).unwrap_or_default());
    changed
}

/// The local path a `file:` URI names, if it names one.
pub fn path_of_uri(uri: &Uri) -> Option<PathBuf> {
    let text = uri.as_str();
    let scheme = text.get(..5)?;
    if !scheme.eq_ignore_ascii_case("file:") {
        return None;
    }
    let rest = text.get(5..)?.strip_prefix("//")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let slash = rest.find('/')?;
    let (authority, path) = rest.split_at(slash);
    if !authority.is_empty() && !authority.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let decoded = String::from_utf8(percent_decode(path)?).ok()?;
    if decoded.contains('\0') {
        return None;
    }
    Some(PathBuf::from(decoded))
}

/// The `file:` URI of an absolute local path.
pub fn uri_of_path(path: &Path) -> Option<Uri> {
    let text = path.to_str()?;
    if !text.starts_with('/') {
        return None;
    }
    let mut uri = String::from("file://");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    Uri::from_str(&uri).ok()
}

/// The bytes a percent-encoded string stands for; `None` for a malformed escape.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(byte) = bytes.get(at) {
        if *byte == b'%' {
            let hex = text.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(*byte);
            at += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(source: &str) -> Text {
        Text::new(Arc::from(source))
    }

    #[test]
    fn positions_count_utf16_code_units() {
        let t = text("a😀b\néc");
        assert_eq!(t.position(0), Position::new(0, 0));
        assert_eq!(t.position(5), Position::new(0, 3), "the emoji is two code units");
        assert_eq!(t.position(7), Position::new(1, 0));
        assert_eq!(t.position(9), Position::new(1, 1));
        assert_eq!(t.offset(Position::new(0, 3)), 5);
        assert_eq!(t.offset(Position::new(1, 1)), 9);
    }

    #[test]
    fn every_conversion_is_total() {
        let t = text("a😀b\r\nc\rd");
        assert_eq!(t.position(2), Position::new(0, 1), "inside the emoji: its start");
        assert_eq!(t.position(1000), t.position(t.as_str().len()));
        assert_eq!(t.offset(Position::new(0, 2)), 1, "inside the surrogate pair: the emoji's start");
        assert_eq!(t.offset(Position::new(0, 99)), 6, "past the line's end: before its break");
        assert_eq!(t.offset(Position::new(1, 0)), 8);
        assert_eq!(t.offset(Position::new(2, 0)), 10, "a lone carriage return ends a line");
        assert_eq!(t.offset(Position::new(99, 99)), t.as_str().len());
        assert_eq!(t.offset(Position::new(u32::MAX, u32::MAX)), t.as_str().len());
        assert_eq!(text("").position(5), Position::new(0, 0));
    }

    #[test]
    fn changes_apply_by_range_or_whole() {
        let change = |range: Option<Range>, text: &str| TextDocumentContentChangeEvent {
            range,
            range_length: None,
            text: text.to_string(),
        };
        let edited = apply_change("a😀b\nc", &change(Some(Range::new(Position::new(0, 3), Position::new(1, 0))), "X"));
        assert_eq!(edited, "a😀Xc");
        let backwards = apply_change("abc", &change(Some(Range::new(Position::new(0, 2), Position::new(0, 1))), ""));
        assert_eq!(backwards, "ac");
        assert_eq!(apply_change("abc", &change(None, "new")), "new");
    }

    #[test]
    fn file_uris_round_trip() {
        let path = Path::new("/tmp/my policies/é#1.mandate");
        let uri = uri_of_path(path).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20policies/%C3%A9%231.mandate");
        assert_eq!(path_of_uri(&uri).unwrap(), path);
        assert!(path_of_uri(&Uri::from_str("untitled:Untitled-1").unwrap()).is_none());
        assert!(path_of_uri(&Uri::from_str("file://host/a.mandate").unwrap()).is_none());
        assert!(percent_decode("/a%2.mandate").is_none());
        assert!(percent_decode("/a%é").is_none());
    }
}
