//! The glob patterns of `matches`: `*` stands for any run of characters, `\*` for a star
//! and `\\` for a backslash. Shared by the evaluator and by the compiled graph's pattern
//! indexes, so both match exactly alike.

/// Glob matching over the whole string: `*` matches any run of characters, `\*` a star
/// and `\\` a backslash. Linear in the lengths of both: the literal runs between stars
/// are found left to right, each at its first place after the previous one (the first
/// run must start the text and the last end it), which is exactly when the glob
/// matches, since a star can take whatever lies between two runs. So a pattern that a
/// request supplies (a task parameter) cannot make matching quadratic.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let runs = literal_runs(pattern);
    let Some((first, rest)) = runs.split_first() else { return text.is_empty() };
    let Some((last, middle)) = rest.split_last() else { return text == first };
    if first.len() + last.len() > text.len() || !text.starts_with(first.as_str()) || !text.ends_with(last.as_str()) {
        return false;
    }
    let Some(mut between) = text.get(first.len()..text.len() - last.len()) else { return false };
    for run in middle {
        match between.find(run.as_str()) {
            Some(at) => between = between.get(at + run.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

/// The literal runs of a glob, escapes resolved: one more than the stars, the first
/// before the first star and the last after the last one (empty when the glob starts or
/// ends with a star).
fn literal_runs(pattern: &str) -> Vec<String> {
    let mut runs = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => runs.push(String::new()),
            '\\' => runs.last_mut().into_iter().for_each(|run| run.push(chars.next().unwrap_or('\\'))),
            other => runs.last_mut().into_iter().for_each(|run| run.push(other)),
        }
    }
    runs
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
