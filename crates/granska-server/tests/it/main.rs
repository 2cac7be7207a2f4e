//! Integration tests of granska-server: real servers on 127.0.0.1 (port 0), real gRPC over
//! sockets, the real shipped model and SQLite.

mod e2e;
mod grpcurl;
mod hostile;
mod ingest;
mod permissions;
mod python;
mod support;
mod upload;
