//! The all-in-one role: store, receivers, query APIs and admin endpoints in one process,
//! with a shutdown that stops intake first and syncs the WAL last.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use clew_collector::sampling::{
    SamplingGrpcServer, SamplingHttpServer, SamplingMetrics, StrategyProvider, StrategyStore,
    StrategyStoreOptions,
};
use clew_collector::{
    CollectorMetrics, JaegerGrpcReceiver, JaegerUdpReceiver, Limits, OtlpGrpcReceiver,
    OtlpHttpReceiver, Receiver, SinkError, SpanLimits, SpanSink, UdpConfig, UdpFormat,
    ZipkinReceiver, jaeger_thrift_http_router,
};
use clew_model::{TenantId, TraceBatch, UnixNanos};
use clew_query::Querier;
use clew_server::Readiness;
use clew_store::{AppendError, Store, StoreConfig};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, Durability};

/// The store as the collector's sink: an append resolves once the spans are durable.
struct StoreSink(Arc<Store>);

#[async_trait]
impl SpanSink for StoreSink {
    async fn write(&self, tenant: TenantId, batch: TraceBatch) -> Result<(), SinkError> {
        self.0.append(&tenant, batch).await.map_err(|e| match e {
            AppendError::Overloaded { retry_after } => SinkError::Overloaded { retry_after },
            AppendError::ShuttingDown => SinkError::Unavailable {
                reason: "clew is shutting down".into(),
                retry_after: Duration::from_secs(1),
            },
            // A failing disk may recover (space freed): ask the sender to retry.
            other => SinkError::Unavailable {
                reason: other.to_string(),
                retry_after: Duration::from_secs(5),
            },
        })
    }
}

pub fn all_in_one(config: Config, ready_file: Option<PathBuf>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("log.level {:?}", config.log.level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(config, ready_file))
}

async fn bind(
    what: &str,
    addr: SocketAddr,
    bound: &mut BTreeMap<String, String>,
) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {what} on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "{what} listening");
    bound.insert(what.to_owned(), local.to_string());
    Ok(listener)
}

async fn bind_udp(
    what: &str,
    addr: SocketAddr,
    bound: &mut BTreeMap<String, String>,
) -> anyhow::Result<UdpSocket> {
    let socket = UdpSocket::bind(addr)
        .await
        .with_context(|| format!("binding {what} on udp {addr}"))?;
    let local = socket.local_addr()?;
    tracing::info!(%local, "{what} listening (udp)");
    bound.insert(what.to_owned(), local.to_string());
    Ok(socket)
}

async fn serve(config: Config, ready_file: Option<PathBuf>) -> anyhow::Result<()> {
    let mut registry = prometheus_client::registry::Registry::default();
    let store_config = StoreConfig {
        data_dir: config.data_dir.clone(),
        durability: match config.storage.durability {
            Durability::Fsync => clew_store::Durability::Fsync,
            Durability::Relaxed => clew_store::Durability::Relaxed,
        },
        wal_segment_max_bytes: config.storage.wal_segment_max_bytes,
        max_pending_bytes: config.storage.max_pending_bytes,
        block_storage: config.storage.block_storage(),
        head_hard_limit_spans: config.storage.head_hard_limit_spans,
        cache: config.storage.cache.clone(),
        block_options: clew_store::block::BlockOptions {
            attribute_index: config.storage.attribute_index,
            ..Default::default()
        },
    };
    let store = Arc::new(
        Store::open(store_config, &mut registry)
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
    );
    let collector_metrics = CollectorMetrics::register(&mut registry);
    let sampling_metrics = SamplingMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    let strategies: Arc<dyn StrategyProvider> = Arc::new(
        StrategyStore::load(&StrategyStoreOptions {
            strategies_file: (!config.sampling.strategies_file.as_os_str().is_empty())
                .then(|| config.sampling.strategies_file.clone()),
            default_sampling_probability: config.sampling.default_sampling_probability,
        })
        .context("loading sampling strategies")?,
    );

    let mut bound = BTreeMap::new();
    let otlp = &config.receivers.otlp;
    let grpc_listener = bind("otlp_grpc", otlp.grpc_listen, &mut bound).await?;
    let http_listener = bind("otlp_http", otlp.http_listen, &mut bound).await?;
    let jaeger = &config.receivers.jaeger;
    let jaeger_grpc_listener = bind("jaeger_grpc", jaeger.grpc_listen, &mut bound).await?;
    let jaeger_http_listener = bind("jaeger_http", jaeger.http_listen, &mut bound).await?;
    let udp_compact = bind_udp("jaeger_udp_compact", jaeger.udp_compact_listen, &mut bound).await?;
    let udp_binary = bind_udp("jaeger_udp_binary", jaeger.udp_binary_listen, &mut bound).await?;
    let zipkin_listener = bind("zipkin", config.receivers.zipkin.listen, &mut bound).await?;
    let sampling_http_listener =
        bind("sampling_http", config.sampling.http_listen, &mut bound).await?;
    let sampling_grpc_listener =
        bind("sampling_grpc", config.sampling.grpc_listen, &mut bound).await?;
    let query_listener = bind("query", config.query.listen, &mut bound).await?;
    let admin_listener = bind("admin", config.admin.listen, &mut bound).await?;

    let readiness = Readiness::default();
    let intake_stop = CancellationToken::new();
    let serving_stop = CancellationToken::new();

    let admin = tokio::spawn(
        axum::serve(
            admin_listener,
            clew_server::admin_router(Arc::clone(&registry), readiness.clone())
                .merge(clew_server::flush_router(Arc::clone(&store))),
        )
        .with_graceful_shutdown(serving_stop.clone().cancelled_owned())
        .into_future(),
    );
    let query = tokio::spawn(
        axum::serve(
            query_listener,
            // The web UI answers every path the APIs do not.
            clew_server::query_router(
                Querier::new(Arc::clone(&store))
                    .with_search_max_bytes(config.query.search_max_bytes),
            )
            .fallback(clew_ui::serve),
        )
        .with_graceful_shutdown(serving_stop.clone().cancelled_owned())
        .into_future(),
    );

    let sink: Arc<dyn SpanSink> = Arc::new(StoreSink(Arc::clone(&store)));
    let l = &config.receivers.limits;
    let limits = Limits {
        max_request_bytes: l.max_request_bytes,
        max_spans_per_request: l.max_spans_per_request,
        span: SpanLimits {
            max_attributes: l.max_attributes,
            max_attribute_value_bytes: l.max_attribute_value_bytes,
            max_events: l.max_events,
            max_links: l.max_links,
            max_name_bytes: l.max_name_bytes,
        },
    };
    let udp_config = UdpConfig {
        queue_packets: jaeger.udp_queue_packets,
        workers: jaeger.udp_workers,
        socket_buffer_bytes: jaeger.udp_socket_buffer_bytes,
        tenant: TenantId::new(&jaeger.udp_tenant).context("receivers.jaeger.udp_tenant")?,
        ..UdpConfig::default()
    };
    let m = &collector_metrics;
    let receivers: Vec<Box<dyn Receiver>> = vec![
        Box::new(OtlpGrpcReceiver::new(
            grpc_listener,
            Arc::clone(&sink),
            limits,
            m.clone(),
        )),
        Box::new(OtlpHttpReceiver::new(
            http_listener,
            Arc::clone(&sink),
            limits,
            m.clone(),
        )),
        Box::new(JaegerGrpcReceiver::new(
            jaeger_grpc_listener,
            Arc::clone(&sink),
            limits,
            m.clone(),
        )),
        // Jaeger's collector port serves Thrift ingest and remote sampling side by side.
        Box::new(
            SamplingHttpServer::new(
                jaeger_http_listener,
                Arc::clone(&strategies),
                sampling_metrics.clone(),
            )
            .merge(jaeger_thrift_http_router(
                Arc::clone(&sink),
                limits,
                m.clone(),
            )),
        ),
        Box::new(JaegerUdpReceiver::new(
            udp_compact,
            UdpFormat::Compact,
            Arc::clone(&sink),
            limits,
            m.clone(),
            udp_config.clone(),
        )),
        Box::new(JaegerUdpReceiver::new(
            udp_binary,
            UdpFormat::Binary,
            Arc::clone(&sink),
            limits,
            m.clone(),
            udp_config,
        )),
        Box::new(ZipkinReceiver::new(
            zipkin_listener,
            Arc::clone(&sink),
            limits,
            m.clone(),
        )),
        Box::new(SamplingHttpServer::new(
            sampling_http_listener,
            Arc::clone(&strategies),
            sampling_metrics.clone(),
        )),
        Box::new(SamplingGrpcServer::new(
            sampling_grpc_listener,
            strategies,
            sampling_metrics,
        )),
    ];
    let mut receiver_tasks = Vec::new();
    for r in receivers {
        let name = r.name();
        let stop = intake_stop.clone();
        receiver_tasks.push((name, tokio::spawn(r.run(stop))));
    }

    // Cuts heads into blocks when they reach their size or age limit, merges the blocks of
    // a time window, and deletes blocks past their tenant's time to live.
    let flusher = {
        let store = Arc::clone(&store);
        let stop = intake_stop.clone();
        let max_spans = config.storage.head_max_spans;
        let max_age = Duration::from_secs(config.storage.head_max_age_seconds);
        let storage = Arc::new(config.storage);
        tokio::spawn(async move {
            let mut flush_tick = tokio::time::interval(Duration::from_secs(1));
            let mut retention_tick = tokio::time::interval(Duration::from_secs(
                storage.maintenance_interval_seconds.max(1),
            ));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = flush_tick.tick() => { store.flush_due(max_spans, max_age).await; }
                    _ = retention_tick.tick() => {
                        let window = Duration::from_secs(storage.compaction_window_seconds);
                        if let Err(e) = store.compact(window, storage.compaction_max_block_spans).await {
                            tracing::error!(error = %e, "compaction failed");
                        }
                        let ttl = |t: &TenantId| storage.retention(t.as_str());
                        if let Err(e) = store.apply_retention(UnixNanos::now(), ttl).await {
                            tracing::error!(error = %e, "retention failed");
                        }
                    }
                }
            }
        })
    };

    if let Some(path) = ready_file {
        let json = serde_json::to_string_pretty(&bound)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    readiness.set_ready(true);
    tracing::info!(data_dir = %config.data_dir.display(), "clew is ready");

    wait_for_signal().await?;
    tracing::info!("shutting down: stopping intake");
    readiness.set_ready(false);
    intake_stop.cancel();
    for (name, task) in receiver_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(receiver = name, error = %e, "receiver stopped with an error")
            }
            Err(e) => tracing::warn!(receiver = name, error = %e, "receiver task failed"),
        }
    }
    if let Err(e) = flusher.await {
        tracing::warn!(error = %e, "flusher task failed");
    }
    tracing::info!("draining the WAL");
    store.shutdown().await.context("syncing the store")?;
    serving_stop.cancel();
    for task in [query, admin] {
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "server stopped with an error");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
