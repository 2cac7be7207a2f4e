//! What every client subcommand shares: the connection flags (server, token, tokens file, CA)
//! turned into a [`granska_client::Client`], and a tokio runtime.

use std::path::PathBuf;

use anyhow::Context;
use granska_client::{Client, ClientOptions};
use granska_types::Role;

/// Connection flags of the client subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Server URL (http:// or https://).
    #[arg(long, env = "GRANSKA_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Bearer token; default: the one for this command's role in --tokens-file.
    #[arg(long, env = "GRANSKA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The server's generated tokens, used when no --token is given.
    #[arg(long, default_value = "granska-data/tokens.toml")]
    pub tokens_file: PathBuf,
    /// PEM CA certificate to trust for an https:// server.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

impl Connection {
    /// The client library's view of these flags.
    pub fn options(&self) -> ClientOptions {
        ClientOptions {
            server: self.server.clone(),
            token: self.token.clone(),
            tokens_file: self.tokens_file.clone(),
            ca_cert: self.ca_cert.clone(),
        }
    }

    /// Connects, with the token for `role`.
    pub async fn connect(&self, role: Role) -> anyhow::Result<Client> {
        Ok(Client::connect(&self.options(), role).await?)
    }
}

/// A small runtime for one client command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `call: CODE: message` for a gRPC error, as a one-line anyhow error.
pub fn status_error(what: &str, s: tonic::Status) -> anyhow::Error {
    anyhow::Error::new(granska_client::Error::Status { call: what.to_owned(), status: s })
}
