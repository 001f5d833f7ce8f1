"""What bench.py measures with: wrk runs and their medians, the nodes' counters, CPU per
process group, RSS, and the C streams harness (bench/streams.c)."""

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import threading
import time

from contenders import ROOT, request
from tests.pg import pg_cluster

LATENCY = re.compile(r'^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$', re.M)


def run_wrk(url, seconds, connections, token=None, body=None, threads=1, ports=None):
    """ports: the nodes to spread wrk's threads over (bench/nodes.lua), else the url's port."""
    args = ['wrk', f'-t{threads}', f'-c{connections}', f'-d{seconds}s', '--latency']
    env = dict(os.environ)
    if token:
        args += ['-H', f'Authorization: Bearer {token}']
    if ports:
        args += ['-s', os.path.join(ROOT, 'bench/nodes.lua')]
        env['BENCH_PORTS'] = ','.join(map(str, ports))
    elif body is not None:
        args += ['-s', os.path.join(ROOT, 'bench/post_json.lua')]
    if body is not None:
        env['BENCH_BODY'] = json.dumps(body)
    args.append(url)
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    completed = int(re.search(r'(\d+) requests in', out).group(1))
    latencies = {}
    for pct, value, unit in LATENCY.findall(out):
        latencies[pct] = float(value) * {'us': 1e-3, 'ms': 1.0, 's': 1e3}[unit]
    errors = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    socket_errors = re.search(r'Socket errors: (.*)', out)
    return {'rps': rps, 'requests': completed, 'p50': latencies.get('50'),
            'p99': latencies.get('99'),
            'non2xx': int(errors.group(1)) if errors else 0,
            'socket_errors': socket_errors.group(1) if socket_errors else ''}


def median_of(results, key):
    return statistics.median(r[key] for r in results)


def metric(port, name):
    _status, text = request(port, 'GET', '/metrics')
    for line in text.splitlines():
        if line.startswith(name + ' '):
            return float(line.split()[1])
    return float('nan')


def metric_sum(ports, name):
    return sum(metric(port, name) for port in ports)


def wait_stored(ports, timeout=60):
    """Waits until every node has stored its request records: none queued and the written count
    unchanged for 0.5 s (the queue depth leaves out the batch being stored)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        written = metric_sum(ports, 'gatehouse_request_log_written_total')
        if metric_sum(ports, 'gatehouse_request_log_queue_depth') > 0:
            written = None
        elif written == last:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f'request records still being stored after {timeout} s')
        last = written
        time.sleep(0.5)


def record_rows(store_url):
    return int(pg_cluster.psql(store_url, 'SELECT count(*) FROM requests'))


def cpu_snapshot(groups):
    """CPU seconds so far: of each group (name -> root pids, with their descendants), of the
    wrk runs (our reaped children), and of the whole machine ('busy', 'all': every core)."""
    tick = os.sysconf('SC_CLK_TCK')
    used, children = {}, {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as stat:
                fields = stat.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
        children.setdefault(int(fields[1]), []).append(int(entry))
    snapshot = {}
    for name, roots in groups.items():
        pending, total = list(roots), 0.0
        while pending:
            pid = pending.pop()
            total += used.get(pid, 0.0)
            pending += children.get(pid, [])
        snapshot[name] = total
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    snapshot['wrk'] = reaped.ru_utime + reaped.ru_stime
    with open('/proc/stat') as stat:
        jiffies = [int(v) for v in stat.readline().split()[1:9]]
    snapshot['all'] = sum(jiffies) / tick
    snapshot['busy'] = (sum(jiffies) - jiffies[3] - jiffies[4]) / tick
    return snapshot


def cpu_shares(before, after, wall):
    """Cores busy per group over wall seconds; 'other' is every process not in a group."""
    delta = {name: after[name] - before[name] for name in after}
    cores = delta.pop('all') / wall
    busy = delta.pop('busy')
    # A process that exited meanwhile takes its seconds out of its group's sum.
    shares = {name: max(0.0, seconds) / wall for name, seconds in delta.items()}
    shares['other'] = max(0.0, busy - sum(delta.values())) / wall
    shares['idle'] = max(0.0, cores - busy / wall)
    return shares


def rss_mib(pid):
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def build_harness(work):
    """Compiles bench/streams.c (the streams client, upstream and validate probe) into `work`."""
    binary = os.path.join(work, 'streams')
    compiler = shutil.which('cc') or shutil.which('gcc') or 'cc'
    subprocess.run([compiler, '-O2', '-o', binary, os.path.join(ROOT, 'bench/streams.c')],
                   check=True)
    return binary


def concurrent_streams(harness, port, token, count, server_pid, model, probe=True):
    """count concurrent 10-s streams opened at once by the C client; the server's peak RSS is
    sampled every 0.1 s, and validate is probed meanwhile by a separate process (100 requests/s
    on one keep-alive connection, started just before the streams, for 12 s)."""
    stop = threading.Event()
    rss_before = rss_mib(server_pid) if server_pid else float('nan')
    peak = [rss_before]

    def watch_rss():
        while server_pid and not stop.is_set():
            peak[0] = max(peak[0], rss_mib(server_pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_rss)
    watcher.start()
    prober = None
    if probe:
        prober = subprocess.Popen([harness, 'probe', str(port), token, '100', '12'],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(0.05)
    client = subprocess.run([harness, 'client', str(port), str(count), '/v1/chat/completions',
                             token, model, '60'], capture_output=True, text=True, check=True)
    stop.set()
    watcher.join()
    result = json.loads(client.stdout)
    result.update(rss_before_mib=rss_before, rss_peak_mib=peak[0])
    if prober:
        result['validate'] = json.loads(prober.communicate()[0])
    return result
