//! Concurrency test (placeholder replaced below).
