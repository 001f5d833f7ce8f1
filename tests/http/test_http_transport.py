"""Issue 12 items 9 and 10 (HTTP parts) and the refusal of a port already in use: the 413 of an
oversized body reaches clients that send their whole body first (lingering close), HTTP/1.0
keep-alive, obs-fold header lines, and `serve` on a taken address."""

import http.client
import json
import socket
import subprocess
import time

from .harness import (E_BAD_INPUT, E_NO_KEY, E_TOO_LARGE, HOST, HTTP_TIMEOUT_S,
                      START_TIMEOUT_S, GatehouseTestCase, Server, read_response)

MAX_BODY = 64 * 1024


def send_raw(port, data):
    sock = socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT_S)
    sock.sendall(data)
    return sock


def closed_by_peer(sock, timeout_s):
    """True when the peer closes `sock` (EOF or reset) within timeout_s, reading what comes."""
    sock.settimeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class OversizedBodyTests(GatehouseTestCase):
    serve_args = ('--max-body', str(MAX_BODY))

    def post_whole_body_first(self, size):
        """What Python's http.client (and requests) do: headers and the whole body are sent
        before the response is read. Returns the response, or raises what the client saw."""
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request('POST', '/v1/organization/project', body=b'{"name":"' + b'x' * size,
                         headers={'Content-Type': 'application/json',
                                  'Authorization': f'Bearer {self.org_token}'})
            reply = conn.getresponse()
            return reply.status, reply.headers, json.loads(reply.read())
        finally:
            conn.close()

    def test_client_that_sends_4_mib_over_the_limit_first_reads_the_413_20_times_in_a_row(self):
        for attempt in range(20):
            try:
                status, headers, body = self.post_whole_body_first(4 * 1024 * 1024 + MAX_BODY)
            except OSError as error:
                self.fail(f'attempt {attempt + 1}: the 413 was lost: {error!r}')
            self.assertEqual(status, E_TOO_LARGE[0], f'attempt {attempt + 1}: {body}')
            self.assertEqual(body, {'errors': [{'id': E_TOO_LARGE[1],
                                                'description': E_TOO_LARGE[2]}]})
            self.assertEqual(headers.get('Connection', '').lower(), 'close')
        self.assertEqual(self.ok(self.request('GET', '/healthz')), {'status': 'ok'})

    def test_drain_of_a_client_that_never_stops_sending_is_bounded_in_time(self):
        sock = send_raw(self.server.port,
                        f'POST /v1/organization/project HTTP/1.1\r\nHost: {HOST}\r\n'
                        f'Content-Type: application/json\r\nContent-Length: {1 << 40}\r\n'
                        '\r\n'.encode())
        began = time.monotonic()
        cut = False
        try:
            sock.settimeout(1)
            block = b'y' * 65536
            while time.monotonic() - began < 20:
                try:
                    sock.send(block)
                except socket.timeout:
                    continue
        except OSError:
            cut = True
        finally:
            sock.close()
        self.assertTrue(cut, 'the server kept draining for 20 s')
        # 5 s of lingering (or 16 MiB) plus scheduling slack.
        self.assertLess(time.monotonic() - began, 10)
        self.assertEqual(self.ok(self.request('GET', '/healthz')), {'status': 'ok'})


class KeepAliveAndHeaderTests(GatehouseTestCase):

    def test_http_1_0_keep_alive_is_answered_with_keep_alive_and_the_connection_stays_open(self):
        request = b'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
        with send_raw(self.server.port, request) as sock:
            stream = sock.makefile('rb')
            status, headers, body = read_response(stream)
            self.assertEqual(status, 200, body)
            self.assertEqual(headers.get('connection', '').lower(), 'keep-alive')
            sock.sendall(request)  # the same connection serves a second request
            status, headers, body = read_response(stream)
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body), {'status': 'ok'})

    def test_http_1_0_without_keep_alive_is_closed_after_the_response(self):
        with send_raw(self.server.port, b'GET /healthz HTTP/1.0\r\n\r\n') as sock:
            stream = sock.makefile('rb')
            status, headers, _body = read_response(stream)
            self.assertEqual(status, 200)
            self.assertNotEqual(headers.get('connection', '').lower(), 'keep-alive')
            self.assertEqual(stream.read(), b'', 'the connection must be closed')

    def assertClosedAfterAnswer(self, request):
        with send_raw(self.server.port, request.encode()) as sock:
            stream = sock.makefile('rb')
            status, headers, body = read_response(stream)
            self.assertEqual(status, 200, body)
            self.assertNotEqual(headers.get('connection', '').lower(), 'keep-alive')
            self.assertEqual(stream.read(), b'', 'the connection must be closed')

    def test_close_in_a_later_connection_field_closes_the_connection(self):
        # Connection fields make one list (RFC 9110 §7.6.1): a close in the second one counts,
        # and close wins over keep-alive in either version (RFC 9112 §9.3).
        for version, host in (('1.1', f'Host: {HOST}\r\n'), ('1.0', '')):
            with self.subTest(version=version):
                self.assertClosedAfterAnswer(
                    f'GET /healthz HTTP/{version}\r\n{host}Connection: keep-alive\r\n'
                    'Connection: close\r\n\r\n')
                self.assertClosedAfterAnswer(
                    f'GET /healthz HTTP/{version}\r\n{host}Connection: keep-alive, close\r\n\r\n')

    def test_proxy_connection_keep_alive_does_not_keep_an_http_1_0_connection_open(self):
        # Proxy-Connection is no field of HTTP: an old proxy that passed it on unread would wait
        # for a close that a kept connection never sends.
        self.assertClosedAfterAnswer(
            'GET /healthz HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n')

    def test_a_connection_closed_after_its_answer_with_unread_bytes_is_drained_not_reset(self):
        # Closed with unread bytes in its receive queue, a socket sends a reset, which discards
        # what its kernel had not sent yet (on a network, the end of a large answer). The server
        # shuts down its side and drains instead, as after a 400: the client can still send.
        request = f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n'
        with send_raw(self.server.port, request.encode() + b'x' * 4096) as sock:
            stream = sock.makefile('rb')
            status, headers, body = read_response(stream)
            self.assertEqual(status, 200, body)
            self.assertEqual(headers.get('connection', '').lower(), 'close')
            self.assertEqual(stream.read(), b'', 'the answer ends with a FIN')
            time.sleep(0.2)  # a reset, if any, has arrived
            sock.sendall(b'y' * 1024)  # raises BrokenPipeError after a reset
            time.sleep(0.1)
            sock.sendall(b'y' * 1024)

    def test_an_answer_owed_is_written_before_a_pipelined_body_that_is_slow_to_come(self):
        request = (f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n'
                   f'POST /healthz HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 1000\r\n\r\n'
                   'only part of the body')
        with send_raw(self.server.port, request.encode()) as sock:
            sock.settimeout(3)
            status, _headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, 200, body)

    def assertRefusedWith400Envelope(self, request):
        with send_raw(self.server.port, request) as sock:
            status, headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, E_BAD_INPUT[0], body)
        self.assertEqual(json.loads(body)['errors'][0]['id'], E_BAD_INPUT[1])
        self.assertEqual(headers.get('connection', '').lower(), 'close')

    def test_header_folded_with_a_space_obs_fold_is_400(self):
        self.assertRefusedWith400Envelope(
            f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Note: first\r\n second\r\n\r\n'.encode())

    def test_header_folded_with_a_tab_obs_fold_is_400(self):
        self.assertRefusedWith400Envelope(
            f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Note: first\r\n\tsecond\r\n\r\n'.encode())

    def test_folded_authorization_header_is_400_not_a_joined_credential(self):
        self.assertRefusedWith400Envelope(
            (f'GET /v1/accessControl/apitoken/validate HTTP/1.1\r\nHost: {HOST}\r\n'
             f'Authorization: Bearer\r\n {self.org_token}\r\n\r\n').encode())

    def test_folded_authorization_in_a_header_longer_than_one_read_is_400(self):
        # A connection's first read takes 512 bytes (Beast's read_size of an empty buffer): the
        # fold lies in a piece the parser takes before the header is whole, checked all the same.
        self.assertRefusedWith400Envelope(
            (f'GET /v1/accessControl/apitoken/validate HTTP/1.1\r\nHost: {HOST}\r\n'
             f'Authorization: Bearer\r\n {self.org_token}\r\nX-Pad: {"a" * 600}\r\n\r\n').encode())

    def test_a_header_grown_field_by_field_past_64_kib_is_400_not_held_in_memory(self):
        # Each piece ends one byte into the next field, so the parser takes every whole field
        # as it comes and never holds more than a byte unparsed: the bound is on the total.
        sock = send_raw(self.server.port, f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX'.encode())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock:
            try:
                for i in range(1000):  # about 110 KiB in all
                    sock.sendall(f'-{i}: {"v" * 100}\r\nX'.encode())
                    time.sleep(0.001)
            except OSError:
                pass  # refused and closed before the client was done
            sock.settimeout(HTTP_TIMEOUT_S)
            status, headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, E_BAD_INPUT[0], body)
        self.assertEqual(json.loads(body)['errors'][0]['id'], E_BAD_INPUT[1])

    def send_header_in_pieces(self, size):
        """A GET /healthz whose header (start line to blank line) is `size` bytes, sent in
        pieces that each end one byte into the next field (the parser then takes the fields
        one by one); returns the status of the answer."""
        head = f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n'
        fields = []
        while len(head) + sum(map(len, fields)) + 2 + 1100 < size:
            fields.append(f'X-F{len(fields)}: {"v" * 1000}\r\n')
        last = f'X-Last: \r\n'
        fields.append(last.replace(': ', ': ' + 'z' * (size - len(head) - sum(map(len, fields)) -
                                                       len(last) - 2)))
        text = head + ''.join(fields) + '\r\n'
        self.assertEqual(len(text), size)
        cuts = [i + 3 for i in range(len(text)) if text.startswith('\r\nX-', i)] + [len(text)]
        sock = send_raw(self.server.port, text[:cuts[0]].encode())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock:
            try:
                for start, end in zip(cuts, cuts[1:]):
                    sock.sendall(text[start:end].encode())
                    time.sleep(0.002)
            except OSError:
                pass  # refused and closed before the client was done
            sock.settimeout(HTTP_TIMEOUT_S)
            status, _headers, body = read_response(sock.makefile('rb'))
        return status

    def test_a_header_of_64_kib_in_many_pieces_is_served_and_one_byte_more_is_400(self):
        self.assertEqual(self.send_header_in_pieces(64 * 1024), 200)
        self.assertEqual(self.send_header_in_pieces(64 * 1024 + 1), E_BAD_INPUT[0])

    def test_same_headers_unfolded_are_served(self):
        with send_raw(self.server.port, f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n'
                      'X-Note: first second\r\n\r\n'.encode()) as sock:
            status, _headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, 200, body)


class MessageFramingTests(GatehouseTestCase):
    """How a request's body is framed (RFC 9112 §6): a proxy in front that framed it otherwise
    than we do would make part of it a request of its own, or its trailer a header."""

    def assertRefusedAndClosed(self, request, timeout_s=HTTP_TIMEOUT_S):
        with send_raw(self.server.port, request) as sock:
            sock.settimeout(timeout_s)
            stream = sock.makefile('rb')
            status, headers, body = read_response(stream)
            self.assertEqual(status, E_BAD_INPUT[0], body)
            self.assertEqual(json.loads(body)['errors'][0]['id'], E_BAD_INPUT[1])
            self.assertEqual(headers.get('connection', '').lower(), 'close')
            self.assertTrue(closed_by_peer(sock, HTTP_TIMEOUT_S), 'the connection must close')

    def test_a_transfer_encoding_that_does_not_end_in_chunked_is_400_and_no_request_is_smuggled(self):
        # Read as framed by Content-Length (none: no body), the "body" would be served next.
        self.assertRefusedAndClosed(
            f'POST /healthz HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked, identity\r\n'
            f'\r\nGET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n'.encode())

    def test_a_transfer_encoding_with_a_content_length_not_ending_in_chunked_is_400(self):
        self.assertRefusedAndClosed(
            f'POST /healthz HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: gzip\r\n'
            'Content-Length: 4\r\n\r\nabcd'.encode())

    def test_an_http_1_1_request_without_host_is_400(self):
        self.assertRefusedAndClosed(b'GET /healthz HTTP/1.1\r\nX-Note: no host\r\n\r\n')

    def test_a_request_with_two_host_fields_is_400(self):
        self.assertRefusedAndClosed(
            f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nHost: other.example\r\n\r\n'.encode())
        self.assertRefusedAndClosed(b'GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n')

    def test_an_http_1_0_request_without_host_is_served(self):
        with send_raw(self.server.port, b'GET /healthz HTTP/1.0\r\n\r\n') as sock:
            status, _headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, 200, body)

    def test_a_transfer_encoding_in_http_1_0_is_400(self):
        self.assertRefusedAndClosed(
            b'POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')

    def test_a_trailer_field_is_not_taken_as_a_header(self):
        request = (f'GET /v1/accessControl/apitoken/validate HTTP/1.1\r\nHost: {HOST}\r\n'
                   'Transfer-Encoding: chunked\r\n\r\n'
                   f'0\r\nAuthorization: Bearer {self.org_token}\r\n\r\n').encode()
        with send_raw(self.server.port, request) as sock:
            status, _headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, E_NO_KEY[0], body)
        self.assertEqual(json.loads(body)['errors'][0]['id'], E_NO_KEY[1])

    def test_the_same_credential_in_the_header_of_a_chunked_request_is_served(self):
        request = (f'GET /v1/accessControl/apitoken/validate HTTP/1.1\r\nHost: {HOST}\r\n'
                   f'Authorization: Bearer {self.org_token}\r\nTransfer-Encoding: chunked\r\n'
                   '\r\n0\r\nX-Note: after\r\n\r\n').encode()
        with send_raw(self.server.port, request) as sock:
            status, _headers, body = read_response(sock.makefile('rb'))
        self.assertEqual(status, 200, body)

    def test_a_trailer_section_that_never_ends_is_400_not_held_in_memory(self):
        # Nothing bounds a trailer but the connection's read buffer: refused once it is full,
        # long before the request timeout.
        head = f'POST /healthz HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n'
        self.assertRefusedAndClosed((head + '0\r\nX-Note: ' + 'a' * 300_000).encode(),
                                    timeout_s=10)

    def test_a_chunk_extension_that_never_ends_is_400_not_held_in_memory(self):
        head = f'POST /healthz HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n'
        self.assertRefusedAndClosed((head + '1;' + 'a' * 300_000).encode(), timeout_s=10)

    def test_expect_100_continue_from_an_http_1_0_client_gets_no_interim_answer(self):
        head = (f'POST /v1/organization/projects HTTP/1.0\r\nHost: {HOST}\r\n'
                f'Authorization: Bearer {self.org_token}\r\nContent-Type: application/json\r\n'
                'Expect: 100-continue\r\nContent-Length: 2\r\n\r\n').encode()
        with send_raw(self.server.port, head) as sock:
            sock.settimeout(0.5)
            with self.assertRaises(socket.timeout, msg='an HTTP/1.0 client gets no 100 Continue'):
                sock.recv(100)
            sock.settimeout(HTTP_TIMEOUT_S)
            sock.sendall(b'{}')
            status, _headers, body = read_response(sock.makefile('rb'))
        self.assertNotEqual(status, 100, body)


class AddressInUseTests(GatehouseTestCase):

    def serve_on(self, port):
        """Runs a second installation's `serve` on 127.0.0.1:port; returns (exit code, output)
        or None when it is still running after the start-up timeout (then it is killed)."""
        other = Server()
        self.addCleanup(other.cleanup)
        other.init()
        process = subprocess.Popen(
            [str(other.binary), 'serve', '--data-dir', str(other.data_dir), '--listen',
             f'{HOST}:{port}'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=other.cli_env())
        try:
            output, _ = process.communicate(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        return process.returncode, output.decode(errors='replace')

    def test_second_server_on_the_same_port_exits_non_zero_naming_the_address(self):
        port = self.server.port
        outcome = self.serve_on(port)
        self.assertIsNotNone(outcome, 'the second server started on a port already in use')
        code, output = outcome
        self.assertNotEqual(code, 0, output)
        self.assertIn(f'address {HOST}:{port} is already in use', output)
        self.assertEqual(self.ok(self.request('GET', '/healthz')), {'status': 'ok'})

    def test_port_held_by_another_program_with_so_reuseport_is_refused(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        outcome = self.serve_on(port)
        self.assertIsNotNone(outcome, 'serve shared a port another program listens on')
        code, output = outcome
        self.assertNotEqual(code, 0, output)
        self.assertIn(f'address {HOST}:{port} is already in use', output)
