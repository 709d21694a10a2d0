//! The binary's one error type: everything a command can fail with, printed to stderr by
//! `main` (exit code 1, or 2 for [`CliError::Usage`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use tailsift::ConfigFileError;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The budget file has problems; each names its file, line and key.
    Config(ConfigFileError),
    /// Arguments that parse but do not fit together (exit code 2).
    Usage(String),
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// An OTLP input could not be read.
    Read(tailsift_otlp::ReadError),
    /// Kept spans could not be written.
    Write(tailsift_otlp::WriteError),
    /// The engine refused its settings.
    Engine(tailsift::ConfigError),
    /// The sampler could not be built from the config.
    Sampler(tailsift::SamplerError),
    /// The traffic generator refused its settings.
    Traffic(tailsift_traffic::ConfigError),
    /// The metrics endpoint could not be set up.
    Metrics(String),
    /// A chart could not be drawn.
    Chart(String),
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> CliError {
        CliError::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(e) => {
                let n = e.problems.len();
                writeln!(
                    f,
                    "error: the config has {n} problem{}:",
                    if n == 1 { "" } else { "s" }
                )?;
                for (i, p) in e.problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "  {p}")?;
                }
                Ok(())
            }
            CliError::Usage(m) => write!(f, "error: {m}"),
            CliError::Io { path, source } => write!(f, "error: {}: {source}", path.display()),
            CliError::Read(e) => write!(f, "error: {e}"),
            CliError::Write(e) => write!(f, "error: {e}"),
            CliError::Engine(e) => write!(f, "error: engine config: {e}"),
            CliError::Sampler(e) => write!(f, "error: {e}"),
            CliError::Traffic(e) => write!(f, "error: traffic: {e}"),
            CliError::Metrics(m) => write!(f, "error: metrics: {m}"),
            CliError::Chart(m) => write!(f, "error: chart: {m}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<ConfigFileError> for CliError {
    fn from(e: ConfigFileError) -> CliError {
        CliError::Config(e)
    }
}

impl From<tailsift_otlp::ReadError> for CliError {
    fn from(e: tailsift_otlp::ReadError) -> CliError {
        CliError::Read(e)
    }
}

impl From<tailsift_otlp::WriteError> for CliError {
    fn from(e: tailsift_otlp::WriteError) -> CliError {
        CliError::Write(e)
    }
}

impl From<tailsift::ConfigError> for CliError {
    fn from(e: tailsift::ConfigError) -> CliError {
        CliError::Engine(e)
    }
}

impl From<tailsift_traffic::ConfigError> for CliError {
    fn from(e: tailsift_traffic::ConfigError) -> CliError {
        CliError::Traffic(e)
    }
}
