//! The store conformance suite: behavioural cases generic over [`WorklistStore`], which every
//! backend must pass. This crate's tests run it on the SQLite and the PostgreSQL store; a
//! backend in another crate runs the same cases from its own tests:
//!
//! ```text
//! // in the backend crate's tests, with granska-worklist's `conformance` feature enabled:
//! granska_worklist::worklist_store_conformance!(make_stores());
//! ```
//!
//! where `make_stores()` returns an `impl Fn(StoreOptions) -> S` giving a fresh,
//! empty store per call (the expression is evaluated once per case, so it may own a temporary
//! database that lives as long as the case). The macro expands to one `#[test]` per case and
//! a test that the expansion and [`cases`] list the same cases.
//!
//! It is behind the `conformance` feature (the crate's tests enable it through a dev-dependency
//! on the crate itself) rather than a `#[doc(hidden)]` module, so that production builds do not
//! compile the suite nor pull in its test-only dependencies (expect-test, proptest, rand).

pub mod support;

mod eligibility;
mod store;
mod workflow;

use crate::{StoreOptions, WorklistStore};

pub use eligibility::eligibility_is_may_take;
pub use store::{
    bad_requests_get_clear_errors, counts_by_mode_and_state, queue_order_is_the_triage_priority_order,
    reads_stay_hidden_until_the_reader_has_read,
};
pub use workflow::{
    a_duplicate_submit_changes_nothing, an_expired_lease_returns_the_task_to_the_queue,
    an_unscorable_exam_is_double_read_under_every_policy, double_reading_concordant,
    double_reading_discordant_goes_to_consensus, one_reader_never_takes_both_reads, release_returns_the_task_at_once,
    rescoring_supersedes_until_reading_starts, single_reading,
};

/// One case: it calls `make` for each store it needs (fresh and empty, with those options).
pub type Case<S> = fn(&dyn Fn(StoreOptions) -> S);

/// Every case with its name: the runner for callers that prefer one loop to one test per case.
pub fn cases<S: WorklistStore>() -> Vec<(&'static str, Case<S>)> {
    vec![
        ("queue_order_is_the_triage_priority_order", queue_order_is_the_triage_priority_order::<S>),
        ("reads_stay_hidden_until_the_reader_has_read", reads_stay_hidden_until_the_reader_has_read::<S>),
        ("counts_by_mode_and_state", counts_by_mode_and_state::<S>),
        ("bad_requests_get_clear_errors", bad_requests_get_clear_errors::<S>),
        ("single_reading", single_reading::<S>),
        ("double_reading_concordant", double_reading_concordant::<S>),
        ("double_reading_discordant_goes_to_consensus", double_reading_discordant_goes_to_consensus::<S>),
        ("an_expired_lease_returns_the_task_to_the_queue", an_expired_lease_returns_the_task_to_the_queue::<S>),
        ("release_returns_the_task_at_once", release_returns_the_task_at_once::<S>),
        ("a_duplicate_submit_changes_nothing", a_duplicate_submit_changes_nothing::<S>),
        ("one_reader_never_takes_both_reads", one_reader_never_takes_both_reads::<S>),
        ("rescoring_supersedes_until_reading_starts", rescoring_supersedes_until_reading_starts::<S>),
        (
            "an_unscorable_exam_is_double_read_under_every_policy",
            an_unscorable_exam_is_double_read_under_every_policy::<S>,
        ),
        ("eligibility_is_may_take", eligibility_is_may_take::<S>),
    ]
}

/// Expands to one `#[test]` per conformance case, each calling the case with the factory
/// `$make` (an expression of type `impl Fn(StoreOptions) -> S`, evaluated once per case), and
/// a test that every case of [`cases`] is expanded.
#[macro_export]
macro_rules! worklist_store_conformance {
    ($make:expr) => {
        $crate::worklist_store_conformance!(@cases $make;
            queue_order_is_the_triage_priority_order,
            reads_stay_hidden_until_the_reader_has_read,
            counts_by_mode_and_state,
            bad_requests_get_clear_errors,
            single_reading,
            double_reading_concordant,
            double_reading_discordant_goes_to_consensus,
            an_expired_lease_returns_the_task_to_the_queue,
            release_returns_the_task_at_once,
            a_duplicate_submit_changes_nothing,
            one_reader_never_takes_both_reads,
            rescoring_supersedes_until_reading_starts,
            an_unscorable_exam_is_double_read_under_every_policy,
            eligibility_is_may_take,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let make = $make;
                $crate::conformance::$case(&make);
            }
        )*

        #[test]
        fn every_conformance_case_is_expanded() {
            fn names<S: $crate::WorklistStore>(_: &dyn Fn($crate::StoreOptions) -> S) -> Vec<&'static str> {
                $crate::conformance::cases::<S>().into_iter().map(|(name, _)| name).collect()
            }
            let make = $make;
            assert_eq!(names(&make), [$(stringify!($case)),*]);
        }
    };
}
