//! The reports checked by independent validators.
