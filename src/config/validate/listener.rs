//! Validation of `[[listener]]` tables: names, modes and the keys each
//! mode takes, listen addresses, upstream URLs, TLS on either side, and
//! addresses bound twice.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::super::defaults as d;
use super::super::raw::{self, Opt, Present};
use super::super::*;
use super::{span, Content, Ctx};

impl Ctx<'_> {
    pub(super) fn listeners(&mut self, ls: Vec<Spanned<raw::Listener>>) -> Vec<Option<Listener>> {
        if ls.is_empty() {
            self.err(
                ErrorKind::Missing,
                "listener",
                None,
                "at least one [[listener]] is required",
            );
        }
        let mut names: Vec<(String, usize)> = Vec::new();
        let mut out = Vec::new();
        for (i, l) in ls.into_iter().enumerate() {
            let at = span(&l);
            let l = l.into_inner();
            if let Some(n) = &l.name {
                if let Some((_, first)) = names.iter().find(|(x, _)| x == n.get_ref()) {
                    self.err(
                        ErrorKind::Invalid,
                        format!("listener[{i}].name"),
                        span(n),
                        format!(
                            "duplicate listener name {:?} (also listener[{first}].name): names \
                             must be unique",
                            n.get_ref()
                        ),
                    );
                } else {
                    names.push((n.get_ref().clone(), i));
                }
            }
            out.push(self.listener(i, at, l));
        }
        out
    }

    fn listener(
        &mut self,
        i: usize,
        at: Option<Range<usize>>,
        l: raw::Listener,
    ) -> Option<Listener> {
        let at = Place { i, at };
        let errors_before = self.errors.len();
        let name = self.listener_name(&at, &l);
        let kind = self.listener_kind(&at, &l);
        if let Some(kind) = kind {
            self.keys_of_other_modes(&at, &l, kind);
        }
        let public = l.public.as_ref().is_some_and(|b| *b.get_ref());
        let upstream = match &l.upstream {
            None => {
                let (p, s) = (at.key("upstream"), at.at.clone());
                self.err(ErrorKind::Missing, p, s, "missing key `upstream`");
                None
            }
            Some(u) => self.upstream(&at.key("upstream"), u, kind),
        };
        let max_connections = self.size(
            &at.key("max_connections"),
            &l.max_connections,
            d::MAX_CONNECTIONS,
        );
        let connect_timeout = self.millis(
            &at.key("connect_timeout_ms"),
            &l.connect_timeout_ms,
            d::CONNECT_TIMEOUT_MS,
        );
        let idle_timeout = self.millis(
            &at.key("idle_timeout_ms"),
            &l.idle_timeout_ms,
            d::IDLE_TIMEOUT_MS,
        );
        let message_timeout = self.millis(
            &at.key("message_timeout_ms"),
            &l.message_timeout_ms,
            d::MESSAGE_TIMEOUT_MS,
        );
        let mode = match kind {
            Some(Kind::Syslog) => self.syslog_mode(&at, &l, public, upstream.as_ref()),
            Some(Kind::Tcp) => self.tcp_mode(&at, &l, public),
            Some(Kind::Http) => self.http_mode(&at, &l, public),
            None => None,
        };
        let tls = l.tls.as_ref().and_then(|t| self.server_tls(i, t));
        let upstream_tls =
            self.client_tls(i, at.at.clone(), upstream.as_ref(), l.upstream_tls.as_ref());
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Listener {
            name: name?,
            public,
            upstream: upstream?,
            max_connections,
            connect_timeout,
            idle_timeout,
            message_timeout,
            tls,
            upstream_tls,
            mode: mode?,
        })
    }

    /// `name`: present, and usable as a metric label.
    fn listener_name(&mut self, at: &Place, l: &raw::Listener) -> Option<String> {
        let Some(n) = &l.name else {
            self.err(
                ErrorKind::Missing,
                at.key("name"),
                at.at.clone(),
                "missing key `name`",
            );
            return None;
        };
        let s = n.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            self.err(
                ErrorKind::Invalid,
                at.key("name"),
                span(n),
                "must be 1 to 64 characters of a-z, 0-9, '_' and '-' (it is the \
                 `listener` metric label)",
            );
        }
        Some(s.clone())
    }

    /// `mode`: present and known.
    fn listener_kind(&mut self, at: &Place, l: &raw::Listener) -> Option<Kind> {
        let Some(m) = &l.mode else {
            self.err(
                ErrorKind::Missing,
                at.key("mode"),
                at.at.clone(),
                "missing key `mode` (\"syslog\", \"tcp\" or \"http\")",
            );
            return None;
        };
        let kind = match m.get_ref().as_str() {
            "syslog" => Kind::Syslog,
            "tcp" => Kind::Tcp,
            "http" => Kind::Http,
            _ => {
                let msg = "must be \"syslog\", \"tcp\" or \"http\"";
                self.err(ErrorKind::Invalid, at.key("mode"), span(m), msg);
                return None;
            }
        };
        Some(kind)
    }

    /// Each key that only another mode takes is an error.
    fn keys_of_other_modes(&mut self, at: &Place, l: &raw::Listener, kind: Kind) {
        let (this, wrong): (&str, Vec<(Present, &str)>) = match kind {
            Kind::Syslog => (
                "syslog",
                tag(l.tcp_only_keys(), "\"tcp\"")
                    .chain(tag(l.http_only_keys(), "\"http\""))
                    .chain(tag(l.stream_listen_key(), "\"tcp\" and \"http\""))
                    .collect(),
            ),
            Kind::Tcp => (
                "tcp",
                tag(l.syslog_only_keys(), "\"syslog\"")
                    .chain(tag(l.http_only_keys(), "\"http\""))
                    .collect(),
            ),
            Kind::Http => (
                "http",
                tag(l.syslog_only_keys(), "\"syslog\"")
                    .chain(tag(l.tcp_only_keys(), "\"tcp\""))
                    .collect(),
            ),
        };
        for ((key, span), other) in wrong {
            self.err(
                ErrorKind::Invalid,
                at.key(key),
                Some(span),
                format!(
                    "`{key}` applies to mode = {other} listeners only; this listener has \
                     mode = \"{this}\""
                ),
            );
        }
    }

    /// The addresses of `key` (`listen_tcp`, `listen_udp`).
    fn listen_addrs(
        &mut self,
        at: &Place,
        key: &str,
        v: &Opt<Vec<Spanned<String>>>,
        public: bool,
    ) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for (j, a) in v.iter().flat_map(|v| v.get_ref()).enumerate() {
            let path = format!("{}[{j}]", at.key(key));
            out.extend(self.listen_addr(&path, a, public, &at.me()));
        }
        out
    }

    fn syslog_mode(
        &mut self,
        at: &Place,
        l: &raw::Listener,
        public: bool,
        upstream: Option<&Upstream>,
    ) -> Option<Mode> {
        let listen_tcp = self.listen_addrs(at, "listen_tcp", &l.listen_tcp, public);
        let listen_udp = self.listen_addrs(at, "listen_udp", &l.listen_udp, public);
        if listen_tcp.is_empty() && listen_udp.is_empty() && !self.has_errors_at(at, "listen_") {
            self.err(
                ErrorKind::Missing,
                at.key("listen_tcp"),
                at.at.clone(),
                "a syslog listener needs at least one listen_tcp or listen_udp address",
            );
        }
        let framing = self.framing(at, l, upstream);
        let max_message_size = self.size(
            &at.key("max_message_size"),
            &l.max_message_size,
            d::MAX_MESSAGE_SIZE,
        );
        let queue_bytes = self.size(&at.key("queue_bytes"), &l.queue_bytes, d::QUEUE_BYTES);
        if queue_bytes < max_message_size {
            let span = l
                .queue_bytes
                .as_ref()
                .or(l.max_message_size.as_ref())
                .and_then(span);
            self.err(
                ErrorKind::Invalid,
                at.key("queue_bytes"),
                span,
                format!(
                    "{queue_bytes} is less than max_message_size ({max_message_size}): the \
                     queue must hold at least one message of the largest size"
                ),
            );
        }
        let max_datagram = self.size(&at.key("max_datagram"), &l.max_datagram, d::MAX_DATAGRAM);
        if let Some(tls) = &l.tls {
            let none =
                |v: &Opt<Vec<Spanned<String>>>| v.as_ref().is_none_or(|v| v.get_ref().is_empty());
            let problem = if none(&l.listen_tcp) {
                Some("TLS applies to listen_tcp addresses, and this listener has none")
            } else if !none(&l.listen_udp) {
                Some(
                    "TLS covers listen_tcp only, and UDP cannot use it: put the listen_udp \
                     addresses in a listener of their own so that no plaintext input hides \
                     behind a TLS listener",
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                self.err(ErrorKind::Invalid, at.key("tls"), span(tls), problem);
            }
        }
        Some(Mode::Syslog(Syslog {
            listen_tcp,
            listen_udp,
            framing,
            max_message_size,
            queue_bytes,
            max_datagram,
        }))
    }

    /// Whether a problem was recorded at a key of this listener starting
    /// with `prefix`.
    fn has_errors_at(&self, at: &Place, prefix: &str) -> bool {
        let p = at.key(prefix);
        self.errors.iter().any(|e| e.path.starts_with(&p))
    }

    /// `upstream_framing` (only for tcp:// and tls:// upstreams).
    fn framing(&mut self, at: &Place, l: &raw::Listener, upstream: Option<&Upstream>) -> Framing {
        let Some(f) = &l.upstream_framing else {
            return Framing::Preserve;
        };
        if upstream.is_some_and(|u| u.scheme == Scheme::Udp) {
            self.err(
                ErrorKind::Invalid,
                at.key("upstream_framing"),
                span(f),
                "applies to tcp:// and tls:// upstreams only (a udp:// upstream gets one \
                 message per datagram)",
            );
        }
        match f.get_ref().as_str() {
            "preserve" => Framing::Preserve,
            "octet" => Framing::Octet,
            "lf" => Framing::Lf,
            _ => {
                let msg = "must be \"preserve\", \"octet\" or \"lf\"";
                self.err(ErrorKind::Invalid, at.key("upstream_framing"), span(f), msg);
                Framing::Preserve
            }
        }
    }

    /// `listen` of a tcp or http listener (`example` in the message).
    fn stream_listen(
        &mut self,
        at: &Place,
        l: &raw::Listener,
        public: bool,
        what: &str,
    ) -> Option<SocketAddr> {
        let Some(a) = &l.listen else {
            self.err(
                ErrorKind::Missing,
                at.key("listen"),
                at.at.clone(),
                format!("{what} needs `listen` (for example \"127.0.0.1:6000\")"),
            );
            return None;
        };
        self.listen_addr(&at.key("listen"), a, public, &at.me())
    }

    fn tcp_mode(&mut self, at: &Place, l: &raw::Listener, public: bool) -> Option<Mode> {
        let listen = self.stream_listen(at, l, public, "a tcp listener");
        let flush = self.millis(&at.key("flush_ms"), &l.flush_ms, d::FLUSH_MS);
        listen.map(|listen| Mode::Tcp(Tcp { listen, flush }))
    }

    fn http_mode(&mut self, at: &Place, l: &raw::Listener, public: bool) -> Option<Mode> {
        let listen = self.stream_listen(at, l, public, "an http listener");
        let max_body = self.size(&at.key("max_body"), &l.max_body, d::MAX_BODY);
        let stream_above = self.size(&at.key("stream_above"), &l.stream_above, d::STREAM_ABOVE);
        let max_line = self.size(&at.key("max_line"), &l.max_line, d::MAX_LINE);
        let header_timeout = self.millis(
            &at.key("header_timeout_ms"),
            &l.header_timeout_ms,
            d::HEADER_TIMEOUT_MS,
        );
        listen.map(|listen| {
            Mode::Http(Http {
                listen,
                max_body,
                stream_above,
                max_line,
                header_timeout,
            })
        })
    }

    /// Parses an upstream URL for a listener of the given mode (`None`:
    /// the mode is unknown).
    fn upstream(
        &mut self,
        path: &str,
        v: &Spanned<String>,
        mode: Option<Kind>,
    ) -> Option<Upstream> {
        let checked = split_scheme(v.get_ref().trim(), mode)
            .and_then(|(scheme, rest)| scheme_fits(scheme, mode).map(|()| (scheme, rest)));
        let (scheme, rest) = match checked {
            Ok(x) => x,
            Err(msg) => {
                self.err(ErrorKind::Invalid, path, span(v), msg);
                return None;
            }
        };
        if matches!(scheme, Scheme::Http | Scheme::Https) {
            return self.http_upstream(path, v, scheme, rest);
        }
        let Some((host, port)) = host_port(rest) else {
            self.err(
                ErrorKind::Invalid,
                path,
                span(v),
                "expected SCHEME://HOST:PORT with a host name or IP address (IPv6 in \
                 brackets) and a port from 1 to 65535; credentials and paths are not accepted",
            );
            return None;
        };
        Some(Upstream {
            scheme,
            host,
            port,
            path: String::new(),
        })
    }

    /// The part of an `http://` or `https://` upstream after the scheme:
    /// `HOST[:PORT][/PREFIX]`, the port defaulting to the scheme's.
    fn http_upstream(
        &mut self,
        path: &str,
        v: &Spanned<String>,
        scheme: Scheme,
        rest: &str,
    ) -> Option<Upstream> {
        let (authority, prefix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let problem = if authority.contains('@') {
            "must not hold credentials (user:password@): clients' own headers are forwarded"
        } else if prefix.contains(['?', '#']) || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            "the path prefix must be a plain path (no query, fragment or spaces)"
        } else {
            ""
        };
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let hp = if problem.is_empty() {
            host_port(authority).or_else(|| {
                let bare = authority
                    .strip_prefix('[')
                    .and_then(|a| a.strip_suffix(']'));
                match bare {
                    Some(v6) => v6
                        .parse::<Ipv6Addr>()
                        .ok()
                        .map(|_| (v6.to_string(), default_port)),
                    None => host_ok(authority).then(|| (authority.to_string(), default_port)),
                }
            })
        } else {
            None
        };
        match hp {
            Some((host, port)) => Some(Upstream {
                scheme,
                host,
                port,
                path: prefix.trim_end_matches('/').to_string(),
            }),
            None => {
                let problem = if problem.is_empty() {
                    "expected http://HOST[:PORT][/PREFIX] or https://HOST[:PORT][/PREFIX] with a \
                     host name or IP address (IPv6 in brackets) and a port from 1 to 65535"
                } else {
                    problem
                };
                self.err(ErrorKind::Invalid, path, span(v), problem);
                None
            }
        }
    }

    fn required_file(
        &mut self,
        path: String,
        table_at: Option<Range<usize>>,
        v: &Opt<String>,
        content: Content,
        what: &str,
    ) -> Option<PathBuf> {
        match v {
            None => {
                self.err(ErrorKind::Missing, path, table_at, what);
                None
            }
            Some(v) => self.file(&path, v, content),
        }
    }

    fn server_tls(&mut self, i: usize, t: &Spanned<raw::ServerTls>) -> Option<ServerTls> {
        let p = |key: &str| format!("listener[{i}].tls.{key}");
        let at = span(t);
        let t = t.get_ref();
        let cert = self.required_file(
            p("cert_file"),
            at.clone(),
            &t.cert_file,
            Content::Certs,
            "missing key: the listener's PEM certificate chain (cert_file and key_file come \
             together)",
        );
        let key = self.required_file(
            p("key_file"),
            at,
            &t.key_file,
            Content::PrivateKey,
            "missing key: the listener's PEM private key (cert_file and key_file come together)",
        );
        let client_ca = t
            .client_ca_file
            .as_ref()
            .and_then(|c| self.file(&p("client_ca_file"), c, Content::Certs));
        Some(ServerTls {
            cert_file: cert?,
            key_file: key?,
            client_ca_file: client_ca,
        })
    }

    fn client_tls(
        &mut self,
        i: usize,
        listener_at: Option<Range<usize>>,
        upstream: Option<&Upstream>,
        t: Option<&Spanned<raw::ClientTls>>,
    ) -> Option<ClientTls> {
        let p = |key: &str| format!("listener[{i}].upstream_tls.{key}");
        let is_tls = upstream.map(|u| matches!(u.scheme, Scheme::Tls | Scheme::Https));
        let Some(t) = t else {
            // An https:// upstream without the table trusts the system's CAs.
            let https = upstream.is_some_and(|u| u.scheme == Scheme::Https);
            if is_tls == Some(true) && !https {
                self.err(
                    ErrorKind::Missing,
                    p("ca_file"),
                    listener_at,
                    "a tls:// upstream needs [listener.upstream_tls] with ca_file (the PEM CAs \
                     its certificate must chain to)",
                );
            }
            return None;
        };
        let t_at = span(t);
        let t = t.get_ref();
        if is_tls == Some(false) {
            self.err(
                ErrorKind::Invalid,
                format!("listener[{i}].upstream_tls"),
                t_at.clone(),
                "applies to tls:// and https:// upstreams only: use tls://HOST:PORT (or \
                 https:// for an http listener) or remove this table",
            );
        }
        let ca = self.required_file(
            p("ca_file"),
            t_at.clone(),
            &t.ca_file,
            Content::Certs,
            "missing key: the PEM CAs the upstream's certificate must chain to",
        );
        let client_cert = self.client_cert(i, t);
        let server_name = match &t.server_name {
            Some(n) if upstream.is_some_and(|u| u.scheme == Scheme::Https) => {
                self.err(
                    ErrorKind::Invalid,
                    p("server_name"),
                    span(n),
                    "an https:// upstream is verified by its URL's host: remove server_name",
                );
                n.get_ref().clone()
            }
            Some(n) => {
                let ok = host_ok(n.get_ref()) || n.get_ref().parse::<IpAddr>().is_ok();
                if !ok {
                    self.err(
                        ErrorKind::Invalid,
                        p("server_name"),
                        span(n),
                        "must be a DNS name or an IP address",
                    );
                }
                n.get_ref().clone()
            }
            None => upstream.map(|u| u.host.clone()).unwrap_or_default(),
        };
        Some(ClientTls {
            ca_file: ca?,
            client_cert,
            server_name,
        })
    }

    /// `cert_file` and `key_file` of `[listener.upstream_tls]`: together or
    /// not at all.
    fn client_cert(&mut self, i: usize, t: &raw::ClientTls) -> Option<(PathBuf, PathBuf)> {
        let p = |key: &str| format!("listener[{i}].upstream_tls.{key}");
        let (missing, span) = match (&t.cert_file, &t.key_file) {
            (None, None) => return None,
            (Some(c), Some(k)) => {
                let c = self.file(&p("cert_file"), c, Content::Certs);
                let k = self.file(&p("key_file"), k, Content::PrivateKey);
                return c.zip(k);
            }
            (Some(c), None) => ("key_file", span(c)),
            (None, Some(k)) => ("cert_file", span(k)),
        };
        self.err(
            ErrorKind::Missing,
            p(missing),
            span,
            format!("cert_file and key_file come together: set {missing} too, or neither"),
        );
        None
    }

    /// Two binds of one protocol and address (port 0 excepted) cannot both
    /// succeed.
    pub(super) fn unique_binds(
        &mut self,
        listeners: &[Option<Listener>],
        metrics: Option<&Metrics>,
    ) {
        let mut seen: Vec<(&'static str, SocketAddr, String)> = Vec::new();
        if let Some(m) = metrics {
            seen.push(("tcp", m.listen, "metrics.listen".into()));
        }
        for (i, l) in listeners.iter().enumerate() {
            let Some(l) = l else { continue };
            for (proto, addr) in l.binds() {
                if addr.port() == 0 {
                    continue;
                }
                if let Some((_, _, other)) = seen.iter().find(|(p, a, _)| *p == proto && *a == addr)
                {
                    self.err(
                        ErrorKind::Invalid,
                        format!("listener[{i}]"),
                        None,
                        format!("{proto} {addr} is also bound by {other}"),
                    );
                } else {
                    seen.push((proto, addr, format!("listener[{i}]")));
                }
            }
        }
    }
}

/// A DNS host name (letters, digits, '-', '_', '.').
fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !h.starts_with('.')
        && !h.starts_with('-')
}

/// An upstream URL's scheme (a bare `HOST:PORT` is TCP, except for syslog,
/// which must say) and the rest; or what is wrong, quoting no value but a
/// scheme-looking word.
fn split_scheme(s: &str, mode: Option<Kind>) -> Result<(Scheme, &str), String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        if mode == Some(Kind::Syslog) {
            return Err(
                "syslog upstreams need a scheme: tcp://HOST:PORT, udp://HOST:PORT or \
                        tls://HOST:PORT"
                    .into(),
            );
        }
        return Ok((Scheme::Tcp, s));
    };
    let scheme = match scheme {
        "tcp" => Scheme::Tcp,
        "udp" => Scheme::Udp,
        "tls" => Scheme::Tls,
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            let looks_like_one = !other.is_empty()
                && other.len() <= 16
                && other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+');
            let shown = if looks_like_one {
                format!("unknown scheme \"{other}\"")
            } else {
                "unknown scheme".to_string()
            };
            let expected = match mode {
                Some(Kind::Syslog) => "syslog upstreams are tcp://, udp:// or tls://",
                Some(Kind::Tcp) => "tcp listeners forward to HOST:PORT, tcp:// or tls://",
                Some(Kind::Http) => {
                    "http listeners forward to http://HOST:PORT or https://HOST:PORT"
                }
                None => "expected tcp://, udp://, tls:// or http://",
            };
            return Err(format!("{shown}: {expected}"));
        }
    };
    Ok((scheme, rest))
}

/// Whether a listener of `mode` can forward to `scheme`.
fn scheme_fits(scheme: Scheme, mode: Option<Kind>) -> Result<(), String> {
    let Some(mode) = mode else { return Ok(()) };
    let http_scheme = matches!(scheme, Scheme::Http | Scheme::Https);
    let problem = match mode {
        Kind::Http if !http_scheme => {
            "http listeners forward to http://HOST:PORT or https://HOST:PORT"
        }
        Kind::Syslog | Kind::Tcp if http_scheme => {
            "http:// and https:// upstreams are for mode = \"http\" listeners"
        }
        Kind::Tcp if scheme == Scheme::Udp => {
            "a tcp listener forwards a byte stream: udp:// is for syslog listeners (use \
             HOST:PORT, tcp:// or tls://)"
        }
        _ => return Ok(()),
    };
    Err(problem.into())
}

/// A listener's mode, while its keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Syslog,
    Tcp,
    Http,
}

/// Where in the file a listener is: its index and the span of its table.
struct Place {
    i: usize,
    at: Option<Range<usize>>,
}

impl Place {
    /// `listener[i].key`.
    fn key(&self, key: &str) -> String {
        format!("listener[{}].{key}", self.i)
    }

    /// `listener[i]`.
    fn me(&self) -> String {
        format!("listener[{}]", self.i)
    }
}

/// Tags each present key with the mode(s) it belongs to.
fn tag(keys: Vec<Present>, mode: &'static str) -> impl Iterator<Item = (Present, &'static str)> {
    keys.into_iter().map(move |k| (k, mode))
}

/// `host:port`, `1.2.3.4:port` or `[v6]:port`, port not 0.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, port) = rest.split_once("]:")?;
        h.parse::<Ipv6Addr>().ok()?;
        (h.to_string(), port)
    } else {
        let (h, port) = s.rsplit_once(':')?;
        if !host_ok(h) {
            return None;
        }
        (h.to_string(), port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    Some((host, port))
}
