//! Jaeger agent UDP receiver: `Agent.emitBatch` one-way Thrift messages, compact protocol on
//! port 6831 or binary on 6832, one batch per packet of up to 65,000 bytes.
//!
//! UDP cannot push back, so loss is made unlikely and always visible instead:
//! - the socket's receive buffer is enlarged (the kernel may grant less: logged at start);
//! - one task only reads packets into a bounded queue, so the socket is drained at once;
//! - worker tasks decode and write to the sink concurrently; when the sink is overloaded or
//!   unavailable a worker retries for a bounded time before dropping the batch;
//! - every packet and span is counted by outcome (`clew_udp_packets_total`,
//!   `clew_udp_spans_total`): received, decoded, accepted, rejected, queue full, malformed,
//!   dropped. Each packet is also one request in the receiver metrics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clew_model::{TenantId, TraceBatch};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::proto::Unreadable;
use super::thrift::{ThriftProtocol, decode_emit_batch};
use crate::pipeline::{Pipeline, Refusal};
use crate::{
    CollectorMetrics, Limits, Protocol, Receiver, ReceiverError, SinkError, SpanSink, UdpOutcome,
};

/// Larger than any UDP payload (65,507 bytes), so no packet is ever cut short.
const READ_BUFFER: usize = 65_536;
/// Bounds on the wait between retries of a refused batch, whatever the sink's hint says.
const MIN_RETRY_WAIT: Duration = Duration::from_millis(20);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_millis(1);

/// Which Thrift protocol a UDP port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpFormat {
    /// Compact Thrift, Jaeger's default agent port 6831.
    Compact,
    /// Binary Thrift, Jaeger's agent port 6832.
    Binary,
}

impl UdpFormat {
    /// The port Jaeger clients send this format to by default.
    pub const fn default_port(self) -> u16 {
        match self {
            UdpFormat::Compact => 6831,
            UdpFormat::Binary => 6832,
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            UdpFormat::Compact => Protocol::JaegerUdpCompact,
            UdpFormat::Binary => Protocol::JaegerUdpBinary,
        }
    }

    fn thrift(self) -> ThriftProtocol {
        match self {
            UdpFormat::Compact => ThriftProtocol::Compact,
            UdpFormat::Binary => ThriftProtocol::Binary,
        }
    }
}

/// Tuning of one UDP receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct UdpConfig {
    /// Packets waiting for a worker; past this, packets are dropped and counted as
    /// `queue_full`. Default 4096 (at most 256 MiB of 65,000-byte packets; clients' packets
    /// are usually far smaller).
    pub queue_packets: usize,
    /// Tasks decoding packets and writing them to the sink concurrently. Writes wait for
    /// durability, so several in flight keep up with a burst. Default 8.
    pub workers: usize,
    /// `SO_RCVBUF` to request. The kernel grants at most `net.core.rmem_max` (Linux reports
    /// twice the usable size); the granted size is logged at start. Default 8 MiB.
    pub socket_buffer_bytes: usize,
    /// How long a worker retries a batch the sink refused as overloaded or unavailable
    /// before dropping it (counted as `dropped`). Zero never retries. Default 5 s.
    pub retry_for: Duration,
    /// The tenant spans are written for: UDP has no headers. Default `single-tenant`.
    pub tenant: TenantId,
}

impl UdpConfig {
    pub const DEFAULT_QUEUE_PACKETS: usize = 4096;
    pub const DEFAULT_WORKERS: usize = 8;
    pub const DEFAULT_SOCKET_BUFFER_BYTES: usize = 8 * 1024 * 1024;
    pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(5);
}

impl Default for UdpConfig {
    fn default() -> Self {
        Self {
            queue_packets: Self::DEFAULT_QUEUE_PACKETS,
            workers: Self::DEFAULT_WORKERS,
            socket_buffer_bytes: Self::DEFAULT_SOCKET_BUFFER_BYTES,
            retry_for: Self::DEFAULT_RETRY_FOR,
            tenant: TenantId::default(),
        }
    }
}

/// Receives Jaeger agent `emitBatch` packets on a UDP socket the binary bound.
pub struct JaegerUdpReceiver {
    socket: UdpSocket,
    format: UdpFormat,
    sink: Arc<dyn SpanSink>,
    limits: Limits,
    metrics: CollectorMetrics,
    config: UdpConfig,
    granted_buffer: Option<usize>,
}

impl JaegerUdpReceiver {
    /// Enlarges the socket's receive buffer to `config.socket_buffer_bytes` (best effort).
    pub fn new(
        socket: UdpSocket,
        format: UdpFormat,
        sink: Arc<dyn SpanSink>,
        limits: Limits,
        metrics: CollectorMetrics,
        config: UdpConfig,
    ) -> Self {
        let sock = socket2::SockRef::from(&socket);
        if let Err(e) = sock.set_recv_buffer_size(config.socket_buffer_bytes) {
            tracing::warn!(error = %e, requested = config.socket_buffer_bytes, "could not size the UDP receive buffer");
        }
        let granted_buffer = sock.recv_buffer_size().ok();
        Self {
            socket,
            format,
            sink,
            limits,
            metrics,
            config,
            granted_buffer,
        }
    }

    /// The receive buffer the kernel granted, as it reports it.
    pub fn receive_buffer_bytes(&self) -> Option<usize> {
        self.granted_buffer
    }
}

#[async_trait]
impl Receiver for JaegerUdpReceiver {
    fn name(&self) -> &'static str {
        match self.format {
            UdpFormat::Compact => "jaeger-udp-compact",
            UdpFormat::Binary => "jaeger-udp-binary",
        }
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        let protocol = self.format.protocol();
        tracing::info!(
            addr = ?self.socket.local_addr().ok(),
            protocol = protocol.as_str(),
            requested_buffer = self.config.socket_buffer_bytes,
            granted_buffer = ?self.granted_buffer,
            queue_packets = self.config.queue_packets,
            workers = self.config.workers,
            "Jaeger agent UDP receiver listening (raise net.core.rmem_max if the granted buffer is short)"
        );
        // Retrying stops at shutdown, so draining the queue cannot hold the process up long.
        let sink: Arc<dyn SpanSink> = Arc::new(RetryingSink {
            inner: self.sink,
            retry_for: self.config.retry_for,
            shutdown: shutdown.clone(),
        });
        let worker = Arc::new(Worker {
            format: self.format,
            pipeline: Pipeline::new(sink, self.limits, self.metrics.clone()),
            tenant: self.config.tenant.clone(),
        });
        let (tx, rx) = mpsc::channel::<Vec<u8>>(self.config.queue_packets.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = JoinSet::new();
        for _ in 0..self.config.workers.max(1) {
            let (worker, rx) = (Arc::clone(&worker), Arc::clone(&rx));
            workers.spawn(async move {
                loop {
                    // The lock is held only while waiting: one worker waits, the others work.
                    let packet = rx.lock().await.recv().await;
                    match packet {
                        Some(packet) => worker.handle(&packet).await,
                        None => break,
                    }
                }
            });
        }

        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                r = self.socket.recv(&mut buf) => r,
            };
            match received {
                Ok(n) => {
                    self.metrics
                        .add_udp_packets(protocol, UdpOutcome::Received, 1);
                    let Some(packet) = buf.get(..n) else { continue };
                    if tx.try_send(packet.to_vec()).is_err() {
                        self.metrics
                            .add_udp_packets(protocol, UdpOutcome::QueueFull, 1);
                        tracing::debug!(
                            protocol = protocol.as_str(),
                            "UDP queue full: packet dropped"
                        );
                    }
                }
                // Such errors concern one datagram (or an ICMP report); the socket goes on.
                // The pause keeps a persistent error from spinning a core.
                Err(e) => {
                    tracing::debug!(protocol = protocol.as_str(), error = %e, "UDP receive failed");
                    tokio::time::sleep(RECEIVE_ERROR_PAUSE).await;
                }
            }
        }
        // Stop reading, then let the workers finish what is queued.
        drop(tx);
        while workers.join_next().await.is_some() {}
        Ok(())
    }
}

struct Worker {
    format: UdpFormat,
    pipeline: Pipeline,
    tenant: TenantId,
}

impl Worker {
    async fn handle(&self, packet: &[u8]) {
        let protocol = self.format.protocol();
        let metrics = self.pipeline.metrics();
        let batch = match decode_emit_batch(self.format.thrift(), packet) {
            Ok(batch) => batch,
            Err(e) => {
                metrics.add_udp_packets(protocol, UdpOutcome::Malformed, 1);
                self.pipeline.refuse(
                    protocol,
                    Some(&self.tenant),
                    Refusal::Malformed(e.to_string()),
                );
                return;
            }
        };
        metrics.add_udp_packets(protocol, UdpOutcome::Decoded, 1);
        let spans = batch.spans.len() as u64;
        metrics.add_udp_spans(protocol, UdpOutcome::Received, spans);
        match super::ingest(
            &self.pipeline,
            protocol,
            self.tenant.clone(),
            batch,
            Unreadable::default(),
        )
        .await
        {
            Ok(accepted) => {
                metrics.add_udp_spans(protocol, UdpOutcome::Accepted, accepted.accepted);
                metrics.add_udp_spans(protocol, UdpOutcome::Rejected, accepted.rejected);
            }
            Err(refusal) => {
                metrics.add_udp_packets(protocol, UdpOutcome::Dropped, 1);
                metrics.add_udp_spans(protocol, UdpOutcome::Dropped, spans);
                tracing::debug!(protocol = protocol.as_str(), error = %refusal, spans, "UDP batch dropped");
            }
        }
    }
}

/// Retries writes the sink refused as overloaded or unavailable until `retry_for` has passed
/// (or shutdown began), waiting as the sink suggests within bounds. The sink consumes each
/// batch it is given, so every attempt that may be retried writes a copy.
struct RetryingSink {
    inner: Arc<dyn SpanSink>,
    retry_for: Duration,
    shutdown: CancellationToken,
}

#[async_trait]
impl SpanSink for RetryingSink {
    async fn write(&self, tenant: TenantId, batch: TraceBatch) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.retry_for;
        let mut batch = batch;
        loop {
            let now = Instant::now();
            let may_retry = now < deadline && !self.shutdown.is_cancelled();
            let (attempt, spare) = if may_retry {
                (batch.clone(), Some(batch))
            } else {
                (batch, None)
            };
            let hint = match self.inner.write(tenant.clone(), attempt).await {
                Ok(()) => return Ok(()),
                Err(e) => match (&e, spare) {
                    (
                        SinkError::Overloaded { retry_after }
                        | SinkError::Unavailable { retry_after, .. },
                        Some(spare),
                    ) => {
                        batch = spare;
                        *retry_after
                    }
                    _ => return Err(e),
                },
            };
            let wait = hint
                .clamp(MIN_RETRY_WAIT, MAX_RETRY_WAIT)
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
    }
}
