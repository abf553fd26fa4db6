//! Configuration: one TOML file over the commented defaults, then `CLEW_…` environment
//! variables, then `--set key=value` flags. The defaults file is both the documentation
//! (`clew config default` prints it) and the base every load starts from, so the two
//! cannot drift; unknown keys are errors, so a typo never passes silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use toml::Value;

pub const DEFAULT_CONFIG: &str = include_str!("default-config.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub receivers: ReceiversConfig,
    pub sampling: SamplingConfig,
    pub query: QueryConfig,
    pub admin: ListenConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    pub listen: SocketAddr,
    /// Block bytes one search may read before it answers with what it has (marked partial);
    /// 0: no bound.
    pub search_max_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    pub http_listen: SocketAddr,
    pub grpc_listen: SocketAddr,
    /// Empty means no file.
    pub strategies_file: PathBuf,
    pub default_sampling_probability: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerConfig {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub udp_compact_listen: SocketAddr,
    pub udp_binary_listen: SocketAddr,
    pub udp_queue_packets: usize,
    pub udp_workers: usize,
    pub udp_socket_buffer_bytes: usize,
    pub udp_tenant: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Fsync,
    Relaxed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub durability: Durability,
    pub wal_segment_max_bytes: u64,
    pub max_pending_bytes: u64,
    pub head_max_spans: usize,
    pub head_max_age_seconds: u64,
    pub head_hard_limit_spans: usize,
    pub compaction_window_seconds: u64,
    pub compaction_max_block_spans: u64,
    /// Whether blocks get an attribute index.
    pub attribute_index: bool,
    pub maintenance_interval_seconds: u64,
    pub retention_hours: u64,
    /// Tenant → hours, overriding `retention_hours`.
    pub tenant_retention_hours: std::collections::BTreeMap<String, u64>,
    pub backend: StorageBackend,
    /// `[storage.s3]`, the store's own options type.
    pub s3: clew_store::S3Options,
    /// `[storage.cache]`, the store's own options type.
    pub cache: clew_store::block::CacheOptions,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

impl StorageConfig {
    /// The block storage backend as the store takes it.
    pub fn block_storage(&self) -> clew_store::BlockStorage {
        match self.backend {
            StorageBackend::Local => clew_store::BlockStorage::Local,
            StorageBackend::S3 => clew_store::BlockStorage::S3(self.s3.clone()),
        }
    }
}

impl StorageConfig {
    /// The time to live of a tenant's blocks; `None` keeps them forever.
    pub fn retention(&self, tenant: &str) -> Option<std::time::Duration> {
        let hours = self
            .tenant_retention_hours
            .get(tenant)
            .copied()
            .unwrap_or(self.retention_hours);
        (hours > 0).then(|| std::time::Duration::from_secs(hours.saturating_mul(3600)))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiversConfig {
    pub limits: LimitsConfig,
    pub otlp: OtlpConfig,
    pub jaeger: JaegerConfig,
    pub zipkin: ListenConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_request_bytes: usize,
    pub max_spans_per_request: usize,
    pub max_attributes: usize,
    pub max_attribute_value_bytes: usize,
    pub max_events: usize,
    pub max_links: usize,
    pub max_name_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    pub listen: SocketAddr,
}

/// Loads the configuration: defaults, then `file`, then `env`, then `sets`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    sets: &[String],
) -> anyhow::Result<Config> {
    let mut merged: Value = toml::from_str(DEFAULT_CONFIG).context("parsing built-in defaults")?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let overlay: Value = toml::from_str(&text)
            .with_context(|| format!("parsing config file {}", path.display()))?;
        merge(&mut merged, overlay);
    }
    let keys = leaf_keys(&merged);
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("CLEW_") else {
            continue;
        };
        let Some(key) = keys.iter().find(|k| env_name(k) == rest) else {
            // CLEW_ variables that are not config keys (e.g. for tests) are left alone.
            continue;
        };
        set_key(&mut merged, key, &value)
            .with_context(|| format!("environment variable {name}"))?;
    }
    for set in sets {
        let Some((key, value)) = set.split_once('=') else {
            bail!("--set expects key=value, got {set:?}");
        };
        let key = key.trim();
        if !keys.iter().any(|k| k == key) {
            bail!("--set {key}: no such configuration key (see `clew config default`)");
        }
        set_key(&mut merged, key, value).with_context(|| format!("--set {key}"))?;
    }
    let config: Config = merged.try_into().context("invalid configuration")?;
    Ok(config)
}

fn env_name(key: &str) -> String {
    key.to_ascii_uppercase().replace(['.', '-'], "_")
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Table(b), Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn leaf_keys(v: &Value) -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        if let Value::Table(t) = v {
            for (k, child) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&path, child, out);
            }
        } else {
            out.push(prefix.to_owned());
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

/// Sets a leaf, parsing the text as the type the key already has.
fn set_key(root: &mut Value, key: &str, text: &str) -> anyhow::Result<()> {
    let mut cur = root;
    for part in key.split('.') {
        cur = cur
            .get_mut(part)
            .with_context(|| format!("no such configuration key {key}"))?;
    }
    *cur = match cur {
        Value::Integer(_) => Value::Integer(
            text.trim()
                .parse()
                .with_context(|| format!("{key} expects an integer, got {text:?}"))?,
        ),
        Value::Boolean(_) => Value::Boolean(
            text.trim()
                .parse()
                .with_context(|| format!("{key} expects true or false, got {text:?}"))?,
        ),
        Value::Float(_) => Value::Float(
            text.trim()
                .parse()
                .with_context(|| format!("{key} expects a number, got {text:?}"))?,
        ),
        _ => Value::String(text.to_owned()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_cover_every_field() {
        let c = load(None, Vec::new(), &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./clew-data"));
        assert_eq!(c.storage.durability, Durability::Fsync);
        assert_eq!(c.receivers.otlp.grpc_listen.port(), 4317);
        assert_eq!(c.query.listen.port(), 16686);
        assert_eq!(c.query.search_max_bytes, 0);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clew.toml");
        std::fs::write(
            &path,
            "data_dir = \"/from-file\"\n[storage]\ndurability = \"relaxed\"\n",
        )
        .unwrap();
        let env = vec![
            ("CLEW_DATA_DIR".to_owned(), "/from-env".to_owned()),
            (
                "CLEW_RECEIVERS_LIMITS_MAX_SPANS_PER_REQUEST".to_owned(),
                "7".to_owned(),
            ),
            ("CLEW_UNRELATED".to_owned(), "x".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let sets = vec!["query.listen=127.0.0.1:0".to_owned()];
        let c = load(Some(&path), env, &sets).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from-env"));
        assert_eq!(c.storage.durability, Durability::Relaxed);
        assert_eq!(c.receivers.limits.max_spans_per_request, 7);
        assert_eq!(c.query.listen.port(), 0);
    }

    #[test]
    fn retention_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clew.toml");
        std::fs::write(
            &path,
            "[storage]\nretention_hours = 24\n[storage.tenant_retention_hours]\nteam-a = 2\nteam-b = 0\n",
        )
        .unwrap();
        let c = load(Some(&path), Vec::new(), &[]).unwrap();
        let hours = |t: &str| c.storage.retention(t).map(|d| d.as_secs() / 3600);
        assert_eq!(hours("team-a"), Some(2));
        assert_eq!(hours("team-b"), None, "0 keeps forever");
        assert_eq!(hours("single-tenant"), Some(24));
        let defaults = load(None, Vec::new(), &[]).unwrap();
        assert_eq!(
            defaults.storage.retention("x").map(|d| d.as_secs()),
            Some(336 * 3600)
        );
    }

    #[test]
    fn mistakes_are_reported() {
        let bad_type = vec![(
            "CLEW_STORAGE_MAX_PENDING_BYTES".to_owned(),
            "lots".to_owned(),
        )];
        assert!(load(None, bad_type, &[]).is_err());
        assert!(load(None, Vec::new(), &["nope.key=1".to_owned()]).is_err());
        assert!(
            load(
                None,
                Vec::new(),
                &["storage.durability=sometimes".to_owned()]
            )
            .is_err()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clew.toml");
        std::fs::write(&path, "[storage]\ndurabilty = \"relaxed\"\n").unwrap();
        let err = load(Some(&path), Vec::new(), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("durabilty"), "{err:#}");
    }
}
