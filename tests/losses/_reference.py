"""Slow, loop-based reference implementations shared by the loss tests (plain python + math)."""

from __future__ import annotations

import math


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def cos(u, v):
    nu, nv = norm(u), norm(v)
    if nu == 0 or nv == 0:
        return 0.0
    return sum(a * b for a, b in zip(u, v)) / (nu * nv)


def sqdist(u, v):
    return sum((a - b) ** 2 for a, b in zip(u, v))


def dist(u, v):
    return math.sqrt(sqdist(u, v))


def sim(u, v, distance, temperature):
    if distance == "cosine":
        return cos(u, v) / temperature
    return -sqdist(u, v) / temperature


def logsumexp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def normalize(v):
    n = norm(v)
    return [x / n for x in v]


def mean(values):
    return sum(values) / len(values)


def softmax(values, temperature):
    m = max(v / temperature for v in values)
    e = [math.exp(v / temperature - m) for v in values]
    total = sum(e)
    return [x / total for x in e]
