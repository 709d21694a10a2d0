//! The growth mode (`throughput --growth`): pairs of runs at two prefill sizes. A test binary of
//! its own: the harness switches the process-wide allocation counting off for timed runs, which
//! would race with the quick runs' counting in the same process.

use tailsift_benches::counting::CountingAlloc;
use tailsift_benches::harness::{growth, Growth, InputState, Options, WorkloadKind};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn growth_runs_pairs_in_alternating_order_and_weighs_both_orders() {
    let options = Options::new(WorkloadKind::Anchor).quick();
    let measured =
        growth(&options, (10, 1_000), 2).unwrap_or_else(|e| panic!("growth failed: {e}"));
    assert_eq!(measured.sizes, (10, 1_000));
    assert_eq!(measured.pairs.len(), 2);
    assert!(measured
        .pairs
        .iter()
        .all(|&(small, large)| small > 0.0 && large > 0.0));

    // Two orders slowed alike by what ran before: the mean is the size's own effect, none.
    let synthetic = Growth {
        sizes: (1, 2),
        pairs: vec![(5.0, 4.0), (4.0, 5.0), (5.0, 4.0), (4.0, 5.0)],
    };
    assert!((synthetic.ratio() - 1.0).abs() < 1e-12);
    assert_eq!(synthetic.ratios_by_order(), (0.8, 1.25));
    assert_eq!(synthetic.medians(), (5.0, 5.0));
}

#[test]
fn every_input_state_runs_and_a_bad_name_is_refused() {
    for input in ["built", "warm", "early"] {
        let mut options = Options::new(WorkloadKind::Anchor).quick();
        options.input = InputState::from_name(input).unwrap_or_else(|e| panic!("{e}"));
        let measured = growth(&options, (10, 100), 1)
            .unwrap_or_else(|e| panic!("growth with --input {input} failed: {e}"));
        assert_eq!(measured.pairs.len(), 1);
        assert!(measured.pairs[0].0 > 0.0 && measured.pairs[0].1 > 0.0);
    }
    let err = InputState::from_name("hot").unwrap_err();
    assert!(err.contains("built, warm or early"), "{err}");
}
