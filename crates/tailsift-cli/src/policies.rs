//! Loading a budget file and building its policies, with every error located in the file.
//!
//! [`tailsift::Config::load`] already reports every parse and validation problem with file,
//! line and key. What it cannot see is whether each policy *builds*: a CEL expression that does
//! not compile, a `wasm` module this build cannot load. [`load`] builds every top-level policy
//! on its own, so that all such errors are found at once (not only the first), and locates each
//! at its policy's entry in the file (the `expr` line for CEL).

use std::path::{Path, PathBuf};
use tailsift::config_file::Format;
use tailsift::policy::{build_policy, PolicyKind};
use tailsift::{Config, ConfigFileError, ConfigProblem, PolicyBuilders, PolicyConfigError};

use crate::error::CliError;
use crate::DEFAULT_CONFIG;

/// How the embedded default config is named in messages.
pub const EMBEDDED_NAME: &str = "<embedded default.toml>";

/// A loaded, fully built-and-checked config.
#[derive(Debug)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Where it came from (a path, or [`EMBEDDED_NAME`]).
    pub source: PathBuf,
}

/// The builders of the policy kinds implemented outside the engine: CEL today; the WASM host
/// registers its builder here when it lands (`tailsift policy ...` subcommands come with it).
pub fn builders() -> PolicyBuilders {
    PolicyBuilders::new().with_cel(tailsift_cel::builder())
}

/// Loads `path` (or the embedded default when `None`), validates it and builds every policy.
pub fn load(path: Option<&Path>) -> Result<Loaded, CliError> {
    let (text, source) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| {
                CliError::Config(ConfigFileError {
                    problems: vec![problem(p, None, None, format!("cannot read the file: {e}"))],
                })
            })?,
            p.to_path_buf(),
        ),
        None => (DEFAULT_CONFIG.to_string(), PathBuf::from(EMBEDDED_NAME)),
    };
    let format = Format::of(&source);
    match Config::parse(&text, format, &source) {
        Ok(config) => {
            let problems = build_problems(&config, &text, format, &source);
            if problems.is_empty() {
                Ok(Loaded { config, source })
            } else {
                Err(CliError::Config(ConfigFileError { problems }))
            }
        }
        Err(mut err) => {
            // A file that parses but fails validation still has policies to build: report
            // their problems too, so one run of `check` lists everything.
            if let Some(raw) = parse_unvalidated(&text, format) {
                err.problems
                    .extend(build_problems(&raw, &text, format, &source));
                err.problems
                    .sort_by_key(|p| (p.line.is_none(), p.line, p.column));
            }
            Err(CliError::Config(err))
        }
    }
}

/// The config as serde reads it, before the semantic checks of `Config::parse`.
fn parse_unvalidated(text: &str, format: Format) -> Option<Config> {
    match format {
        Format::Toml => toml::from_str(text).ok(),
        Format::Yaml => serde_norway::from_str(text).ok(),
    }
}

fn problem(
    file: &Path,
    line: Option<usize>,
    key: Option<String>,
    message: String,
) -> ConfigProblem {
    ConfigProblem {
        file: file.to_path_buf(),
        line,
        column: None,
        key,
        message,
    }
}

/// Builds each top-level policy alone and returns a located problem for each that fails.
fn build_problems(config: &Config, text: &str, format: Format, file: &Path) -> Vec<ConfigProblem> {
    let builders = builders();
    let mut out = Vec::new();
    for (index, policy) in config.policies.iter().enumerate() {
        // CEL expressions are compiled here directly for the error's position in the
        // expression, which is turned into a position in the file.
        if let PolicyKind::Cel(cel) = &policy.kind {
            if let Err(e) = tailsift_cel::CelPolicy::compile(&policy.name, &cel.expr) {
                let (line, column) = match format {
                    Format::Toml => locate_in_toml_string(text, index, "expr", e.position()),
                    Format::Yaml => (locate_yaml(text, &policy.name, "expr"), None),
                };
                out.push(ConfigProblem {
                    file: file.to_path_buf(),
                    line,
                    column,
                    key: Some(format!("policy[{index}].expr")),
                    message: format!("policy `{}`: CEL {}", policy.name, e.detail()),
                });
                continue;
            }
        }
        let Err(err) = build_policy(policy, &builders) else {
            continue;
        };
        let (key, message) = match &err {
            PolicyConfigError::MissingBuilder { kind: "wasm", .. } => (
                "kind",
                format!(
                    "policy `{}`: `kind = \"wasm\"` needs the WASM policy host, which this build \
                     of tailsift does not include yet; use a native or `cel` policy for now",
                    policy.name
                ),
            ),
            PolicyConfigError::Invalid { key, .. } => (key.as_str(), err.to_string()),
            _ => ("name", err.to_string()),
        };
        let line = match format {
            Format::Toml => locate_toml(text, index, key),
            Format::Yaml => locate_yaml(text, &policy.name, key),
        };
        out.push(problem(
            file,
            line,
            Some(format!("policy[{index}].{key}")),
            message,
        ));
    }
    out
}

/// The file position of `(line, column)` inside the string value of `policy[index].key`
/// (approximate when the string has escapes), or the key's line without a position.
fn locate_in_toml_string(
    text: &str,
    index: usize,
    key: &str,
    position: Option<(usize, usize)>,
) -> (Option<usize>, Option<usize>) {
    let Some(value_start) = toml_value_offset(text, index, key) else {
        return (locate_toml(text, index, key), None);
    };
    let line = line_of(text, value_start);
    let Some((expr_line, expr_column)) = position else {
        return (Some(line), None);
    };
    let rest = &text[value_start..];
    let multi = rest.starts_with("\"\"\"") || rest.starts_with("'''");
    if !multi {
        let column = text[..value_start]
            .rfind('\n')
            .map_or(value_start, |nl| value_start - nl - 1)
            + 1;
        return match expr_line {
            1 => (Some(line), Some(column + expr_column)),
            n => (Some(line + n - 1), Some(expr_column)),
        };
    }
    // A multi-line string: a newline right after the delimiter is not part of the value.
    let skip = usize::from(rest[3..].starts_with('\n'));
    match (expr_line, skip) {
        (1, 0) => {
            let column = text[..value_start]
                .rfind('\n')
                .map_or(value_start, |nl| value_start - nl - 1)
                + 4;
            (Some(line), Some(column + expr_column - 1))
        }
        (n, _) => (Some(line + n - 1 + skip), Some(expr_column)),
    }
}

/// The byte offset of the value of `policy[index].key` in a TOML document.
fn toml_value_offset(text: &str, index: usize, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let (_, policies) = doc
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == "policy")?;
    let DeValue::Array(items) = policies.get_ref() else {
        return None;
    };
    let DeValue::Table(table) = items.get(index)?.get_ref() else {
        return None;
    };
    let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
    Some(value.span().start)
}

/// The line of `policy[index].key` in a TOML document (or of the policy's table, when the key
/// is not written there, e.g. inside a sub-policy).
fn locate_toml(text: &str, index: usize, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let (_, policies) = doc
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == "policy")?;
    let DeValue::Array(items) = policies.get_ref() else {
        return None;
    };
    let item = items.get(index)?;
    let offset = match item.get_ref() {
        DeValue::Table(table) => table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map_or(item.span().start, |(k, _)| k.span().start),
        _ => item.span().start,
    };
    Some(line_of(text, offset))
}

/// The line of `key` in the YAML entry of the policy named `name` (or of its `name` line), by
/// text search: YAML keeps no positions through serde.
fn locate_yaml(text: &str, name: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_name_line = |l: &str| {
        let t = l.trim_start().trim_start_matches("- ").trim();
        t.strip_prefix("name:")
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == name)
            .unwrap_or(false)
    };
    let at = lines.iter().position(|l| is_name_line(l))?;
    // The entry's other keys: the lines after its name until the next list item at the same or
    // lower indentation (a crude but sufficient bound for a flat policy list).
    let indent = |l: &str| l.len() - l.trim_start().len();
    let item_indent = indent(lines[at]);
    let found = lines
        .iter()
        .enumerate()
        .skip(at + 1)
        .take_while(|(_, l)| {
            l.trim().is_empty() || indent(l) >= item_indent && !l.trim_start().starts_with("- ")
        })
        .find(|(_, l)| l.trim_start().starts_with(&format!("{key}:")))
        .map(|(i, _)| i);
    Some(found.unwrap_or(at) + 1)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_loads_and_builds() {
        let loaded = load(None).expect("the embedded default config is valid");
        assert_eq!(loaded.config.policies.len(), 4);
        assert!(loaded.config.budget.is_some());
    }

    #[test]
    fn toml_policy_keys_are_located() {
        let text = "[[policy]]\nname = \"a\"\nkind = \"always\"\n\n[[policy]]\nname = \"b\"\nkind = \"cel\"\nexpr = \"x\"\n";
        assert_eq!(locate_toml(text, 1, "expr"), Some(8));
        assert_eq!(locate_toml(text, 0, "expr"), Some(1));
    }

    #[test]
    fn cel_errors_are_located_inside_the_expression() {
        let text = "[[policy]]\nname = \"b\"\nkind = \"cel\"\nexpr = 'a == '\n";
        assert_eq!(
            locate_in_toml_string(text, 0, "expr", Some((1, 6))),
            (Some(4), Some(14))
        );
        let text =
            "[[policy]]\nname = \"b\"\nkind = \"cel\"\nexpr = \'\'\'\ntrace.x &&\n  foo\'\'\'\n";
        assert_eq!(
            locate_in_toml_string(text, 0, "expr", Some((2, 3))),
            (Some(6), Some(3))
        );
    }

    #[test]
    fn yaml_policy_keys_are_located() {
        let text =
            "policy:\n  - name: a\n    kind: always\n  - name: b\n    kind: cel\n    expr: x\n";
        assert_eq!(locate_yaml(text, "b", "expr"), Some(6));
        assert_eq!(locate_yaml(text, "a", "expr"), Some(2));
    }
}
