//! The frame every page shares: the viewer's zone, the page's `ETag` for
//! live updates, and the version that busts the cache of our static files.

use crate::web::assets;
use crate::web::view::Viewer;

/// What every page's frame needs.
pub struct Layout {
    pub zone: String,
    pub etag: String,
    pub asset_version: &'static str,
}

impl Layout {
    pub(super) fn new(viewer: &Viewer, etag: String) -> Self {
        Layout {
            zone: viewer.zone_label(),
            etag,
            asset_version: assets::version(),
        }
    }

    /// For error pages: nothing live, times in UTC.
    pub fn plain() -> Self {
        Layout::new(&Viewer { offset_secs: 0 }, String::new())
    }
}
