"""tools/stress.py names every test that failed in any of its runs, and leaves
no busy loop behind."""
import os
import re
import subprocess
import sys

import stress
from support import require_dev, script

FLAKY = '''
def test_steady():
    pass

def test_failing():
    assert 1 == 2, 'one is not two'
'''


def test_a_run_with_a_core_busy_names_the_failed_test_and_frees_the_core(tmp_path):
    # one real run (pytest starts in 0.3 s; two would cost the suite twice
    # that), on a file outside the repository: without its pytest.ini's -p
    # no:anyio unless given, as any argument for pytest is
    require_dev(what='tools/stress.py is tested with the full install')
    (tmp_path / 'test_flaky.py').write_text(FLAKY)
    out = subprocess.run([sys.executable, script('tools/stress.py'), '--runs', '1',
                          '--busy', '1', '-p', 'no:anyio', str(tmp_path / 'test_flaky.py')],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert out.returncode == 1, out.stdout
    lines = out.stdout.splitlines()
    assert re.match(r'run 1/1: [\d.]+ s, 1 failed: test_flaky.py::test_failing$',
                    lines[1]), out.stdout
    assert lines[3:5] == ['test_flaky.py::test_failing: failed in 1 of 1 runs (run 1)',
                          '    failed: AssertionError: one is not two'], lines
    # the core it held busy is free again
    [pid] = re.search(r'1 core held busy by pid (\d+) ', lines[0]).groups()
    assert not os.path.exists('/proc/%s' % pid)


def test_a_test_that_failed_in_one_run_of_three_is_named_with_its_run(monkeypatch, capsys):
    # the runs themselves, as the real one above reports them
    results = iter([(31.0, 0, {}, []),
                    (34.5, 1, {'tests/test_x.py::test_y[py3.11]': 'failed: assert 10 == 11'},
                     []),
                    (30.2, 0, {}, [])])
    monkeypatch.setattr(stress, 'one_run', lambda *args: next(results))
    monkeypatch.setattr(sys, 'argv', ['stress.py', '--runs', '3', '--busy', '0', '-k', 'y'])
    assert stress.main() == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        'run 1/3: 31.0 s, green',
        'run 2/3: 34.5 s, 1 failed: tests/test_x.py::test_y[py3.11]',
        'run 3/3: 30.2 s, green',
        '',
        'tests/test_x.py::test_y[py3.11]: failed in 1 of 3 runs (run 2)',
        '    failed: assert 10 == 11',
        '1 test failed at least once; slowest run: 34.5 s (run 2), fastest 30.2 s']
