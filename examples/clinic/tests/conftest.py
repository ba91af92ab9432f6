import os
from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import polars as pl
import pytest
from clinic.data import build_patients
from clinic.datasets import DATASETS
from clinic.excel import write_cohort_workbook
from clinic.fake_model import clinic_responder
from clinic.nl_query import NLQueryParser

from fixtures_lib import DatasetRegistry, cached_fixture
from optikit.testing.fake_llm import FakeLLMServer


@pytest.fixture(scope="session")
def llm_url() -> Iterator[str]:
    """The model server named by CLINIC_LLM_URL, or a local stand-in for it."""
    if url := os.environ.get("CLINIC_LLM_URL"):
        yield url
        return
    latency = float(os.environ.get("CLINIC_LLM_LATENCY", "0.5"))
    with FakeLLMServer(clinic_responder, latency=latency) as server:
        yield server.url


@pytest.fixture
def parser(llm_url: str) -> NLQueryParser:
    client = openai.OpenAI(base_url=f"{llm_url}/v1", api_key="sk-example-not-a-real-key")
    return NLQueryParser(client)


@pytest.fixture
def ollama_client(llm_url: str) -> ollama.Client:
    return ollama.Client(host=llm_url)


@cached_fixture(inputs=["clinic/data.py"])
def patients() -> pl.DataFrame:
    """200,000 synthetic patients: built once, then read back from the fixture cache.

    Still function-scoped, so each test gets its own copy; ``inputs`` puts the builder's
    source in the key, so editing ``clinic/data.py`` rebuilds it.
    """
    return build_patients()


@cached_fixture(inputs=["clinic/excel.py"])
def cohort_workbook(patients: pl.DataFrame, tmp_path: Path) -> Path:
    """The workbook's bytes are cached; each test gets a fresh copy of the file."""
    return write_cohort_workbook(patients.head(5_000), tmp_path / "cohort.xlsx")


def pytest_optikit_datasets(registry: DatasetRegistry) -> None:
    """Registered by name; a test loads only the ones it asks ``get_dataset`` for."""
    for name, loader in DATASETS.items():
        registry.register(name, loader, cache=True)
