"""tools/stress.py names every test that failed in one run of several, and
leaves no busy loop behind."""
import os
import re
import subprocess
import sys

from support import require_dev, script

FLAKY = '''
import os

def test_steady():
    pass

def test_fails_in_the_first_run_only():
    count = os.path.join(os.path.dirname(__file__), 'count')
    first = not os.path.exists(count)
    open(count, 'a').close()
    assert not first, 'the first run'
'''


def test_stress_names_the_test_that_failed_once_and_kills_its_loops(tmp_path):
    require_dev(what='tools/stress.py is tested with the full install')
    (tmp_path / 'test_flaky.py').write_text(FLAKY)
    out = subprocess.run([sys.executable, script('tools/stress.py'), '--runs', '2',
                          '--busy', '1', str(tmp_path / 'test_flaky.py')],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert out.returncode == 1, out.stdout
    lines = out.stdout.splitlines()
    assert re.match(r'run 1/2: [\d.]+ s, 1 failed: test_flaky.py::'
                    r'test_fails_in_the_first_run_only$', lines[1]), out.stdout
    assert re.match(r'run 2/2: [\d.]+ s, green$', lines[2]), out.stdout
    assert lines[4:6] == ['test_flaky.py::test_fails_in_the_first_run_only: failed in 1 of '
                          '2 runs (run 1)', '    failed: AssertionError: the first run'], lines
    assert re.match(r'1 test failed at least once; slowest run: [\d.]+ s \(run [12]\), '
                    r'fastest [\d.]+ s$', lines[6]), lines
    # the core it held busy is free again
    [pid] = re.search(r'1 core held busy by pid (\d+) ', lines[0]).groups()
    assert not os.path.exists('/proc/%s' % pid)
