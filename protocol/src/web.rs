//! `web`: the daemon's HTTP service (`pmx web`, issue 25), its request and answer, and
//! the JSON shape of `GET /api/logs/<target>`. The HTTP API answers with the socket's
//! own types (`list`'s [`crate::ProcessInfo`]s, `describe`'s [`crate::Description`]s,
//! the error body `{"error":{"code","message"}}`); only the log tail has no socket twin.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The address `pmx web` listens on without `--listen` (PM2's `pm2 web` port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9615";

/// `web`: start the HTTP service (or move it to another address, or change its token
/// setting), or stop it. `{"type":"web","listen":"127.0.0.1:9615"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebRequest {
    /// `host:port` to listen on (absent: [`DEFAULT_LISTEN`]). An address that is not
    /// loopback always takes a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--token`: require `Authorization: Bearer <token>` on loopback too; a new token is
    /// generated, written to `$PMX_HOME/web.token` (0600) and answered once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub token: bool,
    /// `--stop`: close the service (the other fields are ignored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop: bool,
}

/// `web`'s answer: what is served now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebReply {
    /// The address served (`127.0.0.1:9615`); null once stopped.
    pub listening: Option<String>,
    /// Whether every request needs `Authorization: Bearer <token>`.
    pub token_required: bool,
    /// The token's file (`$PMX_HOME/web.token`) when one is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The token itself, only in the answer of the request that generated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `--stop`: the address the service was serving (absent: it was not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// One log file's last lines (`GET /api/logs/<target>?lines=N`): one per file, out then
/// error for each instance, each file once (instances may share one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogTail {
    /// The app's name.
    pub app: String,
    /// The instance's id.
    pub id: u64,
    /// `out` or `err`.
    pub stream: String,
    /// The file read.
    pub path: PathBuf,
    /// Its last lines, oldest first, without their newlines.
    pub lines: Vec<String>,
}

/// The last `n` lines of `path`, read backwards in chunks so a large file costs only
/// its end (what `pmx logs --nostream` shows, and `GET /api/logs` answers). A line
/// longer than 1 MiB (pmx writes longer lines in 1 MiB pieces, and bytes without newlines
/// as they come) shows its last MiB: at most `n` + 1 MiB are read. Missing files have no
/// lines; bytes that are not UTF-8 are replaced.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    const CHUNK: u64 = 64 * 1024;
    const MAX_LINE: u64 = 1 << 20;
    if n == 0 {
        return Vec::new();
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let budget = (n as u64).saturating_add(1).saturating_mul(MAX_LINE);
    // Chunks from the end backwards; n lines need n+1 newlines before them (or the start).
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let (mut start, mut newlines, mut read) = (len, 0usize, 0u64);
    while start > 0 && newlines <= n && read < budget {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        if f.seek(SeekFrom::Start(from)).is_err() || f.read_exact(&mut chunk).is_err() {
            break;
        }
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
        read += chunk.len() as u64;
        chunks.push(chunk);
        start = from;
    }
    let buf: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}
