"""Phase 2 EvoMerge: a population of 3-stage merge recipes of the three Phase 1 models, evolved
for `generations` (SPEC_NOTES Phase 2). Each generation's new candidates are Ray Tune trials
(runtime/population.py) scored on the selection split; the champion is re-scored on the test
split beside its parents and untuned merges, then gated. Resumable per generation."""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

from agent_forge.config.evomerge_config import EvoMergeConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.storage import save_model_dir
from agent_forge.errors import HandoffError, UserInputError
from agent_forge.merging.evolution import Member, SearchParams, initial_population, next_generation
from agent_forge.merging.genome import BASE_REF, PARENT_REFS, genome_recipes
from agent_forge.merging.recipe import Recipe, to_yaml_documents
from agent_forge.phases.evomerge import report
from agent_forge.phases.evomerge.scoring import candidate_state, score_candidate
from agent_forge.phases.evomerge.state import SearchState

log = logging.getLogger(__name__)
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
        self._num_layers = _depth(fetch_state_dict(inputs[0]))
        refs = [  # the driver's object-store refs, or one put per parent
            h.object_ref if h.object_ref is not None else put_state_dict(fetch_state_dict(h))
            for h in inputs
        ]
        self._shared = self._shared_inputs(ctx, inputs, base, refs, put_state_dict)
        self._ctx, self._inputs, self._base = ctx, inputs, base
        state = SearchState.load(ctx.run_dir / "search") or self._fresh_state()
        if state.parent_fitness is None:
            outs = self._score([{"id": f"parent-{i}", "kind": "parent", "index": i}
                                for i in range(3)], "parents")  # fmt: skip
            state.parent_fitness = [o["fitness"] for o in outs]
            state.parent_scores = outs
            state.save()
        while state.generation <= c.generations and not state.stopped:
            self._run_generation(state)
        test = self._test_report(state)
        return self._finish(state, test)

    # ---- setup ----------------------------------------------------------------------------
    def _shared_init(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> ModelHandle:
        ids = {h.metadata.get("shared_init") for h in inputs}
        if len(ids) != 1 or None in ids:
            raise HandoffError("cognate", "evomerge", "shared_init", sorted(map(str, ids)),
                               "one shared initialisation for all three models")  # fmt: skip
        row = ctx.registry.get_model(ids.pop())
        return ModelHandle(row["model_id"], Path(row["path"]), row["metadata"])

    def _shared_inputs(self, ctx: PhaseContext, inputs: list[ModelHandle], base: ModelHandle,
                       parent_refs: list[Any], put: Any) -> dict[str, Any]:  # fmt: skip
        from transformers import AutoConfig, AutoTokenizer

        from agent_forge.eval.catalog import builtin_data_dir
        from agent_forge.eval.runner import EvalOptions
        from agent_forge.runtime.object_store import fetch_state_dict

        c, e = self.config, ctx.config.eval
        data = builtin_data_dir(ctx.home.root, e.data_seed, e.examples_per_level, e.corpus_bytes)
        suites = {split: report.suites(data, split, c) for split in ("selection", "test")}
        opts = EvalOptions(batch_size=e.batch_size, bootstrap_resamples=e.bootstrap_resamples,
                           seed=e.seed)  # fmt: skip
        return {
            "parents": parent_refs,  # in the object store once
            "base": put(fetch_state_dict(base)),
            "model_config": AutoConfig.from_pretrained(inputs[0].path),
            "tokenizer": AutoTokenizer.from_pretrained(inputs[0].path),
            "suites": suites,
            "eval_options": opts,
            "weights": c.fitness.model_dump(),
        }

    def _params(self) -> SearchParams:
        c = self.config
        names = SearchParams.__dataclass_fields__.keys() - {"population"}
        return SearchParams(population=c.population_size, **{k: getattr(c, k) for k in names})

    def _fresh_state(self) -> SearchState:
        c = self.config
        rng = random.Random(c.seed)
        pop = initial_population(self._num_layers, self._params(), c.seed)
        return SearchState(self._ctx.run_dir / "search", population=pop,
                           random_state=rng.getstate())  # fmt: skip

    # ---- the loop -------------------------------------------------------------------------
    def _score(self, candidates: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
        """Run candidates as Tune trials; a failed one gets FAILED_FITNESS and its error."""
        from agent_forge.runtime.population import run_trials
        from agent_forge.runtime.ray_runtime import storage_path, tune_resources

        ctx = self._ctx
        t = ctx.config.ray.tune
        outcomes = run_trials(
            candidates, score_candidate, self._shared, tune_resources(ctx.config.ray),
            storage_path(ctx.config.ray, ctx.home), f"{ctx.session_id}-evomerge-{label}",
            t.max_concurrent_trials, t.reuse_actors,
        )  # fmt: skip
        return [
            o.metrics if o.metrics is not None else {"fitness": FAILED_FITNESS, "error": o.error}
            for o in outcomes
        ]

    def _run_generation(self, state: SearchState) -> None:
        c, gen = self.config, state.generation
        todo = {m.genome.key(): m for m in state.population if m.genome.key() not in state.cache}
        cands = [{"id": m.id, "kind": "genome", "genome": m.genome.to_json()}
                 for m in todo.values()]  # fmt: skip
        for m, out in zip(todo.values(), self._score(cands, f"gen{gen}"), strict=True):
            state.cache[m.genome.key()] = out
        fitness = {m.id: state.cache[m.genome.key()]["fitness"] for m in state.population}
        state.record(gen, fitness, cache_hits=len(state.population) - len(todo))
        r = state.records[-1]
        log.info("generation %d/%d: best %.4f, mean %.4f, diversity %.2f (%d scored, %d cached)",
                 gen, c.generations, r["best"], r["avg"], r["diversity"], r["evals"],
                 r["cache_hits"])  # fmt: skip
        self._ctx.log(report.generation_metrics(state, gen), step=gen)
        self._save_elite(state)
        state.stopped = state.converged(c.early_stop_generations, c.early_stop_min_gain)
        state.generation += 1
        if state.generation <= c.generations and not state.stopped:
            random.setstate(state.random_state)  # DEAP's operators draw from `random`
            state.population, reseeded = next_generation(
                state.population, fitness, state.champion, self._params(), state.generation
            )
            state.random_state = random.getstate()
            state.reseeds += int(reseeded)
        state.save()

    def _save_elite(self, state: SearchState) -> None:
        """The champion's checkpoint under search/elites/ (kept: max_models_on_disk - 1, the
        final registered champion being the last)."""
        champ = state.champion
        folder = state.dir / "elites" / champ.id
        if not folder.exists():
            model = self._model(champ)
            save_model_dir(folder, lambda d: (model.save_pretrained(d),
                                              self._shared["tokenizer"].save_pretrained(d)))  # fmt: skip
        kept = sorted((state.dir / "elites").iterdir(), key=lambda p: p.stat().st_mtime)
        for old in kept[: max(0, len(kept) - (self.config.max_models_on_disk - 1))]:
            if old.name != champ.id:
                shutil.rmtree(old, ignore_errors=True)

    def _model(self, m: Member) -> Any:
        import copy

        from transformers import AutoModelForCausalLM

        from agent_forge.runtime.model_holder import load_weights

        sd = candidate_state({"kind": "genome", "genome": m.genome.to_json()}, self._shared)
        cfg = copy.deepcopy(self._shared["model_config"])
        cfg.num_hidden_layers = _depth(sd)
        model = AutoModelForCausalLM.from_config(cfg)
        load_weights(model, sd)  # a tied head may be stored once
        return model.eval()

    # ---- report and gate --------------------------------------------------------------------
    def _test_report(self, state: SearchState) -> dict[str, Any]:
        if state.test_scores is not None:
            return state.test_scores
        champ = state.champion
        cands = [{"id": "champion", "kind": "genome", "genome": champ.genome.to_json()}]
        cands += [{"id": f"parent-{i}", "kind": "parent", "index": i} for i in range(3)]
        if self.config.report_baselines:
            cands += [{"id": k, "kind": "recipe", "yaml": y} for k, y in _baselines().items()]
        for cand in cands:
            cand["split"] = "test"
        outs = self._score(cands, "test")
        state.test_scores = {cand["id"]: out for cand, out in zip(cands, outs, strict=True)}
        state.save()
        return state.test_scores

    def _finish(self, state: SearchState, test: dict[str, Any]) -> PhaseResult:
        ctx = self._ctx
        champ = state.champion
        best_parent = max(range(3), key=lambda i: state.parent_fitness[i])
        fit = state.cache[champ.genome.key()]["fitness"]
        parent_fit = state.parent_fitness[best_parent]
        verdict = self._gate(fit, parent_fit, test["champion"], test[f"parent-{best_parent}"])
        ids = [h.model_id for h in self._inputs]
        recipes = genome_recipes(champ.genome, ids, self._base.model_id)
        artifacts = report.write_artifacts(ctx.run_dir, state, recipes, test, ids)
        artifacts["gate"] = str(ctx.run_dir / "gate.json")
        technique = "+".join(champ.genome.techniques)
        error = verdict.primary.error()
        if verdict.fallback:
            return self._fall_back(state, test, best_parent, ids, artifacts, error or "")
        model = self._model(champ)
        handle = ctx.save_model(
            model, "champion", tokenizer=self._shared["tokenizer"],
            metrics={"selection": state.cache[champ.genome.key()], "test": test["champion"]},
            extra={"fitness": fit, "merge_technique": technique, "genome": champ.genome.to_json(),
                   "parents": ids, "shared_init": self._base.model_id},
        )  # fmt: skip
        metrics = report.phase_metrics(state, test, best_parent, handle, self._inputs)
        return PhaseResult(verdict.passed, self.name, [handle], metrics, artifacts=artifacts,
                           error=error)  # fmt: skip

    def _gate(self, fit: float, parent_fit: float, champ: dict, parent: dict) -> Any:
        """The champion's gate (`eval.checks`, written to gate.json): selection fitness and test
        accuracy against the best parent's; with on_gate_fail best_parent, a ladder whose
        unconditional second option is the best parent, handed on unmerged (a fallback)."""
        from agent_forge.core.storage import atomic_write_json
        from agent_forge.eval.checks import Option, check, ladder, limit

        c = self.config
        k_fit, k_acc = c.min_fitness_vs_best_parent, c.min_test_accuracy_retention
        parent_acc = parent.get("accuracy", 0.0)
        lo, hi = champ.get("accuracy_lo"), champ.get("accuracy_hi")
        ci = (lo, hi) if lo is not None and hi is not None else None
        fit_note = f"{k_fit} x best parent's {parent_fit:.4f}"
        acc_note = f"{k_acc} x best parent's {parent_acc:.3f}"
        checks = [
            check(
                "champion_fitness",
                fit,
                limit(min=k_fit * parent_fit),
                note=fit_note,
                label="champion fitness",
                fmt=".4f",
            ),
            check(
                "champion_test_accuracy",
                champ.get("accuracy"),
                limit(min=k_acc * parent_acc),
                ci=ci,
                n=champ.get("accuracy_n"),
                label="champion test accuracy",
                fmt=".3f",
                note=acc_note,
            ),
        ]
        options = [Option("champion", checks)]
        if c.on_gate_fail == "best_parent":
            options.append(Option("best_parent"))  # unconditional: the best model this phase saw
        verdict = ladder(self.name, options)
        atomic_write_json(self._ctx.run_dir / "gate.json", verdict.to_json())
        return verdict

    def _fall_back(self, state: SearchState, test: dict[str, Any], best_parent: int,
                   ids: list[str], artifacts: dict[str, str], error: str) -> PhaseResult:  # fmt: skip
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
            model.eval(), "best_parent", tokenizer=self._shared["tokenizer"],
            metrics={"selection": state.parent_scores[best_parent],
                     "test": test[f"parent-{best_parent}"]},
            extra={"fitness": fit, "merge_technique": "none", "fallback": why,
                   "source_model": parent.model_id, "parents": ids,
                   "shared_init": self._base.model_id},
        )  # fmt: skip
        metrics = report.phase_metrics(state, test, best_parent, handle, self._inputs)
        metrics["phase/fallback_best_parent"] = True
        return PhaseResult(True, self.name, [handle], metrics, artifacts=artifacts, fallback=why)


def _depth(sd: dict[str, Any]) -> int:
    from agent_forge.merging import count_layers

    return count_layers(sd)


def _baselines() -> dict[str, str]:
    """Untuned merges for the report: equal-weight linear, and TIES (keep 20%, λ 1)."""
    lin = Recipe("linear", list(PARENT_REFS), parameters={"normalize": True})
    per = [{"weight": 1.0, "density": 0.2} for _ in PARENT_REFS]
    ties = Recipe("ties", list(PARENT_REFS), BASE_REF, per, {"lambda": 1.0})
    return {"linear_untuned": to_yaml_documents([lin]), "ties_untuned": to_yaml_documents([ties])}
