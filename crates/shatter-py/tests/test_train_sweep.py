"""train and sweep against the `shatter` command line on the same settings: the same numbers
bit for bit, the same error messages; stores read back; Ctrl-C stops cleanly."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import shatter

pd = pytest.importorskip("pandas")

SETTINGS = dict(d=2, n=32, width=16, lr=0.3, epochs=60, seed=3, sharpness_every=20, log_every=5, n_test=50)


def read_csv(path):
    """A CSV written by shatter, floats read back exactly."""
    return pd.read_csv(path, **shatter._EXACT_CSV)


def flags(settings):
    out = []
    for k, v in settings.items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def test_train_matches_cli_bit_for_bit(cli, tmp_path):
    out = tmp_path / "cli"
    subprocess.run([cli, "--quiet", "train", *flags(SETTINGS), "--out", str(out)], check=True, capture_output=True)
    run = shatter.train(progress=False, **SETTINGS)
    cli_json = json.loads((out / "run.json").read_text())
    assert run.run_id == cli_json["run_id"]
    summary = dict(run.summary)
    cli_summary = dict(cli_json["summary"])
    summary.pop("wall_seconds")
    cli_summary.pop("wall_seconds")
    assert summary == cli_summary
    cli_traj = read_csv(out / "trajectory.csv")
    pd.testing.assert_frame_equal(run.trajectory, cli_traj, check_exact=True)
    cli_neurons = read_csv(out / "neurons.csv")
    pd.testing.assert_frame_equal(run.neurons, cli_neurons, check_exact=True)
    model = np.load(out / "model.npz")
    for key in ("W", "b", "v"):
        np.testing.assert_array_equal(run.model[key], model[key])
    assert run.beta == float(np.asarray(model["beta"]).reshape(()))
    # And the run directory written from Python is the CLI's, but for the wall time.
    py_out = tmp_path / "py"
    shatter.train(progress=False, out=py_out, **SETTINGS)
    for name in ("trajectory.csv", "neurons.csv"):
        assert (py_out / name).read_bytes() == (out / name).read_bytes()


def cli_error(cli, args):
    r = subprocess.run([cli, "train", *args, "--print-spec"], capture_output=True, text=True)
    assert r.returncode != 0
    first = r.stderr.splitlines()[0]
    assert first.startswith("error: ")
    return first[len("error: "):]


@pytest.mark.parametrize(
    "settings",
    [dict(lr=-1.0), dict(width=0), dict(epochs=60, lr=float("nan")), dict(loss="hinge"), dict(target="nope")],
)
def test_bad_settings_raise_the_cli_message(cli, settings):
    expected = cli_error(cli, flags(settings))
    with pytest.raises(ValueError) as e:
        shatter.train(progress=False, **settings)
    assert str(e.value) == expected


def test_unknown_setting_and_missing_file():
    with pytest.raises(ValueError, match="unknown setting 'learning_rate'; the settings are: d, n, width"):
        shatter.train(learning_rate=0.1)
    with pytest.raises(OSError):
        shatter.train(progress=False, data="/nonexistent/data.csv")


def test_settings_table_has_defaults():
    table = {s["name"]: s for s in shatter.settings()}
    assert table["lr"]["default"] > 0
    assert "lr" in table and "seed" in table and "bias" in table
    assert table["d"]["default"] == 10
    assert all(s["help"] for s in table.values())


SWEEP = {
    "name": "py-test",
    "base": {"d": 1, "n": 16, "width": 8, "epochs": 30, "log_every": 10, "sharpness_every": 0},
    "grid": {"lr": [0.1, 0.3], "seed": [0, 1]},
    "measure": {"neurons": True, "models": True},
}


def toml_text(spec):
    lines = [f'name = "{spec["name"]}"']
    for table in ("base", "grid", "measure"):
        lines.append(f"[{table}]")
        for k, v in spec[table].items():
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def test_store_written_by_cli_reads_back(cli, tmp_path):
    spec_path = tmp_path / "sweep.toml"
    spec_path.write_text(toml_text(SWEEP))
    db = tmp_path / "cli.db"
    subprocess.run([cli, "--quiet", "sweep", str(spec_path), "--store", str(db)], check=True, capture_output=True)
    store = shatter.Store(db)
    runs = store.runs()
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    fast = store.runs(where="lr = 0.3")
    assert sorted(fast["seed"]) == [0, 1]
    rid = runs["run_id"][0]
    # The same numbers as the CLI's export of the store.
    export = tmp_path / "export"
    subprocess.run([cli, "export", "--store", str(db), "--format", "csv", "--out", str(export)], check=True, capture_output=True)
    runs_cli = read_csv(export / "runs.csv").set_index("run_id")
    mine = runs.set_index("run_id")
    for col in ("final_train_loss", "sharpness", "vg_norm", "path_norm"):
        np.testing.assert_array_equal(mine.loc[runs_cli.index, col].to_numpy(), runs_cli[col].to_numpy())
    traj_cli = read_csv(export / "trajectories.csv")
    traj = store.trajectories()
    assert set(traj["run_id"]) == set(runs["run_id"])
    assert len(traj) == len(traj_cli)
    one = traj_cli[traj_cli["run_id"] == rid].reset_index(drop=True)
    mine_traj = traj[traj["run_id"] == rid].reset_index(drop=True)
    np.testing.assert_array_equal(mine_traj["train_loss"].to_numpy(), one["train_loss"].to_numpy())
    neurons = store.neurons(run_id=rid)
    assert len(neurons) == 8
    model = store.model(rid)
    assert model["W"].shape == (8, 1)
    # The stored model measured again gives the stored final train loss.
    spec = dict(SWEEP["base"])
    row = runs[runs["run_id"] == rid].iloc[0]
    # Train the same point in Python: the model is the stored one, bit for bit.
    run = shatter.train(progress=False, lr=float(row["lr"]), seed=int(row["seed"]), **spec)
    assert run.run_id == rid
    np.testing.assert_array_equal(run.W, model["W"])
    np.testing.assert_array_equal(run.v, model["v"])
    with pytest.raises(KeyError):
        store.model("nope")
    with pytest.raises(OSError):
        shatter.Store(tmp_path / "missing.db")


def test_sweep_from_dict_and_path(tmp_path):
    db = tmp_path / "py.db"
    first = shatter.sweep(SWEEP, store=db, progress=False)
    assert (first["total"], first["completed"]) == (4, 4)
    spec_path = tmp_path / "sweep.toml"
    spec_path.write_text(toml_text(SWEEP))
    again = shatter.sweep(spec_path, store=db, progress=False)
    assert again["skipped"] == 4 and again["finished"] == 0
    assert len(shatter.Store(db).runs()) == 4
    with pytest.raises(ValueError):
        shatter.sweep(dict(SWEEP, base=dict(SWEEP["base"], lr=-1.0), grid={"seed": [0]}), store=tmp_path / "bad.db", progress=False)
    with pytest.raises(OSError):
        shatter.sweep(tmp_path / "missing.toml", store=db, progress=False)


def test_ctrl_c_stops_train_with_keyboard_interrupt(tmp_path):
    out = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import sys, shatter
        print("started", flush=True)
        try:
            shatter.train(progress=False, out={str(out)!r}, d=5, n=512, width=512, epochs=1000000, log_every=1000)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("finished", flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    try:
        stdout, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("train did not stop within 30 s of SIGINT")
    assert p.returncode == 3, stdout
    assert "interrupted" in stdout
    assert not out.exists()
    assert not any(tmp_path.iterdir())
