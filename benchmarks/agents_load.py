"""Many device agents against one or more servers: results per second and lease latency.

Starts the real server (`netadapt serve`, its own process; `--servers N`: N processes on
one database, on ports of their own, as on N hosts) on 127.0.0.1 with a fresh database,
enqueues measurement jobs through the API, then lets simulated agents drain them: each
agent is a real HTTP client (its own registration and secret, agent i talks to server
i mod N) that leases up to `--max-jobs` jobs at a time and reports their results, all in
one request that also leases the next batch (`--report batch-lease`, what the device agent
does; a lease of its own only when that came back empty), in one request with a separate
lease (`--report batch`) or one idempotent PUT per job (`--report per-job`), until the
queue is empty. A lease's wait is the round trip of the request that returned its jobs. All agents measure one device profile,
so they compete for the same queue (the claim path under contention is what is
measured). Agents do no measuring (`--measure-ms M`: each pretends to, sleeping M ms per
job between lease and report, so the server sees a fleet's pace rather than a closed loop
of agents that never pause): the figures are the servers' and the database's.

With no measuring time every agent asks again the moment it is answered, so the server is
always saturated and the lease wait is the time spent queueing for it (Little's law: N
agents / request rate); results/s is then the capacity. With measuring time the offered
rate is about N x 8 / (8 x M ms) and the lease wait shows whether the server keeps up.

Afterwards the database is read directly to check that nothing was lost: every job is
done exactly once (one accepted result, one table entry, status done). A job leased
twice is not an error (its first lease expired while the server was overloaded, and the
protocol hands it out again); the run counts them ("re-leased").

    .venv/bin/python benchmarks/agents_load.py                      # N = 10, 50, 200, both DBs
    .venv/bin/python benchmarks/agents_load.py --agents 50 --databases postgresql
    .venv/bin/python benchmarks/agents_load.py --agents 50 --max-jobs 8 --servers 2 --databases postgresql
    .venv/bin/python benchmarks/agents_load.py ... --py-spy server.folded   # where the server's CPU goes

`--py-spy FILE` samples the (first) server with py-spy (pip install py-spy) while the
agents run and writes collapsed stacks to FILE (one line per stack and its count).

PostgreSQL: the test cluster of scripts/setup_test_env.sh (or --postgres-url, a role
that may CREATE DATABASE); a database is created per run and dropped after it. The
client side (all agents) is one asyncio process, sharing the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

from latency_tables import LayerSignature
from latency_tables.db import make_engine, make_session_factory, normalize_url
from latency_tables.protocol import lease_path, register_path, result_path, results_path
from latency_tables.store import TableEntry

DEFAULT_POSTGRES_URL = "postgresql+psycopg://netadapt:netadapt@127.0.0.1:55432/netadapt_test"
DEVICE = {
    "backend": "host-latency",
    "cpu_model": "load-test-cpu",
    "runtime_version": "ai-edge-litert 2.3.0",
    "metric": "latency_ms",
}


def signature(index: int) -> LayerSignature:
    """Distinct layer signatures: a 3x3 conv with `index + 1` output channels."""
    return LayerSignature(
        op="CONV_2D",
        inputs=[(1, 16, 16, 8)],
        output=(1, 16, 16, index + 1),
        kernel=(3, 3),
        stride=(1, 1),
        padding="SAME",
    )


# ---- databases and the server ---------------------------------------------------------


@contextmanager
def fresh_database(kind: str, workdir: Path, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{(workdir / 'netadapt.db').as_posix()}"
        return
    admin = create_engine(normalize_url(postgres_url), isolation_level="AUTOCOMMIT", pool_size=1)
    name = f"netadapt_load_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield normalize_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        for attempt in range(5):  # an autovacuum worker in the database can refuse FORCE briefly
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        admin.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    base_url: str
    agent_token: str
    api_token: str
    process: subprocess.Popen
    log: Path


@contextmanager
def running_servers(database_url: str, workdir: Path, count: int) -> Iterator[list[Server]]:
    """`count` server processes on one database and one data directory. The first starts
    alone (it migrates the database), the others after it."""
    agent_token, api_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    servers: list[Server] = []
    try:
        for index in range(count):
            servers.append(_start_server(database_url, workdir, index, agent_token, api_token))
        for server in servers:
            _wait_until_serving(server)
        yield servers
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def _start_server(database_url: str, workdir: Path, index: int, agent_token: str, api_token: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "NETADAPT_DATABASE_URL": database_url,
        "NETADAPT_DATA_DIR": str(workdir / "data"),
        "NETADAPT_AGENT_TOKEN": agent_token,
        "NETADAPT_API_TOKEN": api_token,
        "NETADAPT_HOST": "127.0.0.1",
        "NETADAPT_PORT": str(port),
    }
    log = workdir / f"server-{index}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", agent_token, api_token, process, log)
    if index == 0:
        _wait_until_serving(server)  # the schema exists before the others start
    return server


def _wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited ({server.process.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start in 60 s:\n{server.log.read_text()[-3000:]}")
        time.sleep(0.1)


@contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """Sample `pid` with py-spy (collapsed stacks to `output`) while the block runs."""
    if output is None:
        yield
        return
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    # --gil: only the thread holding the GIL, i.e. where the server's Python CPU goes.
    command = [binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(output), "--nonblocking", "--gil"]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        _, errors = recorder.communicate(timeout=60)
        if recorder.returncode not in (0, -signal.SIGINT) or not output.exists():
            print(f"py-spy failed ({recorder.returncode}): {errors.decode(errors='replace')[-500:]}", file=sys.stderr)


# ---- the agents -----------------------------------------------------------------------


@dataclass
class AgentStats:
    leased: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # jobs whose result this agent set
    lease_seconds: list[float] = field(default_factory=list)  # leases that returned jobs
    empty_leases: int = 0
    result_seconds: list[float] = field(default_factory=list)
    agent_id: str = ""
    transport_errors: int = 0


@dataclass
class Shared:
    total: int
    finished: int = 0
    first_lease: float | None = None
    last_result: float = 0.0
    cpu_before: CpuMarks | None = None  # when the agents started (after the enqueueing)


@dataclass(frozen=True)
class CpuMarks:
    """CPU seconds used so far by the servers, this process (the agents) and the machine."""

    servers: float
    agents: float
    machine: float

    @classmethod
    def now(cls, server_pids: list[int]) -> CpuMarks:
        return cls(sum(cpu_seconds(pid) for pid in server_pids), cpu_seconds(os.getpid()), machine_cpu_seconds())


# "together": every agent leases the moment it has registered, and with equal measuring
# times they stay in step: bursts of N simultaneous requests (a fleet switched on at once).
# "spread": each agent's first lease waits a fixed random part of one lease's measuring
# time, so the fleet's requests arrive spread out, as independent devices' do.
START_MODES = ("spread", "together")
REPORT_MODES = ("batch-lease", "batch", "per-job")


@dataclass(frozen=True)
class AgentPlan:
    max_jobs: int
    report: str  # one of REPORT_MODES
    measure_seconds: float  # pretended measuring time per job
    deadline: float
    start: str  # one of START_MODES
    jitter: float  # each job's measuring time is uniform in measure_seconds x [1 - jitter, 1 + jitter]

    def measuring_time(self, rng: random.Random) -> float:
        return self.measure_seconds * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def start_delay(self, agent_index: int) -> float:
        """How long agent `agent_index` waits after registering before its first lease."""
        if self.start == "together":
            return 0.0
        # Spread over one lease's measuring time (seeded: the same phases every run).
        return random.Random(agent_index).uniform(0.0, self.max_jobs * self.measure_seconds)


async def agent_loop(server: Server, index: int, shared: Shared, plan: AgentPlan) -> AgentStats:
    """One agent: its own HTTP client and connection, as a real agent process has."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
        return await _agent_work(client, server, index, shared, plan)


async def _agent_work(client: httpx.AsyncClient, server: Server, index: int, shared: Shared, plan: AgentPlan) -> AgentStats:
    stats = AgentStats()
    name = f"load-agent-{index}"
    reply = await client.post(register_path(), json={"token": server.agent_token, "name": name, "device": DEVICE})
    reply.raise_for_status()
    agent_id, secret = reply.json()["agent_id"], reply.json()["secret"]
    stats.agent_id = agent_id
    headers = {"Authorization": f"Bearer {secret}"}
    await asyncio.sleep(plan.start_delay(index))
    rng = random.Random(f"measure-{index}")  # seeded: the same times every run
    jobs: list[dict] = []  # leased by the last report (batch-lease)
    while shared.finished < shared.total:
        if time.monotonic() > plan.deadline:
            raise TimeoutError(f"{name}: the run took longer than its time limit")
        if not jobs:
            started = time.perf_counter()
            try:
                response = await client.post(
                    lease_path(agent_id), json={"wait_seconds": 1.0, "max_jobs": plan.max_jobs}, headers=headers
                )
            except httpx.TransportError:
                # A lease whose reply was lost: its jobs come back when the lease expires.
                stats.transport_errors += 1
                continue
            response.raise_for_status()
            jobs = response.json()["jobs"]
            if not jobs:
                stats.empty_leases += 1
                continue
            stats.lease_seconds.append(time.perf_counter() - started)
            if shared.first_lease is None:
                shared.first_lease = started
        results = []
        for job in jobs:
            stats.leased.append(job["id"])
            results.append((job["id"], {"median": 1.0 + len(stats.leased), "spread": 0.0, "n": 3}))
        if plan.measure_seconds:
            await asyncio.sleep(sum(plan.measuring_time(rng) for _ in jobs))
        jobs = []
        if plan.report == "per-job":
            replies = [
                (await _idempotent(client, "PUT", result_path(job_id), values, headers, stats)).json()
                for job_id, values in results
            ]
        else:
            body: dict = {"results": [{"job_id": job_id, **values} for job_id, values in results]}
            if plan.report == "batch-lease":
                body["lease"] = {"max_jobs": plan.max_jobs}
            started = time.perf_counter()
            reply = (await _idempotent(client, "POST", results_path(agent_id), body, headers, stats)).json()
            replies, jobs = reply["results"], reply.get("jobs", [])
            if jobs:  # this request was also the lease: its wait is a lease wait
                stats.lease_seconds.append(time.perf_counter() - started)
        for (job_id, _), answer in zip(results, replies, strict=True):
            if answer["accepted"]:
                stats.accepted.append(job_id)
                shared.finished += 1
        shared.last_result = time.perf_counter()
    return stats


async def _idempotent(
    client: httpx.AsyncClient, method: str, path: str, body: dict, headers: dict, stats: AgentStats
) -> httpx.Response:
    """A result report, retried on a dropped connection (reports are idempotent)."""
    started = time.perf_counter()
    for attempt in range(3):
        try:
            response = await client.request(method, path, json=body, headers=headers)
            break
        except httpx.TransportError:
            stats.transport_errors += 1
            if attempt == 2:
                raise
    response.raise_for_status()
    stats.result_seconds.append(time.perf_counter() - started)
    return response


async def drive(
    servers: list[Server], config: Config, time_limit: float, spy_output: Path | None
) -> tuple[str, list[AgentStats], Shared]:
    agents, jobs = config.agents, config.jobs
    first = servers[0]
    async with httpx.AsyncClient(base_url=first.base_url, timeout=60) as client:
        api = {"Authorization": f"Bearer {first.api_token}"}
        # One agent registers first so the profile exists, then the jobs are enqueued.
        shared = Shared(total=jobs)
        plan = AgentPlan(
            config.max_jobs,
            config.report,
            config.measure_ms / 1000,
            time.monotonic() + time_limit,
            config.start,
            config.jitter,
        )
        reply = await client.post(register_path(), json={"token": first.agent_token, "name": "setup", "device": DEVICE})
        reply.raise_for_status()
        profile_id = reply.json()["profile_id"]
        for start in range(0, jobs, 1000):
            chunk = [signature(i).to_dict() for i in range(start, min(jobs, start + 1000))]
            enqueued = await client.post(
                f"/v1/profiles/{profile_id}/lookup", json={"metric": "latency_ms", "signatures": chunk}, headers=api
            )
            enqueued.raise_for_status()
        # All 50 agents live in this one process, so a full collection of its heap would
        # stall every agent's request at once and be counted as the servers' latency
        # (up to 47 ms each, measured with gc.callbacks): what exists now lives to the end.
        gc.collect()
        gc.freeze()
        # The agents' part only, not start-up and enqueueing (8,000 jobs are a second of
        # the first server's CPU): the profile and the CPU columns.
        shared.cpu_before = CpuMarks.now([server.process.pid for server in servers])
        with py_spy(first.process.pid, spy_output):
            stats = await asyncio.gather(
                *(
                    agent_loop(servers[i % len(servers)], i, shared, plan)
                    for i in range(agents)
                )
            )
    return profile_id, list(stats), shared


# ---- checks and report ----------------------------------------------------------------


def check_exactly_once(database_url: str, profile_id: str, jobs: int, stats: list[AgentStats]) -> list[str]:
    """Everything that is wrong (empty: every job done exactly once)."""
    problems: list[str] = []
    leased = [job_id for s in stats for job_id in s.leased]
    accepted = [job_id for s in stats for job_id in s.accepted]
    if len(accepted) != jobs or len(set(accepted)) != jobs:
        problems.append(f"{len(accepted)} accepted results for {len(set(accepted))} of {jobs} jobs")
    import service.db.tables  # noqa: F401  (registers Job on the metadata)
    from service.db.tables import Job

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            by_status = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            if by_status != {"done": jobs}:
                problems.append(f"job statuses {by_status}, expected {{'done': {jobs}}}")
            by_job = {s_.accepted[i]: a for a, s_ in enumerate(stats) for i in range(len(s_.accepted))}
            reported_by = dict(session.execute(select(Job.id, Job.result_agent_id)).all())
            agent_ids = {a: agent_id for a, agent_id in enumerate(s_.agent_id for s_ in stats)}
            wrong = sum(1 for job_id, a in by_job.items() if reported_by.get(job_id) != agent_ids[a])
            if wrong:
                problems.append(f"{wrong} jobs record another agent than the one whose result was accepted")
            entries = session.scalar(
                select(func.count(func.distinct(TableEntry.signature_digest))).where(TableEntry.profile_id == profile_id)
            )
            rows = session.scalar(select(func.count()).select_from(TableEntry).where(TableEntry.profile_id == profile_id))
            if entries != jobs or rows != jobs:
                problems.append(f"{rows} table entries ({entries} distinct) for {jobs} jobs")
            job_ids = set(session.scalars(select(Job.id)))
            if job_ids != set(leased):
                problems.append(f"{len(job_ids - set(leased))} jobs never leased by an agent")
    finally:
        engine.dispose()
    return problems


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def machine_cpu_seconds() -> float:
    """CPU time all processes have used so far, over every core (Linux /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Config:
    db: str
    agents: int
    jobs: int
    max_jobs: int
    servers: int
    report: str
    measure_ms: float = 0.0
    start: str = START_MODES[0]
    jitter: float = 0.0


def run_one(config: Config, postgres_url: str, time_limit: float, spy_output: Path | None = None) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"agents-load-{config.db}-{config.agents}-"))
    load_before = os.getloadavg()[0]
    try:
        with fresh_database(config.db, workdir, postgres_url) as url, running_servers(url, workdir, config.servers) as servers:
            profile_id, stats, shared = asyncio.run(
                drive(servers, config, time_limit, spy_output)
            )
            before, after = shared.cpu_before, CpuMarks.now([server.process.pid for server in servers])
            assert before is not None
            server_cpu = after.servers - before.servers
            client_cpu = after.agents - before.agents
            # The rest of the machine's CPU: the database (PostgreSQL's processes; nothing
            # for SQLite, which runs inside the servers), and whatever else runs.
            other_cpu = after.machine - before.machine - server_cpu - client_cpu
            problems = check_exactly_once(url, profile_id, config.jobs, stats)
    except BaseException:
        for log in sorted(workdir.glob("server-*.log")):
            print(f"{log.name} (last lines):\n{log.read_text()[-4000:]}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = shared.last_result - (shared.first_lease or shared.last_result)
    leases = [s for a in stats for s in a.lease_seconds]
    # Every agent's first lease is part of the start, when all of them register and lease
    # at the same instant (a fleet coming up at once); the rest is the steady state.
    steady = [s for a in stats for s in a.lease_seconds[1:]]
    puts = [s for a in stats for s in a.result_seconds]
    return {
        "config": config,
        "seconds": elapsed,
        "results_per_s": config.jobs / elapsed if elapsed > 0 else float("nan"),
        "lease_p50_ms": 1000 * statistics.median(leases),
        "lease_p99_ms": 1000 * percentile(leases, 0.99),
        "steady_lease_p99_ms": 1000 * percentile(steady, 0.99),
        "report_p99_ms": 1000 * percentile(puts, 0.99),
        "empty_leases": sum(a.empty_leases for a in stats),
        "transport_errors": sum(a.transport_errors for a in stats),
        "re_leased": sum(len(a.leased) for a in stats) - len({j for a in stats for j in a.leased}),
        "server_cpu_ms_per_result": 1000 * server_cpu / config.jobs,
        "client_cpu_ms_per_result": 1000 * client_cpu / config.jobs,
        "other_cpu_ms_per_result": 1000 * other_cpu / config.jobs,
        "agents_with_work": sum(1 for a in stats if a.leased),
        "load": (load_before, os.getloadavg()[0]),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--servers", type=int, nargs="+", default=[1], help="server processes on the one database")
    parser.add_argument("--jobs-per-agent", type=int, default=5, help="jobs = max(--min-jobs, this x agents)")
    parser.add_argument("--min-jobs", type=int, default=500)
    parser.add_argument("--max-jobs", type=int, default=1, help="jobs per lease (the device agent's default is 8)")
    parser.add_argument(
        "--report", nargs="+", choices=REPORT_MODES, default=["batch-lease"],
        help="results in one request per lease that also leases the next batch (the device agent), in one "
        "request per lease and a lease of its own, or one PUT per job (agents before batches)",
    )
    parser.add_argument(
        "--start", nargs="+", choices=START_MODES, default=[START_MODES[0]],
        help="agents' first leases spread over one lease's measuring time, or all at once (then, with "
        "equal measuring times, they stay in step); no difference without --measure-ms",
    )
    parser.add_argument(
        "--measure-ms", type=float, nargs="+", default=[0.0],
        help="pretended measuring time per job (0: agents never pause, the server is saturated)",
    )
    parser.add_argument(
        "--jitter", type=float, default=0.0,
        help="each job's pretended measuring time varies uniformly by this fraction around --measure-ms "
        "(devices' layers take different times; 0: every job the same)",
    )
    parser.add_argument("--time-limit", type=float, default=300, help="seconds one configuration may take")
    parser.add_argument("--py-spy", type=Path, default=None, help="write the first server's collapsed stacks here")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("NETADAPT_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL role that may CREATE DATABASE (default: the test cluster)",
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.jitter < 1.0:
        parser.error(f"--jitter must be in [0, 1), got {args.jitter}")

    print(f"{len(os.sched_getaffinity(0))} cores; each server one uvicorn process; agents: one asyncio client process; "
          f"{args.max_jobs} job(s) per lease; measuring time jitter +-{args.jitter:g}")
    header = (f"{'db':<11}{'servers':>8}{'report':>12}{'start':>9}{'measure ms':>11}{'agents':>7}{'jobs':>7}{'seconds':>9}"
              f"{'results/s':>11}"
              f"{'lease p50 ms':>14}{'lease p99 ms':>14}{'after 1st p99':>15}{'report p99 ms':>15}{'server CPU ms/result':>22}"
              f"{'agents CPU ms/result':>22}{'rest CPU ms/result':>20}"
              f"{'re-leased':>11}{'load avg':>13}  done exactly once")
    print(header)
    failed = False
    for kind, servers, report, start, measure_ms, agents in itertools.product(
        args.databases, args.servers, args.report, args.start, args.measure_ms, args.agents
    ):
        jobs = max(args.min_jobs, args.jobs_per_agent * agents)
        config = Config(kind, agents, jobs, args.max_jobs, servers, report, measure_ms, start, args.jitter)
        r = run_one(config, args.postgres_url, args.time_limit, args.py_spy)
        verdict = "yes" if not r["problems"] else "NO: " + "; ".join(r["problems"])
        if r["transport_errors"]:
            verdict += f" ({r['transport_errors']} dropped connections retried)"
        failed |= bool(r["problems"])
        load = "{:.1f}-{:.1f}".format(*r["load"])
        print(f"{kind:<11}{servers:>8}{report:>12}{start:>9}{measure_ms:>11g}{agents:>7}{jobs:>7}{r['seconds']:>9.1f}"
              f"{r['results_per_s']:>11.1f}{r['lease_p50_ms']:>14.1f}{r['lease_p99_ms']:>14.1f}{r['steady_lease_p99_ms']:>15.1f}"
              f"{r['report_p99_ms']:>15.1f}{r['server_cpu_ms_per_result']:>22.2f}"
              f"{r['client_cpu_ms_per_result']:>22.2f}{r['other_cpu_ms_per_result']:>20.2f}{r['re_leased']:>11}"
              f"{load:>13}  {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
