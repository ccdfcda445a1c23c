//! Live updates for the web pages: the latest compliance figures, and a
//! broadcast of what just happened (violations, verdicts, clips), which the
//! web server turns into server-sent events.

use serde_json::Value;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// One update: its kind ("compliance", "violation", "verdict", "clip") and
/// its JSON, serialised once for every subscriber.
#[derive(Clone, Debug)]
pub struct LiveEvent {
    pub kind: &'static str,
    pub data: Arc<str>,
}

/// A cheap, cloneable handle: senders never block, and a subscriber that
/// falls behind loses the oldest updates (pages then reload their figures).
#[derive(Clone)]
pub struct Live {
    events: broadcast::Sender<LiveEvent>,
    compliance: Arc<watch::Sender<Value>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            events: broadcast::channel(256).0,
            compliance: Arc::new(watch::channel(Value::Null).0),
        }
    }
}

impl Live {
    pub fn send(&self, kind: &'static str, data: String) {
        let _ = self.events.send(LiveEvent {
            kind,
            data: data.into(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Sets today's figures; announces them only when they changed.
    pub fn set_compliance(&self, v: Value) {
        let changed = self.compliance.send_if_modified(|old| {
            let changed = *old != v;
            if changed {
                *old = v.clone();
            }
            changed
        });
        if changed {
            self.send("compliance", v.to_string());
        }
    }

    /// Today's figures as last computed (`null` before the first time).
    pub fn compliance(&self) -> Value {
        self.compliance.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_is_announced_only_when_it_changes() {
        let live = Live::default();
        let mut rx = live.subscribe();
        live.set_compliance(serde_json::json!({"rate": 1.0}));
        live.set_compliance(serde_json::json!({"rate": 1.0}));
        live.set_compliance(serde_json::json!({"rate": 0.5}));
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| format!("{} {}", e.kind, e.data))
            .collect();
        assert_eq!(
            got,
            ["compliance {\"rate\":1.0}", "compliance {\"rate\":0.5}"]
        );
        assert_eq!(live.compliance()["rate"], 0.5);
    }
}
