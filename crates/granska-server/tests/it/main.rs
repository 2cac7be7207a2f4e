//! Integration tests of granska-server.
