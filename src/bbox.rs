//! Axis-aligned boxes in frame pixels, shared by motion, pose and tracking.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        BBox { x0, y0, x1, y1 }
    }
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }
    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) * 0.5, (self.y0 + self.y1) * 0.5)
    }
    pub fn intersection(&self, o: &BBox) -> f32 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        w * h
    }
    pub fn iou(&self, o: &BBox) -> f32 {
        let i = self.intersection(o);
        let u = self.area() + o.area() - i;
        if u > 0.0 {
            i / u
        } else {
            0.0
        }
    }
    /// Intersection over the smaller box: 1 when one box holds the other.
    pub fn overlap_min(&self, o: &BBox) -> f32 {
        let m = self.area().min(o.area());
        if m > 0.0 {
            self.intersection(o) / m
        } else {
            0.0
        }
    }
    pub fn union(&self, o: &BBox) -> BBox {
        BBox::new(
            self.x0.min(o.x0),
            self.y0.min(o.y0),
            self.x1.max(o.x1),
            self.y1.max(o.y1),
        )
    }
    /// Grows the box by `dx`/`dy` on each side.
    pub fn expand(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy)
    }
    /// Clamps the box to `[0, w] × [0, h]`.
    pub fn clamp(&self, w: f32, h: f32) -> BBox {
        BBox::new(
            self.x0.clamp(0.0, w),
            self.y0.clamp(0.0, h),
            self.x1.clamp(0.0, w),
            self.y1.clamp(0.0, h),
        )
    }
    pub fn translate(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)
    }
}

#[cfg(test)]
mod tests {
    use super::BBox;

    #[test]
    fn iou_of_half_overlapping_boxes_is_one_third() {
        let a = BBox::new(0.0, 0.0, 2.0, 1.0);
        let b = BBox::new(1.0, 0.0, 3.0, 1.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.overlap_min(&BBox::new(0.5, 0.0, 1.0, 1.0)), 1.0);
    }
}
