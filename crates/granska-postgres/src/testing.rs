//! A real PostgreSQL for tests and benchmarks: `initdb` and `pg_ctl` from Debian's
//! `postgresql` package (installed by `scripts/setup.sh --test`), started in a temporary
//! directory on a free loopback port, and stopped (`immediate`) when dropped.
//!
//! PostgreSQL refuses to run as root; under root (CI containers) the server runs as `nobody`
//! through `setpriv`, in a directory handed to that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A throw-away PostgreSQL server (trust authentication, loopback only).
#[derive(Debug)]
pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    durable: bool,
    as_nobody: bool,
}

/// The superuser the server is initialised with.
pub const USER: &str = "granska";

fn failure(what: impl Into<String>) -> std::io::Error {
    std::io::Error::other(what.into())
}

/// The directory holding `initdb` and `pg_ctl`: `GRANSKA_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> std::io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GRANSKA_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        failure(
            "PostgreSQL's initdb/pg_ctl not found under /usr/lib/postgresql: run `bash scripts/setup.sh --test` \
             (installs Debian's postgresql) or set GRANSKA_PG_BIN",
        )
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl TempPostgres {
    /// Starts a server tuned for tests: `fsync` off (a test never survives a power cut).
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(false)
    }

    /// Starts a server with PostgreSQL's durable defaults (`fsync` on), for benchmarks.
    pub fn start_durable() -> std::io::Result<Self> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> std::io::Result<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("granska-pg-").tempdir()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_nobody = unsafe { geteuid() } == 0;
        if as_nobody {
            // nobody:nogroup (65534) on Debian.
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))?;
        }
        let server = TempPostgres { dir, bin, port: free_port()?, durable, as_nobody };
        let data = server.data_dir();
        server.run(
            "initdb",
            &["-D", path_str(&data)?, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
        )?;
        server.start_server()?;
        server.watch_owner()?;
        Ok(server)
    }

    /// One server for the whole test binary, started on first use. A server held in a static
    /// is never dropped, so a watcher process stops it and removes its directory once the
    /// test process has exited (also when it panicked or was killed).
    pub fn shared() -> &'static TempPostgres {
        static SHARED: std::sync::OnceLock<TempPostgres> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| TempPostgres::start().expect("start the tests' PostgreSQL"))
    }

    /// A new empty database with a name unique in this server; returns its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.create_database(&format!("t{}_{n}", std::process::id())).expect("create a test database")
    }

    fn watch_owner(&self) -> std::io::Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_nobody {
            format!("setpriv --reuid=65534 --regid=65534 --clear-groups -- {}", pg_ctl.display())
        } else {
            pg_ctl.display().to_string()
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} -D {data} -m immediate -w stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            data = path_str(&self.data_dir())?,
            dir = path_str(self.dir.path())?,
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::io::Result<()> {
        let program = self.bin.join(tool);
        let mut command = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| failure(format!("cannot run {}: {e}", program.display())))?;
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            return Err(failure(format!(
                "{tool} {} failed ({}): {}{}\nserver log:\n{log}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            )));
        }
        Ok(())
    }

    fn start_server(&self) -> std::io::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=300 -c fsync={} \
             -c full_page_writes={} -c shared_buffers=128MB",
            self.port,
            path_str(self.dir.path())?,
            if self.durable { "on" } else { "off" },
            if self.durable { "on" } else { "off" },
        );
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        self.run("pg_ctl", &["-D", path_str(&data)?, "-l", path_str(&log)?, "-o", &options, "-w", "-t", "60", "start"])
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> std::io::Result<String> {
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| failure(format!("connecting to the test server: {e}")))?;
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|e| failure(format!("creating database {name}: {e}")))?;
        Ok(self.url(name))
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): open connections break.
    pub fn stop(&self) -> std::io::Result<()> {
        self.run("pg_ctl", &["-D", path_str(&self.data_dir())?, "-m", "immediate", "-w", "stop"])
    }

    /// Starts the server again after [`TempPostgres::stop`], on the same port.
    pub fn start_again(&self) -> std::io::Result<()> {
        self.start_server()
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The temporary directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
        // The directory belongs to nobody under root; removal as root still works.
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn path_str(path: &Path) -> std::io::Result<&str> {
    path.to_str().ok_or_else(|| failure(format!("{} is not UTF-8", path.display())))
}

unsafe extern "C" {
    fn geteuid() -> u32;
}
