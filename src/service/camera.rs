//! One camera of a running node: its source (reopened with backoff when it
//! drops out), a bounded frame queue that drops the oldest frame and counts
//! it, the analyzer, and the event sink. Its health is shared for publishing.

use super::sink::EventSink;
use crate::clips::ring::{FrameRing, Note};
use crate::clips::CameraClips;
use crate::clock::unix_ms;
use crate::config::AnalysisConfig;
use crate::error::Result;
use crate::geometry::Calibration;
use crate::pipeline::{Analyzer, StageTimings};
use crate::pose::pool::PoolClient;
use crate::rules::Event;
use crate::source::{self, Frame};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Frames waiting for analysis; beyond this the oldest is dropped (live
/// sources never wait for us).
const QUEUE_FRAMES: usize = 8;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A source with no frame for this long is reopened.
const STALL: Duration = Duration::from_secs(10);

/// What a camera worker needs, resolved from the config.
#[derive(Clone)]
pub struct CameraSpec {
    pub id: String,
    /// The URL to open, credentials included; never logged.
    pub url: String,
    /// The URL as logs may show it.
    pub shown_url: String,
    pub calibration: Calibration,
    pub analysis: AnalysisConfig,
    pub realtime: bool,
    pub looped: bool,
}

/// A camera's health, as published on its health topic.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Health {
    pub connected: bool,
    /// "starting", "running", "reconnecting" or "ended" (a file that finished).
    pub state: &'static str,
    /// Frames analysed per second over the last few seconds.
    pub fps: f64,
    pub frames: u64,
    pub dropped_frames: u64,
    /// Unix ms of the last frame analysed.
    #[serde(skip)]
    pub last_frame_ms: Option<i64>,
    pub error: Option<String>,
    /// Where the analysis time went (for benches and logs, not published).
    #[serde(skip)]
    pub stages: StageTimings,
    /// Time the source reader spent decoding.
    #[serde(skip)]
    pub decode: Duration,
    /// Longest wait of a frame from its arrival to the end of its analysis.
    #[serde(skip)]
    pub max_lag: Duration,
}

/// Where a camera's events go: the node's [`EventSink`] (store, then MQTT),
/// or a bench's recorder.
pub trait Events: Send {
    fn handle(&mut self, events: &[Event], media_time_s: f64, wall: SystemTime);
    /// Called while no frame is waiting, to retry what failed before.
    fn retry(&mut self) {}
}

impl Events for EventSink {
    fn handle(&mut self, events: &[Event], media_time_s: f64, wall: SystemTime) {
        EventSink::handle(self, events, media_time_s, wall);
    }
    fn retry(&mut self) {
        EventSink::retry(self);
    }
}

pub type SharedHealth = Arc<Mutex<Health>>;

/// The end of a source: cleanly (end of file) or with an error.
enum End {
    Eof,
    Failed(String),
}

#[derive(Default)]
struct QueueState {
    frames: VecDeque<Frame>,
    end: Option<End>,
    dropped: u64,
}

/// A bounded frame queue that drops the oldest frame when full.
#[derive(Default)]
struct FrameQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
    /// Nanoseconds the reader spent in the source (decoding).
    decode_ns: AtomicU64,
}

impl FrameQueue {
    fn push(&self, f: Frame) {
        let mut s = self.state.lock().expect("queue lock");
        if s.frames.len() >= QUEUE_FRAMES {
            s.frames.pop_front();
            s.dropped += 1;
        }
        s.frames.push_back(f);
        self.ready.notify_all();
    }

    /// Waits for room instead of dropping (a file read as fast as we analyse).
    fn push_waiting(&self, f: Frame, stop: &AtomicBool) {
        let mut s = self.state.lock().expect("queue lock");
        while s.frames.len() >= QUEUE_FRAMES && !stop.load(Ordering::Relaxed) {
            s = self
                .ready
                .wait_timeout(s, Duration::from_millis(100))
                .expect("queue lock")
                .0;
        }
        s.frames.push_back(f);
        self.ready.notify_all();
    }

    fn end(&self, e: End) {
        self.state.lock().expect("queue lock").end = Some(e);
        self.ready.notify_all();
    }

    /// The next frame, or how the source ended; `None` on timeout.
    fn pop(&self, timeout: Duration) -> Option<std::result::Result<Frame, End>> {
        let mut s = self.state.lock().expect("queue lock");
        loop {
            if let Some(f) = s.frames.pop_front() {
                self.ready.notify_all();
                return Some(Ok(f));
            }
            if let Some(e) = s.end.take() {
                return Some(Err(e));
            }
            let (next, t) = self.ready.wait_timeout(s, timeout).expect("queue lock");
            s = next;
            if t.timed_out() && s.frames.is_empty() && s.end.is_none() {
                return None;
            }
        }
    }

    fn take_dropped(&self) -> u64 {
        std::mem::take(&mut self.state.lock().expect("queue lock").dropped)
    }
}

/// Runs a camera until `stop` is set, or until its file ends (not looped).
/// With `clips`, every frame read goes into its ring and each violation
/// gets a clip.
pub fn run(
    spec: CameraSpec,
    pose: PoolClient,
    mut sink: impl Events,
    health: SharedHealth,
    stop: Arc<AtomicBool>,
    mut clips: Option<CameraClips>,
) {
    let cam = spec.id.clone();
    let mut analyzer = Analyzer::new(&spec.analysis, pose, spec.calibration.clone());
    let mut backoff = Duration::from_secs(1);
    // Media time carries on across reopenings and loops, so the rules see one
    // timeline.
    let mut offset = 0.0f64;
    let mut last_t = 0.0f64;
    let mut period = 0.1f64;
    let mut rate = RateMeter::default();
    set(&health, |h| h.state = "starting");
    while !stop.load(Ordering::Relaxed) {
        let queue = Arc::new(FrameQueue::default());
        let reader = match open(&spec) {
            Ok(src) => {
                period = src.info().fps.map_or(period, |f| 1.0 / f);
                if let Some(c) = clips.as_mut() {
                    c.set_fps(1.0 / period);
                }
                let q = queue.clone();
                let stop = stop.clone();
                let realtime = spec.realtime;
                let live = realtime || is_stream(&spec.url);
                let ring = clips.as_ref().map(CameraClips::ring);
                let from = offset;
                std::thread::Builder::new()
                    .name(format!("read-{cam}"))
                    .spawn(move || read(src, &q, (realtime, live), from, ring, &stop))
                    .ok()
            }
            Err(e) => {
                fail(&health, &cam, &e.to_string(), backoff);
                sleep_unless(&stop, backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut seen_frame = false;
        let mut last_frame = Instant::now();
        let decoded_before = health.lock().expect("health lock").decode;
        let end = loop {
            if stop.load(Ordering::Relaxed) {
                break None;
            }
            match queue.pop(Duration::from_millis(200)) {
                None => {
                    sink.retry();
                    // A stream that stalls without closing is as good as gone.
                    if last_frame.elapsed() > STALL {
                        break Some(End::Failed(format!("no frame for {} s", STALL.as_secs())));
                    }
                    continue;
                }
                Some(Err(e)) => break Some(e),
                Some(Ok(frame)) => {
                    last_frame = Instant::now();
                    if frame.media_time_s <= last_t && seen_frame {
                        continue; // a repeated timestamp would confuse the trackers
                    }
                    if !seen_frame {
                        seen_frame = true;
                        backoff = Duration::from_secs(1);
                        set(&health, |h| {
                            h.connected = true;
                            h.state = "running";
                            h.error = None;
                        });
                    }
                    match analyzer.process(&frame) {
                        Ok(a) => {
                            sink.handle(&a.events, frame.media_time_s, frame.wall_time);
                            if let Some(c) = clips.as_mut() {
                                let t = frame.media_time_s;
                                let note = Note::new(
                                    t,
                                    analyzer.people.tracks(),
                                    analyzer.objects.tracks(),
                                );
                                c.analysed(t, frame.wall_time, note, &a.events);
                            }
                        }
                        Err(e) => tracing::warn!("camera {cam}: frame {}: {e}", frame.seq),
                    }
                    last_t = frame.media_time_s;
                    let fps = rate.tick();
                    let dropped = queue.take_dropped();
                    let lag = frame.wall_time.elapsed().unwrap_or_default();
                    let decode = Duration::from_nanos(queue.decode_ns.load(Ordering::Relaxed));
                    set(&health, |h| {
                        h.frames += 1;
                        h.dropped_frames += dropped;
                        h.fps = fps;
                        h.last_frame_ms = Some(unix_ms(frame.wall_time));
                        h.stages = analyzer.timings();
                        h.decode = decoded_before + decode;
                        h.max_lag = h.max_lag.max(lag);
                    });
                }
            }
        };
        // A reader stuck in a dead stream is left behind, not waited for; it
        // ends on its own when the read fails or at shutdown.
        if let Some(r) = reader.filter(|r| r.is_finished()) {
            let _ = r.join();
        }
        offset = last_t + period;
        // The next frame (a loop, a reconnection) is a new scene: what was
        // open is decided now, and the jump is not motion.
        close(analyzer.restart(offset), offset, &mut sink, &mut clips);
        match end {
            None => break,
            Some(End::Eof) if spec.looped => continue,
            Some(End::Eof) if !is_stream(&spec.url) => {
                set(&health, |h| {
                    h.connected = false;
                    h.state = "ended";
                });
                tracing::info!("camera {cam}: {} ended", spec.shown_url);
                break;
            }
            Some(End::Eof) => {
                fail(&health, &cam, "the stream ended", backoff);
            }
            Some(End::Failed(e)) => fail(&health, &cam, &e, backoff),
        }
        sleep_unless(&stop, backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    // Every way out of the loop passed the restart above, which decided
    // what the last stream left open.
    sink.retry();
}

/// Hands out the events decided when a stream ended at media time `t_s`;
/// clips waiting for frames get what there is, as the source is gone.
fn close(events: Vec<Event>, t_s: f64, sink: &mut impl Events, clips: &mut Option<CameraClips>) {
    let now = SystemTime::now();
    sink.handle(&events, t_s, now);
    if let Some(c) = clips.as_mut() {
        c.open(&events, t_s, now);
        c.flush();
    }
}

fn open(spec: &CameraSpec) -> Result<Box<dyn source::FrameSource>> {
    let src = source::open(&spec.id, &spec.url, 10.0)?;
    let info = src.info();
    let cal = &spec.calibration;
    if (info.width, info.height) != (cal.image_width, cal.image_height) {
        return Err(crate::error::Error::config(format!(
            "camera {}: the calibration says {}x{} but {} streams {}x{} (calibrate this camera at its streaming resolution)",
            spec.id, cal.image_width, cal.image_height, spec.shown_url, info.width, info.height
        )));
    }
    Ok(src)
}

/// Network streams and devices come back; files that end are done.
fn is_stream(url: &str) -> bool {
    url.contains("://") || url.starts_with("usb:")
}

/// Reads frames into the queue. A live stream or a `realtime` file never
/// waits for the analysis (the oldest frame is dropped); other files are read
/// as fast as they are analysed, every frame. Media times get `offset` added
/// (the camera's continuous timeline), and every frame, also one the queue
/// drops later, goes into the clip ring.
fn read(
    mut src: Box<dyn source::FrameSource>,
    q: &FrameQueue,
    (realtime, live): (bool, bool),
    offset: f64,
    ring: Option<Arc<FrameRing>>,
    stop: &AtomicBool,
) {
    let started = Instant::now();
    let mut first: Option<f64> = None;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let next = src.next_frame();
        let spent = t0.elapsed().as_nanos() as u64;
        q.decode_ns.fetch_add(spent, Ordering::Relaxed);
        match next {
            Ok(Some(mut f)) => {
                if realtime {
                    let t0 = *first.get_or_insert(f.media_time_s);
                    let due = started + Duration::from_secs_f64((f.media_time_s - t0).max(0.0));
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    f.wall_time = SystemTime::now();
                }
                f.media_time_s += offset;
                if let Some(r) = &ring {
                    r.push(f.media_time_s, &f.image);
                }
                if live {
                    q.push(f);
                } else {
                    q.push_waiting(f, stop);
                }
            }
            Ok(None) => return q.end(End::Eof),
            Err(e) => return q.end(End::Failed(e.to_string())),
        }
    }
}

fn set(health: &SharedHealth, f: impl FnOnce(&mut Health)) {
    f(&mut health.lock().expect("health lock"));
}

fn fail(health: &SharedHealth, cam: &str, e: &str, retry_in: Duration) {
    // Source errors already name the camera.
    let e = e.strip_prefix(&format!("camera {cam}: ")).unwrap_or(e);
    let mut h = health.lock().expect("health lock");
    if h.error.as_deref() != Some(e) {
        tracing::error!(
            "camera {cam}: {e}; the other cameras carry on, retrying in {} s",
            retry_in.as_secs()
        );
        eprintln!(
            "error: camera {cam}: {e}; the other cameras carry on, retrying in {} s",
            retry_in.as_secs()
        );
    }
    h.connected = false;
    h.state = "reconnecting";
    h.fps = 0.0;
    h.error = Some(e.to_string());
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Frames per second over a sliding 5 s window.
#[derive(Default)]
struct RateMeter {
    times: VecDeque<Instant>,
}

impl RateMeter {
    fn tick(&mut self) -> f64 {
        let now = Instant::now();
        self.times.push_back(now);
        while self
            .times
            .front()
            .is_some_and(|t| now - *t > Duration::from_secs(5))
        {
            self.times.pop_front();
        }
        let span = (now - self.times[0]).as_secs_f64();
        if span > 0.0 {
            (self.times.len() - 1) as f64 / span
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RgbImage;

    fn frame(seq: u64) -> Frame {
        Frame::new(Arc::from("c"), seq, seq as f64, RgbImage::new(2, 2))
    }

    #[test]
    fn a_full_queue_drops_the_oldest_frame_and_counts_it() {
        let q = FrameQueue::default();
        for i in 0..(QUEUE_FRAMES as u64 + 3) {
            q.push(frame(i));
        }
        q.end(End::Eof);
        assert_eq!(q.take_dropped(), 3);
        let mut seqs = Vec::new();
        while let Some(Ok(f)) = q.pop(Duration::from_millis(1)) {
            seqs.push(f.seq);
        }
        assert_eq!(seqs, (3..QUEUE_FRAMES as u64 + 3).collect::<Vec<_>>());
        assert!(
            q.pop(Duration::from_millis(1)).is_none(),
            "the end is told once"
        );
    }
}
