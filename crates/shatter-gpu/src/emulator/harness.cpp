// Test harness: reads a packed batch (written by the Rust test `emulator::tests`), runs one
// epoch of every kernel in double precision on the host (shim.h), and writes the buffers back.
// `harness DIR fused float|double EPOCHS` instead trains every run for EPOCHS epochs with the
// fused kernel, in two launches (epochs 0..2, then 3..EPOCHS with the update first), each run in
// a cluster of as many blocks as `groupK_c.bin` says.
#include "shim.h"
#include "../kernels.cu"
#include <cstdio>
#include <fstream>
#include <string>
#include <cstdlib>

template <typename T>
static std::vector<T> load(const std::string &path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); std::exit(2); }
    std::streamsize size = f.tellg();
    f.seekg(0);
    std::vector<T> v(size / sizeof(T));
    f.read(reinterpret_cast<char *>(v.data()), size);
    return v;
}

template <typename T>
static void save(const std::string &path, const std::vector<T> &v) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
}

struct Batch {
    std::vector<i64> meta;
    std::vector<double> hyper, x, y, xt, yt, p, dir;
    std::vector<double> e1, e2, lt, g, q, hv, rt, vel;
    std::vector<int> on, flags, div, since;
    std::vector<double> loss, gnorm, scale, qsum, tsum, loss0;
};

template <int D, int ACT>
static void stage(int which, Batch &b, const std::vector<int> &tiles) {
    const int blocks = (int)tiles.size() / 2;
    if (blocks == 0) return;
    const int *t = tiles.data();
    switch (which) {
    case 0:
        launch(blocks, [&] { sample_tile<double, D, ACT, 0>(b.meta.data(), t, b.x.data(), b.y.data(), b.p.data(), b.p.data(), b.e1.data(), b.e2.data(), b.lt.data(), b.on.data()); });
        break;
    case 1:
        launch(blocks, [&] { neuron_tile<double, D, ACT, 0>(b.meta.data(), t, b.x.data(), b.p.data(), b.p.data(), b.e1.data(), b.e1.data(), b.g.data(), b.on.data()); });
        break;
    case 2:
        launch(blocks, [&] { sample_tile<double, D, ACT, 2>(b.meta.data(), t, b.x.data(), nullptr, b.p.data(), b.dir.data(), nullptr, b.e2.data(), b.q.data(), b.flags.data()); });
        break;
    case 3:
        launch(blocks, [&] { neuron_tile<double, D, ACT, 1>(b.meta.data(), t, b.x.data(), b.p.data(), b.dir.data(), b.e1.data(), b.q.data(), b.hv.data(), b.flags.data()); });
        break;
    case 4:
        launch(blocks, [&] { sample_tile<double, D, ACT, 1>(b.meta.data(), t, b.xt.data(), b.yt.data(), b.p.data(), b.p.data(), nullptr, nullptr, b.rt.data(), b.flags.data()); });
        break;
    }
}

static void dispatch(int dp, int act, int which, Batch &b, const std::vector<int> &tiles) {
#define CASE(DD, AA) if (dp == DD && act == AA) { stage<DD, AA>(which, b, tiles); return; }
    CASE(1, 0) CASE(1, 1) CASE(3, 0) CASE(3, 1) CASE(20, 0) CASE(20, 1) CASE(96, 0)
#undef CASE
    std::fprintf(stderr, "no instantiation for d = %d, activation %d\n", dp, act);
    std::exit(3);
}

template <typename T>
static std::vector<T> as(const std::vector<double> &v) { return std::vector<T>(v.begin(), v.end()); }

template <typename T>
static std::vector<double> back(const std::vector<T> &v) { return std::vector<double>(v.begin(), v.end()); }

template <typename T, int D, int ACT, int CL>
static void fused_launch(const std::vector<i64> &meta, const std::vector<int> &runs, const std::vector<T> &x, const std::vector<T> &y, std::vector<T> &p, std::vector<T> &g, std::vector<T> &v, std::vector<T> &e1, std::vector<T> &e2, std::vector<T> &lt, std::vector<int> &on, std::vector<int> &div, std::vector<double> &loss, std::vector<double> &gnorm, std::vector<double> &scale, const std::vector<double> &hyper, std::vector<double> &loss0, std::vector<int> &since, int from, int to, int step_first) {
    if (runs.empty()) return;
    // The block size of the device (`fused_threads` in compile.rs).
    constexpr int NT = sizeof(T) == 4 ? 512 : 256;
    launch_clusters((int)runs.size() * CL, CL, [&] { fused<T, D, ACT, NT, CL>(meta.data(), runs.data(), x.data(), y.data(), p.data(), g.data(), v.data(), e1.data(), e2.data(), lt.data(), on.data(), div.data(), loss.data(), gnorm.data(), scale.data(), hyper.data(), loss0.data(), since.data(), 10.0, 100, from, to, step_first); }, NT);
}

// One launch per cluster size of the group's runs (`cluster[i]` blocks for run `members[i]`).
template <typename T, int D, int ACT>
static void fused_stage(const std::vector<i64> &meta, const std::vector<int> &members, const std::vector<int> &cluster, const std::vector<T> &x, const std::vector<T> &y, std::vector<T> &p, std::vector<T> &g, std::vector<T> &v, std::vector<T> &e1, std::vector<T> &e2, std::vector<T> &lt, std::vector<int> &on, std::vector<int> &div, std::vector<double> &loss, std::vector<double> &gnorm, std::vector<double> &scale, const std::vector<double> &hyper, std::vector<double> &loss0, std::vector<int> &since, int from, int to, int step_first) {
    for (int cl : {1, 2, 4, 8}) {
        std::vector<int> runs;
        for (size_t i = 0; i < members.size(); ++i) {
            if (cluster[i] == cl) runs.push_back(members[i]);
        }
#define LAUNCH(CC) if (cl == CC) fused_launch<T, D, ACT, CC>(meta, runs, x, y, p, g, v, e1, e2, lt, on, div, loss, gnorm, scale, hyper, loss0, since, from, to, step_first);
        LAUNCH(1) LAUNCH(2) LAUNCH(4) LAUNCH(8)
#undef LAUNCH
    }
}

template <typename T>
static int run_fused(const std::string &dir, int epochs) {
    const auto meta = load<i64>(dir + "meta.bin");
    const auto hyper = load<double>(dir + "hyper.bin");
    const auto x = as<T>(load<double>(dir + "x.bin"));
    const auto y = as<T>(load<double>(dir + "y.bin"));
    auto p = as<T>(load<double>(dir + "p.bin"));
    const size_t runs = meta.size() / META, ns = y.size(), np = p.size();
    std::vector<T> g(np, T(0)), v(np, T(0)), e1(ns, T(0)), e2(ns, T(0)), lt(ns, T(0));
    auto on = load<int>(dir + "on.bin");
    std::vector<int> div(runs, -1), since(runs, -1);
    std::vector<double> loss(runs, 0), gnorm(runs, 0), scale(runs, 0), loss0(runs, 0);
    std::ifstream groups(dir + "groups.txt");
    int dp, act, count = 0;
    std::vector<std::array<int, 2>> kinds;
    std::vector<std::vector<int>> members, clusters;
    while (groups >> dp >> act) {
        kinds.push_back({dp, act});
        members.push_back(load<int>(dir + "group" + std::to_string(count) + "_r.bin"));
        clusters.push_back(load<int>(dir + "group" + std::to_string(count++) + "_c.bin"));
    }
    const int split = epochs < 2 ? epochs : 2;
    const int spans[2][3] = {{0, split, 0}, {split + 1, epochs, 1}};
    for (const auto &span : spans) {
        if (span[0] > span[1]) continue;
        for (size_t k = 0; k < kinds.size(); ++k) {
#define CASE(DD, AA) if (kinds[k][0] == DD && kinds[k][1] == AA) { fused_stage<T, DD, AA>(meta, members[k], clusters[k], x, y, p, g, v, e1, e2, lt, on, div, loss, gnorm, scale, hyper, loss0, since, span[0], span[1], span[2]); continue; }
            CASE(1, 0) CASE(1, 1) CASE(3, 0) CASE(3, 1) CASE(20, 0) CASE(20, 1) CASE(96, 0)
#undef CASE
            std::fprintf(stderr, "no instantiation for d = %d, activation %d\n", kinds[k][0], kinds[k][1]);
            return 3;
        }
    }
    save(dir + "p.out", back(p));
    save(dir + "g.out", back(g));
    save(dir + "e1.out", back(e1));
    save(dir + "loss.out", loss);
    save(dir + "gnorm.out", gnorm);
    save(dir + "scale.out", scale);
    save(dir + "div.out", div);
    save(dir + "on.out", on);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && std::string(argv[2]) == "fused") {
        const std::string dir = std::string(argv[1]) + "/";
        const int epochs = std::atoi(argv[4]);
        return std::string(argv[3]) == "float" ? run_fused<float>(dir, epochs) : run_fused<double>(dir, epochs);
    }
    if (argc != 2) return 2;
    const std::string dir = std::string(argv[1]) + "/";
    Batch b;
    b.meta = load<i64>(dir + "meta.bin");
    b.hyper = load<double>(dir + "hyper.bin");
    b.x = load<double>(dir + "x.bin");
    b.y = load<double>(dir + "y.bin");
    b.xt = load<double>(dir + "xt.bin");
    b.yt = load<double>(dir + "yt.bin");
    b.p = load<double>(dir + "p.bin");
    b.dir = load<double>(dir + "dir.bin");
    const auto step_tiles = load<int>(dir + "step_tiles.bin");
    const size_t runs = b.meta.size() / META, ns = b.y.size(), nt = b.yt.size(), np = b.p.size();
    b.e1.assign(ns, 0); b.e2.assign(ns, 0); b.lt.assign(ns, 0); b.q.assign(ns, 0);
    b.rt.assign(nt, 0); b.g.assign(np, 0); b.hv.assign(np, 0); b.vel.assign(np, 0);
    b.on = load<int>(dir + "on.bin");
    b.flags = b.on;
    b.div.assign(runs, -1);
    // Epoch 7 of runs whose epoch-0 loss was large: no blow-up streak.
    b.since.assign(runs, -1);
    b.loss0.assign(runs, 1e300);
    b.loss.assign(runs, 0); b.gnorm.assign(runs, 0); b.scale.assign(runs, 0);
    b.qsum.assign(runs, 0); b.tsum.assign(runs, 0);
    std::ifstream groups(dir + "groups.txt");
    std::vector<std::array<int, 2>> kinds;
    std::vector<std::array<std::vector<int>, 3>> tiles;
    int dp, act;
    while (groups >> dp >> act) {
        const std::string g = dir + "group" + std::to_string(kinds.size());
        kinds.push_back({dp, act});
        tiles.push_back({load<int>(g + "_s.bin"), load<int>(g + "_t.bin"), load<int>(g + "_n.bin")});
    }
    // One epoch: forward, gradient, reductions; then a Hessian-vector product along `dir`, the
    // test error, and the update.
    for (size_t g = 0; g < kinds.size(); ++g) dispatch(kinds[g][0], kinds[g][1], 0, b, tiles[g][0]);
    for (size_t g = 0; g < kinds.size(); ++g) dispatch(kinds[g][0], kinds[g][1], 1, b, tiles[g][2]);
    launch((int)runs, [&] { reduce_train<double>(b.meta.data(), b.lt.data(), b.e1.data(), b.g.data(), b.on.data(), b.div.data(), b.loss.data(), b.gnorm.data(), b.scale.data(), b.hyper.data(), b.loss0.data(), b.since.data(), 10.0, 100, 7); });
    for (size_t g = 0; g < kinds.size(); ++g) dispatch(kinds[g][0], kinds[g][1], 2, b, tiles[g][0]);
    for (size_t g = 0; g < kinds.size(); ++g) dispatch(kinds[g][0], kinds[g][1], 3, b, tiles[g][2]);
    launch((int)runs, [&] { run_sum<double>(b.meta.data(), b.q.data(), 0, b.qsum.data(), b.flags.data()); });
    for (size_t g = 0; g < kinds.size(); ++g) dispatch(kinds[g][0], kinds[g][1], 4, b, tiles[g][1]);
    launch((int)runs, [&] { run_sum<double>(b.meta.data(), b.rt.data(), 1, b.tsum.data(), b.flags.data()); });
    launch((int)step_tiles.size() / 2, [&] { step<double>(b.meta.data(), step_tiles.data(), b.p.data(), b.g.data(), b.vel.data(), b.hyper.data(), b.scale.data(), b.on.data()); });
    save(dir + "g.out", b.g);
    save(dir + "loss.out", b.loss);
    save(dir + "gnorm.out", b.gnorm);
    save(dir + "scale.out", b.scale);
    save(dir + "div.out", b.div);
    save(dir + "hv.out", b.hv);
    save(dir + "qsum.out", b.qsum);
    save(dir + "tsum.out", b.tsum);
    save(dir + "p.out", b.p);
    return 0;
}
