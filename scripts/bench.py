"""Whole-process benchmarks of rotgen: they print figures and pass or fail on nothing.

    python scripts/bench.py [--quick] [--binary PATH] [--zip PATH]

- `rotgen build -o` of two specs (`SPECS`): the mixed one (PostgreSQL, MySQL and Redis
  in turn) of 1 … 2,000 secrets, and 500 PostgreSQL secrets: median wall and CPU time,
  peak RSS, output bytes and files, time per secret;
- `rotgen expand` of templates with 1, 10 and 100 Rotgen::Rotation resources;
- cold start: process start to the first event answered, under a minimal local Lambda
  Runtime API (a macro request, so no AWS is needed);
- a whole rotation of a PostgreSQL secret against moto and the local PostgreSQL, when
  scripts/services.sh runs them: wall time per step, peak RSS, Secrets Manager calls and
  database connections (counted from the function's debug log events);
- the binary's size, and the Lambda zip's when there is one.

--quick (what CI runs) uses small sizes and few runs so the benchmark never rots.
The in-process split (parse, model, render, serialize) is `cargo bench --bench pipeline`.
"""

import argparse
import http.server
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec(n):
    """The mixed spec: PostgreSQL, MySQL and Redis secrets in turn, named by name, one VPC,
    a schedule with a window."""
    out = [
        '[stack]\nname = "bench"\n\n[vpc]\nvpc_id = "vpc-0abc1234def567890"\n'
        'subnet_ids = ["subnet-0a1b2c3d4e5f60718"]\n\n[schedule]\nexpression = "rate(30 days)"\nwindow = "4h"\n'
    ]
    for i in range(n):
        service = ("postgres", "mysql", "redis")[i % 3]
        out.append(f'\n[[secret]]\nid = "S{i}"\nname = "prod/team-{i % 7}/service-{i}/credentials"\nservice = "{service}"\n')
    return "".join(out)


def pg_spec(n):
    """The PostgreSQL spec: n PostgreSQL secrets named by name in one VPC."""
    out = [
        '[stack]\nname = "pg"\n\n[vpc]\nvpc_id = "vpc-0abc1234def567890"\n'
        'subnet_ids = ["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"]\n\n[schedule]\ndays = 30\n'
    ]
    for i in range(n):
        out.append(f'\n[[secret]]\nid = "Db{i}"\nname = "prod/db-{i}/app"\nservice = "postgres"\n')
    return "".join(out)


SPECS = {"mixed": spec, "postgres": pg_spec}


def template(rotations):
    resources = {}
    for i in range(rotations):
        resources[f"R{i}"] = {
            "Type": "Rotgen::Rotation",
            "Properties": {
                "function": {"code": "s3://b/rotgen.zip"},
                "schedule": {"days": 30},
                "secret": [{"id": "App", "name": f"app-{i}", "service": "postgres"}],
            },
        }
    return {"Transform": "Rotgen", "Resources": resources}


GNU_TIME = "/usr/bin/time"


def run_rss(argv, env=None):
    """Runs a command: (wall seconds, CPU seconds, peak RSS in KiB, exit code, stdout, stderr).

    CPU is user + system time of the command (from the kernel's accounting of this
    process's children). The peak RSS comes from GNU time, which starts the command from
    its own small process: a child forked from this Python would report Python's size as
    its own peak. The times are measured on a separate run without GNU time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss = None
    if os.path.exists(GNU_TIME):
        with tempfile.NamedTemporaryFile("r") as f:
            subprocess.run([GNU_TIME, "-f", "%M", "-o", f.name, *argv], capture_output=True, env=env)
            text = f.read().strip().splitlines()
            rss = int(text[-1]) if text and text[-1].isdigit() else None
    return elapsed, cpu, rss, proc.returncode, proc.stdout, proc.stderr


def mib(values):
    values = [v for v in values if v is not None]
    return f"{max(values) / 1024:.1f}" if values else "n/a (no GNU time)"


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join("{:>%d}" % w for w in widths)
    print(fmt.format(*header))
    for r in rows:
        print(fmt.format(*r))


def bench_build(binary, cases, runs, tmp):
    """`rotgen build -o` of each (spec name, secrets) case, into a fresh folder each run."""
    rows = []
    for name, n in cases:
        path = os.path.join(tmp, f"{name}-{n}.toml")
        with open(path, "w") as f:
            f.write(SPECS[name](n))
        out_dir = os.path.join(tmp, f"out-{name}-{n}")
        times, cpus, rss = [], [], []
        for _ in range(runs):
            shutil.rmtree(out_dir, ignore_errors=True)
            os.makedirs(out_dir)
            t, c, m, code, _, err = run_rss([binary, "build", path, "-o", os.path.join(out_dir, "template.yaml")])
            if code != 0:
                raise SystemExit(f"rotgen build failed for {n} secrets: {err.decode()}")
            times.append(t)
            cpus.append(c)
            rss.append(m)
        size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
        med = statistics.median(times)
        rows.append((name, n, f"{med * 1000:.1f}", f"{statistics.median(cpus) * 1000:.1f}", mib(rss), size,
                     len(os.listdir(out_dir)), f"{med * 1e6 / n:.0f}"))
    table(
        f"rotgen build, whole process (median of {runs} runs)",
        ("spec", "secrets", "wall ms", "CPU ms", "peak RSS MiB", "output bytes", "files", "µs/secret"),
        rows,
    )


def broken_spec(size):
    """A spec of about `size` bytes full of problems: a typo'd [schedule], unknown
    services and keys, one id used by a third of the secrets, out-of-range values."""
    parts, i, total = ["[schedul]\ndays = 30\n"], 0, 0
    while total < size:
        k = i % 4
        if k == 0:
            p = f'[[secret]]\nid = "S{i}"\nname = "prod/s{i}"\nservice = "postgress"\n'
        elif k == 1:
            p = f'[[secret]]\nid = "S-{i}"\narn = "arn:aws:secretsmanager:us-east-1:1:secret:x"\nservice = "mysql"\nbogus{i} = 1\n'
        elif k == 2:
            p = f'[[secret]]\nid = "Same"\nname = "prod/s{i}"\nservice = "redis"\nstrategy = "alternating-users"\n'
        else:
            p = f'[[secret]]\nid = "T{i}"\ncreate = {{ url = "x", port = 70000 }}\nservice = "http"\nschedule = {{ days = "30" }}\n'
        parts.append(p)
        total += len(p)
        i += 1
    return "".join(parts)


def bench_broken(binary, sizes, runs, tmp):
    rows = []
    for size in sizes:
        path = os.path.join(tmp, f"broken-{size}.toml")
        with open(path, "w") as f:
            f.write(broken_spec(size))
        times, rss = [], []
        for _ in range(runs):
            t, _, m, code, _, err = run_rss([binary, "build", path])
            if code != 2:
                raise SystemExit(f"a broken spec of {size} bytes exited {code}: {err.decode()[-500:]}")
            times.append(t)
            rss.append(m)
        problems = err.decode().strip().splitlines()[-1]
        rows.append((f"{os.path.getsize(path) / 1e6:.1f} MB", f"{statistics.median(times) * 1000:.0f}", mib(rss), problems.split(" has ")[-1].split(";")[0]))
    table(
        f"report a broken spec, whole process (median of {runs} runs)",
        ("spec", "wall ms", "peak RSS MiB", "reported"),
        rows,
    )


def bench_expand(binary, counts, runs, tmp):
    rows = []
    for n in counts:
        path = os.path.join(tmp, f"template-{n}.json")
        with open(path, "w") as f:
            json.dump(template(n), f)
        times, rss, codes = [], [], set()
        for _ in range(runs):
            t, _, m, code, _, _ = run_rss([binary, "expand", path])
            times.append(t)
            rss.append(m)
            codes.add(code)
        note = "ok" if codes == {0} else "refused: over a stack's quotas" if codes == {2} else f"exit {codes}"
        rows.append((n, f"{statistics.median(times) * 1000:.1f}", mib(rss), note))
    table(f"rotgen expand, whole process (median of {runs} runs)", ("rotations", "wall ms", "peak RSS MiB", "result"), rows)


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Hands out one event, records the answer's arrival time."""

    protocol_version = "HTTP/1.1"
    event = b""
    served = False
    answered = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        cls = type(self)
        if cls.served:
            time.sleep(30)
            return
        cls.served = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:rotgen")
        self.send_header("Content-Length", str(len(cls.event)))
        self.end_headers()
        self.wfile.write(cls.event)

    def do_POST(self):
        type(self).answered = time.perf_counter()
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the function is killed mid-poll on purpose


def cold_start(binary, event, extra_env, runs):
    """Median ms from process start to the answer of the first event, and peak RSS."""
    times, rss = [], []
    for _ in range(runs):
        handler = type("Api", (RuntimeApi,), {"event": event, "served": False, "answered": None})
        server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = dict(os.environ)
        env.pop("ROTGEN_SERVICE", None)
        env.update(
            AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
            AWS_LAMBDA_FUNCTION_NAME="bench",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
            AWS_LAMBDA_FUNCTION_VERSION="1",
            **extra_env,
        )
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while handler.answered is None and time.perf_counter() - start < 10:
            time.sleep(0.0002)
        times.append((handler.answered or time.perf_counter()) - start)
        # The function waits for its next event: read its peak RSS while it lives.
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                hwm = [line for line in f if line.startswith("VmHWM:")]
            rss.append(int(hwm[0].split()[1]) if hwm else None)
        except OSError:
            rss.append(None)
        proc.kill()
        proc.wait()
        server.shutdown()
        server.server_close()
    return f"{statistics.median(times) * 1000:.1f}", mib(rss)


def bench_cold_start(binary, runs):
    macro = json.dumps({"requestId": "r", "params": {}, "fragment": template(1)}).encode()
    rows = [("macro request (no AWS)", *cold_start(binary, macro, {}, runs))]
    if os.environ.get("AWS_ENDPOINT_URL"):
        # The rotation function: AWS SDK set-up, then the entry check's DescribeSecret
        # (of a secret that does not exist, so the answer is an error, after one call).
        rotation = json.dumps({"Step": "createSecret", "SecretId": "bench/none", "ClientRequestToken": "t"}).encode()
        rows.append(("rotation event (SDK set-up + 1 call to moto)",
                     *cold_start(binary, rotation, {"ROTGEN_SERVICE": "random"}, runs)))
    table(f"cold start under a local Runtime API (median of {runs} runs)", ("event", "start to answer ms", "peak RSS MiB"), rows)


def bench_rotation(binary, runs):
    needed = ("AWS_ENDPOINT_URL", "PG_PORT", "PG_SUPERUSER", "PG_SUPERPASSWORD")
    if not all(os.environ.get(n) for n in needed):
        print("\nrotation of a PostgreSQL secret: skipped (start scripts/services.sh and source target/services/env)")
        return
    try:
        import boto3
    except ImportError:
        print("\nrotation of a PostgreSQL secret: skipped (run with .venv/bin/python, which has boto3)")
        return
    sm = boto3.client("secretsmanager")
    pg_env = dict(os.environ, PGPASSWORD=os.environ["PG_SUPERPASSWORD"])
    rows, per_step = [], {}
    for i in range(runs):
        user = f"bench{os.getpid()}x{i}"
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", os.environ["PG_PORT"], "-U", os.environ["PG_SUPERUSER"], "-d", "postgres",
             "-q", "-c", f"CREATE ROLE {user} LOGIN PASSWORD 'bench-old-password'"],
            env=pg_env, check=True, capture_output=True,
        )
        arn = sm.create_secret(
            Name=f"bench/{user}",
            SecretString=json.dumps({"engine": "postgres", "host": "127.0.0.1", "port": int(os.environ["PG_PORT"]),
                                     "username": user, "password": "bench-old-password", "dbname": "postgres"}),
        )["ARN"]
        env = dict(os.environ, RUST_LOG="debug,aws=warn,hyper=warn,sqlx=warn,h2=warn,rustls=warn",
                   AWS_LAMBDA_FUNCTION_NAME="bench")
        t, _, m, code, _, err = run_rss([binary, "rotate", "--secret-id", arn, "--service", "postgres", "--allow-plaintext"], env=env)
        if code != 0:
            raise SystemExit(f"rotgen rotate failed: {err.decode()[-2000:]}")
        calls, connects = {}, 0
        for line in err.decode().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("message") == "calling Secrets Manager":
                calls[e["operation"]] = calls.get(e["operation"], 0) + 1
            elif e.get("message") == "connecting":
                connects += 1
            elif e.get("message") == "step finished":
                per_step.setdefault(e["step"], []).append(e["elapsed_ms"])
        rows.append((t, m, sum(calls.values()), connects, calls))
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", os.environ["PG_PORT"], "-U", os.environ["PG_SUPERUSER"], "-d", "postgres",
             "-q", "-c", f"DROP ROLE {user}"],
            env=pg_env, capture_output=True,
        )
    table(
        f"a whole rotation of a PostgreSQL secret (rotgen rotate, moto + local PostgreSQL, median of {runs})",
        ("wall ms", "peak RSS MiB", "SM calls", "DB connections", "calls by operation"),
        [(f"{statistics.median(r[0] for r in rows) * 1000:.1f}", mib([r[1] for r in rows]),
          rows[-1][2], rows[-1][3], json.dumps(rows[-1][4], sort_keys=True))],
    )
    table("per step (median ms)", ("step", "ms"), [(s, f"{statistics.median(v):.1f}") for s, v in per_step.items()])


# ---------------------------------------------------------------------------------------
# A warm rotation, side by side with AWS's own Python function.
#
# Secrets Manager's part is played by an in-process moto whose Lambda `invoke` is patched
# to hand each step's event to the function under test, so RotateSecret behaves as in AWS:
# it stages an empty AWSPENDING version, then invokes createSecret, setSecret, testSecret
# and finishSecret in turn. The function under test runs in its own process, started
# once: rotgen under a local Lambda Runtime API, AWS's function in a small Python driver.
# Its CPU time is read from /proc (every thread's schedstat, in ns) before and after each
# rotation; the first rotation warms it up and is not counted.

AWS_DRIVER = r"""
import json, os, sys
sys.path.insert(0, os.environ["BENCH_AWS_FUNCTION"])
import lambda_function
out = sys.stdout
sys.stdout = sys.stderr
for line in sys.stdin:
    try:
        lambda_function.lambda_handler(json.loads(line), None)
        out.write("ok\n")
    except Exception as e:
        out.write("error " + type(e).__name__ + "\n")
    out.flush()
"""


def cpu_ns(pid):
    """CPU time of every live thread of `pid`, in ns (the kernel's schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


class QueueApi(http.server.BaseHTTPRequestHandler):
    """A Lambda Runtime API that hands out the events put in `events`, one per poll, and
    puts each answer (`ok` or `error`) in `answers`."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the body waits for
    # the client's delayed ACK (40 ms per event), which the real Runtime API does not add.
    disable_nagle_algorithm = True
    events = None
    answers = None
    arn = ""

    def log_message(self, *args):
        pass

    def do_GET(self):
        cls = type(self)
        n, event = cls.events.get()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"bench-{n}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", cls.arn)
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        type(self).answers.put("error" if self.path.endswith("/error") else "ok")


class RotgenRunner:
    """rotgen as the rotation function, started once under a QueueApi."""

    def __init__(self, binary, env, arn):
        import queue

        self.n = 0
        self.api = type("Api", (QueueApi,), {"events": queue.Queue(), "answers": queue.Queue(), "arn": arn})
        self.server = QuietServer(("127.0.0.1", 0), self.api)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.server.server_address[1]}")
        self.proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def invoke(self, event):
        self.n += 1
        self.api.events.put((self.n, json.dumps(event).encode()))
        return self.api.answers.get(timeout=60)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.server.shutdown()
        self.server.server_close()


class PythonRunner:
    """AWS's own function (its lambda_function.py) in a driver process, started once."""

    def __init__(self, python, function_dir, env):
        env = dict(env, BENCH_AWS_FUNCTION=function_dir)
        self.proc = subprocess.Popen([python, "-c", AWS_DRIVER], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def invoke(self, event):
        self.proc.stdin.write(json.dumps(event) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() or "error (driver exited)"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def bench_warm_rotation(binary, runs, aws_function, aws_python):
    needed = ("PG_PORT", "PG_SUPERUSER", "PG_SUPERPASSWORD")
    if not all(os.environ.get(n) for n in needed):
        print("\nwarm rotation: skipped (start scripts/services.sh and source target/services/env)")
        return
    try:
        import queue  # noqa: F401
        import boto3
        import moto.awslambda.models
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("\nwarm rotation: skipped (run with .venv/bin/python, which has boto3 and moto)")
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    aws_env = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    sm = session.client("secretsmanager", endpoint_url=endpoint)
    iam = session.client("iam", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    role = iam.create_role(RoleName="bench-rotation", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    current = {"runner": None}
    original_invoke = moto.awslambda.models.LambdaBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        answer = current["runner"].invoke(json.loads(body))
        if answer != "ok":
            raise RuntimeError(f"the function failed a step: {answer}")
        return b"null"

    moto.awslambda.models.LambdaBackend.invoke = invoke
    pg_env = dict(os.environ, PGPASSWORD=os.environ["PG_SUPERPASSWORD"])

    def psql(sql):
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", os.environ["PG_PORT"], "-U", os.environ["PG_SUPERUSER"],
                        "-d", "postgres", "-q", "-c", sql], env=pg_env, check=True, capture_output=True)

    import zipfile, io

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "")
    candidates = [("rotgen", None)]
    if aws_function:
        candidates.append(("AWS's Python function", aws_function))
    rows = []
    try:
        for label, function_dir in candidates:
            name = "bench-rotgen" if function_dir is None else "bench-aws"
            fn_arn = lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=role, Handler="bootstrap",
                                         Code={"ZipFile": code.getvalue()})["FunctionArn"]
            user = f"warm{os.getpid()}{name.replace('-', '')}"
            psql(f"CREATE ROLE {user} LOGIN PASSWORD 'bench-old-password'")
            arn = sm.create_secret(Name=f"bench/{user}", SecretString=json.dumps({
                "engine": "postgres", "host": "127.0.0.1", "port": int(os.environ["PG_PORT"]), "username": user,
                "password": "bench-old-password", "dbname": "postgres"}))["ARN"]
            env = dict(os.environ, **aws_env)
            for k in ("RUST_LOG", "AWS_ENDPOINT_URL", "AWS_PROFILE", "ROTGEN_STRATEGY", "ROTGEN_REQUIRE_TLS"):
                env.pop(k, None)
            if function_dir is None:
                env.update(AWS_ENDPOINT_URL=endpoint, ROTGEN_SERVICE="postgres", AWS_LAMBDA_FUNCTION_NAME=name,
                           AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="1")
                runner = RotgenRunner(binary, env, fn_arn)
            else:
                env.update(SECRETS_MANAGER_ENDPOINT=endpoint)
                runner = PythonRunner(aws_python, function_dir, env)
            current["runner"] = runner
            cpu, wall = [], []
            try:
                for i in range(runs + 1):
                    before, start = cpu_ns(runner.proc.pid), time.perf_counter()
                    sm.rotate_secret(SecretId=arn, RotationLambdaARN=fn_arn,
                                     RotationRules={"AutomaticallyAfterDays": 30})
                    elapsed, used = time.perf_counter() - start, cpu_ns(runner.proc.pid) - before
                    if i > 0:  # the first one warms the function up
                        cpu.append(used / 1e6)
                        wall.append(elapsed * 1000)
                    # Secrets Manager's last act, which moto leaves out: AWSPENDING off the
                    # version that is now AWSCURRENT.
                    for version, stages in sm.describe_secret(SecretId=arn)["VersionIdsToStages"].items():
                        if "AWSPENDING" in stages:
                            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING",
                                                           RemoveFromVersionId=version)
                value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
                if value["password"] == "bench-old-password":
                    raise SystemExit(f"{label}: the password did not change")
                rss = hwm_kib(runner.proc.pid)
            finally:
                runner.close()
                psql(f"DROP ROLE IF EXISTS {user}")
            rows.append((label, f"{statistics.median(cpu):.1f}", f"{min(cpu):.1f}-{max(cpu):.1f}",
                         f"{statistics.median(wall):.1f}", mib([rss])))
    finally:
        moto.awslambda.models.LambdaBackend.invoke = original_invoke
        server.stop()
    table(f"a warm single-user PostgreSQL rotation: the four steps in a running function (median of {runs}, "
          "after one that warms it up; in-process moto + local PostgreSQL)",
          ("function", "CPU ms", "CPU range ms", "wall ms", "peak RSS MiB"), rows)


def sizes(binary, zip_path):
    rows = [("binary (as built)", binary, os.path.getsize(binary))]
    if zip_path and os.path.exists(zip_path):
        rows.append(("Lambda zip", zip_path, os.path.getsize(zip_path)))
    else:
        rows.append(("Lambda zip", "(none: scripts/package.sh builds it)", "-"))
    table("sizes", ("what", "file", "bytes"), rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, few runs (CI)")
    ap.add_argument("--binary", default=None, help="rotgen binary (default: target/release/rotgen, else target/debug/rotgen)")
    ap.add_argument("--zip", default=os.path.join(ROOT, "dist", "rotgen-arm64.zip"))
    ap.add_argument("--aws-function", default=None, metavar="DIR",
                    help="AWS's SecretsManagerRDSPostgreSQLRotationSingleUser directory (its lambda_function.py), "
                         "to measure side by side with rotgen's warm rotation")
    ap.add_argument("--aws-python", default=sys.executable, metavar="PYTHON",
                    help="the Python that runs --aws-function: it needs boto3 and PyGreSQL (default: this one)")
    ap.add_argument("--only", choices=["warm"], default=None, help="run only the warm rotation (side by side)")
    args = ap.parse_args()
    binary = args.binary
    if binary is None:
        for candidate in ("target/release/rotgen", "target/debug/rotgen"):
            if os.path.exists(os.path.join(ROOT, candidate)):
                binary = os.path.join(ROOT, candidate)
                break
    if binary is None or not os.path.exists(binary):
        raise SystemExit("no rotgen binary: run cargo build --release (or pass --binary)")
    print(f"rotgen benchmarks: {binary}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; {time.strftime('%Y-%m-%d')}")
    quick = args.quick
    if args.only == "warm":
        bench_warm_rotation(binary, 3 if quick else 7, args.aws_function, args.aws_python)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if quick:
            cases = [("mixed", 1), ("mixed", 10), ("mixed", 100), ("postgres", 100)]
        else:
            cases = [("mixed", n) for n in (1, 10, 100, 500, 2000)] + [("postgres", 500)]
        bench_build(binary, cases, 3 if quick else 21, tmp)
        bench_expand(binary, [1, 10, 100], 3 if quick else 21, tmp)
        bench_broken(binary, [100_000] if quick else [500_000, 5_000_000], 1 if quick else 5, tmp)
    bench_cold_start(binary, 3 if quick else 21)
    bench_rotation(binary, 1 if quick else 5)
    bench_warm_rotation(binary, 3 if quick else 7, args.aws_function, args.aws_python)
    sizes(binary, args.zip)


if __name__ == "__main__":
    sys.exit(main())
