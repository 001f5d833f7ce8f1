"""The training run of scripts/build-pgo (bench/pgo_train.py) against the server under test: it
must drive every part of its mix and end the server cleanly, or a profile-guided build would be
trained on less than it claims (or on nothing: the profile is written at a clean exit)."""

import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIX = ('validate', 'chat', 'stream', 'embeddings', 'token', 'listing', 'export')


class PgoTrainingTests(unittest.TestCase):
    def test_the_training_run_drives_its_whole_mix_and_ends_the_server_cleanly(self):
        done = subprocess.run(
            [sys.executable, os.path.join(ROOT, 'bench', 'pgo_train.py'), '--seconds', '2',
             '--clients', '2'], capture_output=True, text=True, timeout=180, cwd=ROOT)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        line = re.search(r'^pgo_train: (.*)$', done.stdout, re.MULTILINE)
        self.assertIsNotNone(line, done.stdout)
        counts = {name: int(count) for name, count in
                  (item.split(' ') for item in line.group(1).split(', '))}
        for name in MIX:
            self.assertGreater(counts.get(name, 0), 0, f'{name} was not called: {counts}')


if __name__ == '__main__':
    unittest.main()
