//! `shatter construct`: the lower-bound construction end to end, its files read back and
//! checked against the closed forms they claim.

use crate::common::{json, ok, path_str};

#[test]
fn construct_writes_rows_per_dimension_and_atoms_per_cap() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("construct");
    let stdout = ok(&[
        "construct",
        "-q",
        "--d",
        "2,3,4",
        "--offset",
        "0.8",
        "--patience",
        "500",
        "--n",
        "128",
        "--seed",
        "2",
        "--out",
        path_str(&out),
    ])
    .stdout;
    let table = String::from_utf8_lossy(&stdout);
    assert_eq!(table.lines().count(), 4, "header and three rows:\n{table}");
    let csv = std::fs::read_to_string(out.join("construction.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    let col = |r: &Vec<&str>, name: &str| -> f64 {
        let i = header.iter().position(|h| *h == name).unwrap();
        r[i].parse()
            .unwrap_or_else(|_| panic!("{name} = {:?}", r[i]))
    };
    let doc = json(&out.join("construction.json"));
    let json_rows = doc["rows"].as_array().unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), header.len());
        let d = col(r, "d");
        assert_eq!(d, (i + 2) as f64);
        let caps = col(r, "caps");
        assert!(caps >= 2.0 && caps <= col(r, "packing_upper"), "{r:?}");
        // Disjoint supports: separation = sqrt(2) * ||f_j||.
        let sep = col(r, "separation") / col(r, "atom_l2");
        assert!((sep - 2f64.sqrt()).abs() < 1e-12, "{r:?}");
        assert_eq!(
            r[header.iter().position(|h| *h == "bound_holds").unwrap()],
            "true"
        );
        assert!(col(r, "vg_empirical") <= col(r, "vg_bound") + 1e-9, "{r:?}");
        assert_eq!(json_rows[i]["caps"].as_f64(), Some(caps));
        assert_eq!(json_rows[i]["bound_holds"], true);
        // One line per cap in atoms_d<d>.csv, unit directions, signs +-1.
        let atoms =
            std::fs::read_to_string(out.join(format!("atoms_d{}.csv", d as usize))).unwrap();
        let mut a = atoms.lines();
        let ah: Vec<&str> = a.next().unwrap().split(',').collect();
        assert_eq!(ah.len(), 2 + d as usize + 3, "{ah:?}");
        let arows: Vec<Vec<f64>> = a
            .map(|l| {
                l.split(',')
                    .take(2 + d as usize)
                    .map(|x| x.parse().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(arows.len() as f64, caps);
        for ar in &arows {
            assert!(ar[1] == 1.0 || ar[1] == -1.0);
            let norm: f64 = ar[2..].iter().map(|u| u * u).sum();
            assert!((norm - 1.0).abs() < 1e-12);
        }
    }
    assert_eq!(doc["settings"]["offset"], 0.8);
    // The same command gives the same bytes.
    let again = dir.path().join("again");
    ok(&[
        "construct",
        "-q",
        "--d",
        "2,3,4",
        "--offset",
        "0.8",
        "--patience",
        "500",
        "--n",
        "128",
        "--seed",
        "2",
        "--out",
        path_str(&again),
    ]);
    assert_eq!(
        csv,
        std::fs::read_to_string(again.join("construction.csv")).unwrap()
    );
}

/// `reproduce lower-bound` trains nothing: its report folder has no store, provenance says
/// 0 runs with the parameters, `--print-spec` prints the parameters.
#[test]
fn reproduce_lower_bound_writes_a_report_without_runs() {
    let dir = tempfile::tempdir().unwrap();
    let printed = ok(&["reproduce", "lower-bound", "--print-spec"]);
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(text.contains("offset = 0.9"), "{text}");
    assert!(text.contains("nothing is trained"), "{text}");
    let out = ok(&[
        "reproduce",
        "lower-bound",
        "-q",
        "--out",
        path_str(dir.path()),
    ]);
    let folder = dir.path().join("lower-bound");
    assert!(String::from_utf8_lossy(&out.stdout).contains("index.html"));
    assert!(!folder.join("results.db").exists());
    let prov = json(&folder.join("provenance.json"));
    assert_eq!(prov["runs"], 0);
    assert_eq!(prov["scale"], "quick");
    let claims = std::fs::read_to_string(folder.join("claims.csv")).unwrap();
    assert!(claims.contains("growth with d of the number of disjoint caps"));
    assert!(!claims.contains("differs"), "{claims}");
    for f in ["atoms_d2.svg", "atom_vg.png", "atom_counts.png"] {
        assert!(folder.join("figures").join(f).exists(), "{f}");
    }
}
