"""Issue 12 item 11: `serve --tls-cert/--tls-key` (and [server] tls_cert/tls_key) serve HTTPS
through OpenSSL, TLS 1.2 and later only; console session cookies are Secure under TLS; plain HTTP
to the TLS port fails cleanly; bad TLS settings stop start-up with a message naming what is
wrong. The certificate is self-signed, made for each run with the openssl command."""

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import time
import unittest

from .harness import HOST, HTTP_TIMEOUT_S, Server


def make_certificate(directory, name='server'):
    """A self-signed EC certificate for IP:127.0.0.1; returns (cert, key) paths."""
    cert, key = directory / f'{name}.pem', directory / f'{name}.key'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj',
                    f'/CN={HOST}', '-addext', f'subjectAltName=IP:{HOST}', '-keyout', str(key),
                    '-out', str(cert)], check=True, capture_output=True)
    return cert, key


def client_context(cert, maximum=None):
    context = ssl.create_default_context(cafile=str(cert))
    if maximum is not None:
        context.maximum_version = maximum
    return context


class TlsServer(Server):
    """A Server whose health check and requests go over HTTPS, trusting `cert` only."""

    def __init__(self, cert, **kw):
        super().__init__(**kw)
        self.cert = cert

    def _healthy(self):
        return self.https('GET', '/healthz')[0] == 200

    def https(self, method, path, body=None, headers=None, context=None):
        conn = http.client.HTTPSConnection(HOST, self.port, timeout=HTTP_TIMEOUT_S,
                                           context=context or client_context(self.cert))
        try:
            payload = None if body is None else json.dumps(body).encode()
            send = {'Content-Type': 'application/json'} if payload is not None else {}
            send.update(headers or {})
            conn.request(method, path, body=payload, headers=send)
            reply = conn.getresponse()
            data = reply.read()
            text = data.decode(errors='replace')
            return reply.status, reply.headers, json.loads(text) if text.strip() else text
        finally:
            conn.close()


@unittest.skipIf(shutil.which('openssl') is None, 'the openssl command is needed (Debian openssl)')
class HttpsServeTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        probe = Server()
        cls.tls_dir = probe.root  # a temp dir removed with the probe installation
        cls.addClassCleanup(probe.cleanup)
        cls.cert, cls.key = make_certificate(cls.tls_dir)
        cls.server = TlsServer(cls.cert, serve_args=['--tls-cert', str(cls.cert),
                                                     '--tls-key', str(cls.key)])
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()

    def test_validate_over_https_answers_200(self):
        status, _headers, body = self.server.https(
            'GET', '/v1/accessControl/apitoken/validate',
            headers={'Authorization': f'Bearer {self.server.org_token}'})
        self.assertEqual(status, 200, body)

    def test_console_sign_in_over_https_sets_a_secure_cookie_that_works(self):
        status, headers, body = self.server.https(
            'POST', '/v2/console/session', body={'apiToken': self.server.org_token})
        self.assertEqual(status, 200, body)
        set_cookie = headers.get('Set-Cookie')
        attributes = [a.strip().lower() for a in set_cookie.split(';')]
        self.assertIn('secure', attributes, set_cookie)
        self.assertIn('httponly', attributes)
        status, _headers, session = self.server.https(
            'GET', '/v2/console/session', headers={'Cookie': set_cookie.split(';')[0]})
        self.assertEqual(status, 200, session)
        self.assertEqual(session['organizationId'], self.server.org_id)

    def test_tls_1_2_and_1_3_clients_are_served(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            status, _headers, _body = self.server.https(
                'GET', '/healthz', context=client_context(self.cert, maximum=version))
            self.assertEqual(status, 200, version)

    def test_tls_1_1_client_is_refused(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(str(self.cert))
        try:
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers('ALL:@SECLEVEL=0')
        except (ValueError, ssl.SSLError) as error:
            self.skipTest(f'this Python cannot offer TLS 1.1: {error}')
        with socket.create_connection((HOST, self.server.port), timeout=HTTP_TIMEOUT_S) as raw:
            with self.assertRaises(ssl.SSLError):
                with context.wrap_socket(raw, server_hostname=HOST) as tls:
                    tls.do_handshake()
        self.assertEqual(self.server.https('GET', '/healthz')[0], 200)

    def test_plain_http_to_the_tls_port_fails_cleanly_and_https_goes_on(self):
        for _ in range(3):
            with socket.create_connection((HOST, self.server.port),
                                          timeout=HTTP_TIMEOUT_S) as sock:
                sock.sendall(f'GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n'.encode())
                received = b''
                try:
                    while chunk := sock.recv(4096):
                        received += chunk
                except ConnectionResetError:
                    pass
            self.assertFalse(received.startswith(b'HTTP/1.1 200'), received[:200])
        self.assertEqual(self.server.https('GET', '/healthz')[0], 200)

    def test_oversized_body_over_https_is_413_read_by_a_client_that_sends_it_all_first(self):
        conn = http.client.HTTPSConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S,
                                           context=client_context(self.cert))
        try:
            conn.request('POST', '/v1/organization/project', body=b'{"name":"' + b'x' * (3 << 20),
                         headers={'Content-Type': 'application/json',
                                  'Authorization': f'Bearer {self.server.org_token}'})
            reply = conn.getresponse()
            self.assertEqual(reply.status, 413)
            self.assertEqual(json.loads(reply.read())['errors'][0]['id'], 413)
        finally:
            conn.close()
        self.assertEqual(self.server.https('GET', '/healthz')[0], 200)

    def test_client_that_never_completes_the_handshake_is_closed_after_10_s(self):
        began = time.monotonic()
        with socket.create_connection((HOST, self.server.port), timeout=30) as sock:
            sock.sendall(b'\x16\x03\x01')  # the start of a ClientHello, never finished
            try:
                self.assertEqual(sock.recv(4096), b'', 'the server answered a partial hello')
            except ConnectionResetError:
                pass
        self.assertLess(time.monotonic() - began, 15)
        self.assertGreater(time.monotonic() - began, 8)
        self.assertEqual(self.server.https('GET', '/healthz')[0], 200)

    def test_many_https_requests_on_one_connection_keep_alive(self):
        conn = http.client.HTTPSConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S,
                                           context=client_context(self.cert))
        try:
            for _ in range(20):
                conn.request('GET', '/healthz')
                reply = conn.getresponse()
                self.assertEqual(reply.status, 200)
                reply.read()
        finally:
            conn.close()


@unittest.skipIf(shutil.which('openssl') is None, 'the openssl command is needed (Debian openssl)')
class HttpsConfigTests(unittest.TestCase):

    def setUp(self):
        self.installation = Server()
        self.addCleanup(self.installation.cleanup)
        self.installation.init()
        self.cert, self.key = make_certificate(self.installation.root)

    def serve(self, *args, config_text=None):
        """Runs serve with `args`; returns (exit code, output) or None if it keeps running."""
        argv = [str(self.installation.binary), 'serve', '--data-dir',
                str(self.installation.data_dir), '--listen', f'{HOST}:0', *args]
        if config_text is not None:
            argv += ['--config', str(self.installation.write_config(config_text))]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=self.installation.cli_env())
        try:
            output, _ = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        return process.returncode, output.decode(errors='replace')

    def assertStartUpError(self, outcome, *needles):
        self.assertIsNotNone(outcome, 'serve started despite bad TLS settings')
        code, output = outcome
        self.assertNotEqual(code, 0, output)
        for needle in needles:
            self.assertIn(needle, output)

    def test_certificate_without_key_stops_start_up_naming_the_missing_key(self):
        self.assertStartUpError(self.serve('--tls-cert', str(self.cert)),
                                'tls_key is missing')

    def test_key_without_certificate_stops_start_up_naming_the_missing_certificate(self):
        self.assertStartUpError(self.serve('--tls-key', str(self.key)), 'tls_cert is missing')

    def test_unreadable_certificate_file_stops_start_up_naming_it(self):
        missing = self.installation.root / 'nowhere.pem'
        self.assertStartUpError(self.serve('--tls-cert', str(missing), '--tls-key', str(self.key)),
                                str(missing))

    def test_certificate_that_is_not_pem_stops_start_up_naming_it(self):
        garbage = self.installation.root / 'garbage.pem'
        garbage.write_text('not a certificate\n')
        self.assertStartUpError(self.serve('--tls-cert', str(garbage), '--tls-key', str(self.key)),
                                str(garbage))

    def test_key_of_another_certificate_stops_start_up_naming_both_files(self):
        _other_cert, other_key = make_certificate(self.installation.root, 'other')
        self.assertStartUpError(
            self.serve('--tls-cert', str(self.cert), '--tls-key', str(other_key)),
            str(other_key), str(self.cert))

    def test_config_file_tls_cert_and_tls_key_serve_https(self):
        server = TlsServer(self.cert, config_text=(f'[server]\ntls_cert = "{self.cert}"\n'
                                                   f'tls_key = "{self.key}"\n'))
        self.addCleanup(server.cleanup)
        server.start()
        status, _headers, body = server.https('GET', '/healthz')
        self.assertEqual((status, body), (200, {'status': 'ok'}))
        self.assertEqual(server.stop(), 0)
