//! The charts' colours and font sizes, chosen for contrast against the white
//! background: text 12.6:1, axis 7.0:1, counts 6.7:1, baseline 7.6:1,
//! peaks 6.5:1, each of the curves of a chart of several at least 4.5:1
//! (a unit test checks them).

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

/// The colours of the curves of a chart of several, in the order they are
/// given out: far apart in hue, each dark enough to read as a line on white.
pub(super) const CURVES: [RGBColor; 6] = [
    RGBColor(0xB9, 0x1C, 0x1C),
    RGBColor(0x1D, 0x4E, 0xD8),
    RGBColor(0x04, 0x78, 0x57),
    RGBColor(0x7E, 0x22, 0xCE),
    RGBColor(0xA1, 0x4A, 0x07),
    RGBColor(0x0E, 0x74, 0x90),
];
/// After the colours, the dash patterns (`stroke-dasharray`): the seventh
/// curve has the first colour, dashed, so that no two of twelve look alike
/// and a curve is told apart by more than its colour.
pub(super) const CURVE_DASHES: [&str; 2] = ["", "7 4"];
