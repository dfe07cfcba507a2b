//! axe-core, the accessibility check the browser tests run on pages: from
//! npm, never part of the repository.

use super::{missing, Browser};
use crate::helpers::TestApp;
use std::path::PathBuf;

/// axe-core's own file, from npm (`.ci/run` installs it into `target/npm`;
/// `DOWNWAVE_AXE_CORE` points at another copy). Never part of the repository.
fn axe_source() -> Option<String> {
    let path = std::env::var("DOWNWAVE_AXE_CORE").map_or_else(
        |_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/npm/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => missing(&format!("cannot read axe-core at {} ({e})", path.display())),
    }
}

/// What axe-core finds on each page ([`Browser::axe_violations`]), in a
/// browser of its own.
pub(super) async fn axe_violations(app: &TestApp, paths: &[&str]) -> Vec<String> {
    // Skipped (each helper says so) where the browser or axe-core is missing.
    let Some(b) = Browser::start().await else {
        return Vec::new();
    };
    let found = b.axe_violations(app, paths).await;
    b.close().await;
    found
}

impl Browser {
    /// What axe-core (WCAG 2.1 A/AA and best practice) finds on each page at
    /// a phone's and a desktop's size, and any page wider than the screen.
    pub(super) async fn axe_violations(&self, app: &TestApp, paths: &[&str]) -> Vec<String> {
        let Some(axe) = axe_source() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (width, height) in [(375, 812), (1280, 900)] {
            self.viewport(width, height).await;
            for &path in paths {
                self.client.goto(&app.url(path)).await.unwrap();
                self.client.execute(&axe, vec![]).await.unwrap();
                let run = "const done = arguments[arguments.length - 1]; \
                 axe.run(document, {runOnly: {type: 'tag', values: \
                   ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}) \
                 .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + \
                   v.nodes.map(n => n.target.join(' ')).join(', ')))) \
                 .catch(e => done(['axe failed: ' + e]));";
                let violations = self.client.execute_async(run, vec![]).await.unwrap();
                for v in violations.as_array().unwrap() {
                    found.push(format!(
                        "{path} at {width}×{height}: {}",
                        v.as_str().unwrap()
                    ));
                }
                // Nothing is wider than the screen.
                let wide = self
                    .client
                    .execute("return document.documentElement.scrollWidth;", vec![])
                    .await
                    .unwrap();
                if wide.as_u64().unwrap() > u64::from(width) {
                    found.push(format!(
                        "{path} at {width}×{height}: laid out {wide} px wide"
                    ));
                }
            }
        }
        found
    }
}
