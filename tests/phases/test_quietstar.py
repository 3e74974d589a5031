"""Phase 3 Quiet-STaR through the real CLI on a real (small) Phase 1 model: the bake job and its
gate, the Quiet-STaR Ray Train job, the anti-theater comparison, the spec's metrics, the gate's
fallback (restore) and pass paths; plus the teacher-forced scorer's greedy identity and the
step-2 loop's resume, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from agent_forge.core.registry import ModelRegistry
from tests.support import phase_runs
from tests.support.phase_runs import QS_SMALL, copy_home, reasoning_model, run_cli, sets

EVAL_SMALL = [*phase_runs.EVAL_SMALL, "--set", "handoffs=[]"]
STEP_KEYS = (
    "thoughts_generated",
    "thoughts_valid",
    "validity_rate",
    "avg_coherence",
    "semantic_similarity",
    "logical_consistency",
    "relevance_score",
    "fluency_score",
    "processing_time_ms",
)
PHASE_KEYS = (
    "total_thoughts",
    "validity_rate",
    "avg_coherence",
    "accuracy_improvement",
    "anti_theater_passed",
    "duration_seconds",
)


_input = reasoning_model


def _weights(path: str) -> dict[str, torch.Tensor]:
    return load_file(str(Path(path) / "model.safetensors"))


@pytest.fixture(scope="module")
def qs_home(small_pipeline, tmp_path_factory) -> Path:
    return copy_home(small_pipeline, tmp_path_factory, "qs")


@pytest.mark.ray
@pytest.mark.slow
def test_thoughts_that_fail_the_gate_restore_the_start_model_and_everything_is_measured(
    small_pipeline, qs_home
):
    """Phase 3 of the shared small run (QS_SMALL with an unreachable accuracy gain), on Phase 2's
    output."""
    report = small_pipeline[1]
    assert "accuracy with thoughts" in report["fallbacks"]["quietstar"], report
    sid = report["session_id"]
    reg = ModelRegistry(qs_home / "registry.db")
    (src,) = reg.list_models(session_id=sid, phase="evomerge")
    (out,) = [
        m
        for m in reg.list_models(session_id=sid, phase="quietstar")
        if m["metadata"]["model_name"] == "restored"
    ]
    md = out["metadata"]
    assert md["thoughts"] is False and "accuracy with thoughts" in md["fallback"]
    assert 0 <= md["validity"] <= 1 and 0 <= md["coherence"] <= 1  # quietstar -> bitnet handoff
    run_dir = qs_home / "sessions" / sid / "quietstar"
    bake = json.loads((run_dir / "bake_report.json").read_text())
    assert bake["items"] == 3 and 0 <= bake["baked_accuracy"] <= 1
    start = md["step2_start"]
    if bake["gate_passed"]:  # step 2 started from the baked model, registered in this session
        assert reg.get_model(start)["metadata"]["model_name"] == "baked"
    else:  # a failed bake gate restores the input
        assert start == src["model_id"]
    restored, original = _weights(out["path"]), _weights(reg.get_model(start)["path"])
    assert restored.keys() == original.keys()  # no mixing head: the thoughts were dropped
    assert all(torch.equal(restored[k], original[k]) for k in restored)

    keys = {m["key"] for m in reg.get_metrics(sid, phase="quietstar")}
    for n in (2, 4):
        assert {f"step_{n}/{k}" for k in STEP_KEYS} <= keys
    assert {f"phase/{k}" for k in PHASE_KEYS} <= keys
    assert "phase/gate_passed" in keys
    anti = json.loads((run_dir / "anti_theater.json").read_text())
    assert anti["items"] == 4
    for k in ("accuracy_with", "accuracy_without", "accuracy_gain", "doc_loss_change"):
        point, lo, hi = anti[k]
        assert lo <= point <= hi
    samples = json.loads((run_dir / "thought_samples.json").read_text())
    from agent_forge.data.special_tokens import END_OF_THOUGHT, SPECIAL_TOKENS, START_OF_THOUGHT

    hidden = {SPECIAL_TOKENS.index(START_OF_THOUGHT), SPECIAL_TOKENS.index(END_OF_THOUGHT)}
    assert samples and all(not hidden & set(s["new_token_ids"]) for s in samples)


@pytest.mark.ray
@pytest.mark.slow
def test_thoughts_that_pass_an_open_gate_are_handed_on_with_their_mixing_head(qs_home):
    from transformers import AutoModelForCausalLM

    open_gate = {
        "min_accuracy_gain": None,
        "min_reward_correlation": None,
        "min_validity": None,
        "bake": QS_SMALL["bake"] | {"enabled": False},
    }
    src = _input(qs_home)
    code, report = run_cli(
        qs_home,
        "--phase",
        "quietstar",
        "--input",
        src["model_id"],
        *EVAL_SMALL,
        *sets("quietstar", QS_SMALL | open_gate),
    )
    assert code == 0 and not report["fallbacks"], report
    reg = ModelRegistry(qs_home / "registry.db")
    (out,) = reg.list_models(session_id=report["session_id"], phase="quietstar")
    assert out["metadata"]["thoughts"] is True
    model = AutoModelForCausalLM.from_pretrained(out["path"])
    assert model.config.thought_mixing and model.thought_head is not None
    changed = _weights(out["path"])
    before = _weights(src["path"])
    assert any(not torch.equal(changed[k], before[k]) for k in before)  # step 2 trained it


@pytest.mark.slow  # the session's small pipeline
def test_teacher_forced_exact_match_is_greedy_generation(small_pipeline):
    """The anti-theater scorer's identity: scoring the model's own greedy continuation under
    teacher forcing gives all-correct (a ~100% control), and one changed token fails it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent_forge.phases.quietstar.evaluate import with_and_without
    from agent_forge.phases.quietstar.phase import QuietStarPhase
    from agent_forge.training.quietstar import ThoughtConfig

    src = _input(small_pipeline[0])
    model = AutoModelForCausalLM.from_pretrained(src["path"]).eval()
    tok = AutoTokenizer.from_pretrained(src["path"])
    prompts = ["Question: What is 3 + 5?\nAnswer:", "Question: Which is larger, 1 or 5?\nAnswer:"]
    rows, spans = [], []
    for p in prompts:
        ids = tok(p, return_tensors="pt").input_ids
        gen = model.generate(ids, max_new_tokens=5, do_sample=False)[0].tolist()
        rows.append(gen)
        spans.append((ids.shape[1] - 1, len(gen) - 1))
    wrong = list(rows[0])
    wrong[-1] = (wrong[-1] + 1) % model.config.vocab_size
    thought = QuietStarPhase(QuietStarPhase.Config())._thought_config() | {"n_true": 1}
    out, _, _ = with_and_without(
        model,
        [*rows, wrong],
        [*spans, spans[0]],
        ThoughtConfig(**thought),
        tok.pad_token_id,
        seed=0,
    )
    assert out["correct_without"] == [1.0, 1.0, 0.0]


@pytest.mark.slow  # the session's small pipeline
def test_the_quietstar_job_killed_after_a_checkpoint_resumes_to_the_same_model(small_pipeline):
    """The step-2 worker body, in process: a run that dies after its first checkpoint and is
    resumed from it ends with exactly the weights (mixing head included) of a run that never
    stopped; and training changed them."""
    from agent_forge.config.schema import RayTrainScalingConfig
    from agent_forge.core.contracts import ModelHandle
    from agent_forge.phases.quietstar import jobs
    from agent_forge.phases.quietstar.phase import QuietStarPhase
    from agent_forge.runtime.jobs import JobSpec, run_worker
    from agent_forge.runtime.train import ListReporter
    from agent_forge.training import model_weights

    src = _input(small_pipeline[0])
    handle = ModelHandle(src["model_id"], Path(src["path"]), src["metadata"])
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(20, 300, (2000,), generator=g)
    config = QuietStarPhase.Config(**QS_SMALL)
    thought = QuietStarPhase(config)._thought_config()
    source = jobs.start_source(handle, thought_mixing=True)
    inputs = jobs.quietstar_extra(config, thought, (tokens, tokens))
    spec = JobSpec(
        "step2",
        jobs.quietstar_body,
        source,
        inputs,
        3,
        RayTrainScalingConfig(),
        "unused",
        "fp32",
        threads=1,
    )
    lc = {"spec": spec}  # what Ray Train hands the worker entry

    whole = ListReporter()
    run_worker(lc, whole, None)

    class Dies(ListReporter):
        def report(self, metrics, state=None, extra=None):
            super().report(metrics, state, extra)
            if state is not None:
                raise RuntimeError("killed after the first checkpoint")

    dies = Dies()
    with pytest.raises(RuntimeError, match="killed"):
        run_worker(lc, dies, None)
    resumed = ListReporter()
    out = run_worker(lc, resumed, dies.latest_state())
    assert out["resumed_from"] == 2
    assert out["device"] == "cpu"  # the device the worker entry gave it (a CPU spec)
    a, b = (model_weights(r.latest_state().state) for r in (whole, resumed))
    assert a.keys() == b.keys() and any(k.startswith("thought_head.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = source.load().state_dict()
    assert any(not torch.equal(a[k], start[k]) for k in a if k in start)


@pytest.mark.ray
@pytest.mark.slow  # one Ray Train job
@pytest.mark.parametrize(
    "use_gpu", [pytest.param(False, id="cpu"), pytest.param(True, marks=pytest.mark.gpu, id="cuda")]
)
def test_the_quietstar_job_trains_on_the_device_ray_gave_it(ray_session, tmp_path, use_gpu):
    """The step-2 body as a real Ray Train job: the loop runs on the worker's device (cuda:N on
    a GPU worker; it used to stay on the CPU there) and the weights move."""
    if use_gpu and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from agent_forge.config.schema import RayTrainScalingConfig
    from agent_forge.core.contracts import ModelHandle
    from agent_forge.core.storage import save_pretrained
    from agent_forge.model import CognateForCausalLM, cognate_tiny_config
    from agent_forge.phases.quietstar import jobs
    from agent_forge.phases.quietstar.phase import QuietStarPhase
    from agent_forge.runtime.jobs import JobSpec, run_jobs
    from agent_forge.runtime.train import trained_weights

    torch.manual_seed(0)
    model = CognateForCausalLM(cognate_tiny_config(vocab_size=256, act_max_steps=1))
    hashes = save_pretrained(model, tmp_path / "start")
    start = ModelHandle("start", tmp_path / "start", {"sha256": hashes})
    config = QuietStarPhase.Config(**(QS_SMALL | {"steps": 2, "checkpoint_every": 2}))
    thought = QuietStarPhase(config)._thought_config()
    tokens = torch.randint(20, 250, (2000,), generator=torch.Generator().manual_seed(0))
    scaling = RayTrainScalingConfig(use_gpu=use_gpu, gpus_per_worker=1.0 if use_gpu else 0.0)
    inputs = jobs.quietstar_extra(config, thought, (tokens, tokens))
    source = jobs.start_source(start, thought_mixing=True)
    spec = JobSpec(
        "qs-device", jobs.quietstar_body, source, inputs, 0, scaling, str(tmp_path / "ray"), "fp32"
    )
    [res] = run_jobs([spec])
    assert res.value["device"] == ("cuda:0" if use_gpu else "cpu")
    after = trained_weights(res)
    assert any(k.startswith("thought_head.") for k in after)
    before = model.state_dict()
    assert any(not torch.equal(after[k], before[k]) for k in before if k in after)
