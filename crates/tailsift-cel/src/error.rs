//! Why a CEL policy failed to compile.

/// A CEL policy that could not be compiled. Every variant names the policy; those about a
/// place in the expression name its line and column (both from 1, columns in characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CelError {
    /// The expression is longer than [`CelLimits::max_expression_bytes`](crate::CelLimits).
    #[error(
        "CEL policy `{policy}`: the expression is {bytes} bytes long, more than the {max} \
         allowed; split it into several policies"
    )]
    TooLong {
        /// The policy's name.
        policy: String,
        /// The expression's length in bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The expression is not valid CEL.
    #[error("CEL policy `{policy}`, line {line}, column {column}: syntax error: {message}")]
    Syntax {
        /// The policy's name.
        policy: String,
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
        /// What the parser expected or found there.
        message: String,
    },
    /// The expression nests deeper than [`CelLimits::max_depth`](crate::CelLimits).
    #[error(
        "CEL policy `{policy}`, line {line}, column {column}: the expression nests more than \
         {max} levels deep here; flatten it (long chains of `+` or `<` count one level each)"
    )]
    TooDeep {
        /// The policy's name.
        policy: String,
        /// Line of the first node past the limit.
        line: usize,
        /// Column of the first node past the limit.
        column: usize,
        /// The limit.
        max: usize,
    },
    /// An identifier that is neither a variable, a loop variable in scope, nor a type name.
    #[error(
        "CEL policy `{policy}`, line {line}, column {column}: unknown variable `{name}`; the \
         variables are `trace` and `spans`"
    )]
    UnknownVariable {
        /// The policy's name.
        policy: String,
        /// Line of the identifier.
        line: usize,
        /// Column of the identifier.
        column: usize,
        /// The identifier.
        name: String,
    },
    /// A `matches()` pattern that is not a valid regular expression (RE2 syntax).
    #[error(
        "CEL policy `{policy}`, line {line}, column {column}: invalid regular expression \
         {pattern:?}: {message}"
    )]
    InvalidPattern {
        /// The policy's name.
        policy: String,
        /// Line of the pattern.
        line: usize,
        /// Column of the pattern.
        column: usize,
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A construct this engine does not accept, such as a `matches()` pattern computed at run
    /// time or a message literal.
    #[error("CEL policy `{policy}`, line {line}, column {column}: {message}")]
    Unsupported {
        /// The policy's name.
        policy: String,
        /// Line of the construct.
        line: usize,
        /// Column of the construct.
        column: usize,
        /// What is not supported, and what to write instead.
        message: String,
    },
    /// The compiler itself failed (the CEL parser panicked, or no thread could be started to
    /// run it). Not the expression's fault as far as anyone can tell; please report it.
    #[error("CEL policy `{policy}`: the CEL compiler failed: {message}")]
    Internal {
        /// The policy's name.
        policy: String,
        /// What failed.
        message: String,
    },
}

impl CelError {
    /// The name of the policy that failed to compile.
    pub fn policy(&self) -> &str {
        match self {
            CelError::TooLong { policy, .. }
            | CelError::Syntax { policy, .. }
            | CelError::TooDeep { policy, .. }
            | CelError::UnknownVariable { policy, .. }
            | CelError::InvalidPattern { policy, .. }
            | CelError::Unsupported { policy, .. }
            | CelError::Internal { policy, .. } => policy,
        }
    }

    /// The message without the leading "CEL policy `name`", for callers that name the policy
    /// themselves (the policy set's config errors do): `line 2, column 3: unknown variable ...`.
    pub fn detail(&self) -> String {
        let full = self.to_string();
        let prefix = format!("CEL policy `{}`", self.policy());
        match full.strip_prefix(&prefix) {
            Some(rest) => rest
                .strip_prefix(", ")
                .or_else(|| rest.strip_prefix(": "))
                .unwrap_or(rest)
                .to_owned(),
            None => full,
        }
    }

    /// Where in the expression the error is, as (line, column), when it is about one place.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            CelError::Syntax { line, column, .. }
            | CelError::TooDeep { line, column, .. }
            | CelError::UnknownVariable { line, column, .. }
            | CelError::InvalidPattern { line, column, .. }
            | CelError::Unsupported { line, column, .. } => Some((*line, *column)),
            CelError::TooLong { .. } | CelError::Internal { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_drops_the_policy_name_only() {
        let positioned = CelError::UnknownVariable {
            policy: "p".into(),
            line: 2,
            column: 3,
            name: "trce".into(),
        };
        assert!(positioned
            .detail()
            .starts_with("line 2, column 3: unknown variable `trce`"));
        let whole = CelError::TooLong {
            policy: "p".into(),
            bytes: 5000,
            max: 4096,
        };
        assert!(whole
            .detail()
            .starts_with("the expression is 5000 bytes long"));
    }
}
