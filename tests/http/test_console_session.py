"""API.md section 3: console sessions (cookie + CSRF header) at /v2/console/session."""

import datetime
import http.client
import json
import time
from http.cookies import SimpleCookie

from .harness import (E_BAD_TOKEN, E_NO_KEY, E_SCOPE, HOST, HTTP_TIMEOUT_S, GatehouseTestCase,
                      e_required, unique)

E_RATE_LIMITED = (429, 9002, 'Rate limit exceeded')

SESSION = '/v2/console/session'


class ConsoleSessionTests(GatehouseTestCase):

    def open_session(self, secret=None):
        response = self.request('POST', SESSION, body={'apiToken': secret or self.org_token})
        body = self.ok(response)
        set_cookie = response.headers.get('Set-Cookie')
        self.assertIsNotNone(set_cookie, 'a session must set a cookie')
        cookie = SimpleCookie()
        cookie.load(set_cookie)
        self.assertEqual(len(cookie), 1, set_cookie)
        morsel = next(iter(cookie.values()))
        self.assertIsInstance(body.get('csrfToken'), str)
        self.assertTrue(body['csrfToken'])
        return {'set_cookie': set_cookie, 'cookie': f'{morsel.key}={morsel.value}',
                'csrf': body['csrfToken'], 'body': body}

    def with_cookie(self, method, path, session, body=None, csrf=False):
        headers = {'Cookie': session['cookie']}
        if csrf:
            headers['X-CSRF-Token'] = session['csrf'] if csrf is True else csrf
        return self.request(method, path, body=body, headers=headers)

    def test_session_cookie_is_http_only_and_same_site_strict(self):
        session = self.open_session()
        attributes = [a.strip().lower() for a in session['set_cookie'].split(';')]
        self.assertIn('httponly', attributes)
        self.assertIn('samesite=strict', attributes)
        self.assertNotIn('secure', attributes, 'plain HTTP: the cookie cannot be Secure')
        self.assertNotIn(self.org_token, session['set_cookie'])
        self.assertNotIn(self.org_token, str(session['body']))

    def test_session_cookie_is_secure_behind_a_tls_proxy(self):
        response = self.request('POST', SESSION, body={'apiToken': self.org_token},
                                headers={'X-Forwarded-Proto': 'https'})
        self.assertEqual(response.status, 200, response.body)
        attributes = [a.strip().lower() for a in response.headers.get('Set-Cookie').split(';')]
        self.assertIn('secure', attributes)

    def test_cookie_acts_as_the_organization_token_for_reads(self):
        session = self.open_session()
        body = self.ok(self.with_cookie('GET', '/v2/tokens', session))
        self.assertIn(self.org_token_id, [t['id'] for t in body['tokens']])
        self.ok(self.with_cookie('GET', '/v1/organization/projects', session))

    def test_state_change_without_csrf_header_is_403_id_7_and_changes_nothing(self):
        session = self.open_session()
        before = self.snapshot()
        name = unique('csrf')
        response = self.with_cookie('POST', '/v1/organization/project', session,
                                    body={'name': name})
        self.assertError(response, E_SCOPE)
        response = self.with_cookie('POST', '/v1/organization/project', session,
                                    body={'name': name}, csrf='not-the-token')
        self.assertError(response, E_SCOPE)
        self.assertEqual(self.snapshot(), before)

    def test_state_change_with_csrf_header_works(self):
        session = self.open_session()
        name = unique('csrf-ok')
        project = self.ok(self.with_cookie('POST', '/v1/organization/project', session,
                                           body={'name': name}, csrf=True))
        self.assertEqual(project['projectName'], name)
        path = f'/v1/organization/project/{project["projectId"]}'
        response = self.with_cookie('PUT', path, session, body={'name': name + '-x'})
        self.assertError(response, E_SCOPE)
        body = self.ok(self.with_cookie('PUT', path, session, body={'name': name + '-x'},
                                        csrf=True))
        self.assertEqual(body['projectName'], name + '-x')
        self.assertError(self.with_cookie('DELETE', path, session), E_SCOPE)
        self.ok(self.with_cookie('DELETE', path, session, csrf=True))

    def test_project_token_cannot_open_a_session(self):
        project = self.create_project()
        response = self.request('POST', SESSION,
                                body={'apiToken': project['tokens'][0]['secret']})
        self.assertError(response, E_SCOPE)
        self.assertIsNone(response.headers.get('Set-Cookie'))

    def test_garbage_secret_cannot_open_a_session(self):
        for secret in ('garbage', 'gto_' + 'A' * 49):
            with self.subTest(secret=secret[:8]):
                response = self.request('POST', SESSION, body={'apiToken': secret})
                self.assertError(response, E_BAD_TOKEN)
                self.assertIsNone(response.headers.get('Set-Cookie'))

    def test_missing_api_token_is_400_id_9(self):
        response = self.request('POST', SESSION, body={})
        self.assertError(response, e_required('apiToken'))

    def test_deleting_the_session_ends_it(self):
        session = self.open_session()
        self.ok(self.with_cookie('GET', '/v2/tokens', session))
        response = self.with_cookie('DELETE', SESSION, session, csrf=True)
        self.assertIn(response.status, (200, 204), response.body)
        self.assertError(self.with_cookie('GET', '/v2/tokens', session), E_NO_KEY)
        self.assertTokenWorks(self.org_token, 'ending a session does not touch the token')

    def test_signing_out_reads_the_cookie_even_beside_an_authorization_header(self):
        # The session's own routes ignore an Authorization header (api-decisions): a sign-out
        # that sends one too still ends the session.
        session = self.open_session()
        headers = {'Cookie': session['cookie'], 'X-CSRF-Token': session['csrf'],
                   'Authorization': f'Bearer {self.org_token}'}
        self.ok(self.request('GET', SESSION, headers=headers))
        response = self.request('DELETE', SESSION, headers=headers)
        self.assertIn(response.status, (200, 204), response.body)
        self.assertError(self.with_cookie('GET', '/v2/tokens', session), E_NO_KEY)

    def test_signing_out_without_csrf_token_is_403_id_7_and_keeps_the_session(self):
        session = self.open_session()
        self.assertError(self.with_cookie('DELETE', SESSION, session), E_SCOPE)
        self.ok(self.with_cookie('GET', '/v2/tokens', session))

    def test_sessions_are_independent(self):
        first = self.open_session()
        second = self.open_session()
        self.assertNotEqual(first['cookie'], second['cookie'])
        self.assertNotEqual(first['csrf'], second['csrf'])
        self.assertError(self.with_cookie('POST', '/v1/organization/project', first,
                                          body={'name': unique('cross')}, csrf=second['csrf']),
                         E_SCOPE)
        self.assertIn(self.with_cookie('DELETE', SESSION, first, csrf=True).status, (200, 204))
        self.ok(self.with_cookie('GET', '/v2/tokens', second))

    def test_session_of_a_revoked_token_stops_working(self):
        token = self.create_org_token()
        session = self.open_session(token['secret'])
        self.ok(self.with_cookie('GET', '/v2/tokens', session))
        self.ok(self.request('DELETE', f'/v2/organization/tokens/{token["id"]}',
                             token=self.org_token))
        self.assertOneOfErrors(self.with_cookie('GET', '/v2/tokens', session),
                               [E_BAD_TOKEN, E_NO_KEY])

    def test_forged_cookie_is_rejected(self):
        session = self.open_session()
        name = session['cookie'].split('=', 1)[0]
        forged = {'cookie': f'{name}=forged-value', 'csrf': session['csrf']}
        self.assertOneOfErrors(self.with_cookie('GET', '/v2/tokens', forged),
                               [E_NO_KEY, E_BAD_TOKEN])


class SessionEndsWithItsSecretTests(GatehouseTestCase):
    """Issue 12, item 1: a session lives only while the secret that opened it is accepted."""

    open_session = ConsoleSessionTests.open_session
    with_cookie = ConsoleSessionTests.with_cookie

    def assertSessionEnded(self, session, msg=None):
        self.assertOneOfErrors(self.with_cookie('GET', '/v2/tokens', session),
                               [E_BAD_TOKEN, E_NO_KEY], msg)
        response = self.with_cookie('POST', '/v2/organization/tokens', session,
                                    body={'name': unique('after-end')}, csrf=True)
        self.assertOneOfErrors(response, [E_BAD_TOKEN, E_NO_KEY], msg)

    def test_session_ends_when_its_token_is_rotated_without_grace(self):
        token = self.create_org_token()
        session = self.open_session(token['secret'])
        self.ok(self.with_cookie('GET', '/v2/tokens', session))
        rotated = self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/rotate',
                                       body={'graceSeconds': 0}, token=self.org_token))
        before = self.snapshot()
        self.assertSessionEnded(session, 'the rotated-out secret opened this session')
        self.assertEqual(self.snapshot(), before, 'an ended session created a token')
        # The token goes on with its new secret, and a new session works.
        self.assertTokenWorks(rotated['secret'])
        self.ok(self.with_cookie('GET', '/v2/tokens', self.open_session(rotated['secret'])))

    def test_session_ends_when_the_rotation_grace_ends(self):
        token = self.create_org_token()
        session = self.open_session(token['secret'])
        self.ok(self.request('POST', f'/v2/tokens/{token["id"]}/rotate',
                             body={'graceSeconds': 2}, token=self.org_token))
        self.ok(self.with_cookie('GET', '/v2/tokens', session))
        time.sleep(2.3)
        self.assertSessionEnded(session)

    def test_session_ends_when_its_token_is_blocked_and_stays_ended(self):
        token = self.create_org_token()
        session = self.open_session(token['secret'])
        path = f'/v2/organization/tokens/{token["id"]}'
        self.ok(self.request('PUT', path, body={'status': 'blocked'}, token=self.org_token))
        self.assertSessionEnded(session)
        self.ok(self.request('PUT', path, body={'status': 'active'}, token=self.org_token))
        self.assertError(self.with_cookie('GET', '/v2/tokens', session), E_NO_KEY)

    def test_a_session_unused_while_its_token_was_blocked_stays_ended_after_the_unblock(self):
        # Blocking a token is how an operator ends a stolen cookie: one that waits out the
        # block must not come back with the unblock.
        token = self.create_org_token()
        session = self.open_session(token['secret'])
        self.ok(self.with_cookie('GET', '/v2/tokens', session))
        path = f'/v2/organization/tokens/{token["id"]}'
        self.ok(self.request('PUT', path, body={'status': 'blocked'}, token=self.org_token))
        self.ok(self.request('PUT', path, body={'status': 'active'}, token=self.org_token))
        self.assertSessionEnded(session)
        self.ok(self.with_cookie('GET', '/v2/tokens', self.open_session(token['secret'])))

    def test_a_session_unused_while_its_token_was_expired_stays_ended_after_an_extension(self):
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
        token = self.create_org_token(expiresAt=expires.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z')
        session = self.open_session(token['secret'])
        remaining = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        time.sleep(max(0.0, remaining) + 0.3)
        self.ok(self.request('PUT', f'/v2/organization/tokens/{token["id"]}',
                             body={'expiresAt': None}, token=self.org_token))
        self.assertSessionEnded(session)

    def test_session_ends_when_its_token_expires(self):
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
        token = self.create_org_token(expiresAt=expires.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z')
        session = self.open_session(token['secret'])
        self.ok(self.with_cookie('GET', '/v2/tokens', session))
        time.sleep(max(0.0, (expires - datetime.datetime.now(datetime.timezone.utc))
                       .total_seconds()) + 0.3)
        self.assertSessionEnded(session)


class SessionCapTests(GatehouseTestCase):
    """Issue 12, item 2: sessions are capped per token and per organization, never globally at
    the expense of other organizations."""

    open_session = ConsoleSessionTests.open_session
    with_cookie = ConsoleSessionTests.with_cookie

    def test_ten_thousand_sign_ins_of_one_organization_keep_another_organizations_session(self):
        victim = self.open_session()
        other = self.create_organization()
        secret = other['apiToken']['secret']
        body = json.dumps({'apiToken': secret}).encode()
        connection = http.client.HTTPConnection(HOST, self.server.port, timeout=HTTP_TIMEOUT_S)
        try:
            for _ in range(10_001):
                connection.request('POST', SESSION, body=body,
                                   headers={'Content-Type': 'application/json'})
                reply = connection.getresponse()
                reply.read()
                self.assertEqual(reply.status, 200)
        finally:
            connection.close()
        self.ok(self.with_cookie('GET', '/v2/tokens', victim))
        # The busy organization's newest session works; its oldest ones were ended.
        self.ok(self.with_cookie('GET', '/v2/tokens', self.open_session(secret)))


class SignInThrottleTests(GatehouseTestCase):
    """Issue 12, item 2: failed sign-ins count toward the per-address throttle (API.md §6)."""

    def test_failed_sign_ins_are_throttled_with_429_id_9002_and_retry_after(self):
        wrong = 'gto_' + 'A' * 49
        for attempt in range(10):
            response = self.request('POST', SESSION, body={'apiToken': wrong})
            self.assertError(response, E_BAD_TOKEN, f'attempt {attempt + 1}')
        response = self.request('POST', SESSION, body={'apiToken': self.org_token})
        self.assertError(response, E_RATE_LIMITED)
        self.assertIsNone(response.headers.get('Set-Cookie'))
        retry_after = int(response.headers.get('Retry-After'))
        self.assertTrue(1 <= retry_after <= 60, retry_after)
        # Bearer callers are not slowed by the sign-in throttle.
        self.assertTokenWorks(self.org_token)
