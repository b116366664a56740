//! Checks the CUDA kernels on machines without a GPU: `harness.cpp` compiles `kernels.cu` as
//! host C++ with `shim.h` (blocks of 256 threads, barriers for `__syncthreads`, statics or a
//! per-block arena for shared memory, the blocks of a thread-block cluster at the same time)
//! and runs one epoch of every kernel, in double precision, on a batch packed by `pack.rs`, or
//! trains it for a few epochs with the fused kernel (one block or a cluster per run) in either
//! precision. The tests compare the results with the CPU engine. Needs a C++20 compiler (`c++`,
//! or `$CXX`).

#[cfg(test)]
mod tests {
    use crate::pack::{Packed, THREADS};
    use rand::{Rng, SeedableRng};
    use shatter_core::batch::BatchRun;
    use shatter_core::data::generate::{generate, DataSpec, Labels};
    use shatter_core::grad::{backward, forward, hvp, mean_squared_error, Workspace};
    use shatter_core::hessian::hvp::expand_vector;
    use shatter_core::hessian::lanczos::LanczosOptions;
    use shatter_core::train::{train, Control, RunStatus, TrainConfig};
    use shatter_core::{Activation, Dataset, Loss, Network, Shape};
    use std::path::Path;
    use std::process::Command;

    /// Values the harness reads as raw little-endian arrays.
    trait Raw: Copy {
        fn bytes(self, out: &mut Vec<u8>);
    }
    impl Raw for f64 {
        fn bytes(self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
    }
    impl Raw for i64 {
        fn bytes(self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
    }
    impl Raw for i32 {
        fn bytes(self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
    }

    fn write<T: Raw>(dir: &Path, name: &str, v: &[T]) {
        let mut bytes = Vec::with_capacity(std::mem::size_of_val(v));
        for &x in v {
            x.bytes(&mut bytes);
        }
        std::fs::write(dir.join(name), bytes).expect("temp dir is writable");
    }

    fn read_f64(dir: &Path, name: &str) -> Vec<f64> {
        std::fs::read(dir.join(name))
            .expect("harness wrote its output")
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }

    fn read_i32(dir: &Path, name: &str) -> Vec<i32> {
        std::fs::read(dir.join(name))
            .expect("harness wrote its output")
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }

    struct Case {
        shape: Shape,
        n: usize,
        cfg: TrainConfig,
        test: bool,
    }

    #[allow(clippy::too_many_arguments)]
    fn case(
        d: usize,
        width: usize,
        n: usize,
        bias: bool,
        activation: Activation,
        loss: Loss,
        clip: Option<f64>,
        momentum: f64,
        test: bool,
    ) -> Case {
        Case {
            shape: Shape {
                d,
                width,
                bias,
                activation,
            },
            n,
            test,
            cfg: TrainConfig {
                epochs: 1,
                lr: 0.1,
                weight_decay: 0.01,
                clip,
                momentum,
                batch_size: None,
                loss,
                sharpness_every: 0,
                test_every: 0,
                log_every: 1,
                lanczos: LanczosOptions::default(),
                mixup_alpha: None,
                seed: 0,
            },
        }
    }

    /// The emulator's sources, built into the test binary so that it runs on any machine
    /// (a GPU machine gets the test binaries without the source tree).
    const SOURCES: [(&str, &str); 3] = [
        ("src/kernels.cu", include_str!("../kernels.cu")),
        ("src/emulator/shim.h", include_str!("shim.h")),
        ("src/emulator/harness.cpp", include_str!("harness.cpp")),
    ];

    /// Writes the sources under `dir` (in their tree, for the relative `#include`s) and
    /// compiles the harness with `cxx`; returns the executable.
    fn build_harness(cxx: &str, dir: &Path) -> std::path::PathBuf {
        let tree = dir.join("source");
        for (path, text) in SOURCES {
            let at = tree.join(path);
            std::fs::create_dir_all(at.parent().expect("a folder")).expect("temp dir");
            std::fs::write(&at, text).expect("temp dir is writable");
        }
        let exe = dir.join("harness");
        let built = Command::new(cxx)
            .args(["-std=c++20", "-O1", "-pthread", "-w", "-o"])
            .arg(&exe)
            .arg(tree.join("src/emulator/harness.cpp"))
            .output()
            .unwrap_or_else(|e| panic!("this test needs a C++20 compiler ({cxx}): {e}"));
        assert!(
            built.status.success(),
            "compiling the kernel emulator failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        exe
    }

    fn close(a: f64, b: f64, scale: f64) -> bool {
        (a - b).abs() <= 1e-11 * scale.max(1.0)
    }

    #[test]
    #[allow(clippy::print_stderr)] // A skip outside CI says why.
    fn emulated_kernels_match_the_cpu_engine() {
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        if let Err(e) = Command::new(&cxx).arg("--version").output() {
            // Without a compiler the check cannot run: a failure in CI (`CI` set; .ci/run
            // installs g++), a printed skip elsewhere.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have a C++20 compiler ({cxx}: {e}); .ci/run installs g++"
            );
            eprintln!("skipping emulated_kernels_match_the_cpu_engine: no C++ compiler ({cxx}: {e}); install g++ or set CXX");
            return;
        }
        let cases = [
            case(
                3,
                40,
                50,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                true,
            ),
            case(
                3,
                300,
                37,
                false,
                Activation::Gelu,
                Loss::Mse,
                Some(0.5),
                0.9,
                false,
            ),
            case(
                17,
                20,
                33,
                true,
                Activation::Relu,
                Loss::Square,
                Some(1e6),
                0.0,
                true,
            ),
            case(
                1,
                16,
                70,
                true,
                Activation::Gelu,
                Loss::Logistic,
                None,
                0.0,
                true,
            ),
            case(
                1,
                5,
                3,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                false,
            ),
            // Padded to 96: the partially unrolled kernels.
            case(
                70,
                8,
                40,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                true,
            ),
            // Switched off: no kernel may touch it.
            case(
                3,
                10,
                20,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                true,
            ),
        ];
        let off = cases.len() - 1;
        let on: Vec<i32> = (0..cases.len()).map(|r| (r != off) as i32).collect();
        let mut nets = Vec::new();
        let mut sets = Vec::new();
        for (s, c) in cases.iter().enumerate() {
            let mut spec = DataSpec::new(c.n, c.shape.d);
            if c.cfg.loss == Loss::Logistic {
                spec.labels = Labels::Bernoulli;
            }
            let problem = generate(&spec, s as u64).expect("valid spec");
            let test = problem.test_set(45);
            sets.push((problem.train, test));
            nets.push(Network::<f64>::init(c.shape, s as u64, 1.0));
        }
        let start = nets.clone();
        let runs: Vec<BatchRun<'_, f64>> = nets
            .iter_mut()
            .zip(&sets)
            .zip(&cases)
            .map(|((net, (train_set, test_set)), c)| BatchRun {
                net,
                data: train_set,
                test: c.test.then_some(test_set),
                cfg: &c.cfg,
            })
            .collect();
        let packed = Packed::new(&runs);
        drop(runs);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let dirs: Vec<Vec<f64>> = cases
            .iter()
            .map(|c| {
                (0..c.shape.trainable())
                    .map(|_| rng.random::<f64>() - 0.5)
                    .collect()
            })
            .collect();
        let mut dir_all = vec![0.0; packed.param_len()];
        for (r, x) in dirs.iter().enumerate() {
            packed.expand(r, x, &mut dir_all);
        }

        let tmp = tempfile::tempdir().expect("temp dir");
        // SHATTER_EMULATOR_DIR keeps the inputs and outputs for debugging.
        let kept = std::env::var_os("SHATTER_EMULATOR_DIR").map(std::path::PathBuf::from);
        let dir = kept.as_deref().unwrap_or(tmp.path());
        std::fs::create_dir_all(dir).expect("emulator directory");
        write(dir, "meta.bin", &packed.meta);
        write(dir, "hyper.bin", &packed.hyper);
        write(dir, "x.bin", &packed.x);
        write(dir, "y.bin", &packed.y);
        write(dir, "xt.bin", &packed.xt);
        write(dir, "yt.bin", &packed.yt);
        write(dir, "p.bin", &packed.params);
        write(dir, "dir.bin", &dir_all);
        write(dir, "step_tiles.bin", &packed.step_tiles);
        write(dir, "on.bin", &on);
        let mut groups = String::new();
        for (g, group) in packed.groups.iter().enumerate() {
            let act = match group.activation {
                Activation::Relu => 0,
                Activation::Gelu => 1,
            };
            groups.push_str(&format!("{} {act}\n", group.dp));
            write(dir, &format!("group{g}_s.bin"), &group.sample_tiles);
            write(dir, &format!("group{g}_t.bin"), &group.test_tiles);
            write(dir, &format!("group{g}_n.bin"), &group.neuron_tiles);
        }
        std::fs::write(dir.join("groups.txt"), groups).expect("temp dir is writable");

        let exe = build_harness(&cxx, dir);
        let ran = Command::new(&exe).arg(dir).output().expect("harness runs");
        assert!(
            ran.status.success(),
            "harness failed ({}) in {}: {}",
            ran.status,
            dir.display(),
            String::from_utf8_lossy(&ran.stderr)
        );

        let g_out = read_f64(dir, "g.out");
        let (loss, gnorm, scale) = (
            read_f64(dir, "loss.out"),
            read_f64(dir, "gnorm.out"),
            read_f64(dir, "scale.out"),
        );
        let (hv_out, qsum, tsum, p_out) = (
            read_f64(dir, "hv.out"),
            read_f64(dir, "qsum.out"),
            read_f64(dir, "tsum.out"),
            read_f64(dir, "p.out"),
        );
        assert_eq!(read_i32(dir, "div.out"), vec![-1; cases.len()]);
        assert!(packed.groups.iter().any(|g| g.dp == 96));
        // The run switched off keeps its parameters, and no output of it is written.
        let l = &packed.runs[off];
        let block = l.p_off..l.p_off + l.plen;
        assert_eq!(&p_out[block.clone()], &packed.params[block.clone()]);
        assert!(g_out[block.clone()]
            .iter()
            .chain(&hv_out[block])
            .all(|&v| v == 0.0));
        assert_eq!((loss[off], qsum[off], tsum[off]), (0.0, 0.0, 0.0));
        for (r, c) in cases.iter().enumerate().take(off) {
            let net = &start[r];
            let (data, test): (&Dataset<f64>, &Dataset<f64>) = (&sets[r].0, &sets[r].1);
            let shape = c.shape;
            let mut ws = Workspace::new(shape, data.n);
            let l = forward(net, data, c.cfg.loss, &mut ws);
            let mut grad = vec![0.0; shape.len()];
            backward(net, data, &mut ws, &mut grad);
            assert!(close(loss[r], l, l), "run {r}: loss {} vs {l}", loss[r]);
            let mut g_net = Network::zeros(shape);
            packed.read_params(r, &g_out, &mut g_net);
            let big = grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (t, (a, b)) in g_net.params.iter().zip(&grad).enumerate() {
                assert!(
                    close(*a, *b, big),
                    "run {r}: gradient entry {t}: {a} vs {b}"
                );
            }
            let norm = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(close(gnorm[r], norm, norm), "run {r}: gradient norm");
            let want_scale = c.cfg.clip.map_or(1.0, |k| (k / (norm + 1e-6)).min(1.0));
            assert!(close(scale[r], want_scale, 1.0), "run {r}: clip factor");
            // Hessian-vector product along the run's direction.
            let full = expand_vector(&shape, &dirs[r]);
            let mut out = vec![0.0; shape.len()];
            hvp(net, data, &mut ws, &full, &mut out);
            if !shape.bias {
                out.drain(shape.b_offset()..shape.v_offset());
            }
            let mut got = vec![0.0; shape.trainable()];
            packed.compress(r, &hv_out, qsum[r], &mut got);
            let big = out.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (t, (a, b)) in got.iter().zip(&out).enumerate() {
                assert!(close(*a, *b, big), "run {r}: Hv entry {t}: {a} vs {b}");
            }
            // Test error.
            if c.test {
                let mut tws = Workspace::new(shape, test.n);
                let mse = mean_squared_error(net, test, &mut tws);
                let got = 2.0 * tsum[r] / test.n as f64;
                assert!(close(got, mse, mse), "run {r}: test MSE {got} vs {mse}");
            }
            // One epoch of the CPU loop gives the updated parameters.
            let mut stepped = net.clone();
            train(&mut stepped, data, None, &c.cfg, &mut |_| Control::Continue);
            let mut p_net = Network::zeros(shape);
            packed.read_params(r, &p_out, &mut p_net);
            for (t, (a, b)) in p_net.params.iter().zip(&stepped.params).enumerate() {
                assert!(
                    close(*a, *b, 1.0),
                    "run {r}: parameter {t} after the step: {a} vs {b}"
                );
            }
        }
        // Every neuron tile and step tile was covered (a missed tile leaves zeros above).
        assert!(packed.step_tiles.len() / 2 >= packed.param_len() / THREADS);
    }

    /// Writes the batch files the harness reads (`meta.bin`, `x.bin`, ..., `groups.txt` and
    /// each group's tiles and members).
    /// Writes a packed batch for the harness; `clusters[r]` blocks train run `r` in the fused
    /// kernel.
    fn write_batch(dir: &Path, packed: &Packed<f64>, on: &[i32], clusters: &[usize]) {
        write(dir, "meta.bin", &packed.meta);
        write(dir, "hyper.bin", &packed.hyper);
        write(dir, "x.bin", &packed.x);
        write(dir, "y.bin", &packed.y);
        write(dir, "xt.bin", &packed.xt);
        write(dir, "yt.bin", &packed.yt);
        write(dir, "p.bin", &packed.params);
        write(dir, "step_tiles.bin", &packed.step_tiles);
        write(dir, "on.bin", on);
        let mut groups = String::new();
        for (g, group) in packed.groups.iter().enumerate() {
            let act = match group.activation {
                Activation::Relu => 0,
                Activation::Gelu => 1,
            };
            groups.push_str(&format!("{} {act}\n", group.dp));
            write(dir, &format!("group{g}_s.bin"), &group.sample_tiles);
            write(dir, &format!("group{g}_t.bin"), &group.test_tiles);
            write(dir, &format!("group{g}_n.bin"), &group.neuron_tiles);
            write(dir, &format!("group{g}_r.bin"), &group.members);
            let sizes: Vec<i32> = group
                .members
                .iter()
                .map(|&r| clusters[r as usize] as i32)
                .collect();
            write(dir, &format!("group{g}_c.bin"), &sizes);
        }
        std::fs::write(dir.join("groups.txt"), groups).expect("temp dir is writable");
    }

    /// The fused kernel (`fused` in kernels.cu) trains every run of a batch for a few epochs,
    /// in two launches (the second starting with the update), in `precision` ("float" or
    /// "double"); the parameters, loss, gradient norm, clipping factor, gradient and divergence
    /// match `shatter_core::train::train` in that precision, to 1e-11 in f64.
    fn fused_matches<T: crate::GpuFloat>(precision: &str, tol: f64) {
        let Some(cxx) = compiler() else {
            return;
        };
        const EPOCHS: usize = 6;
        let mut cases = vec![
            case(
                3,
                40,
                50,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                false,
            ),
            // More neurons than threads: two rounds of the gradient.
            case(
                3,
                300,
                37,
                false,
                Activation::Gelu,
                Loss::Mse,
                Some(0.5),
                0.9,
                false,
            ),
            case(
                17,
                20,
                33,
                true,
                Activation::Relu,
                Loss::Square,
                Some(1e6),
                0.0,
                false,
            ),
            case(
                17,
                24,
                41,
                true,
                Activation::Gelu,
                Loss::Square,
                Some(0.05),
                0.5,
                false,
            ),
            case(
                1,
                16,
                70,
                true,
                Activation::Gelu,
                Loss::Logistic,
                None,
                0.0,
                false,
            ),
            case(
                1,
                5,
                3,
                false,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                false,
            ),
            // Padded to 96: the partially unrolled loops.
            case(
                70,
                8,
                40,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.9,
                false,
            ),
            // Trained by thread-block clusters (sizes below): more neurons than a block's
            // threads, with blocks of the cluster that own none; momentum; no bias, GELU, mse
            // and clipping; and more samples than one chunk of the cluster's sums (1024).
            case(
                3,
                600,
                80,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.9,
                false,
            ),
            case(
                3,
                520,
                60,
                false,
                Activation::Gelu,
                Loss::Mse,
                Some(0.5),
                0.0,
                false,
            ),
            case(
                1,
                8,
                1100,
                true,
                Activation::Relu,
                Loss::Mse,
                None,
                0.0,
                false,
            ),
            // Diverges (a non-finite loss) inside the first launch, in a cluster of 2.
            case(
                3,
                12,
                30,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                false,
            ),
            // Switched off: the kernel may not touch it.
            case(
                3,
                10,
                20,
                true,
                Activation::Relu,
                Loss::Square,
                None,
                0.0,
                false,
            ),
        ];
        let (diverging, off) = (cases.len() - 2, cases.len() - 1);
        cases[diverging].cfg.lr = 1e150;
        // Blocks per run in the fused kernel: clusters of 4 and 2 for the wide runs (in f32,
        // 512 threads a block, two of the four blocks of run 7 and one of the two of run 8 own
        // neurons; in f64, 256 threads, three of four and both), 2 for the long and the
        // diverging run.
        let mut clusters = vec![1; cases.len()];
        for (r, cl) in [(7, 4), (8, 2), (9, 2), (diverging, 2)] {
            clusters[r] = cl;
        }
        for c in &mut cases {
            c.cfg.epochs = EPOCHS;
        }
        let on: Vec<i32> = (0..cases.len()).map(|r| (r != off) as i32).collect();
        let mut sets = Vec::new();
        let mut nets = Vec::new();
        for (s, c) in cases.iter().enumerate() {
            let mut spec = DataSpec::new(c.n, c.shape.d);
            if c.cfg.loss == Loss::Logistic {
                spec.labels = Labels::Bernoulli;
            }
            sets.push(generate(&spec, s as u64 + 100).expect("valid spec").train);
            nets.push(Network::<f64>::init(c.shape, s as u64 + 100, 1.0));
        }
        let start = nets.clone();
        let runs: Vec<BatchRun<'_, f64>> = nets
            .iter_mut()
            .zip(&sets)
            .zip(&cases)
            .map(|((net, data), c)| BatchRun {
                net,
                data,
                test: None,
                cfg: &c.cfg,
            })
            .collect();
        let packed = Packed::new(&runs);
        drop(runs);
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        write_batch(dir, &packed, &on, &clusters);
        let exe = build_harness(&cxx, dir);
        let ran = Command::new(&exe)
            .arg(dir)
            .args(["fused", precision, &EPOCHS.to_string()])
            .output()
            .expect("harness runs");
        assert!(
            ran.status.success(),
            "harness failed ({}): {}",
            ran.status,
            String::from_utf8_lossy(&ran.stderr)
        );
        let (p_out, g_out) = (read_f64(dir, "p.out"), read_f64(dir, "g.out"));
        let (loss, gnorm, scale) = (
            read_f64(dir, "loss.out"),
            read_f64(dir, "gnorm.out"),
            read_f64(dir, "scale.out"),
        );
        let (div, on_out) = (read_i32(dir, "div.out"), read_i32(dir, "on.out"));
        let e1 = read_f64(dir, "e1.out");
        let l = &packed.runs[off];
        let rounded: Vec<f64> = packed.params[l.p_off..l.p_off + l.plen]
            .iter()
            .map(|&x| {
                if precision == "float" {
                    x as f32 as f64
                } else {
                    x
                }
            })
            .collect();
        assert_eq!(&p_out[l.p_off..l.p_off + l.plen], &rounded[..]);
        assert_eq!((loss[off], div[off], on_out[off]), (0.0, -1, 0));
        for (r, c) in cases.iter().enumerate().take(off) {
            let data: Dataset<T> = sets[r].cast();
            let mut net: Network<T> = start[r].cast();
            let out = train(&mut net, &data, None, &c.cfg, &mut |_| Control::Continue);
            let last = out.trajectory.last().expect("records");
            if r == diverging {
                let RunStatus::Diverged { epoch, .. } = out.status else {
                    panic!("run {r} does not diverge on the CPU: {:?}", out.status);
                };
                assert!(epoch > 0 && epoch < EPOCHS, "{epoch}");
                assert_eq!((div[r], on_out[r]), (epoch as i32, 0), "run {r}");
                continue;
            }
            assert_eq!(out.status, RunStatus::Completed, "run {r}");
            assert_eq!((div[r], on_out[r]), (-1, 1), "run {r}");
            let what = format!("{precision} run {r}");
            let near = |a: f64, b: f64, scale: f64| (a - b).abs() <= tol * scale.max(1.0);
            assert!(
                near(loss[r], last.train_loss, last.train_loss),
                "{what}: loss {} vs {}",
                loss[r],
                last.train_loss
            );
            assert!(
                near(gnorm[r], last.grad_norm, last.grad_norm),
                "{what}: gradient norm {} vs {}",
                gnorm[r],
                last.grad_norm
            );
            let want = c.cfg.clip.map_or(1.0, |k| (k / (gnorm[r] + 1e-6)).min(1.0));
            assert!(near(scale[r], want, 1.0), "{what}: clip factor");
            let mut got = Network::<f64>::zeros(c.shape);
            packed.read_params(r, &p_out, &mut got);
            let want: Network<f64> = net.cast();
            let big = want.params.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (t, (a, b)) in got.params.iter().zip(&want.params).enumerate() {
                assert!(
                    near(*a, *b, big),
                    "{what}: parameter {t} after {EPOCHS} epochs: {a} vs {b}"
                );
            }
            // What the host reads at the record epoch: the gradient and E1 of the last epoch.
            let shape = c.shape;
            let netd = want;
            let datad: Dataset<f64> = data.cast();
            let mut ws64 = Workspace::new(shape, datad.n);
            forward(&netd, &datad, c.cfg.loss, &mut ws64);
            let mut grad = vec![0.0; shape.len()];
            backward(&netd, &datad, &mut ws64, &mut grad);
            let mut g_net = Network::zeros(shape);
            packed.read_params(r, &g_out, &mut g_net);
            let big = grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (t, (a, b)) in g_net.params.iter().zip(&grad).enumerate() {
                assert!(near(*a, *b, big), "{what}: gradient entry {t}: {a} vs {b}");
            }
            let l = &packed.runs[r];
            let e1_sum: f64 = e1[l.s_off..l.s_off + l.n].iter().sum();
            let beta = grad[shape.beta_offset()];
            assert!(
                near(e1_sum, beta, big),
                "{what}: E1 sums to {e1_sum}, not {beta}"
            );
        }
    }

    /// The C++ compiler, or `None` (a printed skip) outside CI when there is none.
    #[allow(clippy::print_stderr)]
    fn compiler() -> Option<String> {
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        match Command::new(&cxx).arg("--version").output() {
            Ok(_) => Some(cxx),
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must have a C++20 compiler ({cxx}: {e}); .ci/run installs g++"
                );
                eprintln!(
                    "skipping the emulator: no C++ compiler ({cxx}: {e}); install g++ or set CXX"
                );
                None
            }
        }
    }

    #[test]
    fn emulated_fused_kernel_matches_the_cpu_engine_in_f64() {
        fused_matches::<f64>("double", 1e-11);
    }

    #[test]
    fn emulated_fused_kernel_matches_the_cpu_engine_in_f32() {
        fused_matches::<f32>("float", 2e-4);
    }
}
