"""tests/pictures.py keeps working, its pictures keep showing the lessons, and
the README's pictures and transcripts stay true.

The generator runs once, with the interpreter that runs pytest (no `python`
fixture: --all-pythons does not multiply it), in its quick size, into a
temporary directory."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

import pictures

# What tests/bench.py --write writes (the schema it promises), with numbers of
# the size it measured on this project's machine.
BENCH = {
    'python': '3.11.7', 'machine': 'AMD EPYC, 2 cores', 'date': '2026-11-27', 'runs': 3,
    'ceiling': {'forks_per_s': [575.0, 612.0, 590.0]},
    'servers': [
        {'name': '3a (iterative)', 'peer': None, 'forking': False,
         'rps': {'1': [12621, 11800, 12950], '8': [15382, 14100, 15900],
                 '64': [14109, 13000, 14800]},
         'memory': None, 'per_request': None, 'ceiling_fraction': None},
        {'name': '3g', 'peer': 'ForkingTCPServer', 'forking': True,
         'rps': {'1': [575, 560, 590], '8': [932, 900, 960], '64': [892, 850, 910]},
         'memory': {'private_mib': 0.8, 'pss_mib': 0.9}, 'per_request': {'cpu_ms': 1.1},
         'ceiling_fraction': {'8': [1.62, 1.47, 1.63]}},
        {'name': 'ForkingTCPServer', 'peer': None, 'forking': True,
         'rps': {'1': [570, 550, 585], '8': [924, 890, 950], '64': [721, 700, 760]},
         'memory': {'private_mib': 0.9, 'pss_mib': 1.0}, 'per_request': None,
         'ceiling_fraction': None},
        {'name': 'prefork, 2 workers', 'peer': None, 'forking': False,
         'rps': {'1': [11960, 11000, 12100], '8': [23570, 21000, 24000],
                 '64': [14445, 13900, 15000]},
         'memory': None, 'per_request': None, 'ceiling_fraction': None},
        {'name': '3h (hello app)', 'peer': 'wsgiref + ForkingMixIn', 'forking': True,
         'rps': {'1': [372, 350, 380], '8': [650, 610, 670], '64': [472, 450, 500]},
         'memory': {'private_mib': 1.4, 'pss_mib': 1.4}, 'per_request': None,
         'ceiling_fraction': {'8': [1.13, 1.0, 1.14]}},
        {'name': 'wsgiref + ForkingMixIn', 'peer': None, 'forking': True,
         'rps': {'1': [280, 270, 290], '8': [464, 440, 480], '64': [388, 370, 400]},
         'memory': {'private_mib': 1.9, 'pss_mib': 1.9}, 'per_request': None,
         'ceiling_fraction': None},
    ],
}
SVGS = ['timeline.svg', 'fork-descriptors.svg', 'descriptor-leak.svg', 'zombies.svg',
        'bench-rps.svg', 'bench-memory.svg']
TRANSCRIPTS = ['ps-zombies', 'too-many-open-files', 'process-limit', 'eintr', 'ps-clean']

with open(pictures.README) as f:
    README = f.read()


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    """(directory, measurements.json, stderr) of one quick run."""
    out = str(tmp_path_factory.mktemp('pictures'))
    with open(os.path.join(out, 'bench.json'), 'w') as f:
        json.dump(BENCH, f)
    run = subprocess.Popen([sys.executable, pictures.__file__, '--quick', out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    try:
        stdout, stderr = run.communicate(timeout=120)
    finally:  # interrupted: SIGTERM lets it stop its servers (SIGKILL would not)
        if run.poll() is None:
            run.terminate()
            run.communicate(timeout=30)
    assert run.returncode == 0, stderr
    with open(os.path.join(out, 'measurements.json')) as f:
        return out, json.load(f), stderr


def test_every_picture_is_an_svg_with_its_text_as_text(quick):
    out, measured, stderr = quick
    for name in SVGS:
        root = ElementTree.parse(os.path.join(out, name)).getroot()
        assert root.tag == '{http://www.w3.org/2000/svg}svg', name
        texts = ' '.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text'))
        # svg.fonttype = 'none': words stay words, not glyph outlines
        assert 'Measured by' in texts and 'cores' in texts, name
        # one progress line per picture, with its time
        assert any(line.startswith('pictures: ') and name in line and line.endswith(' s')
                   for line in stderr.splitlines()), stderr


def test_the_numbers_measured_agree_with_the_lessons(quick):
    out, measured, stderr = quick
    # 3b serves one client after another; 3c all at once
    n = len(measured['timeline']['3c'])
    assert measured['timeline']['overlaps'] == {'3b': 0, '3c': n * (n - 1) // 2}
    # one zombie per connection 3d accepted (its backlog of 5 may drop some); none in 3g
    zombies = measured['zombies']
    assert zombies['3d']['zombies'] == zombies['3d']['forked'] > 0
    assert zombies['3d']['reaped'] == 0
    assert zombies['3g']['zombies'] == 0 and zombies['3g']['reaped'] == zombies['3g']['clients']
    for step in '3e', '3f':  # exited = reaped + zombies, whatever the signals did
        assert zombies[step]['zombies'] + zombies[step]['reaped'] == zombies[step]['forked']
    # 3d holds one more descriptor per client until it dies of it; 3g stays flat
    leak, flat = measured['descriptors']['3d'], measured['descriptors']['3g']
    first = leak['counts'][0]  # 0, 1, 2 and the listening socket
    assert leak['counts'] == list(range(first, leak['nofile']))
    assert leak['served'] == leak['nofile'] - first
    assert 'Too many open files' in leak['died']
    assert set(flat['counts']) == {first} and flat['died'] is None
    # fork(): both hold both sockets, then each closes the one it does not need
    held = [{p['role']: [kind for fd, kind in p['sockets']] for p in stage['processes']}
            for stage in measured['fork']]
    assert held == [{'parent': ['listening']},
                    {'parent': ['listening', 'connected'], 'child': ['listening', 'connected']},
                    {'parent': ['listening'], 'child': ['listening', 'connected']},
                    {'parent': ['listening'], 'child': ['connected']},
                    {'parent': ['listening'], 'child': []}]


def test_transcripts_keep_their_shape(quick):
    out, measured, stderr = quick
    for name in TRANSCRIPTS:
        for directory in out, pictures.PICTURES:  # this run's, and the committed ones
            path = os.path.join(directory, name + '.txt')
            if directory == out and not os.path.exists(path):
                continue  # no Python 2.7 or nobody here: the run said so, see below
            with open(path) as f:
                assert pictures.shape_errors(name, f.read()) == [], path
    made = set(measured['made'])
    notes = ' '.join(measured['notes'])
    assert all(name + '.txt' in made or name + '.txt' in notes for name in TRANSCRIPTS)


def test_readme_embeds_the_current_transcripts():
    embedded = pictures.embedded(README)
    assert sorted(embedded) == sorted(TRANSCRIPTS)
    for name, block in embedded.items():
        with open(os.path.join(pictures.PICTURES, name + '.txt')) as f:
            assert block == '```text\n' + f.read() + '```\n', (
                'the README transcript %s is stale: run python tests/pictures.py --write' % name)


def test_every_image_the_readme_shows_exists():
    shown = pictures.images(README)
    assert len(shown) >= 4
    for path in shown:
        assert os.path.isfile(os.path.join(pictures.ROOT, path)), path
