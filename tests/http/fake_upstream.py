"""A small OpenAI-compatible upstream for the gateway tests (Python 3 standard library only).

It listens on 127.0.0.1 on a free port, answers POST /v1/chat/completions and records every
request it receives (path, lower-case headers, parsed JSON body). What it answers is chosen by
the requested model name (the bare name Gatehouse sends, without the provider prefix):

  echo             200 JSON; content "echo: <last user message>"; usage ECHO_USAGE
  stream           SSE: a role chunk, then STREAM_PIECES with STREAM_DELAY_S between chunks,
                   a finish chunk, a usage-only chunk (STREAM_USAGE), then data: [DONE]
  stream-no-usage  the same SSE without any usage
  slow-stream      SSE of SLOW_STREAM_CHUNKS pieces, STREAM_DELAY_S apart (for disconnects)
  cut-stream       SSE headers and one chunk, then the connection is closed mid-body
  fail-500         500 with an OpenAI-style error body
  garbage          200 declared as JSON whose body is not JSON
  no-choices       200 JSON that is an OpenAI-style error object, not a completion (no choices)
  mid-error        SSE: a content chunk, then an OpenAI-style error event, then the body ends
                   (no [DONE]), as a provider that fails mid-answer does
  done-then-wait   the stream of `stream`, but the body's last chunk comes HELD_AFTER_DONE_S
                   after data: [DONE]
  mid-error-then-wait
                   the stream of `mid-error`, but the body's last chunk comes HELD_AFTER_DONE_S
                   after the error event
  usage-after-done the stream of `stream-no-usage`, then after data: [DONE] a usage-only event
                   (STREAM_USAGE), as a provider's late bookkeeping would send it
  huge-after-done  the stream of `stream`, then after data: [DONE] one event of HUGE_EVENT_BYTES
                   (over the gateway's 1 MiB bound on an event)
  tool-calls       200 JSON whose answer is a tool call only (no content), without usage
  close-ended      SSE with neither chunks nor a length: one content event, then the close
  close-ended-done the same, with data: [DONE] before the close
  sse-fields       SSE as the standard allows it besides data lines and LF: a comment, CR and
                   CRLF line breaks (a CR split from its LF across chunks), `event:` and `id:`
                   lines, an event whose JSON spans two data lines, a usage-only event named
                   `event: usage` (STREAM_USAGE), then data: [DONE]; the text is "Hello"
  quoted-key-error SSE: a content chunk, then an error event whose message quotes the key the
                   request's Authorization header carried, then the body ends
  hang             waits HANG_S (longer than the provider timeout used with it), then echo
  anything else    404 with an OpenAI-style error body

Every wait is bounded, and stop() ends them early.
"""

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ECHO_USAGE = {'prompt_tokens': 1200, 'completion_tokens': 345, 'total_tokens': 1545}
STREAM_USAGE = {'prompt_tokens': 321, 'completion_tokens': 54, 'total_tokens': 375}
HELD_AFTER_DONE_S = 3.0
HUGE_EVENT_BYTES = 1200 * 1024
TOOL_ARGUMENTS = '{"city": "Montevideo", "unit": "celsius", "days": 7}'

STREAM_PIECES = ['Once ', 'upon ', 'a ', 'time', ' there was a stream.']
STREAM_TEXT = ''.join(STREAM_PIECES)
STREAM_DELAY_S = 0.15
SLOW_STREAM_CHUNKS = 20          # about 3 s in all
HANG_S = 4.0
CUT_STREAM_PIECE = 'only this much '
SYSTEM_FINGERPRINT = 'fp_fake_upstream'


def last_user_message(body):
    messages = body.get('messages') if isinstance(body, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get('role') == 'user':
            content = message.get('content')
            if isinstance(content, list):  # content parts
                return ''.join(p.get('text', '') for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else ''
    return ''


def echo_text(user_text):
    return f'echo: {user_text}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True
    server_version = 'FakeUpstream/1.0'

    def log_message(self, format, *args):  # keep the test output clean
        pass

    # --- input ---------------------------------------------------------------------------
    def _read_body(self):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            data = b''
            for _ in range(100000):
                size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    # --- output --------------------------------------------------------------------------
    def _send_json(self, status, payload, raw=None):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_sse(self):
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-cache')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data):
        self.wfile.write(b'%x\r\n' % len(data) + data + b'\r\n')
        self.wfile.flush()

    def _event(self, payload):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._chunk(f'data: {text}\n\n'.encode())

    def _end_chunks(self):
        self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()

    # --- behaviours ----------------------------------------------------------------------
    def do_POST(self):
        upstream = self.server.upstream
        raw = self._read_body()
        try:
            body = json.loads(raw.decode('utf-8'))
        except ValueError:
            body = None
        record = {'path': self.path, 'method': 'POST',
                  'headers': {k.lower(): v for k, v in self.headers.items()},
                  'body': body, 'raw': raw, 'received_at': time.monotonic()}
        upstream._add(record)
        if self.path.rstrip('/') != '/v1/chat/completions':
            self._send_json(404, {'error': {'message': f'no route {self.path}',
                                            'type': 'invalid_request_error'}})
            return
        model = body.get('model') if isinstance(body, dict) else None
        handler = {
            'echo': self._echo, 'hang': self._hang, 'fail-500': self._fail,
            'garbage': self._garbage, 'no-choices': self._no_choices, 'stream': self._stream,
            'stream-no-usage': self._stream_no_usage, 'slow-stream': self._slow_stream,
            'cut-stream': self._cut_stream, 'mid-error': self._mid_error,
            'mid-error-then-wait': self._mid_error,
            'done-then-wait': self._done_then_wait, 'tool-calls': self._tool_calls,
            'usage-after-done': self._usage_after_done, 'huge-after-done': self._huge_after_done,
            'close-ended': self._close_ended, 'close-ended-done': self._close_ended,
            'sse-fields': self._sse_fields, 'quoted-key-error': self._quoted_key_error,
        }.get(model)
        if handler is None:
            self._send_json(404, {'error': {'message': f'model {model!r} not found',
                                            'type': 'invalid_request_error'}})
            return
        try:
            handler(body, record)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            record['client_gone'] = True
            self.close_connection = True
        record['finished_at'] = time.monotonic()

    def _completion_id(self, record):
        return f'chatcmpl-fake-{record["seq"]}'

    def _echo(self, body, record):
        answer = echo_text(last_user_message(body))
        record['answer'] = answer
        self._send_json(200, {
            'id': self._completion_id(record), 'object': 'chat.completion',
            'created': int(time.time()), 'model': body.get('model'),
            'system_fingerprint': SYSTEM_FINGERPRINT,
            'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': answer},
                         'logprobs': None, 'finish_reason': 'stop'}],
            'usage': dict(ECHO_USAGE)})

    def _hang(self, body, record):
        self.server.upstream.stop_event.wait(HANG_S)
        self._echo(body, record)

    def _fail(self, body, record):
        self._send_json(500, {'error': {'message': 'the fake upstream failed on purpose',
                                        'type': 'server_error'}})

    def _garbage(self, body, record):
        self._send_json(200, None, raw=b'<html>this is <b>not</b> JSON {"choices": [')

    def _no_choices(self, body, record):
        self._send_json(200, {'error': {'message': 'upstream quota', 'type': 'server_error'},
                              'usage': dict(ECHO_USAGE)})

    def _tool_calls(self, body, record):
        self._send_json(200, {
            'id': self._completion_id(record), 'object': 'chat.completion',
            'created': int(time.time()), 'model': body.get('model'),
            'choices': [{'index': 0, 'finish_reason': 'tool_calls', 'message': {
                'role': 'assistant', 'content': None,
                'tool_calls': [{'id': 'call_1', 'type': 'function', 'function': {
                    'name': 'get_weather', 'arguments': TOOL_ARGUMENTS}}]}}]})

    def _mid_error(self, body, record):
        self._start_sse()
        self._event(self._chunk_payload(record, body.get('model'),
                                        {'role': 'assistant', 'content': CUT_STREAM_PIECE}))
        self._event({'error': {'message': 'the fake upstream is overloaded',
                               'type': 'server_error'}})
        if body.get('model') == 'mid-error-then-wait' and \
                self.server.upstream.stop_event.wait(HELD_AFTER_DONE_S):
            return
        self._end_chunks()

    def _close_ended(self, body, record):
        # HTTP/1.1 without a length or chunks: the body ends with the connection.
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Connection', 'close')
        self.end_headers()
        chunk = self._chunk_payload(record, body.get('model'),
                                    {'role': 'assistant', 'content': CUT_STREAM_PIECE})
        self.wfile.write(f'data: {json.dumps(chunk)}\n\n'.encode())
        if body.get('model') == 'close-ended-done':
            self.wfile.write(b'data: [DONE]\n\n')
        self.wfile.flush()
        self.close_connection = True

    def _sse_fields(self, body, record):
        model = body.get('model')
        first = json.dumps(self._chunk_payload(record, model, {'role': 'assistant',
                                                               'content': 'Hel'}))
        usage = json.dumps({'id': self._completion_id(record), 'object': 'chat.completion.chunk',
                            'model': model, 'choices': [], 'usage': dict(STREAM_USAGE)})
        self._start_sse()
        self._chunk(b': opening comment\r\r')
        self._chunk(f'event: chunk\rid: 1\rdata: {first}\r'.encode())
        self._chunk(b'\r')  # the first event's blank line, its CR alone
        self._chunk(b'event: chunk\r\nid: 2\r\ndata: {"id": "x",\r')
        self._chunk(b'\ndata: "choices": [{"index": 0, "delta": {"content": "lo"}}]}\r\n\r\n')
        self._chunk(f'event: usage\nid: 3\ndata: {usage}\n\n'.encode())
        self._chunk(b'data: [DONE]\n\n')
        self._end_chunks()

    def _quoted_key_error(self, body, record):
        key = record['headers'].get('authorization', '').removeprefix('Bearer ')
        self._start_sse()
        self._event(self._chunk_payload(record, body.get('model'),
                                        {'role': 'assistant', 'content': CUT_STREAM_PIECE}))
        self._event({'error': {'message': f'Incorrect API key provided: {key}.',
                               'type': 'invalid_request_error', 'param': key[:10]}})
        self._end_chunks()

    def _done_then_wait(self, body, record):
        self._stream_pieces(body, record, STREAM_PIECES, STREAM_USAGE,
                            held_after_done_s=HELD_AFTER_DONE_S)

    def _usage_after_done(self, body, record):
        self._stream_pieces(body, record, STREAM_PIECES, None, after_done=[
            {'id': self._completion_id(record), 'object': 'chat.completion.chunk',
             'created': int(time.time()), 'model': body.get('model'), 'choices': [],
             'usage': dict(STREAM_USAGE)}])

    def _huge_after_done(self, body, record):
        self._stream_pieces(body, record, STREAM_PIECES, STREAM_USAGE,
                            after_done=['x' * HUGE_EVENT_BYTES])

    def _chunk_payload(self, record, model, delta, finish=None):
        return {'id': self._completion_id(record), 'object': 'chat.completion.chunk',
                'created': int(time.time()), 'model': model,
                'system_fingerprint': SYSTEM_FINGERPRINT,
                'choices': [{'index': 0, 'delta': delta, 'logprobs': None,
                             'finish_reason': finish}]}

    def _stream_pieces(self, body, record, pieces, usage, held_after_done_s=0.0, after_done=()):
        stop = self.server.upstream.stop_event
        model = body.get('model')
        self._start_sse()
        self._event(self._chunk_payload(record, model, {'role': 'assistant', 'content': ''}))
        record['first_chunk_at'] = time.monotonic()
        for piece in pieces:
            if stop.wait(STREAM_DELAY_S):
                return
            self._event(self._chunk_payload(record, model, {'content': piece}))
            record['chunks_sent'] = record.get('chunks_sent', 0) + 1
        self._event(self._chunk_payload(record, model, {}, finish='stop'))
        if usage is not None:
            self._event({'id': self._completion_id(record), 'object': 'chat.completion.chunk',
                         'created': int(time.time()), 'model': model, 'choices': [],
                         'usage': dict(usage)})
        record['last_chunk_at'] = time.monotonic()
        self._event('[DONE]')
        if held_after_done_s and stop.wait(held_after_done_s):
            return
        try:
            for payload in after_done:
                self._event(payload)
            self._end_chunks()
        except OSError:
            return  # the gateway may stop reading once the answer is whole
        record['answer'] = ''.join(pieces)

    def _stream(self, body, record):
        self._stream_pieces(body, record, STREAM_PIECES, STREAM_USAGE)

    def _stream_no_usage(self, body, record):
        self._stream_pieces(body, record, STREAM_PIECES, None)

    def _slow_stream(self, body, record):
        self._stream_pieces(body, record, [f'piece{i} ' for i in range(SLOW_STREAM_CHUNKS)],
                            STREAM_USAGE)

    def _cut_stream(self, body, record):
        self._start_sse()
        self._event(self._chunk_payload(record, body.get('model'),
                                        {'role': 'assistant', 'content': CUT_STREAM_PIECE}))
        record['first_chunk_at'] = time.monotonic()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self.server.upstream._add({'path': self.path, 'method': 'GET',
                                   'headers': {k.lower(): v for k, v in self.headers.items()},
                                   'body': None, 'raw': b'', 'received_at': time.monotonic()})
        self._send_json(404, {'error': {'message': 'only POST /v1/chat/completions'}})


class _QuietServer(ThreadingHTTPServer):
    """A gateway that dies (kill -9 tests) or hangs up resets its connections: not an error."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class FakeUpstream:
    """start() → listening; base_url is what goes into the provider's base_url."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = []
        self._seq = 0
        self.stop_event = threading.Event()
        self._httpd = _QuietServer(('127.0.0.1', 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.upstream = self
        self._thread = None

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def base_url(self):
        return f'http://127.0.0.1:{self.port}/v1'

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={'poll_interval': 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _add(self, record):
        with self._lock:
            self._seq += 1
            record['seq'] = self._seq
            self._requests.append(record)

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def requests_with(self, marker):
        """The recorded requests whose JSON body mentions marker (e.g. in a message)."""
        return [r for r in self.requests if marker in r['raw'].decode('utf-8', 'replace')]

    def wait_for(self, marker, count=1, timeout_s=5.0):
        deadline = time.monotonic() + timeout_s
        found = self.requests_with(marker)
        while len(found) < count and time.monotonic() < deadline:
            time.sleep(0.02)
            found = self.requests_with(marker)
        return found
