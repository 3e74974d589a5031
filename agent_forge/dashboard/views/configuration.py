"""Configuration: the home's effective config (profile + <home>/config.yaml) as a form, one tab
per section and per phase. Save validates with the CLI's pydantic models and writes config.yaml
atomically only when every value is valid; each error is shown under its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from agent_forge.config.loader import config_to_yaml, load_config, load_home_config
from agent_forge.core.phase_names import PHASE_SEQUENCE
from agent_forge.dashboard import config_form as cf
from agent_forge.dashboard.ui import current_home, empty_state, has_sessions
from agent_forge.errors import ConfigError, DataFileError

ERRORS, SAVED = "cfg_errors", "cfg_saved"


def _wkey(key: str) -> str:
    return f"cfg::{key}"


def _save(home_root: Path, base: dict[str, Any], specs: list[cf.FieldSpec]) -> None:
    """Form callback (runs before the rerun): validate everything, write only when valid."""
    values = {
        s.key: st.session_state[_wkey(s.key)] for s in specs if _wkey(s.key) in st.session_state
    }
    data, yaml_errors = cf.apply_values(base, values, specs)
    st.session_state[SAVED] = None
    if yaml_errors:
        st.session_state[ERRORS] = yaml_errors
        return
    cfg, errors = cf.validate_and_save(home_root, data)
    st.session_state[ERRORS] = cf.place_errors(errors, [s.key for s in specs])
    if cfg is not None:
        st.session_state[SAVED] = str(home_root / "config.yaml")


def _widget(spec: cf.FieldSpec, value: Any, label: str) -> None:
    key, shown = _wkey(spec.key), cf.to_widget_value(spec, value)
    if spec.kind == "checkbox":
        st.checkbox(label, value=bool(shown), key=key, help=spec.help)
    elif spec.kind == "select":
        opts = list(spec.options)
        st.selectbox(
            label,
            opts,
            index=opts.index(shown) if shown in opts else 0,
            key=key,
            help=spec.help,
            format_func=lambda v: "None" if v is None else str(v),
        )
    elif spec.kind == "text":
        hint = "empty = None" if spec.optional else None
        st.text_input(label, value=shown, key=key, help=spec.help, placeholder=hint)
    else:
        st.text_area(label + " (YAML)", value=shown, key=key, help=spec.help)


def _section(section: str, specs: list[cf.FieldSpec], base: dict, errors: dict) -> None:
    for owner, msgs in errors.items():  # model-level errors of this section (no single field)
        if owner == section or (
            owner.startswith(section + ".") and owner not in {s.key for s in specs}
        ):
            for msg in msgs:
                st.error(msg)
    if not specs:
        st.info(f"{section}: not built yet; this phase has no settings.")
        return
    for spec in specs:
        _widget(spec, cf.lookup(base, spec.key), spec.key.removeprefix(section + "."))
        for msg in errors.get(spec.key, []):
            st.error(msg)


def _effective(home_root: Path) -> Any:
    try:
        return load_home_config(home_root)
    except (ConfigError, DataFileError) as exc:
        st.error(f"{home_root / 'config.yaml'} is not valid ({exc}); showing the profile instead.")
        return load_config()


def main() -> None:
    st.title("Configuration")
    home = current_home()
    if not has_sessions(home):
        empty_state(home)  # the form still works: Save creates the home and its config.yaml
    cfg = _effective(home.root)
    base = cfg.model_dump(mode="json")
    user_file = home.root / "config.yaml"
    st.caption(
        f"Profile `{cfg.profile}`"
        + (f" + `{user_file}`" if user_file.is_file() else " (no config.yaml in this home yet)")
    )
    sections = [*cf.SECTIONS, *(f"phases.{p}" for p in PHASE_SEQUENCE)]
    specs = {s: cf.section_specs(s) for s in sections}
    all_specs = [spec for group in specs.values() for spec in group]
    errors: dict[str, list[str]] = st.session_state.get(ERRORS) or {}
    placed = set(sections) | {s.key for s in all_specs}
    for owner, msgs in errors.items():  # errors no tab shows (e.g. the root)
        if not any(owner == p or owner.startswith(p + ".") for p in placed):
            for msg in msgs:
                st.error(msg)
    if errors:  # tabs reopen on the first one: name every key here, and mark each field below
        listed = "\n".join(f"- {msg}" for msgs in errors.values() for msg in msgs)
        st.error(f"Not saved (nothing was written); fix the values marked below:\n{listed}")
    with st.form("config_form"):
        tabs = st.tabs([s.removeprefix("phases.") for s in sections])
        for tab, section in zip(tabs, sections, strict=True):
            with tab:
                _section(section, specs[section], base, errors)
        st.form_submit_button(
            "Save",
            on_click=_save,
            args=(home.root, base, all_specs),
            type="primary",
            key="cfg_save",
        )
    if st.session_state.get(SAVED):
        st.success(f"Saved {st.session_state[SAVED]}")
    with st.expander("Effective config (YAML, read-only)"):
        st.code(config_to_yaml(cfg), language="yaml")


main()
