"""README.ru.md is README.md for the readers of the article's Russian
translation, kept in step: the same lessons in the same order, and in each
the same code blocks (commands, key lines, diffs, transcripts, traces) and
pictures in the same order. Only the prose is Russian, and the comments of
the try-it blocks: the walk-through types README.md's commands, and this
test proves README.ru.md's are the same. A failure names each block that
differs, its lesson and its lines in both files: the list to re-sync by.
(Links, anchors, tables and code widths: tests/test_readme.py, for both.)"""
import difflib
import re

import pytest

from test_readme import DOCS, cells, steps_table
from test_walkthrough import typed

ENGLISH, RUSSIAN = 'README.md', 'README.ru.md'
PIECE = re.compile(
    r'^(?P<level>#{2,3}) (?P<heading>[^\n]+)$'
    # a transcript or diff, between its markers (its caption too)
    r'|^<!-- (?P<kind>transcript|diff) (?P<name>[^>]+?) -->\n(?P<record>.*?)^<!-- /(?P=kind) -->$'
    # a fenced block, a try-it block when its marker is right above it
    r'|^(?:<!-- try (?P<try>[\w-]+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)^```$'
    r'|!\[[^\]]*\]\((?P<picture>[^)\s]+)\)', re.M | re.S)
LESSON = re.compile(r'(3\w(?: → 3\w)?): ')


class Piece(object):
    """A heading or block of a README: where it is (`lesson 3a → 3b`, or
    `section 2`, the same in both READMEs; place adds the section's heading),
    what it is, its line, and the text both READMEs must share."""

    def __init__(self, where, place, what, line, body):
        self.where, self.place, self.what, self.line, self.body = where, place, what, line, body
        self.key = (where, what, body)
        self.kind = re.sub(r' `.*`$', '', what)  # a code block's first line may differ


def commands(body):
    """A try-it block as the walk-through types it, comments aside: one line
    per command, with its terminal and whether Ctrl-C comes first."""
    return ''.join('terminal %s%s: %s\n' % (terminal, ', Ctrl-C first' if ctrl_c else '',
                                            re.sub(r'(^|\s+)#.*', '', line or '').strip())
                   for terminal, ctrl_c, line in typed(body))


def pieces(doc):
    """The headings and blocks of a README, in order: [Piece]."""
    text, found, sections = DOCS[doc], [], 0
    where = place = 'the introduction'
    for m in PIECE.finditer(text):
        line = text.count('\n', 0, m.start()) + 1
        if m.group('level'):
            lesson = LESSON.match(m.group('heading'))
            if lesson and m.group('level') == '###':
                where = place = 'lesson ' + lesson.group(1)
            else:
                sections += 1
                where = 'section %d' % sections
                place = '%s (`%s %s`)' % (where, m.group('level'), m.group('heading'))
            what, body = 'heading', ''
        elif m.group('kind'):
            what, body = '%s %s' % (m.group('kind'), m.group('name')), m.group('record')
        elif m.group('try'):
            what, body = 'try ' + m.group('try'), commands(m.group('code'))
        elif m.group('lang') is not None:
            first = m.group('code').lstrip('\n').split('\n')[0].strip()
            what, body = '```%s block `%s`' % (m.group('lang'), first[:40]), m.group('code')
        else:
            what, body = 'picture ' + m.group('picture'), ''
        found.append(Piece(where, place, what, line, body))
    return found


def out_of_step(a=ENGLISH, b=RUSSIAN):
    """What differs between the two READMEs, a sentence per block."""
    left, right = pieces(a), pieces(b)
    said = []
    matcher = difflib.SequenceMatcher(None, [p.key for p in left], [p.key for p in right],
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == 'equal':
            continue
        theirs = list(right[j1:j2])
        for mine in left[i1:i2]:
            # the same block in the same place, with another text: say how
            same = [p for p in theirs if (p.where, p.kind) == (mine.where, mine.kind)]
            if same and mine.what != 'heading':
                theirs.remove(same[0])
                said.append('%s: %s differs (%s line %d, %s line %d):\n%s' % (
                    mine.place, mine.what, a, mine.line, b, same[0].line, ''.join(
                        difflib.unified_diff(mine.body.splitlines(True),
                                             same[0].body.splitlines(True), a, b, n=1)
                    ).rstrip('\n')))
            else:
                said.append('%s: %s (%s line %d) is not in %s there' % (
                    mine.place, mine.what, a, mine.line, b))
        for theirs_only in theirs:
            said.append('%s: %s (%s line %d) is not in %s there' % (
                theirs_only.place, theirs_only.what, b, theirs_only.line, a))
    return said


def test_the_same_lessons_and_sections_in_the_same_order():
    def outline(doc):
        return [p.where for p in pieces(doc) if p.what == 'heading']
    assert outline(RUSSIAN) == outline(ENGLISH)


def test_the_same_code_and_pictures_in_the_same_places():
    said = out_of_step()
    if said:  # the list alone, to re-sync by
        pytest.fail('%s is out of step with %s, block by block:\n\n%s\n\nA transcript or a '
                    'diff: python tools/pictures.py --write, python tools/diffs.py --write;\n'
                    'anything else by hand.' % (RUSSIAN, ENGLISH, '\n\n'.join(said)),
                    pytrace=False)


def test_the_steps_table_gives_the_same_commands():
    # the cells' code spans: the commands of "see it yourself", row by row
    def spans(doc):
        return {step: sorted(re.findall(r'`([^`]+)`', cells(row)[-1]))
                for step, row in steps_table(DOCS[doc]).items()}
    assert spans(RUSSIAN) == spans(ENGLISH)


@pytest.mark.parametrize('doc', [ENGLISH, RUSSIAN])
def test_step_names_are_latin(doc):
    # a Cyrillic а, с, е looks like a Latin a, c, e, and breaks links and tests
    wrong = [(number, line) for number, line in enumerate(DOCS[doc].splitlines(), 1)
             if re.search(r'3[а-яё]', line, re.I)]
    assert wrong == [], '%s: a step with a Cyrillic letter: %s' % (doc, wrong)


@pytest.mark.parametrize('doc, other, name', [(ENGLISH, RUSSIAN, 'Русская версия'),
                                              (RUSSIAN, ENGLISH, 'English')])
def test_each_readme_links_the_other_first(doc, other, name):
    assert '[%s](%s)' % (name, other) in ''.join(DOCS[doc].splitlines(True)[:3])
