#!/usr/bin/env python3
"""Gatehouse against nginx baselines on this machine (not a test; never run in CI).

Starts a release gatehouse with a fresh data directory and 10,000 project tokens, and nginx
with three servers: a `map` gate holding the same 10,000 secrets, a fast upstream answering a
fixed completion (JSON, and server-sent events under /sse), and a `proxy_pass` in front of that
upstream (keep-alive). Then, in alternating rounds, wrk measures:

  validate   gatehouse GET /v1/accessControl/apitoken/validate  vs  the nginx map gate
  chat       gatehouse POST /v1/chat/completions (fast upstream)  vs  nginx proxy_pass  vs  direct
  stream     the same with "stream": true (fixed SSE answer)     vs  nginx proxy_pass

and prints the medians of requests/s, p50 and p99 and the ratios. Also: 1,000 sequential chat
calls over one client connection (upstream connections created), and with --streams N, N
concurrent streaming calls to an upstream that streams for 10 s (wall time, errors, server RSS,
validate latency meanwhile). The streams run on bench/streams.c, compiled here with cc: its
client opens all N at once (epoll, one thread), its upstream sends ten events one second apart,
and its probe sends validate at 100 requests/s; each round first runs the client straight against
the upstream (the harness floor), then through Gatehouse. `--only streams` skips the wrk runs.

With --store postgres (a temporary cluster of tests/pg/pg_cluster.py) or --store postgresql://…
(a cluster: a fresh database is made in it and dropped at the end) the installation lives in
PostgreSQL, and --nodes N starts N gatehouse processes on that one database, each on its own port
with its own data directory (the same master key) and the same config. `--nodes 1,2` measures one
and two nodes in the same alternating rounds (the nodes beyond one idle meanwhile). In that mode
every wrk runs one thread per node of the largest count, and bench/nodes.lua points thread i at
node i, so one wrk spreads the connections evenly and its percentiles cover every node; the
nginx contenders get the same client. Every chat call must leave a record: the nodes' request-log
counters are summed and, on PostgreSQL, the rows added to `requests` are counted with psql.
--cpu prints where the CPU went during each contender's runs (cores busy per process group).
"""

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.http.load_upstream import FIXED_BODY  # noqa: E402
from tests.pg import pg_cluster  # noqa: E402

HOST = '127.0.0.1'
BIN = os.environ.get('GATEHOUSE_BIN') or os.path.join(ROOT, 'build/release/gatehouse')
SSE_BODY = ('data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
            '{"content":"fixed answer"}}]}\n\ndata: {"id":"c","object":"chat.completion.chunk",'
            '"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'
            '\n\ndata: [DONE]\n\n')


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def distinct_ports(count):
    ports = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'nothing listens on {port}')


def request(port, method, path, body=None, token=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
    send = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        send['Content-Type'] = 'application/json'
    if token:
        send['Authorization'] = f'Bearer {token}'
    conn.request(method, path, body=data, headers=send)
    reply = conn.getresponse()
    text = reply.read().decode()
    if own:
        conn.close()
    try:
        return reply.status, json.loads(text)
    except ValueError:
        return reply.status, text


def nginx_escape(text):
    return text.replace('\\', '\\\\').replace("'", "\\'").replace('\n', '\\n')


def write_nginx(work, gate_port, upstream_port, proxy_port, secrets):
    with open(os.path.join(work, 'secrets.map'), 'w') as out:
        for secret in secrets:
            out.write(f'"Bearer {secret}" 1;\n')
    validate = json.dumps({'status': 'ok'})
    conf = f'''
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  keepalive_requests 1000000;
  map_hash_max_size 65536; map_hash_bucket_size 128;
  map $http_authorization $allowed {{ default 0; include {work}/secrets.map; }}
  server {{
    listen {HOST}:{gate_port} reuseport;
    location / {{
      default_type application/json;
      if ($allowed = 0) {{ return 401 '{{"errors":[{{"id":6}}]}}'; }}
      return 200 '{nginx_escape(validate)}';
    }}
  }}
  server {{
    listen {HOST}:{upstream_port} reuseport;
    location /v1/chat/completions {{
      default_type application/json;
      return 200 '{nginx_escape(FIXED_BODY.decode())}';
    }}
    location /sse/v1/chat/completions {{
      default_type text/event-stream;
      return 200 '{nginx_escape(SSE_BODY)}';
    }}
  }}
  upstream fast {{ server {HOST}:{upstream_port}; keepalive 256; }}
  server {{
    listen {HOST}:{proxy_port} reuseport;
    location / {{
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
'''
    path = os.path.join(work, 'nginx.conf')
    with open(path, 'w') as out:
        out.write(conf)
    return path


def gatehouse_config(upstream_port, stream_port):
    return f'''
[[providers]]
name = "fast"
base_url = "http://{HOST}:{upstream_port}/v1"
timeout_ms = 30000
[[providers.models]]
name = "fixed"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0

[[providers]]
name = "fastsse"
base_url = "http://{HOST}:{upstream_port}/sse/v1"
timeout_ms = 30000
[[providers.models]]
name = "fixed"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0

[[providers]]
name = "slow"
base_url = "http://{HOST}:{stream_port}/v1"
timeout_ms = 60000
[[providers.models]]
name = "stream-10x1000"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
'''


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


def wait_valid(port, token, timeout=60):
    """Waits until the node on port accepts token (its cache has loaded it)."""
    deadline = time.monotonic() + timeout
    while request(port, 'GET', '/v1/accessControl/apitoken/validate', token=token)[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f'the node on {port} still refuses the bench token')
        time.sleep(0.1)


def start_node(work, data_dir, log_name, port, store_args):
    """`gatehouse serve` on port with the bench's config, once it listens."""
    with open(f'{work}/{log_name}', 'w') as log:
        node = subprocess.Popen([BIN, 'serve', '--data-dir', data_dir, '--listen',
                                 f'{HOST}:{port}', '--config', f'{work}/gatehouse.toml',
                                 *store_args], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=60)
    return node


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--quick', action='store_true', help='3 rounds of 3 s (under 2 minutes)')
    parser.add_argument('--seconds', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--tokens', type=int, default=10000)
    parser.add_argument('--streams', type=int, default=0,
                        help='also run this many concurrent 10-s streams (e.g. 5000)')
    parser.add_argument('--stream-rounds', type=int, default=1,
                        help='rounds of the --streams run (each: harness floor, then gatehouse)')
    parser.add_argument('--only', default='validate,chat,stream,sequential',
                        help='wrk benchmarks to run (none: --only streams)')
    parser.add_argument('--store', default='sqlite',
                        help='sqlite; postgres: a temporary cluster (tests/pg/pg_cluster.py); '
                             'or postgresql://… of a cluster, where a fresh database is made '
                             'and dropped at the end')
    parser.add_argument('--nodes', default='1',
                        help='gatehouse nodes on one PostgreSQL database: N, or counts to '
                             'alternate such as 1,2')
    parser.add_argument('--cpu', action='store_true',
                        help='print the cores each process group kept busy during each '
                             "contender's runs")
    args = parser.parse_args()
    seconds = 3 if args.quick else args.seconds
    only = set(args.only.split(','))
    node_counts = sorted({int(n) for n in args.nodes.split(',')})
    nodes = node_counts[-1]
    if node_counts[0] < 1:
        sys.exit('bench: --nodes counts start at 1')
    if args.store != 'sqlite' and args.store != 'postgres' and \
            not re.match(r'^postgres(ql)?://', args.store):
        sys.exit('bench: --store is sqlite, postgres or a postgresql:// url')
    if nodes > 1 and args.store == 'sqlite':
        sys.exit('bench: several nodes share a PostgreSQL database: add --store postgres')
    for tool in ('wrk', 'nginx'):
        if not shutil.which(tool) and not os.path.exists(f'/usr/sbin/{tool}'):
            sys.exit(f'bench: install {tool} (apt-get install {tool})')

    work = tempfile.mkdtemp(prefix='gatehouse-bench-')
    processes = []
    cluster = cluster_url = store_url = None
    try:
        gate_port, upstream_port, proxy_port, *node_ports = distinct_ports(3 + nodes)
        port = node_ports[0]
        store_args = []
        if args.store != 'sqlite':
            if args.store == 'postgres':
                cluster = pg_cluster.PgCluster(os.path.join(work, 'pg'))
                try:
                    cluster_url = cluster.start()
                except pg_cluster.PgNotInstalled as e:
                    sys.exit(f'bench: {e}')
            else:
                cluster_url = args.store
            store_url = pg_cluster.create_database(
                cluster_url, pg_cluster.random_database_name('gh_bench'))
            store_args = ['--store', store_url]
            print(f'# PostgreSQL: {store_url}; {nodes} node(s)')
        harness = build_harness(work)
        # The streaming upstream: ten content events one second apart, then usage and [DONE].
        slow = subprocess.Popen([harness, 'upstream', '10', '1000'], stdout=subprocess.PIPE)
        processes.append(slow)
        stream_port = int(slow.stdout.readline())
        init = subprocess.run([BIN, 'init', '--data-dir', f'{work}/data', '--json', *store_args],
                              capture_output=True, text=True, check=True)
        org_token = json.loads(init.stdout)['apiToken']['secret']
        with open(f'{work}/gatehouse.toml', 'w') as out:
            out.write(gatehouse_config(upstream_port, stream_port))
        server = start_node(work, f'{work}/data', 'serve.log', port, store_args)
        servers = [server]
        processes.append(server)

        started = time.monotonic()
        status, project = request(port, 'POST', '/v1/organization/project',
                                  body={'name': 'bench'}, token=org_token)
        project_id = project['projectId']
        token = project['tokens'][0]['secret']
        secrets = [token]

        def create(batch):
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            made = []
            for i in batch:
                status, body = request(port, 'POST', '/v2/projects/tokens',
                                       body={'name': f'bench-{i}'}, token=org_token,
                                       headers={'project-id': project_id}, conn=conn)
                made.append(body['secret'])
            conn.close()
            return made

        with ThreadPoolExecutor(8) as pool:
            for made in pool.map(create, [range(i, args.tokens - 1, 8) for i in range(8)]):
                secrets += made
        print(f'# {len(secrets)} project tokens created in {time.monotonic() - started:.1f} s')

        # Further nodes of the same installation: the database and the master key, no init.
        for number, node_port in enumerate(node_ports[1:], start=2):
            data_dir = f'{work}/node{number}'
            os.makedirs(data_dir)
            shutil.copyfile(f'{work}/data/master.key', f'{data_dir}/master.key')
            os.chmod(f'{data_dir}/master.key', 0o600)
            servers.append(start_node(work, data_dir, f'serve{number}.log', node_port,
                                      store_args))
            processes.append(servers[-1])
        for node_port in node_ports:
            wait_valid(node_port, secrets[-1])

        conf = write_nginx(work, gate_port, upstream_port, proxy_port, secrets)
        nginx = subprocess.Popen(['nginx', '-c', conf, '-g', 'daemon off;'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(nginx)
        for p in (gate_port, upstream_port, proxy_port):
            wait_port(p)

        def gatehouse(path, body):
            if node_counts == [1]:
                return [('gatehouse', f'http://{HOST}:{port}{path}', body, None)]
            return [(f'gatehouse x{count}', f'http://{HOST}:{port}{path}', body,
                     node_ports[:count]) for count in node_counts]

        chat_body = {'model': 'fast/fixed', 'messages': [{'role': 'user', 'content': 'hi'}]}
        stream_body = dict(chat_body, model='fastsse/fixed', stream=True)
        upstream_url = f'http://{HOST}:{upstream_port}'
        contenders = {
            'validate': gatehouse('/v1/accessControl/apitoken/validate', None) + [
                ('nginx map', f'http://{HOST}:{gate_port}/validate', None, None)],
            'chat': gatehouse('/v1/chat/completions', chat_body) + [
                ('nginx proxy', f'http://{HOST}:{proxy_port}/v1/chat/completions', chat_body,
                 None),
                ('direct', f'{upstream_url}/v1/chat/completions', chat_body, None)],
            'stream': gatehouse('/v1/chat/completions', stream_body) + [
                ('nginx proxy', f'http://{HOST}:{proxy_port}/sse/v1/chat/completions',
                 stream_body, None),
                ('direct', f'{upstream_url}/sse/v1/chat/completions', stream_body, None)],
        }
        connections = {'validate': 64, 'chat': 32, 'stream': 32}
        cpu_groups = {'nginx': [nginx.pid]}
        for number, node in enumerate(servers, start=1):
            cpu_groups['gatehouse' if nodes == 1 else f'node {number}'] = [node.pid]
        if cluster:
            with open(os.path.join(cluster.data_dir, 'postmaster.pid')) as pid_file:
                cpu_groups['postgres'] = [int(pid_file.readline())]

        if 'sequential' in only:
            created = metric(port, 'gatehouse_upstream_connections_created_total')
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            begin = time.monotonic()
            for _ in range(1000):
                status, _ = request(port, 'POST', '/v1/chat/completions', body=chat_body,
                                    token=token, conn=conn)
                assert status == 200, status
            elapsed = time.monotonic() - begin
            conn.close()
            print(f'# 1,000 sequential chat calls over one connection: {elapsed:.2f} s, upstream '
                  'connections created: '
                  f'{metric(port, "gatehouse_upstream_connections_created_total") - created:.0f}')

        if only & {'validate', 'chat', 'stream'}:
            wait_stored(node_ports)
            written_before = metric_sum(node_ports, 'gatehouse_request_log_written_total')
            rows_before = record_rows(store_url) if store_url else 0
            gatehouse_calls = 0
            print(f'# medians of {args.rounds} alternating rounds of {seconds} s; wrk -t{nodes}; '
                  'latencies in ms')
            print(f'{"benchmark":<10} {"target":<12} {"req/s":>10} {"p50":>8} {"p99":>8} '
                  f'{"ratio":>7} {"p50 x":>7}')
            for name in ('validate', 'chat', 'stream'):
                if name not in only:
                    continue
                results = {label: [] for label, _url, _body, _ports in contenders[name]}
                cpu = {label: [] for label in results}
                for _round in range(args.rounds):
                    for label, url, body, ports in contenders[name]:
                        is_gatehouse = label.startswith('gatehouse')
                        before = cpu_snapshot(cpu_groups) if args.cpu else None
                        begin = time.monotonic()
                        result = run_wrk(url, seconds, connections[name],
                                         token=token if is_gatehouse or name == 'validate'
                                         else None, body=body, threads=nodes, ports=ports)
                        if args.cpu:
                            cpu[label].append(cpu_shares(before, cpu_snapshot(cpu_groups),
                                                         time.monotonic() - begin))
                        if is_gatehouse and name != 'validate':
                            gatehouse_calls += result['requests']
                        if result['non2xx'] or result['socket_errors']:
                            print(f'#   {name} {label}: non-2xx {result["non2xx"]}, socket errors '
                                  f'{result["socket_errors"]}')
                        results[label].append(result)
                baseline = [label for label in results if not label.startswith('gatehouse')][0]
                base_rps = median_of(results[baseline], 'rps')
                base_p50 = median_of(results[baseline], 'p50')
                for label, rows in results.items():
                    rps, p50, p99 = (median_of(rows, k) for k in ('rps', 'p50', 'p99'))
                    print(f'{name:<10} {label:<12} {rps:>10.0f} {p50:>8.2f} {p99:>8.2f} '
                          f'{rps / base_rps:>7.2f} {p50 / base_p50:>7.2f}')
                    if args.cpu:
                        print('#   cores busy: ' + ', '.join(
                            f'{group} {statistics.mean(s[group] for s in cpu[label]):.2f}'
                            for group in cpu[label][0]))
            wait_stored(node_ports)
            written = metric_sum(node_ports, 'gatehouse_request_log_written_total') - written_before
            dropped = metric_sum(node_ports, 'gatehouse_request_log_dropped_total')
            rows = record_rows(store_url) - rows_before if store_url else written
            stored = f', rows added to requests: {rows}' if store_url else ''
            print(f'# request records written during the wrk runs: {written:.0f} '
                  f'({gatehouse_calls} chat calls completed per wrk), dropped: {dropped:.0f}'
                  f'{stored}')
            if min(written, rows) < gatehouse_calls:
                print(f'# MISSING: {gatehouse_calls - min(written, rows):.0f} chat calls left no '
                      'record')
            print('# pool: ' + ', '.join(
                f'{k} {metric_sum(node_ports, "gatehouse_upstream_connections_" + k):.0f}'
                for k in ('open', 'idle', 'created_total', 'reused_total')))

        if args.streams:
            print(f'# {args.streams} concurrent 10-s streams (bench/streams.c client and upstream); '
                  'validate probed at 100 requests/s meanwhile; times in s, latencies in ms')
            print(f'{"round":<6} {"floor":>6} {"wall":>6} {"errors":>6} {"sent":>6} '
                  f'{"RSS MiB":>14} {"val p50":>8} {"val p99":>8} {"1st s p99":>9} {"max":>7}')
            for round_number in range(1, args.stream_rounds + 1):
                floor = concurrent_streams(harness, stream_port, token, args.streams, None,
                                           'stream-10x1000', probe=False)
                if floor['errors']:
                    print(f'#   floor: {floor["errors"]} errors ({floor["example_error"]})')
                time.sleep(1)
                result = concurrent_streams(harness, port, token, args.streams, server.pid,
                                            'slow/stream-10x1000')
                if result['errors']:
                    print(f'#   gatehouse: {result["errors"]} errors ({result["example_error"]})')
                validate = result['validate']
                rss = (f'{result["rss_before_mib"]:.0f}->{result["rss_peak_mib"]:.0f} '
                       f'(+{result["rss_peak_mib"] - result["rss_before_mib"]:.0f})')
                print(f'{round_number:<6} {floor["wall_s"]:>6.2f} {result["wall_s"]:>6.2f} '
                      f'{result["errors"]:>6} {result["all_sent_s"]:>6.2f} {rss:>14} '
                      f'{validate["p50_ms"]:>8.2f} {validate["p99_ms"]:>8.2f} '
                      f'{validate["first_second_p99_ms"]:>9.2f} {validate["max_ms"]:>7.2f}',
                      flush=True)
                print(f'#   gatehouse: requests all sent at {result["all_sent_s"]:.2f} s, first '
                      f'bytes p50 {result["first_byte_p50_s"]:.2f} s, max '
                      f'{result["first_byte_max_s"]:.2f} s; ends min {result["end_min_s"]:.2f} s, '
                      f'p50 {result["end_p50_s"]:.2f} s, max {result["end_max_s"]:.2f} s; '
                      f'floor: sent at {floor["all_sent_s"]:.2f} s, ends p50 '
                      f'{floor["end_p50_s"]:.2f} s', flush=True)
                time.sleep(2)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if cluster:
            cluster.remove()
        elif store_url:
            pg_cluster.drop_database(cluster_url, store_url.rsplit('/', 1)[1])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
