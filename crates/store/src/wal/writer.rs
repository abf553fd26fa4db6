//! The per-tenant WAL writer thread (group commit) and the pending-bytes budget that bounds
//! what waits for it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use clew_model::{SpanRecord, TenantId};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::oneshot;

use super::record::MAGIC;
use crate::Durability;
use crate::head::{Head, SharedHeads, write_heads};
use crate::metrics::{TenantMetrics, gauge_value};

/// Bytes accepted but not yet committed, shared by every tenant of a store.
#[derive(Debug)]
pub(crate) struct Pending {
    bytes: AtomicU64,
    max: u64,
    gauge: Gauge,
}

impl Pending {
    pub(crate) fn new(max: u64, gauge: Gauge) -> Arc<Self> {
        Arc::new(Self {
            bytes: AtomicU64::new(0),
            max,
            gauge,
        })
    }

    /// Takes `n` bytes of the budget, or none if that would exceed it.
    pub(crate) fn try_reserve(self: &Arc<Self>, n: u64) -> Option<Reservation> {
        let mut current = self.bytes.load(Ordering::Relaxed);
        loop {
            let next = current.checked_add(n).filter(|next| *next <= self.max)?;
            match self.bytes.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.gauge.inc_by(gauge_value(n));
                    return Some(Reservation {
                        pending: Arc::clone(self),
                        bytes: n,
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }
}

/// A share of the pending budget, given back when dropped: whichever way a request ends
/// (committed, failed, or dropped with a closed channel), its bytes are released.
#[derive(Debug)]
pub(crate) struct Reservation {
    pending: Arc<Pending>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pending.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.pending.gauge.dec_by(gauge_value(self.bytes));
    }
}

/// What the writer thread is asked to do, in order.
pub(crate) enum Request {
    Append(AppendRequest),
    /// Close the current segment and freeze the active head generation.
    Cut {
        done: oneshot::Sender<Arc<Head>>,
    },
    /// Commit what came before, sync, close and exit.
    Shutdown {
        done: oneshot::Sender<io::Result<()>>,
    },
}

pub(crate) struct AppendRequest {
    /// One complete record, header included.
    pub record: Vec<u8>,
    pub spans: Vec<SpanRecord>,
    pub reservation: Reservation,
    pub done: oneshot::Sender<io::Result<()>>,
}

/// How a tenant's writer thread starts.
pub(crate) struct WalWriter {
    pub tenant: TenantId,
    pub dir: PathBuf,
    pub durability: Durability,
    pub segment_max_bytes: u64,
    /// Above every segment already on disk.
    pub next_seq: u64,
    pub heads: SharedHeads,
    pub metrics: TenantMetrics,
}

struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
}

struct Running {
    config: WalWriter,
    /// None until the first commit, and after a cut or a failed write: the next commit
    /// opens a new segment.
    current: Option<Segment>,
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.wal"))
}

/// Makes a directory's entries (created or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for syncing elsewhere; entries are durable with files.
        let _ = dir;
        Ok(())
    }
}

impl WalWriter {
    /// Starts the thread. It exits after a `Shutdown` request, or once every sender is gone
    /// and the queue is drained.
    pub(crate) fn spawn(self) -> io::Result<(mpsc::Sender<Request>, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel();
        let name = format!("clew-wal-{}", self.tenant);
        let running = Running {
            config: self,
            current: None,
        };
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || running.run(&rx))?;
        Ok((tx, handle))
    }
}

impl Running {
    fn run(mut self, rx: &mpsc::Receiver<Request>) {
        let mut group: Vec<AppendRequest> = Vec::new();
        while let Ok(first) = rx.recv() {
            // Everything queued while the last commit ran joins this one.
            let mut next = Some(first);
            while let Some(request) = next.take().or_else(|| rx.try_recv().ok()) {
                match request {
                    Request::Append(append) => group.push(append),
                    Request::Cut { done } => {
                        self.commit(&mut group);
                        let _ = done.send(self.cut());
                    }
                    Request::Shutdown { done } => {
                        self.commit(&mut group);
                        let _ = done.send(self.close());
                        // Requests still queued are dropped with the receiver: their
                        // callers see the closed channel and answer ShuttingDown.
                        return;
                    }
                }
            }
            self.commit(&mut group);
        }
        if let Err(error) = self.close() {
            tracing::error!(tenant = %self.config.tenant, %error, "closing wal segment failed");
        }
    }

    fn commit(&mut self, group: &mut Vec<AppendRequest>) {
        if group.is_empty() {
            return;
        }
        match self.write_group(group) {
            Ok(()) => {
                {
                    let mut heads = write_heads(&self.config.heads);
                    for request in group.iter_mut() {
                        for rec in std::mem::take(&mut request.spans) {
                            heads.insert(rec);
                        }
                    }
                    self.config
                        .metrics
                        .head_spans
                        .set(gauge_value(heads.span_count()));
                }
                for request in group.drain(..) {
                    // Budget first, so that the acknowledged caller's next batch finds room.
                    drop(request.reservation);
                    let _ = request.done.send(Ok(()));
                }
            }
            Err(error) => {
                tracing::error!(
                    tenant = %self.config.tenant,
                    %error,
                    records = group.len(),
                    "wal commit failed; failing its appends and closing the segment"
                );
                // The segment may now end in bytes of unknown state: never append after
                // them. Replay cuts them; the next commit opens a new segment.
                self.current = None;
                for request in group.drain(..) {
                    drop(request.reservation);
                    let _ = request
                        .done
                        .send(Err(io::Error::new(error.kind(), error.to_string())));
                }
            }
        }
    }

    /// Writes the group into one segment and syncs it.
    fn write_group(&mut self, group: &[AppendRequest]) -> io::Result<()> {
        let durability = self.config.durability;
        let metrics = self.config.metrics.clone();
        let segment = self.segment()?;
        let context = |e: io::Error, what: &str| {
            io::Error::new(
                e.kind(),
                format!("{what} wal segment {}: {e}", segment.path.display()),
            )
        };
        let mut out = BufWriter::with_capacity(1 << 20, &segment.file);
        let mut bytes = 0u64;
        for request in group {
            out.write_all(&request.record)
                .map_err(|e| context(e, "writing"))?;
            bytes += request.record.len() as u64;
        }
        out.flush().map_err(|e| context(e, "writing"))?;
        drop(out);
        segment.len += bytes;
        if durability == Durability::Fsync {
            let started = Instant::now();
            segment
                .file
                .sync_data()
                .map_err(|e| context(e, "syncing"))?;
            metrics
                .wal_fsync_duration
                .observe(started.elapsed().as_secs_f64());
        }
        metrics.wal_bytes_written.inc_by(bytes);
        metrics.wal_records_written.inc_by(group.len() as u64);
        Ok(())
    }

    /// The segment to write to, opening the next one when there is none or it is full.
    fn segment(&mut self) -> io::Result<&mut Segment> {
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.len >= self.config.segment_max_bytes)
        {
            // Synced with its last commit (or never, under Relaxed); just close it.
            self.current = None;
        }
        if self.current.is_none() {
            let seq = self.config.next_seq;
            // Moved on even if opening fails, so that a leftover file never blocks a sequence.
            self.config.next_seq = seq.saturating_add(1);
            let path = segment_path(&self.config.dir, seq);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("creating wal segment {}: {e}", path.display()),
                    )
                })?;
            file.write_all(MAGIC).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("writing magic of wal segment {}: {e}", path.display()),
                )
            })?;
            self.config.metrics.wal_segments.inc();
            // Owned by the active generation from birth, so a cut or release always covers it.
            write_heads(&self.config.heads).add_segment(seq);
            if self.config.durability == Durability::Fsync {
                // The commit's fdatasync covers the file's bytes, not its directory entry.
                sync_dir(&self.config.dir).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("syncing wal directory {}: {e}", self.config.dir.display()),
                    )
                })?;
            }
            self.current = Some(Segment {
                path,
                file,
                len: MAGIC.len() as u64,
            });
        }
        self.current
            .as_mut()
            .ok_or_else(|| io::Error::other("no current wal segment"))
    }

    fn cut(&mut self) -> Arc<Head> {
        // Closing the segment is the point of the cut: later commits go to higher sequences,
        // which belong to the next generation.
        self.current = None;
        write_heads(&self.config.heads).freeze()
    }

    /// Syncs and closes the current segment (even under Relaxed: a clean stop is durable).
    fn close(&mut self) -> io::Result<()> {
        match self.current.take() {
            Some(segment) => segment.file.sync_all().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("syncing wal segment {}: {e}", segment.path.display()),
                )
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_released_on_drop() {
        let gauge = Gauge::default();
        let pending = Pending::new(100, gauge.clone());
        let a = pending.try_reserve(60).unwrap();
        assert!(pending.try_reserve(41).is_none());
        let b = pending.try_reserve(40).unwrap();
        assert_eq!((pending.bytes(), gauge.get()), (100, 100));
        drop(a);
        assert!(pending.try_reserve(61).is_none());
        let c = pending.try_reserve(60).unwrap();
        drop((b, c));
        assert_eq!((pending.bytes(), gauge.get()), (0, 0));
        assert!(pending.try_reserve(u64::MAX).is_none());
    }
}
