//! The budget file: one file holding the whole configuration.
//!
//! TOML, or the same schema in YAML (chosen by the extension: `.yaml`/`.yml`). Tables:
//! `[buffer]`, `[decision_cache]`, `[output]`, `[budget]`, and an ordered `[[policy]]` list (the
//! file's order is the policies' priority). Unknown keys are errors. Every error names the file,
//! the line and the key, and says what is allowed; [`Config::load`] reports all the problems it
//! can find at once, so `tailsift check` can list them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::budget::BudgetConfig;
use crate::config::{BufferConfig, DecisionCacheConfig, EngineConfig, OutputConfig};
use crate::policy::config::PolicyConfig;

/// The whole configuration, as written in the budget file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Keep traces no policy matched (default false: drop them).
    #[serde(default)]
    pub default_keep: bool,
    /// The trace buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// The decision cache.
    #[serde(default)]
    pub decision_cache: DecisionCacheConfig,
    /// What is written into kept spans.
    #[serde(default)]
    pub output: OutputConfig,
    /// The budget the controller keeps kept output within; no controller without it.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// The policies, in priority order.
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyConfig>,
}

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or `<string>` for text given directly).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The dotted key (`budget.interval`, `policy[2].quantile`), when known.
    pub key: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a config file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigFileError {
    /// The problems, in file order where known.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The file formats a config can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TOML (the default).
    Toml,
    /// YAML.
    Yaml,
}

impl Format {
    /// The format for a path: YAML for `.yaml`/`.yml`, TOML otherwise.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => Format::Yaml,
            _ => Format::Toml,
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            problems: vec![ConfigProblem {
                file: path.to_path_buf(),
                line: None,
                column: None,
                key: None,
                message: format!("cannot read the file: {e}"),
            }],
        })?;
        Config::parse(&text, Format::of(path), path)
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(text: &str, format: Format, file: &Path) -> Result<Config, ConfigFileError> {
        let problem = |line, column, key, message| ConfigProblem {
            file: file.to_path_buf(),
            line,
            column,
            key,
            message,
        };
        let config: Config = match format {
            Format::Toml => toml::from_str(text).map_err(|e| {
                let (line, column) = e
                    .span()
                    .map(|s| line_column(text, s.start))
                    .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                ConfigFileError {
                    problems: vec![problem(line, column, None, e.message().trim().to_string())],
                }
            })?,
            Format::Yaml => serde_norway::from_str(text).map_err(|e| {
                let loc = e.location();
                let message = e.to_string();
                // serde_norway appends " at line L column C"; the location is reported apart.
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                ConfigFileError {
                    problems: vec![problem(
                        loc.as_ref().map(|l| l.line()),
                        loc.as_ref().map(|l| l.column()),
                        None,
                        message,
                    )],
                }
            })?,
        };
        let problems: Vec<ConfigProblem> = config
            .problems()
            .into_iter()
            .map(|(path, message)| {
                let (line, column) = match format {
                    Format::Toml => locate_toml(text, &path),
                    Format::Yaml => locate_yaml(text, &path),
                }
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                problem(line, column, Some(dotted(&path)), message)
            })
            .collect();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigFileError { problems })
        }
    }

    /// Checks a config built in code the way [`Config::parse`] checks a file (without
    /// positions).
    pub fn validate(&self) -> Result<(), ConfigFileError> {
        let problems: Vec<ConfigProblem> = self
            .problems()
            .into_iter()
            .map(|(path, message)| ConfigProblem {
                file: PathBuf::from("<config>"),
                line: None,
                column: None,
                key: Some(dotted(&path)),
                message,
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigFileError { problems })
        }
    }

    /// The engine's part of the config.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            buffer: self.buffer.clone(),
            decision_cache: self.decision_cache.clone(),
            output: self.output.clone(),
        }
    }

    /// Problems serde cannot see, each with its key path.
    fn problems(&self) -> Vec<(Vec<KeySeg>, String)> {
        let mut out = Vec::new();
        if let Err(e) = self.engine().validate() {
            out.push((parse_dotted(&e.key), e.problem));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            if p.name.is_empty() {
                out.push((
                    vec![KeySeg::Key("policy".into()), KeySeg::Index(i)],
                    format!(
                        "policy #{} has no `name`; every policy needs a unique name",
                        i + 1
                    ),
                ));
            } else if !seen.insert(p.name.as_str()) {
                out.push((
                    vec![
                        KeySeg::Key("policy".into()),
                        KeySeg::Index(i),
                        KeySeg::Key("name".into()),
                    ],
                    format!(
                        "`{}` is configured more than once; policy names must be unique",
                        p.name
                    ),
                ));
            }
        }
        if let Some(budget) = &self.budget {
            let names: Vec<&str> = self.policies.iter().map(|p| p.name.as_str()).collect();
            for (key, message) in budget.problems(&names) {
                let mut path = vec![KeySeg::Key("budget".into())];
                path.extend(parse_dotted(&key));
                out.push((path, message));
            }
        }
        out
    }
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq)]
enum KeySeg {
    Key(String),
    Index(usize),
}

fn parse_dotted(key: &str) -> Vec<KeySeg> {
    key.split('.').map(|k| KeySeg::Key(k.to_string())).collect()
}

fn dotted(path: &[KeySeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            KeySeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            KeySeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// 1-based line and column of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The position of the deepest part of `path` that exists in the TOML document.
fn locate_toml(text: &str, path: &[KeySeg]) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    let mut rest = path;
    while let Some((seg, tail)) = rest.split_first() {
        let KeySeg::Key(name) = seg else { return found };
        let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        found = Some(line_column(text, key.span().start));
        rest = tail;
        match (value.get_ref(), rest.first()) {
            (DeValue::Table(t), _) => table = t,
            (DeValue::Array(items), Some(KeySeg::Index(i))) => {
                let item = items.get(*i)?;
                found = Some(line_column(text, item.span().start));
                rest = &rest[1..];
                match item.get_ref() {
                    DeValue::Table(t) => table = t,
                    _ => return found,
                }
            }
            _ => return found,
        }
    }
    found
}

/// YAML keeps no spans through serde: find the key's line by its indentation-free text, after
/// the line of its parent key, as well as a text search can.
fn locate_yaml(text: &str, path: &[KeySeg]) -> Option<(usize, usize)> {
    let mut from = 0usize;
    let mut found = None;
    let lines: Vec<&str> = text.lines().collect();
    for seg in path {
        match seg {
            KeySeg::Key(name) => {
                let needle = format!("{name}:");
                let i = (from..lines.len()).find(|&i| {
                    let t = lines[i].trim_start().trim_start_matches("- ");
                    t.starts_with(&needle)
                })?;
                let col = lines[i].find(name.as_str()).unwrap_or(0) + 1;
                found = Some((i + 1, col));
                from = i + 1;
            }
            KeySeg::Index(n) => {
                let mut count = 0;
                let i = (from..lines.len()).find(|&i| {
                    if lines[i].trim_start().starts_with("- ") {
                        count += 1;
                        count == n + 1
                    } else {
                        false
                    }
                })?;
                found = Some((i + 1, lines[i].find('-').unwrap_or(0) + 1));
                from = i;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_toml(text: &str) -> Result<Config, ConfigFileError> {
        Config::parse(text, Format::Toml, Path::new("tailsift.toml"))
    }

    #[test]
    fn unknown_keys_are_refused_with_file_and_line() {
        let err = parse_toml("[buffer]\nmax_spans = 10\ncompletion_grase = \"1s\"\n").unwrap_err();
        let p = &err.problems[0];
        assert_eq!(p.line, Some(3), "{err}");
        assert!(p.message.contains("completion_grase"), "{err}");
        assert!(err.to_string().starts_with("tailsift.toml:3"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_key_and_line() {
        let err = parse_toml(
            "[buffer]\nmax_spans = 10\n\n[budget]\nspans_per_second = 100\ninterval = \"10ms\"\n",
        )
        .unwrap_err();
        let p = &err.problems[0];
        assert_eq!(p.key.as_deref(), Some("budget.interval"));
        assert_eq!(p.line, Some(6));
        assert!(p.message.contains("at least 100ms"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse_toml(
            "[budget]\nmax_change = 3.0\nfloor_rate = 0.0\n[budget.policy.ghost]\nmin_share = 0.5\n",
        )
        .unwrap_err();
        let keys: Vec<_> = err.problems.iter().filter_map(|p| p.key.clone()).collect();
        for key in [
            "budget.spans_per_second",
            "budget.max_change",
            "budget.floor_rate",
            "budget.policy.ghost",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn yaml_uses_the_same_schema() {
        let yaml = "buffer:\n  max_spans: 10\nbudget:\n  spans_per_second: 100\n  interval: 1s\n";
        let config = Config::parse(yaml, Format::Yaml, Path::new("t.yaml")).unwrap();
        assert_eq!(config.buffer.max_spans, 10);
        let bad = "budget:\n  spans_per_second: 100\n  interval: 1ms\n";
        let err = Config::parse(bad, Format::Yaml, Path::new("t.yaml")).unwrap_err();
        assert_eq!(err.problems[0].line, Some(3), "{err}");
        let unknown = "buffer:\n  max_spanz: 10\n";
        let err = Config::parse(unknown, Format::Yaml, Path::new("t.yaml")).unwrap_err();
        assert_eq!(err.problems[0].line, Some(2), "{err}");
    }
}
