"""API.md section 10 (healthz, readyz), HTTP/1.1 connection handling and process lifecycle."""

import http.client
import json
import os
import pathlib
import resource
import signal
import socket
import subprocess
import time

from .harness import (CLI_TIMEOUT_S, E_TOO_LARGE, HOST, HTTP_TIMEOUT_S, GatehouseTestCase, Server,
                      free_port, raw_exchange, read_response, unique)


def batch_threads(server):
    """(threads under SCHED_BATCH, threads) of the server process. Field 41 of
    /proc/PID/task/TID/stat is the policy (SCHED_BATCH is 3), counted after the last ')', which
    closes the thread's name."""
    tasks = pathlib.Path(f'/proc/{server.pid}/task')
    policies = []
    for task in tasks.iterdir():
        try:
            policies.append(int((task / 'stat').read_text().rsplit(')', 1)[1].split()[38]))
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return policies.count(3), len(policies)


def skip_if_batch_refused(case, server):
    if 'the kernel refused SCHED_' in server.log_text():
        case.skipTest(f'the kernel refused SCHED_BATCH: {server.log_tail(400)}')


def metric(server, name):
    """The value of an unlabelled sample of GET /metrics."""
    response = server.request('GET', '/metrics')
    text = response.body if isinstance(response.body, str) else str(response.body)
    for line in text.splitlines():
        if line.startswith(name + ' '):
            return float(line.split()[1])
    raise AssertionError(f'{name} is not in /metrics')


class HealthTests(GatehouseTestCase):

    def test_healthz_answers_200_status_ok_without_credentials(self):
        response = self.request('GET', '/healthz')
        self.assertEqual(self.ok(response), {'status': 'ok'})
        self.assertIn('application/json', response.headers.get('Content-Type', ''))

    def test_readyz_answers_200_when_the_store_is_reachable(self):
        self.assertEqual(self.request('GET', '/readyz').status, 200)

    def test_json_replies_declare_application_json(self):
        for response in (self.get('/v1/organization/projects'), self.get('/v2/tokens'),
                         self.get('/v1/nowhere')):
            self.assertIn('application/json', response.headers.get('Content-Type', ''))

    def test_keep_alive_serves_two_requests_on_one_connection(self):
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S)
        try:
            first = self.request('GET', '/healthz', connection=conn)
            sock = conn.sock
            self.assertIsNotNone(sock, 'the server closed a keep-alive connection')
            second = self.request('GET', '/v1/accessControl/apitoken/validate',
                                  token=self.org_token, connection=conn)
            self.assertIs(conn.sock, sock, 'a second connection was opened')
            third = self.request('POST', '/v1/organization/project',
                                 body={'name': unique('keepalive')}, token=self.org_token,
                                 connection=conn)
            self.assertIs(conn.sock, sock, 'a third connection was opened')
        finally:
            conn.close()
        self.assertEqual((first.status, second.status, third.status), (200, 200, 200))
        self.assertEqual(second.body['apiTokenId'], self.org_token_id)

    def test_keep_alive_survives_an_error_reply(self):
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S)
        try:
            first = self.request('GET', '/v1/nowhere', token=self.org_token, connection=conn)
            sock = conn.sock
            second = self.request('GET', '/healthz', connection=conn)
            self.assertIs(conn.sock, sock)
        finally:
            conn.close()
        self.assertEqual((first.status, second.status), (404, 200))

    def test_pipelined_requests_are_answered_in_order(self):
        request = (f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n'
                   f'GET /readyz HTTP/1.1\r\nHost: {HOST}\r\n\r\n'
                   f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n')
        replies = raw_exchange(self.server.port, request.encode(), 3)  # one write
        self.assertEqual([r[0] for r in replies], [200, 200, 200])
        self.assertEqual(json.loads(replies[0][2]), {'status': 'ok'})
        self.assertEqual(json.loads(replies[2][2]), {'status': 'ok'})

    def test_pipelined_replies_keep_the_request_order(self):
        auth = f'Authorization: Bearer {self.org_token}\r\n'
        request = (f'GET /v1/accessControl/apitoken/validate HTTP/1.1\r\nHost: {HOST}\r\n{auth}\r\n'
                   f'GET /v1/no/route HTTP/1.1\r\nHost: {HOST}\r\n{auth}\r\n')
        replies = raw_exchange(self.server.port, request.encode(), 2)
        self.assertEqual([r[0] for r in replies], [200, 404])


class RawHttpTests(GatehouseTestCase):

    def test_chunked_request_body_is_accepted(self):
        name = unique('chunked')
        body = json.dumps({'name': name}).encode()
        chunks = b''.join(b'%x\r\n%s\r\n' % (len(part), part)
                          for part in (body[:5], body[5:11], body[11:])) + b'0\r\n\r\n'
        request = (f'POST /v1/organization/project HTTP/1.1\r\nHost: {HOST}\r\n'
                   f'Authorization: Bearer {self.org_token}\r\n'
                   'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n'
                   'Connection: close\r\n\r\n').encode() + chunks
        [(status, _headers, reply)] = raw_exchange(self.server.port, request, 1)
        self.assertEqual(status, 200, reply)
        self.assertEqual(json.loads(reply)['projectName'], name)

    def test_pipelined_post_and_get_are_answered_in_order(self):
        name = unique('pipelined')
        body = json.dumps({'name': name}).encode()
        auth = f'Authorization: Bearer {self.org_token}\r\n'
        request = (f'POST /v1/organization/project HTTP/1.1\r\nHost: {HOST}\r\n{auth}'
                   f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n'
                   ).encode() + body + (
                   f'GET /v1/organization/projects?name={name} HTTP/1.1\r\nHost: {HOST}\r\n'
                   f'{auth}\r\n').encode()
        replies = raw_exchange(self.server.port, request, 2)
        self.assertEqual([r[0] for r in replies], [200, 200])
        created = json.loads(replies[0][2])
        listed = json.loads(replies[1][2])['projects']
        self.assertEqual([p['projectId'] for p in listed], [created['projectId']])

    def test_head_answers_headers_only_and_the_next_response_stays_in_sync(self):
        request = (f'HEAD /index.html HTTP/1.1\r\nHost: {HOST}\r\n\r\n'
                   f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n').encode()
        with socket.create_connection((HOST, self.server.port), timeout=HTTP_TIMEOUT_S) as sock:
            sock.sendall(request)
            stream = sock.makefile('rb')
            self.assertTrue(stream.readline().startswith(b'HTTP/1.1 '))
            for _ in range(100):
                if stream.readline() in (b'\r\n', b''):
                    break
            status, _headers, body = read_response(stream)
        self.assertEqual((status, json.loads(body)), (200, {'status': 'ok'}))

    def test_continue_comes_after_answers_owed_to_pipelined_requests(self):
        body = json.dumps({'name': unique('continued')}).encode()
        request = (f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n'
                   f'POST /v1/organization/project HTTP/1.1\r\nHost: {HOST}\r\n'
                   f'Authorization: Bearer {self.org_token}\r\n'
                   f'Content-Type: application/json\r\nExpect: 100-Continue\r\n'
                   f'Content-Length: {len(body)}\r\n\r\n').encode()
        with socket.create_connection((HOST, self.server.port), timeout=HTTP_TIMEOUT_S) as sock:
            sock.sendall(request)
            stream = sock.makefile('rb')
            first = read_response(stream)
            self.assertEqual(first[0], 200)
            self.assertEqual(stream.readline(), b'HTTP/1.1 100 Continue\r\n')
            self.assertEqual(stream.readline(), b'\r\n')
            sock.sendall(body)
            status, _headers, reply = read_response(stream)
        self.assertEqual(status, 200, reply)

    def test_http_1_0_client_gets_a_streamed_body_delimited_by_close(self):
        request = (f'GET /v1/organization/request/export?format=json HTTP/1.0\r\n'
                   f'Authorization: Bearer {self.org_token}\r\n\r\n').encode()
        with socket.create_connection((HOST, self.server.port), timeout=HTTP_TIMEOUT_S) as sock:
            sock.sendall(request)
            data = b''
            for _ in range(10000):
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
        head, _sep, body = data.partition(b'\r\n\r\n')
        self.assertTrue(head.startswith(b'HTTP/1.1 200'), head)
        self.assertNotIn(b'transfer-encoding', head.lower())
        self.assertIn('items', json.loads(body))

    def test_malformed_request_line_does_not_kill_the_server(self):
        try:
            raw_exchange(self.server.port, b'THIS IS NOT HTTP\r\n\r\n', 1)
        except (AssertionError, OSError, ValueError, IndexError):
            pass  # any 4xx or a closed connection is fine
        self.assertEqual(self.ok(self.request('GET', '/healthz')), {'status': 'ok'})


class LifecycleTests(GatehouseTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = None

    @classmethod
    def tearDownClass(cls):
        pass

    def test_sigterm_stops_serve_with_exit_code_0(self):
        server = Server()
        try:
            server.start()
            self.assertEqual(server.request('GET', '/healthz').status, 200)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()

    def test_a_second_sigterm_ends_a_stop_that_waits_for_a_request_in_flight(self):
        # The first signal lets calls in flight finish (a stream may last up to its provider's
        # timeout); an operator who will not wait sends a second one.
        server = Server()
        try:
            server.start()
            with socket.create_connection((HOST, server.port), timeout=HTTP_TIMEOUT_S) as client:
                # A request whose body is still coming: not idle, so the stop waits for it. The
                # 100 Continue says its header was read.
                client.sendall(b'POST /v1/organization/project HTTP/1.1\r\nHost: x\r\n'
                               b'Content-Type: application/json\r\nContent-Length: 100\r\n'
                               b'Expect: 100-continue\r\n\r\n')
                self.assertTrue(client.recv(64).startswith(b'HTTP/1.1 100'))
                client.sendall(b'{')
                server.process.send_signal(signal.SIGTERM)
                time.sleep(1.0)
                self.assertIsNone(server.process.poll(), 'the first SIGTERM waits for the request')
                self.assertIn('a second SIGINT or SIGTERM', server.log_text())
                server.process.send_signal(signal.SIGTERM)
                server.process.wait(timeout=5)
            self.assertNotEqual(server.process.returncode, 0)
            server.process = None
        finally:
            server.cleanup()

    def test_data_survives_a_restart(self):
        server = Server()
        try:
            server.start()
            project = server.request('POST', '/v1/organization/project',
                                     body={'name': 'persistent'}, token=server.org_token)
            self.assertEqual(project.status, 200, project.body)
            secret = project.body['tokens'][0]['secret']
            self.assertEqual(server.stop(), 0)
            server.start()
            listing = server.request('GET', '/v1/organization/projects', token=server.org_token)
            self.assertEqual([p['projectName'] for p in listing.body['projects']], ['persistent'])
            validated = server.request('GET', '/v1/accessControl/apitoken/validate', token=secret)
            self.assertEqual(validated.status, 200, validated.body)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()

    def test_config_file_max_body_is_applied(self):
        server = Server()
        try:
            config = server.root / 'gatehouse.toml'
            config.write_text('[server]\nmax_body = 512\n')
            server.serve_args = ['--config', str(config)]
            server.start()
            response = server.request('POST', '/v1/organization/project',
                                      body={'name': 'too-big', 'description': 'x' * 900},
                                      token=server.org_token)
            self.assertEqual(response.status, E_TOO_LARGE[0], response.body)
            self.assertEqual(response.body['errors'][0]['id'], E_TOO_LARGE[1])
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()

    def test_flags_win_over_the_config_file(self):
        server = Server()
        try:
            config = server.root / 'gatehouse.toml'
            config.write_text('[server]\nmax_body = 512\n')
            server.serve_args = ['--config', str(config), '--max-body', '4096']
            server.start()
            response = server.request('POST', '/v1/organization/project',
                                      body={'name': unique('flag-wins'), 'description': 'x' * 900},
                                      token=server.org_token)
            self.assertEqual(response.status, 200, response.body)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()

    def test_environment_wins_over_flags_and_file_for_server_keys(self):
        server = Server(env={'GATEHOUSE_MAX_BODY': '512'})
        try:
            server.serve_args = ['--max-body', '4096']
            server.start()
            response = server.request('POST', '/v1/organization/project',
                                      body={'name': 'env-wins', 'description': 'x' * 900},
                                      token=server.org_token)
            self.assertEqual(response.status, E_TOO_LARGE[0], response.body)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()

    def test_loop_scheduling_batch_puts_each_event_loop_under_sched_batch(self):
        if 'GATEHOUSE_LOOP_SCHEDULING' in os.environ:
            self.skipTest('GATEHOUSE_LOOP_SCHEDULING is set for every server of this run')
        for args, loops, mode in ((['--threads', '3', '--loop-scheduling', 'batch'], 3, 'batch'),
                                  (['--threads', '3', '--loop-scheduling', 'normal'], 0, 'normal'),
                                  (['--threads', '3'], 0, 'adaptive')):
            server = Server(serve_args=args)
            try:
                server.start()
                self.assertEqual(server.request('GET', '/healthz').status, 200)
                skip_if_batch_refused(self, server)
                # An answer shows that one loop runs; each of the others sets its policy as it
                # starts, so the count may take a moment to reach every loop.
                deadline = time.monotonic() + 5
                batch, threads = batch_threads(server)
                while batch != loops and time.monotonic() < deadline:
                    time.sleep(0.05)
                    batch, threads = batch_threads(server)
                self.assertEqual(batch, loops, f'{args}: {batch} of {threads} threads are batch')
                self.assertGreater(threads, 3, 'the server has threads besides its loops')
                self.assertEqual(metric(server, 'gatehouse_event_loops_batch'), loops)
                self.assertIn(f'event loops: {mode} scheduling', server.log_text())
                self.assertEqual(server.stop(), 0)
            finally:
                server.cleanup()

    def test_adaptive_loop_scheduling_runs_a_busy_loop_batch_and_a_quiet_one_normal(self):
        if 'GATEHOUSE_LOOP_SCHEDULING' in os.environ:
            self.skipTest('GATEHOUSE_LOOP_SCHEDULING is set for every server of this run')
        # The default scheduling, adaptive, with a rate a Python client reaches on any build.
        server = Server(serve_args=['--threads', '1'], env={'GATEHOUSE_LOOP_BATCH_RATE': '4000'})
        sockets = []
        try:
            server.start()
            request = ('GET /v1/accessControl/apitoken/validate HTTP/1.1\r\nHost: gatehouse\r\n'
                       f'Authorization: Bearer {server.org_token}\r\n\r\n').encode()
            sockets = [socket.create_connection((HOST, server.port), timeout=HTTP_TIMEOUT_S)
                       for _ in range(8)]
            streams = [sock.makefile('rb') for sock in sockets]
            self.assertEqual(batch_threads(server)[0], 0, 'an adaptive loop starts normal')

            # One request on each of 8 connections at a time, many thousands a second, until the
            # loop has turned batch (4,000 a second over 20 ms does it) or 20 s have passed.
            answered = 0
            started = time.monotonic()
            while batch_threads(server)[0] == 0 and time.monotonic() - started < 20:
                for _ in range(100):
                    for sock in sockets:
                        sock.sendall(request)
                    for stream in streams:
                        self.assertEqual(read_response(stream)[0], 200)
                    answered += len(sockets)
            rate = answered / (time.monotonic() - started)
            skip_if_batch_refused(self, server)
            self.assertEqual(batch_threads(server)[0], 1,
                             f'the loop stayed normal at {rate:,.0f} requests a second')

            # A whole window (20 ms) without a request: the next request finds the loop quiet.
            time.sleep(0.2)
            self.assertEqual(server.request('GET', '/healthz').status, 200)
            self.assertEqual(batch_threads(server)[0], 0, 'the quiet loop is normal again')
            self.assertEqual(metric(server, 'gatehouse_event_loops_batch'), 0)
            self.assertGreaterEqual(
                metric(server, 'gatehouse_event_loop_scheduling_changes_total'), 2)
            self.assertIn('event loops: adaptive scheduling (batch from 4000 requests/s a loop, '
                          'normal below 2000)', server.log_text())
            self.assertEqual(server.stop(), 0)
        finally:
            for sock in sockets:
                sock.close()
            server.cleanup()

    def test_serve_raises_its_open_file_soft_limit_to_the_hard_limit_and_logs_both(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        lowered = 256
        if hard == resource.RLIM_INFINITY or hard <= lowered:
            self.skipTest(f'the hard limit ({hard}) leaves nothing to raise')
        # The server inherits the soft limit of the process that starts it.
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
        server = Server()
        try:
            try:
                server.start()
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            line = next(line for line in pathlib.Path(f'/proc/{server.pid}/limits')
                        .read_text().splitlines() if line.startswith('Max open files'))
            self.assertEqual(line.split()[3:5], [str(hard), str(hard)], line)
            self.assertIn(f'open files: soft limit {hard} (was {lowered}), hard limit {hard}',
                          server.log_text())
        finally:
            server.cleanup()

    def test_config_file_with_unknown_key_stops_start_up_naming_file_line_and_key(self):
        server = Server()
        try:
            server.init()
            config = server.root / 'bad.toml'
            config.write_text('[server]\nmax_body = 512\nfrobnicate = true\n')
            done = subprocess.run([str(server.binary), 'serve', '--data-dir',
                                   str(server.data_dir), '--config', str(config),
                                   '--listen', f'{HOST}:{free_port()}'],
                                  capture_output=True, timeout=CLI_TIMEOUT_S)
            self.assertNotEqual(done.returncode, 0)
            message = (done.stderr + done.stdout).decode(errors='replace')
            self.assertIn('bad.toml', message)
            self.assertIn('frobnicate', message)
            self.assertIn('3', message)
        finally:
            server.cleanup()
