"""Agent Forge: a local-first pipeline that makes small language models, on Ray."""

from agent_forge import _auto_register

__version__ = "0.1.0"

_auto_register.install()  # Cognate joins transformers' Auto classes (lazily; see the module)
