//! The public engine API: result shapes, limits that name themselves, error kinds, threads.

use std::time::Duration;

use promql::{
    Engine, EngineConfig, ErrorKind, Labels, Limit, MemoryQuerier, QueryError, QueryValue,
};

fn store(series: usize, points: i64) -> MemoryQuerier {
    let mut q = MemoryQuerier::new();
    for i in 0..series {
        let labels = Labels::from_pairs(&[
            ("__name__", "requests_total"),
            ("instance", &format!("i{}", i % 10)),
            ("id", &i.to_string()),
        ]);
        let samples: Vec<(i64, f64)> = (0..points)
            .map(|t| (t * 15_000, (t * (i as i64 + 1)) as f64))
            .collect();
        q.add(labels, &samples);
    }
    q
}

#[test]
fn instant_and_range_results() {
    let q = store(20, 40);
    let engine = Engine::new(EngineConfig::default());
    let r = engine
        .instant(&q, "sum by (instance) (rate(requests_total[5m]))", 585_000)
        .expect("runs");
    let QueryValue::Vector(v) = &r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(v.len(), 10);
    // Series i has slope (i+1)/15 per second; instance k sums ids k and k+10.
    let k0 = v
        .iter()
        .find(|s| s.labels.get("instance") == "i0")
        .expect("instance i0");
    assert!((k0.v - (1.0 + 11.0) / 15.0).abs() < 1e-9, "{}", k0.v);
    assert_eq!(r.stats.series_selected, 20);

    let r = engine
        .range(&q, "sum(requests_total)", 0, 585_000, 15_000)
        .expect("runs");
    let QueryValue::Matrix(m) = &r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.len(), 40);
    assert_eq!(m[0].labels, Labels::empty());

    let r = engine.instant(&q, "1 + 1", 0).expect("runs");
    assert_eq!(r.value, QueryValue::Scalar { t: 0, v: 2.0 });
    let r = engine
        .instant(&q, "requests_total{id=\"3\"}[1m]", 585_000)
        .expect("runs");
    let QueryValue::Matrix(m) = &r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(m[0].points.len(), 4);
}

#[test]
fn annotations_are_returned() {
    let mut q = MemoryQuerier::new();
    q.add(
        Labels::from_pairs(&[("__name__", "gauge")]),
        &[(0, 1.0), (15_000, 2.0)],
    );
    let r = Engine::default()
        .instant(&q, "rate(gauge[1m])", 15_000)
        .expect("runs");
    assert_eq!(r.annotations.infos, vec![r#"PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge" (1:6)"#.to_string()]);
}

#[track_caller]
fn check_limit(cfg: EngineConfig, query: &str, want: Limit) {
    let q = store(50, 40);
    let err = Engine::new(cfg)
        .range(&q, query, 0, 585_000, 15_000)
        .expect_err("over the limit");
    match &err {
        QueryError::LimitExceeded { limit, .. } => assert_eq!(*limit, want),
        other => panic!("{other}"),
    }
    assert_eq!(err.kind(), ErrorKind::Limit);
    assert!(err.to_string().contains(want.name()), "{err}");
}

#[test]
fn limits_fail_with_their_name() {
    check_limit(
        EngineConfig {
            max_series: Some(10),
            ..EngineConfig::default()
        },
        "sum(requests_total)",
        Limit::MaxSeries,
    );
    check_limit(
        EngineConfig {
            max_samples: Some(100),
            ..EngineConfig::default()
        },
        "sum(requests_total)",
        Limit::MaxSamples,
    );
    check_limit(
        EngineConfig {
            max_memory_bytes: Some(10_000),
            ..EngineConfig::default()
        },
        "sum(requests_total)",
        Limit::MaxMemory,
    );
    check_limit(
        EngineConfig {
            max_points_per_series: Some(10),
            ..EngineConfig::default()
        },
        "sum(requests_total)",
        Limit::MaxPointsPerSeries,
    );
    check_limit(
        EngineConfig {
            max_points_per_series: Some(100),
            ..EngineConfig::default()
        },
        "max_over_time(requests_total[10m:1s])",
        Limit::MaxPointsPerSeries,
    );
}

#[test]
fn deadline_is_enforced() {
    let q = store(50, 40);
    let cfg = EngineConfig {
        timeout: Some(Duration::ZERO),
        ..EngineConfig::default()
    };
    std::thread::sleep(Duration::from_millis(2));
    let err = Engine::new(cfg)
        .instant(&q, "sum(requests_total)", 585_000)
        .expect_err("timed out");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[test]
fn error_kinds() {
    let q = store(2, 4);
    let engine = Engine::default();
    let bad = engine.instant(&q, "sum(", 0).expect_err("parse error");
    assert_eq!(bad.kind(), ErrorKind::BadData);
    let bad = engine
        .range(&q, "requests_total[5m]", 0, 10, 1)
        .expect_err("matrix in range query");
    assert_eq!(bad.kind(), ErrorKind::BadData);
    assert_eq!(
        bad.to_string(),
        r#"invalid expression type "range vector" for range query, must be Scalar or instant Vector"#
    );
    let bad = engine
        .instant(&q, "requests_total + on() requests_total", 45_000)
        .expect_err("many to many");
    assert_eq!(bad.kind(), ErrorKind::Execution);
    let bad = engine
        .range(&q, "1", 10, 0, 1)
        .expect_err("end before start");
    assert_eq!(bad.kind(), ErrorKind::BadData);
}

#[test]
fn threads_do_not_change_results() {
    let q = store(500, 200);
    let one = Engine::new(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    });
    let four = Engine::new(EngineConfig {
        threads: 4,
        ..EngineConfig::default()
    });
    for query in [
        "rate(requests_total[1m])",
        "requests_total",
        "sum by (instance) (irate(requests_total[2m]))",
    ] {
        let a = one.range(&q, query, 0, 2_985_000, 15_000).expect("runs");
        let b = four.range(&q, query, 0, 2_985_000, 15_000).expect("runs");
        assert_eq!(a.value, b.value, "{query}");
    }
}

/// Counters and gauges with resets, gaps and staleness markers (no NaN: the comparison below
/// would drop it), from a fixed seed.
fn messy_store(seed: u64) -> MemoryQuerier {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut q = MemoryQuerier::new();
    for i in 0..60 {
        let name = if i % 3 == 0 {
            "gauge"
        } else {
            "requests_total"
        };
        let labels = Labels::from_pairs(&[
            ("__name__", name),
            ("instance", &format!("i{}", i % 7)),
            ("job", &format!("j{}", i % 2)),
            ("id", &i.to_string()),
        ]);
        let mut v = (next() % 100) as f64;
        let mut t = (next() % 30_000) as i64;
        let mut samples = Vec::new();
        while t < 3_600_000 {
            let r = next() % 100;
            let x = match r {
                1 => promql::stale_nan(),
                2..=4 => {
                    v = (next() % 10) as f64;
                    v
                }
                _ => {
                    v += (next() % 1000) as f64 / 7.0;
                    v
                }
            };
            samples.push((t, x));
            t += if r < 10 {
                (next() % 120_000) as i64 + 1
            } else {
                15_000
            };
        }
        q.add(labels, &samples);
    }
    q
}

/// An aggregation directly over a rollup folds each rollup result as it is computed; putting
/// a no-op filter between them (`> -Inf` keeps every non-NaN value and the labels) takes the
/// general path. Both must give the same values, order and annotations.
#[test]
fn aggregating_a_rollup_directly_changes_nothing() {
    let engine = Engine::new(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    });
    for seed in [1, 2, 3, 4] {
        let q = messy_store(seed);
        for agg in [
            "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
        ] {
            for grouping in ["", " by (instance)", " without (id)", " by (__name__, job)"] {
                for rollup in [
                    "rate(requests_total[5m])",
                    "increase({__name__=~\".+\"}[3m])",
                    "max_over_time(gauge[10m])",
                    "deriv(gauge[5m])",
                ] {
                    let fused = format!("{agg}{grouping} ({rollup})");
                    let general = format!("{agg}{grouping} ({rollup} > -Inf)");
                    let a = engine.range(&q, &fused, 0, 3_600_000, 60_000);
                    let b = engine.range(&q, &general, 0, 3_600_000, 60_000);
                    match (a, b) {
                        (Ok(a), Ok(b)) => {
                            // Debug text compares NaN results too.
                            let (x, y) = (format!("{:?}", a.value), format!("{:?}", b.value));
                            assert_eq!(x, y, "{fused}");
                            assert_eq!(a.annotations, b.annotations, "{fused}");
                        }
                        (a, b) => assert_eq!(a.err(), b.err(), "{fused}"),
                    }
                    let a = engine.instant(&q, &fused, 1_800_000);
                    let b = engine.instant(&q, &general, 1_800_000);
                    match (a, b) {
                        (Ok(a), Ok(b)) => {
                            // Debug text compares NaN results too.
                            let (x, y) = (format!("{:?}", a.value), format!("{:?}", b.value));
                            assert_eq!(x, y, "{fused}");
                            assert_eq!(a.annotations, b.annotations, "{fused}");
                        }
                        (a, b) => assert_eq!(a.err(), b.err(), "{fused}"),
                    }
                }
            }
        }
    }
}
