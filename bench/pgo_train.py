"""The training run of a profile-guided build (scripts/build-pgo): drives a gatehouse binary built
with -fprofile-generate through the hot paths a node serves, so that the compiler then lays out
and inlines the code for them. Python 3 standard library only; no wrk or nginx needed.

The mix, over keep-alive connections from a few client threads: validate (authentication
alone), chat completions relayed to a fast local upstream (tests/http/load_upstream.py), streamed
too, embeddings, and a little management (token creation and listing, the usage export). What is
not exercised keeps its ordinary optimization (-fprofile-partial-training).

  GATEHOUSE_BIN=build/pgo/gatehouse python3 bench/pgo_train.py [--seconds 20]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from contenders import BIN, HOST, free_port, request, wait_port  # noqa: E402
from tests.http.load_upstream import LoadUpstream  # noqa: E402

CONFIG = '''
[[providers]]
name = "fast"
base_url = "{base_url}"
timeout_ms = 30000
[[providers.models]]
name = "fixed"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
[[providers.models]]
name = "stream-3x0"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
'''

CHAT = {'model': 'fast/fixed', 'messages': [{'role': 'user', 'content': 'hello'}]}
STREAM = {'model': 'fast/stream-3x0', 'stream': True,
          'messages': [{'role': 'user', 'content': 'hello'}]}
EMBED = {'model': 'fast/fixed', 'input': 'hello'}


def drive(port, token, org_token, project_id, until, counts, lock, failures):
    """One client: keeps calling the mix until `until` (monotonic seconds)."""
    try:
        run_mix(port, token, org_token, project_id, until, counts, lock)
    except Exception as e:  # noqa: BLE001 (reported by main)
        with lock:
            failures.append(repr(e))


def run_mix(port, token, org_token, project_id, until, counts, lock):
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    done = {}

    def call(name, method, path, body=None, secret=token, headers=None):
        status, reply = request(port, method, path, body=body, token=secret, headers=headers,
                                conn=conn)
        if status != 200:
            raise RuntimeError(f'{name}: {status} {reply}')
        done[name] = done.get(name, 0) + 1

    i = 0
    while time.monotonic() < until:
        call('validate', 'GET', '/v1/accessControl/apitoken/validate')
        call('chat', 'POST', '/v1/chat/completions', CHAT)
        if i % 4 == 0:
            call('stream', 'POST', '/v1/chat/completions', STREAM)
        if i % 16 == 0:
            call('embeddings', 'POST', '/v1/embeddings', EMBED)
        if i % 200 == 0:
            call('token', 'POST', '/v2/projects/tokens', {'name': f'train-{time.monotonic_ns()}'},
                 secret=org_token, headers={'project-id': project_id})
            call('listing', 'GET', '/v2/tokens', secret=org_token)
        i += 1
    conn.close()
    with lock:
        for name, count in done.items():
            counts[name] = counts.get(name, 0) + count


def stop_server(server, work):
    """SIGTERM, as an operator stops a node: a clean exit is what writes the profile. Returns a
    problem to report, or None."""
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return f'the server did not stop within 60 s (see {work}/serve.log)'
    return None if code == 0 else f'the server exited with {code} (see {work}/serve.log)'


def train(args, upstream, work):
    """Starts the server and runs the mix; returns a problem to report, or None."""
    with open(f'{work}/gatehouse.toml', 'w') as out:
        out.write(CONFIG.format(base_url=upstream.base_url))
    init = subprocess.run([BIN, 'init', '--data-dir', f'{work}/data', '--json'],
                          capture_output=True, text=True)
    if init.returncode != 0:
        return f'gatehouse init failed ({init.returncode}): {init.stderr.strip()}'
    org_token = json.loads(init.stdout)['apiToken']['secret']
    port = free_port()
    with open(f'{work}/serve.log', 'w') as log:
        server = subprocess.Popen([BIN, 'serve', '--data-dir', f'{work}/data', '--listen',
                                   f'{HOST}:{port}', '--config', f'{work}/gatehouse.toml'],
                                  stdout=log, stderr=subprocess.STDOUT)
    problem = None
    try:
        try:
            wait_port(port, timeout=60)
        except RuntimeError:
            return f'the server did not listen (exit {server.poll()}; see {work}/serve.log)'
        problem = run_clients(args, port, org_token)
    finally:
        stopped = stop_server(server, work)
    return problem or stopped


def run_clients(args, port, org_token):
    status, project = request(port, 'POST', '/v1/organization/project',
                              body={'name': 'training'}, token=org_token)
    if status != 200:
        return f'the project was not created ({status}: {project})'
    token = project['tokens'][0]['secret']
    counts, lock, failures = {}, threading.Lock(), []
    until = time.monotonic() + args.seconds
    clients = [threading.Thread(target=drive, args=(port, token, org_token, project['projectId'],
                                                    until, counts, lock, failures))
               for _ in range(args.clients)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    status, body = request(port, 'GET', '/v1/organization/request/export?format=csv',
                           token=org_token)
    if status != 200:
        failures.append(f'export: {status} {str(body)[:200]}')
    else:
        counts['export'] = 1
    print('pgo_train: ' + ', '.join(f'{name} {count}' for name, count in sorted(counts.items())))
    if failures or counts.get('chat', 0) == 0:
        return f'the mix did not run: {failures[:3]}'
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=20)
    parser.add_argument('--clients', type=int, default=8)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='gatehouse-pgo-')
    upstream = LoadUpstream().start()
    try:
        problem = train(args, upstream, work)
    finally:
        upstream.stop()
    if problem:
        sys.exit(f'pgo_train: {problem}')
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
