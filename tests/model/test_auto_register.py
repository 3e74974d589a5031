"""`import agent_forge` makes transformers' Auto classes load Cognate checkpoints, without paying
the transformers import up front (the CLI stays fast)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_is_lazy_and_registration_happens_when_transformers_loads(tmp_path):
    from agent_forge.model import CognateForCausalLM, cognate_tiny_config

    CognateForCausalLM(cognate_tiny_config(vocab_size=512)).save_pretrained(tmp_path)
    out = _python(f"""
        import sys
        import agent_forge
        print("lazy", "transformers" not in sys.modules and "torch" not in sys.modules)
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r})
        print("loaded", type(model).__name__)
    """)
    assert "lazy True" in out and "loaded CognateForCausalLM" in out


def test_registration_when_transformers_was_imported_first():
    out = _python("""
        import transformers
        import agent_forge
        from transformers import CONFIG_MAPPING
        print("cognate" in CONFIG_MAPPING)
    """)
    assert out.strip().endswith("True")


def test_importing_a_model_submodule_first_does_not_loop():
    out = _python("""
        import agent_forge.model.tokenizer
        from transformers import CONFIG_MAPPING
        print("cognate" in CONFIG_MAPPING)
    """)
    assert out.strip().endswith("True")
