"""API.md section 2: the error envelope, unknown routes, methods, body size and type."""

import json
import uuid

from .harness import (E_BAD_ENDPOINT, E_CONTENT_TYPE, E_METHOD, E_TOO_LARGE, HOST,
                      GatehouseTestCase, raw_exchange, unique)


class RoutingErrorTests(GatehouseTestCase):

    def test_unknown_route_answers_404_id_404_bad_endpoint(self):
        for path in ('/v1/no/such/route', '/v2/tokens/x/y/z', '/v1/organization/projectz',
                     '/nothing'):
            with self.subTest(path=path):
                self.assertError(self.get(path), E_BAD_ENDPOINT)

    def test_unknown_route_error_is_json_with_errors_array(self):
        response = self.get('/v1/no/such/route')
        self.assertIn('application/json', response.headers.get('Content-Type', ''))
        self.assertEqual(response.body, {'errors': [{'id': 404, 'description': 'Bad Endpoint'}]})

    def test_wrong_method_answers_405_with_allow_header(self):
        project = self.create_project()
        pid = project['projectId']
        token_id = project['tokens'][0]['id']
        cases = [
            ('DELETE', '/v1/organization/projects', {'GET'}),
            ('POST', '/v1/organization/projects', {'GET'}),
            ('GET', '/v1/organization/project', {'POST'}),
            ('POST', f'/v1/organization/project/{pid}', {'GET', 'PUT', 'DELETE'}),
            ('POST', f'/v1/organization/project/{pid}/tokens', {'GET'}),
            ('POST', '/v1/accessControl/apitoken/validate', {'GET'}),
            ('DELETE', '/v2/projects/tokens', {'POST'}),
            ('POST', f'/v2/projects/tokens/{token_id}', {'GET', 'PUT', 'DELETE'}),
            ('POST', f'/v2/organization/tokens/{self.org_token_id}', {'GET', 'PUT', 'DELETE'}),
            ('DELETE', '/v2/tokens', {'GET'}),
            ('GET', f'/v2/tokens/{token_id}/reveal', {'POST'}),
            ('GET', f'/v2/tokens/{token_id}/rotate', {'POST'}),
            ('PUT', '/healthz', {'GET'}),
            ('POST', '/readyz', {'GET'}),
        ]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                body = {} if method in ('POST', 'PUT') else None
                response = self.request(method, path, body=body, token=self.org_token)
                self.assertError(response, E_METHOD)
                allow = response.headers.get('Allow')
                self.assertIsNotNone(allow, 'a 405 must carry an Allow header')
                methods = {m.strip().upper() for m in allow.split(',') if m.strip()}
                self.assertTrue(allowed <= methods, f'Allow: {allow!r}, expected {allowed}')
                self.assertNotIn(method, methods, f'Allow: {allow!r}')

    def test_body_with_another_content_type_is_415_id_9005_and_changes_nothing(self):
        before = self.snapshot()
        name = unique('ctype')
        for content_type in ('text/plain', 'application/x-www-form-urlencoded',
                             'multipart/form-data; boundary=x'):
            with self.subTest(content_type=content_type):
                response = self.request('POST', '/v1/organization/project',
                                        raw_body=f'{{"name": "{name}"}}'.encode(),
                                        content_type=content_type, token=self.org_token)
                self.assertError(response, E_CONTENT_TYPE)
        self.assertEqual(self.snapshot(), before)

    def test_json_content_type_with_charset_is_accepted(self):
        name = unique('charset')
        response = self.request('POST', '/v1/organization/project',
                                raw_body=f'{{"name": "{name}"}}'.encode(),
                                content_type='application/json; charset=utf-8',
                                token=self.org_token)
        self.assertEqual(self.ok(response)['projectName'], name)

    def test_error_replies_do_not_leak_internals(self):
        data_dir = str(self.server.data_dir)
        replies = [
            self.get('/v1/no/such/route'),
            self.request('POST', '/v1/organization/project', raw_body=b'{"name": ',
                         token=self.org_token),
            self.request('GET', '/v1/organization/projects', token='gto_' + 'x' * 49),
        ]
        for response in replies:
            text = str(response.body)
            for needle in (data_dir, 'sqlite', 'SQLITE', 'Traceback', 'exception',
                           self.org_token):
                self.assertNotIn(needle, text)


class BodyLimitTests(GatehouseTestCase):
    serve_args = ('--max-body', '2048')

    def test_body_larger_than_max_body_is_413_id_413_and_changes_nothing(self):
        before = self.snapshot()
        name = unique('big')
        body = {'name': name, 'description': 'x' * 900, 'padding': 'y' * 3000}
        response = self.request('POST', '/v1/organization/project', body=body,
                                token=self.org_token)
        self.assertError(response, E_TOO_LARGE)
        self.assertEqual(self.snapshot(), before)

    def test_body_within_max_body_is_accepted(self):
        name = unique('small')
        body = {'name': name, 'description': 'x' * 900, 'padding': 'y' * 900}
        response = self.request('POST', '/v1/organization/project', body=body,
                                token=self.org_token)
        self.assertEqual(self.ok(response)['projectName'], name)

    def test_server_still_serves_after_a_rejected_large_body(self):
        try:
            response = self.request('POST', '/v2/organization/tokens',
                                    raw_body=b'{"a":"' + b'z' * 100000 + b'"}',
                                    token=self.org_token)
            self.assertError(response, E_TOO_LARGE)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before reading the rest; it must keep serving
        self.assertEqual(self.ok(self.request('GET', '/healthz')), {'status': 'ok'})

    def test_chunked_body_larger_than_max_body_is_413_id_413(self):
        before = self.snapshot()
        body = json.dumps({'name': unique('chunked-big'), 'padding': 'p' * 4000}).encode()
        chunks = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 1000]), body[i:i + 1000])
                          for i in range(0, len(body), 1000)) + b'0\r\n\r\n'
        request = (f'POST /v1/organization/project HTTP/1.1\r\nHost: {HOST}\r\n'
                   f'Authorization: Bearer {self.org_token}\r\n'
                   'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n'
                   'Connection: close\r\n\r\n').encode() + chunks
        [(status, _headers, reply)] = raw_exchange(self.server.port, request, 1)
        self.assertEqual(status, 413, reply)
        self.assertEqual(json.loads(reply), {'errors': [{'id': 413,
                                                         'description': 'Payload Too Large'}]})
        self.assertEqual(self.snapshot(), before)
