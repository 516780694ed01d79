//! The sitedeck lab: a local test site built from real servers on loopback:
//! MariaDB and Redis (each a primary and a replica), PostgreSQL, an S3
//! endpoint (moto), a Kafka-compatible broker (nisshi) with SASL, and a
//! Kubernetes API simulator.
//!
//! Each server runs on a free 127.0.0.1 port in a directory of its own and
//! is stopped when its handle is dropped (and killed if the process that
//! started it dies), so nothing a test starts outlives it. `sitedeck-lab up`
//! starts a whole site and writes a `site.yaml` for sitedeck.

pub mod chrony;
pub mod kafka;
pub mod kafka_replay;
pub mod kafka_traffic;
pub mod kube;
pub mod mariadb;
pub mod netns;
pub mod nodes;
pub mod plain_proxy;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod s3;
pub mod site;
pub mod sshd;

pub use kafka::KafkaBroker;
pub use mariadb::MariaDb;
pub use postgres::Postgres;
pub use redis::Redis;
pub use s3::S3Server;
pub use site::Lab;

use std::net::TcpListener;

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Serves `listener` as a hung server does: every connection is accepted
/// and held, and nothing is ever said (until the process ends).
pub fn hold_silently(listener: TcpListener) {
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
}

/// A random-enough secret for lab passwords (not for production use).
pub fn lab_secret(tag: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(tag.as_bytes());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{tag}-{:016x}", hasher.finish())
}
