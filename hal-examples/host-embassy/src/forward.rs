//! A small TCP / Unix-socket forwarder (the `pw-forward` binary): each rule listens on a TCP
//! address or a Unix socket path and forwards every connection to another one.
//!
//! `tap-test.sh` runs one inside the test's network namespace (TCP on the TAP device's
//! kernel-side address → Unix socket) and one outside it (Unix socket → the mail servers on
//! 127.0.0.1): a Unix socket path is reachable from both namespaces, so the two halves join
//! without a veth pair, routes or forwarding sysctls.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// One end of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// `tcp:IP:PORT`.
    Tcp(SocketAddr),
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl Addr {
    /// Parses `tcp:IP:PORT` or `unix:PATH`.
    pub fn parse(s: &str) -> Result<Addr, String> {
        if let Some(a) = s.strip_prefix("tcp:") {
            a.parse()
                .map(Addr::Tcp)
                .map_err(|e| format!("{s:?}: not an IP:PORT address ({e})"))
        } else if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(format!("{s:?}: empty path"));
            }
            Ok(Addr::Unix(PathBuf::from(p)))
        } else {
            Err(format!("{s:?}: expected tcp:IP:PORT or unix:PATH"))
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(a) => write!(f, "tcp:{a}"),
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A rule: `LISTEN=TARGET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Where connections are accepted.
    pub listen: Addr,
    /// Where each one is forwarded.
    pub target: Addr,
}

impl Rule {
    /// Parses `LISTEN=TARGET`, e.g. `tcp:10.43.0.1:10993=unix:/tmp/x/10993.sock`.
    pub fn parse(s: &str) -> Result<Rule, String> {
        let (l, t) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected LISTEN=TARGET"))?;
        Ok(Rule {
            listen: Addr::parse(l)?,
            target: Addr::parse(t)?,
        })
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Binds every rule's listener (a stale Unix socket file is replaced), so that the caller
/// can report readiness, and returns the future that serves them all.
pub async fn bind(rules: Vec<Rule>) -> io::Result<impl Future<Output = ()>> {
    let mut bound = Vec::new();
    for rule in rules {
        let listener = match &rule.listen {
            Addr::Tcp(a) => Listener::Tcp(TcpListener::bind(a).await.map_err(|e| {
                io::Error::new(e.kind(), format!("listen on {}: {e}", rule.listen))
            })?),
            Addr::Unix(p) => {
                let _ = std::fs::remove_file(p);
                Listener::Unix(UnixListener::bind(p).map_err(|e| {
                    io::Error::new(e.kind(), format!("listen on {}: {e}", rule.listen))
                })?)
            }
        };
        bound.push((listener, rule.target));
    }
    Ok(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, target) in bound {
            tasks.spawn(accept_loop(listener, target));
        }
        while tasks.join_next().await.is_some() {}
    })
}

async fn accept_loop(listener: Listener, target: Addr) {
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                tokio::spawn(pipe(s, target.clone()))
            }),
            Listener::Unix(l) => l
                .accept()
                .await
                .map(|(s, _)| tokio::spawn(pipe(s, target.clone()))),
        };
        if let Err(e) = accepted {
            eprintln!("pw-forward: accept failed: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn pipe<A: AsyncRead + AsyncWrite + Unpin>(mut a: A, target: Addr) {
    let r = match &target {
        Addr::Tcp(t) => match TcpStream::connect(t).await {
            Ok(mut b) => {
                let _ = b.set_nodelay(true);
                tokio::io::copy_bidirectional(&mut a, &mut b)
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        },
        Addr::Unix(p) => match UnixStream::connect(p).await {
            Ok(mut b) => tokio::io::copy_bidirectional(&mut a, &mut b)
                .await
                .map(drop),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = r
        && !matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    {
        eprintln!("pw-forward: connection to {target}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        let r = Rule::parse("tcp:10.43.0.1:10993=unix:/tmp/x/10993.sock").unwrap();
        assert_eq!(r.listen, Addr::Tcp("10.43.0.1:10993".parse().unwrap()));
        assert_eq!(r.target, Addr::Unix(PathBuf::from("/tmp/x/10993.sock")));
        assert_eq!(r.listen.to_string(), "tcp:10.43.0.1:10993");
        let r = Rule::parse("unix:/a=tcp:127.0.0.1:1").unwrap();
        assert_eq!(r.target, Addr::Tcp("127.0.0.1:1".parse().unwrap()));
    }

    #[test]
    fn bad_rules_are_named() {
        assert!(
            Rule::parse("tcp:1.2.3.4:5")
                .unwrap_err()
                .contains("LISTEN=TARGET")
        );
        assert!(
            Rule::parse("tcp:nohost=unix:/a")
                .unwrap_err()
                .contains("IP:PORT")
        );
        assert!(
            Rule::parse("udp:1.2.3.4:5=unix:/a")
                .unwrap_err()
                .contains("expected tcp:")
        );
        assert!(
            Rule::parse("unix:=tcp:1.2.3.4:5")
                .unwrap_err()
                .contains("empty path")
        );
    }

    #[tokio::test]
    async fn forwards_tcp_through_a_unix_socket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let (mut r, mut w) = s.split();
            tokio::io::copy(&mut r, &mut w).await.unwrap();
        });
        // A free port for the front listener.
        let front = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let sock =
            std::env::temp_dir().join(format!("pw-forward-test-{}.sock", std::process::id()));
        let rules = vec![
            Rule {
                listen: Addr::Tcp(front),
                target: Addr::Unix(sock.clone()),
            },
            Rule {
                listen: Addr::Unix(sock.clone()),
                target: Addr::Tcp(echo_addr),
            },
        ];
        tokio::spawn(bind(rules).await.unwrap());
        let mut c = TcpStream::connect(front).await.unwrap();
        c.write_all(b"hello through two hops").await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"hello through two hops");
        let _ = std::fs::remove_file(sock);
    }
}
