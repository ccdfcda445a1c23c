//! The per-camera analyzer: motion on every frame, pose where motion or known
//! people are, then the trackers. One owner of the pose session per analyzer.

use crate::bbox::BBox;
use crate::config::AnalysisConfig;
use crate::error::Result;
use crate::motion::{Blob, MotionDetector};
use crate::pose::plan::{plan, PlanConfig};
use crate::pose::{PoseEstimator, PoseTimings};
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
    /// Raw person detections this frame.
    pub detections: usize,
}

pub struct Analyzer<P: PoseEstimator> {
    motion: MotionDetector,
    pose: P,
    plan_cfg: PlanConfig,
    pub people: PersonTracker,
    pub objects: ObjectTracker,
    timings: StageTimings,
}

impl<P: PoseEstimator> Analyzer<P> {
    pub fn new(cfg: &AnalysisConfig, pose: P) -> Self {
        Analyzer {
            motion: MotionDetector::new(cfg.motion.clone()),
            pose,
            plan_cfg: cfg.regions.clone(),
            people: PersonTracker::new(cfg.tracking.people.clone()),
            objects: ObjectTracker::new(cfg.tracking.objects.clone()),
            timings: StageTimings::default(),
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
        let regions = plan(&self.plan_cfg, frame.image.width, frame.image.height, seeds);
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
        let person_boxes: Vec<BBox> = self.people.visible().map(|p| p.person.bbox).collect();
        self.objects.update(t, &blobs, &person_boxes);
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
            detections: people.len(),
        })
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
