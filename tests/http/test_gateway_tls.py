"""Issue 8: https providers — one TLS context per provider, pooled TLS connections, host names
looked up, certificates verified (a self-signed certificate made for the test is the only CA the
server trusts, through SSL_CERT_FILE)."""

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

from .harness import (E_BAD_GATEWAY, E_PROVIDER_TIMEOUT, HOST, KEY_ENV, GatewayTestCase,
                      provider_config)
from .load_upstream import FIXED_BODY, FIXED_USAGE, LoadUpstream, WithLoadUpstream

# The slow upstream spends STEP_S on its TLS handshake and STEP_S again before its answer: each
# step fits in the first-byte timeout, both together do not.
STEP_S = 1.5
FIRST_BYTE_MS = 2000


def make_certificate(directory):
    """A self-signed certificate for DNS:localhost; returns (cert, key) paths."""
    cert, key = directory / 'cert.pem', directory / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
                    '-keyout', str(key), '-out', str(cert)],
                   check=True, capture_output=True)
    return cert, key


class ThreadedTlsUpstream:
    """An https upstream on its own port, one thread per connection; _serve(sock) answers."""

    def __init__(self, cert, key):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _address = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        raise NotImplementedError

    def stop(self):
        self.listener.close()


class SlowTlsUpstream(ThreadedTlsUpstream):
    """Waits STEP_S before its side of each TLS handshake and STEP_S again before each answer
    (a fixed completion)."""

    def __init__(self, cert, key):
        self.answered = 0
        super().__init__(cert, key)

    def _serve(self, sock):
        with sock:
            try:
                time.sleep(STEP_S)
                with self.context.wrap_socket(sock, server_side=True) as tls:
                    data = b''
                    while b'\r\n\r\n' not in data:
                        data += tls.recv(65536)
                    time.sleep(STEP_S)
                    tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                                b'Content-Length: %d\r\n\r\n%s'
                                % (len(FIXED_BODY), FIXED_BODY))
                    self.answered += 1
            except (OSError, ssl.SSLError):
                pass


class StrayTlsUpstream(ThreadedTlsUpstream):
    """Keeps its connections open and, after its first answer on each, sends a second answer
    nobody asked for: its own TLS record, in the same TCP segment as the first (corked), so that
    both reach the gateway's TLS layer in one read."""

    STRAY_CONTENT = 'an answer nobody asked for'

    @staticmethod
    def _answer(content):
        body = json.dumps({
            'id': 'chatcmpl-stray', 'object': 'chat.completion', 'created': 0, 'model': 'fixed',
            'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': content},
                         'finish_reason': 'stop'}],
            'usage': FIXED_USAGE}).encode()
        return (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                b'Content-Length: %d\r\n\r\n%s' % (len(body), body))

    def _serve(self, sock):
        with sock:
            try:
                with self.context.wrap_socket(sock, server_side=True) as tls:
                    data, answered = b'', 0
                    while True:
                        while b'\r\n\r\n' not in data:
                            chunk = tls.recv(65536)
                            if not chunk:
                                return
                            data += chunk
                        head, _, data = data.partition(b'\r\n\r\n')
                        length = 0
                        for line in head.split(b'\r\n')[1:]:
                            name, _, value = line.partition(b':')
                            if name.strip().lower() == b'content-length':
                                length = int(value)
                        while len(data) < length:
                            chunk = tls.recv(65536)
                            if not chunk:
                                return
                            data += chunk
                        data = data[length:]
                        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                        tls.sendall(self._answer('fixed answer'))
                        if answered == 0:
                            tls.sendall(self._answer(self.STRAY_CONTENT))
                        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
                        answered += 1
            except (OSError, ssl.SSLError, ValueError):
                pass


@unittest.skipIf(shutil.which('openssl') is None, 'the openssl command is needed (Debian openssl)')
class TlsProviderTests(WithLoadUpstream, GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tls_dir = Path(tempfile.mkdtemp(prefix='gatehouse-tls-'))
        cert, key = make_certificate(cls.tls_dir)
        cls.cert, cls.key = cert, key
        # What the server trusts: a copy, which a test takes away once the server has started.
        cls.trusted = cls.tls_dir / 'trusted.pem'
        shutil.copyfile(cert, cls.trusted)
        cls.slow = SlowTlsUpstream(cert, key)
        cls.stray = StrayTlsUpstream(cert, key)
        # A second https upstream that only test_the_ca_certificates_are_read_once_at_start calls.
        cls.unvisited = cls.make_load_upstream().start()
        try:
            super().setUpClass()
        except BaseException:
            cls.slow.stop()
            cls.stray.stop()
            cls.unvisited.stop()
            shutil.rmtree(cls.tls_dir, ignore_errors=True)
            raise
        cls.project = cls.make_project()

    @classmethod
    def make_load_upstream(cls):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cls.cert, cls.key)
        return LoadUpstream(ssl_context=context, url_host='localhost')

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.slow.stop()
            cls.stray.stop()
            cls.unvisited.stop()
            shutil.rmtree(cls.tls_dir, ignore_errors=True)

    @classmethod
    def server_config(cls):
        # The serve process trusts only the test's certificate (OpenSSL's default CA file).
        cls.serve_env['SSL_CERT_FILE'] = str(cls.trusted)
        lines = [provider_config(cls.upstream.base_url)]
        for name, url in (('tls', cls.load.base_url),
                          ('tlswronghost', f'https://127.0.0.1:{cls.load.port}/v1'),
                          ('tlsunvisited', cls.unvisited.base_url)):
            lines += ['[[providers]]', f'name = "{name}"', f'base_url = "{url}"',
                      f'api_key_env = "{KEY_ENV}"', 'timeout_ms = 5000', '']
            for model in ('fixed', 'stream-3x50', 'stream-40x50'):
                lines += ['[[providers.models]]', f'name = "{model}"',
                          'input_usd_per_mtok = 1.0', 'output_usd_per_mtok = 2.0', '']
        lines += ['[[providers]]', 'name = "tlsstray"',
                  f'base_url = "https://localhost:{cls.stray.port}/v1"',
                  f'api_key_env = "{KEY_ENV}"', 'timeout_ms = 5000', '', '[[providers.models]]',
                  'name = "fixed"', 'input_usd_per_mtok = 1.0', 'output_usd_per_mtok = 2.0', '']
        lines += ['[[providers]]', 'name = "tlsslow"',
                  f'base_url = "https://localhost:{cls.slow.port}/v1"',
                  f'api_key_env = "{KEY_ENV}"', 'timeout_ms = 10000',
                  f'first_byte_timeout_ms = {FIRST_BYTE_MS}', '', '[[providers.models]]',
                  'name = "fixed"', 'input_usd_per_mtok = 1.0', 'output_usd_per_mtok = 2.0', '']
        return '\n'.join(lines)

    def test_https_provider_calls_are_answered_over_one_pooled_tls_connection(self):
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        self.addCleanup(conn.close)
        self.load.close_idle_connections()
        time.sleep(0.2)
        before = self.load.connections
        for i in range(20):
            body = self.ok(self.request('POST', '/v1/chat/completions', connection=conn,
                                        token=self.project.token,
                                        body={'model': 'tls/fixed', 'messages': [
                                            {'role': 'user', 'content': f'q{i}'}]}))
            self.assertEqual(body['usage']['prompt_tokens'], FIXED_USAGE['prompt_tokens'])
        self.assertEqual(self.load.connections - before, 1)

    def test_a_new_tls_connection_resumes_the_providers_last_session(self):
        body = {'model': 'tls/fixed', 'messages': [{'role': 'user', 'content': 'resume'}]}
        self.ok(self.request('POST', '/v1/chat/completions', token=self.project.token,
                             body=body))
        resumed = self.load.tls_resumed
        self.load.close_idle_connections()
        time.sleep(0.2)
        before = self.load.connections
        self.ok(self.request('POST', '/v1/chat/completions', token=self.project.token,
                             body=body))
        self.assertEqual(self.load.connections - before, 1)
        self.assertEqual(self.load.tls_resumed - resumed, 1, 'the handshake was a full one')

    def test_a_call_its_client_left_keeps_the_providers_tls_session_resumable(self):
        # A client leaving is no TLS failure: the connection the gateway then closes leaves its
        # session good for the next handshake (a close without close_notify would spoil it).
        self.load.close_idle_connections()
        time.sleep(0.2)
        left = len(self.load.streams_left)
        stream = self.stream_chat(self.project.token, 'tls/stream-40x50')
        self.assertEqual(stream.status, 200)
        next(stream.events())
        stream.close()
        deadline = time.monotonic() + 5
        while len(self.load.streams_left) == left and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(len(self.load.streams_left), left, 'the upstream call was not ended')
        resumed, before = self.load.tls_resumed, self.load.connections
        self.ok(self.chat(self.project.token, 'tls/fixed'))
        self.assertEqual(self.load.connections - before, 1)
        self.assertEqual(self.load.tls_resumed - resumed, 1, 'the handshake was a full one')

    def test_bytes_an_https_provider_sent_unasked_never_become_the_next_calls_answer(self):
        # The stray answer sits inside the TLS layer once the first answer has been read: not in
        # the read buffer and no longer in the socket, where the pool's health peek looks. Such a
        # connection is closed, not pooled; the next call gets its own answer.
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        self.addCleanup(conn.close)
        before = self.stray.connections
        for i in range(3):
            body = self.ok(self.request('POST', '/v1/chat/completions', connection=conn,
                                        token=self.project.token,
                                        body={'model': 'tlsstray/fixed', 'messages': [
                                            {'role': 'user', 'content': f'q{i}'}]}))
            self.assertEqual(body['choices'][0]['message']['content'], 'fixed answer',
                             f'call {i} was answered with bytes sent before it was asked')
        self.assertEqual(self.stray.connections - before, 3)

    def test_https_streams_are_relayed(self):
        stream = self.stream_chat(self.project.token, 'tls/stream-3x50')
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        events = stream.read_all()
        self.assertEqual(events[-1][1], '[DONE]')

    def test_the_ca_certificates_are_read_once_at_start(self):
        # Not on an event loop at a host's first call: that read would stall the loop. The
        # trusted file is gone before this host is first called, and its certificate still is.
        self.trusted.unlink()
        body = self.ok(self.chat(self.project.token, 'tlsunvisited/fixed'))
        self.assertEqual(body['usage']['prompt_tokens'], FIXED_USAGE['prompt_tokens'])

    def test_a_certificate_that_does_not_name_the_host_is_502_id_502(self):
        self.assertError(self.chat(self.project.token, 'tlswronghost/fixed'), E_BAD_GATEWAY)

    def test_the_first_byte_timeout_is_one_budget_from_connect_to_the_response_head(self):
        started = time.monotonic()
        response = self.chat(self.project.token, 'tlsslow/fixed')
        elapsed = time.monotonic() - started
        self.assertError(response, E_PROVIDER_TIMEOUT)
        # The handshake's wait and the answer's wait each fit in the budget; only their sum
        # exceeds it, so a timeout per step would have let the answer through at 2 * STEP_S.
        self.assertLess(elapsed, 2 * STEP_S - 0.3, f'the call took {elapsed:.2f} s')
        self.assertGreaterEqual(elapsed, FIRST_BYTE_MS / 1000 - 0.05)
