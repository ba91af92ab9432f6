import os
from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import polars as pl
import pytest
from clinic.data import build_patients
from clinic.datasets import discover_datasets
from clinic.excel import write_cohort_workbook
from clinic.fake_model import clinic_responder
from clinic.nl_query import NLQueryParser

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


@pytest.fixture
def patients() -> pl.DataFrame:
    """200,000 synthetic patients, rebuilt for every test although no test changes them."""
    return build_patients()


@pytest.fixture
def cohort_workbook(patients: pl.DataFrame, tmp_path: Path) -> Path:
    return write_cohort_workbook(patients.head(5_000), tmp_path / "cohort.xlsx")


@pytest.fixture(scope="session")
def discovered_datasets() -> dict[str, pl.DataFrame]:
    """Every dataset, loaded up front, though each test needs only one."""
    return discover_datasets()
