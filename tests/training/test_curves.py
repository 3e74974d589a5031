from agent_forge.training import loss_curves, steps_of


def _history():
    # two batched reports, then a resumed run that re-reports step 3 (after the crash)
    return [
        {"steps": [{"step": s, "train/loss": float(10 - s), "time": 0.0} for s in range(3)]},
        {"steps": [{"step": 3, "train/loss": 99.0}]},
        {"steps": [{"step": s, "train/loss": float(10 - s)} for s in range(3, 6)]},
    ]


def test_steps_once_in_order_last_value_wins():
    steps = steps_of(_history())
    assert [m["step"] for m in steps] == list(range(6))
    assert steps[3]["train/loss"] == 7.0


def test_smoothed_and_epoch_losses():
    curves = dict(loss_curves(_history(), steps_per_epoch=3, window=2))
    assert curves[1]["train/loss_avg_2"] == (10 + 9) / 2
    assert curves[5]["train/loss_avg_2"] == (6 + 5) / 2
    assert curves[2]["epoch/loss"] == (10 + 9 + 8) / 3 and "epoch/loss" not in curves[3]
    assert curves[5]["epoch/loss"] == (7 + 6 + 5) / 3
    assert "time" not in curves[0] and "step" not in curves[0]
