//! The node's clip writer: one thread that turns clip jobs into files
//! (heads blurred, overlay burned in, H.264 MP4 plus a JPEG snapshot, each
//! written under a temporary name and renamed when complete), records them
//! with their clip-ready message, tells the web, and runs retention.

use super::recorder::{CameraClips, ClipJob};
use super::render::{self, Overlay};
use super::ring::{compress, decompress, Note};
use super::{relative_paths, retention, web_paths, Mp4Writer};
use crate::clock::{unix_ms, SiteClock};
use crate::config::service::ClipsConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::mqtt::{Publisher, Topics, SCHEMA};
use crate::service::sink::rfc3339;
use crate::source::RgbImage;
use crate::store::{ClipRow, OutMsg, Store};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// JPEG quality of frames in the ring (memory) and of snapshots (kept).
const RING_QUALITY: u8 = 75;
const SNAPSHOT_QUALITY: u8 = 90;
/// Retention runs this often besides after each clip.
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// A note further than this from a frame is not used to draw on it.
const NOTE_REACH_S: f64 = 0.5;

/// A finished clip, as published on `<prefix>/<site>/clips/<camera>`
/// (docs/mqtt.md) and handed to the [`ClipHook`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClipReady {
    pub schema: u32,
    /// The violation id.
    pub id: String,
    pub camera: String,
    /// Web paths: `/clips/<camera>/<id>.mp4` and `.jpg`.
    pub video: String,
    pub snapshot: String,
    pub duration_s: f64,
    /// Video and snapshot together.
    pub bytes: u64,
    /// Wall time of the clip's first and last frame, RFC 3339.
    pub t_start: String,
    pub t_end: String,
}

/// Called on the clip writer's thread after a clip is committed (the web
/// server's live view). Keep it quick: it must not block.
pub type ClipHook = Arc<dyn Fn(&ClipReady) + Send + Sync>;

/// What the writer needs besides its jobs.
pub struct WriterSetup {
    pub clips: ClipsConfig,
    pub data_dir: PathBuf,
    pub clock: SiteClock,
    pub store: Store,
    pub topics: Topics,
    /// Woken after a clip-ready message is committed (none in benches).
    pub publisher: Option<Publisher>,
    pub hook: Option<ClipHook>,
}

/// Nice value of the clip writer thread (and the encoder threads it starts).
/// Clips are for QA, who can wait seconds; the cameras' analysis and the
/// alerts cannot, so on a busy node encoding yields the cores to them.
const CLIP_WRITER_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`CLIP_WRITER_NICE`]
/// (on Linux a nice value is per thread). Failure only means clips compete
/// at normal priority, so it is logged, not fatal.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread, no pointers.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, CLIP_WRITER_NICE)
    };
    if rc != 0 {
        tracing::warn!(
            "clip writer: cannot lower its priority ({}); clips are encoded at normal priority",
            std::io::Error::last_os_error()
        );
    }
}

/// Handle to the clip writer thread.
pub struct ClipWriter {
    tx: mpsc::Sender<ClipJob>,
    thread: JoinHandle<()>,
    pre_s: f64,
    post_s: f64,
}

impl ClipWriter {
    /// Starts the writer thread; it runs retention at once.
    pub fn start(setup: WriterSetup) -> Result<ClipWriter> {
        let (tx, rx) = mpsc::channel();
        let (pre_s, post_s) = (setup.clips.pre_roll_s, setup.clips.post_roll_s);
        let mut worker = Worker {
            setup,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name("clip-writer".into())
            .spawn(move || {
                lower_priority();
                worker.run(rx)
            })
            .map_err(|e| Error::internal(format!("cannot start the clip writer thread: {e}")))?;
        Ok(ClipWriter {
            tx,
            thread,
            pre_s,
            post_s,
        })
    }

    /// A recorder for one camera, feeding this writer.
    pub fn camera(&self, camera: &str) -> CameraClips {
        CameraClips::new(
            camera,
            self.pre_s,
            self.post_s,
            RING_QUALITY,
            self.tx.clone(),
        )
    }

    /// Writes the clips already handed over, then stops. Call after the
    /// cameras (and their recorders) are gone.
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

struct Worker {
    setup: WriterSetup,
    /// The last clip failed (said once, not per clip).
    failing: bool,
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<ClipJob>) {
        self.prune();
        loop {
            match rx.recv_timeout(PRUNE_EVERY) {
                Ok(job) => {
                    self.write(&job);
                    self.prune();
                }
                Err(RecvTimeoutError::Timeout) => self.prune(),
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn write(&mut self, job: &ClipJob) {
        let s = &self.setup;
        let written = match encode(job, &s.data_dir, &s.clock, s.clips.blur_heads) {
            Ok(clip) => self.record(job, clip),
            Err(e) => Err(e),
        };
        match written {
            Ok(ready) => {
                if std::mem::take(&mut self.failing) {
                    tracing::warn!("camera {}: clips are written again", job.camera);
                }
                tracing::info!("camera {}: clip {}", job.camera, ready.video);
                if let Some(hook) = &self.setup.hook {
                    hook(&ready);
                }
            }
            Err(e) if !std::mem::replace(&mut self.failing, true) => {
                let msg = format!(
                    "camera {}: violation {}: {e}; the violation is stored without its clip, the camera carries on (free disk space or lower clips.max_disk_mb)",
                    job.camera, job.id
                );
                tracing::error!("{msg}");
                eprintln!("error: {msg}");
            }
            Err(e) => tracing::debug!("camera {}: clip {}: {e}", job.camera, job.id),
        }
    }

    /// Commits the clip row with its clip-ready message. The violation is
    /// committed first by the event sink; should its write be retrying, the
    /// clip waits a little for it.
    fn record(&mut self, job: &ClipJob, clip: ClipRow) -> Result<ClipReady> {
        let first = job.frames.first().map_or(job.from_s, |f| f.t_s);
        let last = job.frames.last().map_or(job.to_s, |f| f.t_s);
        let (video, snapshot) = web_paths(&job.camera, &job.id);
        let ready = ClipReady {
            schema: SCHEMA,
            id: job.id.clone(),
            camera: job.camera.clone(),
            video,
            snapshot,
            duration_s: clip.duration_s,
            bytes: clip.bytes,
            t_start: rfc3339(job.wall_ms(first)),
            t_end: rfc3339(job.wall_ms(last)),
        };
        let msg = OutMsg {
            topic: self.setup.topics.clip(&job.camera),
            payload: serde_json::to_vec(&ready).unwrap_or_default(),
            qos: 1,
            retain: false,
        };
        let mut tries = 0;
        loop {
            match self
                .setup
                .store
                .record_clip(&clip, std::slice::from_ref(&msg))
            {
                Err(e) if e.kind() == ErrorKind::NotFound && tries < 5 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_secs(2));
                }
                r => {
                    r?;
                    break;
                }
            }
        }
        if let Some(p) = &self.setup.publisher {
            p.outbox_changed();
        }
        Ok(ready)
    }

    fn prune(&mut self) {
        let s = &mut self.setup;
        let now = unix_ms(SystemTime::now());
        match retention::prune(&mut s.store, &s.data_dir, &s.clips, now) {
            Ok(n) if n.expired > 0 => tracing::info!(
                "clips: {} expired, {} MB left",
                n.expired,
                n.kept_bytes / 1_000_000
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("clips: retention: {e}"),
        }
    }
}

/// Writes a job's MP4 and snapshot under their final names and returns
/// their row (`ready_ms` now). Nothing is left behind on failure.
pub fn encode(job: &ClipJob, data_dir: &Path, clock: &SiteClock, blur: bool) -> Result<ClipRow> {
    let (rel_video, rel_snapshot) = relative_paths(&job.camera, &job.id);
    let video = data_dir.join(&rel_video);
    let snapshot = data_dir.join(&rel_snapshot);
    let video_part = part(&video);
    let snapshot_part = part(&snapshot);
    let written = write_files(job, &video_part, &snapshot_part, clock, blur).and_then(|d| {
        rename(&snapshot_part, &snapshot)?;
        rename(&video_part, &video)?;
        Ok(d)
    });
    let duration_s = match written {
        Ok(d) => d,
        Err(e) => {
            for p in [&video_part, &snapshot_part] {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Ok(ClipRow {
        violation_id: job.id.clone(),
        video: rel_video,
        snapshot: rel_snapshot,
        bytes: size(&video) + size(&snapshot),
        duration_s,
        ready_ms: unix_ms(SystemTime::now()),
        expired_ms: None,
    })
}

fn part(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(".part");
    PathBuf::from(s)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(to, "cannot move the finished clip file into place", e))
}

/// Renders every frame into the MP4 and the frame nearest the key moment
/// into the snapshot. Returns the clip's duration, s.
fn write_files(
    job: &ClipJob,
    video: &Path,
    snapshot: &Path,
    clock: &SiteClock,
    blur: bool,
) -> Result<f64> {
    let first = job
        .frames
        .first()
        .ok_or_else(|| Error::internal(format!("clip {} has no frames", job.id)))?;
    let key = nearest(job.frames.iter().map(|f| f.t_s), job.key_s).unwrap_or(0);
    let mut mp4 =
        Mp4Writer::create_with_threads(video, first.width, first.height, job.fps, Some(1))?;
    let caption = render::caption(&job.violation);
    for (i, f) in job.frames.iter().enumerate() {
        let mut img = decompress(&f.jpeg).map_err(|e| {
            Error::internal(format!(
                "clip {}: frame at {:.3} s does not decode: {e}",
                job.id, f.t_s
            ))
        })?;
        let stamp = format!("{}  {}", clock.local_time(job.wall_ms(f.t_s)), job.camera);
        render_frame(&mut img, job, f.t_s, blur, &caption, &stamp);
        mp4.write(&img, f.t_s - first.t_s)?;
        if i == key {
            let jpeg = compress(&img, SNAPSHOT_QUALITY)
                .map_err(|e| Error::internal(format!("snapshot {}: {e}", snapshot.display())))?;
            crate::fs::create_parent_dir(snapshot)?;
            std::fs::write(snapshot, jpeg)
                .map_err(|e| Error::io(snapshot, "cannot write the clip snapshot", e))?;
        }
    }
    mp4.finish()?;
    let last = job.frames.last().map_or(first.t_s, |f| f.t_s);
    Ok(last - first.t_s + 1.0 / job.fps.max(0.1))
}

/// Blurs the heads and draws the violation onto one frame at `t_s`.
fn render_frame(
    img: &mut RgbImage,
    job: &ClipJob,
    t_s: f64,
    blur: bool,
    caption: &str,
    stamp: &str,
) {
    let note = nearest(job.notes.iter().map(|n| n.t_s), t_s)
        .map(|i| &job.notes[i])
        .filter(|n| (n.t_s - t_s).abs() <= NOTE_REACH_S);
    if blur {
        if let Some(n) = note {
            render::blur_heads(img, n.people.iter().map(|(_, p)| p));
        }
    }
    let person = note.and_then(|n| {
        n.people
            .iter()
            .find(|(id, _)| *id == job.violation.person_id)
            .map(|(_, p)| p)
    });
    let trajectory = trajectory(&job.notes, job.violation.parcel_id, t_s);
    render::draw(
        img,
        &Overlay {
            person,
            trajectory: &trajectory,
            caption,
            stamp,
        },
    );
}

/// The parcel's positions in the notes up to `t_s`.
fn trajectory(notes: &[Note], parcel: u64, t_s: f64) -> Vec<(f32, f32)> {
    notes
        .iter()
        .take_while(|n| n.t_s <= t_s + 1e-6)
        .filter_map(|n| n.objects.iter().find(|o| o.0 == parcel))
        .map(|o| (o.1, o.2))
        .collect()
}

/// Index of the time nearest `t`.
fn nearest(times: impl Iterator<Item = f64>, t: f64) -> Option<usize> {
    times
        .enumerate()
        .min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs()))
        .map(|(i, _)| i)
}
