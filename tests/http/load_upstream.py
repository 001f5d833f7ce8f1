"""An asyncio OpenAI-compatible upstream for concurrency, pooling and backpressure tests and for
scripts/bench (Python 3 standard library only).

HTTP/1.1 keep-alive, any number of concurrent connections; counts the connections it accepts
and the bytes it streams. The requested model decides the answer:

  fixed                 200 JSON completion (FIXED_USAGE), Content-Length
  stream-<N>x<MS>       SSE: N content chunks MS milliseconds apart, then usage and [DONE]
  flood-<MIB>           SSE of MIB mebibytes of events, written as fast as the reader takes them
  hold                  waits up to HOLD_S for the client (the gateway) to close the connection
  json-stream           200 application/json even for a stream request
  bad-usage             200 JSON whose usage is negative and absurd
  bad-usage-stream      SSE of 'twelve chars', then a usage event as absurd
  auth-401 / rate-429 / bad-400   the provider refusing, OpenAI-style error bodies
  trickle               SSE head, then one byte every 200 ms for up to 30 s
  huge-event            SSE of 'before ', then an error event of 1.5 MiB that quotes
                        LEAKY_KEY_FRAGMENT, then 'after ', usage and [DONE]
  huge-tail             SSE of 'before ', then a last data line 10 bytes short of 1 MiB
                        without a line break, and the body's end
POST /v1/embeddings answers EMBED_USAGE for any model.

start() runs it on its own thread and event loop; stop() ends it.
"""

import asyncio
import json
import threading
import time

FIXED_USAGE = {'prompt_tokens': 11, 'completion_tokens': 7, 'total_tokens': 18}
STREAM_USAGE = {'prompt_tokens': 5, 'completion_tokens': 3, 'total_tokens': 8}
EMBED_USAGE = {'prompt_tokens': 13, 'total_tokens': 13}
HOLD_S = 10.0
LEAKY_KEY_FRAGMENT = 'sk-proj-LEAKY1234567890'

FIXED_BODY = json.dumps({
    'id': 'chatcmpl-load', 'object': 'chat.completion', 'created': 0, 'model': 'fixed',
    'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'fixed answer'},
                 'finish_reason': 'stop'}],
    'usage': FIXED_USAGE}).encode()


def _chunk(data):
    return b'%x\r\n' % len(data) + data + b'\r\n'


def _event(payload):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return _chunk(f'data: {text}\n\n'.encode())


def _delta(text):
    return {'id': 'chatcmpl-load', 'object': 'chat.completion.chunk', 'created': 0,
            'model': 'stream', 'choices': [{'index': 0, 'delta': {'content': text},
                                            'finish_reason': None}]}


class LoadUpstream:
    def __init__(self, host='127.0.0.1', port=0, ssl_context=None, url_host=None):
        self.host = host
        self.ssl_context = ssl_context      # serve HTTPS with it
        self.url_host = url_host or host    # the host name base_url uses
        self.requested_port = port
        self.port = None
        self.connections = 0          # accepted so far
        self.open_connections = 0
        self.requests = 0
        self.streamed_bytes = 0       # body bytes of flood streams written so far
        self.closed_while_holding = []  # monotonic times a `hold` call saw its client leave
        self.holding = 0              # `hold` calls waiting now
        self.streams_left = []        # seconds into a `stream-` call when the gateway closed it
        self.embedding_bodies = []
        self.tls_resumed = 0          # TLS connections that resumed an earlier session
        self._loop = None
        self._server = None
        self._thread = None
        self._ready = threading.Event()
        self._writers = set()

    @property
    def base_url(self):
        scheme = 'https' if self.ssl_context else 'http'
        return f'{scheme}://{self.url_host}:{self.port}/v1'

    # --- lifecycle -------------------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError('load upstream did not start')
        return self

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(
            self._serve, self.host, self.requested_port, backlog=8192, limit=1 << 20,
            ssl=self.ssl_context))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def stop(self):
        if self._loop is None:
            return
        def shutdown():
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            self._loop.stop()
        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(timeout=5)

    def close_idle_connections(self):
        """Closes every connection that is between requests (as an upstream's idle timeout
        would)."""
        done = threading.Event()
        def close():
            for writer in list(self._writers):
                if not getattr(writer, 'busy', False):
                    writer.close()
            done.set()
        self._loop.call_soon_threadsafe(close)
        done.wait(5)

    # --- HTTP ------------------------------------------------------------------------------
    async def _serve(self, reader, writer):
        self.connections += 1
        self.open_connections += 1
        self._writers.add(writer)
        writer.busy = False
        tls = writer.get_extra_info('ssl_object')
        if tls is not None and tls.session_reused:
            self.tls_resumed += 1
        try:
            for _ in range(1_000_000):
                head = await reader.readuntil(b'\r\n\r\n')
                writer.busy = True
                lines = head.decode('latin-1').split('\r\n')
                method, path, _version = lines[0].split(' ', 2)
                headers = {}
                for line in lines[1:]:
                    if ':' in line:
                        name, value = line.split(':', 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get('content-length') or 0)
                body = await reader.readexactly(length) if length else b''
                self.requests += 1
                keep = await self._answer(method, path, body, reader, writer)
                keep = keep and headers.get('connection', '').lower() != 'close'
                writer.busy = False
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                ValueError, OSError):
            pass
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.close()

    async def _json(self, writer, status, payload, reason='OK'):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        writer.write(b'HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n'
                     b'Content-Length: %d\r\n\r\n' % (status, reason.encode(), len(data)) + data)
        await writer.drain()
        return True

    async def _answer(self, method, path, raw, reader, writer):
        try:
            body = json.loads(raw or b'{}')
        except ValueError:
            body = {}
        if method == 'POST' and path.rstrip('/') == '/v1/embeddings':
            self.embedding_bodies.append(body)
            return await self._json(writer, 200, {
                'object': 'list', 'model': body.get('model'),
                'data': [{'object': 'embedding', 'index': 0, 'embedding': [0.25, -0.5, 0.125]}],
                'usage': EMBED_USAGE})
        if method != 'POST' or path.rstrip('/') != '/v1/chat/completions':
            return await self._json(writer, 404, {'error': {'message': 'no route'}}, 'Not Found')
        model = body.get('model', '')
        if model == 'fixed':
            return await self._json(writer, 200, FIXED_BODY)
        if model == 'bad-usage':
            payload = json.loads(FIXED_BODY)
            payload['usage'] = {'prompt_tokens': -5, 'completion_tokens': 10**15}
            return await self._json(writer, 200, payload)
        if model == 'json-stream':
            return await self._json(writer, 200, FIXED_BODY)
        if model == 'auth-401':
            return await self._json(writer, 401, {'error': {
                'message': f'Incorrect API key provided: {LEAKY_KEY_FRAGMENT}'}}, 'Unauthorized')
        if model == 'rate-429':
            data = json.dumps({'error': {'message': 'Rate limit reached'}}).encode()
            writer.write(b'HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n'
                         b'Retry-After: 17\r\nContent-Length: %d\r\n\r\n' % len(data) + data)
            await writer.drain()
            return True
        if model == 'bad-400':
            return await self._json(writer, 400, {'error': {
                'message': f'Invalid value for temperature (key {LEAKY_KEY_FRAGMENT})',
                'type': 'invalid_request_error'}}, 'Bad Request')
        if model == 'hold':
            started = time.monotonic()
            self.holding += 1
            try:
                data = await asyncio.wait_for(reader.read(1), HOLD_S)
                if data == b'':
                    self.closed_while_holding.append(time.monotonic() - started)
                    return False
            except asyncio.TimeoutError:
                pass
            finally:
                self.holding -= 1
            return await self._json(writer, 200, FIXED_BODY)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n'
                     b'Transfer-Encoding: chunked\r\n\r\n')
        if model == 'bad-usage-stream':
            writer.write(_event(_delta('twelve chars')))
            writer.write(_event({'id': 'chatcmpl-load', 'object': 'chat.completion.chunk',
                                 'choices': [],
                                 'usage': {'prompt_tokens': -5, 'completion_tokens': 10**15}}))
            writer.write(_event('[DONE]') + b'0\r\n\r\n')
            await writer.drain()
            return True
        if model == 'huge-event':
            writer.write(_event(_delta('before ')))
            message = f'overloaded (key {LEAKY_KEY_FRAGMENT}) ' + 'x' * (3 << 19)
            writer.write(_chunk(b'event: error\ndata: '
                                + json.dumps({'error': {'message': message}}).encode() + b'\n\n'))
            writer.write(_event(_delta('after ')))
            writer.write(_event({'id': 'chatcmpl-load', 'object': 'chat.completion.chunk',
                                 'choices': [], 'usage': STREAM_USAGE}))
            writer.write(_event('[DONE]') + b'0\r\n\r\n')
            await writer.drain()
            return True
        if model == 'huge-tail':
            writer.write(_event(_delta('before ')))
            writer.write(_chunk(b'data: ' + b'y' * ((1 << 20) - 16)) + b'0\r\n\r\n')
            await writer.drain()
            return True
        if model.startswith('stream-'):
            count, interval = model[len('stream-'):].split('x')
            started = time.monotonic()
            for i in range(int(count)):
                await asyncio.sleep(int(interval) / 1000)
                try:
                    # The gateway closed the connection (a FIN, or a reset when events it had
                    # not read were left): the call is over.
                    if reader.at_eof() or writer.is_closing():
                        raise ConnectionResetError
                    writer.write(_event(_delta(f'c{i} ')))
                    await writer.drain()
                except ConnectionError:
                    self.streams_left.append(time.monotonic() - started)
                    return False
            writer.write(_event({'id': 'chatcmpl-load', 'object': 'chat.completion.chunk',
                                 'choices': [], 'usage': STREAM_USAGE}))
            writer.write(_event('[DONE]') + b'0\r\n\r\n')
            await writer.drain()
            return True
        if model.startswith('flood-'):
            total = int(model[len('flood-'):]) << 20
            piece = _event(_delta('x' * 16000))
            sent = 0
            while sent < total:
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
                self.streamed_bytes += len(piece)
            writer.write(_event('[DONE]') + b'0\r\n\r\n')
            await writer.drain()
            return True
        if model == 'trickle':
            for _ in range(150):
                writer.write(_chunk(b':'))
                await writer.drain()
                await asyncio.sleep(0.2)
            writer.write(_event('[DONE]') + b'0\r\n\r\n')
            await writer.drain()
            return True
        writer.write(_event('[DONE]') + b'0\r\n\r\n')
        await writer.drain()
        return True


if __name__ == '__main__':  # scripts/bench runs it as a process
    import argparse
    import signal
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args()
    upstream = LoadUpstream(port=args.port).start()
    print(upstream.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    upstream.stop()


class WithLoadUpstream:
    """Mixin for a GatewayTestCase: a LoadUpstream (`cls.load`) runs for the whole class,
    started before the server (whose config may name it) and stopped after it."""

    @classmethod
    def make_load_upstream(cls):
        return LoadUpstream()

    @classmethod
    def setUpClass(cls):
        cls.load = cls.make_load_upstream().start()
        try:
            super().setUpClass()
        except BaseException:
            cls.load.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.load.stop()
