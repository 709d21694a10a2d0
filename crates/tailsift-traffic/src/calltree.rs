//! One mission trace, in three passes over a scratch tree of nodes:
//!
//! 1. **Shape**: from the root operation, draw which calls happen and how often, down to
//!    [`MAX_DEPTH`], giving every node its span id, so parents are known before children.
//! 2. **Time**: lay the tree out on the timeline. A span lasts its own (log-normal) self time
//!    plus its synchronous children: sequential calls one after another, adjacent parallel calls
//!    side by side, fire-and-forget calls started after a queue delay and not waited for. Each
//!    node may fail on its own (the background rate, or an error burst of its service) or pass
//!    up a callee's failure.
//! 3. **Spans**: turn nodes into spans, sharing every name, key and constant value from the
//!    [`Catalog`].

use tailsift::{Event, KeyValue, Span, SpanExtra, SpanId, StatusCode, TraceId, Value};

use crate::catalog::Catalog;
use crate::random::Draw;
use crate::services::{CallMode, MAX_DEPTH};
use crate::stream::BuiltTrace;

/// Marks "no node" in the tree's links.
const NONE: u32 = u32::MAX;
/// A trace never grows past this many spans, whatever the tables say.
pub(crate) const MAX_SPANS_PER_TRACE: usize = 512;
/// How often a failure is passed up to the caller.
const PROPAGATION: f64 = 0.7;

/// Per-trace settings the mission source decides.
pub(crate) struct TracePlan {
    pub(crate) root: usize,
    pub(crate) start: u64,
    /// The service in an error burst at the trace's start, and its error rate.
    pub(crate) burst: Option<(usize, f64)>,
    pub(crate) background_error_rate: f64,
    pub(crate) slow_outlier: bool,
    pub(crate) late_consumer_fraction: f64,
    pub(crate) user_tier: Value,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Failed here: carries the exception event.
    Failed {
        in_burst: bool,
    },
    /// A callee failed and this span reports it.
    UpstreamFailed,
}

struct Node {
    operation: usize,
    parent: u32,
    first_child: u32,
    next_sibling: u32,
    mode: CallMode,
    span_id: SpanId,
    /// Reached through a fire-and-forget call: nothing above waits for it.
    detached: bool,
    /// A slow consumer picks this message up seconds later.
    delayed_pickup: bool,
    /// This node or an ancestor was picked up late: its span arrives long after the root.
    late: bool,
    start: u64,
    end: u64,
    outcome: Outcome,
}

/// The reusable scratch space of trace building.
#[derive(Default)]
pub(crate) struct CallTree {
    nodes: Vec<Node>,
}

/// Borrowed context of one build.
struct Build<'a> {
    catalog: &'a Catalog,
    draw: &'a mut Draw,
    nodes: &'a mut Vec<Node>,
    plan: &'a TracePlan,
    slow_node: u32,
    burst_errors: bool,
}

impl CallTree {
    /// Builds one trace into `out`: spans, their arrivals (simulated nanoseconds, export delay
    /// up to `max_export_delay` nanoseconds) and the workload's label.
    pub(crate) fn build(
        &mut self,
        catalog: &Catalog,
        draw: &mut Draw,
        plan: &TracePlan,
        epoch: u64,
        max_export_delay: u64,
        out: &mut BuiltTrace,
    ) {
        self.nodes.clear();
        let mut build = Build {
            catalog,
            draw,
            nodes: &mut self.nodes,
            plan,
            slow_node: NONE,
            burst_errors: false,
        };
        build.shape(plan.root, NONE, 1, CallMode::Sequential, false, false);
        if plan.slow_outlier {
            build.slow_node = build.pick_slow_node();
        }
        build.lay_out(0, plan.start);
        build.emit(epoch, max_export_delay, out);
    }
}

impl Build<'_> {
    fn shape(
        &mut self,
        operation: usize,
        parent: u32,
        depth: u8,
        mode: CallMode,
        detached: bool,
        late: bool,
    ) -> u32 {
        let index = self.nodes.len() as u32;
        let delayed_pickup = mode == CallMode::Async
            && self.catalog.operations[operation].consumer
            && self.draw.chance(self.plan.late_consumer_fraction);
        self.nodes.push(Node {
            operation,
            parent,
            first_child: NONE,
            next_sibling: NONE,
            mode,
            span_id: self.draw.span_id(),
            detached,
            delayed_pickup,
            late: late || delayed_pickup,
            start: 0,
            end: 0,
            outcome: Outcome::Ok,
        });
        if depth >= MAX_DEPTH {
            return index;
        }
        let late = late || delayed_pickup;
        let mut last_child = NONE;
        for call_index in 0..self.catalog.operations[operation].calls.len() {
            let call = self.catalog.operations[operation].calls[call_index];
            if !self.draw.chance(call.probability) {
                continue;
            }
            let repetitions = self.draw.between(u64::from(call.min), u64::from(call.max));
            for _ in 0..repetitions {
                if self.nodes.len() >= MAX_SPANS_PER_TRACE {
                    return index;
                }
                let detached = detached || call.mode == CallMode::Async;
                let child = self.shape(call.operation, index, depth + 1, call.mode, detached, late);
                match last_child {
                    NONE => self.nodes[index as usize].first_child = child,
                    previous => self.nodes[previous as usize].next_sibling = child,
                }
                last_child = child;
            }
        }
        index
    }

    /// A node whose slowness the root waits for: a synchronous dependency, or the root itself
    /// when it has none.
    fn pick_slow_node(&mut self) -> u32 {
        let waited_for = |n: &Node| n.parent != NONE && !n.detached;
        let candidates = self.nodes.iter().filter(|n| waited_for(n)).count();
        if candidates == 0 {
            return 0;
        }
        let pick = self.draw.index(candidates);
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| waited_for(n))
            .nth(pick)
            .map_or(0, |(index, _)| index as u32)
    }

    fn network_gap(&mut self) -> u64 {
        self.draw.between(20_000, 200_000)
    }

    /// Lays out node `index` starting at `start`; returns its end and whether it failed.
    fn lay_out(&mut self, index: u32, start: u64) -> (u64, bool) {
        let node = index as usize;
        let catalog = self.catalog;
        let operation = &catalog.operations[self.nodes[node].operation];
        let mut self_time = self
            .draw
            .log_normal(operation.self_median_nanos, operation.sigma);
        if index == self.slow_node {
            // A slow dependency: a lock wait, a cold cache, a retry with back-off.
            self_time += self.draw.log_normal(1.2e9, 0.5).min(10e9);
        }
        let self_time = self_time.max(1_000.0) as u64;
        let before_children = (self_time as f64 * (0.2 + 0.4 * self.draw.unit())) as u64;
        let service = operation.service;

        let mut cursor = start + before_children;
        let mut parallel_group: Option<(u64, u64)> = None;
        let mut callee_failed = false;
        let mut child = self.nodes[node].first_child;
        while child != NONE {
            let mode = self.nodes[child as usize].mode;
            if mode != CallMode::Parallel {
                if let Some((_, group_end)) = parallel_group.take() {
                    cursor = cursor.max(group_end);
                }
            }
            match mode {
                CallMode::Sequential => {
                    let child_start = cursor + self.network_gap();
                    let (end, failed) = self.lay_out(child, child_start);
                    callee_failed |= failed && self.draw.chance(PROPAGATION);
                    cursor = end + self.network_gap();
                }
                CallMode::Parallel => {
                    let group_start = parallel_group.map_or(cursor, |(s, _)| s);
                    let child_start = group_start + self.network_gap();
                    let (end, failed) = self.lay_out(child, child_start);
                    callee_failed |= failed && self.draw.chance(PROPAGATION);
                    let group_end = parallel_group.map_or(end, |(_, e)| e.max(end));
                    parallel_group = Some((group_start, group_end + self.network_gap()));
                }
                CallMode::Async => {
                    let queue_delay = if self.nodes[child as usize].delayed_pickup {
                        // A backed-up consumer: seconds to minutes behind.
                        self.draw.log_normal(15e9, 0.6).clamp(3e9, 120e9)
                    } else {
                        self.draw.log_normal(3e6, 0.8)
                    };
                    // Nobody waits for a fire-and-forget call, nor hears of its failure.
                    self.lay_out(child, cursor + queue_delay as u64);
                }
            }
            child = self.nodes[child as usize].next_sibling;
        }
        if let Some((_, group_end)) = parallel_group {
            cursor = cursor.max(group_end);
        }
        let end = cursor + (self_time - before_children);

        let burst_rate = self
            .plan
            .burst
            .and_then(|(burst_service, rate)| (burst_service == service).then_some(rate));
        let own_rate = burst_rate.unwrap_or(self.plan.background_error_rate);
        let outcome = if self.draw.chance(own_rate) {
            let in_burst = burst_rate.is_some();
            self.burst_errors |= in_burst;
            Outcome::Failed { in_burst }
        } else if callee_failed {
            Outcome::UpstreamFailed
        } else {
            Outcome::Ok
        };
        let node = &mut self.nodes[node];
        node.start = start;
        node.end = end;
        node.outcome = outcome;
        (end, outcome != Outcome::Ok)
    }

    fn emit(&mut self, epoch: u64, max_export_delay: u64, out: &mut BuiltTrace) {
        let catalog = self.catalog;
        let keys = &catalog.keys;
        let trace_id: TraceId = self.draw.trace_id();
        let mut critical = false;
        let mut late_spans = 0;
        // Deepest nodes first: roughly the order spans end in, which the stream sorts anyway.
        for node in self.nodes.iter().rev() {
            let operation = &catalog.operations[node.operation];
            let service = &catalog.services[operation.service];
            critical |= operation.critical;
            late_spans += u32::from(node.late);

            let failed = matches!(node.outcome, Outcome::Failed { .. });
            let caller_peer = operation.caller_peer && node.parent != NONE;
            // Exactly as many as are pushed below, so that boxing them does not reallocate.
            let len = operation.constant_attributes.len()
                + usize::from(operation.outcome.is_some())
                + usize::from(operation.user_tier)
                + usize::from(caller_peer)
                + usize::from(failed);
            let mut attributes = Vec::with_capacity(len);
            attributes.extend(operation.constant_attributes.iter().cloned());
            if let Some(outcome) = &operation.outcome {
                let value = match node.outcome {
                    Outcome::Ok => &outcome.ok,
                    Outcome::Failed { .. } => &outcome.failed,
                    Outcome::UpstreamFailed => &outcome.upstream_failed,
                };
                attributes.push(KeyValue {
                    key: outcome.key.clone(),
                    value: value.clone(),
                });
            }
            if operation.user_tier {
                attributes.push(KeyValue {
                    key: keys.user_tier.clone(),
                    value: self.plan.user_tier.clone(),
                });
            }
            if caller_peer {
                let caller = &catalog.operations[self.nodes[node.parent as usize].operation];
                attributes.push(KeyValue {
                    key: keys.net_peer_name.clone(),
                    value: catalog.services[caller.service].host.clone(),
                });
            }
            let (status_code, extra) = match node.outcome {
                Outcome::Ok => (StatusCode::Unset, None),
                Outcome::Failed { .. } => {
                    attributes.push(KeyValue {
                        key: keys.error_type.clone(),
                        value: service.exception_type.clone(),
                    });
                    let event = Event {
                        time_unix_nano: epoch + node.end.saturating_sub(1_000),
                        name: keys.exception.clone(),
                        attributes: vec![
                            KeyValue {
                                key: keys.exception_type.clone(),
                                value: service.exception_type.clone(),
                            },
                            KeyValue {
                                key: keys.exception_message.clone(),
                                value: service.exception_message.clone(),
                            },
                        ],
                        dropped_attributes_count: 0,
                    };
                    let extra = SpanExtra {
                        status_message: service.status_message.clone(),
                        events: vec![event],
                        ..SpanExtra::default()
                    };
                    (StatusCode::Error, Some(Box::new(extra)))
                }
                Outcome::UpstreamFailed => {
                    let extra = SpanExtra {
                        status_message: keys.upstream_message.clone(),
                        ..SpanExtra::default()
                    };
                    (StatusCode::Error, Some(Box::new(extra)))
                }
            };
            debug_assert_eq!(attributes.len(), len);
            out.spans.push(Span {
                trace_id,
                span_id: node.span_id,
                parent_span_id: match node.parent {
                    NONE => SpanId::INVALID,
                    parent => self.nodes[parent as usize].span_id,
                },
                flags: 1,
                name: operation.name.clone(),
                kind: operation.kind,
                start_time_unix_nano: epoch + node.start,
                end_time_unix_nano: epoch + node.end,
                attributes: attributes.into_boxed_slice(),
                status_code,
                extra,
                // Spelled out rather than `..Span::default()`, which would clone and drop the
                // default origin for every span.
                origin: service.origin.clone(),
            });
            out.arrivals
                .push(node.end + self.draw.between(0, max_export_delay));
        }
        out.label.burst_error = self.burst_errors;
        out.label.slow = self.slow_node != NONE;
        out.label.critical_path = critical;
        out.label.late_spans = late_spans;
    }
}
