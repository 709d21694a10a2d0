//! `--metrics-addr`: the engine's metrics in the Prometheus text format over HTTP.
//!
//! `metrics-exporter-prometheus` renders the text; its own HTTP listener would bring tokio and
//! hyper into the binary for one endpoint, so a std `TcpListener` thread answers `GET /metrics`
//! (and `GET /`) itself: one connection at a time, each bounded by read and write timeouts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::CliError;

/// A running metrics endpoint.
pub struct MetricsServer {
    addr: SocketAddr,
}

impl MetricsServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Installs the Prometheus recorder (before any engine is built, so the engine's handles
/// register with it) and serves it at `addr`.
pub fn serve(addr: SocketAddr) -> Result<MetricsServer, CliError> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| CliError::Metrics(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::Metrics(e.to_string()))?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| CliError::Metrics(e.to_string()))?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        })
        .map_err(|e| CliError::Metrics(e.to_string()))?;
    std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // A client that misbehaves only loses its own response.
                let _ = answer(stream, &handle);
            }
        })
        .map_err(|e| CliError::Metrics(e.to_string()))?;
    eprintln!("metrics: http://{local}/metrics");
    Ok(MetricsServer { addr: local })
}

fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    // Read the request head (bounded); only its first line matters.
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") | ("GET", "/") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            handle.render(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
