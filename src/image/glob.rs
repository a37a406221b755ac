//! `path/filepath.Match` for one host label, in time linear in the pattern times the name
//! (pure).
//!
//! The kubelet matches registry keys such as `*.dkr.ecr.*.amazonaws.com` label by label with
//! Go's `filepath.Match`. A recursive matcher that tries every split for every `*` is
//! exponential (`*a*a*a*a*a*a*a*a*b` against `aaaa…a` never finishes), and a registry key comes
//! from whoever can commit a spec. Go's algorithm matches the pattern as star-separated chunks,
//! each at the leftmost place it fits — correct for `*` globs, because a later chunk can always
//! use whatever an earlier leftmost chunk left over — so no chunk is ever retried.

/// One pattern element that consumes exactly one character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    Class { negate: bool, ranges: Vec<(char, char)> },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::Class { negate, ranges } => ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negate,
        }
    }
}

/// A run of tokens, preceded (or not) by one or more `*`.
#[derive(Debug)]
struct Chunk {
    star: bool,
    tokens: Vec<Token>,
}

/// Split a pattern into chunks; `None` for a malformed one (Go's `ErrBadPattern`).
fn compile(pattern: &str) -> Option<Vec<Chunk>> {
    let mut chunks = Vec::new();
    let mut chars = pattern.chars().peekable();
    loop {
        let mut star = false;
        while chars.peek() == Some(&'*') {
            chars.next();
            star = true;
        }
        let mut tokens = Vec::new();
        while let Some(&c) = chars.peek() {
            if c == '*' {
                break;
            }
            chars.next();
            tokens.push(match c {
                '?' => Token::Any,
                '\\' => Token::Literal(chars.next()?),
                '[' => class(&mut chars)?,
                other => Token::Literal(other),
            });
        }
        let done = chars.peek().is_none();
        chunks.push(Chunk { star, tokens });
        if done {
            return Some(chunks);
        }
    }
}

/// A `[...]` class after its `[`: `^` negates; `a-z` ranges; `\` escapes.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Token> {
    let negate = chars.peek() == Some(&'^');
    if negate {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next()?;
        if c == ']' && !first {
            return Some(Token::Class { negate, ranges });
        }
        first = false;
        // Go's `getEsc`: an unescaped `-` or `]` cannot start a range (`[]`, `[-a]` are bad).
        let lo = match c {
            '\\' => chars.next()?,
            '-' | ']' => return None,
            other => other,
        };
        let hi = if chars.peek() == Some(&'-') {
            chars.next();
            match chars.next()? {
                '\\' => chars.next()?,
                '-' | ']' => return None,
                other => other,
            }
        } else {
            lo
        };
        if lo > hi {
            return None;
        }
        ranges.push((lo, hi));
    }
}

/// Whether `tokens` match the start of `name`; one step per token.
fn prefix(tokens: &[Token], name: &[char]) -> bool {
    tokens.len() <= name.len() && tokens.iter().zip(name).all(|(t, c)| t.matches(*c))
}

/// `filepath.Match(pattern, name)` with errors as no match, as the kubelet treats them.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let Some(chunks) = compile(pattern) else {
        return false;
    };
    let name: Vec<char> = name.chars().collect();
    let mut at = 0;
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate() {
        let rest = &name[at..];
        let width = chunk.tokens.len();
        if !chunk.star {
            if !prefix(&chunk.tokens, rest) {
                return false;
            }
            at += width;
        } else if i == last {
            // The last chunk after a star must end the name: only one place can work.
            return rest.len() >= width && prefix(&chunk.tokens, &rest[rest.len() - width..]);
        } else {
            match (0..=rest.len().saturating_sub(width)).find(|&skip| prefix(&chunk.tokens, &rest[skip..])) {
                Some(skip) => at += skip + width,
                None => return false,
            }
        }
    }
    at == name.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_filepath_match() {
        for (pattern, name, ok) in [
            ("*", "anything", true),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("us-*", "us-west2", true),
            ("*-west2", "us-west2", true),
            ("*-east*", "us-west2", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyycd", false),
            ("a*c", "abcbc", true),
            ("?s", "us", true),
            ("?", "", false),
            ("[a-c]r", "br", true),
            ("[^a-c]r", "br", false),
            ("[^a-c]r", "dr", true),
            ("[a-c", "a", false),
            ("[]", "a", false),
            ("[-a]", "a", false),
            ("[\\-a]", "-", true),
            ("[z-a]", "b", false),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("gcr", "GCR", false),
            ("dkr", "dkr", true),
            ("*dkr", "xdkr", true),
            ("**", "x", true),
        ] {
            assert_eq!(glob_match(pattern, name), ok, "{pattern:?} vs {name:?}");
        }
    }

    #[test]
    fn backtracking_shapes_finish_at_once() {
        // Exponential for a recursive matcher; here at most pattern × name steps.
        let name = "a".repeat(4_000);
        let pattern = format!("{}b", "*a".repeat(200));
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &name));
        assert!(glob_match(&format!("{}a", "*a".repeat(200)), &name));
        // A generous bound that only an exponential matcher could break.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
