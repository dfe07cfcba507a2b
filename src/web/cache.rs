//! Render once, serve many: every dashboard answer (page, chart, badge,
//! feed) is rendered once per version and kept, with its gzip and Brotli
//! forms compressed once beside it, so that a crowd watching an outage
//! costs a lookup and a copy per view instead of a render.
//!
//! A version is named by its `ETag`, which already hashes everything its
//! body depends on (the detector's generation, the query, the viewer's
//! zone where the body shows times); with the path, it is the key. The
//! first request for a key renders it; requests for the same key that come
//! while it renders wait for that one render (stampede-safe), and later ones
//! find it done. Old versions are never asked for again once the
//! generation moves, so the cache forgets the oldest first when it holds
//! more than its bound in bytes (`page_cache_max_bytes`).

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpRequest;
use tokio::sync::OnceCell;

/// Brotli quality for the precompressed forms: 5 compresses a page about as
/// well as gzip's best in a few milliseconds; 11 would take a second.
const BROTLI_QUALITY: u32 = 5;
/// Brotli's window, log2 bytes: larger than any page.
const BROTLI_WINDOW: u32 = 22;

/// One version of one answer, in every encoding we send.
#[derive(Debug)]
pub struct Rendered {
    pub identity: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
}

impl Rendered {
    /// Compresses `body` both ways.
    pub fn new(body: String) -> Rendered {
        let identity = Bytes::from(body);
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(identity.len() / 4),
            flate2::Compression::default(),
        );
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&identity);
        let gzip = Bytes::from(gz.finish().unwrap_or_default());
        let mut br = Vec::with_capacity(identity.len() / 4);
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, BROTLI_QUALITY, BROTLI_WINDOW);
            let _ = w.write_all(&identity);
        }
        Rendered {
            identity,
            gzip,
            brotli: Bytes::from(br),
        }
    }

    /// What the three forms take in memory.
    fn bytes(&self) -> usize {
        self.identity.len() + self.gzip.len() + self.brotli.len()
    }

    /// The form `req` accepts best, with its `Content-Encoding` (none for
    /// the identity).
    pub fn for_request(&self, req: &HttpRequest) -> (Bytes, Option<&'static str>) {
        match Encoding::accepted(req) {
            Encoding::Brotli => (self.brotli.clone(), Some("br")),
            Encoding::Gzip => (self.gzip.clone(), Some("gzip")),
            Encoding::Identity => (self.identity.clone(), None),
        }
    }
}

/// The encodings we keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// Brotli if `Accept-Encoding` allows it, else gzip if it allows that,
    /// else none. A coding is allowed when named (or `*`) without `q=0`.
    fn accepted(req: &HttpRequest) -> Encoding {
        let mut brotli = false;
        let mut gzip = false;
        for value in req.headers().get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else {
                continue;
            };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let refused = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                if refused {
                    continue;
                }
                match coding.as_str() {
                    "br" => brotli = true,
                    "gzip" | "x-gzip" => gzip = true,
                    "*" => (brotli, gzip) = (true, true),
                    _ => {}
                }
            }
        }
        if brotli {
            Encoding::Brotli
        } else if gzip {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }
}

type Slot = Arc<OnceCell<Arc<Rendered>>>;

/// The versions kept, oldest first, within a bound in bytes.
pub struct RenderCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<String, Slot>,
    /// Keys in the order their renders finished, with their sizes.
    order: VecDeque<(String, usize)>,
    bytes: usize,
}

impl RenderCache {
    pub fn new(max_bytes: usize) -> Self {
        RenderCache {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The version named `key`: the kept one, or the one `render` makes
    /// (once, however many ask at the same time), and whether this call
    /// rendered it. A failed render is not kept; the next request tries
    /// again.
    pub async fn get_or_render<F, Fut, E>(
        &self,
        key: String,
        render: F,
    ) -> Result<(Arc<Rendered>, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, E>>,
    {
        let slot = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.slots.entry(key.clone()).or_default().clone()
        };
        if let Some(done) = slot.get() {
            return Ok((done.clone(), false));
        }
        let mut rendered_here = false;
        let result = slot
            .get_or_try_init(|| async {
                rendered_here = true;
                let body = render().await?;
                let compressed = tokio::task::spawn_blocking(move || Rendered::new(body)).await;
                // Compressing cannot fail; a panic there is a bug, and the
                // task's panic is re-raised here.
                Ok::<_, E>(Arc::new(
                    compressed.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
                ))
            })
            .await
            .cloned();
        match result {
            Ok(done) => {
                if rendered_here {
                    self.kept(key, done.bytes());
                }
                Ok((done, rendered_here))
            }
            Err(e) => {
                self.forget_empty(&key, &slot);
                Err(e)
            }
        }
    }

    /// Drops the slot of a render that failed, unless another request has
    /// since filled it, so that failures do not accumulate keys.
    fn forget_empty(&self, key: &str, slot: &Slot) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let same = inner
            .slots
            .get(key)
            .is_some_and(|kept| Arc::ptr_eq(kept, slot) && kept.get().is_none());
        if same {
            inner.slots.remove(key);
        }
    }

    /// Accounts for a finished render and forgets the oldest versions
    /// while the cache holds more than its bound (never the newest).
    fn kept(&self, key: String, size: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.order.push_back((key, size));
        inner.bytes += size;
        while inner.bytes > self.max_bytes && inner.order.len() > 1 {
            let Some((old, size)) = inner.order.pop_front() else {
                break;
            };
            inner.bytes -= size;
            inner.slots.remove(&old);
        }
    }

    /// Bytes held and versions kept.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.bytes, inner.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use std::io::Read as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn accepting(value: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header((header::ACCEPT_ENCODING, value))
            .to_http_request()
    }

    #[test]
    fn the_best_accepted_encoding_is_chosen() {
        let page = Rendered::new("<p>hello</p>".repeat(100));
        let cases = [
            ("gzip, deflate, br, zstd", Some("br")),
            ("gzip", Some("gzip")),
            ("br;q=0, gzip;q=0.5", Some("gzip")),
            ("br;q=0, gzip;q=0", None),
            ("*", Some("br")),
            ("identity", None),
        ];
        for (accept, expected) in cases {
            assert_eq!(page.for_request(&accepting(accept)).1, expected, "{accept}");
        }
        let none = TestRequest::default().to_http_request();
        assert_eq!(page.for_request(&none).1, None);
    }

    #[test]
    fn every_form_holds_the_same_body() {
        let body = "<p>reports per minute</p>\n".repeat(500);
        let page = Rendered::new(body.clone());
        assert_eq!(page.identity, body.as_bytes());
        let mut gunzipped = String::new();
        flate2::read::GzDecoder::new(&page.gzip[..])
            .read_to_string(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, body);
        let mut unbrotlied = String::new();
        brotli::Decompressor::new(&page.brotli[..], 4096)
            .read_to_string(&mut unbrotlied)
            .unwrap();
        assert_eq!(unbrotlied, body);
        assert!(page.brotli.len() < body.len() / 10 && page.gzip.len() < body.len() / 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crowd_asking_at_once_causes_one_render() {
        let cache = Arc::new(RenderCache::new(1 << 20));
        let renders = Arc::new(AtomicUsize::new(0));
        let mut asks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (cache, renders) = (cache.clone(), renders.clone());
            asks.spawn(async move {
                let (page, _) = cache
                    .get_or_render("/s/claude 24h 0 \"1\"".into(), || async {
                        renders.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok::<_, ()>("the page".to_owned())
                    })
                    .await
                    .unwrap();
                page.identity.clone()
            });
        }
        while let Some(body) = asks.join_next().await {
            assert_eq!(body.unwrap(), "the page");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert_eq!(cache.usage().1, 1);
    }

    #[tokio::test]
    async fn a_failed_render_is_not_kept_and_the_oldest_go_past_the_bound() {
        let cache = RenderCache::new(10_000);
        let failed = cache
            .get_or_render("a".into(), || async { Err::<String, _>("no database") })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.usage(), (0, 0));
        assert!(cache.inner.lock().unwrap().slots.is_empty());
        let (_, rendered) = cache
            .get_or_render("a".into(), || async { Ok::<_, ()>("now it works".into()) })
            .await
            .unwrap();
        assert!(rendered);
        // Incompressible bodies of about 3 kB each (three forms): the bound
        // holds about one.
        let noise = |seed: u64| {
            let mut x = seed;
            (0..3000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'!' + (x % 90) as u8)
                })
                .collect::<String>()
        };
        for key in 1..=5u64 {
            cache
                .get_or_render(key.to_string(), || async move { Ok::<_, ()>(noise(key)) })
                .await
                .unwrap();
            assert!(cache.usage().0 <= 10_000 || cache.usage().1 == 1);
        }
        let inner = cache.inner.lock().unwrap();
        assert!(inner.slots.contains_key("5"), "the newest is kept");
        assert!(!inner.slots.contains_key("1") && !inner.slots.contains_key("a"));
        assert_eq!(inner.slots.len(), inner.order.len());
    }
}
