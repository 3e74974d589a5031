"""Model families. Cognate is registered with the transformers Auto classes by
`register_auto_classes()`, which runs when this package is imported (and is idempotent)."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from agent_forge.model.cognate import (
    CognateCausalLMOutput,
    CognateConfig,
    CognateForCausalLM,
    CognateModel,
    CognateModelOutput,
    cognate_consumer_gpu_config,
    cognate_tiny_config,
)


def register_auto_classes() -> None:
    """Register `model_type="cognate"` with AutoConfig, AutoModel and AutoModelForCausalLM."""
    AutoConfig.register(CognateConfig.model_type, CognateConfig, exist_ok=True)
    AutoModel.register(CognateConfig, CognateModel, exist_ok=True)
    AutoModelForCausalLM.register(CognateConfig, CognateForCausalLM, exist_ok=True)


register_auto_classes()

__all__ = [
    "CognateCausalLMOutput",
    "CognateConfig",
    "CognateForCausalLM",
    "CognateModel",
    "CognateModelOutput",
    "cognate_consumer_gpu_config",
    "cognate_tiny_config",
    "register_auto_classes",
]
