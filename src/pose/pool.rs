//! A deliberate pool of pose sessions shared by a node's cameras: a few ONNX
//! Runtime sessions (one per worker thread), not one per camera, so cameras
//! queue for the cores instead of oversubscribing them.

use super::{Person, PoseEstimator, PoseTimings};
use crate::bbox::BBox;
use crate::error::{Error, Result};
use crate::source::RgbImage;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

struct Job {
    image: RgbImage,
    regions: Vec<BBox>,
    reply: SyncSender<(Result<Vec<Person>>, PoseTimings)>,
}

/// Hands out [`PoolClient`]s; the workers stop when every client is dropped.
pub struct PosePool {
    tx: Sender<Job>,
}

impl PosePool {
    /// One worker thread per estimator.
    pub fn new<P: PoseEstimator + 'static>(estimators: Vec<P>) -> Result<PosePool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, est) in estimators.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("pose-{i}"))
                .spawn(move || work(est, &rx))
                .map_err(|e| Error::internal(format!("cannot start pose worker: {e}")))?;
        }
        Ok(PosePool { tx })
    }

    /// `cfg.workers` MoveNet sessions (at least one).
    pub fn movenet(cfg: &super::MoveNetConfig) -> Result<PosePool> {
        let sessions = (0..cfg.workers.max(1))
            .map(|_| super::MoveNet::load(cfg.clone()))
            .collect::<Result<Vec<_>>>()?;
        PosePool::new(sessions)
    }

    pub fn client(&self) -> PoolClient {
        PoolClient {
            tx: self.tx.clone(),
            timings: PoseTimings::default(),
        }
    }
}

fn work<P: PoseEstimator>(mut est: P, rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock().map(|r| r.recv()) {
            Ok(Ok(job)) => job,
            _ => return,
        };
        let before = est.timings();
        let people = est.estimate(&job.image, &job.regions);
        let spent = est.timings().since(&before);
        let _ = job.reply.send((people, spent));
    }
}

/// One camera's handle on the pool.
pub struct PoolClient {
    tx: Sender<Job>,
    timings: PoseTimings,
}

impl PoseEstimator for PoolClient {
    fn estimate(&mut self, image: &RgbImage, regions: &[BBox]) -> Result<Vec<Person>> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            image: image.clone(),
            regions: regions.to_vec(),
            reply,
        };
        let gone = || Error::internal("the pose workers stopped");
        self.tx.send(job).map_err(|_| gone())?;
        let (people, spent) = answer.recv().map_err(|_| gone())?;
        self.timings.add(&spent);
        people
    }

    fn timings(&self) -> PoseTimings {
        self.timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finds one person whose box is the first region, tagged with its worker.
    struct Echo(f32);

    impl PoseEstimator for Echo {
        fn estimate(&mut self, _: &RgbImage, regions: &[BBox]) -> Result<Vec<Person>> {
            Ok(regions
                .iter()
                .map(|r| Person {
                    bbox: *r,
                    score: self.0,
                    keypoints: Default::default(),
                })
                .collect())
        }
        fn timings(&self) -> PoseTimings {
            PoseTimings::default()
        }
    }

    #[test]
    fn clients_on_many_threads_each_get_their_own_answers() {
        let pool = PosePool::new(vec![Echo(0.5), Echo(0.6)]).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let mut c = pool.client();
                std::thread::spawn(move || {
                    for j in 0..50 {
                        let r = BBox::new(i as f32, j as f32, 10.0, 10.0);
                        let people = c.estimate(&RgbImage::new(4, 4), &[r]).unwrap();
                        assert_eq!(people.len(), 1);
                        assert_eq!(people[0].bbox, r);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
