"""tools/pictures.py keeps working, its pictures keep showing the lessons, and
the README's pictures and transcripts stay true.

The generator runs once, with the interpreter that runs pytest (no `python`
fixture: --all-pythons does not multiply it), in its quick size, into a
temporary directory."""
import glob
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ElementTree

import pytest

import pictures
import support
from support import Beside, require_dev

# The pictures are drawn with matplotlib and the transcripts typed with
# pexpect: a tool's tests, run with the full install (not under --mine).
if not support.MINE:
    require_dev('matplotlib', 'pexpect', what='tools/pictures.py', allow_module_level=True)

SVGS = pictures.SVGS + ['bench-rps.svg', 'bench-memory.svg', 'bench-idle.svg']
TRANSCRIPTS = pictures.TRANSCRIPTS

with open(pictures.README) as f:
    README = f.read()
READMES = {}  # README.md and README.ru.md: the same transcripts in both
for path in pictures.READMES:
    with open(path) as f:
        READMES[os.path.basename(path)] = f.read()


def prepare(out):
    """The quick run's command, into out, with the committed results there,
    as tools/bench.py --write wrote them."""
    shutil.copy(os.path.join(pictures.ROOT, 'pictures', 'bench.json'), out)
    return [sys.executable, pictures.__file__, '--quick', out]


# It starts at collection (conftest.py) and goes on beside the other tests.
BESIDE = Beside('pictures', prepare)


@pytest.fixture(scope='module')
def quick():
    """(directory, measurements.json, stderr) of one quick run."""
    out, run = BESIDE.start()
    try:
        stdout, stderr = run.communicate(timeout=120)
        # why it failed (its last line) first, then every line it printed
        assert run.returncode == 0, '\n'.join(stderr.strip().splitlines()[-1:] + [stderr])
        with open(os.path.join(out, 'measurements.json')) as f:
            yield out, json.load(f), stderr
    finally:
        BESIDE.stop()


def test_every_picture_is_an_svg_with_its_text_as_text(quick):
    out, measured, stderr = quick
    for name in SVGS:
        root = ElementTree.parse(os.path.join(out, name)).getroot()
        assert root.tag == '{http://www.w3.org/2000/svg}svg', name
        texts = ' '.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text'))
        # svg.fonttype = 'none': words stay words, not glyph outlines
        assert 'Measured by' in texts and 'cores' in texts, name
        assert min(pictures.text_sizes(os.path.join(out, name), column=830))[0] >= 10, name
        # one progress line per picture, with its time
        assert any(line.startswith('pictures: ') and name in line and line.endswith(' s')
                   for line in stderr.splitlines()), stderr


def test_the_numbers_measured_agree_with_the_lessons(quick):
    out, measured, stderr = quick
    # 3b serves one client after another; 3c all at once
    n = len(measured['timeline']['3c'])
    assert measured['timeline']['overlaps'] == {'3b': 0, '3c': n * (n - 1) // 2}
    # 3d answers them all, and none gets a FIN
    assert [c['fin'] for c in measured['timeline']['3d']] == [None] * n
    # one zombie per connection 3d accepted (its backlog of 5 may drop some); none in 3g
    zombies = measured['zombies']
    assert zombies['3d']['zombies'] == zombies['3d']['forked'] > 0
    assert zombies['3d']['reaped'] == 0
    assert zombies['3g']['zombies'] == 0 and zombies['3g']['reaped'] == zombies['3g']['clients']
    for step in '3e', '3f':  # exited = reaped + zombies, whatever the signals did
        assert zombies[step]['zombies'] + zombies[step]['reaped'] == zombies[step]['forked']
    # 3d holds one more descriptor per client until it dies of it; 3g stays flat
    leak, flat = measured['descriptor-leak']['3d'], measured['descriptor-leak']['3g']
    first = leak['counts'][0]  # 0, 1, 2 and the listening socket
    assert leak['counts'] == list(range(first, leak['nofile']))
    assert leak['served'] == leak['nofile'] - first
    assert 'Too many open files' in leak['died']
    assert set(flat['counts']) == {first} and flat['died'] is None
    # fork(): both hold both sockets, then each closes the one it does not need
    held = [{p['role']: [kind for fd, kind in p['sockets']] for p in stage['processes']}
            for stage in measured['fork-descriptors']]
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
    quick = [name for name in TRANSCRIPTS if pictures.BY_NAME[name].quick]
    assert all(name + '.txt' in made or name + '.txt' in notes for name in quick)


@pytest.mark.parametrize('doc', sorted(READMES))
def test_readme_embeds_the_current_transcripts(doc):
    embedded = pictures.embedded(READMES[doc])
    assert sorted(embedded) == sorted(TRANSCRIPTS)
    for name, block in embedded.items():
        assert block == pictures.fenced(name), (
            '%s: the transcript %s is stale: run python tools/pictures.py --write' % (doc, name))


def test_every_image_the_readme_shows_exists():
    shown = pictures.images(README)
    assert len(shown) >= 4
    for path in shown:
        assert os.path.isfile(os.path.join(pictures.ROOT, path)), path


def test_every_picture_reads_at_githubs_column():
    # GitHub scales an image down to its text column, 830 px wide: no text of
    # any picture may end up under 10 px there
    committed = sorted(glob.glob(os.path.join(pictures.PICTURES, '*.svg')))
    assert sorted(os.path.basename(path) for path in committed) == sorted(SVGS)
    for path in committed:
        px, text = min(pictures.text_sizes(path, column=830))
        assert px >= 10, '%s: %r is %.1f px at 830 px wide' % (os.path.basename(path), text, px)


def test_text_sizes_are_what_the_column_shows(tmp_path):
    svg = tmp_path / 'picture.svg'
    # matplotlib's: 792 pt wide, in a viewBox of 792 units, font sizes in them
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="792pt" height="360pt" '
        'viewBox="0 0 792 360">'
        '<text style="font-size: 9px; font-family: sans-serif">nine</text>'
        '<text style="font: 12px \'DejaVu Sans\'">twelve<tspan style="font-size: 6px">'
        'six</tspan> after</text>'
        '<g transform="translate(10 20) scale(2)"><text font-size="6">scaled</text></g>'
        '</svg>')
    sizes = {text: round(px, 2) for px, text in pictures.text_sizes(str(svg), column=830)}
    assert sizes == {'nine': round(9 * 830 / 792, 2), 'twelve': round(12 * 830 / 792, 2),
                     'six': round(6 * 830 / 792, 2), 'after': round(12 * 830 / 792, 2),
                     'scaled': round(12 * 830 / 792, 2)}
    # no viewBox: a user unit is a px of the width; a pt is 4/3 px
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="415px" height="100px">'
                   '<text style="font-size: 6pt">small</text></svg>')
    assert pictures.smallest_text(str(svg)) == (6 * 4 / 3 * 2, 'small')
