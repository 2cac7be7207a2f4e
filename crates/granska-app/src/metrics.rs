//! Prometheus metrics, one registry per application (tests run several in one process). The
//! core counts; an edge (the server's `GET /metrics`) renders them.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Every metric the server exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Instances stored.
    pub instances: IntCounter,
    /// Bytes of stored instances.
    pub bytes: IntCounter,
    /// Re-sent instances.
    pub duplicates: IntCounter,
    /// Rejected instances by reason class.
    pub rejections: IntCounterVec,
    /// Complete studies waiting for a scoring worker.
    pub queue_depth: IntGauge,
    /// Studies being scored now.
    pub scoring_in_flight: IntGauge,
    /// Seconds per stage: store, decode, preprocess, infer, route, last_instance_to_worklist.
    pub stage_seconds: HistogramVec,
    /// Exams routed, by category (`none` when unscorable) and reading mode.
    pub exams_routed: IntCounterVec,
    /// Studies parked as needs-attention now.
    pub needs_attention: IntGauge,
    /// Failed scoring/routing attempts (each is retried or parks its study).
    pub scoring_failures: IntCounter,
    /// Connections, streams and uploads refused by a limit, by limit name.
    pub refused: IntCounterVec,
    /// Instances of accept-and-drop SOP classes answered with success and not stored.
    pub dropped: IntCounterVec,
    /// DICOM associations ended, by outcome (released, aborted, idle, rejected, refused).
    pub associations: IntCounterVec,
    /// Result SRs by outbox state (pending, sent, failed): set from the archive.
    pub results: prometheus::IntGaugeVec,
    /// Attempts to send a result SR, by outcome (sent, refused, unreachable).
    pub result_attempts: IntCounterVec,
    /// 1 while both stores answer (the readiness check), 0 while either does not.
    pub store_ready: IntGauge,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        Metrics::with_labels(None)
    }

    /// A registry whose every series carries `replica="<name>"`, so that the metrics of
    /// replicas sharing one database can be told apart after scraping (counters sum across
    /// replicas; the gauges read from the shared store are the same on each).
    pub fn for_replica(name: &str) -> Metrics {
        Metrics::with_labels(Some(std::iter::once(("replica".to_owned(), name.to_owned())).collect()))
    }

    fn with_labels(labels: Option<std::collections::HashMap<String, String>>) -> Metrics {
        let registry = Registry::new_custom(Some("granska".into()), labels).expect("valid prefix and labels");
        let instances = IntCounter::new("instances_ingested_total", "DICOM instances stored").expect("valid");
        let bytes = IntCounter::new("ingested_bytes_total", "Bytes of DICOM instances stored").expect("valid");
        let duplicates =
            IntCounter::new("instances_duplicate_total", "Re-sent instances already stored").expect("valid");
        let rejections =
            IntCounterVec::new(Opts::new("instances_rejected_total", "Rejected instances by reason"), &["reason"])
                .expect("valid");
        let queue_depth = IntGauge::new("scoring_queue_depth", "Complete studies waiting to be scored").expect("valid");
        let scoring_in_flight = IntGauge::new("scoring_in_flight", "Studies being scored").expect("valid");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("stage_seconds", "Time per pipeline stage")
                .buckets(vec![0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]),
            &["stage"],
        )
        .expect("valid");
        let exams_routed = IntCounterVec::new(
            Opts::new("exams_routed_total", "Exams routed, by category and reading mode"),
            &["category", "reading_mode"],
        )
        .expect("valid");
        let needs_attention =
            IntGauge::new("studies_needing_attention", "Studies parked after repeated scoring/routing failures")
                .expect("valid");
        let scoring_failures =
            IntCounter::new("scoring_failures_total", "Failed scoring or routing attempts").expect("valid");
        let dropped = IntCounterVec::new(
            Opts::new(
                "instances_dropped_total",
                "Instances of accept-and-drop SOP classes (answered success, not stored)",
            ),
            &["sop_class"],
        )
        .expect("valid");
        let associations = IntCounterVec::new(
            Opts::new("dicom_associations_total", "DICOM associations ended, by outcome"),
            &["outcome"],
        )
        .expect("valid");
        let results = prometheus::IntGaugeVec::new(
            Opts::new("result_reports", "Result SRs in the outbox by state (pending, sent, failed)"),
            &["state"],
        )
        .expect("valid");
        let result_attempts = IntCounterVec::new(
            Opts::new("result_send_attempts_total", "Attempts to send a result SR, by outcome"),
            &["outcome"],
        )
        .expect("valid");
        let refused = IntCounterVec::new(
            Opts::new("refused_total", "Connections, streams and instances refused by a configured limit"),
            &["limit"],
        )
        .expect("valid");
        let store_ready =
            IntGauge::new("store_ready", "1 while both stores answer (readiness), 0 while either does not")
                .expect("valid");
        for m in [
            Box::new(store_ready.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(instances.clone()),
            Box::new(bytes.clone()),
            Box::new(duplicates.clone()),
            Box::new(rejections.clone()),
            Box::new(queue_depth.clone()),
            Box::new(scoring_in_flight.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(exams_routed.clone()),
            Box::new(needs_attention.clone()),
            Box::new(scoring_failures.clone()),
            Box::new(refused.clone()),
            Box::new(dropped.clone()),
            Box::new(associations.clone()),
            Box::new(results.clone()),
            Box::new(result_attempts.clone()),
        ] {
            registry.register(m).expect("unique metric names");
        }
        Metrics {
            registry,
            instances,
            bytes,
            duplicates,
            rejections,
            queue_depth,
            scoring_in_flight,
            stage_seconds,
            exams_routed,
            needs_attention,
            scoring_failures,
            refused,
            dropped,
            associations,
            results,
            result_attempts,
            store_ready,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// Records one stage duration.
    pub fn observe(&self, stage: &str, seconds: f64) {
        self.stage_seconds.with_label_values(&[stage]).observe(seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
