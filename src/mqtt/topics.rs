//! The topic tree (docs/mqtt.md): everything under `<prefix>/<site>/`.

#[derive(Clone, Debug)]
pub struct Topics {
    base: String,
    node: String,
}

impl Topics {
    pub fn new(prefix: &str, site: &str, node: &str) -> Topics {
        Topics {
            base: format!("{}/{site}", prefix.trim_end_matches('/')),
            node: node.to_string(),
        }
    }

    /// Retained `{"state":"online"|"offline"}`; the last will sets offline.
    pub fn availability(&self) -> String {
        format!("{}/node/{}/availability", self.base, self.node)
    }

    /// QoS 1, one message per violation.
    pub fn violation(&self, camera: &str) -> String {
        format!("{}/violations/{camera}", self.base)
    }

    /// QoS 1, one message per QA verdict.
    pub fn verdict(&self, camera: &str) -> String {
        format!("{}/verdicts/{camera}", self.base)
    }

    /// QoS 1, one message per violation clip once its files are complete.
    pub fn clip(&self, camera: &str) -> String {
        format!("{}/clips/{camera}", self.base)
    }

    /// Retained: today's compliance for the site.
    pub fn compliance_site(&self) -> String {
        format!("{}/compliance/site", self.base)
    }

    pub fn compliance_line(&self, line: &str) -> String {
        format!("{}/compliance/line/{line}", self.base)
    }

    pub fn compliance_zone(&self, zone: &str) -> String {
        format!("{}/compliance/zone/{zone}", self.base)
    }

    pub fn compliance_camera(&self, camera: &str) -> String {
        format!("{}/compliance/camera/{camera}", self.base)
    }

    /// Retained camera health.
    pub fn health(&self, camera: &str) -> String {
        format!("{}/health/{camera}", self.base)
    }
}
