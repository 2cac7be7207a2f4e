//! Connecting: the endpoint (plain or TLS with an optional private CA), the bearer token for a
//! role, and the service stubs over one authenticated channel.

use std::path::PathBuf;
use std::time::Duration;

use granska_proto::v1 as pb;
use granska_types::Role;
use granska_types::auth::TokensFile;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::Error;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Server URL, `http://` or `https://`.
    pub server: String,
    /// A bearer token; when `None`, the role's token from `tokens_file`.
    pub token: Option<String>,
    /// The server's generated tokens file (`<data_dir>/tokens.toml`).
    pub tokens_file: PathBuf,
    /// PEM CA certificate to trust for an `https://` server.
    pub ca_cert: Option<PathBuf>,
}

/// Adds `authorization: Bearer …` to every request.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel with the bearer token attached.
pub type Authed = InterceptedService<Channel, Bearer>;

impl ClientOptions {
    /// The token: the one given, else the `role`'s entry in the tokens file. A radiologist's
    /// read is their own act, audited under their name: the admin token never stands in for
    /// it. Any other role falls back to the admin token of the file.
    pub fn token(&self, role: Role) -> Result<String, Error> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        if self.tokens_file.is_file() {
            let bad = |message: String| Error::TokensFile { path: self.tokens_file.clone(), message };
            let text = std::fs::read_to_string(&self.tokens_file).map_err(|e| bad(e.to_string()))?;
            let mut file: TokensFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
            let exact = file.tokens.iter().position(|t| t.role == role.as_str());
            let admin = (role != Role::Radiologist)
                .then(|| file.tokens.iter().position(|t| t.role == Role::Admin.as_str()))
                .flatten();
            if let Some(i) = exact.or(admin) {
                return Ok(file.tokens.swap_remove(i).token);
            }
        }
        if role == Role::Radiologist {
            return Err(Error::NoToken(format!(
                "no radiologist token: pass your own with --token or GRANSKA_TOKEN (an admin issues one with \
                 `granska token --principal NAME --role radiologist`){}",
                if self.tokens_file.is_file() {
                    format!("; the admin token in {} is never used for reading", self.tokens_file.display())
                } else {
                    String::new()
                }
            )));
        }
        Err(Error::NoToken(format!(
            "no bearer token: pass --token or set GRANSKA_TOKEN (on first start the server writes an admin and a \
             pacs token to {})",
            self.tokens_file.display()
        )))
    }
}

/// A connection to one server as one principal; cheap to clone (one HTTP/2 channel).
#[derive(Clone)]
pub struct Client {
    channel: Authed,
}

impl Client {
    /// Connects with the token for `role` (see [`ClientOptions::token`]).
    pub async fn connect(options: &ClientOptions, role: Role) -> Result<Client, Error> {
        let token = options.token(role)?;
        Client::connect_with_token(&options.server, &token, options.ca_cert.as_deref()).await
    }

    /// Connects to `server` with `token`, trusting `ca_cert` (PEM) for `https://`.
    pub async fn connect_with_token(
        server: &str,
        token: &str,
        ca_cert: Option<&std::path::Path>,
    ) -> Result<Client, Error> {
        let mut endpoint = Endpoint::from_shared(server.to_owned())
            .map_err(|source| Error::BadUrl { server: server.to_owned(), source })?
            .connect_timeout(Duration::from_secs(10));
        if server.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = ca_cert {
                let pem = std::fs::read(ca).map_err(|source| Error::Read { path: ca.to_owned(), source })?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint =
                endpoint.tls_config(tls).map_err(|source| Error::BadUrl { server: server.to_owned(), source })?;
        }
        let channel =
            endpoint.connect().await.map_err(|source| Error::Connect { server: server.to_owned(), source })?;
        let value = format!("Bearer {token}").parse().map_err(|_| Error::BadToken)?;
        Ok(Client { channel: InterceptedService::new(channel, Bearer(value)) })
    }

    /// A client that connects on first use and reconnects after the server went away (a soak
    /// restarting it), with `timeout` per call; plain `http://` only.
    pub fn connect_lazy(server: &str, token: &str, timeout: Duration) -> Result<Client, Error> {
        let endpoint = Endpoint::from_shared(server.to_owned())
            .map_err(|source| Error::BadUrl { server: server.to_owned(), source })?
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout);
        let value = format!("Bearer {token}").parse().map_err(|_| Error::BadToken)?;
        Ok(Client { channel: InterceptedService::new(endpoint.connect_lazy(), Bearer(value)) })
    }

    /// The Ingest service (chunks up to 4 MiB in both directions).
    pub fn ingest(&self) -> pb::ingest_client::IngestClient<Authed> {
        pb::ingest_client::IngestClient::new(self.channel.clone()).max_decoding_message_size(4 << 20)
    }

    /// The Worklist service.
    pub fn worklist(&self) -> pb::worklist_client::WorklistClient<Authed> {
        pb::worklist_client::WorklistClient::new(self.channel.clone())
    }

    /// The Models service.
    pub fn models(&self) -> pb::models_client::ModelsClient<Authed> {
        pb::models_client::ModelsClient::new(self.channel.clone())
    }

    /// CompleteStudy, retried on UNAVAILABLE (completing twice is harmless).
    pub async fn complete_study(&self, study_uid: &str) -> Result<pb::CompleteStudyResponse, Error> {
        let request = pb::CompleteStudyRequest { study_instance_uid: study_uid.to_owned() };
        retry(&format!("CompleteStudy {study_uid}"), || {
            let (mut c, r) = (self.ingest(), request.clone());
            async move { c.complete_study(r).await }
        })
        .await
    }

    /// GetStudy, retried on UNAVAILABLE.
    pub async fn get_study(&self, study_uid: &str) -> Result<pb::Study, Error> {
        let request = pb::GetStudyRequest { study_instance_uid: study_uid.to_owned() };
        retry(&format!("GetStudy {study_uid}"), || {
            let (mut c, r) = (self.ingest(), request.clone());
            async move { c.get_study(r).await }
        })
        .await
    }

    /// SubmitRead, retried on UNAVAILABLE: the request id makes a repeat a no-op
    /// (`duplicate: true`), so a read is never recorded twice.
    pub async fn submit_read(&self, request: pb::SubmitReadRequest) -> Result<pb::SubmitReadResponse, Error> {
        let call = format!("SubmitRead task {}", request.task_id);
        retry(&call, || {
            let (mut c, r) = (self.worklist(), request.clone());
            async move { c.submit_read(r).await }
        })
        .await
    }
}

/// Calls `f` until it succeeds, fails with anything but UNAVAILABLE, or three tries are spent
/// (0.2 s, 0.4 s apart). Only for calls that are safe to repeat.
async fn retry<T, F, Fut>(call: &str, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let (mut delay, mut attempt) = (Duration::from_millis(200), 1);
    loop {
        match f().await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::Unavailable && attempt < 3 => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(status) => return Err(Error::Status { call: call.to_owned(), status }),
        }
    }
}
