//! What every client subcommand shares: the server address, the bearer token, TLS, and a
//! tokio runtime.

use std::path::PathBuf;

use anyhow::{Context, bail};
use granska_server::auth::TokensFile;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

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

/// Adds `authorization: Bearer …` to every request.
#[derive(Clone)]
pub struct Bearer(pub tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel with the bearer token attached.
pub type Authed = InterceptedService<Channel, Bearer>;

impl Connection {
    /// The token: --token / GRANSKA_TOKEN, else the `role`'s entry in --tokens-file.
    pub fn token(&self, role: &str) -> anyhow::Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        if self.tokens_file.is_file() {
            let text = std::fs::read_to_string(&self.tokens_file)
                .with_context(|| format!("cannot read {}", self.tokens_file.display()))?;
            let mut file: TokensFile =
                toml::from_str(&text).with_context(|| format!("cannot parse {}", self.tokens_file.display()))?;
            let exact = file.tokens.iter().position(|t| t.role == role);
            // A read is a radiologist's own act and is audited under their name: never make
            // one with the operator's admin token.
            let admin = (role != "radiologist").then(|| file.tokens.iter().position(|t| t.role == "admin")).flatten();
            if let Some(i) = exact.or(admin) {
                return Ok(file.tokens.swap_remove(i).token);
            }
        }
        if role == "radiologist" {
            bail!(
                "no radiologist token: pass your own with --token or GRANSKA_TOKEN (an admin issues one with \
                 `granska token --principal NAME --role radiologist`){}",
                if self.tokens_file.is_file() {
                    format!("; the admin token in {} is never used for reading", self.tokens_file.display())
                } else {
                    String::new()
                }
            );
        }
        bail!(
            "no bearer token: pass --token or set GRANSKA_TOKEN (on first start the server writes an admin and a pacs token to {})",
            self.tokens_file.display()
        )
    }

    /// Connects, with the token for `role`.
    pub async fn connect(&self, role: &str) -> anyhow::Result<Authed> {
        let token = self.token(role)?;
        let mut endpoint =
            Endpoint::from_shared(self.server.clone()).with_context(|| format!("bad --server {}", self.server))?;
        if self.server.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca_cert {
                let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        let channel = endpoint.connect().await.with_context(|| format!("cannot connect to {}", self.server))?;
        let value = format!("Bearer {token}").parse().context("the token must be printable ASCII")?;
        Ok(InterceptedService::new(channel, Bearer(value)))
    }
}

/// A current-thread runtime for one client command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `status: message` for a gRPC error, as a one-line anyhow error.
pub fn status_error(what: &str, s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{what}: {:?}: {}", s.code(), s.message())
}
