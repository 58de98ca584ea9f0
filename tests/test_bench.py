"""tests/bench.py keeps working: a shortened run prints the README's table."""
import subprocess
import sys

from support import script


def test_the_benchmark_runs_and_prints_its_table():
    bench = subprocess.Popen(
        [sys.executable, script('tests/bench.py'), '--seconds', '0.05', '--rounds', '1',
         '--clients', '1', '--burst', '16', '--in-flight', '4'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True)
    try:
        stdout, stderr = bench.communicate(timeout=120)
    finally:  # interrupted: SIGTERM lets the bench stop its servers (SIGKILL would not)
        if bench.poll() is None:
            bench.terminate()
            bench.communicate(timeout=30)
    assert bench.returncode == 0, stderr
    table = [[cell.strip() for cell in line.split('|')[1:-1]]
             for line in stdout.splitlines() if line.startswith('| ')]
    header, rows = table[0], [dict(zip(table[0], row)) for row in table[1:]]
    assert [row['server'] for row in rows][:6] == [
        '3a (iterative)', '3g', 'ForkingTCPServer', 'prefork, 2 workers', '3h (hello app)',
        'wsgiref + ForkingMixIn']
    assert [row['server'] for row in rows][6:] == ['gunicorn, 2 sync workers'] or \
        'gunicorn is not installed' in stdout
    forking = ('3g', 'ForkingTCPServer', '3h (hello app)', 'wsgiref + ForkingMixIn')
    for row in rows:
        assert row['req/s, 1 client'] != '0', row
        assert [row[name] for name in ('failures', 'failed', 'zombies', 'fd leak')] == [
            '0', '0', '0', '0'], row
        # memory per connection, for the servers that fork a child per connection
        memory = row[header[-1]]
        assert bool(memory) == (row['server'] in forking), row
