// Test harness: reads a packed batch (written by the Rust test `emulator::tests`), runs one
// epoch of every kernel in double precision on the host (shim.h), and writes the buffers back.
#include "shim.h"
#include "../kernels.cu"
#include <cstdio>
#include <fstream>
#include <string>

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

int main(int argc, char **argv) {
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
