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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from contenders import (BIN, HOST, distinct_ports, gatehouse_config, request,  # noqa: E402
                        start_node, wait_port, wait_valid, write_nginx)
from measure import (build_harness, concurrent_streams, cpu_shares, cpu_snapshot,  # noqa: E402
                     median_of, metric, metric_sum, record_rows, rss_mib, run_wrk, wait_stored)
from tests.pg import pg_cluster  # noqa: E402


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
    parser.add_argument('--loop-scheduling', choices=('adaptive', 'normal', 'batch'),
                        default='adaptive',
                        help="the server's event loop scheduling ([server] loop_scheduling)")
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
        serve_args = [*store_args, '--loop-scheduling', args.loop_scheduling]
        server = start_node(work, f'{work}/data', 'serve.log', port, serve_args)
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
                                      serve_args))
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
                  f'gatehouse loops: {args.loop_scheduling} scheduling; latencies in ms')
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
