//! Criterion benchmarks for the HTTP sidecar's per-request body work, without
//! the network: what one request costs redactd's CPU besides HTTP itself.
//!
//! The body is the one `benches/http_proxy.sh` sends: a ~10 KB Elasticsearch
//! `_bulk` NDJSON text (20 documents with their action lines, realistic
//! access-log messages, two fake GitHub tokens with valid checksums), made
//! here from a fixed seed.
//!
//! # Benchmarks (group `redactd::scrub::body`)
//!
//! - `ndjson/identity`: decode (a no-op), redact as NDJSON, encode.
//! - `ndjson/gzip`: the same body gzip-compressed: decode, redact, re-encode.
//! - `text/identity`: the same bytes redacted as a plain stream, for
//!   comparison with the JSON-aware path.
//!
//! `cargo bench --bench http_body -- --quick` gives rough figures fast.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use redactd::engine::fingerprint::Fingerprinter;
use redactd::engine::{Options, Redactor, Style};
use redactd::formats::codec::{decode, encode, Coding};
use redactd::rules::template::{expand_one, Rng};
use redactd::rules::RuleSetBuilder;
use redactd::scrub::body::{BodyRedactor, Format};

fn bulk_body() -> Vec<u8> {
    let mut rng = Rng::from_seed(b"http_body bench");
    let mut out = String::new();
    for i in 0..20 {
        let mut msg = format!(
            "GET /api/v1/orders/{} 200 {}ms user=u{i} trace={}",
            1000 + i,
            rng.next_u64() % 900 + 1,
            rng.string("hex", 32).expect("class")
        );
        if i % 10 == 3 {
            let tok = expand_one(&format!("bench-{i}"), "ghp_{{crc62:36}}").expect("template");
            msg.push_str(" token ");
            msg.push_str(&tok);
        }
        out.push_str("{\"index\":{\"_index\":\"logs\"}}\n");
        out.push_str(&format!(
            "{{\"@timestamp\":\"2026-11-26T00:00:00Z\",\"service\":\"checkout\",\"level\":\"info\",\
             \"message\":\"{msg}\",\"host\":{{\"name\":\"web-01\"}},\"pad\":\"{}\"}}\n",
            rng.string("lower", 300).expect("class")
        ));
    }
    out.into_bytes()
}

fn bench_bodies(c: &mut Criterion) {
    let rules = redactd::check::load(&RuleSetBuilder::builtin()).expect("built-in rules load");
    let options = Options {
        style: Style::Label,
        fingerprinter: Arc::new(Fingerprinter::new(b"0123456789abcdef-bench", "k1").unwrap()),
        learned_values: redactd::config::defaults::LEARNED_VALUES.default_usize(),
    };
    let mut red = Redactor::new(rules, options);
    let mut scratch = BodyRedactor::new();
    let body = bulk_body();
    let limit = 16 << 20;

    let mut g = c.benchmark_group("redactd::scrub::body");
    g.throughput(Throughput::Bytes(body.len() as u64));
    for (name, coding, format) in [
        ("ndjson/identity", Coding::Identity, Format::Ndjson),
        ("ndjson/gzip", Coding::Gzip, Format::Ndjson),
        ("text/identity", Coding::Identity, Format::Text),
    ] {
        let wire = encode(coding, body.clone());
        let mut out = Vec::new();
        let mut findings = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                findings.clear();
                let decoded = decode(coding, black_box(&wire), limit).expect("decodes");
                scratch
                    .redact(&mut red, format, &decoded, limit, &mut out, &mut findings)
                    .expect("redacts");
                assert_eq!(findings.len(), 2, "{name}: both tokens found");
                black_box(encode(coding, std::mem::take(&mut out)))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_bodies);
criterion_main!(benches);
