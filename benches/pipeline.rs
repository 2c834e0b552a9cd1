//! In-process figures for the compiler, phase by phase: parse (TOML → spec), model,
//! render (templates → value) and serialize (value → YAML), for specs of growing size;
//! and the macro's expansion. Prints a table; passes or fails on nothing.
//!
//! `cargo bench --bench pipeline` (full) or `cargo bench --bench pipeline -- --quick`.

use rotgen::cfn_macro::{ExpandOptions, expand};
use rotgen::model::{self, Options};
use std::time::{Duration, Instant};

fn spec(n: usize) -> String {
    let mut s = String::from(
        "[stack]\nname = \"bench\"\n\n[vpc]\nvpc_id = \"vpc-0abc1234def567890\"\nsubnet_ids = [\"subnet-0a1b2c3d4e5f60718\"]\n\n[schedule]\nexpression = \"rate(30 days)\"\nwindow = \"4h\"\n",
    );
    for i in 0..n {
        let service = ["postgres", "mysql", "redis"][i % 3];
        s.push_str(&format!(
            "\n[[secret]]\nid = \"S{i}\"\nname = \"prod/team-{}/service-{i}/credentials\"\nservice = \"{service}\"\n",
            i % 7
        ));
    }
    s
}

fn template(rotations: usize) -> serde_json::Value {
    let mut resources = serde_json::Map::new();
    for i in 0..rotations {
        resources.insert(
            format!("R{i}"),
            serde_json::json!({"Type": "Rotgen::Rotation", "Properties": {
                "function": {"code": "s3://b/rotgen.zip"}, "schedule": {"days": 30},
                "secret": [{"id": "App", "name": format!("app-{i}"), "service": "postgres"}]}}),
        );
    }
    serde_json::json!({"Resources": resources})
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick {
        &[1, 10, 100]
    } else {
        &[1, 10, 100, 500, 2000]
    };
    let iterations = if quick { 3 } else { 21 };
    println!("rotgen build, in process (median of {iterations} runs, ms)");
    println!(
        "{:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "secrets", "parse", "model", "render", "yaml", "total", "µs/secret"
    );
    for &n in sizes {
        let text = spec(n);
        let (mut p, mut m, mut r, mut y) = (vec![], vec![], vec![], vec![]);
        for _ in 0..iterations {
            let t0 = Instant::now();
            let s = rotgen::spec::from_toml(&text).expect("valid spec");
            let t1 = Instant::now();
            let mut model = model::resolve(&s, &Options::default()).expect("valid model");
            for g in &mut model.groups {
                g.template_file = format!("template.{}.yaml", g.template_file);
            }
            let t2 = Instant::now();
            let main = rotgen::render::main_template(&model).expect("renders");
            let nested: Vec<_> = if model.nested {
                model
                    .groups
                    .iter()
                    .map(|g| rotgen::render::nested_template(&model, g).expect("renders"))
                    .collect()
            } else {
                Vec::new()
            };
            let t3 = Instant::now();
            let mut bytes = rotgen::yaml::to_string(&main).len();
            for v in &nested {
                bytes += rotgen::yaml::to_string(v).len();
            }
            let t4 = Instant::now();
            std::hint::black_box(bytes);
            p.push(t1 - t0);
            m.push(t2 - t1);
            r.push(t3 - t2);
            y.push(t4 - t3);
        }
        let (p, m, r, y) = (median(p), median(m), median(r), median(y));
        let total = p + m + r + y;
        println!(
            "{n:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12.1}",
            ms(p),
            ms(m),
            ms(r),
            ms(y),
            ms(total),
            total.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!();
    println!("rotgen expand, in process (median of {iterations} runs, ms)");
    println!("{:>10} {:>9}", "rotations", "expand");
    for &n in &[1usize, 10, 100] {
        let t = template(n);
        let mut refused = false;
        let times: Vec<Duration> = (0..iterations)
            .map(|_| {
                let t0 = Instant::now();
                // 100 rotations make more than 500 resources: the expansion is done in
                // full, then refused, as CloudFormation would refuse the stack.
                refused = std::hint::black_box(expand(&t, &ExpandOptions::default())).is_err();
                t0.elapsed()
            })
            .collect();
        let note = if refused {
            "  (refused: over a stack's quotas)"
        } else {
            ""
        };
        println!("{n:>10} {:>9}{note}", ms(median(times)));
    }
}
