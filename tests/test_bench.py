"""tests/bench.py keeps working: a shortened run prints the README's table."""
import subprocess
import sys

from support import script


def test_the_benchmark_runs_and_prints_its_table():
    bench = subprocess.Popen(
        [sys.executable, script('tests/bench.py'), '--seconds', '0.05', '--rounds', '1',
         '--clients', '1,8', '--burst', '16', '--in-flight', '4'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True)
    try:
        stdout, stderr = bench.communicate(timeout=120)
    finally:  # interrupted: SIGTERM lets the bench stop its servers (SIGKILL would not)
        if bench.poll() is None:
            bench.terminate()
            bench.communicate(timeout=30)
    assert bench.returncode == 0, stderr
    rows = [line.split('|')[1:-1] for line in stdout.splitlines()
            if line.startswith('| ') and not line.startswith('| server')]
    labels = [r[0].strip() for r in rows]
    assert labels[:6] == [
        '3a (iterative)', '3g', 'ForkingTCPServer', 'prefork, 2 workers', '3h (hello app)',
        'wsgiref + ForkingMixIn']
    assert labels[6:] == ['gunicorn, 2 sync workers'] or 'gunicorn is not installed' in stdout
    for row in rows:  # failures, burst failures, zombies, fd leak: all none
        assert [int(row[i]) for i in (4, 6, 7, 8)] == [0, 0, 0, 0], row
        # memory per connection, for the servers that fork one child per connection
        assert bool(row[9].strip()) == (row[0].strip() in (
            '3g', 'ForkingTCPServer', '3h (hello app)', 'wsgiref + ForkingMixIn')), row
