"""Free-text (generative) data: a training answer that disagrees with its near neighbours is label noise."""

from __future__ import annotations

from datamill.diagnose import diagnose

_TOPICS = [
    (
        "How long is the return window for a {p}",
        [
            "You can return the {p} within 30 days.",
            "Returns of the {p} are accepted for 30 days after delivery.",
            "The {p} can be sent back up to 30 days after it arrives.",
            "We take back a {p} within thirty days of delivery.",
        ],
    ),
    (
        "How do I reset the {p} to factory settings",
        [
            "Hold the power button of the {p} for ten seconds.",
            "Press and hold the {p} power button for 10 seconds to reset it.",
            "Keep the power button on the {p} pressed for ten seconds.",
            "A factory reset of the {p}: hold power for ten seconds.",
        ],
    ),
]
_PRODUCTS = ["laptop", "phone", "camera", "tablet", "printer", "router", "monitor", "speaker"]
_OPEN = ["", "Hi, ", "Hello, ", "Quick question: ", "Hey, "]


def test_generative_noise_and_coverage():
    train = []
    for q, answers in _TOPICS:
        for p in _PRODUCTS:
            for i, opener in enumerate(_OPEN[:4]):
                train.append(
                    {
                        "id": f"{p}-{len(train)}",
                        "prompt": opener + q.format(p=p) + "?",
                        "completion": answers[i].format(p=p),
                    }
                )
    wrong = "All sales are final, the camera cannot be returned."
    train.append(
        {"id": "bad", "prompt": "Hey, How long is the return window for a camera?", "completion": wrong}
    )
    results = [
        {
            "id": "m1",
            "input": "How long is the return window for a camera, please?",
            "expected": "You can return the camera within 30 days.",
            "output": wrong,
            "correct": False,
        },
        {
            "id": "m2",
            "input": "What is the boiling point of water on Mount Everest?",
            "expected": "About 70 C.",
            "output": "Hold the power button for ten seconds.",
            "correct": False,
        },
        {
            "id": "ok",
            "input": "How do I reset the phone to factory settings?",
            "expected": "Hold power 10 s.",
            "output": "Hold power 10 s.",
            "correct": True,
        },
    ]
    d = diagnose(results, train, coverage_k=3)
    assert d.settings["mode"] == "generative"
    assert [n.id for n in d.noisy_train] == ["bad"] and d.noisy_train[0].method == "neighbours"
    by_id = {m.id: m for m in d.mistakes}
    assert by_id["m1"].causes == ["noisy_label"]
    assert by_id["m1"].evidence["noisy_label"]["training_examples"][0]["id"] == "bad"
    assert by_id["m2"].causes == ["never_seen"]
