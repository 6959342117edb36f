//! The comments of a file, handed out to the constructs that will print them.
//!
//! Comments are not in the tree, so the formatter collects them from the source
//! ([`crate::syntax::lexer::comments`]) and gives each to exactly one place while it
//! walks the tree in source order: the *trailing* slot of the outermost construct that
//! ends just before it on the same line (only commas and closing parentheses between), or
//! else the *leading* slot of the next construct that can start a line, or else the end
//! of the enclosing block or file. Taking comments strictly in order is what guarantees
//! that every comment is printed once, in the order it was written.

use crate::syntax::Span;

/// A comment: where it was, and its text without trailing whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub span: Span,
    pub text: String,
}

/// A trailing comment set aside for a construct being built, with the comments held
/// back until it is built.
pub struct Reservation {
    index: usize,
    tail: std::ops::Range<usize>,
}

/// The comments of one file, each taken at most once.
pub struct Comments<'s> {
    source: &'s str,
    list: Vec<Comment>,
    taken: Vec<bool>,
    /// No comment before this index is still to be taken.
    next: usize,
}

impl<'s> Comments<'s> {
    pub fn new(source: &'s str, spans: &[Span]) -> Self {
        let list: Vec<Comment> = spans
            .iter()
            .map(|span| {
                let text = source.get(span.start..span.end).unwrap_or_default().trim_end().to_string();
                Comment { span: *span, text }
            })
            .collect();
        let taken = vec![false; list.len()];
        Comments { source, list, taken, next: 0 }
    }

    fn skip_taken(&mut self) {
        while self.taken.get(self.next).copied().unwrap_or(false) {
            self.next += 1;
        }
    }

    /// Takes every comment not taken yet that starts before `position`.
    pub fn take_before(&mut self, position: usize) -> Vec<Comment> {
        let mut found = Vec::new();
        let mut index = self.next;
        while let Some(comment) = self.list.get(index) {
            if comment.span.start >= position {
                break;
            }
            if let Some(taken) = self.taken.get_mut(index) {
                if !*taken {
                    *taken = true;
                    found.push(comment.clone());
                }
            }
            index += 1;
        }
        self.skip_taken();
        found
    }

    /// Whether a comment that starts before `position` is still to be taken.
    pub fn pending_before(&self, position: usize) -> bool {
        self.list
            .iter()
            .zip(&self.taken)
            .skip(self.next)
            .take_while(|(comment, _)| comment.span.start < position)
            .any(|(_, taken)| !taken)
    }

    /// Whether a comment not taken yet lies inside `span`.
    pub fn pending_within(&self, span: Span) -> bool {
        self.list
            .iter()
            .zip(&self.taken)
            .skip(self.next)
            .take_while(|(comment, _)| comment.span.start < span.end)
            .any(|(comment, taken)| !taken && comment.span.start >= span.start)
    }

    /// Reserves the comment that trails a construct ending at `end`, and returns its
    /// reservation for [`Comments::settle`]. A comment trails the construct when it ends the
    /// line of the construct's last token, with only commas and closing parentheses
    /// around it: after `end` (`a, // c`), or before it, when the construct closes on a
    /// later line (`(a // c` then `)`). Either way the layout prints it after the
    /// construct, its commas and closing parentheses, so the same construct gets it when
    /// the output is read again.
    ///
    /// The own-line comments between a comment reserved before `end` and `end` are held
    /// back too while the construct is built, so that they are printed after it, as they
    /// come after the reserved one.
    pub fn reserve_trailing(&mut self, end: usize) -> Option<Reservation> {
        let after = self.list.partition_point(|comment| comment.span.start < end);
        let inside = self.first_among_closers(after, end);
        let following = Some(after).filter(|index| {
            self.list.get(*index).is_some_and(|comment| self.only_closers_between(end, comment.span.start, false))
        });
        let (index, tail) = match (inside, following) {
            (Some(index), _) => (index, index + 1..after),
            (None, Some(index)) => (index, after..after),
            (None, None) => return None,
        };
        if tail.clone().chain([index]).any(|index| self.taken.get(index).copied().unwrap_or(true)) {
            return None;
        }
        for index in tail.clone().chain([index]) {
            if let Some(taken) = self.taken.get_mut(index) {
                *taken = true;
            }
        }
        Some(Reservation { index, tail })
    }

    /// The first comment, of those before index `before` that only closing parentheses,
    /// commas and other comments separate from `end`, that ends a line with code on it.
    fn first_among_closers(&self, before: usize, end: usize) -> Option<usize> {
        let mut found = None;
        let mut to = end;
        for index in (0..before).rev() {
            let comment = self.list.get(index)?;
            if !self.only_closers_between(comment.span.end, to, true) {
                break;
            }
            if !self.starts_its_line(comment.span.start) {
                found = Some(index);
            }
            to = comment.span.start;
        }
        found
    }

    /// Whether only spaces lie between the start of its line and `position`.
    fn starts_its_line(&self, position: usize) -> bool {
        let before = self.source.get(..position).unwrap_or_default();
        let line = before.rsplit('\n').next().unwrap_or_default();
        line.chars().all(|c| matches!(c, ' ' | '\t' | '\u{FEFF}'))
    }

    /// Whether only commas, closing parentheses and spaces (and line breaks, when
    /// `across_lines`) lie between `from` and `to`.
    fn only_closers_between(&self, from: usize, to: usize, across_lines: bool) -> bool {
        self.source.get(from..to).is_some_and(|between| {
            between.chars().all(|c| matches!(c, ' ' | '\t' | ',' | ')') || (across_lines && matches!(c, '\n' | '\r')))
        })
    }

    /// Confirms a reserved trailing comment once the construct is built: when comments
    /// inside the construct are still to be taken, the reservation is given up, so that
    /// they and it are printed after the construct, in order, on lines of their own.
    pub fn settle(&mut self, reserved: Option<Reservation>) -> Option<Comment> {
        let Reservation { index, tail } = reserved?;
        for held in tail.clone() {
            if let Some(taken) = self.taken.get_mut(held) {
                *taken = false;
            }
        }
        self.next = self.next.min(tail.start);
        let comment = self.list.get(index)?.clone();
        if self.pending_before(comment.span.start) {
            if let Some(taken) = self.taken.get_mut(index) {
                *taken = false;
            }
            self.next = self.next.min(index);
            return None;
        }
        self.skip_taken();
        Some(comment)
    }

    /// Whether a blank line separates `from` and `to` in the source.
    pub fn blank_line_between(&self, from: usize, to: usize) -> bool {
        let Some(gap) = self.source.get(from..to) else { return false };
        let mut lines = gap.split('\n');
        lines.next();
        let middle: Vec<&str> = lines.collect();
        let inner = middle.len().saturating_sub(1);
        middle.iter().take(inner).any(|line| line.trim().is_empty())
    }
}
