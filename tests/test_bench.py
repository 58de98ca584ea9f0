"""tests/bench.py keeps working: a shortened run prints the README's table."""
import subprocess
import sys

from support import script


def test_the_benchmark_runs_and_prints_its_table():
    out = subprocess.run(
        [sys.executable, script('tests/bench.py'), '--seconds', '0.2', '--rounds', '1',
         '--burst', '16'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split('|')[1:-1] for line in out.stdout.splitlines()
            if line.startswith('| ') and not line.startswith('| server')]
    assert [r[0].strip() for r in rows] == [
        '3a (iterative)', '3g', 'ForkingTCPServer', '3h (hello app)', 'wsgiref + ForkingMixIn']
    for row in rows:  # failures, burst failures, zombies, fd leak: all none
        assert [int(row[i]) for i in (4, 6, 7, 8)] == [0, 0, 0, 0], row
