"""cl.check: the verdict a lesson's check cell prints, one test per message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import convlens as cl
from convlens.errors import ConvMathError

X = np.arange(9.0).reshape(3, 3)
K = np.array([[0.0, 1.0], [2.0, 3.0]])
REF = cl.conv2d(X, K)  # d2l: [[19, 25], [37, 43]]


def test_a_right_answer_is_correct_in_every_form():
    for yours in (REF, REF.tolist(), torch.tensor(REF), torch.tensor(REF, requires_grad=True)):
        verdict = cl.check(yours, REF)
        assert verdict.ok and bool(verdict)
        assert repr(verdict) == "correct: shape (2, 2), all 4 values match"
    assert cl.check(np.array([19, 25, 37, 43]).reshape(2, 2), REF).ok  # ints that are exact
    assert repr(cl.check(0.30000001, 0.3)) == "correct: shape (), all 1 values match"


def test_the_wrong_shape_is_named():
    verdict = cl.check(np.zeros((3, 3)), REF)
    assert not verdict and verdict.message == "not yet: shape (3, 3), expected (2, 2)"


def test_the_first_differing_element_with_its_index_and_both_values():
    wrong = REF.copy()
    wrong[1, 0] = 36.0
    wrong[1, 1] = 0.0
    assert cl.check(wrong, REF).message == (
        "not yet: 2 of 4 values differ; first at index [1, 0]: yours 36, expected 37"
    )
    assert cl.check(0.5, 0.7).message == "not yet: yours 0.5, expected 0.7"


def test_a_flipped_kernel_is_recognised():
    flipped = cl.conv2d(X, K, flip=True)  # convolution instead of cross-correlation
    assert cl.check(K[::-1, ::-1], K).message == (
        "not yet: your answer is the reference rotated by 180 degrees: the kernel is flipped "
        "(that is convolution; a conv layer computes cross-correlation, no flip)"
    )
    # the output of a flipped kernel is not a rotation of the output: the lesson names it
    verdict = cl.check(flipped, REF, mistakes={"the kernel is flipped": flipped})
    assert verdict.message == "not yet: the kernel is flipped"


def test_transposed_answers_are_recognised_square_or_not():
    assert cl.check(REF.T, REF).message == (
        "not yet: your answer is the reference transposed: rows and columns are swapped"
    )
    wide = np.arange(6.0).reshape(2, 3)
    assert cl.check(wide.T, wide).message == (
        "not yet: your answer is the reference transposed (shape (3, 2), expected (2, 3)): "
        "rows and columns are swapped"
    )


def test_off_by_a_constant():
    assert cl.check(REF + 1, REF).message == (
        "not yet: every value is off by the same constant, 1 (yours - reference)"
    )


def test_values_rounded_by_an_integer_dtype():
    ref = np.array([[0.5, 2.5], [1.25, 3.0]])
    assert cl.check(ref.astype(int), ref).message == (
        "not yet: your answer has dtype int64, the reference float64: values were rounded "
        "(3 of 4 values differ; first at index [0, 0]: yours 0, expected 0.5); "
        "make the array with dtype=float"
    )


def test_unfinished_answers_and_answers_that_are_not_numbers():
    assert cl.check(None, REF).message == (
        "not yet: your answer is None (did the function `return` it?)"
    )
    assert cl.check(..., REF).message == (
        "not yet: your answer is still `...` (the TODO is not written)"
    )
    assert cl.check("19", REF).message == (
        "not yet: your answer is str '19', expected numbers of shape (2, 2)"
    )


def test_a_named_mistake_only_matches_when_it_differs_from_the_reference():
    no_zero_grad = REF * 2
    mistakes = {"gradients add up: call optimizer.zero_grad() before backward()": no_zero_grad}
    assert cl.check(REF * 2, REF, mistakes=mistakes).message == (
        "not yet: gradients add up: call optimizer.zero_grad() before backward()"
    )
    assert cl.check(REF, REF, mistakes={"same as the reference": REF}).ok


def test_tolerances_and_a_reference_that_is_not_numbers():
    assert not cl.check(REF + 0.01, REF)
    assert cl.check(REF + 0.01, REF, atol=0.05)
    with pytest.raises(ConvMathError) as err:
        cl.check(REF, "answer")
    assert str(err.value) == (
        "check: the reference must be numbers (an array, list, number or tensor); "
        "received str 'answer'"
    )
