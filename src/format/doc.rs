//! A small Wadler-style layout engine: the formatter describes text with its possible
//! line breaks as a [`Doc`], and [`render`] picks, group by group, outermost first, the
//! flat layout when it fits in the width and the broken one when it does not.
//!
//! It exists because one canonical style needs layout decided by width alone, never by
//! how the input happened to be laid out. Comments are part of the document: a trailing
//! comment ends its line and an own-line comment stands on a line of its own, so a group
//! holding either always breaks. After layout, trailing comments on consecutive lines of
//! one indentation are aligned in one column.

/// Spaces per indentation level.
const INDENT: &str = "  ";

/// A document: text with the places where it may break.
#[derive(Debug, Clone)]
pub enum Doc {
    /// Text without line breaks.
    Text(String),
    Concat(Vec<Doc>),
    /// Line breaks inside start one indentation level deeper.
    Nest(Box<Doc>),
    /// Laid out flat when it fits and holds no hard break (`true`), else broken.
    Group(Box<Doc>, bool),
    /// A space when flat, a line break when broken.
    Line,
    /// Nothing when flat, a line break when broken.
    SoftLine,
    /// Always a line break.
    HardLine,
    /// Text only when the enclosing group is broken (a trailing comma).
    IfBroken(&'static str),
    /// A comment at the end of the current line (after whatever else the line gets),
    /// and the list it trails an entry of: comments that trail entries of one list, on
    /// consecutive lines, are aligned.
    Trailing(String, usize),
    /// A comment on a line of its own; a line break must follow it.
    Comment(String),
}

impl Doc {
    pub fn text(text: impl Into<String>) -> Doc {
        Doc::Text(text.into())
    }

    pub fn concat(docs: Vec<Doc>) -> Doc {
        Doc::Concat(docs)
    }

    pub fn nest(doc: Doc) -> Doc {
        Doc::Nest(Box::new(doc))
    }

    /// A group that breaks only when it does not fit or holds a hard break.
    pub fn group(doc: Doc) -> Doc {
        let hard = doc.has_hard_break();
        Doc::Group(Box::new(doc), hard)
    }

    /// A group that is always broken.
    pub fn broken(doc: Doc) -> Doc {
        Doc::Group(Box::new(doc), true)
    }

    /// Whether the document forces its enclosing groups to break. Nested groups carry
    /// the answer for their contents, so building documents bottom-up stays linear.
    fn has_hard_break(&self) -> bool {
        match self {
            Doc::HardLine | Doc::Trailing(..) | Doc::Comment(_) => true,
            Doc::Group(_, hard) => *hard,
            Doc::Concat(docs) => docs.iter().any(Doc::has_hard_break),
            Doc::Nest(doc) => doc.has_hard_break(),
            Doc::Text(_) | Doc::Line | Doc::SoftLine | Doc::IfBroken(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

/// A document still to lay out: its indentation level and the mode of its group.
type Command<'d> = (usize, Mode, &'d Doc);

/// One line of output: its code and, apart, its trailing comment (for alignment).
#[derive(Debug, Default)]
struct Line {
    code: String,
    /// The trailing comment and the list it belongs to.
    comment: Option<(String, usize)>,
    /// An own-line comment ended the line: whatever comes next starts a new one.
    closed: bool,
}

#[derive(Default)]
struct Renderer {
    lines: Vec<Line>,
    current: Line,
    column: usize,
}

impl Renderer {
    fn newline(&mut self, indent: usize) {
        let done = std::mem::take(&mut self.current);
        self.lines.push(done);
        self.current.code = INDENT.repeat(indent);
        self.column = indent * INDENT.len();
    }

    fn text(&mut self, text: &str, indent: usize) {
        if self.current.closed {
            self.newline(indent);
        }
        self.current.code.push_str(text);
        self.column += text.chars().count();
    }

    fn has_code(&self) -> bool {
        !self.current.code.trim().is_empty()
    }

    /// A trailing comment waits for the end of its line, so that the commas and closing
    /// parentheses that follow its construct go before it.
    fn trailing(&mut self, comment: &str, list: usize, indent: usize) {
        if self.current.comment.is_some() || self.current.closed {
            self.newline(indent);
        }
        self.current.comment = Some((comment.to_string(), list));
    }

    fn own_line(&mut self, comment: &str, indent: usize) {
        if self.has_code() || self.current.comment.is_some() || self.current.closed {
            self.newline(indent);
        }
        self.text(comment, indent);
        self.current.closed = true;
    }
}

/// Lays `doc` out in `width` columns and returns the text, each line without trailing
/// whitespace, with no blank line at either end and a final line feed (none for an
/// empty document).
pub fn render(doc: &Doc, width: usize) -> String {
    let mut out = Renderer::default();
    let mut stack: Vec<Command<'_>> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, doc)) = stack.pop() {
        match doc {
            Doc::Text(text) => out.text(text, indent),
            Doc::Concat(docs) => stack.extend(docs.iter().rev().map(|doc| (indent, mode, doc))),
            Doc::Nest(inner) => stack.push((indent + 1, mode, inner)),
            Doc::Group(inner, hard) => {
                let flat = mode == Mode::Flat
                    || (!hard && fits(width.saturating_sub(out.column), (indent, Mode::Flat, inner), &stack));
                stack.push((indent, if flat { Mode::Flat } else { Mode::Break }, inner));
            }
            Doc::Line if mode == Mode::Flat => out.text(" ", indent),
            Doc::SoftLine if mode == Mode::Flat => {}
            Doc::Line | Doc::SoftLine | Doc::HardLine => out.newline(indent),
            Doc::IfBroken(text) if mode == Mode::Break => out.text(text, indent),
            Doc::IfBroken(_) => {}
            Doc::Trailing(comment, list) => out.trailing(comment, *list, indent),
            Doc::Comment(comment) => out.own_line(comment, indent),
        }
    }
    let mut lines = out.lines;
    lines.push(out.current);
    align_trailing_comments(&mut lines);
    join(&lines)
}

/// Whether `first`, laid out flat, and what follows it up to the next line break fit in
/// `width` columns. A trailing comment does not count: it may run past the width.
fn fits(width: usize, first: Command<'_>, rest: &[Command<'_>]) -> bool {
    let mut remaining = width;
    let mut local = vec![(first.1, first.2)];
    let mut rest = rest.iter().rev();
    loop {
        let (mode, doc) = match local.pop() {
            Some(next) => next,
            None => match rest.next() {
                Some((_, mode, doc)) => (*mode, *doc),
                None => return true,
            },
        };
        let used = match doc {
            Doc::Text(text) => text.chars().count(),
            Doc::IfBroken(text) if mode == Mode::Break => text.chars().count(),
            Doc::IfBroken(_) | Doc::SoftLine => 0,
            Doc::Line if mode == Mode::Flat => 1,
            Doc::Line | Doc::HardLine | Doc::Trailing(..) | Doc::Comment(_) => return true,
            Doc::Concat(docs) => {
                local.extend(docs.iter().rev().map(|doc| (mode, doc)));
                0
            }
            Doc::Nest(inner) => {
                local.push((mode, inner));
                0
            }
            Doc::Group(inner, hard) => {
                local.push((if *hard { Mode::Break } else { mode }, inner));
                0
            }
        };
        match remaining.checked_sub(used) {
            Some(left) => remaining = left,
            None => return false,
        }
    }
}

fn indentation(code: &str) -> usize {
    code.len() - code.trim_start().len()
}

/// Pads the code of consecutive lines whose comments trail entries of one list and that
/// share an indentation, so that their comments start in one column.
fn align_trailing_comments(lines: &mut [Line]) {
    let key = |line: &Line| line.comment.as_ref().map(|(_, list)| (*list, indentation(&line.code)));
    let mut start = 0;
    while start < lines.len() {
        let Some(run_key) = lines.get(start).and_then(key) else {
            start += 1;
            continue;
        };
        let length = lines.iter().skip(start).take_while(|line| key(line) == Some(run_key)).count();
        let widest =
            lines.iter().skip(start).take(length).map(|line| line.code.trim_end().chars().count()).max().unwrap_or(0);
        for line in lines.iter_mut().skip(start).take(length) {
            let code = line.code.trim_end().to_string();
            let padding = widest - code.chars().count();
            line.code = format!("{code}{}", " ".repeat(padding));
        }
        start += length;
    }
}

fn join(lines: &[Line]) -> String {
    let texts: Vec<String> = lines
        .iter()
        .map(|line| match &line.comment {
            Some((comment, _)) if line.code.trim().is_empty() => format!("{}{comment}", line.code),
            Some((comment, _)) => format!("{} {comment}", line.code),
            None => line.code.trim_end().to_string(),
        })
        .collect();
    let first = texts.iter().position(|text| !text.is_empty());
    let last = texts.iter().rposition(|text| !text.is_empty());
    let (Some(first), Some(last)) = (first, last) else { return String::new() };
    let mut out = texts.get(first..=last).unwrap_or_default().join("\n");
    out.push('\n');
    out
}
