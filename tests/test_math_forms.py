"""Right answers written as models write them (issue: false rejects of the strict reader), each next to the near miss
or hack in the same dress that must stay refused. Every `valid` case here is refused at f346383.

One batch per class through `MathDomain.verify_many` (the pool, the hard timeout), so a class stands on its own cases.
"""

from __future__ import annotations

import pytest

from formalpi.domains.math import domain as dm
from formalpi.domains.math.domain import MathDomain, MathSettings
from formalpi.domains.math.comparison import compare_form, list_length
from formalpi.domains.math.extraction import extract_boxes
from formalpi.records import Problem, Status

V, N = "valid", "not_valid"
CASES = {
    "percent_in_prose": [
        ("7", r"Prices rose by 2.5% and then by 10% a year, so the answer is $\boxed{7}$.", V),
        ("7", r"An increase of $10$ % over the year gives $\boxed{7}$.", V),
        ("7", r"Prices rose by 2.5% and then by 10% a year, so the answer is $\boxed{8}$.", N),
        ("7", "The answer is \\boxed{8}.\n% \\boxed{7}", N),  # a comment on its own line still hides its box
        ("7", r"A rise of 5% \boxed{7} or \boxed{8}", N),  # what a percent sign makes visible is checked too
    ],
    "typeface_wrapper": [
        ("5", r"$\boxed{\mathbf{5}}$", V),
        ("5", r"$\boxed{\boldsymbol{5}}$", V),
        ("5", r"$\boxed{\textbf{5}}$", V),
        ("5", r"$\boxed{\text{5}}$", V),
        (r"\frac{3}{4}", r"$\boxed{\mathbf{\frac{3}{4}}}$", V),
        ("-3.5", r"$\boxed{\text{-3.5}}$", V),
        ("5", r"$\boxed{\mathbf{6}}$", N),
        ("5", r"$\boxed{\textbf{5 or 6}}$", N),
        ("5", r"$\boxed{\mathbf{5, 6}}$", N),
    ],
    "nested_box": [
        ("5", r"So $\boxed{\boxed{5}}$.", V),
        ("5", r"$\boxed{ \boxed{\boxed{5}} }$", V),
        ("5", r"$\boxed{\boxed{6}}$", N),
        ("5", r"$\boxed{4 \boxed{5}}$", N),
        ("5", r"$\boxed{\boxed{5}\boxed{6}}$", N),
    ],
    "fraction_sign": [
        (r"-\frac{3}{8}", r"$\boxed{\frac{-3}{8}}$", V),
        (r"-\frac{3}{8}", r"$\boxed{\frac{3}{-8}}$", V),
        (r"-\frac{3}{8}", r"$\boxed{\frac{3}{8}}$", N),
        (r"\frac{3}{8}", r"$\boxed{\frac{-3}{8}}$", N),
    ],
    "list_words": [
        (r"6 \text{ and } 8", r"$\boxed{6, 8}$", V),
        ("6, 8", r"$\boxed{6 \text{ and } 8}$", V),
        (r"6 \text{ and } 8", r"$\boxed{8 \text{ and } 6}$", V),
        ("19, 46, and 82", r"$\boxed{19, 46, \text{ and } 82}$", V),
        ("-12;-11;-10", r"$\boxed{\{-12, -11, -10\}}$", V),
        ("a_3 = 2, a_{37} = 19", r"$\boxed{a_{37} = 19, \quad a_3 = 2}$", V),
        (r"6 \text{ and } 8", r"$\boxed{6, 9}$", N),
        (r"6 \text{ and } 8", r"$\boxed{6}$", N),
        ("1, 2", r"$\boxed{b = 1, a = 2}$", N),  # names that differ are not dropped: a = 2, b = 1 is not 1, 2
    ],
    "box_per_element": [
        ("(2,2), (6,2)", r"The pairs are $\boxed{(2,2)}$ and $\boxed{(6,2)}$.", V),
        ("-2,1", r"$\boxed{-2}$ and $\boxed{1}$", V),
        (r"6 \text{ and } 8", r"$\boxed{8}$, $\boxed{6}$", V),
        ("(2,2), (6,2)", r"$\boxed{(2,2)}$ or $\boxed{(6,3)}$", N),
        ("(2,2), (6,2)", r"$\boxed{(2,2)}$, $\boxed{(6,2)}$ or $\boxed{(1,1)}$", N),
        ("-2,1", r"$\boxed{-2}$", N),
        ("5", r"It is $\boxed{5}$ or $\boxed{6}$.", N),  # one value, several boxes: a hedge, as before
        ("1, 2", r"$\boxed{1, 2}$ or $\boxed{1}$", N),
    ],
    "inequality": [
        (r"x \le 5", r"$\boxed{5 \geq x}$", V),
        (r"x \ge 5", r"$\boxed{5 \le x}$", V),
        (r"x \in [-2,7]", r"$\boxed{-2 \le x \le 7}$", V),
        (r"-2 \le x \le 7", r"$\boxed{x \in [-2,7]}$", V),
        ("(2,\\infty)", r"$\boxed{2 < x}$", V),
        (r"x \le 5", r"$\boxed{5 \leq x}$", N),
        (r"x \le 5", r"$\boxed{x < 5}$", N),
        ("(2,\\infty)", r"$\boxed{2 \le x}$", N),
    ],
    "ascii_relation": [
        (r"x \ne 3", r"$\boxed{x != 3}$", V),
        (r"x \le 5", r"$\boxed{x <= 5}$", V),
        (r"x \ge 5", r"$\boxed{x >= 5}$", V),
        ("(3,4]", r"$\boxed{3 < x <= 4}$", V),
        (r"x \le 5", r"$\boxed{x >= 5}$", N),
        (r"x \ne 3", r"$\boxed{x != 4}$", N),
    ],
    "percent": [
        ("10", r"$\boxed{10\%}$", V),
        ("28\\%", r"$\boxed{28}$", V),
        ("28\\%", r"$\boxed{28 %}$", V),
        ("28\\%", r"$\boxed{28 \text{ percent}}$", V),
        ("10", r"$\boxed{11\%}$", N),
        ("0.28", r"$\boxed{28\%}$", N),  # a percent sign is a unit, never /100: no answer matches two golds
    ],
    "parenthesised_value": [
        (r"\frac{1}{3}", r"$\boxed{\left( \frac{1}{3} \right)}$", V),
        ("5", r"$\boxed{(5)}$", V),
        ("5", r"$\boxed{(4)(5)}$", N),
        ("5", r"$\boxed{(5, 6)}$", N),
    ],
    "hacks_still_refused": [
        ("11", r"$\boxed{x = 5+5+1 = 7 = 11}$", N),
        ("11", r"$\boxed{5+5+1}$", N),
        ("5", r"$\boxed{5 \text{ or } 6}$", N),
        ("5", r"$\boxed{5, 6}$", N),
        ("11", r"$\boxed{x \approx 11}$", N),
    ],
}


def _p(gold: str, i: int) -> Problem:
    return Problem(id=f"form-{i}", domain="math", text="?", gold=gold)


@pytest.fixture(scope="module", autouse=True)
def _close_default_verifier():
    yield
    dm.default_verifier().close()


@pytest.fixture(scope="module")
def domain():
    with MathDomain(MathSettings(timeout_s=10)) as d:
        yield d


@pytest.mark.parametrize("cls", sorted(CASES))
def test_form_class(domain, cls):
    cases = CASES[cls]
    vs = domain.verify_many([_p(g, i) for i, (g, _, _) in enumerate(cases)], [t for _, t, _ in cases])
    wrong = [
        (g, t, want, v.status.value, v.reason)
        for (g, t, want), v in zip(cases, vs)
        if (v.status is Status.VALID) != (want == V)
    ]
    assert not wrong, f"{cls}: {wrong}"
    assert not [v for v in vs if v.status in (Status.TIMEOUT, Status.CRASH)]


def test_reader_units():
    assert extract_boxes(r"\boxed{\boxed{5}}").boxes == ("5",)
    assert extract_boxes(r"\boxed{4\boxed{5}}").refused
    assert extract_boxes("rose by 2.5% so \\boxed{7}").boxes == ("7",)
    assert extract_boxes("\\boxed{1} % \\boxed{3}\n").boxes == ("1",)  # after a box, `%` is still a comment
    assert [list_length(g) for g in ("5", "(2,2), (6,2)", r"6 \text{ and } 8", r"\text{(C)}", "x = 1, 2, 3")] == [
        1,
        2,
        2,
        1,
        3,
    ]
    assert compare_form("1000", "1 000", credit_cap=0.9).refused  # numbers side by side stay two numbers
