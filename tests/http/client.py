"""Talking HTTP to a server under test: one request, raw exchanges, and small helpers."""

import base64
import http.client
import itertools
import json
import socket
import time
import uuid
from collections import namedtuple

HOST = '127.0.0.1'
HTTP_TIMEOUT_S = 10.0

Response = namedtuple('Response', 'status headers body')

_counter = itertools.count(1)


def unique(prefix):
    """A name no other test uses: prefix, a counter and a random suffix (lower-case)."""
    return f'{prefix}-{next(_counter):03d}-{uuid.uuid4().hex[:6]}'


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def basic_auth(secret):
    return 'Basic ' + base64.b64encode(f'{secret}:'.encode()).decode()


def wait_until(predicate, timeout_s, interval_s=0.1):
    """Polls predicate until truthy or timeout_s has passed; returns its last value."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = predicate()
    return value


def http_request(port, method, path, body=None, token=None, headers=None, raw_body=None,
                 content_type='application/json', connection=None):
    """One HTTP request to 127.0.0.1:port. body (dict/list) is sent as JSON, raw_body as bytes.

    Returns Response(status, headers, body) where body is the parsed JSON, or the text when
    the reply is not JSON ('' when empty). A given http.client connection is reused, not closed.
    """
    send_headers = {}
    payload = None
    if raw_body is not None:
        payload = raw_body
    elif body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode('utf-8')
    if payload is not None and content_type is not None:
        send_headers['Content-Type'] = content_type
    if token is not None:
        send_headers['Authorization'] = f'Bearer {token}'
    if headers:
        send_headers.update(headers)
    conn = connection or http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, body=payload, headers=send_headers)
        reply = conn.getresponse()
        data = reply.read()
        reply_headers = reply.headers
        status = reply.status
    finally:
        if connection is None:
            conn.close()
    text = data.decode('utf-8', errors='replace')
    parsed = text
    if text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
    return Response(status, reply_headers, parsed)


def read_response(stream):
    """Reads one HTTP/1.1 response (Content-Length or chunked) from a binary file object.

    Returns (status, headers with lower-case names, body bytes).
    """
    status_line = stream.readline()
    if not status_line:
        raise AssertionError('connection closed before a response')
    status = int(status_line.split()[1])
    headers = {}
    for _ in range(200):
        line = stream.readline()
        if line in (b'\r\n', b'\n', b''):
            break
        key, _sep, value = line.decode('latin-1').partition(':')
        headers[key.strip().lower()] = value.strip()
    if 'content-length' in headers:
        body = stream.read(int(headers['content-length']))
    elif headers.get('transfer-encoding', '').lower() == 'chunked':
        body = b''
        for _ in range(100000):
            size = int(stream.readline().split(b';')[0].strip(), 16)
            if size == 0:
                stream.readline()
                break
            body += stream.read(size)
            stream.readline()
    else:
        raise AssertionError(f'response without a length: {status} {headers}')
    return status, headers, body


def raw_exchange(port, data, count):
    """Sends data in one write on a fresh connection and reads count responses."""
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT_S) as sock:
        sock.sendall(data)
        stream = sock.makefile('rb')
        return [read_response(stream) for _ in range(count)]
