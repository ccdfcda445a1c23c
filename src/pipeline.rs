//! The per-camera analyzer: motion on every frame, pose where motion or known
//! people are, then the trackers. One owner of the pose session per analyzer.

use crate::bbox::BBox;
use crate::config::AnalysisConfig;
use crate::error::Result;
use crate::geometry::Calibration;
use crate::motion::{Blob, MotionDetector};
use crate::pose::plan::{plan, PlanConfig};
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
}

/// What the analyzer made of one frame.
#[derive(Clone, Debug, Default)]
pub struct FrameAnalysis {
    pub blobs: Vec<Blob>,
    /// Where pose ran (empty when motion gated it off).
    pub regions: Vec<BBox>,
    /// Handling and violations decided at this frame.
    pub events: Vec<Event>,
}

pub struct Analyzer<P: PoseEstimator> {
    motion: MotionDetector,
    pose: P,
    plan_cfg: PlanConfig,
    pub people: PersonTracker,
    pub objects: ObjectTracker,
    rules: Rules,
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
            people: PersonTracker::new(cfg.tracking.people.clone()),
            objects: ObjectTracker::new(cfg.tracking.objects.clone()),
            rules: Rules::new(cfg.rules.clone(), calibration),
            timings: StageTimings::default(),
            last_full_s: None,
        }
    }

    pub fn process(&mut self, frame: &Frame) -> Result<FrameAnalysis> {
        let t = frame.media_time_s;
        let t0 = Instant::now();
        let blobs = self.motion.update(&frame.image, t);
        let t1 = Instant::now();
        let seeds = blobs
            .iter()
            .map(|b| b.bbox)
            .chain(self.people.predicted_boxes(t));
        let mut regions = plan(&self.plan_cfg, frame.image.width, frame.image.height, seeds);
        let full = BBox::new(
            0.0,
            0.0,
            frame.image.width as f32,
            frame.image.height as f32,
        );
        let interval = f64::from(self.plan_cfg.discovery_interval_s);
        if interval > 0.0
            && self
                .last_full_s
                .is_none_or(|last| t - last >= interval - 1e-6)
        {
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
            regions,
            events,
        })
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
