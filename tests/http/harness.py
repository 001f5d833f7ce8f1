"""Black-box harness: runs the real gatehouse binary and talks HTTP to it.

Only loopback addresses are used, every wait is bounded, and each server gets its own
temporary data directory that is removed when the server is stopped (kept when the
environment variable GATEHOUSE_KEEP_DATA is set, for post-mortems).

The test modules import everything from here; it lives in modules by concept:
  client.py         one HTTP request, raw exchanges, wait_until, unique names
  contract.py       API.md's error rows and value patterns
  server.py         one installation: init, serve, stop, the CLI, its store (SQLite or PostgreSQL)
  cases.py          GatehouseTestCase and the skip decorators
  gateway_cases.py  GatewayTestCase: providers over fake_upstream.py, chat and export helpers
"""

from .cases import (RSS_FOLLOWS_LIVE_MEMORY, GatehouseTestCase, postgres_only, skip_when_sanitized,
                    sqlite_only)
from .client import (HOST, HTTP_TIMEOUT_S, Response, basic_auth, free_port, http_request,
                     raw_exchange, read_response, unique, wait_until)
from .contract import (ADMIN_SECRET_RE, E_ASSISTANT_EXISTS, E_ASSISTANT_NOT_FOUND, E_BAD_ENDPOINT,
                       E_BAD_GATEWAY, E_BAD_INPUT, E_BAD_TOKEN, E_CONTENT_TYPE, E_LAST_ORG_TOKEN,
                       E_METHOD, E_NO_KEY, E_PROJECT_EXISTS, E_PROJECT_NOT_FOUND,
                       E_PROVIDER_TIMEOUT, E_SCOPE, E_TOKEN_EXISTS, E_TOKEN_NOT_FOUND,
                       E_TOO_LARGE, ORG_SECRET_RE, PROJECT_SECRET_RE, PROPAGATION_TIMEOUT_S,
                       SECRET_RE, TIMESTAMP_RE, UUID4_RE, e_pattern, e_range, e_required)
from .gateway_cases import (CHAT_PATHS, EXPORT_FIELDS, KEY_ENV, PRICES, PROVIDER,
                            PROVIDER_TIMEOUT_MS, RECORD_TIMEOUT_S, SLOW_KEY_ENV, SLOW_PROVIDER,
                            SLOW_TIMEOUT_MS, ChatStream, GatewayTestCase, expected_costs,
                            hybridmethod, provider_config)
from .server import (CLI_TIMEOUT_S, DEFAULT_BIN, LISTENING_RE, ON_POSTGRES, REPO_ROOT, SANITIZED,
                     START_TIMEOUT_S, STOP_TIMEOUT_S, STORE, Server, ServerError, binary_path,
                     postgres_cluster_url)
