"""How fast are lookup-table entries made, and how many does a NetAdapt run need?

(a) Entries per second, per backend: build N distinct one-op models (conv / depthwise /
    dense of realistic sizes) with build_single_op_model, then measure the batch with
    the backend in this process; build and measure times are reported separately.
(b) Entries a real run needed vs a step-8 grid: a real server on loopback, a real
    host-latency agent process, and `netadapt prune --metric latency_ms` run to
    completion on a digits baseline (and the vgg zoo net on digits resized to 32x32x3).
    The run's table entries and whole-model measurements are read from the server
    (GET /v1/profiles/{id}). The grid is what the reference NetAdapt implementation
    measures up front: for every layer whose channels pruning changes, every pair of
    (input, output) channel counts in steps of 8 from the full count, one op signature
    per pair (ceil(Cin/8) x ceil(Cout/8) per layer, a fixed side counting 1).

    python benchmarks/lut_throughput.py [--layers 40] [--backends host-latency,host-instructions]
        [--models digits_cnn,vgg] [--budget 0.5] [--work-dir /tmp/netadapt-lut-throughput]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
NETADAPT = [PYTHON, "-m", "service.cli"]
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
# model -> (zoo training/pruning data options, baseline epochs)
RUN_MODELS = {
    "digits_cnn": ([], 30),
    "vgg": (["--image-size", "32", "--channels", "3"], 8),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- (a) entries per second ----------------------------------------------------------


def realistic_signatures(n: int) -> list:
    """n distinct conv / depthwise / dense layers of the sizes mobile CNNs have."""
    from latency_tables import LayerSignature

    sigs = []
    # (spatial, channels in, channels out) for 3x3 convs, pointwise convs, depthwise
    convs3 = [(32, 16, 16), (32, 32, 32), (16, 32, 64), (16, 64, 64), (8, 64, 128), (8, 128, 128),
              (56, 32, 64), (28, 64, 64), (14, 128, 128), (7, 256, 256)]
    convs1 = [(56, 64, 128), (28, 128, 96), (28, 128, 256), (14, 256, 256), (14, 512, 512),
              (7, 512, 1024), (32, 16, 96), (16, 24, 144), (8, 64, 384), (4, 160, 960)]
    depthwise = [(112, 32, 1), (56, 64, 1), (56, 128, 1), (28, 256, 2), (14, 512, 1), (7, 1024, 1),
                 (32, 96, 1), (16, 144, 2), (8, 384, 1), (4, 960, 1)]
    dense = [(1024, 1000), (1280, 1000), (512, 256), (256, 128), (2048, 128), (128, 10),
             (64, 64), (960, 10), (4096, 512), (384, 384)]
    for hw, cin, cout in convs3:
        sigs.append(LayerSignature(op="CONV_2D", inputs=[(1, hw, hw, cin)], output=(1, hw, hw, cout),
                                   kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU"))
    for hw, cin, cout in convs1:
        sigs.append(LayerSignature(op="CONV_2D", inputs=[(1, hw, hw, cin)], output=(1, hw, hw, cout),
                                   kernel=(1, 1), stride=(1, 1), padding="SAME", activation="RELU6"))
    for hw, c, stride in depthwise:
        out = math.ceil(hw / stride)
        sigs.append(LayerSignature(op="DEPTHWISE_CONV_2D", inputs=[(1, hw, hw, c)], output=(1, out, out, c),
                                   kernel=(3, 3), stride=(stride, stride), padding="SAME",
                                   depth_multiplier=1, activation="RELU6"))
    for cin, cout in dense:
        sigs.append(LayerSignature(op="FULLY_CONNECTED", inputs=[(1, cin)], output=(1, cout), activation="NONE"))
    # more than 40 asked for: vary the 3x3 convs' widths
    extra = itertools.count(1)
    while len(sigs) < n:
        k = next(extra)
        hw, cin, cout = convs3[k % len(convs3)]
        sigs.append(LayerSignature(op="CONV_2D", inputs=[(1, hw, hw, cin + 8 * k)], output=(1, hw, hw, cout),
                                   kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU"))
    sigs = sigs[:n]
    assert len({s.digest for s in sigs}) == n, "signatures must be distinct"
    return sigs


def entries_per_second(n: int, backends: list[str]) -> None:
    from device_agent.backends import get_backend
    from latency_tables import build_single_op_model

    sigs = realistic_signatures(n)
    t0 = time.perf_counter()
    models = [build_single_op_model(s) for s in sigs]
    build_s = time.perf_counter() - t0
    ops = ", ".join(f"{sum(s.op == op for s in sigs)} {op}" for op in WEIGHTED_OPS if any(s.op == op for s in sigs))
    print(f"\n(a) entries per second: {n} distinct layers ({ops})")
    print(f"build_single_op_model: {build_s:.2f} s for {n} models ({1000 * build_s / n:.1f} ms each, "
          f"{sum(map(len, models)) / 1e6:.1f} MB)")
    print(f"{'backend':<18} {'set-up s':>9} {'measure s':>10} {'s/entry':>8} {'entries/s':>10} "
          f"{'entries/s incl. build':>22}")
    for name in backends:
        t0 = time.perf_counter()
        backend = get_backend(name, threads=1)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = backend.measure_many(models)
        measure_s = time.perf_counter() - t0
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"{name}: {len(failed)} of {n} failed, e.g. {failed[0]}")
        print(f"{name:<18} {setup_s:>9.1f} {measure_s:>10.1f} {measure_s / n:>8.2f} {n / measure_s:>10.2f} "
              f"{n / (measure_s + build_s):>22.2f}")
        del backend


# ---- (b) a real run vs the grid ------------------------------------------------------


@contextmanager
def serve(data_dir: Path, agent_token: str, api_token: str) -> Iterator[str]:
    """The real app on 127.0.0.1 (a kernel-chosen port) until the block ends."""
    import uvicorn

    from service.app import create_app
    from service.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, dev_mode=True, agent_token=agent_token,
                        api_token=api_token, long_poll_seconds=5.0)
    # IPPROTO_TCP so asyncio sets TCP_NODELAY (Nagle + delayed ACK cost 40 ms a request)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def agent(server_url: str, agent_token: str, workdir: Path, backend: str = "host-latency") -> Iterator[Path]:
    """A real `python -m device_agent` process; yields its log path."""
    log_path = workdir / "agent.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [PYTHON, "-m", "device_agent", "--server", server_url, "--backend", backend,
             "--name", "lut-throughput-agent", "--wait-seconds", "2", "--cache-dir", str(workdir / "agent-cache")],
            cwd=REPO, env={**os.environ, "NETADAPT_AGENT_TOKEN": agent_token},
            stdout=log_file, stderr=subprocess.STDOUT,
        )
        try:
            yield log_path
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_for_profile(http, backend: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        profiles = http.get("/v1/profiles").raise_for_status().json()
        found = [p["id"] for p in profiles if p["backend"] == backend]
        if found:
            return found[0]
        time.sleep(0.5)
    raise RuntimeError(f"no {backend} agent registered within {timeout} s")


def baseline(name: str, work: Path, data_args: list[str], epochs: int) -> tuple[Path, float]:
    """A trained zoo baseline, reused when the work dir has one."""
    path = work / f"{name}.keras"
    if path.exists():
        return path, 0.0
    t0 = time.perf_counter()
    subprocess.run([*NETADAPT, "zoo", "train", name, "--data", "digits", *data_args, "--out", str(path),
                    "--epochs", str(epochs)], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return path, time.perf_counter() - t0


def grid(model_path: Path, step: int = 8) -> dict:
    """The step-`step` grid of the reference implementation for this model's layers."""
    import keras

    from service.costs.keras_signatures import signature_fn
    from service.surgery import analyze

    graph = analyze(keras.saving.load_model(model_path, compile=False))
    sigs_for = signature_fn(graph, "float32")
    full = graph.channel_config()
    base = sigs_for(full)
    # Which groups' counts change each op's signature (op lists do not change under
    # channel pruning: same ops, same order).
    affects: list[set[str]] = [set() for _ in base]
    for group_id, channels in full.items():
        probe = sigs_for({**full, group_id: max(1, channels - 1)})
        assert len(probe) == len(base)
        for k, (a, b) in enumerate(zip(base, probe)):
            if a.digest != b.digest:
                affects[k].add(group_id)
    values = {g: list(range(c, 0, -step)) for g, c in full.items()}  # ceil(C/step) counts
    weighted_pairs = 0
    weighted: set[str] = set()
    everything: set[str] = set()
    layers = 0
    multi = 0
    for k, sig in enumerate(base):
        groups = sorted(affects[k])
        if not groups:
            everything.add(sig.digest)  # unaffected by pruning: one entry
            continue
        multi += len(groups) > 2
        for combo in itertools.product(*(values[g] for g in groups)):
            s = sigs_for({**full, **dict(zip(groups, combo))})[k]
            everything.add(s.digest)
            if sig.op in WEIGHTED_OPS:
                weighted.add(s.digest)
        if sig.op in WEIGHTED_OPS:
            layers += 1
            weighted_pairs += math.prod(len(values[g]) for g in groups)
    return {
        "groups": full,
        "ops": len(base),
        "prunable_layers": layers,
        "pairs": weighted_pairs,
        "weighted_distinct": len(weighted),
        "all_distinct": len(everything),
        "ops_over_2_groups": multi,
    }


def run_vs_grid(models: list[str], budget: float, steps: int, work: Path, schedule: list[str]) -> None:
    import httpx

    work.mkdir(parents=True, exist_ok=True)
    agent_token, api_token = secrets.token_hex(16), secrets.token_hex(16)
    rows = []
    print(f"\n(b) entries a NetAdapt run needed vs the step-8 grid (budget {budget:g} of the baseline "
          f"latency, --short-term-steps {steps} --long-term-epochs 0 --workers 1 {' '.join(schedule)})")
    for name in models:
        data_args, epochs = RUN_MODELS[name]
        model_path, train_s = baseline(name, work, data_args, epochs)
        run_dir = work / f"run-{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        server_dir = work / f"server-{name}"
        shutil.rmtree(server_dir, ignore_errors=True)
        server_dir.mkdir()
        # a fresh server per model: every entry and measurement on it comes from this run
        with serve(server_dir / "data", agent_token, api_token) as url, agent(url, agent_token, server_dir):
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_token}"}, timeout=60)
            profile = wait_for_profile(http, "host-latency")
            before = http.get(f"/v1/profiles/{profile}").raise_for_status().json()
            t0 = time.perf_counter()
            with open(work / f"prune-{name}.log", "wb") as out:
                done = subprocess.run(
                    [*NETADAPT, "prune", str(model_path), "--data", "digits", *data_args, "--metric", "latency_ms",
                     "--budget", str(budget), "--server", url, "--device", profile, "--api-token", api_token,
                     "--out", str(run_dir), "--short-term-steps", str(steps), "--long-term-epochs", "0",
                     "--workers", "1", *schedule],
                    cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                )
            run_s = time.perf_counter() - t0
            if done.returncode != 0:
                raise RuntimeError(f"netadapt prune {name} failed; see {work / f'prune-{name}.log'}")
            after = http.get(f"/v1/profiles/{profile}").raise_for_status().json()
            http.close()
        history = json.loads((run_dir / "history.json").read_text())
        g = grid(model_path)
        row = {
            "model": name,
            "train_s": train_s,
            "run_s": run_s,
            "iterations": len(history.get("iterations", [])),
            "entries": after["entries"] - before["entries"],
            "measurements": after["measurements"] - before["measurements"],
            "jobs": after.get("jobs"),
            "scale": after.get("scale"),
            **g,
        }
        rows.append(row)
        log(f"  {name}: {row}")

    print(f"{'model':<11} {'groups':>6} {'ops':>4} {'iters':>5} {'run s':>6} {'run entries':>11} "
          f"{'whole models':>12} {'grid pairs':>10} {'grid sigs':>9} {'grid+other':>10} {'ratio':>7}")
    for r in rows:
        ratio = r["all_distinct"] / r["entries"] if r["entries"] else math.inf
        print(f"{r['model']:<11} {len(r['groups']):>6} {r['ops']:>4} {r['iterations']:>5} {r['run_s']:>6.0f} "
              f"{r['entries']:>11} {r['measurements']:>12} {r['pairs']:>10} {r['weighted_distinct']:>9} "
              f"{r['all_distinct']:>10} {ratio:>6.1f}x")
    print("grid pairs: sum over conv/depthwise/dense layers whose channels pruning changes of "
          "ceil(Cin/8) x ceil(Cout/8) (a side pruning cannot change counts 1); grid sigs: distinct "
          "signatures among those pairs; grid+other: plus every other op the table must hold "
          "(pools, MEAN, ADD, SOFTMAX, ... at every step-8 count, and fixed ops once), the like-for-like "
          "count against the run's entries (which cover every op); ratio = grid+other / run entries")
    for r in rows:
        extra = f", {r['ops_over_2_groups']} ops depend on > 2 groups" if r["ops_over_2_groups"] else ""
        print(f"{r['model']}: groups {r['groups']}; {r['prunable_layers']} prunable conv/dense layers; "
              f"baseline trained in {r['train_s']:.0f} s (0 = reused); run {r['run_s']:.0f} s; jobs {r['jobs']}; "
              f"final calibration scale {r['scale']:.3f}; ratio grid pairs / run entries "
              f"{r['pairs'] / max(r['entries'], 1):.1f}x{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--backends", default="host-latency,host-instructions")
    parser.add_argument("--models", default="digits_cnn,vgg", help="runs for part (b); '' skips it")
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--short-term-steps", type=int, default=20)
    parser.add_argument("--init-reduction-ratio", type=float, default=None, help="default: the CLI's")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/netadapt-lut-throughput"))
    parser.add_argument("--skip-a", action="store_true", help="only part (b)")
    args = parser.parse_args()
    wall = time.perf_counter()
    if not args.skip_a:
        entries_per_second(args.layers, [b.strip() for b in args.backends.split(",") if b.strip()])
        print(f"(a) took {time.perf_counter() - wall:.0f} s", flush=True)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if models:
        unknown = [m for m in models if m not in RUN_MODELS]
        if unknown:
            raise SystemExit(f"unknown run model(s) {unknown}; choose from {sorted(RUN_MODELS)}")
        schedule = [] if args.init_reduction_ratio is None else ["--init-reduction-ratio", str(args.init_reduction_ratio)]
        run_vs_grid(models, args.budget, args.short_term_steps, args.work_dir, schedule)
    print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
