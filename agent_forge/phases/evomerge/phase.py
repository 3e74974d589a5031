"""Phase 2 EvoMerge: a population of 3-stage merge recipes of the three Phase 1 models, evolved
for `generations` (SPEC_NOTES Phase 2). Each generation's new candidates are Ray Tune trials
(runtime/population.py) scored on the selection split; the champion is re-scored on the test
split beside its parents and untuned merges, then gated. Resumable per generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_forge.config.evomerge_config import EvoMergeConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.errors import HandoffError, UserInputError
from agent_forge.merging.genome import genome_recipes
from agent_forge.phases.evomerge import report, search
from agent_forge.phases.evomerge.champion import build_model, depth
from agent_forge.phases.evomerge.comparison import score_test_split
from agent_forge.phases.evomerge.gate import gate_champion
from agent_forge.phases.evomerge.scoring import score_candidate
from agent_forge.phases.evomerge.state import SearchState

FAILED_FITNESS = 0.0  # the lowest a real candidate can score: every term is in [0, 1]


class EvoMergePhase(Phase):
    name = "evomerge"
    Config = EvoMergeConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        from agent_forge.runtime.object_store import fetch_state_dict, put_state_dict

        c: EvoMergeConfig = self.config
        if len(inputs) != 3:
            raise UserInputError(f"evomerge merges exactly 3 models, got {len(inputs)}")
        base = self._shared_init(ctx, inputs)
        self._num_layers = depth(fetch_state_dict(inputs[0]))
        refs = [  # the driver's object-store refs, or one put per parent
            h.object_ref if h.object_ref is not None else put_state_dict(fetch_state_dict(h))
            for h in inputs
        ]
        self._shared = self._shared_inputs(ctx, inputs, base, refs, put_state_dict)
        self._ctx, self._inputs, self._base = ctx, inputs, base
        folder = ctx.run_dir / "search"
        state = SearchState.load(folder) or search.fresh_state(c, self._num_layers, folder)
        if state.parent_fitness is None:
            outs = self._score(
                [{"id": f"parent-{i}", "kind": "parent", "index": i} for i in range(3)], "parents"
            )
            state.parent_fitness = [o["fitness"] for o in outs]
            state.parent_scores = outs
            state.save()
        while state.generation <= c.generations and not state.stopped:
            self._run_generation(state)
        test = score_test_split(state, c.report_baselines, self._score)
        return self._finish(state, test)

    # ---- setup ----------------------------------------------------------------------------
    def _shared_init(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> ModelHandle:
        ids = {h.metadata.get("shared_init") for h in inputs}
        if len(ids) != 1 or None in ids:
            raise HandoffError(
                "cognate",
                "evomerge",
                "shared_init",
                sorted(map(str, ids)),
                "one shared initialisation for all three models",
            )
        row = ctx.registry.get_model(ids.pop())
        return ModelHandle(row["model_id"], Path(row["path"]), row["metadata"])

    def _shared_inputs(
        self,
        ctx: PhaseContext,
        inputs: list[ModelHandle],
        base: ModelHandle,
        parent_refs: list[Any],
        put: Any,
    ) -> dict[str, Any]:
        from transformers import AutoConfig, AutoTokenizer

        from agent_forge.eval.catalog import builtin_data_dir
        from agent_forge.eval.runner import EvalOptions
        from agent_forge.runtime.object_store import fetch_state_dict

        c, e = self.config, ctx.config.eval
        data = builtin_data_dir(ctx.home.root, e.data_seed, e.examples_per_level, e.corpus_bytes)
        suites = {split: report.suites(data, split, c) for split in ("selection", "test")}
        opts = EvalOptions(
            batch_size=e.batch_size, bootstrap_resamples=e.bootstrap_resamples, seed=e.seed
        )
        return {
            "parents": parent_refs,  # in the object store once
            "base": put(fetch_state_dict(base)),
            "model_config": AutoConfig.from_pretrained(inputs[0].path),
            "tokenizer": AutoTokenizer.from_pretrained(inputs[0].path),
            "suites": suites,
            "eval_options": opts,
            "weights": c.fitness.model_dump(),
        }

    # ---- the loop -------------------------------------------------------------------------
    def _score(self, candidates: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        """Run candidates as Tune trials; a failed one gets FAILED_FITNESS and its error."""
        from agent_forge.runtime.jobs import trial_resources
        from agent_forge.runtime.population import run_trials
        from agent_forge.runtime.ray_runtime import storage_path

        ctx = self._ctx
        t = ctx.config.ray.tune
        outcomes = run_trials(
            candidates,
            score_candidate,
            self._shared,
            trial_resources(ctx.config),  # follows run.device
            storage_path(ctx.config.ray, ctx.home),
            f"{ctx.session_id}-evomerge-{label}",
            t.max_concurrent_trials,
            t.reuse_actors,
        )
        return [
            o.metrics if o.metrics is not None else {"fitness": FAILED_FITNESS, "error": o.error}
            for o in outcomes
        ]

    def _run_generation(self, state: SearchState) -> None:
        """One generation of the search (search.run_generation)."""
        search.run_generation(state, self.config, self._ctx, self._shared, self._score)

    # ---- the outcome ----------------------------------------------------------------------
    def _finish(self, state: SearchState, test: dict[str, Any]) -> PhaseResult:
        ctx = self._ctx
        champ = state.champion
        best_parent = max(range(3), key=lambda i: state.parent_fitness[i])
        fit = state.cache[champ.genome.key()]["fitness"]
        parent_fit = state.parent_fitness[best_parent]
        champ_test, parent_test = test["champion"], test[f"parent-{best_parent}"]
        verdict = gate_champion(
            self.config, self.name, ctx.run_dir, fit, parent_fit, champ_test, parent_test
        )
        ids = [h.model_id for h in self._inputs]
        recipes = genome_recipes(champ.genome, ids, self._base.model_id)
        artifacts = report.write_artifacts(ctx.run_dir, state, recipes, test, ids)
        artifacts["gate"] = str(ctx.run_dir / "gate.json")
        technique = "+".join(champ.genome.techniques)
        error = verdict.primary.error()
        if verdict.fallback:
            return self._fall_back(state, test, best_parent, ids, artifacts, error or "")
        model = build_model(champ, self._shared)
        handle = ctx.save_model(
            model,
            "champion",
            tokenizer=self._shared["tokenizer"],
            metrics={"selection": state.cache[champ.genome.key()], "test": test["champion"]},
            extra={
                "fitness": fit,
                "merge_technique": technique,
                "genome": champ.genome.to_json(),
                "parents": ids,
                "shared_init": self._base.model_id,
            },
        )
        metrics = report.phase_metrics(state, test, best_parent, handle, self._inputs)
        return PhaseResult(
            verdict.passed, self.name, [handle], metrics, artifacts=artifacts, error=error
        )

    def _fall_back(
        self,
        state: SearchState,
        test: dict[str, Any],
        best_parent: int,
        ids: list[str],
        artifacts: dict[str, str],
        error: str,
    ) -> PhaseResult:
        """The gate failed and on_gate_fail is best_parent: register a copy of the best parent
        (it is the best model this phase saw) as the phase's output, labelled as such."""
        import copy

        from transformers import AutoModelForCausalLM

        from agent_forge.runtime.model_holder import load_weights
        from agent_forge.runtime.object_store import fetch_state_dict

        ctx, parent = self._ctx, self._inputs[best_parent]
        model = AutoModelForCausalLM.from_config(copy.deepcopy(self._shared["model_config"]))
        load_weights(model, fetch_state_dict(parent))
        fit = state.parent_fitness[best_parent]
        why = f"{error}; handed on the best parent {parent.model_id} unmerged"
        handle = ctx.save_model(
            model.eval(),
            "best_parent",
            tokenizer=self._shared["tokenizer"],
            metrics={
                "selection": state.parent_scores[best_parent],
                "test": test[f"parent-{best_parent}"],
            },
            extra={
                "fitness": fit,
                "merge_technique": "none",
                "fallback": why,
                "source_model": parent.model_id,
                "parents": ids,
                "shared_init": self._base.model_id,
            },
        )
        metrics = report.phase_metrics(state, test, best_parent, handle, self._inputs)
        metrics["phase/fallback_best_parent"] = True
        return PhaseResult(True, self.name, [handle], metrics, artifacts=artifacts, fallback=why)
