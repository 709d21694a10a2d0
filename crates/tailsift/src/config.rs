//! The engine's settings: trace buffer, decision cache and decision output.
//!
//! Every struct deserializes with serde (unknown keys refused) so the budget file can embed them
//! as `[buffer]`, `[decision_cache]` and `[output]`. Durations are strings (`"30s"`, `"500ms"`),
//! sizes are strings (`"512MiB"`) or numbers of bytes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What `shutdown()` does with traces still buffered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownMode {
    /// Decide every pending trace now, flagged `shutdown` (default).
    #[default]
    Decide,
    /// Drop every pending trace, counted.
    Drop,
}

/// The trace buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// Number of shards, each with its own lock and trace table. Default 0 = 4 × the number of
    /// cores. More shards mean less lock contention between ingest threads and a little more
    /// memory (one table and queue set each).
    pub shards: usize,
    /// How long to wait for a trace after its first span before deciding it whatever its state.
    /// Default 30s. Rootless traces are decided then, flagged incomplete.
    #[serde(with = "humantime_serde")]
    pub decision_wait: Duration,
    /// How long after its root span ended (and after its latest span arrived) a trace is
    /// considered complete. Default 2s: long enough for stragglers, short enough that memory
    /// scales with trace duration, not with `decision_wait`.
    #[serde(with = "humantime_serde")]
    pub completion_grace: Duration,
    /// Most spans held at once, over all shards. Over it, the oldest traces are decided early
    /// (flagged, counted). Default 1,000,000.
    pub max_spans: usize,
    /// Most bytes (by span size estimate) held at once, over all shards. Default 512 MiB.
    pub max_bytes: bytesize::ByteSize,
    /// Largest batch `ingest` accepts; a larger batch is rejected whole (counted). Default
    /// 100,000 spans.
    pub max_batch_spans: usize,
    /// What `shutdown()` does with pending traces. Default `decide`.
    pub on_shutdown: ShutdownMode,
}

impl Default for BufferConfig {
    fn default() -> BufferConfig {
        BufferConfig {
            shards: 0,
            decision_wait: Duration::from_secs(30),
            completion_grace: Duration::from_secs(2),
            max_spans: 1_000_000,
            max_bytes: bytesize::ByteSize::mib(512),
            max_batch_spans: 100_000,
            on_shutdown: ShutdownMode::Decide,
        }
    }
}

/// The decision cache (late spans follow their trace's decision).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCacheConfig {
    /// Kept decisions remembered, over all shards (about 60 bytes each plus shared reasons).
    /// Default 100,000.
    pub kept_entries: usize,
    /// Dropped decisions remembered, over all shards (11 to 22 bytes each, as the table fills).
    /// Default 1,000,000.
    pub dropped_entries: usize,
}

impl Default for DecisionCacheConfig {
    fn default() -> DecisionCacheConfig {
        DecisionCacheConfig {
            kept_entries: 100_000,
            dropped_entries: 1_000_000,
        }
    }
}

/// What the engine writes into kept spans.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Write the OpenTelemetry `ot=th:<threshold>` tracestate value into kept spans, so
    /// downstream consumers know the sampling probability. Default false (spans leave as they
    /// came).
    pub write_threshold: bool,
    /// When set, add an attribute of this name holding the trace's adjusted count (a double)
    /// to every kept span. Default none.
    pub adjusted_count_attribute: Option<String>,
}

/// Everything the engine itself needs (policies and budget come with the file-level config).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The trace buffer.
    pub buffer: BufferConfig,
    /// The decision cache.
    pub decision_cache: DecisionCacheConfig,
    /// What is written into kept spans.
    pub output: OutputConfig,
}

/// A setting the engine cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} {problem}")]
pub struct ConfigError {
    /// The offending key, dotted (`buffer.max_spans`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl EngineConfig {
    /// Checks values that serde cannot: returns the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, problem: String| {
            Err(ConfigError {
                key: key.to_string(),
                problem,
            })
        };
        let b = &self.buffer;
        if b.max_spans == 0 {
            return fail("buffer.max_spans", "must be at least 1, got 0".into());
        }
        if b.max_bytes.as_u64() < 1024 {
            return fail(
                "buffer.max_bytes",
                format!("must be at least 1KiB, got {}", b.max_bytes),
            );
        }
        if b.max_batch_spans == 0 {
            return fail("buffer.max_batch_spans", "must be at least 1, got 0".into());
        }
        // A shard may briefly hold a whole batch over its share before it decides early.
        if !crate::buffer::store_fits(b.max_spans.saturating_add(b.max_batch_spans)) {
            return fail(
                "buffer.max_spans",
                format!(
                    "plus buffer.max_batch_spans must be under 4,294,000,000, got {} + {}",
                    b.max_spans, b.max_batch_spans
                ),
            );
        }
        if b.decision_wait.is_zero() {
            return fail("buffer.decision_wait", "must be more than 0s".into());
        }
        if b.completion_grace > b.decision_wait {
            return fail(
                "buffer.completion_grace",
                format!(
                    "must not exceed buffer.decision_wait ({}), got {}",
                    humantime::format_duration(b.decision_wait),
                    humantime::format_duration(b.completion_grace)
                ),
            );
        }
        if b.shards > 4096 {
            return fail(
                "buffer.shards",
                format!("must be at most 4096, got {}", b.shards),
            );
        }
        if let Some(name) = &self.output.adjusted_count_attribute {
            if name.is_empty() {
                return fail(
                    "output.adjusted_count_attribute",
                    "must be a non-empty attribute name".into(),
                );
            }
        }
        Ok(())
    }

    /// The shard count in effect: `buffer.shards`, or 4 × cores when 0.
    pub fn shard_count(&self) -> usize {
        if self.buffer.shards > 0 {
            return self.buffer.shards;
        }
        4 * std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}
