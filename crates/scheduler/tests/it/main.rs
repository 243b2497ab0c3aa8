//! The scheduler's integration tests: golden scenario files under `test_data/`, and
//! property tests over generated clusters. Both check the same invariants on every plan.

mod explain;
mod fixture;
mod golden;
mod invariants;
mod props;
