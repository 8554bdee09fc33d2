//! What is wrong with a stack file, said the way a person fixes it: the file, line and column,
//! the dotted key, the problem, and a hint (`did you mean memory_mb?`). Every problem is reported
//! at once, in line order.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

/// One problem in the file, at a line and column, about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Everything wrong with a stack file.
#[derive(Debug)]
pub struct StackError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
    /// The YAML parser's own rendering (with a source snippet), for syntax and type errors.
    pub snippet: Option<String>,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} is not a valid stack ({n} problem{}); nothing was sent to AWS:",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(
                f,
                "  {}:{}:{}: {}: {}",
                self.path.display(),
                p.line,
                p.column,
                p.key,
                p.message
            )?;
            if let Some(hint) = &p.hint {
                write!(f, "\n      hint: {hint}")?;
            }
            writeln!(f)?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "{snippet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StackError {}

/// Collects problems while validating.
#[derive(Debug, Default)]
pub struct Checker {
    pub problems: Vec<Problem>,
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            problems: Vec::new(),
        }
    }

    /// The problems, in line order, as the error of the file at `path`; `None` when there are none.
    pub fn finish(mut self, path: &Path) -> Option<StackError> {
        if self.problems.is_empty() {
            return None;
        }
        self.problems.sort_by_key(|p| (p.line, p.column));
        Some(StackError {
            path: path.to_path_buf(),
            problems: self.problems,
            snippet: None,
        })
    }

    pub fn at<T>(&mut self, at: &Spanned<T>, key: &str, message: impl Into<String>) {
        self.push(
            at.referenced.line(),
            at.referenced.column(),
            key,
            message,
            None,
        );
    }

    pub fn hint<T>(
        &mut self,
        at: &Spanned<T>,
        key: &str,
        message: impl Into<String>,
        hint: String,
    ) {
        self.push(
            at.referenced.line(),
            at.referenced.column(),
            key,
            message,
            Some(hint),
        );
    }

    fn push(
        &mut self,
        line: u64,
        column: u64,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.problems.push(Problem {
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint,
        });
    }
}

/// Turns a YAML or type error into a [`StackError`], with a "did you mean" for a typo'd key.
pub fn syntax_error(e: &serde_saphyr::Error, text: &str, path: &Path) -> StackError {
    let rendered = e.to_string();
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // The first line reads "error: line L column C: MESSAGE"; the rest is a source snippet.
    let first = rendered.lines().next().unwrap_or_default();
    let message = first
        .split_once(": ")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once(": ").map(|(_, m)| m))
        .unwrap_or(first)
        .trim()
        .to_string();
    let mut keys = key_path(text, line);
    let (key, hint) = match unknown_field(&message) {
        Some((field, expected)) => {
            if keys.last() != Some(&field) {
                keys.push(field.clone());
            }
            let hint = closest(&field, &expected)
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| {
                    Some(format!(
                        "the keys allowed here are: {}",
                        expected.join(", ")
                    ))
                });
            (keys.join("."), hint)
        }
        None => match missing_field(&message) {
            Some(field) => (field, Some("add it: every stack needs a name".to_string())),
            None if keys.is_empty() => ("(document)".to_string(), None),
            None => (keys.join("."), None),
        },
    };
    let snippet = rendered
        .split_once('\n')
        .map(|(_, rest)| rest.replace("<input>", &path.display().to_string()));
    StackError {
        path: path.to_path_buf(),
        problems: vec![Problem {
            line,
            column,
            key,
            message,
            hint,
        }],
        snippet,
    }
}

/// "missing field `name`" → `name`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(f, _)| f.to_string())
}

/// The dotted key path of the value on `line` (1-based), read from the indentation of the lines
/// above it: `memory_mb: lots` under `function:` is `function.memory_mb`. Written here because
/// the YAML parser reports a position, not a path.
fn key_path(text: &str, line: u64) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(last) = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .filter(|l| *l < lines.len())
    else {
        return Vec::new();
    };
    let mut path = Vec::new();
    let mut indent = usize::MAX;
    for l in lines[..=last].iter().rev() {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let here = l.len() - trimmed.len();
        if here >= indent {
            continue;
        }
        indent = here;
        let entry = trimmed.trim_start_matches("- ");
        if let Some((key, _)) = entry.split_once(':') {
            let key = key.trim();
            if !key.is_empty() && !key.contains([' ', '{', '[', '"', '\'']) {
                path.push(key.to_string());
            }
        }
        if here == 0 {
            break;
        }
    }
    path.reverse();
    path
}

/// Reads serde's "unknown field `x`, expected one of a, b" (or "expected `a`").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let list = rest
        .split_once("expected one of ")
        .map(|(_, l)| l)
        .or_else(|| rest.split_once("expected ").map(|(_, l)| l))
        .unwrap_or("");
    let expected = list
        .split(',')
        .map(|s| s.trim().trim_matches('`').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some((field.to_string(), expected))
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance; written here because the keys are few and short.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_come_from_the_indentation_above() {
        assert_eq!(key_path("a:\n  b:\n    - c: 1\n", 3), ["a", "b", "c"]);
        assert_eq!(key_path("x: 1\n", 9), Vec::<String>::new());
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("memroy_mb", "memory_mb"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(
            closest("tabel", &["table".into(), "tags".into()]),
            Some("table")
        );
        assert_eq!(closest("zzzzzz", &["table".into()]), None);
    }
}
