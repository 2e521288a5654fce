#!/usr/bin/env python3
"""Example reward plug-in for the VideoSSR trainer (standard library only).

The trainer starts this script once and keeps it running. For every batch it
writes one JSON object per line on standard input:

    {"id": 0, "data_source": "number", "response": "about 42", "ground_truth": "42", "extra_info": {...}}

and reads one JSON object per line on standard output, in the same order:

    {"id": 0, "score": 1.0}

or {"id": 0, "error": "why"} for an item that cannot be scored (a broken
sample): the trainer stops on it instead of training on a made-up 0.
Anything else on standard output is a protocol error, so print debugging
output to standard error. Flush after every answer.

compute_score has the signature of verl's custom_reward_function, so a verl
reward function can be pasted in unchanged.

Try it by hand:
    echo '{"id":0,"data_source":"number","response":"it is 41","ground_truth":"42"}' | python3 scripts/reward_plugin_example.py
"""

import json
import re
import sys

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """Returns a reward in [0, 1] for one response.

    "number": the last number in the response against the numeric ground
    truth, with partial credit 1 - |pred - gt| / max(|gt|, 1).
    "keyword": 1 when the ground truth word occurs in the response
    (case-insensitive), else 0.
    "counting": a rule of our own for the trainer's counting task
    (ground truth "circles,squares,triangles"), replacing its built-in
    reward: the share of the three counts given exactly.
    """
    if data_source == "number":
        want = float(ground_truth)  # a malformed ground truth raises: an error, not a 0
        found = _NUMBER.findall(solution_str)
        if not found:
            return 0.0
        got = float(found[-1])
        return max(0.0, 1.0 - abs(got - want) / max(abs(want), 1.0))
    if data_source == "counting":
        want = [int(x) for x in ground_truth.split(",")]  # "3,0,2"
        got = [int(x) for x in _NUMBER.findall(solution_str)[: len(want)] if "." not in x]
        return sum(g == w for g, w in zip(got, want)) / len(want)
    if data_source == "keyword":
        if not ground_truth.strip():
            raise ValueError("empty keyword")
        return 1.0 if ground_truth.strip().lower() in solution_str.lower() else 0.0
    raise KeyError(f"unknown data source {data_source!r}")


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            score = compute_score(req["data_source"], req["response"], req["ground_truth"], req.get("extra_info"))
            answer = {"id": req["id"], "score": float(score)}
        except Exception as exc:  # reported to the trainer, which stops
            answer = {"id": req["id"], "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
