//! Cross-check with VictoriaMetrics: the same text-format, Influx and JSON-lines inputs give the
//! same series (names, labels, values, timestamps) here as in `victoria-metrics` (1.79.5 is what
//! CI installs). The test starts its own single-node server on a free 127.0.0.1 port in a temp
//! directory and stops it by its PID when done. Without the binary it says so and passes.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ingest::{Batch, Limits, influx, json_lines, prometheus_text};

/// A server we started; killed (by PID, through `Child`) when dropped.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VICTORIA_METRICS_BIN") {
        return Some(p.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("victoria-metrics"))
            .find(|p| p.is_file())
    })
}

fn start(bin: &Path) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.path().display()))
        .arg(format!("-httpListenAddr={addr}"))
        .arg("-retentionPeriod=100y")
        .arg("-search.disableCache")
        .arg("-loggerLevel=ERROR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics starts");
    let server = Server {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, _)) = http(&server.addr, "GET", "/health", b"") {
            return server;
        }
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the (de-chunked) body.
fn http(addr: &str, method: &str, target: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut rest = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        rest = dechunk(&rest).ok_or_else(|| std::io::Error::other("bad chunked body"))?;
    }
    Ok((status, rest))
}

/// The payload of a chunked body.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(rest.get(..eol)?).ok()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(eol + 2..eol + 2 + size)?);
        rest = rest.get(eol + 2 + size + 2..)?;
    }
}

/// Every sample as `series value@timestamp`, sorted.
fn rows(batch: &Batch) -> BTreeSet<String> {
    batch
        .iter()
        .flat_map(|s| {
            s.samples.iter().map(move |x| {
                let mut v = String::new();
                prometheus_text::write_value(x.value, &mut v);
                format!("{s} {v}@{}", x.timestamp_ms)
            })
        })
        .collect()
}

const TEXT: &str = concat!(
    "# HELP xc_text_a A metric.\n",
    "# TYPE xc_text_a counter\n",
    "xc_text_a{job=\"node\",instance=\"h:9100\"} 12.5 1700000000000\n",
    "xc_text_b { a = \"x\\\\y\" , b=\"q\\\"z\",c=\"n\\nl\",d=\"t\\tt\",e=\"\",} \t 7 1700000001000 \r\n",
    "  xc_text_c +Inf 1700000002000\n",
    "xc_text_d -1.5e-3 1700000003000\n",
    "xc_text_e{path=\"/var/é ü\"} -Inf 1700000004000\n",
    "\n# EOF\n",
);

const INFLUX: &str = concat!(
    "xc_influx,host=a,region=b value=1,temp=2.5,cnt=3i,u=4u,ok=true,no=F 1700000000000\n",
    "xc_influx2,path=/a\\ b\\,c\\=d,empty= f=-7 1700000001000\r\n",
    "xc_influx3,db=tagdb f=1 1700000002000\n",
    " xc_nomeasurement=5 1700000003000\n",
);

const JSON: &str = concat!(
    r#"{"metric":{"__name__":"xc_json_a","job":"x","q":"\"\\\n"},"values":[1,2.5,-3],"timestamps":[1700000000000,1700000001000,1700000002000]}"#,
    "\n",
    r#"{"timestamps":[1700000000000,1700000001000],"values":[+Inf,-Inf],"metric":{"__name__":"xc_json_b","u":"\u00e9"}}"#,
    "\n",
);

#[test]
fn same_series_as_victoriametrics() {
    let Some(bin) = binary() else {
        eprintln!("victoria-metrics not found: cross-check skipped");
        return;
    };
    let server = start(&bin);
    let post = |target: &str, body: &str| {
        let (status, resp) = http(&server.addr, "POST", target, body.as_bytes()).unwrap();
        assert!(
            status / 100 == 2,
            "{target}: {status} {}",
            String::from_utf8_lossy(&resp)
        );
    };
    post("/api/v1/import/prometheus", TEXT);
    post("/write?precision=ms&db=mydb", INFLUX);
    post("/api/v1/import", JSON);
    // What we make of the same bodies.
    let limits = Limits::default();
    let mut ours = Batch::new();
    prometheus_text::parse(TEXT.as_bytes(), 0, &limits, &mut ours).unwrap();
    let mut options = influx::Options::new(0);
    options.precision = influx::Precision::Milliseconds;
    options.db = "mydb";
    influx::parse(INFLUX.as_bytes(), &options, &limits, &mut ours).unwrap();
    json_lines::parse(JSON.as_bytes(), &limits, &mut ours).unwrap();
    let want = rows(&ours);
    assert_eq!(want.len(), 19, "{want:#?}");

    // What VictoriaMetrics stored, read back through its export, parsed by our JSON parser.
    let deadline = Instant::now() + Duration::from_secs(30);
    let target = "/api/v1/export?match%5B%5D=%7B__name__%3D~%22xc_.%2A%22%7D";
    loop {
        http(&server.addr, "GET", "/internal/force_flush", b"").unwrap();
        let (status, body) = http(&server.addr, "GET", target, b"").unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let mut theirs = Batch::new();
        json_lines::parse(&body, &limits, &mut theirs).unwrap();
        let got = rows(&theirs);
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            let only_ours: Vec<_> = want.difference(&got).collect();
            let only_theirs: Vec<_> = got.difference(&want).collect();
            panic!("only ours: {only_ours:#?}\nonly VictoriaMetrics's: {only_theirs:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
