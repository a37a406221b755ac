//! Where each node of a YAML document sits (pure).
//!
//! Typed deserialisation tells us *what* a document says; semantic checks (an unknown
//! credential, a registry key with a path) also need *where*. This walks the parser's events once
//! and records, for every path such as `spec.registries[1].server`, the position of its key and of
//! its value, so the model types stay plain serde structs.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default, Clone)]
pub struct PathIndex {
    keys: HashMap<String, LineCol>,
    values: HashMap<String, LineCol>,
    /// Where the document's first node starts.
    pub start: LineCol,
    /// The first explicit YAML tag (`!!binary`, `!custom`), which specs never need.
    pub first_tag: Option<(LineCol, String)>,
    /// Unquoted values that are not strings to YAML 1.2 or to Kubernetes' YAML 1.1 reader
    /// (`1`, `true`, `on`, `no`, `~`): path, position and text.
    pub typed: Vec<(String, LineCol, String)>,
}

/// Whether an unquoted scalar reads as a number, a boolean or null: YAML 1.2's core schema,
/// and the YAML 1.1 booleans Kubernetes' own YAML reader (go-yaml) still takes (`yes`, `on`).
pub fn looks_typed(plain: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "false", "null", "~", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf", ".nan",
    ];
    let lower = plain.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let body = lower.trim_start_matches(['-', '+']);
    if let Some(hex) = body.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(octal) = body.strip_prefix("0o") {
        return !octal.is_empty() && octal.chars().all(|c| ('0'..='7').contains(&c));
    }
    // A decimal integer or float (`1`, `0755`, `1.5`, `.5`, `1e3`); `1.2.3` stays a string.
    body.starts_with(|c: char| c.is_ascii_digit() || c == '.') && body.parse::<f64>().is_ok()
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl PathIndex {
    /// Index one YAML document. Stops quietly at a syntax error: the deserialiser reports it.
    pub fn build(text: &str) -> Self {
        let mut index = PathIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut started = false;
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let at = LineCol {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let is_node = matches!(
                event,
                Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) | Event::Alias(..)
            );
            let tag = match &event {
                Event::Scalar(_, _, _, tag)
                | Event::SequenceStart(_, _, tag)
                | Event::MappingStart(_, _, tag) => tag.as_deref(),
                _ => None,
            };
            if let Some(tag) = tag
                && index.first_tag.is_none()
            {
                index.first_tag = Some((at, tag.original()));
            }
            if is_node && !started {
                index.start = at;
                started = true;
            }
            // Which path does this node occupy, and is it a mapping key?
            let mut node_path = None;
            match stack.last_mut() {
                Some(Frame::Map { path, pending_key }) if is_node => match pending_key.take() {
                    None => {
                        if let Event::Scalar(key, ..) = &event {
                            let key_path = child(path, key);
                            index.keys.entry(key_path.clone()).or_insert(at);
                            *pending_key = Some(key_path);
                        } else {
                            // A complex key: give it a placeholder so the value is still consumed.
                            *pending_key = Some(child(path, "?"));
                        }
                    }
                    Some(key_path) => node_path = Some(key_path),
                },
                Some(Frame::Seq { path, next }) if is_node => {
                    node_path = Some(format!("{path}[{next}]"));
                    *next += 1;
                }
                None if is_node => node_path = Some(String::new()),
                _ => {}
            }
            let is_key = is_node && node_path.is_none();
            if let Some(path) = &node_path {
                index.values.entry(path.clone()).or_insert(at);
                if let Event::Scalar(value, ScalarStyle::Plain, ..) = &event
                    && looks_typed(value)
                {
                    index.typed.push((path.clone(), at, value.to_string()));
                }
            }
            match event {
                Event::MappingStart(..) if !is_key => stack.push(Frame::Map {
                    path: node_path.unwrap_or_default(),
                    pending_key: None,
                }),
                Event::SequenceStart(..) if !is_key => stack.push(Frame::Seq {
                    path: node_path.unwrap_or_default(),
                    next: 0,
                }),
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    // Complex keys are not used in specs; track depth so ends still balance.
                    stack.push(Frame::Seq {
                        path: "?".into(),
                        next: 0,
                    })
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        index
    }

    /// Move every position down by `lines`: a document indexed on its own text, placed where it
    /// sits in its file.
    pub fn shift(&mut self, lines: usize) {
        let all = self.keys.values_mut().chain(self.values.values_mut());
        for at in all.chain(std::iter::once(&mut self.start)) {
            at.line += lines;
        }
        if let Some((at, _)) = &mut self.first_tag {
            at.line += lines;
        }
    }

    /// The first key named `name` anywhere in the document (e.g. the YAML 1.1 merge key `<<`).
    pub fn first_key_named(&self, name: &str) -> Option<LineCol> {
        self.keys
            .iter()
            .filter(|(path, _)| path.rsplit('.').next() == Some(name))
            .map(|(_, at)| *at)
            .min_by_key(|at| (at.line, at.column))
    }

    /// Position of the key of `path` (e.g. `metadata.labels.team`), falling back to its value.
    pub fn key(&self, path: &str) -> Option<LineCol> {
        self.keys.get(path).or_else(|| self.values.get(path)).copied()
    }

    /// Position of the value at `path`, falling back to its key.
    pub fn value(&self, path: &str) -> Option<LineCol> {
        self.values.get(path).or_else(|| self.keys.get(path)).copied()
    }

    /// The value at `path`, or the nearest parent that exists, or the document start.
    pub fn value_or_parent(&self, path: &str) -> LineCol {
        let mut current = path;
        loop {
            if let Some(at) = self.value(current) {
                return at;
            }
            match current.rfind(['.', '[']) {
                Some(cut) => current = &current[..cut],
                None => return self.start,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_plain_scalars_are_told_apart_from_strings() {
        for typed in [
            "1", "-2", "0755", "1.5", ".5", "1e3", "0x1F", "0o17", "true", "False", "on", "NO", "y", "~",
            "null", ".inf",
        ] {
            assert!(looks_typed(typed), "{typed}");
        }
        for text in [
            "ml-team",
            "1.2.3",
            "v1",
            "123abc",
            "gpu",
            "inf",
            "nan",
            "0x",
            "yesterday",
            "1.0-rc1",
            "",
        ] {
            assert!(!looks_typed(text), "{text}");
        }
        let index = PathIndex::build("metadata: {name: 123}\nspec:\n  labels: {tier: 1, team: \"2\"}\n");
        let paths: Vec<&str> = index.typed.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["metadata.name", "spec.labels.tier"]);
    }

    #[test]
    fn finds_keys_values_and_sequence_items() {
        let text = "\n\nkind: PullSecret\nspec:\n  registries:\n    - server: a\n      credential: b\n    - {server: c, credential: d}\n  labels:\n    team: x\n";
        let index = PathIndex::build(text);
        assert_eq!(index.start, LineCol { line: 3, column: 1 });
        assert_eq!(index.value("kind"), Some(LineCol { line: 3, column: 7 }));
        assert_eq!(
            index.value("spec.registries[0].credential"),
            Some(LineCol { line: 7, column: 19 })
        );
        assert_eq!(
            index.value("spec.registries[1].server"),
            Some(LineCol { line: 8, column: 16 })
        );
        assert_eq!(
            index.key("spec.labels.team"),
            Some(LineCol { line: 10, column: 5 })
        );
        assert_eq!(
            index.value_or_parent("spec.registries[1].email"),
            LineCol { line: 8, column: 7 }
        );
    }
}
