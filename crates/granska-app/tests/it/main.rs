//! Tests of the application core.

mod core;
mod permissions;
