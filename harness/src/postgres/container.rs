//! The container backend: one throwaway PostgreSQL container per `Server`,
//! started with testcontainers from the official `postgres:<major>` image
//! (or the image named by `--pg container:IMAGE` / `$MIGCHECK_PG_IMAGE`),
//! and removed on drop, panic, Ctrl-C, and at the next start after a crash.
//!
//! Every container carries the label `dev.migcheck=1` and the process that
//! owns it (host name, pid and that process's start time), so a later run
//! can tell a leftover of a dead run from a container another live migcheck
//! is using, and a label of its own (`dev.migcheck.id`), registered for
//! removal before the container is asked for, so that Ctrl-C during its
//! start removes it too. `DOCKER_HOST` is honoured, by testcontainers and
//! by bollard.
//!
//! Containers are bounded: their port is published on 127.0.0.1 only (with
//! a local engine), their data lives on a tmpfs of the cluster cap's size
//! (`MIGCHECK_MAX_CLUSTER_SIZE`), and their memory is limited to that plus
//! what the server itself needs.

use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{ContainerRequest, GenericImage, ImageExt};

use super::cleanup::{self, Remote, RemoteGuard};
use super::error::PostgresError;

/// Points the container backend at another image than `postgres:<major>`;
/// `{major}` in it is replaced by the major version asked for.
pub(crate) const IMAGE_ENV: &str = "MIGCHECK_PG_IMAGE";
/// The major the official image is used at when no `--pg-version` is given.
pub(crate) const DEFAULT_MAJOR: u32 = 17;

const LABEL: &str = "dev.migcheck";
const LABEL_HOST: &str = "dev.migcheck.host";
const LABEL_PID: &str = "dev.migcheck.pid";
const LABEL_STARTED: &str = "dev.migcheck.started";
/// This container's own: what the signal handler removes, even before the
/// container's id is known.
const LABEL_ID: &str = "dev.migcheck.id";

const PORT: u16 = 5432;
/// The official image runs initdb on first start; a slow disk makes that
/// take a while.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const READY_POLL: Duration = Duration::from_millis(50);
const DOCKER_TIMEOUT: Duration = Duration::from_secs(5);
/// Settings for a throwaway server, as the local backend uses.
const SETTINGS: &[&str] = &[
    "temp_file_limit=1GB",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    // A sandbox walks a whole set in one transaction, which holds a lock
    // on every object it creates until the end: a few hundred migrations
    // outgrow the default 64 per connection ("out of shared memory").
    "max_locks_per_transaction=1024",
];

/// Memory for the server's processes, on top of its data on the tmpfs
/// (which the memory limit counts too).
const PROCESS_MEMORY: u64 = 1 << 30;
/// Docker's default /dev/shm (64 MB) is too small for parallel queries'
/// dynamic shared memory.
const SHM_SIZE: u64 = 256 << 20;

/// The image a container of `major` is started from.
pub(crate) fn image_for(explicit: Option<&str>, major: Option<u32>) -> String {
    let major = major.unwrap_or(DEFAULT_MAJOR);
    let from_env = std::env::var(IMAGE_ENV)
        .ok()
        .filter(|image| !image.is_empty());
    match explicit.map(str::to_owned).or(from_env) {
        Some(image) => image.replace("{major}", &major.to_string()),
        None => format!("postgres:{major}"),
    }
}

/// `repository[:tag]`; a `:` before the last `/` belongs to a registry's
/// host and port, not to the tag.
fn split_image(image: &str) -> (&str, &str) {
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => (
            &image[..name_start + colon],
            &image[name_start + colon + 1..],
        ),
        None => (image, "latest"),
    }
}

/// A running container and how to reach its server.
pub(crate) struct Container {
    /// `None` only while dropping.
    inner: Option<testcontainers::Container<GenericImage>>,
    pub image: String,
    pub host: String,
    pub port: u16,
    pub password: String,
    /// Deregisters the container from the signal handler once removed.
    _guard: RemoteGuard,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("image", &self.image)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Container {
    /// Starts a container of `image` and waits until its server accepts
    /// connections over TCP. Blocking; must not be called inside a tokio
    /// runtime (testcontainers runs its own).
    pub fn start(image: &str) -> Result<Container, PostgresError> {
        let runtime = runtime()?;
        let docker = runtime.block_on(reachable())?;
        runtime.block_on(remove_stale(&docker));
        if !runtime.block_on(image_present(&docker, image)) {
            // testcontainers pulls a missing image; say so before a long wait.
            eprintln!("migcheck: pulling {image} (not present on the Docker engine)");
        }

        let id = password();
        let password = password();
        let cap = cleanup::max_cluster_size()?;
        let request = request(image, &password, &id, cap, local_engine());
        // Registered first: a signal from here on removes whatever exists
        // with this label, the container being created included.
        let starting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let guard = RemoteGuard::register(Remote::new({
            let (id, starting) = (id.clone(), starting.clone());
            move || async move {
                if let Ok(docker) = reachable().await {
                    remove_labelled(&docker, &id).await;
                    // A create request already sent may still land.
                    if starting.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        remove_labelled(&docker, &id).await;
                    }
                }
            }
        }));
        // A signal handled before the registration found nothing to remove:
        // start nothing then.
        if cleanup::interrupted() {
            return Err(PostgresError::Stopping);
        }
        let started = request.start();
        starting.store(false, std::sync::atomic::Ordering::SeqCst);
        let inner = match started {
            Ok(inner) => inner,
            Err(error) => {
                // It may exist, created but not started.
                guard.remove_now();
                return Err(PostgresError::Container {
                    image: image.to_owned(),
                    action: "start",
                    message: error.to_string(),
                });
            }
        };
        let address = inner
            .get_host()
            .and_then(|host| Ok((host, inner.get_host_port_ipv4(PORT)?)));
        let mut container = Container {
            inner: Some(inner),
            image: image.to_owned(),
            host: String::new(),
            port: 0,
            password,
            _guard: guard,
        };
        let (host, port) = address.map_err(|error| container.error("find the port of", error))?;
        // Published on loopback only: "localhost" might resolve to ::1.
        container.host = match local_engine() {
            true => "127.0.0.1".to_owned(),
            false => host.to_string(),
        };
        container.port = port;
        runtime.block_on(container.wait_ready(&docker))?;
        Ok(container)
    }

    fn error(&self, action: &'static str, error: impl std::fmt::Display) -> PostgresError {
        PostgresError::Container {
            image: self.image.clone(),
            action,
            message: error.to_string(),
        }
    }

    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user("postgres")
            .password(&self.password)
            .dbname(dbname)
            .application_name("migcheck")
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// The official image starts a temporary server for its init scripts
    /// (listening on the Unix socket only), stops it, then starts the real
    /// one: the first "ready to accept connections" is not the one to wait
    /// for. A successful login over TCP only happens on the real server,
    /// so that is what readiness means here (what `pg_isready -h` checks).
    async fn wait_ready(&self, docker: &Docker) -> Result<(), PostgresError> {
        let started = Instant::now();
        let mut last_check = Instant::now();
        loop {
            if let Ok((client, task)) = super::connect_on_task(&self.config("postgres")).await {
                let answered = client.simple_query("SELECT 1").await.is_ok();
                drop(client);
                let _ = task.await;
                if answered {
                    return Ok(());
                }
            }
            if last_check.elapsed() > Duration::from_secs(1) {
                last_check = Instant::now();
                if !self.running(docker).await {
                    return Err(PostgresError::ContainerExited {
                        image: self.image.clone(),
                        log_tail: self.log_tail(),
                    });
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(PostgresError::NotReady {
                    version: self.image.clone(),
                    waited: READY_TIMEOUT,
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    async fn running(&self, docker: &Docker) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        match docker.inspect_container(inner.id(), None).await {
            Ok(inspect) => inspect
                .state
                .and_then(|state| state.running)
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    fn log_tail(&self) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        // Called inside our runtime: testcontainers' blocking calls need a
        // thread of their own.
        let logs = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut logs = inner.stdout_to_vec().unwrap_or_default();
                    logs.extend(inner.stderr_to_vec().unwrap_or_default());
                    logs
                })
                .join()
                .unwrap_or_default()
        });
        let text = String::from_utf8_lossy(&logs);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Container {
    /// Leaves the container running (`--keep-failed`): the handle that
    /// would remove it is forgotten. The next migcheck run on this host
    /// removes it as a leftover of a finished run.
    /// Returns the container's id.
    pub(crate) fn keep(mut self) -> String {
        match self.inner.take() {
            Some(inner) => {
                let id = inner.id().to_owned();
                std::mem::forget(inner);
                id
            }
            None => String::new(),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // testcontainers removes the container when its handle drops, by
        // blocking on its own runtime; that panics inside another runtime,
        // and a Server may well be dropped inside one. A thread has none.
        if let Some(inner) = self.inner.take() {
            let _ = std::thread::spawn(move || drop(inner)).join();
        }
    }
}

/// The request for a container of `image`: labelled with its owner and
/// `id`, bounded (see the module's doc; `cap`: the data's size, `None` for
/// no cap) and, with a `local` engine, published on 127.0.0.1 only.
fn request(
    image: &str,
    password: &str,
    id: &str,
    cap: Option<u64>,
    local: bool,
) -> ContainerRequest<GenericImage> {
    let owner = cleanup::Owner::current();
    let (name, tag) = split_image(image);
    let mut command = vec!["postgres".to_owned()];
    for setting in SETTINGS {
        command.push("-c".to_owned());
        command.push((*setting).to_owned());
    }
    let data = |path: &str| {
        let mount = Mount::tmpfs_mount(path);
        match cap {
            Some(cap) => mount.with_size_bytes(cap as i64),
            None => mount,
        }
    };
    GenericImage::new(name, tag)
        .with_exposed_port(PORT.tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_env_var("POSTGRES_PASSWORD", password)
        .with_cmd(command)
        .with_label(LABEL, "1")
        .with_label(LABEL_HOST, &owner.host)
        .with_label(LABEL_PID, owner.pid.to_string())
        .with_label(LABEL_STARTED, owner.started.to_string())
        .with_label(LABEL_ID, id)
        // Throwaway data in memory: CREATE DATABASE copies files, and
        // on the container's overlay or a volume that is slow. Both
        // paths: PGDATA is under /data before 18, and 18's image
        // declares its volume at the parent.
        .with_mount(data("/var/lib/postgresql"))
        .with_mount(data("/var/lib/postgresql/data"))
        .with_shm_size(SHM_SIZE)
        .with_host_config_modifier(move |host_config| limit(host_config, cap, local))
}

/// Publishes the server's port on 127.0.0.1 only when the engine runs on
/// this machine (a remote engine's loopback would be out of reach), and
/// limits memory (tmpfs pages count) to the data's cap plus the server's
/// own needs, without swap.
fn limit(host_config: &mut HostConfig, cap: Option<u64>, local: bool) {
    if local {
        host_config.publish_all_ports = Some(false);
        host_config.port_bindings = Some(std::collections::HashMap::from([(
            format!("{PORT}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                // Any free port.
                host_port: Some(String::new()),
            }]),
        )]));
    }
    if let Some(cap) = cap {
        let memory = (cap + PROCESS_MEMORY + SHM_SIZE) as i64;
        host_config.memory = Some(memory);
        host_config.memory_swap = Some(memory);
    }
}

/// Whether the Docker engine runs on this machine (its Unix socket): then
/// what it publishes on 127.0.0.1 is reachable here.
fn local_engine() -> bool {
    std::env::var("DOCKER_HOST").map_or(true, |host| host.is_empty() || host.starts_with("unix://"))
}

fn runtime() -> Result<tokio::runtime::Runtime, PostgresError> {
    crate::runtime().map_err(|error| PostgresError::Container {
        image: String::new(),
        action: "start a runtime for",
        message: error.to_string(),
    })
}

/// A client of the Docker engine (`DOCKER_HOST` or the local socket) that
/// answered a ping.
pub(crate) async fn reachable() -> Result<Docker, PostgresError> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket".to_owned());
    let unreachable = |message: String| PostgresError::DockerUnreachable {
        host: host.clone(),
        message,
    };
    let docker = Docker::connect_with_defaults().map_err(|error| unreachable(error.to_string()))?;
    match tokio::time::timeout(DOCKER_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(error)) => Err(unreachable(error.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {DOCKER_TIMEOUT:?}"))),
    }
}

pub(crate) async fn image_present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// Pulls `image` (blocking, outside any runtime).
pub(crate) fn pull(image: &str) -> Result<(), PostgresError> {
    let (name, tag) = split_image(image);
    eprintln!("migcheck: pulling {image}");
    GenericImage::new(name, tag)
        .pull_image()
        .map(drop)
        .map_err(|error| PostgresError::Container {
            image: image.to_owned(),
            action: "pull the image for",
            message: error.to_string(),
        })
}

/// Removes migcheck's containers whose owning process is gone (a run that
/// was killed, or crashed before it could clean up). Only containers of
/// this host: another machine's pids mean nothing here.
async fn remove_stale(docker: &Docker) {
    let host = format!("{LABEL_HOST}={}", cleanup::Owner::current().host);
    for container in labelled(docker, vec![format!("{LABEL}=1"), host]).await {
        let labels = container.labels.unwrap_or_default();
        let owner = |key: &str| labels.get(key).and_then(|value| value.parse::<u64>().ok());
        let (Some(pid), Some(started)) = (owner(LABEL_PID), owner(LABEL_STARTED)) else {
            continue;
        };
        if cleanup::Owner::alive(pid as u32, started) {
            continue;
        }
        if let Some(id) = container.id {
            remove(docker, &id).await;
        }
    }
}

/// Removes migcheck's containers of dead runs on this host, on a thread of
/// its own: a run on another backend never waits for a Docker engine (one
/// that is not there fails at once; a slow one is given a few seconds).
pub(crate) fn reap_in_background() {
    std::thread::spawn(|| {
        let Ok(runtime) = crate::runtime() else {
            return;
        };
        runtime.block_on(async {
            if let Ok(docker) = reachable().await {
                remove_stale(&docker).await;
            }
        });
    });
}

/// The containers, running or not, that carry every one of `labels`
/// (`key=value`); none when the engine does not answer.
async fn labelled(
    docker: &Docker,
    labels: Vec<String>,
) -> Vec<testcontainers::bollard::models::ContainerSummary> {
    let filters = std::collections::HashMap::from([("label".to_owned(), labels)]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .unwrap_or_default()
}

/// Removes the container labelled `id`, if it exists yet.
async fn remove_labelled(docker: &Docker, id: &str) {
    for container in labelled(docker, vec![format!("{LABEL_ID}={id}")]).await {
        if let Some(id) = container.id {
            remove(docker, &id).await;
        }
    }
}

/// Removes a container and its volumes, running or not.
pub(crate) async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        docker.remove_container(id, Some(options)),
    )
    .await;
}

/// A random password, so a container's published port is no open door.
/// `RandomState` is seeded by the operating system's random source.
pub(super) fn password() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|_| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u8(0);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_name_and_tag() {
        assert_eq!(split_image("postgres:15"), ("postgres", "15"));
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
        assert_eq!(
            split_image("registry:5000/team/postgres:16-alpine"),
            ("registry:5000/team/postgres", "16-alpine")
        );
        assert_eq!(
            split_image("registry:5000/postgres"),
            ("registry:5000/postgres", "latest")
        );
    }

    /// Labelled with the owner and its own id, published on loopback only
    /// with a local engine, data on a tmpfs of the cap, memory bounded.
    #[test]
    fn containers_are_labelled_bounded_and_on_loopback() {
        let cap = 64 << 20;
        let request = request("postgres:16", "pw", "abc123", Some(cap), true);
        let owner = cleanup::Owner::current();
        let labels = request.labels();
        assert_eq!(labels.get(LABEL).map(String::as_str), Some("1"));
        assert_eq!(labels.get(LABEL_ID).map(String::as_str), Some("abc123"));
        assert_eq!(labels.get(LABEL_HOST), Some(&owner.host));
        assert_eq!(labels.get(LABEL_PID), Some(&owner.pid.to_string()));
        assert_eq!(labels.get(LABEL_STARTED), Some(&owner.started.to_string()));
        let sizes: Vec<_> = request
            .mounts()
            .map(|mount| {
                let size = mount.tmpfs_options().and_then(|options| options.size_bytes);
                (mount.target().unwrap_or_default().to_owned(), size)
            })
            .collect();
        assert_eq!(
            sizes,
            [
                ("/var/lib/postgresql".to_owned(), Some(cap as i64)),
                ("/var/lib/postgresql/data".to_owned(), Some(cap as i64)),
            ]
        );
        assert_eq!(request.shm_size(), Some(SHM_SIZE));
        let command: Vec<_> = request.cmd().collect();
        assert!(
            command.iter().any(|arg| arg == "temp_file_limit=1GB"),
            "{command:?}"
        );

        let mut host_config = HostConfig::default();
        (request.host_config_modifier().expect("a modifier"))(&mut host_config);
        let bindings = host_config.port_bindings.expect("port bindings");
        let binding = &bindings["5432/tcp"].as_ref().expect("a binding")[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(host_config.publish_all_ports, Some(false));
        let memory = (cap + PROCESS_MEMORY + SHM_SIZE) as i64;
        assert_eq!(host_config.memory, Some(memory));
        assert_eq!(host_config.memory_swap, Some(memory));

        // A remote engine's loopback is out of reach: its port is published
        // as testcontainers does; `off` lifts the caps.
        let request = request_for_remote();
        let mut host_config = HostConfig::default();
        (request.host_config_modifier().expect("a modifier"))(&mut host_config);
        assert_eq!(host_config.port_bindings, None);
        assert_eq!(host_config.memory, None);
    }

    fn request_for_remote() -> ContainerRequest<GenericImage> {
        request("postgres:16", "pw", "abc123", None, false)
    }

    #[test]
    fn major_fills_the_image_template() {
        assert_eq!(
            image_for(Some("postgres:{major}-alpine"), Some(13)),
            "postgres:13-alpine"
        );
        assert_eq!(image_for(Some("mine:1"), Some(13)), "mine:1");
    }
}
