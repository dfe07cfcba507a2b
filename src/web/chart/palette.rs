//! The charts' colours and font sizes, chosen for contrast against the white
//! background: text 12.6:1, axis 7.0:1, counts 6.7:1, baseline 7.6:1,
//! peaks 6.5:1 (a unit test checks them).

use plotters::style::RGBColor;

pub(super) const TEXT: RGBColor = RGBColor(0x33, 0x33, 0x33);
pub(super) const AXIS: RGBColor = RGBColor(0x59, 0x59, 0x59);
pub(super) const GRID: RGBColor = RGBColor(0xE5, 0xE7, 0xEB);
pub(super) const COUNTS: RGBColor = RGBColor(0x1D, 0x4E, 0xD8);
pub(super) const BASELINE: RGBColor = RGBColor(0x47, 0x55, 0x69);
pub(super) const BAND: RGBColor = RGBColor(0x94, 0xA3, 0xB8);
pub(super) const EVENT: RGBColor = RGBColor(0xDC, 0x26, 0x26);
pub(super) const MAINTENANCE: RGBColor = RGBColor(0x44, 0x40, 0x8A);
pub(super) const PEAK: RGBColor = RGBColor(0xB9, 0x1C, 0x1C);

/// Plotters' SVG backend writes `font-size = size / 1.24`; these give 12 px
/// and 11 px text in the output.
pub(super) const LABEL_FONT: f64 = 12.0 * 1.24;
pub(super) const MARK_FONT: f64 = 11.0 * 1.24;
