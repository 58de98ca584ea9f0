"""tools/bench.py keeps working: a shortened run prints and writes the README's
tables; and the README holds what the last full run wrote."""
import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import bench
from support import DEV_MODULES, Beside, require_dev, script

FORKING = ('3g', 'ForkingTCPServer', '3h (hello app)', '3i (hello app)',
           'wsgiref + ForkingMixIn')
ROWS = ['3a (iterative)', '3g', 'ForkingTCPServer', 'ThreadingTCPServer',
        'asyncio (event loop)', 'prefork, 2 workers', '3h (hello app)', '3i (hello app)',
        'wsgiref + ForkingMixIn', 'wsgiref + ThreadingMixIn']
DESIGNS = ('ThreadingTCPServer', 'asyncio (event loop)', 'wsgiref + ThreadingMixIn')
IDLE = 12  # idle clients per design in the shortened run
REQUESTS = 100  # per server in the shortened run: what each request costs rests on them
COST = re.compile(r'\d+\.\d\d$')  # a cost cell: '0.35'
RATIO = re.compile(r'\d+\.\d\d(–\d+\.\d\d)?×$')  # '0.53×', '0.53–0.54×'
# a ratio that has no value: which side counted nothing
NO_TICK = re.compile(r'– \((.+): CPU under one clock tick \(\d+ ms\) in all\)$')


def rows_of(block):
    """A markdown table's rows as [{header: cell}]."""
    lines = [[cell.strip() for cell in line.split('|')[1:-1]]
             for line in block.splitlines() if line.startswith('| ')]
    return [dict(zip(lines[0], cells)) for cells in lines[1:]]


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


# ab when installed, with few requests; else the line saying there is none
GENERATOR = 'ab' if shutil.which('ab') else 'none'
BEFORE = []  # the repository's own README and JSON, before the run


def prepare(directory):
    """The shortened run's command, writing a README of stale blocks and the
    JSON in directory."""
    BEFORE.append(untouched())
    with open(os.path.join(directory, 'README.md'), 'w') as f:
        f.write(''.join('text\n<!-- bench %s -->\nstale\n<!-- /bench -->\n' % name
                        for name in bench.BLOCKS))
    # a number of requests, not a time: the costs rest on them under any load;
    # 2 clients at once, one per core; a burst of 6, which 3a's backlog of 5
    # holds whole (more, and a SYN it drops comes again a second later)
    return [sys.executable, script('tools/bench.py'), '--seconds', '0',
            '--requests', str(REQUESTS), '--rounds', '1', '--clients', '2',
            '--burst', '6', '--in-flight', '4', '--idle', str(IDLE),
            '--generator', GENERATOR, '--write',
            '--readme', os.path.join(directory, 'README.md'),
            '--json', os.path.join(directory, 'pictures', 'bench.json')]


# The slowest of the tools' tests: it starts at collection (conftest.py) and
# goes on beside the other tests; a tool's, not a lesson's: with the full
# install only
BESIDE = Beside('bench', prepare, needs=DEV_MODULES)


@pytest.fixture
def quick():
    """(README, JSON, stdout, stderr) of the shortened run."""
    require_dev(what='tools/bench.py is tested with the full install')
    directory, run = BESIDE.start()
    try:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        yield (pathlib.Path(directory, 'README.md'),
               pathlib.Path(directory, 'pictures', 'bench.json'), stdout, stderr)
    finally:  # interrupted: SIGTERM lets the bench stop its servers
        BESIDE.stop()


def test_the_benchmark_runs_and_writes_its_tables(quick):
    readme, results, stdout, stderr = quick
    generator = GENERATOR
    rows = table(stdout)
    assert [row['server'] for row in rows][:len(ROWS)] == ROWS
    assert [row['server'] for row in rows][len(ROWS):-1] == ['gunicorn, 2 sync workers'] or \
        'gunicorn is not installed' in stdout
    assert rows[-1]['server'].startswith('ceiling')
    for row in rows[:-1]:
        assert row['req/s, 2 clients'] != '0', row
        assert [row[name] for name in ('failures', 'failed', 'zombies', 'fd leak')] == [
            '0', '0', '0', '0'], row
        # memory, the child's cost and share of the ceiling: the forking servers'
        for name in ('MiB per connection (PSS), 4 in flight', 'child faults per request',
                     'of ceiling (2 clients)'):
            assert bool(row.get(name)) == (row['server'] in FORKING), (name, row)
        # what a request costs every server itself; a fork per request, more
        # than 0 ms of CPU in the child and the parent
        assert COST.match(row['own CPU per request, ms']), row
        if row['server'] in FORKING:
            assert float(row['own CPU per request, ms']) > 0, row
            assert float(row['child CPU per request, ms']) > 0, row
        # the other designs beside the step whose reply they send
        peered = row['server'] in ('3g', '3h (hello app)', '3i (hello app)',
                                   'ThreadingTCPServer', 'asyncio (event loop)',
                                   'wsgiref + ThreadingMixIn')
        assert RATIO.match(row['vs peer (2 clients)']) if peered else \
            row['vs peer (2 clients)'] == '', row
        # and what its requests cost against the peer's: a ratio, but where a
        # design without a fork per request counted less than a tick of CPU
        # in its 100 requests (asyncio's take ~15 ms): a dash that names it
        assert RATIO.match(row['faults per request vs peer']) if peered else \
            row['faults per request vs peer'] == '', row
        cpu = row['CPU per request vs peer']
        if peered:
            dash = NO_TICK.match(cpu)
            assert RATIO.match(cpu) or dash and dash.group(1) in DESIGNS, row
        else:
            assert cpu == '', row
    # the interpreter: one without a foreign site hook, said above the tables
    assert 'bench: Python ' in stderr and 'warning' not in stderr
    assert ' modules at start-up), ' in stdout.splitlines()[0]
    # progress on stderr, a line per server and round
    assert 'run 1/1, round 1/1: 3g: ' in stderr
    # what the hardening costs: 3h against 3i, by each load generator, and per request
    assert '| 3h (hello app) / 3i (hello app) |' in stdout
    assert '- 3h / 3i, the same hello app served without and with the hardening: ' in stdout

    # the idle clients: a process each, a thread each, or one event loop
    idle = {row['server, %d idle clients' % IDLE]: row
            for row in rows_of(bench.render(json.loads(results.read_text()))['idle'])}
    expected = {'3g': (IDLE + 1, IDLE + 1), '3h (hello app)': (IDLE + 1, IDLE + 1),
                '3i (hello app)': (IDLE + 1, IDLE + 1),
                'ThreadingTCPServer': (1, IDLE + 1), 'wsgiref + ThreadingMixIn': (1, IDLE + 1),
                'asyncio (event loop)': (1, 1)}
    assert {name: (int(row['processes']), int(row['threads']))
            for name, row in idle.items()} == expected
    for row in idle.values():
        assert row['dropped'] == '0', row
        assert '–' not in row['one more request, ms (slowest)'], row
    assert ('`ab -c 2`' in stdout) == (generator == 'ab')
    assert ('no second load generator' in stdout.lower()) == (generator == 'none')

    data = json.loads(results.read_text())
    assert data['runs'] == 1 and len(data['ceiling']['forks_per_s']) == 1
    assert data['environment']['hooks'] == 0 and data['environment']['modules'] > 0
    assert data['environment']['venv'] or not bench.environment(sys.executable)['hooks']
    assert [s['name'] for s in data['servers']] == [row['server'] for row in rows[:-1]]
    for server in data['servers']:
        assert set(server) >= {'name', 'peer', 'forking', 'rps', 'memory', 'per_request',
                               'ceiling_fraction'}
        assert server['forking'] == (server['name'] in FORKING)
        assert len(server['rps']['2']) == 1
        assert server['per_request']['parent_cpu_ms'] is not None
        # the costs rest on the requests made, and a fork per request shows
        # several clock ticks of CPU in them
        [cost] = server['per_request_runs']
        assert set(cost) == {'faults', 'cpu_ms', 'requests', 'ticks'}
        if server['forking']:  # less the zombies not reaped when it was counted
            assert cost['requests'] >= REQUESTS - 4 and cost['ticks'] >= 3, server
        else:
            assert cost['requests'] >= REQUESTS, server
        assert (server['per_request']['child_cpu_ms'] is not None) == server['forking']
        if server['forking']:
            assert set(server['memory']) == {'private_mib', 'pss_mib'}
        assert (server['idle'] is not None) == (server['name'] in expected)
        if server['idle']:  # PSS: the held clients cost memory, none is dropped
            assert server['idle']['held']['pss_mib'] > 0
            assert server['idle']['held']['processes'] == expected[server['name']][0]
    assert set(data['load_generators']) == {'bench'} | ({'ab'} if generator == 'ab' else set())
    # the README copy holds what stdout showed, between its markers
    written = bench.embedded(readme.read_text())
    assert sorted(written) == sorted(bench.BLOCKS)
    assert written == bench.render(data)
    for block in written.values():
        assert block in stdout
    assert untouched() == BEFORE[0]  # the repo's own README and JSON: left alone


def test_readme_holds_the_last_benchmark_run():
    # Every measured number in the README's "What a fork costs" is between
    # `<!-- bench NAME -->` markers, as tools/bench.py --write rendered it
    # from pictures/bench.json.
    with open(bench.README) as f:
        blocks = bench.embedded(f.read())
    assert sorted(blocks) == sorted(bench.BLOCKS)
    with open(bench.JSON) as f:
        rendered = bench.render(json.load(f))
    for name in bench.BLOCKS:
        assert blocks[name] == rendered[name], (
            'the README\'s bench %s block is not pictures/bench.json\'s: run python '
            'tools/bench.py --write --runs 3 (or --from-json --write)' % name)
    rows = table(blocks['table'])
    assert [row['server'] for row in rows][:len(ROWS)] == ROWS
    # made by an interpreter like a learner's: no site hook at start-up
    assert blocks['table'].split('\n')[0].count(' modules at start-up') == 1
    with open(bench.JSON) as f:
        data = json.load(f)
    assert data['environment']['hooks'] == 0
    assert data['settings']['idle'] >= 1000
    assert {s['name'] for s in data['servers'] if s['idle']} == set(bench.IDLE)


def test_the_environment_counts_what_a_site_hook_imports(tmp_path, capsys):
    # a venv imports what the standard library's site does, and no more,
    # until a .pth file imports something at every start
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True,
                   timeout=120)
    python = str(venv / 'bin' / 'python')
    clean = bench.checked_environment(python)
    assert clean['venv'] and clean['hooks'] == 0 and clean['site_packages'] == []
    assert 'warning' not in capsys.readouterr().err
    site_packages = subprocess.check_output(
        [python, '-c', 'import site; print(site.getsitepackages()[0])'],
        universal_newlines=True).strip()
    with open(os.path.join(site_packages, 'hook.py'), 'w') as f:
        f.write('import json, xml.dom.minidom\n')
    with open(os.path.join(site_packages, 'hook.pth'), 'w') as f:
        f.write('import hook\n')
    hooked = bench.checked_environment(python)
    assert hooked['modules'] > clean['modules'] and hooked['hooks'] >= 3
    assert hooked['site_packages'] == ['hook']
    assert 'through hook' in bench.described(hooked)
    assert 'bench: warning: this interpreter imports more' in capsys.readouterr().err


def test_a_ratio_with_nothing_on_one_side_is_a_dash_that_says_why():
    # A run on a busy machine, or a short one, can count no clock tick of a
    # server's CPU, or a rate of 0: its ratios are a dash naming that side,
    # in the tables and in the facts, never an empty cell or a crash.
    with open(bench.JSON) as f:
        data = json.load(f)
    by_name = {s['name']: s for s in data['servers']}
    for cost in by_name['3i (hello app)']['per_request_runs'][:1]:
        cost['cpu_ms'] = 0
    by_name['ForkingTCPServer']['rps']['8'][1] = 0  # and so in the clients table
    data['load_generators']['bench']['rps']['ForkingTCPServer'][1] = 0
    blocks = bench.render(data)
    rows = {row['server']: row for row in table(blocks['table'])}
    no_tick = '– (3i: CPU under one clock tick (%g ms) in all)' % (1000.0 / bench.TICK)
    for name in ('3h (hello app)', '3i (hello app)'):  # 3h / 3i and 3i / wsgiref
        assert rows[name]['CPU per request vs peer'] == no_tick, rows[name]
        assert RATIO.match(rows[name]['faults per request vs peer']), rows[name]
    assert ' page faults and %s the CPU ' % no_tick in blocks['facts']
    no_request = '– (ForkingTCPServer: no request served)'
    assert rows['3g']['vs peer (8 clients)'] == no_request
    assert '| 3g / ForkingTCPServer | %s |' % no_request in blocks['clients']
    # results of old, with medians and no runs of the costs: the same
    old = copy.deepcopy(data)
    for server in old['servers']:
        del server['per_request_runs']
    old_by_name = {s['name']: s for s in old['servers']}
    old_by_name['3i (hello app)']['per_request'].update(child_cpu_ms=0, parent_cpu_ms=0)
    rows = {row['server']: row for row in table(bench.render(old)['table'])}
    assert rows['3h (hello app)']['CPU per request vs peer'] == no_tick
