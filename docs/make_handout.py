"""Write docs/exercises.md, the handout: the exercises of docs/derivation.md §13 and §15
without answers.

Each answer in §13 is a folded ``<details>`` block (``<summary>Answer k</summary>``, then
``<!-- answer-k -->`` and the answer); the handout keeps everything else of the exercises,
in order, and points back to the derivation for the § references and the answers.
``tests/test_handout.py`` regenerates it and requires the committed file to match::

    python docs/make_handout.py          # rewrite docs/exercises.md
    python docs/make_handout.py --check  # exit 1 if docs/exercises.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SOURCE = DOCS / "derivation.md"
HANDOUT = DOCS / "exercises.md"

START, END = "\n## 13. Exercises\n", "\n## 14. "
HEADER = """\
# Exercises on backpropagation: the handout

<!-- Generated from docs/derivation.md by docs/make_handout.py; edit §13 there, not this file. -->

The exercises of [the derivation, §13](derivation.md#13-exercises), from easy to hard,
without their answers. The § numbers refer to the sections of
[the derivation](derivation.md); the worked example is its §10. The answers are folded
under each exercise there.

"""


CONV_START, CONV_END = "\n### Exercises on convolution\n", "\n## 16. "
CONV_HEADER = """\
## On convolution

The exercises of [the derivation, §15](derivation.md#15-convolution-is-the-same-recursion);
the worked example there is its 4×4 image.

"""


def handout(doc: str) -> str:
    """The handout's text, made from the text of docs/derivation.md."""
    if START not in doc or END not in doc.split(START, 1)[1]:
        raise ValueError("docs/derivation.md has no '## 13. Exercises' followed by '## 14.'")
    section = doc.split(START, 1)[1].split(END, 1)[0]
    text = HEADER + _questions(section, "**1. ")
    if CONV_START in doc:  # §15's exercises on convolution continue the numbering
        conv = doc.split(CONV_START, 1)[1].split(CONV_END, 1)[0]
        text += "\n\n" + CONV_HEADER + _questions(conv, "**8. ")
    return text + "\n"


def _questions(section: str, first: str) -> str:
    """The exercises of ``section`` from ``first`` on, their answers dropped."""
    section = section[section.index(first) :]  # the exercises, not the section's preamble
    questions = re.sub(r"<details>.*?</details>", "", section, flags=re.DOTALL)
    questions = questions.replace("](#", "](derivation.md#")  # links within the derivation
    return re.sub(r"\n{3,}", "\n\n", questions).strip()


def main(argv: list[str]) -> int:
    text = handout(SOURCE.read_text(encoding="utf-8"))
    if "--check" in argv:
        current = HANDOUT.read_text(encoding="utf-8") if HANDOUT.exists() else ""
        if current != text:
            print(f"{HANDOUT} is out of date: run python docs/make_handout.py", file=sys.stderr)
            return 1
        return 0
    HANDOUT.write_text(text, encoding="utf-8")
    print(f"wrote {HANDOUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
