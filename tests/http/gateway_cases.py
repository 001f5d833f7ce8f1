"""Gateway tests (issue 3): providers over the fake upstream, chat fixtures, the export."""

import functools
import http.client
import json
import socket
import time
import uuid
from types import SimpleNamespace
from urllib.parse import urlencode

from .cases import GatehouseTestCase
from .client import HOST, HTTP_TIMEOUT_S, Response, unique, wait_until
from .fake_upstream import FakeUpstream
from .server import Server

# API.md section 4, request export item, in this order (also the CSV header).
EXPORT_FIELDS = ['requestId', 'projectId', 'apiToken', 'apiTokenId', 'assistant', 'intent',
                 'module', 'sessionId', 'model', 'status', 'httpStatus', 'timestamp',
                 'startTimestamp', 'endTimestamp', 'elapsedTimeMs', 'promptTokens',
                 'completionTokens', 'totalTokens', 'cost', 'prompt', 'inputText', 'output',
                 'feedback', 'ragSourcesConsulted']
# The issue says a record is visible in the export within ~2 s; the tests poll up to 3 s.
RECORD_TIMEOUT_S = 3.0
CHAT_PATHS = ('/chat', '/chat/completions', '/v1/chat/completions')

PROVIDER = 'fake'            # the fake upstream with a generous timeout
SLOW_PROVIDER = 'slowfake'   # the same upstream with timeout_ms SLOW_TIMEOUT_MS
KEY_ENV = 'GATEHOUSE_TEST_FAKE_API_KEY'
SLOW_KEY_ENV = 'GATEHOUSE_TEST_SLOW_API_KEY'
PROVIDER_TIMEOUT_MS = 10000
SLOW_TIMEOUT_MS = 1000
# USD per million (input, output) tokens, per provider and model.
PRICES = {
    PROVIDER: {'echo': (2.5, 10.0), 'stream': (1.25, 5.0), 'stream-no-usage': (3.0, 15.0),
               'slow-stream': (1.0, 2.0), 'cut-stream': (1.0, 2.0), 'fail-500': (1.0, 2.0),
               'garbage': (1.0, 2.0), 'no-choices': (1.0, 2.0), 'mid-error': (1.0, 2.0),
               'mid-error-then-wait': (1.0, 2.0),
               'done-then-wait': (1.0, 2.0), 'tool-calls': (1.0, 2.0),
               'usage-after-done': (1.0, 2.0), 'huge-after-done': (1.0, 2.0),
               'close-ended': (1.0, 2.0), 'close-ended-done': (1.0, 2.0),
               'sse-fields': (1.0, 2.0), 'quoted-key-error': (1.0, 2.0)},
    SLOW_PROVIDER: {'hang': (1.0, 2.0), 'echo': (0.5, 1.5)},
}


def provider_config(base_url, prices=None):
    """The [[providers]] TOML of API.md section 11 for the fake upstream at base_url."""
    prices = prices or PRICES
    settings = {PROVIDER: (KEY_ENV, PROVIDER_TIMEOUT_MS),
                SLOW_PROVIDER: (SLOW_KEY_ENV, SLOW_TIMEOUT_MS)}
    lines = []
    for provider, models in prices.items():
        key_env, timeout_ms = settings[provider]
        lines += ['[[providers]]', f'name = "{provider}"', f'base_url = "{base_url}"',
                  f'api_key_env = "{key_env}"', f'timeout_ms = {timeout_ms}', '']
        for model, (price_in, price_out) in models.items():
            lines += ['[[providers.models]]', f'name = "{model}"',
                      f'input_usd_per_mtok = {price_in!r}',
                      f'output_usd_per_mtok = {price_out!r}', '']
    return '\n'.join(lines)


def expected_costs(provider, model, prompt_tokens, completion_tokens):
    """(prompt_cost, completion_cost, total_cost) in USD: tokens x price / 1e6."""
    price_in, price_out = PRICES[provider][model]
    prompt_cost = prompt_tokens * price_in / 1e6
    completion_cost = completion_tokens * price_out / 1e6
    return prompt_cost, completion_cost, prompt_cost + completion_cost


def raw_chat(port, token, model, stream=False, headers=None, receive_buffer=None):
    """A socket that has sent a chat request for `model` and reads nothing yet: for tests that
    read the answer at their own pace, or leave before it. `headers`: more request headers;
    `receive_buffer`: SO_RCVBUF, set before the request goes."""
    body = json.dumps({'model': model, 'stream': stream,
                       'messages': [{'role': 'user', 'content': 'hi'}]}).encode()
    sock = socket.create_connection((HOST, port), timeout=10)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    extra = ''.join(f'{name}: {value}\r\n' for name, value in (headers or {}).items())
    sock.sendall((f'POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\n'
                  f'Authorization: Bearer {token}\r\n{extra}'
                  f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n')
                 .encode() + body)
    return sock


class ChatStream:
    """A streamed chat call: status and headers at once, then data: events as they arrive."""

    def __init__(self, port, path, body, token, headers=None, timeout_s=HTTP_TIMEOUT_S):
        self.started_at = time.monotonic()
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
        send = {'Content-Type': 'application/json', 'Authorization': f'Bearer {token}'}
        send.update(headers or {})
        self.conn.request('POST', path, body=json.dumps(body).encode(), headers=send)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        self.error = None
        self.any_line = False  # events() has read a line of the body

    def events(self, limit=10000):
        """Yields (monotonic arrival time, text after 'data:') for every data line."""
        for _ in range(limit):
            try:
                line = self.response.readline()
            except (http.client.HTTPException, OSError, ValueError) as error:
                self.error = error  # e.g. a chunked body cut short
                return
            if not line:
                # http.client ends a chunked body quietly when the connection closes between
                # chunks (its peek swallows the IncompleteRead): after a chunk, chunk_left is
                # None only once the last chunk was read; before any (None from the start), a
                # 200 stream always has an event, so no line at all is a cut too.
                # A body with a Content-Length cut short ends quietly too: its length is left.
                if self.response.chunked and (self.response.chunk_left is not None or
                                              not self.any_line):
                    self.error = http.client.IncompleteRead(b'')
                elif not self.response.chunked and self.response.length:
                    self.error = http.client.IncompleteRead(b'', self.response.length)
                return
            self.any_line = True
            text = line.decode('utf-8', 'replace').rstrip('\r\n')
            if text.startswith('data:'):
                yield time.monotonic(), text[5:].strip()

    def read_all(self):
        """All data events until the stream ends (or breaks: then self.error is set)."""
        return list(self.events())

    def reply(self):
        """For a non-stream reply (an error): Response(status, headers, parsed JSON body)."""
        data = self.response.read().decode('utf-8', 'replace')
        try:
            body = json.loads(data) if data.strip() else data
        except ValueError:
            body = data
        return Response(self.status, self.headers, body)

    def close(self):
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class hybridmethod:
    """Like classmethod, but bound to the instance when called on one (so that fixtures work
    both in setUpClass and in server_per_test classes, where the server is per instance)."""

    def __init__(self, function):
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, obj, owner):
        return functools.partial(self.function, owner if obj is None else obj)


class GatewayTestCase(GatehouseTestCase):
    """A GatehouseTestCase whose server is configured with providers pointing at a fake
    OpenAI-compatible upstream (fake_upstream.py) started for the class."""

    upstream = None
    extra_serve_env = {}  # besides the providers' keys

    @classmethod
    def setUpClass(cls):
        cls.upstream = FakeUpstream().start()
        cls.api_key = f'sk-fake-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}'
        cls.slow_api_key = f'sk-slow-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}'
        cls.serve_env = {KEY_ENV: cls.api_key, SLOW_KEY_ENV: cls.slow_api_key,
                         **cls.extra_serve_env}
        try:
            super().setUpClass()
        except BaseException:
            cls.upstream.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        server = cls.__dict__.get('server') or getattr(cls, 'server', None)
        log = server.log_text() if isinstance(server, Server) else ''
        try:
            super().tearDownClass()
        finally:
            cls.upstream.stop()
        for secret in (cls.api_key, cls.slow_api_key):
            if secret in log:
                raise AssertionError(f'{cls.__name__}: a provider API key appeared in the '
                                     'server log')

    @classmethod
    def server_config(cls):
        return provider_config(cls.upstream.base_url)

    # --- fixtures (class methods, usable from setUpClass) -------------------------------
    @hybridmethod
    def make_project(cls, name=None):
        """A project and its Default token: .project_id, .project_name, .token (secret),
        .token_name, .token_id."""
        response = cls.server.request('POST', '/v1/organization/project',
                                      body={'name': name or unique('gw-proj')},
                                      token=cls.server.org_token)
        if response.status != 200:
            raise AssertionError(f'creating a project: {response.status} {response.body!r}')
        token = response.body['tokens'][0]
        return SimpleNamespace(project_id=response.body['projectId'],
                               project_name=response.body['projectName'],
                               token=token['secret'], token_name=token['name'],
                               token_id=token['id'])

    @hybridmethod
    def make_token(cls, project_id, name=None):
        """Another project token: .token (secret), .token_name, .token_id."""
        response = cls.server.request('POST', '/v2/projects/tokens',
                                      body={'name': name or unique('gw-tok')},
                                      token=cls.server.org_token,
                                      headers={'project-id': project_id})
        if response.status != 200:
            raise AssertionError(f'creating a token: {response.status} {response.body!r}')
        return SimpleNamespace(token=response.body['secret'], token_name=response.body['name'],
                               token_id=response.body['id'], project_id=project_id)

    @hybridmethod
    def assistant_body(cls, name=None, prompt='You are a careful test assistant.',
                       provider=PROVIDER, model='echo', temperature=0.25, max_tokens=321,
                       description='made by the tests'):
        return {'name': name or unique('bot'), 'description': description, 'prompt': prompt,
                'llmSettings': {'providerName': provider, 'modelName': model,
                                'temperature': temperature, 'maxTokens': max_tokens}}

    @hybridmethod
    def make_assistant(cls, token, **fields):
        body = cls.assistant_body(**fields)
        response = cls.server.request('POST', '/v1/assistant', body=body, token=token)
        if response.status != 200:
            raise AssertionError(f'creating an assistant: {response.status} {response.body!r}')
        return response.body

    @hybridmethod
    def call_chat(cls, token, model, text=None, messages=None, path='/v1/chat/completions',
                  session=None, extra=None, headers=None):
        body = {'model': model,
                'messages': messages if messages is not None else
                [{'role': 'user', 'content': text or unique('hello')}]}
        body.update(extra or {})
        send = dict(headers or {})
        if session is not None:
            send['saia-conversation-id'] = session
        return cls.server.request('POST', path, body=body, token=token, headers=send)

    # --- instance helpers ---------------------------------------------------------------
    def chat(self, token, model, **kw):
        return self.call_chat(token, model, **kw)

    def stream_chat(self, token, model, text=None, messages=None, path='/v1/chat/completions',
                    session=None, extra=None):
        body = {'model': model, 'stream': True,
                'messages': messages if messages is not None else
                [{'role': 'user', 'content': text or unique('hello')}]}
        body.update(extra or {})
        headers = {'saia-conversation-id': session} if session is not None else None
        return ChatStream(self.server.port, path, body, token, headers)

    def export(self, token=None, **params):
        """GET /v1/organization/request/export with these query parameters (None dropped)."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        path = '/v1/organization/request/export' + (f'?{query}' if query else '')
        return self.request('GET', path, token=token or self.org_token)

    def export_raw(self, token=None, **params):
        """The export as Response(status, headers, body text), never parsed."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        path = '/v1/organization/request/export' + (f'?{query}' if query else '')
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S)
        try:
            conn.request('GET', path,
                         headers={'Authorization': f'Bearer {token or self.org_token}'})
            reply = conn.getresponse()
            data = reply.read()
            return Response(reply.status, reply.headers, data.decode('utf-8', 'replace'))
        finally:
            conn.close()

    def export_items(self, token=None, **params):
        body = self.ok(self.export(token, **params))
        self.assertIsInstance(body, dict, f'export reply is not a JSON object: {body!r}')
        self.assertIsInstance(body.get('items'), list, f'no "items" array: {body!r}')
        return body['items']

    def wait_items(self, predicate, count, token=None, timeout_s=RECORD_TIMEOUT_S, **params):
        """Polls the export until count items satisfy predicate; returns those items."""
        found = []

        def probe():
            nonlocal found
            found = [i for i in self.export_items(token, **params) if predicate(i)]
            return len(found) >= count

        wait_until(probe, timeout_s, 0.1)
        self.assertGreaterEqual(len(found), count,
                                f'only {len(found)} of {count} records in the export '
                                f'after {timeout_s} s')
        return found

    def wait_record(self, session, token=None, settle_s=0.3, **params):
        """The one record whose sessionId is session: waits for it, then checks that no
        second record with that sessionId appears within settle_s."""
        self.wait_items(lambda i: i.get('sessionId') == session, 1, token, **params)
        time.sleep(settle_s)
        found = [i for i in self.export_items(token, **params) if i.get('sessionId') == session]
        self.assertEqual(len(found), 1, f'expected exactly one record for session {session}, '
                                        f'got {found!r}')
        return found[0]

    def assertCost(self, actual, expected, msg=None):
        self.assertIsInstance(actual, (int, float), msg)
        self.assertAlmostEqual(actual, expected, delta=max(1e-12, abs(expected) * 1e-9),
                               msg=msg)

    def assertNoSecretIn(self, text, msg=None):
        """Neither provider key appears in text (a reply or the server log)."""
        for secret in (self.api_key, self.slow_api_key):
            self.assertNotIn(secret, text, msg or 'a provider API key leaked')
