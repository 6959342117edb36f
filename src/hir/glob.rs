//! The glob patterns of `matches`: `*` stands for any run of characters, `\*` for a star
//! and `\\` for a backslash. Shared by the evaluator and by the compiled graph's pattern
//! indexes, so both match exactly alike.

/// Glob matching over the whole string: `*` matches any run of characters, `\*` a star
/// and `\\` a backslash. Linear in practice: the classic single-backtrack algorithm.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    #[derive(PartialEq)]
    enum Piece {
        Star,
        Char(char),
    }
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => pieces.push(Piece::Star),
            '\\' => pieces.push(Piece::Char(chars.next().unwrap_or('\\'))),
            other => pieces.push(Piece::Char(other)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::Star) => {
                resume = Some((p, t));
                p += 1;
            }
            Some(Piece::Char(c)) if Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((star, from)) => {
                    p = star + 1;
                    t = from + 1;
                    resume = Some((star, from + 1));
                }
                None => return false,
            },
        }
    }
    pieces.get(p..).is_some_and(|rest| rest.iter().all(|piece| *piece == Piece::Star))
}

/// The longest run of literal characters in a glob, escapes resolved: a string the glob
/// matches contains it, so finding it first narrows the globs worth matching.
pub fn longest_literal(pattern: &str) -> String {
    let (mut best, mut current) = (String::new(), String::new());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if current.chars().count() > best.chars().count() {
                    best = std::mem::take(&mut current);
                }
                current.clear();
            }
            '\\' => current.extend(chars.next().or(Some('\\'))),
            other => current.push(other),
        }
    }
    if current.chars().count() > best.chars().count() {
        best = current;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("T-*", "T-1042"));
        assert!(!glob_matches("T-*", "X-1042"));
        assert!(glob_matches("*@example.com", "alice@example.com"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("\\*", "*"));
        assert!(!glob_matches("\\*", "x"));
        assert!(glob_matches("", ""));
        assert!(glob_matches("*", ""));
    }

    #[test]
    fn the_longest_literal_is_in_every_match() {
        assert_eq!(longest_literal("/team1/*"), "/team1/");
        assert_eq!(longest_literal("*@example.com"), "@example.com");
        assert_eq!(longest_literal("a*bcd*ef"), "bcd");
        assert_eq!(longest_literal("\\*x*"), "*x");
        assert_eq!(longest_literal("*"), "");
    }
}
