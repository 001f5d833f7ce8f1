"""The test case classes of the black-box suite: one server per class (or per test)."""

import sys
import unittest

from .client import unique
from .contract import E_BAD_TOKEN, TIMESTAMP_RE, UUID4_RE
from .server import ON_POSTGRES, SANITIZED, Server


def skip_when_sanitized(reason):
    """Skips a load or memory test under ASan/UBSan, where `reason` makes it meaningless."""
    return unittest.skipIf(SANITIZED, f'under ASan/UBSan: {reason}')


def sqlite_only(reason):
    """Skips a test or a whole class on PostgreSQL, visibly, with reason: for tests that open,
    seed or damage DATA_DIR/gatehouse.db themselves."""
    return unittest.skipIf(ON_POSTGRES, f'SQLite only: {reason}')


def postgres_only(reason):
    """Skips a test or a whole class on SQLite, visibly, with reason: for the PostgreSQL side of
    a rule whose SQLite side is a test of its own."""
    return unittest.skipUnless(ON_POSTGRES, f'PostgreSQL only: {reason}')


# serve_env of a class that bounds the server's RSS: jemalloc gives freed pages back at once
# instead of on its decay timer, so that RSS follows the memory the server holds and not when it
# was last purged (a wave of freed buffers read 56 MiB in one sample and 76 in the next). glibc,
# under the sanitizers, ignores it; those builds skip RSS bounds anyway.
RSS_FOLLOWS_LIVE_MEMORY = {'MALLOC_CONF': 'dirty_decay_ms:0,muzzy_decay_ms:0'}


# The server's log goes with its directory. Its errors are printed here, where a failing test's
# output shows them (CTest prints a test's output only when it fails): a 503 in a test says
# little without the store error the server logged behind it.
_ERROR_MARKERS = ('"level":"error"', '"level":"critical"', '[error]', '[critical]')
_ERROR_LINES_SHOWN = 40


def _print_server_errors(log):
    errors = [line for line in log.splitlines() if any(m in line for m in _ERROR_MARKERS)]
    if errors:
        shown = errors[-_ERROR_LINES_SHOWN:]
        print(f'server log: {len(errors)} error lines, the last {len(shown)}:', file=sys.stderr)
        for line in shown:
            print(f'  {line[:600]}', file=sys.stderr)

class GatehouseTestCase(unittest.TestCase):
    """Starts one initialised server per test class (or per test with server_per_test).

    Subclasses may set serve_args (extra `serve` flags), serve_env (extra environment
    variables of the serve process) and override server_config() (TOML text for --config).
    """

    serve_args = ()
    serve_env = None
    server_per_test = False
    maxDiff = None

    @classmethod
    def server_config(cls):
        return None

    @staticmethod
    def _start_server(holder, serve_args):
        holder.server = Server(serve_args=serve_args, env=holder.serve_env,
                               config_text=holder.server_config())
        try:
            holder.server.start()
        except BaseException:
            holder.server.cleanup()
            raise
        holder.org_id = holder.server.org_id
        holder.org_token = holder.server.org_token
        holder.org_token_id = holder.server.org_token_id
        holder.admin_token = holder.server.admin_token

    @staticmethod
    def _stop_server(holder):
        code = holder.server.stop()
        tail = holder.server.log_tail()
        full_log = holder.server.log_text()
        log = full_log if SANITIZED else ''
        holder.server.cleanup()
        _print_server_errors(full_log)
        if code != 0:
            raise AssertionError(f'gatehouse serve exited with {code!r} after SIGTERM '
                                 f'(expected 0); log tail:\n{tail}')
        # Belt and braces: a report is fatal (ASAN_OPTIONS/UBSAN_OPTIONS), but a server that
        # was killed and restarted could leave one only in its log.
        for marker in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'):
            if marker in log:
                start = log.index(marker)
                raise AssertionError(f'sanitizer report in the server log:\n'
                                     f'{log[max(0, start - 200):start + 4000]}')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.server_per_test:
            cls._start_server(cls, cls.serve_args)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if not cls.server_per_test:
            cls._stop_server(cls)

    def setUp(self):
        super().setUp()
        if self.server_per_test:
            self._start_server(self, self.serve_args)
            self.addCleanup(self._stop_server, self)

    # --- HTTP ----------------------------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, raw_body=None,
                content_type='application/json', connection=None):
        return self.server.request(method, path, body=body, token=token, headers=headers,
                                   raw_body=raw_body, content_type=content_type,
                                   connection=connection)

    def get(self, path, token=None, **kw):
        return self.request('GET', path, token=self.org_token if token is None else token, **kw)

    def ok(self, response, status=200):
        """Asserts the status and returns the body."""
        self.assertEqual(response.status, status, f'unexpected reply: {response.body!r}')
        return response.body

    # --- assertions ----------------------------------------------------------------------
    def assertError(self, response, error, msg=None):
        """The reply is the API.md section 2 envelope carrying exactly this error row."""
        status, error_id, description = error
        context = f'{msg + ": " if msg else ""}reply {response.status} {response.body!r}'
        self.assertEqual(response.status, status, context)
        self.assertIsInstance(response.body, dict, context)
        errors = response.body.get('errors')
        self.assertIsInstance(errors, list, f'"errors" must be an array; {context}')
        self.assertTrue(errors, f'"errors" must not be empty; {context}')
        items = [(e.get('id'), e.get('description')) for e in errors if isinstance(e, dict)]
        self.assertIn((error_id, description), items, context)

    def assertOneOfErrors(self, response, errors, msg=None):
        """Where API.md allows more than one row: the reply must be one of them."""
        for error in errors:
            try:
                self.assertError(response, error)
                return
            except AssertionError:
                pass
        self.fail(f'{msg + ": " if msg else ""}expected one of {errors}, got '
                  f'{response.status} {response.body!r}')

    def assertUuid4(self, value, msg=None):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, UUID4_RE, msg)

    def assertTimestamp(self, value, msg=None):
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, TIMESTAMP_RE, msg)

    def assertTokenWorks(self, secret, msg=None):
        response = self.request('GET', '/v1/accessControl/apitoken/validate', token=secret)
        self.assertEqual(response.status, 200, f'{msg or "token should work"}: {response.body!r}')
        return response.body

    def assertTokenRejected(self, secret, msg=None):
        response = self.request('GET', '/v1/accessControl/apitoken/validate', token=secret)
        self.assertError(response, E_BAD_TOKEN, msg)

    def token_works(self, secret):
        return self.request('GET', '/v1/accessControl/apitoken/validate',
                            token=secret).status == 200

    # --- fixtures through the API --------------------------------------------------------
    def create_project(self, name=None, token=None, **fields):
        body = {'name': name or unique('proj')}
        body.update(fields)
        return self.ok(self.request('POST', '/v1/organization/project', body=body,
                                    token=token or self.org_token))

    def create_project_token(self, project_id, name=None, token=None, **fields):
        body = {'name': name or unique('ptok')}
        body.update(fields)
        return self.ok(self.request('POST', '/v2/projects/tokens', body=body,
                                    token=token or self.org_token,
                                    headers={'project-id': project_id}))

    def create_org_token(self, name=None, token=None, **fields):
        body = {'name': name or unique('otok')}
        body.update(fields)
        return self.ok(self.request('POST', '/v2/organization/tokens', body=body,
                                    token=token or self.org_token))

    def create_organization(self, name=None):
        return self.ok(self.request('POST', '/v2/admin/organizations',
                                    body={'name': name or unique('org')},
                                    token=self.admin_token))

    def snapshot(self, token=None):
        """Everything a bad request could have changed, as seen through the API."""
        token = token or self.org_token
        projects = self.ok(self.get('/v1/organization/projects?detail=full', token=token))
        tokens = {}
        for status in ('all', 'revoked'):
            listing = self.ok(self.get(
                f'/v2/tokens?status={status}&pageSize=500&orderKey=timestamp', token=token))
            # lastUsedAt moves with every call, the snapshot's own calls included.
            tokens[status] = [{k: v for k, v in t.items() if k != 'lastUsedAt'}
                              for t in listing['tokens']]
        return {'projects': projects, 'tokens': tokens}
