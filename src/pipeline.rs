//! The per-camera analyzer: motion on every frame, pose where motion or known
//! people are and when the schedule says (`pose::schedule`), then the
//! trackers. One owner of the pose session per analyzer.

use crate::bbox::BBox;
use crate::config::AnalysisConfig;
use crate::error::Result;
use crate::geometry::Calibration;
use crate::motion::{Blob, MotionDetector};
use crate::pose::plan::{plan, PlanConfig};
use crate::pose::schedule::{predicted_person, Decision, Schedule};
use crate::pose::{Person, PoseEstimator, PoseTimings};
use crate::rules::{Event, Rules};
use crate::source::Frame;
use crate::track::{Appearance, ObjectTracker, PersonTrack, PersonTracker};
use std::time::{Duration, Instant};

/// Wall time per stage, summed over frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimings {
    pub motion: Duration,
    pub plan: Duration,
    pub pose: PoseTimings,
    pub tracking: Duration,
    pub frames: u64,
    pub pose_frames: u64,
    /// Frames where the schedule skipped pose and people were predicted.
    pub skipped_frames: u64,
}

/// What the analyzer made of one frame.
#[derive(Clone, Debug, Default)]
pub struct FrameAnalysis {
    pub blobs: Vec<Blob>,
    /// The blobs with people's bodies cut out: the parcel tracker's input.
    pub off_body: Vec<Blob>,
    /// Where pose ran (empty when motion gated it off or the schedule skipped it).
    pub regions: Vec<BBox>,
    /// Why pose ran or not.
    pub decision: Decision,
    /// Handling and violations decided at this frame.
    pub events: Vec<Event>,
}

pub struct Analyzer<P: PoseEstimator> {
    motion: MotionDetector,
    pose: P,
    plan_cfg: PlanConfig,
    /// `[pose] max_input_px`: the plan costs regions at the scale the model gets them.
    max_input_px: f32,
    pub people: PersonTracker,
    pub objects: ObjectTracker,
    rules: Rules,
    schedule: Schedule,
    timings: StageTimings,
    /// Media time of the last full-frame pose pass.
    last_full_s: Option<f64>,
}

impl<P: PoseEstimator> Analyzer<P> {
    pub fn new(cfg: &AnalysisConfig, pose: P, calibration: Calibration) -> Self {
        Analyzer {
            motion: MotionDetector::new(cfg.motion.clone()),
            pose,
            plan_cfg: cfg.regions.clone(),
            max_input_px: cfg.pose.max_input_px,
            people: PersonTracker::new(cfg.tracking.people.clone()),
            objects: ObjectTracker::new(cfg.tracking.objects.clone()),
            rules: Rules::new(cfg.rules.clone(), calibration),
            schedule: Schedule::new(cfg.schedule.clone()),
            timings: StageTimings::default(),
            last_full_s: None,
        }
    }

    pub fn process(&mut self, frame: &Frame) -> Result<FrameAnalysis> {
        let t = frame.media_time_s;
        let t0 = Instant::now();
        let blobs = self.motion.update(&frame.image, t);
        let t1 = Instant::now();
        let interval = f64::from(self.plan_cfg.discovery_interval_s);
        let discovery_due = interval > 0.0
            && self
                .last_full_s
                .is_none_or(|last| t - last >= interval - 1e-6);
        // The schedule looks at this frame's motion against where people are
        // predicted now: off-body motion at hands or feet wants pose at once.
        let mut predicted: Vec<Person> = Vec::new();
        let mut off_predicted: Vec<crate::motion::Blob> = Vec::new();
        let decision = if self.schedule.adaptive() {
            predicted.extend(
                self.people
                    .tracks()
                    .iter()
                    .filter(|p| p.id != 0 && p.visible)
                    .map(|p| predicted_person(p, t)),
            );
            let refs: Vec<&Person> = predicted.iter().collect();
            off_predicted = self.motion.blobs_off(&refs);
            self.schedule.decide(
                t,
                discovery_due,
                self.people.tracks(),
                &predicted,
                &off_predicted,
            )
        } else {
            Decision::Always
        };
        if !decision.runs_pose() {
            // People are where the tracker predicts them; the rules get no new
            // samples of them (a repeated sample would fake a still foot).
            let t2 = Instant::now();
            let bodies: Vec<&Person> = predicted.iter().collect();
            self.objects.update(t, &off_predicted, &bodies);
            let events = self.rules.update(t, &[], self.objects.tracks());
            let t3 = Instant::now();
            let tm = &mut self.timings;
            tm.motion += t1 - t0;
            tm.plan += t2 - t1;
            tm.tracking += t3 - t2;
            tm.frames += 1;
            tm.skipped_frames += 1;
            return Ok(FrameAnalysis {
                blobs,
                off_body: off_predicted,
                regions: Vec::new(),
                decision,
                events,
            });
        }
        let seeds = blobs
            .iter()
            .map(|b| b.bbox)
            .chain(self.people.predicted_boxes(t));
        let mut regions = plan(
            &self.plan_cfg,
            self.max_input_px,
            frame.image.width,
            frame.image.height,
            seeds,
        );
        let full = BBox::new(
            0.0,
            0.0,
            frame.image.width as f32,
            frame.image.height as f32,
        );
        if discovery_due {
            regions = vec![full];
        }
        if regions.first() == Some(&full) {
            self.last_full_s = Some(t);
        }
        let t2 = Instant::now();
        let people = if regions.is_empty() {
            Vec::new()
        } else {
            self.pose.estimate(&frame.image, &regions)?
        };
        let t3 = Instant::now();
        let looks: Vec<Option<Appearance>> = people
            .iter()
            .map(|p| Appearance::describe(&frame.image, p))
            .collect();
        self.people.update_with_appearance(t, &people, &looks);
        let visible: Vec<PersonTrack> = self.people.visible().cloned().collect();
        let bodies: Vec<&Person> = visible.iter().map(|p| &p.person).collect();
        let off_body = self.motion.blobs_off(&bodies);
        self.objects.update(t, &off_body, &bodies);
        let events = self.rules.update(t, &visible, self.objects.tracks());
        let t4 = Instant::now();
        let tm = &mut self.timings;
        tm.motion += t1 - t0;
        tm.plan += t2 - t1;
        tm.tracking += t4 - t3;
        tm.frames += 1;
        tm.pose_frames += u64::from(!regions.is_empty());
        Ok(FrameAnalysis {
            blobs,
            off_body,
            regions,
            decision,
            events,
        })
    }

    /// The stream was reopened or looped at media time `t_s`: decides what
    /// is open and starts the scene afresh (background, tracks, schedule),
    /// so the jump between the last frame and the next is not motion. Track
    /// ids carry on.
    pub fn restart(&mut self, t_s: f64) -> Vec<Event> {
        self.motion.restart();
        self.people.restart();
        self.objects.restart();
        self.schedule.restart();
        self.last_full_s = None;
        self.rules.restart(t_s)
    }

    /// Decides what is still open at the end of the stream.
    pub fn finish(&mut self, t_s: f64) -> Vec<Event> {
        self.rules.finish(t_s)
    }

    /// Confirmed people seen in the latest frame.
    pub fn visible_people(&self) -> Vec<PersonTrack> {
        self.people.visible().cloned().collect()
    }

    pub fn timings(&self) -> StageTimings {
        StageTimings {
            pose: self.pose.timings(),
            ..self.timings
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::Person;
    use crate::source::RgbImage;
    use std::sync::{Arc, Mutex};

    /// (frame, regions) for every pose call.
    type Calls = Arc<Mutex<Vec<(u64, Vec<BBox>)>>>;

    /// Records where pose was asked to look; finds nobody.
    struct Recorder(Calls, u64);

    impl PoseEstimator for Recorder {
        fn estimate(&mut self, _: &RgbImage, regions: &[BBox]) -> Result<Vec<Person>> {
            self.0.lock().unwrap().push((self.1, regions.to_vec()));
            Ok(Vec::new())
        }
        fn timings(&self) -> PoseTimings {
            PoseTimings::default()
        }
    }

    /// Always finds one still worker standing at (100..160, 40..220), right
    /// wrist at (150, 130), recording the frames it was asked about.
    struct Worker(Calls, u64);

    fn worker() -> Person {
        use crate::pose::Keypoint;
        let mut keypoints = [Keypoint::default(); 17];
        let at = |x: f32, y: f32| Keypoint { x, y, score: 0.9 };
        let points = [
            (0, at(130.0, 50.0)),
            (5, at(115.0, 75.0)),
            (6, at(145.0, 75.0)),
            (7, at(110.0, 100.0)),
            (8, at(150.0, 100.0)),
            (9, at(110.0, 130.0)),
            (10, at(150.0, 130.0)),
            (11, at(120.0, 140.0)),
            (12, at(140.0, 140.0)),
            (13, at(120.0, 180.0)),
            (14, at(140.0, 180.0)),
            (15, at(120.0, 215.0)),
            (16, at(140.0, 215.0)),
        ];
        for (i, k) in points {
            keypoints[i] = k;
        }
        Person {
            bbox: BBox::new(100.0, 40.0, 160.0, 220.0),
            score: 0.9,
            keypoints,
        }
    }

    impl PoseEstimator for Worker {
        fn estimate(&mut self, _: &RgbImage, regions: &[BBox]) -> Result<Vec<Person>> {
            self.0.lock().unwrap().push((self.1, regions.to_vec()));
            Ok(vec![worker()])
        }
        fn timings(&self) -> PoseTimings {
            PoseTimings::default()
        }
    }

    /// Plays 25 fps frames of a still worker; from frame 60 to 65 a parcel-sized
    /// white square moves off the body beside the right hand. Returns the frames
    /// pose ran on.
    fn pose_frames(cfg: &AnalysisConfig) -> Vec<u64> {
        let calls: Calls = Arc::default();
        let cal = Calibration::parse(include_str!("../calibration/vtest.toml")).unwrap();
        let mut a = Analyzer::new(cfg, Worker(calls.clone(), 0), cal);
        for seq in 0..120u64 {
            let mut image = RgbImage::new(320, 240);
            if (60..=65).contains(&seq) {
                let x0 = 168 + 6 * (seq as usize - 60);
                for y in 118..142 {
                    for x in x0..x0 + 24 {
                        let i = (y * 320 + x) * 3;
                        image.data[i..i + 3].copy_from_slice(&[255, 255, 255]);
                    }
                }
            }
            a.pose.1 = seq;
            let frame = Frame::new(Arc::from("cam"), seq, seq as f64 * 0.04, image);
            a.process(&frame).unwrap();
        }
        let calls = calls.lock().unwrap();
        calls.iter().map(|c| c.0).collect()
    }

    #[test]
    fn adaptive_pose_runs_every_frame_for_a_young_track_and_around_a_parcel_at_the_hands_and_at_5_hz_otherwise(
    ) {
        let mut cfg = AnalysisConfig::default();
        cfg.schedule.adaptive = true;
        let frames = pose_frames(&cfg);
        let ran = |f: u64| frames.contains(&f);
        // A new person: every frame until the track is a second old.
        assert!((0..25).all(ran), "{frames:?}");
        // A still worker, nothing in the hands: base rate (0.2 s) plus the
        // full-frame discovery pass (0.5 s); people are predicted in between.
        let quiet: Vec<u64> = frames
            .iter()
            .copied()
            .filter(|f| (25..60).contains(f))
            .collect();
        assert!(
            quiet.len() <= 35 / 5 + 35 / 12 + 1,
            "quiet pose frames {quiet:?}"
        );
        assert!(quiet.windows(2).all(|w| w[1] - w[0] <= 5), "{quiet:?}");
        // Something moving off the body at the hands: every frame, then hold
        // for a second (25 frames) after it stops.
        assert!((60..90).all(ran), "{frames:?}");
        let after: Vec<u64> = frames.iter().copied().filter(|&f| f >= 90).collect();
        assert!(after.len() <= 29 / 5 + 29 / 12 + 1, "{after:?}");
        assert_eq!(
            frames,
            EXPECTED_SCHEDULE.to_vec(),
            "the pinned schedule changed"
        );
    }

    /// What the test above sees: young track 0-24; base rate every 5th
    /// frame with discovery passes (39, 52) between; the parcel at the hand
    /// 60-65 and the hold to 89; base rate again.
    const EXPECTED_SCHEDULE: &[u64] = &[
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        26, 31, 36, 39, 44, 49, 52, 57, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74,
        75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 96, 101, 104, 109, 114,
        117,
    ];

    #[test]
    fn with_the_schedule_off_by_default_pose_runs_on_every_frame_a_known_person_is_in() {
        assert_eq!(
            pose_frames(&AnalysisConfig::default()),
            (0..120).collect::<Vec<u64>>()
        );
    }

    #[test]
    fn a_still_scene_gets_a_full_frame_discovery_pass_every_half_second_and_nothing_else() {
        let calls: Calls = Arc::default();
        let cal = Calibration::parse(include_str!("../calibration/vtest.toml")).unwrap();
        let mut a = Analyzer::new(&AnalysisConfig::default(), Recorder(calls.clone(), 0), cal);
        let image = RgbImage::new(320, 240);
        for seq in 0..25u64 {
            a.pose.1 = seq;
            let frame = Frame::new(Arc::from("cam"), seq, seq as f64 * 0.1, image.clone());
            a.process(&frame).unwrap();
        }
        let calls = calls.lock().unwrap();
        let frames: Vec<u64> = calls.iter().map(|c| c.0).collect();
        assert_eq!(
            frames,
            vec![0, 5, 10, 15, 20],
            "no motion, no people: only discovery passes"
        );
        assert!(calls
            .iter()
            .all(|c| c.1 == vec![BBox::new(0.0, 0.0, 320.0, 240.0)]));
    }
}
