//! Sweep specs: errors name key and line, expansion counts and order, shards.

use shatter_lab::sweep::{Shard, SweepSpec};
use std::collections::BTreeSet;

fn err_of(text: &str) -> String {
    match SweepSpec::from_toml(text, "s.toml").and_then(|s| s.points()) {
        Ok(points) => panic!("{text:?} was accepted ({} points)", points.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn spec_errors_name_the_key_and_the_line() {
    let cases: &[(&str, &[&str])] = &[
        // Unknown top-level key: the parser's message has the line.
        ("name = \"x\"\ngrids = 3\n", &["s.toml", "line 2", "grids"]),
        // Unknown run key in [base], with the list of keys.
        (
            "[base]\nd = 2\nlearning_rate = 0.1\n",
            &[
                "s.toml:3:",
                "[base] learning_rate",
                "unknown field",
                "width_per_n",
            ],
        ),
        // Wrong type in [base] and in [grid].
        (
            "[base]\nn = \"many\"\n",
            &["s.toml:2:", "[base] n", "invalid type"],
        ),
        (
            "[base]\nd = 2\n[grid]\n\nlr = [0.1, \"fast\"]\n",
            &["s.toml:5:", "[grid] lr"],
        ),
        // Out of range, found per point, pointing at the grid line.
        (
            "[base]\nepochs = 2\n[grid]\nd = [1, 2]\nlr = [0.5, -0.5]\n",
            &[
                "s.toml:5:",
                "lr = -0.5",
                "out of range",
                "point 1 of 4",
                "d=1 lr=-0.5",
            ],
        ),
        // Out of range in [base].
        (
            "[base]\nmomentum = 1.5\n[grid]\nd = [1]\n",
            &["s.toml:2:", "momentum", "[0, 1)"],
        ),
        // Zip lists of different lengths.
        (
            "[[zip]]\nlr = [0.1, 0.2]\nweight_decay = [0.0]\n",
            &["s.toml:3:", "[zip 1] weight_decay", "1 values but lr has 2"],
        ),
        // A key both fixed and varied.
        (
            "[base]\nd = 2\n[grid]\nd = [1, 2]\n",
            &["s.toml:4:", "[grid] d", "also set in [base]"],
        ),
        // width and width_per_n at once.
        (
            "[base]\nwidth = 8\n[grid]\nwidth_per_n = [2]\n",
            &["width and width_per_n"],
        ),
        (
            "[base]\nwidth_per_n = -1\n",
            &["s.toml:2:", "width_per_n", "positive"],
        ),
        // Empty axis.
        ("[grid]\nd = []\n", &["s.toml:2:", "[grid] d", "empty"]),
        // Unknown [measure] key, wrong keep type.
        (
            "[measure]\nevery = 3\n",
            &["s.toml:2:", "[measure] every", "sharpness_every"],
        ),
        (
            "[measure]\nmodels = \"yes\"\n",
            &["s.toml:2:", "[measure] models", "true or false"],
        ),
        // Repeated point.
        (
            "[grid]\nseed = [1, 2, 1]\n",
            &["points 0 (seed=1) and 2 (seed=1) are the same run"],
        ),
        // Bad names.
        (
            "[grid]\nactivation = [\"relu\", \"tanh\"]\n",
            &["s.toml:2:", "activation", "relu or gelu"],
        ),
    ];
    for (text, words) in cases {
        let err = err_of(text);
        for w in *words {
            assert!(err.contains(w), "spec {text:?}\nerror {err:?}\nlacks {w:?}");
        }
    }
}

#[test]
fn grid_and_zip_expand_in_file_order() {
    let text = "[base]\nepochs = 5\nwidth_per_n = 2\n[grid]\nseed = [0, 1, 2]\nn = [4, 8]\n[[zip]]\nlr = [0.2, 0.01]\nweight_decay = [0.0, 0.1]\n[grid.d]\n";
    // `[grid.d]` would be a table, not a list: rejected before expansion.
    assert!(SweepSpec::from_toml(text, "s.toml").is_err());
    let text = "[base]\nepochs = 5\nwidth_per_n = 2\n[grid]\nseed = [0, 1, 2]\nn = [4, 8]\n[[zip]]\nlr = [0.2, 0.01]\nweight_decay = [0.0, 0.1]\n";
    let spec = SweepSpec::from_toml(text, "s.toml").unwrap();
    let points = spec.points().unwrap();
    assert_eq!(points.len(), 3 * 2 * 2);
    let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels[0], "seed=0 n=4 lr=0.2 weight_decay=0.0");
    assert_eq!(labels[1], "seed=0 n=4 lr=0.01 weight_decay=0.1");
    assert_eq!(labels[2], "seed=0 n=8 lr=0.2 weight_decay=0.0");
    assert_eq!(labels[11], "seed=2 n=8 lr=0.01 weight_decay=0.1");
    for p in &points {
        assert_eq!(
            p.spec.width,
            Some(2 * p.spec.n.unwrap()),
            "width_per_n at {}",
            p.label
        );
        assert_eq!(p.spec.epochs, Some(5));
        assert_eq!(p.run_id, p.spec.run_id());
    }
    let ids: BTreeSet<&str> = points.iter().map(|p| p.run_id.as_str()).collect();
    assert_eq!(ids.len(), points.len(), "run ids are distinct");
    // Expansion is a pure function of the text.
    let again: Vec<String> = spec
        .points()
        .unwrap()
        .into_iter()
        .map(|p| p.run_id)
        .collect();
    assert_eq!(
        again,
        points.iter().map(|p| p.run_id.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn the_example_spec_has_the_papers_250_points() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cod-quick.toml");
    let spec = SweepSpec::from_file(std::path::Path::new(path)).unwrap();
    let points = spec.points().unwrap();
    assert_eq!(points.len(), 250);
    assert_eq!(spec.name, "cod-quick");
    for p in &points {
        assert_eq!(p.spec.width, Some(4 * p.spec.n.unwrap()));
        let (lr, wd) = (p.spec.lr.unwrap(), p.spec.weight_decay.unwrap());
        assert!(
            (lr, wd) == (0.2, 0.0) || (lr, wd) == (0.01, 0.1),
            "{}",
            p.label
        );
        assert_eq!(p.spec.sharpness_every, Some(0));
    }
}

#[test]
fn shard_slices_are_disjoint_and_cover_the_grid() {
    let spec = SweepSpec::from_toml(crate::TINY, "tiny.toml").unwrap();
    let points = spec.points().unwrap();
    for count in 1..=10 {
        let mut seen = vec![0; points.len()];
        for index in 1..=count {
            let shard = Shard { index, count };
            for p in points.iter().filter(|p| shard.contains(p.index)) {
                seen[p.index] += 1;
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "{count} shards: {seen:?}");
    }
    // Deterministic and balanced: shard i of N gets indices i-1, i-1+N, ...
    let shard: Shard = "2/3".parse().unwrap();
    let taken: Vec<usize> = points
        .iter()
        .filter(|p| shard.contains(p.index))
        .map(|p| p.index)
        .collect();
    assert_eq!(taken, vec![1, 4, 7]);
}
