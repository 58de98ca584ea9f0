"""The README and the reference beside it stay true: their diffs are the
files', their tables render, their links lead somewhere, and the tests they
name exist. The step diffs hold only their lesson."""
import os
import re

import pytest

import article
import diffs
from support import LESSONS, require_article

# The README in English and in Russian (tests/test_readme_ru.py keeps them in
# step), then the reference files beside them, each linked from them
READMES = [os.path.basename(path) for path in diffs.READMES]
DOCS = {}
for name in READMES + ['ARTICLE.md', 'HARDENING.md', 'BENCHMARK.md', 'PICTURES.md',
                       'TESTING.md']:
    with open(os.path.join(diffs.ROOT, name)) as f:
        DOCS[name] = f.read()
README = DOCS['README.md']


@pytest.mark.parametrize('doc', READMES)
def test_readme_embeds_the_current_diffs(doc):
    embedded = diffs.embedded(DOCS[doc])
    assert sorted(embedded) == sorted(diffs.PAIRS + list(diffs.METHODS))
    for (a, b), block in embedded.items():
        assert block == diffs.fenced(a, b), (
            '%s: the diff of %s and %s is stale: run python tools/diffs.py --write' % (
                doc, a, b))


@pytest.mark.parametrize('a, b', diffs.PAIRS, ids=['%s-%s' % (a[9:11], b[9:11])
                                                    for a, b in diffs.PAIRS])
def test_step_diffs_are_only_the_lesson(a, b):
    # No blank-line-only change, no re-padded header box, no comment changed
    # on a line whose code stays: what before-stop counts as not the lesson.
    assert diffs.noise(a, b) == []
    # And no more code than the article changes, plus 2 lines of configuration
    changes, config = diffs.code_changes(a, b), diffs.configuration(a, b)
    assert len(config) <= diffs.ALLOWANCE, config
    assert len(changes) <= diffs.ARTICLE_CHANGES[a, b] + diffs.ALLOWANCE, changes


def test_steps_fit_side_by_side():
    # diff -y -W 160 gives each side 77 columns
    for name in diffs.STEPS:
        long = [n + 1 for n, line in enumerate(diffs.lines(name)) if len(line) > 77]
        assert not long, '%s: lines %s are over 77 characters' % (name, long)


def cells(row):
    """A table row's cells: split on | outside code spans, not on \\|."""
    row = re.sub(r'`[^`]*`', lambda m: m.group(0).replace('|', 'x'), row)
    return re.split(r'(?<!\\)\|', row.strip())[1:-1]


def tables_of(text):
    tables, current = [], []
    in_code = False
    for line in text.splitlines() + ['']:
        if line.startswith('```'):
            in_code = not in_code
        if not in_code and line.startswith('|'):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize('doc', sorted(DOCS))
def test_tables_are_unbroken(doc):
    for table in tables_of(DOCS[doc]):
        # a header, its separator, then rows of as many cells: else the
        # table ends early and the rest renders as a paragraph of pipes
        assert len(table) >= 3 and re.match(r'^\|(\s*:?-+:?\s*\|)+$', table[1]), table[0]
        width = len(cells(table[0]))
        for row in table:
            assert len(cells(row)) == width, row


def steps_table(text):
    """{step: its row} of a README's steps table, the one whose rows start `| [3a](...`."""
    rows = next(t for t in tables_of(text) if t[2:] and t[2].startswith('| [3a]'))[2:]
    return {re.match(r'\| \[(3\w)\]', row).group(1): row for row in rows}


@pytest.mark.parametrize('doc', READMES)
def test_the_steps_table_has_every_step(doc):
    assert list(steps_table(DOCS[doc])) == ['3' + step for step in 'abcdefghi']


COLUMN = 95  # characters of code GitHub's 830 px column shows without scrolling


@pytest.mark.parametrize('doc', READMES)
def test_every_code_block_fits_the_column(doc):
    wide, fenced = [], False
    for number, line in enumerate(DOCS[doc].splitlines(), 1):
        if line.startswith('```'):
            fenced = not fenced
        elif fenced and len(line) > COLUMN:
            wide.append((number, len(line)))
    assert wide == [], '%s: (line, characters) of code wider than %d: %s' % (doc, COLUMN, wide)


def test_tests_named_in_the_readme_exist():
    here = os.path.dirname(os.path.abspath(__file__))
    defined = set()
    for name in os.listdir(here):
        if name.startswith('test_') and name.endswith('.py'):
            with open(os.path.join(here, name)) as f:
                defined.update(re.findall(r'^def (test_\w+)', f.read(), re.M))
    named = set(re.findall(r'`(test_\w+)`', ''.join(DOCS.values())))
    assert named and named <= defined, named - defined


# The article's images, by file name (lsbaws_part3_NAME.png; one is
# lsbaws_part_NAME.png), in its order.
ARTICLE_IMAGES = (
    'it1 it2 it3 it4 it_socket it_socketpair it_server_socket_sequence '
    'it_client_socket_sequence it_ephemeral_port it_server_process it_ppid_pid '
    'it_pid_ppid_screenshot it_process_descriptors it_default_descriptors checkpoint '
    'conc2_service_clients fork conc2_how_fork_works conc2_shared_descriptors '
    'conc2_concurrent_events conc3_child_is_active conc3_out_of_descriptors '
    'conc3_too_many_fds_exc conc3_zombies conc3_kill_zombie conc3_resource_unavailable '
    'conc4_signaling part_conc4_sigchld_async conc4_eintr conc4_eintr_error '
    'conc4_eintr_accept conc5_zombies_again conc5_signals_not_queued conc5_no_zombies '
    'dig_deeper').split()
DECORATIVE = {'checkpoint', 'dig_deeper'}
ARTICLE = article.ARTICLE


def anchors(text):
    """The anchors GitHub gives a document's headings: lower-cased, letters
    (Cyrillic too), digits, `-` and `_` kept, spaces to `-`, the rest dropped."""
    found = set()
    for heading in re.findall(r'^#{2,4} (.+)$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')
        found.add(slug)
    return found


def links_resolve(text, doc='README.md'):
    """The links of text (in doc) that lead nowhere: a missing file or heading."""
    broken = []
    for target in re.findall(r'\]\(([^)\s]+)', text):
        if re.match(r'https?://', target):
            continue
        path, _, anchor = target.partition('#')
        path = path or doc
        if not os.path.exists(os.path.join(diffs.ROOT, path)) or anchor and (
                path not in DOCS or anchor not in anchors(DOCS[path])):
            broken.append(target)
    return broken


@pytest.mark.parametrize('doc', sorted(DOCS))
def test_every_link_leads_somewhere(doc):
    assert links_resolve(DOCS[doc], doc) == []


def test_the_image_list_is_the_articles():
    require_article()
    with open(ARTICLE) as f:
        names = re.findall(r'lsbaws_(?:part3_)?(\w+)\.png', f.read())
    assert ARTICLE_IMAGES == sorted(set(names), key=names.index)


def test_every_article_image_has_a_measured_counterpart():
    index = DOCS['PICTURES.md'].split('<!-- index -->\n')[1].split('<!-- /index -->')[0]
    rows = [cells(row) for row in index.splitlines()[2:]]
    assert [row[0].strip().strip('`') for row in rows] == ARTICLE_IMAGES
    for row in rows:
        name, counterpart = row[0].strip().strip('`'), row[2]
        if name in DECORATIVE:
            assert counterpart.strip() == 'decorative'
        else:
            assert '](' in counterpart and not links_resolve(counterpart, 'PICTURES.md'), row


def test_anchors_keep_cyrillic_letters():
    assert anchors('### 3a → 3b: сон, «BACKLOG» и `accept()`\n') == {'3a--3b-сон-backlog-и-accept'}


def lessons(text):
    """{step: the anchor of its lesson}: the heading `### 3b → 3c: ...` is 3c's,
    `### 3a: ...` is 3a's."""
    found = {}
    for heading in re.findall(r'^### (3\w(?: → 3\w)?: .+)$', text, re.M):
        step = re.match(r'(?:3\w → )?(3\w):', heading).group(1)
        found[step] = '#' + anchors('## ' + heading).pop()
    return found


@pytest.mark.parametrize('doc', READMES)
def test_every_step_links_to_its_lesson(doc):
    lesson = lessons(DOCS[doc])
    for step, row in steps_table(DOCS[doc]).items():
        # its first link into the README is its lesson (3i's: 3h → 3i)
        assert re.findall(r'\]\((#[^)]+)\)', row)[:1] == [lesson[step]], row
        assert not links_resolve(row, doc), row


def test_every_lesson_a_claim_links_to_is_its_steps_heading():
    # --mine links a failed claim to its step's lesson (support.LESSONS)
    assert LESSONS == {step: 'README.md' + anchor
                       for step, anchor in lessons(README).items() if step in LESSONS}
    assert sorted(LESSONS) == ['3' + step for step in 'abcdefgh']


@pytest.mark.parametrize('doc', ['README.md', 'TESTING.md'])
def test_mine_is_first_shown_with_its_equals_sign(doc):
    """`--mine DIR`, with a space, stops in pytest before this project's code
    runs: where --mine is first shown, the doc says to write the `=`."""
    first = DOCS[doc].index('--mine')
    assert 'with the `=`' in ' '.join(DOCS[doc][first:first + 600].split()), doc
