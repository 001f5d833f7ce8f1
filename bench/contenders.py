"""The contenders of bench.py: a gatehouse node with the bench's providers, and one nginx holding
the map gate, the fixed upstream (JSON, and server-sent events under /sse) and the proxy_pass."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.http.load_upstream import FIXED_BODY  # noqa: E402

HOST = '127.0.0.1'
BIN = os.environ.get('GATEHOUSE_BIN') or os.path.join(ROOT, 'build/release/gatehouse')
SSE_BODY = ('data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
            '{"content":"fixed answer"}}]}\n\ndata: {"id":"c","object":"chat.completion.chunk",'
            '"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'
            '\n\ndata: [DONE]\n\n')


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def distinct_ports(count):
    ports = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'nothing listens on {port}')


def request(port, method, path, body=None, token=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
    send = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        send['Content-Type'] = 'application/json'
    if token:
        send['Authorization'] = f'Bearer {token}'
    conn.request(method, path, body=data, headers=send)
    reply = conn.getresponse()
    text = reply.read().decode()
    if own:
        conn.close()
    try:
        return reply.status, json.loads(text)
    except ValueError:
        return reply.status, text


def nginx_escape(text):
    return text.replace('\\', '\\\\').replace("'", "\\'").replace('\n', '\\n')


def write_nginx(work, gate_port, upstream_port, proxy_port, secrets):
    with open(os.path.join(work, 'secrets.map'), 'w') as out:
        for secret in secrets:
            out.write(f'"Bearer {secret}" 1;\n')
    validate = json.dumps({'status': 'ok'})
    conf = f'''
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  keepalive_requests 1000000;
  map_hash_max_size 65536; map_hash_bucket_size 128;
  map $http_authorization $allowed {{ default 0; include {work}/secrets.map; }}
  server {{
    listen {HOST}:{gate_port} reuseport;
    location / {{
      default_type application/json;
      if ($allowed = 0) {{ return 401 '{{"errors":[{{"id":6}}]}}'; }}
      return 200 '{nginx_escape(validate)}';
    }}
  }}
  server {{
    listen {HOST}:{upstream_port} reuseport;
    location /v1/chat/completions {{
      default_type application/json;
      return 200 '{nginx_escape(FIXED_BODY.decode())}';
    }}
    location /sse/v1/chat/completions {{
      default_type text/event-stream;
      return 200 '{nginx_escape(SSE_BODY)}';
    }}
  }}
  upstream fast {{ server {HOST}:{upstream_port}; keepalive 256; }}
  server {{
    listen {HOST}:{proxy_port} reuseport;
    location / {{
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
'''
    path = os.path.join(work, 'nginx.conf')
    with open(path, 'w') as out:
        out.write(conf)
    return path


def gatehouse_config(upstream_port, stream_port):
    """The providers of the bench: the fixed upstream as JSON (fast) and as events (fastsse),
    and the streams harness's upstream (slow)."""
    providers = [('fast', f'http://{HOST}:{upstream_port}/v1', 30000, 'fixed'),
                 ('fastsse', f'http://{HOST}:{upstream_port}/sse/v1', 30000, 'fixed'),
                 ('slow', f'http://{HOST}:{stream_port}/v1', 60000, 'stream-10x1000')]
    return ''.join(f'''
[[providers]]
name = "{name}"
base_url = "{base_url}"
timeout_ms = {timeout_ms}
[[providers.models]]
name = "{model}"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
''' for name, base_url, timeout_ms, model in providers)


def wait_valid(port, token, timeout=60):
    """Waits until the node on port accepts token (its cache has loaded it)."""
    deadline = time.monotonic() + timeout
    while request(port, 'GET', '/v1/accessControl/apitoken/validate', token=token)[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f'the node on {port} still refuses the bench token')
        time.sleep(0.1)


def start_node(work, data_dir, log_name, port, store_args):
    """`gatehouse serve` on port with the bench's config, once it listens."""
    with open(f'{work}/{log_name}', 'w') as log:
        node = subprocess.Popen([BIN, 'serve', '--data-dir', data_dir, '--listen',
                                 f'{HOST}:{port}', '--config', f'{work}/gatehouse.toml',
                                 *store_args], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, timeout=60)
    return node
