//! sortwatch watches the sorting floor of an express-delivery hub through
//! cameras and catches rough handling of parcels: throws or drops of more than
//! 50 cm, and kicks.
//!
//! ```text
//!  FrameSource ──Frame──▶ Motion ──Blobs──┐
//!  (file/RTSP: ffmpeg,                    ├─▶ Trackers ──Tracks──▶ Rules ──Event──▶ edges
//!   USB: nokhwa, images)  PoseEstimator ──┘   (people,              (throw, kick,     MQTT, store,
//!                         (ONNX via ort)       parcels)              handling)         clips, web
//! ```
//!
//! Stages are plain types in and out ([`source::Frame`], [`motion::Blob`],
//! [`pose::Person`], [`track::PersonTrack`]); only the edges do I/O.

pub mod bbox;
pub mod clips;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod error;
pub mod events;
pub mod fs;
pub mod geometry;
pub mod metrics;
pub mod motion;
pub mod mqtt;
pub mod overlay;
pub mod pipeline;
pub mod pose;
pub mod rules;
pub mod service;
pub mod sim;
pub mod source;
pub mod store;
pub mod track;
pub mod web;
