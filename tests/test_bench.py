"""tests/bench.py keeps working: a shortened run prints and writes the README's
tables; and the README holds what the last full run wrote."""
import json
import os
import shutil
import subprocess
import sys

import bench
from support import script

FORKING = ('3g', 'ForkingTCPServer', '3h (hello app)', 'wsgiref + ForkingMixIn')


def table(text):
    """The rows of the first markdown tables in text (the speed, burst and
    cost tables, up to the next paragraph of prose), merged by server, as
    [{header: cell}], in the speed table's order."""
    rows, order = {}, []
    for part in text.split('\n\n')[1:]:
        lines = [[cell.strip() for cell in line.split('|')[1:-1]]
                 for line in part.splitlines() if line.startswith('| ')]
        if not lines or lines[0][0] != 'server':
            break
        for cells in lines[1:]:
            if cells[0] not in rows:
                order.append(cells[0])
            rows.setdefault(cells[0], {}).update(zip(lines[0], cells))
    return [dict(rows[name], server=name) for name in order]


def untouched():
    with open(bench.README) as f:
        return f.read(), os.path.exists(bench.JSON) and os.stat(bench.JSON).st_mtime


def test_the_benchmark_runs_and_writes_its_tables(tmp_path):
    before = untouched()
    readme, results = tmp_path / 'README.md', tmp_path / 'pictures' / 'bench.json'
    readme.write_text(''.join('text\n<!-- bench %s -->\nstale\n<!-- /bench -->\n' % name
                              for name in bench.BLOCKS))
    # ab when installed, with few requests; else the line saying there is none
    generator = 'ab' if shutil.which('ab') else 'none'
    command = [sys.executable, script('tests/bench.py'), '--seconds', '0.05', '--rounds', '1',
               '--clients', '1', '--burst', '16', '--in-flight', '4', '--generator', generator,
               '--write', '--readme', str(readme), '--json', str(results)]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    try:
        stdout, stderr = run.communicate(timeout=120)
    finally:  # interrupted: SIGTERM lets the bench stop its servers (SIGKILL would not)
        if run.poll() is None:
            run.terminate()
            run.communicate(timeout=30)
    assert run.returncode == 0, stderr
    rows = table(stdout)
    assert [row['server'] for row in rows][:6] == [
        '3a (iterative)', '3g', 'ForkingTCPServer', 'prefork, 2 workers', '3h (hello app)',
        'wsgiref + ForkingMixIn']
    assert [row['server'] for row in rows][6:-1] == ['gunicorn, 2 sync workers'] or \
        'gunicorn is not installed' in stdout
    assert rows[-1]['server'].startswith('ceiling')
    for row in rows[:-1]:
        assert row['req/s, 1 client'] != '0', row
        assert [row[name] for name in ('failures', 'failed', 'zombies', 'fd leak')] == [
            '0', '0', '0', '0'], row
        # memory, cost per request and share of the ceiling: the forking servers'
        for name in ('MiB per connection (PSS), 4 in flight', 'child faults per request',
                     'parent CPU per request, ms', 'of ceiling (1 client)'):
            assert bool(row.get(name)) == (row['server'] in FORKING), (name, row)
    # progress on stderr, a line per server and round
    assert 'run 1/1, round 1/1: 3g: ' in stderr
    assert ('`ab -c 1`' in stdout) == (generator == 'ab')
    assert ('no second load generator' in stdout.lower()) == (generator == 'none')

    data = json.loads(results.read_text())
    assert data['runs'] == 1 and len(data['ceiling']['forks_per_s']) == 1
    assert [s['name'] for s in data['servers']] == [row['server'] for row in rows[:-1]]
    for server in data['servers']:
        assert set(server) >= {'name', 'peer', 'forking', 'rps', 'memory', 'per_request',
                               'ceiling_fraction'}
        assert server['forking'] == (server['name'] in FORKING)
        assert len(server['rps']['1']) == 1
        if server['forking']:
            assert set(server['per_request']) >= {'child_faults', 'child_cpu_ms',
                                                  'parent_cpu_ms'}
            assert set(server['memory']) == {'private_mib', 'pss_mib'}
    assert set(data['load_generators']) == {'bench'} | ({'ab'} if generator == 'ab' else set())
    # the README copy holds what stdout showed, between its markers
    written = bench.embedded(readme.read_text())
    assert sorted(written) == sorted(bench.BLOCKS)
    assert written == bench.render(data)
    for block in written.values():
        assert block in stdout
    assert untouched() == before  # the repo's own README and JSON: left alone


def test_readme_holds_the_last_benchmark_run():
    # Every measured number in the README's "What a fork costs" is between
    # `<!-- bench NAME -->` markers, as tests/bench.py --write rendered it
    # from pictures/bench.json.
    with open(bench.README) as f:
        blocks = bench.embedded(f.read())
    assert sorted(blocks) == sorted(bench.BLOCKS)
    with open(bench.JSON) as f:
        rendered = bench.render(json.load(f))
    for name in bench.BLOCKS:
        assert blocks[name] == rendered[name], (
            'the README\'s bench %s block is not pictures/bench.json\'s: run python '
            'tests/bench.py --write --runs 3 (or --from-json --write)' % name)
    rows = table(blocks['table'])
    assert [row['server'] for row in rows][:6] == [label for label, _, _, _ in bench.SERVERS][:6]
