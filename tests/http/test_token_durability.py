"""Issue #9: a token creation is acknowledged only once it is stored, so a server killed with
SIGKILL right after a 2xx still knows the token when it starts again. Concurrent creations
(which share one commit) each get their own answer."""

import concurrent.futures
import threading

from .harness import GatehouseTestCase


class TokenDurabilityTests(GatehouseTestCase):
    server_per_test = True

    def create(self, name):
        return self.request('POST', '/v2/organization/tokens', body={'name': name},
                            token=self.org_token)

    def test_tokens_acknowledged_before_a_kill_9_survive_it(self):
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(self.create, [f'durable-{i}' for i in range(64)]))
        created = [self.ok(reply) for reply in replies]
        self.server._kill()
        self.server.process = None
        self.server.start()
        for token in created:
            validated = self.request('GET', '/v1/accessControl/apitoken/validate',
                                     token=token['secret'])
            self.assertEqual(self.ok(validated)['apiTokenId'], token['id'])
        listed = self.ok(self.get('/v2/tokens?scope=organization&pageSize=500'))
        self.assertEqual(listed['count'], 65)

    def test_tokens_acknowledged_while_creations_go_on_survive_a_kill_9(self):
        """The kill lands while 16 clients keep creating: commits are in flight, some clients
        are waiting for theirs. Every creation answered 200 before the kill is known after it."""
        acknowledged, lock, stop = [], threading.Lock(), threading.Event()

        def create_until_stopped(client):
            for i in range(100000):
                if stop.is_set():
                    return
                try:
                    reply = self.create(f'inflight-{client}-{i}')
                except OSError:
                    return  # the server died with this creation in flight
                if reply.status != 200:
                    return
                with lock:
                    acknowledged.append(reply.body)

        threads = [threading.Thread(target=create_until_stopped, args=(c,)) for c in range(16)]
        for thread in threads:
            thread.start()
        while True:
            with lock:
                if len(acknowledged) >= 300:
                    break
            stop.wait(0.005)
        self.server._kill()
        stop.set()
        for thread in threads:
            thread.join()
        self.server.process = None
        self.server.start()
        listed = self.ok(self.get('/v2/tokens?scope=organization&pageSize=1'))
        self.assertGreaterEqual(listed['count'], len(acknowledged) + 1)
        for token in acknowledged:
            validated = self.request('GET', '/v1/accessControl/apitoken/validate',
                                     token=token['secret'])
            self.assertEqual(self.ok(validated)['apiTokenId'], token['id'])

    def test_concurrent_creations_with_one_name_get_one_success_and_409s(self):
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(self.create, ['same-name'] * 16))
        statuses = sorted(reply.status for reply in replies)
        self.assertEqual(statuses, [200] + [409] * 15)
        for reply in replies:
            if reply.status == 409:
                self.assertEqual(reply.body['errors'][0]['id'], 9001)
