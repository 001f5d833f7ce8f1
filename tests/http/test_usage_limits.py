"""API.md section 7: usage limits at the reference paths, their enforcement on chat calls
(streamed and not, Requests and Cost, project and organization limits), roll-over state after a
restart, and the soft-limit webhook."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .fake_upstream import ECHO_USAGE, STREAM_USAGE
from .load_upstream import EMBED_USAGE, WithLoadUpstream
from .harness import (E_PROJECT_NOT_FOUND, E_SCOPE, PROVIDER, GatehouseTestCase,
                      GatewayTestCase, e_range, e_required, e_pattern, expected_costs,
                      unique, wait_until)
from .gateway_v2_cases import LOAD, load_config

E_QUOTA = (429, 154, 'Quota exceeded.')
E_CONFLICT = (409, 409, 'Conflict')
E_ORG_NOT_FOUND = (404, 9006, 'Organization Not Found')
E_LIMIT_NOT_FOUND = (404, 9007, 'Usage Limit Not Found')

LIMIT_FIELDS = {'id', 'subscriptionType', 'usageUnit', 'softLimit', 'hardLimit',
                'renewalStatus', 'status', 'usedAmount', 'remainingUsage',
                'relatedEntityName', 'validFrom', 'validUntil'}


def limit_body(hard=10, soft=5, unit='Requests', subscription='Monthly', renewal='Renewable'):
    return {'subscriptionType': subscription, 'usageUnit': unit, 'softLimit': soft,
            'hardLimit': hard, 'renewalStatus': renewal}


class LimitPaths:
    def org_limits(self, org_id=None):
        return f'/v2/usageLimits/organizations/{org_id or self.org_id}/limits'

    def project_limits(self, project_id, org_id=None):
        return (f'/v2/usageLimits/organizations/{org_id or self.org_id}/projects/'
                f'{project_id}/limits')


class UsageLimitApiTests(LimitPaths, GatehouseTestCase):

    def test_project_limit_is_created_in_the_reference_shape(self):
        project = self.create_project()
        limit = self.ok(self.request('POST', self.project_limits(project['projectId']),
                                     body=limit_body(hard=2000, soft=1000),
                                     token=self.org_token))
        self.assertEqual(set(limit), LIMIT_FIELDS)
        self.assertUuid4(limit['id'])
        self.assertEqual(limit['subscriptionType'], 'Monthly')
        self.assertEqual(limit['usageUnit'], 'Requests')
        self.assertEqual((limit['softLimit'], limit['hardLimit']), (1000, 2000))
        self.assertEqual(limit['renewalStatus'], 'Renewable')
        self.assertEqual(limit['status'], 1)
        self.assertEqual((limit['usedAmount'], limit['remainingUsage']), (0, 2000))
        self.assertEqual(limit['relatedEntityName'], project['projectName'])
        self.assertTimestamp(limit['validFrom'])
        self.assertTimestamp(limit['validUntil'])
        self.assertTrue(limit['validUntil'].endswith('-01T00:00:00.000Z'))

    def test_enum_values_are_case_insensitive_and_freemium_has_no_end(self):
        project = self.create_project()
        limit = self.ok(self.request('POST', self.project_limits(project['projectId']),
                                     body=limit_body(subscription='freemium', unit='cost',
                                                     renewal='nonrenewable', hard=1.5, soft=0.5),
                                     token=self.org_token))
        self.assertEqual((limit['subscriptionType'], limit['usageUnit'], limit['renewalStatus']),
                         ('Freemium', 'Cost', 'NonRenewable'))
        self.assertIsNone(limit['validUntil'])
        self.assertEqual(limit['hardLimit'], 1.5)

    def test_a_second_active_limit_is_409_id_409(self):
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        self.ok(self.request('POST', path, body=limit_body(), token=self.org_token))
        self.assertError(self.request('POST', path, body=limit_body(), token=self.org_token),
                         E_CONFLICT)

    def test_list_has_the_same_array_under_limits_and_usageLimits(self):
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        first = self.ok(self.request('POST', path, body=limit_body(), token=self.org_token))
        self.ok(self.request('DELETE', f'{path}/{first["id"]}', token=self.org_token))
        second = self.ok(self.request('POST', path, body=limit_body(hard=7),
                                      token=self.org_token))
        body = self.ok(self.get(path))
        self.assertEqual(body['limits'], body['usageLimits'])
        self.assertEqual([limit['id'] for limit in body['limits']], [second['id'], first['id']])
        self.assertEqual(self.ok(self.get(path + '/latest'))['id'], second['id'])
        self.assertEqual(self.ok(self.get(path + '/active'))['id'], second['id'])

    def test_delete_answers_the_cancelled_limit(self):
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        limit = self.ok(self.request('POST', path, body=limit_body(), token=self.org_token))
        cancelled = self.ok(self.request('DELETE', f'{path}/{limit["id"]}', token=self.org_token))
        self.assertEqual(cancelled['id'], limit['id'])
        self.assertEqual(cancelled['status'], 4)
        self.assertError(self.get(path + '/active'), E_LIMIT_NOT_FOUND)
        self.assertEqual(self.ok(self.get(path + '/latest'))['status'], 4)

    def test_put_changes_hard_soft_and_renewal(self):
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        limit = self.ok(self.request('POST', path, body=limit_body(hard=10, soft=5),
                                     token=self.org_token))
        base = f'{path}/{limit["id"]}'
        changed = self.ok(self.request('PUT', base + '/hardLimit', body={'hardLimit': 20},
                                       token=self.org_token))
        self.assertEqual((changed['hardLimit'], changed['remainingUsage']), (20, 20))
        changed = self.ok(self.request('PUT', base + '/softLimit', body={'softLimit': 15},
                                       token=self.org_token))
        self.assertEqual(changed['softLimit'], 15)
        changed = self.ok(self.request('PUT', base + '/renewalStatus',
                                       body={'renewalStatus': 'NonRenewable'},
                                       token=self.org_token))
        self.assertEqual(changed['renewalStatus'], 'NonRenewable')
        self.assertError(self.request('PUT', base + '/softLimit', body={'softLimit': 25},
                                      token=self.org_token), e_range('softLimit'))
        self.assertError(self.request('PUT', base + '/hardLimit', body={},
                                      token=self.org_token), e_required('hardLimit'))

    def test_missing_and_malformed_fields_are_400(self):
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        response = self.request('POST', path, body={'usageUnit': 'Requests', 'hardLimit': 3},
                                token=self.org_token)
        self.assertError(response, e_required('subscriptionType'))
        response = self.request('POST', path, body=limit_body(subscription='Yearly'),
                                token=self.org_token)
        self.assertError(response, e_pattern('subscriptionType'))

    def test_the_limit_keys_are_read_in_any_case_like_every_body_key(self):
        # API.md §1: JSON body keys are matched case-insensitively (old clients send PascalCase).
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        body = {'SubscriptionType': 'Daily', 'UsageUnit': 'Requests', 'SoftLimit': 50,
                'HardLimit': 100, 'RenewalStatus': 'Renewable'}
        created = self.ok(self.request('POST', path, body=body, token=self.org_token))
        self.assertEqual((created['softLimit'], created['hardLimit']), (50, 100))

    def test_a_null_hard_limit_is_400_id_9_like_a_missing_one(self):
        # null is no value: it was read as one, an undefined hard limit (0 refuses every call).
        project = self.create_project()
        path = self.project_limits(project['projectId'])
        response = self.request('POST', path, body=dict(limit_body(), hardLimit=None),
                                token=self.org_token)
        self.assertError(response, e_required('hardLimit'))
        self.assertError(self.get(path + '/active'), E_LIMIT_NOT_FOUND)
        response = self.request('POST', '/v1/organization/project', token=self.org_token,
                                body={'name': unique('null-limit'),
                                      'usageLimit': dict(limit_body(), hardLimit=None)})
        self.assertError(response, e_required('hardLimit'))

    def test_organization_limit_paths(self):
        path = self.org_limits()
        limit = self.ok(self.request('POST', path, body=limit_body(subscription='Daily'),
                                     token=self.org_token))
        try:
            self.assertEqual(limit['relatedEntityName'], 'Default')
            self.assertEqual(self.ok(self.get(path + '/latest'))['id'], limit['id'])
            changed = self.ok(self.request('PUT', f'{path}/{limit["id"]}/hardLimit',
                                           body={'hardLimit': 99}, token=self.org_token))
            self.assertEqual(changed['hardLimit'], 99)
        finally:
            self.ok(self.request('DELETE', f'{path}/{limit["id"]}', token=self.org_token))

    def test_other_organizations_ids_are_answered_like_missing_ones(self):
        other = self.create_organization()
        other_token = other['apiToken']['secret']
        other_project = self.create_project(token=other_token)
        other_limit = self.ok(self.request(
            'POST', self.project_limits(other_project['projectId'], other['organizationId']),
            body=limit_body(), token=other_token))
        # Another organization in the path: like an unknown organization.
        self.assertError(self.get(self.org_limits(other['organizationId'])), E_ORG_NOT_FOUND)
        self.assertError(self.get(self.org_limits('00000000-0000-4000-8000-000000000000')),
                         E_ORG_NOT_FOUND)
        # Another organization's project: like an unknown project.
        self.assertError(self.get(self.project_limits(other_project['projectId'])),
                         E_PROJECT_NOT_FOUND)
        # Another organization's limit id: like an unknown limit.
        mine = self.create_project()
        path = self.project_limits(mine['projectId'])
        for limit_id in (other_limit['id'], '00000000-0000-4000-8000-000000000000'):
            self.assertError(self.request('DELETE', f'{path}/{limit_id}', token=self.org_token),
                             E_LIMIT_NOT_FOUND)
            self.assertError(self.request('PUT', f'{path}/{limit_id}/hardLimit',
                                          body={'hardLimit': 1}, token=self.org_token),
                             E_LIMIT_NOT_FOUND)

    def test_project_token_is_403_id_7(self):
        project = self.create_project()
        secret = project['tokens'][0]['secret']
        self.assertError(self.get(self.project_limits(project['projectId']), token=secret),
                         E_SCOPE)

    def test_usage_limit_in_project_creation_is_created_and_echoed(self):
        project = self.create_project(usageLimit=limit_body(hard=50, soft=40,
                                                            subscription='Weekly'))
        echoed = project['usageLimit']
        self.assertEqual(set(echoed), LIMIT_FIELDS)
        self.assertEqual((echoed['hardLimit'], echoed['softLimit']), (50, 40))
        self.assertEqual(echoed['subscriptionType'], 'Weekly')
        self.assertEqual(echoed['relatedEntityName'], project['projectName'])
        active = self.ok(self.get(self.project_limits(project['projectId']) + '/active'))
        self.assertEqual(active['id'], echoed['id'])
        read = self.ok(self.get(f'/v1/organization/project/{project["projectId"]}'))
        self.assertEqual(read['usageLimit']['id'], echoed['id'])
        listed = [p for p in self.ok(self.get('/v1/organization/projects'))['projects']
                  if p['projectId'] == project['projectId']]
        self.assertEqual(listed[0]['usageLimit']['id'], echoed['id'])

    def test_project_without_limit_has_no_usageLimit_field(self):
        project = self.create_project()
        self.assertNotIn('usageLimit', project)
        self.assertNotIn('usageLimit',
                         self.ok(self.get(f'/v1/organization/project/{project["projectId"]}')))

    def test_invalid_usage_limit_creates_no_project(self):
        name = unique('nolimit')
        response = self.request('POST', '/v1/organization/project',
                                body={'name': name, 'usageLimit': {'usageUnit': 'Requests'}},
                                token=self.org_token)
        self.assertEqual(response.status, 400)
        names = [p['projectName'] for p in
                 self.ok(self.get('/v1/organization/projects?detail=full'))['projects']]
        self.assertNotIn(name, names)


class UsageLimitEnforcementTests(LimitPaths, GatewayTestCase):

    def limited_project(self, **limit):
        project = self.make_project()
        self.ok(self.request('POST', self.project_limits(project.project_id),
                             body=limit_body(**limit), token=self.org_token))
        return project

    def active(self, project_id):
        return self.ok(self.get(self.project_limits(project_id) + '/active'))

    def test_requests_hard_limit_refuses_the_call_after_the_last_allowed_one(self):
        project = self.limited_project(hard=2, soft=0)
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        marker = unique('refused')
        self.assertError(self.chat(project.token, f'{PROVIDER}/echo', text=marker), E_QUOTA)
        # Refused before the provider was contacted, and recorded as failed.
        time.sleep(0.3)
        self.assertEqual(self.upstream.requests_with(marker), [])
        items = self.wait_items(lambda item: item['status'] == 'failed', 1,
                                token=project.token)
        self.assertEqual(items[0]['httpStatus'], 429)
        limit = self.active(project.project_id)
        self.assertEqual((limit['usedAmount'], limit['remainingUsage'], limit['status']),
                         (2, 0, 3))

    def test_streamed_calls_count_against_a_requests_limit(self):
        project = self.limited_project(hard=1, soft=0)
        stream = self.stream_chat(project.token, f'{PROVIDER}/stream')
        self.assertEqual(stream.status, 200)
        stream.read_all()
        stream.close()
        refused = self.stream_chat(project.token, f'{PROVIDER}/stream')
        self.assertError(refused.reply(), E_QUOTA)
        refused.close()

    def test_cost_limit_counts_recorded_costs_and_refuses_at_the_hard_limit(self):
        _p, _c, per_call = expected_costs(PROVIDER, 'echo', ECHO_USAGE['prompt_tokens'],
                                          ECHO_USAGE['completion_tokens'])
        # Two calls stay below the hard limit, the third reaches it, the fourth is refused.
        project = self.limited_project(unit='Cost', hard=per_call * 2.5, soft=0)
        for _ in range(3):
            self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.assertError(self.chat(project.token, f'{PROVIDER}/echo'), E_QUOTA)
        limit = self.active(project.project_id)
        self.assertAlmostEqual(limit['usedAmount'], per_call * 3, places=9)
        self.assertEqual(limit['remainingUsage'], 0)

    def test_streamed_calls_cost_what_their_records_say(self):
        _p, _c, per_stream = expected_costs(PROVIDER, 'stream', STREAM_USAGE['prompt_tokens'],
                                            STREAM_USAGE['completion_tokens'])
        project = self.limited_project(unit='Cost', hard=per_stream * 1.5, soft=0)
        stream = self.stream_chat(project.token, f'{PROVIDER}/stream')
        stream.read_all()
        stream.close()
        wait_until(lambda: self.active(project.project_id)['usedAmount'] > 0, 5.0)
        self.assertAlmostEqual(self.active(project.project_id)['usedAmount'], per_stream,
                               places=9)
        stream = self.stream_chat(project.token, f'{PROVIDER}/stream')
        stream.read_all()
        stream.close()
        wait_until(lambda: self.active(project.project_id)['status'] == 3, 5.0)
        refused = self.stream_chat(project.token, f'{PROVIDER}/stream')
        self.assertError(refused.reply(), E_QUOTA)
        refused.close()

    def test_organization_limit_counts_calls_of_every_project(self):
        path = self.org_limits()
        limit = self.ok(self.request('POST', path, body=limit_body(hard=2, soft=0),
                                     token=self.org_token))
        try:
            first, second = self.make_project(), self.make_project()
            self.ok(self.chat(first.token, f'{PROVIDER}/echo'))
            self.ok(self.chat(second.token, f'{PROVIDER}/echo'))
            self.assertError(self.chat(first.token, f'{PROVIDER}/echo'), E_QUOTA)
            self.assertError(self.chat(second.token, f'{PROVIDER}/echo'), E_QUOTA)
            self.assertEqual(self.ok(self.get(path + '/active'))['usedAmount'], 2)
        finally:
            self.ok(self.request('DELETE', f'{path}/{limit["id"]}', token=self.org_token))

    def test_cancelling_or_raising_the_limit_lets_calls_through_again(self):
        project = self.limited_project(hard=1, soft=0)
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.assertError(self.chat(project.token, f'{PROVIDER}/echo'), E_QUOTA)
        limit = self.active(project.project_id)
        self.ok(self.request('PUT', f'{self.project_limits(project.project_id)}/{limit["id"]}'
                             '/hardLimit', body={'hardLimit': 2}, token=self.org_token))
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.assertError(self.chat(project.token, f'{PROVIDER}/echo'), E_QUOTA)
        self.ok(self.request('DELETE', f'{self.project_limits(project.project_id)}/{limit["id"]}',
                             token=self.org_token))
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))


class UsageSurvivesRestartTests(LimitPaths, GatewayTestCase):
    server_per_test = True

    def test_usage_survives_a_restart(self):
        project = self.make_project()
        path = self.project_limits(project.project_id)
        self.ok(self.request('POST', path, body=limit_body(hard=3, soft=0),
                             token=self.org_token))
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.server.restart()
        self.assertEqual(self.ok(self.get(path + '/active'))['usedAmount'], 2)
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.assertError(self.chat(project.token, f'{PROVIDER}/echo'), E_QUOTA)


class WebhookReceiver:
    """A local HTTP server that records POSTed JSON; the first `failures` answers are 500.
    `host`: the loopback address it listens on (127.0.0.1 or ::1); `requests` holds each POST's
    (target, Host header)."""

    def __init__(self, failures=0, host='127.0.0.1'):
        self.failures = failures
        self.host = host
        self.attempts = []
        self.delivered = []
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.requests.append((self.path, self.headers.get('Host')))
                length = int(self.headers.get('Content-Length', 0))
                body = json.loads(self.rfile.read(length) or b'{}')
                receiver.attempts.append(body)
                failing = len(receiver.attempts) <= receiver.failures
                if not failing:
                    receiver.delivered.append(body)
                self.send_response(500 if failing else 204)
                self.send_header('Content-Length', '0')
                self.end_headers()

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ':' in host else socket.AF_INET

        self.httpd = Server((host, 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}/hook'

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SoftLimitWebhookTests(LimitPaths, GatewayTestCase):
    receiver = None

    @classmethod
    def setUpClass(cls):
        cls.receiver = WebhookReceiver(failures=1)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.receiver.stop()

    @classmethod
    def server_config(cls):
        return (f'[server]\nlimit_webhook_url = "{cls.receiver.url}"\n\n' +
                super().server_config())

    def test_soft_limit_crossing_is_posted_once_and_retried_after_a_failure(self):
        project = self.make_project()
        self.ok(self.request('POST', self.project_limits(project.project_id),
                             body=limit_body(hard=10, soft=2), token=self.org_token))
        for _ in range(4):
            self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        self.assertTrue(wait_until(lambda: len(self.receiver.delivered) >= 1, 10.0),
                        f'attempts: {self.receiver.attempts!r}')
        time.sleep(1.5)  # a second crossing would have been flushed and sent by now
        self.assertEqual(len(self.receiver.attempts), 2)  # one failure, one retry
        notice = self.receiver.delivered[0]
        self.assertEqual(len(self.receiver.delivered), 1)
        self.assertEqual(notice['event'], 'limit.soft_crossed')
        self.assertEqual(notice['projectId'], project.project_id)
        self.assertEqual(notice['relatedEntityName'], project.project_name)
        self.assertEqual(notice['usedAmount'], 2)
        # And in the audit trail, once, with the system as actor.
        events = self.ok(self.get('/v2/audit?action=limit.soft_crossed'))['events']
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]['actor'], '(system)')
        self.assertEqual(events[0]['targetType'], 'limit')
        # And as a structured log line.
        self.assertIn('usage limit crossed: action=limit.soft_crossed', self.server.log_text())


class OrganizationWebhookTests(LimitPaths, GatewayTestCase):
    """docs/api-decisions.md (usage limits): the system administrator reads and sets an
    organization's own webhook URL, which wins over [server] limit_webhook_url; empty clears it."""
    server_receiver = organization_receiver = None

    @classmethod
    def setUpClass(cls):
        cls.server_receiver = WebhookReceiver()
        cls.organization_receiver = WebhookReceiver()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.server_receiver.stop()
        cls.organization_receiver.stop()

    @classmethod
    def server_config(cls):
        return (f'[server]\nlimit_webhook_url = "{cls.server_receiver.url}"\n\n' +
                super().server_config())

    def webhook(self):
        return f'/v2/admin/organizations/{self.org_id}/webhook'

    def put_webhook(self, url, token=None):
        return self.request('PUT', self.webhook(), body={'limitWebhookUrl': url},
                            token=token or self.admin_token)

    def read_webhook(self):
        return self.ok(self.request('GET', self.webhook(), token=self.admin_token))

    def cross_a_soft_limit(self):
        """A new project of the organization crosses its soft limit; returns its id."""
        project = self.make_project()
        self.ok(self.request('POST', self.project_limits(project.project_id),
                             body=limit_body(hard=10, soft=1), token=self.org_token))
        self.ok(self.chat(project.token, f'{PROVIDER}/echo'))
        return project.project_id

    def notices_for(self, receiver, project_id):
        return [notice for notice in receiver.delivered if notice['projectId'] == project_id]

    def test_the_organizations_own_webhook_wins_over_the_servers_until_cleared(self):
        secret_path = f'{self.organization_receiver.url}/s3cret-{unique("path")}'
        self.assertEqual(self.ok(self.put_webhook(secret_path)),
                         {'organizationId': self.org_id, 'limitWebhookUrl': secret_path})
        self.assertEqual(self.read_webhook()['limitWebhookUrl'], secret_path)
        project_id = self.cross_a_soft_limit()
        self.assertTrue(wait_until(
            lambda: self.notices_for(self.organization_receiver, project_id), 10.0))
        self.assertEqual(self.notices_for(self.organization_receiver, project_id)[0]['event'],
                         'limit.soft_crossed')
        self.assertEqual(self.notices_for(self.server_receiver, project_id), [])
        # The change is audited by origin: the organization reads its audit, and a webhook's
        # path or query often holds the receiver's secret.
        events = self.ok(self.get('/v2/audit?action=organization.update'))['events']
        self.assertTrue(events)
        self.assertNotIn('s3cret', json.dumps(events))
        origin = self.organization_receiver.url.rsplit('/', 1)[0]
        self.assertEqual(events[0]['details']['limitWebhookUrl'], {'from': '', 'to': origin})
        # Another path of the same origin is a change too, though both sides show alike.
        self.ok(self.put_webhook(f'{self.organization_receiver.url}/rotated-{unique("path")}'))
        events = self.ok(self.get('/v2/audit?action=organization.update'))['events']
        self.assertEqual(events[0]['details']['limitWebhookUrl'], {'from': origin, 'to': origin})

        self.ok(self.put_webhook(''))
        self.assertEqual(self.read_webhook()['limitWebhookUrl'], '')
        project_id = self.cross_a_soft_limit()
        self.assertTrue(wait_until(lambda: self.notices_for(self.server_receiver, project_id),
                                   10.0), 'a cleared URL leaves the server\'s in force')
        self.assertEqual(self.notices_for(self.organization_receiver, project_id), [])

    def test_a_webhook_at_an_ipv6_literal_gets_a_bracketed_host_and_an_encoded_target(self):
        # RFC 9110's Host for an IPv6 literal is bracketed, with the port the URL names; what a
        # request-target cannot hold (here bytes above ASCII) goes percent-encoded.
        try:
            receiver = WebhookReceiver(host='::1')
        except OSError as error:  # a machine without IPv6 loopback
            self.skipTest(f'cannot listen on [::1]: {error}')
        self.addCleanup(receiver.stop)
        self.addCleanup(self.put_webhook, '')
        self.ok(self.put_webhook(f'http://[::1]:{receiver.port}/hook/caf\u00e9?x=\u00fc'))
        project_id = self.cross_a_soft_limit()
        self.assertTrue(wait_until(lambda: self.notices_for(receiver, project_id), 10.0))
        self.assertEqual(receiver.requests[0],
                         ('/hook/caf%C3%A9?x=%C3%BC', f'[::1]:{receiver.port}'))

    def test_a_webhook_url_that_cannot_be_called_is_400_id_11_and_changes_nothing(self):
        before = self.read_webhook()
        for url in ('hooks.example/x', 'ftp://hooks.example/x', 'https://hooks.example:0/x',
                    'https://hooks.example:https/x', 'https://user:pw@hooks.example/x',
                    'https://hooks.example/a b', 'https:///x', 'https://[hooks:example]/x',
                    'https://hooks|example/x', 'https://caf\u00e9.example/x'):
            with self.subTest(url=url):
                self.assertError(self.put_webhook(url), e_pattern('limitWebhookUrl'))
        self.assertEqual(self.read_webhook(), before)

    def test_only_the_system_administrator_reads_or_sets_it(self):
        self.assertError(self.request('GET', self.webhook(), token=self.org_token), E_SCOPE)
        self.assertError(self.put_webhook('https://hooks.example/x', token=self.org_token),
                         E_SCOPE)


class EmbeddingsUsageLimitTests(WithLoadUpstream, LimitPaths, GatewayTestCase):
    """Embeddings run a model too: they count against Requests and Cost limits like chat."""

    @classmethod
    def server_config(cls):
        return super().server_config() + '\n' + load_config(cls.load.base_url)

    def embed(self, token):
        return self.request('POST', '/v1/embeddings', token=token,
                            body={'model': f'{LOAD}/emb', 'input': 'embed this'})

    def test_embeddings_are_refused_at_a_requests_hard_limit(self):
        project = self.make_project()
        self.ok(self.request('POST', self.project_limits(project.project_id),
                             body=limit_body(hard=1, soft=0), token=self.org_token))
        self.ok(self.embed(project.token))
        self.assertError(self.embed(project.token), E_QUOTA)

    def test_embeddings_cost_counts_against_a_cost_limit(self):
        per_call = EMBED_USAGE['prompt_tokens'] / 1e6
        project = self.make_project()
        path = self.project_limits(project.project_id)
        self.ok(self.request('POST', path, body=limit_body(unit='Cost', hard=per_call * 1.5,
                                                           soft=0), token=self.org_token))
        self.ok(self.embed(project.token))
        self.ok(self.embed(project.token))
        wait_until(lambda: self.ok(self.get(path + '/active'))['status'] == 3, 5.0)
        self.assertAlmostEqual(self.ok(self.get(path + '/active'))['usedAmount'], 2 * per_call,
                               places=12)
        self.assertError(self.embed(project.token), E_QUOTA)
