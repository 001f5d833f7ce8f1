"""Instructions per chat call, counted by callgrind: a measure of the server's own work that the
machine's noise does not move.

On this 2-core virtual machine the calls/s of one build move by a fifth from one minute to the
next, and a change that saves 3 % of the server's CPU is lost in that. Callgrind counts the
instructions every thread of the server runs (user space only: the kernel's share is not in it)
over a fixed number of chat calls, once the server is warm; two runs of one build agree within
about 1 %.

    python3 bench/instructions.py [--calls 4000] [--clients 8] [--stream] [BINARY ...]

Each binary (GATEHOUSE_BIN or the release build when none is named) serves the bench's fixed
upstream (nginx) under valgrind; its figure is printed in total and without the request-log
writer's thread (whose share moves with how many records each of its transactions takes).
Binaries are measured in turn, --rounds times. Needs valgrind (apt-get install valgrind) and
nginx.
"""

import argparse
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contenders  # noqa: E402

HOST = contenders.HOST


def nginx_binary():
    return shutil.which('nginx') or '/usr/sbin/nginx'


def call_batch(port, token, body, total, clients):
    """`total` chat calls over `clients` keep-alive connections, all answered 200."""
    failures = []

    def run(count):
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        for _ in range(count):
            status, _ = contenders.request(port, 'POST', '/v1/chat/completions', body=body,
                                           token=token, conn=conn)
            if status != 200:
                failures.append(status)
        conn.close()

    threads = [threading.Thread(target=run, args=(total // clients,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f'{len(failures)} calls failed, first with {failures[0]}')
    return total // clients * clients


def inclusive_cost(dump, function):
    """The instructions spent in `function` and what it called, from a callgrind dump."""
    text = subprocess.run(['callgrind_annotate', '--inclusive=yes', '--auto=no', dump],
                          capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        if function in line:
            return int(line.split()[0].replace(',', ''))
    return 0


def measure(binary, calls, clients, stream, keep=None):
    """(instructions per call, of them outside the request-log writer) for `binary`; the
    callgrind dump is copied to `keep` when given."""
    work = tempfile.mkdtemp(prefix='gatehouse-instructions-')
    processes = []
    try:
        gate, upstream, proxy, port = contenders.distinct_ports(4)
        init = subprocess.run([binary, 'init', '--data-dir', f'{work}/data', '--json'],
                              capture_output=True, text=True, check=True)
        org_token = json.loads(init.stdout)['apiToken']['secret']
        with open(f'{work}/gatehouse.toml', 'w') as out:
            out.write(contenders.gatehouse_config(upstream, upstream))
        conf = contenders.write_nginx(work, gate, upstream, proxy, [])
        processes.append(subprocess.Popen([nginx_binary(), '-c', conf, '-g', 'daemon off;'],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        dump = f'{work}/callgrind.out'
        with open(f'{work}/serve.log', 'w') as log:
            server = subprocess.Popen(
                ['valgrind', '--tool=callgrind', '--instr-atstart=no',
                 f'--callgrind-out-file={dump}', binary, 'serve', '--data-dir', f'{work}/data',
                 '--listen', f'{HOST}:{port}', '--config', f'{work}/gatehouse.toml'],
                stdout=log, stderr=subprocess.STDOUT)
        processes.append(server)
        contenders.wait_port(port, timeout=120)
        contenders.wait_port(upstream)
        _, project = contenders.request(port, 'POST', '/v1/organization/project',
                                        body={'name': 'instructions'}, token=org_token)
        token = project['tokens'][0]['secret']
        contenders.wait_valid(port, token, timeout=120)
        body = {'model': 'fastsse/fixed' if stream else 'fast/fixed',
                'messages': [{'role': 'user', 'content': 'hi'}]}
        if stream:
            body['stream'] = True
        call_batch(port, token, body, 400, clients)  # warm: pools, caches, allocator
        def control(*option):
            subprocess.run(['callgrind_control', *option, str(server.pid)], check=True,
                           capture_output=True)

        control('-i', 'on')  # count from here
        made = call_batch(port, token, body, calls, clients)
        control('-d')  # dump what was counted
        parts = sorted(glob.glob(f'{dump}.*'))
        if not parts:
            raise RuntimeError(f'callgrind wrote no dump; see {work}/serve.log')
        if keep:
            shutil.copyfile(parts[0], keep)
        total = inclusive_cost(parts[0], 'PROGRAM TOTALS')
        writer = inclusive_cost(parts[0], 'RequestLog::Run()')
        return total / made, (total - writer) / made
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('binaries', nargs='*', default=[contenders.BIN])
    parser.add_argument('--calls', type=int, default=4000)
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--stream', action='store_true', help='streamed chat calls')
    parser.add_argument('--keep', metavar='DIR',
                        help='keep each callgrind dump in DIR (for callgrind_annotate)')
    args = parser.parse_args()
    for tool in ('valgrind', 'callgrind_annotate'):
        if not shutil.which(tool):
            sys.exit('instructions: install valgrind (apt-get install valgrind)')
    if not os.path.exists(nginx_binary()):
        sys.exit('instructions: install nginx (apt-get install nginx)')
    print(f'# instructions per {"streamed " if args.stream else ""}chat call, {args.calls} calls '
          f'over {args.clients} connections, callgrind (user space, every thread)')
    print(f'{"binary":40} {"total":>9} {"without the writer":>19}')
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    for round_number in range(args.rounds):
        for index, binary in enumerate(args.binaries):
            keep = (f'{args.keep}/callgrind.{index}.{round_number}.out' if args.keep else None)
            total, loops = measure(os.path.abspath(binary), args.calls, args.clients, args.stream,
                                   keep)
            print(f'{binary:40} {total:9.0f} {loops:19.0f}', flush=True)


if __name__ == '__main__':
    main()
