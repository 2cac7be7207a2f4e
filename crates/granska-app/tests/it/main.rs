//! Tests of the application core.

mod permissions;
