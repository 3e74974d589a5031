"""Model Browser: search and filter the registered models, see one's metadata and metrics,
download its folder as .tar.gz, and Load it (hashes checked) to run a short greedy generation.
torch and transformers are imported only when Load is pressed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from agent_forge.core.phase_names import PHASE_SEQUENCE
from agent_forge.dashboard import data
from agent_forge.dashboard.ui import current_home, empty_state


@st.cache_resource(max_entries=2, show_spinner="Loading the model (hashes checked)...")
def _load(path: str, sha256_json: str, model_id: str) -> tuple[dict[str, Any], Any]:
    from agent_forge.model.loading import load_for_generation  # torch + transformers: lazy

    return load_for_generation(path, json.loads(sha256_json), model_id)


def _download(model: dict[str, Any]) -> None:
    folder = Path(model["path"])
    if not folder.is_dir():
        st.warning(f"The model folder is missing: {folder}")
        return
    st.download_button(
        "Download folder (.tar.gz)",
        data=lambda: data.archive_bytes(folder),  # built only when clicked
        file_name=f"{model['model_id']}.tar.gz",
        mime="application/gzip",
        key=f"dl_{model['model_id']}",
        on_click="ignore",
    )


def _load_panel(model: dict[str, Any]) -> None:
    mid = model["model_id"]
    loaded_key = f"loaded_{mid}"
    if st.button("Load", key=f"load_{mid}"):
        st.session_state[loaded_key] = True
    if not st.session_state.get(loaded_key):
        return
    config = data.read_model_config(model["path"])
    with st.expander("config.json", expanded=False):
        st.json(config if config is not None else {"config.json": "missing"})
    try:
        summary, generate = _load(model["path"], json.dumps(model["metadata"]["sha256"]), mid)
    except Exception as exc:  # a hash mismatch or an unreadable folder: say so, keep the page
        st.error(f"Could not load {mid}: {exc}")
        return
    st.json(summary)
    if generate is None:
        st.info(summary.get("generation", "generation unavailable"))
        return
    prompt = st.text_area("Prompt", key=f"prompt_{mid}", value="Q: What is 2 + 3?\nA:")
    max_new = st.number_input("Max new tokens", 1, 256, 16, key=f"max_new_{mid}")
    if st.button("Generate", key=f"gen_{mid}"):
        with st.spinner("Generating..."):
            st.session_state[f"out_{mid}"] = generate(prompt or "", int(max_new))
    if f"out_{mid}" in st.session_state:
        st.markdown("**New text**")
        st.code(st.session_state[f"out_{mid}"], language=None)


def _details(model: dict[str, Any]) -> None:
    md = model["metadata"]
    st.subheader(model["model_id"])
    cols = st.columns(4)
    cols[0].metric("Phase", model["phase_name"])
    cols[1].metric("Parameters", f"{model['parameters']:,}" if model["parameters"] else "-")
    cols[2].metric("Size (MB)", f"{model['size_mb']:.2f}" if model["size_mb"] else "-")
    cols[3].metric("Specialization", model.get("specialization") or "-")
    st.caption(f"Folder: {model['path']}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Metrics**")
        st.json(md.get("metrics") or {})
    with right:
        st.markdown("**Metadata**")
        st.json({k: v for k, v in md.items() if k != "metrics"}, expanded=False)
    _download(model)
    _load_panel(model)


def main() -> None:
    st.title("Model Browser")
    home = current_home()
    with data.open_registry(home) as registry:
        models = registry.list_models() if data.list_sessions(registry) else []
    if not models:
        empty_state(home)
        return
    left, right = st.columns([2, 1])
    text = left.text_input("Search", key="model_search", placeholder="model id, phase, tag...")
    present = [p for p in PHASE_SEQUENCE if any(m["phase_name"] == p for m in models)]
    phases = right.multiselect("Phase", present, key="model_phases", placeholder="All phases")
    shown = data.filter_models(models, text or "", phases)
    st.caption(f"{len(shown)} of {len(models)} models")
    table = pd.DataFrame(data.model_table(shown), columns=list(data.MODEL_COLUMNS))
    st.dataframe(table, hide_index=True, key="model_table")
    if not shown:
        return
    by_id = {m["model_id"]: m for m in shown}
    chosen = st.selectbox("Model", list(by_id), key="model_pick")
    if chosen:
        _details(by_id[chosen])


main()
