//! The camera thread's side of clips: it keeps what the analyzer saw in the
//! ring, opens a job per violation, and hands a job to the clip writer once
//! its post-roll has been analysed (or the source ended). Nothing here
//! encodes: the camera thread never waits for a clip.

use super::ring::{FrameRing, Note, RingFrame};
use crate::clock::unix_ms;
use crate::rules::{Event, Violation};
use crate::service::sink::{violation_id, wall_ms_at};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::SystemTime;

/// How far past the post-roll the ring reaches back: the time a violation
/// takes to be decided after its landing, plus the frames the reader is
/// ahead of the analysis. Longer delays cut the pre-roll short.
pub const RING_MARGIN_S: f64 = 2.0;

/// One violation's clip: its window of frames and notes, and what to draw.
#[derive(Clone, Debug)]
pub struct ClipJob {
    /// The violation id (as stored and published).
    pub id: String,
    pub camera: String,
    pub violation: Violation,
    /// The key moment (the violation's `t_end_s`) and the window around it,
    /// media time.
    pub key_s: f64,
    pub from_s: f64,
    pub to_s: f64,
    /// Wall-clock ms of the key moment, as in the violation's `t_end`.
    pub key_wall_ms: i64,
    /// The camera's frame rate.
    pub fps: f64,
    pub frames: Vec<RingFrame>,
    pub notes: Vec<Note>,
}

impl ClipJob {
    /// Wall-clock ms of media time `t_s`.
    pub fn wall_ms(&self, t_s: f64) -> i64 {
        wall_ms_at(self.key_wall_ms, self.key_s, t_s)
    }
}

/// One camera's clip recorder, owned by its camera thread.
pub struct CameraClips {
    camera: String,
    ring: Arc<FrameRing>,
    pre_s: f64,
    post_s: f64,
    fps: f64,
    waiting: Vec<ClipJob>,
    writer: Sender<ClipJob>,
}

impl CameraClips {
    /// A recorder whose jobs go to `writer`; the ring keeps
    /// `pre_s + post_s + RING_MARGIN_S` seconds at JPEG `quality`.
    pub fn new(
        camera: &str,
        pre_s: f64,
        post_s: f64,
        quality: u8,
        writer: Sender<ClipJob>,
    ) -> CameraClips {
        CameraClips {
            camera: camera.to_string(),
            ring: Arc::new(FrameRing::new(pre_s + post_s + RING_MARGIN_S, quality)),
            pre_s,
            post_s,
            fps: 25.0,
            waiting: Vec::new(),
            writer,
        }
    }

    /// The ring, for the camera's reader thread to push every frame into.
    pub fn ring(&self) -> Arc<FrameRing> {
        self.ring.clone()
    }

    /// The source's frame rate (clips play at it).
    pub fn set_fps(&mut self, fps: f64) {
        if fps.is_finite() && fps > 0.0 {
            self.fps = fps;
        }
    }

    /// Jobs waiting for their post-roll.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// After the frame at media time `t_s` (captured at `wall`) was analysed:
    /// keeps `note`, opens a job per violation in `events`, and hands over
    /// the jobs whose window has been analysed.
    pub fn analysed(&mut self, t_s: f64, wall: SystemTime, note: Note, events: &[Event]) {
        self.ring.note(note);
        self.open(events, t_s, wall);
        self.hand_over(|job| job.to_s <= t_s);
    }

    /// Opens a job per violation in `events`, decided at media time `t_s`
    /// of a frame captured at `wall` (the same mapping the event sink uses,
    /// so ids and times match the stored violation).
    pub fn open(&mut self, events: &[Event], t_s: f64, wall: SystemTime) {
        let wall_ms = unix_ms(wall);
        for e in events {
            let Event::Violation(v) = e else { continue };
            let start_ms = wall_ms_at(wall_ms, t_s, v.t_start_s);
            self.waiting.push(ClipJob {
                id: violation_id(&self.camera, start_ms, v.parcel_id),
                camera: self.camera.clone(),
                violation: v.clone(),
                key_s: v.t_end_s,
                from_s: v.t_end_s - self.pre_s,
                to_s: v.t_end_s + self.post_s,
                key_wall_ms: wall_ms_at(wall_ms, t_s, v.t_end_s),
                fps: self.fps,
                frames: Vec::new(),
                notes: Vec::new(),
            });
        }
    }

    /// The source stopped or ended: every waiting job gets what there is.
    pub fn flush(&mut self) {
        self.hand_over(|_| true);
    }

    fn hand_over(&mut self, due: impl Fn(&ClipJob) -> bool) {
        let (ready, waiting): (Vec<ClipJob>, Vec<ClipJob>) =
            std::mem::take(&mut self.waiting).into_iter().partition(due);
        self.waiting = waiting;
        for mut job in ready {
            (job.frames, job.notes) = self.ring.window(job.from_s, job.to_s);
            if job.frames.is_empty() {
                tracing::warn!(
                    "camera {}: violation {}: no frames left for its clip (the ring holds {:.0} s)",
                    self.camera,
                    job.id,
                    self.pre_s + self.post_s + RING_MARGIN_S
                );
                continue;
            }
            if self.writer.send(job).is_err() {
                tracing::warn!("camera {}: the clip writer has stopped", self.camera);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbox::BBox;
    use crate::rules::ViolationKind;
    use crate::source::RgbImage;
    use std::time::Duration;

    pub(crate) fn kick(t_start_s: f64, t_end_s: f64) -> Violation {
        Violation {
            kind: ViolationKind::Kick,
            t_start_s,
            t_end_s,
            person_id: 1,
            parcel_id: 7,
            zone: None,
            drop_height_cm: None,
            throw_distance_cm: None,
            kick_distance_cm: Some(85.0),
            limit_drop_cm: None,
            limit_throw_cm: None,
            person_box: BBox::default(),
            parcel_box_start: BBox::default(),
            parcel_box_end: BBox::default(),
            confidence: 0.9,
        }
    }

    #[test]
    fn a_job_takes_its_pre_roll_from_the_ring_and_goes_out_once_its_post_roll_is_analysed() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut clips = CameraClips::new("cam-1", 5.0, 3.0, 75, tx);
        clips.set_fps(25.0);
        let img = RgbImage::new(32, 24);
        let wall0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for i in 0..=500u32 {
            let t = f64::from(i) * 0.04;
            clips.ring().push(t, &img);
            let wall = wall0 + Duration::from_millis(u64::from(i) * 40);
            // Decided half a second after the kick ended at 10.0 s.
            let events = if i == 263 {
                vec![Event::Violation(kick(9.6, 10.0))]
            } else {
                vec![]
            };
            clips.analysed(
                t,
                wall,
                Note {
                    t_s: t,
                    ..Note::default()
                },
                &events,
            );
            if t < 13.0 - 1e-9 {
                assert!(rx.try_recv().is_err(), "handed over early at {t}");
            }
        }
        let job = rx.try_recv().expect("one job");
        assert!(rx.try_recv().is_err());
        assert_eq!(job.id, "cam-1-1700000009600-7", "the sink's id");
        assert_eq!(job.key_wall_ms, 1_700_000_010_000);
        let (first, last) = (job.frames[0].t_s, job.frames.last().unwrap().t_s);
        assert!((first - 5.0).abs() < 1e-6 && (last - 13.0).abs() < 1e-6);
        assert_eq!(job.frames.len(), 201);
        assert_eq!(job.notes.len(), 201);
        assert_eq!(clips.waiting(), 0);
    }

    #[test]
    fn when_the_source_ends_a_waiting_job_gets_the_frames_there_are() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut clips = CameraClips::new("cam-1", 5.0, 3.0, 75, tx);
        let img = RgbImage::new(32, 24);
        for i in 0..=100u32 {
            clips.ring().push(f64::from(i) * 0.04, &img);
        }
        clips.open(&[Event::Violation(kick(3.5, 3.8))], 4.0, SystemTime::now());
        assert!(rx.try_recv().is_err());
        clips.flush();
        let job = rx.try_recv().expect("flushed");
        assert_eq!(job.frames.len(), 101, "0 to 4 s");
    }
}
