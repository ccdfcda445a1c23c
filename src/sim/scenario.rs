//! The scenario file: a sorting-floor scene, its camera, its workers and a
//! timeline of what they do. Strict (unknown keys are errors that name the key);
//! every key, unit and default is documented in docs/simulator.md.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

fn default_width() -> u32 {
    768
}
fn default_height() -> u32 {
    576
}
fn default_limit() -> f64 {
    50.0
}
fn default_focal() -> f64 {
    620.0
}
fn default_noise() -> f64 {
    2.0
}
fn default_flicker() -> f64 {
    0.02
}
fn default_true() -> bool {
    true
}
fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// One simulated scene.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Seeds the floor texture, sensor noise and flicker.
    #[serde(default)]
    pub seed: u64,
    pub fps: f64,
    pub duration_s: f64,
    #[serde(default = "default_width")]
    pub image_width: u32,
    #[serde(default = "default_height")]
    pub image_height: u32,
    pub camera: CameraSpec,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub scene: SceneSpec,
    #[serde(default)]
    pub workers: Vec<WorkerSpec>,
    #[serde(default)]
    pub parcels: Vec<ParcelSpec>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// The camera hangs at `position_cm` (floor xy), `height_cm` up, looking along
/// `pan_deg` (0 = +y, anticlockwise seen from above) tilted `tilt_deg` below horizontal.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    pub height_cm: f64,
    pub tilt_deg: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pan_deg: f64,
    #[serde(default)]
    pub position_cm: [f64; 2],
    #[serde(default = "default_focal")]
    pub focal_px: f64,
    /// OpenCV [k1, k2, p1, p2, k3]; default none.
    #[serde(default)]
    pub distortion: [f64; 5],
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_limit")]
    pub max_drop_cm: f64,
    #[serde(default = "default_limit")]
    pub max_throw_cm: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_drop_cm: 50.0,
            max_throw_cm: 50.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FloorKind {
    #[default]
    Concrete,
    Tiles,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SceneSpec {
    #[serde(default)]
    pub floor: FloorKind,
    /// Painted yellow lane lines on the floor.
    #[serde(default = "default_true")]
    pub lines: bool,
    /// Sensor noise, standard deviation in grey levels.
    #[serde(default = "default_noise")]
    pub noise_sigma: f64,
    /// Global illumination flicker, relative amplitude.
    #[serde(default = "default_flicker")]
    pub flicker: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conveyor: Option<ConveyorSpec>,
    #[serde(default)]
    pub carts: Vec<CartSpec>,
}

impl Default for SceneSpec {
    fn default() -> Self {
        SceneSpec {
            floor: FloorKind::Concrete,
            lines: true,
            noise_sigma: default_noise(),
            flicker: default_flicker(),
            conveyor: None,
            carts: Vec::new(),
        }
    }
}

fn default_belt_width() -> f64 {
    60.0
}
fn default_belt_height() -> f64 {
    75.0
}
fn default_belt_speed() -> f64 {
    30.0
}

/// A straight belt from `start_cm` to `end_cm` (floor xy of its centre line);
/// the belt moves from start to end. Parcels stop at the end.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConveyorSpec {
    pub start_cm: [f64; 2],
    pub end_cm: [f64; 2],
    #[serde(default = "default_belt_width")]
    pub width_cm: f64,
    #[serde(default = "default_belt_height")]
    pub height_cm: f64,
    #[serde(default = "default_belt_speed")]
    pub speed_cm_s: f64,
}

fn default_cart_size() -> [f64; 2] {
    [100.0, 60.0]
}
fn default_cart_height() -> f64 {
    60.0
}

/// A flat-topped cart: a box standing on the floor.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CartSpec {
    pub centre_cm: [f64; 2],
    #[serde(default = "default_cart_size")]
    pub size_cm: [f64; 2],
    #[serde(default = "default_cart_height")]
    pub height_cm: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub yaw_deg: f64,
}

fn default_worker_height() -> f64 {
    175.0
}
fn default_shirt() -> [u8; 3] {
    [40, 90, 170]
}
fn default_trousers() -> [u8; 3] {
    [45, 45, 55]
}
fn default_skin() -> [u8; 3] {
    [205, 160, 125]
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerSpec {
    pub id: u32,
    pub at_cm: [f64; 2],
    /// Direction faced, degrees anticlockwise from +x seen from above.
    #[serde(default)]
    pub facing_deg: f64,
    #[serde(default = "default_worker_height")]
    pub height_cm: f64,
    #[serde(default = "default_shirt")]
    pub shirt_rgb: [u8; 3],
    #[serde(default = "default_trousers")]
    pub trousers_rgb: [u8; 3],
    #[serde(default = "default_skin")]
    pub skin_rgb: [u8; 3],
}

/// A box. It starts either in a worker's hands (`held_by`) or resting at
/// `at_cm` on whatever is there (floor, belt or cart top).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParcelSpec {
    pub id: u32,
    /// Length, width, height.
    pub size_cm: [f64; 3],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_cm: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub yaw_deg: f64,
    /// 0..=3 picks a cardboard shade.
    #[serde(default)]
    pub shade: u8,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Walk,
    Carry,
    Pick,
    Place,
    Toss,
    Drop,
    Kick,
}

impl ActionKind {
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Walk => "walk",
            ActionKind::Carry => "carry",
            ActionKind::Pick => "pick",
            ActionKind::Place => "place",
            ActionKind::Toss => "toss",
            ActionKind::Drop => "drop",
            ActionKind::Kick => "kick",
        }
    }
}

fn default_walk_speed() -> f64 {
    110.0
}
fn default_loft() -> f64 {
    15.0
}

/// One step of a worker's timeline. Which keys apply depends on `kind`
/// (docs/simulator.md has the table).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub worker: u32,
    pub t_s: f64,
    pub kind: ActionKind,
    /// walk/carry: destination (floor xy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_cm: Option<[f64; 2]>,
    #[serde(default = "default_walk_speed")]
    pub speed_cm_s: f64,
    /// walk/carry: direction to face on arrival; default the walking direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_deg: Option<f64>,
    /// pick/kick: which parcel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel: Option<u32>,
    /// toss/drop: release centre height above the landing centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_height_cm: Option<f64>,
    /// toss/drop: horizontal distance release → landing; kick: how far it slides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_cm: Option<f64>,
    /// toss/drop: horizontal direction of flight; default the way the worker faces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction_deg: Option<f64>,
    /// toss: launch angle above horizontal.
    #[serde(default = "default_loft")]
    pub loft_deg: f64,
}

impl Scenario {
    /// Reads, parses and validates a scenario; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "cannot read scenario", e))?;
        Self::parse(&text).map_err(|msg| {
            Error::config(format!(
                "scenario {}: {msg} (see docs/simulator.md)",
                path.display()
            ))
        })
    }

    /// Parses and validates scenario TOML; the error message names the key.
    pub fn parse(text: &str) -> std::result::Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| crate::config::toml_error(text, &e))?;
        s.validate()?;
        Ok(s)
    }

    /// The scenario as TOML that [`Scenario::parse`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn frames(&self) -> usize {
        (self.duration_s * self.fps).round() as usize
    }

    /// Cross-field checks; the message names the offending key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        fn check(ok: bool, key: &str, why: &str) -> std::result::Result<(), String> {
            if ok {
                Ok(())
            } else {
                Err(format!("key `{key}` {why}"))
            }
        }
        check(!self.name.trim().is_empty(), "name", "must not be empty")?;
        check(
            self.fps.is_finite() && (1.0..=60.0).contains(&self.fps),
            "fps",
            "must be between 1 and 60 (cameras stream 15 or 25)",
        )?;
        check(
            self.duration_s.is_finite() && self.duration_s > 0.0 && self.duration_s <= 600.0,
            "duration_s",
            "must be between 0 and 600 s",
        )?;
        check(
            (64..=4096).contains(&self.image_width),
            "image_width",
            "must be 64..=4096 px",
        )?;
        check(
            (64..=4096).contains(&self.image_height),
            "image_height",
            "must be 64..=4096 px",
        )?;
        let c = &self.camera;
        check(
            (100.0..=1000.0).contains(&c.height_cm),
            "camera.height_cm",
            "must be 100..=1000 cm (sorting-floor cameras hang at 250-450)",
        )?;
        check(
            (10.0..=89.0).contains(&c.tilt_deg),
            "camera.tilt_deg",
            "must be 10..=89 degrees below horizontal",
        )?;
        check(
            c.focal_px.is_finite() && c.focal_px > 50.0,
            "camera.focal_px",
            "must be a focal length above 50 px",
        )?;
        check(
            c.distortion.iter().all(|d| d.is_finite() && d.abs() < 2.0),
            "camera.distortion",
            "must be 5 finite numbers [k1, k2, p1, p2, k3] of magnitude below 2",
        )?;
        check(
            self.limits.max_drop_cm > 0.0,
            "limits.max_drop_cm",
            "must be positive",
        )?;
        check(
            self.limits.max_throw_cm > 0.0,
            "limits.max_throw_cm",
            "must be positive",
        )?;
        check(
            (0.0..=50.0).contains(&self.scene.noise_sigma),
            "scene.noise_sigma",
            "must be 0..=50 grey levels",
        )?;
        check(
            (0.0..=0.5).contains(&self.scene.flicker),
            "scene.flicker",
            "must be 0..=0.5",
        )?;
        if let Some(b) = &self.scene.conveyor {
            check(
                b.start_cm != b.end_cm,
                "scene.conveyor.end_cm",
                "must differ from start_cm",
            )?;
            check(
                b.width_cm > 0.0,
                "scene.conveyor.width_cm",
                "must be positive",
            )?;
            check(
                (20.0..=150.0).contains(&b.height_cm),
                "scene.conveyor.height_cm",
                "must be 20..=150 cm",
            )?;
            check(
                (0.0..=300.0).contains(&b.speed_cm_s),
                "scene.conveyor.speed_cm_s",
                "must be 0..=300 cm/s",
            )?;
        }
        for (i, cart) in self.scene.carts.iter().enumerate() {
            check(
                cart.size_cm.iter().all(|v| *v > 0.0),
                &format!("scene.carts[{i}].size_cm"),
                "must be positive",
            )?;
            check(
                (10.0..=150.0).contains(&cart.height_cm),
                &format!("scene.carts[{i}].height_cm"),
                "must be 10..=150 cm",
            )?;
        }
        for (i, w) in self.workers.iter().enumerate() {
            check(
                self.workers[..i].iter().all(|o| o.id != w.id),
                &format!("workers[{i}].id"),
                &format!("repeats id {}", w.id),
            )?;
            check(
                (120.0..=210.0).contains(&w.height_cm),
                &format!("workers[{i}].height_cm"),
                "must be 120..=210 cm",
            )?;
        }
        let worker_exists = |id: u32| self.workers.iter().any(|w| w.id == id);
        for (i, p) in self.parcels.iter().enumerate() {
            check(
                self.parcels[..i].iter().all(|o| o.id != p.id),
                &format!("parcels[{i}].id"),
                &format!("repeats id {}", p.id),
            )?;
            check(
                p.size_cm
                    .iter()
                    .all(|v| v.is_finite() && *v > 0.0 && *v <= 120.0),
                &format!("parcels[{i}].size_cm"),
                "must be three sizes in 0..=120 cm",
            )?;
            check(
                p.held_by.is_some() != p.at_cm.is_some(),
                &format!("parcels[{i}].held_by"),
                "or `at_cm` must be given, not both",
            )?;
            if let Some(w) = p.held_by {
                check(
                    worker_exists(w),
                    &format!("parcels[{i}].held_by"),
                    &format!("names worker {w}, which is not in [[workers]]"),
                )?;
                check(
                    self.parcels[..i].iter().all(|o| o.held_by != Some(w)),
                    &format!("parcels[{i}].held_by"),
                    &format!("gives worker {w} a second parcel"),
                )?;
            }
        }
        let parcel_exists = |id: u32| self.parcels.iter().any(|p| p.id == id);
        for (i, a) in self.actions.iter().enumerate() {
            let key = |k: &str| format!("actions[{i}].{k}");
            check(
                worker_exists(a.worker),
                &key("worker"),
                &format!("names worker {}, which is not in [[workers]]", a.worker),
            )?;
            check(
                a.t_s.is_finite() && a.t_s >= 0.0 && a.t_s < self.duration_s,
                &key("t_s"),
                &format!("must lie within the scenario (0..{} s)", self.duration_s),
            )?;
            check(
                a.speed_cm_s > 10.0 && a.speed_cm_s <= 400.0,
                &key("speed_cm_s"),
                "must be 10..=400 cm/s",
            )?;
            match a.kind {
                ActionKind::Walk | ActionKind::Carry => {
                    check(
                        a.to_cm.is_some(),
                        &key("to_cm"),
                        "is required for walk/carry",
                    )?;
                }
                ActionKind::Pick | ActionKind::Kick => {
                    let p = a.parcel.ok_or_else(|| {
                        format!("key `{}` is required for {}", key("parcel"), a.kind.name())
                    })?;
                    check(
                        parcel_exists(p),
                        &key("parcel"),
                        &format!("names parcel {p}, which is not in [[parcels]]"),
                    )?;
                }
                _ => {}
            }
            if matches!(a.kind, ActionKind::Toss | ActionKind::Drop) {
                let h = a.drop_height_cm.ok_or_else(|| {
                    format!(
                        "key `{}` is required for {}",
                        key("drop_height_cm"),
                        a.kind.name()
                    )
                })?;
                check(
                    (0.5..=170.0).contains(&h),
                    &key("drop_height_cm"),
                    "must be 0.5..=170 cm",
                )?;
            }
            if let Some(d) = a.distance_cm {
                check(
                    (0.0..=400.0).contains(&d),
                    &key("distance_cm"),
                    "must be 0..=400 cm",
                )?;
            }
            if a.kind == ActionKind::Kick {
                check(
                    a.distance_cm.is_some_and(|d| d >= 5.0),
                    &key("distance_cm"),
                    "is required for kick (how far the parcel slides, at least 5 cm)",
                )?;
            }
            check(
                (-30.0..=60.0).contains(&a.loft_deg),
                &key("loft_deg"),
                "must be -30..=60 degrees",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) const MINIMAL: &str = r#"
name = "t"
fps = 25
duration_s = 2.0
[camera]
height_cm = 350
tilt_deg = 45
[[workers]]
id = 1
at_cm = [0, 400]
[[parcels]]
id = 1
size_cm = [40, 30, 20]
held_by = 1
[[actions]]
worker = 1
t_s = 0.2
kind = "drop"
drop_height_cm = 60
"#;
}

#[cfg(test)]
mod tests {
    use super::tests_support::MINIMAL;
    use super::*;

    #[test]
    fn minimal_scenario_parses_and_round_trips_through_to_toml() {
        let s = Scenario::parse(MINIMAL).unwrap();
        assert_eq!(s.image_width, 768);
        assert_eq!(s.limits.max_drop_cm, 50.0);
        let back = Scenario::parse(&s.to_toml()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Scenario::parse(&MINIMAL.replace("tilt_deg", "tilt_degs")).unwrap_err();
        assert!(err.contains("tilt_degs") && err.contains("line 7"), "{err}");
    }

    #[test]
    fn action_for_a_missing_worker_names_the_key() {
        let err = Scenario::parse(&MINIMAL.replace("worker = 1", "worker = 7")).unwrap_err();
        assert!(err.contains("actions[0].worker"), "{err}");
    }

    #[test]
    fn action_after_the_end_and_bad_sizes_are_refused() {
        let err = Scenario::parse(&MINIMAL.replace("t_s = 0.2", "t_s = 5")).unwrap_err();
        assert!(err.contains("actions[0].t_s"), "{err}");
        let err = Scenario::parse(&MINIMAL.replace("[40, 30, 20]", "[40, 0, 20]")).unwrap_err();
        assert!(err.contains("parcels[0].size_cm"), "{err}");
    }
}
