"""Configuration: pydantic models, YAML profiles, and the loader that merges them."""

from agent_forge.config.loader import config_to_yaml, load_config, profile_names
from agent_forge.config.schema import PipelineConfig

__all__ = ["PipelineConfig", "config_to_yaml", "load_config", "profile_names"]
