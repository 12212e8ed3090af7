"""What a completion boxed, read as a reader of the rendered completion sees it (the strict reader's first
half; `comparison` is the second).

Pure Python, no sympy; every function is linear in its (capped) input and uses only regexes without nested
quantifiers. formalpi/domains/math/domain.py runs all of it inside its pool workers, under the hard per-check timeout.

Extraction (`extract_boxes`) reads what a reader of the rendered completion sees:
  * LaTeX comments (`%` to the end of the line, not `\\%`), `\\iffalse … \\fi`, `\\verb|…|`, the verbatim and
    comment environments, anything after `\\end{document}` / `\\endinput`, Markdown ``` code fences and
    `<!-- comments -->` are not rendered, so a box in them is not a box. A `%` right after a digit or a closing `$`
    (`rose by 2.5%`, `$10$ %`) is a percent sign in prose, not a comment: the rest of its line is read;
  * a completion that defines or redefines macros (`\\def`, `\\newcommand`, `\\let`, …), uses any other TeX
    conditional, or recolours text (`\\color`) cannot be read reliably: it is refused;
  * a box inside another command's argument (`\\text{\\boxed{5}}`, `\\phantom{…}`, `\\textcolor{white}{…}`) is
    refused, except in the typographic wrappers in `_TRANSPARENT` (`\\textbf{…}`, …); a box that is the whole content
    of its box (`\\boxed{\\boxed{5}}`) is that box; a box beside other content in a box (`\\boxed{4\\boxed{5}}`) is
    refused;
  * every distinct box is an answer: the checker (formalpi/domains/math/domain.py) requires all of them to be right, with one
    exception: when the gold is a list (`list_length` > 1) and each box holds one element, the boxes together are
    read as one list (`\\boxed{(2,2)}` and `\\boxed{(6,2)}` for `(2,2), (6,2)`), which must then equal the gold list
    (an extra box is an extra element: wrong). For a gold that is one value, several different boxes are a hedge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMPLETION_CHARS = 200_000  # longer completions are refused unread
MAX_ANSWER_CHARS = 10_000  # longer boxed answers are refused (a 5000-digit integer still fits)
MAX_DISTINCT_BOXES = 8
MAX_NESTING = 40  # brace/bracket depth of an answer


# One token at a time: a comment (to the end of the line, with the next line's indentation, as TeX reads it), a
# control word, a control symbol, a lone trailing backslash, or a run of ordinary text.
_LEX = re.compile(r"%[^\n]*\n?[ \t]*|\\[A-Za-z@]+\*?|\\.|\\|[^%\\]+", re.S)
_ENV_NAME = re.compile(r"\s*\{([A-Za-z*]+)\}")
_VERBATIM_ENVS = {"verbatim", "verbatim*", "Verbatim", "comment", "lstlisting", "minted", "filecontents"}
# Macro (re)definition, catcode changes, file input: what the completion renders can no longer be read from it.
_REDEFINING = {
    "def",
    "edef",
    "gdef",
    "xdef",
    "let",
    "futurelet",
    "newcommand",
    "renewcommand",
    "providecommand",
    "DeclareRobustCommand",
    "DeclareMathOperator",
    "newenvironment",
    "renewenvironment",
    "catcode",
    "csname",
    "expandafter",
    "input",
    "include",
    "makeatletter",
    "newif",
    "global",
    "uppercase",
    "lowercase",
    "scantokens",
    "detokenize",
    "mathcode",
    "active",
}
# Switches that recolour everything after them (a box in white is invisible). Argument-taking hiders (`\\phantom`,
# `\\textcolor`, `\\colorbox`, `\\smash`, …) need no list: a box inside any non-typographic argument is refused.
_HIDING = {"color", "pagecolor"}
_STOP = {"endinput", "bye", "stop"}  # TeX stops reading here
_BOX_CMDS = {"boxed", "fbox"}
# Typographic wrappers a box may sit in and still be the same visible box.
_TRANSPARENT = {None, "textbf", "mathbf", "boldsymbol", "bm", "emph", "textit", "underline", "large", "Large"}
# A `%` right after a digit or a closing `$` (spaces between allowed, same line) is a percent sign written in prose
# (`rose by 2.5%`, `$10$ %`), not a comment. Reading it as text only ever shows the checker more boxes, and every
# distinct box must be right, so this cannot turn a wrong completion into a right one.
_PERCENT_AFTER = frozenset("0123456789$")
_X2 = re.compile(r"\\[A-Za-z@]+\*?|\\.|\\|[{}]|[^\\{}]+", re.S)


def _token(lexer: re.Pattern[str], text: str, pos: int) -> re.Match[str]:
    """The token at `pos` (< len(text)): the lexers' alternatives cover every character, so one always matches."""
    m = lexer.match(text, pos)
    if m is None:
        raise AssertionError(f"the lexer {lexer.pattern!r} matched nothing at {pos}")
    return m


@dataclass(frozen=True)
class Extraction:
    """What a completion answers: its distinct boxed answers (last one last), or why it cannot be read."""

    boxes: tuple[str, ...] = ()
    refused: str = ""  # non-empty: the completion is refused (hidden/redefined/too many boxes): REJECTED
    missing: str = ""  # non-empty: nothing to check (no box, empty or unbalanced box): NO_ANSWER

    @property
    def answer(self) -> str | None:
        """The last boxed answer (what is shown), or None."""
        return self.boxes[-1] if self.boxes else None


def _markdown_visible(text: str) -> str:
    """The completion without what Markdown does not render as math: ``` fenced code and <!-- comments -->."""
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        fence, comment = text.find("```", pos), text.find("<!--", pos)
        starts = [i for i in (fence, comment) if i >= 0]
        if not starts:
            out.append(text[pos:])
            break
        i = min(starts)
        out.append(text[pos:i])
        if i == fence:
            close = text.find("```", i + 3)
            pos = n if close < 0 else close + 3
        else:
            close = text.find("-->", i + 4)
            pos = n if close < 0 else close + 3
        out.append(" ")
    return "".join(out)


def _visible_text(text: str) -> tuple[str, str]:
    """The completion without comments, `\\iffalse…\\fi`, verbatim, Markdown code and comments, anything after
    `\\end{document}`; and a refusal reason ('' if none)."""
    text = _markdown_visible(text)
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        if text[pos] == "%" and text[max(0, pos - 64) : pos].rstrip(" \t")[-1:] in _PERCENT_AFTER:
            out.append("%")  # a percent sign after a number (`2.5%`, `10 %`), not a comment
            pos += 1
            continue
        m = _token(_LEX, text, pos)
        tok = m.group(0)
        pos = m.end()
        if tok[0] == "%":
            continue
        if tok[0] != "\\" or len(tok) == 1:
            out.append(tok)
            continue
        name = tok[1:]
        if name in ("verb", "verb*"):
            if pos >= n:
                break
            end = text.find(text[pos], pos + 1)
            pos = n if end < 0 else end + 1
            out.append(" ")
            continue
        if name in _STOP:
            break
        if name in ("begin", "end"):
            env = _ENV_NAME.match(text, pos)
            if name == "end" and env and env.group(1) == "document":
                break  # TeX reads nothing after \end{document}
            if name == "begin" and env and env.group(1) in _VERBATIM_ENVS:
                close = text.find("\\end{" + env.group(1) + "}", env.end())
                pos = n if close < 0 else close + len(env.group(1)) + 6
                out.append(" ")
                continue
        if name == "iffalse":
            pos, why = _skip_false_branch(text, pos)
            if why:
                return "", why
            out.append(" ")
            continue
        if name in _REDEFINING:
            return "", f"the completion uses \\{name}: with macros redefined its answer cannot be read"
        if (name.startswith("if") and name != "iff") or name in ("fi", "else"):
            return "", f"the completion uses the TeX conditional \\{name}: its answer cannot be read"
        if name in _HIDING:
            return "", f"the completion uses \\{name}, which can hide or disguise text: its answer cannot be read"
        out.append(tok)
    return "".join(out), ""


def _skip_false_branch(text: str, pos: int) -> tuple[int, str]:
    """Position after the `\\fi` that closes an `\\iffalse` (nested conditionals counted, as TeX skips them)."""
    depth, n = 1, len(text)
    while pos < n:
        m = _token(_LEX, text, pos)
        tok = m.group(0)
        pos = m.end()
        if tok[0] != "\\":
            continue
        name = tok[1:]
        if name.startswith("if") and name != "iff":
            depth += 1
        elif name == "fi":
            depth -= 1
            if depth == 0:
                return pos, ""
        elif name in ("else", "or") and depth == 1:
            return pos, f"the completion uses \\iffalse … \\{name}: its answer cannot be read"
    return n, ""  # an \iffalse never closed hides the rest, as in TeX


def braced(text: str, start: int) -> str | None:
    """The content of the brace group opening at text[start] == '{', or None if it never closes.

    Escaped braces (`\\{`, `\\}`) are content, not structure: a backslash always consumes the next character.
    """
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


_SPACE_TOKEN = re.compile(r"[^\s$]+")


def extract_boxes(text: str | None) -> Extraction:
    """Every distinct visible `\\boxed{…}` / `\\fbox{…}` / `\\boxed X` in `text`, in order of last appearance."""
    if not isinstance(text, str) or not text.strip():
        return Extraction(missing="empty completion")
    if len(text) > MAX_COMPLETION_CHARS:
        return Extraction(refused=f"the completion is longer than {MAX_COMPLETION_CHARS} characters")
    visible, why = _visible_text(text)
    if why:
        return Extraction(refused=why)
    boxes: list[str] = []
    stack: list[str | None] = []  # per open brace group: the command it is an argument of (None: plain group)
    prev_cmd: str | None = None  # the control word just before, if nothing but spaces came after it
    closed_tag: str | None = None  # the tag of the group that just closed (a command's next argument follows)
    pos, n = 0, len(visible)
    while pos < n:
        m = _token(_X2, visible, pos)
        tok = m.group(0)
        pos = m.end()
        if tok == "{":
            stack.append(prev_cmd if prev_cmd is not None else closed_tag)
            if len(stack) > 10_000:
                return Extraction(refused="braces nested too deeply")
            prev_cmd = closed_tag = None
            continue
        if tok == "}":
            closed_tag = stack.pop() if stack else None
            prev_cmd = None
            continue
        if tok[0] == "\\" and len(tok) > 1 and tok[1].isalpha():
            name = tok[1:].rstrip("*")
            if name in _BOX_CMDS:
                hosts = [t for t in stack if t not in _TRANSPARENT]
                if hosts:
                    return Extraction(refused=f"a \\{name} inside \\{hosts[-1]}{{…}}: a hidden or nested box")
                content, pos = _box_argument(visible, pos)
                content = _unwrap_boxes(content)
                if content is None:
                    return Extraction(missing=f"an unbalanced or empty \\{name}")
                if _BOX_INSIDE.search(content):
                    return Extraction(refused=f"a box inside \\{name}{{…}} beside other content: a nested box")
                if len(content) > MAX_ANSWER_CHARS:
                    return Extraction(refused=f"a boxed answer longer than {MAX_ANSWER_CHARS} characters")
                if content in boxes:
                    boxes.remove(content)
                boxes.append(content)
                if len(boxes) > MAX_DISTINCT_BOXES:
                    return Extraction(refused=f"more than {MAX_DISTINCT_BOXES} different boxed answers")
                prev_cmd = closed_tag = None
                continue
            prev_cmd, closed_tag = name, None
            continue
        if not tok.isspace():
            prev_cmd = closed_tag = None
    if not boxes:
        return Extraction(missing="no \\boxed{} answer in the completion")
    return Extraction(boxes=tuple(boxes))


def _box_argument(text: str, pos: int) -> tuple[str | None, int]:
    """The stripped content of a box's argument starting at `pos` (after the command), and the position after it."""
    i = pos
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        content = braced(text, i)
        if content is None:
            return None, len(text)
        return content.strip() or None, i + len(content) + 2  # the raw content's length: past the closing brace
    if i > pos:  # `\boxed 5`: one token up to the next space or `$`
        m = _SPACE_TOKEN.match(text, i)
        if m:
            return m.group(0).rstrip(".,;") or None, m.end()
    return None, i


_BOX_INSIDE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_WHOLE_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _unwrap_boxes(content: str | None) -> str | None:
    """`\\boxed{\\boxed{5}}` is the box `5`: a box that is all of its outer box's content is the same answer."""
    for _ in range(MAX_NESTING):
        if content is None:
            break
        m = _WHOLE_BOX.match(content)
        if m is None:
            break
        inner = braced(content, m.end() - 1)
        if inner is None or m.end() + len(inner) + 1 != len(content):
            break
        content = inner.strip() or None
    return content


def extract_answer(text: str | None) -> str | None:
    """The last boxed answer of a completion as a reader sees it; None if there is none or the completion is refused."""
    return extract_boxes(text).answer
