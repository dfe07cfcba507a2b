//! A deadline on the head of every request on a kept-alive connection.
//!
//! actix-web bounds the head of a connection's first request only: once the
//! first byte of a later request arrives its keep-alive timer stops, and
//! nothing bounds the rest of that head. A client can answer one request
//! quickly and then send the next one's head a byte at a time, holding a
//! connection (and, past `max_connections`, everyone else's turn) for as
//! long as it likes.
//!
//! So every connection is registered here when it is accepted. Its requests
//! mark it busy while they are handled and idle once their response body
//! has been handed to the connection; a sweep once a second shuts down every
//! connection that has been idle for longer than the keep-alive time plus
//! the head deadline, which no client sending its next request in time
//! reaches (an idle connection with nothing sent is closed by actix-web
//! itself after the keep-alive time).

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::web::Bytes;
use std::any::Any;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// `idle_since` of a connection whose request is being handled.
const BUSY: u64 = u64::MAX;

/// Every open connection, for the sweep.
pub struct ConnectionWatch {
    conns: Mutex<Vec<Weak<Connection>>>,
    /// How long a connection may stay idle or half-way through a head.
    idle_limit: Duration,
    /// The zero of every `idle_since`.
    epoch: Instant,
}

/// One open connection, kept in its actix-web connection data.
pub struct Connection {
    /// A second descriptor of the connection's socket, to shut it down from
    /// the sweep; closed when actix-web drops the connection, or when the
    /// connection is given up to a live stream ([`Connection::unwatch`]).
    socket: Mutex<Option<std::net::TcpStream>>,
    /// Milliseconds since the watch's epoch at which the connection last
    /// became idle, or [`BUSY`].
    idle_since: AtomicU64,
    epoch: Instant,
}

impl Connection {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1)
    }

    /// A request's head has been read: the connection is working for it.
    pub fn busy(&self) {
        self.idle_since.store(BUSY, Ordering::Relaxed);
    }

    /// The request's answer is with the connection: the next head may come.
    pub fn idle(&self) {
        if self.watched() {
            self.idle_since.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Stops watching a connection that will close when its answer ends (a
    /// live stream, sent with `Connection: close`): no head can follow, and
    /// its second descriptor goes back, so that a crowd of open pages costs
    /// one descriptor each.
    pub fn unwatch(&self) {
        self.busy();
        if let Ok(mut socket) = self.socket.lock() {
            socket.take();
        }
    }

    fn watched(&self) -> bool {
        self.socket.lock().is_ok_and(|s| s.is_some())
    }

    /// Shuts the connection down both ways: actix-web's next read sees the
    /// end and drops it, which closes our descriptor too.
    fn shut_down(&self) {
        if let Ok(socket) = self.socket.lock() {
            if let Some(socket) = socket.as_ref() {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl ConnectionWatch {
    pub fn new(keep_alive: Duration, header_read_timeout: Duration) -> Self {
        ConnectionWatch {
            conns: Mutex::new(Vec::new()),
            idle_limit: keep_alive + header_read_timeout,
            epoch: Instant::now(),
        }
    }

    /// Registers a connection just accepted (`on_connect`): `conn` is the
    /// socket actix-web gives, and the handle goes into its connection data.
    pub fn register(&self, conn: &dyn Any, data: &mut Extensions) {
        let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Some(socket) = duplicate(tcp) else {
            tracing::warn!("cannot watch a connection: its socket could not be duplicated");
            return;
        };
        let connection = Arc::new(Connection {
            socket: Mutex::new(Some(socket)),
            idle_since: AtomicU64::new(0),
            epoch: self.epoch,
        });
        connection.idle();
        if let Ok(mut conns) = self.conns.lock() {
            conns.push(Arc::downgrade(&connection));
        }
        data.insert(connection);
    }

    /// Shuts down every connection idle for longer than the limit and forgets
    /// the closed ones; returns how many it shut down.
    pub fn sweep(&self) -> usize {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1);
        let limit = u64::try_from(self.idle_limit.as_millis()).unwrap_or(BUSY);
        let Ok(mut conns) = self.conns.lock() else {
            return 0;
        };
        let mut cut = 0;
        conns.retain(|weak| {
            let Some(conn) = weak.upgrade() else {
                return false;
            };
            let since = conn.idle_since.load(Ordering::Relaxed);
            if since != BUSY && now.saturating_sub(since) > limit {
                conn.shut_down();
                conn.busy();
                cut += 1;
            }
            true
        });
        cut
    }

    /// Open connections registered.
    pub fn len(&self) -> usize {
        self.conns.lock().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(unix)]
fn duplicate(tcp: &actix_web::rt::net::TcpStream) -> Option<std::net::TcpStream> {
    use std::os::fd::AsFd as _;
    tcp.as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::net::TcpStream::from)
}

#[cfg(windows)]
fn duplicate(tcp: &actix_web::rt::net::TcpStream) -> Option<std::net::TcpStream> {
    use std::os::windows::io::AsSocket as _;
    tcp.as_socket()
        .try_clone_to_owned()
        .ok()
        .map(std::net::TcpStream::from)
}

/// A response body that marks its connection idle once it has been handed
/// over whole (or dropped): a slow download is not a slow request.
pub struct WatchedBody {
    body: BoxBody,
    conn: Option<Arc<Connection>>,
}

impl WatchedBody {
    pub fn new(body: BoxBody, conn: Arc<Connection>) -> Self {
        WatchedBody {
            body,
            conn: Some(conn),
        }
    }

    fn done(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.idle();
        }
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.done();
    }
}

impl MessageBody for WatchedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let next = Pin::new(&mut self.body).poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            self.done();
        }
        next
    }
}
