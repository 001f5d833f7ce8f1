"""Several nodes on one PostgreSQL database (issue 13): a token change made on one node takes
effect on the others within 1 s, what one node creates the others serve at once, and a console
session opened on one node works on the others until it is signed out on any of them.

Run by CTest as pg.test_nodes (GATEHOUSE_TEST_PG_DIR names the fixture's cluster).
"""

import os
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault('GATEHOUSE_TEST_STORE', 'postgres')

from tests.http import harness  # noqa: E402
from tests.http.harness import E_ASSISTANT_NOT_FOUND, E_BAD_TOKEN, E_NO_KEY, unique  # noqa: E402
from tests.http import test_console_session  # noqa: E402

VALIDATE = '/v1/accessControl/apitoken/validate'
SESSION = '/v2/console/session'
# The bound issue 13 sets, plus what this loaded two-core machine may add to one poll.
PROPAGATION_BOUND_S = 1.0
POLL_S = 0.02


def cluster_ready():
    directory = os.environ.get('GATEHOUSE_TEST_PG_DIR')
    return bool(directory) and (Path(directory) / 'url').exists()


@unittest.skipUnless(cluster_ready(), 'no PostgreSQL test cluster (GATEHOUSE_TEST_PG_DIR)')
class TwoNodesTests(harness.GatehouseTestCase):
    """Node A is the installation the harness starts; node B serves the same database."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node_b = harness.Server(node_of=cls.server)
        cls.node_b.start()

    @classmethod
    def tearDownClass(cls):
        cls.node_b.cleanup()
        super().tearDownClass()

    def status_on(self, node, secret):
        return node.request('GET', VALIDATE, token=secret).status

    def seconds_until(self, node, secret, status):
        """How long until `secret` validates with `status` on `node` (fails past the bound)."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if self.status_on(node, secret) == status:
                return elapsed
            if elapsed > PROPAGATION_BOUND_S:
                self.fail(f'node B still did not answer {status} {elapsed:.2f} s after the change')
            time.sleep(POLL_S)

    def org_token_path(self, token_id):
        return f'/v2/organization/tokens/{token_id}'

    def test_a_token_created_on_one_node_works_on_the_other_within_1s(self):
        token = self.create_org_token()
        self.seconds_until(self.node_b, token['secret'], 200)

    def test_a_token_blocked_on_one_node_is_refused_on_the_other_within_1s(self):
        token = self.create_org_token()
        self.seconds_until(self.node_b, token['secret'], 200)
        self.ok(self.request('PUT', self.org_token_path(token['id']), body={'status': 'blocked'},
                             token=self.org_token))
        self.seconds_until(self.node_b, token['secret'], E_BAD_TOKEN[0])
        self.assertError(self.node_b.request('GET', VALIDATE, token=token['secret']), E_BAD_TOKEN)

    def test_a_token_unblocked_on_one_node_works_again_on_the_other_within_1s(self):
        token = self.create_org_token()
        path = self.org_token_path(token['id'])
        self.ok(self.request('PUT', path, body={'status': 'blocked'}, token=self.org_token))
        self.seconds_until(self.node_b, token['secret'], E_BAD_TOKEN[0])
        self.ok(self.request('PUT', path, body={'status': 'active'}, token=self.org_token))
        self.seconds_until(self.node_b, token['secret'], 200)

    def test_a_token_revoked_on_one_node_is_refused_on_the_other_within_1s(self):
        token = self.create_org_token()
        self.seconds_until(self.node_b, token['secret'], 200)
        self.ok(self.request('DELETE', self.org_token_path(token['id']), token=self.org_token))
        self.seconds_until(self.node_b, token['secret'], E_BAD_TOKEN[0])

    def test_a_token_expired_on_one_node_is_refused_on_the_other_within_1s(self):
        token = self.create_org_token()
        self.seconds_until(self.node_b, token['secret'], 200)
        past = '2020-01-01T00:00:00Z'
        response = self.request('PUT', self.org_token_path(token['id']),
                                body={'expiresAt': past}, token=self.org_token)
        if response.status != 200:
            self.skipTest(f'expiry in the past is refused here: {response.body!r}')
        self.seconds_until(self.node_b, token['secret'], E_BAD_TOKEN[0])

    def test_a_token_rotated_on_one_node_answers_to_its_new_secret_on_the_other_within_1s(self):
        token = self.create_org_token()
        self.seconds_until(self.node_b, token['secret'], 200)
        rotated = self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/rotate',
                                       body={'graceSeconds': 0}, token=self.org_token))
        self.seconds_until(self.node_b, rotated['secret'], 200)
        self.seconds_until(self.node_b, token['secret'], E_BAD_TOKEN[0])

    def test_a_token_created_on_the_second_node_is_listed_by_the_first_at_once(self):
        name = unique('from-b')
        self.ok(self.node_b.request('POST', '/v2/organization/tokens', body={'name': name},
                                    token=self.org_token))
        listed = self.ok(self.request('GET', '/v2/tokens', token=self.org_token))
        names = [item.get('name') for item in listed.get('items', listed.get('tokens', []))]
        self.assertIn(name, names)

    def test_a_name_taken_on_one_node_is_409_on_the_other(self):
        name = unique('once')
        self.create_org_token(name=name)
        response = self.node_b.request('POST', '/v2/organization/tokens', body={'name': name},
                                       token=self.org_token)
        self.assertEqual(response.status, 409, response.body)



@unittest.skipUnless(cluster_ready(), 'no PostgreSQL test cluster (GATEHOUSE_TEST_PG_DIR)')
class ConsoleSessionOnTwoNodesTests(harness.GatehouseTestCase):
    """Issue 13: console sessions work on any node, and sign-out works everywhere."""

    open_session = test_console_session.ConsoleSessionTests.open_session

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node_b = harness.Server(node_of=cls.server)
        cls.node_b.start()

    @classmethod
    def tearDownClass(cls):
        cls.node_b.cleanup()
        super().tearDownClass()

    def on(self, node, method, path, session, body=None, csrf=False):
        headers = {'Cookie': session['cookie']}
        if csrf:
            headers['X-CSRF-Token'] = session['csrf']
        return node.request(method, path, body=body, headers=headers)

    def seconds_until_refused(self, node, session, bound_s=PROPAGATION_BOUND_S):
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            response = self.on(node, 'GET', '/v2/tokens', session)
            if response.status == E_NO_KEY[0] and response.body['errors'][0]['id'] == E_NO_KEY[1]:
                self.assertError(response, E_NO_KEY)
                return elapsed
            if response.status != 200:  # the node has not heard of an unblock yet
                self.assertError(response, E_BAD_TOKEN)
            if elapsed > bound_s:
                self.fail(f'the cookie still worked {elapsed:.2f} s after it ended elsewhere')
            time.sleep(POLL_S)

    def seconds_until_works(self, node, session):
        """A token created a moment ago on node A may not be in node B's cache yet: node B then
        refuses the session (401 id 6) without ending it."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            response = self.on(node, 'GET', '/v2/tokens', session)
            if response.status == 200:
                return elapsed
            self.assertError(response, E_BAD_TOKEN)
            if elapsed > PROPAGATION_BOUND_S:
                self.fail(f'the session still did not work {elapsed:.2f} s after sign-in')
            time.sleep(POLL_S)

    def test_a_session_opened_on_one_node_works_on_the_other(self):
        session = self.open_session()
        body = self.ok(self.on(self.node_b, 'GET', '/v2/tokens', session))
        self.assertIn(self.org_token_id, [t['id'] for t in body['tokens']])
        self.assertEqual(self.ok(self.on(self.node_b, 'GET', SESSION, session))['csrfToken'],
                         session['csrf'])
        # State changes on the other node need the same CSRF token.
        name = unique('from-b')
        self.assertError(self.on(self.node_b, 'POST', '/v1/organization/project', session,
                                 body={'name': name}), harness.E_SCOPE)
        self.ok(self.on(self.node_b, 'POST', '/v1/organization/project', session,
                        body={'name': name}, csrf=True))

    def test_signing_out_on_one_node_ends_the_session_on_the_other_within_1s(self):
        session = self.open_session()
        other = self.open_session()
        self.ok(self.on(self.node_b, 'GET', '/v2/tokens', session))
        self.ok(self.on(self.node_b, 'DELETE', SESSION, session, csrf=True))
        self.assertError(self.on(self.node_b, 'GET', '/v2/tokens', session), E_NO_KEY)
        self.seconds_until_refused(self.server, session)
        self.assertError(self.on(self.node_b, 'GET', '/v2/tokens', session), E_NO_KEY)
        # Another session of the same token goes on, on both nodes.
        self.ok(self.on(self.server, 'GET', '/v2/tokens', other))
        self.ok(self.on(self.node_b, 'GET', '/v2/tokens', other))

    def test_a_session_whose_token_is_blocked_on_one_node_stays_ended_on_the_other(self):
        token = self.create_org_token()
        session = self.open_session(token['secret'])
        self.seconds_until_works(self.node_b, session)
        path = f'/v2/organization/tokens/{token["id"]}'
        self.ok(self.request('PUT', path, body={'status': 'blocked'}, token=self.org_token))
        self.assertError(self.on(self.server, 'GET', '/v2/tokens', session), E_BAD_TOKEN)
        self.ok(self.request('PUT', path, body={'status': 'active'}, token=self.org_token))
        # Node A stores the ended session at its next sync (within 1 s), which wakes node B.
        self.seconds_until_refused(self.node_b, session, bound_s=2 * PROPAGATION_BOUND_S)

    def test_an_altered_cookie_is_refused_on_the_other_node(self):
        session = self.open_session()
        name, value = session['cookie'].split('=', 1)
        middle = len(value) // 2
        flipped = 'B' if value[middle] == 'A' else 'A'
        altered = dict(session, cookie=f'{name}={value[:middle]}{flipped}{value[middle + 1:]}')
        self.assertError(self.on(self.node_b, 'GET', '/v2/tokens', altered), E_NO_KEY)


@unittest.skipUnless(cluster_ready(), 'no PostgreSQL test cluster (GATEHOUSE_TEST_PG_DIR)')
class AssistantsOnTwoNodesTests(harness.GatewayTestCase):
    """Issue 13: assistants created, changed or deleted on one node take effect in the other
    node's gateway (whose catalog is in memory) within 1 s."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node_b = harness.Server(node_of=cls.server, env=cls.serve_env,
                                    config_text=cls.server_config())
        cls.node_b.start()
        cls.project = cls.make_project()

    @classmethod
    def tearDownClass(cls):
        cls.node_b.cleanup()
        super().tearDownClass()

    def chat_on_b(self, name):
        return self.node_b.request(
            'POST', '/v1/chat/completions', token=self.project.token,
            body={'model': f'saia:assistant:{name}',
                  'messages': [{'role': 'user', 'content': unique('hello')}]})

    def seconds_until(self, name, status):
        """Seconds until a chat naming assistant `name` answers `status` on node B (the
        project's token may itself need a moment to reach node B: 401 meanwhile)."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            response = self.chat_on_b(name)
            if response.status == status:
                return elapsed, response
            if elapsed > PROPAGATION_BOUND_S:
                self.fail(f'node B still answered {response.status} {response.body!r} '
                          f'{elapsed:.2f} s later')
            time.sleep(POLL_S)

    def test_an_assistant_created_renamed_and_deleted_on_one_node_follows_on_the_other_within_1s(
            self):
        created = self.make_assistant(self.project.token)
        self.seconds_until(created['assistantName'], 200)

        new_name = unique('renamed')
        self.ok(self.request('PUT', f'/v1/assistant/{created["assistantId"]}',
                             body={'name': new_name}, token=self.project.token))
        self.seconds_until(new_name, 200)
        self.assertError(self.chat_on_b(created['assistantName']), E_ASSISTANT_NOT_FOUND)

        self.ok(self.request('DELETE', f'/v1/assistant/{created["assistantId"]}',
                             token=self.project.token))
        _, response = self.seconds_until(new_name, E_ASSISTANT_NOT_FOUND[0])
        self.assertError(response, E_ASSISTANT_NOT_FOUND)


if __name__ == '__main__':
    unittest.main()
