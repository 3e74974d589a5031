"""Agent Forge: a local-first pipeline that makes small language models, on Ray."""

__version__ = "0.1.0"
