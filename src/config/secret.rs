//! Secret references and secret values.
//!
//! A profile never needs to hold a secret: it names where one lives
//! (`{env: NAME}`, `{file: PATH}`, `{k8s_secret: ns/name/key}`). A plaintext
//! value is accepted with a warning. A resolved [`Secret`] masks itself in
//! `Debug` and `Display`, so it cannot leak through a log line or a panic.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::paths::expand_tilde;

/// Where a secret comes from, as written in a site profile.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the sitedeck process.
    Env(String),
    /// A file whose content (trailing newline trimmed) is the secret.
    File(String),
    /// A key of a Kubernetes Secret: namespace, name, key.
    K8sSecret {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key inside the Secret's data.
        key: String,
    },
    /// The value itself, written in the profile (accepted with a warning).
    Plain(Secret),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "{{env: {name}}}"),
            Self::File(path) => write!(f, "{{file: {path}}}"),
            Self::K8sSecret {
                namespace,
                name,
                key,
            } => write!(f, "{{k8s_secret: {namespace}/{name}/{key}}}"),
            Self::Plain(_) => f.write_str("<plaintext secret>"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretSourceVisitor)
    }
}

struct SecretSourceVisitor;

const UNQUOTED_SECRET: &str = "this plaintext secret reads as a number or a boolean: put it in quotes, or better use {env: NAME} or {file: PATH}";

impl<'de> Visitor<'de> for SecretSourceVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a secret reference: {env: NAME}, {file: PATH} or {k8s_secret: namespace/name/key}",
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<SecretSource, E> {
        Ok(SecretSource::Plain(Secret::new(value.to_owned())))
    }

    // A value YAML reads as a number or a boolean is refused: its text is not
    // kept as written (`0x1F` would become `31`, `yes` would become `true`),
    // and it is not echoed back, since it may be the password itself.
    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<SecretSource, E> {
        Err(de::Error::custom(UNQUOTED_SECRET))
    }

    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<SecretSource, E> {
        Err(de::Error::custom(UNQUOTED_SECRET))
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<SecretSource, E> {
        Err(de::Error::custom(UNQUOTED_SECRET))
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<SecretSource, E> {
        Err(de::Error::custom(UNQUOTED_SECRET))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "empty secret reference: write {env: NAME}, {file: PATH} or {k8s_secret: namespace/name/key}",
            ));
        };
        let value: String = map.next_value()?;
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::custom(
                "a secret reference has exactly one key: env, file or k8s_secret",
            ));
        }
        match kind.as_str() {
            "env" => Ok(SecretSource::Env(value)),
            "file" => Ok(SecretSource::File(value)),
            "k8s_secret" => parse_k8s_secret(&value).map_err(de::Error::custom),
            other => Err(de::Error::custom(format!(
                "unknown secret reference `{other}`{}: expected env, file or k8s_secret",
                crate::config::profile::did_you_mean(other, &["env", "file", "k8s_secret"])
            ))),
        }
    }
}

fn parse_k8s_secret(value: &str) -> Result<SecretSource, String> {
    let parts: Vec<&str> = value.split('/').collect();
    match parts.as_slice() {
        [namespace, name, key] if parts.iter().all(|p| !p.is_empty()) => {
            Ok(SecretSource::K8sSecret {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
                key: (*key).to_owned(),
            })
        }
        _ => Err(format!(
            "k8s_secret `{value}` must be namespace/name/key, e.g. prod/mysql-auth/password"
        )),
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The environment variable is not set.
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    /// The file could not be read.
    #[error("cannot read secret file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The secret lives in the cluster and needs a Kubernetes client.
    #[error("secret {namespace}/{name}/{key} is read from the cluster")]
    NeedsCluster {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key.
        key: String,
    },
}

impl SecretSource {
    /// Reads the secret from the environment or a file. Relative file paths
    /// are taken from `base_dir` (the profile's directory).
    pub fn resolve_local(&self, base_dir: &Path) -> Result<Secret, SecretError> {
        match self {
            Self::Env(name) => std::env::var(name)
                .map(Secret::new)
                .map_err(|_| SecretError::EnvMissing(name.clone())),
            Self::File(path) => {
                let full = base_dir.join(expand_tilde(path));
                std::fs::read_to_string(&full)
                    .map(|text| Secret::new(text.trim_end_matches(['\n', '\r']).to_owned()))
                    .map_err(|e| SecretError::File {
                        path: full.display().to_string(),
                        reason: e.to_string(),
                    })
            }
            Self::K8sSecret {
                namespace,
                name,
                key,
            } => Err(SecretError::NeedsCluster {
                namespace: namespace.clone(),
                name: name.clone(),
                key: key.clone(),
            }),
            Self::Plain(secret) => Ok(secret.clone()),
        }
    }
}

/// A secret value. `Debug` and `Display` print `***`; only
/// [`Secret::expose`] gives the value, at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the client library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        let source = SecretSource::Plain(secret);
        assert!(!format!("{source:?}").contains("hunter2"));
    }

    #[test]
    fn file_secret_is_trimmed_and_relative_to_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let secret = SecretSource::File("pw".into())
            .resolve_local(dir.path())
            .unwrap();
        assert_eq!(secret.expose(), "s3cret");
    }

    #[test]
    fn k8s_secret_needs_three_parts() {
        assert!(parse_k8s_secret("ns/name/key").is_ok());
        assert!(parse_k8s_secret("ns/name").is_err());
        assert!(parse_k8s_secret("ns//key").is_err());
    }
}
